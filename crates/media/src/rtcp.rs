//! RTCP (RFC 3550 §6), sans-IO: compound SR/RR + SDES CNAME building, defensive parsing of
//! SR/RR/SDES/BYE, receiver statistics (Appendix A.3 loss, A.8 jitter), round-trip time from
//! LSR/DLSR (§6.4.1) and the report interval (§6.2, A.7) simplified for a two-party session.
//!
//! Time enters as NTP-format 64-bit timestamps (`u64`, 32.32 fixed point) and RTP timestamp units;
//! nothing here reads a clock.

use std::time::Duration;

pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;
pub const PT_BYE: u8 = 203;
/// SDES item type CNAME (§6.5.1).
const SDES_CNAME: u8 = 1;
/// A report block is 24 bytes (§6.4.1).
const BLOCK_LEN: usize = 24;
/// Longest compound we build: RR/SR with one block, SDES with a CNAME of ≤ 255 bytes, BYE.
pub const MAX_BUILT: usize = 28 + BLOCK_LEN + 8 + 2 + 255 + 4 + 8;

/// Sender info of an SR (§6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// NTP timestamp of the report (64-bit, 32.32).
    pub ntp: u64,
    /// The same instant in our RTP timestamp units.
    pub rtp_ts: u32,
    pub packet_count: u32,
    /// Payload octets sent (headers and padding excluded).
    pub octet_count: u32,
}

/// One reception report block (§6.4.1): what `reporter` knows about the stream `ssrc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative lost (24-bit signed; duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (cycles << 16 | seq).
    pub highest_seq: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received from `ssrc`; 0 if none.
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub dlsr: u32,
}

/// One packet of a parsed compound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    SenderReport {
        ssrc: u32,
        info: SenderInfo,
        blocks: Vec<ReportBlock>,
    },
    ReceiverReport {
        ssrc: u32,
        blocks: Vec<ReportBlock>,
    },
    /// Only CNAME items are kept (§6.5.1); other items are skipped.
    Sdes {
        chunks: Vec<(u32, Option<String>)>,
    },
    Bye {
        ssrcs: Vec<u32>,
        reason: Option<String>,
    },
    /// APP, RTPFB/PSFB (RFC 4585), XR …: length-checked and skipped.
    Other {
        pt: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("RTCP packet shorter than its header")]
    Truncated,
    #[error("RTCP version is not 2")]
    Version,
    #[error("RTCP length field runs past the datagram")]
    Length,
    #[error("RTCP padding is invalid")]
    Padding,
    #[error("RTCP packet too short for its report count")]
    Count,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn parse_block(b: &[u8]) -> ReportBlock {
    // 24-bit signed cumulative loss: sign-extend from bit 23.
    let cum = ((u32::from(b[5]) << 16 | u32::from(b[6]) << 8 | u32::from(b[7])) << 8) as i32 >> 8;
    ReportBlock {
        ssrc: be32(b, 0),
        fraction_lost: b[4],
        cumulative_lost: cum,
        highest_seq: be32(b, 8),
        jitter: be32(b, 12),
        lsr: be32(b, 16),
        dlsr: be32(b, 20),
    }
}

fn parse_blocks(body: &[u8], count: usize) -> Result<Vec<ReportBlock>, ParseError> {
    let need = count * BLOCK_LEN;
    if body.len() < need {
        return Err(ParseError::Count);
    }
    // Bytes after the blocks are profile-specific extensions (§6.4.3): ignored.
    Ok(body[..need]
        .chunks_exact(BLOCK_LEN)
        .map(parse_block)
        .collect())
}

fn parse_sdes(body: &[u8], count: usize) -> Vec<(u32, Option<String>)> {
    let mut chunks = Vec::new();
    let mut at = 0;
    for _ in 0..count {
        let Some(ssrc) = body.get(at..at + 4).map(|s| be32(s, 0)) else {
            break;
        };
        at += 4;
        let mut cname = None;
        // Items until a null octet; the chunk then pads to a 32-bit boundary (§6.5).
        loop {
            match body.get(at) {
                None => return chunks_with(chunks, ssrc, cname),
                Some(0) => break,
                Some(&ty) => {
                    let Some(&len) = body.get(at + 1) else {
                        return chunks_with(chunks, ssrc, cname);
                    };
                    let Some(text) = body.get(at + 2..at + 2 + len as usize) else {
                        return chunks_with(chunks, ssrc, cname);
                    };
                    if ty == SDES_CNAME {
                        cname = Some(String::from_utf8_lossy(text).into_owned());
                    }
                    at += 2 + len as usize;
                }
            }
        }
        chunks.push((ssrc, cname));
        at = (at + 4) & !3; // past the null octet(s) to the next word
    }
    chunks
}

fn chunks_with(
    mut chunks: Vec<(u32, Option<String>)>,
    ssrc: u32,
    cname: Option<String>,
) -> Vec<(u32, Option<String>)> {
    chunks.push((ssrc, cname));
    chunks
}

/// Parses a compound RTCP datagram (§6.1). Each packet's version and length are checked against
/// the datagram (the A.2 validity checks, except that the first packet need not be SR/RR, so
/// reduced-size RTCP (RFC 5506) is read too). Never panics; unknown types come back as `Other`.
pub fn parse(buf: &[u8]) -> Result<Vec<Packet>, ParseError> {
    let mut out = Vec::new();
    let mut rest = buf;
    if rest.len() < 4 {
        return Err(ParseError::Truncated);
    }
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(ParseError::Truncated);
        }
        if rest[0] >> 6 != 2 {
            return Err(ParseError::Version);
        }
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        if len > rest.len() {
            return Err(ParseError::Length);
        }
        let (pkt, tail) = rest.split_at(len);
        rest = tail;
        let mut body = &pkt[4..];
        if pkt[0] & 0x20 != 0 {
            // Padding (§6.4.1): only legal on the last packet, count in the last octet.
            let pad = usize::from(pkt[len - 1]);
            if !rest.is_empty() || pad == 0 || pad > body.len() {
                return Err(ParseError::Padding);
            }
            body = &body[..body.len() - pad];
        }
        let count = usize::from(pkt[0] & 0x1F);
        out.push(match pkt[1] {
            PT_SR => {
                if body.len() < 24 {
                    return Err(ParseError::Count);
                }
                let info = SenderInfo {
                    ntp: u64::from(be32(body, 4)) << 32 | u64::from(be32(body, 8)),
                    rtp_ts: be32(body, 12),
                    packet_count: be32(body, 16),
                    octet_count: be32(body, 20),
                };
                Packet::SenderReport {
                    ssrc: be32(body, 0),
                    info,
                    blocks: parse_blocks(&body[24..], count)?,
                }
            }
            PT_RR => {
                if body.len() < 4 {
                    return Err(ParseError::Count);
                }
                Packet::ReceiverReport {
                    ssrc: be32(body, 0),
                    blocks: parse_blocks(&body[4..], count)?,
                }
            }
            PT_SDES => Packet::Sdes {
                chunks: parse_sdes(body, count),
            },
            PT_BYE => {
                let n = count * 4;
                if body.len() < n {
                    return Err(ParseError::Count);
                }
                let ssrcs = body[..n].chunks_exact(4).map(|c| be32(c, 0)).collect();
                let reason = body.get(n).and_then(|&l| {
                    body.get(n + 1..n + 1 + usize::from(l))
                        .map(|t| String::from_utf8_lossy(t).into_owned())
                });
                Packet::Bye { ssrcs, reason }
            }
            pt => Packet::Other { pt },
        });
    }
    Ok(out)
}

/// Writes the common header (§6.4.1) of a packet spanning `buf[start..end]` (end − start a
/// multiple of 4).
fn finish_header(buf: &mut [u8], start: usize, end: usize, count: u8, pt: u8) {
    let words = ((end - start) / 4 - 1) as u16;
    buf[start] = 0x80 | (count & 0x1F);
    buf[start + 1] = pt;
    buf[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
}

fn put32(buf: &mut [u8], at: usize, v: u32) -> usize {
    buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
    at + 4
}

fn put_block(buf: &mut [u8], mut at: usize, b: &ReportBlock) -> usize {
    at = put32(buf, at, b.ssrc);
    // Clamp to the 24-bit signed field (A.3).
    let cum = b.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32 & 0x00FF_FFFF;
    at = put32(buf, at, u32::from(b.fraction_lost) << 24 | cum);
    at = put32(buf, at, b.highest_seq);
    at = put32(buf, at, b.jitter);
    at = put32(buf, at, b.lsr);
    put32(buf, at, b.dlsr)
}

/// Builds a compound packet (§6.1) into `buf` and returns its length: an SR when `sender` is
/// given (we sent RTP lately), else an RR; at most one report block (two-party session: the
/// peer's SSRC); then SDES with our CNAME (truncated to 255 bytes); then BYE when `bye`.
/// `buf` must hold [`MAX_BUILT`] bytes.
pub fn build_compound(
    buf: &mut [u8],
    ssrc: u32,
    sender: Option<&SenderInfo>,
    block: Option<&ReportBlock>,
    cname: &str,
    bye: bool,
) -> usize {
    let mut at = put32(buf, 4, ssrc);
    let pt = match sender {
        Some(s) => {
            at = put32(buf, at, (s.ntp >> 32) as u32);
            at = put32(buf, at, s.ntp as u32);
            at = put32(buf, at, s.rtp_ts);
            at = put32(buf, at, s.packet_count);
            at = put32(buf, at, s.octet_count);
            PT_SR
        }
        None => PT_RR,
    };
    if let Some(b) = block {
        at = put_block(buf, at, b);
    }
    finish_header(buf, 0, at, u8::from(block.is_some()), pt);

    // SDES (§6.5): one chunk, CNAME item, null terminator, padded to a word.
    let start = at;
    at = put32(buf, at + 4, ssrc);
    let name = &cname.as_bytes()[..cname.len().min(255)];
    buf[at] = SDES_CNAME;
    buf[at + 1] = name.len() as u8;
    buf[at + 2..at + 2 + name.len()].copy_from_slice(name);
    at += 2 + name.len();
    // At least one null octet ends the item list, then pad to 32 bits.
    let end = (at + 4) & !3;
    buf[at..end].fill(0);
    at = end;
    finish_header(buf, start, at, 1, PT_SDES);

    if bye {
        let start = at;
        at = put32(buf, at + 4, ssrc);
        finish_header(buf, start, at, 1, PT_BYE);
    }
    at
}

/// The middle 32 bits of an NTP timestamp: the LSR / arrival-time unit of §6.4.1.
pub fn ntp_mid32(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// An NTP-format duration (32.32) from a `Duration`.
pub fn ntp_from_duration(d: Duration) -> u64 {
    (d.as_secs() << 32) + ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
}

/// Round-trip time (§6.4.1): `arrival` (mid-32 NTP of when the report arrived) − LSR − DLSR, in
/// seconds. `None` when the block reports on no SR of ours (LSR 0) or the result would be
/// negative (clock mismatch, stale block).
pub fn rtt_seconds(arrival_mid32: u32, lsr: u32, dlsr: u32) -> Option<f64> {
    if lsr == 0 {
        return None;
    }
    let since = arrival_mid32.wrapping_sub(lsr);
    // Over half the 16.16 range (~9 h) means arrival is before LSR: not a real answer.
    if since >= 0x8000_0000 || since < dlsr {
        return None;
    }
    Some(f64::from(since - dlsr) / 65536.0)
}

/// §6.2: minimum report interval.
pub const MIN_INTERVAL: Duration = Duration::from_secs(5);
/// RTCP bandwidth: 5 % of a G.711 session (64 kbit/s + 40 bytes IP/UDP/RTP every 20 ms =
/// 80 kbit/s), in bytes per second (§6.2).
pub const RTCP_BW_BYTES_PER_S: f64 = 80_000.0 / 8.0 * 0.05;

/// The deterministic interval of A.7 for a two-party session: `max(min, 2 · avg_size / bw)`, with
/// `min` halved for the first report (§6.2 "initial"). For two members the 25 % sender share rule
/// of A.7 never applies (senders ≤ members/4 needs ≥ 4 members), so it is left out.
pub fn deterministic_interval(min: Duration, initial: bool, avg_rtcp_size: f64) -> Duration {
    let min = if initial { min / 2 } else { min };
    let t = 2.0 * avg_rtcp_size.max(0.0) / RTCP_BW_BYTES_PER_S;
    min.max(Duration::from_secs_f64(t.min(3600.0)))
}

/// Randomises an interval to `[0.5, 1.5] · t` (§6.3.1), `r` uniform in `[0, 1)`. The e − 3/2
/// compensation of A.7 is not applied: it offsets timer reconsideration, which a two-party
/// session without membership churn does not do.
pub fn randomise(t: Duration, r: f64) -> Duration {
    t.mul_f64(0.5 + r.clamp(0.0, 1.0))
}

/// The A.7 running average of compound RTCP sizes (octets incl. 28 bytes of IPv4/UDP): `avg +=
/// (size − avg) / 16`.
pub fn update_avg_size(avg: f64, packet_len: usize) -> f64 {
    avg + ((packet_len + 28) as f64 - avg) / 16.0
}

const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const MIN_SEQUENTIAL: u32 = 2;
const RTP_SEQ_MOD: u32 = 1 << 16;

/// Receiver statistics for the peer's stream: A.1 sequence validation, A.3 loss, A.8 jitter.
#[derive(Debug, Clone, Default)]
pub struct ReceiverStats {
    ssrc: Option<u32>,
    max_seq: u16,
    /// Shifted count of seq wraps (A.1 `cycles`, multiple of 2^16).
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    transit: Option<i64>,
    /// Jitter ×16 (A.8 integer form).
    jitter_x16: u32,
}

impl ReceiverStats {
    pub fn new() -> ReceiverStats {
        ReceiverStats::default()
    }

    /// The SSRC being tracked (the last one that started a stream).
    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// A.1 `update_seq`; returns whether the packet is valid (counted).
    fn update_seq(&mut self, seq: u16) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            // Still validating a new source: need MIN_SEQUENTIAL packets in sequence.
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return true;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return false;
        } else if udelta < MAX_DROPOUT {
            // In order, with permissible gap.
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            // The sequence number made a very large jump.
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets: the sender restarted without telling us.
                self.init_seq(seq);
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return false;
            }
        }
        // else: duplicate or reordered packet.
        self.received += 1;
        true
    }

    /// One RTP packet from the peer. `arrival` is the arrival time in the stream's timestamp
    /// units (8 kHz for G.711) from any fixed origin; `jitter` is false for packets whose
    /// timestamp does not follow the sampling clock (RFC 4733 events repeat theirs). A new SSRC
    /// restarts the statistics (the peer changed streams).
    pub fn on_packet(&mut self, ssrc: u32, seq: u16, rtp_ts: u32, arrival: u32, jitter: bool) {
        if self.ssrc != Some(ssrc) {
            *self = ReceiverStats {
                ssrc: Some(ssrc),
                ..ReceiverStats::default()
            };
            // A.1: a new source starts on probation.
            self.init_seq(seq);
            self.max_seq = seq.wrapping_sub(1);
            self.probation = MIN_SEQUENTIAL;
        }
        if !self.update_seq(seq) || !jitter {
            return;
        }
        // A.8: D = (Rj − Ri) − (Sj − Si), J += (|D| − J) / 16, in the ×16 integer form.
        let transit = i64::from(arrival.wrapping_sub(rtp_ts) as i32);
        if let Some(prev) = self.transit {
            let d = (transit - prev)
                .unsigned_abs()
                .min(u64::from(u32::MAX >> 5)) as u32;
            self.jitter_x16 = self
                .jitter_x16
                .wrapping_add(d)
                .wrapping_sub(self.jitter_x16.saturating_add(8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// Packets counted as received (valid, duplicates included, per A.3).
    pub fn received(&self) -> u32 {
        self.received
    }

    pub fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// A.3 `expected = extended_max − base_seq + 1`; 0 before the source is validated.
    pub fn expected(&self) -> u32 {
        if self.ssrc.is_none() || self.probation > 0 {
            return 0;
        }
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Cumulative packets lost (A.3), clamped to the 24-bit signed report field.
    pub fn lost(&self) -> i32 {
        (i64::from(self.expected()) - i64::from(self.received)).clamp(-0x80_0000, 0x7F_FFFF) as i32
    }

    /// Interarrival jitter in timestamp units (A.8).
    pub fn jitter(&self) -> u32 {
        self.jitter_x16 >> 4
    }

    /// The report block for the peer's stream (§6.4.1), computing the fraction lost since the
    /// previous call (A.3) and moving the interval on. `None` before a valid source.
    pub fn report_block(&mut self, lsr: u32, dlsr: u32) -> Option<ReportBlock> {
        let ssrc = self.ssrc?;
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        Some(ReportBlock {
            ssrc,
            fraction_lost: fraction,
            cumulative_lost: self.lost(),
            highest_seq: self.extended_max(),
            jitter: self.jitter(),
            lsr,
            dlsr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_with(seqs: &[u16]) -> ReceiverStats {
        let mut s = ReceiverStats::new();
        for (i, &seq) in seqs.iter().enumerate() {
            s.on_packet(7, seq, 160 * i as u32, 160 * i as u32, true);
        }
        s
    }

    #[test]
    fn sr_with_block_and_cname_round_trips() {
        let mut buf = [0u8; MAX_BUILT];
        let info = SenderInfo {
            ntp: 0xDEAD_BEEF_1234_5678,
            rtp_ts: 1000,
            packet_count: 50,
            octet_count: 8000,
        };
        let block = ReportBlock {
            ssrc: 0x0102_0304,
            fraction_lost: 64,
            cumulative_lost: -3,
            highest_seq: 0x0001_0005,
            jitter: 17,
            lsr: 0xBEEF_1234,
            dlsr: 0x0001_8000,
        };
        let n = build_compound(
            &mut buf,
            0xAABB_CCDD,
            Some(&info),
            Some(&block),
            "ab",
            false,
        );
        // SR: 4 header + 4 SSRC + 20 sender info + 24 block = 52; SDES: 4 + 4 + 2 + 2 + 1 null
        // (13, padded to 16) = 68 bytes.
        assert_eq!(n, 68);
        assert_eq!(&buf[..4], &[0x81, 200, 0, 12]);
        assert_eq!(&buf[52..56], &[0x81, 202, 0, 3]);
        assert_eq!(&buf[60..68], &[1, 2, b'a', b'b', 0, 0, 0, 0]);
        let p = parse(&buf[..n]).unwrap();
        assert_eq!(
            p,
            vec![
                Packet::SenderReport {
                    ssrc: 0xAABB_CCDD,
                    info,
                    blocks: vec![block]
                },
                Packet::Sdes {
                    chunks: vec![(0xAABB_CCDD, Some("ab".into()))]
                }
            ]
        );
    }

    #[test]
    fn rr_without_block_and_bye() {
        let mut buf = [0u8; MAX_BUILT];
        // CNAME of 2 bytes + 2 item header = 4: the null octet needs a word of its own.
        let n = build_compound(&mut buf, 9, None, None, "xy", true);
        assert_eq!(n, 8 + 16 + 8);
        assert_eq!(&buf[..4], &[0x80, 201, 0, 1]);
        let p = parse(&buf[..n]).unwrap();
        assert_eq!(
            p[0],
            Packet::ReceiverReport {
                ssrc: 9,
                blocks: vec![]
            }
        );
        assert_eq!(
            p[2],
            Packet::Bye {
                ssrcs: vec![9],
                reason: None
            }
        );
        // CNAME of 3 bytes: item 5 bytes + null = 6 → 8.
        let n = build_compound(&mut buf, 9, None, None, "xyz", false);
        assert_eq!(n, 8 + 16);
    }

    #[test]
    fn parse_refuses_bad_lengths_versions_and_padding() {
        let mut buf = [0u8; MAX_BUILT];
        let n = build_compound(&mut buf, 1, None, None, "c", false);
        assert_eq!(parse(&buf[..n - 1]), Err(ParseError::Length));
        assert_eq!(parse(&buf[..3]), Err(ParseError::Truncated));
        let mut v1 = buf;
        v1[0] = 0x40;
        assert_eq!(parse(&v1[..n]), Err(ParseError::Version));
        // Report count 1 but no block.
        let mut rc = buf;
        rc[0] = 0x81;
        assert_eq!(parse(&rc[..n]), Err(ParseError::Count));
        // Padding bit on the first of two packets.
        let mut pad = buf;
        pad[0] |= 0x20;
        pad[7] = 4;
        assert_eq!(parse(&pad[..n]), Err(ParseError::Padding));
    }

    #[test]
    fn bye_with_reason() {
        let b = [0x81, 203, 0, 2, 0, 0, 0, 5, 3, b'b', b'y', b'e'];
        assert_eq!(
            parse(&b).unwrap(),
            vec![Packet::Bye {
                ssrcs: vec![5],
                reason: Some("bye".into())
            }]
        );
    }

    #[test]
    fn rtt_from_rfc_example() {
        // §6.4.1 figure: A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000 → 6.125 s.
        assert_eq!(
            rtt_seconds(0xb710_8000, 0xb705_2000, 0x0005_4000),
            Some(6.125)
        );
        assert_eq!(rtt_seconds(0xb710_8000, 0, 0x0005_4000), None);
        // DLSR longer than the time since LSR: impossible, no RTT.
        assert_eq!(rtt_seconds(0xb706_0000, 0xb705_2000, 0x0005_4000), None);
        // Across the 16.16 wrap.
        assert_eq!(
            rtt_seconds(0x0000_8000, 0xFFFF_8000, 0x0000_8000),
            Some(0.5)
        );
    }

    #[test]
    fn ntp_helpers() {
        assert_eq!(
            ntp_from_duration(Duration::from_millis(1500)),
            0x1_8000_0000
        );
        assert_eq!(ntp_mid32(0x1234_5678_9ABC_DEF0), 0x5678_9ABC);
    }

    #[test]
    fn interval_is_min_halved_first_and_randomised() {
        // 2 · 100 B / 500 B/s = 0.4 s < 5 s: the minimum rules a G.711 call.
        assert_eq!(RTCP_BW_BYTES_PER_S, 500.0);
        assert_eq!(
            deterministic_interval(MIN_INTERVAL, false, 100.0),
            MIN_INTERVAL
        );
        assert_eq!(
            deterministic_interval(MIN_INTERVAL, true, 100.0),
            Duration::from_millis(2500)
        );
        // Huge average packets: 2 · 2000 / 500 = 8 s.
        assert_eq!(
            deterministic_interval(MIN_INTERVAL, false, 2000.0),
            Duration::from_secs(8)
        );
        assert_eq!(randomise(MIN_INTERVAL, 0.0), Duration::from_millis(2500));
        assert_eq!(randomise(MIN_INTERVAL, 0.5), MIN_INTERVAL);
        assert_eq!(randomise(MIN_INTERVAL, 1.0), Duration::from_millis(7500));
        // avg 100, packet 52 + 28 = 80: 100 + (80 − 100)/16 = 98.75
        assert_eq!(update_avg_size(100.0, 52), 98.75);
    }

    #[test]
    fn loss_counts_and_fraction_per_interval() {
        // Probation: 100 is not counted, 101 validates and restarts the count at 101.
        let mut s = stats_with(&[100, 101, 102, 104, 105]);
        assert_eq!(s.received(), 4);
        assert_eq!(s.extended_max(), 105);
        assert_eq!(s.expected(), 5); // 101..=105
        assert_eq!(s.lost(), 1); // 103
        let b = s.report_block(0, 0).unwrap();
        // 1 lost of 5 expected: 256 / 5 = 51.
        assert_eq!(
            (b.fraction_lost, b.cumulative_lost, b.highest_seq),
            (51, 1, 105)
        );
        // Next interval: 106..=109 all arrive → fraction 0, cumulative still 1.
        for seq in 106..=109 {
            s.on_packet(7, seq, 0, 0, false);
        }
        let b = s.report_block(0, 0).unwrap();
        assert_eq!((b.fraction_lost, b.cumulative_lost), (0, 1));
        // A duplicate makes received exceed expected: lost −1 in the next interval, fraction 0.
        let mut d = stats_with(&[1, 2, 3, 3]);
        assert_eq!(d.lost(), -1);
        assert_eq!(d.report_block(0, 0).unwrap().fraction_lost, 0);
    }

    #[test]
    fn sequence_wrap_extends_highest() {
        let s = stats_with(&[65534, 65535, 0, 1]);
        assert_eq!(s.extended_max(), 65536 + 1);
        assert_eq!(s.expected(), 3); // 65535, 0, 1
        assert_eq!(s.lost(), 0);
    }

    #[test]
    fn large_jump_needs_two_packets_then_restarts() {
        let mut s = stats_with(&[10, 11, 12]);
        s.on_packet(7, 20_000, 0, 0, false);
        assert_eq!(s.extended_max(), 12, "one jump is ignored");
        s.on_packet(7, 20_001, 0, 0, false);
        assert_eq!(
            (s.extended_max(), s.expected(), s.received()),
            (20_001, 1, 1)
        );
    }

    #[test]
    fn new_ssrc_restarts() {
        let mut s = stats_with(&[1, 2, 3]);
        s.on_packet(8, 500, 0, 0, true);
        s.on_packet(8, 501, 160, 160, true);
        assert_eq!((s.ssrc(), s.expected(), s.received()), (Some(8), 1, 1));
    }

    #[test]
    fn jitter_follows_a8() {
        let mut s = ReceiverStats::new();
        // Packets every 160 ts units; arrivals at 0, 160, 400 (80 late), 480. The first packet
        // only starts probation; transit of the rest: 0, 80, 0, so D = 80, 80.
        // ×16 form: J = 0 → 0 + 80 − 0 = 80 → 80 + 80 − ((80+8)>>4 = 5) = 155. J = 155>>4 = 9.
        // (The float form gives 80/16 = 5, then 5 + (80 − 5)/16 = 9.69.)
        for (i, arr) in [0u32, 160, 400, 480].iter().enumerate() {
            s.on_packet(1, i as u16, 160 * i as u32, *arr, true);
        }
        assert_eq!(s.jitter(), 9);
        // Timestamps that do not follow the clock (DTMF) are left out.
        s.on_packet(1, 4, 0, 100_000, false);
        assert_eq!(s.jitter(), 9);
    }
}

#[cfg(test)]
mod prop_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn parse_never_panics_on_v2_headers(
            mut bytes in proptest::collection::vec(any::<u8>(), 4..200),
            pt in 200u8..=204,
            words in 0u16..60,
        ) {
            // Mostly-valid first header, to reach the per-type parsers.
            bytes[0] = (bytes[0] & 0x3F) | 0x80;
            bytes[1] = pt;
            bytes[2..4].copy_from_slice(&words.to_be_bytes());
            let _ = parse(&bytes);
        }

        #[test]
        fn build_then_parse_round_trips(
            ssrc in any::<u32>(),
            sr in proptest::option::of((any::<u64>(), any::<u32>(), any::<u32>(), any::<u32>())),
            block in proptest::option::of((any::<u32>(), any::<u8>(), -0x80_0000i32..0x80_0000,
                any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>())),
            cname in "[a-z0-9@.]{0,40}",
            bye in any::<bool>(),
        ) {
            let info = sr.map(|(ntp, rtp_ts, packet_count, octet_count)| SenderInfo {
                ntp, rtp_ts, packet_count, octet_count,
            });
            let block = block.map(|(ssrc, fraction_lost, cumulative_lost, highest_seq, jitter, lsr, dlsr)| {
                ReportBlock { ssrc, fraction_lost, cumulative_lost, highest_seq, jitter, lsr, dlsr }
            });
            let mut buf = [0u8; MAX_BUILT];
            let n = build_compound(&mut buf, ssrc, info.as_ref(), block.as_ref(), &cname, bye);
            prop_assert_eq!(n % 4, 0);
            let p = parse(&buf[..n]).unwrap();
            let blocks: Vec<ReportBlock> = block.into_iter().collect();
            let first = match info {
                Some(info) => Packet::SenderReport { ssrc, info, blocks },
                None => Packet::ReceiverReport { ssrc, blocks },
            };
            prop_assert_eq!(&p[0], &first);
            prop_assert_eq!(&p[1], &Packet::Sdes { chunks: vec![(ssrc, Some(cname.clone()))] });
            prop_assert_eq!(p.len(), if bye { 3 } else { 2 });
        }

        #[test]
        fn stats_never_panic(pkts in proptest::collection::vec(
            (any::<u32>(), any::<u16>(), any::<u32>(), any::<u32>(), any::<bool>()), 0..200)) {
            let mut s = ReceiverStats::new();
            for (ssrc, seq, ts, arr, j) in pkts {
                s.on_packet(ssrc % 3, seq, ts, arr, j);
                let _ = s.report_block(1, 2);
                let _ = s.lost();
            }
        }
    }
}
