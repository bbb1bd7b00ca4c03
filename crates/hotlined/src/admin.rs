//! Admin HTTP: Prometheus metrics, a JSON status, the live wallboard, dial plan reload, and the ticket
//! API (nested under /api). Bind it to a management address only.

use crate::env::CallEnv;
use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
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
        .route("/wallboard", get(wallboard))
        .route("/admin/reload", post(reload))
        .with_state(state)
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
    let (queues, seats) = s.acd.snapshot().await.unwrap_or_default();
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
        "queues": queues,
        "seats": seats,
        "transfers": s.stats.transfers.lock().map(|t| t.clone()).unwrap_or_default(),
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

/// A page for the supervisors' big screen: queues, seats and the service level, refreshed every 2 s.
async fn wallboard(State(st): State<AdminState>) -> impl IntoResponse {
    let (queues, seats) = st.env.acd.snapshot().await.unwrap_or_default();
    let mut rows = String::new();
    for q in &queues {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            html_escape(&q.name),
            q.waiting,
            q.longest_wait_ms / 1000,
            q.seats.ready,
            q.seats.ringing + q.seats.talking,
        ));
    }
    let mut transfer_rows = String::new();
    let board = st
        .env
        .stats
        .transfers
        .lock()
        .map(|t| t.clone())
        .unwrap_or_default();
    for (department, t) in &board {
        let sl = t
            .service_level()
            .map(|v| format!("{:.1}%", v * 100.0))
            .unwrap_or_else(|| "–".into());
        transfer_rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{sl}</td></tr>",
            html_escape(department),
            t.attempts,
            t.answered_within_target,
            t.failed,
        ));
    }
    let mut seat_rows = String::new();
    for s in &seats {
        let state = serde_json::to_value(s.state)
            .ok()
            .and_then(|v| v.get("state").and_then(|x| x.as_str()).map(str::to_string))
            .unwrap_or_default();
        seat_rows.push_str(&format!(
            "<tr class=\"{state}\"><td>{}</td><td>{state}</td><td>{}</td></tr>",
            html_escape(&s.id),
            html_escape(&s.queues.join(", "))
        ));
    }
    Html(format!(
        r#"<!doctype html><html lang="zh"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>12345 wallboard</title><style>
body{{font-family:sans-serif;background:#111;color:#eee;margin:2em}} table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #444;padding:.4em 1em;text-align:right}} th{{background:#222}}
tr.available td{{color:#6f6}} tr.busy td,tr.offered td{{color:#fc6}} tr.offline td{{color:#888}}
</style></head><body><h1>12345 — 实时监控 (active calls: {active})</h1>
<table><tr><th>queue</th><th>waiting</th><th>longest wait (s)</th><th>seats free</th><th>seats busy</th></tr>{rows}</table>
<table><tr><th>seat</th><th>state</th><th>queues</th></tr>{seat_rows}</table>
<h2>一键转接 transfers (since start; 95% within target)</h2>
<table class="transfers"><tr><th>department</th><th>attempts</th><th>answered in target</th><th>fell back</th><th>service level</th></tr>{transfer_rows}</table></body></html>"#,
        active = st.env.calls.active(),
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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
