//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): HMAC-SHA256 over
//! `{msg_id}.{timestamp}.{body}`, keyed by the subscription's secret, sent as
//! `webhook-signature: v1,<base64>`. Receivers verify with any Standard Webhooks library.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// What every secret starts with, as the spec's libraries expect.
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a new secret (the spec asks for 24 to 64).
const SECRET_BYTES: usize = 24;

/// A new signing secret for a webhook subscription: `whsec_` and 24 random bytes in base64.
pub fn generate_secret() -> String {
    let mut key = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The `webhook-signature` value for one message: `v1,` and the base64 HMAC-SHA256 of
/// `{msg_id}.{timestamp}.{body}` keyed by the bytes the secret encodes.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or_else(|| {
        format!("the webhook's signing secret does not start with \"{SECRET_PREFIX}\"")
    })?;
    let key = STANDARD
        .decode(encoded)
        .map_err(|e| format!("the webhook's signing secret is not valid base64 ({e})"))?;
    if key.is_empty() {
        return Err("the webhook's signing secret is empty".into());
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)
        .map_err(|e| format!("the webhook's signing secret cannot key HMAC-SHA256 ({e})"))?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_spec_test_vector() {
        // From standard-webhooks/standard-webhooks, libraries/go/webhook_test.go (TestWebhookSign).
        assert_eq!(
            sign(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#,
            ),
            Ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_string())
        );
    }

    #[test]
    fn a_new_secret_signs_and_a_receiver_can_check_it() {
        let secret = generate_secret();
        assert!(secret.starts_with("whsec_"));
        let key = STANDARD.decode(&secret[6..]).unwrap();
        assert_eq!(key.len(), 24);
        assert_ne!(secret, generate_secret());

        let body = br#"{"page":{}}"#;
        let signature = sign(&secret, "msg_7", 1_700_000_000, body).unwrap();
        // What a receiver does: recompute over the same three parts and compare.
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(b"msg_7.1700000000.");
        mac.update(body);
        let expected = mac.finalize().into_bytes();
        let sent = STANDARD
            .decode(signature.strip_prefix("v1,").unwrap())
            .unwrap();
        assert_eq!(sent, expected.as_slice());
        assert_ne!(
            sign(&secret, "msg_8", 1_700_000_000, body).unwrap(),
            signature,
            "the message id is signed"
        );
    }

    #[test]
    fn a_secret_without_its_prefix_or_in_bad_base64_is_refused() {
        let e = sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", 1, b"{}").unwrap_err();
        assert!(e.contains("whsec_"), "{e}");
        assert!(sign("whsec_not base64!", "msg_1", 1, b"{}").is_err());
        assert!(sign("whsec_", "msg_1", 1, b"{}").is_err());
    }
}
