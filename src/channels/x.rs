//! X (Twitter) through API v2: `POST /2/tweets` with a JSON body, signed with OAuth 1.0a user
//! context (HMAC-SHA1, by `oauth1-request`), over the same reqwest/rustls stack as everything
//! else. Also the three legs of connecting an account (request token, authorize, access token).
//! Every URL derives from `HERALD_X_API_BASE`, so tests and proxies can stand in for X.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use oauth1_request as oauth;
use serde::Deserialize;

use super::{Channel, Contact, Message, Outgoing, Policy, Receipt, SendError};

/// The X channel: each update posted to the connected account, one at a time and in order, each
/// answering the account's previous post about the same incident, so an incident reads as one
/// thread. X's 429 holds the channel until its reset; its 401 refuses the channel until an
/// admin reconnects the account.
pub struct X {
    client: Arc<XClient>,
}

impl X {
    pub fn new(client: Arc<XClient>) -> Self {
        X { client }
    }
}

impl Channel for X {
    type Rendered = Tweet;

    fn names(&self) -> &'static [&'static str] {
        &[super::names::X]
    }

    /// X outages can last hours, and the backoff reaches its one-hour cap after eight tries,
    /// so twelve tries cover about four hours. A post takes seconds: a short lease.
    fn policy(&self) -> Policy {
        Policy {
            batch: 1,
            concurrency: 1,
            max_attempts: 12,
            ordered: true,
            lease: chrono::Duration::minutes(2),
        }
    }

    async fn render(&self, out: &Outgoing) -> Result<Tweet, SendError> {
        let (Message::Update(notice), Contact::Account(account)) = (&out.message, &out.contact)
        else {
            return Err(SendError::Permanent(
                "an X post is an update to the connected account".into(),
            ));
        };
        Ok(Tweet {
            text: crate::notify::compose::tweet_text(
                &notice.page.url,
                &notice.incident,
                &notice.update,
            ),
            reply_to: out.reply_to.clone(),
            account: account.clone(),
        })
    }

    async fn send(&self, _out: &Outgoing, tweet: Tweet) -> Result<Receipt, SendError> {
        let id = self.client.post_tweet(&tweet).await?;
        tracing::info!(tweet.id = %id, "posted to X");
        Ok(id)
    }
}

/// How long one call to X may take before it counts as a timeout (and is retried).
const TIMEOUT: Duration = Duration::from_secs(15);
/// When X answers 429 without saying when to come back.
const DEFAULT_RATE_WAIT: chrono::Duration = chrono::Duration::seconds(60);

/// The app's own key pair and where X lives.
#[derive(Clone)]
pub struct XSettings {
    /// `https://api.twitter.com`, without a trailing slash.
    pub api_base: String,
    pub consumer_key: String,
    pub consumer_secret: String,
}

impl std::fmt::Debug for XSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XSettings")
            .field("api_base", &self.api_base)
            .field("consumer_key", &"..")
            .finish()
    }
}

/// The connected account's access token, opened from its sealed form only to sign a request.
#[derive(Clone)]
pub struct AccessToken {
    pub token: String,
    pub secret: String,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(..)")
    }
}

/// What the access-token leg returns.
#[derive(Debug, Clone)]
pub struct Connected {
    pub access: AccessToken,
    pub user_id: String,
    pub username: String,
}

/// A temporary request token, the first leg.
#[derive(Debug, Clone)]
pub struct RequestToken {
    pub token: String,
    pub secret: String,
}

/// One post: its text, the post it answers (to thread an incident), and whose account it is.
#[derive(Debug, Clone)]
pub struct Tweet {
    pub text: String,
    pub reply_to: Option<String>,
    pub account: AccessToken,
}

/// Why a call to X failed, for the connect flow (posting maps onto `SendError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XError {
    #[error("X could not be reached: {0}")]
    Unreachable(String),
    #[error("X refused the request ({status}): {detail}")]
    Refused { status: u16, detail: String },
    #[error("X answered something Herald cannot read: {0}")]
    Unreadable(String),
}

#[derive(Clone)]
pub struct XClient {
    http: reqwest::Client,
    settings: XSettings,
}

impl XClient {
    pub fn new(settings: XSettings) -> anyhow::Result<XClient> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Herald/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(XClient { http, settings })
    }

    pub fn settings(&self) -> &XSettings {
        &self.settings
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.api_base.trim_end_matches('/'))
    }

    fn signer<'a>(
        &'a self,
        token: Option<(&'a str, &'a str)>,
    ) -> oauth::Builder<'a, oauth::HmacSha1, &'a str> {
        let client = oauth::Credentials::new(
            self.settings.consumer_key.as_str(),
            self.settings.consumer_secret.as_str(),
        );
        let mut builder = oauth::Builder::new(client, oauth::HMAC_SHA1);
        if let Some((token, secret)) = token {
            builder.token(oauth::Credentials::new(token, secret));
        }
        builder
    }

    /// Leg one: a request token bound to `callback`.
    pub async fn request_token(&self, callback: &str) -> Result<RequestToken, XError> {
        let url = self.url("/oauth/request_token");
        let mut signer = self.signer(None);
        signer.callback(callback);
        let authorization = signer.post(&url, &());
        let form = self.oauth_call(&url, authorization).await?;
        if form.get("oauth_callback_confirmed").map(String::as_str) != Some("true") {
            return Err(XError::Unreadable(
                "the request token came without oauth_callback_confirmed=true".into(),
            ));
        }
        Ok(RequestToken {
            token: take(&form, "oauth_token")?,
            secret: take(&form, "oauth_token_secret")?,
        })
    }

    /// Leg two: where the admin's browser goes to approve the app.
    pub fn authorize_url(&self, request_token: &str) -> String {
        let mut url = self.url("/oauth/authorize?");
        url.push_str(
            &serde_urlencoded::to_string([("oauth_token", request_token)]).unwrap_or_default(),
        );
        url
    }

    /// Leg three: trades the approved request token and its verifier for an access token.
    pub async fn access_token(
        &self,
        request: &RequestToken,
        verifier: &str,
    ) -> Result<Connected, XError> {
        let url = self.url("/oauth/access_token");
        let mut signer = self.signer(Some((&request.token, &request.secret)));
        signer.verifier(verifier);
        let authorization = signer.post(&url, &());
        let form = self.oauth_call(&url, authorization).await?;
        Ok(Connected {
            access: AccessToken {
                token: take(&form, "oauth_token")?,
                secret: take(&form, "oauth_token_secret")?,
            },
            user_id: take(&form, "user_id")?,
            username: take(&form, "screen_name")?,
        })
    }

    /// The account a token belongs to: `(id, username)`. Used by `herald x connect`.
    pub async fn me(&self, access: &AccessToken) -> Result<(String, String), XError> {
        let url = self.url("/2/users/me");
        let authorization = self
            .signer(Some((&access.token, &access.secret)))
            .get(&url, &());
        let body = self.call(self.http.get(&url), authorization).await?;
        #[derive(Deserialize)]
        struct Me {
            data: User,
        }
        #[derive(Deserialize)]
        struct User {
            id: String,
            username: String,
        }
        let me: Me = serde_json::from_str(&body).map_err(|e| XError::Unreadable(e.to_string()))?;
        Ok((me.data.id, me.data.username))
    }

    /// A POST to one of the OAuth legs; X answers with a form-encoded body.
    async fn oauth_call(
        &self,
        url: &str,
        authorization: String,
    ) -> Result<std::collections::HashMap<String, String>, XError> {
        let body = self.call(self.http.post(url), authorization).await?;
        serde_urlencoded::from_str(&body).map_err(|e| XError::Unreadable(e.to_string()))
    }

    /// Sends a signed request of the connect flow; the body of a 2xx answer.
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        authorization: String,
    ) -> Result<String, XError> {
        let response = request
            .header(reqwest::header::AUTHORIZATION, authorization)
            .send()
            .await
            .map_err(|e| XError::Unreachable(e.to_string()))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| XError::Unreachable(e.to_string()))?;
        if !status.is_success() {
            return Err(XError::Refused {
                status: status.as_u16(),
                detail: problem_detail(&body),
            });
        }
        Ok(body)
    }

    /// Posts one tweet; returns its id.
    pub async fn post_tweet(&self, tweet: &Tweet) -> Result<String, SendError> {
        let url = self.url("/2/tweets");
        let mut body = serde_json::json!({ "text": tweet.text });
        if let Some(reply_to) = &tweet.reply_to {
            body["reply"] = serde_json::json!({ "in_reply_to_tweet_id": reply_to });
        }
        // A JSON body is not part of an OAuth 1.0a signature: only the URL and method are.
        let authorization = self
            .signer(Some((&tweet.account.token, &tweet.account.secret)))
            .post(&url, &());
        let response = self
            .http
            .post(&url)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    SendError::Transient(format!("X did not answer in {}s", TIMEOUT.as_secs()))
                } else {
                    SendError::Transient(format!("X could not be reached: {e}"))
                }
            })?;
        let status = response.status();
        let reset = response
            .headers()
            .get("x-rate-limit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
            .and_then(|secs| Utc.timestamp_opt(secs, 0).single());
        let text = response
            .text()
            .await
            .map_err(|e| SendError::Transient(format!("X's answer was cut off: {e}")))?;
        classify(status.as_u16(), &text, reset, Utc::now())
    }
}

/// Maps X's answer to a post onto what the worker does next.
fn classify(
    status: u16,
    body: &str,
    reset: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<String, SendError> {
    let detail = || format!("X answered {status}: {}", problem_detail(body));
    match status {
        200 | 201 => {
            #[derive(Deserialize)]
            struct Created {
                data: CreatedData,
            }
            #[derive(Deserialize)]
            struct CreatedData {
                id: String,
            }
            serde_json::from_str::<Created>(body)
                .map(|c| c.data.id)
                .map_err(|e| {
                    SendError::Permanent(format!(
                        "X accepted the post but its answer is unreadable ({e}): {body}"
                    ))
                })
        }
        429 => Err(SendError::RateLimited {
            until: reset
                .filter(|r| *r > now)
                .unwrap_or(now + DEFAULT_RATE_WAIT),
            error: detail(),
        }),
        401 => Err(SendError::Unauthorized(detail())),
        408 | 500..=599 => Err(SendError::Transient(detail())),
        _ => Err(SendError::Permanent(detail())),
    }
}

/// The human part of an X error body: v2 problem (`detail`, `title`, `errors[].message`) or
/// v1.1 (`errors[].message`); the raw body when it is neither.
fn problem_detail(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        let trimmed = body.trim();
        return if trimmed.is_empty() {
            "(no body)".to_string()
        } else {
            trimmed.chars().take(500).collect()
        };
    };
    let mut parts: Vec<String> = Vec::new();
    for key in ["detail", "title"] {
        if let Some(s) = value.get(key).and_then(|v| v.as_str()) {
            parts.push(s.to_string());
            break;
        }
    }
    if let Some(errors) = value.get("errors").and_then(|v| v.as_array()) {
        for e in errors {
            if let Some(m) = e.get("message").and_then(|v| v.as_str()) {
                parts.push(m.to_string());
            }
        }
    }
    if parts.is_empty() {
        body.chars().take(500).collect()
    } else {
        parts.join(" ")
    }
}

fn take(form: &std::collections::HashMap<String, String>, key: &str) -> Result<String, XError> {
    form.get(key)
        .filter(|v| !v.is_empty())
        .cloned()
        .ok_or_else(|| XError::Unreadable(format!("X's answer has no {key}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_what_the_worker_does() {
        let now = Utc::now();
        assert_eq!(
            classify(201, r#"{"data":{"id":"1790","text":"hi"}}"#, None, now),
            Ok("1790".to_string())
        );
        let reset = now + chrono::Duration::seconds(90);
        match classify(
            429,
            r#"{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}"#,
            Some(reset),
            now,
        ) {
            Err(SendError::RateLimited { until, .. }) => assert_eq!(until, reset),
            other => panic!("{other:?}"),
        }
        match classify(429, "", None, now) {
            Err(SendError::RateLimited { until, .. }) => assert_eq!(until, now + DEFAULT_RATE_WAIT),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(
                401,
                r#"{"title":"Unauthorized","detail":"Unauthorized"}"#,
                None,
                now
            ),
            Err(SendError::Unauthorized(_))
        ));
        assert!(matches!(
            classify(503, "", None, now),
            Err(SendError::Transient(_))
        ));
        assert_eq!(
            classify(
                403,
                r#"{"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403}"#,
                None,
                now
            ),
            Err(SendError::Permanent(
                "X answered 403: You are not allowed to create a Tweet with duplicate content."
                    .into()
            ))
        );
        let invalid = r#"{"errors":[{"parameters":{"text":[""]},"message":"text is empty"}],"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.twitter.com/2/problems/invalid-request"}"#;
        assert_eq!(
            classify(400, invalid, None, now),
            Err(SendError::Permanent(
                "X answered 400: One or more parameters to your request was invalid. text is empty"
                    .into()
            ))
        );
    }
}
