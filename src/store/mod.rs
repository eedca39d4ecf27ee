//! The only place that speaks SQL. One `Store` over SQLite (the embedded default) or PostgreSQL,
//! chosen by the URL scheme. Every public method is one transaction.
//!
//! Both backends run the same SQL text (`$1` placeholders, `RETURNING`, `ON CONFLICT`), through
//! typed pools rather than sqlx's `Any` driver, which cannot decode timestamps. The `on_pool!`
//! macro writes each method body once and type-checks it against both pools.

mod audit;
mod events;
mod incidents;
mod notify;
mod rows;
mod security;
mod staff;
mod x;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::domain::Invalid;

pub use audit::{AuditEvent, AuditFilter, AuditHead};
pub use events::{Change, ChangeListener, EVENTS_CHANNEL};
pub use incidents::Published;
pub use notify::{
    channel, ClaimedDelivery, DeliveryCounts, DeliveryOutcome, FanoutChunk, OutboundState, SignUp,
    Subscriber, CONFIRM_RESEND_AFTER,
};
pub use security::{RecentPosts, SealedValue};
pub use staff::{
    ApiTokenInfo, ApiTokenListing, NewStaff, SessionInfo, SessionSummary, Staff, SESSION_ABSOLUTE,
};
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

#[derive(Clone)]
pub struct Store {
    pool: Pool,
    settings: PoolSettings,
    /// Stamps updates and alerts as they are written, and checks them before they are sent.
    stamper: Option<std::sync::Arc<crate::security::stamp::Stamper>>,
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://...`) with the default pool settings,
    /// creating a SQLite file if needed.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        Self::connect_with(url, &PoolSettings::default()).await
    }

    /// Connects to `url` with these pool settings. Fails at once, naming the setting to fix,
    /// when the URL is malformed, the server cannot be reached or refuses the login.
    pub async fn connect_with(url: &str, settings: &PoolSettings) -> anyhow::Result<Store> {
        let pool = if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Self::connect_sqlite(path, settings).await?
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

    async fn connect_sqlite(path: &str, settings: &PoolSettings) -> anyhow::Result<Pool> {
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
            .create_if_missing(true)
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
        Ok(Pool::Sqlite { read, write })
    }

    async fn migrate_sqlite(pool: &SqlitePool) -> anyhow::Result<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(pool)
            .await
            .map_err(|e| anyhow::anyhow!("migrating the SQLite database failed: {e}"))
    }

    /// Applies every pending migration of this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &self.pool {
            Pool::Sqlite { write, .. } => Self::migrate_sqlite(write).await,
            Pool::Postgres(pool) => sqlx::migrate!("./migrations/postgres")
                .run(pool)
                .await
                .map_err(|e| anyhow::anyhow!("migrating the PostgreSQL database failed: {e}")),
        }
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
