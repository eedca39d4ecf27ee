//! The outbox worker, one for every channel: claims due deliveries under the kill switch and a
//! lease, checks their stamps, asks the channel to render each, reads the stored kill switch
//! again right before each send, sends through the channel, classifies the answer, records
//! every outcome and backs off with jitter. A channel supplies only its audience, its rendering,
//! its sending and its reading of the answer (`channels::Channel`); every rule here holds for
//! every channel alike. Posting never waits for it; it wakes on new rows, and a crash loses
//! nothing because every claim is a lease on a row.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Notifier, TripWire, Verdict};
use crate::channels::{
    self, Audience, Channel, Contact, HookContact, Message, Notice, Outgoing, PageInfo, SendError,
};
use crate::domain::{Choice, Indicator};
use crate::render::Site;
use crate::security::seal::Sealer;
use crate::security::tripwire::{Rule, Trip};
use crate::store::{ClaimedDelivery, DeliveryOutcome, Store};

/// Retry delay after `attempts` failed tries: exponential from 5 s, capped at 1 h, with ±50 %
/// jitter so a burst of failures does not come back as one burst.
pub fn backoff(attempts: i32) -> chrono::Duration {
    let base = 5.0 * 2f64.powi(attempts.clamp(0, 20) - 1).max(1.0);
    let capped = base.min(3600.0);
    let jittered = capped * rand::thread_rng().gen_range(0.5..1.5);
    chrono::Duration::milliseconds((jittered * 1000.0) as i64)
}

/// How long to hold a channel back after it could not be reached `streak` times running.
fn channel_backoff(streak: u32) -> Duration {
    Duration::from_secs(1u64 << streak.min(4)).min(Duration::from_secs(10))
}

/// Why a delivery without a valid stamp is dead.
pub const NOT_QUEUED_BY_HERALD: &str =
    "not sent: this delivery has no valid stamp (it was queued, re-queued or re-addressed outside Herald)";

/// Up to ten ids, for a log line or an alert.
pub fn list_ids(ids: &[i64]) -> String {
    let mut shown: Vec<String> = ids.iter().take(10).map(i64::to_string).collect();
    if ids.len() > 10 {
        shown.push("...".into());
    }
    shown.join(", ")
}

/// What every channel's outbox shares: the store, the switch, the key that opens contacts.
#[derive(Clone)]
pub struct Shared {
    pub store: Store,
    pub notifier: Arc<Notifier>,
    pub sealer: Arc<Sealer>,
    /// The page's name and address, and the signer of unsubscribe links.
    pub composer: Arc<super::compose::Composer>,
    /// Trips the wire when a claimed message carries no valid stamp.
    pub trip: Option<TripWire>,
}

impl Shared {
    fn site(&self) -> std::sync::Arc<Site> {
        self.composer.site()
    }
}

/// What one step of a channel's outbox did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing was due.
    Idle,
    /// Outbound is paused (or this process fenced); nothing was claimed.
    Paused,
    /// The channel is held until then (a rate limit) or refused (`None`): nothing claimed.
    Held(Option<chrono::DateTime<chrono::Utc>>),
    /// This many deliveries were processed (sent, retried, dead or released).
    Processed(usize),
}

/// One channel's outbox. Clones share the channel, its places in flight and its streak, so
/// several loops may drain one channel side by side (each claim is atomic).
pub struct Outbox<C: Channel> {
    channel: Arc<C>,
    shared: Shared,
    /// Places for sends in flight (`Policy::concurrency`), shared by clones.
    in_flight: Arc<Semaphore>,
    /// Consecutive sends that could not reach the channel at all.
    unreachable_streak: Arc<AtomicU32>,
}

impl<C: Channel> Clone for Outbox<C> {
    fn clone(&self) -> Self {
        Outbox {
            channel: self.channel.clone(),
            shared: self.shared.clone(),
            in_flight: self.in_flight.clone(),
            unreachable_streak: self.unreachable_streak.clone(),
        }
    }
}

/// A side effect of an outcome, applied after the outcomes are recorded.
enum After {
    /// The connected account's post id goes on the update (`tweet_id`).
    PostId {
        update_id: i64,
        receipt: String,
    },
    HookDelivered(i64),
    HookFailed {
        id: i64,
        error: String,
        gave_up: bool,
    },
    HookGone {
        id: i64,
        error: String,
    },
    HoldChannel(chrono::DateTime<chrono::Utc>),
    RefuseChannel(String),
}

impl<C: Channel> Outbox<C> {
    pub fn new(channel: C, shared: Shared) -> Self {
        Outbox {
            in_flight: Arc::new(Semaphore::new(channel.policy().concurrency.max(1))),
            channel: Arc::new(channel),
            shared,
            unreachable_streak: Arc::new(AtomicU32::new(0)),
        }
    }

    fn name(&self) -> &'static str {
        self.channel.names()[0]
    }

    fn audience(&self) -> Audience {
        channels::info(self.name()).map_or(Audience::Subscribers, |c| c.audience)
    }

    async fn forged(&self, what: String) {
        tracing::error!(%what, channel = self.name(), "refusing to send a message Herald did not write");
        if let Some(trip) = &self.shared.trip {
            trip(Trip {
                rule: Rule::Forged,
                detail: what,
            })
            .await;
        }
    }

    /// Claims one batch, delivers it and records every outcome.
    pub async fn step(&self) -> anyhow::Result<Step> {
        let store = &self.shared.store;
        let notifier = &self.shared.notifier;
        if notifier.is_fenced() {
            return Ok(Step::Paused);
        }
        let hold = store.channel_hold(self.name()).await?;
        if hold.refused_at.is_some() {
            return Ok(Step::Held(None));
        }
        if let Some(until) = hold.hold_until.filter(|u| *u > crate::domain::now()) {
            return Ok(Step::Held(Some(until)));
        }
        let policy = self.channel.policy();
        let claimed = store
            .claim_deliveries(
                self.channel.names(),
                policy.batch,
                policy.ordered,
                policy.lease,
                notifier.instance(),
            )
            .await?;
        if claimed.is_empty() {
            return Ok(if notifier.is_paused() {
                Step::Paused
            } else {
                Step::Idle
            });
        }
        let count = claimed.len();
        let notices = self.notices(&claimed).await?;
        let alerts = self.alerts(&claimed).await?;
        let contacts = self.contacts(&claimed).await?;

        let mut outcomes: Vec<(i64, DeliveryOutcome)> = Vec::new();
        let mut after: Vec<After> = Vec::new();
        let mut unstamped: Vec<i64> = Vec::new();
        let mut sends = JoinSet::new();
        for delivery in claimed {
            if !store.delivery_stamp_ok(&delivery) {
                unstamped.push(delivery.id);
                outcomes.push((
                    delivery.id,
                    DeliveryOutcome::Dead {
                        error: NOT_QUEUED_BY_HERALD.into(),
                    },
                ));
                continue;
            }
            let message = match (delivery.update_id, delivery.alert_id) {
                // A reminder of a maintenance that has since started or been called off is moot.
                (Some(id), _) if delivery.channel == channels::names::REMINDER => notices
                    .get(&id)
                    .filter(|n| n.incident.is_upcoming_maintenance())
                    .cloned()
                    .map(Message::Update),
                (Some(id), _) => notices.get(&id).cloned().map(Message::Update),
                (None, Some(id)) => alerts.get(&id).cloned(),
                (None, None) if delivery.channel == channels::names::CONFIRM => {
                    Some(Message::Confirmation)
                }
                (None, None) => None,
            };
            let contact = match self.audience() {
                _ if delivery.alert_id.is_some() => Some(Contact::Email(delivery.address.clone())),
                _ => contacts.get(&delivery.recipient_id).cloned(),
            };
            let (Some(message), Some(contact)) = (message, contact) else {
                // Unsubscribed, removed, or a message that must not go out (its stamp failed).
                outcomes.push((delivery.id, DeliveryOutcome::Cancelled));
                continue;
            };
            let reply_to = match (policy.ordered, delivery.update_id) {
                (true, Some(update_id)) => store.thread_receipt(self.name(), update_id).await?,
                _ => None,
            };
            let out = Outgoing {
                delivery_id: delivery.id,
                channel: delivery.channel.clone(),
                recipient_id: delivery.recipient_id,
                contact,
                message,
                attempts: delivery.attempts,
                reply_to,
            };
            let this = self.clone();
            sends.spawn(async move {
                let (outcome, after) = this.deliver(&delivery, out).await;
                (delivery.id, outcome, after)
            });
        }
        if !unstamped.is_empty() {
            self.forged(format!(
                "{} deliveries without a valid stamp (ids {}): queued, re-queued after sending, \
                 or re-addressed outside Herald",
                unstamped.len(),
                list_ids(&unstamped)
            ))
            .await;
        }
        let record_every = 64;
        while let Some(joined) = sends.join_next().await {
            match joined {
                Ok((id, outcome, then)) => {
                    outcomes.push((id, outcome));
                    after.extend(then);
                }
                Err(e) => {
                    tracing::error!(error = %e, "a delivery task failed; its claim will expire and it will be retried")
                }
            }
            if outcomes.len() >= record_every {
                store.record_outcomes(&outcomes).await?;
                outcomes.clear();
            }
        }
        store.record_outcomes(&outcomes).await?;
        self.apply(after).await?;
        Ok(Step::Processed(count))
    }

    /// Renders, checks the switch, sends, and says what happened.
    async fn deliver(
        &self,
        d: &ClaimedDelivery,
        out: Outgoing,
    ) -> (DeliveryOutcome, Option<After>) {
        let policy = self.channel.policy();
        let rendered = match self.channel.render(&out).await {
            Ok(r) => r,
            Err(e) => {
                return (
                    DeliveryOutcome::Dead {
                        error: format!("could not build the message: {e}"),
                    },
                    None,
                )
            }
        };
        // The stored kill switch is read again right before each send, once this send holds
        // its place (concurrent sends share one read): a pause committed after this batch was
        // claimed, or while this send waited for its place, still stops it here.
        let Ok(_place) = self.in_flight.acquire().await else {
            return (
                DeliveryOutcome::Released {
                    at: crate::domain::now(),
                },
                None,
            );
        };
        let is_alert = d.channel == channels::names::ALERT;
        let statement = matches!(&out.message, Message::Update(n) if n.statement);
        if !is_alert {
            let verdict = self.shared.notifier.may_send(&self.shared.store).await;
            let go = match verdict {
                Ok(Verdict::Send) => true,
                // A pause by hand holds everything but an open breach's statement.
                Ok(Verdict::Paused) => statement,
                Ok(Verdict::Held | Verdict::Forged) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the kill switch; holding the delivery");
                    return (
                        DeliveryOutcome::Released {
                            at: crate::domain::now() + chrono::Duration::seconds(1),
                        },
                        None,
                    );
                }
            };
            if !go {
                return (
                    DeliveryOutcome::Released {
                        at: crate::domain::now(),
                    },
                    None,
                );
            }
        }
        let hook = match &out.contact {
            Contact::Hook(h) => Some(h.id),
            _ => None,
        };
        let result = self.channel.send(&out, rendered).await;
        let now = crate::domain::now();
        match result {
            Ok(receipt) => {
                self.unreachable_streak.store(0, Ordering::SeqCst);
                let after = match (self.audience(), d.update_id, hook) {
                    (Audience::Account, Some(update_id), _) => Some(After::PostId {
                        update_id,
                        receipt: receipt.clone(),
                    }),
                    (_, _, Some(id)) => Some(After::HookDelivered(id)),
                    _ => None,
                };
                (
                    DeliveryOutcome::Sent {
                        message_id: receipt,
                    },
                    after,
                )
            }
            Err(SendError::Permanent(error)) => {
                tracing::info!(delivery.id = d.id, channel = self.name(), %error, "delivery refused permanently");
                let after = hook.map(|id| After::HookFailed {
                    id,
                    error: error.clone(),
                    gave_up: true,
                });
                (DeliveryOutcome::Dead { error }, after)
            }
            Err(SendError::Gone(error)) => {
                let after = hook.map(|id| After::HookGone {
                    id,
                    error: error.clone(),
                });
                (DeliveryOutcome::Dead { error }, after)
            }
            Err(SendError::RateLimited { until, error }) => {
                tracing::warn!(%until, %error, channel = self.name(), "rate limited: every delivery of the channel waits until the reset");
                (
                    DeliveryOutcome::Released { at: until },
                    Some(After::HoldChannel(until)),
                )
            }
            Err(SendError::Unauthorized(error)) => (
                DeliveryOutcome::Released { at: now },
                Some(After::RefuseChannel(error)),
            ),
            Err(
                SendError::Transient(error)
                | SendError::RetryAfter { error, .. }
                | SendError::Unreachable(error),
            ) if d.attempts >= policy.max_attempts => {
                let error = format!("gave up after {} attempts: {error}", d.attempts);
                let after = hook.map(|id| After::HookFailed {
                    id,
                    error: error.clone(),
                    gave_up: true,
                });
                (DeliveryOutcome::Dead { error }, after)
            }
            Err(SendError::RetryAfter { until, error }) => {
                let after = hook.map(|id| After::HookFailed {
                    id,
                    error: error.clone(),
                    gave_up: false,
                });
                (
                    DeliveryOutcome::Retry {
                        error,
                        at: until.max(now),
                    },
                    after,
                )
            }
            Err(SendError::Transient(error)) => {
                let after = hook.map(|id| After::HookFailed {
                    id,
                    error: error.clone(),
                    gave_up: false,
                });
                (
                    DeliveryOutcome::Retry {
                        error,
                        at: now + backoff(d.attempts),
                    },
                    after,
                )
            }
            Err(SendError::Unreachable(error)) => {
                let streak = self.unreachable_streak.fetch_add(1, Ordering::SeqCst) + 1;
                tracing::warn!(%error, channel = self.name(), "cannot reach the channel; holding it back");
                let wait = chrono::Duration::from_std(channel_backoff(streak)).unwrap_or_default();
                (DeliveryOutcome::Released { at: now + wait }, None)
            }
        }
    }

    /// Applies what the outcomes imply beyond the deliveries themselves.
    async fn apply(&self, after: Vec<After>) -> anyhow::Result<()> {
        let store = &self.shared.store;
        let mut delivered = Vec::new();
        for a in after {
            match a {
                After::PostId { update_id, receipt } => {
                    store.record_post_id(update_id, &receipt).await?
                }
                After::HookDelivered(id) => delivered.push(id),
                After::HookFailed { id, error, gave_up } => {
                    if let Some(disabled) = store.hook_failed(id, &error, gave_up).await? {
                        tracing::warn!(hook.id = id, reason = %disabled.reason, "webhook subscription disabled");
                        if let Some(email) = disabled.email {
                            let body = format!(
                                "Herald stopped sending status updates from {} to your {} \
                                 subscription at {}:\n\n    {}\n\nNothing more will be sent to it. \
                                 Subscribe again at {} once the receiver answers 2xx.",
                                self.shared.site().name,
                                disabled.kind,
                                disabled.host,
                                disabled.reason,
                                self.shared.site().url
                            );
                            store
                                .queue_notice(
                                    id,
                                    &email,
                                    &format!(
                                        "Your {} webhook subscription was disabled",
                                        self.shared.site().name
                                    ),
                                    &body,
                                )
                                .await?;
                            self.shared.notifier.wake();
                        }
                    }
                }
                After::HookGone { id, error } => {
                    tracing::info!(hook.id = id, %error, "webhook receiver answered Gone: unsubscribed");
                    store.remove_hook(id).await?;
                }
                After::HoldChannel(until) => store.hold_channel(self.name(), until).await?,
                After::RefuseChannel(error) => self.refused(&error).await?,
            }
        }
        store.hooks_delivered(&delivered).await?;
        Ok(())
    }

    /// The channel no longer accepts Herald's credentials: hold it (nothing is lost), and tell
    /// every admin by email, which the kill switch does not hold back.
    async fn refused(&self, error: &str) -> anyhow::Result<()> {
        let store = &self.shared.store;
        if store.refuse_channel(self.name(), error).await? {
            let label = channels::info(self.name()).map_or(self.name(), |c| c.label);
            tracing::error!(%error, channel = self.name(), "the channel refused Herald's credentials; its deliveries wait until an admin reconnects it");
            let body = format!(
                "{label} refused Herald's credentials:\n\n    {error}\n\n\
                 Its deliveries are held (nothing is lost) until an admin reconnects it at \
                 {}/admin/{}. If nobody at your company revoked Herald's access, treat this as a \
                 possible account compromise.",
                self.shared.site().url,
                self.name()
            );
            store
                .raise_alert(
                    &format!("{}_refused", self.name()),
                    &format!("Reconnect the {label} account"),
                    &body,
                )
                .await?;
            self.shared.notifier.wake();
        }
        Ok(())
    }

    /// What each update in the batch says, read and checked once per update. An update, its
    /// incident or its breach row without a valid stamp is never sent, and trips the wire.
    async fn notices(
        &self,
        claimed: &[ClaimedDelivery],
    ) -> anyhow::Result<HashMap<i64, Arc<Notice>>> {
        let store = &self.shared.store;
        let mut notices = HashMap::new();
        let mut seen = HashSet::new();
        for update_id in claimed.iter().filter_map(|d| d.update_id) {
            if !seen.insert(update_id) {
                continue;
            }
            if !store.update_stamp_ok(update_id).await? {
                self.forged(format!(
                    "update {update_id} has no valid stamp (written or changed outside Herald)"
                ))
                .await;
                continue;
            }
            let incident = store.incident_of_update(update_id).await?;
            if incident.tampered {
                self.forged(format!(
                    "incident {} has no valid stamp (changed outside Herald)",
                    incident.id
                ))
                .await;
                continue;
            }
            let statement = match store.statement_of(update_id).await? {
                None => false,
                Some(true) => true,
                Some(false) => {
                    self.forged(format!(
                        "the breach statement row for update {update_id} has no valid stamp \
                         (written outside Herald)"
                    ))
                    .await;
                    continue;
                }
            };
            let Some(update) = incident.updates.iter().find(|u| u.id == update_id).cloned() else {
                continue;
            };
            let notice = self.notice(incident, update, statement).await?;
            notices.insert(update_id, Arc::new(notice));
        }
        Ok(notices)
    }

    async fn notice(
        &self,
        incident: crate::domain::Incident,
        update: crate::domain::IncidentUpdate,
        statement: bool,
    ) -> anyhow::Result<Notice> {
        let store = &self.shared.store;
        let all = store.components().await?;
        // The page's status from its components and this incident (the other open incidents
        // are the page cache's; a message speaks for its own incident).
        let indicator = Indicator::overall(&all, std::iter::once(&incident));
        let components: Vec<_> = all
            .iter()
            .filter(|c| incident.component_ids.contains(&c.id))
            .cloned()
            .collect();
        let page = page_info(&self.shared.site(), indicator);
        let changes = update
            .affected
            .iter()
            .filter_map(|a| {
                let component = all.iter().find(|c| c.id == a.component_id)?;
                Some(channels::ComponentChange {
                    page: page.clone(),
                    component_json: crate::render::api::component_value(
                        &self.shared.site(),
                        component,
                    ),
                    component_update_json: serde_json::json!({
                        "id": format!("{}-{}", update.id, a.component_id),
                        "component_id": a.component_id.to_string(),
                        "old_status": a.old_status.as_str(),
                        "new_status": a.new_status.as_str(),
                        "created_at": crate::domain::rfc3339(&update.created_at),
                    }),
                })
            })
            .collect();
        Ok(Notice {
            page,
            changes,
            incident_url: format!("{}/incidents/{}", self.shared.site().url, incident.id),
            incident_json: crate::render::api::incident_value(&self.shared.site(), &all, &incident),
            components,
            incident,
            update,
            statement,
        })
    }

    /// The alerts and notices among a batch, read once each.
    async fn alerts(&self, claimed: &[ClaimedDelivery]) -> anyhow::Result<HashMap<i64, Message>> {
        let mut alerts = HashMap::new();
        for id in claimed.iter().filter_map(|d| d.alert_id) {
            if alerts.contains_key(&id) {
                continue;
            }
            match self.shared.store.alert(id).await? {
                Some((subject, body, true)) => {
                    alerts.insert(id, Message::Alert { subject, body });
                }
                Some(_) => {
                    self.forged(format!(
                        "alert {id} has no valid stamp (written or changed outside Herald)"
                    ))
                    .await;
                }
                None => {}
            }
        }
        Ok(alerts)
    }

    /// Where each recipient of the batch is now, by recipient id; a recipient that is gone
    /// (unsubscribed, removed, disabled) is missing and its delivery cancelled.
    async fn contacts(&self, claimed: &[ClaimedDelivery]) -> anyhow::Result<HashMap<i64, Contact>> {
        let store = &self.shared.store;
        let ids: Vec<i64> = claimed
            .iter()
            .filter(|d| d.alert_id.is_none())
            .map(|d| d.recipient_id)
            .collect();
        let mut contacts = HashMap::new();
        match self.audience() {
            Audience::Subscribers => {
                let existing: HashSet<i64> = store
                    .existing_subscribers(&ids)
                    .await?
                    .into_iter()
                    .collect();
                for d in claimed {
                    if existing.contains(&d.recipient_id) {
                        contacts.insert(d.recipient_id, Contact::Email(d.address.clone()));
                    }
                }
            }
            Audience::Hooks(_) => {
                for hook in store.hook_rows(&ids).await? {
                    if hook.disabled_at.is_some() {
                        continue;
                    }
                    match open_hook(&self.shared, &hook) {
                        Some(contact) => {
                            contacts.insert(hook.id, Contact::Hook(contact));
                        }
                        None => {
                            self.forged(format!(
                                "webhook subscription {} cannot be opened with this master key \
                                 (its URL or secret was written outside Herald)",
                                hook.id
                            ))
                            .await;
                        }
                    }
                }
            }
            Audience::Account => {
                if let Some(account) = store.x_account().await? {
                    match open_account(&self.shared.sealer, &account) {
                        Some(token) => {
                            contacts.insert(0, Contact::Account(token));
                        }
                        None => {
                            self.refused(
                                "the X token cannot be opened with this master key (was \
                                 HERALD_SECRET_KEY_FILE changed?); reconnect the account",
                            )
                            .await?;
                        }
                    }
                }
            }
        }
        Ok(contacts)
    }

    /// Runs until the process ends: deliver while there is work, otherwise wait for the
    /// doorbell, a resume, the end of a hold, or the next retry to fall due.
    pub async fn run(self) {
        let notifier = self.shared.notifier.clone();
        let mut paused = notifier.watch_paused();
        let mut bell = notifier.doorbell();
        let mut last_sweep = std::time::Instant::now();
        let lease = self.channel.policy().lease;
        // A dead instance's claims go back to the queue soon after their lease ends.
        let sweep_every = (lease.to_std().unwrap_or_default() / 4)
            .clamp(Duration::from_secs(1), Duration::from_secs(30));
        loop {
            if last_sweep.elapsed() > sweep_every {
                last_sweep = std::time::Instant::now();
                match self.shared.store.release_expired_claims().await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::warn!(deliveries = n, "released deliveries whose worker stopped")
                    }
                    Err(e) => tracing::error!(error = %e, "releasing expired claims failed"),
                }
            }
            let streak = self.unreachable_streak.load(Ordering::SeqCst);
            if streak > 0 {
                tokio::time::sleep(channel_backoff(streak)).await;
            }
            match self.step().await {
                Ok(Step::Processed(n)) => {
                    tracing::debug!(deliveries = n, channel = self.name(), "delivered a batch")
                }
                Ok(Step::Held(Some(until))) => {
                    let wait = (until - crate::domain::now()).to_std().unwrap_or_default();
                    tokio::select! {
                        _ = tokio::time::sleep(wait.min(Duration::from_secs(60))) => {}
                        _ = bell.changed() => {}
                    }
                }
                // Paused or refused, alerts may still come (the bell) and a resume wakes the
                // loop too.
                Ok(Step::Idle | Step::Paused | Step::Held(None)) => {
                    tokio::select! {
                        _ = bell.changed() => {}
                        _ = paused.changed() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, channel = self.name(), "the outbox failed a step; retrying shortly");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// Renders and sends one message at once, outside the queue (a webhook's test delivery), by
/// the channel its `channel` names.
pub async fn send_once(
    http: &crate::channels::webhook::safe_http::SafeClient,
    out: &Outgoing,
) -> Result<channels::Receipt, SendError> {
    async fn go<C: Channel>(channel: C, out: &Outgoing) -> Result<channels::Receipt, SendError> {
        let rendered = channel.render(out).await?;
        channel.send(out, rendered).await
    }
    match out.channel.as_str() {
        "slack" => go(channels::slack::Slack::new(http.clone()), out).await,
        "discord" => go(channels::discord::Discord::new(http.clone()), out).await,
        "teams" => go(channels::teams::Teams::new(http.clone()), out).await,
        _ => go(channels::webhook::Webhook::new(http.clone()), out).await,
    }
}

/// The page as a message describes it.
pub fn page_info(site: &Site, indicator: Indicator) -> PageInfo {
    PageInfo {
        id: site.page_id.clone(),
        name: site.name.clone(),
        url: site.url.clone(),
        indicator: indicator.as_str().to_string(),
        description: indicator.description().to_string(),
    }
}

/// Opens a stored webhook subscription's URL and secret.
pub fn open_hook(shared: &Shared, hook: &crate::store::HookRow) -> Option<HookContact> {
    use crate::security::seal::purpose;
    let url = shared
        .sealer
        .open(&purpose::hook_url(hook.id), &hook.url_sealed)
        .ok()?;
    let secret = match &hook.secret_sealed {
        Some(sealed) => Some(
            shared
                .sealer
                .open(&purpose::hook_secret(hook.id), sealed)
                .ok()?,
        ),
        None => None,
    };
    Some(HookContact {
        id: hook.id,
        kind: hook.kind.clone(),
        url,
        secret,
        unsubscribe_url: hook_unsubscribe_url(shared, hook.id),
    })
}

/// The signed link that removes a webhook subscription.
pub fn hook_unsubscribe_url(shared: &Shared, hook_id: i64) -> String {
    format!(
        "{}/webhooks/unsubscribe/{}",
        shared.site().url,
        shared.composer.links().sign(HOOK_UNSUBSCRIBE, hook_id, 0)
    )
}

/// The purpose of a webhook subscription's unsubscribe link.
pub const HOOK_UNSUBSCRIBE: &str = "hook.unsubscribe";

fn open_account(
    sealer: &Sealer,
    account: &crate::store::XAccount,
) -> Option<crate::channels::x::AccessToken> {
    use crate::security::seal::purpose;
    Some(crate::channels::x::AccessToken {
        token: sealer.open(purpose::X_TOKEN, &account.token_sealed).ok()?,
        secret: sealer
            .open(purpose::X_SECRET, &account.secret_sealed)
            .ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempts in 1..30 {
            let d = backoff(attempts).num_milliseconds();
            let expected = (5_000.0 * 2f64.powi(attempts - 1)).min(3_600_000.0);
            assert!(
                d as f64 >= expected * 0.5 && d as f64 <= expected * 1.5,
                "{attempts}: {d}"
            );
        }
        assert_eq!(channel_backoff(1), Duration::from_secs(2));
        assert_eq!(channel_backoff(50), Duration::from_secs(10));
    }
}
