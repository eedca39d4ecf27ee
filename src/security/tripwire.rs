//! The tripwire's rules: patterns that look like a stolen account or token being used to spam
//! customers or take their addresses. Each rule here is a pure check; `web::guard` runs them
//! before the action goes out and, when one trips, pauses outbound, alerts every admin out of
//! band and writes the audit entry.

use crate::config::Config;
use crate::domain::tweet::link_hosts;

/// How a part of Herald that finds something it did not write trips the wire itself (the
/// workers, the page cache, the kill switch's reader): `AppState::trip` as Herald, which pauses
/// outbound, alerts the admins and writes the audit entry.
pub type TripWire = std::sync::Arc<
    dyn Fn(Trip) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync,
>;

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

/// The configured thresholds.
#[derive(Debug, Clone)]
pub struct Rules {
    pub burst_updates: u32,
    pub burst_minutes: u32,
    /// Lowercase domains; each also allows its subdomains.
    pub allowed_domains: Vec<String>,
    pub export_rows: u64,
    pub new_source: bool,
}

impl Rules {
    pub fn from_config(config: &Config) -> Rules {
        let mut allowed: Vec<String> = config
            .tripwire_allowed_domains
            .split([',', ' '])
            .map(|d| d.trim().trim_start_matches("*.").trim_end_matches('.'))
            .filter(|d| !d.is_empty())
            .map(str::to_lowercase)
            .collect();
        if let Some(host) = url::Url::parse(&config.public_url())
            .ok()
            .and_then(|u| u.host_str().map(str::to_lowercase))
        {
            allowed.push(host);
        }
        Rules {
            burst_updates: config.tripwire_burst_updates,
            burst_minutes: config.tripwire_burst_minutes.max(1),
            allowed_domains: allowed,
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
        chrono::Duration::minutes(i64::from(self.burst_minutes))
    }

    /// `recent` notifying updates already in the window, and one more about to go out.
    pub fn check_burst(&self, recent: i64) -> Option<Trip> {
        let total = recent + 1;
        (self.burst_updates > 0 && total > i64::from(self.burst_updates)).then(|| Trip {
            rule: Rule::Burst,
            detail: format!(
                "{total} notifying updates within {} minutes (the limit is {})",
                self.burst_minutes, self.burst_updates
            ),
        })
    }

    /// Every link host in `texts` must be an allowed domain or a subdomain of one.
    pub fn check_links<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> Option<Trip> {
        let mut bad: Vec<String> = texts
            .into_iter()
            .flat_map(link_hosts)
            .filter(|host| !self.allows(host))
            .collect();
        bad.sort();
        bad.dedup();
        (!bad.is_empty()).then(|| Trip {
            rule: Rule::LinkDomain,
            detail: format!(
                "outbound text links to {} (allowed: {})",
                bad.join(", "),
                if self.allowed_domains.is_empty() {
                    "none".to_string()
                } else {
                    self.allowed_domains.join(", ")
                }
            ),
        })
    }

    fn allows(&self, host: &str) -> bool {
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

    #[test]
    fn links_to_other_domains_trip() {
        let r = rules("acme.example, docs.partner.example");
        assert_eq!(
            r.check_links(["See https://status.acme.example/incidents/3"]),
            None
        );
        assert_eq!(
            r.check_links(["Read www.acme.example/blog and docs.partner.example"]),
            None
        );
        let trip = r
            .check_links(["Claim your refund at acme-refunds.com/login", "ok"])
            .expect("trips");
        assert_eq!(trip.rule, Rule::LinkDomain);
        assert!(trip.detail.contains("acme-refunds.com"), "{}", trip.detail);
        assert!(r
            .check_links(["raw address http://192.0.2.7:8080/pay"])
            .is_some_and(|t| t.detail.contains("192.0.2.7")));
        // A suffix that is not a subdomain does not pass.
        assert!(r.check_links(["https://evilacme.example/"]).is_some());
        assert!(r
            .check_links(["[here](https://phish.example/x)"])
            .is_some_and(|t| t.detail.contains("phish.example")));
    }

    #[test]
    fn only_the_own_domain_by_default() {
        let r = rules("");
        assert_eq!(r.check_links(["https://status.acme.example/"]), None);
        assert!(r.check_links(["https://acme.example/"]).is_some());
        assert_eq!(r.check_links(["No links at all."]), None);
    }

    #[test]
    fn burst_and_export_thresholds() {
        let r = rules("");
        assert_eq!(r.check_burst(4), None, "the fifth is allowed");
        assert_eq!(r.check_burst(5).map(|t| t.rule), Some(Rule::Burst));
        assert_eq!(r.check_export(5000), None);
        assert_eq!(r.check_export(5001).map(|t| t.rule), Some(Rule::Export));
        let off = Rules {
            burst_updates: 0,
            export_rows: 0,
            ..r
        };
        assert_eq!(off.check_burst(1000), None);
        assert_eq!(off.check_export(1_000_000), None);
    }
}
