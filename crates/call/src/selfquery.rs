//! The progress self-query by phone (办理进度自助查询, R-28): the caller keys a ticket number — for a request
//! filed from another phone, `*` and the query code printed on the ticket — and `#`; the call asks the shell
//! ([`Output::LookupTicket`]), which asks the ticket store, and reads the answer ([`Input::TicketLookedUp`])
//! back as a sentence of word and digit prompts, then hangs up.
//!
//! Disclosure is the ticket side's: it answers only the number that filed the ticket or the right code,
//! and a refusal looks exactly like a ticket that does not exist — the caller hears «没有查到» either way.
//!
//! The pieces are played one after the other on [`Input::PromptFinished`], as the queue's position
//! announcements are (`announce.rs`), rather than concatenated into one prompt: every word stays one cached,
//! decoded prompt the shell already knows how to play, the call keeps naming prompts (no audio in a sans-IO
//! core), and the gap between two words is at most one 20 ms pacing tick.
//!
//! The keys of a self-query (ticket number and code) are not added to the record's `digits`: the code is a
//! secret, and the record is read by many.

use crate::{Call, EndReason, Input, LegId, Output, PromptRef, TimerKind};
use std::collections::VecDeque;
use std::sync::Arc;

/// «请输入工单编号，以井号键结束»
pub const ENTER: &str = "enter_number";
/// «没有查到您的诉求»: a wrong number, a wrong code and an unknown ticket alike.
pub const NOT_FOUND: &str = "not_found";
/// «感谢您的来电，再见»
pub const GOODBYE: &str = "goodbye";

/// Where the word prompts are and how long the caller may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfQueryPolicy {
    /// A directory holding `<word>.wav` for every word (`dialplans/prompts/selfquery`).
    pub prompts_dir: Arc<str>,
    /// After the entry prompt ends, how long before the first key.
    pub first_key_timeout_ms: i64,
    /// After a key, how long before the entry counts as complete (as if `#` had been pressed).
    pub inter_digit_timeout_ms: i64,
    /// How often the entry prompt plays to a caller who keys nothing, before goodbye.
    pub attempts: u32,
}

impl Default for SelfQueryPolicy {
    fn default() -> Self {
        SelfQueryPolicy {
            prompts_dir: Arc::from("dialplans/prompts/selfquery"),
            first_key_timeout_ms: 10_000,
            inter_digit_timeout_ms: 5_000,
            attempts: 2,
        }
    }
}

impl SelfQueryPolicy {
    /// The prompt of one word (`"2"`, `"state_handling"`, …).
    pub fn prompt(&self, word: &str) -> PromptRef {
        let dir = self.prompts_dir.trim_end_matches('/');
        Arc::from(format!("{dir}/{word}.wav"))
    }
}

/// What the ticket side answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupAnswer {
    /// The sentence to read back, as word names (`["your_request", "state_handling", "due", "2", …]`).
    Progress { words: Vec<String> },
    /// Nothing to say: unknown number, another caller's request without its code, or the store failed.
    NothingToSay,
}

/// The longest ticket number and query code the call collects (further keys are ignored).
const MAX_NUMBER_DIGITS: usize = 12;
const MAX_CODE_DIGITS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The entry prompt plays, or the caller keys.
    Entering,
    /// Waiting for [`Input::TicketLookedUp`].
    LookingUp,
    /// Reading the answer back; the call ends after the last piece.
    Speaking,
}

#[derive(Debug)]
pub(crate) struct SelfQuery {
    stage: Stage,
    number: String,
    /// `Some` once `*` was keyed: the query code follows.
    code: Option<String>,
    /// The current key timer; older ones are ignored.
    round: u32,
    /// Entry prompts played.
    played: u32,
    /// The entry prompt is playing (a key cuts it short).
    prompting: bool,
    speaking: VecDeque<PromptRef>,
}

impl Call {
    /// Start the self-query: answer (it is the system's service) and ask for the number. Without a
    /// configured policy the call ends with 480, honestly, instead of a silent line.
    pub(crate) fn start_self_query(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        let Some(policy) = self.policy.self_query.clone() else {
            self.end_caller(480, "Temporarily Unavailable", out);
            self.finish(EndReason::PromptThenHangup, now_ms, out);
            return;
        };
        self.answer_caller(now_ms, out);
        self.selfquery = Some(SelfQuery {
            stage: Stage::Entering,
            number: String::new(),
            code: None,
            round: 0,
            played: 1,
            prompting: true,
            speaking: VecDeque::new(),
        });
        out.push(Output::Play {
            leg: LegId::CALLER,
            prompt: policy.prompt(ENTER),
            looped: false,
        });
    }

    /// Self-query inputs; true when `input` was one (the caller's keys, prompts and timers while it runs,
    /// and the lookup's answer).
    pub(crate) fn selfquery_input(
        &mut self,
        input: &Input,
        now_ms: i64,
        out: &mut Vec<Output>,
    ) -> bool {
        let (Some(q), Some(policy)) = (self.selfquery.as_mut(), self.policy.self_query.clone())
        else {
            return false;
        };
        match input {
            Input::Dtmf { leg, digit } if *leg == LegId::CALLER => {
                if q.stage != Stage::Entering {
                    return true;
                }
                if std::mem::take(&mut q.prompting) {
                    out.push(Output::StopPlaying { leg: LegId::CALLER });
                }
                match (digit, q.code.as_mut()) {
                    ('#', _) => {
                        self.submit_self_query(&policy, now_ms, out);
                        return true;
                    }
                    ('*', None) => q.code = Some(String::new()),
                    ('0'..='9', None) if q.number.len() < MAX_NUMBER_DIGITS => {
                        q.number.push(*digit)
                    }
                    ('0'..='9', Some(code)) if code.len() < MAX_CODE_DIGITS => code.push(*digit),
                    _ => {}
                }
                q.round += 1;
                out.push(Output::StartTimer {
                    kind: TimerKind::SelfQuery { round: q.round },
                    after_ms: policy.inter_digit_timeout_ms,
                });
                true
            }
            Input::Timer(TimerKind::SelfQuery { round }) => {
                if *round != q.round || q.stage != Stage::Entering {
                    return true;
                }
                if !q.number.is_empty() || q.code.is_some() {
                    // Keys, then silence: the caller forgot `#`.
                    self.submit_self_query(&policy, now_ms, out);
                } else if q.played < policy.attempts {
                    q.played += 1;
                    q.prompting = true;
                    out.push(Output::Play {
                        leg: LegId::CALLER,
                        prompt: policy.prompt(ENTER),
                        looped: false,
                    });
                } else {
                    self.speak(&policy, &[GOODBYE.to_string()], now_ms, out);
                }
                true
            }
            Input::PromptFinished { leg } if *leg == LegId::CALLER => {
                match q.stage {
                    Stage::Entering if q.prompting => {
                        q.prompting = false;
                        q.round += 1;
                        out.push(Output::StartTimer {
                            kind: TimerKind::SelfQuery { round: q.round },
                            after_ms: policy.first_key_timeout_ms,
                        });
                    }
                    Stage::Speaking => self.next_piece(now_ms, out),
                    _ => {}
                }
                true
            }
            Input::TicketLookedUp { answer } => {
                if q.stage == Stage::LookingUp {
                    let words = match answer {
                        LookupAnswer::Progress { words } => words.clone(),
                        LookupAnswer::NothingToSay => vec![NOT_FOUND.to_string()],
                    };
                    let mut words = words;
                    words.push(GOODBYE.to_string());
                    self.speak(&policy, &words, now_ms, out);
                }
                true
            }
            _ => false,
        }
    }

    /// The entry is complete: ask the ticket side (a number with nothing in it is no query).
    fn submit_self_query(&mut self, policy: &SelfQueryPolicy, now_ms: i64, out: &mut Vec<Output>) {
        let Some(q) = self.selfquery.as_mut() else {
            return;
        };
        q.stage = Stage::LookingUp;
        q.round += 1;
        if q.number.is_empty() {
            q.stage = Stage::Speaking;
            q.speaking = [NOT_FOUND, GOODBYE].map(|w| policy.prompt(w)).into();
            self.next_piece(now_ms, out);
            return;
        }
        out.push(Output::LookupTicket {
            number: q.number.clone(),
            code: q.code.clone().filter(|c| !c.is_empty()),
            caller: self.setup.caller.clone(),
        });
    }

    fn speak(
        &mut self,
        policy: &SelfQueryPolicy,
        words: &[String],
        now_ms: i64,
        out: &mut Vec<Output>,
    ) {
        if let Some(q) = self.selfquery.as_mut() {
            q.stage = Stage::Speaking;
            q.round += 1;
            q.speaking = words.iter().map(|w| policy.prompt(w)).collect();
        }
        self.next_piece(now_ms, out);
    }

    /// The next piece of the answer, or the end of the call.
    fn next_piece(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        let next = self.selfquery.as_mut().and_then(|q| q.speaking.pop_front());
        match next {
            Some(prompt) => out.push(Output::Play {
                leg: LegId::CALLER,
                prompt,
                looped: false,
            }),
            None => {
                self.selfquery = None;
                out.push(Output::Hangup { leg: LegId::CALLER });
                self.finish(EndReason::PromptThenHangup, now_ms, out);
            }
        }
    }
}
