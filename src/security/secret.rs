//! Random bearer secrets (session ids, API tokens, enrolment links) and how they are stored:
//! only a SHA-256 hash reaches the database, so a copy of it grants nothing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new random secret: 32 bytes from the OS, URL-safe base64, with a readable prefix.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The form in which a secret is stored and looked up.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two strings in time independent of where they differ.
pub fn equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
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
}
