//! The public HTML pages: `/`, `/incidents/{id}`, `/history`, the 404 page, and static assets.

use askama::Template;

use chrono::Datelike;

use super::views::{
    fingerprint, hash_fingerprint, history_page, incident_view, status_label, DateView, GroupView,
    IncidentView, Model, StatementView, TimeView, PAST_INCIDENTS,
};
use super::{PagesBuilder, Site};
use crate::domain::{Choice, Incident};

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
    /// Too many components for each one's bars: groups link to their own pages.
    compact: bool,
    open: Vec<&'a IncidentView>,
    active: Vec<&'a IncidentView>,
    upcoming: Vec<&'a IncidentView>,
    days: Vec<Day<'a>>,
    /// "Past incidents" holds as many as it may: the history has more from those days.
    more_past: bool,
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
    month: Month,
    page: usize,
    pages: usize,
    /// The labels of the months on the pages either side, when there are such pages.
    newer: Option<String>,
    older: Option<String>,
}

struct Month {
    key: String,
    label: String,
    incidents: Vec<HistoryRow>,
}

/// What a history page shows of an incident: its name, impact, status and start, without the
/// rendered Markdown of its updates that an [`IncidentView`] carries.
struct HistoryRow {
    id: i64,
    name: String,
    impact: &'static str,
    status_label: &'static str,
    started: TimeView,
}

impl HistoryRow {
    fn new(i: &Incident) -> HistoryRow {
        HistoryRow {
            id: i.id,
            name: i.name.clone(),
            impact: i.impact.as_str(),
            status_label: status_label(i),
            started: TimeView::new(&i.started_at),
        }
    }
}

#[derive(Template)]
#[template(path = "public/group.html")]
struct GroupPage<'a> {
    site: &'a Site,
    name: &'a str,
    group: &'a GroupView,
}

#[derive(Template)]
#[template(path = "public/subscribe.html")]
struct SubscribePage<'a> {
    site: &'a Site,
    /// The pickers are always on this page.
    compact: bool,
    components: Vec<(i64, &'a str)>,
}

#[derive(Template)]
#[template(path = "public/not_found.html")]
struct NotFoundPage<'a> {
    site: &'a Site,
}

pub fn render(m: &Model<'_>, out: &mut PagesBuilder<'_>) -> anyhow::Result<()> {
    let pick = |indices: Vec<usize>| -> Vec<&IncidentView> {
        indices.into_iter().map(|n| m.view(n)).collect()
    };
    let components: Vec<(i64, &str)> = m
        .components
        .iter()
        .map(|c| (c.id, c.name.as_str()))
        .collect();
    let days = m.past_days();
    let listed: usize = days.iter().map(|d| d.incidents.len()).sum();
    let index = IndexPage {
        site: m.site,
        statement: m.statement.as_ref(),
        indicator: m.indicator.as_str(),
        indicator_text: m.indicator.description(),
        groups: &m.groups,
        compact: m.compact,
        open: pick(m.open_incidents()),
        active: pick(m.active_maintenances()),
        upcoming: pick(m.upcoming_maintenances()),
        more_past: listed >= PAST_INCIDENTS,
        days: days
            .into_iter()
            .map(|d| Day {
                iso: d.iso,
                text: d.text,
                incidents: pick(d.incidents),
                first: d.first,
            })
            .collect(),
        components: components.clone(),
    };
    out.add("/", HTML, index.render()?.into_bytes(), false);

    // Each incident's page is remade only when what it shows changed: now for those under way
    // (which many readers follow), on its first request for the rest of the history.
    for (n, incident) in m.incidents.iter().enumerate() {
        let key = format!("/incidents/{}", incident.id);
        let input = m.incident_fingerprint(n);
        if out.keep(&key, input) {
            continue;
        }
        if incident.is_open() {
            let page = IncidentPage {
                site: m.site,
                incident: m.view(n),
            };
            out.add_kept_from(key, input, HTML, page.render()?.into_bytes(), false);
            continue;
        }
        let (site, names, incident) = (out.site.clone(), m.names(), incident.clone());
        out.add_lazy(key, input, HTML, move || {
            let names = names
                .iter()
                .map(|(id, name)| (*id, name.as_str()))
                .collect();
            let view = incident_view(&site, &incident, &names);
            let page = IncidentPage {
                site: &site,
                incident: &view,
            };
            Ok(page.render()?.into_bytes())
        });
    }

    history(m, out)?;

    // A group's page shows its members and their bars: remade only when they changed.
    for group in &m.groups {
        let Some(name) = &group.name else { continue };
        let key = format!("/groups/{}", group.id);
        let members: Vec<&crate::domain::Component> = m
            .components
            .iter()
            .filter(|c| c.group.as_ref() == Some(name))
            .collect();
        let input = fingerprint(&(m.context(), m.uptime.input, &group.id, name, members));
        if out.keep(&key, input) {
            continue;
        }
        let page = GroupPage {
            site: m.site,
            name,
            group,
        };
        out.add_kept_from(key, input, HTML, page.render()?.into_bytes(), false);
    }
    let subscribe = SubscribePage {
        site: m.site,
        compact: false,
        components,
    };
    out.add("/subscribe", HTML, subscribe.render()?.into_bytes(), false);

    out.add(
        NOT_FOUND_KEY,
        HTML,
        NotFoundPage { site: m.site }.render()?.into_bytes(),
        false,
    );
    Ok(())
}

/// `/history`: a page a calendar month, this month's first, back to the month of the oldest
/// incident. A month's page is remade only when one of its incidents changed (or, once a month,
/// when the pages move along by one).
fn history(m: &Model<'_>, out: &mut PagesBuilder<'_>) -> anyhow::Result<()> {
    let past: Vec<(usize, usize)> = m
        .incidents
        .iter()
        .enumerate()
        .filter(|(_, i)| !i.is_upcoming_maintenance())
        .map(|(n, i)| (history_page(m.now, i.started_at), n))
        .collect();
    let pages = past.iter().map(|(page, _)| *page).max().unwrap_or(1);
    let mut by_page: Vec<Vec<usize>> = vec![Vec::new(); pages];
    for (page, n) in past {
        by_page[page - 1].push(n);
    }
    let this_month = m.now.date_naive().with_day(1).unwrap_or(m.now.date_naive());
    let month_of = |page: usize| -> Option<chrono::NaiveDate> {
        let back = u32::try_from(page.checked_sub(1)?).ok()?;
        this_month.checked_sub_months(chrono::Months::new(back))
    };
    for (index, mut listed) in by_page.into_iter().enumerate() {
        let page = index + 1;
        listed.sort_by_key(|n| std::cmp::Reverse((m.incidents[*n].started_at, m.incidents[*n].id)));
        let Some(month) = month_of(page) else {
            continue;
        };
        let key = if page == 1 {
            "/history".to_string()
        } else {
            format!("/history?page={page}")
        };
        let fingerprints: Vec<u64> = listed.iter().map(|n| m.incident_fingerprint(*n)).collect();
        let input = hash_fingerprint(&(page, pages, month, &fingerprints));
        if out.keep(&key, input) {
            continue;
        }
        // Made on the page's first request.
        let label = |d: chrono::NaiveDate| d.format("%B %Y").to_string();
        let newer = (page > 1).then(|| month_of(page - 1)).flatten().map(label);
        let older = (page < pages)
            .then(|| month_of(page + 1))
            .flatten()
            .map(label);
        let listed: Vec<std::sync::Arc<Incident>> =
            listed.iter().map(|n| m.incidents[*n].clone()).collect();
        let site = out.site.clone();
        out.add_lazy(key, input, HTML, move || {
            let body = HistoryPage {
                site: &site,
                month: Month {
                    key: month.format("%Y-%m").to_string(),
                    label: label(month),
                    incidents: listed.iter().map(|i| HistoryRow::new(i)).collect(),
                },
                page,
                pages,
                newer: newer.clone(),
                older: older.clone(),
            };
            Ok(body.render()?.into_bytes())
        });
    }
    Ok(())
}
