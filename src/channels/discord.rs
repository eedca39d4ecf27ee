//! Discord channel webhooks: an update as one embed (title linking to the incident, the update
//! in Discord's Markdown, a colour for its impact, the components as fields, the page as
//! footer), within Discord's limits. Mentions are switched off, so an "@everyone" in an update
//! pings nobody. The webhook URL is the secret; there is no signature.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::webhook::safe_http::{self, Answer};
use super::webhook::text::{shorten, shorten_keeping, Measure};
use super::webhook::{listed_components, Chat, ChatFormat};
use super::{Notice, PageInfo, Receipt, SendError};
use crate::domain::{rfc3339, Choice, Impact, IncidentKind};

// Discord's limits on an embed.
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 4096;
const FIELDS_MAX: usize = 25;
const FIELD_NAME_MAX: usize = 256;
const FIELD_VALUE_MAX: usize = 1024;
const FOOTER_MAX: usize = 2048;
/// The sum of every text in an embed.
const EMBED_MAX: usize = 6000;
/// A message's `content`.
const CONTENT_MAX: usize = 2000;
/// What the description keeps at least before fields are dropped to make room.
const DESCRIPTION_MIN: usize = 1000;
/// Discord counts characters; UTF-16 units are never fewer.
const MEASURE: Measure = Measure::Utf16;
/// A cut never falls inside a timestamp `<t:…>` or a link `[text](url)`.
const WHOLE: &[(char, char)] = &[('<', '>'), ('[', ')')];

/// Embed colour of an incident without impact.
pub const GREY: u32 = 0x95a5a6;
/// Embed colour of a minor incident.
pub const YELLOW: u32 = 0xf1c40f;
/// Embed colour of a major incident.
pub const ORANGE: u32 = 0xe67e22;
/// Embed colour of a critical incident and of a security statement.
pub const RED: u32 = 0xe74c3c;
/// Embed colour of a maintenance.
pub const BLUE: u32 = 0x3498db;
/// Embed colour of an incident or maintenance that is over.
pub const GREEN: u32 = 0x2ecc71;

/// The Discord channel: posts to incoming webhooks, through the shared chat channel.
pub type Discord = Chat<DiscordFormat>;

/// Discord's message format and its reading of answers.
pub struct DiscordFormat;

impl ChatFormat for DiscordFormat {
    const NAME: &'static str = "discord";
    const LABEL: &'static str = "Discord";

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

/// The colour of an update: red for a security statement, green once it is over, blue for
/// maintenance, else by impact.
pub fn colour(notice: &Notice) -> u32 {
    if notice.statement {
        return RED;
    }
    if notice.update.status.is_closed() || notice.incident.status.is_closed() {
        return GREEN;
    }
    if notice.incident.kind == IncidentKind::Maintenance {
        return BLUE;
    }
    match notice.incident.impact {
        Impact::None => GREY,
        Impact::Minor => YELLOW,
        Impact::Major => ORANGE,
        Impact::Critical => RED,
        Impact::Maintenance => BLUE,
    }
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
    let title = shorten(&title, TITLE_MAX, MEASURE, "");
    let footer = shorten(&page.name, FOOTER_MAX, MEASURE, "");

    let listed = listed_components(notice);
    let field = |name: &str, value: &str| {
        json!({
            "name": shorten(name, FIELD_NAME_MAX, MEASURE, ""),
            "value": shorten(value, FIELD_VALUE_MAX, MEASURE, ""),
            "inline": true,
        })
    };
    let field_len = |f: &Value| {
        MEASURE.len(f["name"].as_str().unwrap_or_default())
            + MEASURE.len(f["value"].as_str().unwrap_or_default())
    };
    // As many components as fit beside a readable description, then how many more.
    let mut shown = listed.len().min(FIELDS_MAX);
    let fields = loop {
        let mut fields: Vec<Value> = listed[..shown]
            .iter()
            .map(|(name, status)| field(name, status.label()))
            .collect();
        if shown < listed.len() {
            fields.pop();
            let more = listed.len() - fields.len();
            fields.push(field(
                &format!("and {more} more"),
                &format!("[See the incident]({})", notice.incident_url),
            ));
        }
        let used = MEASURE.len(&title)
            + MEASURE.len(&footer)
            + fields.iter().map(field_len).sum::<usize>();
        if used + DESCRIPTION_MIN <= EMBED_MAX || shown <= 1 {
            break fields;
        }
        shown -= 1;
    };
    let used =
        MEASURE.len(&title) + MEASURE.len(&footer) + fields.iter().map(field_len).sum::<usize>();
    let room = DESCRIPTION_MAX.min(EMBED_MAX.saturating_sub(used));

    let mut lead = String::new();
    if notice.statement {
        lead.push_str(&format!("**{}**\n", notice.incident.name));
    }
    lead.push_str(&format!(
        "**{}** · {}",
        update.status.label(),
        discord_time(update.display_at)
    ));
    let description = if update.body.trim().is_empty() {
        lead
    } else {
        format!("{lead}\n\n{}", update.body.trim())
    };

    json!({
        "embeds": [{
            "title": title,
            "url": notice.incident_url,
            "description": shorten_keeping(&description, room, MEASURE, "", WHOLE),
            "color": colour(notice),
            "fields": fields,
            "timestamp": rfc3339(&update.display_at),
            "footer": {"text": footer},
        }],
        "allowed_mentions": {"parse": []},
    })
}

/// A time every reader sees in their own time zone.
fn discord_time(t: DateTime<Utc>) -> String {
    format!("<t:{}:f>", t.timestamp())
}

/// The message a new Discord hook gets to prove it works.
pub fn test_message(page: &PageInfo) -> Value {
    let content = format!(
        "Herald: this channel will receive status updates from {} (<{}>)",
        page.name, page.url
    );
    json!({
        "content": shorten(&content, CONTENT_MAX, MEASURE, ""),
        "allowed_mentions": {"parse": []},
    })
}

/// Discord's answers: 200 or 204 is sent; an unknown webhook (404) or a token Discord no longer
/// takes (401, code 50027) is gone for good; 400 means Discord cannot take the message as made,
/// so it is refused for good; 429 waits for `retry_after` (seconds, in the JSON body or the
/// header); everything else as any hook.
fn classify(answer: &Answer, now: DateTime<Utc>) -> Result<Receipt, SendError> {
    let json: Option<Value> = serde_json::from_str(&answer.body).ok();
    let code = json.as_ref().and_then(|j| j["code"].as_i64());
    let said = |why: &str| {
        format!(
            "Discord refused the message: {why} ({})",
            safe_http::describe(answer)
        )
    };
    match answer.status {
        404 => Err(SendError::Gone(said("the webhook was deleted"))),
        401 if code == Some(50027) => Err(SendError::Gone(said(
            "the webhook's token was changed or revoked",
        ))),
        400 => Err(SendError::Permanent(said(
            "Discord cannot take the message Herald made",
        ))),
        429 => {
            let asked = json
                .as_ref()
                .and_then(|j| j["retry_after"].as_f64())
                .and_then(|secs| safe_http::parse_retry_after(&secs.to_string(), now))
                .or(answer.retry_after);
            Err(SendError::RetryAfter {
                until: safe_http::retry_time(asked, now),
                error: said("too many messages for now"),
            })
        }
        _ => safe_http::classify(answer, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::webhook::{sample_notice, sample_outgoing, SafeClient};
    use crate::channels::{Channel, Message};
    use crate::domain::{AffectedComponent, ComponentStatus, IncidentStatus};
    use std::sync::Arc;

    fn embed_total(embed: &Value) -> usize {
        let s = |v: &Value| MEASURE.len(v.as_str().unwrap_or_default());
        s(&embed["title"])
            + s(&embed["description"])
            + s(&embed["footer"]["text"])
            + embed["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| s(&f["name"]) + s(&f["value"]))
                .sum::<usize>()
    }

    #[test]
    fn an_update_is_one_embed_with_mentions_off() {
        let m = message(&sample_notice());
        assert_eq!(m["allowed_mentions"], json!({"parse": []}));
        let embed = &m["embeds"][0];
        assert_eq!(embed["title"], "Elevated API errors");
        assert_eq!(embed["url"], "https://status.acme.example/incidents/7");
        assert_eq!(embed["color"], ORANGE);
        assert_eq!(embed["timestamp"], "2024-05-01T12:00:00.000Z");
        assert_eq!(embed["footer"]["text"], "Acme");
        let description = embed["description"].as_str().unwrap();
        assert!(
            description.starts_with(
                "**Identified** · <t:1714564800:f>\n\nWe found the cause: a **bad deploy**."
            ),
            "{description}"
        );
        assert_eq!(
            embed["fields"][0],
            json!({"name": "API", "value": "Major outage", "inline": true})
        );
    }

    #[test]
    fn long_texts_are_cut_to_discords_limits() {
        let mut notice = sample_notice();
        notice.incident.name = "x".repeat(300);
        notice.update.body = "Everything is slow @everyone. ".repeat(400);
        notice.update.affected = (0..40)
            .map(|i| AffectedComponent {
                component_id: i,
                name: format!("{i} {}", "n".repeat(300)),
                old_status: ComponentStatus::Operational,
                new_status: ComponentStatus::MajorOutage,
            })
            .collect();
        let m = message(&notice);
        let embed = &m["embeds"][0];
        assert_eq!(MEASURE.len(embed["title"].as_str().unwrap()), TITLE_MAX);
        let description = embed["description"].as_str().unwrap();
        assert!(MEASURE.len(description) <= DESCRIPTION_MAX);
        assert!(description.ends_with('…'), "{description}");
        let fields = embed["fields"].as_array().unwrap();
        assert!(fields.len() <= FIELDS_MAX);
        for f in fields {
            assert!(MEASURE.len(f["name"].as_str().unwrap()) <= FIELD_NAME_MAX);
            assert!(MEASURE.len(f["value"].as_str().unwrap()) <= FIELD_VALUE_MAX);
        }
        let last = fields.last().unwrap()["name"].as_str().unwrap();
        assert!(
            last.starts_with("and ") && last.ends_with(" more"),
            "{last}"
        );
        assert!(embed_total(embed) <= EMBED_MAX, "{}", embed_total(embed));
        assert!(MEASURE.len(description) >= DESCRIPTION_MIN);
    }

    #[test]
    fn the_colour_follows_the_impact() {
        let mut notice = sample_notice();
        for (impact, expected) in [
            (Impact::None, GREY),
            (Impact::Minor, YELLOW),
            (Impact::Major, ORANGE),
            (Impact::Critical, RED),
        ] {
            notice.incident.impact = impact;
            assert_eq!(colour(&notice), expected, "{impact:?}");
        }
        notice.incident.kind = IncidentKind::Maintenance;
        notice.incident.status = IncidentStatus::InProgress;
        notice.update.status = IncidentStatus::InProgress;
        assert_eq!(colour(&notice), BLUE);
        notice.update.status = IncidentStatus::Completed;
        assert_eq!(colour(&notice), GREEN);
        let mut resolved = sample_notice();
        resolved.update.status = IncidentStatus::Resolved;
        assert_eq!(colour(&resolved), GREEN);
        let mut statement = sample_notice();
        statement.statement = true;
        statement.incident.impact = Impact::None;
        assert_eq!(colour(&statement), RED);
        let m = message(&statement);
        assert_eq!(m["embeds"][0]["title"], "Security notice from Acme");
    }

    #[tokio::test]
    async fn the_test_message_names_the_page() {
        let discord = Discord::new(SafeClient::new(vec![]).unwrap());
        let page = Arc::new(sample_notice().page);
        let post = discord
            .render(&sample_outgoing("discord", Message::Test(page)))
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&post.body).unwrap();
        assert_eq!(
            body["content"],
            "Herald: this channel will receive status updates from Acme (<https://status.acme.example>)"
        );
        assert_eq!(body["allowed_mentions"], json!({"parse": []}));
    }

    #[test]
    fn discords_answers_are_read() {
        let now = Utc::now();
        let answer = |status, body: &str| Answer {
            status,
            retry_after: None,
            body: body.into(),
            location: None,
        };
        assert_eq!(classify(&answer(204, ""), now), Ok("HTTP 204".into()));
        assert!(matches!(
            classify(
                &answer(404, r#"{"message": "Unknown Webhook", "code": 10015}"#),
                now
            ),
            Err(SendError::Gone(_))
        ));
        assert!(matches!(
            classify(
                &answer(
                    401,
                    r#"{"message": "Invalid Webhook Token", "code": 50027}"#
                ),
                now
            ),
            Err(SendError::Gone(_))
        ));
        match classify(
            &answer(
                429,
                r#"{"message": "You are being rate limited.", "retry_after": 2.5, "global": false}"#,
            ),
            now,
        ) {
            Err(SendError::RetryAfter { until, .. }) => {
                assert_eq!(until, now + chrono::Duration::milliseconds(2500))
            }
            other => panic!("{other:?}"),
        }
        let header_only = Answer {
            retry_after: Some(now + chrono::Duration::seconds(7)),
            ..answer(429, "")
        };
        match classify(&header_only, now) {
            Err(SendError::RetryAfter { until, .. }) => {
                assert_eq!(until, now + chrono::Duration::seconds(7))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(&answer(502, "bad gateway"), now),
            Err(SendError::Transient(_))
        ));
    }
}
