//! Operators and queues with real peers: a baresip softphone logs in with `*21`, takes the next call and after
//! `*22` no more; a SIPp seat that never answers is skipped within the ring timeout and shows not ready (RONA);
//! a caller past the maximum wait reaches the overflow queue; a restart keeps who is logged in. The wallboard's
//! data endpoint and `/status` are checked along the way.

mod support;

use std::time::Duration;
use support::*;

fn records_by_called(d: &Daemon, want: usize) -> Vec<ticket::CallRecord> {
    let mut r = d.call_records(want);
    r.sort_by_key(|r| r.started_at_ms);
    r
}

#[test]
fn an_operator_on_baresip_dials_star21_gets_the_next_call_and_after_star22_gets_no_more() {
    let d = Daemon::start(Options {
        login_required: true,
        ..Options::default()
    });
    let mut phone = Baresip::start(&d, "1001");
    wait_for(Duration::from_secs(15), "baresip registered", || {
        d.seat_status("1001")["registered"] == true
    });
    assert_eq!(d.seat_status("1001")["state"]["state"], "logged_out");

    // A caller waits: the registered seat takes nothing before its operator logs in.
    let caller_rtp = RtpPeer::new();
    let mut caller = dial(&d, "caller.xml", "12345", caller_rtp.port(), 3000);
    wait_for(
        Duration::from_secs(20),
        "the caller waiting in general",
        || {
            d.status()["queues"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|q| q["name"] == "general" && q["waiting"] == 1)
        },
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(phone.count("CALL_ESTABLISHED", "incoming"), 0);

    // *21: answered, a confirmation, hung up by the daemon; then the waiting caller rings the phone.
    let sip = d.sip.port();
    phone.command("dial", &format!("sip:*21@127.0.0.1:{sip}"));
    phone.wait("CALL_CLOSED", "outgoing", 1, Duration::from_secs(15));
    phone.wait("CALL_ESTABLISHED", "incoming", 1, Duration::from_secs(15));
    let st = caller.wait(Duration::from_secs(40));
    assert!(st.success(), "{}\n{}", caller.messages(), d.log());
    phone.wait("CALL_CLOSED", "incoming", 1, Duration::from_secs(10));
    d.wait_seat_state("1001", "ready", Duration::from_secs(5));

    // *22 (no reason digit: code 0) after the call: not ready, and the next caller is not offered to it.
    phone.command("dial", &format!("sip:*22@127.0.0.1:{sip}"));
    phone.wait("CALL_CLOSED", "outgoing", 2, Duration::from_secs(15));
    let s = d.wait_seat_state("1001", "not_ready", Duration::from_secs(5));
    assert_eq!(s["state"]["reason"], "0");
    let board = d.wallboard_seat("1001");
    assert_eq!(
        (&board["state"], &board["reason_name"], &board["registered"]),
        (&"not_ready".into(), &"示忙".into(), &true.into()),
        "{board}"
    );
    let rtp2 = RtpPeer::new();
    let mut second = dial(&d, "caller_cancel.xml", "12345", rtp2.port(), 12_000);
    let st = second.wait(Duration::from_secs(40));
    assert!(st.success(), "{}\n{}", second.messages(), d.log());
    assert_eq!(
        phone.count("CALL_ESTABLISHED", "incoming"),
        1,
        "no second call: {:?}",
        phone.events.lock().unwrap()
    );

    d.wait_idle(Duration::from_secs(10));
    let r = records_by_called(&d, 4);
    let by = |called: &str| r.iter().filter(|x| x.called == called).collect::<Vec<_>>();
    let star21 = by("*21");
    assert_eq!(star21.len(), 1, "{r:?}");
    assert_eq!(star21[0].route_mode.as_deref(), Some("feature"));
    assert_eq!(star21[0].caller, "1001");
    let calls = by("12345");
    assert_eq!(calls.len(), 2, "{r:?}");
    assert_eq!(calls[0].seat.as_deref(), Some("1001"));
    assert_eq!(calls[1].seat, None);
    assert_eq!(calls[1].end_reason, ticket::EndReason::AbandonedInQueue);
    assert!(
        d.log().contains("action=\"not_ready\" ok=true"),
        "{}",
        d.log()
    );
}

#[test]
fn a_sipp_seat_that_never_answers_is_skipped_within_the_ring_timeout_and_shows_not_ready() {
    let d = Daemon::start(Options {
        seat_ring_timeout_s: 3,
        ..Options::default()
    });
    let seat_rtp = RtpPeer::new();
    // 1001 registers first, so it has idled longest and gets the first offer; it rings until cancelled.
    let deaf = register_seat(
        &d,
        "1001",
        "seat_ring_until_cancel.xml",
        RtpPeer::new().port(),
    );
    std::thread::sleep(Duration::from_millis(50));
    let _answers = register_seat(&d, "1002", "seat_answer.xml", seat_rtp.port());
    let caller_rtp = RtpPeer::new();
    let mut caller = dial(&d, "caller.xml", "12345", caller_rtp.port(), 2000);
    let st = caller.wait(Duration::from_secs(40));
    assert!(st.success(), "{}\n{}", caller.messages(), d.log());
    d.wait_idle(Duration::from_secs(10));

    let r = d.call_records(1).remove(0);
    assert_eq!(r.seat.as_deref(), Some("1002"));
    let v = &r.queue_visits[0];
    assert_eq!(v.outcome, ticket::record::VisitOutcome::Answered);
    // 3 s of ringing at 1001, then 1002 at once (it answers after 0.3 s).
    assert!((3_000..6_000).contains(&v.wait_ms()), "{v:?}");
    assert!(
        deaf.messages().contains("CANCEL sip:"),
        "{}",
        deaf.messages()
    );

    let s = d.seat_status("1001");
    assert_eq!(s["state"]["state"], "not_ready", "{s}");
    assert_eq!(s["state"]["reason"], "RONA");
    assert_eq!(s["missed_offers"], 1);
    let board = d.wallboard_seat("1001");
    assert_eq!(
        (&board["state"], &board["reason"]),
        (&"not_ready".into(), &"RONA".into())
    );
    assert_eq!(d.wallboard_seat("1002")["state"], "ready");
    let general = d.status()["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "general")
        .cloned()
        .unwrap();
    assert_eq!(general["stats"]["answered"], 1, "{general}");
    assert_eq!(general["stats"]["answered_within_threshold"], 1);
    assert_eq!(general["seats"]["not_ready"], 1);

    // The supervisor puts it back through the API; a request that makes no sense is refused.
    let (code, body) = d
        .api_post("/api/seats/1001/actions", r#"{"action":"ready"}"#)
        .unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"state\":\"ready\""), "{body}");
    let (code, body) = d
        .api_post("/api/seats/1001/actions", r#"{"action":"end_wrap_up"}"#)
        .unwrap();
    assert_eq!(
        (code, body.contains("not in wrap-up")),
        (409, true),
        "{body}"
    );
    let (code, _) = d
        .api_post("/api/seats/9999/actions", r#"{"action":"logout"}"#)
        .unwrap();
    assert_eq!(code, 404);
    // Without an account: 401.
    assert_eq!(
        d.request("POST", "/api/seats/1001/actions", None)
            .map(|r| r.code),
        Some(401)
    );
}

#[test]
fn a_caller_queued_past_the_maximum_wait_reaches_the_overflow_queue() {
    let d = Daemon::start(Options {
        extra: r#"
[[queues]]
name = "general"
max_wait_s = 3
overflow = "backup"
[[queues]]
name = "backup"
[[seats]]
id = "3001"
password = "hotline-3001"
queues = ["backup"]
tags = ["remote"]
"#
        .into(),
        ..Options::default()
    });
    let seat_rtp = RtpPeer::new();
    // Only the backup seat (a remote county seat) is there: nobody serves general.
    let _seat = register_seat(&d, "3001", "seat_answer.xml", seat_rtp.port());
    assert_eq!(d.wallboard_seat("3001")["tags"][0], "remote");
    let caller_rtp = RtpPeer::new();
    let mut caller = dial(&d, "caller.xml", "12345", caller_rtp.port(), 2000);
    let st = caller.wait(Duration::from_secs(40));
    assert!(st.success(), "{}\n{}", caller.messages(), d.log());
    d.wait_idle(Duration::from_secs(10));

    let r = d.call_records(1).remove(0);
    assert_eq!(r.seat.as_deref(), Some("3001"));
    let v: Vec<(&str, ticket::record::VisitOutcome)> = r
        .queue_visits
        .iter()
        .map(|v| (v.queue.as_str(), v.outcome))
        .collect();
    use ticket::record::VisitOutcome::*;
    assert_eq!(v, [("general", Overflowed), ("backup", Answered)], "{r:?}");
    assert!(
        (2_900..4_500).contains(&r.queue_visits[0].wait_ms()),
        "{r:?}"
    );
    assert!(d.log().contains("maximum wait: moved on"), "{}", d.log());

    // The stored figures say the same.
    let (code, body) = d.api_get("/api/stats/queues").unwrap();
    assert_eq!(code, 200, "{body}");
    let rep: serde_json::Value = serde_json::from_str(&body).unwrap();
    let q = |name: &str| {
        rep["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["queue"] == name)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(q("general")["overflowed"], 1, "{rep}");
    assert_eq!(q("backup")["answered"], 1, "{rep}");
    assert_eq!(rep["overall"]["answered"], 1);
}

#[test]
fn a_restart_keeps_who_is_logged_in_and_in_what_state() {
    let keep = tempfile::tempdir().unwrap();
    let opts = || Options {
        login_required: true,
        db: Some(keep.path().join("hotline.db")),
        extra: r#"
[[operators]]
id = "7001"
name = "王芳"
skills = ["general"]
[[operators]]
id = "7002"
name = "李强"
"#
        .into(),
        ..Options::default()
    };
    let d = Daemon::start(opts());
    let post = |seat: &str, body: &str| {
        let (code, text) = d
            .api_post(&format!("/api/seats/{seat}/actions"), body)
            .unwrap();
        assert_eq!(code, 200, "{seat} {body}: {text}");
    };
    post("1001", r#"{"action":"login","operator":"7001"}"#);
    post("1002", r#"{"action":"login","operator":"7002"}"#);
    post("1002", r#"{"action":"not_ready","reason":"3"}"#);
    post("1003", r#"{"action":"login"}"#);
    post("1003", r#"{"action":"logout"}"#);
    // Unknown operators are refused.
    let (code, _) = d
        .api_post(
            "/api/seats/1004/actions",
            r#"{"action":"login","operator":"7999"}"#,
        )
        .unwrap();
    assert_eq!(code, 422);
    // Wait for the presence to be stored, then stop the daemon hard.
    let url = d.db_url.clone();
    wait_for(Duration::from_secs(10), "presence stored", || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = ticket::Store::connect(&url, 1).await.unwrap();
            let rows = store.load_presence().await.unwrap();
            store.close().await;
            rows.iter()
                .any(|r| r.seat == "1003" && r.presence == "logged_out")
        })
    });
    drop(d);

    let d = Daemon::start(opts());
    let s = d.seat_status("1001");
    assert_eq!(
        (&s["operator"], &s["state"]["state"], &s["registered"]),
        (&"7001".into(), &"ready".into(), &false.into()),
        "{s}"
    );
    let s = d.seat_status("1002");
    assert_eq!(
        (&s["state"]["state"], &s["state"]["reason"]),
        (&"not_ready".into(), &"3".into())
    );
    let s = d.seat_status("1003");
    assert_eq!(
        (&s["state"]["state"], &s["held_out"]),
        (&"logged_out".into(), &true.into())
    );
    assert_eq!(d.wallboard_seat("1001")["operator_name"], "王芳");
    assert!(d.log().contains("seat presence restored"), "{}", d.log());
}

#[test]
fn waiting_callers_are_told_their_position() {
    let d = Daemon::start(Options {
        extra: "\n[[queues]]\nname = \"general\"\nannounce_every_s = 2\n".into(),
        ..Options::default()
    });
    // No seat: two callers wait; the second hears «您前面还有 一 位在等候» every 2 s.
    let (a_rtp, b_rtp) = (RtpPeer::new(), RtpPeer::new());
    let mut a = dial(&d, "caller_cancel.xml", "12345", a_rtp.port(), 16_000);
    std::thread::sleep(Duration::from_millis(300));
    let mut b = dial(&d, "caller_cancel.xml", "12345", b_rtp.port(), 14_000);
    for c in [&mut a, &mut b] {
        let st = c.wait(Duration::from_secs(40));
        assert!(st.success(), "{}\n{}", c.messages(), d.log());
    }
    let log = d.log();
    assert!(log.contains("QueuePosition { position: 2"), "{log}");
    assert!(log.contains("QueuePosition { position: 1"), "{log}");
    assert!(!log.contains("prompt cannot be played"), "{log}");
    d.wait_idle(Duration::from_secs(10));
    let r = d.call_records(2);
    assert!(r
        .iter()
        .all(|r| r.end_reason == ticket::EndReason::AbandonedInQueue));
}
