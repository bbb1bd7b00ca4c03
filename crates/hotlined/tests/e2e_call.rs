//! The first call end to end: a SIPp seat registers with digest auth, a SIPp carrier dials 12345 with RTP,
//! and the test's own RTP sockets check the greeting, both directions of the relay, the BYEs and the record.

mod support;

use std::time::Duration;
use support::*;

#[test]
fn call_to_12345_hears_greeting_reaches_a_seat_and_audio_flows_both_ways() {
    let d = Daemon::start(Options::default());
    let caller_rtp = RtpPeer::new();
    let seat_rtp = RtpPeer::new();

    let mut seat = register_seat(&d, "1001", "seat_answer.xml", seat_rtp.port());

    let mut caller = dial(&d, "caller.xml", "12345", caller_rtp.port(), 4000);

    // The greeting arrives as early media; its source is the daemon's port for the caller leg.
    wait_for(
        Duration::from_secs(10),
        "the greeting's first packet",
        || !caller_rtp.packets().is_empty(),
    );
    let daemon_caller_leg = caller_rtp.packets()[0].from;
    // The caller talks all along (a constant A-law tone); the daemon only relays it once a seat answers.
    let talker = {
        let sock = caller_rtp.sock.clone();
        std::thread::spawn(move || send_tone(&sock, daemon_caller_leg, 8, 0x3c, 700))
    };

    wait_for(
        Duration::from_secs(20),
        "caller audio relayed to the seat",
        || seat_rtp.packets().iter().any(is_tone),
    );
    let daemon_seat_leg = seat_rtp.packets().iter().find(|p| is_tone(p)).unwrap().from;
    seat_rtp.send_tone(daemon_seat_leg, 0, 0x2a, 100);

    let st = caller.wait(Duration::from_secs(30));
    assert!(
        st.success(),
        "caller scenario failed:\n{}\n{}",
        caller.messages(),
        d.log()
    );
    drop(talker);

    // 1. The greeting: 20 ms G.711 frames in the caller's codec (PCMA, offered first), continuous
    //    sequence numbers and timestamps, marker on the first packet, one SSRC for the whole call.
    let got = caller_rtp.packets();
    let first_tone = got
        .iter()
        .position(is_tone)
        .expect("seat audio reached the caller");
    let prompt = &got[..first_tone];
    assert!(
        prompt.len() >= 300,
        "greeting ~6.3 s = ~317 frames, got {}",
        prompt.len()
    );
    assert!(
        prompt[0].marker,
        "first packet of a stream carries the marker"
    );
    assert!(prompt.iter().all(|p| p.pt == 8 && p.payload.len() == 160));
    let pairs: Vec<_> = prompt.windows(2).collect();
    let in_order = pairs
        .iter()
        .filter(|w| w[1].seq == w[0].seq.wrapping_add(1) && w[1].ts == w[0].ts.wrapping_add(160))
        .count();
    assert!(
        in_order * 100 >= pairs.len() * 99,
        "seq/ts continuity: {in_order}/{}",
        pairs.len()
    );
    let span = prompt[299].at.duration_since(prompt[0].at).as_secs_f64();
    assert!(
        (5.7..6.3).contains(&span),
        "300 frames should take ~5.98 s, took {span:.3} s"
    );
    let deltas: Vec<f64> = pairs
        .iter()
        .map(|w| w[1].at.duration_since(w[0].at).as_secs_f64() * 1000.0)
        .collect();
    let near = deltas.iter().filter(|d| (10.0..30.0).contains(*d)).count();
    assert!(
        near * 100 >= deltas.len() * 95,
        "95% of gaps within 20±10 ms: {near}/{}",
        deltas.len()
    );
    let ssrcs: std::collections::BTreeSet<u32> = got.iter().map(|p| p.ssrc).collect();
    assert_eq!(
        ssrcs.len(),
        1,
        "prompt → relay keeps one SSRC toward the caller"
    );

    // 2. Audio both ways: the caller's tone at the seat (transcoded to the seat's PCMU), the seat's at the caller.
    let at_seat = seat_rtp.packets().iter().filter(|p| is_tone(p)).count();
    assert!(at_seat >= 50, "caller → seat relayed packets: {at_seat}");
    let at_caller = got[first_tone..].iter().filter(|p| is_tone(p)).count();
    assert!(at_caller >= 80, "seat → caller: {at_caller} of 100 sent");

    // 3. Both legs got BYE: the caller's BYE was answered (scenario passed); the seat received ours.
    wait_for(Duration::from_secs(5), "BYE at the seat", || {
        seat.messages().contains("BYE sip:")
    });
    let _ = seat.child.kill();

    // 4. Exactly one call record, with what happened.
    d.wait_idle(Duration::from_secs(5));
    let records = d.call_records(1);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r.called, "12345");
    assert_eq!(r.caller, "13800001234");
    assert_eq!(r.seat.as_deref(), Some("1001"));
    assert_eq!(r.end_reason, ticket::EndReason::CallerHangup);
    assert!(r.answered_at_ms.is_some());
    assert!(
        r.wait_ms >= 6_000,
        "waited through the greeting: {}",
        r.wait_ms
    );
}

#[test]
fn caller_who_cancels_while_queued_gets_487_and_leaves_an_abandoned_record() {
    let d = Daemon::start(Options::default());
    let rtp = RtpPeer::new();
    // No seat is registered: after the 6.3 s greeting the caller waits in the queue, then gives up.
    let mut caller = dial(&d, "caller_cancel.xml", "12345", rtp.port(), 8000);
    let st = caller.wait(Duration::from_secs(30));
    assert!(
        st.success(),
        "cancel scenario failed:\n{}\n{}",
        caller.messages(),
        d.log()
    );
    // While queued the caller heard the hold prompt after the greeting.
    let pkts = rtp.packets();
    assert!(
        pkts.len() >= 350,
        "greeting + hold prompt frames: {}",
        pkts.len()
    );
    d.wait_idle(Duration::from_secs(5));
    let records = d.call_records(1);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].end_reason, ticket::EndReason::AbandonedInQueue);
    assert_eq!(records[0].seat, None);
    assert_eq!(records[0].caller, "13900005678");
}

#[test]
fn carrier_session_timer_is_accepted_and_an_offerless_refresh_is_answered() {
    let d = Daemon::start(Options::default());
    let seat_rtp = RtpPeer::new();
    let _seat = register_seat(&d, "1004", "seat_answer.xml", seat_rtp.port());
    let caller_rtp = RtpPeer::new();
    // The scenario itself checks Session-Expires in our 200 and an SDP in our answer to the refresh.
    let mut caller = dial(&d, "caller_refresh.xml", "12345", caller_rtp.port(), 1000);
    let st = caller.wait(Duration::from_secs(40));
    assert!(
        st.success(),
        "refresh scenario failed:\n{}\n{}",
        caller.messages(),
        d.log()
    );
    d.wait_idle(Duration::from_secs(5));
    assert_eq!(
        d.call_records(1)[0].end_reason,
        ticket::EndReason::CallerHangup
    );
}

#[test]
fn carrier_forwarded_call_is_routed_by_the_number_first_dialled() {
    let d = Daemon::start(Options::default());
    let rtp = RtpPeer::new();
    let port = free_port().to_string();
    let media = rtp.port().to_string();
    // 12396 was whole-merged into 12345 (Jiujiang annex row 15); after its transition period it goes
    // straight to the 12345 queue. The call arrives addressed to 12345 with a two-entry Diversion chain.
    let mut caller = Sipp::spawn(
        d.sip,
        &sipp_dir().join("caller_forwarded.xml"),
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
            "-key",
            "original",
            "12396",
            "-d",
            "1000",
        ],
    );
    let st = caller.wait(Duration::from_secs(30));
    assert!(st.success(), "{}\n{}", caller.messages(), d.log());
    d.wait_idle(Duration::from_secs(5));
    let r = &d.call_records(1)[0];
    assert_eq!(r.called, "12345");
    assert_eq!(
        r.original_called.as_deref(),
        Some("12396"),
        "the bottom Diversion entry"
    );
    assert_eq!(r.route_mode.as_deref(), Some("whole"));
    assert_eq!(r.department.as_deref(), Some("市科技局"));
}

#[test]
fn seat_registered_over_tcp_gets_its_call_down_that_connection() {
    let d = Daemon::start(Options::default());
    let seat_rtp = RtpPeer::new();
    let seat = register_seat_on(&d, "1006", "seat_answer.xml", seat_rtp.port(), "t1");
    let caller_rtp = RtpPeer::new();
    let mut caller = dial(&d, "caller.xml", "12345", caller_rtp.port(), 1000);
    let st = caller.wait(Duration::from_secs(30));
    assert!(st.success(), "{}\n{}", caller.messages(), d.log());
    assert!(
        seat.messages().contains("INVITE sip:1006@") && seat.messages().contains("SIP/2.0/TCP"),
        "the seat got the INVITE over TCP:\n{}",
        seat.messages()
    );
    d.wait_idle(Duration::from_secs(5));
    assert_eq!(d.call_records(1)[0].seat.as_deref(), Some("1006"));
}
