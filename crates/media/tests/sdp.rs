//! SDP negotiation table: offers as real UAs send them, and nasty ones.

use std::net::SocketAddr;

use media::sdp::{accept_answer, answer, offer};
use media::{Codec, Direction, SdpSession};

fn local() -> SocketAddr {
    "192.0.2.10:30000".parse().unwrap()
}

// SIPp's uac_pcap style offer.
const SIPP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

// baresip: opus and G722 first, PCMA before PCMU, dynamic telephone-event, media-level c=.
const BARESIP: &str = "v=0\r\no=- 1196390871 1815049209 IN IP4 10.0.0.5\r\ns=-\r\nt=0 0\r\nm=audio 10342 RTP/AVP 96 9 8 0 101\r\nc=IN IP4 10.0.0.5\r\nb=AS:64\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 stereo=1;sprop-stereo=1\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\na=label:1\r\na=ssrc:1234 cname:abc\r\n";

/// codec, pt, telephone-event pt, ptime, our direction, remote address.
type Agreed = (Codec, u8, Option<u8>, u32, Direction, &'static str);

struct Row {
    name: &'static str,
    offer: &'static str,
    /// Ok(what is agreed) or Err(SIP status).
    expect: Result<Agreed, u16>,
}

#[test]
fn negotiation_table() {
    let rows = [
        Row {
            name: "sipp",
            offer: SIPP,
            expect: Ok((Codec::Pcmu, 0, Some(101), 20, Direction::SendRecv, "127.0.0.1:6000")),
        },
        Row {
            name: "baresip: first G.711 in offerer order",
            offer: BARESIP,
            expect: Ok((Codec::Pcma, 8, Some(101), 20, Direction::SendRecv, "10.0.0.5:10342")),
        },
        Row {
            name: "minimal, static PTs without rtpmap, LF line ends, no ptime",
            offer: "v=0\no=- 1 1 IN IP4 198.51.100.7\ns=-\nc=IN IP4 198.51.100.7\nt=0 0\nm=audio 10000 RTP/AVP 8 0\n",
            expect: Ok((Codec::Pcma, 8, None, 20, Direction::SendRecv, "198.51.100.7:10000")),
        },
        Row {
            name: "dynamic telephone-event 96, ptime 30",
            offer: "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 96\r\na=rtpmap:96 telephone-event/8000\r\na=ptime:30\r\n",
            expect: Ok((Codec::Pcmu, 0, Some(96), 30, Direction::SendRecv, "10.1.1.1:4000")),
        },
        Row {
            name: "hold: a=sendonly → we are recvonly",
            offer: "v=0\r\no=- 1 2 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n",
            expect: Ok((Codec::Pcmu, 0, None, 20, Direction::RecvOnly, "10.1.1.1:4000")),
        },
        Row {
            name: "a=inactive at session level",
            offer: "v=0\r\no=- 1 2 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\na=inactive\r\nm=audio 4000 RTP/AVP 8\r\n",
            expect: Ok((Codec::Pcma, 8, None, 20, Direction::Inactive, "10.1.1.1:4000")),
        },
        Row {
            name: "recvonly → we are sendonly",
            offer: "v=0\r\no=- 1 2 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\na=recvonly\r\n",
            expect: Ok((Codec::Pcma, 8, None, 20, Direction::SendOnly, "10.1.1.1:4000")),
        },
        Row {
            name: "legacy hold c=0.0.0.0",
            offer: "v=0\r\no=- 1 2 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
            expect: Ok((Codec::Pcmu, 0, None, 20, Direction::RecvOnly, "0.0.0.0:4000")),
        },
        Row {
            name: "IPv6",
            offer: "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
            expect: Ok((Codec::Pcmu, 0, Some(101), 20, Direction::SendRecv, "[2001:db8::1]:5004")),
        },
        Row {
            name: "no common codec → 488",
            offer: "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 9 18 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
            expect: Err(488),
        },
        Row {
            name: "PCMU name at 16 kHz is not G.711 → 488",
            offer: "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 97\r\na=rtpmap:97 PCMU/16000\r\n",
            expect: Err(488),
        },
        Row {
            name: "video only → 488",
            offer: "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n",
            expect: Err(488),
        },
        Row {
            name: "SRTP only → 488",
            offer: "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n",
            expect: Err(488),
        },
        Row {
            name: "audio without any c= → 400",
            offer: "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
            expect: Err(400),
        },
        Row {
            name: "garbage → 400",
            offer: "hello world",
            expect: Err(400),
        },
        Row {
            name: "bad port → 400",
            offer: "v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 99999 RTP/AVP 0\r\n",
            expect: Err(400),
        },
        Row {
            name: "c= with a host name → 400",
            offer: "v=0\r\nc=IN IP4 pbx.example.com\r\nm=audio 4000 RTP/AVP 0\r\n",
            expect: Err(400),
        },
    ];
    for row in rows {
        let mut session = SdpSession::new(77);
        let got = answer(row.offer, local(), &mut session);
        match (got, row.expect) {
            (Ok((n, body)), Ok((codec, pt, dtmf, ptime, dir, remote))) => {
                assert_eq!(n.codec, codec, "{}", row.name);
                assert_eq!(n.pt, pt, "{}", row.name);
                assert_eq!(n.dtmf_pt, dtmf, "{}", row.name);
                assert_eq!(n.ptime_ms, ptime, "{}", row.name);
                assert_eq!(n.direction, dir, "{}", row.name);
                assert_eq!(
                    n.remote,
                    remote.parse::<SocketAddr>().unwrap(),
                    "{}",
                    row.name
                );
                // The answer itself: our port, the chosen codec, the echoed telephone-event PT.
                let mline = body.lines().find(|l| l.starts_with("m=audio")).unwrap();
                let want = match dtmf {
                    Some(d) => format!("m=audio 30000 RTP/AVP {pt} {d}"),
                    None => format!("m=audio 30000 RTP/AVP {pt}"),
                };
                assert_eq!(mline, want, "{}", row.name);
                let dir_attr = match dir {
                    Direction::SendRecv => "a=sendrecv",
                    Direction::SendOnly => "a=sendonly",
                    Direction::RecvOnly => "a=recvonly",
                    Direction::Inactive => "a=inactive",
                };
                assert!(body.contains(dir_attr), "{}: {body}", row.name);
                assert!(body.contains("c=IN IP4 192.0.2.10\r\n"), "{}", row.name);
                assert!(body.contains("a=ptime:20\r\n"), "{}", row.name);
                if let Some(d) = dtmf {
                    assert!(body.contains(&format!("a=rtpmap:{d} telephone-event/8000\r\n")));
                }
            }
            (Err(e), Err(status)) => {
                assert_eq!(e.status, status, "{}: {}", row.name, e.reason);
                assert!(!e.reason.is_empty());
            }
            (got, want) => panic!("{}: got {got:?}, want {want:?}", row.name),
        }
    }
}

#[test]
fn every_m_line_is_answered_extra_ones_rejected_with_port_0() {
    let two = "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=video 5002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=audio 5000 RTP/AVP 0\r\nm=audio 5004 RTP/AVP 8\r\n";
    let (n, body) = answer(two, local(), &mut SdpSession::new(1)).unwrap();
    assert_eq!(n.remote.port(), 5000);
    let mlines: Vec<&str> = body.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(
        mlines,
        [
            "m=video 0 RTP/AVP 96",
            "m=audio 30000 RTP/AVP 0",
            "m=audio 0 RTP/AVP 8"
        ]
    );
}

#[test]
fn answer_keeps_the_offered_avpf_profile() {
    let o = "v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 7000 RTP/AVPF 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp-fb:* nack\r\n";
    let (n, body) = answer(o, local(), &mut SdpSession::new(1)).unwrap();
    assert_eq!(n.dtmf_pt, Some(101));
    assert!(body.contains("m=audio 30000 RTP/AVPF 8 101\r\n"), "{body}");
}

#[test]
fn first_audio_with_port_0_is_skipped() {
    let o = "v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 0 RTP/AVP 0\r\nm=audio 7000 RTP/AVP 8\r\n";
    let (n, body) = answer(o, local(), &mut SdpSession::new(1)).unwrap();
    assert_eq!((n.codec, n.remote.port()), (Codec::Pcma, 7000));
    assert!(body.contains("m=audio 0 RTP/AVP 0\r\nm=audio 30000 RTP/AVP 8\r\n"));
}

#[test]
fn session_version_increments() {
    let mut s = SdpSession::new(424242);
    let (_, a1) = answer(SIPP, local(), &mut s).unwrap();
    let (_, a2) = answer(SIPP, local(), &mut s).unwrap();
    assert!(a1.contains("o=hotline12345 424242 1 IN IP4 192.0.2.10"));
    assert!(a2.contains("o=hotline12345 424242 2 IN IP4 192.0.2.10"));
    let o = offer(local(), &mut s, &[Codec::Pcma], 101, Direction::SendOnly);
    assert!(o.contains("o=hotline12345 424242 3 "));
    assert_eq!(s.version(), 3);
}

#[test]
fn offer_and_accept_answer_round_trip() {
    let mut ours = SdpSession::new(5);
    let o = offer(
        local(),
        &mut ours,
        &[Codec::Pcmu, Codec::Pcma],
        101,
        Direction::SendRecv,
    );
    assert!(o.contains("m=audio 30000 RTP/AVP 0 8 101\r\n"));
    assert!(o.contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"));
    // The seat answers our offer with its own session; we read its answer.
    let seat: SocketAddr = "10.9.9.9:8000".parse().unwrap();
    let (theirs, body) = answer(&o, seat, &mut SdpSession::new(9)).unwrap();
    assert_eq!(theirs.codec, Codec::Pcmu);
    let n = accept_answer(&body, &[Codec::Pcmu, Codec::Pcma]).unwrap();
    assert_eq!(n.remote, seat);
    assert_eq!((n.codec, n.pt, n.dtmf_pt), (Codec::Pcmu, 0, Some(101)));
    assert_eq!(n.direction, Direction::SendRecv);

    // Hold: we offer sendonly, the seat answers recvonly, we still send.
    let hold = offer(local(), &mut ours, &[Codec::Pcmu], 101, Direction::SendOnly);
    let (theirs, body) = answer(&hold, seat, &mut SdpSession::new(9)).unwrap();
    assert_eq!(theirs.direction, Direction::RecvOnly);
    assert_eq!(
        accept_answer(&body, &[Codec::Pcmu]).unwrap().direction,
        Direction::SendOnly
    );
}

#[test]
fn accept_answer_refusals() {
    let rejected = "v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 0 RTP/AVP 0\r\n";
    assert_eq!(
        accept_answer(rejected, &[Codec::Pcmu]).unwrap_err().status,
        488
    );
    let wrong_codec = "v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 4000 RTP/AVP 8\r\n";
    assert_eq!(
        accept_answer(wrong_codec, &[Codec::Pcmu])
            .unwrap_err()
            .status,
        488
    );
    assert_eq!(
        accept_answer("junk", &[Codec::Pcmu]).unwrap_err().status,
        400
    );
}

#[test]
fn hostile_input_never_panics() {
    let base = BARESIP.as_bytes();
    for cut in 0..base.len() {
        let s = String::from_utf8_lossy(&base[..cut]);
        let _ = answer(&s, local(), &mut SdpSession::new(1));
        let _ = accept_answer(&s, &[Codec::Pcmu]);
    }
    for weird in [
        "v=0\r\nm=\r\n",
        "v=0\r\nm=audio\r\n",
        "v=0\r\nm=audio 1\r\n",
        "v=0\r\nc=\r\n",
        "v=0\r\nc=IN\r\n",
        "v=0\r\na=rtpmap:\r\nm=audio 1 RTP/AVP 300 -1 x\r\na=rtpmap:abc\r\na=ptime:0\r\nc=IN IP4 1.1.1.1\r\n",
        "v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\na=ptime:-5\r\n",
        "=\r\n",
        "\u{0}\u{1}",
    ] {
        let _ = answer(weird, local(), &mut SdpSession::new(1));
    }
}

#[test]
fn rtcp_mux_offered_is_answered_and_rtcp_goes_to_the_rtp_port() {
    let offer = format!("{SIPP}a=rtcp-mux\r\n");
    let (n, body) = answer(&offer, local(), &mut SdpSession::new(1)).unwrap();
    assert!(n.rtcp_mux);
    assert!(body.contains("\r\na=rtcp-mux\r\n"), "{body}");
    assert_eq!(n.rtcp_addr(), Some("127.0.0.1:6000".parse().unwrap()));
    // Not offered: not answered, RTCP on the RTP port + 1 (RFC 3550 §11).
    let (n, body) = answer(SIPP, local(), &mut SdpSession::new(1)).unwrap();
    assert!(!n.rtcp_mux && !body.contains("rtcp-mux"));
    assert_eq!(n.rtcp_addr(), Some("127.0.0.1:6001".parse().unwrap()));
}

#[test]
fn rtcp_attribute_names_the_rtcp_address() {
    // RFC 3605 §2.1: port only (the c= address), or port and address.
    let offer = format!("{SIPP}a=rtcp:6101\r\n");
    let (n, _) = answer(&offer, local(), &mut SdpSession::new(1)).unwrap();
    assert_eq!(n.rtcp_addr(), Some("127.0.0.1:6101".parse().unwrap()));
    let offer = format!("{SIPP}a=rtcp:53020 IN IP4 126.16.64.4\r\n");
    let (n, _) = answer(&offer, local(), &mut SdpSession::new(1)).unwrap();
    assert_eq!(n.rtcp_addr(), Some("126.16.64.4:53020".parse().unwrap()));
    // Garbage is ignored, not refused.
    let offer = format!("{SIPP}a=rtcp:port\r\n");
    let (n, _) = answer(&offer, local(), &mut SdpSession::new(1)).unwrap();
    assert_eq!(n.rtcp_addr(), Some("127.0.0.1:6001".parse().unwrap()));
    // In an answer to our offer too; rtcp-mux there is ignored (we did not offer it).
    let ans = format!("{SIPP}a=rtcp:7001\r\na=rtcp-mux\r\n");
    let n = accept_answer(&ans, &[Codec::Pcmu]).unwrap();
    assert!(!n.rtcp_mux);
    assert_eq!(n.rtcp_addr(), Some("127.0.0.1:7001".parse().unwrap()));
}
