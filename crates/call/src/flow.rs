//! What the call does with each input: the plan, the queue, the seat offers and the legs' events.

use crate::legs::LegState;
use crate::{
    Call, EndReason, Input, LegId, OfferFailure, Output, Phase, Plan, Target, TimerKind, Visit,
    VisitOutcome,
};

impl Call {
    pub fn handle(&mut self, input: Input, now_ms: i64) -> Vec<Output> {
        let mut out = Vec::new();
        if self.phase == Phase::Ended {
            match input {
                // A leg that arrives after the end is hung up; a consult that ended hands nothing over.
                Input::LegAdopted { leg, .. } => out.push(Output::Hangup { leg }),
                Input::JoinRequest { .. } => out.push(Output::JoinRefused { status: 603 }),
                _ => {}
            }
            return out;
        }
        if self.consult_input(&input, now_ms, &mut out)
            || self.attended_input(&input, now_ms, &mut out)
            || self.survey_input(&input, now_ms, &mut out)
            || self.transfer_input(&input, now_ms, &mut out)
            || self.announce_input(&input, &mut out)
            || self.selfquery_input(&input, now_ms, &mut out)
        {
            return out;
        }
        match input {
            Input::Dtmf { leg, digit } => self.dtmf(leg, digit, now_ms, &mut out),
            Input::Timer(TimerKind::Menu { round }) => {
                if self.phase == (Phase::Menu { round }) {
                    if let Plan::Menu {
                        fallback_queue,
                        hold,
                        ..
                    } = self.plan.clone()
                    {
                        self.plan = Plan::Queue {
                            prompt: None,
                            queue: fallback_queue,
                            hold,
                        };
                        self.enter_queue(now_ms, &mut out);
                    }
                }
            }
            // Prompts are only played to the caller.
            Input::PromptFinished { leg } if leg != LegId::CALLER => {}
            Input::PromptFinished { .. } => match (&self.phase, &self.plan) {
                (Phase::Menu { round }, _) => out.push(Output::StartTimer {
                    kind: TimerKind::Menu { round: *round },
                    after_ms: self.policy.menu_timeout_ms,
                }),
                (Phase::Prompt, Plan::Queue { .. }) => self.enter_queue(now_ms, &mut out),
                (Phase::Prompt, Plan::PromptThenHangup { .. }) => {
                    self.end_caller(480, "Temporarily Unavailable", &mut out);
                    self.finish(EndReason::PromptThenHangup, now_ms, &mut out);
                }
                (Phase::Prompt, Plan::Announce { .. }) => {
                    out.push(Output::Hangup { leg: LegId::CALLER });
                    self.finish(EndReason::PromptThenHangup, now_ms, &mut out);
                }
                (Phase::Callback, _) => {
                    self.end_caller(480, "Temporarily Unavailable", &mut out);
                    self.finish(EndReason::Callback, now_ms, &mut out);
                }
                _ => {}
            },
            Input::SeatAssigned { seat } => self.seats_assigned(vec![seat], now_ms, &mut out),
            Input::SeatsAssigned { seats } => self.seats_assigned(seats, now_ms, &mut out),
            Input::Overflowed { to } => self.overflowed(to, now_ms, &mut out),
            Input::LegRinging { leg } => {
                if leg != LegId::CALLER && self.legs.state(leg) == Some(LegState::Dialling) {
                    self.legs.set_state(leg, LegState::Ringing);
                }
            }
            Input::LegAnswered { leg } => self.answered(leg, now_ms, &mut out),
            Input::LegFailed { leg, status } => {
                if leg == LegId::CALLER || !self.legs.is_live(leg) {
                    return out;
                }
                match self.phase.clone() {
                    Phase::Offering { leg: l, attempt }
                        if l == leg || self.ring_too.contains(&leg) =>
                    {
                        self.legs.set_state(leg, LegState::Gone);
                        if self.ring_too.is_empty() {
                            self.offer_failed(leg, status, OfferFailure::Refused, now_ms, &mut out);
                        } else {
                            // One seat of a ring-all refused: the others still ring.
                            self.ring_too.retain(|x| *x != leg);
                            if l == leg {
                                let next = self.ring_too.remove(0);
                                self.phase = Phase::Offering { leg: next, attempt };
                            }
                            self.seat_missed(leg, OfferFailure::Refused, now_ms, &mut out);
                        }
                    }
                    // A further leg that never answered: gone, the call goes on.
                    _ if self.legs.state(leg) != Some(LegState::Answered) => {
                        self.legs.set_state(leg, LegState::Gone)
                    }
                    _ => {}
                }
            }
            Input::Timer(TimerKind::SeatRing { attempt }) => {
                if let Phase::Offering { leg, attempt: a } = self.phase {
                    if a == attempt {
                        // Ring-no-answer: every seat still ringing missed it; the last one requeues the call.
                        for other in std::mem::take(&mut self.ring_too) {
                            self.end_leg(other, &mut out);
                            self.seat_missed(other, OfferFailure::NoAnswer, now_ms, &mut out);
                        }
                        self.end_leg(leg, &mut out);
                        self.offer_failed(leg, 408, OfferFailure::NoAnswer, now_ms, &mut out);
                    }
                }
            }
            Input::LegHangup { leg } if leg == LegId::CALLER => {
                self.caller_gone(false, now_ms, &mut out)
            }
            Input::LegHangup { leg } => self.leg_hangup(leg, now_ms, &mut out),
            Input::CallerAck => {}
            Input::CallerCancel => self.caller_gone(true, now_ms, &mut out),
            // Many carriers send no RTP during early media: silence before our 200 is not a dead call.
            Input::MediaTimeout { .. } if !self.caller_answered => {}
            Input::MediaTimeout { leg } if leg != LegId::CALLER && Some(leg) != self.partner() => {
                // A further leg went silent: drop it, the call goes on.
                if self.legs.is_live(leg) {
                    self.legs.leave(leg, &mut out);
                    self.end_leg(leg, &mut out);
                }
            }
            // Only for a transfer attempt or an announcement (consumed there).
            Input::GroupSeats { .. }
            | Input::TransferRequest { .. }
            | Input::AttendedTransfer { .. }
            | Input::LegAdopted { .. }
            | Input::ClaimFailed { .. }
            | Input::ConsultAttempt { .. }
            | Input::JoinRequest { .. }
            | Input::HandOverDone { .. }
            | Input::LegHold { .. }
            | Input::QueuePosition { .. }
            | Input::TicketLookedUp { .. }
            | Input::Timer(
                TimerKind::Transfer { .. }
                | TimerKind::Keys { .. }
                | TimerKind::Announce { .. }
                | TimerKind::Survey
                | TimerKind::SelfQuery { .. },
            ) => {}
            // Still unanswered after `early_media_max_ms` (no seat yet): answer before the carrier gives up.
            Input::Timer(TimerKind::EarlyMedia) => self.answer_caller(now_ms, &mut out),
            Input::AckTimeout | Input::MediaTimeout { .. } => {
                self.end_partner(&mut out);
                self.end_caller(500, "Media Failure", &mut out);
                self.finish(EndReason::Failed, now_ms, &mut out);
            }
        }
        out
    }

    /// Carry out the plan from its beginning (a new call, or a menu choice).
    pub(crate) fn start_plan(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        self.phase = Phase::Prompt;
        let caller = LegId::CALLER;
        match self.plan.clone() {
            Plan::Reject { status, reason } => {
                out.push(Output::Reject { status, reason });
                self.finish(EndReason::Rejected, now_ms, out);
            }
            Plan::Consult { .. } => self.start_consult(out),
            Plan::SelfQuery => self.start_self_query(now_ms, out),
            Plan::PromptThenHangup { prompt }
            | Plan::Announce {
                prompt: Some(prompt),
            } => out.push(Output::Play {
                leg: caller,
                prompt,
                looped: false,
            }),
            Plan::Announce { prompt: None } => {
                out.push(Output::Hangup { leg: caller });
                self.finish(EndReason::PromptThenHangup, now_ms, out);
            }
            Plan::Connect { prompt, target } => {
                if let Some(prompt) = prompt {
                    out.push(Output::Play {
                        leg: caller,
                        prompt,
                        looped: true,
                    });
                }
                self.offer(target, self.policy.connect_ring_timeout_ms, false, out);
            }
            Plan::Queue { prompt, .. } => match prompt {
                Some(prompt) => out.push(Output::Play {
                    leg: caller,
                    prompt,
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
                    leg: caller,
                    prompt,
                    looped: false,
                });
            }
        }
    }

    fn dtmf(&mut self, leg: LegId, digit: char, now_ms: i64, out: &mut Vec<Output>) {
        if !self.legs.is_live(leg) {
            return;
        }
        if let Some(l) = self.legs.get_mut(leg) {
            l.dtmf.push(digit);
        }
        if leg == LegId::CALLER && matches!(self.phase, Phase::Menu { .. }) {
            // Barge-in: the key cuts the menu short, and the plan decides again.
            out.push(Output::StopPlaying { leg });
            let decision = self.reroute(&digit.to_string(), now_ms);
            if let Some(d) = decision.department.as_deref() {
                self.department = Some(d.to_string());
            }
            self.plan = crate::plan_for(&decision, self.policy.hold.clone());
            self.start_plan(now_ms, out);
        }
    }

    fn answered(&mut self, leg: LegId, now_ms: i64, out: &mut Vec<Output>) {
        if leg == LegId::CALLER || !self.legs.is_live(leg) {
            return;
        }
        let Phase::Offering {
            leg: offered,
            attempt,
        } = self.phase
        else {
            // A further leg: whoever dialled it decides what it hears.
            if self.legs.state(leg) != Some(LegState::Answered) {
                self.legs.set_state(leg, LegState::Answered);
            }
            return;
        };
        if offered != leg && !self.ring_too.contains(&leg) {
            self.legs.set_state(leg, LegState::Answered);
            return;
        }
        // A ring-all: the first seat to answer takes the call, the others stop ringing (the ACD frees them).
        let others: Vec<LegId> = std::iter::once(offered)
            .chain(std::mem::take(&mut self.ring_too))
            .filter(|l| *l != leg)
            .collect();
        for other in others {
            self.end_leg(other, out);
        }
        self.phase = Phase::Offering { leg, attempt };
        self.legs.set_state(leg, LegState::Answered);
        let waited_ms = now_ms - self.queued_at_ms.unwrap_or(now_ms);
        out.push(Output::StopPlaying { leg: LegId::CALLER });
        self.answer_caller(now_ms, out);
        self.legs.connect(&[LegId::CALLER, leg], out);
        if self.queued() {
            let seat = self.seat_of(leg).unwrap_or_default();
            out.push(Output::SeatAnswered {
                seat: seat.clone(),
                queue: self.queue_name(),
                waited_ms,
            });
            self.served_by = Some(seat);
            self.leave_queue(VisitOutcome::Answered, now_ms);
            self.stop_announcing();
        }
        self.answered_at_ms = Some(now_ms);
        self.phase = Phase::Connected { leg };
        self.journal_due = true;
    }

    /// BYE from a leg other than the caller.
    fn leg_hangup(&mut self, leg: LegId, now_ms: i64, out: &mut Vec<Output>) {
        if self.legs.state(leg) != Some(LegState::Answered) {
            return;
        }
        self.legs.set_state(leg, LegState::Gone);
        let Phase::Connected { leg: partner } = self.phase else {
            self.legs.leave(leg, out);
            return;
        };
        if partner != leg {
            // A further leg left: the others go on.
            self.legs.leave(leg, out);
            return;
        }
        let next = self
            .legs
            .iter()
            .find(|(id, l)| *id != LegId::CALLER && l.state == LegState::Answered)
            .map(|(id, _)| id);
        match next {
            Some(next) => {
                // Another answered leg stays with the caller: it becomes the partner.
                self.legs.leave(leg, out);
                self.release(leg, out);
                self.phase = Phase::Connected { leg: next };
            }
            // The operator left: the survey when it runs, else the caller is hung up.
            None if self.survey_after_seat(leg, now_ms, out) => {}
            None => {
                out.push(Output::Hangup { leg: LegId::CALLER });
                self.release(leg, out);
                self.finish(EndReason::SeatHangup, now_ms, out);
            }
        }
    }

    /// The caller hung up (BYE) or cancelled (CANCEL).
    fn caller_gone(&mut self, cancel: bool, now_ms: i64, out: &mut Vec<Output>) {
        if cancel && self.caller_answered {
            // Too late to cancel: a 200 already went out; the caller will BYE.
            return;
        }
        if cancel {
            out.push(Output::Reject {
                status: 487,
                reason: "Request Terminated".into(),
            });
        }
        if matches!(self.phase, Phase::Queued | Phase::Offering { .. }) && self.queued() {
            self.leave_queue(VisitOutcome::Abandoned, now_ms);
        }
        let reason = match self.phase {
            Phase::Callback => EndReason::Callback,
            // The operator ended the call; the caller left during the survey.
            Phase::Survey => EndReason::SeatHangup,
            Phase::Connected { .. } => EndReason::CallerHangup,
            Phase::Offering { .. } if !self.queued() => EndReason::Cancelled,
            Phase::Offering { .. } | Phase::Queued => EndReason::AbandonedInQueue,
            Phase::Prompt | Phase::Menu { .. } | Phase::Consulting | Phase::Ended if cancel => {
                EndReason::Cancelled
            }
            Phase::Prompt | Phase::Menu { .. } | Phase::Consulting | Phase::Ended => {
                EndReason::AbandonedInQueue
            }
        };
        self.end_partner(out);
        self.finish(reason, now_ms, out);
    }

    /// End the plan's partner leg as the call ends: release a talking seat, abandon the queue.
    fn end_partner(&mut self, out: &mut Vec<Output>) {
        match self.phase {
            Phase::Connected { leg } => {
                self.end_leg(leg, out);
                self.release(leg, out);
            }
            Phase::Offering { leg, .. } => {
                self.end_leg(leg, out);
                for other in std::mem::take(&mut self.ring_too) {
                    self.end_leg(other, out);
                }
                if self.queued() {
                    out.push(Output::Abandon {
                        queue: self.queue_name(),
                    });
                }
            }
            Phase::Queued => out.push(Output::Abandon {
                queue: self.queue_name(),
            }),
            _ => {}
        }
    }

    /// BYE the caller, or refuse its INVITE when it was never answered.
    pub(crate) fn end_caller(&mut self, status: u16, reason: &str, out: &mut Vec<Output>) {
        if self.caller_answered {
            out.push(Output::Hangup { leg: LegId::CALLER });
        } else {
            out.push(Output::Reject {
                status,
                reason: reason.into(),
            });
        }
    }

    /// Tell the ACD a seat it assigned is free again.
    pub(crate) fn release(&mut self, leg: LegId, out: &mut Vec<Output>) {
        let acd = self.legs.get(leg).is_some_and(|l| l.acd);
        if acd && self.queued() {
            if let Some(seat) = self.seat_of(leg) {
                out.push(Output::SeatReleased { seat });
            }
        }
    }

    pub(crate) fn seat_of(&self, leg: LegId) -> Option<String> {
        match self.legs.get(leg)?.target.as_ref()? {
            Target::Seat { seat } => Some(seat.clone()),
            _ => None,
        }
    }

    /// Does this call go through the ACD (a queue), or straight to a target?
    fn queued(&self) -> bool {
        matches!(self.plan, Plan::Queue { .. })
    }

    /// Dial the plan's leg (an ACD seat, or the Connect target) with a ring timer.
    fn offer(&mut self, target: Target, ring_ms: i64, acd: bool, out: &mut Vec<Output>) {
        self.attempts += 1;
        let leg = self.legs.add(target.clone(), acd);
        out.push(Output::Dial { leg, target });
        out.push(Output::StartTimer {
            kind: TimerKind::SeatRing {
                attempt: self.attempts,
            },
            after_ms: ring_ms,
        });
        self.phase = Phase::Offering {
            leg,
            attempt: self.attempts,
        };
    }

    /// The ACD picked seats for the waiting call: ring them (several at once for a ring-all queue).
    fn seats_assigned(&mut self, seats: Vec<String>, now_ms: i64, out: &mut Vec<Output>) {
        if self.phase != Phase::Queued {
            // The call left the queue meanwhile: give the seats straight back.
            for seat in seats {
                out.push(Output::SeatOfferFailed {
                    seat,
                    queue: self.queue_name(),
                    waiting_since_ms: self.queued_at_ms.unwrap_or(now_ms),
                    why: OfferFailure::Returned,
                });
            }
            return;
        }
        let mut seats = seats.into_iter();
        let Some(first) = seats.next() else { return };
        let ring = self.policy.seat_ring_timeout_ms;
        self.offer(Target::Seat { seat: first }, ring, true, out);
        for seat in seats {
            let target = Target::Seat { seat };
            let leg = self.legs.add(target.clone(), true);
            out.push(Output::Dial { leg, target });
            self.ring_too.push(leg);
        }
    }

    /// Tell the ACD a seat of this call's offer did not take it.
    fn seat_missed(&mut self, leg: LegId, why: OfferFailure, now_ms: i64, out: &mut Vec<Output>) {
        out.push(Output::SeatOfferFailed {
            seat: self.seat_of(leg).unwrap_or_default(),
            queue: self.queue_name(),
            waiting_since_ms: self.queued_at_ms.unwrap_or(now_ms),
            why,
        });
    }

    /// The queue's maximum wait moved the call on (the ACD has done so on its side already).
    fn overflowed(&mut self, to: Option<String>, now_ms: i64, out: &mut Vec<Output>) {
        if !self.queued() || !matches!(self.phase, Phase::Queued | Phase::Offering { .. }) {
            return;
        }
        match to {
            Some(queue) => {
                self.leave_queue(VisitOutcome::Overflowed, now_ms);
                if let Plan::Queue { queue: q, .. } = &mut self.plan {
                    *q = queue.clone();
                }
                self.visits.push(Visit {
                    queue,
                    entered_ms: now_ms,
                    left: None,
                });
                self.schedule_announcement(out);
            }
            None => {
                self.stop_announcing();
                // "Leave your number": the promise, then the end of the call and a call-back ticket.
                if let Phase::Offering { leg, .. } = self.phase {
                    for l in std::iter::once(leg).chain(std::mem::take(&mut self.ring_too)) {
                        self.end_leg(l, out);
                        self.seat_missed(l, OfferFailure::Returned, now_ms, out);
                    }
                }
                self.leave_queue(VisitOutcome::Callback, now_ms);
                self.phase = Phase::Callback;
                out.push(Output::StopPlaying { leg: LegId::CALLER });
                match self.policy.callback_prompt.clone() {
                    Some(prompt) => out.push(Output::Play {
                        leg: LegId::CALLER,
                        prompt,
                        looped: false,
                    }),
                    None => {
                        self.end_caller(480, "Temporarily Unavailable", out);
                        self.finish(EndReason::Callback, now_ms, out);
                    }
                }
            }
        }
    }

    /// Close the stay in the current queue, if one is open.
    pub(crate) fn leave_queue(&mut self, outcome: VisitOutcome, now_ms: i64) {
        if let Some(v) = self.visits.last_mut().filter(|v| v.left.is_none()) {
            v.left = Some((now_ms, outcome));
        }
    }

    /// The offered leg did not take the call (already ended): a seat goes back to the ACD, a direct target
    /// fails the call.
    fn offer_failed(
        &mut self,
        leg: LegId,
        status: u16,
        why: OfferFailure,
        now_ms: i64,
        out: &mut Vec<Output>,
    ) {
        if self.queued() {
            self.phase = Phase::Queued;
            self.seat_missed(leg, why, now_ms, out);
        } else {
            // Tell the caller why (its status, or 408 on no answer).
            out.push(Output::StopPlaying { leg: LegId::CALLER });
            let status = if (400..700).contains(&status) {
                status
            } else {
                502
            };
            self.end_caller(status, "Target Unavailable", out);
            self.finish(EndReason::Failed, now_ms, out);
        }
    }

    pub(crate) fn queue_name(&self) -> String {
        match &self.plan {
            Plan::Queue { queue, .. } => queue.clone(),
            _ => String::new(),
        }
    }

    /// The caller's media from the start: answered at once (a queue, a menu or an announcement under the
    /// default policy), or
    /// early media (183), answered anyway after `early_media_max_ms` when it is set.
    pub(crate) fn open_media(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        let waits = matches!(
            self.plan,
            Plan::Queue { .. } | Plan::Menu { .. } | Plan::PromptThenHangup { .. }
        );
        if waits && self.policy.answer_before_queue {
            self.answer_caller(now_ms, out);
            return;
        }
        out.push(Output::EarlyMedia);
        if let (true, Some(after_ms)) = (waits, self.policy.early_media_max_ms) {
            out.push(Output::StartTimer {
                kind: TimerKind::EarlyMedia,
                after_ms,
            });
        }
    }

    /// Send the caller its 200 (once): by the system, or because a person answered.
    pub(crate) fn answer_caller(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        if self.caller_answered {
            return;
        }
        out.push(Output::Answer);
        self.caller_answered = true;
        self.system_answered_ms = Some(now_ms);
        self.legs.set_state(LegId::CALLER, LegState::Answered);
    }

    fn enter_queue(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        if let Plan::Queue { queue, hold, .. } = &self.plan {
            if let Some(h) = hold {
                out.push(Output::Play {
                    leg: LegId::CALLER,
                    prompt: h.clone(),
                    looped: true,
                });
            }
            out.push(Output::Enqueue {
                queue: queue.clone(),
            });
            self.visits.push(Visit {
                queue: queue.clone(),
                entered_ms: now_ms,
                left: None,
            });
            self.queued_at_ms = Some(now_ms);
            self.phase = Phase::Queued;
            self.schedule_announcement(out);
        }
    }
}
