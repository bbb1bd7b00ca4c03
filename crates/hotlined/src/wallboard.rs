//! The supervisors' wallboard: one data structure (queues live and over the last 24 hours, the center's answer
//! rate, every seat with its operator and state, transfers), served as JSON at `/wallboard/data` and rendered as
//! the page `/wallboard` (refreshed every 2 s). `/status` shows the same queues and seats.

use crate::call_quality::QualitySummary;
use crate::env::CallEnv;
use crate::kpi_page::esc;
use crate::stats::DepartmentTransfers;
use acd::{QueueSnapshot, SeatState};
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use ticket::queue_stats::{Figures, Tally};

/// A queue now, and its last 24 hours from the records (`stats`).
#[derive(Debug, Clone, Serialize)]
pub struct QueueRow {
    #[serde(flatten)]
    pub live: QueueSnapshot,
    pub stats: Figures,
}

/// A seat as the supervisors see it.
#[derive(Debug, Clone, Serialize)]
pub struct SeatRow {
    pub id: String,
    pub operator: Option<String>,
    pub operator_name: Option<String>,
    /// logged_out, ready, ringing, talking, wrap_up, resting, not_ready.
    pub state: &'static str,
    /// For not_ready: `RONA` or the digit, and what it means.
    pub reason: Option<String>,
    pub reason_name: Option<String>,
    /// How long it has been in this state.
    pub in_state_s: i64,
    pub registered: bool,
    pub tags: Vec<String>,
    pub queues: Vec<String>,
    /// A not-ready or log-out asked for during the call, carried out after it.
    pub after_call: Option<acd::AfterCall>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Board {
    pub active_calls: usize,
    pub queues: Vec<QueueRow>,
    /// Each call once, from its first queue: the 24-hour answer rate R-13 asks to keep at 95%.
    pub center: Figures,
    pub seats: Vec<SeatRow>,
    pub transfers: BTreeMap<String, DepartmentTransfers>,
    /// The callers' estimated MOS (RTCP, docs/quality.md): the day's average and the latest calls.
    pub quality: QualitySummary,
}

/// Everything the wallboard shows, now.
pub async fn board(env: &CallEnv) -> Board {
    board_and_seats(env).await.0
}

/// [`board`], and the ACD's own view of every seat (`/status` shows that one).
pub async fn board_and_seats(env: &CallEnv) -> (Board, Vec<acd::Seat>) {
    let (queues, raw) = env.acd.snapshot().await.unwrap_or_default();
    let seats = raw.clone();
    let levels = &env.stats.levels;
    let report = levels.report();
    let day: BTreeMap<String, Figures> = report
        .iter()
        .flat_map(|r| {
            r.queues
                .iter()
                .map(|q| (q.queue.clone(), q.figures.clone()))
        })
        .collect();
    let now = env.clock.now_ms();
    let names: BTreeMap<&str, &str> = env
        .cfg
        .operators
        .iter()
        .map(|o| (o.id.as_str(), o.name.as_str()))
        .collect();
    let mut seats: Vec<SeatRow> = seats
        .into_iter()
        .map(|s| {
            let reason = match s.state {
                SeatState::NotReady { reason, .. } => Some(reason),
                _ => None,
            };
            let operator = s.operator.as_deref().map(str::to_string);
            SeatRow {
                operator_name: operator
                    .as_deref()
                    .and_then(|o| names.get(o))
                    .map(|n| n.to_string()),
                operator,
                id: s.id.to_string(),
                state: s.state.name(),
                reason: reason.map(acd::Reason::as_string),
                reason_name: reason.map(|r| env.cfg.acd.reason_name(r)),
                in_state_s: (now - s.since_ms).max(0) / 1000,
                registered: s.registered,
                tags: s.tags.iter().map(|t| t.to_string()).collect(),
                queues: s.queues.iter().map(|q| q.to_string()).collect(),
                after_call: s.after_call,
            }
        })
        .collect();
    seats.sort_by(|a, b| a.id.cmp(&b.id));
    let board = Board {
        active_calls: env.calls.active(),
        queues: queues
            .into_iter()
            .map(|live| {
                let stats = day
                    .get(&live.name)
                    .cloned()
                    .unwrap_or_else(|| Tally::default().figures(levels.rules(&live.name)));
                QueueRow { live, stats }
            })
            .collect(),
        center: report
            .map(|r| r.overall)
            .unwrap_or_else(|| Tally::default().figures(levels.center())),
        seats,
        transfers: env
            .stats
            .transfers
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default(),
        quality: env.stats.quality.summary(crate::clock::Clock::wall_ms()),
    };
    let mut raw = raw;
    raw.sort_by(|a, b| a.id.cmp(&b.id));
    (board, raw)
}

pub fn router(env: Arc<CallEnv>) -> Router {
    Router::new()
        .route("/wallboard", get(page))
        .route("/wallboard/data", get(data))
        .with_state(env)
}

async fn data(State(env): State<Arc<CallEnv>>) -> Json<Board> {
    Json(board(&env).await)
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "–".into())
}

fn mos(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into())
}

fn secs(ms: Option<f64>) -> String {
    ms.map(|ms| format!("{:.0}", ms / 1000.0))
        .unwrap_or_else(|| "–".into())
}

/// The page for the big screen, rendered from [`board`].
async fn page(State(env): State<Arc<CallEnv>>) -> Html<String> {
    let b = board(&env).await;
    let mut rows = String::new();
    for q in &b.queues {
        let (l, s) = (&q.live, &q.stats);
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&l.name),
            l.waiting,
            l.longest_wait_ms / 1000,
            l.seats.ready,
            l.seats.ringing + l.seats.talking,
            l.seats.not_ready,
            s.tally.offered,
            s.tally.answered,
            s.tally.abandoned,
            pct(s.service_level),
            pct(s.answer_rate),
            secs(s.asa_ms),
            secs(s.aht_ms),
        ));
    }
    let mut seat_rows = String::new();
    for s in &b.seats {
        let who = match (&s.operator, &s.operator_name) {
            (Some(id), Some(name)) if !name.is_empty() => format!("{id} {name}"),
            (Some(id), _) => id.clone(),
            _ => String::new(),
        };
        let reason = s.reason_name.clone().unwrap_or_default();
        let reg = if s.registered {
            ""
        } else {
            " (not registered)"
        };
        seat_rows.push_str(&format!(
            "<tr class=\"{state}\"><td>{}</td><td>{}</td><td>{state}{reg}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.id),
            esc(&who),
            esc(&reason),
            s.in_state_s,
            esc(&s.queues.join(", ")),
            esc(&s.tags.join(", ")),
            state = s.state,
        ));
    }
    let mut transfer_rows = String::new();
    for (department, t) in &b.transfers {
        transfer_rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(department),
            t.attempts,
            t.answered_within_target,
            t.failed,
            pct(t.service_level()),
        ));
    }
    let q = &b.quality;
    let latest: Vec<String> = q.latest.iter().map(|c| mos(c.caller_mos)).collect();
    let quality = format!(
        "<p class=\"quality\">通话质量 call quality (MOS, E-model estimate): 24 h average {} over {} calls, {} below 3.6 · latest: {}</p>",
        mos(q.mean_caller_mos),
        q.calls,
        q.poor_calls,
        latest.join(" "),
    );
    let c = &b.center;
    Html(format!(
        r#"<!doctype html><html lang="zh"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>12345 wallboard</title><style>
body{{font-family:sans-serif;background:#111;color:#eee;margin:2em}} table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #444;padding:.4em 1em;text-align:right}} th{{background:#222}}
tr.ready td{{color:#6f6}} tr.talking td,tr.ringing td{{color:#fc6}} tr.not_ready td,tr.wrap_up td,tr.resting td{{color:#f96}}
tr.logged_out td{{color:#888}} .rate{{font-size:2em}}
</style></head><body><h1>12345 — 实时监控 (active calls: {active})</h1>
<p class="rate">24 小时接通率 answer rate: {rate} · service level: {sl} · offered {offered}, answered {answered}, abandoned {abandoned}, call-backs {callbacks}</p>
{quality}
<p>Data: <a href="/wallboard/data">/wallboard/data</a> (JSON). Figures: the last 24 hours, from the call records.</p>
<table><tr><th>queue</th><th>waiting</th><th>longest wait (s)</th><th>ready</th><th>on calls</th><th>not ready</th><th>offered</th><th>answered</th><th>abandoned</th><th>service level</th><th>answer rate</th><th>ASA (s)</th><th>AHT (s)</th></tr>{rows}</table>
<table><tr><th>seat</th><th>operator</th><th>state</th><th>reason</th><th>for (s)</th><th>queues</th><th>tags</th></tr>{seat_rows}</table>
<h2>一键转接 transfers (since start; 95% within target)</h2>
<table class="transfers"><tr><th>department</th><th>attempts</th><th>answered in target</th><th>fell back</th><th>service level</th></tr>{transfer_rows}</table></body></html>"#,
        active = b.active_calls,
        rate = pct(c.answer_rate),
        sl = pct(c.service_level),
        offered = c.tally.offered,
        answered = c.tally.answered,
        abandoned = c.tally.abandoned,
        callbacks = c.tally.callbacks,
    ))
}
