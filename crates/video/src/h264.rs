//! H.264 NAL unit helpers: types (ITU-T H.264 Table 7-1), RTP packetization types (RFC 6184
//! §5.2) and Annex-B byte streams (H.264 Annex B: `00 00 01` / `00 00 00 01` start codes).

/// Coded slice of a non-IDR picture.
pub const NAL_SLICE: u8 = 1;
/// Coded slice of an IDR picture: a keyframe.
pub const NAL_IDR: u8 = 5;
/// Supplemental enhancement information.
pub const NAL_SEI: u8 = 6;
/// Sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// Picture parameter set.
pub const NAL_PPS: u8 = 8;
/// Access unit delimiter.
pub const NAL_AUD: u8 = 9;
/// RFC 6184 §5.7.1: single-time aggregation packet.
pub const STAP_A: u8 = 24;
/// RFC 6184 §5.7.1: STAP-B (interleaved mode only, not supported).
pub const STAP_B: u8 = 25;
/// RFC 6184 §5.7.2: MTAP16 (interleaved mode only, not supported).
pub const MTAP16: u8 = 26;
/// RFC 6184 §5.7.2: MTAP24 (interleaved mode only, not supported).
pub const MTAP24: u8 = 27;
/// RFC 6184 §5.8: fragmentation unit A.
pub const FU_A: u8 = 28;
/// RFC 6184 §5.8: fragmentation unit B (interleaved mode only, not supported).
pub const FU_B: u8 = 29;

/// The 4-byte Annex-B start code we write in front of every NAL unit.
pub const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// The `nal_unit_type` of a NAL unit header byte.
pub const fn nal_type(header: u8) -> u8 {
    header & 0x1f
}

/// An access unit in the MP4 sample form (ISO/IEC 14496-15 "AVCC"): each NAL unit behind a
/// 4-byte big-endian length, the parameter sets taken out (they go in the `avcC` box) and
/// access unit delimiters dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Avcc<'a> {
    pub sample: Vec<u8>,
    /// The last SPS and PPS in the access unit, if it had them (an IDR from our encoder does).
    pub sps: Option<&'a [u8]>,
    pub pps: Option<&'a [u8]>,
}

/// Converts an Annex-B access unit to [`Avcc`].
pub fn annexb_to_avcc(annexb: &[u8]) -> Avcc<'_> {
    let mut out = Avcc {
        sample: Vec::with_capacity(annexb.len()),
        ..Avcc::default()
    };
    for nal in annexb_nal_units(annexb) {
        match nal_type(nal[0]) {
            NAL_SPS => out.sps = Some(nal),
            NAL_PPS => out.pps = Some(nal),
            NAL_AUD => {}
            _ => {
                let len = u32::try_from(nal.len()).unwrap_or(u32::MAX);
                out.sample.extend_from_slice(&len.to_be_bytes());
                out.sample.extend_from_slice(nal);
            }
        }
    }
    out
}

/// Splits an Annex-B byte stream into NAL units (start codes removed, trailing zero bytes of
/// a 4-byte start code trimmed). Bytes before the first start code are skipped; empty NAL
/// units are not returned.
pub fn annexb_nal_units(stream: &[u8]) -> AnnexBIter<'_> {
    let pos = find_start_code(stream, 0).map_or(stream.len(), |(_, end)| end);
    AnnexBIter { stream, pos }
}

/// Iterator returned by [`annexb_nal_units`].
#[derive(Debug, Clone)]
pub struct AnnexBIter<'a> {
    stream: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for AnnexBIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while self.pos < self.stream.len() {
            let start = self.pos;
            let (end, next) = match find_start_code(self.stream, start) {
                Some((at, after)) => (at, after),
                None => (self.stream.len(), self.stream.len()),
            };
            self.pos = next;
            let mut nal = &self.stream[start..end];
            // A 4-byte start code leaves its leading zero on the previous NAL unit.
            while let [rest @ .., 0] = nal {
                nal = rest;
            }
            if !nal.is_empty() {
                return Some(nal);
            }
        }
        None
    }
}

/// Finds the next `00 00 01` at or after `from`: returns (index of its first byte, index
/// just after it).
fn find_start_code(s: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 3 <= s.len() {
        if s[i + 2] > 1 {
            i += 3;
        } else if s[i] == 0 && s[i + 1] == 0 && s[i + 2] == 1 {
            return Some((i, i + 3));
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_takes_out_parameter_sets_and_delimiters_and_prefixes_lengths() {
        let au = [
            0, 0, 0, 1, 0x09, 0xf0, // AUD
            0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, // SPS
            0, 0, 1, 0x68, 0xce, // PPS
            0, 0, 0, 1, 0x65, 0x88, 0x84, // IDR slice
            0, 0, 1, 0x06, 0x05, // SEI
        ];
        let a = annexb_to_avcc(&au);
        assert_eq!(a.sps, Some(&[0x67, 0x42, 0xc0, 0x1f][..]));
        assert_eq!(a.pps, Some(&[0x68, 0xce][..]));
        assert_eq!(
            a.sample,
            [0, 0, 0, 3, 0x65, 0x88, 0x84, 0, 0, 0, 2, 0x06, 0x05]
        );
        let p = annexb_to_avcc(&[0, 0, 1, 0x41, 0x9a]);
        assert_eq!((p.sps, p.pps), (None, None));
        assert_eq!(p.sample, [0, 0, 0, 2, 0x41, 0x9a]);
        assert_eq!(annexb_to_avcc(&[]), Avcc::default());
    }

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        let s = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5,
        ];
        let nals: Vec<&[u8]> = annexb_nal_units(&s).collect();
        assert_eq!(
            nals,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]
        );
    }

    #[test]
    fn no_start_code_gives_nothing() {
        assert_eq!(annexb_nal_units(&[0x65, 1, 2, 3]).count(), 0);
        assert_eq!(annexb_nal_units(&[]).count(), 0);
        assert_eq!(annexb_nal_units(&[0, 0, 1]).count(), 0);
    }
}
