//! The systems Herald sends through, each behind the `Channel` trait with a test double beside
//! it. Adding a channel: a transport here, a `channel::` name in the store, a composer in
//! `notify::compose`, and a worker in `notify` that drains that channel's deliveries.

use std::future::Future;

pub mod dkim;
pub mod email;
pub mod x;

/// One outbound channel: sends a message of its kind and returns the receipt the far end gave
/// (an SMTP server's reply, a post's id).
pub trait Channel: Send + Sync + 'static {
    type Message: Send + 'static;
    fn send(
        &self,
        message: Self::Message,
    ) -> impl Future<Output = Result<String, SendError>> + Send;
}

/// Why a send failed, in the terms the worker acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The recipient or message was refused for good (SMTP 5xx): do not try again.
    Permanent(String),
    /// Refused for now (SMTP 4xx, timeouts): try this message again later.
    Transient(String),
    /// The service could not be reached at all: nothing is wrong with the message; hold the
    /// whole channel back for a while.
    Unreachable(String),
    /// The service asks every request to wait until `until` (X's 429 with x-rate-limit-reset).
    RateLimited {
        until: chrono::DateTime<chrono::Utc>,
        error: String,
    },
    /// The account's credentials were refused (X's 401): nothing gets through until an admin
    /// reconnects it.
    Unauthorized(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Permanent(m)
            | SendError::Transient(m)
            | SendError::Unreachable(m)
            | SendError::Unauthorized(m)
            | SendError::RateLimited { error: m, .. } => f.write_str(m),
        }
    }
}
