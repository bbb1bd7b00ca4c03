use super::*;

/// 2026-12-01T08:00:00Z, the INVITE's wall time.
const WALL: i64 = 1_796_112_000_000;
/// The monotonic clock at the INVITE (any origin).
const MONO: i64 = 7_000_000;

fn seat(s: &str) -> Target {
    Target::Seat { seat: s.into() }
}

/// A queued call (no prompt) answered by seat 1001 on leg 1 at MONO + 10 s.
fn talking() -> Call {
    let d = decision(Action::Queue, None, Some("main"), None);
    let (mut call, out) = Call::new(
        setup_with(d, FakeRouter::new(Vec::new()), WALL),
        early_media(),
        MONO,
    );
    assert_eq!(
        out,
        vec![
            Output::EarlyMedia,
            Output::Enqueue {
                queue: "main".into()
            }
        ]
    );
    let out = call.handle(
        Input::SeatAssigned {
            seat: "1001".into(),
        },
        MONO + 4_000,
    );
    assert_eq!(
        out[0],
        Output::Dial {
            leg: LegId(1),
            target: seat("1001")
        }
    );
    let out = call.handle(Input::LegAnswered { leg: LegId(1) }, MONO + 10_000);
    assert!(out.contains(&Output::Bridge {
        a: CALLER,
        b: LegId(1)
    }));
    call
}

#[test]
fn two_leg_call_start_to_end_with_wall_times_from_the_invite() {
    let mut d = decision(
        Action::PromptThenQueue,
        Some("greeting.wav"),
        Some("market"),
        None,
    );
    d.mode = Mode::Parallel;
    d.working_hours = false;
    d.department = Some("market".into());
    let policy = CallPolicy {
        hold: Some("hold.wav".into()),
        ..early_media()
    };
    let (mut call, out) = Call::new(
        setup_with(d, FakeRouter::new(Vec::new()), WALL),
        policy,
        MONO,
    );
    assert_eq!(
        call.plan(),
        &Plan::Queue {
            prompt: Some("greeting.wav".into()),
            queue: "market".into(),
            hold: Some("hold.wav".into())
        }
    );
    assert_eq!(
        out,
        vec![
            Output::EarlyMedia,
            Output::Play {
                leg: CALLER,
                prompt: "greeting.wav".into(),
                looped: false
            }
        ]
    );
    let out = call.handle(Input::PromptFinished { leg: CALLER }, MONO + 3_000);
    assert_eq!(
        out,
        vec![
            Output::Play {
                leg: CALLER,
                prompt: "hold.wav".into(),
                looped: true
            },
            Output::Enqueue {
                queue: "market".into()
            }
        ]
    );
    // A first seat that is busy: back to the head of the queue, its wait start in wall time for the ACD.
    call.handle(
        Input::SeatAssigned {
            seat: "2001".into(),
        },
        MONO + 5_000,
    );
    assert!(call
        .handle(Input::LegRinging { leg: LegId(1) }, MONO + 5_100)
        .is_empty());
    assert_eq!(call.leg_state(LegId(1)), Some(LegState::Ringing));
    let out = call.handle(
        Input::LegFailed {
            leg: LegId(1),
            status: 486,
        },
        MONO + 6_000,
    );
    assert_eq!(
        out,
        vec![Output::SeatOfferFailed {
            seat: "2001".into(),
            queue: "market".into(),
            // the ACD's clock is the call's: monotonic, not wall
            waiting_since_ms: MONO + 3_000,
            why: OfferFailure::Refused,
        }]
    );
    let out = call.handle(
        Input::SeatAssigned {
            seat: "2002".into(),
        },
        MONO + 8_000,
    );
    assert_eq!(
        out,
        vec![
            Output::Dial {
                leg: LegId(2),
                target: seat("2002")
            },
            Output::StartTimer {
                kind: TimerKind::SeatRing { attempt: 2 },
                after_ms: 15_000
            }
        ]
    );
    let out = call.handle(Input::LegAnswered { leg: LegId(2) }, MONO + 12_000);
    assert_eq!(
        out,
        vec![
            Output::StopPlaying { leg: CALLER },
            Output::Answer,
            Output::Bridge {
                a: CALLER,
                b: LegId(2)
            },
            Output::SeatAnswered {
                seat: "2002".into(),
                queue: "market".into(),
                waited_ms: 9_000
            }
        ]
    );
    assert_eq!(call.topology(), &Topology::Bridge(CALLER, LegId(2)));
    assert_eq!(call.seat(), Some("2002"));
    // Answered: one interim record to journal (a crash from here on still leaves it), then no more.
    let interim = call.poll_journal(MONO + 12_000).expect("journal on answer");
    assert_eq!(interim.end_reason, EndReason::Interrupted);
    assert_eq!(interim.answered_at_ms, Some(WALL + 12_000));
    assert_eq!(interim.seat.as_deref(), Some("2002"));
    assert_eq!(interim.call_id, "c1@carrier");
    assert!(call.poll_journal(MONO + 13_000).is_none());
    call.handle(
        Input::Dtmf {
            leg: CALLER,
            digit: '3',
        },
        MONO + 20_000,
    );
    let out = call.handle(Input::LegHangup { leg: LegId(2) }, MONO + 72_000);
    assert!(
        call.poll_journal(MONO + 72_000).is_none(),
        "ended: the record replaces it"
    );
    assert_eq!(out[0], Output::Hangup { leg: CALLER });
    assert_eq!(
        out[1],
        Output::SeatReleased {
            seat: "2002".into()
        }
    );
    let r = record(&out);
    assert_eq!(
        *r,
        CallRecord {
            call_id: "c1@carrier".into(),
            caller: "13800001234".into(),
            called: "12345".into(),
            original_called: Some("12315".into()),
            route_mode: Some("parallel".into()),
            department: Some("market".into()),
            started_at_ms: WALL,
            answered_at_ms: Some(WALL + 12_000),
            ended_at_ms: WALL + 72_000,
            wait_ms: 12_000,
            seat: Some("2002".into()),
            end_reason: EndReason::SeatHangup,
            digits: "3".into(),
            off_hours: true,
            transfer_unanswered: None,
            transfers: Vec::new(),
            handed_over_by: None,
            system_answered_at_ms: Some(WALL + 12_000),
            // Queued at 3 s (after the prompt), answered at 12 s, in wall time.
            queue_visits: vec![QueueVisit {
                queue: "market".into(),
                entered_at_ms: WALL + 3_000,
                left_at_ms: WALL + 12_000,
                outcome: VisitOutcome::Answered,
            }],
            survey: None,
            quality: Vec::new(),
        }
    );
    assert!(call.is_finished());
    assert!(call.legs().all(|(_, s)| s == LegState::Gone));
    assert_eq!(call.topology(), &Topology::Apart);
}

#[test]
fn menu_key_is_routed_inside_handle_with_the_calls_wall_time() {
    let menu = decision(Action::Menu, Some("menu.wav"), Some("line1"), None);
    let mut dept = decision(Action::Department, None, None, Some("seats:market"));
    dept.mode = Mode::Parallel;
    dept.department = Some("market".into());
    let router = FakeRouter::new(vec![("2", dept)]);
    let policy = CallPolicy {
        hold: Some("hold.wav".into()),
        ..early_media()
    };
    let (mut call, out) = Call::new(setup_with(menu, router.clone(), WALL), policy, MONO);
    assert_eq!(
        out[1],
        Output::Play {
            leg: CALLER,
            prompt: "menu.wav".into(),
            looped: false
        }
    );
    // A key from another leg is not a menu choice (there is none yet; it is ignored).
    assert!(call
        .handle(
            Input::Dtmf {
                leg: LegId(1),
                digit: '2'
            },
            MONO + 1_000
        )
        .is_empty());
    let out = call.handle(
        Input::Dtmf {
            leg: CALLER,
            digit: '2',
        },
        MONO + 2_500,
    );
    assert_eq!(
        out,
        vec![
            Output::StopPlaying { leg: CALLER },
            Output::Play {
                leg: CALLER,
                prompt: "hold.wav".into(),
                looped: true
            },
            Output::Enqueue {
                queue: "market".into()
            }
        ]
    );
    assert_eq!(
        *router.asked.lock().unwrap(),
        vec![Asked {
            digits: "2".into(),
            at_ms: WALL + 2_500,
            called: "12345".into(),
            diversion: Some("12315".into()),
            caller: Some("13800001234".into()),
        }]
    );
    let out = call.handle(Input::CallerCancel, MONO + 4_000);
    let r = record(&out);
    assert_eq!(r.department.as_deref(), Some("market"));
    assert_eq!(r.route_mode.as_deref(), Some("main"), "the INVITE's mode");
    assert_eq!(r.digits, "2");
    assert_eq!(r.ended_at_ms, WALL + 4_000);
}

#[test]
fn plan_for_types_its_targets() {
    let plan = |action, target| plan_for(&decision(action, None, None, target), None);
    assert_eq!(
        plan(Action::Department, Some("seats:rsj")),
        Plan::Queue {
            prompt: None,
            queue: "rsj".into(),
            hold: None
        }
    );
    assert_eq!(
        plan(Action::Forward, Some("sip:x@1.2.3.4")),
        Plan::Connect {
            prompt: None,
            target: Target::Uri {
                uri: "sip:x@1.2.3.4".into(),
                gateway: None
            }
        }
    );
    assert_eq!(
        plan(Action::Forward, Some("sip:110@gw-police")),
        Plan::Connect {
            prompt: None,
            target: Target::Uri {
                uri: "sip:110@gw-police".into(),
                gateway: Some("gw-police".into())
            }
        }
    );
    assert_eq!(
        plan(
            Action::Department,
            Some("sip:12315@gw-market:5070;transport=tcp")
        ),
        Plan::Connect {
            prompt: None,
            target: Target::Uri {
                uri: "sip:12315@gw-market:5070;transport=tcp".into(),
                gateway: Some("gw-market".into())
            }
        }
    );
    assert_eq!(plan(Action::Forward, None), unavailable());
    assert_eq!(plan(Action::Department, None), unavailable());
    assert_eq!(Target::uri("sip:120@10.1.1.1:5062"), {
        Target::Uri {
            uri: "sip:120@10.1.1.1:5062".into(),
            gateway: None,
        }
    });
    assert!(matches!(
        Target::uri("sips:119@[2001:db8::1]:5061"),
        Target::Uri { gateway: None, .. }
    ));
    assert!(matches!(
        Target::uri("tel:+86110"),
        Target::Uri { gateway: None, .. }
    ));
    assert_eq!(
        Target::from_dialplan("seats:market"),
        Target::Group {
            group: "market".into()
        }
    );
}

#[test]
fn connect_plan_dials_a_typed_uri_target() {
    let d = decision(Action::Forward, None, None, Some("sip:110@gw-police"));
    let (call, out) = Call::new(
        setup_with(d, FakeRouter::new(Vec::new()), WALL),
        early_media(),
        MONO,
    );
    assert_eq!(
        out,
        vec![
            Output::EarlyMedia,
            Output::Dial {
                leg: LegId(1),
                target: Target::Uri {
                    uri: "sip:110@gw-police".into(),
                    gateway: Some("gw-police".into())
                }
            },
            Output::StartTimer {
                kind: TimerKind::SeatRing { attempt: 1 },
                after_ms: 60_000
            }
        ]
    );
    assert_eq!(call.seat(), None, "a URI target is not one of our seats");
    assert_eq!(call.partner(), Some(LegId(1)));
}

#[test]
fn three_legs_bridge_then_mix_then_bridge_with_dtmf_per_leg() {
    let mut call = talking();
    assert_eq!(call.topology(), &Topology::Bridge(CALLER, LegId(1)));
    let third = Target::uri("sip:12315@10.0.0.9");
    let (leg, out) = call.dial(third.clone(), MONO + 20_000);
    assert_eq!(leg, LegId(2));
    assert_eq!(
        out,
        vec![Output::Dial {
            leg: LegId(2),
            target: third.clone()
        }]
    );
    assert_eq!(call.target_of(LegId(2)), Some(&third));
    assert!(call
        .handle(Input::LegRinging { leg: LegId(2) }, MONO + 21_000)
        .is_empty());
    assert!(call
        .handle(Input::LegAnswered { leg: LegId(2) }, MONO + 25_000)
        .is_empty());
    assert_eq!(
        call.legs().collect::<Vec<_>>(),
        vec![
            (CALLER, LegState::Answered),
            (LegId(1), LegState::Answered),
            (LegId(2), LegState::Answered)
        ]
    );
    // The operator's leg and the third leg only heard each other's absence so far: now all three talk.
    assert_eq!(
        call.mix(&[CALLER, LegId(1), LegId(2)]),
        vec![Output::Mix {
            legs: vec![CALLER, LegId(1), LegId(2)]
        }]
    );
    assert_eq!(
        call.topology(),
        &Topology::Mix(vec![CALLER, LegId(1), LegId(2)])
    );
    for (leg, digit) in [
        (LegId(1), '#'),
        (LegId(2), '1'),
        (CALLER, '5'),
        (LegId(2), '2'),
    ] {
        // Nothing but, for the operator's key, the timer of its feature-code collector.
        let out = call.handle(Input::Dtmf { leg, digit }, MONO + 30_000);
        assert!(
            out.iter().all(|o| matches!(
                o,
                Output::StartTimer {
                    kind: TimerKind::Keys { .. },
                    ..
                }
            )) && (leg == LegId(1) || out.is_empty()),
            "{out:?}"
        );
    }
    assert_eq!(call.dtmf_of(CALLER), "5");
    assert_eq!(call.dtmf_of(LegId(1)), "#");
    assert_eq!(call.dtmf_of(LegId(2)), "12");
    // The seat leaves: the two left are bridged, the ACD gets its seat back, the call goes on.
    let out = call.handle(Input::LegHangup { leg: LegId(1) }, MONO + 40_000);
    assert_eq!(
        out,
        vec![
            Output::Isolate { leg: LegId(1) },
            Output::Bridge {
                a: CALLER,
                b: LegId(2)
            },
            Output::SeatReleased {
                seat: "1001".into()
            }
        ]
    );
    assert!(!call.is_finished());
    assert_eq!(call.topology(), &Topology::Bridge(CALLER, LegId(2)));
    assert_eq!(call.partner(), Some(LegId(2)));
    assert_eq!(call.leg_state(LegId(1)), Some(LegState::Gone));
    // Late events for the gone seat leg change nothing.
    for input in [
        Input::Dtmf {
            leg: LegId(1),
            digit: '9',
        },
        Input::LegHangup { leg: LegId(1) },
        Input::LegAnswered { leg: LegId(1) },
        Input::LegFailed {
            leg: LegId(1),
            status: 481,
        },
        Input::MediaTimeout { leg: LegId(1) },
    ] {
        assert!(call.handle(input, MONO + 41_000).is_empty());
    }
    assert_eq!(call.dtmf_of(LegId(1)), "#");
    let out = call.handle(Input::LegHangup { leg: CALLER }, MONO + 50_000);
    assert_eq!(out[0], Output::Hangup { leg: LegId(2) });
    assert_eq!(out.len(), 2, "{out:?}");
    let r = record(&out);
    assert_eq!(r.end_reason, EndReason::CallerHangup);
    assert_eq!(r.seat.as_deref(), Some("1001"));
    assert_eq!(r.digits, "5", "only the caller's keys");
    assert_eq!(r.answered_at_ms, Some(WALL + 10_000));
    assert_eq!(r.ended_at_ms, WALL + 50_000);
}

#[test]
fn a_further_leg_leaving_keeps_the_call_and_its_seat() {
    let mut call = talking();
    let (l2, _) = call.dial(seat("1009"), MONO + 11_000);
    call.handle(Input::LegAnswered { leg: l2 }, MONO + 12_000);
    call.mix(&[CALLER, LegId(1), l2]);
    let out = call.handle(Input::LegHangup { leg: l2 }, MONO + 13_000);
    assert_eq!(
        out,
        vec![
            Output::Isolate { leg: l2 },
            Output::Bridge {
                a: CALLER,
                b: LegId(1)
            }
        ]
    );
    assert_eq!(call.partner(), Some(LegId(1)));
    // A further leg that fails before answering is just gone.
    let (l3, _) = call.dial(Target::uri("sip:12366@gw-x"), MONO + 14_000);
    assert_eq!(l3, LegId(3), "ids are never reused");
    assert!(call
        .handle(
            Input::LegFailed {
                leg: l3,
                status: 486
            },
            MONO + 15_000
        )
        .is_empty());
    assert_eq!(call.leg_state(l3), Some(LegState::Gone));
    assert!(!call.is_finished());
    // One still ringing is cancelled when the caller leaves; the seat is hung up and released first.
    let (l4, _) = call.dial(Target::uri("sip:12366@gw-x"), MONO + 16_000);
    let out = call.handle(Input::LegHangup { leg: CALLER }, MONO + 17_000);
    assert_eq!(
        out[..3],
        [
            Output::Hangup { leg: LegId(1) },
            Output::SeatReleased {
                seat: "1001".into()
            },
            Output::Cancel { leg: l4 }
        ]
    );
    assert_eq!(record(&out).end_reason, EndReason::CallerHangup);
}

#[test]
fn drop_leg_and_isolate_primitives() {
    let mut call = talking();
    let (l2, _) = call.dial(seat("1009"), MONO + 11_000);
    assert_eq!(call.drop_leg(l2), vec![Output::Cancel { leg: l2 }]);
    assert!(call.drop_leg(l2).is_empty(), "already gone");
    assert!(call.drop_leg(LegId(1)).is_empty(), "not the partner");
    assert!(call.drop_leg(CALLER).is_empty(), "not the caller");
    assert!(
        call.bridge(CALLER, l2).is_empty(),
        "a gone leg is not bridged"
    );
    assert_eq!(call.bridge(CALLER, LegId(1)), vec![], "already bridged");
    assert_eq!(
        call.isolate(LegId(1)),
        vec![Output::Isolate { leg: LegId(1) }]
    );
    assert_eq!(call.topology(), &Topology::Apart);
    assert_eq!(
        call.bridge(LegId(1), CALLER),
        vec![Output::Bridge {
            a: LegId(1),
            b: CALLER
        }]
    );
}

#[test]
fn unknown_leg_ids_are_ignored() {
    let mut call = talking();
    let ghost = LegId(9);
    for input in [
        Input::PromptFinished { leg: ghost },
        Input::LegRinging { leg: ghost },
        Input::LegAnswered { leg: ghost },
        Input::LegFailed {
            leg: ghost,
            status: 500,
        },
        Input::LegHangup { leg: ghost },
        Input::Dtmf {
            leg: ghost,
            digit: '1',
        },
        Input::MediaTimeout { leg: ghost },
    ] {
        assert!(call.handle(input, MONO + 11_000).is_empty());
    }
    assert!(call.mix(&[CALLER, LegId(1), ghost]).is_empty());
    assert!(call.bridge(CALLER, CALLER).is_empty());
    assert!(call.isolate(ghost).is_empty());
    assert_eq!(call.dtmf_of(ghost), "");
    assert_eq!(call.target_of(ghost), None);
    assert_eq!(call.topology(), &Topology::Bridge(CALLER, LegId(1)));
    assert!(!call.is_finished());
}

#[test]
fn cancelled_seat_leg_is_gone_and_its_late_answer_ignored() {
    let (mut call, _) = start(
        Plan::Queue {
            prompt: None,
            queue: "main".into(),
            hold: None,
        },
        early_media(),
    );
    call.handle(
        Input::SeatAssigned {
            seat: "1001".into(),
        },
        1_000,
    );
    let out = call.handle(Input::Timer(TimerKind::SeatRing { attempt: 1 }), 16_000);
    assert_eq!(out[0], Output::Cancel { leg: LegId(1) });
    assert_eq!(call.leg_state(LegId(1)), Some(LegState::Gone));
    for input in [
        Input::LegRinging { leg: LegId(1) },
        Input::LegAnswered { leg: LegId(1) },
        Input::LegHangup { leg: LegId(1) },
    ] {
        assert!(call.handle(input, 16_100).is_empty());
    }
    assert_eq!(call.seat(), None);
    assert_eq!(call.topology(), &Topology::Apart);
}

#[test]
fn after_the_end_nothing_is_dialled() {
    let mut call = talking();
    call.handle(Input::LegHangup { leg: CALLER }, MONO + 20_000);
    let (leg, out) = call.dial(seat("1002"), MONO + 21_000);
    assert_eq!(leg, LegId(2));
    assert!(out.is_empty());
    assert_eq!(call.leg_state(leg), Some(LegState::Gone));
    assert!(call.mix(&[CALLER, LegId(1)]).is_empty());
}

/// The full output lists of the two-leg teardowns, in the old machine's order (the ported tests check parts).
#[test]
fn teardowns_keep_the_two_leg_machines_order() {
    let names = |out: &[Output]| -> Vec<Output> {
        out.iter()
            .filter(|o| !matches!(o, Output::Finished(_)))
            .cloned()
            .collect()
    };
    let queue = || Plan::Queue {
        prompt: None,
        queue: "main".into(),
        hold: None,
    };
    let assigned = || {
        let (mut call, _) = start(queue(), early_media());
        call.handle(
            Input::SeatAssigned {
                seat: "1001".into(),
            },
            1_000,
        );
        call
    };
    let out = assigned().handle(Input::CallerCancel, 2_000);
    assert_eq!(
        names(&out),
        vec![
            Output::Reject {
                status: 487,
                reason: "Request Terminated".into()
            },
            Output::Cancel { leg: LegId(1) },
            Output::Abandon {
                queue: "main".into()
            }
        ]
    );
    let mut call = assigned();
    call.handle(Input::LegAnswered { leg: LegId(1) }, 3_000);
    let out = call.handle(Input::AckTimeout, 35_000);
    assert_eq!(
        names(&out),
        vec![
            Output::Hangup { leg: LegId(1) },
            Output::SeatReleased {
                seat: "1001".into()
            },
            Output::Hangup { leg: CALLER }
        ]
    );
    let (mut call, _) = start(
        Plan::Connect {
            prompt: Some("ringback.wav".into()),
            target: Target::uri("sip:110@10.0.0.1"),
        },
        early_media(),
    );
    let out = call.handle(Input::Timer(TimerKind::SeatRing { attempt: 1 }), 60_000);
    assert_eq!(
        names(&out),
        vec![
            Output::Cancel { leg: LegId(1) },
            Output::StopPlaying { leg: CALLER },
            Output::Reject {
                status: 408,
                reason: "Target Unavailable".into()
            }
        ]
    );
    assert_eq!(record(&out).end_reason, EndReason::Failed);
}
