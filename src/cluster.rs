//! Several instances on one PostgreSQL database: what one commits, every other hears within
//! milliseconds (`LISTEN/NOTIFY`, see `store::events`) and acts on: it rebuilds its page cache,
//! rings its workers' doorbell, or re-reads the kill switch. After a reconnect it does all
//! three, since changes made meanwhile went unheard. On SQLite there is one instance and
//! nothing to do.
//!
//! An instance also hears its own changes; the extra page rebuild costs milliseconds and keeps
//! this path free of any "who sent it" bookkeeping.

use std::sync::Arc;

use crate::notify::Notifier;
use crate::render::PageCache;
use crate::store::{Change, Store};

/// Starts listening, on PostgreSQL; returns `None` on SQLite.
pub fn spawn(
    store: Store,
    cache: Arc<PageCache>,
    notifier: Arc<Notifier>,
) -> Option<tokio::task::JoinHandle<()>> {
    let mut changes = store.listen_for_changes()?;
    Some(tokio::spawn(async move {
        loop {
            let change = changes.next().await;
            tracing::debug!(?change, "heard a change from the database");
            match change {
                Change::Pages => cache.invalidate(),
                Change::Deliveries => notifier.wake(),
                Change::Switch => notifier.reload(&store).await,
                Change::Missed => {
                    notifier.reload(&store).await;
                    notifier.wake();
                    cache.invalidate();
                }
            }
        }
    }))
}

/// On SQLite (one serving process), notices changes to what the public pages show made by
/// another process on the same database, such as `herald breach start` from a shell, and
/// rebuilds the pages. PostgreSQL instances hear them through `LISTEN` instead (`spawn`).
pub fn spawn_page_watch(store: Store, cache: Arc<PageCache>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            match store.pages_marker().await {
                Ok(now) if cache.is_behind(&now) => {
                    tracing::debug!("the public pages changed outside this process");
                    cache.invalidate();
                    // Give the rebuild its time before asking again.
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "checking for changes to the pages failed"),
            }
        }
    })
}

/// Keeps this instance's heartbeat and, every beat, hands the claims of instances that stopped
/// beating back to the queue, so a dead instance's batch waits seconds, not its whole lease.
/// Beats every quarter of `timeout`: a death is noticed within `timeout` plus one beat.
pub fn spawn_heartbeat(
    store: Store,
    notifier: Arc<Notifier>,
    timeout: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    let beat = timeout / 4;
    let silent_for = chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::seconds(20));
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    tokio::spawn(async move {
        loop {
            if let Err(e) = store
                .heartbeat(notifier.instance(), &host, std::process::id())
                .await
            {
                tracing::warn!(error = %e, "recording this instance's heartbeat failed");
            }
            match store.release_claims_of_dead_instances(silent_for).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::warn!(
                        deliveries = n,
                        "re-queued deliveries claimed by an instance that stopped"
                    );
                    notifier.wake();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "releasing a stopped instance's claims failed")
                }
            }
            tokio::time::sleep(beat).await;
        }
    })
}

/// Whether this process's master key is still the one the database records. After
/// `herald secrets rotate`, an instance still running on the old key finds every new stamp
/// "forged": rather than trip the wire for the whole cluster, it stands aside (sends nothing,
/// trips nothing, keeps its last pages) until it is restarted with the new key file.
pub struct KeyWatch {
    ours: crate::security::keys::KeyCheck,
    stale: std::sync::atomic::AtomicBool,
}

impl KeyWatch {
    pub fn new(master: &crate::security::keys::MasterKey) -> KeyWatch {
        KeyWatch {
            ours: crate::security::keys::KeyCheck::of(master),
            stale: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Reads the database's key check: false (for good) once it names another key. A failed
    /// read counts as current, so a database hiccup never silences a real tripwire.
    pub async fn still_current(&self, store: &Store) -> bool {
        use std::sync::atomic::Ordering;
        if self.stale.load(Ordering::SeqCst) {
            return false;
        }
        match store.key_check().await {
            Ok(Some(recorded)) if recorded.check_value != self.ours.check_value => {
                self.stale.store(true, Ordering::SeqCst);
                tracing::error!(
                    database_key = %recorded.key_id,
                    this_key = %self.ours.key_id,
                    "the database now uses another master key (was `herald secrets rotate` run?): \
                     this instance sends nothing more and trips nothing; restart it with the \
                     current key file"
                );
                false
            }
            _ => true,
        }
    }
}
