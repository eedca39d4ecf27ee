//! Email subscriptions: sign up (double opt-in), confirm, choose components, unsubscribe
//! (a page with a button, and RFC 8058 one-click POST). Links carry a signed token; nothing
//! here reads a cookie.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::auth::{Client, Fields};
use super::error::PageError;
use super::AppState;
use crate::domain::SubscriberEmail;
use crate::notify::compose::purpose;
use crate::render::Site;
use crate::store::SignUp;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/subscribe", post(sign_up))
        .route("/subscribe/webhook", post(sign_up_hook))
        .route(
            "/webhooks/unsubscribe/{token}",
            get(hook_unsubscribe_page).post(hook_unsubscribe),
        )
        .route(
            "/subscribe/confirm/{token}",
            get(confirm_page).post(confirm),
        )
        .route("/subscribe/manage/{token}", get(manage_page).post(manage))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
}

#[derive(Template)]
#[template(path = "public/message.html")]
struct MessagePage<'a> {
    site: &'a Site,
    heading: &'a str,
    message: &'a str,
    button_action: Option<String>,
    button_label: &'a str,
    /// The button sends RFC 8058's `List-Unsubscribe=One-Click`.
    one_click: bool,
}

fn page(state: &AppState, status: StatusCode, heading: &str, message: &str) -> Response {
    let site = state.cache.site();
    let page = MessagePage {
        site: &site,
        heading,
        message,
        button_action: None,
        button_label: "",
        one_click: false,
    };
    html(status, &page)
}

fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => {
            let mut response = (status, Html(body)).into_response();
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                ),
            );
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            // The token in the URL must not leak to other sites.
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            response
        }
        Err(e) => PageError::Internal(e.into()).into_response(),
    }
}

/// A browser posting from another site sends its Origin; refuse it (sign-ups are not CSRF
/// tokens' business, since the page is cached for everyone, but they must come from here).
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        None => true,
        Some(origin) => {
            origin == state.cache.site().url
                || state.cache.site().url.starts_with(&format!("{origin}/"))
        }
    }
}

fn invalid_link(state: &AppState) -> Response {
    page(
        state,
        StatusCode::NOT_FOUND,
        "Not found",
        "This link is not valid.",
    )
}

fn unreadable_form(state: &AppState) -> Response {
    page(
        state,
        StatusCode::BAD_REQUEST,
        "Something is missing",
        "The form could not be read.",
    )
}

/// A public sign-up's form, if it came from the status page itself and can be read.
fn sign_up_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Fields, Box<Response>> {
    if !same_origin(state, headers) {
        return Err(Box::new(page(
            state,
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Subscribe from the status page itself.",
        )));
    }
    Fields::parse(body).map_err(|_| Box::new(unreadable_form(state)))
}

/// The component ids a form chose, each one that exists: an unknown one is refused, or the
/// subscriber would hear nothing about it.
async fn known_components(state: &AppState, fields: &Fields) -> Result<Vec<i64>, Box<Response>> {
    let unknown = || {
        Box::new(page(
            state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Please check the form",
            "An unknown component was chosen. Reload the page and choose again.",
        ))
    };
    let raw = fields.all("components");
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    let existing = match state.store.components().await {
        Ok(components) => components,
        Err(e) => return Err(Box::new(PageError::from(e).into_response())),
    };
    let mut chosen = Vec::new();
    for raw in raw {
        match raw.parse::<i64>() {
            Ok(id) if existing.iter().any(|c| c.id == id) => chosen.push(id),
            _ => return Err(unknown()),
        }
    }
    Ok(chosen)
}

/// The components a sign-up chose (empty: all), once the client's sign-ups are within the
/// hourly limit.
async fn chosen_components(
    state: &AppState,
    client: &Client,
    fields: &Fields,
) -> Result<Vec<i64>, Box<Response>> {
    let components = known_components(state, fields).await?;
    if !state.signups.allow(&client.ip) {
        return Err(Box::new(page(
            state,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ups",
            "Too many sign-ups came from your network. Please try again in an hour.",
        )));
    }
    Ok(components)
}

const CHECK_INBOX: &str = "If that address can receive mail, a confirmation link is on its way. \
                           Open it to start getting updates. Nothing is sent until you do.";

async fn sign_up(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let fields = match sign_up_form(&state, &headers, &body) {
        Ok(fields) => fields,
        Err(refused) => return *refused,
    };
    let email =
        match SubscriberEmail::parse_with(fields.get("email"), state.relay.takes_international()) {
            Ok(email) => email,
            Err(e) => {
                let message = format!("That email address {}.", e.message);
                return page(
                    &state,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Please check the address",
                    &message,
                );
            }
        };
    let components = match chosen_components(&state, &client, &fields).await {
        Ok(components) => components,
        Err(refused) => return *refused,
    };
    let chosen = (!components.is_empty()).then_some(components.as_slice());
    match state.store.sign_up(&email, chosen).await {
        Ok(SignUp::ConfirmationQueued(_)) => state.notifier.wake(),
        Ok(SignUp::NothingSent) => {}
        Err(e) => return PageError::from(e).into_response(),
    }
    // The same answer whether the address was new, unconfirmed or already subscribed.
    page(&state, StatusCode::OK, "Check your inbox", CHECK_INBOX)
}

/// A webhook subscription from the status page: its test delivery must answer 2xx before
/// anything is stored.
async fn sign_up_hook(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let fields = match sign_up_form(&state, &headers, &body) {
        Ok(fields) => fields,
        Err(refused) => return *refused,
    };
    let components = match chosen_components(&state, &client, &fields).await {
        Ok(components) => components,
        Err(refused) => return *refused,
    };
    let actor = crate::app::Actor::anonymous(&client.ip, &client.user_agent);
    let request = crate::app::hooks::HookRequest {
        url: fields.get("url"),
        kind: Some(fields.get("kind")),
        email: Some(fields.get("email")),
        components: (!components.is_empty()).then_some(components.as_slice()),
        company: false,
        public: true,
    };
    match state.add_hook(&actor, &request).await {
        Ok(added) => {
            let message = match &added.secret {
                Some(secret) => format!(
                    "Your endpoint answered the test, so it will receive every update from now                      on, in Statuspage's webhook format, signed per the Standard Webhooks                      specification. Your signing secret, shown only this once: {secret}"
                ),
                None => "Your channel answered the test, so it will receive every update from                          now on. Each message has a link to remove the subscription."
                    .to_string(),
            };
            page(&state, StatusCode::CREATED, "Subscribed", &message)
        }
        Err(crate::app::AppError::Store(crate::store::StoreError::Invalid(invalid))) => {
            let message = invalid
                .0
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            page(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not subscribed",
                &message,
            )
        }
        Err(crate::app::AppError::Paused(message)) => page(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            "Not subscribed",
            &format!("{message}. Please try again later."),
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}

fn hook_token(state: &AppState, token: &str) -> Option<i64> {
    state.composer.links().verify(
        crate::notify::outbox::HOOK_UNSUBSCRIBE,
        token,
        crate::domain::now().timestamp(),
    )
}

async fn hook_unsubscribe_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Response {
    if hook_token(&state, &token).is_none() {
        return invalid_link(&state);
    }
    let site = state.cache.site();
    let page = MessagePage {
        site: &site,
        heading: "Remove this webhook subscription?",
        message: "Nothing more will be sent to it.",
        button_action: Some(format!("/webhooks/unsubscribe/{token}")),
        button_label: "Remove",
        one_click: true,
    };
    html(StatusCode::OK, &page)
}

async fn hook_unsubscribe(
    State(state): State<AppState>,
    client: Client,
    Path(token): Path<String>,
) -> Response {
    let Some(id) = hook_token(&state, &token) else {
        return invalid_link(&state);
    };
    let actor = crate::app::Actor::anonymous(&client.ip, &client.user_agent);
    match state.remove_hook(&actor, id).await {
        Ok(_) => page(
            &state,
            StatusCode::OK,
            "Removed",
            "This webhook subscription is removed. Nothing more will be sent to it.",
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}

const LINK_GONE: &str =
    "This link is not valid any more. Subscribe again from the status page to get a new one.";

/// The confirmation link's page: a GET confirms nothing (mail scanners follow links, and
/// double opt-in means a person asked); its Confirm button POSTs to the same URL.
async fn confirm_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let now = chrono::Utc::now().timestamp();
    if state
        .composer
        .links()
        .verify(purpose::CONFIRM, &token, now)
        .is_none()
    {
        return page(&state, StatusCode::BAD_REQUEST, "Link expired", LINK_GONE);
    }
    let site = state.cache.site();
    let view = MessagePage {
        site: &site,
        heading: "Confirm your subscription",
        message: "Press Confirm to get an email whenever we post about an incident or maintenance.",
        button_action: Some(format!("/subscribe/confirm/{token}")),
        button_label: "Confirm",
        one_click: false,
    };
    html(StatusCode::OK, &view)
}

async fn confirm(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let now = chrono::Utc::now().timestamp();
    let Some(id) = state.composer.links().verify(purpose::CONFIRM, &token, now) else {
        return page(&state, StatusCode::BAD_REQUEST, "Link expired", LINK_GONE);
    };
    match state.store.confirm_subscriber(id).await {
        Ok(true) => page(
            &state,
            StatusCode::OK,
            "You are subscribed",
            "You will get an email whenever we post about an incident or maintenance. Every email has a link to change what you hear about or to unsubscribe.",
        ),
        Ok(false) => page(&state, StatusCode::BAD_REQUEST, "Link expired", LINK_GONE),
        Err(e) => PageError::from(e).into_response(),
    }
}

struct ComponentChoice {
    id: i64,
    name: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "public/manage.html")]
struct ManagePage<'a> {
    site: &'a Site,
    email: String,
    token: String,
    unsubscribe_token: String,
    all: bool,
    components: Vec<ComponentChoice>,
    saved: bool,
}

async fn manage_view(state: &AppState, token: String, saved: bool) -> Response {
    let Some(id) = state.composer.links().verify(purpose::MANAGE, &token, 0) else {
        return invalid_link(state);
    };
    let (subscriber, components) = match (
        state.store.subscriber(id).await,
        state.store.components().await,
    ) {
        (Ok(Some(s)), Ok(c)) => (s, c),
        (Ok(None), _) => {
            return page(
                state,
                StatusCode::NOT_FOUND,
                "Not subscribed",
                "This address is no longer subscribed.",
            )
        }
        (Err(e), _) | (_, Err(e)) => return PageError::from(e).into_response(),
    };
    let site = state.cache.site();
    let view = ManagePage {
        site: &site,
        email: subscriber.email,
        unsubscribe_token: state.composer.links().sign(purpose::UNSUBSCRIBE, id, 0),
        token,
        all: subscriber.all_components,
        components: components
            .iter()
            .map(|c| ComponentChoice {
                id: c.id,
                name: c.name.clone(),
                checked: subscriber.component_ids.contains(&c.id),
            })
            .collect(),
        saved,
    };
    html(StatusCode::OK, &view)
}

async fn manage_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    manage_view(&state, token, false).await
}

async fn manage(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(id) = state.composer.links().verify(purpose::MANAGE, &token, 0) else {
        return invalid_link(&state);
    };
    let Ok(fields) = Fields::parse(&body) else {
        return unreadable_form(&state);
    };
    let ids = match known_components(&state, &fields).await {
        Ok(ids) => ids,
        Err(refused) => return *refused,
    };
    let chosen = (fields.get("scope") == "some" && !ids.is_empty()).then_some(ids.as_slice());
    if let Err(e) = state.store.set_subscriber_components(id, chosen).await {
        return PageError::from(e).into_response();
    }
    manage_view(&state, token, true).await
}

async fn unsubscribe_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    if state
        .composer
        .links()
        .verify(purpose::UNSUBSCRIBE, &token, 0)
        .is_none()
    {
        return invalid_link(&state);
    }
    // A GET never unsubscribes: mail scanners follow links. The button POSTs.
    let site = state.cache.site();
    let view = MessagePage {
        site: &site,
        heading: "Unsubscribe",
        message: "Stop all email updates from this status page?",
        button_action: Some(format!("/unsubscribe/{token}")),
        button_label: "Unsubscribe",
        one_click: true,
    };
    html(StatusCode::OK, &view)
}

/// RFC 8058 one-click: a POST to the List-Unsubscribe URL unsubscribes with no further step.
async fn unsubscribe(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some(id) = state
        .composer
        .links()
        .verify(purpose::UNSUBSCRIBE, &token, 0)
    else {
        return invalid_link(&state);
    };
    if let Err(e) = state.store.remove_subscriber(id).await {
        return PageError::from(e).into_response();
    }
    tracing::info!(subscriber.id = id, "subscriber unsubscribed");
    page(
        &state,
        StatusCode::OK,
        "Unsubscribed",
        "You will get no more email from this status page.",
    )
}
