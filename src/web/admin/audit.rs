//! The audit log, for admins: newest first, filtered by actor, action and time, with the chain
//! checked on request.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};

use super::{render, Chrome};
use crate::domain::Role;
use crate::security::audit::Entry;
use crate::store::AuditFilter;
use crate::web::auth::StaffSession;
use crate::web::error::PageError;
use crate::web::AppState;

const PAGE: i64 = 50;

#[derive(serde::Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    /// `YYYY-MM-DD`, from the start of that day (UTC).
    #[serde(default)]
    since: String,
    /// `YYYY-MM-DD`, to the end of that day (UTC).
    #[serde(default)]
    until: String,
    before: Option<i64>,
    verify: Option<String>,
}

struct Row {
    id: i64,
    at: String,
    actor: String,
    ip: String,
    action: String,
    target: String,
    detail: String,
}

impl Row {
    fn of(e: &Entry) -> Row {
        Row {
            id: e.id,
            at: crate::domain::rfc3339(&e.at),
            actor: e.actor.clone(),
            ip: e.ip.clone(),
            action: e.action.clone(),
            target: e.target.clone(),
            detail: if e.detail == "{}" {
                String::new()
            } else {
                e.detail.clone()
            },
        }
    }
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    rows: Vec<Row>,
    actor: String,
    action: String,
    since: String,
    until: String,
    /// The query string of the next (older) page, if there is one.
    older: Option<String>,
    /// The chain check's verdict, when asked for.
    verdict: Option<(bool, String)>,
}

fn day(raw: &str, field: &str, end: bool) -> Result<Option<DateTime<Utc>>, String> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let date = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{field}: must be a date such as 2026-11-28"))?;
    let date = if end {
        date.succ_opt().unwrap_or(date)
    } else {
        date
    };
    Ok(date.and_hms_opt(0, 0, 0).map(|t| t.and_utc()))
}

pub async fn page(
    State(state): State<AppState>,
    session: StaffSession,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    session.require(Role::Admin)?;
    let mut errors = Vec::new();
    let since = day(&q.since, "From", false).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let until = day(&q.until, "To", true).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let filter = AuditFilter {
        actor: q.actor.trim().to_string(),
        action: q.action.trim().to_string(),
        since,
        until,
        before_id: q.before,
    };
    let entries = state.store.audit_entries(&filter, PAGE + 1).await?;
    let more = entries.len() as i64 > PAGE;
    let rows: Vec<Row> = entries.iter().take(PAGE as usize).map(Row::of).collect();
    let older = (more)
        .then(|| rows.last().map(|r| r.id))
        .flatten()
        .map(|id| {
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("actor", &filter.actor)
                .append_pair("action", &filter.action)
                .append_pair("since", &q.since)
                .append_pair("until", &q.until)
                .append_pair("before", &id.to_string())
                .finish()
        });
    let verdict = if q.verify.is_some() {
        Some(match state.store.verify_audit(&state.chain).await? {
            Ok(head) => (
                true,
                format!(
                    "The chain is intact: {} entries, last hash {}.",
                    head.entries, head.last_hash
                ),
            ),
            Err(broken) => (false, format!("The chain is broken: {broken}.")),
        })
    } else {
        None
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = AuditPage {
        chrome: Chrome::of(&session),
        notice: String::new(),
        errors,
        rows,
        actor: filter.actor,
        action: filter.action,
        since: q.since,
        until: q.until,
        older,
        verdict,
    };
    Ok(render(status, &page))
}
