//! Slack incoming webhooks: an update as Block Kit blocks (a header, the update in Slack's
//! `mrkdwn`, the components it changed, a link to the incident) with a plain `text` fallback for
//! notifications. Within Slack's limits: a header of 150 characters, sections of 3000, 50
//! blocks. The webhook URL is the secret; there is no signature.

use chrono::{DateTime, Utc};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde_json::{json, Value};
use url::Url;

use super::webhook::safe_http::{self, Answer};
use super::webhook::text::{shorten, shorten_keeping, Measure};
use super::webhook::{listed_components, Chat, ChatFormat};
use super::{Notice, PageInfo, Receipt, SendError};
use crate::domain::markdown::to_plain_text;
use crate::domain::{Choice, ComponentStatus};

/// Slack's limit on a header block's text.
const HEADER_MAX: usize = 150;
/// Slack's limit on a section's text.
const SECTION_MAX: usize = 3000;
/// Slack's limit on one field of a section.
const FIELD_MAX: usize = 2000;
/// Slack's limit on the fields of one section.
const FIELDS_MAX: usize = 10;
/// Slack's limit on blocks in one message.
pub const MAX_BLOCKS: usize = 50;
/// The fallback `text` (Slack truncates at 40,000; a notification shows far less).
const TEXT_MAX: usize = 3000;
/// Slack's limits are in characters without saying which kind; UTF-16 units are never fewer
/// than code points, so a text within the limit in these is within it either way.
const MEASURE: Measure = Measure::Utf16;
/// A cut never falls inside a link `<url|text>` or an escaped `&amp;`.
const WHOLE: &[(char, char)] = &[('<', '>'), ('&', ';')];

/// The Slack channel: posts to incoming webhooks, through the shared chat channel.
pub type Slack = Chat<SlackFormat>;

/// Slack's message format and its reading of answers.
pub struct SlackFormat;

impl ChatFormat for SlackFormat {
    const NAME: &'static str = "slack";
    const LABEL: &'static str = "Slack";

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

/// Slack's escaping: `&`, `<` and `>` are the only characters it asks to encode.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A URL inside `<url|text>`: escaped, and with `|` encoded so it cannot end the URL early.
fn escape_url(url: &str) -> String {
    escape(url).replace('|', "%7C")
}

/// A link as Slack writes it.
fn link(url: &str, text: &str) -> String {
    format!("<{}|{}>", escape_url(url), escape(text))
}

/// A time every reader sees in their own time zone, with a UTC fallback.
fn slack_time(t: DateTime<Utc>) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} at {{time}}|{}>",
        t.timestamp(),
        t.format("%-d %b %Y %H:%M UTC")
    )
}

/// The message for one update.
pub fn message(notice: &Notice) -> Value {
    let page = &notice.page;
    let incident = &notice.incident;
    let update = &notice.update;
    let title = if notice.statement {
        format!("Security notice from {}", page.name)
    } else {
        incident.name.clone()
    };
    let read_more = format!(" {}", link(&notice.incident_url, "Read the full update"));

    let mut lead = String::new();
    if notice.statement {
        lead.push_str(&format!("*{}*\n", escape(&incident.name)));
    }
    lead.push_str(&format!(
        "*{}* · {}",
        update.status.label(),
        slack_time(update.display_at)
    ));
    let body = to_mrkdwn(&update.body, &page.url);
    let text = if body.is_empty() {
        lead
    } else {
        format!("{lead}\n\n{body}")
    };

    let mut blocks = vec![
        json!({
            "type": "header",
            "text": {"type": "plain_text", "text": shorten(&title, HEADER_MAX, MEASURE, ""), "emoji": true},
        }),
        json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": shorten_keeping(&text, SECTION_MAX, MEASURE, &read_more, WHOLE)},
        }),
    ];
    if let Some(block) = components_block(&listed_components(notice)) {
        blocks.push(block);
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{
            "type": "mrkdwn",
            "text": link(&notice.incident_url, &format!("View this incident on {}", page.name)),
        }],
    }));
    blocks.truncate(MAX_BLOCKS);

    let fallback = format!(
        "{}: {}. {}",
        escape(&title),
        update.status.label(),
        escape(&to_plain_text(&update.body))
    );
    json!({
        "text": shorten_keeping(&fallback, TEXT_MAX, MEASURE, &read_more, WHOLE),
        "blocks": blocks,
    })
}

/// The components as one block: side by side as fields when there are few, else one list of as
/// many as fit and how many more there are.
fn components_block(listed: &[(String, ComponentStatus)]) -> Option<Value> {
    if listed.is_empty() {
        return None;
    }
    if listed.len() <= FIELDS_MAX {
        let fields: Vec<Value> = listed
            .iter()
            .map(|(name, status)| {
                let text = format!("*{}*\n{}", escape(name), status.label());
                json!({"type": "mrkdwn", "text": shorten_keeping(&text, FIELD_MAX, MEASURE, "", WHOLE)})
            })
            .collect();
        return Some(json!({"type": "section", "fields": fields}));
    }
    // Room for the last line, "and 9999 more".
    let room = SECTION_MAX - 20;
    let mut text = String::new();
    let mut shown = 0;
    for (name, status) in listed {
        let line = format!("• *{}*: {}\n", escape(name), status.label());
        if MEASURE.len(&text) + MEASURE.len(&line) > room {
            break;
        }
        text.push_str(&line);
        shown += 1;
    }
    if shown < listed.len() {
        text.push_str(&format!("and {} more", listed.len() - shown));
    }
    Some(json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": text.trim_end()},
    }))
}

/// The message a new Slack hook gets to prove it works.
pub fn test_message(page: &PageInfo) -> Value {
    let text = format!(
        "Herald: this channel will receive status updates from {} ({})",
        escape(&page.name),
        link(&page.url, &page.url)
    );
    json!({
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": shorten_keeping(&text, SECTION_MAX, MEASURE, "", WHOLE)}}],
    })
}

/// Markdown as Slack's `mrkdwn`: `**b**` becomes `*b*`, `_i_` stays, `~~s~~` becomes `~s~`,
/// `[t](u)` becomes `<u|t>` (relative links made absolute against `base`, links other than
/// http, https and mailto dropped to their text), lists get bullets, quotes `>`. Everything a
/// person wrote is escaped, so `<!channel>` or `<script>` arrive as text.
pub fn to_mrkdwn(markdown: &str, base: &str) -> String {
    let options =
        Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS;
    let base = Url::parse(&format!("{}/", base.trim_end_matches('/'))).ok();
    let mut w = Writer::default();
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Text(t) => w.push(&escape(&t)),
            Event::Code(t) => w.push(&format!("`{}`", escape(&t))),
            Event::Html(t) | Event::InlineHtml(t) => w.push(&escape(&t)),
            // As on the status page, where a single line break is a space.
            Event::SoftBreak => w.push(" "),
            Event::HardBreak => w.push("\n"),
            Event::Rule => w.push("\n———\n\n"),
            Event::TaskListMarker(done) => w.push(if done { "☑ " } else { "☐ " }),
            Event::Start(tag) => match tag {
                Tag::Strong | Tag::Heading { .. } => w.push("*"),
                Tag::Emphasis => w.push("_"),
                Tag::Strikethrough => w.push("~"),
                Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                    w.links.push(dest_url.to_string());
                    w.open();
                }
                Tag::BlockQuote(_) | Tag::Item | Tag::CodeBlock(_) => w.open(),
                Tag::List(first) => w.lists.push(first),
                _ => {}
            },
            Event::End(tag) => match tag {
                TagEnd::Strong => w.push("*"),
                TagEnd::Heading(_) => w.push("*\n\n"),
                TagEnd::Emphasis => w.push("_"),
                TagEnd::Strikethrough => w.push("~"),
                TagEnd::Paragraph | TagEnd::HtmlBlock => w.push("\n\n"),
                TagEnd::Link | TagEnd::Image => {
                    let text = w.close();
                    let dest = w.links.pop().unwrap_or_default();
                    match absolute(&dest, base.as_ref()) {
                        Some(url) if text.trim().is_empty() => {
                            w.push(&format!("<{}>", escape_url(&url)))
                        }
                        Some(url) => w.push(&format!("<{}|{}>", escape_url(&url), text.trim())),
                        None => w.push(&text),
                    }
                }
                TagEnd::BlockQuote(_) => {
                    let inner = w.close();
                    for line in inner.trim_end().lines() {
                        w.push(&format!("> {line}\n"));
                    }
                    w.push("\n");
                }
                TagEnd::CodeBlock => {
                    let inner = w.close();
                    w.push(&format!("```\n{}\n```\n\n", inner.trim_end_matches('\n')));
                }
                TagEnd::Item => {
                    let inner = w.close();
                    let marker = match w.lists.last_mut() {
                        Some(Some(n)) => {
                            let marker = format!("{n}. ");
                            *n += 1;
                            marker
                        }
                        _ => "• ".to_string(),
                    };
                    let mut lines = inner.trim().lines();
                    w.push(&format!("{marker}{}\n", lines.next().unwrap_or_default()));
                    for line in lines.filter(|l| !l.trim().is_empty()) {
                        w.push(&format!("    {line}\n"));
                    }
                }
                TagEnd::List(_) => {
                    w.lists.pop();
                    if w.lists.is_empty() {
                        w.push("\n");
                    }
                }
                TagEnd::TableCell => w.push(" | "),
                TagEnd::TableHead | TagEnd::TableRow => w.push("\n"),
                TagEnd::Table => w.push("\n"),
                _ => {}
            },
            _ => {}
        }
    }
    let text = w.close();
    // Block ends leave runs of blank lines; one blank line between blocks is enough.
    let mut out = String::with_capacity(text.len());
    let mut newlines = 0;
    for c in text.trim().chars() {
        if c == '\n' {
            newlines += 1;
            if newlines > 2 {
                continue;
            }
        } else {
            newlines = 0;
        }
        out.push(c);
    }
    out
}

/// Builds `mrkdwn`; a link, quote, list item or code block is written into its own buffer first,
/// then wrapped.
#[derive(Default)]
struct Writer {
    open: Vec<String>,
    done: String,
    links: Vec<String>,
    lists: Vec<Option<u64>>,
}

impl Writer {
    fn push(&mut self, s: &str) {
        self.open.last_mut().unwrap_or(&mut self.done).push_str(s);
    }

    fn open(&mut self) {
        self.open.push(String::new());
    }

    fn close(&mut self) -> String {
        self.open
            .pop()
            .unwrap_or_else(|| std::mem::take(&mut self.done))
    }
}

/// A link's destination as an absolute http, https or mailto URL, or None to drop it.
fn absolute(dest: &str, base: Option<&Url>) -> Option<String> {
    let url = match Url::parse(dest) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => base?.join(dest).ok()?,
        Err(_) => return None,
    };
    matches!(url.scheme(), "http" | "https" | "mailto").then(|| url.to_string())
}

/// Slack's answers: 200 `ok` is sent; a removed hook, a deleted or archived channel is gone for
/// good; a channel that refuses posts, or a message Slack cannot read, is refused for good;
/// everything else as any hook.
fn classify(answer: &Answer, now: DateTime<Utc>) -> Result<Receipt, SendError> {
    if (200..300).contains(&answer.status) {
        return safe_http::classify(answer, now);
    }
    let code = answer.body.trim();
    let said = |why: &str| {
        format!(
            "Slack refused the message: {why} ({code}, HTTP {})",
            answer.status
        )
    };
    match code {
        "no_service" | "no_team" | "team_disabled" | "invalid_token" => Err(SendError::Gone(said(
            "the webhook was removed or disabled in Slack",
        ))),
        "channel_not_found" => Err(SendError::Gone(said("its channel was deleted"))),
        "channel_is_archived" => Err(SendError::Gone(said("its channel is archived"))),
        "action_prohibited" => Err(SendError::Permanent(said(
            "a Slack admin does not allow posting to this channel",
        ))),
        "posting_to_general_channel_denied" => Err(SendError::Permanent(said(
            "only admins may post to this workspace's general channel",
        ))),
        "invalid_payload"
        | "no_text"
        | "too_many_attachments"
        | "invalid_blocks"
        | "invalid_blocks_format" => Err(SendError::Permanent(said(
            "Slack could not read the message Herald made",
        ))),
        _ => safe_http::classify(answer, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::webhook::{sample_notice, sample_outgoing, SafeClient};
    use crate::channels::{Channel, Message};
    use crate::domain::AffectedComponent;
    use std::sync::Arc;

    fn section_texts(message: &Value) -> Vec<String> {
        message["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["text"]["text"].as_str().map(str::to_string))
            .collect()
    }

    #[test]
    fn an_update_has_a_header_the_update_its_components_and_a_link() {
        let notice = sample_notice();
        let m = message(&notice);
        let blocks = m["blocks"].as_array().unwrap();
        let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["header", "section", "section", "context"]);
        assert_eq!(blocks[0]["text"]["text"], "Elevated API errors");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        let update = blocks[1]["text"]["text"].as_str().unwrap();
        assert!(
            update.starts_with("*Identified* · <!date^1714564800^"),
            "{update}"
        );
        assert!(
            update.contains("a *bad deploy*. See <https://runbooks.acme.example/api|the runbook> &amp; stay &lt;tuned&gt;."),
            "{update}"
        );
        let fields = blocks[2]["fields"].as_array().unwrap();
        assert_eq!(fields[0]["text"], "*API*\nMajor outage");
        assert_eq!(fields[1]["text"], "*Dashboard*\nDegraded performance");
        assert_eq!(
            blocks[3]["elements"][0]["text"],
            "<https://status.acme.example/incidents/7|View this incident on Acme>"
        );
        let text = m["text"].as_str().unwrap();
        assert!(
            text.starts_with("Elevated API errors: Identified. We found the cause"),
            "{text}"
        );
    }

    #[test]
    fn markdown_becomes_mrkdwn_and_what_people_typed_is_escaped() {
        assert_eq!(
            to_mrkdwn(
                "**bold** and [a](https://x) and ~~gone~~",
                "https://s.example"
            ),
            "*bold* and <https://x/|a> and ~gone~"
        );
        assert_eq!(
            to_mrkdwn(
                "<script>alert(1)</script> & <!channel>",
                "https://s.example"
            ),
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!channel&gt;"
        );
        assert_eq!(
            to_mrkdwn(
                "[rel](/incidents/3) [js](javascript:alert(1)) [p](https://x/a|b)",
                "https://s.example"
            ),
            "<https://s.example/incidents/3|rel> js <https://x/a%7Cb|p>"
        );
        assert_eq!(
            to_mrkdwn(
                "# Cause\n\nA disk.\n\n- one\n- two\n\n1. first\n2. second\n\n> quoted\n\n`a<b`",
                "https://s.example"
            ),
            "*Cause*\n\nA disk.\n\n• one\n• two\n\n1. first\n2. second\n\n> quoted\n\n`a&lt;b`"
        );
    }

    #[test]
    fn a_long_update_is_cut_at_a_word_with_a_link_to_the_rest() {
        let mut notice = sample_notice();
        notice.update.body = "word ".repeat(2000);
        let m = message(&notice);
        for text in section_texts(&m) {
            assert!(MEASURE.len(&text) <= SECTION_MAX, "{}", text.len());
        }
        let update = &section_texts(&m)[1];
        assert!(
            update
                .ends_with("word… <https://status.acme.example/incidents/7|Read the full update>"),
            "{}",
            &update[update.len() - 100..]
        );
        assert!(MEASURE.len(m["text"].as_str().unwrap()) <= TEXT_MAX);
    }

    #[test]
    fn a_long_header_is_cut_to_150() {
        let mut notice = sample_notice();
        notice.incident.name = "Outage ".repeat(40);
        let m = message(&notice);
        let header = m["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(MEASURE.len(header) <= HEADER_MAX);
        assert!(header.ends_with("Outage…"));
    }

    #[test]
    fn many_components_collapse_into_one_section() {
        let mut notice = sample_notice();
        notice.update.affected = (0..200)
            .map(|i| AffectedComponent {
                component_id: i,
                name: format!("Component number {i} with a long descriptive name"),
                old_status: ComponentStatus::Operational,
                new_status: ComponentStatus::PartialOutage,
            })
            .collect();
        let m = message(&notice);
        let blocks = m["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS);
        let list = blocks[2]["text"]["text"].as_str().unwrap();
        assert!(MEASURE.len(list) <= SECTION_MAX);
        assert!(list.starts_with("• *Component number 0 with"), "{list}");
        assert!(list.contains(" more"), "{list}");
        let shown = list.lines().filter(|l| l.starts_with('•')).count();
        assert!(
            list.ends_with(&format!("and {} more", 200 - shown)),
            "{list}"
        );
    }

    #[test]
    fn a_security_statement_says_so_in_its_header() {
        let mut notice = sample_notice();
        notice.statement = true;
        let m = message(&notice);
        assert_eq!(m["blocks"][0]["text"]["text"], "Security notice from Acme");
        let update = section_texts(&m)[1].clone();
        assert!(
            update.starts_with("*Elevated API errors*\n*Identified*"),
            "{update}"
        );
    }

    #[tokio::test]
    async fn the_test_message_names_the_page_and_other_messages_are_refused() {
        let slack = Slack::new(SafeClient::new(vec![]).unwrap());
        let page = Arc::new(sample_notice().page);
        let post = slack
            .render(&sample_outgoing("slack", Message::Test(page)))
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&post.body).unwrap();
        assert_eq!(
            body["text"],
            "Herald: this channel will receive status updates from Acme (<https://status.acme.example|https://status.acme.example>)"
        );
        assert!(matches!(
            slack
                .render(&sample_outgoing("slack", Message::Confirmation))
                .await,
            Err(SendError::Permanent(_))
        ));
    }

    #[test]
    fn slacks_answers_are_read() {
        let now = Utc::now();
        let answer = |status, body: &str| Answer {
            status,
            retry_after: None,
            body: body.into(),
            location: None,
        };
        assert_eq!(classify(&answer(200, "ok"), now), Ok("HTTP 200".into()));
        for (status, code) in [
            (404, "no_service"),
            (404, "channel_not_found"),
            (410, "channel_is_archived"),
        ] {
            assert!(
                matches!(
                    classify(&answer(status, code), now),
                    Err(SendError::Gone(_))
                ),
                "{code}"
            );
        }
        for code in ["action_prohibited", "posting_to_general_channel_denied"] {
            match classify(&answer(403, code), now) {
                Err(SendError::Permanent(e)) => assert!(e.contains(code), "{e}"),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            classify(&answer(400, "invalid_payload"), now),
            Err(SendError::Permanent(_))
        ));
        assert!(matches!(
            classify(&answer(429, "rate_limited"), now),
            Err(SendError::RetryAfter { .. })
        ));
        assert!(matches!(
            classify(&answer(500, "rollup_error"), now),
            Err(SendError::Transient(_))
        ));
    }
}
