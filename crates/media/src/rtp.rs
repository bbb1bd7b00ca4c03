//! RTP header handling (RFC 3550) and the per-leg outgoing stream state.
//!
//! Our own fixed-offset reader/writer instead of `rtp-rs`: the relay rewrites SSRC/seq/ts in place
//! in the receive buffer, and the generator writes headers straight into a stack buffer, so a
//! 12-byte header codec is all that is needed and avoids a builder per packet.

/// Fixed RTP header length (no CSRCs, no extension) — what we send.
pub const HEADER_LEN: usize = 12;

/// Parsed view of an RTP packet's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub pt: u8,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    /// Payload is `buf[payload_start..payload_end]` (after CSRCs/extension, before padding).
    pub payload_start: usize,
    pub payload_end: usize,
}

/// RTCP packet types 200..=204 land in the second byte range 192..=223 when multiplexed (RFC 5761).
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 2 && (192..=223).contains(&buf[1])
}

/// Parses an RTP header; `None` for anything that is not RTP version 2 or is truncated.
pub fn parse(buf: &[u8]) -> Option<RtpHeader> {
    if buf.len() < HEADER_LEN || buf[0] >> 6 != 2 || is_rtcp(buf) {
        return None;
    }
    let csrc = (buf[0] & 0x0F) as usize;
    let mut start = HEADER_LEN + 4 * csrc;
    if buf[0] & 0x10 != 0 {
        let ext = buf.get(start + 2..start + 4)?;
        let words = u16::from_be_bytes([ext[0], ext[1]]) as usize;
        start += 4 + 4 * words;
    }
    let mut end = buf.len();
    if buf[0] & 0x20 != 0 {
        // RFC 3550 §5.1: the count includes itself, so 0 is invalid; a 0 here would also make the
        // "count" a header byte of an empty-payload packet, changing whenever the relay rewrites
        // the SSRC (found by fuzzing). Appendix A.1: the padding must not reach into the header.
        let pad = *buf.last()? as usize;
        if pad == 0 {
            return None;
        }
        end = end.checked_sub(pad)?;
    }
    if start > end {
        return None;
    }
    Some(RtpHeader {
        marker: buf[1] & 0x80 != 0,
        pt: buf[1] & 0x7F,
        seq: u16::from_be_bytes([buf[2], buf[3]]),
        ts: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        payload_start: start,
        payload_end: end,
    })
}

/// Writes a plain 12-byte header into `buf[..12]`.
pub fn write_header(buf: &mut [u8], marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32) {
    buf[0] = 0x80;
    buf[1] = (pt & 0x7F) | if marker { 0x80 } else { 0 };
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

/// Rewrites marker/PT/seq/ts/SSRC of a received packet in place (fixed offsets).
pub fn rewrite_in_place(buf: &mut [u8], marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32) {
    buf[1] = (pt & 0x7F) | if marker { 0x80 } else { 0 };
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

/// `a` is after `b` in RFC 3550 sequence arithmetic.
pub fn seq_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

/// Samples per 20 ms G.711 frame: the timestamp step per pacing tick.
pub const TS_PER_TICK: u32 = 160;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    None,
    Generated,
    Relay {
        in_ssrc: u32,
        seq_off: u16,
        ts_off: u32,
    },
}

/// The one outgoing RTP stream of a leg. Prompts, mixer output and relayed packets all go through
/// it, so SSRC stays constant and seq/ts stay continuous across prompt → relay → prompt; every
/// switch sets the marker bit. Time enters as the pacing tick number (20 ms each).
#[derive(Debug, Clone)]
pub struct OutStream {
    ssrc: u32,
    seq: u16,
    ts: u32,
    last_tick: Option<u64>,
    source: Source,
    force_marker: bool,
}

/// Header fields for the next outgoing packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutHeader {
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
}

impl OutStream {
    /// Random initial seq/ts (RFC 3550 §5.1) are the caller's to pick.
    pub fn new(ssrc: u32, seq: u16, ts: u32) -> OutStream {
        OutStream {
            ssrc,
            // The first packet gets seq+1; keep the caller's value as that first one.
            seq: seq.wrapping_sub(1),
            ts,
            last_tick: None,
            source: Source::None,
            force_marker: true,
        }
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The timestamp of the last packet sent and its pacing tick (an SR's RTP time, RFC 3550
    /// §6.4.1, is extrapolated from it); `None` before the first packet.
    pub fn last_sent(&self) -> Option<(u32, u64)> {
        self.last_tick.map(|t| (self.ts, t))
    }

    /// The next packet starts a new talkspurt (prompt replaced, hold/resume…).
    pub fn mark_switch(&mut self) {
        self.force_marker = true;
    }

    /// Timestamp the next packet would get after `gap` silent ticks.
    fn advance_ts(&self, tick: u64) -> (u32, bool) {
        match self.last_tick {
            None => (self.ts, true),
            Some(last) => {
                let gap = tick.saturating_sub(last).max(1);
                (
                    self.ts
                        .wrapping_add(TS_PER_TICK.wrapping_mul(gap.min(u32::MAX as u64) as u32)),
                    gap > 1,
                )
            }
        }
    }

    /// Header for a frame we generate (prompt, mixer) in pacing tick `tick`.
    pub fn next_generated(&mut self, tick: u64) -> OutHeader {
        let (ts, gap) = self.advance_ts(tick);
        let marker = self.force_marker || gap || self.source != Source::Generated;
        self.seq = self.seq.wrapping_add(1);
        self.ts = ts;
        self.last_tick = Some(tick);
        self.source = Source::Generated;
        self.force_marker = false;
        OutHeader {
            marker,
            seq: self.seq,
            ts,
            ssrc: self.ssrc,
        }
    }

    /// Header for a packet relayed from another leg. Offsets are fixed at each switch (or when the
    /// incoming SSRC changes) so the incoming stream's own seq gaps and ts steps are preserved.
    pub fn relay(
        &mut self,
        tick: u64,
        in_ssrc: u32,
        in_seq: u16,
        in_ts: u32,
        in_marker: bool,
    ) -> OutHeader {
        let (seq_off, ts_off, switched) = match self.source {
            Source::Relay {
                in_ssrc: s,
                seq_off,
                ts_off,
            } if s == in_ssrc && !self.force_marker => (seq_off, ts_off, false),
            _ => {
                let (ts, _) = self.advance_ts(tick);
                let seq = self.seq.wrapping_add(1);
                let offs = (seq.wrapping_sub(in_seq), ts.wrapping_sub(in_ts));
                self.source = Source::Relay {
                    in_ssrc,
                    seq_off: offs.0,
                    ts_off: offs.1,
                };
                (offs.0, offs.1, true)
            }
        };
        let seq = in_seq.wrapping_add(seq_off);
        let ts = in_ts.wrapping_add(ts_off);
        if switched || seq_newer(seq, self.seq) {
            self.seq = seq;
            self.ts = ts;
        }
        self.last_tick = Some(tick);
        self.force_marker = false;
        OutHeader {
            marker: switched || in_marker,
            seq,
            ts,
            ssrc: self.ssrc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_write_round_trip() {
        let mut buf = [0u8; 172];
        write_header(&mut buf, true, 8, 65535, 0xFFFF_FF00, 0xDEAD_BEEF);
        let h = parse(&buf).unwrap();
        assert_eq!(
            (h.marker, h.pt, h.seq, h.ts, h.ssrc),
            (true, 8, 65535, 0xFFFF_FF00, 0xDEAD_BEEF)
        );
        assert_eq!((h.payload_start, h.payload_end), (12, 172));
    }

    #[test]
    fn parse_skips_csrc_extension_and_padding() {
        let mut buf = vec![0u8; 12 + 8 + 8 + 10 + 2];
        write_header(&mut buf, false, 0, 1, 2, 3);
        buf[0] = 0x80 | 0x20 | 0x10 | 2; // padding, extension, 2 CSRCs
        buf[12 + 8 + 2..12 + 8 + 4].copy_from_slice(&1u16.to_be_bytes()); // 1 ext word
        *buf.last_mut().unwrap() = 2;
        let h = parse(&buf).unwrap();
        assert_eq!(h.payload_start, 12 + 8 + 8);
        assert_eq!(h.payload_end, buf.len() - 2);
    }

    #[test]
    fn parse_refuses_garbage() {
        assert!(parse(&[0x80; 5]).is_none());
        assert!(parse(&[0x40; 20]).is_none()); // version 1
        let mut rtcp = [0u8; 20];
        rtcp[0] = 0x80;
        rtcp[1] = 200;
        assert!(parse(&rtcp).is_none());
        assert!(is_rtcp(&rtcp));
        let mut bad_pad = [0u8; 13];
        bad_pad[0] = 0xA0;
        bad_pad[12] = 200;
        assert!(parse(&bad_pad).is_none());
        // A zero padding count: invalid, the count includes itself.
        let mut zero_pad = [0u8; 16];
        zero_pad[0] = 0xA0;
        assert!(parse(&zero_pad).is_none());
        assert!(
            parse(&zero_pad[..12]).is_none(),
            "and never read from the header"
        );
        zero_pad[15] = 4;
        let h = parse(&zero_pad).unwrap();
        assert_eq!((h.payload_start, h.payload_end), (12, 12), "all padding");
        let mut bad_ext = [0u8; 16];
        bad_ext[0] = 0x90;
        bad_ext[14] = 0xFF;
        assert!(parse(&bad_ext).is_none());
    }

    #[test]
    fn generated_frames_step_by_tick() {
        let mut s = OutStream::new(7, 100, 1000);
        let a = s.next_generated(10);
        let b = s.next_generated(11);
        let c = s.next_generated(12);
        assert_eq!((a.marker, a.seq, a.ts), (true, 100, 1000));
        assert_eq!((b.marker, b.seq, b.ts), (false, 101, 1160));
        assert_eq!((c.marker, c.seq, c.ts), (false, 102, 1320));
        // A pause of 5 ticks: timestamp jumps with the clock, seq does not, marker set.
        let d = s.next_generated(17);
        assert_eq!((d.marker, d.seq, d.ts), (true, 103, 1320 + 5 * 160));
    }

    #[test]
    fn prompt_relay_prompt_is_continuous() {
        let mut s = OutStream::new(42, 0, 0);
        let p1 = s.next_generated(0);
        let p2 = s.next_generated(1);
        assert_eq!((p1.seq, p2.seq), (0, 1));
        // Relay from a peer with its own numbering.
        let r1 = s.relay(2, 999, 5000, 80_000, false);
        assert_eq!((r1.marker, r1.seq, r1.ts, r1.ssrc), (true, 2, 320, 42));
        let r2 = s.relay(3, 999, 5001, 80_160, false);
        assert_eq!((r2.marker, r2.seq, r2.ts), (false, 3, 480));
        // Loss of 5002 is preserved as a gap; reordering keeps mapping.
        let r4 = s.relay(5, 999, 5003, 80_480, false);
        assert_eq!((r4.seq, r4.ts), (5, 800));
        let r3 = s.relay(5, 999, 5002, 80_320, false);
        assert_eq!((r3.seq, r3.ts), (4, 640));
        // Peer restarts its stream with a new SSRC: re-anchored, marker.
        let n = s.relay(6, 1234, 1, 7, false);
        assert_eq!((n.marker, n.seq, n.ts), (true, 6, 960));
        // Back to a prompt.
        let p = s.next_generated(7);
        assert_eq!((p.marker, p.seq, p.ts, p.ssrc), (true, 7, 1120, 42));
    }

    #[test]
    fn sequence_wraps() {
        let mut s = OutStream::new(1, 65535, u32::MAX - 100);
        let a = s.next_generated(0);
        let b = s.next_generated(1);
        assert_eq!((a.seq, b.seq), (65535, 0));
        assert_eq!(b.ts, (u32::MAX - 100).wrapping_add(160));
        assert!(seq_newer(0, 65535));
        assert!(!seq_newer(65535, 0));
    }
}

#[cfg(test)]
mod fuzz_tests {
    use super::*;

    #[test]
    fn random_datagrams_never_panic_and_stay_in_bounds() {
        // Small deterministic LCG: no extra dev-dependency for a few thousand random inputs.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u32
        };
        for _ in 0..20_000 {
            let len = (next() % 64) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if len > 0 && next() % 2 == 0 {
                buf[0] = (buf[0] & 0x3F) | 0x80; // mostly version 2, to reach the deeper checks
            }
            if let Some(h) = parse(&buf) {
                assert!(h.payload_start <= h.payload_end && h.payload_end <= buf.len());
            }
            let mut rx = crate::dtmf::DtmfReceiver::new();
            let _ = rx.on_packet(next(), &buf);
        }
    }
}
