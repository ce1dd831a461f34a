//! Three legs with tones at 400, 700 and 1100 Hz: each hears the other two and not itself, and
//! a fourth, silent leg hears all three — for every codec.

mod common;

use common::{Sim, Source, assert_continuous, powers};
use pont_audio::{AudioCodec, MixerConfig};

const FREQS: [f64; 3] = [400.0, 700.0, 1100.0];

fn three_tones(codec: AudioCodec, mix_rate: u32) {
    let mut sim = Sim::new(
        MixerConfig {
            mix_rate: Some(mix_rate),
            ..MixerConfig::default()
        },
        1,
    );
    for f in FREQS {
        sim.add(
            codec,
            Source::Tone {
                freq: f,
                amplitude: 6000.0,
            },
        );
    }
    let listener = sim.add(codec, Source::Silence);
    sim.run_ms(500);
    sim.clear_heard();
    sim.run_ms(2000);
    assert_eq!(sim.mixer.talkers().len(), 3);

    for (i, leg) in sim.legs.iter().enumerate() {
        let p = powers(leg, &FREQS);
        assert_continuous(leg);
        // One packet per tick: 2000 ms / 20 ms.
        assert!(
            (99..=101).contains(&leg.received.len()),
            "{}",
            leg.received.len()
        );
        if i == listener {
            for (k, &pk) in p.iter().enumerate() {
                assert!(pk > 1e5, "{codec} listener misses {} Hz: {p:?}", FREQS[k]);
            }
            continue;
        }
        let own = p[i];
        for (k, &pk) in p.iter().enumerate() {
            if k != i {
                assert!(
                    pk > 100.0 * own.max(1.0),
                    "{codec}@{mix_rate}: leg {i} hears {} Hz at {pk:.0}, own {} Hz at {own:.0}",
                    FREQS[k],
                    FREQS[i]
                );
            }
        }
    }
}

#[test]
fn pcmu_legs_hear_the_others_not_themselves() {
    three_tones(AudioCodec::Pcmu, 8000);
    three_tones(AudioCodec::Pcmu, 48000);
}

#[test]
fn pcma_legs_hear_the_others_not_themselves() {
    three_tones(AudioCodec::Pcma, 8000);
}

#[test]
fn g722_legs_hear_the_others_not_themselves() {
    three_tones(AudioCodec::G722, 16000);
    three_tones(AudioCodec::G722, 48000);
}

#[test]
fn opus_legs_hear_the_others_not_themselves() {
    three_tones(AudioCodec::Opus, 48000);
}

#[test]
fn mixed_codecs_in_one_room() {
    let mut sim = Sim::new(MixerConfig::default(), 2);
    let codecs = [AudioCodec::Pcmu, AudioCodec::G722, AudioCodec::Opus];
    for (c, f) in codecs.iter().zip(FREQS) {
        sim.add(
            *c,
            Source::Tone {
                freq: f,
                amplitude: 6000.0,
            },
        );
    }
    // A fourth codec that only listens.
    sim.add(AudioCodec::Pcma, Source::Silence);
    sim.run_ms(500);
    sim.clear_heard();
    sim.run_ms(1000);
    for (i, leg) in sim.legs.iter().enumerate() {
        let p = powers(leg, &FREQS);
        for k in 0..3 {
            if k == i {
                assert!(p[k] * 100.0 < p[(k + 1) % 3], "leg {i} hears itself: {p:?}");
            } else {
                assert!(p[k] > 1e5, "leg {i} misses {} Hz: {p:?}", FREQS[k]);
            }
        }
    }
}

#[test]
fn only_the_loudest_three_are_mixed() {
    let mut sim = Sim::new(MixerConfig::default(), 3);
    let freqs = [400.0, 700.0, 1100.0, 1500.0];
    let amps = [8000.0, 6000.0, 4000.0, 500.0];
    for (f, a) in freqs.iter().zip(amps) {
        sim.add(
            AudioCodec::Pcmu,
            Source::Tone {
                freq: *f,
                amplitude: a,
            },
        );
    }
    let listener = sim.add(AudioCodec::Pcmu, Source::Silence);
    sim.run_ms(500);
    sim.clear_heard();
    sim.run_ms(1000);
    let p = powers(&sim.legs[listener], &freqs);
    assert!(p[2] > 1e5, "{p:?}");
    assert!(p[3] * 1000.0 < p[2], "the quietest leg is mixed: {p:?}");
    // The quiet leg was never decoded.
    let quiet = sim.legs[3].id;
    assert_eq!(sim.mixer.leg_stats(quiet).unwrap().decoded, 0);
}

#[test]
fn the_mixing_rate_follows_the_widest_codec() {
    let mut sim = Sim::new(MixerConfig::default(), 4);
    let tone = |f| Source::Tone {
        freq: f,
        amplitude: 6000.0,
    };
    sim.add(AudioCodec::Pcmu, tone(400.0));
    assert_eq!(sim.mixer.mix_rate(), 8000);
    sim.add(AudioCodec::G722, tone(700.0));
    assert_eq!(sim.mixer.mix_rate(), 16000);
    sim.run_ms(300);
    let opus = sim.add(AudioCodec::Opus, tone(1100.0));
    assert_eq!(sim.mixer.mix_rate(), 48000);
    sim.run_ms(500);
    sim.clear_heard();
    sim.run_ms(500);
    // Everyone still hears the others after the change of rate.
    let p = powers(&sim.legs[0], &FREQS);
    assert!(p[1] > 1e5 && p[2] > 1e5 && p[0] * 100.0 < p[1], "{p:?}");
    sim.mixer.remove_leg(sim.legs[opus].id).unwrap();
    assert_eq!(sim.mixer.mix_rate(), 16000);
    sim.run_ms(200);
}

#[test]
fn an_announcement_reaches_talkers_listeners_and_the_full_mix_once() {
    let mut sim = Sim::new(MixerConfig::default(), 5);
    for f in [400.0, 700.0] {
        sim.add(
            AudioCodec::Pcmu,
            Source::Tone {
                freq: f,
                amplitude: 6000.0,
            },
        );
    }
    let listener = sim.add(AudioCodec::Pcmu, Source::Silence);
    sim.run_ms(500);
    sim.mixer.set_full_mix_tap(true);
    // One second of 1100 Hz at 8 kHz.
    let notice: Vec<i16> = (0..8000)
        .map(|i| {
            (6000.0 * (2.0 * std::f64::consts::PI * 1100.0 * f64::from(i) / 8000.0).sin()) as i16
        })
        .collect();
    sim.mixer.announce(8000, notice).unwrap();
    assert!(sim.mixer.announcing());
    sim.clear_heard();
    sim.run_ms(1000);
    for (i, leg) in sim.legs.iter().enumerate() {
        let p = powers(leg, &[1100.0]);
        assert!(
            p[0] > 1e5,
            "leg {i} (listener {listener}) misses the notice: {p:?}"
        );
        assert_continuous(leg);
    }
    let mut tap = Vec::new();
    while let Some(f) = sim.mixer.poll_full_mix() {
        tap.extend(f.pcm);
    }
    assert!(pont_audio::analysis::goertzel_power(&tap, 8000, 1100.0) > 1e5);
    // Played once: a second later it is gone, and the talkers are the same two.
    sim.run_ms(100);
    assert!(!sim.mixer.announcing());
    sim.clear_heard();
    sim.run_ms(1000);
    let p = powers(&sim.legs[listener], &[1100.0, 400.0]);
    assert!(p[0] * 100.0 < p[1], "the notice kept playing: {p:?}");
    assert_eq!(sim.mixer.talkers().len(), 2);
    assert!(sim.mixer.announce(44_100, Vec::new()).is_err());
}
