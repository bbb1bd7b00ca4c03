//! Position and expected-wait announcements for waiting callers («您前面还有 三 位在等候，预计等待 二 分钟»),
//! every N seconds per queue, assembled from digit prompts. The ACD knows the position and the estimate; the
//! call asks ([`Output::AskPosition`]), plays the pieces one after the other, then the hold prompt again.

use crate::LegId;
use crate::{Call, Input, Output, Phase, Plan, PromptRef, TimerKind};
use std::collections::BTreeMap;

/// The pieces and how often each queue announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcements {
    /// 零 一 … 九, then 十 (11 prompts).
    pub digits: Vec<PromptRef>,
    /// «您前面还有»
    pub ahead: PromptRef,
    /// «位在等候»
    pub callers: PromptRef,
    /// «预计等待»
    pub expected: PromptRef,
    /// «分钟»
    pub minutes: PromptRef,
    /// Queue → interval; a queue not named here announces nothing.
    pub every_ms: BTreeMap<String, i64>,
}

/// A number as the digit prompts say it in Mandarin: 7 → 七, 10 → 十, 13 → 十三, 20 → 二十, 42 → 四十二;
/// larger numbers are said as 99 (the caller needs the order of magnitude, not the count).
pub fn chinese_number(n: u32) -> Vec<usize> {
    let n = n.min(99) as usize;
    match n {
        0..=9 => vec![n],
        10 => vec![10],
        11..=19 => vec![10, n - 10],
        _ if n % 10 == 0 => vec![n / 10, 10],
        _ => vec![n / 10, 10, n % 10],
    }
}

impl Announcements {
    /// What a caller at `position` (1 = next) hears: the callers ahead (when there are any) and the expected
    /// wait in whole minutes, rounded up (when the ACD has an estimate).
    pub fn sentence(&self, position: usize, expected_wait_ms: Option<i64>) -> Vec<PromptRef> {
        let say = |n: u32| -> Vec<PromptRef> {
            chinese_number(n)
                .into_iter()
                .filter_map(|i| self.digits.get(i).cloned())
                .collect()
        };
        let mut out = Vec::new();
        let ahead = position.saturating_sub(1) as u32;
        if ahead > 0 {
            out.push(self.ahead.clone());
            out.extend(say(ahead));
            out.push(self.callers.clone());
        }
        if let Some(ms) = expected_wait_ms.filter(|ms| *ms > 0) {
            let minutes = ((ms + 59_999) / 60_000) as u32;
            out.push(self.expected.clone());
            out.extend(say(minutes));
            out.push(self.minutes.clone());
        }
        out
    }
}

impl Call {
    /// Arm the next announcement of the current queue, if it has any (a new round forgets older timers).
    pub(crate) fn schedule_announcement(&mut self, out: &mut Vec<Output>) {
        let every = self
            .policy
            .announce
            .as_ref()
            .and_then(|a| a.every_ms.get(&self.queue_name()).copied());
        if let Some(every) = every.filter(|e| *e > 0) {
            self.announce_round += 1;
            out.push(Output::StartTimer {
                kind: TimerKind::Announce {
                    round: self.announce_round,
                },
                after_ms: every,
            });
        }
    }

    /// Announcement inputs; true when `input` was one.
    pub(crate) fn announce_input(&mut self, input: &Input, out: &mut Vec<Output>) -> bool {
        match *input {
            Input::Timer(TimerKind::Announce { round }) => {
                if round == self.announce_round {
                    match self.phase {
                        Phase::Queued if !self.announce_playing => out.push(Output::AskPosition),
                        // A seat rings (or the last one still plays): try again next time.
                        Phase::Queued | Phase::Offering { .. } => self.schedule_announcement(out),
                        _ => {}
                    }
                }
                true
            }
            Input::QueuePosition {
                position,
                expected_wait_ms,
            } => {
                if self.phase == Phase::Queued && !self.announce_playing {
                    let pieces = self
                        .policy
                        .announce
                        .as_ref()
                        .map(|a| a.sentence(position, expected_wait_ms))
                        .unwrap_or_default();
                    self.announcing = pieces.into();
                    self.announce_playing = true;
                    self.next_announcement(out);
                }
                true
            }
            Input::PromptFinished { leg }
                if leg == LegId::CALLER
                    && self.announce_playing
                    && matches!(self.phase, Phase::Queued | Phase::Offering { .. }) =>
            {
                self.next_announcement(out);
                true
            }
            _ => false,
        }
    }

    /// The next piece, or back to the hold prompt and the next round.
    fn next_announcement(&mut self, out: &mut Vec<Output>) {
        match self.announcing.pop_front() {
            Some(prompt) => out.push(Output::Play {
                leg: LegId::CALLER,
                prompt,
                looped: false,
            }),
            None => {
                self.announce_playing = false;
                let hold = match &self.plan {
                    Plan::Queue { hold, .. } => hold.clone(),
                    _ => None,
                };
                if let Some(hold) = hold {
                    out.push(Output::Play {
                        leg: LegId::CALLER,
                        prompt: hold,
                        looped: true,
                    });
                }
                self.schedule_announcement(out);
            }
        }
    }

    /// The caller left the queue (answered, moved to the call-back list): no more announcements.
    pub(crate) fn stop_announcing(&mut self) {
        self.announcing.clear();
        self.announce_playing = false;
        self.announce_round += 1;
    }
}
