//! The satisfaction survey after the operator leaves, in simulated time.

use super::transfer::play;
use super::*;

const OP: LegId = LegId(1);

fn survey_policy(on_seat_hangup: bool, code: Option<&str>, thanks: bool) -> SurveyPolicy {
    SurveyPolicy {
        prompt: "survey.wav".into(),
        thanks: thanks.then(|| "thanks.wav".into()),
        key_timeout_ms: 8_000,
        on_seat_hangup,
        code: code.map(str::to_string),
    }
}

/// A caller talking with operator seat 1001 (leg 1) since t = 2 s, under `survey`.
fn talking(survey: Option<SurveyPolicy>) -> Call {
    let policy = CallPolicy {
        survey,
        ..CallPolicy::default()
    };
    let plan = Plan::Queue {
        prompt: None,
        queue: "main".into(),
        hold: None,
    };
    let (mut call, _) = Call::with_plan(setup(), policy, plan, 0);
    call.handle(
        Input::SeatAssigned {
            seat: "1001".into(),
        },
        1_000,
    );
    let out = call.handle(Input::LegAnswered { leg: OP }, 2_000);
    assert!(out.contains(&Output::Bridge { a: CALLER, b: OP }));
    call
}

fn seat_hangs_up(call: &mut Call, at_ms: i64) -> Vec<Output> {
    call.handle(Input::LegHangup { leg: OP }, at_ms)
}

#[test]
fn without_a_survey_the_seats_hang_up_ends_the_call_as_before() {
    let mut call = talking(None);
    let out = seat_hangs_up(&mut call, 30_000);
    assert_eq!(out[0], Output::Hangup { leg: CALLER });
    let r = record(&out);
    assert_eq!(r.end_reason, EndReason::SeatHangup);
    assert_eq!(r.survey, None);
}

#[test]
fn the_seat_hangs_up_the_caller_hears_the_survey_and_presses_2_during_the_prompt() {
    let mut call = talking(Some(survey_policy(true, None, true)));
    let out = seat_hangs_up(&mut call, 30_000);
    assert_eq!(
        out,
        vec![
            Output::Isolate { leg: OP },
            Output::SeatReleased {
                seat: "1001".into()
            },
            play(CALLER, "survey.wav", false),
        ]
    );
    assert!(!call.is_finished());
    assert_eq!(call.seat(), None, "the seat is no longer the call's");
    // Barge-in: the key cuts the question short; the thank-you plays, then the caller is hung up.
    let out = call.handle(
        Input::Dtmf {
            leg: CALLER,
            digit: '2',
        },
        33_000,
    );
    assert_eq!(
        out,
        vec![
            Output::StopPlaying { leg: CALLER },
            play(CALLER, "thanks.wav", false)
        ]
    );
    // A second key changes nothing.
    assert!(call
        .handle(
            Input::Dtmf {
                leg: CALLER,
                digit: '3'
            },
            33_500
        )
        .is_empty());
    let out = call.handle(Input::PromptFinished { leg: CALLER }, 35_000);
    assert_eq!(out[0], Output::Hangup { leg: CALLER });
    let r = record(&out);
    assert_eq!(r.end_reason, EndReason::SeatHangup);
    assert_eq!(
        r.survey,
        Some(record::Survey {
            key: Some('2'),
            at_ms: 35_000
        })
    );
    assert_eq!(r.seat.as_deref(), Some("1001"));
    assert!(call.is_finished());
}

#[test]
fn no_key_within_the_timeout_is_no_answer() {
    let mut call = talking(Some(survey_policy(true, None, false)));
    seat_hangs_up(&mut call, 30_000);
    let out = call.handle(Input::PromptFinished { leg: CALLER }, 36_000);
    assert_eq!(
        out,
        vec![Output::StartTimer {
            kind: TimerKind::Survey,
            after_ms: 8_000
        }]
    );
    let out = call.handle(Input::Timer(TimerKind::Survey), 44_000);
    assert_eq!(out[0], Output::Hangup { leg: CALLER });
    let r = record(&out);
    assert_eq!(
        r.survey,
        Some(record::Survey {
            key: None,
            at_ms: 44_000
        })
    );
}

#[test]
fn a_key_after_the_prompt_and_before_the_timeout_counts_and_the_late_timer_is_ignored() {
    let mut call = talking(Some(survey_policy(true, None, false)));
    seat_hangs_up(&mut call, 30_000);
    call.handle(Input::PromptFinished { leg: CALLER }, 36_000);
    let out = call.handle(
        Input::Dtmf {
            leg: CALLER,
            digit: '1',
        },
        43_999,
    );
    assert_eq!(out[0], Output::Hangup { leg: CALLER });
    assert_eq!(record(&out).survey.and_then(|s| s.key), Some('1'));
    assert!(call
        .handle(Input::Timer(TimerKind::Survey), 44_000)
        .is_empty());
}

#[test]
fn the_caller_hanging_up_during_the_survey_is_no_answer_and_gets_no_bye() {
    let mut call = talking(Some(survey_policy(true, None, true)));
    seat_hangs_up(&mut call, 30_000);
    let out = call.handle(Input::LegHangup { leg: CALLER }, 31_000);
    assert!(!out.contains(&Output::Hangup { leg: CALLER }), "{out:?}");
    let r = record(&out);
    assert_eq!(r.end_reason, EndReason::SeatHangup);
    assert_eq!(r.survey.map(|s| s.key), Some(None));
}

#[test]
fn the_operator_keys_star_9_the_seat_is_hung_up_and_the_caller_surveyed() {
    let mut call = talking(Some(survey_policy(false, Some("*9"), false)));
    let out = call.handle(
        Input::Dtmf {
            leg: OP,
            digit: '*',
        },
        20_000,
    );
    assert!(
        !out.iter().any(|o| matches!(o, Output::Hangup { .. })),
        "{out:?}"
    );
    let out = call.handle(
        Input::Dtmf {
            leg: OP,
            digit: '9',
        },
        20_300,
    );
    assert_eq!(
        out,
        vec![
            Output::Isolate { leg: OP },
            Output::Hangup { leg: OP },
            Output::SeatReleased {
                seat: "1001".into()
            },
            play(CALLER, "survey.wav", false),
        ]
    );
    // The seat's 200 to our BYE comes as its hang-up: nothing more happens.
    assert!(seat_hangs_up(&mut call, 20_400).is_empty());
    let out = call.handle(
        Input::Dtmf {
            leg: CALLER,
            digit: '3',
        },
        22_000,
    );
    let r = record(&out);
    assert_eq!(r.survey.and_then(|s| s.key), Some('3'));
    assert_eq!(r.end_reason, EndReason::SeatHangup);
}

#[test]
fn only_the_code_starts_it_and_the_seats_hang_up_does_not_when_only_the_code_is_configured() {
    let mut call = talking(Some(survey_policy(false, Some("*9"), false)));
    // `*` then `9` too late: no code; `9` alone: no code.
    call.handle(
        Input::Dtmf {
            leg: OP,
            digit: '*',
        },
        20_000,
    );
    let out = call.handle(
        Input::Dtmf {
            leg: OP,
            digit: '9',
        },
        26_000,
    );
    assert!(out.iter().all(|o| !matches!(o, Output::Hangup { .. })));
    let out = seat_hangs_up(&mut call, 30_000);
    assert_eq!(out[0], Output::Hangup { leg: CALLER });
    assert_eq!(record(&out).survey, None);
}

#[test]
fn the_callers_own_keys_while_talking_start_nothing() {
    let mut call = talking(Some(survey_policy(true, Some("*9"), false)));
    for digit in ['*', '9'] {
        let out = call.handle(Input::Dtmf { leg: CALLER, digit }, 20_000);
        assert!(out.is_empty(), "{out:?}");
    }
    assert_eq!(call.seat(), Some("1001"));
}
