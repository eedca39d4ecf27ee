//! Request bodies as Statuspage takes them: JSON (`{"incident": {...}}`) or a form with bracket
//! names (`incident[name]=…`, `incident[components][ID]=major_outage`,
//! `incident[component_ids][]=ID`). Both become one JSON value; form values stay strings, and
//! the accessors below read `"true"` and `true`, `"5"` and `5` alike.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde_json::{Map, Value};

use super::error::V1Error;

/// The body of a `/v1` request as JSON, whichever way it was sent. An empty body is `{}`.
pub struct V1Body(pub Value);

impl<S: Send + Sync> FromRequest<S> for V1Body {
    type Rejection = V1Error;
    async fn from_request(request: Request, state: &S) -> Result<Self, V1Error> {
        let essence = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase());
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|e| V1Error {
                status: e.status(),
                message: e.body_text(),
            })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(V1Body(Value::Object(Map::new())));
        }
        match essence.as_deref() {
            Some("application/json") => {
                let value: Value = serde_json::from_slice(&body).map_err(|e| {
                    V1Error::bad_request(format!(
                        "the body is not valid JSON (line {}, column {})",
                        e.line(),
                        e.column()
                    ))
                })?;
                if !value.is_object() {
                    return Err(V1Error::invalid("body", "must be a JSON object ({…})"));
                }
                Ok(V1Body(value))
            }
            Some("application/x-www-form-urlencoded") => {
                let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
                    .map_err(|_| V1Error::bad_request("the form body could not be read"))?;
                parse_brackets(&pairs).map(V1Body)
            }
            _ => Err(V1Error {
                status: axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message: "send the body as application/json or \
                          application/x-www-form-urlencoded"
                    .into(),
            }),
        }
    }
}

/// Nests `a[b][c]=v` pairs into `{"a": {"b": {"c": "v"}}}`; `a[b][]=v` appends to a list.
pub fn parse_brackets(pairs: &[(String, String)]) -> Result<Value, V1Error> {
    let mut root = Value::Object(Map::new());
    for (key, value) in pairs {
        let path = key_path(key)
            .ok_or_else(|| V1Error::bad_request(format!("cannot read the field name \"{key}\"")))?;
        insert(&mut root, &path, value.clone(), key)?;
    }
    Ok(root)
}

/// `incident[components][]` → `["incident", "components", ""]`.
fn key_path(key: &str) -> Option<Vec<String>> {
    let (head, mut rest) = match key.find('[') {
        Some(at) => (&key[..at], &key[at..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return None;
    }
    let mut path = vec![head.to_string()];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        path.push(inner[..close].to_string());
        rest = &inner[close + 1..];
    }
    Some(path)
}

fn insert(node: &mut Value, path: &[String], value: String, key: &str) -> Result<(), V1Error> {
    let clash = || V1Error::bad_request(format!("the field \"{key}\" clashes with another"));
    let Some((first, rest)) = path.split_first() else {
        return Ok(());
    };
    if first.is_empty() {
        let Value::Array(items) = node else {
            return Err(clash());
        };
        if rest.is_empty() {
            items.push(Value::String(value));
            return Ok(());
        }
        // `a[][name]=x`: a list of objects; a key already set on the last one starts the next.
        let starts_new = match items.last() {
            Some(Value::Object(last)) => rest.first().is_some_and(|k| last.contains_key(k)),
            _ => true,
        };
        if starts_new {
            items.push(Value::Object(Map::new()));
        }
        let last = items.last_mut().ok_or_else(clash)?;
        return insert(last, rest, value, key);
    }
    let Value::Object(map) = node else {
        return Err(clash());
    };
    if rest.is_empty() {
        map.insert(first.clone(), Value::String(value));
        return Ok(());
    }
    let child = map.entry(first.clone()).or_insert_with(|| {
        if rest[0].is_empty() {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        }
    });
    insert(child, rest, value, key)
}

/// The object under `root` in a body (`{"incident": {...}}`), or an empty one.
pub fn object<'a>(body: &'a Value, root: &str) -> Result<&'a Map<String, Value>, V1Error> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match body.get(root) {
        None | Some(Value::Null) => Ok(EMPTY.get_or_init(Map::new)),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(V1Error::invalid(root, "must be an object")),
    }
}

/// A text field: strings as they are, numbers and booleans written out; null is absent.
pub fn text(map: &Map<String, Value>, field: &str) -> Result<Option<String>, V1Error> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(V1Error::invalid(field, "must be text")),
    }
}

/// A true/false field (`true`, `"true"`, `"t"`, `"1"`; and their opposites).
pub fn flag(map: &Map<String, Value>, field: &str) -> Result<Option<bool>, V1Error> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::Number(n)) => Ok(Some(n.as_i64() != Some(0))),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "f" | "0" | "no" | "off" | "" => Ok(Some(false)),
            _ => Err(V1Error::invalid(field, "must be true or false")),
        },
        Some(_) => Err(V1Error::invalid(field, "must be true or false")),
    }
}

/// A whole-number field.
pub fn int(map: &Map<String, Value>, field: &str) -> Result<Option<i64>, V1Error> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| V1Error::invalid(field, "must be a whole number")),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| V1Error::invalid(field, "must be a whole number")),
        Some(_) => Err(V1Error::invalid(field, "must be a whole number")),
    }
}

/// A list of ids (`["1", 2]`, or a form's `field[]=1&field[]=2`).
pub fn ids(map: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>, V1Error> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.trim().to_string()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(V1Error::invalid(field, "must be a list of ids")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| Some(v.into_iter().filter(|s| !s.is_empty()).collect())),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Some(Vec::new())),
        Some(_) => Err(V1Error::invalid(field, "must be a list of ids")),
    }
}

/// `{id: status}` pairs (`incident[components][ID]=major_outage`).
pub fn statuses(
    map: &Map<String, Value>,
    field: &str,
) -> Result<Option<Vec<(String, String)>>, V1Error> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(pairs)) => pairs
            .iter()
            .map(|(id, status)| match status {
                Value::String(s) => Ok((id.clone(), s.clone())),
                _ => Err(V1Error::invalid(
                    &format!("{field}.{id}"),
                    "must be a component status",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(V1Error::invalid(
            field,
            "must be an object of component id to status",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(raw: &[(&str, &str)]) -> Vec<(String, String)> {
        raw.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bracket_names_nest_into_objects_and_lists() {
        let value = parse_brackets(&pairs(&[
            ("incident[name]", "Database down"),
            ("incident[components][7]", "major_outage"),
            ("incident[component_ids][]", "7"),
            ("incident[component_ids][]", "8"),
            ("incident[deliver_notifications]", "true"),
        ]))
        .unwrap();
        assert_eq!(
            value,
            json!({"incident": {
                "name": "Database down",
                "components": {"7": "major_outage"},
                "component_ids": ["7", "8"],
                "deliver_notifications": "true",
            }})
        );
        let incident = object(&value, "incident").unwrap();
        assert_eq!(flag(incident, "deliver_notifications").unwrap(), Some(true));
        assert_eq!(
            ids(incident, "component_ids").unwrap(),
            Some(vec!["7".to_string(), "8".to_string()])
        );
    }

    #[test]
    fn a_field_used_both_as_text_and_as_an_object_is_refused() {
        let e = parse_brackets(&pairs(&[("a", "x"), ("a[b]", "y")])).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(parse_brackets(&pairs(&[("[x]", "y")])).is_err());
        assert!(parse_brackets(&pairs(&[("a[b", "y")])).is_err());
    }

    #[test]
    fn flags_and_numbers_read_text_and_json_alike() {
        let map = json!({"a": "f", "b": true, "c": "12", "d": 3, "e": "maybe"});
        let map = map.as_object().unwrap();
        assert_eq!(flag(map, "a").unwrap(), Some(false));
        assert_eq!(flag(map, "b").unwrap(), Some(true));
        assert_eq!(int(map, "c").unwrap(), Some(12));
        assert_eq!(int(map, "d").unwrap(), Some(3));
        assert_eq!(flag(map, "e").unwrap_err().status, 422);
        assert_eq!(flag(map, "missing").unwrap(), None);
    }
}
