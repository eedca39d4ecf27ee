//! Outbound stamps: Herald marks every incident update and every admin alert it writes with an
//! HMAC under a key derived from the master key, and its workers send only what carries a valid
//! stamp. Someone who can write to the database but does not hold the key file (the breach
//! Herald was built after: a compromised database host) cannot queue a message to customers:
//! a row they insert or edit has no valid stamp, is never sent, and trips the wire.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::keys::MasterKey;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct Stamper {
    key: [u8; 32],
}

impl std::fmt::Debug for Stamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stamper(..)")
    }
}

/// What an update's stamp covers: everything that reaches customers from it.
pub struct UpdateText<'a> {
    pub update_id: i64,
    pub incident_id: i64,
    pub incident_name: &'a str,
    pub status: &'a str,
    pub body: &'a str,
    pub custom_tweet: Option<&'a str>,
}

/// What the kill switch's stamp covers.
pub struct OutboundText<'a> {
    pub serial: i64,
    pub paused: bool,
    pub reason: &'a str,
    pub changed_at_micros: i64,
    pub changed_by: &'a str,
    pub tripped_rule: &'a str,
}

/// What a delivery's stamp covers: which message goes where.
pub struct DeliveryText<'a> {
    pub update_id: Option<i64>,
    pub alert_id: Option<i64>,
    pub channel: &'a str,
    pub recipient_id: i64,
    pub address: &'a str,
}

/// What an incident's stamp covers.
pub struct IncidentText<'a> {
    pub id: i64,
    pub kind: &'a str,
    pub name: &'a str,
    pub status: &'a str,
    pub impact: &'a str,
    pub scheduled_for_micros: Option<i64>,
    pub scheduled_until_micros: Option<i64>,
    /// The postmortem, when there is one: its text and when it was published (None: a draft).
    pub postmortem: Option<(&'a str, Option<i64>)>,
    /// When a maintenance was called off.
    pub cancelled_micros: Option<i64>,
}

/// What a component's stamp covers.
pub struct ComponentText<'a> {
    pub id: i64,
    pub name: &'a str,
    pub description: &'a str,
    pub group: Option<&'a str>,
    pub status: &'a str,
    /// Whether the public page shows its uptime.
    pub show_uptime: bool,
}

/// What a row of a component's status history covers.
pub struct StatusLogText<'a> {
    pub id: i64,
    pub component_id: i64,
    pub status: &'a str,
    pub at_micros: i64,
}

/// What the branding's stamp covers: every column the public pages and emails show, images
/// by their SHA-256, and when it was saved.
pub struct BrandingText<'a> {
    pub page_name: Option<&'a str>,
    pub accent_color: Option<&'a str>,
    pub header_links: Option<&'a str>,
    pub footer_text: Option<&'a str>,
    pub logo: Option<&'a [u8]>,
    pub logo_dark: Option<&'a [u8]>,
    pub favicon: Option<&'a [u8]>,
    pub updated_at_micros: i64,
}

impl Stamper {
    pub fn new(master: &MasterKey) -> Stamper {
        Stamper {
            key: master.derive("herald outbound stamp v1"),
        }
    }

    fn mac(&self, fields: &[&str]) -> String {
        let mut mac =
            HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("any key"));
        for field in fields {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn update(&self, u: &UpdateText<'_>) -> String {
        let (update_id, incident_id) = (u.update_id.to_string(), u.incident_id.to_string());
        let tweet = u
            .custom_tweet
            .map_or_else(|| "\u{0}".to_string(), str::to_string);
        self.mac(&[
            "update",
            &update_id,
            &incident_id,
            u.incident_name,
            u.status,
            u.body,
            &tweet,
        ])
    }

    /// An update's fan-out: the channels it goes out on. A fan-out row written outside Herald
    /// (to send an old or quiet update to everyone) fails it.
    pub fn fanout(&self, update_id: i64, channels: &str) -> String {
        self.mac(&["fanout", &update_id.to_string(), channels])
    }

    /// An open breach: the update it pins and sends despite the pause.
    pub fn breach(&self, breach_id: i64, update_id: i64, started_by: &str) -> String {
        self.mac(&[
            "breach",
            &breach_id.to_string(),
            &update_id.to_string(),
            started_by,
        ])
    }

    pub fn alert(&self, alert_id: i64, subject: &str, body: &str) -> String {
        self.mac(&["alert", &alert_id.to_string(), subject, body])
    }

    /// The kill switch's state. The serial grows with every change, so an older genuine state
    /// written back is caught by an instance that has seen a newer one.
    pub fn outbound(&self, s: &OutboundText<'_>) -> String {
        self.mac(&[
            "outbound",
            &s.serial.to_string(),
            if s.paused { "paused" } else { "sending" },
            s.reason,
            &s.changed_at_micros.to_string(),
            s.changed_by,
            s.tripped_rule,
        ])
    }

    /// A queued delivery: one message on one channel to one address. Spent (cleared) once sent.
    pub fn delivery(&self, d: &DeliveryText<'_>) -> String {
        let optional = |id: Option<i64>| id.map_or_else(String::new, |id| id.to_string());
        self.mac(&[
            "delivery",
            &optional(d.update_id),
            &optional(d.alert_id),
            d.channel,
            &d.recipient_id.to_string(),
            d.address,
        ])
    }

    /// What an incident or maintenance shows besides its updates.
    pub fn incident(&self, i: &IncidentText<'_>) -> String {
        let time = |t: Option<i64>| t.map_or_else(String::new, |t| t.to_string());
        let (id, start, end) = (
            i.id.to_string(),
            time(i.scheduled_for_micros),
            time(i.scheduled_until_micros),
        );
        let mut fields = vec![
            "incident", &id, i.kind, i.name, i.status, i.impact, &start, &end,
        ];
        // Fields added later are covered only when set, so rows without them keep the stamps
        // earlier versions gave them.
        let published;
        if let Some((body, at)) = i.postmortem {
            published = time(at);
            fields.extend(["postmortem", body, &published]);
        }
        let cancelled;
        if i.cancelled_micros.is_some() {
            cancelled = time(i.cancelled_micros);
            fields.extend(["cancelled", &cancelled]);
        }
        self.mac(&fields)
    }

    /// What a component shows.
    pub fn component(&self, c: &ComponentText<'_>) -> String {
        let id = c.id.to_string();
        let mut fields = vec![
            "component",
            &id,
            c.name,
            c.description,
            c.group.unwrap_or("\u{0}"),
            c.status,
        ];
        // Covered only when off, so components stamped before it existed keep their stamps.
        if !c.show_uptime {
            fields.push("uptime hidden");
        }
        self.mac(&fields)
    }

    /// One row of a component's status history: "100 % uptime" written into the database
    /// fails it.
    pub fn status_log(&self, s: &StatusLogText<'_>) -> String {
        self.mac(&[
            "status",
            &s.id.to_string(),
            &s.component_id.to_string(),
            s.status,
            &s.at_micros.to_string(),
        ])
    }

    /// The admin's branding over the configuration.
    pub fn branding(&self, b: &BrandingText<'_>) -> String {
        use sha2::Digest;
        let text = |v: Option<&str>| v.map_or_else(|| "\u{0}".to_string(), |v| format!("={v}"));
        let image = |v: Option<&[u8]>| {
            v.map_or_else(
                || "\u{0}".to_string(),
                |v| hex::encode(sha2::Sha256::digest(v)),
            )
        };
        self.mac(&[
            "branding",
            &text(b.page_name),
            &text(b.accent_color),
            &text(b.header_links),
            &text(b.footer_text),
            &image(b.logo),
            &image(b.logo_dark),
            &image(b.favicon),
            &b.updated_at_micros.to_string(),
        ])
    }

    pub fn verify(expected: &str, stamp: Option<&str>) -> bool {
        stamp.is_some_and(|s| super::secret::equal(expected, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_covers_every_field_and_needs_the_key() {
        let stamper = Stamper::new(&MasterKey::for_tests());
        let text = UpdateText {
            update_id: 7,
            incident_id: 3,
            incident_name: "API outage",
            status: "investigating",
            body: "We are on it.",
            custom_tweet: None,
        };
        let stamp = stamper.update(&text);
        assert!(Stamper::verify(&stamper.update(&text), Some(&stamp)));
        let edited = UpdateText {
            body: "Claim your refund at evil.example",
            ..text
        };
        assert!(!Stamper::verify(&stamper.update(&edited), Some(&stamp)));
        let moved = UpdateText {
            update_id: 8,
            ..edited
        };
        assert!(!Stamper::verify(&stamper.update(&moved), Some(&stamp)));
        let other = Stamper::new(&MasterKey::from_bytes([3; 32]));
        assert_ne!(other.alert(1, "s", "b"), stamper.alert(1, "s", "b"));
        assert!(!Stamper::verify(&stamper.alert(1, "s", "b"), None));
    }
}
