//! What reaches a call task from the other tasks, and the attended transfer's hand-over of a leg between
//! two call tasks. The rules are the cores': `call` decides who claims, gives up and adopts a leg,
//! `sip::session` which dialog a `Replaces` may take over (RFC 3891 §3). This file only moves the claim,
//! the refusal and the leg itself — its session, RTP port, transactions and session timers — through the
//! registry's mailboxes, and re-points the leg's Call-ID at its new call.

use crate::call_task::CallTask;
use crate::legs::LegIo;
use crate::mailbox::{CallMsg, HandedLeg};
use crate::respond::reply;
use crate::timers::TimerId;
use acd::CallKey;
use call::{Handover, Input, LegId, Output, TransferAttempt};
use sip::endpoint::Incoming;
use sip::session::reason_phrase;
use sip::Replaces;
use tracing::{info, warn};

impl CallTask {
    pub(crate) fn on_msg(&mut self, msg: CallMsg, now: i64) {
        match msg {
            CallMsg::Sip(inc) => self.on_sip(*inc, now),
            CallMsg::Acd(input) => {
                info!(from = "acd", ?input);
                self.pending.push_back(input)
            }
            CallMsg::Tickets(input) => self.pending.push_back(input),
            CallMsg::AckTimeout => {
                let out = self.legs[0].session.on_ack_timeout(now);
                self.session_outputs(LegId::CALLER, out, now);
            }
            CallMsg::Join {
                from,
                leg,
                seat,
                replaces,
            } => self.on_join(from, leg, seat, &replaces),
            CallMsg::JoinRefused { leg, status } => {
                info!(
                    leg = leg.0,
                    status, "attended transfer: the consult refused the join"
                );
                self.pending.push_back(Input::ClaimFailed { leg, status })
            }
            CallMsg::Adopt(handed) => self.adopt(*handed),
            CallMsg::ConsultAttempt(attempt) => {
                self.pending.push_back(Input::ConsultAttempt { attempt })
            }
            CallMsg::Replacing(inc) => self.on_replacing(&inc),
        }
    }

    /// A request for one of this call's Call-IDs.
    fn on_sip(&mut self, inc: Incoming, now: i64) {
        let Some(io) = self
            .legs
            .iter_mut()
            .find(|l| l.session.call_id() == inc.msg.call_id())
        else {
            // The leg moved to another call after the dispatcher looked it up: pass the request on.
            let inc = match self.env.calls.owner_of(inc.msg.call_id()) {
                Some(owner) if owner != self.key => {
                    match self.env.calls.send(owner, CallMsg::Sip(Box::new(inc))) {
                        Ok(()) => return,
                        Err(CallMsg::Sip(inc)) => *inc,
                        Err(_) => return,
                    }
                }
                _ => inc,
            };
            return reply(&inc.tx, &inc.msg, 481, reason_phrase(481), &[]);
        };
        let id = io.id;
        let out = io.on_request(&inc.msg, inc.tx, now);
        self.session_outputs(id, out, now);
    }

    /// A new INVITE names one of our dialogs in `Replaces`. Answered correctly (RFC 3891 §3: 481 no such
    /// dialog, 481 early, 486 early-only, 603 ended), but a replacement from outside is not served: 403.
    fn on_replacing(&self, inc: &Incoming) {
        let status = match inc.msg.header("replaces").map(Replaces::parse) {
            Some(Ok(r)) => match self.legs.iter().find(|l| l.session.call_id() == r.call_id) {
                Some(l) => l.session.replaceable_by(&r).err().unwrap_or(403),
                None => 481,
            },
            _ => 400,
        };
        info!(status, "INVITE with Replaces for this call");
        reply(&inc.tx, &inc.msg, status, reason_phrase(status), &[]);
    }

    /// Note which seat talks in this call, so its softphone's consult call finds the call it is for.
    pub(crate) fn note_seat(&self, out: &Output) {
        match out {
            Output::SeatAnswered { seat, .. } | Output::SeatTaken { seat } => {
                self.env.calls.serve(seat, self.key)
            }
            Output::SeatReleased { seat } => self.env.calls.unserve(seat, self.key),
            _ => {}
        }
    }

    /// `ClaimLeg`: ask the call that owns the dialog `from`'s REFER named for its department leg.
    pub(crate) fn claim(&mut self, from: LegId, leg: LegId, seat: String) {
        let replaces = self.leg(from).and_then(|io| io.replaces.take());
        let status = match replaces {
            None => Some(481),
            Some(r) => match self.env.calls.owner_of(&r.call_id) {
                None => Some(481),
                // A dialog of this very call: there is nothing to join it with.
                Some(owner) if owner == self.key => Some(403),
                Some(owner) => {
                    info!(consult = %r.call_id, "attended transfer: claiming the department leg");
                    let msg = CallMsg::Join {
                        from: self.key,
                        leg,
                        seat,
                        replaces: r,
                    };
                    self.env.calls.send(owner, msg).err().map(|_| 481)
                }
            },
        };
        if let Some(status) = status {
            self.pending.push_back(Input::ClaimFailed { leg, status });
        }
    }

    /// Another call claims a leg of ours: the SIP layer says whether the dialog may be replaced, the
    /// call whether it gives the leg up.
    fn on_join(&mut self, from: CallKey, leg: LegId, seat: String, r: &Replaces) {
        let found = self
            .legs
            .iter()
            .find(|l| l.session.call_id() == r.call_id)
            .map(|l| (l.id, l.session.replaceable_by(r)));
        match found {
            Some((ours, Ok(()))) => {
                self.joins.push_back((from, leg));
                self.pending
                    .push_back(Input::JoinRequest { leg: ours, seat });
            }
            Some((_, Err(status))) => self.send_refusal(from, leg, status),
            None => self.send_refusal(from, leg, 481),
        }
    }

    fn send_refusal(&self, to: CallKey, leg: LegId, status: u16) {
        let _ = self
            .env
            .calls
            .send(to, CallMsg::JoinRefused { leg, status });
    }

    /// `JoinRefused`: the oldest join request waiting gets the refusal.
    pub(crate) fn refuse_join(&mut self, status: u16) {
        if let Some((to, leg)) = self.joins.pop_front() {
            self.send_refusal(to, leg, status);
        }
    }

    /// `HandOver`: the leg goes, whole, to the call that claimed it; the core hears whether it arrived.
    pub(crate) fn hand_over(&mut self, leg: LegId, handover: Handover) {
        let delivered = match (
            self.joins.pop_front(),
            self.legs.iter().position(|l| l.id == leg),
        ) {
            (Some((to, as_leg)), Some(pos)) => {
                let io = self.legs.remove(pos);
                let call_id = io.session.call_id().to_string();
                let timers = self.timers.take_leg(leg);
                let handed = HandedLeg {
                    leg: as_leg,
                    handover,
                    parts: io.into_parts(timers),
                };
                match self.env.calls.send(to, CallMsg::Adopt(Box::new(handed))) {
                    Ok(()) => {
                        // After the send: requests for the leg now queue behind the leg itself.
                        self.env.calls.add_call_id(to, &call_id);
                        info!(
                            leg = leg.0,
                            to, "attended transfer: department leg handed over"
                        );
                        true
                    }
                    Err(CallMsg::Adopt(back)) => {
                        let (io, timers) = LegIo::from_parts(leg, back.parts);
                        for (at, t) in timers {
                            self.timers.push(at, TimerId::Session(leg, t));
                        }
                        self.legs.insert(pos, io);
                        false
                    }
                    Err(_) => false,
                }
            }
            _ => false,
        };
        self.pending
            .push_back(Input::HandOverDone { leg, delivered });
    }

    /// A leg another call handed over arrives as our `leg`.
    fn adopt(&mut self, handed: HandedLeg) {
        let HandedLeg {
            leg,
            handover,
            parts,
        } = handed;
        let (io, timers) = LegIo::from_parts(leg, parts);
        if !self.closed {
            self.env.calls.add_call_id(self.key, io.session.call_id());
        }
        for (at, t) in timers {
            self.timers.push(at, TimerId::Session(leg, t));
        }
        self.legs.push(io);
        self.pending.push_back(Input::LegAdopted {
            leg,
            handover: Box::new(handover),
        });
    }

    /// `ConsultEnded`: a consult's attempt goes to the call its operator talks in.
    pub(crate) fn consult_ended(&mut self, attempt: Option<Box<TransferAttempt>>) {
        let Some(attempt) = attempt else { return };
        let sent = self.parent.is_some_and(|p| {
            self.env
                .calls
                .send(p, CallMsg::ConsultAttempt(attempt))
                .is_ok()
        });
        if !sent {
            warn!("consult ended after the caller's call: its attempt is not recorded");
        }
    }
}
