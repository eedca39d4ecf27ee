//! Postmortems: an incident's draft, its publication and its withdrawal. The incident's stamp
//! covers the text and whether it is published, so every write here re-stamps the incident in
//! the same transaction.

use chrono::{DateTime, Utc};

use super::incidents::{Also, Target};
use super::stamps::stamp_incident;
use super::{on_pool, Published, Store, StoreError, StoreResult};
use crate::domain::{self, FieldError, IncidentStatus, Invalid, Postmortem, UpdateDraft};

/// The postmortem columns of one incident, as a write found them.
#[derive(sqlx::FromRow)]
struct Current {
    kind: String,
    status: String,
    updated_at: DateTime<Utc>,
    postmortem_body: Option<String>,
    postmortem_updated_at: Option<DateTime<Utc>>,
    postmortem_published_at: Option<DateTime<Utc>>,
}

impl Current {
    fn postmortem(&self) -> Option<Postmortem> {
        self.postmortem_body.as_ref().map(|body| Postmortem {
            body: body.clone(),
            updated_at: self.postmortem_updated_at.unwrap_or(self.updated_at),
            published_at: self.postmortem_published_at,
        })
    }

    /// Maintenances have no postmortem (Statuspage gives them none either).
    fn check_incident(&self) -> StoreResult<()> {
        if self.kind == "incident" {
            Ok(())
        } else {
            Err(invalid("postmortem", "a maintenance has no postmortem"))
        }
    }
}

fn invalid(field: &str, message: &str) -> StoreError {
    StoreError::Invalid(Invalid(vec![FieldError::new(field, message)]))
}

/// What publishing changed.
#[derive(Debug, Clone)]
pub struct PostmortemPublished {
    pub postmortem: Postmortem,
    /// It was already public (publishing again keeps its first publication time).
    pub was_published: bool,
}

/// Which write a postmortem act makes, after checking the incident's state.
enum Write<'a> {
    Save(&'a str),
    Publish,
    Revert,
    Delete,
}

impl Store {
    /// Reads the incident's postmortem columns, checks `write` is allowed, applies it and
    /// re-stamps the incident, in one transaction. Returns the postmortem as it was before.
    async fn write_postmortem(&self, id: i64, write: Write<'_>) -> StoreResult<Option<Postmortem>> {
        let now = domain::now();
        let select = format!(
            "SELECT kind, status, updated_at, postmortem_body, postmortem_updated_at, \
             postmortem_published_at FROM incidents WHERE id = $1{}",
            if self.backend() == "postgres" {
                " FOR UPDATE"
            } else {
                ""
            }
        );
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let current: Option<Current> = sqlx::query_as(&select).bind(id).fetch_optional(&mut *tx).await?;
            let Some(current) = current else {
                tx.rollback().await?;
                return Err(StoreError::NotFound("incident"));
            };
            let before = current.postmortem();
            let refused = match (&write, &before) {
                _ if current.check_incident().is_err() => current.check_incident().err(),
                (Write::Save(_), _) => None,
                (_, None) => Some(StoreError::NotFound("postmortem")),
                (Write::Publish, Some(_)) if !matches!(current.status.as_str(), "resolved" | "postmortem") => {
                    Some(invalid(
                        "status",
                        &format!(
                            "the incident is still open ({}): resolve it before publishing its postmortem",
                            current.status
                        ),
                    ))
                }
                _ => None,
            };
            if let Some(e) = refused {
                tx.rollback().await?;
                return Err(e);
            }
            let query = match write {
                Write::Save(body) => sqlx::query(
                    "UPDATE incidents SET postmortem_body = $1, postmortem_updated_at = $2, updated_at = $2 \
                     WHERE id = $3",
                )
                .bind(body),
                Write::Publish => sqlx::query(
                    "UPDATE incidents SET postmortem_published_at = COALESCE(postmortem_published_at, $1), \
                     status = 'postmortem', updated_at = $1 WHERE id = $2",
                ),
                Write::Revert => sqlx::query(
                    "UPDATE incidents SET postmortem_published_at = NULL, updated_at = $1, \
                     status = CASE WHEN status = 'postmortem' THEN 'resolved' ELSE status END WHERE id = $2",
                ),
                Write::Delete => sqlx::query(
                    "UPDATE incidents SET postmortem_body = NULL, postmortem_updated_at = NULL, \
                     postmortem_published_at = NULL, updated_at = $1, \
                     status = CASE WHEN status = 'postmortem' THEN 'resolved' ELSE status END WHERE id = $2",
                ),
            };
            query.bind(now).bind(id).execute(&mut *tx).await?;
            stamp_incident!(self, tx, id);
            tx.commit().await?;
            Ok(before)
        })
    }

    /// Writes the postmortem's text: a new draft, or the draft's new text; a published
    /// postmortem stays published with the new text. Returns the postmortem as it was.
    pub async fn save_postmortem(&self, id: i64, body: &str) -> StoreResult<Option<Postmortem>> {
        self.write_postmortem(id, Write::Save(body)).await
    }

    /// Makes the postmortem public and sets the incident's status to `postmortem`. Only a
    /// closed incident's, and only one that has a draft.
    pub async fn publish_postmortem(&self, id: i64) -> StoreResult<PostmortemPublished> {
        let before = self
            .write_postmortem(id, Write::Publish)
            .await?
            .ok_or(StoreError::NotFound("postmortem"))?;
        let after = self
            .incident(id)
            .await?
            .postmortem
            .ok_or(StoreError::NotFound("postmortem"))?;
        Ok(PostmortemPublished {
            was_published: before.is_published(),
            postmortem: after,
        })
    }

    /// Publishes the postmortem together with the update that announces it (status
    /// `postmortem`, sent on the update's channels), in one transaction: subscribers hear of it
    /// exactly when it is public. Only a closed incident's, and only one that has a draft.
    pub async fn publish_postmortem_with_update(
        &self,
        id: i64,
        draft: &UpdateDraft,
        author: &str,
    ) -> StoreResult<(PostmortemPublished, Published)> {
        let before = self
            .incident(id)
            .await?
            .postmortem
            .ok_or(StoreError::NotFound("postmortem"))?;
        let closed = [IncidentStatus::Resolved, IncidentStatus::Postmortem];
        let target = Target::Existing {
            id,
            only_from: Some(&closed),
            also: Also::PublishPostmortem,
        };
        let posted = self.publish(target, draft, author).await?.ok_or_else(|| {
            invalid(
                "status",
                "the incident is still open: resolve it before publishing its postmortem",
            )
        })?;
        let after = self
            .incident(id)
            .await?
            .postmortem
            .filter(Postmortem::is_published)
            .ok_or(StoreError::NotFound("postmortem"))?;
        Ok((
            PostmortemPublished {
                was_published: before.is_published(),
                postmortem: after,
            },
            posted,
        ))
    }

    /// Takes the postmortem back to a draft; the incident's status returns to `resolved`.
    pub async fn revert_postmortem(&self, id: i64) -> StoreResult<Postmortem> {
        self.write_postmortem(id, Write::Revert)
            .await?
            .ok_or(StoreError::NotFound("postmortem"))
    }

    /// Removes the postmortem, draft or published; the incident's status returns to
    /// `resolved`. Returns what was removed.
    pub async fn delete_postmortem(&self, id: i64) -> StoreResult<Postmortem> {
        self.write_postmortem(id, Write::Delete)
            .await?
            .ok_or(StoreError::NotFound("postmortem"))
    }
}
