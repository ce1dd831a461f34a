//! The audio mixer: one 20 ms tick of a room of G.711 µ-law legs, of which `talkers` send a
//! tone and the rest silence. One iteration = every leg's packet into its jitter buffer, the
//! tick (pop every leg, level from the bytes, decode the talkers, mix, limiter, encode each
//! distinct mix once per codec) and the RTP packetization of every leg's output into a buffer.
//!
//! Baseline, in the same run: the naive mixer of Janus's AudioBridge — decode every leg, sum
//! them, and for every leg subtract its own signal, encode and packetize it (per-leg encode),
//! with no jitter buffer, level or limiter work at all.
//!
//! Run: `cargo bench -p pont-benches --bench audio_mixer`

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pont_audio::analysis::tone_from;
use pont_audio::g711::{linear_to_ulaw, ulaw_to_linear_sample};
use pont_audio::{AudioCodec, InboundPacket, LegConfig, Mixer, MixerConfig};
use pont_types::{ParticipantId, Pt, Timestamp};

const FRAME: usize = 160;

struct Room {
    mixer: Mixer,
    payloads: Vec<Vec<Bytes>>,
    n: usize,
    tick: u64,
    buf: Vec<u8>,
}

/// 50 frames (1 s) of µ-law per leg: a tone for talkers, silence for the others.
fn payloads(legs: usize, talkers: usize) -> Vec<Vec<Bytes>> {
    (0..legs)
        .map(|i| {
            (0..50)
                .map(|k| {
                    let pcm = if i < talkers {
                        tone_from(8000, 300.0 + 100.0 * i as f64, 6000.0, k * FRAME, FRAME)
                    } else {
                        vec![0; FRAME]
                    };
                    Bytes::from(pcm.iter().map(|&s| linear_to_ulaw(s)).collect::<Vec<u8>>())
                })
                .collect()
        })
        .collect()
}

fn room(legs: usize, talkers: usize, mix_rate: u32) -> Room {
    let mut mixer = Mixer::new(
        MixerConfig {
            mix_rate: Some(mix_rate),
            talkers: talkers.max(3),
            ..MixerConfig::default()
        },
        Timestamp::ZERO,
    )
    .unwrap();
    for i in 0..legs {
        mixer
            .add_leg(
                ParticipantId(i as u64),
                LegConfig::sip(AudioCodec::Pcmu, Pt(0)),
            )
            .unwrap();
    }
    let mut r = Room {
        mixer,
        payloads: payloads(legs, talkers),
        n: legs,
        tick: 0,
        buf: Vec::with_capacity(1500),
    };
    // Warm up: fill the jitter buffers and settle the talker set.
    for _ in 0..100 {
        r.step();
    }
    r
}

impl Room {
    fn step(&mut self) {
        let t = self.tick;
        self.tick += 1;
        let now = Timestamp::from_micros(t * 20_000 + 5_000);
        for i in 0..self.n {
            let payload = self.payloads[i][(t % 50) as usize].clone();
            self.mixer.handle_packet(
                now,
                ParticipantId(i as u64),
                InboundPacket {
                    pt: Pt(0),
                    seq: t as u16,
                    timestamp: (t as u32).wrapping_mul(160),
                    payload,
                    level: None,
                },
            );
        }
        self.mixer
            .handle_timeout(Timestamp::from_micros(t * 20_000 + 10_000));
        while let Some(out) = self.mixer.poll_output() {
            out.write_rtp(out.leg.0 as u32, Pt(0), &mut self.buf);
            black_box(&self.buf);
        }
        while self.mixer.poll_event().is_some() {}
    }
}

/// Janus AudioBridge's way: decode and mix every leg, encode a mix-minus per leg.
struct Naive {
    payloads: Vec<Vec<Bytes>>,
    n: usize,
    tick: u64,
    acc: Vec<i32>,
    pcm: Vec<Vec<i16>>,
    buf: Vec<u8>,
}

impl Naive {
    fn new(legs: usize, talkers: usize) -> Self {
        Self {
            payloads: payloads(legs, talkers),
            n: legs,
            tick: 0,
            acc: vec![0; FRAME],
            pcm: vec![vec![0; FRAME]; legs],
            buf: Vec::with_capacity(1500),
        }
    }

    fn step(&mut self) {
        let t = (self.tick % 50) as usize;
        self.tick += 1;
        self.acc.fill(0);
        for i in 0..self.n {
            for (k, &c) in self.payloads[i][t].iter().enumerate() {
                let s = ulaw_to_linear_sample(c);
                self.pcm[i][k] = s;
                self.acc[k] += s as i32;
            }
        }
        for i in 0..self.n {
            self.buf.clear();
            self.buf
                .extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            for k in 0..FRAME {
                let v = (self.acc[k] - self.pcm[i][k] as i32).clamp(-32768, 32767) as i16;
                self.buf.push(linear_to_ulaw(v));
            }
            black_box(&self.buf);
        }
    }
}

fn rooms(c: &mut Criterion) {
    let mut g = c.benchmark_group("audio_mixer/room");
    for legs in [5usize, 20, 100] {
        g.throughput(Throughput::Elements(legs as u64));
        let mut naive = Naive::new(legs, 3);
        g.bench_function(BenchmarkId::new("baseline_naive_janus_style", legs), |b| {
            b.iter(|| naive.step())
        });
        let mut r8 = room(legs, 3, 8000);
        g.bench_function(BenchmarkId::new("mixer_8k", legs), |b| b.iter(|| r8.step()));
        let mut r48 = room(legs, 3, 48000);
        g.bench_function(BenchmarkId::new("mixer_48k", legs), |b| {
            b.iter(|| r48.step())
        });
    }
    g.finish();
}

fn growth(c: &mut Criterion) {
    let mut g = c.benchmark_group("audio_mixer/talkers_of_20");
    for talkers in [1usize, 3, 6, 10] {
        let mut r = room(20, talkers, 8000);
        g.bench_function(BenchmarkId::from_parameter(talkers), |b| {
            b.iter(|| r.step())
        });
    }
    g.finish();
    let mut g = c.benchmark_group("audio_mixer/listeners_3_talkers");
    for legs in [10usize, 50, 200, 500] {
        g.throughput(Throughput::Elements(legs as u64));
        let mut r = room(legs, 3, 8000);
        g.bench_function(BenchmarkId::new("mixer_8k", legs), |b| b.iter(|| r.step()));
        let mut naive = Naive::new(legs, 3);
        g.bench_function(BenchmarkId::new("baseline_naive", legs), |b| {
            b.iter(|| naive.step())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = rooms, growth
}
criterion_main!(benches);
