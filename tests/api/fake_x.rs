//! A fake X API for the X tests: `tests/x/fake_x.py` (stdlib HTTP server + oauthlib), one per
//! test. It verifies OAuth 1.0a HMAC-SHA1 signatures, timestamps, nonces and tokens as X does,
//! serves the 3-legged flow (`/oauth/request_token`, `/oauth/authorize`,
//! `/oauth/access_token`), `GET /2/users/me` and `POST /2/tweets`, and has a control API
//! (`/_control/...`) to script failures and read what it received. See the script's docstring.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

/// The consumer key and secret of the app registered with every fake.
pub const CONSUMER_KEY: &str = "herald-test-consumer-key";
pub const CONSUMER_SECRET: &str = "herald-test-consumer-secret";
/// The account behind every access token the fake issues (or is started with).
#[allow(dead_code)]
pub const USER_ID: &str = "1234";
#[allow(dead_code)]
pub const USERNAME: &str = "herald_status";

#[allow(dead_code)]
pub struct FakeX {
    child: Child,
    pub port: u16,
    pub consumer_key: String,
    pub consumer_secret: String,
    http: reqwest::Client,
}

/// A tweet the fake accepted (`GET /_control/tweets`).
#[allow(dead_code)]
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tweet {
    pub id: String,
    pub text: String,
    pub in_reply_to_tweet_id: Option<String>,
    /// The access token that signed the request.
    pub token: String,
    /// When it arrived, in seconds since the epoch.
    pub received_at: f64,
}

/// One request to the fake, accepted or not (`GET /_control/requests`; control calls are not
/// recorded).
#[allow(dead_code)]
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Req {
    pub method: String,
    /// The path without its query string.
    pub path: String,
    pub status: u16,
    /// Why the fake refused it (for a bad signature, the base string it expected), or what
    /// answered it ("scripted 503"); `None` for a request that succeeded.
    pub reason: Option<String>,
    /// A `POST /2/tweets` sent before the `x-rate-limit-reset` of a 429: the client did not
    /// wait.
    pub early: bool,
    /// When it arrived, in seconds since the epoch.
    pub at: f64,
}

/// An access token the fake issued or was started with (`GET /_control/tokens`).
#[allow(dead_code)]
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Token {
    pub token: String,
    pub secret: String,
    pub user_id: String,
    pub username: String,
    pub revoked: bool,
}

#[allow(dead_code)]
impl FakeX {
    /// A fake with no account connected yet: access tokens come from the 3-legged flow.
    pub fn start() -> FakeX {
        FakeX::launch(&[])
    }

    /// A fake where `token`/`secret` is already a live access token of the account, as if it
    /// had been connected before. (Like X, connecting again returns this same token until it
    /// is revoked.)
    pub fn start_with_token(token: &str, secret: &str) -> FakeX {
        FakeX::launch(&["--access-token", token, "--access-secret", secret])
    }

    fn launch(extra: &[&str]) -> FakeX {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/x/fake_x.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", "0"])
            .args(["--consumer-key", CONSUMER_KEY])
            .args(["--consumer-secret", CONSUMER_SECRET])
            .args(["--user-id", USER_ID, "--username", USERNAME])
            // Exits by itself if this test process dies without dropping us.
            .arg("--watch-stdin")
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the fake X API");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = match line.trim().strip_prefix("READY ") {
            Some(port) => port.parse().expect("READY <port>"),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the fake X API did not start (needs python3 with oauthlib: \
                     pip install oauthlib); it said {line:?}"
                );
            }
        };
        FakeX {
            child,
            port,
            consumer_key: CONSUMER_KEY.to_string(),
            consumer_secret: CONSUMER_SECRET.to_string(),
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    /// `http://127.0.0.1:PORT`: the base of both the OAuth endpoints and the /2/ API.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} on the fake X API: {e}"));
        assert!(response.status().is_success(), "GET {path}: {response:?}");
        response.json().await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path} on the fake X API: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "POST {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// The next otherwise-valid `POST /2/tweets` (signature checked first) get these answers
    /// in order instead of success, e.g.
    /// `json!([{"status": 429, "reset_in": 2}, {"status": 503}, {"status": 401}, {"status": 403}])`
    /// (403 is the duplicate-content answer; a 429's `reset_in` defaults to 60 s). Appends to
    /// what is already scripted.
    pub async fn script(&self, responses: Value) {
        self.post("/_control/script", json!({ "responses": responses }))
            .await;
    }

    /// The tweets accepted so far, in order.
    pub async fn tweets(&self) -> Vec<Tweet> {
        serde_json::from_value(self.get("/_control/tweets").await).unwrap()
    }

    /// Every request so far (control calls aside), in order.
    pub async fn requests(&self) -> Vec<Req> {
        serde_json::from_value(self.get("/_control/requests").await).unwrap()
    }

    /// The access tokens issued (and the preset one), revoked or not.
    pub async fn tokens(&self) -> Vec<Token> {
        serde_json::from_value(self.get("/_control/tokens").await).unwrap()
    }

    /// The user revokes the app: requests signed with `token` get 401 from now on.
    pub async fn revoke(&self, token: &str) {
        self.post("/_control/revoke", json!({ "token": token }))
            .await;
    }

    /// The next `GET /oauth/authorize` is the user clicking "Cancel": it redirects to
    /// `<callback>?denied=<request token>`.
    pub async fn deny_next_authorize(&self) {
        self.post("/_control/deny_next_authorize", json!({})).await;
    }

    /// Forgets tweets, scripted answers, the request log and rate-limit state; keeps tokens.
    pub async fn reset(&self) {
        self.post("/_control/reset", json!({})).await;
    }

    /// Waits until at least `n` tweets were accepted, or panics after `timeout`.
    pub async fn wait_for_tweets(&self, n: usize, timeout: Duration) -> Vec<Tweet> {
        let start = Instant::now();
        loop {
            let tweets = self.tweets().await;
            if tweets.len() >= n {
                return tweets;
            }
            assert!(
                start.elapsed() < timeout,
                "only {} of {n} tweets arrived in {timeout:?}; requests: {:#?}",
                tweets.len(),
                self.requests().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for FakeX {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
#[ignore = "needs python3 with oauthlib; .ci/run runs it"]
async fn fake_x_starts_with_no_tweets() {
    let x = FakeX::start();
    assert!(x.tweets().await.is_empty());
    assert!(x.requests().await.is_empty());
    assert!(x.tokens().await.is_empty());

    let x = FakeX::start_with_token("1234-preset", "preset-secret");
    let tokens = x.tokens().await;
    assert_eq!(tokens.len(), 1);
    assert_eq!(
        (tokens[0].token.as_str(), tokens[0].user_id.as_str()),
        ("1234-preset", USER_ID)
    );
    // An unsigned /2/ call is refused and logged with its reason.
    let response = x
        .http
        .get(format!("{}/2/users/me", x.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("x-rate-limit-reset"));
    let requests = x.requests().await;
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].reason.as_deref(),
        Some("missing Authorization header")
    );
}
