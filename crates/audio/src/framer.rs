//! The room's full mix as 20 ms Opus packets at 48 kHz: what a recording stores and what a live
//! stream's viewers hear. The mix rate follows the codecs in the room (8, 16 or 48 kHz), so
//! the framer resamples whatever comes to 48 kHz and cuts it into 960-sample frames.

use crate::{AudioCodec, AudioError, Encoder, Resampler};

/// Samples of one 20 ms Opus frame at 48 kHz.
pub const OPUS_FRAME: usize = 960;
const OPUS_RATE: u32 = 48_000;

/// PCM at any supported rate in, 20 ms Opus packets at 48 kHz out. Sans-IO.
#[derive(Debug)]
pub struct OpusFramer {
    encoder: Encoder,
    /// The input's rate and a resampler to 48 kHz (none when it is at 48 kHz already).
    resampler: Option<(u32, Option<Resampler>)>,
    pcm48: Vec<i16>,
    scratch: Vec<i16>,
    packet: Vec<u8>,
}

impl OpusFramer {
    pub fn new() -> Result<Self, AudioError> {
        Ok(Self {
            encoder: Encoder::new(AudioCodec::Opus)?,
            resampler: None,
            pcm48: Vec::with_capacity(2 * OPUS_FRAME),
            scratch: Vec::new(),
            packet: Vec::with_capacity(400),
        })
    }

    /// One frame of mono PCM at `rate` Hz. False (and the frame dropped) when `rate` is not
    /// 8, 16 or 48 kHz.
    pub fn push(&mut self, rate: u32, pcm: &[i16]) -> bool {
        if self.resampler.as_ref().is_none_or(|(r, _)| *r != rate) {
            // A new rate (the room's codecs changed): a new resampler.
            self.resampler = Some((rate, Resampler::new(rate, OPUS_RATE)));
        }
        match self.resampler.as_mut().and_then(|(_, r)| r.as_mut()) {
            Some(r) => {
                self.scratch.resize(r.output_len(pcm.len()), 0);
                r.process(pcm, &mut self.scratch);
                self.pcm48.extend_from_slice(&self.scratch);
                true
            }
            None => false,
        }
    }

    /// Forgets the buffered samples (less than 20 ms): after a pause, the next packet starts
    /// with what comes next.
    pub fn clear(&mut self) {
        self.pcm48.clear();
    }

    /// The next 20 ms packet, once 20 ms are buffered. A frame the encoder fails on is left
    /// out (the error says so) and the next one follows.
    pub fn next_packet(&mut self) -> Option<Result<&[u8], AudioError>> {
        if self.pcm48.len() < OPUS_FRAME {
            return None;
        }
        self.packet.clear();
        let encoded = self
            .encoder
            .encode(&self.pcm48[..OPUS_FRAME], &mut self.packet);
        self.pcm48.drain(..OPUS_FRAME);
        Some(encoded.map(|()| self.packet.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_mix_rate_becomes_20_ms_opus_packets() {
        let mut f = OpusFramer::new().expect("an encoder");
        // 8 kHz, then 16 kHz: one packet per 20 ms either way.
        assert!(f.push(8000, &[1000; 160]));
        let first = f.next_packet().expect("20 ms buffered").expect("encoded");
        assert!(!first.is_empty());
        assert!(f.next_packet().is_none(), "nothing more buffered");
        assert!(f.push(16000, &[1000; 320]));
        assert!(f.next_packet().is_some());
        assert!(f.push(48000, &[0; 480]));
        assert!(f.next_packet().is_none(), "10 ms is not a frame");
        assert!(f.push(48000, &[0; 480]));
        assert!(f.next_packet().is_some());
        // A rate the resampler does not know is refused and buffers nothing.
        assert!(!f.push(44100, &[0; 882]));
        assert!(f.next_packet().is_none());
    }
}
