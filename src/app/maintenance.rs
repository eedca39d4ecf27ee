//! Changing a maintenance's plan after it was scheduled: reschedule it, or call it off. Each
//! act stores, refreshes the public pages, wakes the workers and audits; the words it posts are
//! Herald's own, so there is nothing to screen.

use serde_json::json;

use super::{Actor, App, AppResult};
use crate::domain::{self, Choice, IncidentStatus, UpdateDraft};
use crate::render::views::TimeView;
use crate::store::{Published, Replan, Rescheduled};

/// The final update of a cancelled maintenance.
pub const CANCELLED_BODY: &str = "This maintenance has been cancelled.";

/// What a reschedule did.
#[derive(Debug, Clone, PartialEq)]
pub struct RescheduleOutcome {
    pub rescheduled: Rescheduled,
    /// The update that told subscribers, when asked to.
    pub update_id: Option<i64>,
}

/// An update Herald writes about a maintenance, sent to subscribers only when `notify`.
fn notice(status: IncidentStatus, body: String, notify: bool) -> UpdateDraft {
    UpdateDraft {
        status,
        body,
        components: Vec::new(),
        notify,
        channels: domain::resolve_channels(notify, None, true).unwrap_or_default(),
        custom_tweet: None,
        display_at: None,
    }
}

impl App {
    /// Moves a maintenance's window (the start only while it is scheduled; the end until it
    /// completes) and changes its reminder and notices. With `notify`, an update saying
    /// "Rescheduled: now from … to …" goes out to subscribers through the normal publish path;
    /// without, nothing is sent. Audited as `maintenance.reschedule` with the old and new plan.
    pub async fn reschedule_maintenance(
        &self,
        actor: &Actor,
        id: i64,
        replan: &Replan,
        notify: bool,
    ) -> AppResult<RescheduleOutcome> {
        let rescheduled = self
            .store
            .reschedule_maintenance(id, replan, domain::now())
            .await?;
        let moved = rescheduled.old_window != rescheduled.new_window;
        let mut update_id = None;
        if notify && moved {
            let (from, until) = rescheduled.new_window;
            let body = format!(
                "Rescheduled: now from {} to {}.",
                TimeView::new(&from).text,
                TimeView::new(&until).text
            );
            let draft = notice(rescheduled.status, body, true);
            let published = self.store.post_update(id, &draft, &actor.name).await?;
            update_id = Some(published.update_id);
        }
        self.changed().await;
        let plan =
            |(from, until): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
             remind: Option<i64>| {
                json!({
                    "scheduled_for": domain::rfc3339(&from),
                    "scheduled_until": domain::rfc3339(&until),
                    "remind_prior_minutes": remind,
                })
            };
        self.audit(
            actor,
            "maintenance.reschedule",
            &format!("incident:{id}"),
            json!({
                "old": plan(rescheduled.old_window, rescheduled.old_remind_prior_minutes),
                "new": plan(rescheduled.new_window, rescheduled.new_remind_prior_minutes),
                "notify_at_start": replan.notify_at_start,
                "notify_at_end": replan.notify_at_end,
                "reminder_reset": rescheduled.reminder_reset,
                "notify": notify,
                "update": update_id,
            }),
        )
        .await;
        Ok(RescheduleOutcome {
            rescheduled,
            update_id,
        })
    }

    /// Calls a maintenance off before it completes: a final update "This maintenance has been
    /// cancelled." (status completed; sent to subscribers only with `notify`), the components
    /// it held recover, and the page shows it as cancelled. Audited as `maintenance.cancel`.
    pub async fn cancel_maintenance(
        &self,
        actor: &Actor,
        id: i64,
        notify: bool,
    ) -> AppResult<Published> {
        let draft = notice(
            IncidentStatus::Completed,
            CANCELLED_BODY.to_string(),
            notify,
        );
        let published = self
            .store
            .cancel_maintenance(id, &draft, &actor.name)
            .await?;
        self.changed().await;
        self.audit(
            actor,
            "maintenance.cancel",
            &format!("incident:{id}"),
            json!({
                "update": published.update_id,
                "notify": notify,
                "status": IncidentStatus::Completed.as_str(),
            }),
        )
        .await;
        Ok(published)
    }
}
