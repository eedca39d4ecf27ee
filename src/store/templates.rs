//! Incident templates and the components each names. Templates are staff's own drafts, never
//! shown to customers as they are, so they carry no stamp: what an incident takes from one is
//! stamped when it is published.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{on_pool, Store, StoreError, StoreResult};
use crate::domain::{
    self, Choice, ComponentStatus, FieldError, IncidentStatus, Invalid, Template, TemplateDraft,
};

const TEMPLATE_COLUMNS: &str = "SELECT id, name, title, body, update_status, should_tweet, \
     should_send_notifications, group_id, created_at, updated_at FROM incident_templates";

#[derive(sqlx::FromRow)]
struct TemplateRow {
    id: i64,
    name: String,
    title: String,
    body: String,
    update_status: String,
    should_tweet: bool,
    should_send_notifications: bool,
    group_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct TemplateComponentRow {
    template_id: i64,
    component_id: i64,
    status: Option<String>,
}

fn assemble(
    rows: Vec<TemplateRow>,
    links: Vec<TemplateComponentRow>,
) -> StoreResult<Vec<Template>> {
    let mut by_template: HashMap<i64, Vec<(i64, Option<ComponentStatus>)>> = HashMap::new();
    for link in links {
        let status = link
            .status
            .as_deref()
            .map(ComponentStatus::from_stored)
            .transpose()
            .map_err(StoreError::Corrupt)?;
        by_template
            .entry(link.template_id)
            .or_default()
            .push((link.component_id, status));
    }
    rows.into_iter()
        .map(|r| {
            Ok(Template {
                update_status: IncidentStatus::from_stored(&r.update_status)
                    .map_err(StoreError::Corrupt)?,
                components: by_template.remove(&r.id).unwrap_or_default(),
                id: r.id,
                name: r.name,
                title: r.title,
                body: r.body,
                should_tweet: r.should_tweet,
                should_send_notifications: r.should_send_notifications,
                group_id: r.group_id,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        })
        .collect()
}

/// Within transaction `$tx`, replaces template `$id`'s components with `$draft`'s, refusing
/// ids of components that do not exist (422 naming each).
macro_rules! write_components {
    ($tx:expr, $id:expr, $draft:expr) => {{
        let known: Vec<i64> = sqlx::query_scalar("SELECT id FROM components")
            .fetch_all(&mut *$tx)
            .await?;
        let unknown: Vec<FieldError> = $draft
            .components
            .iter()
            .filter(|(c, _)| !known.contains(c))
            .map(|(c, _)| FieldError::new(format!("components.{c}"), "no such component"))
            .collect();
        if !unknown.is_empty() {
            $tx.rollback().await?;
            return Err(StoreError::Invalid(Invalid(unknown)));
        }
        sqlx::query("DELETE FROM template_components WHERE template_id = $1")
            .bind($id)
            .execute(&mut *$tx)
            .await?;
        for (component_id, status) in &$draft.components {
            sqlx::query(
                "INSERT INTO template_components (template_id, component_id, status) VALUES ($1, $2, $3)",
            )
            .bind($id)
            .bind(component_id)
            .bind(status.map(|s| s.as_str()))
            .execute(&mut *$tx)
            .await?;
        }
    }};
}

impl Store {
    /// Every template, by name.
    pub async fn templates(&self) -> StoreResult<Vec<Template>> {
        let (rows, links) = on_pool!(self, read pool => {
            let mut tx = pool.begin().await?;
            let rows: Vec<TemplateRow> = sqlx::query_as(&format!("{TEMPLATE_COLUMNS} ORDER BY name, id"))
                .fetch_all(&mut *tx)
                .await?;
            let links: Vec<TemplateComponentRow> = sqlx::query_as(
                "SELECT template_id, component_id, status FROM template_components ORDER BY component_id",
            )
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            (rows, links)
        });
        assemble(rows, links)
    }

    pub async fn template(&self, id: i64) -> StoreResult<Template> {
        let (rows, links) = on_pool!(self, read pool => {
            let mut tx = pool.begin().await?;
            let rows: Vec<TemplateRow> = sqlx::query_as(&format!("{TEMPLATE_COLUMNS} WHERE id = $1"))
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
            let links: Vec<TemplateComponentRow> = sqlx::query_as(
                "SELECT template_id, component_id, status FROM template_components WHERE template_id = $1 \
                 ORDER BY component_id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            (rows, links)
        });
        assemble(rows, links)?
            .pop()
            .ok_or(StoreError::NotFound("template"))
    }

    pub async fn create_template(
        &self,
        draft: &TemplateDraft,
        author: &str,
    ) -> StoreResult<Template> {
        let now = domain::now();
        let id: i64 = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO incident_templates (name, title, body, update_status, should_tweet, \
                 should_send_notifications, group_id, created_at, updated_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) RETURNING id",
            )
            .bind(&draft.name)
            .bind(&draft.title)
            .bind(&draft.body)
            .bind(draft.update_status.as_str())
            .bind(draft.should_tweet)
            .bind(draft.should_send_notifications)
            .bind(&draft.group_id)
            .bind(now)
            .bind(author)
            .fetch_one(&mut *tx)
            .await?;
            write_components!(tx, id, draft);
            tx.commit().await?;
            id
        });
        self.template(id).await
    }

    /// Replaces a template's fields and components. Returns it as it was and as it is now.
    pub async fn update_template(
        &self,
        id: i64,
        draft: &TemplateDraft,
    ) -> StoreResult<(Template, Template)> {
        let before = self.template(id).await?;
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let found = sqlx::query(
                "UPDATE incident_templates SET name = $1, title = $2, body = $3, update_status = $4, \
                 should_tweet = $5, should_send_notifications = $6, group_id = $7, updated_at = $8 WHERE id = $9",
            )
            .bind(&draft.name)
            .bind(&draft.title)
            .bind(&draft.body)
            .bind(draft.update_status.as_str())
            .bind(draft.should_tweet)
            .bind(draft.should_send_notifications)
            .bind(&draft.group_id)
            .bind(domain::now())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if found == 0 {
                tx.rollback().await?;
                return Err(StoreError::NotFound("template"));
            }
            write_components!(tx, id, draft);
            tx.commit().await?;
        });
        Ok((before, self.template(id).await?))
    }

    /// Removes a template (its component list goes with it). Returns what was removed.
    pub async fn delete_template(&self, id: i64) -> StoreResult<Template> {
        let before = self.template(id).await?;
        let deleted = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM template_components WHERE template_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let deleted = sqlx::query("DELETE FROM incident_templates WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            deleted
        });
        if deleted == 0 {
            return Err(StoreError::NotFound("template"));
        }
        Ok(before)
    }
}
