//! The codecs behind one type each for decoding and encoding 20 ms frames: G.711 µ-law and
//! A-law, G.722 and Opus. Every decoder also conceals a lost frame.

use std::fmt;

use pont_types::AudioLevel;

use crate::g711;
use crate::g722::{G722Decoder, G722Encoder};
use crate::{AudioError, level};

/// Milliseconds in one mixer frame.
pub const FRAME_MS: u32 = 20;
/// Largest frame of any codec here: 20 ms at 48 kHz.
pub const MAX_FRAME_SAMPLES: usize = 960;

/// An audio codec the mixer can decode and encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AudioCodec {
    /// G.711 µ-law, RTP static payload type 0.
    Pcmu,
    /// G.711 A-law, RTP static payload type 8.
    Pcma,
    /// G.722 at 64 kbit/s, RTP static payload type 9.
    G722,
    /// Opus, mono, 48 kHz.
    Opus,
}

impl AudioCodec {
    /// Rate of the PCM the codec works on.
    pub const fn sample_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma => 8000,
            Self::G722 => 16000,
            Self::Opus => 48000,
        }
    }

    /// The RTP clock rate: 8000 for G.722 by the historical error of RFC 1890 that RFC 3551
    /// §4.5.2 kept, although it samples at 16 kHz.
    pub const fn rtp_clock_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma | Self::G722 => 8000,
            Self::Opus => 48000,
        }
    }

    /// PCM samples in one 20 ms frame.
    pub const fn frame_samples(self) -> usize {
        (self.sample_rate() / 50) as usize
    }

    /// RTP timestamp units in one 20 ms frame.
    pub const fn frame_rtp_ticks(self) -> u32 {
        self.rtp_clock_rate() / 50
    }

    /// Bytes of one 20 ms frame for the constant-rate codecs (`None` for Opus).
    pub const fn frame_bytes(self) -> Option<usize> {
        match self {
            Self::Pcmu | Self::Pcma | Self::G722 => Some(160),
            Self::Opus => None,
        }
    }

    /// The static RTP payload type (RFC 3551), or `None` for Opus's dynamic one.
    pub const fn static_pt(self) -> Option<u8> {
        match self {
            Self::Pcmu => Some(0),
            Self::Pcma => Some(8),
            Self::G722 => Some(9),
            Self::Opus => None,
        }
    }
}

impl fmt::Display for AudioCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            Self::G722 => "G722",
            Self::Opus => "opus",
        })
    }
}

/// Concealment of G.711 and G.722 losses: repeat the last good frame, fading by this factor per
/// lost frame (−6 dB), and fall silent after `FADE_FRAMES`: 60 ms of fading hides a single loss
/// without turning a long gap into a buzz.
const FADE_PER_FRAME: f32 = 0.5;
const FADE_FRAMES: u32 = 3;

/// A decoder for one inbound leg: one 20 ms frame in, one 20 ms frame of PCM at the codec's
/// [`AudioCodec::sample_rate`] out.
pub struct Decoder {
    codec: AudioCodec,
    inner: DecoderInner,
    /// The last frame produced, for repeat-and-fade concealment.
    last: Vec<i16>,
    lost_in_a_row: u32,
}

enum DecoderInner {
    G711,
    G722(Box<G722Decoder>),
    Opus(Box<opus::Decoder>),
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("codec", &self.codec)
            .finish()
    }
}

impl Decoder {
    pub fn new(codec: AudioCodec) -> Result<Self, AudioError> {
        let inner = match codec {
            AudioCodec::Pcmu | AudioCodec::Pcma => DecoderInner::G711,
            AudioCodec::G722 => DecoderInner::G722(Box::default()),
            AudioCodec::Opus => DecoderInner::Opus(Box::new(
                opus::Decoder::new(48000, opus::Channels::Mono).map_err(AudioError::Opus)?,
            )),
        };
        Ok(Self {
            codec,
            inner,
            last: vec![0; codec.frame_samples()],
            lost_in_a_row: 0,
        })
    }

    pub fn codec(&self) -> AudioCodec {
        self.codec
    }

    /// Forgets all state: the next frame decodes as the first of a stream.
    pub fn reset(&mut self) {
        match &mut self.inner {
            DecoderInner::G711 => {}
            DecoderInner::G722(d) => **d = G722Decoder::new(),
            DecoderInner::Opus(d) => {
                // Resetting a valid decoder cannot fail; if it did, the old state is still usable.
                let _ = d.reset_state();
            }
        }
        self.last.fill(0);
        self.lost_in_a_row = 0;
    }

    /// Decodes one 20 ms payload into `out` (exactly [`AudioCodec::frame_samples`] long). A
    /// payload shorter than a frame is padded with silence, a longer one truncated; an Opus
    /// payload that fails to decode is concealed. Err only for an undecodable payload, after
    /// `out` has been filled with concealment.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<(), AudioError> {
        let n = self.codec.frame_samples();
        let out = &mut out[..n];
        match &mut self.inner {
            DecoderInner::G711 => {
                let table = if self.codec == AudioCodec::Pcmu {
                    &g711::ULAW_DECODE
                } else {
                    &g711::ALAW_DECODE
                };
                for (o, &c) in out.iter_mut().zip(payload) {
                    *o = table[c as usize];
                }
                let k = payload.len().min(n);
                out[k..].fill(0);
            }
            DecoderInner::G722(d) => {
                let bytes = &payload[..payload.len().min(n / 2)];
                d.decode(bytes, out);
                out[bytes.len() * 2..].fill(0);
            }
            DecoderInner::Opus(d) => {
                if payload.is_empty() {
                    self.conceal(None, out);
                    return Err(AudioError::BadPayload);
                }
                match d.decode(payload, out, false) {
                    Ok(k) if k == n => {}
                    Ok(_) | Err(_) => {
                        // A packet of another duration or a corrupt one: conceal instead, and
                        // reset so the decoder's state cannot carry the damage on.
                        let _ = d.reset_state();
                        self.conceal(None, out);
                        return Err(AudioError::BadPayload);
                    }
                }
            }
        }
        self.last.copy_from_slice(out);
        self.lost_in_a_row = 0;
        Ok(())
    }

    /// Produces a frame for a lost packet. For Opus, `next` (the following packet, if it is
    /// already in the jitter buffer) is used for in-band FEC; otherwise the decoder's own PLC
    /// runs. G.711 and G.722 repeat the last frame, fading out.
    pub fn conceal(&mut self, next: Option<&[u8]>, out: &mut [i16]) {
        let n = self.codec.frame_samples();
        let out = &mut out[..n];
        self.lost_in_a_row = self.lost_in_a_row.saturating_add(1);
        if let DecoderInner::Opus(d) = &mut self.inner {
            let fec = next.filter(|p| !p.is_empty());
            let r = match fec {
                Some(p) => d.decode(p, out, true),
                None => d.decode(&[], out, false),
            };
            if !matches!(r, Ok(k) if k == n) {
                out.fill(0);
            }
            return;
        }
        if self.lost_in_a_row > FADE_FRAMES {
            out.fill(0);
            return;
        }
        // Fade linearly across the frame from this loss's gain to the next one's, so the
        // repeated frame does not start with a step.
        let g0 = FADE_PER_FRAME.powi(self.lost_in_a_row as i32 - 1);
        let g1 = if self.lost_in_a_row == FADE_FRAMES {
            0.0
        } else {
            g0 * FADE_PER_FRAME
        };
        for (i, (o, &s)) in out.iter_mut().zip(&self.last).enumerate() {
            let g = g0 + (g1 - g0) * i as f32 / n as f32;
            *o = (s as f32 * g) as i16;
        }
        // The decoder state of G.722 keeps running on what it last saw; repeat-and-fade is
        // only on the output side.
    }

    /// The level of a payload without decoding it, where the codec allows (G.711 only).
    pub fn cheap_level(codec: AudioCodec, payload: &[u8]) -> Option<AudioLevel> {
        match codec {
            AudioCodec::Pcmu => Some(level::measure_ulaw(payload)),
            AudioCodec::Pcma => Some(level::measure_alaw(payload)),
            AudioCodec::G722 | AudioCodec::Opus => None,
        }
    }
}

/// An encoder: one 20 ms frame of PCM at the codec's rate in, one payload out.
pub struct Encoder {
    codec: AudioCodec,
    inner: EncoderInner,
}

enum EncoderInner {
    G711,
    G722(Box<G722Encoder>),
    Opus(Box<opus::Encoder>),
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoder")
            .field("codec", &self.codec)
            .finish()
    }
}

/// Opus settings for what the bridge sends: 32 kbit/s mono voice with in-band FEC tuned for
/// 10 % loss, complexity 5 (about half the CPU of 10 for a barely audible difference on speech).
const OPUS_BITRATE: i32 = 32_000;
const OPUS_COMPLEXITY: i32 = 5;
const OPUS_LOSS_PERC: i32 = 10;

impl Encoder {
    pub fn new(codec: AudioCodec) -> Result<Self, AudioError> {
        let inner = match codec {
            AudioCodec::Pcmu | AudioCodec::Pcma => EncoderInner::G711,
            AudioCodec::G722 => EncoderInner::G722(Box::default()),
            AudioCodec::Opus => {
                let mut e =
                    opus::Encoder::new(48000, opus::Channels::Mono, opus::Application::Voip)
                        .map_err(AudioError::Opus)?;
                e.set_bitrate(opus::Bitrate::Bits(OPUS_BITRATE))
                    .map_err(AudioError::Opus)?;
                e.set_inband_fec(true).map_err(AudioError::Opus)?;
                e.set_packet_loss_perc(OPUS_LOSS_PERC)
                    .map_err(AudioError::Opus)?;
                e.set_complexity(OPUS_COMPLEXITY)
                    .map_err(AudioError::Opus)?;
                EncoderInner::Opus(Box::new(e))
            }
        };
        Ok(Self { codec, inner })
    }

    pub fn codec(&self) -> AudioCodec {
        self.codec
    }

    /// A second encoder that continues exactly where this one is, where the codec allows it
    /// (G.711 has no state, G.722's ADPCM state is copied); a fresh Opus encoder otherwise,
    /// whose first packet any Opus decoder accepts.
    pub fn fork(&self) -> Result<Self, AudioError> {
        match &self.inner {
            EncoderInner::G711 => Ok(Self {
                codec: self.codec,
                inner: EncoderInner::G711,
            }),
            EncoderInner::G722(e) => Ok(Self {
                codec: self.codec,
                inner: EncoderInner::G722(e.clone()),
            }),
            EncoderInner::Opus(_) => Self::new(self.codec),
        }
    }

    /// Encodes one 20 ms frame (`pcm` is [`AudioCodec::frame_samples`] long), appending the
    /// payload to `out`.
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), AudioError> {
        match &mut self.inner {
            EncoderInner::G711 => {
                let f = if self.codec == AudioCodec::Pcmu {
                    g711::linear_to_ulaw
                } else {
                    g711::linear_to_alaw
                };
                out.extend(pcm.iter().map(|&s| f(s)));
            }
            EncoderInner::G722(e) => e.encode(pcm, out),
            EncoderInner::Opus(e) => {
                let start = out.len();
                // RFC 6716 §3.2: a 20 ms mono frame at 32 kbit/s is ~80 bytes; 1275 is the
                // largest a single frame can ever be.
                out.resize(start + 1275, 0);
                match e.encode(pcm, &mut out[start..]) {
                    Ok(n) => out.truncate(start + n),
                    Err(err) => {
                        out.truncate(start);
                        return Err(AudioError::Opus(err));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{goertzel_power, snr_db, tone};

    fn round_trip(codec: AudioCodec, freq: f64) -> (Vec<i16>, Vec<i16>) {
        let n = codec.frame_samples();
        let input = tone(codec.sample_rate(), freq, 8000.0, n * 50);
        let mut enc = Encoder::new(codec).unwrap();
        let mut dec = Decoder::new(codec).unwrap();
        let mut output = Vec::new();
        for frame in input.chunks(n) {
            let mut payload = Vec::new();
            enc.encode(frame, &mut payload).unwrap();
            if let Some(b) = codec.frame_bytes() {
                assert_eq!(payload.len(), b);
            }
            let mut out = vec![0; n];
            dec.decode(&payload, &mut out).unwrap();
            output.extend_from_slice(&out);
        }
        (input, output)
    }

    #[test]
    fn g711_round_trip_snr() {
        for codec in [AudioCodec::Pcmu, AudioCodec::Pcma] {
            let (i, o) = round_trip(codec, 700.0);
            let snr = snr_db(&i, &o);
            assert!(snr > 30.0, "{codec}: {snr} dB");
        }
    }

    #[test]
    fn g722_round_trip_keeps_the_tone() {
        let (i, o) = round_trip(AudioCodec::G722, 1000.0);
        // G.722's QMF pair delays the signal by 22 samples (11 at each end's QMF, at 16 kHz).
        let delay = 22;
        let snr = snr_db(&i[1000..15000], &o[1000 + delay..15000 + delay]);
        assert!(snr > 20.0, "G.722 SNR {snr} dB");
        // A tone in the upper band (6 kHz) survives too: that is G.722's point.
        let (i, o) = round_trip(AudioCodec::G722, 6000.0);
        let snr = snr_db(&i[1000..15000], &o[1000 + delay..15000 + delay]);
        assert!(snr > 10.0, "G.722 upper band SNR {snr} dB");
    }

    #[test]
    fn opus_round_trip_keeps_the_tone() {
        let (_, o) = round_trip(AudioCodec::Opus, 700.0);
        let tail = &o[o.len() / 2..];
        let p = goertzel_power(tail, 48000, 700.0);
        let q = goertzel_power(tail, 48000, 1100.0);
        assert!(p > 100.0 * q, "{p} {q}");
    }

    #[test]
    fn g711_concealment_repeats_then_fades_to_silence() {
        let mut dec = Decoder::new(AudioCodec::Pcmu).unwrap();
        let pcm = tone(8000, 400.0, 8000.0, 160);
        let payload: Vec<u8> = pcm.iter().map(|&s| g711::linear_to_ulaw(s)).collect();
        let mut out = vec![0; 160];
        dec.decode(&payload, &mut out).unwrap();
        let first = crate::analysis::rms(&out);
        let mut levels = Vec::new();
        for _ in 0..5 {
            dec.conceal(None, &mut out);
            levels.push(crate::analysis::rms(&out));
        }
        assert!(levels[0] > first * 0.5 && levels[0] < first);
        assert!(levels[1] < levels[0] && levels[2] < levels[1]);
        assert_eq!(levels[3], 0.0);
        assert_eq!(levels[4], 0.0);
    }

    #[test]
    fn garbage_never_panics_and_fills_the_frame() {
        for codec in [
            AudioCodec::Pcmu,
            AudioCodec::Pcma,
            AudioCodec::G722,
            AudioCodec::Opus,
        ] {
            let mut dec = Decoder::new(codec).unwrap();
            let mut out = vec![1234; MAX_FRAME_SAMPLES];
            for len in [0usize, 1, 3, 17, 160, 161, 400, 1500] {
                let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
                let _ = dec.decode(&junk, &mut out);
                dec.conceal(Some(&junk), &mut out);
            }
        }
    }
}
