//! Garbage payloads, wrong payload types, timestamp jumps and a leg that stops sending: the
//! mixer keeps its clock, the others hear each other as before, nothing panics.

mod common;

use bytes::Bytes;
use common::{Sim, Source, assert_continuous};
use pont_audio::analysis::goertzel_power;
use pont_audio::{AudioCodec, InboundPacket, MixerConfig};
use pont_types::{ParticipantId, Pt, Timestamp};

/// Per-100 ms power of `freq` in what a leg heard.
fn windows(heard: &[i16], rate: u32, freq: f64) -> Vec<f64> {
    heard
        .chunks((rate / 10) as usize)
        .map(|w| goertzel_power(w, rate, freq))
        .collect()
}

#[test]
fn bad_legs_do_not_disturb_the_others() {
    let mut sim = Sim::new(MixerConfig::default(), 31);
    let a = sim.add(
        AudioCodec::Pcmu,
        Source::Tone {
            freq: 400.0,
            amplitude: 6000.0,
        },
    );
    let b = sim.add(
        AudioCodec::Pcmu,
        Source::Tone {
            freq: 700.0,
            amplitude: 6000.0,
        },
    );
    // An Opus leg that sends garbage, then wrong payload types, then valid audio with timestamp
    // jumps, then nothing.
    let c = sim.add(AudioCodec::Opus, Source::Garbage);
    // A G.711 leg whose packets all carry the wrong payload type.
    let d = sim.add(
        AudioCodec::Pcma,
        Source::Tone {
            freq: 1100.0,
            amplitude: 6000.0,
        },
    );
    sim.legs[d].send_pt = Pt(96);

    sim.run_ms(500);
    sim.clear_heard();
    sim.run_ms(1000);
    sim.legs[c].send_pt = Pt(0);
    sim.run_ms(1000);
    sim.legs[c].send_pt = sim.legs[c].pt;
    sim.legs[c].source = Source::Tone {
        freq: 1500.0,
        amplitude: 50.0,
    };
    for k in 0..10u32 {
        sim.legs[c].ts_offset = k.wrapping_mul(0x3777_1234);
        sim.run_ms(200);
    }
    sim.legs[c].sending = false;
    sim.run_ms(1000);

    // Raw garbage straight into the mixer too: empty, huge, unknown leg.
    let now = Timestamp::from_micros(sim.now);
    for (i, len) in [0usize, 1, 2, 5000, 65_000].into_iter().enumerate() {
        for id in [sim.legs[c].id, sim.legs[a].id, ParticipantId(999)] {
            sim.mixer.handle_packet(
                now,
                id,
                InboundPacket {
                    pt: Pt(111),
                    seq: i as u16 * 9000,
                    timestamp: (i as u32).wrapping_mul(0x9000_0000),
                    payload: Bytes::from(vec![0xFF; len]),
                    level: None,
                },
            );
        }
    }
    sim.run_ms(500);

    let ticks = sim.mixer.ticks();
    for leg in &sim.legs {
        assert_continuous(leg);
    }
    // The mixer kept its clock: 50 ticks per simulated second (the first at 0).
    assert_eq!(ticks, sim.now / 20_000 + 1);
    // A hears B steadily in every 100 ms window, B hears A, neither hears garbage noise.
    for (me, other, f) in [(a, b, 700.0), (b, a, 400.0)] {
        let w = windows(&sim.legs[me].heard, 8000, f);
        let mean = w.iter().sum::<f64>() / w.len() as f64;
        for (k, p) in w.iter().enumerate() {
            assert!(
                (*p / mean - 1.0).abs() < 0.2,
                "leg {me} hears leg {other} unsteadily in window {k}: {p} vs {mean}"
            );
        }
        let rms = pont_audio::analysis::rms(&sim.legs[me].heard);
        let tone_rms = (2.0 * mean).sqrt();
        assert!(
            rms < tone_rms * 1.1,
            "extra noise: rms {rms} vs tone {tone_rms}"
        );
    }
    let sc = sim.mixer.leg_stats(sim.legs[c].id).unwrap();
    assert!(sc.wrong_pt > 0 && sc.undecodable > 0, "{sc:?}");
    let sd = sim.mixer.leg_stats(sim.legs[d].id).unwrap();
    assert!(sd.wrong_pt >= 200 && sd.decoded == 0, "{sd:?}");
}

#[test]
fn a_stalled_driver_skips_ticks_but_keeps_timestamps_continuous_in_time() {
    let mut sim = Sim::new(MixerConfig::default(), 32);
    sim.add(AudioCodec::Pcmu, Source::Silence);
    sim.run_ms(100);
    let before = sim.mixer.ticks();
    let last_ts = sim.legs[0].received.last().unwrap().timestamp;
    // The server wakes the mixer a whole second late.
    sim.mixer
        .handle_timeout(Timestamp::from_micros(sim.now + 1_000_000));
    assert!(sim.mixer.ticks() - before <= 6);
    assert!(sim.mixer.skipped_ticks() >= 40);
    let mut outs = Vec::new();
    while let Some(o) = sim.mixer.poll_output() {
        outs.push(o);
    }
    let last = outs.last().unwrap();
    // The timestamp moved by the wall-clock second, and the gap is marked.
    let moved = last.timestamp.wrapping_sub(last_ts);
    assert!((7900..=8200).contains(&moved), "{moved}");
    assert!(outs.iter().any(|o| o.marker));
}
