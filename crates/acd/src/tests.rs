//! Simulated time only: every figure below is a hand count of what the calls did.

use super::*;

fn cfg() -> AcdConfig {
    AcdConfig {
        wrap_up_ms: 0,
        rest_ms: 5_000,
        auto_login: true,
    }
}

fn acd() -> Acd {
    let mut a = Acd::new(cfg());
    a.add_seat("1001", vec!["main".into()]);
    a.add_seat("1002", vec!["main".into()]);
    a.add_seat("2001", vec!["tax".into()]);
    a
}

fn state(a: &Acd, seat: &str) -> Option<SeatState> {
    a.seat(seat).map(|s| s.state)
}

fn seats_of(got: &[Assignment]) -> Vec<(CallKey, String)> {
    got.iter()
        .flat_map(|g| {
            std::iter::once(&g.seat)
                .chain(&g.also)
                .map(move |s| (g.call, s.to_string()))
        })
        .collect()
}

fn queue(name: &str, skills: &[&str], strategy: Strategy, priority: i32) -> QueueSpec {
    QueueSpec {
        skills: skills.iter().map(|s| s.to_string()).collect(),
        strategy,
        priority,
        ..QueueSpec::named(name)
    }
}

fn max_wait(name: &str, ms: i64, overflow: Overflow) -> QueueSpec {
    QueueSpec {
        max_wait_ms: Some(ms),
        overflow,
        ..QueueSpec::named(name)
    }
}

#[test]
fn a_caller_past_the_maximum_wait_moves_to_the_overflow_queue_then_to_the_call_back_list() {
    let mut a = Acd::new(cfg());
    a.add_queue(max_wait(
        "general",
        60_000,
        Overflow::Queue("backup".into()),
    ));
    a.add_queue(max_wait("backup", 30_000, Overflow::Callback));
    a.add_seat("1001", vec!["general".into()]);
    a.add_seat("3001", vec!["backup".into()]);
    a.enqueue(1, "general", 0);
    a.enqueue(2, "general", 10_000);
    assert_eq!(a.next_wakeup(), Some(60_000));
    assert!(a.tick(59_999).is_empty() && a.take_moves().is_empty());
    a.tick(60_000);
    assert_eq!(
        a.take_moves(),
        [Moved {
            call: 1,
            from: Arc::from("general"),
            to: Some(Arc::from("backup"))
        }]
    );
    assert_eq!((a.position(1), a.position(2)), (Some(1), Some(1)));
    // The backup seat takes it, rings out (RONA): back at the head of backup, whose own 30 s still run.
    a.seat_online("3001", 61_000);
    a.offer_failed(1, "3001", "backup", 0, OfferFailure::NoAnswer, 76_000);
    assert_eq!(a.next_wakeup(), Some(70_000), "call 2 in general");
    a.tick(70_000);
    assert_eq!(a.take_moves()[0].call, 2);
    a.tick(90_000);
    let moves = a.take_moves();
    assert_eq!(
        moves,
        [Moved {
            call: 1,
            from: Arc::from("backup"),
            to: None
        }]
    );
    assert_eq!(
        a.position(1),
        None,
        "on the call-back list, out of every queue"
    );
    // A seat free when the wait runs out still takes the caller.
    let mut b = Acd::new(cfg());
    b.add_queue(max_wait("general", 60_000, Overflow::Callback));
    b.add_seat("1001", vec!["general".into()]);
    b.enqueue(1, "general", 0);
    b.seat_online("1001", 59_000);
    b.tick(60_000);
    assert!(b.take_moves().is_empty());
    assert_eq!(state(&b, "1001"), Some(SeatState::Ringing { call: 1 }));
    // An answered call has no deadline left.
    b.offer_answered(1, "1001", "general", 61_000);
    assert_eq!(b.next_wakeup(), None);
}

#[test]
fn overflow_targets_must_exist_and_never_go_round() {
    let ok = [
        max_wait("a", 1, Overflow::Queue("b".into())),
        max_wait("b", 1, Overflow::Callback),
    ];
    assert!(check_overflow(&ok).is_ok());
    let unknown = [max_wait("a", 1, Overflow::Queue("zz".into()))];
    assert!(check_overflow(&unknown)
        .unwrap_err()
        .contains("not a queue"));
    let circle = [
        max_wait("a", 1, Overflow::Queue("b".into())),
        max_wait("b", 1, Overflow::Queue("a".into())),
    ];
    assert_eq!(
        check_overflow(&circle).unwrap_err(),
        "queue overflow goes round in a circle: a → b → a"
    );
    // Without a maximum wait the overflow is never used: no circle.
    let unused = [
        max_wait("a", 1, Overflow::Queue("b".into())),
        QueueSpec {
            overflow: Overflow::Queue("a".into()),
            ..QueueSpec::named("b")
        },
    ];
    assert!(check_overflow(&unused).is_ok());
}

#[test]
fn longest_idle_seat_first_and_fifo_callers() {
    let mut a = acd();
    a.seat_online("1002", 0);
    a.seat_online("1001", 10);
    let first = a.enqueue(7, "main", 100);
    assert_eq!(&*first[0].seat, "1002");
    let second = a.enqueue(8, "main", 110);
    assert_eq!(&*second[0].seat, "1001");
    assert!(a.enqueue(9, "main", 120).is_empty());
    assert!(a.enqueue(10, "main", 130).is_empty());
    a.offer_answered(7, "1002", "main", 150);
    let next = a.seat_released("1002", 1_000);
    assert_eq!(next[0].call, 9, "first come, first served");
    assert_eq!(next[0].waited_ms, 880);
}

#[test]
fn round_robin_offers_the_next_seat_by_id_whatever_their_idle_time() {
    let mut a = Acd::new(cfg());
    a.add_queue(queue("main", &[], Strategy::RoundRobin, 0));
    for s in ["1001", "1002", "1003"] {
        a.add_seat(s, vec!["main".into()]);
    }
    // 1003 has idled longest: longest-idle would pick it; round robin starts at the lowest id.
    a.seat_online("1003", 0);
    a.seat_online("1001", 50);
    a.seat_online("1002", 60);
    let mut order = Vec::new();
    for call in 1..=5u64 {
        let got = a.enqueue(call, "main", 100 + call as i64);
        let seat = got[0].seat.clone();
        order.push(seat.to_string());
        a.offer_answered(call, &seat, "main", 200);
        a.seat_released(&seat, 300);
    }
    assert_eq!(order, ["1001", "1002", "1003", "1001", "1002"]);
    // A seat that is busy is skipped, and the turn goes on after it.
    let got = a.enqueue(6, "main", 400);
    assert_eq!(&*got[0].seat, "1003");
    a.offer_answered(6, "1003", "main", 400);
    assert_eq!(&*a.enqueue(7, "main", 410)[0].seat, "1001");
    assert_eq!(&*a.enqueue(8, "main", 420)[0].seat, "1002");
}

#[test]
fn ring_all_rings_every_free_seat_and_the_first_answer_frees_the_rest() {
    let mut a = Acd::new(cfg());
    a.add_queue(queue("ybj", &[], Strategy::RingAll, 0));
    for s in ["2001", "2002", "2003"] {
        a.add_seat(s, vec!["ybj".into()]);
        a.seat_online(s, 0);
    }
    let got = a.enqueue(1, "ybj", 10);
    assert_eq!(
        seats_of(&got),
        [(1, "2001".into()), (1, "2002".into()), (1, "2003".into())]
    );
    // Nothing left for the next caller while the three ring.
    assert!(a.enqueue(2, "ybj", 20).is_empty());
    // 2002 answers: 2001 and 2003 are free again and ring for caller 2 at once... on the next event.
    a.offer_answered(1, "2002", "ybj", 30);
    assert_eq!(state(&a, "2002"), Some(SeatState::Talking { call: 1 }));
    assert_eq!(state(&a, "2001"), Some(SeatState::Ready { since_ms: 30 }));
    let got = a.tick(31);
    assert_eq!(seats_of(&got), [(2, "2001".into()), (2, "2003".into())]);
    // Caller 2's ring-all: one seat busy, the other rings out. Only the last failure requeues the call.
    assert!(a
        .offer_failed(2, "2001", "ybj", 20, OfferFailure::Refused, 40)
        .is_empty());
    assert_eq!(a.position(2), None, "2003 still rings for it");
    assert!(a
        .offer_failed(2, "2003", "ybj", 20, OfferFailure::NoAnswer, 50)
        .is_empty());
    assert_eq!(a.position(2), Some(1));
    assert_eq!(
        state(&a, "2003"),
        Some(SeatState::NotReady {
            reason: Reason::Rona,
            since_ms: 50
        })
    );
    assert_eq!(
        state(&a, "2001"),
        Some(SeatState::Resting { until_ms: 5_040 })
    );
}

#[test]
fn a_queue_asks_for_skills_and_an_operator_brings_his_own() {
    let mut a = Acd::new(AcdConfig {
        auto_login: false,
        ..cfg()
    });
    a.add_queue(queue("general", &["general"], Strategy::LongestIdle, 0));
    a.add_queue(queue(
        "complaints",
        &["general", "complaints"],
        Strategy::LongestIdle,
        0,
    ));
    // Expert seats of a department serve its queue; a remote county seat is an ordinary seat with a tag.
    a.add_queue(queue("ybj", &["ybj"], Strategy::LongestIdle, 0));
    a.add_operator("7001", "王", vec!["general".into()]);
    a.add_operator("7002", "李", vec!["general".into(), "complaints".into()]);
    a.add_seat_with("1001", vec!["general".into()], vec![], None);
    a.add_seat_with("1002", vec!["general".into()], vec!["remote".into()], None);
    a.add_seat_with("2001", vec!["ybj".into()], vec![], None);
    for s in ["1001", "1002", "2001"] {
        a.seat_online(s, 0);
    }
    // Login required: registered seats take nothing yet.
    assert!(a.enqueue(1, "complaints", 10).is_empty());
    a.act(
        "1001",
        &AgentAction::Login {
            operator: Some("7001".into()),
        },
        20,
    )
    .unwrap();
    assert!(a.tick(21).is_empty(), "7001 lacks the complaints skill");
    let got = a
        .act(
            "1002",
            &AgentAction::Login {
                operator: Some("7002".into()),
            },
            30,
        )
        .unwrap();
    assert_eq!(seats_of(&got), [(1, "1002".into())]);
    let s = a.seat("1002").unwrap();
    assert_eq!(s.tags[0].as_ref(), "remote");
    assert_eq!(
        s.queues.iter().map(|q| q.as_ref()).collect::<Vec<_>>(),
        ["complaints", "general"]
    );
    // The department's queue reaches only its expert seat (logged in without a name: the seat's skills).
    a.act("2001", &AgentAction::Login { operator: None }, 40)
        .unwrap();
    assert_eq!(seats_of(&a.enqueue(2, "ybj", 50)), [(2, "2001".into())]);
    assert_eq!(seats_of(&a.enqueue(3, "general", 60)), [(3, "1001".into())]);
    assert!(a
        .act(
            "1001",
            &AgentAction::Login {
                operator: Some("9999".into())
            },
            70
        )
        .is_err_and(|e| e == ActionError::UnknownOperator));
}

#[test]
fn the_higher_priority_queue_is_served_first_then_the_longest_waiting() {
    let mut a = Acd::new(cfg());
    a.add_queue(queue("general", &["general"], Strategy::LongestIdle, 0));
    a.add_queue(queue("supervision", &["general"], Strategy::LongestIdle, 5));
    a.add_seat("1001", vec!["general".into()]);
    a.enqueue(1, "general", 0);
    a.enqueue(2, "general", 10);
    a.enqueue(3, "supervision", 20);
    let got = a.seat_online("1001", 100);
    assert_eq!(seats_of(&got), [(3, "1001".into())], "key 9 goes first");
    a.offer_answered(3, "1001", "supervision", 100);
    assert_eq!(a.seat_released("1001", 200)[0].call, 1);
}

#[test]
fn ring_no_answer_makes_the_seat_not_ready_and_rings_the_next_seat_for_the_head_call() {
    let mut a = acd();
    a.seat_online("1001", 0);
    a.seat_online("1002", 5);
    assert_eq!(&*a.enqueue(1, "main", 100)[0].seat, "1001");
    a.enqueue(2, "main", 200);
    assert_eq!(state(&a, "1002"), Some(SeatState::Ringing { call: 2 }));
    a.offer_answered(2, "1002", "main", 300);
    a.enqueue(3, "main", 400);
    // 1001 rings out at 15.1 s: not ready (RONA); call 1 goes back ahead of call 3.
    let got = a.offer_failed(1, "1001", "main", 100, OfferFailure::NoAnswer, 15_100);
    assert!(got.is_empty(), "no seat free");
    assert_eq!(
        state(&a, "1001"),
        Some(SeatState::NotReady {
            reason: Reason::Rona,
            since_ms: 15_100
        })
    );
    assert_eq!(a.seat("1001").map(|s| s.missed_offers), Some(1));
    assert_eq!((a.position(1), a.position(3)), (Some(1), Some(2)));
    // The next seat free takes the head call at once, with its original wait.
    let got = a.seat_released("1002", 16_000);
    assert_eq!((got[0].call, &*got[0].seat), (1, "1002"));
    assert_eq!(got[0].waited_ms, 15_900);
    // The RONA seat stays out until its operator is ready again.
    assert!(a.tick(100_000).is_empty());
    let got = a
        .act("1001", &AgentAction::Login { operator: None }, 100_000)
        .unwrap();
    assert_eq!(seats_of(&got), [(3, "1001".into())]);
}

#[test]
fn a_refused_offer_rests_the_seat_and_a_returned_one_frees_it_at_once() {
    let mut a = acd();
    a.seat_online("1001", 0);
    assert_eq!(&*a.enqueue(1, "main", 0)[0].seat, "1001");
    a.enqueue(2, "main", 10);
    let again = a.offer_failed(1, "1001", "main", 0, OfferFailure::Refused, 15_000);
    assert!(again.is_empty(), "the seat rests before the next offer");
    assert_eq!(a.position(1), Some(1));
    assert_eq!(a.next_wakeup(), Some(20_000));
    let got = a.tick(20_000);
    assert_eq!((got[0].call, got[0].waited_ms), (1, 20_000));
    // The call had left the queue when its seat came: the seat is back at once, the call not requeued.
    let got = a.offer_failed(1, "1001", "main", 0, OfferFailure::Returned, 20_100);
    assert_eq!(seats_of(&got), [(2, "1001".into())]);
    assert_eq!(a.position(1), None);
}

#[test]
fn wrap_up_ends_by_itself_or_by_star_24() {
    let mut a = Acd::new(AcdConfig {
        wrap_up_ms: 10_000,
        ..cfg()
    });
    a.add_seat("1001", vec!["main".into()]);
    a.seat_online("1001", 0);
    a.enqueue(1, "main", 0);
    a.offer_answered(1, "1001", "main", 0);
    assert!(a.seat_released("1001", 100).is_empty());
    assert_eq!(
        state(&a, "1001"),
        Some(SeatState::WrapUp { until_ms: 10_100 })
    );
    a.enqueue(2, "main", 200);
    assert!(a.tick(5_000).is_empty());
    assert_eq!(a.next_wakeup(), Some(10_100));
    let got = a.tick(10_100);
    assert_eq!(seats_of(&got), [(2, "1001".into())], "wrap-up expired");
    // After the second call, *24 two seconds into the wrap-up hands the seat the next caller at once.
    a.offer_answered(2, "1001", "main", 10_200);
    a.seat_released("1001", 20_000);
    a.enqueue(3, "main", 20_500);
    let got = a.act("1001", &AgentAction::EndWrapUp, 22_000).unwrap();
    assert_eq!(seats_of(&got), [(3, "1001".into())]);
    assert_eq!(a.next_wakeup(), None, "the wrap-up timer is gone");
    assert_eq!(
        a.act("1001", &AgentAction::EndWrapUp, 22_100),
        Err(ActionError::NotInWrapUp)
    );
}

#[test]
fn not_ready_stops_offers_and_during_a_call_applies_after_it() {
    let mut a = acd();
    a.seat_online("1001", 0);
    a.enqueue(1, "main", 0);
    a.offer_answered(1, "1001", "main", 0);
    // *22 2 while talking: the call goes on, and after it the seat takes nothing.
    a.act(
        "1001",
        &AgentAction::NotReady {
            reason: Reason::Code(2),
        },
        50,
    )
    .unwrap();
    assert_eq!(state(&a, "1001"), Some(SeatState::Talking { call: 1 }));
    a.enqueue(2, "main", 60);
    assert!(a.seat_released("1001", 100).is_empty());
    assert_eq!(
        state(&a, "1001"),
        Some(SeatState::NotReady {
            reason: Reason::Code(2),
            since_ms: 100
        })
    );
    let got = a
        .act("1001", &AgentAction::Login { operator: None }, 200)
        .unwrap();
    assert_eq!(seats_of(&got), [(2, "1001".into())]);
}

#[test]
fn login_required_logout_and_registration() {
    let mut a = Acd::new(AcdConfig {
        auto_login: false,
        ..cfg()
    });
    a.add_operator("7001", "王", vec![]);
    a.add_seat_with("1001", vec!["main".into()], vec![], Some("7001"));
    a.add_seat("1002", vec!["main".into()]);
    a.seat_online("1001", 0);
    assert!(
        a.enqueue(1, "main", 0).is_empty(),
        "registered, not logged in"
    );
    assert_eq!(
        a.act(
            "1001",
            &AgentAction::NotReady {
                reason: Reason::Code(0)
            },
            1
        ),
        Err(ActionError::NotLoggedIn)
    );
    // *21 alone logs in the seat's own operator.
    let got = a
        .act("1001", &AgentAction::Login { operator: None }, 10)
        .unwrap();
    assert_eq!(seats_of(&got), [(1, "1001".into())]);
    assert_eq!(
        a.seat("1001").and_then(|s| s.operator.as_deref()),
        Some("7001")
    );
    // The operator moves to 1002 while 1001 rings: refused; after the call it may.
    a.seat_online("1002", 20);
    assert!(matches!(
        a.act(
            "1002",
            &AgentAction::Login {
                operator: Some("7001".into())
            },
            30
        ),
        Err(ActionError::OperatorBusyElsewhere { .. })
    ));
    a.offer_answered(1, "1001", "main", 40);
    a.seat_released("1001", 50);
    a.act(
        "1002",
        &AgentAction::Login {
            operator: Some("7001".into()),
        },
        60,
    )
    .unwrap();
    assert_eq!(state(&a, "1001"), Some(SeatState::LoggedOut));
    assert_eq!(
        a.seat("1002").and_then(|s| s.operator.as_deref()),
        Some("7001")
    );
    // *23: logged out; the registration expiring while logged in logs out too.
    a.act("1002", &AgentAction::Logout, 70).unwrap();
    assert_eq!(state(&a, "1002"), Some(SeatState::LoggedOut));
    a.act("1001", &AgentAction::Login { operator: None }, 80)
        .unwrap();
    a.seat_offline("1001", 90);
    assert_eq!(state(&a, "1001"), Some(SeatState::LoggedOut));
    assert!(a
        .seat("1001")
        .is_some_and(|s| !s.registered && s.operator.is_none()));
}

#[test]
fn auto_login_keeps_registering_seats_ready_but_not_after_an_operator_logged_out() {
    let mut a = acd();
    a.seat_online("1001", 0);
    assert_eq!(state(&a, "1001"), Some(SeatState::Ready { since_ms: 0 }));
    // A refresh changes nothing; losing the registration logs out, registering again logs in.
    a.seat_online("1001", 10);
    assert_eq!(state(&a, "1001"), Some(SeatState::Ready { since_ms: 0 }));
    a.seat_offline("1001", 20);
    a.seat_online("1001", 30);
    assert_eq!(state(&a, "1001"), Some(SeatState::Ready { since_ms: 30 }));
    // *23 holds it out, through registrations, until *21.
    a.act("1001", &AgentAction::Logout, 40).unwrap();
    a.seat_offline("1001", 50);
    a.seat_online("1001", 60);
    assert_eq!(state(&a, "1001"), Some(SeatState::LoggedOut));
    a.act("1001", &AgentAction::Login { operator: None }, 70)
        .unwrap();
    assert_eq!(state(&a, "1001"), Some(SeatState::Ready { since_ms: 70 }));
    // The registration going while talking: the call goes on, then the seat is logged out.
    a.enqueue(1, "main", 80);
    a.offer_answered(1, "1001", "main", 90);
    a.seat_offline("1001", 100);
    assert_eq!(state(&a, "1001"), Some(SeatState::Talking { call: 1 }));
    a.enqueue(2, "main", 110);
    assert!(a.seat_released("1001", 120).is_empty());
    assert_eq!(state(&a, "1001"), Some(SeatState::LoggedOut));
}

#[test]
fn a_restart_restores_who_is_logged_in_until_the_registration_would_have_expired() {
    let mut a = Acd::new(AcdConfig {
        auto_login: false,
        ..cfg()
    });
    a.add_operator("7001", "王", vec![]);
    a.add_operator("7002", "李", vec![]);
    for s in ["1001", "1002", "1003"] {
        a.add_seat(s, vec!["main".into()]);
    }
    a.restore("1001", Some("7001"), Presence::Ready, false, 60_000, 0);
    a.restore(
        "1002",
        Some("7002"),
        Presence::NotReady {
            reason: Reason::Code(3),
        },
        false,
        60_000,
        0,
    );
    a.restore("1003", None, Presence::LoggedOut, true, 60_000, 0);
    assert_eq!(
        a.seat("1001").and_then(|s| s.operator.as_deref()),
        Some("7001")
    );
    assert!(matches!(
        state(&a, "1002"),
        Some(SeatState::NotReady {
            reason: Reason::Code(3),
            ..
        })
    ));
    // Not registered again yet: no calls; 1001 registers and takes one, still as 7001.
    assert!(a.enqueue(1, "main", 10).is_empty());
    assert_eq!(seats_of(&a.seat_online("1001", 20)), [(1, "1001".into())]);
    assert_eq!(a.next_wakeup(), Some(60_000), "1002's grace");
    a.tick(60_000);
    assert_eq!(state(&a, "1002"), Some(SeatState::LoggedOut));
    assert_eq!(
        a.seat("1001").and_then(|s| s.operator.as_deref()),
        Some("7001")
    );
    assert!(a.seat("1003").is_some_and(|s| s.held_out));
}

#[test]
fn events_say_what_changed_and_which_changes_a_restart_must_keep() {
    let mut a = acd();
    a.take_events();
    a.seat_online("1001", 0);
    a.enqueue(1, "main", 10);
    a.offer_answered(1, "1001", "main", 20);
    a.seat_released("1001", 30);
    a.act(
        "1001",
        &AgentAction::NotReady {
            reason: Reason::Code(4),
        },
        40,
    )
    .unwrap();
    let ev = a.take_events();
    let seen: Vec<(&str, bool, i64)> = ev
        .iter()
        .map(|e| (e.state.name(), e.presence_changed, e.at_ms))
        .collect();
    assert_eq!(
        seen,
        [
            ("logged_out", false, 0), // registered
            ("ready", true, 0),       // auto login
            ("ringing", false, 10),
            ("talking", false, 20),
            ("ready", false, 30),
            ("not_ready", true, 40),
        ]
    );
    assert!(ev[0].registered && ev.iter().all(|e| &*e.seat == "1001"));
    assert!(a.take_events().is_empty());
}

#[test]
fn a_ring_all_transfer_reserves_the_groups_free_seats_until_one_answers() {
    let mut a = acd();
    a.seat_online("1001", 0);
    a.seat_online("1002", 0);
    a.seat_online("2001", 0);
    let got: Vec<String> = a
        .reserve(7, "main", 0)
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(got, ["1001", "1002"]);
    // Reserved seats are not offered to a queued call.
    assert!(a.enqueue(8, "main", 10).is_empty());
    a.seat_taken(7, "1002", 15);
    assert_eq!(state(&a, "1002"), Some(SeatState::Talking { call: 7 }));
    // The rest goes back, and the waiting call gets it at once.
    let got = a.withdraw(7, 20);
    assert_eq!(seats_of(&got), [(8, "1001".into())]);
}

#[test]
fn a_call_whose_transfer_failed_is_back_first_in_line() {
    let mut a = acd();
    a.enqueue(1, "main", 100);
    a.enqueue(2, "main", 200);
    assert!(
        a.requeue_front(9, "main", 5, 300).is_empty(),
        "no seat online"
    );
    assert_eq!(a.position(9), Some(1));
    let got = a.seat_online("1001", 400);
    assert_eq!(seats_of(&got), [(9, "1001".into())]);
    assert_eq!(a.waiting_count(), 2, "1 and 2 still wait");
}

#[test]
fn unregistered_seats_get_no_calls_and_queues_are_separate() {
    let mut a = acd();
    assert!(a.enqueue(1, "main", 0).is_empty());
    assert_eq!(a.position(1), Some(1));
    a.seat_online("2001", 0);
    assert_eq!(seats_of(&a.enqueue(2, "tax", 0)), [(2, "2001".into())]);
    let got = a.seat_online("1001", 5_000);
    assert_eq!(
        got,
        vec![Assignment {
            call: 1,
            seat: Arc::from("1001"),
            also: vec![],
            queue: Arc::from("main"),
            waited_ms: 5_000
        }]
    );
    assert_eq!(a.position(1), None);
}

#[test]
fn withdraw_frees_a_ringing_seat_for_the_next_caller() {
    let mut a = acd();
    a.seat_online("1001", 0);
    a.enqueue(1, "main", 0);
    a.enqueue(2, "main", 0);
    assert_eq!(a.withdraw(1, 3_000)[0].call, 2);
}

#[test]
fn a_seat_in_two_queues_takes_one_call_and_order_is_kept() {
    let mut a = Acd::new(cfg());
    a.add_seat("3001", vec!["tax".into(), "main".into()]);
    a.enqueue(1, "main", 0);
    a.enqueue(2, "tax", 10);
    let got = a.seat_online("3001", 100);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].call, 1,
        "the earlier caller first, whatever its queue"
    );
    assert_eq!(a.position(2), Some(1));
}

#[test]
fn expected_wait_is_the_position_times_the_recent_answer_interval() {
    let mut a = acd();
    a.seat_online("1001", 0);
    for (call, t) in [(1u64, 0i64), (2, 60_000), (3, 120_000)] {
        a.enqueue(call, "main", t);
        a.offer_answered(call, "1001", "main", t);
        a.seat_released("1001", t + 1);
        a.take_events();
    }
    a.act(
        "1001",
        &AgentAction::NotReady {
            reason: Reason::Code(0),
        },
        130_000,
    )
    .unwrap();
    a.enqueue(4, "main", 130_000);
    a.enqueue(5, "main", 130_001);
    assert_eq!(a.position(5), Some(2));
    assert_eq!(a.expected_wait_ms(5), Some(120_000));
    assert_eq!(a.expected_wait_ms(99), None);
    let snap = a.snapshot(140_000);
    let main = snap.iter().find(|q| q.name == "main").unwrap();
    assert_eq!((main.waiting, main.longest_wait_ms), (2, 10_000));
    assert_eq!((main.seats.logged_in, main.seats.not_ready), (1, 1));
}

/// Free (queue, key, seat), offers (call, seat), timed (until, seat), grace (until, seat).
type Indices = (
    Vec<(String, i64, String)>,
    Vec<(CallKey, String)>,
    Vec<(i64, String)>,
    Vec<(i64, String)>,
);

/// The indices recomputed from the seats as they are.
fn indices_from_states(a: &Acd) -> Indices {
    let (mut free, mut offers, mut timed, mut grace) = (vec![], vec![], vec![], vec![]);
    for s in a.seats.values() {
        match s.state {
            SeatState::Ready { since_ms } if s.registered => {
                for q in s.queues.iter() {
                    let key = match a.queues[q].spec.strategy {
                        Strategy::LongestIdle => since_ms,
                        _ => 0,
                    };
                    free.push((q.to_string(), key, s.id.to_string()));
                }
            }
            SeatState::Ringing { call } => offers.push((call, s.id.to_string())),
            SeatState::WrapUp { until_ms } | SeatState::Resting { until_ms } => {
                timed.push((until_ms, s.id.to_string()))
            }
            _ => {}
        }
        if let (Some(t), false) = (s.grace_until, s.registered) {
            grace.push((t, s.id.to_string()));
        }
    }
    free.sort();
    offers.sort();
    timed.sort();
    grace.sort();
    (free, offers, timed, grace)
}

fn indices_kept(a: &Acd) -> Indices {
    let mut free: Vec<_> = a
        .queues
        .iter()
        .flat_map(|(n, q)| {
            q.free
                .iter()
                .map(move |(t, id)| (n.to_string(), *t, id.to_string()))
        })
        .collect();
    let mut offers: Vec<_> = a
        .offers
        .iter()
        .flat_map(|(c, ids)| ids.iter().map(move |id| (*c, id.to_string())))
        .collect();
    free.sort();
    offers.sort();
    let set = |s: &BTreeSet<(i64, SeatId)>| s.iter().map(|(t, id)| (*t, id.to_string())).collect();
    (free, offers, set(&a.timed), set(&a.grace))
}

proptest::proptest! {
    /// Whatever happens, the indices say what the seats say, no seat rings for two calls, and the operators'
    /// logins point at seats they are logged in at.
    #[test]
    fn the_indices_follow_every_change(ops in proptest::collection::vec((0u8..16, 0u64..6, 0usize..5), 1..250)) {
        let mut a = Acd::new(AcdConfig { wrap_up_ms: 500, rest_ms: 300, auto_login: true });
        a.add_queue(QueueSpec { max_wait_ms: Some(700), overflow: Overflow::Queue("tax".into()), ..queue("ybj", &[], Strategy::RingAll, 1) });
        a.add_queue(QueueSpec { max_wait_ms: Some(900), ..queue("tax", &[], Strategy::RoundRobin, 0) });
        a.add_operator("7001", "a", vec!["main".into(), "tax".into()]);
        a.add_operator("7002", "b", vec![]);
        let ids = ["1001", "1002", "1003", "2001", "2002"];
        a.add_seat("1001", vec!["main".into()]);
        a.add_seat("1002", vec!["main".into()]);
        a.add_seat("1003", vec!["main".into(), "tax".into()]);
        a.add_seat("2001", vec!["tax".into()]);
        a.add_seat("2002", vec!["tax".into(), "ybj".into()]);
        let queues = ["main", "tax", "ybj"];
        let whys = [OfferFailure::NoAnswer, OfferFailure::Refused, OfferFailure::Returned];
        let mut now = 0i64;
        for (op, call, n) in ops {
            now += 100;
            let seat = ids[n];
            let queue = queues[n % 3];
            let got = match op {
                0 => a.seat_online(seat, now),
                1 => { a.seat_offline(seat, now); Vec::new() }
                2 => a.enqueue(call, queue, now),
                3 => a.withdraw(call, now),
                4 => { a.offer_answered(call, seat, queue, now); Vec::new() }
                5 => a.offer_failed(call, seat, queue, now - 50, whys[n % 3], now),
                6 => { a.reserve(call, queue, now); Vec::new() }
                7 => a.seat_released(seat, now),
                8 => a.act(seat, &AgentAction::Login { operator: [None, Some("7001".to_string()), Some("7002".to_string())][n % 3].clone() }, now).unwrap_or_default(),
                9 => a.act(seat, &AgentAction::NotReady { reason: Reason::Code(n as u8) }, now).unwrap_or_default(),
                10 => a.act(seat, &AgentAction::Logout, now).unwrap_or_default(),
                11 => a.act(seat, &AgentAction::EndWrapUp, now).unwrap_or_default(),
                12 => { a.restore(seat, Some("7002"), Presence::Ready, false, now + 250, now); Vec::new() }
                13 => { a.seat_taken(call, seat, now); Vec::new() }
                14 => a.requeue_front(call, queue, now - 10, now),
                _ => a.tick(now),
            };
            for g in &got {
                for s in std::iter::once(&g.seat).chain(&g.also) {
                    proptest::prop_assert_eq!(state(&a, s), Some(SeatState::Ringing { call: g.call }));
                }
            }
            proptest::prop_assert_eq!(indices_kept(&a), indices_from_states(&a));
            // Every waiting call with a deadline is due; nothing else is.
            let mut due: Vec<(i64, CallKey)> = a.waiting_in.keys().filter_map(|c| a.deadline_of.get(c).map(|d| (*d, *c))).collect();
            due.sort();
            proptest::prop_assert_eq!(due, a.due.iter().copied().collect::<Vec<_>>());
            a.take_moves();
            for (op, seat) in &a.logged_in {
                proptest::prop_assert_eq!(a.seats[seat].operator.as_ref(), Some(op));
            }
            for s in a.seats.values() {
                if let Some(op) = &s.operator {
                    proptest::prop_assert_eq!(a.logged_in.get(op), Some(&s.id));
                }
            }
        }
    }
}
