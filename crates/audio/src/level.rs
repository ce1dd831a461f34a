//! The RFC 6464 level meter: the level of a frame in −dBov, as the client-to-mixer audio level
//! header extension carries it, so measured and carried levels compare.

use pont_types::AudioLevel;

use crate::g711::{ALAW_POWER, ULAW_POWER};

/// Full-scale power of a 16-bit sample: a full-scale square wave is 0 dBov (RFC 6464 §3: "the
/// level relative to the overload point of the system").
const FULL_SCALE_POWER: f64 = 32768.0 * 32768.0;

/// The level of a frame whose squared samples add up to `sum_sq` over `n` samples.
fn level_from_power(sum_sq: u64, n: usize) -> AudioLevel {
    if n == 0 || sum_sq == 0 {
        return AudioLevel::SILENCE;
    }
    let mean = sum_sq as f64 / n as f64 / FULL_SCALE_POWER;
    let neg_dbov = -10.0 * mean.log10();
    AudioLevel::from_neg_dbov(neg_dbov.round().clamp(0.0, 127.0) as u8)
}

/// The level of a PCM frame (RFC 6464: RMS over the packet, −dBov, 127 for silence).
pub fn measure(pcm: &[i16]) -> AudioLevel {
    let sum: u64 = pcm.iter().map(|&s| (s as i64 * s as i64) as u64).sum();
    level_from_power(sum, pcm.len())
}

/// The level of a µ-law payload, measured from a table of squared code values without decoding.
pub fn measure_ulaw(payload: &[u8]) -> AudioLevel {
    let sum: u64 = payload.iter().map(|&c| ULAW_POWER[c as usize] as u64).sum();
    level_from_power(sum, payload.len())
}

/// The level of an A-law payload, without decoding.
pub fn measure_alaw(payload: &[u8]) -> AudioLevel {
    let sum: u64 = payload.iter().map(|&c| ALAW_POWER[c as usize] as u64).sum();
    level_from_power(sum, payload.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tone;
    use crate::g711::linear_to_ulaw;

    #[test]
    fn full_scale_square_is_zero_dbov_and_silence_is_127() {
        let square: Vec<i16> = (0..160)
            .map(|i| if i % 2 == 0 { 32767 } else { -32768 })
            .collect();
        assert_eq!(measure(&square), AudioLevel::LOUDEST);
        assert_eq!(measure(&[0; 160]), AudioLevel::SILENCE);
        assert_eq!(measure(&[]), AudioLevel::SILENCE);
    }

    #[test]
    fn sine_levels_follow_the_db_scale() {
        // A full-scale sine is −3 dBov; every halving of amplitude is 6 dB more.
        assert_eq!(measure(&tone(8000, 1000.0, 32767.0, 160)).neg_dbov(), 3);
        assert_eq!(measure(&tone(8000, 1000.0, 16384.0, 160)).neg_dbov(), 9);
        assert_eq!(measure(&tone(8000, 1000.0, 328.0, 160)).neg_dbov(), 43);
        // A tiny signal saturates at the bottom of the scale rather than wrapping.
        assert!(measure(&[1, 0, 0, 0]).neg_dbov() <= 127);
    }

    #[test]
    fn g711_levels_match_the_decoded_level() {
        for amp in [300.0, 3000.0, 30000.0] {
            let pcm = tone(8000, 440.0, amp, 160);
            let u: Vec<u8> = pcm.iter().map(|&s| linear_to_ulaw(s)).collect();
            let a: Vec<u8> = pcm
                .iter()
                .map(|&s| crate::g711::linear_to_alaw(s))
                .collect();
            let d = measure(&pcm).neg_dbov() as i32;
            assert!((measure_ulaw(&u).neg_dbov() as i32 - d).abs() <= 1);
            assert!((measure_alaw(&a).neg_dbov() as i32 - d).abs() <= 1);
        }
    }
}
