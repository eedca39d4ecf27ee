//! The only place that speaks SQL. One `Store` over SQLite (the embedded default) or PostgreSQL,
//! chosen by the URL scheme. Every public method is one transaction.
//!
//! Both backends run the same SQL text (`$1` placeholders, `RETURNING`, `ON CONFLICT`), through
//! typed pools rather than sqlx's `Any` driver, which cannot decode timestamps. The `on_pool!`
//! macro writes each method body once and type-checks it against both pools.

mod audit;
mod branding;
mod breach;
mod digest;
mod edits;
mod events;
mod groups;
mod hooks;
mod incidents;
mod maintenance;
mod notify;
mod postmortems;
mod rows;
mod security;
mod staff;
mod stamps;
mod templates;
mod uptime;
mod x;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::domain::Invalid;

pub use audit::{AuditEvent, AuditFilter, AuditHead};
pub use branding::StoredBranding;
pub use breach::{Breach, ChannelReach};
pub use digest::KeyedUpgrade;
pub use edits::{
    DeletedIncident, DeletedUpdate, IncidentEdited, IncidentFields, UpdateEdited, UpdateFields,
};
pub use events::{Change, ChangeListener, PagesMarker, EVENTS_CHANNEL};
pub use groups::{group_id_for, ComponentGroup, GroupChange};
pub use hooks::{Disabled, HookRow, NewHook};
pub use incidents::Published;
pub use maintenance::{Reminder, Replan, Rescheduled};
pub use notify::{
    channel, ChannelHold, ClaimedDelivery, DeliveryCounts, DeliveryOutcome, FanoutChunk,
    OutboundState, SignUp, Subscriber, CONFIRM_RESEND_AFTER,
};
pub use security::{RecentPosts, SealedValue};
pub use staff::{
    ApiTokenInfo, ApiTokenListing, Found, NewStaff, SessionInfo, SessionSummary, Staff,
    TokenChange, SESSION_ABSOLUTE,
};
pub use stamps::ADOPTED as STAMPS_ADOPTED;
pub use uptime::StatusHistory;
pub use x::{XAccount, CONNECT_REQUEST_TTL};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
enum Pool {
    /// SQLite allows one writer at a time; a one-connection write pool queues writers in
    /// Herald instead of failing them with SQLITE_BUSY.
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
    },
    Postgres(PgPool),
}

/// Runs one body against whichever pool the store holds (`read` or `write` side).
macro_rules! on_pool {
    ($store:expr, read $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite { read: $pool, .. } => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
    ($store:expr, write $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite { write: $pool, .. } => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// How many connections a process opens, and how long a task waits for one.
///
/// No Store method holds a connection while it waits for another: each method runs its one
/// statement or transaction on one connection and gives it back before the next. The delivery
/// workers, the fan-out expander, the scheduler and the web handlers are each such callers, so
/// none can hold a connection another needs while waiting for one itself, and any pool size of
/// one or more drains without deadlock; a busy pool only makes callers queue for up to
/// `acquire_timeout` (a worker then retries its step a second later). Public pages never touch
/// the pool. The PostgreSQL listener has its own connection outside the pool (`events`).
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// What a database holds of Herald's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// None of Herald's tables: a new or another program's database.
    Empty,
    /// Some of this version's migrations are not applied yet.
    Behind {
        applied: usize,
        known: usize,
    },
    Current,
}

#[derive(Clone)]
pub struct Store {
    pool: Pool,
    settings: PoolSettings,
    /// Stamps updates and alerts as they are written, and checks them before they are sent.
    stamper: Option<std::sync::Arc<crate::security::stamp::Stamper>>,
    /// Keys the stored hashes of bearer secrets and stamps the rows that grant access.
    digest: Option<std::sync::Arc<crate::security::secret::DigestKey>>,
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://...`) with the default pool settings,
    /// creating a SQLite file if needed (never its directory).
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        Self::connect_with(url, &PoolSettings::default()).await
    }

    /// Connects to `url` with these pool settings, creating a SQLite file if needed (in a
    /// directory that must exist). Fails at once, naming the setting to fix, when the URL is
    /// malformed, the server cannot be reached or refuses the login.
    pub async fn connect_with(url: &str, settings: &PoolSettings) -> anyhow::Result<Store> {
        Self::connect_url(url, settings, true).await
    }

    /// Connects to a database that must exist already: a SQLite file that is not there is an
    /// error, and nothing is created.
    pub async fn connect_existing(url: &str, settings: &PoolSettings) -> anyhow::Result<Store> {
        Self::connect_url(url, settings, false).await
    }

    async fn connect_url(
        url: &str,
        settings: &PoolSettings,
        create: bool,
    ) -> anyhow::Result<Store> {
        let pool = if let Some(path) = sqlite_path(url) {
            Self::connect_sqlite(path, settings, create).await?
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Pool::Postgres(Self::connect_postgres(url, settings).await?)
        } else {
            let scheme = url.split(':').next().unwrap_or(url);
            anyhow::bail!(
                "HERALD_DATABASE_URL must start with sqlite:// or postgres://, not \"{scheme}:\""
            )
        };
        Ok(Store {
            pool,
            settings: settings.clone(),
            stamper: None,
            digest: None,
        })
    }

    /// Stamps every update and alert this store writes, and checks stamps before sending.
    pub fn with_stamper(mut self, stamper: crate::security::stamp::Stamper) -> Store {
        self.stamper = Some(std::sync::Arc::new(stamper));
        self
    }

    pub(crate) fn stamper(&self) -> Option<&crate::security::stamp::Stamper> {
        self.stamper.as_deref()
    }

    /// Keys every bearer-secret hash this store writes or looks up, and stamps what access rows
    /// grant. Load the key with `load_digest_key`.
    pub fn with_digest_key(mut self, key: crate::security::secret::DigestKey) -> Store {
        self.digest = Some(std::sync::Arc::new(key));
        self
    }

    /// The digest key; a store opened without one cannot issue or check a secret.
    pub(crate) fn digest_key(&self) -> StoreResult<&crate::security::secret::DigestKey> {
        self.digest.as_deref().ok_or_else(|| {
            StoreError::Corrupt(
                "this store was opened without its digest key (Store::with_digest_key)".into(),
            )
        })
    }

    async fn connect_postgres(url: &str, settings: &PoolSettings) -> anyhow::Result<PgPool> {
        let shown = redact_password(url);
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            anyhow::anyhow!("HERALD_DATABASE_URL ({shown}) is not a valid PostgreSQL URL: {e}")
        })?;
        // Named in pg_stat_activity, unless the URL names it (`?application_name=`).
        let options = if options.get_application_name().is_some() {
            options
        } else {
            options.application_name("herald")
        };
        // One connection made here, with its own deadline, so that a wrong host fails in
        // seconds with the driver's own reason rather than as a pool timeout later on.
        let first = tokio::time::timeout(
            settings.acquire_timeout,
            sqlx::ConnectOptions::connect(&options),
        )
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "cannot connect to PostgreSQL at {shown} (HERALD_DATABASE_URL): no answer within \
                 {} s; check the host and port, and that a firewall lets the connection through \
                 (HERALD_DATABASE_ACQUIRE_TIMEOUT sets how long to wait)",
                settings.acquire_timeout.as_secs()
            )
        })?
        .map_err(|e| postgres_connect_error(&shown, e))?;
        sqlx::Connection::close(first).await.ok();
        PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(|e| postgres_connect_error(&shown, e))
    }

    async fn connect_sqlite(
        path: &str,
        settings: &PoolSettings,
        create: bool,
    ) -> anyhow::Result<Pool> {
        // Never `mkdir -p`: a mistyped path is reported, not made.
        let file = Path::new(path.split('?').next().unwrap_or(path));
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                anyhow::bail!(
                    "the directory {} of the SQLite database does not exist",
                    absolute(dir).display()
                );
            }
        }
        if !create && !file.is_file() {
            anyhow::bail!(
                "there is no SQLite database at {}",
                absolute(file).display()
            );
        }
        // Made here, private, rather than by SQLite under the umask (commonly 0644): the WAL
        // and shared-memory files SQLite makes later take the database file's mode.
        let created = create
            && file.as_os_str() != ":memory:"
            && crate::security::files::create_private_file(file).map_err(|e| {
                anyhow::anyhow!("cannot create the SQLite database {}: {e}", file.display())
            })?;
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(settings.acquire_timeout.max(Duration::from_secs(30)))
            .connect_with(options.clone())
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the SQLite database {path}: {e}"))?;
        // Readers never block the writer or each other in WAL mode; only the write pool writes.
        let read = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        if created {
            for companion in &crate::security::files::database_files(file)[1..] {
                if companion.exists() {
                    crate::security::files::restrict(companion, crate::security::files::FILE_MODE)?;
                }
            }
        }
        Ok(Pool::Sqlite { read, write })
    }

    /// Applies every pending migration of this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &self.pool {
            Pool::Sqlite { write, .. } => SQLITE_MIGRATIONS
                .run(write)
                .await
                .map_err(|e| anyhow::anyhow!("migrating the SQLite database failed: {e}")),
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS
                .run(pool)
                .await
                .map_err(|e| anyhow::anyhow!("migrating the PostgreSQL database failed: {e}")),
        }
    }

    /// Whether the database holds Herald's tables, and whether every migration of this version
    /// has been applied; for commands that must not migrate (or create) anything themselves.
    pub async fn schema(&self) -> anyhow::Result<Schema> {
        let known: Vec<i64> = match &self.pool {
            Pool::Sqlite { .. } => &SQLITE_MIGRATIONS,
            Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
        .iter()
        .map(|m| m.version)
        .collect();
        let applied: Result<Vec<i64>, sqlx::Error> = on_pool!(self, read pool => sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success = $1",
        )
        .bind(true)
        .fetch_all(pool)
        .await);
        let applied = match applied {
            Ok(applied) => applied,
            Err(sqlx::Error::Database(db))
                if db.code().as_deref() == Some("42P01")
                    || db.message().contains("no such table") =>
            {
                return Ok(Schema::Empty)
            }
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "cannot read the database's migrations: {e}"
                ))
            }
        };
        let done = known.iter().filter(|v| applied.contains(v)).count();
        Ok(match done {
            0 => Schema::Empty,
            n if n < known.len() => Schema::Behind {
                applied: n,
                known: known.len(),
            },
            _ => Schema::Current,
        })
    }

    /// "sqlite" or "postgres", for logs and the health check.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite { .. } => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// True when the database answers.
    pub async fn ping(&self) -> bool {
        on_pool!(self, read pool => sqlx::query("SELECT 1").execute(pool).await.is_ok())
    }

    /// Runs one statement outside any transaction (`CREATE DATABASE` for test harnesses).
    pub async fn execute_admin(&self, sql: &str) -> StoreResult<()> {
        on_pool!(self, write pool => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Runs a query whose first column is text, for test harnesses and diagnostics.
    pub async fn query_strings(&self, sql: &str) -> StoreResult<Vec<String>> {
        Ok(on_pool!(self, read pool => sqlx::query_scalar(sql).fetch_all(pool).await)?)
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// `url` with its password, if any, replaced by `***`, for messages and logs.
fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// The path part of a `sqlite://path` or `sqlite:path` URL.
fn sqlite_path(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
}

/// `path` made absolute against the working directory (without resolving links, so it reads as
/// given), for messages that say where Herald looked.
fn absolute(path: &Path) -> PathBuf {
    // Collecting the components drops `.` and doubled slashes (`sqlite:////srv/x`).
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .components()
        .collect()
}

/// Where a database URL points, as people read it: the SQLite file (absolute), or the
/// PostgreSQL server, database and user. Never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    Sqlite(PathBuf),
    Postgres {
        host: String,
        port: u16,
        database: String,
        user: String,
    },
}

impl DatabaseLocation {
    pub fn of(url: &str) -> anyhow::Result<DatabaseLocation> {
        if let Some(path) = sqlite_path(url) {
            let path = path.split('?').next().unwrap_or(path);
            return Ok(DatabaseLocation::Sqlite(absolute(Path::new(path))));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).map_err(|e| {
                anyhow::anyhow!(
                    "HERALD_DATABASE_URL ({}) is not a valid PostgreSQL URL: {e}",
                    redact_password(url)
                )
            })?;
            let user = options.get_username().to_string();
            return Ok(DatabaseLocation::Postgres {
                host: options.get_host().to_string(),
                port: options.get_port(),
                // PostgreSQL's own default: the database named after the user.
                database: options.get_database().unwrap_or(&user).to_string(),
                user,
            });
        }
        let scheme = url.split(':').next().unwrap_or(url);
        anyhow::bail!(
            "HERALD_DATABASE_URL must start with sqlite:// or postgres://, not \"{scheme}:\""
        )
    }
}

impl std::fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseLocation::Sqlite(path) => write!(f, "sqlite {}", path.display()),
            DatabaseLocation::Postgres {
                host,
                port,
                database,
                user,
            } => write!(f, "postgres {host}:{port}/{database} (user {user})"),
        }
    }
}

/// Says what to check when PostgreSQL cannot be reached or refuses the login.
fn postgres_connect_error(shown: &str, e: sqlx::Error) -> anyhow::Error {
    let hint = match &e {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "nothing listens there: is PostgreSQL running, and are the host and port right?"
        }
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => {
            "check the host name and port (is it a PostgreSQL server?), and the network between"
        }
        sqlx::Error::Tls(_) => "the TLS handshake failed: check sslmode and the server's certificate",
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // invalid_password, invalid_authorization_specification
            Some("28P01") | Some("28000") => "check the user name and password in the URL",
            // invalid_catalog_name
            Some("3D000") => "the database does not exist: create it (createdb NAME) or fix its name",
            _ => "the server refused the connection",
        },
        sqlx::Error::PoolTimedOut => {
            "no connection within HERALD_DATABASE_ACQUIRE_TIMEOUT: check the host, port and firewall"
        }
        _ => "check HERALD_DATABASE_URL",
    };
    anyhow::anyhow!("cannot connect to PostgreSQL at {shown} (HERALD_DATABASE_URL): {e}; {hint}")
}

/// Maps a unique-constraint violation to a message for people; other errors pass through.
pub(crate) fn on_constraint(e: sqlx::Error, constraint: &str, message: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db)
            if db.constraint() == Some(constraint)
                || db.message().contains(constraint_columns(constraint)) =>
        {
            StoreError::Conflict(message.to_string())
        }
        _ => StoreError::Database(e),
    }
}

// SQLite reports the columns ("UNIQUE constraint failed: staff.email"), not the constraint name.
fn constraint_columns(constraint: &str) -> &str {
    match constraint {
        "staff_email_key" => "staff.email",
        "api_tokens_hash_key" => "api_tokens.token_hash",
        "subscribers_email_key" => "subscribers.email",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_location_is_absolute_and_never_shows_the_password() {
        let pg = DatabaseLocation::of("postgres://herald:s3cret@db.example:5433/status").unwrap();
        assert_eq!(
            pg.to_string(),
            "postgres db.example:5433/status (user herald)"
        );
        let file = DatabaseLocation::of("sqlite:////srv//herald/./herald.db?mode=rwc").unwrap();
        assert_eq!(file.to_string(), "sqlite /srv/herald/herald.db");
        let relative = DatabaseLocation::of("sqlite://data/herald.db").unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            relative,
            DatabaseLocation::Sqlite(cwd.join("data").join("herald.db"))
        );
        assert!(DatabaseLocation::of("mysql://db/herald").is_err());
    }
}
