//! HTTP API tests, one or more per endpoint, incl. wrong token (401) and bad input (400 naming the field); run
//! against SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use common::TestDb;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

const TOKEN: &str = "secret-token";

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("x-actor", "op-42");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, v)
}

fn complaint() -> Value {
    json!({
        "accepted_at": "2021-09-30T02:00:00Z",
        "category": "complaint",
        "department": "water",
        "text": "停水三天",
        "caller": "13812341234",
        "call_id": "call-1"
    })
}

async fn create_ticket_endpoint(db: TestDb) {
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let app = svc.router();
    let (st, v) = call(&app, "POST", "/tickets", Some(TOKEN), Some(complaint())).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["status"], "accepted");
    assert_eq!(v["category"], "complaint");
    assert_eq!(
        v["caller"], "138****1234",
        "answers other than the audited read mask the caller"
    );
    assert_eq!(v["call_ids"], json!(["call-1"]));
    // 2021-09-30 10:00 Beijing + 7 working days over National Day = 2021-10-15 10:00 Beijing.
    assert_eq!(v["close_due"], "2021-10-15T02:00:00Z");
    assert_eq!(v["light"], "red");

    let (st, _) = call(&app, "POST", "/tickets", Some("wrong"), Some(complaint())).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = call(&app, "POST", "/tickets", None, Some(complaint())).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    let mut missing = complaint();
    missing.as_object_mut().unwrap().remove("department");
    let cases = [
        (missing, "department"),
        (
            json!({"accepted_at": "2021-09-30T02:00:00Z", "category": "gossip", "department": "w", "text": "t"}),
            "category",
        ),
        (
            json!({"accepted_at": "yesterday", "category": "help", "department": "w", "text": "t"}),
            "accepted_at",
        ),
        (
            json!({"accepted_at": "2021-09-30T02:00:00Z", "category": "help", "department": "w", "text": " "}),
            "text",
        ),
        (
            json!({"accepted_at": "2021-09-30T02:00:00Z", "category": "help", "department": "w", "text": "t", "colour": 1}),
            "colour",
        ),
        (
            json!({"accepted_at": "2999-01-01T00:00:00Z", "category": "help", "department": "w", "text": "t"}),
            "accepted_at",
        ),
        (
            json!({"accepted_at": "0201-01-01T00:00:00Z", "category": "help", "department": "w", "text": "t"}),
            "accepted_at",
        ),
    ];
    for (body, field) in cases {
        let (st, v) = call(&app, "POST", "/tickets", Some(TOKEN), Some(body.clone())).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(v["field"], field, "{v}");
        assert!(v["error"].as_str().unwrap().contains(field), "{v}");
    }
    let (st, v) = call(&app, "POST", "/tickets", Some(TOKEN), None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    svc.shutdown().await;
}
both_backends!(post_tickets, create_ticket_endpoint);

async fn list_endpoint(db: TestDb) {
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let app = svc.router();
    call(&app, "POST", "/tickets", Some(TOKEN), Some(complaint())).await;
    let recent = chrono::Utc::now().to_rfc3339();
    let mut b = complaint();
    b["department"] = json!("power");
    b["accepted_at"] = json!(recent);
    call(&app, "POST", "/tickets", Some(TOKEN), Some(b)).await;

    let (st, v) = call(&app, "GET", "/tickets", Some(TOKEN), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(v[0]["caller"].as_str().unwrap().contains("****"));
    // Every listed ticket's read is audited.
    for t in v.as_array().unwrap() {
        let log = svc
            .store()
            .access_log(t["id"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(
            (log[0].actor.as_str(), log[0].what.as_str()),
            ("op-42", "list tickets")
        );
    }
    let (_, v) = call(&app, "GET", "/tickets?department=power", Some(TOKEN), None).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (_, v) = call(&app, "GET", "/tickets?light=red", Some(TOKEN), None).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["department"], "water");
    let (_, v) = call(
        &app,
        "GET",
        "/tickets?status=accepted&from=2021-09-01T00:00:00Z&to=2021-10-01T00:00:00Z",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (_, v) = call(&app, "GET", "/tickets?status=closed", Some(TOKEN), None).await;
    assert_eq!(v.as_array().unwrap().len(), 0);

    for (q, field) in [
        ("status=lost", "status"),
        ("light=blue", "light"),
        ("from=monday", "from"),
        ("limit=0", "limit"),
        ("colour=red", "colour"),
    ] {
        let (st, v) = call(&app, "GET", &format!("/tickets?{q}"), Some(TOKEN), None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(v["field"], field, "{v}");
    }
    let (st, _) = call(&app, "GET", "/tickets", Some("nope"), None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    svc.shutdown().await;
}
both_backends!(get_tickets, list_endpoint);

async fn read_one_endpoint_and_access_log(db: TestDb) {
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let app = svc.router();
    let (_, created) = call(&app, "POST", "/tickets", Some(TOKEN), Some(complaint())).await;
    let id = created["id"].as_str().unwrap().to_string();
    call(
        &app,
        "POST",
        &format!("/tickets/{id}/actions"),
        Some(TOKEN),
        Some(json!({"action": "dispatch", "department": "water"})),
    )
    .await;

    let (st, v) = call(&app, "GET", &format!("/tickets/{id}"), Some(TOKEN), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        v["caller"], "13812341234",
        "the audited read shows the full number"
    );
    assert_eq!(v["close_due"], "2021-10-15T02:00:00Z");
    assert!(v["sign_due"].is_string(), "{v}");
    assert!(["green", "yellow", "red"].contains(&v["light"].as_str().unwrap()));
    let history: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["accept", "dispatch"]);
    assert_eq!(v["history"][1]["actor"], "op-42");

    let (st, log) = call(
        &app,
        "GET",
        &format!("/tickets/{id}/access-log"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!(
        (log[0]["actor"].as_str(), log[0]["what"].as_str()),
        (Some("op-42"), Some("read ticket"))
    );

    let (st, _) = call(&app, "GET", "/tickets/does-not-exist", Some(TOKEN), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = call(
        &app,
        "GET",
        "/tickets/does-not-exist/access-log",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = call(&app, "GET", &format!("/tickets/{id}"), Some("wrong"), None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = call(
        &app,
        "GET",
        &format!("/tickets/{id}/access-log"),
        None,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // Refused reads are not logged as reads.
    assert_eq!(svc.store().access_log(&id).await.unwrap().len(), 1);
    svc.shutdown().await;
}
both_backends!(get_ticket, read_one_endpoint_and_access_log);

async fn actions_endpoint(db: TestDb) {
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let app = svc.router();
    let (_, created) = call(&app, "POST", "/tickets", Some(TOKEN), Some(complaint())).await;
    let url = format!("/tickets/{}/actions", created["id"].as_str().unwrap());
    let steps = [
        json!({"action": "dispatch", "department": "water"}),
        json!({"action": "sign"}),
        json!({"action": "handle"}),
        json!({"action": "supervise", "note": "督办"}),
        json!({"action": "reply", "text": "已修复"}),
        json!({"action": "close"}),
        json!({"action": "call_back", "reached": true}),
        json!({"action": "evaluate", "satisfaction": "satisfied"}),
    ];
    let expect = [
        "dispatched",
        "signed",
        "handling",
        "handling",
        "replied",
        "closed",
        "called_back",
        "evaluated",
    ];
    for (body, status) in steps.iter().zip(expect) {
        let (st, v) = call(&app, "POST", &url, Some(TOKEN), Some(body.clone())).await;
        assert_eq!(st, StatusCode::OK, "{body} → {v}");
        assert_eq!(v["status"], status);
    }
    let (st, v) = call(
        &app,
        "POST",
        &url,
        Some(TOKEN),
        Some(json!({"action": "close"})),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(v["error"].as_str().unwrap().contains("close"));

    for (body, field) in [
        (json!({"action": "teleport"}), "action"),
        (json!({"department": "x"}), "action"),
        (json!({"action": "dispatch"}), "department"),
        (
            json!({"action": "dispatch", "department": ""}),
            "department",
        ),
        (
            json!({"action": "evaluate", "satisfaction": "meh"}),
            "satisfaction",
        ),
        (json!({"action": "sign", "when": "now"}), "when"),
    ] {
        let (st, v) = call(&app, "POST", &url, Some(TOKEN), Some(body.clone())).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body} → {v}");
        assert_eq!(v["field"], field, "{body} → {v}");
    }
    let (st, _) = call(
        &app,
        "POST",
        "/tickets/nope/actions",
        Some(TOKEN),
        Some(json!({"action": "sign"})),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = call(
        &app,
        "POST",
        &url,
        Some("wrong"),
        Some(json!({"action": "sign"})),
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    svc.shutdown().await;
}
both_backends!(post_actions, actions_endpoint);

async fn events_endpoint(db: TestDb) {
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let app = svc.router();
    let (st, _) = call(&app, "GET", "/tickets/events", Some("wrong"), None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    let req = Request::builder()
        .uri("/tickets/events")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();

    let (_, created) = call(&app, "POST", "/tickets", Some(TOKEN), Some(complaint())).await;
    let id = created["id"].as_str().unwrap().to_string();
    call(
        &app,
        "POST",
        &format!("/tickets/{id}/actions"),
        Some(TOKEN),
        Some(json!({"action": "dispatch", "department": "power"})),
    )
    .await;
    svc.sink().submit(common::abandoned("sse-call"));

    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while text.matches("\n\n").count() < 3 {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("3 events within 10 s");
        let frame = frame.unwrap().unwrap();
        if let Some(d) = frame.data_ref() {
            text.push_str(&String::from_utf8_lossy(d));
        }
    }
    let events: Vec<&str> = text
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .collect();
    assert!(
        events[0].contains("event: created") && events[0].contains(&id),
        "{text}"
    );
    assert!(
        events[1].contains("event: changed") && events[1].contains("\"department\":\"power\""),
        "{text}"
    );
    assert!(
        events[2].contains("event: created") && events[2].contains("\"department\":\"callback\""),
        "{text}"
    );
    assert!(
        !text.contains("13812341234") && !text.contains("caller"),
        "no personal data in pushes: {text}"
    );
    svc.shutdown().await;
}
both_backends!(get_events, events_endpoint);
