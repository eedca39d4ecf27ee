//! Expands each update's fan-out row into one delivery per subscriber, a chunk at a time, so
//! posting an update never waits on the size of the audience and no write holds the database
//! for long. Several instances may run this side by side: each chunk is one transaction that
//! moves the cursor, and the outbox's unique key absorbs any repeat.

use std::sync::Arc;
use std::time::Duration;

use super::Notifier;
use crate::store::Store;

/// Subscribers covered per transaction: about 30 ms of writing on SQLite.
pub const CHUNK: i64 = 10_000;

/// Runs until the process ends.
pub async fn run(store: Store, notifier: Arc<Notifier>) {
    let mut bell = notifier.doorbell();
    loop {
        // A fenced process's stamps are under a key the cluster no longer uses.
        if notifier.is_fenced() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let started = std::time::Instant::now();
        match store.expand_fanout(CHUNK).await {
            Ok(Some(step)) if step.forged => {
                notifier
                    .report_forged(format!(
                        "a fan-out of update {} has no valid stamp (written into the database \
                         outside Herald, to send an update again or on other channels): dropped",
                        step.update_id
                    ))
                    .await;
            }
            Ok(Some(step)) => {
                tracing::debug!(
                    update.id = step.update_id,
                    deliveries = step.deliveries,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "fan-out chunk written"
                );
                if step.deliveries > 0 {
                    notifier.wake();
                }
                if step.done {
                    tracing::debug!(update.id = step.update_id, "fan-out written to the outbox");
                }
            }
            Ok(None) => {
                tokio::select! {
                    _ = bell.changed() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "expanding a fan-out failed; retrying shortly");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
