//! Two full-scale square waves summed: the limiter keeps every sample of every mix below full
//! scale (and below its −1 dBFS threshold).

mod common;

use common::{Sim, Source};
use pont_audio::{AudioCodec, MixerConfig};

#[test]
fn two_full_scale_legs_never_reach_saturation() {
    for (codec, rate) in [
        (AudioCodec::Pcmu, 8000),
        (AudioCodec::Pcmu, 48000),
        (AudioCodec::G722, 16000),
        (AudioCodec::Opus, 48000),
    ] {
        let mut sim = Sim::new(
            MixerConfig {
                mix_rate: rate,
                full_mix_tap: true,
                ..MixerConfig::default()
            },
            21,
        );
        sim.add(codec, Source::Square { freq: 200.0 });
        sim.add(codec, Source::Square { freq: 300.0 });
        sim.add(codec, Source::Silence);
        let mut peak = 0i32;
        let mut frames = 0;
        for _ in 0..100 {
            sim.run_ms(20);
            while let Some(f) = sim.mixer.poll_full_mix() {
                frames += 1;
                for &s in &f.pcm {
                    assert!(s != i16::MAX && s != i16::MIN, "{codec}@{rate}: saturated");
                    peak = peak.max((s as i32).abs());
                }
            }
        }
        assert!(frames >= 95, "{frames}");
        assert!(peak <= 29204, "{codec}@{rate}: peak {peak}");
        // And it is loud: the limiter limits, it does not mute.
        assert!(peak > 20000, "{codec}@{rate}: peak {peak}");
        // What the listener decodes is not saturated either (G.711 cannot even express it).
        // Opus's own decoder may overshoot a band-limited square near full scale: that is the
        // codec's, not the mix's, and is left out here.
        if codec == AudioCodec::Opus {
            continue;
        }
        let listener = &sim.legs[2];
        let sat = listener
            .heard
            .iter()
            .filter(|&&s| s == i16::MAX || s == i16::MIN)
            .count();
        assert_eq!(sat, 0, "{codec}@{rate}");
    }
}
