//! Attended transfer in simulated time: the operator's consult call to the department (its own call, with
//! `Plan::Consult`), then the REFER with Replaces on the caller's call that moves the department's leg over.
//! Both calls' machines are driven here; what the shell carries between them (the claim, the leg) is the
//! outputs of one fed as inputs of the other.

use super::transfer::{play, policy, talking, TransferRouter, OP};
use super::*;
use dialplan::Action;

const T0: i64 = 10_000;
const WALL0: i64 = 1_700_000_000_000;
/// The leg the caller's call gives the department it claims (the caller is 0, the operator 1).
const CLAIMED: LegId = LegId(2);
/// In the consult call: the operator is its caller leg, the department's two seats are legs 1 and 2.
const SEAT_2001: LegId = LegId(1);
const SEAT_2002: LegId = LegId(2);

fn seat(s: &str) -> Target {
    Target::Seat { seat: s.into() }
}

/// Seat 1001 calls 8121135 (the 医保 group `ybj`) at T0 from its softphone: the consult rings both seats.
fn consult_ringing() -> Call {
    let router = Arc::new(TransferRouter);
    let dest = router.transfer_target("8121135").unwrap();
    let setup = CallSetup {
        call_id: "consult@op".into(),
        caller: "1001".into(),
        called: "8121135".into(),
        ..setup_with(
            decision(Action::Queue, None, Some("main"), None),
            router,
            WALL0 + T0,
        )
    };
    let plan = Plan::Consult {
        seat: "1001".into(),
        dest,
    };
    let (mut b, out) = Call::with_plan(setup, policy(), plan, T0);
    assert!(b.is_consult());
    assert_eq!(
        out,
        vec![
            Output::EarlyMedia,
            play(CALLER, "ringback.wav", true),
            Output::ReserveSeats {
                attempt: 1,
                group: "ybj".into()
            },
            Output::StartTimer {
                kind: TimerKind::Transfer { attempt: 1 },
                after_ms: 15_001,
            },
        ]
    );
    let out = b.handle(
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
                leg: SEAT_2001,
                target: seat("2001")
            },
            Output::Dial {
                leg: SEAT_2002,
                target: seat("2002")
            },
        ]
    );
    b
}

/// Seat 2002 answers `after_ms` into the consult: operator and department talk.
fn consult_answered(after_ms: i64) -> Call {
    let mut b = consult_ringing();
    let out = b.handle(Input::LegAnswered { leg: SEAT_2002 }, T0 + after_ms);
    assert_eq!(
        out,
        vec![
            Output::Cancel { leg: SEAT_2001 },
            Output::SeatTaken {
                seat: "2002".into()
            },
            Output::ReleaseReserved,
            Output::StopPlaying { leg: CALLER },
            Output::Answer,
            Output::Bridge {
                a: CALLER,
                b: SEAT_2002
            },
        ]
    );
    b
}

/// The consult's end: its attempt for the caller's call (None when it went with the leg).
fn consult_ended(out: &[Output]) -> Option<TransferAttempt> {
    match out.last() {
        Some(Output::ConsultEnded { attempt }) => attempt.as_deref().cloned(),
        other => panic!("expected ConsultEnded last, got {other:?}"),
    }
}

/// The caller's call: the operator REFERs with Replaces at `at_ms`; 202 and the claim.
fn refer_replaces(a: &mut Call, at_ms: i64) {
    let out = a.handle(Input::AttendedTransfer { leg: OP }, at_ms);
    assert_eq!(
        out,
        vec![
            Output::ReferReply {
                leg: OP,
                status: 202
            },
            Output::ClaimLeg {
                from: OP,
                leg: CLAIMED,
                seat: "1001".into()
            },
        ]
    );
}

#[test]
fn the_join_bridges_the_caller_with_the_answered_department_and_releases_both_operator_legs() {
    let mut a = talking();
    let mut b = consult_answered(4_000);
    // Operator and department talk for a while; then the softphone transfers.
    let at = T0 + 30_000;
    refer_replaces(&mut a, at);
    // The shell found the consult by the Replaces' Call-ID and its tags at the SIP layer.
    let out = b.handle(
        Input::JoinRequest {
            leg: CALLER,
            seat: "1001".into(),
        },
        at + 1,
    );
    let Some(Output::HandOver { leg, handover }) = out.last().cloned() else {
        panic!("{out:?}")
    };
    assert_eq!(out[0], Output::Isolate { leg: SEAT_2002 });
    assert_eq!(leg, SEAT_2002);
    assert_eq!(handover.target, seat("2002"));
    assert!(handover.acd);
    let t = &handover.attempt;
    assert_eq!(t.kind, Some(TransferKind::Attended));
    assert_eq!(t.outcome, TransferOutcome::Answered);
    assert_eq!(t.ended_by, Some(TransferEndedBy::Operator));
    assert_eq!(
        (t.target.as_str(), t.department.as_deref()),
        ("8121135", Some("市医保局"))
    );
    assert_eq!(t.started_at_ms, WALL0 + T0);
    assert_eq!(t.ring_ms(), 4_000);
    assert_eq!(t.ended_at_ms, WALL0 + at + 1);
    assert!(t.answered_in_target());
    // Delivered: the consult hangs up the operator (RFC 3891 §3) and ends with nothing more to report.
    let out = b.handle(
        Input::HandOverDone {
            leg: SEAT_2002,
            delivered: true,
        },
        at + 1,
    );
    assert_eq!(out[0], Output::Hangup { leg: CALLER });
    assert_eq!(consult_ended(&out), None);
    assert_eq!(
        out.len(),
        2,
        "the department is neither cancelled nor hung up: {out:?}"
    );
    assert!(b.is_finished());

    // The caller's call adopts the leg: bridged with the caller, the operator told and hung up.
    let out = a.handle(
        Input::LegAdopted {
            leg: CLAIMED,
            handover,
        },
        at + 2,
    );
    assert_eq!(
        out,
        vec![
            Output::StopPlaying { leg: CALLER },
            Output::Isolate { leg: OP },
            Output::Bridge {
                a: CALLER,
                b: CLAIMED
            },
            Output::SeatTaken {
                seat: "2002".into()
            },
            Output::TransferNotify {
                leg: OP,
                status: 200
            },
            Output::Hangup { leg: OP },
            Output::SeatReleased {
                seat: "1001".into()
            },
        ]
    );
    assert_eq!(a.partner(), Some(CLAIMED));
    assert_eq!(a.seat(), Some("2002"));
    // The softphone's own BYE crossing ours changes nothing.
    assert!(a.handle(Input::LegHangup { leg: OP }, at + 3).is_empty());
    // The department talks with the caller until the caller hangs up: the seat is released, one record.
    let out = a.handle(Input::LegHangup { leg: CALLER }, at + 90_000);
    assert_eq!(out[0], Output::Hangup { leg: CLAIMED });
    assert_eq!(
        out[1],
        Output::SeatReleased {
            seat: "2002".into()
        }
    );
    let rec = record(&out);
    assert_eq!(
        rec.seat.as_deref(),
        Some("1001"),
        "the operator took the call"
    );
    assert_eq!(rec.end_reason, EndReason::CallerHangup);
    assert_eq!(rec.transfers.len(), 1);
    assert_eq!(rec.transfers[0].kind, Some(TransferKind::Attended));
    assert_eq!(rec.transfer_unanswered, None);
}

#[test]
fn a_replaces_for_an_unknown_dialog_is_reported_481_and_the_caller_stays_with_the_operator() {
    let mut a = talking();
    refer_replaces(&mut a, T0);
    // No call owns the Replaces' Call-ID (or its tags are not a dialog of it): the shell says 481.
    let out = a.handle(
        Input::ClaimFailed {
            leg: CLAIMED,
            status: 481,
        },
        T0 + 5,
    );
    assert_eq!(
        out,
        vec![Output::TransferNotify {
            leg: OP,
            status: 481
        }]
    );
    assert_eq!(*a.topology(), Topology::Bridge(CALLER, OP));
    assert_eq!(a.leg_state(CLAIMED), Some(LegState::Gone));
    // A late leg for that claim is hung up; the operator can try again.
    let stray = Handover {
        target: seat("2002"),
        acd: true,
        attempt: consult_ended(
            &consult_answered(3_000).handle(Input::LegHangup { leg: CALLER }, T0 + 9),
        )
        .unwrap(),
    };
    let out = a.handle(
        Input::LegAdopted {
            leg: CLAIMED,
            handover: Box::new(stray),
        },
        T0 + 10,
    );
    assert_eq!(out, vec![Output::Hangup { leg: CLAIMED }]);
    let out = a.handle(Input::AttendedTransfer { leg: OP }, T0 + 20);
    assert_eq!(
        out[1],
        Output::ClaimLeg {
            from: OP,
            leg: LegId(3),
            seat: "1001".into()
        }
    );
    // Only the operator may transfer, and one transfer at a time.
    assert_eq!(
        a.handle(Input::AttendedTransfer { leg: OP }, T0 + 21),
        vec![Output::ReferReply {
            leg: OP,
            status: 491
        }]
    );
    assert_eq!(
        a.handle(Input::AttendedTransfer { leg: CALLER }, T0 + 22),
        vec![Output::ReferReply {
            leg: CALLER,
            status: 403
        }]
    );
    // Nothing was joined: the record has no attempt.
    let out = a.handle(Input::LegHangup { leg: CALLER }, T0 + 30);
    assert!(record(&out).transfers.is_empty());
}

#[test]
fn the_department_hanging_up_before_the_refer_ends_the_consult_and_its_attempt_joins_the_record() {
    let mut a = talking();
    let mut b = consult_answered(6_000);
    let out = b.handle(Input::LegHangup { leg: SEAT_2002 }, T0 + 20_000);
    assert_eq!(
        out[..3],
        [
            Output::Isolate { leg: SEAT_2002 },
            Output::SeatReleased {
                seat: "2002".into()
            },
            Output::Hangup { leg: CALLER },
        ]
    );
    let attempt = consult_ended(&out).expect("reported to the caller's call");
    assert!(b.is_finished());
    assert_eq!(attempt.outcome, TransferOutcome::Answered);
    assert_eq!(attempt.ended_by, Some(TransferEndedBy::Department));
    assert_eq!(attempt.ring_ms(), 6_000);
    // The shell hands it to the call the operator serves.
    assert!(a
        .handle(
            Input::ConsultAttempt {
                attempt: Box::new(attempt.clone())
            },
            T0 + 20_001
        )
        .is_empty());
    // The softphone still REFERs with Replaces naming the ended consult: its task is gone → 481; a join
    // request reaching the ended consult itself is declined (603, RFC 3891 §3).
    refer_replaces(&mut a, T0 + 21_000);
    assert_eq!(
        b.handle(
            Input::JoinRequest {
                leg: CALLER,
                seat: "1001".into()
            },
            T0 + 21_001
        ),
        vec![Output::JoinRefused { status: 603 }]
    );
    let out = a.handle(
        Input::ClaimFailed {
            leg: CLAIMED,
            status: 603,
        },
        T0 + 21_002,
    );
    assert_eq!(
        out,
        vec![Output::TransferNotify {
            leg: OP,
            status: 603
        }]
    );
    let out = a.handle(Input::LegHangup { leg: OP }, T0 + 40_000);
    let rec = record(&out);
    assert_eq!(rec.transfers, vec![attempt]);
    assert_eq!(rec.end_reason, EndReason::SeatHangup);
}

#[test]
fn a_consult_still_ringing_is_not_joined_and_rings_on_until_its_answer_target() {
    let mut b = consult_ringing();
    let out = b.handle(
        Input::JoinRequest {
            leg: CALLER,
            seat: "1001".into(),
        },
        T0 + 3_000,
    );
    assert_eq!(out, vec![Output::JoinRefused { status: 481 }]);
    // At 15.0 s an answer is in time; the other ringing seat is cancelled.
    let mut late = consult_ringing();
    let out = late.handle(Input::LegAnswered { leg: SEAT_2001 }, T0 + 15_000);
    assert!(out.contains(&Output::Answer), "{out:?}");
    // Nobody answers: at the timer the operator's INVITE gets 408 and the attempt is a no-answer.
    b.handle(Input::LegRinging { leg: SEAT_2001 }, T0 + 500);
    let out = b.handle(
        Input::Timer(TimerKind::Transfer { attempt: 1 }),
        T0 + 15_001,
    );
    assert_eq!(
        out[..4],
        [
            Output::Cancel { leg: SEAT_2001 },
            Output::Cancel { leg: SEAT_2002 },
            Output::ReleaseReserved,
            Output::StopPlaying { leg: CALLER },
        ]
    );
    assert_eq!(
        out[4],
        Output::Reject {
            status: 408,
            reason: "Department Unavailable".into()
        }
    );
    let attempt = consult_ended(&out).unwrap();
    assert_eq!(attempt.outcome, TransferOutcome::NoAnswer);
    assert_eq!(attempt.ended_by, Some(TransferEndedBy::Timer));
    assert!(!attempt.answered_in_target());
    // In the caller's record it is a failed transfer: the department gets a ticket.
    let mut a = talking();
    a.handle(
        Input::ConsultAttempt {
            attempt: Box::new(attempt),
        },
        T0 + 15_002,
    );
    let out = a.handle(Input::LegHangup { leg: CALLER }, T0 + 20_000);
    assert_eq!(
        record(&out).transfer_unanswered.as_deref(),
        Some("市医保局")
    );
}

#[test]
fn a_join_is_refused_for_another_seat_and_kept_when_the_callers_call_is_gone() {
    let mut b = consult_answered(2_000);
    // RFC 3891 §3: only the user of the replaced dialog may replace it.
    let out = b.handle(
        Input::JoinRequest {
            leg: CALLER,
            seat: "1002".into(),
        },
        T0 + 5_000,
    );
    assert_eq!(out, vec![Output::JoinRefused { status: 403 }]);
    // A department leg's own dialog is nothing to join.
    let out = b.handle(
        Input::JoinRequest {
            leg: SEAT_2002,
            seat: "1001".into(),
        },
        T0 + 5_001,
    );
    assert_eq!(out, vec![Output::JoinRefused { status: 481 }]);
    // The caller's call ended while the leg was on its way: it stays, operator and department go on.
    let out = b.handle(
        Input::JoinRequest {
            leg: CALLER,
            seat: "1001".into(),
        },
        T0 + 6_000,
    );
    assert!(matches!(out.last(), Some(Output::HandOver { .. })));
    let again = b.handle(
        Input::JoinRequest {
            leg: CALLER,
            seat: "1001".into(),
        },
        T0 + 6_000,
    );
    assert_eq!(again, vec![Output::JoinRefused { status: 491 }]);
    let out = b.handle(
        Input::HandOverDone {
            leg: SEAT_2002,
            delivered: false,
        },
        T0 + 6_000,
    );
    assert_eq!(
        out,
        vec![Output::Bridge {
            a: CALLER,
            b: SEAT_2002
        }]
    );
    assert!(!b.is_finished());
    // Then the operator hangs up the consult: the department goes with it.
    let out = b.handle(Input::LegHangup { leg: CALLER }, T0 + 9_000);
    assert_eq!(
        out[..2],
        [
            Output::Hangup { leg: SEAT_2002 },
            Output::SeatReleased {
                seat: "2002".into()
            }
        ]
    );
    let attempt = consult_ended(&out).unwrap();
    assert_eq!(
        (attempt.outcome, attempt.ended_by),
        (TransferOutcome::Answered, Some(TransferEndedBy::Operator))
    );
}

#[test]
fn the_operator_hanging_up_during_the_join_leaves_the_caller_waiting_for_the_department() {
    let mut a = talking();
    refer_replaces(&mut a, T0);
    let out = a.handle(Input::LegHangup { leg: OP }, T0 + 1);
    assert_eq!(
        out,
        vec![
            Output::Isolate { leg: OP },
            Output::SeatReleased {
                seat: "1001".into()
            },
            play(CALLER, "transfer_ringing.wav", true),
        ]
    );
    let b_out = consult_answered(2_000).handle(
        Input::JoinRequest {
            leg: CALLER,
            seat: "1001".into(),
        },
        T0 + 2,
    );
    let Some(Output::HandOver { handover, .. }) = b_out.last().cloned() else {
        panic!()
    };
    let out = a.handle(
        Input::LegAdopted {
            leg: CLAIMED,
            handover,
        },
        T0 + 3,
    );
    assert_eq!(
        out,
        vec![
            Output::StopPlaying { leg: CALLER },
            Output::Bridge {
                a: CALLER,
                b: CLAIMED
            },
            Output::SeatTaken {
                seat: "2002".into()
            },
        ],
        "no NOTIFY, no second release for the operator who left"
    );

    // Had the claim failed instead, the caller would be first in the queue again.
    let mut a = talking();
    refer_replaces(&mut a, T0);
    a.handle(Input::LegHangup { leg: OP }, T0 + 1);
    let out = a.handle(
        Input::ClaimFailed {
            leg: CLAIMED,
            status: 481,
        },
        T0 + 2,
    );
    assert_eq!(
        out,
        vec![
            Output::StopPlaying { leg: CALLER },
            play(CALLER, "hold.wav", true),
            Output::Requeue {
                queue: "main".into(),
                waiting_since_ms: 0
            },
        ]
    );
    // And a caller who hangs up while the leg is on its way ends the call; the leg is hung up on arrival.
    let mut a = talking();
    refer_replaces(&mut a, T0);
    let out = a.handle(Input::LegHangup { leg: CALLER }, T0 + 1);
    assert!(matches!(out.last(), Some(Output::Finished(_))));
    let b_out = consult_answered(2_000).handle(
        Input::JoinRequest {
            leg: CALLER,
            seat: "1001".into(),
        },
        T0 + 2,
    );
    let Some(Output::HandOver { handover, .. }) = b_out.last().cloned() else {
        panic!()
    };
    let out = a.handle(
        Input::LegAdopted {
            leg: CLAIMED,
            handover,
        },
        T0 + 3,
    );
    assert_eq!(out, vec![Output::Hangup { leg: CLAIMED }]);
}

#[test]
fn the_caller_hears_the_hold_prompt_while_the_operator_holds_it_for_the_consult() {
    let mut a = talking();
    let out = a.handle(
        Input::LegHold {
            leg: OP,
            held: true,
        },
        T0,
    );
    assert_eq!(
        out,
        vec![
            Output::Isolate { leg: CALLER },
            play(CALLER, "hold.wav", true)
        ]
    );
    // The caller holding us changes nothing; taking the operator's hold back restores the bridge.
    assert!(a
        .handle(
            Input::LegHold {
                leg: CALLER,
                held: true
            },
            T0 + 1
        )
        .is_empty());
    let out = a.handle(
        Input::LegHold {
            leg: OP,
            held: false,
        },
        T0 + 2,
    );
    assert_eq!(
        out,
        vec![
            Output::StopPlaying { leg: CALLER },
            Output::Bridge { a: CALLER, b: OP }
        ]
    );
    // Held, then transferred: the prompt stops and the caller is bridged with the department.
    a.handle(
        Input::LegHold {
            leg: OP,
            held: true,
        },
        T0 + 3,
    );
    refer_replaces(&mut a, T0 + 4);
    let b_out = consult_answered(2_000).handle(
        Input::JoinRequest {
            leg: CALLER,
            seat: "1001".into(),
        },
        T0 + 5,
    );
    let Some(Output::HandOver { handover, .. }) = b_out.last().cloned() else {
        panic!()
    };
    let out = a.handle(
        Input::LegAdopted {
            leg: CLAIMED,
            handover,
        },
        T0 + 6,
    );
    assert_eq!(
        out[..2],
        [
            Output::StopPlaying { leg: CALLER },
            Output::Bridge {
                a: CALLER,
                b: CLAIMED
            }
        ]
    );
}
