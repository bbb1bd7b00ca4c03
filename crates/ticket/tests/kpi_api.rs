//! `GET /api/stats/kpi`: the figures of [`ticket::Store::kpi`] as JSON and CSV, for the readers of statistics
//! only; the lifecycle actions through `POST /tickets/{id}/actions` follow the role matrix (a department asks
//! for an extension, only the center grants it). SQLite and PostgreSQL.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use common::TestDb;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"));
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
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn kpi_endpoint_and_lifecycle_actions_by_role(db: TestDb) {
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let app = svc.router(common::gate());
    let op = common::OPERATOR_TOKEN;
    let sup = common::SUPERVISOR_TOKEN;
    let water = common::WATER_TOKEN;
    let (st, body) = call(
        &app,
        "POST",
        "/tickets",
        op,
        Some(json!({"accepted_at": "2022-01-26T02:00:00Z", "category": "complaint", "department": "water",
                    "text": "漏水", "caller": "13812341234"})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let actions = format!("/tickets/{id}/actions");
    let post = |token: &'static str, v: Value| {
        let app = app.clone();
        let actions = actions.clone();
        async move { call(&app, "POST", &actions, token, Some(v)).await }
    };
    for v in [json!({"action": "dispatch", "department": "water"})] {
        assert_eq!(post(op, v).await.0, StatusCode::OK);
    }
    for v in [json!({"action": "sign"}), json!({"action": "handle"})] {
        assert_eq!(post(water, v).await.0, StatusCode::OK);
    }
    let (st, body) = post(
        water,
        json!({"action": "request_extension", "days": 3, "reason": "site visit"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    // The department may not grant itself the extension.
    assert_eq!(
        post(water, json!({"action": "approve_extension"})).await.0,
        StatusCode::FORBIDDEN
    );
    let (st, body) = post(op, json!({"action": "approve_extension"})).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["extension_days"], 3);
    // Jan 26 + 7 working days over the 2022 Spring Festival = Feb 9; + 3 = Feb 14 (10:00 Beijing).
    assert_eq!(v["close_due"], "2022-02-14T02:00:00Z");
    // Nothing pending any more: 409.
    assert_eq!(
        post(op, json!({"action": "approve_extension"})).await.0,
        StatusCode::CONFLICT
    );
    let (st, body) = post(
        op,
        json!({"action": "request_extension", "days": 0, "reason": "x"}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    // Not accepted with a reason outside the list: 400.
    let (st, _) = post(op, json!({"action": "not_accept", "reason": "weather"})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // A request with a matter: the second from the same caller is merged (200), visible on the ticket.
    let req = |call: &str| {
        json!({"accepted_at": "2022-01-26T03:00:00Z", "category": "help", "department": "power",
               "text": "停电", "caller": "13700001111", "call_id": call, "matter": "幸福小区 3栋"})
    };
    let (st, body) = call(&app, "POST", "/tickets", op, Some(req("m1"))).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let first: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(first["repeat"]["merged"], false);
    let (st, body) = call(&app, "POST", "/tickets", op, Some(req("m2"))).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let second: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(second["id"], first["id"]);
    assert_eq!(
        second["repeat"],
        json!({"merged": true, "requests": 2, "flagged": false})
    );
    assert_eq!(second["call_ids"], json!(["m1", "m2"]));

    // The KPIs: the supervisor reads them, a department account does not.
    let (st, body) = call(
        &app,
        "GET",
        "/stats/kpi?from=2022-01-01T00:00:00Z&to=2022-03-01T00:00:00Z",
        sup,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let k: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(k["tickets"], 2, "the merged repeat is no ticket of its own");
    assert_eq!(k["on_time"]["closed"], 0);
    assert_eq!(k["on_time"]["rate"], Value::Null);
    assert_eq!(k["not_accepted"]["total"], 0);
    let (st, csv) = call(&app, "GET", "/stats/kpi?format=csv", sup, None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(csv.starts_with("department,tickets,"), "{csv}");
    assert!(csv.contains("\"water\",1,0,0,"), "{csv}");
    assert_eq!(
        call(&app, "GET", "/stats/kpi", water, None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, "GET", "/stats/kpi?format=xml", sup, None)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    svc.shutdown().await;
}
both_backends!(kpi_api, kpi_endpoint_and_lifecycle_actions_by_role);
