//! The public HTML pages: `/`, `/incidents/{id}`, `/history`, the 404 page, and static assets.

use askama::Template;

use super::views::{DateView, GroupView, IncidentView, Model, StatementView};
use super::{PagesBuilder, Site, HISTORY_PAGE_SIZE};
use crate::domain::Choice;

const HTML: &str = "text/html; charset=utf-8";

/// Key under which the 404 page is cached.
pub const NOT_FOUND_KEY: &str = "404";

#[derive(Template)]
#[template(path = "public/index.html")]
struct IndexPage<'a> {
    site: &'a Site,
    /// An open breach's statement, pinned above everything.
    statement: Option<&'a StatementView>,
    indicator: &'static str,
    indicator_text: &'static str,
    groups: &'a [GroupView],
    open: Vec<&'a IncidentView>,
    active: Vec<&'a IncidentView>,
    upcoming: Vec<&'a IncidentView>,
    days: Vec<Day<'a>>,
    /// (id, name) of every component, for the subscribe form.
    components: Vec<(i64, &'a str)>,
}

struct Day<'a> {
    iso: String,
    text: String,
    incidents: Vec<&'a IncidentView>,
    /// The oldest day of a folded run of days without incidents.
    first: Option<DateView>,
}

#[derive(Template)]
#[template(path = "public/incident.html")]
struct IncidentPage<'a> {
    site: &'a Site,
    incident: &'a IncidentView,
}

#[derive(Template)]
#[template(path = "public/history.html")]
struct HistoryPage<'a> {
    site: &'a Site,
    months: Vec<Month<'a>>,
    page: usize,
    pages: usize,
}

struct Month<'a> {
    key: String,
    label: String,
    incidents: Vec<&'a IncidentView>,
}

#[derive(Template)]
#[template(path = "public/not_found.html")]
struct NotFoundPage<'a> {
    site: &'a Site,
}

pub fn render(m: &Model<'_>, out: &mut PagesBuilder<'_>) -> anyhow::Result<()> {
    let pick = |indices: Vec<usize>| -> Vec<&IncidentView> {
        indices.into_iter().map(|n| &m.views[n]).collect()
    };
    let index = IndexPage {
        site: m.site,
        statement: m.statement.as_ref(),
        indicator: m.indicator.as_str(),
        indicator_text: m.indicator.description(),
        groups: &m.groups,
        open: pick(m.open_incidents()),
        active: pick(m.active_maintenances()),
        upcoming: pick(m.upcoming_maintenances()),
        days: m
            .past_days()
            .into_iter()
            .map(|d| Day {
                iso: d.iso,
                text: d.text,
                incidents: pick(d.incidents),
                first: d.first,
            })
            .collect(),
        components: m
            .components
            .iter()
            .map(|c| (c.id, c.name.as_str()))
            .collect(),
    };
    out.add("/", HTML, index.render()?.into_bytes(), false);

    for view in &m.views {
        let page = IncidentPage {
            site: m.site,
            incident: view,
        };
        out.add(
            format!("/incidents/{}", view.id),
            HTML,
            page.render()?.into_bytes(),
            false,
        );
    }

    let past: Vec<(usize, &IncidentView)> = m
        .incidents
        .iter()
        .zip(&m.views)
        .enumerate()
        .filter(|(_, (i, _))| !i.is_upcoming_maintenance())
        .map(|(n, (_, v))| (n, v))
        .collect();
    let pages = past.len().div_ceil(HISTORY_PAGE_SIZE).max(1);
    for page in 1..=pages {
        let mut months: Vec<Month> = Vec::new();
        for (n, view) in past
            .iter()
            .skip((page - 1) * HISTORY_PAGE_SIZE)
            .take(HISTORY_PAGE_SIZE)
        {
            let started = m.incidents[*n].started_at;
            let key = started.format("%Y-%m").to_string();
            match months.last_mut() {
                Some(month) if month.key == key => month.incidents.push(view),
                _ => months.push(Month {
                    key,
                    label: started.format("%B %Y").to_string(),
                    incidents: vec![view],
                }),
            }
        }
        let body = HistoryPage {
            site: m.site,
            months,
            page,
            pages,
        }
        .render()?;
        let key = if page == 1 {
            "/history".to_string()
        } else {
            format!("/history?page={page}")
        };
        out.add(key, HTML, body.into_bytes(), false);
    }

    out.add(
        NOT_FOUND_KEY,
        HTML,
        NotFoundPage { site: m.site }.render()?.into_bytes(),
        false,
    );
    Ok(())
}
