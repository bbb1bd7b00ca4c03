//! CPU cost of the sans-IO hot paths (divan): `cargo bench -p media --bench media`.
//! (c) mixer CPU per three-party call = `mixer_three_party_tick` × 50 ticks/s.

use std::hint::black_box;

use media::mixer::{Mixer, PcmFrame};
use media::rtp::{self, OutStream};
use media::sdp::{answer, SdpSession};
use media::{g711, Codec, Prompt};

fn main() {
    divan::main();
}

fn encoded(law: Codec, seed: i32) -> [u8; 160] {
    let mut f = [0u8; 160];
    for (i, b) in f.iter_mut().enumerate() {
        let s = (((i as i32 * 37 + seed) % 200) - 100) * 150;
        *b = match law {
            Codec::Pcmu => g711::linear_to_ulaw(s as i16),
            Codec::Pcma => g711::linear_to_alaw(s as i16),
        };
    }
    f
}

/// One 20 ms tick of a three-party call: decode each party's G.711 frame, queue it, mix, encode
/// one output per party in its own law (two μ-law parties, one A-law).
#[divan::bench]
fn mixer_three_party_tick(bencher: divan::Bencher) {
    let laws = [Codec::Pcmu, Codec::Pcma, Codec::Pcmu];
    let inputs: Vec<[u8; 160]> = laws
        .iter()
        .enumerate()
        .map(|(i, l)| encoded(*l, i as i32 * 11))
        .collect();
    let mut mixer = Mixer::new(3, 1, 4);
    let mut out = vec![[0i16; 160]; 3];
    let mut wire = [[0u8; 160]; 3];
    let mut seq = 0u16;
    bencher.bench_local(|| {
        for (p, (law, input)) in laws.iter().zip(inputs.iter()).enumerate() {
            let table = match law {
                Codec::Pcmu => &g711::ULAW_TO_LINEAR,
                Codec::Pcma => &g711::ALAW_TO_LINEAR,
            };
            let mut pcm: PcmFrame = [0; 160];
            for (o, b) in pcm.iter_mut().zip(input.iter()) {
                *o = table[*b as usize];
            }
            mixer.push(p, seq, &pcm);
        }
        seq = seq.wrapping_add(1);
        mixer.mix(&mut out);
        for ((law, pcm), w) in laws.iter().zip(out.iter()).zip(wire.iter_mut()) {
            for (o, s) in w.iter_mut().zip(pcm.iter()) {
                *o = match law {
                    Codec::Pcmu => g711::linear_to_ulaw(*s),
                    Codec::Pcma => g711::linear_to_alaw(*s),
                };
            }
        }
        black_box(&wire);
    });
}

/// Per relayed packet, without the syscalls: parse, map seq/ts/SSRC, rewrite in place.
#[divan::bench(args = [false, true])]
fn relay_rewrite(bencher: divan::Bencher, transcode: bool) {
    let mut pkt = [0u8; 172];
    rtp::write_header(&mut pkt, false, 0, 1, 160, 99);
    pkt[12..].copy_from_slice(&encoded(Codec::Pcmu, 3));
    let mut out = OutStream::new(7, 1000, 5000);
    let mut seq = 1u16;
    let mut ts = 160u32;
    bencher.bench_local(|| {
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
        pkt[2..4].copy_from_slice(&seq.to_be_bytes());
        pkt[4..8].copy_from_slice(&ts.to_be_bytes());
        let h = rtp::parse(black_box(&pkt)).unwrap();
        if transcode {
            g711::ulaw_to_alaw_in_place(&mut pkt[h.payload_start..h.payload_end]);
        }
        let o = out.relay(seq as u64, h.ssrc, h.seq, h.ts, h.marker);
        rtp::rewrite_in_place(&mut pkt, o.marker, 8, o.seq, o.ts, o.ssrc);
        black_box(&pkt);
    });
}

/// Per generated prompt packet, without the syscall.
#[divan::bench]
fn prompt_packet(bencher: divan::Bencher) {
    let prompt = Prompt::from_linear(&vec![1000i16; 8000]).unwrap();
    let mut out = OutStream::new(1, 1, 1);
    let mut tick = 0u64;
    let mut buf = [0u8; 172];
    bencher.bench_local(|| {
        tick += 1;
        let f = prompt.frame(Codec::Pcma, (tick % 50) as usize).unwrap();
        let h = out.next_generated(tick);
        rtp::write_header(&mut buf, h.marker, 8, h.seq, h.ts, h.ssrc);
        buf[12..].copy_from_slice(f);
        black_box(&buf);
    });
}

const BARESIP: &str = "v=0\r\no=- 1196390871 1815049209 IN IP4 10.0.0.5\r\ns=-\r\nt=0 0\r\nm=audio 10342 RTP/AVP 96 9 8 0 101\r\nc=IN IP4 10.0.0.5\r\nb=AS:64\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 stereo=1;sprop-stereo=1\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n";

#[divan::bench]
fn sdp_answer(bencher: divan::Bencher) {
    let local = "192.0.2.1:30000".parse().unwrap();
    let mut s = SdpSession::new(1);
    bencher.bench_local(|| black_box(answer(black_box(BARESIP), local, &mut s).unwrap()));
}

/// RTCP receive statistics per relayed packet (RFC 3550 A.1 sequence check, A.8 jitter): what
/// counting adds to the relay's hot path.
#[divan::bench]
fn rtcp_receive_stats(bencher: divan::Bencher) {
    let mut st = media::rtcp::ReceiverStats::new();
    let mut i: u32 = 0;
    bencher.bench_local(|| {
        i = i.wrapping_add(1);
        let jitter = (i & 7) * 10;
        st.on_rtp(
            0x1234,
            black_box(i as u16),
            i.wrapping_mul(160),
            i.wrapping_mul(160).wrapping_add(jitter),
            true,
        );
    });
    black_box(st.lost());
}
