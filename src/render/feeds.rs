//! `/history.atom` (Atom 1.0) and `/history.rss` (RSS 2.0): one entry per incident update.

use askama::Template;

use super::views::Model;
use super::{PagesBuilder, Site};
use crate::domain::markdown::{to_plain_text, to_safe_html};
use crate::domain::{rfc3339, Choice};

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

pub fn render(m: &Model<'_>, out: &mut PagesBuilder<'_>) -> anyhow::Result<()> {
    let mut updates: Vec<_> = m
        .incidents
        .iter()
        .flat_map(|i| i.updates.iter().map(move |u| (i, u)))
        .collect();
    updates.sort_by(|(_, a), (_, b)| b.display_at.cmp(&a.display_at).then(b.id.cmp(&a.id)));
    updates.truncate(FEED_ENTRIES);
    let entries: Vec<Entry> = updates
        .iter()
        .map(|(i, u)| {
            let link = format!("{}/incidents/{}", m.site.url, i.id);
            Entry {
                id: format!("{link}#update-{}", u.id),
                title: format!("{} [{}]", i.name, u.status.label()),
                published: rfc3339(&u.display_at),
                updated: rfc3339(&u.updated_at.max(u.display_at)),
                pub_date: u.display_at.to_rfc2822(),
                summary: to_plain_text(&u.body).chars().take(300).collect(),
                html: to_safe_html(&u.body, &m.site.url),
                link,
            }
        })
        .collect();
    let newest = updates
        .first()
        .map_or(m.now, |(_, u)| u.updated_at.max(u.display_at));
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
