//! Transfer service level (R-05: 95 % of one-key transfers answered within 15 s), computed by a pure function
//! over transfer attempts so the counting rules are tested alone; the store only fetches the attempts in range.
//!
//! Rules:
//! - an attempt counts in the window of its `started_at_ms`, `from` inclusive, `to` exclusive;
//! - `answered` = outcome `answered`; `answered_within_target` = answered and [`TransferAttempt::answered_in_target`]
//!   (threshold inclusive: 15.0 s against a 15 s target is within; no target: any answer is within);
//! - `service_level` = `answered_within_target / attempts` (every attempt in the denominator, cancelled ones
//!   too); `null` when there were no attempts;
//! - `mean_ring_ms` = mean time to answer over the **answered** attempts (`answered_at_ms - started_at_ms`);
//!   `null` when none was answered. Unanswered attempts ring until a timeout or a cancel, which says nothing
//!   about how fast a department picks up;
//! - the department of an attempt is its `department`, else the number dialled ([`TransferAttempt::owner`]);
//!   departments are listed in byte order of their names.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::record::{TransferAttempt, TransferOutcome};

/// Attempts that did not connect, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Failures {
    pub no_answer: u64,
    pub busy: u64,
    pub rejected: u64,
    pub failed: u64,
    /// Given up before an answer (operator or caller); not the department's fault, but not answered either.
    pub cancelled: u64,
}

/// The figures for one set of attempts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferStats {
    pub attempts: u64,
    pub answered: u64,
    pub answered_within_target: u64,
    pub failures: Failures,
    pub service_level: Option<f64>,
    pub mean_ring_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepartmentStats {
    pub department: String,
    #[serde(flatten)]
    pub stats: TransferStats,
}

/// The answer of `GET /api/stats/transfers`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferReport {
    pub overall: TransferStats,
    pub departments: Vec<DepartmentStats>,
}

/// `[from, to)` over `started_at_ms`; a missing bound is open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

impl TimeRange {
    pub fn contains(&self, t_ms: i64) -> bool {
        self.from_ms.is_none_or(|f| t_ms >= f) && self.to_ms.is_none_or(|t| t_ms < t)
    }
}

#[derive(Debug, Clone, Default)]
struct Tally {
    attempts: u64,
    answered: u64,
    within: u64,
    failures: Failures,
    answered_ring_sum_ms: i128,
}

impl Tally {
    fn add(&mut self, a: &TransferAttempt) {
        self.attempts += 1;
        match a.outcome {
            TransferOutcome::Answered => {
                self.answered += 1;
                self.answered_ring_sum_ms += i128::from(a.ring_ms());
                if a.answered_in_target() {
                    self.within += 1;
                }
            }
            TransferOutcome::NoAnswer => self.failures.no_answer += 1,
            TransferOutcome::Busy => self.failures.busy += 1,
            TransferOutcome::Rejected { .. } => self.failures.rejected += 1,
            TransferOutcome::Failed { .. } => self.failures.failed += 1,
            TransferOutcome::Cancelled => self.failures.cancelled += 1,
        }
    }

    fn finish(&self) -> TransferStats {
        TransferStats {
            attempts: self.attempts,
            answered: self.answered,
            answered_within_target: self.within,
            failures: self.failures,
            service_level: (self.attempts > 0).then(|| self.within as f64 / self.attempts as f64),
            mean_ring_ms: (self.answered > 0)
                .then(|| self.answered_ring_sum_ms as f64 / self.answered as f64),
        }
    }
}

/// Adds attempts one at a time (the store streams them from the database).
#[derive(Debug, Clone, Default)]
pub struct TransferAggregator {
    range: TimeRange,
    overall: Tally,
    departments: BTreeMap<String, Tally>,
}

impl TransferAggregator {
    pub fn new(range: TimeRange) -> TransferAggregator {
        TransferAggregator {
            range,
            ..TransferAggregator::default()
        }
    }

    /// Count the attempt if it started in the range; others are ignored.
    pub fn add(&mut self, a: &TransferAttempt) {
        if !self.range.contains(a.started_at_ms) {
            return;
        }
        self.overall.add(a);
        let owner = a.owner();
        match self.departments.get_mut(owner) {
            Some(t) => t.add(a),
            None => self
                .departments
                .entry(owner.to_string())
                .or_default()
                .add(a),
        }
    }

    pub fn finish(&self) -> TransferReport {
        TransferReport {
            overall: self.overall.finish(),
            departments: self
                .departments
                .iter()
                .map(|(d, t)| DepartmentStats {
                    department: d.clone(),
                    stats: t.finish(),
                })
                .collect(),
        }
    }
}

/// The service-level figures of the attempts that started in `range`.
pub fn transfer_stats<'a>(
    attempts: impl IntoIterator<Item = &'a TransferAttempt>,
    range: TimeRange,
) -> TransferReport {
    let mut agg = TransferAggregator::new(range);
    for a in attempts {
        agg.add(a);
    }
    agg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(
        dep: Option<&str>,
        start: i64,
        ring_ms: i64,
        outcome: TransferOutcome,
    ) -> TransferAttempt {
        let answered = matches!(outcome, TransferOutcome::Answered);
        TransferAttempt {
            target: "8001".into(),
            department: dep.map(str::to_string),
            started_at_ms: start,
            answered_at_ms: answered.then_some(start + ring_ms),
            ended_at_ms: start + ring_ms + 30_000,
            outcome,
            answer_target_ms: Some(15_000),
            ended_by: None,
            kind: None,
        }
    }

    #[test]
    fn no_attempts_give_nulls_not_zero_division() {
        let r = transfer_stats([], TimeRange::default());
        assert_eq!(r.overall.attempts, 0);
        assert_eq!(r.overall.service_level, None);
        assert_eq!(r.overall.mean_ring_ms, None);
        assert!(r.departments.is_empty());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["overall"]["service_level"], serde_json::Value::Null);
    }

    #[test]
    fn the_threshold_is_inclusive_and_the_mean_is_over_answered_attempts() {
        use TransferOutcome::*;
        let a = [
            attempt(Some("water"), 0, 15_000, Answered),
            attempt(Some("water"), 0, 15_001, Answered),
            attempt(Some("water"), 0, 5_000, Busy),
            attempt(Some("water"), 0, 1_000, Cancelled),
        ];
        let r = transfer_stats(&a, TimeRange::default());
        let s = &r.overall;
        assert_eq!(
            (s.attempts, s.answered, s.answered_within_target),
            (4, 2, 1)
        );
        assert_eq!(s.service_level, Some(0.25));
        assert_eq!(s.mean_ring_ms, Some(15_000.5));
        assert_eq!(
            s.failures,
            Failures {
                busy: 1,
                cancelled: 1,
                ..Failures::default()
            }
        );
        // Only answered attempts: no mean ring time.
        let r = transfer_stats(&a[2..], TimeRange::default());
        assert_eq!(
            (r.overall.mean_ring_ms, r.overall.service_level),
            (None, Some(0.0))
        );
    }

    #[test]
    fn an_attempt_without_a_target_counts_any_answer_as_within() {
        let mut a = attempt(Some("water"), 0, 60_000, TransferOutcome::Answered);
        a.answer_target_ms = None;
        let r = transfer_stats([&a], TimeRange::default());
        assert_eq!(r.overall.answered_within_target, 1);
    }

    #[test]
    fn the_range_is_half_open_on_the_start_time() {
        use TransferOutcome::*;
        let a = [
            attempt(Some("a"), 999, 1_000, Answered),
            attempt(Some("a"), 1_000, 1_000, Answered),
            attempt(Some("a"), 1_999, 1_000, NoAnswer),
            attempt(Some("a"), 2_000, 1_000, Answered),
        ];
        let range = TimeRange {
            from_ms: Some(1_000),
            to_ms: Some(2_000),
        };
        let r = transfer_stats(&a, range);
        assert_eq!((r.overall.attempts, r.overall.answered), (2, 1));
        let r = transfer_stats(
            &a,
            TimeRange {
                from_ms: None,
                to_ms: Some(1_000),
            },
        );
        assert_eq!(r.overall.attempts, 1);
        let r = transfer_stats(
            &a,
            TimeRange {
                from_ms: Some(1_999),
                to_ms: None,
            },
        );
        assert_eq!(r.overall.attempts, 2);
    }

    #[test]
    fn departments_fall_back_to_the_target_and_are_sorted_and_flattened() {
        use TransferOutcome::*;
        let a = [
            attempt(Some("water"), 0, 4_000, Answered),
            attempt(None, 0, 2_000, Answered),
            attempt(Some("power"), 0, 0, Rejected { status: 603 }),
            attempt(Some("water"), 0, 0, Failed { status: 503 }),
            attempt(Some("water"), 0, 0, NoAnswer),
        ];
        let r = transfer_stats(&a, TimeRange::default());
        let names: Vec<_> = r
            .departments
            .iter()
            .map(|d| d.department.as_str())
            .collect();
        assert_eq!(names, ["8001", "power", "water"]);
        let water = &r.departments[2].stats;
        assert_eq!((water.attempts, water.answered), (3, 1));
        assert_eq!((water.failures.failed, water.failures.no_answer), (1, 1));
        assert_eq!(water.service_level, Some(1.0 / 3.0));
        assert_eq!(r.departments[1].stats.failures.rejected, 1);
        assert_eq!(r.overall.attempts, 5);
        assert_eq!(r.overall.mean_ring_ms, Some(3_000.0));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["departments"][2]["department"], "water");
        assert_eq!(json["departments"][2]["attempts"], 3);
        assert_eq!(json["departments"][2]["failures"]["no_answer"], 1);
    }
}
