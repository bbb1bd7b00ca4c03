//! The RTCP report interval, RFC 3550 §6.2–6.3 as Appendix A.7 computes it.
//!
//! Each leg is its own two-party RTP session (we terminate RTCP per leg), so membership is fixed
//! at two and timer reconsideration (§6.3.3, §6.3.6) would never change the outcome: it is not
//! implemented. What remains is A.7's `rtcp_interval`: the deterministic interval is
//! `max(Tmin, avg_rtcp_size · n / rtcp_bw)` with Tmin = 5 s (2.5 s before the first report), times
//! a random factor in [0.5, 1.5], divided by e − 3/2 (the compensation for reconsideration's
//! bias, §6.3.1). For a G.711 leg the 5 s minimum always wins, so the intervals lie in
//! [2.05 s, 6.16 s] (first report: [1.03 s, 3.08 s]), 4.1 s on average.

/// Tmin (RFC 3550 §6.2).
pub const MIN_INTERVAL_S: f64 = 5.0;
/// e − 3/2 (RFC 3550 §6.3.1, A.7 `COMPENSATION`).
const COMPENSATION: f64 = std::f64::consts::E - 1.5;
const SENDER_BW_FRACTION: f64 = 0.25;
const RECEIVER_BW_FRACTION: f64 = 1.0 - SENDER_BW_FRACTION;
/// RTCP's share of the session bandwidth (§6.2): 5 %.
const RTCP_FRACTION: f64 = 0.05;
/// G.711 at 20 ms: (160 payload + 12 RTP + 8 UDP + 20 IPv4) octets × 50 packets/s.
pub const G711_SESSION_OCTETS_PER_S: f64 = 200.0 * 50.0;

/// Inputs of A.7's `rtcp_interval`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalInputs {
    pub members: u32,
    pub senders: u32,
    /// Session bandwidth in octets per second (RTCP gets 5 % of it).
    pub session_bw: f64,
    pub we_sent: bool,
    /// Average compound RTCP size in octets, UDP and IP headers included (§6.2).
    pub avg_rtcp_size: f64,
    /// No report sent yet: half the minimum (§6.2).
    pub initial: bool,
}

/// The next interval in seconds; `rand01` is uniform in [0, 1) (the randomisation of §6.3.1 as an
/// input, so tests run in simulated time).
pub fn rtcp_interval(i: IntervalInputs, rand01: f64) -> f64 {
    let min = if i.initial {
        MIN_INTERVAL_S / 2.0
    } else {
        MIN_INTERVAL_S
    };
    let mut bw = i.session_bw * RTCP_FRACTION;
    let mut n = f64::from(i.members.max(1));
    // §6.2: senders share a quarter of the RTCP bandwidth when they are few.
    if f64::from(i.senders) <= f64::from(i.members) * SENDER_BW_FRACTION {
        if i.we_sent {
            bw *= SENDER_BW_FRACTION;
            n = f64::from(i.senders.max(1));
        } else {
            bw *= RECEIVER_BW_FRACTION;
            n = f64::from(i.members.saturating_sub(i.senders).max(1));
        }
    }
    let t = if bw > 0.0 {
        (i.avg_rtcp_size * n / bw).max(min)
    } else {
        min
    };
    let r = if rand01.is_finite() {
        rand01.clamp(0.0, 1.0)
    } else {
        0.5
    };
    t * (r + 0.5) / COMPENSATION
}

/// A two-party G.711 leg (the only kind we run).
pub fn two_party(avg_rtcp_size: f64, we_sent: bool, initial: bool) -> IntervalInputs {
    IntervalInputs {
        members: 2,
        senders: if we_sent { 2 } else { 1 },
        session_bw: G711_SESSION_OCTETS_PER_S,
        we_sent,
        avg_rtcp_size,
        initial,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_party_leg_uses_the_five_second_minimum_randomised() {
        let lo = rtcp_interval(two_party(100.0, true, false), 0.0);
        let mid = rtcp_interval(two_party(100.0, true, false), 0.5);
        let hi = rtcp_interval(two_party(100.0, true, false), 1.0);
        assert!((lo - 2.5 / COMPENSATION).abs() < 1e-9, "{lo}");
        assert!((mid - 5.0 / COMPENSATION).abs() < 1e-9, "{mid}");
        assert!((hi - 7.5 / COMPENSATION).abs() < 1e-9, "{hi}");
        assert!((2.05..2.06).contains(&lo) && (6.15..6.16).contains(&hi));
    }

    #[test]
    fn the_first_report_comes_after_half_the_minimum() {
        let first = rtcp_interval(two_party(100.0, false, true), 0.5);
        assert!((first - 2.5 / COMPENSATION).abs() < 1e-9);
    }

    #[test]
    fn large_sessions_scale_with_members() {
        // 1,000 receivers, 1 sender, 200-octet reports: 200 × 999 / (500 × 0.75) = 532.8 s.
        let i = IntervalInputs {
            members: 1000,
            senders: 1,
            session_bw: G711_SESSION_OCTETS_PER_S,
            we_sent: false,
            avg_rtcp_size: 200.0,
            initial: false,
        };
        let t = rtcp_interval(i, 0.5) * COMPENSATION;
        assert!((t - 532.8).abs() < 1e-6, "{t}");
    }

    #[test]
    fn odd_inputs_do_not_produce_nan() {
        let i = IntervalInputs {
            session_bw: 0.0,
            members: 0,
            ..two_party(100.0, true, false)
        };
        assert!(rtcp_interval(i, f64::NAN).is_finite());
    }
}
