//! The UAS side: responses to the initial INVITE, its ACK and CANCEL (§9.2, §13.3).

use super::{
    reason_phrase, InviteSession, ReqKey, Role, SessionConfig, SessionEvent, SessionOutput,
};
use crate::dialog::{new_tag, Dialog};
use crate::{SipMessage, Uri};

/// The URI inside our Contact value (`<sip:…>` or a bare URI, parameters after `>` ignored).
fn contact_uri(contact: &str) -> Option<Uri> {
    let c = contact.trim();
    let inner = match (c.find('<'), c.find('>')) {
        (Some(a), Some(b)) if a < b => &c[a + 1..b],
        _ => c.split(';').next().unwrap_or(c),
    };
    Uri::parse(inner.trim()).ok()
}

impl InviteSession {
    /// A new incoming leg for `invite` (already answered 100 by the transaction layer; the
    /// shell has validated it). `invite_key` names its server transaction.
    pub fn uas(
        cfg: SessionConfig,
        invite: SipMessage,
        invite_key: ReqKey,
        now_ms: i64,
    ) -> InviteSession {
        let _ = now_ms;
        let local_tag = new_tag();
        let dialog =
            contact_uri(&cfg.contact).and_then(|c| Dialog::uas(&invite, &local_tag, &c).ok());
        let mut s = InviteSession::new(cfg, Role::Uas, invite, local_tag);
        s.invite_key = invite_key;
        s.rel_init_uas();
        if dialog.is_none() {
            // No Contact from the peer (or ours unparsable): we can still answer, but neither
            // in-dialog requests nor our BYE will work.
            s.drop_input("INVITE without a usable dialog");
        }
        s.dialog = dialog;
        s
    }

    fn invite_response(&self, status: u16, reason: &str) -> crate::ResponseBuilder {
        self.invite.response(status, reason).to_tag(&self.local_tag)
    }

    /// A provisional response (e.g. 180, 183 with early-media SDP) to the INVITE; reliable
    /// (RFC 3262) when the peer requires 100rel, or supports it and `sdp` is given (see `prack`).
    pub fn provisional(
        &mut self,
        status: u16,
        reason: &str,
        sdp: Option<&str>,
    ) -> Vec<SessionOutput> {
        let mut out = Vec::new();
        if self.role != Role::Uas || self.final_sent || !(101..=199).contains(&status) {
            return out;
        }
        if self.rel_wanted(sdp) {
            self.reliable_provisional(status, reason, sdp, &mut out);
            return out;
        }
        let mut b = self
            .invite_response(status, reason)
            .header("Contact", &self.cfg.contact);
        // After an early offer/answer (RFC 3262) no description again (RFC 3261 §13.2.1).
        let sdp = sdp.filter(|_| !self.rel.early_oa_done && !self.rel.our_offer_pending);
        if let Some(sdp) = sdp {
            b = b.body("application/sdp", sdp.as_bytes());
            self.local_sdp = Some(sdp.to_owned());
        }
        let key = self.invite_key;
        self.respond(&mut out, key, b);
        self.early = true;
        out
    }

    /// Answer the INVITE: 200 with Contact, Allow, RFC 4028 headers when the peer asked, SDP.
    /// Sent once: the transaction layer retransmits it until the ACK (RFC 6026). RFC 3262 §3: while
    /// a reliable provisional with SDP is not PRACKed, the 2xx waits (it goes out with the PRACK's
    /// 200); after an early offer/answer it carries no SDP (RFC 3261 §13.2.1).
    pub fn answer(&mut self, sdp: &str, now_ms: i64) -> Vec<SessionOutput> {
        let _ = now_ms;
        let mut out = Vec::new();
        if self.role != Role::Uas || self.final_sent || self.cancel_received {
            return out;
        }
        if !self.rel_may_answer(sdp) {
            return out;
        }
        let early_oa = self.rel.early_oa_done;
        let invite = self.invite.clone();
        let mut b = self
            .invite_response(200, "OK")
            .header("Contact", &self.cfg.contact)
            .header("Allow", &self.cfg.allow);
        for (n, v) in self.session_timer_headers(&invite) {
            b = b.header(n, &v);
        }
        if !early_oa {
            b = b.body("application/sdp", sdp.as_bytes());
            self.local_sdp = Some(sdp.to_owned());
        }
        let key = self.invite_key;
        self.respond(&mut out, key, b);
        self.final_sent = true;
        self.answered = true;
        self.arm_session_timer(&mut out);
        out
    }

    /// A final error to the INVITE (487 after Cancelled, 486, 503 with Retry-After, ...).
    pub fn reject(
        &mut self,
        status: u16,
        reason: &str,
        extra_headers: &[(&str, &str)],
    ) -> Vec<SessionOutput> {
        let mut out = Vec::new();
        if self.role != Role::Uas || self.final_sent || !(300..=699).contains(&status) {
            return out;
        }
        let reason = if reason.is_empty() {
            reason_phrase(status)
        } else {
            reason
        };
        let mut b = self.invite_response(status, reason);
        for (n, v) in extra_headers {
            b = b.header(n, v);
        }
        let key = self.invite_key;
        self.respond(&mut out, key, b);
        self.final_sent = true;
        self.rel_stop_uas();
        self.terminate(&mut out, None);
        out
    }

    pub(super) fn on_ack(&mut self, req: &SipMessage, out: &mut Vec<SessionOutput>) {
        // Only the ACK of our initial 2xx matters: re-INVITE ACKs carry nothing we act on.
        if self.role != Role::Uas
            || !self.answered
            || self.acked
            || req.cseq().seq != self.invite.cseq().seq
        {
            return;
        }
        let ours = self.dialog.as_ref().is_some_and(|d| {
            req.call_id() == d.call_id && req.to().tag() == Some(d.local_tag.as_str())
        });
        if !ours {
            return self.drop_input("ACK for another dialog");
        }
        self.acked = true;
        if self.bye_after_ack {
            // §15: the BYE the TU asked for waited for this ACK.
            self.bye_after_ack = false;
            self.send_bye(out);
            return;
        }
        if self.terminated {
            return; // e.g. a BYE overtook the ACK: nothing to confirm
        }
        let body = std::str::from_utf8(req.body()).unwrap_or("").trim();
        let sdp = (!body.is_empty()).then(|| body.to_owned());
        self.emit(out, SessionEvent::Confirmed { sdp });
        self.flush_queued(out, 0);
    }

    pub(super) fn on_cancel(
        &mut self,
        key: ReqKey,
        req: &SipMessage,
        out: &mut Vec<SessionOutput>,
    ) {
        // §9.2: the CANCEL must match our INVITE (same Call-ID, From tag and CSeq number).
        let matches = self.role == Role::Uas
            && req.call_id() == self.invite.call_id()
            && req.cseq().seq == self.invite.cseq().seq
            && req.from().tag() == self.invite.from().tag();
        if !matches {
            self.respond_status(out, key, req, 481);
            return;
        }
        self.respond_status(out, key, req, 200);
        if self.final_sent || self.cancel_received {
            return; // too late (or a second CANCEL): the 200 is all it gets
        }
        self.cancel_received = true;
        if self.rel_take_deferred().is_some() {
            // The TU answered but the 2xx waited for a PRACK (RFC 3262 §3): for the TU the call
            // was answered and is now hung up; the INVITE gets its 487 here.
            let b = self.invite_response(487, "Request Terminated");
            let invite_key = self.invite_key;
            self.respond(out, invite_key, b);
            self.final_sent = true;
            self.rel_stop_uas();
            self.terminate(out, Some(super::TerminationReason::RemoteHangup));
            return;
        }
        self.emit(out, SessionEvent::Cancelled);
    }
}
