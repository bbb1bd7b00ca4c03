//! The one-key three-way transfer, in simulated time: the answer target's edges, every fallback, who leaves
//! when, and ring-all.

use super::*;
use dialplan::Action;

pub(super) const OP: LegId = LegId(1);
const DEPT: LegId = LegId(2);
const T0: i64 = 10_000;

/// A plan that knows two transfer targets: 12348 (code 8) out through a trunk, and 8121135 (code 1) the
/// seat group `ybj`.
pub(super) struct TransferRouter;

impl Router for TransferRouter {
    fn route(&self, _q: &CallQuery<'_>) -> Decision {
        decision(Action::Queue, None, Some("main"), None)
    }

    fn transfer_target(&self, dialled: &str) -> Option<TransferDest> {
        match dialled {
            "12348" | "8" => Some(TransferDest {
                number: "12348".into(),
                department: Some("市司法局".into()),
                target: Target::uri("sip:12348@gw-sfj"),
                answer_target_ms: 15_000,
                emergency: false,
            }),
            "110" => Some(TransferDest {
                number: "110".into(),
                department: Some("市公安局".into()),
                target: Target::uri("sip:110@gw-police"),
                answer_target_ms: 15_000,
                emergency: true,
            }),
            "8121135" | "1" => Some(TransferDest {
                number: "8121135".into(),
                department: Some("市医保局".into()),
                target: Target::Group {
                    group: "ybj".into(),
                },
                answer_target_ms: 15_000,
                emergency: false,
            }),
            _ => None,
        }
    }
}

pub(super) fn policy() -> CallPolicy {
    CallPolicy {
        hold: Some("hold.wav".into()),
        transfer: TransferPolicy {
            caller_prompt: Some("transfer_ringing.wav".into()),
            ringback: Some("ringback.wav".into()),
            fallback_prompt: Some("beep.wav".into()),
            ..TransferPolicy::default()
        },
        ..CallPolicy::default()
    }
}

/// A caller talking with operator seat 1001 (leg 1) since t = 2 s.
pub(super) fn talking() -> Call {
    let setup = setup_with(
        decision(Action::Queue, None, Some("main"), None),
        Arc::new(TransferRouter),
        1_700_000_000_000,
    );
    let plan = Plan::Queue {
        prompt: None,
        queue: "main".into(),
        hold: Some("hold.wav".into()),
    };
    let (mut call, _) = Call::with_plan(setup, policy(), plan, 0);
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

/// The operator keys `keys` (RFC 4733 or INFO, the same input) at `at_ms`; all outputs but key timers.
fn key(call: &mut Call, keys: &str, at_ms: i64) -> Vec<Output> {
    let mut out = Vec::new();
    for digit in keys.chars() {
        out.extend(call.handle(Input::Dtmf { leg: OP, digit }, at_ms));
    }
    out.retain(|o| {
        !matches!(
            o,
            Output::StartTimer {
                kind: TimerKind::Keys { .. },
                ..
            }
        )
    });
    out
}

pub(super) fn play(leg: LegId, prompt: &str, looped: bool) -> Output {
    Output::Play {
        leg,
        prompt: prompt.into(),
        looped,
    }
}

/// `*2 12348 #` at T0: the attempt starts.
fn ringing() -> Call {
    let mut call = talking();
    let out = key(&mut call, "*212348#", T0);
    assert_eq!(
        out,
        vec![
            Output::Isolate { leg: CALLER },
            play(CALLER, "transfer_ringing.wav", true),
            play(OP, "ringback.wav", true),
            Output::Dial {
                leg: DEPT,
                target: Target::Uri {
                    uri: "sip:12348@gw-sfj".into(),
                    gateway: Some("gw-sfj".into()),
                },
            },
            Output::StartTimer {
                kind: TimerKind::Transfer { attempt: 1 },
                after_ms: 15_001,
            },
        ]
    );
    assert_eq!(
        call.dtmf_of(OP),
        "*212348#",
        "the operator's keys, as its own"
    );
    assert_eq!(call.dtmf_of(CALLER), "");
    call
}

fn three_way_at(answer_after_ms: i64) -> Call {
    let mut call = ringing();
    call.handle(Input::LegRinging { leg: DEPT }, T0 + 300);
    let out = call.handle(Input::LegAnswered { leg: DEPT }, T0 + answer_after_ms);
    assert_eq!(
        out,
        vec![
            Output::StopPlaying { leg: CALLER },
            Output::StopPlaying { leg: OP },
            Output::Mix {
                legs: vec![CALLER, OP, DEPT]
            },
        ],
        "answered {answer_after_ms} ms after the dial: in time"
    );
    assert_eq!(*call.topology(), Topology::Mix(vec![CALLER, OP, DEPT]));
    call
}

/// End the call (the caller hangs up) and return its transfer attempts.
fn attempts(mut call: Call, at_ms: i64) -> Vec<TransferAttempt> {
    let out = call.handle(Input::LegHangup { leg: CALLER }, at_ms);
    record(&out).transfers.clone()
}

#[test]
fn answered_at_14_9_and_at_15_0_seconds_is_in_time_and_mixes_the_three() {
    for after in [14_900, 15_000] {
        let mut call = three_way_at(after);
        // The operator hangs up: caller and department stay bridged.
        let out = call.handle(Input::LegHangup { leg: OP }, T0 + 60_000);
        assert_eq!(
            out,
            vec![
                Output::Isolate { leg: OP },
                Output::Bridge { a: CALLER, b: DEPT },
                Output::SeatReleased {
                    seat: "1001".into()
                },
            ]
        );
        assert_eq!(call.partner(), Some(DEPT));
        let a = attempts(call, T0 + 90_000);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].outcome, TransferOutcome::Answered);
        assert_eq!(a[0].ended_by, Some(TransferEndedBy::Operator));
        assert_eq!(a[0].ring_ms(), after);
        assert!(a[0].answered_in_target(), "{after} ms is within 15 s");
        assert_eq!(a[0].department.as_deref(), Some("市司法局"));
        assert_eq!(a[0].started_at_ms, 1_700_000_000_000 + T0);
    }
}

#[test]
fn not_answered_by_15_seconds_falls_back_and_a_later_answer_is_ignored() {
    let mut call = ringing();
    let out = call.handle(
        Input::Timer(TimerKind::Transfer { attempt: 1 }),
        T0 + 15_001,
    );
    assert_eq!(
        out,
        vec![
            Output::Cancel { leg: DEPT },
            Output::StopPlaying { leg: CALLER },
            Output::StopPlaying { leg: OP },
            Output::Bridge { a: CALLER, b: OP },
            play(CALLER, "beep.wav", false),
            play(OP, "beep.wav", false),
        ]
    );
    // The department picks up at 15.1 s: too late, it is already cancelled (the session hangs it up).
    assert!(call
        .handle(Input::LegAnswered { leg: DEPT }, T0 + 15_100)
        .is_empty());
    let a = attempts(call, T0 + 30_000);
    assert_eq!(a[0].outcome, TransferOutcome::NoAnswer);
    assert_eq!(a[0].ended_by, Some(TransferEndedBy::Timer));
    assert!(!a[0].answered_in_target());
}

#[test]
fn an_answer_at_15_1_seconds_before_its_timer_is_still_too_late() {
    let mut call = ringing();
    let out = call.handle(Input::LegAnswered { leg: DEPT }, T0 + 15_100);
    assert_eq!(out[0], Output::Hangup { leg: DEPT });
    assert!(out.contains(&Output::Bridge { a: CALLER, b: OP }));
    assert!(!out.iter().any(|o| matches!(o, Output::Mix { .. })));
    assert_eq!(
        attempts(call, T0 + 20_000)[0].outcome,
        TransferOutcome::NoAnswer
    );
}

#[test]
fn busy_falls_back_at_once() {
    let mut call = ringing();
    let out = call.handle(
        Input::LegFailed {
            leg: DEPT,
            status: 486,
        },
        T0 + 2_000,
    );
    assert!(out.contains(&Output::Bridge { a: CALLER, b: OP }));
    assert!(
        !out.iter().any(|o| matches!(o, Output::Cancel { .. })),
        "{out:?}"
    );
    // The stale timer later does nothing.
    assert!(call
        .handle(
            Input::Timer(TimerKind::Transfer { attempt: 1 }),
            T0 + 15_001
        )
        .is_empty());
    let a = attempts(call, T0 + 5_000);
    assert_eq!(a[0].outcome, TransferOutcome::Busy);
    assert_eq!(a[0].ring_ms(), 2_000);
}

#[test]
fn the_operator_cancels_with_star_hash() {
    let mut call = ringing();
    let out = key(&mut call, "*#", T0 + 3_000);
    assert_eq!(out[0], Output::Cancel { leg: DEPT });
    assert!(out.contains(&Output::Bridge { a: CALLER, b: OP }));
    let a = attempts(call, T0 + 5_000);
    assert_eq!(a[0].outcome, TransferOutcome::Cancelled);
    assert_eq!(a[0].ended_by, Some(TransferEndedBy::Operator));
}

#[test]
fn the_caller_hanging_up_mid_attempt_ends_everything_and_records_it() {
    let mut call = ringing();
    let out = call.handle(Input::LegHangup { leg: CALLER }, T0 + 4_000);
    assert!(out.contains(&Output::Hangup { leg: OP }));
    assert!(out.contains(&Output::Cancel { leg: DEPT }));
    assert!(out.contains(&Output::SeatReleased {
        seat: "1001".into()
    }));
    let r = record(&out);
    assert_eq!(r.end_reason, EndReason::CallerHangup);
    assert_eq!(r.transfers[0].outcome, TransferOutcome::Cancelled);
    assert_eq!(r.transfers[0].ended_by, Some(TransferEndedBy::Caller));
}

#[test]
fn operator_hangs_up_while_it_rings_then_the_department_answers_and_is_bridged() {
    let mut call = ringing();
    let out = call.handle(Input::LegHangup { leg: OP }, T0 + 3_000);
    assert_eq!(
        out,
        vec![Output::SeatReleased {
            seat: "1001".into()
        }]
    );
    let out = call.handle(Input::LegAnswered { leg: DEPT }, T0 + 8_000);
    assert_eq!(
        out,
        vec![
            Output::StopPlaying { leg: CALLER },
            Output::Bridge { a: CALLER, b: DEPT },
        ]
    );
    assert_eq!(call.partner(), Some(DEPT));
    // The department hangs up later: the call ends.
    let out = call.handle(Input::LegHangup { leg: DEPT }, T0 + 40_000);
    assert_eq!(out[0], Output::Hangup { leg: CALLER });
    let r = record(&out);
    assert_eq!(
        r.seat.as_deref(),
        Some("1001"),
        "the operator who took the call"
    );
    assert_eq!(r.transfers[0].outcome, TransferOutcome::Answered);
    assert!(r.transfers[0].answered_in_target());
}

#[test]
fn operator_hangs_up_while_it_rings_and_nobody_answers_the_caller_goes_back_to_the_head_of_the_queue(
) {
    let mut call = ringing();
    call.handle(Input::LegHangup { leg: OP }, T0 + 3_000);
    let out = call.handle(
        Input::Timer(TimerKind::Transfer { attempt: 1 }),
        T0 + 15_001,
    );
    assert_eq!(
        out,
        vec![
            Output::Cancel { leg: DEPT },
            Output::StopPlaying { leg: CALLER },
            play(CALLER, "hold.wav", true),
            Output::Requeue {
                queue: "main".into(),
                waiting_since_ms: 0
            },
        ]
    );
    // Never dropped: the next seat gets it.
    let out = call.handle(
        Input::SeatAssigned {
            seat: "1002".into(),
        },
        T0 + 16_000,
    );
    assert_eq!(
        out[0],
        Output::Dial {
            leg: LegId(3),
            target: Target::Seat {
                seat: "1002".into()
            }
        }
    );
    assert!(!call.is_finished());
}

#[test]
fn operator_drops_out_of_the_three_way_call_with_star_zero() {
    let mut call = three_way_at(5_000);
    let out = key(&mut call, "*0", T0 + 30_000);
    assert_eq!(
        out,
        vec![
            Output::Isolate { leg: OP },
            Output::Bridge { a: CALLER, b: DEPT },
            Output::Hangup { leg: OP },
            Output::SeatReleased {
                seat: "1001".into()
            },
        ]
    );
    // Caller and department talk on; the department's keys are its own, not the caller's.
    call.handle(
        Input::Dtmf {
            leg: DEPT,
            digit: '5',
        },
        T0 + 31_000,
    );
    assert_eq!(call.dtmf_of(DEPT), "5");
    let a = attempts(call, T0 + 60_000);
    assert_eq!(a[0].ended_by, Some(TransferEndedBy::Operator));
}

#[test]
fn department_hangs_up_during_the_three_way_phase_operator_and_caller_stay() {
    let mut call = three_way_at(5_000);
    let out = call.handle(Input::LegHangup { leg: DEPT }, T0 + 20_000);
    assert_eq!(
        out,
        vec![
            Output::Isolate { leg: DEPT },
            Output::Bridge { a: CALLER, b: OP },
        ]
    );
    assert_eq!(call.partner(), Some(OP));
    assert!(!call.is_finished());
    // A second transfer is possible now.
    let out = key(&mut call, "*28#", T0 + 25_000);
    assert!(out.contains(&Output::Dial {
        leg: LegId(3),
        target: Target::uri("sip:12348@gw-sfj")
    }));
    let out = call.handle(Input::LegHangup { leg: OP }, T0 + 26_000);
    assert_eq!(
        out,
        vec![Output::SeatReleased {
            seat: "1001".into()
        }]
    );
    let a = attempts(call, T0 + 27_000);
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].ended_by, Some(TransferEndedBy::Department));
    assert_eq!(a[1].outcome, TransferOutcome::Cancelled);
}

#[test]
fn ring_all_where_the_second_seat_answers_first() {
    let mut call = talking();
    let out = key(&mut call, "*21#", T0);
    assert!(out.contains(&Output::ReserveSeats {
        attempt: 1,
        group: "ybj".into()
    }));
    let out = call.handle(
        Input::GroupSeats {
            attempt: 1,
            seats: vec!["2001".into(), "2002".into()],
        },
        T0 + 50,
    );
    assert_eq!(
        out,
        vec![
            Output::Dial {
                leg: LegId(2),
                target: Target::Seat {
                    seat: "2001".into()
                }
            },
            Output::Dial {
                leg: LegId(3),
                target: Target::Seat {
                    seat: "2002".into()
                }
            },
        ]
    );
    let out = call.handle(Input::LegAnswered { leg: LegId(3) }, T0 + 4_000);
    assert_eq!(
        out,
        vec![
            Output::Cancel { leg: LegId(2) },
            Output::SeatTaken {
                seat: "2002".into()
            },
            Output::ReleaseReserved,
            Output::StopPlaying { leg: CALLER },
            Output::StopPlaying { leg: OP },
            Output::Mix {
                legs: vec![CALLER, OP, LegId(3)]
            },
        ]
    );
    // The first seat's late answer is ignored (its leg is gone).
    assert!(call
        .handle(Input::LegAnswered { leg: LegId(2) }, T0 + 4_100)
        .is_empty());
    // The department seat leaves later: it goes back to the ACD.
    let out = call.handle(Input::LegHangup { leg: LegId(3) }, T0 + 9_000);
    assert!(out.contains(&Output::SeatReleased {
        seat: "2002".into()
    }));
}

#[test]
fn a_group_with_no_seat_there_falls_back_and_a_late_reservation_is_returned() {
    let mut call = talking();
    key(&mut call, "*21#", T0);
    let out = call.handle(
        Input::GroupSeats {
            attempt: 1,
            seats: vec![],
        },
        T0 + 50,
    );
    assert!(out.contains(&Output::Bridge { a: CALLER, b: OP }));
    let out = call.handle(
        Input::GroupSeats {
            attempt: 1,
            seats: vec!["2001".into()],
        },
        T0 + 60,
    );
    assert_eq!(out, vec![Output::ReleaseReserved]);
}

#[test]
fn unknown_targets_and_stray_keys_dial_nothing() {
    let mut call = talking();
    // Not in the plan: no toll fraud through transfers, only a tone to the operator.
    let out = key(&mut call, "*2119110#", T0);
    assert_eq!(out, vec![play(OP, "beep.wav", false)]);
    // Stray keys, then a code that runs out of time half way, then a good one.
    assert!(key(&mut call, "5*3", T0 + 1_000).is_empty());
    let out = key(&mut call, "*21", T0 + 2_000);
    assert!(out.is_empty());
    let gen = match call.handle(
        Input::Dtmf {
            leg: OP,
            digit: '2',
        },
        T0 + 2_100,
    )[..]
    {
        [Output::StartTimer {
            kind: TimerKind::Keys { generation },
            ..
        }] => generation,
        ref other => panic!("{other:?}"),
    };
    call.handle(
        Input::Timer(TimerKind::Keys { generation: gen }),
        T0 + 7_100,
    );
    assert!(key(&mut call, "#", T0 + 8_000).is_empty(), "forgotten");
    let out = key(&mut call, "*28#", T0 + 9_000);
    assert!(out.iter().any(|o| matches!(o, Output::Dial { .. })));
    // The caller's keys never start a transfer.
    let mut call = talking();
    for digit in "*212348#".chars() {
        let out = call.handle(Input::Dtmf { leg: CALLER, digit }, T0);
        assert!(!out.iter().any(|o| matches!(o, Output::Dial { .. })));
    }
}

#[test]
fn the_bundled_jiujiang_plan_gives_typed_transfer_targets() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans/jiujiang");
    let plan = dialplan::LiveDialplan::load(&dir).expect("the bundled plan loads");
    let by_code = Router::transfer_target(&plan, "8").expect("code 8");
    let by_number = Router::transfer_target(&plan, "12348").expect("12348");
    assert_eq!(by_code, by_number);
    assert_eq!(
        by_code,
        TransferDest {
            number: "12348".into(),
            department: Some("市司法局".into()),
            target: Target::Group {
                group: "sfj".into()
            },
            answer_target_ms: 15_000,
            emergency: false,
        }
    );
    // The sub-center goes out through its trunk; the main number is no transfer target.
    let tax = Router::transfer_target(&plan, "12366").expect("12366");
    assert!(
        matches!(tax.target, Target::Uri { ref gateway, .. } if gateway.as_deref() == Some("tax-subcenter.invalid"))
    );
    assert_eq!(Router::transfer_target(&plan, "12345"), None);
    // The emergency lines are handed over, 医保 is a department.
    assert!(Router::transfer_target(&plan, "110").is_some_and(|t| t.emergency));
    assert!(!by_code.emergency);
}

#[test]
fn a_blind_refer_from_the_operator_is_the_same_attempt_and_its_outcome_is_notified() {
    let mut call = talking();
    let out = call.handle(
        Input::TransferRequest {
            leg: OP,
            dialled: "12348".into(),
        },
        T0,
    );
    assert_eq!(
        out[0],
        Output::ReferReply {
            leg: OP,
            status: 202
        }
    );
    assert!(out.contains(&Output::Dial {
        leg: DEPT,
        target: Target::uri("sip:12348@gw-sfj")
    }));
    // Answered in time: the REFER's subscription hears 200 (the softphone then hangs up).
    let out = call.handle(Input::LegAnswered { leg: DEPT }, T0 + 6_000);
    assert!(out.contains(&Output::TransferNotify {
        leg: OP,
        status: 200
    }));
    let out = call.handle(Input::LegHangup { leg: OP }, T0 + 6_500);
    assert!(out.contains(&Output::Bridge { a: CALLER, b: DEPT }));

    // Busy: the softphone hears 486 and keeps its caller.
    let mut call = talking();
    call.handle(
        Input::TransferRequest {
            leg: OP,
            dialled: "8".into(),
        },
        T0,
    );
    let out = call.handle(
        Input::LegFailed {
            leg: DEPT,
            status: 486,
        },
        T0 + 1_000,
    );
    assert!(out.contains(&Output::TransferNotify {
        leg: OP,
        status: 486
    }));
    assert!(out.contains(&Output::Bridge { a: CALLER, b: OP }));
}

#[test]
fn refers_outside_the_plan_or_from_the_caller_are_refused() {
    let mut call = talking();
    let out = call.handle(
        Input::TransferRequest {
            leg: OP,
            dialled: "008613800000000".into(),
        },
        T0,
    );
    assert_eq!(
        out,
        vec![Output::ReferReply {
            leg: OP,
            status: 404
        }]
    );
    let out = call.handle(
        Input::TransferRequest {
            leg: CALLER,
            dialled: "12348".into(),
        },
        T0,
    );
    assert_eq!(
        out,
        vec![Output::ReferReply {
            leg: CALLER,
            status: 403
        }]
    );
    // One attempt at a time.
    key(&mut call, "*28#", T0 + 1_000);
    let out = call.handle(
        Input::TransferRequest {
            leg: OP,
            dialled: "12348".into(),
        },
        T0 + 2_000,
    );
    assert_eq!(
        out,
        vec![Output::ReferReply {
            leg: OP,
            status: 491
        }]
    );
}

#[test]
fn an_emergency_line_rings_up_to_the_connect_timeout_and_takes_the_caller_over_from_the_operator() {
    let mut call = talking();
    let out = key(&mut call, "*2110#", T0);
    assert!(out.contains(&Output::StartTimer {
        kind: TimerKind::Transfer { attempt: 1 },
        after_ms: 60_001,
    }));
    // 30 s is past the 15-s department target but within the emergency line's 60 s.
    let out = call.handle(Input::LegAnswered { leg: DEPT }, T0 + 30_000);
    assert_eq!(
        out,
        vec![
            Output::StopPlaying { leg: CALLER },
            Output::StopPlaying { leg: OP },
            Output::Bridge { a: CALLER, b: DEPT },
            Output::Hangup { leg: OP },
            Output::SeatReleased {
                seat: "1001".into()
            },
        ]
    );
    assert_eq!(call.partner(), Some(DEPT));
    let a = attempts(call, T0 + 90_000);
    assert_eq!(a[0].outcome, TransferOutcome::Answered);
    assert_eq!(a[0].answer_target_ms, Some(60_000));
    assert!(a[0].answered_in_target());
}

#[test]
fn a_call_the_110_platform_handed_over_is_marked_in_its_record() {
    for (caller, diversion, marked) in [
        ("110", None, true),
        ("13800001234", Some("110"), true),
        ("13800001234", Some("12315"), false),
    ] {
        let mut setup = setup_with(
            decision(Action::Queue, None, Some("main"), None),
            Arc::new(TransferRouter),
            0,
        );
        setup.caller = caller.into();
        setup.original_called = diversion.map(Into::into);
        let plan = Plan::Queue {
            prompt: None,
            queue: "main".into(),
            hold: None,
        };
        let (mut call, _) = Call::with_plan(setup, policy(), plan, 0);
        let out = call.handle(Input::LegHangup { leg: CALLER }, 1_000);
        let want = marked.then(|| "110".to_string());
        assert_eq!(
            record(&out).handed_over_by,
            want,
            "{caller} / {diversion:?}"
        );
    }
}
