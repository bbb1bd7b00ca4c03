//! RTCP (RFC 3550 §6): the packets (SR, RR, SDES CNAME, BYE, compound), a leg's receiver
//! statistics (Appendix A.1, A.3, A.8), the report interval (§6.3, Appendix A.7), an estimated
//! MOS (`emodel`, ITU-T G.107 simplified) and the per-leg session that ties them together.
//! Sans-IO: time is an input (µs on the engine's monotonic clock, NTP derived from it).
//!
//! Parsing never panics: every length is checked against the datagram, and anything we do not
//! understand (APP, RTPFB/PSFB feedback, XR…) is kept as [`RtcpPacket::Other`].

pub mod emodel;
pub mod interval;
pub mod session;
pub mod stats;

pub use session::{LegQualityReport, RtcpSession, SenderSnapshot};
pub use stats::ReceiverStats;

/// Packet types (RFC 3550 §12.1).
pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;
pub const PT_BYE: u8 = 203;
/// SDES item CNAME (RFC 3550 §6.5.1).
const SDES_CNAME: u8 = 1;
/// At most 31 report blocks fit the 5-bit count of one SR/RR.
pub const MAX_REPORTS: usize = 31;

/// One reception report block (RFC 3550 §6.4.1): what the sender of the report heard of `ssrc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Fraction of packets lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost: a signed 24-bit value (duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (cycles << 16 | seq).
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received from `ssrc` (0: none).
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub dlsr: u32,
}

/// The sender info of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// 64-bit NTP timestamp (seconds since 1900 << 32 | fraction).
    pub ntp: u64,
    pub rtp_ts: u32,
    pub packets: u32,
    /// Payload octets sent (headers and padding not counted).
    pub octets: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    SenderReport {
        ssrc: u32,
        info: SenderInfo,
        reports: Vec<ReportBlock>,
    },
    ReceiverReport {
        ssrc: u32,
        reports: Vec<ReportBlock>,
    },
    /// SDES: the CNAME of each chunk's source (other items are skipped).
    Sdes { chunks: Vec<(u32, Option<String>)> },
    Bye {
        ssrcs: Vec<u32>,
        reason: Option<String>,
    },
    /// A packet type we do not interpret (APP, feedback, XR…).
    Other { pt: u8 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    #[error("RTCP packet shorter than its header or its length field")]
    Truncated,
    #[error("RTCP version is not 2")]
    Version,
    #[error("RTCP packet is malformed: {0}")]
    Malformed(&'static str),
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn parse_block(b: &[u8]) -> ReportBlock {
    // b is exactly 24 bytes (checked by the caller).
    let lost = be32(b, 4) & 0x00FF_FFFF;
    // Sign-extend the 24-bit count.
    let cumulative_lost = ((lost << 8) as i32) >> 8;
    ReportBlock {
        ssrc: be32(b, 0),
        fraction_lost: b[4],
        cumulative_lost,
        highest_seq: be32(b, 8),
        jitter: be32(b, 12),
        lsr: be32(b, 16),
        dlsr: be32(b, 20),
    }
}

fn parse_blocks(body: &[u8], count: usize) -> Result<Vec<ReportBlock>, RtcpError> {
    let need = count * 24;
    if body.len() < need {
        return Err(RtcpError::Truncated);
    }
    // Anything after the blocks is a profile-specific extension (§6.4.1): ignored.
    Ok(body[..need].chunks_exact(24).map(parse_block).collect())
}

fn parse_sdes(body: &[u8], count: usize) -> Result<Vec<(u32, Option<String>)>, RtcpError> {
    let mut chunks = Vec::with_capacity(count.min(31));
    let mut at = 0;
    for _ in 0..count {
        if body.len() < at + 4 {
            return Err(RtcpError::Truncated);
        }
        let ssrc = be32(body, at);
        at += 4;
        let mut cname = None;
        loop {
            let Some(&kind) = body.get(at) else {
                return Err(RtcpError::Truncated);
            };
            if kind == 0 {
                // End of the item list; the chunk is padded to the next 32-bit boundary.
                at = (at + 4) & !3;
                break;
            }
            let len = *body.get(at + 1).ok_or(RtcpError::Truncated)? as usize;
            let text = body.get(at + 2..at + 2 + len).ok_or(RtcpError::Truncated)?;
            if kind == SDES_CNAME {
                cname = Some(String::from_utf8_lossy(text).into_owned());
            }
            at += 2 + len;
        }
        chunks.push((ssrc, cname));
    }
    Ok(chunks)
}

fn parse_bye(body: &[u8], count: usize) -> Result<RtcpPacket, RtcpError> {
    if body.len() < count * 4 {
        return Err(RtcpError::Truncated);
    }
    let ssrcs = (0..count).map(|i| be32(body, i * 4)).collect();
    let rest = &body[count * 4..];
    let reason = match rest.first() {
        Some(&len) if len > 0 => {
            let text = rest
                .get(1..1 + len as usize)
                .ok_or(RtcpError::Malformed("BYE reason longer than the packet"))?;
            Some(String::from_utf8_lossy(text).into_owned())
        }
        _ => None,
    };
    Ok(RtcpPacket::Bye { ssrcs, reason })
}

/// Parses a compound RTCP packet (RFC 3550 §6.1): every packet version 2, each length within the
/// datagram. Lenient where receivers are told to be (Appendix A.2 checks the first packet is an
/// SR/RR; reduced-size RTCP, RFC 5506, sends others alone, so that is not required here).
pub fn parse_compound(buf: &[u8]) -> Result<Vec<RtcpPacket>, RtcpError> {
    let mut out = Vec::new();
    let mut at = 0;
    if buf.len() < 4 {
        return Err(RtcpError::Truncated);
    }
    while at < buf.len() {
        let hdr = buf.get(at..at + 4).ok_or(RtcpError::Truncated)?;
        if hdr[0] >> 6 != 2 {
            return Err(RtcpError::Version);
        }
        let padding = hdr[0] & 0x20 != 0;
        let count = (hdr[0] & 0x1F) as usize;
        let pt = hdr[1];
        let len = (u16::from_be_bytes([hdr[2], hdr[3]]) as usize + 1) * 4;
        let pkt = buf.get(at..at + len).ok_or(RtcpError::Truncated)?;
        let mut body = &pkt[4..];
        if padding {
            // §6.4.1: the last octet counts the padding, itself included.
            let pad = *pkt.last().ok_or(RtcpError::Truncated)? as usize;
            if pad == 0 || pad > body.len() {
                return Err(RtcpError::Malformed("bad padding count"));
            }
            body = &body[..body.len() - pad];
        }
        out.push(match pt {
            PT_SR => {
                if body.len() < 24 {
                    return Err(RtcpError::Truncated);
                }
                let info = SenderInfo {
                    ntp: (u64::from(be32(body, 4)) << 32) | u64::from(be32(body, 8)),
                    rtp_ts: be32(body, 12),
                    packets: be32(body, 16),
                    octets: be32(body, 20),
                };
                RtcpPacket::SenderReport {
                    ssrc: be32(body, 0),
                    info,
                    reports: parse_blocks(&body[24..], count)?,
                }
            }
            PT_RR => {
                if body.len() < 4 {
                    return Err(RtcpError::Truncated);
                }
                RtcpPacket::ReceiverReport {
                    ssrc: be32(body, 0),
                    reports: parse_blocks(&body[4..], count)?,
                }
            }
            PT_SDES => RtcpPacket::Sdes {
                chunks: parse_sdes(body, count)?,
            },
            PT_BYE => parse_bye(body, count)?,
            pt => RtcpPacket::Other { pt },
        });
        at += len;
    }
    Ok(out)
}

fn header(out: &mut Vec<u8>, count: usize, pt: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0x80 | (count as u8 & 0x1F), pt, 0, 0]);
    start
}

/// Pads to 32 bits with zeros and fills in the length field of the packet that starts at `start`.
fn finish(out: &mut Vec<u8>, start: usize) {
    while (out.len() - start) % 4 != 0 {
        out.push(0);
    }
    let words = ((out.len() - start) / 4 - 1) as u16;
    out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
}

fn write_block(out: &mut Vec<u8>, r: &ReportBlock) {
    out.extend_from_slice(&r.ssrc.to_be_bytes());
    let lost = (r.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32) & 0x00FF_FFFF;
    out.extend_from_slice(&((u32::from(r.fraction_lost) << 24) | lost).to_be_bytes());
    for v in [r.highest_seq, r.jitter, r.lsr, r.dlsr] {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn write_text(out: &mut Vec<u8>, text: &str) {
    // An 8-bit length: longer text is cut at a character boundary.
    let mut end = text.len().min(255);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.push(end as u8);
    out.extend_from_slice(&text.as_bytes()[..end]);
}

impl RtcpPacket {
    /// Appends the packet's wire form (RFC 3550 §6.4–6.6). Report lists longer than
    /// [`MAX_REPORTS`] are cut to it.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            RtcpPacket::SenderReport {
                ssrc,
                info,
                reports,
            } => {
                let reports = &reports[..reports.len().min(MAX_REPORTS)];
                let start = header(out, reports.len(), PT_SR);
                out.extend_from_slice(&ssrc.to_be_bytes());
                out.extend_from_slice(&info.ntp.to_be_bytes());
                for v in [info.rtp_ts, info.packets, info.octets] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                reports.iter().for_each(|r| write_block(out, r));
                finish(out, start);
            }
            RtcpPacket::ReceiverReport { ssrc, reports } => {
                let reports = &reports[..reports.len().min(MAX_REPORTS)];
                let start = header(out, reports.len(), PT_RR);
                out.extend_from_slice(&ssrc.to_be_bytes());
                reports.iter().for_each(|r| write_block(out, r));
                finish(out, start);
            }
            RtcpPacket::Sdes { chunks } => {
                let chunks = &chunks[..chunks.len().min(MAX_REPORTS)];
                let start = header(out, chunks.len(), PT_SDES);
                for (ssrc, cname) in chunks {
                    out.extend_from_slice(&ssrc.to_be_bytes());
                    let item_start = out.len();
                    if let Some(c) = cname {
                        out.push(SDES_CNAME);
                        write_text(out, c);
                    }
                    // Null item(s) end the list and pad the chunk to 32 bits (§6.5).
                    out.push(0);
                    while (out.len() - item_start) % 4 != 0 {
                        out.push(0);
                    }
                }
                finish(out, start);
            }
            RtcpPacket::Bye { ssrcs, reason } => {
                let ssrcs = &ssrcs[..ssrcs.len().min(MAX_REPORTS)];
                let start = header(out, ssrcs.len(), PT_BYE);
                ssrcs
                    .iter()
                    .for_each(|s| out.extend_from_slice(&s.to_be_bytes()));
                if let Some(r) = reason {
                    write_text(out, r);
                }
                finish(out, start);
            }
            // Never sent by us; an empty packet of that type keeps `write` total.
            RtcpPacket::Other { pt } => {
                let start = header(out, 0, *pt);
                finish(out, start);
            }
        }
    }
}

/// A compound packet's wire form.
pub fn write_compound(packets: &[RtcpPacket]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    packets.iter().for_each(|p| p.write(&mut out));
    out
}

/// RFC 5761 §4: on a multiplexed port, a second byte of 192..=223 (RTP payload types 64–95 with
/// the marker bit) is RTCP; everything else is RTP.
pub fn is_rtcp(buf: &[u8]) -> bool {
    crate::rtp::is_rtcp(buf)
}

/// µs on a monotonic clock → 64-bit NTP, given the NTP time of µs 0.
pub fn ntp_at(ntp_epoch: u64, us: u64) -> u64 {
    let secs = us / 1_000_000;
    let frac = ((us % 1_000_000) << 32) / 1_000_000;
    ntp_epoch.wrapping_add((secs << 32) | frac)
}

/// The middle 32 bits of an NTP timestamp (the LSR/DLSR unit: 1/65536 s).
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// The wall clock as NTP (seconds since 1900): what the shell gives a session as its epoch.
pub fn ntp_from_unix(unix: std::time::Duration) -> u64 {
    const UNIX_TO_NTP: u64 = 2_208_988_800;
    let secs = unix.as_secs() + UNIX_TO_NTP;
    let frac = (u64::from(unix.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(ssrc: u32, lost: i32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: 64,
            cumulative_lost: lost,
            highest_seq: 0x0001_0010,
            jitter: 40,
            lsr: 0x1234_5678,
            dlsr: 0x0001_8000,
        }
    }

    #[test]
    fn compound_round_trips() {
        let pkts = vec![
            RtcpPacket::SenderReport {
                ssrc: 7,
                info: SenderInfo {
                    ntp: 0x0102_0304_0506_0708,
                    rtp_ts: 9,
                    packets: 10,
                    octets: 1600,
                },
                reports: vec![block(1, -3), block(2, 0x7F_FFFF)],
            },
            RtcpPacket::Sdes {
                chunks: vec![(7, Some("hotline@10.0.0.1".into())), (8, None)],
            },
            RtcpPacket::Bye {
                ssrcs: vec![7],
                reason: Some("call ended".into()),
            },
            RtcpPacket::ReceiverReport {
                ssrc: 5,
                reports: vec![],
            },
        ];
        let wire = write_compound(&pkts);
        assert_eq!(wire.len() % 4, 0);
        assert!(is_rtcp(&wire));
        assert_eq!(parse_compound(&wire).unwrap(), pkts);
    }

    #[test]
    fn sr_layout_matches_rfc3550() {
        let wire = write_compound(&[RtcpPacket::ReceiverReport {
            ssrc: 0xAABB_CCDD,
            reports: vec![block(1, 2)],
        }]);
        // V=2, RC=1, PT=201, length 7 words (8 words − 1).
        assert_eq!(&wire[..4], &[0x81, 201, 0, 7]);
        assert_eq!(wire.len(), 32);
        // fraction lost 64 then a 24-bit cumulative count of 2.
        assert_eq!(&wire[12..16], &[64, 0, 0, 2]);
    }

    #[test]
    fn cumulative_lost_is_clamped_and_sign_extended() {
        let wire = write_compound(&[RtcpPacket::ReceiverReport {
            ssrc: 1,
            reports: vec![block(1, -9_000_000), block(2, 9_000_000)],
        }]);
        let Ok(p) = parse_compound(&wire) else {
            panic!("parses")
        };
        let RtcpPacket::ReceiverReport { reports, .. } = &p[0] else {
            panic!("RR")
        };
        assert_eq!(reports[0].cumulative_lost, -0x80_0000);
        assert_eq!(reports[1].cumulative_lost, 0x7F_FFFF);
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        assert_eq!(parse_compound(&[]), Err(RtcpError::Truncated));
        assert_eq!(parse_compound(&[0x40, 200, 0, 0]), Err(RtcpError::Version));
        // Length field says 2 words more than there are.
        assert_eq!(
            parse_compound(&[0x80, 201, 0, 2, 0, 0, 0, 1]),
            Err(RtcpError::Truncated)
        );
        // RC=1 but no block.
        assert_eq!(
            parse_compound(&[0x81, 201, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::Truncated)
        );
        // Padding count 0, and a padding count longer than the body.
        assert!(parse_compound(&[0xA0, 201, 0, 1, 0, 0, 0, 0]).is_err());
        assert!(parse_compound(&[0xA0, 201, 0, 1, 0, 0, 0, 9]).is_err());
        // SDES item running past the end.
        assert!(parse_compound(&[0x81, 202, 0, 2, 0, 0, 0, 1, 1, 200, 0, 0]).is_err());
        // BYE reason longer than the packet.
        assert!(parse_compound(&[0x81, 203, 0, 2, 0, 0, 0, 1, 50, 1, 2, 3]).is_err());
    }

    #[test]
    fn unknown_types_are_kept_as_other() {
        let wire = [0x81, 205, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        assert_eq!(
            parse_compound(&wire).unwrap(),
            vec![RtcpPacket::Other { pt: 205 }]
        );
    }

    #[test]
    fn ntp_conversions() {
        assert_eq!(ntp_at(0, 1_500_000), (1 << 32) | (1 << 31));
        assert_eq!(ntp_middle((1 << 32) | (1 << 31)), 0x0001_8000);
        let t = ntp_from_unix(std::time::Duration::from_secs(0));
        assert_eq!(t >> 32, 2_208_988_800);
    }
}
