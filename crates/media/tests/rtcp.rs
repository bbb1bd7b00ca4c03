//! RTCP through the engine over 127.0.0.1: our SR/RR reach the peer's RTCP port (RTP + 1) or its
//! RTP port when multiplexed (RFC 5761), the peer's RR about our stream is read, and the leg's
//! receive statistics count the gaps the peer left.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use media::rtcp::{self, ReportBlock, RtcpPacket};
use media::{rtp, Codec, Direction, MediaConfig, MediaEngine, Negotiated, Prompt};
use tokio::net::UdpSocket;
use tokio::time::{timeout, Instant};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn engine(port_min: u16) -> MediaEngine {
    MediaEngine::start(MediaConfig {
        bind_ip: LO,
        port_min,
        port_max: port_min + 19,
        media_timeout: Duration::from_secs(30),
    })
    .await
    .unwrap()
}

/// A peer's RTP socket on an even port and its RTCP socket on the next one.
async fn peer_pair(from: u16) -> (UdpSocket, UdpSocket) {
    for p in (from..from + 200).step_by(2) {
        if let (Ok(a), Ok(b)) = (
            UdpSocket::bind((LO, p)).await,
            UdpSocket::bind((LO, p + 1)).await,
        ) {
            return (a, b);
        }
    }
    panic!("no free port pair");
}

fn neg(remote: SocketAddr, mux: bool) -> Negotiated {
    Negotiated {
        remote,
        codec: Codec::Pcmu,
        pt: 0,
        dtmf_pt: None,
        ptime_ms: 20,
        direction: Direction::SendRecv,
        rtcp_mux: mux,
        rtcp: None,
    }
}

fn rtp_packet(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut b = vec![0xFFu8; 172];
    rtp::write_header(&mut b, false, 0, seq, ts, ssrc);
    b
}

const PEER_SSRC: u32 = 0x5EED_0001;

/// Waits for a compound RTCP packet on `sock` (RTP packets on a multiplexed port are skipped).
async fn next_rtcp(sock: &UdpSocket, within: Duration) -> Option<Vec<RtcpPacket>> {
    let end = Instant::now() + within;
    let mut buf = [0u8; 1500];
    loop {
        let left = end.checked_duration_since(Instant::now())?;
        let (n, _) = timeout(left, sock.recv_from(&mut buf)).await.ok()?.ok()?;
        if rtcp::is_rtcp(&buf[..n]) {
            return Some(rtcp::parse_compound(&buf[..n]).expect("our RTCP parses"));
        }
    }
}

/// The engine's SSRC towards us, from the RTP it sends.
async fn their_ssrc(sock: &UdpSocket) -> u32 {
    let mut buf = [0u8; 1500];
    loop {
        let (n, _) = timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
            .await
            .expect("RTP from the engine")
            .unwrap();
        if let Some(h) = rtp::parse(&buf[..n]) {
            return h.ssrc;
        }
    }
}

async fn run(mux: bool, port_min: u16, peer_from: u16) {
    let _serial = SERIAL.lock().await;
    let eng = engine(port_min).await;
    let leg = eng.open_leg().await.unwrap();
    let (peer_rtp, peer_rtcp) = peer_pair(peer_from).await;
    leg.set_remote(&neg(peer_rtp.local_addr().unwrap(), mux));
    let tone: Vec<i16> = (0..1600).map(|i| ((i % 40) as i16 - 20) * 300).collect();
    leg.play(Arc::new(Prompt::from_linear(&tone).unwrap()), true);
    let ours = their_ssrc(&peer_rtp).await;
    assert_eq!(ours, leg.ssrc());

    // 101 packets, every tenth missing: 100 expected after A.1's probation packet, 10 lost.
    let to = leg.local_addr();
    for i in 0..=100u16 {
        if i % 10 != 5 {
            peer_rtp
                .send_to(&rtp_packet(1000 + i, u32::from(i) * 160, PEER_SSRC), to)
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Our RR about the engine's stream: a quarter lost, 7 in all.
    let rr = rtcp::write_compound(&[RtcpPacket::ReceiverReport {
        ssrc: PEER_SSRC,
        reports: vec![ReportBlock {
            ssrc: ours,
            fraction_lost: 64,
            cumulative_lost: 7,
            highest_seq: 1,
            jitter: 16,
            lsr: 0,
            dlsr: 0,
        }],
    }]);
    let rtcp_to = if mux {
        to
    } else {
        SocketAddr::new(to.ip(), to.port() + 1)
    };
    peer_rtcp.send_to(&rr, rtcp_to).await.unwrap();

    // The first report comes within the initial interval (≤ 3.08 s).
    let on = if mux { &peer_rtp } else { &peer_rtcp };
    let pkts = next_rtcp(on, Duration::from_secs(5))
        .await
        .expect("an RTCP report from the engine");
    let RtcpPacket::SenderReport {
        ssrc,
        info,
        reports,
    } = &pkts[0]
    else {
        panic!("we sent a prompt, so an SR: {pkts:?}")
    };
    assert_eq!(*ssrc, ours);
    assert!(info.packets > 0 && info.octets >= info.packets * 160);
    assert_eq!(reports[0].ssrc, PEER_SSRC);
    assert_eq!(reports[0].cumulative_lost, 10);
    assert_eq!(reports[0].highest_seq, 1100);
    assert!(
        matches!(&pkts[1], RtcpPacket::Sdes { chunks } if chunks[0].0 == ours && chunks[0].1.is_some())
    );
    if !mux {
        // Nothing RTCP on the RTP port when not multiplexed.
        assert!(next_rtcp(&peer_rtp, Duration::from_millis(200))
            .await
            .is_none());
    }

    let q = leg.quality();
    assert_eq!((q.packets_received, q.lost), (91, 10));
    assert_eq!(q.peer_reported_fraction, Some(0.25));
    assert_eq!(q.peer_reported_lost, Some(7));
    assert_eq!(q.peer_jitter_ms, Some(2.0));
    assert!(q.mos.is_some_and(|m| m > 1.0 && m < 3.0), "{q:?}");

    drop(leg);
    let mut bye = false;
    while let Some(p) = next_rtcp(on, Duration::from_millis(500)).await {
        bye |= p
            .iter()
            .any(|x| matches!(x, RtcpPacket::Bye { ssrcs, .. } if ssrcs == &[ours]));
    }
    assert!(bye, "a BYE when the leg ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_on_port_plus_one() {
    run(false, 41600, 43600).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_multiplexed_on_the_rtp_port() {
    run(true, 41700, 43800).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_rtcp_port_moves_the_leg_to_the_next_pair() {
    let _serial = SERIAL.lock().await;
    let eng = engine(41800).await;
    // Someone holds 41801: the pair 41800/41801 cannot be ours.
    let _squatter = std::net::UdpSocket::bind((LO, 41801)).unwrap();
    let leg = eng.open_leg().await.unwrap();
    assert_eq!(leg.local_addr().port(), 41802);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtcp_off_binds_no_rtcp_port_and_sends_nothing() {
    let _serial = SERIAL.lock().await;
    let eng = MediaEngine::start_with(
        MediaConfig {
            bind_ip: LO,
            port_min: 41900,
            port_max: 41919,
            media_timeout: Duration::from_secs(30),
        },
        media::EngineOptions {
            rtcp: false,
            ..media::EngineOptions::default()
        },
    )
    .await
    .unwrap();
    let leg = eng.open_leg().await.unwrap();
    let port = leg.local_addr().port();
    assert!(
        std::net::UdpSocket::bind((LO, port + 1)).is_ok(),
        "port + 1 stays free"
    );
    let (peer_rtp, peer_rtcp) = peer_pair(44000).await;
    leg.set_remote(&neg(peer_rtp.local_addr().unwrap(), false));
    for i in 0..20u16 {
        peer_rtp
            .send_to(
                &rtp_packet(i, u32::from(i) * 160, PEER_SSRC),
                leg.local_addr(),
            )
            .await
            .unwrap();
    }
    // Past the longest first interval (3.08 s): nothing.
    assert!(next_rtcp(&peer_rtcp, Duration::from_millis(3300))
        .await
        .is_none());
    let q = leg.quality();
    assert_eq!(q.packets_received, 20, "receive statistics still counted");
    assert_eq!(q.reports_sent, 0);
}
