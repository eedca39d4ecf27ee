//! The digest key's row (sealed under the master key) and the one-time upgrade that re-keys
//! the unkeyed SHA-256 hashes Herald stored before: existing tokens, sessions, enrolment links
//! and recovery codes keep working, and from then on a hash written without the key matches
//! nothing.

use chrono::{DateTime, Utc};

use super::{on_pool, Store, StoreError, StoreResult};
use crate::domain;
use crate::security::seal::{purpose, Sealer};
use crate::security::secret::{kind, DigestKey, KEYED_PREFIX};

/// How many rows the one-time upgrade re-keyed, for the audit log.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct KeyedUpgrade {
    pub api_tokens: usize,
    pub sessions: usize,
    pub enrolments: usize,
    pub recovery_codes: usize,
}

impl KeyedUpgrade {
    /// Whether there was anything to re-key (a new database has nothing).
    pub fn is_empty(&self) -> bool {
        self.api_tokens + self.sessions + self.enrolments + self.recovery_codes == 0
    }
}

impl Store {
    /// The database's digest key, opened with `sealer`. The first start makes one and, in the
    /// same transaction, re-keys every unkeyed hash (returned as `Some`); later starts, and
    /// other instances racing the first, read the key it stored.
    pub async fn load_digest_key(
        &self,
        sealer: &Sealer,
    ) -> anyhow::Result<(DigestKey, Option<KeyedUpgrade>)> {
        if let Some(key) = self.stored_digest_key(sealer).await? {
            return Ok((key, None));
        }
        let key = DigestKey::generate();
        let sealed = sealer.seal(purpose::DIGEST_KEY, &key.to_text())?;
        match self.create_digest_key(&key, &sealed).await? {
            Some(upgrade) => Ok((key, Some(upgrade))),
            None => {
                let stored = self.stored_digest_key(sealer).await?;
                let key = stored.ok_or_else(|| {
                    anyhow::anyhow!("the digest key vanished while Herald was starting")
                })?;
                Ok((key, None))
            }
        }
    }

    async fn stored_digest_key(&self, sealer: &Sealer) -> anyhow::Result<Option<DigestKey>> {
        let sealed: Option<String> = on_pool!(self, write pool => sqlx::query_scalar(
            "SELECT key_sealed FROM digest_key WHERE id = 1",
        )
        .fetch_optional(pool)
        .await)?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let text = sealer.open(purpose::DIGEST_KEY, &sealed).map_err(|_| {
            anyhow::anyhow!(
                "the digest key stored in the database does not open with this secret key: \
                 start Herald with the key file the database was set up with \
                 (HERALD_SECRET_KEY_FILE or secret.key in HERALD_DATA_DIR)"
            )
        })?;
        DigestKey::from_text(&text)
            .map(Some)
            .ok_or_else(|| anyhow::anyhow!("the digest key stored in the database is damaged"))
    }

    /// Stores a new key and re-keys the old hashes, or returns `None` if a key already exists.
    async fn create_digest_key(
        &self,
        key: &DigestKey,
        sealed: &str,
    ) -> StoreResult<Option<KeyedUpgrade>> {
        let keyed = format!("{KEYED_PREFIX}%");
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO digest_key (id, key_sealed, created_at) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(sealed)
            .bind(domain::now())
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            // Keyed hashes without a key: the key's row was removed, perhaps so that rows of
            // unkeyed hashes planted since would be re-keyed here and start to work.
            let already: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM api_tokens WHERE token_hash LIKE $1) \
                 + (SELECT COUNT(*) FROM sessions WHERE id_hash LIKE $1) \
                 + (SELECT COUNT(*) FROM enrolments WHERE token_hash LIKE $1) \
                 + (SELECT COUNT(*) FROM recovery_codes WHERE code_hash LIKE $1)",
            )
            .bind(&keyed)
            .fetch_one(&mut *tx)
            .await?;
            if already > 0 {
                return Err(StoreError::Corrupt(format!(
                    "{already} stored hashes are keyed, but the database holds no digest key: \
                     its row (table digest_key) was removed. Restore it from a backup; Herald \
                     will not re-key hashes it cannot vouch for"
                )));
            }
            let mut upgrade = KeyedUpgrade::default();

            #[allow(clippy::type_complexity)]
            let tokens: Vec<(i64, String, String, Option<i64>, Option<DateTime<Utc>>)> = sqlx::query_as(
                "SELECT id, token_hash, role, created_by_staff, revoked_at FROM api_tokens \
                 WHERE token_hash NOT LIKE $1",
            )
            .bind(&keyed)
            .fetch_all(&mut *tx)
            .await?;
            for (id, old, role, creator, revoked_at) in tokens {
                let hash = key.rekey(kind::API_TOKEN, &old);
                let stamp = key.token_stamp(&hash, &role, creator, revoked_at.as_ref());
                sqlx::query("UPDATE api_tokens SET token_hash = $1, stamp = $2 WHERE id = $3")
                    .bind(&hash)
                    .bind(&stamp)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                upgrade.api_tokens += 1;
            }

            #[allow(clippy::type_complexity)]
            let sessions: Vec<(String, i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>)> = sqlx::query_as(
                "SELECT id_hash, staff_id, mfa_at, reauth_at FROM sessions WHERE id_hash NOT LIKE $1",
            )
            .bind(&keyed)
            .fetch_all(&mut *tx)
            .await?;
            for (old, staff_id, mfa_at, reauth_at) in sessions {
                let hash = key.rekey(kind::SESSION, &old);
                sqlx::query(
                    "UPDATE sessions SET id_hash = $1, stamp = $2, reauth_stamp = $3 WHERE id_hash = $4",
                )
                .bind(&hash)
                .bind(key.session_stamp(&hash, staff_id, mfa_at.as_ref()))
                .bind(reauth_at.map(|at| key.reauth_stamp(&hash, &at)))
                .bind(&old)
                .execute(&mut *tx)
                .await?;
                upgrade.sessions += 1;
            }

            let enrolments: Vec<(String, i64, DateTime<Utc>)> = sqlx::query_as(
                "SELECT token_hash, staff_id, expires_at FROM enrolments WHERE token_hash NOT LIKE $1",
            )
            .bind(&keyed)
            .fetch_all(&mut *tx)
            .await?;
            for (old, staff_id, expires_at) in enrolments {
                let hash = key.rekey(kind::ENROLMENT, &old);
                sqlx::query("UPDATE enrolments SET token_hash = $1, stamp = $2 WHERE token_hash = $3")
                    .bind(&hash)
                    .bind(key.enrolment_stamp(&hash, staff_id, &expires_at))
                    .bind(&old)
                    .execute(&mut *tx)
                    .await?;
                upgrade.enrolments += 1;
            }

            let codes: Vec<(i64, String)> = sqlx::query_as(
                "SELECT staff_id, code_hash FROM recovery_codes WHERE code_hash NOT LIKE $1",
            )
            .bind(&keyed)
            .fetch_all(&mut *tx)
            .await?;
            for (staff_id, old) in codes {
                sqlx::query(
                    "UPDATE recovery_codes SET code_hash = $1 WHERE staff_id = $2 AND code_hash = $3",
                )
                .bind(key.rekey(&kind::recovery_code(staff_id), &old))
                .bind(staff_id)
                .bind(&old)
                .execute(&mut *tx)
                .await?;
                upgrade.recovery_codes += 1;
            }
            tx.commit().await?;
            Ok(Some(upgrade))
        })
    }
}
