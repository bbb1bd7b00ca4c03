//! SRTP legs over 127.0.0.1: an SDES offer/answer keys a leg, the relay between an SRTP seat and a plain
//! caller decrypts and re-encrypts, prompts leave encrypted, and forged packets are dropped.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use media::sdp::{self, Codec, Direction, SdpSession};
use media::srtp::{SdesKey, SrtpSession, Suite};
use media::{bridge, rtp, MediaConfig, MediaEngine, Negotiated, Prompt};
use tokio::net::UdpSocket;
use tokio::time::timeout;

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn neg(remote: SocketAddr) -> Negotiated {
    Negotiated {
        remote,
        codec: Codec::Pcmu,
        pt: 0,
        dtmf_pt: Some(101),
        ptime_ms: 20,
        direction: Direction::SendRecv,
        rtcp_mux: false,
        rtcp: None,
    }
}

fn rtp_packet(seq: u16, ssrc: u32, fill: u8) -> Vec<u8> {
    let mut b = vec![fill; 12 + 160];
    rtp::write_header(&mut b, false, 0, seq, u32::from(seq) * 160, ssrc);
    b
}

async fn recv(sock: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = [0u8; 2048];
    let (n, _) = timeout(Duration::from_millis(500), sock.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(buf[..n].to_vec())
}

/// The SDP exchange a seat on TLS makes with us: our SAVP offer with a key, its answer with its own.
#[test]
fn sdes_offer_answer_keys_both_sides() {
    let local: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let mut ours = SdpSession::new(1);
    ours.use_srtp(SdesKey::random(Suite::AesCm128HmacSha1_80));
    let offer = sdp::offer(local, &mut ours, &[Codec::Pcmu], 101, Direction::SendRecv);
    assert!(
        offer.contains("m=audio 40000 RTP/SAVP 0 101\r\n"),
        "{offer}"
    );
    assert!(offer.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));

    // The seat's side answers with a key of its own under our tag.
    let mut seat = SdpSession::new(2);
    seat.use_srtp(SdesKey::random(Suite::AesCm128HmacSha1_80));
    let (n, answer) = sdp::answer(&offer, "127.0.0.1:50000".parse().unwrap(), &mut seat).unwrap();
    assert_eq!(n.remote.port(), 40000);
    assert!(answer.contains("RTP/SAVP"));
    assert!(answer.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));
    let (seat_local, seat_remote) = seat.srtp_keys().unwrap();

    assert!(ours.srtp_keys().is_none(), "no peer key before the answer");
    sdp::accept_answer(&answer, &[Codec::Pcmu]).unwrap();
    sdp::accept_crypto(&answer, &mut ours).unwrap();
    let (our_local, our_remote) = ours.srtp_keys().unwrap();
    assert_eq!(our_remote, seat_local);
    assert_eq!(seat_remote, our_local);

    // A plain answer to an SRTP offer is refused; a plain leg ignores crypto altogether.
    let plain = answer.replace("RTP/SAVP", "RTP/AVP");
    let plain: String = plain
        .lines()
        .filter(|l| !l.starts_with("a=crypto"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    assert_eq!(
        sdp::accept_crypto(&plain, &mut ours).unwrap_err().status,
        488
    );
    let mut trunk = SdpSession::new(3);
    assert_eq!(
        sdp::answer(&offer, local, &mut trunk).unwrap_err().status,
        488,
        "a leg without SRTP still refuses SAVP"
    );
    sdp::accept_crypto(&answer, &mut trunk).unwrap();
    assert!(trunk.srtp_keys().is_none());

    // An offer with only suites we lack gets 488 naming the reason; the 32-bit tag suite is answered in kind.
    let mut seat2 = SdpSession::new(4);
    seat2.use_srtp(SdesKey::random(Suite::AesCm128HmacSha1_80));
    let aes256 = offer.replace("AES_CM_128_HMAC_SHA1_80", "AES_256_CM_HMAC_SHA1_80");
    let e = sdp::answer(&aes256, local, &mut seat2).unwrap_err();
    assert_eq!(e.status, 488);
    assert!(e.reason.contains("a=crypto"), "{}", e.reason);
    let sha32 = offer.replace("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32");
    let (_, a32) = sdp::answer(&sha32, local, &mut seat2).unwrap();
    assert!(
        a32.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:"),
        "{a32}"
    );
}

/// Seat (SRTP) ⇄ caller (plain RTP) through a bridge: the relay decrypts one way and encrypts the other;
/// the seat's prompt leaves encrypted; a forged packet is dropped and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_decrypts_and_reencrypts_between_srtp_and_plain_legs() {
    let eng = MediaEngine::start(MediaConfig {
        bind_ip: LO,
        port_min: 42000,
        port_max: 42019,
        media_timeout: Duration::from_secs(30),
    })
    .await
    .unwrap();
    let caller_leg = eng.open_leg().await.unwrap();
    let seat_leg = eng.open_leg().await.unwrap();
    let caller = UdpSocket::bind((LO, 0)).await.unwrap();
    let seat = UdpSocket::bind((LO, 0)).await.unwrap();
    caller_leg.set_remote(&neg(caller.local_addr().unwrap()));
    seat_leg.set_remote(&neg(seat.local_addr().unwrap()));
    let daemon_key = SdesKey::random(Suite::AesCm128HmacSha1_80);
    let seat_key = SdesKey::random(Suite::AesCm128HmacSha1_80);
    seat_leg.set_srtp(Some((&daemon_key, &seat_key))).unwrap();
    let mut seat_srtp = SrtpSession::new(&seat_key, &daemon_key).unwrap();

    // A prompt to the seat is encrypted: plain RTP parsing sees the header, the payload is not the tone's.
    let prompt = Arc::new(Prompt::from_linear(&vec![0i16; 160 * 5]).unwrap());
    seat_leg.play(prompt, false);
    let sealed = recv(&seat).await.expect("prompt packet");
    assert_eq!(sealed.len(), 12 + 160 + 10, "80-bit tag appended");
    let plain = seat_srtp
        .unprotect_rtp(&sealed)
        .expect("decrypts with the SDES key");
    assert!(
        plain[12..].iter().all(|b| *b == 0xff),
        "μ-law silence after decryption"
    );
    assert!(
        sealed[12..172].iter().any(|b| *b != 0xff),
        "not in clear on the wire"
    );
    while recv(&seat).await.is_some() {}

    bridge(&caller_leg, &seat_leg);
    // Seat → caller: SRTP in, plain out.
    for seq in 1..=5u16 {
        let p = seat_srtp.protect_rtp(&rtp_packet(seq, 77, 0x11)).unwrap();
        seat.send_to(&p, seat_leg.local_addr()).await.unwrap();
        let got = recv(&caller).await.expect("relayed to the caller");
        assert_eq!(got.len(), 172, "decrypted: no tag");
        assert!(got[12..].iter().all(|b| *b == 0x11));
    }
    // Caller → seat: plain in, SRTP out, decryptable with the key our answer gave.
    for seq in 1..=5u16 {
        caller
            .send_to(&rtp_packet(seq, 99, 0x22), caller_leg.local_addr())
            .await
            .unwrap();
        let got = recv(&seat).await.expect("relayed to the seat");
        assert_eq!(got.len(), 182);
        let plain = seat_srtp.unprotect_rtp(&got).expect("authenticates");
        assert!(plain[12..].iter().all(|b| *b == 0x22));
    }
    // Forged and plain packets towards the SRTP leg go nowhere.
    let mut forged = seat_srtp.protect_rtp(&rtp_packet(6, 77, 0x33)).unwrap();
    forged[30] ^= 0x40;
    seat.send_to(&forged, seat_leg.local_addr()).await.unwrap();
    seat.send_to(&rtp_packet(7, 77, 0x44), seat_leg.local_addr())
        .await
        .unwrap();
    assert!(recv(&caller).await.is_none(), "nothing relayed");
    assert_eq!(seat_leg.srtp_failures(), 2);
}
