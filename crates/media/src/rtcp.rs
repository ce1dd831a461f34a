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
///
/// Checks each packet's version, its length field against the buffer, its padding, and that
/// its counted items fit its length. An empty buffer is [`RtcpError::TooShort`]. The order of
/// packet types inside a compound packet (RFC 3550 §6.1: SR/RR first) is not enforced, since
/// RFC 5506 reduced-size packets carry feedback alone.
pub fn parse_compound(buf: &[u8], out: &mut Vec<Rtcp>) -> Result<(), RtcpError> {
    if buf.is_empty() {
        return Err(RtcpError::TooShort);
    }
    let mut rest = buf;
    while !rest.is_empty() {
        let (packet, tail) = split_packet(rest)?;
        out.push(parse_one(&packet)?);
        rest = tail;
    }
    Ok(())
}

/// RFC 3550 §6.1 common header: V(2) P(1) count/FMT(5), PT(8), length(16) in 32-bit words
/// minus one. The packet's body is what follows the 4 header bytes, padding removed.
struct Packet<'a> {
    count: u8,
    pt: u8,
    body: &'a [u8],
}

/// Splits the first packet off `buf`.
fn split_packet(buf: &[u8]) -> Result<(Packet<'_>, &[u8]), RtcpError> {
    let [b0, pt, len_hi, len_lo, ..] = *buf else {
        return Err(RtcpError::TooShort);
    };
    if b0 >> 6 != 2 {
        return Err(RtcpError::BadVersion);
    }
    let total = (usize::from(u16::from_be_bytes([len_hi, len_lo])) + 1) * 4;
    let (packet, tail) = buf.split_at_checked(total).ok_or(RtcpError::TooShort)?;
    let mut body = &packet[HEADER_LEN..];
    if b0 & 0x20 != 0 {
        // RFC 3550 §6.4.1: the last octet counts the padding octets, itself included.
        let pad = body.last().map_or(0, |&p| usize::from(p));
        if pad == 0 || pad > body.len() {
            return Err(RtcpError::Malformed("padded"));
        }
        body = &body[..body.len() - pad];
    }
    let packet = Packet {
        count: b0 & 0x1f,
        pt,
        body,
    };
    Ok((packet, tail))
}

fn parse_one(p: &Packet<'_>) -> Result<Rtcp, RtcpError> {
    let other = Rtcp::Other {
        pt: p.pt,
        fmt: p.count,
    };
    let count = usize::from(p.count);
    Ok(match p.pt {
        PT_SR => {
            // RFC 3550 §6.4.1: SSRC, 20 bytes of sender info, RC report blocks, then optional
            // profile-specific extensions (ignored).
            let blocks = p
                .body
                .get(24..24 + count * REPORT_BLOCK_LEN)
                .ok_or(RtcpError::Malformed("SR"))?;
            let info = &p.body[4..24];
            Rtcp::SenderReport(SenderReport {
                ssrc: ssrc_at(p.body, 0),
                ntp: u64::from_be_bytes(bytes_at(info, 0)),
                rtp_time: u32_at(info, 8),
                packet_count: u32_at(info, 12),
                octet_count: u32_at(info, 16),
                reports: parse_report_blocks(blocks),
            })
        }
        PT_RR => {
            // RFC 3550 §6.4.2: SSRC, RC report blocks, then optional extensions (ignored).
            let blocks = p
                .body
                .get(4..4 + count * REPORT_BLOCK_LEN)
                .ok_or(RtcpError::Malformed("RR"))?;
            Rtcp::ReceiverReport(ReceiverReport {
                ssrc: ssrc_at(p.body, 0),
                reports: parse_report_blocks(blocks),
            })
        }
        PT_BYE => {
            // RFC 3550 §6.6: SC SSRCs, then optionally a length octet and a reason.
            let list = p.body.get(..4 * count).ok_or(RtcpError::Malformed("BYE"))?;
            let reason_fits = p
                .body
                .get(4 * count)
                .is_none_or(|&len| 4 * count + 1 + usize::from(len) <= p.body.len());
            if !reason_fits {
                return Err(RtcpError::Malformed("BYE"));
            }
            Rtcp::Bye {
                ssrcs: list.chunks_exact(4).map(|c| ssrc_at(c, 0)).collect(),
            }
        }
        PT_RTPFB => {
            // RFC 4585 §6.1: sender SSRC, media SSRC, FCI.
            let (sender, media, fci) = feedback(p.body, "RTPFB")?;
            match p.count {
                FMT_NACK => Rtcp::Nack {
                    sender,
                    media,
                    lost: parse_nack_fci(fci)?,
                },
                _ => other,
            }
        }
        PT_PSFB => {
            let (sender, media, fci) = feedback(p.body, "PSFB")?;
            match p.count {
                // RFC 4585 §6.3.1: PLI has no FCI (any extra is ignored).
                FMT_PLI => Rtcp::Pli { sender, media },
                FMT_FIR => Rtcp::Fir {
                    sender,
                    entries: parse_fir_fci(fci)?,
                },
                FMT_ALFB if fci.starts_with(REMB_ID) => parse_remb(sender, fci)?,
                _ => other,
            }
        }
        // SDES, APP, XR and anything unknown: well-formed as far as the common header goes.
        _ => other,
    })
}

fn parse_report_blocks(blocks: &[u8]) -> Vec<ReportBlock> {
    blocks
        .chunks_exact(REPORT_BLOCK_LEN)
        .map(|b| ReportBlock {
            ssrc: ssrc_at(b, 0),
            fraction_lost: b[4],
            // 24-bit two's complement: shift into the top of an i32, then back.
            cumulative_lost: i32::from_be_bytes([b[5], b[6], b[7], 0]) >> 8,
            highest_seq: u32_at(b, 8),
            jitter: u32_at(b, 12),
            last_sr: u32_at(b, 16),
            delay_since_last_sr: u32_at(b, 20),
        })
        .collect()
}

/// The sender SSRC, media SSRC and FCI of a feedback message (RFC 4585 §6.1).
fn feedback<'a>(body: &'a [u8], kind: &'static str) -> Result<(Ssrc, Ssrc, &'a [u8]), RtcpError> {
    if body.len() < 8 {
        return Err(RtcpError::Malformed(kind));
    }
    Ok((ssrc_at(body, 0), ssrc_at(body, 4), &body[8..]))
}

/// RFC 4585 §6.2.1: one or more PID/BLP pairs; bit i of BLP set means PID+i+1 was lost too.
fn parse_nack_fci(fci: &[u8]) -> Result<Vec<u16>, RtcpError> {
    // (`chunks_exact` rather than `is_multiple_of`, which is newer than the workspace MSRV.)
    if fci.is_empty() || !fci.chunks_exact(4).remainder().is_empty() {
        return Err(RtcpError::Malformed("NACK"));
    }
    let mut lost = Vec::new();
    for pair in fci.chunks_exact(4) {
        let pid = u16::from_be_bytes([pair[0], pair[1]]);
        let blp = u16::from_be_bytes([pair[2], pair[3]]);
        lost.push(pid);
        for bit in 0..16u16 {
            if blp & (1 << bit) != 0 {
                lost.push(pid.wrapping_add(bit + 1));
            }
        }
    }
    Ok(lost)
}

/// RFC 5104 §4.3.1.1: one or more entries of SSRC, command sequence number and 3 reserved
/// bytes. The media source SSRC of the common part is unused (set to 0 on write).
fn parse_fir_fci(fci: &[u8]) -> Result<Vec<(Ssrc, u8)>, RtcpError> {
    if fci.is_empty() || !fci.chunks_exact(FIR_ENTRY_LEN).remainder().is_empty() {
        return Err(RtcpError::Malformed("FIR"));
    }
    Ok(fci
        .chunks_exact(FIR_ENTRY_LEN)
        .map(|e| (ssrc_at(e, 0), e[4]))
        .collect())
}

/// draft-alvestrand-rmcat-remb-03 §2.2: "REMB", Num SSRC (8 bits), BR Exp (6 bits),
/// BR Mantissa (18 bits), then Num SSRC SSRCs. The bitrate is mantissa * 2^exp bit/s, which
/// can exceed 64 bits; it saturates.
fn parse_remb(sender: Ssrc, fci: &[u8]) -> Result<Rtcp, RtcpError> {
    let malformed = RtcpError::Malformed("REMB");
    let [_, _, _, _, num, b1, b2, b3, ref rest @ ..] = *fci else {
        return Err(malformed);
    };
    let exp = u32::from(b1 >> 2);
    let mantissa = u64::from(u32::from_be_bytes([0, b1 & 0x03, b2, b3]));
    let bps = u64::try_from(u128::from(mantissa) << exp).unwrap_or(u64::MAX);
    let list = rest.get(..4 * usize::from(num)).ok_or(malformed)?;
    Ok(Rtcp::Remb {
        sender,
        bitrate: DataRate::from_bps(bps),
        ssrcs: list.chunks_exact(4).map(|c| ssrc_at(c, 0)).collect(),
    })
}

impl Rtcp {
    /// Appends this packet's wire form to `out` (a compound packet is several appended).
    /// A NACK's sequence numbers are packed into as few PID/BLP pairs as they need.
    ///
    /// What does not fit one packet's fields is written as several packets: more than 31
    /// report blocks continue in RR packets after the SR or RR (RFC 3550 §6.4), more than 31
    /// BYE SSRCs in further BYEs. Some values have no wire form and are written as nothing:
    /// [`Rtcp::Other`] (only its PT and FMT were kept), a NACK with no sequence numbers and a
    /// FIR with no entries (RFC 4585 §6.2.1 and RFC 5104 §4.3.1.2 require at least one).
    /// A REMB lists at most 255 SSRCs (an 8-bit count) and its bitrate is rounded down to
    /// the 18-bit mantissa; `cumulative_lost` is clamped to the 24-bit signed range.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Self::SenderReport(sr) => {
                let (first, more) = sr.reports.split_at(sr.reports.len().min(MAX_COUNT));
                let start = begin(out, first.len() as u8, PT_SR);
                out.extend_from_slice(&sr.ssrc.0.to_be_bytes());
                out.extend_from_slice(&sr.ntp.to_be_bytes());
                out.extend_from_slice(&sr.rtp_time.to_be_bytes());
                out.extend_from_slice(&sr.packet_count.to_be_bytes());
                out.extend_from_slice(&sr.octet_count.to_be_bytes());
                write_report_blocks(first, out);
                finish(out, start);
                write_extra_rrs(sr.ssrc, more, out);
            }
            Self::ReceiverReport(rr) => {
                let (first, more) = rr.reports.split_at(rr.reports.len().min(MAX_COUNT));
                let start = begin(out, first.len() as u8, PT_RR);
                out.extend_from_slice(&rr.ssrc.0.to_be_bytes());
                write_report_blocks(first, out);
                finish(out, start);
                write_extra_rrs(rr.ssrc, more, out);
            }
            Self::Nack {
                sender,
                media,
                lost,
            } => {
                if lost.is_empty() {
                    return;
                }
                let start = begin(out, FMT_NACK, PT_RTPFB);
                out.extend_from_slice(&sender.0.to_be_bytes());
                out.extend_from_slice(&media.0.to_be_bytes());
                for (pid, blp) in pack_nack(lost) {
                    out.extend_from_slice(&pid.to_be_bytes());
                    out.extend_from_slice(&blp.to_be_bytes());
                }
                finish(out, start);
            }
            Self::Pli { sender, media } => {
                let start = begin(out, FMT_PLI, PT_PSFB);
                out.extend_from_slice(&sender.0.to_be_bytes());
                out.extend_from_slice(&media.0.to_be_bytes());
                finish(out, start);
            }
            Self::Fir { sender, entries } => {
                // The length field caps one packet at 65535 words; split beyond that.
                for chunk in entries.chunks(MAX_FIR_ENTRIES) {
                    let start = begin(out, FMT_FIR, PT_PSFB);
                    out.extend_from_slice(&sender.0.to_be_bytes());
                    out.extend_from_slice(&0u32.to_be_bytes());
                    for (ssrc, seq) in chunk {
                        out.extend_from_slice(&ssrc.0.to_be_bytes());
                        out.extend_from_slice(&[*seq, 0, 0, 0]);
                    }
                    finish(out, start);
                }
            }
            Self::Remb {
                sender,
                bitrate,
                ssrcs,
            } => {
                let ssrcs = &ssrcs[..ssrcs.len().min(255)];
                let (exp, mantissa) = remb_exp_mantissa(bitrate.as_bps());
                let start = begin(out, FMT_ALFB, PT_PSFB);
                out.extend_from_slice(&sender.0.to_be_bytes());
                out.extend_from_slice(&0u32.to_be_bytes());
                out.extend_from_slice(REMB_ID);
                out.push(ssrcs.len() as u8);
                out.extend_from_slice(&((exp << 18) | mantissa).to_be_bytes()[1..]);
                for ssrc in ssrcs {
                    out.extend_from_slice(&ssrc.0.to_be_bytes());
                }
                finish(out, start);
            }
            Self::Bye { ssrcs } => {
                let mut chunks = ssrcs.chunks(MAX_COUNT).peekable();
                if chunks.peek().is_none() {
                    // A BYE with SC = 0 is valid (RFC 3550 §6.6).
                    let start = begin(out, 0, PT_BYE);
                    finish(out, start);
                }
                for chunk in chunks {
                    let start = begin(out, chunk.len() as u8, PT_BYE);
                    for ssrc in chunk {
                        out.extend_from_slice(&ssrc.0.to_be_bytes());
                    }
                    finish(out, start);
                }
            }
            Self::Other { .. } => {}
        }
    }
}

/// RFC 3550 §6.4.1: the SR/RR report block is 6 words.
const REPORT_BLOCK_LEN: usize = 24;
/// RFC 3550 §6.1: the common header is one word.
const HEADER_LEN: usize = 4;
/// The 5-bit count field's largest value (RFC 3550 §6.1).
const MAX_COUNT: usize = 31;
/// RFC 5104 §4.3.1.1: SSRC, sequence number, 3 reserved bytes.
const FIR_ENTRY_LEN: usize = 8;
/// A 16-bit length field in words: (65535 + 1) words minus the 3 of header, sender, media,
/// divided by the 2 words of an entry.
const MAX_FIR_ENTRIES: usize = (65536 - 3) / 2;

const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_BYE: u8 = 203;
/// RFC 4585 §6.1: transport-layer feedback.
const PT_RTPFB: u8 = 205;
/// RFC 4585 §6.1: payload-specific feedback.
const PT_PSFB: u8 = 206;
const FMT_NACK: u8 = 1;
const FMT_PLI: u8 = 1;
/// RFC 5104 §4.3.1.
const FMT_FIR: u8 = 4;
/// RFC 4585 §6.4: application layer feedback, which carries REMB.
const FMT_ALFB: u8 = 15;
const REMB_ID: &[u8; 4] = b"REMB";

/// Starts a packet with a placeholder length; returns where it starts for [`finish`].
fn begin(out: &mut Vec<u8>, count: u8, pt: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0x80 | (count & 0x1f), pt, 0, 0]);
    start
}

/// Writes the length field (in words minus one) of the packet that starts at `start`. Every
/// body written here is a whole number of words and far below the 16-bit limit.
fn finish(out: &mut [u8], start: usize) {
    let words = (out.len() - start) / 4 - 1;
    let len = u16::try_from(words).unwrap_or(u16::MAX).to_be_bytes();
    out[start + 2..start + 4].copy_from_slice(&len);
}

fn write_report_blocks(blocks: &[ReportBlock], out: &mut Vec<u8>) {
    for b in blocks {
        out.extend_from_slice(&b.ssrc.0.to_be_bytes());
        out.push(b.fraction_lost);
        // RFC 3550 §6.4.1: 24-bit signed; clamp like the reference code in §A.3.
        let lost = b.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff);
        out.extend_from_slice(&lost.to_be_bytes()[1..]);
        out.extend_from_slice(&b.highest_seq.to_be_bytes());
        out.extend_from_slice(&b.jitter.to_be_bytes());
        out.extend_from_slice(&b.last_sr.to_be_bytes());
        out.extend_from_slice(&b.delay_since_last_sr.to_be_bytes());
    }
}

/// RFC 3550 §6.4: report blocks beyond the first 31 go in RR packets stacked after it.
fn write_extra_rrs(ssrc: Ssrc, blocks: &[ReportBlock], out: &mut Vec<u8>) {
    for chunk in blocks.chunks(MAX_COUNT) {
        let start = begin(out, chunk.len() as u8, PT_RR);
        out.extend_from_slice(&ssrc.0.to_be_bytes());
        write_report_blocks(chunk, out);
        finish(out, start);
    }
}

/// Packs sequence numbers into PID/BLP pairs (RFC 4585 §6.2.1), as few as the set needs.
///
/// The numbers are deduplicated and ordered around the 16-bit circle starting just after the
/// largest gap between neighbours, so a run across the wrap (65535, 0, 1) stays one pair;
/// then each pair greedily covers its PID and the 16 numbers after it. Greedy is optimal on a
/// line; the circle is a line unless the largest gap is under 17, which needs thousands of
/// lost packets, and then it is at most one pair over.
pub fn pack_nack(lost: &[u16]) -> Vec<(u16, u16)> {
    let mut seqs = lost.to_vec();
    seqs.sort_unstable();
    seqs.dedup();
    let Some(&last) = seqs.last() else {
        return Vec::new();
    };
    // The gap before seqs[i] is seqs[i] - seqs[i-1]; before seqs[0] it wraps from the last.
    let mut start = 0;
    let mut largest_gap = seqs[0].wrapping_sub(last);
    for i in 1..seqs.len() {
        let gap = seqs[i] - seqs[i - 1];
        if gap > largest_gap {
            largest_gap = gap;
            start = i;
        }
    }
    seqs.rotate_left(start);

    let mut pairs: Vec<(u16, u16)> = Vec::new();
    for seq in seqs {
        match pairs.last_mut() {
            Some((pid, blp)) if (1..=16).contains(&seq.wrapping_sub(*pid)) => {
                *blp |= 1 << (seq.wrapping_sub(*pid) - 1);
            }
            _ => pairs.push((seq, 0)),
        }
    }
    pairs
}

/// The largest exponent-and-mantissa value at or below `bps`: the smallest exponent that
/// fits the mantissa into 18 bits.
fn remb_exp_mantissa(bps: u64) -> (u32, u32) {
    let bits = 64 - bps.leading_zeros();
    let exp = bits.saturating_sub(18);
    // Fits in 18 bits by the choice of `exp`.
    (exp, (bps >> exp) as u32)
}

fn bytes_at<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    // Callers have checked the length of `b`; a short slice reads as zeros rather than panic.
    let mut out = [0; N];
    if let Some(src) = b.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes_at(b, at))
}

fn ssrc_at(b: &[u8], at: usize) -> Ssrc {
    Ssrc(u32_at(b, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn parse(buf: &[u8]) -> Result<Vec<Rtcp>, RtcpError> {
        let mut out = Vec::new();
        parse_compound(buf, &mut out).map(|()| out)
    }

    fn written(packets: &[Rtcp]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in packets {
            p.write_to(&mut out);
        }
        out
    }

    fn block(n: u32) -> ReportBlock {
        ReportBlock {
            ssrc: Ssrc(n),
            fraction_lost: n as u8,
            cumulative_lost: -(n as i32),
            highest_seq: 0x0001_0000 + n,
            jitter: n * 3,
            last_sr: n * 5,
            delay_since_last_sr: n * 7,
        }
    }

    /// Every variant that has a wire form, written then parsed back.
    fn samples() -> Vec<Rtcp> {
        vec![
            Rtcp::SenderReport(SenderReport {
                ssrc: Ssrc(0x1111),
                ntp: 0xe1e2_e3e4_0000_8000,
                rtp_time: 48000,
                packet_count: 50,
                octet_count: 5000,
                reports: vec![block(1), block(2)],
            }),
            Rtcp::SenderReport(SenderReport::default()),
            Rtcp::ReceiverReport(ReceiverReport {
                ssrc: Ssrc(0x2222),
                reports: vec![block(3)],
            }),
            Rtcp::ReceiverReport(ReceiverReport::default()),
            Rtcp::Nack {
                sender: Ssrc(1),
                media: Ssrc(2),
                lost: vec![10, 11, 26, 27, 100],
            },
            Rtcp::Pli {
                sender: Ssrc(3),
                media: Ssrc(4),
            },
            Rtcp::Fir {
                sender: Ssrc(5),
                entries: vec![(Ssrc(6), 7), (Ssrc(8), 255)],
            },
            Rtcp::Remb {
                sender: Ssrc(9),
                bitrate: DataRate::from_bps(1_500_000 & !0xff), // representable
                ssrcs: vec![Ssrc(10), Ssrc(11)],
            },
            Rtcp::Remb {
                sender: Ssrc(9),
                bitrate: DataRate::ZERO,
                ssrcs: vec![],
            },
            Rtcp::Bye {
                ssrcs: vec![Ssrc(12), Ssrc(13)],
            },
            Rtcp::Bye { ssrcs: vec![] },
        ]
    }

    #[test]
    fn every_variant_round_trips() {
        for p in samples() {
            let bytes = written(std::slice::from_ref(&p));
            assert_eq!(bytes.len() % 4, 0, "{p:?}");
            assert_eq!(parse(&bytes), Ok(vec![p.clone()]), "{p:?}");
        }
        // And all of them as one compound packet.
        let all = samples();
        assert_eq!(parse(&written(&all)), Ok(all));
    }

    #[test]
    fn sender_report_by_hand() {
        // RFC 3550 §6.4.1: header, SSRC, NTP (2 words), RTP ts, packet count, octet count,
        // one report block.
        #[rustfmt::skip]
        let wire = [
            0x81, 200, 0x00, 0x0c,
            0x00, 0x00, 0x11, 0x11,
            0xe1, 0xe2, 0xe3, 0xe4, 0x00, 0x00, 0x80, 0x00,
            0x00, 0x00, 0xbb, 0x80,
            0x00, 0x00, 0x00, 0x32,
            0x00, 0x00, 0x13, 0x88,
            // report block: SSRC, fraction 0x40, cumulative -2, ext. highest seq, jitter,
            // LSR, DLSR
            0x00, 0x00, 0x00, 0x01,
            0x40, 0xff, 0xff, 0xfe,
            0x00, 0x01, 0x00, 0x05,
            0x00, 0x00, 0x00, 0x10,
            0xe3, 0xe4, 0x00, 0x00,
            0x00, 0x01, 0x00, 0x00,
        ];
        let sr = Rtcp::SenderReport(SenderReport {
            ssrc: Ssrc(0x1111),
            ntp: 0xe1e2_e3e4_0000_8000,
            rtp_time: 48000,
            packet_count: 50,
            octet_count: 5000,
            reports: vec![ReportBlock {
                ssrc: Ssrc(1),
                fraction_lost: 0x40,
                cumulative_lost: -2,
                highest_seq: 0x0001_0005,
                jitter: 16,
                last_sr: 0xe3e4_0000,
                delay_since_last_sr: 0x0001_0000,
            }],
        });
        assert_eq!(parse(&wire), Ok(vec![sr.clone()]));
        assert_eq!(written(&[sr]), wire);
    }

    #[test]
    fn cumulative_lost_is_24_bit_signed_and_clamped() {
        let rr = |lost| {
            Rtcp::ReceiverReport(ReceiverReport {
                ssrc: Ssrc(1),
                reports: vec![ReportBlock {
                    cumulative_lost: lost,
                    ..ReportBlock::default()
                }],
            })
        };
        for (given, on_wire, back) in [
            (5, [0x00, 0x00, 0x05], 5),
            (-1, [0xff, 0xff, 0xff], -1),
            (0x7f_ffff, [0x7f, 0xff, 0xff], 0x7f_ffff),
            (-0x80_0000, [0x80, 0x00, 0x00], -0x80_0000),
            (i32::MAX, [0x7f, 0xff, 0xff], 0x7f_ffff),
            (i32::MIN, [0x80, 0x00, 0x00], -0x80_0000),
        ] {
            let bytes = written(&[rr(given)]);
            // header 4, SSRC 4, block SSRC 4, fraction 1.
            assert_eq!(bytes[13..16], on_wire, "{given}");
            assert_eq!(parse(&bytes), Ok(vec![rr(back)]));
        }
    }

    #[test]
    fn more_than_31_reports_continue_in_rrs() {
        let reports: Vec<_> = (0..70).map(block).collect();
        let sr = Rtcp::SenderReport(SenderReport {
            ssrc: Ssrc(7),
            reports: reports.clone(),
            ..SenderReport::default()
        });
        let parsed = parse(&written(&[sr])).unwrap();
        assert_eq!(parsed.len(), 3);
        let mut got = Vec::new();
        for (i, p) in parsed.into_iter().enumerate() {
            match (i, p) {
                (0, Rtcp::SenderReport(s)) => got.extend(s.reports),
                (_, Rtcp::ReceiverReport(r)) if i > 0 => {
                    assert_eq!(r.ssrc, Ssrc(7));
                    got.extend(r.reports);
                }
                (_, other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(got, reports);
    }

    #[test]
    fn nack_by_hand() {
        // RFC 4585 §6.2.1: PID 100, BLP 0b1000_0000_0000_0101 → 100, 101, 103, 116.
        #[rustfmt::skip]
        let wire = [
            0x81, 205, 0x00, 0x03,
            0x00, 0x00, 0x00, 0x01,
            0x00, 0x00, 0x00, 0x02,
            0x00, 100, 0x80, 0x05,
        ];
        let nack = Rtcp::Nack {
            sender: Ssrc(1),
            media: Ssrc(2),
            lost: vec![100, 101, 103, 116],
        };
        assert_eq!(parse(&wire), Ok(vec![nack.clone()]));
        assert_eq!(written(&[nack]), wire);
    }

    #[test]
    fn nack_packing() {
        // Across the wrap: one pair starting at 65535.
        assert_eq!(
            pack_nack(&[0, 65535, 1, 15]),
            vec![(65535, 0b1000_0000_0000_0011)]
        );
        // 16 after the PID still fits; 17 does not.
        assert_eq!(pack_nack(&[5, 21]), vec![(5, 0x8000)]);
        assert_eq!(pack_nack(&[5, 22]), vec![(5, 0), (22, 0)]);
        // Unordered with duplicates.
        assert_eq!(pack_nack(&[30, 3, 30, 1]), vec![(1, 0b10), (30, 0)]);
        assert_eq!(pack_nack(&[]), vec![]);
        assert_eq!(pack_nack(&[7]), vec![(7, 0)]);
        // The gap across the wrap is not always the largest.
        assert_eq!(
            pack_nack(&[40000, 65530, 3]),
            vec![(40000, 0), (65530, 1 << 8)]
        );

        // Through the writer: 65535 and 0 in a single FCI entry.
        let nack = Rtcp::Nack {
            sender: Ssrc(1),
            media: Ssrc(2),
            lost: vec![65535, 0],
        };
        let bytes = written(std::slice::from_ref(&nack));
        assert_eq!(bytes.len(), 16);
        assert_eq!(bytes[12..], [0xff, 0xff, 0x00, 0x01]);
        assert_eq!(parse(&bytes), Ok(vec![nack]));
    }

    #[test]
    fn nack_packing_every_sequence_number() {
        let all: Vec<u16> = (0..=u16::MAX).collect();
        let pairs = pack_nack(&all);
        assert_eq!(pairs.len(), 65536_usize.div_ceil(17));
        let mut covered: Vec<u16> = Vec::new();
        for (pid, blp) in pairs {
            covered.push(pid);
            covered.extend(
                (0..16)
                    .filter(|b| blp & (1 << b) != 0)
                    .map(|b| pid.wrapping_add(b + 1)),
            );
        }
        covered.sort_unstable();
        assert_eq!(covered, all);
    }

    #[test]
    fn pli_and_fir_by_hand() {
        let pli = [0x81, 206, 0x00, 0x02, 0, 0, 0, 3, 0, 0, 0, 4];
        let pli_value = Rtcp::Pli {
            sender: Ssrc(3),
            media: Ssrc(4),
        };
        assert_eq!(parse(&pli), Ok(vec![pli_value.clone()]));
        assert_eq!(written(&[pli_value]), pli);

        // RFC 5104 §4.3.1: media SSRC 0, then SSRC + seq + 3 reserved bytes.
        let fir = [
            0x84, 206, 0x00, 0x04, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 6, 9, 0, 0, 0,
        ];
        let fir_value = Rtcp::Fir {
            sender: Ssrc(5),
            entries: vec![(Ssrc(6), 9)],
        };
        assert_eq!(parse(&fir), Ok(vec![fir_value.clone()]));
        assert_eq!(written(&[fir_value]), fir);

        // A FIR with no entries or a partial one is malformed.
        let mut empty = fir[..12].to_vec();
        empty[3] = 2;
        assert_eq!(parse(&empty), Err(RtcpError::Malformed("FIR")));
    }

    #[test]
    fn remb_by_hand() {
        // 1 SSRC, exp 3, mantissa 0x3_0000 + 0x1234 → (0x31234 << 3) bit/s.
        let wire = [
            0x8f,
            206,
            0x00,
            0x05,
            0,
            0,
            0,
            9,
            0,
            0,
            0,
            0,
            b'R',
            b'E',
            b'M',
            b'B',
            1,
            (3 << 2) | 0x03,
            0x12,
            0x34,
            0,
            0,
            0,
            10,
        ];
        let remb = Rtcp::Remb {
            sender: Ssrc(9),
            bitrate: DataRate::from_bps(0x3_1234 << 3),
            ssrcs: vec![Ssrc(10)],
        };
        assert_eq!(parse(&wire), Ok(vec![remb.clone()]));
        assert_eq!(written(&[remb]), wire);
        // Truncated SSRC list.
        let mut short = wire[..20].to_vec();
        short[3] = 4;
        assert_eq!(parse(&short), Err(RtcpError::Malformed("REMB")));
    }

    #[test]
    fn remb_bitrate_encoding() {
        assert_eq!(remb_exp_mantissa(0), (0, 0));
        assert_eq!(remb_exp_mantissa(0x3_ffff), (0, 0x3_ffff));
        assert_eq!(remb_exp_mantissa(0x4_0000), (1, 0x2_0000));
        // Rounded down, never up.
        assert_eq!(remb_exp_mantissa(0x4_0001), (1, 0x2_0000));
        assert_eq!(remb_exp_mantissa(u64::MAX), (46, 0x3_ffff));
        // A wire value above u64 saturates.
        let mut wire = written(&[Rtcp::Remb {
            sender: Ssrc(1),
            bitrate: DataRate::ZERO,
            ssrcs: vec![],
        }]);
        wire[17] = 0xff; // exp 63, mantissa top bits 3
        let parsed = parse(&wire).unwrap();
        assert!(matches!(parsed[..], [Rtcp::Remb { bitrate, .. }] if bitrate.as_bps() == u64::MAX));
    }

    #[test]
    fn bye_with_reason_and_many_ssrcs() {
        // SC 1, reason "hi" (length 2), padded to a word.
        let wire = [0x81, 203, 0x00, 0x02, 0, 0, 0, 1, 2, b'h', b'i', 0];
        assert_eq!(
            parse(&wire),
            Ok(vec![Rtcp::Bye {
                ssrcs: vec![Ssrc(1)]
            }])
        );
        let mut bad = wire;
        bad[8] = 4; // reason runs past the packet
        assert_eq!(parse(&bad), Err(RtcpError::Malformed("BYE")));

        let ssrcs: Vec<Ssrc> = (0..40).map(Ssrc).collect();
        let parsed = parse(&written(&[Rtcp::Bye {
            ssrcs: ssrcs.clone(),
        }]))
        .unwrap();
        assert_eq!(
            parsed,
            vec![
                Rtcp::Bye {
                    ssrcs: ssrcs[..31].to_vec()
                },
                Rtcp::Bye {
                    ssrcs: ssrcs[31..].to_vec()
                }
            ]
        );
    }

    #[test]
    fn packets_we_do_not_act_on_are_other() {
        let cases: [(&[u8], Rtcp); 6] = [
            // SDES: one chunk, CNAME "ab", end.
            (
                &[0x81, 202, 0, 2, 0, 0, 0, 1, 1, 2, b'a', b'b'],
                Rtcp::Other { pt: 202, fmt: 1 },
            ),
            (
                &[0x80, 204, 0, 2, 0, 0, 0, 1, b'n', b'a', b'm', b'e'],
                Rtcp::Other { pt: 204, fmt: 0 },
            ),
            (
                &[0x80, 207, 0, 1, 0, 0, 0, 1],
                Rtcp::Other { pt: 207, fmt: 0 },
            ),
            // TWCC (RTPFB FMT 15), with a token FCI.
            (
                &[0x8f, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 0],
                Rtcp::Other { pt: 205, fmt: 15 },
            ),
            // PSFB FMT 15 that is not REMB, and SLI (FMT 2).
            (
                &[
                    0x8f, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, b'X', b'Y', b'Z', b'W',
                ],
                Rtcp::Other { pt: 206, fmt: 15 },
            ),
            (&[0x80, 199, 0, 0], Rtcp::Other { pt: 199, fmt: 0 }),
        ];
        for (wire, want) in cases {
            assert_eq!(parse(wire), Ok(vec![want.clone()]), "{wire:?}");
            let mut out = vec![1];
            want.write_to(&mut out);
            assert_eq!(out, [1], "Other writes nothing");
        }
    }

    #[test]
    fn compound_with_sdes_parses_in_order() {
        let rr = Rtcp::ReceiverReport(ReceiverReport {
            ssrc: Ssrc(1),
            reports: vec![block(9)],
        });
        let mut wire = written(std::slice::from_ref(&rr));
        wire.extend_from_slice(&[0x81, 202, 0, 2, 0, 0, 0, 1, 1, 2, b'a', b'b']);
        let pli = Rtcp::Pli {
            sender: Ssrc(1),
            media: Ssrc(2),
        };
        pli.write_to(&mut wire);
        assert_eq!(
            parse(&wire),
            Ok(vec![rr, Rtcp::Other { pt: 202, fmt: 1 }, pli])
        );
    }

    #[test]
    fn header_errors() {
        assert_eq!(parse(&[]), Err(RtcpError::TooShort));
        assert_eq!(parse(&[0x80, 201, 0]), Err(RtcpError::TooShort));
        assert_eq!(
            parse(&[0x40, 201, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::BadVersion)
        );
        // Length says 2 words after the header, only 1 present.
        assert_eq!(
            parse(&[0x80, 201, 0, 2, 0, 0, 0, 1]),
            Err(RtcpError::TooShort)
        );
        // Report count 1 but no block.
        assert_eq!(
            parse(&[0x81, 201, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::Malformed("RR"))
        );
        assert_eq!(
            parse(&[0x81, 200, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::Malformed("SR"))
        );
        // Feedback without its two SSRCs.
        assert_eq!(
            parse(&[0x81, 205, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::Malformed("RTPFB"))
        );
        assert_eq!(
            parse(&[0x81, 206, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::Malformed("PSFB"))
        );
        // NACK with no FCI (RFC 4585 §6.2.1 requires one).
        assert_eq!(
            parse(&[0x81, 205, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]),
            Err(RtcpError::Malformed("NACK"))
        );
    }

    #[test]
    fn earlier_packets_stay_on_error() {
        let pli = Rtcp::Pli {
            sender: Ssrc(1),
            media: Ssrc(2),
        };
        let mut wire = written(std::slice::from_ref(&pli));
        wire.extend_from_slice(&[0x80, 201, 0, 5]);
        let mut out = Vec::new();
        assert_eq!(parse_compound(&wire, &mut out), Err(RtcpError::TooShort));
        assert_eq!(out, vec![pli]);
    }

    #[test]
    fn padding() {
        // RR with no blocks, then 4 bytes of padding, P set.
        let wire = [0xa0, 201, 0, 2, 0, 0, 0, 7, 0, 0, 0, 4];
        let rr = Rtcp::ReceiverReport(ReceiverReport {
            ssrc: Ssrc(7),
            reports: vec![],
        });
        assert_eq!(parse(&wire), Ok(vec![rr]));
        // Zero count, and a count past the header.
        let mut bad = wire;
        bad[11] = 0;
        assert_eq!(parse(&bad), Err(RtcpError::Malformed("padded")));
        bad[11] = 9;
        assert_eq!(parse(&bad), Err(RtcpError::Malformed("padded")));
        // Padding that eats into a report block makes the count not fit.
        let mut eats = wire;
        eats[0] = 0xa1;
        eats[11] = 8;
        assert_eq!(parse(&eats), Err(RtcpError::Malformed("RR")));
    }

    /// Pseudo-random, truncated and mutated inputs: parsing returns, and whatever parses is
    /// written back in a form that parses to the same packets.
    #[test]
    fn random_input_never_panics() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x72746370);
        let seed = written(&samples());
        let mut parsed_ok = 0;
        for i in 0..20_000 {
            let buf: Vec<u8> = if i % 3 == 0 {
                let len: usize = rng.gen_range(0..80);
                let mut b: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
                if b.len() >= 4 {
                    b[0] = (b[0] & 0x3f) | 0x80;
                    b[1] = rng.gen_range(199..=208);
                    b[2] = 0;
                    b[3] = (b[3] % 20).min((len / 4).saturating_sub(1) as u8);
                }
                b
            } else {
                let mut b = seed.clone();
                for _ in 0..rng.gen_range(1..4) {
                    let at = rng.gen_range(0..b.len());
                    b[at] = rng.r#gen();
                }
                let cut = rng.gen_range(0..=b.len());
                if i % 2 == 0 {
                    b[cut..].to_vec()
                } else {
                    b[..cut].to_vec()
                }
            };
            let mut out = Vec::new();
            if parse_compound(&buf, &mut out).is_ok() {
                parsed_ok += 1;
            }
            // Partial results are written back too.
            let again = written(&out);
            let reparsed = parse(&again);
            if !again.is_empty() {
                assert!(reparsed.is_ok(), "{out:?} wrote {again:?}");
                assert_eq!(written(&reparsed.unwrap()), again);
            }
        }
        assert!(parsed_ok > 500, "only {parsed_ok} inputs parsed");
    }
}
