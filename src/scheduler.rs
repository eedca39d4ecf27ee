//! Time-driven changes: maintenance windows that start and end on their own, the reminders
//! subscribers get before a maintenance starts, and the daily roll-over of "Past incidents" on
//! the front page.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::app::{Actor, App};

/// The longest the scheduler sleeps without looking again (covers clock jumps).
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Advances due maintenances and queues due reminders, then sleeps until the next window edge
/// or reminder, the next UTC midnight, or any change to the data, whichever comes first. Runs
/// for the life of the runtime.
pub fn spawn(app: App) -> tokio::task::JoinHandle<()> {
    let (store, cache) = (app.store.clone(), app.cache.clone());
    let actor = Actor::system("herald (scheduler)");
    tokio::spawn(async move {
        let mut changes = cache.changes();
        loop {
            let now = crate::domain::now();
            if let Err(e) = app.advance_maintenances(&actor, now).await {
                tracing::error!(error = %e, "advancing scheduled maintenance failed; retrying")
            }
            let next = store.next_maintenance_change().await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "reading the maintenance schedule failed");
                None
            });
            let wait = sleep_for(now, next);
            let midnight = crate::domain::now()
                .date_naive()
                .succ_opt()
                .and_then(|d| d.and_hms_opt(0, 0, 0));
            let day_rolls = midnight
                .map(|m| m.and_utc())
                .is_some_and(|m| (m - now).to_std().unwrap_or_default() <= wait);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {
                    if day_rolls {
                        cache.invalidate();
                    }
                }
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// How long to sleep before the next maintenance edge (a little after it, never more than a minute).
fn sleep_for(now: DateTime<Utc>, next: Option<DateTime<Utc>>) -> Duration {
    let Some(next) = next else { return MAX_SLEEP };
    let until = (next - now).to_std().unwrap_or_default() + Duration::from_millis(5);
    until.min(MAX_SLEEP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_until_the_next_edge_but_never_long() {
        let now = Utc::now();
        assert_eq!(sleep_for(now, None), MAX_SLEEP);
        let soon = sleep_for(now, Some(now + chrono::Duration::seconds(2)));
        assert!(soon >= Duration::from_secs(2) && soon < Duration::from_secs(3));
        assert_eq!(
            sleep_for(now, Some(now + chrono::Duration::hours(5))),
            MAX_SLEEP
        );
        assert!(sleep_for(now, Some(now - chrono::Duration::seconds(5))) < Duration::from_secs(1));
    }
}
