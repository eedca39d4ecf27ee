//! Staff authentication pieces: password hashing, random secrets and their hashes, the master
//! key and what is derived from it (signed links, sealed secrets).
//! (Two-factor auth and the audit chain will live here too.)

pub mod keys;
pub mod password;
pub mod seal;
pub mod secret;
