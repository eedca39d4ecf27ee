//! Typed configuration. Defaults live in `Config::default`; `herald.toml` (or the file named by
//! `HERALD_CONFIG`) overrides them, and `HERALD_*` environment variables override both.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The largest `max_connections` accepted.
const MAX_CONNECTIONS_LIMIT: usize = 1_000_000;
/// The derived connection cap stops here however high the file limit: each connection holds
/// buffers, and idle ones make room for new ones anyway.
const DEFAULT_MAX_CONNECTIONS_CAP: u64 = 8192;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Directory for the SQLite database and other local state. Created on start.
    pub data_dir: PathBuf,
    /// `sqlite://path` or `postgres://...`; empty means `herald.db` inside `data_dir`.
    pub database_url: String,
    /// Database connections this process opens at most: the PostgreSQL pool, or SQLite's
    /// readers (SQLite always has one writer besides). On PostgreSQL, one more connection per
    /// process listens for other instances' changes.
    pub database_max_connections: u32,
    /// Seconds a task waits for a free connection (or a new one) before it fails.
    pub database_acquire_timeout: u64,
    /// Address the web server listens on.
    pub bind: String,
    /// The address customers use to reach the status page, used in links, feeds and emails.
    /// Empty means `http://` + `bind`.
    pub public_url: String,
    /// Name shown at the top of the status page and in the JSON API.
    pub page_name: String,
    /// Branding (README "Branding"): the logo, a PNG or SVG file shown in the page header.
    pub logo_file: String,
    /// The logo shown instead in dark mode (PNG or SVG); empty: `logo_file` in both.
    pub logo_dark_file: String,
    /// The browser tab's icon (PNG or SVG); empty: Herald's own.
    pub favicon_file: String,
    /// The accent colour of links, buttons and the header stripe, `#rrggbb`. Herald darkens or
    /// lightens it where it is text, so that it stays readable in light and dark mode.
    pub accent_color: String,
    /// Links in the page header: `Label=URL, Label=URL` (http or https URLs).
    pub header_links: String,
    /// A line of plain text in the footer of every public page (say, the company's name).
    pub footer_text: String,
    /// A stylesheet served after Herald's own on the public pages.
    pub extra_css_file: String,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Seconds a new connection has to send its first request's headers in full; a client
    /// that sends nothing, or a byte at a time, is disconnected after this.
    pub header_read_timeout: u64,
    /// Seconds a keep-alive connection may sit idle after a response before it is closed
    /// (a next request's headers must have arrived in full by then).
    pub keep_alive_timeout: u64,
    /// Seconds between full reads of every incident and status change that check each row's
    /// stamp (page rebuilds in between read only what changed).
    pub page_sweep_seconds: u64,
    /// Seconds a request's body has to arrive in full, counted from its headers; a slower
    /// body is cut off with `408 Request Timeout`.
    pub body_read_timeout: u64,
    /// Connections served at once. When all are taken, the longest-idle keep-alive
    /// connections are closed to make room, and a new one is refused only if none is idle.
    /// 0: derived from the open-file limit (README "Connection limits").
    pub max_connections: usize,
    /// Where the master key lives; empty means `secret.key` in `data_dir` (created on first run).
    pub secret_key_file: String,
    /// `smtp://host:port`, `smtp://user:pass@host:587?tls=starttls`, `smtps://host:465`.
    /// Empty: email is not sent (deliveries wait in the queue).
    pub smtp_url: String,
    /// File holding `smtp_url`, for secret stores that mount files.
    pub smtp_url_file: String,
    /// The From address of every email, e.g. `Acme Status <status@acme.example>`.
    /// Empty means `noreply@` + the public URL's host.
    pub mail_from: String,
    /// How many SMTP connections send at once.
    pub smtp_concurrency: usize,
    /// The name this instance gives in SMTP `EHLO`; empty means the domain of `mail_from`.
    /// Behind one mail relay, give each instance its own host name so the relay's log tells
    /// them apart.
    pub smtp_helo: String,
    /// Seconds a worker's claim on a batch of deliveries holds. Another instance sends the
    /// batch only after that, if the claimer died; keep it well above the time a batch takes
    /// (256 messages) and above the clock skew between instances.
    pub delivery_lease: u64,
    /// Seconds without a heartbeat after which an instance counts as dead and the deliveries it
    /// had claimed go back to the queue for the others (each instance beats every quarter of
    /// this). The lease above stays as the backstop.
    pub instance_timeout: u64,
    /// Minutes before a maintenance starts that subscribers are reminded, when a maintenance
    /// asks for the page default (`scheduled_remind_prior: true`, or nothing said on one that
    /// notifies). 0: no reminders unless a maintenance names its own minutes.
    pub remind_prior_minutes: i64,
    /// Sign outgoing mail with DKIM for this domain (with `dkim_selector` and `dkim_key_file`).
    pub dkim_domain: String,
    pub dkim_selector: String,
    /// A PEM private key: RSA (PKCS#1 or PKCS#8) or Ed25519 (PKCS#8).
    pub dkim_key_file: String,
    /// The X app's consumer key and secret (developer portal, "Keys and tokens"); both empty
    /// means no X channel. `_file` variants read them from files.
    pub x_consumer_key: String,
    pub x_consumer_key_file: String,
    pub x_consumer_secret: String,
    pub x_consumer_secret_file: String,
    /// Where X's API and OAuth endpoints live; tests and proxies point it elsewhere.
    pub x_api_base: String,
    /// Tripwire: more than this many notifying posts in all (every incident and maintenance,
    /// the scheduler's notices included) within `tripwire_burst_minutes` pauses outbound.
    /// 0 turns this count off. The README says why the burst defaults are what they are.
    pub tripwire_burst_updates: u32,
    /// Tripwire: the window the burst counts look back over, in minutes. A resume starts a
    /// fresh window (the admin vouched for what came before).
    pub tripwire_burst_minutes: u32,
    /// Tripwire: more than this many notifying posts to one incident (or maintenance) within
    /// the window pauses outbound. 0 turns this count off.
    pub tripwire_burst_per_incident: u32,
    /// Tripwire: more than this many incidents (or maintenances) notifying for the first time
    /// within the window pauses outbound: a spam run opens new ones. 0 turns this count off.
    pub tripwire_burst_incidents: u32,
    /// Tripwire: domains that outbound text may link to (comma-separated; subdomains included),
    /// besides the public URL's registrable domain (by the Public Suffix List), which is always
    /// allowed with its subdomains.
    pub tripwire_allowed_domains: String,
    /// Tripwire: a subscriber export of more rows than this. 0 turns the rule off.
    pub tripwire_export_rows: u64,
    /// Tripwire: a privileged action from an address (or through a token) never seen for that
    /// account before.
    pub tripwire_new_source: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed (comma-separated addresses or
    /// blocks such as `10.0.0.0/8`). Empty: the connecting address is the client.
    pub trusted_proxies: String,
    /// Networks webhook receivers may be in although they are private (comma-separated blocks
    /// such as `10.20.0.0/16`); by default Herald calls out to public addresses only.
    pub webhook_allow_networks: String,
    /// Which setting chose the database (`HERALD_DATABASE_URL`, `data_dir in herald.toml`...),
    /// found by `load` for messages that say where Herald looked; empty when built in code.
    #[serde(skip)]
    pub database_origin: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./herald-data"),
            database_url: String::new(),
            database_max_connections: 16,
            database_acquire_timeout: 10,
            bind: "127.0.0.1:8080".to_string(),
            public_url: String::new(),
            page_name: "Status".to_string(),
            logo_file: String::new(),
            logo_dark_file: String::new(),
            favicon_file: String::new(),
            accent_color: String::new(),
            header_links: String::new(),
            footer_text: String::new(),
            extra_css_file: String::new(),
            max_body_bytes: 256 * 1024,
            header_read_timeout: 10,
            keep_alive_timeout: 15,
            page_sweep_seconds: 60,
            body_read_timeout: 30,
            max_connections: 0,
            secret_key_file: String::new(),
            smtp_url: String::new(),
            smtp_url_file: String::new(),
            mail_from: String::new(),
            smtp_concurrency: 8,
            smtp_helo: String::new(),
            delivery_lease: 300,
            instance_timeout: 20,
            remind_prior_minutes: 60,
            dkim_domain: String::new(),
            dkim_selector: String::new(),
            dkim_key_file: String::new(),
            x_consumer_key: String::new(),
            x_consumer_key_file: String::new(),
            x_consumer_secret: String::new(),
            x_consumer_secret_file: String::new(),
            x_api_base: "https://api.twitter.com".to_string(),
            tripwire_burst_updates: 15,
            tripwire_burst_minutes: 10,
            tripwire_burst_per_incident: 10,
            tripwire_burst_incidents: 3,
            tripwire_allowed_domains: String::new(),
            tripwire_export_rows: 5000,
            tripwire_new_source: true,
            trusted_proxies: String::new(),
            webhook_allow_networks: String::new(),
            database_origin: String::new(),
        }
    }
}

impl Config {
    /// Loads defaults, then `herald.toml`, then `HERALD_*` variables.
    pub fn load() -> anyhow::Result<Config> {
        let file = std::env::var("HERALD_CONFIG").unwrap_or_else(|_| "herald.toml".to_string());
        Self::load_from(
            Path::new(&file),
            Env::prefixed("HERALD_").ignore(&["CONFIG"]),
        )
    }

    fn load_from(file: &Path, env: Env) -> anyhow::Result<Config> {
        Self::load_figment(
            Figment::from(Serialized::defaults(Config::default()))
                .merge(Toml::file(file))
                .merge(env),
        )
    }

    /// Loads defaults, then the TOML text given (no file, no environment), checked exactly as
    /// `load` checks a configuration; for tests and the configuration fuzz target.
    pub fn from_toml(text: &str) -> anyhow::Result<Config> {
        Self::load_figment(
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)),
        )
    }

    fn load_figment(figment: Figment) -> anyhow::Result<Config> {
        let mut config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        config.database_origin = database_origin(&figment, &config);
        for (value, file, name) in [
            (
                &mut config.smtp_url,
                &config.smtp_url_file,
                "HERALD_SMTP_URL_FILE",
            ),
            (
                &mut config.x_consumer_key,
                &config.x_consumer_key_file,
                "HERALD_X_CONSUMER_KEY_FILE",
            ),
            (
                &mut config.x_consumer_secret,
                &config.x_consumer_secret_file,
                "HERALD_X_CONSUMER_SECRET_FILE",
            ),
        ] {
            if value.is_empty() && !file.is_empty() {
                *value = std::fs::read_to_string(file)
                    .map_err(|e| anyhow::anyhow!("cannot read {name} {file}: {e}"))?
                    .trim()
                    .to_string();
            }
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let url = url::Url::parse(&self.public_url())
            .map_err(|e| anyhow::anyhow!("HERALD_PUBLIC_URL is not a valid URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("HERALD_PUBLIC_URL must start with http:// or https://");
        }
        if self.database_max_connections == 0 || self.database_max_connections > 1000 {
            anyhow::bail!("HERALD_DATABASE_MAX_CONNECTIONS must be between 1 and 1000");
        }
        if self.database_acquire_timeout == 0 || self.database_acquire_timeout > 3600 {
            anyhow::bail!("HERALD_DATABASE_ACQUIRE_TIMEOUT must be between 1 and 3600 seconds");
        }
        if !(0..=crate::domain::maintenance::MAX_REMIND_PRIOR_MINUTES)
            .contains(&self.remind_prior_minutes)
        {
            anyhow::bail!("HERALD_REMIND_PRIOR_MINUTES must be between 0 and 43200");
        }
        if self.delivery_lease < 5 || self.delivery_lease > 86_400 {
            anyhow::bail!("HERALD_DELIVERY_LEASE must be between 5 and 86400 seconds");
        }
        if self.instance_timeout < 4 || self.instance_timeout > 3600 {
            anyhow::bail!("HERALD_INSTANCE_TIMEOUT must be between 4 and 3600 seconds");
        }
        crate::security::net::parse_blocks(&self.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("HERALD_TRUSTED_PROXIES: {e}"))?;
        crate::security::net::parse_blocks(&self.webhook_allow_networks)
            .map_err(|e| anyhow::anyhow!("HERALD_WEBHOOK_ALLOW_NETWORKS: {e}"))?;
        if !(1..=300).contains(&self.header_read_timeout) {
            anyhow::bail!("HERALD_HEADER_READ_TIMEOUT must be between 1 and 300 seconds");
        }
        if !(1..=3600).contains(&self.keep_alive_timeout) {
            anyhow::bail!("HERALD_KEEP_ALIVE_TIMEOUT must be between 1 and 3600 seconds");
        }
        if !(1..=3600).contains(&self.page_sweep_seconds) {
            anyhow::bail!("HERALD_PAGE_SWEEP_SECONDS must be between 1 and 3600 seconds");
        }
        if !(1..=3600).contains(&self.body_read_timeout) {
            anyhow::bail!("HERALD_BODY_READ_TIMEOUT must be between 1 and 3600 seconds");
        }
        if self.max_connections > MAX_CONNECTIONS_LIMIT {
            anyhow::bail!(
                "HERALD_MAX_CONNECTIONS must be between 1 and {MAX_CONNECTIONS_LIMIT}, or 0 to derive it from the open-file limit"
            );
        }
        if self.smtp_concurrency == 0 || self.smtp_concurrency > 256 {
            anyhow::bail!("HERALD_SMTP_CONCURRENCY must be between 1 and 256");
        }
        let dkim = [&self.dkim_domain, &self.dkim_selector, &self.dkim_key_file];
        if dkim.iter().any(|v| !v.is_empty()) && dkim.iter().any(|v| v.is_empty()) {
            anyhow::bail!("DKIM needs all three of HERALD_DKIM_DOMAIN, HERALD_DKIM_SELECTOR and HERALD_DKIM_KEY_FILE");
        }
        if self.x_consumer_key.is_empty() != self.x_consumer_secret.is_empty() {
            anyhow::bail!("X needs both HERALD_X_CONSUMER_KEY and HERALD_X_CONSUMER_SECRET");
        }
        let x_base = url::Url::parse(&self.x_api_base)
            .map_err(|e| anyhow::anyhow!("HERALD_X_API_BASE is not a valid URL: {e}"))?;
        if !matches!(x_base.scheme(), "http" | "https") {
            anyhow::bail!(
                "HERALD_X_API_BASE must start with https:// (or http:// for a local stand-in)"
            );
        }
        self.branding()?;
        Ok(())
    }

    /// The branding this configuration sets, its files read and checked. Every bad value is
    /// an error naming the setting.
    pub fn branding(&self) -> anyhow::Result<crate::domain::branding::Branding> {
        use crate::domain::branding::{self, Asset, Branding, Color};
        let name = branding::parse_name(&self.page_name)
            .map_err(|e| anyhow::anyhow!("HERALD_PAGE_NAME: {e}"))?;
        let file = |path: &str, setting: &str, check: fn(&[u8]) -> Result<Asset, String>| {
            if path.is_empty() {
                return Ok(None);
            }
            let limit = (branding::IMAGE_MAX_BYTES.max(branding::CSS_MAX_BYTES) + 1) as u64;
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(
                &mut std::io::Read::take(
                    std::fs::File::open(path)
                        .map_err(|e| anyhow::anyhow!("cannot read {setting} {path}: {e}"))?,
                    limit,
                ),
                &mut bytes,
            )
            .map_err(|e| anyhow::anyhow!("cannot read {setting} {path}: {e}"))?;
            check(&bytes)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("{setting} {path}: {e}"))
        };
        if !self.logo_dark_file.is_empty() && self.logo_file.is_empty() {
            anyhow::bail!(
                "HERALD_LOGO_DARK_FILE needs HERALD_LOGO_FILE too (the logo for light mode)"
            );
        }
        let accent = if self.accent_color.is_empty() {
            None
        } else {
            Some(
                Color::parse(self.accent_color.trim())
                    .map_err(|e| anyhow::anyhow!("HERALD_ACCENT_COLOR: {e}"))?,
            )
        };
        Ok(Branding {
            name,
            logo: file(&self.logo_file, "HERALD_LOGO_FILE", Asset::image)?,
            logo_dark: file(&self.logo_dark_file, "HERALD_LOGO_DARK_FILE", Asset::image)?,
            favicon: file(&self.favicon_file, "HERALD_FAVICON_FILE", Asset::image)?,
            accent,
            header_links: branding::parse_header_links(&self.header_links)
                .map_err(|e| anyhow::anyhow!("HERALD_HEADER_LINKS: {e}"))?,
            footer_text: branding::parse_footer(&self.footer_text)
                .map_err(|e| anyhow::anyhow!("HERALD_FOOTER_TEXT: {e}"))?,
            extra_css: file(
                &self.extra_css_file,
                "HERALD_EXTRA_CSS_FILE",
                Asset::stylesheet,
            )?,
        })
    }

    /// How the web server limits its connections, given the process's open-file limit.
    pub fn connection_limits(&self, open_files: u64) -> crate::web::serve::ConnectionLimits {
        use std::time::Duration;
        // Files Herald keeps open besides client connections: SQLite's database, WAL and
        // shared-memory files for each pooled connection and the writer (or PostgreSQL's
        // sockets), SMTP connections, webhook and X requests, the runtime's own descriptors.
        let reserve =
            64 + 3 * (u64::from(self.database_max_connections) + 2) + self.smtp_concurrency as u64;
        let max_connections = if self.max_connections > 0 {
            self.max_connections
        } else {
            let usable = open_files.saturating_sub(reserve.min(open_files / 2));
            usable.clamp(1, DEFAULT_MAX_CONNECTIONS_CAP) as usize
        };
        crate::web::serve::ConnectionLimits {
            header_read: Duration::from_secs(self.header_read_timeout),
            keep_alive: Duration::from_secs(self.keep_alive_timeout),
            body_read: Duration::from_secs(self.body_read_timeout),
            max_connections,
            files_needed: reserve + max_connections as u64,
        }
    }

    /// The X app's settings, when a consumer key pair is configured.
    pub fn x_settings(&self) -> Option<crate::channels::x::XSettings> {
        (!self.x_consumer_key.is_empty()).then(|| crate::channels::x::XSettings {
            api_base: self.x_api_base.trim_end_matches('/').to_string(),
            consumer_key: self.x_consumer_key.clone(),
            consumer_secret: self.x_consumer_secret.clone(),
        })
    }

    /// The database URL, defaulting to a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("herald.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// How this process sizes its database connections.
    pub fn pool_settings(&self) -> crate::store::PoolSettings {
        crate::store::PoolSettings {
            max_connections: self.database_max_connections,
            acquire_timeout: std::time::Duration::from_secs(self.database_acquire_timeout),
        }
    }

    /// The name given in SMTP `EHLO`.
    pub fn smtp_helo(&self) -> String {
        if !self.smtp_helo.is_empty() {
            return self.smtp_helo.clone();
        }
        self.mail_from()
            .rsplit('@')
            .next()
            .unwrap_or("localhost")
            .trim_end_matches('>')
            .to_string()
    }

    /// The public base URL without a trailing slash.
    pub fn public_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.bind)
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }

    /// Which setting chose the database, for messages.
    pub fn database_origin(&self) -> &str {
        if self.database_origin.is_empty() {
            "the configuration"
        } else {
            &self.database_origin
        }
    }

    /// Where the master key file is.
    pub fn secret_key_path(&self) -> PathBuf {
        if self.secret_key_file.is_empty() {
            crate::security::keys::MasterKey::default_path(&self.data_dir)
        } else {
            PathBuf::from(&self.secret_key_file)
        }
    }

    /// The From header of outgoing mail.
    pub fn mail_from(&self) -> String {
        if !self.mail_from.is_empty() {
            return self.mail_from.clone();
        }
        let host = url::Url::parse(&self.public_url())
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .filter(|h| h.contains('.') && h.parse::<std::net::IpAddr>().is_err())
            .unwrap_or_else(|| "localhost.localdomain".to_string());
        format!(
            "{} <noreply@{host}>",
            self.page_name.replace(['<', '>', '"', '\r', '\n'], "")
        )
    }

    /// True when customers reach Herald over https (cookies get `Secure`, HSTS is sent).
    pub fn is_https(&self) -> bool {
        self.public_url().starts_with("https://")
    }
}

/// Names the setting the database location came from, as a person would look for it.
fn database_origin(figment: &Figment, config: &Config) -> String {
    let origin = |key: &str| {
        let metadata = figment.find_metadata(key)?;
        match &metadata.source {
            Some(figment::Source::File(path)) => Some(format!("{key} in {}", path.display())),
            _ if metadata.name.contains("environment") => {
                Some(format!("HERALD_{}", key.to_uppercase()))
            }
            _ => None,
        }
    };
    if !config.database_url.is_empty() {
        return origin("database_url").unwrap_or_else(|| "database_url".to_string());
    }
    match origin("data_dir") {
        Some(setting) => format!("{setting} (herald.db in the data directory)"),
        None => format!(
            "the default: herald.db in {}, as neither HERALD_DATABASE_URL nor HERALD_DATA_DIR is set",
            config.data_dir.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_file_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("herald.toml");
        std::fs::write(&file, "bind = \"0.0.0.0:9000\"\npage_name = \"Acme\"\n").unwrap();
        // A prefix of its own keeps this test apart from the environment of others.
        std::env::set_var("HERALD_CFGTEST_PAGE_NAME", "Acme Status");
        let config = Config::load_from(&file, Env::prefixed("HERALD_CFGTEST_")).unwrap();
        assert_eq!(config.bind, "0.0.0.0:9000");
        assert_eq!(config.page_name, "Acme Status");
        assert_eq!(config.public_url(), "http://0.0.0.0:9000");
    }

    #[test]
    fn pool_and_helo_settings_come_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("herald.toml");
        std::env::set_var("HERALD_CFGPOOL_DATABASE_MAX_CONNECTIONS", "4");
        std::env::set_var("HERALD_CFGPOOL_DATABASE_ACQUIRE_TIMEOUT", "3");
        std::env::set_var("HERALD_CFGPOOL_SMTP_HELO", "herald-b.example.com");
        let config = Config::load_from(&file, Env::prefixed("HERALD_CFGPOOL_")).unwrap();
        let pool = config.pool_settings();
        assert_eq!(pool.max_connections, 4);
        assert_eq!(pool.acquire_timeout, std::time::Duration::from_secs(3));
        assert_eq!(config.smtp_helo(), "herald-b.example.com");

        let defaults = Config {
            mail_from: "Acme <status@acme.example>".to_string(),
            ..Config::default()
        };
        assert_eq!(defaults.smtp_helo(), "acme.example", "the From domain");
        assert_eq!(defaults.pool_settings().max_connections, 16);

        std::env::set_var("HERALD_CFGPOOL0_DATABASE_MAX_CONNECTIONS", "0");
        assert!(Config::load_from(&file, Env::prefixed("HERALD_CFGPOOL0_")).is_err());
    }

    #[test]
    fn connection_limits_come_from_the_settings_and_the_file_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("herald.toml");
        let defaults = Config::load_from(&file, Env::prefixed("HERALD_CFGCONN0_")).unwrap();
        let limits = defaults.connection_limits(1024);
        assert_eq!(limits.header_read, std::time::Duration::from_secs(10));
        assert_eq!(limits.keep_alive, std::time::Duration::from_secs(15));
        assert_eq!(limits.body_read, std::time::Duration::from_secs(30));
        // 64 + 3 × (16 + 2) database files + 8 SMTP connections are kept back.
        assert_eq!(limits.max_connections, 1024 - 126);
        assert_eq!(limits.files_needed, 1024);
        assert_eq!(defaults.connection_limits(256).max_connections, 130);
        assert_eq!(
            defaults.connection_limits(64).max_connections,
            32,
            "half of a tiny limit"
        );
        assert_eq!(
            defaults.connection_limits(1 << 20).max_connections,
            8192,
            "capped however high the limit"
        );

        for (key, value) in [
            ("HEADER_READ_TIMEOUT", "2"),
            ("KEEP_ALIVE_TIMEOUT", "3"),
            ("BODY_READ_TIMEOUT", "4"),
            ("MAX_CONNECTIONS", "5000"),
        ] {
            std::env::set_var(format!("HERALD_CFGCONN1_{key}"), value);
        }
        let set = Config::load_from(&file, Env::prefixed("HERALD_CFGCONN1_")).unwrap();
        let limits = set.connection_limits(1024);
        assert_eq!(limits.header_read, std::time::Duration::from_secs(2));
        assert_eq!(limits.keep_alive, std::time::Duration::from_secs(3));
        assert_eq!(limits.body_read, std::time::Duration::from_secs(4));
        assert_eq!(limits.max_connections, 5000);
        assert!(
            limits.files_needed > 1024,
            "more than the file limit carries"
        );

        for (n, (key, value, says)) in [
            (
                "HEADER_READ_TIMEOUT",
                "0",
                "HERALD_HEADER_READ_TIMEOUT must be between 1 and 300",
            ),
            ("HEADER_READ_TIMEOUT", "301", "HERALD_HEADER_READ_TIMEOUT"),
            (
                "KEEP_ALIVE_TIMEOUT",
                "0",
                "HERALD_KEEP_ALIVE_TIMEOUT must be between 1 and 3600",
            ),
            (
                "BODY_READ_TIMEOUT",
                "0",
                "HERALD_BODY_READ_TIMEOUT must be between 1 and 3600",
            ),
            (
                "MAX_CONNECTIONS",
                "1000001",
                "HERALD_MAX_CONNECTIONS must be between 1 and 1000000",
            ),
            ("MAX_CONNECTIONS", "-1", "key \"MAX_CONNECTIONS\""),
            ("KEEP_ALIVE_TIMEOUT", "soon", "key \"KEEP_ALIVE_TIMEOUT\""),
        ]
        .into_iter()
        .enumerate()
        {
            let prefix = format!("HERALD_CFGCONNBAD{n}_");
            std::env::set_var(format!("{prefix}{key}"), value);
            let err = Config::load_from(&file, Env::prefixed(&prefix))
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{key}={value}: {err}");
        }
    }

    #[test]
    fn bad_urls_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("herald.toml");
        std::fs::write(&file, "public_url = \"ftp://x\"\n").unwrap();
        assert!(Config::load_from(&file, Env::prefixed("HERALD_TEST_NONE_")).is_err());
    }

    #[test]
    fn the_setting_that_chose_the_database_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("herald.toml");
        let defaults = Config::load_from(&file, Env::prefixed("HERALD_CFGORIGIN0_")).unwrap();
        assert!(
            defaults.database_origin().starts_with("the default"),
            "{}",
            defaults.database_origin()
        );
        std::fs::write(&file, "data_dir = \"/srv/herald\"\n").unwrap();
        let from_file = Config::load_from(&file, Env::prefixed("HERALD_CFGORIGIN1_")).unwrap();
        assert!(
            from_file.database_origin().starts_with("data_dir in ")
                && from_file.database_origin().contains("herald.toml"),
            "{}",
            from_file.database_origin()
        );
        std::env::set_var("HERALD_CFGORIGIN2_DATABASE_URL", "sqlite:///srv/x.db");
        let from_env = Config::load_from(&file, Env::prefixed("HERALD_CFGORIGIN2_")).unwrap();
        assert_eq!(from_env.database_origin(), "HERALD_DATABASE_URL");
    }

    #[test]
    fn branding_comes_from_the_environment_and_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("herald.toml");
        let logo = dir.path().join("logo.svg");
        std::fs::write(
            &logo,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 4"><rect width="4" height="4"/></svg>"#,
        )
        .unwrap();
        let css = dir.path().join("extra.css");
        std::fs::write(&css, "body { letter-spacing: .01em }").unwrap();
        for (key, value) in [
            ("PAGE_NAME", "Acme Status"),
            ("LOGO_FILE", logo.to_str().unwrap()),
            ("ACCENT_COLOR", "#FF6600"),
            (
                "HEADER_LINKS",
                "Acme=https://acme.example, Support=https://help.acme.example",
            ),
            ("FOOTER_TEXT", "© Acme Inc."),
            ("EXTRA_CSS_FILE", css.to_str().unwrap()),
        ] {
            std::env::set_var(format!("HERALD_CFGBRAND_{key}"), value);
        }
        let config = Config::load_from(&file, Env::prefixed("HERALD_CFGBRAND_")).unwrap();
        let b = config.branding().unwrap();
        assert_eq!(b.name, "Acme Status");
        assert_eq!(b.accent.unwrap().hex(), "#ff6600");
        assert_eq!(b.header_links.len(), 2);
        assert_eq!(b.footer_text, "© Acme Inc.");
        assert!(b.logo.is_some() && b.logo_dark.is_none() && b.favicon.is_none());
        assert!(b.extra_css.is_some());
    }

    #[test]
    fn every_bad_branding_value_is_refused_naming_its_setting() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("herald.toml");
        let gif = dir.path().join("logo.gif");
        std::fs::write(&gif, b"GIF89a\x01\x00\x01\x00").unwrap();
        let big = dir.path().join("big.png");
        std::fs::write(&big, vec![0u8; 300 * 1024]).unwrap();
        let binary = dir.path().join("extra.css");
        std::fs::write(&binary, [0xffu8, 0xfe, 0x00]).unwrap();
        let gif = gif.to_str().unwrap().to_string();
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "ACCENT_COLOR",
                "orange".into(),
                "HERALD_ACCENT_COLOR: \"orange\" is not a colour written #rrggbb",
            ),
            ("ACCENT_COLOR", "#ff660".into(), "HERALD_ACCENT_COLOR"),
            (
                "HEADER_LINKS",
                "Acme=javascript:alert(1)".into(),
                "HERALD_HEADER_LINKS: the URL of \"Acme\" must start with https://",
            ),
            (
                "HEADER_LINKS",
                "Acme https://acme.example".into(),
                "HERALD_HEADER_LINKS: \"Acme https://acme.example\" is not written Label=URL",
            ),
            ("LOGO_FILE", gif.clone(), "neither a PNG nor an SVG"),
            (
                "LOGO_DARK_FILE",
                "/nonexistent/logo.svg".into(),
                "HERALD_LOGO_DARK_FILE needs HERALD_LOGO_FILE",
            ),
            (
                "LOGO_FILE",
                "/nonexistent/logo.svg".into(),
                "cannot read HERALD_LOGO_FILE /nonexistent/logo.svg",
            ),
            (
                "FAVICON_FILE",
                big.to_str().unwrap().into(),
                "HERALD_FAVICON_FILE",
            ),
            (
                "EXTRA_CSS_FILE",
                binary.to_str().unwrap().into(),
                "HERALD_EXTRA_CSS_FILE",
            ),
            (
                "FOOTER_TEXT",
                "x".repeat(501),
                "HERALD_FOOTER_TEXT: the footer text is longer than 500",
            ),
            (
                "PAGE_NAME",
                "  ".into(),
                "HERALD_PAGE_NAME: the page name must not be empty",
            ),
        ];
        for (n, (key, value, says)) in cases.into_iter().enumerate() {
            let prefix = format!("HERALD_CFGBAD{n}_");
            std::env::set_var(format!("{prefix}{key}"), &value);
            let err = Config::load_from(&file, Env::prefixed(&prefix))
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{key}={value}: {err}");
        }
    }
}
