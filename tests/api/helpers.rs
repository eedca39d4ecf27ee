//! Test harness: each test gets its own Herald on port 0 with a fresh database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use herald::config::Config;
use herald::domain::{Role, StaffEmail};
use herald::security::seal::{purpose, Sealer};
use herald::security::totp::Seed;
use herald::startup::Application;
use herald::store::Store;
use serde_json::Value;

pub struct TestApp {
    pub address: String,
    pub store: Store,
    pub token: String,
    /// A client that never follows redirects, so tests can see them.
    pub http: reqwest::Client,
    /// Seals staff TOTP seeds the way the running app does.
    pub sealer: Arc<Sealer>,
    /// What the app learnt its mail relay accepts (SMTPUTF8).
    pub relay: Arc<herald::channels::email::Relay>,
    /// Each staff member's authenticator: the seed and the last step a code was made for.
    authenticators: Mutex<HashMap<String, (Seed, u64)>>,
    pub data_dir: std::path::PathBuf,
    /// The database this app uses, for running the CLI against it.
    pub database_url: String,
    _data_dir: tempfile::TempDir,
}

fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var("TEST_LOG").is_ok() {
            tracing_subscriber::fmt()
                .with_env_filter("herald=debug")
                .init();
        }
    });
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns Herald with the test defaults changed by `configure` (an SMTP URL, say).
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    init_logs();
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        data_dir: data_dir.path().to_path_buf(),
        bind: "127.0.0.1:0".to_string(),
        page_name: "Acme Status".to_string(),
        mail_from: "Acme Status <status@acme.test>".to_string(),
        // Most tests post many notifying updates quickly and link to example domains; the
        // tripwire's own tests set these back.
        tripwire_burst_updates: 1000,
        tripwire_burst_per_incident: 1000,
        tripwire_burst_incidents: 1000,
        tripwire_allowed_domains: "example.com, example.org, example.net, acme.test".to_string(),
        ..Config::default()
    };
    configure(&mut config);
    // A test that names its database (a second instance on the first one's, say) keeps it.
    if config.database_url.is_empty() {
        if let Some(url) = test_postgres_database().await {
            config.database_url = url;
            // A test's apps live until the test ends (their workers hold the pool), and some
            // tests start several: a smaller pool each keeps them under PostgreSQL's 100
            // connections when two tests run at once.
            config.database_max_connections = 6;
        }
    }
    let database_url = config.database_url();
    let app = Application::build(config).await.expect("build app");
    // The socket, not the public URL: a test may give the app a public URL of its own
    // (`https://status.acme.example`) that resolves nowhere.
    let address = format!("http://127.0.0.1:{}", app.port());
    let store = app.state().store.clone();
    let sealer = app.state().sealer.clone();
    let relay = app.state().relay.clone();
    tokio::spawn(app.run_until_stopped());
    let (_, token) = store
        .create_api_token("tests", Role::Admin, "tests")
        .await
        .expect("token");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client");
    let app = TestApp {
        address,
        store,
        token,
        http,
        sealer,
        relay,
        authenticators: Mutex::new(HashMap::new()),
        data_dir: data_dir.path().to_path_buf(),
        database_url,
        _data_dir: data_dir,
    };
    // The first pages are compressed in the background: start once they are.
    app.settled().await;
    app
}

/// With `HERALD_TEST_DATABASE=postgres` (or a `postgres://` URL of a server), each test gets a
/// fresh PostgreSQL database; otherwise a SQLite file in its temp directory.
pub async fn test_postgres_database() -> Option<String> {
    let setting = std::env::var("HERALD_TEST_DATABASE").ok()?;
    let server = match setting.as_str() {
        "postgres" => "postgres://postgres@127.0.0.1:5432".to_string(),
        url if url.starts_with("postgres://") => url.trim_end_matches('/').to_string(),
        _ => return None,
    };
    let suffix = herald::security::secret::generate("")
        .to_lowercase()
        .replace(['-', '_'], "");
    let name = format!("herald_test_{}", &suffix[..16]);
    let admin = Store::connect(&format!("{server}/postgres"))
        .await
        .expect("connect to PostgreSQL");
    admin
        .execute_admin(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    admin.close().await;
    Some(format!("{server}/{name}"))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// GETs a path once the public pages show every change committed so far (a write returns
    /// at commit; the pages follow).
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.settled().await;
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    /// Waits (up to 5 s: a test may have stopped the database) until `/healthz` says the
    /// public pages show every committed change.
    pub async fn settled(&self) {
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(5) {
            let health: Option<Value> = match self.http.get(self.url("/healthz")).send().await {
                Ok(r) => r.json().await.ok(),
                Err(_) => None,
            };
            if health.is_some_and(|h| h["pages_pending"] == false) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    pub async fn get_text(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.text().await.expect("body")
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.expect("json")
    }

    /// POSTs JSON to the admin API with the test's admin token.
    pub async fn api(&self, path: &str, body: Value) -> reqwest::Response {
        self.api_as(&self.token, path, body).await
    }

    /// POSTs JSON to the admin API; returns once the public pages show the change too.
    pub async fn api_as(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("POST");
        self.settled().await;
        r
    }

    /// GETs an admin API path with the test's admin token and returns the JSON.
    /// Waits (up to 20 s) until the tripwire has paused outbound for a reason mentioning `why`,
    /// and returns the outbound status.
    pub async fn wait_for_trip(&self, why: &str) -> Value {
        let started = std::time::Instant::now();
        loop {
            let status = self.api_get("/api/admin/v1/status").await;
            if status["paused"] == true && status["reason"].as_str().unwrap_or("").contains(why) {
                return status;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "the wire did not trip ({why}): {status}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    pub async fn api_get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.expect("json")
    }

    /// Delivery counts per channel and state for one update.
    pub async fn delivery_counts(&self, update_id: &str) -> Value {
        self.api_get(&format!("/api/admin/v1/updates/{update_id}/deliveries"))
            .await
    }

    pub async fn create_component(&self, name: &str) -> String {
        let r = self
            .api(
                "/api/admin/v1/components",
                serde_json::json!({ "name": name }),
            )
            .await;
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.expect("json");
        body["id"].as_str().expect("id").to_string()
    }

    /// Opens an incident through the API and returns its JSON.
    pub async fn open_incident(&self, body: Value) -> Value {
        let r = self.api("/api/admin/v1/incidents", body).await;
        assert_eq!(r.status(), 201);
        r.json().await.expect("json")
    }

    /// Adds a staff member, completes enrolment with `password`, sets up their authenticator
    /// (as the two-factor page would) and returns their email.
    pub async fn enrolled_staff(&self, email: &str, role: Role, password: &str) -> String {
        let id = self.enrolled_staff_without_2fa(email, role, password).await;
        let seed = Seed::generate();
        let sealed = self
            .sealer
            .seal(&purpose::totp(id), &seed.base32())
            .expect("seal");
        self.store.propose_totp(id, &sealed).await.expect("propose");
        self.store.enable_totp(id, 1, &[]).await.expect("enable");
        self.remember_authenticator(email, seed);
        email.to_string()
    }

    /// Adds a staff member with a password but no second factor yet; returns their id.
    pub async fn enrolled_staff_without_2fa(&self, email: &str, role: Role, password: &str) -> i64 {
        let added = self
            .store
            .add_staff(&StaffEmail::parse(email).expect("email"), role)
            .await
            .expect("add");
        let hash = herald::security::password::hash(password.to_string())
            .await
            .expect("hash");
        self.store
            .complete_enrolment(&added.enrolment_secret, &hash)
            .await
            .expect("enrol");
        added.staff.id
    }

    pub fn remember_authenticator(&self, email: &str, seed: Seed) {
        self.authenticators
            .lock()
            .expect("lock")
            .insert(email.to_lowercase(), (seed, 0));
    }

    /// A fresh code from `email`'s authenticator, one the server has not seen: codes of the
    /// previous, current and next 30-second step are accepted, each once, so this waits only
    /// when all three are used.
    pub async fn next_code(&self, email: &str) -> String {
        loop {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs();
            let now = secs / 30;
            // The previous step's code only while the server cannot move two steps on before
            // it checks the code.
            let earliest = if secs % 30 < 25 { now - 1 } else { now };
            {
                let mut all = self.authenticators.lock().expect("lock");
                let (seed, last) = all
                    .get_mut(&email.to_lowercase())
                    .unwrap_or_else(|| panic!("no authenticator for {email}"));
                let step = (*last + 1).max(earliest);
                if step <= now + 1 {
                    *last = step;
                    return seed.code_at_step(step);
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    }

    /// Signs in through the login form with a fresh authenticator code; the client keeps the
    /// session cookie.
    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        let known = self
            .authenticators
            .lock()
            .expect("lock")
            .contains_key(&email.to_lowercase());
        let code = if known {
            self.next_code(email).await
        } else {
            String::new()
        };
        self.sign_in_with_code(email, password, &code).await
    }

    pub async fn sign_in_with_code(
        &self,
        email: &str,
        password: &str,
        code: &str,
    ) -> reqwest::Response {
        let page = self.get_text("/admin/login").await;
        let csrf = hidden_field(&page, "csrf");
        self.http
            .post(self.url("/admin/login"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email),
                ("password", password),
                ("code", code),
            ])
            .send()
            .await
            .expect("login")
    }

    /// Posts an admin form, taking its CSRF token from the page at `form_page`.
    pub async fn post_form(
        &self,
        form_page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let page = self.get_text(form_page).await;
        let csrf = hidden_field(&page, "csrf");
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.http
            .post(self.url(action))
            .form(&all)
            .send()
            .await
            .expect("POST form")
    }
}

/// A fixture time written as in year 2099 (or 2098), moved to two (or one) years from now:
/// maintenances may be scheduled at most a few years ahead, and a fixed year would either be
/// refused as too far or, later, fall in the past.
pub fn ahead(fixture: &str) -> String {
    let year = chrono::Datelike::year(&chrono::Utc::now());
    if let Some(rest) = fixture.strip_prefix("2099") {
        format!("{}{rest}", year + 2)
    } else if let Some(rest) = fixture.strip_prefix("2098") {
        format!("{}{rest}", year + 1)
    } else {
        fixture.to_string()
    }
}

/// The value of the first hidden input named `name` in an HTML page.
pub fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in page"))
        + marker.len();
    let end = html[start..].find('"').expect("closing quote") + start;
    html[start..end].to_string()
}
