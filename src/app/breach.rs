//! Breach mode in one act: pause every channel, publish one statement, pin it above the status
//! page and in every customer site's banner, and send it on every channel despite the pause.
//! Ending it unpins the statement and leaves outbound paused until someone resumes.

use serde_json::json;

use super::{Actor, App, AppError, AppResult};
use crate::domain::{
    self, resolve_channels, Choice, FieldError, Impact, IncidentDraft, IncidentStatus, Invalid,
    UpdateDraft,
};
use crate::store::{Breach, ChannelReach, StoreError};

/// What starting breach mode would send, shown before anything is stored.
#[derive(Debug, Clone)]
pub struct BreachPreview {
    /// The statement's title (the incident's name), trimmed.
    pub title: String,
    /// The statement as written (Markdown), trimmed.
    pub statement: String,
    /// The statement as every channel shows it: safe HTML.
    pub html: String,
    /// The post on X, as the worker composes it (the incident link gets its number once
    /// published).
    pub x_text: String,
    /// Every channel it goes out on, with how many recipients each has now.
    pub channels: Vec<ChannelReach>,
}

/// A validated statement: its title and text, and the draft that publishes it.
struct Statement {
    title: String,
    draft: IncidentDraft,
}

/// Checks a title and statement with the same rules as any incident, naming the breach form's
/// fields in the errors.
fn parse_statement(title: &str, statement: &str) -> AppResult<Statement> {
    let mut errors: Vec<FieldError> = Vec::new();
    let title = domain::parse_name("title", title)
        .map_err(|e| errors.push(e))
        .ok();
    let body = domain::parse_body("statement", statement, true)
        .map_err(|e| errors.push(e))
        .ok();
    let channels = resolve_channels(true, None, true)
        .map_err(|e| errors.push(e))
        .ok();
    match (title, body, channels) {
        (Some(title), Some(body), Some(channels)) if errors.is_empty() => Ok(Statement {
            draft: IncidentDraft {
                name: title.clone(),
                impact: Impact::Critical,
                first: UpdateDraft {
                    status: IncidentStatus::Identified,
                    body,
                    components: Vec::new(),
                    notify: true,
                    channels,
                    custom_tweet: None,
                    display_at: None,
                },
            },
            title,
        }),
        _ => Err(AppError::Store(StoreError::Invalid(Invalid(errors)))),
    }
}

impl App {
    /// What starting breach mode with this title and statement would send, on which channels
    /// and to how many recipients each. Stores nothing.
    pub async fn preview_breach(&self, title: &str, statement: &str) -> AppResult<BreachPreview> {
        let Statement { title, draft } = parse_statement(title, statement)?;
        let first = &draft.first;
        let html = domain::markdown::to_safe_html(&first.body, &self.config.public_url());
        let x_text = self.post_on_x(None, first.status.label(), &title, &first.body, None);
        let channels = self.store.channel_reach(&first.channels).await?;
        Ok(BreachPreview {
            title,
            statement: first.body.clone(),
            html,
            x_text,
            channels,
        })
    }

    /// Starts breach mode: pauses every channel by hand, publishes the statement as a new
    /// critical incident on every channel, and opens the breach that pins it and lets it
    /// through the pause. Refused while breach mode is already on; bad input changes nothing.
    /// Callers on the web require a fresh two-factor code first.
    pub async fn start_breach(
        &self,
        actor: &Actor,
        title: &str,
        statement: &str,
    ) -> AppResult<Breach> {
        let Statement { title, draft } = parse_statement(title, statement)?;
        if let Some(open) = self.store.open_breach().await? {
            return Err(AppError::Store(StoreError::Conflict(format!(
                "breach mode is already on (\"{}\", started by {}): end it before starting another",
                open.title, open.started_by
            ))));
        }
        // Pause first, so nothing else goes out from here on. This pause replaces a tripwire's:
        // only a pause made by hand lets the statement through.
        self.notifier
            .pause_for_breach(&self.store, &format!("Breach mode: {title}"), &actor.name)
            .await?;
        // Not screened by the tripwire: a statement to everyone is exactly what the burst and
        // link rules would stop, and a trip would hold the very message breach mode exists to
        // send. The person acting is an admin who gave a fresh code, or the CLI on the host.
        let published = self.store.open_incident(&draft, &actor.name).await?;
        let breach = self
            .store
            .start_breach(published.update_id, &actor.name)
            .await?;
        self.changed().await;
        self.audit(
            actor,
            "breach.start",
            &format!("incident:{}", published.incident_id),
            json!({
                "title": title,
                "incident": published.incident_id,
                "update": published.update_id,
                "channels": draft.first.channels,
                "breach": breach.id,
            }),
        )
        .await;
        Ok(breach)
    }

    /// Ends breach mode: the statement is unpinned; outbound stays paused until someone
    /// resumes. `None` when breach mode was not on.
    pub async fn end_breach(&self, actor: &Actor) -> AppResult<Option<Breach>> {
        let ended = self.store.end_breach(&actor.name).await?;
        let Some(breach) = ended else {
            return Ok(None);
        };
        self.changed().await;
        self.audit(
            actor,
            "breach.end",
            &format!("incident:{}", breach.incident_id),
            json!({
                "title": breach.title,
                "incident": breach.incident_id,
                "update": breach.update_id,
                "breach": breach.id,
            }),
        )
        .await;
        Ok(Some(breach))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_goes_out_on_every_channel_as_a_critical_incident() {
        let s = parse_statement("  Security incident ", "We were breached.\r\n").unwrap();
        assert_eq!(s.title, "Security incident");
        assert_eq!(s.draft.impact, Impact::Critical);
        assert_eq!(s.draft.first.status, IncidentStatus::Identified);
        assert!(s.draft.first.notify);
        assert!(s.draft.first.post_to_x());
        assert!(s.draft.first.sends_on(crate::channels::names::EMAIL));
        assert!(s.draft.first.components.is_empty());
    }

    #[test]
    fn an_empty_title_or_statement_is_refused_by_field() {
        let Err(AppError::Store(StoreError::Invalid(Invalid(errors)))) = parse_statement(" ", "")
        else {
            panic!("expected field errors");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "statement"]);
    }
}
