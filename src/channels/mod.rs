//! The systems Herald sends through, each behind a small trait with a test double beside it.
//! Adding a channel: a transport here, a `channel::` name in the store, a composer in
//! `notify::compose`, and a branch in `notify::worker::deliver`.

pub mod dkim;
pub mod email;

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
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Permanent(m) | SendError::Transient(m) | SendError::Unreachable(m) => {
                f.write_str(m)
            }
        }
    }
}
