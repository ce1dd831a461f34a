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
