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
        let _ = buf;
        todo!("packets helper")
    }

    /// The whole packet.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The payload, without padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len..self.payload_end]
    }

    /// The data of header extension element `id` (RFC 8285 one-byte or two-byte form).
    pub fn extension(&self, id: u8) -> Option<&'a [u8]> {
        let _ = (id, self.ext);
        todo!("packets helper")
    }

    /// The RFC 6464 client-to-mixer audio level carried in extension `id`: the voice-activity
    /// flag and the level.
    pub fn audio_level(&self, id: u8) -> Option<(bool, AudioLevel)> {
        let _ = id;
        todo!("packets helper")
    }
}

/// RFC 5761 §4 demultiplexing: a datagram whose second byte is 192..=223 (RTCP packet types
/// 64..=95 seen as RTP marker+PT) is RTCP.
pub fn is_rtcp(buf: &[u8]) -> bool {
    let _ = buf;
    todo!("packets helper")
}

/// Rewrites SSRC, sequence number, timestamp and payload type of the RTP packet in `buf`,
/// keeping the marker bit. `buf` must hold a packet that [`RtpPacket::parse`] accepted.
pub fn rewrite_header(buf: &mut [u8], ssrc: Ssrc, seq: u16, timestamp: u32, pt: Pt) {
    let _ = (buf, ssrc, seq, timestamp, pt);
    todo!("packets helper")
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
    let _ = (original, rtx_ssrc, rtx_seq, rtx_pt, out);
    todo!("packets helper")
}

/// Unwraps an RFC 4588 retransmission payload: the original sequence number and the original
/// payload. `None` if the payload is shorter than two bytes.
pub fn unwrap_rtx<'a>(rtx: &RtpPacket<'a>) -> Option<(u16, &'a [u8])> {
    let _ = rtx;
    todo!("packets helper")
}
