//! The ticket's domain: categories, statuses, actions and the state machine. Pure: no I/O, no clock.

use serde::{Deserialize, Serialize};

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
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Accepted,
        Status::Dispatched,
        Status::Signed,
        Status::Handling,
        Status::Replied,
        Status::Returned,
        Status::Closed,
        Status::CalledBack,
        Status::Evaluated,
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
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Open = the department still owes work; deadlines and supervision apply.
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            Status::Closed | Status::CalledBack | Status::Evaluated
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
        }
    }

    /// Free text for the history row.
    pub fn note(&self) -> String {
        match self {
            Action::Dispatch { department } | Action::Reassign { department } => {
                format!("department={department}")
            }
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
            Action::Dispatch { department } | Action::Reassign { department }
                if department.trim().is_empty() =>
            {
                Some("department")
            }
            Action::Reply { text } if text.trim().is_empty() => Some("text"),
            Action::Supervise { note } if note.trim().is_empty() => Some("note"),
            Action::Return { reason } if reason.trim().is_empty() => Some("reason"),
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
        (Dispatched | Signed | Handling, Action::Return { .. }) => next.status = Returned,
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

    fn state(status: Status) -> TicketState {
        TicketState {
            status,
            department: "center".into(),
            dispatched_at_ms: None,
            signed_at_ms: None,
            closed_at_ms: None,
            supervised: 0,
            satisfaction: None,
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
            _ => return None,
        })
    }

    #[test]
    fn every_status_action_pair_is_allowed_or_refused_as_the_table_says() {
        let mut allowed = 0;
        let mut refused = 0;
        for from in Status::ALL {
            for action in all_actions() {
                let got = apply(&state(from), &action, 1_000);
                match expected(from, &action) {
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
        // 9 statuses × 10 actions; 18 allowed pairs (6 of them supervise).
        assert_eq!(allowed, 18);
        assert_eq!(refused, 90 - 18);
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
