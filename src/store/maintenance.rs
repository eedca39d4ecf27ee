//! Scheduled maintenance moving along by itself: windows that start and end on their own.

use chrono::{DateTime, Utc};

use super::incidents::Target;
use super::{on_pool, Published, Store, StoreError, StoreResult};
use crate::domain::{Choice, IncidentStatus, UpdateDraft};

impl Store {
    /// Starts maintenances whose window has begun and completes those whose window has ended,
    /// each with an update dated at the scheduled time. Safe to run from several instances.
    pub async fn advance_maintenances(&self, now: DateTime<Utc>) -> StoreResult<Vec<Published>> {
        #[derive(sqlx::FromRow)]
        struct Due {
            id: i64,
            status: String,
            scheduled_for: DateTime<Utc>,
            scheduled_until: DateTime<Utc>,
            notify: bool,
        }
        let sql = "SELECT i.id, i.status, i.scheduled_for, i.scheduled_until, \
                   COALESCE((SELECT u.deliver_notifications FROM incident_updates u WHERE u.incident_id = i.id \
                             ORDER BY u.id LIMIT 1), FALSE) AS notify \
                   FROM incidents i WHERE i.kind = 'maintenance' \
                   AND ((i.status = 'scheduled' AND i.scheduled_for <= $1) \
                     OR (i.status IN ('scheduled', 'in_progress', 'verifying') AND i.scheduled_until <= $1)) \
                   ORDER BY i.scheduled_for";
        let due: Vec<Due> =
            on_pool!(self, read pool => sqlx::query_as(sql).bind(now).fetch_all(pool).await)?;
        let mut published = Vec::new();
        for m in due {
            let mut status = IncidentStatus::from_stored(&m.status).map_err(StoreError::Corrupt)?;
            if status == IncidentStatus::Scheduled {
                let start = UpdateDraft {
                    status: IncidentStatus::InProgress,
                    body: "Scheduled maintenance is currently in progress. We will provide updates as necessary."
                        .to_string(),
                    components: Vec::new(),
                    notify: m.notify,
                    channels: crate::domain::resolve_channels(m.notify, None, true).unwrap_or_default(),
                    custom_tweet: None,
                    display_at: Some(m.scheduled_for),
                };
                let target = Target::Existing {
                    id: m.id,
                    only_from: Some(&[IncidentStatus::Scheduled]),
                };
                if let Some(p) = self.publish(target, &start, "herald").await? {
                    published.push(p);
                    status = IncidentStatus::InProgress;
                }
            }
            if m.scheduled_until <= now && status != IncidentStatus::Scheduled {
                let end = UpdateDraft {
                    status: IncidentStatus::Completed,
                    body: "The scheduled maintenance has been completed.".to_string(),
                    components: Vec::new(),
                    notify: m.notify,
                    channels: crate::domain::resolve_channels(m.notify, None, true)
                        .unwrap_or_default(),
                    custom_tweet: None,
                    display_at: Some(m.scheduled_until),
                };
                let from = [IncidentStatus::InProgress, IncidentStatus::Verifying];
                let target = Target::Existing {
                    id: m.id,
                    only_from: Some(&from),
                };
                if let Some(p) = self.publish(target, &end, "herald").await? {
                    published.push(p);
                }
            }
        }
        Ok(published)
    }

    /// The next time a maintenance is due to start or end, if any.
    pub async fn next_maintenance_change(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let sql = "SELECT MIN(t) FROM ( \
                     SELECT scheduled_for AS t FROM incidents WHERE kind = 'maintenance' AND status = 'scheduled' \
                     UNION ALL \
                     SELECT scheduled_until AS t FROM incidents WHERE kind = 'maintenance' \
                       AND status IN ('scheduled', 'in_progress', 'verifying')) AS due";
        let next: Option<DateTime<Utc>> =
            on_pool!(self, read pool => sqlx::query_scalar(sql).fetch_one(pool).await)?;
        Ok(next)
    }
}
