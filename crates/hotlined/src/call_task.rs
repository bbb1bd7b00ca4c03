//! One task per call: owns the `call::Call` state machine, the caller's and the seat's media legs and
//! SIP dialogs, and carries out the machine's outputs. Nothing else touches this call's state.

use crate::admission::Refusal;
use crate::clock::Clock;
use crate::env::CallEnv;
use crate::mailbox::{AcdMsg, CallMsg};
use crate::metrics_names as m;
use crate::respond::reply;
use call::{Call, CallPolicy, CallSetup, Input, Output, Plan, TimerKind};
use dialplan::{Action, CallQuery, Mode};
use media::sdp::{self, Codec, Direction, SdpSession};
use media::{MediaEvent, MediaLeg};
use sip::dialog::{new_branch, new_call_id, new_tag, Dialog};
use sip::endpoint::{ClientTx, Incoming, ServerTx, TransportKind, TxEvent};
use sip::{Method, NameAddr, RequestBuilder, SipMessage, Uri};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, info_span, warn, Instrument};

/// The operator's leg of the B2BUA.
struct SeatLeg {
    seat: String,
    call_id: String,
    invite: SipMessage,
    dest: SocketAddr,
    transport: TransportKind,
    events: Option<ClientTx>,
    dialog: Option<Dialog>,
    media: MediaLeg,
    /// o= bookkeeping of our SDP on this leg: re-INVITE answers keep the id and raise the version.
    sdp: SdpSession,
    /// The description in force on this leg (for offerless re-INVITEs).
    last_sdp: String,
    got_provisional: bool,
    /// CANCEL wanted before any provisional arrived (RFC 3261 §9.1: wait for one).
    cancel_pending: bool,
    cancelled: bool,
}

struct CallTask {
    env: Arc<CallEnv>,
    key: u64,
    call: Call,
    rx: mpsc::UnboundedReceiver<CallMsg>,
    invite: SipMessage,
    invite_tx: ServerTx,
    source: SocketAddr,
    transport: TransportKind,
    local_tag: String,
    caller_dialog: Option<Dialog>,
    caller_media: Option<MediaLeg>,
    caller_sdp: SdpSession,
    answer_sdp: Option<String>,
    /// What the caller leg negotiated (re-applied at answer to start the media timeout then).
    caller_neg: Option<media::Negotiated>,
    caller_codec: Codec,
    seat: Option<SeatLeg>,
    timers: Vec<(Instant, TimerKind)>,
    queue: Option<String>,
}

/// Parse a locally built message; our builders only fail on a bug, which we log instead of panicking.
fn parse_built(bytes: bytes::Bytes, what: &str) -> Option<SipMessage> {
    match SipMessage::parse(bytes) {
        Ok(m) => Some(m),
        Err(e) => {
            warn!(what, error = %e, "built an unparsable message");
            None
        }
    }
}

/// The user part (the number) of a URI, digits and `+` only for tel: and sip: alike.
fn number_of(uri: &Uri) -> String {
    uri.user.clone().unwrap_or_default()
}

/// The number the caller first dialled when a carrier forwarded the call: the bottom Diversion entry
/// (RFC 5806 stacks new diversions on top), else the first History-Info entry (RFC 7044). A History-Info
/// that only repeats the called number is no forwarding.
fn original_called(req: &SipMessage, called: &str) -> Option<String> {
    req.original_called()
        .map(|u| number_of(&u))
        .filter(|n| !n.is_empty() && n != called)
}

/// (called, caller, original called) of an INVITE, as the dial plan wants them.
fn route_parts(msg: &SipMessage) -> (String, String, Option<String>) {
    let called = msg.request_uri().map(number_of).unwrap_or_default();
    let caller = msg
        .p_asserted_identity()
        .first()
        .map(|p| number_of(&p.uri))
        .unwrap_or_else(|| number_of(&msg.from().uri));
    let diversion = original_called(msg, &called);
    (called, caller, diversion)
}

/// A decision the plan cannot carry out (no prompt or no target): refuse honestly, not silently.
fn unavailable() -> Plan {
    Plan::Reject {
        status: 480,
        reason: "Temporarily Unavailable".into(),
    }
}

/// Turn a dialplan decision into the call's plan (prompt paths are resolved by the plan already).
fn plan_for(env: &CallEnv, d: &dialplan::Decision) -> Plan {
    let hold = env.plans.hold.clone();
    let queue = || {
        d.queue
            .as_deref()
            .map(str::to_string)
            .unwrap_or_else(|| "general".into())
    };
    match d.action {
        Action::Queue => Plan::Queue {
            prompt: None,
            queue: queue(),
            hold,
        },
        Action::PromptThenQueue => Plan::Queue {
            prompt: d.prompt.clone(),
            queue: queue(),
            hold,
        },
        Action::PromptThenHangup => match &d.prompt {
            Some(p) => Plan::PromptThenHangup { prompt: p.clone() },
            None => unavailable(),
        },
        Action::Reject => Plan::Reject {
            status: 404,
            reason: "Not Found".into(),
        },
        // A parallel department in its working hours: its own seats, as an ACD queue named after the group.
        Action::Department => match d.target.as_deref() {
            Some(t) if t.starts_with("seats:") => Plan::Queue {
                prompt: d.prompt.clone(),
                queue: t.trim_start_matches("seats:").to_string(),
                hold,
            },
            Some(t) => Plan::Connect {
                prompt: d.prompt.clone(),
                target: t.to_string(),
            },
            None => unavailable(),
        },
        // Emergency lines and the province: straight out, never into the 12345 queue.
        Action::Forward => match d.target.as_deref() {
            Some(t) => Plan::Connect {
                prompt: d.prompt.clone(),
                target: t.to_string(),
            },
            None => unavailable(),
        },
        // A voice menu: the call plays it and asks again with the key; no key → `queue`.
        Action::Menu => match &d.prompt {
            Some(p) => Plan::Menu {
                prompt: p.clone(),
                fallback_queue: queue(),
                hold,
            },
            None => Plan::Queue {
                prompt: None,
                queue: queue(),
                hold,
            },
        },
    }
}

/// A new INVITE (no To tag): ACL, overload, validation, routing, then a task of its own.
pub fn start(env: &Arc<CallEnv>, inc: Incoming) {
    let Incoming {
        msg,
        source,
        transport,
        tx,
        ..
    } = inc;
    let Some(invite_tx) = tx else { return };
    let tx = Some(invite_tx.clone());
    if let Err(why) = env.admission.admit(source.ip(), env.calls.active()) {
        metrics::counter!(m::CALLS_REFUSED, "reason" => why.as_str()).increment(1);
        if why == Refusal::Acl {
            env.stats.refused_acl.fetch_add(1, Ordering::Relaxed);
            info!(source = %source, call_id = msg.call_id(), "INVITE from outside the trunk ACL: 403");
            return reply(&tx, &msg, 403, "Forbidden", &[]);
        }
        env.stats.refused_overload.fetch_add(1, Ordering::Relaxed);
        let retry = env.cfg.calls.retry_after_s.to_string();
        return reply(
            &tx,
            &msg,
            503,
            "Service Unavailable",
            &[("Retry-After", &retry)],
        );
    }
    if let Err(e) = msg.validate_request() {
        metrics::counter!(m::CALLS_REFUSED, "reason" => "invalid").increment(1);
        return reply(&tx, &msg, e.status, &e.reason, &[]);
    }
    let unsupported = msg.unsupported_requires(&["timer", "replaces"]);
    if !unsupported.is_empty() {
        let list = unsupported.join(", ");
        return reply(&tx, &msg, 420, "Bad Extension", &[("Unsupported", &list)]);
    }

    let (called, caller, diversion) = route_parts(&msg);
    let at = chrono::Utc::now();
    let decision = env.plans.live.route(&CallQuery {
        called: &called,
        diversion: diversion.as_deref(),
        caller: Some(&caller),
        at,
        digits: "",
    });
    let mut plan = plan_for(env, &decision);
    let off_hours = decision.mode == Mode::Parallel && !decision.working_hours;

    let call_id = msg.call_id().to_string();
    let (key, rx) = env.calls.open(&call_id);
    let span = info_span!("call", call_id = %call_id, key);
    let _enter = span.enter();
    info!(
        caller = %mask(&caller),
        called = %called,
        original = ?diversion,
        mode = ?decision.mode,
        action = ?decision.action,
        reason = %decision.reason,
        "new call"
    );

    // Media and SDP before anything is answered: an offer we cannot serve gets 488 now.
    let mut caller_sdp = SdpSession::new(rand::random::<u32>() as u64);
    let mut answer_sdp = None;
    let mut caller_media = None;
    let mut caller_codec = Codec::Pcmu;
    let mut caller_neg = None;
    let env2 = env.clone();
    let needs_media = !matches!(plan, Plan::Reject { .. });

    env.stats.calls_started.fetch_add(1, Ordering::Relaxed);
    metrics::counter!(m::CALLS_STARTED, "mode" => decision.mode.as_str()).increment(1);
    drop(_enter);

    tokio::spawn(
        async move {
            let env = env2;
            if needs_media {
                match env.media.open_leg().await {
                    Ok(leg) => {
                        let offer = std::str::from_utf8(msg.body()).unwrap_or("");
                        // A delayed offer (no SDP) is legal, but early media needs our answer in the 183, and
                        // without 100rel we could not get the caller's: refuse it as not acceptable, not as bad.
                        let result = if offer.trim().is_empty() {
                            Err(sdp::SdpError {
                                status: 488,
                                reason: "INVITE without SDP offer is not supported".into(),
                            })
                        } else {
                            sdp::answer(offer, leg.local_addr(), &mut caller_sdp)
                        };
                        match result {
                            Ok((neg, body)) => {
                                leg.set_remote(&neg);
                                caller_codec = neg.codec;
                                caller_neg = Some(neg);
                                answer_sdp = Some(body);
                                caller_media = Some(leg);
                            }
                            Err(e) => {
                                info!(status = e.status, reason = %e.reason, "offer refused");
                                plan = Plan::Reject {
                                    status: e.status,
                                    reason: if e.status == 488 {
                                        "Not Acceptable Here".into()
                                    } else {
                                        "Bad Request".into()
                                    },
                                };
                            }
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "no media port free");
                        env.stats.refused_overload.fetch_add(1, Ordering::Relaxed);
                        metrics::counter!(m::CALLS_REFUSED, "reason" => "media_ports").increment(1);
                        plan = Plan::Reject {
                            status: 503,
                            reason: "Service Unavailable".into(),
                        };
                    }
                }
            }
            let setup = CallSetup {
                call_id: call_id.clone(),
                caller,
                called,
                original_called: diversion,
                route_mode: Some(decision.mode.as_str().to_string()),
                department: decision.department.as_deref().map(str::to_string),
                off_hours,
                plan,
            };
            let policy = CallPolicy {
                answer_before_queue: env.cfg.calls.answer_before_queue,
                seat_ring_timeout_ms: env.cfg.calls.seat_ring_timeout_s as i64 * 1000,
                seat_retry_after_ms: env.cfg.calls.seat_retry_after_s as i64 * 1000,
                connect_ring_timeout_ms: env.cfg.calls.connect_ring_timeout_s as i64 * 1000,
                menu_timeout_ms: env.cfg.calls.menu_timeout_s as i64 * 1000,
            };
            let (call, outputs) = Call::new(setup, policy, Clock::wall_ms());
            let mut task = CallTask {
                env: env.clone(),
                key,
                call,
                rx,
                invite: msg,
                invite_tx,
                source,
                transport,
                local_tag: new_tag(),
                caller_dialog: None,
                caller_media,
                caller_sdp,
                answer_sdp,
                caller_neg,
                caller_codec,
                seat: None,
                timers: Vec::new(),
                queue: None,
            };
            task.execute(outputs).await;
            task.run().await;
            task.cleanup();
        }
        .instrument(span.clone()),
    );
}

/// Caller numbers are personal data: logs show 138****1234.
pub fn mask(n: &str) -> String {
    ticket::mask::mask_phone(n)
}

impl CallTask {
    async fn run(&mut self) {
        // Lives for one loop turn on the stack; boxing the big SIP variant would only add an allocation.
        #[allow(clippy::large_enum_variant)]
        enum Wake {
            Msg(Option<CallMsg>),
            CallerMedia(Option<MediaEvent>),
            SeatMedia(Option<MediaEvent>),
            SeatTx(Option<TxEvent>),
            Timer,
        }
        while !self.call.is_finished() {
            let next_timer = self.timers.iter().map(|(at, _)| *at).min();
            let (seat_media, seat_events) = match self.seat.as_mut() {
                Some(s) => (Some(&mut s.media), s.events.as_mut()),
                None => (None, None),
            };
            let wake = tokio::select! {
                msg = self.rx.recv() => Wake::Msg(msg),
                ev = next_media_event(self.caller_media.as_mut()) => Wake::CallerMedia(ev),
                ev = next_media_event(seat_media) => Wake::SeatMedia(ev),
                ev = next_tx_event(seat_events) => Wake::SeatTx(ev),
                _ = sleep_until(next_timer) => Wake::Timer,
            };
            let input = match wake {
                Wake::Msg(Some(CallMsg::Sip(inc))) => self.on_sip(*inc),
                Wake::Msg(Some(CallMsg::SeatAssigned { seat })) => {
                    Some(Input::SeatAssigned { seat })
                }
                Wake::Msg(Some(CallMsg::AckTimeout)) => Some(Input::AckTimeout),
                Wake::Msg(None) => None,
                Wake::CallerMedia(Some(MediaEvent::PromptFinished)) => Some(Input::PromptFinished),
                Wake::CallerMedia(Some(MediaEvent::Dtmf { digit, .. })) => Some(Input::Dtmf(digit)),
                Wake::CallerMedia(Some(MediaEvent::MediaTimeout))
                | Wake::SeatMedia(Some(MediaEvent::MediaTimeout)) => Some(Input::MediaTimeout),
                Wake::CallerMedia(None) | Wake::SeatMedia(_) => None,
                Wake::SeatTx(ev) => self.on_seat_tx(ev),
                Wake::Timer => {
                    let now = Instant::now();
                    let due: Vec<TimerKind> = self
                        .timers
                        .iter()
                        .filter(|(at, _)| *at <= now)
                        .map(|(_, k)| *k)
                        .collect();
                    self.timers.retain(|(at, _)| *at > now);
                    for k in due {
                        let out = self.call.handle(Input::Timer(k), Clock::wall_ms());
                        self.execute(out).await;
                    }
                    None
                }
            };
            if let Some(input) = input {
                let out = self.call.handle(input, Clock::wall_ms());
                self.execute(out).await;
            }
        }
    }

    /// A request for this call from the network. Returns the input for the state machine, if any.
    fn on_sip(&mut self, inc: Incoming) -> Option<Input> {
        let msg = &inc.msg;
        let method = msg.method()?.clone();
        let from_seat = self
            .seat
            .as_ref()
            .is_some_and(|s| s.call_id == msg.call_id());
        match method {
            Method::Ack => (!from_seat).then_some(Input::CallerAck),
            Method::Bye => {
                reply(&inc.tx, msg, 200, "OK", &[]);
                Some(if from_seat {
                    Input::SeatHangup
                } else {
                    Input::CallerHangup
                })
            }
            Method::Cancel if !from_seat => {
                reply(&inc.tx, msg, 200, "OK", &[]);
                Some(Input::CallerCancel)
            }
            Method::Info => {
                let digit = media::parse_info_body(
                    msg.content_type().unwrap_or(""),
                    std::str::from_utf8(msg.body()).unwrap_or(""),
                );
                reply(&inc.tx, msg, 200, "OK", &[]);
                match (digit, from_seat) {
                    (Some(d), false) => Some(Input::Dtmf(d.digit)),
                    _ => None,
                }
            }
            Method::Invite => {
                self.reinvite(&inc, from_seat);
                None
            }
            Method::Options | Method::Update => {
                reply(&inc.tx, msg, 200, "OK", &[]);
                None
            }
            _ => {
                reply(&inc.tx, msg, 501, "Not Implemented", &[]);
                None
            }
        }
    }

    /// Hold/resume or a changed address from either side: answer from the same media leg.
    fn reinvite(&mut self, inc: &Incoming, from_seat: bool) {
        let offer = std::str::from_utf8(inc.msg.body()).unwrap_or("");
        let contact = self.contact();
        let (leg, session) = if from_seat {
            match self.seat.as_mut() {
                Some(s) => (&s.media, &mut s.sdp),
                None => {
                    return reply(
                        &inc.tx,
                        &inc.msg,
                        481,
                        "Call/Transaction Does Not Exist",
                        &[],
                    )
                }
            }
        } else {
            match self.caller_media.as_ref() {
                Some(l) => (l, &mut self.caller_sdp),
                None => {
                    return reply(
                        &inc.tx,
                        &inc.msg,
                        481,
                        "Call/Transaction Does Not Exist",
                        &[],
                    )
                }
            }
        };
        // A re-INVITE without SDP is a session refresh (RFC 4028) or a request for our offer: answer with the
        // description in force, unchanged (same o= version), never 488 — that would drop the call.
        let mut renegotiated = None;
        let body = if offer.trim().is_empty() {
            if from_seat {
                self.seat.as_ref().map(|s| s.last_sdp.clone())
            } else {
                self.answer_sdp.clone()
            }
        } else {
            match sdp::answer(offer, leg.local_addr(), session) {
                Ok((neg, body)) => {
                    leg.set_remote(&neg);
                    debug!(direction = ?neg.direction, from_seat, "re-INVITE answered");
                    renegotiated = Some(neg);
                    Some(body)
                }
                Err(e) => return reply(&inc.tx, &inc.msg, e.status, "Not Acceptable Here", &[]),
            }
        };
        let Some(body) = body else {
            return reply(&inc.tx, &inc.msg, 500, "Server Internal Error", &[]);
        };
        if from_seat {
            if let Some(s) = self.seat.as_mut() {
                s.last_sdp = body.clone();
            }
        } else {
            self.answer_sdp = Some(body.clone());
            if renegotiated.is_some() {
                self.caller_neg = renegotiated;
            }
        }
        if let Some(tx) = &inc.tx {
            let mut b = inc.msg.response(200, "OK").header("Contact", &contact);
            for (n, v) in session_timer(&inc.msg) {
                b = b.header(n, &v);
            }
            let resp = b.body("application/sdp", body.as_bytes()).build();
            if let Some(r) = parse_built(resp, "re-INVITE 200") {
                tx.respond(r);
            }
        }
    }

    fn on_seat_tx(&mut self, ev: Option<TxEvent>) -> Option<Input> {
        let seat = self.seat.as_mut()?;
        let Some(ev) = ev else {
            seat.events = None; // transaction over; stop polling it
            return None;
        };
        match ev {
            TxEvent::Provisional(resp) => {
                seat.got_provisional = true;
                if seat.cancel_pending && !seat.cancelled {
                    seat.cancelled = true;
                    self.env
                        .endpoint
                        .cancel(&seat.invite, seat.dest, seat.transport);
                }
                (resp.status() != Some(100)).then_some(Input::SeatRinging)
            }
            TxEvent::Final(resp) => {
                let status = resp.status().unwrap_or(500);
                if (200..300).contains(&status) {
                    let first = seat.dialog.is_none();
                    if first {
                        match Dialog::uac(&seat.invite, &resp) {
                            Ok(d) => seat.dialog = Some(d),
                            Err(e) => {
                                warn!(error = ?e, "seat 2xx without a usable dialog");
                                return Some(Input::SeatFailed { status: 502 });
                            }
                        }
                    }
                    send_ack(&self.env, seat, &resp);
                    if !first {
                        return None; // a retransmitted 2xx: the ACK above was all it needed
                    }
                    let body = std::str::from_utf8(resp.body()).unwrap_or("");
                    match sdp::accept_answer(body, &[Codec::Pcmu, Codec::Pcma]) {
                        Ok(neg) => seat.media.set_remote(&neg),
                        Err(e) => warn!(error = %e, "seat answer SDP unusable"),
                    }
                    if seat.cancelled || seat.cancel_pending {
                        // Answered after we gave up on it: hang the seat up at once.
                        send_bye_seat(&self.env, seat);
                        return None;
                    }
                    info!(seat = %seat.seat, "seat answered");
                    Some(Input::SeatAnswered)
                } else {
                    info!(seat = %seat.seat, status, "seat did not take the call");
                    Some(Input::SeatFailed { status })
                }
            }
            TxEvent::Timeout => Some(Input::SeatFailed { status: 408 }),
            TxEvent::TransportError => Some(Input::SeatFailed { status: 503 }),
        }
    }

    fn contact(&self) -> String {
        format!("<sip:12345@{}>", self.env.contact_host)
    }

    fn respond_caller(&mut self, status: u16, reason: &str, with_sdp: bool) {
        let contact = self.contact();
        let mut b = self
            .invite
            .response(status, reason)
            .to_tag(&self.local_tag)
            .header("Contact", &contact);
        if status == 503 {
            // Every 503 says when to come back, so balancers and carriers back off instead of failing over.
            let retry = self.env.cfg.calls.retry_after_s.to_string();
            b = b.header("Retry-After", &retry);
        }
        if status == 200 {
            b = b.header("Allow", sip::registrar::ALLOW);
            for (n, v) in session_timer(&self.invite) {
                b = b.header(n, &v);
            }
        }
        if with_sdp {
            if let Some(sdp) = &self.answer_sdp {
                b = b.body("application/sdp", sdp.as_bytes());
            }
        }
        let Some(resp) = parse_built(b.build(), "response to caller") else {
            return;
        };
        if status == 200 && self.caller_dialog.is_none() {
            let local: Option<Uri> =
                Uri::parse(&format!("sip:12345@{}", self.env.contact_host)).ok();
            if let Some(local) = local {
                match Dialog::uas(&self.invite, &self.local_tag, &local) {
                    Ok(d) => self.caller_dialog = Some(d),
                    Err(e) => warn!(error = ?e, "caller dialog not usable"),
                }
            }
            self.env.calls.answered_on(self.invite_tx.id(), self.key);
        }
        self.invite_tx.respond(resp);
    }

    async fn execute(&mut self, outputs: Vec<Output>) {
        let mut pending = outputs;
        while !pending.is_empty() {
            let mut more = Vec::new();
            for out in pending {
                if let Some(input) = self.execute_one(out).await {
                    more.extend(self.call.handle(input, Clock::wall_ms()));
                }
            }
            pending = more;
        }
    }

    /// Carry out one output; an immediate failure comes back as an input (e.g. no binding for a seat).
    async fn execute_one(&mut self, out: Output) -> Option<Input> {
        match out {
            Output::EarlyMedia => self.respond_caller(183, "Session Progress", true),
            Output::Answer => {
                self.respond_caller(200, "OK", true);
                // Silence in early media was fine; from now on no RTP for media_timeout ends the call.
                if let (Some(leg), Some(neg)) = (&self.caller_media, &self.caller_neg) {
                    leg.set_remote(neg);
                }
            }
            Output::Reject { status, reason } => self.respond_caller(status, &reason, false),
            Output::Play { prompt, looped } => {
                let Some(leg) = &self.caller_media else {
                    return None;
                };
                match self.env.plans.prompt(&prompt) {
                    Some(p) => leg.play(p, looped),
                    // A prompt that cannot be played must not strand the caller: go on as if it ended.
                    None if !looped => return Some(Input::PromptFinished),
                    None => {}
                }
            }
            Output::StopPlaying => {
                if let Some(leg) = &self.caller_media {
                    leg.stop_playing();
                }
            }
            Output::Enqueue { queue } => {
                self.queue = Some(queue.clone());
                self.env.acd.send(AcdMsg::Enqueue {
                    call: self.key,
                    queue,
                });
            }
            Output::Abandon { queue } => {
                self.env.acd.send(AcdMsg::Abandon {
                    call: self.key,
                    queue,
                });
            }
            Output::InviteSeat { seat } => return self.invite_seat(seat).await,
            Output::CancelSeat => {
                if let Some(s) = self.seat.as_mut() {
                    if s.got_provisional && !s.cancelled {
                        s.cancelled = true;
                        self.env.endpoint.cancel(&s.invite, s.dest, s.transport);
                    } else {
                        s.cancel_pending = true;
                    }
                    // Keep the leg until its INVITE transaction ends (a late 2xx gets ACK + BYE).
                    if let Some(old) = self.seat.take() {
                        spawn_seat_drain(self.env.clone(), old);
                    }
                }
            }
            Output::ByeSeat => {
                if let Some(s) = self.seat.as_mut() {
                    send_bye_seat(&self.env, s);
                }
            }
            Output::ByeCaller => self.bye_caller(),
            Output::Bridge => {
                if let (Some(a), Some(b)) = (&self.caller_media, &self.seat) {
                    media::bridge(a, &b.media);
                }
            }
            Output::SeatAnswered {
                seat,
                queue,
                waited_ms,
            } => {
                self.env.acd.send(AcdMsg::Answered {
                    call: self.key,
                    seat,
                    queue,
                    waited_ms,
                });
            }
            Output::SeatOfferFailed {
                seat,
                queue,
                waiting_since_ms,
            } => {
                if let Some(s) = self.seat.take() {
                    spawn_seat_drain(self.env.clone(), s);
                }
                self.env.acd.send(AcdMsg::OfferFailed {
                    call: self.key,
                    seat,
                    queue,
                    waiting_since_ms,
                });
            }
            Output::SeatReleased { seat } => {
                self.env.acd.send(AcdMsg::Released { seat });
            }
            Output::Reroute { digits } => {
                let (called, caller, diversion) = route_parts(&self.invite);
                let decision = self.env.plans.live.route(&CallQuery {
                    called: &called,
                    diversion: diversion.as_deref(),
                    caller: Some(&caller),
                    at: chrono::Utc::now(),
                    digits: &digits,
                });
                info!(digits, action = ?decision.action, reason = %decision.reason, "menu choice");
                return Some(Input::Rerouted {
                    plan: plan_for(&self.env, &decision),
                    department: decision.department.as_deref().map(str::to_string),
                });
            }
            Output::StartTimer { kind, after_ms } => {
                let at = Instant::now() + Duration::from_millis(after_ms.max(0) as u64);
                self.timers.push((at, kind));
            }
            Output::Finished(record) => {
                info!(
                    reason = record.end_reason.as_str(),
                    seat = ?record.seat,
                    wait_ms = record.wait_ms,
                    "call ended"
                );
                metrics::counter!(m::CALLS_ENDED, "reason" => record.end_reason.as_str())
                    .increment(1);
                self.env.records.submit(*record);
            }
        }
        None
    }

    /// Where to send the INVITE for `seat`: a registered seat's binding, or a dial-plan target URI
    /// (its host an IP address, or a name from `[trunks] gateways`).
    fn resolve(&self, seat: &str) -> Result<(Uri, SocketAddr, TransportKind), u16> {
        if seat.contains(':') {
            let uri = Uri::parse(seat).map_err(|_| 404u16)?;
            let port = uri.port.unwrap_or(5060);
            let dest = match uri.host.parse::<std::net::IpAddr>() {
                Ok(ip) => SocketAddr::new(ip, port),
                Err(_) => *self.env.cfg.trunks.gateways.get(&uri.host).ok_or_else(|| {
                    warn!(
                        target = seat,
                        "no gateway configured for this target's host"
                    );
                    503u16
                })?,
            };
            let transport = match uri.param("transport").flatten() {
                Some(t) if t.eq_ignore_ascii_case("tcp") => TransportKind::Tcp,
                _ => TransportKind::Udp,
            };
            return Ok((uri, dest, transport));
        }
        let Some(c) = self.env.seats.contact(seat) else {
            info!(seat, "seat has no registration left");
            return Err(480);
        };
        Ok((c.uri, c.dest, c.transport))
    }

    async fn invite_seat(&mut self, seat: String) -> Option<Input> {
        let (ruri, dest, transport) = match self.resolve(&seat) {
            Ok(r) => r,
            Err(status) => return Some(Input::SeatFailed { status }),
        };
        let leg = match self.env.media.open_leg().await {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %e, "no media port for the seat leg");
                return Some(Input::SeatFailed { status: 503 });
            }
        };
        let codecs = match self.caller_codec {
            Codec::Pcma => [Codec::Pcma, Codec::Pcmu],
            Codec::Pcmu => [Codec::Pcmu, Codec::Pcma],
        };
        let mut session = SdpSession::new(rand::random::<u32>() as u64);
        let offer = sdp::offer(
            leg.local_addr(),
            &mut session,
            &codecs,
            101,
            Direction::SendRecv,
        );
        let domain = &self.env.cfg.sip.domain;
        let call_id = new_call_id(domain);
        let caller = self.invite.from().uri.user.clone().unwrap_or_default();
        let from = NameAddr::new(
            Uri::parse(&format!("sip:{}@{}", sanitize_user(&caller), domain))
                .unwrap_or_else(|_| ruri.clone()),
        );
        let to = if seat.contains(':') {
            format!("<{ruri}>")
        } else {
            format!("<sip:{seat}@{domain}>")
        };
        let req = RequestBuilder::new(Method::Invite, &ruri)
            .header("Via", &self.env.endpoint.via(transport, &new_branch()))
            .header("Max-Forwards", "70")
            .header("From", &format!("{from};tag={}", new_tag()))
            .header("To", &to)
            .header("Call-ID", &call_id)
            .header("CSeq", "1 INVITE")
            .header("Contact", &self.contact())
            .header("Allow", sip::registrar::ALLOW)
            .body("application/sdp", offer.as_bytes())
            .build();
        let invite = parse_built(req, "seat INVITE")?;
        let events = self.env.endpoint.request(invite.clone(), dest, transport);
        self.env.calls.add_call_id(self.key, &call_id);
        info!(seat, contact = %ruri, %dest, "ringing");
        self.seat = Some(SeatLeg {
            seat,
            call_id,
            invite,
            dest,
            transport,
            events: Some(events),
            dialog: None,
            media: leg,
            sdp: session,
            last_sdp: offer.clone(),
            got_provisional: false,
            cancel_pending: false,
            cancelled: false,
        });
        None
    }

    fn bye_caller(&mut self) {
        let via = self.env.endpoint.via(self.transport, &new_branch());
        let Some(d) = self.caller_dialog.as_mut() else {
            return;
        };
        let Some(bye) = parse_built(d.request(Method::Bye).header("Via", &via).build(), "BYE")
        else {
            return;
        };
        let events = self.env.endpoint.request(bye, self.source, self.transport);
        drain(events);
    }

    fn cleanup(&mut self) {
        let seat_call_id = self.seat.as_ref().map(|s| s.call_id.as_str());
        self.env.calls.close(
            self.key,
            std::iter::once(self.invite.call_id()).chain(seat_call_id),
        );
        self.env.calls.forget_answered(self.invite_tx.id());
        self.env.stats.calls_ended.fetch_add(1, Ordering::Relaxed);
    }
}

/// RFC 4028: when the peer asked for session timers and supports them, accept its interval with the
/// peer as refresher (we answer its refreshes; we never need to send our own).
fn session_timer(req: &SipMessage) -> Vec<(&'static str, String)> {
    match req.session_expires() {
        Some(n)
            if req
                .supported()
                .iter()
                .any(|s| s.eq_ignore_ascii_case("timer")) =>
        {
            vec![
                ("Session-Expires", format!("{n};refresher=uac")),
                ("Require", "timer".to_string()),
            ]
        }
        _ => Vec::new(),
    }
}

/// Users in URIs we build from a caller's number: keep it a valid user part.
fn sanitize_user(s: &str) -> String {
    let u: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_' | '*' | '#'))
        .collect();
    if u.is_empty() {
        "anonymous".into()
    } else {
        u
    }
}

fn ack_2xx(shared: &CallEnv, d: &Dialog, resp: &SipMessage, dest: SocketAddr, t: TransportKind) {
    let via = shared.endpoint.via(t, &new_branch());
    if let Some(ack) = parse_built(d.ack_for(resp).header("Via", &via).build(), "ACK") {
        shared.endpoint.send_raw(ack.wire(), dest, t);
    }
}

fn bye(shared: &CallEnv, d: &mut Dialog, dest: SocketAddr, t: TransportKind) {
    let via = shared.endpoint.via(t, &new_branch());
    if let Some(bye) = parse_built(d.request(Method::Bye).header("Via", &via).build(), "BYE") {
        drain(shared.endpoint.request(bye, dest, t));
    }
}

fn send_ack(shared: &CallEnv, seat: &SeatLeg, resp: &SipMessage) {
    if let Some(d) = seat.dialog.as_ref() {
        ack_2xx(shared, d, resp, seat.dest, seat.transport);
    }
}

fn send_bye_seat(shared: &CallEnv, seat: &mut SeatLeg) {
    let (dest, t) = (seat.dest, seat.transport);
    if let Some(d) = seat.dialog.as_mut() {
        bye(shared, d, dest, t);
    }
}

/// A seat leg we gave up on (cancelled, no answer): follow its INVITE transaction to the end so a
/// late 2xx is ACKed and hung up instead of leaving the operator's phone in a call with nobody.
/// Only the signalling goes on: the leg's RTP port is released now, so a call never holds more than two.
fn spawn_seat_drain(shared: Arc<CallEnv>, seat: SeatLeg) {
    let SeatLeg {
        call_id,
        invite,
        dest,
        transport,
        events,
        dialog,
        mut cancelled,
        media,
        ..
    } = seat;
    drop(media);
    shared.calls.remove_call_id(&call_id);
    if dialog.is_some() {
        return; // already answered (and BYE sent by the caller of this function if needed)
    }
    let Some(mut events) = events else {
        return;
    };
    tokio::spawn(async move {
        let mut dialog: Option<Dialog> = None;
        while let Some(ev) = events.next().await {
            match ev {
                TxEvent::Provisional(_) if !cancelled => {
                    cancelled = true;
                    shared.endpoint.cancel(&invite, dest, transport);
                }
                TxEvent::Final(resp) if resp.status().is_some_and(|s| (200..300).contains(&s)) => {
                    let first = dialog.is_none();
                    if first {
                        dialog = Dialog::uac(&invite, &resp).ok();
                    }
                    if let Some(d) = dialog.as_mut() {
                        ack_2xx(&shared, d, &resp, dest, transport);
                        if first {
                            bye(&shared, d, dest, transport);
                        }
                    }
                }
                _ => {}
            }
        }
    });
}

/// Follow a fire-and-forget transaction (BYE) so its events do not pile up.
fn drain(mut events: ClientTx) {
    tokio::spawn(async move { while events.next().await.is_some() {} });
}

async fn next_media_event(leg: Option<&mut MediaLeg>) -> Option<MediaEvent> {
    match leg {
        Some(l) => l.next_event().await,
        None => std::future::pending().await,
    }
}

async fn next_tx_event(tx: Option<&mut ClientTx>) -> Option<TxEvent> {
    match tx {
        Some(t) => t.next().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
