//! The one-key three-way transfer end to end: a SIPp carrier → the 12345 queue → an operator's seat that keys
//! `*2 8121135 #` as RFC 4733 telephone-events → a seat of the 医保 group `ybj` (SIPp). The test owns every
//! party's RTP socket, so it checks where each party's audio goes in each phase.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use support::*;

/// Voice, not the silence a mixer or relay fills with: a frame of one constant byte other than the G.711
/// silence codes.
fn is_voice(p: &Rtp) -> bool {
    is_tone(p) && !matches!(p.payload[0], 0xd5 | 0x55 | 0xff | 0x7f)
}

/// Did `peer` get voice (from `from`, the daemon's leg) after `since`?
fn heard_since(peer: &RtpPeer, since: Instant) -> bool {
    peer.packets().iter().any(|p| p.at >= since && is_voice(p))
}

/// RFC 4733 §2.3: each key as telephone-events (payload type 101, as our SDP offers it), three updates and
/// three end packets with one timestamp, 100 ms apart.
fn key_rfc4733(sock: &UdpSocket, to: SocketAddr, keys: &str) {
    let mut seq: u16 = 40_000;
    for (n, key) in keys.chars().enumerate() {
        let event: u8 = match key {
            '0'..='9' => key as u8 - b'0',
            '*' => 10,
            '#' => 11,
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

/// Send a constant tone from `peer` to `to` for `frames` × 20 ms, in the background: A-law (8) from the
/// caller (it offers PCMA first), μ-law (0) from seats (their answer puts PCMU first).
fn talk(peer: &RtpPeer, to: SocketAddr, byte: u8, frames: u16) -> std::thread::JoinHandle<()> {
    let sock = peer.sock.clone();
    let pt = if byte == 0x3c { 8 } else { 0 };
    std::thread::spawn(move || send_tone(&sock, to, pt, byte, frames))
}

/// The daemon's address for a leg: where its first packet to `peer` came from.
fn daemon_leg(peer: &RtpPeer, what: &str) -> SocketAddr {
    wait_for(Duration::from_secs(20), what, || !peer.packets().is_empty());
    peer.packets()[0].from
}

struct Parties {
    d: Daemon,
    caller: RtpPeer,
    operator: RtpPeer,
    dept: RtpPeer,
    caller_leg: SocketAddr,
    operator_leg: SocketAddr,
    caller_sipp: Sipp,
    _operator_sipp: Sipp,
}

/// A caller talking with operator 1001, the caller's tone relayed to the operator.
fn caller_with_operator(operator_scenario: &str, caller_talks_ms: u32) -> Parties {
    let d = Daemon::start(Options::default());
    let (caller, operator, dept) = (RtpPeer::new(), RtpPeer::new(), RtpPeer::new());
    let operator_sipp = register_seat(&d, "1001", operator_scenario, operator.port());
    let caller_sipp = dial(&d, "caller.xml", "12345", caller.port(), caller_talks_ms);
    let caller_leg = daemon_leg(&caller, "the greeting");
    // The caller sends its tone from the start; it is relayed once the operator answers.
    let _ = talk(&caller, caller_leg, 0x3c, 450);
    wait_for(
        Duration::from_secs(25),
        "caller audio at the operator",
        || operator.packets().iter().any(is_voice),
    );
    let operator_leg = operator
        .packets()
        .iter()
        .find(|p| is_voice(p))
        .unwrap()
        .from;
    Parties {
        d,
        caller,
        operator,
        dept,
        caller_leg,
        operator_leg,
        caller_sipp,
        _operator_sipp: operator_sipp,
    }
}

#[test]
fn one_key_transfer_mixes_three_then_leaves_caller_and_department_connected() {
    if !sipp_available() {
        panic!("sipp not found: apt-get install -y sip-tester (.ci/run does this)");
    }
    // The operator hangs up 16 s after answering; the caller talks 40 s in all.
    let mut p = caller_with_operator("seat_answer_then_bye.xml", 40_000);
    let answered = Instant::now();
    // The department's seat (group ybj) rings 5 s before it answers.
    let dept_sipp = register_seat(&p.d, "2001", "seat_answer_late.xml", p.dept.port());

    key_rfc4733(&p.operator.sock, p.operator_leg, "*28121135#");
    let keyed = Instant::now();

    // The caller hears the transfer prompt (a spoken prompt, not a tone) while the department rings.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.d.log().contains("answered leg=2") {
        assert!(
            Instant::now() < deadline,
            "the department never answered:\n{}\n{}",
            dept_sipp.messages(),
            p.d.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let rang = keyed.elapsed();
    assert!(
        rang >= Duration::from_secs(4) && rang < Duration::from_secs(12),
        "the department answered after its 5 s of ringing, took {rang:?}"
    );

    // Three-way phase. The caller talks alone: the department and the operator hear it.
    let t = Instant::now();
    let caller_talk = talk(&p.caller, p.caller_leg, 0x3c, 60);
    wait_for(
        Duration::from_secs(3),
        "caller's voice at the department",
        || heard_since(&p.dept, t),
    );
    let dept_leg = p.dept.packets().iter().find(|r| is_voice(r)).unwrap().from;
    wait_for(
        Duration::from_secs(3),
        "caller's voice at the operator",
        || heard_since(&p.operator, t),
    );
    caller_talk.join().unwrap();
    assert_eq!(
        p.d.status()["media"]["conferences"],
        1,
        "/status counts the three-way mix"
    );
    std::thread::sleep(Duration::from_millis(300));
    // The department talks alone: the caller and the operator hear it.
    let t = Instant::now();
    let dept_talk = talk(&p.dept, dept_leg, 0x2a, 60);
    wait_for(
        Duration::from_secs(3),
        "department's voice at the caller",
        || heard_since(&p.caller, t),
    );
    wait_for(
        Duration::from_secs(3),
        "department's voice at the operator",
        || heard_since(&p.operator, t),
    );
    dept_talk.join().unwrap();
    assert!(
        answered.elapsed() < Duration::from_secs(15),
        "the three-way checks ran before the operator's hang-up at 16 s"
    );

    // The operator hangs up 16 s after answering: caller and department stay, both ways.
    std::thread::sleep(Duration::from_secs(17).saturating_sub(answered.elapsed()));
    let t = Instant::now();
    let _ = talk(&p.caller, p.caller_leg, 0x3c, 100);
    let _ = talk(&p.dept, dept_leg, 0x2a, 100);
    wait_for(
        Duration::from_secs(4),
        "caller → department after the operator left",
        || heard_since(&p.dept, t),
    );
    wait_for(
        Duration::from_secs(4),
        "department → caller after the operator left",
        || heard_since(&p.caller, t),
    );
    let before = p.operator.packets().len();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        p.operator.packets().len() <= before + 2,
        "nothing goes to the operator who left"
    );
    assert_eq!(
        p.d.status()["media"]["conferences"],
        0,
        "the mix ended with the operator"
    );

    let st = p.caller_sipp.wait(Duration::from_secs(40));
    assert!(
        st.success(),
        "caller scenario failed:\n{}\n{}",
        p.caller_sipp.messages(),
        p.d.log()
    );
    // Supervisors see it on the wallboard and in /status.
    // (the page draws /wallboard/data's department rows: e2e_wallboard_page renders it in a browser)
    let board: serde_json::Value =
        serde_json::from_str(&p.d.http_get("/wallboard/data").unwrap_or_default())
            .unwrap_or_default();
    let dept = &board["transfers"]["市医保局"];
    assert_eq!(
        (
            &dept["attempts"],
            &dept["answered_within_target"],
            &dept["failed"]
        ),
        (&1.into(), &1.into(), &0.into()),
        "{board}"
    );
    assert_eq!(
        p.d.status()["transfers"]["市医保局"]["answered_within_target"],
        1
    );
    let rec = p.d.call_records(1).remove(0);
    assert_eq!(rec.seat.as_deref(), Some("1001"));
    assert_eq!(rec.transfers.len(), 1, "{rec:?}");
    let a = &rec.transfers[0];
    assert_eq!(a.target, "8121135");
    assert_eq!(a.department.as_deref(), Some("市医保局"));
    assert_eq!(a.outcome, ticket::record::TransferOutcome::Answered);
    assert!(a.answered_in_target(), "rang {} ms", a.ring_ms());
    assert!(
        (4_000..12_000).contains(&a.ring_ms()),
        "rang {} ms",
        a.ring_ms()
    );
    assert_eq!(rec.transfer_unanswered, None);
}

#[test]
fn a_transfer_not_answered_in_15_seconds_falls_back_to_the_operator_and_opens_a_ticket() {
    if !sipp_available() {
        panic!("sipp not found: apt-get install -y sip-tester (.ci/run does this)");
    }
    let mut p = caller_with_operator("seat_answer.xml", 30_000);
    let _dept_sipp = register_seat(&p.d, "2001", "seat_ring_until_cancel.xml", p.dept.port());
    key_rfc4733(&p.operator.sock, p.operator_leg, "*21#");
    let keyed = Instant::now();
    // While it rings the caller hears the transfer prompt instead of the operator.
    std::thread::sleep(Duration::from_secs(3));
    let t = Instant::now();
    let _ = talk(&p.operator, p.operator_leg, 0x2a, 50);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !p.caller.packets().iter().any(|r| r.at >= t && is_voice(r)),
        "the operator is not heard by the caller while the transfer rings"
    );
    // At 15 s the attempt falls back: operator and caller hear each other again.
    wait_for(Duration::from_secs(20), "15 s passed", || {
        keyed.elapsed() > Duration::from_millis(15_500)
    });
    let t = Instant::now();
    let _ = talk(&p.operator, p.operator_leg, 0x2a, 100);
    let _ = talk(&p.caller, p.caller_leg, 0x3c, 100);
    wait_for(
        Duration::from_secs(4),
        "operator → caller after the fallback",
        || heard_since(&p.caller, t),
    );
    wait_for(
        Duration::from_secs(4),
        "caller → operator after the fallback",
        || heard_since(&p.operator, t),
    );
    assert!(p.dept.packets().is_empty(), "the department never answered");

    let st = p.caller_sipp.wait(Duration::from_secs(40));
    assert!(
        st.success(),
        "caller scenario failed:\n{}\n{}",
        p.caller_sipp.messages(),
        p.d.log()
    );
    let board: serde_json::Value =
        serde_json::from_str(&p.d.http_get("/wallboard/data").unwrap_or_default())
            .unwrap_or_default();
    let dept = &board["transfers"]["市医保局"];
    assert_eq!(
        (
            &dept["attempts"],
            &dept["answered_within_target"],
            &dept["failed"]
        ),
        (&1.into(), &0.into(), &1.into()),
        "{board}"
    );
    let rec = p.d.call_records(1).remove(0);
    let a = &rec.transfers[0];
    assert_eq!(a.outcome, ticket::record::TransferOutcome::NoAnswer);
    assert!(!a.answered_in_target());
    assert!(
        (14_500..16_500).contains(&a.ring_ms()),
        "rang {} ms",
        a.ring_ms()
    );
    assert_eq!(rec.transfer_unanswered.as_deref(), Some("市医保局"));
    // The department gets a ticket for the unanswered transfer.
    wait_for(Duration::from_secs(10), "a ticket for 市医保局", || {
        p.d.api_get("/api/tickets")
            .is_some_and(|(code, body)| code == 200 && body.contains("市医保局"))
    });
}

fn have_pjsua2() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import pjsua2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The 16-bit PCM samples and the rate of a WAV file (what the softphone recorded).
fn wav_samples(path: &std::path::Path) -> (u32, Vec<i16>) {
    let b = std::fs::read(path).unwrap_or_default();
    let (mut rate, mut at) = (0u32, 12usize);
    while at + 8 <= b.len() {
        let id = &b[at..at + 4];
        let len = u32::from_le_bytes([b[at + 4], b[at + 5], b[at + 6], b[at + 7]]) as usize;
        let body = &b[at + 8..(at + 8 + len).min(b.len())];
        if id == b"fmt " && body.len() >= 8 {
            rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
        }
        if id == b"data" {
            let s = body
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            return (rate, s);
        }
        at += 8 + len + (len & 1);
    }
    (rate, Vec::new())
}

/// Mean absolute sample value in [from_s, to_s) of a recording.
fn level(rate: u32, s: &[i16], from_s: f64, to_s: f64) -> f64 {
    let (a, b) = (
        (from_s * rate as f64) as usize,
        (to_s * rate as f64) as usize,
    );
    let w = &s[a.min(s.len())..b.min(s.len())];
    if w.is_empty() {
        return 0.0;
    }
    w.iter().map(|x| f64::from(*x).abs()).sum::<f64>() / w.len() as f64
}

fn epoch_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

#[test]
fn a_pjsua2_operator_keys_the_transfer_hears_both_and_leaves_them_connected() {
    if !have_pjsua2() {
        eprintln!("SKIPPED: python module pjsua2 not installed (pip install pjsua2-python; .ci/run does this)");
        return;
    }
    let d = Daemon::start(Options::default());
    let (caller, dept) = (RtpPeer::new(), RtpPeer::new());
    let wav = d.dir.path().join("operator.wav");
    // Answers, keys *2 8121135 # 3 s after its media starts, hangs up 16 s after it.
    let (mut op, events) = pjsua2_operator(&d, &wav, "*28121135#", 3, 16);
    let event = |what: &str| event_at(&events, what);
    wait_for(Duration::from_secs(15), "PJSUA2 registered", || {
        event("REGISTERED").is_some()
    });
    d.wait_seat_available("1001");
    let _dept_sipp = register_seat(&d, "2001", "seat_answer_late.xml", dept.port());
    let mut caller_sipp = dial(&d, "caller.xml", "12345", caller.port(), 40_000);
    let caller_leg = daemon_leg(&caller, "the greeting");
    wait_for(Duration::from_secs(20), "the operator's media", || {
        event("MEDIA").is_some()
    });
    wait_for(Duration::from_secs(20), "the department's answer", || {
        p_log_has(&d, "answered leg=2")
    });
    let keyed = event("KEYED").expect("PJSUA2 keyed the transfer");
    assert!(
        d.log().contains("digit=#"),
        "the operator's keys reached the call"
    );

    // Three-way: the caller talks alone, a silent second, then the department talks alone.
    std::thread::sleep(Duration::from_millis(300));
    let caller_from = epoch_s();
    let t = Instant::now();
    talk(&caller, caller_leg, 0x3c, 60).join().unwrap();
    assert!(
        heard_since(&dept, t),
        "caller → department in the three-way call"
    );
    let dept_leg = dept.packets().iter().find(|r| is_voice(r)).unwrap().from;
    std::thread::sleep(Duration::from_secs(1));
    let quiet = (epoch_s() - 0.8, epoch_s() - 0.2);
    let dept_from = epoch_s();
    let t = Instant::now();
    talk(&dept, dept_leg, 0x2a, 60).join().unwrap();
    assert!(
        heard_since(&caller, t),
        "department → caller in the three-way call"
    );

    // The operator hangs up (16 s after its media): caller and department stay, both ways.
    wait_for(Duration::from_secs(20), "the operator's hang-up", || {
        event("DISCONNECTED").is_some()
    });
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let _ = talk(&caller, caller_leg, 0x3c, 100);
    let _ = talk(&dept, dept_leg, 0x2a, 100);
    wait_for(
        Duration::from_secs(4),
        "caller → department after the operator left",
        || heard_since(&dept, t),
    );
    wait_for(
        Duration::from_secs(4),
        "department → caller after the operator left",
        || heard_since(&caller, t),
    );
    let _ = op.wait();

    // What the operator heard, from its own recording: both others during the three-way call.
    let media = event("MEDIA").unwrap_or(keyed);
    let (rate, s) = wav_samples(&wav);
    assert!(
        rate > 0 && !s.is_empty(),
        "PJSUA2 recorded {}",
        wav.display()
    );
    let at = |t: f64| t - media;
    let heard_caller = level(rate, &s, at(caller_from) + 0.2, at(caller_from) + 1.0);
    let heard_dept = level(rate, &s, at(dept_from) + 0.2, at(dept_from) + 1.0);
    let silence = level(rate, &s, at(quiet.0), at(quiet.1));
    eprintln!("operator heard: caller {heard_caller:.0}, department {heard_dept:.0}, quiet {silence:.0} (rate {rate})");
    assert!(
        heard_caller > 4.0 * silence.max(10.0) && heard_dept > 4.0 * silence.max(10.0),
        "operator's recording: caller {heard_caller:.0}, department {heard_dept:.0}, quiet {silence:.0}"
    );

    let st = caller_sipp.wait(Duration::from_secs(40));
    assert!(
        st.success(),
        "caller scenario failed:\n{}",
        caller_sipp.messages()
    );
    let rec = d.call_records(1).remove(0);
    assert_eq!(rec.seat.as_deref(), Some("1001"));
    assert_eq!(rec.transfers.len(), 1, "{rec:?}");
    assert_eq!(
        rec.transfers[0].outcome,
        ticket::record::TransferOutcome::Answered
    );
    assert_eq!(rec.transfers[0].department.as_deref(), Some("市医保局"));
    assert!(rec.transfers[0].answered_in_target());
}

fn p_log_has(d: &Daemon, what: &str) -> bool {
    d.log().contains(what)
}

type Events = std::sync::Arc<std::sync::Mutex<Vec<(String, f64)>>>;

/// The PJSUA2 operator (`tests/pjsua2_operator.py`) registered as seat 1001; its events with their times.
fn pjsua2_operator(
    d: &Daemon,
    wav: &std::path::Path,
    keys: &str,
    key_after_s: u32,
    hangup_after_s: u32,
) -> (std::process::Child, Events) {
    use std::io::BufRead;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pjsua2_operator.py");
    let mut op = std::process::Command::new("timeout")
        .args(["100", "python3"])
        .arg(&script)
        .args([&d.sip.port().to_string(), "1001", "hotline-1001"])
        .arg(wav)
        .args([keys, &key_after_s.to_string(), &hangup_after_s.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3");
    let events: Events = Default::default();
    let out = op.stdout.take().unwrap();
    let ev = events.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if let Some((what, at)) = line.split_once(' ') {
                let at = at.trim().parse().unwrap_or(0.0);
                ev.lock().unwrap().push((what.to_string(), at));
            }
        }
    });
    (op, events)
}

fn event_at(events: &Events, what: &str) -> Option<f64> {
    events
        .lock()
        .unwrap()
        .iter()
        .find(|(w, _)| w == what)
        .map(|(_, at)| *at)
}

#[test]
fn a_blind_refer_from_pjsua2_to_an_outside_number_is_refused_and_to_the_plan_transfers_the_caller()
{
    if !have_pjsua2() {
        eprintln!("SKIPPED: python module pjsua2 not installed (pip install pjsua2-python; .ci/run does this)");
        return;
    }
    let d = Daemon::start(Options::default());
    let (caller, dept) = (RtpPeer::new(), RtpPeer::new());
    let wav = d.dir.path().join("operator.wav");
    // 3 s after its media: REFER to a mobile number (not in the plan), then to 医保 8121135.
    let (mut op, events) = pjsua2_operator(&d, &wav, "refer:008613800000000,8121135", 3, 40);
    let event = |what: &str| event_at(&events, what);
    wait_for(Duration::from_secs(15), "PJSUA2 registered", || {
        event("REGISTERED").is_some()
    });
    d.wait_seat_available("1001");
    let _dept_sipp = register_seat(&d, "2001", "seat_answer_late.xml", dept.port());
    let mut caller_sipp = dial(&d, "caller.xml", "12345", caller.port(), 30_000);
    let caller_leg = daemon_leg(&caller, "the greeting");
    // No toll fraud through transfers: the outside number gets 404 and nothing is dialled for it.
    wait_for(
        Duration::from_secs(25),
        "the refusal of the outside number",
        || event("XFER404").is_some(),
    );
    // The second REFER rings the department; its answer is reported (NOTIFY 200) and the softphone leaves.
    wait_for(
        Duration::from_secs(15),
        "NOTIFY 200 at the softphone",
        || event("XFER200").is_some(),
    );
    wait_for(Duration::from_secs(5), "the operator leaving", || {
        event("DISCONNECTED").is_some()
    });
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let _ = talk(&caller, caller_leg, 0x3c, 100);
    wait_for(
        Duration::from_secs(4),
        "caller → department after the REFER",
        || heard_since(&dept, t),
    );
    let dept_leg = dept.packets().iter().find(|r| is_voice(r)).unwrap().from;
    let t = Instant::now();
    let _ = talk(&dept, dept_leg, 0x2a, 100);
    wait_for(
        Duration::from_secs(4),
        "department → caller after the REFER",
        || heard_since(&caller, t),
    );
    let st = caller_sipp.wait(Duration::from_secs(40));
    assert!(
        st.success(),
        "caller scenario failed:\n{}",
        caller_sipp.messages()
    );
    let _ = op.kill();
    let rec = d.call_records(1).remove(0);
    assert_eq!(
        rec.transfers.len(),
        1,
        "only the plan's target was dialled: {rec:?}"
    );
    assert_eq!(rec.transfers[0].target, "8121135");
    assert_eq!(
        rec.transfers[0].outcome,
        ticket::record::TransferOutcome::Answered
    );
    assert_eq!(
        rec.transfers[0].ended_by,
        Some(ticket::record::TransferEndedBy::Operator)
    );
}

/// INVITE requests a SIPp peer received (its `-trace_msg` log).
fn invites_received(sipp: &Sipp) -> usize {
    sipp.messages()
        .lines()
        .filter(|l| l.starts_with("INVITE sip:"))
        .count()
}

#[test]
fn a_pjsua2_operator_consults_the_department_then_joins_it_with_the_caller_by_refer_with_replaces()
{
    if !have_pjsua2() {
        eprintln!("SKIPPED: python module pjsua2 not installed (pip install pjsua2-python; .ci/run does this)");
        return;
    }
    let d = Daemon::start(Options::default());
    let (caller, dept) = (RtpPeer::new(), RtpPeer::new());
    let wav = d.dir.path().join("operator.wav");
    // The softphone reports wall-clock times, the RTP peers monotonic ones.
    let clock = (Instant::now(), epoch_s());
    // 3 s after its media: hold, consult call to 12348 (司法, seats:sfj), 2 s of talk once it answers, then
    // REFER with Replaces; the softphone would hang up what is left 2 s after the NOTIFY 200.
    let (mut op, events) = pjsua2_operator(&d, &wav, "attended:12348:2", 3, 60);
    let event = |what: &str| event_at(&events, what);
    // Bounded waits that show the daemon's log and the softphone's events when they run out.
    let wait = |secs: u64, what: &str, f: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}\n{:?}",
                d.log(),
                events.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait(15, "PJSUA2 registered", &|| event("REGISTERED").is_some());
    d.wait_seat_available("1001");
    // The department's seat 2002 (group sfj) rings 5 s before it answers.
    let dept_sipp = register_seat(&d, "2002", "seat_answer_late.xml", dept.port());
    let mut caller_sipp = dial(&d, "caller.xml", "12345", caller.port(), 40_000);
    let caller_leg = daemon_leg(&caller, "the greeting");
    wait(20, "the operator's media", &|| event("MEDIA").is_some());
    wait(15, "the consult answered", &|| {
        event("CONSULT_CONFIRMED").is_some()
    });
    let consulting = event("CONSULTING").expect("the softphone placed the consult call");
    let answered = event("CONSULT_CONFIRMED").unwrap_or_default();
    assert!(
        (4.0..12.0).contains(&(answered - consulting)),
        "the department rang its 5 s: {:.1} s",
        answered - consulting
    );
    // Meanwhile the caller, held by the softphone, heard the hold prompt (speech), not silence.
    wait(10, "the REFER", &|| event("REFERRED").is_some());
    let at = |t: f64| clock.0 + Duration::from_secs_f64((t - clock.1).max(0.0));
    let (from, to) = (
        at(consulting + 1.0),
        at(event("REFERRED").unwrap_or_default() - 0.2),
    );
    let prompt = caller
        .packets()
        .iter()
        .filter(|p| p.at >= from && p.at < to && !is_tone(p))
        .count();
    assert!(prompt > 25, "{prompt} prompt frames at the held caller");
    assert!(
        d.log().contains("consult call"),
        "the seat's INVITE was taken as a consult call:\n{}",
        d.log()
    );
    // The transfer: NOTIFY 200 at the softphone, both its calls ended by the daemon's BYEs.
    wait(10, "NOTIFY 200 at the softphone", &|| {
        event("XFER200").is_some()
    });
    wait(5, "the operator's calls ending", &|| {
        event("DISCONNECTED").is_some() && event("CONSULT_DISCONNECTED").is_some()
    });
    // The softphone would hang up 2 s after the NOTIFY whatever is still up: nothing was.
    std::thread::sleep(Duration::from_millis(2_500));
    assert!(
        event("HUNG_UP").is_none() && event("CONSULT_HUNG_UP").is_none(),
        "the daemon hung up both operator legs itself"
    );

    // Caller and department talk, both ways, on the department's first and only dialog.
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let _ = talk(&caller, caller_leg, 0x3c, 100);
    wait_for(
        Duration::from_secs(4),
        "caller → department after the join",
        || heard_since(&dept, t),
    );
    let dept_leg = dept
        .packets()
        .iter()
        .find(|r| r.at >= t && is_voice(r))
        .unwrap()
        .from;
    let t = Instant::now();
    let _ = talk(&dept, dept_leg, 0x2a, 100);
    wait_for(
        Duration::from_secs(4),
        "department → caller after the join",
        || heard_since(&caller, t),
    );
    assert_eq!(
        invites_received(&dept_sipp),
        1,
        "the department was rung once"
    );
    let rang = d
        .log()
        .lines()
        .filter(|l| l.contains("ringing") && l.contains("seat: \"2002\""))
        .count();
    assert_eq!(rang, 1, "{}", d.log());

    let st = caller_sipp.wait(Duration::from_secs(45));
    assert!(
        st.success(),
        "caller scenario failed:\n{}",
        caller_sipp.messages()
    );
    let _ = op.kill();
    d.wait_idle(Duration::from_secs(10));
    // One record (the consult call writes none), with the attended attempt in it.
    let recs = d.call_records(1);
    assert_eq!(recs.len(), 1, "{recs:?}");
    let rec = &recs[0];
    assert_eq!(rec.seat.as_deref(), Some("1001"));
    assert_eq!(rec.end_reason, ticket::EndReason::CallerHangup);
    assert_eq!(rec.transfers.len(), 1, "{rec:?}");
    let a = &rec.transfers[0];
    assert_eq!(a.kind, Some(ticket::TransferKind::Attended));
    assert_eq!(a.target, "12348");
    assert_eq!(a.department.as_deref(), Some("市司法局"));
    assert_eq!(a.outcome, ticket::record::TransferOutcome::Answered);
    assert_eq!(a.ended_by, Some(ticket::record::TransferEndedBy::Operator));
    assert!(a.answered_in_target(), "rang {} ms", a.ring_ms());
    assert!(
        (4_000..12_000).contains(&a.ring_ms()),
        "rang {} ms",
        a.ring_ms()
    );
    assert_eq!(rec.transfer_unanswered, None);
    // The transfer is on the wallboard's department row like any answered one.
    assert_eq!(
        d.status()["transfers"]["市司法局"]["answered_within_target"],
        1
    );
}
