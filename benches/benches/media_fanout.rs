//! The media core alone: one room, 10 audio publishers at 50 packets/s, fanned out to 100
//! subscribers. Each iteration is 20 ms of simulated time: 10 packets in, 1000 packets out,
//! timers included. The baseline does the same packet generation and copies each packet into
//! an output buffer once per subscriber, which is the least any forwarder must do.
//!
//! The second group is a shared screen (issue 16): one H.264 track of 1,200-byte packets at
//! 150 packets/s (1.44 Mbit/s, a 720p share), fanned out to 100 subscribers: 3 packets in and
//! 300 out per 20 ms, against the same copy baseline.
//!
//! Run: `cargo bench -p pont-benches --bench media_fanout`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pont_media::{Codec, CoreConfig, MediaCore, ParticipantConfig, TrackConfig};
use pont_types::{Pt, RoomId, Ssrc, Timestamp};

const PUBLISHERS: usize = 10;
const SUBSCRIBERS: usize = 100;
const TICK: Duration = Duration::from_millis(20);

/// An Opus packet with an RFC 6464 level (extension id 1) and a 60-byte payload.
fn template(ssrc: u32) -> Vec<u8> {
    let mut b = vec![0x90, 111, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&ssrc.to_be_bytes());
    b.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01, 0x10, 0x80 | 40, 0, 0]);
    b.extend_from_slice(&[0x55; 60]);
    b
}

fn stamp(pkt: &mut [u8], seq: u16, ts: u32) {
    pkt[2..4].copy_from_slice(&seq.to_be_bytes());
    pkt[4..8].copy_from_slice(&ts.to_be_bytes());
}

struct Room {
    core: MediaCore,
    publishers: Vec<(pont_types::ParticipantId, Vec<u8>)>,
    now: Timestamp,
    seq: u16,
    ts: u32,
    buf: Vec<u8>,
}

fn setup() -> Room {
    let mut core = MediaCore::new(CoreConfig::default());
    let room = RoomId(1);
    let now = Timestamp::ZERO;
    let mut publishers = Vec::new();
    for i in 0..PUBLISHERS {
        let id = core.add_participant(
            now,
            room,
            ParticipantConfig {
                subscribe_all: false,
                receive: Vec::new(),
                ..ParticipantConfig::web(format!("pub{i}"))
            },
        );
        let ssrc = 0x1000 + i as u32;
        core.publish(
            now,
            id,
            TrackConfig {
                codec: Codec::Opus,
                pt: Pt(111),
                ssrc: Some(Ssrc(ssrc)),
                rtx: None,
                audio_level_ext: Some(1),
            },
        )
        .unwrap();
        publishers.push((id, template(ssrc)));
    }
    for i in 0..SUBSCRIBERS {
        core.add_participant(now, room, ParticipantConfig::web(format!("sub{i}")));
    }
    let mut buf = Vec::new();
    while core.poll_transmit(&mut buf).is_some() {}
    while core.poll_event().is_some() {}
    Room {
        core,
        publishers,
        now,
        seq: 0,
        ts: 0,
        buf: Vec::with_capacity(1500),
    }
}

/// One 20 ms tick through the core; returns packets sent.
fn tick_core(r: &mut Room) -> usize {
    r.now += TICK;
    r.seq = r.seq.wrapping_add(1);
    r.ts = r.ts.wrapping_add(960);
    let mut sent = 0;
    for (id, pkt) in &mut r.publishers {
        stamp(pkt, r.seq, r.ts);
        r.core.handle_rtp(r.now, *id, pkt);
        while let Some(t) = r.core.poll_transmit(&mut r.buf) {
            black_box((t, r.buf.len()));
            sent += 1;
        }
    }
    if r.core.poll_timeout().is_some_and(|t| t <= r.now) {
        r.core.handle_timeout(r.now);
        while let Some(t) = r.core.poll_transmit(&mut r.buf) {
            black_box((t, r.buf.len()));
        }
        while r.core.poll_event().is_some() {}
    }
    sent
}

/// The same packets, each copied once per subscriber into the output buffer.
fn tick_baseline(r: &mut Room) -> usize {
    r.now += TICK;
    r.seq = r.seq.wrapping_add(1);
    r.ts = r.ts.wrapping_add(960);
    let mut sent = 0;
    for (_, pkt) in &mut r.publishers {
        stamp(pkt, r.seq, r.ts);
        for _ in 0..SUBSCRIBERS {
            r.buf.clear();
            r.buf.extend_from_slice(black_box(pkt));
            black_box(r.buf.len());
            sent += 1;
        }
    }
    sent
}

/// A shared screen's packets per 20 ms tick (150 packets/s).
const SCREEN_PER_TICK: usize = 3;

/// An H.264 packet (FU-A of a non-IDR slice, or of an IDR when `key`) of 1,200 bytes.
fn screen_template(ssrc: u32, key: bool) -> Vec<u8> {
    let mut b = vec![0x80, 102, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&ssrc.to_be_bytes());
    b.extend_from_slice(&[0x7c, if key { 0x85 } else { 0x01 }]);
    b.resize(1200, 0x55);
    b
}

struct Screen {
    core: MediaCore,
    sharer: pont_types::ParticipantId,
    pkt: Vec<u8>,
    now: Timestamp,
    seq: u16,
    ts: u32,
    buf: Vec<u8>,
}

fn setup_screen() -> Screen {
    let mut core = MediaCore::new(CoreConfig::default());
    let room = RoomId(1);
    let now = Timestamp::ZERO;
    let sharer = core.add_participant(
        now,
        room,
        ParticipantConfig {
            subscribe_all: false,
            receive: Vec::new(),
            ..ParticipantConfig::web("sharer")
        },
    );
    let ssrc = 0x2000;
    core.publish(
        now,
        sharer,
        TrackConfig {
            codec: Codec::H264,
            pt: Pt(102),
            ssrc: Some(Ssrc(ssrc)),
            rtx: None,
            audio_level_ext: None,
        },
    )
    .unwrap();
    for i in 0..SUBSCRIBERS {
        core.add_participant(now, room, ParticipantConfig::web(format!("sub{i}")));
    }
    let mut buf = Vec::new();
    while core.poll_transmit(&mut buf).is_some() {}
    while core.poll_event().is_some() {}
    let mut s = Screen {
        core,
        sharer,
        pkt: screen_template(ssrc, true),
        now,
        seq: 0,
        ts: 0,
        buf: Vec::with_capacity(1500),
    };
    // The first packet starts a keyframe; every later one is a delta slice.
    tick_screen(&mut s);
    s.pkt = screen_template(ssrc, false);
    s
}

/// One 20 ms tick of a shared screen through the core; returns packets sent.
fn tick_screen(s: &mut Screen) -> usize {
    s.now += TICK;
    s.ts = s.ts.wrapping_add(1800);
    let mut sent = 0;
    for _ in 0..SCREEN_PER_TICK {
        s.seq = s.seq.wrapping_add(1);
        stamp(&mut s.pkt, s.seq, s.ts);
        s.core.handle_rtp(s.now, s.sharer, &s.pkt);
        while let Some(t) = s.core.poll_transmit(&mut s.buf) {
            black_box((t, s.buf.len()));
            sent += 1;
        }
    }
    if s.core.poll_timeout().is_some_and(|t| t <= s.now) {
        s.core.handle_timeout(s.now);
        while let Some(t) = s.core.poll_transmit(&mut s.buf) {
            black_box((t, s.buf.len()));
        }
        while s.core.poll_event().is_some() {}
    }
    sent
}

/// The same screen packets, each copied once per subscriber.
fn tick_screen_baseline(s: &mut Screen) -> usize {
    s.now += TICK;
    s.ts = s.ts.wrapping_add(1800);
    let mut sent = 0;
    for _ in 0..SCREEN_PER_TICK {
        s.seq = s.seq.wrapping_add(1);
        stamp(&mut s.pkt, s.seq, s.ts);
        for _ in 0..SUBSCRIBERS {
            s.buf.clear();
            s.buf.extend_from_slice(black_box(&s.pkt));
            black_box(s.buf.len());
            sent += 1;
        }
    }
    sent
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout_10x50pps_to_100");
    g.throughput(Throughput::Elements((PUBLISHERS * SUBSCRIBERS) as u64));
    let mut base = setup();
    assert_eq!(tick_baseline(&mut base), PUBLISHERS * SUBSCRIBERS);
    g.bench_function("baseline_copy", |b| b.iter(|| tick_baseline(&mut base)));
    let mut room = setup();
    // Warm up past the first packets of every stream, then check the fan-out is complete.
    for _ in 0..10 {
        tick_core(&mut room);
    }
    assert_eq!(tick_core(&mut room), PUBLISHERS * SUBSCRIBERS);
    g.bench_function("media_core", |b| b.iter(|| tick_core(&mut room)));
    g.finish();

    let mut g = c.benchmark_group("screen_share_150pps_to_100");
    g.throughput(Throughput::Elements((SCREEN_PER_TICK * SUBSCRIBERS) as u64));
    let mut base = setup_screen();
    assert_eq!(
        tick_screen_baseline(&mut base),
        SCREEN_PER_TICK * SUBSCRIBERS
    );
    g.bench_function("baseline_copy", |b| {
        b.iter(|| tick_screen_baseline(&mut base))
    });
    let mut screen = setup_screen();
    for _ in 0..10 {
        tick_screen(&mut screen);
    }
    assert_eq!(tick_screen(&mut screen), SCREEN_PER_TICK * SUBSCRIBERS);
    g.bench_function("media_core", |b| b.iter(|| tick_screen(&mut screen)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
