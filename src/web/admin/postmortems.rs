//! The postmortem page of an incident: write the draft, preview it as customers will see it,
//! publish it (optionally notifying), take it back to a draft, delete it. One form; the button
//! pressed (`action`) says which.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::{notice, render, Chrome, Id, NoticeQuery};
use crate::app::postmortems::PublishPostmortem;
use crate::app::AppError;
use crate::domain::markdown::to_safe_html;
use crate::domain::{self, Incident, IncidentKind, Role};
use crate::render::views::TimeView;
use crate::store::StoreError;
use crate::web::auth::{AdminForm, Fields, StaffSession};
use crate::web::error::PageError;
use crate::web::AppState;

#[derive(Template)]
#[template(path = "admin/postmortem.html")]
struct PostmortemPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    csrf: String,
    incident_id: i64,
    name: String,
    /// The incident is resolved (or already has a published postmortem): it may be published.
    closed: bool,
    status_label: &'static str,
    /// `none`, `draft` or `published`.
    state: &'static str,
    updated: Option<TimeView>,
    published: Option<TimeView>,
    body: String,
    /// The text as customers will see it, after "Preview".
    preview: Option<String>,
    can_post: bool,
    notify: bool,
    /// The subscriber channels to notify on: (name, label, checked).
    channels: Vec<(&'static str, &'static str, bool)>,
    post_to_x: bool,
}

fn page(
    session: &StaffSession,
    incident: &Incident,
    fields: Option<&Fields>,
    notice: String,
    errors: Vec<String>,
) -> PostmortemPage {
    let pm = incident.postmortem.as_ref();
    PostmortemPage {
        chrome: Chrome::of(session),
        notice,
        errors,
        csrf: session.info.csrf_token.clone(),
        incident_id: incident.id,
        name: incident.name.clone(),
        closed: !incident.is_open(),
        status_label: incident.status_label(),
        state: match pm {
            None => "none",
            Some(p) if p.is_published() => "published",
            Some(_) => "draft",
        },
        updated: pm.map(|p| TimeView::new(&p.updated_at)),
        published: pm.and_then(|p| p.published_at.as_ref().map(TimeView::new)),
        body: match fields {
            Some(f) => f.get("body").to_string(),
            None => pm.map(|p| p.body.clone()).unwrap_or_default(),
        },
        preview: None,
        can_post: session.info.staff.role.allows(Role::Responder),
        // Publishing tells nobody unless asked.
        notify: fields.is_some_and(|f| f.has("notify")),
        channels: crate::channels::REGISTRY
            .iter()
            .filter(|c| c.audience != crate::channels::Audience::Account)
            .map(|c| {
                let checked = fields
                    .is_none_or(|f| !f.has("channels_shown") || f.all("channel").contains(&c.name));
                (c.name, c.label, checked)
            })
            .collect(),
        post_to_x: fields.is_some_and(|f| f.has("post_to_x")),
    }
}

async fn incident(state: &AppState, id: i64) -> Result<Incident, PageError> {
    let incident = state.store.incident(id).await?;
    if incident.kind == IncidentKind::Maintenance {
        return Err(PageError::NotFound("postmortem"));
    }
    Ok(incident)
}

pub async fn show(
    State(state): State<AppState>,
    session: StaffSession,
    Id(id): Id,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let incident = incident(&state, id).await?;
    let page = page(
        &session,
        &incident,
        None,
        notice(q.notice.as_deref()),
        vec![],
    );
    Ok(render(StatusCode::OK, &page))
}

/// An act the store refused as invalid is shown again with its messages.
fn messages(e: AppError) -> Result<Vec<String>, PageError> {
    match e {
        AppError::Store(StoreError::Invalid(invalid)) => {
            Ok(invalid.0.iter().map(ToString::to_string).collect())
        }
        AppError::Store(StoreError::NotFound("postmortem")) => Ok(vec![
            "There is no postmortem yet: save a draft first.".into(),
        ]),
        other => Err(other.into()),
    }
}

pub async fn act(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    let fields = &form.fields;
    let actor = form.session.actor();
    let current = incident(&state, id).await?;
    let done = |code: &str| {
        Ok(
            Redirect::to(&format!("/admin/incidents/{id}/postmortem?notice={code}"))
                .into_response(),
        )
    };
    let errors = match fields.get("action") {
        "preview" => Vec::new(),
        "revert" => match state.revert_postmortem(&actor, id).await {
            Ok(_) => return done("reverted"),
            Err(e) => messages(e)?,
        },
        "delete" => match state.delete_postmortem(&actor, id).await {
            Ok(()) => return done("deleted"),
            Err(e) => messages(e)?,
        },
        "publish" => {
            let channels = domain::resolve_channels(
                fields.has("notify"),
                Some(&fields.all("channel")),
                fields.has("post_to_x"),
            );
            match channels {
                Err(e) => vec![e.to_string()],
                // Refused before the text is saved, so an open incident's draft is unchanged.
                Ok(_) if current.is_open() => vec![format!(
                    "status: the incident is still open ({}): resolve it before publishing its postmortem",
                    current.status_label().to_lowercase()
                )],
                Ok(channels) => {
                    let saved = current
                        .postmortem
                        .as_ref()
                        .is_some_and(|p| p.body == fields.get("body").trim());
                    let how = PublishPostmortem {
                        notify: fields.has("notify"),
                        channels,
                        custom_tweet: None,
                    };
                    let result = if saved {
                        Ok(())
                    } else {
                        state
                            .save_postmortem_draft(&actor, id, fields.get("body"))
                            .await
                            .map(|_| ())
                    };
                    match result {
                        Ok(()) => match state.publish_postmortem(&actor, id, &how).await {
                            Ok(_) => return done("published"),
                            Err(e) => messages(e)?,
                        },
                        Err(e) => messages(e)?,
                    }
                }
            }
        }
        _ => match state
            .save_postmortem_draft(&actor, id, fields.get("body"))
            .await
        {
            Ok(_) => return done("saved"),
            Err(e) => messages(e)?,
        },
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let incident = incident(&state, id).await?;
    let mut page = page(
        &form.session,
        &incident,
        Some(fields),
        String::new(),
        errors,
    );
    page.preview = Some(to_safe_html(fields.get("body"), &state.config.public_url()));
    Ok(render(status, &page))
}
