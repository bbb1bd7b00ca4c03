//! The same integration suite against SQLite and PostgreSQL: storage, idempotency, automatic tickets,
//! transitions, append-only history, the service's sink and spool.

mod common;

use std::sync::Arc;

use common::{abandoned, rec, TestDb};
use ticket::stats::TimeRange;
use ticket::store::Backend;
use ticket::{
    Action, CallRecord, Category, Satisfaction, Status, Store, TicketConfig, TicketError,
    TicketFilter, TicketInput, TransferAttempt, TransferEndedBy, TransferKind, TransferOutcome,
};

async fn store(db: &TestDb) -> Store {
    Store::connect(&db.url, 4).await.unwrap()
}

fn input(department: &str, category: Category, accepted_at_ms: i64) -> TicketInput {
    TicketInput {
        category,
        department: department.into(),
        text: "路灯不亮".into(),
        caller: Some("13812341234".into()),
        call_id: Some("call-x".into()),
        accepted_at_ms,
        source: "api".into(),
    }
}

async fn call_records_are_stored_once_and_read_back(db: TestDb) {
    let s = store(&db).await;
    if s.backend() == Backend::Sqlite {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(s.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }
    let mut r = rec("c-1");
    r.original_called = Some("96116".into());
    r.department = Some("水务".into());
    r.digits = "2#".into();
    // Answered by the system before the greeting, by a person later (issue 13's answer policy).
    r.system_answered_at_ms = Some(r.started_at_ms);
    let r2 = CallRecord {
        off_hours: true,
        answered_at_ms: None,
        // a caller the 110 platform handed over.
        caller: "110".into(),
        handed_over_by: Some("110".into()),
        queue_visits: Vec::new(),
        survey: None,
        ..rec("c-2")
    };
    // The same record twice in one batch and again in a later batch: stored once.
    s.insert_call_records(&[r.clone(), r2.clone(), r.clone()], 5, "callback")
        .await
        .unwrap();
    s.insert_call_records(&[r.clone()], 6, "callback")
        .await
        .unwrap();
    assert_eq!(s.count_call_records().await.unwrap(), 2);
    assert_eq!(s.call_record("c-1").await.unwrap(), Some(r));
    assert_eq!(s.call_record("c-2").await.unwrap(), Some(r2));
    assert_eq!(s.call_record("nope").await.unwrap(), None);
}
both_backends!(
    call_records_idempotent,
    call_records_are_stored_once_and_read_back
);

async fn automatic_tickets_open_once_per_new_call(db: TestDb) {
    let s = store(&db).await;
    let off_hours = CallRecord {
        off_hours: true,
        department: Some("water".into()),
        ..rec("c-off")
    };
    let transfer = CallRecord {
        transfer_unanswered: Some("power".into()),
        transfers: Vec::new(),
        handed_over_by: None,
        system_answered_at_ms: None,
        queue_visits: Vec::new(),
        survey: None,
        ..rec("c-xfer")
    };
    let opened = s
        .insert_call_records(
            &[
                off_hours.clone(),
                transfer,
                abandoned("c-aband"),
                rec("c-plain"),
            ],
            7,
            "callback-team",
        )
        .await
        .unwrap();
    let mut got: Vec<_> = opened
        .iter()
        .map(|t| (t.source.as_str(), t.department.as_str(), t.call_ids.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "auto_abandoned",
                "callback-team",
                vec!["c-aband".to_string()]
            ),
            ("auto_off_hours", "water", vec!["c-off".to_string()]),
            (
                "auto_transfer_unanswered",
                "power",
                vec!["c-xfer".to_string()]
            ),
        ]
    );
    for t in &opened {
        assert_eq!(t.status, Status::Accepted);
        assert_eq!(t.caller.as_deref(), Some("13812341234"));
        let h = s.history(&t.id).await.unwrap();
        assert_eq!(
            (h.len(), h[0].actor.as_str(), h[0].action.as_str()),
            (1, "system", "accept")
        );
    }
    // A retried hand-off opens nothing new.
    let again = s
        .insert_call_records(&[off_hours, abandoned("c-aband")], 8, "callback-team")
        .await
        .unwrap();
    assert!(again.is_empty());
    assert_eq!(s.count_tickets().await.unwrap(), 3);
}
both_backends!(automatic_tickets, automatic_tickets_open_once_per_new_call);

fn attempt(dep: Option<&str>, start: i64, outcome: TransferOutcome) -> TransferAttempt {
    TransferAttempt {
        target: "8001".into(),
        department: dep.map(str::to_string),
        started_at_ms: start,
        answered_at_ms: matches!(outcome, TransferOutcome::Answered).then_some(start + 4_000),
        ended_at_ms: start + 15_000,
        outcome,
        answer_target_ms: Some(15_000),
        ended_by: Some(TransferEndedBy::Timer),
        kind: Some(TransferKind::Keys),
    }
}

async fn transfer_attempts_are_stored_with_their_record_once(db: TestDb) {
    let s = store(&db).await;
    let t0 = 1_700_000_010_000;
    let r = CallRecord {
        transfers: vec![
            attempt(Some("水务"), t0, TransferOutcome::Busy),
            attempt(None, t0 + 20_000, TransferOutcome::Rejected { status: 603 }),
            attempt(
                Some("power"),
                t0 + 40_000,
                TransferOutcome::Failed { status: 503 },
            ),
            TransferAttempt {
                ended_by: None,
                answer_target_ms: None,
                kind: Some(TransferKind::Attended),
                ..attempt(Some("power"), t0 + 60_000, TransferOutcome::Answered)
            },
            TransferAttempt {
                kind: None,
                ..attempt(Some("power"), t0 + 70_000, TransferOutcome::Answered)
            },
            attempt(Some("gas"), t0 + 80_000, TransferOutcome::Cancelled),
        ],
        // The old field names the same department as the busy attempt: one ticket for it.
        transfer_unanswered: Some("水务".into()),
        ..rec("c-t")
    };
    let plain = rec("c-plain");
    let opened = s
        .insert_call_records(&[r.clone(), plain.clone(), r.clone()], 5, "callback")
        .await
        .unwrap();
    let got: Vec<_> = opened
        .iter()
        .map(|t| (t.source.as_str(), t.department.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("auto_transfer_unanswered", "水务"),
            ("auto_transfer_unanswered", "8001"),
            ("auto_transfer_unanswered", "power"),
        ]
    );
    assert!(
        opened[1].text.contains("rejected (603)"),
        "{}",
        opened[1].text
    );
    // Stored once, read back whole and in order; a replay stores and opens nothing more.
    let again = s
        .insert_call_records(std::slice::from_ref(&r), 6, "callback")
        .await
        .unwrap();
    assert!(again.is_empty());
    assert_eq!(s.call_record("c-t").await.unwrap(), Some(r.clone()));
    assert_eq!(s.call_record("c-plain").await.unwrap(), Some(plain));
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM transfer_attempts")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(n, 6);
    // The range query: [from, to) on the start time.
    let got = s
        .transfer_attempts(TimeRange {
            from_ms: Some(t0 + 20_000),
            to_ms: Some(t0 + 60_000),
        })
        .await
        .unwrap();
    assert_eq!(
        got,
        [
            ("c-t".to_string(), r.transfers[1].clone()),
            ("c-t".to_string(), r.transfers[2].clone()),
        ]
    );
}
both_backends!(
    transfer_attempts_stored,
    transfer_attempts_are_stored_with_their_record_once
);

async fn a_ticket_walks_its_life_and_history_is_append_only(db: TestDb) {
    let s = store(&db).await;
    let t = s
        .create_ticket(&input("center", Category::Complaint, 1_000), "op-7", 1_500)
        .await
        .unwrap();
    assert_eq!(
        (t.status, t.version, t.call_ids.clone()),
        (Status::Accepted, 0, vec!["call-x".to_string()])
    );
    let steps = [
        Action::Dispatch {
            department: "water".into(),
        },
        Action::Sign {},
        Action::Handle {},
        Action::Supervise {
            note: "hurry".into(),
        },
        Action::Reply {
            text: "fixed".into(),
        },
        Action::Close {},
        Action::CallBack { reached: true },
        Action::Evaluate {
            satisfaction: Satisfaction::Satisfied,
        },
    ];
    let mut now = 2_000;
    for a in &steps {
        now += 1_000;
        s.act(&t.id, a, "op-7", now).await.unwrap();
    }
    let t2 = s.ticket(&t.id).await.unwrap().unwrap();
    assert_eq!(t2.status, Status::Evaluated);
    assert_eq!(t2.department, "water");
    assert_eq!(t2.dispatched_at_ms, Some(3_000));
    assert_eq!(t2.signed_at_ms, Some(4_000));
    assert_eq!(t2.closed_at_ms, Some(8_000));
    assert_eq!(t2.supervised, 1);
    assert_eq!(t2.satisfaction, Some(Satisfaction::Satisfied));
    assert_eq!(t2.version, steps.len() as i64);

    let h = s.history(&t.id).await.unwrap();
    let actions: Vec<_> = h.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "accept",
            "dispatch",
            "sign",
            "handle",
            "supervise",
            "reply",
            "close",
            "call_back",
            "evaluate"
        ]
    );
    assert_eq!(h[1].from_status.as_deref(), Some("accepted"));
    assert_eq!(h[1].to_status, "dispatched");
    assert_eq!(h[1].note, "department=water");
    assert!(h.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));

    // Refused: nothing changes, nothing is written.
    let err = s
        .act(&t.id, &Action::Sign {}, "op-7", 99_000)
        .await
        .unwrap_err();
    assert!(matches!(err, TicketError::Refused(_)), "{err}");
    assert_eq!(s.history(&t.id).await.unwrap().len(), h.len());
    let err = s
        .act("no-such", &Action::Sign {}, "op", 1)
        .await
        .unwrap_err();
    assert!(matches!(err, TicketError::NotFound(_)));

    // The database itself refuses to rewrite history or the access log.
    assert!(
        sqlx::query("UPDATE ticket_history SET actor = 'someone else'")
            .execute(s.pool())
            .await
            .is_err()
    );
    assert!(sqlx::query("DELETE FROM ticket_history")
        .execute(s.pool())
        .await
        .is_err());
    s.log_access("auditor", &t.id, "read ticket", 1)
        .await
        .unwrap();
    assert!(sqlx::query("DELETE FROM access_log")
        .execute(s.pool())
        .await
        .is_err());
    assert_eq!(s.access_log(&t.id).await.unwrap().len(), 1);
}
both_backends!(
    ticket_lifecycle,
    a_ticket_walks_its_life_and_history_is_append_only
);

async fn concurrent_actions_on_one_ticket_never_both_win(db: TestDb) {
    let s = store(&db).await;
    let t = s
        .create_ticket(&input("center", Category::Help, 1_000), "op", 1_000)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        let id = t.id.clone();
        tasks.push(tokio::spawn(async move {
            s.act(
                &id,
                &Action::Dispatch {
                    department: format!("dep-{i}"),
                },
                "op",
                2_000 + i,
            )
            .await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(TicketError::Refused(_) | TicketError::Conflict(_)) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 1, "exactly one dispatch wins");
    let h = s.history(&t.id).await.unwrap();
    assert_eq!(h.iter().filter(|e| e.action == "dispatch").count(), 1);
}
both_backends!(
    concurrent_actions,
    concurrent_actions_on_one_ticket_never_both_win
);

async fn list_filters_by_status_department_and_date(db: TestDb) {
    let s = store(&db).await;
    let a = s
        .create_ticket(&input("water", Category::Complaint, 1_000), "op", 1)
        .await
        .unwrap();
    s.create_ticket(&input("water", Category::Consultation, 2_000), "op", 1)
        .await
        .unwrap();
    s.create_ticket(&input("power", Category::Complaint, 3_000), "op", 1)
        .await
        .unwrap();
    s.act(
        &a.id,
        &Action::Dispatch {
            department: "water".into(),
        },
        "op",
        5,
    )
    .await
    .unwrap();
    let count = |f: TicketFilter| {
        let s = s.clone();
        async move { s.list_tickets(&f).await.unwrap().len() }
    };
    assert_eq!(count(TicketFilter::default()).await, 3);
    assert_eq!(
        count(TicketFilter {
            department: Some("water".into()),
            ..Default::default()
        })
        .await,
        2
    );
    assert_eq!(
        count(TicketFilter {
            status: Some(Status::Dispatched),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(TicketFilter {
            accepted_from_ms: Some(2_000),
            accepted_to_ms: Some(3_000),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(TicketFilter {
            limit: Some(2),
            ..Default::default()
        })
        .await,
        2
    );
    let listed = s.list_tickets(&TicketFilter::default()).await.unwrap();
    let times: Vec<_> = listed.iter().map(|t| t.accepted_at_ms).collect();
    assert_eq!(times, [1_000, 2_000, 3_000]);
}
both_backends!(list_filters, list_filters_by_status_department_and_date);

async fn the_sink_stores_everything_even_when_the_channel_overflows(db: TestDb) {
    let cfg = TicketConfig {
        channel_capacity: 4,
        batch_size: 16,
        ..db.config()
    };
    let svc = ticket::start(cfg.clone(), common::schedule())
        .await
        .unwrap();
    let sink = svc.sink();
    let n = 2_000;
    for i in 0..n {
        sink.submit(abandoned(&format!("sink-{i}")));
    }
    // Resubmitting (a retried hand-off) stores nothing twice.
    for i in 0..50 {
        sink.submit(abandoned(&format!("sink-{i}")));
    }
    assert!(
        sink.spilled() > 0,
        "a 4-slot channel must overflow with {n} records"
    );
    assert_eq!(sink.lost(), 0);
    svc.shutdown().await;

    let s = store(&db).await;
    assert_eq!(s.count_call_records().await.unwrap(), n);
    assert_eq!(
        s.count_tickets().await.unwrap(),
        n,
        "one call-back ticket per call, none twice"
    );
    // Nothing left in the spool after a clean shutdown (the live-call journal is there, with no call open).
    let left: Vec<_> = std::fs::read_dir(db.spool())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "current.jsonl" && n != "live.jsonl")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let live = std::fs::read(db.spool().join("live.jsonl")).unwrap_or_default();
    assert!(live.is_empty(), "no call was answered, none is open");
}
both_backends!(
    sink_overflow,
    the_sink_stores_everything_even_when_the_channel_overflows
);

async fn records_submitted_after_shutdown_are_stored_by_the_next_start(db: TestDb) {
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let sink = svc.sink();
    sink.submit(rec("before"));
    svc.shutdown().await;
    // The daemon still holds a sink while it winds down: the writer is gone, the record goes to the spool.
    sink.submit(rec("after"));
    assert_eq!(sink.spilled(), 1);
    drop(sink);
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    assert!(svc.store().call_record("before").await.unwrap().is_some());
    assert!(svc.store().call_record("after").await.unwrap().is_some());
    assert_eq!(
        svc.store().backend() == Backend::Postgres,
        db.url.starts_with("postgres")
    );
    svc.shutdown().await;
}
both_backends!(
    replay_on_start,
    records_submitted_after_shutdown_are_stored_by_the_next_start
);

async fn new_tickets_from_calls_are_pushed_to_subscribers(db: TestDb) {
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let mut events = svc.subscribe();
    svc.sink().submit(abandoned("push-1"));
    let ev = tokio::time::timeout(std::time::Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .unwrap();
    assert_eq!(
        (ev.kind, ev.status, ev.department.as_str()),
        ("created", Status::Accepted, "callback")
    );
    let _ = Arc::new(());
    svc.shutdown().await;
}
both_backends!(
    push_from_calls,
    new_tickets_from_calls_are_pushed_to_subscribers
);

/// Make inserts into call_records fail as if the database were unavailable, then heal it.
async fn break_call_records(s: &Store, broken: bool) {
    let sql = match (s.backend(), broken) {
        // SQLite re-prepares statements after a schema change, so a renamed table fails every insert.
        (Backend::Sqlite, true) => "ALTER TABLE call_records RENAME TO call_records_away",
        (Backend::Sqlite, false) => "ALTER TABLE call_records_away RENAME TO call_records",
        // PostgreSQL plans bind to the table, not its name: raise a "cannot connect now" error instead.
        (Backend::Postgres, true) => {
            "CREATE FUNCTION down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             RAISE EXCEPTION 'down for the test' USING ERRCODE = '57P03'; END; $$; \
             CREATE TRIGGER down BEFORE INSERT ON call_records FOR EACH ROW EXECUTE FUNCTION down()"
        }
        (Backend::Postgres, false) => "DROP TRIGGER down ON call_records; DROP FUNCTION down()",
    };
    sqlx::raw_sql(sql).execute(s.pool()).await.unwrap();
}

async fn records_wait_while_the_database_is_down_and_are_stored_when_it_is_back(db: TestDb) {
    let cfg = TicketConfig {
        channel_capacity: 4,
        batch_size: 8,
        ..db.config()
    };
    let svc = ticket::start(cfg, common::schedule()).await.unwrap();
    let admin = store(&db).await;
    break_call_records(&admin, true).await;
    let sink = svc.sink();
    for i in 0..200 {
        sink.submit(abandoned(&format!("down-{i}")));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        sink.spilled() > 0,
        "with the database down the channel fills and records spill"
    );
    break_call_records(&admin, false).await;
    // Back: within a few seconds (backoff ≤ 5 s, checkpoint ~1 s) everything is stored, while running.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let n = admin.count_call_records().await.unwrap();
        if n == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {n} of 200 stored after the database came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(admin.count_tickets().await.unwrap(), 200);
    svc.shutdown().await;
}
both_backends!(
    database_down_and_back,
    records_wait_while_the_database_is_down_and_are_stored_when_it_is_back
);

async fn a_record_the_database_refuses_does_not_stall_the_others(db: TestDb) {
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let sink = svc.sink();
    sink.submit(rec("good-1"));
    // PostgreSQL refuses NUL bytes in text; SQLite stores them.
    sink.submit(CallRecord {
        digits: "1\u{0}2".into(),
        ..rec("nul")
    });
    sink.submit(rec("good-2"));
    svc.shutdown().await;
    let s = store(&db).await;
    assert!(s.call_record("good-1").await.unwrap().is_some(), "good-1");
    assert!(s.call_record("good-2").await.unwrap().is_some());
    let rejected = std::fs::read_to_string(db.spool().join("rejected.jsonl")).unwrap_or_default();
    match s.backend() {
        Backend::Postgres => {
            assert!(s.call_record("nul").await.unwrap().is_none());
            assert!(rejected.contains("\"call_id\":\"nul\""), "{rejected}");
        }
        Backend::Sqlite => {
            assert!(s.call_record("nul").await.unwrap().is_some());
            assert!(rejected.is_empty());
        }
    }
}
both_backends!(
    poison_record,
    a_record_the_database_refuses_does_not_stall_the_others
);

async fn the_writer_stores_attempts_with_their_record_or_neither(db: TestDb) {
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let sink = svc.sink();
    let t0 = 1_700_000_010_000;
    let good = CallRecord {
        transfers: vec![
            attempt(Some("water"), t0, TransferOutcome::NoAnswer),
            attempt(Some("water"), t0 + 20_000, TransferOutcome::Answered),
        ],
        ..rec("x-good")
    };
    // PostgreSQL refuses the NUL in the attempt: the record must not be stored without it.
    let bad = CallRecord {
        transfers: vec![TransferAttempt {
            target: "80\u{0}01".into(),
            ..attempt(Some("power"), t0, TransferOutcome::Busy)
        }],
        ..rec("x-nul")
    };
    sink.submit(good.clone());
    sink.submit(bad.clone());
    svc.shutdown().await;
    let s = store(&db).await;
    assert_eq!(s.call_record("x-good").await.unwrap(), Some(good));
    let rejected = std::fs::read_to_string(db.spool().join("rejected.jsonl")).unwrap_or_default();
    let attempts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM transfer_attempts")
        .fetch_one(s.pool())
        .await
        .unwrap();
    match s.backend() {
        Backend::Postgres => {
            assert_eq!(s.call_record("x-nul").await.unwrap(), None);
            assert!(rejected.contains("\"call_id\":\"x-nul\""), "{rejected}");
            assert_eq!(attempts, 2);
            // Only the good call's failed attempt opened a ticket.
            assert_eq!(s.count_tickets().await.unwrap(), 1);
        }
        Backend::Sqlite => {
            assert_eq!(s.call_record("x-nul").await.unwrap(), Some(bad));
            assert_eq!(attempts, 3);
            assert_eq!(s.count_tickets().await.unwrap(), 2);
        }
    }
}
both_backends!(
    writer_stores_attempts,
    the_writer_stores_attempts_with_their_record_or_neither
);

async fn many_call_tasks_submitting_at_once_lose_nothing(db: TestDb) {
    let cfg = TicketConfig {
        channel_capacity: 16,
        ..db.config()
    };
    let svc = ticket::start(cfg, common::schedule()).await.unwrap();
    let mut threads = Vec::new();
    for t in 0..4 {
        let sink = svc.sink();
        threads.push(std::thread::spawn(move || {
            for i in 0..500 {
                sink.submit(rec(&format!("t{t}-{i}")));
            }
        }));
    }
    for th in threads {
        th.join().unwrap();
    }
    svc.shutdown().await;
    let s = store(&db).await;
    assert_eq!(s.count_call_records().await.unwrap(), 2_000);
}
both_backends!(
    concurrent_submit,
    many_call_tasks_submitting_at_once_lose_nothing
);
