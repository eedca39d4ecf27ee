//! Changes committed by any instance, heard through PostgreSQL's `LISTEN/NOTIFY`.
//!
//! Triggers (migration `0006_events`) send a notification on the `herald_events` channel in the
//! same transaction as every change that matters to other instances, so it is delivered exactly
//! when, and only if, the change commits, whichever code path or process made it (the web, the
//! CLI, the scheduler, a worker). The payload says what changed: `pages` (components, incidents,
//! updates), `deliveries` (new deliveries or fan-outs), `switch` (the kill switch). SQLite
//! serves one instance, which hears its own changes directly: there is nothing to listen to.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use super::{Pool, Store};

/// The channel the triggers notify on.
pub const EVENTS_CHANNEL: &str = "herald_events";

/// How long the listener waits in silence before it checks that its connection still works
/// (a peer that vanished without closing the connection sends nothing, not even an error).
const CHECK_AFTER: Duration = Duration::from_secs(30);

/// Longest wait between attempts to reconnect.
const MAX_RETRY: Duration = Duration::from_secs(5);

/// What another instance (or this one) committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Components, incidents or updates: public pages must be rebuilt.
    Pages,
    /// New deliveries or fan-outs wait in the outbox.
    Deliveries,
    /// The kill switch was flipped.
    Switch,
    /// The listener (re)connected: changes made while it was not listening were not heard, so
    /// anything may have changed.
    Missed,
}

impl Change {
    fn from_payload(payload: &str) -> Option<Change> {
        match payload {
            "pages" => Some(Change::Pages),
            "deliveries" => Some(Change::Deliveries),
            "switch" => Some(Change::Switch),
            _ => None,
        }
    }
}

/// A `LISTEN` on its own connection, outside the store's pool so that a busy pool never delays
/// it and it never takes a connection the handlers need. Reconnects by itself.
pub struct ChangeListener {
    options: PgConnectOptions,
    acquire_timeout: Duration,
    listener: Option<PgListener>,
    retry: Duration,
}

impl Store {
    /// On PostgreSQL, a listener for changes committed by every instance; `None` on SQLite.
    /// Nothing connects until the first `next`.
    pub fn listen_for_changes(&self) -> Option<ChangeListener> {
        let Pool::Postgres(pool) = &self.pool else {
            return None;
        };
        let options = (*pool.connect_options())
            .clone()
            .application_name("herald-listener");
        Some(ChangeListener {
            options,
            acquire_timeout: self.settings.acquire_timeout,
            listener: None,
            retry: Duration::from_millis(100),
        })
    }
}

impl ChangeListener {
    /// The next change. Returns `Change::Missed` first, and again after every reconnect.
    /// Never fails: while the database is unreachable it keeps trying, with a growing pause.
    pub async fn next(&mut self) -> Change {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                match self.connect().await {
                    Ok(listener) => {
                        self.listener = Some(listener);
                        self.retry = Duration::from_millis(100);
                        return Change::Missed;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, retry_ms = self.retry.as_millis() as u64,
                            "cannot listen for other instances' changes; retrying");
                        tokio::time::sleep(self.retry).await;
                        self.retry = (self.retry * 2).min(MAX_RETRY);
                        continue;
                    }
                }
            };
            // `try_recv` reads whole messages only, so giving up on it after a while loses none.
            let lost = match tokio::time::timeout(CHECK_AFTER, listener.try_recv()).await {
                Ok(Ok(Some(notification))) => match Change::from_payload(notification.payload()) {
                    Some(change) => return change,
                    None => {
                        tracing::debug!(
                            payload = notification.payload(),
                            "ignored an unknown event"
                        );
                        continue;
                    }
                },
                Ok(Ok(None)) => "the connection closed".to_string(),
                Ok(Err(e)) => e.to_string(),
                Err(_) => {
                    let check = sqlx::query("SELECT 1").execute(&mut *listener);
                    match tokio::time::timeout(Duration::from_secs(5), check).await {
                        Ok(Ok(_)) => continue,
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => "the connection stopped answering".to_string(),
                    }
                }
            };
            tracing::warn!(error = %lost, "lost the connection listening for other instances' changes; reconnecting");
            // Dropped, not reused: the next `connect` starts clean and reports `Missed`.
            self.listener = None;
        }
    }

    async fn connect(&self) -> Result<PgListener, sqlx::Error> {
        // A pool of one for each connection: a dropped listener gives its connection back in
        // the background, and a dead one must not hold up its successor.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(self.acquire_timeout)
            // The listening connection lives as long as it works.
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(self.options.clone());
        let mut listener = PgListener::connect_with(&pool).await?;
        // Reconnecting is ours to do, so that every reconnect is reported as `Missed`.
        listener.eager_reconnect(false);
        listener.listen(EVENTS_CHANNEL).await?;
        Ok(listener)
    }
}

/// A summary that changes whenever what the public pages show changes: the latest change to
/// components and incidents, the number of updates, the open breach, and the sum of the
/// incidents' revisions (which move with any write to an incident's rows, such as the id of
/// the post on X that a delivery records on its update).
pub type PagesMarker = (Option<String>, Option<String>, i64, Option<i64>, i64);

impl Store {
    /// See `cluster::spawn_page_watch`.
    pub async fn pages_marker(&self) -> super::StoreResult<PagesMarker> {
        let row: PagesMarker = super::on_pool!(self, read pool => sqlx::query_as(
            "SELECT (SELECT CAST(MAX(updated_at) AS TEXT) FROM components), \
                    (SELECT CAST(MAX(updated_at) AS TEXT) FROM incidents), \
                    (SELECT COUNT(*) FROM incident_updates), \
                    (SELECT MAX(id) FROM breaches WHERE ended_at IS NULL), \
                    (SELECT CAST(COALESCE(SUM(revision), 0) AS BIGINT) FROM incidents)",
        )
        .fetch_one(pool)
        .await)?;
        Ok(row)
    }
}
