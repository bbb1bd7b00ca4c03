//! Call-back calls (回访, R-23): one task that asks the call-back list what is due (`ticket::callback`'s
//! scheduler over the store: allowed hours, retries), places that call (`call::CallBack`: one leg dialled out
//! through the trunk, the summary prompt, the survey) and reports the outcome back to the list, which keeps or
//! retires the entry by its retry policy. One call-back at a time. No SIP or call rule here: the sessions
//! (`legs.rs`) and the cores decide, this only pumps.

use crate::clock::Clock;
use crate::env::CallEnv;
use crate::legs::LegIo;
use crate::mailbox::CallMsg;
use crate::timers::{TimerId, TimerWheel};
use call::{CallBack, CallBackOutcome, CallBackPlan, Input, Output, Target};
use media::sdp::Codec;
use sip::session::{SessionEvent, SessionOutput};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use ticket::callback::{CallbackHours, CallbackOutcome, NextCallback};
use ticket::{Evaluation, Store};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Start the call-back task (only when `[callback] enabled`).
pub fn spawn(env: Arc<CallEnv>, store: Store, schedule: calendar::Schedule) {
    let policy = env.cfg.tickets.callbacks.clone();
    let hours = match CallbackHours::new(schedule.clone(), &policy) {
        Ok(h) => h,
        Err(e) => {
            warn!(error = %e, "call-back calls not started");
            return;
        }
    };
    let Some(survey) = env.cfg.survey.policy() else {
        warn!("call-back calls not started: survey.prompt is not set");
        return;
    };
    tokio::spawn(async move {
        let cb = &env.cfg.callback;
        let poll = Duration::from_secs(cb.poll_interval_s);
        info!(uri = %cb.uri, "call-back calls on");
        loop {
            let now = Clock::wall_ms();
            if let Err(e) = store.sync_callbacks(&policy, &schedule, now).await {
                warn!(error = %e, "call-back list not filled from the tickets");
            }
            let wait = match store.next_callback(&hours, now).await {
                Ok(NextCallback::Call { id }) => {
                    place(&env, &store, &id, &survey).await;
                    continue;
                }
                Ok(NextCallback::WaitUntil { at, .. }) => {
                    let ms = (at.timestamp_millis() - now).max(0) as u64;
                    poll.min(Duration::from_millis(ms))
                }
                Ok(NextCallback::Idle) => poll,
                Err(e) => {
                    warn!(error = %e, "call-back list not read");
                    poll
                }
            };
            tokio::time::sleep(wait).await;
        }
    });
}

/// One attempt at entry `id`: dial, run the call, record the outcome.
async fn place(env: &Arc<CallEnv>, store: &Store, id: &str, survey: &call::SurveyPolicy) {
    let cfg = &env.cfg.callback;
    let row = match store.callback(id).await {
        Ok(Some(row)) => row,
        Ok(None) => return,
        Err(e) => {
            warn!(error = %e, id, "call-back entry not read");
            tokio::time::sleep(Duration::from_secs(cfg.poll_interval_s)).await;
            return;
        }
    };
    let plan = CallBackPlan {
        target: Target::uri(&cfg.uri_for(&row.caller)),
        summary: cfg
            .summary_prompt
            .as_ref()
            .map(|p| Arc::from(p.to_string_lossy().as_ref())),
        survey: survey.clone(),
        ring_timeout_ms: cfg.ring_timeout_s as i64 * 1000,
    };
    info!(
        id,
        attempt = row.attempts + 1,
        kind = row.kind.as_str(),
        "call-back call"
    );
    let outcome = Pump::run(env.clone(), plan, id).await;
    let outcome = list_outcome(outcome);
    let policy = &env.cfg.tickets.callbacks;
    match store
        .record_callback_attempt(id, outcome, policy, Clock::wall_ms())
        .await
    {
        Ok(row) => info!(
            id,
            outcome = outcome.as_str(),
            state = row.state.as_str(),
            attempts = row.attempts,
            "call-back attempt recorded"
        ),
        Err(e) => {
            warn!(error = %e, id, "call-back attempt not recorded");
            tokio::time::sleep(Duration::from_secs(cfg.poll_interval_s)).await;
        }
    }
}

/// The call's outcome in the list's terms: a survey key 1–3 is a rating, any other key or none is reached
/// without one.
fn list_outcome(o: Option<CallBackOutcome>) -> CallbackOutcome {
    match o {
        Some(CallBackOutcome::Answered { key }) => match Evaluation::from_key(key) {
            Evaluation::NotEvaluated => CallbackOutcome::Answered,
            e => CallbackOutcome::Evaluated(e),
        },
        Some(CallBackOutcome::Busy) => CallbackOutcome::Busy,
        Some(CallBackOutcome::Refused) => CallbackOutcome::Refused,
        Some(CallBackOutcome::NoAnswer) | None => CallbackOutcome::NoAnswer,
    }
}

/// The pump of one call-back call: its core, its one leg, its timers, its mailbox.
struct Pump {
    env: Arc<CallEnv>,
    cb: CallBack,
    io: Option<LegIo>,
    timers: TimerWheel,
    pending: VecDeque<Input>,
    rx: mpsc::UnboundedReceiver<CallMsg>,
    key: acd::CallKey,
    placeholder: String,
}

impl Pump {
    async fn run(env: Arc<CallEnv>, plan: CallBackPlan, id: &str) -> Option<CallBackOutcome> {
        let now = env.clock.now_ms();
        let (cb, outputs) = CallBack::new(plan, now);
        // The leg's Call-ID joins once dialled; until then the call is known by the entry.
        let placeholder = format!("callback-{id}");
        let (key, rx) = env.calls.open(&placeholder);
        let mut p = Pump {
            env,
            cb,
            io: None,
            timers: TimerWheel::default(),
            pending: VecDeque::new(),
            rx,
            key,
            placeholder,
        };
        p.execute(outputs).await;
        p.pump().await;
        let mut ids = vec![p.placeholder.as_str()];
        if let Some(io) = &p.io {
            ids.push(io.session.call_id());
        }
        p.env.calls.close(p.key, ids);
        p.cb.outcome()
    }

    async fn pump(&mut self) {
        loop {
            let draining = self.io.as_ref().is_some_and(LegIo::draining);
            if self.cb.is_finished() && !draining {
                return;
            }
            let next = self
                .timers
                .next_at()
                .map(|at| self.env.clock.instant_at(at));
            let finished = self.cb.is_finished();
            let legs = match self.io.as_mut() {
                Some(io) => std::slice::from_mut(io),
                None => &mut [],
            };
            tokio::select! {
                msg = self.rx.recv() => {
                    if let Some(CallMsg::Sip(inc)) = msg {
                        let now = self.env.clock.now_ms();
                        if let Some(io) = self.io.as_mut() {
                            let out = io.on_request(&inc.msg, inc.tx, now);
                            self.session_outputs(out, now);
                        }
                    }
                }
                w = std::future::poll_fn(|cx| LegIo::poll_any(legs, !finished, cx)) => {
                    let now = self.env.clock.now_ms();
                    match w {
                        crate::legs::LegWake::Media(leg, ev) => self.pending.push_back(match ev {
                            media::MediaEvent::PromptFinished => Input::PromptFinished { leg },
                            media::MediaEvent::Dtmf { digit, .. } => {
                                info!(%digit, "call-back key");
                                Input::Dtmf { leg, digit }
                            }
                            media::MediaEvent::MediaTimeout => Input::MediaTimeout { leg },
                        }),
                        crate::legs::LegWake::Tx(_, key, ev) => {
                            if let Some(io) = self.io.as_mut() {
                                let out = io.on_tx_event(key, ev, now);
                                self.session_outputs(out, now);
                            }
                        }
                    }
                }
                _ = sleep_until(next) => {
                    let now = self.env.clock.now_ms();
                    while let Some(t) = self.timers.pop_due(now) {
                        match t {
                            TimerId::Call(kind) => self.pending.push_back(Input::Timer(kind)),
                            TimerId::Session(_, timer) => {
                                if let Some(io) = self.io.as_mut() {
                                    let out = io.session.on_timer(timer, now);
                                    self.session_outputs(out, now);
                                }
                            }
                            // Only a call task arms gateway setup timers (`trunk_legs.rs`).
                            TimerId::TrunkSetup(..) => {}
                        }
                    }
                }
            }
            self.execute(Vec::new()).await;
        }
    }

    async fn execute(&mut self, outputs: Vec<Output>) {
        for out in outputs {
            self.execute_one(out).await;
        }
        while let Some(input) = self.pending.pop_front() {
            let now = self.env.clock.now_ms();
            for out in self.cb.handle(input, now) {
                self.execute_one(out).await;
            }
        }
    }

    async fn execute_one(&mut self, out: Output) {
        let now = self.env.clock.now_ms();
        match out {
            Output::Dial { leg, target } => {
                let from = self.env.cfg.callback.from.clone();
                match LegIo::dial(&self.env, leg, &target, &from, Codec::Pcmu, now).await {
                    Ok((io, out)) => {
                        self.env.calls.add_call_id(self.key, io.session.call_id());
                        self.io = Some(io);
                        self.session_outputs(out, now);
                    }
                    Err(status) => self.pending.push_back(Input::LegFailed { leg, status }),
                }
            }
            Output::Cancel { .. } | Output::Hangup { .. } => {
                if let Some(io) = self.io.as_mut() {
                    let out = io.session.hangup(now);
                    io.media = None;
                    self.session_outputs(out, now);
                }
            }
            Output::Play {
                leg,
                prompt,
                looped,
            } => {
                let media = self.io.as_ref().and_then(|io| io.media.as_ref());
                match (media, self.env.plans.prompt(&prompt)) {
                    (Some(m), Some(p)) => m.play(p, looped),
                    // A prompt that cannot be played must not stall the call: as if it ended.
                    (_, None) if !looped => self.pending.push_back(Input::PromptFinished { leg }),
                    _ => {}
                }
            }
            Output::StopPlaying { .. } => {
                if let Some(m) = self.io.as_ref().and_then(|io| io.media.as_ref()) {
                    m.stop_playing();
                }
            }
            Output::StartTimer { kind, after_ms } => {
                self.timers.push(now + after_ms.max(0), TimerId::Call(kind))
            }
            // A call-back has one leg and no queue: nothing else is asked of the shell.
            _ => {}
        }
    }

    /// Carry out the leg session's outputs; its events become the call-back's inputs.
    fn session_outputs(&mut self, out: Vec<SessionOutput>, now: i64) {
        let Some(io) = self.io.as_mut() else { return };
        let leg = io.id;
        let (events, timers) = io.carry_out(&self.env, out);
        for (timer, after_ms) in timers {
            self.timers
                .push(now + after_ms, TimerId::Session(leg, timer));
        }
        for ev in events {
            let input = match ev {
                SessionEvent::Ringing { .. } => Input::LegRinging { leg },
                SessionEvent::Answered { sdp } => {
                    info!("call-back answered");
                    if let Some(io) = self.io.as_mut() {
                        io.accept_answer(sdp.as_deref());
                    }
                    Input::LegAnswered { leg }
                }
                SessionEvent::Failed { status } => {
                    info!(status, "call-back not answered");
                    if let Some(io) = self.io.as_mut() {
                        io.media = None;
                    }
                    Input::LegFailed { leg, status }
                }
                SessionEvent::Dtmf { digit } => Input::Dtmf { leg, digit },
                SessionEvent::Offer { key, sdp } => {
                    let out = self
                        .io
                        .as_mut()
                        .map(|io| io.answer_offer(key, &sdp, now))
                        .unwrap_or_default();
                    self.session_outputs(out, now);
                    continue;
                }
                SessionEvent::Terminated { .. } => Input::LegHangup { leg },
                _ => continue,
            };
            self.pending.push_back(input);
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
