//! G.711 µ-law and A-law (ITU-T G.711), with our own tables.
//!
//! Decoding is a 256-entry table built at compile time; encoding is the segment search of the
//! ITU reference (and of the classic Sun `g711.c`), a handful of integer operations per sample.

/// µ-law bias (ITU-T G.711 table 2a): 0x84 on the 16-bit scale.
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude µ-law can carry on the 14-bit scale the reference works in.
const ULAW_CLIP: i32 = 8159;

const fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let mut t = (((u & 0x0F) as i32) << 3) + ULAW_BIAS;
    t <<= ((u & 0x70) >> 4) as i32;
    (if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    }) as i16
}

const fn alaw_to_linear(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw {
            alaw_to_linear(i as u8)
        } else {
            ulaw_to_linear(i as u8)
        };
        i += 1;
    }
    table
}

const fn build_power_table(table: &[i16; 256]) -> [u32; 256] {
    let mut out = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let v = table[i] as i32;
        out[i] = (v * v) as u32;
        i += 1;
    }
    out
}

/// Decoded value of every µ-law code.
pub(crate) static ULAW_DECODE: [i16; 256] = build_table(false);
/// Decoded value of every A-law code.
pub(crate) static ALAW_DECODE: [i16; 256] = build_table(true);
/// Squared decoded value of every µ-law code: measures a frame's level without decoding it.
pub(crate) static ULAW_POWER: [u32; 256] = build_power_table(&ULAW_DECODE);
/// Squared decoded value of every A-law code.
pub(crate) static ALAW_POWER: [u32; 256] = build_power_table(&ALAW_DECODE);

/// Index of the first segment end at or above `v` (8 when above all of them).
#[inline]
fn segment(v: i32, ends: &[i32; 8]) -> usize {
    ends.iter().position(|&e| v <= e).unwrap_or(8)
}

/// Encodes one 16-bit sample to µ-law, as the ITU-T G.191 reference `ulaw_compress` does
/// (ones' complement for negative samples, so −1 encodes like 0 with the sign bit clear).
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let x = sample as i32;
    let absno = if x < 0 {
        ((!x) >> 2) + 33
    } else {
        (x >> 2) + 33
    };
    let absno = absno.min(ULAW_CLIP + 32);
    // Segment: position of the highest set bit above bit 5.
    let segno = (32 - ((absno >> 6) as u32).leading_zeros()) as i32 + 1;
    let high = 8 - segno;
    let low = 0x0F - ((absno >> segno) & 0x0F);
    let out = ((high << 4) | low) as u8;
    if x >= 0 { out | 0x80 } else { out }
}

/// Encodes one 16-bit sample to A-law (ITU-T G.711 §3, reference `linear2alaw`).
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    const ENDS: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let mut v = (sample as i32) >> 3;
    let mask = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    let seg = segment(v, &ENDS);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mut a = (seg as i32) << 4;
    a |= if seg < 2 {
        (v >> 1) & 0x0F
    } else {
        (v >> seg) & 0x0F
    };
    (a as u8) ^ mask
}

/// Decodes one µ-law code.
#[inline]
pub fn ulaw_to_linear_sample(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// Decodes one A-law code.
#[inline]
pub fn alaw_to_linear_sample(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from ITU-T G.711 tables 1a/1b and 2a/2b (decoder output at the segment
    /// ends, on the 16-bit scale of the reference software G.191 `g711.c`).
    #[test]
    fn ulaw_matches_itu_reference_values() {
        assert_eq!(ulaw_to_linear_sample(0x00), -32124);
        assert_eq!(ulaw_to_linear_sample(0x80), 32124);
        assert_eq!(ulaw_to_linear_sample(0x7F), 0);
        assert_eq!(ulaw_to_linear_sample(0xFF), 0);
        assert_eq!(ulaw_to_linear_sample(0xFE), 8);
        assert_eq!(ulaw_to_linear_sample(0x7E), -8);
        assert_eq!(ulaw_to_linear_sample(0xF0), 120);
        assert_eq!(ulaw_to_linear_sample(0xEF), 132);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(32767), 0x80);
        assert_eq!(linear_to_ulaw(-32768), 0x00);
        assert_eq!(linear_to_ulaw(1000), 0xCE);
    }

    #[test]
    fn alaw_matches_itu_reference_values() {
        assert_eq!(alaw_to_linear_sample(0xD5), 8);
        assert_eq!(alaw_to_linear_sample(0x55), -8);
        assert_eq!(alaw_to_linear_sample(0xAA), 32256);
        assert_eq!(alaw_to_linear_sample(0x2A), -32256);
        assert_eq!(alaw_to_linear_sample(0xD4), 24);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(32767), 0xAA);
        assert_eq!(linear_to_alaw(-32768), 0x2A);
        assert_eq!(linear_to_alaw(1000), 0xFA);
    }

    #[test]
    fn every_code_survives_a_round_trip() {
        for c in 0..=255u8 {
            let u = ulaw_to_linear_sample(c);
            assert_eq!(
                ulaw_to_linear_sample(linear_to_ulaw(u)),
                u,
                "µ-law {c:#04x}"
            );
            let a = alaw_to_linear_sample(c);
            assert_eq!(linear_to_alaw(a), c, "A-law {c:#04x}");
        }
    }

    #[test]
    fn quantisation_error_is_within_half_a_step() {
        // G.711 is monotone and its step at most 1/16 of the segment: relative error < 7 %.
        for s in (-32768i32..=32767).step_by(7) {
            let s = s as i16;
            for (enc, dec) in [
                (linear_to_ulaw(s), ulaw_to_linear_sample as fn(u8) -> i16),
                (linear_to_alaw(s), alaw_to_linear_sample),
            ] {
                let d = dec(enc) as i32;
                let err = (d - s as i32).abs();
                assert!(
                    err <= 1024 && err <= (s as i32).abs() / 14 + 16,
                    "{s} -> {d}"
                );
            }
        }
    }
}
