//! The delivery worker: claims due deliveries in batches, sends each through its channel, and
//! records what happened. Posting never waits for it; it wakes on new rows, and a crash loses
//! nothing because every claim is a lease on a row.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::compose::{Composer, UpdateMail};
use super::TripWire;
use super::{Notifier, Verdict};
use crate::channels::email::MailTransport;
use crate::channels::SendError;
use crate::security::tripwire::{Rule, Trip};
use crate::store::{channel, ClaimedDelivery, DeliveryOutcome, Store};

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Deliveries claimed at once.
    pub batch: i64,
    /// How long a claim holds before another worker may take the row.
    pub lease: chrono::Duration,
    /// Attempts before a delivery is given up as dead.
    pub max_attempts: i32,
    /// Outcomes written per transaction while a batch is in flight.
    pub record_every: usize,
    /// Messages handed to the channel at once, over every loop sharing this worker (the SMTP
    /// connection cap). A send reads the kill switch once it holds one of these places, right
    /// before it goes out, not while it waits for one.
    pub concurrency: usize,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            batch: 256,
            lease: chrono::Duration::minutes(5),
            max_attempts: 8,
            record_every: 64,
            concurrency: 8,
        }
    }
}

/// What one step of the worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing was due.
    Idle,
    /// Outbound is paused; nothing was claimed.
    Paused,
    /// This many deliveries were processed (sent, retried, dead or released).
    Processed(usize),
}

/// Several workers may run side by side on one queue (each claim is atomic); while one is
/// finishing the tail of its batch, another is sending at full speed.
pub struct Worker<T: MailTransport> {
    store: Store,
    transport: Arc<T>,
    composer: Arc<Composer>,
    notifier: Arc<Notifier>,
    settings: WorkerSettings,
    /// Consecutive batches in which the channel could not be reached.
    unreachable_streak: Arc<AtomicU32>,
    /// Trips the wire when a claimed update or alert carries no valid stamp.
    trip: Option<TripWire>,
    /// Places for sends in flight (`WorkerSettings::concurrency`), shared by clones.
    in_flight: Arc<Semaphore>,
}

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

impl<T: MailTransport> Clone for Worker<T> {
    fn clone(&self) -> Self {
        Worker {
            store: self.store.clone(),
            transport: self.transport.clone(),
            composer: self.composer.clone(),
            notifier: self.notifier.clone(),
            settings: self.settings.clone(),
            unreachable_streak: self.unreachable_streak.clone(),
            trip: self.trip.clone(),
            in_flight: self.in_flight.clone(),
        }
    }
}

impl<T: MailTransport> Worker<T> {
    pub fn new(
        store: Store,
        transport: Arc<T>,
        composer: Arc<Composer>,
        notifier: Arc<Notifier>,
        settings: WorkerSettings,
    ) -> Self {
        Worker {
            in_flight: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            store,
            transport,
            composer,
            notifier,
            settings,
            unreachable_streak: Arc::new(AtomicU32::new(0)),
            trip: None,
        }
    }

    /// Trips the wire (and sends nothing) when a message was not written through Herald.
    pub fn tripping(mut self, trip: TripWire) -> Self {
        self.trip = Some(trip);
        self
    }

    async fn forged(&self, what: String) {
        tracing::error!(%what, "refusing to send a message Herald did not write");
        if let Some(trip) = &self.trip {
            trip(Trip {
                rule: Rule::Forged,
                detail: what,
            })
            .await;
        }
    }

    /// Claims one batch, delivers it and records every outcome.
    pub async fn deliver_next_batch(&self) -> anyhow::Result<Step> {
        if self.notifier.is_fenced() {
            return Ok(Step::Paused);
        }
        // The claim reads the kill switch itself: while it is on, only alerts to the admins are
        // claimed (they are how admins hear of a pause).
        let claimed = self
            .store
            .claim_due_deliveries(
                &[channel::EMAIL, channel::CONFIRM, channel::ALERT],
                self.settings.batch,
                self.settings.lease,
                self.notifier.instance(),
            )
            .await?;
        if claimed.is_empty() {
            return Ok(if self.notifier.is_paused() {
                Step::Paused
            } else {
                Step::Idle
            });
        }
        let count = claimed.len();
        let subscriber_ids: Vec<i64> = claimed.iter().map(|d| d.recipient_id).collect();
        let existing = self.store.existing_subscribers(&subscriber_ids).await?;
        let mails = self.update_mails(&claimed).await?;
        let alerts = self.alerts(&claimed).await?;

        let mut outcomes: Vec<(i64, DeliveryOutcome)> = Vec::new();
        let mut unstamped: Vec<i64> = Vec::new();
        let mut sends = JoinSet::new();
        for delivery in claimed {
            if !self.store.delivery_stamp_ok(&delivery) {
                unstamped.push(delivery.id);
                outcomes.push((
                    delivery.id,
                    DeliveryOutcome::Dead {
                        error: NOT_QUEUED_BY_HERALD.into(),
                    },
                ));
                continue;
            }
            let content = match delivery.channel.as_str() {
                channel::ALERT => delivery
                    .alert_id
                    .and_then(|id| alerts.get(&id).cloned())
                    .map(Content::Alert),
                _ if !existing.contains(&delivery.recipient_id) => None,
                channel::CONFIRM => Some(Content::Confirmation),
                _ => delivery
                    .update_id
                    .and_then(|id| mails.get(&id).cloned())
                    .map(Content::Update),
            };
            let Some(content) = content else {
                outcomes.push((delivery.id, DeliveryOutcome::Cancelled));
                continue;
            };
            let job = Job {
                in_flight: self.in_flight.clone(),
                store: self.store.clone(),
                transport: self.transport.clone(),
                composer: self.composer.clone(),
                notifier: self.notifier.clone(),
                streak: self.unreachable_streak.clone(),
                max_attempts: self.settings.max_attempts,
            };
            sends.spawn(async move {
                let id = delivery.id;
                (id, job.deliver(delivery, content).await)
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
        while let Some(joined) = sends.join_next().await {
            match joined {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => {
                    tracing::error!(error = %e, "a delivery task failed; its claim will expire and it will be retried")
                }
            }
            if outcomes.len() >= self.settings.record_every {
                self.store.record_outcomes(&outcomes).await?;
                outcomes.clear();
            }
        }
        self.store.record_outcomes(&outcomes).await?;
        Ok(Step::Processed(count))
    }

    /// The shared part of each update's mail, read once per batch.
    async fn update_mails(
        &self,
        claimed: &[ClaimedDelivery],
    ) -> anyhow::Result<HashMap<i64, Arc<UpdateMail>>> {
        let mut mails = HashMap::new();
        for update_id in claimed.iter().filter_map(|d| d.update_id) {
            if mails.contains_key(&update_id) {
                continue;
            }
            if !self.store.update_stamp_ok(update_id).await? {
                // Never sent: its deliveries are cancelled below, and the wire trips.
                self.forged(format!(
                    "update {update_id} has no valid stamp (written or changed outside Herald)"
                ))
                .await;
                continue;
            }
            let incident = self.store.incident_of_update(update_id).await?;
            if incident.tampered {
                self.forged(format!(
                    "incident {} has no valid stamp (changed outside Herald)",
                    incident.id
                ))
                .await;
                continue;
            }
            if let Some(update) = incident.updates.iter().find(|u| u.id == update_id) {
                mails.insert(
                    update_id,
                    Arc::new(UpdateMail::new(
                        &self.composer.site().url,
                        &incident,
                        update,
                    )),
                );
            }
        }
        Ok(mails)
    }

    /// The alerts among a batch, read once each.
    async fn alerts(
        &self,
        claimed: &[ClaimedDelivery],
    ) -> anyhow::Result<HashMap<i64, Arc<(String, String)>>> {
        let mut alerts = HashMap::new();
        for id in claimed.iter().filter_map(|d| d.alert_id) {
            if alerts.contains_key(&id) {
                continue;
            }
            match self.store.alert(id).await? {
                Some((subject, body, true)) => {
                    alerts.insert(id, Arc::new((subject, body)));
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

    /// Runs until the process ends: deliver while there is work, otherwise wait for the
    /// doorbell, a resume, or the next retry to fall due.
    pub async fn run(self) {
        let mut paused = self.notifier.watch_paused();
        let mut bell = self.notifier.doorbell();
        let mut last_sweep = std::time::Instant::now();
        // A dead instance's claims go back to the queue soon after their lease ends.
        let sweep_every = (self.settings.lease.to_std().unwrap_or_default() / 4)
            .clamp(Duration::from_secs(1), Duration::from_secs(30));
        loop {
            if last_sweep.elapsed() > sweep_every {
                last_sweep = std::time::Instant::now();
                match self.store.release_expired_claims().await {
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
            match self.deliver_next_batch().await {
                Ok(Step::Processed(n)) => tracing::debug!(deliveries = n, "delivered a batch"),
                // Paused, alerts may still come (the bell) and a resume wakes the loop too.
                Ok(Step::Idle | Step::Paused) => {
                    tokio::select! {
                        _ = bell.changed() => {}
                        _ = paused.changed() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "the delivery worker failed a step; retrying shortly");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// What one email says.
enum Content {
    Update(Arc<UpdateMail>),
    Confirmation,
    Alert(Arc<(String, String)>),
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

/// Everything one delivery task needs.
struct Job<T: MailTransport> {
    in_flight: Arc<Semaphore>,
    store: Store,
    transport: Arc<T>,
    composer: Arc<Composer>,
    notifier: Arc<Notifier>,
    streak: Arc<AtomicU32>,
    max_attempts: i32,
}

impl<T: MailTransport> Job<T> {
    async fn deliver(self, d: ClaimedDelivery, content: Content) -> DeliveryOutcome {
        let now = Utc::now();
        let composer = self.composer.clone();
        let (recipient, address) = (d.recipient_id, d.address.clone());
        let is_alert = matches!(content, Content::Alert(_));
        let compose = move || match content {
            Content::Update(mail) => composer.notification(&mail, recipient, &address),
            Content::Confirmation => composer.confirmation(recipient, &address, now),
            Content::Alert(alert) => composer.alert(&alert.0, &alert.1, &address),
        };
        // DKIM signing costs about a millisecond of CPU: keep it off the async threads.
        // Without it, composing is cheap enough to do in place.
        let composed = if self.composer.signs() {
            match tokio::task::spawn_blocking(compose).await {
                Ok(result) => result,
                Err(e) => Err(anyhow::anyhow!("the composing task failed: {e}")),
            }
        } else {
            compose()
        };
        let composed = match composed {
            Ok(c) => c,
            Err(e) => {
                return DeliveryOutcome::Dead {
                    error: format!("could not build the message: {e}"),
                }
            }
        };
        // The stored kill switch is read again right before each send, once this send holds
        // its place (concurrent sends share one read): a pause committed after this batch was
        // claimed, or while this send waited for its place, still stops it here.
        let Ok(_place) = self.in_flight.acquire().await else {
            return DeliveryOutcome::Released {
                at: crate::domain::now(),
            };
        };
        if !is_alert {
            match self.notifier.may_send(&self.store).await {
                Ok(Verdict::Send) => {}
                Ok(Verdict::Paused | Verdict::Forged) => {
                    return DeliveryOutcome::Released {
                        at: crate::domain::now(),
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the kill switch; holding the delivery");
                    return DeliveryOutcome::Released {
                        at: crate::domain::now() + chrono::Duration::seconds(1),
                    };
                }
            }
        }
        match MailTransport::send(
            &*self.transport,
            &self.composer.from_address(),
            &d.address,
            composed.bytes,
        )
        .await
        {
            Ok(_) => {
                self.streak.store(0, Ordering::SeqCst);
                DeliveryOutcome::Sent {
                    message_id: composed.message_id,
                }
            }
            Err(SendError::Permanent(error) | SendError::Gone(error)) => {
                tracing::info!(delivery.id = d.id, %error, "delivery refused permanently");
                DeliveryOutcome::Dead { error }
            }
            Err(
                SendError::RateLimited { until, error } | SendError::RetryAfter { until, error },
            ) => {
                tracing::warn!(%error, "the mail server asks to wait");
                DeliveryOutcome::Released { at: until }
            }
            Err(SendError::Transient(error) | SendError::Unauthorized(error))
                if d.attempts >= self.max_attempts =>
            {
                DeliveryOutcome::Dead {
                    error: format!("gave up after {} attempts: {error}", d.attempts),
                }
            }
            Err(SendError::Transient(error) | SendError::Unauthorized(error)) => {
                DeliveryOutcome::Retry {
                    error,
                    at: crate::domain::now() + backoff(d.attempts),
                }
            }
            Err(SendError::Unreachable(error)) => {
                let streak = self.streak.fetch_add(1, Ordering::SeqCst) + 1;
                tracing::warn!(%error, "cannot reach the mail server; holding email back");
                let wait = chrono::Duration::from_std(channel_backoff(streak)).unwrap_or_default();
                DeliveryOutcome::Released {
                    at: crate::domain::now() + wait,
                }
            }
        }
    }
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
