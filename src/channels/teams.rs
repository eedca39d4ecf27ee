//! Microsoft Teams through a Workflows (Power Automate) webhook: an update as an Adaptive Card
//! (title, status and time, the update, the components as facts, a button to the incident)
//! wrapped in the `message` envelope Workflows expects. Teams refuses messages over 28 KB, so
//! the body is cut first, then components are dropped. The webhook URL is the secret; there is
//! no signature.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::webhook::safe_http::{self, Answer};
use super::webhook::text::{shorten, Measure};
use super::webhook::{listed_components, Chat, ChatFormat};
use super::{Notice, PageInfo, Receipt, SendError};
use crate::domain::Choice;

/// The whole payload, in bytes: Teams' limit is 28 KB; the margin is for what Workflows adds
/// around the card on its way into the channel.
pub const MAX_PAYLOAD_BYTES: usize = 27_000;
/// What the update's text keeps at least before components are dropped to make room.
const BODY_MIN_BYTES: usize = 4_000;
/// A title longer than this is cut (a name is short anyway; this bounds the card).
const TITLE_MAX: usize = 200;

/// The Microsoft Teams channel: posts to incoming webhooks, through the shared chat channel.
pub type Teams = Chat<TeamsFormat>;

/// Microsoft Teams's message format and its reading of answers.
pub struct TeamsFormat;

impl ChatFormat for TeamsFormat {
    const NAME: &'static str = "teams";
    const LABEL: &'static str = "Microsoft Teams";

    fn message(notice: &Notice) -> serde_json::Value {
        message(notice)
    }

    fn test_message(page: &PageInfo) -> serde_json::Value {
        test_message(page)
    }

    fn classify(answer: &Answer, now: DateTime<Utc>) -> Result<Receipt, SendError> {
        classify(answer, now)
    }
}

/// The envelope a Workflows webhook expects around one Adaptive Card.
fn envelope(body: Vec<Value>, actions: Vec<Value>) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
            },
        }],
    })
}

fn size(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |v| v.len())
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%-d %b %Y %H:%M UTC").to_string()
}

/// The message for one update.
pub fn message(notice: &Notice) -> Value {
    let page = &notice.page;
    let update = &notice.update;
    let title = if notice.statement {
        format!("Security notice from {}", page.name)
    } else {
        notice.incident.name.clone()
    };
    let title = shorten(&title, TITLE_MAX, Measure::Chars, "");
    let mut subtitle = format!(
        "{} · {} · {}",
        update.status.label(),
        page.name,
        time(update.display_at)
    );
    if notice.statement {
        subtitle = format!("{} · {subtitle}", notice.incident.name);
    }
    let facts: Vec<(String, String)> = listed_components(notice)
        .into_iter()
        .map(|(name, status)| (name, status.label().to_string()))
        .collect();

    let card = |body: &str, shown: usize| {
        let mut blocks = vec![
            json!({
                "type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium",
                "wrap": true, "color": if notice.statement { "Attention" } else { "Default" },
            }),
            json!({"type": "TextBlock", "text": subtitle, "isSubtle": true, "wrap": true, "spacing": "None"}),
        ];
        if !body.is_empty() {
            blocks.push(json!({"type": "TextBlock", "text": body, "wrap": true}));
        }
        let mut listed: Vec<Value> = facts[..shown]
            .iter()
            .map(|(name, status)| json!({"title": name, "value": status}))
            .collect();
        if shown < facts.len() {
            listed.push(json!({
                "title": format!("and {} more", facts.len() - shown),
                "value": "see the incident",
            }));
        }
        if !listed.is_empty() {
            blocks.push(json!({"type": "FactSet", "facts": listed}));
        }
        envelope(
            blocks,
            vec![
                json!({"type": "Action.OpenUrl", "title": "View incident", "url": notice.incident_url}),
            ],
        )
    };

    // The text may take what the rest leaves, and at least BODY_MIN_BYTES; then components go.
    // Everything but the text itself: a card with a one-byte text, less that byte.
    let rest = size(&card("x", facts.len())).saturating_sub(1);
    let room = MAX_PAYLOAD_BYTES.saturating_sub(rest).max(BODY_MIN_BYTES);
    let body = shorten(update.body.trim(), room, Measure::JsonBytes, "");
    let fits = |shown: usize| size(&card(&body, shown)) <= MAX_PAYLOAD_BYTES;
    if fits(facts.len()) {
        return card(&body, facts.len());
    }
    // The most components that fit: `fewest` fits (or is none at all), `too_many` does not.
    let (mut fewest, mut too_many) = (0, facts.len());
    while fewest + 1 < too_many {
        let middle = (fewest + too_many) / 2;
        if fits(middle) {
            fewest = middle;
        } else {
            too_many = middle;
        }
    }
    card(&body, fewest)
}

/// The message a new Teams hook gets to prove it works.
pub fn test_message(page: &PageInfo) -> Value {
    let text = format!(
        "Herald: this channel will receive status updates from {} ({})",
        page.name, page.url
    );
    envelope(
        vec![
            json!({"type": "TextBlock", "text": shorten(&text, 2000, Measure::Chars, ""), "wrap": true}),
        ],
        vec![json!({"type": "Action.OpenUrl", "title": "Open the status page", "url": page.url})],
    )
}

/// Teams' answers: 200 or 202 is sent; 404 means the workflow was deleted or turned off, gone
/// for good; everything else as any hook (429 waits, 5xx is tried again).
fn classify(answer: &Answer, now: DateTime<Utc>) -> Result<Receipt, SendError> {
    match answer.status {
        404 => Err(SendError::Gone(format!(
            "Teams refused the message: the workflow was deleted or turned off ({})",
            safe_http::describe(answer)
        ))),
        _ => safe_http::classify(answer, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::webhook::{sample_notice, sample_outgoing, SafeClient};
    use crate::channels::{Channel, Message};
    use crate::domain::{AffectedComponent, ComponentStatus};
    use std::sync::Arc;

    #[test]
    fn an_update_is_an_adaptive_card_in_a_message() {
        let m = message(&sample_notice());
        assert_eq!(m["type"], "message");
        let attachment = &m["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert!(attachment["contentUrl"].is_null());
        let card = &attachment["content"];
        assert_eq!(
            card["$schema"],
            "http://adaptivecards.io/schemas/adaptive-card.json"
        );
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        let body = card["body"].as_array().unwrap();
        assert_eq!(body[0]["text"], "Elevated API errors");
        assert_eq!(body[0]["weight"], "Bolder");
        assert_eq!(body[1]["text"], "Identified · Acme · 1 May 2024 12:00 UTC");
        assert_eq!(body[1]["isSubtle"], true);
        assert!(body[2]["text"]
            .as_str()
            .unwrap()
            .starts_with("We found the cause: a **bad deploy**."));
        assert_eq!(body[3]["type"], "FactSet");
        assert_eq!(
            body[3]["facts"][0],
            json!({"title": "API", "value": "Major outage"})
        );
        assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
        assert_eq!(
            card["actions"][0]["url"],
            "https://status.acme.example/incidents/7"
        );
    }

    #[test]
    fn a_huge_update_stays_under_teams_limit() {
        let mut notice = sample_notice();
        notice.update.body = "Lorem \"ipsum\" dolor\n".repeat(5_000);
        assert!(notice.update.body.len() >= 100_000);
        notice.update.affected = (0..1000)
            .map(|i| AffectedComponent {
                component_id: i,
                name: format!("Component {i} in the eu-west-1 region"),
                old_status: ComponentStatus::Operational,
                new_status: ComponentStatus::MajorOutage,
            })
            .collect();
        let m = message(&notice);
        let bytes = serde_json::to_vec(&m).unwrap().len();
        assert!(bytes < 28_000, "{bytes}");
        assert!(bytes <= MAX_PAYLOAD_BYTES, "{bytes}");
        let body = m["attachments"][0]["content"]["body"].as_array().unwrap();
        let text = body[2]["text"].as_str().unwrap();
        assert!(text.ends_with('…'));
        assert!(text.len() >= BODY_MIN_BYTES / 2, "{}", text.len());
        let facts = body[3]["facts"].as_array().unwrap();
        let last = facts.last().unwrap()["title"].as_str().unwrap();
        assert!(
            last.starts_with("and ") && last.ends_with(" more"),
            "{last}"
        );
    }

    #[test]
    fn a_long_body_alone_is_cut_and_keeps_every_component() {
        let mut notice = sample_notice();
        notice.update.body = "word ".repeat(20_000);
        let m = message(&notice);
        assert!(serde_json::to_vec(&m).unwrap().len() <= MAX_PAYLOAD_BYTES);
        let facts = m["attachments"][0]["content"]["body"][3]["facts"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(facts, 2);
    }

    #[tokio::test]
    async fn the_test_message_names_the_page() {
        let teams = Teams::new(SafeClient::new(vec![]).unwrap());
        let page = Arc::new(sample_notice().page);
        let post = teams
            .render(&sample_outgoing("teams", Message::Test(page)))
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&post.body).unwrap();
        assert_eq!(
            body["attachments"][0]["content"]["body"][0]["text"],
            "Herald: this channel will receive status updates from Acme (https://status.acme.example)"
        );
    }

    #[test]
    fn teams_answers_are_read() {
        let now = Utc::now();
        let answer = |status| Answer {
            status,
            retry_after: None,
            body: String::new(),
            location: None,
        };
        assert_eq!(classify(&answer(202), now), Ok("HTTP 202".into()));
        assert!(matches!(
            classify(&answer(404), now),
            Err(SendError::Gone(_))
        ));
        assert!(matches!(
            classify(&answer(429), now),
            Err(SendError::RetryAfter { .. })
        ));
        assert!(matches!(
            classify(&answer(503), now),
            Err(SendError::Transient(_))
        ));
    }
}
