//! A call's one timer wheel, in the clock's monotonic ms, keyed by the cores' own timer ids.

use call::{LegId, TimerKind};
use sip::session::SessionTimer;
use std::collections::BTreeMap;

/// What a timer of the wheel stands for: one of the call's, or one of a leg's session.
#[derive(Debug, Clone, Copy)]
pub enum TimerId {
    Call(TimerKind),
    Session(LegId, SessionTimer),
    /// A pool gateway's `invite_timeout_ms` for attempt `n` of the leg (`trunk_legs.rs`).
    TrunkSetup(LegId, u32),
}

/// The call's one timer wheel, in the clock's monotonic ms. Timers are never cancelled: the cores
/// recognise a stale one (attempt, round, generation) and ignore it.
#[derive(Default)]
pub struct TimerWheel {
    at: BTreeMap<(i64, u64), TimerId>,
    seq: u64,
}

impl TimerWheel {
    pub fn push(&mut self, at_ms: i64, id: TimerId) {
        self.seq += 1;
        self.at.insert((at_ms, self.seq), id);
    }

    pub fn next_at(&self) -> Option<i64> {
        self.at.keys().next().map(|(at, _)| *at)
    }

    /// Take out `leg`'s session timers (the leg moves to another call): (due at, timer).
    pub fn take_leg(&mut self, leg: LegId) -> Vec<(i64, SessionTimer)> {
        let mine: Vec<(i64, u64)> = self
            .at
            .iter()
            .filter(|(_, id)| matches!(id, TimerId::Session(l, _) if *l == leg))
            .map(|(k, _)| *k)
            .collect();
        mine.into_iter()
            .filter_map(|k| match self.at.remove(&k) {
                Some(TimerId::Session(_, t)) => Some((k.0, t)),
                _ => None,
            })
            .collect()
    }

    pub fn pop_due(&mut self, now_ms: i64) -> Option<TimerId> {
        let (&(at, seq), _) = self.at.iter().next()?;
        (at <= now_ms).then(|| self.at.remove(&(at, seq))).flatten()
    }
}
