//! The KPI report page in a real headless browser (Debian `chromium`): the page the daemon serves
//! draws its figures from the KPI API with the vendored Chart.js, and every figure it renders as text equals
//! the API's, in Chinese by default and in English with `?lang=en`.
//!
//! Chromium is a peer like SIPp: CI installs it (`.ci/run`); a machine without it fails here with the
//! package to install, unless `HOTLINE_SKIP_BROWSER=1`.

mod support;

use serde_json::Value;
use support::browser::{attr, chromium, rendered, unescape};
use support::*;

/// Every rendered figure: (`data-kpi`, `data-value`), in page order (the elements, not the script's text).
fn figures(dom: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = dom.split("<script").next().unwrap_or(dom);
    while let Some(i) = rest.find("data-kpi=\"") {
        rest = &rest[i + 10..];
        let Some(k_end) = rest.find('"') else { break };
        let key = unescape(&rest[..k_end]);
        let Some(v) = rest.find("data-value=\"") else {
            break;
        };
        let after = &rest[v + 12..];
        let Some(v_end) = after.find('"') else { break };
        out.push((key, unescape(&after[..v_end])));
        rest = after;
    }
    out
}

fn path<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(v, |v, k| v.get(k))
}

fn by_department<'a>(list: &'a Value, dept: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|d| d["department"].as_str() == Some(dept))
}

/// What the API says for one of the page's figure keys. `None`: the page shows a figure the API has not.
fn api_value(kpi: &Value, transfers: &Value, key: &str) -> Option<Value> {
    if let Some(rest) = key.strip_prefix("dept:") {
        let (dept, p) = rest.rsplit_once(':')?;
        return path(by_department(&kpi["departments"], dept)?, p).cloned();
    }
    if let Some(rest) = key.strip_prefix("transfer:") {
        let (dept, p) = rest.rsplit_once(':')?;
        let o = if dept == "*" {
            &transfers["overall"]
        } else {
            by_department(&transfers["departments"], dept)?
        };
        return path(o, p).cloned();
    }
    if let Some(reason) = key.strip_prefix("not_accepted:") {
        return kpi["not_accepted"]["by_reason"].get(reason).cloned();
    }
    // Sums the page derives from a satisfaction block: good = satisfied + basic, rated = good + unsatisfied.
    for (suffix, parts) in [
        (".good", &["satisfied", "basic"][..]),
        (".rated", &["satisfied", "basic", "unsatisfied"][..]),
    ] {
        if let Some(block) = key.strip_suffix(suffix) {
            let b = path(kpi, block)?;
            let n: Option<u64> = parts.iter().map(|p| b[*p].as_u64()).sum();
            return n.map(Value::from);
        }
    }
    path(kpi, key).cloned()
}

fn same(api: &Value, shown: &str) -> bool {
    match api {
        Value::Null => shown.is_empty(),
        Value::Number(n) => shown
            .parse::<f64>()
            .ok()
            .zip(n.as_f64())
            .is_some_and(|(a, b)| (a - b).abs() < 1e-9),
        _ => false,
    }
}

fn post_ticket(d: &Daemon, department: &str, caller: &str) -> String {
    let body = serde_json::json!({
        "accepted_at": chrono::Utc::now().to_rfc3339(),
        "category": "complaint",
        "department": department,
        "text": "路灯不亮",
        "caller": caller,
    });
    let (code, resp) = d.api_post("/api/tickets", &body.to_string()).unwrap();
    assert_eq!(code, 201, "{resp}");
    let v: Value = serde_json::from_str(&resp).unwrap();
    v["id"].as_str().unwrap().to_string()
}

fn act(d: &Daemon, id: &str, action: Value) {
    let (code, resp) = d
        .api_post(&format!("/api/tickets/{id}/actions"), &action.to_string())
        .unwrap();
    assert_eq!(code, 200, "{action}: {resp}");
}

#[test]
fn the_kpi_page_renders_the_apis_figures_in_chinese_and_in_english() {
    let Some(browser) = chromium() else { return };
    let d = Daemon::start(Options::default());

    // Figures that are not all zero: four tickets in two departments, one through the whole chain to a
    // satisfied call-back, one not accepted.
    let done = post_ticket(&d, "市水务局", "13800000001");
    for step in [
        serde_json::json!({"action": "dispatch", "department": "市水务局"}),
        serde_json::json!({"action": "sign"}),
        serde_json::json!({"action": "handle"}),
        serde_json::json!({"action": "reply", "text": "已修复"}),
        serde_json::json!({"action": "close"}),
        serde_json::json!({"action": "call_back", "reached": true}),
        serde_json::json!({"action": "evaluate", "satisfaction": "satisfied"}),
    ] {
        act(&d, &done, step);
    }
    let refused = post_ticket(&d, "市水务局", "13800000002");
    act(
        &d,
        &refused,
        serde_json::json!({"action": "not_accept", "reason": "litigation"}),
    );
    post_ticket(&d, "市住建局", "13800000003");
    post_ticket(&d, "市住建局", "13800000004");

    let zh = rendered(browser, &d, "/kpi", 10_000);
    assert_eq!(attr(&zh, "lang").as_deref(), Some("zh-CN"));
    assert!(zh.contains("12345 绩效报表"), "Chinese title missing");
    assert!(zh.contains("按时办结率"), "Chinese labels missing");
    let status = zh
        .split("id=\"status\"")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or("");
    assert!(
        !status.contains("失败") && !status.contains("failed"),
        "the page's script failed: {status}"
    );
    let drawn = zh.matches("data-drawn=\"1\"").count();
    assert_eq!(drawn, zh.matches("<canvas").count(), "every chart drawn");
    assert!(drawn >= 5, "{drawn} charts");

    // The same range the page asked the API for.
    let query = attr(&zh, "data-query").expect("the page's API query");
    let api = |p: &str| -> Value {
        let (code, body) = d.api_get(&format!("{p}?{query}")).unwrap();
        assert_eq!(code, 200, "{p}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    let kpi = api("/api/stats/kpi");
    let transfers = api("/api/stats/transfers");
    // The not-accepted ticket counts apart from the accepted ones.
    assert_eq!(kpi["tickets"], 3, "{kpi}");
    assert_eq!(kpi["not_accepted"]["total"], 1, "{kpi}");

    let shown = figures(&zh);
    assert!(shown.len() >= 30, "only {} figures rendered", shown.len());
    for (key, value) in &shown {
        let want = api_value(&kpi, &transfers, key)
            .unwrap_or_else(|| panic!("the page shows {key}={value:?}, which the API has not"));
        assert!(same(&want, value), "{key}: page {value:?}, API {want}");
    }
    let keys: Vec<&str> = shown.iter().map(|(k, _)| k.as_str()).collect();
    for k in [
        "tickets",
        "on_time.rate",
        "satisfaction_call_back.rate",
        "not_accepted.total",
        "not_accepted:litigation",
        "dept:市水务局:tickets",
        "dept:市住建局:tickets",
    ] {
        assert!(keys.contains(&k), "{k} not on the page");
    }
    let value_of = |k: &str| shown.iter().find(|(key, _)| key == k).unwrap().1.clone();
    assert_eq!(value_of("tickets"), "3");
    assert_eq!(value_of("on_time.rate"), "1");
    assert_eq!(value_of("not_accepted:litigation"), "1");
    assert_eq!(value_of("dept:市住建局:tickets"), "2");

    // English on request, the same figures.
    let en = rendered(browser, &d, "/kpi?lang=en", 10_000);
    assert_eq!(attr(&en, "lang").as_deref(), Some("en"));
    assert!(en.contains("12345 KPI report"));
    assert!(
        !en.contains("按时办结率"),
        "a Chinese label on the English page"
    );
    assert_eq!(figures(&en), shown);

    // The CSV export the page links to.
    let (code, csv) = d
        .api_get(&format!("/api/stats/kpi?format=csv&{query}"))
        .unwrap();
    assert_eq!(code, 200);
    assert!(csv.lines().count() > 1, "{csv}");
}
