//! Engine integration tests over 127.0.0.1: real sockets, real pacing clock.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use media::{
    bridge, conference, rtp, Codec, Direction, MediaConfig, MediaEngine, MediaEvent, Negotiated,
    Prompt,
};
use tokio::net::UdpSocket;
use tokio::time::{timeout, Instant};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// These tests check real-time pacing; run them one at a time so they do not starve each other's
/// pacing threads on a 2-core box (each test has its own engine).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn engine(port_min: u16, port_max: u16, media_timeout: Duration) -> MediaEngine {
    MediaEngine::start(MediaConfig {
        bind_ip: LO,
        port_min,
        port_max,
        media_timeout,
    })
    .await
    .unwrap()
}

fn neg(remote: SocketAddr, codec: Codec, dtmf_pt: Option<u8>) -> Negotiated {
    Negotiated {
        remote,
        codec,
        pt: codec.static_pt(),
        dtmf_pt,
        ptime_ms: 20,
        direction: Direction::SendRecv,
        rtcp_mux: false,
        rtcp: None,
    }
}

fn tone(frames: usize, amp: f32, hz: f32) -> Vec<i16> {
    (0..frames * 160)
        .map(|i| (amp * (i as f32 * hz * std::f32::consts::TAU / 8000.0).sin()) as i16)
        .collect()
}

struct Rx {
    hdr: rtp::RtpHeader,
    payload: Vec<u8>,
    at: Instant,
}

async fn recv_rtp(sock: &UdpSocket, wait: Duration) -> Option<Rx> {
    let mut buf = [0u8; 2048];
    loop {
        let (n, _) = timeout(wait, sock.recv_from(&mut buf)).await.ok()?.ok()?;
        if let Some(hdr) = rtp::parse(&buf[..n]) {
            return Some(Rx {
                hdr,
                payload: buf[hdr.payload_start..hdr.payload_end].to_vec(),
                at: Instant::now(),
            });
        }
    }
}

fn rtp_packet(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 12 + payload.len()];
    rtp::write_header(&mut b, marker, pt, seq, ts, ssrc);
    b[12..].copy_from_slice(payload);
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_is_paced_with_continuous_headers() {
    let _serial = SERIAL.lock().await;
    let eng = engine(41000, 41019, Duration::from_secs(30)).await;
    let mut leg = eng.open_leg().await.unwrap();
    assert_eq!(leg.local_addr().port() % 2, 0, "RTP ports are even");
    let peer = UdpSocket::bind((LO, 0)).await.unwrap();
    leg.set_remote(&neg(peer.local_addr().unwrap(), Codec::Pcma, Some(101)));
    let prompt = Arc::new(Prompt::from_linear(&tone(50, 8000.0, 440.0)).unwrap());
    leg.play(prompt.clone(), false);

    let mut got = Vec::new();
    while let Some(p) = recv_rtp(&peer, Duration::from_millis(300)).await {
        got.push(p);
    }
    assert_eq!(got.len(), 50, "one packet per 20 ms frame");
    assert_eq!(
        timeout(Duration::from_secs(1), leg.next_event())
            .await
            .unwrap(),
        Some(MediaEvent::PromptFinished)
    );
    let ssrc = got[0].hdr.ssrc;
    assert!(
        got[0].hdr.marker,
        "first packet of a talkspurt carries the marker"
    );
    let mut stalls = 0;
    for (i, w) in got.windows(2).enumerate() {
        let (a, b) = (&w[0], &w[1]);
        assert_eq!(b.hdr.seq, a.hdr.seq.wrapping_add(1));
        let step = b.hdr.ts.wrapping_sub(a.hdr.ts);
        if step != 160 {
            // Only a pacing thread starved for >100 ms (a loaded box) may skip ticks: then the
            // timestamp follows the clock in whole frames and the marker flags the gap.
            assert!(
                step % 160 == 0 && step < 160 * 50 && b.hdr.marker,
                "ts step {step}"
            );
            stalls += 1;
        } else {
            assert!(!b.hdr.marker);
        }
        assert_eq!(b.hdr.ssrc, ssrc);
        assert_eq!(b.hdr.pt, 8);
        assert_eq!(
            b.payload.as_slice(),
            prompt.frame(Codec::Pcma, i + 1).unwrap()
        );
    }
    assert!(stalls <= 2, "{stalls} stalls");
    // Spacing follows the timestamps (~20 ms per frame); generous bounds for a loaded CI box.
    let span = got[49].at - got[0].at;
    let ts_span = Duration::from_micros(got[49].hdr.ts.wrapping_sub(got[0].hdr.ts) as u64 * 125);
    assert!(
        span + Duration::from_millis(120) >= ts_span
            && span <= ts_span + Duration::from_millis(150),
        "arrivals span {span:?}, timestamps span {ts_span:?}"
    );
    let mut gaps: Vec<Duration> = got.windows(2).map(|w| w[1].at - w[0].at).collect();
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    assert!(
        median >= Duration::from_millis(16) && median <= Duration::from_millis(24),
        "median gap {median:?}"
    );
    assert_eq!(leg.stats().tx_packets, 50);
    assert!(eng.stats().packets_out >= 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looped_prompt_restarts_and_replacing_keeps_stream() {
    let _serial = SERIAL.lock().await;
    let eng = engine(41020, 41039, Duration::from_secs(30)).await;
    let leg = eng.open_leg().await.unwrap();
    let peer = UdpSocket::bind((LO, 0)).await.unwrap();
    leg.set_remote(&neg(peer.local_addr().unwrap(), Codec::Pcmu, None));
    let short = Arc::new(Prompt::from_linear(&tone(3, 4000.0, 300.0)).unwrap());
    leg.play(short.clone(), true);
    let mut got = Vec::new();
    for _ in 0..7 {
        got.push(recv_rtp(&peer, Duration::from_secs(1)).await.unwrap());
    }
    // Loop: frames 0,1,2,0,1,2,0 with no marker on the wrap (same talkspurt).
    for (i, p) in got.iter().enumerate() {
        assert_eq!(
            p.payload.as_slice(),
            short.frame(Codec::Pcmu, i % 3).unwrap()
        );
        assert_eq!(p.hdr.marker, i == 0);
    }
    let other = Arc::new(Prompt::from_linear(&tone(2, 4000.0, 900.0)).unwrap());
    leg.play(other.clone(), false);
    // Skip any frame of the old prompt already in flight.
    let mut p = recv_rtp(&peer, Duration::from_secs(1)).await.unwrap();
    while p.payload.as_slice() != other.frame(Codec::Pcmu, 0).unwrap() {
        p = recv_rtp(&peer, Duration::from_secs(1)).await.unwrap();
    }
    assert!(p.hdr.marker, "switch of prompt sets the marker");
    assert_eq!(p.hdr.ssrc, got[0].hdr.ssrc, "same SSRC across prompts");
    leg.stop_playing();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_relays_both_ways_with_pt_mapping_and_dtmf() {
    let _serial = SERIAL.lock().await;
    let eng = engine(41040, 41059, Duration::from_secs(30)).await;
    let mut a = eng.open_leg().await.unwrap();
    let mut b = eng.open_leg().await.unwrap();
    let pa = UdpSocket::bind((LO, 0)).await.unwrap();
    let pb = UdpSocket::bind((LO, 0)).await.unwrap();
    a.set_remote(&neg(pa.local_addr().unwrap(), Codec::Pcmu, Some(101)));
    b.set_remote(&neg(pb.local_addr().unwrap(), Codec::Pcma, Some(96)));
    // The caller hears a prompt first, then the seat answers and the legs are bridged.
    let prompt = Arc::new(Prompt::from_linear(&tone(500, 3000.0, 500.0)).unwrap());
    a.play(prompt, false);
    let first = recv_rtp(&pa, Duration::from_secs(1)).await.unwrap();
    bridge(&a, &b);
    assert!(!a.is_playing());

    let ulaw: Vec<u8> = (0..160)
        .map(|i| media::g711::linear_to_ulaw((i * 100) as i16))
        .collect();
    let alaw: Vec<u8> = ulaw
        .iter()
        .map(|u| media::g711::ULAW_TO_ALAW[*u as usize])
        .collect();
    // b's peer (the seat) sends A-law PT 8 → leaves a as μ-law PT 0, in a's own stream.
    for i in 0..10u16 {
        pb.send_to(
            &rtp_packet(8, i == 0, 7000 + i, 90_000 + 160 * i as u32, 0xAAAA, &alaw),
            b.local_addr(),
        )
        .await
        .unwrap();
    }
    let mut at_pa = Vec::new();
    while let Some(p) = recv_rtp(&pa, Duration::from_millis(200)).await {
        if p.hdr.seq != first.hdr.seq {
            at_pa.push(p);
        }
    }
    // Prompt frames already in flight at bridge time are skipped.
    at_pa.retain(|p| p.hdr.pt == 0 && p.payload.len() == 160 && p.hdr.ts != first.hdr.ts);
    let relayed: Vec<_> = at_pa
        .iter()
        .filter(|p| {
            p.payload.iter().zip(ulaw.iter()).all(|(x, y)| {
                (media::g711::ulaw_to_linear(*x) as i32 - media::g711::ulaw_to_linear(*y) as i32)
                    .abs()
                    <= 64
            })
        })
        .collect();
    assert_eq!(relayed.len(), 10, "b → a relay delivered every packet");
    assert_eq!(
        relayed[0].hdr.ssrc, first.hdr.ssrc,
        "a keeps its SSRC from prompt to relay"
    );
    assert!(relayed[0].hdr.marker, "switch to relay sets the marker");
    assert!(rtp::seq_newer(relayed[0].hdr.seq, first.hdr.seq));
    for w in relayed.windows(2) {
        assert_eq!(w[1].hdr.seq, w[0].hdr.seq.wrapping_add(1));
        assert_eq!(w[1].hdr.ts, w[0].hdr.ts.wrapping_add(160));
        assert!(!w[1].hdr.marker);
    }

    // a's peer sends μ-law PT 0 → leaves b as A-law PT 8 with b's SSRC.
    for i in 0..5u16 {
        pa.send_to(
            &rtp_packet(0, false, 100 + i, 1000 + 160 * i as u32, 0xBBBB, &ulaw),
            a.local_addr(),
        )
        .await
        .unwrap();
    }
    let mut at_pb = Vec::new();
    while let Some(p) = recv_rtp(&pb, Duration::from_millis(200)).await {
        at_pb.push(p);
    }
    assert_eq!(at_pb.len(), 5);
    for p in &at_pb {
        assert_eq!(p.hdr.pt, 8);
        assert_eq!(p.payload, alaw, "μ-law transcoded to A-law");
        assert_eq!(p.hdr.ssrc, b.ssrc());
    }

    // DTMF '5' from a's peer on PT 101 (end packet sent 3×): one event on a, forwarded on PT 96.
    for (marker, payload) in media::dtmf::rfc4733_packets(5, 100, 10) {
        pa.send_to(
            &rtp_packet(101, marker, 200, 50_000, 0xBBBB, &payload),
            a.local_addr(),
        )
        .await
        .unwrap();
    }
    let ev = timeout(Duration::from_secs(1), a.next_event())
        .await
        .unwrap();
    assert_eq!(
        ev,
        Some(MediaEvent::Dtmf {
            digit: '5',
            duration_ms: 100
        })
    );
    let mut dtmf_at_pb = 0;
    while let Some(p) = recv_rtp(&pb, Duration::from_millis(200)).await {
        assert_eq!(p.hdr.pt, 96, "telephone-event in b's negotiated PT");
        dtmf_at_pb += 1;
    }
    assert_eq!(
        dtmf_at_pb, 7,
        "every event packet forwarded (4 updates + 3 ends)"
    );
    assert!(
        a.try_next_event().is_none(),
        "retransmitted ends count once"
    );
    assert!(b.try_next_event().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symmetric_rtp_latches_to_real_source() {
    let _serial = SERIAL.lock().await;
    let eng = engine(41060, 41079, Duration::from_secs(30)).await;
    let leg = eng.open_leg().await.unwrap();
    let natted = UdpSocket::bind((LO, 0)).await.unwrap();
    // SDP says port 9 (discard) — a NAT'd phone advertising its private address.
    leg.set_remote(&neg(SocketAddr::new(LO, 9), Codec::Pcmu, None));
    natted
        .send_to(
            &rtp_packet(0, true, 1, 0, 5, &[0xFF; 160]),
            leg.local_addr(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    leg.play(
        Arc::new(Prompt::from_linear(&tone(5, 1000.0, 200.0)).unwrap()),
        false,
    );
    let p = recv_rtp(&natted, Duration::from_secs(1)).await;
    assert!(
        p.is_some(),
        "after the first packet we send to where it came from"
    );
    assert_eq!(leg.stats().rx_packets, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_timeout_only_on_sendrecv() {
    let _serial = SERIAL.lock().await;
    let eng = engine(41080, 41099, Duration::from_millis(200)).await;
    let mut active = eng.open_leg().await.unwrap();
    let mut held = eng.open_leg().await.unwrap();
    let peer = UdpSocket::bind((LO, 0)).await.unwrap();
    active.set_remote(&neg(peer.local_addr().unwrap(), Codec::Pcmu, None));
    let mut inactive = neg(peer.local_addr().unwrap(), Codec::Pcmu, None);
    inactive.direction = Direction::Inactive;
    held.set_remote(&inactive);
    let ev = timeout(Duration::from_secs(2), active.next_event())
        .await
        .unwrap();
    assert_eq!(ev, Some(MediaEvent::MediaTimeout));
    assert!(
        timeout(Duration::from_millis(500), held.next_event())
            .await
            .is_err(),
        "an inactive (held) leg does not time out"
    );
    // Reported once, not every tick.
    assert!(timeout(Duration::from_millis(400), active.next_event())
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_stops_sending_and_resume_restarts_with_marker() {
    let _serial = SERIAL.lock().await;
    let eng = engine(41100, 41119, Duration::from_secs(30)).await;
    let leg = eng.open_leg().await.unwrap();
    let peer = UdpSocket::bind((LO, 0)).await.unwrap();
    let mut n = neg(peer.local_addr().unwrap(), Codec::Pcmu, None);
    leg.set_remote(&n);
    leg.play(
        Arc::new(Prompt::from_linear(&tone(1000, 1000.0, 200.0)).unwrap()),
        true,
    );
    let before = recv_rtp(&peer, Duration::from_secs(1)).await.unwrap();
    n.direction = Direction::RecvOnly; // peer sent a=sendonly: we must not send
    leg.set_remote(&n);
    // Drain what was in flight, then silence.
    while recv_rtp(&peer, Duration::from_millis(100)).await.is_some() {}
    assert!(recv_rtp(&peer, Duration::from_millis(200)).await.is_none());
    n.direction = Direction::SendRecv;
    leg.set_remote(&n);
    let after = recv_rtp(&peer, Duration::from_secs(1)).await.unwrap();
    assert!(after.hdr.marker);
    assert_eq!(after.hdr.ssrc, before.hdr.ssrc);
    assert!(rtp::seq_newer(after.hdr.seq, before.hdr.seq));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_party_conference_excludes_own_voice() {
    let _serial = SERIAL.lock().await;
    let eng = engine(41120, 41139, Duration::from_secs(30)).await;
    let legs = [
        eng.open_leg().await.unwrap(),
        eng.open_leg().await.unwrap(),
        eng.open_leg().await.unwrap(),
    ];
    let mut peers = Vec::new();
    for (i, l) in legs.iter().enumerate() {
        let s = UdpSocket::bind((LO, 0)).await.unwrap();
        let codec = if i == 1 { Codec::Pcma } else { Codec::Pcmu };
        l.set_remote(&neg(s.local_addr().unwrap(), codec, None));
        peers.push(s);
    }
    let conf = conference(&[&legs[0], &legs[1], &legs[2]]);
    // Each party sends a constant level (DC) so the mix is easy to read: 1000, 2000, 4000.
    let levels = [1000i16, 2000, 4000];
    for seq in 0..30u16 {
        for (i, s) in peers.iter().enumerate() {
            let enc: Vec<u8> = (0..160)
                .map(|_| {
                    if i == 1 {
                        media::g711::linear_to_alaw(levels[i])
                    } else {
                        media::g711::linear_to_ulaw(levels[i])
                    }
                })
                .collect();
            let pt = if i == 1 { 8 } else { 0 };
            s.send_to(
                &rtp_packet(pt, false, seq, seq as u32 * 160, 10 + i as u32, &enc),
                legs[i].local_addr(),
            )
            .await
            .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Stop the mix; what it sent is still queued in the peers' sockets.
    drop(conf);
    for (i, s) in peers.iter().enumerate() {
        let mut best = 0i32;
        while let Some(p) = recv_rtp(s, Duration::from_millis(100)).await {
            let v = if i == 1 {
                media::g711::alaw_to_linear(p.payload[80]) as i32
            } else {
                media::g711::ulaw_to_linear(p.payload[80]) as i32
            };
            best = best.max(v);
        }
        let expect: i32 = levels.iter().map(|l| *l as i32).sum::<i32>() - levels[i] as i32;
        assert!(
            (best - expect).abs() <= expect / 10,
            "party {i} hears {best}, expected about {expect}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_port_ranges_are_refused() {
    for (min, max) in [(65535, 65535), (3001, 3001), (5000, 4000), (0, 100)] {
        let r = MediaEngine::start(MediaConfig {
            bind_ip: LO,
            port_min: min,
            port_max: max,
            media_timeout: Duration::from_secs(1),
        })
        .await;
        assert!(r.is_err(), "{min}-{max}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_range_exhaustion_and_reuse() {
    let _serial = SERIAL.lock().await;
    let eng = engine(41140, 41143, Duration::from_secs(30)).await;
    let a = eng.open_leg().await.unwrap();
    let b = eng.open_leg().await.unwrap();
    assert_ne!(a.local_addr().port(), b.local_addr().port());
    let err = eng.open_leg().await.err().expect("only two even ports");
    assert!(err.to_string().contains("exhausted"), "{err}");
    drop(a);
    // The pacer lets go of the leg within a tick.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(eng.open_leg().await.is_ok());
    assert_eq!(eng.stats().active_legs, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_dtmf_interrupts_prompt_and_keeps_the_stream() {
    let _serial = SERIAL.lock().await;
    let eng = engine(41160, 41179, Duration::from_secs(30)).await;
    let leg = eng.open_leg().await.unwrap();
    let peer = UdpSocket::bind((LO, 0)).await.unwrap();
    leg.set_remote(&neg(peer.local_addr().unwrap(), Codec::Pcmu, Some(101)));
    leg.play(
        Arc::new(Prompt::from_linear(&tone(1000, 2000.0, 300.0)).unwrap()),
        true,
    );
    let before = recv_rtp(&peer, Duration::from_secs(1)).await.unwrap();
    assert_eq!(leg.negotiated().and_then(|n| n.dtmf_pt), Some(101));
    assert!(leg.send_dtmf('7', 100));
    assert!(!leg.send_dtmf('x', 100));
    let mut events = Vec::new();
    let mut after = None;
    for _ in 0..40 {
        let p = recv_rtp(&peer, Duration::from_secs(1)).await.unwrap();
        assert_eq!(p.hdr.ssrc, before.hdr.ssrc);
        if p.hdr.pt == 101 {
            events.push(p);
        } else if !events.is_empty() {
            after = Some(p);
            break;
        }
    }
    assert_eq!(events.len(), 7, "4 updates + end ×3 for 100 ms");
    assert!(events[0].hdr.marker);
    assert!(
        events.iter().all(|e| e.hdr.ts == events[0].hdr.ts),
        "one timestamp per event"
    );
    for w in events.windows(2) {
        assert_eq!(w[1].hdr.seq, w[0].hdr.seq.wrapping_add(1));
    }
    let mut rx = media::dtmf::DtmfReceiver::new();
    let digits: Vec<char> = events
        .iter()
        .filter_map(|e| rx.on_packet(e.hdr.ts, &e.payload))
        .map(|d| d.digit)
        .collect();
    assert_eq!(digits, ['7']);
    let after = after.unwrap();
    assert!(
        after.hdr.marker,
        "audio after the event starts a new talkspurt"
    );
    assert_eq!(after.hdr.seq, events[6].hdr.seq.wrapping_add(1));
    assert_eq!(after.hdr.ts, events[0].hdr.ts.wrapping_add(7 * 160));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_stops_prompt_on_first_digit() {
    let _serial = SERIAL.lock().await;
    let eng = engine(41180, 41199, Duration::from_secs(30)).await;
    let mut leg = eng.open_leg().await.unwrap();
    let peer = UdpSocket::bind((LO, 0)).await.unwrap();
    leg.set_remote(&neg(peer.local_addr().unwrap(), Codec::Pcma, Some(96)));
    leg.play_with_barge_in(
        Arc::new(Prompt::from_linear(&tone(1000, 2000.0, 300.0)).unwrap()),
        false,
    );
    recv_rtp(&peer, Duration::from_secs(1)).await.unwrap();
    for (marker, payload) in media::dtmf::rfc4733_packets(11, 60, 10) {
        peer.send_to(
            &rtp_packet(96, marker, 1, 160, 77, &payload),
            leg.local_addr(),
        )
        .await
        .unwrap();
    }
    let ev = timeout(Duration::from_secs(1), leg.next_event())
        .await
        .unwrap();
    assert_eq!(
        ev,
        Some(MediaEvent::Dtmf {
            digit: '#',
            duration_ms: 60
        })
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!leg.is_playing());
    while recv_rtp(&peer, Duration::from_millis(100)).await.is_some() {}
    assert!(
        recv_rtp(&peer, Duration::from_millis(200)).await.is_none(),
        "prompt stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinvite_with_new_address_moves_the_stream() {
    let _serial = SERIAL.lock().await;
    let eng = engine(41200, 41219, Duration::from_secs(30)).await;
    let leg = eng.open_leg().await.unwrap();
    let old = UdpSocket::bind((LO, 0)).await.unwrap();
    let new = UdpSocket::bind((LO, 0)).await.unwrap();
    leg.set_remote(&neg(old.local_addr().unwrap(), Codec::Pcmu, None));
    // The old peer talks, so we are latched to it.
    old.send_to(
        &rtp_packet(0, true, 1, 0, 5, &[0xFF; 160]),
        leg.local_addr(),
    )
    .await
    .unwrap();
    leg.play(
        Arc::new(Prompt::from_linear(&tone(1000, 2000.0, 300.0)).unwrap()),
        true,
    );
    let first = recv_rtp(&old, Duration::from_secs(1)).await.unwrap();
    // re-INVITE: c=/m= now point at the new peer, which switches codec too.
    leg.set_remote(&neg(new.local_addr().unwrap(), Codec::Pcma, None));
    let moved = recv_rtp(&new, Duration::from_secs(1)).await.unwrap();
    assert_eq!(moved.hdr.pt, 8);
    assert_eq!(moved.hdr.ssrc, first.hdr.ssrc);
    while recv_rtp(&old, Duration::from_millis(50)).await.is_some() {}
    assert!(recv_rtp(&old, Duration::from_millis(100)).await.is_none());
    let s = eng.stats();
    assert_eq!(s.active_legs, 1);
    assert_eq!(s.packets_in, 1);
    assert!(s.packets_out >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_flow_bridge_prompt_conference_then_bridge() {
    let _serial = SERIAL.lock().await;
    let eng = engine(41220, 41239, Duration::from_secs(30)).await;
    let caller = eng.open_leg().await.unwrap();
    let operator = eng.open_leg().await.unwrap();
    let dept = eng.open_leg().await.unwrap();
    let (pc, po, pd) = (
        UdpSocket::bind((LO, 0)).await.unwrap(),
        UdpSocket::bind((LO, 0)).await.unwrap(),
        UdpSocket::bind((LO, 0)).await.unwrap(),
    );
    caller.set_remote(&neg(pc.local_addr().unwrap(), Codec::Pcmu, None));
    operator.set_remote(&neg(po.local_addr().unwrap(), Codec::Pcmu, None));
    dept.set_remote(&neg(pd.local_addr().unwrap(), Codec::Pcma, None));
    bridge(&caller, &operator);
    // The department rings: the caller hears a prompt.
    caller.play(
        Arc::new(Prompt::from_linear(&tone(500, 2000.0, 300.0)).unwrap()),
        true,
    );
    let ssrc = recv_rtp(&pc, Duration::from_secs(1))
        .await
        .unwrap()
        .hdr
        .ssrc;
    // Answered: three-way mix; the prompt stops.
    assert_eq!(eng.stats().conferences, 0);
    let conf = conference(&[&caller, &operator, &dept]);
    assert!(!caller.is_playing());
    assert_eq!(
        eng.stats().conferences,
        1,
        "the mix is counted while it lives"
    );
    // The operator leaves: back to a two-party relay caller ⇄ department.
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(conf);
    assert_eq!(eng.stats().conferences, 0);
    drop(operator);
    bridge(&caller, &dept);
    while recv_rtp(&pc, Duration::from_millis(100)).await.is_some() {}
    let alaw = [media::g711::linear_to_alaw(5000); 160];
    for i in 0..5u16 {
        pd.send_to(
            &rtp_packet(8, false, i, i as u32 * 160, 3, &alaw),
            dept.local_addr(),
        )
        .await
        .unwrap();
    }
    let mut got = 0;
    while let Some(p) = recv_rtp(&pc, Duration::from_millis(200)).await {
        assert_eq!(
            p.hdr.ssrc, ssrc,
            "one SSRC for the caller across prompt, mix and relay"
        );
        assert_eq!(p.hdr.pt, 0);
        assert_eq!(p.payload[0], media::g711::ALAW_TO_ULAW[alaw[0] as usize]);
        got += 1;
    }
    assert_eq!(got, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seat_hold_and_resume_keep_the_callers_path() {
    let _serial = SERIAL.lock().await;
    let eng = engine(41240, 41259, Duration::from_secs(30)).await;
    let caller = eng.open_leg().await.unwrap();
    let seat = eng.open_leg().await.unwrap();
    let (pc, ps) = (
        UdpSocket::bind((LO, 0)).await.unwrap(),
        UdpSocket::bind((LO, 0)).await.unwrap(),
    );
    caller.set_remote(&neg(pc.local_addr().unwrap(), Codec::Pcmu, None));
    let mut seat_neg = neg(ps.local_addr().unwrap(), Codec::Pcmu, None);
    seat.set_remote(&seat_neg);
    bridge(&caller, &seat);
    let voice = [0x42u8; 160];
    let mut seq = 0u16;
    let mut talk = || {
        seq += 1;
        rtp_packet(0, false, seq, seq as u32 * 160, 9, &voice)
    };
    // Before hold: caller → seat.
    pc.send_to(&talk(), caller.local_addr()).await.unwrap();
    assert!(recv_rtp(&ps, Duration::from_millis(300)).await.is_some());
    // The seat re-INVITEs with a=sendonly: we answer recvonly and stop sending to it…
    seat_neg.direction = Direction::RecvOnly;
    seat.set_remote(&seat_neg);
    pc.send_to(&talk(), caller.local_addr()).await.unwrap();
    assert!(recv_rtp(&ps, Duration::from_millis(200)).await.is_none());
    // …while its music on hold still reaches the caller.
    ps.send_to(&talk(), seat.local_addr()).await.unwrap();
    assert!(recv_rtp(&pc, Duration::from_millis(300)).await.is_some());
    // Resume: the caller's audio flows to the seat again, as a new talkspurt.
    seat_neg.direction = Direction::SendRecv;
    seat.set_remote(&seat_neg);
    pc.send_to(&talk(), caller.local_addr()).await.unwrap();
    let back = recv_rtp(&ps, Duration::from_millis(300)).await.unwrap();
    assert!(back.hdr.marker);
    assert_eq!(back.payload, voice);
    assert_eq!(back.hdr.ssrc, seat.ssrc());
}
