//! What the tool puts in its packets: real Opus frames (so the bridge's mixer can decode what
//! SIP callers hear) carrying a send stamp in Opus padding, H.264-shaped video, G.711 tones and
//! RFC 4733 telephone-events.

use std::f32::consts::TAU;
use std::sync::OnceLock;
use std::time::Instant;

/// Bytes of the stamp: send time (µs since the process epoch, u64) + sequence (u32).
pub(crate) const STAMP_LEN: usize = 12;

/// One process-wide origin for send stamps: publisher and subscriber live in this process.
pub(crate) fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Microseconds since [`epoch`].
pub(crate) fn now_us() -> u64 {
    epoch().elapsed().as_micros() as u64
}

fn stamp_bytes(sent_us: u64, seq: u32) -> [u8; STAMP_LEN] {
    let mut b = [0; STAMP_LEN];
    b[..8].copy_from_slice(&sent_us.to_be_bytes());
    b[8..].copy_from_slice(&seq.to_be_bytes());
    b
}

fn read_stamp(b: &[u8]) -> Option<(u64, u32)> {
    let b: &[u8; STAMP_LEN] = b.try_into().ok()?;
    let sent = u64::from_be_bytes(b[..8].try_into().ok()?);
    let seq = u32::from_be_bytes(b[8..].try_into().ok()?);
    Some((sent, seq))
}

/// An Opus packet (RFC 6716 §3.1) with the stamp in its padding: the single frame of a code-0
/// packet is re-framed as code 3 (one CBR frame, padding flag set, §3.2.5), whose padding
/// bytes decoders must ignore — the packet decodes to the same audio.
pub(crate) fn stamped_opus(code0: &[u8], sent_us: u64, seq: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(code0.len() + 3 + STAMP_LEN);
    p.push((code0[0] & !0x03) | 0x03);
    p.push(0x40 | 1); // p = 1, one frame
    p.push(STAMP_LEN as u8);
    p.extend_from_slice(&code0[1..]);
    p.extend_from_slice(&stamp_bytes(sent_us, seq));
    p
}

/// The stamp of an Opus packet made by [`stamped_opus`].
pub(crate) fn opus_stamp(p: &[u8]) -> Option<(u64, u32)> {
    if p.len() < 3 + STAMP_LEN || p[0] & 0x03 != 0x03 || p[1] != 0x41 || p[2] as usize != STAMP_LEN
    {
        return None;
    }
    read_stamp(&p[p.len() - STAMP_LEN..])
}

/// Pre-encoded 20 ms Opus frames (48 kHz mono, code 0): a loud tone and a near-silent one.
pub(crate) struct OpusFrames {
    pub(crate) loud: Vec<Vec<u8>>,
    pub(crate) quiet: Vec<Vec<u8>>,
}

impl OpusFrames {
    pub(crate) fn get() -> &'static Self {
        static FRAMES: OnceLock<OpusFrames> = OnceLock::new();
        FRAMES.get_or_init(|| Self {
            loud: encode_tone(0.3),
            quiet: encode_tone(0.0005),
        })
    }
}

fn encode_tone(amplitude: f32) -> Vec<Vec<u8>> {
    // Constant bitrate so every frame is code 0 of the same size (~80 bytes at 32 kbit/s).
    let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)
        .expect("an Opus encoder for 48 kHz mono");
    let _ = enc.set_vbr(false);
    let _ = enc.set_bitrate(opus::Bitrate::Bits(32_000));
    let mut out = Vec::new();
    let mut phase = 0f32;
    for _ in 0..50 {
        let pcm: Vec<f32> = (0..960)
            .map(|_| {
                phase = (phase + TAU * 440.0 / 48_000.0) % TAU;
                amplitude * phase.sin()
            })
            .collect();
        let mut buf = [0u8; 400];
        let n = enc
            .encode_float(&pcm, &mut buf)
            .expect("Opus encodes a tone");
        out.push(buf[..n].to_vec());
    }
    out
}

/// RTP payloads of one H.264 frame (RFC 6184): FU-A fragments of `size` bytes of slice data,
/// the first carrying the stamp; a keyframe is IDR (type 5) preceded by a STAP-A of SPS+PPS.
pub(crate) fn h264_frame(size: usize, key: bool, sent_us: u64, seq: u32) -> Vec<Vec<u8>> {
    const MAX: usize = 1100;
    let nal_type = if key { 5 } else { 1 };
    let mut data = stamp_bytes(sent_us, seq).to_vec();
    data.resize(size.max(STAMP_LEN), 0xa5);
    let mut out = Vec::new();
    if key {
        // STAP-A (type 24): SPS (42e01f) and PPS, each with its 16-bit size.
        let sps = [0x67, 0x42, 0xe0, 0x1f, 0x8c, 0x8d, 0x40, 0x50, 0x1e, 0xd0];
        let pps = [0x68, 0xce, 0x3c, 0x80];
        let mut stap = vec![0x78];
        for nal in [&sps[..], &pps[..]] {
            stap.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            stap.extend_from_slice(nal);
        }
        out.push(stap);
    }
    let chunks: Vec<&[u8]> = data.chunks(MAX).collect();
    let last = chunks.len() - 1;
    for (i, c) in chunks.into_iter().enumerate() {
        let mut p = Vec::with_capacity(c.len() + 2);
        p.push(0x60 | 28); // FU indicator: NRI 3, type 28
        let se = match (i == 0, i == last) {
            (true, true) => 0xc0,
            (true, false) => 0x80,
            (false, true) => 0x40,
            (false, false) => 0,
        };
        p.push(se | nal_type);
        p.extend_from_slice(c);
        out.push(p);
    }
    out
}

/// The stamp of the first FU-A fragment of a frame made by [`h264_frame`].
pub(crate) fn h264_stamp(p: &[u8]) -> Option<(u64, u32)> {
    if p.len() < 2 + STAMP_LEN || p[0] & 0x1f != 28 || p[1] & 0x80 == 0 {
        return None;
    }
    read_stamp(&p[2..2 + STAMP_LEN])
}

/// 20 ms (160 samples) of a µ-law tone; `amplitude` 0–1 of full scale.
pub(crate) fn pcmu_tone(amplitude: f32, frame: u64) -> Vec<u8> {
    (0..160u64)
        .map(|i| {
            let t = (frame * 160 + i) as f32 / 8000.0;
            let s = (amplitude * 32_000.0 * (TAU * 400.0 * t).sin()) as i16;
            linear_to_ulaw(s)
        })
        .collect()
}

/// ITU-T G.711 µ-law encoding of one 16-bit sample.
fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32_635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let exponent = (7 - (s as u32 >> 7).leading_zeros().saturating_sub(24)).min(7) as i32;
    let exponent = if s >= 0x4000 { 7 } else { exponent };
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// One RFC 4733 §2.3 telephone-event payload.
pub(crate) fn telephone_event(event: u8, end: bool, duration: u16) -> [u8; 4] {
    let d = duration.to_be_bytes();
    // Volume 10 (-10 dBm0).
    [event, (u8::from(end) << 7) | 10, d[0], d[1]]
}

/// The RFC 4733 §3.2 event code of a DTMF key.
pub(crate) fn dtmf_event(key: char) -> Option<u8> {
    match key {
        '0'..='9' => Some(key as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_stamp_round_trips_and_the_packet_still_decodes() {
        let frames = OpusFrames::get();
        let p = stamped_opus(&frames.loud[3], 123_456_789, 42);
        assert_eq!(opus_stamp(&p), Some((123_456_789, 42)));
        let mut dec = opus::Decoder::new(48_000, opus::Channels::Mono).expect("decoder");
        let mut pcm = [0f32; 960];
        assert_eq!(dec.decode_float(&p, &mut pcm, false).expect("decodes"), 960);
        assert!(opus_stamp(&frames.loud[3]).is_none());
    }

    #[test]
    fn h264_frames_carry_the_stamp_in_the_first_fragment() {
        let ps = h264_frame(2000, true, 7, 9);
        assert_eq!(ps.len(), 3, "STAP-A + two fragments");
        assert_eq!(ps[1][1], 0x85);
        assert_eq!(ps[2][1], 0x45);
        assert_eq!(h264_stamp(&ps[1]), Some((7, 9)));
        assert!(h264_stamp(&ps[2]).is_none());
    }

    #[test]
    fn ulaw_matches_g711_reference_points() {
        assert_eq!(linear_to_ulaw(0), 0xff);
        assert_eq!(linear_to_ulaw(-1), 0x7f);
        assert_eq!(linear_to_ulaw(32_767), 0x80);
        assert_eq!(linear_to_ulaw(-32_768), 0x00);
    }
}
