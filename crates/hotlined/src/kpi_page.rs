//! The KPI report page (R-25) at `/kpi`: a shell whose script reads `GET /api/stats/kpi` and
//! `GET /api/stats/transfers` for the chosen date range and draws them with Chart.js, each chart next to a table
//! of the same figures as text (`data-kpi`/`data-value`, what the browser test compares with the API). The
//! charting library is vendored (`assets/`, Chart.js 4.6.1, MIT) and served by the daemon: no internet needed.

use crate::env::CallEnv;
use crate::i18n::{labels_json, t, Lang};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use chrono::{Duration, NaiveDate, Offset, Utc};
use std::collections::HashMap;
use std::sync::Arc;

const CHART_JS: &str = include_str!("../assets/chart.umd.min.js");
const CHART_JS_LICENSE: &str = include_str!("../assets/chart.js.LICENSE.md");
const KPI_JS: &str = include_str!("../assets/kpi.js");

/// `/kpi`; the readers of the statistics (the API's own permission) guard it in `admin.rs`.
pub fn router(env: Arc<CallEnv>) -> Router {
    Router::new().route("/kpi", get(page)).with_state(env)
}

/// The vendored script, for every authenticated account (it is no data); cached for a day, its name changes
/// with its version.
pub fn assets() -> Router {
    Router::new()
        .route("/assets/chart-4.6.1.umd.min.js", get(chart_js))
        .route("/assets/chart.js.LICENSE.md", get(chart_js_license))
}

async fn chart_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
        ],
        CHART_JS,
    )
}

async fn chart_js_license() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        CHART_JS_LICENSE,
    )
}

/// HTML text and attribute values of the admin pages (this one and the wallboard).
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The API query for the dates `from..=to` (days of the center's time zone, `offset` like `+08:00`):
/// `[from 00:00, to + 1 day 00:00)`.
pub fn api_query(from: NaiveDate, to: NaiveDate, offset: &str) -> String {
    let end = to + Duration::days(1);
    let enc = offset.replace('+', "%2B");
    format!("from={from}T00:00:00{enc}&to={end}T00:00:00{enc}")
}

async fn page(
    State(env): State<Arc<CallEnv>>,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    let lang = Lang::from_query(&q);
    let tz = env.plans.live.current().time_zone();
    let now = Utc::now().with_timezone(&tz);
    let offset = {
        let secs = now.offset().fix().local_minus_utc();
        let sign = if secs < 0 { '-' } else { '+' };
        format!(
            "{sign}{:02}:{:02}",
            secs.abs() / 3600,
            secs.abs() % 3600 / 60
        )
    };
    let today = now.date_naive();
    let date = |k: &str| {
        q.get(k)
            .and_then(|v| NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").ok())
    };
    let to = date("to").unwrap_or(today);
    let from = date("from")
        .filter(|f| *f <= to)
        .unwrap_or(to - Duration::days(29));
    let query = api_query(from, to, &offset);
    let other = lang.other();
    let switch = format!("/kpi?from={from}&to={to}&lang={}", other.param());
    let l = |k| t(lang, k);
    let body = format!(
        r#"<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8">
<title>{title}</title><style>
body{{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;background:#f6f7f9;color:#222;margin:1.2em 2em}}
h1{{margin:.2em 0}} h2{{font-size:1.1em;margin:1.2em 0 .4em}} .top{{display:flex;justify-content:space-between;align-items:center}}
form{{margin:.6em 0}} input,button{{font:inherit}} table{{border-collapse:collapse;background:#fff;margin:.4em 0}}
td,th{{border:1px solid #ccc;padding:.25em .7em;text-align:right}} th{{background:#eef}} td:first-child,th:first-child{{text-align:left}}
.grid{{display:grid;grid-template-columns:1fr 1fr;gap:1em}} .box{{background:#fff;border:1px solid #ddd;padding:.6em}}
.chart{{position:relative;height:240px}} .note{{color:#666;font-size:.9em}}
</style></head>
<body data-query="{query}" data-lang="{lang_param}">
<div class="top"><h1>{title}</h1><a id="switch" href="{switch}">{switch_label}</a></div>
<form method="get" action="/kpi">{range} <label>{from_l} <input type="date" name="from" value="{from}"></label>
<label>{to_l} <input type="date" name="to" value="{to}"></label><input type="hidden" name="lang" value="{lang_param}">
<button type="submit">{apply}</button> <a id="csv" href="/api/stats/kpi?format=csv&amp;{query}">{csv}</a></form>
<p id="status" class="note">{loading}</p>
<div class="grid">
<div class="box"><h2>{summary}</h2><table id="summary"></table></div>
<div class="box"><h2>{rates}</h2><div class="chart"><canvas id="chart-rates"></canvas></div></div>
<div class="box"><h2>{departments}</h2><table id="departments"></table><div class="chart"><canvas id="chart-departments"></canvas></div></div>
<div class="box"><h2>{transfers}</h2><table id="transfers"></table><div class="chart"><canvas id="chart-transfers"></canvas></div></div>
<div class="box"><h2>{satisfaction}</h2><table id="satisfaction"></table><div class="chart"><canvas id="chart-satisfaction"></canvas></div></div>
<div class="box"><h2>{not_accepted}</h2><p class="note">{not_accepted_note}</p><table id="not-accepted"></table><div class="chart"><canvas id="chart-not-accepted"></canvas></div></div>
</div>
<script id="labels" type="application/json">{labels}</script>
<script src="/assets/chart-4.6.1.umd.min.js"></script>
<script>{script}</script>
</body></html>"#,
        html_lang = lang.html(),
        lang_param = lang.param(),
        title = l("kpi.title"),
        switch = esc(&switch),
        switch_label = l("switch"),
        range = l("kpi.range"),
        from_l = l("kpi.from"),
        to_l = l("kpi.to"),
        apply = l("kpi.apply"),
        csv = l("kpi.csv"),
        query = esc(&query),
        loading = l("kpi.loading"),
        summary = l("kpi.summary"),
        rates = l("kpi.rates"),
        departments = l("kpi.departments"),
        transfers = l("kpi.transfers"),
        satisfaction = l("kpi.satisfaction"),
        not_accepted = l("kpi.not_accepted"),
        not_accepted_note = l("kpi.not_accepted_note"),
        labels = labels_json(lang),
        script = KPI_JS,
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_is_whole_days_of_the_center() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            api_query(d("2022-01-31"), d("2022-02-28"), "+08:00"),
            "from=2022-01-31T00:00:00%2B08:00&to=2022-03-01T00:00:00%2B08:00"
        );
    }
}
