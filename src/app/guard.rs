//! Where the audit log and the tripwire meet the acts: who acted (`Actor`), recording what
//! they did, and screening an action against the tripwire's rules before it takes effect.

use serde_json::{json, Value};

use super::App;
use crate::domain::Choice;
use crate::security::audit::Chain;
use crate::security::tripwire::{Outbound, Recent, Rule, Trip};
use crate::store::{AuditEvent, Published, Store, StoreResult};

/// Who did something, as the audit log and the tripwire see them.
#[derive(Debug, Clone)]
pub struct Actor {
    /// As recorded: `staff:ann@example.com`, `token:deploy-bot`, `anonymous`.
    pub name: String,
    /// A stable identity for the sources it has acted from: `staff:12`, `token:3`.
    pub key: String,
    pub ip: String,
    pub user_agent: String,
}

impl Actor {
    pub fn staff(id: i64, email: &str, ip: &str, user_agent: &str) -> Actor {
        Actor {
            name: format!("staff:{email}"),
            key: format!("staff:{id}"),
            ip: ip.to_string(),
            user_agent: user_agent.to_string(),
        }
    }

    pub fn token(id: i64, name: &str, ip: &str, user_agent: &str) -> Actor {
        Actor {
            name: format!("token:{name}"),
            key: format!("token:{id}"),
            ip: ip.to_string(),
            user_agent: user_agent.to_string(),
        }
    }

    /// Someone not signed in (a failed sign-in names the email it tried in the detail).
    pub fn anonymous(ip: &str, user_agent: &str) -> Actor {
        Actor {
            name: "anonymous".into(),
            key: String::new(),
            ip: ip.to_string(),
            user_agent: user_agent.to_string(),
        }
    }

    /// The command line, run by an operating-system user on a host that holds the key file.
    pub fn cli() -> Actor {
        let user = std::env::var("USER").unwrap_or_default();
        Actor {
            name: "cli".into(),
            key: String::new(),
            ip: String::new(),
            user_agent: format!("herald {} (user {user})", env!("CARGO_PKG_VERSION")),
        }
    }

    /// Herald itself (the tripwire, the scheduler).
    pub fn system(name: &str) -> Actor {
        Actor {
            name: name.into(),
            key: String::new(),
            ip: String::new(),
            user_agent: String::new(),
        }
    }
}

/// Appends `actor`'s act to the audit log under `chain`. `App::audit` for every act; called
/// directly only where no App can be built (the key rotation writes under the new key).
pub async fn append_audit(
    store: &Store,
    chain: &Chain,
    actor: &Actor,
    action: &str,
    target: &str,
    detail: Value,
) -> StoreResult<()> {
    let event = AuditEvent {
        actor: actor.name.clone(),
        ip: actor.ip.clone(),
        user_agent: actor.user_agent.clone(),
        action: action.to_string(),
        target: target.to_string(),
        detail,
    };
    store.append_audit(chain, event).await.map(|_| ())
}

impl App {
    /// Appends to the audit log. The action has already happened, so a failure to record it is
    /// logged loudly rather than undoing it.
    pub async fn audit(&self, actor: &Actor, action: &str, target: &str, detail: Value) {
        if let Err(e) = append_audit(&self.store, &self.chain, actor, action, target, detail).await
        {
            tracing::error!(error = %e, action, actor = %actor.name, "writing the audit log failed");
        }
    }

    /// A rule tripped: outbound stops on every instance before its next send, every admin gets
    /// an email (which the pause does not hold back), the audit log says why, and the admin
    /// pages show a red banner until an admin re-authenticates and resumes.
    pub async fn trip(&self, actor: &Actor, trip: &Trip) -> StoreResult<()> {
        // What looks forged may only be newer than this process's key: then it stands aside.
        if !self.key_watch.still_current(&self.store).await {
            self.notifier.fence();
            self.cache.freeze();
            return Ok(());
        }
        let before = self.store.outbound_state().await?;
        // A stored state Herald did not write is no earlier trip: write a genuine one.
        let already = before.genuine && before.paused && !before.tripped_rule.is_empty();
        tracing::error!(rule = trip.rule.as_str(), detail = %trip.detail, actor = %actor.name, "tripwire tripped");
        if !already {
            self.notifier
                .trip(
                    &self.store,
                    trip.rule.as_str(),
                    &format!("{}: {}", trip.rule.title(), trip.detail),
                )
                .await?;
        }
        self.audit(
            actor,
            "tripwire.tripped",
            trip.rule.as_str(),
            json!({ "rule": trip.rule.as_str(), "detail": trip.detail, "already_paused": already }),
        )
        .await;
        if !already {
            let subject = format!("Herald tripwire: {}; outbound paused", trip.rule.title());
            let body = format!(
                "Herald paused every outbound channel (email to subscribers, posts to X) because a \
                 tripwire rule tripped.\n\n\
                 Rule: {}\nWhat happened: {}\nWho: {} from {}\n\n\
                 Nothing more goes out until an admin signs in, checks the audit log, \
                 re-authenticates and resumes: {}/admin\n",
                trip.rule.title(),
                trip.detail,
                actor.name,
                if actor.ip.is_empty() { "-" } else { &actor.ip },
                self.config.public_url().trim_end_matches('/'),
            );
            self.store.raise_alert("tripwire", &subject, &body).await?;
            self.notifier.wake();
        }
        Ok(())
    }

    /// A session, token or enrolment link was presented whose row was edited in the database:
    /// someone holds write access to it. The caller refuses the credential too.
    pub async fn trip_forged_credential(&self, actor: &Actor, detail: String) -> StoreResult<()> {
        let trip = Trip {
            rule: Rule::ForgedCredential,
            detail: format!("{detail}, presented from {}", actor.ip),
        };
        self.trip(actor, &trip).await
    }

    /// What a notifying post would trip if it went out now, and why, without tripping: the
    /// burst counts (since the window began or an admin last resumed, whichever is later) and
    /// the hosts it links to. `incident` is the incident it is for; `None` for a new one.
    pub async fn assess_post(
        &self,
        incident: Option<i64>,
        post: &Outbound<'_>,
    ) -> StoreResult<Vec<Trip>> {
        let now = crate::domain::now();
        let mut since = now - self.rules.burst_window();
        // A vouch far in the future was not written by a resume (clocks differ by seconds).
        if let Some(vouched) = self
            .store
            .vouched_at()
            .await?
            .filter(|v| *v > since && *v <= now + chrono::Duration::minutes(5))
        {
            since = vouched;
        }
        let recent = self.store.recent_notifying_posts(since, incident).await?;
        let recent = Recent {
            posts: recent.posts,
            to_incident: recent.to_incident,
            new_incidents: recent.new_incidents,
            opens_incident: recent.first_for_incident,
        };
        Ok(self
            .rules
            .check_burst(&recent)
            .into_iter()
            .chain(self.rules.check_links(post))
            .collect())
    }

    /// What publishing an incident update would trip (`incident`: `None` when it opens a new
    /// incident named `name`). A quiet update sends nothing, so it trips nothing.
    pub async fn assess_update(
        &self,
        incident: Option<i64>,
        name: &str,
        draft: &crate::domain::UpdateDraft,
    ) -> StoreResult<Vec<Trip>> {
        if !draft.notify {
            return Ok(Vec::new());
        }
        let tweet = draft.post_to_x().then(|| {
            self.post_on_x(
                incident,
                draft.status.label(),
                name,
                &draft.body,
                draft.custom_tweet.as_deref(),
            )
        });
        let post = Outbound {
            name,
            body: &draft.body,
            tweet: tweet.as_deref(),
        };
        self.assess_post(incident, &post).await
    }

    /// The post on X an update would make, as the worker composes it.
    pub fn post_on_x(
        &self,
        incident: Option<i64>,
        status_label: &str,
        name: &str,
        body: &str,
        custom: Option<&str>,
    ) -> String {
        crate::notify::compose::compose_tweet(
            &format!(
                "{}/incidents/{}",
                self.config.public_url(),
                incident.unwrap_or(0)
            ),
            status_label,
            name,
            body,
            custom,
        )
    }

    /// Trips the wire for each rule a post trips. The post is then stored with outbound
    /// paused, so its deliveries are queued but nothing goes out.
    async fn trip_all(&self, actor: &Actor, trips: &[Trip]) -> StoreResult<()> {
        for trip in trips {
            self.trip(actor, trip).await?;
        }
        Ok(())
    }

    /// Screens the first update of a new incident (or a maintenance notice) that will notify
    /// subscribers.
    pub async fn screen_update(
        &self,
        actor: &Actor,
        name: &str,
        draft: &crate::domain::UpdateDraft,
    ) -> StoreResult<()> {
        let trips = self.assess_update(None, name, draft).await?;
        self.trip_all(actor, &trips).await
    }

    /// Screens a notifying update to an existing incident, reading its name only when needed.
    pub async fn screen_update_to(
        &self,
        actor: &Actor,
        incident_id: i64,
        draft: &crate::domain::UpdateDraft,
    ) -> StoreResult<()> {
        if !draft.notify {
            return Ok(());
        }
        let name = self.store.incident(incident_id).await?.name;
        let trips = self.assess_update(Some(incident_id), &name, draft).await?;
        self.trip_all(actor, &trips).await
    }

    /// Screens a maintenance window that will notify subscribers.
    pub async fn screen_maintenance(
        &self,
        actor: &Actor,
        draft: &crate::domain::MaintenanceDraft,
    ) -> StoreResult<()> {
        if !draft.notify {
            return Ok(());
        }
        let tweet = self.post_on_x(
            None,
            crate::domain::IncidentStatus::Scheduled.label(),
            &draft.name,
            &draft.body,
            None,
        );
        let post = Outbound {
            name: &draft.name,
            body: &draft.body,
            tweet: Some(&tweet),
        };
        let trips = self.assess_post(None, &post).await?;
        self.trip_all(actor, &trips).await
    }

    /// Screens a privileged action: from an address (or through a token) this actor has never
    /// acted from, it trips. An actor's very first source is learnt, not tripped on. Returns
    /// whether it tripped.
    pub async fn screen_privileged(&self, actor: &Actor, action: &str) -> StoreResult<bool> {
        if !self.rules.new_source || actor.key.is_empty() {
            return Ok(false);
        }
        let (known, any) = self.store.known_source(&actor.key, &actor.ip).await?;
        if known {
            return Ok(false);
        }
        self.store.remember_source(&actor.key, &actor.ip).await?;
        if any {
            let trip = Trip {
                rule: Rule::NewSource,
                detail: format!(
                    "{action} by {} from {}, an address never seen for it",
                    actor.name, actor.ip
                ),
            };
            self.trip(actor, &trip).await?;
        }
        Ok(any)
    }

    /// Counts subscriber addresses shown or exported to `actor` towards the export rule: past
    /// its limit within its window (one big export, or page after page of the list) it trips.
    /// Returns whether it tripped.
    pub async fn screen_address_reads(&self, actor: &Actor, addresses: usize) -> StoreResult<bool> {
        if addresses == 0 {
            return Ok(false);
        }
        let who = if actor.key.is_empty() {
            &actor.name
        } else {
            &actor.key
        };
        let since = crate::domain::now() - self.rules.export_window();
        let total = self
            .store
            .record_address_reads(who, i64::try_from(addresses).unwrap_or(i64::MAX), since)
            .await?;
        match self.rules.check_export(u64::try_from(total).unwrap_or(0)) {
            Some(trip) => {
                self.trip(actor, &trip).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Records a published incident update (or maintenance notice).
    pub async fn audit_published(
        &self,
        actor: &Actor,
        action: &str,
        published: &Published,
        notify: bool,
        body: &str,
    ) {
        let body: String = body.chars().take(2000).collect();
        self.audit(
            actor,
            action,
            &format!("incident:{}", published.incident_id),
            json!({ "update": published.update_id, "notify": notify, "body": body }),
        )
        .await;
    }
}
