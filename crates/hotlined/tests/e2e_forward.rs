//! Emergency linkage: a call to 110 never enters the 12345 queue; it goes straight out to the
//! emergency line named in the plan, through the gateway configured for that line's host.

mod support;

use std::net::SocketAddr;
use std::time::Duration;
use support::*;

#[test]
fn call_to_110_is_forwarded_to_the_emergency_line_not_queued() {
    let trunk_port = free_port();
    let trunk_rtp = RtpPeer::new();
    let trunk_media = trunk_rtp.port().to_string();
    // The emergency line's SBC, played by a SIPp answering scenario.
    let mut trunk = Sipp::spawn(
        SocketAddr::from(([127, 0, 0, 1], 9)), // unused in server mode; sipp wants a remote anyway
        &sipp_dir().join("seat_answer.xml"),
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &trunk_port.to_string(),
            "-key",
            "seat_rtp_port",
            &trunk_media,
        ],
    );
    let d = Daemon::start(Options {
        gateways: vec![(
            "emergency-trunk.invalid".into(),
            SocketAddr::from(([127, 0, 0, 1], trunk_port)),
        )],
        ..Options::default()
    });
    let caller_rtp = RtpPeer::new();
    let mut caller = dial(&d, "caller.xml", "110", caller_rtp.port(), 1500);
    let st = caller.wait(Duration::from_secs(30));
    assert!(
        st.success(),
        "caller failed:\n{}\n{}",
        caller.messages(),
        d.log()
    );
    assert!(
        trunk.wait(Duration::from_secs(10)).success(),
        "{}",
        trunk.messages()
    );
    assert!(
        trunk
            .messages()
            .contains("INVITE sip:110@emergency-trunk.invalid SIP/2.0"),
        "{}",
        trunk.messages()
    );
    d.wait_idle(Duration::from_secs(5));
    let records = d.call_records(1);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].route_mode.as_deref(), Some("emergency"));
    assert_eq!(records[0].end_reason, ticket::EndReason::CallerHangup);
    assert_eq!(records[0].seat, None);
    let st = d.status();
    assert!(
        st["queues"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["stats"]["offered"] == 0),
        "never queued: {st}"
    );
}
