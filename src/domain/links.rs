//! Where outbound text sends its readers: the host of a link as a browser or mail client would
//! follow it (IDNA, lowercase, no trailing dot), a `mailto:` address by its domain, and the links
//! a reader's client would make of plain text. The tripwire's link rule reads these.

use url::Url;

/// A host as compared against the allow-list: IDNA ASCII form, lowercase, no trailing dots.
/// A name IDNA refuses is kept lowercased, so it can only ever fail the comparison.
pub fn normalise_host(raw: &str) -> String {
    let trimmed = raw
        .trim()
        .trim_end_matches(['.', '\u{3002}', '\u{ff0e}', '\u{ff61}']);
    let host = idna::domain_to_ascii(trimmed).unwrap_or_else(|_| trimmed.to_lowercase());
    host.trim_end_matches('.').to_lowercase()
}

/// The hosts a URL sends its reader to: the host of a web link, the domain of every address of
/// a `mailto:` link (`to`, `cc` and `bcc` included). Other schemes name no host.
pub fn hosts_of_url(url: &Url) -> Vec<String> {
    match url.scheme() {
        "mailto" => {
            let mut addresses: Vec<String> = vec![percent_decode(url.path())];
            addresses.extend(
                url.query_pairs()
                    .filter(|(k, _)| {
                        ["to", "cc", "bcc"]
                            .iter()
                            .any(|f| k.eq_ignore_ascii_case(f))
                    })
                    .map(|(_, v)| v.into_owned()),
            );
            addresses
                .iter()
                .flat_map(|list| list.split([',', ';']))
                .filter_map(|address| address.trim().trim_end_matches('>').rsplit_once('@'))
                .map(|(_, domain)| normalise_host(domain))
                .filter(|h| !h.is_empty())
                .collect()
        }
        _ => url
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .map(normalise_host)
            .filter(|h| !h.is_empty())
            .into_iter()
            .collect(),
    }
}

/// The hosts of every link a reader's client could make of plain text: what X's link extractor
/// finds (`evil.com/x` without a protocol counts), anything after `http://` or `https://`, a
/// protocol-relative `//host`, and the domain of every email address (mail clients turn
/// `x@evil.com` and `mailto:x@evil.com` into links).
pub fn hosts_in_text(text: &str) -> Vec<String> {
    let mut hosts: Vec<String> = crate::domain::tweet::link_hosts(text)
        .iter()
        .map(|h| normalise_host(h))
        .collect();
    for (at, _) in text.match_indices("//") {
        let rest = &text[at + 2..];
        let host = host_of_authority(rest);
        // A host has a dot; `x //comment` or `and//or` is no link.
        if rest.chars().next().is_some_and(char::is_alphanumeric) && host.contains('.') {
            hosts.push(normalise_host(&host));
        }
    }
    for (at, _) in text.match_indices('@') {
        let has_local_part = text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || "._%+-".contains(c));
        if has_local_part {
            let domain: String = text[at + 1..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '\u{3002}'))
                .collect();
            let domain = domain.trim_end_matches(['.', '-']);
            if domain.contains(['.', '\u{3002}']) {
                hosts.push(normalise_host(domain));
            }
        }
    }
    hosts.retain(|h| !h.is_empty());
    hosts.sort();
    hosts.dedup();
    hosts
}

/// The host at the start of `rest` (what follows `//`): up to the path, without user and port.
fn host_of_authority(rest: &str) -> String {
    let authority = rest
        .split(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    '/' | '\\' | '?' | '#' | ')' | ']' | '>' | '"' | '\'' | '<'
                )
        })
        .next()
        .unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("").to_string();
    }
    host.split(':').next().unwrap_or("").to_string()
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("a={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The registrable domain of `host` by the Public Suffix List (`acme.example` for
/// `status.acme.example`, `acme.co.uk` for `www.acme.co.uk`); an IP address, `localhost` or a
/// name that is itself a public suffix stands for itself.
pub fn registrable_domain(host: &str) -> String {
    let host = normalise_host(host);
    if host.parse::<std::net::IpAddr>().is_ok() || !host.contains('.') {
        return host;
    }
    psl::domain_str(&host).map(str::to_string).unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(url: &str) -> Vec<String> {
        hosts_of_url(&Url::parse(url).unwrap())
    }

    #[test]
    fn hosts_are_compared_in_ascii_lowercase_without_a_trailing_dot() {
        assert_eq!(normalise_host("Evil.COM."), "evil.com");
        assert_eq!(normalise_host("bücher.example"), "xn--bcher-kva.example");
        assert_eq!(hosts("https://EVIL.com./x"), ["evil.com"]);
        assert_eq!(hosts("https://evil%2Ecom/x"), ["evil.com"]);
    }

    #[test]
    fn a_mailto_link_counts_by_the_domain_of_each_address() {
        assert_eq!(hosts("mailto:x@Evil.com"), ["evil.com"]);
        assert_eq!(
            hosts("mailto:support@acme.example,x@evil.com?cc=y@other.example&subject=hi"),
            ["acme.example", "evil.com", "other.example"]
        );
        assert_eq!(hosts("mailto:x%40evil.com"), ["evil.com"]);
    }

    #[test]
    fn plain_text_links_count_as_clients_would_make_them() {
        assert_eq!(
            hosts_in_text("Read https://docs.acme.example/a or evil.com/x"),
            ["docs.acme.example", "evil.com"]
        );
        assert_eq!(hosts_in_text("see //evil.com/d now"), ["evil.com"]);
        assert_eq!(hosts_in_text("write to x@evil.com."), ["evil.com"]);
        assert_eq!(hosts_in_text("mailto:x@evil.com"), ["evil.com"]);
        assert!(hosts_in_text("ping @acme on X, no links").is_empty());
        assert!(hosts_in_text("and/or // a comment").is_empty());
    }

    #[test]
    fn the_registrable_domain_follows_the_public_suffix_list() {
        assert_eq!(registrable_domain("status.acme.example"), "acme.example");
        assert_eq!(registrable_domain("www.acme.co.uk"), "acme.co.uk");
        assert_eq!(registrable_domain("status.acme.com."), "acme.com");
        assert_eq!(registrable_domain("acme.github.io"), "acme.github.io");
        assert_eq!(registrable_domain("127.0.0.1"), "127.0.0.1");
        assert_eq!(registrable_domain("localhost"), "localhost");
    }
}
