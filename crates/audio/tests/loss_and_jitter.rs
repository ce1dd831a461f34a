//! The output clock never gaps: 10 % loss is concealed, 40 ms of jitter stops underrunning once
//! the buffer has adapted, a delay spike does not leave latency behind.

mod common;

use common::{Sim, Source, assert_continuous, powers};
use pont_audio::{AudioCodec, MixerConfig};

#[test]
fn ten_percent_loss_is_concealed_without_gaps_in_the_output_clock() {
    for codec in [AudioCodec::Pcmu, AudioCodec::G722, AudioCodec::Opus] {
        let mut sim = Sim::new(MixerConfig::default(), 11);
        let a = sim.add(
            codec,
            Source::Tone {
                freq: 400.0,
                amplitude: 6000.0,
            },
        );
        let b = sim.add(codec, Source::Silence);
        sim.legs[a].loss = 0.10;
        sim.run_ms(3000);
        let ticks = sim.mixer.ticks();
        for leg in &sim.legs {
            // One packet per tick for every leg, always.
            assert_eq!(leg.received.len() as u64, ticks, "{codec}");
            assert_continuous(leg);
        }
        let stats = sim.mixer.leg_stats(sim.legs[a].id).unwrap();
        assert!(stats.jitter.lost >= 10, "{codec}: {stats:?}");
        // The listener hears the tone throughout: no 20 ms window after the start is silent
        // (a single loss is concealed, not dropped to silence).
        let n = codec.frame_samples();
        let heard = &sim.legs[b].heard;
        let silent = heard[10 * n..]
            .chunks(n)
            .filter(|f| pont_audio::analysis::rms(f) < 300.0)
            .count();
        assert!(silent <= 3, "{codec}: {silent} silent frames");
        let p = powers(&sim.legs[b], &[400.0]);
        assert!(p[0] > 1e6, "{codec}: {p:?}");
    }
}

#[test]
fn forty_ms_jitter_gives_no_underrun_after_adapting() {
    let mut sim = Sim::new(MixerConfig::default(), 12);
    let a = sim.add(
        AudioCodec::Pcmu,
        Source::Tone {
            freq: 700.0,
            amplitude: 6000.0,
        },
    );
    sim.add(AudioCodec::Pcmu, Source::Silence);
    sim.legs[a].jitter_us = 40_000;
    sim.run_ms(2500);
    let id = sim.legs[a].id;
    let lost_before = sim.mixer.leg_stats(id).unwrap().jitter.lost;
    sim.run_ms(10_000);
    let stats = sim.mixer.leg_stats(id).unwrap().jitter;
    assert_eq!(
        stats.lost, lost_before,
        "underruns after adapting: {stats:?}"
    );
    let delay = sim.mixer.leg_delay(id).unwrap().as_millis();
    assert!((30..=60).contains(&delay), "delay {delay} ms");
    for leg in &sim.legs {
        assert_continuous(leg);
    }
}

#[test]
fn a_delay_spike_resets_the_buffer_instead_of_drifting() {
    let mut sim = Sim::new(MixerConfig::default(), 13);
    let a = sim.add(
        AudioCodec::Pcmu,
        Source::Tone {
            freq: 700.0,
            amplitude: 6000.0,
        },
    );
    sim.add(AudioCodec::Pcmu, Source::Silence);
    sim.legs[a].jitter_us = 5_000;
    sim.run_ms(2000);
    let id = sim.legs[a].id;
    let before = sim.mixer.leg_delay(id).unwrap();
    // The path gets 400 ms slower and stays so.
    sim.legs[a].base_delay_us += 400_000;
    sim.run_ms(1000);
    let stats = sim.mixer.leg_stats(id).unwrap().jitter.clone();
    assert!(stats.resets >= 1, "{stats:?}");
    // A second after the step, the buffer is back to the delay the jitter needs, not 400 ms.
    let after = sim.mixer.leg_delay(id).unwrap();
    assert!(
        after <= before + std::time::Duration::from_millis(10),
        "{before:?} -> {after:?}"
    );
    let lost_then = stats.lost;
    sim.run_ms(2000);
    assert_eq!(sim.mixer.leg_stats(id).unwrap().jitter.lost, lost_then);
    for leg in &sim.legs {
        assert_continuous(leg);
    }
}
