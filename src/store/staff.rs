//! Staff accounts, enrolment links, sessions and API tokens. Secrets are stored as keyed
//! hashes only (`security::secret::DigestKey`), and the rows that grant access carry a stamp
//! over what they grant: a row written or edited straight in the database grants nothing.

use chrono::{DateTime, Duration, Utc};

use super::{on_constraint, on_pool, Store, StoreError, StoreResult};
use crate::domain::{self, Choice, Role, StaffEmail};
use crate::security::secret::{self, kind, DigestKey};

/// How long an enrolment link stays valid.
pub const ENROLMENT_TTL: Duration = Duration::hours(72);
/// A session ends after this long without a request...
pub const SESSION_IDLE: Duration = Duration::minutes(30);
/// ...and after this long in any case.
pub const SESSION_ABSOLUTE: Duration = Duration::hours(12);
/// A session waiting for its second factor lasts this long.
pub const PENDING_SESSION: Duration = Duration::minutes(10);

#[derive(Debug, Clone, PartialEq)]
pub struct Staff {
    pub id: i64,
    pub email: String,
    pub role: Role,
    /// Has set a password through the enrolment link.
    pub enrolled: bool,
    /// Has set up the authenticator app (TOTP).
    pub two_factor: bool,
    pub disabled: bool,
    /// The role before the last change and when it changed.
    pub previous_role: Option<Role>,
    pub role_changed_at: Option<DateTime<Utc>>,
}

/// A staff member just added, with the secret of their one-time enrolment link.
pub struct NewStaff {
    pub staff: Staff,
    pub enrolment_secret: String,
}

/// A live session and the staff member it belongs to.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id_hash: String,
    pub staff: Staff,
    pub csrf_token: String,
    pub last_seen_at: DateTime<Utc>,
    /// When the second factor was given; `None` while the session is only half open.
    pub mfa_at: Option<DateTime<Utc>>,
    /// The last time the owner gave a code again (sign-in counts).
    pub reauth_at: Option<DateTime<Utc>>,
}

/// One of a staff member's sessions, for the "where you are signed in" list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionSummary {
    pub id_hash: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub ip: String,
    pub user_agent: String,
}

/// An API token as listed for admins (never its secret).
#[derive(Debug, Clone)]
pub struct ApiTokenListing {
    pub info: ApiTokenInfo,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What a bearer secret found.
#[derive(Debug)]
pub enum Found<T> {
    /// A row Herald wrote for this secret.
    Genuine(T),
    /// No live row: unknown, expired, revoked, or its owner disabled.
    Nothing,
    /// A row for this secret whose stamp does not verify: what it grants was edited in the
    /// database. Says what was found, for the tripwire.
    Forged(String),
}

/// An API token narrowed or revoked because its maker was demoted or disabled.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenChange {
    pub id: i64,
    pub name: String,
    /// The role it had.
    pub from: String,
    /// The role it has now, or "revoked".
    pub to: String,
}

/// What an API token may do.
#[derive(Debug, Clone)]
pub struct ApiTokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

#[derive(sqlx::FromRow)]
struct StaffRow {
    id: i64,
    email: String,
    role: String,
    password_hash: Option<String>,
    totp_enabled_at: Option<DateTime<Utc>>,
    disabled_at: Option<DateTime<Utc>>,
    previous_role: Option<String>,
    role_changed_at: Option<DateTime<Utc>>,
}

/// The columns of `StaffRow`, from a table aliased `s`.
const STAFF_COLUMNS: &str = "s.id, s.email, s.role, s.password_hash, s.totp_enabled_at, \
     s.disabled_at, s.previous_role, s.role_changed_at";

impl StaffRow {
    fn into_staff(self) -> StoreResult<Staff> {
        Ok(Staff {
            id: self.id,
            role: Role::from_stored(&self.role).map_err(StoreError::Corrupt)?,
            email: self.email,
            enrolled: self.password_hash.is_some(),
            two_factor: self.totp_enabled_at.is_some(),
            disabled: self.disabled_at.is_some(),
            previous_role: self
                .previous_role
                .as_deref()
                .map(Role::from_stored)
                .transpose()
                .map_err(StoreError::Corrupt)?,
            role_changed_at: self.role_changed_at,
        })
    }
}

impl Store {
    pub async fn staff_count(&self) -> StoreResult<i64> {
        Ok(
            on_pool!(self, read pool => sqlx::query_scalar("SELECT COUNT(*) FROM staff").fetch_one(pool).await)?,
        )
    }

    /// Adds a staff member who sets their password through a one-time link.
    pub async fn add_staff(&self, email: &StaffEmail, role: Role) -> StoreResult<NewStaff> {
        let key = self.digest_key()?;
        let now = domain::now();
        let enrolment_secret = secret::generate("");
        let enrolment_hash = key.hash(kind::ENROLMENT, &enrolment_secret);
        let staff = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO staff (email, role, created_at) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(email.as_str())
            .bind(role.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| on_constraint(e, "staff_email_key", "a staff member with this email already exists"))?;
            sqlx::query("INSERT INTO enrolments (token_hash, staff_id, created_at, expires_at, stamp) VALUES ($1, $2, $3, $4, $5)")
                .bind(&enrolment_hash)
                .bind(id)
                .bind(now)
                .bind(now + ENROLMENT_TTL)
                .bind(key.enrolment_stamp(&enrolment_hash, id, &(now + ENROLMENT_TTL)))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Staff {
                id,
                email: email.as_str().to_string(),
                role,
                enrolled: false,
                two_factor: false,
                disabled: false,
                previous_role: None,
                role_changed_at: None,
            }
        });
        Ok(NewStaff {
            staff,
            enrolment_secret,
        })
    }

    /// The staff member an unexpired enrolment link belongs to.
    pub async fn staff_by_enrolment(&self, enrolment_secret: &str) -> StoreResult<Found<Staff>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            token_hash: String,
            expires_at: DateTime<Utc>,
            stamp: Option<String>,
            #[sqlx(flatten)]
            staff: StaffRow,
        }
        let key = self.digest_key()?;
        let row: Option<Row> = on_pool!(self, read pool => sqlx::query_as(&format!(
            "SELECT e.token_hash, e.expires_at, e.stamp, {STAFF_COLUMNS} FROM enrolments e JOIN staff s ON s.id = e.staff_id \
             WHERE e.token_hash = $1 AND e.expires_at > $2 AND s.disabled_at IS NULL",
        ))
        .bind(key.hash(kind::ENROLMENT, enrolment_secret))
        .bind(domain::now())
        .fetch_optional(pool)
        .await)?;
        let Some(row) = row else {
            return Ok(Found::Nothing);
        };
        let expected = key.enrolment_stamp(&row.token_hash, row.staff.id, &row.expires_at);
        if !DigestKey::verify(&expected, row.stamp.as_deref()) {
            return Ok(Found::Forged(format!(
                "an enrolment link for staff member {} ({}) that Herald did not issue",
                row.staff.id, row.staff.email
            )));
        }
        row.staff.into_staff().map(Found::Genuine)
    }

    /// Sets the password through an enrolment link and uses the link up.
    pub async fn complete_enrolment(
        &self,
        enrolment_secret: &str,
        password_hash: &str,
    ) -> StoreResult<Staff> {
        let Found::Genuine(staff) = self.staff_by_enrolment(enrolment_secret).await? else {
            return Err(StoreError::NotFound("enrolment link"));
        };
        let hash = self.digest_key()?.hash(kind::ENROLMENT, enrolment_secret);
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let used = sqlx::query("DELETE FROM enrolments WHERE token_hash = $1 AND expires_at > $2")
                .bind(&hash)
                .bind(domain::now())
                .execute(&mut *tx)
                .await?;
            if used.rows_affected() == 0 {
                return Err(StoreError::NotFound("enrolment link"));
            }
            sqlx::query("UPDATE staff SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(staff.id)
                .execute(&mut *tx)
                .await?;
            // A new password ends every existing session of this account.
            sqlx::query("DELETE FROM sessions WHERE staff_id = $1")
                .bind(staff.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(Staff {
            enrolled: true,
            ..staff
        })
    }

    /// The staff member with this email and their password hash, disabled or not (a disabled
    /// account's sign-in is refused by the caller, and trips the wire).
    pub async fn staff_for_login(
        &self,
        email: &str,
    ) -> StoreResult<Option<(Staff, Option<String>)>> {
        let row: Option<StaffRow> = on_pool!(self, read pool => sqlx::query_as(&format!(
            "SELECT {STAFF_COLUMNS} FROM staff s WHERE s.email = $1",
        ))
        .bind(email.trim().to_lowercase())
        .fetch_optional(pool)
        .await)?;
        match row {
            None => Ok(None),
            Some(row) => {
                let hash = row.password_hash.clone();
                Ok(Some((row.into_staff()?, hash)))
            }
        }
    }

    /// Starts a half-open session after the password, replacing `previous` (rotation on
    /// login). It opens fully with `complete_mfa`. Returns the cookie secret.
    pub async fn create_session(
        &self,
        staff_id: i64,
        previous: Option<&str>,
        ip: &str,
        user_agent: &str,
    ) -> StoreResult<String> {
        let key = self.digest_key()?;
        let now = domain::now();
        let session_secret = secret::generate("");
        let id_hash = key.hash(kind::SESSION, &session_secret);
        let csrf = secret::generate("");
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            if let Some(previous) = previous {
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                    .bind(key.hash(kind::SESSION, previous))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
                .bind(now)
                .bind(now - SESSION_IDLE)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO sessions (id_hash, staff_id, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent, stamp) \
                 VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)",
            )
            .bind(&id_hash)
            .bind(staff_id)
            .bind(&csrf)
            .bind(now)
            .bind(now + PENDING_SESSION)
            .bind(ip)
            .bind(user_agent.chars().take(300).collect::<String>())
            .bind(key.session_stamp(&id_hash, staff_id, None))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(session_secret)
    }

    /// The stored form of a session cookie's secret.
    pub fn session_id_hash(&self, session_secret: &str) -> StoreResult<String> {
        Ok(self.digest_key()?.hash(kind::SESSION, session_secret))
    }

    /// Opens a half-open session fully after the second factor, under a new id (rotation), and
    /// returns the new cookie secret.
    pub async fn complete_mfa(&self, id_hash: &str) -> StoreResult<String> {
        let key = self.digest_key()?;
        let now = domain::now();
        let session_secret = secret::generate("");
        let new_hash = key.hash(kind::SESSION, &session_secret);
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            #[allow(clippy::type_complexity)]
            let old: Option<(i64, String, String, Option<DateTime<Utc>>, Option<String>)> = sqlx::query_as(
                "SELECT staff_id, ip, user_agent, mfa_at, stamp FROM sessions WHERE id_hash = $1 AND expires_at > $2",
            )
            .bind(id_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            // Only a session Herald opened moves on: an edited one would come out genuine.
            let Some((staff_id, ip, user_agent, _, _)) = old.filter(|(staff_id, _, _, mfa_at, stamp)| {
                DigestKey::verify(&key.session_stamp(id_hash, *staff_id, mfa_at.as_ref()), stamp.as_deref())
            }) else {
                return Err(StoreError::NotFound("session"));
            };
            sqlx::query(
                "INSERT INTO sessions (id_hash, staff_id, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent, mfa_at, reauth_at, stamp, reauth_stamp) \
                 VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $4, $4, $8, $9)",
            )
            .bind(&new_hash)
            .bind(staff_id)
            .bind(secret::generate(""))
            .bind(now)
            .bind(now + SESSION_ABSOLUTE)
            .bind(&ip)
            .bind(&user_agent)
            .bind(key.session_stamp(&new_hash, staff_id, Some(&now)))
            .bind(key.reauth_stamp(&new_hash, &now))
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(session_secret)
    }

    /// Records that the session's owner just gave their code again.
    pub async fn mark_reauthenticated(&self, id_hash: &str) -> StoreResult<()> {
        let now = domain::now();
        let stamp = self.digest_key()?.reauth_stamp(id_hash, &now);
        on_pool!(self, write pool => sqlx::query("UPDATE sessions SET reauth_at = $1, reauth_stamp = $2 WHERE id_hash = $3")
            .bind(now)
            .bind(stamp)
            .bind(id_hash)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The live session for a cookie secret: not expired, not idle too long, account enabled,
    /// and still whose and as far open as Herald wrote it.
    pub async fn session(&self, session_secret: &str) -> StoreResult<Found<SessionInfo>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id_hash: String,
            csrf_token: String,
            last_seen_at: DateTime<Utc>,
            mfa_at: Option<DateTime<Utc>>,
            reauth_at: Option<DateTime<Utc>>,
            stamp: Option<String>,
            reauth_stamp: Option<String>,
            #[sqlx(flatten)]
            staff: StaffRow,
        }
        let key = self.digest_key()?;
        let now = domain::now();
        let row: Option<Row> = on_pool!(self, read pool => sqlx::query_as(&format!(
            "SELECT se.id_hash, se.csrf_token, se.last_seen_at, se.mfa_at, se.reauth_at, se.stamp, se.reauth_stamp, {STAFF_COLUMNS} \
             FROM sessions se JOIN staff s ON s.id = se.staff_id \
             WHERE se.id_hash = $1 AND se.expires_at > $2 AND se.last_seen_at > $3 AND s.disabled_at IS NULL",
        ))
        .bind(key.hash(kind::SESSION, session_secret))
        .bind(now)
        .bind(now - SESSION_IDLE)
        .fetch_optional(pool)
        .await)?;
        let Some(r) = row else {
            return Ok(Found::Nothing);
        };
        let genuine = DigestKey::verify(
            &key.session_stamp(&r.id_hash, r.staff.id, r.mfa_at.as_ref()),
            r.stamp.as_deref(),
        );
        let reauth_genuine = r.reauth_at.is_none_or(|at| {
            DigestKey::verify(
                &key.reauth_stamp(&r.id_hash, &at),
                r.reauth_stamp.as_deref(),
            )
        });
        if !genuine || !reauth_genuine {
            return Ok(Found::Forged(format!(
                "a session of staff member {} ({}) whose owner or second factor was edited in the database",
                r.staff.id, r.staff.email
            )));
        }
        Ok(Found::Genuine(SessionInfo {
            id_hash: r.id_hash,
            staff: r.staff.into_staff()?,
            csrf_token: r.csrf_token,
            last_seen_at: r.last_seen_at,
            mfa_at: r.mfa_at,
            reauth_at: r.reauth_at,
        }))
    }

    /// Records activity on a session, keeping it from idling out.
    pub async fn touch_session(&self, id_hash: &str) -> StoreResult<()> {
        on_pool!(self, write pool => sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(domain::now())
            .bind(id_hash)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    pub async fn end_session(&self, id_hash: &str) -> StoreResult<()> {
        on_pool!(self, write pool => sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Ends every session of one staff member ("sign out everywhere"). Returns how many.
    pub async fn end_all_sessions(&self, staff_id: i64) -> StoreResult<u64> {
        Ok(
            on_pool!(self, write pool => sqlx::query("DELETE FROM sessions WHERE staff_id = $1")
            .bind(staff_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?,
        )
    }

    /// A staff member's open sessions, newest activity first.
    pub async fn staff_sessions(&self, staff_id: i64) -> StoreResult<Vec<SessionSummary>> {
        let now = domain::now();
        Ok(on_pool!(self, read pool => sqlx::query_as(
            "SELECT id_hash, created_at, last_seen_at, ip, user_agent FROM sessions \
             WHERE staff_id = $1 AND expires_at > $2 AND last_seen_at > $3 AND mfa_at IS NOT NULL \
             ORDER BY last_seen_at DESC",
        )
        .bind(staff_id)
        .bind(now)
        .bind(now - SESSION_IDLE)
        .fetch_all(pool)
        .await)?)
    }

    /// One staff member by id, disabled or not.
    pub async fn staff_member(&self, id: i64) -> StoreResult<Staff> {
        let row: Option<StaffRow> = on_pool!(self, read pool => sqlx::query_as(&format!(
            "SELECT {STAFF_COLUMNS} FROM staff s WHERE s.id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        row.ok_or(StoreError::NotFound("staff member"))?
            .into_staff()
    }

    /// Every staff member, by email.
    pub async fn staff_list(&self) -> StoreResult<Vec<Staff>> {
        let rows: Vec<StaffRow> = on_pool!(self, read pool => sqlx::query_as(&format!(
            "SELECT {STAFF_COLUMNS} FROM staff s ORDER BY s.email"
        ))
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(StaffRow::into_staff).collect()
    }

    /// Changes a role. The member's sessions end, so their next sign-in carries the new role,
    /// and the API tokens they made are narrowed to it (an edited token row is revoked instead:
    /// it is never re-stamped as genuine); the last enabled admin cannot be demoted.
    pub async fn set_staff_role(
        &self,
        id: i64,
        role: Role,
    ) -> StoreResult<(Staff, Vec<TokenChange>)> {
        let key = self.digest_key()?;
        let before = self.staff_member(id).await?;
        if before.role == role {
            return Ok((before, Vec::new()));
        }
        let now = domain::now();
        let changes = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE staff SET role = $1, previous_role = role, role_changed_at = $2 WHERE id = $3")
                .bind(role.as_str())
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM staff WHERE role = 'admin' AND disabled_at IS NULL")
                .fetch_one(&mut *tx)
                .await?;
            if admins == 0 {
                return Err(StoreError::Conflict("Herald needs at least one enabled admin; promote another first".into()));
            }
            sqlx::query("DELETE FROM sessions WHERE staff_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let tokens: Vec<(i64, String, String, String, Option<String>)> = sqlx::query_as(
                "SELECT id, name, token_hash, role, stamp FROM api_tokens \
                 WHERE created_by_staff = $1 AND revoked_at IS NULL ORDER BY id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            let mut changes = Vec::new();
            for (token_id, name, hash, stored, stamp) in tokens {
                let genuine = DigestKey::verify(&key.token_stamp(&hash, &stored, Some(id), None), stamp.as_deref());
                let to = if !genuine {
                    sqlx::query("UPDATE api_tokens SET revoked_at = $1, stamp = $2 WHERE id = $3")
                        .bind(now)
                        .bind(key.token_stamp(&hash, &stored, Some(id), Some(&now)))
                        .bind(token_id)
                        .execute(&mut *tx)
                        .await?;
                    "revoked"
                } else if Role::from_stored(&stored).map_or(true, |r| r > role) {
                    sqlx::query("UPDATE api_tokens SET role = $1, stamp = $2 WHERE id = $3")
                        .bind(role.as_str())
                        .bind(key.token_stamp(&hash, role.as_str(), Some(id), None))
                        .bind(token_id)
                        .execute(&mut *tx)
                        .await?;
                    role.as_str()
                } else {
                    continue;
                };
                changes.push(TokenChange { id: token_id, name, from: stored, to: to.to_string() });
            }
            tx.commit().await?;
            changes
        });
        Ok((self.staff_member(id).await?, changes))
    }

    /// Disables an account: it cannot sign in, its sessions end at once, and the API tokens it
    /// made are revoked.
    pub async fn disable_staff(&self, id: i64) -> StoreResult<(Staff, Vec<TokenChange>)> {
        let key = self.digest_key()?;
        let now = domain::now();
        let changes = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query("UPDATE staff SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if changed.rows_affected() == 0 {
                return Err(StoreError::NotFound("enabled staff member"));
            }
            let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM staff WHERE role = 'admin' AND disabled_at IS NULL")
                .fetch_one(&mut *tx)
                .await?;
            if admins == 0 {
                return Err(StoreError::Conflict("Herald needs at least one enabled admin; promote another first".into()));
            }
            sqlx::query("DELETE FROM sessions WHERE staff_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let tokens: Vec<(i64, String, String, String)> = sqlx::query_as(
                "SELECT id, name, token_hash, role FROM api_tokens \
                 WHERE created_by_staff = $1 AND revoked_at IS NULL ORDER BY id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            let mut changes = Vec::new();
            for (token_id, name, hash, stored) in tokens {
                sqlx::query("UPDATE api_tokens SET revoked_at = $1, stamp = $2 WHERE id = $3")
                    .bind(now)
                    .bind(key.token_stamp(&hash, &stored, Some(id), Some(&now)))
                    .bind(token_id)
                    .execute(&mut *tx)
                    .await?;
                changes.push(TokenChange { id: token_id, name, from: stored, to: "revoked".into() });
            }
            tx.commit().await?;
            changes
        });
        Ok((self.staff_member(id).await?, changes))
    }

    /// Creates an API token that no staff member made (the command line, set-up scripts) and
    /// returns its secret, which is never stored.
    pub async fn create_api_token(
        &self,
        name: &str,
        role: Role,
        created_by: &str,
    ) -> StoreResult<(ApiTokenInfo, String)> {
        self.insert_api_token(name, role, created_by, None).await
    }

    /// Creates an API token made by staff member `staff_id` (`created_by` names them): it
    /// never has more than its maker's current role, and stops when they are disabled.
    pub async fn create_staff_api_token(
        &self,
        name: &str,
        role: Role,
        staff_id: i64,
        created_by: &str,
    ) -> StoreResult<(ApiTokenInfo, String)> {
        self.insert_api_token(name, role, created_by, Some(staff_id))
            .await
    }

    async fn insert_api_token(
        &self,
        name: &str,
        role: Role,
        created_by: &str,
        maker: Option<i64>,
    ) -> StoreResult<(ApiTokenInfo, String)> {
        let key = self.digest_key()?;
        let token = secret::generate("hrld_");
        let hash = key.hash(kind::API_TOKEN, &token);
        let id: i64 = on_pool!(self, write pool => sqlx::query_scalar(
            "INSERT INTO api_tokens (name, role, token_hash, created_at, created_by, created_by_staff, stamp) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(&hash)
        .bind(domain::now())
        .bind(created_by)
        .bind(maker)
        .bind(key.token_stamp(&hash, role.as_str(), maker, None))
        .fetch_one(pool)
        .await)
        .map_err(|e| on_constraint(e, "api_tokens_hash_key", "token collision; try again"))?;
        Ok((
            ApiTokenInfo {
                id,
                name: name.to_string(),
                role,
            },
            token,
        ))
    }

    /// The unrevoked token with this secret, with no more than its maker's current role (none
    /// if its maker is disabled); records its use.
    pub async fn use_api_token(&self, token: &str, ip: &str) -> StoreResult<Found<ApiTokenInfo>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: i64,
            name: String,
            role: String,
            token_hash: String,
            created_by_staff: Option<i64>,
            revoked_at: Option<DateTime<Utc>>,
            stamp: Option<String>,
            maker_role: Option<String>,
            maker_disabled_at: Option<DateTime<Utc>>,
        }
        let key = self.digest_key()?;
        let row: Option<Row> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT t.id, t.name, t.role, t.token_hash, t.created_by_staff, t.revoked_at, t.stamp, \
                    s.role AS maker_role, s.disabled_at AS maker_disabled_at \
             FROM api_tokens t LEFT JOIN staff s ON s.id = t.created_by_staff WHERE t.token_hash = $1",
        )
        .bind(key.hash(kind::API_TOKEN, token))
        .fetch_optional(pool)
        .await)?;
        let Some(r) = row else {
            return Ok(Found::Nothing);
        };
        let expected = key.token_stamp(
            &r.token_hash,
            &r.role,
            r.created_by_staff,
            r.revoked_at.as_ref(),
        );
        if !DigestKey::verify(&expected, r.stamp.as_deref()) {
            return Ok(Found::Forged(format!(
                "API token {} (\"{}\") whose role, maker or revocation was edited in the database",
                r.id, r.name
            )));
        }
        if r.revoked_at.is_some() {
            return Ok(Found::Nothing);
        }
        let mut role = Role::from_stored(&r.role).map_err(StoreError::Corrupt)?;
        if r.created_by_staff.is_some() {
            // A token never outlives or outranks the member who made it.
            let maker = match (&r.maker_role, r.maker_disabled_at) {
                (Some(maker), None) => Role::from_stored(maker).map_err(StoreError::Corrupt)?,
                _ => return Ok(Found::Nothing),
            };
            role = role.min(maker);
        }
        on_pool!(self, write pool => sqlx::query(
            "UPDATE api_tokens SET last_used_at = $1, last_used_ip = $2 WHERE id = $3",
        )
        .bind(domain::now())
        .bind(ip)
        .bind(r.id)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(Found::Genuine(ApiTokenInfo {
            id: r.id,
            name: r.name,
            role,
        }))
    }

    /// Every API token, newest first, revoked ones included.
    pub async fn api_tokens(&self) -> StoreResult<Vec<ApiTokenListing>> {
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            i64,
            String,
            String,
            DateTime<Utc>,
            String,
            Option<DateTime<Utc>>,
            Option<String>,
            Option<DateTime<Utc>>,
        )> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT id, name, role, created_at, created_by, last_used_at, last_used_ip, revoked_at \
             FROM api_tokens ORDER BY id DESC",
        )
        .fetch_all(pool)
        .await)?;
        rows.into_iter()
            .map(
                |(
                    id,
                    name,
                    role,
                    created_at,
                    created_by,
                    last_used_at,
                    last_used_ip,
                    revoked_at,
                )| {
                    Ok(ApiTokenListing {
                        info: ApiTokenInfo {
                            id,
                            name,
                            role: Role::from_stored(&role).map_err(StoreError::Corrupt)?,
                        },
                        created_at,
                        created_by,
                        last_used_at,
                        last_used_ip,
                        revoked_at,
                    })
                },
            )
            .collect()
    }

    /// Revokes a token at once; it answers 401 from the next request on.
    pub async fn revoke_api_token(&self, id: i64) -> StoreResult<ApiTokenInfo> {
        let key = self.digest_key()?;
        let now = domain::now();
        let (name, role) = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let row: Option<(String, String, String, Option<i64>)> = sqlx::query_as(
                "SELECT name, role, token_hash, created_by_staff FROM api_tokens WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let (name, role, hash, maker) = row.ok_or(StoreError::NotFound("unrevoked API token"))?;
            sqlx::query("UPDATE api_tokens SET revoked_at = $1, stamp = $2 WHERE id = $3")
                .bind(now)
                .bind(key.token_stamp(&hash, &role, maker, Some(&now)))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            (name, role)
        });
        Ok(ApiTokenInfo {
            id,
            name,
            role: Role::from_stored(&role).map_err(StoreError::Corrupt)?,
        })
    }
}
