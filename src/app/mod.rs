//! The application layer: the acts (publish, edit, pause, resume, breach mode, staff and token changes,
//! subscriber imports), one function each, called alike by the admin pages, the admin API, the
//! CLI and the scheduler. It owns screening by the tripwire and the audit log, so a rule added
//! to an act holds on every surface.

pub mod branding;
pub mod breach;
pub mod edits;
pub mod groups;
pub mod guard;
pub mod hooks;
pub mod incidents;
pub mod maintenance;
pub mod outbound;
pub mod postmortems;
pub mod staff;
pub mod subscribers;
pub mod templates;
pub mod x;

use std::sync::Arc;

use crate::config::Config;
use crate::notify::compose::Composer;
use crate::notify::Notifier;
use crate::render::PageCache;
use crate::store::{Store, StoreError};

pub use guard::Actor;

/// The application: what every act, handler and worker can reach. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub cache: Arc<PageCache>,
    pub config: Arc<Config>,
    /// The kill switch and the delivery worker's doorbell.
    pub notifier: Arc<Notifier>,
    /// Builds subscriber links and emails.
    pub composer: Arc<Composer>,
    /// Seals and opens secrets kept in the database (the X token).
    pub sealer: Arc<crate::security::seal::Sealer>,
    /// The X app, when a consumer key is configured.
    pub x: Option<Arc<crate::channels::x::XClient>>,
    /// Calls out to webhook receivers, refusing private addresses (`HERALD_WEBHOOK_ALLOW_NETWORKS`).
    pub hook_http: crate::channels::webhook::safe_http::SafeClient,
    /// Per-client limits on public sign-ups.
    pub signups: Arc<crate::security::throttle::Throttle>,
    /// Keys the audit log's hash chain.
    pub chain: Arc<crate::security::audit::Chain>,
    /// The tripwire's thresholds.
    pub rules: Arc<crate::security::tripwire::Rules>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub proxies: Arc<Vec<crate::security::net::Block>>,
    /// Notices when the cluster's master key was rotated away from this process's.
    pub key_watch: Arc<crate::cluster::KeyWatch>,
    /// The counts `/metrics` reports, refreshed in the background.
    pub metrics: Arc<crate::web::public::MetricsSnapshot>,
    /// What the mail relay accepts (SMTPUTF8), which decides the addresses Herald takes.
    pub relay: Arc<crate::channels::email::Relay>,
}

impl App {
    /// After a committed change: the worker starts on any deliveries it queued, and the page
    /// cache is asked to show it. The caller returns at commit; the pages follow within
    /// milliseconds, a burst of changes sharing one render (`/healthz` says when they are
    /// current).
    pub async fn changed(&self) {
        self.notifier.wake();
        self.cache.invalidate();
    }
}

/// Why an act did not happen. Each surface says it its own way (a page, a JSON error, a line
/// on stderr); the act decides.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The act needs the caller to have given their two-factor code again just now; `reason`
    /// is why it is guarded (the tripwire's pause reason, for a resume).
    #[error("this needs a fresh two-factor code: {reason}")]
    NeedsFreshCode { reason: String },
    /// Screening the act tripped the wire: nothing was done and outbound is paused.
    #[error("{0}")]
    Tripped(String),
    /// Outbound is paused, and this act would send now.
    #[error("{0}")]
    Paused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;
