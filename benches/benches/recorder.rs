//! The recorder sink, audio only: one second of a room's full mix (50 frames of 20 ms) into a
//! `Recorder` — resampled to 48 kHz when the mix is at 8 kHz (a G.711 room), encoded as 20 ms
//! mono Opus, muxed into one fragmented-MP4 fragment — and the fragment drained. Time per
//! iteration = CPU per recorded room-second, so recordings per core = 1 s / that time.
//!
//! Baselines, in the same run: the bare Opus encode of the same 50 frames (the floor: what any
//! recorder must pay), and one second of the room's mixer itself (4 G.711 legs, 2 talking),
//! which runs whether or not the room is recorded.
//!
//! Run: `cargo bench -p pont-benches --bench recorder`

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pont_audio::analysis::tone_from;
use pont_audio::g711::linear_to_ulaw;
use pont_audio::{AudioCodec, Encoder, InboundPacket, LegConfig, Mixer, MixerConfig};
use pont_record::{Recorder, RecorderConfig};
use pont_types::{ParticipantId, Pt, Timestamp};

/// One second of a mixed-looking signal at `rate`: two tones.
fn second(rate: u32) -> Vec<Vec<i16>> {
    let n = rate as usize / 50;
    (0..50)
        .map(|k| {
            let a = tone_from(rate, 440.0, 5000.0, k * n, n);
            let b = tone_from(rate, 700.0, 3000.0, k * n, n);
            a.iter()
                .zip(&b)
                .map(|(x, y)| x.saturating_add(*y))
                .collect()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("recorder");
    g.throughput(Throughput::Elements(1));

    for rate in [8000u32, 48_000] {
        let frames = second(rate);
        let mut rec = Recorder::new(RecorderConfig::default()).unwrap();
        while rec.poll_output().is_some() {}
        let mut t = 0u64;
        g.bench_function(format!("record_1s_mix_{}k", rate / 1000), |b| {
            b.iter(|| {
                for f in &frames {
                    t += 20_000;
                    rec.handle_audio(Timestamp::from_micros(t), rate, black_box(f));
                }
                let mut bytes = 0;
                while let Some(chunk) = rec.poll_output() {
                    bytes += chunk.len();
                }
                black_box(bytes)
            });
        });
    }

    // Baseline 1: the Opus encode alone, 50 frames at 48 kHz.
    let frames = second(48_000);
    let mut enc = Encoder::new(AudioCodec::Opus).unwrap();
    let mut out = Vec::with_capacity(400);
    g.bench_function("baseline_opus_encode_1s", |b| {
        b.iter(|| {
            for f in &frames {
                out.clear();
                enc.encode(black_box(f), &mut out).unwrap();
            }
            black_box(out.len())
        });
    });

    // Baseline 2: one second of the room's mixer (4 µ-law legs, 2 talking), no recorder.
    let mut mixer = Mixer::new(MixerConfig::default(), Timestamp::ZERO).unwrap();
    for i in 0..4u64 {
        mixer
            .add_leg(ParticipantId(i), LegConfig::sip(AudioCodec::Pcmu, Pt(0)))
            .unwrap();
    }
    let payloads: Vec<Vec<Bytes>> = (0..4)
        .map(|i| {
            (0..50)
                .map(|k| {
                    let pcm = if i < 2 {
                        tone_from(8000, 300.0 + 400.0 * i as f64, 6000.0, k * 160, 160)
                    } else {
                        vec![0; 160]
                    };
                    Bytes::from(pcm.iter().map(|&s| linear_to_ulaw(s)).collect::<Vec<u8>>())
                })
                .collect()
        })
        .collect();
    let mut tick = 0u64;
    g.bench_function("baseline_mixer_4_legs_1s", |b| {
        b.iter(|| {
            for _ in 0..50 {
                let now = Timestamp::from_micros(tick * 20_000);
                for (i, p) in payloads.iter().enumerate() {
                    mixer.handle_packet(
                        now,
                        ParticipantId(i as u64),
                        InboundPacket {
                            pt: Pt(0),
                            seq: tick as u16,
                            timestamp: (tick * 160) as u32,
                            payload: p[(tick % 50) as usize].clone(),
                            level: None,
                        },
                    );
                }
                mixer.handle_timeout(now);
                while mixer.poll_output().is_some() {}
                while mixer.poll_event().is_some() {}
                tick += 1;
            }
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
