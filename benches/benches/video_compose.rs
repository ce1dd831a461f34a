//! The video MCU for one room: 5 publishers at 640×360 (moving content), the speaker in the
//! main window and 4 in the strip of a 1280×720 canvas, composed and encoded once at 15 fps.
//! One iteration is one frame interval: a frame from every publisher depacketized and decoded,
//! the canvas redrawn (bilinear scaling of all 5), encoded (openh264, constrained baseline,
//! 1.5 Mbit/s) and packetized. Baselines in the same run: encoding a static 720p canvas (what
//! a room whose picture does not change costs), encoding a moving 720p canvas alone (the
//! encoder's share), and decoding one 640×360 frame.
//!
//! The same room recorded (`room_1_plus_4_720p_recorded`) adds what the recorder does: the
//! composer's access units converted to MP4 samples, a second of the room's 8 kHz mix encoded
//! as Opus per 15 frames, and the fragmented-MP4 muxing.
//!
//! With a shared screen (`room_1_plus_4_720p_with_screen`): a sixth source, 1280×720 at
//! 1.5 Mbit/s, in the main window (the speaker joins the strip).
//!
//! Run: `cargo bench -p pont-benches --bench video_compose`

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use openh264::OpenH264API;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, Profile, RateControlMode,
};
use openh264::formats::{YUVBuffer, YUVSource};
use pont_record::{Recorder, RecorderConfig, VideoConfig};
use pont_types::{ParticipantId, Timestamp};
use pont_video::h264::{annexb_nal_units, annexb_to_avcc};
use pont_video::{Composer, ComposerConfig, I420Frame, Packetizer, Rect, RtpIn, RtpPayload, Yuv};

const PUBLISHERS: u64 = 5;
/// Frames per publisher loop; frame 0 is the only IDR, so 1 in 60 decodes is a keyframe.
const LOOP: usize = 60;
const FRAME: Duration = Duration::from_micros(66_666);

/// A moving picture: diagonal gradients drifting at different speeds per plane plus a block
/// moving across, so every macroblock changes from frame to frame.
fn picture(w: usize, h: usize, t: usize, seed: usize) -> YUVBuffer {
    let mut yuv = Vec::with_capacity(w * h * 3 / 2);
    let (bx, by) = ((t * 7 + seed * 40) % w, (t * 3 + seed * 20) % h);
    for y in 0..h {
        for x in 0..w {
            let in_block = x.abs_diff(bx) < w / 8 && y.abs_diff(by) < h / 8;
            let v = if in_block {
                230
            } else {
                (x + y + t * 5 + seed * 50) as u8 / 2 + 40
            };
            yuv.push(v);
        }
    }
    for plane in 0..2 {
        for y in 0..h / 2 {
            for x in 0..w / 2 {
                yuv.push(((x * (plane + 1) + y + t * 3 + seed * 30) % 128) as u8 + 64);
            }
        }
    }
    YUVBuffer::from_vec(yuv, w, h)
}

fn encoder(bps: u32) -> Encoder {
    let config = EncoderConfig::new()
        .bitrate(BitRate::from_bps(bps))
        .max_frame_rate(FrameRate::from_hz(15.0))
        .rate_control_mode(RateControlMode::Bitrate)
        .profile(Profile::Baseline)
        .complexity(Complexity::Low)
        .num_threads(1);
    Encoder::with_api_config(OpenH264API::from_source(), config).unwrap()
}

/// LOOP frames of one publisher as RTP payloads.
fn publisher_stream(seed: usize) -> Vec<Vec<RtpPayload>> {
    stream_of(640, 360, 500_000, seed)
}

/// LOOP frames of `w`×`h` moving pictures at `bps`, as RTP payloads.
fn stream_of(w: usize, h: usize, bps: u32, seed: usize) -> Vec<Vec<RtpPayload>> {
    let mut enc = encoder(bps);
    let mut pk = Packetizer::new(1200, 0);
    (0..LOOP)
        .map(|t| {
            let annexb = enc.encode(&picture(w, h, t, seed)).unwrap().to_vec();
            let mut out = Vec::new();
            pk.packetize((t * 6000) as u32, annexb_nal_units(&annexb), &mut out);
            out
        })
        .collect()
}

struct Room {
    composer: Composer,
    streams: Vec<Vec<Vec<RtpPayload>>>,
    seq: Vec<u16>,
    frame: usize,
    now: Timestamp,
    /// Recorded: the composer's access units and a second of mix per 15 frames go into a
    /// recorder (audio + composed video, fragmented MP4).
    recorder: Option<Recorder>,
    mix: Vec<Vec<i16>>,
    file_bytes: usize,
}

impl Room {
    fn new() -> Self {
        let mut composer = Composer::new(ComposerConfig::default()).unwrap();
        for id in 1..=PUBLISHERS {
            composer.add_participant(Timestamp::ZERO, ParticipantId(id), "bench");
        }
        composer.set_speaker(Timestamp::ZERO, Some(ParticipantId(1)));
        assert_eq!(composer.strip().len(), 4);
        Self {
            composer,
            streams: (0..PUBLISHERS as usize).map(publisher_stream).collect(),
            seq: vec![0; PUBLISHERS as usize],
            frame: 0,
            now: Timestamp::ZERO,
            recorder: None,
            mix: Vec::new(),
            file_bytes: 0,
        }
    }

    /// The same room while someone shares a 1280×720 screen (moving content: the worst
    /// case; a slide mostly repeats itself): the screen is a sixth source, in the main window,
    /// and the speaker moves to the strip.
    fn with_screen() -> Self {
        let mut room = Self::new();
        let screen = ParticipantId(PUBLISHERS + 1);
        room.composer
            .add_participant(Timestamp::ZERO, screen, "screen");
        room.composer.set_speaker(Timestamp::ZERO, Some(screen));
        room.streams.push(stream_of(1280, 720, 1_500_000, 9));
        room.seq.push(0);
        room
    }

    /// The same room, recorded as the server records it.
    fn recorded() -> Self {
        let mut room = Self::new();
        room.composer.set_access_unit_tap(Timestamp::ZERO, true);
        room.recorder = Some(
            Recorder::new(RecorderConfig {
                video: Some(VideoConfig {
                    width: 1280,
                    height: 720,
                    sps: Vec::new(),
                    pps: Vec::new(),
                }),
                ..RecorderConfig::default()
            })
            .unwrap(),
        );
        // One second of an 8 kHz (G.711 room) mix: a 440 Hz tone, 50 frames of 20 ms.
        room.mix = (0..50)
            .map(|f| {
                (0..160)
                    .map(|i| {
                        let t = f64::from(f * 160 + i) / 8000.0;
                        (6000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
                    })
                    .collect()
            })
            .collect();
        room
    }

    /// One frame interval.
    fn step(&mut self) -> usize {
        let t = self.frame % LOOP;
        let lap = (self.frame / LOOP) as u32;
        for (i, stream) in self.streams.iter().enumerate() {
            for p in &stream[t] {
                // Renumber so every lap continues the sequence and timestamp space.
                let seq = self.seq[i];
                self.seq[i] = seq.wrapping_add(1);
                let ts = p.timestamp.wrapping_add(lap * LOOP as u32 * 6000);
                let pkt = RtpIn {
                    seq,
                    timestamp: ts,
                    marker: p.marker,
                    payload: &p.payload,
                };
                self.composer
                    .handle_rtp(self.now, ParticipantId(i as u64 + 1), pkt)
                    .unwrap();
            }
        }
        self.composer.handle_timeout(self.now);
        let mut bytes = 0;
        while let Some(o) = self.composer.poll_output() {
            match o {
                pont_video::ComposerOutput::Packet(p) => bytes += p.payload.len(),
                pont_video::ComposerOutput::AccessUnit(au) => {
                    if let Some(r) = &mut self.recorder {
                        let avcc = annexb_to_avcc(&au.data);
                        if let (Some(sps), Some(pps)) = (avcc.sps, avcc.pps) {
                            r.handle_video_parameter_sets(sps, pps);
                        }
                        r.handle_video(
                            self.now,
                            au.rtp_timestamp,
                            Bytes::from(avcc.sample),
                            au.keyframe,
                        );
                    }
                }
                _ => {}
            }
        }
        if let Some(r) = &mut self.recorder {
            // 15 frames a second: the second's mix once every 15 frames.
            if self.frame.is_multiple_of(15) {
                for f in &self.mix {
                    r.handle_audio(self.now, 8000, f);
                }
            }
            while let Some(chunk) = r.poll_output() {
                self.file_bytes += chunk.len();
            }
        }
        self.frame += 1;
        self.now += FRAME;
        bytes
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("video_compose");
    g.sample_size(30).measurement_time(Duration::from_secs(10));

    // Baseline 1: the encoder on a canvas that never changes.
    let still = picture(1280, 720, 0, 0);
    let mut enc = encoder(1_500_000);
    g.bench_function("baseline_encode_720p_static", |b| {
        b.iter(|| black_box(enc.encode(&still).unwrap().to_vec().len()))
    });

    // Baseline 2: the encoder alone on a moving 720p canvas.
    let moving: Vec<YUVBuffer> = (0..LOOP).map(|t| picture(1280, 720, t, 0)).collect();
    let mut enc = encoder(1_500_000);
    let mut t = 0;
    g.bench_function("baseline_encode_720p_moving", |b| {
        b.iter(|| {
            t += 1;
            black_box(enc.encode(&moving[t % LOOP]).unwrap().to_vec().len())
        })
    });

    // Baseline 3: decoding one publisher frame (640×360, P frames; the IDR restarts the loop).
    let stream: Vec<Vec<u8>> = {
        let mut enc = encoder(500_000);
        (0..LOOP)
            .map(|t| enc.encode(&picture(640, 360, t, 1)).unwrap().to_vec())
            .collect()
    };
    let mut dec =
        Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new()).unwrap();
    let mut t = 0;
    g.bench_function("baseline_decode_360p", |b| {
        b.iter(|| {
            let r = dec.decode(&stream[t % LOOP]).unwrap().is_some();
            t += 1;
            black_box(r)
        })
    });

    // Baseline 4: compose alone, the scaling of the same layout from decoded 640×360 pictures
    // (main window 960×540 after fitting, four 320×180 tiles) onto the 720p canvas.
    let src: Vec<I420Frame> = (0..PUBLISHERS as usize)
        .map(|i| {
            let p = picture(640, 360, 0, i);
            I420Frame::from_planes((640, 360), (p.y(), p.u(), p.v()), (640, 320))
        })
        .collect();
    let mut canvas = I420Frame::new(1280, 720, Yuv::new(32, 128, 128));
    let slots = [
        Rect::new(160, 0, 960, 540),
        Rect::new(0, 540, 320, 180),
        Rect::new(320, 540, 320, 180),
        Rect::new(640, 540, 320, 180),
        Rect::new(960, 540, 320, 180),
    ];
    g.bench_function("baseline_compose_only_1_plus_4", |b| {
        b.iter(|| {
            for (f, r) in src.iter().zip(slots) {
                canvas.draw_scaled(f, r);
            }
            black_box(canvas.y()[0])
        })
    });

    // The room: 5 decodes + compose + encode + packetize per 15 fps frame.
    let mut room = Room::new();
    for _ in 0..LOOP {
        room.step(); // warm up: decoders synced, encoder rate control settled
    }
    g.bench_function("room_1_plus_4_720p", |b| b.iter(|| black_box(room.step())));

    // The same room with a shared 720p screen in the main window (issue 16).
    let mut shared = Room::with_screen();
    for _ in 0..LOOP {
        shared.step();
    }
    g.bench_function("room_1_plus_4_720p_with_screen", |b| {
        b.iter(|| black_box(shared.step()))
    });

    // The same room recorded: plus the access-unit tap, AVCC conversion, the mix's Opus
    // encode and the MP4 muxing.
    let mut recorded = Room::recorded();
    for _ in 0..LOOP {
        recorded.step();
    }
    g.bench_function("room_1_plus_4_720p_recorded", |b| {
        b.iter(|| black_box(recorded.step()))
    });
    g.finish();

    // CPU time, which the other tenants of a shared machine do not inflate the way they
    // inflate wall time: process user+system time over 300 frames (10 ms ticks of
    // /proc/self/stat, so ±10 ms over the whole run).
    let cpu = || -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks * 10.0) // ms, at the usual USER_HZ of 100
    };
    let per_frame = |room: &mut Room, name: &str| {
        let Some(before) = cpu() else {
            return;
        };
        let wall = std::time::Instant::now();
        for _ in 0..300 {
            black_box(room.step());
        }
        let wall_ms = wall.elapsed().as_secs_f64() * 1000.0 / 300.0;
        let cpu_ms = (cpu().unwrap_or(before) - before) / 300.0;
        eprintln!(
            "{name} over 300 frames: {cpu_ms:.2} ms CPU per frame ({wall_ms:.2} ms wall) \
             -> {:.1} rooms per core at 15 fps by CPU time",
            66.67 / cpu_ms
        );
    };
    per_frame(&mut room, "room_1_plus_4_720p");
    per_frame(&mut shared, "room_1_plus_4_720p_with_screen");
    per_frame(&mut recorded, "room_1_plus_4_720p_recorded");
    let seconds = recorded.frame as f64 / 15.0;
    eprintln!(
        "recorded: {:.0} kbit/s of file over {seconds:.0} s of media",
        recorded.file_bytes as f64 * 8.0 / seconds / 1000.0
    );
    let s = room.composer.stats();
    eprintln!(
        "room: {} frames encoded, {} decoded, {} decode errors, {:.0} kbit/s out",
        s.frames_encoded,
        s.frames_decoded,
        s.decode_errors,
        s.bytes_out as f64 * 8.0 / (s.frames_encoded as f64 / 15.0) / 1000.0
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
