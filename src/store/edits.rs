//! Changing and removing what was already published: renaming an incident, changing its impact
//! and components, editing or deleting an update, deleting an incident, and setting a
//! component's status outside any incident. Each is one transaction that re-stamps every row it
//! changes (and only rows that were genuine before), so the public pages keep showing them.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::incidents::held_by_others;
use super::rows::ComponentRow;
use super::stamps::{stamp_component, stamp_incident};
use super::uptime::{move_status_log, settle_status_log};
use super::{on_pool, Store, StoreError, StoreResult};
use crate::domain::{
    self, Choice, Component, ComponentStatus, FieldError, Impact, IncidentEdit, IncidentKind,
    IncidentStatus, Invalid, UpdateEdit,
};
use crate::security::stamp::{Stamper, UpdateText};

/// The fields of an incident an edit may change, as they stood before or after it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentFields {
    pub name: String,
    pub impact: Impact,
    pub component_ids: Vec<i64>,
}

/// What `edit_incident` did.
#[derive(Debug, Clone)]
pub struct IncidentEdited {
    pub kind: IncidentKind,
    pub before: IncidentFields,
    pub after: IncidentFields,
}

/// The fields of an update an edit may change.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateFields {
    pub body: String,
    pub display_at: DateTime<Utc>,
    pub custom_tweet: Option<String>,
}

/// What `edit_update` did.
#[derive(Debug, Clone)]
pub struct UpdateEdited {
    pub incident_id: i64,
    pub before: UpdateFields,
    pub after: UpdateFields,
}

/// An update as it was when it was deleted.
#[derive(Debug, Clone)]
pub struct DeletedUpdate {
    pub incident_id: i64,
    pub status: String,
    pub body: String,
    pub display_at: DateTime<Utc>,
    /// Deliveries of it that were still queued, and will never go out.
    pub cancelled: u64,
}

/// An incident as it was when it was deleted, and the components that recovered.
#[derive(Debug, Clone)]
pub struct DeletedIncident {
    pub kind: IncidentKind,
    pub name: String,
    /// Oldest first: (status, body, display time).
    pub updates: Vec<(String, String, DateTime<Utc>)>,
    /// (component id, status it was held in, status it went back to).
    pub recovered: Vec<(i64, ComponentStatus, ComponentStatus)>,
}

/// One update's stamped text, read to check and renew its stamp.
#[derive(sqlx::FromRow)]
struct StampedUpdate {
    id: i64,
    incident_id: i64,
    status: String,
    body: String,
    custom_tweet: Option<String>,
    stamp: Option<String>,
}

impl StampedUpdate {
    fn text<'a>(&'a self, incident_name: &'a str) -> UpdateText<'a> {
        UpdateText {
            update_id: self.id,
            incident_id: self.incident_id,
            incident_name,
            status: &self.status,
            body: &self.body,
            custom_tweet: self.custom_tweet.as_deref(),
        }
    }

    /// Whether Herald wrote it as it stands, under the incident name it had.
    fn genuine(&self, stamper: Option<&Stamper>, incident_name: &str) -> bool {
        stamper.is_none_or(|s| {
            Stamper::verify(&s.update(&self.text(incident_name)), self.stamp.as_deref())
        })
    }
}

const STAMPED_UPDATE: &str =
    "SELECT id, incident_id, status, body, custom_tweet, stamp FROM incident_updates";

/// Within transaction `$tx`: whether incident `$id` still carries Herald's stamp. An edit never
/// re-stamps a row written around Herald, which would make its words Herald's.
macro_rules! incident_is_genuine {
    ($store:expr, $tx:expr, $id:expr) => {{
        match $store.stamper() {
            None => true,
            Some(stamper) => {
                let row: $crate::store::rows::IncidentRow = sqlx::query_as(&format!(
                    "{} WHERE id = $1",
                    $crate::store::incidents::INCIDENT_COLUMNS
                ))
                .bind($id)
                .fetch_one(&mut *$tx)
                .await?;
                Stamper::verify(&stamper.incident(&row.text()), row.stamp.as_deref())
            }
        }
    }};
}

/// Refused: the incident was written or changed in the database directly.
fn written_around_herald() -> StoreError {
    StoreError::Conflict(
        "this incident was written or changed in the database directly, not by Herald, so it \
         is not edited; an admin can delete it"
            .into(),
    )
}

/// The incident's status, start, monitoring and resolution times, recomputed from the updates
/// it has now (after one was deleted or moved in time), within transaction `$tx`; then its stamp.
macro_rules! settle_incident {
    ($store:expr, $tx:expr, $id:expr) => {{
        let id: i64 = $id;
        let kind: String = sqlx::query_scalar("SELECT kind FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *$tx)
            .await?;
        let mut updates: Vec<(i64, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT id, status, display_at FROM incident_updates WHERE incident_id = $1",
        )
        .bind(id)
        .fetch_all(&mut *$tx)
        .await?;
        updates.sort_by(|a, b| a.2.cmp(&b.2).then(a.0.cmp(&b.0)));
        let settled = settle(&updates)?;
        if let Some(s) = settled {
            // A maintenance started when its window did, whatever its updates say.
            let started_at = if kind == IncidentKind::Incident.as_str() {
                Some(s.started_at)
            } else {
                None
            };
            sqlx::query(
                "UPDATE incidents SET status = $1, started_at = COALESCE($2, started_at), \
                 monitoring_at = $3, resolved_at = $4, updated_at = $5 WHERE id = $6",
            )
            .bind(s.status.as_str())
            .bind(started_at)
            .bind(s.monitoring_at)
            .bind(s.resolved_at)
            .bind(domain::now())
            .bind(id)
            .execute(&mut *$tx)
            .await?;
        }
        stamp_incident!($store, $tx, id);
    }};
}

/// Whether a component row carries Herald's stamp (every row does without a stamper).
fn component_genuine(stamper: Option<&Stamper>, row: &ComponentRow) -> bool {
    stamper.is_none_or(|s| Stamper::verify(&s.component(&row.text()), row.stamp.as_deref()))
}

/// An incident's state as its updates say: oldest update first.
struct Settled {
    status: IncidentStatus,
    started_at: DateTime<Utc>,
    monitoring_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
}

fn settle(updates: &[(i64, String, DateTime<Utc>)]) -> StoreResult<Option<Settled>> {
    let parsed: Vec<(IncidentStatus, DateTime<Utc>)> = updates
        .iter()
        .map(|(_, s, at)| {
            IncidentStatus::from_stored(s)
                .map(|s| (s, *at))
                .map_err(StoreError::Corrupt)
        })
        .collect::<StoreResult<_>>()?;
    let (Some(first), Some(newest)) = (parsed.first(), parsed.last()) else {
        return Ok(None);
    };
    // Resolved when the run of closing updates at the end of the timeline began.
    let resolved_at = newest.0.is_closed().then(|| {
        parsed
            .iter()
            .rev()
            .take_while(|(s, _)| s.is_closed())
            .last()
            .map_or(newest.1, |(_, at)| *at)
    });
    Ok(Some(Settled {
        status: newest.0,
        started_at: first.1,
        monitoring_at: parsed
            .iter()
            .find(|(s, _)| *s == IncidentStatus::Monitoring)
            .map(|(_, at)| *at),
        resolved_at,
    }))
}

impl Store {
    /// ` FOR UPDATE` on PostgreSQL: two edits of one incident take turns. SQLite has one writer.
    fn lock_clause(&self) -> &'static str {
        if self.backend() == "postgres" {
            " FOR UPDATE"
        } else {
            ""
        }
    }

    /// The incident an update belongs to.
    pub async fn incident_id_of_update(&self, update_id: i64) -> StoreResult<i64> {
        let id: Option<i64> = on_pool!(self, read pool => sqlx::query_scalar(
            "SELECT incident_id FROM incident_updates WHERE id = $1",
        )
        .bind(update_id)
        .fetch_optional(pool)
        .await)?;
        id.ok_or(StoreError::NotFound("update"))
    }

    /// Renames an incident, changes its impact or the set of components it affects; only the
    /// fields given change. A rename re-stamps the incident's updates too (their stamps cover
    /// its name), each only if it was genuine under the old name.
    pub async fn edit_incident(&self, id: i64, edit: &IncidentEdit) -> StoreResult<IncidentEdited> {
        let lock = format!(
            "SELECT kind, name, impact FROM incidents WHERE id = $1{}",
            self.lock_clause()
        );
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let result: StoreResult<IncidentEdited> = async {
                let row: Option<(String, String, String)> =
                    sqlx::query_as(&lock).bind(id).fetch_optional(&mut *tx).await?;
                let Some((kind, name, impact)) = row else {
                    return Err(StoreError::NotFound("incident"));
                };
                if !incident_is_genuine!(self, tx, id) {
                    return Err(written_around_herald());
                }
                let kind = IncidentKind::from_stored(&kind).map_err(StoreError::Corrupt)?;
                let impact = Impact::from_stored(&impact).map_err(StoreError::Corrupt)?;
                let linked: Vec<i64> = sqlx::query_scalar(
                    "SELECT component_id FROM incident_components WHERE incident_id = $1 ORDER BY component_id",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
                let before = IncidentFields { name, impact, component_ids: linked };

                let mut problems = Vec::new();
                if edit.impact.is_some() && kind == IncidentKind::Maintenance {
                    problems.push(FieldError::new("impact", "a maintenance's impact is always maintenance"));
                }
                if let Some(ids) = &edit.component_ids {
                    let known: BTreeSet<i64> = sqlx::query_scalar::<_, i64>("SELECT id FROM components")
                        .fetch_all(&mut *tx)
                        .await?
                        .into_iter()
                        .collect();
                    let unknown: Vec<String> =
                        ids.iter().filter(|c| !known.contains(c)).map(i64::to_string).collect();
                    if !unknown.is_empty() {
                        problems.push(FieldError::new(
                            "components",
                            format!("no such component: {}", unknown.join(", ")),
                        ));
                    }
                }
                if !problems.is_empty() {
                    return Err(Invalid(problems).into());
                }

                let after = IncidentFields {
                    name: edit.name.clone().unwrap_or_else(|| before.name.clone()),
                    impact: edit.impact.unwrap_or(before.impact),
                    component_ids: edit.component_ids.clone().unwrap_or_else(|| before.component_ids.clone()),
                };
                if after == before {
                    return Ok(IncidentEdited { kind, before, after });
                }
                // Which updates were genuine under the old name, read before it changes.
                let updates: Vec<StampedUpdate> =
                    sqlx::query_as(&format!("{STAMPED_UPDATE} WHERE incident_id = $1"))
                        .bind(id)
                        .fetch_all(&mut *tx)
                        .await?;
                sqlx::query("UPDATE incidents SET name = $1, impact = $2, updated_at = $3 WHERE id = $4")
                    .bind(&after.name)
                    .bind(after.impact.as_str())
                    .bind(domain::now())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if after.name != before.name {
                    if let Some(stamper) = self.stamper() {
                        for u in updates.iter().filter(|u| u.genuine(Some(stamper), &before.name)) {
                            sqlx::query("UPDATE incident_updates SET stamp = $1 WHERE id = $2")
                                .bind(stamper.update(&u.text(&after.name)))
                                .bind(u.id)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
                if after.component_ids != before.component_ids {
                    sqlx::query("DELETE FROM incident_components WHERE incident_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    for component_id in &after.component_ids {
                        sqlx::query("INSERT INTO incident_components (incident_id, component_id) VALUES ($1, $2)")
                            .bind(id)
                            .bind(component_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                stamp_incident!(self, tx, id);
                Ok(IncidentEdited { kind, before, after })
            }
            .await;
            match result {
                Ok(done) => {
                    tx.commit().await?;
                    Ok(done)
                }
                Err(e) => {
                    tx.rollback().await?;
                    Err(e)
                }
            }
        })
    }

    /// Changes a published update's text, display time or post text, marks it edited by
    /// `editor`, and re-stamps it. When its time moved, the incident's status and times follow
    /// its timeline again. An update not written by Herald is not edited (that would make its
    /// words Herald's): it can be deleted instead.
    pub async fn edit_update(
        &self,
        update_id: i64,
        edit: &UpdateEdit,
        editor: &str,
    ) -> StoreResult<UpdateEdited> {
        let incident_id = self.incident_id_of_update(update_id).await?;
        let lock = format!(
            "SELECT name FROM incidents WHERE id = $1{}",
            self.lock_clause()
        );
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let result: StoreResult<UpdateEdited> = async {
                let name: Option<String> = sqlx::query_scalar(&lock)
                    .bind(incident_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let name = name.ok_or(StoreError::NotFound("update"))?;
                if !incident_is_genuine!(self, tx, incident_id) {
                    return Err(written_around_herald());
                }
                let update: Option<StampedUpdate> =
                    sqlx::query_as(&format!("{STAMPED_UPDATE} WHERE id = $1 AND incident_id = $2"))
                        .bind(update_id)
                        .bind(incident_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let update = update.ok_or(StoreError::NotFound("update"))?;
                if !update.genuine(self.stamper(), &name) {
                    return Err(StoreError::Conflict(
                        "this update was written or changed in the database directly, not by \
                         Herald; delete it and post a new one instead"
                            .into(),
                    ));
                }
                let display_at: DateTime<Utc> =
                    sqlx::query_scalar("SELECT display_at FROM incident_updates WHERE id = $1")
                        .bind(update_id)
                        .fetch_one(&mut *tx)
                        .await?;
                let before = UpdateFields {
                    body: update.body.clone(),
                    display_at,
                    custom_tweet: update.custom_tweet.clone(),
                };
                let after = UpdateFields {
                    body: edit.body.clone().unwrap_or_else(|| before.body.clone()),
                    display_at: edit.display_at.unwrap_or(before.display_at),
                    custom_tweet: edit.custom_tweet.clone().unwrap_or_else(|| before.custom_tweet.clone()),
                };
                if after == before {
                    return Ok(UpdateEdited { incident_id, before, after });
                }
                let now = domain::now();
                sqlx::query(
                    "UPDATE incident_updates SET body = $1, display_at = $2, custom_tweet = $3, \
                     edited_at = $4, edited_by = $5, updated_at = $4 WHERE id = $6",
                )
                .bind(&after.body)
                .bind(after.display_at)
                .bind(&after.custom_tweet)
                .bind(now)
                .bind(editor)
                .bind(update_id)
                .execute(&mut *tx)
                .await?;
                if let Some(stamper) = self.stamper() {
                    let text = UpdateText {
                        body: &after.body,
                        custom_tweet: after.custom_tweet.as_deref(),
                        ..update.text(&name)
                    };
                    sqlx::query("UPDATE incident_updates SET stamp = $1 WHERE id = $2")
                        .bind(stamper.update(&text))
                        .bind(update_id)
                        .execute(&mut *tx)
                        .await?;
                }
                if after.display_at != before.display_at {
                    settle_incident!(self, tx, incident_id);
                    move_status_log!(self, tx, update_id, after.display_at);
                } else {
                    sqlx::query("UPDATE incidents SET updated_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(incident_id)
                        .execute(&mut *tx)
                        .await?;
                }
                Ok(UpdateEdited { incident_id, before, after })
            }
            .await;
            match result {
                Ok(done) => {
                    tx.commit().await?;
                    Ok(done)
                }
                Err(e) => {
                    tx.rollback().await?;
                    Err(e)
                }
            }
        })
    }

    /// Deletes an update that is not its incident's only one; what it still had queued is
    /// cancelled, and the incident's status and times follow the updates that remain.
    pub async fn delete_update(&self, update_id: i64) -> StoreResult<DeletedUpdate> {
        let incident_id = self.incident_id_of_update(update_id).await?;
        let lock = format!(
            "SELECT id FROM incidents WHERE id = $1{}",
            self.lock_clause()
        );
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let result: StoreResult<DeletedUpdate> = async {
                let found: Option<i64> =
                    sqlx::query_scalar(&lock).bind(incident_id).fetch_optional(&mut *tx).await?;
                found.ok_or(StoreError::NotFound("update"))?;
                if !incident_is_genuine!(self, tx, incident_id) {
                    return Err(written_around_herald());
                }
                let row: Option<(String, String, DateTime<Utc>)> = sqlx::query_as(
                    "SELECT status, body, display_at FROM incident_updates WHERE id = $1 AND incident_id = $2",
                )
                .bind(update_id)
                .bind(incident_id)
                .fetch_optional(&mut *tx)
                .await?;
                let (status, body, display_at) = row.ok_or(StoreError::NotFound("update"))?;
                let count: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM incident_updates WHERE incident_id = $1")
                        .bind(incident_id)
                        .fetch_one(&mut *tx)
                        .await?;
                if count <= 1 {
                    return Err(Invalid(vec![FieldError::new(
                        "update",
                        "is the incident's only update; delete the incident instead",
                    )])
                    .into());
                }
                let pinned: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM breaches WHERE update_id = $1 AND ended_at IS NULL",
                )
                .bind(update_id)
                .fetch_one(&mut *tx)
                .await?;
                if pinned > 0 {
                    return Err(StoreError::Conflict(
                        "this update is the statement of the breach under way; end breach mode first".into(),
                    ));
                }
                // Nothing queued for it goes out; the rows then leave with the update.
                let cancelled = sqlx::query(
                    "UPDATE deliveries SET state = 'cancelled', claimed_until = NULL \
                     WHERE update_id = $1 AND state = 'pending'",
                )
                .bind(update_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                sqlx::query("DELETE FROM fanouts WHERE update_id = $1")
                    .bind(update_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM incident_updates WHERE id = $1")
                    .bind(update_id)
                    .execute(&mut *tx)
                    .await?;
                settle_incident!(self, tx, incident_id);
                Ok(DeletedUpdate { incident_id, status, body, display_at, cancelled })
            }
            .await;
            match result {
                Ok(done) => {
                    tx.commit().await?;
                    Ok(done)
                }
                Err(e) => {
                    tx.rollback().await?;
                    Err(e)
                }
            }
        })
    }

    /// Deletes an incident or maintenance with its updates and their deliveries. Components it
    /// held out of operation go back to what another open event holds them in, else to
    /// operational, as when it closes.
    pub async fn delete_incident(&self, id: i64) -> StoreResult<DeletedIncident> {
        let lock = format!(
            "SELECT kind, name, status FROM incidents WHERE id = $1{}",
            self.lock_clause()
        );
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let result: StoreResult<DeletedIncident> = async {
                let row: Option<(String, String, String)> =
                    sqlx::query_as(&lock).bind(id).fetch_optional(&mut *tx).await?;
                let Some((kind, name, status)) = row else {
                    return Err(StoreError::NotFound("incident"));
                };
                let kind = IncidentKind::from_stored(&kind).map_err(StoreError::Corrupt)?;
                let status = IncidentStatus::from_stored(&status).map_err(StoreError::Corrupt)?;
                let pinned: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM breaches b JOIN incident_updates u ON u.id = b.update_id \
                     WHERE u.incident_id = $1 AND b.ended_at IS NULL",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                if pinned > 0 {
                    return Err(StoreError::Conflict(
                        "this incident holds the statement of the breach under way; end breach mode first".into(),
                    ));
                }
                let mut updates: Vec<(i64, String, String, DateTime<Utc>)> = sqlx::query_as(
                    "SELECT id, status, body, display_at FROM incident_updates WHERE incident_id = $1",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
                updates.sort_by(|a, b| a.3.cmp(&b.3).then(a.0.cmp(&b.0)));

                // Components it holds (while open) and that are out of operation now.
                let mut holding: Vec<(i64, ComponentStatus)> = Vec::new();
                if !status.is_closed() && status != IncidentStatus::Scheduled {
                    let rows: Vec<ComponentRow> = sqlx::query_as(&format!(
                        "{} WHERE id IN (SELECT component_id FROM incident_components WHERE incident_id = $1)",
                        super::incidents::COMPONENT_COLUMNS
                    ))
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await?;
                    // One changed in the database keeps its status: re-stamping it would make it genuine.
                    for c in rows.into_iter().filter(|c| component_genuine(self.stamper(), c)) {
                        let s = ComponentStatus::from_stored(&c.status).map_err(StoreError::Corrupt)?;
                        if s != ComponentStatus::Operational {
                            holding.push((c.id, s));
                        }
                    }
                }
                // What other open events hold them in: the status they last gave, or as they are.
                let held = if holding.is_empty() {
                    HashMap::new()
                } else {
                    held_by_others!(tx, id)
                };

                sqlx::query(
                    "UPDATE deliveries SET state = 'cancelled', claimed_until = NULL \
                     WHERE state = 'pending' AND update_id IN (SELECT id FROM incident_updates WHERE incident_id = $1)",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM incidents WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;

                let now = domain::now();
                let mut recovered = Vec::new();
                for (component_id, old) in holding {
                    let new = match held.get(&component_id) {
                        None => ComponentStatus::Operational,
                        Some(by_other) => by_other.unwrap_or(old),
                    };
                    if new == old {
                        continue;
                    }
                    sqlx::query("UPDATE components SET status = $1, updated_at = $2 WHERE id = $3")
                        .bind(new.as_str())
                        .bind(now)
                        .bind(component_id)
                        .execute(&mut *tx)
                        .await?;
                    stamp_component!(self, tx, component_id);
                    settle_status_log!(self, tx, component_id);
                    recovered.push((component_id, old, new));
                }
                Ok(DeletedIncident {
                    kind,
                    name,
                    updates: updates.into_iter().map(|(_, s, b, at)| (s, b, at)).collect(),
                    recovered,
                })
            }
            .await;
            match result {
                Ok(done) => {
                    tx.commit().await?;
                    Ok(done)
                }
                Err(e) => {
                    tx.rollback().await?;
                    Err(e)
                }
            }
        })
    }

    /// Sets a component's status directly, outside any incident. Returns its status before.
    pub async fn set_component_status(
        &self,
        id: i64,
        status: ComponentStatus,
    ) -> StoreResult<(ComponentStatus, Component)> {
        let lock = format!(
            "{} WHERE id = $1{}",
            super::incidents::COMPONENT_COLUMNS,
            self.lock_clause()
        );
        let (old, row) = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let current: Option<ComponentRow> = sqlx::query_as(&lock).bind(id).fetch_optional(&mut *tx).await?;
            let Some(current) = current else {
                tx.rollback().await?;
                return Err(StoreError::NotFound("component"));
            };
            if !component_genuine(self.stamper(), &current) {
                tx.rollback().await?;
                return Err(StoreError::Conflict(
                    "this component was written or changed in the database directly, not by \
                     Herald, so its status is not set; delete it and add it again"
                        .into(),
                ));
            }
            let old = current.status;
            sqlx::query("UPDATE components SET status = $1, updated_at = $2 WHERE id = $3")
                .bind(status.as_str())
                .bind(domain::now())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let row = stamp_component!(self, tx, id);
            settle_status_log!(self, tx, id);
            tx.commit().await?;
            (old, row)
        });
        let old = ComponentStatus::from_stored(&old).map_err(StoreError::Corrupt)?;
        Ok((old, row.into_component(self.stamper())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 30, 6, minute, 0).unwrap()
    }

    #[test]
    fn an_incident_settles_on_its_newest_update() {
        let updates = vec![
            (1, "investigating".to_string(), at(0)),
            (2, "monitoring".to_string(), at(10)),
            (3, "resolved".to_string(), at(20)),
            (4, "resolved".to_string(), at(30)),
        ];
        let s = settle(&updates).unwrap().unwrap();
        assert_eq!(s.status, IncidentStatus::Resolved);
        assert_eq!(s.started_at, at(0));
        assert_eq!(s.monitoring_at, Some(at(10)));
        assert_eq!(
            s.resolved_at,
            Some(at(20)),
            "resolved when the closing run began"
        );
        let s = settle(&updates[..2]).unwrap().unwrap();
        assert_eq!(s.status, IncidentStatus::Monitoring);
        assert_eq!(s.resolved_at, None);
        assert!(settle(&[]).unwrap().is_none());
    }
}
