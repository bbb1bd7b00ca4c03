//! One INVITE dialog usage (RFC 3261 §13–15, RFC 4028 session timers), sans-IO, for every leg.
//!
//! An [`InviteSession`] sits above the transaction layer: the shell owns the endpoint (which
//! retransmits, absorbs duplicates, ACKs non-2xx finals and retransmits our 2xx until the ACK,
//! RFC 6026) and feeds the session messages, [`TxEvent`]s and `now_ms`. The session never touches
//! a socket or a clock; it returns [`SessionOutput`]s: requests to start as client transactions,
//! 2xx ACKs to send raw, responses for server transactions, timers to arm and events for the TU.
//!
//! Keys: the session picks the [`ReqKey`] of each request it sends (the shell maps it to its
//! client transaction and feeds the events back with that key); the shell picks the key of each
//! request it received (and maps a `Respond { key }` back to that server transaction).
//!
//! Example flow, an outgoing leg:
//!
//! ```text
//! let (mut s, out) = InviteSession::uac(cfg, req, now);   // out: Request { key: 1, INVITE }
//! s.on_tx_event(1, TxEvent::Provisional(r180), now)        // Event(Ringing { status: 180, .. })
//! s.on_tx_event(1, TxEvent::Final(r200), now)              // Ack { .. }, Event(Answered { .. }),
//!                                                          // StartTimer { Refresh { .. } } if RFC 4028
//! s.on_request(7, &bye, now)                               // Respond { key: 7, 200 },
//!                                                          // Event(Terminated { RemoteHangup })
//! ```
//!
//! A local [`InviteSession::hangup`] emits no event (the TU asked for it); `is_terminated()` is
//! true at once, but the shell keeps feeding the INVITE's transaction events until that
//! transaction ends so that a 2xx racing our CANCEL still gets its ACK and BYE.

mod uac;
mod uas;

use std::collections::HashMap;

use crate::dialog::{new_branch, Dialog};
use crate::transaction::TxEvent;
use crate::{Method, RequestBuilder, SipMessage, Uri};

/// Identifies one request of this session (see the module docs for who picks it).
pub type ReqKey = u64;

/// Our side of the dialog: the UAC sent the initial INVITE (and owns the Call-ID, §14.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Uac,
    Uas,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our Contact header value, e.g. `<sip:12345@10.0.0.1:5060>`.
    pub contact: String,
    /// Our Via without branch, e.g. `SIP/2.0/UDP 10.0.0.1:5060`; `;branch=…;rport` is appended.
    pub via: String,
    /// Allow header value for our 200s (see [`crate::registrar::ALLOW`]).
    pub allow: String,
    /// UAC: offer RFC 4028 session timers with this interval in our INVITE; None = don't.
    pub session_expires_s: Option<u32>,
    /// RFC 4028 Min-SE (90 s default, §4).
    pub min_se_s: u32,
    /// Seed of the glare back-off generator; None = derived from the Call-ID (tests set it).
    pub rng_seed: Option<u64>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            contact: String::new(),
            via: String::new(),
            allow: crate::registrar::ALLOW.to_owned(),
            session_expires_s: None,
            min_se_s: 90,
            rng_seed: None,
        }
    }
}

/// What the UAC leg's initial INVITE carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UacRequest {
    pub request_uri: Uri,
    /// name-addr without tag (the session adds one).
    pub from: String,
    pub to: String,
    pub call_id: String,
    pub sdp_offer: Option<String>,
    pub extra_headers: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub enum SessionOutput {
    /// Send as a NEW client transaction; feed its events back with `on_tx_event(key, ..)`.
    Request {
        key: ReqKey,
        request: SipMessage,
    },
    /// Send outside any transaction (ACK for a 2xx, RFC 3261 §13.2.2.4).
    Ack {
        ack: SipMessage,
    },
    /// Answer the received request `key` through its server transaction.
    Respond {
        key: ReqKey,
        response: SipMessage,
    },
    /// Call `on_timer(timer, ..)` after this many ms. Timers are never cancelled: a stale one is
    /// recognised by its generation and ignored.
    StartTimer {
        timer: SessionTimer,
        after_ms: i64,
    },
    Event(SessionEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionTimer {
    /// Resend our re-INVITE after a 491 (RFC 3261 §14.1).
    GlareRetry { generation: u32 },
    /// RFC 4028 §10: we are the refresher, send a refresh now (half the interval).
    Refresh { generation: u32 },
    /// RFC 4028 §10: the peer refreshes; no refresh came, so end the session.
    Expiry { generation: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminationReason {
    /// The peer sent BYE (answered 200).
    RemoteHangup,
    /// RFC 4028 expiry: we sent BYE.
    SessionExpired,
    /// Our 2xx was never ACKed (Timer H/L): we sent BYE.
    AckTimeout,
    /// Our session refresh got 408/481 or timed out (408): we sent BYE (RFC 4028 §10).
    RefreshFailed { status: u16 },
    /// The TU's re-INVITE got 408/481 or timed out (408): we sent BYE (RFC 3261 §14.1).
    ReinviteFailed { status: u16 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// UAC: 180/183/other provisional (not 100).
    Ringing { status: u16, sdp: Option<String> },
    /// UAC: the first 2xx of the dialog we keep (already ACKed by an `Ack` output).
    Answered { sdp: Option<String> },
    /// UAC: final non-2xx, Timeout → 408, TransportError → 503, unusable 2xx → 502.
    Failed { status: u16 },
    /// UAS: the ACK for our 2xx arrived.
    Confirmed,
    /// UAS: CANCEL before our final response (already answered 200); the TU calls reject(487).
    Cancelled,
    /// A re-INVITE or UPDATE with an SDP offer: call accept_offer or reject_offer with `key`.
    Offer { key: ReqKey, sdp: String },
    /// The peer answered the TU's `reinvite` (2xx, already ACKed); its SDP answer.
    OfferAnswered { sdp: Option<String> },
    /// The TU's `reinvite` was refused (non-2xx other than 491/408/481); the old SDP stays.
    OfferRejected { status: u16 },
    /// INFO with application/dtmf-relay or application/dtmf.
    Dtmf { digit: char },
    /// After this every further request gets 481.
    Terminated { reason: TerminationReason },
}

/// What a request we sent is for, so its transaction events find their rule.
#[derive(Debug, Clone)]
enum Purpose {
    Invite,
    /// `answered`: a 2xx came (later copies are retransmissions: ACK again, nothing else).
    Reinvite {
        sdp: String,
        refresh: bool,
        answered: bool,
    },
    /// CANCEL and BYE: their outcome needs no action.
    Fire,
}

/// RFC 4028 state once negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timers {
    interval_s: u32,
    we_refresh: bool,
}

/// One INVITE session. See the module docs.
#[derive(Debug)]
pub struct InviteSession {
    cfg: SessionConfig,
    role: Role,
    call_id: String,
    local_tag: String,
    /// UAC: the INVITE we sent; UAS: the INVITE we received.
    invite: SipMessage,
    invite_key: ReqKey,
    /// The dialog we keep (UAC: from the first 2xx; UAS: from the INVITE).
    dialog: Option<Dialog>,
    terminated: bool,
    /// The TU hung up: no more events, only protocol cleanup.
    local_hangup: bool,
    local_sdp: Option<String>,
    next_key: ReqKey,
    rng: u64,
    sent: HashMap<ReqKey, Purpose>,
    // UAC
    got_provisional: bool,
    cancel_pending: bool,
    cancelled: bool,
    invite_done: bool,
    /// Extra dialogs from forked 2xx (already sent BYE); kept to re-ACK their retransmissions.
    forks: Vec<Dialog>,
    // UAS
    final_sent: bool,
    answered: bool,
    acked: bool,
    cancel_received: bool,
    /// §15: the callee may not BYE before the ACK (or its timeout); hangup() waits for it.
    bye_after_ack: bool,
    // re-INVITE / UPDATE
    /// Our outstanding re-INVITE (an offer we made).
    pending_out: Option<ReqKey>,
    /// Offers (re-INVITE/UPDATE with SDP) received and not answered yet, by their key.
    pending_in: HashMap<ReqKey, SipMessage>,
    /// A re-INVITE to send once the INVITE in progress ends (§14.1): (sdp, refresh).
    queued: Option<(String, bool)>,
    /// A re-INVITE that got 491, resent when GlareRetry fires.
    glare: Option<(String, bool)>,
    glare_gen: u32,
    // RFC 4028
    timers: Option<Timers>,
    timer_gen: u32,
    dropped: u64,
}

pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        180 => "Ringing",
        183 => "Session Progress",
        408 => "Request Timeout",
        481 => "Call/Transaction Does Not Exist",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        s if s < 200 => "Progress",
        s if s < 300 => "OK",
        s if s < 400 => "Redirect",
        s if s < 500 => "Client Error",
        s if s < 600 => "Server Error",
        _ => "Global Failure",
    }
}

/// The body as SDP text, if any (non-UTF-8 or blank = none).
fn sdp_of(msg: &SipMessage) -> Option<String> {
    let body = std::str::from_utf8(msg.body()).ok()?;
    (!body.trim().is_empty()).then(|| body.to_owned())
}

fn supports_timer(msg: &SipMessage) -> bool {
    msg.supported()
        .iter()
        .chain(msg.require().iter())
        .any(|s| s.eq_ignore_ascii_case("timer"))
}

/// The `refresher` parameter of Session-Expires (RFC 4028 §4), lower-cased.
fn refresher_of(msg: &SipMessage) -> Option<String> {
    let v = msg.header("session-expires")?;
    v.split(';').skip(1).find_map(|p| {
        let (k, val) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("refresher")
            .then(|| val.trim().to_ascii_lowercase())
    })
}

/// RFC 4028 §10: the side that does not refresh sends BYE min(32, N/3) s before expiry.
fn expiry_after_ms(interval_s: u32) -> i64 {
    let n = i64::from(interval_s);
    (n - (n / 3).min(32)).max(1) * 1000
}

/// DTMF in an INFO body (same rules as `media::parse_info_body`, which sip cannot depend on):
/// `application/dtmf-relay` `Signal=` line, or `application/dtmf` with the digit alone; a digit
/// is one of 0-9 * # A-D or an RFC 4733 event code 0..=15.
fn dtmf_digit(content_type: &str, body: &str) -> Option<char> {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let signal = match ct.as_str() {
        "application/dtmf-relay" => body.lines().find_map(|line| {
            let (k, v) = line.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
        })?,
        "application/dtmf" => body.trim(),
        _ => return None,
    };
    let mut chars = signal.chars();
    let first = chars.next()?;
    if chars.next().is_none() {
        let c = first.to_ascii_uppercase();
        return (c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')).then_some(c);
    }
    match signal.parse::<u8>().ok()? {
        e @ 0..=9 => Some((b'0' + e) as char),
        10 => Some('*'),
        11 => Some('#'),
        e @ 12..=15 => Some((b'A' + e - 12) as char),
        _ => None,
    }
}

fn seed_of(s: &str) -> u64 {
    // FNV-1a: deterministic per Call-ID, never zero (xorshift must not start at 0).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h | 1
}

impl InviteSession {
    fn new(cfg: SessionConfig, role: Role, invite: SipMessage, local_tag: String) -> Self {
        let call_id = invite.call_id().to_owned();
        let rng = cfg
            .rng_seed
            .map(|s| s | 1)
            .unwrap_or_else(|| seed_of(&call_id));
        InviteSession {
            cfg,
            role,
            call_id,
            local_tag,
            invite,
            invite_key: 0,
            dialog: None,
            terminated: false,
            local_hangup: false,
            local_sdp: None,
            next_key: 1,
            rng,
            sent: HashMap::new(),
            got_provisional: false,
            cancel_pending: false,
            cancelled: false,
            invite_done: false,
            forks: Vec::new(),
            final_sent: false,
            answered: false,
            acked: false,
            cancel_received: false,
            bye_after_ack: false,
            pending_out: None,
            pending_in: HashMap::new(),
            queued: None,
            glare: None,
            glare_gen: 0,
            timers: None,
            timer_gen: 0,
            dropped: 0,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    pub fn local_tag(&self) -> &str {
        &self.local_tag
    }

    /// True after a BYE (either way), a failed INVITE, a rejection or a local hangup.
    pub fn is_terminated(&self) -> bool {
        self.terminated
    }

    /// The description in force that we last sent (offer or answer).
    pub fn local_sdp(&self) -> Option<&str> {
        self.local_sdp.as_deref()
    }

    /// The dialog we keep, once there is one.
    pub fn dialog(&self) -> Option<&Dialog> {
        self.dialog.as_ref()
    }

    /// Inputs ignored because they were malformed or could not be built into a message.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn alloc_key(&mut self) -> ReqKey {
        let k = self.next_key;
        self.next_key += 1;
        k
    }

    fn via(&self) -> String {
        format!("{};branch={};rport", self.cfg.via, new_branch())
    }

    /// xorshift64: deterministic, good enough to de-synchronise two glaring UAs.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    fn drop_input(&mut self, why: &str) {
        self.dropped += 1;
        tracing::debug!(call_id = %self.call_id, why, "session input dropped");
    }

    fn emit(&self, out: &mut Vec<SessionOutput>, ev: SessionEvent) {
        if !self.local_hangup {
            out.push(SessionOutput::Event(ev));
        }
    }

    fn respond(&mut self, out: &mut Vec<SessionOutput>, key: ReqKey, b: crate::ResponseBuilder) {
        match b.try_build_message() {
            Ok(response) => out.push(SessionOutput::Respond { key, response }),
            Err(_) => self.drop_input("built an unparsable response"),
        }
    }

    fn respond_status(
        &mut self,
        out: &mut Vec<SessionOutput>,
        key: ReqKey,
        req: &SipMessage,
        status: u16,
    ) {
        let b = req.response(status, reason_phrase(status));
        self.respond(out, key, b);
    }

    /// Start a request of ours as a client transaction.
    fn send(
        &mut self,
        out: &mut Vec<SessionOutput>,
        b: RequestBuilder,
        purpose: Purpose,
    ) -> Option<ReqKey> {
        match b.try_build_message() {
            Ok(request) => {
                let key = self.alloc_key();
                self.sent.insert(key, purpose);
                out.push(SessionOutput::Request { key, request });
                Some(key)
            }
            Err(_) => {
                self.drop_input("built an unparsable request");
                None
            }
        }
    }

    fn send_bye(&mut self, out: &mut Vec<SessionOutput>) {
        let via = self.via();
        if let Some(d) = self.dialog.as_mut() {
            let b = d.request(Method::Bye).header("Via", &via);
            self.send(out, b, Purpose::Fire);
        }
    }

    /// BYE and the end of the session, with an event for the TU.
    fn end_with_bye(&mut self, out: &mut Vec<SessionOutput>, reason: TerminationReason) {
        if self.terminated {
            return;
        }
        self.send_bye(out);
        self.terminate(out, Some(reason));
    }

    fn terminate(&mut self, out: &mut Vec<SessionOutput>, reason: Option<TerminationReason>) {
        if self.terminated {
            return;
        }
        self.terminated = true;
        // §15.1.2: requests still pending in the dialog get 487.
        let pending: Vec<(ReqKey, SipMessage)> = self.pending_in.drain().collect();
        for (key, req) in pending {
            self.respond_status(out, key, &req, 487);
        }
        if let Some(reason) = reason {
            self.emit(out, SessionEvent::Terminated { reason });
        }
    }

    fn ack(&mut self, out: &mut Vec<SessionOutput>, dialog: &Dialog, resp: &SipMessage) {
        let b = dialog.ack_for(resp).header("Via", &self.via());
        match b.try_build_message() {
            Ok(ack) => out.push(SessionOutput::Ack { ack }),
            Err(_) => self.drop_input("built an unparsable ACK"),
        }
    }

    // ------------------------------------------------------------------ RFC 4028

    /// Arm the timer of the side we play (RFC 4028 §10); a new generation voids older ones.
    fn arm_session_timer(&mut self, out: &mut Vec<SessionOutput>) {
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
    fn session_timer_headers(&mut self, req: &SipMessage) -> Vec<(&'static str, String)> {
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
    fn timers_from_2xx(&mut self, resp: &SipMessage, asked: bool) {
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

    // ------------------------------------------------------------------ inputs

    /// Feed an event of a client transaction we started (`key` from a `Request` output).
    pub fn on_tx_event(&mut self, key: ReqKey, ev: TxEvent, now_ms: i64) -> Vec<SessionOutput> {
        let mut out = Vec::new();
        match self.sent.get(&key).cloned() {
            Some(Purpose::Invite) => self.on_invite_event(ev, &mut out),
            Some(Purpose::Reinvite {
                sdp,
                refresh,
                answered,
            }) => self.on_reinvite_event(key, ev, sdp, refresh, answered, &mut out, now_ms),
            Some(Purpose::Fire) | None => {}
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn on_reinvite_event(
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

    fn finish_pending_out(&mut self, key: ReqKey) {
        if self.pending_out == Some(key) {
            self.pending_out = None;
        }
    }

    /// May we start a re-INVITE now (§14.1: no INVITE transaction in progress either way)?
    fn can_reinvite(&self) -> bool {
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

    fn send_reinvite(&mut self, out: &mut Vec<SessionOutput>, sdp: String, refresh: bool) {
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

    fn flush_queued(&mut self, out: &mut Vec<SessionOutput>, _now_ms: i64) {
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
            _ => {}
        }
        let _ = now_ms;
        out
    }

    /// The TU sends a new offer (hold, resume, new address) in a re-INVITE. If an INVITE is in
    /// progress either way (§14.1) it goes out when that one ends. Ignored before the dialog is
    /// confirmed or after the end.
    pub fn reinvite(&mut self, sdp: &str, now_ms: i64) -> Vec<SessionOutput> {
        let mut out = Vec::new();
        if self.terminated || self.dialog.is_none() {
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
    fn answer_refresh(
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

    /// Our 2xx was never ACKed (the endpoint's Timer H/L report for this session's INVITE).
    pub fn on_ack_timeout(&mut self, now_ms: i64) -> Vec<SessionOutput> {
        let mut out = Vec::new();
        let _ = now_ms;
        if self.role != Role::Uas || !self.answered || self.acked {
            return out;
        }
        self.acked = true; // nothing will come; stop waiting
        if self.bye_after_ack {
            self.bye_after_ack = false;
            self.send_bye(&mut out);
            return out;
        }
        self.end_with_bye(&mut out, TerminationReason::AckTimeout);
        out
    }

    /// End the call: UAC → CANCEL before an answer (only once a provisional came, §9.1), BYE
    /// after it; UAS → BYE once answered (after the ACK, §15). An unanswered UAS uses `reject`.
    /// Emits no event; the session is terminated at once.
    pub fn hangup(&mut self, now_ms: i64) -> Vec<SessionOutput> {
        let mut out = Vec::new();
        let _ = now_ms;
        if self.terminated {
            return out;
        }
        match self.role {
            Role::Uac => self.uac_hangup(&mut out),
            Role::Uas => {
                if !self.answered {
                    return out;
                }
                if self.acked {
                    self.send_bye(&mut out);
                } else {
                    self.bye_after_ack = true;
                }
            }
        }
        self.local_hangup = true;
        self.terminate(&mut out, None);
        out
    }

    /// Any request for this session: ACK, CANCEL, BYE, re-INVITE, UPDATE, INFO, OPTIONS, others
    /// (501). A request for another dialog, or after the end, gets 481. `key` names its server
    /// transaction (unused for ACK).
    pub fn on_request(&mut self, key: ReqKey, req: &SipMessage, now_ms: i64) -> Vec<SessionOutput> {
        let mut out = Vec::new();
        let Some(method) = req.method().cloned() else {
            self.drop_input("response fed as a request");
            return out;
        };
        match method {
            Method::Ack => {
                self.on_ack(req, &mut out);
                return out;
            }
            Method::Cancel => {
                self.on_cancel(key, req, &mut out);
                return out;
            }
            _ => {}
        }
        if self.terminated || !self.in_dialog(req) {
            self.respond_status(&mut out, key, req, 481);
            return out;
        }
        let cseq_ok = self
            .dialog
            .as_mut()
            .is_some_and(|d| d.accepts_remote_cseq(req));
        if !cseq_ok {
            // §12.2.2: a lower CSeq is out of order.
            let b = req
                .response(500, "Server Internal Error")
                .header("Retry-After", "1");
            self.respond(&mut out, key, b);
            return out;
        }
        match method {
            Method::Bye => {
                self.respond_status(&mut out, key, req, 200);
                self.terminate(&mut out, Some(TerminationReason::RemoteHangup));
            }
            Method::Invite | Method::Update => self.on_offer_request(key, req, &method, &mut out),
            Method::Info => {
                self.respond_status(&mut out, key, req, 200);
                let ct = req.content_type().unwrap_or("");
                let body = std::str::from_utf8(req.body()).unwrap_or("");
                if let Some(digit) = dtmf_digit(ct, body) {
                    self.emit(&mut out, SessionEvent::Dtmf { digit });
                }
            }
            Method::Options => {
                let b = req.response(200, "OK").header("Allow", &self.cfg.allow);
                self.respond(&mut out, key, b);
            }
            _ => self.respond_status(&mut out, key, req, 501),
        }
        let _ = now_ms;
        out
    }

    /// Does `req` belong to our dialog (§12.2.2: Call-ID, our tag in To, the peer's in From)?
    fn in_dialog(&self, req: &SipMessage) -> bool {
        let Some(d) = &self.dialog else { return false };
        if self.role == Role::Uas && !self.answered {
            return false; // no confirmed dialog before our 2xx
        }
        req.call_id() == d.call_id
            && req.to().tag() == Some(d.local_tag.as_str())
            && req.from().tag().unwrap_or("") == d.remote_tag
    }

    /// re-INVITE or UPDATE from the peer (RFC 3261 §14.2, RFC 3311 §5.2).
    fn on_offer_request(
        &mut self,
        key: ReqKey,
        req: &SipMessage,
        method: &Method,
        out: &mut Vec<SessionOutput>,
    ) {
        let invite = *method == Method::Invite;
        let offer = sdp_of(req);
        if (invite || offer.is_some()) && self.pending_out.is_some() {
            // Glare: our own offer is pending.
            self.respond_status(out, key, req, 491);
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
