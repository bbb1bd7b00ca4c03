//! The later life of tickets through the store, on SQLite and PostgreSQL: the new transitions and what they
//! leave (item 4, 5), repeated requests (item 3), survey evaluations and the call-back list (item 1's ticket
//! side), the reminder producer (item 6) and the KPIs counted by hand.

mod common;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use common::{rec, TestDb};
use ticket::callback::{
    CallbackHours, CallbackKind, CallbackOutcome, CallbackPolicy, CallbackState, CallingHours,
    NextCallback,
};
use ticket::notify::{NotifyConfig, PROVINCE, REMINDERS};
use ticket::repeat::{RepeatRules, UnreasonableRule};
use ticket::stats::TimeRange;
use ticket::store::{AcceptedRequest, NewCallback, RequestInput};
use ticket::{
    Action, Category, DeadlineRules, Evaluation, EvaluationSource, NotAcceptedReason, Satisfaction,
    Status, Store, TicketError, TicketInput,
};

const DAY: i64 = 86_400_000;

async fn store(db: &TestDb) -> Store {
    Store::connect(&db.url, 4).await.unwrap()
}

fn bj(s: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    chrono_tz::Asia::Shanghai
        .from_local_datetime(&naive)
        .unwrap()
        .with_timezone(&Utc)
}

fn input(caller: &str, department: &str, at_ms: i64, call_id: &str) -> TicketInput {
    TicketInput {
        category: Category::Complaint,
        department: department.into(),
        text: "楼上漏水".into(),
        caller: Some(caller.into()),
        call_id: Some(call_id.into()),
        accepted_at_ms: at_ms,
        source: "api".into(),
    }
}

async fn act(s: &Store, id: &str, a: Action, at: i64) -> ticket::Ticket {
    s.act(id, &a, "tester", at)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", a.name()))
}

async fn lifecycle_transitions_are_stored_and_refused_ones_change_nothing(db: TestDb) {
    let s = store(&db).await;
    let t0 = bj("2022-01-26 10:00").timestamp_millis();
    let t = s
        .create_ticket(&input("13800000001", "water", t0, "c1"), "op", t0)
        .await
        .unwrap();
    let id = t.id.as_str();
    act(
        &s,
        id,
        Action::Dispatch {
            department: "water".into(),
        },
        t0,
    )
    .await;
    act(&s, id, Action::Sign {}, t0 + 1).await;
    act(&s, id, Action::Handle {}, t0 + 2).await;
    // Extension: asked, refused twice while pending, approved; the deadline moves over the Spring Festival.
    let ask = Action::RequestExtension {
        days: 3,
        reason: "site visit".into(),
    };
    let t = act(&s, id, ask.clone(), t0 + 3).await;
    assert_eq!(t.lifecycle.extension_pending, Some(3));
    let before = s.history(id).await.unwrap().len();
    let err = s.act(id, &ask, "tester", t0 + 4).await.unwrap_err();
    assert!(matches!(err, TicketError::Refused(_)), "{err}");
    assert_eq!(
        s.history(id).await.unwrap().len(),
        before,
        "a refused action writes nothing"
    );
    let t = act(&s, id, Action::ApproveExtension {}, t0 + 5).await;
    assert_eq!(
        (t.lifecycle.extension_days, t.lifecycle.extension_pending),
        (3, None)
    );
    let sched = common::schedule();
    let d = ticket::deadline::deadlines(
        &sched,
        &DeadlineRules::default(),
        0.2,
        t.deadline_input(),
        bj("2022-01-27 09:00"),
    );
    assert_eq!(d.close_due, bj("2022-02-14 10:00"));
    // Return, refused: back to handling; return, upheld: power, fresh sign-for clock.
    let t = act(
        &s,
        id,
        Action::Return {
            reason: "power's".into(),
        },
        t0 + 6,
    )
    .await;
    assert_eq!(
        (t.status, t.lifecycle.returned_from),
        (Status::Returned, Some(Status::Handling))
    );
    let t = act(
        &s,
        id,
        Action::RefuseReturn {
            note: "pipes are water's".into(),
        },
        t0 + 7,
    )
    .await;
    assert_eq!(
        (t.status, t.department.as_str()),
        (Status::Handling, "water")
    );
    assert_eq!(t.lifecycle.returned_from, None);
    act(
        &s,
        id,
        Action::Return {
            reason: "really power's".into(),
        },
        t0 + 8,
    )
    .await;
    let t = act(
        &s,
        id,
        Action::AcceptReturn {
            department: "power".into(),
        },
        t0 + 9,
    )
    .await;
    assert_eq!(
        (
            t.status,
            t.department.as_str(),
            t.dispatched_at_ms,
            t.signed_at_ms
        ),
        (Status::Dispatched, "power", Some(t0 + 9), None)
    );
    // Closed, then re-handled: the same department, counted.
    act(&s, id, Action::Sign {}, t0 + 10).await;
    act(&s, id, Action::Handle {}, t0 + 11).await;
    act(
        &s,
        id,
        Action::Reply {
            text: "fixed".into(),
        },
        t0 + 12,
    )
    .await;
    act(&s, id, Action::Close {}, t0 + 13).await;
    let t = act(
        &s,
        id,
        Action::Rehandle {
            reason: "still leaking".into(),
        },
        t0 + 14,
    )
    .await;
    assert_eq!(
        (t.status, t.department.as_str()),
        (Status::Dispatched, "power")
    );
    assert_eq!(
        (
            t.lifecycle.reopened,
            t.lifecycle.reopened_at_ms,
            t.closed_at_ms
        ),
        (1, Some(t0 + 14), None)
    );
    let again = s.ticket(id).await.unwrap().unwrap();
    assert_eq!(again.lifecycle, t.lifecycle, "read back as written");
    let actions: Vec<String> = s
        .history(id)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.action)
        .collect();
    for a in [
        "request_extension",
        "approve_extension",
        "refuse_return",
        "accept_return",
        "rehandle",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    // Not accepted, with its reason; final.
    let n = s
        .create_ticket(&input("13800000002", "center", t0, "c2"), "op", t0)
        .await
        .unwrap();
    let n = act(
        &s,
        &n.id,
        Action::NotAccept {
            reason: NotAcceptedReason::Arbitration,
            note: "labour arbitration pending".into(),
        },
        t0 + 1,
    )
    .await;
    assert_eq!(
        (n.status, n.lifecycle.not_accepted),
        (Status::NotAccepted, Some(NotAcceptedReason::Arbitration))
    );
    let err = s
        .act(
            &n.id,
            &Action::Dispatch {
                department: "water".into(),
            },
            "t",
            t0 + 2,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TicketError::Refused(_)), "{err}");
}
both_backends!(
    lifecycle_transitions,
    lifecycle_transitions_are_stored_and_refused_ones_change_nothing
);

fn request(
    caller: &str,
    department: &str,
    matter: &str,
    at_ms: i64,
    call_id: &str,
) -> RequestInput {
    RequestInput {
        ticket: input(caller, department, at_ms, call_id),
        matter: matter.into(),
    }
}

async fn repeats_are_merged_for_the_same_caller_and_matter_within_the_window(db: TestDb) {
    let s = store(&db).await;
    let rules = RepeatRules {
        window_days: 7,
        unreasonable: UnreasonableRule {
            requests: 0,
            within_days: 30,
        },
    };
    let t0 = 1_700_000_000_000;
    let first = s
        .accept_request(
            &request("13811110000", "water", "朝阳区建国路88号，漏水", t0, "r1"),
            &rules,
            "op",
            t0,
        )
        .await
        .unwrap();
    let AcceptedRequest::New { ticket: first, .. } = first else {
        panic!("first request opens a ticket")
    };
    // Same caller, same matter written differently, 3 days later: merged, visible on both.
    let at = t0 + 3 * DAY;
    let merged = s
        .accept_request(
            &request(
                "13811110000",
                "water",
                "漏水、朝阳区 建国路８８号",
                at,
                "r2",
            ),
            &rules,
            "op",
            at,
        )
        .await
        .unwrap();
    let AcceptedRequest::Merged {
        ticket,
        requests,
        flagged,
    } = merged
    else {
        panic!("a repeat is merged: {merged:?}")
    };
    assert_eq!(
        (ticket.id.as_str(), requests, flagged),
        (first.id.as_str(), 2, false)
    );
    assert_eq!(ticket.call_ids, ["r1", "r2"]);
    assert_eq!(s.tickets_of_call("r2").await.unwrap(), [first.id.as_str()]);
    let reqs = s.ticket_requests(&first.id).await.unwrap();
    assert_eq!(
        reqs.iter().map(|r| r.merged).collect::<Vec<_>>(),
        [false, true]
    );
    assert!(s
        .history(&first.id)
        .await
        .unwrap()
        .iter()
        .any(|h| h.action == "merge_repeat"));
    // Another caller with the same matter: a ticket of their own.
    let other = s
        .accept_request(
            &request("13922220000", "water", "朝阳区建国路88号，漏水", at, "r3"),
            &rules,
            "op",
            at,
        )
        .await
        .unwrap();
    assert!(matches!(other, AcceptedRequest::New { .. }), "{other:?}");
    // The same caller about another matter (department): new.
    let other_matter = s
        .accept_request(
            &request("13811110000", "power", "朝阳区建国路88号，漏水", at, "r4"),
            &rules,
            "op",
            at,
        )
        .await
        .unwrap();
    assert!(matches!(other_matter, AcceptedRequest::New { .. }));
    // Out of the window (8 days after the first): new.
    let late = t0 + 7 * DAY + 1;
    let after = s
        .accept_request(
            &request("13811110000", "water", "朝阳区建国路88号,漏水", late, "r5"),
            &rules,
            "op",
            late,
        )
        .await
        .unwrap();
    assert!(matches!(after, AcceptedRequest::New { .. }), "{after:?}");
    // Exactly at the window's end of the newest open ticket: merged into it (the newest).
    let edge = late + 7 * DAY;
    let edge_req = s
        .accept_request(
            &request("13811110000", "water", "朝阳区建国路88号，漏水", edge, "r6"),
            &rules,
            "op",
            edge,
        )
        .await
        .unwrap();
    assert_eq!(edge_req.ticket().id, after.ticket().id);
    // A closed ticket takes no repeats.
    let closed_rules = RepeatRules {
        window_days: 365,
        ..rules.clone()
    };
    let c = s
        .accept_request(
            &request("13700000000", "water", "x路1号", t0, "q1"),
            &closed_rules,
            "op",
            t0,
        )
        .await
        .unwrap();
    let cid = c.ticket().id.clone();
    for a in [
        Action::Dispatch {
            department: "water".into(),
        },
        Action::Sign {},
        Action::Handle {},
        Action::Reply { text: "ok".into() },
        Action::Close {},
    ] {
        act(&s, &cid, a, t0 + 1).await;
    }
    let again = s
        .accept_request(
            &request("13700000000", "water", "x路1号", t0 + DAY, "q2"),
            &closed_rules,
            "op",
            t0 + DAY,
        )
        .await
        .unwrap();
    assert!(matches!(again, AcceptedRequest::New { .. }));
    assert_ne!(again.ticket().id, cid);
}
both_backends!(
    repeats,
    repeats_are_merged_for_the_same_caller_and_matter_within_the_window
);

async fn n_requests_in_m_days_flag_the_ticket_for_supervision(db: TestDb) {
    let s = store(&db).await;
    let rules = RepeatRules {
        window_days: 2,
        unreasonable: UnreasonableRule {
            requests: 3,
            within_days: 10,
        },
    };
    let t0 = 1_700_000_000_000;
    let mut last = None;
    // Days 0, 1 (merged), 5 (new ticket: the window is 2 days) → three in ten days: the third is flagged.
    for (i, day) in [0, 1, 5].into_iter().enumerate() {
        let at = t0 + day * DAY;
        let r = s
            .accept_request(
                &request("13811110000", "water", "噪音 工地", at, &format!("n{i}")),
                &rules,
                "op",
                at,
            )
            .await
            .unwrap();
        assert_eq!(r.flagged(), i == 2, "request {i}: {r:?}");
        last = Some(r);
    }
    let flagged = last.unwrap().ticket().id.clone();
    let flags = s.repeat_flags().await.unwrap();
    assert_eq!(flags.len(), 1);
    assert_eq!(
        (flags[0].ticket_id.as_str(), flags[0].requests),
        (flagged.as_str(), 3)
    );
    assert!(s
        .history(&flagged)
        .await
        .unwrap()
        .iter()
        .any(|h| h.action == "flag_repeat"));
    // Another caller's requests about the same matter do not count towards it.
    let r = s
        .accept_request(
            &request("13922220000", "water", "噪音 工地", t0 + 5 * DAY, "m1"),
            &rules,
            "op",
            t0 + 5 * DAY,
        )
        .await
        .unwrap();
    assert!(!r.flagged());
}
both_backends!(
    unreasonable_repeats,
    n_requests_in_m_days_flag_the_ticket_for_supervision
);

async fn closed(s: &Store, caller: &str, department: &str, at: i64, call_id: &str) -> String {
    let t = s
        .create_ticket(&input(caller, department, at, call_id), "op", at)
        .await
        .unwrap();
    for a in [
        Action::Dispatch {
            department: department.into(),
        },
        Action::Sign {},
        Action::Handle {},
        Action::Reply { text: "ok".into() },
        Action::Close {},
    ] {
        act(s, &t.id, a, at + 1000).await;
    }
    t.id
}

async fn survey_answers_and_the_call_back_list(db: TestDb) {
    let s = store(&db).await;
    let sched = common::schedule();
    let policy = CallbackPolicy {
        max_attempts: 2,
        retry_after_minutes: vec![60],
        ..CallbackPolicy::default()
    };
    let hours = CallbackHours::new(sched.clone(), &policy).unwrap();
    // After the operator's call: the key, or none.
    let t0 = bj("2022-01-28 10:00").timestamp_millis();
    let open = s
        .create_ticket(&input("13800000009", "water", t0, "s1"), "op", t0)
        .await
        .unwrap();
    let t = s
        .record_evaluation(
            &open.id,
            Some("s1"),
            EvaluationSource::AfterCall,
            Evaluation::from_key(Some('2')),
            t0,
        )
        .await
        .unwrap();
    assert_eq!(
        t.status,
        Status::Accepted,
        "the after-call survey does not move the ticket"
    );
    s.record_evaluation(
        &open.id,
        Some("s1b"),
        EvaluationSource::AfterCall,
        Evaluation::from_key(None),
        t0,
    )
    .await
    .unwrap();
    let evs = s.evaluations(&open.id).await.unwrap();
    assert_eq!(
        evs.iter().map(|e| e.evaluation).collect::<Vec<_>>(),
        [Evaluation::Basic, Evaluation::NotEvaluated]
    );
    assert!(matches!(
        s.record_evaluation(
            "nope",
            None,
            EvaluationSource::AfterCall,
            Evaluation::Satisfied,
            t0
        )
        .await,
        Err(TicketError::NotFound(_))
    ));

    // The list: two closed tickets and a "leave your number" caller, added on Fri Jan 28 2022 at 10:00.
    let a = closed(&s, "13800000001", "water", t0, "k1").await;
    let b = closed(&s, "13800000002", "power", t0, "k2").await;
    assert_eq!(s.sync_callbacks(&policy, &sched, t0).await.unwrap(), 2);
    assert_eq!(
        s.sync_callbacks(&policy, &sched, t0 + 1).await.unwrap(),
        0,
        "idempotent"
    );
    let leave = NewCallback {
        kind: CallbackKind::LeaveNumber,
        caller: "13800000003".into(),
        ticket_id: None,
        call_id: Some("lv1".into()),
    };
    let lv = s
        .add_callback(&leave, &policy, &sched, t0 + 2)
        .await
        .unwrap()
        .unwrap();
    assert!(s
        .add_callback(&leave, &policy, &sched, t0 + 3)
        .await
        .unwrap()
        .is_none());
    // Due within 2 working days: Sat Jan 29 is worked, so Sun Jan 30.
    assert_eq!(lv.due_at_ms, bj("2022-01-30 10:00").timestamp_millis() + 2);
    let pending = s.callbacks(CallbackState::Pending).await.unwrap();
    assert_eq!(pending.len(), 3);
    let cb_a = pending
        .iter()
        .find(|c| c.ticket_id.as_deref() == Some(a.as_str()))
        .unwrap()
        .id
        .clone();
    let cb_b = pending
        .iter()
        .find(|c| c.ticket_id.as_deref() == Some(b.as_str()))
        .unwrap()
        .id
        .clone();

    // At 21:00 nothing may be dialled: wait for Sat 09:00 (an adjusted working day).
    let night = bj("2022-01-28 21:00").timestamp_millis();
    match s.next_callback(&hours, night).await.unwrap() {
        NextCallback::WaitUntil { at, .. } => assert_eq!(at, bj("2022-01-29 09:00")),
        other => panic!("{other:?}"),
    }
    // A call-back at 10:00 goes to the first added; it does not answer: retried after an hour.
    let NextCallback::Call { id } = s.next_callback(&hours, t0 + 10).await.unwrap() else {
        panic!("due")
    };
    let first = id.clone();
    let r = s
        .record_callback_attempt(&first, CallbackOutcome::NoAnswer, &policy, t0 + 10)
        .await
        .unwrap();
    assert_eq!(
        (r.state, r.attempts, r.next_attempt_at_ms),
        (CallbackState::Pending, 1, t0 + 10 + 3_600_000)
    );
    // The caller of ticket a answers and presses 1: stored, the ticket is evaluated.
    let r = s
        .record_callback_attempt(
            &cb_a,
            CallbackOutcome::Evaluated(Evaluation::Satisfied),
            &policy,
            t0 + 20,
        )
        .await
        .unwrap();
    assert_eq!(r.state, CallbackState::Done);
    let ta = s.ticket(&a).await.unwrap().unwrap();
    assert_eq!(
        (ta.status, ta.satisfaction),
        (Status::Evaluated, Some(Satisfaction::Satisfied))
    );
    assert_eq!(
        s.callback(&cb_a).await.unwrap().unwrap().state,
        CallbackState::Done
    );
    // Ticket b's caller never answers: given up after two tries, the ticket called back (not reached).
    if first != cb_b {
        s.record_callback_attempt(&cb_b, CallbackOutcome::NoAnswer, &policy, t0 + 30)
            .await
            .unwrap();
    }
    let r = s
        .record_callback_attempt(&cb_b, CallbackOutcome::Busy, &policy, t0 + 40)
        .await
        .unwrap();
    assert_eq!(r.state, CallbackState::GivenUp);
    assert_eq!(
        s.ticket(&b).await.unwrap().unwrap().status,
        Status::CalledBack
    );
    assert!(matches!(
        s.record_callback_attempt(&cb_b, CallbackOutcome::Answered, &policy, t0 + 50)
            .await,
        Err(TicketError::Conflict(_))
    ));
    let tries = s.callback_attempts(&cb_b).await.unwrap();
    assert_eq!(tries.last().map(|t| t.outcome.as_str()), Some("busy"));
    // The leave-your-number caller refuses: done (reached).
    if first != lv.id {
        let r = s
            .record_callback_attempt(&lv.id, CallbackOutcome::Refused, &policy, t0 + 60)
            .await
            .unwrap();
        assert_eq!(r.state, CallbackState::Done);
    }
    // Coverage: 3 due; a and the leave-your-number caller done (unless the latter was the one retried).
    let k = s
        .kpi(
            TimeRange {
                from_ms: Some(t0),
                to_ms: Some(t0 + DAY),
            },
            &DeadlineRules::default(),
            &sched,
            t0 + DAY,
        )
        .await
        .unwrap();
    assert_eq!(k.callback_coverage.due, 3);
    assert_eq!(k.callback_coverage.given_up, 1);
    assert_eq!(k.satisfaction_call_back.satisfied, 1);
    assert_eq!(
        (
            k.satisfaction_after_call.basic,
            k.satisfaction_after_call.not_evaluated
        ),
        (0, 1),
        "the latest after-call answer per ticket counts"
    );
}
both_backends!(survey_and_callbacks, survey_answers_and_the_call_back_list);

#[test]
fn calling_hours_follow_the_calendar_and_the_daily_window() {
    let sched = common::schedule();
    let policy = CallbackPolicy {
        window_start: "09:00".into(),
        window_end: "20:00".into(),
        ..CallbackPolicy::default()
    };
    let h = CallbackHours::new(sched.clone(), &policy).unwrap();
    // Inside the window on a working day.
    assert!(h.is_allowed(bj("2022-01-28 19:59")));
    assert!(!h.is_allowed(bj("2022-01-28 20:00")));
    // The Spring Festival: from Mon Jan 31 to Mon Feb 7, 09:00.
    assert_eq!(
        h.next_allowed(bj("2022-01-31 10:00")),
        Some(bj("2022-02-07 09:00"))
    );
    // The adjusted Sunday is a working day.
    assert!(h.is_allowed(bj("2022-01-30 12:00")));
    // Only inside working hours (09:00-17:00) as well.
    let strict = CallbackHours::new(
        sched,
        &CallbackPolicy {
            working_hours_only: true,
            ..policy
        },
    )
    .unwrap();
    assert_eq!(
        strict.next_allowed(bj("2022-01-28 17:30")),
        Some(bj("2022-01-29 09:00"))
    );
}

async fn reminders_come_once_per_dispatch_supervision_and_deadline(db: TestDb) {
    let s = store(&db).await;
    let sched = common::schedule();
    let mut cfg = NotifyConfig::default();
    for channel in [REMINDERS, PROVINCE] {
        cfg.webhooks.insert(
            channel.into(),
            ticket::notify::WebhookConfig {
                url: "http://127.0.0.1:9/never".into(),
                timeout_ms: 100,
                bearer_token: None,
            },
        );
    }
    let rules = DeadlineRules::default();
    let t0 = bj("2022-01-26 10:00").timestamp_millis();
    let t = s
        .create_ticket(&input("13800000001", "water", t0, "x1"), "op", t0)
        .await
        .unwrap();
    act(
        &s,
        &t.id,
        Action::Dispatch {
            department: "water".into(),
        },
        t0,
    )
    .await;
    act(
        &s,
        &t.id,
        Action::Supervise {
            note: "hurry".into(),
        },
        t0 + 1,
    )
    .await;
    // Without a receiver a channel gets nothing (and the outbox does not grow).
    let none = NotifyConfig::default();
    assert_eq!(
        s.enqueue_reminders(&none, &rules, &sched, t0 + 2)
            .await
            .unwrap(),
        0
    );
    assert!(s.outbox(false).await.unwrap().is_empty());
    sqlx::query("DELETE FROM outbox_cursor")
        .execute(s.pool())
        .await
        .unwrap();
    let n = s
        .enqueue_reminders(&cfg, &rules, &sched, t0 + 2)
        .await
        .unwrap();
    // dispatch + supervise reminders; accept, dispatch, supervise pushed to the province; green: no near-due.
    assert_eq!(n, 5);
    assert_eq!(
        s.enqueue_reminders(&cfg, &rules, &sched, t0 + 3)
            .await
            .unwrap(),
        0,
        "once"
    );
    let out = s.outbox(true).await.unwrap();
    let kinds: Vec<(String, String)> = out
        .iter()
        .map(|e| {
            let v: serde_json::Value = serde_json::from_str(&e.payload).unwrap();
            (
                e.channel.clone(),
                v["kind"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&(REMINDERS.to_string(), "dispatch".to_string())),
        "{kinds:?}"
    );
    assert!(kinds.contains(&(REMINDERS.to_string(), "supervise".to_string())));
    assert_eq!(kinds.iter().filter(|(c, _)| c == PROVINCE).count(), 3);
    assert!(
        out.iter().all(|e| !e.payload.contains("13800000001")),
        "no caller number in notices"
    );
    // Near due on Feb 8 (the complaint is due Feb 9 10:00): one reminder, not repeated.
    let near = bj("2022-02-09 08:00").timestamp_millis();
    assert_eq!(
        s.enqueue_reminders(&cfg, &rules, &sched, near)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.enqueue_reminders(&cfg, &rules, &sched, near + 60_000)
            .await
            .unwrap(),
        0
    );
    // A survey answer is pushed to the province, once.
    s.record_evaluation(
        &t.id,
        Some("x1"),
        EvaluationSource::AfterCall,
        Evaluation::Basic,
        near,
    )
    .await
    .unwrap();
    assert_eq!(
        s.enqueue_reminders(&cfg, &rules, &sched, near + 1)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.enqueue_reminders(&cfg, &rules, &sched, near + 2)
            .await
            .unwrap(),
        0
    );
    let pushed = s.outbox(true).await.unwrap();
    let last = pushed.last().unwrap();
    assert_eq!(
        (last.channel.as_str(), last.key.as_str()),
        (PROVINCE, "province:evaluation:1")
    );
    assert!(
        last.payload.contains("\"evaluation\":\"basic\""),
        "{}",
        last.payload
    );
    // The generic producer writes once per key.
    let v = serde_json::json!({"kind": "evaluation", "ticket_id": t.id});
    assert!(s
        .enqueue_notice("province:other:1", PROVINCE, &v, near)
        .await
        .unwrap());
    assert!(!s
        .enqueue_notice("province:other:1", PROVINCE, &v, near)
        .await
        .unwrap());
}
both_backends!(
    reminders,
    reminders_come_once_per_dispatch_supervision_and_deadline
);

/// Hand-counted data set: calls, tickets of two departments, one not accepted, survey answers, call-backs.
async fn kpis_match_hand_counts_over_a_date_range(db: TestDb) {
    let s = store(&db).await;
    let sched = common::schedule();
    let rules = DeadlineRules::default();
    let day0 = bj("2022-03-01 10:00").timestamp_millis();
    let range = TimeRange {
        from_ms: Some(day0 - 3_600_000),
        to_ms: Some(day0 + 7 * DAY),
    };
    // Calls: 4 in range (3 answered), 1 before it.
    let mut recs = Vec::new();
    for (i, (at, answered)) in [
        (day0, true),
        (day0 + 1, true),
        (day0 + DAY, false),
        (day0 + 2 * DAY, true),
        (day0 - 2 * DAY, false),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = rec(&format!("kpi-{i}"));
        r.started_at_ms = at;
        r.ended_at_ms = at + 60_000;
        r.answered_at_ms = answered.then_some(at + 5_000);
        if !answered {
            r.seat = None;
            r.end_reason = ticket::EndReason::CallerHangup;
        }
        recs.push(r);
    }
    s.insert_call_records(&recs, day0, "callback")
        .await
        .unwrap();
    // Consultations are due in 3 working days (Mar 4 10:00). w1 on time, w2 late, p1 on time then re-handled,
    // p2 open and overdue, n1 not accepted.
    let mk = |caller: &str, dept: &str, id: &str| TicketInput {
        category: Category::Consultation,
        ..input(caller, dept, day0, id)
    };
    let close_at = |s: &Store, id: String, dept: &'static str, at: i64| {
        let s = s.clone();
        async move {
            for a in [
                Action::Dispatch {
                    department: dept.into(),
                },
                Action::Sign {},
                Action::Handle {},
                Action::Reply { text: "ok".into() },
                Action::Close {},
            ] {
                act(&s, &id, a, at).await;
            }
            id
        }
    };
    let w1 = s
        .create_ticket(&mk("1", "water", "t1"), "op", day0)
        .await
        .unwrap()
        .id;
    let w1 = close_at(&s, w1, "water", day0 + DAY).await;
    let w2 = s
        .create_ticket(&mk("2", "water", "t2"), "op", day0)
        .await
        .unwrap()
        .id;
    close_at(&s, w2, "water", day0 + 6 * DAY).await;
    let p1 = s
        .create_ticket(&mk("3", "power", "t3"), "op", day0)
        .await
        .unwrap()
        .id;
    let p1 = close_at(&s, p1, "power", day0 + DAY).await;
    act(
        &s,
        &p1,
        Action::Rehandle {
            reason: "again".into(),
        },
        day0 + 2 * DAY,
    )
    .await;
    let p2 = s
        .create_ticket(&mk("4", "power", "t4"), "op", day0)
        .await
        .unwrap()
        .id;
    act(
        &s,
        &p2,
        Action::Dispatch {
            department: "power".into(),
        },
        day0,
    )
    .await;
    let n1 = s
        .create_ticket(&mk("5", "center", "t5"), "op", day0)
        .await
        .unwrap()
        .id;
    act(
        &s,
        &n1,
        Action::NotAccept {
            reason: NotAcceptedReason::Petition,
            note: String::new(),
        },
        day0,
    )
    .await;
    // Surveys: after-call basic on w1 and satisfied on n1 (apart); call-back unsatisfied on w1 (water).
    s.record_evaluation(
        &w1,
        None,
        EvaluationSource::AfterCall,
        Evaluation::Basic,
        day0,
    )
    .await
    .unwrap();
    s.record_evaluation(
        &n1,
        None,
        EvaluationSource::AfterCall,
        Evaluation::Satisfied,
        day0,
    )
    .await
    .unwrap();
    s.record_evaluation(
        &w1,
        None,
        EvaluationSource::CallBack,
        Evaluation::Unsatisfied,
        day0 + 2 * DAY,
    )
    .await
    .unwrap();
    // Call-backs: the closed w2 (w1 was evaluated, p1 re-opened) and one leave-your-number.
    let policy = CallbackPolicy::default();
    assert_eq!(
        s.sync_callbacks(&policy, &sched, day0 + 6 * DAY)
            .await
            .unwrap(),
        1
    );
    let lv = NewCallback {
        kind: CallbackKind::LeaveNumber,
        caller: "6".into(),
        ticket_id: None,
        call_id: Some("lv".into()),
    };
    let lv = s
        .add_callback(&lv, &policy, &sched, day0 + 6 * DAY)
        .await
        .unwrap()
        .unwrap();
    s.record_callback_attempt(&lv.id, CallbackOutcome::Answered, &policy, day0 + 6 * DAY)
        .await
        .unwrap();

    let now = day0 + 6 * DAY + 1;
    let k = s.kpi(range, &rules, &sched, now).await.unwrap();
    assert_eq!((k.calls.offered, k.calls.answered), (4, 3));
    assert_eq!(k.answer_rate, Some(0.75));
    assert_eq!(k.tickets, 4, "not accepted apart");
    assert_eq!(
        (k.on_time.closed, k.on_time.on_time, k.on_time.overdue_open),
        (2, 1, 1),
        "p2 is overdue; re-handled p1 has a fresh deadline"
    );
    assert_eq!((k.reopen.closed_ever, k.reopen.reopened), (3, 1));
    assert_eq!(k.satisfaction_call_back.unsatisfied, 1);
    assert_eq!(k.satisfaction_call_back.rate, Some(0.0));
    assert_eq!(k.satisfaction_after_call.basic, 1);
    assert_eq!(
        k.satisfaction_after_call.satisfied, 0,
        "the not-accepted ticket's answer is apart"
    );
    assert_eq!(k.not_accepted.total, 1);
    assert_eq!(k.not_accepted.by_reason.get("petition"), Some(&1));
    assert_eq!(k.not_accepted.satisfaction_after_call.satisfied, 1);
    assert_eq!((k.callback_coverage.due, k.callback_coverage.done), (2, 1));
    let water = k
        .departments
        .iter()
        .find(|d| d.department == "water")
        .unwrap();
    assert_eq!((water.on_time.closed, water.on_time.on_time), (2, 1));
    let power = k
        .departments
        .iter()
        .find(|d| d.department == "power")
        .unwrap();
    assert_eq!(
        (
            power.reopen.closed_ever,
            power.reopen.reopened,
            power.reopen.rate
        ),
        (1, 1, Some(1.0))
    );
    // A range before everything: nothing.
    let empty = s
        .kpi(
            TimeRange {
                from_ms: Some(0),
                to_ms: Some(day0 - 3 * DAY),
            },
            &rules,
            &sched,
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        (empty.tickets, empty.calls.offered, empty.on_time.rate),
        (0, 0, None)
    );
}
both_backends!(kpis, kpis_match_hand_counts_over_a_date_range);

async fn self_query_answers_the_caller_or_the_code_and_reveals_nothing_otherwise(db: TestDb) {
    let s = store(&db).await;
    let sched = common::schedule();
    let rules = DeadlineRules::default();
    let t0 = bj("2022-01-26 10:00").timestamp_millis();
    let t = s
        .create_ticket(&input("13812341234", "water", t0, "q1"), "op", t0)
        .await
        .unwrap();
    let other = s
        .create_ticket(&input("13999999999", "water", t0, "q2"), "op", t0)
        .await
        .unwrap();
    let n = s.ticket_number(&t.id).await.unwrap();
    assert_eq!(s.ticket_number(&t.id).await.unwrap(), n, "assigned once");
    let n2 = s.ticket_number(&other.id).await.unwrap();
    assert_ne!(n.number, n2.number);
    assert_eq!(n.query_code.len(), 6);
    // The caller who filed it.
    let a = s
        .self_query(n.number, "13812341234", None, &rules, &sched, t0)
        .await
        .unwrap();
    let ticket::store::SelfQuery::Progress(p) = a else {
        panic!("{a:?}")
    };
    assert_eq!(
        (p.status, p.close_due),
        (Status::Accepted, bj("2022-02-09 10:00"))
    );
    // Another number: nothing; with the printed code: the answer.
    let wrong = s
        .self_query(n.number, "13999999999", None, &rules, &sched, t0)
        .await
        .unwrap();
    assert_eq!(wrong, ticket::store::SelfQuery::NothingToSay);
    let bad_code = s
        .self_query(n.number, "13999999999", Some("000000x"), &rules, &sched, t0)
        .await
        .unwrap();
    assert_eq!(bad_code, ticket::store::SelfQuery::NothingToSay);
    let coded = s
        .self_query(
            n.number,
            "13999999999",
            Some(&n.query_code),
            &rules,
            &sched,
            t0,
        )
        .await
        .unwrap();
    assert!(matches!(coded, ticket::store::SelfQuery::Progress(_)));
    // A number that does not exist answers like a wrong caller.
    let none = s
        .self_query(999_999, "13812341234", None, &rules, &sched, t0)
        .await
        .unwrap();
    assert_eq!(none, ticket::store::SelfQuery::NothingToSay);
    // Every query is logged, refused ones as denied, under the masked caller.
    let log = s
        .access_log_query(&ticket::AccessFilter {
            limit: Some(100),
            ..Default::default()
        })
        .await
        .unwrap();
    let q: Vec<(String, bool)> = log
        .iter()
        .filter(|e| e.actor.starts_with("self-query:"))
        .map(|e| (e.actor.clone(), e.denied))
        .collect();
    assert_eq!(q.len(), 5);
    assert_eq!(q.iter().filter(|(_, d)| *d).count(), 3);
    assert!(q
        .iter()
        .all(|(a, _)| !a.contains("13812341234") && !a.contains("13999999999")));
}
both_backends!(
    self_query,
    self_query_answers_the_caller_or_the_code_and_reveals_nothing_otherwise
);

#[test]
fn a_retry_that_falls_after_the_window_waits_for_the_next_working_morning_across_the_spring_festival(
) {
    use ticket::callback::{after_attempt, next_callback, PendingCallback};
    let sched = common::schedule();
    let policy = CallbackPolicy {
        retry_after_minutes: vec![60],
        max_attempts: 3,
        ..CallbackPolicy::default()
    };
    let hours = CallbackHours::new(sched, &policy).unwrap();
    // Sun Jan 30 2022 is worked; no answer at 19:30, retry due 20:30 — outside the 09:00-20:00 window, and the
    // next days are the holiday: the retry is placed on Mon Feb 7 at 09:00.
    let at = bj("2022-01-30 19:30");
    let entry = PendingCallback {
        id: "cb".into(),
        next_attempt_at_ms: at.timestamp_millis(),
        due_at_ms: at.timestamp_millis(),
        attempts: 0,
    };
    assert_eq!(
        next_callback(std::slice::from_ref(&entry), &hours, at),
        NextCallback::Call { id: "cb".into() }
    );
    let a = after_attempt(&entry, CallbackOutcome::NoAnswer, &policy, at);
    assert_eq!(a.state, CallbackState::Pending);
    let retried = PendingCallback {
        next_attempt_at_ms: a.next_attempt_at_ms,
        attempts: a.attempts,
        ..entry
    };
    let later = bj("2022-01-31 12:00");
    assert_eq!(
        next_callback(std::slice::from_ref(&retried), &hours, later),
        NextCallback::WaitUntil {
            at: bj("2022-02-07 09:00"),
            id: "cb".into()
        }
    );
    assert_eq!(
        next_callback(&[retried], &hours, bj("2022-02-07 09:00")),
        NextCallback::Call { id: "cb".into() }
    );
}
