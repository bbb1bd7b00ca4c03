//! Automatic tickets from calls (issue item 5): decided by a pure function so the rules can be tested alone.

use crate::model::Category;
use crate::record::{CallRecord, EndReason};

/// Why a ticket was opened without a human filling it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoReason {
    /// A parallel number called off hours and answered by 12345: the department owes an answer.
    OffHours,
    /// A one-key transfer the department did not answer in time.
    TransferUnanswered,
    /// The caller hung up while waiting: the center must call back (2025 national guidance, R-23).
    Abandoned,
}

impl AutoReason {
    pub fn source(self) -> &'static str {
        match self {
            AutoReason::OffHours => "auto_off_hours",
            AutoReason::TransferUnanswered => "auto_transfer_unanswered",
            AutoReason::Abandoned => "auto_abandoned",
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

/// Which tickets a finished call opens. At most one per reason; the order is stable.
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
    if let Some(dep) = nonempty(rec.transfer_unanswered.as_deref()) {
        push(
            AutoReason::TransferUnanswered,
            Some(dep.to_string()),
            format!("transfer to {dep} not answered in time"),
        );
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
    out
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
            department: Some("water".into()),
            ..rec()
        };
        let t = tickets_for(&r);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].reason, AutoReason::TransferUnanswered);
        assert_eq!(t[0].department.as_deref(), Some("power"));
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
    fn several_reasons_open_several_tickets_in_a_stable_order() {
        let r = CallRecord {
            off_hours: true,
            department: Some("water".into()),
            transfer_unanswered: Some("water".into()),
            transfers: Vec::new(),
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
