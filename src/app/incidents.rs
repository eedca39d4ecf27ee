//! Publishing: incidents and their updates, scheduled maintenance and the scheduler moving it
//! on, and the components they name. Each act screens, stores, refreshes the public pages,
//! wakes the workers and audits, in that order.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Actor, App, AppResult};
use crate::domain::{Component, ComponentDraft, IncidentDraft, MaintenanceDraft, UpdateDraft};
use crate::store::Published;

impl App {
    /// Opens an incident with its first update.
    pub async fn open_incident(
        &self,
        actor: &Actor,
        draft: &IncidentDraft,
    ) -> AppResult<Published> {
        self.screen_update(actor, &draft.name, &draft.first).await?;
        let published = self.store.open_incident(draft, &actor.name).await?;
        self.changed().await;
        self.audit_published(
            actor,
            "incident.open",
            &published,
            draft.first.notify,
            &draft.first.body,
        )
        .await;
        Ok(published)
    }

    /// Posts an update to an existing incident (or maintenance).
    pub async fn post_update(
        &self,
        actor: &Actor,
        incident_id: i64,
        draft: &UpdateDraft,
    ) -> AppResult<Published> {
        self.screen_update_to(actor, incident_id, draft).await?;
        let published = self
            .store
            .post_update(incident_id, draft, &actor.name)
            .await?;
        self.changed().await;
        self.audit_published(
            actor,
            "incident.update",
            &published,
            draft.notify,
            &draft.body,
        )
        .await;
        Ok(published)
    }

    /// Schedules a maintenance window.
    pub async fn schedule_maintenance(
        &self,
        actor: &Actor,
        draft: &MaintenanceDraft,
    ) -> AppResult<Published> {
        self.screen_maintenance(actor, draft).await?;
        let remind = draft
            .options
            .remind_prior
            .resolve(draft.notify, self.config.remind_prior_minutes);
        let published = self
            .store
            .schedule_maintenance(draft, remind, &actor.name)
            .await?;
        self.changed().await;
        self.audit_published(
            actor,
            "maintenance.schedule",
            &published,
            draft.notify,
            &draft.body,
        )
        .await;
        Ok(published)
    }

    /// Starts and ends the maintenance windows whose time has come (the scheduler's act). Its
    /// text is Herald's own, so there is nothing to screen.
    pub async fn advance_maintenances(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> AppResult<Vec<Published>> {
        let published = self.store.advance_maintenances(now).await?;
        let reminders = self.store.queue_due_reminders(now).await?;
        if published.is_empty() && reminders.is_empty() {
            return Ok(published);
        }
        self.changed().await;
        for r in &reminders {
            tracing::info!(incident.id = r.incident_id, "maintenance reminder queued");
            self.audit(
                actor,
                "maintenance.remind",
                &format!("incident:{}", r.incident_id),
                json!({ "update": r.update_id }),
            )
            .await;
        }
        for p in &published {
            tracing::info!(
                incident.id = p.incident_id,
                update.id = p.update_id,
                "maintenance moved on by its schedule"
            );
            self.audit(
                actor,
                "maintenance.advance",
                &format!("incident:{}", p.incident_id),
                json!({ "update": p.update_id }),
            )
            .await;
        }
        Ok(published)
    }

    pub async fn create_component(
        &self,
        actor: &Actor,
        draft: &ComponentDraft,
    ) -> AppResult<Component> {
        let component = self.store.create_component(draft).await?;
        self.changed().await;
        self.audit(
            actor,
            "component.create",
            &format!("component:{}", component.id),
            json!({ "name": component.name, "show_uptime": component.show_uptime }),
        )
        .await;
        Ok(component)
    }

    pub async fn update_component(
        &self,
        actor: &Actor,
        id: i64,
        draft: &ComponentDraft,
    ) -> AppResult<Component> {
        let component = self.store.update_component(id, draft).await?;
        self.changed().await;
        self.audit(
            actor,
            "component.update",
            &format!("component:{id}"),
            json!({ "name": draft.name, "show_uptime": draft.show_uptime }),
        )
        .await;
        Ok(component)
    }

    pub async fn delete_component(&self, actor: &Actor, id: i64) -> AppResult<()> {
        self.store.delete_component(id).await?;
        self.changed().await;
        self.audit(
            actor,
            "component.delete",
            &format!("component:{id}"),
            json!({}),
        )
        .await;
        Ok(())
    }
}
