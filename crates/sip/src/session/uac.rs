//! The UAC side: our initial INVITE, its provisional and final responses, CANCEL (§9.1) and forks
//! (§13.2.2.4).

use super::{
    sdp_of, InviteSession, Purpose, Role, SessionConfig, SessionEvent, SessionOutput, UacRequest,
};
use crate::dialog::{new_tag, Dialog};
use crate::transaction::{cancel_for, TxEvent};
use crate::{Method, RequestBuilder, SipMessage};

impl InviteSession {
    /// A new outgoing leg; the first output is the INVITE `Request`. A 422 (Session Interval Too
    /// Small, RFC 4028 §7.3) is not retried with a larger interval: it ends the leg as Failed(422).
    pub fn uac(
        cfg: SessionConfig,
        req: UacRequest,
        now_ms: i64,
    ) -> (InviteSession, Vec<SessionOutput>) {
        let _ = now_ms;
        let local_tag = new_tag();
        let via = format!("{};branch={};rport", cfg.via, crate::dialog::new_branch());
        let mut b = RequestBuilder::new(Method::Invite, &req.request_uri)
            .header("Via", &via)
            .header("Max-Forwards", "70")
            .header("From", &format!("{};tag={local_tag}", req.from))
            .header("To", &req.to)
            .header("Call-ID", &req.call_id)
            .header("CSeq", "1 INVITE")
            .header("Contact", &cfg.contact)
            .header("Allow", &cfg.allow);
        // RFC 3262 §4: 100rel only with an offer (an offer in a reliable provisional would need
        // an answer in the PRACK that the TU has no way to give).
        let mut supported = Vec::new();
        if cfg.use_100rel && req.sdp_offer.is_some() {
            supported.push("100rel");
        }
        if cfg.session_expires_s.is_some() {
            supported.push("timer");
        }
        if !supported.is_empty() {
            b = b.header("Supported", &supported.join(", "));
        }
        if let Some(n) = cfg.session_expires_s {
            // RFC 4028 §7.1: Session-Expires must not be below Min-SE; no refresher parameter
            // lets the UAS choose.
            let n = n.max(cfg.min_se_s);
            b = b
                .header("Session-Expires", &n.to_string())
                .header("Min-SE", &cfg.min_se_s.to_string());
        }
        for (n, v) in &req.extra_headers {
            b = b.header(n, v);
        }
        if let Some(sdp) = &req.sdp_offer {
            b = b.body("application/sdp", sdp.as_bytes());
        }
        let mut out = Vec::new();
        let invite = match b.try_build_message() {
            Ok(m) => m,
            Err(_) => {
                // Only a bad caller-supplied value (From, To, Call-ID, header) can break it: fail
                // the leg rather than panic. The session keeps a constant stand-in INVITE.
                let mut s = InviteSession::new(cfg, Role::Uac, placeholder_invite(), local_tag);
                s.call_id = req.call_id;
                s.terminated = true;
                s.invite_done = true;
                s.dropped += 1;
                out.push(SessionOutput::Event(SessionEvent::Failed { status: 400 }));
                return (s, out);
            }
        };
        let mut s = InviteSession::new(cfg, Role::Uac, invite.clone(), local_tag);
        s.local_sdp = req.sdp_offer;
        let key = s.alloc_key();
        s.invite_key = key;
        s.sent.insert(key, Purpose::Invite);
        out.push(SessionOutput::Request {
            key,
            request: invite,
        });
        (s, out)
    }

    pub(super) fn uac_hangup(&mut self, out: &mut Vec<SessionOutput>) {
        if self.dialog.is_some() {
            self.send_bye(out);
        } else if self.invite_done {
            // Failed already; nothing to end.
        } else if self.got_provisional {
            self.send_cancel(out);
        } else {
            // §9.1: a CANCEL before any provisional could overtake the INVITE; wait for one.
            self.cancel_pending = true;
        }
    }

    fn send_cancel(&mut self, out: &mut Vec<SessionOutput>) {
        if self.cancelled {
            return;
        }
        self.cancelled = true;
        match cancel_for(&self.invite).map(SipMessage::parse) {
            Some(Ok(request)) => {
                let key = self.alloc_key();
                self.sent.insert(key, Purpose::Fire);
                out.push(SessionOutput::Request { key, request });
            }
            _ => self.drop_input("could not build the CANCEL"),
        }
    }

    pub(super) fn on_invite_event(&mut self, ev: TxEvent, out: &mut Vec<SessionOutput>) {
        match ev {
            TxEvent::Provisional(resp) => {
                let Some(status) = resp.status() else {
                    return self.drop_input("response without status");
                };
                if self.invite_done {
                    return;
                }
                self.got_provisional = true;
                if self.cancel_pending {
                    self.send_cancel(out);
                }
                let reliable = status != 100
                    && !self.terminated
                    && crate::capabilities::requires(&resp, "100rel");
                if reliable && !self.on_reliable_provisional(&resp, out) {
                    return;
                }
                if status != 100 && !self.terminated {
                    self.emit(
                        out,
                        SessionEvent::Ringing {
                            status,
                            sdp: sdp_of(&resp),
                        },
                    );
                }
            }
            TxEvent::Final(resp) => match resp.status() {
                Some(200..=299) => self.on_invite_2xx(&resp, out),
                Some(status) => {
                    if self.invite_done {
                        return;
                    }
                    self.invite_done = true;
                    self.fail(out, status);
                }
                None => self.drop_input("response without status"),
            },
            TxEvent::Timeout => self.fail_unanswered(out, 408),
            TxEvent::TransportError => self.fail_unanswered(out, 503),
        }
    }

    fn fail_unanswered(&mut self, out: &mut Vec<SessionOutput>, status: u16) {
        if self.invite_done || self.dialog.is_some() {
            return;
        }
        self.invite_done = true;
        self.fail(out, status);
    }

    fn fail(&mut self, out: &mut Vec<SessionOutput>, status: u16) {
        if !self.terminated {
            self.emit(out, SessionEvent::Failed { status });
        }
        self.terminated = true;
    }

    fn on_invite_2xx(&mut self, resp: &SipMessage, out: &mut Vec<SessionOutput>) {
        let tag = resp.to().tag().unwrap_or("");
        if let Some(d) = self.dialog.take() {
            if d.remote_tag == tag {
                // A retransmission: our ACK was lost (RFC 6026 §8.4): ACK again, nothing else.
                self.ack(out, &d, resp);
                self.dialog = Some(d);
                return;
            }
            self.dialog = Some(d);
            return self.on_forked_2xx(resp, out);
        }
        if self.invite_done {
            // A 2xx after we failed the leg (e.g. after a 408): still ACK + BYE it.
            return self.on_forked_2xx(resp, out);
        }
        let dialog = match self.dialog_of_2xx(resp) {
            Ok(d) => d,
            Err(_) => {
                // No Contact or To tag: we cannot even ACK it; the leg is unusable.
                self.drop_input("2xx without a usable dialog");
                self.invite_done = true;
                self.fail(out, 502);
                return;
            }
        };
        self.invite_done = true;
        self.ack(out, &dialog, resp);
        self.dialog = Some(dialog);
        if self.local_hangup || self.cancel_pending || self.cancelled {
            // Answered after we gave up on it: hang up at once (§15).
            self.send_bye(out);
            return;
        }
        let asked = self.cfg.session_expires_s.is_some();
        self.timers_from_2xx(resp, asked);
        self.arm_session_timer(out);
        // RFC 3262 §5 / RFC 3261 §13.2.1: an answer in a reliable provisional is the answer.
        let early = self.rel_early_of(resp).and_then(|(answer, _)| answer);
        let sdp = early.or_else(|| sdp_of(resp));
        self.emit(out, SessionEvent::Answered { sdp });
    }

    /// The dialog of a 2xx; an early dialog of its tag that PRACKed goes on in the same CSeq space.
    fn dialog_of_2xx(&self, resp: &SipMessage) -> Result<Dialog, crate::dialog::DialogError> {
        let mut d = Dialog::uac(&self.invite, resp)?;
        if let Some((_, Some(cseq))) = self.rel_early_of(resp) {
            d.local_cseq = Some(d.local_cseq.map_or(cseq, |c| c.max(cseq)));
        }
        Ok(d)
    }

    /// A 2xx from another fork (or after we gave up): ACK and BYE on its own dialog, once.
    fn on_forked_2xx(&mut self, resp: &SipMessage, out: &mut Vec<SessionOutput>) {
        let tag = resp.to().tag().unwrap_or("");
        if let Some(i) = self.forks.iter().position(|f| f.remote_tag == tag) {
            let d = self.forks.swap_remove(i);
            self.ack(out, &d, resp);
            self.forks.push(d);
            return;
        }
        let Ok(mut d) = self.dialog_of_2xx(resp) else {
            return self.drop_input("forked 2xx without a usable dialog");
        };
        self.ack(out, &d, resp);
        let b = d.request(Method::Bye).header("Via", &self.via());
        self.send(out, b, Purpose::Fire);
        self.forks.push(d);
    }
}

/// Stands in for an INVITE the TU's values could not be built into (constant text, so it parses).
fn placeholder_invite() -> SipMessage {
    const TEXT: &str = "INVITE sip:invalid.invalid SIP/2.0\r\n\
Via: SIP/2.0/UDP invalid.invalid;branch=z9hG4bKinvalid\r\n\
From: <sip:invalid.invalid>;tag=invalid\r\nTo: <sip:invalid.invalid>\r\n\
Call-ID: invalid\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    SipMessage::parse(bytes::Bytes::from_static(TEXT.as_bytes()))
        .expect("the constant placeholder INVITE parses")
}
