//! Strict JSON request bodies for the admin API: `Content-Type: application/json` (415
//! otherwise), a JSON object (422 otherwise), no field the endpoint does not know, and errors
//! that name the field in plain words, never a Rust type.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::domain::{FieldError, Invalid};
use crate::web::error::ApiError;

/// Whether the request says its body is JSON: `application/json`, parameters allowed.
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The body read as `T`; with `empty` given, a body with nothing in it (and no content type)
/// is that value instead, for endpoints whose every field is optional.
pub fn read<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
    empty: Option<T>,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        if let Some(value) = empty {
            if headers.get(header::CONTENT_TYPE).is_none() || is_json(headers) {
                return Ok(value);
            }
        }
    }
    if !is_json(headers) {
        return Err(ApiError::UnsupportedMediaType(
            "send the body as JSON with the header Content-Type: application/json".into(),
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::Malformed(format!(
            "the body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if !value.is_object() {
        return Err(invalid(
            "body",
            format!("must be a JSON object ({{…}}), not {}", kind(&value)),
        ));
    }
    if let Some(path) = nul_at(&value, "") {
        return Err(invalid(
            &path,
            "contains a control character, which cannot be shown (U+0000); remove it and try again",
        ));
    }
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let (field, message) = plain(&path, &e.into_inner().to_string());
        invalid(&field, message)
    })
}

/// Reads a request's body bytes, turning a body over the limit into 413.
pub fn too_large_or_malformed(rejection: &axum::extract::rejection::BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge("the request body is too large".into())
    } else {
        ApiError::Malformed("the request body could not be read".into())
    }
}

/// Reads `T` from a request whose body is already in hand.
pub fn read_bytes<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, ApiError> {
    read(headers, body, None)
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid(Invalid(vec![FieldError::new(field, message)]))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list ([…])",
        Value::Object(_) => "an object",
    }
}

/// Where a U+0000 hides in a value (PostgreSQL cannot store it in text), as a field path.
fn nul_at(value: &Value, path: &str) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => Some(if path.is_empty() {
            "body".into()
        } else {
            path.into()
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_at(v, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(join(&k.replace('\0', "")))
            } else {
                nul_at(v, &join(k))
            }
        }),
        _ => None,
    }
}

/// serde's message in words for a person: the field it is about, and what was expected
/// without Rust's type names.
fn plain(path: &str, message: &str) -> (String, String) {
    let field = |name: &str| {
        if path.is_empty() || path == "." {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    let here = if path.is_empty() || path == "." {
        "body".to_string()
    } else {
        path.to_string()
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let expected = expected.trim_start_matches(", ");
        let hint = if expected.starts_with("there are no fields") {
            "; this object takes no fields".to_string()
        } else if let Some(list) = expected.strip_prefix("expected one of ") {
            format!("; the fields are {list}")
        } else if let Some(one) = expected.strip_prefix("expected ") {
            format!("; the field is {one}")
        } else {
            String::new()
        };
        // The path already ends in the unknown field's name.
        let at = if path.is_empty() || path == "." {
            name.to_string()
        } else {
            path.to_string()
        };
        return (at, format!("is not a field here{hint}"));
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return (field(name), "is required".into());
    }
    // Cut serde's position suffix and its Rust names for what was expected.
    let message = message.split(" at line ").next().unwrap_or(message);
    let message = match message.split_once(", expected ") {
        Some((got, expected)) => format!("{got}, expected {}", expected_in_words(expected)),
        None => message.to_string(),
    };
    (
        here,
        message.replace("invalid type: ", "has the wrong type: "),
    )
}

fn expected_in_words(expected: &str) -> &str {
    let e = expected.trim();
    if e.starts_with("struct ") || e.starts_with("a map") || e.starts_with("map") {
        "an object ({…})"
    } else if e.starts_with("a sequence") || e.starts_with("tuple") || e.starts_with("sequence") {
        "a list ([…])"
    } else if matches!(
        e,
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize"
    ) {
        "a whole number"
    } else if matches!(e, "f32" | "f64") {
        "a number"
    } else if e.starts_with("a boolean") {
        "true or false"
    } else if e.starts_with("a string") || e.starts_with("a borrowed string") {
        "a string"
    } else if e.starts_with("enum ") || e.starts_with("variant identifier") {
        "one of the listed values"
    } else if e.contains("::") || e.chars().next().is_some_and(char::is_uppercase) {
        // A Rust path or type name: never shown.
        "a different value"
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct NewThing {
        name: String,
        position: Option<i64>,
        nested: Option<Inner>,
    }

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        on: bool,
    }

    fn json() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h
    }

    fn messages(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Invalid(Invalid(errors)) => errors.iter().map(ToString::to_string).collect(),
            other => vec![format!("not invalid: {other}")],
        }
    }

    #[test]
    fn only_application_json_is_read() {
        let mut h = HeaderMap::new();
        for ct in [
            "text/plain",
            "application/jsonx",
            "application/x-www-form-urlencoded",
        ] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            let e = read::<NewThing>(&h, br#"{"name":"a"}"#, None).unwrap_err();
            assert!(matches!(e, ApiError::UnsupportedMediaType(_)), "{ct}");
        }
        assert!(read::<NewThing>(&json(), br#"{"name":"a"}"#, None).is_ok());
    }

    #[test]
    fn errors_name_the_field_and_no_rust_type() {
        for (body, want) in [
            (&br#"["a", 1, 2, 3]"#[..], "body: must be a JSON object"),
            (br#"{"name":"a","colour":1}"#, "colour: is not a field here"),
            (br#"{}"#, "name: is required"),
            (
                br#"{"name":"a","position":"x"}"#,
                "position: has the wrong type",
            ),
            (
                br#"{"name":"a","nested":"on"}"#,
                "nested: has the wrong type",
            ),
            (
                br#"{"name":"a","nested":{"off":1}}"#,
                "nested.off: is not a field",
            ),
            (
                br#"{"name":"a\u0000"}"#,
                "name: contains a control character",
            ),
        ] {
            let all = messages(read::<NewThing>(&json(), body, None).unwrap_err()).join(" | ");
            assert!(all.starts_with(want), "{all}");
            assert!(
                !all.contains("struct") && !all.contains("NewThing") && !all.contains("i64"),
                "{all}"
            );
        }
    }

    #[test]
    fn an_empty_body_is_the_default_where_allowed() {
        assert!(read(&HeaderMap::new(), b"", Some(NewThing::default())).is_ok());
        assert!(read::<NewThing>(&HeaderMap::new(), b"", None).is_err());
    }
}
