//! Update bodies are Markdown; customers see them as sanitised HTML.

use pulldown_cmark::{html, Event, Options, Parser, Tag, TagEnd};

/// Renders Markdown to HTML that is safe to embed: no script, no event handlers, no
/// `javascript:` links; links get `rel="noopener noreferrer"`.
pub fn to_safe_html(markdown: &str) -> String {
    let options =
        Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS;
    let mut unsafe_html = String::with_capacity(markdown.len() * 2);
    // Headings inside an update would break the page's outline; they become bold paragraphs.
    let events = Parser::new_ext(markdown, options).flat_map(|event| match event {
        Event::Start(Tag::Heading { .. }) => {
            vec![Event::Start(Tag::Paragraph), Event::Start(Tag::Strong)]
        }
        Event::End(TagEnd::Heading(_)) => {
            vec![Event::End(TagEnd::Strong), Event::End(TagEnd::Paragraph)]
        }
        other => vec![other],
    });
    html::push_html(&mut unsafe_html, events);
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .clean(&unsafe_html)
        .to_string()
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

    #[test]
    fn markdown_becomes_html() {
        assert_eq!(
            to_safe_html("We are **on it**."),
            "<p>We are <strong>on it</strong>.</p>\n"
        );
    }

    #[test]
    fn scripts_handlers_and_javascript_links_are_removed() {
        let html = to_safe_html(
            "<script>alert(1)</script><img src=x onerror=alert(1)> <a href=\"javascript:alert(2)\">y</a>\n\n[x](javascript:alert%281%29)",
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
            to_safe_html("# Cause\n\nA disk."),
            "<p><strong>Cause</strong></p>\n<p>A disk.</p>\n"
        );
    }

    #[test]
    fn plain_text_drops_the_syntax() {
        assert_eq!(
            to_plain_text("# Down\n\nWe are **on it**.\n\n- a\n- b"),
            "Down We are on it. - a - b"
        );
    }
}
