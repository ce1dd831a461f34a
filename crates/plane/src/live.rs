//! A live stream's parts that need no sockets or clocks (issue 18): the room's audio for its
//! viewers as numbered RTP payloads, what a WHEP trickle fragment means, and the figures
//! `/metrics` shows. The viewers' legs and their I/O are driven from
//! `crates/server/src/media/live.rs`.

use pont_audio::{AudioError, OPUS_FRAME, OpusFramer};

/// The room's full mix for its viewers: 20 ms Opus packets at 48 kHz with their own RTP
/// sequence numbers and timestamps (the picture's come from the composer). One per room,
/// whatever the number of viewers.
#[derive(Debug)]
pub struct LiveAudio {
    framer: OpusFramer,
    seq: u16,
    timestamp: u32,
}

/// One packet of [`LiveAudio`].
#[derive(Debug)]
pub struct AudioPacket<'a> {
    pub seq: u16,
    pub timestamp: u32,
    pub payload: &'a [u8],
}

impl LiveAudio {
    /// Starting at sequence number `seq` and timestamp `timestamp` (random, RFC 3550 §5.1).
    pub fn new(seq: u16, timestamp: u32) -> Result<Self, AudioError> {
        Ok(Self {
            framer: OpusFramer::new()?,
            seq,
            timestamp,
        })
    }

    /// One frame of the mix at `rate` Hz; false (dropped) for a rate it cannot resample.
    pub fn push(&mut self, rate: u32, pcm: &[i16]) -> bool {
        self.framer.push(rate, pcm)
    }

    /// The next packet once 20 ms are buffered. A frame the encoder failed on is an error
    /// (and its timestamp is skipped, so the viewer's jitter buffer sees the gap); the next
    /// call goes on with the next frame.
    pub fn next_packet(&mut self) -> Option<Result<AudioPacket<'_>, AudioError>> {
        let (seq, timestamp) = (self.seq, self.timestamp);
        let encoded = self.framer.next_packet()?;
        self.timestamp = timestamp.wrapping_add(OPUS_FRAME as u32);
        Some(encoded.map(|payload| {
            self.seq = seq.wrapping_add(1);
            AudioPacket {
                seq,
                timestamp,
                payload,
            }
        }))
    }
}

/// The `a=ice-ufrag` of an SDP or SDP fragment.
pub fn ice_ufrag(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=ice-ufrag:"))
        .map(str::trim)
}

/// Whether a trickle ICE fragment (RFC 8840) restarts ICE: it names another ufrag than the
/// session's offer did.
pub fn is_ice_restart(fragment: &str, offered_ufrag: Option<&str>) -> bool {
    matches!((ice_ufrag(fragment), offered_ufrag), (Some(new), Some(old)) if new != old)
}

/// Live-streaming figures for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// Viewers with a leg now (connecting or connected).
    pub viewers: usize,
    /// Rooms streaming live now.
    pub live_rooms: usize,
    /// Offers answered.
    pub answered: u64,
    /// Offers refused: the room is not live, it is full, the offer is unusable.
    pub not_live: u64,
    pub full: u64,
    pub bad_offer: u64,
    /// Sessions whose ICE and DTLS came up; and those that ended before they did (given up
    /// after the connect timeout, or ICE failed).
    pub connected: u64,
    pub abandoned: u64,
}

impl LiveStats {
    /// Adds another shard's figures to these.
    pub fn absorb(&mut self, other: &Self) {
        self.viewers += other.viewers;
        self.live_rooms += other.live_rooms;
        self.answered += other.answered;
        self.not_live += other.not_live;
        self.full += other.full;
        self.bad_offer += other.bad_offer;
        self.connected += other.connected;
        self.abandoned += other.abandoned;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ice_ufrag_of_an_offer_or_a_fragment() {
        let offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:abcd\r\na=ice-pwd:x\r\n";
        assert_eq!(ice_ufrag(offer), Some("abcd"));
        let frag = "a=ice-ufrag:EsAw\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\nm=audio 9 RTP/AVP 0\na=mid:0\na=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host\n";
        assert_eq!(ice_ufrag(frag), Some("EsAw"));
        assert_eq!(
            ice_ufrag("a=candidate:1 1 udp 1 192.0.2.1 1 typ host"),
            None
        );
        assert!(!is_ice_restart(frag, Some("EsAw")));
        assert!(is_ice_restart(frag, Some("other")));
        // Candidates alone, or an offer without a ufrag: not a restart.
        assert!(!is_ice_restart(
            "a=candidate:1 1 udp 1 192.0.2.1 1 typ host",
            Some("EsAw")
        ));
        assert!(!is_ice_restart(frag, None));
    }

    #[test]
    fn the_mix_becomes_numbered_20_ms_packets() {
        let mut a = LiveAudio::new(65_535, u32::MAX - 100).expect("an encoder");
        assert!(a.push(16_000, &[500; 320]));
        let p = a.next_packet().expect("20 ms").expect("encoded");
        assert_eq!((p.seq, p.timestamp), (65_535, u32::MAX - 100));
        assert!(!p.payload.is_empty());
        assert!(a.next_packet().is_none());
        assert!(a.push(48_000, &[0; 960]));
        let p = a.next_packet().expect("20 ms").expect("encoded");
        // Both wrap: the next packet is 960 ticks (20 ms at 48 kHz) later.
        assert_eq!(
            (p.seq, p.timestamp),
            (0, (u32::MAX - 100).wrapping_add(960))
        );
        assert!(!a.push(44_100, &[0; 882]));
    }
}
