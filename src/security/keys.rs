//! The master key lives outside the database (a file in the data directory, mode 0600, or
//! `HERALD_SECRET_KEY_FILE`), so a copy of the database alone yields nothing usable. Purpose
//! keys are derived from it with HMAC-SHA-256, one per use.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Reads the key file, creating it (0600) with a fresh random key on first run.
    pub fn load_or_create(path: &Path) -> anyhow::Result<MasterKey> {
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read the secret key file {}: {e}", path.display())
            })?;
            let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| {
                anyhow::anyhow!("the secret key file {} is damaged", path.display())
            })?;
            let key: [u8; 32] = bytes.try_into().map_err(|_| {
                anyhow::anyhow!("the secret key file {} must hold 32 bytes", path.display())
            })?;
            return Ok(MasterKey(key));
        }
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| {
            anyhow::anyhow!("cannot create the secret key file {}: {e}", path.display())
        })?;
        writeln!(file, "{}", URL_SAFE_NO_PAD.encode(key))?;
        tracing::warn!(
            path = %path.display(),
            "created a new secret key; back it up: without it, links in sent emails stop working"
        );
        Ok(MasterKey(key))
    }

    /// The default location inside the data directory.
    pub fn default_path(data_dir: &Path) -> PathBuf {
        data_dir.join("secret.key")
    }

    /// A key for one purpose, independent of every other purpose's key.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| unreachable_key());
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    #[cfg(test)]
    pub fn for_tests() -> MasterKey {
        MasterKey([7; 32])
    }

    #[cfg(test)]
    pub fn from_bytes(key: [u8; 32]) -> MasterKey {
        MasterKey(key)
    }
}

// HMAC accepts keys of any length; this cannot happen.
fn unreachable_key() -> HmacSha256 {
    HmacSha256::new_from_slice(&[0; 32]).expect("HMAC takes any key length")
}

/// Signs links that act for a subscriber (confirm, manage, unsubscribe) without storing them:
/// `{id}.{expiry}.{mac}`, where the MAC covers the purpose too, so one kind cannot be used as
/// another.
#[derive(Clone)]
pub struct LinkSigner {
    key: [u8; 32],
}

impl LinkSigner {
    pub fn new(master: &MasterKey) -> LinkSigner {
        LinkSigner {
            key: master.derive("herald subscriber links v1"),
        }
    }

    fn mac(&self, purpose: &str, id: i64, expires: i64) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable_key());
        mac.update(format!("{purpose}\n{id}\n{expires}").as_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..18])
    }

    /// A token for `purpose` and `id`, valid until `expires` (Unix seconds; 0 = forever).
    pub fn sign(&self, purpose: &str, id: i64, expires: i64) -> String {
        format!("{id}.{expires}.{}", self.mac(purpose, id, expires))
    }

    /// The id a token was signed for, if it is genuine, for this purpose and unexpired.
    pub fn verify(&self, purpose: &str, token: &str, now: i64) -> Option<i64> {
        let mut parts = token.splitn(3, '.');
        let id: i64 = parts.next()?.parse().ok()?;
        let expires: i64 = parts.next()?.parse().ok()?;
        let mac = parts.next()?;
        if !super::secret::equal(mac, &self.mac(purpose, id, expires)) {
            return None;
        }
        (expires == 0 || now < expires).then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_link_verifies_only_for_its_purpose_and_before_expiry() {
        let signer = LinkSigner::new(&MasterKey::for_tests());
        let token = signer.sign("confirm", 42, 1_000);
        assert_eq!(signer.verify("confirm", &token, 999), Some(42));
        assert_eq!(signer.verify("confirm", &token, 1_000), None, "expired");
        assert_eq!(
            signer.verify("unsubscribe", &token, 999),
            None,
            "wrong purpose"
        );
        let forged = token.replacen("42.", "43.", 1);
        assert_eq!(signer.verify("confirm", &forged, 999), None, "tampered id");
        assert_eq!(signer.verify("confirm", "garbage", 0), None);
    }

    #[test]
    fn the_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let a = MasterKey::load_or_create(&path).unwrap();
        let b = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(a.derive("x"), b.derive("x"));
        assert_ne!(a.derive("x"), a.derive("y"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
