//! A simplified E-model (ITU-T G.107) for an estimated MOS of a G.711 leg.
//!
//! Simplifications (all defaults of G.107 Table 3 except loss and delay):
//! - R = 93.2 − Id − Ie,eff: Ro − Is = 93.2 with default noise/loudness, A = 0.
//! - Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl/BurstR + Bpl) (G.107 §7.3), Ie = 0 for G.711
//!   (G.113 App. I), BurstR = 1 (random loss).
//! - Bpl = 4.3 (G.711 *without* packet-loss concealment, G.113 App. I) by default: we cannot
//!   know whether the far phone conceals loss, so the estimate errs low. 25.1 (with PLC) is
//!   available as [`BPL_G711_PLC`].
//! - Id from the one-way delay d alone, with the common simplification of Cole & Rosenbluth
//!   (2001) of G.107's Idd/Idte/Idle: Id = 0.024·d + 0.11·(d − 177.3)·H(d − 177.3), d in ms.
//! - MOS = 1 + 0.035·R + R·(R − 60)·(100 − R)·7·10⁻⁶ (G.107 Annex B), 1 for R < 0, 4.5 for
//!   R > 100.

/// G.711 without PLC (G.113 Appendix I).
pub const BPL_G711: f64 = 4.3;
/// G.711 with Appendix I packet-loss concealment.
pub const BPL_G711_PLC: f64 = 25.1;

/// Delay impairment Id for a one-way mouth-to-ear delay `d_ms` (simplified, see module docs).
pub fn delay_impairment(d_ms: f64) -> f64 {
    let d = d_ms.max(0.0);
    0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 }
}

/// Effective equipment impairment for G.711 (Ie = 0) at `loss_pct` random loss (0–100).
pub fn loss_impairment(loss_pct: f64, bpl: f64) -> f64 {
    let ie = 0.0;
    let ppl = loss_pct.clamp(0.0, 100.0);
    let burst_r = 1.0;
    ie + (95.0 - ie) * ppl / (ppl / burst_r + bpl)
}

/// The transmission rating R for G.711 from loss (percent) and one-way delay (ms).
pub fn r_factor(loss_pct: f64, one_way_delay_ms: f64, bpl: f64) -> f64 {
    93.2 - delay_impairment(one_way_delay_ms) - loss_impairment(loss_pct, bpl)
}

/// MOS (conversational quality estimate, 1–4.5) from R (G.107 Annex B).
pub fn mos_from_r(r: f64) -> f64 {
    if r.is_nan() || r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        // The cubic dips just under 1 for R < ~6.5.
        (1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6).max(1.0)
    }
}

/// One-way delay estimate for a leg: half the RTCP round-trip time (0 when unknown), plus a
/// jitter buffer of twice the interarrival jitter, plus one 20 ms G.711 frame of packetisation.
pub fn one_way_delay_ms(rtt_ms: Option<f64>, jitter_ms: f64) -> f64 {
    rtt_ms.unwrap_or(0.0).max(0.0) / 2.0 + 2.0 * jitter_ms.max(0.0) + 20.0
}

/// Estimated MOS for a G.711 leg without PLC (Bpl 4.3): loss as a fraction 0–1.
pub fn mos_g711(loss_fraction: f64, rtt_ms: Option<f64>, jitter_ms: f64) -> f64 {
    let d = one_way_delay_ms(rtt_ms, jitter_ms);
    mos_from_r(r_factor(loss_fraction * 100.0, d, BPL_G711))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.01
    }

    #[test]
    fn no_loss_low_delay_is_about_4_4() {
        // d = 20 ms: Id = 0.48, R = 92.72; MOS = 1 + 3.2452 + 92.72·32.72·7.28·7e-6 = 4.400.
        assert!(close(r_factor(0.0, 20.0, BPL_G711), 92.72));
        assert!(
            close(mos_g711(0.0, None, 0.0), 4.40),
            "{}",
            mos_g711(0.0, None, 0.0)
        );
    }

    #[test]
    fn five_percent_loss() {
        // Without PLC: Ie,eff = 95·5/(5 + 4.3) = 51.08, R = 93.2 − 51.08 = 42.12 (d = 0),
        // MOS = 1 + 1.4742 − 0.3051 = 2.17.
        assert!(close(loss_impairment(5.0, BPL_G711), 51.08));
        assert!(close(mos_from_r(r_factor(5.0, 0.0, BPL_G711)), 2.17));
        // With PLC: Ie,eff = 95·5/30.1 = 15.78, R = 77.42, MOS = 3.92.
        assert!(close(mos_from_r(r_factor(5.0, 0.0, BPL_G711_PLC)), 3.92));
        // 1 % without PLC: Ie,eff = 95/5.3 = 17.92, R = 75.28 (d = 0) → MOS 3.83.
        assert!(close(mos_from_r(r_factor(1.0, 0.0, BPL_G711)), 3.834));
    }

    #[test]
    fn delay_past_177_ms_costs_more() {
        assert!(close(delay_impairment(100.0), 2.4));
        // 300 ms: 7.2 + 0.11·122.7 = 20.70.
        assert!(close(delay_impairment(300.0), 20.697));
        // RTT 400 ms, jitter 10 ms: d = 200 + 20 + 20 = 240 ms.
        assert!(close(one_way_delay_ms(Some(400.0), 10.0), 240.0));
    }

    #[test]
    fn mos_is_clamped() {
        assert_eq!(mos_from_r(-5.0), 1.0);
        assert_eq!(mos_from_r(f64::NAN), 1.0);
        assert_eq!(mos_from_r(120.0), 4.5);
        assert_eq!(mos_g711(1.0, None, 0.0), 1.0); // 100 % loss
        assert!(mos_g711(0.05, None, 0.0) < mos_g711(0.01, None, 0.0));
    }
}
