//! Waiting callers: ring-all offers, ring-no-answer, maximum wait (overflow, call back), the queue visits
//! the records carry, and the feature-code confirmation call.

use super::*;

fn queue_plan(queue: &str) -> Plan {
    Plan::Queue {
        prompt: None,
        queue: queue.into(),
        hold: Some("please_wait.wav".into()),
    }
}

fn seat(s: &str) -> Target {
    Target::Seat { seat: s.into() }
}

fn missed(seat: &str, queue: &str, since: i64, why: OfferFailure) -> Output {
    Output::SeatOfferFailed {
        seat: seat.into(),
        queue: queue.into(),
        waiting_since_ms: since,
        why,
    }
}

/// Queued at t = 0 in `queue`.
fn queued(queue: &str, policy: CallPolicy) -> Call {
    let (call, out) = start(queue_plan(queue), policy);
    assert!(out.contains(&Output::Enqueue {
        queue: queue.into()
    }));
    call
}

#[test]
fn ring_all_dials_every_seat_and_the_first_answer_cancels_the_others() {
    let mut call = queued("ybj", CallPolicy::default());
    let out = call.handle(
        Input::SeatsAssigned {
            seats: vec!["2001".into(), "2002".into(), "2003".into()],
        },
        1_000,
    );
    assert_eq!(
        out,
        vec![
            Output::Dial {
                leg: LegId(1),
                target: seat("2001")
            },
            Output::StartTimer {
                kind: TimerKind::SeatRing { attempt: 1 },
                after_ms: 15_000
            },
            Output::Dial {
                leg: LegId(2),
                target: seat("2002")
            },
            Output::Dial {
                leg: LegId(3),
                target: seat("2003")
            },
        ]
    );
    let out = call.handle(Input::LegAnswered { leg: LegId(2) }, 4_000);
    assert_eq!(
        out,
        vec![
            Output::Cancel { leg: LegId(1) },
            Output::Cancel { leg: LegId(3) },
            Output::StopPlaying { leg: CALLER },
            Output::Answer,
            Output::Bridge {
                a: CALLER,
                b: LegId(2)
            },
            Output::SeatAnswered {
                seat: "2002".into(),
                queue: "ybj".into(),
                waited_ms: 4_000
            },
        ]
    );
    assert_eq!(call.seat(), Some("2002"));
    // The cancelled seats' 487s change nothing; the ACD freed them when 2002 answered.
    assert!(call
        .handle(
            Input::LegFailed {
                leg: LegId(1),
                status: 487
            },
            4_100
        )
        .is_empty());
    let out = call.handle(Input::LegHangup { leg: CALLER }, 60_000);
    let r = record(&out);
    assert_eq!(r.seat.as_deref(), Some("2002"));
    assert_eq!(r.queue_visits.len(), 1);
    assert_eq!(r.queue_visits[0].outcome, VisitOutcome::Answered);
}

#[test]
fn a_ring_all_seat_that_refuses_leaves_the_others_ringing_until_no_answer() {
    let mut call = queued("ybj", CallPolicy::default());
    call.handle(
        Input::SeatsAssigned {
            seats: vec!["2001".into(), "2002".into(), "2003".into()],
        },
        1_000,
    );
    let out = call.handle(
        Input::LegFailed {
            leg: LegId(1),
            status: 486,
        },
        2_000,
    );
    assert_eq!(out, vec![missed("2001", "ybj", 0, OfferFailure::Refused)]);
    assert_eq!(call.seat(), Some("2002"), "the next of the ring-all");
    // Ring-no-answer for the two left: both missed it; the call waits again.
    let out = call.handle(Input::Timer(TimerKind::SeatRing { attempt: 1 }), 16_000);
    assert_eq!(
        out,
        vec![
            Output::Cancel { leg: LegId(3) },
            missed("2003", "ybj", 0, OfferFailure::NoAnswer),
            Output::Cancel { leg: LegId(2) },
            missed("2002", "ybj", 0, OfferFailure::NoAnswer),
        ]
    );
    assert_eq!(call.seat(), None);
    // Seats assigned to a call that is not waiting go straight back, free at once.
    let out = call.handle(Input::LegHangup { leg: CALLER }, 17_000);
    assert_eq!(record(&out).end_reason, EndReason::AbandonedInQueue);
    assert!(call
        .handle(
            Input::SeatsAssigned {
                seats: vec!["2001".into()]
            },
            17_100
        )
        .is_empty());
}

#[test]
fn seats_for_a_call_that_left_the_queue_are_returned() {
    let mut call = queued("general", CallPolicy::default());
    call.handle(
        Input::SeatAssigned {
            seat: "1001".into(),
        },
        1_000,
    );
    let out = call.handle(
        Input::SeatsAssigned {
            seats: vec!["1002".into(), "1003".into()],
        },
        1_100,
    );
    assert_eq!(
        out,
        vec![
            missed("1002", "general", 0, OfferFailure::Returned),
            missed("1003", "general", 0, OfferFailure::Returned),
        ]
    );
}

#[test]
fn past_the_maximum_wait_the_caller_waits_in_the_overflow_queue_and_is_answered_there() {
    let mut call = queued("general", CallPolicy::default());
    assert!(call
        .handle(
            Input::Overflowed {
                to: Some("backup".into())
            },
            60_000
        )
        .is_empty());
    call.handle(
        Input::SeatAssigned {
            seat: "3001".into(),
        },
        70_000,
    );
    let out = call.handle(Input::LegAnswered { leg: LegId(1) }, 72_000);
    assert!(out.contains(&Output::SeatAnswered {
        seat: "3001".into(),
        queue: "backup".into(),
        // The caller's whole wait, from its first queue.
        waited_ms: 72_000
    }));
    let out = call.handle(Input::LegHangup { leg: CALLER }, 100_000);
    let v = &record(&out).queue_visits;
    let seen: Vec<(&str, i64, i64, VisitOutcome)> = v
        .iter()
        .map(|v| (v.queue.as_str(), v.entered_at_ms, v.left_at_ms, v.outcome))
        .collect();
    assert_eq!(
        seen,
        [
            ("general", 0, 60_000, VisitOutcome::Overflowed),
            ("backup", 60_000, 72_000, VisitOutcome::Answered),
        ]
    );
}

#[test]
fn to_the_call_back_list_the_caller_hears_the_promise_and_the_record_says_callback() {
    let policy = CallPolicy {
        callback_prompt: Some("callback.wav".into()),
        ..CallPolicy::default()
    };
    let mut call = queued("general", policy);
    let out = call.handle(Input::Overflowed { to: None }, 600_000);
    assert_eq!(
        out,
        vec![
            Output::StopPlaying { leg: CALLER },
            Output::Play {
                leg: CALLER,
                prompt: "callback.wav".into(),
                looped: false
            }
        ]
    );
    // A seat freed meanwhile is no use any more.
    let out = call.handle(
        Input::SeatAssigned {
            seat: "1001".into(),
        },
        601_000,
    );
    assert_eq!(
        out,
        vec![missed("1001", "general", 0, OfferFailure::Returned)]
    );
    let out = call.handle(Input::PromptFinished { leg: CALLER }, 605_000);
    assert_eq!(
        out[0],
        Output::Reject {
            status: 480,
            reason: "Temporarily Unavailable".into()
        },
        "never answered: the caller is not charged"
    );
    let r = record(&out);
    assert_eq!(r.end_reason, EndReason::Callback);
    assert_eq!(r.queue_visits[0].outcome, VisitOutcome::Callback);
    assert_eq!(r.queue_visits[0].left_at_ms, 600_000);

    // Hanging up during the promise is still a call-back; without a prompt the call ends at once.
    let mut call = queued("general", CallPolicy::default());
    let out = call.handle(Input::Overflowed { to: None }, 10_000);
    assert_eq!(record(&out).end_reason, EndReason::Callback);
    let policy = CallPolicy {
        callback_prompt: Some("callback.wav".into()),
        ..CallPolicy::default()
    };
    let mut call = queued("general", policy);
    call.handle(Input::Overflowed { to: None }, 10_000);
    let out = call.handle(Input::CallerCancel, 11_000);
    assert_eq!(record(&out).end_reason, EndReason::Callback);
}

#[test]
fn a_caller_who_hangs_up_while_a_seat_rings_abandoned_the_queue() {
    let mut call = queued("general", CallPolicy::default());
    call.handle(
        Input::SeatAssigned {
            seat: "1001".into(),
        },
        5_000,
    );
    let out = call.handle(Input::CallerCancel, 8_000);
    let r = record(&out);
    assert_eq!(r.end_reason, EndReason::AbandonedInQueue);
    assert_eq!(
        (r.queue_visits[0].wait_ms(), r.queue_visits[0].outcome),
        (8_000, VisitOutcome::Abandoned)
    );
}

#[test]
fn a_feature_code_call_is_answered_hears_its_confirmation_and_is_hung_up() {
    let (mut call, out) = start(
        Plan::Announce {
            prompt: Some("logged_in.wav".into()),
        },
        CallPolicy::default(),
    );
    assert_eq!(
        out,
        vec![
            Output::Answer,
            Output::Play {
                leg: CALLER,
                prompt: "logged_in.wav".into(),
                looped: false
            }
        ]
    );
    let out = call.handle(Input::PromptFinished { leg: CALLER }, 2_000);
    assert_eq!(out[0], Output::Hangup { leg: CALLER });
    let r = record(&out);
    assert_eq!(r.end_reason, EndReason::PromptThenHangup);
    assert_eq!(r.route_mode.as_deref(), Some("feature"));
    assert!(r.queue_visits.is_empty() && r.seat.is_none());
    let (_, out) = start(Plan::Announce { prompt: None }, CallPolicy::default());
    assert_eq!(out[..2], [Output::Answer, Output::Hangup { leg: CALLER }]);
}

fn announcements() -> Arc<Announcements> {
    Arc::new(Announcements {
        digits: (0..=10).map(|i| format!("d{i}.wav").into()).collect(),
        ahead: "ahead.wav".into(),
        callers: "callers.wav".into(),
        expected: "expected.wav".into(),
        minutes: "minutes.wav".into(),
        every_ms: [("general".to_string(), 30_000)].into(),
    })
}

#[test]
fn numbers_are_said_as_mandarin_digits() {
    assert_eq!(chinese_number(0), [0]);
    assert_eq!(chinese_number(7), [7]);
    assert_eq!(chinese_number(10), [10]);
    assert_eq!(chinese_number(13), [10, 3]);
    assert_eq!(chinese_number(20), [2, 10]);
    assert_eq!(chinese_number(42), [4, 10, 2]);
    assert_eq!(chinese_number(250), [9, 10, 9]);
}

#[test]
fn a_waiting_caller_hears_its_position_and_expected_wait_every_n_seconds() {
    let policy = CallPolicy {
        announce: Some(announcements()),
        ..CallPolicy::default()
    };
    let (mut call, out) = start(queue_plan("general"), policy);
    assert!(out.contains(&Output::StartTimer {
        kind: TimerKind::Announce { round: 1 },
        after_ms: 30_000
    }));
    let out = call.handle(Input::Timer(TimerKind::Announce { round: 1 }), 30_000);
    assert_eq!(out, vec![Output::AskPosition]);
    // Third in line, about 2½ minutes: «您前面还有 二 位在等候，预计等待 三 分钟».
    let out = call.handle(
        Input::QueuePosition {
            position: 3,
            expected_wait_ms: Some(150_000),
        },
        30_010,
    );
    let play = |p: &str| Output::Play {
        leg: CALLER,
        prompt: p.into(),
        looped: false,
    };
    assert_eq!(out, vec![play("ahead.wav")]);
    let mut heard = vec!["ahead.wav".to_string()];
    for t in 0..10 {
        let out = call.handle(Input::PromptFinished { leg: CALLER }, 31_000 + t);
        match &out[0] {
            Output::Play {
                prompt,
                looped: false,
                ..
            } => heard.push(prompt.to_string()),
            Output::Play { looped: true, .. } => {
                // Back to the hold prompt, and the next round is armed.
                assert_eq!(
                    out[1],
                    Output::StartTimer {
                        kind: TimerKind::Announce { round: 2 },
                        after_ms: 30_000
                    }
                );
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        heard,
        [
            "ahead.wav",
            "d2.wav",
            "callers.wav",
            "expected.wav",
            "d3.wav",
            "minutes.wav"
        ]
    );
    // A stale round is ignored; once a seat answers there are no more.
    assert!(call
        .handle(Input::Timer(TimerKind::Announce { round: 1 }), 60_000)
        .is_empty());
    call.handle(
        Input::SeatAssigned {
            seat: "1001".into(),
        },
        61_000,
    );
    call.handle(Input::LegAnswered { leg: LegId(1) }, 62_000);
    assert!(call
        .handle(Input::Timer(TimerKind::Announce { round: 2 }), 62_000)
        .is_empty());
    // The next in line hears no "ahead"; a queue without announcements arms nothing.
    let a = announcements();
    assert_eq!(a.sentence(1, None), Vec::<PromptRef>::new());
    assert_eq!(a.sentence(1, Some(1)).len(), 3, "expected 一 minute");
    let (_, out) = start(
        queue_plan("backup"),
        CallPolicy {
            announce: Some(announcements()),
            ..CallPolicy::default()
        },
    );
    assert!(!out.iter().any(|o| matches!(o, Output::StartTimer { .. })));
}
