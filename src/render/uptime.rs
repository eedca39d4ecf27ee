//! `/api/uptime.json`: the numbers behind the page's uptime bars, for each component that shows
//! its uptime and each group with such a member. Days oldest first, times in UTC.

use serde::Serialize;

use super::api::{group_id, page_value_at};
use super::views::{fingerprint, Model, UptimeReport};
use super::PagesBuilder;

#[derive(Serialize)]
struct DayJson {
    date: String,
    /// Null: nothing counted that day (before the component existed).
    uptime_percent: Option<f64>,
    major_outage_minutes: i64,
    partial_outage_minutes: i64,
    incident_ids: Vec<String>,
}

#[derive(Serialize)]
struct UptimeJson {
    id: String,
    name: String,
    uptime_percent: Option<f64>,
    days: Vec<DayJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    component_ids: Option<Vec<String>>,
}

/// Four decimals: enough to see a minute in 90 days, without float noise.
fn rounded(percent: Option<f64>) -> Option<f64> {
    percent.map(|p| (p * 10_000.0).round() / 10_000.0)
}

fn report_json(id: String, r: &UptimeReport, group: bool) -> UptimeJson {
    UptimeJson {
        id,
        name: r.name.clone(),
        uptime_percent: rounded(r.uptime.total.uptime_percent()),
        days: r
            .uptime
            .days
            .iter()
            .zip(&r.incident_ids)
            .map(|(d, ids)| DayJson {
                date: d.date.format("%Y-%m-%d").to_string(),
                uptime_percent: rounded(d.tally.uptime_percent()),
                major_outage_minutes: d.tally.major,
                partial_outage_minutes: d.tally.partial,
                incident_ids: ids.iter().map(i64::to_string).collect(),
            })
            .collect(),
        component_ids: group.then(|| r.members.iter().map(i64::to_string).collect()),
    }
}

/// The document is made from the uptime's input and the page's name alone (its `updated_at` is
/// the newest status change, start or end counted): kept while those are the same, so an
/// update to an incident neither remakes nor recompresses its megabytes.
pub(crate) fn render(m: &Model<'_>, out: &mut PagesBuilder<'_>) -> anyhow::Result<()> {
    const KEY: &str = "/api/uptime.json";
    let input = fingerprint(&(m.uptime.input, &m.site.page_id, &m.site.name, &m.site.url));
    if out.keep(KEY, input) {
        return Ok(());
    }
    let components: Vec<UptimeJson> = m
        .uptime
        .components
        .iter()
        .filter_map(|r| {
            r.component_id
                .map(|id| report_json(id.to_string(), r, false))
        })
        .collect();
    let groups: Vec<UptimeJson> = m
        .uptime
        .groups
        .iter()
        .map(|r| report_json(group_id(Some(m.group_ids), &r.name), r, true))
        .collect();
    // Serialised from the structs straight to bytes: no JSON tree of 45,000 days in between.
    #[derive(Serialize)]
    struct Body {
        page: serde_json::Value,
        components: Vec<UptimeJson>,
        groups: Vec<UptimeJson>,
    }
    let body = Body {
        page: page_value_at(m, m.uptime.updated_at.unwrap_or(m.uptime.minute)),
        components,
        groups,
    };
    out.add_kept_from(
        KEY,
        input,
        "application/json",
        serde_json::to_vec(&body)?,
        true,
    );
    Ok(())
}
