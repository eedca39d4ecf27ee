//! One public response body, rendered once and served many times: the bytes, their ETag,
//! gzip and brotli copies, and each copy's response headers, built once so that a request only
//! clones them. The copies are made off the request path: for bodies many read, by a background
//! task right after a render ([`CachedBody::warm`]; until it is done such a body goes out
//! uncompressed, never late), and for the long tail (an incident's page, a month of history) on
//! the first request that asks for one.

use std::io::Write;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

/// Bodies smaller than this are sent as they are; compressing them saves nothing.
const COMPRESS_FROM: usize = 256;

/// Bodies larger than this (all uptime of hundreds of components, say) are compressed at a
/// lower setting: a few percent larger, several times faster, so a change is not followed by
/// seconds of compression.
const LARGE_BODY: usize = 256 * 1024;

/// How long browsers and shared caches (CDNs) may use a body before asking Herald again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Pages people read (HTML) and assets under their plain names: kept, but revalidated with
    /// the ETag on every use (`no-cache`), so a reload right after a change shows it; when
    /// nothing changed the answer is a `304` built from prebuilt headers.
    Revalidate,
    /// Bodies that tools and other sites poll (JSON, feeds, banner, badges, calendar): a few
    /// seconds, so a CDN absorbs a crowd, yet nothing is older than that.
    Brief,
    /// A static asset under a name carrying the hash of its bytes: a new version gets a new
    /// name, so this one never changes and is kept for a year.
    Immutable,
}

impl Freshness {
    /// The `Cache-Control` value of this policy.
    pub fn cache_control(self) -> HeaderValue {
        match self {
            Freshness::Revalidate => HeaderValue::from_static("public, no-cache"),
            Freshness::Brief => HeaderValue::from_static("public, max-age=5"),
            Freshness::Immutable => HeaderValue::from_static("public, max-age=31536000, immutable"),
        }
    }

    /// The policy a body of this type gets unless told otherwise: HTML revalidates, the rest
    /// is brief.
    pub fn for_type(content_type: &str) -> Freshness {
        if content_type.starts_with("text/html") {
            Freshness::Revalidate
        } else {
            Freshness::Brief
        }
    }
}

/// `Content-Security-Policy` of public HTML pages.
const PUBLIC_CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
);
/// `Content-Security-Policy` of SVG images (badges, the icon, logos): opened on their own, they
/// run no script, load nothing and get an opaque origin; a logo's own inline styles still apply.
const SVG_CSP: HeaderValue =
    HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox");
/// Pages are never framed by another site (clickjacking); `X-Frame-Options` for browsers that
/// predate `frame-ancestors`.
const DENY_FRAMING: HeaderValue = HeaderValue::from_static("DENY");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const REFERRER: HeaderValue = HeaderValue::from_static("strict-origin-when-cross-origin");
const VARY: HeaderValue = HeaderValue::from_static("Accept-Encoding");
const ANY_ORIGIN: HeaderValue = HeaderValue::from_static("*");

/// One encoding of a body, with its own ETag: a strong ETag names exact bytes, so the gzip
/// and brotli copies each get theirs (RFC 9110 §8.8.3).
#[derive(Debug)]
pub struct Variant {
    pub bytes: Bytes,
    /// Quoted strong ETag, e.g. `"3f2a…-br"`.
    pub etag: String,
    /// The headers of a response carrying these bytes (200, or 404 for the not-found page):
    /// type, encoding, ETag, caching, CORS and CSP as the body needs. Not HSTS, which depends on
    /// how Herald is reached and is added per response.
    pub headers: HeaderMap,
    /// The headers of a `304 Not Modified` for these bytes: the same less the type and encoding.
    pub not_modified: HeaderMap,
}

impl Variant {
    fn new(
        bytes: Bytes,
        tag: &str,
        suffix: &str,
        encoding: Option<&'static str>,
        content_type: &'static str,
        cors: bool,
        freshness: Freshness,
    ) -> Variant {
        let etag = format!("\"{tag}{suffix}\"");
        let mut not_modified = HeaderMap::with_capacity(8);
        not_modified.insert(
            header::ETAG,
            HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\"")),
        );
        not_modified.insert(header::CACHE_CONTROL, freshness.cache_control());
        not_modified.insert(header::VARY, VARY);
        not_modified.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
        not_modified.insert(header::REFERRER_POLICY, REFERRER);
        if cors {
            not_modified.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
        }
        if content_type.starts_with("text/html") {
            not_modified.insert(header::CONTENT_SECURITY_POLICY, PUBLIC_CSP);
            not_modified.insert(header::X_FRAME_OPTIONS, DENY_FRAMING);
        } else if content_type.starts_with("image/svg+xml") {
            not_modified.insert(header::CONTENT_SECURITY_POLICY, SVG_CSP);
        }
        let mut headers = HeaderMap::with_capacity(not_modified.len() + 3);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Some(encoding) = encoding {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        headers.extend(not_modified.clone());
        Variant {
            etag,
            bytes,
            headers,
            not_modified,
        }
    }
}

#[derive(Debug)]
pub struct CachedBody {
    pub content_type: &'static str,
    pub identity: Variant,
    /// The compressed copies, made by [`CachedBody::warm`] (in the background after a render)
    /// or, for a body made `on_request`, by the first request that asks for one.
    gzip: std::sync::OnceLock<Option<Variant>>,
    brotli: std::sync::OnceLock<Option<Variant>>,
    /// The identity ETag the compressed copies' tags are made from.
    tag: String,
    /// Compressed by the first request that asks (the long tail), rather than by `warm`.
    on_request: bool,
    /// Readable from any origin (JSON API, banner, feeds).
    pub cors: bool,
    pub freshness: Freshness,
}

impl CachedBody {
    /// A body cached as its type asks (see [`Freshness::for_type`]).
    pub fn new(content_type: &'static str, body: impl Into<Bytes>, cors: bool) -> CachedBody {
        CachedBody::with_freshness(content_type, body, cors, Freshness::for_type(content_type))
    }

    pub fn with_freshness(
        content_type: &'static str,
        body: impl Into<Bytes>,
        cors: bool,
        freshness: Freshness,
    ) -> CachedBody {
        let body = CachedBody::deferred(content_type, body, cors, freshness, false);
        body.warm();
        body
    }

    /// A body whose compressed copies are not made yet. With `on_request` the first request
    /// that asks makes them: for the long tail (an incident's page, a month of history) that
    /// few readers fetch, so a render of thousands of them costs no compression and no memory
    /// until they are read. Otherwise [`CachedBody::warm`] makes them, and until it has a
    /// request gets the body uncompressed.
    pub fn deferred(
        content_type: &'static str,
        body: impl Into<Bytes>,
        cors: bool,
        freshness: Freshness,
        on_request: bool,
    ) -> CachedBody {
        let identity: Bytes = body.into();
        let tag = hex::encode(Sha256::digest(&identity))[..24].to_string();
        CachedBody {
            content_type,
            identity: Variant::new(identity, &tag, "", None, content_type, cors, freshness),
            gzip: std::sync::OnceLock::new(),
            brotli: std::sync::OnceLock::new(),
            tag,
            on_request,
            cors,
            freshness,
        }
    }

    /// Makes both compressed copies now, if they are not made yet.
    pub fn warm(&self) {
        self.gzip();
        self.brotli();
    }

    /// [`CachedBody::warm`], except for a body left to its first request.
    pub fn warm_unless_on_request(&self) {
        if !self.on_request {
            self.warm();
        }
    }

    /// Whether both compressed copies are made (or the body is too small for them).
    pub fn is_warm(&self) -> bool {
        self.gzip.get().is_some() && self.brotli.get().is_some()
    }

    /// The gzip copy a request may send now: made on the spot for the long tail, otherwise
    /// only once `warm` has made it.
    pub fn gzip_for_request(&self) -> Option<&Variant> {
        if self.on_request {
            self.gzip()
        } else {
            self.gzip.get().and_then(Option::as_ref)
        }
    }

    /// The brotli copy a request may send now (as [`CachedBody::gzip_for_request`]).
    pub fn brotli_for_request(&self) -> Option<&Variant> {
        if self.on_request {
            self.brotli()
        } else {
            self.brotli.get().and_then(Option::as_ref)
        }
    }

    /// The gzip copy, made now if need be (none for a body too small to gain from it).
    pub fn gzip(&self) -> Option<&Variant> {
        self.compressed(&self.gzip, gzip, "-gz", "gzip")
    }

    /// The brotli copy, made now if need be (none for a body too small to gain from it).
    pub fn brotli(&self) -> Option<&Variant> {
        self.compressed(&self.brotli, brotli, "-br", "br")
    }

    fn compressed<'a>(
        &'a self,
        cell: &'a std::sync::OnceLock<Option<Variant>>,
        compress: fn(&[u8]) -> Bytes,
        suffix: &str,
        encoding: &'static str,
    ) -> Option<&'a Variant> {
        cell.get_or_init(|| {
            let identity = &self.identity.bytes;
            (identity.len() >= COMPRESS_FROM).then(|| {
                Variant::new(
                    compress(identity),
                    &self.tag,
                    suffix,
                    Some(encoding),
                    self.content_type,
                    self.cors,
                    self.freshness,
                )
            })
        })
        .as_ref()
    }

    /// This body, reusing `previous` when the bytes are the same, so an unchanged page keeps
    /// its ETag and is not compressed again.
    pub fn reuse_or_new(
        previous: Option<&std::sync::Arc<CachedBody>>,
        content_type: &'static str,
        body: Vec<u8>,
        cors: bool,
        freshness: Freshness,
        on_request: bool,
    ) -> std::sync::Arc<CachedBody> {
        match previous {
            Some(p)
                if p.identity.bytes.as_ref() == body.as_slice()
                    && p.content_type == content_type
                    && p.cors == cors
                    && p.freshness == freshness =>
            {
                p.clone()
            }
            _ => std::sync::Arc::new(CachedBody::deferred(
                content_type,
                body,
                cors,
                freshness,
                on_request,
            )),
        }
    }
}

fn gzip(data: &[u8]) -> Bytes {
    let level = if data.len() > LARGE_BODY {
        flate2::Compression::default()
    } else {
        flate2::Compression::best()
    };
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(data);
    Bytes::from(encoder.finish().unwrap_or_default())
}

fn brotli(data: &[u8]) -> Bytes {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        // 10 and 11 are several times slower for a percent or two.
        quality: if data.len() > LARGE_BODY { 5 } else { 9 },
        lgwin: 22,
        ..Default::default()
    };
    let _ = brotli::BrotliCompress(&mut &data[..], &mut out, &params);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn compressed_copies_decode_to_the_same_bytes() {
        let text = "All systems operational. ".repeat(100);
        let body = CachedBody::new("text/html; charset=utf-8", text.clone(), false);
        let mut out = String::new();
        flate2::read::GzDecoder::new(&body.gzip().unwrap().bytes[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text);
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &body.brotli().unwrap().bytes[..], &mut out).unwrap();
        assert_eq!(out, text.as_bytes());
        assert!(body.identity.etag.starts_with('"') && body.identity.etag.ends_with('"'));
        assert_ne!(
            body.identity.etag,
            body.gzip().unwrap().etag,
            "each encoding has its own ETag"
        );
    }

    #[test]
    fn unchanged_bytes_keep_their_etag_object() {
        let a = std::sync::Arc::new(CachedBody::new("text/plain", "x".repeat(300), false));
        let reuse = |text: &str| {
            CachedBody::reuse_or_new(
                Some(&a),
                "text/plain",
                text.repeat(300).into_bytes(),
                false,
                Freshness::Brief,
                false,
            )
        };
        let b = reuse("x");
        assert!(std::sync::Arc::ptr_eq(&a, &b));
        let c = reuse("y");
        assert!(!std::sync::Arc::ptr_eq(&a, &c));
    }

    #[test]
    fn a_deferred_body_is_compressed_on_first_request_to_the_same_bytes_and_tags() {
        let text = "<p>An incident page</p>".repeat(40);
        let eager = CachedBody::new("text/html; charset=utf-8", text.clone(), false);
        let html = "text/html; charset=utf-8";
        let deferred =
            CachedBody::deferred(html, text.clone(), false, Freshness::for_type(html), true);
        assert!(!deferred.is_warm());
        assert_eq!(
            deferred.brotli_for_request().unwrap().etag,
            eager.brotli().unwrap().etag
        );
        assert_eq!(
            deferred.gzip_for_request().unwrap().bytes,
            eager.gzip().unwrap().bytes
        );
        assert!(deferred.is_warm());
    }

    #[test]
    fn a_body_warmed_in_the_background_goes_out_uncompressed_until_it_is_warm() {
        let html = "text/html; charset=utf-8";
        let body = CachedBody::deferred(
            html,
            "<p>The front page</p>".repeat(40),
            false,
            Freshness::for_type(html),
            false,
        );
        assert!(body.brotli_for_request().is_none() && body.gzip_for_request().is_none());
        assert!(!body.is_warm());
        body.warm();
        assert!(body.is_warm());
        assert!(body.brotli_for_request().is_some() && body.gzip_for_request().is_some());
    }
}
