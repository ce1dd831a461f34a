//! RFC 4733 telephone-events (DTMF carried as RTP payloads, also known by its predecessor's
//! number, RFC 2833).

use std::time::Duration;

use pont_types::Timestamp;

use crate::Digit;

/// One telephone-event payload, RFC 4733 §2.3:
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     event     |E|R| volume    |          duration             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code; 0–15 are DTMF (§3.2), anything else is ignored by the receiver.
    pub event: u8,
    /// The E bit: this packet reports the end of the event (§2.5.1.4; sent three times).
    pub end: bool,
    /// Power level of the tone in -dBm0 (0–63); informational.
    pub volume: u8,
    /// Duration so far, in RTP timestamp units of the payload's clock (8 kHz usually).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first 4-byte event block; `None` when shorter. Longer payloads are accepted
    /// (some senders pad) and the extra bytes ignored. Never panics.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let b: &[u8; 4] = payload.get(..4)?.try_into().ok()?;
        Some(Self {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3f,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// The 4 bytes of this event (for tests and load tools).
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3f),
            d[0],
            d[1],
        ]
    }
}

/// After this long without a telephone-event packet, the next one starts a new event whatever
/// its RTP timestamp: the sender may have restarted its timestamps (new SSRC on re-INVITE).
/// One event's packets come every 50 ms or so (§2.5.1.2), so 1 s is a clear break.
const STALE_AFTER: Duration = Duration::from_secs(1);

/// A long key press is split into segments of at most 0xFFFF timestamp units, each with a new
/// RTP timestamp and no E bit on all but the last (§2.5.1.3). A new timestamp this close to the
/// end of a long, unfinished event of the same code is its continuation, not a new key press.
const SEGMENT_MIN_DURATION: u16 = 60_000;
const SEGMENT_SLACK: u32 = 1_600;

#[derive(Debug, Clone, Copy)]
struct Current {
    rtp_ts: u32,
    event: u8,
    ended: bool,
    duration: u16,
    last_seen: Timestamp,
}

/// Turns a stream of telephone-event packets into key presses: one per event, identified by
/// its RTP timestamp (§2.5.1.1), reported on its first packet (so a lost end packet does not
/// lose the digit), whatever number of updates and repeated end packets follow.
#[derive(Debug, Default)]
pub(crate) struct EventTracker {
    current: Option<Current>,
}

impl EventTracker {
    pub(crate) fn reset(&mut self) {
        self.current = None;
    }

    pub(crate) fn handle(
        &mut self,
        now: Timestamp,
        rtp_ts: u32,
        ev: TelephoneEvent,
    ) -> Option<Digit> {
        let digit = Digit::from_event(ev.event)?;
        if let Some(cur) = &mut self.current {
            let fresh = now.saturating_since(cur.last_seen) < STALE_AFTER;
            if fresh && cur.rtp_ts == rtp_ts {
                // An update or a repeated end packet of the event we already counted.
                cur.ended |= ev.end;
                cur.duration = cur.duration.max(ev.duration);
                cur.last_seen = now;
                return None;
            }
            // Serial-number comparison on the 32-bit RTP timestamp.
            let delta = rtp_ts.wrapping_sub(cur.rtp_ts);
            if fresh && delta > u32::MAX / 2 {
                // A late packet of an earlier event.
                return None;
            }
            let continuation = fresh
                && cur.event == ev.event
                && !cur.ended
                && cur.duration >= SEGMENT_MIN_DURATION
                && delta <= u32::from(cur.duration) + SEGMENT_SLACK;
            *cur = Current {
                rtp_ts,
                event: ev.event,
                ended: ev.end,
                duration: ev.duration,
                last_seen: now,
            };
            if continuation {
                return None;
            }
            return Some(digit);
        }
        self.current = Some(Current {
            rtp_ts,
            event: ev.event,
            ended: ev.end,
            duration: ev.duration,
            last_seen: now,
        });
        Some(digit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: u8, end: bool, duration: u16) -> TelephoneEvent {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
    }

    #[test]
    fn parse_and_write_back() {
        let e = TelephoneEvent::parse(&[5, 0x8a, 0x03, 0x20]).unwrap();
        assert_eq!(e, ev(5, true, 800));
        assert_eq!(e.to_bytes(), [5, 0x8a, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::parse(&[5, 0x8a, 0x03]), None);
        assert_eq!(TelephoneEvent::parse(&[]), None);
        // R bit set, extra bytes: still parsed, R ignored.
        let e = TelephoneEvent::parse(&[11, 0x40 | 7, 0, 160, 9, 9]).unwrap();
        assert_eq!(
            e,
            TelephoneEvent {
                volume: 7,
                ..ev(11, false, 160)
            }
        );
    }

    #[test]
    fn updates_and_three_end_packets_count_once() {
        let mut t = EventTracker::default();
        let mut now = Timestamp::from_millis(1000);
        let mut got = Vec::new();
        for (i, d) in [160u16, 320, 480, 640].iter().enumerate() {
            got.extend(t.handle(now, 4000, ev(1, false, *d)));
            now += Duration::from_millis(20);
            assert_eq!(got.len(), 1, "after update {i}");
        }
        for _ in 0..3 {
            got.extend(t.handle(now, 4000, ev(1, true, 800)));
        }
        // The same key again: a new timestamp.
        got.extend(t.handle(now + Duration::from_millis(200), 6000, ev(1, true, 800)));
        assert_eq!(got, vec![Digit::from_char('1').unwrap(); 2]);
    }

    #[test]
    fn late_packet_of_previous_event_is_ignored() {
        let mut t = EventTracker::default();
        let now = Timestamp::from_millis(10);
        assert!(t.handle(now, 8000, ev(2, false, 160)).is_some());
        assert!(t.handle(now, 9600, ev(3, false, 160)).is_some());
        assert_eq!(t.handle(now, 8000, ev(2, true, 800)), None);
    }

    #[test]
    fn restarted_timestamps_after_a_pause_count() {
        let mut t = EventTracker::default();
        let now = Timestamp::from_millis(10);
        assert!(t.handle(now, 1_000_000, ev(2, true, 800)).is_some());
        // A new SSRC with a smaller timestamp, two seconds later.
        let later = now + Duration::from_secs(2);
        assert!(t.handle(later, 5, ev(2, false, 160)).is_some());
    }

    #[test]
    fn long_press_segments_count_once() {
        let mut t = EventTracker::default();
        let now = Timestamp::from_millis(10);
        assert!(t.handle(now, 0, ev(5, false, 65_535)).is_some());
        assert_eq!(t.handle(now, 65_535, ev(5, false, 160)), None);
        assert_eq!(t.handle(now, 65_535, ev(5, true, 1_000)), None);
    }

    #[test]
    fn invalid_event_codes_are_ignored() {
        let mut t = EventTracker::default();
        let now = Timestamp::ZERO;
        for code in 16..=255u8 {
            assert_eq!(
                t.handle(now, u32::from(code) * 800, ev(code, true, 800)),
                None
            );
        }
    }
}
