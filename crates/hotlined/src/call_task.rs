//! One task per call: the pump between the call's sans-IO cores — `call::Call` (the business flow) and
//! one `sip::session::InviteSession` per leg (the SIP rules, in `legs.rs`) — and the I/O: endpoint,
//! media engine, ACD, record sink, and one timer wheel keyed by the cores' timer ids. No SIP or call
//! rule lives here: inputs go in, outputs are carried out.

use crate::env::CallEnv;
use crate::legs::{media_of, LegIo, LegWake, Mixing};
use crate::mailbox::{acd_message, CallMsg};
use crate::metrics_names as m;
use crate::timers::{TimerId, TimerWheel};
use acd::CallKey;
use call::{Call, Input, LegId, Output};
use media::sdp::Codec;
use sip::session::{reason_phrase, SessionOutput};
use sip::transaction::ServerTxId;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::info;

/// What `intake` hands a new call's task.
pub struct CallParts {
    pub key: CallKey,
    pub rx: mpsc::UnboundedReceiver<CallMsg>,
    pub caller: LegIo,
    pub invite_tx: ServerTxId,
    pub caller_answer: Option<String>,
    pub caller_codec: Codec,
    pub from_user: String,
    /// For a consult call: the call its operator talks in, which gets the consult's attempt.
    pub parent: Option<CallKey>,
}

/// Run the call to its end: its first outputs, then every input until it finishes and its legs drained.
pub async fn run(env: Arc<CallEnv>, call: Call, outputs: Vec<Output>, p: CallParts) {
    let mut task = CallTask {
        env,
        key: p.key,
        call,
        rx: p.rx,
        rx_open: true,
        legs: vec![p.caller],
        timers: TimerWheel::default(),
        pending: VecDeque::new(),
        invite_tx: p.invite_tx,
        caller_answer: p.caller_answer,
        caller_codec: p.caller_codec,
        from_user: p.from_user,
        mixing: Mixing::default(),
        closed: false,
        parent: p.parent,
        joins: VecDeque::new(),
        quality: Vec::new(),
    };
    task.execute(outputs).await;
    task.run().await;
    task.close();
}

pub(crate) struct CallTask {
    pub(crate) env: Arc<CallEnv>,
    pub(crate) key: CallKey,
    pub(crate) call: Call,
    rx: mpsc::UnboundedReceiver<CallMsg>,
    rx_open: bool,
    /// The caller first; every further leg in the order dialled (or adopted).
    pub(crate) legs: Vec<LegIo>,
    pub(crate) timers: TimerWheel,
    /// Inputs for the call that outputs produced (carried out in order, never recursively).
    pub(crate) pending: VecDeque<Input>,
    invite_tx: ServerTxId,
    /// Our SDP answer to the caller's offer (in the 183 and the 200).
    caller_answer: Option<String>,
    caller_codec: Codec,
    from_user: String,
    mixing: Mixing,
    pub(crate) closed: bool,
    /// A consult call's caller's call (see `CallParts::parent`).
    pub(crate) parent: Option<CallKey>,
    /// Calls whose join requests the core has yet to answer, in order: (call, the leg it will be there).
    pub(crate) joins: VecDeque<(CallKey, LegId)>,
    /// RTCP figures of the legs that ended, for the record (`call_quality.rs`).
    pub(crate) quality: Vec<record::LegQuality>,
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
                    // Messages sent before the close still get their answer (a leg handed over is hung up).
                    match self.rx.try_recv() {
                        Ok(msg) => {
                            self.on_msg(msg, self.env.clock.now_ms());
                            self.execute(Vec::new()).await;
                            continue;
                        }
                        Err(_) => return,
                    }
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
                Wake::Msg(Some(msg)) => self.on_msg(msg, now),
                Wake::Leg(LegWake::Media(leg, ev)) => {
                    let input = match ev {
                        media::MediaEvent::PromptFinished => Input::PromptFinished { leg },
                        media::MediaEvent::Dtmf { digit, .. } => {
                            info!(leg = leg.0, %digit, "key");
                            Input::Dtmf { leg, digit }
                        }
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
                            TimerId::TrunkSetup(leg, n) => self.trunk_setup_expired(leg, n, now),
                        }
                    }
                }
            }
            self.execute(Vec::new()).await;
        }
    }

    pub(crate) fn leg(&mut self, id: LegId) -> Option<&mut LegIo> {
        self.legs.iter_mut().find(|l| l.id == id)
    }

    /// Carry out a leg session's outputs; its events become the call's inputs.
    pub(crate) fn session_outputs(&mut self, id: LegId, out: Vec<SessionOutput>, now: i64) {
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
        self.env.journal_answered(&mut self.call);
        self.note_seat(&out);
        let out = match acd_message(self.key, out) {
            Ok(msg) => return self.env.acd.send(msg),
            Err(out) => out,
        };
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
                let extra = [("Retry-After", retry.as_str())];
                let extra = if status == 503 { &extra[..] } else { &[] };
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
                        self.arm_trunk_setup(leg, now);
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
            Output::Bridge { a, b } => self.mixing.bridge(&self.legs, a, b),
            Output::Mix { legs } => self.mixing.mix(&self.legs, legs),
            Output::Isolate { leg } => self.mixing.isolate(&self.legs, leg),
            // Everything for the ACD was sent above.
            Output::Enqueue { .. }
            | Output::Abandon { .. }
            | Output::SeatAnswered { .. }
            | Output::SeatOfferFailed { .. }
            | Output::SeatReleased { .. }
            | Output::ReserveSeats { .. }
            | Output::SeatTaken { .. }
            | Output::ReleaseReserved
            | Output::AskPosition
            | Output::Requeue { .. } => {}
            Output::ReferReply { leg, status } => {
                let out = self.leg(leg).map(|io| io.reply_refer(status));
                self.session_outputs(leg, out.unwrap_or_default(), now);
            }
            Output::TransferNotify { leg, status } => {
                let out = self
                    .leg(leg)
                    .map(|io| io.session.notify_refer(status, reason_phrase(status)));
                self.session_outputs(leg, out.unwrap_or_default(), now);
            }
            Output::LookupTicket {
                number,
                code,
                caller,
            } => crate::selfquery::lookup(&self.env, self.key, number, code, caller),
            Output::ClaimLeg { from, leg, seat } => self.claim(from, leg, seat),
            Output::HandOver { leg, handover } => self.hand_over(leg, *handover),
            Output::JoinRefused { status } => self.refuse_join(status),
            Output::ConsultEnded { attempt } => self.consult_ended(attempt),
            Output::StartTimer { kind, after_ms } => {
                self.timers.push(now + after_ms.max(0), TimerId::Call(kind))
            }
            Output::Finished(mut record) => {
                record.quality = self.legs_quality();
                info!(reason = record.end_reason.as_str(), seat = ?record.seat, wait_ms = record.wait_ms, "call ended");
                metrics::counter!(m::CALLS_ENDED, "reason" => record.end_reason.as_str())
                    .increment(1);
                self.env.stats.count(&record);
                self.env.records.submit(*record);
            }
        }
    }

    fn media_of(&self, leg: LegId) -> Option<&media::MediaLeg> {
        media_of(&self.legs, leg)
    }

    /// The call is over (its record is out): its Call-IDs and mailbox go. Legs still draining keep
    /// the task alive, uncounted.
    fn close(&mut self) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        self.mixing = Mixing::default();
        for l in &mut self.legs {
            l.media = None;
        }
        self.env
            .calls
            .close(self.key, self.legs.iter().map(|l| l.session.call_id()));
        self.env.calls.forget_answered(self.invite_tx);
        if !self.call.is_consult() {
            self.env.stats.calls_ended.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
