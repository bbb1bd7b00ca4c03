//! The supervisors' wallboard: one data structure (queues live and over the last 24 hours, the center's answer
//! rate, every seat with its operator and state, transfers), served as JSON at `/wallboard/data` and rendered as
//! the page `/wallboard`, whose script redraws it from the JSON every 2 s (no page reload: the big screen does
//! not flash) with two day charts from `/wallboard/history` (callers waiting, service level). zh-CN labels first,
//! English with `?lang=en` (`i18n.rs`). `/status` shows the same queues and seats.

use crate::call_quality::QualitySummary;
use crate::env::CallEnv;
use crate::i18n::{labels_json, t, Lang};
use crate::kpi_page::esc;
use crate::service_level::CHART_STEP_MS;
use crate::stats::DepartmentTransfers;
use acd::{QueueSnapshot, SeatState};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{TimeZone, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use ticket::queue_history::{LevelPoint, WaitingPoint};
use ticket::queue_stats::{Figures, Tally};

const WALLBOARD_JS: &str = include_str!("../assets/wallboard.js");

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
        .route("/wallboard/history", get(history))
        .with_state(env)
}

async fn data(State(env): State<Arc<CallEnv>>) -> Json<Board> {
    Json(board(&env).await)
}

/// The day charts: one point per step of the last 24 hours, with its time of day in the center's zone.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub step_ms: i64,
    /// The center's service-level threshold and target, for the chart's target line.
    pub threshold_ms: i64,
    pub target: f64,
    pub labels: Vec<String>,
    pub waiting: Vec<WaitingPoint>,
    pub service_level: Vec<LevelPoint>,
}

async fn history(State(env): State<Arc<CallEnv>>) -> Json<History> {
    let levels = &env.stats.levels;
    let (waiting, service_level) = levels.day_charts();
    let tz = env.plans.live.current().time_zone();
    let labels = waiting
        .iter()
        .map(|p| match Utc.timestamp_millis_opt(p.at_ms).single() {
            Some(at) => at.with_timezone(&tz).format("%H:%M").to_string(),
            None => String::new(),
        })
        .collect();
    Json(History {
        step_ms: CHART_STEP_MS,
        threshold_ms: levels.center().threshold_ms,
        target: env.cfg.acd.service_level_target,
        labels,
        waiting,
        service_level,
    })
}

/// The page for the big screen: labels in the chosen language; the figures come from the script.
async fn page(
    State(env): State<Arc<CallEnv>>,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    let lang = Lang::from_query(&q);
    // The quality line is in the page as served too (the script keeps it current).
    let quality = quality_line(
        lang,
        &env.stats.quality.summary(crate::clock::Clock::wall_ms()),
    );
    let l = |k: &'static str| t(lang, k);
    let th = |keys: &[&'static str]| -> String {
        keys.iter()
            .map(|k| format!("<th>{}</th>", esc(t(lang, k))))
            .collect()
    };
    let body = format!(
        r#"<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8">
<title>{title}</title><style>
body{{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;background:#111;color:#eee;margin:1.5em 2em}}
a{{color:#9cf}} .top{{display:flex;justify-content:space-between;align-items:center}} h1{{margin:.2em 0}}
table{{border-collapse:collapse;margin-bottom:1.5em}} td,th{{border:1px solid #444;padding:.35em .9em;text-align:right}}
th{{background:#222}} td:first-child,th:first-child{{text-align:left}}
tr.ready td{{color:#6f6}} tr.talking td,tr.ringing td{{color:#fc6}} tr.not_ready td,tr.wrap_up td,tr.resting td{{color:#f96}}
tr.logged_out td{{color:#888}} .rate{{font-size:1.8em}} .note{{color:#999;font-size:.9em}}
.charts{{display:grid;grid-template-columns:1fr 1fr;gap:1.5em;margin-bottom:1.5em}} .chart{{position:relative;height:220px}}
</style></head>
<body data-lang="{lang_param}" data-updates="0">
<div class="top"><h1>{title}</h1><a id="switch" href="/wallboard?lang={other}">{switch}</a></div>
<p class="rate">{active_l}: <b id="active">–</b> · {rate_l}: <b id="answer-rate">–</b> · {sl_l}: <b id="service-level">–</b></p>
<p id="quality" class="quality">{quality}</p>
<p>{offered_l} <b id="offered">–</b> · {answered_l} <b id="answered">–</b> · {abandoned_l} <b id="abandoned">–</b> · {callbacks_l} <b id="callbacks">–</b></p>
<div class="charts">
<div><h2>{chart_waiting}</h2><div class="chart"><canvas id="chart-waiting"></canvas></div></div>
<div><h2>{chart_sl}</h2><div class="chart"><canvas id="chart-service-level"></canvas></div></div>
</div>
<table id="queues"><thead><tr>{queue_head}</tr></thead><tbody></tbody></table>
<table id="seats"><thead><tr>{seat_head}</tr></thead><tbody></tbody></table>
<h2>{transfers_l}</h2>
<table id="transfers" class="transfers"><thead><tr>{transfer_head}</tr></thead><tbody></tbody></table>
<p class="note">{note}<a href="/wallboard/data">/wallboard/data</a>, <a href="/wallboard/history">/wallboard/history</a> (JSON). {updated_l} <span id="updated">–</span> <span id="status"></span></p>
<script id="labels" type="application/json">{labels}</script>
<script src="/assets/chart-4.6.1.umd.min.js"></script>
<script>{script}</script>
</body></html>"#,
        html_lang = lang.html(),
        lang_param = lang.param(),
        other = lang.other().param(),
        title = l("wb.title"),
        switch = l("switch"),
        active_l = l("wb.active_calls"),
        rate_l = l("wb.answer_rate"),
        sl_l = l("wb.service_level"),
        offered_l = l("wb.offered"),
        answered_l = l("wb.answered"),
        abandoned_l = l("wb.abandoned"),
        callbacks_l = l("wb.callbacks"),
        chart_waiting = l("wb.chart_waiting"),
        chart_sl = l("wb.chart_service_level"),
        queue_head = th(&[
            "wb.queue",
            "wb.waiting",
            "wb.longest_wait",
            "wb.ready",
            "wb.on_calls",
            "wb.not_ready",
            "wb.offered",
            "wb.answered",
            "wb.abandoned",
            "wb.service_level",
            "wb.answer_rate",
            "wb.asa",
            "wb.aht",
        ]),
        seat_head = th(&[
            "wb.seat",
            "wb.operator",
            "wb.state",
            "wb.reason",
            "wb.in_state",
            "wb.queues",
            "wb.tags",
        ]),
        transfers_l = l("wb.transfers"),
        transfer_head = th(&[
            "wb.department",
            "wb.attempts",
            "wb.in_target",
            "wb.fell_back",
            "wb.service_level",
        ]),
        note = l("wb.data_note"),
        updated_l = l("wb.updated"),
        quality = esc(&quality),
        labels = labels_json(lang),
        script = WALLBOARD_JS,
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(body))
}

fn mos(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into())
}

/// «通话质量（MOS 估计）：24小时平均 4.20（12 通，低于 3.6 的 1 通）· 最近：4.31 4.28».
pub fn quality_line(lang: Lang, q: &QualitySummary) -> String {
    let latest: Vec<String> = q.latest.iter().map(|c| mos(c.caller_mos)).collect();
    format!(
        "{} {} ({} {}, {} {}) · {} {}",
        t(lang, "wb.quality"),
        mos(q.mean_caller_mos),
        q.calls,
        t(lang, "wb.quality_calls"),
        q.poor_calls,
        t(lang, "wb.quality_poor"),
        t(lang, "wb.quality_latest"),
        latest.join(" "),
    )
}
