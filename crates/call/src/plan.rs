//! From the dial plan's decision to what the call does.

use crate::{PromptRef, Target};
use dialplan::{Action, CallQuery, Decision};

/// What the dialplan decided for this call, in terms the call understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Optional prompt, then wait in `queue` for a seat, hearing `hold` in a loop.
    Queue {
        prompt: Option<PromptRef>,
        queue: String,
        hold: Option<PromptRef>,
    },
    /// Announce, then end the call (a merged number after its transition, a cancelled number).
    PromptThenHangup { prompt: PromptRef },
    /// Connect straight to a target outside the queue (an emergency line, the provincial center),
    /// optionally with a prompt as early media while it rings. If the target fails, so does the call.
    Connect {
        prompt: Option<PromptRef>,
        target: Target,
    },
    /// Refuse before answering (unknown number, R-09).
    Reject { status: u16, reason: String },
    /// An operator's consult call to a transfer target (the first half of an attended transfer): ring
    /// `dest` within its answer target and connect the operator `seat` with it; see `consult.rs`. The
    /// shell imposes it for an authenticated seat's INVITE, never from a dial-plan decision.
    Consult {
        seat: String,
        dest: crate::TransferDest,
    },
    /// Answer, play `prompt` once and hang up: an operator's feature code (`*21`…) is confirmed so.
    Announce { prompt: Option<PromptRef> },
    /// A voice menu: play `prompt`, and on a key ask the [`Router`] again with the key (inside
    /// [`crate::Call::handle`]); a caller who presses nothing waits in `fallback_queue`.
    Menu {
        prompt: PromptRef,
        fallback_queue: String,
        hold: Option<PromptRef>,
    },
    /// The progress self-query by phone (R-28, `selfquery.rs`): collect a ticket number, read its state
    /// back, hang up.
    SelfQuery,
}

/// The dial plan, as the call asks it again (a menu key, a transfer). Synchronous: routing is a lookup in
/// memory.
pub trait Router: Send + Sync {
    fn route(&self, q: &CallQuery<'_>) -> Decision;

    /// Where an operator's transfer to `dialled` (a plan number or its transfer code) goes; None when it
    /// is no transfer target of the plan.
    fn transfer_target(&self, dialled: &str) -> Option<crate::TransferDest> {
        let _ = dialled;
        None
    }
}

impl Router for dialplan::Dialplan {
    fn route(&self, q: &CallQuery<'_>) -> Decision {
        dialplan::Dialplan::route(self, q)
    }

    fn transfer_target(&self, dialled: &str) -> Option<crate::TransferDest> {
        dialplan::Dialplan::transfer_target(self, dialled).map(|t| transfer_dest(&t))
    }
}

impl Router for dialplan::LiveDialplan {
    fn route(&self, q: &CallQuery<'_>) -> Decision {
        dialplan::LiveDialplan::route(self, q)
    }

    fn transfer_target(&self, dialled: &str) -> Option<crate::TransferDest> {
        dialplan::LiveDialplan::transfer_target(self, dialled).map(|t| transfer_dest(&t))
    }
}

/// The plan's transfer target in the call's terms: a typed target and the answer target in ms.
pub fn transfer_dest(t: &dialplan::TransferTarget) -> crate::TransferDest {
    crate::TransferDest {
        number: t.number.to_string(),
        department: t.department.as_deref().map(str::to_string),
        target: Target::from_dialplan(&t.target),
        answer_target_ms: i64::from(t.answer_target_s) * 1000,
        emergency: matches!(t.mode, dialplan::Mode::Emergency | dialplan::Mode::Upstream),
    }
}

/// A decision the plan cannot carry out (no prompt or no target): refuse honestly, not silently.
pub fn unavailable() -> Plan {
    Plan::Reject {
        status: 480,
        reason: "Temporarily Unavailable".into(),
    }
}

/// Turn a dialplan decision into the call's plan (prompt paths are resolved by the plan already);
/// `hold` is what queued callers hear in a loop.
pub fn plan_for(d: &Decision, hold: Option<PromptRef>) -> Plan {
    let queue = || {
        d.queue
            .as_deref()
            .map(str::to_string)
            .unwrap_or_else(|| "general".into())
    };
    match d.action {
        Action::Queue => Plan::Queue {
            prompt: None,
            queue: queue(),
            hold,
        },
        Action::PromptThenQueue => Plan::Queue {
            prompt: d.prompt.clone(),
            queue: queue(),
            hold,
        },
        Action::PromptThenHangup => match &d.prompt {
            Some(p) => Plan::PromptThenHangup { prompt: p.clone() },
            None => unavailable(),
        },
        Action::Reject => Plan::Reject {
            status: 404,
            reason: "Not Found".into(),
        },
        // A parallel department in its working hours: its own seats, as an ACD queue named after the group;
        // emergency lines and the province: straight out, never into the 12345 queue. The plan
        // loader refuses `seats:` targets for emergency numbers.
        Action::Department | Action::Forward => {
            match d.target.as_deref().map(Target::from_dialplan) {
                Some(Target::Group { group }) => Plan::Queue {
                    prompt: d.prompt.clone(),
                    queue: group,
                    hold,
                },
                Some(target) => Plan::Connect {
                    prompt: d.prompt.clone(),
                    target,
                },
                None => unavailable(),
            }
        }
        Action::SelfQuery => Plan::SelfQuery,
        // A voice menu: the call plays it and asks again with the key; no key → `queue`.
        Action::Menu => match &d.prompt {
            Some(p) => Plan::Menu {
                prompt: p.clone(),
                fallback_queue: queue(),
                hold,
            },
            None => Plan::Queue {
                prompt: None,
                queue: queue(),
                hold,
            },
        },
    }
}
