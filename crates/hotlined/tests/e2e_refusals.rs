//! What the daemon refuses, and how: seats with wrong credentials, trunks outside the ACL, numbers
//! outside the plan, overload, and malformed messages — and that it keeps serving afterwards.

mod support;

use std::net::UdpSocket;
use std::time::Duration;
use support::*;

#[test]
fn seat_with_wrong_password_is_challenged_then_refused() {
    let d = Daemon::start(Options::default());
    let port = free_port().to_string();
    // The scenario expects 401 (no credentials), then 403 for the wrong digest.
    let mut seat = Sipp::spawn(
        d.sip,
        &sipp_dir().join("seat_bad_password.xml"),
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-key",
            "seat",
            "1002",
            "-au",
            "1002",
            "-ap",
            "not-the-password",
        ],
    );
    let st = seat.wait(Duration::from_secs(20));
    assert!(st.success(), "{}", seat.messages());
    assert!(
        seat.messages().contains("WWW-Authenticate: Digest"),
        "challenge carried"
    );
    // And the seat is not offered calls.
    let status = d.status();
    let s1002 = status["seats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "1002")
        .cloned();
    let s1002 = s1002.unwrap();
    assert_eq!(s1002["state"]["state"], "logged_out");
    assert_eq!(s1002["registered"], false);
}

#[test]
fn trunk_outside_the_acl_gets_403_unknown_number_404_overload_503() {
    let d = Daemon::start(Options::default());
    let tmp = tempfile::tempdir().unwrap();

    let port = free_port().to_string();
    let mut foreign = Sipp::spawn(
        d.sip,
        &scenario_expecting(tmp.path(), 403),
        &["-i", "127.0.0.2", "-p", &port, "-s", "12345"],
    );
    assert!(
        foreign.wait(Duration::from_secs(20)).success(),
        "{}",
        foreign.messages()
    );

    let port = free_port().to_string();
    let mut unknown = Sipp::spawn(
        d.sip,
        &scenario_expecting(tmp.path(), 404),
        &["-i", "127.0.0.1", "-p", &port, "-s", "99999"],
    );
    assert!(
        unknown.wait(Duration::from_secs(20)).success(),
        "{}",
        unknown.messages()
    );
    d.wait_idle(Duration::from_secs(5));
    let records = d.call_records(1);
    assert_eq!(
        records.len(),
        1,
        "the refused unknown number is recorded, the ACL refusal is not a call"
    );
    assert_eq!(records[0].end_reason, ticket::EndReason::Rejected);
    assert_eq!(records[0].route_mode.as_deref(), Some("unknown"));

    // What ops see: Prometheus counters for these refusals, and the wallboard page.
    let metrics = d.http_get("/metrics").unwrap_or_default();
    assert!(
        metrics.contains("hotline_calls_refused_total{reason=\"acl\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hotline_calls_ended_total{reason=\"rejected\"} 1"),
        "{metrics}"
    );
    // The harness gives each daemon 100 RTP ports (25 calls): the configured 5,000 is capped, and said so.
    assert!(d.log().contains("calls.max_active exceeds"), "{}", d.log());
    // The page is drawn by its script from /wallboard/data (e2e_wallboard_page renders it in a browser).
    let page = d.http_get("/wallboard").unwrap_or_default();
    assert!(page.contains("12345 实时监控"), "{page}");
    let board = d.http_get("/wallboard/data").unwrap_or_default();
    assert!(board.contains("\"id\":\"1001\""), "{board}");

    let full = Daemon::start(Options {
        max_active: 0,
        ..Options::default()
    });
    let port = free_port().to_string();
    let mut busy = Sipp::spawn(
        full.sip,
        &scenario_expecting(tmp.path(), 503),
        &["-i", "127.0.0.1", "-p", &port, "-s", "12345"],
    );
    assert!(
        busy.wait(Duration::from_secs(20)).success(),
        "{}",
        busy.messages()
    );
    assert!(
        busy.messages().contains("Retry-After: 5"),
        "503 says when to retry"
    );
}

fn exchange(sock: &UdpSocket, to: std::net::SocketAddr, msg: &str) -> Option<String> {
    sock.send_to(msg.as_bytes(), to).unwrap();
    let mut buf = [0u8; 4096];
    sock.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    loop {
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                if text.starts_with("SIP/2.0 100") {
                    continue;
                }
                return Some(text);
            }
            Err(_) => return None,
        }
    }
}

#[test]
fn malformed_invites_get_400_or_a_counted_drop_and_the_next_call_is_served() {
    let d = Daemon::start(Options::default());
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = sock.local_addr().unwrap();
    let head = |extra: &str, call_id: bool, cl: usize| {
        format!(
            "INVITE sip:12345@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{}\r\n\
             From: <sip:1380000@{me}>;tag=a\r\nTo: <sip:12345@127.0.0.1>\r\n{}CSeq: 1 INVITE\r\n\
             Max-Forwards: 70\r\n{extra}Content-Type: application/sdp\r\nContent-Length: {cl}\r\n\r\nv=0\r\n",
            rand_branch(),
            if call_id { format!("Call-ID: {}@test\r\n", rand_branch()) } else { String::new() }
        )
    };
    let cases = [
        (
            "broken header line",
            head("This line has no colon\r\n", true, 5),
        ),
        ("Content-Length beyond the datagram", head("", true, 9999)),
        ("missing Call-ID", head("", false, 5)),
        (
            "broken CSeq",
            head("", true, 5).replace("CSeq: 1 INVITE", "CSeq: one INVITE"),
        ),
    ];
    let before = d.status()["sip"]["parse_errors"].as_u64().unwrap();
    let mut answered = 0;
    for (what, msg) in &cases {
        // No answer means dropped: every case must be counted below either way.
        if let Some(resp) = exchange(&sock, d.sip, msg) {
            assert!(
                resp.starts_with("SIP/2.0 400"),
                "{what}: expected 400, got {resp}"
            );
            answered += 1;
        }
    }
    let after = d.status()["sip"]["parse_errors"].as_u64().unwrap();
    assert_eq!(
        after - before,
        cases.len() as u64,
        "every malformed message is counted"
    );
    assert!(
        answered >= 2,
        "requests whose Via is readable are answered 400 ({answered})"
    );
    // Garbage that is not SIP at all: dropped and counted, never a panic.
    sock.send_to(b"\x00\xff\x10garbage\r\n\r\n", d.sip).unwrap();
    sock.send_to(b"INVITE\r\n\r\n", d.sip).unwrap();

    // The daemon still serves: a real call attempt is processed (404 for a number outside the plan).
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let mut next = Sipp::spawn(
        d.sip,
        &scenario_expecting(tmp.path(), 404),
        &["-i", "127.0.0.1", "-p", &port, "-s", "99999"],
    );
    assert!(
        next.wait(Duration::from_secs(20)).success(),
        "{}",
        next.messages()
    );
    assert!(d.child.try_wait_is_running());
}

/// RFC 4475 §3.3.1/§3.3.9 one header at a time, against the running daemon: a request missing
/// From, To, Call-ID or CSeq, or carrying two (compact and long forms count as one header), is
/// answered 400 naming the header, sent back by its top Via; without a Via it is dropped and counted.
#[test]
fn requests_missing_or_repeating_a_required_header_get_a_400_naming_it() {
    use std::io::{Read, Write};
    let d = Daemon::start(Options::default());
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = sock.local_addr().unwrap();
    let options = |branch: &str, transport: &str| {
        format!(
            "OPTIONS sip:12345@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{transport} {me};branch=z9hG4bK{branch}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:scan@{me}>;tag=s{branch}\r\nTo: <sip:12345@127.0.0.1>\r\n\
             Call-ID: {branch}@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let drop_line = |msg: String, start: &str| -> String {
        msg.split_inclusive("\r\n")
            .filter(|l| !l.starts_with(start))
            .collect()
    };
    let add_after = |msg: String, after: &str, line: &str| -> String {
        msg.split_inclusive("\r\n")
            .flat_map(|l| {
                let extra = if l.starts_with(after) { line } else { "" };
                [l.to_owned(), extra.to_owned()]
            })
            .collect()
    };
    let b = rand_branch();
    let cases: Vec<(String, String)> = [
        ("From:", "missing From header"),
        ("To:", "missing To header"),
        ("Call-ID:", "missing Call-ID header"),
        ("CSeq:", "missing CSeq header"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (start, reason))| {
        (
            drop_line(options(&format!("{b}m{i}"), "UDP"), start),
            reason.to_string(),
        )
    })
    .chain(
        [
            (
                "Call-ID:",
                "i: second@test\r\n",
                "more than one Call-ID header",
            ),
            ("CSeq:", "CSeq: 2 OPTIONS\r\n", "more than one CSeq header"),
            (
                "To:",
                "f: <sip:other@127.0.0.1>;tag=x\r\n",
                "more than one From header",
            ),
            (
                "From:",
                "t: <sip:12366@127.0.0.1>\r\n",
                "more than one To header",
            ),
        ]
        .iter()
        .enumerate()
        .map(|(i, (after, line, reason))| {
            (
                add_after(options(&format!("{b}d{i}"), "UDP"), after, line),
                reason.to_string(),
            )
        }),
    )
    .collect();
    let before = d.status()["sip"].clone();
    for (msg, reason) in &cases {
        let resp = exchange(&sock, d.sip, msg).unwrap_or_else(|| panic!("{reason}: no answer"));
        assert!(
            resp.starts_with(&format!("SIP/2.0 400 {reason}\r\n")),
            "{reason}: {resp}"
        );
        let branch = msg
            .split(";branch=")
            .nth(1)
            .unwrap()
            .split("\r\n")
            .next()
            .unwrap();
        assert!(resp.contains(&format!(";branch={branch}\r\n")), "{resp}");
    }
    // Nowhere to send an answer: dropped, and counted as such.
    let no_via = drop_line(options(&format!("{b}nv"), "UDP"), "Via:");
    assert_eq!(exchange(&sock, d.sip, &no_via), None);

    // The same refusal on TCP comes back on the connection.
    let mut tcp = std::net::TcpStream::connect(d.sip).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(drop_line(options(&format!("{b}t"), "TCP"), "Call-ID:").as_bytes())
        .unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    while !got.contains("\r\n\r\n") {
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the answer: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        got.starts_with("SIP/2.0 400 missing Call-ID header\r\n"),
        "{got}"
    );

    let after = d.status()["sip"].clone();
    let delta = |k: &str| after[k].as_u64().unwrap() - before[k].as_u64().unwrap();
    assert_eq!(delta("parse_errors"), cases.len() as u64 + 2);
    assert_eq!(
        delta("parse_errors_dropped"),
        1,
        "only the one without a Via"
    );
    assert!(d.child.try_wait_is_running());
}

fn rand_branch() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

trait Running {
    fn try_wait_is_running(&self) -> bool;
}

impl Running for std::process::Child {
    fn try_wait_is_running(&self) -> bool {
        // SAFETY-free check: signal 0 tells whether the pid still exists.
        std::process::Command::new("kill")
            .args(["-0", &self.id().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// A delayed offer is no refusal any more (RFC 3261 §13.2.1): our offer comes in the 200 (e2e_answer covers the
/// ACK's answer and the audio).
#[test]
fn invite_without_sdp_gets_our_offer_in_a_200_not_a_refusal() {
    let d = Daemon::start(Options::default());
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = sock.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:12345@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{b}\r\n\
         From: <sip:13800001234@{me}>;tag=a\r\nTo: <sip:12345@127.0.0.1>\r\nCall-ID: {b}@test\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:13800001234@{me}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        b = rand_branch()
    );
    let resp = exchange(&sock, d.sip, &invite).expect("an answer");
    assert!(resp.starts_with("SIP/2.0 200"), "{resp}");
    assert!(
        resp.contains("m=audio ") && resp.contains("PCMA/8000"),
        "{resp}"
    );
}

/// `seat_consult_refused.xml` with `[expect_status]` filled in.
fn consult_expecting(dir: &std::path::Path, status: u16) -> std::path::PathBuf {
    let text = std::fs::read_to_string(sipp_dir().join("seat_consult_refused.xml"))
        .unwrap()
        .replace("[expect_status]", &status.to_string());
    let p = dir.join(format!("seat_consult_refused_{status}.xml"));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_seats_own_invite_is_challenged_and_refused_outside_the_transfer_targets_or_without_a_caller() {
    let d = Daemon::start(Options::default());
    let tmp = tempfile::tempdir().unwrap();
    for (number, password, status) in [
        // Not a transfer target of the plan: no calls out through a seat (no toll fraud).
        ("013800000000", "hotline-1001", 404),
        // A transfer target, but seat 1001 talks in no call: nothing to consult for.
        ("12348", "hotline-1001", 403),
        // Wrong credentials.
        ("12348", "not-the-password", 403),
    ] {
        let port = free_port().to_string();
        let mut seat = Sipp::spawn(
            d.sip,
            &consult_expecting(tmp.path(), status),
            &[
                "-i",
                "127.0.0.1",
                "-p",
                &port,
                "-s",
                number,
                "-key",
                "seat",
                "1001",
                "-au",
                "1001",
                "-ap",
                password,
            ],
        );
        let st = seat.wait(Duration::from_secs(20));
        assert!(st.success(), "{number} → {status}:\n{}", seat.messages());
        assert!(
            seat.messages().contains("Proxy-Authenticate: Digest"),
            "the INVITE was challenged with 407"
        );
    }
    // A trunk INVITE whose Replaces names no dialog of ours: 481 (RFC 3891 §3).
    let port = free_port().to_string();
    let mut replacing = Sipp::spawn(
        d.sip,
        &sipp_dir().join("caller_replaces.xml"),
        &["-i", "127.0.0.1", "-p", &port, "-s", "12345"],
    );
    let st = replacing.wait(Duration::from_secs(20));
    assert!(st.success(), "{}", replacing.messages());
    // None of them became a call.
    let status = d.status();
    assert_eq!(status["calls"]["started"], 0, "{status}");
    assert_eq!(status["calls"]["active"], 0, "{status}");
}
