//! Deadlines in working days and the traffic light. Pure: `now` is always an argument.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::model::Category;

/// Working-time arithmetic. Implemented by `calendar::Schedule` (the one shared implementation of holidays and
/// adjusted working days); a trait so the pure code here can be tested with any calendar.
pub trait WorkingClock: Send + Sync + 'static {
    /// `n` working days after `from` (the calendar crate documents the exact rule).
    fn add_working_days(&self, from: DateTime<Utc>, n: u32) -> DateTime<Utc>;
    /// Working time between `a` and `b` (zero when `b <= a`).
    fn working_time_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration;
}

/// Working days allowed per stage and category. Defaults follow R-21 (sign 1, consultation 3, complaint 7);
/// the other categories are our choice until the center configures them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeadlineRules {
    pub sign_days: u32,
    pub consultation: u32,
    pub help: u32,
    pub complaint: u32,
    pub report: u32,
    pub suggestion: u32,
    pub praise: u32,
}

impl Default for DeadlineRules {
    fn default() -> Self {
        DeadlineRules {
            sign_days: 1,
            consultation: 3,
            help: 5,
            complaint: 7,
            report: 7,
            suggestion: 7,
            praise: 3,
        }
    }
}

impl DeadlineRules {
    pub fn close_days(&self, c: Category) -> u32 {
        match c {
            Category::Consultation => self.consultation,
            Category::Help => self.help,
            Category::Complaint => self.complaint,
            Category::Report => self.report,
            Category::Suggestion => self.suggestion,
            Category::Praise => self.praise,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Light {
    Green,
    Yellow,
    Red,
}

impl Light {
    pub fn as_str(self) -> &'static str {
        match self {
            Light::Green => "green",
            Light::Yellow => "yellow",
            Light::Red => "red",
        }
    }

    pub fn parse(s: &str) -> Option<Light> {
        [Light::Green, Light::Yellow, Light::Red]
            .into_iter()
            .find(|l| l.as_str() == s)
    }
}

/// The light of one deadline that runs from `start` to `due`, looked at `at`: red once `at` is past `due`,
/// yellow when less than `yellow_share` of the working time is left, green otherwise.
pub fn light_of(
    clock: &dyn WorkingClock,
    start: DateTime<Utc>,
    due: DateTime<Utc>,
    at: DateTime<Utc>,
    yellow_share: f64,
) -> Light {
    if at > due {
        return Light::Red;
    }
    let total = clock.working_time_between(start, due).num_milliseconds();
    let left = clock.working_time_between(at, due).num_milliseconds();
    if total > 0 && (left as f64) < yellow_share * total as f64 {
        Light::Yellow
    } else {
        Light::Green
    }
}

/// Timestamps (epoch ms) the deadlines are computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlineInput {
    pub category: Category,
    pub accepted_at_ms: i64,
    pub dispatched_at_ms: Option<i64>,
    pub signed_at_ms: Option<i64>,
    pub closed_at_ms: Option<i64>,
    /// Working days granted by approved extensions (延期): the closing deadline moves by as many.
    pub extension_days: u32,
    /// A re-handled ticket's closing deadline counts from its re-handling (重办), not its acceptance.
    pub restarted_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Sign within `sign_days` of the (last) dispatch; None until dispatched.
    pub sign_due: Option<DateTime<Utc>>,
    /// Close within the category's days of acceptance (or of the last re-handling), plus approved extensions.
    pub close_due: DateTime<Utc>,
    /// The worst light of the deadlines still running (or, once closed, whether it closed in time).
    pub light: Light,
}

pub fn ms_to_utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Compute both deadlines and the light at `now`.
pub fn deadlines(
    clock: &dyn WorkingClock,
    rules: &DeadlineRules,
    yellow_share: f64,
    t: DeadlineInput,
    now: DateTime<Utc>,
) -> Deadlines {
    let accepted = ms_to_utc(t.restarted_at_ms.unwrap_or(t.accepted_at_ms));
    let mut close_due = clock.add_working_days(accepted, rules.close_days(t.category));
    if t.extension_days > 0 {
        close_due = clock.add_working_days(close_due, t.extension_days);
    }
    let sign_due = t
        .dispatched_at_ms
        .map(|d| clock.add_working_days(ms_to_utc(d), rules.sign_days));
    // A closed ticket keeps the light it had when it closed: green = on time, red = late.
    let at = t.closed_at_ms.map(ms_to_utc).unwrap_or(now);
    let mut light = light_of(clock, accepted, close_due, at, yellow_share);
    if let (Some(due), Some(d), None) = (sign_due, t.dispatched_at_ms, t.signed_at_ms) {
        if t.closed_at_ms.is_none() {
            light = light.max(light_of(clock, ms_to_utc(d), due, at, yellow_share));
        }
    }
    Deadlines {
        sign_due,
        close_due,
        light,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every day is a working day, all day: makes the light arithmetic easy to check by hand.
    pub struct AllDays;
    impl WorkingClock for AllDays {
        fn add_working_days(&self, from: DateTime<Utc>, n: u32) -> DateTime<Utc> {
            from + Duration::days(n as i64)
        }
        fn working_time_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
            (b - a).max(Duration::zero())
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn light_turns_yellow_below_the_share_and_red_after_the_due_time() {
        let start = t("2026-01-01T00:00:00Z");
        let due = t("2026-01-11T00:00:00Z");
        assert_eq!(
            light_of(&AllDays, start, due, t("2026-01-02T00:00:00Z"), 0.2),
            Light::Green
        );
        // 2 of 10 days left = exactly the share: still green; less than that: yellow.
        assert_eq!(
            light_of(&AllDays, start, due, t("2026-01-09T00:00:00Z"), 0.2),
            Light::Green
        );
        assert_eq!(
            light_of(&AllDays, start, due, t("2026-01-09T00:00:01Z"), 0.2),
            Light::Yellow
        );
        assert_eq!(light_of(&AllDays, start, due, due, 0.2), Light::Yellow);
        assert_eq!(
            light_of(&AllDays, start, due, t("2026-01-11T00:00:01Z"), 0.2),
            Light::Red
        );
    }

    #[test]
    fn an_unsigned_dispatch_past_its_sign_deadline_is_red_even_if_closing_is_far() {
        let rules = DeadlineRules::default();
        let accepted = t("2026-03-02T01:00:00Z").timestamp_millis();
        let input = DeadlineInput {
            category: Category::Complaint,
            accepted_at_ms: accepted,
            dispatched_at_ms: Some(accepted),
            signed_at_ms: None,
            closed_at_ms: None,
            extension_days: 0,
            restarted_at_ms: None,
        };
        let d = deadlines(&AllDays, &rules, 0.2, input, t("2026-03-03T02:00:00Z"));
        assert_eq!(d.sign_due, Some(t("2026-03-03T01:00:00Z")));
        assert_eq!(d.close_due, t("2026-03-09T01:00:00Z"));
        assert_eq!(d.light, Light::Red);
        // Signed in time: only the closing deadline counts, and it is far.
        let signed = DeadlineInput {
            signed_at_ms: Some(accepted + 1000),
            ..input
        };
        let d = deadlines(&AllDays, &rules, 0.2, signed, t("2026-03-03T02:00:00Z"));
        assert_eq!(d.light, Light::Green);
    }

    #[test]
    fn a_closed_ticket_shows_whether_it_closed_in_time() {
        let rules = DeadlineRules::default();
        let accepted = t("2026-03-02T01:00:00Z");
        let input = DeadlineInput {
            category: Category::Consultation,
            accepted_at_ms: accepted.timestamp_millis(),
            dispatched_at_ms: None,
            signed_at_ms: None,
            closed_at_ms: Some((accepted + Duration::days(1)).timestamp_millis()),
            extension_days: 0,
            restarted_at_ms: None,
        };
        let much_later = t("2027-01-01T00:00:00Z");
        assert_eq!(
            deadlines(&AllDays, &rules, 0.2, input, much_later).light,
            Light::Green
        );
        let late = DeadlineInput {
            closed_at_ms: Some((accepted + Duration::days(4)).timestamp_millis()),
            ..input
        };
        assert_eq!(
            deadlines(&AllDays, &rules, 0.2, late, much_later).light,
            Light::Red
        );
    }
}
