//! A room of simulated legs on a simulated clock: each leg sends a tone in its codec through a
//! seeded network (delay, jitter, loss), the mixer ticks at its `poll_timeout`, and whatever the
//! mixer sends a leg is decoded into what that leg "hears".
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use pont_audio::analysis::{goertzel_power, tone_from};
use pont_audio::{
    AudioCodec, Decoder, Encoder, InboundPacket, LegConfig, MixedPacket, Mixer, MixerConfig,
};
use pont_types::{ParticipantId, Pt, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a simulated leg sends.
#[derive(Clone, Copy, Debug)]
pub enum Source {
    Tone {
        freq: f64,
        amplitude: f64,
    },
    /// Full-scale square wave of this frequency.
    Square {
        freq: f64,
    },
    Silence,
    /// Random bytes as payload, made undecodable for Opus (a code-3 TOC with a frame count of
    /// zero, RFC 6716 §3.2.5): random bytes that happen to be valid Opus are audio (noise) that
    /// the mixer rightly mixes like any noisy participant.
    Garbage,
}

pub struct SimLeg {
    pub id: ParticipantId,
    pub codec: AudioCodec,
    pub pt: Pt,
    pub source: Source,
    pub sending: bool,
    /// Payload type actually put on packets (to send wrong ones).
    pub send_pt: Pt,
    pub base_delay_us: u64,
    pub jitter_us: u64,
    pub loss: f64,
    /// Added to every timestamp from now on (a timestamp jump).
    pub ts_offset: u32,
    enc: Encoder,
    dec: Decoder,
    seq: u16,
    frames_sent: u64,
    in_flight: Vec<(u64, InboundPacket)>,
    /// Decoded audio the leg received, at its codec's rate.
    pub heard: Vec<i16>,
    pub received: Vec<MixedPacket>,
}

pub struct Sim {
    pub mixer: Mixer,
    pub now: u64,
    pub legs: Vec<SimLeg>,
    rng: ChaCha8Rng,
    /// Ticks run by the mixer, counted by the harness.
    pub ticks: u64,
}

pub fn pt_of(codec: AudioCodec) -> Pt {
    Pt(codec.static_pt().unwrap_or(111))
}

impl Sim {
    pub fn new(config: MixerConfig, seed: u64) -> Self {
        Self {
            mixer: Mixer::new(config, Timestamp::from_micros(0)).unwrap(),
            now: 0,
            legs: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            ticks: 0,
        }
    }

    /// Adds a leg that receives the mix and sends `source`.
    pub fn add(&mut self, codec: AudioCodec, source: Source) -> usize {
        self.add_with(codec, source, |c| c)
    }

    pub fn add_with(
        &mut self,
        codec: AudioCodec,
        source: Source,
        f: impl FnOnce(LegConfig) -> LegConfig,
    ) -> usize {
        let id = ParticipantId(self.legs.len() as u64 + 1);
        let pt = pt_of(codec);
        let cfg = f(LegConfig {
            initial_timestamp: 1000 * id.0 as u32,
            initial_seq: 7 * id.0 as u16,
            ..LegConfig::sip(codec, pt)
        });
        self.mixer.add_leg(id, cfg).unwrap();
        self.legs.push(SimLeg {
            id,
            codec,
            pt,
            source,
            sending: true,
            send_pt: pt,
            base_delay_us: 30_000,
            jitter_us: 0,
            loss: 0.0,
            ts_offset: 0,
            enc: Encoder::new(codec).unwrap(),
            dec: Decoder::new(codec).unwrap(),
            seq: id.0 as u16 * 1000,
            frames_sent: 0,
            in_flight: Vec::new(),
            heard: Vec::new(),
            received: Vec::new(),
        });
        self.legs.len() - 1
    }

    /// Runs `ms` milliseconds of simulated time in 1 ms steps.
    pub fn run_ms(&mut self, ms: u64) {
        for _ in 0..ms {
            self.now += 1000;
            let now = self.now;
            // Senders: one 20 ms frame every 20 ms, at an offset of 3 ms from the mixer's tick.
            if now % 20_000 == 3_000 {
                for i in 0..self.legs.len() {
                    self.send_frame(i);
                }
            }
            // Network: deliver what has arrived.
            for leg in &mut self.legs {
                leg.in_flight.sort_by_key(|(t, _)| *t);
                let due = leg.in_flight.partition_point(|(t, _)| *t <= now);
                for (t, p) in leg.in_flight.drain(..due) {
                    self.mixer
                        .handle_packet(Timestamp::from_micros(t), leg.id, p);
                }
            }
            // Mixer ticks.
            while self.mixer.poll_timeout() <= Timestamp::from_micros(now) {
                self.mixer.handle_timeout(Timestamp::from_micros(now));
                self.ticks += 1;
            }
            while let Some(out) = self.mixer.poll_output() {
                let leg = self.legs.iter_mut().find(|l| l.id == out.leg).unwrap();
                let n = leg.codec.frame_samples();
                let frames = match leg.codec.frame_bytes() {
                    Some(b) => out.payload.len() / b,
                    None => 1,
                };
                for k in 0..frames {
                    let mut pcm = vec![0; n];
                    let part = match leg.codec.frame_bytes() {
                        Some(b) => &out.payload[k * b..(k + 1) * b],
                        None => &out.payload[..],
                    };
                    leg.dec.decode(part, &mut pcm).unwrap();
                    leg.heard.extend_from_slice(&pcm);
                }
                leg.received.push(out);
            }
            while self.mixer.poll_event().is_some() {}
        }
    }

    fn send_frame(&mut self, i: usize) {
        let leg = &mut self.legs[i];
        let n = leg.codec.frame_samples();
        let rate = leg.codec.sample_rate();
        let start = (leg.frames_sent as usize) * n;
        leg.frames_sent += 1;
        let seq = leg.seq;
        leg.seq = leg.seq.wrapping_add(1);
        let timestamp = (leg.frames_sent as u32 - 1)
            .wrapping_mul(leg.codec.frame_rtp_ticks())
            .wrapping_add(leg.ts_offset);
        if !leg.sending {
            return;
        }
        let pcm: Vec<i16> = match leg.source {
            Source::Tone { freq, amplitude } => tone_from(rate, freq, amplitude, start, n),
            Source::Square { freq } => (start..start + n)
                .map(|k| {
                    let half = (rate as f64 / freq / 2.0) as usize;
                    if (k / half).is_multiple_of(2) {
                        32767
                    } else {
                        -32768
                    }
                })
                .collect(),
            Source::Silence | Source::Garbage => vec![0; n],
        };
        let payload = if let Source::Garbage = leg.source {
            let len = self.rng.gen_range(0..300);
            let mut g: Vec<u8> = (0..len).map(|_| self.rng.r#gen::<u8>()).collect();
            if g.len() >= 2 {
                g[0] |= 0x03;
                g[1] = 0;
            }
            g
        } else {
            let mut p = Vec::new();
            leg.enc.encode(&pcm, &mut p).unwrap();
            p
        };
        if self.rng.gen_bool(leg.loss) {
            return;
        }
        let jitter = if leg.jitter_us > 0 {
            self.rng.gen_range(0..leg.jitter_us)
        } else {
            0
        };
        let arrival = self.now + leg.base_delay_us + jitter;
        leg.in_flight.push((
            arrival,
            InboundPacket {
                pt: leg.send_pt,
                seq,
                timestamp,
                payload: Bytes::from(payload),
                level: None,
            },
        ));
    }

    /// Forgets what every leg heard so far (to measure a later window).
    pub fn clear_heard(&mut self) {
        for l in &mut self.legs {
            l.heard.clear();
            l.received.clear();
        }
    }
}

/// Power of each frequency in what a leg heard.
pub fn powers(leg: &SimLeg, freqs: &[f64]) -> Vec<f64> {
    freqs
        .iter()
        .map(|&f| goertzel_power(&leg.heard, leg.codec.sample_rate(), f))
        .collect()
}

/// Checks that a leg's received packets are one per tick with continuous timestamps and
/// sequence numbers.
pub fn assert_continuous(leg: &SimLeg) {
    let step = leg.codec.frame_rtp_ticks();
    for w in leg.received.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "leg {}", leg.id);
        assert_eq!(
            w[1].timestamp,
            w[0].timestamp.wrapping_add(step),
            "leg {}",
            leg.id
        );
    }
}
