//! The Branding page (admins only): the page name, accent colour, header links, footer text,
//! logos and favicon over the configured ones. The form is `multipart/form-data` for its file
//! fields; a form without files may come url-encoded.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{notice, render, Chrome, NoticeQuery};
use crate::app::branding::{BrandingChange, FileChange};
use crate::domain::branding::{format_header_links, BrandingColumns, IMAGE_MAX_BYTES};
use crate::domain::Role;
use crate::security::secret;
use crate::web::auth::{Fields, StaffSession, CSRF_REFUSED};
use crate::web::error::PageError;
use crate::web::AppState;

/// Room for the three images and the text fields.
pub const BODY_MAX: usize = 3 * IMAGE_MAX_BYTES + 64 * 1024;

#[derive(Template)]
#[template(path = "admin/branding.html")]
struct BrandingPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    /// The admin's values (empty: the configuration's applies).
    page_name: String,
    accent_color: String,
    header_links: String,
    footer_text: String,
    /// The configured values, shown as what an empty field falls back to.
    configured: Configured,
    images: Vec<ImageView>,
}

struct Configured {
    page_name: String,
    accent_color: String,
    header_links: String,
    footer_text: String,
}

struct ImageView {
    field: &'static str,
    label: &'static str,
    /// The image in effect, to preview.
    current: Option<String>,
    /// Whether the admin's upload (not the configuration's file) is in effect.
    uploaded: bool,
}

fn page(state: &AppState, session: &StaffSession, overrides: &BrandingColumns) -> BrandingPage {
    let site = state.cache.site();
    let configured = state.cache.configured_site().brand.branding.clone();
    let brand = &site.brand;
    BrandingPage {
        chrome: Chrome::of(session),
        notice: String::new(),
        errors: Vec::new(),
        page_name: overrides.page_name.clone().unwrap_or_default(),
        accent_color: overrides.accent_color.clone().unwrap_or_default(),
        header_links: overrides.header_links.clone().unwrap_or_default(),
        footer_text: overrides.footer_text.clone().unwrap_or_default(),
        configured: Configured {
            page_name: configured.name.clone(),
            accent_color: configured.accent.map(|c| c.hex()).unwrap_or_default(),
            header_links: format_header_links(&configured.header_links),
            footer_text: configured.footer_text.clone(),
        },
        images: vec![
            ImageView {
                field: "logo",
                label: "Logo",
                current: brand.logo.clone(),
                uploaded: overrides.logo.is_some(),
            },
            ImageView {
                field: "logo_dark",
                label: "Logo for dark mode",
                current: brand.logo_dark.clone(),
                uploaded: overrides.logo_dark.is_some(),
            },
            ImageView {
                field: "favicon",
                label: "Favicon",
                current: brand.favicon.as_ref().map(|(p, _)| p.clone()),
                uploaded: overrides.favicon.is_some(),
            },
        ],
    }
}

pub async fn show(
    State(state): State<AppState>,
    session: StaffSession,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    session.require(Role::Admin)?;
    let overrides = state.branding_overrides().await?;
    let mut view = page(&state, &session, &overrides);
    view.notice = match query.notice.as_deref() {
        Some("saved") => "Saved. The public pages, the banner and new emails show it now.".into(),
        Some("reset") => "Back to the configured branding.".into(),
        other => notice(other),
    };
    Ok(render(StatusCode::OK, &view))
}

pub async fn save(State(state): State<AppState>, request: Request) -> Result<Response, PageError> {
    let (mut parts, body) = request.into_parts();
    let session = StaffSession::from_request_parts(&mut parts, &state).await?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = Bytes::from_request(Request::from_parts(parts, body), &state)
        .await
        .map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                PageError::TooLarge(format!(
                    "The upload is too large: at most {} KiB per image.",
                    IMAGE_MAX_BYTES / 1024
                ))
            } else {
                PageError::BadRequest(e.body_text())
            }
        })?;
    let form = if content_type.starts_with("multipart/form-data") {
        multipart::parse(&content_type, &body)
            .map_err(|e| PageError::BadRequest(format!("The form could not be read: {e}.")))?
    } else {
        Fields::parse(&body)?
            .0
            .into_iter()
            .map(|(name, value)| multipart::Part {
                name,
                filename: None,
                bytes: value.into_bytes(),
            })
            .collect()
    };
    let text = |name: &str| {
        form.iter()
            .find(|p| p.name == name && p.filename.is_none())
            .map(|p| String::from_utf8_lossy(&p.bytes).into_owned())
    };
    if !secret::equal(
        text("csrf").as_deref().unwrap_or(""),
        &session.info.csrf_token,
    ) {
        return Err(PageError::Forbidden(CSRF_REFUSED.into()));
    }
    session.require(Role::Admin)?;

    let change = if text("reset").is_some() {
        BrandingChange::reset()
    } else {
        let file = |name: &str| {
            let upload = form
                .iter()
                .find(|p| p.name == name && p.filename.is_some() && !p.bytes.is_empty());
            match upload {
                Some(p) => Some(FileChange::Replace(p.bytes.clone())),
                None if text(&format!("remove_{name}")).is_some() => Some(FileChange::Remove),
                None => None,
            }
        };
        BrandingChange {
            page_name: text("page_name"),
            accent_color: text("accent_color"),
            header_links: text("header_links"),
            footer_text: text("footer_text"),
            logo: file("logo"),
            logo_dark: file("logo_dark"),
            favicon: file("favicon"),
        }
    };
    match state.update_branding(&session.actor(), &change).await {
        Ok(_) if text("reset").is_some() => {
            Ok(Redirect::to("/admin/branding?notice=reset").into_response())
        }
        Ok(_) => Ok(Redirect::to("/admin/branding?notice=saved").into_response()),
        Err(crate::app::AppError::Store(crate::store::StoreError::Invalid(invalid))) => {
            let overrides = state.branding_overrides().await?;
            let mut view = page(&state, &session, &overrides);
            // Show what was typed, so it can be fixed rather than typed again.
            for (value, typed) in [
                (&mut view.page_name, change.page_name),
                (&mut view.accent_color, change.accent_color),
                (&mut view.header_links, change.header_links),
                (&mut view.footer_text, change.footer_text),
            ] {
                if let Some(typed) = typed {
                    *value = typed;
                }
            }
            view.errors = invalid
                .0
                .iter()
                .map(|e| format!("{}: {}", field_label(&e.field), e.message))
                .collect();
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &view))
        }
        Err(e) => Err(e.into()),
    }
}

fn field_label(field: &str) -> &str {
    match field {
        "page_name" => "Page name",
        "accent_color" => "Accent colour",
        "header_links" => "Header links",
        "footer_text" => "Footer text",
        "logo" => "Logo",
        "logo_dark" => "Logo for dark mode",
        "favicon" => "Favicon",
        other => other,
    }
}

/// Just enough of `multipart/form-data` (RFC 7578) for one form: each part's name, file name
/// and bytes.
mod multipart {
    pub struct Part {
        pub name: String,
        /// Set for a file field (even when no file was chosen: then it is empty).
        pub filename: Option<String>,
        pub bytes: Vec<u8>,
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    /// A parameter of a header value: `name="value"` or `name=value`.
    fn param(header: &str, name: &str) -> Option<String> {
        header.split(';').skip(1).find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().trim_matches('"').to_string())
        })
    }

    pub fn parse(content_type: &str, body: &[u8]) -> Result<Vec<Part>, String> {
        let boundary = param(content_type, "boundary")
            .filter(|b| !b.is_empty() && b.len() <= 70)
            .ok_or("no boundary")?;
        let delimiter = format!("--{boundary}");
        let mut rest = body;
        let start = find(rest, delimiter.as_bytes()).ok_or("no first boundary")?;
        rest = &rest[start + delimiter.len()..];
        let mut parts = Vec::new();
        loop {
            if rest.starts_with(b"--") {
                return Ok(parts);
            }
            rest = rest
                .strip_prefix(b"\r\n")
                .ok_or("a boundary without a line end")?;
            let head_end = find(rest, b"\r\n\r\n").ok_or("a part without headers")?;
            let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| "headers not UTF-8")?;
            rest = &rest[head_end + 4..];
            let next =
                find(rest, format!("\r\n{delimiter}").as_bytes()).ok_or("a part without an end")?;
            let bytes = rest[..next].to_vec();
            rest = &rest[next + 2 + delimiter.len()..];
            let disposition = head
                .split("\r\n")
                .find_map(|line| {
                    let (k, v) = line.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("content-disposition")
                        .then_some(v.trim())
                })
                .ok_or("a part without Content-Disposition")?;
            parts.push(Part {
                name: param(disposition, "name").ok_or("a part without a name")?,
                filename: param(disposition, "filename"),
                bytes,
            });
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn parts_are_read_with_their_names_files_and_bytes() {
            let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"l.png\"\r\n\
                Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n\r\n--XyZ\r\n\
                Content-Disposition: form-data; name=\"favicon\"; filename=\"\"\r\n\r\n\r\n--XyZ--\r\n";
            let parts = super::parse("multipart/form-data; boundary=XyZ", body).unwrap();
            assert_eq!(parts.len(), 3);
            assert_eq!(parts[0].name, "csrf");
            assert_eq!(parts[0].bytes, b"abc");
            assert_eq!(parts[1].filename.as_deref(), Some("l.png"));
            assert_eq!(parts[1].bytes, b"\x89PNG\r\n\x1a\n");
            assert_eq!(parts[2].filename.as_deref(), Some(""));
            assert!(parts[2].bytes.is_empty());
            assert!(super::parse("multipart/form-data", body).is_err());
            assert!(super::parse("multipart/form-data; boundary=XyZ", b"--XyZ\r\nbroken").is_err());
        }
    }
}
