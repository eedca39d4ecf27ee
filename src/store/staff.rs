//! Staff accounts, enrolment links, sessions and API tokens. Secrets are stored as hashes only.

use chrono::{DateTime, Duration, Utc};

use super::{on_constraint, on_pool, Store, StoreError, StoreResult};
use crate::domain::{self, Choice, Role, StaffEmail};
use crate::security::secret;

/// How long an enrolment link stays valid.
pub const ENROLMENT_TTL: Duration = Duration::hours(72);
/// A session ends after this long without a request...
pub const SESSION_IDLE: Duration = Duration::minutes(30);
/// ...and after this long in any case.
pub const SESSION_ABSOLUTE: Duration = Duration::hours(12);

#[derive(Debug, Clone, PartialEq)]
pub struct Staff {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub enrolled: bool,
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
}

impl StaffRow {
    fn into_staff(self) -> StoreResult<Staff> {
        Ok(Staff {
            id: self.id,
            role: Role::from_stored(&self.role).map_err(StoreError::Corrupt)?,
            email: self.email,
            enrolled: self.password_hash.is_some(),
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
        let now = domain::now();
        let enrolment_secret = secret::generate("");
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
            sqlx::query("INSERT INTO enrolments (token_hash, staff_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(secret::digest(&enrolment_secret))
                .bind(id)
                .bind(now)
                .bind(now + ENROLMENT_TTL)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Staff { id, email: email.as_str().to_string(), role, enrolled: false }
        });
        Ok(NewStaff {
            staff,
            enrolment_secret,
        })
    }

    /// The staff member an unexpired enrolment link belongs to.
    pub async fn staff_by_enrolment(&self, enrolment_secret: &str) -> StoreResult<Staff> {
        let row: Option<StaffRow> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT s.id, s.email, s.role, s.password_hash FROM enrolments e JOIN staff s ON s.id = e.staff_id \
             WHERE e.token_hash = $1 AND e.expires_at > $2 AND s.disabled_at IS NULL",
        )
        .bind(secret::digest(enrolment_secret))
        .bind(domain::now())
        .fetch_optional(pool)
        .await)?;
        row.ok_or(StoreError::NotFound("enrolment link"))?
            .into_staff()
    }

    /// Sets the password through an enrolment link and uses the link up.
    pub async fn complete_enrolment(
        &self,
        enrolment_secret: &str,
        password_hash: &str,
    ) -> StoreResult<Staff> {
        let staff = self.staff_by_enrolment(enrolment_secret).await?;
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let used = sqlx::query("DELETE FROM enrolments WHERE token_hash = $1 AND expires_at > $2")
                .bind(secret::digest(enrolment_secret))
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

    /// The staff member with this email and their password hash, if enabled.
    pub async fn staff_for_login(
        &self,
        email: &str,
    ) -> StoreResult<Option<(Staff, Option<String>)>> {
        let row: Option<StaffRow> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT id, email, role, password_hash FROM staff WHERE email = $1 AND disabled_at IS NULL",
        )
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

    /// Starts a session, replacing `previous` (rotation on login). Returns the cookie secret.
    pub async fn create_session(
        &self,
        staff_id: i64,
        previous: Option<&str>,
        ip: &str,
        user_agent: &str,
    ) -> StoreResult<(String, String)> {
        let now = domain::now();
        let session_secret = secret::generate("");
        let csrf = secret::generate("");
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            if let Some(previous) = previous {
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                    .bind(secret::digest(previous))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
                .bind(now)
                .bind(now - SESSION_IDLE)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO sessions (id_hash, staff_id, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent) \
                 VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
            )
            .bind(secret::digest(&session_secret))
            .bind(staff_id)
            .bind(&csrf)
            .bind(now)
            .bind(now + SESSION_ABSOLUTE)
            .bind(ip)
            .bind(user_agent.chars().take(300).collect::<String>())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok((session_secret, csrf))
    }

    /// The live session for a cookie secret: not expired, not idle too long, account enabled.
    pub async fn session(&self, session_secret: &str) -> StoreResult<Option<SessionInfo>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id_hash: String,
            csrf_token: String,
            last_seen_at: DateTime<Utc>,
            id: i64,
            email: String,
            role: String,
            password_hash: Option<String>,
        }
        let now = domain::now();
        let row: Option<Row> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT se.id_hash, se.csrf_token, se.last_seen_at, s.id, s.email, s.role, s.password_hash \
             FROM sessions se JOIN staff s ON s.id = se.staff_id \
             WHERE se.id_hash = $1 AND se.expires_at > $2 AND se.last_seen_at > $3 AND s.disabled_at IS NULL",
        )
        .bind(secret::digest(session_secret))
        .bind(now)
        .bind(now - SESSION_IDLE)
        .fetch_optional(pool)
        .await)?;
        row.map(|r| {
            let staff = StaffRow {
                id: r.id,
                email: r.email,
                role: r.role,
                password_hash: r.password_hash,
            }
            .into_staff()?;
            Ok(SessionInfo {
                id_hash: r.id_hash,
                staff,
                csrf_token: r.csrf_token,
                last_seen_at: r.last_seen_at,
            })
        })
        .transpose()
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

    /// Creates an API token and returns its secret, which is never stored.
    pub async fn create_api_token(
        &self,
        name: &str,
        role: Role,
    ) -> StoreResult<(ApiTokenInfo, String)> {
        let token = secret::generate("hrld_");
        let id: i64 = on_pool!(self, write pool => sqlx::query_scalar(
            "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(secret::digest(&token))
        .bind(domain::now())
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

    /// The unrevoked token with this secret; records its use.
    pub async fn use_api_token(&self, token: &str, ip: &str) -> StoreResult<Option<ApiTokenInfo>> {
        let row: Option<(i64, String, String)> = on_pool!(self, write pool => sqlx::query_as(
            "UPDATE api_tokens SET last_used_at = $1, last_used_ip = $2 \
             WHERE token_hash = $3 AND revoked_at IS NULL RETURNING id, name, role",
        )
        .bind(domain::now())
        .bind(ip)
        .bind(secret::digest(token))
        .fetch_optional(pool)
        .await)?;
        row.map(|(id, name, role)| {
            Ok(ApiTokenInfo {
                id,
                name,
                role: Role::from_stored(&role).map_err(StoreError::Corrupt)?,
            })
        })
        .transpose()
    }
}
