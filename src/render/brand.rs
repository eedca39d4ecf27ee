//! The page's branding as the public pages serve it. The content security policy forbids inline
//! style and other origins, so everything is a file of Herald's own: logos, favicon and the
//! extra stylesheet under content-hashed paths (`/brand/logo-<hash>.svg`, cached for a year,
//! as a changed file gets a new path), and the accent colour as a generated stylesheet of
//! custom properties. SVGs carry a policy of their own, so one opened directly runs no script.

use super::body::Freshness;
use super::{PagesBuilder, Site};
use crate::domain::branding::{Asset, AssetKind, Branding, HeaderLink};

/// The branding as the templates, the banner and the emails use it.
#[derive(Debug, Clone, PartialEq)]
pub struct Brand {
    pub branding: Branding,
    /// Path of the logo, and of the dark-mode logo.
    pub logo: Option<String>,
    pub logo_dark: Option<String>,
    /// Path and type of the favicon.
    pub favicon: Option<(String, &'static str)>,
    /// Path of the generated stylesheet carrying the accent colour.
    pub theme_css: Option<String>,
    /// Path of the configured extra stylesheet.
    pub extra_css: Option<String>,
    /// The accent colour, `#rrggbb`, and the colour of text on it.
    pub accent: Option<String>,
    pub on_accent: Option<String>,
    /// The accent where it is text on the light page (darkened to AA contrast if need be).
    pub accent_text: Option<String>,
}

impl Brand {
    pub fn new(branding: Branding) -> Brand {
        let theme = theme_css(&branding);
        Brand {
            logo: branding.logo.as_ref().map(|a| a.path("logo")),
            logo_dark: branding.logo_dark.as_ref().map(|a| a.path("logo-dark")),
            favicon: branding
                .favicon
                .as_ref()
                .map(|a| (a.path("favicon"), a.kind.content_type())),
            theme_css: theme.map(|css| css_path("theme", &css)),
            extra_css: branding.extra_css.as_ref().map(|a| a.path("extra")),
            accent: branding.accent.map(|c| c.hex()),
            on_accent: branding.accent.map(|c| c.readable_text().hex()),
            accent_text: branding.accent.map(|c| c.for_light().hex()),
            branding,
        }
    }

    pub fn header_links(&self) -> &[HeaderLink] {
        &self.branding.header_links
    }

    pub fn footer_text(&self) -> &str {
        &self.branding.footer_text
    }

    /// The logo mail clients can show (a PNG: most do not show SVG), as a path.
    pub fn email_logo(&self) -> Option<String> {
        self.branding
            .logo
            .as_ref()
            .filter(|a| a.kind == AssetKind::Png)
            .map(|a| a.path("logo"))
    }
}

/// The stylesheet that carries the accent colour: links and buttons in a readable shade of it
/// (light and dark), and a stripe of the colour itself above the header.
fn theme_css(branding: &Branding) -> Option<String> {
    let accent = branding.accent?;
    Some(format!(
        ":root {{ --accent: {}; --on-accent: {}; --link: {}; }}\n\
         @media (prefers-color-scheme: dark) {{ :root {{ --link: {}; }} }}\n\
         header.site {{ border-top: .25rem solid var(--accent); }}\n",
        accent.hex(),
        accent.readable_text().hex(),
        accent.for_light().hex(),
        accent.for_dark().hex(),
    ))
}

fn css_path(stem: &str, css: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "/brand/{stem}-{}.css",
        &hex::encode(Sha256::digest(css.as_bytes()))[..16]
    )
}

/// Adds the branding's files to the page cache.
pub(crate) fn render(site: &Site, out: &mut PagesBuilder<'_>) {
    let brand = &site.brand;
    let b = &brand.branding;
    let assets: [(&Option<String>, &Option<Asset>); 3] = [
        (&brand.logo, &b.logo),
        (&brand.logo_dark, &b.logo_dark),
        (&brand.extra_css, &b.extra_css),
    ];
    for (path, asset) in assets {
        if let (Some(path), Some(asset)) = (path, asset) {
            add(out, path, asset.kind, asset.bytes.to_vec());
        }
    }
    if let (Some((path, _)), Some(asset)) = (&brand.favicon, &b.favicon) {
        add(out, path, asset.kind, asset.bytes.to_vec());
    }
    if let (Some(path), Some(css)) = (&brand.theme_css, theme_css(b)) {
        add(out, path, AssetKind::Css, css.into_bytes());
    }
}

/// One immutable file (SVGs get their own content security policy from `body`).
fn add(out: &mut PagesBuilder<'_>, path: &str, kind: AssetKind, bytes: Vec<u8>) {
    out.add_with(
        path,
        kind.content_type(),
        bytes,
        false,
        Freshness::Immutable,
        false,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::branding::Color;

    #[test]
    fn the_theme_stylesheet_carries_readable_accents_and_its_path_follows_its_content() {
        let b = Branding {
            accent: Some(Color::parse("#ffcc00").unwrap()),
            ..Branding::named("Acme")
        };
        let brand = Brand::new(b.clone());
        let css = theme_css(&b).unwrap();
        assert!(css.contains("--accent: #ffcc00"), "{css}");
        assert!(css.contains("--on-accent: #000000"), "{css}");
        let light = Color::parse("#ffcc00").unwrap().for_light().hex();
        assert_ne!(
            light, "#ffcc00",
            "yellow is darkened where it is text on white"
        );
        assert!(css.contains(&format!("--link: {light}; }}")), "{css}");
        assert!(
            css.contains("{ --link: #ffcc00; }"),
            "and kept on the dark page: {css}"
        );
        let path = brand.theme_css.unwrap();
        assert!(path.starts_with("/brand/theme-") && path.ends_with(".css"));
        let other = Brand::new(Branding {
            accent: Some(Color::parse("#0a66c2").unwrap()),
            ..Branding::named("Acme")
        });
        assert_ne!(other.theme_css.unwrap(), path);
        assert!(Brand::new(Branding::named("Acme")).theme_css.is_none());
    }
}
