//! All simulated time, no sockets. `ported` are the two-leg machine's tests in the new vocabulary; `legs`
//! covers leg ids, topology, per-leg DTMF, routing inside `handle` and the wall clock.

use super::*;
use dialplan::{Action, Reason};
use std::sync::Mutex;

mod answer;
mod attended;
mod legs;
mod ported;
mod queueing;
mod selfquery;
mod survey;
mod transfer;

/// A decision as the dial plan would return it (main mode, working hours).
pub(crate) fn decision(
    action: Action,
    prompt: Option<&str>,
    queue: Option<&str>,
    target: Option<&str>,
) -> Decision {
    Decision {
        mode: Mode::Main,
        action,
        prompt: prompt.map(Into::into),
        queue: queue.map(Into::into),
        target: target.map(Into::into),
        working_hours: true,
        reason: Reason::MainQueue,
        department: None,
        hotline: None,
        transfer_answer_target_s: None,
        matched: None,
        via_diversion: false,
    }
}

/// One query the router was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Asked {
    pub digits: String,
    /// `at`, in epoch ms.
    pub at_ms: i64,
    pub called: String,
    pub diversion: Option<String>,
    pub caller: Option<String>,
}

/// Answers by the digits asked (a refusal for any other key); remembers every query.
pub(crate) struct FakeRouter {
    pub answers: Vec<(&'static str, Decision)>,
    pub asked: Mutex<Vec<Asked>>,
}

impl FakeRouter {
    pub fn new(answers: Vec<(&'static str, Decision)>) -> Arc<FakeRouter> {
        Arc::new(FakeRouter {
            answers,
            asked: Mutex::new(Vec::new()),
        })
    }
}

impl Router for FakeRouter {
    fn route(&self, q: &CallQuery<'_>) -> Decision {
        self.asked.lock().unwrap().push(Asked {
            digits: q.digits.to_string(),
            at_ms: q.at.timestamp_millis(),
            called: q.called.to_string(),
            diversion: q.diversion.map(str::to_string),
            caller: q.caller.map(str::to_string),
        });
        self.answers
            .iter()
            .find(|(d, _)| *d == q.digits)
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| decision(Action::Reject, None, None, None))
    }
}

pub(crate) fn setup_with(
    decision: Decision,
    router: Arc<dyn Router>,
    wall_start_ms: i64,
) -> CallSetup {
    CallSetup {
        call_id: "c1@carrier".into(),
        caller: "13800001234".into(),
        called: "12345".into(),
        original_called: Some("12315".into()),
        wall_start_ms,
        decision,
        router,
    }
}

/// A setup whose router refuses everything; the tests give the plan with [`Call::with_plan`].
pub(crate) fn setup() -> CallSetup {
    setup_with(
        decision(Action::Queue, None, Some("main"), None),
        FakeRouter::new(Vec::new()),
        0,
    )
}

/// The policy the tests written before answer-first became the default were made for: prompts and queue in
/// early media (183), the 200 when a seat answers.
pub(crate) fn early_media() -> CallPolicy {
    CallPolicy {
        answer_before_queue: false,
        ..CallPolicy::default()
    }
}

pub(crate) fn start(plan: Plan, policy: CallPolicy) -> (Call, Vec<Output>) {
    Call::with_plan(setup(), policy, plan, 0)
}

pub(crate) fn record(out: &[Output]) -> &CallRecord {
    match out.last() {
        Some(Output::Finished(r)) => r,
        other => panic!("expected Finished last, got {other:?}"),
    }
}

pub(crate) const CALLER: LegId = LegId::CALLER;
