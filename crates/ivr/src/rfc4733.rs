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

/// A press of the same key replayed with the same RTP timestamp (a tool replaying one capture
/// per key, as sipp's `play_pcap_audio` does) is told from a late packet of the press before by
/// this much quiet after that press ended: a reordered packet arrives within a packet time or
/// two, a second press of a key comes after a pause (Q.24: at least 40 ms, humans ~100 ms).
const REPEAT_AFTER: Duration = Duration::from_millis(80);

/// Events remembered after they were superseded, so that their late packets are recognised
/// whatever their timestamps (which need not follow the order of the keys: see below).
const PREVIOUS: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Current {
    rtp_ts: u32,
    event: u8,
    /// When the first end packet (E bit) of this event arrived.
    ended_at: Option<Timestamp>,
    duration: u16,
    last_seen: Timestamp,
}

impl Current {
    fn is(&self, rtp_ts: u32, event: u8) -> bool {
        self.rtp_ts == rtp_ts && self.event == event
    }

    /// Whether `ev`, a packet with this event's timestamp and code, is the same key pressed
    /// again: its first packets once more (no E bit, a shorter duration), a pause after this
    /// event ended. Anything else is an update or a repeated end packet of this one.
    fn replayed_by(&self, now: Timestamp, ev: TelephoneEvent) -> bool {
        self.ended_at.is_some_and(|at| {
            !ev.end && ev.duration < self.duration && now.saturating_since(at) >= REPEAT_AFTER
        })
    }
}

/// Turns a stream of telephone-event packets into key presses: one per event, identified by
/// its RTP timestamp and event code (§2.5.1.1), reported on its first packet (so a lost end
/// packet does not lose the digit), whatever number of updates and repeated end packets follow.
///
/// Timestamps are not trusted to grow from one key to the next: a sender that replays one
/// recorded event per key (sipp's RFC 2833 pcaps, a gateway splicing prompts) sends each key
/// with the timestamps and sequence numbers of its recording. So a packet with a timestamp or
/// an event code not seen lately is a new key even when its timestamp goes back; only a packet
/// of an event seen in the last second (the current one or one of the [`PREVIOUS`]) is a late
/// or repeated packet of that event.
#[derive(Debug, Default)]
pub(crate) struct EventTracker {
    current: Option<Current>,
    /// The events before the current one, newest last.
    previous: Vec<Current>,
}

impl EventTracker {
    pub(crate) fn reset(&mut self) {
        self.current = None;
        self.previous.clear();
    }

    pub(crate) fn handle(
        &mut self,
        now: Timestamp,
        rtp_ts: u32,
        ev: TelephoneEvent,
    ) -> Option<Digit> {
        let digit = Digit::from_event(ev.event)?;
        let new = Current {
            rtp_ts,
            event: ev.event,
            ended_at: ev.end.then_some(now),
            duration: ev.duration,
            last_seen: now,
        };
        let Some(cur) = &mut self.current else {
            self.current = Some(new);
            return Some(digit);
        };
        let fresh = now.saturating_since(cur.last_seen) < STALE_AFTER;
        if !fresh {
            // A clear break: whatever came before is over.
            self.previous.clear();
        }
        if fresh && cur.is(rtp_ts, ev.event) {
            if !cur.replayed_by(now, ev) {
                if ev.end && cur.ended_at.is_none() {
                    cur.ended_at = Some(now);
                }
                cur.duration = cur.duration.max(ev.duration);
                cur.last_seen = now;
                return None;
            }
        } else if fresh
            && self
                .previous
                .iter()
                .any(|p| p.is(rtp_ts, ev.event) && !p.replayed_by(now, ev))
        {
            // A late packet of an earlier event.
            return None;
        }
        // RFC 4733 §2.5.1.3: a long press goes on as segments with new timestamps.
        let delta = rtp_ts.wrapping_sub(cur.rtp_ts);
        let continuation = fresh
            && cur.event == ev.event
            && cur.ended_at.is_none()
            && cur.duration >= SEGMENT_MIN_DURATION
            && delta > 0
            && delta <= u32::from(cur.duration) + SEGMENT_SLACK;
        if self.previous.len() == PREVIOUS {
            self.previous.remove(0);
        }
        self.previous.push(*cur);
        *cur = new;
        (!continuation).then_some(digit)
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

    /// The packets of one key as sipp's `dtmf_2833_<key>.pcap` has them: 10 packets at the
    /// capture's timestamp, durations 0..2240, the last three with the E bit.
    fn pcap_key(t: &mut EventTracker, at: Timestamp, rtp_ts: u32, event: u8) -> Vec<Digit> {
        let durations = [0u16, 320, 640, 960, 1280, 1600, 1920, 2240, 2240, 2240];
        durations
            .iter()
            .enumerate()
            .filter_map(|(i, &d)| {
                let now = at + Duration::from_millis(20 * i as u64);
                t.handle(now, rtp_ts, ev(event, i >= 7, d))
            })
            .collect()
    }

    #[test]
    fn replayed_captures_are_keys_in_any_order_of_their_timestamps() {
        // sipp's captures: '1' at 13280, '5' at 43200, '9' at 67840, '#' at 92640. Keyed
        // 400 ms apart as 9, 5, 1, 1, 9, # — timestamps going back, and the same key twice
        // with the same timestamp.
        let ts = |k: u8| match k {
            1 => 13_280,
            5 => 43_200,
            9 => 67_840,
            _ => 92_640,
        };
        let mut t = EventTracker::default();
        let mut got = Vec::new();
        let mut at = Timestamp::from_millis(1_000);
        for key in [9u8, 5, 1, 1, 9, 11] {
            got.extend(pcap_key(&mut t, at, ts(key), key));
            at += Duration::from_millis(400);
        }
        let keyed: String = got.iter().map(|d| d.as_char()).collect();
        assert_eq!(keyed, "95119#");
    }

    #[test]
    fn a_reordered_packet_after_the_end_is_not_a_second_press() {
        let mut t = EventTracker::default();
        let now = Timestamp::from_millis(10);
        assert!(t.handle(now, 800, ev(4, false, 160)).is_some());
        let end = now + Duration::from_millis(60);
        assert_eq!(t.handle(end, 800, ev(4, true, 800)), None);
        // An update overtaken by the end packet: same event, shorter, just after the end.
        let late = end + Duration::from_millis(10);
        assert_eq!(t.handle(late, 800, ev(4, false, 480)), None);
        // A different code with the same timestamp is another key.
        assert!(t.handle(late, 800, ev(6, false, 160)).is_some());
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
