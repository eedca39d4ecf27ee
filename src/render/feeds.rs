//! `/history.atom` (Atom 1.0) and `/history.rss` (RSS 2.0): one entry per incident update, and
//! one per published postmortem ("Postmortem: <name>"), which stands in for the update that
//! carried it to subscribers.

use askama::Template;

use super::views::Model;
use super::{PagesBuilder, Site};
use crate::domain::markdown::{to_plain_text, to_safe_html};
use crate::domain::{rfc3339, Choice, IncidentStatus};
use chrono::{DateTime, Utc};

/// Newest updates carried by each feed.
const FEED_ENTRIES: usize = 100;

struct Entry {
    /// A URI unique to the update, stable forever (`tag:` URIs need a date; a URL does as well).
    id: String,
    title: String,
    link: String,
    published: String,
    updated: String,
    pub_date: String,
    summary: String,
    html: String,
}

#[derive(Template)]
#[template(path = "feeds/history.atom.xml")]
struct AtomFeed<'a> {
    site: &'a Site,
    updated: String,
    entries: &'a [Entry],
}

#[derive(Template)]
#[template(path = "feeds/history.rss.xml")]
struct RssFeed<'a> {
    site: &'a Site,
    updated_rfc2822: String,
    entries: &'a [Entry],
}

/// What a feed entry is made from: (when published, when last changed, a tie-breaker, entry).
type Dated = (DateTime<Utc>, DateTime<Utc>, i64, Entry);

fn entry(
    link: String,
    anchor: String,
    title: String,
    published: DateTime<Utc>,
    updated: DateTime<Utc>,
    body: &str,
    site: &Site,
) -> Entry {
    Entry {
        id: format!("{link}#{anchor}"),
        title,
        published: rfc3339(&published),
        updated: rfc3339(&updated),
        pub_date: published.to_rfc2822(),
        summary: to_plain_text(body).chars().take(300).collect(),
        html: to_safe_html(body, &site.url),
        link,
    }
}

pub fn render(m: &Model<'_>, out: &mut PagesBuilder<'_>) -> anyhow::Result<()> {
    let mut dated: Vec<Dated> = Vec::new();
    for i in m.incidents {
        let link = format!("{}/incidents/{}", m.site.url, i.id);
        for u in &i.updates {
            if u.status == IncidentStatus::Postmortem {
                continue;
            }
            let updated = u.updated_at.max(u.display_at);
            dated.push((
                u.display_at,
                updated,
                u.id,
                entry(
                    link.clone(),
                    format!("update-{}", u.id),
                    format!("{} [{}]", i.name, u.status.label()),
                    u.display_at,
                    updated,
                    &u.body,
                    m.site,
                ),
            ));
        }
        if let Some(p) = i.published_postmortem() {
            let published = p.published_at.unwrap_or(p.updated_at);
            let updated = p.updated_at.max(published);
            dated.push((
                published,
                updated,
                i64::MAX,
                entry(
                    link,
                    "postmortem".into(),
                    format!("Postmortem: {}", i.name),
                    published,
                    updated,
                    &p.body,
                    m.site,
                ),
            ));
        }
    }
    dated.sort_by(|a, b| b.0.cmp(&a.0).then(b.2.cmp(&a.2)));
    dated.truncate(FEED_ENTRIES);
    let newest = dated.iter().map(|d| d.1).max().unwrap_or(m.now);
    let entries: Vec<Entry> = dated.into_iter().map(|d| d.3).collect();
    let atom = AtomFeed {
        site: m.site,
        updated: rfc3339(&newest),
        entries: &entries,
    }
    .render()?;
    out.add(
        "/history.atom",
        "application/atom+xml; charset=utf-8",
        atom.into_bytes(),
        true,
    );
    let rss = RssFeed {
        site: m.site,
        updated_rfc2822: newest.to_rfc2822(),
        entries: &entries,
    }
    .render()?;
    out.add(
        "/history.rss",
        "application/rss+xml; charset=utf-8",
        rss.into_bytes(),
        true,
    );
    Ok(())
}
