//! What a maintenance does on its own besides starting and ending: a reminder to subscribers
//! before it starts, notices at its automatic start and end, and whether the scheduler moves it
//! along at all (Statuspage's `scheduled_remind_prior`, `auto_transition_deliver_notifications_at_*`,
//! `scheduled_auto_in_progress` / `_completed`). Plus the window rules a reschedule shares with
//! scheduling.

use chrono::{DateTime, Duration, Utc};

use super::{FieldError, Problems};

/// The longest reminder lead accepted: 30 days, in minutes.
pub const MAX_REMIND_PRIOR_MINUTES: i64 = 30 * 24 * 60;

/// Longest maintenance window accepted (as when scheduling).
const MAX_WINDOW: Duration = Duration::days(31);

/// How far ahead a maintenance may be scheduled: a window years away is almost surely a typo.
pub const MAX_AHEAD_YEARS: i64 = 3;

/// When subscribers are reminded of a maintenance, as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RemindPrior {
    /// Not said: the page default when the maintenance notifies, else no reminder.
    #[default]
    Unset,
    /// `true`: the page default (`HERALD_REMIND_PRIOR_MINUTES`).
    PageDefault,
    /// `false` or 0: no reminder.
    Off,
    /// This many minutes before the start.
    Minutes(i64),
}

impl RemindPrior {
    const HELP: &'static str = "must be true, false or a number of minutes (0 to 43200)";

    /// From JSON: `true`, `false`, or a whole number of minutes (0 is off).
    pub fn from_json(field: &str, value: &serde_json::Value) -> Result<RemindPrior, FieldError> {
        match value {
            serde_json::Value::Null => Ok(RemindPrior::Unset),
            serde_json::Value::Bool(true) => Ok(RemindPrior::PageDefault),
            serde_json::Value::Bool(false) => Ok(RemindPrior::Off),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(|m| Self::minutes(field, m))
                .unwrap_or_else(|| Err(FieldError::new(field, Self::HELP))),
            serde_json::Value::String(s) => Self::from_form(field, s),
            _ => Err(FieldError::new(field, Self::HELP)),
        }
    }

    /// From a form field: empty (not said), `default`/`true`, `off`/`false`, or minutes.
    pub fn from_form(field: &str, raw: &str) -> Result<RemindPrior, FieldError> {
        match raw.trim() {
            "" => Ok(RemindPrior::Unset),
            "default" | "true" | "on" => Ok(RemindPrior::PageDefault),
            "off" | "false" => Ok(RemindPrior::Off),
            n => n
                .parse::<i64>()
                .map_err(|_| FieldError::new(field, Self::HELP))
                .and_then(|m| Self::minutes(field, m)),
        }
    }

    fn minutes(field: &str, m: i64) -> Result<RemindPrior, FieldError> {
        match m {
            0 => Ok(RemindPrior::Off),
            1..=MAX_REMIND_PRIOR_MINUTES => Ok(RemindPrior::Minutes(m)),
            _ => Err(FieldError::new(field, Self::HELP)),
        }
    }

    /// The minutes to store: `notify` is whether the maintenance tells subscribers at all,
    /// `page_default` the page's `HERALD_REMIND_PRIOR_MINUTES` (0: none).
    pub fn resolve(self, notify: bool, page_default: i64) -> Option<i64> {
        let default = (page_default > 0).then_some(page_default);
        match self {
            RemindPrior::Unset if notify => default,
            RemindPrior::Unset | RemindPrior::Off => None,
            RemindPrior::PageDefault => default,
            RemindPrior::Minutes(m) => Some(m),
        }
    }
}

/// How a maintenance moves along and whom it tells, as asked when it is scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceOptions {
    pub remind_prior: RemindPrior,
    /// The automatic start update goes out to subscribers.
    pub notify_at_start: bool,
    /// The automatic end update goes out to subscribers.
    pub notify_at_end: bool,
    /// The scheduler starts it at `scheduled_for`.
    pub auto_start: bool,
    /// The scheduler completes it at `scheduled_until`.
    pub auto_end: bool,
}

impl MaintenanceOptions {
    /// What a maintenance that notifies (or not) does when nothing else is said: reminded at
    /// the page default and told at start and end exactly when it notifies; moved by the
    /// scheduler.
    pub fn defaults(notify: bool) -> MaintenanceOptions {
        MaintenanceOptions {
            remind_prior: RemindPrior::Unset,
            notify_at_start: notify,
            notify_at_end: notify,
            auto_start: true,
            auto_end: true,
        }
    }
}

/// The rules every maintenance window follows: it ends after it starts, lasts at most 31
/// days, has not ended yet and starts at most [`MAX_AHEAD_YEARS`] ahead.
pub(crate) fn check_window(
    problems: &mut Problems,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) {
    if end <= start {
        problems.add("scheduled_until", "must be after scheduled_for");
    } else if end - start > MAX_WINDOW {
        problems.add(
            "scheduled_until",
            "a maintenance window may last at most 31 days",
        );
    }
    if end <= now {
        problems.add("scheduled_until", "must be in the future");
    }
    if start > now + Duration::days(366 * MAX_AHEAD_YEARS) {
        problems.add(
            "scheduled_for",
            format!("must be at most {MAX_AHEAD_YEARS} years ahead"),
        );
    }
}

/// A reschedule's new window, checked like a new one: both ends given or kept.
pub fn parse_window(
    scheduled_for: DateTime<Utc>,
    scheduled_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), super::Invalid> {
    let mut problems = Problems::default();
    check_window(&mut problems, scheduled_for, scheduled_until, now);
    problems.finish(Some((scheduled_for, scheduled_until)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn remind_prior_reads_booleans_and_minutes() {
        let f = "scheduled_remind_prior";
        assert_eq!(
            RemindPrior::from_json(f, &json!(true)),
            Ok(RemindPrior::PageDefault)
        );
        assert_eq!(
            RemindPrior::from_json(f, &json!(false)),
            Ok(RemindPrior::Off)
        );
        assert_eq!(RemindPrior::from_json(f, &json!(0)), Ok(RemindPrior::Off));
        assert_eq!(
            RemindPrior::from_json(f, &json!(15)),
            Ok(RemindPrior::Minutes(15))
        );
        for bad in [
            json!(-1),
            json!(1.5),
            json!(43201),
            json!("soon"),
            json!([1]),
        ] {
            assert!(RemindPrior::from_json(f, &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_unset_reminder_follows_notify() {
        assert_eq!(RemindPrior::Unset.resolve(true, 60), Some(60));
        assert_eq!(RemindPrior::Unset.resolve(false, 60), None);
        assert_eq!(RemindPrior::PageDefault.resolve(false, 60), Some(60));
        assert_eq!(RemindPrior::PageDefault.resolve(true, 0), None);
        assert_eq!(RemindPrior::Off.resolve(true, 60), None);
        assert_eq!(RemindPrior::Minutes(5).resolve(false, 60), Some(5));
    }
}
