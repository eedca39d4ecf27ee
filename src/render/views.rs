//! What the templates show, computed once per render from a snapshot.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, DurationRound, NaiveDate, Utc};

use super::{Site, Snapshot};
use crate::domain::markdown::to_safe_html;
use crate::domain::uptime::{self, Change, Uptime};
use crate::domain::{
    rfc3339, Choice, Component, ComponentStatus, Incident, IncidentKind, IncidentUpdate, Indicator,
};

/// How many days "Past incidents" on the front page covers.
pub const PAST_DAYS: i64 = 14;

/// At most this many incidents under "Past incidents" on the front page (the rest are a click
/// away in the history), so a busy fortnight cannot make the page heavy.
pub const PAST_INCIDENTS: usize = 30;

/// A page with more components than this shows them compactly: each group's members by name
/// and status, with the bars on the group's own page (`/groups/{id}`), and the subscribe
/// forms' component pickers on `/subscribe`. Ninety bars a component is about 7 KB of HTML.
pub const FULL_DETAIL_COMPONENTS: usize = 25;

/// A moment shown as absolute UTC, which `local-time.js` rewrites into the reader's time zone.
#[derive(Clone)]
pub struct TimeView {
    /// RFC 3339, for `<time datetime>` and machine readers.
    pub iso: String,
    /// "28 Nov 2026, 14:30 UTC"
    pub text: String,
}

impl TimeView {
    pub fn new(t: &DateTime<Utc>) -> TimeView {
        TimeView {
            iso: rfc3339(t),
            text: t.format("%-d %b %Y, %H:%M UTC").to_string(),
        }
    }
}

pub struct ComponentView {
    pub name: String,
    pub description: String,
    pub status: &'static str,
    pub status_label: &'static str,
    /// Its daily uptime bars, unless hidden.
    pub uptime: Option<Arc<UptimeView>>,
}

pub struct GroupView {
    pub name: Option<String>,
    /// The group's id (its page is `/groups/{id}`); empty for ungrouped components.
    pub id: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub components: Vec<ComponentView>,
    /// Shown open: a member is not operational, so the reader sees which at once.
    pub open: bool,
    /// The group's daily uptime bars, when some member shows its uptime.
    pub uptime: Option<Arc<UptimeView>>,
}

pub struct UpdateView {
    pub id: i64,
    pub status_label: &'static str,
    pub body_html: String,
    pub display_at: TimeView,
    /// "API: Major outage"
    pub affected: Vec<String>,
    /// When it was last edited after it was posted (the page says so).
    pub edited: Option<TimeView>,
    /// Not written by Herald (admin pages only: public pages never hold one).
    pub tampered: bool,
    /// It carried the postmortem to subscribers: the page shows a line linking to the
    /// postmortem's own section rather than the whole text twice.
    pub is_postmortem: bool,
}

/// A published postmortem as the incident page shows it.
pub struct PostmortemView {
    pub body_html: String,
    pub published: TimeView,
}

pub struct IncidentView {
    pub id: i64,
    /// Absolute URL of the incident's page.
    pub url: String,
    pub name: String,
    pub is_maintenance: bool,
    pub kind_label: &'static str,
    pub status: &'static str,
    pub status_label: &'static str,
    pub impact: &'static str,
    pub started: TimeView,
    pub resolved: Option<TimeView>,
    pub scheduled_for: Option<TimeView>,
    pub scheduled_until: Option<TimeView>,
    pub components: Vec<String>,
    pub updates: Vec<UpdateView>,
    /// Not written by Herald (admin pages only: public pages never hold one).
    pub tampered: bool,
    /// Its published postmortem (public pages never hold a draft).
    pub postmortem: Option<PostmortemView>,
}

/// One line of "Past incidents": a day with incidents, or a run of days without any.
pub struct DayView {
    /// The newest day it covers.
    pub date: NaiveDate,
    pub iso: String,
    /// "5 Dec 2026"
    pub text: String,
    pub incidents: Vec<usize>,
    /// For a run of several days without incidents, its oldest day ("23 Nov", with the year
    /// only when the run crosses a new year).
    pub first: Option<DateView>,
}

/// A calendar day (UTC) as a `<time datetime>` shows it.
pub struct DateView {
    pub date: NaiveDate,
    pub iso: String,
    pub text: String,
}

impl DateView {
    pub fn new(date: NaiveDate) -> DateView {
        DateView {
            date,
            iso: date.format("%Y-%m-%d").to_string(),
            text: date.format("%-d %b %Y").to_string(),
        }
    }
}

/// A pinned breach statement as the page and the banner show it.
pub struct StatementView {
    pub incident_id: i64,
    pub title: String,
    pub body_html: String,
    /// Plain text, for the banner on customer sites.
    pub text: String,
    /// Absolute URL of the statement's incident page.
    pub url: String,
    pub started: TimeView,
}

/// Incident views by incident id, each with the fingerprint it was made from.
pub type MadeViews = HashMap<i64, (u64, Arc<IncidentView>)>;

/// What a render made that the next keeps while its input is the same.
#[derive(Default)]
pub struct Made {
    pub uptime: Option<Arc<UptimeMade>>,
    pub views: MadeViews,
}

/// The whole public picture at one moment.
pub struct Model<'a> {
    pub site: &'a Site,
    pub now: DateTime<Utc>,
    pub indicator: Indicator,
    pub components: &'a [Component],
    pub groups: Vec<GroupView>,
    /// Too many components to show each one's bars on the front page.
    pub compact: bool,
    /// Every incident and maintenance, newest first, as the snapshot has them.
    pub incidents: &'a [Arc<Incident>],
    /// Views of `incidents`, same order, each made when first asked for ([`Model::view`]):
    /// a render only looks at the incidents whose pages it writes.
    views: Vec<std::cell::OnceCell<Arc<IncidentView>>>,
    /// The views the last render made, by incident id with the fingerprint each was made
    /// from: one whose incident has not changed is taken rather than made again.
    previous_views: &'a MadeViews,
    /// What every incident's view depends on besides the incident: the site and the names of
    /// the components.
    context_fingerprint: u64,
    /// Each incident's revision (`Store::incident_revisions`).
    revisions: &'a HashMap<i64, i64>,
    /// Each incident's fingerprint, made when first asked for.
    fingerprints: Vec<std::cell::OnceCell<u64>>,
    pub component_names: HashMap<i64, &'a str>,
    /// The same, owned, for the bodies made after the render; made when first asked for.
    names: std::cell::OnceCell<Arc<HashMap<i64, String>>>,
    /// The open breach's statement, shown first everywhere.
    pub statement: Option<StatementView>,
    /// Component group name → id.
    pub group_ids: &'a HashMap<String, String>,
    /// The uptime numbers and bars, kept from the last render while their input is the same.
    pub uptime: Arc<UptimeMade>,
}

impl<'a> Model<'a> {
    /// The model of `snapshot`; the last render's uptime and incident views (`previous`) are
    /// kept where they were made from the same input.
    pub fn new(site: &'a Site, snapshot: &'a Snapshot, previous: &'a Made) -> Model<'a> {
        let component_names: HashMap<i64, &str> = snapshot
            .components
            .iter()
            .map(|c| (c.id, c.name.as_str()))
            .collect();
        let views = snapshot
            .incidents
            .iter()
            .map(|_| std::cell::OnceCell::new())
            .collect();
        let context_fingerprint = {
            let mut names: Vec<(&i64, &&str)> = component_names.iter().collect();
            names.sort();
            fingerprint(&(&site.url, &site.name, &site.brand, names))
        };
        let uptime = UptimeMade::new(snapshot, previous.uptime.as_ref());
        let mut groups = groups(&snapshot.components, |id| {
            uptime.component_bars.get(&id).cloned()
        });
        for g in &mut groups {
            if let Some(name) = &g.name {
                g.uptime = uptime.group_bars.get(name).cloned();
                g.id = super::api::group_id(Some(&snapshot.group_ids), name);
            }
        }
        Model {
            site,
            now: snapshot.now,
            indicator: Indicator::overall(
                &snapshot.components,
                snapshot.incidents.iter().map(|i| &**i),
            ),
            components: &snapshot.components,
            compact: snapshot.components.len() > FULL_DETAIL_COMPONENTS,
            groups,
            uptime,
            incidents: &snapshot.incidents,
            views,
            previous_views: &previous.views,
            context_fingerprint,
            revisions: &snapshot.revisions,
            fingerprints: snapshot
                .incidents
                .iter()
                .map(|_| std::cell::OnceCell::new())
                .collect(),
            component_names,
            names: std::cell::OnceCell::new(),
            group_ids: &snapshot.group_ids,
            statement: snapshot.statement.as_ref().map(|p| StatementView {
                incident_id: p.incident_id,
                title: p.title.clone(),
                body_html: to_safe_html(&p.body, &site.url),
                text: crate::domain::markdown::to_plain_text(&p.body),
                url: format!("{}/incidents/{}", site.url, p.incident_id),
                started: TimeView::new(&p.started_at),
            }),
        }
    }

    /// A fingerprint of what every page's frame is made from: the site and the components'
    /// names.
    pub fn context(&self) -> u64 {
        self.context_fingerprint
    }

    /// The components' names, owned: for a body made on its first request.
    pub fn names(&self) -> Arc<HashMap<i64, String>> {
        self.names
            .get_or_init(|| {
                Arc::new(
                    self.component_names
                        .iter()
                        .map(|(id, name)| (*id, name.to_string()))
                        .collect(),
                )
            })
            .clone()
    }

    /// The view of incident `n` (an index into `incidents`), made the first time it is asked for
    /// (or taken from the last render's, when the incident has not changed).
    pub fn view(&self, n: usize) -> &IncidentView {
        self.views[n].get_or_init(|| {
            let incident = &self.incidents[n];
            let input = self.incident_fingerprint(n);
            match self.previous_views.get(&incident.id) {
                Some((made_from, view)) if *made_from == input => view.clone(),
                _ => Arc::new(incident_view(self.site, incident, &self.component_names)),
            }
        })
    }

    /// What this render made that the next may keep: the uptime, and the incident views.
    pub fn made(&self) -> Made {
        let views = self
            .views
            .iter()
            .enumerate()
            .filter_map(|(n, view)| {
                let view = view.get()?;
                Some((
                    self.incidents[n].id,
                    (self.incident_fingerprint(n), view.clone()),
                ))
            })
            .collect();
        Made {
            uptime: Some(self.uptime.clone()),
            views,
        }
    }

    /// A fingerprint of everything incident `n`'s view is made from: equal fingerprints, equal
    /// views, so a body made only from it can be kept from the last render. The incident's
    /// revision moves with any change to its rows; the updates it keeps and whether its
    /// postmortem is public follow what the public may see. Without a revision (a snapshot
    /// made otherwise) the whole incident is hashed.
    pub fn incident_fingerprint(&self, n: usize) -> u64 {
        *self.fingerprints[n].get_or_init(|| {
            let i = &self.incidents[n];
            match self.revisions.get(&i.id) {
                Some(revision) => {
                    let updates: Vec<i64> = i.updates.iter().map(|u| u.id).collect();
                    hash_fingerprint(&(
                        self.context_fingerprint,
                        i.id,
                        revision,
                        updates,
                        i.postmortem.is_some(),
                    ))
                }
                None => fingerprint(&(self.context_fingerprint, i)),
            }
        })
    }

    /// Indices of the incidents matching `keep`, in snapshot order.
    pub fn select(&self, keep: impl Fn(&Incident) -> bool) -> Vec<usize> {
        self.incidents
            .iter()
            .enumerate()
            .filter(|(_, i)| keep(i))
            .map(|(n, _)| n)
            .collect()
    }

    pub fn open_incidents(&self) -> Vec<usize> {
        self.select(|i| i.kind == IncidentKind::Incident && i.is_open())
    }

    pub fn active_maintenances(&self) -> Vec<usize> {
        self.select(Incident::is_active_maintenance)
    }

    /// Scheduled maintenances, soonest first.
    pub fn upcoming_maintenances(&self) -> Vec<usize> {
        let mut found = self.select(Incident::is_upcoming_maintenance);
        found.sort_by_key(|n| self.incidents[*n].scheduled_for);
        found
    }

    /// The last `PAST_DAYS` days, today first, each with the incidents and maintenances that
    /// began that day and are over (an open one is shown under "Current incidents" or
    /// "Maintenance in progress" instead); a run of days with none is folded into one line.
    pub fn past_days(&self) -> Vec<DayView> {
        let today = self.now.date_naive();
        let oldest = today - Duration::days(PAST_DAYS - 1);
        // Newest first, at most PAST_INCIDENTS of them.
        let mut listed: Vec<usize> = self.select(|i| {
            let day = i.started_at.date_naive();
            day >= oldest && day <= today && i.status.is_closed()
        });
        listed.sort_by_key(|n| std::cmp::Reverse(self.incidents[*n].started_at));
        listed.truncate(PAST_INCIDENTS);
        let mut out: Vec<DayView> = Vec::new();
        for back in 0..PAST_DAYS {
            let date = today - Duration::days(back);
            let incidents: Vec<usize> = listed
                .iter()
                .copied()
                .filter(|n| self.incidents[*n].started_at.date_naive() == date)
                .collect();
            // Past the cap, the older days are left to the history rather than called
            // days without incidents.
            let capped = listed.len() == PAST_INCIDENTS
                && listed
                    .last()
                    .is_some_and(|n| self.incidents[*n].started_at.date_naive() > date);
            if capped {
                break;
            }
            match out.last_mut() {
                Some(run) if incidents.is_empty() && run.incidents.is_empty() => {
                    run.first = Some(DateView::new(date));
                }
                _ => out.push(DayView {
                    date,
                    iso: date.format("%Y-%m-%d").to_string(),
                    text: date.format("%-d %b %Y").to_string(),
                    incidents,
                    first: None,
                }),
            }
        }
        // The start of a run needs its year only when the run crosses into a new one.
        for run in &mut out {
            if let Some(first) = &mut run.first {
                if first.date.year() == run.date.year() {
                    first.text = first.date.format("%-d %b").to_string();
                }
            }
        }
        out
    }
}

fn update_view(site: &Site, u: &IncidentUpdate) -> UpdateView {
    UpdateView {
        id: u.id,
        status_label: u.status.label(),
        body_html: to_safe_html(&u.body, &site.url),
        display_at: TimeView::new(&u.display_at),
        affected: u
            .affected
            .iter()
            .map(|a| format!("{}: {}", a.name, a.new_status.label()))
            .collect(),
        edited: u.edited_at.as_ref().map(TimeView::new),
        tampered: u.tampered,
        is_postmortem: u.status == crate::domain::IncidentStatus::Postmortem,
    }
}

/// What the page calls an incident's status: a maintenance called off is completed to the
/// API, and says so on the page.
pub fn status_label(i: &Incident) -> &'static str {
    if i.plan.cancelled_at.is_some() {
        "Cancelled"
    } else {
        i.status.label()
    }
}

pub fn incident_view(site: &Site, i: &Incident, names: &HashMap<i64, &str>) -> IncidentView {
    IncidentView {
        id: i.id,
        url: format!("{}/incidents/{}", site.url, i.id),
        name: i.name.clone(),
        is_maintenance: i.kind == IncidentKind::Maintenance,
        kind_label: i.kind.label(),
        status: i.status.as_str(),
        status_label: status_label(i),
        impact: i.impact.as_str(),
        started: TimeView::new(&i.started_at),
        resolved: i.resolved_at.as_ref().map(TimeView::new),
        scheduled_for: i.scheduled_for.as_ref().map(TimeView::new),
        scheduled_until: i.scheduled_until.as_ref().map(TimeView::new),
        components: i
            .component_ids
            .iter()
            .filter_map(|id| names.get(id).map(|n| n.to_string()))
            .collect(),
        updates: i.updates.iter().map(|u| update_view(site, u)).collect(),
        tampered: i.tampered,
        postmortem: i.published_postmortem().map(|p| PostmortemView {
            body_html: to_safe_html(&p.body, &site.url),
            published: TimeView::new(&p.published_at.unwrap_or(p.updated_at)),
        }),
    }
}

fn component_view(c: &Component, uptime: Option<Arc<UptimeView>>) -> ComponentView {
    ComponentView {
        name: c.name.clone(),
        description: c.description.clone(),
        status: c.status.as_str(),
        status_label: c.status.label(),
        uptime,
    }
}

/// Components in groups (ungrouped ones each stand alone), in the store's display order, each
/// with the bars `uptime` gives it.
fn groups(
    components: &[Component],
    uptime: impl Fn(i64) -> Option<Arc<UptimeView>>,
) -> Vec<GroupView> {
    let mut out: Vec<GroupView> = Vec::new();
    for c in components {
        let view = component_view(c, uptime(c.id));
        match (&c.group, out.last_mut()) {
            (Some(g), Some(last)) if last.name.as_ref() == Some(g) => last.components.push(view),
            _ => out.push(GroupView {
                name: c.group.clone(),
                id: String::new(),
                status: "",
                status_label: "",
                components: vec![view],
                open: false,
                uptime: None,
            }),
        }
    }
    for g in &mut out {
        let worst = worst_status(
            g.components
                .iter()
                .filter_map(|c| ComponentStatus::parse("", c.status).ok()),
        );
        g.status = worst.as_str();
        g.status_label = worst.label();
        g.open = worst != ComponentStatus::Operational;
    }
    out
}

/// The worst of several component statuses (maintenance counts below any outage).
pub fn worst_status(statuses: impl Iterator<Item = ComponentStatus>) -> ComponentStatus {
    statuses.max().unwrap_or(ComponentStatus::Operational)
}

/// The uptime of one component or group over the last `uptime::DAYS` days, as both the page and
/// `/api/uptime.json` show it.
pub struct UptimeReport {
    /// The component's id; `None` for a group.
    pub component_id: Option<i64>,
    pub name: String,
    pub uptime: Uptime,
    /// Per day (same order as `uptime.days`): the incidents affecting it that were open then,
    /// newest first.
    pub incident_ids: Vec<Vec<i64>>,
    /// A group's members that show their uptime.
    pub members: Vec<i64>,
}

/// One day's bar: its colour class, what it says, and where it leads.
pub struct BarView {
    pub class: &'static str,
    pub label: String,
    /// The day's incident (several: the history page where the newest is listed).
    pub href: Option<String>,
}

/// A component's or group's bars with its uptime over the whole window.
pub struct UptimeView {
    pub name: String,
    /// "99.95 % uptime", or "No data".
    pub percent: String,
    pub bars: Vec<BarView>,
}

/// The uptime of every component that shows it and of every group with such a member, with
/// their bars, made from one input: the minute, those components, their status history and the
/// incidents open in the window. Kept by later renders while the input is the same, so a change
/// elsewhere (a new update, a new incident outside the window) costs no uptime work.
pub struct UptimeMade {
    /// A fingerprint of the input.
    pub input: u64,
    /// Each component that shows its uptime, in display order.
    pub components: Vec<UptimeReport>,
    /// Each group with a member that shows its uptime, in display order.
    pub groups: Vec<UptimeReport>,
    /// The newest status change of those components, start or end of those incidents.
    pub updated_at: Option<DateTime<Utc>>,
    /// The minute counted to.
    pub minute: DateTime<Utc>,
    component_bars: HashMap<i64, Arc<UptimeView>>,
    group_bars: HashMap<String, Arc<UptimeView>>,
}

impl UptimeMade {
    /// The uptime of `snapshot`: `previous` when it was made from the same input.
    fn new(snapshot: &Snapshot, previous: Option<&Arc<UptimeMade>>) -> Arc<UptimeMade> {
        let shown: Vec<&Component> = snapshot
            .components
            .iter()
            .filter(|c| c.show_uptime)
            .collect();
        let none: Vec<Change> = Vec::new();
        let changes = |id: i64| -> &[Change] {
            snapshot
                .history
                .changes
                .get(&id)
                .map_or(none.as_slice(), Vec::as_slice)
        };
        // Counted to the start of the minute: the numbers (whole minutes of outage) then stay
        // the same across the renders within a minute, and so do the bodies made from them.
        let now = snapshot
            .now
            .duration_trunc(Duration::minutes(1))
            .unwrap_or(snapshot.now);
        let dates = uptime::dates(now, uptime::DAYS);
        // Incidents (not maintenances) open at some time in the window: few, whatever the
        // history.
        let window_start = dates
            .first()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc());
        let recent: Vec<&Incident> = snapshot
            .incidents
            .iter()
            .filter(|i| {
                i.kind == IncidentKind::Incident
                    && !i.component_ids.is_empty()
                    && i.resolved_at
                        .zip(window_start)
                        .is_none_or(|(end, start)| end > start)
            })
            .map(|i| &**i)
            .collect();
        // What the numbers and bars are made from, and nothing else: an update to an incident
        // open in the window (its text, its status) changes none of it.
        let input = hash_fingerprint(&(
            now,
            shown
                .iter()
                .map(|c| (c.id, &c.name, &c.group, changes(c.id)))
                .collect::<Vec<_>>(),
            recent
                .iter()
                .map(|i| (i.id, &i.name, i.started_at, i.resolved_at, &i.component_ids))
                .collect::<Vec<_>>(),
        ));
        if let Some(previous) = previous.filter(|p| p.input == input) {
            return previous.clone();
        }
        let incidents_on = |ids: &[i64]| -> Vec<Vec<i64>> {
            let affecting: Vec<&&Incident> = recent
                .iter()
                .filter(|i| i.component_ids.iter().any(|c| ids.contains(c)))
                .collect();
            dates
                .iter()
                .map(|date| {
                    affecting
                        .iter()
                        .filter(|i| uptime::open_on(*date, i.started_at, i.resolved_at))
                        .map(|i| i.id)
                        .collect()
                })
                .collect()
        };
        let components: Vec<UptimeReport> = shown
            .iter()
            .map(|c| UptimeReport {
                component_id: Some(c.id),
                name: c.name.clone(),
                uptime: uptime::uptime(&[changes(c.id)], now, uptime::DAYS),
                incident_ids: incidents_on(&[c.id]),
                members: vec![c.id],
            })
            .collect();
        let mut groups: Vec<UptimeReport> = Vec::new();
        for c in &shown {
            let Some(group) = &c.group else { continue };
            if groups.iter().any(|g| &g.name == group) {
                continue;
            }
            let members: Vec<i64> = shown
                .iter()
                .filter(|m| m.group.as_ref() == Some(group))
                .map(|m| m.id)
                .collect();
            let histories: Vec<&[Change]> = members.iter().map(|id| changes(*id)).collect();
            groups.push(UptimeReport {
                component_id: None,
                name: group.clone(),
                uptime: uptime::uptime(&histories, now, uptime::DAYS),
                incident_ids: incidents_on(&members),
                members,
            });
        }
        let bars = UptimeBars::new(snapshot);
        let component_bars = components
            .iter()
            .filter_map(|r| r.component_id.map(|id| (id, Arc::new(bars.view(r)))))
            .collect();
        let group_bars = groups
            .iter()
            .map(|r| (r.name.clone(), Arc::new(bars.view(r))))
            .collect();
        let updated_at = shown
            .iter()
            .filter_map(|c| changes(c.id).last().map(|change| change.at))
            .chain(
                recent
                    .iter()
                    .flat_map(|i| [Some(i.started_at), i.resolved_at])
                    .flatten(),
            )
            .max();
        Arc::new(UptimeMade {
            input,
            components,
            groups,
            updated_at,
            minute: now,
            component_bars,
            group_bars,
        })
    }
}

/// What the bars need besides the numbers: each incident's name and where it is listed.
struct UptimeBars<'a> {
    incidents: HashMap<i64, &'a Incident>,
    now: DateTime<Utc>,
    /// Each day of the window as the bars name it ("5 Dec 2026"), formatted once rather than
    /// once a bar.
    dates: HashMap<NaiveDate, String>,
}

impl<'a> UptimeBars<'a> {
    fn new(snapshot: &'a Snapshot) -> UptimeBars<'a> {
        UptimeBars {
            incidents: snapshot.incidents.iter().map(|i| (i.id, &**i)).collect(),
            now: snapshot.now,
            dates: uptime::dates(snapshot.now, uptime::DAYS)
                .into_iter()
                .map(|d| (d, d.format("%-d %b %Y").to_string()))
                .collect(),
        }
    }

    fn view(&self, report: &UptimeReport) -> UptimeView {
        let bars = report
            .uptime
            .days
            .iter()
            .zip(&report.incident_ids)
            .map(|(day, ids)| self.bar(day, ids))
            .collect();
        UptimeView {
            name: report.name.clone(),
            percent: report.uptime.total.uptime_percent().map_or_else(
                || "No data".to_string(),
                |p| format!("{} % uptime", uptime::percent_text(p)),
            ),
            bars,
        }
    }

    fn bar(&self, day: &uptime::Day, ids: &[i64]) -> BarView {
        let t = &day.tally;
        let date = self
            .dates
            .get(&day.date)
            .cloned()
            .unwrap_or_else(|| day.date.format("%-d %b %Y").to_string());
        let mut label = match t.uptime_percent() {
            None => format!("{date}: no data"),
            Some(_) if t.down == 0.0 => format!("{date}: no downtime"),
            Some(p) => {
                let mut parts = Vec::new();
                if t.major > 0 {
                    parts.push(format!("{} major outage", minutes_text(t.major)));
                }
                if t.partial > 0 {
                    parts.push(format!("{} partial outage", minutes_text(t.partial)));
                }
                format!(
                    "{date}: {}, {} % uptime",
                    parts.join(", "),
                    uptime::percent_text(p)
                )
            }
        };
        let named: Vec<&Incident> = ids
            .iter()
            .filter_map(|id| self.incidents.get(id).copied())
            .collect();
        let names: Vec<&str> = named.iter().map(|i| i.name.as_str()).collect();
        match names.len() {
            0 => {}
            1 => label.push_str(&format!(". Incident: {}", names[0])),
            n => label.push_str(&format!(". {n} incidents: {}", names.join("; "))),
        }
        let href = match named.as_slice() {
            [] => None,
            [one] => Some(format!("/incidents/{}", one.id)),
            [newest, ..] => {
                let page = history_page(self.now, newest.started_at);
                let month = newest.started_at.format("%Y-%m");
                Some(if page == 1 {
                    format!("/history#m-{month}")
                } else {
                    format!("/history?page={page}#m-{month}")
                })
            }
        };
        BarView {
            class: bar_class(t),
            label,
            href,
        }
    }
}

/// A bar's colour: no data, no downtime, a little (under 1 % of the day's counted time), or
/// more, coloured by whether any of it was major outage.
fn bar_class(t: &uptime::Tally) -> &'static str {
    match t.uptime_percent() {
        None => "bn",
        Some(_) if t.down == 0.0 => "b0",
        Some(p) if p > 99.0 => "b1",
        Some(_) if t.major > 0 => "b3",
        Some(_) => "b2",
    }
}

/// "45 min", "2 h", "3 h 5 min".
fn minutes_text(minutes: i64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// The `/history` page (from 1) that lists an incident begun at `started`: one page a calendar
/// month (UTC), this month's first.
pub fn history_page(now: DateTime<Utc>, started: DateTime<Utc>) -> usize {
    let months = |t: DateTime<Utc>| i64::from(t.year()) * 12 + i64::from(t.month0());
    usize::try_from(months(now) - months(started)).map_or(1, |back| back + 1)
}

/// A stable hash of a value's `Debug` form (every field, nested), streamed without building the
/// string.
pub fn fingerprint(value: &impl std::fmt::Debug) -> u64 {
    // Through `Debug`: every type the pages are made from has it, few have `Hash`.
    use std::fmt::Write;
    use std::hash::Hasher;
    struct Feed(std::collections::hash_map::DefaultHasher);
    impl Write for Feed {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let mut feed = Feed(std::collections::hash_map::DefaultHasher::new());
    let _ = write!(feed, "{value:?}");
    feed.0.finish()
}

/// A fingerprint of a value that is `Hash`: quicker than [`fingerprint`], for the one made for
/// each of thousands of incidents on every render.
pub fn hash_fingerprint(value: &impl std::hash::Hash) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}
