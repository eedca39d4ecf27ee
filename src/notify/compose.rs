//! Turns an update (or a sign-up) into a complete email: multipart text and HTML from
//! templates, with personal manage and unsubscribe links and the list headers mail clients use
//! (RFC 2369 List-Unsubscribe, RFC 8058 one-click). Header values come from validated fields
//! and lettre encodes them, so user input cannot inject a header.

use std::sync::Arc;

use askama::Template;
use chrono::{DateTime, Utc};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use rand::RngCore;

use crate::channels::dkim::DkimSigner;
use crate::domain::markdown::{to_email_text, to_safe_html};
use crate::domain::{Choice, ComponentStatus, Impact, Incident, IncidentKind, IncidentUpdate};
use crate::render::views::TimeView;
use crate::render::{Site, SiteCell};
use crate::security::keys::LinkSigner;

/// How long a confirmation link works.
pub const CONFIRM_LINK_DAYS: i64 = 7;

pub mod purpose {
    pub const CONFIRM: &str = "confirm";
    pub const MANAGE: &str = "manage";
    pub const UNSUBSCRIBE: &str = "unsubscribe";
}

/// A message ready for the transport.
pub struct Composed {
    pub message_id: String,
    pub bytes: Arc<Vec<u8>>,
}

/// What every notification of one update shares, prepared once per update.
pub struct UpdateMail {
    incident_id: i64,
    incident_name: String,
    kind_label: &'static str,
    status_label: &'static str,
    display_at: String,
    impact: ImpactBand,
    components: Vec<ComponentLine>,
    /// The body as plain text (Markdown rendered, links spelled out).
    body_text: String,
    body_html: String,
}

impl UpdateMail {
    /// `site_url` is the public URL relative links in the body are resolved against.
    pub fn new(site_url: &str, incident: &Incident, update: &IncidentUpdate) -> UpdateMail {
        UpdateMail {
            incident_id: incident.id,
            incident_name: incident.name.clone(),
            kind_label: incident.kind.label(),
            status_label: update.status.label(),
            display_at: TimeView::new(&update.display_at).text,
            impact: ImpactBand::of(incident),
            components: components_as_of(incident, update),
            body_text: to_email_text(&update.body, site_url),
            body_html: to_safe_html(&update.body, site_url),
        }
    }
}

/// The coloured band at the top of a notification: the impact in words, on its colour (dark
/// enough for white text to read, in light and dark mode).
#[derive(Debug, Clone, Copy)]
struct ImpactBand {
    label: &'static str,
    color: &'static str,
}

impl ImpactBand {
    fn of(incident: &Incident) -> ImpactBand {
        let (label, color) = match (incident.kind, incident.impact) {
            (IncidentKind::Maintenance, _) | (_, Impact::Maintenance) => {
                ("Scheduled maintenance", "#0a53a8")
            }
            (_, Impact::Critical) => ("Critical impact", "#8b0000"),
            (_, Impact::Major) => ("Major impact", "#b3261e"),
            (_, Impact::Minor) => ("Minor impact", "#7d4e00"),
            (_, Impact::None) => ("No impact", "#555e69"),
        };
        ImpactBand { label, color }
    }
}

/// One component the incident affects, with its status as of the update being sent.
#[derive(Debug, Clone)]
struct ComponentLine {
    name: String,
    /// `major_outage`..., for the dark-mode colour class.
    status: &'static str,
    status_label: &'static str,
    /// The status's colour on the light card.
    color: &'static str,
}

/// Every component the incident's updates up to `update` touched, each with the status the
/// latest of them gave it, in the order they were first named.
fn components_as_of(incident: &Incident, update: &IncidentUpdate) -> Vec<ComponentLine> {
    let mut updates: Vec<&IncidentUpdate> = incident
        .updates
        .iter()
        .filter(|u| u.id < update.id)
        .chain(std::iter::once(update))
        .collect();
    updates.sort_by_key(|u| u.id);
    let mut lines: Vec<(i64, ComponentLine)> = Vec::new();
    for a in updates.iter().flat_map(|u| &u.affected) {
        let status = a.new_status;
        let line = ComponentLine {
            name: a.name.clone(),
            status: status.as_str(),
            status_label: status.label(),
            color: match status {
                ComponentStatus::Operational => "#116329",
                ComponentStatus::DegradedPerformance => "#7d4e00",
                ComponentStatus::PartialOutage => "#b3261e",
                ComponentStatus::MajorOutage => "#8b0000",
                ComponentStatus::UnderMaintenance => "#0a53a8",
            },
        };
        match lines.iter_mut().find(|(id, _)| *id == a.component_id) {
            Some((_, existing)) => *existing = line,
            None => lines.push((a.component_id, line)),
        }
    }
    lines.into_iter().map(|(_, line)| line).collect()
}

/// The page's branding as an email carries it: inline colours (mail has no shared stylesheet)
/// and the logo as an absolute https URL.
struct MailBrand {
    name: String,
    /// The logo's absolute URL: a PNG (most mail clients show no SVG) on an https page.
    logo: Option<String>,
    /// The stripe across the top: the accent colour.
    stripe: String,
    /// Links on the light and the dark card, and the button's colours.
    link: String,
    link_dark: String,
    button: String,
    on_button: String,
}

impl MailBrand {
    fn of(site: &Site) -> MailBrand {
        let brand = &site.brand;
        let accent = brand.branding.accent;
        MailBrand {
            name: site.name.clone(),
            logo: brand
                .email_logo()
                .filter(|_| site.url.starts_with("https://"))
                .map(|path| format!("{}{path}", site.url)),
            stripe: accent.map_or_else(|| "#0550ae".to_string(), |c| c.hex()),
            link: accent.map_or_else(|| "#0550ae".to_string(), |c| c.for_light().hex()),
            link_dark: accent.map_or_else(|| "#7ab4ff".to_string(), |c| c.for_dark().hex()),
            button: accent.map_or_else(|| "#0550ae".to_string(), |c| c.for_light().hex()),
            on_button: "#ffffff".to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "email/update.txt")]
struct UpdateText<'a> {
    site_name: &'a str,
    mail: &'a UpdateMail,
    incident_url: &'a str,
    manage_url: &'a str,
    unsubscribe_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/update.html")]
struct UpdateHtml<'a> {
    brand: &'a MailBrand,
    mail: &'a UpdateMail,
    incident_url: &'a str,
    manage_url: &'a str,
    unsubscribe_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/confirm.txt")]
struct ConfirmText<'a> {
    site_name: &'a str,
    confirm_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/confirm.html")]
struct ConfirmHtml<'a> {
    brand: &'a MailBrand,
    confirm_url: &'a str,
}

pub struct Composer {
    /// The site in effect, branding included (the page cache keeps it current).
    site: SiteCell,
    from: Mailbox,
    links: LinkSigner,
    /// The domain part of Message-IDs and List-Id.
    domain: String,
    dkim: Option<Arc<DkimSigner>>,
}

impl Composer {
    pub fn new(
        site: SiteCell,
        mail_from: &str,
        links: LinkSigner,
        dkim: Option<Arc<DkimSigner>>,
    ) -> anyhow::Result<Composer> {
        let from: Mailbox = mail_from.parse().map_err(|e| {
            anyhow::anyhow!("HERALD_MAIL_FROM is not a valid address ({mail_from}): {e}")
        })?;
        let domain = from.email.domain().to_string();
        if let Some(signer) = &dkim {
            let d = signer.domain();
            if domain != d && !domain.ends_with(&format!(".{d}")) {
                tracing::warn!(from = %domain, dkim = %d, "the From domain is not the DKIM domain or below it; DMARC will not count the signature");
            }
        }
        Ok(Composer {
            site,
            from,
            links,
            domain,
            dkim,
        })
    }

    /// The finished bytes: DKIM-signed when a key is configured. RSA signing costs about a
    /// millisecond of CPU, so callers run this off the async threads.
    fn finish(&self, message: &Message) -> anyhow::Result<Arc<Vec<u8>>> {
        let bytes = message.formatted();
        Ok(Arc::new(match &self.dkim {
            Some(signer) => signer.sign(&bytes)?,
            None => bytes,
        }))
    }

    /// The site the messages speak for, as it stands now.
    pub fn site(&self) -> Arc<Site> {
        self.site.load_full()
    }

    /// True when messages are DKIM-signed (CPU-heavy with RSA).
    pub fn signs(&self) -> bool {
        self.dkim.is_some()
    }

    /// The envelope sender.
    pub fn from_address(&self) -> String {
        self.from.email.to_string()
    }

    pub fn links(&self) -> &LinkSigner {
        &self.links
    }

    pub fn unsubscribe_url(&self, subscriber_id: i64) -> String {
        format!(
            "{}/unsubscribe/{}",
            self.site().url,
            self.links.sign(purpose::UNSUBSCRIBE, subscriber_id, 0)
        )
    }

    pub fn manage_url(&self, subscriber_id: i64) -> String {
        format!(
            "{}/subscribe/manage/{}",
            self.site().url,
            self.links.sign(purpose::MANAGE, subscriber_id, 0)
        )
    }

    pub fn confirm_url(&self, subscriber_id: i64, now: DateTime<Utc>) -> String {
        let expires = (now + chrono::Duration::days(CONFIRM_LINK_DAYS)).timestamp();
        format!(
            "{}/subscribe/confirm/{}",
            self.site().url,
            self.links.sign(purpose::CONFIRM, subscriber_id, expires)
        )
    }

    fn message_id(&self) -> String {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        format!("<{}@{}>", hex::encode(bytes), self.domain)
    }

    fn list_id(&self) -> String {
        let site = self.site();
        let host = url::Url::parse(&site.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| self.domain.clone());
        format!("{} <status.{host}>", site.name.replace(['<', '>'], ""))
    }

    /// The notification of one update to one subscriber.
    pub fn notification(
        &self,
        mail: &UpdateMail,
        subscriber_id: i64,
        address: &str,
    ) -> anyhow::Result<Composed> {
        let site = self.site();
        let incident_url = format!("{}/incidents/{}", site.url, mail.incident_id);
        let manage_url = self.manage_url(subscriber_id);
        let unsubscribe_url = self.unsubscribe_url(subscriber_id);
        let text = UpdateText {
            site_name: &site.name,
            mail,
            incident_url: &incident_url,
            manage_url: &manage_url,
            unsubscribe_url: &unsubscribe_url,
        }
        .render()?;
        let html = UpdateHtml {
            brand: &MailBrand::of(&site),
            mail,
            incident_url: &incident_url,
            manage_url: &manage_url,
            unsubscribe_url: &unsubscribe_url,
        }
        .render()?;
        let subject = format!(
            "[{}] {}: {}",
            site.name, mail.status_label, mail.incident_name
        );
        self.list_mail(address, subject, &unsubscribe_url, text, html)
    }

    /// A mail of the subscriber list: its `List-Id` and one-click unsubscribe (RFC 8058)
    /// headers, a text and an HTML part.
    fn list_mail(
        &self,
        address: &str,
        subject: String,
        unsubscribe_url: &str,
        text: String,
        html: String,
    ) -> anyhow::Result<Composed> {
        let message_id = self.message_id();
        let message = Message::builder()
            .from(self.from.clone())
            .to(recipient(address)?)
            .subject(subject)
            .date_now()
            .message_id(Some(message_id.clone()))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Id"),
                self.list_id(),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{unsubscribe_url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_string(),
            ))
            .multipart(MultiPart::alternative_plain_html(text, html))?;
        Ok(Composed {
            message_id,
            bytes: self.finish(&message)?,
        })
    }

    /// The double opt-in mail.
    pub fn confirmation(
        &self,
        subscriber_id: i64,
        address: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Composed> {
        let site = self.site();
        let confirm_url = self.confirm_url(subscriber_id, now);
        let text = ConfirmText {
            site_name: &site.name,
            confirm_url: &confirm_url,
        }
        .render()?;
        let html = ConfirmHtml {
            brand: &MailBrand::of(&site),
            confirm_url: &confirm_url,
        }
        .render()?;
        let message_id = self.message_id();
        let message = Message::builder()
            .from(self.from.clone())
            .to(recipient(address)?)
            .subject(format!("Confirm your subscription to {}", site.name))
            .date_now()
            .message_id(Some(message_id.clone()))
            .multipart(MultiPart::alternative_plain_html(text, html))?;
        Ok(Composed {
            message_id,
            bytes: self.finish(&message)?,
        })
    }
}

/// What every reminder of one maintenance shares: its name, window, components and
/// description (the first update's body), as they stand when the reminder is sent.
pub struct ReminderMail {
    incident_id: i64,
    incident_name: String,
    starts: String,
    ends: String,
    impact: ImpactBand,
    components: Vec<ComponentLine>,
    body_text: String,
    body_html: String,
}

impl ReminderMail {
    pub fn new(site_url: &str, incident: &Incident, update: &IncidentUpdate) -> ReminderMail {
        let time = |t: Option<DateTime<Utc>>| t.map(|t| TimeView::new(&t).text).unwrap_or_default();
        ReminderMail {
            incident_id: incident.id,
            incident_name: incident.name.clone(),
            starts: time(incident.scheduled_for),
            ends: time(incident.scheduled_until),
            impact: ImpactBand::of(incident),
            components: components_as_of(incident, update),
            body_text: to_email_text(&update.body, site_url),
            body_html: to_safe_html(&update.body, site_url),
        }
    }
}

#[derive(Template)]
#[template(path = "email/reminder.txt")]
struct ReminderText<'a> {
    site_name: &'a str,
    mail: &'a ReminderMail,
    incident_url: &'a str,
    manage_url: &'a str,
    unsubscribe_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/reminder.html")]
struct ReminderHtml<'a> {
    brand: &'a MailBrand,
    mail: &'a ReminderMail,
    incident_url: &'a str,
    manage_url: &'a str,
    unsubscribe_url: &'a str,
}

impl Composer {
    /// The reminder to one subscriber that a maintenance starts soon ("Reminder: <name> starts
    /// at <time>"), with the list headers of every notification.
    pub fn reminder(
        &self,
        mail: &ReminderMail,
        subscriber_id: i64,
        address: &str,
    ) -> anyhow::Result<Composed> {
        let site = self.site();
        let incident_url = format!("{}/incidents/{}", site.url, mail.incident_id);
        let manage_url = self.manage_url(subscriber_id);
        let unsubscribe_url = self.unsubscribe_url(subscriber_id);
        let text = ReminderText {
            site_name: &site.name,
            mail,
            incident_url: &incident_url,
            manage_url: &manage_url,
            unsubscribe_url: &unsubscribe_url,
        }
        .render()?;
        let html = ReminderHtml {
            brand: &MailBrand::of(&site),
            mail,
            incident_url: &incident_url,
            manage_url: &manage_url,
            unsubscribe_url: &unsubscribe_url,
        }
        .render()?;
        let subject = format!(
            "[{}] Reminder: {} starts at {}",
            site.name, mail.incident_name, mail.starts
        );
        self.list_mail(address, subject, &unsubscribe_url, text, html)
    }
}

impl Composer {
    /// A message to a subscriber about their subscription (plain text), such as a webhook
    /// subscription being disabled.
    pub fn notice(&self, subject: &str, body: &str, address: &str) -> anyhow::Result<Composed> {
        let message_id = self.message_id();
        let site = self.site();
        let text = format!("{body}\n\n-- \n{}: {}\n", site.name, site.url);
        let message = Message::builder()
            .from(self.from.clone())
            .to(recipient(address)?)
            .subject(subject)
            .date_now()
            .message_id(Some(message_id.clone()))
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(text)?;
        Ok(Composed {
            message_id,
            bytes: self.finish(&message)?,
        })
    }

    /// A message about Herald itself to one admin (plain text).
    pub fn alert(&self, subject: &str, body: &str, address: &str) -> anyhow::Result<Composed> {
        let message_id = self.message_id();
        let site = self.site();
        let text = format!(
            "{body}\n\n-- \nHerald, the status page of {}: {}/admin\n",
            site.name, site.url
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(recipient(address)?)
            .subject(format!("[{} alert] {subject}", site.name))
            .date_now()
            .message_id(Some(message_id.clone()))
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(text)?;
        Ok(Composed {
            message_id,
            bytes: self.finish(&message)?,
        })
    }
}

/// An update's post on X: the responder's own text when given (validated when posted), or
/// "Status: incident name — the start of the message…" cut at a word boundary so that, with
/// the incident's link, it fits in 280 weighted characters.
pub fn tweet_text(site_url: &str, incident: &Incident, update: &IncidentUpdate) -> String {
    compose_tweet(
        &format!("{site_url}/incidents/{}", incident.id),
        update.status.label(),
        &incident.name,
        &update.body,
        update.custom_tweet.as_deref(),
    )
}

/// `tweet_text` from its parts, for previews of updates not yet posted.
pub fn compose_tweet(
    link: &str,
    status_label: &str,
    incident_name: &str,
    body_markdown: &str,
    custom: Option<&str>,
) -> String {
    if let Some(custom) = custom.map(str::trim).filter(|t| !t.is_empty()) {
        return custom.to_string();
    }
    let body = crate::domain::markdown::to_plain_text(body_markdown)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let lead = format!("{status_label}: {incident_name} — {body}");
    format!(
        "{} {link}",
        crate::domain::tweet::fit_with_link(&lead, link)
    )
}

/// The recipient mailbox, with an internationalised domain in its ASCII form.
fn recipient(address: &str) -> anyhow::Result<Mailbox> {
    let email =
        // Stored addresses were checked against the relay when given; if it has since stopped
    // announcing SMTPUTF8, the transport refuses the message with that reason.
    crate::domain::SubscriberEmail::parse_with(address, true).map_err(|e| anyhow::anyhow!("{e}"))?;
    email
        .to_ascii_domain()
        .parse()
        .map_err(|e| anyhow::anyhow!("cannot address mail to {address}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::branding::{Branding, Color};
    use crate::domain::{AffectedComponent, IncidentStatus};

    fn maintenance() -> (Incident, IncidentUpdate) {
        let at = crate::domain::now();
        let update = IncidentUpdate {
            id: 5,
            incident_id: 3,
            status: IncidentStatus::Scheduled,
            body: "We upgrade the **database**; see [the plan](/incidents/3).".into(),
            display_at: at,
            created_at: at,
            updated_at: at,
            affected: vec![AffectedComponent {
                component_id: 1,
                name: "Post scheduler".into(),
                old_status: ComponentStatus::Operational,
                new_status: ComponentStatus::UnderMaintenance,
            }],
            deliver_notifications: true,
            custom_tweet: None,
            tweet_id: None,
            edited_at: None,
            tampered: false,
        };
        let incident = Incident {
            id: 3,
            kind: IncidentKind::Maintenance,
            name: "Database upgrade".into(),
            status: IncidentStatus::Scheduled,
            impact: Impact::Maintenance,
            created_at: at,
            updated_at: at,
            started_at: at,
            monitoring_at: None,
            resolved_at: None,
            scheduled_for: Some(at + chrono::Duration::hours(1)),
            scheduled_until: Some(at + chrono::Duration::hours(2)),
            updates: vec![update.clone()],
            component_ids: vec![1],
            postmortem: None,
            plan: Default::default(),
            tampered: false,
        };
        (incident, update)
    }

    #[test]
    fn a_reminder_has_the_notifications_look_and_plain_text() {
        let site = Site::new(
            "https://status.acme.example",
            Branding {
                accent: Some(Color::parse("#ff6600").unwrap()),
                ..Branding::named("Acme Cloud")
            },
        );
        let (incident, update) = maintenance();
        let mail = ReminderMail::new(&site.url, &incident, &update);
        let html = ReminderHtml {
            brand: &MailBrand::of(&site),
            mail: &mail,
            incident_url: "https://status.acme.example/incidents/3",
            manage_url: "https://status.acme.example/subscribe/manage/x",
            unsubscribe_url: "https://status.acme.example/unsubscribe/x",
        }
        .render()
        .unwrap();
        assert!(html.contains("border-top:4px solid #ff6600"), "{html}");
        assert!(
            html.contains("background:#0a53a8;color:#ffffff"),
            "the band"
        );
        assert!(html.contains(">Scheduled maintenance</p>"), "in words");
        assert!(html.contains("Post scheduler: <strong class=\"st-under_maintenance\""));
        let text = ReminderText {
            site_name: &site.name,
            mail: &mail,
            incident_url: "https://status.acme.example/incidents/3",
            manage_url: "m",
            unsubscribe_url: "u",
        }
        .render()
        .unwrap();
        assert!(
            text.starts_with("Acme Cloud\nReminder: Database upgrade starts at"),
            "{text}"
        );
        assert!(
            text.contains("Affected components:\n- Post scheduler: Under maintenance\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "We upgrade the database; see the plan (https://status.acme.example/incidents/3)."
            ),
            "{text}"
        );
        assert!(!text.contains("**"), "{text}");
    }
}
