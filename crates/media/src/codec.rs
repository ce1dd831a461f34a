//! Codecs the core knows by name, and keyframe detection for the video ones.

use std::fmt;

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
}

/// A codec the core can forward. Forwarding never looks inside audio payloads; for video it
/// only needs to recognise the start of a keyframe, to switch the main window cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    Opus,
    Pcmu,
    Pcma,
    G722,
    H264,
    Vp8,
    Vp9,
}

impl Codec {
    pub fn kind(self) -> MediaKind {
        match self {
            Self::Opus | Self::Pcmu | Self::Pcma | Self::G722 => MediaKind::Audio,
            Self::H264 | Self::Vp8 | Self::Vp9 => MediaKind::Video,
        }
    }

    /// The RTP clock rate. G.722 is 8000 by a historical error of RFC 1890 that RFC 3551 §4.5.2
    /// kept, although it samples at 16 kHz.
    pub fn clock_rate(self) -> u32 {
        match self {
            Self::Opus => 48_000,
            Self::Pcmu | Self::Pcma | Self::G722 => 8_000,
            Self::H264 | Self::Vp8 | Self::Vp9 => 90_000,
        }
    }

    /// Whether an RTP payload of this codec begins a keyframe (a point where a decoder can
    /// start). Audio payloads are always decodable on their own.
    pub fn is_keyframe_start(self, payload: &[u8]) -> bool {
        match self {
            Self::H264 => h264_is_keyframe_start(payload),
            Self::Vp8 => vp8_is_keyframe_start(payload),
            Self::Vp9 => vp9_is_keyframe_start(payload),
            _ => true,
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Opus => "opus",
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            Self::G722 => "G722",
            Self::H264 => "H264",
            Self::Vp8 => "VP8",
            Self::Vp9 => "VP9",
        })
    }
}

// H.264 NAL unit types (ITU-T H.264 Table 7-1) and RTP packetization types (RFC 6184 §5.2).
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const STAP_A: u8 = 24;
const FU_A: u8 = 28;

/// RFC 6184: a single NAL unit, STAP-A or FU-A (start fragment) carrying an SPS or IDR slice.
/// Browsers and room systems send SPS+PPS ahead of every IDR, usually in one STAP-A.
fn h264_is_keyframe_start(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    match first & 0x1f {
        NAL_SPS | NAL_IDR => true,
        STAP_A => {
            // STAP-A: [hdr] then (size u16, NAL)*; RFC 6184 §5.7.1.
            let mut rest = &payload[1..];
            while rest.len() >= 3 {
                let size = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                let nal_type = rest[2] & 0x1f;
                if nal_type == NAL_SPS || nal_type == NAL_IDR {
                    return true;
                }
                rest = rest.get(2 + size..).unwrap_or(&[]);
            }
            false
        }
        FU_A => {
            // FU indicator, FU header (S E R type); RFC 6184 §5.8.
            match payload.get(1) {
                Some(&fu) => fu & 0x80 != 0 && matches!(fu & 0x1f, NAL_SPS | NAL_IDR),
                None => false,
            }
        }
        _ => false,
    }
}

/// RFC 7741 §4.3: VP8 payload descriptor, then (at the start of a partition 0 with S=1,
/// PID=0) the VP8 frame header whose lowest bit P is 0 for a key frame.
fn vp8_is_keyframe_start(payload: &[u8]) -> bool {
    let Some(&d0) = payload.first() else {
        return false;
    };
    let start_of_partition = d0 & 0x10 != 0;
    let pid = d0 & 0x07;
    if !start_of_partition || pid != 0 {
        return false;
    }
    let mut i = 1;
    if d0 & 0x80 != 0 {
        // X: extension byte with I L T K flags.
        let Some(&x) = payload.get(i) else {
            return false;
        };
        i += 1;
        if x & 0x80 != 0 {
            // I: PictureID, 7 or 15 bits.
            let Some(&p) = payload.get(i) else {
                return false;
            };
            i += if p & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1; // L: TL0PICIDX
        }
        if x & 0x30 != 0 {
            i += 1; // T/K: TID|Y|KEYIDX
        }
    }
    match payload.get(i) {
        Some(&hdr) => hdr & 0x01 == 0,
        None => false,
    }
}

/// VP9 payload descriptor (RFC 9628 §4.2): B (start of frame) set and P (inter-picture
/// predicted) clear.
fn vp9_is_keyframe_start(payload: &[u8]) -> bool {
    match payload.first() {
        Some(&d0) => d0 & 0x08 != 0 && d0 & 0x40 == 0,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_keyframes() {
        assert!(Codec::H264.is_keyframe_start(&[0x67, 0x42]));
        assert!(Codec::H264.is_keyframe_start(&[0x65, 0x88]));
        assert!(!Codec::H264.is_keyframe_start(&[0x41, 0x9a]));
        // STAP-A with SPS inside.
        assert!(Codec::H264.is_keyframe_start(&[0x78, 0x00, 0x02, 0x67, 0x42]));
        // STAP-A with a non-IDR slice only.
        assert!(!Codec::H264.is_keyframe_start(&[0x78, 0x00, 0x02, 0x41, 0x42]));
        // FU-A start of IDR, and a middle fragment of it.
        assert!(Codec::H264.is_keyframe_start(&[0x7c, 0x85, 0x00]));
        assert!(!Codec::H264.is_keyframe_start(&[0x7c, 0x05, 0x00]));
        // Truncated or empty never panics.
        assert!(!Codec::H264.is_keyframe_start(&[]));
        assert!(!Codec::H264.is_keyframe_start(&[0x7c]));
        assert!(!Codec::H264.is_keyframe_start(&[0x78, 0xff, 0xff]));
    }

    #[test]
    fn vp8_keyframes() {
        // S=1 PID=0, no extension, frame header P=0.
        assert!(Codec::Vp8.is_keyframe_start(&[0x10, 0x00]));
        assert!(!Codec::Vp8.is_keyframe_start(&[0x10, 0x01]));
        // X with 15-bit picture id.
        assert!(Codec::Vp8.is_keyframe_start(&[0x90, 0x80, 0x81, 0x23, 0x00]));
        assert!(!Codec::Vp8.is_keyframe_start(&[0x00, 0x00]));
        assert!(!Codec::Vp8.is_keyframe_start(&[0x90]));
    }
}
