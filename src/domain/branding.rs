//! The page's branding: its name, logos, favicon, accent colour, header links, footer text and
//! extra stylesheet, parsed from configuration or an admin's override. Every value is checked
//! here, by content (an image is a PNG or an SVG because its bytes say so), so what reaches
//! the templates is always well formed.

use std::sync::Arc;

use sha2::{Digest, Sha256};

/// Largest logo or favicon accepted, in bytes.
pub const IMAGE_MAX_BYTES: usize = 256 * 1024;
/// Largest extra stylesheet accepted, in bytes.
pub const CSS_MAX_BYTES: usize = 128 * 1024;
/// Longest page name, in characters.
pub const NAME_MAX_CHARS: usize = 100;
/// Longest footer text, in characters.
pub const FOOTER_MAX_CHARS: usize = 500;
/// Most header links.
pub const LINKS_MAX: usize = 6;
/// Longest header link label, in characters.
pub const LINK_LABEL_MAX_CHARS: usize = 40;

/// What kind of file a branding asset is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetKind {
    Svg,
    Png,
    Css,
}

impl AssetKind {
    pub fn content_type(self) -> &'static str {
        match self {
            AssetKind::Svg => "image/svg+xml",
            AssetKind::Png => "image/png",
            AssetKind::Css => "text/css; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            AssetKind::Svg => "svg",
            AssetKind::Png => "png",
            AssetKind::Css => "css",
        }
    }
}

/// A checked file: its kind, bytes and content hash (which names it in URLs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    pub kind: AssetKind,
    pub bytes: Arc<[u8]>,
    /// The first 16 hex digits of the SHA-256 of the bytes.
    pub hash: String,
}

impl Asset {
    fn new(kind: AssetKind, bytes: &[u8]) -> Asset {
        Asset {
            kind,
            bytes: Arc::from(bytes),
            hash: hex::encode(Sha256::digest(bytes))[..16].to_string(),
        }
    }

    /// A logo or favicon: a PNG or an SVG, told apart by content, at most
    /// [`IMAGE_MAX_BYTES`].
    pub fn image(bytes: &[u8]) -> Result<Asset, String> {
        if bytes.is_empty() {
            return Err("the file is empty".into());
        }
        if bytes.len() > IMAGE_MAX_BYTES {
            return Err(format!(
                "the file is {} KiB; at most {} KiB is accepted",
                bytes.len().div_ceil(1024),
                IMAGE_MAX_BYTES / 1024
            ));
        }
        if is_png(bytes) {
            return Ok(Asset::new(AssetKind::Png, bytes));
        }
        check_svg(bytes)?;
        Ok(Asset::new(AssetKind::Svg, bytes))
    }

    /// An extra stylesheet: UTF-8 text, at most [`CSS_MAX_BYTES`].
    pub fn stylesheet(bytes: &[u8]) -> Result<Asset, String> {
        if bytes.len() > CSS_MAX_BYTES {
            return Err(format!(
                "the stylesheet is {} KiB; at most {} KiB is accepted",
                bytes.len().div_ceil(1024),
                CSS_MAX_BYTES / 1024
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| "the stylesheet is not UTF-8 text")?;
        if text.contains('\0') {
            return Err("the stylesheet holds a NUL byte: it is not a stylesheet".into());
        }
        Ok(Asset::new(AssetKind::Css, bytes))
    }

    /// The path the page cache serves it at: `/brand/{stem}-{hash}.{ext}`.
    pub fn path(&self, stem: &str) -> String {
        format!("/brand/{stem}-{}.{}", self.hash, self.kind.extension())
    }
}

fn is_png(bytes: &[u8]) -> bool {
    // The signature, then the IHDR chunk every PNG starts with (RFC 2083 §3.1, §4.1.1).
    bytes.len() > 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR"
}

/// An SVG document: UTF-8 whose first element (after an XML declaration, comments and a
/// doctype without an internal subset) is `<svg`, in the SVG namespace, with no script, entity
/// or foreign content. Browsers never run an SVG's script when it is an `<img>`, and Herald
/// serves SVGs sandboxed besides; refusing them keeps the file honest when opened directly.
fn check_svg(bytes: &[u8]) -> Result<(), String> {
    let not_image = "the file is neither a PNG nor an SVG image";
    let text = std::str::from_utf8(bytes).map_err(|_| not_image.to_string())?;
    let mut rest = text.trim_start_matches('\u{feff}').trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("<?xml") {
            rest = after.split_once("?>").ok_or(not_image)?.1.trim_start();
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.split_once("-->").ok_or(not_image)?.1.trim_start();
        } else if rest.starts_with("<!DOCTYPE") || rest.starts_with("<!doctype") {
            let (doctype, after) = rest.split_once('>').ok_or(not_image)?;
            if doctype.contains('[') {
                return Err(
                    "the SVG declares entities (a DOCTYPE with an internal subset); remove them"
                        .into(),
                );
            }
            rest = after.trim_start();
        } else {
            break;
        }
    }
    let opens_svg = rest
        .strip_prefix("<svg")
        .and_then(|r| r.chars().next())
        .is_some_and(|c| c.is_whitespace() || c == '>' || c == '/');
    if !opens_svg || !rest.contains("http://www.w3.org/2000/svg") {
        return Err(not_image.into());
    }
    let lower = text.to_ascii_lowercase();
    for (needle, what) in [
        ("<script", "a script"),
        ("<!entity", "an entity declaration"),
        ("<foreignobject", "foreign (HTML) content"),
        ("javascript:", "a javascript: link"),
    ] {
        if lower.contains(needle) {
            return Err(format!("the SVG holds {what}; a logo may not"));
        }
    }
    check_svg_tree(text)
}

/// The SVG read as XML, the way a browser reads it (character references decoded): the root is
/// `<svg>` in the SVG namespace, and no element or attribute can run script or reach outside
/// the file. Text checks alone miss `&#106;avascript:` and `onload=`.
fn check_svg_tree(text: &str) -> Result<(), String> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| format!("the SVG is not well-formed XML ({e})"))?;
    let root = doc.root_element();
    if !root.tag_name().name().eq_ignore_ascii_case("svg")
        || root.tag_name().namespace() != Some("http://www.w3.org/2000/svg")
    {
        return Err("the file is neither a PNG nor an SVG image".into());
    }
    let refuse = |what: String| Err(format!("the SVG holds {what}; a logo may not"));
    for node in doc.descendants().filter(roxmltree::Node::is_element) {
        let name = node.tag_name().name().to_ascii_lowercase();
        match name.as_str() {
            "script" => return refuse("a script".into()),
            "foreignobject" | "iframe" | "embed" | "object" => {
                return refuse("foreign (HTML) content".into())
            }
            _ => {}
        }
        for attr in node.attributes() {
            let attr_name = attr.name().to_ascii_lowercase();
            if attr_name.starts_with("on") {
                return refuse(format!("an event handler ({}=…)", attr.name()));
            }
            let value = attr.value().to_ascii_lowercase();
            if attr_name == "attributename" && value.trim().ends_with("href") {
                return refuse("an animation that changes a link".into());
            }
            if matches!(attr_name.as_str(), "href" | "src") && !is_internal_reference(&value) {
                return Err(format!(
                    "the SVG holds a link out of the file ({}=\"{}\"); a logo may only refer to \
                     its own parts (#id) or embed a PNG or JPEG",
                    attr.name(),
                    attr.value().chars().take(60).collect::<String>()
                ));
            }
        }
    }
    Ok(())
}

/// A reference a logo may make: to its own parts (`#id`), or an embedded PNG or JPEG.
fn is_internal_reference(value: &str) -> bool {
    let value: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect();
    value.starts_with('#')
        || value.starts_with("data:image/png;")
        || value.starts_with("data:image/jpeg;")
}

/// An sRGB colour written `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

/// The page's backgrounds the accent must stand out on: the page and its cards, light and dark
/// (as `static/style.css` defines `--bg` and `--card`).
const LIGHT_BACKGROUNDS: [Color; 2] = [Color::rgb(0xff, 0xff, 0xff), Color::rgb(0xf6, 0xf8, 0xfa)];
const DARK_BACKGROUNDS: [Color; 2] = [Color::rgb(0x0f, 0x12, 0x16), Color::rgb(0x17, 0x1b, 0x21)];
/// WCAG 2.x AA for normal text.
const READABLE: f64 = 4.5;

impl Color {
    pub const fn rgb(r: u8, g: u8, b: u8) -> Color {
        Color { r, g, b }
    }

    /// `#rrggbb` (six hex digits, either case), and nothing else.
    pub fn parse(text: &str) -> Result<Color, String> {
        let hex = text
            .strip_prefix('#')
            .filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                format!("\"{text}\" is not a colour written #rrggbb (such as #0a66c2)")
            })?;
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
        Ok(Color::rgb(byte(0), byte(2), byte(4)))
    }

    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }

    /// WCAG relative luminance.
    pub fn luminance(self) -> f64 {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(self.r) + 0.7152 * channel(self.g) + 0.0722 * channel(self.b)
    }

    /// WCAG contrast ratio, 1 to 21.
    pub fn contrast(self, other: Color) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    fn mix(self, toward: Color, amount: f64) -> Color {
        let m =
            |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * amount).round() as u8;
        Color::rgb(
            m(self.r, toward.r),
            m(self.g, toward.g),
            m(self.b, toward.b),
        )
    }

    /// Black or white, whichever reads better on this colour (text on an accent background).
    pub fn readable_text(self) -> Color {
        let (black, white) = (Color::rgb(0, 0, 0), Color::rgb(0xff, 0xff, 0xff));
        if self.contrast(white) >= self.contrast(black) {
            white
        } else {
            black
        }
    }

    /// This colour, darkened (or, on dark backgrounds, lightened) just enough to read as text
    /// on every one of `backgrounds` (WCAG AA, 4.5:1).
    fn readable_on(self, backgrounds: &[Color], toward: Color) -> Color {
        (0..=20)
            .map(|step| self.mix(toward, f64::from(step) / 20.0))
            .find(|c| backgrounds.iter().all(|bg| c.contrast(*bg) >= READABLE))
            .unwrap_or(toward)
    }

    /// The accent as link and button colour on the light page.
    pub fn for_light(self) -> Color {
        self.readable_on(&LIGHT_BACKGROUNDS, Color::rgb(0, 0, 0))
    }

    /// The accent as link and button colour on the dark page.
    pub fn for_dark(self) -> Color {
        self.readable_on(&DARK_BACKGROUNDS, Color::rgb(0xff, 0xff, 0xff))
    }
}

/// A link in the page header, such as the company's site or its support page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderLink {
    pub label: String,
    /// An absolute `http` or `https` URL.
    pub url: String,
}

/// `Label=URL, Label=URL`: at most [`LINKS_MAX`], each an `http(s)` URL without credentials.
/// A comma inside a URL is written `%2C`. Empty text is no links.
pub fn parse_header_links(text: &str) -> Result<Vec<HeaderLink>, String> {
    let mut links = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (label, url) = item
            .split_once('=')
            .ok_or_else(|| format!("\"{item}\" is not written Label=URL"))?;
        let label = label.trim();
        if label.is_empty() || label.chars().count() > LINK_LABEL_MAX_CHARS {
            return Err(format!(
                "the label of \"{item}\" must be 1 to {LINK_LABEL_MAX_CHARS} characters"
            ));
        }
        if let Err(e) = super::check_text("label", label, super::TextShape::Line) {
            return Err(format!("the label of \"{item}\" {}", e.message));
        }
        let url = url.trim();
        let parsed = url::Url::parse(url)
            .map_err(|e| format!("the URL of \"{label}\" ({url}) is not valid: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(format!(
                "the URL of \"{label}\" must start with https:// or http:// and name a host"
            ));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(format!(
                "the URL of \"{label}\" may not carry a user name or password"
            ));
        }
        // The URL as it will be written back must read back the same: the URL parser quietly
        // drops line breaks and decodes `%2C` in a host into a comma, which splits the list.
        let written = parsed.to_string();
        let reads_back = url::Url::parse(&written).is_ok_and(|again| again == parsed);
        if url.chars().any(char::is_control) || written.contains(',') || !reads_back {
            return Err(format!(
                "the URL of \"{label}\" ({url}) is not valid: write it as a plain https:// address"
            ));
        }
        links.push(HeaderLink {
            label: label.to_string(),
            url: written,
        });
    }
    if links.len() > LINKS_MAX {
        return Err(format!(
            "{} links given; at most {LINKS_MAX} fit in the header",
            links.len()
        ));
    }
    Ok(links)
}

/// Header links written back as `Label=URL, Label=URL`.
pub fn format_header_links(links: &[HeaderLink]) -> String {
    links
        .iter()
        .map(|l| format!("{}={}", l.label, l.url))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The page name: 1 to [`NAME_MAX_CHARS`] characters, no control characters.
pub fn parse_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        return Err("the page name must not be empty".into());
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(format!(
            "the page name is longer than {NAME_MAX_CHARS} characters"
        ));
    }
    super::check_text("page_name", name, super::TextShape::Line)
        .map_err(|e| format!("the page name {}", e.message))?;
    Ok(name.to_string())
}

/// Footer text: plain text (shown as written, never as HTML), at most
/// [`FOOTER_MAX_CHARS`], on one line.
pub fn parse_footer(text: &str) -> Result<String, String> {
    let footer = text.trim();
    if footer.chars().count() > FOOTER_MAX_CHARS {
        return Err(format!(
            "the footer text is longer than {FOOTER_MAX_CHARS} characters"
        ));
    }
    super::check_text("footer_text", footer, super::TextShape::Line)
        .map_err(|e| format!("the footer text {}", e.message))?;
    Ok(footer.to_string())
}

/// The page's branding in effect.
#[derive(Debug, Clone, PartialEq)]
pub struct Branding {
    pub name: String,
    pub logo: Option<Asset>,
    /// Shown instead of `logo` when the reader's system is in dark mode.
    pub logo_dark: Option<Asset>,
    pub favicon: Option<Asset>,
    pub accent: Option<Color>,
    pub header_links: Vec<HeaderLink>,
    pub footer_text: String,
    pub extra_css: Option<Asset>,
}

impl Branding {
    /// Just a name: the default look.
    pub fn named(name: &str) -> Branding {
        Branding {
            name: name.to_string(),
            logo: None,
            logo_dark: None,
            favicon: None,
            accent: None,
            header_links: Vec::new(),
            footer_text: String::new(),
            extra_css: None,
        }
    }

    /// This branding with an admin's overrides on top: each value set there wins.
    pub fn with(&self, o: &BrandingOverrides) -> Branding {
        let mut b = self.clone();
        if let Some(name) = &o.name {
            b.name = name.clone();
        }
        if let Some(accent) = o.accent {
            b.accent = Some(accent);
        }
        if let Some(links) = &o.header_links {
            b.header_links = links.clone();
        }
        if let Some(footer) = &o.footer_text {
            b.footer_text = footer.clone();
        }
        if let Some(logo) = &o.logo {
            b.logo = Some(logo.clone());
            // A dark logo configured for another logo would not match the new one.
            if o.logo_dark.is_none() {
                b.logo_dark = None;
            }
        }
        if let Some(logo) = &o.logo_dark {
            b.logo_dark = Some(logo.clone());
        }
        if let Some(icon) = &o.favicon {
            b.favicon = Some(icon.clone());
        }
        b
    }
}

/// What an admin set over the configuration; `None` keeps the configured value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrandingOverrides {
    pub name: Option<String>,
    pub accent: Option<Color>,
    pub header_links: Option<Vec<HeaderLink>>,
    pub footer_text: Option<String>,
    pub logo: Option<Asset>,
    pub logo_dark: Option<Asset>,
    pub favicon: Option<Asset>,
}

impl BrandingOverrides {
    pub fn is_empty(&self) -> bool {
        *self == BrandingOverrides::default()
    }
}

/// The admin's overrides as stored: text as written, images as uploaded. `None` keeps the
/// configured value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrandingColumns {
    pub page_name: Option<String>,
    pub accent_color: Option<String>,
    pub header_links: Option<String>,
    pub footer_text: Option<String>,
    pub logo: Option<Vec<u8>>,
    pub logo_dark: Option<Vec<u8>>,
    pub favicon: Option<Vec<u8>>,
}

impl BrandingColumns {
    pub fn is_empty(&self) -> bool {
        *self == BrandingColumns::default()
    }

    /// The overrides these columns set, each checked; every bad one is named.
    pub fn overrides(&self) -> Result<BrandingOverrides, super::Invalid> {
        let mut errors = Vec::new();
        let mut check = |field: &str, result: Result<(), String>| {
            if let Err(e) = result {
                errors.push(super::FieldError::new(field, e));
            }
        };
        let mut o = BrandingOverrides::default();
        if let Some(v) = &self.page_name {
            check("page_name", parse_name(v).map(|v| o.name = Some(v)));
        }
        if let Some(v) = &self.accent_color {
            check(
                "accent_color",
                Color::parse(v.trim()).map(|v| o.accent = Some(v)),
            );
        }
        if let Some(v) = &self.header_links {
            check(
                "header_links",
                parse_header_links(v).map(|v| o.header_links = Some(v)),
            );
        }
        if let Some(v) = &self.footer_text {
            check(
                "footer_text",
                parse_footer(v).map(|v| o.footer_text = Some(v)),
            );
        }
        for (field, bytes, slot) in [
            ("logo", &self.logo, &mut o.logo),
            ("logo_dark", &self.logo_dark, &mut o.logo_dark),
            ("favicon", &self.favicon, &mut o.favicon),
        ] {
            if let Some(bytes) = bytes {
                check(field, Asset::image(bytes).map(|a| *slot = Some(a)));
            }
        }
        if errors.is_empty() {
            Ok(o)
        } else {
            Err(super::Invalid(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVG: &str = r#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10"/></svg>"#;

    fn png() -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        bytes.extend([0u8; 20]);
        bytes
    }

    #[test]
    fn images_are_told_apart_by_content_and_hashed() {
        let svg = Asset::image(SVG.as_bytes()).unwrap();
        assert_eq!(svg.kind, AssetKind::Svg);
        assert_eq!(svg.hash.len(), 16);
        assert_eq!(svg.path("logo"), format!("/brand/logo-{}.svg", svg.hash));
        assert_eq!(Asset::image(&png()).unwrap().kind, AssetKind::Png);
    }

    #[test]
    fn files_that_are_not_logos_are_refused_with_a_reason() {
        for (bytes, says) in [
            (b"GIF89a....".to_vec(), "neither a PNG nor an SVG"),
            (
                b"<html><body>hi</body></html>".to_vec(),
                "neither a PNG nor an SVG",
            ),
            (Vec::new(), "empty"),
            (vec![b' '; IMAGE_MAX_BYTES + 1], "at most 256 KiB"),
            (
                SVG.replace("<rect", "<script>alert(1)</script><rect")
                    .into_bytes(),
                "a script",
            ),
            (
                format!("<!DOCTYPE svg [<!ENTITY a \"b\">]>{SVG}").into_bytes(),
                "entities",
            ),
            (
                SVG.replace(
                    "<rect width",
                    "<a href=\"javascript:alert(1)\"/><rect width",
                )
                .into_bytes(),
                "javascript:",
            ),
            // Found by the branding_files fuzz target: what only an XML reading catches.
            (
                SVG.replace("<rect", "<rect onload=\"alert(1)\"")
                    .into_bytes(),
                "an event handler (onload=…)",
            ),
            (
                SVG.replace("<rect", "<a href=\"&#106;avascript:alert(1)\"/><rect")
                    .into_bytes(),
                "a link out of the file",
            ),
            (
                SVG.replace("<rect", "<image href=\"https://evil.example/t.png\"/><rect")
                    .into_bytes(),
                "a link out of the file",
            ),
            (
                SVG.replace("<rect", "<set attributeName=\"href\" to=\"x\"/><rect")
                    .into_bytes(),
                "an animation that changes a link",
            ),
            (
                SVG.replace("</svg>", "").into_bytes(),
                "not well-formed XML",
            ),
        ] {
            let err = Asset::image(&bytes).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
        assert!(Asset::stylesheet(&[0xff, 0xfe])
            .unwrap_err()
            .contains("UTF-8"));
    }

    #[test]
    fn colours_are_hash_and_six_hex_digits_only() {
        assert_eq!(Color::parse("#0A66C2").unwrap().hex(), "#0a66c2");
        for bad in [
            "0a66c2",
            "#0a66c",
            "#0a66c2f",
            "#ggg000",
            "red",
            "rgb(1,2,3)",
            "",
        ] {
            assert!(Color::parse(bad).unwrap_err().contains("#rrggbb"), "{bad}");
        }
    }

    #[test]
    fn an_accent_used_as_text_keeps_aa_contrast_in_light_and_dark() {
        for hex in [
            "#ffff00", "#0a66c2", "#111111", "#ff6600", "#00ff00", "#ffffff", "#000000",
        ] {
            let accent = Color::parse(hex).unwrap();
            for bg in LIGHT_BACKGROUNDS {
                assert!(accent.for_light().contrast(bg) >= 4.5, "{hex} light");
            }
            for bg in DARK_BACKGROUNDS {
                assert!(accent.for_dark().contrast(bg) >= 4.5, "{hex} dark");
            }
            assert!(
                accent.contrast(accent.readable_text()) >= 4.5,
                "{hex} label"
            );
        }
        // A colour that already reads well is kept as it is.
        let dark_blue = Color::parse("#0550ae").unwrap();
        assert_eq!(dark_blue.for_light(), dark_blue);
    }

    #[test]
    fn header_links_are_label_equals_http_url() {
        let links = parse_header_links(
            "Acme=https://acme.example, Support = https://help.acme.example/x?a=b",
        )
        .unwrap();
        assert_eq!(links.len(), 2);
        assert_eq!(links[1].label, "Support");
        assert_eq!(links[1].url, "https://help.acme.example/x?a=b");
        assert_eq!(parse_header_links(" ").unwrap(), Vec::new());
        for (bad, says) in [
            ("Acme", "Label=URL"),
            ("=https://acme.example", "1 to 40"),
            ("Acme=javascript:alert(1)", "https://"),
            ("Acme=ftp://acme.example", "https://"),
            ("Acme=acme.example", "not valid"),
            ("Acme=https://user:pw@acme.example", "user name"),
            // Found by the config fuzz target: URLs that do not read back as written.
            ("Docs=https:/%2C/docs.acme.example", "not valid"),
            ("Docs=https://docs\n.acme.example", "not valid"),
            ("a=https://a.example,b=https://a.example,c=https://a.example,d=https://a.example,e=https://a.example,f=https://a.example,g=https://a.example", "at most 6"),
        ] {
            let err = parse_header_links(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn names_and_footers_are_checked() {
        assert_eq!(parse_name("  Acme Status ").unwrap(), "Acme Status");
        assert!(parse_name(" ").is_err());
        assert!(parse_name(&"x".repeat(101)).is_err());
        assert!(parse_name("a\nb").is_err());
        assert_eq!(parse_footer("© Acme Inc.").unwrap(), "© Acme Inc.");
        assert!(parse_footer("a\nb").is_err());
        assert!(parse_footer(&"x".repeat(501)).is_err());
    }

    #[test]
    fn overrides_win_and_a_new_logo_drops_the_configured_dark_one() {
        let svg = Asset::image(SVG.as_bytes()).unwrap();
        let base = Branding {
            logo: Some(svg.clone()),
            logo_dark: Some(svg.clone()),
            footer_text: "configured".into(),
            ..Branding::named("Configured")
        };
        let o = BrandingOverrides {
            name: Some("Admin's".into()),
            logo: Some(Asset::image(&png()).unwrap()),
            ..Default::default()
        };
        let b = base.with(&o);
        assert_eq!(b.name, "Admin's");
        assert_eq!(b.footer_text, "configured");
        assert_eq!(b.logo.unwrap().kind, AssetKind::Png);
        assert!(b.logo_dark.is_none());
        assert!(BrandingOverrides::default().is_empty());
    }
}
