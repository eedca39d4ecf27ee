//! The connected X account, the connect flow's request tokens, the X queue (one post at a time,
//! in update order, so replies thread), and alerts to the admins.

use chrono::{DateTime, Duration, Utc};

use super::notify::{channel, queue_deliveries, NewDelivery};
use super::{on_pool, Store, StoreResult};
use crate::domain;

/// How long a request token from leg one stays usable for the callback.
pub const CONNECT_REQUEST_TTL: Duration = Duration::minutes(15);

/// The connected account as stored: its tokens still sealed.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct XAccount {
    pub user_id: String,
    pub username: String,
    pub token_sealed: String,
    pub secret_sealed: String,
    pub connected_at: DateTime<Utc>,
    pub connected_by: String,
    /// No post before this (X's rate limit reset).
    pub hold_until: Option<DateTime<Utc>>,
    /// X refused the token (401): posts wait until an admin reconnects.
    pub refused_at: Option<DateTime<Utc>>,
    pub refused_error: Option<String>,
}

/// The account, with the X channel's hold (`channel_holds`), which the outbox keeps.
const ACCOUNT_COLUMNS: &str =
    "SELECT a.user_id, a.username, a.token_sealed, a.secret_sealed, a.connected_at, \
     a.connected_by, h.hold_until, h.refused_at, h.refused_error \
     FROM x_account a LEFT JOIN channel_holds h ON h.channel = 'x' WHERE a.id = 1";

impl Store {
    pub async fn x_account(&self) -> StoreResult<Option<XAccount>> {
        Ok(on_pool!(self, read pool => sqlx::query_as(ACCOUNT_COLUMNS).fetch_optional(pool).await)?)
    }

    /// Stores (or replaces) the connected account; a reconnect clears any hold or refusal.
    pub async fn connect_x(
        &self,
        user_id: &str,
        username: &str,
        token_sealed: &str,
        secret_sealed: &str,
        by: &str,
    ) -> StoreResult<XAccount> {
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM channel_holds WHERE channel = 'x'").execute(&mut *tx).await?;
            sqlx::query(
            "INSERT INTO x_account (id, user_id, username, token_sealed, secret_sealed, connected_at, connected_by) \
             VALUES (1, $1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, username = excluded.username, \
               token_sealed = excluded.token_sealed, secret_sealed = excluded.secret_sealed, \
               connected_at = excluded.connected_at, connected_by = excluded.connected_by, \
               hold_until = NULL, refused_at = NULL, refused_error = NULL",
        )
        .bind(user_id)
        .bind(username)
        .bind(token_sealed)
        .bind(secret_sealed)
        .bind(domain::now())
        .bind(by)
        .execute(&mut *tx)
        .await?;
            tx.commit().await?;
            Ok::<(), super::StoreError>(())
        })?;
        self.x_account()
            .await?
            .ok_or(super::StoreError::NotFound("X account"))
    }

    /// Forgets the account. Posts still queued for it are cancelled: they would otherwise go
    /// out, late, under whichever account is connected next.
    pub async fn disconnect_x(&self) -> StoreResult<u64> {
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM x_account WHERE id = 1").execute(&mut *tx).await?;
            let cancelled = sqlx::query(
                "UPDATE deliveries SET state = 'cancelled', claimed_until = NULL, \
                 last_error = 'the X account was disconnected' \
                 WHERE channel = $1 AND state IN ('pending', 'sending')",
            )
            .bind(channel::X)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(cancelled)
        })
    }

    /// Keeps leg one's request token (secret sealed) until the callback.
    pub async fn save_x_connect_request(
        &self,
        token: &str,
        secret_sealed: &str,
        by: &str,
    ) -> StoreResult<()> {
        let now = domain::now();
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM x_connect_requests WHERE created_at < $1")
                .bind(now - CONNECT_REQUEST_TTL)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO x_connect_requests (token, secret_sealed, created_by, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(token)
            .bind(secret_sealed)
            .bind(by)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<(), super::StoreError>(())
        })?;
        Ok(())
    }

    /// Takes (once) a request token that is still fresh: `(secret_sealed, created_by)`.
    pub async fn take_x_connect_request(
        &self,
        token: &str,
    ) -> StoreResult<Option<(String, String)>> {
        let row: Option<(String, String, DateTime<Utc>)> = on_pool!(self, write pool => sqlx::query_as(
            "DELETE FROM x_connect_requests WHERE token = $1 RETURNING secret_sealed, created_by, created_at",
        )
        .bind(token)
        .fetch_optional(pool)
        .await)?;
        Ok(row
            .filter(|(_, _, at)| *at >= domain::now() - CONNECT_REQUEST_TTL)
            .map(|(secret, by, _)| (secret, by)))
    }

    /// Records an alert and queues it to every active admin, in one transaction.
    pub async fn raise_alert(&self, kind: &str, subject: &str, body: &str) -> StoreResult<i64> {
        let now = domain::now();
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO alerts (kind, subject, body, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(kind)
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
            let admins: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, email FROM staff WHERE role = 'admin' AND disabled_at IS NULL ORDER BY id",
            )
            .fetch_all(&mut *tx)
            .await?;
            let rows: Vec<NewDelivery<'_>> = admins
                .iter()
                .map(|(staff_id, email)| NewDelivery {
                    update_id: None,
                    alert_id: Some(id),
                    channel: channel::ALERT,
                    recipient_id: *staff_id,
                    address: email,
                })
                .collect();
            queue_deliveries!(self, tx, rows, now);
            tx.commit().await?;
            Ok(id)
        })
    }

    /// X posts waiting or in flight.
    pub async fn x_queue_length(&self) -> StoreResult<i64> {
        Ok(on_pool!(self, read pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM deliveries WHERE channel = $1 AND state IN ('pending', 'sending')",
        )
        .bind(channel::X)
        .fetch_one(pool)
        .await)?)
    }

    /// An alert's subject and body, and whether its stamp verifies (always, without a stamper).
    pub async fn alert(&self, id: i64) -> StoreResult<Option<(String, String, bool)>> {
        let row: Option<(String, String, Option<String>)> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT subject, body, stamp FROM alerts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(|(subject, body, stamp)| {
            let ok = self.stamper().is_none_or(|s| {
                crate::security::stamp::Stamper::verify(
                    &s.alert(id, &subject, &body),
                    stamp.as_deref(),
                )
            });
            (subject, body, ok)
        }))
    }
}
