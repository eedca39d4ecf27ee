//! DKIM signing of outgoing mail (RFC 6376, with Ed25519 from RFC 8463), `c=relaxed/relaxed`.
//! The signer parses its key once and keeps the unchanging start of the header, so a signature
//! costs one pass over the body, a few hundred bytes of header hashing and one private-key
//! operation (ring's RSA, or Ed25519, which is far cheaper).

use std::path::Path;

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::digest::{self, SHA256};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};

/// The headers Herald signs, in `h=` order, when the message has them (From always).
const SIGNED_HEADERS: [&str; 8] = [
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
];

/// RFC 5322's recommended line length; the DKIM-Signature header is folded to fit it.
const MAX_LINE: usize = 78;

/// ring signs with RSA keys of 2048 to 4096 bits: at most 512 bytes of signature.
const MAX_SIGNATURE: usize = 512;
const MAX_SIGNATURE_BASE64: usize = MAX_SIGNATURE.div_ceil(3) * 4;

/// Room for the tags after the prefix: t=, h= (all eight names), bh=, b= and their folds.
const HEADER_TAIL: usize = 256 + MAX_SIGNATURE_BASE64 + MAX_SIGNATURE_BASE64 / 70 * 3;

const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];

/// Signs messages for one domain and selector. Cheap to share: `Send + Sync`, no locks.
pub struct DkimSigner {
    domain: String,
    selector: String,
    key: SigningKey,
    /// `DKIM-Signature: v=1; a=…; c=relaxed/relaxed; d=…; s=…;`, folded: the same on every mail.
    prefix: Vec<u8>,
    /// How many characters the last line of `prefix` holds, to carry on folding after it.
    prefix_column: usize,
    rng: SystemRandom,
}

enum SigningKey {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl SigningKey {
    fn algorithm(&self) -> &'static str {
        match self {
            SigningKey::Rsa(_) => "rsa-sha256",
            SigningKey::Ed25519(_) => "ed25519-sha256",
        }
    }

    /// Signs the canonical header data; returns how many bytes of `signature` it wrote.
    fn sign(
        &self,
        data: &[u8],
        rng: &SystemRandom,
        signature: &mut [u8; MAX_SIGNATURE],
    ) -> anyhow::Result<usize> {
        match self {
            SigningKey::Rsa(key) => {
                let len = key.public().modulus_len();
                let out = signature
                    .get_mut(..len)
                    .context("the RSA key is larger than 4096 bits")?;
                key.sign(&RSA_PKCS1_SHA256, rng, data, out)
                    .map_err(|_| anyhow::anyhow!("RSA signing failed"))?;
                Ok(len)
            }
            // RFC 8463: the Ed25519 input is the SHA-256 hash of the data, not the data itself.
            SigningKey::Ed25519(key) => {
                let hash = digest::digest(&SHA256, data);
                let sig = key.sign(hash.as_ref());
                let sig = sig.as_ref();
                signature[..sig.len()].copy_from_slice(sig);
                Ok(sig.len())
            }
        }
    }
}

impl DkimSigner {
    /// PEM: "RSA PRIVATE KEY" (PKCS#1), "PRIVATE KEY" (PKCS#8, RSA or Ed25519). Clear errors for
    /// anything else.
    pub fn from_pem(domain: &str, selector: &str, pem: &str) -> anyhow::Result<DkimSigner> {
        let key = parse_private_key(pem)?;
        DkimSigner::new(domain, selector, key)
    }

    /// Reads the PEM file named by HERALD_DKIM_KEY_FILE.
    pub fn from_files(domain: &str, selector: &str, key_file: &Path) -> anyhow::Result<DkimSigner> {
        let pem = std::fs::read_to_string(key_file)
            .with_context(|| format!("cannot read the DKIM key file {}", key_file.display()))?;
        DkimSigner::from_pem(domain, selector, &pem)
            .with_context(|| format!("the DKIM key file {} is not usable", key_file.display()))
    }

    fn new(domain: &str, selector: &str, key: SigningKey) -> anyhow::Result<DkimSigner> {
        let domain = idna::domain_to_ascii(domain.trim()).map_err(|_| {
            anyhow::anyhow!("the DKIM domain {domain:?} is not a valid domain name")
        })?;
        check_dns_name("DKIM domain", &domain)?;
        let selector = selector.trim().to_string();
        check_dns_name("DKIM selector", &selector)?;

        let mut prefix = b"DKIM-Signature:".to_vec();
        let mut folder = Folder {
            out: &mut prefix,
            column: "DKIM-Signature:".len(),
        };
        folder.tag(&[b"v=1;"]);
        folder.tag(&[b"a=", key.algorithm().as_bytes(), b";"]);
        folder.tag(&[b"c=relaxed/relaxed;"]);
        folder.tag(&[b"d=", domain.as_bytes(), b";"]);
        folder.tag(&[b"s=", selector.as_bytes(), b";"]);
        let prefix_column = folder.column;

        Ok(DkimSigner {
            domain,
            selector,
            key,
            prefix,
            prefix_column,
            rng: SystemRandom::new(),
        })
    }

    /// "rsa-sha256" or "ed25519-sha256".
    pub fn algorithm(&self) -> &'static str {
        self.key.algorithm()
    }

    /// The signing domain (`d=`), in its ASCII form.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Where verifiers look for the public key: `SELECTOR._domainkey.DOMAIN`.
    pub fn dns_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }

    /// The TXT record to publish at [`DkimSigner::dns_name`]. An RSA record is longer than 255
    /// characters; most DNS interfaces split it into strings themselves.
    pub fn dns_txt_record(&self) -> String {
        match &self.key {
            SigningKey::Rsa(key) => {
                // Verifiers expect a SubjectPublicKeyInfo; ring gives the bare RSAPublicKey.
                let mut algorithm = Vec::new();
                der_write(0x06, OID_RSA_ENCRYPTION, &mut algorithm);
                der_write(0x05, &[], &mut algorithm);
                let mut bits = vec![0u8];
                bits.extend_from_slice(key.public().as_ref());
                let mut spki = Vec::new();
                der_write(0x30, &algorithm, &mut spki);
                der_write(0x03, &bits, &mut spki);
                let mut outer = Vec::new();
                der_write(0x30, &spki, &mut outer);
                format!("v=DKIM1; k=rsa; p={}", STANDARD.encode(outer))
            }
            SigningKey::Ed25519(key) => format!(
                "v=DKIM1; k=ed25519; p={}",
                STANDARD.encode(key.public_key().as_ref())
            ),
        }
    }

    /// Returns the message with a `DKIM-Signature:` header prepended. `message` is a complete
    /// RFC 5322 message with CRLF line endings as lettre's `Message::formatted()` produces.
    pub fn sign(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.sign_at(message, now)
    }

    /// [`DkimSigner::sign`] with the signing time (`t=`, seconds since 1970) given.
    pub fn sign_at(&self, message: &[u8], signed_at: u64) -> anyhow::Result<Vec<u8>> {
        let parsed = parse_message(message)?;
        if parsed.fields[0].is_none() {
            bail!("the message has no From header, which DKIM requires to be signed");
        }
        let mut body = BufferedDigest::new();
        canonicalize_body_relaxed(parsed.body, &mut body)?;
        let body_hash = body.finish();
        let mut body_hash_base64 = [0u8; 44];
        STANDARD
            .encode_slice(body_hash.as_ref(), &mut body_hash_base64)
            .context("encoding the body hash")?;

        let mut out = Vec::with_capacity(self.prefix.len() + HEADER_TAIL + message.len());
        out.extend_from_slice(&self.prefix);
        let mut folder = Folder {
            out: &mut out,
            column: self.prefix_column,
        };
        let mut digits = [0u8; 20];
        folder.tag(&[b"t=", decimal(signed_at, &mut digits), b";"]);
        let mut names = SIGNED_HEADERS
            .iter()
            .zip(&parsed.fields)
            .filter(|(_, field)| field.is_some())
            .map(|(name, _)| name.as_bytes())
            .peekable();
        let mut first = true;
        while let Some(name) = names.next() {
            let end: &[u8] = if names.peek().is_some() { b":" } else { b";" };
            if std::mem::take(&mut first) {
                folder.tag(&[b"h=", name, end]);
            } else {
                folder.continuation(&[name, end]);
            }
        }
        folder.tag(&[b"bh=", &body_hash_base64, b";"]);
        folder.tag(&[b"b="]);
        let column = folder.column;

        // The signed data: each signed header canonicalised with its CRLF, then this header
        // with an empty b= and without the CRLF (RFC 6376 §3.7).
        let headers_len: usize = parsed.fields.iter().flatten().map(|f| f.len() + 2).sum();
        let mut signed = Vec::with_capacity(headers_len + out.len());
        for field in parsed.fields.iter().flatten() {
            canonicalize_header_relaxed(field, &mut signed);
            signed.extend_from_slice(b"\r\n");
        }
        canonicalize_header_relaxed(&out, &mut signed);

        let mut signature = [0u8; MAX_SIGNATURE];
        let len = self.key.sign(&signed, &self.rng, &mut signature)?;
        let mut signature_base64 = [0u8; MAX_SIGNATURE_BASE64];
        let len = STANDARD
            .encode_slice(&signature[..len], &mut signature_base64)
            .context("encoding the signature")?;
        Folder {
            out: &mut out,
            column,
        }
        .base64(&signature_base64[..len]);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(message);
        Ok(out)
    }
}

impl std::fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimSigner")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

/// The domain and selector go into the header and into a DNS name: letters, digits, `-`, `_`
/// and dots between non-empty labels.
fn check_dns_name(what: &str, name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !valid {
        bail!("the {what} {name:?} is not a valid DNS name");
    }
    Ok(())
}

fn parse_private_key(pem: &str) -> anyhow::Result<SigningKey> {
    let (label, der) = parse_pem(pem)?;
    match label {
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der)
            .map(SigningKey::Rsa)
            .map_err(|e| rsa_key_error(e, "PKCS#1")),
        "PRIVATE KEY" => match pkcs8_algorithm(&der) {
            Some(OID_RSA_ENCRYPTION) => RsaKeyPair::from_pkcs8(&der)
                .map(SigningKey::Rsa)
                .map_err(|e| rsa_key_error(e, "PKCS#8")),
            Some(OID_ED25519) => Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
                .map(SigningKey::Ed25519)
                .map_err(|e| anyhow::anyhow!("the Ed25519 PKCS#8 key was rejected: {e}")),
            Some(OID_EC_PUBLIC_KEY) => bail!(
                "this is an ECDSA key, which DKIM cannot use; use RSA (2048 bits or more) or Ed25519"
            ),
            Some(OID_RSASSA_PSS) => bail!(
                "this is an RSA-PSS key; DKIM needs a plain RSA key \
                 (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048)"
            ),
            Some(OID_ED448) => bail!("this is an Ed448 key; DKIM supports RSA and Ed25519"),
            Some(_) => bail!("the PKCS#8 key is of an unsupported algorithm; use RSA or Ed25519"),
            None => bail!("the PRIVATE KEY block is not a valid PKCS#8 structure"),
        },
        "ENCRYPTED PRIVATE KEY" => bail!(
            "the DKIM key is encrypted; Herald needs it unencrypted \
             (openssl pkey -in KEY -out PLAIN.pem), readable only by Herald"
        ),
        "EC PRIVATE KEY" => bail!(
            "this is an ECDSA key, which DKIM cannot use; use RSA (2048 bits or more) or Ed25519"
        ),
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {
            bail!("this is a public key; the DKIM key file must hold the private key")
        }
        "OPENSSH PRIVATE KEY" => bail!(
            "OpenSSH keys are not supported; create a PEM key with \
             openssl genpkey -algorithm ed25519 (or RSA)"
        ),
        "CERTIFICATE" => bail!("this is a certificate, not a private key"),
        other => bail!(
            "unsupported PEM block {other:?}; expected \"RSA PRIVATE KEY\" or \"PRIVATE KEY\""
        ),
    }
}

fn rsa_key_error(e: ring::error::KeyRejected, form: &str) -> anyhow::Error {
    match e.to_string().as_str() {
        "TooSmall" => anyhow::anyhow!(
            "the RSA key is smaller than 2048 bits; DKIM keys must have at least 2048 (RFC 8301)"
        ),
        "TooLarge" => {
            anyhow::anyhow!("the RSA key is larger than 4096 bits, which ring cannot use")
        }
        reason => anyhow::anyhow!("the RSA {form} key was rejected: {reason}"),
    }
}

/// The label and the decoded contents of the first PEM block in `pem`.
fn parse_pem(pem: &str) -> anyhow::Result<(&str, Vec<u8>)> {
    let begin = pem
        .find("-----BEGIN ")
        .context("the DKIM key is not PEM: no \"-----BEGIN\" line")?;
    let after = &pem[begin + "-----BEGIN ".len()..];
    let label = after
        .find("-----")
        .map(|end| &after[..end])
        .filter(|label| !label.contains('\n'))
        .context("malformed PEM: the BEGIN line does not end in \"-----\"")?;
    let contents = &after[label.len() + "-----".len()..];
    let end_line = format!("-----END {label}-----");
    let end = contents
        .find(&end_line)
        .with_context(|| format!("malformed PEM: no {end_line:?} line"))?;
    let contents = &contents[..end];
    // Legacy OpenSSL encryption adds "Proc-Type:" and "DEK-Info:" lines.
    if contents.contains(':') {
        bail!(
            "the DKIM key is encrypted; Herald needs it unencrypted \
             (openssl pkey -in KEY -out PLAIN.pem), readable only by Herald"
        );
    }
    let base64: String = contents.split_ascii_whitespace().collect();
    let der = STANDARD
        .decode(base64)
        .context("malformed PEM: the key is not valid base64")?;
    Ok((label, der))
}

/// One DER element: tag, contents, and what follows it.
fn der_read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

fn der_write(tag: u8, contents: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
}

/// The algorithm OID of a PKCS#8 PrivateKeyInfo.
fn pkcs8_algorithm(der: &[u8]) -> Option<&[u8]> {
    let (0x30, info, _) = der_read(der)? else {
        return None;
    };
    let (0x02, _version, rest) = der_read(info)? else {
        return None;
    };
    let (0x30, algorithm, _) = der_read(rest)? else {
        return None;
    };
    let (0x06, oid, _) = der_read(algorithm)? else {
        return None;
    };
    Some(oid)
}

/// The parts of a message the signer needs.
struct ParsedMessage<'m> {
    /// The last instance of each of `SIGNED_HEADERS` (name to end of value, no final CRLF).
    fields: [Option<&'m [u8]>; SIGNED_HEADERS.len()],
    body: &'m [u8],
}

fn parse_message(message: &[u8]) -> anyhow::Result<ParsedMessage<'_>> {
    let mut fields = [None; SIGNED_HEADERS.len()];
    let mut field_start: Option<usize> = None;
    let mut pos = 0;
    let body_start = loop {
        let (line_end, next) = match message[pos..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let lf = pos + i;
                if lf == pos || message[lf - 1] != b'\r' {
                    bail!("the message header has a bare LF; DKIM signing needs CRLF line endings");
                }
                (lf - 1, lf + 1)
            }
            None => (message.len(), message.len()),
        };
        let line = &message[pos..line_end];
        if line.contains(&b'\r') {
            bail!("the message header has a bare CR; DKIM signing needs CRLF line endings");
        }
        if line.is_empty() {
            if let Some(start) = field_start.take() {
                record_field(&mut fields, &message[start..pos - 2]);
            }
            break next;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if field_start.is_none() {
                bail!("the message starts with a folded continuation line");
            }
        } else {
            if let Some(start) = field_start.replace(pos) {
                record_field(&mut fields, &message[start..pos - 2]);
            }
            if !line.contains(&b':') {
                bail!("the message has a header line without a colon");
            }
        }
        if next >= message.len() {
            if let Some(start) = field_start.take() {
                record_field(&mut fields, &message[start..line_end]);
            }
            break message.len();
        }
        pos = next;
    };
    Ok(ParsedMessage {
        fields,
        body: &message[body_start..],
    })
}

fn record_field<'m>(fields: &mut [Option<&'m [u8]>; SIGNED_HEADERS.len()], field: &'m [u8]) {
    let colon = field.iter().position(|&b| b == b':').unwrap_or(field.len());
    let name = trim_wsp_end(&field[..colon]);
    for (slot, wanted) in fields.iter_mut().zip(SIGNED_HEADERS) {
        if name.eq_ignore_ascii_case(wanted.as_bytes()) {
            // A verifier takes the last instance first (RFC 6376 §5.4.2).
            *slot = Some(field);
        }
    }
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_wsp_end(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&b| !is_wsp(b)).map_or(0, |i| i + 1);
    &bytes[..end]
}

/// Appends the relaxed form (RFC 6376 §3.4.2) of one header field, given from its name to the
/// end of its value without the final CRLF: lowercase name, unfolded, runs of WSP as one space,
/// no WSP around the colon or at the end. Appends no CRLF.
fn canonicalize_header_relaxed(field: &[u8], out: &mut Vec<u8>) {
    let colon = field.iter().position(|&b| b == b':').unwrap_or(field.len());
    out.extend(
        trim_wsp_end(&field[..colon])
            .iter()
            .map(u8::to_ascii_lowercase),
    );
    out.push(b':');
    let value = field.get(colon + 1..).unwrap_or_default();
    let mut started = false;
    let mut space = false;
    for &b in value {
        match b {
            // Unfolding: a CRLF inside a field is always followed by WSP, handled next.
            b'\r' | b'\n' => {}
            b' ' | b'\t' => space = started,
            _ => {
                if space {
                    out.push(b' ');
                    space = false;
                }
                out.push(b);
                started = true;
            }
        }
    }
}

/// Where canonical body bytes go: the hash when signing, a `Vec` in tests.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// SHA-256 fed through a stack buffer, so many short pieces cost few hash updates.
struct BufferedDigest {
    context: digest::Context,
    buffer: [u8; 1024],
    len: usize,
}

impl BufferedDigest {
    fn new() -> Self {
        BufferedDigest {
            context: digest::Context::new(&SHA256),
            buffer: [0; 1024],
            len: 0,
        }
    }

    fn finish(mut self) -> digest::Digest {
        self.context.update(&self.buffer[..self.len]);
        self.context.finish()
    }
}

impl Sink for BufferedDigest {
    fn put(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > self.buffer.len() {
            self.context.update(&self.buffer[..self.len]);
            self.len = 0;
            if bytes.len() > self.buffer.len() {
                self.context.update(bytes);
                return;
            }
        }
        self.buffer[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

/// Writes the relaxed form (RFC 6376 §3.4.4) of `body`: WSP runs as one space, no WSP at line
/// ends, no empty lines at the end, and a final CRLF unless the body is then empty.
fn canonicalize_body_relaxed<S: Sink>(body: &[u8], out: &mut S) -> anyhow::Result<()> {
    // Line breaks are held back until a non-empty line follows, so trailing empty lines vanish.
    let mut pending_breaks = 0usize;
    let mut any_line = false;
    let mut rest = body;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                if i == 0 || rest[i - 1] != b'\r' {
                    bail!("the message body has a bare LF; DKIM signing needs CRLF line endings");
                }
                (&rest[..i - 1], &rest[i + 1..])
            }
            None => (rest, &rest[rest.len()..]),
        };
        let line = trim_wsp_end(line);
        if line.is_empty() {
            pending_breaks += 1;
        } else {
            for _ in 0..pending_breaks {
                out.put(b"\r\n");
            }
            put_relaxed_line(line, out)?;
            pending_breaks = 1;
            any_line = true;
        }
        rest = next;
    }
    if any_line {
        out.put(b"\r\n");
    }
    Ok(())
}

/// One body line, already without trailing WSP, with each WSP run written as one space.
fn put_relaxed_line<S: Sink>(line: &[u8], out: &mut S) -> anyhow::Result<()> {
    let mut copied_to = 0;
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b' ' | b'\t' => {
                let run_start = i;
                while i < line.len() && is_wsp(line[i]) {
                    i += 1;
                }
                // A single space is already canonical; only tabs and longer runs break the copy.
                if i - run_start > 1 || line[run_start] == b'\t' {
                    out.put(&line[copied_to..run_start]);
                    out.put(b" ");
                    copied_to = i;
                }
            }
            b'\r' => bail!("the message body has a bare CR; DKIM signing needs CRLF line endings"),
            _ => i += 1,
        }
    }
    out.put(&line[copied_to..]);
    Ok(())
}

/// Appends header text, folding with CRLF + space so no line passes `MAX_LINE`.
struct Folder<'a> {
    out: &'a mut Vec<u8>,
    column: usize,
}

impl Folder<'_> {
    fn fold(&mut self) {
        self.out.extend_from_slice(b"\r\n ");
        self.column = 1;
    }

    fn put(&mut self, parts: &[&[u8]], width: usize) {
        for part in parts {
            self.out.extend_from_slice(part);
        }
        self.column += width;
    }

    /// A new tag (or the start of one): after a space, or on a new line if it would not fit.
    fn tag(&mut self, parts: &[&[u8]]) {
        let width = parts.iter().map(|p| p.len()).sum();
        if self.column + 1 + width > MAX_LINE {
            self.fold();
        } else {
            self.out.push(b' ');
            self.column += 1;
        }
        self.put(parts, width);
    }

    /// More of a value where folding white space is allowed (after a `:` in `h=`).
    fn continuation(&mut self, parts: &[&[u8]]) {
        let width = parts.iter().map(|p| p.len()).sum();
        if self.column + width > MAX_LINE {
            self.fold();
        }
        self.put(parts, width);
    }

    /// Base64, which may be folded anywhere.
    fn base64(&mut self, mut text: &[u8]) {
        while !text.is_empty() {
            if self.column >= MAX_LINE {
                self.fold();
            }
            let take = (MAX_LINE - self.column).min(text.len());
            self.put(&[&text[..take]], take);
            text = &text[take..];
        }
    }
}

/// `n` in decimal, written into `buffer`, without allocating.
fn decimal(mut n: u64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buffer[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, ED25519, RSA_PKCS1_2048_8192_SHA256};

    /// Test-only RSA keys (PKCS#1 DER, base64), generated for these tests and used nowhere else.
    const TEST_RSA_2048: &str = concat!(
        "MIIEpAIBAAKCAQEA0C6sXgFNy8nPUvOwDxFStU6rX1Pc6fp1xSoT+cAJYspkQqha",
        "k/JrWnyFkNTgDUwmGA0gbTWpteHDRR4riIaqc88jQYWvW/hmMWHtNIm36653502A",
        "grRHMXeFpE51oj9f40IrxlnzV4crthZ9gBCG2o4ziPdwbVNnI59PL8eCCnaMHuKj",
        "sRVC3qX/76U2E41P4sHHOpXOjeOdTsJf4twfYDnlmWmV4znz5bysSs+DmfdrYDxU",
        "N7ZiePufWQlw2nGjfOZjwF+IB5+ueLrCJ1pafqMOzxfjeSY3KQgMXGBz68sIYI2h",
        "VJv5meaFzwJG7I2gjE8Lp7raE2dFkfvv1WiE2QIDAQABAoIBAAKt7xsAoksyrD/x",
        "kf0HqIxb2FnQPwIl7pkciwhGX/iNCVBQUWYhEx+lhaSRENcq+TyLArVVIPuNzdEY",
        "a9AEh7IY4ufHfDPPVSVikMaB1UOrybBI75P/FQF+e9JbDimJ7kaDBgQ2CStBup7L",
        "2E6rJ8ktVl13bdOCZMvxE3hWdYaD7SNMsU1J7hJ+DZQDV+uMV4wJ/5IO9syMqlCA",
        "jhlF8rX1tgBsxT71SPwa0Qa0p7xz3gJiP+uirL4eAgLJUGgH0Tj00+J9KKeupZzd",
        "/jsW63jViK0o7jBe+y928dKbNqDeosyRDJZAyy/Nb5amc5YeW4v43aUTKeEcK0H0",
        "E7zc0JcCgYEA83hK26XQtmB4xNO9HAeRDsqXZo7gJBFc+I8+oUB8o6bVEkjzUGx/",
        "xnE110OEs1Q6EwIDGjRiCbkAbawqmg5KZWkcpfYy4aHZ4WIBw+zV7YFliseYU7iP",
        "P9YVSBnTvtXq+xwMspCndK2oyvak5iErnlwpLXd8d9rp5EDPcQOXLf8CgYEA2uV3",
        "4iaDHIai92i3G3IIXYHrrBKVsLQ6gcuK2KKpip+ezh0WnirX8AfIf+QID9KH8PN3",
        "MxFC7r2hBDaPQ6X/GqMGCKhSPW+LcKtneWxlmiIdCdAT3ajdgxnZ8cTkCxoLP70J",
        "w2zjPPb6YvThoZHjGLLUfsGtU2sB5ZrSc04VfScCgYB4r3o74rfQj4WN2390M3P+",
        "JwJhfhUxC8JQG4FqITMnU/1ucObbSM0VquyLZhaTZf7biTXMeYbXVvMVajA76TWL",
        "i0z+H0odekMsa46AdhedAXU6E7I4XdX0SMSH1vWVNSijjMXmhbncJnDzGsumn26l",
        "sv1eYko6hzNFR7MMTEFWNQKBgQCQ6GGxk58uLi8KLAczowzIoi5azj7MKLOmoxE6",
        "kow8Gakud3E2qdQjsXNYvqNbnhqiNvqNEvtFQsGqIVg8B1LW1l8zMgKnawVbRA0P",
        "A+RK4hRpH5dXIOfrVxzBgX8ZnlceDc290oKoJDPjeIs5w3McMZ6cfyh31Zn+3rw8",
        "2s889wKBgQC91DYTLpabYOu/5S38z3GQT8gssBEGqxkTn8OHAC3ZGuZrjrnqZb+b",
        "8jExe8qAl2IUpmEsD9NfpWrnD/E7MkSjjDaR4LUfXL4LK5J5b9Nct1b94Bf7J5Dm",
        "jmH1vpNRGUGHucgQ4MLfwpTJ2QdKWlvugUlrmT1Ds1wRXn/i6Va6jA==",
    );
    const TEST_RSA_1024: &str = concat!(
        "MIICXgIBAAKBgQDaA9LtZ4py3jTtldr/HIaHToYGa+5nnavJwHhwsuXN884+gc0l",
        "vrq92Ika9jmoE6+IV5Du+xlpv1TXeTSt505e8+1zgwYDThi/FJMZ2wxOfPKdHUm6",
        "J1dbZwmYr/QSgn0PC/ntCbMh7MTe0qCWsbk6W1GyNdHxaKajUyAnD6bQOQIDAQAB",
        "AoGBALzqz151eJ1tPAQc9TZXq6OYQb9Sy7XyBSjAph1SiJxdBn1X0UNB8WQNPVGl",
        "x/SDinnlF2xfHnhqGcTV/PYtF9TJ1ZYxdXxupQq2pQ1zudG7He4+8MSjU8zRcqrU",
        "UcZdszIbZ4K4F+Og7sEwLJuGq4lt6ozvO0l4yUD+1E+mtFX5AkEA+/yTO0q6GSvc",
        "Za3sCaw7p0HUHJqtGeICCPQMYjIHuklMmryYqew29UICymprdO8Cnjje5/LEqJQg",
        "Sdy3giJ61wJBAN18vHAtZdcFPV09yNkNCF0CIJ8/MgjQN6b8ugbbI38RrBJej5BV",
        "KxnCjf9Lx+NU5XbPlldYo8irhI84rYo8O28CQQChybNGWF5QFwc1CYwJUdojM3La",
        "wrztZ1zjHr5sta6cfr9+giSKxS0sHyvnhphjxamqqN0Fk6uMiT6J7fqsxTKVAkEA",
        "w4Wf2+9Xna9UcoFeUq18mo6MOchR5RHabyFfHzpIZZ42JqkvVxy4Ra9IJvzA4mBJ",
        "iM7MSyNGwpkXFk/UctmlJQJANrjJNQPf5BgAByvD3i/1sUT8rQL93oIkfbfdLXAV",
        "LxUypFsmeVvoHnPE4dc7vdv7HWFLVfqD+u4wo235QGN8Jg==",
    );

    fn pem(label: &str, base64: &str) -> String {
        let mut text = format!("-----BEGIN {label}-----\n");
        for chunk in base64.as_bytes().chunks(64) {
            text.push_str(std::str::from_utf8(chunk).unwrap());
            text.push('\n');
        }
        text.push_str(&format!("-----END {label}-----\n"));
        text
    }

    /// Wraps a PKCS#1 RSA key as PKCS#8, the other form openssl writes.
    fn pkcs8_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
        let mut algorithm = Vec::new();
        der_write(0x06, OID_RSA_ENCRYPTION, &mut algorithm);
        der_write(0x05, &[], &mut algorithm);
        let mut info = Vec::new();
        der_write(0x02, &[0], &mut info);
        der_write(0x30, &algorithm, &mut info);
        der_write(0x04, pkcs1, &mut info);
        let mut out = Vec::new();
        der_write(0x30, &info, &mut out);
        out
    }

    fn rsa_signer() -> DkimSigner {
        DkimSigner::from_pem(
            "example.com",
            "herald",
            &pem("RSA PRIVATE KEY", TEST_RSA_2048),
        )
        .unwrap()
    }

    fn ed25519_signer() -> DkimSigner {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        DkimSigner::from_pem(
            "example.com",
            "herald",
            &pem("PRIVATE KEY", &STANDARD.encode(pkcs8.as_ref())),
        )
        .unwrap()
    }

    fn header(field: &str) -> String {
        let mut out = Vec::new();
        canonicalize_header_relaxed(field.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    fn body(text: &str) -> String {
        let mut out = Vec::new();
        canonicalize_body_relaxed(text.as_bytes(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn body_hash(text: &str) -> String {
        let mut digest = BufferedDigest::new();
        canonicalize_body_relaxed(text.as_bytes(), &mut digest).unwrap();
        STANDARD.encode(digest.finish().as_ref())
    }

    const MESSAGE: &str = "From: Status <status@example.com>\r\n\
        To: someone@example.net\r\n\
        Subject: =?utf-8?b?W0FjbWVdIEluY2lkZW50OiBkw6lncmFkw6k=?=\r\n\
        Date: Tue, 02 Jan 2024 10:00:00 +0000\r\n\
        Message-ID: <abc@example.com>\r\n\
        List-Unsubscribe: <https://status.example.com/unsubscribe/x>\r\n\
        X-Other: not signed\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\
        \r\n\
        Hello  there.   \r\n\
        \r\n\
        Bye.\r\n\
        \r\n\
        \r\n";

    #[test]
    fn relaxed_header_lowercases_the_name_and_trims_around_the_colon() {
        assert_eq!(header("SubJect \t: \t Hi  there \t"), "subject:Hi there");
        assert_eq!(header("X-Empty:"), "x-empty:");
        assert_eq!(header("X-Empty:   \t "), "x-empty:");
    }

    #[test]
    fn relaxed_header_unfolds_continuation_lines() {
        assert_eq!(
            header("Subject: a very\r\n long\r\n\t\tsubject line"),
            "subject:a very long subject line"
        );
        assert_eq!(
            header("To:\r\n a@example.com,\r\n b@example.com"),
            "to:a@example.com, b@example.com"
        );
        assert_eq!(header("List-Id: x\r\n "), "list-id:x");
    }

    #[test]
    fn relaxed_header_keeps_bytes_other_than_whitespace() {
        assert_eq!(
            header("Subject: caf\u{e9} \u{2603}"),
            "subject:caf\u{e9} \u{2603}"
        );
    }

    #[test]
    fn relaxed_body_collapses_whitespace_and_strips_it_at_line_ends() {
        assert_eq!(body("a  b\t\tc \t \r\n\td\r\n"), "a b c\r\n d\r\n");
        assert_eq!(body(" \t lead\r\n"), " lead\r\n");
    }

    #[test]
    fn relaxed_body_drops_trailing_empty_lines_but_keeps_inner_ones() {
        assert_eq!(
            body("a\r\n\r\n  \r\nb\r\n\r\n \t\r\n\r\n"),
            "a\r\n\r\n\r\nb\r\n"
        );
        assert_eq!(body("\r\n\r\na\r\n"), "\r\n\r\na\r\n");
    }

    #[test]
    fn relaxed_body_adds_a_final_crlf_when_missing() {
        assert_eq!(body("a\r\nlast line  "), "a\r\nlast line\r\n");
    }

    #[test]
    fn relaxed_body_of_nothing_or_only_blank_lines_is_empty() {
        assert_eq!(body(""), "");
        assert_eq!(body("\r\n"), "");
        assert_eq!(body("\r\n  \r\n\t\r\n"), "");
        assert_eq!(
            body_hash(""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn body_hash_matches_rfc_8463_appendix_a() {
        assert_eq!(
            body_hash("Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n"),
            "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="
        );
    }

    #[test]
    fn body_hash_is_the_same_however_the_buffer_fills() {
        let long: String = (0..500)
            .map(|i| format!("line {i}  with\t tabs  \r\n"))
            .collect();
        let mut plain = Vec::new();
        canonicalize_body_relaxed(long.as_bytes(), &mut plain).unwrap();
        assert_eq!(
            body_hash(&long),
            STANDARD.encode(digest::digest(&SHA256, &plain).as_ref())
        );
    }

    #[test]
    fn ed25519_signature_matches_rfc_8463_appendix_a() {
        let seed = STANDARD
            .decode("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
            .unwrap();
        let key = SigningKey::Ed25519(Ed25519KeyPair::from_seed_unchecked(&seed).unwrap());
        let mut signed = Vec::new();
        for field in [
            "From: Joe SixPack <joe@football.example.com>",
            "To: Suzie Q <suzie@shopping.example.net>",
            "Subject: Is dinner ready?",
            "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)",
            "Message-ID: <20030712040037.46341.5F8J@football.example.com>",
        ] {
            canonicalize_header_relaxed(field.as_bytes(), &mut signed);
            signed.extend_from_slice(b"\r\n");
        }
        canonicalize_header_relaxed(
            b"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n \
              d=football.example.com; i=@football.example.com;\r\n \
              q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n \
              subject : date : message-id : from : subject : date;\r\n \
              bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n \
              b=",
            &mut signed,
        );
        let mut signature = [0u8; MAX_SIGNATURE];
        let len = key
            .sign(&signed, &SystemRandom::new(), &mut signature)
            .unwrap();
        assert_eq!(
            STANDARD.encode(&signature[..len]),
            "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw=="
        );
    }

    /// Splits a signed message into its DKIM-Signature field and the original message.
    fn split_signature(signed: &[u8]) -> (String, &[u8]) {
        let text = std::str::from_utf8(signed).unwrap();
        let mut end = 0;
        for line in text.split_inclusive("\r\n") {
            if end > 0 && !line.starts_with(' ') {
                break;
            }
            end += line.len();
        }
        (text[..end - 2].to_string(), &signed[end..])
    }

    /// The tags of a DKIM-Signature field, whitespace removed from the values.
    fn tags(field: &str) -> Vec<(String, String)> {
        let value = field.split_once(':').unwrap().1;
        value
            .split(';')
            .filter(|t| !t.trim().is_empty())
            .map(|t| {
                let (k, v) = t.split_once('=').unwrap();
                (k.trim().to_string(), v.split_whitespace().collect())
            })
            .collect()
    }

    fn tag<'t>(tags: &'t [(String, String)], name: &str) -> &'t str {
        &tags.iter().find(|(k, _)| k == name).unwrap().1
    }

    /// Verifies a signature the way a receiver does, with the header data rebuilt by plain
    /// string handling rather than the signer's own code paths.
    fn verify(signer: &DkimSigner, signed: &[u8]) -> Result<(), String> {
        let (field, message) = split_signature(signed);
        let tags = tags(&field);
        let text = std::str::from_utf8(message).unwrap();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap();
        if tag(&tags, "bh") != body_hash(rest) {
            return Err("body hash mismatch".into());
        }
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", "\t");
        let mut data = String::new();
        for name in tag(&tags, "h").split(':') {
            let line = unfolded
                .lines()
                .rev()
                .find(|l| {
                    l.split(':')
                        .next()
                        .unwrap()
                        .trim()
                        .eq_ignore_ascii_case(name)
                })
                .unwrap();
            let value = line.split_once(':').unwrap().1;
            let value: Vec<&str> = value.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
            data.push_str(&format!("{}:{}\r\n", name.to_lowercase(), value.join(" ")));
        }
        // The b= tag, emptied: everything after its "b=" goes (it is the last tag here).
        let bh = field.find("bh=").unwrap();
        let semicolon = bh + field[bh..].find(';').unwrap();
        let b_at = semicolon + field[semicolon..].find("b=").unwrap();
        let unfolded = field[..b_at + 2].replace("\r\n", "");
        let value = unfolded.split_once(':').unwrap().1;
        let without_b: Vec<&str> = value.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
        data.push_str(&format!("dkim-signature:{}", without_b.join(" ")));
        let signature = STANDARD.decode(tag(&tags, "b")).unwrap();
        let result = match &signer.key {
            SigningKey::Rsa(key) => {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public().as_ref())
                    .verify(data.as_bytes(), &signature)
            }
            SigningKey::Ed25519(key) => UnparsedPublicKey::new(&ED25519, key.public_key().as_ref())
                .verify(
                    digest::digest(&SHA256, data.as_bytes()).as_ref(),
                    &signature,
                ),
        };
        result.map_err(|_| "signature mismatch".to_string())
    }

    #[test]
    fn signed_messages_verify_with_rsa_and_ed25519() {
        for signer in [rsa_signer(), ed25519_signer()] {
            let signed = signer.sign(MESSAGE.as_bytes()).unwrap();
            assert!(signed.ends_with(MESSAGE.as_bytes()));
            verify(&signer, &signed).unwrap();
        }
    }

    #[test]
    fn the_header_lists_the_present_headers_in_order_and_its_tags() {
        let signer = rsa_signer();
        let signed = signer.sign_at(MESSAGE.as_bytes(), 1_704_189_600).unwrap();
        let (field, _) = split_signature(&signed);
        let tags = tags(&field);
        assert_eq!(tag(&tags, "v"), "1");
        assert_eq!(tag(&tags, "a"), "rsa-sha256");
        assert_eq!(tag(&tags, "c"), "relaxed/relaxed");
        assert_eq!(tag(&tags, "d"), "example.com");
        assert_eq!(tag(&tags, "s"), "herald");
        assert_eq!(tag(&tags, "t"), "1704189600");
        assert_eq!(
            tag(&tags, "h"),
            "from:to:subject:date:message-id:list-unsubscribe"
        );
        assert!(tags.iter().all(|(k, _)| k != "l"));
        assert_eq!(tag(&tags, "b").len(), 344);
    }

    #[test]
    fn the_header_is_folded_within_78_characters() {
        let all = "From: a@example.com\r\nTo: b@example.com\r\nSubject: s\r\nDate: d\r\n\
            Message-ID: <m@example.com>\r\nList-Id: <x.example.com>\r\n\
            List-Unsubscribe: <https://example.com/u>\r\n\
            List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nbody\r\n";
        let long_domain = "a-rather-long-subdomain-for-status-notifications.example.com";
        for signer in [
            rsa_signer(),
            DkimSigner::from_pem(long_domain, "s2024", &pem("RSA PRIVATE KEY", TEST_RSA_2048))
                .unwrap(),
        ] {
            let signed = signer.sign(all.as_bytes()).unwrap();
            assert!(signed.len() <= signer.prefix.len() + HEADER_TAIL + all.len());
            let (field, _) = split_signature(&signed);
            assert!(field.starts_with("DKIM-Signature: v=1;"));
            for (i, line) in field.split("\r\n").enumerate() {
                assert!(line.len() <= MAX_LINE, "line too long: {line:?}");
                assert!(
                    i == 0 || line.starts_with(' '),
                    "bad continuation: {line:?}"
                );
            }
            let tags = tags(&field);
            assert_eq!(
                tag(&tags, "h"),
                "from:to:subject:date:message-id:list-id:list-unsubscribe:list-unsubscribe-post"
            );
            verify(&signer, &signed).unwrap();
        }
    }

    #[test]
    fn tampering_after_signing_fails_verification() {
        let signer = ed25519_signer();
        let signed = signer.sign(MESSAGE.as_bytes()).unwrap();
        let text = String::from_utf8(signed).unwrap();
        let subject = text.replace("Subject: =?utf-8?b?W0Fj", "Subject: =?utf-8?b?W0Fk");
        assert!(verify(&signer, subject.as_bytes()).is_err());
        let body = text.replace("Bye.", "Bye!");
        assert!(verify(&signer, body.as_bytes()).is_err());
        // Whitespace changes are what relaxed canonicalisation forgives.
        let spaced = text.replace("Bye.\r\n", "Bye.   \r\n\r\n");
        verify(&signer, spaced.as_bytes()).unwrap();
    }

    #[test]
    fn the_last_instance_of_a_repeated_header_is_signed() {
        let message = "From: a@example.com\r\nSubject: first\r\nSubject: second\r\n\r\nx\r\n";
        let parsed = parse_message(message.as_bytes()).unwrap();
        assert_eq!(parsed.fields[2], Some(&b"Subject: second"[..]));
        assert_eq!(parsed.body, b"x\r\n");
    }

    #[test]
    fn a_message_with_only_headers_has_an_empty_body() {
        for message in [
            "From: a@example.com\r\n",
            "From: a@example.com",
            "From: a@example.com\r\n\r\n",
        ] {
            let parsed = parse_message(message.as_bytes()).unwrap();
            assert_eq!(parsed.fields[0], Some(&b"From: a@example.com"[..]));
            assert_eq!(parsed.body, b"");
        }
        let signer = ed25519_signer();
        let signed = signer.sign(b"From: a@example.com\r\n\r\n").unwrap();
        verify(&signer, &signed).unwrap();
    }

    #[test]
    fn messages_dkim_cannot_sign_are_refused_with_a_reason() {
        let signer = ed25519_signer();
        let cases = [
            ("To: b@example.com\r\n\r\nx\r\n", "no From header"),
            ("From: a@example.com\nTo: b\r\n\r\nx\r\n", "bare LF"),
            ("From: a@example.com\r\n\r\nx\ny\r\n", "bare LF"),
            ("From: a@example.com\r\n\r\nx\ry\r\n", "bare CR"),
            ("From: a\r@example.com\r\n\r\nx\r\n", "bare CR"),
            (
                "From: a@example.com\r\nnot a header\r\n\r\nx\r\n",
                "without a colon",
            ),
            (" From: a@example.com\r\n\r\nx\r\n", "continuation"),
        ];
        for (message, reason) in cases {
            let error = signer.sign(message.as_bytes()).unwrap_err().to_string();
            assert!(error.contains(reason), "{message:?}: {error}");
        }
    }

    #[test]
    fn rsa_keys_load_in_pkcs1_and_pkcs8_form() {
        let pkcs1 = STANDARD.decode(TEST_RSA_2048).unwrap();
        let from_pkcs1 = rsa_signer();
        let from_pkcs8 = DkimSigner::from_pem(
            "example.com",
            "herald",
            &pem("PRIVATE KEY", &STANDARD.encode(pkcs8_from_pkcs1(&pkcs1))),
        )
        .unwrap();
        assert_eq!(from_pkcs1.algorithm(), "rsa-sha256");
        assert_eq!(from_pkcs8.algorithm(), "rsa-sha256");
        assert_eq!(from_pkcs1.dns_txt_record(), from_pkcs8.dns_txt_record());
        assert!(from_pkcs1
            .dns_txt_record()
            .starts_with("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"));
        assert_eq!(from_pkcs1.dns_name(), "herald._domainkey.example.com");
    }

    #[test]
    fn ed25519_keys_load_from_pkcs8_and_publish_the_raw_key() {
        let signer = ed25519_signer();
        assert_eq!(signer.algorithm(), "ed25519-sha256");
        let record = signer.dns_txt_record();
        let p = record.strip_prefix("v=DKIM1; k=ed25519; p=").unwrap();
        assert_eq!(STANDARD.decode(p).unwrap().len(), 32);
    }

    #[test]
    fn from_files_reads_the_key_file_and_names_it_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dkim.pem");
        std::fs::write(&path, pem("RSA PRIVATE KEY", TEST_RSA_2048)).unwrap();
        assert!(DkimSigner::from_files("example.com", "herald", &path).is_ok());
        let missing = dir.path().join("missing.pem");
        let error = DkimSigner::from_files("example.com", "herald", &missing).unwrap_err();
        assert!(format!("{error:#}").contains("missing.pem"));
    }

    fn key_error(pem: &str) -> String {
        format!(
            "{:#}",
            DkimSigner::from_pem("example.com", "herald", pem).unwrap_err()
        )
    }

    #[test]
    fn unusable_keys_are_refused_with_a_clear_reason() {
        let ecdsa = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &SystemRandom::new(),
        )
        .unwrap();
        let cases = [
            ("not a key at all".to_string(), "not PEM"),
            (pem("RSA PRIVATE KEY", TEST_RSA_1024), "smaller than 2048 bits"),
            (pem("PRIVATE KEY", &STANDARD.encode(ecdsa.as_ref())), "ECDSA"),
            (pem("EC PRIVATE KEY", "MAA="), "ECDSA"),
            (pem("ENCRYPTED PRIVATE KEY", "MAA="), "encrypted"),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nMAA=\n-----END RSA PRIVATE KEY-----\n".to_string(),
                "encrypted",
            ),
            (pem("PUBLIC KEY", "MAA="), "public key"),
            (pem("CERTIFICATE", "MAA="), "certificate"),
            (pem("OPENSSH PRIVATE KEY", "MAA="), "OpenSSH"),
            (pem("RSA PRIVATE KEY", "!!!"), "not valid base64"),
            (pem("RSA PRIVATE KEY", "MAA="), "rejected"),
            (pem("PRIVATE KEY", "MAA="), "not a valid PKCS#8"),
            ("-----BEGIN PRIVATE KEY-----\nMAA=\n".to_string(), "no \"-----END PRIVATE KEY-----\""),
        ];
        for (pem, reason) in cases {
            let error = key_error(&pem);
            assert!(error.contains(reason), "expected {reason:?} in {error:?}");
        }
    }

    #[test]
    fn bad_domains_and_selectors_are_refused() {
        let key = pem("RSA PRIVATE KEY", TEST_RSA_2048);
        for (domain, selector) in [
            ("", "s"),
            ("example.com", ""),
            ("exa mple.com", "s"),
            ("example.com", "s;x=1"),
            ("example..com", "s"),
        ] {
            assert!(
                DkimSigner::from_pem(domain, selector, &key).is_err(),
                "{domain:?} {selector:?}"
            );
        }
        let idn = DkimSigner::from_pem("bücher.example", "s", &key).unwrap();
        assert_eq!(idn.domain(), "xn--bcher-kva.example");
    }

    #[test]
    fn the_signer_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<DkimSigner>();
    }

    #[test]
    fn decimal_writes_numbers() {
        let mut buffer = [0u8; 20];
        assert_eq!(decimal(0, &mut buffer), b"0");
        assert_eq!(decimal(1_704_189_600, &mut buffer), b"1704189600");
        assert_eq!(decimal(u64::MAX, &mut buffer), b"18446744073709551615");
    }

    /// A realistic ~3 KB notification, built by lettre as the composer builds them.
    fn notification() -> Vec<u8> {
        use lettre::message::header::{HeaderName, HeaderValue};
        use lettre::message::MultiPart;
        let paragraph = "We are investigating elevated error rates on the API.  Some requests \
            may fail or time out; retries should succeed. We will post an update within 30 minutes.  \n";
        let text = paragraph.repeat(9);
        let html = format!("<p>{}</p>", text.replace('\n', "</p>\n<p>"));
        lettre::Message::builder()
            .from("Acme Status <status@example.com>".parse().unwrap())
            .to("someone@example.net".parse().unwrap())
            .subject("[Acme] Investigating: Elevated API error rates — café")
            .date_now()
            .message_id(Some("<1234.abcd@example.com>".to_string()))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Id"),
                "<status.example.com>".into(),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                "<https://status.example.com/unsubscribe/0123456789abcdef>".into(),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".into(),
            ))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .unwrap()
            .formatted()
    }

    /// CPU time this thread has used, from Linux's scheduler statistics: the machine may be
    /// busy with other work, so rates per CPU-second are steadier than rates per wall-second.
    fn thread_cpu_time() -> Option<std::time::Duration> {
        let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        let nanos = stat.split_whitespace().next()?.parse().ok()?;
        Some(std::time::Duration::from_nanos(nanos))
    }

    /// Signatures a second, per core and over all cores; run with
    /// `cargo test --release --lib dkim -- --ignored --nocapture`.
    #[test]
    #[ignore = "benchmark: run in a release build"]
    fn signing_rate() {
        let message = notification();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let total = 2000;
        println!("message: {} bytes, {cores} cores", message.len());
        for signer in [rsa_signer(), ed25519_signer()] {
            verify(&signer, &signer.sign(&message).unwrap()).unwrap();
            for threads in [1, cores] {
                let start = std::time::Instant::now();
                let cpu: std::time::Duration = std::thread::scope(|scope| {
                    let workers: Vec<_> = (0..threads)
                        .map(|_| {
                            scope.spawn(|| {
                                let before = thread_cpu_time();
                                for _ in 0..total / threads {
                                    std::hint::black_box(signer.sign(&message).unwrap());
                                }
                                thread_cpu_time()
                                    .zip(before)
                                    .map(|(after, before)| after - before)
                                    .unwrap_or_default()
                            })
                        })
                        .collect();
                    workers.into_iter().map(|w| w.join().unwrap()).sum()
                });
                let wall = start.elapsed().as_secs_f64();
                let done = (total / threads * threads) as f64;
                let per_core = done / cpu.as_secs_f64();
                println!(
                    "{}: {done} signatures on {threads} thread(s): {:.0}/s wall clock, \
                     {per_core:.0}/s per CPU-second ({:.0}/s on {cores} cores)",
                    signer.algorithm(),
                    done / wall,
                    per_core * cores as f64
                );
            }
        }
    }
}
