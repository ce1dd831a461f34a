//! The per-source limiter's check per SIP request (`pont_guard::Limiter`, used by the server's
//! `[security]` limits before the endpoint parses anything), against a `HashMap<IpAddr, u32>`
//! counter bump with the same (SipHash, randomly keyed) hasher — the least a per-source count
//! costs. Cases:
//! - `blocked_source`: the flood case, one source already blocked (`is_blocked`);
//! - `one_busy_source`: a source under its limit (`hit`);
//! - `many_sources`: 50,000 sources in turn in a 65,536-entry table (cache misses);
//! - `spoofed`: a new source on every request in a full table (eviction each time);
//! - `peek`: the look at a 500-byte INVITE's start line and headers that comes before `hit`.
//!
//! Run: `cargo bench -p pont-benches --bench guard`

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pont_guard::{LimitConfig, Limiter};
use pont_types::Timestamp;

fn config(limit: u32) -> LimitConfig {
    LimitConfig {
        window: Duration::from_secs(1),
        limit,
        block: Duration::from_secs(60),
        capacity: 65_536,
    }
}

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

const INVITE: &[u8] = b"INVITE sip:123456@192.0.2.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-2201-1-0\r\n\
From: sipp <sip:sipp@198.51.100.7:5060>;tag=2201SIPpTag001\r\n\
To: <sip:123456@192.0.2.1:5060>\r\n\
Call-ID: 1-2201@198.51.100.7\r\n\
CSeq: 1 INVITE\r\n\
Contact: sip:sipp@198.51.100.7:5060\r\n\
Max-Forwards: 70\r\n\
User-Agent: Polycom/5.9.1\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 129\r\n\r\n\
v=0\r\no=user1 53655765 2353687637 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn guard(c: &mut Criterion) {
    let mut g = c.benchmark_group("guard");
    g.throughput(Throughput::Elements(1));

    let mut map: HashMap<IpAddr, u32> = HashMap::with_capacity(65_536);
    g.bench_function("baseline_hashmap_bump", |b| {
        b.iter(|| *map.entry(black_box(ip(7))).or_default() += 1)
    });

    let mut blocked = Limiter::new(config(0));
    blocked.hit(Timestamp::ZERO, ip(7));
    g.bench_function("blocked_source", |b| {
        b.iter(|| blocked.is_blocked(black_box(Timestamp::from_millis(1)), &black_box(ip(7))))
    });

    let mut busy = Limiter::new(config(u32::MAX));
    let mut t = 0u64;
    g.bench_function("one_busy_source", |b| {
        b.iter(|| {
            t += 1;
            busy.hit(Timestamp::from_micros(t), black_box(ip(7)))
        })
    });

    let mut many = Limiter::new(config(u32::MAX));
    let mut n = 0u32;
    g.bench_function("many_sources", |b| {
        b.iter(|| {
            n = (n + 1) % 50_000;
            many.hit(Timestamp::from_micros(u64::from(n)), black_box(ip(n)))
        })
    });
    let mut map_many: HashMap<IpAddr, u32> = HashMap::with_capacity(65_536);
    g.bench_function("baseline_hashmap_many_sources", |b| {
        b.iter(|| {
            n = (n + 1) % 50_000;
            *map_many.entry(black_box(ip(n))).or_default() += 1
        })
    });

    let mut spoofed = Limiter::new(config(u32::MAX));
    let mut s = 0u32;
    g.bench_function("spoofed", |b| {
        b.iter(|| {
            s = s.wrapping_add(1);
            spoofed.hit(Timestamp::from_micros(u64::from(s)), black_box(ip(s)))
        })
    });

    g.bench_function("peek", |b| {
        b.iter(|| pont_sip::peek::peek(black_box(INVITE)))
    });
    g.finish();
}

criterion_group!(benches, guard);
criterion_main!(benches);
