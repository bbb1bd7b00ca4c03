//! Reliable provisional responses (RFC 3262) both ways, and the offer/answer they carry.
//!
//! UAS: a provisional goes out reliably (`Require: 100rel`, `RSeq`) when the INVITE requires
//! 100rel, or — "when it helps" — when it carries SDP and the INVITE supports 100rel (the early
//! answer then counts, and UPDATE can renegotiate early media). It is resent at T1, 2·T1, … until
//! its PRACK (§3), and after 64·T1 without one the INVITE gets 500 and the session ends. One is in
//! flight at a time: later provisionals wait for the PRACK, and so does a 2xx while the unacked one
//! carries SDP (§3). A PRACK matching nothing gets 481 (§3); one with a body is the answer to our
//! offer in the provisional, or a new offer for the TU (§5).
//!
//! UAC: a reliable provisional is PRACKed on its early dialog (§4) once; a retransmission or one
//! out of RSeq order is not reported or PRACKed again. Its answer is the one the 2xx's `Answered`
//! carries, and its early dialog's CSeq space goes on into the confirmed dialog (§12.1.2).

use std::collections::VecDeque;

use super::{
    reason_phrase, sdp_of, InviteSession, Purpose, ReqKey, Role, SessionEvent, SessionOutput,
    SessionTimer, TerminationReason,
};
use crate::capabilities::{requires, supports};
use crate::dialog::Dialog;
use crate::{Method, SipMessage};

/// RFC 3262 state of one session (both roles).
#[derive(Debug, Default)]
pub(super) struct Rel {
    // UAS
    /// The INVITE listed 100rel in Supported or Require / in Require.
    peer_supports: bool,
    peer_requires: bool,
    /// RSeq of our next reliable provisional (§3: random start in 1..2^31-1, then +1).
    next_rseq: u32,
    /// The reliable provisional waiting for its PRACK.
    unacked: Option<Unacked>,
    /// Provisionals the TU sent while one was unacked: (status, reason, sdp).
    queue: VecDeque<(u16, String, Option<String>)>,
    /// `answer()` while the unacked provisional carries SDP: the 2xx waits for its PRACK (§3).
    deferred_answer: Option<String>,
    /// The initial offer/answer completed early: our answer went in a reliable provisional, or the
    /// PRACK answered our offer. The 2xx then carries no SDP (RFC 3261 §13.2.1: the UAC ignores it).
    pub(super) early_oa_done: bool,
    /// Our offer went in a reliable provisional (offerless INVITE); its answer is due in the PRACK.
    pub(super) our_offer_pending: bool,
    // UAC
    /// Early dialogs that sent reliable provisionals, one per To tag.
    early: Vec<EarlyDialog>,
}

#[derive(Debug)]
struct Unacked {
    rseq: u32,
    response: SipMessage,
    has_sdp: bool,
    /// Time since it was first sent, as the sum of the retransmission intervals so far.
    elapsed_ms: i64,
    interval_ms: i64,
}

#[derive(Debug)]
struct EarlyDialog {
    dialog: Dialog,
    last_rseq: u32,
    /// The answer to our INVITE's offer, from the first reliable provisional that had SDP.
    answer: Option<String>,
}

/// `RAck: <rseq> <cseq> <method>` (RFC 3262 §7.2).
fn rack_of(req: &SipMessage) -> Option<(u32, u32, &str)> {
    let mut it = req.header("rack")?.split_ascii_whitespace();
    let rseq = it.next()?.parse().ok()?;
    let cseq = it.next()?.parse().ok()?;
    let method = it.next()?;
    it.next().is_none().then_some((rseq, cseq, method))
}

impl InviteSession {
    /// UAS: read the INVITE's 100rel wishes and pick the first RSeq.
    pub(super) fn rel_init_uas(&mut self) {
        self.rel.peer_supports = supports(&self.invite, "100rel");
        self.rel.peer_requires = requires(&self.invite, "100rel");
        // §3: between 1 and 2^31 - 1; below 2^30 leaves room to count up.
        self.rel.next_rseq = 1 + (self.random() % (1 << 30)) as u32;
    }

    /// UAS: does this provisional go out reliably?
    pub(super) fn rel_wanted(&self, sdp: Option<&str>) -> bool {
        self.rel.peer_requires || (self.cfg.use_100rel && self.rel.peer_supports && sdp.is_some())
    }

    /// UAS: send (or queue) a reliable provisional.
    pub(super) fn reliable_provisional(
        &mut self,
        status: u16,
        reason: &str,
        sdp: Option<&str>,
        out: &mut Vec<SessionOutput>,
    ) {
        if self.rel.unacked.is_some() {
            // §3: no second reliable provisional before the first is PRACKed.
            self.rel
                .queue
                .push_back((status, reason.to_owned(), sdp.map(str::to_owned)));
            return;
        }
        let rseq = self.rel.next_rseq;
        let mut b = self
            .invite
            .response(status, reason)
            .to_tag(&self.local_tag)
            .header("Contact", &self.cfg.contact)
            .header("Require", "100rel")
            .header("RSeq", &rseq.to_string());
        // Only the first description counts (§13.2.1); once offer/answer is done, none again.
        let body = sdp.filter(|_| !self.rel.early_oa_done && !self.rel.our_offer_pending);
        if let Some(sdp) = body {
            b = b.body("application/sdp", sdp.as_bytes());
        }
        let Ok(response) = b.try_build_message() else {
            return self.drop_input("built an unparsable provisional");
        };
        if let Some(sdp) = body {
            if sdp_of(&self.invite).is_some() {
                self.rel.early_oa_done = true; // our answer, sent reliably
            } else {
                self.rel.our_offer_pending = true; // our offer; the PRACK answers it (§5)
            }
            self.local_sdp = Some(sdp.to_owned());
        }
        self.rel.next_rseq = rseq.wrapping_add(1);
        let t1 = self.cfg.t1_ms.max(1);
        self.rel.unacked = Some(Unacked {
            rseq,
            response: response.clone(),
            has_sdp: body.is_some(),
            elapsed_ms: 0,
            interval_ms: t1,
        });
        out.push(SessionOutput::Respond {
            key: self.invite_key,
            response,
        });
        out.push(SessionOutput::StartTimer {
            timer: SessionTimer::Reliable { rseq },
            after_ms: t1,
        });
        self.early = true;
    }

    /// UAS `answer()`: false when the 2xx must wait for a PRACK (§3: the unacked provisional has
    /// SDP); otherwise retransmissions of an unacked one stop (§3: SHOULD NOT continue).
    pub(super) fn rel_may_answer(&mut self, sdp: &str) -> bool {
        if self.rel.unacked.as_ref().is_some_and(|u| u.has_sdp) {
            self.rel.deferred_answer = Some(sdp.to_owned());
            return false;
        }
        self.rel_stop_uas();
        true
    }

    /// UAS: a final response went out (or the session ended): nothing more to resend or send.
    pub(super) fn rel_stop_uas(&mut self) {
        self.rel.unacked = None;
        self.rel.queue.clear();
        self.rel.deferred_answer = None;
    }

    /// UAS: a 2xx the TU asked for and a PRACK held back (§3), if any. Taken.
    pub(super) fn rel_take_deferred(&mut self) -> Option<String> {
        self.rel.deferred_answer.take()
    }

    /// `Reliable { rseq }` fired: resend at doubling intervals; after 64·T1, 500 (§3).
    pub(super) fn on_reliable_timer(&mut self, rseq: u32, out: &mut Vec<SessionOutput>) {
        let limit = 64 * self.cfg.t1_ms.max(1);
        let Some(u) = self.rel.unacked.as_mut().filter(|u| u.rseq == rseq) else {
            return; // PRACKed meanwhile: stale
        };
        u.elapsed_ms += u.interval_ms;
        if u.elapsed_ms >= limit {
            self.rel_stop_uas();
            if !self.final_sent {
                // §3: SHOULD reject the original request with a 5xx.
                let b = self
                    .invite
                    .response(500, "Reliable Provisional Not Acknowledged")
                    .to_tag(&self.local_tag);
                let key = self.invite_key;
                self.respond(out, key, b);
                self.final_sent = true;
                self.terminate(out, Some(TerminationReason::PrackTimeout));
            }
            return;
        }
        u.interval_ms = (u.interval_ms * 2).min(limit - u.elapsed_ms);
        let (response, after_ms) = (u.response.clone(), u.interval_ms);
        out.push(SessionOutput::Respond {
            key: self.invite_key,
            response,
        });
        out.push(SessionOutput::StartTimer {
            timer: SessionTimer::Reliable { rseq },
            after_ms,
        });
    }

    /// A PRACK (already checked to be in our dialog with a fresh CSeq).
    pub(super) fn on_prack(
        &mut self,
        key: ReqKey,
        req: &SipMessage,
        out: &mut Vec<SessionOutput>,
        now_ms: i64,
    ) {
        let invite_cseq = self.invite.cseq().seq;
        let matched = self.role == Role::Uas
            && match (rack_of(req), &self.rel.unacked) {
                (Some((rseq, cseq, method)), Some(u)) => {
                    rseq == u.rseq && cseq == invite_cseq && method == "INVITE"
                }
                _ => false,
            };
        if !matched {
            // §3: a PRACK that matches no unacknowledged reliable provisional.
            return self.respond_status(out, key, req, 481);
        }
        let had_sdp = self.rel.unacked.take().is_some_and(|u| u.has_sdp);
        match sdp_of(req) {
            Some(sdp) if had_sdp && self.rel.our_offer_pending => {
                // §5: the PRACK answers the offer in our provisional.
                self.rel.our_offer_pending = false;
                self.rel.early_oa_done = true;
                self.respond_status(out, key, req, 200);
                self.emit(out, SessionEvent::OfferAnswered { sdp: Some(sdp) });
            }
            Some(sdp) if self.rel.early_oa_done && self.pending_in.is_empty() => {
                // §5: a new offer in the PRACK; the TU's answer goes in its 200.
                self.pending_in.insert(key, req.clone());
                self.emit(out, SessionEvent::Offer { key, sdp });
            }
            Some(_) => {
                // RFC 3311 §5.2 rules apply to offers in PRACK too: an offer still unanswered.
                let retry = (self.random() % 10).to_string();
                let b = req
                    .response(500, reason_phrase(500))
                    .header("Retry-After", &retry);
                self.respond(out, key, b);
            }
            None => self.respond_status(out, key, req, 200),
        }
        if self.final_sent {
            return;
        }
        if let Some(sdp) = self.rel_take_deferred() {
            self.rel.queue.clear(); // the final supersedes provisionals still waiting
            out.extend(self.answer(&sdp, now_ms));
        } else if let Some((status, reason, sdp)) = self.rel.queue.pop_front() {
            out.extend(self.provisional(status, &reason, sdp.as_deref()));
        }
    }

    /// UAC: a provisional with `Require: 100rel`. PRACKs it on its early dialog; false when it is a
    /// retransmission or out of order and must not reach the TU (§4).
    pub(super) fn on_reliable_provisional(
        &mut self,
        resp: &SipMessage,
        out: &mut Vec<SessionOutput>,
    ) -> bool {
        let rseq = resp
            .header("rseq")
            .and_then(|v| v.trim().parse::<u32>().ok());
        let (Some(rseq), Some(tag)) = (rseq, resp.to().tag()) else {
            self.drop_input("reliable provisional without RSeq or To tag");
            return true; // still a provisional: report it as an unreliable one
        };
        let idx = match self
            .rel
            .early
            .iter()
            .position(|e| e.dialog.remote_tag == tag)
        {
            Some(i) => {
                let last = self.rel.early[i].last_rseq;
                if rseq != last.wrapping_add(1) {
                    // §4: a retransmission (already PRACKed; the PRACK's transaction resends it)
                    // or out of order: neither PRACKed nor processed.
                    return false;
                }
                self.rel.early[i].last_rseq = rseq;
                i
            }
            None => match Dialog::uac(&self.invite, resp) {
                Ok(dialog) => {
                    self.rel.early.push(EarlyDialog {
                        dialog,
                        last_rseq: rseq,
                        answer: None,
                    });
                    self.rel.early.len() - 1
                }
                Err(_) => {
                    self.drop_input("reliable provisional without a usable early dialog");
                    return true;
                }
            },
        };
        let offered = self.local_sdp.is_some();
        let via = self.via();
        let invite_cseq = self.invite.cseq().seq;
        let e = &mut self.rel.early[idx];
        if offered && e.answer.is_none() {
            e.answer = sdp_of(resp);
        }
        // §7.2: RAck names the provisional (RSeq) and the INVITE (CSeq number and method).
        let b = e
            .dialog
            .request(Method::Prack)
            .header("Via", &via)
            .header("RAck", &format!("{rseq} {invite_cseq} INVITE"));
        self.send(out, b, Purpose::Fire);
        true
    }

    /// UAC: an UPDATE on an early dialog of our INVITE that sent reliable provisionals (RFC 3311
    /// §5.2); false when it names none (the caller answers 481). An offer is served once that
    /// dialog's provisional answered our INVITE's offer (else 500 + Retry-After); it becomes the
    /// description `Answered` reports, since the 2xx will carry none.
    pub(super) fn on_early_update(
        &mut self,
        key: ReqKey,
        req: &SipMessage,
        out: &mut Vec<SessionOutput>,
    ) -> bool {
        if self.role != Role::Uac || self.dialog.is_some() || self.invite_done {
            return false;
        }
        let from_tag = req.from().tag().unwrap_or("");
        let Some(i) = self.rel.early.iter().position(|e| {
            req.call_id() == e.dialog.call_id
                && req.to().tag() == Some(e.dialog.local_tag.as_str())
                && from_tag == e.dialog.remote_tag
        }) else {
            return false;
        };
        if !self.rel.early[i].dialog.accepts_remote_cseq(req) {
            self.respond_status(out, key, req, 500); // RFC 3261 §12.2.2: out of order
            return true;
        }
        let _ = self.rel.early[i].dialog.refresh_target(req); // a target refresh (§5.2)
        let Some(sdp) = sdp_of(req) else {
            // No offer, no answer: a plain 2xx.
            let b = req
                .response(200, "OK")
                .header("Contact", &self.cfg.contact)
                .header("Allow", &self.cfg.allow);
            self.respond(out, key, b);
            return true;
        };
        if self.rel.early[i].answer.is_none() || !self.pending_in.is_empty() {
            // §5.2: an offer/answer is still incomplete (our INVITE's, or an earlier UPDATE's).
            let retry = (self.random() % 10).to_string();
            let b = req
                .response(500, reason_phrase(500))
                .header("Retry-After", &retry);
            self.respond(out, key, b);
            return true;
        }
        self.rel.early[i].answer = Some(sdp.clone());
        self.pending_in.insert(key, req.clone());
        self.emit(out, SessionEvent::Offer { key, sdp });
        true
    }

    /// UAC: the early dialog of the 2xx's To tag, if it sent reliable provisionals: its answer, and
    /// the CSeq it used (the confirmed dialog goes on from there, §12.1.2).
    pub(super) fn rel_early_of(&self, resp: &SipMessage) -> Option<(Option<String>, Option<u32>)> {
        let tag = resp.to().tag()?;
        let e = self.rel.early.iter().find(|e| e.dialog.remote_tag == tag)?;
        Some((e.answer.clone(), e.dialog.local_cseq))
    }
}
