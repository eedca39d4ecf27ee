//! The admin API (`/api/admin/v1`): what the admin pages do, for scripts and monitoring.
//! Bearer-token authentication, JSON in and out, errors as `{"errors": [...]}`.

pub mod body;
pub(crate) mod branding;
mod breach;
pub(crate) mod lists;
mod postmortems;
mod templates;

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::auth::{ApiCaller, ApiJson, ApiJsonOrEmpty};
use super::error::ApiError;
use super::AppState;
use crate::app::AppError;
use crate::domain::incident::RawUpdate;
use crate::domain::{
    self, ComponentDraft, FieldError, IncidentDraft, Invalid, MaintenanceDraft, Role,
    SubscriberEmail, UpdateDraft,
};
use crate::render::api::{component_value, incident_value, update_value};
use crate::store::Subscriber;

mod edits;
mod maintenance;
mod webhooks;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(webhooks::router())
        .merge(branding::router())
        .merge(lists::router())
        .merge(edits::router())
        .merge(postmortems::router())
        .merge(templates::router())
        .merge(maintenance::router())
        .route(
            "/api/admin/v1/components",
            get(list_components).post(create_component),
        )
        .route("/api/admin/v1/incidents", post(open_incident))
        .route("/api/admin/v1/incidents/{id}", get(show_incident))
        .route("/api/admin/v1/incidents/{id}/updates", post(post_update))
        .route("/api/admin/v1/maintenances", post(schedule_maintenance))
        .route("/api/admin/v1/subscribers", post(add_subscriber))
        .route("/api/admin/v1/updates/{id}/deliveries", get(deliveries))
        .route("/api/admin/v1/pause", post(pause))
        .route("/api/admin/v1/resume", post(resume))
        .route("/api/admin/v1/status", get(outbound_status))
        .route(
            "/api/admin/v1/breach",
            post(breach::start).delete(breach::end),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSubscriber {
    email: String,
    components: Option<Vec<String>>,
    #[serde(default)]
    confirmed: bool,
}

async fn add_subscriber(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewSubscriber>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let email = SubscriberEmail::parse_with(&body.email, state.relay.takes_international())
        .map_err(|e| ApiError::Invalid(Invalid(vec![e])))?;
    let mut ids = Vec::new();
    for raw in body.components.iter().flatten() {
        let id = raw.parse::<i64>().map_err(|_| {
            ApiError::Invalid(Invalid(vec![FieldError::new(
                "components",
                format!("\"{raw}\" is not a component id"),
            )]))
        })?;
        ids.push(id);
    }
    let chosen = body.components.is_some().then_some(ids.as_slice());
    let subscriber = state
        .add_subscriber(&caller.actor(), &email, chosen, body.confirmed)
        .await?;
    Ok((StatusCode::CREATED, Json(subscriber_json(&subscriber))).into_response())
}

pub(crate) fn subscriber_json(s: &Subscriber) -> serde_json::Value {
    serde_json::json!({
        "id": s.id.to_string(),
        "email": s.email,
        "components": if s.all_components { serde_json::Value::Null } else {
            serde_json::Value::from(s.component_ids.iter().map(i64::to_string).collect::<Vec<_>>())
        },
        "confirmed": s.confirmed_at.is_some(),
        "created_at": domain::rfc3339(&s.created_at),
    })
}

async fn deliveries(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound("update"))?;
    // An update that never existed is a 404, not empty counts that look like "nothing sent".
    state.store.incident_id_of_update(id).await?;
    // Whether the fan-out is still being written, read before the counts: a fan-out finishing
    // between the two reads would otherwise be reported done beside counts from before it.
    let expanding = state.store.fanout_pending(id).await?;
    let counts = state.store.delivery_counts(id).await?;
    let errors: Vec<serde_json::Value> = state
        .store
        .delivery_errors(id)
        .await?
        .into_iter()
        .map(|(channel, error, n)| serde_json::json!({ "channel": channel, "error": error, "deliveries": n }))
        .collect();
    let channels: serde_json::Map<String, serde_json::Value> = counts
        .into_iter()
        .map(|(channel, c)| {
            let total = c.total();
            let mut v = serde_json::to_value(c).unwrap_or_default();
            v["total"] = total.into();
            (channel, v)
        })
        .collect();
    Ok(Json(serde_json::json!({
        "update_id": id.to_string(),
        // True while the update's audience is still being written into the outbox: the
        // totals below are still growing.
        "expanding": expanding,
        "channels": channels,
        // The last error of failed or retried deliveries, as the far end gave it.
        "errors": errors,
    }))
    .into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    reason: Option<String>,
}

fn outbound_json(s: &crate::store::OutboundState) -> serde_json::Value {
    serde_json::json!({
        "paused": s.paused,
        "reason": s.reason,
        "changed_at": s.changed_at.as_ref().map(domain::rfc3339),
        "changed_by": s.changed_by,
    })
}

async fn pause(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<PauseBody>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let reason = body.reason.unwrap_or_default();
    let s = state.pause(&caller.actor(), &reason).await?;
    Ok(Json(outbound_json(&s)).into_response())
}

/// An API token never gave a two-factor code, so it cannot resume after a tripwire.
async fn resume(State(state): State<AppState>, caller: ApiCaller) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    match state.resume(&caller.actor(), false).await {
        Ok(s) => Ok(Json(outbound_json(&s)).into_response()),
        Err(AppError::NeedsFreshCode { reason }) => Err(ApiError::Forbidden(format!(
            "outbound was paused by the tripwire ({reason}); an admin must sign in to the admin pages, re-authenticate and resume there"
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn outbound_status(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let s = state.store.outbound_state().await?;
    let (pending, sending) = state.store.queue_depth().await?;
    let mut json = outbound_json(&s);
    json["queue"] = serde_json::json!({ "pending": pending, "sending": sending });
    Ok(Json(json).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewComponent {
    name: String,
    description: Option<String>,
    group: Option<String>,
    position: Option<i64>,
    /// Whether the public page shows its uptime (default true).
    show_uptime: Option<bool>,
}

async fn list_components(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let site = state.cache.site();
    let components: Vec<_> = state
        .store
        .components()
        .await?
        .iter()
        .map(|c| component_value(&site, c))
        .collect();
    Ok(Json(serde_json::json!({ "components": components })).into_response())
}

async fn create_component(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewComponent>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let mut draft = ComponentDraft::parse(
        &body.name,
        body.description.as_deref(),
        body.group.as_deref(),
        body.position,
    )?;
    draft.show_uptime = body.show_uptime.unwrap_or(true);
    let component = state.create_component(&caller.actor(), &draft).await?;
    Ok((
        StatusCode::CREATED,
        Json(component_value(&state.cache.site(), &component)),
    )
        .into_response())
}

/// The fields every update takes, at the top level of both incident and update bodies.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUpdate {
    /// Start from this template: the fields not given here are taken from it.
    template_id: Option<serde_json::Value>,
    status: Option<String>,
    body: Option<String>,
    components: Option<BTreeMap<String, String>>,
    notify: Option<bool>,
    /// With `notify`, post to X too (when an account is connected). Default true, unless
    /// `channels` names the channels.
    post_to_x: Option<bool>,
    /// With `notify`, the channels to send on by name (email, x, webhook, slack, discord,
    /// teams). Default: every subscriber channel, and X per `post_to_x`.
    channels: Option<Vec<String>>,
    /// The post's own text instead of the composed one (`tweet` is accepted too).
    #[serde(alias = "tweet")]
    custom_tweet: Option<String>,
    display_at: Option<String>,
    /// Only say what publishing would do (the tripwire's verdict, the HTML, the post on X);
    /// store, send and trip nothing.
    #[serde(default)]
    dry_run: bool,
}

impl NewUpdate {
    fn raw(&self) -> RawUpdate<'_> {
        RawUpdate {
            status: self.status.as_deref().unwrap_or_default(),
            body: self.body.as_deref().unwrap_or_default(),
            components: self
                .components
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            notify: self.notify.unwrap_or(false),
            post_to_x: self.post_to_x.unwrap_or(self.channels.is_none()),
            channels: self
                .channels
                .as_ref()
                .map(|c| c.iter().map(String::as_str).collect()),
            tweet: self.custom_tweet.as_deref(),
            display_at: self.display_at.as_deref(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewIncident {
    /// Start from this template: the fields not given here are taken from it (the name from
    /// its title).
    template_id: Option<serde_json::Value>,
    name: Option<String>,
    impact: String,
    status: Option<String>,
    body: Option<String>,
    components: Option<BTreeMap<String, String>>,
    notify: Option<bool>,
    /// With `notify`, post to X too (when an account is connected). Default true, unless
    /// `channels` names the channels.
    post_to_x: Option<bool>,
    /// With `notify`, the channels to send on by name (email, x, webhook, slack, discord,
    /// teams). Default: every subscriber channel, and X per `post_to_x`.
    channels: Option<Vec<String>>,
    /// The post's own text instead of the composed one (`tweet` is accepted too).
    #[serde(alias = "tweet")]
    custom_tweet: Option<String>,
    display_at: Option<String>,
    /// As for an update: answer with the verdict and store nothing.
    #[serde(default)]
    dry_run: bool,
}

impl NewIncident {
    fn first_update(&self) -> RawUpdate<'_> {
        RawUpdate {
            status: self.status.as_deref().unwrap_or_default(),
            body: self.body.as_deref().unwrap_or_default(),
            components: self
                .components
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            notify: self.notify.unwrap_or(false),
            post_to_x: self.post_to_x.unwrap_or(self.channels.is_none()),
            channels: self
                .channels
                .as_ref()
                .map(|c| c.iter().map(String::as_str).collect()),
            tweet: self.custom_tweet.as_deref(),
            display_at: self.display_at.as_deref(),
        }
    }
}

async fn open_incident(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewIncident>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let mut body = body;
    if let Some(t) = from_template(&state, body.template_id.as_ref()).await? {
        body.name.get_or_insert_with(|| t.title.clone());
        fill_from_template(
            &t,
            &mut body.status,
            &mut body.body,
            &mut body.components,
            &mut body.notify,
            &mut body.post_to_x,
        );
    }
    let draft = IncidentDraft::parse(
        body.name.as_deref().unwrap_or_default(),
        &body.impact,
        &body.first_update(),
        domain::now(),
    )?;
    if body.dry_run {
        return dry_run(&state, None, &draft.name, &draft.first).await;
    }
    let published = state.open_incident(&caller.actor(), &draft).await?;
    let mut json = incident_json(&state, published.incident_id).await?;
    json["update_id"] = serde_json::Value::String(published.update_id.to_string());
    Ok((StatusCode::CREATED, Json(json)).into_response())
}

async fn show_incident(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(incident_json(&state, parse_id(&id)?).await?).into_response())
}

async fn post_update(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewUpdate>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let id = parse_id(&id)?;
    let mut body = body;
    if let Some(t) = from_template(&state, body.template_id.as_ref()).await? {
        fill_from_template(
            &t,
            &mut body.status,
            &mut body.body,
            &mut body.components,
            &mut body.notify,
            &mut body.post_to_x,
        );
    }
    let draft = UpdateDraft::parse(None, &body.raw(), domain::now())?;
    if body.dry_run {
        let name = state.store.incident(id).await?.name;
        return dry_run(&state, Some(id), &name, &draft).await;
    }
    let published = state.post_update(&caller.actor(), id, &draft).await?;
    let incident = state.store.incident(id).await?;
    let update = incident
        .updates
        .iter()
        .find(|u| u.id == published.update_id)
        .ok_or(ApiError::NotFound("update"))?;
    Ok((StatusCode::CREATED, Json(update_value(&incident, update))).into_response())
}

/// What publishing `draft` would do, without doing it: `200` with whether the tripwire would
/// trip and why, the body's HTML as customers would see it, and the post on X.
async fn dry_run(
    state: &AppState,
    incident: Option<i64>,
    name: &str,
    draft: &UpdateDraft,
) -> Result<Response, ApiError> {
    let trips = state.assess_update(incident, name, draft).await?;
    let reasons: Vec<serde_json::Value> = trips
        .iter()
        .map(|t| json!({ "rule": t.rule.as_str(), "title": t.rule.title(), "detail": t.detail }))
        .collect();
    let tweet = draft.post_to_x().then(|| {
        state.post_on_x(
            incident,
            domain::Choice::label(draft.status),
            name,
            &draft.body,
            draft.custom_tweet.as_deref(),
        )
    });
    Ok(Json(json!({
        "dry_run": true,
        "would_trip": !trips.is_empty(),
        "reasons": reasons,
        "notify": draft.notify,
        "channels": draft.channels,
        "name": name,
        "body_html": crate::domain::markdown::to_safe_html(&draft.body, &state.config.public_url()),
        "tweet": tweet,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMaintenance {
    name: String,
    body: String,
    scheduled_for: String,
    scheduled_until: String,
    /// Statuspage-style `{id: status}`; the status given is what the component shows while the
    /// window is in progress (under_maintenance is the usual choice).
    #[serde(default)]
    components: BTreeMap<String, String>,
    #[serde(default)]
    notify: bool,
    /// Reminder, notices at start and end, automatic moves (Statuspage's names): see
    /// `maintenance::OptionsBody`.
    scheduled_remind_prior: Option<serde_json::Value>,
    auto_transition_deliver_notifications_at_start: Option<bool>,
    auto_transition_deliver_notifications_at_end: Option<bool>,
    scheduled_auto_in_progress: Option<bool>,
    scheduled_auto_completed: Option<bool>,
}

async fn schedule_maintenance(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewMaintenance>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let ids: Vec<&str> = body.components.keys().map(String::as_str).collect();
    let options = maintenance::OptionsBody {
        scheduled_remind_prior: body.scheduled_remind_prior,
        auto_transition_deliver_notifications_at_start: body
            .auto_transition_deliver_notifications_at_start,
        auto_transition_deliver_notifications_at_end: body
            .auto_transition_deliver_notifications_at_end,
        scheduled_auto_in_progress: body.scheduled_auto_in_progress,
        scheduled_auto_completed: body.scheduled_auto_completed,
    }
    .options(body.notify);
    let mut draft = MaintenanceDraft::parse(
        &body.name,
        &body.body,
        &body.scheduled_for,
        &body.scheduled_until,
        &ids,
        body.notify,
        domain::now(),
    );
    match (&mut draft, options) {
        (Ok(draft), Ok(options)) => draft.options = options,
        (Err(Invalid(all)), Err(Invalid(more))) => all.extend(more),
        (Ok(_), Err(e)) => return Err(e.into()),
        (Err(_), Ok(_)) => {}
    }
    let draft = draft?;
    let published = state.schedule_maintenance(&caller.actor(), &draft).await?;
    let mut json = maintenance::maintenance_json(&state, published.incident_id).await?;
    json["update_id"] = serde_json::Value::String(published.update_id.to_string());
    Ok((StatusCode::CREATED, Json(json)).into_response())
}

async fn incident_json(state: &AppState, id: i64) -> Result<serde_json::Value, ApiError> {
    let incident = state.store.incident(id).await?;
    let components = state.store.components().await?;
    Ok(incident_value(&state.cache.site(), &components, &incident))
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound("incident"))
}

/// The template a new incident or update names, if any; an unknown one is a 422 naming
/// `template_id`.
async fn from_template(
    state: &AppState,
    id: Option<&serde_json::Value>,
) -> Result<Option<domain::Template>, ApiError> {
    let Some(raw) = id.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let raw = match raw {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let unknown = || {
        ApiError::Invalid(Invalid(vec![FieldError::new(
            "template_id",
            format!("there is no template {raw}"),
        )]))
    };
    let id: i64 = raw.trim().parse().map_err(|_| unknown())?;
    match state.store.template(id).await {
        Ok(t) => Ok(Some(t)),
        Err(crate::store::StoreError::NotFound(_)) => Err(unknown()),
        Err(e) => Err(e.into()),
    }
}

/// Fills the update fields a body left out from template `t`: status, body, the component
/// statuses it sets, notify (`should_send_notifications`) and X (`should_tweet`).
fn fill_from_template(
    t: &domain::Template,
    status: &mut Option<String>,
    body: &mut Option<String>,
    components: &mut Option<BTreeMap<String, String>>,
    notify: &mut Option<bool>,
    post_to_x: &mut Option<bool>,
) {
    status.get_or_insert_with(|| domain::Choice::as_str(t.update_status).to_string());
    body.get_or_insert_with(|| t.body.clone());
    components.get_or_insert_with(|| t.component_changes().into_iter().collect());
    notify.get_or_insert(t.should_send_notifications);
    post_to_x.get_or_insert(t.should_tweet);
}
