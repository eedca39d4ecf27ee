//! The embeddable banner: `/banner.json` for sites that draw their own, and `/banner.js`, the
//! same data inlined into a small script that draws it in a shadow root on the host page.

use serde::Serialize;

use super::views::Model;
use super::PagesBuilder;
use crate::domain::{rfc3339, Choice, Incident, IncidentKind};

const SCRIPT: &str = include_str!("../../static/banner.js");
const PLACEHOLDER: &str = "/*HERALD_DATA*/null";

#[derive(Serialize)]
struct BannerPage<'a> {
    name: &'a str,
    url: &'a str,
    /// The page's accent colour (`#rrggbb`), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    accent: Option<&'a str>,
    /// An absolute URL of the page's favicon (or else its logo), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    logo: Option<String>,
}

#[derive(Serialize)]
struct BannerItem {
    kind: &'static str,
    id: String,
    name: String,
    status: &'static str,
    status_label: &'static str,
    impact: &'static str,
    url: String,
    updated_at: String,
    /// Changes with every update, so a dismissed banner returns when there is news.
    key: String,
    /// A breach statement's text (plain), shown in full on customer sites.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

#[derive(Serialize)]
struct Banner<'a> {
    page: BannerPage<'a>,
    active: Vec<BannerItem>,
}

/// An open breach's statement first (`kind: "statement"`), then open incidents (worst impact
/// first) and maintenances in progress.
fn banner<'a>(m: &'a Model<'a>) -> Banner<'a> {
    let pinned = m.statement.as_ref().map(|s| s.incident_id);
    let mut shown: Vec<&Incident> = m
        .incidents
        .iter()
        .filter(|i| Some(i.id) != pinned)
        .filter(|i| (i.kind == IncidentKind::Incident && i.is_open()) || i.is_active_maintenance())
        .map(|i| &**i)
        .collect();
    shown.sort_by(|a, b| {
        b.impact
            .cmp(&a.impact)
            .then(b.updated_at.cmp(&a.updated_at))
    });
    Banner {
        page: BannerPage {
            name: &m.site.name,
            url: &m.site.url,
            accent: m.site.brand.accent.as_deref(),
            logo: m
                .site
                .brand
                .favicon
                .as_ref()
                .map(|(path, _)| path)
                .or(m.site.brand.logo.as_ref())
                .map(|path| format!("{}{path}", m.site.url)),
        },
        active: m
            .statement
            .iter()
            .map(|s| BannerItem {
                kind: "statement",
                id: s.incident_id.to_string(),
                name: s.title.clone(),
                status: "statement",
                status_label: "Security notice",
                impact: "critical",
                url: s.url.clone(),
                updated_at: s.started.iso.clone(),
                key: format!("statement:{}", s.incident_id),
                text: Some(s.text.clone()),
            })
            .chain(shown.into_iter().map(|i| {
                let latest = i.latest_update();
                BannerItem {
                    kind: i.kind.as_str(),
                    id: i.id.to_string(),
                    name: i.name.clone(),
                    status: i.status.as_str(),
                    status_label: i.status_label(),
                    impact: i.impact.as_str(),
                    url: format!("{}/incidents/{}", m.site.url, i.id),
                    updated_at: rfc3339(&latest.map_or(i.updated_at, |u| u.created_at)),
                    key: format!("{}:{}", i.id, latest.map_or(0, |u| u.id)),
                    text: None,
                }
            }))
            .collect(),
    }
}

/// JSON safe to inline in a script: no `<`, so no `</script>` can end it early, and the two line
/// separators old parsers choke on are escaped.
fn script_safe_json(value: &impl Serialize) -> anyhow::Result<String> {
    Ok(serde_json::to_string(value)?
        .replace('<', "\\u003c")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029"))
}

pub fn render(m: &Model<'_>, out: &mut PagesBuilder<'_>) -> anyhow::Result<()> {
    let data = banner(m);
    out.add(
        "/banner.json",
        "application/json",
        serde_json::to_vec(&data)?,
        true,
    );
    let script = SCRIPT.replacen(PLACEHOLDER, &script_safe_json(&data)?, 1);
    out.add(
        "/banner.js",
        "text/javascript; charset=utf-8",
        script.into_bytes(),
        true,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_carries_exactly_one_data_placeholder() {
        assert_eq!(SCRIPT.matches(PLACEHOLDER).count(), 1);
    }

    #[test]
    fn inlined_json_cannot_close_the_script() {
        let s =
            script_safe_json(&serde_json::json!({"name": "</script><script>alert(1)</script>"}))
                .unwrap();
        assert!(!s.contains('<'));
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["name"], "</script><script>alert(1)</script>");
    }
}
