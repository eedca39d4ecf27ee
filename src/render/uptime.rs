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

/// Four decimals: enough to see a minute in 90 days, without float noise. Like the page's two
/// decimals ([`percent_text`](crate::domain::uptime::percent_text)) never rounded up, with the
/// same tolerance, so the JSON never says more than the page: 97.53996 is 97.5399 here and
/// 97.53 there, where rounding made it 97.54 against the page's 97.53.
fn rounded(percent: Option<f64>) -> Option<f64> {
    percent.map(|p| ((p * 10_000.0 + 1e-4).floor() / 10_000.0).clamp(0.0, 100.0))
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

#[cfg(test)]
mod tests {
    use super::rounded;
    use crate::domain::uptime::percent_text;

    #[test]
    fn four_decimals_never_round_up_past_what_the_page_shows() {
        assert_eq!(rounded(Some(97.539_96)), Some(97.5399));
        assert_eq!(percent_text(97.539_96), "97.53");
        assert_eq!(rounded(Some(99.999_99)), Some(99.9999));
        assert_eq!(rounded(Some(100.0)), Some(100.0));
        assert_eq!(rounded(Some(0.0)), Some(0.0));
        assert_eq!(rounded(None), None);
        // Float noise just under a value is that value, on the page and here alike.
        let noisy = 97.54 - 1e-12;
        assert_eq!(rounded(Some(noisy)), Some(97.54));
        assert_eq!(percent_text(noisy), "97.54");
        // Whatever the value, the page's number is at most the JSON's and within 0.01 of it.
        for i in 0..100_000 {
            let p = 90.0 + f64::from(i) * 0.000_137;
            let json = rounded(Some(p)).unwrap_or_default();
            let page: f64 = percent_text(p).parse().unwrap_or_default();
            assert!(
                page <= json + 1e-9 && json - page < 0.01,
                "{p}: {page} vs {json}"
            );
        }
    }
}
