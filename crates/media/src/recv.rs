//! Receive side of one published track: sequence validation (RFC 3550 §A.1), duplicate
//! detection, reception statistics for our receiver reports (§A.3, §A.8).

use std::time::Duration;

use pont_types::{SeqNo, Timestamp, extend_u32};

use crate::rtcp::ReportBlock;

/// RFC 3550 §A.1: a forward jump larger than this is not believed until confirmed.
const MAX_DROPOUT: i64 = 3000;
/// A packet further behind the highest than this is too old. RFC 3550 uses 100; video
/// retransmissions answered after a few RTTs arrive further back than that at high bitrates,
/// and the duplicate window below covers this range.
const MAX_MISORDER: i64 = 1000;
/// Duplicate detection window (bits): must exceed `MAX_MISORDER`.
const DUP_WINDOW: u64 = 1024;
/// A timestamp this far behind the newest one, on a packet whose sequence number is ahead,
/// is a timeline that went backwards. Some slack for encoders that reorder.
const MAX_TS_BACKWARDS: u64 = 0;

/// What to do with a received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// In order (maybe after a gap): `restarted` when the source was re-synchronized and its
    /// numbering begins anew (forwarders start a new segment).
    New {
        seq: SeqNo,
        ts: u64,
        restarted: bool,
    },
    /// Out of order but within the window and not seen before.
    Late {
        seq: SeqNo,
        ts: u64,
    },
    Duplicate,
    /// Outside the believable range; dropped.
    OutOfRange,
}

#[derive(Debug)]
pub(crate) struct RecvState {
    clock_rate: u32,
    max_seq: Option<SeqNo>,
    max_ts: u64,
    /// Incremented at every re-synchronization.
    pub(crate) epoch: u32,
    /// RFC 3550 §A.1 `bad_seq`: the sequence number that would confirm a restart.
    bad_seq: Option<u16>,
    seen: [u64; (DUP_WINDOW / 64) as usize],
    base_seq: u64,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// RFC 3550 §A.8 interarrival jitter, in timestamp units, scaled by 16.
    jitter_q4: u64,
    last_transit: Option<i64>,
    /// From the publisher's last SR: middle 32 NTP bits, when we got it, and the full mapping.
    pub(crate) last_sr: Option<LastSr>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct LastSr {
    pub(crate) ntp: u64,
    pub(crate) rtp_time: u32,
    pub(crate) received_at: Timestamp,
}

impl RecvState {
    pub(crate) fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate,
            max_seq: None,
            max_ts: 0,
            epoch: 0,
            bad_seq: None,
            seen: [0; (DUP_WINDOW / 64) as usize],
            base_seq: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            jitter_q4: 0,
            last_transit: None,
            last_sr: None,
        }
    }

    pub(crate) fn max_seq(&self) -> Option<SeqNo> {
        self.max_seq
    }

    /// Classifies a packet and updates the state.
    pub(crate) fn receive(&mut self, now: Timestamp, seq: u16, ts: u32) -> Verdict {
        let Some(max) = self.max_seq else {
            self.restart(seq, ts);
            self.note_arrival(now, self.max_ts);
            return Verdict::New {
                seq: self.max_seq.unwrap_or_default(),
                ts: self.max_ts,
                restarted: false,
            };
        };
        let ext = SeqNo::extend(Some(max), seq);
        let ext_ts = extend_u32(Some(self.max_ts), ts);
        let delta = ext.diff(max);
        let ts_backwards = delta > 0 && ext_ts + MAX_TS_BACKWARDS < self.max_ts;
        if !(-MAX_MISORDER..=MAX_DROPOUT).contains(&delta) || ts_backwards {
            // RFC 3550 §A.1: believe a jump only when the next packet follows it.
            if self.bad_seq == Some(seq) {
                self.restart(seq, ts);
                self.epoch = self.epoch.wrapping_add(1);
                self.note_arrival(now, self.max_ts);
                return Verdict::New {
                    seq: self.max_seq.unwrap_or_default(),
                    ts: self.max_ts,
                    restarted: true,
                };
            }
            self.bad_seq = Some(seq.wrapping_add(1));
            return Verdict::OutOfRange;
        }
        self.bad_seq = None;
        if delta == 0 {
            return Verdict::Duplicate;
        }
        if delta > 0 {
            self.advance(max, ext);
            self.max_seq = Some(ext);
            self.max_ts = ext_ts;
            self.mark(ext);
            self.received += 1;
            self.note_arrival(now, ext_ts);
            Verdict::New {
                seq: ext,
                ts: ext_ts,
                restarted: false,
            }
        } else {
            if ext.0 < self.base_seq || self.is_marked(ext) {
                return Verdict::Duplicate;
            }
            self.mark(ext);
            self.received += 1;
            Verdict::Late {
                seq: ext,
                ts: ext_ts,
            }
        }
    }

    fn restart(&mut self, seq: u16, ts: u32) {
        let ext = SeqNo::extend(None, seq);
        self.max_seq = Some(ext);
        self.max_ts = extend_u32(None, ts);
        self.bad_seq = None;
        self.seen = [0; (DUP_WINDOW / 64) as usize];
        self.mark(ext);
        self.base_seq = ext.0;
        self.received = 1;
        self.expected_prior = 0;
        self.received_prior = 0;
        self.last_transit = None;
    }

    /// Clears the duplicate bits of the sequence numbers newly covered by the window.
    fn advance(&mut self, old_max: SeqNo, new_max: SeqNo) {
        let step = new_max.0 - old_max.0;
        if step >= DUP_WINDOW {
            self.seen = [0; (DUP_WINDOW / 64) as usize];
            return;
        }
        for s in old_max.0 + 1..=new_max.0 {
            let i = (s % DUP_WINDOW) as usize;
            self.seen[i / 64] &= !(1 << (i % 64));
        }
    }

    fn mark(&mut self, seq: SeqNo) {
        let i = (seq.0 % DUP_WINDOW) as usize;
        self.seen[i / 64] |= 1 << (i % 64);
    }

    fn is_marked(&self, seq: SeqNo) -> bool {
        let i = (seq.0 % DUP_WINDOW) as usize;
        self.seen[i / 64] & (1 << (i % 64)) != 0
    }

    /// RFC 3550 §A.8 jitter estimate from arrival time vs. RTP timestamp.
    fn note_arrival(&mut self, now: Timestamp, ext_ts: u64) {
        let arrival = (now.as_micros() as u128 * self.clock_rate as u128 / 1_000_000) as i64;
        let transit = arrival.wrapping_sub(ext_ts as i64);
        if let Some(last) = self.last_transit {
            let d = transit.wrapping_sub(last).unsigned_abs();
            // J += (|D| - J) / 16, kept scaled by 16.
            self.jitter_q4 = self.jitter_q4 + d.min(u32::MAX as u64) - (self.jitter_q4 + 8) / 16;
        }
        self.last_transit = Some(transit);
    }

    /// A reception report block for this source (RFC 3550 §6.4.1, §A.3), and resets the
    /// interval counters.
    pub(crate) fn report_block(
        &mut self,
        now: Timestamp,
        ssrc: pont_types::Ssrc,
    ) -> Option<ReportBlock> {
        let max = self.max_seq?;
        let expected = max.0 - self.base_seq + 1;
        let lost = expected as i64 - self.received as i64;
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some(sr) => {
                let delay = now.saturating_since(sr.received_at);
                (
                    ((sr.ntp >> 16) & 0xffff_ffff) as u32,
                    duration_to_q16(delay),
                )
            }
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc,
            fraction_lost,
            // 24-bit signed on the wire: clamp (RFC 3550 §6.4.1).
            cumulative_lost: lost.clamp(-0x80_0000, 0x7f_ffff) as i32,
            highest_seq: (max.0 - (1 << 16)) as u32,
            jitter: (self.jitter_q4 / 16).min(u32::MAX as u64) as u32,
            last_sr,
            delay_since_last_sr,
        })
    }

    /// Packets received (including late and restarted ones).
    #[cfg(test)]
    pub(crate) fn received(&self) -> u64 {
        self.received
    }
}

/// A duration in units of 1/65536 s, saturating (the DLSR field).
pub(crate) fn duration_to_q16(d: Duration) -> u32 {
    let v = d.as_micros() * 65_536 / 1_000_000;
    v.min(u32::MAX as u128) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn in_order_across_wraparound() {
        let mut r = RecvState::new(48_000);
        let mut last = None;
        for i in 0..10u32 {
            let seq = 65530u16.wrapping_add(i as u16);
            match r.receive(t(i as u64 * 20), seq, i * 960) {
                Verdict::New {
                    seq: s, restarted, ..
                } => {
                    assert!(!restarted);
                    if let Some(l) = last {
                        assert_eq!(SeqNo::diff(s, l), 1);
                    }
                    last = Some(s);
                }
                v => panic!("unexpected {v:?}"),
            }
        }
    }

    #[test]
    fn duplicates_and_late_packets() {
        let mut r = RecvState::new(90_000);
        assert!(matches!(r.receive(t(0), 10, 0), Verdict::New { .. }));
        assert!(matches!(r.receive(t(1), 12, 0), Verdict::New { .. }));
        assert_eq!(r.receive(t(2), 12, 0), Verdict::Duplicate);
        assert!(matches!(r.receive(t(3), 11, 0), Verdict::Late { .. }));
        assert_eq!(r.receive(t(4), 11, 0), Verdict::Duplicate);
        assert_eq!(r.received(), 3);
    }

    #[test]
    fn absurd_jump_is_dropped_until_confirmed() {
        let mut r = RecvState::new(48_000);
        r.receive(t(0), 100, 1000);
        r.receive(t(20), 101, 1960);
        assert_eq!(r.receive(t(40), 40_000, 2920), Verdict::OutOfRange);
        // The stream goes on where it was: the stray packet changed nothing.
        assert!(matches!(
            r.receive(t(40), 102, 2920),
            Verdict::New {
                restarted: false,
                ..
            }
        ));
        // A real restart: two sequential packets at the new place.
        assert_eq!(r.receive(t(60), 30_000, 50), Verdict::OutOfRange);
        assert!(matches!(
            r.receive(t(80), 30_001, 1010),
            Verdict::New {
                restarted: true,
                ..
            }
        ));
        assert_eq!(r.epoch, 1);
    }

    #[test]
    fn timestamp_going_backwards_is_dropped() {
        let mut r = RecvState::new(48_000);
        r.receive(t(0), 1, 100_000);
        assert_eq!(r.receive(t(20), 2, 50_000), Verdict::OutOfRange);
        assert!(matches!(
            r.receive(t(40), 3, 101_920),
            Verdict::New {
                restarted: false,
                ..
            }
        ));
    }

    #[test]
    fn loss_is_reported() {
        let mut r = RecvState::new(48_000);
        for i in 0..100u16 {
            if i % 10 != 5 {
                r.receive(t(i as u64 * 20), i, i as u32 * 960);
            }
        }
        let b = r.report_block(t(2000), pont_types::Ssrc(1)).unwrap();
        assert_eq!(b.cumulative_lost, 10);
        assert_eq!(b.fraction_lost, (10 * 256 / 100) as u8);
    }
}
