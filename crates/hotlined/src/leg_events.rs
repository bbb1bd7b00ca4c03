//! A leg session's events as the call's inputs, and the end of a leg's I/O. Part of the call task's pump
//! (`call_task.rs`): which events matter and what they mean is `sip::session`'s and `call`'s business.

use crate::call_task::CallTask;
use call::{Input, LegId};
use media::sdp::Direction;
use sip::session::{SessionEvent, TerminationReason};
use tracing::info;

impl CallTask {
    pub(crate) fn on_session_event(
        &mut self,
        leg: LegId,
        ev: SessionEvent,
        now: i64,
    ) -> Option<Input> {
        let io = self.legs.iter_mut().find(|l| l.id == leg)?;
        Some(match ev {
            SessionEvent::Ringing { .. } => Input::LegRinging { leg },
            SessionEvent::Answered { sdp } => {
                info!(leg = leg.0, "answered");
                io.accept_answer(sdp.as_deref());
                Input::LegAnswered { leg }
            }
            SessionEvent::Failed { status } => {
                // Through a pool gateway the next one may take the same INVITE: the call sees nothing.
                if self.fail_over(leg, status, now) {
                    return None;
                }
                self.give_up(leg);
                Input::LegFailed { leg, status }
            }
            // A caller leg without negotiated media sent no offer: its ACK must answer ours (RFC 3264 §5);
            // without a usable answer the call has no audio and ends like one whose media died.
            SessionEvent::Confirmed { sdp } if io.media.is_some() && io.negotiated.is_none() => {
                if io.accept_ack_answer(sdp.as_deref()) {
                    Input::CallerAck
                } else {
                    Input::MediaTimeout { leg }
                }
            }
            SessionEvent::Confirmed { .. } => Input::CallerAck,
            SessionEvent::Cancelled => Input::CallerCancel,
            SessionEvent::Offer { key, sdp } => {
                let out = io.answer_offer(key, &sdp, now);
                // Hold (RFC 3264 §8.4: sendonly or inactive; RFC 2543's c=0.0.0.0) as the call's input
                // when it changes.
                let held = io.negotiated.as_ref().is_some_and(|n| {
                    matches!(n.direction, Direction::RecvOnly | Direction::Inactive)
                        || n.remote.ip().is_unspecified()
                });
                let changed = std::mem::replace(&mut io.held, held) != held;
                self.session_outputs(leg, out, now);
                if !changed {
                    return None;
                }
                info!(leg = leg.0, held, "hold");
                Input::LegHold { leg, held }
            }
            SessionEvent::OfferAnswered { .. } | SessionEvent::OfferRejected { .. } => return None,
            SessionEvent::Dtmf { digit } => Input::Dtmf { leg, digit },
            SessionEvent::Refer { key, target } => {
                info!(leg = leg.0, target, "REFER");
                io.refer_key = Some(key);
                Input::TransferRequest {
                    leg,
                    dialled: target,
                }
            }
            SessionEvent::AttendedRefer { key, replaces } => {
                info!(leg = leg.0, replaces = %replaces.call_id, "REFER with Replaces");
                (io.refer_key, io.replaces) = (Some(key), Some(replaces));
                Input::AttendedTransfer { leg }
            }
            SessionEvent::Terminated {
                reason: TerminationReason::AckTimeout,
            } => Input::AckTimeout,
            SessionEvent::Terminated { .. } => Input::LegHangup { leg },
        })
    }

    /// Every leg's RTCP figures for the record: the legs that ended before, then those still up.
    pub(crate) fn legs_quality(&mut self) -> Vec<record::LegQuality> {
        let mut all = std::mem::take(&mut self.quality);
        for io in &self.legs {
            if let Some(m) = &io.media {
                all.extend(crate::call_quality::leg_quality(io.id, m));
            }
        }
        all.sort_by_key(|q| q.leg);
        all
    }

    /// The call is done with a further leg: its port goes now, requests for it get 481 from the
    /// dispatcher; its INVITE transaction is still followed (a late 2xx gets ACK + BYE).
    pub(crate) fn give_up(&mut self, leg: LegId) {
        if leg == LegId::CALLER {
            return;
        }
        if let Some(io) = self.legs.iter_mut().find(|l| l.id == leg) {
            if let Some(m) = io.media.take() {
                self.quality
                    .extend(crate::call_quality::leg_quality(leg, &m));
            }
            io.trunk = None;
            self.env.calls.remove_call_id(io.session.call_id());
        }
    }
}
