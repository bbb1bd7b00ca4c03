//! The answer policy with real peers (issue 13): under the default a carrier call is answered by the system
//! before the greeting, waits in the queue answered (audio both ways, no carrier no-answer timer running) and
//! reaches a seat; in early-media mode `early_media_max_s` answers a call nobody picked up.

mod support;

use media::sdp::Codec;
use media::Prompt;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use support::*;

/// The prompt's frames as both G.711 laws would carry them, silent frames left out.
fn frames_of(prompt: &str) -> HashSet<Vec<u8>> {
    let p = Prompt::load_wav(&repo().join("dialplans/prompts").join(prompt)).expect("prompt");
    let mut out = HashSet::new();
    for i in 0..p.frame_count() {
        for codec in [Codec::Pcma, Codec::Pcmu] {
            if let Some(f) = p.frame(codec, i) {
                let f = f.to_vec();
                if f.iter().any(|&b| b != f[0]) {
                    out.insert(f);
                }
            }
        }
    }
    out
}

/// The first arrival of a frame of `frames`, and how many arrived.
fn heard(packets: &[Rtp], frames: &HashSet<Vec<u8>>) -> (Option<Instant>, usize) {
    let hits: Vec<&Rtp> = packets
        .iter()
        .filter(|p| frames.contains(&p.payload))
        .collect();
    (hits.first().map(|p| p.at), hits.len())
}

/// Frames of one constant byte that is not G.711 silence (A-law 0x55/0xd5, µ-law 0xff/0x7f): a party's
/// tone, possibly transcoded, never a prompt or comfort silence.
fn is_talk(p: &Rtp) -> bool {
    is_tone(p) && ![0x55, 0xd5, 0xff, 0x7f].contains(&p.payload[0])
}

/// A party that talks (a constant tone of `byte`) towards wherever the daemon's audio comes from, for
/// `frames` × 20 ms, once the daemon has sent it something (within `wait`).
fn talk_back(peer: &RtpPeer, byte: u8, frames: u16, wait: Duration) -> std::thread::JoinHandle<()> {
    let sock = peer.sock.clone();
    let got = peer.got.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + wait;
        let from = loop {
            if let Some(p) = got.lock().unwrap().first() {
                break Some((p.from, p.pt));
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // In the codec the daemon chose for this leg.
        if let Some((to, pt)) = from {
            send_tone(&sock, to, pt, byte, frames);
        }
    })
}

const WAIT_S: u64 = 90;

#[test]
fn a_caller_waiting_90_s_is_answered_before_the_greeting_hears_greeting_and_hold_then_reaches_a_seat(
) {
    let d = Daemon::start(Options {
        answer_first: true,
        ..Options::default()
    });
    let caller_rtp = RtpPeer::new();
    let seat_rtp = RtpPeer::new();
    let media = caller_rtp.port().to_string();
    let port = free_port().to_string();
    let sipp_media = free_port().to_string();
    let pause = ((WAIT_S + 10) * 1000).to_string();
    let dialled = Instant::now();
    // 200 within 2 s and no 18x before it (caller_answered_first.xml), then 100 s on the line.
    let mut caller = Sipp::spawn(
        d.sip,
        &sipp_dir().join("caller_answered_first.xml"),
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
            &pause,
            "-timeout",
            "150s",
            "-mp",
            &sipp_media,
        ],
    );
    // The caller's audio for the whole call: longer than media_timeout_s (60 s) in the queue.
    let talking = talk_back(
        &caller_rtp,
        0x3c,
        (WAIT_S as u16 + 16) * 50,
        Duration::from_secs(10),
    );
    // Nobody is there for 90 s.
    std::thread::sleep(Duration::from_secs(WAIT_S).saturating_sub(dialled.elapsed()));
    assert_eq!(
        d.status()["calls"]["active"],
        1,
        "still waiting, answered:\n{}\n{}",
        caller.messages(),
        d.log()
    );
    // The seat registers and takes the waiting call at once (register_seat would wait for it to be ready).
    let (seat_port, seat_media) = (free_port().to_string(), seat_rtp.port().to_string());
    let seat_sipp_media = free_port().to_string();
    let ooc = sipp_dir().join("seat_answer.xml");
    let _seat = Sipp::spawn(
        d.sip,
        &sipp_dir().join("seat_register.xml"),
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &seat_port,
            "-oocsf",
            ooc.to_str().unwrap(),
            "-key",
            "seat",
            "1001",
            "-au",
            "1001",
            "-ap",
            "hotline-1001",
            "-key",
            "seat_rtp_port",
            &seat_media,
            "-d",
            "15000",
            "-t",
            "u1",
            "-mp",
            &seat_sipp_media,
        ],
    );
    // The seat talks back once the bridge sends it the caller (symmetric RTP: its audio latches the relay).
    let seat_talking = talk_back(&seat_rtp, 0x2a, 400, Duration::from_secs(20));
    let st = caller.wait(Duration::from_secs(60));
    assert!(
        st.success(),
        "caller failed:\n{}\n{}",
        caller.messages(),
        d.log()
    );
    let _ = talking.join();
    let _ = seat_talking.join();
    d.wait_idle(Duration::from_secs(10));

    let r = d
        .call_records(1)
        .pop()
        .unwrap_or_else(|| panic!("no record:\n{}", d.log()));
    let system = r.system_answered_at_ms.expect("answered by the system") - r.started_at_ms;
    assert!(system < 1_500, "the 200 came {system} ms after the INVITE");
    let person = r
        .answered_at_ms
        .unwrap_or_else(|| panic!("no person answered: {r:?}\n{}", d.log()))
        - r.started_at_ms;
    assert!(
        (WAIT_S as i64 * 1000 - 1_000..WAIT_S as i64 * 1000 + 10_000).contains(&person),
        "the seat answered at {person} ms"
    );
    assert_eq!(r.seat.as_deref(), Some("1001"));
    assert!(r.wait_ms >= WAIT_S as i64 * 1000 - 1_000, "{r:?}");

    // The greeting, then the hold prompt, on the caller's media; the caller's own audio reached the seat.
    let packets = caller_rtp.packets();
    let (greeting_at, greeting) = heard(&packets, &frames_of("greeting.wav"));
    let (hold_at, hold) = heard(&packets, &frames_of("please_wait.wav"));
    assert!(
        greeting > 50 && hold > 50,
        "greeting {greeting}, hold {hold} frames"
    );
    assert!(greeting_at < hold_at, "greeting first");
    let to_seat = seat_rtp.packets().iter().filter(|p| is_talk(p)).count();
    let sp = seat_rtp.packets();
    assert!(
        to_seat > 50,
        "{to_seat} frames of the caller's audio at the seat; the seat got {} packets: {:?}\n{}",
        sp.len(),
        sp.iter()
            .take(5)
            .map(|p| (p.pt, p.payload.first().copied(), p.from))
            .collect::<Vec<_>>(),
        d.log()
    );
    let from_seat = packets.iter().filter(|p| is_talk(p)).count();
    assert!(
        from_seat > 50,
        "{from_seat} frames of the seat's audio at the caller"
    );
}

#[test]
fn in_early_media_mode_a_call_nobody_picks_up_is_answered_after_early_media_max_s() {
    let d = Daemon::start(Options {
        answer_first: false,
        early_media_max_s: 5,
        ..Options::default()
    });
    let caller_rtp = RtpPeer::new();
    // caller.xml takes 18x, then the 200; it hangs up 2 s after its ACK.
    let (port, media, sipp_media) = (
        free_port().to_string(),
        caller_rtp.port().to_string(),
        free_port().to_string(),
    );
    let mut caller = Sipp::spawn(
        d.sip,
        &sipp_dir().join("caller.xml"),
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
            "2000",
            "-mp",
            &sipp_media,
        ],
    );
    let st = caller.wait(Duration::from_secs(30));
    assert!(
        st.success(),
        "caller failed:\n{}\n{}",
        caller.messages(),
        d.log()
    );
    let msgs = caller.messages();
    let early = msgs.find("SIP/2.0 183").expect("183 early media first");
    let ok = msgs.find("SIP/2.0 200").expect("then the 200");
    assert!(early < ok, "183 before 200");
    d.wait_idle(Duration::from_secs(10));
    let r = d.call_records(1).pop().expect("record");
    let system = r.system_answered_at_ms.expect("answered by the system") - r.started_at_ms;
    assert!(
        (4_800..7_000).contains(&system),
        "answered after {system} ms"
    );
    assert_eq!(r.answered_at_ms, None, "no person answered");
    assert!(caller_rtp.packets().len() > 100, "the greeting played");
}

#[test]
fn a_delayed_offer_invite_gets_our_offer_in_the_200_its_answer_in_the_ack_and_audio_both_ways() {
    let d = Daemon::start(Options::default());
    let (caller_rtp, seat_rtp) = (RtpPeer::new(), RtpPeer::new());
    let _seat = register_seat(&d, "1001", "seat_answer.xml", seat_rtp.port());
    let (port, media, sipp_media) = (
        free_port().to_string(),
        caller_rtp.port().to_string(),
        free_port().to_string(),
    );
    // No SDP in the INVITE; the 200 must carry an offer; the ACK answers it (PCMA on our socket).
    let mut caller = Sipp::spawn(
        d.sip,
        &sipp_dir().join("caller_delayed_offer.xml"),
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
            "14000",
            "-mp",
            &sipp_media,
        ],
    );
    let talking = talk_back(&caller_rtp, 0x3c, 1_000, Duration::from_secs(10));
    let seat_talking = talk_back(&seat_rtp, 0x2a, 300, Duration::from_secs(20));
    let st = caller.wait(Duration::from_secs(40));
    assert!(
        st.success(),
        "caller failed:\n{}\n{}",
        caller.messages(),
        d.log()
    );
    let _ = (talking.join(), seat_talking.join());
    d.wait_idle(Duration::from_secs(10));
    let r = d.call_records(1).pop().expect("record");
    assert_eq!(r.seat.as_deref(), Some("1001"), "{r:?}");
    let packets = caller_rtp.packets();
    let (_, greeting) = heard(&packets, &frames_of("greeting.wav"));
    assert!(
        greeting > 50,
        "the greeting reached the answer's address: {greeting} frames"
    );
    assert!(
        packets.iter().all(|p| p.pt == 8),
        "PCMA, as answered in the ACK"
    );
    let to_seat = seat_rtp.packets().iter().filter(|p| is_talk(p)).count();
    let from_seat = packets.iter().filter(|p| is_talk(p)).count();
    assert!(
        to_seat > 50 && from_seat > 50,
        "audio both ways: {to_seat} to the seat, {from_seat} back"
    );
}

#[test]
fn a_delayed_offer_whose_ack_brings_no_answer_is_ended_with_bye_and_recorded() {
    let d = Daemon::start(Options::default());
    let dir = tempfile::tempdir().unwrap();
    // The same caller, but its ACK carries no SDP: then it expects our BYE.
    let text = std::fs::read_to_string(sipp_dir().join("caller_delayed_offer.xml")).unwrap();
    let a = text.find("<send ack_txn=\"invite\">").unwrap();
    let e = a + text[a..].find("</send>").unwrap() + "</send>".len();
    let ack = &text[a..e];
    let bare = ack[..ack.find("      Content-Type").unwrap()].to_string()
        + "      Content-Length: 0\n\n    ]]>\n  </send>";
    let rest = r#"
  <recv request="BYE" timeout="10000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
"#;
    let scenario = text[..a].to_string() + &bare + rest;
    let path = dir.path().join("caller_delayed_offer_no_answer.xml");
    std::fs::write(&path, scenario).unwrap();
    let (port, sipp_media) = (free_port().to_string(), free_port().to_string());
    let mut caller = Sipp::spawn(
        d.sip,
        &path,
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-s",
            "12345",
            "-key",
            "caller_rtp_port",
            "40000",
            "-mp",
            &sipp_media,
        ],
    );
    let st = caller.wait(Duration::from_secs(30));
    assert!(
        st.success(),
        "no BYE for the answerless ACK:\n{}\n{}",
        caller.messages(),
        d.log()
    );
    d.wait_idle(Duration::from_secs(10));
    let r = d.call_records(1).pop().expect("a record");
    assert!(
        r.system_answered_at_ms.is_some() && r.answered_at_ms.is_none(),
        "{r:?}"
    );
}
