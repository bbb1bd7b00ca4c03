//! The seats and queues API, nested under `/api` next to the tickets. The admin port authenticates every
//! request and guards these routes (`admin::spawn`): reads need `ViewStatus`, the actions `ManageSeats`.
//!
//! | method | path | |
//! |---|---|---|
//! | GET | /seats | every seat as the ACD sees it (operator, state, registration, queues, tags) |
//! | POST | /seats/{id}/actions | `{"action": "login", "operator": "7001"}`, `ready`, `{"action": "not_ready", "reason": "2"}`, `logout`, `end_wrap_up` — the feature codes' twins; 200 with the seat, 404/409/422 when refused |
//! | GET | /seats/events | server-sent events: every seat state change (`seat` events; `lagged` when some were missed) |
//! | GET | /stats/queues?from=&to= | each queue's service level over the visits that entered in `[from, to)` (epoch ms or RFC 3339; default the last 24 h), read from the stored records |

use crate::clock::Clock;
use crate::env::CallEnv;
use acd::{ActionError, AgentAction, Reason};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use ticket::queue_stats::{Aggregator, QueueReport};
use tokio::sync::broadcast;

#[derive(Clone)]
struct ApiState {
    env: Arc<CallEnv>,
    store: ticket::Store,
}

pub fn router(env: Arc<CallEnv>, store: ticket::Store) -> Router {
    let state = ApiState { env, store };
    Router::new()
        .route("/seats", get(seats))
        .route("/seats/events", get(events))
        .route("/seats/{id}/actions", post(act))
        .route("/stats/queues", get(queue_stats))
        .with_state(state)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

async fn seats(State(s): State<ApiState>) -> Response {
    match s.env.acd.snapshot().await {
        Some((_, mut seats)) => {
            seats.sort_by(|a, b| a.id.cmp(&b.id));
            Json(seats).into_response()
        }
        None => error(StatusCode::SERVICE_UNAVAILABLE, "the ACD is not running"),
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
enum ActionBody {
    Login {
        #[serde(default)]
        operator: Option<String>,
    },
    Ready,
    NotReady {
        #[serde(default)]
        reason: Option<String>,
    },
    Logout,
    EndWrapUp,
}

async fn act(State(s): State<ApiState>, Path(id): Path<String>, body: Bytes) -> Response {
    let body: ActionBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
    };
    let action = match body {
        ActionBody::Login { operator } => AgentAction::Login { operator },
        ActionBody::Ready => AgentAction::Login { operator: None },
        ActionBody::NotReady { reason } => {
            let reason = match reason.as_deref().map(Reason::parse) {
                None => Reason::Code(0),
                Some(Some(Reason::Code(c))) => Reason::Code(c),
                // RONA is the ACD's to give.
                Some(_) => return error(StatusCode::BAD_REQUEST, "reason: one digit"),
            };
            AgentAction::NotReady { reason }
        }
        ActionBody::Logout => AgentAction::Logout,
        ActionBody::EndWrapUp => AgentAction::EndWrapUp,
    };
    let name = action.name();
    let result = s.env.acd.act(&id, action).await;
    let outcome = if matches!(result, Some(Ok(_))) {
        "ok"
    } else {
        "refused"
    };
    metrics::counter!(crate::metrics_names::OPERATOR_ACTIONS, "action" => name, "result" => outcome)
        .increment(1);
    match result {
        Some(Ok(seat)) => Json(seat).into_response(),
        Some(Err(e)) => {
            let status = match e {
                ActionError::UnknownSeat => StatusCode::NOT_FOUND,
                ActionError::UnknownOperator => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::CONFLICT,
            };
            error(status, e.to_string())
        }
        None => error(StatusCode::SERVICE_UNAVAILABLE, "the ACD is not running"),
    }
}

async fn events(
    State(s): State<ApiState>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let rx = s.env.acd.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let ev = match rx.recv().await {
            Ok(e) => Event::default()
                .event("seat")
                .json_data(&e)
                .unwrap_or_else(|_| Event::default().event("error")),
            // A slow subscriber missed some: it should read /api/seats again.
            Err(broadcast::error::RecvError::Lagged(n)) => {
                Event::default().event("lagged").data(n.to_string())
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(ev), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Epoch ms or RFC 3339; the error names the field.
fn time_param(field: &str, v: &str) -> Result<i64, String> {
    let v = v.trim();
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("{field}: neither epoch milliseconds nor an RFC 3339 time ({e})"))
}

async fn queue_stats(
    State(s): State<ApiState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<QueueReport>, Response> {
    let now = Clock::wall_ms();
    let (mut from, mut to) = (now - 86_400_000, now);
    for (k, v) in &q {
        match k.as_str() {
            "from" => {
                from = time_param("from", v).map_err(|e| error(StatusCode::BAD_REQUEST, e))?
            }
            "to" => to = time_param("to", v).map_err(|e| error(StatusCode::BAD_REQUEST, e))?,
            other => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("{other}: unknown parameter"),
                ))
            }
        }
    }
    if from > to {
        return Err(error(StatusCode::BAD_REQUEST, "to: before from"));
    }
    let calls = s.store.queue_calls(from, to).await.map_err(|e| {
        tracing::error!(error = %e, "queue statistics failed");
        error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    })?;
    let levels = &s.env.stats.levels;
    let mut agg = Aggregator::default();
    for c in &calls {
        agg.add_call(c, from, to, &|q| levels.rules(q), levels.center());
    }
    Ok(Json(agg.report(
        from,
        to,
        &|q| levels.rules(q),
        levels.center(),
    )))
}
