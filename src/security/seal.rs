//! Secrets at rest (X access tokens, and later SMTP passwords and TOTP seeds) are sealed with an
//! AEAD, ChaCha20-Poly1305, under a key derived from the master key, which never enters the
//! database. The purpose (say `x.token`) is the associated data, so a sealed value copied into
//! another column does not open there. A database copy without the key file yields nothing.
//!
//! Stored form: `v1.` + base64url(nonce ‖ ciphertext ‖ tag), with a random 96-bit nonce (few
//! values are ever sealed under one key, far below the bound where random nonces could repeat).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use super::keys::MasterKey;

const VERSION: &str = "v1.";

/// What each sealed value is for, bound into its seal as associated data: a value copied into
/// another column or another account's row does not open.
pub mod purpose {
    pub const X_TOKEN: &str = "x.token";
    pub const X_SECRET: &str = "x.secret";
    /// A request token's secret between the first leg of X's connect flow and its callback.
    pub const X_REQUEST: &str = "x.request_secret";
    /// The key of stored secret hashes and access-row stamps (`secret::DigestKey`).
    pub const DIGEST_KEY: &str = "digest.key";

    /// A webhook subscription's URL (a chat webhook's URL is a credential to post).
    pub fn hook_url(hook_id: i64) -> String {
        format!("hook.url:{hook_id}")
    }

    /// A webhook subscription's signing secret.
    pub fn hook_secret(hook_id: i64) -> String {
        format!("hook.secret:{hook_id}")
    }

    /// One staff member's TOTP seed.
    pub fn totp(staff_id: i64) -> String {
        format!("totp.seed:{staff_id}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("a sealed secret is damaged or was sealed under another key")]
    CannotOpen,
    #[error("the system random generator failed")]
    Random,
}

pub struct Sealer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn new(master: &MasterKey) -> Sealer {
        let bytes = master.derive("herald seal v1");
        // A 32-byte key is exactly what ChaCha20-Poly1305 takes.
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
            .unwrap_or_else(|_| unreachable!("ChaCha20-Poly1305 takes a 32-byte key"));
        Sealer {
            key: LessSafeKey::new(unbound),
            random: SystemRandom::new(),
        }
    }

    /// Encrypts and authenticates `secret` for one `purpose`.
    pub fn seal(&self, purpose: &str, secret: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut sealed = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SealError::CannotOpen)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Decrypts a value sealed for the same `purpose` under the same master key.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<String, SealError> {
        let bytes = sealed
            .strip_prefix(VERSION)
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or(SealError::CannotOpen)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::CannotOpen)?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut buffer)
            .map_err(|_| SealError::CannotOpen)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::CannotOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_what_it_sealed_and_hides_it() {
        let sealer = Sealer::new(&MasterKey::for_tests());
        let sealed = sealer.seal("x.token", "1234-secret-token").unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("secret"));
        assert_ne!(sealed, sealer.seal("x.token", "1234-secret-token").unwrap());
        assert_eq!(
            sealer.open("x.token", &sealed).unwrap(),
            "1234-secret-token"
        );
    }

    #[test]
    fn refuses_another_purpose_another_key_or_a_changed_byte() {
        let sealer = Sealer::new(&MasterKey::for_tests());
        let sealed = sealer.seal("x.token", "secret").unwrap();
        assert_eq!(sealer.open("x.secret", &sealed), Err(SealError::CannotOpen));
        let mut other = [9u8; 32];
        other[0] = 1;
        let stranger = Sealer::new(&MasterKey::from_bytes(other));
        assert_eq!(
            stranger.open("x.token", &sealed),
            Err(SealError::CannotOpen)
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed[3..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("v1.{}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(
            sealer.open("x.token", &tampered),
            Err(SealError::CannotOpen)
        );
        assert_eq!(sealer.open("x.token", "secret"), Err(SealError::CannotOpen));
    }
}
