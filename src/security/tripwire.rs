//! The tripwire's rules: patterns that look like a stolen account or token being used to spam
//! customers or take their addresses. Each rule here is a pure check; `app::guard` runs them
//! before the action goes out and, when one trips, pauses outbound, alerts every admin out of
//! band and writes the audit entry.

use crate::config::Config;
use crate::domain::links::{hosts_in_text, normalise_host, registrable_domain};
use crate::domain::markdown::linked_hosts;

/// How a part of Herald that finds something it did not write trips the wire itself (the
/// workers, the page cache, the kill switch's reader): `App::trip` as Herald, which pauses
/// outbound, alerts the admins and writes the audit entry.
pub type TripWire = std::sync::Arc<
    dyn Fn(Trip) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync,
>;

/// A line to the tripwire for the parts the application state itself holds (the kill switch's
/// reader, the page cache). A `TripWire` closes over the state, so one stored inside it would
/// keep it (and its database pool) alive for good; the line is a channel to a task that holds
/// the state instead, and ends with the runtime.
#[derive(Clone)]
pub struct TripLine(tokio::sync::mpsc::UnboundedSender<(Trip, tokio::sync::oneshot::Sender<()>)>);

/// The far end of a `TripLine`: each call, and a sender to answer once it has been handled.
pub type TripCalls = tokio::sync::mpsc::UnboundedReceiver<(Trip, tokio::sync::oneshot::Sender<()>)>;

impl TripLine {
    pub fn new() -> (TripLine, TripCalls) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (TripLine(tx), rx)
    }

    /// Trips the wire and waits until it has been handled (or the far end is gone).
    pub async fn trip(&self, trip: Trip) {
        let (done, handled) = tokio::sync::oneshot::channel();
        if self.0.send((trip, done)).is_ok() {
            let _ = handled.await;
        }
    }
}

/// Which rule tripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// More notifying updates in a short time than any real incident needs.
    Burst,
    /// A link in outbound text to a domain that is not on the allow-list.
    LinkDomain,
    /// A privileged action from an address, or through a token, never seen for that account.
    NewSource,
    /// A large subscriber export.
    Export,
    /// A disabled account signing in, or a just-demoted one reaching for its old powers.
    RevokedAccount,
    /// Outbound text Herald did not write: an update or alert without a valid stamp, put in
    /// the database some other way.
    Forged,
    /// A session, API token or enrolment link whose row was edited in the database (its owner,
    /// role or second factor no longer match its stamp).
    ForgedCredential,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Burst => "burst",
            Rule::LinkDomain => "link-domain",
            Rule::NewSource => "new-source",
            Rule::Export => "export",
            Rule::RevokedAccount => "revoked-account",
            Rule::Forged => "forged",
            Rule::ForgedCredential => "forged-credential",
        }
    }

    /// The rule's name as admins read it on the banner and in the alert.
    pub fn title(self) -> &'static str {
        match self {
            Rule::Burst => "Burst of notifying updates",
            Rule::LinkDomain => "Link to a domain not on the allow-list",
            Rule::NewSource => "Privileged action from a new address or token",
            Rule::Export => "Large subscriber export",
            Rule::RevokedAccount => "Activity from a disabled or demoted account",
            Rule::Forged => "Outbound message not written through Herald",
            Rule::ForgedCredential => "Sign-in or token edited in the database",
        }
    }
}

/// A tripped rule and what exactly tripped it.
#[derive(Debug, Clone, PartialEq)]
pub struct Trip {
    pub rule: Rule,
    pub detail: String,
}

/// What one notifying post sends, as the link rule reads it.
#[derive(Debug, Clone, Copy)]
pub struct Outbound<'a> {
    /// The incident's name: the email's subject and heading.
    pub name: &'a str,
    /// The Markdown body: its HTML is the email's HTML part (and the page), the Markdown
    /// itself its text part.
    pub body: &'a str,
    /// The post on X, when one goes out.
    pub tweet: Option<&'a str>,
}

/// Notifying posts already in the burst window, read before one more goes out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recent {
    /// Notifying posts in all.
    pub posts: i64,
    /// Notifying posts to the incident this one is for (0 for a new incident).
    pub to_incident: i64,
    /// Incidents whose first notifying post is in the window.
    pub new_incidents: i64,
    /// Whether this post is its incident's first notifying one (a new incident always is).
    pub opens_incident: bool,
}

/// The burst thresholds; each counts posts within `minutes`, and 0 turns a count off.
#[derive(Debug, Clone)]
pub struct Burst {
    /// Notifying posts in all.
    pub posts: u32,
    /// Notifying posts to one incident.
    pub per_incident: u32,
    /// Incidents notifying for the first time.
    pub incidents: u32,
    pub minutes: u32,
}

/// The configured thresholds.
#[derive(Debug, Clone)]
pub struct Rules {
    pub burst: Burst,
    /// Lowercase ASCII domains; each also allows its subdomains.
    pub allowed_domains: Vec<String>,
    /// The public URL: relative links in a body lead there.
    pub public_url: String,
    pub export_rows: u64,
    pub new_source: bool,
}

impl Rules {
    pub fn from_config(config: &Config) -> Rules {
        let mut allowed: Vec<String> = config
            .tripwire_allowed_domains
            .split([',', ' '])
            .map(|d| d.trim().trim_start_matches("*."))
            .map(normalise_host)
            .filter(|d| !d.is_empty())
            .collect();
        if let Some(host) = url::Url::parse(&config.public_url())
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
        {
            allowed.push(registrable_domain(
                host.trim_start_matches('[').trim_end_matches(']'),
            ));
        }
        allowed.sort();
        allowed.dedup();
        Rules {
            burst: Burst {
                posts: config.tripwire_burst_updates,
                per_incident: config.tripwire_burst_per_incident,
                incidents: config.tripwire_burst_incidents,
                minutes: config.tripwire_burst_minutes.max(1),
            },
            allowed_domains: allowed,
            public_url: config.public_url(),
            export_rows: config.tripwire_export_rows,
            new_source: config.tripwire_new_source,
        }
    }

    /// How long subscriber addresses shown or exported to one actor add up for `check_export`.
    pub fn export_window(&self) -> chrono::Duration {
        chrono::Duration::hours(24)
    }

    /// The burst window.
    pub fn burst_window(&self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.burst.minutes))
    }

    /// `recent` notifying posts already in the window, and one more about to go out. Every
    /// count over its limit is named in the detail.
    pub fn check_burst(&self, recent: &Recent) -> Option<Trip> {
        let b = &self.burst;
        let over = |limit: u32, count: i64| limit > 0 && count > i64::from(limit);
        let mut why = Vec::new();
        if over(b.per_incident, recent.to_incident + 1) {
            why.push(format!(
                "{} notifying posts to one incident within {} minutes (the limit is {})",
                recent.to_incident + 1,
                b.minutes,
                b.per_incident
            ));
        }
        if recent.opens_incident && over(b.incidents, recent.new_incidents + 1) {
            why.push(format!(
                "{} new notifying incidents within {} minutes (the limit is {})",
                recent.new_incidents + 1,
                b.minutes,
                b.incidents
            ));
        }
        if over(b.posts, recent.posts + 1) {
            why.push(format!(
                "{} notifying posts within {} minutes (the limit is {})",
                recent.posts + 1,
                b.minutes,
                b.posts
            ));
        }
        (!why.is_empty()).then(|| Trip {
            rule: Rule::Burst,
            detail: why.join("; "),
        })
    }

    /// Every host a notifying post links to, as it will be sent and shown: the links and
    /// images of its rendered, sanitised HTML (read back from that HTML), the links a client
    /// would make of its visible text, of the Markdown in the text part, of the incident's name
    /// and of the post on X.
    pub fn linked_hosts(&self, post: &Outbound<'_>) -> Vec<String> {
        let mut hosts = linked_hosts(post.body, &self.public_url);
        for text in [post.name, post.body, post.tweet.unwrap_or("")] {
            hosts.extend(hosts_in_text(text));
        }
        hosts.sort();
        hosts.dedup();
        hosts
    }

    /// Every link host of `post` must be an allowed domain or a subdomain of one.
    pub fn check_links(&self, post: &Outbound<'_>) -> Option<Trip> {
        let bad: Vec<String> = self
            .linked_hosts(post)
            .into_iter()
            .filter(|host| !self.allows(host))
            .collect();
        (!bad.is_empty()).then(|| Trip {
            rule: Rule::LinkDomain,
            detail: format!(
                "outbound text links to {} (allowed: {} and their subdomains)",
                bad.join(", "),
                self.allowed_domains.join(", ")
            ),
        })
    }

    /// Whether `host` (normalised) is an allowed domain or below one.
    pub fn allows(&self, host: &str) -> bool {
        self.allowed_domains.iter().any(|d| {
            host == d
                || host
                    .strip_suffix(d.as_str())
                    .is_some_and(|prefix| prefix.ends_with('.'))
        })
    }

    /// `rows`: the subscriber addresses one actor was shown or exported within
    /// `export_window`, so paging through every address trips like one big export.
    pub fn check_export(&self, rows: u64) -> Option<Trip> {
        (self.export_rows > 0 && rows > self.export_rows).then(|| Trip {
            rule: Rule::Export,
            detail: format!(
                "{rows} subscriber addresses exported or shown within {} hours (the limit is {})",
                self.export_window().num_hours(),
                self.export_rows
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allowed: &str) -> Rules {
        Rules::from_config(&Config {
            public_url: "https://status.acme.example".into(),
            tripwire_allowed_domains: allowed.into(),
            ..Config::default()
        })
    }

    fn body(body: &str) -> Outbound<'_> {
        Outbound {
            name: "Outage",
            body,
            tweet: None,
        }
    }

    #[test]
    fn links_to_other_domains_trip() {
        let r = rules("docs.partner.example");
        assert_eq!(
            r.check_links(&body("See https://status.acme.example/incidents/3")),
            None
        );
        assert_eq!(
            r.check_links(&body("Read www.acme.example/blog and docs.partner.example")),
            None
        );
        let trip = r
            .check_links(&body("Claim your refund at acme-refunds.com/login"))
            .expect("trips");
        assert_eq!(trip.rule, Rule::LinkDomain);
        assert!(trip.detail.contains("acme-refunds.com"), "{}", trip.detail);
        assert!(r
            .check_links(&body("raw address http://192.0.2.7:8080/pay"))
            .is_some_and(|t| t.detail.contains("192.0.2.7")));
        // A suffix that is not a subdomain does not pass.
        assert!(r.check_links(&body("https://evilacme.example/")).is_some());
        assert!(r
            .check_links(&body("[here](https://phish.example/x)"))
            .is_some_and(|t| t.detail.contains("phish.example")));
    }

    #[test]
    fn encoded_links_mailto_and_images_are_read_as_sent() {
        let r = rules("");
        for attack in [
            "[a](https&#58;//evil&#46;com/a)",
            "[b](https:\\/\\/evil\\.com/b)",
            "<a href=\"https&#x3a;//evil&#x2e;com/c\">c</a>",
            "[d](//evil&#46;com/d)",
            "[e](mailto:x@evil.com)",
            "Write to x@evil.com for a refund",
            "![logo](https://evil.com/logo.png)",
            "<img src=\"//evil.com/p.png\">",
        ] {
            let trip = r.check_links(&body(attack));
            assert!(
                trip.as_ref().is_some_and(|t| t.detail.contains("evil.com")),
                "{attack}: {trip:?}"
            );
        }
        assert_eq!(
            r.check_links(&body("[support](mailto:support@acme.example)")),
            None
        );
    }

    #[test]
    fn the_name_and_the_post_on_x_are_read_too() {
        let r = rules("");
        let named = Outbound {
            name: "Refunds at evil.com",
            body: "Nothing here.",
            tweet: None,
        };
        assert!(r.check_links(&named).is_some());
        let tweeted = Outbound {
            name: "Outage",
            body: "Nothing here.",
            tweet: Some("Refunds: https://evil.com/r"),
        };
        assert!(r.check_links(&tweeted).is_some());
    }

    #[test]
    fn the_public_urls_registrable_domain_is_allowed_by_default() {
        let r = rules("");
        assert_eq!(r.allowed_domains, ["acme.example"]);
        assert_eq!(r.check_links(&body("https://status.acme.example/")), None);
        assert_eq!(r.check_links(&body("https://docs.acme.example/a")), None);
        assert_eq!(r.check_links(&body("https://ACME.example./")), None);
        assert!(r
            .check_links(&body("https://acme-refunds.example/"))
            .is_some());
        assert_eq!(r.check_links(&body("No links at all.")), None);

        let uk = Rules::from_config(&Config {
            public_url: "https://status.acme.co.uk".into(),
            ..Config::default()
        });
        assert_eq!(uk.allowed_domains, ["acme.co.uk"], "not all of co.uk");
        let local = Rules::from_config(&Config {
            public_url: "http://127.0.0.1:8080".into(),
            tripwire_allowed_domains: "*.Partner.example., bücher.example".into(),
            ..Config::default()
        });
        assert_eq!(
            local.allowed_domains,
            ["127.0.0.1", "partner.example", "xn--bcher-kva.example"]
        );
    }

    fn recent(posts: i64, to_incident: i64, new_incidents: i64, opens: bool) -> Recent {
        Recent {
            posts,
            to_incident,
            new_incidents,
            opens_incident: opens,
        }
    }

    #[test]
    fn the_default_burst_counts_let_a_real_incident_through_and_stop_spam() {
        let r = rules("");
        // An incident opened, eight updates and resolved: ten posts, plus a maintenance
        // scheduled, started and ended meanwhile, even all within one window.
        for n in 0..10 {
            assert_eq!(r.check_burst(&recent(n, n, 1, n == 0)), None, "post {n}");
        }
        assert_eq!(
            r.check_burst(&recent(10, 0, 1, true)),
            None,
            "the maintenance"
        );
        assert_eq!(r.check_burst(&recent(12, 2, 2, false)), None);
        // The eleventh post to one incident in ten minutes.
        let trip = r.check_burst(&recent(10, 10, 1, false)).expect("trips");
        assert_eq!(trip.rule, Rule::Burst);
        assert!(
            trip.detail.contains("11 notifying posts to one incident"),
            "{}",
            trip.detail
        );
        // The fourth new notifying incident.
        let trip = r.check_burst(&recent(3, 0, 3, true)).expect("trips");
        assert!(
            trip.detail.contains("4 new notifying incidents"),
            "{}",
            trip.detail
        );
        // Updates to incidents that already notified are not new ones.
        assert_eq!(r.check_burst(&recent(3, 1, 3, false)), None);
        // The sixteenth post in all.
        let trip = r.check_burst(&recent(15, 1, 0, false)).expect("trips");
        assert!(
            trip.detail.contains("16 notifying posts within 10 minutes"),
            "{}",
            trip.detail
        );
    }

    #[test]
    fn zero_turns_a_count_off() {
        let r = rules("");
        let off = Rules {
            burst: Burst {
                posts: 0,
                per_incident: 0,
                incidents: 0,
                minutes: 10,
            },
            export_rows: 0,
            ..r.clone()
        };
        assert_eq!(off.check_burst(&recent(1000, 1000, 1000, true)), None);
        assert_eq!(r.check_export(5000), None);
        assert_eq!(r.check_export(5001).map(|t| t.rule), Some(Rule::Export));
        assert_eq!(off.check_export(1_000_000), None);
    }
}
