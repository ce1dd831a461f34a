//! The Goertzel detector against DTMF with noise and twist, and against what must not be DTMF:
//! speech (the prompts themselves: real text-to-speech), a 1 kHz tone, music-like chords.
mod common;

use std::f32::consts::PI;
use std::time::Duration;

use common::{tone, tone_at};
use pont_ivr::{Digit, InbandDetector, Language, Prompt};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn detect(pcm: &[i16]) -> String {
    let mut det = InbandDetector::new();
    let mut out = String::new();
    for frame in pcm.chunks(160) {
        det.process(frame, |d| out.push(d.as_char()));
    }
    out
}

/// Adds white noise `snr_db` below the tone pair's level (uniform, so peak ≈ √3 × rms).
fn with_noise(pcm: &mut [i16], rms: f32, rng: &mut ChaCha8Rng) {
    let peak = rms * 3f32.sqrt();
    for s in pcm {
        let n: f32 = rng.gen_range(-peak..=peak);
        *s = (f32::from(*s) + n).clamp(-32768.0, 32767.0) as i16;
    }
}

fn sequence(keys: &str, on: Duration, off: Duration, dbm0: f32, twist: f32) -> Vec<i16> {
    let mut pcm = vec![0; 400];
    for (i, c) in keys.chars().enumerate() {
        // Alternate normal and reverse twist within the limits.
        let t = if i % 2 == 0 { twist } else { -twist / 2.0 };
        pcm.extend(tone(Digit::from_char(c).unwrap(), on, dbm0, t));
        pcm.extend(vec![0; (off.as_micros() / 125) as usize]);
    }
    pcm
}

#[test]
fn sequences_with_noise_and_twist_are_detected_exactly() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let keys = "0123456789*#ABCD5500#";
    for (dbm0, twist, snr) in [
        (-5.0, 0.0, 30.0),
        (-15.0, 6.0, 20.0),
        (-22.0, 6.0, 18.0),
        (-10.0, 3.0, 15.0),
    ] {
        for (on, off) in [(100, 100), (50, 50), (45, 45)] {
            let mut pcm = sequence(
                keys,
                Duration::from_millis(on),
                Duration::from_millis(off),
                dbm0,
                twist,
            );
            // Noise relative to one tone's rms (0 dBm0 sine rms = 22656/√2).
            let tone_rms = 22_656.0 / 2f32.sqrt() * 10f32.powf(dbm0 / 20.0);
            with_noise(&mut pcm, tone_rms * 10f32.powf(-snr / 20.0), &mut rng);
            assert_eq!(
                detect(&pcm),
                keys,
                "{dbm0} dBm0, twist {twist} dB, SNR {snr} dB, {on}/{off} ms"
            );
        }
    }
}

#[test]
fn frequency_within_1_5_percent_is_accepted() {
    for dev in [0.985, 1.015] {
        let mut pcm = Vec::new();
        for c in "159#".chars() {
            pcm.extend(tone_at(
                Digit::from_char(c).unwrap(),
                Duration::from_millis(60),
                -10.0,
                0.0,
                dev,
            ));
            pcm.extend(vec![0; 480]);
        }
        assert_eq!(detect(&pcm), "159#", "deviation {dev}");
    }
}

#[test]
fn frequency_off_by_3_5_percent_is_rejected() {
    for dev in [0.965, 1.035] {
        for c in "0123456789*#ABCD".chars() {
            let mut pcm = tone_at(
                Digit::from_char(c).unwrap(),
                Duration::from_millis(80),
                -10.0,
                0.0,
                dev,
            );
            pcm.extend(vec![0; 800]);
            assert_eq!(detect(&pcm), "", "key {c} at deviation {dev}");
        }
    }
}

#[test]
fn twist_beyond_the_limits_is_rejected() {
    let d = Digit::from_char('5').unwrap();
    // Column 12 dB weaker than the row (normal twist limit 8 dB).
    assert_eq!(detect(&tone(d, Duration::from_millis(100), -5.0, 12.0)), "");
    // Column 7 dB stronger (reverse twist limit 4 dB).
    assert_eq!(
        detect(&tone(d, Duration::from_millis(100), -12.0, -7.0)),
        ""
    );
    // Within: 7 dB normal, 3 dB reverse.
    assert_eq!(detect(&tone(d, Duration::from_millis(100), -5.0, 7.0)), "5");
    assert_eq!(
        detect(&tone(d, Duration::from_millis(100), -12.0, -3.0)),
        "5"
    );
}

#[test]
fn short_tones_are_rejected_and_short_breaks_bridged() {
    let d = Digit::from_char('8').unwrap();
    let mut pcm = vec![0; 333];
    pcm.extend(tone(d, Duration::from_millis(12), -10.0, 0.0));
    pcm.extend(vec![0; 800]);
    assert_eq!(detect(&pcm), "", "12 ms is too short");
    // A 8 ms dropout in the middle of one press: one digit.
    let mut pcm = tone(d, Duration::from_millis(60), -10.0, 0.0);
    pcm.extend(vec![0; 64]);
    pcm.extend(tone(d, Duration::from_millis(60), -10.0, 0.0));
    pcm.extend(vec![0; 800]);
    assert_eq!(detect(&pcm), "8");
}

#[test]
fn speech_gives_no_digits() {
    // Every prompt in both languages: ~1 minute of real (synthetic) speech, at its own level
    // and 10 dB louder.
    let mut total = 0;
    for lang in Language::ALL {
        for p in Prompt::ALL {
            let w = p.audio(lang).unwrap();
            let mut pcm = vec![0i16; w.len()];
            w.decode_into(0, &mut pcm);
            total += pcm.len();
            assert_eq!(detect(&pcm), "", "{lang} {p:?}");
            let loud: Vec<i16> = pcm.iter().map(|s| s.saturating_mul(3)).collect();
            assert_eq!(detect(&loud), "", "{lang} {p:?} +10 dB");
        }
    }
    assert!(
        total > 8000 * 30,
        "at least 30 s of speech tested ({total} samples)"
    );
}

#[test]
fn synthetic_voiced_speech_gives_no_digits() {
    // A vowel-like buzz: fundamental gliding 90–250 Hz, 30 harmonics under two formants.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut pcm = Vec::new();
    let mut phase = 0.0f32;
    for seg in 0..200 {
        let f0 = 90.0 + 160.0 * ((seg as f32 * 0.37).sin() * 0.5 + 0.5);
        let (f1, f2) = (rng.gen_range(300.0..900.0), rng.gen_range(900.0..2500.0));
        for _ in 0..400 {
            phase += 2.0 * PI * f0 / 8000.0;
            let mut v = 0.0;
            for k in 1..30 {
                let f = k as f32 * f0;
                if f > 3800.0 {
                    break;
                }
                let g = 1.0 / (1.0 + ((f - f1) / 150.0).powi(2))
                    + 0.5 / (1.0 + ((f - f2) / 200.0).powi(2));
                v += g * (k as f32 * phase).sin();
            }
            pcm.push((v * 6000.0).clamp(-32768.0, 32767.0) as i16);
        }
    }
    assert_eq!(detect(&pcm), "");
}

#[test]
fn a_single_tone_gives_no_digits() {
    for f in [1000.0f32, 697.0, 1209.0, 941.0, 1633.0] {
        let pcm: Vec<i16> = (0..8000)
            .map(|n| (15_000.0 * (2.0 * PI * f * n as f32 / 8000.0).sin()) as i16)
            .collect();
        assert_eq!(detect(&pcm), "", "{f} Hz");
    }
}

#[test]
fn music_like_chords_give_no_digits() {
    // Triads whose notes sit near DTMF frequencies, each note with 4 harmonics, 500 ms each.
    let chords: [&[f32]; 6] = [
        &[523.25, 659.25, 783.99],  // C major (G5 ≈ 770, E6 ≈ 1336 as a harmonic)
        &[698.46, 880.0, 1046.5],   // F major (F5 ≈ 697)
        &[739.99, 932.33, 1108.73], // F# major (A#5 ≈ 941)
        &[587.33, 739.99, 880.0],   // D major
        &[698.46, 1209.0 / 2.0, 880.0],
        &[440.0, 554.37, 659.25], // A major (E5's 2nd harmonic ≈ 1318)
    ];
    let mut pcm = Vec::new();
    for chord in chords {
        for n in 0..4000 {
            let t = n as f32 / 8000.0;
            let mut v = 0.0;
            for &f in chord {
                for h in 1..=4 {
                    v += (2.0 * PI * f * h as f32 * t).sin() / h as f32;
                }
            }
            pcm.push((v * 4000.0).clamp(-32768.0, 32767.0) as i16);
        }
    }
    assert_eq!(detect(&pcm), "");
}

/// G.711 µ-law encoder (the inverse of `pont_ivr::mulaw_to_linear`), to put test tones through
/// the codec a phone leg uses.
fn linear_to_mulaw(s: i16) -> u8 {
    const BIAS: i32 = 0x84;
    let mut v = i32::from(s);
    let sign = if v < 0 {
        v = -v;
        0x80
    } else {
        0
    };
    v = (v + BIAS).min(32635 + BIAS);
    let exponent = (0..8).rev().find(|e| v >= (0x80 << e)).unwrap_or(0);
    let mantissa = (v >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

#[test]
fn tones_through_g711_mulaw_are_detected() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let keys = "98765#4321*0";
    let mut pcm = sequence(
        keys,
        Duration::from_millis(60),
        Duration::from_millis(60),
        -18.0,
        3.0,
    );
    let tone_rms = 22_656.0 / 2f32.sqrt() * 10f32.powf(-18.0 / 20.0);
    with_noise(&mut pcm, tone_rms * 10f32.powf(-25.0 / 20.0), &mut rng);
    let decoded: Vec<i16> = pcm
        .iter()
        .map(|&s| pont_ivr::mulaw_to_linear(linear_to_mulaw(s)))
        .collect();
    // The codec really was applied: quantisation changed most samples.
    let changed = pcm.iter().zip(&decoded).filter(|(a, b)| a != b).count();
    assert!(changed > pcm.len() / 2);
    // ...and is G.711: the error stays within half a segment step (≤ 1/16 of the value + 8).
    for (&a, &b) in pcm.iter().zip(&decoded) {
        let err = (i32::from(a) - i32::from(b)).abs();
        assert!(err <= i32::from(a).abs() / 16 + 8, "{a} -> {b}");
    }
    assert_eq!(detect(&decoded), keys);
}
