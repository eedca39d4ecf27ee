//! What the staff security controls keep: TOTP seeds (sealed by the caller) and recovery
//! codes, sign-in throttles, the sources each actor has acted from, the tripwire's counts of
//! recent posts and the point of the last resume, the sealed values that `herald secrets
//! rotate` re-seals, and the check value of the master key.

use chrono::{DateTime, Duration, Utc};

use super::audit::{Row, COLUMNS};
use super::{on_pool, Store, StoreError, StoreResult};
use crate::domain;
use crate::security::audit::{Chain, Entry};
use crate::security::keys::KeyCheck;
use crate::security::seal::purpose;
use crate::security::secret::kind;
use crate::security::stamp::Stamper;

/// Failed sign-ins older than this are forgotten.
const THROTTLE_MEMORY: Duration = Duration::hours(1);
/// The longest wait a run of failures can impose.
const THROTTLE_MAX_WAIT_SECS: i64 = 900;

/// Notifying posts after a point in time, as `recent_notifying_posts` counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecentPosts {
    pub posts: i64,
    pub to_incident: i64,
    pub new_incidents: i64,
    /// Whether the next post to the incident asked about would be its first notifying one.
    pub first_for_incident: bool,
}

/// One sealed value, for re-sealing under a new key: where it lives and its purpose.
#[derive(Debug, Clone)]
pub struct SealedValue {
    /// `staff.totp_sealed`, `x_account.token_sealed`, ...
    pub column: &'static str,
    pub key: String,
    pub purpose: String,
    pub sealed: String,
}

impl Store {
    /// A staff member's sealed TOTP seed and the step of the last code accepted.
    pub async fn totp_seed(&self, staff_id: i64) -> StoreResult<Option<(String, i64)>> {
        let row: Option<(Option<String>, i64)> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT totp_sealed, totp_last_step FROM staff WHERE id = $1",
        )
        .bind(staff_id)
        .fetch_optional(pool)
        .await)?;
        Ok(row.and_then(|(sealed, step)| sealed.map(|s| (s, step))))
    }

    /// Keeps a seed proposed at enrolment (not yet active: `totp_enabled_at` stays empty until a
    /// code from it is confirmed).
    pub async fn propose_totp(&self, staff_id: i64, sealed: &str) -> StoreResult<()> {
        let changed = on_pool!(self, write pool => sqlx::query(
            "UPDATE staff SET totp_sealed = $1, totp_last_step = 0 WHERE id = $2 AND totp_enabled_at IS NULL",
        )
        .bind(sealed)
        .bind(staff_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if changed == 0 {
            return Err(StoreError::Conflict(
                "two-factor authentication is already set up".into(),
            ));
        }
        Ok(())
    }

    /// Activates the proposed seed with the first code's step and stores the recovery codes.
    pub async fn enable_totp(
        &self,
        staff_id: i64,
        step: i64,
        recovery_digests: &[String],
    ) -> StoreResult<()> {
        let hashes = self.recovery_hashes(staff_id, recovery_digests)?;
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE staff SET totp_enabled_at = $1, totp_last_step = $2 \
                 WHERE id = $3 AND totp_enabled_at IS NULL AND totp_sealed IS NOT NULL AND totp_last_step < $2",
            )
            .bind(domain::now())
            .bind(step)
            .bind(staff_id)
            .execute(&mut *tx)
            .await?;
            if changed.rows_affected() == 0 {
                return Err(StoreError::Conflict("two-factor authentication is already set up".into()));
            }
            sqlx::query("DELETE FROM recovery_codes WHERE staff_id = $1")
                .bind(staff_id)
                .execute(&mut *tx)
                .await?;
            for hash in &hashes {
                sqlx::query("INSERT INTO recovery_codes (staff_id, code_hash) VALUES ($1, $2)")
                    .bind(staff_id)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Takes a code's step if it is later than the last one taken: false means a replay.
    pub async fn accept_totp_step(&self, staff_id: i64, step: i64) -> StoreResult<bool> {
        let changed = on_pool!(self, write pool => sqlx::query(
            "UPDATE staff SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
        )
        .bind(step)
        .bind(staff_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(changed == 1)
    }

    /// What is stored for recovery codes (`totp::recovery_digest`): keyed, and bound to their
    /// owner, so a row copied to another member opens nothing.
    fn recovery_hashes(&self, staff_id: i64, digests: &[String]) -> StoreResult<Vec<String>> {
        let key = self.digest_key()?;
        let kind = kind::recovery_code(staff_id);
        Ok(digests.iter().map(|d| key.rekey(&kind, d)).collect())
    }

    /// Uses up one recovery code; false if it is unknown or already used.
    pub async fn use_recovery_code(&self, staff_id: i64, digest: &str) -> StoreResult<bool> {
        let hash = self
            .recovery_hashes(staff_id, &[digest.to_string()])?
            .remove(0);
        let changed = on_pool!(self, write pool => sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 WHERE staff_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(domain::now())
        .bind(staff_id)
        .bind(&hash)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(changed == 1)
    }

    /// Replaces every recovery code of a staff member.
    pub async fn replace_recovery_codes(
        &self,
        staff_id: i64,
        digests: &[String],
    ) -> StoreResult<()> {
        let hashes = self.recovery_hashes(staff_id, digests)?;
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM recovery_codes WHERE staff_id = $1")
                .bind(staff_id)
                .execute(&mut *tx)
                .await?;
            for hash in &hashes {
                sqlx::query("INSERT INTO recovery_codes (staff_id, code_hash) VALUES ($1, $2)")
                    .bind(staff_id)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn recovery_codes_left(&self, staff_id: i64) -> StoreResult<i64> {
        Ok(on_pool!(self, read pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE staff_id = $1 AND used_at IS NULL",
        )
        .bind(staff_id)
        .fetch_one(pool)
        .await)?)
    }

    /// Removes a member's second factor (an admin's reset for a lost phone): they set it up
    /// again at their next sign-in. Their sessions end.
    pub async fn reset_totp(&self, staff_id: i64) -> StoreResult<()> {
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE staff SET totp_sealed = NULL, totp_enabled_at = NULL WHERE id = $1")
                .bind(staff_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM recovery_codes WHERE staff_id = $1")
                .bind(staff_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM sessions WHERE staff_id = $1")
                .bind(staff_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The latest end of a lock-out among `keys`, if any is still running.
    pub async fn login_locked_until(&self, keys: &[&str]) -> StoreResult<Option<DateTime<Utc>>> {
        let now = domain::now();
        let mut latest: Option<DateTime<Utc>> = None;
        for key in keys {
            let until: Option<Option<DateTime<Utc>>> = on_pool!(self, read pool => sqlx::query_scalar(
                "SELECT locked_until FROM login_throttle WHERE key = $1",
            )
            .bind(key)
            .fetch_optional(pool)
            .await)?;
            if let Some(Some(until)) = until {
                if until > now && latest.is_none_or(|l| until > l) {
                    latest = Some(until);
                }
            }
        }
        Ok(latest)
    }

    /// Counts a failed sign-in against `key`. After `free` failures within the hour each further
    /// one locks the key for twice as long as the last (2 s, 4 s, ... up to 15 minutes).
    pub async fn record_login_failure(&self, key: &str, free: i64) -> StoreResult<i64> {
        let now = domain::now();
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let failures: i64 = sqlx::query_scalar(
                "INSERT INTO login_throttle (key, failures, last_failure) VALUES ($1, 1, $2) \
                 ON CONFLICT (key) DO UPDATE SET \
                   failures = CASE WHEN login_throttle.last_failure < $3 THEN 1 ELSE login_throttle.failures + 1 END, \
                   last_failure = $2 \
                 RETURNING failures",
            )
            .bind(key)
            .bind(now)
            .bind(now - THROTTLE_MEMORY)
            .fetch_one(&mut *tx)
            .await?;
            let over = failures - free;
            let locked_until = (over > 0).then(|| {
                let wait = 1i64
                    .checked_shl(over.min(20) as u32)
                    .unwrap_or(THROTTLE_MAX_WAIT_SECS)
                    .min(THROTTLE_MAX_WAIT_SECS);
                now + Duration::seconds(wait)
            });
            sqlx::query("UPDATE login_throttle SET locked_until = $1 WHERE key = $2")
                .bind(locked_until)
                .bind(key)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(failures)
        })
    }

    /// Forgets the failures of a key after a successful sign-in.
    pub async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        on_pool!(self, write pool => sqlx::query("DELETE FROM login_throttle WHERE key = $1")
            .bind(key)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Whether `actor` has acted from `ip` before, and whether it has any known source at all.
    pub async fn known_source(&self, actor: &str, ip: &str) -> StoreResult<(bool, bool)> {
        let (this, any): (i64, i64) = on_pool!(self, read pool => sqlx::query_as(
            "SELECT COUNT(CASE WHEN ip = $2 THEN 1 END), COUNT(*) FROM known_sources WHERE actor = $1",
        )
        .bind(actor)
        .bind(ip)
        .fetch_one(pool)
        .await)?;
        Ok((this > 0, any > 0))
    }

    pub async fn remember_source(&self, actor: &str, ip: &str) -> StoreResult<()> {
        on_pool!(self, write pool => sqlx::query(
            "INSERT INTO known_sources (actor, ip, first_seen) VALUES ($1, $2, $3) ON CONFLICT (actor, ip) DO NOTHING",
        )
        .bind(actor)
        .bind(ip)
        .bind(domain::now())
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Records that `actor` was shown (or exported) `addresses` subscriber addresses, and
    /// returns how many it has been shown since `since`, these included.
    pub async fn record_address_reads(
        &self,
        actor: &str,
        addresses: i64,
        since: DateTime<Utc>,
    ) -> StoreResult<i64> {
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO address_reads (actor, at, addresses) VALUES ($1, $2, $3)")
                .bind(actor)
                .bind(domain::now())
                .bind(addresses)
                .execute(&mut *tx)
                .await?;
            // Old rows are of no further use to the rule.
            sqlx::query("DELETE FROM address_reads WHERE at < $1")
                .bind(since)
                .execute(&mut *tx)
                .await?;
            let total: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(addresses), 0) AS BIGINT) FROM address_reads WHERE actor = $1 AND at >= $2",
            )
            .bind(actor)
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(total)
        })
    }

    /// Notifying posts created after `since`, for the tripwire's burst rule: in all, to
    /// `incident`, and the incidents whose first notifying post came after `since`; and
    /// whether a post to `incident` (`None`: a new one) would be its first notifying one.
    pub async fn recent_notifying_posts(
        &self,
        since: DateTime<Utc>,
        incident: Option<i64>,
    ) -> StoreResult<RecentPosts> {
        let (posts, to_incident, new_incidents, earlier): (i64, i64, i64, i64) = on_pool!(self, read pool => sqlx::query_as(
            "SELECT \
               (SELECT COUNT(*) FROM incident_updates WHERE deliver_notifications = $1 AND created_at > $2), \
               (SELECT COUNT(*) FROM incident_updates WHERE deliver_notifications = $1 AND created_at > $2 AND incident_id = $3), \
               (SELECT COUNT(*) FROM (SELECT incident_id FROM incident_updates WHERE deliver_notifications = $1 \
                  GROUP BY incident_id HAVING MIN(created_at) > $2) AS firsts), \
               (SELECT COUNT(*) FROM incident_updates WHERE deliver_notifications = $1 AND incident_id = $3)",
        )
        .bind(true)
        .bind(since)
        .bind(incident.unwrap_or(0))
        .fetch_one(pool)
        .await)?;
        Ok(RecentPosts {
            posts,
            to_incident,
            new_incidents,
            first_for_incident: incident.is_none() || earlier == 0,
        })
    }

    /// When an admin last resumed outbound: they vouched for every post before it, so the
    /// burst rule starts counting afresh there.
    pub async fn vouched_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let at: Option<Option<DateTime<Utc>>> = on_pool!(self, read pool => sqlx::query_scalar(
            "SELECT vouched_at FROM tripwire_vouch WHERE id = 1",
        )
        .fetch_optional(pool)
        .await)?;
        Ok(at.flatten())
    }

    /// Records a resume as the point up to which `by` vouched for what was posted.
    pub async fn record_vouch(&self, at: DateTime<Utc>, by: &str) -> StoreResult<()> {
        on_pool!(self, write pool => sqlx::query(
            "UPDATE tripwire_vouch SET vouched_at = $1, vouched_by = $2 WHERE id = 1",
        )
        .bind(at)
        .bind(by)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Every sealed value in the database, with the purpose it was sealed for.
    pub async fn sealed_values(&self) -> StoreResult<Vec<SealedValue>> {
        let mut out = Vec::new();
        let staff: Vec<(i64, String)> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT id, totp_sealed FROM staff WHERE totp_sealed IS NOT NULL",
        )
        .fetch_all(pool)
        .await)?;
        for (id, sealed) in staff {
            out.push(SealedValue {
                column: "staff.totp_sealed",
                key: id.to_string(),
                purpose: purpose::totp(id),
                sealed,
            });
        }
        let x: Option<(String, String)> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT token_sealed, secret_sealed FROM x_account WHERE id = 1",
        )
        .fetch_optional(pool)
        .await)?;
        if let Some((token, secret)) = x {
            out.push(SealedValue {
                column: "x_account.token_sealed",
                key: "1".into(),
                purpose: purpose::X_TOKEN.into(),
                sealed: token,
            });
            out.push(SealedValue {
                column: "x_account.secret_sealed",
                key: "1".into(),
                purpose: purpose::X_SECRET.into(),
                sealed: secret,
            });
        }
        let requests: Vec<(String, String)> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT token, secret_sealed FROM x_connect_requests",
        )
        .fetch_all(pool)
        .await)?;
        for (token, sealed) in requests {
            out.push(SealedValue {
                column: "x_connect_requests.secret_sealed",
                key: token,
                purpose: purpose::X_REQUEST.into(),
                sealed,
            });
        }
        // Re-sealed, never replaced: every stored hash and access stamp depends on it.
        let digest: Option<String> = on_pool!(self, read pool => sqlx::query_scalar(
            "SELECT key_sealed FROM digest_key WHERE id = 1",
        )
        .fetch_optional(pool)
        .await)?;
        if let Some(sealed) = digest {
            out.push(SealedValue {
                column: "digest_key.key_sealed",
                key: "1".into(),
                purpose: purpose::DIGEST_KEY.into(),
                sealed,
            });
        }
        Ok(out)
    }

    /// The check value of the cluster's master key, if one is recorded.
    pub async fn key_check(&self) -> StoreResult<Option<KeyCheck>> {
        let row: Option<(String, String)> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT key_id, check_value FROM key_check WHERE id = 1",
        )
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(|(key_id, check_value)| KeyCheck {
            key_id,
            check_value,
        }))
    }

    /// Records `check` unless a check is recorded already, and returns the one the database
    /// keeps: of two instances starting at once on a fresh database, the first one wins.
    pub async fn record_key_check(&self, check: &KeyCheck) -> StoreResult<KeyCheck> {
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO key_check (id, key_id, check_value, recorded_at) VALUES (1, $1, $2, $3) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&check.key_id)
            .bind(&check.check_value)
            .bind(domain::now())
            .execute(&mut *tx)
            .await?;
            let (key_id, check_value): (String, String) =
                sqlx::query_as("SELECT key_id, check_value FROM key_check WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await?;
            tx.commit().await?;
            Ok(KeyCheck { key_id, check_value })
        })
    }

    /// Secret rotation, in one transaction: writes the re-sealed values back, re-hashes the
    /// whole audit chain under the new key, re-stamps every stamped row whose stamp verifies
    /// under this store's (old) stamper (forged ones stay unsendable), and records the new
    /// key's check value, so an instance still on the old key refuses to start. Returns how
    /// many audit entries were re-hashed.
    pub async fn reseal(
        &self,
        values: &[SealedValue],
        chain: &Chain,
        stamper: &Stamper,
        key_check: &KeyCheck,
    ) -> StoreResult<i64> {
        let old = self.stamper();
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            // Taking the head first keeps appenders out until the new chain is in place.
            sqlx::query("UPDATE audit_head SET entries = entries WHERE id = 1")
                .execute(&mut *tx)
                .await?;
            for v in values {
                let sql = match v.column {
                    "staff.totp_sealed" => "UPDATE staff SET totp_sealed = $1 WHERE id = CAST($2 AS BIGINT)",
                    "x_account.token_sealed" => "UPDATE x_account SET token_sealed = $1 WHERE id = CAST($2 AS INTEGER)",
                    "x_account.secret_sealed" => "UPDATE x_account SET secret_sealed = $1 WHERE id = CAST($2 AS INTEGER)",
                    "x_connect_requests.secret_sealed" => "UPDATE x_connect_requests SET secret_sealed = $1 WHERE token = $2",
                    "digest_key.key_sealed" => "UPDATE digest_key SET key_sealed = $1 WHERE id = CAST($2 AS INTEGER)",
                    other => return Err(StoreError::Corrupt(format!("unknown sealed column {other}"))),
                };
                sqlx::query(sql).bind(&v.sealed).bind(&v.key).execute(&mut *tx).await?;
            }
            let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY id"))
                .fetch_all(&mut *tx)
                .await?;
            let count = rows.len() as i64;
            let mut prev = String::new();
            for row in rows {
                let mut entry = Entry::from(row);
                entry.prev_hash = prev;
                entry.hash = chain.hash(&entry);
                sqlx::query("UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE id = $3")
                    .bind(&entry.prev_hash)
                    .bind(&entry.hash)
                    .bind(entry.id)
                    .execute(&mut *tx)
                    .await?;
                prev = entry.hash;
            }
            sqlx::query("UPDATE audit_head SET last_hash = $1 WHERE id = 1")
                .bind(&prev)
                .execute(&mut *tx)
                .await?;
            super::stamps::restamp!(tx, old, stamper, false);
            sqlx::query(
                "INSERT INTO key_check (id, key_id, check_value, recorded_at) VALUES (1, $1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, \
                 check_value = excluded.check_value, recorded_at = excluded.recorded_at",
            )
            .bind(&key_check.key_id)
            .bind(&key_check.check_value)
            .bind(domain::now())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(count)
        })
    }
}
