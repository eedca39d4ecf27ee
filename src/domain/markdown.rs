//! Update bodies are Markdown; customers see them as sanitised HTML. This module is also where
//! the tripwire learns what a body links to: it reads the very HTML that is sent.

use std::cell::RefCell;

use ammonia::UrlRelative;
use html5ever::tokenizer::{
    BufferQueue, CharacterTokens, TagToken, Token, TokenSink, TokenSinkResult, Tokenizer,
    TokenizerOpts,
};
use pulldown_cmark::{html, Event, Options, Parser, Tag, TagEnd};
use url::Url;

use super::links::{hosts_in_text, hosts_of_url};

/// Renders Markdown to HTML that is safe to embed: no script, no event handlers, no
/// `javascript:` links; links get `rel="noopener noreferrer"`. Every link and image is made
/// absolute against `base` (the public URL), as a browser on the status page would resolve
/// it, so a mail client or feed reader cannot read `//evil.example` or `evil.example/x` any
/// other way.
pub fn to_safe_html(markdown: &str, base: &str) -> String {
    let mut unsafe_html = String::with_capacity(markdown.len() * 2);
    // Headings inside an update would break the page's outline; they become bold paragraphs.
    let events = Parser::new_ext(markdown, markdown_options()).flat_map(|event| match event {
        Event::Start(Tag::Heading { .. }) => {
            vec![Event::Start(Tag::Paragraph), Event::Start(Tag::Strong)]
        }
        Event::End(TagEnd::Heading(_)) => {
            vec![Event::End(TagEnd::Strong), Event::End(TagEnd::Paragraph)]
        }
        other => vec![other],
    });
    html::push_html(&mut unsafe_html, events);
    let relative = match base_url(base) {
        Some(base) => UrlRelative::RewriteWithBase(base),
        // Without a base nothing relative can be resolved safely, so it goes.
        None => UrlRelative::Deny,
    };
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .url_relative(relative)
        .clean(&unsafe_html)
        .to_string()
}

/// The Markdown Herald reads: CommonMark with strikethrough, tables and task lists.
fn markdown_options() -> Options {
    Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS
}

/// The hosts of every link and image in the HTML `to_safe_html` makes of `markdown`, read
/// back from that HTML as a browser reads it (entities decoded), plus every link a reader's
/// client would make of its visible text, and of the email text and plain text made of the same
/// Markdown (each drops raw HTML in its own way, so one can show a link the others do not:
/// `https://evil.<svg><com:80/x>` reads `https://evil.` on the page and
/// `https://evil.com:80/x` in the email).
pub fn linked_hosts(markdown: &str, base: &str) -> Vec<String> {
    let html = to_safe_html(markdown, base);
    let read = read_back(&html);
    let email = to_email_text(markdown, base);
    let base = base_url(base);
    let mut hosts: Vec<String> = read
        .urls
        .iter()
        .filter_map(|raw| match Url::parse(raw) {
            Ok(url) => Some(url),
            Err(url::ParseError::RelativeUrlWithoutBase) => base.as_ref()?.join(raw).ok(),
            Err(_) => None,
        })
        .flat_map(|url| hosts_of_url(&url))
        .collect();
    // Every link and image as the Markdown parser reads it, made absolute as the chat channels
    // make it: they write links from the parser's events, and ammonia drops some links (with
    // credentials, say) that Slack would still show.
    for event in Parser::new_ext(markdown, markdown_options()) {
        if let Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) = event {
            let url = Url::parse(&dest_url)
                .ok()
                .or_else(|| base.as_ref()?.join(&dest_url).ok());
            hosts.extend(url.iter().flat_map(hosts_of_url));
        }
    }
    hosts.extend(hosts_in_text(&read.text));
    hosts.extend(hosts_in_text(&email));
    hosts.extend(hosts_in_text(&to_plain_text(markdown)));
    hosts.sort();
    hosts.dedup();
    hosts
}

/// The public URL as a base for relative links: always ending in `/`, so `incidents/3` lands
/// below it rather than replacing its last path segment.
fn base_url(base: &str) -> Option<Url> {
    Url::parse(&format!("{}/", base.trim_end_matches('/'))).ok()
}

/// Attributes whose value a browser or mail client follows or loads.
const URL_ATTRIBUTES: &[&str] = &[
    "href",
    "src",
    "srcset",
    "cite",
    "action",
    "formaction",
    "data",
    "poster",
    "background",
    "ping",
    "longdesc",
    "xlink:href",
];

/// Elements that break a line of text, so words in two of them do not run together.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "br",
    "hr",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "tr",
    "td",
    "th",
    "table",
    "thead",
    "tbody",
    "blockquote",
    "pre",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
];

/// What sanitised HTML shows and links to, decoded as a browser decodes it.
#[derive(Default)]
struct ReadBack {
    urls: Vec<String>,
    text: String,
}

struct Reader(RefCell<ReadBack>);

impl TokenSink for Reader {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut read = self.0.borrow_mut();
        match token {
            CharacterTokens(text) => read.text.push_str(&text),
            TagToken(tag) => {
                if BLOCKS.contains(&&*tag.name) {
                    read.text.push('\n');
                }
                for attr in &tag.attrs {
                    let name = &*attr.name.local;
                    if name == "srcset" {
                        // `url 1x, url 2x`: each candidate's first word is a URL.
                        let urls: Vec<String> = attr
                            .value
                            .split(',')
                            .filter_map(|c| c.split_whitespace().next())
                            .map(str::to_string)
                            .collect();
                        read.urls.extend(urls);
                    } else if URL_ATTRIBUTES.contains(&name) {
                        read.urls.push(attr.value.trim().to_string());
                    }
                }
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

fn read_back(html: &str) -> ReadBack {
    let tokenizer = Tokenizer::new(
        Reader(RefCell::new(ReadBack::default())),
        TokenizerOpts::default(),
    );
    let input = BufferQueue::default();
    input.push_back(html.into());
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink.0.into_inner()
}

/// An update as the text part of an email: plain text that reads as written, with no Markdown
/// syntax left (`**`, `#`, backticks); paragraphs and list items on their own lines, and each
/// link as "text (url)", made absolute against `base` like the HTML part's (links other than
/// http, https and mailto show their text only). Raw HTML tags are dropped, their text kept.
pub fn to_email_text(markdown: &str, base: &str) -> String {
    let base = base_url(base);
    let options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut out = String::with_capacity(markdown.len());
    // Each open link: its resolved URL and where its text starts in `out`.
    let mut links: Vec<(Option<String>, usize)> = Vec::new();
    let mut lists: Vec<Option<u64>> = Vec::new();
    let resolve = |dest: &str| -> Option<String> {
        let url = match Url::parse(dest) {
            Ok(url) => url,
            Err(url::ParseError::RelativeUrlWithoutBase) => base.as_ref()?.join(dest).ok()?,
            Err(_) => return None,
        };
        matches!(url.scheme(), "http" | "https" | "mailto").then(|| url.to_string())
    };
    let end_block = |out: &mut String| {
        while out.ends_with(' ') {
            out.pop();
        }
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
        }
    };
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak | Event::HardBreak => out.push('\n'),
            Event::Start(Tag::Link { dest_url, .. })
            | Event::Start(Tag::Image { dest_url, .. }) => {
                links.push((resolve(&dest_url), out.len()));
            }
            Event::End(TagEnd::Link) | Event::End(TagEnd::Image) => {
                if let Some((Some(url), start)) = links.pop() {
                    let text = out[start..].trim().to_string();
                    let shown = url.strip_prefix("mailto:").unwrap_or(&url);
                    if text.is_empty() {
                        out.push_str(shown);
                    } else if text != shown && text != url {
                        out.push_str(&format!(" ({shown})"));
                    }
                }
            }
            Event::Start(Tag::List(first)) => {
                if lists.is_empty() {
                    end_block(&mut out);
                } else if !out.ends_with('\n') {
                    out.push('\n');
                }
                lists.push(first);
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
                if lists.is_empty() {
                    end_block(&mut out);
                }
            }
            Event::Start(Tag::Item) => {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&"  ".repeat(lists.len().saturating_sub(1)));
                match lists.last_mut() {
                    Some(Some(n)) => {
                        out.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => out.push_str("- "),
                }
            }
            Event::End(TagEnd::Item) if !out.ends_with('\n') => out.push('\n'),
            Event::TaskListMarker(done) => out.push_str(if done { "[x] " } else { "[ ] " }),
            Event::Rule => {
                end_block(&mut out);
                out.push_str("----\n\n");
            }
            Event::End(
                TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::CodeBlock | TagEnd::BlockQuote(_),
            ) if lists.is_empty() => end_block(&mut out),
            _ => {}
        }
    }
    out.trim().to_string()
}

/// The text of an update without Markdown syntax, for feeds' summaries and tweets.
pub fn to_plain_text(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    for event in Parser::new(markdown) {
        match event {
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak | Event::HardBreak => out.push(' '),
            Event::End(TagEnd::Paragraph | TagEnd::Item | TagEnd::Heading(_)) => out.push(' '),
            Event::Start(Tag::Item) => out.push_str("- "),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://status.acme.example";

    #[test]
    fn markdown_becomes_html() {
        assert_eq!(
            to_safe_html("We are **on it**.", BASE),
            "<p>We are <strong>on it</strong>.</p>\n"
        );
    }

    #[test]
    fn scripts_handlers_and_javascript_links_are_removed() {
        let html = to_safe_html(
            "<script>alert(1)</script><img src=x onerror=alert(1)> <a href=\"javascript:alert(2)\">y</a>\n\n[x](javascript:alert%281%29)",
            BASE,
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(
            html.contains("<a rel=\"noopener noreferrer\">x</a>"),
            "{html}"
        );
    }

    #[test]
    fn headings_in_a_body_do_not_break_the_page_outline() {
        assert_eq!(
            to_safe_html("# Cause\n\nA disk.", BASE),
            "<p><strong>Cause</strong></p>\n<p>A disk.</p>\n"
        );
    }

    #[test]
    fn email_text_reads_as_plain_text_with_links_spelled_out() {
        let text = to_email_text(
            "# Cause\n\nWe are seeing **elevated errors** on the `API`.\n\n\
             - Requests *fail*\n- See [the docs](https://example.com/docs)\n\n\
             Read [history](/history), <em>rolled back</em>, [x](javascript:alert(1)) \
             and https://example.com/raw.",
            BASE,
        );
        assert_eq!(
            text,
            "Cause\n\nWe are seeing elevated errors on the API.\n\n\
             - Requests fail\n- See the docs (https://example.com/docs)\n\n\
             Read history (https://status.acme.example/history), rolled back, x \
             and https://example.com/raw."
        );
        assert_eq!(
            to_email_text("1. one\n2. two\n\nend", BASE),
            "1. one\n2. two\n\nend"
        );
    }

    #[test]
    fn plain_text_drops_the_syntax() {
        assert_eq!(
            to_plain_text("# Down\n\nWe are **on it**.\n\n- a\n- b"),
            "Down We are on it. - a - b"
        );
    }

    #[test]
    fn relative_links_are_made_absolute_against_the_public_url() {
        let html = to_safe_html(
            "[a](/incidents/3) [b](//evil.example/d) [c](evil.example/x)",
            BASE,
        );
        assert!(
            html.contains("href=\"https://status.acme.example/incidents/3\""),
            "{html}"
        );
        assert!(html.contains("href=\"https://evil.example/d\""), "{html}");
        assert!(
            html.contains("href=\"https://status.acme.example/evil.example/x\""),
            "{html}"
        );
    }

    #[test]
    fn encoded_links_are_read_as_the_reader_follows_them() {
        for (markdown, host) in [
            ("[a](https&#58;//evil&#46;com/a)", "evil.com"),
            ("[b](https:\\/\\/evil\\.com/b)", "evil.com"),
            ("<a href=\"https&#x3a;//evil&#x2e;com/c\">c</a>", "evil.com"),
            ("[d](//evil&#46;com/d)", "evil.com"),
            ("[e](mailto:x@evil.com)", "evil.com"),
            (
                "<img src=\"https://img.evil.example/p.png\">",
                "img.evil.example",
            ),
            ("Text https&#58;//evil&#46;com shown decoded", "evil.com"),
            ("<a href=\"HTTPS://EVIL.COM./x\">x</a>", "evil.com"),
            ("<a href=\"/\\evil.com/x\">x</a>", "evil.com"),
        ] {
            let hosts = linked_hosts(markdown, BASE);
            assert!(hosts.contains(&host.to_string()), "{markdown}: {hosts:?}");
        }
    }

    #[test]
    fn the_own_site_and_plain_words_are_the_only_hosts_of_a_plain_body() {
        assert_eq!(
            linked_hosts("See [the page](/incidents/3) and [docs](https://docs.acme.example/x). We are **on it**.", BASE),
            ["docs.acme.example", "status.acme.example"]
        );
        assert_eq!(
            linked_hosts("[support](mailto:support@acme.example)", BASE),
            ["acme.example"]
        );
        assert!(linked_hosts("No links at all.", BASE).is_empty());
        // Found by the markdown fuzz target: raw HTML the page drops whole but the email text
        // keeps part of, joining a link the page never shows.
        let sneaky = "Status: https://evil.<svg><com:80/x> and x@evil.<svg><org:y>";
        assert!(to_email_text(sneaky, BASE).contains("evil.com:80/x"));
        let hosts = linked_hosts(sneaky, BASE);
        assert!(hosts.contains(&"evil.com".to_string()), "{hosts:?}");
        assert!(hosts.contains(&"evil.org".to_string()), "{hosts:?}");
        // A link ammonia drops from the page (credentials in it) that Slack would still show.
        let dropped = "[b](https://example.com@evil.example:\\\\x/)";
        assert!(!to_safe_html(dropped, BASE).contains("href"));
        assert!(linked_hosts(dropped, BASE).contains(&"evil.example".to_string()));
    }
}
