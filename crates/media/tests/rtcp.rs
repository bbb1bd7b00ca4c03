//! RTCP over 127.0.0.1 (RFC 3550 §6, RFC 5761): real sockets, a short report interval.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use media::rtcp::{self, Packet, ReportBlock};
use media::{
    bridge, rtp, Codec, Direction, EngineOptions, MediaConfig, MediaEngine, MediaLeg, Negotiated,
};
use tokio::net::UdpSocket;
use tokio::time::{timeout, Instant};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Reports every 100–300 ms (the first after 50–150 ms) instead of 2.5–7.5 s.
const MIN_INTERVAL: Duration = Duration::from_millis(200);

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn engine(port_min: u16, port_max: u16) -> MediaEngine {
    MediaEngine::start_with(
        MediaConfig {
            bind_ip: LO,
            port_min,
            port_max,
            media_timeout: Duration::from_secs(30),
        },
        EngineOptions {
            rtcp_min_interval: MIN_INTERVAL,
            ..EngineOptions::default()
        },
    )
    .await
    .unwrap()
}

fn neg(remote: SocketAddr, rtcp_mux: bool) -> Negotiated {
    Negotiated {
        remote,
        codec: Codec::Pcmu,
        pt: 0,
        dtmf_pt: Some(101),
        ptime_ms: 20,
        direction: Direction::SendRecv,
        rtcp_mux,
        rtcp: None,
    }
}

/// A peer's RTP/RTCP socket pair on `port` / `port + 1`.
async fn peer(port: u16) -> (UdpSocket, UdpSocket) {
    (
        UdpSocket::bind((LO, port)).await.unwrap(),
        UdpSocket::bind((LO, port + 1)).await.unwrap(),
    )
}

/// The next RTCP compound on `sock` (RTP datagrams are skipped).
async fn recv_rtcp(sock: &UdpSocket, wait: Duration) -> Option<Vec<Packet>> {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (n, _) = timeout(left, sock.recv_from(&mut buf)).await.ok()?.ok()?;
        if rtp::is_rtcp(&buf[..n]) {
            return Some(rtcp::parse(&buf[..n]).expect("our RTCP parses"));
        }
    }
}

/// The report block in a compound (SR or RR), if any.
fn block_of(p: &[Packet]) -> Option<ReportBlock> {
    p.iter().find_map(|p| match p {
        Packet::SenderReport { blocks, .. } | Packet::ReceiverReport { blocks, .. } => {
            blocks.first().copied()
        }
        _ => None,
    })
}

fn rr_about(reporter: u32, block: ReportBlock) -> Vec<u8> {
    let mut buf = [0u8; rtcp::MAX_BUILT];
    let n = rtcp::build_compound(&mut buf, reporter, None, Some(&block), "peer@test", false);
    buf[..n].to_vec()
}

async fn wait_quality(
    leg: &MediaLeg,
    ok: impl Fn(&media::LegQuality) -> bool,
) -> media::LegQuality {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let q = leg.quality();
        if ok(&q) || Instant::now() > deadline {
            return q;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayed_legs_report_on_port_plus_one_and_read_the_peers_reports() {
    let _serial = SERIAL.lock().await;
    let eng = engine(42000, 42019).await;
    let a = eng.open_leg().await.unwrap();
    let b = eng.open_leg().await.unwrap();
    assert_eq!(a.rtcp_local_addr().port(), a.local_addr().port() + 1);
    let (pa, pa_rtcp) = peer(42200).await;
    let (pb, pb_rtcp) = peer(42202).await;
    a.set_remote(&neg(pa.local_addr().unwrap(), false));
    b.set_remote(&neg(pb.local_addr().unwrap(), false));
    bridge(&a, &b);

    // The peer of A sends seq 1..=51 without 11, 21, 31, 41. Seq 1 only starts the A.1
    // probation, so A expects 2..=51 = 50 packets, receives 46, loses 4.
    let peer_ssrc = 0x5EED_0001;
    let start = Instant::now();
    for seq in 1u16..=51 {
        if seq % 10 != 1 || seq == 1 || seq == 51 {
            let mut p = vec![0xFFu8; 172];
            rtp::write_header(&mut p, false, 0, seq, u32::from(seq) * 160, peer_ssrc);
            pa.send_to(&p, a.local_addr()).await.unwrap();
        }
        tokio::time::sleep_until(start + Duration::from_millis(20) * u32::from(seq)).await;
    }

    // A never sent RTP (nothing came from B's side): RR, one block on the peer's SSRC, CNAME.
    let mut last = None;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let p = recv_rtcp(&pa_rtcp, Duration::from_secs(1))
            .await
            .expect("RR on port + 1");
        assert!(matches!(p[0], Packet::ReceiverReport { ssrc, .. } if ssrc == a.ssrc()));
        assert!(matches!(&p[1], Packet::Sdes { chunks } if chunks[0].1.is_some()));
        if let Some(bl) = block_of(&p) {
            assert_eq!(bl.ssrc, peer_ssrc);
            if bl.highest_seq == 51 {
                last = Some(bl);
                break;
            }
        }
    }
    let bl = last.expect("a report covering the whole stream");
    assert_eq!(bl.cumulative_lost, 4);
    let q = a.quality();
    assert_eq!(
        (q.packets_expected, q.packets_received, q.lost),
        (50, 46, 4)
    );
    assert!((q.fraction_lost - 0.08).abs() < 1e-9, "{q:?}");
    assert!(q.jitter_ms < 20.0, "{q:?}");
    assert!(q.mos.is_some_and(|m| m > 1.0 && m < 4.4), "{q:?}");

    // B relayed all 47 packets to its peer: an SR with that count (earlier ones may be RRs
    // or SRs from mid-stream).
    let sr = loop {
        let p = recv_rtcp(&pb_rtcp, Duration::from_secs(1))
            .await
            .expect("SR on port + 1");
        if let Packet::SenderReport { ssrc, info, .. } = p[0] {
            assert_eq!(ssrc, b.ssrc());
            if info.packet_count == 47 {
                break info;
            }
        }
    };
    assert_eq!(sr.octet_count, 47 * 160, "payload octets");

    // B's peer answers that SR at once (DLSR 0): B gets an RTT from LSR (§6.4.1).
    let rr = rr_about(
        0x5EED_0002,
        ReportBlock {
            ssrc: b.ssrc(),
            fraction_lost: 0,
            lsr: rtcp::ntp_mid32(sr.ntp),
            ..ReportBlock::default()
        },
    );
    pb_rtcp.send_to(&rr, b.rtcp_local_addr()).await.unwrap();
    let q = wait_quality(&b, |q| q.rtt_ms.is_some()).await;
    let rtt = q.rtt_ms.expect("RTT from the peer's LSR/DLSR");
    assert!((0.0..1000.0).contains(&rtt), "{rtt}");
    assert_eq!(q.peer_cname.as_deref(), Some("peer@test"));

    // A's peer reports a quarter of our stream lost (64/256).
    let rr = rr_about(
        peer_ssrc,
        ReportBlock {
            ssrc: a.ssrc(),
            fraction_lost: 64,
            cumulative_lost: 12,
            jitter: 80,
            ..ReportBlock::default()
        },
    );
    pa_rtcp.send_to(&rr, a.rtcp_local_addr()).await.unwrap();
    let q = wait_quality(&a, |q| q.peer_fraction_lost.is_some()).await;
    assert_eq!(q.peer_fraction_lost, Some(0.25));
    assert_eq!(q.peer_cumulative_lost, Some(12));
    assert_eq!(q.peer_jitter_ms, Some(10.0));
    assert_eq!(q.rtt_ms, None, "no LSR: no RTT");
    // MOS from the worse direction: 25 % loss, the larger jitter.
    let want = media::emodel::mos_g711(0.25, None, q.jitter_ms.max(10.0));
    assert!((q.mos.unwrap() - want).abs() < 1e-9, "{q:?}");
    assert!(q.rtcp_sent >= 1 && q.rtcp_received == 1, "{q:?}");
    fn serializes<T: serde::Serialize>(_: &T) {}
    serializes(&q);

    // Dropping a leg sends BYE (§6.6).
    drop(a);
    let bye = loop {
        let p = recv_rtcp(&pa_rtcp, Duration::from_secs(1))
            .await
            .expect("BYE");
        if let Some(b) = p.iter().find(|p| matches!(p, Packet::Bye { .. })) {
            break b.clone();
        }
    };
    assert!(matches!(bye, Packet::Bye { ssrcs, .. } if ssrcs.len() == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtcp_mux_uses_the_rtp_port_both_ways() {
    let _serial = SERIAL.lock().await;
    let eng = engine(42020, 42039).await;
    let leg = eng.open_leg().await.unwrap();
    let other = eng.open_leg().await.unwrap();
    let (p, p_rtcp) = peer(42210).await;
    let (q, q_rtcp) = peer(42212).await;
    leg.set_remote(&neg(p.local_addr().unwrap(), true));
    other.set_remote(&neg(q.local_addr().unwrap(), false));
    bridge(&leg, &other);

    // Our report arrives on the peer's RTP port, nothing on its port + 1.
    let r = recv_rtcp(&p, Duration::from_secs(2))
        .await
        .expect("muxed RR");
    assert!(matches!(r[0], Packet::ReceiverReport { ssrc, .. } if ssrc == leg.ssrc()));
    let mut buf = [0u8; 64];
    assert!(
        timeout(Duration::from_millis(300), p_rtcp.recv_from(&mut buf))
            .await
            .is_err(),
        "no RTCP on port + 1 with mux"
    );

    // The peer's RTCP on our RTP port (RFC 5761 §4: PT 64–95) is read, not relayed.
    let rr = rr_about(
        7,
        ReportBlock {
            ssrc: leg.ssrc(),
            fraction_lost: 128,
            ..ReportBlock::default()
        },
    );
    p.send_to(&rr, leg.local_addr()).await.unwrap();
    let got = wait_quality(&leg, |q| q.peer_fraction_lost.is_some()).await;
    assert_eq!(got.peer_fraction_lost, Some(0.5));
    // The other leg's peer (no mux) sees its own reports on port + 1 and no RTCP on RTP.
    let r = recv_rtcp(&q_rtcp, Duration::from_secs(2))
        .await
        .expect("RR on +1");
    assert!(matches!(r[0], Packet::ReceiverReport { ssrc, .. } if ssrc == other.ssrc()));
    assert!(
        timeout(Duration::from_millis(300), q.recv_from(&mut buf))
            .await
            .is_err(),
        "the muxed RTCP was not relayed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rtcp_attribute_is_where_reports_go() {
    let _serial = SERIAL.lock().await;
    let eng = engine(42040, 42059).await;
    let leg = eng.open_leg().await.unwrap();
    let (p, _p_rtcp) = peer(42220).await;
    let elsewhere = UdpSocket::bind((LO, 0)).await.unwrap();
    let mut n = neg(p.local_addr().unwrap(), false);
    n.rtcp = Some(elsewhere.local_addr().unwrap());
    leg.set_remote(&n);
    let r = recv_rtcp(&elsewhere, Duration::from_secs(2))
        .await
        .expect("RR at the a=rtcp address");
    assert!(matches!(r[0], Packet::ReceiverReport { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_odd_port_skips_the_pair() {
    let _serial = SERIAL.lock().await;
    let eng = engine(42060, 42063).await;
    let blocker = std::net::UdpSocket::bind((LO, 42061)).unwrap();
    let leg = eng.open_leg().await.unwrap();
    assert_eq!(leg.local_addr().port(), 42062, "42060 has no RTCP port");
    let err = eng.open_leg().await.err().expect("no complete pair left");
    assert!(err.to_string().contains("exhausted"), "{err}");
    // The even port was not kept: once the odd one is free the pair opens.
    drop(blocker);
    let again = eng.open_leg().await.unwrap();
    assert_eq!(again.local_addr().port(), 42060);
}
