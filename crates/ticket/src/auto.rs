//! Automatic tickets from calls (issue item 5): decided by a pure function so the rules can be tested alone.

use crate::model::Category;
use crate::record::{CallRecord, EndReason, TransferAttempt, TransferOutcome};

/// Why a ticket was opened without a human filling it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoReason {
    /// A parallel number called off hours and answered by 12345: the department owes an answer.
    OffHours,
    /// A one-key transfer the department did not take: one per failed attempt (no answer, busy,
    /// rejected, failed), or the record's `transfer_unanswered` when no attempt covers it.
    TransferUnanswered,
    /// The caller hung up while waiting: the center must call back (2025 national guidance, R-23).
    Abandoned,
    /// The queue's maximum wait ended the call with a promise to call back ("leave your number", R-23).
    Callback,
}

impl AutoReason {
    pub fn source(self) -> &'static str {
        match self {
            AutoReason::OffHours => "auto_off_hours",
            AutoReason::TransferUnanswered => "auto_transfer_unanswered",
            AutoReason::Abandoned => "auto_abandoned",
            AutoReason::Callback => "auto_callback",
        }
    }
}

/// A ticket to open. `department: None` means the center's call-back department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    pub reason: AutoReason,
    pub category: Category,
    pub department: Option<String>,
    pub caller: String,
    pub call_id: String,
    pub accepted_at_ms: i64,
    pub text: String,
}

/// Which tickets a finished call opens; the order is stable: off hours, failed transfers, abandoned.
///
/// Transfers: one ticket per attempt in `rec.transfers` that ended `no_answer`, `busy`, `rejected` or `failed`
/// (not `answered`, not `cancelled`), for the attempt's department (else its target), in attempt order. The
/// older `transfer_unanswered` field still opens one, unless a failed attempt already went to that department
/// (or target): the same failed transfer never opens two tickets.
pub fn tickets_for(rec: &CallRecord) -> Vec<NewTicket> {
    let mut out = Vec::new();
    let mut push = |reason, department: Option<String>, text: String| {
        out.push(NewTicket {
            reason,
            // The operator recategorizes once someone speaks to the caller; until then it is an enquiry.
            category: Category::Consultation,
            department,
            caller: rec.caller.clone(),
            call_id: rec.call_id.clone(),
            accepted_at_ms: rec.ended_at_ms,
            text,
        });
    };
    let dialled = rec.original_called.as_deref().unwrap_or(&rec.called);
    if rec.off_hours {
        if let Some(dep) = nonempty(rec.department.as_deref()) {
            push(
                AutoReason::OffHours,
                Some(dep.to_string()),
                format!("off-hours call to {dialled} answered by 12345"),
            );
        }
    }
    let failed: Vec<&TransferAttempt> = rec
        .transfers
        .iter()
        .filter(|a| a.outcome.is_failure() && !a.owner().is_empty())
        .collect();
    for a in &failed {
        push(
            AutoReason::TransferUnanswered,
            Some(a.owner().to_string()),
            attempt_text(a),
        );
    }
    if let Some(dep) = nonempty(rec.transfer_unanswered.as_deref()) {
        let covered = failed
            .iter()
            .any(|a| a.owner() == dep || a.target.trim() == dep);
        if !covered {
            push(
                AutoReason::TransferUnanswered,
                Some(dep.to_string()),
                format!("transfer to {dep} not answered in time"),
            );
        }
    }
    // A caller who hung up before reaching a human; prompt-only and refused calls are not missed requests.
    let never_answered = rec.answered_at_ms.is_none();
    if never_answered && matches!(rec.end_reason, EndReason::AbandonedInQueue) {
        push(
            AutoReason::Abandoned,
            None,
            format!(
                "caller hung up after waiting {} s; call back",
                rec.wait_ms / 1000
            ),
        );
    }
    if never_answered && rec.end_reason == EndReason::Callback {
        let queue = rec
            .queue_visits
            .last()
            .map(|v| format!(" in queue {}", v.queue))
            .unwrap_or_default();
        push(
            AutoReason::Callback,
            None,
            format!(
                "caller waited {} s{queue} past the maximum wait and was promised a call back",
                rec.wait_ms / 1000
            ),
        );
    }
    out
}

/// "transfer to 8001 (water) busy after 3.2 s of ringing (target 15 s); caller returned to the operator".
fn attempt_text(a: &TransferAttempt) -> String {
    let cause = match a.outcome {
        TransferOutcome::NoAnswer => "not answered".to_string(),
        TransferOutcome::Busy => "busy".to_string(),
        TransferOutcome::Rejected { status } => format!("rejected ({status})"),
        TransferOutcome::Failed { status } => format!("failed ({status})"),
        TransferOutcome::Answered => "answered".to_string(),
        TransferOutcome::Cancelled => "cancelled".to_string(),
    };
    let target = a.target.trim();
    let who = match nonempty(a.department.as_deref()) {
        Some(d) if d != target => format!("{target} ({d})"),
        _ => target.to_string(),
    };
    let secs = |ms: i64| format!("{:.1} s", ms as f64 / 1000.0);
    let goal = a
        .answer_target_ms
        .map(|t| format!(" (target {})", secs(t)))
        .unwrap_or_default();
    format!(
        "transfer to {who} {cause} after {} of ringing{goal}; caller returned to the operator",
        secs(a.ring_ms().max(0))
    )
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn rec() -> CallRecord {
        CallRecord {
            call_id: "c1".into(),
            caller: "13812341234".into(),
            called: "12345".into(),
            original_called: None,
            route_mode: Some("main".into()),
            department: None,
            started_at_ms: 1_000,
            answered_at_ms: Some(2_000),
            ended_at_ms: 60_000,
            wait_ms: 1_000,
            seat: Some("1001".into()),
            end_reason: EndReason::CallerHangup,
            digits: String::new(),
            off_hours: false,
            transfer_unanswered: None,
            transfers: Vec::new(),
            handed_over_by: None,
            system_answered_at_ms: None,
            queue_visits: Vec::new(),
            survey: None,
            quality: Vec::new(),
        }
    }

    #[test]
    fn an_ordinary_answered_call_opens_nothing() {
        assert!(tickets_for(&rec()).is_empty());
    }

    #[test]
    fn off_hours_parallel_call_goes_to_the_matched_department() {
        let r = CallRecord {
            off_hours: true,
            department: Some("water".into()),
            original_called: Some("96116".into()),
            route_mode: Some("parallel".into()),
            ..rec()
        };
        let t = tickets_for(&r);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].reason, AutoReason::OffHours);
        assert_eq!(t[0].department.as_deref(), Some("water"));
        assert_eq!((t[0].call_id.as_str(), t[0].accepted_at_ms), ("c1", 60_000));
        assert!(t[0].text.contains("96116"));
        // Without a department there is nobody to send it to: no ticket (the call record still exists).
        let r = CallRecord {
            department: None,
            ..r
        };
        assert!(tickets_for(&r).is_empty());
    }

    #[test]
    fn unanswered_transfer_goes_to_the_transfer_target() {
        let r = CallRecord {
            transfer_unanswered: Some("power".into()),
            transfers: Vec::new(),
            handed_over_by: None,
            system_answered_at_ms: None,
            queue_visits: Vec::new(),
            survey: None,
            department: Some("water".into()),
            ..rec()
        };
        let t = tickets_for(&r);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].reason, AutoReason::TransferUnanswered);
        assert_eq!(t[0].department.as_deref(), Some("power"));
    }

    fn attempt(dep: Option<&str>, outcome: TransferOutcome) -> TransferAttempt {
        TransferAttempt {
            target: "8001".into(),
            department: dep.map(str::to_string),
            started_at_ms: 10_000,
            answered_at_ms: matches!(outcome, TransferOutcome::Answered).then_some(13_000),
            ended_at_ms: 25_000,
            outcome,
            answer_target_ms: Some(15_000),
            ended_by: None,
            kind: None,
        }
    }

    #[test]
    fn every_failed_transfer_attempt_opens_a_ticket_with_its_facts() {
        use TransferOutcome::*;
        let r = CallRecord {
            transfers: vec![
                attempt(Some("water"), NoAnswer),
                attempt(Some("water"), Answered),
                attempt(Some("power"), Busy),
                attempt(Some("gas"), Cancelled),
                attempt(None, Rejected { status: 603 }),
                attempt(Some("power"), Failed { status: 503 }),
            ],
            ..rec()
        };
        let t = tickets_for(&r);
        let got: Vec<_> = t
            .iter()
            .map(|t| (t.reason, t.department.as_deref().unwrap_or("")))
            .collect();
        use AutoReason::TransferUnanswered as T;
        assert_eq!(
            got,
            [(T, "water"), (T, "power"), (T, "8001"), (T, "power")],
            "answered and cancelled attempts open nothing; no department: the target"
        );
        assert_eq!(
            t[0].text,
            "transfer to 8001 (water) not answered after 15.0 s of ringing (target 15.0 s); \
             caller returned to the operator"
        );
        assert!(t[1].text.contains("busy after 15.0 s"), "{}", t[1].text);
        assert!(
            t[2].text.starts_with("transfer to 8001 rejected (603)"),
            "{}",
            t[2].text
        );
        assert!(t[3].text.contains("failed (503)"), "{}", t[3].text);
        assert!(t
            .iter()
            .all(|t| t.call_id == "c1" && t.accepted_at_ms == 60_000));
    }

    #[test]
    fn transfer_unanswered_and_a_failed_attempt_for_the_same_department_open_one_ticket() {
        let r = CallRecord {
            transfer_unanswered: Some("water".into()),
            transfers: vec![attempt(Some("water"), TransferOutcome::NoAnswer)],
            ..rec()
        };
        let t = tickets_for(&r);
        assert_eq!(t.len(), 1);
        assert!(
            t[0].text.contains("15.0 s of ringing"),
            "the attempt's facts win"
        );
        // The legacy field may name the number dialled rather than the department.
        let r = CallRecord {
            transfer_unanswered: Some("8001".into()),
            ..r
        };
        assert_eq!(tickets_for(&r).len(), 1);
        // A different department, or an attempt that was answered or cancelled, does not cover it.
        for transfers in [
            vec![attempt(Some("power"), TransferOutcome::Busy)],
            vec![attempt(Some("water"), TransferOutcome::Cancelled)],
        ] {
            let r = CallRecord {
                transfer_unanswered: Some("water".into()),
                transfers: transfers.clone(),
                ..rec()
            };
            let deps: Vec<_> = tickets_for(&r)
                .into_iter()
                .map(|t| t.department.unwrap_or_default())
                .collect();
            let want: Vec<String> = transfers
                .iter()
                .filter(|a| a.outcome.is_failure())
                .map(|a| a.owner().to_string())
                .chain(["water".to_string()])
                .collect();
            assert_eq!(deps, want);
        }
    }

    #[test]
    fn abandoned_in_queue_asks_for_a_call_back_but_other_endings_do_not() {
        let r = CallRecord {
            answered_at_ms: None,
            seat: None,
            end_reason: EndReason::AbandonedInQueue,
            wait_ms: 42_000,
            ..rec()
        };
        let t = tickets_for(&r);
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].reason, t[0].department.clone()),
            (AutoReason::Abandoned, None)
        );
        assert!(t[0].text.contains("42 s"));
        for end in [
            EndReason::Rejected,
            EndReason::PromptThenHangup,
            EndReason::Overload,
            EndReason::CallerHangup,
        ] {
            let r = CallRecord {
                answered_at_ms: None,
                end_reason: end,
                ..rec()
            };
            assert!(tickets_for(&r).is_empty(), "{end:?}");
        }
    }

    #[test]
    fn a_call_back_promise_lands_on_the_call_back_list() {
        let r = CallRecord {
            answered_at_ms: None,
            seat: None,
            end_reason: EndReason::Callback,
            wait_ms: 605_000,
            queue_visits: vec![crate::record::QueueVisit {
                queue: "general".into(),
                entered_at_ms: 5_000,
                left_at_ms: 605_000,
                outcome: crate::record::VisitOutcome::Callback,
            }],
            ..rec()
        };
        let t = tickets_for(&r);
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].reason, t[0].department.clone()),
            (AutoReason::Callback, None)
        );
        assert_eq!(t[0].reason.source(), "auto_callback");
        assert!(
            t[0].text.contains("605 s in queue general"),
            "{}",
            t[0].text
        );
    }

    #[test]
    fn several_reasons_open_several_tickets_in_a_stable_order() {
        let r = CallRecord {
            off_hours: true,
            department: Some("water".into()),
            transfer_unanswered: Some("water".into()),
            transfers: Vec::new(),
            handed_over_by: None,
            system_answered_at_ms: None,
            queue_visits: Vec::new(),
            survey: None,
            answered_at_ms: None,
            end_reason: EndReason::AbandonedInQueue,
            ..rec()
        };
        let reasons: Vec<_> = tickets_for(&r).into_iter().map(|t| t.reason).collect();
        assert_eq!(
            reasons,
            [
                AutoReason::OffHours,
                AutoReason::TransferUnanswered,
                AutoReason::Abandoned
            ]
        );
    }
}
