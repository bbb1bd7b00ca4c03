//! Automatic call distribution: seats, queues, who takes the next call, and the service level.
//!
//! Sans-IO and deterministic: every method takes `now_ms` and returns the assignments it made.
//! The daemon owns one `Acd` in one task; calls talk to it by message.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// A call waiting for (or talking to) a seat, as the daemon numbers it.
pub type CallKey = u64;

/// What an operator's seat is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum SeatState {
    /// Not registered: cannot take calls.
    Offline,
    /// Registered and idle since `since_ms` (longest idle is offered first).
    Available { since_ms: i64 },
    /// A call is ringing this seat.
    Offered { call: CallKey },
    /// On a call.
    Busy { call: CallKey },
    /// After-call work until `until_ms`.
    WrapUp { until_ms: i64 },
}

#[derive(Debug, Clone, Serialize)]
pub struct Seat {
    pub id: String,
    /// Queues this seat serves (skills).
    pub queues: Vec<String>,
    pub state: SeatState,
    /// Unanswered offers in a row; a seat that keeps not answering is paused by the daemon's policy.
    pub missed_offers: u32,
}

#[derive(Debug, Clone)]
struct Waiting {
    call: CallKey,
    queue: String,
    since_ms: i64,
}

/// A decision: ring `seat` for `call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub call: CallKey,
    pub seat: String,
    /// How long the call waited in the queue before this offer.
    pub waited_ms: i64,
}

/// Service-level counters per queue: calls answered within the threshold vs. all calls that ended their wait.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueueStats {
    pub offered: u64,
    pub answered: u64,
    pub answered_within_threshold: u64,
    pub abandoned: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueSnapshot {
    pub name: String,
    pub waiting: usize,
    pub longest_wait_ms: i64,
    pub seats_available: usize,
    pub seats_busy: usize,
    pub stats: QueueStats,
    /// Share of answered calls picked up within the threshold (None before any call ended its wait).
    pub service_level: Option<f64>,
}

/// Seats, queues and the distribution policy (longest-idle seat, first-come caller).
///
/// Every seat state change goes through [`Acd::set_state`], which keeps three indices true: the free seats
/// of each queue by idle time, the seats offered to each call, and the wrap-ups by end time. So an event
/// costs the seats it touches, not a scan of every seat (a 12345 centre has thousands at peak).
#[derive(Debug)]
pub struct Acd {
    seats: BTreeMap<String, Seat>,
    /// Available seats per queue, ordered by (idle since, id): the first is the longest idle.
    free: BTreeMap<String, BTreeSet<(i64, String)>>,
    /// Seats ringing (offered) for a call.
    offers: HashMap<CallKey, Vec<String>>,
    /// Seats in wrap-up, ordered by its end.
    wrapping: BTreeSet<(i64, String)>,
    waiting: VecDeque<Waiting>,
    stats: BTreeMap<String, QueueStats>,
    wrap_up_ms: i64,
    service_level_threshold_ms: i64,
}

impl Acd {
    /// `wrap_up_ms`: after-call work before a seat is offered again.
    /// `service_level_threshold_ms`: answer-time threshold of the service level (e.g. 20 s).
    pub fn new(wrap_up_ms: i64, service_level_threshold_ms: i64) -> Acd {
        Acd {
            seats: BTreeMap::new(),
            free: BTreeMap::new(),
            offers: HashMap::new(),
            wrapping: BTreeSet::new(),
            waiting: VecDeque::new(),
            stats: BTreeMap::new(),
            wrap_up_ms,
            service_level_threshold_ms,
        }
    }

    /// Declare a seat (from config). It starts offline until it registers.
    pub fn add_seat(&mut self, id: &str, queues: Vec<String>) {
        for q in &queues {
            self.stats.entry(q.clone()).or_default();
            self.free.entry(q.clone()).or_default();
        }
        // Declared again (a reload): out of the indices under its old queues first.
        self.set_state(id, SeatState::Offline);
        self.seats.insert(
            id.to_string(),
            Seat {
                id: id.to_string(),
                queues,
                state: SeatState::Offline,
                missed_offers: 0,
            },
        );
    }

    pub fn seat(&self, id: &str) -> Option<&Seat> {
        self.seats.get(id)
    }

    pub fn seats(&self) -> impl Iterator<Item = &Seat> {
        self.seats.values()
    }

    /// The seat registered (or refreshed its registration). Idle seats become available.
    pub fn seat_online(&mut self, id: &str, now_ms: i64) -> Vec<Assignment> {
        if self.state_of(id) == Some(SeatState::Offline) {
            self.set_state(id, SeatState::Available { since_ms: now_ms });
        }
        self.assign(now_ms)
    }

    /// The seat's last binding went away. A call it is on keeps going; it just gets no new offers.
    pub fn seat_offline(&mut self, id: &str) {
        if matches!(
            self.state_of(id),
            Some(SeatState::Available { .. } | SeatState::WrapUp { .. })
        ) {
            self.set_state(id, SeatState::Offline);
        }
    }

    /// A call joins `queue`. Returns assignments (possibly for this call at once).
    pub fn enqueue(&mut self, call: CallKey, queue: &str, now_ms: i64) -> Vec<Assignment> {
        self.stats.entry(queue.to_string()).or_default().offered += 1;
        self.waiting.push_back(Waiting {
            call,
            queue: queue.to_string(),
            since_ms: now_ms,
        });
        self.assign(now_ms)
    }

    /// The call left (caller hung up or cancelled) before a seat answered.
    /// If a seat was ringing for it, that seat becomes available again.
    /// Counted as abandoned in `queue` whether it was still waiting or already ringing a seat.
    pub fn abandon(&mut self, call: CallKey, queue: &str, now_ms: i64) -> Vec<Assignment> {
        if let Some(pos) = self.waiting.iter().position(|w| w.call == call) {
            self.waiting.remove(pos);
        }
        self.stats.entry(queue.to_string()).or_default().abandoned += 1;
        self.free_offers(call, now_ms);
        self.assign(now_ms)
    }

    /// The call is gone without a word (its task ended): forget it and free a seat ringing for it.
    /// Not counted as abandoned — the call already reported its own end.
    pub fn withdraw(&mut self, call: CallKey, now_ms: i64) -> Vec<Assignment> {
        self.waiting.retain(|w| w.call != call);
        self.free_offers(call, now_ms);
        self.assign(now_ms)
    }

    /// The offered seat answered: it is busy with the call.
    pub fn offer_answered(&mut self, call: CallKey, seat_id: &str, queue: &str, waited_ms: i64) {
        self.set_state(seat_id, SeatState::Busy { call });
        if let Some(seat) = self.seats.get_mut(seat_id) {
            seat.missed_offers = 0;
        }
        let threshold = self.service_level_threshold_ms;
        let stats = self.stats.entry(queue.to_string()).or_default();
        stats.answered += 1;
        if waited_ms <= threshold {
            stats.answered_within_threshold += 1;
        }
    }

    /// The offered seat did not answer (timeout, busy, error). The call goes back to the head of its queue,
    /// keeping its original wait start; the seat waits `retry_after_ms` before it is offered again.
    pub fn offer_failed(
        &mut self,
        call: CallKey,
        seat_id: &str,
        queue: &str,
        waiting_since_ms: i64,
        now_ms: i64,
        retry_after_ms: i64,
    ) -> Vec<Assignment> {
        if self.state_of(seat_id) == Some(SeatState::Offered { call }) {
            self.set_state(
                seat_id,
                SeatState::WrapUp {
                    until_ms: now_ms + retry_after_ms,
                },
            );
            if let Some(seat) = self.seats.get_mut(seat_id) {
                seat.missed_offers += 1;
            }
        }
        self.waiting.push_front(Waiting {
            call,
            queue: queue.to_string(),
            since_ms: waiting_since_ms,
        });
        self.assign(now_ms)
    }

    /// A ring-all transfer to `queue`'s seats (a department group): every available seat of it is offered to
    /// `call` at once and no queued call gets it meanwhile. [`Acd::seat_taken`] the one that answers,
    /// [`Acd::withdraw`] the rest.
    pub fn reserve(&mut self, call: CallKey, queue: &str) -> Vec<String> {
        let mut picked: Vec<String> = self
            .free
            .get(queue)
            .map(|set| set.iter().map(|(_, id)| id.clone()).collect())
            .unwrap_or_default();
        picked.sort_unstable();
        for id in &picked {
            self.set_state(id, SeatState::Offered { call });
        }
        picked
    }

    /// A seat answered `call` outside the queue's own offers (a transfer): it is busy with it.
    pub fn seat_taken(&mut self, call: CallKey, seat_id: &str) {
        if matches!(self.state_of(seat_id), Some(s) if s != SeatState::Offline) {
            self.set_state(seat_id, SeatState::Busy { call });
            if let Some(seat) = self.seats.get_mut(seat_id) {
                seat.missed_offers = 0;
            }
        }
    }

    /// The call comes back to `queue` without a seat to blame (its transfer failed after the operator left):
    /// first in line, keeping its wait start. Not offered again in the statistics.
    pub fn requeue_front(
        &mut self,
        call: CallKey,
        queue: &str,
        waiting_since_ms: i64,
        now_ms: i64,
    ) -> Vec<Assignment> {
        self.waiting.retain(|w| w.call != call);
        self.waiting.push_front(Waiting {
            call,
            queue: queue.to_string(),
            since_ms: waiting_since_ms,
        });
        self.assign(now_ms)
    }

    /// The seat's call ended; after wrap-up it is available again.
    pub fn seat_released(&mut self, seat_id: &str, now_ms: i64) -> Vec<Assignment> {
        let wrap = self.wrap_up_ms;
        if matches!(self.state_of(seat_id), Some(s) if s != SeatState::Offline) {
            let next = if wrap > 0 {
                SeatState::WrapUp {
                    until_ms: now_ms + wrap,
                }
            } else {
                SeatState::Available { since_ms: now_ms }
            };
            self.set_state(seat_id, next);
        }
        self.assign(now_ms)
    }

    /// Advance time: wrap-ups that ended make seats available. Call it when `next_wakeup` says.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Assignment> {
        while let Some((until_ms, id)) = self.wrapping.first().cloned() {
            if until_ms > now_ms {
                break;
            }
            self.set_state(&id, SeatState::Available { since_ms: until_ms });
        }
        self.assign(now_ms)
    }

    /// The earliest time a wrap-up ends, if any.
    pub fn next_wakeup(&self) -> Option<i64> {
        self.wrapping.first().map(|(until_ms, _)| *until_ms)
    }

    fn state_of(&self, id: &str) -> Option<SeatState> {
        self.seats.get(id).map(|s| s.state)
    }

    /// Seats still ringing for `call` are available again.
    fn free_offers(&mut self, call: CallKey, now_ms: i64) {
        for id in self.offers.remove(&call).unwrap_or_default() {
            if self.state_of(&id) == Some(SeatState::Offered { call }) {
                self.set_state(&id, SeatState::Available { since_ms: now_ms });
            }
        }
    }

    /// The one place a seat's state changes: the indices follow it.
    fn set_state(&mut self, id: &str, new: SeatState) {
        let Some(seat) = self.seats.get_mut(id) else {
            return;
        };
        let old = std::mem::replace(&mut seat.state, new);
        if old == new {
            return;
        }
        match old {
            SeatState::Available { since_ms } => {
                let key = (since_ms, seat.id.clone());
                for q in &seat.queues {
                    if let Some(set) = self.free.get_mut(q) {
                        set.remove(&key);
                    }
                }
            }
            SeatState::Offered { call } => {
                if let Some(ids) = self.offers.get_mut(&call) {
                    ids.retain(|s| s != id);
                    if ids.is_empty() {
                        self.offers.remove(&call);
                    }
                }
            }
            SeatState::WrapUp { until_ms } => {
                self.wrapping.remove(&(until_ms, seat.id.clone()));
            }
            SeatState::Offline | SeatState::Busy { .. } => {}
        }
        match new {
            SeatState::Available { since_ms } => {
                for q in &seat.queues {
                    self.free
                        .entry(q.clone())
                        .or_default()
                        .insert((since_ms, seat.id.clone()));
                }
            }
            SeatState::Offered { call } => {
                self.offers.entry(call).or_default().push(seat.id.clone())
            }
            SeatState::WrapUp { until_ms } => {
                self.wrapping.insert((until_ms, seat.id.clone()));
            }
            SeatState::Offline | SeatState::Busy { .. } => {}
        }
    }

    /// Match waiting calls (first come first served) with the longest-idle seat of their queue.
    /// Costs the waiting calls it looks at plus the seats it takes, never a scan of all seats: this runs on
    /// every event.
    fn assign(&mut self, now_ms: i64) -> Vec<Assignment> {
        let mut out = Vec::new();
        if self.waiting.is_empty() || self.free.values().all(BTreeSet::is_empty) {
            return out;
        }
        let mut kept = VecDeque::with_capacity(self.waiting.len());
        let waiting = std::mem::take(&mut self.waiting);
        for w in waiting {
            let seat = self
                .free
                .get(w.queue.as_str())
                .and_then(|set| set.first())
                .map(|(_, id)| id.clone());
            match seat {
                Some(id) => {
                    self.set_state(&id, SeatState::Offered { call: w.call });
                    out.push(Assignment {
                        call: w.call,
                        seat: id,
                        waited_ms: now_ms - w.since_ms,
                    });
                }
                None => kept.push_back(w),
            }
        }
        self.waiting = kept;
        out
    }

    /// Position (1-based) of a call in the waiting list, for "you are caller number N" prompts and the wallboard.
    pub fn position(&self, call: CallKey) -> Option<usize> {
        self.waiting
            .iter()
            .position(|w| w.call == call)
            .map(|p| p + 1)
    }

    pub fn waiting_count(&self) -> usize {
        self.waiting.len()
    }

    /// Live view per queue for the wallboard and metrics.
    pub fn snapshot(&self, now_ms: i64) -> Vec<QueueSnapshot> {
        self.stats
            .iter()
            .map(|(name, stats)| {
                let waiting: Vec<&Waiting> =
                    self.waiting.iter().filter(|w| &w.queue == name).collect();
                let serving = self
                    .seats
                    .values()
                    .filter(|s| s.queues.iter().any(|q| q == name));
                let (mut avail, mut busy) = (0, 0);
                for s in serving {
                    match s.state {
                        SeatState::Available { .. } => avail += 1,
                        SeatState::Offered { .. } | SeatState::Busy { .. } => busy += 1,
                        _ => {}
                    }
                }
                let ended = stats.answered + stats.abandoned;
                QueueSnapshot {
                    name: name.clone(),
                    waiting: waiting.len(),
                    longest_wait_ms: waiting
                        .iter()
                        .map(|w| now_ms - w.since_ms)
                        .max()
                        .unwrap_or(0),
                    seats_available: avail,
                    seats_busy: busy,
                    stats: stats.clone(),
                    service_level: (ended > 0)
                        .then(|| stats.answered_within_threshold as f64 / ended as f64),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acd() -> Acd {
        let mut a = Acd::new(0, 20_000);
        a.add_seat("1001", vec!["main".into()]);
        a.add_seat("1002", vec!["main".into()]);
        a.add_seat("2001", vec!["tax".into()]);
        a
    }

    #[test]
    fn a_ring_all_transfer_reserves_the_groups_free_seats_until_one_answers() {
        let mut a = acd();
        a.seat_online("1001", 0);
        a.seat_online("1002", 0);
        a.seat_online("2001", 0);
        assert_eq!(
            a.reserve(7, "main"),
            vec!["1001".to_string(), "1002".to_string()]
        );
        // Reserved seats are not offered to a queued call.
        assert!(a.enqueue(8, "main", 10).is_empty());
        a.seat_taken(7, "1002");
        assert_eq!(
            a.seat("1002").map(|s| s.state),
            Some(SeatState::Busy { call: 7 })
        );
        // The rest goes back, and the waiting call gets it at once.
        let got = a.withdraw(7, 20);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].call, got[0].seat.as_str()), (8, "1001"));
    }

    #[test]
    fn a_call_whose_transfer_failed_is_back_first_in_line() {
        let mut a = acd();
        a.enqueue(1, "main", 100);
        a.enqueue(2, "main", 200);
        assert!(
            a.requeue_front(9, "main", 5, 300).is_empty(),
            "no seat online"
        );
        assert_eq!(a.position(9), Some(1));
        let got = a.seat_online("1001", 400);
        assert_eq!((got[0].call, got[0].seat.as_str()), (9, "1001"));
        assert_eq!(a.waiting_count(), 2, "1 and 2 still wait");
    }

    #[test]
    fn offline_seats_get_no_calls() {
        let mut a = acd();
        assert!(a.enqueue(1, "main", 0).is_empty());
        assert_eq!(a.position(1), Some(1));
        let got = a.seat_online("1001", 5_000);
        assert_eq!(
            got,
            vec![Assignment {
                call: 1,
                seat: "1001".into(),
                waited_ms: 5_000
            }]
        );
        assert_eq!(a.position(1), None);
    }

    #[test]
    fn longest_idle_seat_first_and_fifo_callers() {
        let mut a = acd();
        a.seat_online("1002", 0);
        a.seat_online("1001", 10);
        let first = a.enqueue(7, "main", 100);
        assert_eq!(first[0].seat, "1002");
        let second = a.enqueue(8, "main", 110);
        assert_eq!(second[0].seat, "1001");
        assert!(a.enqueue(9, "main", 120).is_empty());
        assert!(a.enqueue(10, "main", 130).is_empty());
        a.offer_answered(7, "1002", "main", 0);
        let next = a.seat_released("1002", 1_000);
        assert_eq!(next[0].call, 9, "first come, first served");
    }

    #[test]
    fn queues_are_separate() {
        let mut a = acd();
        a.seat_online("2001", 0);
        assert!(a.enqueue(1, "main", 0).is_empty());
        assert_eq!(a.enqueue(2, "tax", 0)[0].seat, "2001");
    }

    #[test]
    fn failed_offer_requeues_at_head_and_rests_the_seat() {
        let mut a = acd();
        a.seat_online("1001", 0);
        assert_eq!(a.enqueue(1, "main", 0)[0].seat, "1001");
        a.enqueue(2, "main", 10);
        let again = a.offer_failed(1, "1001", "main", 0, 15_000, 5_000);
        assert!(again.is_empty(), "seat rests before the next offer");
        assert_eq!(a.position(1), Some(1));
        assert_eq!(a.next_wakeup(), Some(20_000));
        let got = a.tick(20_000);
        assert_eq!(got[0].call, 1);
        assert_eq!(got[0].waited_ms, 20_000);
        assert_eq!(a.seat("1001").map(|s| s.missed_offers), Some(1));
    }

    #[test]
    fn abandon_frees_a_ringing_seat_and_counts() {
        let mut a = acd();
        a.seat_online("1001", 0);
        a.enqueue(1, "main", 0);
        a.enqueue(2, "main", 0);
        let got = a.abandon(1, "main", 3_000);
        assert_eq!(got[0].call, 2, "the freed seat goes to the next caller");
        let snap = a.snapshot(3_000);
        let main = snap
            .iter()
            .find(|q| q.name == "main")
            .map(|q| q.stats.clone());
        assert_eq!(
            main.map(|s| s.abandoned),
            Some(1),
            "abandoned while ringing still counts"
        );
    }

    #[test]
    fn service_level_counts_answers_within_threshold() {
        let mut a = acd();
        a.seat_online("1001", 0);
        a.enqueue(1, "main", 0);
        a.offer_answered(1, "1001", "main", 5_000);
        a.enqueue(2, "main", 0);
        a.enqueue(3, "main", 0);
        a.abandon(3, "main", 1_000);
        a.seat_released("1001", 30_000);
        a.offer_answered(2, "1001", "main", 30_000);
        let snap = a.snapshot(30_000);
        let main = snap.iter().find(|q| q.name == "main").cloned();
        let main = main.map(|q| (q.stats.answered, q.stats.abandoned, q.service_level));
        assert_eq!(main, Some((2, 1, Some(1.0 / 3.0))));
    }

    #[test]
    fn a_seat_in_two_queues_takes_one_call_and_order_is_kept() {
        let mut a = Acd::new(0, 20_000);
        a.add_seat("3001", vec!["tax".into(), "main".into()]);
        a.enqueue(1, "main", 0);
        a.enqueue(2, "tax", 10);
        let got = a.seat_online("3001", 100);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].call, 1,
            "the earlier caller first, whatever its queue"
        );
        assert_eq!(a.position(2), Some(1));
    }

    #[test]
    fn withdraw_frees_the_seat_without_counting() {
        let mut a = acd();
        a.seat_online("1001", 0);
        a.enqueue(1, "main", 0);
        a.enqueue(2, "main", 0);
        assert_eq!(a.withdraw(1, 10)[0].call, 2);
        let snap = a.snapshot(10);
        assert!(snap
            .iter()
            .all(|q| q.stats.abandoned == 0 && !q.name.is_empty()));
    }

    #[test]
    fn wrap_up_delays_next_offer() {
        let mut a = Acd::new(10_000, 20_000);
        a.add_seat("1001", vec!["main".into()]);
        a.seat_online("1001", 0);
        a.enqueue(1, "main", 0);
        a.offer_answered(1, "1001", "main", 0);
        assert!(a.seat_released("1001", 100).is_empty());
        a.enqueue(2, "main", 200);
        assert!(a.tick(5_000).is_empty());
        assert_eq!(a.tick(10_100)[0].call, 2);
    }

    /// Free (queue, since, seat), offers (call, seat), wrap-ups (until, seat).
    type Indices = (
        Vec<(String, i64, String)>,
        Vec<(CallKey, String)>,
        Vec<(i64, String)>,
    );

    /// The indices recomputed from the seats' states.
    fn indices_from_states(a: &Acd) -> Indices {
        let (mut free, mut offers, mut wrapping) = (Vec::new(), Vec::new(), Vec::new());
        for s in a.seats.values() {
            match s.state {
                SeatState::Available { since_ms } => {
                    for q in &s.queues {
                        free.push((q.clone(), since_ms, s.id.clone()));
                    }
                }
                SeatState::Offered { call } => offers.push((call, s.id.clone())),
                SeatState::WrapUp { until_ms } => wrapping.push((until_ms, s.id.clone())),
                _ => {}
            }
        }
        free.sort();
        offers.sort();
        wrapping.sort();
        (free, offers, wrapping)
    }

    fn indices_kept(a: &Acd) -> Indices {
        let mut free: Vec<_> = a
            .free
            .iter()
            .flat_map(|(q, set)| set.iter().map(move |(t, id)| (q.clone(), *t, id.clone())))
            .collect();
        let mut offers: Vec<_> = a
            .offers
            .iter()
            .flat_map(|(c, ids)| ids.iter().map(move |id| (*c, id.clone())))
            .collect();
        free.sort();
        offers.sort();
        (free, offers, a.wrapping.iter().cloned().collect())
    }

    proptest::proptest! {
        /// Whatever happens, the indices say what the seats' states say, and no seat is offered twice.
        #[test]
        fn the_indices_follow_every_state_change(ops in proptest::collection::vec((0u8..10, 0u64..6, 0usize..5), 1..200)) {
            let mut a = Acd::new(500, 20_000);
            let ids = ["1001", "1002", "1003", "2001", "2002"];
            a.add_seat("1001", vec!["main".into()]);
            a.add_seat("1002", vec!["main".into()]);
            a.add_seat("1003", vec!["main".into(), "tax".into()]);
            a.add_seat("2001", vec!["tax".into()]);
            a.add_seat("2002", vec!["tax".into(), "ybj".into()]);
            let queues = ["main", "tax", "ybj"];
            let mut now = 0i64;
            for (op, call, n) in ops {
                now += 100;
                let seat = ids[n];
                let queue = queues[n % 3];
                let got = match op {
                    0 => a.seat_online(seat, now),
                    1 => { a.seat_offline(seat); Vec::new() }
                    2 => a.enqueue(call, queue, now),
                    3 => a.abandon(call, queue, now),
                    4 => a.withdraw(call, now),
                    5 => { a.offer_answered(call, seat, queue, 10); Vec::new() }
                    6 => a.offer_failed(call, seat, queue, now - 50, now, 300),
                    7 => { a.reserve(call, queue); Vec::new() }
                    8 => a.seat_released(seat, now),
                    _ => a.tick(now),
                };
                for g in &got {
                    proptest::prop_assert_eq!(a.seat(&g.seat).map(|s| s.state), Some(SeatState::Offered { call: g.call }));
                }
                proptest::prop_assert_eq!(indices_kept(&a), indices_from_states(&a));
            }
        }
    }
}
