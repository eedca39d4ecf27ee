//! Builds the application (store, page cache, background jobs, router) so that `main` and the
//! tests start Herald the same way: `Application::build(config)`, `.port()`, `.run_until_stopped()`.

use std::sync::Arc;

use std::time::Duration;

use tokio::net::TcpListener;

use std::path::Path;

use crate::channels::dkim::DkimSigner;
use crate::channels::email::{Email, SmtpSettings, SmtpTransport};
use crate::channels::x::XClient;
use crate::notify::compose::Composer;
use crate::notify::Notifier;
use crate::security::keys::{KeyCheck, LinkSigner, MasterKey};
use crate::security::seal::Sealer;
use crate::security::throttle::Throttle;

use crate::config::Config;
use crate::render::{PageCache, Site, SiteCell};
use crate::store::{DatabaseLocation, Store};
use crate::web::{self, AppState};

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Opens (and migrates) the database, renders the first pages and binds the listener.
    pub async fn build(mut config: Config) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&config.bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {} (HERALD_BIND): {e}", config.bind))?;
        // With no public URL configured, links point at the address actually bound (port 0 too).
        if config.public_url.is_empty() {
            config.public_url = format!("http://{}", listener.local_addr()?);
        }
        let store = open_database(&config).await?;
        let state = assemble(config, store).await?;
        Ok(Application { listener, state })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The base URL links are built from.
    pub fn public_url(&self) -> String {
        self.state.config.public_url()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM, with the page rebuilder and scheduler running.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application { listener, state } = self;
        state.cache.spawn_rebuilder();
        crate::web::public::MetricsSnapshot::spawn_refresher(&state);
        crate::scheduler::spawn(state.clone());
        spawn_delivery_worker(&state).await?;
        web::serve::serve(listener, state.clone(), shutdown_signal()).await?;
        // The other instances take over this one's claims at once rather than at its timeout.
        if let Err(e) = state.store.forget_instance(state.notifier.instance()).await {
            tracing::warn!(error = %e, "could not sign this instance off");
        }
        state.store.close().await;
        Ok(())
    }
}

/// Opens (creating it if need be) and migrates the database, for `serve`, `worker` and
/// `migrate`, the only commands that may set one up. The default data directory is made on a
/// fresh machine; a SQLite URL whose directory does not exist is a mistake to report, not a
/// path to make. Every other command opens with `cli::open_existing`.
pub async fn open_database(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url();
    let location = DatabaseLocation::of(&url)?;
    if config.database_url.is_empty() {
        crate::security::files::create_private_dir(&config.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the data directory {}: {e}",
                config.data_dir.display()
            )
        })?;
    }
    let store = Store::connect_with(&url, &config.pool_settings())
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot open the database {location} (chosen by {}): {e:#}. Nothing was created; \
                 fix that setting or create what is missing",
                config.database_origin()
            )
        })?;
    store.migrate().await?;
    warn_if_files_are_open(config, &location);
    Ok(store)
}

/// The data directory holds the master key and perhaps the database: anyone else who can read
/// them can read every subscriber and forge every link. Herald makes them private; one that an
/// operator made, or loosened, is named at start.
fn warn_if_files_are_open(config: &Config, location: &DatabaseLocation) {
    let files = match location {
        DatabaseLocation::Sqlite(path) => crate::security::files::database_files(path).to_vec(),
        _ => Vec::new(),
    };
    for warning in crate::security::files::too_open(&[config.data_dir.as_path()], &files) {
        tracing::warn!("{warning}");
    }
}

/// How a process may come by the master key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// `serve`, `worker`, `migrate`: on a database with no key check yet (a fresh install, or one
    /// from before key checks), the key in use is recorded, and made first if there is none.
    Start,
    /// Every other command: the database must record a key already, and this must be it.
    Existing,
}

/// The cluster's master key: this process's key file, checked against the check value the
/// database records. A key that does not match, or no key file where the database expects one,
/// stops the process before it changes anything (no key file is written, nothing is stamped,
/// checked, tripped or paused), with both key ids and how to fix it.
pub async fn cluster_key(
    config: &Config,
    store: &Store,
    key_use: KeyUse,
) -> anyhow::Result<MasterKey> {
    let path = config.secret_key_path();
    let location = DatabaseLocation::of(&config.database_url())?;
    let key_setting = if config.secret_key_file.is_empty() {
        "the default, secret.key in the data directory"
    } else {
        "HERALD_SECRET_KEY_FILE"
    };
    let fix = format!(
        "Nothing was changed. Copy the key file of a running instance (or of the host where \
         `herald secrets rotate` last ran) to {}, or set HERALD_SECRET_KEY_FILE to where that key \
         is; never a new key: the secrets, stamps and audit log of this database open only \
         with its own.",
        path.display()
    );
    let expected = match (store.key_check().await?, key_use) {
        (Some(expected), _) => expected,
        (None, KeyUse::Existing) => anyhow::bail!(
            "the database {location} records no master key yet, so this command cannot tell \
             whether {} (chosen by {key_setting}) is the right one. Run `herald migrate` once \
             with the key file of the running instances (or start `herald serve`); it records \
             the key's check value",
            path.display()
        ),
        (None, KeyUse::Start) => {
            // A database from before key checks tells which key it was used with only through
            // what that key signed: its newest audit entry.
            let newest = store
                .audit_entries(&crate::store::AuditFilter::default(), 1)
                .await?
                .pop();
            let key = match (MasterKey::load(&path)?, &newest) {
                (Some(key), _) => key,
                (None, None) => MasterKey::load_or_create(&path)?,
                (None, Some(_)) => anyhow::bail!(
                    "the database {location} was used with a master key (its audit log is signed \
                     with it), but there is no key file at {} (chosen by {key_setting}), and a \
                     new key would not open what the database holds. {fix}",
                    path.display()
                ),
            };
            if let Some(entry) = &newest {
                let chain = crate::security::audit::Chain::new(&key);
                if !crate::security::secret::equal(&chain.hash(entry), &entry.hash) {
                    anyhow::bail!(
                        "the database {location} was used with another master key than the one \
                         in {} (id {}, chosen by {key_setting}): its audit log does not verify \
                         under it. {fix}",
                        path.display(),
                        key.id()
                    );
                }
            }
            let recorded = store.record_key_check(&KeyCheck::of(&key)).await?;
            if recorded.matches(&key) {
                tracing::info!(key.id = %key.id(), database = %location, "recorded the master key's check value");
            }
            recorded
        }
    };
    let Some(key) = MasterKey::load(&path)? else {
        anyhow::bail!(
            "the database {location} expects the master key with id {}, but there is no key \
             file at {} (chosen by {key_setting}), and a new key would not open what the \
             database holds. {fix}",
            expected.key_id,
            path.display()
        );
    };
    if !expected.matches(&key) {
        anyhow::bail!(
            "the database {location} expects the master key with id {}, but the key file {} \
             (chosen by {key_setting}) holds the key with id {}. {fix}",
            expected.key_id,
            path.display(),
            key.id()
        );
    }
    Ok(key)
}

/// Everything the web handlers and the workers share, from a migrated store.
pub async fn assemble(config: Config, store: Store) -> anyhow::Result<AppState> {
    // Before anything else, so a process with the wrong key changes nothing.
    let master = cluster_key(&config, &store, KeyUse::Start).await?;
    let store = store.with_stamper(crate::security::stamp::Stamper::new(&master));
    let sealer = Sealer::new(&master);
    let (digest_key, upgraded) = store.load_digest_key(&sealer).await?;
    let store = store.with_digest_key(digest_key);
    let chain = crate::security::audit::Chain::new(&master);
    if let Some(rows) = store.adopt_unstamped(&chain).await? {
        if rows > 0 {
            tracing::warn!(
                rows,
                "stamped the rows an earlier version of Herald wrote without stamps (once)"
            );
        }
    }
    store.adopt_waiting_fanouts(&chain).await?;
    store.adopt_status_log(&chain).await?;
    let site = Site::new(&config.public_url(), config.branding()?);
    let cell: SiteCell = Arc::new(arc_swap::ArcSwap::from_pointee(site.clone()));
    let cache = PageCache::new(site, cell.clone(), store.clone()).await?;
    cache.sweep_every(std::time::Duration::from_secs(config.page_sweep_seconds));
    let composer = Arc::new(Composer::new(
        cell,
        &config.mail_from(),
        LinkSigner::new(&master)
            .also_accepting(MasterKey::load_previous(&config.secret_key_path())?.as_ref()),
        dkim_signer(&config)?,
    )?);
    let x = config
        .x_settings()
        .map(XClient::new)
        .transpose()?
        .map(Arc::new);
    let notifier = Notifier::load(&store).await?;
    let rules = crate::security::tripwire::Rules::from_config(&config);
    let config_allow = config.webhook_allow_networks.clone();
    let state = AppState {
        key_watch: Arc::new(crate::cluster::KeyWatch::new(&master)),
        store,
        cache,
        chain: Arc::new(chain),
        rules: Arc::new(rules),
        proxies: Arc::new(
            crate::security::net::parse_blocks(&config.trusted_proxies)
                .map_err(|e| anyhow::anyhow!("HERALD_TRUSTED_PROXIES: {e}"))?,
        ),
        config: Arc::new(config),
        notifier,
        composer,
        sealer: Arc::new(sealer),
        x,
        hook_http: crate::channels::webhook::safe_http::SafeClient::new(
            crate::security::net::parse_blocks(&config_allow)
                .map_err(|e| anyhow::anyhow!("HERALD_WEBHOOK_ALLOW_NETWORKS: {e}"))?,
        )?,
        signups: Arc::new(Throttle::new(SIGNUPS_PER_HOUR, Duration::from_secs(3600))),
        metrics: Arc::default(),
        relay: Arc::default(),
    };
    state.metrics.refresh(&state.store).await;
    if let Some(upgrade) = upgraded.filter(|u| !u.is_empty()) {
        tracing::info!(?upgrade, "stored secret hashes are now keyed");
        let actor = crate::app::Actor::system("herald (start-up)");
        let detail = serde_json::to_value(&upgrade).unwrap_or_default();
        state
            .audit(&actor, "secrets.keyed_hashes", "digest-key", detail)
            .await;
    }
    Ok(state)
}

/// The DKIM signer, when `HERALD_DKIM_*` are set.
pub fn dkim_signer(config: &Config) -> anyhow::Result<Option<Arc<DkimSigner>>> {
    if config.dkim_domain.is_empty() {
        return Ok(None);
    }
    let signer = DkimSigner::from_files(
        &config.dkim_domain,
        &config.dkim_selector,
        Path::new(&config.dkim_key_file),
    )?;
    tracing::info!(algorithm = signer.algorithm(), record = %signer.dns_name(), "signing mail with DKIM");
    Ok(Some(Arc::new(signer)))
}

/// Public sign-ups accepted per client address per hour.
const SIGNUPS_PER_HOUR: usize = 10;

/// Starts the kill-switch sync, on PostgreSQL the listener for other instances' changes, and,
/// when SMTP is configured, the email worker.
pub async fn spawn_delivery_worker(state: &AppState) -> anyhow::Result<()> {
    let (line, mut calls) = crate::security::tripwire::TripLine::new();
    state.notifier.arm(line.clone());
    state.cache.arm(line);
    let wire = trip_wire(state);
    tokio::spawn(async move {
        while let Some((trip, handled)) = calls.recv().await {
            wire(trip).await;
            let _ = handled.send(());
        }
    });
    state.notifier.spawn_sync(state.store.clone());
    crate::cluster::spawn_heartbeat(
        state.store.clone(),
        state.notifier.clone(),
        Duration::from_secs(state.config.instance_timeout),
    );
    crate::cluster::spawn(
        state.store.clone(),
        state.cache.clone(),
        state.notifier.clone(),
    );
    if state.store.backend() == "sqlite" {
        crate::cluster::spawn_page_watch(state.store.clone(), state.cache.clone());
        // One process owns a SQLite database: any claim left is from a run that died.
        let released = state.store.release_all_claims().await?;
        if released > 0 {
            tracing::warn!(
                deliveries = released,
                "re-queued deliveries claimed by a previous run that stopped"
            );
        }
    }
    tokio::spawn(crate::notify::fanout::run(
        state.store.clone(),
        state.notifier.clone(),
    ));
    let shared = crate::notify::outbox::Shared {
        store: state.store.clone(),
        notifier: state.notifier.clone(),
        sealer: state.sealer.clone(),
        composer: state.composer.clone(),
        trip: Some(trip_wire(state)),
    };
    let config = &state.config;
    // Every channel, one line each: its module in `channels`, drained by the one outbox.
    if config.smtp_url.is_empty() {
        tracing::warn!(
            "HERALD_SMTP_URL is not set: email deliveries wait in the queue until it is"
        );
    } else {
        let settings = SmtpSettings::parse(&config.smtp_url, &config.smtp_helo())?;
        tracing::info!(smtp = ?settings, "email channel started");
        let transport = Arc::new(SmtpTransport::new(
            settings,
            config.smtp_concurrency,
            state.relay.clone(),
        ));
        // Learn at once whether the relay takes internationalised addresses (sign-up asks).
        tokio::spawn({
            let transport = transport.clone();
            async move { transport.probe().await }
        });
        start(
            Email::new(transport, state.composer.clone(), config.smtp_concurrency),
            &shared,
            2,
        );
    }
    let http = state.hook_http.clone();
    start(
        crate::channels::webhook::Webhook::new(http.clone()),
        &shared,
        2,
    );
    start(crate::channels::slack::Slack::new(http.clone()), &shared, 1);
    start(
        crate::channels::discord::Discord::new(http.clone()),
        &shared,
        1,
    );
    start(crate::channels::teams::Teams::new(http), &shared, 1);
    match &state.x {
        Some(client) => {
            tracing::info!(api = %client.settings().api_base, "X channel started");
            start(crate::channels::x::X::new(client.clone()), &shared, 1);
        }
        None => tracing::info!("HERALD_X_CONSUMER_KEY is not set: the X channel is off"),
    }
    Ok(())
}

/// Runs `loops` outbox loops for one channel: while one finishes the tail of its batch, the
/// next batch is in flight; the channel's own places cap how many send at once.
fn start<C: crate::channels::Channel>(
    channel: C,
    shared: &crate::notify::outbox::Shared,
    loops: usize,
) {
    let outbox = crate::notify::outbox::Outbox::new(channel, shared.clone());
    for _ in 0..loops {
        tokio::spawn(outbox.clone().run());
    }
}

/// The workers' way to trip the wire: `App::trip` as Herald itself.
fn trip_wire(state: &AppState) -> crate::notify::TripWire {
    let state = state.clone();
    Arc::new(move |trip| {
        let state = state.clone();
        Box::pin(async move {
            let actor = crate::app::Actor::system("herald (outbound check)");
            if let Err(e) = state.trip(&actor, &trip).await {
                tracing::error!(error = %e, "tripping the wire failed");
            }
        })
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
