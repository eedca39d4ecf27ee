//! The second factor: TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps) as every
//! authenticator app speaks it, and single-use recovery codes.
//!
//! A code is accepted for the step before, the current and the next one (clock drift), and only
//! for a step later than the last accepted one, so a code seen over a shoulder or in a log cannot
//! be used again. The caller stores that step (`Store::accept_totp_step`).

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use rand::RngCore;
use totp_rs::{Algorithm, Secret, TOTP};

use super::secret;

/// Seconds per code.
pub const STEP: u64 = 30;
const DIGITS: usize = 6;
/// Steps accepted either side of now.
const SKEW: u64 = 1;
/// Recovery codes issued at a time.
pub const RECOVERY_CODES: usize = 10;

/// A TOTP seed: 20 random bytes (160 bits, as RFC 4226 recommends).
#[derive(Clone)]
pub struct Seed(Vec<u8>);

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(..)")
    }
}

impl Seed {
    pub fn generate() -> Seed {
        let mut bytes = vec![0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Seed(bytes)
    }

    /// From the base32 text an authenticator app shows (spaces and case ignored).
    pub fn from_base32(text: &str) -> Option<Seed> {
        let clean: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_uppercase();
        let bytes = Secret::Encoded(clean.trim_end_matches('=').to_string())
            .to_bytes()
            .ok()?;
        (bytes.len() >= 16).then_some(Seed(bytes))
    }

    /// Unpadded RFC 4648 base32, as typed into an app by hand.
    pub fn base32(&self) -> String {
        match Secret::Raw(self.0.clone()).to_encoded() {
            Secret::Encoded(s) => s,
            Secret::Raw(_) => String::new(),
        }
    }

    /// The base32 text in groups of four, easier to read and type.
    pub fn grouped(&self) -> String {
        let text = self.base32();
        text.as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn totp(&self) -> TOTP {
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP, self.0.clone())
    }

    /// The code for one step.
    pub fn code_at_step(&self, step: u64) -> String {
        self.totp().generate(step * STEP)
    }

    /// The step of `code` near `unix_time`, if it is right and later than `last_step`.
    pub fn verify(&self, code: &str, unix_time: u64, last_step: u64) -> Option<u64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = unix_time / STEP;
        let mut found = None;
        // Every candidate is computed and compared in constant time, whichever matches.
        for step in now.saturating_sub(SKEW)..=now + SKEW {
            if secret::equal(&self.code_at_step(step), &code) && step > last_step {
                found = Some(step);
            }
        }
        found
    }

    /// The `otpauth://` URI that authenticator apps read from the QR code.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
            enc(issuer).replace('+', "%20"),
            enc(account).replace('+', "%20"),
            self.base32(),
            enc(issuer).replace('+', "%20"),
        )
    }
}

/// `text` as a QR code in an inline `<svg>` element (no XML prologue), or `None` if too long.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build();
    let start = image.find("<svg")?;
    Some(image[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code for your authenticator app\" ",
        1,
    ))
}

/// Ten fresh recovery codes, 80 bits each, written `xxxx-xxxx-xxxx-xxxx` in lowercase base32.
pub fn recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 10];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let text = match Secret::Raw(bytes.to_vec()).to_encoded() {
                Secret::Encoded(s) => s.to_lowercase(),
                Secret::Raw(_) => String::new(),
            };
            text.as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// The stored form of a recovery code, whatever dashes, spaces or case it was typed with.
pub fn recovery_digest(code: &str) -> String {
    let clean: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    secret::digest(&format!("herald recovery code:{clean}"))
}

/// Whether the text looks like a recovery code rather than a six-digit TOTP code.
pub fn is_recovery_code(code: &str) -> bool {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).count() == 16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (the RFC's 8-digit codes; the last six digits are ours).
    #[test]
    fn rfc_6238_test_vectors() {
        let seed = Seed(b"12345678901234567890".to_vec());
        for (time, eight) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(seed.code_at_step(time / STEP), eight[2..], "time {time}");
        }
    }

    #[test]
    fn a_code_is_accepted_once_and_near_its_time() {
        let seed = Seed::generate();
        let now = 1_700_000_000u64;
        let code = seed.code_at_step(now / STEP);
        let step = seed.verify(&code, now, 0).expect("current code");
        assert_eq!(step, now / STEP);
        assert_eq!(seed.verify(&code, now, step), None, "replayed");
        assert!(seed.verify(&code, now + STEP, 0).is_some(), "one step late");
        assert_eq!(seed.verify(&code, now + 3 * STEP, 0), None, "too late");
        assert_eq!(seed.verify("12345", now, 0), None);
        assert_eq!(seed.verify("abcdef", now, 0), None);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(seed.verify(&spaced, now, 0).is_some());
    }

    #[test]
    fn base32_round_trip_and_uri() {
        let seed = Seed::generate();
        let back = Seed::from_base32(&seed.grouped().to_lowercase()).expect("parse");
        assert_eq!(back.0, seed.0);
        let uri = seed.otpauth_uri("Herald status", "ann@example.com");
        assert!(uri.starts_with("otpauth://totp/Herald%20status:ann%40example.com?secret="));
        assert!(uri.contains(&seed.base32()));
        let svg = qr_svg(&uri).expect("qr");
        assert!(svg.starts_with("<svg role=\"img\""));
        assert!(!svg.contains("<?xml"));
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalised() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        assert!(codes.iter().all(|c| c.len() == 19 && is_recovery_code(c)));
        assert_eq!(
            recovery_digest(&codes[0]),
            recovery_digest(&codes[0].to_uppercase().replace('-', " "))
        );
    }
}
