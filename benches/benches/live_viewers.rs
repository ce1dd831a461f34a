//! A live stream's viewers (issue 18): what one more viewer costs the media shard per packet
//! of the room's stream. Each viewer is its own WebRTC leg, so every packet is written once per
//! viewer into str0m (RTP header, SRTP encryption, its NACK history, pacing) and comes out as
//! a datagram for the socket. Measured: 20 ms of a 720p composed stream (3 H.264 packets of
//! 1,200 bytes, 150 packets/s, and one 20 ms Opus packet) sent to one viewer connected in memory
//! ([`pont_webrtc::loopback`]), the leg's timers run and its datagrams drained; against the
//! least any forwarder does: copying the same 4 packets into an output buffer.
//!
//! Run: `cargo bench -p pont-benches --bench live_viewers`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pont_media::MediaKind;
use pont_webrtc::loopback::Loopback;
use pont_webrtc::{LegEvent, ViewerPacket};

const VIDEO_PER_TICK: u16 = 3;
const VIDEO_BYTES: usize = 1200;
const AUDIO_BYTES: usize = 80;
const TICK: Duration = Duration::from_millis(20);

fn bench(c: &mut Criterion) {
    let video = vec![0x41_u8; VIDEO_BYTES];
    let audio = vec![0xfc_u8; AUDIO_BYTES];
    let mut g = c.benchmark_group("viewer_720p_stream_20ms");
    g.throughput(Throughput::Elements(u64::from(VIDEO_PER_TICK) + 1));

    g.bench_function("copy_baseline", |b| {
        let mut out: Vec<u8> = Vec::with_capacity(2048);
        b.iter(|| {
            for _ in 0..VIDEO_PER_TICK {
                out.clear();
                out.extend_from_slice(&[0x80, 102, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
                out.extend_from_slice(&video);
                black_box(&out);
            }
            out.clear();
            out.extend_from_slice(&[0x80, 111, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
            out.extend_from_slice(&audio);
            black_box(&out);
        });
    });

    g.bench_function("viewer_leg", |b| {
        let mut lb = Loopback::connect(Instant::now()).expect("a viewer connects");
        assert!(lb.leg.is_connected());
        let mut now = lb.now();
        let (mut vseq, mut aseq, mut ts) = (0u16, 0u16, 0u32);
        let mut datagrams = 0u64;
        let mut tick = 0u64;
        b.iter(|| {
            now += TICK;
            tick += 1;
            if tick.is_multiple_of(25) {
                // Twice a simulated second the viewer hears its timers and answers ICE
                // consent, as a browser does; else the leg would close and send nothing.
                lb.advance_to(now);
            }
            for i in 0..VIDEO_PER_TICK {
                lb.leg.send_viewer(
                    now,
                    MediaKind::Video,
                    ViewerPacket {
                        seq: vseq,
                        timestamp: ts * 90,
                        marker: i + 1 == VIDEO_PER_TICK,
                        payload: &video,
                    },
                );
                vseq = vseq.wrapping_add(1);
            }
            lb.leg.send_viewer(
                now,
                MediaKind::Audio,
                ViewerPacket {
                    seq: aseq,
                    timestamp: ts * 48,
                    marker: false,
                    payload: &audio,
                },
            );
            aseq = aseq.wrapping_add(1);
            ts = ts.wrapping_add(20);
            // The pacer releases what is due at the leg's own timeouts.
            while let Some(t) = lb.leg.poll_timeout().filter(|t| *t <= now) {
                lb.leg.handle_timeout(t.max(now));
            }
            while let Some(ev) = lb.leg.poll_event() {
                if let LegEvent::Transmit { contents, .. } = ev {
                    datagrams += 1;
                    black_box(contents);
                }
            }
        });
        // What was measured went out: about 4 datagrams per iteration, to the end.
        assert!(
            lb.leg.is_connected() && !lb.leg.is_closed(),
            "the viewer's leg closed"
        );
        assert!(
            datagrams >= tick * 3,
            "the viewer's leg sent {datagrams} datagrams in {tick} ticks"
        );
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
