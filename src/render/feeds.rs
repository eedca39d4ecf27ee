//! `/history.atom` (Atom 1.0) and `/history.rss` (RSS 2.0): one entry per incident update, and
//! one per published postmortem ("Postmortem: <name>"), which stands in for the update that
//! carried it to subscribers.

use askama::Template;

use super::views::Model;
use super::{PagesBuilder, Site};
use crate::domain::markdown::{to_plain_text, to_safe_html};
use crate::domain::{rfc3339, Choice, Incident, IncidentStatus, IncidentUpdate, Postmortem};
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

/// What a feed entry is made from, before it is rendered.
enum Source<'a> {
    Update(&'a Incident, &'a IncidentUpdate),
    Postmortem(&'a Incident, &'a Postmortem),
}

impl Source<'_> {
    /// When it appeared, when it last changed, and a tie-breaker (newest last).
    fn dates(&self) -> (DateTime<Utc>, DateTime<Utc>, i64) {
        match self {
            Source::Update(_, u) => (u.display_at, u.updated_at.max(u.display_at), u.id),
            Source::Postmortem(_, p) => {
                let published = p.published_at.unwrap_or(p.updated_at);
                (published, p.updated_at.max(published), i64::MAX)
            }
        }
    }

    fn entry(&self, site: &Site) -> Entry {
        let (published, updated, _) = self.dates();
        let (incident, anchor, title, body) = match self {
            Source::Update(i, u) => (
                i,
                format!("update-{}", u.id),
                format!("{} [{}]", i.name, u.status.label()),
                &u.body,
            ),
            Source::Postmortem(i, p) => (
                i,
                "postmortem".to_string(),
                format!("Postmortem: {}", i.name),
                &p.body,
            ),
        };
        let link = format!("{}/incidents/{}", site.url, incident.id);
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
}

pub fn render(m: &Model<'_>, out: &mut PagesBuilder<'_>) -> anyhow::Result<()> {
    let mut sources: Vec<Source<'_>> = Vec::new();
    for i in m.incidents {
        sources.extend(
            i.updates
                .iter()
                .filter(|u| u.status != IncidentStatus::Postmortem)
                .map(|u| Source::Update(i, u)),
        );
        sources.extend(i.published_postmortem().map(|p| Source::Postmortem(i, p)));
    }
    sources.sort_by(|a, b| {
        let (a, b) = (a.dates(), b.dates());
        b.0.cmp(&a.0).then(b.2.cmp(&a.2))
    });
    // Only the entries the feeds carry are rendered.
    sources.truncate(FEED_ENTRIES);
    let newest = sources.iter().map(|s| s.dates().1).max().unwrap_or(m.now);
    let entries: Vec<Entry> = sources.iter().map(|s| s.entry(m.site)).collect();
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
