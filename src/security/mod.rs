//! Staff security: passwords, random secrets and their hashes, the master key and what is
//! derived from it (signed links, sealed secrets, the audit chain's key), the second factor
//! (TOTP and recovery codes), and the tripwire's rules.

pub mod audit;
pub mod files;
pub mod keys;
pub mod net;
pub mod password;
pub mod seal;
pub mod secret;
pub mod stamp;
pub mod throttle;
pub mod totp;
pub mod tripwire;
