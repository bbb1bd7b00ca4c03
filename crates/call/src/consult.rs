//! The consult call of an attended transfer (RFC 5589 §7), from the daemon's side. An operator's softphone
//! puts its caller on hold and calls a department itself: the daemon treats that INVITE as an internal call
//! to a transfer target of the plan (the same targets as `*2 N #`), never as a citizen's call. This call's
//! caller leg is the operator's consult INVITE ([`Plan::Consult`]). The department rings as in a transfer
//! attempt — a seat group rings all its free seats, the first answer wins — with the answer target
//! as its ring limit; the operator hears ringback as early media. When the department answers, operator and
//! department talk.
//!
//! When the softphone then REFERs its caller's call with a `Replaces` naming this call's dialog (RFC 3891),
//! that call asks for the department leg ([`Input::JoinRequest`]); this call gives it up whole — session and
//! media, never rung again — ([`Output::HandOver`], with the attempt for the caller's record) and hangs up
//! the operator's consult leg, as the target of a `Replaces` does (RFC 3891 §3). A consult that ends
//! otherwise (no answer in time, busy, the operator or the department hangs up) reports its attempt to the
//! caller's call ([`Output::ConsultEnded`]). A consult call writes no call record of its own.

use crate::legs::LegState;
use crate::transfer::{outcome_of, status_of};
use crate::{Call, Input, LegId, Output, Phase, Plan, Target, TimerKind, TransferDest};
use record::{TransferAttempt, TransferEndedBy, TransferKind, TransferOutcome};

/// The consult's one ring attempt (its timer and its ACD reservation carry this number).
const ATTEMPT: u32 = 1;

/// What a call hands another with a leg: who the leg is and the attempt that reached it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    pub target: Target,
    /// A seat the ACD counts as busy with this leg's call (released when the leg ends).
    pub acd: bool,
    /// The consult's attempt, complete (answered, ended now by the operator's transfer).
    pub attempt: TransferAttempt,
}

#[derive(Debug, Clone)]
pub(crate) struct Consult {
    /// The operator's seat (authenticated when its INVITE came).
    seat: String,
    dest: TransferDest,
    /// Department legs dialled and not yet answered or gone (several for a seat group).
    ringing: Vec<LegId>,
    /// Waiting for the ACD's list of the group's seats.
    reserving: bool,
    /// A seat group was reserved in the ACD: release what is left when done.
    group: bool,
    answered: Option<LegId>,
    started_ms: i64,
    answered_ms: Option<i64>,
    /// The department leg is on its way to the caller's call.
    handing_over: Option<LegId>,
}

impl Consult {
    pub(crate) fn for_plan(plan: &Plan, now_ms: i64) -> Option<Consult> {
        let Plan::Consult { seat, dest } = plan else {
            return None;
        };
        Some(Consult {
            seat: seat.clone(),
            dest: dest.clone(),
            ringing: Vec::new(),
            reserving: false,
            group: false,
            answered: None,
            started_ms: now_ms,
            answered_ms: None,
            handing_over: None,
        })
    }
}

impl Call {
    /// Ring the department (the plan's start for a consult call).
    pub(crate) fn start_consult(&mut self, out: &mut Vec<Output>) {
        let Some(c) = self.consult.clone() else {
            return;
        };
        self.phase = Phase::Consulting;
        if let Some(prompt) = self.policy.transfer.ringback.clone() {
            out.push(Output::Play {
                leg: LegId::CALLER,
                prompt,
                looped: true,
            });
        }
        let mut ringing = Vec::new();
        let mut reserving = false;
        match c.dest.target.clone() {
            Target::Group { group } => {
                reserving = true;
                out.push(Output::ReserveSeats {
                    attempt: ATTEMPT,
                    group,
                });
            }
            target => {
                let leg = self.legs.add(target.clone(), false);
                out.push(Output::Dial { leg, target });
                ringing.push(leg);
            }
        }
        out.push(Output::StartTimer {
            kind: TimerKind::Transfer { attempt: ATTEMPT },
            after_ms: self.ring_limit_ms(&c.dest) + 1,
        });
        if let Some(c) = self.consult.as_mut() {
            c.ringing = ringing;
            c.reserving = reserving;
            c.group = reserving;
        }
    }

    /// Every input of a consult call; true when it is one (then the rest of the machine stays out).
    pub(crate) fn consult_input(
        &mut self,
        input: &Input,
        now_ms: i64,
        out: &mut Vec<Output>,
    ) -> bool {
        let Some(c) = self.consult.clone() else {
            return false;
        };
        let operator = LegId::CALLER;
        match input {
            Input::GroupSeats { attempt, seats } => {
                if c.reserving && *attempt == ATTEMPT {
                    self.consult_ring_group(seats, now_ms, out);
                } else if !seats.is_empty() {
                    out.push(Output::ReleaseReserved);
                }
            }
            Input::LegRinging { leg } if c.ringing.contains(leg) => {
                self.legs.set_state(*leg, LegState::Ringing);
            }
            Input::LegAnswered { leg } if c.ringing.contains(leg) => {
                self.consult_answered(*leg, now_ms, out);
            }
            Input::LegFailed { leg, status } if c.ringing.contains(leg) => {
                self.legs.set_state(*leg, LegState::Gone);
                let left: Vec<LegId> = c.ringing.iter().copied().filter(|l| l != leg).collect();
                if let Some(c) = self.consult.as_mut() {
                    c.ringing.clone_from(&left);
                }
                if left.is_empty() && !c.reserving {
                    let outcome = outcome_of(*status);
                    self.consult_failed(outcome, TransferEndedBy::Department, now_ms, out);
                }
            }
            Input::Timer(TimerKind::Transfer { attempt: ATTEMPT }) if c.answered.is_none() => {
                self.consult_failed(
                    TransferOutcome::NoAnswer,
                    TransferEndedBy::Timer,
                    now_ms,
                    out,
                );
            }
            Input::LegHangup { leg } | Input::MediaTimeout { leg }
                if Some(*leg) == c.answered && *leg != operator =>
            {
                // The department hung up: the consult is over, the operator is back with its caller.
                self.legs.set_state(*leg, LegState::Gone);
                self.legs.leave(*leg, out);
                self.consult_release(*leg, out);
                self.end_caller(487, "Request Terminated", out);
                let attempt = self.consult_attempt(
                    &c,
                    TransferOutcome::Answered,
                    TransferEndedBy::Department,
                    now_ms,
                );
                self.end_consult(Some(attempt), out);
            }
            // Too late to cancel: our 200 went out, the operator will BYE.
            Input::CallerCancel if self.caller_answered => {}
            Input::LegHangup { leg: LegId::CALLER }
            | Input::MediaTimeout { leg: LegId::CALLER }
            | Input::CallerCancel
            | Input::AckTimeout => {
                // The operator hung up the consult (or its leg died): the department goes too.
                match input {
                    Input::CallerCancel => out.push(Output::Reject {
                        status: 487,
                        reason: "Request Terminated".into(),
                    }),
                    Input::MediaTimeout { .. } | Input::AckTimeout => {
                        self.end_caller(500, "Media Failure", out)
                    }
                    _ => {}
                }
                self.legs.set_state(operator, LegState::Gone);
                let outcome = match c.answered {
                    Some(d) => {
                        self.end_leg(d, out);
                        self.consult_release(d, out);
                        TransferOutcome::Answered
                    }
                    None => TransferOutcome::Cancelled,
                };
                let attempt = self.consult_attempt(&c, outcome, TransferEndedBy::Operator, now_ms);
                self.end_consult(Some(attempt), out);
            }
            Input::JoinRequest { leg, seat } => self.join_request(*leg, seat, now_ms, out),
            Input::HandOverDone { leg, delivered } if c.handing_over == Some(*leg) => {
                if let Some(c) = self.consult.as_mut() {
                    c.handing_over = None;
                }
                if *delivered {
                    // The leg lives in the other call now: forget it without a word to it.
                    self.legs.set_state(*leg, LegState::Gone);
                    if let Some(c) = self.consult.as_mut() {
                        c.answered = None;
                    }
                    // RFC 3891 §3: the replaced dialog ends with our BYE.
                    self.end_caller(487, "Request Terminated", out);
                    self.end_consult(None, out);
                } else {
                    // The caller's call is gone meanwhile: operator and department go on talking.
                    self.legs.connect(&[operator, *leg], out);
                }
            }
            // Keys, prompts, late events of legs given up: nothing for a consult.
            _ => {}
        }
        true
    }

    /// Another call (its operator REFERred it with Replaces naming `leg`'s dialog) asks for the department.
    fn join_request(&mut self, leg: LegId, seat: &str, now_ms: i64, out: &mut Vec<Output>) {
        let Some(c) = self.consult.clone() else {
            return;
        };
        let status = if c.handing_over.is_some() {
            491
        } else if leg != LegId::CALLER {
            // Only the operator's dialog stands for this consult; a department leg's is nobody's to replace.
            481
        } else if seat != c.seat {
            // RFC 3891 §3: only the user of the replaced dialog may replace it.
            403
        } else {
            match c.answered {
                Some(d) if self.legs.state(d) == Some(LegState::Answered) => {
                    self.legs.leave(d, out);
                    let handover = Handover {
                        target: self
                            .legs
                            .get(d)
                            .and_then(|l| l.target.clone())
                            .unwrap_or(c.dest.target.clone()),
                        acd: self.legs.get(d).is_some_and(|l| l.acd),
                        attempt: self.consult_attempt(
                            &c,
                            TransferOutcome::Answered,
                            TransferEndedBy::Operator,
                            now_ms,
                        ),
                    };
                    if let Some(c) = self.consult.as_mut() {
                        c.handing_over = Some(d);
                    }
                    out.push(Output::HandOver {
                        leg: d,
                        handover: Box::new(handover),
                    });
                    return;
                }
                // Still ringing: there is no department dialog to hand over yet. Refused like the early
                // dialog it still is for the operator (RFC 3891 §3), so the softphone keeps both calls and
                // the operator can transfer once the department answers; ringing the department on the
                // caller's behalf instead would restart its answer clock and ring it twice.
                _ => 481,
            }
        };
        out.push(Output::JoinRefused { status });
    }

    fn consult_ring_group(&mut self, seats: &[String], now_ms: i64, out: &mut Vec<Output>) {
        let legs = self.dial_seats(seats, out);
        if let Some(c) = self.consult.as_mut() {
            c.reserving = false;
            c.ringing = legs;
        }
        if seats.is_empty() {
            // Nobody of the department is there to answer.
            self.consult_failed(
                TransferOutcome::Failed { status: 480 },
                TransferEndedBy::Department,
                now_ms,
                out,
            );
        }
    }

    fn consult_answered(&mut self, leg: LegId, now_ms: i64, out: &mut Vec<Output>) {
        let Some(c) = self.consult.clone() else {
            return;
        };
        if !self.take_answer(leg, c.started_ms, &c.dest, &c.ringing, c.group, now_ms, out) {
            // Too late (its timer is due): hung up, the consult fails as unanswered.
            self.consult_failed(
                TransferOutcome::NoAnswer,
                TransferEndedBy::Timer,
                now_ms,
                out,
            );
            return;
        }
        out.push(Output::StopPlaying { leg: LegId::CALLER });
        self.answer_caller(now_ms, out);
        self.legs.connect(&[LegId::CALLER, leg], out);
        if let Some(c) = self.consult.as_mut() {
            c.ringing.clear();
            c.answered = Some(leg);
            c.answered_ms = Some(now_ms);
        }
        self.phase = Phase::Connected { leg };
    }

    /// Not answered in time, busy, refused or failed: the operator's consult INVITE gets the status.
    fn consult_failed(
        &mut self,
        outcome: TransferOutcome,
        by: TransferEndedBy,
        now_ms: i64,
        out: &mut Vec<Output>,
    ) {
        let Some(c) = self.consult.clone() else {
            return;
        };
        for leg in &c.ringing {
            self.end_leg(*leg, out);
        }
        if c.group {
            out.push(Output::ReleaseReserved);
        }
        out.push(Output::StopPlaying { leg: LegId::CALLER });
        let status = status_of(outcome);
        self.end_caller(status, "Department Unavailable", out);
        let attempt = self.consult_attempt(&c, outcome, by, now_ms);
        self.end_consult(Some(attempt), out);
    }

    /// A department seat of a group is free again (transfers ring seats outside their queue's offers).
    fn consult_release(&mut self, leg: LegId, out: &mut Vec<Output>) {
        if self.legs.get(leg).is_some_and(|l| l.acd) {
            if let Some(seat) = self.seat_of(leg) {
                out.push(Output::SeatReleased { seat });
            }
        }
    }

    fn consult_attempt(
        &self,
        c: &Consult,
        outcome: TransferOutcome,
        by: TransferEndedBy,
        now_ms: i64,
    ) -> TransferAttempt {
        TransferAttempt {
            target: c.dest.number.clone(),
            department: c.dest.department.clone(),
            started_at_ms: self.wall(c.started_ms),
            answered_at_ms: c.answered_ms.map(|t| self.wall(t)),
            ended_at_ms: self.wall(now_ms),
            outcome,
            answer_target_ms: Some(self.ring_limit_ms(&c.dest)),
            ended_by: Some(by),
            kind: Some(TransferKind::Attended),
        }
    }

    /// The consult is over: every leg still up goes, and its attempt (unless it went with the department's
    /// leg) goes to the caller's call.
    fn end_consult(&mut self, attempt: Option<TransferAttempt>, out: &mut Vec<Output>) {
        let rest: Vec<LegId> = self
            .legs
            .iter()
            .filter(|(id, l)| *id != LegId::CALLER && l.state != LegState::Gone)
            .map(|(id, _)| id)
            .collect();
        for leg in rest {
            self.end_leg(leg, out);
        }
        self.legs.set_state(LegId::CALLER, LegState::Gone);
        self.legs.clear_topology();
        self.phase = Phase::Ended;
        self.consult = None;
        out.push(Output::ConsultEnded {
            attempt: attempt.map(Box::new),
        });
    }
}
