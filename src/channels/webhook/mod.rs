//! Webhook subscriptions: the generic webhook channel (Statuspage's envelopes, signed per
//! Standard Webhooks) and what every HTTP hook channel shares: the guarded client
//! (`safe_http`), shortening text to a platform's limit (`text`), and telling the kind of a hook
//! from its URL. Slack, Discord and Teams are their own modules beside this one; their URL is
//! their secret, so they carry no signature.

pub mod safe_http;
pub mod signature;
pub mod statuspage;
pub mod text;

use chrono::Utc;
use url::Url;

use super::{Channel, Contact, HookContact, Message, Outgoing, Policy, Receipt, SendError};
use crate::domain::ComponentStatus;
pub use safe_http::SafeClient;

/// The generic webhook channel: POSTs Statuspage's JSON envelopes, signed.
pub struct Webhook {
    http: SafeClient,
}

impl Webhook {
    /// A webhook channel sending through `http`.
    pub fn new(http: SafeClient) -> Self {
        Webhook { http }
    }
}

/// One HTTP POST to a hook, ready to send: its headers and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPost {
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body, as sent and as signed.
    pub body: Vec<u8>,
}

impl HttpPost {
    /// A JSON body with its content type, for the chat channels.
    pub fn json(value: &serde_json::Value) -> Result<HttpPost, SendError> {
        Ok(HttpPost {
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(value)
                .map_err(|e| SendError::Permanent(format!("the message cannot be written: {e}")))?,
        })
    }
}

/// The `User-Agent` of generic webhooks, so a receiver's logs say who calls.
const USER_AGENT: &str = concat!("Herald-Webhooks/", env!("CARGO_PKG_VERSION"));

/// The hook a delivery goes to; any other contact is a wiring mistake, refused for good.
pub(crate) fn hook_contact(out: &Outgoing) -> Result<&HookContact, SendError> {
    match &out.contact {
        Contact::Hook(hook) => Ok(hook),
        other => {
            let contact = match other {
                Contact::Email(_) => "an email address",
                Contact::Account(_) => "the connected X account",
                Contact::Hook(_) => "a webhook",
            };
            Err(SendError::Permanent(format!(
                "delivery {} on channel {} has no webhook to go to (its contact is {contact})",
                out.delivery_id, out.channel
            )))
        }
    }
}

/// The refusal for a message a hook channel does not carry (confirmations, alerts).
pub(crate) fn not_carried(kind: &str, message: &Message) -> SendError {
    let what = match message {
        Message::Confirmation => "a confirmation mail",
        Message::Alert { .. } => "an alert to a person",
        Message::Update(_) => "an update",
        Message::Test(_) => "a test",
    };
    SendError::Permanent(format!(
        "a {kind} hook carries status updates and tests, not {what}"
    ))
}

/// Sends a rendered post to the delivery's hook and returns the answer for classifying.
pub(crate) async fn post(
    http: &SafeClient,
    out: &Outgoing,
    rendered: HttpPost,
) -> Result<safe_http::Answer, SendError> {
    let hook = hook_contact(out)?;
    http.post(&hook.url, &rendered.headers, rendered.body).await
}

impl Channel for Webhook {
    /// The incident envelope, then one component envelope per component status the update
    /// changed, as Statuspage sends them.
    type Rendered = Vec<HttpPost>;

    fn names(&self) -> &'static [&'static str] {
        &["webhook"]
    }

    fn policy(&self) -> Policy {
        Policy {
            batch: 64,
            concurrency: 16,
            // With the outbox's backoff (5 s doubling, capped at 1 h) 30 attempts span about a
            // day: ten waits reach the cap in about 85 minutes, the other nineteen are an hour
            // each. A receiver down for a night's deploy still gets the update.
            max_attempts: 30,
            ordered: false,
            lease: chrono::Duration::minutes(2),
        }
    }

    async fn render(&self, out: &Outgoing) -> Result<Vec<HttpPost>, SendError> {
        let hook = hook_contact(out)?;
        let now = Utc::now();
        // The same id on every attempt of a delivery, so a receiver can drop repeats.
        let msg_id = format!("msg_{}", out.delivery_id);
        let mut envelopes = match &out.message {
            Message::Update(notice) => {
                let mut all = vec![(
                    msg_id.clone(),
                    statuspage::incident_envelope(notice, &hook.unsubscribe_url, now),
                )];
                for change in &notice.changes {
                    let component = change.component_json["id"].as_str().unwrap_or_default();
                    all.push((
                        format!("{msg_id}_c{component}"),
                        statuspage::component_envelope(change, &hook.unsubscribe_url, now),
                    ));
                }
                all
            }
            // A test is no queued delivery: an id of its own, so a receiver that drops repeats
            // by id never takes one test for another.
            Message::Test(page) => vec![(
                format!("msg_test_{:016x}", rand::random::<u64>()),
                statuspage::test_envelope(page, &hook.unsubscribe_url, now),
            )],
            other => return Err(not_carried("webhook", other)),
        };
        let secret = hook.secret.as_deref().ok_or_else(|| {
            SendError::Permanent(format!(
                "webhook {} has no signing secret, so its receiver could not verify it; \
                 register the webhook again",
                hook.id
            ))
        })?;
        let timestamp = now.timestamp();
        envelopes
            .drain(..)
            .map(|(msg_id, envelope)| {
                let body = serde_json::to_vec(&envelope).map_err(|e| {
                    SendError::Permanent(format!("the webhook body cannot be written: {e}"))
                })?;
                let signature =
                    signature::sign(secret, &msg_id, timestamp, &body).map_err(|e| {
                        SendError::Permanent(format!("webhook {} cannot be signed: {e}", hook.id))
                    })?;
                Ok(HttpPost {
                    headers: vec![
                        ("webhook-id".into(), msg_id),
                        ("webhook-timestamp".into(), timestamp.to_string()),
                        ("webhook-signature".into(), signature),
                        ("content-type".into(), "application/json".into()),
                        ("user-agent".into(), USER_AGENT.into()),
                    ],
                    body,
                })
            })
            .collect()
    }

    /// Posts each envelope in turn; the delivery is taken when all were. A retry sends them
    /// all again with the same ids, so a receiver drops the ones it already has.
    async fn send(&self, out: &Outgoing, rendered: Vec<HttpPost>) -> Result<Receipt, SendError> {
        let mut receipt = None;
        for post_one in rendered {
            let answer = post(&self.http, out, post_one).await?;
            let taken = safe_http::classify(&answer, Utc::now())?;
            receipt.get_or_insert(taken);
        }
        receipt.ok_or_else(|| SendError::Permanent("nothing to send".into()))
    }
}

/// A chat platform's incoming webhook (Slack, Discord, Teams): the only things that differ
/// between them are how a message looks and how an answer reads.
pub trait ChatFormat: Send + Sync + 'static {
    /// The delivery channel name.
    const NAME: &'static str;
    /// What people call it, in errors.
    const LABEL: &'static str;
    /// The platform's message for an update.
    fn message(notice: &super::Notice) -> serde_json::Value;
    /// The message a new subscription must accept.
    fn test_message(page: &super::PageInfo) -> serde_json::Value;
    /// What the platform's answer means.
    fn classify(
        answer: &safe_http::Answer,
        now: chrono::DateTime<Utc>,
    ) -> Result<Receipt, SendError>;
}

/// The chat channels: one JSON POST per delivery to the subscription's URL (itself the
/// credential: there is no secret and no signature), in the platform's format.
pub struct Chat<F: ChatFormat> {
    http: SafeClient,
    format: std::marker::PhantomData<F>,
}

impl<F: ChatFormat> Chat<F> {
    /// A chat channel sending through `http`.
    pub fn new(http: SafeClient) -> Self {
        Chat {
            http,
            format: std::marker::PhantomData,
        }
    }
}

impl<F: ChatFormat> Channel for Chat<F> {
    type Rendered = HttpPost;

    fn names(&self) -> &'static [&'static str] {
        &[F::NAME]
    }

    fn policy(&self) -> Policy {
        Policy {
            batch: 32,
            concurrency: 8,
            // About a day with the outbox's backoff (see the webhook channel).
            max_attempts: 30,
            ordered: false,
            lease: chrono::Duration::minutes(2),
        }
    }

    async fn render(&self, out: &Outgoing) -> Result<HttpPost, SendError> {
        hook_contact(out)?;
        match &out.message {
            Message::Update(notice) => HttpPost::json(&F::message(notice)),
            Message::Test(page) => HttpPost::json(&F::test_message(page)),
            other => Err(not_carried(F::LABEL, other)),
        }
    }

    async fn send(&self, out: &Outgoing, rendered: HttpPost) -> Result<Receipt, SendError> {
        let answer = post(&self.http, out, rendered).await?;
        F::classify(&answer, Utc::now())
    }
}

/// The components an update names with their new status: those it changed, else those the
/// incident names as they stand.
pub(crate) fn listed_components(notice: &super::Notice) -> Vec<(String, ComponentStatus)> {
    if notice.update.affected.is_empty() {
        notice
            .components
            .iter()
            .map(|c| (c.name.clone(), c.status))
            .collect()
    } else {
        notice
            .update
            .affected
            .iter()
            .map(|a| (a.name.clone(), a.new_status))
            .collect()
    }
}

/// The kind of hook a URL is, so a person can paste any of them into one form: Slack's incoming
/// webhooks, Discord's channel webhooks, Teams' Workflows (and the old Office 365 connectors),
/// else a generic webhook.
pub fn kind_for_url(url: &Url) -> &'static str {
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let under = |domain: &str| host.ends_with(&format!(".{domain}"));
    if host == "hooks.slack.com" {
        return "slack";
    }
    let discord_host = ["discord.com", "discordapp.com"]
        .iter()
        .any(|d| host == *d || under(d));
    if discord_host && is_discord_webhook_path(url.path()) {
        return "discord";
    }
    if ["webhook.office.com", "logic.azure.com", "powerplatform.com"]
        .iter()
        .any(|d| under(d))
    {
        return "teams";
    }
    "webhook"
}

/// `/api/webhooks/…`, or with an API version: `/api/v10/webhooks/…`.
fn is_discord_webhook_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/") else {
        return false;
    };
    let rest = match rest.split_once('/') {
        Some((version, rest))
            if version.len() > 1
                && version.starts_with('v')
                && version[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            rest
        }
        _ => rest,
    };
    rest.starts_with("webhooks/")
}

/// A notice as the outbox would hand it over, for every channel module's tests.
#[cfg(test)]
pub(crate) fn sample_notice() -> super::Notice {
    use crate::domain::{
        AffectedComponent, Component, ComponentStatus, Impact, Incident, IncidentKind,
        IncidentStatus, IncidentUpdate,
    };
    use chrono::TimeZone;

    let at = |h, m| Utc.with_ymd_and_hms(2024, 5, 1, h, m, 0).unwrap();
    let component = |id, name: &str, status| Component {
        id,
        name: name.into(),
        description: String::new(),
        group: None,
        position: id,
        status,
        created_at: at(0, 0),
        updated_at: at(12, 0),
        show_uptime: true,
        tampered: false,
    };
    let components = vec![
        component(1, "API", ComponentStatus::MajorOutage),
        component(2, "Dashboard", ComponentStatus::DegradedPerformance),
    ];
    let update = IncidentUpdate {
        id: 41,
        incident_id: 7,
        status: IncidentStatus::Identified,
        body: "We found the cause: a **bad deploy**. See [the runbook](https://runbooks.acme.example/api) & stay <tuned>."
            .into(),
        display_at: at(12, 0),
        created_at: at(12, 0),
        updated_at: at(12, 0),
        affected: vec![
            AffectedComponent {
                component_id: 1,
                name: "API".into(),
                old_status: ComponentStatus::Operational,
                new_status: ComponentStatus::MajorOutage,
            },
            AffectedComponent {
                component_id: 2,
                name: "Dashboard".into(),
                old_status: ComponentStatus::Operational,
                new_status: ComponentStatus::DegradedPerformance,
            },
        ],
        deliver_notifications: true,
        custom_tweet: None,
        tweet_id: None,
        edited_at: None,
        tampered: false,
    };
    let incident = Incident {
        id: 7,
        kind: IncidentKind::Incident,
        name: "Elevated API errors".into(),
        status: IncidentStatus::Identified,
        impact: Impact::Major,
        created_at: at(11, 50),
        updated_at: at(12, 0),
        started_at: at(11, 50),
        monitoring_at: None,
        resolved_at: None,
        scheduled_for: None,
        scheduled_until: None,
        updates: vec![update.clone()],
        component_ids: vec![1, 2],
        postmortem: None,
        plan: Default::default(),
        tampered: false,
    };
    let site = crate::render::Site {
        name: "Acme".into(),
        url: "https://status.acme.example".into(),
        page_id: "acmepage0001".into(),
        brand: std::sync::Arc::new(crate::render::brand::Brand::new(
            crate::domain::branding::Branding::named("Acme"),
        )),
    };
    let incident_json = crate::render::api::incident_value(&site, &components, &incident);
    super::Notice {
        page: super::PageInfo {
            id: site.page_id.clone(),
            name: site.name.clone(),
            url: site.url.clone(),
            indicator: "major".into(),
            description: "Partial System Outage".into(),
        },
        incident_url: format!("{}/incidents/7", site.url),
        incident,
        update,
        components,
        incident_json,
        statement: false,
        changes: Vec::new(),
    }
}

/// A delivery of `message` to a hook of `kind`, for the channel modules' tests.
#[cfg(test)]
pub(crate) fn sample_outgoing(kind: &str, message: Message) -> Outgoing {
    Outgoing {
        delivery_id: 90210,
        channel: kind.into(),
        recipient_id: 3,
        contact: Contact::Hook(HookContact {
            id: 3,
            kind: kind.into(),
            url: "https://receiver.example/hook".into(),
            secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
            unsubscribe_url: "https://status.acme.example/hooks/3/unsubscribe?t=abc".into(),
        }),
        message,
        attempts: 1,
        reply_to: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn kind(raw: &str) -> &'static str {
        kind_for_url(&Url::parse(raw).unwrap())
    }

    #[test]
    fn the_kind_of_hook_is_told_by_its_url() {
        assert_eq!(kind("https://hooks.slack.com/services/T0/B0/xyz"), "slack");
        assert_eq!(kind("https://discord.com/api/webhooks/1/abc"), "discord");
        assert_eq!(kind("https://discordapp.com/api/webhooks/1/abc"), "discord");
        assert_eq!(
            kind("https://ptb.discord.com/api/v10/webhooks/1/abc"),
            "discord"
        );
        assert_eq!(kind("https://discord.com/channels/1/2"), "webhook");
        assert_eq!(
            kind("https://acme.webhook.office.com/webhookb2/x/IncomingWebhook/y/z"),
            "teams"
        );
        assert_eq!(
            kind("https://prod-12.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke"),
            "teams"
        );
        assert_eq!(
            kind("https://default123.environment.api.powerplatform.com/powerautomate/x"),
            "teams"
        );
        assert_eq!(kind("https://example.com/hooks.slack.com"), "webhook");
        assert_eq!(kind("https://hooks.slack.com.evil.example/x"), "webhook");
        assert_eq!(kind("https://notdiscord.com/api/webhooks/1/abc"), "webhook");
        assert_eq!(kind("https://logic.azure.com.evil.example/x"), "webhook");
    }

    #[tokio::test]
    async fn an_update_is_a_signed_statuspage_envelope() {
        let webhook = Webhook::new(SafeClient::new(vec![]).unwrap());
        let out = sample_outgoing("webhook", Message::Update(Arc::new(sample_notice())));
        let posts = webhook.render(&out).await.unwrap();
        assert_eq!(
            posts.len(),
            1,
            "no component changes: the incident envelope only"
        );
        let post = &posts[0];
        let header = |name: &str| {
            post.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(header("webhook-id"), "msg_90210");
        assert_eq!(header("content-type"), "application/json");
        assert!(header("user-agent").starts_with("Herald-Webhooks/"));
        let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
        assert!((Utc::now().timestamp() - timestamp).abs() < 60);
        assert_eq!(
            header("webhook-signature"),
            signature::sign(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_90210",
                timestamp,
                &post.body
            )
            .unwrap()
        );
        let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
        assert_eq!(body["incident"]["name"], "Elevated API errors");
        assert_eq!(
            body["meta"]["unsubscribe"],
            "https://status.acme.example/hooks/3/unsubscribe?t=abc"
        );

        let again = webhook.render(&out).await.unwrap();
        assert_eq!(again[0].headers[0], post.headers[0], "a retry keeps its id");
    }

    #[tokio::test]
    async fn a_test_is_meta_and_page_and_other_messages_are_refused() {
        let webhook = Webhook::new(SafeClient::new(vec![]).unwrap());
        let page = Arc::new(sample_notice().page);
        let posts = webhook
            .render(&sample_outgoing("webhook", Message::Test(page)))
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&posts[0].body).unwrap();
        assert!(body.get("incident").is_none());
        let again = webhook
            .render(&sample_outgoing(
                "webhook",
                Message::Test(Arc::new(sample_notice().page)),
            ))
            .await
            .unwrap();
        let id = |p: &HttpPost| p.headers[0].1.clone();
        assert!(id(&posts[0]).starts_with("msg_test_"), "{}", id(&posts[0]));
        assert_ne!(id(&posts[0]), id(&again[0]), "each test has its own id");
        assert_eq!(body["page"]["id"], "acmepage0001");

        let alert = sample_outgoing(
            "webhook",
            Message::Alert {
                subject: "s".into(),
                body: "b".into(),
            },
        );
        assert!(matches!(
            webhook.render(&alert).await,
            Err(SendError::Permanent(_))
        ));
        let mut email = sample_outgoing("webhook", Message::Confirmation);
        email.contact = Contact::Email("a@example.com".into());
        assert!(matches!(
            webhook.render(&email).await,
            Err(SendError::Permanent(_))
        ));
        let mut unsigned = sample_outgoing("webhook", Message::Update(Arc::new(sample_notice())));
        if let Contact::Hook(h) = &mut unsigned.contact {
            h.secret = None;
        }
        assert!(matches!(
            webhook.render(&unsigned).await,
            Err(SendError::Permanent(_))
        ));
    }
}
