//! The wallboard's day charts: callers waiting and the center's service level through the last
//! 24 hours, in fixed steps. Pure: time is an input. Both survive a restart — the waiting peaks are rebuilt from
//! the stored queue visits (who was waiting when), the service level from the same rolling tallies the
//! wallboard's figures use ([`crate::queue_stats::Rolling`]).

use std::collections::VecDeque;

use serde::Serialize;

use crate::queue_stats::{Figures, Rolling, Rules, VisitFacts};

/// The most callers waiting at once in each step (a chart of averages would hide the peaks a supervisor
/// staffs for).
#[derive(Debug, Clone)]
pub struct WaitingHistory {
    window_ms: i64,
    step_ms: i64,
    /// (step start, peak), oldest first, steps without callers left out.
    steps: VecDeque<(i64, u32)>,
}

/// One point of a chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitingPoint {
    pub at_ms: i64,
    pub peak: u32,
}

/// The service level of the calls that entered a queue in one step (the step's `offered`, and the share
/// answered within the threshold; `None` when no call counted).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelPoint {
    pub at_ms: i64,
    pub offered: u64,
    pub service_level: Option<f64>,
}

impl WaitingHistory {
    pub fn new(window_ms: i64, step_ms: i64) -> WaitingHistory {
        WaitingHistory {
            window_ms,
            step_ms: step_ms.max(1),
            steps: VecDeque::new(),
        }
    }

    pub fn step_ms(&self) -> i64 {
        self.step_ms
    }

    fn start_of(&self, t: i64) -> i64 {
        t.div_euclid(self.step_ms) * self.step_ms
    }

    fn raise(&mut self, start: i64, n: u32) {
        let i = self.steps.partition_point(|s| s.0 < start);
        match self.steps.get_mut(i) {
            Some(s) if s.0 == start => s.1 = s.1.max(n),
            _ => self.steps.insert(i, (start, n)),
        }
    }

    /// Rebuild from stored calls (each call's queue visits): a sweep over every entry and exit, the count in
    /// force over each interval raising the peak of every step it touches. O(visits · log + steps).
    pub fn seed(&mut self, calls: &[Vec<VisitFacts>], now_ms: i64) {
        let oldest = now_ms - self.window_ms;
        // Exits before entries at the same instant: a caller moved on to an overflow queue is one caller.
        let mut events: Vec<(i64, i32)> = calls
            .iter()
            .flatten()
            .filter(|v| v.left_at_ms > v.entered_at_ms && v.left_at_ms >= oldest)
            .flat_map(|v| [(v.entered_at_ms, 1), (v.left_at_ms, -1)])
            .collect();
        events.sort_unstable();
        let mut count: i64 = 0;
        let mut since = i64::MIN;
        for (at, delta) in events {
            if count > 0 && at > since {
                // `count` callers waited over [since, at): every step it overlaps saw at least that many.
                let n = u32::try_from(count).unwrap_or(u32::MAX);
                let mut s = self.start_of(since.max(oldest));
                while s < at {
                    self.raise(s, n);
                    s += self.step_ms;
                }
            }
            count += i64::from(delta);
            since = at;
        }
        self.expire(now_ms);
    }

    /// A live reading: `waiting` callers now.
    pub fn sample(&mut self, now_ms: i64, waiting: usize) {
        if waiting > 0 {
            let start = self.start_of(now_ms);
            self.raise(start, u32::try_from(waiting).unwrap_or(u32::MAX));
        }
        self.expire(now_ms);
    }

    fn expire(&mut self, now_ms: i64) {
        let oldest = now_ms - self.window_ms;
        while self
            .steps
            .front()
            .is_some_and(|s| s.0 + self.step_ms <= oldest)
        {
            self.steps.pop_front();
        }
    }

    /// Every step of the window ending at `now_ms`, oldest first, 0 where nobody waited.
    pub fn series(&mut self, now_ms: i64) -> Vec<WaitingPoint> {
        self.expire(now_ms);
        let mut out = Vec::new();
        let mut known = self.steps.iter().peekable();
        let mut s = self.start_of(now_ms - self.window_ms + self.step_ms);
        while s <= now_ms {
            while known.next_if(|k| k.0 < s).is_some() {}
            let peak = known.next_if(|k| k.0 == s).map_or(0, |k| k.1);
            out.push(WaitingPoint { at_ms: s, peak });
            s += self.step_ms;
        }
        out
    }
}

/// The center's service level per step of `step_ms` over the rolling window ending at `now_ms`, oldest
/// first, from the same tallies as the wallboard's 24-hour figure (so the points add up to it).
pub fn level_series(
    rolling: &mut Rolling,
    now_ms: i64,
    step_ms: i64,
    center: Rules,
) -> Vec<LevelPoint> {
    let step_ms = step_ms.max(1);
    let window = rolling.window_ms();
    let first = (now_ms - window + step_ms).div_euclid(step_ms) * step_ms;
    let n = ((now_ms - first).div_euclid(step_ms) + 1).max(0) as usize;
    let mut tallies = vec![crate::queue_stats::Tally::default(); n];
    for (start, whole) in rolling.whole_call_buckets(now_ms) {
        let i = (start - first).div_euclid(step_ms);
        // A bucket at the window's edge that starts before the first step counts in the first.
        let i = i.clamp(0, n as i64 - 1) as usize;
        if let Some(t) = tallies.get_mut(i) {
            t.merge(whole);
        }
    }
    tallies
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let f: Figures = t.figures(center);
            LevelPoint {
                at_ms: first + i as i64 * step_ms,
                offered: f.tally.offered,
                service_level: f.service_level,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::VisitOutcome;

    const MIN: i64 = 60_000;
    const DAY: i64 = 86_400_000;
    const RULES: Rules = Rules {
        threshold_ms: 20_000,
        short_abandon_ms: 5_000,
    };

    fn visit(entered: i64, left: i64, outcome: VisitOutcome) -> VisitFacts {
        VisitFacts {
            queue: "general".into(),
            entered_at_ms: entered,
            left_at_ms: left,
            outcome,
            talk_ms: None,
        }
    }

    fn peaks(h: &mut WaitingHistory, now: i64) -> Vec<(i64, u32)> {
        h.series(now)
            .into_iter()
            .filter(|p| p.peak > 0)
            .map(|p| (p.at_ms, p.peak))
            .collect()
    }

    #[test]
    fn seeded_peaks_count_callers_waiting_at_once() {
        use VisitOutcome::*;
        let now = DAY + 60 * MIN;
        let base = DAY; // the window is (now - 24 h, now]
        let calls = vec![
            // Two overlap in the first five minutes; one alone in the third step.
            vec![visit(base + MIN, base + 3 * MIN, Answered)],
            vec![visit(base + 2 * MIN, base + 4 * MIN, Abandoned)],
            vec![visit(base + 11 * MIN, base + 12 * MIN, Answered)],
            // Overflowed from one queue into the next at the same instant: still one caller.
            vec![
                visit(base + 20 * MIN, base + 22 * MIN, Overflowed),
                visit(base + 22 * MIN, base + 27 * MIN, Answered),
            ],
        ];
        let mut h = WaitingHistory::new(DAY, 5 * MIN);
        h.seed(&calls, now);
        assert_eq!(
            peaks(&mut h, now),
            vec![
                (base, 2),
                (base + 10 * MIN, 1),
                (base + 20 * MIN, 1),
                (base + 25 * MIN, 1)
            ]
        );
    }

    #[test]
    fn live_samples_raise_the_current_step_and_old_steps_expire() {
        let mut h = WaitingHistory::new(DAY, 5 * MIN);
        h.sample(0, 3);
        h.sample(MIN, 1);
        h.sample(6 * MIN, 0);
        assert_eq!(peaks(&mut h, 6 * MIN), vec![(0, 3)]);
        // Every step of the window is in the series, ending with the current one.
        let s = h.series(6 * MIN);
        assert_eq!(s.len(), (DAY / (5 * MIN)) as usize);
        assert_eq!(s.last().map(|p| p.at_ms), Some(5 * MIN));
        // A day later the morning's peak is gone.
        assert!(peaks(&mut h, DAY + 5 * MIN).is_empty());
    }

    #[test]
    fn the_level_series_adds_up_to_the_days_figure() {
        use VisitOutcome::*;
        let mut r = Rolling::new(DAY, MIN);
        let now = DAY + 30 * MIN;
        let calls = [
            visit(DAY + MIN, DAY + MIN + 10_000, Answered), // within 20 s
            visit(DAY + 2 * MIN, DAY + 2 * MIN + 30_000, Answered), // late
            visit(DAY + 16 * MIN, DAY + 16 * MIN + 1_000, Answered),
        ];
        for c in &calls {
            r.add_call(std::slice::from_ref(c), now, &|_| RULES, RULES);
        }
        let s = level_series(&mut r, now, 15 * MIN, RULES);
        assert_eq!(s.len(), 96);
        assert_eq!(s.last().map(|p| p.at_ms), Some(DAY + 30 * MIN));
        let busy: Vec<_> = s.iter().filter(|p| p.offered > 0).collect();
        assert_eq!(busy.len(), 2);
        assert_eq!((busy[0].at_ms, busy[0].offered), (DAY, 2));
        assert_eq!(busy[0].service_level, Some(0.5));
        assert_eq!(
            (busy[1].at_ms, busy[1].service_level),
            (DAY + 15 * MIN, Some(1.0))
        );
        let total: u64 = s.iter().map(|p| p.offered).sum();
        assert_eq!(
            total,
            r.report(now, &|_| RULES, RULES).overall.tally.offered
        );
    }
}
