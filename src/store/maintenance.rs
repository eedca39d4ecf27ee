//! Scheduled maintenance moving along by itself (windows that start and end on their own, the
//! reminder before the start), and the acts that change its plan: reschedule and cancel.

use chrono::{DateTime, Duration, Utc};

use super::incidents::{Also, Target};
use super::notify::channel;
use super::stamps::stamp_incident;
use super::{on_pool, Published, Store, StoreError, StoreResult};
use crate::domain::{self, Choice, IncidentStatus, MaintenanceOptions, UpdateDraft};

/// What a new maintenance stores besides its window: the reminder's minutes (resolved against
/// the page default) and the options asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub remind_prior_minutes: Option<i64>,
    pub options: MaintenanceOptions,
}

/// A maintenance's reminder that was due and is now queued (once, by one instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reminder {
    pub incident_id: i64,
    /// The maintenance's first update: the reminder is a message about it.
    pub update_id: i64,
}

/// What a reschedule may change; `None` keeps the stored value.
#[derive(Debug, Clone, Copy, Default)]
pub struct Replan {
    pub scheduled_for: Option<DateTime<Utc>>,
    pub scheduled_until: Option<DateTime<Utc>>,
    /// `Some(None)`: no reminder any more.
    pub remind_prior_minutes: Option<Option<i64>>,
    pub notify_at_start: Option<bool>,
    pub notify_at_end: Option<bool>,
}

/// A maintenance's plan before and after a reschedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rescheduled {
    pub status: IncidentStatus,
    pub old_window: (DateTime<Utc>, DateTime<Utc>),
    pub new_window: (DateTime<Utc>, DateTime<Utc>),
    pub old_remind_prior_minutes: Option<i64>,
    pub new_remind_prior_minutes: Option<i64>,
    /// The reminder is ahead again (it had gone out, and the start moved later).
    pub reminder_reset: bool,
}

#[derive(sqlx::FromRow)]
struct PlanRow {
    kind: String,
    status: String,
    scheduled_for: Option<DateTime<Utc>>,
    scheduled_until: Option<DateTime<Utc>>,
    remind_prior_minutes: Option<i64>,
    reminded_at: Option<DateTime<Utc>>,
    notify_at_start: bool,
    notify_at_end: bool,
    cancelled_at: Option<DateTime<Utc>>,
}

/// When a reminder falls due: `minutes` before the start.
fn reminder_due(scheduled_for: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
    scheduled_for - Duration::minutes(minutes)
}

impl Store {
    /// Starts maintenances whose window has begun and completes those whose window has ended,
    /// each with an update dated at the scheduled time, as their plan says (`auto_start`,
    /// `auto_end`, telling subscribers when `notify_at_start` / `notify_at_end`). Cancelled
    /// ones never move. Safe to run from several instances.
    pub async fn advance_maintenances(&self, now: DateTime<Utc>) -> StoreResult<Vec<Published>> {
        #[derive(sqlx::FromRow)]
        struct Due {
            id: i64,
            status: String,
            scheduled_for: DateTime<Utc>,
            scheduled_until: DateTime<Utc>,
            notify_at_start: bool,
            notify_at_end: bool,
            auto_start: bool,
            auto_end: bool,
        }
        let sql = "SELECT i.id, i.status, i.scheduled_for, i.scheduled_until, i.notify_at_start, \
                   i.notify_at_end, i.auto_start, i.auto_end \
                   FROM incidents i WHERE i.kind = 'maintenance' AND i.cancelled_at IS NULL \
                   AND ((i.status = 'scheduled' AND i.auto_start AND i.scheduled_for <= $1) \
                     OR (i.status IN ('in_progress', 'verifying') AND i.auto_end AND i.scheduled_until <= $1)) \
                   ORDER BY i.scheduled_for";
        let due: Vec<Due> =
            on_pool!(self, read pool => sqlx::query_as(sql).bind(now).fetch_all(pool).await)?;
        let mut published = Vec::new();
        for m in due {
            let mut status = IncidentStatus::from_stored(&m.status).map_err(StoreError::Corrupt)?;
            if status == IncidentStatus::Scheduled && m.auto_start {
                let notify = m.notify_at_start;
                let start = UpdateDraft {
                    status: IncidentStatus::InProgress,
                    body: "Scheduled maintenance is currently in progress. We will provide updates as necessary."
                        .to_string(),
                    components: Vec::new(),
                    notify,
                    channels: domain::resolve_channels(notify, None, true).unwrap_or_default(),
                    custom_tweet: None,
                    display_at: Some(m.scheduled_for),
                };
                let target = Target::Existing {
                    id: m.id,
                    only_from: Some(&[IncidentStatus::Scheduled]),
                    also: Also::Nothing,
                };
                if let Some(p) = self.publish(target, &start, "herald").await? {
                    published.push(p);
                    status = IncidentStatus::InProgress;
                }
            }
            if m.auto_end && m.scheduled_until <= now && status != IncidentStatus::Scheduled {
                let notify = m.notify_at_end;
                let end = UpdateDraft {
                    status: IncidentStatus::Completed,
                    body: "The scheduled maintenance has been completed.".to_string(),
                    components: Vec::new(),
                    notify,
                    channels: domain::resolve_channels(notify, None, true).unwrap_or_default(),
                    custom_tweet: None,
                    display_at: Some(m.scheduled_until),
                };
                let from = [IncidentStatus::InProgress, IncidentStatus::Verifying];
                let target = Target::Existing {
                    id: m.id,
                    only_from: Some(&from),
                    also: Also::Nothing,
                };
                if let Some(p) = self.publish(target, &end, "herald").await? {
                    published.push(p);
                }
            }
        }
        Ok(published)
    }

    /// Maintenances still scheduled whose reminder has not gone out, with when it falls due:
    /// `(incident id, due)`. A maintenance whose subscribers were told about it (announced or
    /// rescheduled with a notice) at or after its reminder's time needs no reminder: one
    /// announced five minutes before it starts is not "reminded" a second later.
    async fn reminders_ahead(&self) -> StoreResult<Vec<(i64, DateTime<Utc>)>> {
        #[allow(clippy::type_complexity)]
        let rows: Vec<(i64, DateTime<Utc>, i64, Option<DateTime<Utc>>)> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT i.id, i.scheduled_for, i.remind_prior_minutes, \
               (SELECT MAX(u.created_at) FROM incident_updates u \
                WHERE u.incident_id = i.id AND u.deliver_notifications) AS told_at \
             FROM incidents i \
             WHERE i.kind = 'maintenance' AND i.status = 'scheduled' AND i.cancelled_at IS NULL \
               AND i.reminded_at IS NULL AND i.remind_prior_minutes IS NOT NULL \
               AND i.scheduled_for IS NOT NULL",
        )
        .fetch_all(pool)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(id, start, minutes, told_at)| (id, reminder_due(start, minutes), told_at))
            .filter(|(_, due, told_at)| told_at.is_none_or(|told| told < *due))
            .map(|(id, due, _)| (id, due))
            .collect())
    }

    /// Queues the reminders that are due (`now` at or past the start less the reminder's
    /// minutes), each exactly once however many instances try: the maintenance is claimed by a
    /// conditional write of `reminded_at` in the transaction that queues its fan-out (the first
    /// update's, on the `reminder` channel), so a second instance finds it claimed and queues
    /// nothing.
    pub async fn queue_due_reminders(&self, now: DateTime<Utc>) -> StoreResult<Vec<Reminder>> {
        let due: Vec<i64> = self
            .reminders_ahead()
            .await?
            .into_iter()
            .filter(|(_, at)| *at <= now)
            .map(|(id, _)| id)
            .collect();
        let mut queued = Vec::new();
        for incident_id in due {
            let reminder: Option<Reminder> = on_pool!(self, write pool => {
                let mut tx = pool.begin().await?;
                let claimed = sqlx::query(
                    "UPDATE incidents SET reminded_at = $1 WHERE id = $2 AND reminded_at IS NULL \
                     AND status = 'scheduled' AND cancelled_at IS NULL",
                )
                .bind(now)
                .bind(incident_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let first: Option<i64> = if claimed == 1 {
                    sqlx::query_scalar("SELECT MIN(id) FROM incident_updates WHERE incident_id = $1")
                        .bind(incident_id)
                        .fetch_one(&mut *tx)
                        .await?
                } else {
                    None
                };
                if let Some(update_id) = first {
                    sqlx::query(
                        "INSERT INTO fanouts (update_id, incident_id, created_at, channel, remaining, stamp) \
                         VALUES ($1, $2, $3, $4, '', $5) ON CONFLICT DO NOTHING",
                    )
                    .bind(update_id)
                    .bind(incident_id)
                    .bind(now)
                    .bind(channel::REMINDER)
                    .bind(self.stamper().map(|s| s.fanout(update_id, channel::REMINDER)))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                first.map(|update_id| Reminder { incident_id, update_id })
            });
            queued.extend(reminder);
        }
        Ok(queued)
    }

    /// The next time a maintenance is due to start or end, or its reminder to go out, if any.
    pub async fn next_maintenance_change(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let sql = "SELECT MIN(t) FROM ( \
                     SELECT scheduled_for AS t FROM incidents WHERE kind = 'maintenance' AND status = 'scheduled' \
                       AND auto_start AND cancelled_at IS NULL \
                     UNION ALL \
                     SELECT scheduled_until AS t FROM incidents WHERE kind = 'maintenance' AND auto_end \
                       AND cancelled_at IS NULL \
                       AND (status IN ('in_progress', 'verifying') OR (status = 'scheduled' AND auto_start))) AS due";
        let next: Option<DateTime<Utc>> =
            on_pool!(self, read pool => sqlx::query_scalar(sql).fetch_one(pool).await)?;
        let reminder = self
            .reminders_ahead()
            .await?
            .into_iter()
            .map(|(_, at)| at)
            .min();
        Ok(next.into_iter().chain(reminder).min())
    }

    /// Moves a maintenance's window, and changes its reminder and notices, in one transaction:
    /// the start only while it is scheduled, the end until it completes. A start moved so that
    /// the reminder lies ahead again makes it go out again (the earlier one's deliveries are
    /// forgotten). A moved window raises the calendar feed's sequence. The incident is
    /// re-stamped.
    pub async fn reschedule_maintenance(
        &self,
        id: i64,
        replan: &Replan,
        now: DateTime<Utc>,
    ) -> StoreResult<Rescheduled> {
        let lock = if self.backend() == "postgres" {
            " FOR UPDATE"
        } else {
            ""
        };
        let read = format!(
            "SELECT kind, status, scheduled_for, scheduled_until, remind_prior_minutes, reminded_at, \
             notify_at_start, notify_at_end, cancelled_at FROM incidents WHERE id = $1{lock}"
        );
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let row: Option<PlanRow> = sqlx::query_as(&read).bind(id).fetch_optional(&mut *tx).await?;
            let checked = check_replan(row, replan, now);
            let (row, status, old_window, new_window, remind) = match checked {
                Ok(v) => v,
                Err(e) => {
                    tx.rollback().await?;
                    return Err(e);
                }
            };
            let start_moved = new_window.0 != old_window.0;
            let reminder_reset = row.reminded_at.is_some()
                && remind.is_some_and(|m| reminder_due(new_window.0, m) > now)
                && (start_moved || remind != row.remind_prior_minutes);
            let first: Option<i64> = sqlx::query_scalar("SELECT MIN(id) FROM incident_updates WHERE incident_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            if reminder_reset {
                if let Some(first) = first {
                    // Deliveries are unique per (update, channel, recipient): the new reminder
                    // can reach everyone only once the old one's rows are gone.
                    sqlx::query("DELETE FROM deliveries WHERE update_id = $1 AND channel = $2")
                        .bind(first)
                        .bind(channel::REMINDER)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM fanouts WHERE update_id = $1 AND channel = $2")
                        .bind(first)
                        .bind(channel::REMINDER)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            sqlx::query(
                "UPDATE incidents SET scheduled_for = $1, scheduled_until = $2, \
                 started_at = CASE WHEN status = 'scheduled' THEN $1 ELSE started_at END, \
                 remind_prior_minutes = $3, reminded_at = CASE WHEN $4 THEN NULL ELSE reminded_at END, \
                 notify_at_start = $5, notify_at_end = $6, updated_at = $7, \
                 schedule_sequence = schedule_sequence + CASE WHEN $9 THEN 1 ELSE 0 END WHERE id = $8",
            )
            .bind(new_window.0)
            .bind(new_window.1)
            .bind(remind)
            .bind(reminder_reset)
            .bind(replan.notify_at_start.unwrap_or(row.notify_at_start))
            .bind(replan.notify_at_end.unwrap_or(row.notify_at_end))
            .bind(now)
            .bind(id)
            .bind(new_window != old_window)
            .execute(&mut *tx)
            .await?;
            stamp_incident!(self, tx, id);
            tx.commit().await?;
            Ok(Rescheduled {
                status,
                old_window,
                new_window,
                old_remind_prior_minutes: row.remind_prior_minutes,
                new_remind_prior_minutes: remind,
                reminder_reset,
            })
        })
    }

    /// Calls a maintenance off before it completes: posts `draft` (status completed, so the
    /// components it holds recover as at its end) only if it is still scheduled or in
    /// progress, then marks it cancelled (raising the calendar feed's sequence) and re-stamps it.
    pub async fn cancel_maintenance(
        &self,
        id: i64,
        draft: &UpdateDraft,
        author: &str,
    ) -> StoreResult<Published> {
        let incident = self.incident(id).await.map_err(|e| match e {
            StoreError::NotFound(_) => StoreError::NotFound("maintenance"),
            other => other,
        })?;
        if incident.kind != domain::IncidentKind::Maintenance {
            return Err(StoreError::NotFound("maintenance"));
        }
        let open = [
            IncidentStatus::Scheduled,
            IncidentStatus::InProgress,
            IncidentStatus::Verifying,
        ];
        let target = Target::Existing {
            id,
            only_from: Some(&open),
            also: Also::Cancel,
        };
        let Some(published) = self.publish(target, draft, author).await? else {
            return Err(StoreError::Conflict(
                "this maintenance has already completed (or was cancelled)".into(),
            ));
        };
        Ok(published)
    }
}

type Checked = (
    PlanRow,
    IncidentStatus,
    (DateTime<Utc>, DateTime<Utc>),
    (DateTime<Utc>, DateTime<Utc>),
    Option<i64>,
);

/// Whether a maintenance may be rescheduled as asked, and its window after.
fn check_replan(row: Option<PlanRow>, replan: &Replan, now: DateTime<Utc>) -> StoreResult<Checked> {
    let row = row
        .filter(|r| r.kind == "maintenance")
        .ok_or(StoreError::NotFound("maintenance"))?;
    let status = IncidentStatus::from_stored(&row.status).map_err(StoreError::Corrupt)?;
    let (Some(old_for), Some(old_until)) = (row.scheduled_for, row.scheduled_until) else {
        return Err(StoreError::Corrupt(
            "a maintenance without its window".into(),
        ));
    };
    if row.cancelled_at.is_some() {
        return Err(StoreError::Conflict(
            "this maintenance was cancelled".into(),
        ));
    }
    if status == IncidentStatus::Completed {
        return Err(StoreError::Conflict(
            "this maintenance has completed".into(),
        ));
    }
    let new_for = replan.scheduled_for.unwrap_or(old_for);
    let new_until = replan.scheduled_until.unwrap_or(old_until);
    if status != IncidentStatus::Scheduled && new_for != old_for {
        return Err(StoreError::Conflict(
            "this maintenance has started: only its end (scheduled_until) can move".into(),
        ));
    }
    if new_for != old_for || new_until != old_until {
        domain::maintenance::parse_window(new_for, new_until, now)?;
    }
    let remind = replan
        .remind_prior_minutes
        .unwrap_or(row.remind_prior_minutes);
    Ok((
        row,
        status,
        (old_for, old_until),
        (new_for, new_until),
        remind,
    ))
}
