//! Each component's status history (`component_status_log`), from which the page computes
//! uptime. Rows are only ever appended, in the transaction that changes `components.status`,
//! and stamped; the newest row of a component always says what `components.status` says.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{on_pool, Store, StoreResult};
use crate::domain::uptime::Change;
use crate::domain::{Choice, ComponentStatus};
use crate::security::audit::Chain;
use crate::security::stamp::{Stamper, StatusLogText};

/// One stored row of the history.
#[derive(sqlx::FromRow)]
pub(crate) struct LogRow {
    pub id: i64,
    pub component_id: i64,
    pub status: String,
    pub at: DateTime<Utc>,
    pub stamp: Option<String>,
}

impl LogRow {
    pub fn text(&self) -> StatusLogText<'_> {
        StatusLogText {
            id: self.id,
            component_id: self.component_id,
            status: &self.status,
            at_micros: self.at.timestamp_micros(),
        }
    }

    /// Whether Herald wrote it as it stands (every row does without a stamper).
    pub fn genuine(&self, stamper: Option<&Stamper>) -> bool {
        stamper.is_none_or(|s| Stamper::verify(&s.status_log(&self.text()), self.stamp.as_deref()))
    }
}

pub(crate) const LOG_COLUMNS: &str =
    "SELECT id, component_id, status, at, stamp FROM component_status_log";

/// The status histories the public pages show.
#[derive(Debug, Default, Clone)]
pub struct StatusHistory {
    /// Component id → its changes, in the order they were recorded (by time, then id).
    pub changes: HashMap<i64, Vec<Change>>,
    /// Rows whose stamp fails (written or edited in the database directly): left out.
    pub tampered: Vec<i64>,
}

/// Within transaction `$tx`: appends "component `$component_id` took `$status` at `$at`"
/// (set by update `$update_id`, if any), stamped.
macro_rules! log_status {
    ($store:expr, $tx:expr, $component_id:expr, $status:expr, $at:expr, $update_id:expr) => {{
        let component_id: i64 = $component_id;
        let status: &str = $status;
        // Milliseconds, as every stored time: what is stamped is what reads back.
        let at: chrono::DateTime<chrono::Utc> = chrono::SubsecRound::trunc_subsecs($at, 3);
        let update_id: Option<i64> = $update_id;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO component_status_log (component_id, status, at, update_id) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(component_id)
        .bind(status)
        .bind(at)
        .bind(update_id)
        .fetch_one(&mut *$tx)
        .await?;
        if let Some(stamper) = $store.stamper() {
            let stamp = stamper.status_log(&$crate::security::stamp::StatusLogText {
                id,
                component_id,
                status,
                at_micros: at.timestamp_micros(),
            });
            sqlx::query("UPDATE component_status_log SET stamp = $1 WHERE id = $2")
                .bind(stamp)
                .bind(id)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}
pub(crate) use log_status;

/// Within transaction `$tx`: makes component `$component_id`'s newest genuine history row say
/// what its status is now, appending one (now, or at that newest row's time if it is later)
/// when it does not: after a status set directly, an incident deleted, a backdated update
/// published after later changes, or an update moved in time.
macro_rules! settle_status_log {
    ($store:expr, $tx:expr, $component_id:expr) => {{
        let component_id: i64 = $component_id;
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM components WHERE id = $1")
                .bind(component_id)
                .fetch_optional(&mut *$tx)
                .await?;
        if let Some(status) = status {
            let rows: Vec<$crate::store::uptime::LogRow> = sqlx::query_as(&format!(
                "{} WHERE component_id = $1",
                $crate::store::uptime::LOG_COLUMNS
            ))
            .bind(component_id)
            .fetch_all(&mut *$tx)
            .await?;
            let newest = rows
                .into_iter()
                .filter(|r| r.genuine($store.stamper()))
                .max_by(|a, b| a.at.cmp(&b.at).then(a.id.cmp(&b.id)));
            if newest.as_ref().map(|r| r.status.as_str()) != Some(status.as_str()) {
                let now = $crate::domain::now();
                let at = newest.map_or(now, |r| r.at.max(now));
                $crate::store::uptime::log_status!($store, $tx, component_id, &status, at, None);
            }
        }
    }};
}
pub(crate) use settle_status_log;

/// Within transaction `$tx`: moves the history rows update `$update_id` wrote to `$at` (its
/// display time was edited), re-stamping only rows that were genuine; then settles the
/// components they belong to.
macro_rules! move_status_log {
    ($store:expr, $tx:expr, $update_id:expr, $at:expr) => {{
        let update_id: i64 = $update_id;
        let at: chrono::DateTime<chrono::Utc> = chrono::SubsecRound::trunc_subsecs($at, 3);
        let rows: Vec<$crate::store::uptime::LogRow> = sqlx::query_as(&format!(
            "{} WHERE update_id = $1",
            $crate::store::uptime::LOG_COLUMNS
        ))
        .bind(update_id)
        .fetch_all(&mut *$tx)
        .await?;
        let mut touched = std::collections::BTreeSet::new();
        for mut row in rows {
            if !row.genuine($store.stamper()) {
                continue;
            }
            row.at = at;
            sqlx::query("UPDATE component_status_log SET at = $1, stamp = $2 WHERE id = $3")
                .bind(at)
                .bind($store.stamper().map(|s| s.status_log(&row.text())))
                .bind(row.id)
                .execute(&mut *$tx)
                .await?;
            touched.insert(row.component_id);
        }
        for component_id in touched {
            $crate::store::uptime::settle_status_log!($store, $tx, component_id);
        }
    }};
}
pub(crate) use move_status_log;

impl Store {
    /// Every component's status history, genuine rows only; the others are named in
    /// `tampered`.
    pub async fn status_history(&self) -> StoreResult<StatusHistory> {
        let rows: Vec<LogRow> = on_pool!(self, read pool => sqlx::query_as(&format!(
            "{LOG_COLUMNS} ORDER BY at, id"
        ))
        .fetch_all(pool)
        .await)?;
        Ok(self.history_from(rows))
    }

    /// The status history's revision: it moves with any change to the history (migration 0018).
    pub async fn status_log_revision(&self) -> StoreResult<i64> {
        let revision: i64 = on_pool!(self, read pool => sqlx::query_scalar(
            "SELECT revision FROM status_log_revision WHERE id = 1",
        )
        .fetch_one(pool)
        .await)?;
        Ok(revision)
    }

    /// The status history from `since` on, with each component's last change before it (the
    /// status it had then): all that uptime from `since` needs, however long the history.
    pub async fn status_history_since(&self, since: DateTime<Utc>) -> StoreResult<StatusHistory> {
        let rows: Vec<LogRow> = on_pool!(self, read pool => sqlx::query_as(&format!(
            "{LOG_COLUMNS} WHERE at >= $1 \
             UNION ALL \
             {LOG_COLUMNS} WHERE id IN (SELECT (SELECT l.id FROM component_status_log l \
                 WHERE l.component_id = c.id AND l.at < $1 ORDER BY l.at DESC, l.id DESC LIMIT 1) \
                 FROM components c) \
             ORDER BY at, id"
        ))
        .bind(since)
        .fetch_all(pool)
        .await)?;
        Ok(self.history_from(rows))
    }

    fn history_from(&self, rows: Vec<LogRow>) -> StatusHistory {
        let mut history = StatusHistory::default();
        for row in rows {
            if !row.genuine(self.stamper()) {
                history.tampered.push(row.id);
                continue;
            }
            let Ok(status) = ComponentStatus::from_stored(&row.status) else {
                history.tampered.push(row.id);
                continue;
            };
            history
                .changes
                .entry(row.component_id)
                .or_default()
                .push(Change { at: row.at, status });
        }
        history
    }

    /// Stamps, once, the history the upgrade to uptime history wrote from what the database
    /// already held (`upgrade_adoptions`), and audits it as `status_log.adopt`.
    pub async fn adopt_status_log(&self, chain: &Chain) -> StoreResult<u64> {
        let Some(stamper) = self.stamper() else {
            return Ok(0);
        };
        // Read first: nearly always there is nothing to adopt, and no write lock is taken.
        let waiting: i64 = on_pool!(self, read pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM upgrade_adoptions WHERE what = 'status_log'",
        )
        .fetch_one(pool)
        .await)?;
        if waiting == 0 {
            return Ok(0);
        }
        let adopted = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let marked = sqlx::query("DELETE FROM upgrade_adoptions WHERE what = 'status_log'")
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let mut adopted = 0u64;
            if marked > 0 {
                let rows: Vec<LogRow> =
                    sqlx::query_as(&format!("{LOG_COLUMNS} WHERE stamp IS NULL"))
                        .fetch_all(&mut *tx)
                        .await?;
                for row in rows {
                    sqlx::query("UPDATE component_status_log SET stamp = $1 WHERE id = $2")
                        .bind(stamper.status_log(&row.text()))
                        .bind(row.id)
                        .execute(&mut *tx)
                        .await?;
                    adopted += 1;
                }
            }
            tx.commit().await?;
            adopted
        });
        if adopted > 0 {
            self.audit_adoption(
                chain,
                "status_log.adopt",
                serde_json::json!({ "rows": adopted }),
            )
            .await?;
        }
        Ok(adopted)
    }
}
