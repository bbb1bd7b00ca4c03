//! Figures for decision makers, computed by a pure function over what the store fetched for a date
//! range, so the counting rules are tested alone. The KPI page and its CSV export read [`KpiReport`].
//!
//! Rules (range `[from, to)`, a missing bound open):
//! - **answer rate**: calls *started* in the range (every hour of the day: the line is a 24-hour one) that a
//!   seat answered / all of them;
//! - ticket figures count tickets *accepted* in the range. Tickets closed as **not accepted** (R-26) are left out
//!   of every figure below and counted apart, by reason (`not_accepted`);
//! - **on-time rate**: of those closed (closed, called back or evaluated), the share closed by their closing
//!   deadline (extensions included; a re-handled ticket's deadline counts from the re-handling). Open tickets
//!   past their deadline are counted as `overdue_open`;
//! - **re-open rate**: tickets sent back for re-handling at least once / tickets closed at least once; per
//!   department, the department that holds the ticket (re-handling keeps it);
//! - **satisfaction**: survey answers given in the range, the latest per ticket and survey (after the call; on
//!   the call-back), `(satisfied + basic) / rated`, where `not_evaluated` answers are counted but not rated;
//! - **call-back coverage**: call-backs added in the range, `done` (the caller reached) / all of them (`due`).
//!
//! A rate is `None` when its denominator is 0.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::callback::CallbackState;
use crate::lifecycle::{Evaluation, EvaluationSource, NotAcceptedReason};
use crate::model::Status;

/// A ticket as the KPIs need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpiTicket {
    pub id: String,
    pub department: String,
    pub status: Status,
    pub closed_at_ms: Option<i64>,
    /// The closing deadline (extensions and re-handling applied).
    pub close_due_ms: i64,
    pub reopened: u32,
    pub not_accepted: Option<NotAcceptedReason>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpiEvaluation {
    pub ticket_id: String,
    pub department: String,
    pub source: EvaluationSource,
    pub evaluation: Evaluation,
    pub at_ms: i64,
    /// Its ticket was closed as not accepted.
    pub not_accepted: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallCounts {
    pub offered: u64,
    pub answered: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct OnTime {
    pub closed: u64,
    pub on_time: u64,
    pub overdue_open: u64,
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Reopen {
    pub closed_ever: u64,
    pub reopened: u64,
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SatisfactionCounts {
    pub satisfied: u64,
    pub basic: u64,
    pub unsatisfied: u64,
    pub not_evaluated: u64,
    /// `(satisfied + basic) / (satisfied + basic + unsatisfied)`.
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Coverage {
    pub due: u64,
    pub done: u64,
    pub given_up: u64,
    pub pending: u64,
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NotAcceptedStats {
    pub total: u64,
    /// By reason name (`litigation`, …).
    pub by_reason: BTreeMap<String, u64>,
    /// Their after-call survey answers, apart from the others.
    pub satisfaction_after_call: SatisfactionCounts,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DepartmentKpi {
    pub department: String,
    pub tickets: u64,
    pub on_time: OnTime,
    pub reopen: Reopen,
    pub satisfaction_call_back: SatisfactionCounts,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KpiReport {
    pub calls: CallCounts,
    pub answer_rate: Option<f64>,
    /// Tickets accepted in the range, not-accepted ones excluded.
    pub tickets: u64,
    pub on_time: OnTime,
    pub reopen: Reopen,
    pub satisfaction_after_call: SatisfactionCounts,
    pub satisfaction_call_back: SatisfactionCounts,
    pub callback_coverage: Coverage,
    pub not_accepted: NotAcceptedStats,
    /// In byte order of the names.
    pub departments: Vec<DepartmentKpi>,
}

fn rate(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn is_closed(s: Status) -> bool {
    matches!(s, Status::Closed | Status::CalledBack | Status::Evaluated)
}

impl OnTime {
    fn add(&mut self, t: &KpiTicket, now_ms: i64) {
        if is_closed(t.status) {
            self.closed += 1;
            if t.closed_at_ms.is_some_and(|c| c <= t.close_due_ms) {
                self.on_time += 1;
            }
        } else if now_ms > t.close_due_ms {
            self.overdue_open += 1;
        }
        self.rate = rate(self.on_time, self.closed);
    }
}

impl Reopen {
    fn add(&mut self, t: &KpiTicket) {
        if is_closed(t.status) || t.reopened > 0 {
            self.closed_ever += 1;
        }
        if t.reopened > 0 {
            self.reopened += 1;
        }
        self.rate = rate(self.reopened, self.closed_ever);
    }
}

impl SatisfactionCounts {
    fn add(&mut self, e: Evaluation) {
        match e {
            Evaluation::Satisfied => self.satisfied += 1,
            Evaluation::Basic => self.basic += 1,
            Evaluation::Unsatisfied => self.unsatisfied += 1,
            Evaluation::NotEvaluated => self.not_evaluated += 1,
        }
        self.rate = rate(
            self.satisfied + self.basic,
            self.satisfied + self.basic + self.unsatisfied,
        );
    }
}

/// The report. `now_ms` decides which open tickets are overdue.
pub fn compute(
    calls: CallCounts,
    tickets: &[KpiTicket],
    evaluations: &[KpiEvaluation],
    callbacks: &[CallbackState],
    now_ms: i64,
) -> KpiReport {
    let mut r = KpiReport {
        calls,
        answer_rate: rate(calls.answered, calls.offered),
        ..KpiReport::default()
    };
    let mut depts: BTreeMap<&str, DepartmentKpi> = BTreeMap::new();
    for t in tickets {
        if let Some(reason) = t.not_accepted {
            r.not_accepted.total += 1;
            *r.not_accepted
                .by_reason
                .entry(reason.as_str().to_string())
                .or_default() += 1;
            continue;
        }
        r.tickets += 1;
        r.on_time.add(t, now_ms);
        r.reopen.add(t);
        let d = depts
            .entry(t.department.as_str())
            .or_insert_with(|| DepartmentKpi {
                department: t.department.clone(),
                ..DepartmentKpi::default()
            });
        d.tickets += 1;
        d.on_time.add(t, now_ms);
        d.reopen.add(t);
    }
    // The latest answer per ticket and survey.
    let mut latest: HashMap<(&str, EvaluationSource), &KpiEvaluation> = HashMap::new();
    for e in evaluations {
        let k = (e.ticket_id.as_str(), e.source);
        match latest.get(&k) {
            Some(prev) if prev.at_ms > e.at_ms => {}
            _ => {
                latest.insert(k, e);
            }
        }
    }
    let mut answers: Vec<&KpiEvaluation> = latest.into_values().collect();
    answers.sort_by(|a, b| (a.at_ms, &a.ticket_id).cmp(&(b.at_ms, &b.ticket_id)));
    for e in answers {
        if e.not_accepted {
            if e.source == EvaluationSource::AfterCall {
                r.not_accepted.satisfaction_after_call.add(e.evaluation);
            }
            continue;
        }
        match e.source {
            EvaluationSource::AfterCall => r.satisfaction_after_call.add(e.evaluation),
            EvaluationSource::CallBack => {
                r.satisfaction_call_back.add(e.evaluation);
                let d = depts
                    .entry(e.department.as_str())
                    .or_insert_with(|| DepartmentKpi {
                        department: e.department.clone(),
                        ..DepartmentKpi::default()
                    });
                d.satisfaction_call_back.add(e.evaluation);
            }
        }
    }
    let c = &mut r.callback_coverage;
    for s in callbacks {
        c.due += 1;
        match s {
            CallbackState::Done => c.done += 1,
            CallbackState::GivenUp => c.given_up += 1,
            CallbackState::Pending => c.pending += 1,
        }
    }
    c.rate = rate(c.done, c.due);
    r.departments = depts.into_values().collect();
    r
}

impl KpiReport {
    /// One line per department and one `*` line for all, for the CSV export.
    pub fn to_csv(&self) -> String {
        fn f(r: Option<f64>) -> String {
            r.map_or_else(String::new, |v| format!("{v:.4}"))
        }
        let mut out = String::from(
            "department,tickets,closed,on_time,on_time_rate,reopened,reopen_rate,rated_call_back,satisfaction_call_back\n",
        );
        let line = |d: &str, tickets: u64, o: &OnTime, re: &Reopen, s: &SatisfactionCounts| {
            // Department names are ours (config), but quote anyway.
            format!(
                "\"{}\",{tickets},{},{},{},{},{},{},{}\n",
                d.replace('"', "\"\""),
                o.closed,
                o.on_time,
                f(o.rate),
                re.reopened,
                f(re.rate),
                s.satisfied + s.basic + s.unsatisfied,
                f(s.rate)
            )
        };
        out += &line(
            "*",
            self.tickets,
            &self.on_time,
            &self.reopen,
            &self.satisfaction_call_back,
        );
        for d in &self.departments {
            out += &line(
                &d.department,
                d.tickets,
                &d.on_time,
                &d.reopen,
                &d.satisfaction_call_back,
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str, dept: &str, status: Status, closed: Option<i64>, due: i64) -> KpiTicket {
        KpiTicket {
            id: id.into(),
            department: dept.into(),
            status,
            closed_at_ms: closed,
            close_due_ms: due,
            reopened: 0,
            not_accepted: None,
        }
    }

    fn ev(id: &str, source: EvaluationSource, e: Evaluation, at: i64) -> KpiEvaluation {
        KpiEvaluation {
            ticket_id: id.into(),
            department: "water".into(),
            source,
            evaluation: e,
            at_ms: at,
            not_accepted: false,
        }
    }

    #[test]
    fn hand_counted_figures() {
        use EvaluationSource::*;
        let mut reopened = t("c", "power", Status::Closed, Some(50), 40);
        reopened.reopened = 1;
        let mut na = t("n", "center", Status::NotAccepted, Some(5), 100);
        na.not_accepted = Some(NotAcceptedReason::Litigation);
        let tickets = [
            t("a", "water", Status::Closed, Some(10), 100),
            t("b", "water", Status::Evaluated, Some(200), 100),
            reopened,
            t("d", "water", Status::Handling, None, 100),
            t("e", "power", Status::Signed, None, 10_000),
            na,
        ];
        let evaluations = [
            ev("a", CallBack, Evaluation::Unsatisfied, 1),
            // The later answer wins.
            ev("a", CallBack, Evaluation::Satisfied, 2),
            ev("b", CallBack, Evaluation::Basic, 3),
            ev("b", AfterCall, Evaluation::NotEvaluated, 3),
            ev("d", AfterCall, Evaluation::Unsatisfied, 4),
            KpiEvaluation {
                not_accepted: true,
                ..ev("n", AfterCall, Evaluation::Satisfied, 5)
            },
        ];
        let callbacks = [
            CallbackState::Done,
            CallbackState::Done,
            CallbackState::GivenUp,
            CallbackState::Pending,
        ];
        let r = compute(
            CallCounts {
                offered: 8,
                answered: 6,
            },
            &tickets,
            &evaluations,
            &callbacks,
            1_000,
        );
        assert_eq!(r.answer_rate, Some(0.75));
        assert_eq!(r.tickets, 5);
        // Closed: a (on time), b (late), c (late): 1 of 3; d is open and past due.
        assert_eq!(
            (r.on_time.closed, r.on_time.on_time, r.on_time.overdue_open),
            (3, 1, 1)
        );
        assert_eq!((r.reopen.closed_ever, r.reopen.reopened), (3, 1));
        assert_eq!(r.satisfaction_call_back.satisfied, 1);
        assert_eq!(r.satisfaction_call_back.basic, 1);
        assert_eq!(r.satisfaction_call_back.rate, Some(1.0));
        assert_eq!(
            (
                r.satisfaction_after_call.not_evaluated,
                r.satisfaction_after_call.unsatisfied
            ),
            (1, 1)
        );
        assert_eq!(r.satisfaction_after_call.rate, Some(0.0));
        assert_eq!(r.not_accepted.total, 1);
        assert_eq!(r.not_accepted.by_reason.get("litigation"), Some(&1));
        assert_eq!(r.not_accepted.satisfaction_after_call.satisfied, 1);
        assert_eq!((r.callback_coverage.due, r.callback_coverage.done), (4, 2));
        assert_eq!(r.callback_coverage.rate, Some(0.5));
        let names: Vec<&str> = r
            .departments
            .iter()
            .map(|d| d.department.as_str())
            .collect();
        assert_eq!(names, ["power", "water"]);
        assert_eq!(r.departments[0].reopen.rate, Some(1.0));
        assert_eq!(r.departments[1].on_time.rate, Some(0.5));
        let csv = r.to_csv();
        assert!(csv.starts_with("department,"), "{csv}");
        assert!(
            csv.contains("\"*\",5,3,1,0.3333,1,0.3333,2,1.0000\n"),
            "{csv}"
        );
    }

    #[test]
    fn nothing_in_range_gives_no_rates() {
        let r = compute(CallCounts::default(), &[], &[], &[], 0);
        assert_eq!(r.answer_rate, None);
        assert_eq!(r.on_time.rate, None);
        assert_eq!(r.callback_coverage.rate, None);
    }
}
