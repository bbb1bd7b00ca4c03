//! The queues' live service level: the records' queue visits over the last 24 hours, seeded from the
//! database at start and fed each record as it is handed to the store, so a restart changes no figure. The
//! counting rules are `ticket::queue_stats` (docs/acd.md).

use crate::clock::Clock;
use crate::metrics_names as m;
use record::CallRecord;
use std::collections::BTreeMap;
use std::sync::Mutex;
use ticket::queue_history::{level_series, LevelPoint, WaitingHistory, WaitingPoint};
use ticket::queue_stats::{visits_of, Figures, QueueReport, Rolling, Rules};

const DAY_MS: i64 = 86_400_000;
/// The day charts' step: 96 points a day, fine enough to see the morning peak build up.
pub const CHART_STEP_MS: i64 = 15 * 60_000;

pub struct ServiceLevels {
    rolling: Mutex<Rolling>,
    /// Callers waiting through the day (the wallboard's chart).
    waiting: Mutex<WaitingHistory>,
    /// Per-queue thresholds that differ from the center's.
    thresholds: BTreeMap<String, i64>,
    center: Rules,
}

impl ServiceLevels {
    pub fn new(center: Rules, thresholds: BTreeMap<String, i64>) -> ServiceLevels {
        ServiceLevels {
            rolling: Mutex::new(Rolling::new(DAY_MS, 60_000)),
            waiting: Mutex::new(WaitingHistory::new(DAY_MS, CHART_STEP_MS)),
            thresholds,
            center,
        }
    }

    pub fn rules(&self, queue: &str) -> Rules {
        Rules {
            threshold_ms: self
                .thresholds
                .get(queue)
                .copied()
                .unwrap_or(self.center.threshold_ms),
            ..self.center
        }
    }

    pub fn center(&self) -> Rules {
        self.center
    }

    /// The stored calls of the last 24 hours; returns how many.
    pub async fn seed(&self, store: &ticket::Store) -> Result<usize, ticket::TicketError> {
        let now = Clock::wall_ms();
        let calls = store.queue_calls(now - DAY_MS, now + 1).await?;
        if let Ok(mut r) = self.rolling.lock() {
            for c in &calls {
                r.add_call(c, now, &|q| self.rules(q), self.center);
            }
        }
        if let Ok(mut w) = self.waiting.lock() {
            w.seed(&calls, now);
        }
        Ok(calls.len())
    }

    /// A finished call, as it goes to the store.
    pub fn count(&self, rec: &CallRecord) {
        if rec.queue_visits.is_empty() {
            return;
        }
        let v = visits_of(rec);
        if let Ok(mut r) = self.rolling.lock() {
            r.add_call(&v, Clock::wall_ms(), &|q| self.rules(q), self.center);
        }
    }

    /// The last 24 hours.
    pub fn report(&self) -> Option<QueueReport> {
        let mut r = self.rolling.lock().ok()?;
        Some(r.report(Clock::wall_ms(), &|q| self.rules(q), self.center))
    }

    /// How many callers wait now (sampled once a second).
    pub fn sample_waiting(&self, waiting: usize) {
        if let Ok(mut w) = self.waiting.lock() {
            w.sample(Clock::wall_ms(), waiting);
        }
    }

    /// The day charts: peak callers waiting and the center's service level per [`CHART_STEP_MS`].
    pub fn day_charts(&self) -> (Vec<WaitingPoint>, Vec<LevelPoint>) {
        let now = Clock::wall_ms();
        let waiting = self
            .waiting
            .lock()
            .map(|mut w| w.series(now))
            .unwrap_or_default();
        let levels = self
            .rolling
            .lock()
            .map(|mut r| level_series(&mut r, now, CHART_STEP_MS, self.center))
            .unwrap_or_default();
        (waiting, levels)
    }

    /// Prometheus gauges of the last 24 hours (housekeeping, once a second).
    pub fn export(&self) {
        let Some(report) = self.report() else { return };
        for q in &report.queues {
            gauges(&q.queue, &q.figures);
        }
        gauges("*", &report.overall);
    }
}

fn gauges(queue: &str, f: &Figures) {
    let q = queue.to_string();
    let t = &f.tally;
    for (name, v) in [
        (m::QUEUE_OFFERED, t.offered),
        (m::QUEUE_ANSWERED, t.answered),
        (m::QUEUE_ANSWERED_IN_THRESHOLD, t.answered_within_threshold),
        (m::QUEUE_ABANDONED, t.abandoned),
        (m::QUEUE_SHORT_ABANDONED, t.short_abandoned),
        (m::QUEUE_OVERFLOWED, t.overflowed),
        (m::QUEUE_CALLBACKS, t.callbacks),
    ] {
        metrics::gauge!(name, "queue" => q.clone()).set(v as f64);
    }
    for (name, v) in [
        (m::QUEUE_SERVICE_LEVEL, f.service_level),
        (m::QUEUE_ANSWER_RATE, f.answer_rate),
        (m::QUEUE_ASA_SECONDS, f.asa_ms.map(|ms| ms / 1000.0)),
        (m::QUEUE_AHT_SECONDS, f.aht_ms.map(|ms| ms / 1000.0)),
    ] {
        // No calls yet: no figure (NaN would read as a value).
        if let Some(v) = v {
            metrics::gauge!(name, "queue" => q.clone()).set(v);
        }
    }
}
