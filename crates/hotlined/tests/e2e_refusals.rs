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
    let board = d.http_get("/wallboard").unwrap_or_default();
    assert!(
        board.contains("12345") && board.contains("<td>1001</td>"),
        "{board}"
    );

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

#[test]
fn invite_without_sdp_gets_488_not_400() {
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
    assert!(resp.starts_with("SIP/2.0 488"), "{resp}");
}
