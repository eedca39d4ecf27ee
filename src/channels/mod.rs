//! The systems Herald sends through. A channel is one module here and supplies only what is its
//! own: who receives its messages (`Audience`), how a message looks (`Channel::render`), how to
//! send it and how to read the answer (`Channel::send`, which classifies the answer as a
//! `SendError`). Everything else, the same for every channel, is the outbox's
//! (`notify::outbox`): claiming under the kill switch and a lease, checking stamps, holding a
//! channel that asks to wait, retrying with jittered backoff, recording each outcome.
//!
//! Adding a channel: its module here, its line in `REGISTRY`, and its line in
//! `notify::outbox::start`.

use std::future::Future;
use std::sync::Arc;

use crate::domain::{Component, Incident, IncidentUpdate};

pub mod discord;
pub mod dkim;
pub mod email;
pub mod slack;
pub mod teams;
pub mod webhook;
pub mod x;

/// Who a channel's deliveries go to: the fan-out expands an update into one delivery per
/// recipient of each channel the update is sent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Confirmed email subscribers who follow the update's components.
    Subscribers,
    /// Active webhook subscriptions of this kind (the `hooks` table) that follow the update's
    /// components.
    Hooks(&'static str),
    /// The one connected account (X): recipient 0.
    Account,
}

/// A channel an update can be sent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelInfo {
    /// The name on deliveries, in the API's `channels` and on the admin's progress table.
    pub name: &'static str,
    /// What people read: "Email", "Slack".
    pub label: &'static str,
    pub audience: Audience,
}

/// Every channel an update can go out on, in the order the admin shows them.
pub const REGISTRY: &[ChannelInfo] = &[
    ChannelInfo {
        name: names::EMAIL,
        label: "Email",
        audience: Audience::Subscribers,
    },
    ChannelInfo {
        name: names::X,
        label: "X",
        audience: Audience::Account,
    },
    ChannelInfo {
        name: "webhook",
        label: "Webhooks",
        audience: Audience::Hooks("webhook"),
    },
    ChannelInfo {
        name: "slack",
        label: "Slack",
        audience: Audience::Hooks("slack"),
    },
    ChannelInfo {
        name: "discord",
        label: "Discord",
        audience: Audience::Hooks("discord"),
    },
    ChannelInfo {
        name: "teams",
        label: "Microsoft Teams",
        audience: Audience::Hooks("teams"),
    },
];

/// A channel by name.
pub fn info(name: &str) -> Option<&'static ChannelInfo> {
    REGISTRY.iter().find(|c| c.name == name)
}

/// The names on deliveries.
pub mod names {
    /// An update's notification to one email subscriber.
    pub const EMAIL: &str = "email";
    /// A double opt-in confirmation mail (email channel).
    pub const CONFIRM: &str = "confirm";
    /// A message about Herald itself to one admin; the kill switch does not hold it back.
    pub const ALERT: &str = "alert";
    /// A message about a subscription to its owner (a webhook disabled), by email.
    pub const NOTICE: &str = "notice";
    /// An update posted to the connected X account (recipient 0).
    pub const X: &str = "x";
    /// A reminder to one email subscriber that a maintenance starts soon: a message about the
    /// maintenance's first update (email channel), queued once by the scheduler.
    pub const REMINDER: &str = "reminder";
}

/// How the outbox treats a channel's deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Deliveries claimed at once.
    pub batch: i64,
    /// Messages in flight at once, over every loop of this instance.
    pub concurrency: usize,
    /// Attempts before a delivery is given up as dead.
    pub max_attempts: i32,
    /// One at a time, strictly in queue order, each answering the channel's previous post of the
    /// same incident (X threads): nothing is claimed while an earlier one is unsent.
    pub ordered: bool,
    /// How long a claim holds before another instance may take the delivery.
    pub lease: chrono::Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            batch: 64,
            concurrency: 8,
            max_attempts: 8,
            ordered: false,
            lease: chrono::Duration::minutes(5),
        }
    }
}

/// The page a message speaks for, as the JSON API describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct PageInfo {
    pub id: String,
    pub name: String,
    /// The public URL, without a trailing slash.
    pub url: String,
    /// Statuspage's `status.indicator`: none, minor, major, critical or maintenance.
    pub indicator: String,
    pub description: String,
}

/// What one update says, read and checked (stamps) once per batch by the outbox, for every
/// channel to render in its own way.
#[derive(Debug, Clone)]
pub struct Notice {
    pub page: PageInfo,
    pub incident: Incident,
    /// The update being sent (also among `incident.updates`).
    pub update: IncidentUpdate,
    /// `{page.url}/incidents/{id}`.
    pub incident_url: String,
    /// The components the incident names, as they stand now.
    pub components: Vec<Component>,
    /// The incident exactly as `/api/v2/incidents.json` shows it.
    pub incident_json: serde_json::Value,
    /// This is a breach statement: every channel sends it despite a pause.
    pub statement: bool,
    /// The component status changes the update made, for channels that announce them on their
    /// own (Statuspage's component webhooks).
    pub changes: Vec<ComponentChange>,
}

/// A component's status change, for channels that announce them on their own (Statuspage's
/// component webhooks).
#[derive(Debug, Clone)]
pub struct ComponentChange {
    pub page: PageInfo,
    /// The component exactly as `/api/v2/components.json` shows it.
    pub component_json: serde_json::Value,
    /// `component_update {id, component_id, old_status, new_status, created_at}`.
    pub component_update_json: serde_json::Value,
}

/// What a delivery carries.
#[derive(Debug, Clone)]
pub enum Message {
    Update(Arc<Notice>),
    /// A double opt-in confirmation (email).
    Confirmation,
    /// A message to a person about Herald or their subscription: subject and plain text.
    Alert {
        subject: String,
        body: String,
    },
    /// The test delivery a new webhook must answer before it is active.
    Test(Arc<PageInfo>),
}

/// Where one delivery goes, as the outbox read it for this batch.
#[derive(Clone)]
pub enum Contact {
    /// An email address (also the delivery's address).
    Email(String),
    /// A webhook subscription: where to post, how to sign, what kind of body.
    Hook(HookContact),
    /// The connected account's opened access token.
    Account(x::AccessToken),
}

/// An opened webhook subscription.
#[derive(Clone)]
pub struct HookContact {
    pub id: i64,
    /// webhook, slack, discord or teams.
    pub kind: String,
    pub url: String,
    /// The Standard Webhooks secret, `whsec_…` (generic webhooks only).
    pub secret: Option<String>,
    /// The subscription's own unsubscribe link (Statuspage's `meta.unsubscribe`).
    pub unsubscribe_url: String,
}

impl std::fmt::Debug for Contact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Contact::Email(a) => write!(f, "Email({a})"),
            Contact::Hook(h) => write!(f, "Hook({}, {})", h.id, h.kind),
            Contact::Account(_) => f.write_str("Account(..)"),
        }
    }
}

/// One delivery handed to a channel.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub delivery_id: i64,
    /// The delivery's channel name (a channel may carry several, as email carries confirmations).
    pub channel: String,
    pub recipient_id: i64,
    pub contact: Contact,
    pub message: Message,
    /// Attempts so far, this one included.
    pub attempts: i32,
    /// For ordered channels: the receipt of the channel's last post about the same incident.
    pub reply_to: Option<String>,
}

/// What the far end gave back for a message it took: an SMTP reply, a post's id, a status line.
pub type Receipt = String;

/// One outbound channel. `render` builds the message for one delivery (CPU only, no IO the
/// kill switch must hold); `send` puts it on the wire and classifies the answer. The outbox
/// reads the stored kill switch between the two, once the send holds its place.
pub trait Channel: Send + Sync + 'static {
    type Rendered: Send + 'static;

    /// The delivery channel names this channel sends (the first is its own name).
    fn names(&self) -> &'static [&'static str];

    fn policy(&self) -> Policy;

    fn render(
        &self,
        out: &Outgoing,
    ) -> impl Future<Output = Result<Self::Rendered, SendError>> + Send;

    fn send(
        &self,
        out: &Outgoing,
        rendered: Self::Rendered,
    ) -> impl Future<Output = Result<Receipt, SendError>> + Send;
}

/// Why a send failed, in the terms the outbox acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The recipient or message was refused for good (SMTP 5xx, HTTP 4xx): do not try again.
    Permanent(String),
    /// Refused for now (SMTP 4xx, HTTP 5xx, timeouts): try this message again later.
    Transient(String),
    /// The service could not be reached at all: nothing is wrong with the message; hold the
    /// whole channel back for a while.
    Unreachable(String),
    /// The service asks every request of this channel to wait until `until` (X's 429 with
    /// x-rate-limit-reset).
    RateLimited {
        until: chrono::DateTime<chrono::Utc>,
        error: String,
    },
    /// This recipient asks to wait until `until` (a webhook receiver's 429 or 503 with
    /// `Retry-After`); the others go on.
    RetryAfter {
        until: chrono::DateTime<chrono::Utc>,
        error: String,
    },
    /// The account's credentials were refused (X's 401): the channel is refused, nothing of it
    /// goes out until an admin reconnects it, and the admins are told.
    Unauthorized(String),
    /// The recipient is gone for good (a webhook's 410 Gone): unsubscribe it now.
    Gone(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Permanent(m)
            | SendError::Transient(m)
            | SendError::Unreachable(m)
            | SendError::Unauthorized(m)
            | SendError::Gone(m)
            | SendError::RateLimited { error: m, .. }
            | SendError::RetryAfter { error: m, .. } => f.write_str(m),
        }
    }
}
