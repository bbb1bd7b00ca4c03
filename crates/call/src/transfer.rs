//! The one-key three-way transfer: the operator keys `*2`, a target and `#`. The caller hears the
//! transfer prompt, the operator ringback, the target rings and the answer clock runs. Answered within the
//! target (inclusive: 15.0 s of 15 is in time) → the three are mixed until the operator leaves (hangs up or
//! keys `*0`), then caller and department stay bridged. Not answered in time, busy, refused, failed or
//! cancelled (`*#`) → the target legs go, the caller is back with the operator and the attempt is recorded
//! (the ticket side opens a ticket for the department). If the operator hung up while it rang, an answer
//! bridges caller and department, a failure puts the caller back at the head of the queue: never dropped.

use crate::legs::LegState;
use crate::{Call, EndReason, Input, LegId, Output, Phase, PromptRef, Target, TimerKind};
use record::{TransferAttempt, TransferEndedBy, TransferKind, TransferOutcome};

/// Where a dialled transfer number (or code) goes, as the dial plan says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferDest {
    /// The plan number (what the record shows).
    pub number: String,
    pub department: Option<String>,
    /// A seat group rings all its available seats; a URI goes out through the trunks.
    pub target: Target,
    /// The answer target (R-05: 15 s unless the plan says otherwise).
    pub answer_target_ms: i64,
    /// An emergency line or the provincial center: handed over at once (blind: the operator
    /// leaves when it answers), ringing up to `connect_ring_timeout` rather than the answer target.
    pub emergency: bool,
}

/// Feature codes and prompts of the transfer (Asterisk-style, configurable).
#[derive(Debug, Clone)]
pub struct TransferPolicy {
    pub transfer_code: String,
    pub drop_code: String,
    pub cancel_code: String,
    /// Ends the dialled number.
    pub end_key: char,
    /// A code keyed this long after its last digit is forgotten.
    pub key_timeout_ms: i64,
    /// What the caller hears in a loop while the target rings («正在为您转接»).
    pub caller_prompt: Option<PromptRef>,
    /// What the operator hears while the target rings.
    pub ringback: Option<PromptRef>,
    /// Played once to caller and operator when the attempt falls back.
    pub fallback_prompt: Option<PromptRef>,
}

impl Default for TransferPolicy {
    fn default() -> Self {
        TransferPolicy {
            transfer_code: "*2".into(),
            drop_code: "*0".into(),
            cancel_code: "*#".into(),
            end_key: '#',
            key_timeout_ms: 5_000,
            caller_prompt: None,
            ringback: None,
            fallback_prompt: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Ringing,
    ThreeWay,
}

/// The transfer attempt in progress.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    id: u32,
    dest: TransferDest,
    /// Asked by a REFER (RFC 3515): the operator's softphone hears the outcome as a NOTIFY.
    by_refer: bool,
    /// None once the operator hung up while the target rang.
    operator: Option<LegId>,
    /// Target legs dialled and not yet answered or gone (several for a seat group).
    ringing: Vec<LegId>,
    /// Waiting for the ACD's list of the group's seats.
    reserving: bool,
    /// A seat group was reserved in the ACD: release what is left when done.
    group: bool,
    answered: Option<LegId>,
    stage: Stage,
    started_ms: i64,
    answered_ms: Option<i64>,
    /// The last failure of a target leg, for the outcome when every leg failed.
    last_failure: Option<u16>,
}

/// Digits the operator keyed towards a feature code.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keys {
    buf: String,
    generation: u32,
}

/// A failed leg's final status as the attempt's outcome.
pub(crate) fn outcome_of(status: u16) -> TransferOutcome {
    match status {
        486 | 600 => TransferOutcome::Busy,
        408 | 480 | 487 => TransferOutcome::NoAnswer,
        400..=499 | 603 | 604 | 606 => TransferOutcome::Rejected { status },
        _ => TransferOutcome::Failed { status },
    }
}

/// The SIP status that tells a softphone how an attempt that did not connect ended.
pub(crate) fn status_of(outcome: TransferOutcome) -> u16 {
    match outcome {
        TransferOutcome::NoAnswer => 408,
        TransferOutcome::Busy => 486,
        TransferOutcome::Rejected { status } | TransferOutcome::Failed { status } => status,
        TransferOutcome::Cancelled | TransferOutcome::Answered => 487,
    }
}

impl Call {
    /// The transfer's share of an input; true when it consumed the input.
    pub(crate) fn transfer_input(
        &mut self,
        input: &Input,
        now_ms: i64,
        out: &mut Vec<Output>,
    ) -> bool {
        match *input {
            Input::Dtmf { leg, digit } if self.is_operator(leg) => {
                if let Some(l) = self.legs.get_mut(leg) {
                    l.dtmf.push(digit);
                }
                self.operator_key(leg, digit, now_ms, out);
                return true;
            }
            Input::TransferRequest { leg, ref dialled } => {
                let dialled = dialled.clone();
                self.referred_transfer(leg, &dialled, now_ms, out);
                return true;
            }
            Input::Timer(TimerKind::Keys { generation }) => {
                if generation == self.keys.generation {
                    self.keys.buf.clear();
                }
                return true;
            }
            Input::Timer(TimerKind::Transfer { attempt }) => {
                if self
                    .transfer
                    .as_ref()
                    .is_some_and(|a| a.id == attempt && a.stage == Stage::Ringing)
                {
                    self.transfer_failed(
                        TransferOutcome::NoAnswer,
                        TransferEndedBy::Timer,
                        now_ms,
                        out,
                    );
                }
                return true;
            }
            _ => {}
        }
        let current = self.transfer.as_ref().map(|a| (a.id, a.reserving));
        if let Input::GroupSeats { attempt, seats } = input {
            match current {
                Some((id, true)) if id == *attempt => self.ring_group(seats, now_ms, out),
                // The attempt is over: its reservation goes back at once.
                _ if !seats.is_empty() => out.push(Output::ReleaseReserved),
                _ => {}
            }
            return true;
        }
        let Some(a) = self.transfer.clone() else {
            return false;
        };
        match input {
            Input::LegRinging { leg } if a.ringing.contains(leg) => {
                self.legs.set_state(*leg, LegState::Ringing);
                true
            }
            Input::LegAnswered { leg } if a.ringing.contains(leg) => {
                self.target_answered(*leg, now_ms, out);
                true
            }
            Input::LegFailed { leg, status } if a.ringing.contains(leg) => {
                self.legs.set_state(*leg, LegState::Gone);
                if let Some(t) = self.transfer.as_mut() {
                    t.ringing.retain(|l| l != leg);
                    t.last_failure = Some(*status);
                    if t.ringing.is_empty() && !t.reserving {
                        let outcome = outcome_of(*status);
                        self.transfer_failed(outcome, TransferEndedBy::Department, now_ms, out);
                    }
                }
                true
            }
            Input::LegHangup { leg } | Input::MediaTimeout { leg } if Some(*leg) == a.answered => {
                self.department_left(*leg, now_ms, out);
                true
            }
            Input::LegHangup { leg } | Input::MediaTimeout { leg }
                if Some(*leg) == a.operator && *leg != LegId::CALLER =>
            {
                self.operator_left(*leg, false, now_ms, out);
                true
            }
            Input::LegHangup { leg: LegId::CALLER }
            | Input::MediaTimeout { leg: LegId::CALLER }
            | Input::AckTimeout => {
                // The caller is gone: everything of the attempt goes with the call.
                let outcome = match a.stage {
                    Stage::Ringing => TransferOutcome::Cancelled,
                    Stage::ThreeWay => TransferOutcome::Answered,
                };
                self.close_attempt(outcome, TransferEndedBy::Caller, now_ms);
                if let Some(d) = a.answered {
                    self.end_leg(d, out);
                    self.release(d, out);
                }
                if a.operator.is_none() {
                    // The operator had left: nobody is the plan's partner any more.
                    let reason = if matches!(input, Input::LegHangup { .. }) {
                        EndReason::CallerHangup
                    } else {
                        EndReason::Failed
                    };
                    if !matches!(input, Input::LegHangup { .. }) {
                        out.push(Output::Hangup { leg: LegId::CALLER });
                    }
                    self.finish(reason, now_ms, out);
                    return true;
                }
                false
            }
            _ => false,
        }
    }

    /// The ACD seat the caller talks with, or the operator of the attempt in progress.
    pub(crate) fn is_operator(&self, leg: LegId) -> bool {
        if leg == LegId::CALLER {
            return false;
        }
        if let Some(a) = &self.transfer {
            return a.operator == Some(leg);
        }
        matches!(self.phase, Phase::Connected { leg: p } if p == leg)
            && self.legs.get(leg).is_some_and(|l| l.acd)
    }

    fn operator_key(&mut self, operator: LegId, digit: char, now_ms: i64, out: &mut Vec<Output>) {
        let p = &self.policy.transfer;
        self.keys.buf.push(digit);
        self.keys.generation += 1;
        out.push(Output::StartTimer {
            kind: TimerKind::Keys {
                generation: self.keys.generation,
            },
            after_ms: p.key_timeout_ms,
        });
        let buf = self.keys.buf.clone();
        let stage = self.transfer.as_ref().map(|a| a.stage);
        let code = match stage {
            None => p.transfer_code.clone(),
            Some(Stage::Ringing) => p.cancel_code.clone(),
            Some(Stage::ThreeWay) => p.drop_code.clone(),
        };
        match stage {
            None if buf.starts_with(&code) => {
                // `*2`, then the number, then `#`.
                if buf.len() > code.len() + 1 && buf.ends_with(p.end_key) {
                    let dialled = buf[code.len()..buf.len() - 1].to_string();
                    self.keys.buf.clear();
                    self.keyed_transfer(operator, &dialled, now_ms, out);
                } else if buf.len() > code.len() + 16 {
                    self.keys.buf.clear();
                }
                return;
            }
            Some(stage) if buf == code => {
                self.keys.buf.clear();
                match stage {
                    Stage::Ringing => self.transfer_failed(
                        TransferOutcome::Cancelled,
                        TransferEndedBy::Operator,
                        now_ms,
                        out,
                    ),
                    Stage::ThreeWay => self.operator_left(operator, true, now_ms, out),
                }
                return;
            }
            _ => {}
        }
        if !code.starts_with(&buf) {
            // Not a code: start again (a `*` may begin the next one).
            self.keys.buf.clear();
            if code.starts_with(digit) {
                self.keys.buf.push(digit);
            }
        }
    }

    /// Keys: a number that is no transfer target of the plan (no toll fraud through transfers) dials
    /// nothing and only the operator hears the fallback tone.
    fn keyed_transfer(
        &mut self,
        operator: LegId,
        dialled: &str,
        now_ms: i64,
        out: &mut Vec<Output>,
    ) {
        match self.setup.router.transfer_target(dialled) {
            Some(dest) => self.start_transfer(operator, dest, false, now_ms, out),
            None => {
                if let Some(p) = self.policy.transfer.fallback_prompt.clone() {
                    out.push(Output::Play {
                        leg: operator,
                        prompt: p,
                        looped: false,
                    });
                }
            }
        }
    }

    /// A blind REFER from the operator: the same attempt, answered 202, or 404 outside the plan (403 from
    /// anyone but the operator, 491 while another attempt runs).
    fn referred_transfer(&mut self, leg: LegId, dialled: &str, now_ms: i64, out: &mut Vec<Output>) {
        let status = if !self.is_operator(leg) {
            403
        } else if self.transfer.is_some() {
            491
        } else {
            match self.setup.router.transfer_target(dialled) {
                Some(dest) => {
                    out.push(Output::ReferReply { leg, status: 202 });
                    return self.start_transfer(leg, dest, true, now_ms, out);
                }
                None => 404,
            }
        };
        out.push(Output::ReferReply { leg, status });
    }

    fn start_transfer(
        &mut self,
        operator: LegId,
        dest: TransferDest,
        by_refer: bool,
        now_ms: i64,
        out: &mut Vec<Output>,
    ) {
        self.transfer_seq += 1;
        let id = self.transfer_seq;
        self.legs.leave(LegId::CALLER, out);
        let p = self.policy.transfer.clone();
        if let Some(prompt) = p.caller_prompt {
            out.push(Output::Play {
                leg: LegId::CALLER,
                prompt,
                looped: true,
            });
        }
        if let Some(prompt) = p.ringback {
            out.push(Output::Play {
                leg: operator,
                prompt,
                looped: true,
            });
        }
        let mut attempt = Attempt {
            id,
            dest: dest.clone(),
            by_refer,
            operator: Some(operator),
            ringing: Vec::new(),
            reserving: false,
            group: false,
            answered: None,
            stage: Stage::Ringing,
            started_ms: now_ms,
            answered_ms: None,
            last_failure: None,
        };
        match dest.target.clone() {
            Target::Group { group } => {
                attempt.reserving = true;
                attempt.group = true;
                out.push(Output::ReserveSeats { attempt: id, group });
            }
            target => {
                let leg = self.legs.add(target.clone(), false);
                out.push(Output::Dial { leg, target });
                attempt.ringing.push(leg);
            }
        }
        // One ms past the target: an answer at exactly the target is still in time.
        out.push(Output::StartTimer {
            kind: TimerKind::Transfer { attempt: id },
            after_ms: self.ring_limit_ms(&dest) + 1,
        });
        self.transfer = Some(attempt);
    }

    /// Ring every seat the ACD reserved for a group transfer.
    fn ring_group(&mut self, seats: &[String], now_ms: i64, out: &mut Vec<Output>) {
        let legs = self.dial_seats(seats, out);
        if let Some(a) = self.transfer.as_mut() {
            a.reserving = false;
            a.ringing = legs;
        }
        if seats.is_empty() {
            // Nobody of the department is there to answer.
            self.transfer_failed(
                TransferOutcome::Failed { status: 480 },
                TransferEndedBy::Department,
                now_ms,
                out,
            );
        }
    }

    fn target_answered(&mut self, leg: LegId, now_ms: i64, out: &mut Vec<Output>) {
        let Some(a) = self.transfer.clone() else {
            return;
        };
        if !self.take_answer(leg, a.started_ms, &a.dest, &a.ringing, a.group, now_ms, out) {
            // Too late (its timer is due): it is hung up and the attempt falls back.
            self.transfer_failed(
                TransferOutcome::NoAnswer,
                TransferEndedBy::Timer,
                now_ms,
                out,
            );
            return;
        }
        out.push(Output::StopPlaying { leg: LegId::CALLER });
        if let Some(t) = self.transfer.as_mut() {
            t.ringing.clear();
            t.answered = Some(leg);
            t.answered_ms = Some(now_ms);
        }
        match a.operator {
            Some(op) if a.dest.emergency => {
                // Handed over: caller and the emergency line talk, the operator is free for the next call.
                out.push(Output::StopPlaying { leg: op });
                self.legs.connect(&[LegId::CALLER, leg], out);
                if a.by_refer {
                    out.push(Output::TransferNotify {
                        leg: op,
                        status: 200,
                    });
                }
                self.end_leg(op, out);
                self.release(op, out);
                self.close_attempt(TransferOutcome::Answered, TransferEndedBy::Operator, now_ms);
                self.phase = Phase::Connected { leg };
            }
            Some(op) => {
                out.push(Output::StopPlaying { leg: op });
                self.legs.connect(&[LegId::CALLER, op, leg], out);
                if a.by_refer {
                    // RFC 3515 §2.4.5: the transfer succeeded; the softphone normally hangs up now.
                    out.push(Output::TransferNotify {
                        leg: op,
                        status: 200,
                    });
                }
                if let Some(t) = self.transfer.as_mut() {
                    t.stage = Stage::ThreeWay;
                }
            }
            None => {
                self.legs.connect(&[LegId::CALLER, leg], out);
                self.close_attempt(TransferOutcome::Answered, TransferEndedBy::Operator, now_ms);
                self.phase = Phase::Connected { leg };
            }
        }
    }

    /// How long the target may ring: the answer target, or `connect_ring_timeout` for emergency lines.
    /// One leg per seat of a ring-all, dialled at once.
    pub(crate) fn dial_seats(&mut self, seats: &[String], out: &mut Vec<Output>) -> Vec<LegId> {
        seats
            .iter()
            .map(|seat| {
                let target = Target::Seat { seat: seat.clone() };
                let leg = self.legs.add(target.clone(), true);
                out.push(Output::Dial { leg, target });
                leg
            })
            .collect()
    }

    /// A leg of a ringing attempt (transfer or consult) answered. Past the attempt's ring limit it is hung
    /// up and `false` comes back; in time, the other ringing legs are ended and a group's seat is taken
    /// and its reservation released.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn take_answer(
        &mut self,
        leg: LegId,
        started_ms: i64,
        dest: &TransferDest,
        ringing: &[LegId],
        group: bool,
        now_ms: i64,
        out: &mut Vec<Output>,
    ) -> bool {
        self.legs.set_state(leg, LegState::Answered);
        if now_ms - started_ms > self.ring_limit_ms(dest) {
            self.end_leg(leg, out);
            return false;
        }
        for other in ringing.iter().filter(|l| **l != leg) {
            self.end_leg(*other, out);
        }
        if group {
            if let Some(seat) = self.seat_of(leg) {
                out.push(Output::SeatTaken { seat });
            }
            out.push(Output::ReleaseReserved);
        }
        true
    }

    pub(crate) fn ring_limit_ms(&self, dest: &TransferDest) -> i64 {
        if dest.emergency {
            self.policy.connect_ring_timeout_ms
        } else {
            dest.answer_target_ms
        }
    }

    /// No answer in time, busy, refused, failed or cancelled: back to the operator (or the queue).
    fn transfer_failed(
        &mut self,
        outcome: TransferOutcome,
        by: TransferEndedBy,
        now_ms: i64,
        out: &mut Vec<Output>,
    ) {
        let Some(a) = self.transfer.clone() else {
            return;
        };
        for leg in &a.ringing {
            self.end_leg(*leg, out);
        }
        if a.group {
            out.push(Output::ReleaseReserved);
        }
        out.push(Output::StopPlaying { leg: LegId::CALLER });
        self.close_attempt(outcome, by, now_ms);
        let fallback = self.policy.transfer.fallback_prompt.clone();
        if let (Some(op), true) = (a.operator, a.by_refer) {
            let status = status_of(outcome);
            out.push(Output::TransferNotify { leg: op, status });
        }
        match a.operator {
            Some(op) => {
                out.push(Output::StopPlaying { leg: op });
                self.legs.connect(&[LegId::CALLER, op], out);
                if let Some(p) = fallback {
                    for leg in [LegId::CALLER, op] {
                        out.push(Output::Play {
                            leg,
                            prompt: p.clone(),
                            looped: false,
                        });
                    }
                }
            }
            None => {
                // The operator is gone: the caller waits again, first in line (never dropped).
                if let Some(h) = self.policy.hold.clone() {
                    out.push(Output::Play {
                        leg: LegId::CALLER,
                        prompt: h,
                        looped: true,
                    });
                }
                out.push(Output::Requeue {
                    queue: self.queue_name(),
                    waiting_since_ms: self.queued_at_ms.unwrap_or(now_ms),
                });
                self.phase = Phase::Queued;
            }
        }
    }

    /// The operator leaves: its BYE came, or it keyed the drop code (`dropped`: we hang it up).
    fn operator_left(&mut self, op: LegId, dropped: bool, now_ms: i64, out: &mut Vec<Output>) {
        let Some(a) = self.transfer.clone() else {
            return;
        };
        if dropped {
            self.legs.leave(op, out);
            self.end_leg(op, out);
        } else {
            self.legs.set_state(op, LegState::Gone);
            self.legs.leave(op, out);
        }
        self.release(op, out);
        match (a.stage, a.answered) {
            (Stage::ThreeWay, Some(d)) => {
                // leave() turned the mix into a bridge of caller and department.
                self.close_attempt(TransferOutcome::Answered, TransferEndedBy::Operator, now_ms);
                self.phase = Phase::Connected { leg: d };
            }
            _ => {
                if let Some(t) = self.transfer.as_mut() {
                    t.operator = None;
                }
            }
        }
    }

    /// The department hung up during the three-way phase: operator and caller stay.
    fn department_left(&mut self, d: LegId, now_ms: i64, out: &mut Vec<Output>) {
        self.legs.set_state(d, LegState::Gone);
        self.legs.leave(d, out);
        self.release(d, out);
        self.close_attempt(
            TransferOutcome::Answered,
            TransferEndedBy::Department,
            now_ms,
        );
    }

    /// Record the attempt and forget it.
    fn close_attempt(&mut self, outcome: TransferOutcome, by: TransferEndedBy, now_ms: i64) {
        let Some(a) = self.transfer.take() else {
            return;
        };
        self.keys.buf.clear();
        self.transfers.push(TransferAttempt {
            target: a.dest.number.clone(),
            department: a.dest.department.clone(),
            started_at_ms: self.wall(a.started_ms),
            answered_at_ms: a.answered_ms.map(|t| self.wall(t)),
            ended_at_ms: self.wall(now_ms),
            outcome,
            answer_target_ms: Some(self.ring_limit_ms(&a.dest)),
            ended_by: Some(by),
            kind: Some(if a.by_refer {
                TransferKind::Blind
            } else {
                TransferKind::Keys
            }),
        });
    }
}
