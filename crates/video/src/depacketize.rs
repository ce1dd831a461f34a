//! RFC 6184 depacketizer (packetization modes 0 and 1): single NAL unit packets, STAP-A and
//! FU-A, assembled into access units by RTP timestamp and marker bit.
//!
//! Loss policy: a sequence gap or a malformed packet breaks the frame being assembled; the
//! frame is dropped and every following frame too until an IDR arrives, and each dropped frame
//! emits [`DepacketizerOutput::NeedKeyframe`] (the caller rate-limits the PLI/FIR it sends).
//! There is no reorder buffer: a packet that arrives after its successor counts as lost, which
//! on a LAN-grade path to the bridge is rare and costs one keyframe.

use std::collections::VecDeque;

use crate::h264::{
    FU_A, FU_B, MTAP16, MTAP24, NAL_IDR, NAL_PPS, NAL_SPS, STAP_A, STAP_B, START_CODE, nal_type,
};

/// Largest access unit we assemble. A 1080p IDR at a high bitrate is a few hundred kB; past
/// this we assume garbage rather than buffering without bound.
const MAX_FRAME_BYTES: usize = 4 << 20;
/// Largest SPS or PPS we keep; real ones are tens of bytes.
const MAX_PARAMETER_SET_BYTES: usize = 256;

/// One complete access unit in Annex-B form (each NAL unit behind a 4-byte start code),
/// ready for a decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// RTP timestamp (90 kHz) of the frame.
    pub rtp_timestamp: u32,
    /// The frame holds an IDR slice and the SPS/PPS it needs (prepended from earlier packets
    /// if the sender sent them separately): a decoder can start here.
    pub keyframe: bool,
    /// Annex-B byte stream.
    pub data: Vec<u8>,
}

/// What the depacketizer has for its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DepacketizerOutput {
    /// A complete, decodable access unit.
    Frame(AccessUnit),
    /// A frame was dropped (loss, malformed payload, or no keyframe to start from): ask the
    /// sender for a keyframe (PLI/FIR, or SIP INFO `picture_fast_update`).
    NeedKeyframe,
}

/// Counters for what the depacketizer has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DepacketizerStats {
    /// RTP packets handed in.
    pub packets: u64,
    /// Access units emitted.
    pub frames: u64,
    /// Frames dropped because a packet was lost or malformed.
    pub frames_dropped_broken: u64,
    /// Complete frames dropped while waiting for a keyframe.
    pub frames_dropped_waiting: u64,
    /// Packets older than the last one seen (late or duplicated), ignored.
    pub packets_late: u64,
}

#[derive(Debug)]
struct Partial {
    rtp_timestamp: u32,
    data: Vec<u8>,
    broken: bool,
    has_idr: bool,
    has_sps: bool,
    has_pps: bool,
    has_slice: bool,
    /// NAL header of an FU-A in progress, and where its NAL unit starts in `data`.
    fu_header: Option<u8>,
    fu_start: usize,
}

impl Partial {
    fn new(rtp_timestamp: u32) -> Self {
        Self {
            rtp_timestamp,
            data: Vec::new(),
            broken: false,
            has_idr: false,
            has_sps: false,
            has_pps: false,
            has_slice: false,
            fu_header: None,
            fu_start: 0,
        }
    }
}

/// Assembles H.264 RTP payloads of one stream (one SSRC) into access units.
///
/// Push packets with [`Depacketizer::push`] in arrival order, then drain
/// [`Depacketizer::poll_output`] until `None`.
#[derive(Debug)]
pub struct Depacketizer {
    last_seq: Option<u16>,
    partial: Option<Partial>,
    /// Drop everything up to the next IDR (start of stream, or after loss).
    waiting_for_keyframe: bool,
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    out: VecDeque<DepacketizerOutput>,
    stats: DepacketizerStats,
}

impl Default for Depacketizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Depacketizer {
    /// A depacketizer that waits for the stream's first keyframe.
    pub fn new() -> Self {
        Self {
            last_seq: None,
            partial: None,
            waiting_for_keyframe: true,
            sps: None,
            pps: None,
            out: VecDeque::new(),
            stats: DepacketizerStats::default(),
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> DepacketizerStats {
        self.stats
    }

    /// Whether frames are being dropped until the next IDR.
    pub fn waiting_for_keyframe(&self) -> bool {
        self.waiting_for_keyframe
    }

    /// Hands in one RTP packet's payload (after the RTP header and any padding).
    pub fn push(&mut self, seq: u16, rtp_timestamp: u32, marker: bool, payload: &[u8]) {
        self.stats.packets += 1;
        if let Some(last) = self.last_seq {
            let delta = seq.wrapping_sub(last) as i16;
            if delta <= 0 {
                // Late or duplicate: its frame is already finished or marked broken.
                self.stats.packets_late += 1;
                return;
            }
            if delta > 1 {
                // RFC 3550 sequence gap: whatever was being assembled misses a piece. If the
                // gap fell between frames (after a marker) we cannot tell; the next frame is
                // treated as damaged too, since its first packets may be the lost ones.
                match &mut self.partial {
                    Some(p) => p.broken = true,
                    None => {
                        let mut p = Partial::new(rtp_timestamp);
                        p.broken = true;
                        self.partial = Some(p);
                    }
                }
            }
        }
        self.last_seq = Some(seq);

        if self
            .partial
            .as_ref()
            .is_some_and(|p| p.rtp_timestamp != rtp_timestamp)
        {
            // A new timestamp without the old frame's marker: the sender does not set it
            // (allowed for a lossless previous frame), or the marker packet was lost (then the
            // frame is already broken by the gap).
            self.finish();
        }
        let partial = self
            .partial
            .get_or_insert_with(|| Partial::new(rtp_timestamp));
        if !partial.broken {
            if let Err(()) = Self::parse_payload(partial, payload, &mut self.sps, &mut self.pps) {
                partial.broken = true;
            }
            if partial.data.len() > MAX_FRAME_BYTES {
                partial.broken = true;
                partial.data = Vec::new();
            }
        }
        if marker {
            self.finish();
        }
    }

    /// The next output, in order.
    pub fn poll_output(&mut self) -> Option<DepacketizerOutput> {
        self.out.pop_front()
    }

    fn parse_payload(
        p: &mut Partial,
        payload: &[u8],
        sps: &mut Option<Vec<u8>>,
        pps: &mut Option<Vec<u8>>,
    ) -> Result<(), ()> {
        let &header = payload.first().ok_or(())?;
        if header & 0x80 != 0 {
            // forbidden_zero_bit set: the sender says this is corrupt (RFC 6184 §5.3).
            return Err(());
        }
        let typ = nal_type(header);
        if typ != FU_A && p.fu_header.is_some() {
            // An FU-A was interrupted (its end fragment never came).
            return Err(());
        }
        match typ {
            1..=23 => Self::add_nal(p, payload, sps, pps),
            STAP_A => {
                // RFC 6184 §5.7.1: [STAP-A hdr] then (16-bit size, NAL unit)+.
                let mut rest = &payload[1..];
                if rest.is_empty() {
                    return Err(());
                }
                while !rest.is_empty() {
                    let [a, b, tail @ ..] = rest else {
                        return Err(());
                    };
                    let size = usize::from(u16::from_be_bytes([*a, *b]));
                    if size == 0 || size > tail.len() {
                        return Err(());
                    }
                    let nal = &tail[..size];
                    if nal[0] & 0x80 != 0 || !(1..=23).contains(&nal_type(nal[0])) {
                        return Err(());
                    }
                    Self::add_nal(p, nal, sps, pps)?;
                    rest = &tail[size..];
                }
                Ok(())
            }
            FU_A => {
                // RFC 6184 §5.8: FU indicator (F NRI 28), FU header (S E R type), fragment.
                let [indicator, fu, fragment @ ..] = payload else {
                    return Err(());
                };
                let start = fu & 0x80 != 0;
                let end = fu & 0x40 != 0;
                let inner = nal_type(*fu);
                if (start && end) || !(1..=23).contains(&inner) {
                    return Err(());
                }
                let nal_header = (indicator & 0xe0) | inner;
                if start {
                    if p.fu_header.is_some() {
                        return Err(());
                    }
                    p.fu_header = Some(nal_header);
                    p.data.extend_from_slice(&START_CODE);
                    p.fu_start = p.data.len();
                    p.data.push(nal_header);
                    Self::note_type(p, inner);
                } else if p.fu_header != Some(nal_header) {
                    // A middle or end fragment without its start: the start was lost.
                    return Err(());
                }
                p.data.extend_from_slice(fragment);
                if end {
                    p.fu_header = None;
                    let nal = &p.data[p.fu_start..];
                    if !well_formed(nal) {
                        return Err(());
                    }
                    if matches!(inner, NAL_SPS | NAL_PPS) {
                        // A fragmented parameter set is legal but odd; remember it too.
                        let nal = nal.to_vec();
                        Self::remember_parameter_set(&nal, sps, pps);
                    }
                }
                Ok(())
            }
            STAP_B | MTAP16 | MTAP24 | FU_B => Err(()), // interleaved mode: not negotiated
            _ => Err(()),                               // 0, 30, 31: reserved
        }
    }

    fn add_nal(
        p: &mut Partial,
        nal: &[u8],
        sps: &mut Option<Vec<u8>>,
        pps: &mut Option<Vec<u8>>,
    ) -> Result<(), ()> {
        if !well_formed(nal) {
            return Err(());
        }
        let typ = nal_type(nal[0]);
        Self::note_type(p, typ);
        if matches!(typ, NAL_SPS | NAL_PPS) {
            Self::remember_parameter_set(nal, sps, pps);
        }
        p.data.extend_from_slice(&START_CODE);
        p.data.extend_from_slice(nal);
        Ok(())
    }

    fn note_type(p: &mut Partial, typ: u8) {
        match typ {
            NAL_IDR => {
                p.has_idr = true;
                p.has_slice = true;
            }
            NAL_SPS => p.has_sps = true,
            NAL_PPS => p.has_pps = true,
            1..=4 => p.has_slice = true,
            _ => {}
        }
    }

    fn remember_parameter_set(nal: &[u8], sps: &mut Option<Vec<u8>>, pps: &mut Option<Vec<u8>>) {
        if nal.len() > MAX_PARAMETER_SET_BYTES {
            return;
        }
        match nal_type(nal[0]) {
            NAL_SPS => *sps = Some(nal.to_vec()),
            NAL_PPS => *pps = Some(nal.to_vec()),
            _ => {}
        }
    }

    /// Ends the frame being assembled: emit it, or drop it and ask for a keyframe.
    fn finish(&mut self) {
        let Some(mut p) = self.partial.take() else {
            return;
        };
        if p.fu_header.is_some() {
            // Marker on a packet that did not end the FU-A: the end fragment is missing.
            p.broken = true;
        }
        if p.broken {
            self.stats.frames_dropped_broken += 1;
            self.waiting_for_keyframe = true;
            self.out.push_back(DepacketizerOutput::NeedKeyframe);
            return;
        }
        if !p.has_slice {
            // Parameter sets (already remembered) or SEI alone: nothing to show.
            return;
        }
        let keyframe = if p.has_idr {
            if p.has_sps && p.has_pps {
                true
            } else if let (Some(sps), Some(pps)) = (&self.sps, &self.pps) {
                // The sender sent SPS/PPS in an earlier packet with another timestamp (or
                // once, at the start): put them in front so the frame decodes on its own.
                let mut data = Vec::with_capacity(p.data.len() + sps.len() + pps.len() + 8);
                for ps in [sps, pps] {
                    data.extend_from_slice(&START_CODE);
                    data.extend_from_slice(ps);
                }
                data.extend_from_slice(&p.data);
                p.data = data;
                true
            } else {
                // An IDR we cannot decode: no SPS/PPS was ever seen.
                false
            }
        } else {
            false
        };
        if keyframe {
            self.waiting_for_keyframe = false;
        } else if self.waiting_for_keyframe {
            self.stats.frames_dropped_waiting += 1;
            self.out.push_back(DepacketizerOutput::NeedKeyframe);
            return;
        }
        self.stats.frames += 1;
        self.out.push_back(DepacketizerOutput::Frame(AccessUnit {
            rtp_timestamp: p.rtp_timestamp,
            keyframe,
            data: p.data,
        }));
    }
}

/// H.264 §7.4.1: inside a NAL unit `00 00 00`, `00 00 01` and `00 00 02` never occur at a
/// byte-aligned position (encoders insert emulation prevention bytes), and its last byte is
/// not zero. A NAL unit breaking this would be split differently by every Annex-B reader
/// (decoder, recorder, ffmpeg), so it is treated as corrupt.
fn well_formed(nal: &[u8]) -> bool {
    if nal.last() == Some(&0) {
        return false;
    }
    let mut zeros = 0usize;
    for &b in nal {
        if zeros >= 2 && b <= 2 {
            return false; // 00 00 00, 00 00 01 or 00 00 02
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    true
}
