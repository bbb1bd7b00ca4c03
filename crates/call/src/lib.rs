//! One call's state machine: the carrier leg, the prompts, the queue and the seat leg of a B2BUA.
//!
//! Sans-IO: [`Call::handle`] takes an [`Input`] and `now_ms` and returns [`Output`]s for the shell to carry out
//! (SIP responses and requests, prompts, ACD messages, timers). It never touches a socket or a clock, so every
//! path — cancel while ringing a seat, seat no-answer, hang-up during a prompt — is a fast deterministic test.
//! It emits exactly one [`CallRecord`] per call, in [`Output::Finished`].

use record::{CallRecord, EndReason};
use std::sync::Arc;

/// A prompt the shell knows how to play (a dialplan path, resolved to decoded frames by the shell).
pub type PromptRef = Arc<str>;

/// What the dialplan decided for this call, in terms the call understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Optional prompt, then wait in `queue` for a seat, hearing `hold` in a loop.
    Queue {
        prompt: Option<PromptRef>,
        queue: String,
        hold: Option<PromptRef>,
    },
    /// Announce, then end the call (a merged number after its transition, a cancelled number).
    PromptThenHangup { prompt: PromptRef },
    /// Connect straight to a SIP target outside the queue (an emergency line, the provincial center),
    /// optionally with a prompt as early media while it rings. If the target fails, so does the call.
    Connect {
        prompt: Option<PromptRef>,
        target: String,
    },
    /// Refuse before answering (unknown number, R-09).
    Reject { status: u16, reason: String },
    /// A voice menu: play `prompt`, and on a key ask the dial plan again with the digits
    /// ([`Output::Reroute`]); a caller who presses nothing waits in `fallback_queue`.
    Menu {
        prompt: PromptRef,
        fallback_queue: String,
        hold: Option<PromptRef>,
    },
}

/// Facts about the call known when the INVITE arrived.
#[derive(Debug, Clone)]
pub struct CallSetup {
    pub call_id: String,
    pub caller: String,
    pub called: String,
    pub original_called: Option<String>,
    pub route_mode: Option<String>,
    pub department: Option<String>,
    pub off_hours: bool,
    pub plan: Plan,
}

/// Tunables, from the daemon's config.
#[derive(Debug, Clone)]
pub struct CallPolicy {
    /// Answer (200 OK) before prompts and queueing, instead of playing them as early media (183) and answering
    /// only when a seat picks up. Early media keeps the caller free to CANCEL while queued and does not start
    /// charging before a human answers.
    pub answer_before_queue: bool,
    /// How long a seat may ring before the call goes back to the queue.
    pub seat_ring_timeout_ms: i64,
    /// How long a seat that did not answer rests before it is offered again.
    pub seat_retry_after_ms: i64,
    /// How long a direct target ([`Plan::Connect`]) may ring before the call fails.
    pub connect_ring_timeout_ms: i64,
    /// How long after the menu prompt a caller may take to press a key.
    pub menu_timeout_ms: i64,
}

impl Default for CallPolicy {
    fn default() -> Self {
        CallPolicy {
            answer_before_queue: false,
            seat_ring_timeout_ms: 15_000,
            seat_retry_after_ms: 5_000,
            connect_ring_timeout_ms: 60_000,
            menu_timeout_ms: 5_000,
        }
    }
}

/// Timers the call arms. Each carries the seat-offer attempt it belongs to, so a late timer is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    SeatRing {
        attempt: u32,
    },
    /// No key after the menu prompt: `round` says which playing of the menu it belongs to.
    Menu {
        round: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The prompt being played reached its end (never sent for looped prompts).
    PromptFinished,
    /// The ACD picked `seat` for this call.
    SeatAssigned {
        seat: String,
    },
    /// The seat leg got a provisional (180/183).
    SeatRinging,
    /// The seat answered (2xx; the shell has ACKed it).
    SeatAnswered,
    /// The seat leg failed: final non-2xx, transaction timeout (408) or no reachable binding.
    SeatFailed {
        status: u16,
    },
    /// BYE from the seat.
    SeatHangup,
    /// ACK from the caller for our 200.
    CallerAck,
    /// BYE from the caller.
    CallerHangup,
    /// CANCEL from the caller (before our final response).
    CallerCancel,
    Dtmf(char),
    Timer(TimerKind),
    /// Our 2xx to the caller was never ACKed.
    AckTimeout,
    /// No RTP from a leg for the configured time.
    MediaTimeout,
    /// The dial plan's answer to [`Output::Reroute`].
    Rerouted {
        plan: Plan,
        department: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// 183 Session Progress with our SDP (early media).
    EarlyMedia,
    /// 200 OK with our SDP to the caller.
    Answer,
    /// Final error response to the caller's INVITE.
    Reject {
        status: u16,
        reason: String,
    },
    Play {
        prompt: PromptRef,
        looped: bool,
    },
    StopPlaying,
    /// Tell the ACD the call waits in `queue`.
    Enqueue {
        queue: String,
    },
    /// Tell the ACD the call left its queue (or the seat ringing for it) unanswered.
    Abandon {
        queue: String,
    },
    /// Open the seat leg: INVITE the seat's registered contact.
    InviteSeat {
        seat: String,
    },
    /// CANCEL the ringing seat leg.
    CancelSeat,
    /// BYE on the seat leg.
    ByeSeat,
    /// BYE on the caller leg.
    ByeCaller,
    /// Relay audio between the caller and the seat.
    Bridge,
    /// Tell the ACD the seat answered after the call waited `waited_ms`.
    SeatAnswered {
        seat: String,
        queue: String,
        waited_ms: i64,
    },
    /// Tell the ACD the seat did not answer; requeue the call at the head, keeping its wait start.
    SeatOfferFailed {
        seat: String,
        queue: String,
        waiting_since_ms: i64,
    },
    /// Tell the ACD the seat's call ended.
    SeatReleased {
        seat: String,
    },
    StartTimer {
        kind: TimerKind,
        after_ms: i64,
    },
    /// Ask the dial plan again for this call with the menu `digits`; answer with [`Input::Rerouted`].
    Reroute {
        digits: String,
    },
    /// The call is over: hand this record to the ticket crate. Always the last output, exactly once.
    Finished(Box<CallRecord>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Playing the plan's prompt before queueing (or before hanging up).
    Prompt,
    /// Playing the menu or waiting for a key.
    Menu {
        round: u32,
    },
    /// A key was pressed; waiting for the dial plan's new decision.
    Routing,
    /// Waiting in the queue.
    Queued,
    /// A seat is ringing.
    Offering {
        seat: String,
        attempt: u32,
    },
    /// Caller and seat talk.
    Connected {
        seat: String,
    },
    Ended,
}

#[derive(Debug)]
pub struct Call {
    setup: CallSetup,
    policy: CallPolicy,
    phase: Phase,
    started_at_ms: i64,
    queued_at_ms: Option<i64>,
    answered_at_ms: Option<i64>,
    caller_answered: bool,
    attempts: u32,
    last_seat: Option<String>,
    digits: String,
}

impl Call {
    /// A new call from an INVITE; the shell has already sent 100 Trying.
    pub fn new(setup: CallSetup, policy: CallPolicy, now_ms: i64) -> (Call, Vec<Output>) {
        let mut call = Call {
            setup,
            policy,
            phase: Phase::Prompt,
            started_at_ms: now_ms,
            queued_at_ms: None,
            answered_at_ms: None,
            caller_answered: false,
            attempts: 0,
            last_seat: None,
            digits: String::new(),
        };
        let mut out = Vec::new();
        if !matches!(call.setup.plan, Plan::Reject { .. }) {
            call.open_media(&mut out);
        }
        call.start_plan(now_ms, &mut out);
        (call, out)
    }

    /// Carry out the plan from its beginning (a new call, or a menu choice).
    fn start_plan(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        self.phase = Phase::Prompt;
        match self.setup.plan.clone() {
            Plan::Reject { status, reason } => {
                out.push(Output::Reject { status, reason });
                self.finish(EndReason::Rejected, now_ms, out);
            }
            Plan::PromptThenHangup { prompt } => out.push(Output::Play {
                prompt,
                looped: false,
            }),
            Plan::Connect { prompt, target } => {
                if let Some(p) = prompt {
                    out.push(Output::Play {
                        prompt: p,
                        looped: true,
                    });
                }
                self.offer(target, self.policy.connect_ring_timeout_ms, out);
            }
            Plan::Queue { prompt, .. } => match prompt {
                Some(p) => out.push(Output::Play {
                    prompt: p,
                    looped: false,
                }),
                None => self.enter_queue(now_ms, out),
            },
            Plan::Menu { prompt, .. } => {
                self.attempts += 1;
                self.phase = Phase::Menu {
                    round: self.attempts,
                };
                out.push(Output::Play {
                    prompt,
                    looped: false,
                });
            }
        }
    }

    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Ended
    }

    pub fn call_id(&self) -> &str {
        &self.setup.call_id
    }

    /// The seat currently ringing or talking, if any.
    pub fn seat(&self) -> Option<&str> {
        match &self.phase {
            Phase::Offering { seat, .. } | Phase::Connected { seat } => Some(seat),
            _ => None,
        }
    }

    pub fn handle(&mut self, input: Input, now_ms: i64) -> Vec<Output> {
        let mut out = Vec::new();
        if self.phase == Phase::Ended {
            return out;
        }
        match input {
            Input::Dtmf(d) => {
                self.digits.push(d);
                if let Phase::Menu { .. } = self.phase {
                    // Barge-in: the key cuts the menu short.
                    out.push(Output::StopPlaying);
                    out.push(Output::Reroute {
                        digits: d.to_string(),
                    });
                    self.phase = Phase::Routing;
                }
            }
            Input::Rerouted { plan, department } => {
                if self.phase == Phase::Routing {
                    if department.is_some() {
                        self.setup.department = department;
                    }
                    self.setup.plan = plan;
                    self.start_plan(now_ms, &mut out);
                }
            }
            Input::Timer(TimerKind::Menu { round }) => {
                if self.phase == (Phase::Menu { round }) {
                    if let Plan::Menu {
                        fallback_queue,
                        hold,
                        ..
                    } = self.setup.plan.clone()
                    {
                        self.setup.plan = Plan::Queue {
                            prompt: None,
                            queue: fallback_queue,
                            hold,
                        };
                        self.enter_queue(now_ms, &mut out);
                    }
                }
            }
            Input::PromptFinished if matches!(self.phase, Phase::Menu { .. }) => {
                if let Phase::Menu { round } = self.phase {
                    out.push(Output::StartTimer {
                        kind: TimerKind::Menu { round },
                        after_ms: self.policy.menu_timeout_ms,
                    });
                }
            }
            Input::PromptFinished => match (&self.phase, &self.setup.plan) {
                (Phase::Prompt, Plan::Queue { .. }) => self.enter_queue(now_ms, &mut out),
                (Phase::Prompt, Plan::PromptThenHangup { .. }) => {
                    if self.caller_answered {
                        out.push(Output::ByeCaller);
                    } else {
                        out.push(Output::Reject {
                            status: 480,
                            reason: "Temporarily Unavailable".into(),
                        });
                    }
                    self.finish(EndReason::PromptThenHangup, now_ms, &mut out);
                }
                _ => {}
            },
            Input::SeatAssigned { seat } => {
                if self.phase == Phase::Queued {
                    self.offer(seat, self.policy.seat_ring_timeout_ms, &mut out);
                } else {
                    // The call left the queue meanwhile: give the seat straight back.
                    out.push(Output::SeatOfferFailed {
                        seat,
                        queue: self.queue_name(),
                        waiting_since_ms: self.queued_at_ms.unwrap_or(now_ms),
                    });
                }
            }
            Input::SeatRinging => {}
            Input::SeatAnswered => {
                if let Phase::Offering { seat, .. } = self.phase.clone() {
                    let waited_ms = now_ms - self.queued_at_ms.unwrap_or(now_ms);
                    out.push(Output::StopPlaying);
                    if !self.caller_answered {
                        out.push(Output::Answer);
                        self.caller_answered = true;
                    }
                    out.push(Output::Bridge);
                    if self.queued() {
                        out.push(Output::SeatAnswered {
                            seat: seat.clone(),
                            queue: self.queue_name(),
                            waited_ms,
                        });
                    }
                    self.answered_at_ms = Some(now_ms);
                    self.phase = Phase::Connected { seat };
                }
            }
            Input::SeatFailed { status } => {
                if let Phase::Offering { seat, .. } = self.phase.clone() {
                    if self.queued() {
                        self.back_to_queue(seat, now_ms, &mut out);
                    } else {
                        self.target_failed(status, now_ms, &mut out);
                    }
                }
            }
            Input::Timer(TimerKind::SeatRing { attempt }) => {
                if let Phase::Offering { seat, attempt: a } = self.phase.clone() {
                    if a == attempt {
                        out.push(Output::CancelSeat);
                        if self.queued() {
                            self.back_to_queue(seat, now_ms, &mut out);
                        } else {
                            self.target_failed(408, now_ms, &mut out);
                        }
                    }
                }
            }
            Input::SeatHangup => {
                if let Phase::Connected { seat } = self.phase.clone() {
                    out.push(Output::ByeCaller);
                    if self.queued() {
                        out.push(Output::SeatReleased { seat });
                    }
                    self.finish(EndReason::SeatHangup, now_ms, &mut out);
                }
            }
            Input::CallerAck => {}
            Input::CallerHangup | Input::CallerCancel => {
                let cancel = input == Input::CallerCancel;
                if cancel && self.caller_answered {
                    // Too late to cancel: a 200 already went out; the caller will BYE.
                    return out;
                }
                if cancel {
                    out.push(Output::Reject {
                        status: 487,
                        reason: "Request Terminated".into(),
                    });
                }
                let reason = match self.phase.clone() {
                    Phase::Connected { seat } => {
                        out.push(Output::ByeSeat);
                        if self.queued() {
                            out.push(Output::SeatReleased { seat });
                        }
                        EndReason::CallerHangup
                    }
                    Phase::Offering { .. } if !self.queued() => {
                        out.push(Output::CancelSeat);
                        EndReason::Cancelled
                    }
                    Phase::Offering { .. } => {
                        out.push(Output::CancelSeat);
                        out.push(Output::Abandon {
                            queue: self.queue_name(),
                        });
                        EndReason::AbandonedInQueue
                    }
                    Phase::Queued => {
                        out.push(Output::Abandon {
                            queue: self.queue_name(),
                        });
                        EndReason::AbandonedInQueue
                    }
                    Phase::Prompt | Phase::Menu { .. } | Phase::Routing | Phase::Ended => {
                        if cancel {
                            EndReason::Cancelled
                        } else {
                            EndReason::AbandonedInQueue
                        }
                    }
                };
                self.finish(reason, now_ms, &mut out);
            }
            // Many carriers send no RTP during early media: silence before our 200 is not a dead call.
            Input::MediaTimeout if !self.caller_answered => {}
            Input::AckTimeout | Input::MediaTimeout => {
                match self.phase.clone() {
                    Phase::Connected { seat } => {
                        out.push(Output::ByeSeat);
                        if self.queued() {
                            out.push(Output::SeatReleased { seat });
                        }
                    }
                    Phase::Offering { .. } if !self.queued() => out.push(Output::CancelSeat),
                    Phase::Offering { .. } => {
                        out.push(Output::CancelSeat);
                        out.push(Output::Abandon {
                            queue: self.queue_name(),
                        });
                    }
                    Phase::Queued => out.push(Output::Abandon {
                        queue: self.queue_name(),
                    }),
                    _ => {}
                }
                if self.caller_answered {
                    out.push(Output::ByeCaller);
                } else {
                    out.push(Output::Reject {
                        status: 500,
                        reason: "Media Failure".into(),
                    });
                }
                self.finish(EndReason::Failed, now_ms, &mut out);
            }
        }
        out
    }

    /// Does this call go through the ACD (a queue), or straight to a target?
    fn queued(&self) -> bool {
        matches!(self.setup.plan, Plan::Queue { .. })
    }

    /// Ring `seat` (a seat id, or a SIP URI for [`Plan::Connect`]) with a ring timer.
    fn offer(&mut self, seat: String, ring_ms: i64, out: &mut Vec<Output>) {
        self.attempts += 1;
        self.last_seat = Some(seat.clone());
        out.push(Output::InviteSeat { seat: seat.clone() });
        out.push(Output::StartTimer {
            kind: TimerKind::SeatRing {
                attempt: self.attempts,
            },
            after_ms: ring_ms,
        });
        self.phase = Phase::Offering {
            seat,
            attempt: self.attempts,
        };
    }

    /// A direct target did not take the call: tell the caller why (its status, or 408 on no answer).
    fn target_failed(&mut self, status: u16, now_ms: i64, out: &mut Vec<Output>) {
        out.push(Output::StopPlaying);
        if self.caller_answered {
            out.push(Output::ByeCaller);
        } else {
            let status = if (400..700).contains(&status) {
                status
            } else {
                502
            };
            out.push(Output::Reject {
                status,
                reason: "Target Unavailable".into(),
            });
        }
        self.finish(EndReason::Failed, now_ms, out);
    }

    fn queue_name(&self) -> String {
        match &self.setup.plan {
            Plan::Queue { queue, .. } => queue.clone(),
            _ => String::new(),
        }
    }

    fn open_media(&mut self, out: &mut Vec<Output>) {
        if self.policy.answer_before_queue {
            out.push(Output::Answer);
            self.caller_answered = true;
        } else {
            out.push(Output::EarlyMedia);
        }
    }

    fn enter_queue(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        if let Plan::Queue { queue, hold, .. } = &self.setup.plan {
            if let Some(h) = hold {
                out.push(Output::Play {
                    prompt: h.clone(),
                    looped: true,
                });
            }
            out.push(Output::Enqueue {
                queue: queue.clone(),
            });
            self.queued_at_ms = Some(now_ms);
            self.phase = Phase::Queued;
        }
    }

    fn back_to_queue(&mut self, seat: String, now_ms: i64, out: &mut Vec<Output>) {
        self.phase = Phase::Queued;
        out.push(Output::SeatOfferFailed {
            seat,
            queue: self.queue_name(),
            waiting_since_ms: self.queued_at_ms.unwrap_or(now_ms),
        });
    }

    fn finish(&mut self, reason: EndReason, now_ms: i64, out: &mut Vec<Output>) {
        self.phase = Phase::Ended;
        let wait_end = self.answered_at_ms.unwrap_or(now_ms);
        let record = CallRecord {
            call_id: self.setup.call_id.clone(),
            caller: self.setup.caller.clone(),
            called: self.setup.called.clone(),
            original_called: self.setup.original_called.clone(),
            route_mode: self.setup.route_mode.clone(),
            department: self.setup.department.clone(),
            started_at_ms: self.started_at_ms,
            answered_at_ms: self.answered_at_ms,
            ended_at_ms: now_ms,
            wait_ms: wait_end - self.started_at_ms,
            seat: if self.answered_at_ms.is_some() && self.queued() {
                self.last_seat.clone()
            } else {
                None
            },
            end_reason: reason,
            digits: std::mem::take(&mut self.digits),
            off_hours: self.setup.off_hours,
            transfer_unanswered: None,
        };
        out.push(Output::Finished(Box::new(record)));
    }
}

#[cfg(test)]
mod tests;
