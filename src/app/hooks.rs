//! Webhook subscriptions (generic webhooks, Slack, Discord, Teams): added by a customer from the
//! status page or by an admin, tested before they are active, removed by their owner's link or
//! an admin. The URL and signing secret are sealed under the master key before they are stored.

use serde_json::json;

use super::{Actor, App, AppError, AppResult};
use crate::channels::webhook::{kind_for_url, safe_http, signature};
use crate::channels::{Contact, HookContact, Message, Outgoing, Receipt, SendError};
use crate::domain::{FieldError, Invalid};
use crate::notify::Verdict;
use crate::security::seal::purpose;
use crate::store::{HookRow, NewHook};

/// The kinds of subscription, as the API names them.
pub const KINDS: [&str; 4] = ["webhook", "slack", "discord", "teams"];

/// What someone asks to subscribe.
#[derive(Debug, Clone, Default)]
pub struct HookRequest<'a> {
    pub url: &'a str,
    /// webhook, slack, discord or teams; by default from the URL's host.
    pub kind: Option<&'a str>,
    /// Where to say that the subscription was disabled.
    pub email: Option<&'a str>,
    /// The components it follows (`None`: all).
    pub components: Option<&'a [i64]>,
    /// The company's own channel (an admin's), rather than a customer's.
    pub company: bool,
    /// Asked from the status page: the test must pass before anything is stored.
    pub public: bool,
}

/// A subscription just added: the stored row, its secret (shown once), and how its test went.
#[derive(Debug, Clone)]
pub struct AddedHook {
    pub hook: HookRow,
    pub secret: Option<String>,
    pub test: Result<Receipt, SendError>,
}

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Store(crate::store::StoreError::Invalid(Invalid(vec![
        FieldError::new(field, message),
    ])))
}

impl App {
    /// Validates a request: URL, kind and email; returns (url, kind).
    fn check_hook(&self, req: &HookRequest<'_>) -> AppResult<(url::Url, &'static str)> {
        let url = safe_http::check_url(req.url.trim()).map_err(|e| invalid("url", e))?;
        let kind = match req.kind.map(str::trim).filter(|k| !k.is_empty()) {
            None => kind_for_url(&url),
            Some(k) => KINDS.into_iter().find(|known| *known == k).ok_or_else(|| {
                invalid(
                    "kind",
                    format!("\"{k}\" is not a kind; use webhook, slack, discord or teams"),
                )
            })?,
        };
        if let Some(email) = req.email.map(str::trim).filter(|e| !e.is_empty()) {
            crate::domain::SubscriberEmail::parse_with(email, self.relay.takes_international())
                .map_err(|e| invalid("email", e.message))?;
        }
        Ok((url, kind))
    }

    /// Adds a subscription and sends its test delivery. From the status page (`actor` is the
    /// public), the test must answer 2xx or nothing is stored; an admin's subscription is kept
    /// either way and becomes active once a test answers 2xx.
    pub async fn add_hook(&self, actor: &Actor, req: &HookRequest<'_>) -> AppResult<AddedHook> {
        let (url, kind) = self.check_hook(req)?;
        let secret = (kind == "webhook").then(signature::generate_secret);
        let host = url.host_str().unwrap_or_default().to_string();
        let public = req.public;
        if public {
            // Nothing is stored until the receiver has answered the test.
            let contact = HookContact {
                id: 0,
                kind: kind.to_string(),
                url: url.to_string(),
                secret: secret.clone(),
                unsubscribe_url: self.config.public_url(),
            };
            if let Err(e) = self.send_hook_test(contact).await? {
                return Err(invalid(
                    "url",
                    format!("the test delivery to {host} was not accepted: {e}"),
                ));
            }
        }
        let sealer = self.sealer.clone();
        let url_text = url.to_string();
        let secret_text = secret.clone();
        let email = req.email.map(str::trim).filter(|e| !e.is_empty());
        let hook = self
            .store
            .create_hook(
                &NewHook {
                    kind,
                    host: &host,
                    email,
                    owner: if req.company { "company" } else { "subscriber" },
                    components: req.components,
                    created_by: &actor.name,
                },
                move |id| {
                    let url = sealer.seal(&purpose::hook_url(id), &url_text)?;
                    let secret = match &secret_text {
                        Some(s) => Some(sealer.seal(&purpose::hook_secret(id), s)?),
                        None => None,
                    };
                    Ok((url, secret))
                },
            )
            .await?;
        let test = if public {
            self.store.activate_hook(hook.id).await?;
            Ok("the test delivery was accepted".to_string())
        } else {
            self.test_hook_row(&hook).await?
        };
        let hook = self.store.hook(hook.id).await?.unwrap_or(hook);
        self.audit(
            actor,
            "webhook.add",
            &format!("webhook:{}", hook.id),
            json!({
                "kind": kind,
                "host": host,
                "owner": hook.owner,
                "active": hook.activated_at.is_some(),
                "test": test.as_ref().map_err(ToString::to_string),
            }),
        )
        .await;
        Ok(AddedHook { hook, secret, test })
    }

    /// Sends a subscription's test delivery again; a 2xx makes (or keeps) it active.
    pub async fn test_hook(&self, actor: &Actor, id: i64) -> AppResult<Result<Receipt, SendError>> {
        let hook = self
            .store
            .hook(id)
            .await?
            .ok_or(crate::store::StoreError::NotFound("webhook"))?;
        let result = self.test_hook_row(&hook).await?;
        self.audit(
            actor,
            "webhook.test",
            &format!("webhook:{id}"),
            json!({ "ok": result.is_ok(), "answer": result.as_ref().map_err(ToString::to_string) }),
        )
        .await;
        Ok(result)
    }

    async fn test_hook_row(&self, hook: &HookRow) -> AppResult<Result<Receipt, SendError>> {
        let shared = self.outbox_shared();
        let contact = crate::notify::outbox::open_hook(&shared, hook).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "webhook {} cannot be opened with this master key",
                hook.id
            ))
        })?;
        let result = self.send_hook_test(contact).await?;
        if result.is_ok() {
            self.store.activate_hook(hook.id).await?;
        }
        Ok(result)
    }

    /// Sends the test message to one receiver, if the kill switch allows it now.
    async fn send_hook_test(&self, contact: HookContact) -> AppResult<Result<Receipt, SendError>> {
        match self.notifier.may_send(&self.store).await? {
            Verdict::Send => {}
            _ => {
                return Err(AppError::Paused(
                    "outbound is paused: webhook tests wait until it is resumed".into(),
                ))
            }
        }
        let indicator = crate::domain::Indicator::overall(&self.store.components().await?, []);
        let page = crate::notify::outbox::page_info(&self.composer.site(), indicator);
        let out = Outgoing {
            delivery_id: 0,
            channel: contact.kind.clone(),
            recipient_id: contact.id,
            message: Message::Test(std::sync::Arc::new(page)),
            contact: Contact::Hook(contact),
            attempts: 1,
            reply_to: None,
        };
        Ok(crate::notify::outbox::send_once(&self.hook_http, &out).await)
    }

    /// Removes a subscription (an admin, or its owner's link).
    pub async fn remove_hook(&self, actor: &Actor, id: i64) -> AppResult<bool> {
        let removed = self.store.remove_hook(id).await?;
        if removed {
            self.audit(actor, "webhook.remove", &format!("webhook:{id}"), json!({}))
                .await;
        }
        Ok(removed)
    }

    /// What the outbox shares, for acts that send one message at once (a test).
    pub fn outbox_shared(&self) -> crate::notify::outbox::Shared {
        crate::notify::outbox::Shared {
            store: self.store.clone(),
            notifier: self.notifier.clone(),
            sealer: self.sealer.clone(),
            composer: self.composer.clone(),
            trip: None,
        }
    }
}
