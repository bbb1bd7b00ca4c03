//! The call-back list (回访, R-23) as a sans-IO scheduler: which call-back is due next given `now`, when calls
//! may be placed, and what an attempt's outcome does to the entry. The daemon dials; the store keeps the list.
//!
//! Rules:
//! - an entry is due from its `next_attempt_at`; it is placed at the first allowed instant at or after that
//!   and `now` ([`CallingHours`]: a working day by the calendar, inside the daily window, and inside working hours when
//!   `working_hours_only`);
//! - of the pending entries the one with the earliest placement goes first (ties: the one waiting longest, then
//!   the earlier deadline, then the id);
//! - answered, evaluated or refused end the entry (`done`, the caller was reached); no answer / busy schedules
//!   the next try after `retry_after_minutes[attempt]` (the last figure repeats), and after `max_attempts` tries
//!   the entry is `given_up`.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::deadline::ms_to_utc;
use crate::lifecycle::Evaluation;

/// Why a caller is on the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackKind {
    /// A closed ticket: the 100 % call-back and survey.
    ClosedTicket,
    /// A caller who hung up waiting.
    Abandoned,
    /// A caller who chose "leave your number" in the queue or off hours.
    LeaveNumber,
}

impl CallbackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackKind::ClosedTicket => "closed_ticket",
            CallbackKind::Abandoned => "abandoned",
            CallbackKind::LeaveNumber => "leave_number",
        }
    }

    pub fn parse(s: &str) -> Option<CallbackKind> {
        [
            CallbackKind::ClosedTicket,
            CallbackKind::Abandoned,
            CallbackKind::LeaveNumber,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// What one call-back attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "evaluation")]
pub enum CallbackOutcome {
    /// Reached, no survey answer (hung up during the prompt, or a ticketless call-back).
    Answered,
    /// Reached and rated.
    Evaluated(Evaluation),
    NoAnswer,
    Busy,
    /// Reached; the caller declined the call-back or the survey.
    Refused,
}

impl CallbackOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackOutcome::Answered => "answered",
            CallbackOutcome::Evaluated(_) => "evaluated",
            CallbackOutcome::NoAnswer => "no_answer",
            CallbackOutcome::Busy => "busy",
            CallbackOutcome::Refused => "refused",
        }
    }

    /// `evaluation` is the stored survey answer of an `evaluated` outcome.
    pub fn parse(s: &str, evaluation: Option<Evaluation>) -> Option<CallbackOutcome> {
        Some(match s {
            "answered" => CallbackOutcome::Answered,
            "evaluated" => CallbackOutcome::Evaluated(evaluation?),
            "no_answer" => CallbackOutcome::NoAnswer,
            "busy" => CallbackOutcome::Busy,
            "refused" => CallbackOutcome::Refused,
            _ => return None,
        })
    }

    /// The caller was reached: the call-back counts as done.
    pub fn reached(self) -> bool {
        matches!(
            self,
            CallbackOutcome::Answered | CallbackOutcome::Evaluated(_) | CallbackOutcome::Refused
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackState {
    Pending,
    /// Reached (answered, evaluated or refused).
    Done,
    /// Not reached after `max_attempts`.
    GivenUp,
}

impl CallbackState {
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackState::Pending => "pending",
            CallbackState::Done => "done",
            CallbackState::GivenUp => "given_up",
        }
    }

    pub fn parse(s: &str) -> Option<CallbackState> {
        [
            CallbackState::Pending,
            CallbackState::Done,
            CallbackState::GivenUp,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// `[callbacks]` in the daemon's TOML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbackPolicy {
    /// Daily window calls may be placed in, `HH:MM` local time, `[start, end)`.
    pub window_start: String,
    pub window_end: String,
    /// Only on working days by the holiday calendar (adjusted weekend working days count).
    pub working_days_only: bool,
    /// Also only inside the calendar's working hours.
    pub working_hours_only: bool,
    /// Tries before giving up.
    pub max_attempts: u32,
    /// Minutes before the next try after the 1st, 2nd, … unanswered one; the last figure repeats.
    pub retry_after_minutes: Vec<u32>,
    /// The same in seconds; when not empty it replaces `retry_after_minutes` (drills and tests, where a retry
    /// cannot wait half an hour).
    pub retry_after_seconds: Vec<u32>,
    /// Working days the call-back is due within (R-23 coverage counts against this).
    pub due_working_days: u32,
}

impl Default for CallbackPolicy {
    fn default() -> Self {
        CallbackPolicy {
            window_start: "09:00".into(),
            window_end: "20:00".into(),
            working_days_only: true,
            working_hours_only: false,
            max_attempts: 3,
            retry_after_minutes: vec![30, 120],
            retry_after_seconds: Vec::new(),
            due_working_days: 2,
        }
    }
}

impl CallbackPolicy {
    /// The window as times; the error names the field.
    pub fn window(&self) -> Result<(NaiveTime, NaiveTime), String> {
        let start = calendar::parse_time(&self.window_start)
            .map_err(|e| format!("callbacks.window_start: {e}"))?;
        let end = calendar::parse_time(&self.window_end)
            .map_err(|e| format!("callbacks.window_end: {e}"))?;
        if start >= end {
            return Err("callbacks.window_end: must be after window_start".into());
        }
        Ok((start, end))
    }

    pub fn validate(&self) -> Result<(), String> {
        self.window()?;
        if self.max_attempts == 0 {
            return Err("callbacks.max_attempts: must be at least 1".into());
        }
        if self.retry_after_minutes.is_empty() || self.retry_after_minutes.contains(&0) {
            return Err("callbacks.retry_after_minutes: at least one figure, none 0".into());
        }
        if self.retry_after_seconds.contains(&0) {
            return Err("callbacks.retry_after_seconds: none 0".into());
        }
        Ok(())
    }

    /// Delay before the try after `attempts` unanswered ones (1-based).
    pub fn retry_after(&self, attempts: u32) -> Duration {
        let i = (attempts.max(1) - 1) as usize;
        if let Some(s) = self
            .retry_after_seconds
            .get(i)
            .or(self.retry_after_seconds.last())
        {
            return Duration::seconds(i64::from(*s));
        }
        let m = self
            .retry_after_minutes
            .get(i)
            .or(self.retry_after_minutes.last())
            .copied()
            .unwrap_or(30);
        Duration::minutes(i64::from(m))
    }
}

/// When call-backs may be placed.
pub trait CallingHours: Send + Sync {
    /// The first allowed instant at or after `at`; `None` when there is none in the calendar's reach.
    fn next_allowed(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>>;

    fn is_allowed(&self, at: DateTime<Utc>) -> bool {
        self.next_allowed(at) == Some(at)
    }
}

/// [`CallingHours`] from the holiday calendar, its working hours and the policy's daily window.
#[derive(Debug, Clone)]
pub struct CallbackHours {
    pub schedule: calendar::Schedule,
    window: (NaiveTime, NaiveTime),
    working_days_only: bool,
    working_hours_only: bool,
}

impl CallbackHours {
    pub fn new(
        schedule: calendar::Schedule,
        policy: &CallbackPolicy,
    ) -> Result<CallbackHours, String> {
        Ok(CallbackHours {
            schedule,
            window: policy.window()?,
            working_days_only: policy.working_days_only,
            working_hours_only: policy.working_hours_only,
        })
    }

    /// The allowed periods of a day, local times, sorted.
    fn periods(&self) -> Vec<(NaiveTime, NaiveTime)> {
        let (ws, we) = self.window;
        if !self.working_hours_only {
            return vec![(ws, we)];
        }
        self.schedule
            .hours
            .periods()
            .iter()
            .filter_map(|&(s, e)| {
                let (s, e) = (s.max(ws), e.min(we));
                (s < e).then_some((s, e))
            })
            .collect()
    }
}

impl CallingHours for CallbackHours {
    fn next_allowed(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let tz = self.schedule.tz;
        let local = at.with_timezone(&tz).naive_local();
        let periods = self.periods();
        let mut day = local.date();
        // The longest holiday is a week; a year of days is far more than any calendar needs.
        for _ in 0..400 {
            if !self.working_days_only || self.schedule.calendar.is_working_day(day) {
                for &(s, e) in &periods {
                    let (start, end) = (day.and_time(s), day.and_time(e));
                    if local < end {
                        let t = local.max(start);
                        if let Some(u) = tz.from_local_datetime(&t).earliest() {
                            return Some(u.with_timezone(&Utc));
                        }
                    }
                }
            }
            day = day.succ_opt()?;
        }
        None
    }
}

/// A pending entry, as the scheduler needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCallback {
    pub id: String,
    pub next_attempt_at_ms: i64,
    pub due_at_ms: i64,
    pub attempts: u32,
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextCallback {
    /// Dial this one now.
    Call { id: String },
    /// Nothing before `at` (ask again then, or when the list changes).
    WaitUntil { at: DateTime<Utc>, id: String },
    /// Nothing pending (or nothing the calendar allows).
    Idle,
}

/// The next call-back given `now`.
pub fn next_callback(
    pending: &[PendingCallback],
    hours: &dyn CallingHours,
    now: DateTime<Utc>,
) -> NextCallback {
    let best = pending
        .iter()
        .filter_map(|p| {
            let from = ms_to_utc(p.next_attempt_at_ms).max(now);
            hours.next_allowed(from).map(|at| (at, p))
        })
        .min_by(|(a, p), (b, q)| {
            a.cmp(b)
                .then(p.next_attempt_at_ms.cmp(&q.next_attempt_at_ms))
                .then(p.due_at_ms.cmp(&q.due_at_ms))
                .then_with(|| p.id.cmp(&q.id))
        });
    match best {
        None => NextCallback::Idle,
        Some((at, p)) if at <= now => NextCallback::Call { id: p.id.clone() },
        // Later than `now`: nothing is due yet, or what is due waits for allowed hours.
        Some((at, p)) => NextCallback::WaitUntil {
            at,
            id: p.id.clone(),
        },
    }
}

/// An entry after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterAttempt {
    pub state: CallbackState,
    pub attempts: u32,
    pub next_attempt_at_ms: i64,
}

pub fn after_attempt(
    p: &PendingCallback,
    outcome: CallbackOutcome,
    policy: &CallbackPolicy,
    now: DateTime<Utc>,
) -> AfterAttempt {
    let attempts = p.attempts.saturating_add(1);
    let now_ms = now.timestamp_millis();
    if outcome.reached() {
        return AfterAttempt {
            state: CallbackState::Done,
            attempts,
            next_attempt_at_ms: now_ms,
        };
    }
    if attempts >= policy.max_attempts {
        return AfterAttempt {
            state: CallbackState::GivenUp,
            attempts,
            next_attempt_at_ms: now_ms,
        };
    }
    AfterAttempt {
        state: CallbackState::Pending,
        attempts,
        next_attempt_at_ms: (now + policy.retry_after(attempts)).timestamp_millis(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every hour of every day.
    struct Always;
    impl CallingHours for Always {
        fn next_allowed(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
            Some(at)
        }
    }

    fn p(id: &str, next: i64, due: i64) -> PendingCallback {
        PendingCallback {
            id: id.into(),
            next_attempt_at_ms: next,
            due_at_ms: due,
            attempts: 0,
        }
    }

    #[test]
    fn the_earliest_placement_goes_first_then_the_earlier_deadline() {
        let now = ms_to_utc(1_000);
        let list = [p("b", 500, 9_000), p("a", 500, 8_000), p("c", 100, 99_000)];
        assert_eq!(
            next_callback(&list, &Always, now),
            NextCallback::Call { id: "c".into() }
        );
        let list = [p("b", 500, 9_000), p("a", 500, 8_000)];
        assert_eq!(
            next_callback(&list, &Always, now),
            NextCallback::Call { id: "a".into() }
        );
        let later = [p("x", 5_000, 9_000)];
        assert_eq!(
            next_callback(&later, &Always, now),
            NextCallback::WaitUntil {
                at: ms_to_utc(5_000),
                id: "x".into()
            }
        );
        assert_eq!(next_callback(&[], &Always, now), NextCallback::Idle);
    }

    #[test]
    fn unanswered_tries_back_off_then_give_up_and_a_reached_caller_is_done() {
        let policy = CallbackPolicy {
            max_attempts: 3,
            retry_after_minutes: vec![10, 60],
            ..CallbackPolicy::default()
        };
        let now = ms_to_utc(0);
        let mut e = p("a", 0, 0);
        let a = after_attempt(&e, CallbackOutcome::NoAnswer, &policy, now);
        assert_eq!(
            (a.state, a.attempts, a.next_attempt_at_ms),
            (CallbackState::Pending, 1, 600_000)
        );
        e.attempts = 1;
        let a = after_attempt(&e, CallbackOutcome::Busy, &policy, now);
        assert_eq!(
            (a.state, a.next_attempt_at_ms),
            (CallbackState::Pending, 3_600_000)
        );
        e.attempts = 2;
        let a = after_attempt(&e, CallbackOutcome::NoAnswer, &policy, now);
        assert_eq!((a.state, a.attempts), (CallbackState::GivenUp, 3));
        for o in [
            CallbackOutcome::Answered,
            CallbackOutcome::Refused,
            CallbackOutcome::Evaluated(Evaluation::Basic),
        ] {
            assert_eq!(
                after_attempt(&e, o, &policy, now).state,
                CallbackState::Done
            );
        }
        assert_eq!(policy.retry_after(7), Duration::minutes(60));
        let quick = CallbackPolicy {
            retry_after_seconds: vec![2, 5],
            ..policy
        };
        assert_eq!(quick.retry_after(1), Duration::seconds(2));
        assert_eq!(quick.retry_after(9), Duration::seconds(5));
        assert!(CallbackPolicy {
            retry_after_seconds: vec![0],
            ..CallbackPolicy::default()
        }
        .validate()
        .unwrap_err()
        .contains("retry_after_seconds"));
    }

    #[test]
    fn policy_is_checked_and_unknown_fields_refused() {
        assert!(CallbackPolicy::default().validate().is_ok());
        let bad = CallbackPolicy {
            window_start: "20:00".into(),
            window_end: "09:00".into(),
            ..CallbackPolicy::default()
        };
        assert!(bad.validate().unwrap_err().contains("window_end"));
        let err = toml::from_str::<CallbackPolicy>("max_atempts = 2")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_atempts"), "{err}");
        let o: CallbackOutcome =
            serde_json::from_str(r#"{"outcome":"evaluated","evaluation":"satisfied"}"#).unwrap();
        assert_eq!(o, CallbackOutcome::Evaluated(Evaluation::Satisfied));
        assert_eq!(
            CallbackOutcome::parse("evaluated", Some(Evaluation::Basic)),
            Some(CallbackOutcome::Evaluated(Evaluation::Basic))
        );
        assert_eq!(CallbackOutcome::parse("evaluated", None), None);
    }
}
