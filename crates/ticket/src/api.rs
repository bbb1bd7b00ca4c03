//! HTTP API (axum, JSON). The daemon nests [`router`] under `/api`; every route needs an account (HTTP Basic or a
//! Bearer token, see the `access` crate). The actor of every history and access-log row is that account, never a
//! header the client sends; what each role may do is `access::scope` (docs/access.md), applied in [`authorize`].
//!
//! | method | path | |
//! |---|---|---|
//! | POST | /tickets | open a ticket: `{accepted_at, category, department, text, caller?, call_id?, matter?}` → 201 with `phone` (`number`, `query_code`); a repeat (with `matter`) merged into an open ticket → 200 with `repeat` |
//! | GET | /tickets?status=&department=&light=&from=&to=&limit= | list (caller masked); logged in the access log |
//! | GET | /tickets/{id} | one ticket with history, `sign_due`, `close_due`, `light`, `phone` (`number`, `query_code` for the phone self-query); logged in the access log |
//! | POST | /tickets/{id}/actions | `{"action": "dispatch", "department": "…"}` etc.; 409 when not allowed now |
//! | GET | /tickets/{id}/access-log | who read (or was refused) this ticket's personal data |
//! | GET | /access-log?actor=&ticket=&denied=&from=&to=&limit= | the whole access log (auditors) |
//! | GET | /tickets/events | server-sent events: `created` / `changed` tickets (no personal data) |
//! | GET | /stats/transfers?from=&to= | transfer service level over attempts started in `[from, to)`; epoch ms or RFC 3339 |
//! | GET | /stats/kpi?from=&to=&format= | KPIs (R-25, [`crate::kpi`]) over `[from, to)`; `format=csv` for the export |

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use access::{Permission, Principal, Scope};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::broadcast;

use crate::deadline::{deadlines, DeadlineInput, Light};
use crate::mask::mask_phone;
use crate::model::{Action, Category};
use crate::stats::{TimeRange, TransferReport};
use crate::store::{AccessEntry, AccessFilter, HistoryEntry, Ticket, TicketFilter, TicketInput};
use crate::{Shared, TicketError, TicketEvent};

type AppState = Arc<Shared>;

pub(crate) fn router(shared: Arc<Shared>, gate: access::Gate) -> Router {
    Router::new()
        .route("/tickets", post(create).get(list))
        .route("/tickets/events", get(events))
        .route("/tickets/{id}", get(read_one))
        .route("/tickets/{id}/actions", post(act))
        .route("/tickets/{id}/access-log", get(access_log))
        .route("/access-log", get(access_log_all))
        .route("/stats/transfers", get(transfer_stats))
        .route("/stats/kpi", get(kpi_stats))
        .layer(middleware::from_fn_with_state(gate, access::authenticate))
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
            TicketError::Forbidden(_) => (StatusCode::FORBIDDEN, e.to_string()),
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

/// The one place the API applies the role matrix: `Ok` when `p` may do `perm` to something of `department`
/// (`None`: to anything at all); otherwise the refusal goes into the access log under `p`'s account (`ticket_id`
/// `""` when not about one ticket) and the answer is 403.
async fn authorize(
    s: &Shared,
    p: &Principal,
    perm: Permission,
    department: Option<&str>,
    ticket_id: &str,
    what: &str,
) -> Result<(), ApiError> {
    let ok = match department {
        Some(d) => p.may(perm, d),
        None => p.may_some(perm),
    };
    if ok {
        return Ok(());
    }
    Err(refuse(s, p, ticket_id, what).await)
}

/// Log a refused attempt and make its 403 (a 500 when the log cannot be written: no unaudited refusal).
async fn refuse(s: &Shared, p: &Principal, ticket_id: &str, what: &str) -> ApiError {
    tracing::warn!(account = %p.account, role = p.role.as_str(), ticket = ticket_id, what, "refused");
    if let Err(e) = s
        .store
        .log_refused(&p.account, ticket_id, what, Utc::now().timestamp_millis())
        .await
    {
        return e.into();
    }
    ApiError {
        status: StatusCode::FORBIDDEN,
        message: format!("account {} ({}) may not {what}", p.account, p.role.as_str()),
        field: None,
    }
}

/// Which step of the matrix an action is: the department's own work, or the center's.
fn action_permission(a: &Action) -> Permission {
    match a {
        Action::Sign {}
        | Action::Handle {}
        | Action::Reply { .. }
        | Action::Return { .. }
        | Action::RequestExtension { .. } => Permission::ActAsDepartment,
        Action::Dispatch { .. }
        | Action::Close {}
        | Action::Supervise { .. }
        | Action::Reassign { .. }
        | Action::CallBack { .. }
        | Action::Evaluate { .. }
        | Action::NotAccept { .. }
        | Action::AcceptReturn { .. }
        | Action::RefuseReturn { .. }
        | Action::ApproveExtension {}
        | Action::RefuseExtension { .. }
        | Action::Rehandle { .. } => Permission::ActAsCenter,
    }
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
    /// Address and/or keywords of the matter: with a caller, a repeat of an open request is merged into its
    /// ticket (R-27, `[tickets.repeats]`) and answered 200 with `repeat`, not 201.
    #[serde(default)]
    matter: Option<String>,
}

/// How a request with a `matter` was taken.
#[derive(Debug, Serialize)]
struct RepeatView {
    /// Merged into this (existing) ticket.
    merged: bool,
    /// Requests the ticket stands for, this one included (1 for a new ticket).
    requests: u64,
    /// On the supervision list for unreasonable repeats.
    flagged: bool,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat: Option<RepeatView>,
    /// The short number a caller keys for the phone self-query, and the query code printed with it (R-28,
    /// on a new ticket and on a single ticket read.
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<crate::store::TicketNumber>,
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
            extension_days: t.lifecycle.extension_days,
            restarted_at_ms: t.lifecycle.reopened_at_ms,
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
        repeat: None,
        phone: None,
    }
}

async fn create(
    State(s): State<AppState>,
    p: Principal,
    body: Bytes,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    authorize(&s, &p, Permission::CreateTicket, None, "", "open tickets").await?;
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
    let actor = p.account;
    let input = TicketInput {
        category: b.category,
        department: b.department.trim().to_string(),
        text: b.text,
        caller: b.caller.filter(|c| !c.trim().is_empty()),
        call_id: b.call_id.filter(|c| !c.trim().is_empty()),
        accepted_at_ms: b.accepted_at.timestamp_millis(),
        source: "api".into(),
    };
    if let Some(matter) = b.matter.filter(|m| !m.trim().is_empty()) {
        use crate::store::{AcceptedRequest, RequestInput};
        let req = RequestInput {
            ticket: input,
            matter,
        };
        let got = s
            .store
            .accept_request(&req, &s.cfg.repeats, &actor, now.timestamp_millis())
            .await?;
        let (status, merged, requests) = match &got {
            AcceptedRequest::New { ticket, .. } => {
                let _ = s.events.send(TicketEvent::created(ticket));
                (StatusCode::CREATED, false, 1)
            }
            AcceptedRequest::Merged {
                ticket, requests, ..
            } => {
                let _ = s.events.send(TicketEvent::changed(ticket, "merge_repeat"));
                (StatusCode::OK, true, *requests)
            }
        };
        let flagged = got.flagged();
        let t = got.ticket().clone();
        tracing::info!(ticket = %t.id, actor = %actor, merged, flagged, "request taken");
        let mut v = view(&s, t, now, false);
        v.phone = Some(s.store.ticket_number(&v.ticket.id).await?);
        v.repeat = Some(RepeatView {
            merged,
            requests,
            flagged,
        });
        return Ok((status, Json(v)));
    }
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
    let mut v = view(&s, t, now, false);
    v.phone = Some(s.store.ticket_number(&v.ticket.id).await?);
    Ok((StatusCode::CREATED, Json(v)))
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
    p: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<TransferReport>, ApiError> {
    authorize(
        &s,
        &p,
        Permission::ReadTransferStats,
        None,
        "",
        "read transfer statistics",
    )
    .await?;
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

/// KPIs for the report page and its CSV export. The same readers as the transfer statistics (aggregates, no
/// personal data).
async fn kpi_stats(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    authorize(&s, &p, Permission::ReadTransferStats, None, "", "read KPIs").await?;
    let mut range = TimeRange::default();
    let mut csv = false;
    for (k, v) in &q {
        match k.as_str() {
            "from" => range.from_ms = Some(parse_ms_or_time("from", v)?),
            "to" => range.to_ms = Some(parse_ms_or_time("to", v)?),
            "format" => match v.as_str() {
                "json" => csv = false,
                "csv" => csv = true,
                _ => return Err(ApiError::bad("format", "format: json or csv")),
            },
            other => return Err(ApiError::bad(other, format!("{other}: unknown parameter"))),
        }
    }
    if let (Some(f), Some(t)) = (range.from_ms, range.to_ms) {
        if f > t {
            return Err(ApiError::bad("to", "to: before from"));
        }
    }
    let now = Utc::now().timestamp_millis();
    let report = s
        .store
        .kpi(range, &s.cfg.deadlines, s.clock.as_ref(), now)
        .await?;
    Ok(if csv {
        (
            [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            report.to_csv(),
        )
            .into_response()
    } else {
        Json(report).into_response()
    })
}

async fn list(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<TicketView>>, ApiError> {
    authorize(&s, &p, Permission::ReadTickets, None, "", "list tickets").await?;
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
    // A department account lists its own department's tickets; asking for another's is a refused attempt.
    if p.scope(Permission::ReadTickets) == Scope::OwnDepartment {
        let own = p.department.clone().unwrap_or_default();
        match &f.department {
            Some(d) if *d != own => {
                return Err(refuse(&s, &p, "", &format!("list tickets of department {d}")).await);
            }
            _ => f.department = Some(own),
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
        .log_access_many(&p.account, &ids, "list tickets", now.timestamp_millis())
        .await?;
    Ok(Json(out))
}

async fn read_one(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<TicketView>, ApiError> {
    authorize(&s, &p, Permission::ReadTickets, None, &id, "read ticket").await?;
    let Some(t) = s.store.ticket(&id).await? else {
        return Err(TicketError::NotFound(id).into());
    };
    authorize(
        &s,
        &p,
        Permission::ReadTickets,
        Some(&t.department),
        &id,
        "read ticket",
    )
    .await?;
    let now = Utc::now();
    // The answer carries the caller's number: audit before revealing it.
    s.store
        .log_access(&p.account, &id, "read ticket", now.timestamp_millis())
        .await?;
    let history = s.store.history(&id).await?;
    let mut v = view(&s, t, now, true);
    v.history = Some(history);
    v.phone = Some(s.store.ticket_number(&id).await?);
    Ok(Json(v))
}

async fn act(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<TicketView>, ApiError> {
    let action: Action = parse_body(&body)?;
    if let Some(field) = action.empty_field() {
        return Err(ApiError::bad(field, format!("{field}: must not be empty")));
    }
    let perm = action_permission(&action);
    let what = format!("{} ticket", action.name());
    authorize(&s, &p, perm, None, &id, &what).await?;
    let now = Utc::now();
    // The department is checked on the row the action changes, inside its transaction.
    let t = match s
        .store
        .act_checked(&id, &action, &p.account, now.timestamp_millis(), &|t| {
            p.may(perm, &t.department)
        })
        .await
    {
        Err(TicketError::Forbidden(_)) => return Err(refuse(&s, &p, &id, &what).await),
        other => other?,
    };
    let actor = &p.account;
    tracing::info!(ticket = %t.id, actor = %actor, action = action.name(), status = t.status.as_str(), "ticket changed");
    let _ = s.events.send(TicketEvent::changed(&t, action.name()));
    Ok(Json(view(&s, t, now, false)))
}

async fn access_log(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<AccessEntry>>, ApiError> {
    authorize(
        &s,
        &p,
        Permission::ReadAccessLog,
        None,
        &id,
        "read the access log",
    )
    .await?;
    if s.store.ticket(&id).await?.is_none() {
        return Err(TicketError::NotFound(id).into());
    }
    Ok(Json(s.store.access_log(&id).await?))
}

/// `GET /access-log?actor=&ticket=&denied=&from=&to=&limit=`: the auditors' view, oldest first.
async fn access_log_all(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<AccessEntry>>, ApiError> {
    authorize(
        &s,
        &p,
        Permission::ReadAccessLog,
        None,
        "",
        "read the access log",
    )
    .await?;
    let mut f = AccessFilter::default();
    for (k, v) in &q {
        match k.as_str() {
            "actor" => f.actor = Some(v.clone()),
            "ticket" => f.ticket_id = Some(v.clone()),
            "denied" => {
                f.denied = Some(match v.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(ApiError::bad("denied", "denied: true or false")),
                })
            }
            "from" => f.from_ms = Some(parse_ms_or_time("from", v)?),
            "to" => f.to_ms = Some(parse_ms_or_time("to", v)?),
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
    Ok(Json(s.store.access_log_query(&f).await?))
}

async fn events(
    State(s): State<AppState>,
    p: Principal,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    authorize(&s, &p, Permission::WatchTickets, None, "", "watch tickets").await?;
    // A department account hears of its own department's tickets only.
    let only = match p.scope(Permission::WatchTickets) {
        Scope::OwnDepartment => Some(p.department.clone().unwrap_or_default()),
        _ => None,
    };
    let rx = s.events.subscribe();
    let stream = futures_util::stream::unfold((rx, only), |(mut rx, only)| async move {
        let ev = loop {
            match rx.recv().await {
                Ok(ev) if only.as_ref().is_some_and(|d| *d != ev.department) => continue,
                other => break other,
            }
        };
        let ev = match ev {
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
        Some((Ok(ev), (rx, only)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
