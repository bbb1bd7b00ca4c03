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

mod prack;
mod refer;
mod reinvite;
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
    /// Allow header value for our 200s, INVITEs and OPTIONS answers
    /// ([`crate::capabilities::DIALOG_ALLOW`]).
    pub allow: String,
    /// Supported header value of in-dialog OPTIONS answers ([`crate::capabilities::SUPPORTED`]).
    pub supported: String,
    /// RFC 3262 "used when it helps": offer `100rel` in INVITEs that carry an offer, and send a
    /// provisional with SDP reliably to a peer that supports it. Off: only a peer's
    /// `Require: 100rel` makes provisionals reliable (that is always honoured).
    pub use_100rel: bool,
    /// RFC 3261 §17.1.1.1 T1: reliable provisionals are resent at T1, 2·T1, … (RFC 3262 §3).
    pub t1_ms: i64,
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
            allow: crate::capabilities::DIALOG_ALLOW.to_owned(),
            supported: crate::capabilities::SUPPORTED.to_owned(),
            use_100rel: true,
            t1_ms: 500,
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
    /// None sends an offerless INVITE: the 2xx's offer comes in `Answered`, but the ACK carries
    /// no answer (delayed offer is not supported; the daemon always offers).
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
    /// RFC 3262 §3: resend the reliable provisional `rseq` (stale once it is PRACKed), or give up.
    Reliable { rseq: u32 },
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
    /// RFC 3262 §3: a reliable provisional was never PRACKed in 64·T1; the INVITE got 500.
    PrackTimeout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// UAC: 180/183/other provisional (not 100); a reliable one (RFC 3262) is reported once, and
    /// already PRACKed.
    Ringing { status: u16, sdp: Option<String> },
    /// UAC: the first 2xx of the dialog we keep (already ACKed by an `Ack` output). `sdp`: the
    /// answer — from a reliable provisional of that dialog if one carried it (RFC 3262 §5,
    /// RFC 3261 §13.2.1: the first answer counts), else from the 2xx.
    Answered { sdp: Option<String> },
    /// UAC: final non-2xx, Timeout → 408, TransportError → 503, unusable 2xx → 502.
    Failed { status: u16 },
    /// UAS: the ACK for our 2xx arrived; `sdp`: its body, the answer when the INVITE had no offer and our
    /// 2xx carried one (RFC 3261 §13.2.1, RFC 3264 — a delayed offer).
    Confirmed { sdp: Option<String> },
    /// UAS: CANCEL before our final response (already answered 200); the TU calls reject(487).
    Cancelled,
    /// A re-INVITE, UPDATE (RFC 3311, early or confirmed dialog) or PRACK (RFC 3262 §5) with an
    /// SDP offer: call accept_offer or reject_offer with `key`.
    Offer { key: ReqKey, sdp: String },
    /// The peer answered an offer of ours: the TU's `reinvite` (2xx, already ACKed), or our offer
    /// in a reliable provisional to an offerless INVITE (the answer came in the PRACK).
    OfferAnswered { sdp: Option<String> },
    /// The TU's `reinvite` was refused (non-2xx other than 491/408/481); the old SDP stays.
    OfferRejected { status: u16 },
    /// INFO with application/dtmf-relay or application/dtmf.
    Dtmf { digit: char },
    /// An in-dialog REFER (RFC 3515, a blind transfer) to `target` (the Refer-To URI's user part, else the
    /// whole URI): call `accept_refer(key)` (202 and the first NOTIFY) or `reject_refer(key, status)`,
    /// then `notify_refer` with the outcome.
    Refer { key: ReqKey, target: String },
    /// An in-dialog REFER for an attended transfer (RFC 5589 §7): its Refer-To carries `replaces`, the
    /// dialog (RFC 3891) the referrer wants us joined with. Answered like [`SessionEvent::Refer`].
    AttendedRefer {
        key: ReqKey,
        replaces: crate::Replaces,
    },
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
    /// A provisional with our tag went out: the early dialog exists (§12.1.1) and in-dialog
    /// requests (INFO digits during early media, UPDATE, BYE) are served before the 2xx.
    early: bool,
    final_sent: bool,
    answered: bool,
    acked: bool,
    cancel_received: bool,
    /// §15: the callee may not BYE before the ACK (or its timeout); hangup() waits for it.
    bye_after_ack: bool,
    /// RFC 3262, both roles.
    rel: prack::Rel,
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
    /// A REFER received and not answered yet (its key), and whether our refer subscription is active.
    refer_in: Option<ReqKey>,
    refer_active: bool,
    // RFC 4028
    timers: Option<Timers>,
    timer_gen: u32,
    dropped: u64,
}

/// The reason phrase we send with `status`.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        180 => "Ringing",
        183 => "Session Progress",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        603 => "Decline",
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
        "application/dtmf-relay" => {
            let mut signal = None;
            for (k, v) in body.lines().filter_map(|l| l.split_once('=')) {
                let (k, v) = (k.trim(), v.trim());
                if k.eq_ignore_ascii_case("signal") {
                    signal = Some(v);
                } else if k.eq_ignore_ascii_case("duration") {
                    // As media does: an absurd Duration makes the whole body suspect.
                    v.parse::<u32>().ok().filter(|d| (1..=60_000).contains(d))?;
                }
            }
            signal?
        }
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
            early: false,
            final_sent: false,
            answered: false,
            acked: false,
            cancel_received: false,
            bye_after_ack: false,
            rel: prack::Rel::default(),
            pending_out: None,
            pending_in: HashMap::new(),
            queued: None,
            glare: None,
            glare_gen: 0,
            refer_in: None,
            refer_active: false,
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
        if self.role == Role::Uas {
            self.rel_stop_uas();
        }
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
                    if self.rel_take_deferred().is_some() {
                        // The 2xx never left (it waited for a PRACK, RFC 3262 §3): refuse instead.
                        out = self.reject(480, "", &[]);
                        self.local_hangup = true;
                    }
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
            if !self.terminated
                && method == Method::Update
                && self.on_early_update(key, req, &mut out)
            {
                return out; // RFC 3311 on an early dialog of our INVITE (reliable provisionals)
            }
            self.respond_status(&mut out, key, req, 481);
            return out;
        }
        let cseq_ok = self
            .dialog
            .as_mut()
            .is_some_and(|d| d.accepts_remote_cseq(req));
        if !cseq_ok {
            // §12.2.2: a lower CSeq is out of order.
            self.respond_status(&mut out, key, req, 500);
            return out;
        }
        let early_uas = self.role == Role::Uas && !self.final_sent;
        match method {
            Method::Bye => {
                self.respond_status(&mut out, key, req, 200);
                if early_uas {
                    // §15.1.2: a BYE on the early dialog ends it; the INVITE still gets its final, 487.
                    let invite = self.invite.clone();
                    let b = invite
                        .response(487, "Request Terminated")
                        .to_tag(&self.local_tag);
                    let invite_key = self.invite_key;
                    self.respond(&mut out, invite_key, b);
                    self.final_sent = true;
                }
                self.terminate(&mut out, Some(TerminationReason::RemoteHangup));
            }
            Method::Invite if early_uas => {
                // §14.2: a second INVITE before our final response to the first.
                let retry = (self.random() % 10).to_string();
                let b = req
                    .response(500, "Server Internal Error")
                    .header("Retry-After", &retry);
                self.respond(&mut out, key, b);
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
                let b = req
                    .response(200, "OK")
                    .header("Allow", &self.cfg.allow)
                    .header("Accept", "application/sdp")
                    .header("Supported", &self.cfg.supported);
                self.respond(&mut out, key, b);
            }
            Method::Refer => self.on_refer(key, req, &mut out),
            Method::Prack => self.on_prack(key, req, &mut out, now_ms),
            _ => self.respond_status(&mut out, key, req, 501),
        }
        out
    }

    /// Does `req` belong to our dialog (§12.2.2: Call-ID, our tag in To, the peer's in From)?
    fn in_dialog(&self, req: &SipMessage) -> bool {
        let Some(d) = &self.dialog else { return false };
        if self.role == Role::Uas && !self.answered && !self.early {
            return false; // no dialog before our first tagged response
        }
        req.call_id() == d.call_id
            && req.to().tag() == Some(d.local_tag.as_str())
            && req.from().tag().unwrap_or("") == d.remote_tag
    }
}
