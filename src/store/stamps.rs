//! Re-stamping: what `herald secrets rotate` does to every stamped row, and what the first start
//! of this version does once to the rows an earlier version wrote without stamps.

use super::{on_pool, Store, StoreResult};
use crate::security::audit::Chain;

/// The audit action that records the one-time adoption of unstamped rows.
pub const ADOPTED: &str = "stamps.adopt";

/// Within transaction `$tx`, gives every stamped row a stamp under `$new` when its stamp
/// verifies under `$old` (a rotation), or, with `$adopt`, when it has none at all (the first
/// start after an upgrade). Rows whose stamp fails stay as they are: never sent, never shown.
/// Evaluates to the number of rows stamped.
macro_rules! restamp {
    ($tx:expr, $old:expr, $new:expr, $adopt:expr) => {{
        let old: Option<&$crate::security::stamp::Stamper> = $old;
        let new: &$crate::security::stamp::Stamper = $new;
        let adopt: bool = $adopt;
        // Whether a row's stamp carries over: genuine under the old key, or adopted.
        let keep = |expected: Option<String>, stamp: Option<&str>| match stamp {
            None => adopt,
            Some(_) => expected.is_some_and(|e| $crate::security::stamp::Stamper::verify(&e, stamp)),
        };
        let mut stamped: u64 = 0;

        #[allow(clippy::type_complexity)]
        let updates: Vec<(i64, i64, String, String, String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT u.id, u.incident_id, i.name, u.status, u.body, u.custom_tweet, u.stamp \
             FROM incident_updates u JOIN incidents i ON i.id = u.incident_id",
        )
        .fetch_all(&mut *$tx)
        .await?;
        for (update_id, incident_id, name, status, body, tweet, stamp) in updates {
            let text = $crate::security::stamp::UpdateText {
                update_id,
                incident_id,
                incident_name: &name,
                status: &status,
                body: &body,
                custom_tweet: tweet.as_deref(),
            };
            if keep(old.map(|o| o.update(&text)), stamp.as_deref()) {
                sqlx::query("UPDATE incident_updates SET stamp = $1 WHERE id = $2")
                    .bind(new.update(&text))
                    .bind(update_id)
                    .execute(&mut *$tx)
                    .await?;
                stamped += 1;
            }
        }

        let alerts: Vec<(i64, String, String, Option<String>)> =
            sqlx::query_as("SELECT id, subject, body, stamp FROM alerts")
                .fetch_all(&mut *$tx)
                .await?;
        for (id, subject, body, stamp) in alerts {
            if keep(old.map(|o| o.alert(id, &subject, &body)), stamp.as_deref()) {
                sqlx::query("UPDATE alerts SET stamp = $1 WHERE id = $2")
                    .bind(new.alert(id, &subject, &body))
                    .bind(id)
                    .execute(&mut *$tx)
                    .await?;
                stamped += 1;
            }
        }

        // A maintenance's reminder is stamped over its own channel, not its update's.
        let fanouts: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
            "SELECT f.update_id, f.channel, CASE WHEN f.channel = 'reminder' THEN 'reminder' \
             ELSE COALESCE(u.channels, '') END, f.stamp FROM fanouts f \
             LEFT JOIN incident_updates u ON u.id = f.update_id",
        )
        .fetch_all(&mut *$tx)
        .await?;
        for (update_id, channel, channels, stamp) in fanouts {
            // Unstamped fan-outs are an upgrade's, stamped by `adopt_waiting_fanouts`.
            if stamp.is_none() {
                continue;
            }
            if keep(old.map(|o| o.fanout(update_id, &channels)), stamp.as_deref()) {
                sqlx::query("UPDATE fanouts SET stamp = $1 WHERE update_id = $2 AND channel = $3")
                    .bind(new.fanout(update_id, &channels))
                    .bind(update_id)
                    .bind(channel)
                    .execute(&mut *$tx)
                    .await?;
                stamped += 1;
            }
        }

        let breaches: Vec<(i64, i64, String, Option<String>)> =
            sqlx::query_as("SELECT id, update_id, started_by, stamp FROM breaches WHERE ended_at IS NULL")
                .fetch_all(&mut *$tx)
                .await?;
        for (id, update_id, by, stamp) in breaches {
            if keep(old.map(|o| o.breach(id, update_id, &by)), stamp.as_deref()) {
                sqlx::query("UPDATE breaches SET stamp = $1 WHERE id = $2")
                    .bind(new.breach(id, update_id, &by))
                    .bind(id)
                    .execute(&mut *$tx)
                    .await?;
                stamped += 1;
            }
        }

        #[allow(clippy::type_complexity)]
        let deliveries: Vec<(i64, Option<i64>, Option<i64>, String, i64, String, Option<String>)> = sqlx::query_as(
            "SELECT id, update_id, alert_id, channel, recipient_id, address, stamp FROM deliveries \
             WHERE state IN ('pending', 'sending', 'dead')",
        )
        .fetch_all(&mut *$tx)
        .await?;
        for (id, update_id, alert_id, channel, recipient_id, address, stamp) in deliveries {
            let text = $crate::security::stamp::DeliveryText {
                update_id,
                alert_id,
                channel: &channel,
                recipient_id,
                address: &address,
            };
            if keep(old.map(|o| o.delivery(&text)), stamp.as_deref()) {
                sqlx::query("UPDATE deliveries SET stamp = $1 WHERE id = $2")
                    .bind(new.delivery(&text))
                    .bind(id)
                    .execute(&mut *$tx)
                    .await?;
                stamped += 1;
            }
        }

        let components: Vec<$crate::store::rows::ComponentRow> =
            sqlx::query_as($crate::store::incidents::COMPONENT_COLUMNS)
                .fetch_all(&mut *$tx)
                .await?;
        for row in components {
            if keep(old.map(|o| o.component(&row.text())), row.stamp.as_deref()) {
                sqlx::query("UPDATE components SET stamp = $1 WHERE id = $2")
                    .bind(new.component(&row.text()))
                    .bind(row.id)
                    .execute(&mut *$tx)
                    .await?;
                stamped += 1;
            }
        }

        let history: Vec<$crate::store::uptime::LogRow> =
            sqlx::query_as($crate::store::uptime::LOG_COLUMNS)
                .fetch_all(&mut *$tx)
                .await?;
        for row in history {
            if keep(old.map(|o| o.status_log(&row.text())), row.stamp.as_deref()) {
                sqlx::query("UPDATE component_status_log SET stamp = $1 WHERE id = $2")
                    .bind(new.status_log(&row.text()))
                    .bind(row.id)
                    .execute(&mut *$tx)
                    .await?;
                stamped += 1;
            }
        }

        let incidents: Vec<$crate::store::rows::IncidentRow> =
            sqlx::query_as($crate::store::incidents::INCIDENT_COLUMNS)
                .fetch_all(&mut *$tx)
                .await?;
        for row in incidents {
            if keep(old.map(|o| o.incident(&row.text())), row.stamp.as_deref()) {
                sqlx::query("UPDATE incidents SET stamp = $1 WHERE id = $2")
                    .bind(new.incident(&row.text()))
                    .bind(row.id)
                    .execute(&mut *$tx)
                    .await?;
                stamped += 1;
            }
        }

        let branding: Option<$crate::store::branding::BrandingRow> =
            sqlx::query_as($crate::store::branding::BRANDING_COLUMNS)
                .fetch_optional(&mut *$tx)
                .await?;
        if let Some(row) = branding {
            if keep(old.map(|o| o.branding(&row.text())), row.stamp.as_deref()) {
                sqlx::query("UPDATE branding SET stamp = $1 WHERE id = 1")
                    .bind(new.branding(&row.text()))
                    .execute(&mut *$tx)
                    .await?;
                stamped += 1;
            }
        }

        #[allow(clippy::type_complexity)]
        let switch: (bool, String, Option<chrono::DateTime<chrono::Utc>>, String, String, i64, Option<String>) =
            sqlx::query_as(
                "SELECT paused, reason, changed_at, changed_by, tripped_rule, serial, stamp FROM outbound WHERE id = 1",
            )
            .fetch_one(&mut *$tx)
            .await?;
        let text = $crate::security::stamp::OutboundText {
            paused: switch.0,
            reason: &switch.1,
            changed_at_micros: switch.2.map_or(0, |t| t.timestamp_micros()),
            changed_by: &switch.3,
            tripped_rule: &switch.4,
            serial: switch.5,
        };
        if keep(old.map(|o| o.outbound(&text)), switch.6.as_deref()) {
            sqlx::query("UPDATE outbound SET stamp = $1 WHERE id = 1")
                .bind(new.outbound(&text))
                .execute(&mut *$tx)
                .await?;
            // The switch row is stamped on every first start; by itself it is no news.
            if text.serial > 0 {
                stamped += 1;
            }
        }
        stamped
    }};
}
pub(crate) use restamp;

/// Within transaction `$tx`, stamps component `$id` as it now stands; evaluates to its row.
macro_rules! stamp_component {
    ($store:expr, $tx:expr, $id:expr) => {{
        let mut row: $crate::store::rows::ComponentRow = sqlx::query_as(&format!(
            "{} WHERE id = $1",
            $crate::store::incidents::COMPONENT_COLUMNS
        ))
        .bind($id)
        .fetch_one(&mut *$tx)
        .await?;
        if let Some(stamper) = $store.stamper() {
            let stamp = stamper.component(&row.text());
            sqlx::query("UPDATE components SET stamp = $1 WHERE id = $2")
                .bind(&stamp)
                .bind($id)
                .execute(&mut *$tx)
                .await?;
            row.stamp = Some(stamp);
        }
        row
    }};
}
pub(crate) use stamp_component;

/// Within transaction `$tx`, stamps incident `$id` as it now stands.
macro_rules! stamp_incident {
    ($store:expr, $tx:expr, $id:expr) => {{
        if let Some(stamper) = $store.stamper() {
            let row: $crate::store::rows::IncidentRow = sqlx::query_as(&format!(
                "{} WHERE id = $1",
                $crate::store::incidents::INCIDENT_COLUMNS
            ))
            .bind($id)
            .fetch_one(&mut *$tx)
            .await?;
            sqlx::query("UPDATE incidents SET stamp = $1 WHERE id = $2")
                .bind(stamper.incident(&row.text()))
                .bind($id)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}
pub(crate) use stamp_incident;

impl Store {
    /// Records in the audit log that this start adopted rows an earlier version left unstamped.
    pub(super) async fn audit_adoption(
        &self,
        chain: &Chain,
        action: &str,
        detail: serde_json::Value,
    ) -> StoreResult<()> {
        self.append_audit(
            chain,
            super::AuditEvent {
                actor: "herald".into(),
                ip: String::new(),
                user_agent: format!("herald {}", env!("CARGO_PKG_VERSION")),
                action: action.into(),
                target: "database".into(),
                detail,
            },
        )
        .await?;
        Ok(())
    }

    /// Once per database, on the first start of a version that stamps more than the one before
    /// it: stamps the rows that version wrote without a stamp, and records it in the audit log.
    /// From then on a row without a stamp is one written around Herald. Returns how many rows
    /// were stamped, or `None` when this was done before (or there is no stamper).
    /// Stamps, once, the fan-outs that were waiting when this version's migration ran (an
    /// earlier version wrote them without stamps), and audits it as `fanouts.adopt`.
    pub async fn adopt_waiting_fanouts(&self, chain: &Chain) -> StoreResult<u64> {
        let Some(stamper) = self.stamper() else {
            return Ok(0);
        };
        // Read first: every start (and every CLI command) passes here, and nearly always there
        // is nothing to adopt, so no write lock is taken.
        let waiting: i64 = on_pool!(self, read pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM upgrade_adoptions WHERE what = 'fanouts'",
        )
        .fetch_one(pool)
        .await)?;
        if waiting == 0 {
            return Ok(0);
        }
        let adopted = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let marked = sqlx::query("DELETE FROM upgrade_adoptions WHERE what = 'fanouts'")
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let mut adopted = 0u64;
            if marked > 0 {
                // Channels as the upgrade found them: email, and X where the update had a post.
                let rows: Vec<(i64,)> = sqlx::query_as("SELECT update_id FROM fanouts WHERE stamp IS NULL")
                    .fetch_all(&mut *tx)
                    .await?;
                for (update_id,) in rows {
                    sqlx::query("UPDATE incident_updates SET channels = 'email' WHERE id = $1 AND channels = ''")
                        .bind(update_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("UPDATE fanouts SET stamp = $1 WHERE update_id = $2 AND stamp IS NULL")
                        .bind(stamper.fanout(update_id, "email"))
                        .bind(update_id)
                        .execute(&mut *tx)
                        .await?;
                    adopted += 1;
                }
            }
            tx.commit().await?;
            adopted
        });
        if adopted > 0 {
            self.audit_adoption(
                chain,
                "fanouts.adopt",
                serde_json::json!({ "fanouts": adopted }),
            )
            .await?;
        }
        Ok(adopted)
    }

    pub async fn adopt_unstamped(&self, chain: &Chain) -> StoreResult<Option<u64>> {
        let Some(stamper) = self.stamper() else {
            return Ok(None);
        };
        let stamped = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1")
                .bind(ADOPTED)
                .fetch_one(&mut *tx)
                .await?;
            if done > 0 {
                tx.commit().await?;
                return Ok(None);
            }
            let stamped = restamp!(tx, None, stamper, true);
            tx.commit().await?;
            stamped
        });
        self.audit_adoption(chain, ADOPTED, serde_json::json!({ "rows": stamped }))
            .await?;
        Ok(Some(stamped))
    }
}
