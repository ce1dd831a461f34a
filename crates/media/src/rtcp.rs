//! RTCP parsing and writing (RFC 3550 §6, feedback RFC 4585/5104, REMB).
//!
//! Network input: [`parse_compound`] returns an error, never panics, on any byte string.

use pont_types::{DataRate, Ssrc};

/// Why a datagram is not usable RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtcpError {
    /// Shorter than a header or than the length it announces.
    #[error("packet too short")]
    TooShort,
    /// Version field is not 2.
    #[error("RTCP version is not 2")]
    BadVersion,
    /// A packet's own fields do not fit its length (e.g. report count vs. length).
    #[error("malformed {0} packet")]
    Malformed(&'static str),
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: Ssrc,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed on the wire).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received from this source.
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// Sender report (PT 200).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SenderReport {
    pub ssrc: Ssrc,
    /// 64-bit NTP timestamp.
    pub ntp: u64,
    pub rtp_time: u32,
    pub packet_count: u32,
    pub octet_count: u32,
    pub reports: Vec<ReportBlock>,
}

/// Receiver report (PT 201).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiverReport {
    pub ssrc: Ssrc,
    pub reports: Vec<ReportBlock>,
}

/// One RTCP packet of a compound packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rtcp {
    SenderReport(SenderReport),
    ReceiverReport(ReceiverReport),
    /// Generic NACK (RTPFB FMT 1, RFC 4585 §6.2.1), PID/BLP pairs expanded into sequence numbers.
    Nack {
        sender: Ssrc,
        media: Ssrc,
        lost: Vec<u16>,
    },
    /// Picture loss indication (PSFB FMT 1).
    Pli {
        sender: Ssrc,
        media: Ssrc,
    },
    /// Full intra request (PSFB FMT 4, RFC 5104 §4.3.1): (media SSRC, command sequence number).
    Fir {
        sender: Ssrc,
        entries: Vec<(Ssrc, u8)>,
    },
    /// Receiver estimated maximum bitrate (PSFB FMT 15, "REMB").
    Remb {
        sender: Ssrc,
        bitrate: DataRate,
        ssrcs: Vec<Ssrc>,
    },
    /// Goodbye (PT 203).
    Bye {
        ssrcs: Vec<Ssrc>,
    },
    /// A well-formed packet we do not act on (SDES, APP, XR, TWCC, …): its PT and FMT/count.
    Other {
        pt: u8,
        fmt: u8,
    },
}

/// Parses every packet of a (possibly reduced-size, RFC 5506) compound RTCP packet into `out`.
/// On error, the packets before the bad one stay in `out`.
pub fn parse_compound(buf: &[u8], out: &mut Vec<Rtcp>) -> Result<(), RtcpError> {
    let _ = (buf, out);
    todo!("packets helper")
}

impl Rtcp {
    /// Appends this packet's wire form to `out` (a compound packet is several appended).
    /// A NACK's sequence numbers are packed into as few PID/BLP pairs as they need.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let _ = out;
        todo!("packets helper")
    }
}
