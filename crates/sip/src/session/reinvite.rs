//! re-INVITE and UPDATE offers both ways (RFC 3261 §14, RFC 3311), glare (§14.1) and RFC 4028
//! session timers.

use super::{
    expiry_after_ms, refresher_of, sdp_of, supports_timer, InviteSession, Purpose, ReqKey, Role,
    SessionEvent, SessionOutput, SessionTimer, TerminationReason, Timers,
};
use crate::transaction::TxEvent;
use crate::{Method, SipMessage};

impl InviteSession {
    // ------------------------------------------------------------------ RFC 4028

    /// Arm the timer of the side we play (RFC 4028 §10); a new generation voids older ones.
    pub(super) fn arm_session_timer(&mut self, out: &mut Vec<SessionOutput>) {
        let Some(t) = self.timers else { return };
        self.timer_gen = self.timer_gen.wrapping_add(1);
        let generation = self.timer_gen;
        let (timer, after_ms) = if t.we_refresh {
            (
                SessionTimer::Refresh { generation },
                i64::from(t.interval_s) * 500,
            )
        } else {
            (
                SessionTimer::Expiry { generation },
                expiry_after_ms(t.interval_s),
            )
        };
        out.push(SessionOutput::StartTimer { timer, after_ms });
    }

    /// Headers for our 2xx to `req` (initial INVITE or a refresh): when the peer asked for session
    /// timers and supports them, accept its interval with the peer (the requester) as refresher,
    /// as the daemon always did; also records that role.
    pub(super) fn session_timer_headers(
        &mut self,
        req: &SipMessage,
    ) -> Vec<(&'static str, String)> {
        match req.session_expires() {
            Some(n) if n > 0 && supports_timer(req) => {
                self.timers = Some(Timers {
                    interval_s: n,
                    we_refresh: false,
                });
                vec![
                    ("Session-Expires", format!("{n};refresher=uac")),
                    ("Require", "timer".to_owned()),
                ]
            }
            _ => Vec::new(),
        }
    }

    /// A 2xx to a request of ours (INVITE or refresh) fixes the interval and refresher (§7.2).
    pub(super) fn timers_from_2xx(&mut self, resp: &SipMessage, asked: bool) {
        match resp.session_expires() {
            Some(n) if n > 0 => {
                let we_refresh = match refresher_of(resp).as_deref() {
                    Some("uas") => false,
                    Some(_) => true,
                    None => asked,
                };
                self.timers = Some(Timers {
                    interval_s: n,
                    we_refresh,
                });
            }
            // A refresh answered without Session-Expires keeps the old interval.
            _ if !asked => {}
            _ => self.timers = None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_reinvite_event(
        &mut self,
        key: ReqKey,
        ev: TxEvent,
        sdp: String,
        refresh: bool,
        answered: bool,
        out: &mut Vec<SessionOutput>,
        now_ms: i64,
    ) {
        let status = match &ev {
            TxEvent::Provisional(_) => return,
            TxEvent::Final(resp) => match resp.status() {
                Some(s) => s,
                None => return self.drop_input("response without status"),
            },
            TxEvent::Timeout => 408,
            TxEvent::TransportError => 503,
        };
        if let (TxEvent::Final(resp), 200..=299) = (&ev, status) {
            // Every copy of the 2xx gets an ACK (§13.2.2.4); only the first changes state.
            if let Some(d) = self.dialog.take() {
                self.ack(out, &d, resp);
                self.dialog = Some(d);
            }
            if answered || self.terminated {
                return;
            }
            self.sent.insert(
                key,
                Purpose::Reinvite {
                    sdp: sdp.clone(),
                    refresh,
                    answered: true,
                },
            );
            if let Some(d) = self.dialog.as_mut() {
                let _ = d.refresh_target(resp);
            }
            self.local_sdp = Some(sdp);
            self.finish_pending_out(key);
            // Any 2xx to a re-INVITE refreshes the session (RFC 4028 §10).
            self.timers_from_2xx(resp, false);
            self.arm_session_timer(out);
            if !refresh {
                self.emit(out, SessionEvent::OfferAnswered { sdp: sdp_of(resp) });
            }
            self.flush_queued(out, now_ms);
            return;
        }
        if answered || self.terminated {
            return;
        }
        self.finish_pending_out(key);
        self.sent.remove(&key);
        match status {
            491 => {
                // §14.1: back off; the Call-ID owner waits 2.1–4 s, the other side 0–2 s, in 10 ms units.
                let ticks = if self.role == Role::Uac {
                    210 + self.random() % 191
                } else {
                    self.random() % 201
                };
                self.glare = Some((sdp, refresh));
                self.glare_gen = self.glare_gen.wrapping_add(1);
                out.push(SessionOutput::StartTimer {
                    timer: SessionTimer::GlareRetry {
                        generation: self.glare_gen,
                    },
                    after_ms: ticks as i64 * 10,
                });
            }
            408 | 481 => {
                // RFC 3261 §14.1 and RFC 4028 §10: the dialog is gone; end it.
                let reason = if refresh {
                    TerminationReason::RefreshFailed { status }
                } else {
                    TerminationReason::ReinviteFailed { status }
                };
                self.end_with_bye(out, reason);
            }
            _ => {
                if !refresh {
                    self.emit(out, SessionEvent::OfferRejected { status });
                } else {
                    // The peer refused the refresh but the dialog lives: try again at the next
                    // half interval rather than let the session lapse silently.
                    self.arm_session_timer(out);
                }
                self.flush_queued(out, now_ms);
            }
        }
    }

    pub(super) fn finish_pending_out(&mut self, key: ReqKey) {
        if self.pending_out == Some(key) {
            self.pending_out = None;
        }
    }

    /// May we start a re-INVITE now (§14.1: no INVITE transaction in progress either way)?
    pub(super) fn can_reinvite(&self) -> bool {
        let confirmed = match self.role {
            Role::Uac => self.dialog.is_some(),
            Role::Uas => self.answered && self.acked,
        };
        confirmed
            && !self.terminated
            && self.pending_out.is_none()
            && !self
                .pending_in
                .values()
                .any(|r| r.method() == Some(&Method::Invite))
    }

    pub(super) fn send_reinvite(
        &mut self,
        out: &mut Vec<SessionOutput>,
        sdp: String,
        refresh: bool,
    ) {
        if !self.can_reinvite() {
            self.queued = Some((sdp, refresh));
            return;
        }
        let via = self.via();
        let timers = self.timers;
        let Some(d) = self.dialog.as_mut() else {
            return;
        };
        let mut b = d
            .request(Method::Invite)
            .header("Via", &via)
            .header("Allow", &self.cfg.allow);
        if let Some(t) = timers {
            // Keep the negotiated interval and our role in the refresh (RFC 4028 §7.4).
            let who = if t.we_refresh { "uac" } else { "uas" };
            b = b.header("Supported", "timer").header(
                "Session-Expires",
                &format!("{};refresher={who}", t.interval_s),
            );
        }
        b = b.body("application/sdp", sdp.as_bytes());
        let purpose = Purpose::Reinvite {
            sdp,
            refresh,
            answered: false,
        };
        self.pending_out = self.send(out, b, purpose);
    }

    pub(super) fn flush_queued(&mut self, out: &mut Vec<SessionOutput>, _now_ms: i64) {
        if self.can_reinvite() {
            if let Some((sdp, refresh)) = self.queued.take() {
                self.send_reinvite(out, sdp, refresh);
            }
        }
    }

    /// A timer armed by a `StartTimer` output fired.
    pub fn on_timer(&mut self, timer: SessionTimer, now_ms: i64) -> Vec<SessionOutput> {
        let mut out = Vec::new();
        if self.terminated {
            return out;
        }
        match timer {
            SessionTimer::GlareRetry { generation } if generation == self.glare_gen => {
                if let Some((sdp, refresh)) = self.glare.take() {
                    self.send_reinvite(&mut out, sdp, refresh);
                }
            }
            SessionTimer::Refresh { generation } if generation == self.timer_gen => {
                if self.pending_out.is_some() {
                    return out; // its 2xx refreshes the session
                }
                // The description in force, unchanged (RFC 4028 §7.4 allows a re-INVITE refresh).
                if let Some(sdp) = self.local_sdp.clone() {
                    self.send_reinvite(&mut out, sdp, true);
                }
            }
            SessionTimer::Expiry { generation } if generation == self.timer_gen => {
                self.end_with_bye(&mut out, TerminationReason::SessionExpired);
            }
            SessionTimer::Reliable { rseq } => self.on_reliable_timer(rseq, &mut out),
            _ => {}
        }
        let _ = now_ms;
        out
    }

    /// The TU sends a new offer (hold, resume, new address) in a re-INVITE. If an INVITE is in
    /// progress either way (§14.1), or our 2xx is not ACKed yet, it goes out when that ends.
    /// Ignored before there is a dialog (UAC: no 2xx; UAS: not answered) and after the end.
    pub fn reinvite(&mut self, sdp: &str, now_ms: i64) -> Vec<SessionOutput> {
        let mut out = Vec::new();
        let unanswered_uas = self.role == Role::Uas && !self.answered;
        if self.terminated || self.dialog.is_none() || unanswered_uas {
            return out;
        }
        self.send_reinvite(&mut out, sdp.to_owned(), false);
        let _ = now_ms;
        out
    }

    /// Answer the offer the TU got as `Offer { key }`: 200 with SDP, Contact and (for a refresh
    /// that asked for them) session-timer headers.
    pub fn accept_offer(
        &mut self,
        key: ReqKey,
        answer_sdp: &str,
        now_ms: i64,
    ) -> Vec<SessionOutput> {
        let mut out = Vec::new();
        let Some(req) = self.pending_in.remove(&key) else {
            return out;
        };
        self.local_sdp = Some(answer_sdp.to_owned());
        self.answer_refresh(&mut out, key, &req, Some(answer_sdp));
        self.flush_queued(&mut out, now_ms);
        out
    }

    /// Refuse the offer `key` (e.g. 488); the description in force stays.
    pub fn reject_offer(&mut self, key: ReqKey, status: u16) -> Vec<SessionOutput> {
        let mut out = Vec::new();
        let Some(req) = self.pending_in.remove(&key) else {
            return out;
        };
        let status = if (300..700).contains(&status) {
            status
        } else {
            488
        };
        self.respond_status(&mut out, key, &req, status);
        self.flush_queued(&mut out, 0);
        out
    }

    /// The 2xx to a peer's re-INVITE/UPDATE; each one refreshes the session (RFC 4028 §10).
    pub(super) fn answer_refresh(
        &mut self,
        out: &mut Vec<SessionOutput>,
        key: ReqKey,
        req: &SipMessage,
        sdp: Option<&str>,
    ) {
        let mut b = req
            .response(200, "OK")
            .header("Contact", &self.cfg.contact)
            .header("Allow", &self.cfg.allow);
        for (n, v) in self.session_timer_headers(req) {
            b = b.header(n, &v);
        }
        if let Some(sdp) = sdp {
            b = b.body("application/sdp", sdp.as_bytes());
        }
        self.respond(out, key, b);
        self.arm_session_timer(out);
    }

    /// re-INVITE or UPDATE from the peer (RFC 3261 §14.2, RFC 3311 §5.2).
    pub(super) fn on_offer_request(
        &mut self,
        key: ReqKey,
        req: &SipMessage,
        method: &Method,
        out: &mut Vec<SessionOutput>,
    ) {
        let invite = *method == Method::Invite;
        let offer = sdp_of(req);
        let our_offer_early = self.rel.our_offer_pending && !self.final_sent;
        if (invite || offer.is_some()) && (self.pending_out.is_some() || our_offer_early) {
            // Glare: our own offer is pending (RFC 3311 §5.2: also one in a reliable provisional).
            self.respond_status(out, key, req, 491);
            return;
        }
        if offer.is_some() && self.role == Role::Uas && !self.final_sent && !self.rel.early_oa_done
        {
            // RFC 3311 §5.2: in the early dialog the INVITE's offer/answer must be done first (an
            // answer in a reliable provisional); until then its offer counts as unanswered.
            let retry = (self.random() % 10).to_string();
            let b = req
                .response(500, "Server Internal Error")
                .header("Retry-After", &retry);
            self.respond(out, key, b);
            return;
        }
        let in_invite = self
            .pending_in
            .values()
            .any(|r| r.method() == Some(&Method::Invite));
        if (invite && in_invite) || (offer.is_some() && !self.pending_in.is_empty()) {
            // §14.2 / RFC 3311 §5.2: an earlier offer of theirs is still unanswered.
            let retry = (self.random() % 10).to_string();
            let b = req
                .response(500, "Server Internal Error")
                .header("Retry-After", &retry);
            self.respond(out, key, b);
            return;
        }
        if let Some(d) = self.dialog.as_mut() {
            // Both are target refreshes (§12.2, RFC 3311 §5.2).
            let _ = d.refresh_target(req);
        }
        match offer {
            Some(sdp) => {
                self.pending_in.insert(key, req.clone());
                self.emit(out, SessionEvent::Offer { key, sdp });
            }
            None if invite => {
                // A refresh or a request for our offer: the description in force, unchanged
                // (never 488, which would drop the call).
                let sdp = self.local_sdp.clone();
                match sdp {
                    Some(sdp) => self.answer_refresh(out, key, req, Some(&sdp)),
                    None => self.respond_status(out, key, req, 500),
                }
            }
            // RFC 3311 §5.2: an UPDATE without an offer gets a 2xx without an answer.
            None => self.answer_refresh(out, key, req, None),
        }
    }
}
