//! The audit chain. Every entry carries the hash of the one before it, and each hash is an
//! HMAC-SHA-256 under a key derived from the master key (which is not in the database). So an
//! edited, removed or reordered entry breaks the chain at that point, and someone who can write
//! to the database but does not hold the key cannot forge a new chain over their edit.
//!
//! Cutting entries off the end leaves a shorter chain that is still whole; `herald audit verify`
//! prints the head (entry count and last hash) so it can be written down elsewhere and checked
//! later with `--expect-head`.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::keys::MasterKey;

type HmacSha256 = Hmac<Sha256>;

/// One action, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `staff:<email>`, `token:<name>`, `cli`, `tripwire`, or `anonymous` for failed sign-ins.
    pub actor: String,
    pub ip: String,
    pub user_agent: String,
    /// Dotted verb, e.g. `login.failed`, `incident.update`, `outbound.resume`.
    pub action: String,
    /// What it acted on, e.g. `incident:12`.
    pub target: String,
    /// A JSON object with what changed.
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Computes and checks entry hashes.
#[derive(Clone)]
pub struct Chain {
    key: [u8; 32],
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Chain(..)")
    }
}

/// Why a chain does not verify, naming the first bad entry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Broken {
    #[error("entry {id}: its hash does not match its contents (edited)")]
    Edited { id: i64 },
    #[error("entry {id}: it does not follow the entry before it (an entry was removed or reordered before it)")]
    Unlinked { id: i64 },
    #[error("the chain holds {found} entries but its head says {expected} (entries were removed)")]
    Count { found: i64, expected: i64 },
    #[error("the last entry's hash is not the head's (the newest entries were changed)")]
    Head,
}

impl Chain {
    pub fn new(master: &MasterKey) -> Chain {
        Chain {
            key: master.derive("herald audit chain v1"),
        }
    }

    /// The hash of an entry with these contents following `prev_hash`.
    pub fn hash(&self, entry: &Entry) -> String {
        let mut mac =
            HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("any key"));
        let at = entry
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let id = entry.id.to_string();
        // Length-prefixed fields: no two different entries serialise the same way.
        for field in [
            entry.prev_hash.as_str(),
            &id,
            &at,
            &entry.actor,
            &entry.ip,
            &entry.user_agent,
            &entry.action,
            &entry.target,
            &entry.detail,
        ] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// Checks entries in id order, starting from the first. Returns how many were checked.
    pub fn verify<'a>(
        &self,
        entries: impl IntoIterator<Item = &'a Entry>,
        prev: &mut String,
    ) -> Result<i64, Broken> {
        let mut count = 0;
        for entry in entries {
            if entry.prev_hash != *prev {
                return Err(Broken::Unlinked { id: entry.id });
            }
            if !super::secret::equal(&self.hash(entry), &entry.hash) {
                return Err(Broken::Edited { id: entry.id });
            }
            prev.clone_from(&entry.hash);
            count += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain_of(n: i64, chain: &Chain) -> Vec<Entry> {
        let mut prev = String::new();
        (1..=n)
            .map(|id| {
                let mut e = Entry {
                    id,
                    at: crate::domain::now(),
                    actor: "staff:ann@example.com".into(),
                    ip: "192.0.2.1".into(),
                    user_agent: "test".into(),
                    action: "incident.update".into(),
                    target: format!("incident:{id}"),
                    detail: "{}".into(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = chain.hash(&e);
                prev.clone_from(&e.hash);
                e
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let chain = Chain::new(&MasterKey::for_tests());
        let entries = chain_of(5, &chain);
        assert_eq!(chain.verify(&entries, &mut String::new()), Ok(5));
    }

    #[test]
    fn edits_removals_and_swaps_are_named() {
        let chain = Chain::new(&MasterKey::for_tests());
        let mut edited = chain_of(5, &chain);
        edited[2].detail = r#"{"body":"changed"}"#.into();
        assert_eq!(
            chain.verify(&edited, &mut String::new()),
            Err(Broken::Edited { id: 3 })
        );

        let mut removed = chain_of(5, &chain);
        removed.remove(1);
        assert_eq!(
            chain.verify(&removed, &mut String::new()),
            Err(Broken::Unlinked { id: 3 })
        );

        let mut swapped = chain_of(5, &chain);
        swapped.swap(3, 4);
        assert_eq!(
            chain.verify(&swapped, &mut String::new()),
            Err(Broken::Unlinked { id: 5 })
        );
    }

    #[test]
    fn a_chain_rebuilt_without_the_key_does_not_verify() {
        let real = Chain::new(&MasterKey::for_tests());
        let forger = Chain::new(&MasterKey::from_bytes([9; 32]));
        let forged = chain_of(3, &forger);
        assert_eq!(
            real.verify(&forged, &mut String::new()),
            Err(Broken::Edited { id: 1 })
        );
    }
}
