//! The dashboard, incidents and their updates, and scheduled maintenance.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::Id;
use super::{notice, options, render, Chrome, NoticeQuery, Opt};
use crate::app::AppError;
use crate::domain::incident::RawUpdate;
use crate::domain::markdown::to_safe_html;
use crate::domain::{
    self, Choice, Component, ComponentStatus, Impact, Incident, IncidentDraft, IncidentKind,
    IncidentStatus, Indicator, MaintenanceDraft, Role, UpdateDraft,
};
use crate::render::views::TimeView;
use crate::store::StoreError;
use crate::web::auth::{AdminForm, Fields, StaffSession};
use crate::web::error::PageError;
use crate::web::AppState;

struct Summary {
    id: i64,
    name: String,
    tampered: bool,
    kind_label: &'static str,
    status_label: &'static str,
    updated: TimeView,
}

fn summary(i: &Incident) -> Summary {
    Summary {
        id: i.id,
        name: i.name.clone(),
        tampered: i.tampered || i.updates.iter().any(|u| u.tampered),
        kind_label: i.kind.label(),
        status_label: i.status.label(),
        updated: TimeView::new(&i.updated_at),
    }
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    indicator: &'static str,
    indicator_text: &'static str,
    open: Vec<Summary>,
    recent: Vec<Summary>,
    csrf: String,
    outbound: crate::store::OutboundState,
    changed_at: Option<TimeView>,
    pending: i64,
    sending: i64,
    can_resume: bool,
    can_pause: bool,
}

pub async fn dashboard(
    State(state): State<AppState>,
    session: StaffSession,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let components = state.store.components().await?;
    let incidents = state.store.incidents().await?;
    let indicator = Indicator::overall(&components, &incidents);
    let outbound = state.store.outbound_state().await?;
    let (pending, sending) = state.store.queue_depth().await?;
    let page = DashboardPage {
        chrome: Chrome::of(&session),
        notice: notice(q.notice.as_deref()),
        errors: vec![],
        indicator: indicator.as_str(),
        indicator_text: indicator.description(),
        open: incidents
            .iter()
            .filter(|i| i.is_open())
            .map(summary)
            .collect(),
        recent: incidents
            .iter()
            .filter(|i| !i.is_open())
            .take(20)
            .map(summary)
            .collect(),
        csrf: session.info.csrf_token.clone(),
        changed_at: outbound.changed_at.as_ref().map(TimeView::new),
        outbound,
        pending,
        sending,
        can_resume: session.info.staff.role.allows(Role::Admin),
        can_pause: session.info.staff.role.allows(Role::Responder),
    };
    Ok(render(StatusCode::OK, &page))
}

/// A component's select in the update form.
struct ComponentChoice {
    id: i64,
    name: String,
    current: &'static str,
    options: Vec<Opt>,
}

/// The fields shared by every update form, as typed (re-shown when something is wrong).
struct UpdateForm {
    statuses: Vec<Opt>,
    body: String,
    preview: Option<String>,
    components: Vec<ComponentChoice>,
    display_at: String,
    notify: bool,
    /// The subscriber channels to notify on: (name, label, checked).
    channels: Vec<(&'static str, &'static str, bool)>,
    post_to_x: bool,
    custom_tweet: String,
    /// The post as X would get it, with its weighted length, after "Preview".
    tweet_preview: Option<TweetPreview>,
    /// Whether publishing would trip the tripwire, and why, after "Preview".
    tripwire: Option<TripwireCheck>,
    /// The templates the form may start from ("Start from template").
    templates: Vec<super::templates::TemplateChoice>,
}

/// The tripwire's verdict on a draft, shown before it is published so a responder can fix a
/// link instead of discovering a pause.
pub struct TripwireCheck {
    notify: bool,
    reasons: Vec<(&'static str, String)>,
}

impl TripwireCheck {
    async fn of(
        state: &AppState,
        incident: Option<i64>,
        name: &str,
        draft: &UpdateDraft,
    ) -> Result<TripwireCheck, PageError> {
        let trips = state.assess_update(incident, name, draft).await?;
        Ok(TripwireCheck {
            notify: draft.notify,
            reasons: trips
                .into_iter()
                .map(|t| (t.rule.title(), t.detail))
                .collect(),
        })
    }
}

pub struct TweetPreview {
    text: String,
    weighted_length: usize,
    valid: bool,
}

impl TweetPreview {
    fn new(state: &AppState, incident: Option<(i64, &str)>, fields: &Fields) -> TweetPreview {
        let status = IncidentStatus::parse("status", fields.get("status"))
            .map(|s| s.label())
            .unwrap_or("Update");
        let (id, name) = incident.unwrap_or((0, fields.get("name")));
        let text = crate::notify::compose::compose_tweet(
            &format!("{}/incidents/{id}", state.config.public_url()),
            status,
            name,
            fields.get("body"),
            Some(fields.get("custom_tweet")),
        );
        let length = domain::tweet::parse_tweet(&text);
        TweetPreview {
            text,
            weighted_length: length.weighted_length,
            valid: length.valid,
        }
    }
}

impl UpdateForm {
    fn new(statuses: &[IncidentStatus], components: &[Component], fields: &Fields) -> UpdateForm {
        let status = fields.get("status");
        UpdateForm {
            statuses: options(
                statuses,
                if status.is_empty() {
                    statuses[0].as_str()
                } else {
                    status
                },
            ),
            body: fields.get("body").to_string(),
            preview: None,
            components: components
                .iter()
                .map(|c| ComponentChoice {
                    id: c.id,
                    name: c.name.clone(),
                    current: c.status.label(),
                    options: options(
                        &[
                            ComponentStatus::Operational,
                            ComponentStatus::DegradedPerformance,
                            ComponentStatus::PartialOutage,
                            ComponentStatus::MajorOutage,
                            ComponentStatus::UnderMaintenance,
                        ],
                        fields.get(&format!("component_{}", c.id)),
                    ),
                })
                .collect(),
            display_at: fields.get("display_at").to_string(),
            // A new form notifies by default; a re-shown one keeps the choice.
            notify: fields.has("notify") || !fields.has("csrf"),
            channels: crate::channels::REGISTRY
                .iter()
                .filter(|c| c.audience != crate::channels::Audience::Account)
                .map(|c| {
                    let checked =
                        !fields.has("channels_shown") || fields.all("channel").contains(&c.name);
                    (c.name, c.label, checked)
                })
                .collect(),
            post_to_x: fields.has("post_to_x") || !fields.has("csrf"),
            custom_tweet: fields.get("custom_tweet").to_string(),
            tweet_preview: None,
            tripwire: None,
            templates: Vec::new(),
        }
    }

    fn raw(fields: &Fields) -> RawUpdate<'_> {
        RawUpdate {
            status: fields.get("status"),
            body: fields.get("body"),
            components: fields.with_prefix("component_").collect(),
            notify: fields.has("notify"),
            post_to_x: fields.has("post_to_x"),
            // Forms from before the channel boxes (or scripts posting the form) send on every
            // subscriber channel, as before.
            channels: fields.has("channels_shown").then(|| fields.all("channel")),
            tweet: Some(fields.get("custom_tweet")),
            display_at: Some(fields.get("display_at")),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/incident_new.html")]
struct NewIncidentPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    csrf: String,
    name: String,
    impacts: Vec<Opt>,
    form: UpdateForm,
    submit_label: &'static str,
}

async fn new_incident_form(
    state: &AppState,
    session: &StaffSession,
    fields: &Fields,
    errors: Vec<String>,
) -> Result<NewIncidentPage, PageError> {
    let components = state.store.components().await?;
    let impact = fields.get("impact");
    Ok(NewIncidentPage {
        chrome: Chrome::of(session),
        notice: String::new(),
        errors,
        csrf: session.info.csrf_token.clone(),
        name: fields.get("name").to_string(),
        impacts: options(
            &Impact::FOR_INCIDENTS,
            if impact.is_empty() { "minor" } else { impact },
        ),
        form: UpdateForm {
            templates: super::templates::choices(state, fields.get("template")).await?,
            ..UpdateForm::new(&IncidentStatus::FOR_INCIDENTS, &components, fields)
        },
        submit_label: "Publish",
    })
}

pub async fn new_incident_page(
    State(state): State<AppState>,
    session: StaffSession,
    Query(pick): Query<super::templates::PickTemplate>,
) -> Result<Response, PageError> {
    session.require(Role::Responder)?;
    let (fields, errors) = super::templates::prefill(&state, pick.template.as_deref()).await?;
    let page = new_incident_form(&state, &session, &fields, errors).await?;
    Ok(render(StatusCode::OK, &page))
}

/// A draft the store refused as invalid is shown again with its messages.
fn messages(e: AppError) -> Result<Vec<String>, PageError> {
    match e {
        AppError::Store(StoreError::Invalid(invalid)) => {
            Ok(invalid.0.iter().map(ToString::to_string).collect())
        }
        other => Err(other.into()),
    }
}

pub async fn open_incident(
    State(state): State<AppState>,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    let fields = &form.fields;
    let parsed = IncidentDraft::parse(
        fields.get("name"),
        fields.get("impact"),
        &UpdateForm::raw(fields),
        domain::now(),
    );
    let mut tripwire = None;
    let errors = match parsed {
        Ok(draft) if fields.get("action") == "preview" => {
            tripwire = Some(TripwireCheck::of(&state, None, &draft.name, &draft.first).await?);
            vec![]
        }
        Ok(draft) => match state.open_incident(&form.session.actor(), &draft).await {
            Ok(published) => {
                let to = format!(
                    "/admin/incidents/{}?notice=published",
                    published.incident_id
                );
                return Ok(Redirect::to(&to).into_response());
            }
            Err(e) => messages(e)?,
        },
        Err(invalid) => invalid.0.iter().map(ToString::to_string).collect(),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut page = new_incident_form(&state, &form.session, fields, errors).await?;
    page.form.preview = Some(to_safe_html(fields.get("body"), &state.config.public_url()));
    page.form.tweet_preview = Some(TweetPreview::new(&state, None, fields));
    page.form.tripwire = tripwire;
    Ok(render(status, &page))
}

#[derive(Template)]
#[template(path = "admin/incident.html")]
struct IncidentPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    csrf: String,
    incident: crate::render::views::IncidentView,
    can_post: bool,
    form: UpdateForm,
    submit_label: &'static str,
    /// Delivery progress per update id.
    progress: Vec<(i64, Vec<super::outbound::ChannelProgress>)>,
}

async fn incident_form(
    state: &AppState,
    session: &StaffSession,
    id: i64,
    fields: &Fields,
    notice: String,
    errors: Vec<String>,
) -> Result<IncidentPage, PageError> {
    let incident = state.store.incident(id).await?;
    let components = state.store.components().await?;
    let statuses: &[IncidentStatus] = match incident.kind {
        IncidentKind::Incident => &IncidentStatus::FOR_INCIDENTS,
        IncidentKind::Maintenance => &IncidentStatus::FOR_MAINTENANCES,
    };
    let mut defaults = fields.clone();
    if !fields.has("status") {
        defaults
            .0
            .push(("status".into(), incident.status.as_str().into()));
    }
    let names = components.iter().map(|c| (c.id, c.name.as_str())).collect();
    let view = crate::render::views::incident_view(&state.cache.site(), &incident, &names);
    let mut progress = Vec::new();
    for u in &incident.updates {
        progress.push((u.id, super::outbound::progress(state, u.id).await?));
    }
    Ok(IncidentPage {
        chrome: Chrome::of(session),
        notice,
        errors,
        csrf: session.info.csrf_token.clone(),
        can_post: session.info.staff.role.allows(Role::Responder),
        form: UpdateForm {
            templates: super::templates::choices(state, fields.get("template")).await?,
            ..UpdateForm::new(statuses, &components, &defaults)
        },
        incident: view,
        submit_label: "Post update",
        progress,
    })
}

pub async fn incident_page(
    State(state): State<AppState>,
    session: StaffSession,
    Id(id): Id,
    Query(q): Query<NoticeQuery>,
    Query(pick): Query<super::templates::PickTemplate>,
) -> Result<Response, PageError> {
    let (fields, errors) = super::templates::prefill(&state, pick.template.as_deref()).await?;
    let page = incident_form(
        &state,
        &session,
        id,
        &fields,
        notice(q.notice.as_deref()),
        errors,
    )
    .await?;
    Ok(render(StatusCode::OK, &page))
}

pub async fn post_update(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    let fields = &form.fields;
    let mut tripwire = None;
    let errors = match UpdateDraft::parse(None, &UpdateForm::raw(fields), domain::now()) {
        Ok(draft) if fields.get("action") == "preview" => {
            let name = state.store.incident(id).await?.name;
            tripwire = Some(TripwireCheck::of(&state, Some(id), &name, &draft).await?);
            vec![]
        }
        Ok(draft) => match state.post_update(&form.session.actor(), id, &draft).await {
            Ok(_) => {
                return Ok(
                    Redirect::to(&format!("/admin/incidents/{id}?notice=published"))
                        .into_response(),
                );
            }
            Err(e) => messages(e)?,
        },
        Err(invalid) => invalid.0.iter().map(ToString::to_string).collect(),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut page = incident_form(&state, &form.session, id, fields, String::new(), errors).await?;
    page.form.preview = Some(to_safe_html(fields.get("body"), &state.config.public_url()));
    page.form.tripwire = tripwire;
    let incident = state.store.incident(id).await?;
    page.form.tweet_preview = Some(TweetPreview::new(
        &state,
        Some((id, &incident.name)),
        fields,
    ));
    Ok(render(status, &page))
}

struct MaintenanceComponent {
    id: i64,
    name: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "admin/maintenance_new.html")]
struct NewMaintenancePage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    csrf: String,
    name: String,
    body: String,
    scheduled_for: String,
    scheduled_until: String,
    components: Vec<MaintenanceComponent>,
    notify: bool,
    remind_prior: String,
    default_remind: i64,
    notify_at_start: bool,
    notify_at_end: bool,
    auto_start: bool,
    auto_end: bool,
}

async fn maintenance_form(
    state: &AppState,
    session: &StaffSession,
    fields: &Fields,
    errors: Vec<String>,
) -> Result<NewMaintenancePage, PageError> {
    let components = state.store.components().await?;
    let checked = fields.all("components");
    Ok(NewMaintenancePage {
        chrome: Chrome::of(session),
        notice: String::new(),
        errors,
        csrf: session.info.csrf_token.clone(),
        name: fields.get("name").to_string(),
        body: fields.get("body").to_string(),
        scheduled_for: fields.get("scheduled_for").to_string(),
        scheduled_until: fields.get("scheduled_until").to_string(),
        components: components
            .iter()
            .map(|c| MaintenanceComponent {
                id: c.id,
                name: c.name.clone(),
                checked: checked.contains(&c.id.to_string().as_str()),
            })
            .collect(),
        notify: fields.has("notify") || !fields.has("csrf"),
        remind_prior: fields.get("remind_prior").to_string(),
        default_remind: state.config.remind_prior_minutes,
        notify_at_start: fields.has("notify_at_start") || !fields.has("csrf"),
        notify_at_end: fields.has("notify_at_end") || !fields.has("csrf"),
        auto_start: fields.has("auto_start") || !fields.has("csrf"),
        auto_end: fields.has("auto_end") || !fields.has("csrf"),
    })
}

pub async fn new_maintenance_page(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<Response, PageError> {
    session.require(Role::Responder)?;
    let page = maintenance_form(&state, &session, &Fields::default(), vec![]).await?;
    Ok(render(StatusCode::OK, &page))
}

pub async fn schedule_maintenance(
    State(state): State<AppState>,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    let f = &form.fields;
    let parsed = MaintenanceDraft::parse(
        f.get("name"),
        f.get("body"),
        f.get("scheduled_for"),
        f.get("scheduled_until"),
        &f.all("components"),
        f.has("notify"),
        domain::now(),
    );
    let remind_prior = domain::RemindPrior::from_form("remind_prior", f.get("remind_prior"));
    let parsed = match (parsed, remind_prior) {
        (Ok(mut draft), Ok(remind_prior)) => {
            draft.options = domain::MaintenanceOptions {
                remind_prior,
                notify_at_start: f.has("notify_at_start"),
                notify_at_end: f.has("notify_at_end"),
                auto_start: f.has("auto_start"),
                auto_end: f.has("auto_end"),
            };
            Ok(draft)
        }
        (Ok(_), Err(e)) => Err(domain::Invalid(vec![e])),
        (Err(mut invalid), remind) => {
            invalid.0.extend(remind.err());
            Err(invalid)
        }
    };
    let errors = match parsed {
        Ok(draft) => match state
            .schedule_maintenance(&form.session.actor(), &draft)
            .await
        {
            Ok(published) => {
                let to = format!(
                    "/admin/incidents/{}?notice=published",
                    published.incident_id
                );
                return Ok(Redirect::to(&to).into_response());
            }
            Err(e) => messages(e)?,
        },
        Err(invalid) => invalid.0.iter().map(ToString::to_string).collect(),
    };
    let page = maintenance_form(&state, &form.session, f, errors).await?;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}
