//! Issue 13 item 4 against the running daemon: a SIPp caller whose media is the test's own UDP sockets
//! sends RTP with every tenth packet missing and RTCP receiver reports saying it lost a quarter of the
//! daemon's stream. The daemon's SR/RR arrive at the caller's RTCP port (RTP + 1), or on its RTP port
//! when the offer had `a=rtcp-mux` (RFC 5761); the call record in the database carries the loss the
//! caller reported and the loss the daemon measured; the wallboard shows the call's MOS.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use media::rtcp::{self, ReportBlock, RtcpPacket};
use support::*;

const CALLER_SSRC: u32 = 0xCA11_E500;

/// A datagram from the daemon: on the RTCP port (else the RTP port), its source, its bytes.
type Received = (bool, SocketAddr, Vec<u8>);

/// The caller's media: RTP on an even port, RTCP on the next (RFC 3550 §11).
struct CallerMedia {
    rtp: Arc<UdpSocket>,
    rtcp: Arc<UdpSocket>,
    /// Everything the daemon sent, with the socket it came in on (true: the RTCP port).
    got: Arc<Mutex<Vec<Received>>>,
}

impl CallerMedia {
    fn new() -> CallerMedia {
        let (rtp, rtcp) = loop {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = a.local_addr().unwrap().port();
            if port % 2 != 0 || port == u16::MAX - 1 {
                continue;
            }
            if let Ok(b) = UdpSocket::bind(("127.0.0.1", port + 1)) {
                break (a, b);
            }
        };
        let got = Arc::new(Mutex::new(Vec::new()));
        let (rtp, rtcp) = (Arc::new(rtp), Arc::new(rtcp));
        for (sock, is_rtcp_port) in [(rtp.clone(), false), (rtcp.clone(), true)] {
            let got = got.clone();
            sock.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                // Ends when the CallerMedia is dropped (its socket Arc is then this thread's alone).
                while Arc::strong_count(&sock) > 1 {
                    if let Ok((n, from)) = sock.recv_from(&mut buf) {
                        got.lock()
                            .unwrap()
                            .push((is_rtcp_port, from, buf[..n].to_vec()));
                    }
                }
            });
        }
        CallerMedia { rtp, rtcp, got }
    }

    fn port(&self) -> u16 {
        self.rtp.local_addr().unwrap().port()
    }

    /// The first RTP packet of the daemon: where it comes from and its SSRC.
    fn daemon_stream(&self) -> Option<(SocketAddr, u32)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .find_map(|(on_rtcp, from, b)| {
                let h = media::rtp::parse(b).filter(|_| !on_rtcp)?;
                Some((*from, h.ssrc))
            })
    }

    /// Every compound RTCP packet received: (on the RTCP port, its packets).
    fn reports(&self) -> Vec<(bool, Vec<RtcpPacket>)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, b)| rtcp::is_rtcp(b))
            .map(|(on_rtcp, _, b)| {
                (
                    *on_rtcp,
                    rtcp::parse_compound(b).expect("the daemon's RTCP parses"),
                )
            })
            .collect()
    }
}

/// 20 ms RTP frames from the caller, every tenth sequence number left out (10 % loss), and after one and
/// three seconds an RR telling the daemon a quarter of its stream (7 packets in all) was lost.
fn talk(media: &CallerMedia, to: SocketAddr, daemon_ssrc: u32, mux: bool) {
    let rr = rtcp::write_compound(&[
        RtcpPacket::ReceiverReport {
            ssrc: CALLER_SSRC,
            reports: vec![ReportBlock {
                ssrc: daemon_ssrc,
                fraction_lost: 64,
                cumulative_lost: 7,
                highest_seq: 100,
                jitter: 24,
                lsr: 0,
                dlsr: 0,
            }],
        },
        RtcpPacket::Sdes {
            chunks: vec![(CALLER_SSRC, Some("caller@127.0.0.1".into()))],
        },
    ]);
    let rtcp_to = if mux {
        to
    } else {
        SocketAddr::new(to.ip(), to.port() + 1)
    };
    let start = Instant::now();
    for i in 0..250u16 {
        if i % 10 != 5 {
            let mut pkt = vec![0x80, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            pkt[2..4].copy_from_slice(&(2000 + i).to_be_bytes());
            pkt[4..8].copy_from_slice(&(u32::from(i) * 160).to_be_bytes());
            pkt[8..12].copy_from_slice(&CALLER_SSRC.to_be_bytes());
            pkt.extend(std::iter::repeat_n(0x55u8, 160));
            let _ = media.rtp.send_to(&pkt, to);
        }
        if i == 50 || i == 150 {
            let sock = if mux { &media.rtp } else { &media.rtcp };
            sock.send_to(&rr, rtcp_to).unwrap();
        }
        let next = start + Duration::from_millis(20 * (u64::from(i) + 1));
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
}

fn run(scenario: &str, mux: bool) {
    if !sipp_available() {
        eprintln!("sipp not installed: skipped");
        return;
    }
    let d = Daemon::start(Options {
        answer_first: true,
        ..Options::default()
    });
    let media = CallerMedia::new();
    // Answered by the system at once, greeting and hold music; no seat: the caller talks ~8 s and hangs up.
    let mut caller = dial(&d, scenario, "12345", media.port(), 8000);
    wait_for(
        Duration::from_secs(10),
        "the greeting's first packet",
        || media.daemon_stream().is_some(),
    );
    let (daemon_leg, daemon_ssrc) = media.daemon_stream().unwrap();
    talk(&media, daemon_leg, daemon_ssrc, mux);
    let st = caller.wait(Duration::from_secs(30));
    let log = caller.messages();
    assert!(st.success(), "caller failed:\n{log}\n{}", d.log());
    // The 200 with our answer, as SIPp's trace shows it (messages end at a line of dashes).
    let answer = log
        .split("SIP/2.0 200 OK")
        .skip(1)
        .map(|m| m.split("\n----").next().unwrap_or(""))
        .find(|m| m.contains("m=audio"))
        .unwrap_or_else(|| panic!("no 200 with SDP in the trace:\n{log}"));
    assert_eq!(
        answer.contains("a=rtcp-mux"),
        mux,
        "the answer has a=rtcp-mux exactly when offered:\n{answer}"
    );

    // (1) The daemon's reports: at the RTCP port (or the RTP port when multiplexed), an SR with the
    //     daemon's SSRC and a CNAME, about our stream with the gaps we left.
    let reports = media.reports();
    assert!(!reports.is_empty(), "no RTCP from the daemon:\n{}", d.log());
    assert!(
        reports.iter().all(|(on_rtcp_port, _)| *on_rtcp_port != mux),
        "RTCP on the {} port only",
        if mux { "RTP" } else { "RTCP" }
    );
    let srs: Vec<&Vec<ReportBlock>> = reports
        .iter()
        .filter_map(|(_, p)| match &p[0] {
            RtcpPacket::SenderReport { ssrc, reports, .. } if *ssrc == daemon_ssrc => Some(reports),
            _ => None,
        })
        .collect();
    assert!(
        !srs.is_empty(),
        "the daemon sends prompts, so SRs: {reports:?}"
    );
    assert!(reports.iter().all(|(_, p)| p
        .iter()
        .any(|x| matches!(x, RtcpPacket::Sdes { chunks } if chunks[0].1.is_some()))));
    let about_us = srs
        .iter()
        .flat_map(|r| r.iter())
        .find(|b| b.ssrc == CALLER_SSRC && b.cumulative_lost > 0)
        .expect("a report block about our stream, with our gaps");
    assert!(about_us.highest_seq >= 2000);
    // The BYE when the call ends (RFC 3550 §6.3.7).
    wait_for(Duration::from_secs(3), "RTCP BYE", || {
        media.reports().iter().any(|(_, p)| {
            p.iter()
                .any(|x| matches!(x, RtcpPacket::Bye { ssrcs, .. } if ssrcs == &[daemon_ssrc]))
        })
    });

    // (2) The record: what the caller reported of the daemon's stream, and what the daemon measured.
    let records = d.call_records(1);
    assert_eq!(records.len(), 1);
    let q = records[0]
        .quality
        .iter()
        .find(|q| q.leg == 0)
        .unwrap_or_else(|| panic!("caller leg figures: {:?}", records[0]));
    assert_eq!(q.peer_reported_fraction_256, Some(64), "{q:?}");
    assert_eq!(q.peer_reported_lost, Some(7));
    assert_eq!(q.peer_jitter_us, Some(3_000));
    assert!(q.packets_received >= 220, "{q:?}");
    let loss = q.loss_fraction();
    assert!((0.08..0.12).contains(&loss), "measured loss {loss}: {q:?}");
    let mos = q.mos().expect("a MOS");
    // 25 % reported loss dominates: MOS ≈ 2.3 (docs/quality.md).
    assert!((1.8..2.8).contains(&mos), "{q:?}");

    // (3) The wallboard: the call's MOS.
    let board: serde_json::Value =
        serde_json::from_str(&d.http_get("/wallboard/data").expect("wallboard")).unwrap();
    assert_eq!(board["quality"]["calls"], 1, "{board}");
    let shown = board["quality"]["latest"][0]["caller_mos"]
        .as_f64()
        .unwrap();
    assert!((shown - mos).abs() < 0.01);
    let page = d.http_get("/wallboard").unwrap();
    assert!(page.contains(&format!("{mos:.2}")), "{page}");
}

#[test]
fn rtcp_on_port_plus_one_reaches_the_caller_and_its_report_the_record() {
    run("caller.xml", false);
}

#[test]
fn rtcp_mux_offered_is_answered_and_multiplexed_on_the_rtp_port() {
    run("caller_rtcp_mux.xml", true);
}
