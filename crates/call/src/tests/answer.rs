//! The answer policy (issue 13): by default a queued caller is answered before the greeting; early media stays
//! an option, answered anyway after `early_media_max_ms`; forwarded calls wait for the far end.

use super::*;

fn queue_plan() -> Plan {
    Plan::Queue {
        prompt: Some("greeting.wav".into()),
        queue: "main".into(),
        hold: Some("please_wait.wav".into()),
    }
}

/// Greeting over, queued, seat 1001 offered at 90 s and answering at 95 s.
fn seat_answers(call: &mut Call) -> Vec<Output> {
    let out = call.handle(Input::PromptFinished { leg: CALLER }, 6_000);
    assert!(out.contains(&Output::Enqueue {
        queue: "main".into()
    }));
    call.handle(
        Input::SeatAssigned {
            seat: "1001".into(),
        },
        90_000,
    );
    call.handle(Input::LegAnswered { leg: LegId(1) }, 95_000)
}

#[test]
fn by_default_the_caller_is_answered_before_the_greeting_and_the_record_keeps_both_answers() {
    let (mut call, out) = start(queue_plan(), CallPolicy::default());
    assert_eq!(out[0], Output::Answer, "{out:?}");
    assert!(
        matches!(&out[1], Output::Play { looped: false, .. }),
        "{out:?}"
    );
    assert!(!out.contains(&Output::EarlyMedia));
    let out = seat_answers(&mut call);
    assert!(!out.contains(&Output::Answer), "answered once: {out:?}");
    assert!(out.contains(&Output::Bridge {
        a: CALLER,
        b: LegId(1)
    }));
    let out = call.handle(Input::LegHangup { leg: CALLER }, 120_000);
    let r = record(&out);
    let wall = setup().wall_start_ms;
    assert_eq!(r.system_answered_at_ms, Some(wall));
    assert_eq!(r.answered_at_ms, Some(wall + 95_000), "the person's answer");
    assert_eq!(r.wait_ms, 95_000);
}

#[test]
fn an_answered_caller_who_goes_silent_while_queued_is_ended_by_the_media_timeout() {
    let (mut call, _) = start(queue_plan(), CallPolicy::default());
    call.handle(Input::PromptFinished { leg: CALLER }, 6_000);
    let out = call.handle(Input::MediaTimeout { leg: CALLER }, 40_000);
    let r = record(&out);
    assert_eq!(r.answered_at_ms, None, "no person answered");
    assert!(r.system_answered_at_ms.is_some());
}

#[test]
fn early_media_is_answered_anyway_after_its_maximum() {
    let policy = CallPolicy {
        early_media_max_ms: Some(5_000),
        ..early_media()
    };
    let (mut call, out) = start(queue_plan(), policy);
    assert_eq!(out[0], Output::EarlyMedia);
    assert!(out.contains(&Output::StartTimer {
        kind: TimerKind::EarlyMedia,
        after_ms: 5_000
    }));
    let out = call.handle(Input::Timer(TimerKind::EarlyMedia), 5_000);
    assert_eq!(out, vec![Output::Answer]);
    let out = seat_answers(&mut call);
    assert!(!out.contains(&Output::Answer), "{out:?}");
    let out = call.handle(Input::LegHangup { leg: CALLER }, 120_000);
    let r = record(&out);
    assert_eq!(r.system_answered_at_ms, Some(setup().wall_start_ms + 5_000));
    assert_eq!(r.answered_at_ms, Some(setup().wall_start_ms + 95_000));
}

#[test]
fn early_media_answered_by_a_seat_first_ignores_the_late_timer() {
    let policy = CallPolicy {
        early_media_max_ms: Some(120_000),
        ..early_media()
    };
    let (mut call, _) = start(queue_plan(), policy);
    let out = seat_answers(&mut call);
    assert!(
        out.contains(&Output::Answer),
        "the 200 at the seat's answer: {out:?}"
    );
    assert!(call
        .handle(Input::Timer(TimerKind::EarlyMedia), 120_000)
        .is_empty());
    let out = call.handle(Input::LegHangup { leg: CALLER }, 130_000);
    let r = record(&out);
    assert_eq!(r.system_answered_at_ms, r.answered_at_ms);
}

#[test]
fn forwarded_calls_stay_in_early_media_until_the_far_end_answers() {
    let plan = Plan::Connect {
        prompt: None,
        target: Target::uri("sip:110@emergency-trunk.invalid"),
    };
    let policy = CallPolicy {
        early_media_max_ms: Some(5_000),
        ..CallPolicy::default()
    };
    let (mut call, out) = start(plan, policy);
    assert_eq!(out[0], Output::EarlyMedia);
    assert!(!out.iter().any(|o| matches!(
        o,
        Output::StartTimer {
            kind: TimerKind::EarlyMedia,
            ..
        }
    )));
    let out = call.handle(Input::LegAnswered { leg: LegId(1) }, 3_000);
    assert!(out.contains(&Output::Answer), "{out:?}");
}
