//! One outbound stream to one subscriber: its SSRC, and the rewrite that keeps its sequence
//! numbers and timestamps continuous while the source behind it restarts or changes.
//!
//! A *segment* is a run of packets from one source timeline (one track, one receive epoch)
//! forwarded with constant offsets: `out_seq = in_seq + seq_offset`, `out_ts = in_ts + ts_offset`.
//! Inside a segment, loss stays visible as a gap and late packets keep their place. A new
//! segment starts where the previous one ended: next sequence number, and the timestamp
//! advanced by the wall-clock time since the last packet.

use pont_types::{Pt, SeqNo, Ssrc, Timestamp};

use crate::core::{OutStream, TrackId};

/// Segments remembered for mapping NACKed sequence numbers back to their source.
const SEGMENT_HISTORY: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) track: TrackId,
    pub(crate) epoch: u32,
    /// First input sequence number of the segment: earlier ones belong to another timeline.
    pub(crate) first_in: u64,
    /// Last output sequence number used by this segment (inclusive).
    pub(crate) last_out: u64,
    pub(crate) seq_offset: u64,
    pub(crate) ts_offset: u64,
}

impl Segment {
    pub(crate) fn out_seq(&self, in_seq: u64) -> u64 {
        in_seq.wrapping_add(self.seq_offset)
    }

    pub(crate) fn out_ts(&self, in_ts: u64) -> u64 {
        in_ts.wrapping_add(self.ts_offset)
    }
}

/// The rewrite for one forwarded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rewrite {
    pub(crate) ssrc: Ssrc,
    pub(crate) seq: u16,
    pub(crate) ts: u32,
    pub(crate) pt: Pt,
}

#[derive(Debug)]
pub(crate) struct OutStreamState {
    pub(crate) to: pont_types::ParticipantId,
    pub(crate) info: OutStream,
    pub(crate) clock_rate: u32,
    /// The current segment, and a few before it for NACK mapping.
    pub(crate) segment: Option<Segment>,
    history: [Option<Segment>; SEGMENT_HISTORY],
    /// Next output sequence number (extended).
    next_seq: u64,
    /// Timestamp of the highest output sequence number sent, and when.
    last_ts: u64,
    last_sent_at: Option<Timestamp>,
    pub(crate) packets_sent: u64,
    pub(crate) octets_sent: u64,
    pub(crate) rtx_seq: u16,
    /// For RTT: the middle NTP bits of our last SR on this stream and when it was sent.
    pub(crate) last_sr: Option<(u32, Timestamp)>,
    /// Main window only: the source being switched to, waiting for its keyframe.
    pub(crate) pending: Option<TrackId>,
}

impl OutStreamState {
    pub(crate) fn new(
        to: pont_types::ParticipantId,
        info: OutStream,
        initial_seq: u16,
        initial_ts: u32,
    ) -> Self {
        Self {
            to,
            info,
            clock_rate: info.codec.clock_rate(),
            segment: None,
            history: [None; SEGMENT_HISTORY],
            // Start one cycle up so the extended arithmetic never goes below zero.
            next_seq: (1 << 16) | initial_seq as u64,
            last_ts: (1 << 32) | initial_ts as u64,
            last_sent_at: None,
            packets_sent: 0,
            octets_sent: 0,
            rtx_seq: initial_seq.wrapping_add(0x4000),
            last_sr: None,
            pending: None,
        }
    }

    /// The source currently forwarded, if any.
    pub(crate) fn current_track(&self) -> Option<TrackId> {
        self.segment.map(|s| s.track)
    }

    /// Ends the current segment: the next packet starts a new one (source switched or gone).
    pub(crate) fn end_segment(&mut self) {
        if let Some(seg) = self.segment.take() {
            self.history.rotate_right(1);
            self.history[0] = Some(seg);
        }
    }

    /// The rewrite for a packet of `track` (receive epoch `epoch`), or `None` when the packet
    /// belongs before the current segment (a late packet of an older timeline).
    pub(crate) fn rewrite(
        &mut self,
        now: Timestamp,
        track: TrackId,
        epoch: u32,
        in_seq: SeqNo,
        in_ts: u64,
        payload_len: usize,
    ) -> Option<Rewrite> {
        let current = self
            .segment
            .filter(|s| s.track == track && s.epoch == epoch);
        let mut seg = match current {
            Some(seg) => {
                if in_seq.0 < seg.first_in {
                    return None;
                }
                seg
            }
            None => {
                self.end_segment();
                let target_ts = match self.last_sent_at {
                    // Advance by the wall-clock gap, at least one tick so that the new
                    // segment's first packet is never taken for the same frame as the last.
                    Some(at) => {
                        let gap = now.saturating_since(at);
                        let ticks = (gap.as_micros() * self.clock_rate as u128 / 1_000_000) as u64;
                        self.last_ts + ticks.max(1)
                    }
                    None => self.last_ts,
                };
                Segment {
                    track,
                    epoch,
                    first_in: in_seq.0,
                    last_out: self.next_seq,
                    seq_offset: self.next_seq.wrapping_sub(in_seq.0),
                    ts_offset: target_ts.wrapping_sub(in_ts),
                }
            }
        };
        let out_seq = seg.out_seq(in_seq.0);
        let out_ts = seg.out_ts(in_ts);
        if out_seq >= self.next_seq {
            self.next_seq = out_seq + 1;
            self.last_ts = out_ts;
            self.last_sent_at = Some(now);
            seg.last_out = out_seq;
        }
        self.segment = Some(seg);
        self.packets_sent += 1;
        self.octets_sent += payload_len as u64;
        Some(Rewrite {
            ssrc: self.info.ssrc,
            seq: out_seq as u16,
            ts: out_ts as u32,
            pt: self.info.pt,
        })
    }

    /// Maps an output sequence number (as NACKed by the subscriber) back to its source packet:
    /// (track, epoch, input sequence number, segment) for the cache lookup.
    pub(crate) fn source_of(&self, out_seq: u16) -> Option<(Segment, u64)> {
        let ext = SeqNo::extend(Some(SeqNo(self.next_seq.saturating_sub(1))), out_seq).0;
        std::iter::once(self.segment)
            .chain(self.history.iter().copied())
            .flatten()
            .find(|s| ext >= s.seq_offset.wrapping_add(s.first_in) && ext <= s.last_out)
            .map(|s| (s, ext.wrapping_sub(s.seq_offset)))
    }

    /// The RTP time "now" on this stream: the last timestamp sent, advanced by the wall clock.
    pub(crate) fn rtp_time_at(&self, now: Timestamp) -> u32 {
        let ticks = match self.last_sent_at {
            Some(at) => {
                (now.saturating_since(at).as_micros() * self.clock_rate as u128 / 1_000_000) as u64
            }
            None => 0,
        };
        self.last_ts.wrapping_add(ticks) as u32
    }

    pub(crate) fn has_sent(&self) -> bool {
        self.last_sent_at.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;
    use crate::core::Source;
    use pont_types::ParticipantId;
    use std::time::Duration;

    fn stream() -> OutStreamState {
        OutStreamState::new(
            ParticipantId(1),
            OutStream {
                source: Source::MainWindow,
                kind: crate::codec::MediaKind::Audio,
                codec: Codec::Opus,
                ssrc: Ssrc(7),
                pt: Pt(111),
                rtx: None,
            },
            65500,
            1000,
        )
    }

    #[test]
    fn continuous_across_source_change() {
        let mut s = stream();
        let t0 = Timestamp::ZERO;
        let a = s
            .rewrite(t0, TrackId(1), 0, SeqNo(70_000), 5_000, 10)
            .unwrap();
        let b = s
            .rewrite(
                t0 + Duration::from_millis(20),
                TrackId(1),
                0,
                SeqNo(70_001),
                5_960,
                10,
            )
            .unwrap();
        assert_eq!(b.seq, a.seq.wrapping_add(1));
        assert_eq!(b.ts.wrapping_sub(a.ts), 960);
        // New source with unrelated numbering, 100 ms later.
        let c = s
            .rewrite(
                t0 + Duration::from_millis(120),
                TrackId(2),
                0,
                SeqNo(123_456),
                99,
                10,
            )
            .unwrap();
        assert_eq!(c.seq, b.seq.wrapping_add(1));
        assert_eq!(c.ts.wrapping_sub(b.ts), 4800);
        // Switching back to the first source starts a fresh segment, still continuous.
        let d = s
            .rewrite(
                t0 + Duration::from_millis(140),
                TrackId(1),
                0,
                SeqNo(70_010),
                14_600,
                10,
            )
            .unwrap();
        assert_eq!(d.seq, c.seq.wrapping_add(1));
        assert_eq!(d.ts.wrapping_sub(c.ts), 960);
    }

    #[test]
    fn gaps_stay_visible_and_map_back() {
        let mut s = stream();
        let t0 = Timestamp::ZERO;
        let a = s.rewrite(t0, TrackId(1), 0, SeqNo(70_000), 0, 10).unwrap();
        let c = s
            .rewrite(t0, TrackId(1), 0, SeqNo(70_002), 1920, 10)
            .unwrap();
        assert_eq!(c.seq, a.seq.wrapping_add(2));
        // Late packet fills the gap in place.
        let b = s
            .rewrite(t0, TrackId(1), 0, SeqNo(70_001), 960, 10)
            .unwrap();
        assert_eq!(b.seq, a.seq.wrapping_add(1));
        let (seg, in_seq) = s.source_of(b.seq).unwrap();
        assert_eq!(seg.track, TrackId(1));
        assert_eq!(in_seq, 70_001);
        assert!(s.source_of(a.seq.wrapping_add(1000)).is_none());
    }
}
