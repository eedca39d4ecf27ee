//! The fuzz targets: one function per parser of outside input, each taking arbitrary bytes and
//! panicking when Herald breaks a promise it makes about that input. Both harnesses call them:
//! `tests/fuzz/main.rs` (stable, part of `cargo test`, mutation from the seed corpus for a set
//! time) and `tests/fuzz/libfuzzer` (cargo fuzz, coverage-guided). A target never does IO
//! beyond what the parser itself does, so a run is repeatable from the input alone.
//!
//! Beyond "does not panic", each target checks what the rest of Herald relies on:
//! - `forms`: whatever an admin or public form parser accepts holds no character the input
//!   policy refuses, so it stores on both databases and renders everywhere;
//! - `json_bodies`: the strict reader accepts only a JSON object sent as JSON, and its refusals
//!   never name a Rust type;
//! - `markdown`: the HTML has no script, handler or `javascript:` link, and the tripwire's
//!   `linked_hosts` names the host of every link in the HTML and in the email text;
//! - `addresses`: an accepted address is one the mailer takes, parses back to itself, and the
//!   CSV import agrees with the single-address parser;
//! - `post_length`: a shortened post plus its link fits in 280, as X counts;
//! - `config`: a configuration that loads has a usable public URL, connection limits and
//!   branding, and header links read back as written;
//! - `tokens`: a signed link verifies only in the exact form it was signed in, sealed secrets
//!   open only when genuine, and no code or key parser panics.
//! - `branding_files`: an uploaded SVG that is accepted carries no script.

#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};

use herald::domain::branding::{self, Asset, AssetKind, Color};
use herald::domain::component::ComponentDraft;
use herald::domain::edit::{IncidentEdit, RawIncidentEdit, RawUpdateEdit, UpdateEdit};
use herald::domain::incident::{IncidentDraft, MaintenanceDraft, RawUpdate, UpdateDraft};
use herald::domain::links::hosts_in_text;
use herald::domain::markdown::{linked_hosts, to_email_text, to_plain_text, to_safe_html};
use herald::domain::subscriber::{parse_list, SubscriberEmail};
use herald::domain::text::{check_text, TextShape};
use herald::domain::tweet::{extract_urls, fit_with_link, parse_tweet, MAX_WEIGHTED_LENGTH};
use herald::domain::{parse_time, MAX_YEAR, MIN_YEAR};
use herald::security::keys::{LinkSigner, MasterKey};
use herald::security::seal::Sealer;
use herald::security::secret::DigestKey;
use herald::security::totp::{self, Seed};
use herald::web::auth::Fields;

/// A fuzz target: arbitrary bytes in, a panic when a promise is broken.
pub type Target = fn(&[u8]);

/// Every target by name, for the stable driver.
pub const TARGETS: [(&str, Target); 8] = [
    ("forms", forms),
    ("json_bodies", json_bodies),
    ("markdown", markdown),
    ("addresses", addresses),
    ("post_length", post_length),
    ("config", config),
    ("tokens", tokens),
    ("branding_files", branding_files),
];

/// A fixed master key (32 bytes of 7), loaded the way Herald loads its key file, so a saved
/// input replays the same.
fn master() -> MasterKey {
    static KEY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let path = KEY.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("herald-fuzz-{}.key", std::process::id()));
        std::fs::write(&path, "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc").expect("key file");
        path
    });
    MasterKey::load(path).expect("read").expect("a key")
}

/// Seeds that only code can make (a genuine signed link, a sealed secret, a current TOTP
/// code), so mutation starts next to what a forger would need.
pub fn generated_seeds(target: &str) -> Vec<Vec<u8>> {
    let master = master();
    let with = |pick: u8, text: &str| {
        let mut bytes = vec![pick];
        bytes.extend_from_slice(text.as_bytes());
        bytes
    };
    match target {
        "tokens" => {
            let signer = LinkSigner::new(&master);
            let seed = Seed::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").expect("seed");
            vec![
                with(0, &signer.sign("confirm", 42, 0)),
                with(0, &signer.sign("unsubscribe", 7, 1_900_000_000)),
                with(
                    1,
                    &Sealer::new(&master).seal("fuzz", "secret").expect("seal"),
                ),
                with(2, &seed.base32()),
                with(3, &seed.code_at_step(1_800_000_000 / 30)),
                with(4, "abcd-efgh-ijkl"),
                with(5, &DigestKey::generate().to_text()),
            ]
        }
        _ => Vec::new(),
    }
}

/// A fixed "now", so a run depends on its input alone.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0)
        .single()
        .expect("a valid time")
}

const BASE: &str = "https://status.acme.example";

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

fn assert_policy(field: &str, value: &str, shape: TextShape) {
    if let Err(e) = check_text(field, value, shape) {
        panic!(
            "accepted {field} {value:?} breaks the input policy: {}",
            e.message
        );
    }
}

fn assert_time_in_bounds(field: &str, t: &DateTime<Utc>) {
    let year = chrono::Datelike::year(t);
    assert!(
        (MIN_YEAR..=MAX_YEAR).contains(&year),
        "accepted {field} {t} outside {MIN_YEAR}..={MAX_YEAR}"
    );
}

fn assert_update(draft: &UpdateDraft) {
    assert_policy("body", &draft.body, TextShape::MultiLine);
    assert!(!draft.body.trim().is_empty(), "an empty body was accepted");
    if let Some(tweet) = &draft.custom_tweet {
        assert_policy("custom_tweet", tweet, TextShape::MultiLine);
        assert!(
            parse_tweet(tweet).valid,
            "accepted custom post X would refuse: {tweet:?}"
        );
    }
    if let Some(t) = &draft.display_at {
        assert_time_in_bounds("display_at", t);
        assert!(
            *t <= now() + chrono::Duration::minutes(5),
            "display_at {t} in the future"
        );
    }
}

/// An admin or public form body (`application/x-www-form-urlencoded`), read as the admin
/// pages read it and handed to every draft parser a form feeds; also the `/v1` bracket form.
pub fn forms(data: &[u8]) {
    let Ok(fields) = Fields::parse(data) else {
        return;
    };
    let raw = RawUpdate {
        status: fields.get("status"),
        body: fields.get("body"),
        components: fields.with_prefix("component_").collect(),
        notify: fields.has("notify"),
        post_to_x: fields.has("post_to_x"),
        channels: fields.has("channels_shown").then(|| fields.all("channel")),
        tweet: Some(fields.get("custom_tweet")),
        display_at: Some(fields.get("display_at")),
    };
    if let Ok(draft) = UpdateDraft::parse(None, &raw, now()) {
        assert_update(&draft);
    }
    if let Ok(draft) = IncidentDraft::parse(fields.get("name"), fields.get("impact"), &raw, now()) {
        assert_policy("name", &draft.name, TextShape::Line);
        assert!(!draft.name.trim().is_empty());
        assert_update(&draft.first);
    }
    let ids = fields.all("components");
    if let Ok(draft) = MaintenanceDraft::parse(
        fields.get("name"),
        fields.get("body"),
        fields.get("scheduled_for"),
        fields.get("scheduled_until"),
        &ids,
        fields.has("notify"),
        now(),
    ) {
        assert_policy("name", &draft.name, TextShape::Line);
        assert_policy("body", &draft.body, TextShape::MultiLine);
        assert_time_in_bounds("scheduled_for", &draft.scheduled_for);
        assert_time_in_bounds("scheduled_until", &draft.scheduled_until);
        assert!(
            draft.scheduled_for < draft.scheduled_until,
            "an empty window"
        );
    }
    let position = herald::domain::component::parse_position(fields.get("position"));
    if let Ok(draft) = ComponentDraft::parse(
        fields.get("name"),
        Some(fields.get("description")),
        Some(fields.get("group")),
        position.ok().flatten(),
    ) {
        assert_policy("name", &draft.name, TextShape::Line);
        assert_policy("description", &draft.description, TextShape::MultiLine);
        if let Some(group) = &draft.group {
            assert_policy("group", group, TextShape::Line);
        }
        assert!((0..=10_000).contains(&draft.position));
    }
    let edit = RawIncidentEdit {
        name: fields.has("name").then(|| fields.get("name")),
        impact: fields.has("impact").then(|| fields.get("impact")),
        component_ids: fields.has("components").then_some(ids.clone()),
    };
    if let Ok(edit) = IncidentEdit::parse(&edit) {
        if let Some(name) = &edit.name {
            assert_policy("name", name, TextShape::Line);
        }
    }
    let edit = RawUpdateEdit {
        body: fields.has("body").then(|| fields.get("body")),
        display_at: fields.has("display_at").then(|| fields.get("display_at")),
        custom_tweet: fields
            .has("custom_tweet")
            .then(|| fields.get("custom_tweet")),
    };
    if let Ok(edit) = UpdateEdit::parse(&edit, now()) {
        if let Some(body) = &edit.body {
            assert_policy("body", body, TextShape::MultiLine);
        }
    }
    // The public sign-up form's address.
    if let Ok(email) = SubscriberEmail::parse(fields.get("email")) {
        assert_address(&email);
    }
    for (name, value) in &fields.0 {
        if let Ok(t) = parse_time(name, value) {
            assert_time_in_bounds(name, &t);
        }
    }
    // Statuspage's bracket names (`incident[components][1]=major_outage`).
    let _ = herald::web::v1::form::parse_brackets(&fields.0);
}

/// A JSON request body, read by the admin API's strict reader as a map and as typed bodies.
pub fn json_bodies(data: &[u8]) {
    use axum::http::{header, HeaderMap, HeaderValue};
    use herald::web::api::body::read;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Incident {
        name: String,
        status: Option<String>,
        impact: Option<String>,
        body: String,
        components: Option<std::collections::BTreeMap<String, String>>,
        notify: Option<bool>,
        display_at: Option<String>,
        position: Option<i64>,
    }

    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // What a refusal says in its own words names no Rust type. The field it names is the
    // client's own key (with a NUL taken out), and a message may quote what was sent.
    let sent = String::from_utf8_lossy(data);
    let check = |result: Result<(), herald::web::error::ApiError>| {
        let said: Vec<String> = match result {
            Ok(()) => return,
            Err(herald::web::error::ApiError::Invalid(invalid)) => {
                invalid.0.into_iter().map(|e| e.message).collect()
            }
            Err(other) => vec![format!("{other:?}")],
        };
        for shown in said {
            for internal in ["struct ", "enum ", "BTreeMap", "alloc::", "core::"] {
                assert!(
                    !shown.contains(internal) || sent.contains(internal),
                    "refusal names a Rust type: {shown}"
                );
            }
        }
    };
    let as_map = read::<serde_json::Map<String, serde_json::Value>>(&headers, data, None);
    let parsed_object = serde_json::from_slice::<serde_json::Value>(data)
        .map(|v| v.is_object())
        .unwrap_or(false);
    if as_map.is_ok() {
        assert!(
            parsed_object,
            "a body that is not a JSON object was accepted"
        );
    }
    check(as_map.map(|_| ()));
    let typed = read::<Incident>(&headers, data, None);
    if let Ok(incident) = &typed {
        assert!(!incident.name.contains('\0') && !incident.body.contains('\0'));
    }
    check(typed.map(|_| ()));
    // The same bytes sent without the JSON content type are refused, whatever they hold.
    let plain = HeaderMap::new();
    assert!(
        read::<serde_json::Value>(&plain, data, None).is_err(),
        "a body without Content-Type: application/json was accepted"
    );
}

/// The tags of sanitised HTML with their attributes (values entities-decoded), read
/// independently of the tokenizer `linked_hosts` uses. The serialiser escapes every `<` of the
/// text and every `"` of an attribute value, so each `<` opens a tag and each value ends at the
/// next `"`.
fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let decode = |v: &str| {
        v.replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&nbsp;", "\u{A0}")
            .replace("&amp;", "&")
    };
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        let mut tag = &rest[lt + 1..];
        let name_end = tag
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(tag.len());
        let name = tag[..name_end].to_ascii_lowercase();
        tag = &tag[name_end..];
        let mut attributes = Vec::new();
        loop {
            tag = tag.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
            if tag.is_empty() || tag.starts_with('>') {
                break;
            }
            let end = tag
                .find(|c: char| c == '=' || c.is_whitespace() || c == '>')
                .unwrap_or(tag.len());
            let attr = tag[..end].to_ascii_lowercase();
            tag = &tag[end..];
            let mut value = String::new();
            if let Some(after) = tag.strip_prefix("=\"") {
                let close = after.find('"').unwrap_or(after.len());
                value = decode(&after[..close]);
                tag = &after[(close + 1).min(after.len())..];
            }
            attributes.push((attr, value));
        }
        found.push((name, attributes));
        rest = tag;
    }
    found
}

/// The `href` and `src` values in sanitised HTML.
fn attribute_urls(html: &str) -> Vec<String> {
    tags(html)
        .into_iter()
        .flat_map(|(_, attributes)| attributes)
        .filter(|(name, _)| name == "href" || name == "src")
        .map(|(_, value)| value)
        .collect()
}

/// An update body: Markdown rendered for the page and feeds, the email text and plain text.
pub fn markdown(data: &[u8]) {
    let md = text(data);
    let html = to_safe_html(&md, BASE);
    let lower = html.to_lowercase();
    for forbidden in [
        "<script",
        "<iframe",
        "<object",
        "<embed",
        "<style",
        "<form",
        "<svg",
        "javascript:",
        "vbscript:",
        "data:",
    ] {
        // `data:` and the schemes may appear as text; only inside an attribute is it a link.
        if forbidden.ends_with(':') {
            for url in attribute_urls(&html) {
                assert!(
                    !url.trim_start().to_lowercase().starts_with(forbidden),
                    "{forbidden} link in {html:?}"
                );
            }
        } else {
            assert!(!lower.contains(forbidden), "{forbidden} in {html:?}");
        }
    }
    for (tag, attributes) in tags(&html) {
        for (attr, _) in attributes {
            assert!(
                !attr.starts_with("on") && attr != "style",
                "attribute {attr:?} on <{tag}> in {html:?}"
            );
        }
    }
    let hosts = linked_hosts(&md, BASE);
    let base = url::Url::parse(BASE).expect("base");
    // Each link read both ways a reader might: resolved against the page (a browser) and on
    // its own (a mail client or feed reader, which has no base). Links to the page's own host
    // are allowed anyway; every other host must be screened.
    for raw in attribute_urls(&html) {
        for url in [base.join(&raw).ok(), url::Url::parse(&raw).ok()]
            .into_iter()
            .flatten()
        {
            let Some(host) = url.host_str() else { continue };
            let host = host.trim_end_matches('.').to_lowercase();
            // `https:./x` has the host `.`: the root, which names no site.
            if host.is_empty() || host == "status.acme.example" {
                continue;
            }
            assert!(
                hosts.contains(&host),
                "link to {host} in the HTML is not in linked_hosts {hosts:?} (markdown {md:?})"
            );
        }
    }
    let email = to_email_text(&md, BASE);
    for host in hosts_in_text(&email) {
        assert!(
            hosts.contains(&host),
            "the email text links {host}, which linked_hosts {hosts:?} misses (markdown {md:?})"
        );
    }
    // Slack's mrkdwn writes links `<url|text>`; the URL part is what Slack follows.
    let mrkdwn = herald::channels::slack::to_mrkdwn(&md, BASE);
    for link in mrkdwn.split('<').skip(1) {
        // Slack escapes `&`, `<` and `>` in text and links alike, and decodes them.
        let url = link.split(['|', '>']).next().unwrap_or("");
        let url = url
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        if let Some(host) = url::Url::parse(&url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_lowercase))
        {
            let host = host.trim_end_matches('.').to_string();
            assert!(
                host.is_empty() || host == "status.acme.example" || hosts.contains(&host),
                "the Slack text links {host}, which linked_hosts {hosts:?} misses (markdown {md:?})"
            );
        }
    }
    for host in hosts_in_text(&to_plain_text(&md)) {
        assert!(
            hosts.contains(&host),
            "the plain text links {host}, which linked_hosts {hosts:?} misses (markdown {md:?})"
        );
    }
}

fn assert_address(email: &SubscriberEmail) {
    assert_address_for(email, false);
}

/// An accepted address for a relay that does (`international`) or does not announce SMTPUTF8.
fn assert_address_for(email: &SubscriberEmail, international: bool) {
    let address = email.as_str();
    assert!(address.len() <= 254, "{address} is longer than 254 octets");
    if !international {
        assert!(address.is_ascii(), "{address} needs SMTPUTF8");
    }
    let (local, domain) = address.rsplit_once('@').expect("an @");
    assert!(
        domain.is_ascii(),
        "{address}: the domain is kept in punycode"
    );
    assert!(
        local.len() <= 64,
        "{address}: the local part is over 64 octets"
    );
    assert!(
        unicode_normalization::is_nfc(local),
        "{address}: the local part is not in NFC"
    );
    assert!(
        address.parse::<lettre::Address>().is_ok(),
        "accepted {address:?} is refused by the mailer"
    );
    let again = SubscriberEmail::parse_with(address, international)
        .unwrap_or_else(|e| panic!("{address:?} does not parse back: {}", e.message));
    assert_eq!(again.as_str(), address, "parsing is not stable");
    assert_eq!(again.key(), email.key());
    assert_eq!(email.key(), email.key().to_ascii_lowercase());
}

/// A subscriber address from a form or the API, and a CSV file for the import.
pub fn addresses(data: &[u8]) {
    let raw = text(data);
    if let Ok(email) = SubscriberEmail::parse(&raw) {
        assert_address(&email);
    }
    match SubscriberEmail::parse_with(&raw, true) {
        Ok(email) => assert_address_for(&email, true),
        // An address refused for an SMTPUTF8 relay is refused for any relay.
        Err(_) => assert!(SubscriberEmail::parse(&raw).is_err(), "{raw:?}"),
    }
    let (emails, problems) = parse_list(&raw);
    let mut keys = std::collections::HashSet::new();
    for email in &emails {
        assert_address(email);
        assert!(
            keys.insert(email.key()),
            "{} imported twice",
            email.as_str()
        );
    }
    let lines = raw.lines().count();
    for (line, message) in &problems {
        assert!(
            *line >= 1 && *line <= lines,
            "problem on line {line} of {lines}"
        );
        assert!(!message.is_empty());
    }
}

/// A post's text as X counts it, and the default post shortened to fit with its link.
pub fn post_length(data: &[u8]) {
    let raw = text(data);
    let (text, url) = match raw.split_once('\u{1}') {
        Some((t, u)) => (t, u),
        None => (raw.as_ref(), "https://status.acme.example/incidents/7"),
    };
    let length = parse_tweet(text);
    assert!(!length.valid || length.weighted_length <= MAX_WEIGHTED_LENGTH);
    // Offsets are in UTF-16 units, as X's API gives them.
    let units = text.encode_utf16().count();
    for (found, range) in extract_urls(text) {
        assert!(
            range.start < range.end && range.end <= units,
            "URL {found:?} at {range:?} outside the text's {units} units"
        );
        assert!(!found.is_empty());
    }
    if url.is_empty() || url.chars().any(char::is_whitespace) {
        return;
    }
    let fitted = fit_with_link(text, url);
    if fitted != "…" {
        let whole = format!("{fitted} {url}");
        let weighed = parse_tweet(&whole).weighted_length;
        assert!(
            weighed <= MAX_WEIGHTED_LENGTH,
            "shortened post weighs {weighed}: {whole:?}"
        );
    }
    if fitted != text {
        assert!(
            fitted.ends_with('…'),
            "shortened without an ellipsis: {fitted:?}"
        );
        let kept = fitted.trim_end_matches('…');
        assert!(
            text.starts_with(kept),
            "shortening changed the text: {fitted:?}"
        );
    }
}

/// A `herald.toml`, and the values its branding settings take.
pub fn config(data: &[u8]) {
    let raw = text(data);
    // Settings naming files would read whatever the input names; those are left to the
    // configuration tests, which give real files.
    if raw.contains("_file") || raw.contains("data_dir") {
        return;
    }
    if let Ok(config) = herald::config::Config::from_toml(&raw) {
        let public = url::Url::parse(&config.public_url()).expect("a loaded public URL parses");
        assert!(matches!(public.scheme(), "http" | "https"));
        let limits = config.connection_limits(1024);
        let _ = limits;
        let _ = config.pool_settings();
        let _ = config.mail_from();
        let brand = config
            .branding()
            .expect("a loaded configuration has valid branding");
        let _ = brand;
    }
    if let Ok(links) = branding::parse_header_links(&raw) {
        let written = branding::format_header_links(&links);
        let again = branding::parse_header_links(&written)
            .unwrap_or_else(|e| panic!("header links do not read back ({written:?}): {e}"));
        assert_eq!(
            again, links,
            "header links changed on reading back {written:?}"
        );
        for link in &links {
            assert_policy("label", &link.label, TextShape::Line);
        }
    }
    if let Ok(name) = branding::parse_name(&raw) {
        assert_policy("page_name", &name, TextShape::Line);
    }
    if let Ok(footer) = branding::parse_footer(&raw) {
        assert_policy("footer", &footer, TextShape::Line);
    }
    if let Ok(color) = Color::parse(&raw) {
        assert_eq!(Color::parse(&color.hex()).ok(), Some(color));
        let on = |backgrounds: &[&str], c: Color| {
            for bg in backgrounds {
                let bg = Color::parse(bg).expect("background");
                assert!(
                    c.contrast(bg) >= 4.5,
                    "{} on {} is under 4.5:1",
                    c.hex(),
                    bg.hex()
                );
            }
        };
        on(&["#ffffff", "#f6f8fa"], color.for_light());
        on(&["#0f1216", "#171b21"], color.for_dark());
    }
    let _ = herald::security::net::parse_blocks(&raw);
}

/// Signed subscriber links, sealed secrets, TOTP codes and seeds, recovery codes and keys:
/// the first byte picks which, the rest is the text.
pub fn tokens(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let raw = text(rest);
    let master = master();
    match pick % 6 {
        0 => {
            let signer = LinkSigner::new(&master);
            for purpose in ["confirm", "manage", "unsubscribe"] {
                if let Some(id) = signer.verify(purpose, &raw, 1_800_000_000) {
                    // Only the exact text it signed verifies: no other spelling of the numbers.
                    let (_, expires) = raw
                        .split_once('.')
                        .and_then(|(_, r)| r.split_once('.'))
                        .map(|(e, _)| ("", e))
                        .unwrap_or(("", ""));
                    let expires: i64 = expires.parse().expect("verified expiry");
                    assert_eq!(
                        signer.sign(purpose, id, expires),
                        raw,
                        "a token verifies in a form it was not signed in"
                    );
                }
            }
            // A genuine token with a changed character never verifies.
            let token = signer.sign("confirm", 42, 0);
            if raw != token && signer.verify("confirm", &raw, 0).is_some() {
                assert_eq!(raw.len(), token.len(), "forged token {raw:?} verified");
            }
        }
        1 => {
            let sealer = Sealer::new(&master);
            if sealer.open("fuzz", &raw).is_ok() {
                // Only Herald's own output opens: change any character and it no longer does.
                for (at, c) in raw.char_indices().take(96) {
                    let other = if c == 'A' { 'B' } else { 'A' };
                    let mut changed = raw.to_string();
                    changed.replace_range(at..at + c.len_utf8(), other.encode_utf8(&mut [0; 4]));
                    assert!(
                        sealer.open("fuzz", &changed).is_err(),
                        "{raw:?} still opens with character {at} changed: {changed:?}"
                    );
                }
            }
            let sealed = sealer.seal("fuzz", &raw).expect("seal");
            assert_eq!(sealer.open("fuzz", &sealed).as_deref(), Ok(raw.as_ref()));
            assert!(sealer.open("other", &sealed).is_err());
        }
        2 => {
            if let Some(seed) = Seed::from_base32(&raw) {
                let again = Seed::from_base32(&seed.base32()).expect("a seed reads back");
                assert_eq!(again.base32(), seed.base32());
            }
        }
        3 => {
            let seed = Seed::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").expect("seed");
            let now = 1_800_000_000;
            if let Some(step) = seed.verify(&raw, now, 0) {
                let code = seed.code_at_step(step);
                assert_eq!(
                    raw.chars().filter(char::is_ascii_digit).collect::<String>(),
                    code,
                    "{raw:?} verified as step {step}'s code {code}"
                );
            }
        }
        4 => {
            let _ = totp::is_recovery_code(&raw);
            let _ = totp::recovery_digest(&raw);
        }
        _ => {
            if let Some(key) = DigestKey::from_text(&raw) {
                assert_eq!(
                    DigestKey::from_text(&key.to_text()).map(|k| k.to_text()),
                    Some(key.to_text())
                );
            }
        }
    }
}

/// An uploaded logo, favicon or stylesheet.
pub fn branding_files(data: &[u8]) {
    if let Ok(asset) = Asset::image(data) {
        if asset.kind == AssetKind::Svg {
            assert_inert_svg(&asset.bytes);
        }
    }
    let _ = Asset::stylesheet(data);
}

/// An accepted SVG, read by an XML parser that is not the checker's: no script element, no
/// foreign content, no event-handler attribute, and no link out of the file (a reference
/// within it, `#id`, or an embedded PNG or JPEG only), entities decoded as a browser would.
fn assert_inert_svg(bytes: &[u8]) {
    let text = std::str::from_utf8(bytes).expect("an accepted SVG is UTF-8");
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options)
        .unwrap_or_else(|e| panic!("an accepted SVG is not well-formed XML: {e}"));
    for node in doc.descendants().filter(|n| n.is_element()) {
        let name = node.tag_name().name().to_ascii_lowercase();
        assert!(
            !matches!(
                name.as_str(),
                "script" | "foreignobject" | "iframe" | "embed" | "object"
            ),
            "accepted SVG holds <{name}>"
        );
        for attr in node.attributes() {
            let attr_name = attr.name().to_ascii_lowercase();
            assert!(
                !attr_name.starts_with("on"),
                "accepted SVG has an {attr_name} handler"
            );
            if attr_name == "href" || attr_name == "src" {
                let value: String = attr
                    .value()
                    .chars()
                    .filter(|c| !c.is_whitespace() && !c.is_control())
                    .collect::<String>()
                    .to_ascii_lowercase();
                let internal = value.starts_with('#')
                    || value.starts_with("data:image/png;")
                    || value.starts_with("data:image/jpeg;");
                assert!(
                    internal,
                    "accepted SVG links out of the file: {attr_name}={value:?}"
                );
            }
        }
    }
}
