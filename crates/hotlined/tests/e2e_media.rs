//! Media end to end: RFC 4733 digits from SIPp reach the call (and its record); a seat's hold/resume
//! re-INVITEs leave the caller's audio path working.

mod support;

use std::time::{Duration, Instant};
use support::*;

#[test]
fn rfc4733_digits_from_sipp_arrive_in_the_call_record() {
    let d = Daemon::start(Options::default());
    let mut caller = dial_with_sipp_media(&d, "caller_dtmf.xml", "12345");
    let st = caller.wait(Duration::from_secs(30));
    assert!(
        st.success(),
        "dtmf scenario failed:\n{}\n{}",
        caller.messages(),
        d.log()
    );
    d.wait_idle(Duration::from_secs(5));
    let records = d.call_records(1);
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].digits, "12#",
        "each digit once, despite the retransmitted end packets"
    );
    assert_eq!(records[0].end_reason, ticket::EndReason::Cancelled);
}

#[test]
fn seat_hold_and_resume_keep_the_audio_path() {
    let d = Daemon::start(Options::default());
    let caller_rtp = RtpPeer::new();
    let seat_rtp = RtpPeer::new();
    let seat = register_seat(&d, "1003", "seat_hold.xml", seat_rtp.port());
    let mut caller = dial(&d, "caller.xml", "12345", caller_rtp.port(), 7000);
    wait_for(Duration::from_secs(10), "greeting", || {
        !caller_rtp.packets().is_empty()
    });
    let daemon_caller_leg = caller_rtp.packets()[0].from;
    let sock = caller_rtp.sock.clone();
    let talker = std::thread::spawn(move || send_tone(&sock, daemon_caller_leg, 8, 0x3c, 900));

    wait_for(Duration::from_secs(20), "caller audio at the seat", || {
        seat_rtp.packets().iter().any(is_tone)
    });
    let daemon_seat_leg = seat_rtp.packets().iter().find(|p| is_tone(p)).unwrap().from;
    // The seat holds after 1 s and resumes 1 s later: wait for the resume to be answered.
    wait_for(Duration::from_secs(10), "hold and resume answered", || {
        seat.messages().matches("CSeq: 102 INVITE").count() >= 2
    });
    assert!(
        seat.messages().contains("a=recvonly"),
        "hold answered with recvonly"
    );
    let resumed_at = Instant::now();
    seat_rtp.send_tone(daemon_seat_leg, 0, 0x2a, 100);

    let st = caller.wait(Duration::from_secs(30));
    assert!(
        st.success(),
        "caller failed:\n{}\n{}",
        caller.messages(),
        d.log()
    );
    let _ = talker.join();
    let to_caller_after = caller_rtp
        .packets()
        .iter()
        .filter(|p| p.at > resumed_at && is_tone(p))
        .count();
    assert!(
        to_caller_after >= 80,
        "seat → caller after resume: {to_caller_after} of 100"
    );
    let to_seat_after = seat_rtp
        .packets()
        .iter()
        .filter(|p| p.at > resumed_at && is_tone(p))
        .count();
    assert!(
        to_seat_after >= 50,
        "caller → seat after resume: {to_seat_after}"
    );
    d.wait_idle(Duration::from_secs(5));
    let records = d.call_records(1);
    assert_eq!(records[0].seat.as_deref(), Some("1003"));
}

#[test]
fn voice_menu_key_9_reaches_the_supervision_desk_queue() {
    // Jingjiang splits 12345 into lines 1, 2 and 9; key 9 is the supervision desk.
    let d = Daemon::start(Options {
        dialplan: Some(repo().join("dialplans/jingjiang")),
        ..Options::default()
    });
    let mut caller = dial_with_sipp_media(&d, "caller_menu9.xml", "12345");
    let st = caller.wait(Duration::from_secs(30));
    assert!(
        st.success(),
        "menu scenario failed:\n{}\n{}",
        caller.messages(),
        d.log()
    );
    d.wait_idle(Duration::from_secs(5));
    let status = d.status();
    let offered = |name: &str| {
        status["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == name)
            .map(|q| q["stats"]["offered"].as_u64().unwrap())
    };
    assert_eq!(offered("supervision"), Some(1), "{status}");
    assert_eq!(offered("line1"), Some(0), "{status}");
    let records = d.call_records(1);
    assert_eq!(records[0].digits, "9");
    assert_eq!(records[0].end_reason, ticket::EndReason::AbandonedInQueue);
}
