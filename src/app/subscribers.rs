//! Adding subscribers by hand or by the list. A subscriber added unconfirmed gets a
//! confirmation mail (double opt-in, as if they had signed up themselves); one added confirmed
//! skips it, so which callers may ask for that is checked by the surface before it calls.

use serde_json::json;

use super::{Actor, App, AppResult};
use crate::domain::SubscriberEmail;
use crate::store::{SignUp, StoreError, Subscriber};

impl App {
    /// Adds one subscriber, to every component or to `components`.
    pub async fn add_subscriber(
        &self,
        actor: &Actor,
        email: &SubscriberEmail,
        components: Option<&[i64]>,
        confirmed: bool,
    ) -> AppResult<Subscriber> {
        let action = if confirmed {
            "adding a confirmed subscriber"
        } else {
            "adding a subscriber"
        };
        self.screen_privileged(actor, action).await?;
        let subscriber = self
            .store
            .add_subscriber(email, components, confirmed)
            .await?;
        if !confirmed {
            if let SignUp::ConfirmationQueued(_) = self.store.sign_up(email, components).await? {
                self.notifier.wake();
            }
        }
        self.audit(
            actor,
            "subscriber.add",
            &format!("subscriber:{}", subscriber.id),
            json!({ "email": subscriber.email, "confirmed": confirmed }),
        )
        .await;
        Ok(subscriber)
    }

    /// Imports a list; addresses already subscribed are left alone. Returns how many were
    /// added (confirmed) or sent a confirmation mail (unconfirmed).
    pub async fn import_subscribers(
        &self,
        actor: &Actor,
        emails: &[SubscriberEmail],
        confirmed: bool,
    ) -> AppResult<u64> {
        self.screen_privileged(actor, "importing subscribers")
            .await?;
        let added = if confirmed {
            self.store.import_subscribers(emails, true).await?
        } else {
            let mut queued = 0;
            for email in emails {
                if let SignUp::ConfirmationQueued(_) = self.store.sign_up(email, None).await? {
                    queued += 1;
                }
            }
            self.notifier.wake();
            queued
        };
        self.audit(
            actor,
            "subscriber.import",
            "subscribers",
            json!({ "addresses": emails.len(), "added": added, "confirmed": confirmed }),
        )
        .await;
        Ok(added)
    }
}

impl App {
    /// Removes a subscriber at staff's hand (a subscriber's own unsubscribe is the public
    /// page's, and needs no audit).
    pub async fn remove_subscriber(&self, actor: &Actor, id: i64) -> AppResult<()> {
        if !self.store.remove_subscriber(id).await? {
            return Err(StoreError::NotFound("subscriber").into());
        }
        self.audit(
            actor,
            "subscriber.remove",
            &format!("subscriber:{id}"),
            json!({}),
        )
        .await;
        Ok(())
    }
}
