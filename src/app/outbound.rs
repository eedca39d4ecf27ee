//! The kill switch: pausing and resuming every outbound channel on every instance.

use serde_json::json;

use super::{Actor, App, AppError, AppResult};
use crate::store::OutboundState;

impl App {
    /// Stops every outbound channel before its next send. Anyone allowed to act may stop
    /// everything: stopping is always safe.
    pub async fn pause(&self, actor: &Actor, reason: &str) -> AppResult<OutboundState> {
        let reason = crate::domain::parse_pause_reason(reason).map_err(|e| {
            AppError::Store(crate::store::StoreError::Invalid(crate::domain::Invalid(
                vec![e],
            )))
        })?;
        let state = self
            .notifier
            .pause(&self.store, &reason, &actor.name)
            .await?;
        self.audit(
            actor,
            "outbound.pause",
            "outbound",
            json!({ "reason": reason }),
        )
        .await;
        Ok(state)
    }

    /// Lets sending continue where it stopped. After a tripwire pause only a caller who gave
    /// their code again just now (`fresh_code`) may resume; resuming from an address the actor
    /// never acted from trips the wire again and leaves outbound paused. A resume vouches for
    /// what was posted before, so the burst rule counts afresh from here.
    pub async fn resume(&self, actor: &Actor, fresh_code: bool) -> AppResult<OutboundState> {
        let before = self.store.outbound_state().await?;
        if !before.tripped_rule.is_empty() && !fresh_code {
            self.audit(
                actor,
                "outbound.resume_refused",
                "outbound",
                json!({ "tripped_rule": before.tripped_rule }),
            )
            .await;
            return Err(AppError::NeedsFreshCode {
                reason: before.reason,
            });
        }
        if self.screen_privileged(actor, "resuming outbound").await? {
            return Err(AppError::Tripped(
                "resuming from a new address tripped the wire; outbound stays paused".into(),
            ));
        }
        let state = self.notifier.resume(&self.store, &actor.name).await?;
        self.store
            .record_vouch(crate::domain::now(), &actor.name)
            .await?;
        self.audit(
            actor,
            "outbound.resume",
            "outbound",
            json!({
                "was_paused_by": before.changed_by,
                "reason": before.reason,
                "tripped_rule": before.tripped_rule,
            }),
        )
        .await;
        Ok(state)
    }
}

impl App {
    /// Puts an update's dead deliveries back in the queue and wakes the workers.
    pub async fn retry_dead_deliveries(&self, actor: &Actor, update_id: i64) -> AppResult<u64> {
        let retried = self.store.retry_dead_deliveries(update_id).await?;
        self.notifier.wake();
        self.audit(
            actor,
            "deliveries.retry",
            &format!("update:{update_id}"),
            json!({ "deliveries": retried }),
        )
        .await;
        Ok(retried)
    }
}
