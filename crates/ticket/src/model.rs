//! The ticket's domain: categories, statuses, actions and the state machine. Pure: no I/O, no clock.

use serde::{Deserialize, Serialize};

use crate::lifecycle::{Lifecycle, NotAcceptedReason};

/// What the caller asked for (R-20). Decides the closing deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Consultation,
    Help,
    Complaint,
    Report,
    Suggestion,
    Praise,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Consultation,
        Category::Help,
        Category::Complaint,
        Category::Report,
        Category::Suggestion,
        Category::Praise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Consultation => "consultation",
            Category::Help => "help",
            Category::Complaint => "complaint",
            Category::Report => "report",
            Category::Suggestion => "suggestion",
            Category::Praise => "praise",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Where a ticket stands: 受理 → 派单 → 签收 → 办理 → 答复 → 办结 → 回访 → 评价, plus 退单.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// 受理: the center took the request.
    Accepted,
    /// 派单: sent to a department, waiting for it to sign.
    Dispatched,
    /// 签收: the department acknowledged it.
    Signed,
    /// 办理: the department is working on it.
    Handling,
    /// 答复: the department answered the caller.
    Replied,
    /// 退单: the department sent it back (wrong department); the center reassigns.
    Returned,
    /// 办结: closed.
    Closed,
    /// 回访: the center called the caller back.
    CalledBack,
    /// 评价: the caller rated the handling. Final.
    Evaluated,
    /// 不予受理 (R-26): closed at intake as outside the hotline's remit, with a reason. Final; counted apart in
    /// every KPI.
    NotAccepted,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Accepted,
        Status::Dispatched,
        Status::Signed,
        Status::Handling,
        Status::Replied,
        Status::Returned,
        Status::Closed,
        Status::CalledBack,
        Status::Evaluated,
        Status::NotAccepted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::Dispatched => "dispatched",
            Status::Signed => "signed",
            Status::Handling => "handling",
            Status::Replied => "replied",
            Status::Returned => "returned",
            Status::Closed => "closed",
            Status::CalledBack => "called_back",
            Status::Evaluated => "evaluated",
            Status::NotAccepted => "not_accepted",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Open = the department still owes work; deadlines and supervision apply.
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            Status::Closed | Status::CalledBack | Status::Evaluated | Status::NotAccepted
        )
    }
}

/// The caller's rating after the call-back (R-23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    Satisfied,
    Basic,
    Unsatisfied,
}

impl Satisfaction {
    pub fn as_str(self) -> &'static str {
        match self {
            Satisfaction::Satisfied => "satisfied",
            Satisfaction::Basic => "basic",
            Satisfaction::Unsatisfied => "unsatisfied",
        }
    }

    pub fn parse(s: &str) -> Option<Satisfaction> {
        [
            Satisfaction::Satisfied,
            Satisfaction::Basic,
            Satisfaction::Unsatisfied,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// Something someone does to a ticket. The JSON form is `{"action": "dispatch", "department": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// 派单 to a department.
    Dispatch { department: String },
    /// 签收 by the department. (Empty braces: serde refuses unknown fields only on struct variants.)
    Sign {},
    /// 办理: work has started.
    Handle {},
    /// 答复: the department's answer to the caller.
    Reply { text: String },
    /// 办结.
    Close {},
    /// 督办: the center presses the department; allowed at any open stage, status unchanged.
    Supervise { note: String },
    /// 退单: the department says it is not theirs.
    Return { reason: String },
    /// 改派: the center sends a returned (or not yet signed) ticket to another department.
    Reassign { department: String },
    /// 回访: the center called the caller back (reached or not).
    CallBack { reached: bool },
    /// 评价.
    Evaluate { satisfaction: Satisfaction },
    /// 不予受理: the center closes a request outside its remit (at intake, or when a return shows it).
    NotAccept {
        reason: NotAcceptedReason,
        #[serde(default)]
        note: String,
    },
    /// 退单审核 upheld: the return was right; re-dispatch (to `department`) with a fresh sign-for clock.
    AcceptReturn { department: String },
    /// 退单审核 refused: the ticket goes back to the department, in the status it was returned from.
    RefuseReturn { note: String },
    /// 延期申请 by the department: `days` more working days to close.
    RequestExtension { days: u32, reason: String },
    /// The center grants the pending extension: the closing deadline moves by its working days.
    ApproveExtension {},
    /// The center refuses the pending extension; the deadline stays.
    RefuseExtension { note: String },
    /// 重办: a closed ticket goes back to its department; counts against the department's re-open rate.
    Rehandle { reason: String },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Dispatch { .. } => "dispatch",
            Action::Sign {} => "sign",
            Action::Handle {} => "handle",
            Action::Reply { .. } => "reply",
            Action::Close {} => "close",
            Action::Supervise { .. } => "supervise",
            Action::Return { .. } => "return",
            Action::Reassign { .. } => "reassign",
            Action::CallBack { .. } => "call_back",
            Action::Evaluate { .. } => "evaluate",
            Action::NotAccept { .. } => "not_accept",
            Action::AcceptReturn { .. } => "accept_return",
            Action::RefuseReturn { .. } => "refuse_return",
            Action::RequestExtension { .. } => "request_extension",
            Action::ApproveExtension {} => "approve_extension",
            Action::RefuseExtension { .. } => "refuse_extension",
            Action::Rehandle { .. } => "rehandle",
        }
    }

    /// Free text for the history row.
    pub fn note(&self) -> String {
        match self {
            Action::Dispatch { department }
            | Action::Reassign { department }
            | Action::AcceptReturn { department } => {
                format!("department={department}")
            }
            Action::NotAccept { reason, note } if note.is_empty() => reason.as_str().to_string(),
            Action::NotAccept { reason, note } => format!("{}: {note}", reason.as_str()),
            Action::RequestExtension { days, reason } => format!("days={days}: {reason}"),
            Action::RefuseReturn { note } | Action::RefuseExtension { note } => note.clone(),
            Action::Rehandle { reason } => reason.clone(),
            Action::ApproveExtension {} => String::new(),
            Action::Reply { text } => text.clone(),
            Action::Supervise { note } => note.clone(),
            Action::Return { reason } => reason.clone(),
            Action::CallBack { reached } => format!("reached={reached}"),
            Action::Evaluate { satisfaction } => satisfaction.as_str().to_string(),
            Action::Sign {} | Action::Handle {} | Action::Close {} => String::new(),
        }
    }

    /// The field of this action that must not be empty, if any (for 400 answers).
    pub fn empty_field(&self) -> Option<&'static str> {
        match self {
            Action::Dispatch { department }
            | Action::Reassign { department }
            | Action::AcceptReturn { department }
                if department.trim().is_empty() =>
            {
                Some("department")
            }
            Action::Reply { text } if text.trim().is_empty() => Some("text"),
            Action::Supervise { note } if note.trim().is_empty() => Some("note"),
            Action::Return { reason }
            | Action::RequestExtension { reason, .. }
            | Action::Rehandle { reason }
                if reason.trim().is_empty() =>
            {
                Some("reason")
            }
            Action::RequestExtension { days: 0, .. } => Some("days"),
            Action::RefuseReturn { note } | Action::RefuseExtension { note }
                if note.trim().is_empty() =>
            {
                Some("note")
            }
            _ => None,
        }
    }
}

/// The part of a ticket the state machine reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketState {
    pub status: Status,
    pub department: String,
    /// When it was last dispatched (the sign deadline counts from here).
    pub dispatched_at_ms: Option<i64>,
    pub signed_at_ms: Option<i64>,
    pub closed_at_ms: Option<i64>,
    /// How many times it was supervised (督办).
    pub supervised: i64,
    pub satisfaction: Option<Satisfaction>,
    /// Returns, extensions, re-handling, not accepted.
    pub lifecycle: Lifecycle,
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("action `{action}` is not allowed when the ticket is `{status}`")]
pub struct Refused {
    pub action: &'static str,
    pub status: &'static str,
}

/// Apply `action` at `now_ms`. Returns the new state, or why it is refused. The only place transitions live.
pub fn apply(state: &TicketState, action: &Action, now_ms: i64) -> Result<TicketState, Refused> {
    use Status::*;
    let refuse = || Refused {
        action: action.name(),
        status: state.status.as_str(),
    };
    let mut next = state.clone();
    match (state.status, action) {
        (Accepted, Action::Dispatch { department }) => {
            next.status = Dispatched;
            next.department = department.clone();
            next.dispatched_at_ms = Some(now_ms);
        }
        // Reassign restarts the sign deadline: the new department gets its full day.
        (Returned | Dispatched, Action::Reassign { department }) => {
            next.status = Dispatched;
            next.department = department.clone();
            next.dispatched_at_ms = Some(now_ms);
            next.signed_at_ms = None;
        }
        (Dispatched, Action::Sign {}) => {
            next.status = Signed;
            next.signed_at_ms = Some(now_ms);
        }
        (Signed, Action::Handle {}) => next.status = Handling,
        (Handling, Action::Reply { .. }) => next.status = Replied,
        (Replied, Action::Close {}) => {
            next.status = Closed;
            next.closed_at_ms = Some(now_ms);
        }
        (Dispatched | Signed | Handling, Action::Return { .. }) => {
            next.status = Returned;
            next.lifecycle.returned_from = Some(state.status);
        }
        // An upheld return restarts the sign-for clock, like a reassignment.
        (Returned, Action::AcceptReturn { department }) => {
            next.status = Dispatched;
            next.department = department.clone();
            next.dispatched_at_ms = Some(now_ms);
            next.signed_at_ms = None;
            next.lifecycle.returned_from = None;
            // An extension asked by the department that returned it is not the new department's.
            next.lifecycle.extension_pending = None;
        }
        // Back where it was: the sign-for clock of an unsigned ticket keeps running from its dispatch.
        (Returned, Action::RefuseReturn { .. }) => match state.lifecycle.returned_from {
            Some(from @ (Dispatched | Signed | Handling)) => {
                next.status = from;
                next.lifecycle.returned_from = None;
            }
            _ => return Err(refuse()),
        },
        (Accepted | Returned, Action::NotAccept { reason, .. }) => {
            next.status = NotAccepted;
            next.closed_at_ms = Some(now_ms);
            next.lifecycle.not_accepted = Some(*reason);
            next.lifecycle.returned_from = None;
        }
        (Signed | Handling, Action::RequestExtension { days, .. })
            if *days > 0 && state.lifecycle.extension_pending.is_none() =>
        {
            next.lifecycle.extension_pending = Some(*days);
        }
        (s, Action::ApproveExtension {}) if s.is_open() => {
            let Some(days) = state.lifecycle.extension_pending else {
                return Err(refuse());
            };
            next.lifecycle.extension_days = state.lifecycle.extension_days.saturating_add(days);
            next.lifecycle.extension_pending = None;
        }
        (s, Action::RefuseExtension { .. })
            if s.is_open() && state.lifecycle.extension_pending.is_some() =>
        {
            next.lifecycle.extension_pending = None;
        }
        // Re-handling: the same department, a fresh sign-for clock and a fresh closing deadline counted from now.
        (Closed | CalledBack | Evaluated, Action::Rehandle { .. }) => {
            next.status = Dispatched;
            next.dispatched_at_ms = Some(now_ms);
            next.signed_at_ms = None;
            next.closed_at_ms = None;
            next.satisfaction = None;
            next.lifecycle.reopened = state.lifecycle.reopened.saturating_add(1);
            next.lifecycle.reopened_at_ms = Some(now_ms);
            next.lifecycle.extension_days = 0;
            next.lifecycle.extension_pending = None;
        }
        (s, Action::Supervise { .. }) if s.is_open() => next.supervised += 1,
        (Closed, Action::CallBack { .. }) => next.status = CalledBack,
        (CalledBack, Action::Evaluate { satisfaction }) => {
            next.status = Evaluated;
            next.satisfaction = Some(*satisfaction);
        }
        _ => return Err(refuse()),
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ticket in `status`, as the machine would have left it: a returned one remembers it was signed.
    fn state(status: Status) -> TicketState {
        let mut lifecycle = Lifecycle::default();
        if status == Status::Returned {
            lifecycle.returned_from = Some(Status::Signed);
        }
        TicketState {
            status,
            department: "center".into(),
            dispatched_at_ms: None,
            signed_at_ms: None,
            closed_at_ms: None,
            supervised: 0,
            satisfaction: None,
            lifecycle,
        }
    }

    fn all_actions() -> Vec<Action> {
        vec![
            Action::Dispatch {
                department: "water".into(),
            },
            Action::Sign {},
            Action::Handle {},
            Action::Reply {
                text: "done".into(),
            },
            Action::Close {},
            Action::Supervise {
                note: "hurry".into(),
            },
            Action::Return {
                reason: "not ours".into(),
            },
            Action::Reassign {
                department: "power".into(),
            },
            Action::CallBack { reached: true },
            Action::Evaluate {
                satisfaction: Satisfaction::Satisfied,
            },
            Action::NotAccept {
                reason: NotAcceptedReason::Litigation,
                note: String::new(),
            },
            Action::AcceptReturn {
                department: "power".into(),
            },
            Action::RefuseReturn {
                note: "it is yours".into(),
            },
            Action::RequestExtension {
                days: 5,
                reason: "needs a site visit".into(),
            },
            Action::ApproveExtension {},
            Action::RefuseExtension { note: "no".into() },
            Action::Rehandle {
                reason: "not fixed".into(),
            },
        ]
    }

    /// The full table: (from, action) → Some(to) when allowed, None when refused.
    fn expected(from: Status, action: &Action) -> Option<Status> {
        use Status::*;
        Some(match (from, action.name()) {
            (Accepted, "dispatch") => Dispatched,
            (Returned | Dispatched, "reassign") => Dispatched,
            (Dispatched, "sign") => Signed,
            (Signed, "handle") => Handling,
            (Handling, "reply") => Replied,
            (Replied, "close") => Closed,
            (Dispatched | Signed | Handling, "return") => Returned,
            (Accepted | Dispatched | Signed | Handling | Replied | Returned, "supervise") => from,
            (Closed, "call_back") => CalledBack,
            (CalledBack, "evaluate") => Evaluated,
            (Accepted | Returned, "not_accept") => NotAccepted,
            (Returned, "accept_return") => Dispatched,
            // `state` returns tickets from `signed`.
            (Returned, "refuse_return") => Signed,
            (Signed | Handling, "request_extension") => from,
            (Closed | CalledBack | Evaluated, "rehandle") => Dispatched,
            // Approve and refuse need a pending request; see the table with one.
            _ => return None,
        })
    }

    /// The same table for tickets with an extension request pending.
    fn expected_with_pending_extension(from: Status, action: &Action) -> Option<Status> {
        match action.name() {
            "approve_extension" | "refuse_extension" if from.is_open() => Some(from),
            // One request at a time.
            "request_extension" => None,
            _ => expected(from, action),
        }
    }

    fn check_table(
        prepare: impl Fn(Status) -> TicketState,
        table: impl Fn(Status, &Action) -> Option<Status>,
    ) -> (usize, usize) {
        let mut allowed = 0;
        let mut refused = 0;
        for from in Status::ALL {
            for action in all_actions() {
                let got = apply(&prepare(from), &action, 1_000);
                match table(from, &action) {
                    Some(to) => {
                        let next = got.unwrap_or_else(|e| panic!("{from:?} {action:?}: {e}"));
                        assert_eq!(next.status, to, "{from:?} + {}", action.name());
                        allowed += 1;
                    }
                    None => {
                        let err = got
                            .expect_err(&format!("{from:?} + {} must be refused", action.name()));
                        assert_eq!(err.action, action.name());
                        assert_eq!(err.status, from.as_str());
                        refused += 1;
                    }
                }
            }
        }
        (allowed, refused)
    }

    #[test]
    fn every_status_action_pair_is_allowed_or_refused_as_the_table_says() {
        let (allowed, refused) = check_table(state, expected);
        // 10 statuses × 17 actions; 27 allowed pairs (6 of them supervise).
        assert_eq!(allowed, 27);
        assert_eq!(refused, 170 - 27);
    }

    #[test]
    fn with_an_extension_pending_approve_and_refuse_are_allowed_at_every_open_stage() {
        let pending = |status| {
            let mut s = state(status);
            s.lifecycle.extension_pending = Some(3);
            s
        };
        let (allowed, refused) = check_table(pending, expected_with_pending_extension);
        // The 27 above, less the 2 requests, plus approve and refuse in the 6 open statuses.
        assert_eq!(allowed, 27 - 2 + 12);
        assert_eq!(refused, 170 - allowed);
    }

    #[test]
    fn the_happy_path_records_times_and_department() {
        let mut s = state(Status::Accepted);
        s = apply(
            &s,
            &Action::Dispatch {
                department: "water".into(),
            },
            10,
        )
        .unwrap();
        assert_eq!(
            (s.department.as_str(), s.dispatched_at_ms),
            ("water", Some(10))
        );
        s = apply(&s, &Action::Sign {}, 20).unwrap();
        assert_eq!(s.signed_at_ms, Some(20));
        s = apply(&s, &Action::Handle {}, 30).unwrap();
        s = apply(
            &s,
            &Action::Supervise {
                note: "late".into(),
            },
            35,
        )
        .unwrap();
        assert_eq!((s.status, s.supervised), (Status::Handling, 1));
        s = apply(
            &s,
            &Action::Reply {
                text: "fixed".into(),
            },
            40,
        )
        .unwrap();
        s = apply(&s, &Action::Close {}, 50).unwrap();
        assert_eq!(s.closed_at_ms, Some(50));
        s = apply(&s, &Action::CallBack { reached: true }, 60).unwrap();
        s = apply(
            &s,
            &Action::Evaluate {
                satisfaction: Satisfaction::Basic,
            },
            70,
        )
        .unwrap();
        assert_eq!(
            (s.status, s.satisfaction),
            (Status::Evaluated, Some(Satisfaction::Basic))
        );
    }

    #[test]
    fn reassign_after_return_restarts_the_sign_clock_for_the_new_department() {
        let mut s = state(Status::Accepted);
        s = apply(
            &s,
            &Action::Dispatch {
                department: "water".into(),
            },
            10,
        )
        .unwrap();
        s = apply(&s, &Action::Sign {}, 20).unwrap();
        s = apply(
            &s,
            &Action::Return {
                reason: "power's".into(),
            },
            30,
        )
        .unwrap();
        assert_eq!(s.status, Status::Returned);
        s = apply(
            &s,
            &Action::Reassign {
                department: "power".into(),
            },
            40,
        )
        .unwrap();
        assert_eq!(s.status, Status::Dispatched);
        assert_eq!(
            (s.department.as_str(), s.dispatched_at_ms, s.signed_at_ms),
            ("power", Some(40), None)
        );
    }

    #[test]
    fn actions_round_trip_through_json_and_unknown_fields_are_refused() {
        let a: Action =
            serde_json::from_str(r#"{"action":"dispatch","department":"water"}"#).unwrap();
        assert_eq!(
            a,
            Action::Dispatch {
                department: "water".into()
            }
        );
        let a: Action =
            serde_json::from_str(r#"{"action":"evaluate","satisfaction":"unsatisfied"}"#).unwrap();
        assert_eq!(
            a,
            Action::Evaluate {
                satisfaction: Satisfaction::Unsatisfied
            }
        );
        assert!(serde_json::from_str::<Action>(r#"{"action":"sign","extra":1}"#).is_err());
        assert!(serde_json::from_str::<Action>(r#"{"action":"teleport"}"#).is_err());
    }

    fn returned_from(from: Status) -> TicketState {
        let mut s = state(from);
        s.department = "water".into();
        s.dispatched_at_ms = Some(10);
        s.signed_at_ms = (from != Status::Dispatched).then_some(20);
        apply(
            &s,
            &Action::Return {
                reason: "not ours".into(),
            },
            30,
        )
        .unwrap()
    }

    #[test]
    fn a_refused_return_goes_back_to_the_department_where_it_was_and_its_clocks_keep_running() {
        for from in [Status::Dispatched, Status::Signed, Status::Handling] {
            let r = returned_from(from);
            assert_eq!(
                (r.status, r.lifecycle.returned_from),
                (Status::Returned, Some(from))
            );
            let back = apply(
                &r,
                &Action::RefuseReturn {
                    note: "it is yours".into(),
                },
                40,
            )
            .unwrap();
            assert_eq!(back.status, from);
            assert_eq!(back.department, "water");
            // No fresh clock: the department's time kept running while the return was reviewed.
            assert_eq!(back.dispatched_at_ms, Some(10));
            assert_eq!(back.lifecycle.returned_from, None);
        }
        // A returned ticket that does not know where it came from (stored before reviews existed): refused.
        let mut orphan = state(Status::Returned);
        orphan.lifecycle.returned_from = None;
        let err = apply(&orphan, &Action::RefuseReturn { note: "x".into() }, 40).unwrap_err();
        assert_eq!(err.action, "refuse_return");
    }

    #[test]
    fn an_upheld_return_re_dispatches_with_a_fresh_sign_for_clock_and_drops_a_pending_extension() {
        let mut r = returned_from(Status::Handling);
        r.lifecycle.extension_pending = Some(4);
        let next = apply(
            &r,
            &Action::AcceptReturn {
                department: "power".into(),
            },
            50,
        )
        .unwrap();
        assert_eq!(next.status, Status::Dispatched);
        assert_eq!(
            (
                next.department.as_str(),
                next.dispatched_at_ms,
                next.signed_at_ms
            ),
            ("power", Some(50), None)
        );
        assert_eq!(next.lifecycle.extension_pending, None);
        assert_eq!(next.lifecycle.returned_from, None);
    }

    #[test]
    fn extensions_need_days_one_at_a_time_and_approved_ones_add_up() {
        let ask = |days| Action::RequestExtension {
            days,
            reason: "site visit".into(),
        };
        let s = state(Status::Handling);
        let zero = apply(&s, &ask(0), 1).unwrap_err();
        assert_eq!(zero.action, "request_extension");
        assert_eq!(ask(0).empty_field(), Some("days"));
        let s = apply(&s, &ask(3), 1).unwrap();
        assert_eq!(s.lifecycle.extension_pending, Some(3));
        assert!(
            apply(&s, &ask(2), 2).is_err(),
            "a second request while one is pending"
        );
        let s = apply(&s, &Action::ApproveExtension {}, 3).unwrap();
        assert_eq!(
            (s.lifecycle.extension_days, s.lifecycle.extension_pending),
            (3, None)
        );
        assert!(
            apply(&s, &Action::ApproveExtension {}, 4).is_err(),
            "nothing pending"
        );
        let s = apply(&s, &ask(2), 5).unwrap();
        let s = apply(&s, &Action::ApproveExtension {}, 6).unwrap();
        assert_eq!(s.lifecycle.extension_days, 5);
        let s = apply(&s, &ask(9), 7).unwrap();
        let s = apply(&s, &Action::RefuseExtension { note: "no".into() }, 8).unwrap();
        assert_eq!(
            (s.lifecycle.extension_days, s.lifecycle.extension_pending),
            (5, None)
        );
        assert_eq!(s.status, Status::Handling);
    }

    #[test]
    fn rehandling_reopens_a_closed_ticket_for_its_department_and_counts() {
        let mut s = state(Status::Evaluated);
        s.department = "water".into();
        s.dispatched_at_ms = Some(10);
        s.signed_at_ms = Some(20);
        s.closed_at_ms = Some(30);
        s.satisfaction = Some(Satisfaction::Unsatisfied);
        s.lifecycle.extension_days = 2;
        let again = Action::Rehandle {
            reason: "still leaking".into(),
        };
        let s = apply(&s, &again, 100).unwrap();
        assert_eq!(
            (s.status, s.department.as_str()),
            (Status::Dispatched, "water")
        );
        assert_eq!(
            (s.dispatched_at_ms, s.signed_at_ms, s.closed_at_ms),
            (Some(100), None, None)
        );
        assert_eq!(s.satisfaction, None);
        assert_eq!(
            (
                s.lifecycle.reopened,
                s.lifecycle.reopened_at_ms,
                s.lifecycle.extension_days
            ),
            (1, Some(100), 0)
        );
        assert!(apply(&s, &again, 110).is_err(), "only a closed ticket");
        let mut s = s;
        for (a, t) in [
            (Action::Sign {}, 120),
            (Action::Handle {}, 130),
            (Action::Reply { text: "ok".into() }, 140),
            (Action::Close {}, 150),
            (again.clone(), 160),
        ] {
            s = apply(&s, &a, t).unwrap();
        }
        assert_eq!(
            (s.lifecycle.reopened, s.lifecycle.reopened_at_ms),
            (2, Some(160))
        );
    }

    #[test]
    fn not_accepted_is_final_and_keeps_its_reason() {
        let s = apply(
            &state(Status::Accepted),
            &Action::NotAccept {
                reason: NotAcceptedReason::Petition,
                note: "already with the petition office".into(),
            },
            77,
        )
        .unwrap();
        assert_eq!(s.status, Status::NotAccepted);
        assert_eq!(
            (s.lifecycle.not_accepted, s.closed_at_ms),
            (Some(NotAcceptedReason::Petition), Some(77))
        );
        assert!(!s.status.is_open());
        for a in all_actions() {
            assert!(
                apply(&s, &a, 78).is_err(),
                "{} after not accepted",
                a.name()
            );
        }
    }

    #[test]
    fn lifecycle_actions_parse_from_json() {
        let a: Action =
            serde_json::from_str(r#"{"action":"not_accept","reason":"state_secret"}"#).unwrap();
        assert_eq!(
            a,
            Action::NotAccept {
                reason: NotAcceptedReason::StateSecret,
                note: String::new()
            }
        );
        let a: Action =
            serde_json::from_str(r#"{"action":"request_extension","days":5,"reason":"r"}"#)
                .unwrap();
        assert_eq!(a.note(), "days=5: r");
        assert!(
            serde_json::from_str::<Action>(r#"{"action":"not_accept","reason":"weather"}"#)
                .is_err()
        );
        assert!(
            serde_json::from_str::<Action>(r#"{"action":"approve_extension","days":1}"#).is_err()
        );
    }

    #[test]
    fn names_parse_back() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
        }
        assert_eq!(Status::parse("nope"), None);
    }
}
