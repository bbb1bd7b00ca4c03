//! HTTP API tests, one or more per endpoint, incl. wrong token (401) and bad input (400 naming the field), and the
//! role matrix (403, logged under the account); run against SQLite and PostgreSQL. Every request carries a forged
//! `X-Actor: mallory`, which must never reach the audit trail.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use common::TestDb;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

const TOKEN: &str = common::OPERATOR_TOKEN;

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
        // A forged actor: the audit trail must name the authenticated account (op-42) regardless.
        .header("x-actor", "mallory");
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
    let app = svc.router(common::gate());
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
    let app = svc.router(common::gate());
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
    let app = svc.router(common::gate());
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
        Some(common::AUDITOR_TOKEN),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!(
        (
            log[0]["actor"].as_str(),
            log[0]["what"].as_str(),
            log[0]["denied"].as_bool()
        ),
        (Some("op-42"), Some("read ticket"), Some(false))
    );

    let (st, _) = call(&app, "GET", "/tickets/does-not-exist", Some(TOKEN), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = call(
        &app,
        "GET",
        "/tickets/does-not-exist/access-log",
        Some(common::AUDITOR_TOKEN),
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
    let app = svc.router(common::gate());
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
    let app = svc.router(common::gate());
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

/// Opens a water and a power ticket (as the operator) and returns their ids.
async fn two_departments(app: &Router) -> (String, String) {
    let (st, w) = call(app, "POST", "/tickets", Some(TOKEN), Some(complaint())).await;
    assert_eq!(st, StatusCode::CREATED, "{w}");
    let mut b = complaint();
    b["department"] = json!("power");
    b["call_id"] = json!("call-2");
    let (st, p) = call(app, "POST", "/tickets", Some(TOKEN), Some(b)).await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    (
        w["id"].as_str().unwrap().to_string(),
        p["id"].as_str().unwrap().to_string(),
    )
}

fn basic(name: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"))
}

/// Like [`call`] with `Authorization: Basic`; also returns the `WWW-Authenticate` challenges.
async fn call_basic(app: &Router, uri: &str, name: &str, pw: &str) -> (StatusCode, Vec<String>) {
    let req = Request::builder()
        .uri(uri)
        .header("authorization", format!("Basic {}", basic(name, pw)))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let challenges = resp
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    (resp.status(), challenges)
}

/// Done when: a department user reading another department's ticket gets 403 and the attempt is in the
/// access log under its own account. Its lists are its own department's; acting on another's is refused too.
async fn department_sees_only_its_own(db: TestDb) {
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let app = svc.router(common::gate());
    let (water, power) = two_departments(&app).await;
    let dept = Some(common::WATER_TOKEN);

    let (st, v) = call(&app, "GET", &format!("/tickets/{power}"), dept, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert!(
        !v.to_string().contains("13812341234"),
        "no data in a 403: {v}"
    );
    let log = svc.store().access_log(&power).await.unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (log[0].actor.as_str(), log[0].what.as_str(), log[0].denied),
        ("water-dept", "read ticket", true)
    );

    let (st, v) = call(&app, "GET", &format!("/tickets/{water}"), dept, None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["caller"], "13812341234");
    let log = svc.store().access_log(&water).await.unwrap();
    assert_eq!(
        (log[0].actor.as_str(), log[0].denied),
        ("water-dept", false)
    );

    let (st, v) = call(&app, "GET", "/tickets", dept, None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [water.as_str()],
        "the list is filtered to its department"
    );
    let (st, _) = call(&app, "GET", "/tickets?department=water", dept, None).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = call(&app, "GET", "/tickets?department=power", dept, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let refused = svc
        .store()
        .access_log_query(&ticket::AccessFilter {
            actor: Some("water-dept".into()),
            denied: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    let what: Vec<&str> = refused.iter().map(|e| e.what.as_str()).collect();
    assert_eq!(what, ["read ticket", "list tickets of department power"]);

    // Acting: its own department's steps on its own tickets only; the center's steps never.
    for id in [&water, &power] {
        let (st, v) = call(
            &app,
            "POST",
            &format!("/tickets/{id}/actions"),
            Some(TOKEN),
            Some(json!({"action": "dispatch", "department": if *id == water { "water" } else { "power" }})),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    let sign = Some(json!({"action": "sign"}));
    let (st, _) = call(
        &app,
        "POST",
        &format!("/tickets/{power}/actions"),
        dept,
        sign.clone(),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(
        svc.store().ticket(&power).await.unwrap().unwrap().status,
        ticket::Status::Dispatched
    );
    let (st, v) = call(
        &app,
        "POST",
        &format!("/tickets/{water}/actions"),
        dept,
        sign,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "signed");
    let (st, _) = call(
        &app,
        "POST",
        &format!("/tickets/{water}/actions"),
        dept,
        Some(json!({"action": "close"})),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "closing is the center's step");
    let (st, _) = call(&app, "POST", "/tickets", dept, Some(complaint())).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let history = svc.store().history(&water).await.unwrap();
    let actors: Vec<(&str, &str)> = history
        .iter()
        .map(|h| (h.action.as_str(), h.actor.as_str()))
        .collect();
    assert_eq!(
        actors,
        [
            ("accept", "op-42"),
            ("dispatch", "op-42"),
            ("sign", "water-dept")
        ]
    );
    let power_log = svc.store().access_log(&power).await.unwrap();
    assert!(
        power_log
            .iter()
            .any(|e| e.actor == "water-dept" && e.what == "sign ticket" && e.denied),
        "{power_log:?}"
    );

    // The other department, by HTTP Basic (argon2 PHC hash), sees the other half.
    let (st, _) = call_basic(
        &app,
        &format!("/tickets/{power}"),
        "power-dept",
        common::POWER_PASSWORD,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = call_basic(
        &app,
        &format!("/tickets/{water}"),
        "power-dept",
        common::POWER_PASSWORD,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, challenges) = call_basic(&app, "/tickets", "power-dept", "not-the-password").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(
        challenges.iter().any(|c| c.starts_with("Basic realm="))
            && challenges.iter().any(|c| c.starts_with("Bearer")),
        "{challenges:?}"
    );
    svc.shutdown().await;
}
both_backends!(department_isolation, department_sees_only_its_own);

/// The rest of the matrix: the auditor reads the access log and no ticket; operators neither read the log nor the
/// transfer statistics; the supervisor reads the statistics but not the log.
async fn role_matrix(db: TestDb) {
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let app = svc.router(common::gate());
    let (water, _) = two_departments(&app).await;
    let auditor = Some(common::AUDITOR_TOKEN);

    let (st, _) = call(&app, "GET", "/tickets", auditor, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, v) = call(&app, "GET", &format!("/tickets/{water}"), auditor, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, _) = call(&app, "POST", "/tickets", auditor, Some(complaint())).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = call(&app, "GET", "/stats/transfers", auditor, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    let (st, log) = call(&app, "GET", "/access-log", auditor, None).await;
    assert_eq!(st, StatusCode::OK, "{log}");
    let rows: Vec<(String, String, bool)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["what"].as_str().unwrap().to_string(),
                e["denied"].as_bool().unwrap(),
            )
        })
        .collect();
    let expect: Vec<(String, String, bool)> = [
        ("audit", "list tickets", true),
        ("audit", "read ticket", true),
        ("audit", "open tickets", true),
        ("audit", "read transfer statistics", true),
    ]
    .iter()
    .map(|(a, w, d)| (a.to_string(), w.to_string(), *d))
    .collect();
    assert_eq!(rows, expect);
    assert_eq!(log[1]["ticket_id"], water.as_str());
    let (st, v) = call(
        &app,
        "GET",
        "/access-log?actor=audit&denied=true&limit=1",
        auditor,
        None,
    )
    .await;
    assert_eq!((st, v.as_array().unwrap().len()), (StatusCode::OK, 1));
    let (st, v) = call(&app, "GET", "/access-log?denied=maybe", auditor, None).await;
    assert_eq!(
        (st, v["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("denied"))
    );

    for uri in ["/access-log", "/stats/transfers"] {
        let (st, _) = call(&app, "GET", uri, Some(TOKEN), None).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "operator {uri}");
    }
    let (st, _) = call(
        &app,
        "GET",
        &format!("/tickets/{water}/access-log"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let sup = Some(common::SUPERVISOR_TOKEN);
    let (st, _) = call(&app, "GET", "/stats/transfers", sup, None).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = call(&app, "GET", "/access-log", sup, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = call(&app, "GET", &format!("/tickets/{water}"), sup, None).await;
    assert_eq!(st, StatusCode::OK);

    // Done when: X-Actor no longer changes who is logged. Every request above carried `X-Actor: mallory`.
    let everything = svc
        .store()
        .access_log_query(&ticket::AccessFilter::default())
        .await
        .unwrap();
    assert_eq!(everything.len(), 9, "{everything:?}");
    assert!(
        everything.iter().all(|e| e.actor != "mallory"),
        "{everything:?}"
    );
    let history = svc.store().history(&water).await.unwrap();
    assert!(history.iter().all(|h| h.actor == "op-42"), "{history:?}");
    svc.shutdown().await;
}
both_backends!(roles, role_matrix);

/// A department account's live stream carries its own department's tickets only; the auditor gets none.
async fn department_events_are_its_own(db: TestDb) {
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let app = svc.router(common::gate());
    let (st, _) = call(
        &app,
        "GET",
        "/tickets/events",
        Some(common::AUDITOR_TOKEN),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let req = Request::builder()
        .uri("/tickets/events")
        .header("authorization", format!("Bearer {}", common::WATER_TOKEN))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut power = complaint();
    power["department"] = json!("power");
    call(&app, "POST", "/tickets", Some(TOKEN), Some(power)).await;
    let (_, w) = call(&app, "POST", "/tickets", Some(TOKEN), Some(complaint())).await;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !text.contains("\n\n") {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("an event within 10 s");
        if let Some(d) = frame.unwrap().unwrap().data_ref() {
            text.push_str(&String::from_utf8_lossy(d));
        }
    }
    // The power ticket was created first: had it been sent, it would be the first event.
    let first = text.split("\n\n").next().unwrap();
    assert!(first.contains(w["id"].as_str().unwrap()), "{text}");
    assert!(!text.contains("\"department\":\"power\""), "{text}");
    svc.shutdown().await;
}
both_backends!(department_events, department_events_are_its_own);

/// The number and query code a caller keys for the phone self-query come with a new ticket and a read;
/// the desk the call path uses answers the filer or the code in words, and nobody else.
async fn phone_number_and_self_query_desk(db: TestDb) {
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let app = svc.router(common::gate());
    let (st, v) = call(&app, "POST", "/tickets", Some(TOKEN), Some(complaint())).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let number = v["phone"]["number"].as_i64().unwrap();
    let code = v["phone"]["query_code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 6);
    let id = v["id"].as_str().unwrap();
    let (_, read) = call(&app, "GET", &format!("/tickets/{id}"), Some(TOKEN), None).await;
    assert_eq!(
        read["phone"], v["phone"],
        "the same number and code on a read"
    );

    let desk = svc.self_query_desk(chrono_tz::Asia::Shanghai);
    let now = chrono::Utc::now().timestamp_millis();
    let n = number.to_string();
    let words = desk.ask(&n, "13812341234", None, now).await.unwrap();
    // Due 2021-10-15 (7 working days over National Day): «二零二一年 十月 十五日».
    assert_eq!(
        words.unwrap(),
        [
            "your_request",
            "state_accepted",
            "due",
            "2",
            "0",
            "2",
            "1",
            "year",
            "10",
            "month",
            "10",
            "5",
            "day"
        ]
    );
    assert_eq!(desk.ask(&n, "13999999999", None, now).await.unwrap(), None);
    assert!(desk
        .ask(&n, "13999999999", Some(&code), now)
        .await
        .unwrap()
        .is_some());
    assert_eq!(desk.ask("", "13812341234", None, now).await.unwrap(), None);
    svc.shutdown().await;
}
both_backends!(phone_self_query, phone_number_and_self_query_desk);
