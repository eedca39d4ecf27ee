//! A staff member's own browser for the admin pages: its own cookies, optionally its own
//! loopback address, forms posted with their CSRF token.

use std::net::{IpAddr, Ipv4Addr};

use herald::domain::Role;

use crate::helpers::{hidden_field, TestApp};

/// The password every test staff member signs in with.
pub const PASSWORD: &str = "correct horse battery staple";

/// A browser of its own (own cookies), optionally connecting from another loopback address.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser::from_address(app, Ipv4Addr::LOCALHOST)
    }

    pub fn from_address(app: &TestApp, ip: Ipv4Addr) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .local_address(IpAddr::V4(ip))
                .build()
                .unwrap(),
            base: app.url(""),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_in(&self, app: &TestApp, email: &str) -> reqwest::Response {
        let code = app.next_code(email).await;
        self.sign_in_with(email, PASSWORD, &code).await
    }

    pub async fn sign_in_with(&self, email: &str, password: &str, code: &str) -> reqwest::Response {
        let page = self.get("/admin/login").await.text().await.unwrap();
        let csrf = hidden_field(&page, "csrf");
        self.http
            .post(format!("{}/admin/login", self.base))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email),
                ("password", password),
                ("code", code),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Posts a form with the CSRF token from `page`.
    pub async fn post(
        &self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let html = self.get(page).await.text().await.unwrap();
        let csrf = hidden_field(&html, "csrf");
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.http
            .post(format!("{}{action}", self.base))
            .form(&all)
            .send()
            .await
            .unwrap()
    }

    pub async fn reauthenticate(&self, app: &TestApp, email: &str) {
        let code = app.next_code(email).await;
        let r = self
            .post(
                "/admin/reauth",
                "/admin/reauth",
                &[("code", &code), ("next", "/admin")],
            )
            .await;
        assert_eq!(r.status(), 303, "re-authentication");
    }

    /// Signs in with a fresh code; returns the session cookie's value.
    pub async fn signed_in_cookie(&self, app: &TestApp, email: &str) -> String {
        let r = self.sign_in(app, email).await;
        assert_eq!(r.status(), 303, "sign-in of {email}");
        session_cookie(&r)
    }

    /// Creates an API token on the admin pages; returns its secret.
    pub async fn create_token(&self, name: &str, role: &str) -> String {
        let r = self
            .post(
                "/admin/tokens",
                "/admin/tokens",
                &[("name", name), ("role", role)],
            )
            .await;
        assert_eq!(r.status(), 200, "token creation");
        let page = r.text().await.unwrap();
        page.split("class=\"new-token\">")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap()
            .to_string()
    }
}

pub async fn staff(app: &TestApp, email: &str, role: Role) -> Browser {
    app.enrolled_staff(email, role, PASSWORD).await;
    let browser = Browser::new(app);
    assert_eq!(browser.sign_in(app, email).await.status(), 303);
    browser
}

/// The value of the session cookie a response sets.
pub fn session_cookie(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("herald_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string()
}
