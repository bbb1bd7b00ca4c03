//! The progress self-query by phone, end to end: a ticket filed through the API for caller X;
//! SIPp callers dial Jingjiang's 12345, press menu key 8 and key the ticket number and `#` as RFC 4733 events
//! from a socket the test owns, which also records every RTP packet the daemon plays. Which prompts were
//! played is read from that RTP: the prompts are deterministic, so each word's μ-law frames are looked for,
//! byte for byte, in what arrived. The filer hears the state and due date; another number hears only «没有查到»
//! — unless it keys the query code; every query is in the access log. Once on SQLite, once on PostgreSQL.

#[path = "support/pg.rs"]
mod pg;
mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use media::sdp::Codec;
use media::Prompt;
use support::*;

const FILER: &str = "13812340001";
const OTHER: &str = "13999990002";

/// The self-query's words and their prompts, decoded as the daemon decodes them.
fn vocabulary() -> Vec<(&'static str, Prompt)> {
    let dir = repo().join("dialplans/prompts/selfquery");
    ticket::speech::VOCABULARY
        .iter()
        .map(|w| (*w, Prompt::load_wav(&dir.join(format!("{w}.wav"))).unwrap()))
        .collect()
}

/// The words whose every frame arrived, in order and contiguous, among the PCMU packets received after `since`.
fn words_heard(
    peer: &RtpPeer,
    since: Instant,
    vocab: &[(&'static str, Prompt)],
) -> Vec<&'static str> {
    let frames: Vec<Vec<u8>> = peer
        .packets()
        .into_iter()
        .filter(|p| p.at >= since && p.pt == 0)
        .map(|p| p.payload)
        .collect();
    let matches_at = |i: usize, p: &Prompt| {
        (0..p.frame_count()).all(|k| {
            frames
                .get(i + k)
                .is_some_and(|f| Some(f.as_slice()) == p.frame(Codec::Pcmu, k).map(|x| &x[..]))
        })
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < frames.len() {
        let hit = vocab
            .iter()
            .filter(|(_, p)| matches_at(i, p))
            .max_by_key(|(_, p)| p.frame_count());
        match hit {
            Some((w, p)) => {
                out.push(*w);
                i += p.frame_count();
            }
            None => i += 1,
        }
    }
    out
}

/// Key `digits` as RFC 4733 events (payload type 101, as the caller's SDP offers) from the caller's socket.
fn key(peer: &RtpPeer, to: SocketAddr, digits: &str) {
    // Every event has a timestamp of its own: the receiver takes packets with the same one as repeats.
    static EVENTS: AtomicU32 = AtomicU32::new(0);
    let mut seq: u16 = 1000;
    for c in digits.chars() {
        let event = media::dtmf::char_to_event(c).unwrap();
        let ts = 80_000 + EVENTS.fetch_add(1, Ordering::Relaxed) * 8_000;
        for (marker, payload) in media::dtmf::rfc4733_packets(event, 100, 10) {
            let mut pkt = vec![0x80, 101 | if marker { 0x80 } else { 0 }];
            pkt.extend(seq.to_be_bytes());
            pkt.extend(ts.to_be_bytes());
            pkt.extend(0x5e1f_0001u32.to_be_bytes());
            pkt.extend(payload);
            peer.sock.send_to(&pkt, to).unwrap();
            seq = seq.wrapping_add(1);
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(120));
    }
}

/// One self-query call from `caller`: menu key 8, then `entry`; returns the words heard after the entry.
fn self_query(d: &Daemon, caller: &str, entry: &str) -> Vec<&'static str> {
    let peer = RtpPeer::new();
    let port = free_port().to_string();
    let media = peer.port().to_string();
    let mut sipp = Sipp::spawn(
        d.sip,
        &sipp_dir().join("caller_selfquery.xml"),
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-s",
            "12345",
            "-key",
            "caller",
            caller,
            "-key",
            "caller_rtp_port",
            &media,
        ],
    );
    wait_for(Duration::from_secs(10), "the menu prompt", || {
        !peer.packets().is_empty()
    });
    let daemon_leg = peer.packets()[0].from;
    std::thread::sleep(Duration::from_millis(300));
    key(&peer, daemon_leg, "8");
    // «请输入工单编号» starts; keys cut it short.
    std::thread::sleep(Duration::from_millis(800));
    // From here on only the answer is whole: the entry prompt is cut short by the first key.
    let after_entry = Instant::now();
    key(&peer, daemon_leg, entry);
    let st = sipp.wait(Duration::from_secs(60));
    assert!(
        st.success(),
        "self-query caller failed:\n{}\n{}",
        sipp.messages(),
        d.log()
    );
    words_heard(&peer, after_entry, &vocabulary())
}

fn self_query_reads_back_only_to_the_filer_or_with_the_code(database_url: Option<String>) {
    let d = Daemon::start(Options {
        dialplan: Some(repo().join("dialplans/jingjiang")),
        answer_first: true,
        database_url,
        ..Options::default()
    });
    let accepted_at = chrono::Utc::now() - chrono::Duration::minutes(1);
    let body = serde_json::json!({
        "accepted_at": accepted_at.to_rfc3339(),
        "category": "complaint",
        "department": "water",
        "text": "路灯不亮",
        "caller": FILER,
    });
    let (code, resp) = d.api_post("/api/tickets", &body.to_string()).unwrap();
    assert_eq!(code, 201, "{resp}");
    let t: serde_json::Value = serde_json::from_str(&resp).unwrap();
    let number = t["phone"]["number"].as_i64().unwrap().to_string();
    let query_code = t["phone"]["query_code"].as_str().unwrap().to_string();
    let close_due: chrono::DateTime<chrono::Utc> =
        t["close_due"].as_str().unwrap().parse().unwrap();
    let tz = dialplan::Dialplan::load_dir(&repo().join("dialplans/jingjiang"))
        .unwrap()
        .time_zone();
    let mut answer = ticket::speech::progress_words(ticket::Status::Accepted, close_due, tz);
    answer.push("goodbye");
    assert!(answer.contains(&"due") && answer.len() > 8, "{answer:?}");

    // The filer: the state and the due date, word by word, then goodbye.
    let heard = self_query(&d, FILER, &format!("{number}#"));
    assert_eq!(
        heard,
        answer,
        "the filer hears the state and due date\n{}",
        d.log()
    );

    // Another number: only the neutral «没有查到» — what an unknown ticket gets.
    let heard = self_query(&d, OTHER, &format!("{number}#"));
    assert_eq!(
        heard,
        ["not_found", "goodbye"],
        "another number learns nothing"
    );

    // Another number with the query code printed on the ticket: the answer.
    let heard = self_query(&d, OTHER, &format!("{number}*{query_code}#"));
    assert_eq!(heard, answer, "the query code opens it to another phone");

    // Every query is in the access log, the refused one as denied, the callers masked.
    let (code, log) = d.api_get("/api/access-log?limit=500").unwrap();
    assert_eq!(code, 200, "{log}");
    let log: Vec<serde_json::Value> = serde_json::from_str(&log).unwrap();
    let queries: Vec<&serde_json::Value> = log
        .iter()
        .filter(|e| e["actor"].as_str().unwrap_or("").starts_with("self-query:"))
        .collect();
    assert_eq!(queries.len(), 3, "{queries:?}");
    assert_eq!(
        queries.iter().filter(|e| e["denied"] == true).count(),
        1,
        "{queries:?}"
    );
    assert!(queries.iter().all(|e| {
        let a = e["actor"].as_str().unwrap();
        !a.contains(FILER) && !a.contains(OTHER)
    }));
    assert!(queries
        .iter()
        .all(|e| e["what"].as_str().unwrap().contains(&number)));

    // The record keeps the menu key, never the ticket number or the code.
    d.wait_idle(Duration::from_secs(10));
    let records = d.call_records(3);
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r.digits == "8"), "{records:?}");
}

#[test]
fn self_query_by_phone_sqlite() {
    self_query_reads_back_only_to_the_filer_or_with_the_code(None);
}

#[test]
fn self_query_by_phone_postgres() {
    let Some(url) = pg::fresh_database() else {
        return;
    };
    self_query_reads_back_only_to_the_filer_or_with_the_code(Some(url));
}
