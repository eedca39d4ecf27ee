//! DKIM signatures checked by an independent verifier, dkimpy (`tests/smtp/dkim_verify.py`),
//! with keys made by the openssl CLI as an operator makes them.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use herald::channels::dkim::DkimSigner;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{MultiPart, SinglePart};

pub(crate) const DOMAIN: &str = "status.example.com";
pub(crate) const SELECTOR: &str = "herald2024";

#[derive(Clone, Copy, Debug)]
pub(crate) enum KeyForm {
    RsaPkcs1,
    RsaPkcs8,
    Ed25519,
}

/// A private key made by openssl, and the TXT record for its public half (made by openssl too).
pub(crate) struct Key {
    dir: tempfile::TempDir,
    pem: String,
    record_file: PathBuf,
}

impl Key {
    pub(crate) fn generate(form: KeyForm) -> Key {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("dkim.pem");
        let key_arg = key.to_str().unwrap();
        match form {
            KeyForm::RsaPkcs1 => openssl(&["genrsa", "-traditional", "-out", key_arg, "2048"]),
            KeyForm::RsaPkcs8 => openssl(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                key_arg,
            ]),
            KeyForm::Ed25519 => openssl(&["genpkey", "-algorithm", "ed25519", "-out", key_arg]),
        }
        let pem = std::fs::read_to_string(&key).unwrap();
        let label = match form {
            KeyForm::RsaPkcs1 => "-----BEGIN RSA PRIVATE KEY-----",
            _ => "-----BEGIN PRIVATE KEY-----",
        };
        assert!(
            pem.starts_with(label),
            "{form:?} key starts {:?}",
            &pem[..40]
        );

        let public = dir.path().join("public.der");
        openssl(&[
            "pkey",
            "-in",
            key_arg,
            "-pubout",
            "-outform",
            "DER",
            "-out",
            public.to_str().unwrap(),
        ]);
        let der = std::fs::read(&public).unwrap();
        let record = match form {
            KeyForm::Ed25519 => {
                // RFC 8463: p= is the bare 32-byte key, the tail of the SubjectPublicKeyInfo.
                format!(
                    "v=DKIM1; k=ed25519; p={}",
                    STANDARD.encode(&der[der.len() - 32..])
                )
            }
            _ => format!("v=DKIM1; k=rsa; p={}", STANDARD.encode(&der)),
        };
        let record_file = dir.path().join("record.txt");
        std::fs::write(&record_file, record).unwrap();
        Key {
            dir,
            pem,
            record_file,
        }
    }

    fn signer(&self) -> DkimSigner {
        DkimSigner::from_pem(DOMAIN, SELECTOR, &self.pem).unwrap()
    }

    fn record(&self) -> String {
        std::fs::read_to_string(&self.record_file).unwrap()
    }

    /// Runs dkim_verify.py on `message`: Ok for VALID, Err with its reason for INVALID.
    /// The private key's PEM file, for HERALD_DKIM_KEY_FILE.
    pub(crate) fn key_file(&self) -> PathBuf {
        self.dir.path().join("dkim.pem")
    }

    pub(crate) fn verify(&self, message: &[u8]) -> Result<(), String> {
        verify_with(&self.record_file, self.dir.path(), message)
    }
}

fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl CLI makes the test keys");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn verify_with(record_file: &Path, dir: &Path, message: &[u8]) -> Result<(), String> {
    let path = dir.join("message.eml");
    std::fs::write(&path, message).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/dkim_verify.py");
    let output = Command::new("python3")
        .arg(script)
        .args(["--message", path.to_str().unwrap()])
        .args(["--selector", SELECTOR, "--domain", DOMAIN])
        .args(["--public-key-file", record_file.to_str().unwrap()])
        .output()
        .expect("python3 with dkimpy and pynacl (pip install dkimpy pynacl) verifies DKIM");
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    match (output.status.code(), stdout.as_str()) {
        (Some(0), "VALID") => Ok(()),
        (Some(1), reason) if reason.starts_with("INVALID") => Err(reason.to_string()),
        _ => panic!(
            "dkim_verify.py failed to run: {stdout} {}",
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// An incident notification as the composer builds it: multipart, a non-ASCII subject long
/// enough to be folded, a folded List-Unsubscribe, and a text part with trailing spaces and
/// trailing blank lines.
fn notification() -> Vec<u8> {
    let text = "Acme Status: Investigating\n\
        \n\
        We are investigating elevated error rates on the API (Zebra-42).   \n\
        Some requests may fail; retries should succeed.\t \n\
        \n\
        Next update within 30 minutes.  \n\
        \n\
        \n\
        \n";
    let html = "<p>We are investigating elevated error rates on the API (Zebra-42).</p>\n\
        <p>Mise à jour dans 30 minutes — merci de votre patience.</p>\n\n\n";
    let message = lettre::Message::builder()
        .from("Acme Status <status@status.example.com>".parse().unwrap())
        .to("Zoë Müller <zoe@example.net>".parse().unwrap())
        .subject(
            "[Acme Status] Investigating: Erhöhte Fehlerraten bei der API — \
             Störung in der Region eu-central, café ☕",
        )
        .date_now()
        .message_id(Some("<0123456789.abcdef@status.example.com>".to_string()))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Id"),
            "Acme Status <status.example.com>".to_string(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            "<https://status.example.com/unsubscribe/3f9a1c0e7b5d42a8b6e1f0c9d8a7b6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9>, \
             <mailto:unsubscribe@status.example.com?subject=unsubscribe>"
                .to_string(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".to_string(),
        ))
        .multipart(MultiPart::alternative_plain_html(
            text.to_string(),
            html.to_string(),
        ))
        .unwrap();
    message.formatted()
}

/// A single-part message whose body ends in trailing spaces and blank lines.
fn plain_notification() -> Vec<u8> {
    lettre::Message::builder()
        .from("status@status.example.com".parse().unwrap())
        .to("someone@example.net".parse().unwrap())
        .subject("Resolved")
        .date_now()
        .message_id(Some("<plain.1@status.example.com>".to_string()))
        .singlepart(SinglePart::plain(
            "All systems operational.   \n\n  \n\n\n".to_string(),
        ))
        .unwrap()
        .formatted()
}

fn header_block(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    text.split("\r\n\r\n").next().unwrap().to_string()
}

/// `message` with the named header field (and its continuation lines) replaced by `field`.
fn replace_header(message: &[u8], name: &str, field: &str) -> Vec<u8> {
    let text = String::from_utf8(message.to_vec()).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let mut skipping = false;
    for line in head.split("\r\n") {
        if skipping && (line.starts_with(' ') || line.starts_with('\t')) {
            continue;
        }
        skipping = line
            .split_once(':')
            .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name));
        out.push(if skipping { field } else { line });
    }
    format!("{}\r\n\r\n{body}", out.join("\r\n")).into_bytes()
}

fn signs_and_verifies(form: KeyForm) {
    let key = Key::generate(form);
    let signer = key.signer();
    assert_eq!(
        signer.dns_txt_record(),
        key.record(),
        "the TXT record Herald prints must match the one derived by openssl"
    );
    let message = notification();
    let head = header_block(&message);
    assert!(
        head.contains("\r\n "),
        "the test message has folded headers:\n{head}"
    );
    assert!(
        head.contains("Investigating: =?utf-8?b?"),
        "the subject is encoded:\n{head}"
    );

    let signed = signer.sign(&message).unwrap();
    assert!(signed.starts_with(b"DKIM-Signature: v=1; a="));
    assert!(signed.ends_with(&message));
    let dkim_header = header_block(&signed);
    let dkim_header = dkim_header.split("\r\nFrom:").next().unwrap_or_default();
    for line in dkim_header.lines() {
        assert!(line.len() <= 78, "DKIM header line too long: {line:?}");
    }
    key.verify(&signed).unwrap_or_else(|reason| {
        panic!(
            "{form:?}: {reason}\n{}",
            String::from_utf8_lossy(&signed[..1200.min(signed.len())])
        )
    });
}

#[tokio::test]
#[ignore = "needs dkimpy; .ci/run runs it"]
async fn rsa_pkcs1_key_signature_verifies_with_dkimpy() {
    signs_and_verifies(KeyForm::RsaPkcs1);
}

#[tokio::test]
#[ignore = "needs dkimpy; .ci/run runs it"]
async fn rsa_pkcs8_key_signature_verifies_with_dkimpy() {
    signs_and_verifies(KeyForm::RsaPkcs8);
}

#[tokio::test]
#[ignore = "needs dkimpy; .ci/run runs it"]
async fn ed25519_key_signature_verifies_with_dkimpy() {
    signs_and_verifies(KeyForm::Ed25519);
}

#[tokio::test]
#[ignore = "needs dkimpy; .ci/run runs it"]
async fn body_ending_in_blank_lines_and_spaces_verifies_with_dkimpy() {
    for form in [KeyForm::RsaPkcs1, KeyForm::Ed25519] {
        let key = Key::generate(form);
        let message = plain_notification();
        assert!(
            String::from_utf8_lossy(&message)
                .ends_with("operational.   \r\n\r\n  \r\n\r\n\r\n\r\n"),
            "lettre kept the trailing whitespace: {:?}",
            String::from_utf8_lossy(&message)
        );
        key.verify(&key.signer().sign(&message).unwrap()).unwrap();
    }
}

#[tokio::test]
#[ignore = "needs dkimpy; .ci/run runs it"]
async fn tampered_subject_fails_dkimpy_verification() {
    for form in [KeyForm::RsaPkcs8, KeyForm::Ed25519] {
        let key = Key::generate(form);
        let signed = key.signer().sign(&notification()).unwrap();
        let tampered = replace_header(&signed, "Subject", "Subject: [Acme Status] Resolved");
        assert_ne!(tampered, signed);
        let reason = key.verify(&tampered).unwrap_err();
        assert!(reason.starts_with("INVALID"), "{form:?}: {reason}");
        println!("{form:?}, subject changed: {reason}");
    }
}

#[tokio::test]
#[ignore = "needs dkimpy; .ci/run runs it"]
async fn tampered_body_fails_dkimpy_verification() {
    for form in [KeyForm::RsaPkcs1, KeyForm::Ed25519] {
        let key = Key::generate(form);
        let signed = key.signer().sign(&notification()).unwrap();
        let text = String::from_utf8(signed.clone()).unwrap();
        assert!(text.contains("(Zebra-42)"));
        let tampered = text.replacen("(Zebra-42)", "(Zebra-43)", 1);
        let reason = key.verify(tampered.as_bytes()).unwrap_err();
        assert!(reason.contains("body hash mismatch"), "{form:?}: {reason}");
        println!("{form:?}, body changed: {reason}");
    }
}

#[tokio::test]
#[ignore = "needs dkimpy; .ci/run runs it"]
async fn whitespace_changes_in_transit_still_verify() {
    // What relaxed canonicalisation is for: relays that refold headers or pad lines.
    let key = Key::generate(KeyForm::Ed25519);
    let signed = key.signer().sign(&notification()).unwrap();
    let text = String::from_utf8(signed).unwrap();
    let padded = text
        .replacen("Some requests may fail;", "Some  requests\tmay fail;", 1)
        .replacen(
            "List-Unsubscribe-Post: ",
            "List-Unsubscribe-Post:\r\n\t  ",
            1,
        )
        .replacen("(Zebra-42).   \r\n", "(Zebra-42).\r\n", 1);
    assert_ne!(padded, text);
    key.verify(padded.as_bytes()).unwrap();
}

#[tokio::test]
#[ignore = "needs dkimpy; .ci/run runs it"]
async fn signature_made_with_another_key_fails_dkimpy_verification() {
    let published = Key::generate(KeyForm::RsaPkcs1);
    let other = Key::generate(KeyForm::RsaPkcs1);
    let signed = other.signer().sign(&notification()).unwrap();
    let reason = published.verify(&signed).unwrap_err();
    println!("signed with another key: {reason}");
}

#[tokio::test]
#[ignore = "needs dkimpy; .ci/run runs it"]
async fn signature_for_another_domain_fails_dkimpy_verification() {
    let key = Key::generate(KeyForm::Ed25519);
    let signer = DkimSigner::from_pem("elsewhere.example.org", SELECTOR, &key.pem).unwrap();
    let reason = key
        .verify(&signer.sign(&notification()).unwrap())
        .unwrap_err();
    assert!(reason.contains("d=elsewhere.example.org"), "{reason}");
    let unsigned = key.verify(&notification()).unwrap_err();
    assert!(unsigned.contains("no DKIM-Signature"), "{unsigned}");
}
