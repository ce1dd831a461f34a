//! In-band DTMF: a Goertzel detector for 8 kHz PCM (G.711 decoded), for trunks that send
//! neither RFC 4733 events nor SIP INFO.
//!
//! The shape is the classic one (spandsp, Asterisk `dsp.c`): blocks of 102 samples (12.75 ms,
//! 78 Hz resolution — enough to separate the 73 Hz-apart row tones), one Goertzel filter per
//! DTMF frequency plus one at twice each column frequency, a per-block decision, and a digit
//! registered when two consecutive blocks agree.
//!
//! Thresholds: ITU-T Q.24 leaves exact values to each administration; these are the "basic
//! (AT&T) DTMF specs" that spandsp and Asterisk (`main/dsp.c`) design for — accept ≥ 40 ms
//! tones, normal twist ≤ 8 dB, reverse twist ≤ 4 dB, S/N ≥ 15 dB, ±1.5 % frequency accepted,
//! at most ~10 digits/s — and spandsp's 8 dB relative-peak check:
//! - **Level**: each tone at least -30 dBm0 (`MIN_TONE_POWER`): phones send about -4 to
//!   -10 dBm0 per tone and the specs ask for detection through up to 26 dB of loss.
//! - **Twist**: the high (column) tone may be up to 8 dB weaker than the low (row) tone —
//!   "normal twist", lines lose more at high frequencies — and up to 4 dB stronger ("reverse
//!   twist").
//! - **Duration**: a digit needs two consecutive 12.75 ms blocks that agree, so tones of 25.5 ms
//!   and more are always recognised (Q.24: ≥ 40 ms must be), 13–25 ms ones depending on how
//!   they fall on block edges, shorter ones never.
//! - **Pause / interruption**: a digit ends after two consecutive blocks without it, so a break
//!   of ≥ 40 ms always separates two presses of the same key (Q.24: ≥ 40 ms must) and a
//!   dropout of one block (≤ 10 ms, as Q.24 asks to bridge) does not split one.
//! - **Talk-off (speech, music)**: the two tones must be 8 dB above the other tones of their
//!   group (`RELATIVE_PEAK`), must carry at least 60 % of the block's energy
//!   (`MIN_TONE_TO_TOTAL`: speech and chords spread their energy over many harmonics), and
//!   each column tone's second harmonic must be 15 dB below it (`MAX_SECOND_HARMONIC`: a
//!   voiced sound's harmonic at a column frequency comes with its own harmonics; a DTMF
//!   generator's are far lower). Row tones get no harmonic check because 2×697 Hz and
//!   2×770 Hz fall within one filter width of the 1336 and 1477 Hz column tones.
//! - **Frequency**: ±1.5 % must be accepted, ±3.5 % rejected. Measured on all 16 keys at
//!   -10 dBm0: ±2 % all accepted, ±3.5 % all rejected (the loss in a 78 Hz-wide filter plus the
//!   relative-peak check do it), ±3 % rejected for 14 of 16 (`inband_detection.rs`).

use crate::Digit;

use crate::SAMPLE_RATE;

const BLOCK: usize = 102;

const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// Keypad layout, by [row][column].
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Mean power of a 0 dBm0 sine in 16-bit linear PCM: G.711's full-scale sine is +3.17 dBm0
/// (G.711 Table 5/6), peak 8159 in 14-bit µ-law units, i.e. 32636 in 16 bits.
const DBM0_REF: f32 = {
    let peak_0dbm0 = 32636.0 * 0.694_2; // 10^(-3.17/20)
    peak_0dbm0 * peak_0dbm0 / 2.0
};

/// -30 dBm0 per tone: 10^(-30/10).
const MIN_TONE_POWER: f32 = DBM0_REF * 1e-3;
/// 8 dB: 10^(8/10).
const NORMAL_TWIST: f32 = 6.309_573;
/// 4 dB: 10^(4/10).
const REVERSE_TWIST: f32 = 2.511_886;
/// 8 dB.
const RELATIVE_PEAK: f32 = 6.309_573;
const MIN_TONE_TO_TOTAL: f32 = 0.6;
/// -15 dB: 10^(-15/10).
const MAX_SECOND_HARMONIC: f32 = 0.031_622_78;

/// The 12 filters: 4 rows, 4 columns, 4 column second harmonics.
const FILTERS: usize = 12;

fn coefficients() -> [f32; FILTERS] {
    let mut c = [0.0; FILTERS];
    for (i, f) in ROWS
        .iter()
        .chain(COLS.iter())
        .copied()
        .chain(COLS.iter().map(|f| 2.0 * f))
        .enumerate()
    {
        c[i] = 2.0 * (2.0 * std::f32::consts::PI * f / SAMPLE_RATE as f32).cos();
    }
    c
}

/// Streaming in-band DTMF detector. Feed it 8 kHz PCM in frames of any length.
#[derive(Debug, Clone)]
pub struct InbandDetector {
    coeff: [f32; FILTERS],
    s1: [f32; FILTERS],
    s2: [f32; FILTERS],
    energy: f32,
    n: usize,
    last_hit: Option<Digit>,
    current: Option<Digit>,
}

impl Default for InbandDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDetector {
    pub fn new() -> Self {
        Self {
            coeff: coefficients(),
            s1: [0.0; FILTERS],
            s2: [0.0; FILTERS],
            energy: 0.0,
            n: 0,
            last_hit: None,
            current: None,
        }
    }

    /// Runs the detector over `pcm` (8 kHz, 16-bit linear) and calls `on_digit` for every key
    /// press that *starts* in it. Keeps partial blocks for the next call.
    pub fn process(&mut self, pcm: &[i16], mut on_digit: impl FnMut(Digit)) {
        let mut rest = pcm;
        while !rest.is_empty() {
            let take = (BLOCK - self.n).min(rest.len());
            let (now, later) = rest.split_at(take);
            rest = later;
            self.run_filters(now);
            self.n += take;
            if self.n == BLOCK {
                let hit = self.decide();
                self.s1 = [0.0; FILTERS];
                self.s2 = [0.0; FILTERS];
                self.energy = 0.0;
                self.n = 0;
                if hit == self.last_hit && hit != self.current {
                    self.current = hit;
                    if let Some(d) = hit {
                        on_digit(d);
                    }
                }
                self.last_hit = hit;
            }
        }
    }

    /// The Goertzel recurrence `s[n] = x[n] + 2cos(w)·s[n-1] - s[n-2]` for all 12 filters,
    /// on local copies so the compiler keeps them in vector registers. Never inlined: when
    /// `process` was instantiated in another crate, the copy compiled there ran 2–4× slower
    /// (measured with the `ivr` bench's `goertzel_only`), so every caller gets this crate's.
    #[inline(never)]
    fn run_filters(&mut self, samples: &[i16]) {
        let coeff = self.coeff;
        let mut s1 = self.s1;
        let mut s2 = self.s2;
        let mut energy = self.energy;
        for &x in samples {
            let x = f32::from(x);
            energy += x * x;
            for i in 0..FILTERS {
                let s0 = x + coeff[i] * s1[i] - s2[i];
                s2[i] = s1[i];
                s1[i] = s0;
            }
        }
        self.s1 = s1;
        self.s2 = s2;
        self.energy = energy;
    }

    /// Mean power of filter `i` over the block, on the scale of `energy / BLOCK`.
    fn power(&self, i: usize) -> f32 {
        let (s1, s2) = (self.s1[i], self.s2[i]);
        let mag2 = s1 * s1 + s2 * s2 - self.coeff[i] * s1 * s2;
        2.0 * mag2 / (BLOCK * BLOCK) as f32
    }

    fn decide(&self) -> Option<Digit> {
        let mut p = [0.0f32; FILTERS];
        for (i, v) in p.iter_mut().enumerate() {
            *v = self.power(i);
        }
        let (rows, rest) = p.split_at(4);
        let (cols, harmonics) = rest.split_at(4);
        let best = |g: &[f32]| {
            let mut b = 0;
            for i in 1..4 {
                if g[i] > g[b] {
                    b = i;
                }
            }
            b
        };
        let r = best(rows);
        let c = best(cols);
        let (pr, pc) = (rows[r], cols[c]);
        if pr < MIN_TONE_POWER || pc < MIN_TONE_POWER {
            return None;
        }
        // Twist: row may exceed column by 8 dB, column may exceed row by 4 dB.
        if pr > pc * NORMAL_TWIST || pc > pr * REVERSE_TWIST {
            return None;
        }
        // Each tone stands out in its group.
        for i in 0..4 {
            if (i != r && rows[i] * RELATIVE_PEAK > pr) || (i != c && cols[i] * RELATIVE_PEAK > pc)
            {
                return None;
            }
        }
        // The two tones are most of the signal.
        let mean = self.energy / BLOCK as f32;
        if pr + pc < MIN_TONE_TO_TOTAL * mean {
            return None;
        }
        if harmonics[c] > pc * MAX_SECOND_HARMONIC {
            return None;
        }
        Digit::from_char(KEYS[r][c])
    }
}

/// The row and column frequencies of a key (for tone generators in tests and load tools).
pub fn dtmf_frequencies(d: Digit) -> Option<(f32, f32)> {
    for (r, row) in KEYS.iter().enumerate() {
        for (c, &k) in row.iter().enumerate() {
            if k == d.as_char() {
                return Some((ROWS[r], COLS[c]));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(d: char, ms: usize, amp: f32) -> Vec<i16> {
        let (fr, fc) = dtmf_frequencies(Digit::from_char(d).unwrap()).unwrap();
        (0..ms * 8)
            .map(|n| {
                let t = n as f32 / 8000.0;
                let v = amp
                    * ((2.0 * std::f32::consts::PI * fr * t).sin()
                        + (2.0 * std::f32::consts::PI * fc * t).sin());
                v as i16
            })
            .collect()
    }

    fn detect(pcm: &[i16]) -> String {
        let mut det = InbandDetector::new();
        let mut out = String::new();
        for frame in pcm.chunks(160) {
            det.process(frame, |d| out.push(d.as_char()));
        }
        out
    }

    #[test]
    fn every_key_at_minus_10_dbm0() {
        let amp = 22_656.0 * 10f32.powf(-10.0 / 20.0);
        for k in "0123456789*#ABCD".chars() {
            let mut pcm = tone(k, 60, amp);
            pcm.extend(vec![0; 400]);
            assert_eq!(detect(&pcm), k.to_string(), "key {k}");
        }
    }

    #[test]
    fn below_minimum_level_is_ignored() {
        let amp = 22_656.0 * 10f32.powf(-36.0 / 20.0);
        assert_eq!(detect(&tone('5', 100, amp)), "");
    }

    #[test]
    fn silence_gives_nothing() {
        assert_eq!(detect(&[0; 8000]), "");
    }
}
