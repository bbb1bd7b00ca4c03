//! The satisfaction survey (评价, R-23). When the operator ends the call — the seat hangs up, or the operator
//! keys the survey code (`*9`) — the caller is not dropped: it hears «…满意请按1，基本满意请按2，不满意请按3»,
//! its first key (or none before the time-out) is the answer, a short thank-you may follow, then the call hangs
//! up. The answer goes into the record ([`record::Survey`]); the ticket side stores it as the evaluation of the
//! call's ticket. [`Survey`] is the sub-machine, used here after the operator leg and by call-back calls
//! ([`crate::callback`]).

use crate::legs::LegState;
use crate::{Call, EndReason, Input, LegId, Output, Phase, PromptRef, TimerKind};

/// When the survey runs and what it plays (`[survey]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyPolicy {
    /// «…满意请按1，基本满意请按2，不满意请按3».
    pub prompt: PromptRef,
    /// Played after the answer (or the time-out), then the call hangs up; None: hang up at once.
    pub thanks: Option<PromptRef>,
    /// How long after the prompt ended the caller may take to press a key.
    pub key_timeout_ms: i64,
    /// Run it when the operator's seat hangs up.
    pub on_seat_hangup: bool,
    /// Run it when the operator keys this code (`*9`); the call BYEs the seat.
    pub code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The question plays; a key cuts it short.
    Asking,
    /// The question ended: the key timer runs.
    Waiting,
    /// The thank-you plays.
    Thanking,
    Done,
}

/// One survey on one leg.
#[derive(Debug, Clone)]
pub struct Survey {
    leg: LegId,
    stage: Stage,
    key: Option<char>,
}

impl Survey {
    /// Ask on `leg`: play the question.
    pub fn start(leg: LegId, policy: &SurveyPolicy, out: &mut Vec<Output>) -> Survey {
        out.push(Output::Play {
            leg,
            prompt: policy.prompt.clone(),
            looped: false,
        });
        Survey {
            leg,
            stage: Stage::Asking,
            key: None,
        }
    }

    /// A survey answered before its question played (a key during a call-back's summary).
    pub fn keyed(leg: LegId, digit: char, policy: &SurveyPolicy, out: &mut Vec<Output>) -> Survey {
        let mut s = Survey {
            leg,
            stage: Stage::Waiting,
            key: None,
        };
        s.on_key(digit, policy, out);
        s
    }

    pub fn leg(&self) -> LegId {
        self.leg
    }

    /// The key pressed, if any.
    pub fn key(&self) -> Option<char> {
        self.key
    }

    /// Over: the leg is to be hung up now (the shell hears [`Output::Hangup`] from the owner).
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// A key on the survey's leg: the first one is the answer (any key; the ticket side maps 1/2/3).
    pub fn on_key(&mut self, digit: char, policy: &SurveyPolicy, out: &mut Vec<Output>) {
        if !matches!(self.stage, Stage::Asking | Stage::Waiting) {
            return;
        }
        self.key = Some(digit);
        if self.stage == Stage::Asking {
            out.push(Output::StopPlaying { leg: self.leg });
        }
        self.thank(policy, out);
    }

    /// The prompt playing on the survey's leg ended.
    pub fn on_prompt_finished(&mut self, policy: &SurveyPolicy, out: &mut Vec<Output>) {
        match self.stage {
            Stage::Asking => {
                self.stage = Stage::Waiting;
                out.push(Output::StartTimer {
                    kind: TimerKind::Survey,
                    after_ms: policy.key_timeout_ms,
                });
            }
            Stage::Thanking => self.stage = Stage::Done,
            Stage::Waiting | Stage::Done => {}
        }
    }

    /// [`TimerKind::Survey`]: no key in time, the answer is none.
    pub fn on_timer(&mut self, policy: &SurveyPolicy, out: &mut Vec<Output>) {
        if self.stage == Stage::Waiting {
            self.thank(policy, out);
        }
    }

    fn thank(&mut self, policy: &SurveyPolicy, out: &mut Vec<Output>) {
        match &policy.thanks {
            Some(prompt) => {
                self.stage = Stage::Thanking;
                out.push(Output::Play {
                    leg: self.leg,
                    prompt: prompt.clone(),
                    looped: false,
                });
            }
            None => self.stage = Stage::Done,
        }
    }
}

/// The operator's keys towards the survey code (kept apart from the transfer's, which see the same keys).
#[derive(Debug, Clone, Default)]
pub(crate) struct CodeKeys {
    buf: String,
    last_ms: i64,
}

impl Call {
    /// The survey's share of an input; true when it consumed the input.
    pub(crate) fn survey_input(
        &mut self,
        input: &Input,
        now_ms: i64,
        out: &mut Vec<Output>,
    ) -> bool {
        let Some(policy) = self.policy.survey.clone() else {
            return false;
        };
        if self.phase != Phase::Survey {
            if let Input::Dtmf { leg, digit } = *input {
                return self.survey_code_key(leg, digit, &policy, now_ms, out);
            }
            return false;
        }
        let Some(survey) = self.survey.as_mut() else {
            return false;
        };
        match *input {
            Input::Dtmf { leg, digit } if leg == LegId::CALLER => {
                if let Some(l) = self.legs.get_mut(leg) {
                    l.dtmf.push(digit);
                }
                survey.on_key(digit, &policy, out);
            }
            Input::PromptFinished { leg } if leg == LegId::CALLER => {
                survey.on_prompt_finished(&policy, out)
            }
            Input::Timer(TimerKind::Survey) => survey.on_timer(&policy, out),
            // The caller left during the survey: what it keyed (or nothing) is the answer.
            Input::LegHangup { leg } if leg == LegId::CALLER => {
                self.finish(EndReason::SeatHangup, now_ms, out);
                return true;
            }
            Input::MediaTimeout { leg } if leg == LegId::CALLER => {
                out.push(Output::Hangup { leg });
                self.finish(EndReason::SeatHangup, now_ms, out);
                return true;
            }
            _ => return false,
        }
        if self.survey.as_ref().is_some_and(Survey::is_done) {
            out.push(Output::Hangup { leg: LegId::CALLER });
            self.finish(EndReason::SeatHangup, now_ms, out);
        }
        true
    }

    /// An operator's key while talking with the caller: the survey code ends the operator's part. Other keys
    /// are left to the transfer (false).
    fn survey_code_key(
        &mut self,
        leg: LegId,
        digit: char,
        policy: &SurveyPolicy,
        now_ms: i64,
        out: &mut Vec<Output>,
    ) -> bool {
        let Some(code) = policy.code.as_deref().filter(|c| !c.is_empty()) else {
            return false;
        };
        if !self.is_operator(leg) || self.transfer.is_some() {
            return false;
        }
        let keys = &mut self.survey_keys;
        if now_ms - keys.last_ms > self.policy.transfer.key_timeout_ms {
            keys.buf.clear();
        }
        keys.last_ms = now_ms;
        keys.buf.push(digit);
        if keys.buf.len() > code.len() {
            keys.buf.remove(0);
        }
        if keys.buf != code {
            return false;
        }
        keys.buf.clear();
        if let Some(l) = self.legs.get_mut(leg) {
            l.dtmf.push(digit);
        }
        self.legs.leave(leg, out);
        self.end_leg(leg, out);
        self.start_survey(leg, now_ms, out);
        true
    }

    /// The operator leg `seat_leg` is gone (hung up, or BYEd by the survey code): ask the caller, when the
    /// survey runs for it. False when it does not (the caller is then hung up as before).
    pub(crate) fn survey_after_seat(
        &mut self,
        seat_leg: LegId,
        now_ms: i64,
        out: &mut Vec<Output>,
    ) -> bool {
        let runs = self
            .policy
            .survey
            .as_ref()
            .is_some_and(|p| p.on_seat_hangup)
            && self.legs.get(seat_leg).is_some_and(|l| l.acd)
            && self.caller_answered
            && self.legs.state(LegId::CALLER) == Some(LegState::Answered);
        if !runs {
            return false;
        }
        self.legs.leave(seat_leg, out);
        self.start_survey(seat_leg, now_ms, out);
        true
    }

    fn start_survey(&mut self, seat_leg: LegId, _now_ms: i64, out: &mut Vec<Output>) {
        let Some(policy) = self.policy.survey.clone() else {
            return;
        };
        self.release(seat_leg, out);
        self.phase = Phase::Survey;
        self.survey = Some(Survey::start(LegId::CALLER, &policy, out));
    }

    /// The record's survey answer, once a survey ran.
    pub(crate) fn survey_answer(&self, now_ms: i64) -> Option<record::Survey> {
        self.survey.as_ref().map(|s| record::Survey {
            key: s.key(),
            at_ms: self.wall(now_ms),
        })
    }
}
