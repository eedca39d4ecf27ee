//! The bodies of generic webhooks: Atlassian Statuspage's webhook envelopes, field for field, so
//! a receiver written for Statuspage reads Herald unchanged. Statuspage sends no type field: a
//! receiver tells the kinds apart by the key present (`incident`, or `component_update` with
//! `component`). The incident and component objects are exactly what `/api/v2` shows.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::channels::{ComponentChange, Notice, PageInfo};
use crate::domain::rfc3339;

/// `meta`: how to unsubscribe, where the format is described, when the message was made.
fn meta(page: &PageInfo, unsubscribe: &str, now: DateTime<Utc>) -> Value {
    json!({
        "unsubscribe": unsubscribe,
        "documentation": documentation_url(page),
        "generated_at": rfc3339(&now),
    })
}

/// Statuspage points `meta.documentation` at its own help page on webhooks. Herald serves no
/// documentation page of its own and a Herald deployment need not link to any project site, so
/// this is the status page itself: the one address the receiver's owner knows, that stays up as
/// long as the webhooks come, and where they subscribed.
fn documentation_url(page: &PageInfo) -> String {
    page.url.clone()
}

/// `page`: which page speaks, and its overall status as `/api/v2/status.json` gives it.
fn page_json(page: &PageInfo) -> Value {
    json!({
        "id": page.id,
        "status_indicator": page.indicator,
        "status_description": page.description,
    })
}

/// An incident (or maintenance) update: `{meta, page, incident}`.
pub fn incident_envelope(notice: &Notice, unsubscribe: &str, now: DateTime<Utc>) -> Value {
    json!({
        "meta": meta(&notice.page, unsubscribe, now),
        "page": page_json(&notice.page),
        "incident": notice.incident_json,
    })
}

/// A component's status change: `{meta, page, component_update, component}`.
pub fn component_envelope(
    change: &ComponentChange,
    unsubscribe: &str,
    now: DateTime<Utc>,
) -> Value {
    json!({
        "meta": meta(&change.page, unsubscribe, now),
        "page": page_json(&change.page),
        "component_update": change.component_update_json,
        "component": change.component_json,
    })
}

/// The test a new subscription must accept: `{meta, page}` and nothing else, so a receiver that
/// handles only incidents and components can ignore it safely.
pub fn test_envelope(page: &PageInfo, unsubscribe: &str, now: DateTime<Utc>) -> Value {
    json!({
        "meta": meta(page, unsubscribe, now),
        "page": page_json(page),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::webhook::sample_notice;
    use chrono::TimeZone;

    fn keys(v: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

    const UNSUBSCRIBE: &str = "https://status.acme.example/hooks/7/unsubscribe?t=abc";

    #[test]
    fn an_incident_envelope_has_statuspages_keys_and_types() {
        let notice = sample_notice();
        let now = Utc.with_ymd_and_hms(2024, 5, 1, 12, 3, 4).unwrap();
        let v = incident_envelope(&notice, UNSUBSCRIBE, now);
        assert_eq!(keys(&v), ["incident", "meta", "page"]);
        assert_eq!(
            keys(&v["meta"]),
            ["documentation", "generated_at", "unsubscribe"]
        );
        assert_eq!(v["meta"]["unsubscribe"], UNSUBSCRIBE);
        assert_eq!(v["meta"]["generated_at"], "2024-05-01T12:03:04.000Z");
        assert_eq!(v["meta"]["documentation"], "https://status.acme.example");
        assert_eq!(
            keys(&v["page"]),
            ["id", "status_description", "status_indicator"]
        );
        assert_eq!(v["page"]["id"], "acmepage0001");
        assert_eq!(v["page"]["status_indicator"], "major");
        assert_eq!(v["page"]["status_description"], "Partial System Outage");
        let incident = &v["incident"];
        assert_eq!(incident, &notice.incident_json);
        assert!(incident["id"].is_string(), "ids are strings: {incident}");
        assert_eq!(incident["name"], "Elevated API errors");
        assert_eq!(incident["status"], "identified");
        assert_eq!(incident["impact"], "major");
        assert!(incident["created_at"].is_string());
        assert!(incident["resolved_at"].is_null());
        let updates = incident["incident_updates"].as_array().unwrap();
        assert_eq!(updates[0]["status"], "identified");
        assert!(updates[0]["body"].is_string());
        assert!(updates[0]["affected_components"].is_array());
        assert!(incident["components"].is_array());
    }

    #[test]
    fn a_component_envelope_carries_the_update_and_the_component() {
        let notice = sample_notice();
        let change = ComponentChange {
            page: notice.page.clone(),
            component_json: json!({
                "id": "1", "name": "API", "status": "major_outage",
                "created_at": "2024-01-01T00:00:00.000Z",
            }),
            component_update_json: json!({
                "id": "41", "component_id": "1", "old_status": "operational",
                "new_status": "major_outage", "created_at": "2024-05-01T12:00:00.000Z",
            }),
        };
        let v = component_envelope(&change, UNSUBSCRIBE, Utc::now());
        assert_eq!(keys(&v), ["component", "component_update", "meta", "page"]);
        assert_eq!(
            keys(&v["component_update"]),
            [
                "component_id",
                "created_at",
                "id",
                "new_status",
                "old_status"
            ]
        );
        assert_eq!(v["component_update"]["new_status"], "major_outage");
        assert_eq!(v["component"]["id"], "1");
    }

    #[test]
    fn a_test_envelope_has_only_meta_and_page() {
        let v = test_envelope(&sample_notice().page, UNSUBSCRIBE, Utc::now());
        assert_eq!(keys(&v), ["meta", "page"]);
        assert_eq!(v["meta"]["unsubscribe"], UNSUBSCRIBE);
    }
}
