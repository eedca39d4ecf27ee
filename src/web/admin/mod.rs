//! The admin pages. Every page needs a staff session; every form passes the CSRF check in
//! `AdminForm`; posting needs the responder role.

mod audit;
mod branding;
mod breach;
mod components;
mod edits;
mod incidents;
mod maintenance;
mod outbound;
mod postmortems;
mod session;
mod staff;
mod subscribers;
mod templates;
mod webhooks;
pub mod x;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::auth::StaffSession;
use super::AppState;
use crate::domain::Choice;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(incidents::dashboard))
        .route(
            "/admin/login",
            get(session::login_page).post(session::login),
        )
        .route("/admin/logout", post(session::logout))
        .route(
            "/admin/2fa",
            get(session::two_factor_setup).post(session::two_factor_confirm),
        )
        .route(
            "/admin/reauth",
            get(session::reauth_page).post(session::reauth),
        )
        .route("/admin/account", get(session::account))
        .route(
            "/admin/account/sign-out-everywhere",
            post(session::sign_out_everywhere),
        )
        .route(
            "/admin/account/recovery-codes",
            post(session::new_recovery_codes),
        )
        .route("/admin/staff", get(staff::list).post(staff::add))
        .route("/admin/staff/{id}/role", post(staff::change_role))
        .route("/admin/staff/{id}/disable", post(staff::disable))
        .route("/admin/staff/{id}/reset-2fa", post(staff::reset_two_factor))
        .route("/admin/staff/{id}/sign-out", post(staff::end_sessions))
        .route(
            "/admin/tokens",
            get(staff::tokens).post(staff::create_token),
        )
        .route("/admin/tokens/{id}/revoke", post(staff::revoke_token))
        .route("/admin/audit", get(audit::page))
        .route(
            "/admin/branding",
            get(branding::show)
                .post(branding::save)
                .layer(axum::extract::DefaultBodyLimit::max(branding::BODY_MAX)),
        )
        .route("/admin/webhooks", get(webhooks::page).post(webhooks::add))
        .route("/admin/webhooks/{id}/test", post(webhooks::test))
        .route("/admin/webhooks/{id}/remove", post(webhooks::remove))
        .route(
            "/admin/enrol/{secret}",
            get(session::enrol_page).post(session::enrol),
        )
        .route(
            "/admin/components",
            get(components::list).post(components::create),
        )
        .route(
            "/admin/components/{id}",
            get(components::edit).post(components::update),
        )
        .route("/admin/components/{id}/delete", post(components::delete))
        .route(
            "/admin/components/{id}/status",
            post(components::set_status),
        )
        .route(
            "/admin/incidents/{id}/edit",
            get(edits::edit_incident_page).post(edits::edit_incident),
        )
        .route("/admin/incidents/{id}/delete", post(edits::delete_incident))
        .route(
            "/admin/updates/{id}/edit",
            get(edits::edit_update_page).post(edits::edit_update),
        )
        .route("/admin/updates/{id}/delete", post(edits::delete_update))
        .route("/admin/incidents/new", get(incidents::new_incident_page))
        .route("/admin/incidents", post(incidents::open_incident))
        .route("/admin/incidents/{id}", get(incidents::incident_page))
        .route(
            "/admin/incidents/{id}/updates",
            post(incidents::post_update),
        )
        .route(
            "/admin/incidents/{id}/postmortem",
            get(postmortems::show).post(postmortems::act),
        )
        .route(
            "/admin/templates",
            get(templates::list).post(templates::create),
        )
        .route(
            "/admin/templates/{id}",
            get(templates::edit).post(templates::update),
        )
        .route("/admin/templates/{id}/delete", post(templates::delete))
        .route(
            "/admin/maintenances/new",
            get(incidents::new_maintenance_page),
        )
        .route("/admin/maintenances", post(incidents::schedule_maintenance))
        .route(
            "/admin/maintenances/{id}/reschedule",
            post(maintenance::reschedule),
        )
        .route("/admin/maintenances/{id}/cancel", post(maintenance::cancel))
        .route("/admin/pause", post(outbound::pause))
        .route("/admin/breach", get(breach::show))
        .route("/admin/breach/preview", post(breach::preview))
        .route("/admin/breach/start", post(breach::start))
        .route("/admin/breach/end", post(breach::end))
        .route("/admin/resume", post(outbound::resume))
        .route(
            "/admin/updates/{id}/deliveries.json",
            get(outbound::deliveries),
        )
        .route("/admin/updates/{id}/retry", post(outbound::retry_dead))
        .route(
            "/admin/subscribers",
            get(subscribers::list).post(subscribers::add),
        )
        .route("/admin/subscribers/import", post(subscribers::import))
        .route("/admin/subscribers/export.csv", get(subscribers::export))
        .route("/admin/subscribers/{id}/delete", post(subscribers::remove))
        .route("/admin/x", get(x::page))
        .route("/admin/x/connect", post(x::connect))
        .route("/admin/x/callback", get(x::callback))
        .route("/admin/x/finish", get(x::finish))
        .route("/admin/x/disconnect", post(x::disconnect))
        .route("/admin/tweet-length", post(x::tweet_length))
}

/// The signed-in frame of every admin page.
pub struct Chrome {
    pub email: String,
    pub role: &'static str,
    pub csrf: String,
    pub paused: bool,
    /// Why the tripwire paused outbound, for the red banner.
    pub tripped: Option<String>,
    pub is_admin: bool,
}

impl Chrome {
    pub fn of(session: &StaffSession) -> Option<Chrome> {
        Some(Chrome {
            email: session.info.staff.email.clone(),
            role: session.info.staff.role.as_str(),
            csrf: session.info.csrf_token.clone(),
            paused: session.outbound_paused,
            tripped: session.tripped.clone(),
            is_admin: session.info.staff.role.allows(crate::domain::Role::Admin),
        })
    }
}

/// A numeric id from the path. Anything else names a page that does not exist: 404, like an
/// unknown id, rather than a 400 about parsing.
pub struct Id(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Id {
    type Rejection = super::error::PageError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| super::error::PageError::NotFound("page"))?;
        raw.parse()
            .map(Id)
            .map_err(|_| super::error::PageError::NotFound("page"))
    }
}

/// One `<option>` of a select.
pub struct Opt {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

pub fn options<T: Choice>(values: &[T], selected: &str) -> Vec<Opt> {
    values
        .iter()
        .map(|v| Opt {
            value: v.as_str(),
            label: v.label(),
            selected: v.as_str() == selected,
        })
        .collect()
}

/// Fixed confirmation messages, chosen by `?notice=`; user input is never echoed.
pub fn notice(code: Option<&str>) -> String {
    match code {
        Some("enrolled") => "Your password is set. Sign in to continue.",
        Some("signed_out") => "You are signed out.",
        Some("signed_out_everywhere") => "Every session of this account has ended. Sign in again.",
        Some("revoked") => "Token revoked. Anything using it gets 401 from now on.",
        Some("published") => "Published. The status page shows it now.",
        Some("saved") => "Saved.",
        Some("deleted") => "Deleted.",
        Some("paused") => "Outbound sending is paused. Nothing more goes out until it is resumed.",
        Some("resumed") => "Outbound sending resumed; queued deliveries are going out.",
        Some("retried") => "Dead deliveries are queued again.",
        Some("imported") => "Import finished.",
        Some("reverted") => "The postmortem is a draft again: the public no longer sees it.",
        _ => "",
    }
    .to_string()
}

#[derive(serde::Deserialize)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/message.html")]
struct MessagePage<'a> {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    heading: &'a str,
    message: &'a str,
}

/// An error page in the admin's look.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let heading = status.canonical_reason().unwrap_or("Error");
    let page = MessagePage {
        chrome: None,
        notice: String::new(),
        errors: Vec::new(),
        heading,
        message,
    };
    render(status, &page)
}

/// Renders a template, or logs and answers 500 if that fails.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering an admin page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong").into_response()
        }
    }
}
