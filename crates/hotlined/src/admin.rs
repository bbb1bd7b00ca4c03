//! Admin HTTP: Prometheus metrics, a JSON status, the live wallboard (`wallboard.rs`), dial plan reload,
//! and the API (tickets, seats; nested under /api). Bind it to a management address only.
//!
//! Every route needs an account (R-30; `access` crate), except `/metrics` and `/healthz` on a loopback
//! listener. What a role may do is `access::scope`; [`require`] applies it to these routes and to the seats
//! API, the ticket API to its own. HTTPS when `admin.tls_cert`/`tls_key` are set (`admin_tls`), which config
//! validation demands off loopback.

use crate::env::CallEnv;
use access::{Gate, Permission, Principal};
use anyhow::{Context, Result};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[derive(Clone)]
struct AdminState {
    env: Arc<CallEnv>,
    prom: Option<PrometheusHandle>,
}

pub async fn spawn(
    env: Arc<CallEnv>,
    tickets: Router,
    seats: Router,
    gate: Gate,
    audit: ticket::Store,
) -> Result<SocketAddr> {
    // Explicit buckets: without them histograms render as summaries.
    let prom = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".into()),
            &[0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0],
        )
        .ok()
        .and_then(|b| b.install_recorder().ok());
    let state = AdminState {
        env: env.clone(),
        prom,
    };
    let admin = &env.cfg.admin;
    let tls = match (&admin.tls_cert, &admin.tls_key) {
        (Some(c), Some(k)) => Some(crate::admin_tls::server_config(c, k)?),
        _ => None,
    };
    let guard = |perm, route: MethodRouter<AdminState>| {
        route.route_layer(middleware::from_fn_with_state(
            Guard {
                perm,
                write: None,
                audit: audit.clone(),
            },
            require,
        ))
    };
    let probes = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }));
    let guarded = Router::new()
        .route("/status", guard(Permission::ViewStatus, get(status)))
        .route(
            "/admin/reload",
            guard(Permission::ReloadDialplan, post(reload)),
        )
        .route("/admin/drain", guard(Permission::Drain, post(drain)));
    let (open, guarded) = if admin.is_loopback() {
        (probes, guarded)
    } else {
        let probes = Router::new()
            .route("/metrics", guard(Permission::ViewStatus, get(metrics)))
            .route(
                "/healthz",
                guard(Permission::ViewStatus, get(|| async { "ok\n" })),
            );
        (Router::new(), guarded.merge(probes))
    };
    let guard_all = |perm, write, router: Router| {
        router.route_layer(middleware::from_fn_with_state(
            Guard {
                perm,
                write,
                audit: audit.clone(),
            },
            require,
        ))
    };
    let wallboard = guard_all(
        Permission::ViewStatus,
        None,
        crate::wallboard::router(env.clone()),
    );
    // The KPI report reads the KPI API, so it needs the API's permission; the vendored chart script is no data.
    let kpi = guard_all(
        Permission::ReadTransferStats,
        None,
        crate::kpi_page::router(env.clone()),
    )
    .merge(crate::kpi_page::assets());
    // Reads of seats and queues are the wallboard's; changing a seat's state is a supervisor's act.
    let seats = guard_all(Permission::ViewStatus, Some(Permission::ManageSeats), seats);
    let authenticate = middleware::from_fn_with_state(gate, access::authenticate);
    let guarded = guarded
        .with_state(state.clone())
        .merge(wallboard)
        .merge(kpi)
        .route_layer(authenticate.clone());
    let api = tickets.merge(seats.route_layer(authenticate));
    let app = open.with_state(state).merge(guarded).nest("/api", api);
    let listener = tokio::net::TcpListener::bind(admin.listen)
        .await
        .with_context(|| format!("binding admin HTTP on {}", admin.listen))?;
    let addr = listener.local_addr()?;
    match tls {
        Some(tls) => {
            tokio::spawn(crate::admin_tls::serve(listener, tls, app));
        }
        None => {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "admin HTTP stopped");
                }
            });
        }
    }
    Ok(addr)
}

/// What a guarded route needs, and where a refusal is written.
#[derive(Clone)]
struct Guard {
    perm: Permission,
    /// What a request other than GET/HEAD needs instead, when it differs.
    write: Option<Permission>,
    audit: ticket::Store,
}

/// 403 unless the authenticated account's role has the route's permission; the refusal goes into the access log
/// under that account (like the ticket API's), `ticket_id` empty.
async fn require(State(g): State<Guard>, p: Principal, req: Request, next: Next) -> Response {
    let read = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let perm = if read {
        g.perm
    } else {
        g.write.unwrap_or(g.perm)
    };
    if p.may_some(perm) {
        return next.run(req).await;
    }
    let what = format!("{} {}", req.method(), req.uri().path());
    tracing::warn!(account = %p.account, role = p.role.as_str(), %what, "admin request refused");
    let now = chrono::Utc::now().timestamp_millis();
    if let Err(e) = g.audit.log_refused(&p.account, "", &what, now).await {
        tracing::error!(error = %e, "access log not written");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "access log unavailable\n",
        )
            .into_response();
    }
    access::forbidden(&p, &what)
}

async fn metrics(State(st): State<AdminState>) -> impl IntoResponse {
    match &st.prom {
        Some(p) => (StatusCode::OK, p.render()),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed\n".to_string(),
        ),
    }
}

async fn status(State(st): State<AdminState>) -> impl IntoResponse {
    let s = &st.env;
    let sip = s.endpoint.stats();
    let media = s.media.stats();
    let plan = s.plans.live.current();
    let (board, seats) = crate::wallboard::board_and_seats(s).await;
    let (bindings, locked_out) = s.seats.registrar_figures();
    Json(serde_json::json!({
        "uptime_s": s.stats.started_at.elapsed().as_secs(),
        "calls": {
            "active": s.calls.active(),
            "started": s.stats.calls_started.load(Ordering::Relaxed),
            "ended": s.stats.calls_ended.load(Ordering::Relaxed),
            "refused_overload": s.stats.refused_overload.load(Ordering::Relaxed),
            "refused_acl": s.stats.refused_acl.load(Ordering::Relaxed),
        },
        "sip": {
            "received": sip.received,
            "parse_errors": sip.parse_errors,
            "parse_errors_dropped": sip.parse_errors_dropped,
            "sent": sip.sent,
            "retransmissions": sip.retransmissions,
            "dropped_incoming": sip.dropped_incoming,
            "absorbed_requests": sip.absorbed_requests,
            "flood_dropped": sip.flood_dropped,
            "flood_bans": sip.flood_bans,
            "live_client_transactions": sip.live_client_transactions,
            "live_server_transactions": sip.live_server_transactions,
        },
        "registrar": { "bindings": bindings, "locked_out": locked_out },
        "media": {
            "active_legs": media.active_legs,
            "conferences": media.conferences,
            "packets_in": media.packets_in,
            "packets_out": media.packets_out,
            "late_ticks": media.late_ticks,
        },
        "records": {
            "spilled": s.records.spilled(),
            "lost": s.records.lost(),
            "spool_errors": s.records.spool_errors(),
        },
        "draining": s.admission.draining(),
        "dialplan": {
            "name": plan.name(),
            "numbers": plan.len(),
            "reloads": s.plans.reloads.load(Ordering::Relaxed),
            "refused_reloads": s.plans.reload_errors.load(Ordering::Relaxed),
        },
        "queues": board.queues,
        "center": board.center,
        "seats": seats,
        "transfers": board.transfers,
        "gateways": s.trunks.pool.lock().map(|p| p.status()).unwrap_or_default(),
    }))
}

async fn reload(State(st): State<AdminState>) -> impl IntoResponse {
    match st.env.plans.reload() {
        Ok(msg) => (StatusCode::OK, msg + "\n"),
        Err(msg) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("plan refused, the old one keeps serving:\n{msg}\n"),
        ),
    }
}

/// Stop taking calls; the main loop exits once the last call has ended (`daemon::run`).
async fn drain(State(st): State<AdminState>) -> impl IntoResponse {
    let first = st.env.admission.start_draining();
    let active = st.env.calls.active();
    if first {
        tracing::warn!(
            active,
            "draining (admin API): new calls get 503; exiting when the last ends"
        );
    }
    (
        StatusCode::OK,
        format!("draining: {active} calls still up; the daemon exits when they have ended\n"),
    )
}

/// `hotlined reload`: POST /admin/reload with a plain blocking HTTP/1.0 request (no client crate
/// needed for one request; plain HTTP, so a loopback admin address). `authorization` is the header's value.
pub fn post_reload(admin: &str, authorization: Option<&str>) -> Result<String> {
    post_admin(admin, "/admin/reload", authorization)
}

/// POST `path` on the admin port (plain HTTP/1.0, a loopback address); the body of a 200, else an error.
pub fn post_admin(admin: &str, path: &str, authorization: Option<&str>) -> Result<String> {
    let mut stream = std::net::TcpStream::connect(admin)
        .with_context(|| format!("connecting to the admin API at {admin}"))?;
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: {admin}\r\n{auth}Content-Length: 0\r\n\r\n"
    )?;
    let mut resp = String::new();
    stream.read_to_string(&mut resp)?;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    if head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200") {
        Ok(body.trim_end().to_string())
    } else {
        anyhow::bail!("{}", body.trim_end())
    }
}
