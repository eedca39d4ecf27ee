//! The connected X account, the connect flow's request tokens, the X queue (one post at a time,
//! in update order, so replies thread), and alerts to the admins.

use chrono::{DateTime, Duration, Utc};

use super::notify::{
    channel, queue_deliveries, switch_cte, ClaimedDelivery, NewDelivery, CLAIMED_COLUMNS,
};
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

const ACCOUNT_COLUMNS: &str =
    "SELECT user_id, username, token_sealed, secret_sealed, connected_at, \
     connected_by, hold_until, refused_at, refused_error FROM x_account WHERE id = 1";

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
        on_pool!(self, write pool => sqlx::query(
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
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
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

    /// Every X post waits until `until` (a 429's reset time).
    pub async fn hold_x_until(&self, until: DateTime<Utc>) -> StoreResult<()> {
        on_pool!(self, write pool => sqlx::query("UPDATE x_account SET hold_until = $1 WHERE id = 1")
            .bind(until)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// X refused the account's token; posts wait for a reconnect. Returns false when it was
    /// already marked (so the admins are alerted once).
    pub async fn refuse_x(&self, error: &str) -> StoreResult<bool> {
        let changed = on_pool!(self, write pool => sqlx::query(
            "UPDATE x_account SET refused_at = $1, refused_error = $2 WHERE id = 1 AND refused_at IS NULL",
        )
        .bind(domain::now())
        .bind(error)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(changed > 0)
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

    /// Claims the next X post, strictly in order: nothing is claimed while an earlier one is in
    /// flight or waiting for its retry, so every reply finds the post it answers.
    pub async fn claim_x_delivery(
        &self,
        lease: Duration,
        instance: &str,
    ) -> StoreResult<Option<ClaimedDelivery>> {
        let now = domain::now();
        // The kill switch is read in the claim's own statement (see `switch_cte`).
        let sql = format!(
            "{}UPDATE deliveries SET state = 'sending', attempts = attempts + 1, claimed_until = $1, claimed_by = $4 \
             WHERE id = (SELECT id FROM deliveries WHERE channel = $2 AND state IN ('pending', 'sending') \
                         ORDER BY id LIMIT 1) \
               AND state = 'pending' AND next_attempt_at <= $3 AND NOT (SELECT paused FROM switch) \
             RETURNING {CLAIMED_COLUMNS}",
            switch_cte(self.backend())
        );
        let claimed: Option<ClaimedDelivery> = on_pool!(self, write pool => sqlx::query_as(&sql)
        .bind(now + lease)
        .bind(channel::X)
        .bind(now)
        .bind(instance)
        .fetch_optional(pool)
        .await)?;
        Ok(claimed)
    }

    /// The post an update's post answers: the latest earlier update of the same incident that
    /// was posted. `None` starts a new thread.
    pub async fn x_reply_target(&self, update_id: i64) -> StoreResult<Option<String>> {
        Ok(on_pool!(self, read pool => sqlx::query_scalar(
            "SELECT p.tweet_id FROM incident_updates u JOIN incident_updates p \
               ON p.incident_id = u.incident_id AND p.id < u.id \
             WHERE u.id = $1 AND p.tweet_id IS NOT NULL ORDER BY p.id DESC LIMIT 1",
        )
        .bind(update_id)
        .fetch_optional(pool)
        .await)?)
    }

    /// A post went out: the delivery is sent and the update carries the post's id.
    pub async fn record_tweet(
        &self,
        delivery_id: i64,
        update_id: i64,
        tweet_id: &str,
    ) -> StoreResult<()> {
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE deliveries SET state = 'sent', message_id = $1, sent_at = $2, claimed_until = NULL, \
                 last_error = NULL, stamp = NULL WHERE id = $3",
            )
            .bind(tweet_id)
            .bind(domain::now())
            .bind(delivery_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE incident_updates SET tweet_id = $1 WHERE id = $2")
                .bind(tweet_id)
                .bind(update_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<(), super::StoreError>(())
        })?;
        Ok(())
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
