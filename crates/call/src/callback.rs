//! A call-back call (回访, R-23): the center calls a citizen. Its only leg is dialled out (through the trunk, a
//! [`Target::Uri`] resolved like any forwarded call's); answered, it plays the summary prompt («您好，这里是
//! 12345…回访»), then the satisfaction survey ([`Survey`]), then hangs up. The outcome says what the call-back
//! list is to make of the attempt; the scheduler (`ticket::callback`) decides when the next one is.
//!
//! Sans-IO like [`crate::Call`]: [`CallBack::handle`] takes [`Input`]s and `now_ms` and returns [`Output`]s
//! (`Dial`, `Cancel`, `Hangup`, `Play`, `StopPlaying`, `StartTimer`); once it is over,
//! [`CallBack::outcome`] has the result.

use crate::survey::{Survey, SurveyPolicy};
use crate::{Input, LegId, Output, PromptRef, Target, TimerKind};

/// The citizen's leg (the call has no caller leg).
pub const CITIZEN: LegId = LegId(1);

/// What one call-back call is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallBackPlan {
    /// Where to dial: the citizen's number through the trunk.
    pub target: Target,
    /// Played once answered, before the survey («您好，这里是幺二三四五热线，现对您反映的问题进行回访»).
    pub summary: Option<PromptRef>,
    pub survey: SurveyPolicy,
    /// How long it may ring before it counts as no answer.
    pub ring_timeout_ms: i64,
}

/// How the attempt went, in the call-back list's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallBackOutcome {
    /// Reached; `key` is the survey key (None: no key, or the citizen hung up first).
    Answered { key: Option<char> },
    /// Rang out, unavailable, or the call could not be placed (worth another try).
    NoAnswer,
    /// 486 / 600.
    Busy,
    /// The citizen declined the call (603 Decline).
    Refused,
}

impl CallBackOutcome {
    /// A failed leg's final status (RFC 3261 §21) as the attempt's outcome.
    pub fn of_status(status: u16) -> CallBackOutcome {
        match status {
            486 | 600 => CallBackOutcome::Busy,
            603 => CallBackOutcome::Refused,
            _ => CallBackOutcome::NoAnswer,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Ringing,
    Summary,
    Survey,
    Over,
}

#[derive(Debug)]
pub struct CallBack {
    plan: CallBackPlan,
    stage: Stage,
    survey: Option<Survey>,
    outcome: Option<CallBackOutcome>,
}

impl CallBack {
    /// Place the call: dial the citizen, with a ring timer.
    pub fn new(plan: CallBackPlan, _now_ms: i64) -> (CallBack, Vec<Output>) {
        let out = vec![
            Output::Dial {
                leg: CITIZEN,
                target: plan.target.clone(),
            },
            Output::StartTimer {
                kind: TimerKind::SeatRing { attempt: 1 },
                after_ms: plan.ring_timeout_ms,
            },
        ];
        let cb = CallBack {
            plan,
            stage: Stage::Ringing,
            survey: None,
            outcome: None,
        };
        (cb, out)
    }

    pub fn is_finished(&self) -> bool {
        self.stage == Stage::Over
    }

    /// Once finished: how the attempt went.
    pub fn outcome(&self) -> Option<CallBackOutcome> {
        self.outcome
    }

    pub fn handle(&mut self, input: Input, _now_ms: i64) -> Vec<Output> {
        let mut out = Vec::new();
        let leg = CITIZEN;
        match (self.stage, input) {
            (Stage::Over, _) => {}
            (Stage::Ringing, Input::LegAnswered { leg: l }) if l == leg => {
                match self.plan.summary.clone() {
                    Some(prompt) => {
                        self.stage = Stage::Summary;
                        out.push(Output::Play {
                            leg,
                            prompt,
                            looped: false,
                        });
                    }
                    None => self.ask(&mut out),
                }
            }
            (Stage::Ringing, Input::LegFailed { leg: l, status }) if l == leg => {
                self.end(CallBackOutcome::of_status(status), false, &mut out)
            }
            (Stage::Ringing, Input::Timer(TimerKind::SeatRing { .. })) => {
                out.push(Output::Cancel { leg });
                self.end(CallBackOutcome::NoAnswer, false, &mut out);
            }
            (Stage::Summary, Input::PromptFinished { leg: l }) if l == leg => self.ask(&mut out),
            // A key during the summary is already the answer: the citizen knows the survey's keys.
            (Stage::Summary, Input::Dtmf { leg: l, digit }) if l == leg => {
                out.push(Output::StopPlaying { leg });
                self.stage = Stage::Survey;
                self.survey = Some(Survey::keyed(leg, digit, &self.plan.survey, &mut out));
                self.survey_step(|_, _, _| {}, &mut out);
            }
            (Stage::Survey, Input::Dtmf { leg: l, digit }) if l == leg => {
                self.survey_step(|s, p, o| s.on_key(digit, p, o), &mut out)
            }
            (Stage::Survey, Input::PromptFinished { leg: l }) if l == leg => {
                self.survey_step(|s, p, o| s.on_prompt_finished(p, o), &mut out)
            }
            (Stage::Survey, Input::Timer(TimerKind::Survey)) => {
                self.survey_step(|s, p, o| s.on_timer(p, o), &mut out)
            }
            (Stage::Summary | Stage::Survey, Input::LegHangup { leg: l }) if l == leg => {
                let key = self.survey.as_ref().and_then(Survey::key);
                self.end(CallBackOutcome::Answered { key }, false, &mut out);
            }
            (Stage::Summary | Stage::Survey, Input::MediaTimeout { leg: l }) if l == leg => {
                let key = self.survey.as_ref().and_then(Survey::key);
                self.end(CallBackOutcome::Answered { key }, true, &mut out);
            }
            _ => {}
        }
        out
    }

    fn ask(&mut self, out: &mut Vec<Output>) {
        self.stage = Stage::Survey;
        self.survey = Some(Survey::start(CITIZEN, &self.plan.survey, out));
    }

    fn survey_step(
        &mut self,
        f: impl FnOnce(&mut Survey, &SurveyPolicy, &mut Vec<Output>),
        out: &mut Vec<Output>,
    ) {
        let Some(s) = self.survey.as_mut() else {
            return;
        };
        f(s, &self.plan.survey, out);
        if s.is_done() {
            let key = s.key();
            self.end(CallBackOutcome::Answered { key }, true, out);
        }
    }

    fn end(&mut self, outcome: CallBackOutcome, hang_up: bool, out: &mut Vec<Output>) {
        if hang_up {
            out.push(Output::Hangup { leg: CITIZEN });
        }
        self.stage = Stage::Over;
        self.outcome = Some(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(thanks: bool) -> CallBackPlan {
        CallBackPlan {
            target: Target::uri("sip:13800001234@citizens.invalid"),
            summary: Some("summary.wav".into()),
            survey: SurveyPolicy {
                prompt: "survey.wav".into(),
                thanks: thanks.then(|| "thanks.wav".into()),
                key_timeout_ms: 8_000,
                on_seat_hangup: false,
                code: None,
            },
            ring_timeout_ms: 30_000,
        }
    }

    fn play(prompt: &str) -> Output {
        Output::Play {
            leg: CITIZEN,
            prompt: prompt.into(),
            looped: false,
        }
    }

    #[test]
    fn answered_summary_then_survey_key_1_then_thanks_and_bye() {
        let (mut cb, out) = CallBack::new(plan(true), 0);
        assert_eq!(
            out,
            vec![
                Output::Dial {
                    leg: CITIZEN,
                    target: Target::Uri {
                        uri: "sip:13800001234@citizens.invalid".into(),
                        gateway: Some("citizens.invalid".into())
                    }
                },
                Output::StartTimer {
                    kind: TimerKind::SeatRing { attempt: 1 },
                    after_ms: 30_000
                }
            ]
        );
        assert!(cb
            .handle(Input::LegRinging { leg: CITIZEN }, 1_000)
            .is_empty());
        assert_eq!(
            cb.handle(Input::LegAnswered { leg: CITIZEN }, 5_000),
            vec![play("summary.wav")]
        );
        // The ring timer firing after the answer changes nothing.
        assert!(cb
            .handle(Input::Timer(TimerKind::SeatRing { attempt: 1 }), 30_000)
            .is_empty());
        assert_eq!(
            cb.handle(Input::PromptFinished { leg: CITIZEN }, 9_000),
            vec![play("survey.wav")]
        );
        assert_eq!(
            cb.handle(Input::PromptFinished { leg: CITIZEN }, 14_000),
            vec![Output::StartTimer {
                kind: TimerKind::Survey,
                after_ms: 8_000
            }]
        );
        assert_eq!(
            cb.handle(
                Input::Dtmf {
                    leg: CITIZEN,
                    digit: '1'
                },
                16_000
            ),
            vec![play("thanks.wav")]
        );
        assert!(!cb.is_finished());
        assert_eq!(
            cb.handle(Input::PromptFinished { leg: CITIZEN }, 18_000),
            vec![Output::Hangup { leg: CITIZEN }]
        );
        assert!(cb.is_finished());
        assert_eq!(
            cb.outcome(),
            Some(CallBackOutcome::Answered { key: Some('1') })
        );
        assert!(cb
            .handle(Input::LegHangup { leg: CITIZEN }, 18_100)
            .is_empty());
    }

    #[test]
    fn a_key_during_the_summary_is_the_answer() {
        let (mut cb, _) = CallBack::new(plan(false), 0);
        cb.handle(Input::LegAnswered { leg: CITIZEN }, 5_000);
        let out = cb.handle(
            Input::Dtmf {
                leg: CITIZEN,
                digit: '3',
            },
            6_000,
        );
        assert_eq!(
            out,
            vec![
                Output::StopPlaying { leg: CITIZEN },
                Output::Hangup { leg: CITIZEN }
            ]
        );
        assert_eq!(
            cb.outcome(),
            Some(CallBackOutcome::Answered { key: Some('3') })
        );
    }

    #[test]
    fn ringing_out_is_no_answer_and_the_leg_is_cancelled() {
        let (mut cb, _) = CallBack::new(plan(false), 0);
        cb.handle(Input::LegRinging { leg: CITIZEN }, 1_000);
        assert_eq!(
            cb.handle(Input::Timer(TimerKind::SeatRing { attempt: 1 }), 30_000),
            vec![Output::Cancel { leg: CITIZEN }]
        );
        assert_eq!(cb.outcome(), Some(CallBackOutcome::NoAnswer));
        // Its 487 after the CANCEL changes nothing.
        assert!(cb
            .handle(
                Input::LegFailed {
                    leg: CITIZEN,
                    status: 487
                },
                30_100
            )
            .is_empty());
        assert_eq!(cb.outcome(), Some(CallBackOutcome::NoAnswer));
    }

    #[test]
    fn final_statuses_map_to_outcomes() {
        for (status, outcome) in [
            (480, CallBackOutcome::NoAnswer),
            (408, CallBackOutcome::NoAnswer),
            (503, CallBackOutcome::NoAnswer),
            (486, CallBackOutcome::Busy),
            (600, CallBackOutcome::Busy),
            (603, CallBackOutcome::Refused),
        ] {
            let (mut cb, _) = CallBack::new(plan(false), 0);
            let out = cb.handle(
                Input::LegFailed {
                    leg: CITIZEN,
                    status,
                },
                2_000,
            );
            assert!(out.is_empty(), "{status}: {out:?}");
            assert!(cb.is_finished());
            assert_eq!(cb.outcome(), Some(outcome), "{status}");
        }
    }

    #[test]
    fn no_key_and_a_hang_up_during_the_survey_are_answered_without_a_key() {
        let (mut cb, _) = CallBack::new(plan(false), 0);
        cb.handle(Input::LegAnswered { leg: CITIZEN }, 5_000);
        cb.handle(Input::PromptFinished { leg: CITIZEN }, 9_000);
        cb.handle(Input::PromptFinished { leg: CITIZEN }, 14_000);
        assert_eq!(
            cb.handle(Input::Timer(TimerKind::Survey), 22_000),
            vec![Output::Hangup { leg: CITIZEN }]
        );
        assert_eq!(cb.outcome(), Some(CallBackOutcome::Answered { key: None }));

        let (mut cb, _) = CallBack::new(plan(false), 0);
        cb.handle(Input::LegAnswered { leg: CITIZEN }, 5_000);
        assert!(cb
            .handle(Input::LegHangup { leg: CITIZEN }, 6_000)
            .is_empty());
        assert_eq!(cb.outcome(), Some(CallBackOutcome::Answered { key: None }));
    }
}
