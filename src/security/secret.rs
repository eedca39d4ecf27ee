//! Random bearer secrets (session ids, API tokens, enrolment links, recovery codes) and how they
//! are stored: a MAC of their SHA-256 under the digest key, which the database holds only
//! sealed under the master key. A copy of the database grants nothing, and a row written
//! straight into it (the hash of a secret of one's choosing) matches no secret.
//!
//! The rows that grant something also carry a stamp under the same key over what they grant
//! (a token's role and creator, a session's staff member and second factor), so a role or an
//! owner edited in the database stops the row from authenticating at all.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// A new random secret: 32 bytes from the OS, URL-safe base64, with a readable prefix.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The unkeyed SHA-256 of a secret: what Herald stored before hashes were keyed, and what the
/// digest key is applied to.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two strings in time independent of where they differ.
pub fn equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// What each kind of stored secret is, bound into its keyed hash: a session id does not open
/// as an API token, nor one member's recovery code as another's.
pub mod kind {
    pub const API_TOKEN: &str = "api-token";
    pub const SESSION: &str = "session";
    pub const ENROLMENT: &str = "enrolment";

    pub fn recovery_code(staff_id: i64) -> String {
        format!("recovery-code:{staff_id}")
    }
}

/// Keyed hashes start with this; an unkeyed SHA-256 (64 hex digits) never does, so the two
/// cannot be confused during the one-time upgrade.
pub const KEYED_PREFIX: &str = "k1.";

/// The key of stored secret hashes and of the stamps on the rows that grant access. Random,
/// made once per database, stored sealed under the master key: rotating the master key
/// re-seals it and every hash stays valid.
#[derive(Clone)]
pub struct DigestKey([u8; 32]);

impl std::fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestKey(..)")
    }
}

impl DigestKey {
    pub fn generate() -> DigestKey {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        DigestKey(key)
    }

    /// The key as text, for sealing.
    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The key from its text form, as `to_text` wrote it.
    pub fn from_text(text: &str) -> Option<DigestKey> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        bytes.try_into().ok().map(DigestKey)
    }

    fn mac(&self, fields: &[&str]) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        for field in fields {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// The stored form of a secret of one kind.
    pub fn hash(&self, kind: &str, secret: &str) -> String {
        self.rekey(kind, &digest(secret))
    }

    /// The stored form of a secret whose SHA-256 is `digest` (an old unkeyed row, or a
    /// recovery code hashed by its caller).
    pub fn rekey(&self, kind: &str, digest: &str) -> String {
        format!("{KEYED_PREFIX}{}", self.mac(&["secret", kind, digest]))
    }

    /// Whether a stored hash is keyed (or an unkeyed one from before the upgrade).
    pub fn is_keyed(stored: &str) -> bool {
        stored.starts_with(KEYED_PREFIX)
    }

    /// What an API token grants: its role, who made it, whether it is revoked.
    pub fn token_stamp(
        &self,
        token_hash: &str,
        role: &str,
        created_by_staff: Option<i64>,
        revoked_at: Option<&DateTime<Utc>>,
    ) -> String {
        self.mac(&[
            "api-token row",
            token_hash,
            role,
            &optional(created_by_staff.map(|id| id.to_string())),
            &optional(revoked_at.map(millis)),
        ])
    }

    /// Whose a session is and whether its second factor was given.
    pub fn session_stamp(
        &self,
        id_hash: &str,
        staff_id: i64,
        mfa_at: Option<&DateTime<Utc>>,
    ) -> String {
        self.mac(&[
            "session row",
            id_hash,
            &staff_id.to_string(),
            &optional(mfa_at.map(millis)),
        ])
    }

    /// When a session's owner last gave their code again. Stamped apart from the session, so
    /// clearing the time only asks for a code sooner.
    pub fn reauth_stamp(&self, id_hash: &str, reauth_at: &DateTime<Utc>) -> String {
        self.mac(&["session reauth", id_hash, &millis(reauth_at)])
    }

    /// Whose an enrolment link is, and until when.
    pub fn enrolment_stamp(
        &self,
        token_hash: &str,
        staff_id: i64,
        expires_at: &DateTime<Utc>,
    ) -> String {
        self.mac(&[
            "enrolment row",
            token_hash,
            &staff_id.to_string(),
            &millis(expires_at),
        ])
    }

    pub fn verify(expected: &str, stamp: Option<&str>) -> bool {
        stamp.is_some_and(|s| equal(expected, s))
    }
}

/// Times in stamps: milliseconds, the precision Herald stores on both backends.
fn millis(t: &DateTime<Utc>) -> String {
    t.timestamp_millis().to_string()
}

fn optional(value: Option<String>) -> String {
    value.unwrap_or_else(|| "\u{0}".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_and_hashed() {
        let a = generate("hrld_");
        let b = generate("hrld_");
        assert_ne!(a, b);
        assert!(a.starts_with("hrld_") && a.len() > 40);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), a);
        assert!(equal(&a, &a.clone()) && !equal(&a, &b));
    }

    #[test]
    fn a_keyed_hash_needs_the_key_and_binds_the_kind() {
        let key = DigestKey::generate();
        let token = generate("hrld_");
        let stored = key.hash(kind::API_TOKEN, &token);
        assert!(DigestKey::is_keyed(&stored));
        assert!(!DigestKey::is_keyed(&digest(&token)));
        assert_eq!(stored, key.hash(kind::API_TOKEN, &token));
        assert_eq!(stored, key.rekey(kind::API_TOKEN, &digest(&token)));
        assert_ne!(stored, key.hash(kind::SESSION, &token));
        assert_ne!(stored, DigestKey::generate().hash(kind::API_TOKEN, &token));
        assert_ne!(
            key.rekey(&kind::recovery_code(1), "d"),
            key.rekey(&kind::recovery_code(2), "d")
        );
        let again = DigestKey::from_text(&key.to_text()).unwrap();
        assert_eq!(again.hash(kind::API_TOKEN, &token), stored);
        assert!(DigestKey::from_text("short").is_none());
    }

    #[test]
    fn a_stamp_covers_what_the_row_grants() {
        let key = DigestKey::generate();
        let stamp = key.token_stamp("k1.h", "viewer", Some(3), None);
        assert!(DigestKey::verify(
            &key.token_stamp("k1.h", "viewer", Some(3), None),
            Some(&stamp)
        ));
        for other in [
            key.token_stamp("k1.h", "admin", Some(3), None),
            key.token_stamp("k1.h", "viewer", None, None),
            key.token_stamp("k1.h", "viewer", Some(4), None),
            key.token_stamp("k1.g", "viewer", Some(3), None),
            key.token_stamp("k1.h", "viewer", Some(3), Some(&Utc::now())),
        ] {
            assert!(!DigestKey::verify(&other, Some(&stamp)));
        }
        let session = key.session_stamp("k1.s", 1, None);
        assert_ne!(session, key.session_stamp("k1.s", 2, None));
        assert_ne!(session, key.session_stamp("k1.s", 1, Some(&Utc::now())));
        assert!(!DigestKey::verify(&session, None));
    }
}
