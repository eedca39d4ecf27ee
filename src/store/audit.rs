//! The audit log: append-only, hash-chained (security::audit). Appending bumps the single head
//! row first, which serialises appenders on both backends, so the chain never forks and entry
//! ids run 1, 2, 3... without gaps.

use chrono::{DateTime, Utc};

use super::{on_pool, Store, StoreResult};
use crate::domain;
use crate::security::audit::{Broken, Chain, Entry};

/// An action to record.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent {
    pub actor: String,
    pub ip: String,
    pub user_agent: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}

/// What to list on the audit page.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Substring of the actor.
    pub actor: String,
    /// Prefix of the action (`login` matches `login.failed`).
    pub action: String,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Entries with an id below this (the next page).
    pub before_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(super) struct Row {
    id: i64,
    at: DateTime<Utc>,
    actor: String,
    ip: String,
    user_agent: String,
    action: String,
    target: String,
    detail: String,
    prev_hash: String,
    hash: String,
}

impl From<Row> for Entry {
    fn from(r: Row) -> Entry {
        Entry {
            id: r.id,
            at: r.at,
            actor: r.actor,
            ip: r.ip,
            user_agent: r.user_agent,
            action: r.action,
            target: r.target,
            detail: r.detail,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

pub(super) const COLUMNS: &str =
    "id, at, actor, ip, user_agent, action, target, detail, prev_hash, hash";

/// The chain's head as stored: how many entries, and the last one's hash.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditHead {
    pub entries: i64,
    pub last_hash: String,
}

impl Store {
    /// Appends one entry to the chain.
    pub async fn append_audit(&self, chain: &Chain, event: AuditEvent) -> StoreResult<Entry> {
        let clip = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let (id, prev_hash): (i64, String) = sqlx::query_as(
                "UPDATE audit_head SET entries = entries + 1 WHERE id = 1 RETURNING entries, last_hash",
            )
            .fetch_one(&mut *tx)
            .await?;
            let mut entry = Entry {
                id,
                at: domain::now(),
                actor: clip(&event.actor, 200),
                ip: clip(&event.ip, 64),
                user_agent: clip(&event.user_agent, 300),
                action: clip(&event.action, 100),
                target: clip(&event.target, 200),
                detail: event.detail.to_string(),
                prev_hash,
                hash: String::new(),
            };
            entry.hash = chain.hash(&entry);
            sqlx::query(&format!("INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
                .bind(entry.id)
                .bind(entry.at)
                .bind(&entry.actor)
                .bind(&entry.ip)
                .bind(&entry.user_agent)
                .bind(&entry.action)
                .bind(&entry.target)
                .bind(&entry.detail)
                .bind(&entry.prev_hash)
                .bind(&entry.hash)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE audit_head SET last_hash = $1 WHERE id = 1")
                .bind(&entry.hash)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(entry)
        })
    }

    /// Newest first, at most `limit`, matching the filter.
    pub async fn audit_entries(&self, filter: &AuditFilter, limit: i64) -> StoreResult<Vec<Entry>> {
        let rows: Vec<Row> = on_pool!(self, read pool => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_log \
             WHERE ($1 = '' OR actor LIKE '%' || $1 || '%') \
               AND ($2 = '' OR action = $2 OR action LIKE $2 || '.%') \
               AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR at < $4) \
               AND ($5 IS NULL OR id < $5) \
             ORDER BY id DESC LIMIT $6"
        ))
        .bind(&filter.actor)
        .bind(&filter.action)
        .bind(filter.since)
        .bind(filter.until)
        .bind(filter.before_id)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(Entry::from).collect())
    }

    pub async fn audit_head(&self) -> StoreResult<AuditHead> {
        let (entries, last_hash): (i64, String) = on_pool!(self, read pool => sqlx::query_as(
            "SELECT entries, last_hash FROM audit_head WHERE id = 1",
        )
        .fetch_one(pool)
        .await)?;
        Ok(AuditHead { entries, last_hash })
    }

    /// Walks the whole chain in id order. `Ok(head)` when intact; otherwise the first break.
    pub async fn verify_audit(&self, chain: &Chain) -> StoreResult<Result<AuditHead, Broken>> {
        let head = self.audit_head().await?;
        let mut prev = String::new();
        let mut checked = 0i64;
        let mut after = 0i64;
        loop {
            let rows: Vec<Row> = on_pool!(self, read pool => sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM audit_log WHERE id > $1 ORDER BY id LIMIT 1000"
            ))
            .bind(after)
            .fetch_all(pool)
            .await)?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            let entries: Vec<Entry> = rows.into_iter().map(Entry::from).collect();
            for (i, e) in entries.iter().enumerate() {
                // Ids run without gaps: a missing id is a removed entry.
                if e.id != checked + i as i64 + 1 {
                    return Ok(Err(Broken::Unlinked { id: e.id }));
                }
            }
            match chain.verify(&entries, &mut prev) {
                Ok(n) => checked += n,
                Err(broken) => return Ok(Err(broken)),
            }
        }
        if checked != head.entries {
            return Ok(Err(Broken::Count {
                found: checked,
                expected: head.entries,
            }));
        }
        if prev != head.last_hash {
            return Ok(Err(Broken::Head));
        }
        Ok(Ok(head))
    }
}
