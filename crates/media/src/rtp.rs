//! Zero-copy RTP header view (RFC 3550 §5.1, header extensions RFC 8285) and in-place rewrite.
//!
//! Network input: every function here must return an error, never panic, on any byte string.

use pont_types::{AudioLevel, Pt, Ssrc};

/// Why a datagram is not a usable RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the fixed header, its CSRC list or its extension.
    #[error("packet too short")]
    TooShort,
    /// Version field is not 2.
    #[error("RTP version is not 2")]
    BadVersion,
    /// The padding count is zero or runs past the header.
    #[error("bad padding")]
    BadPadding,
}

/// A parsed view over an RTP packet's bytes.
#[derive(Debug, Clone, Copy)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    pub marker: bool,
    pub pt: Pt,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: Ssrc,
    /// Length of the fixed header, CSRCs and extension block: the payload starts here.
    pub header_len: usize,
    /// End of the payload (start of any padding).
    payload_end: usize,
    /// The extension block's profile (0xBEDE one-byte, 0x100x two-byte) and its data range.
    ext: Option<(u16, usize, usize)>,
}

impl<'a> RtpPacket<'a> {
    /// Parses the header. Checks version 2, CSRC count, extension length and padding.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        // RFC 3550 §5.1: 12 fixed bytes, then CC CSRCs of 4 bytes each.
        if buf.len() < FIXED_HEADER_LEN {
            return Err(RtpError::TooShort);
        }
        if buf[0] >> 6 != 2 {
            return Err(RtpError::BadVersion);
        }
        let has_padding = buf[0] & 0x20 != 0;
        let has_extension = buf[0] & 0x10 != 0;
        let csrc_count = usize::from(buf[0] & 0x0f);
        let mut header_len = FIXED_HEADER_LEN + 4 * csrc_count;
        if buf.len() < header_len {
            return Err(RtpError::TooShort);
        }

        // RFC 3550 §5.3.1: a 16-bit profile, a 16-bit length in 32-bit words (not counting this
        // 4-byte preamble), then the extension data.
        let ext = if has_extension {
            let preamble = buf
                .get(header_len..header_len + 4)
                .ok_or(RtpError::TooShort)?;
            let profile = be16(preamble[0], preamble[1]);
            let data_len = 4 * usize::from(be16(preamble[2], preamble[3]));
            let start = header_len + 4;
            let end = start + data_len;
            if buf.len() < end {
                return Err(RtpError::TooShort);
            }
            header_len = end;
            Some((profile, start, end))
        } else {
            None
        };

        // RFC 3550 §5.1: with P set, the last octet counts the padding octets, itself included,
        // so it is at least 1; it may not reach into the header.
        let payload_end = if has_padding {
            let pad = match buf.last() {
                Some(&pad) if buf.len() > header_len => usize::from(pad),
                _ => return Err(RtpError::BadPadding),
            };
            if pad == 0 || pad > buf.len() - header_len {
                return Err(RtpError::BadPadding);
            }
            buf.len() - pad
        } else {
            buf.len()
        };

        Ok(Self {
            buf,
            marker: buf[1] & 0x80 != 0,
            pt: Pt(buf[1] & 0x7f),
            seq: be16(buf[2], buf[3]),
            timestamp: be32(&buf[4..8]),
            ssrc: Ssrc(be32(&buf[8..12])),
            header_len,
            payload_end,
            ext,
        })
    }

    /// The whole packet.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The payload, without padding.
    pub fn payload(&self) -> &'a [u8] {
        // `header_len` is a public field: stay total even if a caller changed it.
        self.buf
            .get(self.header_len..self.payload_end)
            .unwrap_or(&[])
    }

    /// The data of header extension element `id` (RFC 8285 one-byte or two-byte form).
    ///
    /// `None` if there is no such element, the extension block uses another profile, or the
    /// block is malformed before the element is reached.
    pub fn extension(&self, id: u8) -> Option<&'a [u8]> {
        let (profile, start, end) = self.ext?;
        // `parse` checked start..end against the buffer.
        let data = self.buf.get(start..end)?;
        if profile == ONE_BYTE_PROFILE {
            find_one_byte(data, id)
        } else if profile & 0xfff0 == TWO_BYTE_PROFILE {
            // RFC 8285 §4.3: 0x100 followed by 4 "appbits" the application may use.
            find_two_byte(data, id)
        } else {
            None
        }
    }

    /// The RFC 6464 client-to-mixer audio level carried in extension `id`: the voice-activity
    /// flag and the level.
    ///
    /// RFC 6464 §3: one byte, the V flag in the top bit and the level in -dBov in the low 7.
    /// `None` if the element is missing or empty.
    pub fn audio_level(&self, id: u8) -> Option<(bool, AudioLevel)> {
        let &byte = self.extension(id)?.first()?;
        Some((byte & 0x80 != 0, AudioLevel::from_neg_dbov(byte & 0x7f)))
    }
}

/// RFC 5761 §4 demultiplexing: a datagram whose second byte is 192..=223 (RTCP packet types
/// 64..=95 seen as RTP marker+PT) is RTCP.
///
/// The rule used here is: at least the 4 bytes of an RTCP common header (RFC 3550 §6.4), the
/// version field 2, and the second byte in 192..=223. Anything else goes the RTP way, where
/// [`RtpPacket::parse`] rejects what is too short or of another version, so no datagram is
/// half-classified.
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 4 && buf[0] >> 6 == 2 && (192..=223).contains(&buf[1])
}

/// Rewrites SSRC, sequence number, timestamp and payload type of the RTP packet in `buf`,
/// keeping the marker bit. `buf` must hold a packet that [`RtpPacket::parse`] accepted.
///
/// A buffer shorter than the fixed header is left untouched rather than panicking.
pub fn rewrite_header(buf: &mut [u8], ssrc: Ssrc, seq: u16, timestamp: u32, pt: Pt) {
    let Some(header) = buf.get_mut(..FIXED_HEADER_LEN) else {
        return;
    };
    header[1] = (header[1] & 0x80) | (pt.0 & 0x7f);
    header[2..4].copy_from_slice(&seq.to_be_bytes());
    header[4..8].copy_from_slice(&timestamp.to_be_bytes());
    header[8..12].copy_from_slice(&ssrc.0.to_be_bytes());
}

/// Writes into `out` (cleared first) an RFC 4588 retransmission of the RTP packet `original`:
/// the same header with `rtx_ssrc`, `rtx_seq` and `rtx_pt`, then the original sequence number
/// (2 bytes, the OSN) and the original payload. Padding is dropped.
pub fn write_rtx(
    original: &RtpPacket<'_>,
    rtx_ssrc: Ssrc,
    rtx_seq: u16,
    rtx_pt: Pt,
    out: &mut Vec<u8>,
) {
    // RFC 4588 §4: the RTX packet keeps the original's timestamp, marker, CSRCs and header
    // extensions; its payload is the 2-byte OSN followed by the original payload.
    out.clear();
    let payload = original.payload();
    out.reserve(original.header_len + 2 + payload.len());
    out.extend_from_slice(&original.buf[..original.header_len]);
    // Clear P: the original's padding is not carried over.
    out[0] &= !0x20;
    rewrite_header(out, rtx_ssrc, rtx_seq, original.timestamp, rtx_pt);
    out.extend_from_slice(&original.seq.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Unwraps an RFC 4588 retransmission payload: the original sequence number and the original
/// payload. `None` if the payload is shorter than two bytes.
pub fn unwrap_rtx<'a>(rtx: &RtpPacket<'a>) -> Option<(u16, &'a [u8])> {
    // RFC 4588 §4: the payload starts with the original sequence number.
    match rtx.payload() {
        [hi, lo, rest @ ..] => Some((be16(*hi, *lo), rest)),
        _ => None,
    }
}

/// RFC 3550 §5.1: V, P, X, CC, M, PT, sequence number, timestamp, SSRC.
const FIXED_HEADER_LEN: usize = 12;
/// RFC 8285 §4.2: the one-byte header form's "defined by profile" value.
const ONE_BYTE_PROFILE: u16 = 0xBEDE;
/// RFC 8285 §4.3: the two-byte header form's value, with the low 4 bits free ("appbits").
const TWO_BYTE_PROFILE: u16 = 0x1000;

fn be16(hi: u8, lo: u8) -> u16 {
    u16::from_be_bytes([hi, lo])
}

/// Reads 4 bytes; callers pass a slice of exactly 4 bytes.
fn be32(b: &[u8]) -> u32 {
    match b {
        [a, b, c, d] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

/// RFC 8285 §4.2: one-byte elements. Each starts with ID (4 bits) and L (4 bits, length - 1).
/// A zero byte is padding; ID 15 is reserved and stops processing; valid IDs are 1..=14.
fn find_one_byte(data: &[u8], id: u8) -> Option<&[u8]> {
    if !(1..=14).contains(&id) {
        return None;
    }
    let mut i = 0;
    while let Some(&b) = data.get(i) {
        if b == 0 {
            i += 1;
            continue;
        }
        let elem_id = b >> 4;
        if elem_id == 15 {
            return None;
        }
        let len = usize::from(b & 0x0f) + 1;
        let value = data.get(i + 1..i + 1 + len)?;
        if elem_id == id {
            return Some(value);
        }
        i += 1 + len;
    }
    None
}

/// RFC 8285 §4.3: two-byte elements: ID (8 bits), length (8 bits, may be 0), data. A zero ID
/// byte is a single byte of padding; valid IDs are 1..=255.
fn find_two_byte(data: &[u8], id: u8) -> Option<&[u8]> {
    if id == 0 {
        return None;
    }
    let mut i = 0;
    while let Some(&elem_id) = data.get(i) {
        if elem_id == 0 {
            i += 1;
            continue;
        }
        let len = usize::from(*data.get(i + 1)?);
        let value = data.get(i + 2..i + 2 + len)?;
        if elem_id == id {
            return Some(value);
        }
        i += 2 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// V=2, no P/X/CC, M=1 PT=111, seq 0x1234, ts 0xdeadbeef, SSRC 0x01020304, payload "hi".
    const MINIMAL: [u8; 14] = [
        0x80, 0xef, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, b'h', b'i',
    ];

    /// A packet with a one-byte-form extension block (RFC 8285 §4.2): id 1 audio level
    /// (V=1, -42 dBov), a padding byte, id 3 with 3 bytes "abc", then padding to a word.
    fn with_one_byte_ext() -> Vec<u8> {
        let mut p = vec![
            0x90, 0x6f, 0x00, 0x01, 0x00, 0x00, 0x00, 0x10, 0xaa, 0xbb, 0xcc, 0xdd,
        ];
        p.extend_from_slice(&[0xbe, 0xde, 0x00, 0x02]); // profile, 2 words
        p.extend_from_slice(&[0x10, 0x80 | 42, 0x00, 0x32, b'a', b'b', b'c', 0x00]);
        p.extend_from_slice(b"opus");
        p
    }

    #[test]
    fn parses_fixed_header_by_hand() {
        let p = RtpPacket::parse(&MINIMAL).unwrap();
        assert!(p.marker);
        assert_eq!(p.pt, Pt(111));
        assert_eq!(p.seq, 0x1234);
        assert_eq!(p.timestamp, 0xdeadbeef);
        assert_eq!(p.ssrc, Ssrc(0x01020304));
        assert_eq!(p.header_len, 12);
        assert_eq!(p.payload(), b"hi");
        assert_eq!(p.bytes(), &MINIMAL);
        assert_eq!(p.extension(1), None);
    }

    #[test]
    fn csrcs_are_skipped() {
        let mut p = MINIMAL.to_vec();
        p[0] = 0x82; // CC = 2
        p.splice(12..12, [0, 0, 0, 1, 0, 0, 0, 2]);
        let parsed = RtpPacket::parse(&p).unwrap();
        assert_eq!(parsed.header_len, 20);
        assert_eq!(parsed.payload(), b"hi");
        // CC = 3 runs past the end.
        p[0] = 0x83;
        p.truncate(22);
        assert_eq!(RtpPacket::parse(&p).unwrap_err(), RtpError::TooShort);
    }

    #[test]
    fn rejects_short_and_wrong_version() {
        assert_eq!(RtpPacket::parse(&[]).unwrap_err(), RtpError::TooShort);
        assert_eq!(
            RtpPacket::parse(&MINIMAL[..11]).unwrap_err(),
            RtpError::TooShort
        );
        // A header with no payload is fine.
        assert_eq!(RtpPacket::parse(&MINIMAL[..12]).unwrap().payload(), b"");
        for version in [0u8, 1, 3] {
            let mut p = MINIMAL;
            p[0] = (version << 6) | (p[0] & 0x3f);
            assert_eq!(RtpPacket::parse(&p).unwrap_err(), RtpError::BadVersion);
        }
    }

    #[test]
    fn padding_is_stripped_and_checked() {
        let mut p = MINIMAL.to_vec();
        p[0] |= 0x20;
        p.extend_from_slice(&[0, 0, 3]);
        assert_eq!(RtpPacket::parse(&p).unwrap().payload(), b"hi");

        // The count may cover the whole payload, but not the header.
        let last = p.len() - 1;
        p[last] = 5;
        assert_eq!(RtpPacket::parse(&p).unwrap().payload(), b"");
        p[last] = 6;
        assert_eq!(RtpPacket::parse(&p).unwrap_err(), RtpError::BadPadding);
        p[last] = 0;
        assert_eq!(RtpPacket::parse(&p).unwrap_err(), RtpError::BadPadding);

        // P set on a bare header: no room for the count.
        let mut bare = MINIMAL[..12].to_vec();
        bare[0] |= 0x20;
        assert_eq!(RtpPacket::parse(&bare).unwrap_err(), RtpError::BadPadding);
    }

    #[test]
    fn one_byte_extensions() {
        let p = with_one_byte_ext();
        let parsed = RtpPacket::parse(&p).unwrap();
        assert_eq!(parsed.header_len, 12 + 4 + 8);
        assert_eq!(parsed.payload(), b"opus");
        assert_eq!(parsed.extension(1), Some(&[0x80 | 42][..]));
        assert_eq!(parsed.extension(3), Some(&b"abc"[..]));
        assert_eq!(parsed.extension(2), None);
        assert_eq!(parsed.extension(0), None);
        assert_eq!(parsed.extension(15), None);
        assert_eq!(
            parsed.audio_level(1),
            Some((true, AudioLevel::from_neg_dbov(42)))
        );
        // Audio level without the V flag.
        let mut q = p.clone();
        q[17] = 127;
        assert_eq!(
            RtpPacket::parse(&q).unwrap().audio_level(1),
            Some((false, AudioLevel::SILENCE))
        );
    }

    #[test]
    fn one_byte_id_15_stops_parsing() {
        let mut p = with_one_byte_ext();
        p[16] = 0xf0; // id 15 where id 1 was
        let parsed = RtpPacket::parse(&p).unwrap();
        assert_eq!(parsed.extension(3), None);
        assert_eq!(parsed.audio_level(1), None);
    }

    #[test]
    fn one_byte_element_overrunning_the_block_is_not_returned() {
        let mut p = with_one_byte_ext();
        p[19] = 0x3f; // id 3 claims 16 bytes
        let parsed = RtpPacket::parse(&p).unwrap();
        assert_eq!(parsed.extension(3), None);
        assert_eq!(parsed.extension(1), Some(&[0x80 | 42][..]));
    }

    #[test]
    fn extension_length_is_checked() {
        let mut p = with_one_byte_ext();
        p[15] = 3; // 3 words: the 4-byte payload now counts as extension data
        assert!(RtpPacket::parse(&p).is_ok());
        p[15] = 4;
        assert_eq!(RtpPacket::parse(&p).unwrap_err(), RtpError::TooShort);
        // X set but no room for the preamble.
        let mut q = MINIMAL[..12].to_vec();
        q[0] |= 0x10;
        q.extend_from_slice(&[0xbe, 0xde]);
        assert_eq!(RtpPacket::parse(&q).unwrap_err(), RtpError::TooShort);
    }

    #[test]
    fn two_byte_extensions() {
        let mut p = MINIMAL[..12].to_vec();
        p[0] |= 0x10;
        // RFC 8285 §4.3 with appbits 0x5; elements: id 1 len 1, padding, id 20 len 0,
        // id 200 len 3, padding.
        p.extend_from_slice(&[0x10, 0x05, 0x00, 0x03]);
        p.extend_from_slice(&[1, 1, 0x80 | 30, 0, 20, 0, 200, 3, 7, 8, 9, 0]);
        p.extend_from_slice(b"x");
        let parsed = RtpPacket::parse(&p).unwrap();
        assert_eq!(parsed.payload(), b"x");
        assert_eq!(parsed.extension(1), Some(&[0x80 | 30][..]));
        assert_eq!(parsed.extension(20), Some(&[][..]));
        assert_eq!(parsed.extension(200), Some(&[7, 8, 9][..]));
        assert_eq!(parsed.extension(0), None);
        assert_eq!(parsed.extension(2), None);
        assert_eq!(
            parsed.audio_level(1),
            Some((true, AudioLevel::from_neg_dbov(30)))
        );
        // An empty element carries no level.
        assert_eq!(parsed.audio_level(20), None);
    }

    #[test]
    fn unknown_profile_has_no_elements() {
        let mut p = with_one_byte_ext();
        p[12] = 0x12;
        p[13] = 0x34;
        let parsed = RtpPacket::parse(&p).unwrap();
        assert_eq!(parsed.payload(), b"opus");
        assert_eq!(parsed.extension(1), None);
    }

    #[test]
    fn demux_rtp_and_rtcp() {
        assert!(!is_rtcp(&MINIMAL));
        // RR header: V=2, RC=0, PT=201, length 1.
        assert!(is_rtcp(&[0x80, 201, 0, 1, 0, 0, 0, 1]));
        assert!(is_rtcp(&[0x81, 192, 0, 0]));
        assert!(is_rtcp(&[0x81, 223, 0, 0]));
        assert!(!is_rtcp(&[0x81, 191, 0, 0]));
        assert!(!is_rtcp(&[0x81, 224, 0, 0]));
        // Too short for an RTCP header, or not version 2.
        assert!(!is_rtcp(&[0x80, 200, 0]));
        assert!(!is_rtcp(&[]));
        assert!(!is_rtcp(&[0x40, 200, 0, 0]));
    }

    #[test]
    fn rewrite_keeps_marker_and_payload() {
        let mut p = with_one_byte_ext();
        rewrite_header(&mut p, Ssrc(0x11223344), 0xfffe, 0x55667788, Pt(96));
        let parsed = RtpPacket::parse(&p).unwrap();
        assert_eq!(parsed.ssrc, Ssrc(0x11223344));
        assert_eq!(parsed.seq, 0xfffe);
        assert_eq!(parsed.timestamp, 0x55667788);
        assert_eq!(parsed.pt, Pt(96));
        assert!(!parsed.marker);
        assert_eq!(parsed.payload(), b"opus");
        assert_eq!(parsed.extension(3), Some(&b"abc"[..]));

        let mut m = MINIMAL;
        rewrite_header(&mut m, Ssrc(1), 2, 3, Pt(0xff));
        assert_eq!(&m[..12], &[0x80, 0xff, 0, 2, 0, 0, 0, 3, 0, 0, 0, 1]);

        // Too short: untouched, no panic.
        let mut short = [0x80u8, 1, 2];
        rewrite_header(&mut short, Ssrc(9), 9, 9, Pt(9));
        assert_eq!(short, [0x80, 1, 2]);
    }

    #[test]
    fn rtx_round_trip() {
        let mut orig = with_one_byte_ext();
        orig[0] |= 0x20;
        orig[1] |= 0x80; // marker
        orig.extend_from_slice(&[0, 2]); // 2 bytes of padding
        let original = RtpPacket::parse(&orig).unwrap();
        assert_eq!(original.payload(), b"opus");

        let mut out = vec![1, 2, 3]; // cleared first
        write_rtx(&original, Ssrc(0xcafe), 7, Pt(97), &mut out);
        let rtx = RtpPacket::parse(&out).unwrap();
        assert_eq!(rtx.ssrc, Ssrc(0xcafe));
        assert_eq!(rtx.seq, 7);
        assert_eq!(rtx.pt, Pt(97));
        assert!(rtx.marker);
        assert_eq!(rtx.timestamp, original.timestamp);
        assert_eq!(rtx.bytes()[0] & 0x20, 0, "padding bit cleared");
        assert_eq!(rtx.extension(3), Some(&b"abc"[..]));
        assert_eq!(rtx.payload(), b"\x00\x01opus");
        assert_eq!(out.len(), original.header_len + 2 + 4);

        let (osn, payload) = unwrap_rtx(&rtx).unwrap();
        assert_eq!(osn, original.seq);
        assert_eq!(payload, b"opus");
    }

    #[test]
    fn unwrap_rtx_needs_an_osn() {
        let p = RtpPacket::parse(&MINIMAL[..13]).unwrap();
        assert_eq!(unwrap_rtx(&p), None);
        let p = RtpPacket::parse(&MINIMAL).unwrap();
        assert_eq!(unwrap_rtx(&p), Some((u16::from_be_bytes(*b"hi"), &b""[..])));
    }

    /// Pseudo-random, truncated and mutated inputs: every call must return.
    #[test]
    fn random_input_never_panics() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x706f6e74);
        let seeds = [MINIMAL.to_vec(), with_one_byte_ext()];
        let mut parsed_ok = 0;
        let mut out = Vec::new();
        for i in 0..20_000 {
            let buf: Vec<u8> = if i % 2 == 0 {
                let len = rng.gen_range(0..64);
                let mut b: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
                if let Some(first) = b.first_mut() {
                    // Mostly version 2, so the deeper checks run.
                    *first = (*first & 0x3f) | 0x80;
                }
                b
            } else {
                let mut b = seeds[i % seeds.len()].clone();
                for _ in 0..rng.gen_range(1..4) {
                    let at = rng.gen_range(0..b.len());
                    b[at] = rng.r#gen();
                }
                b.truncate(rng.gen_range(0..=b.len()));
                b
            };
            let _ = is_rtcp(&buf);
            if let Ok(p) = RtpPacket::parse(&buf) {
                parsed_ok += 1;
                assert!(p.header_len <= p.payload_end && p.payload_end <= buf.len());
                for id in 0..=255 {
                    let _ = p.extension(id);
                    let _ = p.audio_level(id);
                }
                let _ = unwrap_rtx(&p);
                write_rtx(&p, Ssrc(1), 2, Pt(3), &mut out);
                let rtx = RtpPacket::parse(&out).expect("write_rtx output parses");
                assert_eq!(unwrap_rtx(&rtx), Some((p.seq, p.payload())));
                let mut copy = buf.clone();
                rewrite_header(&mut copy, Ssrc(4), 5, 6, Pt(7));
                assert_eq!(
                    RtpPacket::parse(&copy).map(|q| q.payload()),
                    Ok(p.payload())
                );
            }
        }
        assert!(parsed_ok > 1000, "only {parsed_ok} inputs parsed");
    }
}
