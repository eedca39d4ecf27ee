//! Email subscribers and their addresses.
//!
//! Addresses follow what real mail systems accept (RFC 5321/5322 addr-spec, RFC 6531 for UTF-8):
//! a dot-atom or quoted local part, kept exactly as typed, and a domain of dot-separated labels
//! (internationalised ones too), lower-cased. Obsolete forms (comments, IP literals) are refused.

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

/// `atext` of RFC 5322, plus any non-ASCII character (RFC 6531).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
}

fn valid_dot_atom(local: &str) -> bool {
    !local.is_empty()
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// A quoted local part: printable characters, with `\` escaping any of them.
fn valid_quoted(local: &str) -> bool {
    let Some(inner) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) else {
        return false;
    };
    let mut escaped = false;
    for c in inner.chars() {
        if c.is_control() {
            return false;
        }
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return false,
            _ => {}
        }
    }
    !escaped
}

fn valid_domain(domain: &str) -> Result<(), FieldError> {
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
    Ok(())
}

impl SubscriberEmail {
    pub fn parse(raw: &str) -> Result<SubscriberEmail, FieldError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(error("must not be empty"));
        }
        if raw.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
            return Err(error("must be a single address"));
        }
        let at = raw
            .rfind('@')
            .ok_or_else(|| error("must be an address such as you@example.com"))?;
        let (local, domain) = (&raw[..at], &raw[at + 1..]);
        if local.is_empty() || domain.is_empty() {
            return Err(error("must be an address such as you@example.com"));
        }
        if local.len() > MAX_LOCAL_OCTETS {
            return Err(error("has a part before the @ longer than 64 characters"));
        }
        if !(valid_dot_atom(local) || valid_quoted(local)) {
            return Err(error("has characters that are not allowed before the @"));
        }
        let domain = domain.to_lowercase();
        valid_domain(&domain)?;
        let address = format!("{local}@{domain}");
        if address.len() > MAX_ADDRESS_OCTETS {
            return Err(error("is longer than 254 characters"));
        }
        Ok(SubscriberEmail { address, at })
    }

    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// The address with its domain in ASCII (punycode), for the SMTP envelope.
    pub fn to_ascii_domain(&self) -> String {
        let (local, domain) = self.address.split_at(self.at);
        let domain = &domain[1..];
        let ascii = idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_string());
        format!("{local}@{ascii}")
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
        match SubscriberEmail::parse(first) {
            Ok(email) => {
                if seen.insert(email.as_str().to_string()) {
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
            "\"john..doe\"@example.org",
            "\"quoted space\"@example.com",
            "用户@例子.广告",
            "jörg@bücher.de",
            "a@xn--bcher-kva.de",
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
        let e = SubscriberEmail::parse("jörg@BÜCHER.de").unwrap();
        assert_eq!(e.to_ascii_domain(), "jörg@xn--bcher-kva.de");
    }
}
