//! Attended transfer, the caller's side (RFC 5589 §7). The operator's softphone has put this call on hold
//! and talked with the department on a consult call of its own ([`crate::Plan::Consult`], another call);
//! now it REFERs this call with a `Replaces` naming that consult dialog ([`Input::AttendedTransfer`]).
//! The call answers 202 and claims the department's leg ([`Output::ClaimLeg`]): the shell asks the consult
//! call for it and moves it here, session and media, so the department is not rung again. When it arrives
//! ([`Input::LegAdopted`]) caller and department are bridged, the operator gets NOTIFY 200 and our BYE, and
//! the consult's attempt (kind attended) joins the record. A claim the consult refuses
//! ([`Input::ClaimFailed`]: no such dialog, not answered yet, another seat's…) is reported in the final
//! NOTIFY and the caller stays with the operator. Consults that end without a join still land in this
//! record ([`Input::ConsultAttempt`]).

use crate::legs::LegState;
use crate::{Call, EndReason, Handover, Input, LegId, Output, Phase};

/// A claim in flight: the leg it will be here, and the operator who asked (None once it hung up).
#[derive(Debug, Clone)]
pub(crate) struct Join {
    leg: LegId,
    operator: Option<LegId>,
}

impl Call {
    /// The attended transfer's share of an input; true when it consumed the input.
    pub(crate) fn attended_input(
        &mut self,
        input: &Input,
        now_ms: i64,
        out: &mut Vec<Output>,
    ) -> bool {
        match input {
            Input::AttendedTransfer { leg } => self.attended_transfer(*leg, out),
            Input::LegAdopted { leg, handover } => self.adopt(*leg, handover, out),
            Input::ClaimFailed { leg, status } => self.claim_failed(*leg, *status, now_ms, out),
            Input::ConsultAttempt { attempt } => self.transfers.push((**attempt).clone()),
            // Only a consult call gives its legs away.
            Input::JoinRequest { .. } => out.push(Output::JoinRefused { status: 403 }),
            Input::HandOverDone { .. } => {}
            Input::LegHold { leg, held } => self.operator_hold(*leg, *held, out),
            _ => {
                let Some(j) = self.join.clone() else {
                    return false;
                };
                match input {
                    Input::TransferRequest { leg, .. } => {
                        out.push(Output::ReferReply {
                            leg: *leg,
                            status: 491,
                        });
                    }
                    // The operator's keys wait until the join is done.
                    Input::Dtmf { leg, digit } if Some(*leg) == j.operator => {
                        if let Some(l) = self.legs.get_mut(*leg) {
                            l.dtmf.push(*digit);
                        }
                    }
                    Input::LegHangup { leg } | Input::MediaTimeout { leg }
                        if Some(*leg) == j.operator =>
                    {
                        // The softphone hung up first: the department still comes, the caller waits for it.
                        self.legs.leave(*leg, out);
                        if matches!(input, Input::MediaTimeout { .. }) {
                            self.end_leg(*leg, out);
                        }
                        self.legs.set_state(*leg, LegState::Gone);
                        self.release(*leg, out);
                        if let Some(j) = self.join.as_mut() {
                            j.operator = None;
                        }
                        if let Some(prompt) = self.policy.transfer.caller_prompt.clone() {
                            out.push(Output::Play {
                                leg: LegId::CALLER,
                                prompt,
                                looped: true,
                            });
                        }
                    }
                    Input::LegHangup { leg: LegId::CALLER }
                    | Input::MediaTimeout { leg: LegId::CALLER }
                    | Input::AckTimeout
                        if j.operator.is_none() =>
                    {
                        // Caller and operator are both gone: the claimed leg is hung up when it comes.
                        let reason = if matches!(input, Input::LegHangup { .. }) {
                            EndReason::CallerHangup
                        } else {
                            out.push(Output::Hangup { leg: LegId::CALLER });
                            EndReason::Failed
                        };
                        self.join = None;
                        self.finish(reason, now_ms, out);
                    }
                    _ => return false,
                }
            }
        }
        true
    }

    /// The operator's softphone holds the caller (as it does before its consult call): the caller hears
    /// the hold prompt rather than silence until the operator takes it back (R-05: never in silence).
    /// Other phases (a transfer, a join) play what they play already.
    fn operator_hold(&mut self, leg: LegId, held: bool, out: &mut Vec<Output>) {
        if self.transfer.is_some() || self.join.is_some() || !self.is_operator(leg) {
            return;
        }
        if held {
            self.legs.leave(LegId::CALLER, out);
            if let Some(prompt) = self.policy.hold.clone() {
                out.push(Output::Play {
                    leg: LegId::CALLER,
                    prompt,
                    looped: true,
                });
            }
        } else {
            out.push(Output::StopPlaying { leg: LegId::CALLER });
            self.legs.connect(&[LegId::CALLER, leg], out);
        }
    }

    /// A REFER with Replaces from `leg`: 202 and a claim, or 403 (not the operator), 491 (one at a time).
    fn attended_transfer(&mut self, leg: LegId, out: &mut Vec<Output>) {
        let seat = self.seat_of(leg);
        let status = match seat {
            Some(_) if !self.is_operator(leg) => 403,
            None => 403,
            Some(_) if self.transfer.is_some() || self.join.is_some() => 491,
            Some(seat) => {
                out.push(Output::ReferReply { leg, status: 202 });
                let claimed = self.legs.add_pending();
                self.join = Some(Join {
                    leg: claimed,
                    operator: Some(leg),
                });
                out.push(Output::ClaimLeg {
                    from: leg,
                    leg: claimed,
                    seat,
                });
                return;
            }
        };
        out.push(Output::ReferReply { leg, status });
    }

    /// The department's leg arrived from the consult call: bridge it with the caller, let the operator go.
    fn adopt(&mut self, leg: LegId, handover: &Handover, out: &mut Vec<Output>) {
        let Some(j) = self.join.clone().filter(|j| j.leg == leg) else {
            // Nobody here asked for it (any more): it is hung up.
            out.push(Output::Hangup { leg });
            return;
        };
        self.join = None;
        if let Some(l) = self.legs.get_mut(leg) {
            l.target = Some(handover.target.clone());
            l.acd = handover.acd;
            l.state = LegState::Answered;
        }
        out.push(Output::StopPlaying { leg: LegId::CALLER });
        self.legs.connect(&[LegId::CALLER, leg], out);
        if handover.acd {
            // The ACD counts the department seat busy with this call from now on.
            if let Some(seat) = self.seat_of(leg) {
                out.push(Output::SeatTaken { seat });
            }
        }
        if let Some(op) = j.operator {
            // RFC 3515 §2.4.5: the transfer succeeded; then the operator's leg ends (RFC 5589 §7).
            out.push(Output::TransferNotify {
                leg: op,
                status: 200,
            });
            self.end_leg(op, out);
            self.release(op, out);
        }
        self.transfers.push(handover.attempt.clone());
        self.phase = Phase::Connected { leg };
    }

    /// The consult refused (or could not be reached): the operator hears why and keeps its caller.
    fn claim_failed(&mut self, leg: LegId, status: u16, now_ms: i64, out: &mut Vec<Output>) {
        let Some(j) = self.join.clone().filter(|j| j.leg == leg) else {
            return;
        };
        self.join = None;
        self.legs.set_state(leg, LegState::Gone);
        match j.operator {
            Some(op) => out.push(Output::TransferNotify { leg: op, status }),
            None => {
                // The operator is gone too: the caller waits again, first in line (never dropped).
                out.push(Output::StopPlaying { leg: LegId::CALLER });
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
}
