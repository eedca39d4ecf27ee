//! Postmortems: writing the draft, publishing it (optionally telling subscribers and the other
//! channels through an update of status `postmortem`), taking it back to a draft, removing it.
//! The text is screened like a post before it is saved or published: customers read it.

use serde_json::json;

use super::{Actor, App, AppError, AppResult};
use crate::domain::{self, Choice, IncidentStatus, Postmortem, UpdateDraft};
use crate::security::tripwire::{Outbound, Trip};
use crate::store::{Published, StoreError};

/// Longest postmortem text kept in an audit entry.
const AUDIT_CHARS: usize = 2000;

fn clip(text: &str) -> String {
    text.chars().take(AUDIT_CHARS).collect()
}

/// How a postmortem is published.
#[derive(Debug, Clone, Default)]
pub struct PublishPostmortem {
    /// Tell subscribers (and the other channels) with an update carrying the text.
    pub notify: bool,
    /// The channels it goes out on, as `domain::resolve_channels` gives them (empty without
    /// `notify`).
    pub channels: Vec<&'static str>,
    /// The post on X, instead of the composed one (Statuspage's `custom_tweet`).
    pub custom_tweet: Option<String>,
}

/// What publishing did.
#[derive(Debug, Clone)]
pub struct PostmortemOutcome {
    pub postmortem: Postmortem,
    /// The `postmortem` update that carried it to subscribers, when notifying.
    pub update: Option<Published>,
}

impl App {
    /// The trips a postmortem text would cause: its links always (it goes on the public page),
    /// and the burst rules too when it is sent to subscribers.
    async fn screen_postmortem(
        &self,
        actor: &Actor,
        incident_id: i64,
        draft: &UpdateDraft,
    ) -> AppResult<()> {
        let name = self.store.incident(incident_id).await?.name;
        let trips: Vec<Trip> = if draft.notify {
            self.assess_update(Some(incident_id), &name, draft).await?
        } else {
            let post = Outbound {
                name: &name,
                body: &draft.body,
                tweet: None,
            };
            self.rules.check_links(&post).into_iter().collect()
        };
        if trips.is_empty() {
            return Ok(());
        }
        for trip in &trips {
            self.trip(actor, trip).await?;
        }
        let why: Vec<String> = trips.iter().map(|t| t.detail.clone()).collect();
        Err(AppError::Tripped(format!(
            "the postmortem tripped the wire and was not saved: {}",
            why.join("; ")
        )))
    }

    /// Writes the postmortem's text. A published postmortem stays published with the new
    /// text; the audit entry keeps the old and the new.
    pub async fn save_postmortem_draft(
        &self,
        actor: &Actor,
        incident_id: i64,
        body: &str,
    ) -> AppResult<Postmortem> {
        let body = domain::parse_body("body", body, true)
            .map_err(|e| StoreError::Invalid(domain::Invalid(vec![e])))?;
        let check = postmortem_update(&body, &PublishPostmortem::default());
        self.screen_postmortem(actor, incident_id, &check).await?;
        let before = self.store.save_postmortem(incident_id, &body).await?;
        self.changed().await;
        self.audit(
            actor,
            "postmortem.save",
            &format!("incident:{incident_id}"),
            json!({
                "old": before.as_ref().map(|p| clip(&p.body)),
                "new": clip(&body),
                "published": before.as_ref().is_some_and(Postmortem::is_published),
            }),
        )
        .await;
        self.store
            .incident(incident_id)
            .await?
            .postmortem
            .ok_or(AppError::Store(StoreError::NotFound("postmortem")))
    }

    /// Makes the postmortem public (the incident's status becomes `postmortem`); with
    /// `notify`, posts it as an update of status `postmortem` on the chosen channels, so the
    /// outbox delivers it like any update. Only a closed incident's draft may be published.
    pub async fn publish_postmortem(
        &self,
        actor: &Actor,
        incident_id: i64,
        how: &PublishPostmortem,
    ) -> AppResult<PostmortemOutcome> {
        let incident = self.store.incident(incident_id).await?;
        let draft = incident
            .postmortem
            .as_ref()
            .ok_or(AppError::Store(StoreError::NotFound("postmortem")))?;
        let update = postmortem_update(&draft.body, how);
        if let Some(tweet) = &update.custom_tweet {
            if !domain::tweet::parse_tweet(tweet).valid {
                return Err(
                    StoreError::Invalid(domain::Invalid(vec![domain::FieldError::new(
                        "custom_tweet",
                        format!(
                            "is not a post X accepts (at most {} characters as X counts them)",
                            domain::tweet::MAX_WEIGHTED_LENGTH
                        ),
                    )]))
                    .into(),
                );
            }
        }
        if incident.is_open() {
            return Err(
                StoreError::Invalid(domain::Invalid(vec![domain::FieldError::new(
                    "status",
                    format!(
                    "the incident is still open ({}): resolve it before publishing its postmortem",
                    incident.status.as_str()
                ),
                )]))
                .into(),
            );
        }
        self.screen_postmortem(actor, incident_id, &update).await?;
        let (published, posted) = if how.notify {
            let (published, posted) = self
                .store
                .publish_postmortem_with_update(incident_id, &update, &actor.name)
                .await?;
            (published, Some(posted))
        } else {
            (self.store.publish_postmortem(incident_id).await?, None)
        };
        self.changed().await;
        self.audit(
            actor,
            "postmortem.publish",
            &format!("incident:{incident_id}"),
            json!({
                "notify": how.notify,
                "channels": how.channels,
                "update": posted.map(|p| p.update_id),
                "republished": published.was_published,
                "body": clip(&published.postmortem.body),
            }),
        )
        .await;
        Ok(PostmortemOutcome {
            postmortem: published.postmortem,
            update: posted,
        })
    }

    /// Takes a published postmortem back to a draft: it leaves the public page, the feeds and
    /// the JSON API, and the incident's status returns to `resolved`.
    pub async fn revert_postmortem(
        &self,
        actor: &Actor,
        incident_id: i64,
    ) -> AppResult<Postmortem> {
        let before = self.store.revert_postmortem(incident_id).await?;
        self.changed().await;
        self.audit(
            actor,
            "postmortem.revert",
            &format!("incident:{incident_id}"),
            json!({ "was_published": before.is_published() }),
        )
        .await;
        self.store
            .incident(incident_id)
            .await?
            .postmortem
            .ok_or(AppError::Store(StoreError::NotFound("postmortem")))
    }

    /// Removes the postmortem, draft or published.
    pub async fn delete_postmortem(&self, actor: &Actor, incident_id: i64) -> AppResult<()> {
        let before = self.store.delete_postmortem(incident_id).await?;
        self.changed().await;
        self.audit(
            actor,
            "postmortem.delete",
            &format!("incident:{incident_id}"),
            json!({ "was_published": before.is_published(), "old": clip(&before.body) }),
        )
        .await;
        Ok(())
    }
}

/// The update that carries a postmortem to subscribers.
fn postmortem_update(body: &str, how: &PublishPostmortem) -> UpdateDraft {
    UpdateDraft {
        status: IncidentStatus::Postmortem,
        body: body.to_string(),
        components: Vec::new(),
        notify: how.notify,
        channels: if how.notify {
            how.channels.clone()
        } else {
            Vec::new()
        },
        custom_tweet: how
            .custom_tweet
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        display_at: None,
    }
}
