//! Receiver statistics of one incoming RTP stream, as RFC 3550 Appendix A.1 (sequence
//! validation), A.3 (expected, lost, fraction) and A.8 (interarrival jitter) compute them.
//!
//! [`ReceiverStats::on_rtp`] runs in the relay's hot path, under the leg's lock the engine takes
//! anyway: a handful of integer operations, no allocation, no lock of its own.

use super::ReportBlock;

/// RFC 3550 A.1 constants.
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const MIN_SEQUENTIAL: u8 = 2;
const SEQ_MOD: u32 = 1 << 16;

/// One source's counters (A.1 `source`); a new SSRC starts a new one, the old one's counts are
/// kept in the totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Source {
    ssrc: u32,
    max_seq: u16,
    /// Shifted count of sequence number cycles (A.1: cycles += RTP_SEQ_MOD).
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u8,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Relative transit time of the previous audio packet (A.8), `None` before the first.
    transit: Option<u32>,
    /// Jitter × 16, as A.8's integer form keeps it (u64: 16 × a 2³¹ transit step still fits).
    jitter16: u64,
}

impl Source {
    fn new(ssrc: u32, seq: u16) -> Source {
        let mut s = Source {
            ssrc,
            ..Source::default()
        };
        s.init_seq(seq);
        // A.1: a new source is on probation until MIN_SEQUENTIAL packets in sequence.
        s.max_seq = seq.wrapping_sub(1);
        s.probation = MIN_SEQUENTIAL;
        s
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// A.1 `update_seq`: true when the packet counts.
    fn update_seq(&mut self, seq: u16) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
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
        }
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(SEQ_MOD);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= SEQ_MOD - u32::from(MAX_MISORDER) {
            // A large jump: the source restarted, if the next packet follows this one.
            if u32::from(seq) == self.bad_seq {
                self.init_seq(seq);
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (SEQ_MOD - 1);
                return false;
            }
        }
        // else: a duplicate or reordered packet, counted as received.
        self.received = self.received.wrapping_add(1);
        true
    }

    fn jitter_ts(&self) -> u32 {
        (self.jitter16 >> 4).min(u64::from(u32::MAX)) as u32
    }

    fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    fn expected(&self) -> u32 {
        if self.probation > 0 {
            return 0;
        }
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }
}

/// Receive statistics of the stream a leg's peer sends us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    src: Option<Source>,
    /// Every RTP packet seen (on probation and counted ones alike).
    packets: u64,
    /// Expected and received of earlier sources (SSRC changes).
    past_expected: u64,
    past_received: u64,
}

impl ReceiverStats {
    pub fn new() -> ReceiverStats {
        ReceiverStats::default()
    }

    /// One RTP packet: its SSRC, sequence number and timestamp, its arrival on the same clock as
    /// the timestamp (8 kHz for G.711 and telephone-event), and whether it is audio of the
    /// negotiated codec (jitter is counted only over those: RFC 4733 events repeat one timestamp
    /// for a whole digit, which would read as jitter).
    #[inline]
    pub fn on_rtp(&mut self, ssrc: u32, seq: u16, ts: u32, arrival: u32, audio: bool) {
        self.packets += 1;
        let s = match &mut self.src {
            Some(s) if s.ssrc == ssrc => s,
            slot => {
                if let Some(old) = slot.take() {
                    self.past_expected += u64::from(old.expected());
                    self.past_received += u64::from(old.received);
                }
                slot.insert(Source::new(ssrc, seq))
            }
        };
        if !s.update_seq(seq) || !audio {
            return;
        }
        // A.8: J += (|D| − J)/16 on the relative transit times, in integer form (J × 16).
        let transit = arrival.wrapping_sub(ts);
        if let Some(prev) = s.transit {
            let d = u64::from((transit.wrapping_sub(prev) as i32).unsigned_abs());
            s.jitter16 = s.jitter16 + d - ((s.jitter16 + 8) >> 4);
        }
        s.transit = Some(transit);
    }

    /// The SSRC being received, once a packet arrived.
    pub fn ssrc(&self) -> Option<u32> {
        self.src.map(|s| s.ssrc)
    }

    /// RTP packets seen in all.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Packets expected over the whole leg (all sources).
    pub fn expected(&self) -> u64 {
        self.past_expected + self.src.map_or(0, |s| u64::from(s.expected()))
    }

    /// Packets counted as received (A.1; the probation packets of each source excluded).
    pub fn received(&self) -> u64 {
        self.past_received + self.src.map_or(0, |s| u64::from(s.received))
    }

    /// Cumulative lost (A.3): expected − received; negative with duplicates.
    pub fn lost(&self) -> i64 {
        self.expected() as i64 - self.received() as i64
    }

    /// Interarrival jitter of the current source in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.src.map_or(0, |s| s.jitter_ts())
    }

    /// The report block about the current source (A.3), and the interval counters moved on.
    /// `lsr`/`dlsr` are the session's (the last SR from that source). `None` before any packet.
    pub fn report_block(&mut self, lsr: u32, dlsr: u32) -> Option<ReportBlock> {
        let s = self.src.as_mut()?;
        let expected = s.expected();
        let expected_interval = expected.wrapping_sub(s.expected_prior);
        s.expected_prior = expected;
        let received_interval = s.received.wrapping_sub(s.received_prior);
        s.received_prior = s.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        let lost = i64::from(expected) - i64::from(s.received);
        Some(ReportBlock {
            ssrc: s.ssrc,
            fraction_lost,
            cumulative_lost: lost.clamp(-0x80_0000, 0x7F_FFFF) as i32,
            highest_seq: s.extended_max(),
            jitter: s.jitter_ts(),
            lsr,
            dlsr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packets every 20 ms (160 ts units) from `first`, skipping those `skip` says, arriving
    /// with `delay(i)` extra ts units.
    fn feed(
        st: &mut ReceiverStats,
        ssrc: u32,
        first: u16,
        n: u16,
        skip: impl Fn(u16) -> bool,
        delay: impl Fn(u16) -> u32,
    ) {
        for i in 0..n {
            if skip(i) {
                continue;
            }
            let seq = first.wrapping_add(i);
            let ts = 1000u32.wrapping_add(160 * u32::from(i));
            let arrival = 50_000 + 160 * u32::from(i) + delay(i);
            st.on_rtp(ssrc, seq, ts, arrival, true);
        }
    }

    #[test]
    fn no_loss_no_jitter() {
        let mut st = ReceiverStats::new();
        feed(&mut st, 1, 100, 50, |_| false, |_| 0);
        // The first packet is probation (A.1): 49 expected, 49 received.
        assert_eq!((st.expected(), st.received(), st.lost()), (49, 49, 0));
        assert_eq!(st.jitter(), 0);
        let b = st.report_block(0, 0).unwrap();
        assert_eq!((b.fraction_lost, b.cumulative_lost), (0, 0));
        assert_eq!(b.highest_seq, 149);
    }

    #[test]
    fn every_tenth_packet_lost_is_ten_percent() {
        let mut st = ReceiverStats::new();
        feed(&mut st, 1, 0, 201, |i| i % 10 == 5, |_| 0);
        // seq 1..=200 expected (200), 20 of them missing.
        assert_eq!((st.expected(), st.lost()), (200, 20));
        let b = st.report_block(0, 0).unwrap();
        assert_eq!(b.fraction_lost, (20 * 256 / 200) as u8);
        assert_eq!(b.cumulative_lost, 20);
        // The next interval without loss reports 0 but keeps the cumulative count.
        feed(&mut st, 1, 201, 50, |_| false, |_| 0);
        let b = st.report_block(0, 0).unwrap();
        assert_eq!((b.fraction_lost, b.cumulative_lost), (0, 20));
    }

    #[test]
    fn sequence_wrap_counts_a_cycle() {
        let mut st = ReceiverStats::new();
        feed(&mut st, 9, 65_530, 20, |_| false, |_| 0);
        let b = st.report_block(0, 0).unwrap();
        assert_eq!(
            b.highest_seq,
            (1 << 16) | u32::from(65_530u16.wrapping_add(19))
        );
        assert_eq!(b.cumulative_lost, 0);
    }

    #[test]
    fn jitter_follows_a8() {
        // Alternate 0 and 80 ts units (10 ms) of extra delay: |D| = 80 on every packet after the
        // first, so J converges to 80.
        let mut st = ReceiverStats::new();
        feed(
            &mut st,
            1,
            0,
            400,
            |_| false,
            |i| if i % 2 == 0 { 0 } else { 80 },
        );
        assert!((76..=80).contains(&st.jitter()), "{}", st.jitter());
        // DTMF packets (same ts for a whole event) do not count as jitter.
        let mut d = ReceiverStats::new();
        for i in 0..100u16 {
            d.on_rtp(1, i, 5000, 160 * u32::from(i), false);
        }
        assert_eq!(d.jitter(), 0);
    }

    #[test]
    fn duplicates_and_reordering_are_not_loss() {
        let mut st = ReceiverStats::new();
        for seq in [10u16, 11, 13, 12, 12, 14] {
            st.on_rtp(1, seq, u32::from(seq) * 160, u32::from(seq) * 160, true);
        }
        // Base 11 (after probation), max 14: 4 expected, 5 received (one duplicate).
        assert_eq!((st.expected(), st.received(), st.lost()), (4, 5, -1));
        let b = st.report_block(0, 0).unwrap();
        assert_eq!((b.fraction_lost, b.cumulative_lost), (0, -1));
    }

    #[test]
    fn a_new_ssrc_starts_a_new_source_and_keeps_the_totals() {
        let mut st = ReceiverStats::new();
        feed(&mut st, 1, 0, 11, |i| i == 5, |_| 0);
        feed(&mut st, 2, 3000, 11, |_| false, |_| 0);
        assert_eq!(st.ssrc(), Some(2));
        assert_eq!((st.expected(), st.lost()), (20, 1));
        assert_eq!(st.packets(), 21);
    }

    #[test]
    fn a_restarted_source_is_followed_after_two_packets() {
        let mut st = ReceiverStats::new();
        feed(&mut st, 1, 0, 10, |_| false, |_| 0);
        // Jump far ahead (not a dropout): the first packet is held back, the second restarts.
        st.on_rtp(1, 40_000, 0, 0, true);
        assert_eq!(st.expected(), 9);
        st.on_rtp(1, 40_001, 160, 160, true);
        st.on_rtp(1, 40_002, 320, 320, true);
        assert_eq!((st.expected(), st.lost()), (2, 0));
    }

    #[test]
    fn nothing_received_means_no_block() {
        assert_eq!(ReceiverStats::new().report_block(0, 0), None);
    }
}
