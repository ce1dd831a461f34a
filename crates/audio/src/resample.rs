//! Resampling between 8, 16 and 48 kHz: every ratio between them is an integer (2, 3 or 6), so
//! a polyphase windowed-sinc FIR does it exactly, with no fractional phase to track.
//!
//! Each direction keeps its filter history, so a stream resampled frame by frame is continuous.
//! Coefficients are shared (`Arc`) between resamplers of the same ratio and direction, and
//! `Clone` copies the history, which a mixer uses to fork a stream without a click.

use std::sync::Arc;

/// Taps per polyphase branch. 16 taps (8 zero crossings each side of the centre at the lower
/// rate) with a Blackman window keep the stop band below about −70 dB for speech, at
/// 16 multiply-adds per output sample.
const TAPS_PER_PHASE: usize = 16;
/// Pass band edge as a fraction of the lower rate's Nyquist frequency: 8 kHz phone audio keeps
/// up to 3.6 kHz, where G.711 has already cut anyway.
const CUTOFF: f64 = 0.9;

/// How the resampler converts.
#[derive(Debug, Clone)]
enum Kind {
    Copy,
    /// Upsampling by `factor`: `phases[p]` holds the taps of output phase `p`, newest input first.
    Up {
        factor: usize,
        phases: Arc<[Vec<f32>]>,
    },
    /// Downsampling by `factor`: `taps` newest input first.
    Down {
        factor: usize,
        taps: Arc<[f32]>,
    },
}

/// A streaming integer-ratio resampler between two of 8, 16 and 48 kHz.
#[derive(Debug, Clone)]
pub struct Resampler {
    kind: Kind,
    /// The last inputs, oldest first, then room for the current frame.
    buf: Vec<f32>,
    history: usize,
}

/// Windowed-sinc low-pass prototype of `len` taps with cut-off `fc` (cycles per sample) and
/// DC gain `gain`.
fn prototype(len: usize, fc: f64, gain: f64) -> Vec<f64> {
    let mid = (len as f64 - 1.0) / 2.0;
    let mut h: Vec<f64> = (0..len)
        .map(|n| {
            let t = n as f64 - mid;
            let sinc = if t == 0.0 {
                2.0 * fc
            } else {
                (2.0 * std::f64::consts::PI * fc * t).sin() / (std::f64::consts::PI * t)
            };
            let w = 0.42 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / (len as f64 - 1.0)).cos()
                + 0.08 * (4.0 * std::f64::consts::PI * n as f64 / (len as f64 - 1.0)).cos();
            sinc * w
        })
        .collect();
    let sum: f64 = h.iter().sum();
    for v in &mut h {
        *v *= gain / sum;
    }
    h
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz; `None` unless both are 8000, 16000 or 48000.
    pub fn new(from: u32, to: u32) -> Option<Self> {
        let ok = |r: u32| matches!(r, 8000 | 16000 | 48000);
        if !ok(from) || !ok(to) {
            return None;
        }
        let kind = if from == to {
            Kind::Copy
        } else if to > from {
            let factor = (to / from) as usize;
            let len = factor * TAPS_PER_PHASE;
            let h = prototype(len, CUTOFF * 0.5 / factor as f64, factor as f64);
            // Output phase p at input index m uses h[p + k*factor] against x[m - k].
            let phases = (0..factor)
                .map(|p| {
                    (0..TAPS_PER_PHASE)
                        .map(|k| h[p + k * factor] as f32)
                        .collect()
                })
                .collect::<Vec<Vec<f32>>>();
            Kind::Up {
                factor,
                phases: phases.into(),
            }
        } else {
            let factor = (from / to) as usize;
            let len = factor * TAPS_PER_PHASE;
            let h = prototype(len, CUTOFF * 0.5 / factor as f64, 1.0);
            Kind::Down {
                factor,
                taps: h.iter().map(|&v| v as f32).collect(),
            }
        };
        let history = match &kind {
            Kind::Copy => 0,
            Kind::Up { .. } => TAPS_PER_PHASE - 1,
            Kind::Down { taps, .. } => taps.len() - 1,
        };
        Some(Self {
            kind,
            buf: vec![0.0; history],
            history,
        })
    }

    /// How many output samples `input` samples become.
    pub fn output_len(&self, input: usize) -> usize {
        match &self.kind {
            Kind::Copy => input,
            Kind::Up { factor, .. } => input * factor,
            Kind::Down { factor, .. } => input / factor,
        }
    }

    /// Forgets the history (a new talk spurt from a decoder that was reset).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.buf.resize(self.history, 0.0);
    }

    /// Resamples one frame; `output` must be `output_len(input.len())` long. For downsampling
    /// the input length must be a multiple of the factor (20 ms frames always are).
    pub fn process(&mut self, input: &[i16], output: &mut [i16]) {
        self.process_with(input, output, to_i16);
    }

    /// As [`Resampler::process`], into 32-bit samples: a filter's overshoot on a full-scale
    /// input (a square wave's Gibbs ripple) is kept for the mixer's limiter to handle instead
    /// of being clipped here.
    pub fn process_wide(&mut self, input: &[i16], output: &mut [i32]) {
        self.process_with(input, output, |v| v.round() as i32);
    }

    fn process_with<T: Copy + From<i16>>(
        &mut self,
        input: &[i16],
        output: &mut [T],
        convert: impl Fn(f32) -> T,
    ) {
        debug_assert_eq!(output.len(), self.output_len(input.len()));
        match &self.kind {
            Kind::Copy => {
                for (o, &i) in output.iter_mut().zip(input) {
                    *o = T::from(i);
                }
            }
            Kind::Up { factor, phases } => {
                self.buf.truncate(self.history);
                self.buf.extend(input.iter().map(|&s| s as f32));
                for (m, out) in output.chunks_exact_mut(*factor).enumerate() {
                    // Window ending at input m (the newest), history before it.
                    let window = &self.buf[m..m + TAPS_PER_PHASE];
                    for (o, taps) in out.iter_mut().zip(phases.iter()) {
                        let mut acc = 0.0f32;
                        for (x, h) in window.iter().rev().zip(taps) {
                            acc += x * h;
                        }
                        *o = convert(acc);
                    }
                }
                let keep = self.buf.len() - self.history;
                self.buf.copy_within(keep.., 0);
                self.buf.truncate(self.history);
            }
            Kind::Down { factor, taps } => {
                self.buf.truncate(self.history);
                self.buf.extend(input.iter().map(|&s| s as f32));
                let n = taps.len();
                for (j, o) in output.iter_mut().enumerate() {
                    // Newest input of this output is index history + j*factor + factor - 1.
                    let end = self.history + j * factor + factor;
                    let window = &self.buf[end - n..end];
                    let mut acc = 0.0f32;
                    for (x, h) in window.iter().rev().zip(taps.iter()) {
                        acc += x * h;
                    }
                    *o = convert(acc);
                }
                let keep = self.buf.len() - self.history;
                self.buf.copy_within(keep.., 0);
                self.buf.truncate(self.history);
            }
        }
    }
}

#[inline]
fn to_i16(v: f32) -> i16 {
    // `as` saturates for floats, so an overshoot of the filter cannot wrap.
    v.round() as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{goertzel_power, rms, tone};

    fn run(from: u32, to: u32, input: &[i16]) -> Vec<i16> {
        let mut r = Resampler::new(from, to).unwrap();
        let f_in = (from / 50) as usize;
        let mut out = Vec::new();
        for frame in input.chunks(f_in) {
            let mut o = vec![0; r.output_len(frame.len())];
            r.process(frame, &mut o);
            out.extend_from_slice(&o);
        }
        out
    }

    #[test]
    fn rejects_other_rates() {
        assert!(Resampler::new(44_100, 48_000).is_none());
        assert!(Resampler::new(8000, 8000).is_some());
    }

    #[test]
    fn keeps_a_tone_in_the_pass_band_every_direction() {
        for (from, to) in [
            (8000, 16000),
            (8000, 48000),
            (16000, 48000),
            (48000, 8000),
            (48000, 16000),
            (16000, 8000),
        ] {
            let input = tone(from, 1000.0, 10_000.0, from as usize); // 1 s
            let out = run(from, to, &input);
            assert_eq!(out.len(), to as usize);
            let steady = &out[out.len() / 4..];
            let level = rms(steady);
            let expect = 10_000.0 / 2f64.sqrt();
            assert!(
                (level - expect).abs() / expect < 0.05,
                "{from}->{to}: rms {level}"
            );
            // Almost all the energy stays at 1 kHz.
            let p1 = goertzel_power(steady, to, 1000.0);
            let p3 = goertzel_power(steady, to, 3000.0);
            assert!(p1 > 1000.0 * p3, "{from}->{to}");
        }
    }

    #[test]
    fn downsampling_removes_what_the_lower_rate_cannot_carry() {
        // 6 kHz at 48 kHz would alias to 2 kHz at 8 kHz.
        let input = tone(48000, 6000.0, 10_000.0, 48000);
        let out = run(48000, 8000, &input);
        assert!(rms(&out[2000..]) < 100.0, "alias rms {}", rms(&out[2000..]));
    }
}
