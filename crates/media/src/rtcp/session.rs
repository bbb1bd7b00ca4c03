//! One leg's RTCP session (RFC 3550 §6): we are one of its two members, we send SR (RR when we
//! sent nothing) with SDES CNAME at the §6.3 interval, and we read the peer's reports about our
//! stream. Sans-IO: the engine feeds received RTP into [`RtcpSession::rx`], received RTCP into
//! [`RtcpSession::on_rtcp`], asks [`RtcpSession::poll`] at [`RtcpSession::next_due_us`], and sends
//! what it returns. Time is µs on one monotonic clock; NTP timestamps are derived from it.

use std::sync::Arc;

use super::interval::{rtcp_interval, two_party};
use super::stats::ReceiverStats;
use super::{
    emodel, ntp_at, ntp_middle, parse_compound, write_compound, ReportBlock, RtcpError, RtcpPacket,
    SenderInfo,
};

/// RTP clock of every codec we speak (G.711, telephone-event): ts units per ms.
const TS_PER_MS: f64 = 8.0;
/// UDP + IPv4 headers, counted in the average RTCP size (§6.2).
const UDP_IP_OCTETS: f64 = 28.0;
/// An RTT above this is a clock or LSR mix-up, not a measurement.
const MAX_RTT_MS: f64 = 60_000.0;

/// What the engine knows of our outgoing stream when a report is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderSnapshot {
    /// RTP packets sent on the leg so far.
    pub packets: u64,
    /// Payload octets sent so far.
    pub payload_octets: u64,
    /// The RTP timestamp that corresponds to now (§6.4.1).
    pub rtp_ts: u32,
}

/// A leg's figures, for the call record (docs/quality.md).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LegQualityReport {
    /// RTP packets received from the peer.
    pub packets_received: u64,
    /// Packets lost on the way to us (A.3: expected − received; negative with duplicates).
    pub lost: i64,
    /// `lost` / expected, 0 when nothing was expected.
    pub loss_fraction: f64,
    /// Interarrival jitter of the peer's stream at its last packet, ms.
    pub jitter_ms: f64,
    /// The peer's last report about our stream: cumulative lost…
    pub peer_reported_lost: Option<i64>,
    /// … its fraction lost over its last interval (0–1) …
    pub peer_reported_fraction: Option<f64>,
    /// … and the jitter it measured, ms.
    pub peer_jitter_ms: Option<f64>,
    /// Round trip from the peer's LSR/DLSR echo of our last SR it got (§6.4.1).
    pub rtt_ms: Option<f64>,
    /// Estimated MOS (`emodel`) over the worse direction; `None` with neither media nor report.
    pub mos: Option<f64>,
    pub reports_sent: u32,
    pub reports_received: u32,
}

#[derive(Debug, Clone)]
pub struct RtcpSession {
    ssrc: u32,
    /// Shared by every leg of an engine (RFC 7022 §4.2 lets an endpoint use one per run).
    cname: Arc<str>,
    ntp_epoch: u64,
    /// The peer's stream, counted per packet by the engine.
    pub rx: ReceiverStats,
    /// LSR (middle of the peer's last SR's NTP) and when it arrived.
    last_sr: Option<(u32, u64)>,
    /// The peer's last report block about our SSRC.
    peer: Option<ReportBlock>,
    rtt_ms: Option<f64>,
    next_due_us: Option<u64>,
    avg_rtcp_size: f64,
    /// Packets we had sent at the last two reports (we are a sender when it grew, §6.4).
    sent_at: [u64; 2],
    reports_sent: u32,
    reports_received: u32,
    peer_left: bool,
}

impl RtcpSession {
    /// `ssrc` is our outgoing stream's; `ntp_epoch` the NTP time of µs 0 of the clock `now_us`
    /// runs on.
    pub fn new(ssrc: u32, cname: impl Into<Arc<str>>, ntp_epoch: u64) -> RtcpSession {
        RtcpSession {
            ssrc,
            cname: cname.into(),
            ntp_epoch,
            rx: ReceiverStats::new(),
            last_sr: None,
            peer: None,
            rtt_ms: None,
            next_due_us: None,
            // A first guess: our own compound SR + SDES with headers.
            avg_rtcp_size: 100.0,
            sent_at: [0; 2],
            reports_sent: 0,
            reports_received: 0,
            peer_left: false,
        }
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// When the next report is due; `None` until [`RtcpSession::start`].
    pub fn next_due_us(&self) -> Option<u64> {
        self.next_due_us
    }

    /// Schedules the first report (half the minimum interval, §6.2) unless already running.
    pub fn start(&mut self, now_us: u64, rand01: f64) {
        if self.next_due_us.is_none() {
            let t = rtcp_interval(two_party(self.avg_rtcp_size, false, true), rand01);
            self.next_due_us = Some(now_us.saturating_add((t * 1e6) as u64));
        }
    }

    /// The peer sent BYE (§6.6).
    pub fn peer_left(&self) -> bool {
        self.peer_left
    }

    /// A compound RTCP packet from the peer. Errors leave the session as it was.
    pub fn on_rtcp(&mut self, buf: &[u8], now_us: u64) -> Result<(), RtcpError> {
        let packets = parse_compound(buf)?;
        self.avg_rtcp_size += (buf.len() as f64 + UDP_IP_OCTETS - self.avg_rtcp_size) / 16.0;
        let arrival = ntp_middle(ntp_at(self.ntp_epoch, now_us));
        for p in packets {
            let blocks = match p {
                RtcpPacket::SenderReport { info, reports, .. } => {
                    self.last_sr = Some((ntp_middle(info.ntp), now_us));
                    reports
                }
                RtcpPacket::ReceiverReport { reports, .. } => reports,
                RtcpPacket::Bye { .. } => {
                    self.peer_left = true;
                    continue;
                }
                _ => continue,
            };
            self.reports_received += 1;
            if let Some(b) = blocks.into_iter().find(|b| b.ssrc == self.ssrc) {
                if b.lsr != 0 {
                    // §6.4.1: RTT = A − LSR − DLSR, in 1/65536 s.
                    let rtt = arrival.wrapping_sub(b.lsr).wrapping_sub(b.dlsr) as i32;
                    let ms = f64::from(rtt) * 1000.0 / 65536.0;
                    if (0.0..MAX_RTT_MS).contains(&ms) {
                        self.rtt_ms = Some(ms);
                    }
                }
                self.peer = Some(b);
            }
        }
        Ok(())
    }

    fn block(&mut self, now_us: u64) -> Option<ReportBlock> {
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => {
                let dlsr = (now_us.saturating_sub(at) as u128 * 65536 / 1_000_000) as u64;
                (lsr, dlsr.min(u64::from(u32::MAX)) as u32)
            }
            None => (0, 0),
        };
        self.rx.report_block(lsr, dlsr)
    }

    fn report(&mut self, now_us: u64, sender: Option<SenderSnapshot>) -> Vec<RtcpPacket> {
        let sent = sender.map_or(0, |s| s.packets);
        let we_sent = sent > self.sent_at[0];
        self.sent_at = [self.sent_at[1], sent];
        let reports: Vec<ReportBlock> = self.block(now_us).into_iter().collect();
        let first = match sender {
            Some(s) if we_sent => RtcpPacket::SenderReport {
                ssrc: self.ssrc,
                info: SenderInfo {
                    ntp: ntp_at(self.ntp_epoch, now_us),
                    rtp_ts: s.rtp_ts,
                    packets: s.packets as u32,
                    octets: s.payload_octets as u32,
                },
                reports,
            },
            _ => RtcpPacket::ReceiverReport {
                ssrc: self.ssrc,
                reports,
            },
        };
        self.reports_sent += 1;
        // §6.1: every compound packet carries an SDES CNAME.
        vec![
            first,
            RtcpPacket::Sdes {
                chunks: vec![(self.ssrc, Some(self.cname.to_string()))],
            },
        ]
    }

    /// When a report is due (and the session started): the compound SR/RR + SDES to send, and the
    /// next report scheduled with `rand01` (uniform in [0, 1)).
    pub fn poll(
        &mut self,
        now_us: u64,
        sender: Option<SenderSnapshot>,
        rand01: f64,
    ) -> Option<Vec<u8>> {
        if now_us < self.next_due_us? {
            return None;
        }
        let wire = write_compound(&self.report(now_us, sender));
        self.avg_rtcp_size += (wire.len() as f64 + UDP_IP_OCTETS - self.avg_rtcp_size) / 16.0;
        let we_sent = self.sent_at[1] > self.sent_at[0];
        let t = rtcp_interval(two_party(self.avg_rtcp_size, we_sent, false), rand01);
        self.next_due_us = Some(now_us.saturating_add((t * 1e6) as u64));
        Some(wire)
    }

    /// A report fell due with nobody to send it to: the next one an interval later.
    pub fn postpone(&mut self, now_us: u64, rand01: f64) {
        if self.next_due_us.is_some() {
            let t = rtcp_interval(two_party(self.avg_rtcp_size, false, false), rand01);
            self.next_due_us = Some(now_us.saturating_add((t * 1e6) as u64));
        }
    }

    /// The last compound we send when the leg ends: a report, SDES and BYE (§6.3.7, §6.6). `None` when
    /// we never sent a report: a member that sent no RTCP need not say it leaves (§6.3.7 keeps BYE for
    /// participants the others have seen), which spares the packet for every leg shorter than the
    /// first interval.
    pub fn bye(&mut self, now_us: u64, sender: Option<SenderSnapshot>) -> Option<Vec<u8>> {
        if self.reports_sent == 0 {
            self.next_due_us = None;
            return None;
        }
        let mut pkts = self.report(now_us, sender);
        pkts.push(RtcpPacket::Bye {
            ssrcs: vec![self.ssrc],
            reason: None,
        });
        self.next_due_us = None;
        Some(write_compound(&pkts))
    }

    /// The leg's figures now.
    pub fn quality(&self) -> LegQualityReport {
        let expected = self.rx.expected();
        let lost = self.rx.lost();
        let loss_fraction = if expected > 0 {
            (lost.max(0) as f64 / expected as f64).min(1.0)
        } else {
            0.0
        };
        let jitter_ms = f64::from(self.rx.jitter()) / TS_PER_MS;
        let peer_fraction = self.peer.map(|b| f64::from(b.fraction_lost) / 256.0);
        let peer_jitter = self.peer.map(|b| f64::from(b.jitter) / TS_PER_MS);
        let heard = self.rx.packets() > 0;
        // The worse direction: what the peer hears of us or what we get of it.
        let mos = (heard || self.peer.is_some()).then(|| {
            emodel::mos(
                loss_fraction.max(peer_fraction.unwrap_or(0.0)),
                jitter_ms.max(peer_jitter.unwrap_or(0.0)),
                self.rtt_ms,
            )
        });
        LegQualityReport {
            packets_received: self.rx.packets(),
            lost,
            loss_fraction,
            jitter_ms,
            peer_reported_lost: self.peer.map(|b| i64::from(b.cumulative_lost)),
            peer_reported_fraction: peer_fraction,
            peer_jitter_ms: peer_jitter,
            rtt_ms: self.rtt_ms,
            mos,
            reports_sent: self.reports_sent,
            reports_received: self.reports_received,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: u32 = 0x1111;
    const THEIRS: u32 = 0x2222;
    const EPOCH: u64 = 3_900_000_000 << 32;

    fn rr_from_peer(fraction: u8, lost: i32, lsr: u32, dlsr: u32) -> Vec<u8> {
        write_compound(&[RtcpPacket::ReceiverReport {
            ssrc: THEIRS,
            reports: vec![ReportBlock {
                ssrc: OURS,
                fraction_lost: fraction,
                cumulative_lost: lost,
                highest_seq: 500,
                jitter: 80,
                lsr,
                dlsr,
            }],
        }])
    }

    fn snap(packets: u64) -> Option<SenderSnapshot> {
        Some(SenderSnapshot {
            packets,
            payload_octets: packets * 160,
            rtp_ts: packets as u32 * 160,
        })
    }

    #[test]
    fn reports_go_out_at_the_interval_in_simulated_time() {
        let mut s = RtcpSession::new(OURS, "hotline@test", EPOCH);
        assert_eq!(s.poll(0, snap(0), 0.5), None, "not started");
        s.start(0, 0.5);
        let first = s.next_due_us().unwrap();
        assert!((2_050_000..2_055_000).contains(&first), "{first}");
        assert_eq!(s.poll(first - 1, snap(10), 0.5), None);
        let wire = s.poll(first, snap(100), 0.0).unwrap();
        let pkts = parse_compound(&wire).unwrap();
        assert!(matches!(
            pkts[0],
            RtcpPacket::SenderReport { ssrc: OURS, .. }
        ));
        assert!(
            matches!(&pkts[1], RtcpPacket::Sdes { chunks } if chunks[0].1.as_deref() == Some("hotline@test"))
        );
        // rand 0 → the shortest regular interval, 2.5 s / (e − 1.5).
        let next = s.next_due_us().unwrap() - first;
        assert!((2_050_000..2_055_000).contains(&next), "{next}");
        // Sent since the report before last (§6.4): still an SR; then nothing for two: an RR.
        let now = s.next_due_us().unwrap();
        let wire = s.poll(now, snap(100), 1.0).unwrap();
        assert!(matches!(
            parse_compound(&wire).unwrap()[0],
            RtcpPacket::SenderReport { .. }
        ));
        let now = s.next_due_us().unwrap();
        let wire = s.poll(now, snap(100), 1.0).unwrap();
        assert!(matches!(
            parse_compound(&wire).unwrap()[0],
            RtcpPacket::ReceiverReport { .. }
        ));
        assert_eq!(s.quality().reports_sent, 3);
    }

    #[test]
    fn our_report_carries_what_we_measured() {
        let mut s = RtcpSession::new(OURS, "c", EPOCH);
        s.start(0, 0.0);
        for i in 0..=100u16 {
            if i % 10 != 3 {
                s.rx.on_rtp(THEIRS, i, u32::from(i) * 160, u32::from(i) * 160, true);
            }
        }
        let due = s.next_due_us().unwrap();
        let wire = s.poll(due, None, 0.5).unwrap();
        let RtcpPacket::ReceiverReport { reports, .. } = &parse_compound(&wire).unwrap()[0] else {
            panic!("RR when we sent nothing")
        };
        assert_eq!(reports[0].ssrc, THEIRS);
        assert_eq!(reports[0].cumulative_lost, 10);
        assert_eq!(reports[0].fraction_lost, (10 * 256 / 100) as u8);
        let q = s.quality();
        assert_eq!((q.packets_received, q.lost), (91, 10));
        assert!((q.loss_fraction - 0.1).abs() < 1e-9);
    }

    #[test]
    fn the_peers_report_and_round_trip_are_read() {
        let mut s = RtcpSession::new(OURS, "c", EPOCH);
        s.start(0, 0.0);
        let due = s.next_due_us().unwrap();
        let sr = s.poll(due, snap(50), 0.5).unwrap();
        let RtcpPacket::SenderReport { info, .. } = &parse_compound(&sr).unwrap()[0] else {
            panic!("SR")
        };
        let lsr = ntp_middle(info.ntp);
        // The peer holds our SR for 100 ms (DLSR) and its RR reaches us 160 ms after our SR
        // left: RTT 60 ms.
        let dlsr = 65536 / 10;
        s.on_rtcp(&rr_from_peer(64, 42, lsr, dlsr), due + 160_000)
            .unwrap();
        let q = s.quality();
        assert_eq!(q.peer_reported_lost, Some(42));
        assert_eq!(q.peer_reported_fraction, Some(0.25));
        assert_eq!(q.peer_jitter_ms, Some(10.0));
        let rtt = q.rtt_ms.unwrap();
        assert!((rtt - 60.0).abs() < 0.1, "{rtt}");
        // MOS from the worse direction: 25 % loss reported by the peer.
        let m = q.mos.unwrap();
        assert!((2.0..2.5).contains(&m), "{m}");
        assert_eq!(q.reports_received, 1);
    }

    #[test]
    fn an_sr_from_the_peer_is_echoed_in_lsr_and_dlsr() {
        let mut s = RtcpSession::new(OURS, "c", EPOCH);
        s.start(0, 0.0);
        s.rx.on_rtp(THEIRS, 1, 0, 0, true);
        s.rx.on_rtp(THEIRS, 2, 160, 160, true);
        let peer_ntp: u64 = (3_900_000_123 << 32) | (1 << 31);
        let sr = write_compound(&[RtcpPacket::SenderReport {
            ssrc: THEIRS,
            info: SenderInfo {
                ntp: peer_ntp,
                ..SenderInfo::default()
            },
            reports: vec![],
        }]);
        s.on_rtcp(&sr, 1_000_000).unwrap();
        let due = s.next_due_us().unwrap();
        let wire = s.poll(due.max(1_500_000), None, 0.5).unwrap();
        let RtcpPacket::ReceiverReport { reports, .. } = &parse_compound(&wire).unwrap()[0] else {
            panic!("RR")
        };
        assert_eq!(reports[0].lsr, ntp_middle(peer_ntp));
        let held_us = due.max(1_500_000) - 1_000_000;
        assert_eq!(u64::from(reports[0].dlsr), held_us * 65536 / 1_000_000);
    }

    #[test]
    fn bad_reports_and_foreign_blocks_change_nothing() {
        let mut s = RtcpSession::new(OURS, "c", EPOCH);
        assert!(s.on_rtcp(&[0x81, 201, 0, 9], 0).is_err());
        let other = write_compound(&[RtcpPacket::ReceiverReport {
            ssrc: THEIRS,
            reports: vec![ReportBlock {
                ssrc: 0x9999,
                fraction_lost: 255,
                ..ReportBlock::default()
            }],
        }]);
        s.on_rtcp(&other, 0).unwrap();
        assert_eq!(s.quality().peer_reported_fraction, None);
        assert_eq!(s.quality().mos, None, "nothing heard, nothing reported");
    }

    #[test]
    fn bye_ends_the_reports() {
        let mut s = RtcpSession::new(OURS, "c", EPOCH);
        s.start(0, 0.5);
        assert_eq!(s.clone().bye(1_000, snap(3)), None, "no report yet: no BYE");
        let due = s.next_due_us().unwrap();
        s.poll(due, snap(2), 0.5).unwrap();
        let wire = s.bye(due + 1_000, snap(3)).unwrap();
        let pkts = parse_compound(&wire).unwrap();
        assert!(matches!(pkts.last(), Some(RtcpPacket::Bye { ssrcs, .. }) if ssrcs == &[OURS]));
        assert_eq!(s.next_due_us(), None);
        let mut peer = RtcpSession::new(THEIRS, "p", EPOCH);
        peer.on_rtcp(&wire, 2_000).unwrap();
        assert!(peer.peer_left());
    }
}
