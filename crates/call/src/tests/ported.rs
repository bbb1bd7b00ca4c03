use super::*;

fn queue_plan() -> Plan {
    Plan::Queue {
        prompt: Some("greeting.wav".into()),
        queue: "main".into(),
        hold: Some("please_wait.wav".into()),
    }
}

/// Drive a call from INVITE to a connected seat; returns the call at t = 20 s.
fn connected() -> Call {
    let (mut call, out) = start(queue_plan(), CallPolicy::default());
    assert_eq!(out[0], Output::EarlyMedia);
    assert!(matches!(&out[1], Output::Play { looped: false, .. }));
    let out = call.handle(Input::PromptFinished { leg: CALLER }, 6_000);
    assert!(out.contains(&Output::Enqueue {
        queue: "main".into()
    }));
    assert!(matches!(&out[0], Output::Play { looped: true, .. }));
    let out = call.handle(
        Input::SeatAssigned {
            seat: "1001".into(),
        },
        10_000,
    );
    assert_eq!(
        out,
        vec![
            Output::Dial {
                leg: LegId(1),
                target: Target::Seat {
                    seat: "1001".into()
                }
            },
            Output::StartTimer {
                kind: TimerKind::SeatRing { attempt: 1 },
                after_ms: 15_000
            }
        ]
    );
    let out = call.handle(Input::LegAnswered { leg: LegId(1) }, 20_000);
    assert_eq!(
        out,
        vec![
            Output::StopPlaying { leg: CALLER },
            Output::Answer,
            Output::Bridge {
                a: CALLER,
                b: LegId(1)
            },
            Output::SeatAnswered {
                seat: "1001".into(),
                queue: "main".into(),
                waited_ms: 14_000
            }
        ]
    );
    call
}

#[test]
fn caller_hangup_after_talk_ends_both_legs_with_one_record() {
    let mut call = connected();
    assert!(call.handle(Input::CallerAck, 20_050).is_empty());
    let out = call.handle(Input::LegHangup { leg: CALLER }, 80_000);
    assert_eq!(out[0], Output::Hangup { leg: LegId(1) });
    assert_eq!(
        out[1],
        Output::SeatReleased {
            seat: "1001".into()
        }
    );
    let r = record(&out);
    assert_eq!(r.end_reason, EndReason::CallerHangup);
    assert_eq!(r.answered_at_ms, Some(20_000));
    assert_eq!(r.wait_ms, 20_000);
    assert_eq!(r.seat.as_deref(), Some("1001"));
    assert_eq!(r.original_called.as_deref(), Some("12315"));
    assert!(call.is_finished());
    assert!(
        call.handle(Input::LegHangup { leg: LegId(1) }, 80_010)
            .is_empty(),
        "no second record"
    );
}

#[test]
fn seat_hangup_ends_caller_leg() {
    let mut call = connected();
    let out = call.handle(Input::LegHangup { leg: LegId(1) }, 30_000);
    assert_eq!(out[0], Output::Hangup { leg: CALLER });
    assert_eq!(record(&out).end_reason, EndReason::SeatHangup);
}

#[test]
fn cancel_while_queued_is_abandoned_with_487() {
    let (mut call, _) = start(queue_plan(), CallPolicy::default());
    call.handle(Input::PromptFinished { leg: CALLER }, 6_000);
    call.handle(
        Input::Dtmf {
            leg: CALLER,
            digit: '9',
        },
        7_000,
    );
    let out = call.handle(Input::CallerCancel, 9_000);
    assert_eq!(
        out[0],
        Output::Reject {
            status: 487,
            reason: "Request Terminated".into()
        }
    );
    assert_eq!(
        out[1],
        Output::Abandon {
            queue: "main".into()
        }
    );
    let r = record(&out);
    assert_eq!(r.end_reason, EndReason::AbandonedInQueue);
    assert_eq!(r.digits, "9");
    assert_eq!(r.seat, None);
    assert_eq!(r.wait_ms, 9_000);
}

#[test]
fn cancel_while_seat_rings_cancels_the_seat_leg() {
    let (mut call, _) = start(queue_plan(), CallPolicy::default());
    call.handle(Input::PromptFinished { leg: CALLER }, 6_000);
    call.handle(
        Input::SeatAssigned {
            seat: "1002".into(),
        },
        7_000,
    );
    let out = call.handle(Input::CallerCancel, 8_000);
    assert!(out.contains(&Output::Cancel { leg: LegId(1) }));
    assert!(out.contains(&Output::Abandon {
        queue: "main".into()
    }));
    assert_eq!(record(&out).end_reason, EndReason::AbandonedInQueue);
}

#[test]
fn cancel_during_greeting_is_cancelled_not_abandoned() {
    let (mut call, _) = start(queue_plan(), CallPolicy::default());
    let out = call.handle(Input::CallerCancel, 1_000);
    assert_eq!(record(&out).end_reason, EndReason::Cancelled);
    assert!(!out.iter().any(|o| matches!(o, Output::Abandon { .. })));
}

#[test]
fn seat_no_answer_requeues_and_late_timer_is_ignored() {
    let (mut call, _) = start(queue_plan(), CallPolicy::default());
    call.handle(Input::PromptFinished { leg: CALLER }, 1_000);
    call.handle(
        Input::SeatAssigned {
            seat: "1001".into(),
        },
        2_000,
    );
    let out = call.handle(Input::Timer(TimerKind::SeatRing { attempt: 1 }), 17_000);
    assert_eq!(
        out,
        vec![
            Output::Cancel { leg: LegId(1) },
            Output::SeatOfferFailed {
                seat: "1001".into(),
                queue: "main".into(),
                waiting_since_ms: 1_000,
                why: OfferFailure::NoAnswer,
            }
        ]
    );
    // The next assignment dials a new leg; the first seat's leg is gone for good.
    let out = call.handle(
        Input::SeatAssigned {
            seat: "1002".into(),
        },
        18_000,
    );
    assert!(matches!(out[0], Output::Dial { leg: LegId(2), .. }));
    assert!(call
        .handle(Input::Timer(TimerKind::SeatRing { attempt: 1 }), 18_500)
        .is_empty());
    assert!(call
        .handle(Input::LegAnswered { leg: LegId(1) }, 18_600)
        .is_empty());
    let out = call.handle(Input::LegAnswered { leg: LegId(2) }, 19_000);
    assert!(out.contains(&Output::SeatAnswered {
        seat: "1002".into(),
        queue: "main".into(),
        waited_ms: 18_000
    }));
}

#[test]
fn seat_busy_requeues() {
    let (mut call, _) = start(queue_plan(), CallPolicy::default());
    call.handle(Input::PromptFinished { leg: CALLER }, 1_000);
    call.handle(
        Input::SeatAssigned {
            seat: "1001".into(),
        },
        2_000,
    );
    let out = call.handle(
        Input::LegFailed {
            leg: LegId(1),
            status: 486,
        },
        3_000,
    );
    assert!(matches!(
        out[0],
        Output::SeatOfferFailed {
            why: OfferFailure::Refused,
            ..
        }
    ));
    assert_eq!(call.seat(), None);
}

#[test]
fn reject_plan_finishes_at_once() {
    let (call, out) = start(
        Plan::Reject {
            status: 404,
            reason: "Not Found".into(),
        },
        CallPolicy::default(),
    );
    assert!(call.is_finished());
    assert_eq!(
        out[0],
        Output::Reject {
            status: 404,
            reason: "Not Found".into()
        }
    );
    assert_eq!(record(&out).end_reason, EndReason::Rejected);
}

#[test]
fn prompt_then_hangup_in_early_media_ends_with_480() {
    let (mut call, out) = start(
        Plan::PromptThenHangup {
            prompt: "merged.wav".into(),
        },
        CallPolicy::default(),
    );
    assert_eq!(out[0], Output::EarlyMedia);
    let out = call.handle(Input::PromptFinished { leg: CALLER }, 13_000);
    assert!(matches!(out[0], Output::Reject { status: 480, .. }));
    assert_eq!(record(&out).end_reason, EndReason::PromptThenHangup);
}

#[test]
fn answer_first_policy_answers_then_byes_after_prompt() {
    let policy = CallPolicy {
        answer_before_queue: true,
        ..CallPolicy::default()
    };
    let (mut call, out) = start(
        Plan::PromptThenHangup {
            prompt: "merged.wav".into(),
        },
        policy,
    );
    assert_eq!(out[0], Output::Answer);
    let out = call.handle(Input::PromptFinished { leg: CALLER }, 13_000);
    assert_eq!(out[0], Output::Hangup { leg: CALLER });
}

#[test]
fn answered_caller_cannot_cancel() {
    let mut call = connected();
    assert!(call.handle(Input::CallerCancel, 21_000).is_empty());
    assert!(!call.is_finished());
}

#[test]
fn assignment_after_leaving_queue_returns_the_seat() {
    let mut call = connected();
    let out = call.handle(
        Input::SeatAssigned {
            seat: "1003".into(),
        },
        21_000,
    );
    assert!(matches!(&out[0], Output::SeatOfferFailed { seat, .. } if seat == "1003"));
}

#[test]
fn ack_timeout_tears_down() {
    let mut call = connected();
    let out = call.handle(Input::AckTimeout, 52_000);
    assert!(out.contains(&Output::Hangup { leg: LegId(1) }));
    assert!(out.contains(&Output::Hangup { leg: CALLER }));
    assert_eq!(record(&out).end_reason, EndReason::Failed);
}

fn connect_plan() -> Plan {
    Plan::Connect {
        prompt: None,
        target: Target::uri("sip:110@emergency-trunk.invalid"),
    }
}

#[test]
fn connect_rings_the_target_without_the_acd_and_bridges() {
    let (mut call, out) = start(connect_plan(), CallPolicy::default());
    assert_eq!(out[0], Output::EarlyMedia);
    assert_eq!(
        out[1],
        Output::Dial {
            leg: LegId(1),
            target: Target::Uri {
                uri: "sip:110@emergency-trunk.invalid".into(),
                gateway: Some("emergency-trunk.invalid".into())
            }
        }
    );
    assert!(!out.iter().any(|o| matches!(o, Output::Enqueue { .. })));
    let out = call.handle(Input::LegAnswered { leg: LegId(1) }, 2_000);
    assert_eq!(
        out,
        vec![
            Output::StopPlaying { leg: CALLER },
            Output::Answer,
            Output::Bridge {
                a: CALLER,
                b: LegId(1)
            }
        ]
    );
    let out = call.handle(Input::LegHangup { leg: CALLER }, 9_000);
    assert_eq!(out[0], Output::Hangup { leg: LegId(1) });
    assert!(!out.iter().any(|o| matches!(o, Output::SeatReleased { .. })));
    let r = record(&out);
    assert_eq!(r.end_reason, EndReason::CallerHangup);
    assert_eq!(
        r.seat, None,
        "a forwarded call was not taken by one of our seats"
    );
}

#[test]
fn connect_target_failure_is_passed_to_the_caller() {
    let (mut call, _) = start(connect_plan(), CallPolicy::default());
    let out = call.handle(
        Input::LegFailed {
            leg: LegId(1),
            status: 503,
        },
        1_000,
    );
    assert!(out.contains(&Output::Reject {
        status: 503,
        reason: "Target Unavailable".into()
    }));
    assert_eq!(record(&out).end_reason, EndReason::Failed);
    let (mut call, _) = start(connect_plan(), CallPolicy::default());
    let out = call.handle(Input::Timer(TimerKind::SeatRing { attempt: 1 }), 60_000);
    assert_eq!(out[0], Output::Cancel { leg: LegId(1) });
    assert!(out.contains(&Output::Reject {
        status: 408,
        reason: "Target Unavailable".into()
    }));
}

#[test]
fn connect_cancel_while_ringing_cancels_the_target() {
    let (mut call, _) = start(connect_plan(), CallPolicy::default());
    let out = call.handle(Input::CallerCancel, 1_000);
    assert!(out.contains(&Output::Cancel { leg: LegId(1) }));
    assert!(!out.iter().any(|o| matches!(o, Output::Abandon { .. })));
    assert_eq!(record(&out).end_reason, EndReason::Cancelled);
}

fn menu_plan() -> Plan {
    Plan::Menu {
        prompt: "menu.wav".into(),
        fallback_queue: "line1".into(),
        hold: Some("please_wait.wav".into()),
    }
}

/// A menu call whose router sends key 9 to the "supervision" queue and plays the menu again on any other key.
fn menu_call() -> (Call, Vec<Output>) {
    let menu = decision(Action::Menu, Some("menu.wav"), Some("line1"), None);
    let router = FakeRouter::new(vec![
        (
            "9",
            decision(Action::Queue, None, Some("supervision"), None),
        ),
        ("7", menu.clone()),
    ]);
    Call::with_plan(
        setup_with(menu, router, 0),
        CallPolicy::default(),
        menu_plan(),
        0,
    )
}

#[test]
fn menu_key_barges_in_and_the_plan_decides_again() {
    let (mut call, out) = menu_call();
    assert_eq!(out[0], Output::EarlyMedia);
    assert!(matches!(&out[1], Output::Play { looped: false, .. }));
    // The key is routed inside `handle`: no Reroute round trip through the shell.
    let out = call.handle(
        Input::Dtmf {
            leg: CALLER,
            digit: '9',
        },
        2_000,
    );
    assert_eq!(
        out,
        vec![
            Output::StopPlaying { leg: CALLER },
            Output::Enqueue {
                queue: "supervision".into()
            }
        ]
    );
    // Later keys are just recorded.
    assert!(call
        .handle(
            Input::Dtmf {
                leg: CALLER,
                digit: '5'
            },
            3_000
        )
        .is_empty());
    let out = call.handle(Input::CallerCancel, 4_000);
    let r = record(&out);
    assert_eq!(r.digits, "95");
    assert_eq!(r.end_reason, EndReason::AbandonedInQueue);
}

#[test]
fn menu_without_a_key_falls_back_to_its_queue_and_stale_timers_are_ignored() {
    let (mut call, _) = start(menu_plan(), CallPolicy::default());
    let out = call.handle(Input::PromptFinished { leg: CALLER }, 4_000);
    assert_eq!(
        out,
        vec![Output::StartTimer {
            kind: TimerKind::Menu { round: 1 },
            after_ms: 5_000
        }]
    );
    let out = call.handle(Input::Timer(TimerKind::Menu { round: 1 }), 9_000);
    assert!(out.contains(&Output::Enqueue {
        queue: "line1".into()
    }));
    assert!(call
        .handle(Input::Timer(TimerKind::Menu { round: 1 }), 9_500)
        .is_empty());
}

#[test]
fn unknown_menu_key_plays_the_menu_again() {
    let (mut call, _) = menu_call();
    let out = call.handle(
        Input::Dtmf {
            leg: CALLER,
            digit: '7',
        },
        1_000,
    );
    assert_eq!(out[0], Output::StopPlaying { leg: CALLER });
    assert!(matches!(&out[1], Output::Play { looped: false, .. }));
    // The first round's timer no longer applies.
    assert!(call
        .handle(Input::Timer(TimerKind::Menu { round: 1 }), 9_000)
        .is_empty());
}

#[test]
fn silence_during_early_media_is_not_a_media_timeout() {
    let (mut call, _) = start(queue_plan(), CallPolicy::default());
    call.handle(Input::PromptFinished { leg: CALLER }, 6_000);
    assert!(call
        .handle(Input::MediaTimeout { leg: CALLER }, 70_000)
        .is_empty());
    assert!(
        !call.is_finished(),
        "a caller queued in early media keeps waiting"
    );
    let mut call = connected();
    let out = call.handle(Input::MediaTimeout { leg: CALLER }, 90_000);
    assert_eq!(record(&out).end_reason, EndReason::Failed);
}
