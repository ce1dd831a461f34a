//! The media core alone: one room, 10 audio publishers at 50 packets/s, fanned out to 100
//! subscribers. Each iteration is 20 ms of simulated time: 10 packets in, 1000 packets out,
//! timers included. The baseline does the same packet generation and copies each packet into
//! an output buffer once per subscriber, which is the least any forwarder must do.
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
