//! Loss recovery: the retransmission cache of a published video track (answers subscribers'
//! NACKs, RFC 4585 §6.2.1) and the NACK generator that asks the publisher for what the bridge
//! itself did not receive.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use pont_types::Timestamp;

/// The last packets of one track, indexed by extended input sequence number.
#[derive(Debug)]
pub(crate) struct RetransmitCache {
    slots: Vec<Option<(u64, u32, Bytes)>>,
}

impl RetransmitCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            slots: vec![None; capacity.max(1)],
        }
    }

    /// Stores a packet (its bytes as received) under its extended sequence number and epoch.
    pub(crate) fn insert(&mut self, seq: u64, epoch: u32, packet: Bytes) {
        let i = (seq % self.slots.len() as u64) as usize;
        self.slots[i] = Some((seq, epoch, packet));
    }

    pub(crate) fn get(&self, seq: u64, epoch: u32) -> Option<&Bytes> {
        let i = (seq % self.slots.len() as u64) as usize;
        match &self.slots[i] {
            Some((s, e, p)) if *s == seq && *e == epoch => Some(p),
            _ => None,
        }
    }
}

/// A packet the bridge is missing from a publisher.
#[derive(Debug, Clone, Copy)]
struct Missing {
    first_seen: Timestamp,
    next_at: Timestamp,
    tries: u8,
}

/// Tracks gaps in one track's sequence numbers and decides when to NACK them.
#[derive(Debug)]
pub(crate) struct NackGenerator {
    missing: BTreeMap<u64, Missing>,
}

/// A gap bigger than this is not worth NACKing packet by packet: ask for a keyframe instead.
const MAX_GAP: u64 = 256;
/// Most packets tracked at once (bounded memory whatever the input).
const MAX_MISSING: usize = 512;
/// NACK a packet at most this many times (libwebrtc uses 10).
const MAX_TRIES: u8 = 10;
/// Give up on a packet this long after noticing it missing: a video frame older than this is
/// useless to a real-time receiver.
const MAX_AGE: Duration = Duration::from_millis(1000);

/// What the generator wants after a timer or a packet.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct NackWork {
    /// Sequence numbers (extended) to NACK now.
    pub(crate) nack: Vec<u64>,
    /// Packets were given up on: the decoder downstream needs a keyframe.
    pub(crate) need_keyframe: bool,
}

impl NackGenerator {
    pub(crate) fn new() -> Self {
        Self {
            missing: BTreeMap::new(),
        }
    }

    /// A packet arrived. `prev_max` is the highest sequence number before it (None at start or
    /// after a restart). Returns true when the gap was too large and a keyframe is needed.
    pub(crate) fn on_packet(&mut self, now: Timestamp, seq: u64, prev_max: Option<u64>) -> bool {
        self.missing.remove(&seq);
        let Some(prev) = prev_max else {
            self.missing.clear();
            return false;
        };
        if seq <= prev + 1 {
            return false;
        }
        if seq - prev - 1 > MAX_GAP {
            self.missing.clear();
            return true;
        }
        for s in prev + 1..seq {
            self.missing.insert(
                s,
                Missing {
                    first_seen: now,
                    next_at: now,
                    tries: 0,
                },
            );
        }
        while self.missing.len() > MAX_MISSING {
            self.missing.pop_first();
        }
        false
    }

    /// The packets to NACK now (each re-asked every `retry` until it arrives, too many tries or
    /// too old).
    pub(crate) fn poll(&mut self, now: Timestamp, retry: Duration, work: &mut NackWork) {
        let mut gave_up = false;
        self.missing.retain(|&seq, m| {
            if m.tries >= MAX_TRIES || now.saturating_since(m.first_seen) > MAX_AGE {
                gave_up = true;
                return false;
            }
            if m.next_at <= now {
                m.tries += 1;
                m.next_at = now + retry;
                work.nack.push(seq);
            }
            true
        });
        work.need_keyframe |= gave_up;
    }

    pub(crate) fn next_timeout(&self) -> Option<Timestamp> {
        self.missing
            .values()
            .map(|m| m.next_at.min(m.first_seen + MAX_AGE))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_only_answers_what_it_holds() {
        let mut c = RetransmitCache::new(4);
        c.insert(10, 0, Bytes::from_static(b"a"));
        c.insert(14, 0, Bytes::from_static(b"b"));
        assert!(c.get(10, 0).is_none(), "evicted by 14");
        assert_eq!(c.get(14, 0).unwrap().as_ref(), b"b");
        assert!(c.get(14, 1).is_none(), "other epoch");
    }

    #[test]
    fn gaps_are_nacked_retried_and_given_up() {
        let mut g = NackGenerator::new();
        let t0 = Timestamp::ZERO;
        assert!(!g.on_packet(t0, 100, None));
        assert!(!g.on_packet(t0, 103, Some(100)));
        let mut w = NackWork::default();
        g.poll(t0, Duration::from_millis(50), &mut w);
        assert_eq!(w.nack, vec![101, 102]);
        // 102 arrives; 101 is asked again after the retry interval, not before.
        g.on_packet(t0, 102, Some(103));
        let mut w = NackWork::default();
        g.poll(
            t0 + Duration::from_millis(10),
            Duration::from_millis(50),
            &mut w,
        );
        assert!(w.nack.is_empty());
        g.poll(
            t0 + Duration::from_millis(50),
            Duration::from_millis(50),
            &mut w,
        );
        assert_eq!(w.nack, vec![101]);
        let mut w = NackWork::default();
        g.poll(
            t0 + Duration::from_secs(2),
            Duration::from_millis(50),
            &mut w,
        );
        assert!(w.need_keyframe);
        assert_eq!(g.next_timeout(), None);
    }

    #[test]
    fn huge_gap_asks_for_keyframe() {
        let mut g = NackGenerator::new();
        assert!(g.on_packet(Timestamp::ZERO, 10_000, Some(1)));
        assert_eq!(g.next_timeout(), None);
    }
}
