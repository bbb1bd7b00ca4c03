//! An estimated MOS from a leg's loss, jitter and round trip: the E-model of ITU-T G.107,
//! simplified as follows (docs/quality.md says the same).
//!
//! - R = 93.2 − Id − Ie,eff. 93.2 is G.107's R with every default (R0 − Is with no echo, default
//!   noise and loudness); the advantage factor A is 0.
//! - Id, the delay impairment, is not G.107's Idte/Idle/Idd sum but the usual straight-line fit to
//!   it for echo-free paths (Cole & Rosenbluth, 2001): Id = 0.024·d + 0.11·(d − 177.3)·H(d − 177.3),
//!   with d the one-way mouth-to-ear delay in ms.
//! - d is estimated as RTT/2 (from the RTCP LSR/DLSR of the leg, §6.4.1; 0 when the peer never
//!   echoed one of our SRs) + 2 × jitter (a jitter buffer of twice the measured jitter) + 20 ms
//!   (one G.711 frame of packetisation).
//! - Ie,eff = Ie + (95 − Ie)·Ppl/(Ppl/BurstR + Bpl) (G.107 §7.4) with G.711's Ie = 0 and
//!   **Bpl = 25.1, G.711 with packet loss concealment** (G.113 Appendix I; the phones and gateways
//!   at the ends of our legs conceal loss), BurstR = 1 (random loss: RTCP gives no burst figure).
//! - MOS from R by G.107 Annex B: 1 below R = 0, 4.5 above R = 100, else
//!   1 + 0.035·R + R·(R − 60)·(100 − R)·7·10⁻⁶.

/// G.107's default R with no impairment but Id and Ie,eff.
pub const R_DEFAULT: f64 = 93.2;
/// G.711 equipment impairment.
pub const IE_G711: f64 = 0.0;
/// Packet-loss robustness of G.711 with PLC (G.113 Appendix I); 4.3 without.
pub const BPL_G711_PLC: f64 = 25.1;
pub const BPL_G711_NO_PLC: f64 = 4.3;
/// One G.711 frame (the packetisation delay in the delay estimate).
pub const FRAME_MS: f64 = 20.0;

/// Id (simplified, see the module docs) for a one-way delay in ms.
pub fn delay_impairment(one_way_ms: f64) -> f64 {
    let d = one_way_ms.max(0.0);
    0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 }
}

/// Ie,eff for a loss in percent (0–100), random loss, G.711 with PLC.
pub fn loss_impairment(loss_pct: f64) -> f64 {
    let p = loss_pct.clamp(0.0, 100.0);
    IE_G711 + (95.0 - IE_G711) * p / (p + BPL_G711_PLC)
}

/// MOS (conversational quality, estimated) from R, G.107 Annex B.
pub fn mos_from_r(r: f64) -> f64 {
    if r.is_nan() || r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6
    }
}

/// The one-way delay estimate: RTT/2 + 2 × jitter + one frame.
pub fn one_way_delay_ms(rtt_ms: Option<f64>, jitter_ms: f64) -> f64 {
    rtt_ms.unwrap_or(0.0).max(0.0) / 2.0 + 2.0 * jitter_ms.max(0.0) + FRAME_MS
}

/// R for a loss fraction (0–1), jitter (ms) and RTT (ms, when known).
pub fn r_factor(loss_fraction: f64, jitter_ms: f64, rtt_ms: Option<f64>) -> f64 {
    let loss = if loss_fraction.is_finite() {
        loss_fraction
    } else {
        0.0
    };
    R_DEFAULT
        - delay_impairment(one_way_delay_ms(rtt_ms, jitter_ms))
        - loss_impairment(loss * 100.0)
}

/// The estimated MOS for a loss fraction (0–1), jitter (ms) and RTT (ms, when known).
pub fn mos(loss_fraction: f64, jitter_ms: f64, rtt_ms: Option<f64>) -> f64 {
    mos_from_r(r_factor(loss_fraction, jitter_ms, rtt_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_leg_is_about_4_4() {
        // d = 20 ms: Id = 0.48, R = 92.72.
        let r = r_factor(0.0, 0.0, None);
        assert!((r - 92.72).abs() < 1e-9, "{r}");
        let m = mos_from_r(r);
        assert!((4.39..4.42).contains(&m), "{m}");
    }

    #[test]
    fn loss_lowers_the_score_as_g107_with_plc_says() {
        // 10 % loss: Ie,eff = 95 · 10/35.1 = 27.07; R = 92.72 − 27.07 = 65.65 → MOS 3.38.
        let r = r_factor(0.10, 0.0, None);
        assert!((r - (92.72 - 950.0 / 35.1)).abs() < 1e-9, "{r}");
        let m = mos(0.10, 0.0, None);
        assert!((3.3..3.45).contains(&m), "{m}");
        // 25 % loss → R ≈ 45.4, MOS ≈ 2.3.
        assert!((2.2..2.45).contains(&mos(0.25, 0.0, None)));
        assert!(mos(1.0, 0.0, None) < 1.5);
    }

    #[test]
    fn delay_beyond_177_ms_costs_more() {
        assert!((delay_impairment(100.0) - 2.4).abs() < 1e-9);
        assert!((delay_impairment(277.3) - (0.024 * 277.3 + 11.0)).abs() < 1e-9);
        // 300 ms RTT, 30 ms jitter: d = 150 + 60 + 20 = 230 ms.
        assert!((one_way_delay_ms(Some(300.0), 30.0) - 230.0).abs() < 1e-9);
        assert!(mos(0.0, 30.0, Some(300.0)) < mos(0.0, 0.0, Some(20.0)));
    }

    #[test]
    fn annex_b_ends_and_odd_inputs() {
        assert_eq!(mos_from_r(-5.0), 1.0);
        assert_eq!(mos_from_r(120.0), 4.5);
        assert_eq!(mos_from_r(f64::NAN), 1.0);
        assert!((mos_from_r(50.0) - (1.0 + 1.75 + 50.0 * -10.0 * 50.0 * 7e-6)).abs() < 1e-12);
        assert!(mos(f64::NAN, f64::NAN, Some(f64::NAN)).is_finite());
    }
}
