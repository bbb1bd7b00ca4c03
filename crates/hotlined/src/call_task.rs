//! One task per call: the pump between the call's sans-IO cores — `call::Call` (the business flow) and
//! one `sip::session::InviteSession` per leg (the SIP rules, in `legs.rs`) — and the I/O: endpoint,
//! media engine, ACD, record sink, and one timer wheel keyed by the cores' timer ids. No SIP or call
//! rule lives here: inputs go in, outputs are carried out.

use crate::admission::Refusal;
use crate::clock::Clock;
use crate::env::CallEnv;
use crate::intake::{from_user, mask, route_parts};
use crate::legs::{LegIo, LegWake};
use crate::mailbox::{AcdMsg, CallMsg};
use crate::metrics_names as m;
use crate::respond::reply;
use acd::CallKey;
use call::{Call, CallPolicy, CallSetup, Input, LegId, Output, Plan, TimerKind};
use dialplan::CallQuery;
use media::sdp::{self, Codec, SdpSession};
use sip::endpoint::Incoming;
use sip::session::{SessionEvent, SessionOutput, SessionTimer, TerminationReason};
use sip::transaction::ServerTxId;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::{info, info_span, warn, Instrument};

/// A new INVITE (no To tag): admission, validation, routing, then a task of its own.
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
    let wall_start_ms = Clock::wall_ms();
    let decision = env.plans.live.route(&CallQuery {
        called: &called,
        diversion: diversion.as_deref(),
        caller: Some(&caller),
        at: chrono::DateTime::from_timestamp_millis(wall_start_ms).unwrap_or_default(),
        digits: "",
    });
    let mut plan = call::plan_for(&decision, env.plans.hold.clone());
    let call_id = msg.call_id().to_string();
    let (key, rx) = env.calls.open(&call_id);
    let span = info_span!("call", call_id = %call_id, key);
    info!(parent: &span, caller = %mask(&caller), called = %called, original = ?diversion,
        mode = ?decision.mode, action = ?decision.action, reason = %decision.reason, "new call");
    env.stats.calls_started.fetch_add(1, Ordering::Relaxed);
    metrics::counter!(m::CALLS_STARTED, "mode" => decision.mode.as_str()).increment(1);
    let env = env.clone();
    tokio::spawn(
        async move {
            // Media and SDP before anything is answered: an offer we cannot serve gets 488 now.
            let mut media = None;
            let mut caller_answer = None;
            let mut caller_codec = Codec::Pcmu;
            if !matches!(plan, Plan::Reject { .. }) {
                match env.media.open_leg().await {
                    Ok(leg) => {
                        let offer = std::str::from_utf8(msg.body()).unwrap_or("");
                        let mut session = SdpSession::new(rand::random::<u32>() as u64);
                        // A delayed offer (no SDP) is legal, but early media needs our answer in the 183 and
                        // without 100rel we could not get the caller's: refuse it as not acceptable.
                        let result = if offer.trim().is_empty() {
                            Err(sdp::SdpError {
                                status: 488,
                                reason: "INVITE without SDP offer is not supported".into(),
                            })
                        } else {
                            sdp::answer(offer, leg.local_addr(), &mut session)
                        };
                        match result {
                            Ok((neg, body)) => {
                                leg.set_remote(&neg);
                                caller_codec = neg.codec;
                                caller_answer = Some(body);
                                media = Some((leg, session, Some(neg)));
                            }
                            Err(e) => {
                                info!(status = e.status, reason = %e.reason, "offer refused");
                                let reason = if e.status == 488 {
                                    "Not Acceptable Here"
                                } else {
                                    "Bad Request"
                                };
                                plan = Plan::Reject {
                                    status: e.status,
                                    reason: reason.into(),
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
            let calls = &env.cfg.calls;
            let policy = CallPolicy {
                answer_before_queue: calls.answer_before_queue,
                seat_ring_timeout_ms: calls.seat_ring_timeout_s as i64 * 1000,
                seat_retry_after_ms: calls.seat_retry_after_s as i64 * 1000,
                connect_ring_timeout_ms: calls.connect_ring_timeout_s as i64 * 1000,
                menu_timeout_ms: calls.menu_timeout_s as i64 * 1000,
                hold: env.plans.hold.clone(),
            };
            let setup = CallSetup {
                call_id,
                caller,
                called,
                original_called: diversion,
                wall_start_ms,
                decision,
                router: env.plans.live.clone(),
            };
            let now = env.clock.now_ms();
            let (call, outputs) = Call::with_plan(setup, policy, plan, now);
            let from_user = from_user(&msg);
            let invite_tx_id = invite_tx.id();
            let caller = LegIo::caller(&env, msg, invite_tx, source, transport, media, now);
            let mut task = CallTask {
                env,
                key,
                call,
                rx,
                rx_open: true,
                legs: vec![caller],
                timers: TimerWheel::default(),
                pending: VecDeque::new(),
                invite_tx: invite_tx_id,
                caller_answer,
                caller_codec,
                from_user,
                conference: None,
                closed: false,
            };
            task.execute(outputs).await;
            task.run().await;
            task.close();
        }
        .instrument(span),
    );
}

/// What a timer of the wheel stands for: one of the call's, or one of a leg's session.
#[derive(Debug, Clone, Copy)]
enum TimerId {
    Call(TimerKind),
    Session(LegId, SessionTimer),
}

/// The call's one timer wheel, in the clock's monotonic ms. Timers are never cancelled: the cores
/// recognise a stale one (attempt, round, generation) and ignore it.
#[derive(Default)]
struct TimerWheel {
    at: BTreeMap<(i64, u64), TimerId>,
    seq: u64,
}

impl TimerWheel {
    fn push(&mut self, at_ms: i64, id: TimerId) {
        self.seq += 1;
        self.at.insert((at_ms, self.seq), id);
    }

    fn next_at(&self) -> Option<i64> {
        self.at.keys().next().map(|(at, _)| *at)
    }

    fn pop_due(&mut self, now_ms: i64) -> Option<TimerId> {
        let (&(at, seq), _) = self.at.iter().next()?;
        (at <= now_ms).then(|| self.at.remove(&(at, seq))).flatten()
    }
}

struct CallTask {
    env: Arc<CallEnv>,
    key: CallKey,
    call: Call,
    rx: mpsc::UnboundedReceiver<CallMsg>,
    rx_open: bool,
    /// The caller first; every further leg in the order dialled.
    legs: Vec<LegIo>,
    timers: TimerWheel,
    /// Inputs for the call that outputs produced (carried out in order, never recursively).
    pending: VecDeque<Input>,
    invite_tx: ServerTxId,
    /// Our SDP answer to the caller's offer (in the 183 and the 200).
    caller_answer: Option<String>,
    caller_codec: Codec,
    from_user: String,
    conference: Option<(Vec<LegId>, media::Conference)>,
    closed: bool,
}

enum Wake {
    Msg(Option<CallMsg>),
    Leg(LegWake),
    Timer,
}

impl CallTask {
    async fn run(&mut self) {
        loop {
            let finished = self.call.is_finished();
            if finished {
                self.close();
                if !self.legs.iter().any(LegIo::draining) {
                    return;
                }
            }
            let next = self
                .timers
                .next_at()
                .map(|at| self.env.clock.instant_at(at));
            let legs = &mut self.legs;
            let wake = tokio::select! {
                msg = self.rx.recv(), if self.rx_open => Wake::Msg(msg),
                w = std::future::poll_fn(|cx| LegIo::poll_any(legs, !finished, cx)) => Wake::Leg(w),
                _ = sleep_until(next) => Wake::Timer,
            };
            let now = self.env.clock.now_ms();
            match wake {
                Wake::Msg(None) => self.rx_open = false,
                Wake::Msg(Some(CallMsg::Sip(inc))) => self.on_sip(*inc, now),
                Wake::Msg(Some(CallMsg::SeatAssigned { seat })) => {
                    self.pending.push_back(Input::SeatAssigned { seat })
                }
                Wake::Msg(Some(CallMsg::AckTimeout)) => {
                    let out = self.legs[0].session.on_ack_timeout(now);
                    self.session_outputs(LegId::CALLER, out, now);
                }
                Wake::Leg(LegWake::Media(leg, ev)) => {
                    let input = match ev {
                        media::MediaEvent::PromptFinished => Input::PromptFinished { leg },
                        media::MediaEvent::Dtmf { digit, .. } => Input::Dtmf { leg, digit },
                        media::MediaEvent::MediaTimeout => Input::MediaTimeout { leg },
                    };
                    self.pending.push_back(input);
                }
                Wake::Leg(LegWake::Tx(leg, key, ev)) => {
                    if let Some(io) = self.leg(leg) {
                        let out = io.on_tx_event(key, ev, now);
                        self.session_outputs(leg, out, now);
                    }
                }
                Wake::Timer => {
                    while let Some(t) = self.timers.pop_due(now) {
                        match t {
                            TimerId::Call(kind) => self.pending.push_back(Input::Timer(kind)),
                            TimerId::Session(leg, timer) => {
                                if let Some(io) = self.leg(leg) {
                                    let out = io.session.on_timer(timer, now);
                                    self.session_outputs(leg, out, now);
                                }
                            }
                        }
                    }
                }
            }
            self.execute(Vec::new()).await;
        }
    }

    fn leg(&mut self, id: LegId) -> Option<&mut LegIo> {
        self.legs.iter_mut().find(|l| l.id == id)
    }

    /// A request for one of this call's Call-IDs.
    fn on_sip(&mut self, inc: Incoming, now: i64) {
        let Some(io) = self
            .legs
            .iter_mut()
            .find(|l| l.session.call_id() == inc.msg.call_id())
        else {
            return reply(
                &inc.tx,
                &inc.msg,
                481,
                "Call/Transaction Does Not Exist",
                &[],
            );
        };
        let id = io.id;
        let out = io.on_request(&inc.msg, inc.tx, now);
        self.session_outputs(id, out, now);
    }

    /// Carry out a leg session's outputs; its events become the call's inputs.
    fn session_outputs(&mut self, id: LegId, out: Vec<SessionOutput>, now: i64) {
        let Some(io) = self.legs.iter_mut().find(|l| l.id == id) else {
            return;
        };
        let (events, timers) = io.carry_out(&self.env, out);
        for (timer, after_ms) in timers {
            self.timers
                .push(now + after_ms, TimerId::Session(id, timer));
        }
        for ev in events {
            if let Some(input) = self.on_session_event(id, ev, now) {
                self.pending.push_back(input);
            }
        }
    }

    fn on_session_event(&mut self, leg: LegId, ev: SessionEvent, now: i64) -> Option<Input> {
        let io = self.legs.iter_mut().find(|l| l.id == leg)?;
        Some(match ev {
            SessionEvent::Ringing { .. } => Input::LegRinging { leg },
            SessionEvent::Answered { sdp } => {
                io.accept_answer(sdp.as_deref());
                Input::LegAnswered { leg }
            }
            SessionEvent::Failed { status } => {
                self.give_up(leg);
                Input::LegFailed { leg, status }
            }
            SessionEvent::Confirmed => Input::CallerAck,
            SessionEvent::Cancelled => Input::CallerCancel,
            SessionEvent::Offer { key, sdp } => {
                let out = io.answer_offer(key, &sdp, now);
                self.session_outputs(leg, out, now);
                return None;
            }
            SessionEvent::OfferAnswered { .. } | SessionEvent::OfferRejected { .. } => return None,
            SessionEvent::Dtmf { digit } => Input::Dtmf { leg, digit },
            SessionEvent::Terminated {
                reason: TerminationReason::AckTimeout,
            } => Input::AckTimeout,
            SessionEvent::Terminated { .. } => Input::LegHangup { leg },
        })
    }

    /// The call is done with a further leg: its port goes now, requests for it get 481 from the
    /// dispatcher; its INVITE transaction is still followed (a late 2xx gets ACK + BYE).
    fn give_up(&mut self, leg: LegId) {
        if leg == LegId::CALLER {
            return;
        }
        if let Some(io) = self.legs.iter_mut().find(|l| l.id == leg) {
            io.media = None;
            self.env.calls.remove_call_id(io.session.call_id());
        }
    }

    /// Carry out `outputs`, then every input they (and the legs) produced, in order.
    async fn execute(&mut self, outputs: Vec<Output>) {
        for out in outputs {
            self.execute_one(out).await;
        }
        while let Some(input) = self.pending.pop_front() {
            let now = self.env.clock.now_ms();
            for out in self.call.handle(input, now) {
                self.execute_one(out).await;
            }
        }
    }

    async fn execute_one(&mut self, out: Output) {
        let now = self.env.clock.now_ms();
        let caller = LegId::CALLER;
        match out {
            Output::EarlyMedia => {
                let sdp = self.caller_answer.clone();
                let out = self.legs[0]
                    .session
                    .provisional(183, "Session Progress", sdp.as_deref());
                self.session_outputs(caller, out, now);
            }
            Output::Answer => {
                let sdp = self.caller_answer.clone().unwrap_or_default();
                let out = self.legs[0].session.answer(&sdp, now);
                self.session_outputs(caller, out, now);
                self.env.calls.answered_on(self.invite_tx, self.key);
                // Silence in early media was fine; from now on no RTP for media_timeout ends the call.
                if let (Some(m), Some(n)) = (&self.legs[0].media, &self.legs[0].negotiated) {
                    m.set_remote(n);
                }
            }
            Output::Reject { status, reason } => {
                // Every 503 says when to come back, so balancers and carriers back off instead of failing over.
                let retry = self.env.cfg.calls.retry_after_s.to_string();
                let extra: &[(&str, &str)] = if status == 503 {
                    &[("Retry-After", &retry)]
                } else {
                    &[]
                };
                let out = self.legs[0].session.reject(status, &reason, extra);
                self.session_outputs(caller, out, now);
            }
            Output::Dial { leg, target } => {
                match LegIo::dial(
                    &self.env,
                    leg,
                    &target,
                    &self.from_user,
                    self.caller_codec,
                    now,
                )
                .await
                {
                    Ok((io, out)) => {
                        self.env.calls.add_call_id(self.key, io.session.call_id());
                        self.legs.push(io);
                        self.session_outputs(leg, out, now);
                    }
                    Err(status) => self.pending.push_back(Input::LegFailed { leg, status }),
                }
            }
            Output::Cancel { leg } | Output::Hangup { leg } => {
                if let Some(io) = self.leg(leg) {
                    let out = io.session.hangup(now);
                    self.session_outputs(leg, out, now);
                }
                self.give_up(leg);
            }
            Output::Play {
                leg,
                prompt,
                looped,
            } => {
                let Some(m) = self.media_of(leg) else { return };
                match self.env.plans.prompt(&prompt) {
                    Some(p) => m.play(p, looped),
                    // A prompt that cannot be played must not strand the caller: go on as if it ended.
                    None if !looped => self.pending.push_back(Input::PromptFinished { leg }),
                    None => {}
                }
            }
            Output::StopPlaying { leg } => {
                if let Some(m) = self.media_of(leg) {
                    m.stop_playing();
                }
            }
            Output::Bridge { a, b } => {
                self.conference = None;
                if let (Some(ma), Some(mb)) = (self.media_of(a), self.media_of(b)) {
                    media::bridge(ma, mb);
                }
            }
            Output::Mix { legs } => {
                let members: Vec<&media::MediaLeg> =
                    legs.iter().filter_map(|l| self.media_of(*l)).collect();
                let conf = media::conference(&members);
                self.conference = Some((legs, conf));
            }
            Output::Isolate { leg } => {
                if self
                    .conference
                    .as_ref()
                    .is_some_and(|(m, _)| m.contains(&leg))
                {
                    self.conference = None;
                }
                if let Some(ml) = self.media_of(leg) {
                    for other in self.legs.iter().filter(|l| l.id != leg) {
                        if let Some(mo) = &other.media {
                            media::unbridge(ml, mo);
                        }
                    }
                }
            }
            Output::Enqueue { queue } => self.env.acd.send(AcdMsg::Enqueue {
                call: self.key,
                queue,
            }),
            Output::Abandon { queue } => self.env.acd.send(AcdMsg::Abandon {
                call: self.key,
                queue,
            }),
            Output::SeatAnswered {
                seat,
                queue,
                waited_ms,
            } => self.env.acd.send(AcdMsg::Answered {
                call: self.key,
                seat,
                queue,
                waited_ms,
            }),
            Output::SeatOfferFailed {
                seat,
                queue,
                waiting_since_ms,
            } => self.env.acd.send(AcdMsg::OfferFailed {
                call: self.key,
                seat,
                queue,
                waiting_since_ms,
            }),
            Output::SeatReleased { seat } => self.env.acd.send(AcdMsg::Released { seat }),
            Output::StartTimer { kind, after_ms } => {
                self.timers.push(now + after_ms.max(0), TimerId::Call(kind))
            }
            Output::Finished(record) => {
                info!(reason = record.end_reason.as_str(), seat = ?record.seat, wait_ms = record.wait_ms, "call ended");
                metrics::counter!(m::CALLS_ENDED, "reason" => record.end_reason.as_str())
                    .increment(1);
                self.env.records.submit(*record);
            }
        }
    }

    fn media_of(&self, leg: LegId) -> Option<&media::MediaLeg> {
        self.legs.iter().find(|l| l.id == leg)?.media.as_ref()
    }

    /// The call is over (its record is out): its Call-IDs and mailbox go. Legs still draining keep
    /// the task alive, uncounted.
    fn close(&mut self) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        self.conference = None;
        for l in &mut self.legs {
            l.media = None;
        }
        self.env
            .calls
            .close(self.key, self.legs.iter().map(|l| l.session.call_id()));
        self.env.calls.forget_answered(self.invite_tx);
        self.env.stats.calls_ended.fetch_add(1, Ordering::Relaxed);
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
