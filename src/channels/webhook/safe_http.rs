//! Calling out to addresses strangers give us, safely. Anyone may register a webhook, so its URL
//! must not reach Herald's own network: loopback, private ranges, link-local, the cloud metadata
//! service. Names are resolved by our own resolver, which drops every forbidden address, so the
//! addresses checked are exactly the ones connected to (a name cannot resolve to a public
//! address for a check and to a private one for the connection). Redirects are never followed,
//! no proxy is used, answers are read only to 4 KiB, and a call ends after 10 s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use url::{Host, Url};

use crate::channels::{Receipt, SendError};
use crate::security::net::Block;

/// How long one call may take, from connecting to the last byte read.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of an answer is read: enough for an error message, too little to hurt.
const MAX_ANSWER_BYTES: usize = 4096;
/// How much of an answer goes into an error message.
const ERROR_BODY_CHARS: usize = 200;
/// Longest URL accepted.
const MAX_URL_CHARS: usize = 2000;
/// When a receiver answers 429 without saying how long to wait.
const DEFAULT_RETRY_AFTER: chrono::Duration = chrono::Duration::seconds(60);
/// The longest wait a receiver may ask for: beyond it, Herald asks again (so one receiver cannot
/// park a delivery for days with a huge `Retry-After`).
const MAX_RETRY_AFTER: chrono::Duration = chrono::Duration::hours(1);

/// An HTTP client for webhook receivers: forbidden addresses refused, no redirects, no proxy.
#[derive(Clone)]
pub struct SafeClient {
    http: reqwest::Client,
    allow: Arc<Vec<Block>>,
    timeout: Duration,
}

/// What a receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status code.
    pub status: u16,
    /// `Retry-After`, as a time.
    pub retry_after: Option<DateTime<Utc>>,
    /// The start of the body (at most 4 KiB, invalid UTF-8 replaced).
    pub body: String,
    /// `Location`, named in the error when a receiver redirects.
    pub location: Option<String>,
}

impl SafeClient {
    /// A client that refuses forbidden addresses except those in `allow`
    /// (`HERALD_WEBHOOK_ALLOW_NETWORKS`).
    pub fn new(allow: Vec<Block>) -> anyhow::Result<SafeClient> {
        let allow = Arc::new(allow);
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("Herald/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver {
                allow: allow.clone(),
            }))
            .build()?;
        Ok(SafeClient {
            http,
            allow,
            timeout: TIMEOUT,
        })
    }

    /// The same client with another limit on how long a call may take (tests).
    pub fn with_timeout(mut self, timeout: Duration) -> SafeClient {
        self.timeout = timeout;
        self
    }

    /// POSTs `body` with `headers` to `url` and reads the start of the answer. An error means no
    /// answer came: the address is refused (`Permanent`) or could not be reached in time
    /// (`Transient`); every answer, whatever its status, is for `classify`.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<Answer, SendError> {
        let url = check_url(url).map_err(SendError::Permanent)?;
        let host = url.host_str().unwrap_or_default().to_string();
        // An address written in the URL is connected to without asking any resolver.
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal {
            if let Some(reason) = forbidden(ip, &self.allow) {
                return Err(SendError::Permanent(refusal(&host, ip, reason)));
            }
        }
        let mut request = self.http.post(url).timeout(self.timeout).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let exchange = async {
            let mut response = request.send().await?;
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                    .map(str::to_string)
            };
            let retry_after = header(reqwest::header::RETRY_AFTER)
                .and_then(|raw| parse_retry_after(&raw, Utc::now()));
            let location = header(reqwest::header::LOCATION);
            let status = response.status().as_u16();
            let mut read = Vec::new();
            // The status is the answer; a body cut off midway still leaves it standing.
            while read.len() < MAX_ANSWER_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => read.extend_from_slice(&chunk),
                    Ok(None) | Err(_) => break,
                }
            }
            read.truncate(MAX_ANSWER_BYTES);
            Ok::<Answer, reqwest::Error>(Answer {
                status,
                retry_after,
                body: String::from_utf8_lossy(&read).into_owned(),
                location,
            })
        };
        let too_slow = || {
            SendError::Transient(format!(
                "{host} did not answer within {}",
                seconds(self.timeout)
            ))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Err(too_slow()),
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) if e.is_timeout() => Err(too_slow()),
            Ok(Err(e)) => Err(network_error(&host, &e)),
        }
    }
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn refusal(host: &str, ip: IpAddr, reason: &str) -> String {
    let of = if host.trim_matches(['[', ']']) == ip.to_string() {
        String::new()
    } else {
        format!(" ({host} resolves to it)")
    };
    format!(
        "Herald does not send webhooks to {ip}{of}: it is {reason}. Register an address on the \
         public internet, or, if this receiver is yours, allow its network in \
         HERALD_WEBHOOK_ALLOW_NETWORKS"
    )
}

/// A failed call in the terms the outbox acts on, naming what went wrong.
fn network_error(host: &str, e: &reqwest::Error) -> SendError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut causes = Vec::new();
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<Refused>() {
            return SendError::Permanent(refused.to_string());
        }
        if let Some(dns) = err.downcast_ref::<LookupFailed>() {
            return SendError::Transient(dns.to_string());
        }
        let text = err.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = err.source();
    }
    let causes = causes.join(": ");
    if e.is_connect() {
        SendError::Transient(format!("could not connect to {host}: {causes}"))
    } else {
        SendError::Transient(format!("the call to {host} failed: {causes}"))
    }
}

/// Every address of a name is forbidden.
#[derive(Debug)]
struct Refused {
    host: String,
    ip: IpAddr,
    reason: &'static str,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&refusal(&self.host, self.ip, self.reason))?;
        f.write_str(" (the host resolves only to forbidden addresses)")
    }
}

impl std::error::Error for Refused {}

/// The name did not resolve.
#[derive(Debug)]
struct LookupFailed {
    host: String,
    cause: String,
}

impl std::fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} could not be found in DNS ({}); check the webhook's address",
            self.host, self.cause
        )
    }
}

impl std::error::Error for LookupFailed {}

/// Resolves with the system resolver and keeps only allowed addresses, which are then exactly
/// the ones reqwest connects to.
struct GuardedResolver {
    allow: Arc<Vec<Block>>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| {
                    Box::new(LookupFailed {
                        host: host.clone(),
                        cause: e.to_string(),
                    }) as Box<dyn std::error::Error + Send + Sync>
                })?
                .collect();
            let mut refused = None;
            let mut kept = Vec::with_capacity(found.len());
            for addr in found {
                match forbidden(addr.ip(), &allow) {
                    None => kept.push(addr),
                    Some(reason) => refused = refused.or(Some((addr.ip(), reason))),
                }
            }
            if kept.is_empty() {
                let error: Box<dyn std::error::Error + Send + Sync> = match refused {
                    Some((ip, reason)) => Box::new(Refused { host, ip, reason }),
                    None => Box::new(LookupFailed {
                        host,
                        cause: "no addresses".into(),
                    }),
                };
                return Err(error);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why Herald will not connect to `ip`, or None when it may. `allow` opens ranges that would
/// otherwise be refused (a receiver on the operator's own network).
pub fn forbidden(ip: IpAddr, allow: &[Block]) -> Option<&'static str> {
    if allow.iter().any(|b| b.contains(ip)) {
        return None;
    }
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6, allow),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const METADATA: [Ipv4Addr; 2] = [
        Ipv4Addr::new(169, 254, 169, 254),
        Ipv4Addr::new(100, 100, 100, 200),
    ];
    if METADATA.contains(&ip) {
        return Some("a cloud metadata address");
    }
    if ip.is_broadcast() {
        return Some("the broadcast address");
    }
    let [a, b, c, _] = ip.octets();
    let ranges: &[(bool, &'static str)] = &[
        (a == 0, "an unspecified (\"this network\") address"),
        (a == 127, "a loopback address"),
        (a == 10, "a private address"),
        (a == 172 && (16..32).contains(&b), "a private address"),
        (a == 192 && b == 168, "a private address"),
        (a == 169 && b == 254, "a link-local address"),
        (
            a == 100 && (64..128).contains(&b),
            "a shared (carrier-grade NAT) address",
        ),
        ((224..240).contains(&a), "a multicast address"),
        (a >= 240, "a reserved address"),
        (a == 192 && b == 0 && c == 0, "a reserved address"),
        (a == 192 && b == 88 && c == 99, "a reserved address"),
        (
            a == 198 && (b == 18 || b == 19),
            "a reserved (benchmarking) address",
        ),
        (a == 192 && b == 0 && c == 2, "a documentation address"),
        (a == 198 && b == 51 && c == 100, "a documentation address"),
        (a == 203 && b == 0 && c == 113, "a documentation address"),
    ];
    ranges
        .iter()
        .find(|(matches, _)| *matches)
        .map(|(_, reason)| *reason)
}

fn forbidden_v6(ip: Ipv6Addr, allow: &[Block]) -> Option<&'static str> {
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some("a cloud metadata address");
    }
    if ip.is_unspecified() {
        return Some("the unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    let s = ip.segments();
    let o = ip.octets();
    let inner = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    // Addresses that carry an IPv4 address reach it: judge them by it.
    let mapped = s[..5] == [0; 5] && s[5] == 0xffff;
    let compatible = s[..6] == [0; 6];
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if mapped || compatible || nat64 {
        return forbidden(IpAddr::V4(inner), allow);
    }
    if s[0] == 0x2002 {
        let six_to_four = Ipv4Addr::new(o[2], o[3], o[4], o[5]);
        return forbidden(IpAddr::V4(six_to_four), allow);
    }
    let ranges: &[(bool, &'static str)] = &[
        (
            (s[0] & 0xfe00) == 0xfc00,
            "a private (unique local) address",
        ),
        ((s[0] & 0xffc0) == 0xfe80, "a link-local address"),
        ((s[0] & 0xffc0) == 0xfec0, "a private (site-local) address"),
        ((s[0] & 0xff00) == 0xff00, "a multicast address"),
        (s[0] == 0x2001 && s[1] == 0xdb8, "a documentation address"),
        ((s[0] & 0xfff0) == 0x3ff0, "a documentation address"),
        (
            s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1,
            "a private (local NAT64) address",
        ),
        (s[..4] == [0x100, 0, 0, 0], "a reserved (discard) address"),
        // IETF protocol assignments, Teredo among them.
        (s[0] == 0x2001 && s[1] < 0x200, "a reserved address"),
    ];
    ranges
        .iter()
        .find(|(matches, _)| *matches)
        .map(|(_, reason)| *reason)
}

/// Checks a webhook address a person typed: http or https, a host, no user name or password, at
/// most 2000 characters. The message says what to change.
pub fn check_url(raw: &str) -> Result<Url, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("enter the address that should receive the webhooks".into());
    }
    let length = raw.chars().count();
    if length > MAX_URL_CHARS {
        return Err(format!(
            "the address is {length} characters long; at most {MAX_URL_CHARS} are accepted"
        ));
    }
    let url = Url::parse(raw).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => {
            "the address must be complete, starting with https://".to_string()
        }
        e => format!("\"{raw}\" is not a valid web address ({e})"),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the address must start with https:// or http://, not {}:",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the address has no host name".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "the address must not contain a user name or password (user:password@); put a \
             secret in the path or rely on the webhook signature instead"
                .into(),
        );
    }
    Ok(url)
}

/// `Retry-After` as a time: a number of seconds from `now`, or an HTTP date.
pub fn parse_retry_after(raw: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        let capped = secs.min(MAX_RETRY_AFTER.num_seconds() as f64 + 1.0);
        let millis = (capped * 1000.0).ceil() as i64;
        return Some(now + chrono::Duration::milliseconds(millis));
    }
    // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), then the two obsolete forms.
    if let Ok(t) = DateTime::parse_from_rfc2822(raw) {
        return Some(t.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
        .map(|t| t.and_utc())
}

/// The wait a receiver asked for, or the default, kept between now and an hour from now.
pub fn retry_time(asked: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    asked
        .unwrap_or(now + DEFAULT_RETRY_AFTER)
        .clamp(now, now + MAX_RETRY_AFTER)
}

/// `HTTP 404 Not Found: <first 200 characters of the body>`.
pub fn describe(answer: &Answer) -> String {
    let reason = reqwest::StatusCode::from_u16(answer.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default();
    let body = answer.body.trim();
    if body.is_empty() {
        format!("HTTP {}{reason} (no body)", answer.status)
    } else {
        let start: String = body.chars().take(ERROR_BODY_CHARS).collect();
        let more = if start.len() < body.len() { "…" } else { "" };
        format!("HTTP {}{reason}: {start}{more}", answer.status)
    }
}

/// What an answer means for the delivery, the same for every kind of hook (each chat channel
/// first reads what is its own): 2xx delivered; 410 gone; 429, and 503 with `Retry-After`, wait
/// as asked; anything else is tried again until the outbox's attempts run out. A receiver's
/// 401, 403 or 404 is usually a deployment mistake that gets fixed; a redirect is not followed
/// (a receiver that moved must be registered anew) but may be a proxy's passing mistake.
pub fn classify(answer: &Answer, now: DateTime<Utc>) -> Result<Receipt, SendError> {
    let status = answer.status;
    match status {
        200..=299 => Ok(format!("HTTP {status}")),
        410 => Err(SendError::Gone(describe(answer))),
        429 => Err(SendError::RetryAfter {
            until: retry_time(answer.retry_after, now),
            error: describe(answer),
        }),
        503 if answer.retry_after.is_some() => Err(SendError::RetryAfter {
            until: retry_time(answer.retry_after, now),
            error: describe(answer),
        }),
        300..=399 => Err(SendError::Transient(format!(
            "{}; the receiver redirects to {}, and Herald does not follow redirects: register \
             the new address instead",
            describe(answer),
            answer.location.as_deref().unwrap_or("(no Location given)")
        ))),
        _ => Err(SendError::Transient(describe(answer))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_forbidden_range_is_refused_in_both_forms() {
        let refused = [
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("::1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("fc00::1", "private"),
            ("fd12:3456::1", "private"),
            ("fec0::1", "private"),
            ("169.254.1.1", "link-local"),
            ("fe80::1", "link-local"),
            ("100.64.0.1", "carrier-grade"),
            ("100.127.255.255", "carrier-grade"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("ff02::1", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("::", "unspecified"),
            ("255.255.255.255", "broadcast"),
            ("169.254.169.254", "metadata"),
            ("100.100.100.200", "metadata"),
            ("fd00:ec2::254", "metadata"),
            ("192.0.0.8", "reserved"),
            ("192.0.2.1", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.1", "benchmarking"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("240.0.0.1", "reserved"),
            ("2001:db8::1", "documentation"),
            ("2001::1", "reserved"),
            // IPv4 inside IPv6: judged by the IPv4 address.
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "metadata"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::10.0.0.1", "private"),
            ("64:ff9b::a9fe:a9fe", "metadata"),
            ("2002:7f00:1::", "loopback"),
            ("2002:c0a8:101::1", "private"),
        ];
        for (addr, why) in refused {
            let reason = forbidden(ip(addr), &[]);
            assert!(
                reason.is_some_and(|r| r.contains(why)),
                "{addr}: {reason:?}, expected {why}"
            );
        }
    }

    #[test]
    fn public_addresses_pass() {
        for addr in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:82b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(forbidden(ip(addr), &[]), None, "{addr}");
        }
    }

    #[test]
    fn the_allow_list_opens_only_its_ranges() {
        let allow = vec![Block::parse("10.20.0.0/16").unwrap()];
        assert_eq!(forbidden(ip("10.20.3.4"), &allow), None);
        assert_eq!(forbidden(ip("::ffff:10.20.3.4"), &allow), None);
        assert!(forbidden(ip("10.21.0.1"), &allow).is_some());
        assert!(forbidden(ip("127.0.0.1"), &allow).is_some());
        let allow = vec![Block::parse("fd00::/8").unwrap()];
        assert_eq!(forbidden(ip("fd12::1"), &allow), None);
    }

    #[test]
    fn addresses_people_type_are_checked_with_a_reason() {
        for good in [
            "https://example.com/hook",
            "http://example.com:8080/a?b=c",
            "  https://hooks.slack.com/services/T0/B0/x  ",
            "https://[2606:4700::1]/x",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        let bad = [
            ("", "enter"),
            ("example.com/hook", "complete"),
            ("ftp://example.com/x", "https://"),
            ("javascript:alert(1)", "https://"),
            ("file:///etc/passwd", "https://"),
            ("https://user:pw@example.com/", "user name"),
            ("https://token@example.com/", "user name"),
            ("https://exa mple.com/", "not a valid"),
        ];
        for (raw, says) in bad {
            let e = check_url(raw).unwrap_err();
            assert!(e.contains(says), "{raw}: {e}");
        }
        let long = format!("https://example.com/{}", "a".repeat(2000));
        assert!(check_url(&long).unwrap_err().contains("2000"));
    }

    fn answer(status: u16) -> Answer {
        Answer {
            status,
            retry_after: None,
            body: String::new(),
            location: None,
        }
    }

    #[test]
    fn answers_are_classified_by_status_family() {
        let now = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        assert_eq!(classify(&answer(200), now), Ok("HTTP 200".into()));
        assert_eq!(classify(&answer(204), now), Ok("HTTP 204".into()));
        assert!(matches!(
            classify(&answer(410), now),
            Err(SendError::Gone(_))
        ));
        match classify(&answer(429), now) {
            Err(SendError::RetryAfter { until, .. }) => {
                assert_eq!(until, now + DEFAULT_RETRY_AFTER)
            }
            other => panic!("{other:?}"),
        }
        let later = now + chrono::Duration::seconds(30);
        let asked = Answer {
            retry_after: Some(later),
            ..answer(503)
        };
        assert_eq!(
            classify(&asked, now),
            Err(SendError::RetryAfter {
                until: later,
                error: "HTTP 503 Service Unavailable (no body)".into()
            })
        );
        for status in [408, 425, 500, 502, 503, 504, 400, 401, 403, 404, 422] {
            assert!(
                matches!(classify(&answer(status), now), Err(SendError::Transient(_))),
                "{status}"
            );
        }
        let moved = Answer {
            location: Some("http://10.0.0.1/".into()),
            ..answer(302)
        };
        match classify(&moved, now) {
            Err(SendError::Transient(e)) => {
                assert!(e.contains("HTTP 302 Found"), "{e}");
                assert!(e.contains("http://10.0.0.1/"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let chatty = Answer {
            body: "x".repeat(500),
            ..answer(500)
        };
        match classify(&chatty, now) {
            Err(SendError::Transient(e)) => {
                assert_eq!(
                    e,
                    format!("HTTP 500 Internal Server Error: {}…", "x".repeat(200))
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_as_an_http_date() {
        let now = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(now + chrono::Duration::seconds(120))
        );
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(now + chrono::Duration::milliseconds(1500))
        );
        let date = Utc.with_ymd_and_hms(2024, 5, 1, 12, 5, 0).unwrap();
        assert_eq!(
            parse_retry_after("Wed, 01 May 2024 12:05:00 GMT", now),
            Some(date)
        );
        assert_eq!(
            parse_retry_after("Wednesday, 01-May-24 12:05:00 GMT", now),
            Some(date)
        );
        assert_eq!(
            parse_retry_after("Wed May  1 12:05:00 2024", now),
            Some(date)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        // Kept within an hour, and never in the past.
        let far = parse_retry_after("99999999", now);
        assert_eq!(retry_time(far, now), now + MAX_RETRY_AFTER);
        let past = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(retry_time(Some(past), now), now);
    }

    /// A one-connection-at-a-time HTTP server on 127.0.0.1 that answers every request with
    /// `response`, then `tail` bytes of filler; counts the requests it saw.
    async fn serve(
        response: &'static str,
        tail: usize,
        delay: Duration,
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    let _ = socket.read(&mut buf).await;
                    tokio::time::sleep(delay).await;
                    let _ = socket.write_all(response.as_bytes()).await;
                    let filler = vec![b'a'; 64 * 1024];
                    let mut left = tail;
                    while left > 0 {
                        let n = left.min(filler.len());
                        if socket.write_all(&filler[..n]).await.is_err() {
                            return;
                        }
                        left -= n;
                    }
                    let _ = socket.shutdown().await;
                });
            }
        });
        (format!("http://127.0.0.1:{port}/hook"), seen)
    }

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

    fn loopback() -> Vec<Block> {
        vec![Block::parse("127.0.0.0/8").unwrap()]
    }

    #[tokio::test]
    async fn loopback_is_refused_unless_allowed() {
        let (url, seen) = serve(OK, 0, Duration::ZERO).await;
        let refused = SafeClient::new(vec![])
            .unwrap()
            .post(&url, &[], b"{}".to_vec())
            .await;
        match refused {
            Err(SendError::Permanent(e)) => {
                assert!(e.contains("127.0.0.1") && e.contains("loopback"), "{e}");
                assert!(e.contains("HERALD_WEBHOOK_ALLOW_NETWORKS"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 0);

        let allowed = SafeClient::new(loopback())
            .unwrap()
            .post(
                &url,
                &[("content-type".into(), "application/json".into())],
                b"{}".to_vec(),
            )
            .await
            .unwrap();
        assert_eq!(allowed.status, 200);
        assert_eq!(allowed.body, "ok");
        assert_eq!(classify(&allowed, Utc::now()), Ok("HTTP 200".into()));
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        let (url, seen) = serve(OK, 0, Duration::ZERO).await;
        let url = url.replace("127.0.0.1", "localhost");
        match SafeClient::new(vec![])
            .unwrap()
            .post(&url, &[], b"{}".to_vec())
            .await
        {
            Err(SendError::Permanent(e)) => {
                assert!(e.contains("localhost") && e.contains("forbidden"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let (url, seen) = serve(
            "HTTP/1.1 302 Found\r\nlocation: http://10.0.0.1/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            0,
            Duration::ZERO,
        )
        .await;
        let answer = SafeClient::new(loopback())
            .unwrap()
            .post(&url, &[], b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(answer.status, 302);
        assert_eq!(answer.location.as_deref(), Some("http://10.0.0.1/"));
        assert!(matches!(
            classify(&answer, Utc::now()),
            Err(SendError::Transient(_))
        ));
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn only_the_first_4_kib_of_an_answer_is_read() {
        let (url, _) = serve(
            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 1048576\r\nconnection: close\r\n\r\n",
            1024 * 1024,
            Duration::ZERO,
        )
        .await;
        let answer = SafeClient::new(loopback())
            .unwrap()
            .post(&url, &[], b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(answer.status, 500);
        assert_eq!(answer.body.len(), MAX_ANSWER_BYTES);
    }

    #[tokio::test]
    async fn a_receiver_that_does_not_answer_in_time_is_tried_again_later() {
        let (url, _) = serve(OK, 0, Duration::from_secs(5)).await;
        let started = std::time::Instant::now();
        match SafeClient::new(loopback())
            .unwrap()
            .with_timeout(Duration::from_millis(200))
            .post(&url, &[], b"{}".to_vec())
            .await
        {
            Err(SendError::Transient(e)) => {
                assert!(e.contains("did not answer within 200 ms"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_closed_port_is_tried_again_later() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        match SafeClient::new(loopback())
            .unwrap()
            .post(&format!("http://127.0.0.1:{port}/"), &[], vec![])
            .await
        {
            Err(SendError::Transient(e)) => assert!(e.contains("could not connect"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}
