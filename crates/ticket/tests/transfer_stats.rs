//! Done when: "Transfer service-level figures from the API equal a hand count over a scripted sequence of 20
//! transfers" (R-05), on SQLite and PostgreSQL.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use common::{rec, TestDb};
use http_body_util::BodyExt;
use serde_json::Value;
use ticket::{CallRecord, TransferAttempt, TransferEndedBy, TransferKind, TransferOutcome};
use tower::ServiceExt;

/// Transfer statistics are for supervisors (and the center administrator).
const TOKEN: &str = common::SUPERVISOR_TOKEN;
/// The window asked for: [FROM, TO), one hour.
const FROM: i64 = 1_700_000_000_000;
const TO: i64 = FROM + 3_600_000;

async fn get(app: &Router, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::builder().method("GET").uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// One attempt: `ring_ms` until the answer (answered) or until it ended (the others).
fn attempt(
    department: Option<&str>,
    target: &str,
    start: i64,
    ring_ms: i64,
    outcome: TransferOutcome,
) -> TransferAttempt {
    let answered = matches!(outcome, TransferOutcome::Answered);
    TransferAttempt {
        target: target.into(),
        department: department.map(str::to_string),
        started_at_ms: start,
        answered_at_ms: answered.then_some(start + ring_ms),
        ended_at_ms: start + ring_ms + if answered { 60_000 } else { 0 },
        outcome,
        answer_target_ms: Some(15_000),
        ended_by: Some(if answered {
            TransferEndedBy::Department
        } else {
            TransferEndedBy::Timer
        }),
        kind: Some(TransferKind::Keys),
    }
}

/// The script. Departments: water (8001), power (8002), and 12315 which the dial plan knows no department for
/// (counted under its number). `#n` are the attempt numbers used in the hand count below.
fn script() -> Vec<TransferAttempt> {
    use TransferOutcome::*;
    let w = |start, ring, o| attempt(Some("water"), "8001", start, ring, o);
    let p = |start, ring, o| attempt(Some("power"), "8002", start, ring, o);
    let m = |start, ring, o| attempt(None, "12315", start, ring, o);
    vec![
        // In [FROM, TO):
        w(FROM + 100_000, 5_000, Answered), // #1  water answered 5.0 s: within
        w(FROM + 200_000, 14_900, Answered), // #2  water answered 14.9 s: within
        w(FROM + 300_000, 15_000, Answered), // #3  water answered 15.0 s: within (inclusive)
        w(FROM + 400_000, 15_100, Answered), // #4  water answered 15.1 s: NOT within
        w(FROM + 500_000, 2_000, Busy),     // #5  water busy
        w(FROM + 600_000, 15_000, NoAnswer), // #6  water no answer
        w(FROM + 700_000, 3_000, Cancelled), // #7  water cancelled
        p(FROM + 800_000, 10_000, Answered), // #8  power answered 10.0 s: within
        p(FROM + 900_000, 15_000, Answered), // #9  power answered 15.0 s: within
        p(FROM + 1_000_000, 20_000, Answered), // #10 power answered 20.0 s: NOT within
        p(FROM + 1_100_000, 1_000, Rejected { status: 603 }), // #11 power rejected 603
        p(FROM + 1_200_000, 500, Failed { status: 503 }), // #12 power failed 503
        p(TO - 1, 15_000, NoAnswer),        // #13 power no answer, started at TO - 1 ms: in
        m(FROM, 2_000, Answered),           // #14 12315 answered 2.0 s, started at FROM: in
        m(FROM + 1_300_000, 100, Failed { status: 408 }), // #15 12315 failed 408
        m(FROM + 1_400_000, 1_000, Busy),   // #16 12315 busy
        // Outside:
        w(FROM - 1, 5_000, Answered), // #17 water, 1 ms before FROM
        p(TO, 1_000, Busy),           // #18 power, exactly at TO (exclusive)
        w(FROM - 86_400_000, 15_000, NoAnswer), // #19 water, a day earlier
        m(TO + 3_600_000, 1_000, Answered), // #20 12315, an hour after TO
    ]
}

/// The 20 attempts spread over calls of up to three; a call's own times do not matter, only the attempts'.
fn calls() -> Vec<CallRecord> {
    script()
        .chunks(3)
        .enumerate()
        .map(|(i, chunk)| {
            let start = chunk.iter().map(|a| a.started_at_ms).min().unwrap_or(FROM) - 30_000;
            let end = chunk.iter().map(|a| a.ended_at_ms).max().unwrap_or(FROM) + 10_000;
            CallRecord {
                started_at_ms: start,
                answered_at_ms: Some(start + 5_000),
                ended_at_ms: end,
                transfers: chunk.to_vec(),
                ..rec(&format!("xfer-{i}"))
            }
        })
        .collect()
}

fn close(got: &Value, want: f64, what: &str) {
    let g = got
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {got}"));
    assert!((g - want).abs() < 1e-9, "{what}: {g} != {want}");
}

/// (department, attempts, answered, within, [no_answer, busy, rejected, failed, cancelled], mean_ring_ms)
type Expected = (&'static str, u64, u64, u64, [u64; 5], f64);

fn check(v: &Value, e: &Expected) {
    let (name, attempts, answered, within, f, mean) = *e;
    assert_eq!(v["attempts"], attempts, "{name} attempts: {v}");
    assert_eq!(v["answered"], answered, "{name} answered");
    assert_eq!(v["answered_within_target"], within, "{name} within");
    let failures = &v["failures"];
    for (key, n) in ["no_answer", "busy", "rejected", "failed", "cancelled"]
        .iter()
        .zip(f)
    {
        assert_eq!(failures[key], n, "{name} {key}");
    }
    close(
        &v["service_level"],
        within as f64 / attempts as f64,
        &format!("{name} service_level"),
    );
    close(&v["mean_ring_ms"], mean, &format!("{name} mean_ring_ms"));
}

// Hand count over the 16 attempts in range (#1–#16):
//
// water  #1–#7:   7 attempts; answered #1 #2 #3 #4 = 4; within #1 (5.0) #2 (14.9) #3 (15.0) = 3 (#4 15.1 is not);
//                 no_answer #6 = 1, busy #5 = 1, rejected 0, failed 0, cancelled #7 = 1;
//                 service level 3/7; mean ring over answered (5000 + 14900 + 15000 + 15100) / 4 = 12500 ms.
// power  #8–#13:  6 attempts; answered #8 #9 #10 = 3; within #8 (10.0) #9 (15.0) = 2;
//                 no_answer #13 = 1, busy 0, rejected #11 = 1, failed #12 = 1, cancelled 0;
//                 service level 2/6; mean (10000 + 15000 + 20000) / 3 = 15000 ms.
// 12315  #14–#16: 3 attempts; answered #14 = 1; within 1; no_answer 0, busy #16 = 1, rejected 0, failed #15 = 1,
//                 cancelled 0; service level 1/3; mean 2000 ms.
// overall:       16 attempts; answered 4 + 3 + 1 = 8; within 3 + 2 + 1 = 6; no_answer 2, busy 2, rejected 1,
//                 failed 2, cancelled 1 (8 + 2 + 2 + 1 + 2 + 1 = 16); service level 6/16 = 0.375;
//                 mean (50000 + 45000 + 2000) / 8 = 12125 ms.
// Departments in byte order: "12315" < "power" < "water".
const OVERALL: Expected = ("overall", 16, 8, 6, [2, 2, 1, 2, 1], 12_125.0);
const DEPARTMENTS: [Expected; 3] = [
    ("12315", 3, 1, 1, [0, 1, 0, 1, 0], 2_000.0),
    ("power", 6, 3, 2, [1, 0, 1, 1, 0], 15_000.0),
    ("water", 7, 4, 3, [1, 1, 0, 0, 1], 12_500.0),
];

fn check_report(v: &Value, overall: &Expected, departments: &[Expected]) {
    check(&v["overall"], overall);
    let deps = v["departments"]
        .as_array()
        .unwrap_or_else(|| panic!("departments: {v}"));
    let names: Vec<_> = deps.iter().map(|d| d["department"].clone()).collect();
    let want: Vec<Value> = departments.iter().map(|e| Value::from(e.0)).collect();
    assert_eq!(names, want);
    for (d, e) in deps.iter().zip(departments) {
        check(d, e);
    }
}

async fn service_level_equals_the_hand_count(db: TestDb) {
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    assert_eq!(script().len(), 20);
    svc.store()
        .insert_call_records(&calls(), FROM, "callback")
        .await
        .unwrap();
    let app = svc.router(common::gate());

    let (st, v) = get(
        &app,
        &format!("/stats/transfers?from={FROM}&to={TO}"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    check_report(&v, &OVERALL, &DEPARTMENTS);

    // The same window in RFC 3339 (FROM = 2023-11-14T22:13:20Z), in another zone for `to`.
    let (st, v2) = get(
        &app,
        "/stats/transfers?from=2023-11-14T22:13:20Z&to=2023-11-15T07:13:20%2B08:00",
        Some(TOKEN),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v2}");
    assert_eq!(v2, v);

    // No bounds: all 20. water + #17 (answered 5 s, within) + #19 (no answer); power + #18 (busy);
    // 12315 + #20 (answered 1 s, within).
    let (st, v) = get(&app, "/stats/transfers", Some(TOKEN)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    check_report(
        &v,
        &("overall", 20, 10, 8, [3, 3, 1, 2, 1], 103_000.0 / 10.0),
        &[
            ("12315", 4, 2, 2, [0, 1, 0, 1, 0], 1_500.0),
            ("power", 7, 3, 2, [1, 1, 1, 1, 0], 15_000.0),
            ("water", 9, 5, 4, [2, 1, 0, 0, 1], 11_000.0),
        ],
    );

    // Only `to`: #19 and #17 (both water) and everything in range.
    let (_, v) = get(&app, &format!("/stats/transfers?to={FROM}"), Some(TOKEN)).await;
    check_report(
        &v,
        &("overall", 2, 1, 1, [1, 0, 0, 0, 0], 5_000.0),
        &[("water", 2, 1, 1, [1, 0, 0, 0, 0], 5_000.0)],
    );

    // An empty window: zeros and nulls.
    let (st, v) = get(&app, "/stats/transfers?from=5&to=5", Some(TOKEN)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["overall"]["attempts"], 0);
    assert_eq!(v["overall"]["service_level"], Value::Null);
    assert_eq!(v["overall"]["mean_ring_ms"], Value::Null);
    assert_eq!(v["departments"], Value::Array(Vec::new()));

    // Same bearer auth as the ticket routes; bad input names the field.
    let (st, _) = get(&app, "/stats/transfers", None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = get(&app, "/stats/transfers", Some("wrong")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    for (q, field) in [
        ("from=yesterday", "from"),
        ("to=12x", "to"),
        ("from=10&to=5", "to"),
        ("department=water", "department"),
    ] {
        let (st, v) = get(&app, &format!("/stats/transfers?{q}"), Some(TOKEN)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {v}");
        assert_eq!(v["field"], field, "{q}");
    }
    svc.shutdown().await;
}
both_backends!(transfer_service_level, service_level_equals_the_hand_count);
