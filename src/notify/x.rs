//! The X worker: posts each update to the connected account, one at a time and in order, so
//! the updates of an incident read as one thread. It obeys the kill switch like every channel,
//! waits out X's rate limit (every post waits, on every instance), retries X's 5xx and timeouts
//! with backoff, and on a 401 stops posting and alerts the admins to reconnect the account.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::compose::tweet_text;
use super::worker::backoff;
use super::{Notifier, Verdict};
use crate::channels::x::{AccessToken, Tweet, XClient};
use crate::channels::SendError;
use crate::security::seal::Sealer;
use crate::store::{DeliveryOutcome, Store, XAccount};

/// Sealing purposes of the account's token pair.
pub use crate::security::seal::purpose::{X_SECRET as SECRET_PURPOSE, X_TOKEN as TOKEN_PURPOSE};

/// Attempts before a post is given up: X outages can last hours, and the backoff reaches its
/// one-hour cap after eight tries, so twelve tries cover about four hours.
const MAX_ATTEMPTS: i32 = 12;
/// How long a claim holds before another instance may take the post (a post takes seconds).
const LEASE: chrono::Duration = chrono::Duration::minutes(2);

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XStep {
    Paused,
    /// No account, or one X refused: nothing to do until an admin connects one.
    NotConnected,
    /// Rate limited until then.
    Held(chrono::DateTime<Utc>),
    Idle,
    /// One post was handled (sent, retried, dead or released).
    Handled,
}

pub struct XWorker {
    store: Store,
    channel: Arc<XClient>,
    sealer: Arc<Sealer>,
    notifier: Arc<Notifier>,
    site_url: String,
    /// Trips the wire when a claimed update carries no valid stamp.
    trip: Option<super::TripWire>,
}

impl XWorker {
    pub fn new(
        store: Store,
        channel: Arc<XClient>,
        sealer: Arc<Sealer>,
        notifier: Arc<Notifier>,
        site_url: String,
    ) -> Self {
        XWorker {
            store,
            channel,
            sealer,
            notifier,
            site_url,
            trip: None,
        }
    }

    /// Trips the wire (and posts nothing) when an update was not written through Herald.
    pub fn tripping(mut self, trip: super::TripWire) -> Self {
        self.trip = Some(trip);
        self
    }

    /// Opens the account's sealed token pair.
    fn open(&self, account: &XAccount) -> Option<AccessToken> {
        Some(AccessToken {
            token: self
                .sealer
                .open(TOKEN_PURPOSE, &account.token_sealed)
                .ok()?,
            secret: self
                .sealer
                .open(SECRET_PURPOSE, &account.secret_sealed)
                .ok()?,
        })
    }

    pub async fn step(&self) -> anyhow::Result<XStep> {
        if self.notifier.is_paused() || self.notifier.is_fenced() {
            return Ok(XStep::Paused);
        }
        let Some(account) = self.store.x_account().await? else {
            return Ok(XStep::NotConnected);
        };
        if account.refused_at.is_some() {
            return Ok(XStep::NotConnected);
        }
        let now = crate::domain::now();
        if let Some(until) = account.hold_until.filter(|u| *u > now) {
            return Ok(XStep::Held(until));
        }
        let Some(delivery) = self
            .store
            .claim_x_delivery(LEASE, self.notifier.instance())
            .await?
        else {
            return Ok(XStep::Idle);
        };
        match (self.post(&account, &delivery).await?, delivery.update_id) {
            // The post's id goes on the update too, in the same transaction.
            (DeliveryOutcome::Sent { message_id }, Some(update_id)) => {
                self.store
                    .record_tweet(delivery.id, update_id, &message_id)
                    .await?
            }
            (outcome, _) => {
                self.store
                    .record_outcomes(&[(delivery.id, outcome)])
                    .await?
            }
        }
        Ok(XStep::Handled)
    }

    async fn post(
        &self,
        account: &XAccount,
        delivery: &crate::store::ClaimedDelivery,
    ) -> anyhow::Result<DeliveryOutcome> {
        let Some(update_id) = delivery.update_id else {
            return Ok(DeliveryOutcome::Dead {
                error: "an X post without an update".into(),
            });
        };
        let unstamped = if !self.store.delivery_stamp_ok(delivery) {
            Some(format!(
                "X post {} has no valid stamp (queued, re-queued or re-addressed outside Herald)",
                delivery.id
            ))
        } else if !self.store.update_stamp_ok(update_id).await? {
            Some(format!(
                "update {update_id} has no valid stamp (written or changed outside Herald)"
            ))
        } else {
            None
        };
        if let Some(detail) = unstamped {
            tracing::error!(%detail, "refusing to post a message Herald did not write");
            if let Some(trip) = &self.trip {
                trip(crate::security::tripwire::Trip {
                    rule: crate::security::tripwire::Rule::Forged,
                    detail: detail.clone(),
                })
                .await;
            }
            return Ok(DeliveryOutcome::Dead { error: detail });
        }
        let incident = self.store.incident_of_update(update_id).await?;
        if incident.tampered {
            let detail = format!(
                "incident {} has no valid stamp (changed outside Herald)",
                incident.id
            );
            if let Some(trip) = &self.trip {
                trip(crate::security::tripwire::Trip {
                    rule: crate::security::tripwire::Rule::Forged,
                    detail: detail.clone(),
                })
                .await;
            }
            return Ok(DeliveryOutcome::Dead { error: detail });
        }
        let Some(update) = incident.updates.iter().find(|u| u.id == update_id) else {
            return Ok(DeliveryOutcome::Cancelled);
        };
        let Some(access) = self.open(account) else {
            let error = "the X token cannot be opened with this master key (was \
                         HERALD_SECRET_KEY_FILE changed?); reconnect the account";
            self.refused(error).await?;
            return Ok(DeliveryOutcome::Released {
                at: crate::domain::now(),
            });
        };
        let text = tweet_text(&self.site_url, &incident, update);
        let reply_to = self.store.x_reply_target(update_id).await?;
        // The stored kill switch, read right before the post.
        if self.notifier.may_send(&self.store).await? != Verdict::Send {
            return Ok(DeliveryOutcome::Released {
                at: crate::domain::now(),
            });
        }
        let tweet = Tweet {
            text,
            reply_to,
            account: access,
        };
        Ok(match self.channel.post_tweet(&tweet).await {
            Ok(id) => {
                tracing::info!(update.id = update_id, tweet.id = %id, "posted to X");
                DeliveryOutcome::Sent { message_id: id }
            }
            Err(SendError::RateLimited { until, error }) => {
                tracing::warn!(%until, %error, "X rate limit: every post waits until the reset");
                self.store.hold_x_until(until).await?;
                DeliveryOutcome::Released { at: until }
            }
            Err(SendError::Unauthorized(error)) => {
                self.refused(&error).await?;
                DeliveryOutcome::Dead { error }
            }
            Err(SendError::RetryAfter { until, error }) => {
                tracing::warn!(%until, %error, "X asks to wait");
                DeliveryOutcome::Released { at: until }
            }
            Err(SendError::Transient(error) | SendError::Unreachable(error))
                if delivery.attempts >= MAX_ATTEMPTS =>
            {
                DeliveryOutcome::Dead {
                    error: format!("gave up after {} attempts: {error}", delivery.attempts),
                }
            }
            Err(SendError::Transient(error) | SendError::Unreachable(error)) => {
                tracing::warn!(%error, attempts = delivery.attempts, "X post failed; will retry");
                DeliveryOutcome::Retry {
                    error,
                    at: crate::domain::now() + backoff(delivery.attempts),
                }
            }
            Err(SendError::Permanent(error) | SendError::Gone(error)) => {
                tracing::warn!(%error, update.id = update_id, "X refused the post");
                DeliveryOutcome::Dead { error }
            }
        })
    }

    /// X no longer accepts the account: stop posting, and tell every admin by email (which
    /// the kill switch does not hold back) that it must be reconnected.
    async fn refused(&self, error: &str) -> anyhow::Result<()> {
        if self.store.refuse_x(error).await? {
            tracing::error!(%error, "X refused the connected account; posts wait until an admin reconnects it");
            let body = format!(
                "X refused Herald's access to the connected account:\n\n    {error}\n\n\
                 Posts to X are held (nothing is lost) until an admin reconnects the account at \
                 {}/admin/x. If nobody at your company revoked Herald's access, treat this as a \
                 possible account compromise.",
                self.site_url
            );
            self.store
                .raise_alert("x_refused", "Reconnect the X account", &body)
                .await?;
            self.notifier.wake();
        }
        Ok(())
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        let mut paused = self.notifier.watch_paused();
        let mut bell = self.notifier.doorbell();
        loop {
            match self.step().await {
                Ok(XStep::Handled) => {}
                Ok(XStep::Paused) => {
                    tokio::select! {
                        _ = paused.changed() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                Ok(XStep::Held(until)) => {
                    let wait = (until - Utc::now()).to_std().unwrap_or_default();
                    tokio::time::sleep(wait.min(Duration::from_secs(900))).await;
                }
                Ok(XStep::Idle | XStep::NotConnected) => {
                    tokio::select! {
                        _ = bell.changed() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "the X worker failed a step; retrying shortly");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}
