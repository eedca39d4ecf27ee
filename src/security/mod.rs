//! Staff authentication pieces: password hashing, random secrets and their hashes.
//! (Two-factor auth, the secret box and the audit chain will live here too.)

pub mod keys;
pub mod password;
pub mod secret;
