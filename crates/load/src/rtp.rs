//! The cheap receive path (`--receivers sampled`): what a subscriber needs from a datagram
//! without str0m — RFC 7983 demultiplexing, the plaintext RTP header of an SRTP packet
//! (RFC 3711 §3.1 leaves the header in the clear: version, payload type, sequence number,
//! timestamp, SSRC) — and the rule that decides which RTP packets still go through str0m
//! (SRTP authentication and decryption, the payload's send stamp for latency, and what keeps
//! str0m's receive side — its transport-wide feedback to the bridge — at the full-mode cadence).

use std::collections::HashMap;
use std::net::SocketAddr;

/// The shortest SRTP authentication tag of the profiles str0m negotiates (AES-CM-HMAC-SHA1-80:
/// 10 bytes; AEAD-AES-GCM: 16): a datagram shorter than header + this cannot be valid SRTP.
const MIN_SRTP_TAG: usize = 10;

/// What one received datagram is, by its first byte (RFC 7983 §7) and, for 128–191, its
/// second (RFC 5761 §4: RTCP packet types 192–223 are never RTP payload types 64–95).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Stun,
    Dtls,
    Rtp(RtpHead),
    Rtcp,
    /// Too short or malformed: str0m decides.
    Other,
}

/// The plaintext fields of one (S)RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RtpHead {
    pub(crate) payload_type: u8,
    pub(crate) marker: bool,
    pub(crate) seq: u16,
    pub(crate) timestamp: u32,
    pub(crate) ssrc: u32,
    /// Bytes of the fixed header, CSRCs and header extension.
    pub(crate) header_len: usize,
}

pub(crate) fn classify(d: &[u8]) -> Kind {
    match d.first() {
        Some(0..=3) => Kind::Stun,
        Some(20..=63) => Kind::Dtls,
        Some(128..=191) => match d.get(1) {
            Some(b) if (64..=95).contains(&(b & 0x7f)) => Kind::Rtcp,
            Some(_) => rtp_head(d).map_or(Kind::Other, Kind::Rtp),
            None => Kind::Other,
        },
        _ => Kind::Other,
    }
}

/// RFC 3550 §5.1 / §5.3.1: the fixed header, `CC` CSRCs, and with `X` the extension's
/// 4-byte profile/length word and `length` 32-bit words; then at least the SRTP tag.
pub(crate) fn rtp_head(d: &[u8]) -> Option<RtpHead> {
    if d.len() < 12 || d[0] >> 6 != 2 {
        return None;
    }
    let cc = usize::from(d[0] & 0x0f);
    let mut len = 12 + 4 * cc;
    if d[0] & 0x10 != 0 {
        let words = d.get(len + 2..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    if d.len() < len + MIN_SRTP_TAG {
        return None;
    }
    Some(RtpHead {
        payload_type: d[1] & 0x7f,
        marker: d[1] & 0x80 != 0,
        seq: u16::from_be_bytes([d[2], d[3]]),
        timestamp: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
        ssrc: u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
        header_len: len,
    })
}

/// Whether a datagram the client sends is RTCP (its receiver reports and feedback).
pub(crate) fn is_rtcp(d: &[u8]) -> bool {
    classify(d) == Kind::Rtcp
}

/// What to do with one received RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Hand it to str0m: SRTP-authenticated, decrypted, its stamp read.
    Feed,
    /// Count it from its header only.
    Count,
}

/// Decides, per received RTP packet, str0m or the header count.
///
/// A packet is counted from its header only when all of these hold, else str0m gets it:
/// - it came from the address str0m has already authenticated SRTP from, and str0m has
///   authenticated a packet of its SSRC (so a counted packet is of a stream the bridge really
///   sent encrypted to this client, from the bridge's address);
/// - its payload type is one this client never NACKs (`sampled_pts`: audio): a gap str0m sees
///   in a NACKable (video) stream would make it ask the bridge for retransmissions;
/// - the stream's last `every − 1` packets did not skip str0m (one in `every` is checked);
/// - str0m got some RTP less than `gap_us` ago, so its transport-wide feedback (sent every
///   50 ms while it has something unreported) leaves for the bridge as often as in full mode.
#[derive(Debug, Clone)]
pub(crate) struct Sampler {
    every: u32,
    gap_us: u64,
    sampled_pts: Vec<u8>,
    source: Option<SocketAddr>,
    last_fed_us: Option<u64>,
    streams: HashMap<u32, Stream>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Stream {
    verified: bool,
    skipped: u32,
}

impl Sampler {
    pub(crate) fn new(every: u32, gap_us: u64, sampled_pts: &[u8]) -> Self {
        Self {
            every: every.max(1),
            gap_us,
            sampled_pts: sampled_pts.to_vec(),
            source: None,
            last_fed_us: None,
            streams: HashMap::new(),
        }
    }

    pub(crate) fn decide(&mut self, from: SocketAddr, head: &RtpHead, now_us: u64) -> Verdict {
        let stream = self.streams.entry(head.ssrc).or_default();
        let count = self.source == Some(from)
            && stream.verified
            && self.sampled_pts.contains(&head.payload_type)
            && stream.skipped + 1 < self.every
            && self
                .last_fed_us
                .is_some_and(|t| now_us.saturating_sub(t) < self.gap_us);
        if count {
            stream.skipped += 1;
            Verdict::Count
        } else {
            stream.skipped = 0;
            self.last_fed_us = Some(now_us);
            Verdict::Feed
        }
    }

    /// str0m authenticated (and decrypted) a packet of `ssrc` that came from `from`.
    pub(crate) fn verified(&mut self, from: SocketAddr, ssrc: u32) {
        self.source = Some(from);
        self.streams.entry(ssrc).or_default().verified = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: usize) -> Vec<u8> {
        let mut p = vec![0x80, 0x80 | pt];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.resize(12 + payload, 0xee);
        p
    }

    #[test]
    fn the_plaintext_header_of_srtp_is_read_with_csrcs_and_extensions() {
        let p = packet(111, 0xfffe, 0x1234_5678, 0xdead_beef, 40);
        let Kind::Rtp(h) = classify(&p) else {
            panic!("not RTP: {:?}", classify(&p))
        };
        assert_eq!(
            h,
            RtpHead {
                payload_type: 111,
                marker: true,
                seq: 0xfffe,
                timestamp: 0x1234_5678,
                ssrc: 0xdead_beef,
                header_len: 12,
            }
        );

        // Two CSRCs and a one-byte-header extension (0xBEDE) of 2 words.
        let mut p = vec![0x80 | 0x10 | 2, 102, 0, 7, 0, 0, 0, 9, 0, 0, 0, 5];
        p.extend_from_slice(&[0; 8]); // CSRCs
        p.extend_from_slice(&[0xbe, 0xde, 0, 2]);
        p.extend_from_slice(&[0x11; 8]);
        p.extend_from_slice(&[0; 10 + 3]); // payload + tag
        let h = rtp_head(&p).expect("valid");
        assert_eq!((h.payload_type, h.marker, h.seq), (102, false, 7));
        assert_eq!((h.timestamp, h.ssrc, h.header_len), (9, 5, 12 + 8 + 4 + 8));
        // Cut inside the extension, or with no room for a tag: not counted from the header.
        assert_eq!(rtp_head(&p[..22]), None);
        assert_eq!(rtp_head(&p[..h.header_len + 9]), None);
        assert!(rtp_head(&p[..h.header_len + 10]).is_some());
    }

    #[test]
    fn datagrams_are_told_apart_as_rfc_7983_and_5761_say() {
        assert_eq!(classify(&[0x00, 0x01, 0, 0]), Kind::Stun);
        assert_eq!(classify(&[22, 0xfe, 0xfd]), Kind::Dtls);
        // Receiver report (201) and transport feedback (205): RTCP, never counted as media.
        let rr = [
            0x81, 201, 0, 7, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(classify(&rr), Kind::Rtcp);
        assert!(is_rtcp(&rr));
        assert!(is_rtcp(&[0x8f, 205, 0, 4]));
        assert!(!is_rtcp(&packet(111, 1, 1, 1, 20)));
        // Version 1, or too short for a header: str0m decides.
        let mut v1 = packet(111, 1, 1, 1, 20);
        v1[0] = 0x40;
        assert_eq!(rtp_head(&v1), None);
        assert_eq!(classify(&v1), Kind::Other);
        assert_eq!(classify(&packet(111, 1, 1, 1, 20)[..11]), Kind::Other);
        assert_eq!(classify(&[0xff, 0]), Kind::Other);
    }

    fn head(pt: u8, ssrc: u32) -> RtpHead {
        RtpHead {
            payload_type: pt,
            marker: false,
            seq: 0,
            timestamp: 0,
            ssrc,
            header_len: 12,
        }
    }

    #[test]
    fn nothing_skips_str0m_before_it_authenticated_the_stream_and_its_source() {
        let bridge: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        let other: SocketAddr = "127.0.0.1:40001".parse().expect("addr");
        let mut s = Sampler::new(4, 1_000_000, &[111]);
        for t in 0..5 {
            assert_eq!(s.decide(bridge, &head(111, 7), t), Verdict::Feed);
        }
        s.verified(bridge, 7);
        assert_eq!(s.decide(bridge, &head(111, 7), 10), Verdict::Count);
        // Another stream, another source, or a NACKable payload type: str0m.
        assert_eq!(s.decide(bridge, &head(111, 8), 11), Verdict::Feed);
        assert_eq!(s.decide(other, &head(111, 7), 12), Verdict::Feed);
        s.verified(bridge, 9);
        assert_eq!(s.decide(bridge, &head(102, 9), 13), Verdict::Feed);
    }

    #[test]
    fn one_packet_in_n_of_each_stream_and_one_per_gap_reach_str0m() {
        let bridge: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        let mut s = Sampler::new(4, 25_000, &[111]);
        s.verified(bridge, 1);
        s.verified(bridge, 2);
        // Packets 1 ms apart: only the 1-in-4 rule feeds, per stream.
        let mut fed = Vec::new();
        for i in 0..12u64 {
            let ssrc = 1 + (i % 2) as u32;
            if s.decide(bridge, &head(111, ssrc), 1000 * i) == Verdict::Feed {
                fed.push(i);
            }
        }
        // Packet 0 feeds (no RTP reached str0m yet); each stream then every 4th of its own.
        assert_eq!(fed, vec![0, 7, 8]);
        // A pause of ≥ 25 ms since str0m last got RTP: the next packet feeds whatever its count.
        // (Stream 1 has skipped 1 since it fed: its own count would not feed it yet.)
        assert_eq!(
            s.decide(bridge, &head(111, 1), 8_000 + 24_999),
            Verdict::Count
        );
        assert_eq!(
            s.decide(bridge, &head(111, 1), 8_000 + 25_000),
            Verdict::Feed
        );
        assert_eq!(
            s.decide(bridge, &head(111, 1), 8_000 + 25_001),
            Verdict::Count
        );
        // every = 1: everything goes to str0m (the full path by another name).
        let mut all = Sampler::new(1, u64::MAX, &[111]);
        all.verified(bridge, 1);
        assert_eq!(all.decide(bridge, &head(111, 1), 0), Verdict::Feed);
        assert_eq!(all.decide(bridge, &head(111, 1), 1), Verdict::Feed);
    }
}
