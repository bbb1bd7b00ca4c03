//! The satisfaction survey end to end: a SIPp carrier calls 12345, a SIPp seat answers and hangs up,
//! the caller is not dropped but hears the survey and keys 2 as an RFC 4733 telephone-event; the daemon hangs
//! up the caller, the record keeps the key, and the ticket opened for the call is "basically satisfied" (after
//! the call) — in the store and in the KPI API. On SQLite and on PostgreSQL. The operator's `*9` does the same
//! without hanging up: the daemon BYEs the seat.

#[path = "support/pg.rs"]
mod pg;
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;
use support::*;

fn the_seat_hangs_up_and_the_callers_key_2_is_the_tickets_evaluation(database_url: Option<String>) {
    let d = Daemon::start(Options {
        survey: true,
        database_url,
        ..Options::default()
    });
    let seat_rtp = RtpPeer::new();
    // The operator hangs up 3 s after answering.
    let seat = register_seat(&d, "1001", "seat_answer_bye_3s.xml", seat_rtp.port());
    let (port, media_port) = (free_port().to_string(), free_port().to_string());
    // The caller keys 2 five seconds after its answer: during the survey prompt (10 s long).
    let mut caller = Sipp::spawn(
        d.sip,
        &sipp_dir().join("caller_survey.xml"),
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-s",
            "12345",
            "-mp",
            &media_port,
            "-d",
            "4000",
        ],
    );
    let st = caller.wait(Duration::from_secs(40));
    assert!(
        st.success(),
        "the caller was not surveyed and hung up by the daemon:\n{}\n{}\n{}",
        caller.messages(),
        seat.messages(),
        d.log()
    );
    d.wait_idle(Duration::from_secs(5));
    let rec = d.call_records(1).remove(0);
    assert_eq!(rec.end_reason, ticket::EndReason::SeatHangup);
    assert_eq!(rec.seat.as_deref(), Some("1001"));
    let survey = rec.survey.expect("the record keeps the survey answer");
    assert_eq!(survey.key, Some('2'), "{rec:?}");
    assert!(survey.at_ms >= rec.answered_at_ms.unwrap_or(i64::MAX) + 3_000);

    // The operator opens the ticket in wrap-up, after the survey: it gets the answer kept with the call.
    let body = serde_json::json!({
        "accepted_at": chrono::Utc::now().to_rfc3339(),
        "category": "complaint",
        "department": "市水务局",
        "text": "停水",
        "caller": rec.caller,
        "call_id": rec.call_id,
    });
    let (code, resp) = d.api_post("/api/tickets", &body.to_string()).unwrap();
    assert_eq!(code, 201, "{resp}");
    let id = serde_json::from_str::<serde_json::Value>(&resp).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let evaluations = rt.block_on(async {
        let store = ticket::Store::connect(&d.db_url, 1).await.unwrap();
        store.evaluations(&id).await.unwrap()
    });
    assert_eq!(evaluations.len(), 1, "{evaluations:?}");
    assert_eq!(evaluations[0].evaluation, ticket::Evaluation::Basic);
    assert_eq!(evaluations[0].source, ticket::EvaluationSource::AfterCall);
    assert_eq!(
        evaluations[0].call_id.as_deref(),
        Some(rec.call_id.as_str())
    );
    let (code, kpi) = d.api_get("/api/stats/kpi").unwrap();
    assert_eq!(code, 200, "{kpi}");
    let kpi: serde_json::Value = serde_json::from_str(&kpi).unwrap();
    assert_eq!(kpi["satisfaction_after_call"]["basic"], 1, "{kpi}");
}

#[test]
fn survey_after_the_seats_hang_up_sqlite() {
    the_seat_hangs_up_and_the_callers_key_2_is_the_tickets_evaluation(None);
}

#[test]
fn survey_after_the_seats_hang_up_postgres() {
    if let Some(url) = pg::fresh_database() {
        the_seat_hangs_up_and_the_callers_key_2_is_the_tickets_evaluation(Some(url));
    }
}

/// With the survey off (as the rest of the suite runs) the caller is hung up with the seat, as before.
#[test]
fn without_the_survey_the_caller_goes_with_the_seat() {
    let d = Daemon::start(Options::default());
    let seat_rtp = RtpPeer::new();
    let _seat = register_seat(&d, "1001", "seat_answer_bye_3s.xml", seat_rtp.port());
    let (port, media_port) = (free_port().to_string(), free_port().to_string());
    // -d 20000: the daemon's BYE comes long before the scenario's key.
    let mut caller = Sipp::spawn(
        d.sip,
        &sipp_dir().join("caller_survey.xml"),
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-s",
            "12345",
            "-mp",
            &media_port,
            "-d",
            "20000",
        ],
    );
    let _ = caller.wait(Duration::from_secs(40));
    d.wait_idle(Duration::from_secs(5));
    let rec = d.call_records(1).remove(0);
    assert_eq!(rec.end_reason, ticket::EndReason::SeatHangup);
    assert_eq!(rec.survey, None);
    let talked = rec.ended_at_ms - rec.answered_at_ms.unwrap();
    assert!(talked < 5_000, "hung up with the seat, after {talked} ms");
}

/// RFC 4733 §2.3: each key as telephone-events (payload type 101, as our offer says), three updates and three
/// end packets with one timestamp.
fn key_rfc4733(sock: &UdpSocket, to: SocketAddr, keys: &str) {
    let mut seq: u16 = 40_000;
    for (n, key) in keys.chars().enumerate() {
        let event: u8 = match key {
            '0'..='9' => key as u8 - b'0',
            '*' => 10,
            _ => panic!("no key {key}"),
        };
        let ts = 1_000_000 + n as u32 * 8_000;
        for (i, end) in [false, false, false, true, true, true]
            .into_iter()
            .enumerate()
        {
            let duration = (i as u16 + 1) * 160;
            let mut pkt = vec![0x80, 101 | if i == 0 { 0x80 } else { 0 }];
            pkt.extend(seq.to_be_bytes());
            pkt.extend(ts.to_be_bytes());
            pkt.extend(0x0badcafe_u32.to_be_bytes());
            pkt.push(event);
            pkt.push(if end { 0x80 | 10 } else { 10 });
            pkt.extend(duration.to_be_bytes());
            sock.send_to(&pkt, to).unwrap();
            seq = seq.wrapping_add(1);
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The operator keys `*9`: the daemon hangs up the seat (which waits for a BYE) and the caller answers the survey.
#[test]
fn the_operator_keys_star_9_the_seat_is_hung_up_and_the_caller_surveyed() {
    let d = Daemon::start(Options {
        survey: true,
        ..Options::default()
    });
    let seat_rtp = RtpPeer::new();
    let seat = register_seat(&d, "1001", "seat_answer.xml", seat_rtp.port());
    let (port, media_port) = (free_port().to_string(), free_port().to_string());
    // The caller keys 2 eight seconds after its answer.
    let mut caller = Sipp::spawn(
        d.sip,
        &sipp_dir().join("caller_survey.xml"),
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-s",
            "12345",
            "-mp",
            &media_port,
            "-d",
            "8000",
        ],
    );
    // The daemon's RTP port for the seat leg, from the INVITE's offer the seat received.
    let mut daemon_leg = None;
    wait_for(Duration::from_secs(20), "the seat's INVITE", || {
        let log = seat.messages();
        daemon_leg = log
            .split("INVITE sip:1001")
            .nth(1)
            .and_then(|inv| inv.split("m=audio ").nth(1))
            .and_then(|m| m.split_whitespace().next())
            .and_then(|p| p.parse::<u16>().ok());
        daemon_leg.is_some() && d.log().contains("answered leg=1")
    });
    let to = SocketAddr::from(([127, 0, 0, 1], daemon_leg.unwrap()));
    std::thread::sleep(Duration::from_millis(500));
    key_rfc4733(&seat_rtp.sock, to, "*9");
    let st = caller.wait(Duration::from_secs(40));
    assert!(
        st.success(),
        "the caller was not surveyed:\n{}\n{}",
        caller.messages(),
        d.log()
    );
    d.wait_idle(Duration::from_secs(5));
    let rec = d.call_records(1).remove(0);
    assert_eq!(rec.end_reason, ticket::EndReason::SeatHangup);
    assert_eq!(rec.survey.and_then(|s| s.key), Some('2'), "{rec:?}");
    assert!(
        seat.messages().contains("BYE sip:"),
        "the daemon hung up the seat:\n{}",
        seat.messages()
    );
}
