//! Signal helpers for tests and the end-to-end suite: tone generators and a Goertzel filter to
//! tell which tones are in a mix. Not used on the media path.

/// `len` samples of a sine of `freq` Hz and `amplitude` at `rate` Hz.
pub fn tone(rate: u32, freq: f64, amplitude: f64, len: usize) -> Vec<i16> {
    tone_from(rate, freq, amplitude, 0, len)
}

/// Samples `start..start + len` of the same sine as [`tone`], to generate a tone frame by frame.
pub fn tone_from(rate: u32, freq: f64, amplitude: f64, start: usize, len: usize) -> Vec<i16> {
    (start..start + len)
        .map(|n| {
            let t = n as f64 / rate as f64;
            (amplitude * (2.0 * std::f64::consts::PI * freq * t).sin()).round() as i16
        })
        .collect()
}

/// Root mean square of the samples.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| (s as f64) * (s as f64)).sum();
    (sum / samples.len() as f64).sqrt()
}

/// Power of `samples` at `freq` Hz (Goertzel's algorithm), normalised by the length so frames of
/// different lengths compare.
pub fn goertzel_power(samples: &[i16], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate as f64;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = x as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    power / (samples.len().max(1) as f64).powi(2)
}

/// Signal-to-noise ratio in dB of `actual` against `reference` (same length, aligned).
pub fn snr_db(reference: &[i16], actual: &[i16]) -> f64 {
    let (mut sig, mut noise) = (0.0f64, 0.0f64);
    for (&r, &a) in reference.iter().zip(actual) {
        sig += (r as f64).powi(2);
        noise += (r as f64 - a as f64).powi(2);
    }
    10.0 * (sig / noise.max(1e-9)).log10()
}
