//! Callers in the IVR: how many fit on one core. Each iteration is one 20 ms tick for
//! `CALLERS` callers: each caller's uplink frame (160 samples of 8 kHz PCM) goes through the
//! in-band Goertzel detector and the flow (`handle_pcm`), due timers run, events are drained
//! (the "application" answers every room lookup at once), and the prompt frame due now is
//! pulled (`poll_frame`, µ-law prompt decoded to PCM). The callers key "1234#" as in-band
//! tones over noise, in a loop; every lookup is answered "no such room" and the limits are
//! lifted, so they stay in the IVR for ever — prompts, barge-in, digits, lookups — which is the
//! busy case. The baseline copies the same uplink frame and a 160-sample downlink frame per
//! caller: the least a media path does with the PCM.
//!
//! Run: `cargo bench -p pont-benches --bench ivr`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pont_ivr::{
    Digit, FRAME_SAMPLES, InbandDetector, IvrCall, IvrConfig, IvrEvent, dtmf_frequencies,
};
use pont_types::Timestamp;

const CALLERS: usize = 100;
const TICK: Duration = Duration::from_millis(20);

/// 7 seconds of a phone's uplink: noise, then "1234#" as 80 ms tones with 120 ms pauses.
fn uplink_loop(seed: u32) -> Vec<i16> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    let mut noise = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x % 200) as i16 - 100
    };
    let mut pcm: Vec<i16> = (0..8000 * 6).map(|_| noise()).collect();
    for c in "1234#".chars() {
        let (fr, fc) = dtmf_frequencies(Digit::from_char(c).unwrap()).unwrap();
        for n in 0..640 {
            let t = n as f32 / 8000.0;
            let v = 5000.0
                * ((2.0 * std::f32::consts::PI * fr * t).sin()
                    + (2.0 * std::f32::consts::PI * fc * t).sin());
            pcm.push(v as i16 + noise());
        }
        pcm.extend((0..960).map(|_| noise()));
    }
    pcm.truncate(pcm.len() / FRAME_SAMPLES * FRAME_SAMPLES);
    pcm
}

struct Caller {
    call: IvrCall,
    uplink: Vec<i16>,
    pos: usize,
    down: [i16; FRAME_SAMPLES],
}

struct Bridge {
    callers: Vec<Caller>,
    now: Timestamp,
    detectors: Vec<InbandDetector>,
}

fn setup() -> Bridge {
    let now = Timestamp::from_millis(1);
    let config = IvrConfig {
        max_attempts: u32::MAX,
        max_timeouts: u32::MAX,
        max_ivr_time: Duration::from_secs(1 << 30),
        ..IvrConfig::default()
    };
    let callers = (0..CALLERS)
        .map(|i| {
            let uplink = uplink_loop(i as u32 + 1);
            // Start each caller somewhere else in the 6 s of noise (300 frames) of its loop.
            let pos = (i * 7919 % 300) * FRAME_SAMPLES;
            Caller {
                call: IvrCall::new(now, config.clone()),
                uplink,
                pos,
                down: [0; FRAME_SAMPLES],
            }
        })
        .collect();
    Bridge {
        callers,
        now,
        detectors: vec![InbandDetector::new(); CALLERS],
    }
}

fn next_frame(c: &mut Caller) -> &[i16] {
    let f = &c.uplink[c.pos..c.pos + FRAME_SAMPLES];
    c.pos = (c.pos + FRAME_SAMPLES) % c.uplink.len();
    f
}

/// One tick of the whole IVR for every caller; returns the events seen.
fn tick_ivr(b: &mut Bridge) -> usize {
    b.now += TICK;
    let now = b.now;
    let mut events = 0;
    for c in &mut b.callers {
        let pos = c.pos;
        c.pos = (c.pos + FRAME_SAMPLES) % c.uplink.len();
        c.call.handle_pcm(now, &c.uplink[pos..pos + FRAME_SAMPLES]);
        if c.call.poll_timeout().is_some_and(|t| t <= now) {
            c.call.handle_timeout(now);
        }
        while let Some(ev) = c.call.poll_event() {
            events += 1;
            if let IvrEvent::LookupRoom(_) = ev {
                c.call.room_info(now, None);
            }
        }
        match c.call.poll_frame(now) {
            Some(f) => c.down.copy_from_slice(f),
            None => c.down.fill(0),
        }
        black_box(&c.down);
    }
    events
}

/// The in-band detector alone on the same frames.
fn tick_detector(b: &mut Bridge) -> usize {
    let mut digits = 0;
    for (c, det) in b.callers.iter_mut().zip(&mut b.detectors) {
        let f = next_frame(c);
        det.process(f, |_| digits += 1);
    }
    digits
}

/// The least a media path does: copy each caller's frame in and a frame out.
fn tick_baseline(b: &mut Bridge) -> usize {
    let mut n = 0;
    for c in &mut b.callers {
        let pos = c.pos;
        c.pos = (c.pos + FRAME_SAMPLES) % c.uplink.len();
        let mut up = [0i16; FRAME_SAMPLES];
        up.copy_from_slice(black_box(&c.uplink[pos..pos + FRAME_SAMPLES]));
        black_box(&up);
        c.down.copy_from_slice(black_box(&up));
        black_box(&c.down);
        n += 1;
    }
    n
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ivr_100_callers_per_20ms");
    g.throughput(Throughput::Elements(CALLERS as u64));
    let mut base = setup();
    assert_eq!(tick_baseline(&mut base), CALLERS);
    g.bench_function("baseline_copy", |b| b.iter(|| tick_baseline(&mut base)));

    let mut det = setup();
    let loop_ticks = det.callers[0].uplink.len() / FRAME_SAMPLES;
    let digits: usize = (0..loop_ticks).map(|_| tick_detector(&mut det)).sum();
    // One loop: every caller keyed its 5 keys once.
    assert_eq!(digits, 5 * CALLERS, "the detector hears every key");
    g.bench_function("goertzel_only", |b| b.iter(|| tick_detector(&mut det)));

    let mut ivr = setup();
    // Warm up 30 s: every caller has keyed, been looked up and re-prompted several times.
    let events: usize = (0..1500).map(|_| tick_ivr(&mut ivr)).sum();
    assert!(events > 3 * CALLERS, "the flow is busy ({events} events)");
    let lookups = ivr
        .callers
        .iter()
        .map(|c| c.call.dtmf_stats().accepted)
        .sum::<u64>();
    assert!(
        lookups >= 10 * CALLERS as u64,
        "keys were heard ({lookups})"
    );
    g.bench_function("ivr_call", |b| b.iter(|| tick_ivr(&mut ivr)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
