//! One call's state machine: the caller leg, the prompts, the queue and the further legs of a B2BUA.
//!
//! Sans-IO: [`Call::handle`] takes an [`Input`] and `now_ms` and returns [`Output`]s for the shell to carry out
//! (SIP responses and requests, prompts, media topology, ACD messages, timers). It never touches a socket or a
//! clock, so every path — cancel while ringing a seat, seat no-answer, hang-up during a prompt — is a fast
//! deterministic test. It emits exactly one [`CallRecord`] per call, in [`Output::Finished`].
//!
//! The call owns its legs by [`LegId`]: the caller is [`LegId::CALLER`], every leg it dials gets the next id.
//! A menu key is routed here, synchronously, with the call's [`Router`].
//!
//! One clock: every `now_ms` given to a call is monotonic milliseconds (any origin). The record's times are
//! wall-clock epoch milliseconds, `CallSetup::wall_start_ms + (t − now_ms at Call::new)`; durations come from
//! the monotonic times.

mod announce;
mod attended;
pub mod callback;
mod consult;
mod flow;
mod legs;
mod plan;
mod selfquery;
mod survey;
mod transfer;

pub use announce::{chinese_number, Announcements};
pub use callback::{CallBack, CallBackOutcome, CallBackPlan};
pub use consult::Handover;
pub use legs::{LegId, LegState, Target, Topology};
pub use plan::{plan_for, unavailable, Plan, Router};
pub use record::{
    CallRecord, EndReason, QueueVisit, TransferAttempt, TransferEndedBy, TransferKind,
    TransferOutcome, VisitOutcome,
};
pub use selfquery::{LookupAnswer, SelfQueryPolicy};
pub use survey::{Survey, SurveyPolicy};
pub use transfer::{TransferDest, TransferPolicy};

use dialplan::{CallQuery, Decision, Mode};
use legs::Legs;
use std::fmt;
use std::sync::Arc;

/// A prompt the shell knows how to play (a dialplan path, resolved to decoded frames by the shell).
pub type PromptRef = Arc<str>;

/// Facts about the call known when the INVITE arrived.
#[derive(Clone)]
pub struct CallSetup {
    pub call_id: String,
    pub caller: String,
    pub called: String,
    pub original_called: Option<String>,
    /// Wall-clock (Unix epoch ms, UTC) time of the INVITE.
    pub wall_start_ms: i64,
    /// The dial plan's decision for the INVITE: the call's plan, route mode, department and off-hours flag.
    pub decision: Decision,
    /// Asked again on a menu key.
    pub router: Arc<dyn Router>,
}

impl fmt::Debug for CallSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallSetup")
            .field("call_id", &self.call_id)
            .field("caller", &self.caller)
            .field("called", &self.called)
            .field("original_called", &self.original_called)
            .field("wall_start_ms", &self.wall_start_ms)
            .field("decision", &self.decision)
            .finish_non_exhaustive()
    }
}

/// Tunables, from the daemon's config.
#[derive(Debug, Clone)]
pub struct CallPolicy {
    /// Answer (200 OK) a queued or menu call before its greeting, then play the prompts and queue (the default,
    /// as Asterisk's and FreeSWITCH's queues do): carriers release calls left unanswered past their no-answer
    /// timer (60–180 s), mobile networks often carry no DTMF in early media, and many SBCs send no audio before
    /// a 200. False plays them as early media (183) and answers when a seat picks up, so the caller is not
    /// charged before a person answers; see `early_media_max_ms`. Forwarded (`Connect`) and consult calls always
    /// stay in early media until the far end answers.
    pub answer_before_queue: bool,
    /// In early-media mode, answer anyway once the call has waited this long unanswered (below the carriers'
    /// no-answer timers). None: never.
    pub early_media_max_ms: Option<i64>,
    /// How long a seat may ring before the call goes back to the queue.
    pub seat_ring_timeout_ms: i64,
    /// How long a seat that did not answer rests before it is offered again.
    pub seat_retry_after_ms: i64,
    /// How long a direct target ([`Plan::Connect`]) may ring before the call fails.
    pub connect_ring_timeout_ms: i64,
    /// How long after the menu prompt a caller may take to press a key.
    pub menu_timeout_ms: i64,
    /// What a queued caller hears in a loop.
    pub hold: Option<PromptRef>,
    /// The one-key transfer's codes and prompts.
    pub transfer: TransferPolicy,
    /// What a caller hears when its queue's maximum wait ends the call with a call-back promise («您的来电
    /// 号码已记录，我们将尽快给您回电»).
    pub callback_prompt: Option<PromptRef>,
    /// Position and expected-wait announcements while waiting (per queue).
    pub announce: Option<Arc<Announcements>>,
    /// The satisfaction survey after the operator leaves (`[survey]`); None: the caller is hung up.
    pub survey: Option<SurveyPolicy>,
    /// The progress self-query by phone (a plan's `self_query` menu key); None: such a call gets 480.
    pub self_query: Option<Arc<SelfQueryPolicy>>,
}

impl Default for CallPolicy {
    fn default() -> Self {
        CallPolicy {
            answer_before_queue: true,
            early_media_max_ms: None,
            seat_ring_timeout_ms: 15_000,
            seat_retry_after_ms: 5_000,
            connect_ring_timeout_ms: 60_000,
            menu_timeout_ms: 5_000,
            hold: None,
            transfer: TransferPolicy::default(),
            callback_prompt: None,
            announce: None,
            survey: None,
            self_query: None,
        }
    }
}

/// Timers the call arms. Each carries the attempt it belongs to, so a late timer is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// The leg dialled by seat-offer (or connect) attempt `attempt` rang too long.
    SeatRing { attempt: u32 },
    /// No key after the menu prompt: `round` says which playing of the menu it belongs to.
    Menu { round: u32 },
    /// The answer target of transfer attempt `attempt` ran out.
    Transfer { attempt: u32 },
    /// The operator keyed nothing more towards a feature code.
    Keys { generation: u32 },
    /// Time to tell the waiting caller its position (`round`: the queue stay it belongs to).
    Announce { round: u32 },
    /// The call has been in early media for `early_media_max_ms`: answer it.
    EarlyMedia,
    /// No survey key within `key_timeout_ms` after the survey prompt.
    Survey,
    /// A self-query caller keyed nothing more (`round`: the key it belongs to).
    SelfQuery { round: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The prompt being played on `leg` reached its end (never sent for looped prompts).
    PromptFinished {
        leg: LegId,
    },
    /// The ACD picked `seat` for this call.
    SeatAssigned {
        seat: String,
    },
    /// The ACD picked several seats to ring at once (a ring-all queue): the first to answer takes the call.
    SeatsAssigned {
        seats: Vec<String>,
    },
    /// The queue's maximum wait moved the waiting call on: to another queue, or (None) to the call-back list.
    Overflowed {
        to: Option<String>,
    },
    /// The ACD's answer to [`Output::AskPosition`]: 1 = next; the expected wait when it can tell.
    QueuePosition {
        position: usize,
        expected_wait_ms: Option<i64>,
    },
    /// The leg got a provisional (180/183).
    LegRinging {
        leg: LegId,
    },
    /// The leg answered: the shell has ACKed the 2xx and set the leg's remote media.
    LegAnswered {
        leg: LegId,
    },
    /// The leg failed: final non-2xx, 408 timeout, 503 transport/no port, 480 no binding, 404 bad URI.
    LegFailed {
        leg: LegId,
        status: u16,
    },
    /// BYE from that leg (`LegHangup { leg: LegId::CALLER }`: the caller hung up).
    LegHangup {
        leg: LegId,
    },
    /// ACK from the caller for our 200.
    CallerAck,
    /// CANCEL from the caller (before our final response).
    CallerCancel,
    /// Our 2xx to the caller was never ACKed.
    AckTimeout,
    Dtmf {
        leg: LegId,
        digit: char,
    },
    /// No RTP from the leg for the configured time.
    MediaTimeout {
        leg: LegId,
    },
    Timer(TimerKind),
    /// The operator's softphone asked for a blind transfer to `dialled` (a REFER, RFC 3515): answered with
    /// [`Output::ReferReply`], then [`Output::TransferNotify`] with the outcome.
    TransferRequest {
        leg: LegId,
        dialled: String,
    },
    /// The ACD's answer to [`Output::ReserveSeats`]: the group's seats now reserved for this call.
    GroupSeats {
        attempt: u32,
        seats: Vec<String>,
    },
    /// The operator's softphone asked for an attended transfer: a REFER on `leg` whose Refer-To names its
    /// consult call with `Replaces` (RFC 3891; the shell keeps the dialog it names). Answered with
    /// [`Output::ReferReply`], then [`Output::ClaimLeg`].
    AttendedTransfer {
        leg: LegId,
    },
    /// The department leg [`Output::ClaimLeg`] asked for arrived from the consult call, answered, with its
    /// session and media.
    LegAdopted {
        leg: LegId,
        handover: Box<Handover>,
    },
    /// The claim of [`Output::ClaimLeg`] `leg` failed: the consult refused it or is gone (RFC 3891 §3
    /// statuses: 481 no such dialog or not answered yet, 403 another seat's, 486 early-only, 603 ended).
    ClaimFailed {
        leg: LegId,
        status: u16,
    },
    /// A consult call this call's operator placed ended without being joined: its attempt joins the record.
    ConsultAttempt {
        attempt: Box<TransferAttempt>,
    },
    /// Another call claims this consult call's department: its operator's REFER named the dialog of `leg`
    /// (already found replaceable at the SIP layer), on behalf of `seat`. Answered with
    /// [`Output::HandOver`] or [`Output::JoinRefused`].
    JoinRequest {
        leg: LegId,
        seat: String,
    },
    /// The leg's peer put the call on hold (`held`: its offer was sendonly or inactive) or took it off.
    LegHold {
        leg: LegId,
        held: bool,
    },
    /// The shell carried out [`Output::HandOver`] of `leg`: delivered to the claiming call, or not (it was
    /// gone) and the leg is still here.
    HandOverDone {
        leg: LegId,
        delivered: bool,
    },
    /// The ticket side's answer to [`Output::LookupTicket`].
    TicketLookedUp {
        answer: LookupAnswer,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// 183 Session Progress with our SDP to the caller (early media).
    EarlyMedia,
    /// 200 OK with our SDP to the caller.
    Answer,
    /// Final error response to the caller's INVITE.
    Reject {
        status: u16,
        reason: String,
    },
    /// Open a new outgoing leg: INVITE the target.
    Dial {
        leg: LegId,
        target: Target,
    },
    /// Give up a leg that has not answered (CANCEL; a late 2xx gets ACK + BYE from the shell).
    Cancel {
        leg: LegId,
    },
    /// BYE an answered leg (`Hangup { leg: LegId::CALLER }`: BYE the caller).
    Hangup {
        leg: LegId,
    },
    Play {
        leg: LegId,
        prompt: PromptRef,
        looped: bool,
    },
    StopPlaying {
        leg: LegId,
    },
    /// Relay two legs both ways (taking them out of whatever they were connected to).
    Bridge {
        a: LegId,
        b: LegId,
    },
    /// Mix a set of legs: each hears the others.
    Mix {
        legs: Vec<LegId>,
    },
    /// Take a leg out of any bridge or mix: it hears only what is played to it.
    Isolate {
        leg: LegId,
    },
    /// Tell the ACD the call waits in `queue`.
    Enqueue {
        queue: String,
    },
    /// Tell the ACD the call left its queue (or the seat ringing for it) unanswered.
    Abandon {
        queue: String,
    },
    /// Tell the ACD the seat answered after the call waited `waited_ms`.
    SeatAnswered {
        seat: String,
        queue: String,
        waited_ms: i64,
    },
    /// Tell the ACD the seat did not take the call; once no seat rings for it any more, the ACD requeues it at
    /// the head, keeping its wait start (`waiting_since_ms` is in the monotonic ms of `now_ms`, the clock the
    /// ACD runs on too).
    SeatOfferFailed {
        seat: String,
        queue: String,
        waiting_since_ms: i64,
        why: OfferFailure,
    },
    /// Tell the ACD the seat's call ended.
    SeatReleased {
        seat: String,
    },
    StartTimer {
        kind: TimerKind,
        after_ms: i64,
    },
    /// Ask the ACD to reserve every available seat of `group` for this call (a ring-all transfer); the answer
    /// comes as [`Input::GroupSeats`].
    ReserveSeats {
        attempt: u32,
        group: String,
    },
    /// Answer the REFER of `leg`: 202 (the attempt runs) or a refusal (403, 404, 491).
    ReferReply {
        leg: LegId,
        status: u16,
    },
    /// Tell `leg`'s REFER subscription how the transfer went (a final status: 200 answered, 408/486/…).
    TransferNotify {
        leg: LegId,
        status: u16,
    },
    /// Tell the ACD a reserved seat answered: it is busy with this call.
    SeatTaken {
        seat: String,
    },
    /// Tell the ACD to free the seats still reserved for this call.
    ReleaseReserved,
    /// Put the call back at the head of `queue`, keeping its wait start.
    Requeue {
        queue: String,
        waiting_since_ms: i64,
    },
    /// Fetch, as this call's `leg`, the department leg of the consult call named by the `Replaces` of
    /// `from`'s REFER, on behalf of the operator `seat`; the answer is [`Input::LegAdopted`] or
    /// [`Input::ClaimFailed`].
    ClaimLeg {
        from: LegId,
        leg: LegId,
        seat: String,
    },
    /// (A consult call) give `leg` — its session, transactions and media — to the call whose
    /// [`Input::JoinRequest`] asked for it; say how it went with [`Input::HandOverDone`].
    HandOver {
        leg: LegId,
        handover: Box<Handover>,
    },
    /// (A consult call, or a call asked by mistake) refuse the [`Input::JoinRequest`] with `status`.
    JoinRefused {
        status: u16,
    },
    /// (A consult call) it is over: the attempt goes to the call the consult was for, unless it went with
    /// the department's leg. Always the last output of a consult call, exactly once, instead of `Finished`.
    ConsultEnded {
        attempt: Option<Box<TransferAttempt>>,
    },
    /// Ask the ACD where the call waits (answered by [`Input::QueuePosition`]).
    AskPosition,
    /// A self-query: ask the ticket store about ticket `number` for `caller` (with the query code the caller
    /// keyed, if any); the answer comes as [`Input::TicketLookedUp`]. The store decides what may be said
    /// and logs the query.
    LookupTicket {
        number: String,
        code: Option<String>,
        caller: String,
    },
    /// The call is over: hand this record to the ticket crate. Always the last output, exactly once.
    Finished(Box<CallRecord>),
}

/// Why a seat did not take the call it was offered (the ACD decides what that means for the seat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferFailure {
    /// It rang until the seat ring timeout (ring-no-answer).
    NoAnswer,
    /// Busy, declined or unreachable.
    Refused,
    /// The call did not want it any more (it had left the queue).
    Returned,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Playing the plan's prompt before queueing (or before hanging up).
    Prompt,
    /// Playing the menu or waiting for a key.
    Menu {
        round: u32,
    },
    /// Waiting in the queue.
    Queued,
    /// The plan's leg (a seat, or a Connect target) is ringing.
    Offering {
        leg: LegId,
        attempt: u32,
    },
    /// The caller talks with `leg` (other legs may be connected too).
    Connected {
        leg: LegId,
    },
    /// A consult call: its department rings.
    Consulting,
    /// The maximum wait ran out: the call-back promise plays, then the call ends.
    Callback,
    /// The operator left: the caller answers the satisfaction survey (`survey.rs`).
    Survey,
    Ended,
}

/// A stay in a queue, in monotonic ms until the record turns it into wall time.
#[derive(Debug, Clone)]
struct Visit {
    queue: String,
    entered_ms: i64,
    left: Option<(i64, VisitOutcome)>,
}

#[derive(Debug)]
pub struct Call {
    setup: CallSetup,
    policy: CallPolicy,
    plan: Plan,
    department: Option<String>,
    phase: Phase,
    legs: Legs,
    /// Monotonic `now_ms` at [`Call::new`].
    start_ms: i64,
    queued_at_ms: Option<i64>,
    answered_at_ms: Option<i64>,
    /// When the caller got its 200 (by the system before the greeting, or at a person's answer).
    system_answered_ms: Option<i64>,
    /// A seat answered since the last [`Call::poll_journal`].
    journal_due: bool,
    caller_answered: bool,
    attempts: u32,
    /// The ACD seat that took the call.
    served_by: Option<String>,
    /// The one-key transfer in progress, the operator's keys, and the attempts done.
    transfer: Option<transfer::Attempt>,
    keys: transfer::Keys,
    transfers: Vec<TransferAttempt>,
    transfer_seq: u32,
    /// An attended transfer waiting for the department leg it claimed.
    join: Option<attended::Join>,
    /// Set for a consult call ([`Plan::Consult`]) while it runs.
    consult: Option<consult::Consult>,
    /// The other legs of a ring-all offer (the phase's leg is the first).
    ring_too: Vec<LegId>,
    visits: Vec<Visit>,
    /// The announcement's pieces still to play, whether one plays, and the round of its timer.
    announcing: std::collections::VecDeque<PromptRef>,
    announce_playing: bool,
    announce_round: u32,
    /// The satisfaction survey, once the operator left.
    survey: Option<survey::Survey>,
    survey_keys: survey::CodeKeys,
    /// The progress self-query, while it runs.
    selfquery: Option<selfquery::SelfQuery>,
}

impl Call {
    /// A new call from an INVITE (the shell has already sent 100 Trying); the plan comes from the decision.
    pub fn new(setup: CallSetup, policy: CallPolicy, now_ms: i64) -> (Call, Vec<Output>) {
        let plan = plan_for(&setup.decision, policy.hold.clone());
        Call::with_plan(setup, policy, plan, now_ms)
    }

    /// A new call with a plan the shell imposes instead of the decision's (e.g. a [`Plan::Reject`] with 488 for
    /// an offer it cannot serve, or 503 when no media port is free).
    pub fn with_plan(
        setup: CallSetup,
        policy: CallPolicy,
        plan: Plan,
        now_ms: i64,
    ) -> (Call, Vec<Output>) {
        let department = setup.decision.department.as_deref().map(str::to_string);
        let consult = consult::Consult::for_plan(&plan, now_ms);
        let mut call = Call {
            setup,
            policy,
            plan,
            department,
            phase: Phase::Prompt,
            legs: Legs::new(),
            start_ms: now_ms,
            queued_at_ms: None,
            answered_at_ms: None,
            system_answered_ms: None,
            journal_due: false,
            caller_answered: false,
            attempts: 0,
            served_by: None,
            transfer: None,
            keys: transfer::Keys::default(),
            transfers: Vec::new(),
            transfer_seq: 0,
            join: None,
            consult,
            ring_too: Vec::new(),
            visits: Vec::new(),
            announcing: std::collections::VecDeque::new(),
            announce_playing: false,
            announce_round: 0,
            survey: None,
            survey_keys: survey::CodeKeys::default(),
            selfquery: None,
        };
        let mut out = Vec::new();
        match call.plan {
            Plan::Reject { .. } => {}
            // A feature code's confirmation and a self-query are short answered calls.
            Plan::Announce { .. } | Plan::SelfQuery => call.answer_caller(now_ms, &mut out),
            _ => call.open_media(now_ms, &mut out),
        }
        call.start_plan(now_ms, &mut out);
        (call, out)
    }

    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// A consult call (its last output is [`Output::ConsultEnded`], it writes no record).
    pub fn is_consult(&self) -> bool {
        matches!(self.plan, Plan::Consult { .. })
    }

    pub fn call_id(&self) -> &str {
        &self.setup.call_id
    }

    /// The plan being carried out (after a menu key: the key's plan).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The ACD seat currently ringing or talking for this call, if any.
    pub fn seat(&self) -> Option<&str> {
        match self.partner() {
            Some(leg) => match self.legs.get(leg)?.target.as_ref()? {
                Target::Seat { seat } => Some(seat),
                _ => None,
            },
            None => None,
        }
    }

    /// The leg the plan is ringing or the caller talks with (not counting further legs).
    pub fn partner(&self) -> Option<LegId> {
        match self.phase {
            Phase::Offering { leg, .. } | Phase::Connected { leg } => Some(leg),
            _ => None,
        }
    }

    /// Every leg the call has had, in id order, with its state.
    pub fn legs(&self) -> impl Iterator<Item = (LegId, LegState)> + '_ {
        self.legs.iter().map(|(id, l)| (id, l.state))
    }

    pub fn leg_state(&self, leg: LegId) -> Option<LegState> {
        self.legs.state(leg)
    }

    /// What a leg rings (None for the caller leg and unknown legs).
    pub fn target_of(&self, leg: LegId) -> Option<&Target> {
        self.legs.get(leg)?.target.as_ref()
    }

    /// The keys received from `leg` ("" for an unknown leg). The caller's are also the record's `digits`.
    pub fn dtmf_of(&self, leg: LegId) -> &str {
        self.legs.get(leg).map_or("", |l| l.dtmf.as_str())
    }

    pub fn topology(&self) -> &Topology {
        self.legs.topology()
    }

    /// Dial a further leg (no ring timer: whoever dials it decides how long it may ring). After the call
    /// ended the id is allocated as Gone and nothing is dialled.
    pub fn dial(&mut self, target: Target, _now_ms: i64) -> (LegId, Vec<Output>) {
        let leg = self.legs.add(target.clone(), false);
        if self.phase == Phase::Ended {
            self.legs.set_state(leg, LegState::Gone);
            return (leg, Vec::new());
        }
        (leg, vec![Output::Dial { leg, target }])
    }

    /// Relay `a` and `b`; legs connected before and left out are isolated. Nothing for gone/unknown legs.
    pub fn bridge(&mut self, a: LegId, b: LegId) -> Vec<Output> {
        self.mix(&[a, b])
    }

    /// Mix `legs` (two legs make a bridge); legs connected before and left out are isolated. Nothing unless
    /// the legs are distinct, at least two, and all live.
    pub fn mix(&mut self, legs: &[LegId]) -> Vec<Output> {
        let mut out = Vec::new();
        if self.phase != Phase::Ended {
            self.legs.connect(legs, &mut out);
        }
        out
    }

    /// Take `leg` out of the topology (a mix left with two legs becomes a bridge).
    pub fn isolate(&mut self, leg: LegId) -> Vec<Output> {
        let mut out = Vec::new();
        if self.phase != Phase::Ended {
            self.legs.leave(leg, &mut out);
        }
        out
    }

    /// Give up a further leg (not the caller, not the plan's partner): CANCEL or BYE it and take it out of the
    /// topology.
    pub fn drop_leg(&mut self, leg: LegId) -> Vec<Output> {
        let mut out = Vec::new();
        if self.phase == Phase::Ended
            || leg == LegId::CALLER
            || self.partner() == Some(leg)
            || !self.legs.is_live(leg)
        {
            return out;
        }
        self.legs.leave(leg, &mut out);
        self.end_leg(leg, &mut out);
        out
    }

    /// Wall-clock epoch ms of monotonic `now_ms`.
    fn wall(&self, now_ms: i64) -> i64 {
        self.setup.wall_start_ms + (now_ms - self.start_ms)
    }

    /// Ask the router again for this call with the menu `digits`.
    fn reroute(&mut self, digits: &str, now_ms: i64) -> Decision {
        let at = chrono::DateTime::from_timestamp_millis(self.wall(now_ms)).unwrap_or_default();
        self.setup.router.route(&CallQuery {
            called: &self.setup.called,
            diversion: self.setup.original_called.as_deref(),
            caller: Some(&self.setup.caller),
            at,
            digits,
        })
    }

    /// Cancel (not answered) or hang up (answered) a live leg, and mark it gone.
    fn end_leg(&mut self, leg: LegId, out: &mut Vec<Output>) {
        match self.legs.state(leg) {
            Some(LegState::Answered) => out.push(Output::Hangup { leg }),
            Some(LegState::Dialling | LegState::Ringing) => out.push(Output::Cancel { leg }),
            _ => return,
        }
        self.legs.set_state(leg, LegState::Gone);
    }

    fn finish(&mut self, reason: EndReason, now_ms: i64, out: &mut Vec<Output>) {
        // Further legs still up go with the call (the plan's own legs were ended on the way here).
        let rest: Vec<LegId> = self
            .legs
            .iter()
            .filter(|(id, l)| *id != LegId::CALLER && l.state != LegState::Gone)
            .map(|(id, _)| id)
            .collect();
        for leg in rest {
            self.end_leg(leg, out);
        }
        self.legs.set_state(LegId::CALLER, LegState::Gone);
        self.legs.clear_topology();
        self.phase = Phase::Ended;
        self.leave_queue(VisitOutcome::Ended, now_ms);
        let transfers = std::mem::take(&mut self.transfers);
        let record = self.record(reason, now_ms, transfers);
        out.push(Output::Finished(Box::new(record)));
    }

    /// The call's record as of `now_ms`, ended by `reason`.
    fn record(
        &self,
        reason: EndReason,
        now_ms: i64,
        transfers: Vec<TransferAttempt>,
    ) -> CallRecord {
        let queue_visits = self
            .visits
            .iter()
            .map(|v| {
                let (left, outcome) = v.left.unwrap_or((now_ms, VisitOutcome::Ended));
                QueueVisit {
                    queue: v.queue.clone(),
                    entered_at_ms: self.wall(v.entered_ms),
                    left_at_ms: self.wall(left),
                    outcome,
                }
            })
            .collect();
        let wait_end = self.answered_at_ms.unwrap_or(now_ms);
        let d = &self.setup.decision;
        CallRecord {
            call_id: self.setup.call_id.clone(),
            caller: self.setup.caller.clone(),
            called: self.setup.called.clone(),
            original_called: self.setup.original_called.clone(),
            // An operator's feature code is no hotline call: its record says so.
            route_mode: Some(match self.plan {
                Plan::Announce { .. } => "feature".to_string(),
                _ => d.mode.as_str().to_string(),
            }),
            department: self.department.clone(),
            started_at_ms: self.setup.wall_start_ms,
            answered_at_ms: self.answered_at_ms.map(|t| self.wall(t)),
            system_answered_at_ms: self.system_answered_ms.map(|t| self.wall(t)),
            ended_at_ms: self.wall(now_ms),
            wait_ms: wait_end - self.start_ms,
            seat: self.served_by.clone(),
            end_reason: reason,
            digits: self
                .legs
                .get(LegId::CALLER)
                .map(|l| l.dtmf.clone())
                .unwrap_or_default(),
            off_hours: d.mode == Mode::Parallel && !d.working_hours,
            // The department of the last transfer that failed (not one the operator or caller gave up): the
            // ticket side opens a ticket for it.
            transfer_unanswered: transfers
                .iter()
                .rev()
                .find(|t| {
                    !matches!(
                        t.outcome,
                        TransferOutcome::Answered | TransferOutcome::Cancelled
                    )
                })
                .map(|t| t.department.clone().unwrap_or_else(|| t.target.clone())),
            transfers,
            // the 110 platform hands callers over to 12345 (its number as caller, or as Diversion).
            handed_over_by: [
                Some(self.setup.caller.as_str()),
                self.setup.original_called.as_deref(),
            ]
            .contains(&Some("110"))
            .then(|| "110".to_string()),
            queue_visits,
            survey: self.survey_answer(now_ms),
            quality: Vec::new(),
        }
    }

    /// Once the call is answered (and not yet finished): what is known of it, as if it ended now by
    /// [`EndReason::Interrupted`]. The shell journals it until [`Output::Finished`] replaces it, so a daemon
    /// killed mid-call still leaves exactly one record per answered call. Polled after `handle`, like
    /// quinn's `poll_*`, so the outputs tests pin stay as they are.
    pub fn poll_journal(&mut self, now_ms: i64) -> Option<CallRecord> {
        if !std::mem::take(&mut self.journal_due) || self.phase == Phase::Ended {
            return None;
        }
        Some(self.record(EndReason::Interrupted, now_ms, self.transfers.clone()))
    }
}

#[cfg(test)]
mod tests;
