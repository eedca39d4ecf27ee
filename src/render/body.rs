//! One public response body, rendered once and served many times: the bytes, their ETag, and
//! gzip and brotli copies made up front so no request spends CPU compressing.

use std::io::Write;

use axum::body::Bytes;
use axum::http::HeaderValue;
use sha2::{Digest, Sha256};

/// Bodies smaller than this are sent as they are; compressing them saves nothing.
const COMPRESS_FROM: usize = 256;

/// One encoding of a body, with its own ETag: a strong ETag names exact bytes, so the gzip
/// and brotli copies each get theirs (RFC 9110 §8.8.3).
#[derive(Debug)]
pub struct Variant {
    pub bytes: Bytes,
    /// Quoted strong ETag, e.g. `"3f2a…-br"`.
    pub etag: String,
    /// The same, ready to send: a request only clones it.
    pub etag_header: HeaderValue,
    /// `Content-Encoding`, if any.
    pub encoding: Option<HeaderValue>,
}

impl Variant {
    fn new(bytes: Bytes, tag: &str, suffix: &str, encoding: Option<&'static str>) -> Variant {
        let etag = format!("\"{tag}{suffix}\"");
        Variant {
            etag_header: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\"")),
            etag,
            bytes,
            encoding: encoding.map(HeaderValue::from_static),
        }
    }
}

#[derive(Debug)]
pub struct CachedBody {
    pub content_type: &'static str,
    pub content_type_header: HeaderValue,
    pub identity: Variant,
    pub gzip: Option<Variant>,
    pub brotli: Option<Variant>,
    /// Readable from any origin (JSON API, banner, feeds).
    pub cors: bool,
}

impl CachedBody {
    pub fn new(content_type: &'static str, body: impl Into<Bytes>, cors: bool) -> CachedBody {
        let identity: Bytes = body.into();
        let tag = hex::encode(Sha256::digest(&identity))[..24].to_string();
        let (gzip, brotli) = if identity.len() >= COMPRESS_FROM {
            (
                Some(Variant::new(gzip(&identity), &tag, "-gz", Some("gzip"))),
                Some(Variant::new(brotli(&identity), &tag, "-br", Some("br"))),
            )
        } else {
            (None, None)
        };
        CachedBody {
            content_type,
            content_type_header: HeaderValue::from_static(content_type),
            identity: Variant::new(identity, &tag, "", None),
            gzip,
            brotli,
            cors,
        }
    }

    /// This body, reusing `previous` when the bytes are the same, so an unchanged page keeps
    /// its ETag and is not compressed again.
    pub fn reuse_or_new(
        previous: Option<&std::sync::Arc<CachedBody>>,
        content_type: &'static str,
        body: Vec<u8>,
        cors: bool,
    ) -> std::sync::Arc<CachedBody> {
        match previous {
            Some(p)
                if p.identity.bytes.as_ref() == body.as_slice()
                    && p.content_type == content_type =>
            {
                p.clone()
            }
            _ => std::sync::Arc::new(CachedBody::new(content_type, body, cors)),
        }
    }
}

fn gzip(data: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(data);
    Bytes::from(encoder.finish().unwrap_or_default())
}

fn brotli(data: &[u8]) -> Bytes {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 10,
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
        flate2::read::GzDecoder::new(&body.gzip.as_ref().unwrap().bytes[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text);
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &body.brotli.as_ref().unwrap().bytes[..], &mut out).unwrap();
        assert_eq!(out, text.as_bytes());
        assert!(body.identity.etag.starts_with('"') && body.identity.etag.ends_with('"'));
        assert_ne!(
            body.identity.etag,
            body.gzip.as_ref().unwrap().etag,
            "each encoding has its own ETag"
        );
    }

    #[test]
    fn unchanged_bytes_keep_their_etag_object() {
        let a = std::sync::Arc::new(CachedBody::new("text/plain", "x".repeat(300), false));
        let b =
            CachedBody::reuse_or_new(Some(&a), "text/plain", "x".repeat(300).into_bytes(), false);
        assert!(std::sync::Arc::ptr_eq(&a, &b));
        let c =
            CachedBody::reuse_or_new(Some(&a), "text/plain", "y".repeat(300).into_bytes(), false);
        assert!(!std::sync::Arc::ptr_eq(&a, &c));
    }
}
