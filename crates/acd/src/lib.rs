//! Automatic call distribution: operators at seats, queues that ask for skills, and who takes the next call.
//!
//! Sans-IO and deterministic: every method takes `now_ms` (monotonic, any origin) and returns the assignments it
//! made. Every seat state change is also kept as a [`SeatEvent`] ([`Acd::take_events`]) for the daemon to publish
//! and persist. The daemon owns one `Acd` in one task; calls talk to it by message.
//!
//! A seat is a softphone; an operator logs in at one ([`AgentAction`], `*21`…`*24`). States: logged out, ready,
//! ringing, talking, wrap-up (timed), resting (timed, after a busy or unreachable offer), not ready with a reason
//! (`RONA` when an offer rang out). A queue asks for skills; a seat serves every queue whose skills the operator
//! logged in there (else the seat itself) has. Strategies per queue: longest idle, round robin, ring all;
//! priorities between queues.

mod codes;
pub mod erlang;
mod queue;
#[cfg(test)]
mod tests;

pub use codes::{AgentAction, FeatureCodes};
pub use queue::{check_overflow, Overflow, QueueSnapshot, QueueSpec, SeatCounts, Strategy};

use queue::Queue;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// A call waiting for (or talking to) a seat, as the daemon numbers it.
pub type CallKey = u64;
/// A seat's id (its SIP user); shared, so indices and events clone a pointer, not a string.
pub type SeatId = Arc<str>;

/// Why a seat takes no calls although an operator is logged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Ring-no-answer: an offer rang until the seat ring timeout.
    Rona,
    /// A reason code the operator keyed (`*22` + digit) or the API gave; 0 when none was given.
    Code(u8),
}

impl Reason {
    /// `RONA`, or the digit.
    pub fn as_string(self) -> String {
        match self {
            Reason::Rona => "RONA".into(),
            Reason::Code(c) => c.to_string(),
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        match s.trim() {
            "RONA" | "rona" => Some(Reason::Rona),
            d if d.len() == 1 => d.parse::<u8>().ok().map(Reason::Code),
            _ => None,
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_string())
    }
}

/// What a seat is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum SeatState {
    /// Nobody logged in (or the softphone is not registered): takes no calls.
    LoggedOut,
    /// Idle since `since_ms` (longest idle is offered first).
    Ready { since_ms: i64 },
    /// A call is ringing this seat.
    Ringing { call: CallKey },
    /// On a call.
    Talking { call: CallKey },
    /// After-call work until `until_ms` (`*24` ends it early).
    WrapUp { until_ms: i64 },
    /// A short pause after an offer the seat refused or could not take (busy, unreachable).
    Resting { until_ms: i64 },
    /// Logged in but taking no calls until the operator is ready again (`*21`).
    NotReady { reason: Reason, since_ms: i64 },
}

/// What a restart has to restore of a seat: who is logged in and whether they take calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "presence")]
pub enum Presence {
    LoggedOut,
    /// Ready, or busy with calls (ringing, talking, wrap-up and rests end with a restart).
    Ready,
    NotReady {
        reason: Reason,
    },
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::LoggedOut => "logged_out",
            Presence::Ready => "ready",
            Presence::NotReady { .. } => "not_ready",
        }
    }
}

impl SeatState {
    pub fn presence(self) -> Presence {
        match self {
            SeatState::LoggedOut => Presence::LoggedOut,
            SeatState::NotReady { reason, .. } => Presence::NotReady { reason },
            _ => Presence::Ready,
        }
    }

    /// The state's name, as serialized in `state`.
    pub fn name(self) -> &'static str {
        match self {
            SeatState::LoggedOut => "logged_out",
            SeatState::Ready { .. } => "ready",
            SeatState::Ringing { .. } => "ringing",
            SeatState::Talking { .. } => "talking",
            SeatState::WrapUp { .. } => "wrap_up",
            SeatState::Resting { .. } => "resting",
            SeatState::NotReady { .. } => "not_ready",
        }
    }

    fn on_call(self) -> bool {
        matches!(self, SeatState::Ringing { .. } | SeatState::Talking { .. })
    }
}

/// Something asked for while the seat is on a call, carried out when the call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "then")]
pub enum AfterCall {
    NotReady {
        reason: Reason,
    },
    /// `held`: the operator logged out (a new registration does not log in again); else the registration went.
    Logout {
        held: bool,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Seat {
    pub id: SeatId,
    /// The operator logged in here; None for nobody, or a seat that takes calls without a login.
    pub operator: Option<Arc<str>>,
    /// The seat's own skills (from config); an operator with skills of its own brings those instead.
    pub skills: Vec<Arc<str>>,
    /// Free labels, e.g. `remote` for a county's remote seat.
    pub tags: Vec<Arc<str>>,
    /// Queues the seat serves now (skills in force ⊇ the queue's skills).
    pub queues: Arc<[Arc<str>]>,
    /// The softphone has a live registration.
    pub registered: bool,
    pub state: SeatState,
    /// When the state began.
    pub since_ms: i64,
    /// Unanswered offers in a row.
    pub missed_offers: u32,
    pub after_call: Option<AfterCall>,
    /// Logged out by the operator (not by a lost registration): a new registration does not log in again.
    pub held_out: bool,
    /// The operator `*21` logs in when it names none.
    #[serde(skip)]
    default_operator: Option<Arc<str>>,
    /// Restored by a restart and not registered again yet: logged out at this time unless it registers.
    #[serde(skip)]
    grace_until: Option<i64>,
    /// Its queues must be worked out again (a new seat, a new queue).
    #[serde(skip)]
    reskill: bool,
}

/// An operator who can log in at a seat.
#[derive(Debug, Clone, Serialize)]
pub struct Operator {
    pub id: Arc<str>,
    pub name: String,
    /// Empty: the skills of the seat logged in at.
    pub skills: Vec<Arc<str>>,
}

/// A seat's state changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeatEvent {
    pub seat: SeatId,
    pub operator: Option<Arc<str>>,
    pub state: SeatState,
    pub registered: bool,
    pub held_out: bool,
    pub queues: Arc<[Arc<str>]>,
    pub at_ms: i64,
    /// Login, log-out, ready or not-ready changed: what a restart must restore (not a call's ringing or talking).
    pub presence_changed: bool,
}

/// A decision: ring `seat` (and, for a ring-all queue, `also` at the same time) for `call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub call: CallKey,
    pub seat: SeatId,
    pub also: Vec<SeatId>,
    pub queue: Arc<str>,
    /// How long the call waited in the queue before this offer.
    pub waited_ms: i64,
}

/// A waiting call its queue's maximum wait moved on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub call: CallKey,
    pub from: Arc<str>,
    /// The queue it waits in now; None: to the call-back list (the call says so and ends).
    pub to: Option<Arc<str>>,
}

/// Why an offer did not become a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferFailure {
    /// It rang until the ring timeout: the seat goes not ready (`RONA`).
    NoAnswer,
    /// Busy, refused or unreachable: the seat rests for the configured rest.
    Refused,
    /// The call no longer wanted it (it had left the queue): the seat is ready again at once.
    Returned,
}

/// Why an operator's request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    UnknownSeat,
    UnknownOperator,
    /// The operator is on a call at another seat.
    OperatorBusyElsewhere {
        seat: SeatId,
    },
    /// Another operator is on a call at this seat.
    SeatBusy,
    NotLoggedIn,
    NotInWrapUp,
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActionError::UnknownSeat => f.write_str("no such seat"),
            ActionError::UnknownOperator => f.write_str("no such operator"),
            ActionError::OperatorBusyElsewhere { seat } => {
                write!(f, "the operator is on a call at seat {seat}")
            }
            ActionError::SeatBusy => f.write_str("another operator is on a call at this seat"),
            ActionError::NotLoggedIn => f.write_str("nobody is logged in at this seat"),
            ActionError::NotInWrapUp => f.write_str("the seat is not in wrap-up"),
        }
    }
}

impl std::error::Error for ActionError {}

/// The ACD's tunables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcdConfig {
    /// After-call work before a seat is offered again (0: none).
    pub wrap_up_ms: i64,
    /// How long a seat that refused or could not take an offer rests.
    pub rest_ms: i64,
    /// A seat that registers is logged in and ready at once (its default operator, else nobody by name); with
    /// `false` it waits for `*21`.
    pub auto_login: bool,
}

impl Default for AcdConfig {
    fn default() -> Self {
        AcdConfig {
            wrap_up_ms: 0,
            rest_ms: 5_000,
            auto_login: true,
        }
    }
}

/// Seats, operators, queues and the distribution policy.
///
/// Every seat change goes through [`Acd::change`] (state changes through [`Acd::set_state`]), which keeps four
/// indices true: the free seats of each queue in the queue's order, the seats ringing for each call, the timed
/// states (wrap-up, rest) by end time, and restored seats waiting to register by deadline. So an event costs the
/// seats it touches and the queues (tens), never a scan of every seat (a province has thousands at peak).
#[derive(Debug)]
pub struct Acd {
    cfg: AcdConfig,
    seats: HashMap<SeatId, Seat>,
    operators: HashMap<Arc<str>, Operator>,
    /// Operator → the seat it is logged in at.
    logged_in: HashMap<Arc<str>, SeatId>,
    queues: BTreeMap<Arc<str>, Queue>,
    /// Seats ringing (offered) for a call.
    offers: HashMap<CallKey, Vec<SeatId>>,
    /// Seats in wrap-up or resting, by the end of it.
    timed: BTreeSet<(i64, SeatId)>,
    /// Restored seats not registered again, by the time they are logged out.
    grace: BTreeSet<(i64, SeatId)>,
    /// The queue each waiting call is in.
    waiting_in: HashMap<CallKey, Arc<str>>,
    /// When a call's maximum wait in its current queue ends; kept while a seat rings for it.
    deadline_of: HashMap<CallKey, i64>,
    /// The deadlines of calls waiting now, in order.
    due: BTreeSet<(i64, CallKey)>,
    events: Vec<SeatEvent>,
    moves: Vec<Moved>,
}

impl Acd {
    pub fn new(cfg: AcdConfig) -> Acd {
        Acd {
            cfg,
            seats: HashMap::new(),
            operators: HashMap::new(),
            logged_in: HashMap::new(),
            queues: BTreeMap::new(),
            offers: HashMap::new(),
            timed: BTreeSet::new(),
            grace: BTreeSet::new(),
            waiting_in: HashMap::new(),
            deadline_of: HashMap::new(),
            due: BTreeSet::new(),
            events: Vec::new(),
            moves: Vec::new(),
        }
    }

    pub fn config(&self) -> &AcdConfig {
        &self.cfg
    }

    /// Declare (or redeclare) a queue. Config time: it looks at every seat to find who serves it.
    pub fn add_queue(&mut self, spec: QueueSpec) {
        let name: Arc<str> = Arc::from(spec.name.as_str());
        let old = self.queues.remove(&name);
        let mut q = Queue::new(spec);
        if let Some(old) = old {
            q.take_waiting(old);
        }
        self.queues.insert(name.clone(), q);
        let ids: Vec<SeatId> = self.seats.keys().cloned().collect();
        for id in ids {
            self.change(&id, 0, |s| s.reskill = true);
        }
    }

    /// The queue, created with the default spec on first use (a department's seat group).
    fn queue_named(&mut self, name: &str) -> Arc<str> {
        if let Some((k, _)) = self.queues.get_key_value(name) {
            return k.clone();
        }
        self.add_queue(QueueSpec::named(name));
        Arc::from(name)
    }

    pub fn queue_spec(&self, name: &str) -> Option<&QueueSpec> {
        self.queues.get(name).map(|q| &q.spec)
    }

    pub fn add_operator(&mut self, id: &str, name: &str, skills: Vec<String>) {
        let id: Arc<str> = Arc::from(id);
        self.operators.insert(
            id.clone(),
            Operator {
                id,
                name: name.to_string(),
                skills: skills.into_iter().map(Arc::from).collect(),
            },
        );
    }

    pub fn operators(&self) -> impl Iterator<Item = &Operator> {
        self.operators.values()
    }

    /// Declare a seat with its skills (from config). It is logged out until it registers.
    pub fn add_seat(&mut self, id: &str, skills: Vec<String>) {
        self.add_seat_with(id, skills, Vec::new(), None);
    }

    /// [`Acd::add_seat`] with tags (`remote`) and the operator `*21` logs in when it names none.
    pub fn add_seat_with(
        &mut self,
        id: &str,
        skills: Vec<String>,
        tags: Vec<String>,
        default_operator: Option<&str>,
    ) {
        // A skill no declared queue has yet names a queue of its own (a department's seat group).
        for skill in &skills {
            self.queue_named(skill);
        }
        let id: SeatId = Arc::from(id);
        // Declared again (a reload): out of every index first.
        if self.seats.contains_key(&id) {
            self.set_state(&id, SeatState::LoggedOut, 0);
            self.seats.remove(&id);
        }
        self.seats.insert(
            id.clone(),
            Seat {
                id: id.clone(),
                operator: None,
                skills: skills.into_iter().map(Arc::from).collect(),
                tags: tags.into_iter().map(Arc::from).collect(),
                queues: Arc::from(Vec::new()),
                registered: false,
                state: SeatState::LoggedOut,
                since_ms: 0,
                missed_offers: 0,
                after_call: None,
                held_out: false,
                default_operator: default_operator.map(Arc::from),
                grace_until: None,
                reskill: true,
            },
        );
        self.change(&id, 0, |_| {});
    }

    pub fn seat(&self, id: &str) -> Option<&Seat> {
        self.seats.get(id)
    }

    pub fn seats(&self) -> impl Iterator<Item = &Seat> {
        self.seats.values()
    }

    /// The state changes since the last call, in order.
    pub fn take_events(&mut self) -> Vec<SeatEvent> {
        std::mem::take(&mut self.events)
    }

    /// The calls moved by a maximum wait since the last call, in order.
    pub fn take_moves(&mut self) -> Vec<Moved> {
        std::mem::take(&mut self.moves)
    }

    /// The softphone registered (or refreshed). A seat that was not registered logs in by itself when
    /// `auto_login` says so and its operator did not log out.
    pub fn seat_online(&mut self, id: &str, now_ms: i64) -> Vec<Assignment> {
        let Some(seat) = self.seats.get(id) else {
            return Vec::new();
        };
        if seat.registered {
            return Vec::new();
        }
        let login = self.cfg.auto_login && seat.state == SeatState::LoggedOut && !seat.held_out;
        self.change(id, now_ms, |s| {
            s.registered = true;
            s.grace_until = None;
        });
        if login {
            let _ = self.login(id, None, now_ms);
        }
        self.assign(now_ms)
    }

    /// The softphone's last registration went away: the operator is logged out (after the call it is on).
    pub fn seat_offline(&mut self, id: &str, now_ms: i64) {
        let Some(seat) = self.seats.get(id) else {
            return;
        };
        let (on_call, logged_out) = (seat.state.on_call(), seat.state == SeatState::LoggedOut);
        self.change(id, now_ms, |s| {
            s.registered = false;
            s.grace_until = None;
            if on_call && s.after_call != Some(AfterCall::Logout { held: true }) {
                s.after_call = Some(AfterCall::Logout { held: false });
            }
        });
        if !on_call && !logged_out {
            self.logout(id, false, now_ms);
        }
    }

    /// Put back what a restart has to keep: the operator and whether it took calls. The seat counts as
    /// unregistered until its softphone registers again; if that has not happened by `grace_until_ms`, the
    /// operator is logged out (as its registration would have expired).
    pub fn restore(
        &mut self,
        id: &str,
        operator: Option<&str>,
        presence: Presence,
        held_out: bool,
        grace_until_ms: i64,
        now_ms: i64,
    ) {
        if !self.seats.contains_key(id) {
            return;
        }
        match presence {
            Presence::LoggedOut => self.change(id, now_ms, |s| s.held_out = held_out),
            Presence::Ready | Presence::NotReady { .. } => {
                if self.login(id, operator, now_ms).is_err() {
                    return;
                }
                if let Presence::NotReady { reason } = presence {
                    self.set_state(
                        id,
                        SeatState::NotReady {
                            reason,
                            since_ms: now_ms,
                        },
                        now_ms,
                    );
                }
                self.change(id, now_ms, |s| s.grace_until = Some(grace_until_ms));
            }
        }
    }

    /// An operator's request (a feature code or the API).
    pub fn act(
        &mut self,
        id: &str,
        action: &AgentAction,
        now_ms: i64,
    ) -> Result<Vec<Assignment>, ActionError> {
        let Some(seat) = self.seats.get(id) else {
            return Err(ActionError::UnknownSeat);
        };
        let state = seat.state;
        match action {
            AgentAction::Login { operator } => self.login(id, operator.as_deref(), now_ms)?,
            AgentAction::NotReady { reason } => {
                if state == SeatState::LoggedOut {
                    return Err(ActionError::NotLoggedIn);
                }
                let reason = *reason;
                if state.on_call() {
                    self.change(id, now_ms, |s| {
                        s.after_call = Some(AfterCall::NotReady { reason })
                    });
                } else {
                    self.set_state(
                        id,
                        SeatState::NotReady {
                            reason,
                            since_ms: now_ms,
                        },
                        now_ms,
                    );
                }
            }
            AgentAction::Logout => {
                if state == SeatState::LoggedOut {
                    self.change(id, now_ms, |s| s.held_out = true);
                } else if state.on_call() {
                    self.change(id, now_ms, |s| {
                        s.after_call = Some(AfterCall::Logout { held: true })
                    });
                } else {
                    self.logout(id, true, now_ms);
                }
            }
            AgentAction::EndWrapUp => match state {
                SeatState::WrapUp { .. } => {
                    self.set_state(id, SeatState::Ready { since_ms: now_ms }, now_ms)
                }
                _ => return Err(ActionError::NotInWrapUp),
            },
        }
        Ok(self.assign(now_ms))
    }

    /// Log `operator` (else the seat's default) in at `id`, or make the operator there ready.
    fn login(&mut self, id: &str, operator: Option<&str>, now_ms: i64) -> Result<(), ActionError> {
        let seat = self.seats.get(id).ok_or(ActionError::UnknownSeat)?;
        let wanted: Option<Arc<str>> = match operator {
            Some(op) => Some(
                self.operators
                    .get_key_value(op)
                    .map(|(k, _)| k.clone())
                    .ok_or(ActionError::UnknownOperator)?,
            ),
            // `*21` alone: the operator already here, else the seat's own.
            None if seat.state != SeatState::LoggedOut => seat.operator.clone(),
            None => seat.default_operator.clone(),
        };
        if seat.state != SeatState::LoggedOut && seat.operator != wanted && seat.state.on_call() {
            return Err(ActionError::SeatBusy);
        }
        if let Some(op) = &wanted {
            if let Some(other) = self.logged_in.get(op).cloned() {
                if &*other != id {
                    let busy = self.seats.get(&other).is_some_and(|s| s.state.on_call());
                    if busy {
                        return Err(ActionError::OperatorBusyElsewhere { seat: other });
                    }
                    self.logout(&other, false, now_ms);
                }
            }
        }
        let state = self.seats.get(id).map(|s| s.state);
        if let Some(old) = self.seats.get(id).and_then(|s| s.operator.clone()) {
            if Some(&old) != wanted.as_ref() {
                self.logged_in.remove(&old);
            }
        }
        if let Some(op) = &wanted {
            self.logged_in.insert(op.clone(), Arc::from(id));
        }
        self.change(id, now_ms, |s| {
            s.operator = wanted;
            s.held_out = false;
            s.after_call = None;
        });
        match state {
            Some(s) if s.on_call() => {}
            _ => self.set_state(id, SeatState::Ready { since_ms: now_ms }, now_ms),
        }
        Ok(())
    }

    fn logout(&mut self, id: &str, held: bool, now_ms: i64) {
        if let Some(op) = self.seats.get(id).and_then(|s| s.operator.clone()) {
            self.logged_in.remove(&op);
        }
        self.set_state(id, SeatState::LoggedOut, now_ms);
        self.change(id, now_ms, |s| {
            s.operator = None;
            s.held_out = held;
            s.after_call = None;
            s.grace_until = None;
        });
    }

    /// A call joins `queue`. Returns assignments (possibly for this call at once).
    pub fn enqueue(&mut self, call: CallKey, queue: &str, now_ms: i64) -> Vec<Assignment> {
        let name = self.queue_named(queue);
        if let Some(q) = self.queues.get_mut(&name) {
            q.push_back(call, now_ms);
        }
        self.start_wait(call, name, now_ms);
        self.assign(now_ms)
    }

    /// The call waits in `name` from `now_ms`: its maximum wait there starts.
    fn start_wait(&mut self, call: CallKey, name: Arc<str>, now_ms: i64) {
        let max = self.queues.get(&name).and_then(|q| q.spec.max_wait_ms);
        if let Some(old) = self.deadline_of.remove(&call) {
            self.due.remove(&(old, call));
        }
        if let Some(max) = max {
            self.deadline_of.insert(call, now_ms + max);
            self.due.insert((now_ms + max, call));
        }
        self.waiting_in.insert(call, name);
    }

    /// A waiting call's maximum wait ran out: on to the overflow queue (at its tail; the wait it reports still
    /// counts from its first queue) or to the call-back list.
    fn overflow(&mut self, call: CallKey, now_ms: i64) {
        let Some(from) = self.waiting_in.get(&call).cloned() else {
            return;
        };
        let (w, target) = match self.queues.get_mut(&from) {
            Some(q) => (q.take(call), q.spec.overflow.clone()),
            None => return,
        };
        self.waiting_in.remove(&call);
        if let Some(d) = self.deadline_of.remove(&call) {
            self.due.remove(&(d, call));
        }
        let Some(w) = w else { return };
        let to = match target {
            Overflow::Queue(name) => {
                let name = self.queue_named(&name);
                if let Some(q) = self.queues.get_mut(&name) {
                    q.push_back(call, w.since_ms);
                }
                self.start_wait(call, name.clone(), now_ms);
                Some(name)
            }
            Overflow::Callback => None,
        };
        self.moves.push(Moved { call, from, to });
    }

    /// The call is gone (hung up, or its task ended): forget it and free a seat ringing for it.
    pub fn withdraw(&mut self, call: CallKey, now_ms: i64) -> Vec<Assignment> {
        self.unqueue(call);
        self.deadline_of.remove(&call);
        self.free_offers(call, now_ms);
        self.assign(now_ms)
    }

    /// Out of the waiting list (its maximum wait stays known, for a requeue).
    fn unqueue(&mut self, call: CallKey) {
        if let Some(name) = self.waiting_in.remove(&call) {
            if let Some(q) = self.queues.get_mut(&name) {
                q.remove(call);
            }
        }
        if let Some(&d) = self.deadline_of.get(&call) {
            self.due.remove(&(d, call));
        }
    }

    /// The offered seat answered `queue`'s call: it talks with it; seats rung with it (ring all) are ready
    /// again.
    pub fn offer_answered(&mut self, call: CallKey, seat_id: &str, queue: &str, now_ms: i64) {
        self.set_state(seat_id, SeatState::Talking { call }, now_ms);
        if let Some(seat) = self.seats.get_mut(seat_id) {
            seat.missed_offers = 0;
        }
        self.free_offers(call, now_ms);
        // Answered: waiting nowhere any more.
        self.unqueue(call);
        self.deadline_of.remove(&call);
        if let Some(q) = self.queues.get_mut(queue) {
            q.note_answer(now_ms);
        }
    }

    /// The offered seat did not take the call. The seat goes not ready (no answer), rests (refused) or is
    /// ready again (returned). When no other seat still rings for the call, it goes back to the head of its
    /// queue, keeping its original wait start, and is offered to the next seat at once.
    pub fn offer_failed(
        &mut self,
        call: CallKey,
        seat_id: &str,
        queue: &str,
        waiting_since_ms: i64,
        why: OfferFailure,
        now_ms: i64,
    ) -> Vec<Assignment> {
        let seat = self.seats.get(seat_id);
        if seat.is_some_and(|s| s.state == SeatState::Ringing { call }) {
            let pending = seat.and_then(|s| s.after_call);
            let next = match (pending, why) {
                (Some(AfterCall::NotReady { reason }), _) => SeatState::NotReady {
                    reason,
                    since_ms: now_ms,
                },
                (Some(AfterCall::Logout { held }), _) => {
                    self.logout(seat_id, held, now_ms);
                    SeatState::LoggedOut
                }
                (None, OfferFailure::NoAnswer) => SeatState::NotReady {
                    reason: Reason::Rona,
                    since_ms: now_ms,
                },
                (None, OfferFailure::Refused) => SeatState::Resting {
                    until_ms: now_ms + self.cfg.rest_ms,
                },
                (None, OfferFailure::Returned) => SeatState::Ready { since_ms: now_ms },
            };
            self.set_state(seat_id, next, now_ms);
            self.change(seat_id, now_ms, |s| {
                s.after_call = None;
                if why == OfferFailure::NoAnswer {
                    s.missed_offers += 1;
                }
            });
        }
        let still_ringing = self.offers.get(&call).is_some_and(|v| !v.is_empty());
        if why != OfferFailure::Returned && !still_ringing {
            self.requeue_front(call, queue, waiting_since_ms, now_ms)
        } else {
            self.assign(now_ms)
        }
    }

    /// A ring-all transfer to `queue`'s seats (a department group): every ready seat of it is offered to
    /// `call` at once and no queued call gets it meanwhile. [`Acd::seat_taken`] the one that answers,
    /// [`Acd::withdraw`] the rest.
    pub fn reserve(&mut self, call: CallKey, queue: &str, now_ms: i64) -> Vec<SeatId> {
        let name = self.queue_named(queue);
        let mut picked: Vec<SeatId> = self
            .queues
            .get(&name)
            .map(|q| q.free.iter().map(|(_, id)| id.clone()).collect())
            .unwrap_or_default();
        picked.sort_unstable();
        for id in &picked {
            self.set_state(id, SeatState::Ringing { call }, now_ms);
        }
        picked
    }

    /// A seat answered `call` outside the queue's own offers (a transfer): it talks with it.
    pub fn seat_taken(&mut self, call: CallKey, seat_id: &str, now_ms: i64) {
        if matches!(self.seats.get(seat_id), Some(s) if s.state != SeatState::LoggedOut) {
            self.set_state(seat_id, SeatState::Talking { call }, now_ms);
            if let Some(seat) = self.seats.get_mut(seat_id) {
                seat.missed_offers = 0;
            }
        }
    }

    /// The call comes back to the head of `queue` (its offer failed, or its transfer failed after the operator
    /// left), keeping its wait start.
    pub fn requeue_front(
        &mut self,
        call: CallKey,
        queue: &str,
        waiting_since_ms: i64,
        now_ms: i64,
    ) -> Vec<Assignment> {
        self.unqueue(call);
        let name = self.queue_named(queue);
        if let Some(q) = self.queues.get_mut(&name) {
            q.push_front(call, waiting_since_ms);
        }
        // Back where it was: the maximum wait it had there still runs (a new queue gets a new one).
        match self.deadline_of.get(&call) {
            Some(&d) => {
                self.due.insert((d, call));
                self.waiting_in.insert(call, name);
            }
            None => self.start_wait(call, name, now_ms),
        }
        self.assign(now_ms)
    }

    /// The seat's call ended: what the operator asked for meanwhile, else wrap-up, else ready.
    pub fn seat_released(&mut self, seat_id: &str, now_ms: i64) -> Vec<Assignment> {
        let Some(seat) = self.seats.get(seat_id) else {
            return Vec::new();
        };
        if seat.state == SeatState::LoggedOut {
            return self.assign(now_ms);
        }
        match seat.after_call {
            Some(AfterCall::Logout { held }) => self.logout(seat_id, held, now_ms),
            Some(AfterCall::NotReady { reason }) => {
                self.set_state(
                    seat_id,
                    SeatState::NotReady {
                        reason,
                        since_ms: now_ms,
                    },
                    now_ms,
                );
                self.change(seat_id, now_ms, |s| s.after_call = None);
            }
            None if !seat.registered => self.logout(seat_id, false, now_ms),
            None if self.cfg.wrap_up_ms > 0 => self.set_state(
                seat_id,
                SeatState::WrapUp {
                    until_ms: now_ms + self.cfg.wrap_up_ms,
                },
                now_ms,
            ),
            None => self.set_state(seat_id, SeatState::Ready { since_ms: now_ms }, now_ms),
        }
        self.assign(now_ms)
    }

    /// Advance time: wrap-ups and rests that ended make seats ready; restored seats that never registered
    /// again are logged out. Call it when [`Acd::next_wakeup`] says.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Assignment> {
        while let Some((until_ms, id)) = self.timed.first().cloned() {
            if until_ms > now_ms {
                break;
            }
            self.set_state(&id, SeatState::Ready { since_ms: until_ms }, now_ms);
        }
        while let Some((until_ms, id)) = self.grace.first().cloned() {
            if until_ms > now_ms {
                break;
            }
            self.logout(&id, false, now_ms);
        }
        // Seats first: a caller at its maximum wait still takes a seat that is free now.
        let mut got = self.assign(now_ms);
        while let Some(&(d, call)) = self.due.first() {
            if d > now_ms {
                break;
            }
            self.overflow(call, now_ms);
        }
        got.extend(self.assign(now_ms));
        got
    }

    /// The earliest time [`Acd::tick`] has something to do.
    pub fn next_wakeup(&self) -> Option<i64> {
        let a = self.timed.first().map(|(t, _)| *t);
        let b = self.grace.first().map(|(t, _)| *t);
        let c = self.due.first().map(|(t, _)| *t);
        a.into_iter().chain(b).chain(c).min()
    }

    /// Seats still ringing for `call` are ready again.
    fn free_offers(&mut self, call: CallKey, now_ms: i64) {
        for id in self.offers.remove(&call).unwrap_or_default() {
            if self.seats.get(&id).map(|s| s.state) == Some(SeatState::Ringing { call }) {
                self.set_state(&id, SeatState::Ready { since_ms: now_ms }, now_ms);
            }
        }
    }

    /// A state change.
    fn set_state(&mut self, id: &str, new: SeatState, now_ms: i64) {
        self.change(id, now_ms, |s| s.state = new);
    }

    /// The one place a seat changes: out of the indices as it was, `f`, back in as it is, and an event when
    /// something anyone can see changed.
    fn change(&mut self, id: &str, now_ms: i64, f: impl FnOnce(&mut Seat)) {
        let Some(seat) = self.seats.get_mut(id) else {
            return;
        };
        let before = (
            seat.state,
            seat.registered,
            seat.operator.clone(),
            seat.held_out,
            seat.grace_until,
        );
        unindex(
            seat,
            &mut self.queues,
            &mut self.offers,
            &mut self.timed,
            &mut self.grace,
        );
        f(seat);
        if seat.state != before.0 {
            seat.since_ms = now_ms;
        }
        // The skills in force decide the queues served; worked out only when they may have changed.
        let mut queues_changed = false;
        if seat.reskill || before.2 != seat.operator {
            seat.reskill = false;
            let skills = seat
                .operator
                .as_ref()
                .and_then(|op| self.operators.get(op))
                .map(|o| &o.skills)
                .filter(|s| !s.is_empty())
                .unwrap_or(&seat.skills);
            let served: Vec<Arc<str>> = self
                .queues
                .iter()
                .filter(|(_, q)| q.served_by(skills))
                .map(|(n, _)| n.clone())
                .collect();
            if *served != *seat.queues {
                seat.queues = Arc::from(served);
                queues_changed = true;
            }
        }
        index(
            seat,
            &mut self.queues,
            &mut self.offers,
            &mut self.timed,
            &mut self.grace,
        );
        let presence_changed = before.0.presence() != seat.state.presence()
            || before.2 != seat.operator
            || before.3 != seat.held_out;
        if presence_changed
            || queues_changed
            || before.0 != seat.state
            || before.1 != seat.registered
        {
            self.events.push(SeatEvent {
                seat: seat.id.clone(),
                operator: seat.operator.clone(),
                state: seat.state,
                registered: seat.registered,
                held_out: seat.held_out,
                queues: seat.queues.clone(),
                at_ms: now_ms,
                presence_changed,
            });
        }
    }

    /// Match waiting calls with free seats: among the queues that have both, the highest priority first, then
    /// the caller who has waited longest; the queue's strategy picks the seat(s). Costs the queues plus the
    /// seats it takes, never a scan of all seats or all callers: this runs on every event.
    fn assign(&mut self, now_ms: i64) -> Vec<Assignment> {
        let mut out = Vec::new();
        loop {
            let best = self
                .queues
                .iter()
                .filter_map(|(name, q)| {
                    q.head_if_servable()
                        .map(|since| (q.spec.priority, since, name))
                })
                .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
                .map(|(_, _, name)| name.clone());
            let Some(name) = best else { break };
            let Some(q) = self.queues.get_mut(&name) else {
                break;
            };
            let Some(w) = q.pop_front() else { break };
            let seats = q.pick();
            self.waiting_in.remove(&w.call);
            if let Some(&d) = self.deadline_of.get(&w.call) {
                self.due.remove(&(d, w.call));
            }
            let mut seats = seats.into_iter();
            let Some(first) = seats.next() else { break };
            let also: Vec<SeatId> = seats.collect();
            self.set_state(&first, SeatState::Ringing { call: w.call }, now_ms);
            for s in &also {
                self.set_state(s, SeatState::Ringing { call: w.call }, now_ms);
            }
            out.push(Assignment {
                call: w.call,
                seat: first,
                also,
                queue: name,
                waited_ms: now_ms - w.since_ms,
            });
        }
        out
    }

    /// Position (1-based) of a waiting call in its queue, for "N callers ahead of you" and the wallboard.
    pub fn position(&self, call: CallKey) -> Option<usize> {
        let q = self.queues.get(self.waiting_in.get(&call)?)?;
        q.position(call)
    }

    /// How long a waiting call may still wait: its position times the recent interval between answers in
    /// its queue (None before the queue has answered two calls).
    pub fn expected_wait_ms(&self, call: CallKey) -> Option<i64> {
        let q = self.queues.get(self.waiting_in.get(&call)?)?;
        Some(q.position(call)? as i64 * q.answer_interval_ms()?)
    }

    pub fn waiting_count(&self) -> usize {
        self.queues.values().map(Queue::waiting_len).sum()
    }

    /// Live view per queue for the wallboard and metrics (an on-demand view: it looks at every seat).
    pub fn snapshot(&self, now_ms: i64) -> Vec<QueueSnapshot> {
        let mut out: Vec<QueueSnapshot> = self
            .queues
            .iter()
            .map(|(name, q)| q.snapshot(name, now_ms))
            .collect();
        let at: HashMap<&str, usize> = self
            .queues
            .keys()
            .enumerate()
            .map(|(i, name)| (&**name, i))
            .collect();
        for s in self.seats.values() {
            for name in s.queues.iter() {
                if let Some(&i) = at.get(&**name) {
                    out[i].count_seat(s);
                }
            }
        }
        out
    }
}

/// Take a seat out of the indices its current state puts it in.
fn unindex(
    seat: &Seat,
    queues: &mut BTreeMap<Arc<str>, Queue>,
    offers: &mut HashMap<CallKey, Vec<SeatId>>,
    timed: &mut BTreeSet<(i64, SeatId)>,
    grace: &mut BTreeSet<(i64, SeatId)>,
) {
    match seat.state {
        SeatState::Ready { since_ms } if seat.registered => {
            for name in seat.queues.iter() {
                if let Some(q) = queues.get_mut(name) {
                    q.free_remove(since_ms, &seat.id);
                }
            }
        }
        SeatState::Ringing { call } => {
            if let Some(ids) = offers.get_mut(&call) {
                ids.retain(|s| *s != seat.id);
                if ids.is_empty() {
                    offers.remove(&call);
                }
            }
        }
        SeatState::WrapUp { until_ms } | SeatState::Resting { until_ms } => {
            timed.remove(&(until_ms, seat.id.clone()));
        }
        _ => {}
    }
    if let Some(t) = seat.grace_until {
        grace.remove(&(t, seat.id.clone()));
    }
}

/// Put a seat into the indices its current state asks for.
fn index(
    seat: &Seat,
    queues: &mut BTreeMap<Arc<str>, Queue>,
    offers: &mut HashMap<CallKey, Vec<SeatId>>,
    timed: &mut BTreeSet<(i64, SeatId)>,
    grace: &mut BTreeSet<(i64, SeatId)>,
) {
    match seat.state {
        SeatState::Ready { since_ms } if seat.registered => {
            for name in seat.queues.iter() {
                if let Some(q) = queues.get_mut(name) {
                    q.free_insert(since_ms, &seat.id);
                }
            }
        }
        SeatState::Ringing { call } => offers.entry(call).or_default().push(seat.id.clone()),
        SeatState::WrapUp { until_ms } | SeatState::Resting { until_ms } => {
            timed.insert((until_ms, seat.id.clone()));
        }
        _ => {}
    }
    if let (Some(t), false) = (seat.grace_until, seat.registered) {
        grace.insert((t, seat.id.clone()));
    }
}
