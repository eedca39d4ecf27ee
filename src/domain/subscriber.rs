//! Email subscribers and their addresses.
//!
//! One validator, [`SubscriberEmail::parse_with`], used by sign-up, import, both APIs and the
//! mailer, accepts exactly what Herald can deliver: an RFC 5321/5322 dot-atom local part, kept as
//! typed, and a domain of dot-separated labels, lower-cased; an internationalised domain is kept
//! in its ASCII (punycode) form, which every relay accepts. A local part beyond ASCII (RFC 6531)
//! is accepted only when the mail relay announces SMTPUTF8 (`Relay` in `channels::email` says),
//! and is kept in NFC. Refused with a reason: quoted local parts, obsolete forms (comments, IP
//! literals), control and direction-changing characters, and a non-ASCII local part while the
//! relay does not announce SMTPUTF8.

use unicode_normalization::UnicodeNormalization;

use super::FieldError;

/// A validated subscriber address. Build it with `parse`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscriberEmail {
    address: String,
    at: usize,
}

const MAX_LOCAL_OCTETS: usize = 64;
const MAX_ADDRESS_OCTETS: usize = 254;
const MAX_DOMAIN_OCTETS: usize = 253;
const MAX_LABEL_OCTETS: usize = 63;

fn error(message: &str) -> FieldError {
    FieldError::new("email", message)
}

/// `atext` of RFC 5322 (ASCII only).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

fn valid_dot_atom(local: &str) -> bool {
    !local.is_empty()
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// RFC 6531's dot-atom: `atext` or any character beyond ASCII (controls and invisible
/// characters are refused before this).
fn valid_utf8_dot_atom(local: &str) -> bool {
    !local.is_empty()
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(|c| is_atext(c) || !c.is_ascii()))
}

/// Characters that are invisible or change the direction of the text around them: an address
/// holding one reads as a different address.
fn is_invisible_or_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// The domain in its ASCII form, if it is a valid host name.
fn valid_domain(domain: &str) -> Result<String, FieldError> {
    let ascii = idna::domain_to_ascii(domain)
        .map_err(|_| error("has a domain that is not a valid host name"))?;
    if ascii.len() > MAX_DOMAIN_OCTETS {
        return Err(error("has a domain that is too long"));
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(error("needs a full domain, such as example.com"));
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= MAX_LABEL_OCTETS
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(error("has a domain that is not a valid host name"));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(error("has a domain that is not a valid host name"));
    }
    Ok(ascii)
}

impl SubscriberEmail {
    /// Parses an address for a relay that does not take internationalised local parts.
    pub fn parse(raw: &str) -> Result<SubscriberEmail, FieldError> {
        Self::parse_with(raw, false)
    }

    /// Parses an address; with `international`, for a relay that announces SMTPUTF8, a local
    /// part beyond ASCII is accepted too.
    pub fn parse_with(raw: &str, international: bool) -> Result<SubscriberEmail, FieldError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(error("must not be empty"));
        }
        if raw.chars().any(|c| c == '\r' || c == '\n') {
            return Err(error("must be a single address"));
        }
        if raw.chars().any(char::is_control) {
            return Err(error("must not contain control characters"));
        }
        if raw.chars().any(is_invisible_or_bidi) {
            return Err(error(
                "must not contain invisible or direction-changing characters",
            ));
        }
        let at = raw
            .rfind('@')
            .ok_or_else(|| error("must be an address such as you@example.com"))?;
        let (local, domain) = (&raw[..at], &raw[at + 1..]);
        if local.is_empty() || domain.is_empty() {
            return Err(error("must be an address such as you@example.com"));
        }
        if local.starts_with('"') {
            return Err(error(
                "has a quoted part before the @, which this status page cannot send to",
            ));
        }
        let local: String = if local.is_ascii() {
            local.to_string()
        } else if international {
            local.nfc().collect()
        } else {
            return Err(error(
                "has characters other than ASCII before the @: mail to it needs a mail relay \
                 that accepts internationalised addresses (SMTPUTF8), and this status page's \
                 relay does not announce it",
            ));
        };
        if local.len() > MAX_LOCAL_OCTETS {
            return Err(error("has a part before the @ longer than 64 octets"));
        }
        let valid = if local.is_ascii() {
            valid_dot_atom(&local)
        } else {
            valid_utf8_dot_atom(&local)
        };
        if !valid {
            return Err(error("has characters that are not allowed before the @"));
        }
        let domain = valid_domain(&domain.to_lowercase())?;
        let address = format!("{local}@{domain}");
        if address.len() > MAX_ADDRESS_OCTETS {
            return Err(error("is longer than 254 characters"));
        }
        Ok(SubscriberEmail {
            at: local.len(),
            address,
        })
    }

    /// The form two addresses are compared in: `Sub1@Example.com` and `sub1@example.com` are
    /// one subscriber. (RFC 5321 lets a local part be case-sensitive; no real mailbox relies on
    /// it, and two subscriptions for one inbox would mail it twice.)
    pub fn key(&self) -> String {
        self.address.to_ascii_lowercase()
    }

    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// The address with its domain in ASCII (punycode), for the SMTP envelope: since `parse`
    /// keeps the domain in that form, the address itself.
    pub fn to_ascii_domain(&self) -> String {
        self.address.clone()
    }
}

impl std::fmt::Display for SubscriberEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.address)
    }
}

/// Reads addresses from CSV or plain text: the first column of each line, skipping blank lines
/// and a header line. Returns the addresses (first occurrence of each) and, per bad line, its
/// number and the problem.
pub fn parse_list(text: &str) -> (Vec<SubscriberEmail>, Vec<(usize, String)>) {
    parse_list_with(text, false)
}

/// [`parse_list`], for a relay that announces SMTPUTF8 when `international`.
pub fn parse_list_with(
    text: &str,
    international: bool,
) -> (Vec<SubscriberEmail>, Vec<(usize, String)>) {
    let mut emails = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let first = line
            .split([',', ';', '\t'])
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        if first.is_empty() || (n == 0 && first.eq_ignore_ascii_case("email")) {
            continue;
        }
        match SubscriberEmail::parse_with(first, international) {
            Ok(email) => {
                if seen.insert(email.key()) {
                    emails.push(email);
                }
            }
            Err(e) => problems.push((n + 1, format!("\"{first}\" {}", e.message))),
        }
    }
    (emails, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_and_unusual_but_legal_addresses_are_accepted() {
        for ok in [
            "simple@example.com",
            "very.common@example.com",
            "first.last+tag@sub.example.co.uk",
            "x@example.io",
            "user%example.org@example.org",
            "!#$%&'*+-/=?^_`{|}~@example.com",
            "a@xn--bcher-kva.de",
            "user@bücher.example",
        ] {
            assert!(SubscriberEmail::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn malformed_addresses_are_refused_with_a_reason() {
        for bad in [
            "",
            "plainaddress",
            "@example.com",
            "user@",
            "user@localhost",
            "john..doe@example.com",
            ".john@example.com",
            "john.@example.com",
            "a b@example.com",
            "user@exa mple.com",
            "user@-example.com",
            "user@example..com",
            "user@123.123.123.123",
            "user@[127.0.0.1]",
            "bcc@example.com\r\nBcc: victim@example.com",
            "\"unterminated@example.com",
            "\"john..doe\"@example.org",
            "\"a b\"@example.com",
            "üser@example.com",
            "用户@例子.广告",
            "user\u{202E}moc.elpmaxe@example.com",
            "us\u{200B}er@example.com",
            "user@exam\u{202E}ple.com",
            "us\u{1b}er@example.com",
            "user\0@example.com",
        ] {
            let e = SubscriberEmail::parse(bad);
            assert!(e.is_err(), "{bad:?} was accepted");
            assert_eq!(e.unwrap_err().field, "email");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(SubscriberEmail::parse(&long_local).is_err());
        let long_domain = format!("a@{}.com", vec!["b".repeat(60); 5].join("."));
        assert!(SubscriberEmail::parse(&long_domain).is_err());
    }

    #[test]
    fn a_csv_list_yields_its_addresses_and_names_bad_lines() {
        let (emails, problems) = parse_list(
            "email,name\na@example.com,A\n\nnot-an-address\n\"b@example.com\";B\na@example.com\n",
        );
        let list: Vec<&str> = emails.iter().map(SubscriberEmail::as_str).collect();
        assert_eq!(list, ["a@example.com", "b@example.com"]);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, 4);
    }

    #[test]
    fn the_domain_is_lower_cased_and_the_local_part_kept() {
        let e = SubscriberEmail::parse("  John.Doe@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "John.Doe@example.com");
        let e = SubscriberEmail::parse("jorg@BÜCHER.de").unwrap();
        assert_eq!(e.as_str(), "jorg@xn--bcher-kva.de", "kept in punycode");
        assert_eq!(e.to_ascii_domain(), "jorg@xn--bcher-kva.de");
        let upper = SubscriberEmail::parse("SUB1@EXAMPLE.COM").unwrap();
        let lower = SubscriberEmail::parse("sub1@example.com").unwrap();
        assert_eq!(upper.as_str(), "SUB1@example.com");
        assert_eq!(upper.key(), lower.key());
    }

    #[test]
    fn why_an_address_is_refused_is_said_plainly() {
        let message = |raw: &str| SubscriberEmail::parse(raw).unwrap_err().message;
        assert!(message("üser@example.com").contains("SMTPUTF8"));
        assert!(message("\"a b\"@example.com").contains("quoted"));
        assert!(message("a\u{202E}b@example.com").contains("direction"));
    }

    #[test]
    fn a_relay_announcing_smtputf8_takes_internationalised_local_parts() {
        let e = SubscriberEmail::parse_with("üser@Bücher.example", true).unwrap();
        assert_eq!(e.as_str(), "üser@xn--bcher-kva.example");
        // Kept in NFC, so the composed and decomposed spellings are one subscriber.
        let decomposed = SubscriberEmail::parse_with("u\u{308}ser@example.com", true).unwrap();
        assert_eq!(decomposed.as_str(), "üser@example.com");
        for bad in [
            "ü..ser@example.com",
            "ü ser@example.com",
            "\"ü\"@example.com",
        ] {
            assert!(SubscriberEmail::parse_with(bad, true).is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "ü".repeat(33));
        assert!(SubscriberEmail::parse_with(&long, true)
            .unwrap_err()
            .message
            .contains("64 octets"));
        let (emails, _) = parse_list_with("email\nüser@example.com\n", true);
        assert_eq!(emails.len(), 1);
        let (emails, problems) = parse_list_with("üser@example.com\n", false);
        assert!(emails.is_empty() && problems[0].1.contains("SMTPUTF8"));
    }

    #[test]
    fn a_list_keeps_one_of_addresses_differing_only_in_case() {
        let (emails, problems) = parse_list("Sub1@Example.com\nsub1@example.com\n");
        assert_eq!(emails.len(), 1);
        assert!(problems.is_empty());
    }
}
