//! `/api/admin/v1/branding`: the branding in effect, and the admin's overrides of the
//! configured one. Admins only. `PATCH` changes the values it names (`null` or `""` returns
//! one to the configuration's; images are base64, optionally as a `data:` URL); `DELETE`
//! returns everything to the configuration.

use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};

use super::super::auth::{ApiCaller, ApiJson};
use super::super::error::ApiError;
use super::super::AppState;
use crate::app::branding::{BrandingChange, FileChange};
use crate::domain::branding::{format_header_links, BrandingColumns, IMAGE_MAX_BYTES};
use crate::domain::{FieldError, Invalid, Role};
use crate::render::Site;

/// Room for three images in base64 besides the text.
const BODY_MAX: usize = 4 * IMAGE_MAX_BYTES * 3;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/admin/v1/branding",
        get(show)
            .patch(update)
            .delete(reset)
            .layer(DefaultBodyLimit::max(BODY_MAX)),
    )
}

/// The branding in effect (asset URLs absolute) and which values the admin set.
pub(crate) fn branding_json(site: &Site, overrides: &BrandingColumns) -> Value {
    let brand = &site.brand;
    let url = |path: &Option<String>| path.as_ref().map(|p| format!("{}{p}", site.url));
    let overridden: Vec<&str> = [
        ("page_name", overrides.page_name.is_some()),
        ("accent_color", overrides.accent_color.is_some()),
        ("header_links", overrides.header_links.is_some()),
        ("footer_text", overrides.footer_text.is_some()),
        ("logo", overrides.logo.is_some()),
        ("logo_dark", overrides.logo_dark.is_some()),
        ("favicon", overrides.favicon.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    json!({
        "page_name": site.name,
        "accent_color": brand.accent,
        "header_links": brand.header_links().iter().map(|l| json!({
            "label": l.label,
            "url": l.url,
        })).collect::<Vec<_>>(),
        "header_links_text": format_header_links(brand.header_links()),
        "footer_text": brand.footer_text(),
        "logo": url(&brand.logo),
        "logo_dark": url(&brand.logo_dark),
        "favicon": url(&brand.favicon.as_ref().map(|(p, _)| p.clone())),
        "extra_css": url(&brand.extra_css),
        "overridden": overridden,
    })
}

async fn show(State(state): State<AppState>, caller: ApiCaller) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let overrides = state.branding_overrides().await?;
    Ok(Json(branding_json(&state.cache.site(), &overrides)).into_response())
}

/// Reads a `PATCH` body: every field optional, unknown ones refused.
fn parse_change(body: &serde_json::Map<String, Value>) -> Result<BrandingChange, Invalid> {
    let mut change = BrandingChange::default();
    let mut errors = Vec::new();
    for (key, value) in body {
        let text = || match value {
            Value::Null => Ok(String::new()),
            Value::String(s) => Ok(s.clone()),
            _ => Err(FieldError::new(key, "must be a string or null")),
        };
        let file = || match value {
            Value::Null => Ok(FileChange::Remove),
            Value::String(s) if s.is_empty() => Ok(FileChange::Remove),
            Value::String(s) => {
                let data = s.rsplit_once(";base64,").map_or(s.as_str(), |(_, d)| d);
                base64::engine::general_purpose::STANDARD
                    .decode(data.trim())
                    .map(FileChange::Replace)
                    .map_err(|_| FieldError::new(key, "must be the file in base64 (or null)"))
            }
            _ => Err(FieldError::new(key, "must be the file in base64 (or null)")),
        };
        let result = match key.as_str() {
            "page_name" => text().map(|v| change.page_name = Some(v)),
            "accent_color" => text().map(|v| change.accent_color = Some(v)),
            "header_links" => text().map(|v| change.header_links = Some(v)),
            "footer_text" => text().map(|v| change.footer_text = Some(v)),
            "logo" => file().map(|v| change.logo = Some(v)),
            "logo_dark" => file().map(|v| change.logo_dark = Some(v)),
            "favicon" => file().map(|v| change.favicon = Some(v)),
            _ => Err(FieldError::new(
                key,
                "unknown field; expected page_name, accent_color, header_links, footer_text, \
                 logo, logo_dark or favicon",
            )),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(change)
    } else {
        Err(Invalid(errors))
    }
}

async fn update(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<serde_json::Map<String, Value>>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let change = parse_change(&body).map_err(ApiError::Invalid)?;
    let overrides = state.update_branding(&caller.actor(), &change).await?;
    Ok(Json(branding_json(&state.cache.site(), &overrides)).into_response())
}

async fn reset(State(state): State<AppState>, caller: ApiCaller) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let overrides = state
        .update_branding(&caller.actor(), &BrandingChange::reset())
        .await?;
    Ok(Json(branding_json(&state.cache.site(), &overrides)).into_response())
}
