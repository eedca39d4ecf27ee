//! Webhook subscriptions (generic webhooks, Slack, Discord, Teams): created pending, active once
//! their test delivery answered 2xx, disabled after a long run of failures, removed by a 410.
//! Their URL and secret are stored sealed; the caller seals and opens them.

use chrono::{DateTime, Duration, Utc};

use super::notify::{queue_deliveries, NewDelivery};
use super::{on_pool, Store, StoreError, StoreResult};
use crate::domain;

/// A subscription failing this long without one success is disabled.
pub const DISABLE_AFTER: Duration = Duration::hours(24);
/// ...or after this many failures in a row, whichever comes first.
pub const DISABLE_AFTER_FAILURES: i32 = 100;

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HookRow {
    pub id: i64,
    pub kind: String,
    pub url_sealed: String,
    pub secret_sealed: Option<String>,
    pub host: String,
    pub email: Option<String>,
    pub owner: String,
    pub all_components: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub activated_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub failures: i32,
    pub last_error: Option<String>,
    pub last_success_at: Option<DateTime<Utc>>,
}

const HOOK_COLUMNS: &str = "SELECT id, kind, url_sealed, secret_sealed, host, email, owner, \
     all_components, created_at, created_by, activated_at, disabled_at, disabled_reason, failures, \
     last_error, last_success_at FROM hooks";

/// A new subscription, its URL and secret sealed by `seal(id)` once its id is known.
pub struct NewHook<'a> {
    pub kind: &'a str,
    pub host: &'a str,
    pub email: Option<&'a str>,
    /// `company` for the company's own channels (set up by an admin), else `subscriber`.
    pub owner: &'a str,
    pub components: Option<&'a [i64]>,
    pub created_by: &'a str,
}

/// (failures, failing_since, disabled_at, email, kind, host) after a failure.
type FailureRow = (
    i32,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<String>,
    String,
    String,
);

/// Why a subscription was just disabled, and whom to tell.
#[derive(Debug, Clone, PartialEq)]
pub struct Disabled {
    pub reason: String,
    pub email: Option<String>,
    pub kind: String,
    pub host: String,
}

impl Store {
    /// Creates a pending subscription; `seal(id)` gives its sealed URL and secret.
    pub async fn create_hook(
        &self,
        hook: &NewHook<'_>,
        seal: impl Fn(i64) -> anyhow::Result<(String, Option<String>)>,
    ) -> StoreResult<HookRow> {
        let now = domain::now();
        let id: i64 = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO hooks (kind, url_sealed, host, email, owner, all_components, created_at, created_by) \
                 VALUES ($1, '', $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(hook.kind)
            .bind(hook.host)
            .bind(hook.email)
            .bind(hook.owner)
            .bind(hook.components.is_none())
            .bind(now)
            .bind(hook.created_by)
            .fetch_one(&mut *tx)
            .await?;
            let (url, secret) = seal(id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query("UPDATE hooks SET url_sealed = $1, secret_sealed = $2 WHERE id = $3")
                .bind(url)
                .bind(secret)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for component in hook.components.unwrap_or(&[]) {
                let linked = sqlx::query(
                    "INSERT INTO hook_components (hook_id, component_id) \
                     SELECT $1, id FROM components WHERE id = $2 ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(component)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if linked == 0 {
                    return Err(StoreError::Invalid(domain::Invalid(vec![domain::FieldError::new(
                        format!("components.{component}"),
                        "no such component",
                    )])));
                }
            }
            tx.commit().await?;
            id
        });
        self.hook(id).await?.ok_or(StoreError::NotFound("webhook"))
    }

    pub async fn hook(&self, id: i64) -> StoreResult<Option<HookRow>> {
        Ok(
            on_pool!(self, read pool => sqlx::query_as(&format!("{HOOK_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await)?,
        )
    }

    /// Every subscription, newest first.
    pub async fn hooks(&self) -> StoreResult<Vec<HookRow>> {
        Ok(
            on_pool!(self, read pool => sqlx::query_as(&format!("{HOOK_COLUMNS} ORDER BY id DESC"))
            .fetch_all(pool)
            .await)?,
        )
    }

    /// The component ids a subscription follows (empty: all).
    pub async fn hook_components(&self, id: i64) -> StoreResult<Vec<i64>> {
        Ok(on_pool!(self, read pool => sqlx::query_scalar(
            "SELECT component_id FROM hook_components WHERE hook_id = $1 ORDER BY component_id",
        )
        .bind(id)
        .fetch_all(pool)
        .await)?)
    }

    /// The subscriptions among `ids` that still exist.
    pub async fn hook_rows(&self, ids: &[i64]) -> StoreResult<Vec<HookRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        Ok(
            on_pool!(self, read pool => sqlx::query_as(&format!("{HOOK_COLUMNS} WHERE id IN ({list})"))
            .fetch_all(pool)
            .await)?,
        )
    }

    /// Its test delivery answered 2xx: it receives updates from now on.
    pub async fn activate_hook(&self, id: i64) -> StoreResult<bool> {
        let now = domain::now();
        let n = on_pool!(self, write pool => sqlx::query(
            "UPDATE hooks SET activated_at = COALESCE(activated_at, $1), disabled_at = NULL, disabled_reason = NULL, \
             failures = 0, failing_since = NULL, last_error = NULL, last_success_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Deliveries to these subscriptions were taken: their runs of failures end. One
    /// statement for a whole batch.
    pub async fn hooks_delivered(&self, ids: &[i64]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let sql = format!(
            "UPDATE hooks SET failures = 0, failing_since = NULL, last_success_at = $1 WHERE id IN ({list})"
        );
        on_pool!(self, write pool => sqlx::query(&sql)
            .bind(domain::now())
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// A delivery failed (`gave_up`: for good). Disables the subscription when a delivery was
    /// given up, or it has failed for `DISABLE_AFTER` or `DISABLE_AFTER_FAILURES` times in a row
    /// without a success, cancelling what it still had queued; says so once.
    pub async fn hook_failed(
        &self,
        id: i64,
        error: &str,
        gave_up: bool,
    ) -> StoreResult<Option<Disabled>> {
        let now = domain::now();
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let row: Option<FailureRow> = sqlx::query_as(
                "UPDATE hooks SET failures = failures + 1, failing_since = COALESCE(failing_since, $1), last_error = $2 \
                 WHERE id = $3 RETURNING failures, failing_since, disabled_at, email, kind, host",
            )
            .bind(now)
            .bind(error)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((failures, since, disabled_at, email, kind, host)) = row else {
                tx.commit().await?;
                return Ok(None);
            };
            let failing_for = now - since.unwrap_or(now);
            let reason = if disabled_at.is_some() {
                None
            } else if gave_up {
                Some(format!("a status update could not be delivered: {error}"))
            } else if failing_for >= DISABLE_AFTER {
                Some(format!("every delivery has failed for {} hours; the last: {error}", failing_for.num_hours()))
            } else if failures >= DISABLE_AFTER_FAILURES {
                Some(format!("{failures} deliveries in a row failed; the last: {error}"))
            } else {
                None
            };
            let Some(reason) = reason else {
                tx.commit().await?;
                return Ok(None);
            };
            sqlx::query("UPDATE hooks SET disabled_at = $1, disabled_reason = $2 WHERE id = $3")
                .bind(now)
                .bind(&reason)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE deliveries SET state = 'cancelled', claimed_until = NULL, last_error = $1 \
                 WHERE recipient_id = $2 AND channel = $3 AND state = 'pending'",
            )
            .bind("the webhook subscription was disabled")
            .bind(id)
            .bind(&kind)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(Disabled { reason, email, kind, host }))
        })
    }

    /// Removes a subscription (its owner or an admin asked, or the receiver answered 410 Gone).
    /// What it still had queued is cancelled when the worker reaches it.
    pub async fn remove_hook(&self, id: i64) -> StoreResult<bool> {
        let n = on_pool!(self, write pool => sqlx::query("DELETE FROM hooks WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Queues a message about a subscription to its owner's address, by email, stamped like an
    /// alert; unlike an alert, the kill switch holds it back.
    pub async fn queue_notice(
        &self,
        hook_id: i64,
        address: &str,
        subject: &str,
        body: &str,
    ) -> StoreResult<i64> {
        let now = domain::now();
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO alerts (kind, subject, body, created_at) VALUES ('hook_notice', $1, $2, $3) RETURNING id",
            )
            .bind(subject)
            .bind(body)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            if let Some(stamper) = self.stamper() {
                sqlx::query("UPDATE alerts SET stamp = $1 WHERE id = $2")
                    .bind(stamper.alert(id, subject, body))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            let rows = [NewDelivery {
                update_id: None,
                alert_id: Some(id),
                channel: crate::channels::names::NOTICE,
                recipient_id: hook_id,
                address,
            }];
            queue_deliveries!(self, tx, rows, now);
            tx.commit().await?;
            Ok(id)
        })
    }
}
