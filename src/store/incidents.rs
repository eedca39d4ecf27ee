//! Components, incidents, maintenances and their updates.
//!
//! Every change to what customers see goes through `publish`: one transaction that writes the
//! update, moves component statuses, and records which components each update affected.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::rows::{
    assemble, AffectedRow, ComponentRow, IncidentComponentRow, IncidentRow, UpdateRow,
};
use super::stamps::{stamp_component, stamp_incident};
use super::uptime::{log_status, settle_status_log};
use super::{on_pool, Store, StoreError, StoreResult};
use crate::domain::{
    self, Choice, Component, ComponentDraft, ComponentStatus, FieldError, Impact, Incident,
    IncidentDraft, IncidentKind, IncidentStatus, Invalid, MaintenanceDraft, UpdateDraft,
};
use crate::security::stamp::UpdateText;

/// What a publish created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub incident_id: i64,
    pub update_id: i64,
}

/// Which incident an update belongs to.
pub(super) enum Target<'a> {
    New {
        kind: IncidentKind,
        name: &'a str,
        impact: Impact,
        window: Option<(DateTime<Utc>, DateTime<Utc>)>,
        component_ids: &'a [i64],
        /// A maintenance's reminder, notices and automatic moves.
        plan: Option<super::maintenance::Plan>,
    },
    /// An existing incident; with `only_from`, only while its status is one of those (so two
    /// instances advancing the same maintenance write one update, not two).
    Existing {
        id: i64,
        only_from: Option<&'a [IncidentStatus]>,
        /// What else happens to the incident in the update's transaction.
        also: Also,
    },
}

/// A change to an existing incident that its update carries, committed with the update so
/// neither happens without the other (a postmortem announced but not public, a maintenance
/// that says "cancelled" without being marked so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Also {
    Nothing,
    /// The update announces the postmortem: it becomes public.
    PublishPostmortem,
    /// The update calls the maintenance off: it is marked cancelled, its reminder dropped.
    Cancel,
}

pub(crate) const COMPONENT_COLUMNS: &str =
    "SELECT id, name, description, group_name, position, status, created_at, updated_at, stamp, show_uptime FROM components";
pub(crate) const INCIDENT_COLUMNS: &str =
    "SELECT id, kind, name, status, impact, created_at, updated_at, started_at, \
     monitoring_at, resolved_at, scheduled_for, scheduled_until, stamp, postmortem_body, \
     postmortem_updated_at, postmortem_published_at, remind_prior_minutes, reminded_at, \
     notify_at_start, notify_at_end, auto_start, auto_end, cancelled_at, schedule_sequence \
     FROM incidents";
const UPDATE_COLUMNS: &str =
    "SELECT id, incident_id, status, body, display_at, created_at, updated_at, \
     deliver_notifications, custom_tweet, tweet_id, stamp, edited_at FROM incident_updates";
const AFFECTED_COLUMNS: &str =
    "SELECT uc.update_id, uc.component_id, c.name, uc.old_status, uc.new_status \
     FROM update_components uc JOIN components c ON c.id = uc.component_id";

/// Statuses in which an incident or maintenance holds its components in their state.
pub(super) const HOLDING: &str =
    "('investigating', 'identified', 'monitoring', 'in_progress', 'verifying')";

/// Within transaction `$tx`: the components that open events other than incident `$id` hold,
/// each with the status such an event last gave it (None: it holds it as it is). What a
/// component returns to when `$id` closes or goes away.
macro_rules! held_by_others {
    ($tx:expr, $id:expr) => {{
        let id: i64 = $id;
        let mut held: std::collections::HashMap<i64, Option<ComponentStatus>> =
            std::collections::HashMap::new();
        let holders: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT DISTINCT ic.component_id FROM incident_components ic \
             JOIN incidents i ON i.id = ic.incident_id WHERE i.id <> $1 AND i.status IN {}",
            $crate::store::incidents::HOLDING
        ))
        .bind(id)
        .fetch_all(&mut *$tx)
        .await?;
        held.extend(holders.into_iter().map(|c| (c, None)));
        let set_by_others: Vec<(i64, String)> = sqlx::query_as(&format!(
            "SELECT uc.component_id, uc.new_status FROM update_components uc \
             JOIN incident_updates u ON u.id = uc.update_id JOIN incidents i ON i.id = u.incident_id \
             WHERE i.id <> $1 AND i.status IN {} ORDER BY u.id",
            $crate::store::incidents::HOLDING
        ))
        .bind(id)
        .fetch_all(&mut *$tx)
        .await?;
        for (c, status) in set_by_others {
            let status = ComponentStatus::from_stored(&status).map_err(StoreError::Corrupt)?;
            held.insert(c, Some(status));
        }
        held
    }};
}
pub(crate) use held_by_others;

impl Store {
    /// Components in display order: by group, then position, then name.
    pub async fn components(&self) -> StoreResult<Vec<Component>> {
        let sql =
            format!("{COMPONENT_COLUMNS} ORDER BY COALESCE(group_name, ''), position, name, id");
        let rows: Vec<ComponentRow> =
            on_pool!(self, read pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|r| r.into_component(self.stamper()))
            .collect()
    }

    pub async fn create_component(&self, draft: &ComponentDraft) -> StoreResult<Component> {
        let now = domain::now();
        let sql = "INSERT INTO components (name, description, group_name, position, status, created_at, updated_at, show_uptime) \
                   VALUES ($1, $2, $3, $4, 'operational', $5, $5, $6) RETURNING id";
        let row: ComponentRow = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(sql)
                .bind(&draft.name)
                .bind(&draft.description)
                .bind(&draft.group)
                .bind(draft.position)
                .bind(now)
                .bind(draft.show_uptime)
                .fetch_one(&mut *tx)
                .await?;
            // Its history starts with its creation.
            log_status!(self, tx, id, ComponentStatus::Operational.as_str(), now, None);
            let row = stamp_component!(self, tx, id);
            tx.commit().await?;
            row
        });
        row.into_component(self.stamper())
    }

    pub async fn update_component(
        &self,
        id: i64,
        draft: &ComponentDraft,
    ) -> StoreResult<Component> {
        let sql = "UPDATE components SET name = $1, description = $2, group_name = $3, position = $4, updated_at = $5, \
                   show_uptime = $7 WHERE id = $6";
        let row: ComponentRow = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let found = sqlx::query(sql)
                .bind(&draft.name)
                .bind(&draft.description)
                .bind(&draft.group)
                .bind(draft.position)
                .bind(domain::now())
                .bind(id)
                .bind(draft.show_uptime)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if found == 0 {
                return Err(StoreError::NotFound("component"));
            }
            let row = stamp_component!(self, tx, id);
            tx.commit().await?;
            row
        });
        row.into_component(self.stamper())
    }

    /// Removes a component; past updates keep their text but no longer list it.
    pub async fn delete_component(&self, id: i64) -> StoreResult<()> {
        let deleted = on_pool!(self, write pool => sqlx::query("DELETE FROM components WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        if deleted == 0 {
            return Err(StoreError::NotFound("component"));
        }
        Ok(())
    }

    /// Every incident and maintenance with its full timeline, newest first.
    pub async fn incidents(&self) -> StoreResult<Vec<Incident>> {
        self.read_timelines(None).await
    }

    /// Every incident's revision: it moves with any change to what the incident's pages show
    /// (the incident, its updates and their components; see migration 0018).
    ///
    /// Read as one row, `id:revision` pairs joined by commas, rather than a row an incident:
    /// ten thousand rows cost the driver far more than one string of the same numbers.
    pub async fn incident_revisions(&self) -> StoreResult<HashMap<i64, i64>> {
        let sql = match &self.pool {
            super::Pool::Sqlite { .. } => {
                "SELECT group_concat(id || ':' || revision, ',') FROM incidents"
            }
            super::Pool::Postgres(_) => {
                "SELECT string_agg(id::text || ':' || revision::text, ',') FROM incidents"
            }
        };
        let (joined,): (Option<String>,) =
            on_pool!(self, read pool => sqlx::query_as(sql).fetch_one(pool).await)?;
        let Some(joined) = joined else {
            return Ok(HashMap::new());
        };
        joined
            .split(',')
            .map(|pair| {
                pair.split_once(':')
                    .and_then(|(id, revision)| Some((id.parse().ok()?, revision.parse().ok()?)))
                    .ok_or_else(|| StoreError::Corrupt(format!("incident revision {pair:?}")))
            })
            .collect()
    }

    /// The incidents with these ids (those that exist) with their timelines, read as
    /// [`Store::incidents`] reads them, in no particular order.
    pub async fn incidents_by_id(&self, ids: &[i64]) -> StoreResult<Vec<Incident>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            // Whole numbers: written into the SQL, not bound.
            let list = chunk
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            out.extend(self.read_timelines(Some(&list)).await?);
        }
        Ok(out)
    }

    /// One incident or maintenance with its timeline.
    pub async fn incident(&self, id: i64) -> StoreResult<Incident> {
        self.read_timelines(Some(&id.to_string()))
            .await?
            .pop()
            .ok_or(StoreError::NotFound("incident"))
    }

    /// Incidents with their timelines, read in one transaction: all of them, newest first, or
    /// those whose ids `list` names (`3,7,12`, whole numbers only), in no particular order.
    async fn read_timelines(&self, list: Option<&str>) -> StoreResult<Vec<Incident>> {
        let (incidents_sql, updates_sql, affected_sql, links_sql) = match list {
            None => (
                format!("{INCIDENT_COLUMNS} ORDER BY started_at DESC, id DESC"),
                UPDATE_COLUMNS.to_string(),
                format!("{AFFECTED_COLUMNS} ORDER BY c.name"),
                "SELECT incident_id, component_id FROM incident_components ORDER BY component_id"
                    .to_string(),
            ),
            Some(list) => (
                format!("{INCIDENT_COLUMNS} WHERE id IN ({list})"),
                format!("{UPDATE_COLUMNS} WHERE incident_id IN ({list})"),
                format!(
                    "{AFFECTED_COLUMNS} JOIN incident_updates u ON u.id = uc.update_id \
                     WHERE u.incident_id IN ({list}) ORDER BY c.name"
                ),
                format!(
                    "SELECT incident_id, component_id FROM incident_components \
                     WHERE incident_id IN ({list}) ORDER BY component_id"
                ),
            ),
        };
        let (incidents, updates, affected, links) = on_pool!(self, read pool => {
            let mut tx = pool.begin().await?;
            let incidents: Vec<IncidentRow> =
                sqlx::query_as(&incidents_sql).fetch_all(&mut *tx).await?;
            let updates: Vec<UpdateRow> = sqlx::query_as(&updates_sql).fetch_all(&mut *tx).await?;
            let affected: Vec<AffectedRow> =
                sqlx::query_as(&affected_sql).fetch_all(&mut *tx).await?;
            let links: Vec<IncidentComponentRow> =
                sqlx::query_as(&links_sql).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            (incidents, updates, affected, links)
        });
        assemble(incidents, updates, affected, links, self.stamper())
    }

    /// Opens an incident with its first update.
    pub async fn open_incident(
        &self,
        draft: &IncidentDraft,
        author: &str,
    ) -> StoreResult<Published> {
        let target = Target::New {
            kind: IncidentKind::Incident,
            name: &draft.name,
            impact: draft.impact,
            window: None,
            component_ids: &[],
            plan: None,
        };
        self.publish(target, &draft.first, author)
            .await?
            .ok_or(StoreError::NotFound("incident"))
    }

    /// Adds an update to an incident or maintenance.
    pub async fn post_update(
        &self,
        incident_id: i64,
        draft: &UpdateDraft,
        author: &str,
    ) -> StoreResult<Published> {
        self.publish(
            Target::Existing {
                id: incident_id,
                only_from: None,
                also: Also::Nothing,
            },
            draft,
            author,
        )
        .await?
        .ok_or(StoreError::NotFound("incident"))
    }

    /// Schedules a maintenance window; it starts and completes by itself (see `advance_maintenances`).
    pub async fn schedule_maintenance(
        &self,
        draft: &MaintenanceDraft,
        remind_prior_minutes: Option<i64>,
        author: &str,
    ) -> StoreResult<Published> {
        let target = Target::New {
            kind: IncidentKind::Maintenance,
            name: &draft.name,
            impact: Impact::Maintenance,
            window: Some((draft.scheduled_for, draft.scheduled_until)),
            component_ids: &draft.component_ids,
            plan: Some(super::maintenance::Plan {
                remind_prior_minutes,
                options: draft.options,
            }),
        };
        let first = UpdateDraft {
            status: IncidentStatus::Scheduled,
            body: draft.body.clone(),
            components: Vec::new(),
            notify: draft.notify,
            channels: crate::domain::resolve_channels(draft.notify, None, true).unwrap_or_default(),
            custom_tweet: None,
            display_at: None,
        };
        self.publish(target, &first, author)
            .await?
            .ok_or(StoreError::NotFound("maintenance"))
    }

    /// Writes one update and everything that follows from it, in one transaction.
    /// Returns `None` when an `only_from` condition no longer holds.
    pub(super) async fn publish(
        &self,
        target: Target<'_>,
        draft: &UpdateDraft,
        author: &str,
    ) -> StoreResult<Option<Published>> {
        let now = domain::now();
        let display_at = draft.display_at.unwrap_or(now);
        // Two instances may publish to one incident at once (their schedulers both starting a
        // maintenance, say): on PostgreSQL the row lock makes the second wait and then see the
        // first's status, so `only_from` holds. SQLite has one writer at a time anyway.
        let existing = format!(
            "SELECT kind, status, monitoring_at FROM incidents WHERE id = $1{}",
            if self.backend() == "postgres" {
                " FOR UPDATE"
            } else {
                ""
            }
        );
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;

            let components: Vec<ComponentRow> = sqlx::query_as(COMPONENT_COLUMNS).fetch_all(&mut *tx).await?;
            let current: HashMap<i64, ComponentStatus> = components
                .into_iter()
                .map(|c| Ok((c.id, ComponentStatus::from_stored(&c.status).map_err(StoreError::Corrupt)?)))
                .collect::<StoreResult<_>>()?;
            let mut unknown = Vec::new();
            let named_ids = draft.components.iter().map(|(id, _)| *id);
            let linked_ids = match &target {
                Target::New { component_ids, .. } => component_ids.to_vec(),
                Target::Existing { .. } => Vec::new(),
            };
            for id in named_ids.chain(linked_ids.iter().copied()) {
                if !current.contains_key(&id) {
                    unknown.push(FieldError::new(format!("components.{id}"), "no such component"));
                }
            }
            if !unknown.is_empty() {
                return Err(Invalid(unknown).into());
            }

            // The incident, new or existing, and its state before this update.
            let (incident_id, kind, monitoring_at) = match &target {
                Target::New { kind, name, impact, window, plan, .. } => {
                    let (scheduled_for, scheduled_until) = window.map_or((None, None), |(a, b)| (Some(a), Some(b)));
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO incidents (kind, name, status, impact, created_at, updated_at, started_at, \
                         scheduled_for, scheduled_until) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8) RETURNING id",
                    )
                    .bind(kind.as_str())
                    .bind(name)
                    .bind(draft.status.as_str())
                    .bind(impact.as_str())
                    .bind(now)
                    .bind(scheduled_for.unwrap_or(display_at))
                    .bind(scheduled_for)
                    .bind(scheduled_until)
                    .fetch_one(&mut *tx)
                    .await?;
                    if let Some(plan) = plan {
                        sqlx::query(
                            "UPDATE incidents SET remind_prior_minutes = $1, notify_at_start = $2, \
                             notify_at_end = $3, auto_start = $4, auto_end = $5 WHERE id = $6",
                        )
                        .bind(plan.remind_prior_minutes)
                        .bind(plan.options.notify_at_start)
                        .bind(plan.options.notify_at_end)
                        .bind(plan.options.auto_start)
                        .bind(plan.options.auto_end)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    }
                    (id, *kind, None)
                }
                Target::Existing { id, only_from, .. } => {
                    let row: Option<(String, String, Option<DateTime<Utc>>)> =
                        sqlx::query_as(&existing)
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let Some((kind, status, monitoring_at)) = row else {
                        return Err(StoreError::NotFound("incident"));
                    };
                    let kind = IncidentKind::from_stored(&kind).map_err(StoreError::Corrupt)?;
                    let status = IncidentStatus::from_stored(&status).map_err(StoreError::Corrupt)?;
                    // The row is locked from here: end the transaction before every early
                    // return, since a dropped one rolls back only when its connection is next
                    // used, and would hold the incident until then.
                    if only_from.is_some_and(|from| !from.contains(&status)) {
                        tx.commit().await?;
                        return Ok(None);
                    }
                    if let Err(e) = IncidentStatus::parse_for(kind, "status", draft.status.as_str()) {
                        tx.rollback().await?;
                        return Err(StoreError::Invalid(Invalid(vec![e])));
                    }
                    (*id, kind, monitoring_at)
                }
            };

            for id in draft.components.iter().map(|(id, _)| *id).chain(linked_ids) {
                sqlx::query(
                    "INSERT INTO incident_components (incident_id, component_id) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(incident_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }

            // Components the responder did not name follow the event: back to operational when
            // it closes (unless another open event holds them), under maintenance when it starts.
            let mut changes: BTreeMap<i64, ComponentStatus> = draft.components.iter().copied().collect();
            let linked: Vec<i64> =
                sqlx::query_scalar("SELECT component_id FROM incident_components WHERE incident_id = $1")
                    .bind(incident_id)
                    .fetch_all(&mut *tx)
                    .await?;
            // Components another open event still holds, with the status that event last gave
            // them (none recorded: it holds them as they are).
            let held = if draft.status.is_closed() {
                held_by_others!(tx, incident_id)
            } else {
                HashMap::new()
            };
            for id in linked {
                if changes.contains_key(&id) {
                    continue;
                }
                let status = current.get(&id).copied().unwrap_or(ComponentStatus::Operational);
                let follow = if draft.status.is_closed() {
                    match held.get(&id) {
                        None => Some(ComponentStatus::Operational),
                        Some(by_other) => *by_other,
                    }
                } else if kind == IncidentKind::Maintenance
                    && matches!(draft.status, IncidentStatus::InProgress | IncidentStatus::Verifying)
                    && status == ComponentStatus::Operational
                {
                    Some(ComponentStatus::UnderMaintenance)
                } else {
                    None
                };
                if let Some(new_status) = follow.filter(|s| *s != status) {
                    changes.insert(id, new_status);
                }
            }

            let update_id: i64 = sqlx::query_scalar(
                "INSERT INTO incident_updates (incident_id, status, body, display_at, created_at, updated_at, \
                 deliver_notifications, custom_tweet, author) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8) RETURNING id",
            )
            .bind(incident_id)
            .bind(draft.status.as_str())
            .bind(&draft.body)
            .bind(display_at)
            .bind(now)
            .bind(draft.notify)
            .bind(&draft.custom_tweet)
            .bind(author)
            .fetch_one(&mut *tx)
            .await?;
            if let Some(stamper) = self.stamper() {
                let name: String = sqlx::query_scalar("SELECT name FROM incidents WHERE id = $1")
                    .bind(incident_id)
                    .fetch_one(&mut *tx)
                    .await?;
                let stamp = stamper.update(&UpdateText {
                    update_id,
                    incident_id,
                    incident_name: &name,
                    status: draft.status.as_str(),
                    body: &draft.body,
                    custom_tweet: draft.custom_tweet.as_deref(),
                });
                sqlx::query("UPDATE incident_updates SET stamp = $1 WHERE id = $2")
                    .bind(stamp)
                    .bind(update_id)
                    .execute(&mut *tx)
                    .await?;
            }

            for (component_id, new_status) in &changes {
                let old_status = current.get(component_id).copied().unwrap_or(ComponentStatus::Operational);
                sqlx::query(
                    "INSERT INTO update_components (update_id, component_id, old_status, new_status) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(update_id)
                .bind(component_id)
                .bind(old_status.as_str())
                .bind(new_status.as_str())
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE components SET status = $1, updated_at = $2 WHERE id = $3")
                    .bind(new_status.as_str())
                    .bind(now)
                    .bind(component_id)
                    .execute(&mut *tx)
                    .await?;
                stamp_component!(self, tx, component_id);
                // In the history at the update's display time; settled in case later rows
                // exist (a backdated update).
                log_status!(self, tx, *component_id, new_status.as_str(), display_at, Some(update_id));
                settle_status_log!(self, tx, *component_id);
            }

            // The outbox: the update's audience on every channel it goes out on is recorded
            // here as one fan-out row, written with the update so neither exists without the
            // other; the worker expands it into one delivery per recipient (`expand_fanout`).
            if let Some((first, rest)) = draft.channels.split_first() {
                sqlx::query(
                    "INSERT INTO fanouts (update_id, incident_id, created_at, channel, remaining, stamp) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(update_id)
                .bind(incident_id)
                .bind(now)
                .bind(*first)
                .bind(rest.join(","))
                .bind(self.stamper().map(|s| s.fanout(update_id, &draft.channels.join(","))))
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("UPDATE incident_updates SET channels = $1 WHERE id = $2")
                .bind(draft.channels.join(","))
                .bind(update_id)
                .execute(&mut *tx)
                .await?;

            let monitoring_at = match (monitoring_at, draft.status) {
                (None, IncidentStatus::Monitoring) => Some(display_at),
                (m, _) => m,
            };
            let resolved_at = draft.status.is_closed().then_some(display_at);
            sqlx::query(
                "UPDATE incidents SET status = $1, updated_at = $2, monitoring_at = $3, \
                 resolved_at = CASE WHEN $4 THEN COALESCE(resolved_at, $5) ELSE NULL END WHERE id = $6",
            )
            .bind(draft.status.as_str())
            .bind(now)
            .bind(monitoring_at)
            .bind(resolved_at.is_some())
            .bind(resolved_at)
            .bind(incident_id)
            .execute(&mut *tx)
            .await?;
            match &target {
                Target::Existing { also: Also::PublishPostmortem, .. } => {
                    sqlx::query(
                        "UPDATE incidents SET postmortem_published_at = COALESCE(postmortem_published_at, $1) \
                         WHERE id = $2 AND postmortem_body IS NOT NULL",
                    )
                    .bind(now)
                    .bind(incident_id)
                    .execute(&mut *tx)
                    .await?;
                }
                Target::Existing { also: Also::Cancel, .. } => {
                    // The calendar feed's event changes: its sequence is raised with it.
                    sqlx::query(
                        "UPDATE incidents SET cancelled_at = $1, schedule_sequence = schedule_sequence + 1 \
                         WHERE id = $2 AND cancelled_at IS NULL",
                    )
                        .bind(now)
                        .bind(incident_id)
                        .execute(&mut *tx)
                        .await?;
                    // A reminder still being written out is moot.
                    sqlx::query("DELETE FROM fanouts WHERE incident_id = $1 AND channel = $2")
                        .bind(incident_id)
                        .bind(crate::channels::names::REMINDER)
                        .execute(&mut *tx)
                        .await?;
                }
                _ => {}
            }
            stamp_incident!(self, tx, incident_id);

            tx.commit().await?;
            Ok(Some(Published { incident_id, update_id }))
        })
    }
}

impl Store {
    /// The incident an update belongs to, with its whole timeline.
    pub async fn incident_of_update(&self, update_id: i64) -> StoreResult<Incident> {
        let incident_id: Option<i64> = on_pool!(self, read pool => sqlx::query_scalar(
            "SELECT incident_id FROM incident_updates WHERE id = $1",
        )
        .bind(update_id)
        .fetch_optional(pool)
        .await)?;
        self.incident(incident_id.ok_or(StoreError::NotFound("update"))?)
            .await
    }
}

impl Store {
    /// Whether an update still says what Herald stamped when it wrote it. Without a stamper
    /// (a store opened by a tool that sends nothing) every update passes.
    pub async fn update_stamp_ok(&self, update_id: i64) -> StoreResult<bool> {
        let Some(stamper) = self.stamper() else {
            return Ok(true);
        };
        #[allow(clippy::type_complexity)]
        let row: Option<(i64, String, String, String, Option<String>, Option<String>)> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT u.incident_id, i.name, u.status, u.body, u.custom_tweet, u.stamp \
             FROM incident_updates u JOIN incidents i ON i.id = u.incident_id WHERE u.id = $1",
        )
        .bind(update_id)
        .fetch_optional(pool)
        .await)?;
        Ok(
            row.is_some_and(|(incident_id, name, status, body, tweet, stamp)| {
                let expected = stamper.update(&UpdateText {
                    update_id,
                    incident_id,
                    incident_name: &name,
                    status: &status,
                    body: &body,
                    custom_tweet: tweet.as_deref(),
                });
                crate::security::stamp::Stamper::verify(&expected, stamp.as_deref())
            }),
        )
    }
}
