//! RFC 6184 packetizer, packetization-mode 1 (non-interleaved): small NAL units of one frame
//! aggregated into STAP-A (SPS + PPS always are), large ones split into FU-A, the marker bit on
//! the last packet of each frame (RFC 6184 §5.1), one continuous sequence-number space.

use bytes::{BufMut, Bytes, BytesMut};

use crate::h264::{FU_A, STAP_A, nal_type};

/// Payload bytes per packet by default: 1200 leaves room for the RTP header (12), header
/// extensions (~20), SRTP (10–16), a TURN/IPv6 overhead (~100) under a 1500-byte Ethernet MTU,
/// the same budget WebRTC stacks use.
pub const DEFAULT_MAX_PAYLOAD: usize = 1200;
/// Smallest payload size we accept: an FU-A needs 2 header bytes plus some data.
const MIN_MAX_PAYLOAD: usize = 16;

/// One RTP packet's worth of H.264 payload, with the header fields the sender writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPayload {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp (90 kHz).
    pub timestamp: u32,
    /// Set on the last packet of a frame.
    pub marker: bool,
    /// The H.264 RTP payload (single NAL unit, STAP-A or FU-A).
    pub payload: Bytes,
}

/// Packetizes access units into RTP payloads with a continuous sequence-number space.
#[derive(Debug, Clone)]
pub struct Packetizer {
    max_payload: usize,
    next_seq: u16,
}

impl Packetizer {
    /// A packetizer whose payloads never exceed `max_payload` bytes (clamped to at least 16),
    /// starting at sequence number `first_seq`.
    pub fn new(max_payload: usize, first_seq: u16) -> Self {
        Self {
            max_payload: max_payload.max(MIN_MAX_PAYLOAD),
            next_seq: first_seq,
        }
    }

    /// The sequence number the next packet will carry.
    pub fn next_seq(&self) -> u16 {
        self.next_seq
    }

    /// Packetizes one frame given as NAL units (without start codes), appending the packets to
    /// `out`. Empty NAL units are skipped; a frame with none produces no packet.
    pub fn packetize<'a>(
        &mut self,
        timestamp: u32,
        nal_units: impl IntoIterator<Item = &'a [u8]>,
        out: &mut Vec<RtpPayload>,
    ) {
        let first = out.len();
        let mut stap: Vec<&[u8]> = Vec::new();
        let mut stap_len = 1; // STAP-A header byte
        for nal in nal_units.into_iter().filter(|n| !n.is_empty()) {
            let aggregated = 2 + nal.len();
            if stap_len + aggregated <= self.max_payload {
                stap.push(nal);
                stap_len += aggregated;
                continue;
            }
            self.flush_stap(timestamp, &mut stap, out);
            stap_len = 1;
            if aggregated < self.max_payload {
                // Might still share a STAP-A with the next one.
                stap.push(nal);
                stap_len += aggregated;
            } else if nal.len() <= self.max_payload {
                // Fits as a single NAL unit packet. (FU-A for it would be one fragment with
                // both S and E set, which RFC 6184 §5.8 forbids.)
                self.push(timestamp, Bytes::copy_from_slice(nal), out);
            } else {
                self.fragment(timestamp, nal, out);
            }
        }
        self.flush_stap(timestamp, &mut stap, out);
        if let Some(last) = out[first..].last_mut() {
            last.marker = true;
        }
    }

    /// Emits the pending NAL units: alone as a single NAL unit packet, or as a STAP-A.
    fn flush_stap(&mut self, timestamp: u32, stap: &mut Vec<&[u8]>, out: &mut Vec<RtpPayload>) {
        match stap.as_slice() {
            [] => {}
            [single] => {
                let payload = Bytes::copy_from_slice(single);
                self.push(timestamp, payload, out);
            }
            nals => {
                // RFC 6184 §5.7.1: F is the OR of the aggregated F bits, NRI their maximum.
                let f = nals.iter().fold(0, |acc, n| acc | (n[0] & 0x80));
                let nri = nals.iter().map(|n| n[0] & 0x60).max().unwrap_or(0);
                let len = 1 + nals.iter().map(|n| 2 + n.len()).sum::<usize>();
                let mut buf = BytesMut::with_capacity(len);
                buf.put_u8(f | nri | STAP_A);
                for nal in nals {
                    // Fits: we only aggregate while the STAP-A stays under max_payload.
                    buf.put_u16(nal.len() as u16);
                    buf.put_slice(nal);
                }
                self.push(timestamp, buf.freeze(), out);
            }
        }
        stap.clear();
    }

    /// RFC 6184 §5.8: FU-A fragments of one NAL unit too large for a packet.
    fn fragment(&mut self, timestamp: u32, nal: &[u8], out: &mut Vec<RtpPayload>) {
        let header = nal[0];
        let indicator = (header & 0xe0) | FU_A;
        let typ = nal_type(header);
        let body = &nal[1..];
        let chunk = self.max_payload - 2;
        let count = body.len().div_ceil(chunk);
        for (i, piece) in body.chunks(chunk).enumerate() {
            let mut fu = typ;
            if i == 0 {
                fu |= 0x80; // S
            }
            if i + 1 == count {
                fu |= 0x40; // E
            }
            let mut buf = BytesMut::with_capacity(2 + piece.len());
            buf.put_u8(indicator);
            buf.put_u8(fu);
            buf.put_slice(piece);
            self.push(timestamp, buf.freeze(), out);
        }
    }

    fn push(&mut self, timestamp: u32, payload: Bytes, out: &mut Vec<RtpPayload>) {
        out.push(RtpPayload {
            seq: self.next_seq,
            timestamp,
            marker: false,
            payload,
        });
        self.next_seq = self.next_seq.wrapping_add(1);
    }
}
