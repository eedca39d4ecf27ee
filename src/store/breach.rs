//! Breach mode's rows: the one open breach (the update it pins and sends despite a pause made by
//! hand), starting and ending it, and how many recipients each channel would reach.

use chrono::{DateTime, Utc};

use super::{on_constraint, on_pool, Store, StoreError, StoreResult};
use crate::domain;
use crate::security::stamp::Stamper;

/// A breach, open or just ended: the statement it pins and who started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    pub id: i64,
    /// The incident the statement opened.
    pub incident_id: i64,
    /// The statement itself: the update sent on every channel despite the pause.
    pub update_id: i64,
    /// The incident's name: the statement's title.
    pub title: String,
    /// The statement's text (Markdown, as written).
    pub body: String,
    pub started_at: DateTime<Utc>,
    pub started_by: String,
    pub ended_at: Option<DateTime<Utc>>,
    pub ended_by: Option<String>,
    /// Whether the row carries Herald's stamp. A row written straight into the database does
    /// not: it is never pinned and its update never sent.
    pub genuine: bool,
}

#[derive(sqlx::FromRow)]
struct BreachRow {
    id: i64,
    incident_id: i64,
    update_id: i64,
    title: String,
    body: String,
    started_at: DateTime<Utc>,
    started_by: String,
    ended_at: Option<DateTime<Utc>>,
    ended_by: Option<String>,
    stamp: Option<String>,
}

impl BreachRow {
    fn into_breach(self, stamper: Option<&Stamper>) -> Breach {
        let genuine = stamper.is_none_or(|s| {
            Stamper::verify(
                &s.breach(self.id, self.update_id, &self.started_by),
                self.stamp.as_deref(),
            )
        });
        Breach {
            id: self.id,
            incident_id: self.incident_id,
            update_id: self.update_id,
            title: self.title,
            body: self.body,
            started_at: self.started_at,
            started_by: self.started_by,
            ended_at: self.ended_at,
            ended_by: self.ended_by,
            genuine,
        }
    }
}

const BREACH_COLUMNS: &str = "SELECT b.id, u.incident_id, b.update_id, i.name AS title, u.body, \
     b.started_at, b.started_by, b.ended_at, b.ended_by, b.stamp \
     FROM breaches b JOIN incident_updates u ON u.id = b.update_id \
     JOIN incidents i ON i.id = u.incident_id";

/// How many recipients a channel has right now: confirmed subscribers for email, active
/// subscriptions of its kind for a hook channel, 0 or 1 for the connected account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelReach {
    pub channel: &'static str,
    pub recipients: i64,
}

impl Store {
    /// The open breach, if any (whether or not its stamp verifies: see `Breach::genuine`).
    pub async fn open_breach(&self) -> StoreResult<Option<Breach>> {
        let sql = format!("{BREACH_COLUMNS} WHERE b.ended_at IS NULL");
        let row: Option<BreachRow> =
            on_pool!(self, read pool => sqlx::query_as(&sql).fetch_optional(pool).await)?;
        Ok(row.map(|r| r.into_breach(self.stamper())))
    }

    /// Opens a breach naming `update_id` as its statement and stamps it, in one transaction.
    /// Refuses with `Conflict` while another is open.
    pub async fn start_breach(&self, update_id: i64, by: &str) -> StoreResult<Breach> {
        let now = domain::now();
        let sql = format!("{BREACH_COLUMNS} WHERE b.id = $1");
        let row: BreachRow = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM breaches WHERE ended_at IS NULL")
                .fetch_one(&mut *tx)
                .await?;
            if open > 0 {
                return Err(already_open());
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO breaches (update_id, started_at, started_by) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(update_id)
            .bind(now)
            .bind(by)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| on_constraint(e, "breaches_open", ALREADY_OPEN))?;
            if let Some(stamper) = self.stamper() {
                sqlx::query("UPDATE breaches SET stamp = $1 WHERE id = $2")
                    .bind(stamper.breach(id, update_id, by))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            let row: Option<BreachRow> = sqlx::query_as(&sql).bind(id).fetch_optional(&mut *tx).await?;
            let Some(row) = row else {
                return Err(StoreError::NotFound("update"));
            };
            // Every instance rebuilds its pages on a change to incidents (the PostgreSQL
            // trigger of migration 0006); breaches have no trigger of their own.
            sqlx::query("UPDATE incidents SET updated_at = updated_at WHERE id = $1")
                .bind(row.incident_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            row
        });
        Ok(row.into_breach(self.stamper()))
    }

    /// Ends the open breach; `None` when none is open.
    pub async fn end_breach(&self, by: &str) -> StoreResult<Option<Breach>> {
        let now = domain::now();
        let sql = format!("{BREACH_COLUMNS} WHERE b.id = $1");
        let row: Option<BreachRow> = on_pool!(self, write pool => {
                    let mut tx = pool.begin().await?;
                    let id: Option<i64> = sqlx::query_scalar(
                        "UPDATE breaches SET ended_at = $1, ended_by = $2 WHERE ended_at IS NULL RETURNING id",
                    )
                    .bind(now)
                    .bind(by)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let row: Option<BreachRow> = match id {
                        Some(id) => sqlx::query_as(&sql).bind(id).fetch_optional(&mut *tx).await?,
                        None => None,
                    };
                    if let Some(row) = &row {
                        // Every instance rebuilds its pages on a change to incidents (the PostgreSQL
                        // trigger of migration 0006); breaches have no trigger of their own.
                        sqlx::query("UPDATE incidents SET updated_at = updated_at WHERE id = $1")
                            .bind(row.incident_id)
                            .execute(&mut *tx)
                            .await?;
        }
                    tx.commit().await?;
                    row
                });
        Ok(row.map(|r| r.into_breach(self.stamper())))
    }

    /// How many recipients each of `channels` would reach now, counted from the tables.
    pub async fn channel_reach(&self, channels: &[&'static str]) -> StoreResult<Vec<ChannelReach>> {
        use crate::channels::Audience;
        let mut reach = Vec::with_capacity(channels.len());
        for &channel in channels {
            let audience = crate::channels::info(channel).map(|c| c.audience);
            let (sql, kind) = match audience {
                Some(Audience::Subscribers) => (
                    "SELECT COUNT(*) FROM subscribers WHERE confirmed_at IS NOT NULL AND $1 <> ''",
                    channel,
                ),
                Some(Audience::Hooks(kind)) => (
                    "SELECT COUNT(*) FROM hooks WHERE activated_at IS NOT NULL \
                     AND disabled_at IS NULL AND kind = $1",
                    kind,
                ),
                Some(Audience::Account) => {
                    ("SELECT COUNT(*) FROM x_account WHERE $1 <> ''", channel)
                }
                None => {
                    reach.push(ChannelReach {
                        channel,
                        recipients: 0,
                    });
                    continue;
                }
            };
            let recipients: i64 = on_pool!(self, read pool => sqlx::query_scalar(sql)
                .bind(kind)
                .fetch_one(pool)
                .await)?;
            reach.push(ChannelReach {
                channel,
                recipients,
            });
        }
        Ok(reach)
    }
}

const ALREADY_OPEN: &str =
    "breach mode is already on: end it (herald breach end) before starting another";

fn already_open() -> StoreError {
    StoreError::Conflict(ALREADY_OPEN.to_string())
}
