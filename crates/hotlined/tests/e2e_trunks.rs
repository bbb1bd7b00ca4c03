//! Trunk gateways with health and failover (issue 13 item 5), with SIPp playing two carrier SBCs on
//! 127.0.0.1 in the emergency pool: a gateway that stops answering OPTIONS is marked down and a 110
//! call goes to the second; a 503 from the first gateway while the call is set up fails over to the
//! second. And the caller's identity (RFC 3325/3323): `Privacy: id` keeps the record's number masked
//! and presents the caller to the seat as anonymous.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::*;

/// A SIPp gateway (`gateway.xml` or `gateway_503.xml`) on a port of its own, its media on `rtp`.
fn gateway(scenario: &str, port: u16, rtp: &RtpPeer) -> Sipp {
    let (port, media, mp) = (
        port.to_string(),
        rtp.port().to_string(),
        free_port().to_string(),
    );
    Sipp::spawn(
        SocketAddr::from(([127, 0, 0, 1], 9)), // server mode: the remote is never used
        &sipp_dir().join(scenario),
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-mp",
            &mp,
            "-key",
            "gw_rtp_port",
            &media,
            "-m",
            "100000", // every OPTIONS is a "call" of its own: never stop on a count
        ],
    )
}

/// `[[trunks.gateway]]` entries for the example plan's emergency line (`emergency-trunk.invalid`):
/// probed every second, down after 2 lost probes (500 ms each).
fn pool(gateways: &[(&str, u16, u32)]) -> String {
    pool_with(gateways, 4)
}

fn pool_with(gateways: &[(&str, u16, u32)], max_channels: u32) -> String {
    pool_extra(gateways, max_channels, "")
}

/// `extra`: TOML lines added to every entry.
fn pool_extra(gateways: &[(&str, u16, u32)], max_channels: u32, extra: &str) -> String {
    let mut t = String::from("asserted_identity = \"sip:12345@hotline.example\"\n");
    for (name, port, priority) in gateways {
        t += &format!(
            "[[trunks.gateway]]\nname = \"{name}\"\naddress = \"127.0.0.1:{port}\"\n\
             transport = \"udp\"\ntargets = [\"emergency-trunk.invalid\"]\npriority = {priority}\n\
             probe_interval_s = 1\nprobe_timeout_ms = 500\nfailure_threshold = 2\n\
             recovery_threshold = 1\nmax_channels = {max_channels}\n{extra}"
        );
    }
    t
}

fn gateway_state(d: &Daemon, name: &str) -> serde_json::Value {
    d.status()["gateways"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["name"] == name)
        .cloned()
        .unwrap_or_default()
}

fn wait_gateway(d: &Daemon, name: &str, state: &str, within: Duration) -> Duration {
    let start = Instant::now();
    wait_for(within, &format!("{name} {state}"), || {
        gateway_state(d, name)["state"] == state
    });
    start.elapsed()
}

#[test]
fn a_gateway_that_stops_answering_options_is_marked_down_and_110_goes_to_the_second() {
    let (p1, p2) = (free_port(), free_port());
    let (rtp1, rtp2) = (RtpPeer::new(), RtpPeer::new());
    let mut first = gateway("gateway.xml", p1, &rtp1);
    let mut second = gateway("gateway.xml", p2, &rtp2);
    let d = Daemon::start(Options {
        trunks_extra: pool(&[("sbc-a", p1, 1), ("sbc-b", p2, 2)]),
        ..Options::default()
    });
    wait_gateway(&d, "sbc-a", "up", Duration::from_secs(5));
    wait_gateway(&d, "sbc-b", "up", Duration::from_secs(5));

    // The first SBC dies: after interval × threshold (+ the last probe's timeout) it is down.
    first.child.kill().unwrap();
    let took = wait_gateway(&d, "sbc-a", "down", Duration::from_secs(6));
    eprintln!("sbc-a down {took:?} after its SIPp was stopped");
    assert!(took < Duration::from_millis(3_500), "down after {took:?}");
    let a = gateway_state(&d, "sbc-a");
    assert!(a["probes_failed"].as_u64() >= Some(2), "{a}");
    assert_eq!(gateway_state(&d, "sbc-b")["state"], "up");
    wait_for(Duration::from_secs(3), "gateway gauges", || {
        d.http_get("/metrics")
            .unwrap_or_default()
            .contains("hotline_gateway_state{gateway=\"sbc-a\",state=\"down\"} 1")
    });

    // An emergency call goes to the second gateway and completes there.
    let caller_rtp = RtpPeer::new();
    let mut caller = dial(&d, "caller.xml", "110", caller_rtp.port(), 1500);
    let st = caller.wait(Duration::from_secs(30));
    assert!(st.success(), "caller:\n{}\n{}", caller.messages(), d.log());
    d.wait_idle(Duration::from_secs(5));
    let seen = second.messages();
    assert!(
        seen.contains("INVITE sip:110@emergency-trunk.invalid SIP/2.0"),
        "{seen}"
    );
    assert!(
        seen.contains("BYE sip:"),
        "the call completed there: {seen}"
    );
    assert!(
        seen.contains("P-Asserted-Identity: <sip:12345@hotline.example>"),
        "our identity towards the trunk: {seen}"
    );
    assert!(
        !first.messages().contains("INVITE sip:110"),
        "the down gateway got no INVITE"
    );
    let r = &d.call_records(1)[0];
    assert_eq!(r.route_mode.as_deref(), Some("emergency"));
    assert_eq!(r.end_reason, ticket::EndReason::CallerHangup);
    assert_eq!(
        gateway_state(&d, "sbc-b")["channels_in_use"],
        0,
        "channel released"
    );
    let _ = second.child.kill();
}

#[test]
fn a_503_from_the_first_gateway_during_call_setup_fails_over_to_the_second() {
    let (p1, p2) = (free_port(), free_port());
    let (rtp1, rtp2) = (RtpPeer::new(), RtpPeer::new());
    let first = gateway("gateway_503.xml", p1, &rtp1);
    let mut second = gateway("gateway.xml", p2, &rtp2);
    let d = Daemon::start(Options {
        trunks_extra: pool(&[("sbc-a", p1, 1), ("sbc-b", p2, 2)]),
        ..Options::default()
    });
    wait_gateway(&d, "sbc-a", "up", Duration::from_secs(5));
    wait_gateway(&d, "sbc-b", "up", Duration::from_secs(5));

    let caller_rtp = RtpPeer::new();
    let mut caller = dial(&d, "caller.xml", "110", caller_rtp.port(), 1500);
    let st = caller.wait(Duration::from_secs(30));
    assert!(st.success(), "caller:\n{}\n{}", caller.messages(), d.log());
    d.wait_idle(Duration::from_secs(5));
    let refused = first.messages();
    assert!(
        refused.contains("INVITE sip:110@emergency-trunk.invalid SIP/2.0")
            && refused.contains("SIP/2.0 503 Service Unavailable")
            && refused.contains("ACK sip:110@"),
        "the first gateway was tried and refused: {refused}"
    );
    let seen = second.messages();
    assert!(
        seen.contains("INVITE sip:110@emergency-trunk.invalid SIP/2.0")
            && seen.contains("BYE sip:"),
        "the second gateway took the call: {seen}"
    );
    // The caller saw one call: the 503 never reached it.
    assert!(
        !caller.messages().contains("SIP/2.0 503"),
        "{}",
        caller.messages()
    );
    let r = &d.call_records(1)[0];
    assert_eq!(r.end_reason, ticket::EndReason::CallerHangup);
    // The 503 made sbc-a suspect; probed at once, it answers and is up again.
    wait_gateway(&d, "sbc-a", "up", Duration::from_secs(5));
    let st = d.status();
    assert!(
        st["gateways"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["channels_in_use"] == 0),
        "{st}"
    );
    let _ = second.child.kill();
}

#[test]
fn a_gateway_that_never_answers_the_invite_is_failed_over_after_the_transaction_timeout() {
    let (p1, p2) = (free_port(), free_port());
    let (rtp1, rtp2) = (RtpPeer::new(), RtpPeer::new());
    let first = gateway("gateway_silent.xml", p1, &rtp1);
    let mut second = gateway("gateway.xml", p2, &rtp2);
    let d = Daemon::start(Options {
        trunks_extra: pool(&[("sbc-a", p1, 1), ("sbc-b", p2, 2)]),
        ..Options::default()
    });
    wait_gateway(&d, "sbc-a", "up", Duration::from_secs(5));
    wait_gateway(&d, "sbc-b", "up", Duration::from_secs(5));
    let started = Instant::now();
    let caller_rtp = RtpPeer::new();
    let mut caller = dial(&d, "caller.xml", "110", caller_rtp.port(), 500);
    let st = caller.wait(Duration::from_secs(50));
    assert!(st.success(), "caller:\n{}\n{}", caller.messages(), d.log());
    let took = started.elapsed();
    eprintln!("the call completed on the second gateway {took:?} after it started");
    // Timer B (64·T1 = 32 s) ends the first attempt with 408; the second gateway answers at once.
    assert!(took >= Duration::from_secs(32), "{took:?}");
    assert!(
        first.messages().contains("INVITE sip:110@"),
        "{}",
        first.messages()
    );
    let seen = second.messages();
    assert!(
        seen.contains("INVITE sip:110@") && seen.contains("BYE sip:"),
        "{seen}"
    );
    d.wait_idle(Duration::from_secs(5));
    assert_eq!(
        d.call_records(1)[0].end_reason,
        ticket::EndReason::CallerHangup
    );
    let _ = second.child.kill();
}

#[test]
fn with_invite_timeout_ms_a_silent_gateway_is_failed_over_within_it() {
    let (p1, p2) = (free_port(), free_port());
    let (rtp1, rtp2) = (RtpPeer::new(), RtpPeer::new());
    let first = gateway("gateway_silent.xml", p1, &rtp1);
    let mut second = gateway("gateway.xml", p2, &rtp2);
    let d = Daemon::start(Options {
        trunks_extra: pool_extra(
            &[("sbc-a", p1, 1), ("sbc-b", p2, 2)],
            4,
            "invite_timeout_ms = 2000\n",
        ),
        ..Options::default()
    });
    wait_gateway(&d, "sbc-a", "up", Duration::from_secs(5));
    wait_gateway(&d, "sbc-b", "up", Duration::from_secs(5));
    let started = Instant::now();
    let caller_rtp = RtpPeer::new();
    let mut caller = dial(&d, "caller.xml", "110", caller_rtp.port(), 500);
    let st = caller.wait(Duration::from_secs(50));
    assert!(st.success(), "caller:\n{}\n{}", caller.messages(), d.log());
    let took = started.elapsed();
    eprintln!("with invite_timeout_ms = 2000 the call completed {took:?} after it started");
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert!(
        first.messages().contains("INVITE sip:110@"),
        "{}",
        first.messages()
    );
    let seen = second.messages();
    assert!(
        seen.contains("INVITE sip:110@") && seen.contains("BYE sip:"),
        "{seen}"
    );
    assert_eq!(
        d.call_records(1)[0].end_reason,
        ticket::EndReason::CallerHangup
    );
    // The first gateway's INVITE is still followed (cancelled once it answers, or until Timer B);
    // the call itself is over.
    let _ = second.child.kill();
}

#[test]
fn a_gateway_at_its_channel_limit_is_skipped_by_the_next_call() {
    let (p1, p2) = (free_port(), free_port());
    let (rtp1, rtp2) = (RtpPeer::new(), RtpPeer::new());
    let mut first = gateway("gateway.xml", p1, &rtp1);
    let mut second = gateway("gateway.xml", p2, &rtp2);
    let d = Daemon::start(Options {
        trunks_extra: pool_with(&[("sbc-a", p1, 1), ("sbc-b", p2, 2)], 1),
        ..Options::default()
    });
    wait_gateway(&d, "sbc-a", "up", Duration::from_secs(5));
    wait_gateway(&d, "sbc-b", "up", Duration::from_secs(5));
    // The first call holds sbc-a's one channel for 4 s; the second comes meanwhile.
    let (r1, r2) = (RtpPeer::new(), RtpPeer::new());
    let mut long = dial(&d, "caller.xml", "110", r1.port(), 4000);
    wait_for(Duration::from_secs(5), "sbc-a busy", || {
        gateway_state(&d, "sbc-a")["channels_in_use"] == 1
    });
    let mut short = dial(&d, "caller.xml", "110", r2.port(), 500);
    let st = short.wait(Duration::from_secs(30));
    assert!(st.success(), "{}\n{}", short.messages(), d.log());
    assert!(
        long.wait(Duration::from_secs(30)).success(),
        "{}",
        long.messages()
    );
    d.wait_idle(Duration::from_secs(5));
    let count = |s: &Sipp| s.messages().matches("INVITE sip:110@").count();
    assert_eq!((count(&first), count(&second)), (1, 1), "one call each");
    assert_eq!(d.call_records(2).len(), 2);
    let _ = (first.child.kill(), second.child.kill());
}

#[test]
fn privacy_id_keeps_the_number_masked_and_the_seat_sees_an_anonymous_caller() {
    let d = Daemon::start(Options::default());
    let seat_rtp = RtpPeer::new();
    let mut seat = register_seat(&d, "1001", "seat_answer.xml", seat_rtp.port());
    // The carrier asserts the caller's number (RFC 3325), the caller asked for privacy, and the call
    // was forwarded from 12396 (History-Info, RFC 7044: no Diversion).
    let text = std::fs::read_to_string(sipp_dir().join("caller.xml"))
        .unwrap()
        .replacen(
            "Max-Forwards: 70\n      Content-Type",
            "Max-Forwards: 70\n      P-Asserted-Identity: <sip:13812341234@carrier.example>\n      \
             Privacy: id\n      History-Info: <sip:12396@[remote_ip]>;index=1, \
             <sip:12345@[remote_ip]>;index=1.1\n      Content-Type",
            1,
        );
    assert!(text.contains("Privacy: id"));
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("caller_private.xml");
    std::fs::write(&scenario, text).unwrap();
    let (port, rtp) = (free_port().to_string(), RtpPeer::new());
    let media = rtp.port().to_string();
    let mut caller = Sipp::spawn(
        d.sip,
        &scenario,
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-s",
            "12345",
            "-key",
            "caller_rtp_port",
            &media,
            "-d",
            "1000",
        ],
    );
    let st = caller.wait(Duration::from_secs(40));
    assert!(st.success(), "{}\n{}", caller.messages(), d.log());
    d.wait_idle(Duration::from_secs(5));
    let r = &d.call_records(1)[0];
    assert_eq!(r.seat.as_deref(), Some("1001"), "a seat answered");
    assert_eq!(r.caller, "138****1234", "the asserted number, masked");
    assert_eq!(
        r.original_called.as_deref(),
        Some("12396"),
        "from History-Info"
    );
    let _ = seat.child.kill();
    let seen = seat.messages();
    assert!(
        seen.contains("From: \"Anonymous\" <sip:anonymous@anonymous.invalid>"),
        "{seen}"
    );
    assert!(
        !seen.contains("13812341234") && !seen.contains("13800001234"),
        "no number reaches the seat: {seen}"
    );
}
