//! G.711 μ-law / A-law (ITU-T G.711), table driven where it pays.
//!
//! Decoding and μ⇄A transcoding are 256-entry tables built at compile time; encoding is a few
//! shifts (a 64 Ki-entry table would cost more cache than it saves at 160 samples per frame).

/// μ-law byte → linear 16-bit sample.
pub static ULAW_TO_LINEAR: [i16; 256] = build_ulaw_decode();
/// A-law byte → linear 16-bit sample.
pub static ALAW_TO_LINEAR: [i16; 256] = build_alaw_decode();
/// μ-law byte → A-law byte (via linear; the relay uses it when the two legs negotiated differently).
pub static ULAW_TO_ALAW: [u8; 256] = build_ulaw_to_alaw();
/// A-law byte → μ-law byte.
pub static ALAW_TO_ULAW: [u8; 256] = build_alaw_to_ulaw();

/// μ-law silence (encodes linear 0).
pub const ULAW_SILENCE: u8 = 0xFF;
/// A-law silence (encodes linear 0).
pub const ALAW_SILENCE: u8 = 0xD5;

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

/// Linear 16-bit → μ-law.
pub const fn linear_to_ulaw(sample: i16) -> u8 {
    let mut pcm = sample as i32;
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    if pcm > ULAW_CLIP {
        pcm = ULAW_CLIP;
    }
    pcm += ULAW_BIAS;
    // Segment = position of the highest set bit above bit 7 (pcm is 132..=32767: bits 7..=14).
    let highest = 31 - (pcm as u32).leading_zeros() as i32;
    let exponent = if highest > 7 { highest - 7 } else { 0 };
    let mantissa = (pcm >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// μ-law → linear 16-bit.
pub const fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let sign = u & 0x80;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Linear 16-bit → A-law.
pub const fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = (sample as i32) >> 3;
    let mask: i32 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    // Segment from the highest set bit: ≤0x1F → 0, ≤0x3F → 1, … ≤0xFFF → 7, above → clip.
    let highest = 31 - ((pcm | 1) as u32).leading_zeros() as usize;
    let seg = highest.saturating_sub(4);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mut aval = (seg as i32) << 4;
    if seg < 2 {
        aval |= (pcm >> 1) & 0x0F;
    } else {
        aval |= (pcm >> seg) & 0x0F;
    }
    (aval ^ mask) as u8
}

/// A-law → linear 16-bit.
pub const fn alaw_to_linear(byte: u8) -> i16 {
    let a = (byte ^ 0x55) as i32;
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

const fn build_ulaw_decode() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_to_linear(i as u8);
        i += 1;
    }
    t
}

const fn build_alaw_decode() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_to_linear(i as u8);
        i += 1;
    }
    t
}

const fn build_ulaw_to_alaw() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = linear_to_alaw(ulaw_to_linear(i as u8));
        i += 1;
    }
    t
}

const fn build_alaw_to_ulaw() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = linear_to_ulaw(alaw_to_linear(i as u8));
        i += 1;
    }
    t
}

/// Transcodes a μ-law payload to A-law in place.
pub fn ulaw_to_alaw_in_place(buf: &mut [u8]) {
    for b in buf {
        *b = ULAW_TO_ALAW[*b as usize];
    }
}

/// Transcodes an A-law payload to μ-law in place.
pub fn alaw_to_ulaw_in_place(buf: &mut [u8]) {
    for b in buf {
        *b = ALAW_TO_ULAW[*b as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_codes() {
        assert_eq!(linear_to_ulaw(0), ULAW_SILENCE);
        assert_eq!(ulaw_to_linear(ULAW_SILENCE), 0);
        assert_eq!(linear_to_alaw(0), ALAW_SILENCE);
        assert_eq!(alaw_to_linear(ALAW_SILENCE), 8);
    }

    #[test]
    fn reference_values() {
        // Values from the ITU-T G.711 reference tables (Sun g711.c).
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0x55 ^ 0x80), 8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }

    /// The textbook segment-search encoders (Sun g711.c), to check the bit-trick versions.
    fn ulaw_reference(sample: i16) -> u8 {
        let mut pcm = sample as i32;
        let sign = if pcm < 0 {
            pcm = -pcm;
            0x80
        } else {
            0
        };
        pcm = pcm.min(ULAW_CLIP) + ULAW_BIAS;
        let mut exponent = 7;
        let mut mask = 0x4000;
        while exponent > 0 && pcm & mask == 0 {
            exponent -= 1;
            mask >>= 1;
        }
        !((sign | (exponent << 4) | ((pcm >> (exponent + 3)) & 0x0F)) as u8)
    }

    fn alaw_reference(sample: i16) -> u8 {
        const SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
        let mut pcm = (sample as i32) >> 3;
        let mask = if pcm >= 0 {
            0xD5
        } else {
            pcm = -pcm - 1;
            0x55
        };
        let seg = SEG_END.iter().position(|e| pcm <= *e).unwrap_or(8);
        if seg >= 8 {
            return (0x7F ^ mask) as u8;
        }
        let mut aval = (seg as i32) << 4;
        aval |= if seg < 2 {
            (pcm >> 1) & 0x0F
        } else {
            (pcm >> seg) & 0x0F
        };
        (aval ^ mask) as u8
    }

    #[test]
    fn encoders_match_reference_for_every_sample() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(linear_to_ulaw(s), ulaw_reference(s), "ulaw {s}");
            assert_eq!(linear_to_alaw(s), alaw_reference(s), "alaw {s}");
        }
    }

    #[test]
    fn every_code_round_trips() {
        for b in 0..=255u8 {
            let u = ulaw_to_linear(b);
            // 0x7F and 0xFF both decode to 0 (negative/positive zero).
            if b != 0x7F {
                assert_eq!(linear_to_ulaw(u), b, "ulaw {b:#x}");
            }
            assert_eq!(linear_to_alaw(alaw_to_linear(b)), b, "alaw {b:#x}");
        }
    }

    #[test]
    fn quantisation_error_is_bounded() {
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let u = ulaw_to_linear(linear_to_ulaw(s)) as i32;
            let a = alaw_to_linear(linear_to_alaw(s)) as i32;
            let tol = (s as i32).abs() / 16 + 16;
            assert!((u - s as i32).abs() <= tol.max(140), "ulaw {s} -> {u}");
            assert!((a - s as i32).abs() <= tol.max(140), "alaw {s} -> {a}");
        }
    }

    #[test]
    fn transcode_tables_preserve_level() {
        for b in 0..=255u8 {
            let lin = ulaw_to_linear(b) as i32;
            let via = alaw_to_linear(ULAW_TO_ALAW[b as usize]) as i32;
            assert!(
                (lin - via).abs() <= lin.abs() / 16 + 16,
                "{b:#x}: {lin} vs {via}"
            );
        }
        let mut buf = [ULAW_SILENCE; 4];
        ulaw_to_alaw_in_place(&mut buf);
        assert_eq!(buf, [ALAW_SILENCE; 4]);
        alaw_to_ulaw_in_place(&mut buf);
        // A-law has no exact zero (silence is +8), which μ-law represents exactly.
        assert_eq!(buf, [linear_to_ulaw(8); 4]);
        assert_eq!(ulaw_to_linear(buf[0]), 8);
    }
}
