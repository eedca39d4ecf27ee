//! The page cache. After every committed change Herald renders each public body once (pages,
//! JSON, banner, feeds), with ETags and compressed copies, and swaps the whole set in at once.
//! A public request is then a map lookup: no database, no templating, no compression.

pub mod api;
mod banner;
pub mod body;
mod feeds;
mod pages;
pub mod views;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};

pub use body::CachedBody;
pub use pages::NOT_FOUND_KEY;

use crate::config::Config;
use crate::domain::{Component, Incident};
use crate::store::Store;

/// How long a change waits for the pages that show it.
const REFRESH_WAIT: Duration = Duration::from_secs(5);

/// Incidents per page of `/history`.
pub const HISTORY_PAGE_SIZE: usize = 20;

/// Everything a render needs, read from the store in one go.
pub struct Snapshot {
    pub components: Vec<Component>,
    /// Newest first.
    pub incidents: Vec<Incident>,
    pub now: DateTime<Utc>,
}

/// Site-wide facts the templates need.
#[derive(Clone)]
pub struct Site {
    pub name: String,
    pub url: String,
    /// A stable identifier for `page.id` in the JSON API.
    pub page_id: String,
}

impl Site {
    pub fn from_config(config: &Config) -> Site {
        use sha2::{Digest, Sha256};
        let url = config.public_url();
        let page_id = hex::encode(Sha256::digest(url.as_bytes()))[..12].to_string();
        Site {
            name: config.page_name.clone(),
            url,
            page_id,
        }
    }
}

/// A complete set of public bodies, keyed by path (with `?page=N` for history pages).
#[derive(Default)]
pub struct Pages {
    bodies: HashMap<String, Arc<CachedBody>>,
}

impl Pages {
    pub fn get(&self, key: &str) -> Option<&Arc<CachedBody>> {
        self.bodies.get(key)
    }

    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bodies.is_empty()
    }

    /// Renders every public body from a snapshot, reusing unchanged bodies from `previous`.
    pub fn render(site: &Site, snapshot: &Snapshot, previous: &Pages) -> anyhow::Result<Pages> {
        let mut out = PagesBuilder {
            previous,
            bodies: HashMap::new(),
        };
        let model = views::Model::new(site, snapshot);
        pages::render(&model, &mut out)?;
        api::render(&model, &mut out)?;
        banner::render(&model, &mut out)?;
        feeds::render(&model, &mut out)?;
        pages::render_static(&mut out);
        Ok(Pages { bodies: out.bodies })
    }
}

/// Collects rendered bodies, reusing the previous copy of any that did not change.
pub(crate) struct PagesBuilder<'a> {
    previous: &'a Pages,
    bodies: HashMap<String, Arc<CachedBody>>,
}

impl PagesBuilder<'_> {
    pub fn add(
        &mut self,
        key: impl Into<String>,
        content_type: &'static str,
        body: Vec<u8>,
        cors: bool,
    ) {
        let key = key.into();
        let body = CachedBody::reuse_or_new(self.previous.get(&key), content_type, body, cors);
        self.bodies.insert(key, body);
    }
}

/// The live page cache, shared by every request handler.
pub struct PageCache {
    pages: ArcSwap<Pages>,
    site: Site,
    store: Store,
    requested: AtomicU64,
    wake: Notify,
    built: watch::Sender<u64>,
}

impl PageCache {
    /// Builds the first set of pages; call `spawn_rebuilder` to keep them current.
    pub async fn new(site: Site, store: Store) -> anyhow::Result<Arc<PageCache>> {
        let cache = Arc::new(PageCache {
            pages: ArcSwap::from_pointee(Pages::default()),
            site,
            store,
            requested: AtomicU64::new(0),
            wake: Notify::new(),
            built: watch::channel(0).0,
        });
        cache.rebuild().await?;
        Ok(cache)
    }

    /// The current pages. Cheap: an atomic load.
    pub fn pages(&self) -> arc_swap::Guard<Arc<Pages>> {
        self.pages.load()
    }

    pub fn site(&self) -> &Site {
        &self.site
    }

    async fn rebuild(&self) -> anyhow::Result<()> {
        let components = self.store.components().await?;
        let incidents = self.store.incidents().await?;
        let snapshot = Snapshot {
            components,
            incidents,
            now: crate::domain::now(),
        };
        let site = self.site.clone();
        let previous = self.pages.load_full();
        let pages = tokio::task::spawn_blocking(move || Pages::render(&site, &snapshot, &previous))
            .await??;
        self.pages.store(Arc::new(pages));
        Ok(())
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

    /// Asks for a rebuild without waiting for it.
    pub fn invalidate(&self) {
        self.requested.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Runs the rebuild loop for the life of the runtime.
    pub fn spawn_rebuilder(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
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
