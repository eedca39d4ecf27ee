//! Changing what was already published: editing and deleting incidents and updates, and setting
//! a component's status outside any incident. Edits notify nobody (Statuspage does not resend an
//! edited update either), but their text reaches the page, so it is screened like a post; every
//! act is audited with the text before and after.

use serde_json::{json, Map, Value};

use super::{Actor, App, AppError, AppResult};
use crate::domain::{rfc3339, Choice, Component, ComponentStatus, IncidentEdit, UpdateEdit};
use crate::security::tripwire::Outbound;
use crate::store::{DeletedIncident, DeletedUpdate, IncidentEdited, UpdateEdited};

/// Longest text kept in an audit entry, in characters.
const AUDIT_TEXT_CHARS: usize = 2000;

fn clipped(text: &str) -> String {
    text.chars().take(AUDIT_TEXT_CHARS).collect()
}

impl App {
    /// Screens text an edit puts on the public page: a link to a domain off the allow-list
    /// trips the wire (outbound pauses, admins are told) and the edit is refused, since the page
    /// would show it at once. The burst rule does not apply: an edit sends nothing.
    async fn screen_edit(&self, actor: &Actor, post: &Outbound<'_>) -> AppResult<()> {
        match self.rules.check_links(post) {
            None => Ok(()),
            Some(trip) => {
                self.trip(actor, &trip).await?;
                Err(AppError::Tripped(format!(
                    "Not saved: {}: {}. Outbound is paused until an admin resumes.",
                    trip.rule.title(),
                    trip.detail
                )))
            }
        }
    }

    /// Renames an incident, changes its impact or the components it affects. Never notifies.
    pub async fn edit_incident(
        &self,
        actor: &Actor,
        id: i64,
        edit: &IncidentEdit,
    ) -> AppResult<IncidentEdited> {
        if let Some(name) = &edit.name {
            self.screen_edit(
                actor,
                &Outbound {
                    name,
                    body: "",
                    tweet: None,
                },
            )
            .await?;
        }
        let edited = self.store.edit_incident(id, edit).await?;
        if edited.before == edited.after {
            return Ok(edited);
        }
        self.changed().await;
        let (mut old, mut new) = (Map::new(), Map::new());
        if edited.before.name != edited.after.name {
            old.insert("name".into(), edited.before.name.clone().into());
            new.insert("name".into(), edited.after.name.clone().into());
        }
        if edited.before.impact != edited.after.impact {
            old.insert("impact".into(), edited.before.impact.as_str().into());
            new.insert("impact".into(), edited.after.impact.as_str().into());
        }
        if edited.before.component_ids != edited.after.component_ids {
            old.insert(
                "component_ids".into(),
                json!(edited.before.component_ids.clone()),
            );
            new.insert(
                "component_ids".into(),
                json!(edited.after.component_ids.clone()),
            );
        }
        self.audit(
            actor,
            "incident.edit",
            &format!("incident:{id}"),
            json!({ "old": old, "new": new }),
        )
        .await;
        Ok(edited)
    }

    /// Edits an update's text, display time or post text. Never notifies; the page says it was
    /// edited.
    pub async fn edit_update(
        &self,
        actor: &Actor,
        update_id: i64,
        edit: &UpdateEdit,
    ) -> AppResult<UpdateEdited> {
        if edit.body.is_some() || edit.custom_tweet.is_some() {
            let incident = self.store.incident_of_update(update_id).await?;
            let current = incident.updates.iter().find(|u| u.id == update_id);
            let body = edit
                .body
                .as_deref()
                .or(current.map(|u| u.body.as_str()))
                .unwrap_or("");
            let tweet = match &edit.custom_tweet {
                Some(t) => t.as_deref(),
                None => current.and_then(|u| u.custom_tweet.as_deref()),
            };
            self.screen_edit(
                actor,
                &Outbound {
                    name: &incident.name,
                    body,
                    tweet,
                },
            )
            .await?;
        }
        let edited = self.store.edit_update(update_id, edit, &actor.name).await?;
        if edited.before == edited.after {
            return Ok(edited);
        }
        self.changed().await;
        let side = |f: &crate::store::UpdateFields| {
            json!({
                "body": clipped(&f.body),
                "display_at": rfc3339(&f.display_at),
                "custom_tweet": f.custom_tweet,
            })
        };
        self.audit(
            actor,
            "update.edit",
            &format!("incident:{}", edited.incident_id),
            json!({ "update": update_id, "old": side(&edited.before), "new": side(&edited.after) }),
        )
        .await;
        Ok(edited)
    }

    /// Deletes an update (not an incident's only one); its queued deliveries never go out.
    pub async fn delete_update(&self, actor: &Actor, update_id: i64) -> AppResult<DeletedUpdate> {
        let deleted = self.store.delete_update(update_id).await?;
        self.changed().await;
        self.audit(
            actor,
            "update.delete",
            &format!("incident:{}", deleted.incident_id),
            json!({
                "update": update_id,
                "status": deleted.status,
                "body": clipped(&deleted.body),
                "display_at": rfc3339(&deleted.display_at),
                "cancelled_deliveries": deleted.cancelled,
            }),
        )
        .await;
        Ok(deleted)
    }

    /// Deletes an incident or maintenance with its whole timeline (admins only, checked by each
    /// surface); the components it held recover.
    pub async fn delete_incident(&self, actor: &Actor, id: i64) -> AppResult<DeletedIncident> {
        let deleted = self.store.delete_incident(id).await?;
        self.changed().await;
        let updates: Vec<Value> = deleted
            .updates
            .iter()
            .map(|(status, body, at)| {
                json!({ "status": status, "body": clipped(body), "display_at": rfc3339(at) })
            })
            .collect();
        let recovered: Vec<Value> = deleted
            .recovered
            .iter()
            .map(
                |(c, old, new)| json!({ "component": c, "old": old.as_str(), "new": new.as_str() }),
            )
            .collect();
        self.audit(
            actor,
            "incident.delete",
            &format!("incident:{id}"),
            json!({
                "kind": deleted.kind.as_str(),
                "name": deleted.name,
                "updates": updates,
                "components": recovered,
            }),
        )
        .await;
        Ok(deleted)
    }

    /// Sets a component's status outside any incident; the page and `/api/v2` show it at once.
    pub async fn set_component_status(
        &self,
        actor: &Actor,
        component_id: i64,
        status: ComponentStatus,
    ) -> AppResult<Component> {
        let (old, component) = self
            .store
            .set_component_status(component_id, status)
            .await?;
        self.changed().await;
        self.audit(
            actor,
            "component.status",
            &format!("component:{component_id}"),
            json!({ "old": old.as_str(), "new": status.as_str() }),
        )
        .await;
        Ok(component)
    }
}
