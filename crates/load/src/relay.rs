//! The baseline: the same participants and packet pattern against `udp-relay`, a plain UDP
//! forwarder (no ICE, DTLS, SRTP, RTCP or rewrite). What it reaches is this machine's own
//! limit for moving these packets, measured in the same run.
//!
//! Relay protocol (see `src/bin/udp-relay.rs`): a client sends `RLY1` + room (u32) to join a
//! room and gets `RLY1OK`; every other datagram it sends goes to every other member of its
//! room, unchanged.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::watch;

use crate::metrics::{Live, PartStats, stopped};
use crate::payload::{self, OpusFrames};
use crate::web::{Shared, WebPlan};

pub(crate) const MAGIC: &[u8; 4] = b"RLY1";

pub(crate) async fn run(
    plan: WebPlan,
    relay: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> PartStats {
    let mut stats = PartStats {
        kind: "relay",
        ..Default::default()
    };
    let started = Instant::now();
    let result = tokio::select! {
        r = session(&plan, relay, &shared, &mut stats, started) => r,
        _ = stopped(&mut stop) => Ok(()),
    };
    if let Err(e) = result {
        stats.failed = Some(format!("{}: {e:#}", plan.name));
    }
    if stats.join_ms.is_none() {
        Live::add(&shared.live.failed, 1);
        stats
            .failed
            .get_or_insert_with(|| format!("{}: never registered", plan.name));
    }
    stats
}

async fn session(
    plan: &WebPlan,
    relay: SocketAddr,
    shared: &Shared,
    stats: &mut PartStats,
    started: Instant,
) -> anyhow::Result<()> {
    let sock = UdpSocket::bind("127.0.0.1:0").await?;
    sock.connect(relay).await?;
    let mut reg = MAGIC.to_vec();
    reg.extend_from_slice(&(plan.room as u32).to_be_bytes());
    let mut buf = vec![0u8; 2048];
    let mut registered = false;
    for _ in 0..10 {
        sock.send(&reg).await?;
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(500), sock.recv(&mut buf)).await {
            let n = r?;
            if buf[..n].starts_with(b"RLY1OK") {
                registered = true;
                break;
            }
        }
    }
    if !registered {
        anyhow::bail!("the relay at {relay} does not answer");
    }
    stats.join_ms = Some(started.elapsed().as_millis() as u64);
    Live::add(&shared.live.joined, 1);

    let ssrc: u32 = rand::random();
    let vssrc: u32 = rand::random();
    let mut aseq: u16 = rand::random();
    let mut vseq: u16 = rand::random();
    let mut frame = 0u64;
    let mut atick = tokio::time::interval(Duration::from_millis(20));
    let mut vtick = tokio::time::interval(Duration::from_secs(1) / 30);
    let frame_bytes = plan
        .video_kbps
        .map(|k| (k as usize * 1000 / 8 / 30).max(200));
    let mut n_audio = 0u64;
    loop {
        tokio::select! {
            _ = atick.tick(), if plan.audio_publisher.is_some() => {
                let loud = plan.audio_publisher.is_some_and(|i| shared.speaker.is_loud(i));
                let frames = OpusFrames::get();
                let f = &frames.loud[(n_audio % 50) as usize];
                let body = payload::stamped_opus(f, payload::now_us(), n_audio as u32);
                // The same 12-byte header + 8-byte audio-level extension a browser sends.
                let mut p = rtp_header(111, false, aseq, (n_audio as u32).wrapping_mul(960), ssrc, true);
                p.extend_from_slice(&[0x10, if loud { 0x80 | 10 } else { 70 }, 0, 0]);
                p.extend_from_slice(&body);
                sock.send(&p).await?;
                aseq = aseq.wrapping_add(1);
                n_audio += 1;
                stats.sent += 1;
                Live::add(&shared.live.sent, 1);
            }
            _ = vtick.tick(), if frame_bytes.is_some() => {
                let ps = payload::h264_frame(frame_bytes.unwrap_or(0), frame.is_multiple_of(60), payload::now_us(), frame as u32);
                let last = ps.len() - 1;
                for (i, body) in ps.into_iter().enumerate() {
                    let mut p = rtp_header(102, i == last, vseq, (frame as u32).wrapping_mul(3000), vssrc, false);
                    p.extend_from_slice(&body);
                    sock.send(&p).await?;
                    vseq = vseq.wrapping_add(1);
                    stats.sent += 1;
                    Live::add(&shared.live.sent, 1);
                }
                frame += 1;
            }
            r = sock.recv(&mut buf) => {
                let n = r?;
                let p = &buf[..n];
                if n < 12 || p[0] >> 6 != 2 {
                    continue;
                }
                let arrival = payload::now_us();
                let pt = p[1] & 0x7f;
                let seq = u16::from_be_bytes([p[2], p[3]]);
                let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
                let s = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
                let mut off = 12;
                if p[0] & 0x10 != 0 && n >= 16 {
                    off += 4 + 4 * usize::from(u16::from_be_bytes([p[14], p[15]]));
                }
                let body = p.get(off..).unwrap_or_default();
                let (clock, stamp) = if pt == 111 {
                    (48_000, payload::opus_stamp(body))
                } else {
                    (90_000, payload::h264_stamp(body))
                };
                stats.streams.entry(s).or_default().packet(clock, seq, ts, arrival);
                if let Some((sent, _)) = stamp {
                    stats.latency_us.record(arrival.saturating_sub(sent));
                }
                stats.received += 1;
                Live::add(&shared.live.received, 1);
            }
        }
    }
}

fn rtp_header(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, ext: bool) -> Vec<u8> {
    let mut p = Vec::with_capacity(1200);
    p.push(if ext { 0x90 } else { 0x80 });
    p.push((u8::from(marker) << 7) | pt);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    if ext {
        p.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01]);
    }
    p
}
