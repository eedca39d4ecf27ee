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
