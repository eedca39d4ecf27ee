//! Incident templates: responders create, change and remove them; the new-incident and update
//! forms and both APIs start from one. Nothing here reaches customers until an incident or
//! update made from a template is published (and screened) the ordinary way.

use serde_json::json;

use super::{Actor, App, AppResult};
use crate::domain::{Choice, Template, TemplateDraft};

/// A template as the audit log records it.
fn audited(t: &Template) -> serde_json::Value {
    json!({
        "name": t.name,
        "title": t.title,
        "body": t.body.chars().take(2000).collect::<String>(),
        "update_status": t.update_status.as_str(),
        "components": t.components.iter().map(|(id, s)| json!({
            "id": id, "status": s.map(|s| s.as_str()),
        })).collect::<Vec<_>>(),
        "should_tweet": t.should_tweet,
        "should_send_notifications": t.should_send_notifications,
        "group_id": t.group_id,
    })
}

impl App {
    pub async fn create_template(
        &self,
        actor: &Actor,
        draft: &TemplateDraft,
    ) -> AppResult<Template> {
        let template = self.store.create_template(draft, &actor.name).await?;
        self.audit(
            actor,
            "template.create",
            &format!("template:{}", template.id),
            audited(&template),
        )
        .await;
        Ok(template)
    }

    pub async fn update_template(
        &self,
        actor: &Actor,
        id: i64,
        draft: &TemplateDraft,
    ) -> AppResult<Template> {
        let (before, after) = self.store.update_template(id, draft).await?;
        self.audit(
            actor,
            "template.update",
            &format!("template:{id}"),
            json!({ "old": audited(&before), "new": audited(&after) }),
        )
        .await;
        Ok(after)
    }

    pub async fn delete_template(&self, actor: &Actor, id: i64) -> AppResult<()> {
        let before = self.store.delete_template(id).await?;
        self.audit(
            actor,
            "template.delete",
            &format!("template:{id}"),
            json!({ "old": audited(&before) }),
        )
        .await;
        Ok(())
    }
}
