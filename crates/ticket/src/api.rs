//! HTTP API (axum, JSON). The daemon nests [`router`] under `/api`; every route needs `Authorization: Bearer
//! <api_token>`. The caller's identity for the audit trail comes from the `X-Actor` header (default `api`).
//!
//! | method | path | |
//! |---|---|---|
//! | POST | /tickets | open a ticket: `{accepted_at, category, department, text, caller?, call_id?}` → 201 |
//! | GET | /tickets?status=&department=&light=&from=&to=&limit= | list (caller masked); logged in the access log |
//! | GET | /tickets/{id} | one ticket with history, `sign_due`, `close_due`, `light`; logged in the access log |
//! | POST | /tickets/{id}/actions | `{"action": "dispatch", "department": "…"}` etc.; 409 when not allowed now |
//! | GET | /tickets/{id}/access-log | who read this ticket's personal data |
//! | GET | /tickets/events | server-sent events: `created` / `changed` tickets (no personal data) |
//! | GET | /stats/transfers?from=&to= | transfer service level over attempts started in `[from, to)`; epoch ms or RFC 3339 |

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::sync::broadcast;

use crate::deadline::{deadlines, DeadlineInput, Light};
use crate::mask::mask_phone;
use crate::model::{Action, Category};
use crate::stats::{TimeRange, TransferReport};
use crate::store::{HistoryEntry, Ticket, TicketFilter, TicketInput};
use crate::{Shared, TicketError, TicketEvent};

type AppState = Arc<Shared>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/tickets", post(create).get(list))
        .route("/tickets/events", get(events))
        .route("/tickets/{id}", get(read_one))
        .route("/tickets/{id}/actions", post(act))
        .route("/tickets/{id}/access-log", get(access_log))
        .route("/stats/transfers", get(transfer_stats))
        .layer(middleware::from_fn_with_state(shared.clone(), auth))
        .with_state(shared)
}

/// An error answer: `{"error": "...", "field": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<String>,
}

impl ApiError {
    fn bad(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            field: Some(field.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.field {
            Some(f) => json!({"error": self.message, "field": f}),
            None => json!({"error": self.message}),
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<TicketError> for ApiError {
    fn from(e: TicketError) -> ApiError {
        let (status, message) = match &e {
            TicketError::NotFound(_) => (StatusCode::NOT_FOUND, e.to_string()),
            TicketError::Refused(_) | TicketError::Conflict(_) => {
                (StatusCode::CONFLICT, e.to_string())
            }
            _ => {
                tracing::error!(error = %e, "ticket API failure");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_string(),
                )
            }
        };
        ApiError {
            status,
            message,
            field: None,
        }
    }
}

async fn auth(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let expected = s.cfg.api_token.as_bytes();
    // An empty configured token locks the API rather than opening it.
    let ok = !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected));
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({"error": "missing or wrong bearer token"})),
        )
            .into_response();
    }
    next.run(req).await
}

fn actor(h: &HeaderMap) -> String {
    h.get("x-actor")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("api")
        .chars()
        .take(64)
        .collect()
}

/// Deserialize a JSON body; an error names the offending field.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad("body", format!("body: not JSON ({e})")))?;
    let Some(obj) = value.as_object() else {
        return Err(ApiError::bad("body", "body: expected a JSON object"));
    };
    let obj = obj.clone();
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        let field = if path != "." && !path.is_empty() {
            path
        } else {
            field_from_message(&msg, &obj)
        };
        ApiError::bad(&field, format!("{field}: {msg}"))
    })
}

/// Errors inside an internally tagged enum (actions) or about missing/unknown fields come without a path;
/// recover the field from the message.
fn field_from_message(msg: &str, obj: &serde_json::Map<String, serde_json::Value>) -> String {
    let quoted = msg.split('`').nth(1).unwrap_or("");
    if msg.starts_with("missing field") || msg.starts_with("unknown field") {
        return quoted.to_string();
    }
    if msg.starts_with("unknown variant") {
        // The offending value: find which key holds it.
        if let Some((k, _)) = obj.iter().find(|(_, v)| v.as_str() == Some(quoted)) {
            return k.clone();
        }
    }
    "body".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    accepted_at: DateTime<Utc>,
    category: Category,
    department: String,
    text: String,
    #[serde(default)]
    caller: Option<String>,
    #[serde(default)]
    call_id: Option<String>,
}

/// A ticket as the API shows it: the stored fields plus computed deadlines and light.
#[derive(Debug, Serialize)]
struct TicketView {
    #[serde(flatten)]
    ticket: Ticket,
    sign_due: Option<String>,
    close_due: String,
    light: Light,
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Vec<HistoryEntry>>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn view(s: &Shared, mut t: Ticket, now: DateTime<Utc>, reveal_caller: bool) -> TicketView {
    let d = deadlines(
        s.clock.as_ref(),
        &s.cfg.deadlines,
        s.cfg.yellow_share,
        DeadlineInput {
            category: t.category,
            accepted_at_ms: t.accepted_at_ms,
            dispatched_at_ms: t.dispatched_at_ms,
            signed_at_ms: t.signed_at_ms,
            closed_at_ms: t.closed_at_ms,
        },
        now,
    );
    if !reveal_caller {
        t.caller = t.caller.as_deref().map(mask_phone);
    }
    TicketView {
        ticket: t,
        sign_due: d.sign_due.map(rfc3339),
        close_due: rfc3339(d.close_due),
        light: d.light,
        history: None,
    }
}

async fn create(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    let b: CreateBody = parse_body(&body)?;
    for (field, v) in [("department", &b.department), ("text", &b.text)] {
        if v.trim().is_empty() {
            return Err(ApiError::bad(field, format!("{field}: must not be empty")));
        }
    }
    let now = Utc::now();
    if b.accepted_at > now + chrono::Duration::minutes(5) {
        return Err(ApiError::bad(
            "accepted_at",
            "accepted_at: lies in the future",
        ));
    }
    // Deadline arithmetic walks the days since acceptance; a typo like year 0201 would make every read slow.
    if b.accepted_at.year() < 2000 {
        return Err(ApiError::bad("accepted_at", "accepted_at: before 2000"));
    }
    let actor = actor(&headers);
    let input = TicketInput {
        category: b.category,
        department: b.department.trim().to_string(),
        text: b.text,
        caller: b.caller.filter(|c| !c.trim().is_empty()),
        call_id: b.call_id.filter(|c| !c.trim().is_empty()),
        accepted_at_ms: b.accepted_at.timestamp_millis(),
        source: "api".into(),
    };
    let t = s
        .store
        .create_ticket(&input, &actor, now.timestamp_millis())
        .await?;
    tracing::info!(
        ticket = %t.id,
        actor = %actor,
        caller = %t.caller.as_deref().map(mask_phone).unwrap_or_default(),
        "ticket created"
    );
    let _ = s.events.send(TicketEvent::created(&t));
    Ok((StatusCode::CREATED, Json(view(&s, t, now, false))))
}

fn parse_time(field: &str, v: &str) -> Result<i64, ApiError> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp_millis())
        .map_err(|e| ApiError::bad(field, format!("{field}: not an RFC 3339 time ({e})")))
}

/// A time bound: epoch milliseconds, or an RFC 3339 time.
fn parse_ms_or_time(field: &str, v: &str) -> Result<i64, ApiError> {
    let v = v.trim();
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(ms);
    }
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            ApiError::bad(
                field,
                format!("{field}: neither epoch milliseconds nor an RFC 3339 time ({e})"),
            )
        })
}

/// `GET /stats/transfers?from=&to=`: see [`crate::stats`] for what is counted.
async fn transfer_stats(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<TransferReport>, ApiError> {
    let mut range = TimeRange::default();
    for (k, v) in &q {
        match k.as_str() {
            "from" => range.from_ms = Some(parse_ms_or_time("from", v)?),
            "to" => range.to_ms = Some(parse_ms_or_time("to", v)?),
            other => return Err(ApiError::bad(other, format!("{other}: unknown parameter"))),
        }
    }
    if let (Some(f), Some(t)) = (range.from_ms, range.to_ms) {
        if f > t {
            return Err(ApiError::bad("to", "to: before from"));
        }
    }
    Ok(Json(s.store.transfer_stats(range).await?))
}

async fn list(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<TicketView>>, ApiError> {
    let mut f = TicketFilter::default();
    let mut light = None;
    for (k, v) in &q {
        match k.as_str() {
            "status" => {
                f.status = Some(
                    crate::Status::parse(v)
                        .ok_or_else(|| ApiError::bad("status", format!("status: unknown {v:?}")))?,
                )
            }
            "department" => f.department = Some(v.clone()),
            "light" => {
                light = Some(
                    Light::parse(v)
                        .ok_or_else(|| ApiError::bad("light", format!("light: unknown {v:?}")))?,
                )
            }
            "from" => f.accepted_from_ms = Some(parse_time("from", v)?),
            "to" => f.accepted_to_ms = Some(parse_time("to", v)?),
            "limit" => {
                f.limit = Some(
                    v.parse::<i64>()
                        .ok()
                        .filter(|n| (1..=10_000).contains(n))
                        .ok_or_else(|| ApiError::bad("limit", "limit: must be 1..=10000"))?,
                )
            }
            other => return Err(ApiError::bad(other, format!("{other}: unknown filter"))),
        }
    }
    let now = Utc::now();
    let tickets = s.store.list_tickets(&f).await?;
    let out: Vec<TicketView> = tickets
        .into_iter()
        .map(|t| view(&s, t, now, false))
        .filter(|v| light.is_none_or(|l| v.light == l))
        .collect();
    // The numbers are masked, but the request texts can name people: a list read is audited too.
    let ids: Vec<&str> = out.iter().map(|v| v.ticket.id.as_str()).collect();
    s.store
        .log_access_many(
            &actor(&headers),
            &ids,
            "list tickets",
            now.timestamp_millis(),
        )
        .await?;
    Ok(Json(out))
}

async fn read_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<TicketView>, ApiError> {
    let Some(t) = s.store.ticket(&id).await? else {
        return Err(TicketError::NotFound(id).into());
    };
    let now = Utc::now();
    let actor = actor(&headers);
    // The answer carries the caller's number: audit before revealing it.
    s.store
        .log_access(&actor, &id, "read ticket", now.timestamp_millis())
        .await?;
    let history = s.store.history(&id).await?;
    let mut v = view(&s, t, now, true);
    v.history = Some(history);
    Ok(Json(v))
}

async fn act(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<TicketView>, ApiError> {
    let action: Action = parse_body(&body)?;
    if let Some(field) = action.empty_field() {
        return Err(ApiError::bad(field, format!("{field}: must not be empty")));
    }
    let actor = actor(&headers);
    let now = Utc::now();
    let t = s
        .store
        .act(&id, &action, &actor, now.timestamp_millis())
        .await?;
    tracing::info!(ticket = %t.id, actor = %actor, action = action.name(), status = t.status.as_str(), "ticket changed");
    let _ = s.events.send(TicketEvent::changed(&t, action.name()));
    Ok(Json(view(&s, t, now, false)))
}

async fn access_log(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<crate::store::AccessEntry>>, ApiError> {
    if s.store.ticket(&id).await?.is_none() {
        return Err(TicketError::NotFound(id).into());
    }
    Ok(Json(s.store.access_log(&id).await?))
}

async fn events(State(s): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = s.events.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let ev = match rx.recv().await {
            Ok(ev) => Event::default()
                .event(ev.kind)
                .json_data(&ev)
                .unwrap_or_else(|_| Event::default().event("error")),
            // A slow subscriber missed some: tell it to re-read the list.
            Err(broadcast::error::RecvError::Lagged(n)) => {
                Event::default().event("lagged").data(n.to_string())
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(ev), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
