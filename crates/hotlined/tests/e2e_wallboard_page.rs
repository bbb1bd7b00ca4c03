//! The supervisors' wallboard in a real headless browser (Debian `chromium`): Chinese by default and English
//! with `?lang=en`; its script keeps the figures live without reloading the page (no meta refresh, several
//! redraws within seconds), and its two day charts — callers waiting and the service level — show what the
//! daemon's `/wallboard/history` says: a SIPp caller waiting in the queue is on the waiting chart, and once a
//! seat answered it its call is on the service-level chart.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::browser::{attr_of, chromium, rendered};
use support::*;

fn json(d: &Daemon, path: &str) -> Value {
    let (code, body) = d.api_get(path).expect(path);
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).expect(path)
}

fn waiting(board: &Value) -> u64 {
    board["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| q["waiting"].as_u64().unwrap_or(0))
        .sum()
}

/// The `data-value` of the cell `field` in the table row whose tag contains `row`.
fn cell(dom: &str, row: &str, field: &str) -> Option<String> {
    let at = dom.find(row)?;
    let rest = &dom[at..dom[at..].find("</tr>").map_or(dom.len(), |e| at + e)];
    attr_of(rest, &format!("data-field=\"{field}\""), "data-value")
}

#[test]
fn the_wallboard_is_live_in_chinese_and_english_with_day_charts_of_waiting_callers_and_service_level(
) {
    let Some(browser) = chromium() else { return };
    let d = Daemon::start(Options::default());

    // A caller waits: no seat is registered yet.
    let caller_rtp = RtpPeer::new();
    let mut caller = dial(&d, "caller.xml", "12345", caller_rtp.port(), 1000);
    wait_for(
        Duration::from_secs(20),
        "a caller waiting in the queue",
        || waiting(&json(&d, "/wallboard/data")) == 1,
    );
    let board = json(&d, "/wallboard/data");
    let queue = board["queues"]
        .as_array()
        .and_then(|qs| qs.iter().find(|q| q["waiting"] == 1))
        .and_then(|q| q["name"].as_str())
        .expect("the caller's queue")
        .to_string();

    let zh = rendered(browser, &d, "/wallboard", 7_000);
    assert_eq!(attr_of(&zh, "<html", "lang").as_deref(), Some("zh-CN"));
    assert!(zh.contains("12345 实时监控"), "Chinese title missing");
    for label in [
        "排队",
        "服务水平",
        "排队人数（最近24小时）",
        "座席",
        "话务员",
    ] {
        assert!(zh.contains(label), "Chinese label {label} missing");
    }
    assert!(
        !zh.contains("http-equiv=\"refresh\""),
        "the page must not reload itself"
    );
    // Live: the script redrew the figures every 2 s of the 7 s it ran, without a reload.
    let updates: u32 = attr_of(&zh, "<body", "data-updates")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        updates >= 3,
        "the figures were drawn {updates} times in 7 s"
    );
    let status = zh
        .split("id=\"status\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or("");
    assert!(status.is_empty(), "the page lost the data: {status}");
    let row = format!("data-queue=\"{queue}\"");
    assert_eq!(
        cell(&zh, &row, "waiting").as_deref(),
        Some("1"),
        "queue row: {zh}"
    );
    // The waiting chart: one point per 15 minutes of the day, the current one showing our caller.
    let history = json(&d, "/wallboard/history");
    let points = history["waiting"].as_array().map_or(0, Vec::len);
    assert_eq!(points, 96);
    assert_eq!(history["labels"].as_array().map_or(0, Vec::len), 96);
    let marker = "id=\"chart-waiting\"";
    assert_eq!(
        attr_of(&zh, marker, "data-points"),
        Some(points.to_string())
    );
    assert_eq!(attr_of(&zh, marker, "data-now").as_deref(), Some("1"));
    assert_eq!(attr_of(&zh, marker, "data-last").as_deref(), Some("1"));
    assert_eq!(
        history["waiting"][points - 1]["peak"],
        1,
        "the daemon's own sample of the current step"
    );

    // A seat comes, answers the caller; the call ends and is recorded.
    let seat_rtp = RtpPeer::new();
    let _seat = register_seat(&d, "1001", "seat_answer.xml", seat_rtp.port());
    let st = caller.wait(Duration::from_secs(30));
    assert!(st.success(), "caller: {}\n{}", caller.messages(), d.log());
    d.call_records(1);
    let mut history = Value::Null;
    wait_for(
        Duration::from_secs(10),
        "the call on the service-level chart",
        || {
            history = json(&d, "/wallboard/history");
            history["service_level"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| p["offered"].as_u64().unwrap_or(0))
                .sum::<u64>()
                == 1
        },
    );
    let last_level = history["service_level"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["service_level"].as_f64())
        .next_back()
        .expect("a service level for the step of our call");
    let board = json(&d, "/wallboard/data");

    let en = rendered(browser, &d, "/wallboard?lang=en", 5_000);
    assert_eq!(attr_of(&en, "<html", "lang").as_deref(), Some("en"));
    for label in [
        "12345 wallboard",
        "Callers waiting (last 24 hours)",
        "Service level (last 24 hours)",
        "Seat",
    ] {
        assert!(en.contains(label), "English label {label} missing");
    }
    assert!(
        !en.contains("排队人数"),
        "Chinese chart title on the English page"
    );
    let sl = "id=\"chart-service-level\"";
    assert_eq!(attr_of(&en, sl, "data-points").as_deref(), Some("96"));
    assert_eq!(attr_of(&en, sl, "data-offered").as_deref(), Some("1"));
    let shown: f64 = attr_of(&en, sl, "data-last")
        .and_then(|v| v.parse().ok())
        .expect("the chart's last service level");
    assert!(
        (shown - last_level).abs() < 1e-9,
        "{shown} vs the API's {last_level}"
    );
    assert!(
        attr_of(&en, marker, "data-max").is_some_and(|m| m != "0"),
        "the morning's peak stays on the chart"
    );
    // The headline figures are the API's.
    assert_eq!(
        attr_of(&en, "id=\"answered\"", "data-value"),
        Some(board["center"]["answered"].to_string())
    );
    assert_eq!(
        attr_of(&en, "id=\"answer-rate\"", "data-value").and_then(|v| v.parse::<f64>().ok()),
        board["center"]["answer_rate"].as_f64()
    );
    // The seat's state in English.
    let seat_state = cell(&en, "data-seat=\"1001\"", "state").expect("seat 1001's row");
    assert_eq!(
        seat_state,
        board["seats"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["id"] == "1001"))
            .map(|s| s["state"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    );
}
