//! Passwords are hashed with argon2id (memory-hard), on a blocking thread: hashing takes tens of
//! milliseconds by design and must not stall the async runtime.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::domain::FieldError;

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Checks a new password against the length rules (NIST SP 800-63B: length over composition).
pub fn check_new_password(password: &str, confirm: &str) -> Result<(), FieldError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(FieldError::new(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(FieldError::new(
            "password",
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    if password != confirm {
        return Err(FieldError::new(
            "password_confirm",
            "does not match the password",
        ));
    }
    Ok(())
}

/// Hashes a password into a PHC string (algorithm, parameters and salt included).
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password failed: {e}"))
    })
    .await?
}

/// A hash to verify against when the account does not exist, so that unknown accounts take
/// as long to refuse as wrong passwords.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$e6Uw8fFGTazsiTeS/ESqU5VqG/Ddq0u8z80yEoH+HDI";

/// True when `password` matches `phc`; with no hash, spends the same time and says no.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| DUMMY_HASH.to_string());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && known
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_password() {
        let phc = hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse battery".into(), Some(phc.clone())).await);
        assert!(!verify("wrong horse battery".into(), Some(phc)).await);
        assert!(!verify("anything".into(), None).await);
    }

    #[test]
    fn short_or_mismatched_passwords_are_refused() {
        assert_eq!(
            check_new_password("short", "short").unwrap_err().field,
            "password"
        );
        assert_eq!(
            check_new_password("long enough password", "other")
                .unwrap_err()
                .field,
            "password_confirm"
        );
        assert!(check_new_password("long enough password", "long enough password").is_ok());
    }
}
