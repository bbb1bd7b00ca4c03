//! The service level of the queues (R-13: a 24-hour answer rate of at least 95%), computed by pure functions
//! over the queue visits of the call records, so the counting rules are tested alone and a figure is the same
//! whether it comes from the records just written or from the database after a restart.
//!
//! Rules, per queue, over the visits that *entered* it in the window:
//! - `offered`: every visit (a caller moved on by a maximum wait is offered to both queues);
//! - `answered`: a seat of the queue answered; `answered_within_threshold`: and the wait in the queue was at
//!   most the threshold (**inclusive**: 20.0 s against 20 s is within);
//! - `abandoned`: the caller hung up waiting (or while a seat rang) after more than the short-abandon window;
//!   `short_abandoned`: within it (wrong numbers, second thoughts): counted, but in no rate;
//! - `overflowed`: moved on to another queue (counted there); `callbacks`: ended by the maximum wait with a
//!   call-back promise (a loss for the rates); `ended`: a failure while waiting (in no rate);
//! - `service_level = answered_within_threshold / (answered + abandoned + callbacks)`;
//!   `answer_rate = answered / (answered + abandoned + callbacks)`; both `null` with no such call;
//! - `asa_ms` = mean wait of the answered visits; `aht_ms` = mean talk time (answer to hang-up) of the
//!   answered visits (the wrap-up after the call is not in the record);
//! - `overall` counts each *call* once, from its first queue to its last: the center's answer rate (接通率).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::record::{CallRecord, QueueVisit, VisitOutcome};

/// The thresholds of one queue, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub threshold_ms: i64,
    pub short_abandon_ms: i64,
}

/// One visit, with what the service level needs of its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitFacts {
    pub queue: String,
    pub entered_at_ms: i64,
    pub left_at_ms: i64,
    pub outcome: VisitOutcome,
    /// Answer to hang-up, for the visit that was answered.
    pub talk_ms: Option<i64>,
}

impl VisitFacts {
    fn wait_ms(&self) -> i64 {
        self.left_at_ms - self.entered_at_ms
    }
}

/// A call's visits as facts (the answered one carries the call's talk time).
pub fn visits_of(rec: &CallRecord) -> Vec<VisitFacts> {
    rec.queue_visits
        .iter()
        .map(|v| facts(v, rec.answered_at_ms, rec.ended_at_ms))
        .collect()
}

pub(crate) fn facts(v: &QueueVisit, answered_at_ms: Option<i64>, ended_at_ms: i64) -> VisitFacts {
    VisitFacts {
        queue: v.queue.clone(),
        entered_at_ms: v.entered_at_ms,
        left_at_ms: v.left_at_ms,
        outcome: v.outcome,
        talk_ms: match (v.outcome, answered_at_ms) {
            (VisitOutcome::Answered, Some(a)) => Some((ended_at_ms - a).max(0)),
            _ => None,
        },
    }
}

/// A call seen whole: from its first queue to how its last visit ended (None for a call with no visit).
pub fn whole_call(visits: &[VisitFacts]) -> Option<VisitFacts> {
    let (first, last) = (visits.first()?, visits.last()?);
    Some(VisitFacts {
        queue: String::new(),
        entered_at_ms: first.entered_at_ms,
        left_at_ms: last.left_at_ms,
        outcome: last.outcome,
        talk_ms: last.talk_ms,
    })
}

/// Counts that add up (over visits, over time buckets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub offered: u64,
    pub answered: u64,
    pub answered_within_threshold: u64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub overflowed: u64,
    pub callbacks: u64,
    pub ended: u64,
    /// Sum of the answered visits' waits.
    pub answered_wait_ms: i64,
    /// Sum of the answered visits' talk times, and how many had one.
    pub talk_ms: i64,
    pub talked: u64,
    /// Sum of the waits of every visit but failures (short abandons too): the time callers were at risk of
    /// giving up, for the patience estimate of Erlang A.
    pub exposed_wait_ms: i64,
}

impl Tally {
    pub fn add(&mut self, v: &VisitFacts, rules: Rules) {
        self.offered += 1;
        let wait = v.wait_ms().max(0);
        match v.outcome {
            VisitOutcome::Answered => {
                self.answered += 1;
                self.answered_wait_ms += wait;
                self.exposed_wait_ms += wait;
                if wait <= rules.threshold_ms {
                    self.answered_within_threshold += 1;
                }
                if let Some(t) = v.talk_ms {
                    self.talk_ms += t;
                    self.talked += 1;
                }
            }
            VisitOutcome::Abandoned => {
                self.exposed_wait_ms += wait;
                if wait <= rules.short_abandon_ms {
                    self.short_abandoned += 1;
                } else {
                    self.abandoned += 1;
                }
            }
            // Moved on still patient: their wait counts as time at risk (censored), not as an abandon.
            VisitOutcome::Overflowed => {
                self.overflowed += 1;
                self.exposed_wait_ms += wait;
            }
            VisitOutcome::Callback => {
                self.callbacks += 1;
                self.exposed_wait_ms += wait;
            }
            VisitOutcome::Ended => self.ended += 1,
        }
    }

    pub fn merge(&mut self, o: &Tally) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.answered_within_threshold += o.answered_within_threshold;
        self.abandoned += o.abandoned;
        self.short_abandoned += o.short_abandoned;
        self.overflowed += o.overflowed;
        self.callbacks += o.callbacks;
        self.ended += o.ended;
        self.answered_wait_ms += o.answered_wait_ms;
        self.talk_ms += o.talk_ms;
        self.talked += o.talked;
        self.exposed_wait_ms += o.exposed_wait_ms;
    }

    /// Calls that count in the rates.
    pub fn counted(&self) -> u64 {
        self.answered + self.abandoned + self.callbacks
    }

    pub fn figures(&self, rules: Rules) -> Figures {
        let counted = self.counted();
        let ratio = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
        Figures {
            tally: *self,
            service_level: ratio(self.answered_within_threshold, counted),
            answer_rate: ratio(self.answered, counted),
            asa_ms: (self.answered > 0)
                .then(|| self.answered_wait_ms as f64 / self.answered as f64),
            aht_ms: (self.talked > 0).then(|| self.talk_ms as f64 / self.talked as f64),
            threshold_ms: rules.threshold_ms,
            short_abandon_ms: rules.short_abandon_ms,
        }
    }
}

/// The figures of one queue (or of the center).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    #[serde(flatten)]
    pub tally: Tally,
    pub service_level: Option<f64>,
    pub answer_rate: Option<f64>,
    pub asa_ms: Option<f64>,
    pub aht_ms: Option<f64>,
    pub threshold_ms: i64,
    pub short_abandon_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueFigures {
    pub queue: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// The answer of `GET /api/stats/queues`, and what the wallboard shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueReport {
    pub from_ms: i64,
    pub to_ms: i64,
    pub queues: Vec<QueueFigures>,
    /// Each call once (from its first queue): the center's answer rate.
    pub overall: Figures,
}

/// Adds calls (all visits of one call at a time) into per-queue and whole-call tallies.
#[derive(Debug, Clone, Default)]
pub struct Aggregator {
    queues: BTreeMap<String, Tally>,
    overall: Tally,
}

impl Aggregator {
    /// Add one call's visits that entered in `[from, to)`; the call counts in `overall` when its first visit
    /// did.
    pub fn add_call(
        &mut self,
        visits: &[VisitFacts],
        from_ms: i64,
        to_ms: i64,
        rules: &dyn Fn(&str) -> Rules,
        center: Rules,
    ) {
        let inside = |t: i64| t >= from_ms && t < to_ms;
        for v in visits.iter().filter(|v| inside(v.entered_at_ms)) {
            self.queues
                .entry(v.queue.clone())
                .or_default()
                .add(v, rules(&v.queue));
        }
        if let Some(w) = whole_call(visits).filter(|w| inside(w.entered_at_ms)) {
            self.overall.add(&w, center);
        }
    }

    pub fn report(
        &self,
        from_ms: i64,
        to_ms: i64,
        rules: &dyn Fn(&str) -> Rules,
        center: Rules,
    ) -> QueueReport {
        QueueReport {
            from_ms,
            to_ms,
            queues: self
                .queues
                .iter()
                .map(|(q, t)| QueueFigures {
                    queue: q.clone(),
                    figures: t.figures(rules(q)),
                })
                .collect(),
            overall: self.overall.figures(center),
        }
    }
}

/// The live figures over a sliding window (the last 24 h), in one-minute buckets by entry time. Seeded from
/// the stored records at start and fed every record as it is written, so a restart changes nothing.
#[derive(Debug, Clone)]
pub struct Rolling {
    window_ms: i64,
    bucket_ms: i64,
    /// (bucket start, per-queue tallies, whole-call tally), oldest first.
    buckets: std::collections::VecDeque<(i64, BTreeMap<String, Tally>, Tally)>,
}

impl Rolling {
    pub fn new(window_ms: i64, bucket_ms: i64) -> Rolling {
        Rolling {
            window_ms,
            bucket_ms: bucket_ms.max(1),
            buckets: std::collections::VecDeque::new(),
        }
    }

    fn bucket_mut(&mut self, t: i64) -> (&mut BTreeMap<String, Tally>, &mut Tally) {
        let start = t.div_euclid(self.bucket_ms) * self.bucket_ms;
        // Calls end out of order: find (or make) the bucket where it belongs.
        let i = self.buckets.partition_point(|b| b.0 < start);
        if self.buckets.get(i).is_none_or(|b| b.0 != start) {
            self.buckets
                .insert(i, (start, BTreeMap::new(), Tally::default()));
        }
        let b = &mut self.buckets[i];
        (&mut b.1, &mut b.2)
    }

    /// Add one call (visits outside the window as of `now_ms` are dropped).
    pub fn add_call(
        &mut self,
        visits: &[VisitFacts],
        now_ms: i64,
        rules: &dyn Fn(&str) -> Rules,
        center: Rules,
    ) {
        let oldest = now_ms - self.window_ms;
        for v in visits.iter().filter(|v| v.entered_at_ms >= oldest) {
            let r = rules(&v.queue);
            let (queues, _) = self.bucket_mut(v.entered_at_ms);
            queues.entry(v.queue.clone()).or_default().add(v, r);
        }
        if let Some(w) = whole_call(visits).filter(|w| w.entered_at_ms >= oldest) {
            self.bucket_mut(w.entered_at_ms).1.add(&w, center);
        }
        self.expire(now_ms);
    }

    fn expire(&mut self, now_ms: i64) {
        let oldest = now_ms - self.window_ms;
        while self
            .buckets
            .front()
            .is_some_and(|b| b.0 + self.bucket_ms <= oldest)
        {
            self.buckets.pop_front();
        }
    }

    pub fn window_ms(&self) -> i64 {
        self.window_ms
    }

    /// The whole-call tallies of the window ending at `now_ms`, by bucket start, oldest first (the day charts,
    /// `queue_history::level_series`).
    pub fn whole_call_buckets(&mut self, now_ms: i64) -> impl Iterator<Item = (i64, &Tally)> {
        self.expire(now_ms);
        self.buckets.iter().map(|(start, _, whole)| (*start, whole))
    }

    /// The figures of the window ending at `now_ms`, buckets at its edge included whole.
    pub fn report(
        &mut self,
        now_ms: i64,
        rules: &dyn Fn(&str) -> Rules,
        center: Rules,
    ) -> QueueReport {
        self.expire(now_ms);
        let mut queues: BTreeMap<String, Tally> = BTreeMap::new();
        let mut overall = Tally::default();
        for (_, qs, whole) in &self.buckets {
            for (q, t) in qs {
                queues.entry(q.clone()).or_default().merge(t);
            }
            overall.merge(whole);
        }
        QueueReport {
            from_ms: now_ms - self.window_ms,
            to_ms: now_ms,
            queues: queues
                .iter()
                .map(|(q, t)| QueueFigures {
                    queue: q.clone(),
                    figures: t.figures(rules(q)),
                })
                .collect(),
            overall: overall.figures(center),
        }
    }
}

/// Per interval of `interval_ms` from `from_ms` to `to_ms`: the tally of `queue`'s visits that entered in it
/// (staffing advice reads offered calls, handle times, abandons and waits from these).
pub fn interval_tallies(
    visits: &[VisitFacts],
    queue: &str,
    from_ms: i64,
    to_ms: i64,
    interval_ms: i64,
    rules: Rules,
) -> Vec<Tally> {
    let n = ((to_ms - from_ms).max(0) + interval_ms - 1) / interval_ms.max(1);
    let mut out = vec![Tally::default(); n as usize];
    for v in visits.iter().filter(|v| v.queue == queue) {
        if v.entered_at_ms < from_ms || v.entered_at_ms >= to_ms {
            continue;
        }
        let i = ((v.entered_at_ms - from_ms) / interval_ms) as usize;
        if let Some(t) = out.get_mut(i) {
            t.add(v, rules);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules {
        threshold_ms: 20_000,
        short_abandon_ms: 5_000,
    };

    fn visit(queue: &str, entered: i64, wait: i64, outcome: VisitOutcome) -> VisitFacts {
        VisitFacts {
            queue: queue.into(),
            entered_at_ms: entered,
            left_at_ms: entered + wait,
            outcome,
            talk_ms: (outcome == VisitOutcome::Answered).then_some(100_000),
        }
    }

    #[test]
    fn threshold_is_inclusive_short_abandons_count_in_no_rate() {
        use VisitOutcome::*;
        let calls = [
            vec![visit("g", 0, 20_000, Answered)],
            vec![visit("g", 0, 20_001, Answered)],
            vec![visit("g", 0, 5_000, Abandoned)],
            vec![visit("g", 0, 5_001, Abandoned)],
            vec![visit("g", 0, 1_000, Ended)],
        ];
        let mut agg = Aggregator::default();
        for c in &calls {
            agg.add_call(c, 0, 1, &|_| RULES, RULES);
        }
        let r = agg.report(0, 1, &|_| RULES, RULES);
        let g = &r.queues[0].figures;
        let t = g.tally;
        assert_eq!(
            (t.offered, t.answered, t.answered_within_threshold),
            (5, 2, 1)
        );
        assert_eq!((t.abandoned, t.short_abandoned, t.ended), (1, 1, 1));
        assert_eq!(g.service_level, Some(1.0 / 3.0));
        assert_eq!(g.answer_rate, Some(2.0 / 3.0));
        assert_eq!(g.asa_ms, Some(20_000.5));
        assert_eq!(g.aht_ms, Some(100_000.0));
        assert_eq!(r.overall, *g, "one queue, one visit each: the same");
        let empty = Aggregator::default().report(0, 1, &|_| RULES, RULES);
        assert_eq!(empty.overall.service_level, None);
        assert!(empty.queues.is_empty());
    }

    #[test]
    fn an_overflowed_call_counts_in_both_queues_and_once_in_the_center() {
        use VisitOutcome::*;
        let call = [
            visit("general", 0, 60_000, Overflowed),
            visit("backup", 60_000, 10_000, Answered),
        ];
        let mut agg = Aggregator::default();
        agg.add_call(&call, 0, 1_000_000, &|_| RULES, RULES);
        let r = agg.report(0, 1_000_000, &|_| RULES, RULES);
        let by: BTreeMap<&str, &Figures> = r
            .queues
            .iter()
            .map(|q| (q.queue.as_str(), &q.figures))
            .collect();
        assert_eq!(by["general"].tally.overflowed, 1);
        assert_eq!(
            by["general"].service_level, None,
            "not counted in its rates"
        );
        assert_eq!(by["backup"].service_level, Some(1.0), "10 s in backup");
        // The caller waited 70 s in all: late for the center.
        assert_eq!(r.overall.tally.offered, 1);
        assert_eq!(r.overall.service_level, Some(0.0));
        assert_eq!(r.overall.answer_rate, Some(1.0));
    }

    #[test]
    fn the_rolling_window_forgets_what_left_it_and_takes_calls_out_of_order() {
        use VisitOutcome::*;
        let mut r = Rolling::new(86_400_000, 60_000);
        let day = 86_400_000;
        r.add_call(
            &[visit("g", 1_000, 1_000, Answered)],
            2_000,
            &|_| RULES,
            RULES,
        );
        r.add_call(
            &[visit("g", 500_000, 30_000, Answered)],
            600_000,
            &|_| RULES,
            RULES,
        );
        // Ended later, entered earlier.
        r.add_call(
            &[visit("g", 100_000, 9_000, Abandoned)],
            700_000,
            &|_| RULES,
            RULES,
        );
        let rep = r.report(700_000, &|_| RULES, RULES);
        assert_eq!(rep.overall.tally.offered, 3);
        assert_eq!(rep.overall.answer_rate, Some(2.0 / 3.0));
        // A day later the first minute is gone.
        let rep = r.report(day + 60_000, &|_| RULES, RULES);
        assert_eq!(rep.overall.tally.offered, 2);
        // Too old to count at all.
        r.add_call(&[visit("g", 0, 1, Answered)], 3 * day, &|_| RULES, RULES);
        assert_eq!(
            r.report(3 * day, &|_| RULES, RULES).overall.tally.offered,
            0
        );
    }

    #[test]
    fn intervals_split_one_queue_by_entry_time() {
        use VisitOutcome::*;
        let v = [
            visit("g", 0, 1, Answered),
            visit("g", 1_799_999, 1, Answered),
            visit("g", 1_800_000, 1, Abandoned),
            visit("x", 10, 1, Answered),
            visit("g", 3_600_000, 1, Answered),
        ];
        let t = interval_tallies(&v, "g", 0, 3_600_000, 1_800_000, RULES);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].offered, t[1].offered), (2, 1));
        assert_eq!(t[1].short_abandoned, 1);
    }
}
