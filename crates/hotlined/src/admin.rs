//! Admin HTTP: Prometheus metrics, a JSON status, the live wallboard (`wallboard.rs`), dial plan reload,
//! and the API (tickets, seats; nested under /api). Bind it to a management address only.

use crate::env::CallEnv;
use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
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

pub async fn spawn(env: Arc<CallEnv>, tickets: Router) -> Result<SocketAddr> {
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
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/status", get(status))
        .route("/admin/reload", post(reload))
        .with_state(state)
        .merge(crate::wallboard::router(env.clone()))
        .nest("/api", tickets);
    let listener = tokio::net::TcpListener::bind(env.cfg.admin.listen)
        .await
        .with_context(|| format!("binding admin HTTP on {}", env.cfg.admin.listen))?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "admin HTTP stopped");
        }
    });
    Ok(addr)
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
            "sent": sip.sent,
            "retransmissions": sip.retransmissions,
            "dropped_incoming": sip.dropped_incoming,
            "absorbed_requests": sip.absorbed_requests,
            "live_client_transactions": sip.live_client_transactions,
            "live_server_transactions": sip.live_server_transactions,
        },
        "media": {
            "active_legs": media.active_legs,
            "packets_in": media.packets_in,
            "packets_out": media.packets_out,
            "late_ticks": media.late_ticks,
        },
        "records": {
            "spilled": s.records.spilled(),
            "lost": s.records.lost(),
            "spool_errors": s.records.spool_errors(),
        },
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

/// `hotlined reload`: POST /admin/reload with a plain blocking HTTP/1.0 request (no client crate
/// needed for one request).
pub fn post_reload(admin: &str) -> Result<String> {
    let mut stream = std::net::TcpStream::connect(admin)
        .with_context(|| format!("connecting to the admin API at {admin}"))?;
    write!(
        stream,
        "POST /admin/reload HTTP/1.0\r\nHost: {admin}\r\nContent-Length: 0\r\n\r\n"
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
