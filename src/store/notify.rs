//! Subscribers, the delivery outbox and the kill switch.
//!
//! Deliveries are rows: written with the update (see `publish`), claimed by a worker, then
//! marked sent, retried later, or dead. A crash loses nothing: a claimed row whose lease runs
//! out goes back to the queue.

use chrono::{DateTime, Duration, Utc};

use super::{on_constraint, on_pool, Store, StoreError, StoreResult};
use crate::channels::Audience;
use crate::domain::{self, SubscriberEmail};
use crate::security::stamp::{DeliveryText, OutboundText, Stamper};

/// Channels a delivery can go out on.
pub use crate::channels::names as channel;

/// The kill switch as every claim reads it, in the claim's own statement: `NOT (SELECT paused
/// FROM switch)` holds every row but alerts. On PostgreSQL the row is read `FOR SHARE`, so a
/// pause waits for a claim already running and a claim waits for a pause being committed, then
/// sees it: once a pause has committed, nothing more is claimed anywhere.
pub(crate) fn switch_cte(backend: &str) -> &'static str {
    if backend == "postgres" {
        "WITH switch AS (SELECT paused, tripped_rule FROM outbound WHERE id = 1 FOR SHARE) "
    } else {
        "WITH switch AS (SELECT paused, tripped_rule FROM outbound WHERE id = 1) "
    }
}

/// A delivery about to be queued, stamped as it is written.
pub(crate) struct NewDelivery<'a> {
    pub update_id: Option<i64>,
    pub alert_id: Option<i64>,
    pub channel: &'a str,
    pub recipient_id: i64,
    pub address: &'a str,
}

impl NewDelivery<'_> {
    pub(crate) fn text(&self) -> DeliveryText<'_> {
        DeliveryText {
            update_id: self.update_id,
            alert_id: self.alert_id,
            channel: self.channel,
            recipient_id: self.recipient_id,
            address: self.address,
        }
    }
}

/// The statement that queues deliveries: the rows come as one JSON array of
/// `[update_id, alert_id, channel, recipient_id, address, stamp]`, read back by the database's
/// JSON table function, so a fan-out chunk of 10,000 is one statement with two parameters
/// (bound one by one, 60,000 values cost sqlx about half a second). A delivery already queued
/// (same update, channel and recipient) is left as it is.
pub(crate) fn queue_sql(backend: &str) -> String {
    let rows = if backend == "postgres" {
        "json_array_elements(CAST($2 AS json)) AS j(value)"
    } else {
        "json_each($2) AS j"
    };
    format!(
        "INSERT INTO deliveries (update_id, alert_id, channel, recipient_id, address, stamp, next_attempt_at) \
         SELECT CAST(j.value ->> 0 AS BIGINT), CAST(j.value ->> 1 AS BIGINT), j.value ->> 2, \
                CAST(j.value ->> 3 AS BIGINT), j.value ->> 4, j.value ->> 5, $1 \
         FROM {rows} WHERE TRUE ON CONFLICT DO NOTHING"
    )
}

/// The rows of `queue_sql`, each stamped.
pub(crate) fn deliveries_json(stamper: Option<&Stamper>, rows: &[NewDelivery<'_>]) -> String {
    serde_json::Value::Array(
        rows.iter()
            .map(|d| {
                let stamp = stamper.map(|s| s.delivery(&d.text()));
                serde_json::json!([
                    d.update_id,
                    d.alert_id,
                    d.channel,
                    d.recipient_id,
                    d.address,
                    stamp
                ])
            })
            .collect(),
    )
    .to_string()
}

/// Queues `$rows` (`NewDelivery`s), each with its stamp, inside the caller's transaction
/// (`$tx`), due at `$at`. Evaluates to the number written.
macro_rules! queue_deliveries {
    ($store:expr, $tx:expr, $rows:expr, $at:expr) => {{
        let json = $crate::store::notify::deliveries_json($store.stamper(), &$rows);
        sqlx::query(&$crate::store::notify::queue_sql($store.backend()))
            .bind($at)
            .bind(json)
            .execute(&mut *$tx)
            .await?
            .rows_affected()
    }};
}
pub(crate) use queue_deliveries;

/// One channel's audience for one chunk of a fan-out: recipients with ids in ($1, $2], there
/// (confirmed, or active) when the update was posted ($3), following the incident ($4)'s
/// components, or any of them when the incident is a breach statement's (it is for everyone);
/// $5 is the channel name. Each row is (recipient id, address).
const AUDIENCE_SUBSCRIBERS: &str = "SELECT s.id, s.email FROM subscribers s \
     WHERE s.id > $1 AND s.id <= $2 AND s.confirmed_at IS NOT NULL AND s.confirmed_at <= $3 \
       AND (s.all_components OR EXISTS ( \
         SELECT 1 FROM subscriber_components sc JOIN incident_components ic \
         ON ic.component_id = sc.component_id \
         WHERE sc.subscriber_id = s.id AND ic.incident_id = $4) \
         OR EXISTS (SELECT 1 FROM breaches b JOIN incident_updates bu ON bu.id = b.update_id \
                    WHERE bu.incident_id = $4)) \
       AND $5 <> '' \
     ORDER BY s.id";

/// The same for webhook subscriptions of the channel's kind; the address is the receiver's host.
const AUDIENCE_HOOKS: &str = "SELECT h.id, h.host FROM hooks h \
     WHERE h.id > $1 AND h.id <= $2 AND h.activated_at IS NOT NULL AND h.activated_at <= $3 \
       AND h.disabled_at IS NULL AND h.kind = $5 \
       AND (h.all_components OR EXISTS ( \
         SELECT 1 FROM hook_components hc JOIN incident_components ic \
         ON ic.component_id = hc.component_id \
         WHERE hc.hook_id = h.id AND ic.incident_id = $4) \
         OR EXISTS (SELECT 1 FROM breaches b JOIN incident_updates bu ON bu.id = b.update_id \
                    WHERE bu.incident_id = $4)) \
     ORDER BY h.id";

#[derive(sqlx::FromRow)]
struct FanoutRow {
    update_id: i64,
    incident_id: i64,
    after_id: i64,
    created_at: DateTime<Utc>,
    channel: String,
    remaining: String,
    stamp: Option<String>,
    /// The channels its update was posted with.
    channels: String,
}

/// Links a subscriber ($1) to a component ($2), if that component exists.
const LINK_COMPONENT: &str = "INSERT INTO subscriber_components (subscriber_id, component_id) \
     SELECT $1, id FROM components WHERE id = $2 ON CONFLICT DO NOTHING";

/// A chosen component that does not exist: refused, or the subscriber would hear nothing.
fn unknown_component(id: i64) -> StoreError {
    StoreError::Invalid(domain::Invalid(vec![domain::FieldError::new(
        format!("components.{id}"),
        "no such component",
    )]))
}

/// How soon a repeated sign-up may send another confirmation mail.
pub const CONFIRM_RESEND_AFTER: Duration = Duration::minutes(10);

#[derive(Debug, Clone, PartialEq)]
pub struct Subscriber {
    pub id: i64,
    pub email: String,
    pub all_components: bool,
    pub component_ids: Vec<i64>,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// What a public sign-up led to. Deliberately the same to the person signing up either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignUp {
    /// A confirmation mail was queued.
    ConfirmationQueued(i64),
    /// Nothing was sent: already confirmed, or a confirmation went out moments ago.
    NothingSent,
}

/// A delivery claimed by a worker, with everything needed to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub update_id: Option<i64>,
    pub channel: String,
    pub recipient_id: i64,
    pub address: String,
    pub attempts: i32,
    pub alert_id: Option<i64>,
    /// Herald's stamp, written when the delivery was queued and spent when it was sent.
    pub stamp: Option<String>,
}

/// The columns a claim returns, in `ClaimedDelivery`'s order.
pub(crate) const CLAIMED_COLUMNS: &str =
    "id, update_id, channel, recipient_id, address, attempts, alert_id, stamp";

/// One step of expanding a fan-out into deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanoutChunk {
    pub update_id: i64,
    /// Deliveries written by this step.
    pub deliveries: u64,
    /// Whether the update's whole audience is now in the outbox.
    pub done: bool,
    /// The fan-out row was not written by Herald: it was dropped, nothing was queued.
    pub forged: bool,
}

/// What happened to one delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    Sent {
        message_id: String,
    },
    /// Try again at this time; the error is kept.
    Retry {
        error: String,
        at: DateTime<Utc>,
    },
    /// Never try again (permanent failure, or too many attempts).
    Dead {
        error: String,
    },
    /// The recipient is gone (unsubscribed); nothing to send.
    Cancelled,
    /// Not attempted (paused, or the channel was unreachable): back to the queue, the attempt
    /// not counted.
    Released {
        at: DateTime<Utc>,
    },
}

/// Counts per state of one update's deliveries on one channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryCounts {
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub dead: i64,
    pub cancelled: i64,
}

impl DeliveryCounts {
    pub fn total(&self) -> i64 {
        self.pending + self.sending + self.sent + self.dead + self.cancelled
    }
}

/// The kill switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundState {
    pub paused: bool,
    pub reason: String,
    pub changed_at: Option<DateTime<Utc>>,
    pub changed_by: String,
    /// The tripwire rule that paused it; empty for a pause by hand.
    pub tripped_rule: String,
    /// Grows by one with every change.
    pub serial: i64,
    /// Whether the stored state carries Herald's stamp. One that does not was written around
    /// Herald (straight into the database) and holds every channel as if paused.
    pub genuine: bool,
}

/// A channel held back on every instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct ChannelHold {
    /// Nothing goes out before this (a rate limit's reset).
    pub hold_until: Option<DateTime<Utc>>,
    /// The channel's credentials were refused then: nothing goes out until an admin reconnects.
    pub refused_at: Option<DateTime<Utc>>,
    pub refused_error: Option<String>,
}

/// (id, confirmed_at, confirm_sent_at) of an existing subscriber.
type SignUpRow = (i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

#[derive(sqlx::FromRow)]
struct SubscriberRow {
    id: i64,
    email: String,
    all_components: bool,
    created_at: DateTime<Utc>,
    confirmed_at: Option<DateTime<Utc>>,
}

/// A second row for one address (in any case): both unique keys, the exact one and
/// `lower(email)`, answer as "already subscribed".
fn already_subscribed(e: sqlx::Error) -> StoreError {
    const MESSAGE: &str = "this address is already subscribed";
    match on_constraint(e, "subscribers_email_key", MESSAGE) {
        StoreError::Database(e) => on_constraint(e, "subscribers_email_lower", MESSAGE),
        other => other,
    }
}

impl Store {
    /// A public sign-up: creates the subscriber (unconfirmed) or updates an unconfirmed one,
    /// and queues a confirmation mail unless one went out within `CONFIRM_RESEND_AFTER`.
    /// A confirmed address is left exactly as it is.
    pub async fn sign_up(
        &self,
        email: &SubscriberEmail,
        component_ids: Option<&[i64]>,
    ) -> StoreResult<SignUp> {
        let now = domain::now();
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let existing: Option<SignUpRow> = sqlx::query_as(
                "SELECT id, confirmed_at, confirm_sent_at FROM subscribers WHERE lower(email) = $1",
            )
            .bind(email.key())
            .fetch_optional(&mut *tx)
            .await?;
            let id = match existing {
                Some((_, Some(_), _)) => return Ok(SignUp::NothingSent),
                Some((_, None, Some(sent))) if now - sent < CONFIRM_RESEND_AFTER => return Ok(SignUp::NothingSent),
                Some((id, None, _)) => id,
                None => sqlx::query_scalar(
                    "INSERT INTO subscribers (email, all_components, created_at) VALUES ($1, TRUE, $2) RETURNING id",
                )
                .bind(email.as_str())
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(already_subscribed)?,
            };
            sqlx::query("UPDATE subscribers SET all_components = $1, confirm_sent_at = $2 WHERE id = $3")
                .bind(component_ids.is_none())
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM subscriber_components WHERE subscriber_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for component in component_ids.unwrap_or(&[]) {
                let linked = sqlx::query(
                    LINK_COMPONENT,
                )
                .bind(id)
                .bind(component)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if linked == 0 {
                    return Err(unknown_component(*component));
                }
            }
            let confirmation = [NewDelivery {
                update_id: None,
                alert_id: None,
                channel: channel::CONFIRM,
                recipient_id: id,
                address: email.as_str(),
            }];
            queue_deliveries!(self, tx, confirmation, now);
            tx.commit().await?;
            Ok(SignUp::ConfirmationQueued(id))
        })
    }

    /// Adds a subscriber directly (admin, import), optionally already confirmed.
    pub async fn add_subscriber(
        &self,
        email: &SubscriberEmail,
        component_ids: Option<&[i64]>,
        confirmed: bool,
    ) -> StoreResult<Subscriber> {
        let now = domain::now();
        let id: i64 = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            // One subscriber per address whatever its case (`SubscriberEmail::key`).
            let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM subscribers WHERE lower(email) = $1")
                .bind(email.key())
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict("this address is already subscribed".to_string()));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO subscribers (email, all_components, created_at, confirmed_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(email.as_str())
            .bind(component_ids.is_none())
            .bind(now)
            .bind(confirmed.then_some(now))
            .fetch_one(&mut *tx)
            .await
            .map_err(already_subscribed)?;
            for component in component_ids.unwrap_or(&[]) {
                let linked = sqlx::query(
                    LINK_COMPONENT,
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
        self.subscriber(id)
            .await?
            .ok_or(StoreError::NotFound("subscriber"))
    }

    /// Adds many subscribers in one transaction, skipping addresses already present.
    /// Returns how many were added.
    pub async fn import_subscribers(
        &self,
        emails: &[SubscriberEmail],
        confirmed: bool,
    ) -> StoreResult<u64> {
        let now = domain::now();
        let confirmed_at = confirmed.then_some(now);
        let mut added = 0;
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            // Addresses present already in another case are skipped, like exact ones.
            let present: Vec<String> = sqlx::query_scalar("SELECT lower(email) FROM subscribers")
                .fetch_all(&mut *tx)
                .await?;
            let present: std::collections::HashSet<String> = present.into_iter().collect();
            let mut seen = std::collections::HashSet::new();
            let emails: Vec<&SubscriberEmail> = emails
                .iter()
                .filter(|e| !present.contains(&e.key()) && seen.insert(e.key()))
                .collect();
            for chunk in emails.chunks(500) {
                let mut sql = String::from("INSERT INTO subscribers (email, all_components, created_at, confirmed_at) VALUES ");
                for n in 0..chunk.len() {
                    if n > 0 {
                        sql.push(',');
                    }
                    sql.push_str(&format!("(${}, TRUE, $1, $2)", n + 3));
                }
                sql.push_str(" ON CONFLICT DO NOTHING");
                let mut q = sqlx::query(&sql).bind(now).bind(confirmed_at);
                for email in chunk {
                    q = q.bind(email.as_str());
                }
                added += q.execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
        });
        Ok(added)
    }

    pub async fn subscriber(&self, id: i64) -> StoreResult<Option<Subscriber>> {
        let row: Option<SubscriberRow> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT id, email, all_components, created_at, confirmed_at FROM subscribers WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        let Some(row) = row else { return Ok(None) };
        let component_ids: Vec<i64> = on_pool!(self, read pool => sqlx::query_scalar(
            "SELECT component_id FROM subscriber_components WHERE subscriber_id = $1 ORDER BY component_id",
        )
        .bind(id)
        .fetch_all(pool)
        .await)?;
        Ok(Some(Subscriber {
            id: row.id,
            email: row.email,
            all_components: row.all_components,
            component_ids,
            created_at: row.created_at,
            confirmed_at: row.confirmed_at,
        }))
    }

    /// Confirms a subscriber; true if this confirmed them now or before.
    pub async fn confirm_subscriber(&self, id: i64) -> StoreResult<bool> {
        let found = on_pool!(self, write pool => sqlx::query(
            "UPDATE subscribers SET confirmed_at = COALESCE(confirmed_at, $1) WHERE id = $2",
        )
        .bind(domain::now())
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(found > 0)
    }

    /// Chooses which components a subscriber hears about (`None` = all).
    pub async fn set_subscriber_components(
        &self,
        id: i64,
        component_ids: Option<&[i64]>,
    ) -> StoreResult<()> {
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let found = sqlx::query("UPDATE subscribers SET all_components = $1 WHERE id = $2")
                .bind(component_ids.is_none())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if found == 0 {
                return Err(StoreError::NotFound("subscriber"));
            }
            sqlx::query("DELETE FROM subscriber_components WHERE subscriber_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for component in component_ids.unwrap_or(&[]) {
                let linked = sqlx::query(
                    LINK_COMPONENT,
                )
                .bind(id)
                .bind(component)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if linked == 0 {
                    return Err(unknown_component(*component));
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Removes a subscriber. Their queued deliveries are cancelled when the worker reaches them.
    pub async fn remove_subscriber(&self, id: i64) -> StoreResult<bool> {
        let removed = on_pool!(self, write pool => sqlx::query("DELETE FROM subscribers WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(removed > 0)
    }

    /// Subscribers whose address contains `search`, newest first, with the total that match.
    pub async fn subscribers(
        &self,
        search: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<Subscriber>, i64)> {
        let pattern = format!(
            "%{}%",
            search
                .trim()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let (rows, total): (Vec<SubscriberRow>, i64) = on_pool!(self, read pool => {
            let rows = sqlx::query_as(
                "SELECT id, email, all_components, created_at, confirmed_at FROM subscribers \
                 WHERE LOWER(email) LIKE LOWER($1) ESCAPE '\\' ORDER BY id DESC LIMIT $2 OFFSET $3",
            )
            .bind(&pattern)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM subscribers WHERE LOWER(email) LIKE LOWER($1) ESCAPE '\\'")
                .bind(&pattern)
                .fetch_one(pool)
                .await?;
            (rows, total)
        });
        let subscribers = rows
            .into_iter()
            .map(|r| Subscriber {
                id: r.id,
                email: r.email,
                all_components: r.all_components,
                component_ids: Vec::new(),
                created_at: r.created_at,
                confirmed_at: r.confirmed_at,
            })
            .collect();
        Ok((subscribers, total))
    }

    /// (confirmed, unconfirmed) subscriber counts.
    pub async fn subscriber_counts(&self) -> StoreResult<(i64, i64)> {
        let (confirmed, total): (i64, i64) = on_pool!(self, read pool => sqlx::query_as(
            "SELECT COUNT(confirmed_at), COUNT(*) FROM subscribers",
        )
        .fetch_one(pool)
        .await)?;
        Ok((confirmed, total - confirmed))
    }
    /// Writes the next chunk (up to `chunk` recipients) of the oldest waiting fan-out into
    /// deliveries, and moves its cursor, in one transaction. A fan-out walks its update's
    /// channels one after another, each over that channel's audience. `None` when nothing waits.
    pub async fn expand_fanout(&self, chunk: i64) -> StoreResult<Option<FanoutChunk>> {
        let lock = if self.backend() == "postgres" {
            "FOR UPDATE OF f SKIP LOCKED"
        } else {
            ""
        };
        // Held by the kill switch like every claim of outbound work (a breach statement passes a
        // pause made by hand). Without FOR SHARE: this transaction runs for a whole chunk, and
        // it only queues; the claims that send read the switch exactly.
        let pick = format!(
            "SELECT f.update_id, f.incident_id, f.after_id, f.created_at, f.channel, f.remaining, \
                    f.stamp, COALESCE(u.channels, '') AS channels \
             FROM fanouts f LEFT JOIN incident_updates u ON u.id = f.update_id \
             WHERE NOT (SELECT paused FROM outbound WHERE id = 1) \
                OR ((SELECT tripped_rule FROM outbound WHERE id = 1) = '' \
                    AND f.update_id IN (SELECT update_id FROM breaches WHERE ended_at IS NULL)) \
             ORDER BY f.update_id LIMIT 1 {lock}"
        );
        // PostgreSQL plans the claim query from table statistics, which autovacuum refreshes
        // only a minute or more after a burst. Until then it believes few rows are pending and
        // sorts the whole burst for every claim (30 ms a claim at 100,000 rows, instead of 2).
        // Refreshing them once the first chunk of a large fan-out is in avoids that.
        let analyze = self.backend() == "postgres";
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let waiting: Option<FanoutRow> = sqlx::query_as(&pick).fetch_optional(&mut *tx).await?;
            let Some(f) = waiting else {
                // End it here: a dropped transaction rolls back only when its connection is
                // next used, and meanwhile holds whatever it locked.
                tx.commit().await?;
                return Ok(None);
            };
            // Only a fan-out Herald wrote, on the channels its update was posted with (a
            // maintenance's reminder: on the reminder channel alone, stamped so).
            let channels = if f.channel == channel::REMINDER { channel::REMINDER } else { f.channels.as_str() };
            let chosen: Vec<&str> = channels.split(',').filter(|c| !c.is_empty()).collect();
            let genuine = self.stamper().is_none_or(|s| {
                Stamper::verify(&s.fanout(f.update_id, channels), f.stamp.as_deref())
            }) && chosen.contains(&f.channel.as_str())
                && f.remaining.split(',').filter(|c| !c.is_empty()).all(|c| chosen.contains(&c));
            if !genuine {
                sqlx::query("DELETE FROM fanouts WHERE update_id = $1 AND channel = $2")
                    .bind(f.update_id)
                    .bind(&f.channel)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(Some(FanoutChunk { update_id: f.update_id, deliveries: 0, done: true, forged: true }));
            }
            let audience = if f.channel == channel::REMINDER {
                Some(Audience::Subscribers)
            } else {
                crate::channels::info(&f.channel).map(|c| c.audience)
            };
            let (table, audience_sql) = match audience {
                Some(Audience::Subscribers) => ("subscribers", AUDIENCE_SUBSCRIBERS),
                Some(Audience::Hooks(_)) => ("hooks", AUDIENCE_HOOKS),
                // The connected account, or a channel this version does not know: no chunks.
                _ => ("", ""),
            };
            let mut deliveries = 0;
            let (upto, covered): (Option<i64>, i64) = if table.is_empty() {
                (None, 0)
            } else {
                sqlx::query_as(&format!(
                    "SELECT MAX(id), COUNT(*) FROM (SELECT id FROM {table} WHERE id > $1 ORDER BY id LIMIT $2) AS chunk",
                ))
                .bind(f.after_id)
                .bind(chunk)
                .fetch_one(&mut *tx)
                .await?
            };
            if audience == Some(Audience::Account) {
                let account: Option<String> =
                    sqlx::query_scalar("SELECT '@' || username FROM x_account WHERE id = 1")
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some(address) = &account {
                    let post = [NewDelivery {
                        update_id: Some(f.update_id),
                        alert_id: None,
                        channel: &f.channel,
                        recipient_id: 0,
                        address,
                    }];
                    deliveries = queue_deliveries!(self, tx, post, f.created_at);
                }
            } else if let Some(upto) = upto {
                let audience: Vec<(i64, String)> = sqlx::query_as(audience_sql)
                    .bind(f.after_id)
                    .bind(upto)
                    .bind(f.created_at)
                    .bind(f.incident_id)
                    .bind(&f.channel)
                    .fetch_all(&mut *tx)
                    .await?;
                let rows: Vec<NewDelivery<'_>> = audience
                    .iter()
                    .map(|(id, address)| NewDelivery {
                        update_id: Some(f.update_id),
                        alert_id: None,
                        channel: &f.channel,
                        recipient_id: *id,
                        address,
                    })
                    .collect();
                deliveries = queue_deliveries!(self, tx, rows, f.created_at);
            }
            let channel_done = covered < chunk;
            let mut remaining = f.remaining.split(',').filter(|c| !c.is_empty());
            let next = if channel_done { remaining.next() } else { None };
            let done = channel_done && next.is_none();
            if done {
                sqlx::query("DELETE FROM fanouts WHERE update_id = $1 AND channel = $2")
                    .bind(f.update_id)
                    .bind(&f.channel)
                    .execute(&mut *tx)
                    .await?;
            } else if let Some(next) = next {
                sqlx::query("UPDATE fanouts SET channel = $1, remaining = $2, after_id = 0 WHERE update_id = $3 AND channel = $4")
                    .bind(next)
                    .bind(remaining.collect::<Vec<_>>().join(","))
                    .bind(f.update_id)
                    .bind(&f.channel)
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query("UPDATE fanouts SET after_id = $1 WHERE update_id = $2 AND channel = $3")
                    .bind(upto)
                    .bind(f.update_id)
                    .bind(&f.channel)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            if analyze && f.after_id == 0 && deliveries >= 1_000 {
                if let Err(e) = sqlx::query("ANALYZE deliveries").execute(pool).await {
                    tracing::warn!(error = %e, "refreshing the outbox's statistics failed");
                }
            }
            Ok(Some(FanoutChunk { update_id: f.update_id, deliveries, done, forged: false }))
        })
    }

    /// Whether an update's fan-out is still being written into deliveries.
    pub async fn fanout_pending(&self, update_id: i64) -> StoreResult<bool> {
        let n: i64 = on_pool!(self, read pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM fanouts WHERE update_id = $1",
        )
        .bind(update_id)
        .fetch_one(pool)
        .await)?;
        Ok(n > 0)
    }

    /// Claims up to `limit` due deliveries on `channels` for `lease`, in the name of
    /// `instance`; another worker cannot take them meanwhile. With `ordered`, claims only the
    /// first delivery of the channel still unsent, and only once it is due: nothing overtakes
    /// an earlier one that is in flight or waiting for its retry.
    ///
    /// The kill switch is read in the same statement (see `switch_cte`): while it is on, only
    /// alerts to the admins are claimed, and, while the pause is one made by hand (not a
    /// tripwire's), the deliveries of an open breach statement.
    pub async fn claim_deliveries(
        &self,
        channels: &[&'static str],
        limit: i64,
        ordered: bool,
        lease: Duration,
        instance: &str,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        // Channel names are the registry's constants, never input.
        let names = channels;
        let channels = channels
            .iter()
            .map(|c| format!("'{c}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let now = domain::now();
        let lock = if self.backend() == "postgres" {
            "FOR UPDATE OF deliveries SKIP LOCKED"
        } else {
            ""
        };
        let held = format!(
            "(channel = '{alert}' OR NOT (SELECT paused FROM switch) \
              OR ((SELECT tripped_rule FROM switch) = '' \
                  AND update_id IN (SELECT update_id FROM breaches WHERE ended_at IS NULL)))",
            alert = crate::channels::names::ALERT,
        );
        let sql = if ordered {
            format!(
                "{switch}UPDATE deliveries SET state = 'sending', attempts = attempts + 1, claimed_until = $1, claimed_by = $4 \
                 WHERE id = (SELECT id FROM deliveries WHERE channel IN ({channels}) AND state IN ('pending', 'sending') \
                             ORDER BY id LIMIT 1) \
                   AND state = 'pending' AND next_attempt_at <= $2 AND {held} AND $3 > 0 \
                 RETURNING {CLAIMED_COLUMNS}",
                switch = switch_cte(self.backend()),
            )
        } else if self.backend() == "postgres" {
            format!(
                "{switch}UPDATE deliveries SET state = 'sending', attempts = attempts + 1, claimed_until = $1, claimed_by = $4 \
                 WHERE id IN (SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= $2 \
                              AND channel IN ({channels}) AND {held} \
                              ORDER BY next_attempt_at LIMIT $3 {lock}) \
                 RETURNING {CLAIMED_COLUMNS}",
                switch = switch_cte(self.backend()),
            )
        } else {
            // SQLite: one ordered range of the (channel, next_attempt_at) index per channel
            // name, so a channel's claim never walks another channel's backlog (an idle
            // webhook loop during a 100,000-mail fan-out), and no claim sorts a whole queue.
            let per_name = names
                .iter()
                .map(|name| {
                    format!(
                        "SELECT id, next_attempt_at FROM (SELECT id, next_attempt_at FROM deliveries \
                         WHERE channel = '{name}' AND state = 'pending' AND next_attempt_at <= $2 AND {held} \
                         ORDER BY next_attempt_at LIMIT $3)"
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            format!(
                "{switch}UPDATE deliveries SET state = 'sending', attempts = attempts + 1, claimed_until = $1, claimed_by = $4 \
                 WHERE id IN (SELECT id FROM ({per_name}) AS due ORDER BY next_attempt_at LIMIT $3) \
                 RETURNING {CLAIMED_COLUMNS}",
                switch = switch_cte(self.backend()),
            )
        };
        let claimed: Vec<ClaimedDelivery> = on_pool!(self, write pool => sqlx::query_as(&sql)
            .bind(now + lease)
            .bind(now)
            .bind(limit)
            .bind(instance)
            .fetch_all(pool)
            .await)?;
        Ok(claimed)
    }

    /// Whether an update is the statement of an open breach, with a valid stamp. `None` when it
    /// is not one; `Some(false)` when a breach row names it but Herald did not write that row.
    pub async fn statement_of(&self, update_id: i64) -> StoreResult<Option<bool>> {
        let row: Option<(i64, String, Option<String>)> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT id, started_by, stamp FROM breaches WHERE update_id = $1 AND ended_at IS NULL",
        )
        .bind(update_id)
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(|(id, by, stamp)| {
            self.stamper()
                .is_none_or(|s| Stamper::verify(&s.breach(id, update_id, &by), stamp.as_deref()))
        }))
    }

    /// The receipt (post id) of the channel's last post about the same incident before this
    /// update: what an ordered channel's post answers, so an incident reads as one thread.
    pub async fn thread_receipt(
        &self,
        channel: &str,
        update_id: i64,
    ) -> StoreResult<Option<String>> {
        Ok(on_pool!(self, read pool => sqlx::query_scalar(
            "SELECT d.message_id FROM incident_updates u \
             JOIN incident_updates p ON p.incident_id = u.incident_id AND p.id < u.id \
             JOIN deliveries d ON d.update_id = p.id AND d.channel = $1 AND d.state = 'sent' \
             WHERE u.id = $2 AND d.message_id IS NOT NULL ORDER BY p.id DESC LIMIT 1",
        )
        .bind(channel)
        .bind(update_id)
        .fetch_optional(pool)
        .await)?)
    }

    /// A post on the connected account went out: the update shows its id (`tweet_id`).
    pub async fn record_post_id(&self, update_id: i64, post_id: &str) -> StoreResult<()> {
        on_pool!(self, write pool => sqlx::query("UPDATE incident_updates SET tweet_id = $1 WHERE id = $2")
            .bind(post_id)
            .bind(update_id)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Whether a channel is held: refused (until an admin reconnects it) or asked to wait.
    pub async fn channel_hold(&self, channel: &str) -> StoreResult<ChannelHold> {
        let row: Option<ChannelHold> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT hold_until, refused_at, refused_error FROM channel_holds WHERE channel = $1",
        )
        .bind(channel)
        .fetch_optional(pool)
        .await)?;
        Ok(row.unwrap_or_default())
    }

    /// Every delivery of `channel`, on every instance, waits until `until` (a rate limit).
    pub async fn hold_channel(&self, channel: &str, until: DateTime<Utc>) -> StoreResult<()> {
        on_pool!(self, write pool => sqlx::query(
            "INSERT INTO channel_holds (channel, hold_until) VALUES ($1, $2) \
             ON CONFLICT (channel) DO UPDATE SET hold_until = excluded.hold_until",
        )
        .bind(channel)
        .bind(until)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The channel's credentials were refused: nothing of it goes out until `clear_channel_hold`.
    /// Returns false when it was already refused (so the admins are alerted once).
    pub async fn refuse_channel(&self, channel: &str, error: &str) -> StoreResult<bool> {
        let changed = on_pool!(self, write pool => sqlx::query(
            "INSERT INTO channel_holds (channel, refused_at, refused_error) VALUES ($1, $2, $3) \
             ON CONFLICT (channel) DO UPDATE SET refused_at = excluded.refused_at, refused_error = excluded.refused_error \
             WHERE channel_holds.refused_at IS NULL",
        )
        .bind(channel)
        .bind(domain::now())
        .bind(error)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(changed > 0)
    }

    /// Lifts a channel's hold and refusal (an account reconnected).
    pub async fn clear_channel_hold(&self, channel: &str) -> StoreResult<()> {
        on_pool!(self, write pool => sqlx::query("DELETE FROM channel_holds WHERE channel = $1")
            .bind(channel)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Whether a claimed delivery is one Herald queued and has not sent yet: its stamp binds
    /// its update (or alert), channel, recipient and address, and is spent once it is sent.
    /// Always true without a stamper.
    pub fn delivery_stamp_ok(&self, d: &ClaimedDelivery) -> bool {
        self.stamper().is_none_or(|stamper| {
            let expected = stamper.delivery(&DeliveryText {
                update_id: d.update_id,
                alert_id: d.alert_id,
                channel: &d.channel,
                recipient_id: d.recipient_id,
                address: &d.address,
            });
            Stamper::verify(&expected, d.stamp.as_deref())
        })
    }

    /// Records that `instance` is alive (its heartbeat), and forgets instances silent for
    /// an hour.
    pub async fn heartbeat(&self, instance: &str, host: &str, pid: u32) -> StoreResult<()> {
        let now = domain::now();
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO instances (id, host, pid, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = $4",
            )
            .bind(instance)
            .bind(host)
            .bind(i64::from(pid))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM instances WHERE heartbeat_at < $1")
                .bind(now - Duration::hours(1))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// An instance stopping cleanly: the others take over its claims at their next sweep.
    pub async fn forget_instance(&self, instance: &str) -> StoreResult<()> {
        on_pool!(self, write pool => sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(instance)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Puts back in the queue the deliveries claimed by instances whose last heartbeat is
    /// older than `silent_for` (or that stopped), without counting the attempt.
    pub async fn release_claims_of_dead_instances(&self, silent_for: Duration) -> StoreResult<u64> {
        let released = on_pool!(self, write pool => sqlx::query(
            "UPDATE deliveries SET state = 'pending', attempts = attempts - 1, claimed_until = NULL, claimed_by = NULL \
             WHERE state = 'sending' AND claimed_by IS NOT NULL \
               AND claimed_by NOT IN (SELECT id FROM instances WHERE heartbeat_at >= $1)",
        )
        .bind(domain::now() - silent_for)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(released)
    }

    /// Puts deliveries whose claim expired (their worker died) back in the queue.
    pub async fn release_expired_claims(&self) -> StoreResult<u64> {
        let released = on_pool!(self, write pool => sqlx::query(
            "UPDATE deliveries SET state = 'pending', attempts = attempts - 1, claimed_until = NULL, claimed_by = NULL \
             WHERE state = 'sending' AND claimed_until < $1",
        )
        .bind(domain::now())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(released)
    }

    /// With a single instance (SQLite), nothing else can hold a claim: release them all at start.
    pub async fn release_all_claims(&self) -> StoreResult<u64> {
        let released = on_pool!(self, write pool => sqlx::query(
            "UPDATE deliveries SET state = 'pending', attempts = attempts - 1, claimed_until = NULL, claimed_by = NULL WHERE state = 'sending'",
        )
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(released)
    }

    /// Which of these subscribers still exist (the rest unsubscribed since the enqueue).
    pub async fn existing_subscribers(&self, ids: &[i64]) -> StoreResult<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let sql = format!("SELECT id FROM subscribers WHERE id IN ({list})");
        Ok(on_pool!(self, read pool => sqlx::query_scalar(&sql).fetch_all(pool).await)?)
    }

    /// Records what happened to claimed deliveries, all in one transaction.
    pub async fn record_outcomes(&self, outcomes: &[(i64, DeliveryOutcome)]) -> StoreResult<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let now = domain::now();
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            for (id, outcome) in outcomes {
                match outcome {
                    DeliveryOutcome::Sent { message_id } => sqlx::query(
                        "UPDATE deliveries SET state = 'sent', sent_at = $1, message_id = $2, claimed_until = NULL, \
                         last_error = NULL, stamp = NULL WHERE id = $3",
                    )
                    .bind(now)
                    .bind(message_id.as_str())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?,
                    DeliveryOutcome::Retry { error, at } => sqlx::query(
                        "UPDATE deliveries SET state = 'pending', next_attempt_at = $1, last_error = $2, \
                         claimed_until = NULL WHERE id = $3",
                    )
                    .bind(*at)
                    .bind(error.as_str())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?,
                    DeliveryOutcome::Dead { error } => sqlx::query(
                        "UPDATE deliveries SET state = 'dead', last_error = $1, claimed_until = NULL WHERE id = $2",
                    )
                    .bind(error.as_str())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?,
                    DeliveryOutcome::Cancelled => sqlx::query(
                        "UPDATE deliveries SET state = 'cancelled', claimed_until = NULL WHERE id = $1",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?,
                    DeliveryOutcome::Released { at } => sqlx::query(
                        "UPDATE deliveries SET state = 'pending', attempts = attempts - 1, next_attempt_at = $1, \
                         claimed_until = NULL WHERE id = $2",
                    )
                    .bind(*at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?,
                };
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Counts per channel and state for one update.
    pub async fn delivery_counts(
        &self,
        update_id: i64,
    ) -> StoreResult<Vec<(String, DeliveryCounts)>> {
        let rows: Vec<(String, String, i64)> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT channel, state, COUNT(*) FROM deliveries WHERE update_id = $1 GROUP BY channel, state ORDER BY channel",
        )
        .bind(update_id)
        .fetch_all(pool)
        .await)?;
        let mut out: Vec<(String, DeliveryCounts)> = Vec::new();
        for (channel, state, n) in rows {
            if out.last().is_none_or(|(c, _)| *c != channel) {
                out.push((channel.clone(), DeliveryCounts::default()));
            }
            if let Some((_, counts)) = out.last_mut() {
                match state.as_str() {
                    "pending" => counts.pending = n,
                    "sending" => counts.sending = n,
                    "sent" => counts.sent = n,
                    "dead" => counts.dead = n,
                    _ => counts.cancelled = n,
                }
            }
        }
        Ok(out)
    }

    /// The distinct last errors of an update's deliveries, most frequent first:
    /// `(channel, error, deliveries)`.
    pub async fn delivery_errors(&self, update_id: i64) -> StoreResult<Vec<(String, String, i64)>> {
        Ok(on_pool!(self, read pool => sqlx::query_as(
            "SELECT channel, last_error, COUNT(*) AS n FROM deliveries \
             WHERE update_id = $1 AND last_error IS NOT NULL \
             GROUP BY channel, last_error ORDER BY n DESC, channel LIMIT 20",
        )
        .bind(update_id)
        .fetch_all(pool)
        .await)?)
    }

    /// Puts an update's dead deliveries back in the queue with a fresh count of attempts.
    pub async fn retry_dead_deliveries(&self, update_id: i64) -> StoreResult<u64> {
        let n = on_pool!(self, write pool => sqlx::query(
            "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1 \
             WHERE update_id = $2 AND state = 'dead'",
        )
        .bind(domain::now())
        .bind(update_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n)
    }

    /// Deliveries waiting or in flight, over all updates.
    pub async fn queue_depth(&self) -> StoreResult<(i64, i64)> {
        let (pending, sending): (i64, i64) = on_pool!(self, read pool => sqlx::query_as(
            "SELECT COUNT(CASE WHEN state = 'pending' THEN 1 END), COUNT(CASE WHEN state = 'sending' THEN 1 END) \
             FROM deliveries WHERE state IN ('pending', 'sending')",
        )
        .fetch_one(pool)
        .await)?;
        Ok((pending, sending))
    }

    pub async fn outbound_state(&self) -> StoreResult<OutboundState> {
        let row: OutboundRow = on_pool!(self, read pool => sqlx::query_as(
                "SELECT paused, reason, changed_at, changed_by, tripped_rule, serial, stamp FROM outbound WHERE id = 1",
            )
            .fetch_one(pool)
            .await)?;
        let genuine = self.stamper().is_none_or(|stamper| {
            Stamper::verify(&stamper.outbound(&row.text()), row.stamp.as_deref())
        });
        Ok(OutboundState {
            paused: row.paused,
            reason: row.reason,
            changed_at: row.changed_at,
            changed_by: row.changed_by,
            tripped_rule: row.tripped_rule,
            serial: row.serial,
            genuine,
        })
    }

    /// Pauses or resumes every outbound channel. A pause keeps the tripped rule, if any; a
    /// resume clears it.
    pub async fn set_outbound_paused(
        &self,
        paused: bool,
        reason: &str,
        by: &str,
    ) -> StoreResult<OutboundState> {
        self.write_outbound(paused, reason, by, None, 0).await
    }

    /// One transaction: the new state (with `rule`, the tripwire rule that paused it), its
    /// serial moved on to at least `at_least`, and its stamp.
    pub async fn write_outbound(
        &self,
        paused: bool,
        reason: &str,
        by: &str,
        rule: Option<&str>,
        at_least: i64,
    ) -> StoreResult<OutboundState> {
        let now = domain::now();
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            // A pause by hand while the tripwire holds outbound changes nothing: the trip's
            // reason is what the admins must read, and it already holds everything.
            let row: Option<OutboundRow> = sqlx::query_as(
                "UPDATE outbound SET paused = $1, reason = $2, changed_at = $3, changed_by = $4, \
                 tripped_rule = CASE WHEN $5 IS NOT NULL THEN $5 WHEN $1 THEN tripped_rule ELSE '' END, \
                 serial = CASE WHEN serial + 1 > $6 THEN serial + 1 ELSE $6 END, stamp = NULL \
                 WHERE id = 1 AND NOT ($1 AND $5 IS NULL AND paused AND tripped_rule <> '') \
                 RETURNING paused, reason, changed_at, changed_by, tripped_rule, serial, stamp",
            )
            .bind(paused)
            .bind(reason)
            .bind(now)
            .bind(by)
            .bind(rule)
            .bind(at_least)
            .fetch_optional(&mut *tx)
            .await?;
            if let (Some(row), Some(stamper)) = (&row, self.stamper()) {
                sqlx::query("UPDATE outbound SET stamp = $1 WHERE id = 1")
                    .bind(stamper.outbound(&row.text()))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        self.outbound_state().await
    }
}

#[derive(sqlx::FromRow)]
struct OutboundRow {
    paused: bool,
    reason: String,
    changed_at: Option<DateTime<Utc>>,
    changed_by: String,
    tripped_rule: String,
    serial: i64,
    stamp: Option<String>,
}

impl OutboundRow {
    fn text(&self) -> OutboundText<'_> {
        OutboundText {
            serial: self.serial,
            paused: self.paused,
            reason: &self.reason,
            changed_at_micros: self.changed_at.map_or(0, |t| t.timestamp_micros()),
            changed_by: &self.changed_by,
            tripped_rule: &self.tripped_rule,
        }
    }
}
