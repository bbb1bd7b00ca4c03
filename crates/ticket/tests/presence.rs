//! Seat presence and queue visits in the database, on both backends: what a restart restores and what the
//! staffing advice reads back.

mod common;

use ticket::queues::{logged_in_per_interval, PresenceRow};
use ticket::record::{QueueVisit, VisitOutcome};

fn row(seat: &str, at: i64, presence: &str, reason: Option<&str>) -> PresenceRow {
    PresenceRow {
        seat: seat.into(),
        operator: Some(format!("op{seat}")),
        presence: presence.into(),
        reason: reason.map(Into::into),
        held_out: presence == "logged_out",
        changed_at_ms: at,
        queues: vec!["general".into()],
    }
}

async fn presence_round_trip(db: common::TestDb) {
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let store = svc.store();
    store
        .save_presence(&[
            row("1001", 100, "ready", None),
            row("1002", 150, "ready", None),
        ])
        .await
        .unwrap();
    store
        .save_presence(&[row("1001", 200, "not_ready", Some("RONA"))])
        .await
        .unwrap();
    store
        .save_presence(&[row("1002", 400, "logged_out", None)])
        .await
        .unwrap();
    let now = store.load_presence().await.unwrap();
    assert_eq!(now.len(), 2, "one current row per seat");
    assert_eq!(
        (
            now[0].presence.as_str(),
            now[0].reason.as_deref(),
            now[0].operator.as_deref()
        ),
        ("not_ready", Some("RONA"), Some("op1001"))
    );
    assert!(now[1].held_out && now[1].presence == "logged_out");
    // The history from 180: each seat's state then, then the changes.
    let h = store.presence_history(180, 1_000).await.unwrap();
    let seen: Vec<(&str, i64, &str)> = h
        .iter()
        .map(|r| (r.seat.as_str(), r.changed_at_ms, r.presence.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("1001", 100, "ready"),
            ("1002", 150, "ready"),
            ("1001", 200, "not_ready"),
            ("1002", 400, "logged_out")
        ]
    );
    assert_eq!(h[0].queues, ["general"]);
    // Not ready is still logged in; 1002 leaves 20 ms into the second interval.
    assert_eq!(
        logged_in_per_interval(&h, "general", 180, 580, 200),
        [2.0, 1.1]
    );

    // Queue visits travel with their record and come back whole.
    let mut r = common::rec("v1");
    r.queue_visits = vec![
        QueueVisit {
            queue: "general".into(),
            entered_at_ms: r.started_at_ms,
            left_at_ms: r.started_at_ms + 120_000,
            outcome: VisitOutcome::Overflowed,
        },
        QueueVisit {
            queue: "backup".into(),
            entered_at_ms: r.started_at_ms + 120_000,
            left_at_ms: r.started_at_ms + 128_000,
            outcome: VisitOutcome::Answered,
        },
    ];
    store
        .insert_call_records(&[r.clone()], 0, "callback")
        .await
        .unwrap();
    assert_eq!(
        store.call_record("v1").await.unwrap().unwrap().queue_visits,
        r.queue_visits
    );
    let calls = store
        .queue_calls(r.started_at_ms + 100_000, r.started_at_ms + 200_000)
        .await
        .unwrap();
    assert_eq!(
        calls.len(),
        1,
        "the call of the visit that entered in range"
    );
    assert_eq!(calls[0].len(), 2, "with all its visits");
    assert_eq!(
        calls[0][1].talk_ms,
        Some(r.ended_at_ms - r.answered_at_ms.unwrap())
    );
    svc.shutdown().await;
}

both_backends!(presence, presence_round_trip);
