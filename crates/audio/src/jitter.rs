//! The jitter buffer of one inbound leg: packets in as they arrive, one 20 ms frame out per
//! mixer tick, always.
//!
//! ## How it adapts
//! Every packet's *transit* is its arrival time minus its media time (its 20 ms slot). Over a
//! window of recent packets, the smallest transit is the network's base delay and the spread
//! above it the jitter. The frame to play at time `T` is the one whose slot is
//! `(T − base − target) / 20 ms`, where `target` is the jitter plus a little headroom, clamped
//! to `[min_delay, max_delay]`. Each tick plays one slot; when the ideal slot moves (the jitter
//! grew or shrank) the buffer stretches (plays one concealment frame without advancing) or
//! skips one frame, one frame per tick, so it converges without a glitch train.
//!
//! ## Why it resets after a spike instead of drifting
//! A speex-style buffer feeds every packet into its delay estimate. After a delay spike (a
//! 300 ms stall, then the held-up packets all at once) the estimate is dominated by the spike,
//! the buffer grows to the spike's size and keeps the extra latency long after the network has
//! recovered, then shrinks by a frame now and then — latency that drifts with the worst thing
//! that happened lately. The rule here:
//! - a packet whose transit is more than `spike` away from the base (late *or* early) is a
//!   spike packet and is kept out of the estimate, and so is the burst tail that follows a
//!   spike, until a packet arrives within the pre-spike target again;
//! - if spike packets keep coming at the real-time pace (`reset_after` of them spread over at
//!   least half their play time — a route change or the sender restarting its clock, not a
//!   burst), the buffer *re-anchors*: the estimate restarts from those packets and playout jumps
//!   straight to the new ideal position, instead of stretching towards it frame by frame;
//! - a sequence number that continues while the timestamp jumps (a sender restart) re-anchors at
//!   once; a playout position more than `reset_frames` away from the ideal jumps there at once.
//!
//! So a transient spike costs the frames it delayed and nothing after, and a lasting change of
//! delay costs one gap, after which the latency is what the new path needs.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use pont_types::{AudioLevel, SeqNo, Timestamp, extend_u32};

const FRAME_US: i64 = 20_000;

/// Tuning of a [`JitterBuffer`]. The defaults suit 20 ms voice over the Internet.
#[derive(Debug, Clone)]
pub struct JitterConfig {
    /// RTP timestamp units per 20 ms frame: 160 for G.711 and G.722, 960 for Opus.
    pub frame_ticks: u32,
    /// Bytes per 20 ms frame for constant-rate codecs, so packets of 40, 60… ms are split into
    /// frames; `None` for Opus (one packet is one frame).
    pub frame_bytes: Option<usize>,
    /// Least playout delay above the base delay: 5 ms of headroom keeps a packet that arrives a
    /// hair after its usual moment from being late.
    pub min_delay_us: i64,
    /// Most playout delay: 200 ms, past which conversation suffers more from latency than from
    /// the loss of an occasional very late packet.
    pub max_delay_us: i64,
    /// Most frames held (1 s): memory per leg is bounded whatever a peer sends.
    pub capacity: usize,
    /// Packets in the delay estimate: 100 (2 s at 50 packets/s), long enough to see the
    /// jitter's extremes, short enough to follow a changing network.
    pub window: usize,
    /// A packet further than this from the base delay is a spike (120 ms, or three times the
    /// current target if larger).
    pub spike_us: i64,
    /// Spike packets at real-time pace before the buffer re-anchors: 5 (100 ms).
    pub reset_after: usize,
    /// A playout position this many frames from the ideal jumps instead of converging: 4.
    pub reset_frames: i64,
}

impl JitterConfig {
    pub fn new(frame_ticks: u32, frame_bytes: Option<usize>) -> Self {
        Self {
            frame_ticks,
            frame_bytes,
            min_delay_us: 5_000,
            max_delay_us: 200_000,
            capacity: 50,
            window: 100,
            spike_us: 120_000,
            reset_after: 5,
            reset_frames: 4,
        }
    }
}

/// Counters of one jitter buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets accepted into the buffer (each frame of a multi-frame packet counts).
    pub received: u64,
    /// Packets that came after their frame was played (or skipped).
    pub late: u64,
    /// Packets already in the buffer.
    pub duplicate: u64,
    /// Packets too far ahead of playout for the buffer's capacity.
    pub overflow: u64,
    /// Ticks that found no frame while the stream was running (concealed).
    pub lost: u64,
    /// Ticks that played concealment to grow the delay.
    pub stretched: u64,
    /// Frames dropped to shrink the delay.
    pub skipped: u64,
    /// Times the buffer re-anchored (spike persisted, timestamp jump, far from ideal).
    pub resets: u64,
    /// Packets kept out of the delay estimate as spikes (or the burst after one).
    pub spikes: u64,
}

/// What one tick takes out of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Popped {
    /// The frame for this tick.
    Frame {
        payload: Bytes,
        /// The RFC 6464 level the packet carried, if any.
        level: Option<AudioLevel>,
    },
    /// The frame is missing: conceal it. `next` is the following frame if it is already here
    /// (Opus in-band FEC decodes the lost frame from it).
    Lost { next: Option<Bytes> },
    /// Nothing has been received yet: play silence.
    Empty,
}

#[derive(Debug, Clone)]
struct Entry {
    payload: Bytes,
    level: Option<AudioLevel>,
}

/// A spike packet, kept aside in case the spike turns out to be a lasting change.
#[derive(Debug, Clone)]
struct SpikePacket {
    slot: i64,
    transit: i64,
    arrival: i64,
    entry: Entry,
}

/// An adaptive, bounded jitter buffer for one inbound leg (see the module docs for the rules).
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    config: JitterConfig,
    frames: BTreeMap<i64, Entry>,
    /// The slot the next tick plays; `None` until the first tick after the first packet.
    next: Option<i64>,
    /// Slot of the first packet: before it, the stream has not started.
    first_slot: Option<i64>,
    /// Extended timestamp that slot 0 corresponds to.
    ts_origin: Option<u64>,
    last_ts: Option<u64>,
    last_seq: Option<SeqNo>,
    /// Transits (µs) of recent non-spike packets.
    transits: VecDeque<i64>,
    base: i64,
    target: i64,
    /// Set after a spike packet; cleared by a packet within the pre-spike target.
    in_spike: bool,
    spike_run: Vec<SpikePacket>,
    stats: JitterStats,
}

impl JitterBuffer {
    pub fn new(config: JitterConfig) -> Self {
        let target = config.min_delay_us;
        Self {
            transits: VecDeque::with_capacity(config.window),
            config,
            frames: BTreeMap::new(),
            next: None,
            first_slot: None,
            ts_origin: None,
            last_ts: None,
            last_seq: None,
            base: 0,
            target,
            in_spike: false,
            spike_run: Vec::new(),
            stats: JitterStats::default(),
        }
    }

    pub fn stats(&self) -> &JitterStats {
        &self.stats
    }

    /// The current playout delay above the network's base delay.
    pub fn target_delay(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.target.max(0) as u64)
    }

    /// Frames waiting to be played.
    pub fn buffered(&self) -> usize {
        self.frames.len()
    }

    /// Takes in one RTP packet's payload, as it arrived at `now`.
    pub fn handle_packet(
        &mut self,
        now: Timestamp,
        seq: u16,
        timestamp: u32,
        payload: Bytes,
        level: Option<AudioLevel>,
    ) {
        let arrival = now.as_micros().min(i64::MAX as u64) as i64;
        let ext_ts = extend_u32(self.last_ts, timestamp);
        let ext_seq = SeqNo::extend(self.last_seq, seq);
        let origin = *self.ts_origin.get_or_insert(ext_ts);
        let ticks = self.config.frame_ticks.max(1) as i64;
        // Slot of this packet, rounded to the nearest frame.
        let rel = ext_ts as i64 - origin as i64;
        let mut slot = rel.div_euclid(ticks) + i64::from(rel.rem_euclid(ticks) * 2 >= ticks);

        // A sender restart: the sequence continues, the timestamp jumps by more than a second.
        if let (Some(ls), Some(lt)) = (self.last_seq, self.last_ts) {
            let ts_jump = (ext_ts as i64 - lt as i64).abs();
            if ext_seq.diff(ls) == 1 && ts_jump > 50 * ticks {
                self.ts_origin = Some(ext_ts);
                slot = 0;
                self.re_anchor(Vec::new());
                self.first_slot = None;
            }
        }
        if self.last_seq.is_none_or(|l| ext_seq > l) {
            self.last_seq = Some(ext_seq);
            self.last_ts = Some(ext_ts);
        }

        // Split constant-rate payloads of several frames.
        let frames = match self.config.frame_bytes {
            Some(b) if b > 0 && payload.len() > b && payload.len().is_multiple_of(b) => {
                payload.len() / b
            }
            _ => 1,
        };
        let transit = arrival.saturating_sub(slot.saturating_mul(FRAME_US));
        self.first_slot.get_or_insert(slot);
        if self.transits.is_empty() && self.spike_run.is_empty() {
            // The first packet (or the first after a re-anchor) defines the base.
            self.base = transit;
        }

        let deviation = transit - self.base;
        let spike_limit = self.config.spike_us.max(3 * self.target);
        let entry = |i: usize| Entry {
            payload: if frames == 1 {
                payload.clone()
            } else {
                let b = payload.len() / frames;
                payload.slice(i * b..(i + 1) * b)
            },
            level,
        };
        if deviation.abs() > spike_limit {
            self.stats.spikes += 1;
            self.in_spike = true;
            for i in 0..frames {
                self.spike_run.push(SpikePacket {
                    slot: slot + i as i64,
                    transit,
                    arrival,
                    entry: entry(i),
                });
            }
            let run = &self.spike_run;
            let span = run.last().map_or(0, |p| p.arrival) - run.first().map_or(0, |p| p.arrival);
            if run.len() >= self.config.reset_after && span >= (run.len() as i64 - 1) * FRAME_US / 2
            {
                let run = std::mem::take(&mut self.spike_run);
                self.re_anchor(run);
                return;
            }
            // Meanwhile, a spike packet still in time is played like any other.
            for i in 0..frames {
                self.insert(slot + i as i64, entry(i));
            }
            return;
        }
        self.spike_run.clear();
        if self.in_spike && deviation > self.target {
            // The burst after a spike: play it if it is in time, but do not learn from it.
            self.stats.spikes += 1;
        } else {
            self.in_spike = false;
            self.learn(transit);
        }
        for i in 0..frames {
            self.insert(slot + i as i64, entry(i));
        }
    }

    fn learn(&mut self, transit: i64) {
        if self.transits.len() >= self.config.window.max(1) {
            self.transits.pop_front();
        }
        self.transits.push_back(transit);
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for &t in &self.transits {
            lo = lo.min(t);
            hi = hi.max(t);
        }
        self.base = lo;
        self.target = (hi - lo + self.config.min_delay_us)
            .clamp(self.config.min_delay_us, self.config.max_delay_us);
    }

    /// Restarts the delay estimate from `run` (possibly empty) and lets the next tick jump.
    fn re_anchor(&mut self, run: Vec<SpikePacket>) {
        self.stats.resets += 1;
        self.transits.clear();
        self.in_spike = false;
        self.target = self.config.min_delay_us;
        self.frames.clear();
        self.next = None;
        if let Some(lo) = run.iter().map(|p| p.transit).min() {
            self.base = lo;
        }
        for p in run {
            self.learn(p.transit);
            self.insert_unchecked(p.slot, p.entry);
        }
        self.spike_run.clear();
    }

    fn insert(&mut self, slot: i64, entry: Entry) {
        if let Some(next) = self.next {
            if slot < next {
                self.stats.late += 1;
                return;
            }
            if slot - next >= self.config.capacity as i64 {
                self.stats.overflow += 1;
                return;
            }
        }
        self.insert_unchecked(slot, entry);
    }

    fn insert_unchecked(&mut self, slot: i64, entry: Entry) {
        if self.frames.contains_key(&slot) {
            self.stats.duplicate += 1;
            return;
        }
        if self.frames.len() >= self.config.capacity {
            // Bounded whatever happens: drop the newest (furthest from playout).
            self.stats.overflow += 1;
            if let Some((&last, _)) = self.frames.last_key_value() {
                if last > slot {
                    self.frames.remove(&last);
                } else {
                    return;
                }
            }
        }
        self.stats.received += 1;
        self.frames.insert(slot, entry);
    }

    /// The slot that should play at `now`.
    fn ideal(&self, now: i64) -> i64 {
        (now - self.base - self.target).div_euclid(FRAME_US)
    }

    /// The frame for the tick at `now`: always an answer, one per tick.
    pub fn pop(&mut self, now: Timestamp) -> Popped {
        let Some(first) = self.first_slot else {
            return Popped::Empty;
        };
        let now = now.as_micros().min(i64::MAX as u64) as i64;
        let ideal = self.ideal(now);
        let mut next = match self.next {
            Some(n) => n,
            None => ideal,
        };
        let diff = ideal - next;
        if diff.abs() > self.config.reset_frames {
            if self.next.is_some() {
                self.stats.resets += 1;
            }
            next = ideal;
        } else if diff >= 1 {
            // Too much delay: drop one frame.
            if self.frames.remove(&next).is_some() {
                self.stats.skipped += 1;
            }
            next += 1;
        } else if diff <= -1 && self.next.is_some() {
            // Too little delay: play concealment without advancing.
            self.stats.stretched += 1;
            return Popped::Lost {
                next: self.frames.get(&next).map(|e| e.payload.clone()),
            };
        }
        // Everything before `next` is history now.
        while let Some((&s, _)) = self.frames.first_key_value() {
            if s >= next {
                break;
            }
            self.frames.pop_first();
        }
        self.next = Some(next + 1);
        if next < first {
            return Popped::Empty;
        }
        match self.frames.remove(&next) {
            Some(e) => Popped::Frame {
                payload: e.payload,
                level: e.level,
            },
            None => {
                self.stats.lost += 1;
                Popped::Lost {
                    next: self.frames.get(&(next + 1)).map(|e| e.payload.clone()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn jb() -> JitterBuffer {
        JitterBuffer::new(JitterConfig::new(160, Some(160)))
    }

    fn payload(n: u32) -> Bytes {
        Bytes::from(n.to_be_bytes().repeat(40))
    }

    fn id(p: &Popped) -> Option<u32> {
        match p {
            Popped::Frame { payload, .. } => {
                Some(u32::from_be_bytes(payload[..4].try_into().unwrap()))
            }
            _ => None,
        }
    }

    /// Runs a sender of 20 ms packets through `delay(n)` (µs, or None for lost) and a 20 ms
    /// tick; returns what each tick played.
    fn run(
        jb: &mut JitterBuffer,
        packets: u32,
        mut delay: impl FnMut(u32) -> Option<i64>,
    ) -> Vec<Popped> {
        let mut arrivals: Vec<(i64, u32)> = (0..packets)
            .filter_map(|n| delay(n).map(|d| (n as i64 * FRAME_US + d, n)))
            .collect();
        arrivals.sort();
        let mut out = Vec::new();
        let mut a = 0;
        // Ticks at an odd phase (7 ms) against the sender.
        let end = packets as i64 * FRAME_US + 200_000;
        let mut t = 7_000;
        while t < end {
            while a < arrivals.len() && arrivals[a].0 <= t {
                let n = arrivals[a].1;
                jb.handle_packet(
                    Timestamp::from_micros(arrivals[a].0 as u64),
                    n as u16,
                    n.wrapping_mul(160).wrapping_add(12345),
                    payload(n),
                    None,
                );
                a += 1;
            }
            out.push(jb.pop(Timestamp::from_micros(t as u64)));
            t += FRAME_US;
        }
        out
    }

    #[test]
    fn steady_stream_plays_in_order_with_small_delay() {
        let mut b = jb();
        let out = run(&mut b, 200, |_| Some(30_000));
        let ids: Vec<u32> = out.iter().filter_map(id).collect();
        assert_eq!(ids, (0..200).collect::<Vec<_>>());
        // Nothing concealed while the stream ran (only after it ended).
        let running = &out[..out.len() - 12];
        assert!(!running.iter().any(|p| matches!(p, Popped::Lost { .. })));
        assert!(b.target_delay().as_millis() <= 10);
    }

    #[test]
    fn adapts_to_40ms_jitter_then_never_underruns() {
        let mut b = jb();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let out = run(&mut b, 1500, |_| Some(10_000 + rng.gen_range(0..40_000)));
        // After the first two seconds (one estimate window), every packet is played.
        let late_part = &out[150..out.len() - 30];
        let lost = late_part
            .iter()
            .filter(|p| matches!(p, Popped::Lost { .. }))
            .count();
        assert_eq!(lost, 0, "stats {:?}", b.stats());
        let ids: Vec<u32> = out.iter().filter_map(id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "played in order");
        let d = b.target_delay().as_millis();
        assert!((35..=60).contains(&d), "target {d} ms");
    }

    #[test]
    fn loss_is_reported_once_per_missing_frame() {
        let mut b = jb();
        let out = run(&mut b, 500, |n| (n % 10 != 3).then_some(20_000));
        let lost = out[..out.len() - 12]
            .iter()
            .filter(|p| matches!(p, Popped::Lost { .. }))
            .count();
        assert_eq!(lost, 50);
        // With enough delay in the buffer, the frame after a loss is offered for FEC.
        let mut b = jb();
        let out = run(&mut b, 500, |n| {
            (n % 10 != 3).then_some(20_000 + (n as i64 % 2) * 25_000)
        });
        assert!(
            out.iter()
                .any(|p| matches!(p, Popped::Lost { next: Some(_) }))
        );
    }

    #[test]
    fn a_delay_spike_does_not_leave_extra_latency() {
        let mut b = jb();
        // Steady 20 ms transit with ±5 ms jitter; packets 500..515 are held up to 300 ms and
        // then all arrive at once (a stall); afterwards the network is as before.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let stall_end = 515 * FRAME_US + 20_000;
        let out = run(&mut b, 1000, |n| {
            let normal = 20_000 + rng.gen_range(0..5_000);
            if (500..515).contains(&n) {
                Some(stall_end - n as i64 * FRAME_US)
            } else {
                Some(normal)
            }
        });
        assert!(b.stats().spikes >= 10, "{:?}", b.stats());
        // The target delay is the one of the ±5 ms network, not the spike's.
        assert!(b.target_delay().as_millis() <= 15, "{:?}", b.target_delay());
        // Everything after the spike is played, in order and without further loss.
        let after: Vec<u32> = out[560..out.len() - 30].iter().filter_map(id).collect();
        assert_eq!(after.len(), out.len() - 30 - 560);
        assert!(after.windows(2).all(|w| w[1] == w[0] + 1));
    }

    #[test]
    fn a_lasting_delay_step_re_anchors_instead_of_drifting() {
        let mut b = jb();
        // The path gets 300 ms slower at packet 500 and stays so.
        let out = run(&mut b, 1000, |n| {
            Some(if n < 500 { 20_000 } else { 320_000 })
        });
        assert_eq!(b.stats().resets, 1, "{:?}", b.stats());
        // After one gap, every frame plays again and the delay is back to the minimum.
        assert!(b.target_delay().as_millis() <= 10);
        let tail: Vec<u32> = out[560..out.len() - 30].iter().filter_map(id).collect();
        assert_eq!(tail.len(), out.len() - 30 - 560, "{:?}", b.stats());
        let total_lost = out[..out.len() - 30]
            .iter()
            .filter(|p| matches!(p, Popped::Lost { .. }))
            .count();
        assert!(total_lost <= 20, "lost {total_lost}");
    }

    #[test]
    fn timestamp_jump_with_continuous_sequence_restarts() {
        let mut b = jb();
        let t = |ms: u64| Timestamp::from_millis(ms);
        for n in 0..50u32 {
            b.handle_packet(t(n as u64 * 20 + 5), n as u16, n * 160, payload(n), None);
            b.pop(t(n as u64 * 20 + 10));
        }
        for n in 50..100u32 {
            let ts = 4_000_000_000u32.wrapping_add(n * 160);
            b.handle_packet(t(n as u64 * 20 + 5), n as u16, ts, payload(n), None);
        }
        let mut ids = Vec::new();
        for n in 50..100u64 {
            ids.extend(id(&b.pop(t(n * 20 + 10))));
        }
        assert!(b.stats().resets >= 1);
        assert!(ids.len() >= 40, "{ids:?}");
    }

    #[test]
    fn bounded_whatever_arrives() {
        let mut b = jb();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for i in 0..20_000u64 {
            b.handle_packet(
                Timestamp::from_micros(i * 1000),
                rng.r#gen(),
                rng.r#gen(),
                payload(i as u32),
                None,
            );
            assert!(b.buffered() <= 50);
            if i % 20 == 0 {
                b.pop(Timestamp::from_micros(i * 1000));
            }
        }
    }
}
