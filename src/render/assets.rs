//! The stylesheet, scripts and icon, compiled into the binary so Herald is one file to deploy.
//! Each is served twice: under its plain name (`/static/style.css`, revalidated on every use,
//! for anything that links to it by that name) and under a name carrying a hash of its bytes
//! (`/static/style.3f2a9c1b7d4e.css`, cached for a year). The public pages link to the hashed
//! names, so a reader never waits on a revalidation for them and a new release's pages fetch
//! the new files at once.

use std::collections::HashMap;
use std::sync::LazyLock;

use sha2::{Digest, Sha256};

use super::{Freshness, PagesBuilder};

struct Asset {
    /// File name under `/static/`.
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: [Asset; 6] = [
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../static/style.css"),
    },
    Asset {
        name: "local-time.js",
        content_type: JS,
        bytes: include_bytes!("../../static/local-time.js"),
    },
    Asset {
        name: "live.js",
        content_type: JS,
        bytes: include_bytes!("../../static/live.js"),
    },
    Asset {
        name: "bars.js",
        content_type: JS,
        bytes: include_bytes!("../../static/bars.js"),
    },
    Asset {
        name: "admin.js",
        content_type: JS,
        bytes: include_bytes!("../../static/admin.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../static/icon.svg"),
    },
];

/// File name → hashed path; computed once from bytes fixed at compile time.
static HASHED: LazyLock<HashMap<&'static str, String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| (a.name, hashed_path(a.name, a.bytes)))
        .collect()
});

/// `style.css` → `/static/style.<first 12 hex digits of its SHA-256>.css`.
fn hashed_path(name: &str, bytes: &[u8]) -> String {
    let hash = &hex::encode(Sha256::digest(bytes))[..12];
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("/static/{stem}.{hash}.{ext}"),
        None => format!("/static/{name}.{hash}"),
    }
}

/// The path templates link to for a static file: its hashed name (the plain one for a name
/// Herald does not ship, which then answers 404 and shows up in tests).
pub fn url(name: &str) -> &'static str {
    match HASHED.get(name) {
        Some(path) => path.as_str(),
        None => "/static/unknown",
    }
}

/// Adds every asset under both names.
pub(crate) fn render(out: &mut PagesBuilder<'_>) {
    for asset in &ASSETS {
        out.add(
            format!("/static/{}", asset.name),
            asset.content_type,
            asset.bytes.to_vec(),
            false,
        );
        out.add_with(
            url(asset.name),
            asset.content_type,
            asset.bytes.to_vec(),
            false,
            Freshness::Immutable,
            false,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_follow_the_bytes() {
        assert_eq!(
            hashed_path("style.css", b"a"),
            "/static/style.ca978112ca1b.css"
        );
        assert_ne!(
            hashed_path("style.css", b"b"),
            hashed_path("style.css", b"a")
        );
        for asset in &ASSETS {
            assert!(url(asset.name).starts_with("/static/"));
            assert_ne!(url(asset.name), format!("/static/{}", asset.name));
        }
        assert_eq!(url("nope.js"), "/static/unknown");
    }
}
