//! The page cache. After every committed change Herald renders the public bodies that change
//! shows on (pages, JSON, banner, feeds, badges, the maintenance calendar), with ETags and
//! compressed copies, keeps the rest from the last render, and swaps the whole set in at once.
//! A public request is then a map lookup: no database, no templating, no compression. The
//! long tail (a past incident's page, a month of history) is kept as a recipe instead and made
//! on its first request, from what the render read, still without the database.

pub mod api;
pub mod assets;
mod badges;
mod banner;
pub mod body;
pub mod brand;
mod calendar;
mod feeds;
mod pages;
mod uptime;
mod verdana;
pub mod views;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};

pub use body::{CachedBody, Freshness};
pub use pages::NOT_FOUND_KEY;

use crate::config::Config;
use crate::domain::branding::Branding;
use crate::domain::{Component, Incident};
use crate::store::Store;

/// How long a change waits for the pages that show it.
const REFRESH_WAIT: Duration = Duration::from_secs(5);

/// How often every incident and the whole status history are read again in the background,
/// checking every row's stamp, unless set otherwise (`PageCache::sweep_every`): a row changed
/// behind the revision triggers' backs is found within this, and the next rebuild reads
/// everything again.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The sweep reads the incidents this many at a time, pausing `SWEEP_PAUSE` between reads: at
/// ten thousand incidents it is a stream of short reads, not one that holds a connection and a
/// core for over a second.
const SWEEP_CHUNK: usize = 500;
const SWEEP_PAUSE: Duration = Duration::from_millis(20);

/// The incidents as the last rebuild read them, so the next re-reads only those that changed.
struct KnownIncidents {
    /// Each incident's revision when it was read (`Store::incident_revisions`).
    revisions: HashMap<i64, i64>,
    /// What the public may see of each (`public_incident`); one held back whole is absent.
    incidents: HashMap<i64, Arc<Incident>>,
    /// The components' ids, names and stamps when read: a rename changes what the updates
    /// list, and a tampered component is dropped from them.
    components: u64,
}

/// Everything a render needs, read from the store in one go.
pub struct Snapshot {
    pub components: Vec<Component>,
    /// Newest first, as the public may see them; shared with the next rebuild, which reads
    /// again only those that changed.
    pub incidents: Vec<Arc<Incident>>,
    pub now: DateTime<Utc>,
    /// The open breach's statement, pinned above everything; only one Herald stamped.
    pub statement: Option<Pinned>,
    /// Component group name → the group's id (groups keep their id through renames).
    pub group_ids: std::collections::HashMap<String, String>,
    /// Each component's status history (genuine rows only), for uptime.
    pub history: crate::store::StatusHistory,
    /// Each incident's revision when read: it moves with any change to the incident's rows.
    pub revisions: HashMap<i64, i64>,
}

/// A breach statement pinned at the top of the status page and first in the banner.
#[derive(Debug, Clone)]
pub struct Pinned {
    pub incident_id: i64,
    pub title: String,
    /// Markdown, as written.
    pub body: String,
    pub started_at: DateTime<Utc>,
}

/// Site-wide facts the templates need.
#[derive(Clone)]
pub struct Site {
    /// The page name in effect (configured, or the admin's).
    pub name: String,
    pub url: String,
    /// A stable identifier for `page.id` in the JSON API.
    pub page_id: String,
    /// Logos, colours, links and footer: the configuration's with the admin's on top.
    pub brand: Arc<brand::Brand>,
}

/// The site in effect, shared by the page cache (which sets it on every rebuild) and the
/// emails (which read it for every message).
pub type SiteCell = Arc<ArcSwap<Site>>;

impl Site {
    /// The site as configured (its branding as `Config::branding` reads it, which the
    /// configuration's validation has checked already).
    pub fn from_config(config: &Config) -> Site {
        let branding = config
            .branding()
            .unwrap_or_else(|_| Branding::named(&config.page_name));
        Site::new(&config.public_url(), branding)
    }

    pub fn new(url: &str, branding: Branding) -> Site {
        use sha2::{Digest, Sha256};
        let page_id = hex::encode(Sha256::digest(url.as_bytes()))[..12].to_string();
        Site {
            name: branding.name.clone(),
            url: url.to_string(),
            page_id,
            brand: Arc::new(brand::Brand::new(branding)),
        }
    }

    /// This site with other branding (the admin's overrides applied).
    pub fn with_branding(&self, branding: Branding) -> Site {
        Site {
            name: branding.name.clone(),
            url: self.url.clone(),
            page_id: self.page_id.clone(),
            brand: Arc::new(brand::Brand::new(branding)),
        }
    }
}

/// A body made on its first request rather than at render: for the long tail (an incident's
/// page, a month of history), which renders keep and few readers ask for, so thousands of them
/// cost neither render time nor memory until they are read.
pub struct LazyBody {
    content_type: &'static str,
    make: Box<dyn Fn() -> anyhow::Result<Vec<u8>> + Send + Sync>,
    made: std::sync::OnceLock<Arc<CachedBody>>,
}

impl LazyBody {
    /// The body, made now if this is its first request (its compressed copies on the first
    /// request that asks for one).
    fn body(&self) -> Option<Arc<CachedBody>> {
        if let Some(body) = self.made.get() {
            return Some(body.clone());
        }
        match (self.make)() {
            Ok(bytes) => {
                let body = Arc::new(CachedBody::deferred(
                    self.content_type,
                    bytes,
                    false,
                    Freshness::for_type(self.content_type),
                    true,
                ));
                // Two first requests at once both make it; the first made is kept.
                Some(self.made.get_or_init(|| body).clone())
            }
            Err(e) => {
                tracing::error!(error = %e, "rendering a page on its first request failed");
                None
            }
        }
    }
}

/// A complete set of public bodies, keyed by path (with `?page=N` for history pages).
#[derive(Default)]
pub struct Pages {
    bodies: HashMap<String, Arc<CachedBody>>,
    /// Bodies made on their first request.
    lazy: HashMap<String, Arc<LazyBody>>,
    /// For bodies made from one known input (an incident's page, a month of history): a
    /// fingerprint of that input, so the next render keeps the body without remaking it.
    inputs: HashMap<String, u64>,
    /// The uptime and incident views these pages were made from, which the next render keeps
    /// while their input is the same.
    made: views::Made,
}

impl Pages {
    /// The body for `key`; one of the long tail is made now if this is its first request.
    pub fn get(&self, key: &str) -> Option<Arc<CachedBody>> {
        match self.bodies.get(key) {
            Some(body) => Some(body.clone()),
            None => self.lazy.get(key)?.body(),
        }
    }

    /// How many bodies there are, made or left to their first request.
    pub fn len(&self) -> usize {
        self.bodies.len() + self.lazy.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes the compressed copies of every body that `warm`s (those not left to their first
    /// request). Blocking: CPU work for a blocking thread.
    pub fn warm(&self) {
        for body in self.bodies.values() {
            body.warm_unless_on_request();
        }
    }

    /// Renders every public body from a snapshot, reusing unchanged bodies from `previous`.
    pub fn render(
        site: &Arc<Site>,
        snapshot: &Snapshot,
        previous: &Pages,
    ) -> anyhow::Result<Pages> {
        let mut out = PagesBuilder {
            previous,
            site: site.clone(),
            bodies: HashMap::new(),
            lazy: HashMap::new(),
            inputs: HashMap::new(),
        };
        let mut clock = std::time::Instant::now();
        let mut lap = |what: &'static str| {
            let now = std::time::Instant::now();
            tracing::trace!(
                what,
                ms = (now - clock).as_secs_f64() * 1000.0,
                "render step"
            );
            clock = now;
        };
        let model = views::Model::new(site, snapshot, &previous.made);
        lap("model");
        pages::render(&model, &mut out)?;
        lap("pages");
        api::render(&model, &mut out)?;
        lap("api");
        uptime::render(&model, &mut out)?;
        lap("uptime");
        banner::render(&model, &mut out)?;
        feeds::render(&model, &mut out)?;
        lap("banner and feeds");
        badges::render(&model, &mut out)?;
        calendar::render(&model, &mut out)?;
        brand::render(site, &mut out);
        assets::render(&mut out);
        lap("badges, calendar, assets");
        Ok(Pages {
            bodies: out.bodies,
            lazy: out.lazy,
            inputs: out.inputs,
            made: model.made(),
        })
    }
}

/// Collects rendered bodies, reusing the previous copy of any that did not change.
pub(crate) struct PagesBuilder<'a> {
    previous: &'a Pages,
    /// The site rendered, for the bodies made later (`add_lazy`).
    pub site: Arc<Site>,
    bodies: HashMap<String, Arc<CachedBody>>,
    lazy: HashMap<String, Arc<LazyBody>>,
    inputs: HashMap<String, u64>,
}

impl PagesBuilder<'_> {
    /// Keeps the last render's body for `key` when it was made from the same `input` (a
    /// fingerprint); returns whether it did. Otherwise the caller renders it with
    /// [`PagesBuilder::add_kept_from`] or [`PagesBuilder::add_lazy`].
    pub fn keep(&mut self, key: &str, input: u64) -> bool {
        if self.previous.inputs.get(key) != Some(&input) {
            return false;
        }
        if let Some(body) = self.previous.bodies.get(key) {
            self.bodies.insert(key.to_string(), body.clone());
        } else if let Some(lazy) = self.previous.lazy.get(key) {
            self.lazy.insert(key.to_string(), lazy.clone());
        } else {
            return false;
        }
        self.inputs.insert(key.to_string(), input);
        true
    }

    /// Adds a body made from `input` alone by `make`, on its first request rather than now:
    /// the long tail (an incident's page, a month of history). The next render keeps it, made
    /// or not, while its input is the same.
    pub fn add_lazy(
        &mut self,
        key: impl Into<String>,
        input: u64,
        content_type: &'static str,
        make: impl Fn() -> anyhow::Result<Vec<u8>> + Send + Sync + 'static,
    ) {
        let key = key.into();
        self.inputs.insert(key.clone(), input);
        self.lazy.insert(
            key,
            Arc::new(LazyBody {
                content_type,
                make: Box::new(make),
                made: std::sync::OnceLock::new(),
            }),
        );
    }

    /// Adds a body made from `input` alone, so the next render can [`keep`](Self::keep) it;
    /// compressed after the render.
    pub fn add_kept_from(
        &mut self,
        key: impl Into<String>,
        input: u64,
        content_type: &'static str,
        body: Vec<u8>,
        cors: bool,
    ) {
        let key = key.into();
        self.inputs.insert(key.clone(), input);
        self.insert(key, content_type, body, cors, false);
    }

    /// Adds a body cached as its type asks ([`Freshness::for_type`]); a static asset under its
    /// plain name revalidates, as a page does.
    pub fn add(
        &mut self,
        key: impl Into<String>,
        content_type: &'static str,
        body: Vec<u8>,
        cors: bool,
    ) {
        self.insert(key.into(), content_type, body, cors, false);
    }

    fn insert(
        &mut self,
        key: String,
        content_type: &'static str,
        body: Vec<u8>,
        cors: bool,
        on_request: bool,
    ) {
        let freshness = if key.starts_with("/static/") {
            Freshness::Revalidate
        } else {
            Freshness::for_type(content_type)
        };
        self.add_with(key, content_type, body, cors, freshness, on_request);
    }

    /// Adds a body with its own freshness; `on_request`: compressed on its first request
    /// rather than after the render.
    pub fn add_with(
        &mut self,
        key: impl Into<String>,
        content_type: &'static str,
        body: Vec<u8>,
        cors: bool,
        freshness: Freshness,
        on_request: bool,
    ) {
        let key = key.into();
        let body = CachedBody::reuse_or_new(
            self.previous.bodies.get(&key),
            content_type,
            body,
            cors,
            freshness,
            on_request,
        );
        self.bodies.insert(key, body);
    }
}

/// The live page cache, shared by every request handler.
pub struct PageCache {
    pages: ArcSwap<Pages>,
    /// The site in effect: the configured one with the admin's branding on top.
    site: SiteCell,
    /// The site as configured, which a missing or forged branding row falls back to.
    configured: Site,
    store: Store,
    requested: AtomicU64,
    wake: Notify,
    built: watch::Sender<u64>,
    /// One more than the newest rebuild whose bodies are all compressed (see
    /// `CachedBody::warm`); 0 until the first set is.
    warmed: Arc<AtomicU64>,
    /// Trips the wire when a rebuild finds rows Herald did not write (set once at start).
    wire: std::sync::OnceLock<crate::security::tripwire::TripLine>,
    /// The tampered rows already reported, so each trips the wire once.
    reported: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Set when this process's key is no longer the cluster's: it keeps serving its last
    /// pages rather than pages from which every newer row was dropped as unstamped.
    frozen: std::sync::atomic::AtomicBool,
    /// What the database held when the current pages were built (`Store::pages_marker`), so a
    /// change made by another process is noticed (`cluster::spawn_page_watch`).
    built_from: std::sync::Mutex<Option<crate::store::PagesMarker>>,
    /// The incidents the last rebuild read (only the rebuild loop touches it).
    known: std::sync::Mutex<Option<KnownIncidents>>,
    /// The status history the last rebuild read, with its revision and the day it was read
    /// from: read again only when it changed or the window moved on a day.
    known_history: std::sync::Mutex<Option<(i64, chrono::NaiveDate, crate::store::StatusHistory)>>,
    /// Set by the sweep when it found a row the pages do not yet hold back: the next rebuild
    /// reads everything.
    read_all: std::sync::atomic::AtomicBool,
    /// Seconds between sweeps.
    sweep_seconds: AtomicU64,
}

impl PageCache {
    /// Builds the first set of pages; call `spawn_rebuilder` to keep them current.
    /// `site` is the configured site; it is also set into `cell`, which then follows the
    /// branding in effect.
    pub async fn new(site: Site, cell: SiteCell, store: Store) -> anyhow::Result<Arc<PageCache>> {
        cell.store(Arc::new(site.clone()));
        let cache = Arc::new(PageCache {
            pages: ArcSwap::from_pointee(Pages::default()),
            site: cell,
            configured: site,
            store,
            requested: AtomicU64::new(0),
            wake: Notify::new(),
            built: watch::channel(0).0,
            warmed: Arc::new(AtomicU64::new(0)),
            wire: std::sync::OnceLock::new(),
            reported: std::sync::Mutex::new(std::collections::HashSet::new()),
            frozen: std::sync::atomic::AtomicBool::new(false),
            built_from: std::sync::Mutex::new(None),
            known: std::sync::Mutex::new(None),
            known_history: std::sync::Mutex::new(None),
            read_all: std::sync::atomic::AtomicBool::new(false),
            sweep_seconds: AtomicU64::new(SWEEP_EVERY.as_secs()),
        });
        cache.rebuild().await?;
        Ok(cache)
    }

    /// The current pages. Cheap: an atomic load.
    pub fn pages(&self) -> arc_swap::Guard<Arc<Pages>> {
        self.pages.load()
    }

    /// The site in effect (name and branding as the pages show them).
    pub fn site(&self) -> Arc<Site> {
        self.site.load_full()
    }

    /// The site as configured, before the admin's branding.
    pub fn configured_site(&self) -> &Site {
        &self.configured
    }

    /// Lets a rebuild that finds rows Herald did not write trip the wire.
    pub fn arm(&self, wire: crate::security::tripwire::TripLine) {
        let _ = self.wire.set(wire);
    }

    /// Keeps the current pages for good (see `cluster::KeyWatch`).
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    /// Whether the database now holds something other than what the pages were built from.
    pub fn is_behind(&self, now: &crate::store::PagesMarker) -> bool {
        self.built_from
            .lock()
            .map(|built| built.as_ref() != Some(now))
            .unwrap_or(true)
    }

    async fn rebuild(&self) -> anyhow::Result<()> {
        if self.frozen.load(Ordering::SeqCst) {
            return Ok(());
        }
        let started = std::time::Instant::now();
        // Read first: a change committed while the pages are built shows as a difference later.
        let marker = self.store.pages_marker().await.ok();
        let read_marker = started.elapsed();
        let (components, bad, mut tampered) = public_components(self.store.components().await?);
        let read_components = started.elapsed();
        let (incidents, revisions, full, held) = self.read_incidents(&components, &bad).await?;
        let read_incidents = started.elapsed();
        tampered.extend(held);
        // Only a breach Herald stamped, whose statement is itself on the public pages, is
        // pinned; a row written straight into the database trips the wire instead.
        let statement = match self.store.open_breach().await? {
            Some(b) if !b.genuine => {
                tampered.push(format!("breach {}", b.id));
                None
            }
            Some(b) if incidents.iter().any(|i| i.id == b.incident_id) => Some(Pinned {
                incident_id: b.incident_id,
                title: b.title,
                body: b.body,
                started_at: b.started_at,
            }),
            _ => None,
        };
        let site = match self.store.branding().await? {
            None => self.configured.clone(),
            Some(stored) if !stored.genuine => {
                tampered.push("branding".to_string());
                self.configured.clone()
            }
            Some(stored) => match stored.columns.overrides() {
                Ok(overrides) => self
                    .configured
                    .with_branding(self.configured.brand.branding.with(&overrides)),
                Err(e) => {
                    tracing::error!(error = %e, "the saved branding no longer reads; showing the configured branding");
                    self.configured.clone()
                }
            },
        };
        let read_site = started.elapsed();
        let mut history = self.read_history(full).await?;
        tampered.extend(
            history
                .tampered
                .iter()
                .map(|id| format!("status history row {id}")),
        );
        // Only the history of components the public may see.
        let public: std::collections::HashSet<i64> = components.iter().map(|c| c.id).collect();
        history.changes.retain(|id, _| public.contains(id));
        let read_history = started.elapsed();
        self.report_tampered(tampered).await;
        if self.frozen.load(Ordering::SeqCst) {
            return Ok(());
        }
        let snapshot = Snapshot {
            components,
            incidents,
            now: crate::domain::now(),
            statement,
            group_ids: self
                .store
                .component_group_ids()
                .await?
                .into_iter()
                .collect(),
            history,
            revisions,
        };
        let read = started.elapsed();
        let previous = self.pages.load_full();
        let site = Arc::new(site);
        let rendering = site.clone();
        let pages =
            tokio::task::spawn_blocking(move || Pages::render(&rendering, &snapshot, &previous))
                .await??;
        tracing::trace!(
            marker_ms = read_marker.as_millis() as u64,
            components_ms = (read_components - read_marker).as_millis() as u64,
            incidents_ms = (read_incidents - read_components).as_millis() as u64,
            breach_and_branding_ms = (read_site - read_incidents).as_millis() as u64,
            history_ms = (read_history - read_site).as_millis() as u64,
            groups_ms = (read - read_history).as_millis() as u64,
            "pages read"
        );
        tracing::debug!(
            read_incidents_ms = read_incidents.as_millis() as u64,
            read_ms = read.as_millis() as u64,
            render_ms = (started.elapsed() - read).as_millis() as u64,
            "pages rendered"
        );
        self.pages.store(Arc::new(pages));
        let changed = {
            let current = self.site.load();
            current.name != site.name || current.brand != site.brand
        };
        if changed {
            self.site.store(site);
        }
        if let Ok(mut built) = self.built_from.lock() {
            *built = marker;
        }
        Ok(())
    }

    /// Every incident the public may see, newest first: those whose revision moved since the
    /// last read are read again, the rest kept from it; at first, when the sweep asks, and
    /// after a component's rename or a change in which components are tampered, all are read
    /// again (which checks every row's stamp anew). `components` are the public ones, `bad`
    /// the ids of those held back. Also returns the revisions, whether all were read, and what
    /// the rows read now hold back.
    async fn read_incidents(
        &self,
        components: &[Component],
        bad: &std::collections::HashSet<i64>,
    ) -> anyhow::Result<(Vec<Arc<Incident>>, HashMap<i64, i64>, bool, Vec<String>)> {
        let mut held_back: Vec<i64> = bad.iter().copied().collect();
        held_back.sort_unstable();
        let names = views::fingerprint(&(
            components
                .iter()
                .map(|c| (c.id, &c.name))
                .collect::<Vec<_>>(),
            held_back,
        ));
        let mut held = Vec::new();
        // Taken out while reading: a failed read leaves nothing, and the next one reads all.
        let last = self.known.lock().ok().and_then(|mut k| k.take());
        // Revisions first: a change committed after this read shows as a moved revision later.
        let asked = std::time::Instant::now();
        let revisions = self.store.incident_revisions().await?;
        tracing::trace!(
            ms = asked.elapsed().as_secs_f64() * 1000.0,
            incidents = revisions.len(),
            "revisions read"
        );
        let mut full = false;
        let known = match last {
            Some(mut known)
                if known.components == names && !self.read_all.swap(false, Ordering::SeqCst) =>
            {
                let changed: Vec<i64> = revisions
                    .iter()
                    .filter(|(id, revision)| known.revisions.get(id) != Some(revision))
                    .map(|(id, _)| *id)
                    .collect();
                known.incidents.retain(|id, _| revisions.contains_key(id));
                known.revisions = revisions;
                for id in &changed {
                    known.incidents.remove(id);
                }
                let mut found = std::collections::HashSet::new();
                for incident in self.store.incidents_by_id(&changed).await? {
                    found.insert(incident.id);
                    if let Some(public) = public_incident(incident, bad, &mut held) {
                        known.incidents.insert(public.id, Arc::new(public));
                    }
                }
                // One deleted between the two reads: read again next time.
                for id in &changed {
                    if !found.contains(id) {
                        known.revisions.remove(id);
                    }
                }
                known
            }
            _ => {
                full = true;
                let mut incidents = HashMap::new();
                for incident in self.store.incidents().await? {
                    if let Some(public) = public_incident(incident, bad, &mut held) {
                        incidents.insert(public.id, Arc::new(public));
                    }
                }
                KnownIncidents {
                    revisions,
                    incidents,
                    components: names,
                }
            }
        };
        let mut incidents: Vec<Arc<Incident>> = known.incidents.values().cloned().collect();
        incidents.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(b.id.cmp(&a.id)));
        let revisions = known.revisions.clone();
        if let Ok(mut slot) = self.known.lock() {
            *slot = Some(known);
        }
        Ok((incidents, revisions, full, held))
    }

    /// The status history uptime needs. A full read checks every row's stamp; in between, the
    /// window the bars show is read, and only when the history's revision moved or a new day
    /// began since the last read.
    async fn read_history(&self, full: bool) -> anyhow::Result<crate::store::StatusHistory> {
        let revision = self.store.status_log_revision().await?;
        let today = crate::domain::now().date_naive();
        if !full {
            if let Ok(known) = self.known_history.lock() {
                if let Some((r, day, history)) = known.as_ref() {
                    if *r == revision && *day == today {
                        return Ok(history.clone());
                    }
                }
            }
        }
        let history = if full {
            self.store.status_history().await?
        } else {
            let window = i64::from(crate::domain::uptime::DAYS) + 1;
            self.store
                .status_history_since(crate::domain::now() - chrono::Duration::days(window))
                .await?
        };
        if let Ok(mut known) = self.known_history.lock() {
            *known = Some((revision, today, history.clone()));
        }
        Ok(history)
    }

    /// Sets how often the sweep runs (before `spawn_rebuilder`).
    pub fn sweep_every(&self, every: Duration) {
        self.sweep_seconds
            .store(every.as_secs().max(1), Ordering::SeqCst);
    }

    /// Every `SWEEP_EVERY`, reads every incident (`SWEEP_CHUNK` at a time) and the whole status
    /// history and checks their stamps; a row that fails and is not yet held back makes the next
    /// rebuild read everything (which holds it back and trips the wire). Rebuilds in between
    /// read only what moved.
    fn spawn_sweeper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let seconds = this.sweep_seconds.load(Ordering::SeqCst);
            let mut every = tokio::time::interval(Duration::from_secs(seconds));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                match this.sweep().await {
                    Ok(true) => {
                        this.read_all.store(true, Ordering::SeqCst);
                        this.invalidate();
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "checking every stored row's stamp failed")
                    }
                }
            }
        })
    }

    /// Whether a full read finds a row without a valid stamp that is not yet reported.
    async fn sweep(&self) -> anyhow::Result<bool> {
        let (_, bad, mut held) = public_components(self.store.components().await?);
        let mut ids: Vec<i64> = self.store.incident_revisions().await?.into_keys().collect();
        ids.sort_unstable();
        for (n, chunk) in ids.chunks(SWEEP_CHUNK).enumerate() {
            if n > 0 {
                tokio::time::sleep(SWEEP_PAUSE).await;
            }
            for incident in self.store.incidents_by_id(chunk).await? {
                public_incident(incident, &bad, &mut held);
            }
        }
        held.extend(
            self.store
                .status_history()
                .await?
                .tampered
                .iter()
                .map(|id| format!("status history row {id}")),
        );
        let reported = self
            .reported
            .lock()
            .map(|r| held.iter().any(|h| !r.contains(h)))
            .unwrap_or(true);
        Ok(reported)
    }

    /// Trips the wire, once per row, for rows kept off the public pages.
    async fn report_tampered(&self, tampered: Vec<String>) {
        let new: Vec<String> = match self.reported.lock() {
            Ok(mut reported) => tampered
                .into_iter()
                .filter(|t| reported.insert(t.clone()))
                .collect(),
            Err(_) => tampered,
        };
        if new.is_empty() {
            return;
        }
        let detail = format!(
            "{}: no valid stamp (written or edited in the database directly); kept off the \
             public pages",
            new.join(", ")
        );
        tracing::error!(%detail, "public pages hold back rows Herald did not write");
        if let Some(wire) = self.wire.get() {
            wire.trip(crate::security::tripwire::Trip {
                rule: crate::security::tripwire::Rule::Forged,
                detail,
            })
            .await;
        }
    }

    /// Asks for a rebuild and waits until pages reflecting every change committed before this
    /// call are live. Concurrent callers share one rebuild.
    pub async fn refresh(&self) {
        let wanted = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut built = self.built.subscribe();
        self.wake.notify_one();
        // While the database is failing the rebuild retries; don't hold the caller for long.
        let waited =
            tokio::time::timeout(REFRESH_WAIT, built.wait_for(|done| *done >= wanted)).await;
        if waited.is_err() {
            tracing::warn!("the page cache is not yet rebuilt; the change will appear once it is");
        }
    }

    /// Ticks after every rebuild: a way to hear that something changed.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.built.subscribe()
    }

    /// Whether a change has been asked for that the live pages do not show yet, or do not yet
    /// have compressed.
    pub fn pending(&self) -> bool {
        let built = *self.built.borrow();
        built < self.requested.load(Ordering::SeqCst) || self.warmed.load(Ordering::SeqCst) <= built
    }

    /// Compresses the live pages after every rebuild, one set at a time and always the newest
    /// (a burst of rebuilds is compressed once, at its end), on a thread of its own at a lower
    /// CPU priority, so compression never slows a render or a request on a busy machine.
    fn spawn_warmer(self: &Arc<Self>) {
        let (tell, told) = std::sync::mpsc::channel::<u64>();
        let mut built = self.built.subscribe();
        tokio::spawn(async move {
            loop {
                let done = *built.borrow_and_update();
                if tell.send(done).is_err() || built.changed().await.is_err() {
                    return;
                }
            }
        });
        let this = self.clone();
        let started = std::thread::Builder::new()
            .name("herald-compress".to_string())
            .spawn(move || {
                lower_thread_priority();
                // Ends when the runtime, and with it the task above, is gone.
                while let Ok(mut done) = told.recv() {
                    while let Ok(newer) = told.try_recv() {
                        done = newer;
                    }
                    this.pages.load_full().warm();
                    this.warmed.fetch_max(done + 1, Ordering::SeqCst);
                }
            });
        if let Err(e) = started {
            tracing::error!(error = %e, "cannot start the compression thread; pages go out uncompressed");
        }
    }

    /// Asks for a rebuild without waiting for it.
    pub fn invalidate(&self) {
        self.requested.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Runs the rebuild loop, and the compression that follows each rebuild, for the life of
    /// the runtime.
    pub fn spawn_rebuilder(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        self.spawn_warmer();
        self.spawn_sweeper();
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let notified = this.wake.notified();
                let wanted = this.requested.load(Ordering::SeqCst);
                if *this.built.borrow() >= wanted {
                    notified.await;
                    continue;
                }
                let started = std::time::Instant::now();
                match this.rebuild().await {
                    Ok(()) => {
                        tracing::debug!(
                            pages = this.pages().len(),
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "page cache rebuilt"
                        );
                        this.built.send_replace(wanted);
                    }
                    Err(e) => {
                        // Keep serving the last good pages and try again shortly.
                        tracing::error!(error = %e, "rebuilding the page cache failed; serving the previous pages");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        })
    }
}

/// The compression thread's nice value: pages and admin requests come first.
const COMPRESS_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority to [`COMPRESS_NICE`]: Linux keeps a nice value
/// per thread.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only changes the scheduling priority of the calling thread (who = 0).
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, COMPRESS_NICE);
    }
}

/// The components the public may see: those that carry Herald's stamp. Returns them, the ids
/// of those held back, and their names (`component 3`).
fn public_components(
    components: Vec<Component>,
) -> (Vec<Component>, std::collections::HashSet<i64>, Vec<String>) {
    let mut held = Vec::new();
    let mut bad = std::collections::HashSet::new();
    let components = components
        .into_iter()
        .filter(|c| {
            if c.tampered {
                held.push(format!("component {}", c.id));
                bad.insert(c.id);
            }
            !c.tampered
        })
        .collect();
    (components, bad, held)
}

/// What the public may see of an incident: the updates that carry Herald's stamp, without the
/// components held back (`bad`). An incident without a stamp, or left with no genuine update,
/// is held back whole. What is held back is named in `held` (`incident 7`, `update 12`).
fn public_incident(
    mut i: Incident,
    bad: &std::collections::HashSet<i64>,
    held: &mut Vec<String>,
) -> Option<Incident> {
    if i.tampered {
        held.push(format!("incident {}", i.id));
        return None;
    }
    i.updates.retain(|u| {
        if u.tampered {
            held.push(format!("update {}", u.id));
        }
        !u.tampered
    });
    // A draft postmortem is staff's alone; so is the update that carried a postmortem since
    // reverted to a draft or deleted.
    if i.published_postmortem().is_none() {
        i.postmortem = None;
        i.updates
            .retain(|u| u.status != crate::domain::IncidentStatus::Postmortem);
    }
    for u in &mut i.updates {
        u.affected.retain(|a| !bad.contains(&a.component_id));
    }
    i.component_ids.retain(|id| !bad.contains(id));
    (!i.updates.is_empty()).then_some(i)
}
