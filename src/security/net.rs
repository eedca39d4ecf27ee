//! Who is really asking, behind a reverse proxy. The throttles, the audit log and the
//! tripwire's "new address" rule key on the client address, so it must not be the proxy's, and
//! must not be whatever a client writes into `X-Forwarded-For` either. Herald believes that
//! header only from the proxies named in `HERALD_TRUSTED_PROXIES`, and then takes the right-most
//! address in it that is not itself a trusted proxy.

use std::net::IpAddr;

/// An address block: `10.0.0.0/8`, `::1/128`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    base: IpAddr,
    bits: u8,
}

impl Block {
    pub fn parse(raw: &str) -> Result<Block, String> {
        let raw = raw.trim();
        let (addr, bits) = match raw.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (raw, None),
        };
        let base: IpAddr = addr
            .parse()
            .map_err(|_| format!("\"{raw}\" is not an IP address or block"))?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("\"{raw}\" has a bad prefix length"))?,
        };
        Ok(Block { base, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        fn prefix(bytes: &[u8], bits: u8) -> Vec<u8> {
            bytes
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let keep = (i32::from(bits) - 8 * i as i32).clamp(0, 8) as u32;
                    if keep == 0 {
                        0
                    } else {
                        b & (0xffu8 << (8 - keep))
                    }
                })
                .collect()
        }
        let ip = match (self.base, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        match (self.base, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                prefix(&a.octets(), self.bits) == prefix(&b.octets(), self.bits)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                prefix(&a.octets(), self.bits) == prefix(&b.octets(), self.bits)
            }
            _ => false,
        }
    }
}

/// The comma-separated blocks of `HERALD_TRUSTED_PROXIES`.
pub fn parse_blocks(raw: &str) -> Result<Vec<Block>, String> {
    raw.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(Block::parse)
        .collect()
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the right-most
/// address in `X-Forwarded-For` that is not a trusted proxy.
pub fn client_address(peer: IpAddr, forwarded_for: &[&str], trusted: &[Block]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|b| b.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for
        .iter()
        .flat_map(|v| v.split(','))
        .rev()
        .map(str::trim)
    {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // Garbage from further out: stop at the last address we could read.
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_match_their_prefix() {
        let b = Block::parse("10.0.0.0/8").unwrap();
        assert!(b.contains(ip("10.200.3.4")));
        assert!(!b.contains(ip("11.0.0.1")));
        assert!(Block::parse("192.0.2.7").unwrap().contains(ip("192.0.2.7")));
        assert!(!Block::parse("192.0.2.7").unwrap().contains(ip("192.0.2.8")));
        assert!(Block::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(Block::parse("127.0.0.1")
            .unwrap()
            .contains(ip("::ffff:127.0.0.1")));
        assert!(Block::parse("10.0.0.0/33").is_err());
        assert!(Block::parse("proxy.internal").is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = parse_blocks("10.0.0.0/8").unwrap();
        // Straight from the internet: the header is the client's own claim, ignored.
        assert_eq!(
            client_address(ip("203.0.113.9"), &["198.51.100.1"], &trusted),
            ip("203.0.113.9")
        );
        // Through our proxy: the address the proxy saw.
        assert_eq!(
            client_address(ip("10.0.0.5"), &["198.51.100.1, 203.0.113.9"], &trusted),
            ip("203.0.113.9"),
            "a client-supplied left-hand entry is not believed"
        );
        // Through two of our proxies.
        assert_eq!(
            client_address(ip("10.0.0.5"), &["203.0.113.9, 10.0.0.6"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("10.0.0.5"), &[], &trusted),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_address(ip("10.0.0.5"), &["203.0.113.9"], &[]),
            ip("10.0.0.5"),
            "no trusted proxies: the header means nothing"
        );
    }
}
