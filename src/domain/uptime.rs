//! Uptime arithmetic: how much of each UTC day a component, or a group of components, was up,
//! computed from its status history. Pure: the store reads the history, the renderer shows this.
//!
//! Time is taken to the minute: a status recorded at 10:04:40 holds from 10:04 (of two recorded
//! in the same minute, the later holds). A minute counts once the component has its first
//! recorded status and before the minute `now` falls in. Major outage counts as down, partial
//! outage as `PARTIAL_WEIGHT` down, every other status as up. A group's down fraction at each
//! minute is the mean of the down fractions of the members that existed then; its minutes of
//! major outage are those in which every such member was in major outage, its minutes of partial
//! outage those in which some member was down but not every one in major outage.

use chrono::{DateTime, Days, NaiveDate, Utc};

use super::ComponentStatus;

/// Days the page and `/api/uptime.json` cover, ending today.
pub const DAYS: u32 = 90;
/// How much of a minute of partial outage counts as down.
pub const PARTIAL_WEIGHT: f64 = 0.3;

const MINUTES_PER_DAY: i64 = 24 * 60;

/// One recorded status: the component took `status` at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Change {
    pub at: DateTime<Utc>,
    pub status: ComponentStatus,
}

/// How a stretch of time went, in minutes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// Minutes counted: the component (for a group, some member) existed, before now.
    pub counted: i64,
    /// Minutes of major outage.
    pub major: i64,
    /// Minutes of partial outage.
    pub partial: i64,
    /// Minutes down, weighted: `major + PARTIAL_WEIGHT × partial` for a component; for a group
    /// the sum over its minutes of the members' mean down fraction.
    pub down: f64,
}

impl Tally {
    /// 100 × (1 − down / counted); `None` when nothing was counted (no data).
    pub fn uptime_percent(&self) -> Option<f64> {
        (self.counted > 0).then(|| 100.0 * (1.0 - self.down / self.counted as f64))
    }

    fn add(&mut self, other: &Tally) {
        self.counted += other.counted;
        self.major += other.major;
        self.partial += other.partial;
        self.down += other.down;
    }
}

/// One UTC day's tally.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Day {
    pub date: NaiveDate,
    pub tally: Tally,
}

/// Uptime over a window of days: each day (oldest first) and the whole window.
#[derive(Debug, Clone, PartialEq)]
pub struct Uptime {
    pub days: Vec<Day>,
    pub total: Tally,
}

/// How much of a minute in `status` counts as down.
pub fn down_fraction(status: ComponentStatus) -> f64 {
    match status {
        ComponentStatus::MajorOutage => 1.0,
        ComponentStatus::PartialOutage => PARTIAL_WEIGHT,
        _ => 0.0,
    }
}

/// The `days` UTC dates ending with `now`'s, oldest first.
pub fn dates(now: DateTime<Utc>, days: u32) -> Vec<NaiveDate> {
    let today = now.date_naive();
    (0..days)
        .rev()
        .filter_map(|back| today.checked_sub_days(Days::new(back.into())))
        .collect()
}

/// Whether something open from `start` until `end` (`None`: still open) was open at some time
/// on `date` (UTC).
pub fn open_on(date: NaiveDate, start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> bool {
    let day_start = date.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let Some(day_start) = day_start else {
        return false;
    };
    let day_end = day_start + chrono::Duration::days(1);
    start < day_end && end.is_none_or(|end| end > day_start)
}

fn minute_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

/// A member's history as (minute, down fraction, major), one entry per minute, oldest first.
fn timeline(changes: &[Change]) -> Vec<(i64, f64, bool)> {
    let mut sorted = changes.to_vec();
    // Stable: changes recorded at the same instant keep their order, and the later holds.
    sorted.sort_by_key(|c| c.at);
    let mut out: Vec<(i64, f64, bool)> = Vec::with_capacity(sorted.len());
    for c in sorted {
        let entry = (
            minute_of(c.at),
            down_fraction(c.status),
            c.status == ComponentStatus::MajorOutage,
        );
        match out.last_mut() {
            Some(last) if last.0 == entry.0 => *last = entry,
            _ => out.push(entry),
        }
    }
    out
}

/// Uptime over the `days` UTC days ending with `now`'s, of one component (one member) or of a
/// group (several): each member given as its recorded changes, in the order they were recorded.
pub fn uptime(members: &[&[Change]], now: DateTime<Utc>, days: u32) -> Uptime {
    let dates = dates(now, days);
    let mut out = Uptime {
        days: dates
            .iter()
            .map(|&date| Day {
                date,
                tally: Tally::default(),
            })
            .collect(),
        total: Tally::default(),
    };
    let Some(first) = dates.first() else {
        return out;
    };
    let start = first
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| minute_of(t.and_utc()));
    let end = minute_of(now);
    let timelines: Vec<Vec<(i64, f64, bool)>> = members.iter().map(|m| timeline(m)).collect();

    // Every minute at which something may change: day boundaries and recorded changes.
    let mut marks: Vec<i64> = (0..=i64::from(days))
        .map(|d| start + d * MINUTES_PER_DAY)
        .chain(timelines.iter().flatten().map(|(m, _, _)| *m))
        .chain([end])
        .filter(|m| (start..=end).contains(m))
        .collect();
    marks.sort_unstable();
    marks.dedup();

    for span in marks.windows(2) {
        let (from, to) = (span[0], span[1]);
        let (mut existing, mut down, mut all_major) = (0usize, 0.0f64, true);
        for t in &timelines {
            // The status in force at `from`: the last change at or before it.
            let n = t.partition_point(|(m, _, _)| *m <= from);
            if n == 0 {
                continue;
            }
            let (_, fraction, major) = t[n - 1];
            existing += 1;
            down += fraction;
            all_major &= major;
        }
        if existing == 0 {
            continue;
        }
        let minutes = to - from;
        let day = ((from - start) / MINUTES_PER_DAY) as usize;
        let Some(d) = out.days.get_mut(day) else {
            continue;
        };
        let tally = &mut d.tally;
        tally.counted += minutes;
        tally.down += minutes as f64 * down / existing as f64;
        if all_major {
            tally.major += minutes;
        } else if down > 0.0 {
            tally.partial += minutes;
        }
    }
    for d in &mut out.days {
        // One component's weighted minutes, exactly as the rule states them.
        if members.len() == 1 {
            d.tally.down = d.tally.major as f64 + PARTIAL_WEIGHT * d.tally.partial as f64;
        }
        out.total.add(&d.tally);
    }
    out
}

/// An uptime percentage as the page shows it: two decimals, never rounded up (99.999 % shows
/// as 99.99 %, not 100.00 %).
pub fn percent_text(percent: f64) -> String {
    let hundredths = (percent * 100.0 + 1e-6).floor().clamp(0.0, 10_000.0);
    format!("{:.2}", hundredths / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use ComponentStatus::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn change(at: DateTime<Utc>, status: ComponentStatus) -> Change {
        Change { at, status }
    }

    /// The plain reference: every minute of the window, one by one.
    fn reference(members: &[&[Change]], now: DateTime<Utc>, days: u32) -> Vec<Tally> {
        let dates = dates(now, days);
        let end = minute_of(now);
        dates
            .iter()
            .map(|date| {
                let day_start = minute_of(date.and_hms_opt(0, 0, 0).unwrap().and_utc());
                let mut tally = Tally::default();
                for minute in day_start..(day_start + MINUTES_PER_DAY).min(end) {
                    // Each member's status in this minute: the last change recorded at or
                    // before it, in recording order.
                    let statuses: Vec<ComponentStatus> = members
                        .iter()
                        .filter_map(|m| {
                            // Ties within a minute: the latest instant, then the later recorded.
                            let mut last: Option<Change> = None;
                            for c in m.iter().filter(|c| minute_of(c.at) <= minute) {
                                if last.is_none_or(|l| c.at >= l.at) {
                                    last = Some(*c);
                                }
                            }
                            last.map(|c| c.status)
                        })
                        .collect();
                    if statuses.is_empty() {
                        continue;
                    }
                    tally.counted += 1;
                    let fractions: Vec<f64> = statuses.iter().map(|s| down_fraction(*s)).collect();
                    tally.down += fractions.iter().sum::<f64>() / statuses.len() as f64;
                    if statuses.iter().all(|s| *s == MajorOutage) {
                        tally.major += 1;
                    } else if fractions.iter().any(|f| *f > 0.0) {
                        tally.partial += 1;
                    }
                }
                tally
            })
            .collect()
    }

    fn assert_agrees(members: &[&[Change]], now: DateTime<Utc>, days: u32) {
        let fast = uptime(members, now, days);
        let slow = reference(members, now, days);
        assert_eq!(fast.days.len(), slow.len());
        let mut total = Tally::default();
        for (d, r) in fast.days.iter().zip(&slow) {
            assert_eq!(
                (d.tally.counted, d.tally.major, d.tally.partial),
                (r.counted, r.major, r.partial),
                "day {}",
                d.date
            );
            assert!(
                (d.tally.down - r.down).abs() < 1e-6,
                "day {}: {} vs {}",
                d.date,
                d.tally.down,
                r.down
            );
            if members.len() == 1 {
                let formula = r.major as f64 + 0.3 * r.partial as f64;
                assert!((d.tally.down - formula).abs() < 1e-9);
            }
            total.add(r);
        }
        assert_eq!(
            (fast.total.counted, fast.total.major, fast.total.partial),
            (total.counted, total.major, total.partial)
        );
        assert!((fast.total.down - total.down).abs() < 1e-6);
    }

    fn status() -> impl Strategy<Value = ComponentStatus> {
        prop_oneof![
            Just(Operational),
            Just(DegradedPerformance),
            Just(PartialOutage),
            Just(MajorOutage),
            Just(UnderMaintenance),
        ]
    }

    /// Moments the window ends at: just after midnight, month and year ends (28 Feb in a
    /// common year, 29 Feb in a leap year, 31 Dec), and an ordinary afternoon.
    fn now() -> impl Strategy<Value = DateTime<Utc>> {
        prop_oneof![
            Just(at(2027, 3, 1, 0, 7)),
            Just(at(2028, 3, 1, 13, 0)),
            Just(at(2028, 2, 29, 23, 59)),
            Just(at(2027, 1, 1, 0, 1)),
            Just(at(2026, 12, 31, 23, 30)),
            Just(at(2026, 12, 7, 16, 45)),
        ]
    }

    /// A history of a few changes at whole or odd seconds within (and before) the window:
    /// created before it or in the middle of it, each change landing anywhere, midnights
    /// included.
    fn history(days: u32) -> impl Strategy<Value = (i64, Vec<(i64, ComponentStatus)>)> {
        let span = i64::from(days + 2) * MINUTES_PER_DAY * 60;
        (
            0..span,
            prop::collection::vec(
                (
                    prop_oneof![0..span, (0..(days as i64 + 2)).prop_map(|d| d * 86_400)],
                    status(),
                ),
                0..12,
            ),
        )
    }

    fn build(
        now: DateTime<Utc>,
        days: u32,
        (created, rest): &(i64, Vec<(i64, ComponentStatus)>),
    ) -> Vec<Change> {
        // Offsets count back from now, in seconds.
        let back = |s: i64| now - chrono::Duration::seconds(s.min(i64::from(days + 2) * 86_400));
        let created_at = back(*created);
        let mut changes = vec![change(created_at, Operational)];
        for (offset, s) in rest {
            // Nothing before the component existed, nothing after now.
            let t = back(*offset).max(created_at);
            changes.push(change(t, *s));
        }
        changes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn one_component_agrees_with_the_minute_by_minute_reference(
            now in now(),
            days in 1u32..6,
            h in history(6),
        ) {
            let changes = build(now, days, &h);
            assert_agrees(&[&changes], now, days);
        }

        #[test]
        fn a_group_agrees_with_the_minute_by_minute_reference(
            now in now(),
            days in 1u32..5,
            members in prop::collection::vec(history(5), 1..4),
        ) {
            let built: Vec<Vec<Change>> = members.iter().map(|h| build(now, days, h)).collect();
            let refs: Vec<&[Change]> = built.iter().map(Vec::as_slice).collect();
            assert_agrees(&refs, now, days);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]

        #[test]
        fn ninety_days_agree_with_the_reference(now in now(), h in history(90)) {
            let changes = build(now, DAYS, &h);
            assert_agrees(&[&changes], now, DAYS);
        }
    }

    #[test]
    fn an_outage_across_midnight_counts_on_both_days() {
        let now = at(2026, 12, 3, 12, 0);
        let changes = [
            change(at(2026, 11, 1, 0, 0), Operational),
            change(at(2026, 12, 1, 23, 0), MajorOutage),
            change(at(2026, 12, 2, 1, 30), PartialOutage),
            change(at(2026, 12, 2, 2, 30), Operational),
        ];
        let u = uptime(&[&changes], now, 3);
        let days: Vec<(NaiveDate, i64, i64, i64)> = u
            .days
            .iter()
            .map(|d| (d.date, d.tally.counted, d.tally.major, d.tally.partial))
            .collect();
        let date = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        assert_eq!(
            days,
            [
                (date(1), 1440, 60, 0),
                (date(2), 1440, 90, 60),
                // Today counts up to now.
                (date(3), 720, 0, 0),
            ]
        );
        // 100 × (1 − (90 + 0.3 × 60) / 1440) = 92.5
        assert!((u.days[1].tally.uptime_percent().unwrap() - 92.5).abs() < 1e-9);
        assert_eq!(u.total.counted, 3600);
        // 100 × (1 − (150 + 0.3 × 60) / 3600)
        assert_eq!(percent_text(u.total.uptime_percent().unwrap()), "95.33");
    }

    #[test]
    fn days_before_a_component_existed_have_no_data() {
        let now = at(2027, 3, 1, 6, 0);
        // Created at 18:00 on 28 Feb: a quarter of that day counts, none of the day before.
        let changes = [
            change(at(2027, 2, 28, 18, 0), Operational),
            change(at(2027, 2, 28, 23, 0), DegradedPerformance),
            change(at(2027, 3, 1, 0, 0), UnderMaintenance),
        ];
        let u = uptime(&[&changes], now, 3);
        assert_eq!(u.days[0].tally.uptime_percent(), None);
        assert_eq!(
            u.days[1].date,
            NaiveDate::from_ymd_opt(2027, 2, 28).unwrap()
        );
        assert_eq!(u.days[1].tally.counted, 360);
        // Degraded and maintenance count as up.
        assert_eq!(u.days[1].tally.uptime_percent(), Some(100.0));
        assert_eq!(u.days[2].tally.counted, 360);
        assert_eq!(u.total.uptime_percent(), Some(100.0));
        assert_eq!(uptime(&[&[]], now, 3).total.uptime_percent(), None);
    }

    #[test]
    fn a_group_is_down_by_the_mean_of_its_members_and_major_only_when_all_are() {
        let now = at(2026, 12, 7, 0, 0);
        let day = |h| at(2026, 12, 6, h, 0);
        let api = [
            change(day(0), Operational),
            change(day(10), MajorOutage),
            change(day(12), Operational),
        ];
        let web = [
            change(day(0), Operational),
            change(day(11), MajorOutage),
            change(day(13), Operational),
        ];
        // Created at noon: before that the group is the other two only.
        let mail = [change(day(12), PartialOutage)];
        // Midnight: the day just ended is whole, the new one has nothing yet.
        let u = uptime(&[&api, &web, &mail], now, 2);
        assert_eq!(u.days[1].tally.uptime_percent(), None);
        let t = u.days[0].tally;
        assert_eq!(t.counted, 1440);
        // 10–11: one of two down (½); 11–12: both (1, major); 12–13: web down, mail partial
        // ((1 + 0.3) / 3); 13–24: mail partial (0.3 / 3).
        let expected = 60.0 * 0.5 + 60.0 + 60.0 * 1.3 / 3.0 + 660.0 * 0.1;
        assert!((t.down - expected).abs() < 1e-9, "{}", t.down);
        assert_eq!(t.major, 60);
        assert_eq!(t.partial, 60 + 60 + 660);
    }

    #[test]
    fn of_two_changes_in_one_minute_the_later_holds() {
        let now = at(2026, 12, 7, 1, 0);
        let t = at(2026, 12, 7, 0, 30);
        let changes = [
            change(at(2026, 12, 7, 0, 0), Operational),
            change(t + chrono::Duration::milliseconds(100), MajorOutage),
            change(t + chrono::Duration::milliseconds(900), Operational),
        ];
        let u = uptime(&[&changes], now, 1);
        assert_eq!(u.total.major, 0);
        assert_eq!(u.total.counted, 60);
    }

    #[test]
    fn an_incident_is_on_every_day_it_was_open() {
        let d = |day| NaiveDate::from_ymd_opt(2026, 12, day).unwrap();
        let start = at(2026, 12, 1, 23, 0);
        assert!(!open_on(d(1), at(2026, 12, 2, 0, 0), None));
        assert!(open_on(d(1), start, Some(at(2026, 12, 3, 0, 30))));
        assert!(open_on(d(2), start, Some(at(2026, 12, 3, 0, 30))));
        assert!(open_on(d(3), start, Some(at(2026, 12, 3, 0, 30))));
        assert!(!open_on(d(4), start, Some(at(2026, 12, 3, 0, 30))));
        assert!(open_on(d(9), start, None));
        // Resolved at the stroke of midnight: not open on the new day.
        assert!(!open_on(d(2), start, Some(at(2026, 12, 2, 0, 0))));
    }

    #[test]
    fn a_percentage_is_never_rounded_up() {
        assert_eq!(percent_text(99.999), "99.99");
        assert_eq!(percent_text(100.0), "100.00");
        assert_eq!(percent_text(99.95), "99.95");
        assert_eq!(percent_text(0.0), "0.00");
    }
}
