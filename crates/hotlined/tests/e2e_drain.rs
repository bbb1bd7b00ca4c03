//! `hotlined drain` end to end (issue 12 item 6): a call in progress completes, a new INVITE and a balancer's
//! OPTIONS get 503, and the daemon exits 0 once the last call has ended — a restart without dropping a call.

mod support;

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

/// One out-of-dialog OPTIONS from a socket of our own; the status line of the answer.
fn options_status(d: &Daemon) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let port = sock.local_addr().unwrap().port();
    let req = format!(
        "OPTIONS sip:12345@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKdrain{port}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p{port}\r\nTo: <sip:12345@{sip}>\r\n\
         Call-ID: drain-probe-{port}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        sip = d.sip
    );
    sock.send_to(req.as_bytes(), d.sip).unwrap();
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("an answer to OPTIONS");
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn a_drained_daemon_finishes_the_call_up_refuses_new_ones_with_503_and_exits_0() {
    let mut d = Daemon::start(Options::default());
    assert!(options_status(&d).starts_with("SIP/2.0 200"));
    let (caller_rtp, seat_rtp) = (RtpPeer::new(), RtpPeer::new());
    let _seat = register_seat(&d, "1001", "seat_answer.xml", seat_rtp.port());
    // The greeting (~6 s), then the seat, then 8 s of talk.
    let mut up = dial(&d, "caller.xml", "12345", caller_rtp.port(), 8_000);
    wait_for(Duration::from_secs(20), "the seat talking", || {
        d.seat_status("1001")["state"]["state"] == "talking"
    });

    // `hotlined drain` as ops would run it (the example admin account).
    let out = Command::new(env!("CARGO_BIN_EXE_hotlined"))
        .args(["drain", "--admin", &d.admin.to_string(), "--user", "admin"])
        .env("HOTLINED_ADMIN_PASSWORD", "change-me-example-token")
        .output()
        .expect("run hotlined drain");
    assert!(
        out.status.success(),
        "hotlined drain: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 calls still up"));
    assert_eq!(d.status()["draining"], true);

    // A new call and the balancer's probe are turned away; the call up is not touched.
    let dir = tempfile::tempdir().unwrap();
    let refused = scenario_expecting(dir.path(), 503);
    let mut new_call = Sipp::spawn(
        d.sip,
        &refused,
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
            "-s",
            "12345",
        ],
    );
    assert!(
        new_call.wait(Duration::from_secs(15)).success(),
        "the new INVITE was not refused with 503:\n{}",
        new_call.messages()
    );
    assert!(options_status(&d).starts_with("SIP/2.0 503"));

    let st = up.wait(Duration::from_secs(40));
    assert!(
        st.success(),
        "the call up was dropped:\n{}\n{}",
        up.messages(),
        d.log()
    );
    // Then the process ends by itself, with 0.
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(st) = d.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "still running after the last call:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(code.success(), "exit {code:?}:\n{}", d.log());
    let records = d.call_records(1);
    assert_eq!(records.len(), 1, "the call up has its record");
    assert_eq!(records[0].seat.as_deref(), Some("1001"));
}
