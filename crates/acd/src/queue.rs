//! A queue: its spec (skills, strategy, priority), its waiting callers and its free seats in the order its
//! strategy offers them.

use crate::{CallKey, Seat, SeatId, SeatState};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

/// Which free seat a queue's next caller rings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The seat idle the longest (fair to operators; the usual choice).
    #[default]
    LongestIdle,
    /// The next seat by id after the one offered last, wrapping around.
    RoundRobin,
    /// Every free seat at once; the first to answer takes the call (small expert groups).
    RingAll,
}

/// Where a caller goes when its queue's maximum wait runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overflow {
    /// Another queue (its own maximum wait then starts).
    Queue(String),
    /// "Leave your number": a prompt, the end of the call, a call-back ticket.
    Callback,
}

/// How a queue distributes, and how long a caller may wait in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: String,
    /// A seat serves the queue when its skills in force include all of these; empty: the queue's own name.
    pub skills: Vec<String>,
    pub strategy: Strategy,
    /// When a seat serves several queues with callers waiting, the higher priority is served first.
    pub priority: i32,
    /// None: a caller waits until answered (or until it hangs up).
    pub max_wait_ms: Option<i64>,
    pub overflow: Overflow,
}

impl QueueSpec {
    /// A queue served by seats with the skill of its name, longest idle first, priority 0, no maximum wait.
    pub fn named(name: &str) -> QueueSpec {
        QueueSpec {
            name: name.to_string(),
            skills: Vec::new(),
            strategy: Strategy::LongestIdle,
            priority: 0,
            max_wait_ms: None,
            overflow: Overflow::Callback,
        }
    }
}

/// Overflow targets must be queues of `specs`, and following them must end (in a queue without a maximum
/// wait, or in the call-back list): a cycle would pass a caller around for ever.
pub fn check_overflow(specs: &[QueueSpec]) -> Result<(), String> {
    let by_name = |n: &str| specs.iter().find(|s| s.name == n);
    for s in specs {
        let mut seen = vec![s.name.as_str()];
        let mut at = s;
        while let (Some(_), Overflow::Queue(next)) = (at.max_wait_ms, &at.overflow) {
            let Some(n) = by_name(next) else {
                return Err(format!(
                    "queue {:?} overflows to {next:?}, which is not a queue",
                    at.name
                ));
            };
            if seen.contains(&next.as_str()) {
                seen.push(next);
                return Err(format!(
                    "queue overflow goes round in a circle: {}",
                    seen.join(" → ")
                ));
            }
            seen.push(next);
            at = n;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Waiting {
    pub call: CallKey,
    pub since_ms: i64,
}

#[derive(Debug)]
pub(crate) struct Queue {
    pub spec: QueueSpec,
    skills: Vec<Arc<str>>,
    waiting: VecDeque<Waiting>,
    /// Ready, registered seats serving this queue, by (order key, id): the first is offered first. The key is
    /// the idle start for longest idle, 0 (so by id) otherwise.
    pub free: BTreeSet<(i64, SeatId)>,
    last_offered: Option<SeatId>,
    last_answer_ms: Option<i64>,
    /// Recent interval between two answers (moving average), for expected-wait announcements.
    answer_interval_ms: Option<i64>,
}

impl Queue {
    pub fn new(spec: QueueSpec) -> Queue {
        let skills = if spec.skills.is_empty() {
            vec![Arc::from(spec.name.as_str())]
        } else {
            spec.skills.iter().map(|s| Arc::from(s.as_str())).collect()
        };
        Queue {
            spec,
            skills,
            waiting: VecDeque::new(),
            free: BTreeSet::new(),
            last_offered: None,
            last_answer_ms: None,
            answer_interval_ms: None,
        }
    }

    /// Keep the callers of the queue this one replaces (a redeclaration).
    pub fn take_waiting(&mut self, old: Queue) {
        self.waiting = old.waiting;
    }

    pub fn served_by(&self, skills: &[Arc<str>]) -> bool {
        self.skills.iter().all(|s| skills.contains(s))
    }

    fn key(&self, since_ms: i64) -> i64 {
        match self.spec.strategy {
            Strategy::LongestIdle => since_ms,
            Strategy::RoundRobin | Strategy::RingAll => 0,
        }
    }

    pub fn free_insert(&mut self, since_ms: i64, id: &SeatId) {
        self.free.insert((self.key(since_ms), id.clone()));
    }

    pub fn free_remove(&mut self, since_ms: i64, id: &SeatId) {
        self.free.remove(&(self.key(since_ms), id.clone()));
    }

    pub fn push_back(&mut self, call: CallKey, since_ms: i64) {
        self.waiting.push_back(Waiting { call, since_ms });
    }

    pub fn push_front(&mut self, call: CallKey, since_ms: i64) {
        self.waiting.push_front(Waiting { call, since_ms });
    }

    pub fn remove(&mut self, call: CallKey) {
        if let Some(i) = self.waiting.iter().position(|w| w.call == call) {
            self.waiting.remove(i);
        }
    }

    pub fn take(&mut self, call: CallKey) -> Option<Waiting> {
        let i = self.waiting.iter().position(|w| w.call == call)?;
        self.waiting.remove(i)
    }

    pub fn pop_front(&mut self) -> Option<Waiting> {
        self.waiting.pop_front()
    }

    /// The head caller's wait start, when there is one and a seat free for it.
    pub fn head_if_servable(&self) -> Option<i64> {
        if self.free.is_empty() {
            return None;
        }
        self.waiting.front().map(|w| w.since_ms)
    }

    /// The seat(s) the strategy rings next (the caller sets them ringing, which takes them out of `free`).
    pub fn pick(&mut self) -> Vec<SeatId> {
        match self.spec.strategy {
            Strategy::LongestIdle => self
                .free
                .first()
                .map(|(_, id)| id.clone())
                .into_iter()
                .collect(),
            Strategy::RoundRobin => {
                let after = self
                    .last_offered
                    .as_ref()
                    .and_then(|last| {
                        self.free
                            .range((0, last.clone())..)
                            .find(|(_, id)| id != last)
                    })
                    .or_else(|| self.free.first())
                    .map(|(_, id)| id.clone());
                self.last_offered = after.clone();
                after.into_iter().collect()
            }
            Strategy::RingAll => self.free.iter().map(|(_, id)| id.clone()).collect(),
        }
    }

    pub fn note_answer(&mut self, now_ms: i64) {
        if let Some(last) = self.last_answer_ms {
            let gap = (now_ms - last).max(0);
            // Like Asterisk's holdtime: three parts old, one part new.
            self.answer_interval_ms = Some(match self.answer_interval_ms {
                Some(avg) => (3 * avg + gap) / 4,
                None => gap,
            });
        }
        self.last_answer_ms = Some(now_ms);
    }

    pub fn answer_interval_ms(&self) -> Option<i64> {
        self.answer_interval_ms
    }

    pub fn position(&self, call: CallKey) -> Option<usize> {
        self.waiting
            .iter()
            .position(|w| w.call == call)
            .map(|p| p + 1)
    }

    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    pub fn snapshot(&self, name: &str, now_ms: i64) -> QueueSnapshot {
        QueueSnapshot {
            name: name.to_string(),
            strategy: self.spec.strategy,
            priority: self.spec.priority,
            skills: self.skills.iter().map(|s| s.to_string()).collect(),
            waiting: self.waiting.len(),
            longest_wait_ms: self
                .waiting
                .iter()
                .map(|w| now_ms - w.since_ms)
                .max()
                .unwrap_or(0),
            seats: SeatCounts::default(),
        }
    }
}

/// Seats of a queue by state (a seat serving two queues counts in both).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SeatCounts {
    /// Logged in, whatever they are doing.
    pub logged_in: usize,
    pub ready: usize,
    pub ringing: usize,
    pub talking: usize,
    pub wrap_up: usize,
    pub resting: usize,
    pub not_ready: usize,
    /// Logged in but the softphone is not registered (after a restart, until it registers again).
    pub unregistered: usize,
}

/// A queue as the wallboard shows it live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueSnapshot {
    pub name: String,
    pub strategy: Strategy,
    pub priority: i32,
    pub skills: Vec<String>,
    pub waiting: usize,
    /// The longest current wait (callers still waiting).
    pub longest_wait_ms: i64,
    pub seats: SeatCounts,
}

impl QueueSnapshot {
    pub(crate) fn count_seat(&mut self, s: &Seat) {
        let c = &mut self.seats;
        if s.state == SeatState::LoggedOut {
            return;
        }
        c.logged_in += 1;
        if !s.registered {
            c.unregistered += 1;
        }
        match s.state {
            SeatState::Ready { .. } => c.ready += 1,
            SeatState::Ringing { .. } => c.ringing += 1,
            SeatState::Talking { .. } => c.talking += 1,
            SeatState::WrapUp { .. } => c.wrap_up += 1,
            SeatState::Resting { .. } => c.resting += 1,
            SeatState::NotReady { .. } => c.not_ready += 1,
            SeatState::LoggedOut => {}
        }
    }
}
