//! Issue 13 items 3 and 7 against the running daemon: a `Require: 100rel` SIPp caller gets a reliable 183,
//! PRACKs it, reaches a seat and renegotiates with an UPDATE mid-call; and what OPTIONS advertises is what
//! the daemon does (every listed method gets something other than 501, every listed extension is honoured
//! when required, anything else gets 420).

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use support::*;

#[test]
fn a_caller_requiring_100rel_pracks_the_reliable_183_completes_and_updates_mid_call() {
    let d = Daemon::start(Options::default());
    let caller_rtp = RtpPeer::new();
    let seat_rtp = RtpPeer::new();
    let seat = register_seat(&d, "1001", "seat_answer.xml", seat_rtp.port());
    let mut caller = dial(&d, "caller_100rel.xml", "12345", caller_rtp.port(), 1000);
    let st = caller.wait(Duration::from_secs(60));
    let log = caller.messages();
    assert!(st.success(), "caller scenario failed:\n{log}\n{}", d.log());
    // The scenario itself checked Require: 100rel and RSeq in the 183 (check_it) and the m= line of the
    // UPDATE's answer; the trace shows each step.
    assert!(log.contains("RAck: "), "PRACK sent:\n{log}");
    assert!(log.contains("CSeq: 2 PRACK"), "{log}");
    assert!(
        log.contains("X-Update-Answer: m=audio"),
        "UPDATE answered with SDP:\n{log}"
    );
    let records = d.call_records(1);
    assert_eq!(records.len(), 1);
    drop(seat);
}

fn recv_all(sock: &UdpSocket, within: Duration, mut done: impl FnMut(&str) -> bool) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let stop = done(&text);
            got.push(text);
            if stop {
                break;
            }
        }
    }
    got
}

fn status_of(resp: &str) -> u16 {
    resp.get(8..11).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

struct Raw {
    sock: UdpSocket,
    me: SocketAddr,
    to: SocketAddr,
    n: u32,
}

impl Raw {
    fn request(&mut self, method: &str, extra: &str, body: &str) -> (String, String) {
        self.n += 1;
        let branch = format!("z9hG4bKopt{}x{}", std::process::id(), self.n);
        let call_id = format!("allow-{}-{}@test", std::process::id(), self.n);
        let ct = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: application/sdp\r\n".into()
        };
        let me = self.me;
        let msg = format!(
            "{method} sip:12345@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:13800001234@{me}>;tag=t{n}\r\nTo: <sip:12345@{to}>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 {method}\r\nContact: <sip:13800001234@{me}>\r\n{extra}{ct}\
             Content-Length: {}\r\n\r\n{body}",
            body.len(),
            to = self.to,
            n = self.n,
        );
        self.sock.send_to(msg.as_bytes(), self.to).unwrap();
        (branch, call_id)
    }

    /// End an INVITE in progress: CANCEL, and the ACK for its 487.
    fn cancel(&mut self, branch: &str, call_id: &str, to_tag: Option<&str>) {
        let me = self.me;
        let to = self.to;
        let n = self.n;
        let common = |method: &str, to_hdr: String| {
            format!(
                "{method} sip:12345@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch};rport\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:13800001234@{me}>;tag=t{n}\r\n{to_hdr}\
                 Call-ID: {call_id}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
            )
        };
        let plain_to = format!("To: <sip:12345@{to}>\r\n");
        self.sock
            .send_to(common("CANCEL", plain_to).as_bytes(), to)
            .unwrap();
        let got = recv_all(&self.sock, Duration::from_secs(3), |m| status_of(m) == 487);
        let tag = to_tag.map(str::to_owned).or_else(|| {
            got.iter()
                .filter(|m| status_of(m) == 487)
                .find_map(|m| header(m, "To")?.split("tag=").nth(1).map(str::to_owned))
        });
        if let Some(tag) = tag {
            let to_hdr = format!("To: <sip:12345@{to}>;tag={tag}\r\n");
            self.sock
                .send_to(common("ACK", to_hdr).as_bytes(), to)
                .unwrap();
        }
    }
}

const SDP: &str = "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                   m=audio 40000 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n";

#[test]
fn options_advertises_only_what_the_daemon_does() {
    let d = Daemon::start(Options::default());
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = sock.local_addr().unwrap();
    let mut raw = Raw {
        sock,
        me,
        to: d.sip,
        n: 0,
    };

    raw.request("OPTIONS", "", "");
    let got = recv_all(&raw.sock, Duration::from_secs(3), |m| status_of(m) == 200);
    let ok = got.last().expect("OPTIONS answered");
    assert_eq!(status_of(ok), 200, "{ok}");
    let allow: Vec<String> = header(ok, "Allow")
        .expect("Allow")
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect();
    let supported: Vec<String> = header(ok, "Supported")
        .expect("Supported")
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect();
    assert!(!allow.iter().any(|m| m == "NOTIFY"), "{allow:?}");
    assert!(allow.iter().any(|m| m == "PRACK"), "{allow:?}");
    assert!(supported.iter().any(|t| t == "100rel"), "{supported:?}");

    // Every listed method: an answer, and not 501.
    for m in &allow {
        match m.as_str() {
            "ACK" => continue, // never answered
            "INVITE" => {
                let (branch, call_id) = raw.request("INVITE", "", SDP);
                let got = recv_all(&raw.sock, Duration::from_secs(5), |r| status_of(r) > 100);
                let first = got
                    .iter()
                    .find(|r| status_of(r) > 100)
                    .expect("INVITE answered");
                assert!(status_of(first) != 501, "INVITE: {first}");
                raw.cancel(&branch, &call_id, None);
            }
            _ => {
                raw.request(m, "", "");
                let got = recv_all(&raw.sock, Duration::from_secs(3), |r| status_of(r) >= 200);
                let last = got
                    .iter()
                    .rev()
                    .find(|r| status_of(r) >= 200)
                    .unwrap_or_else(|| panic!("{m} unanswered: {got:?}"));
                assert!(status_of(last) != 501, "{m}: {last}");
            }
        }
    }

    // Every listed extension, required: honoured, not 420.
    for ext in &supported {
        let extra = match ext.as_str() {
            "timer" => "Require: timer\r\nSupported: timer\r\nSession-Expires: 1800\r\n".to_owned(),
            // RFC 3891 §3: naming a dialog we do not have is answered 481 — the extension at work.
            "replaces" => {
                "Require: replaces\r\nReplaces: nosuch@x;to-tag=a;from-tag=b\r\n".to_owned()
            }
            other => format!("Require: {other}\r\n"),
        };
        let (branch, call_id) = raw.request("INVITE", &extra, SDP);
        let got = recv_all(&raw.sock, Duration::from_secs(5), |r| status_of(r) > 100);
        let first = got
            .iter()
            .find(|r| status_of(r) > 100)
            .unwrap_or_else(|| panic!("Require: {ext} unanswered"));
        assert!(status_of(first) != 420, "Require: {ext} refused: {first}");
        match ext.as_str() {
            "100rel" => {
                assert_eq!(status_of(first), 183, "{first}");
                assert!(header(first, "RSeq").is_some(), "reliable: {first}");
                assert!(header(first, "Require").is_some_and(|v| v.contains("100rel")));
            }
            "replaces" => assert_eq!(status_of(first), 481, "{first}"),
            _ => {}
        }
        if status_of(first) < 200 {
            raw.cancel(&branch, &call_id, None);
        } else {
            let tag = header(first, "To").and_then(|t| t.split("tag=").nth(1));
            let to = raw.to;
            let ack = format!(
                "ACK sip:12345@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch};rport\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:13800001234@{me}>;tag=t{}\r\n\
                 To: <sip:12345@{to}>;tag={}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\n\
                 Content-Length: 0\r\n\r\n",
                raw.n,
                tag.unwrap_or("")
            );
            raw.sock.send_to(ack.as_bytes(), to).unwrap();
        }
    }

    // And what is not listed is refused as such.
    raw.request("INVITE", "Require: foo, 100rel\r\n", SDP);
    let got = recv_all(&raw.sock, Duration::from_secs(3), |r| status_of(r) >= 200);
    let last = got.last().expect("answered");
    assert_eq!(status_of(last), 420, "{last}");
    assert_eq!(header(last, "Unsupported"), Some("foo"));
}
