//! A small WAV (RIFF) reader for the embedded prompts: mono, 16-bit PCM (format 1) or G.711
//! µ-law (7) / A-law (6). It borrows the sample bytes; decoding happens frame by frame.

/// Why a WAV file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WavError {
    /// Not `RIFF....WAVE`, or a chunk runs past the end.
    #[error("not a RIFF/WAVE file")]
    NotWav,
    /// No `fmt ` chunk, or none before `data`.
    #[error("no fmt chunk")]
    NoFormat,
    #[error("no data chunk")]
    NoData,
    /// Not mono 16-bit PCM, µ-law or A-law.
    #[error("unsupported format {format} with {channels} channels, {bits} bits")]
    Unsupported {
        format: u16,
        channels: u16,
        bits: u16,
    },
}

/// How the samples are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Pcm16,
    Mulaw,
    Alaw,
}

/// A parsed WAV file, borrowing its sample bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wav<'a> {
    pub sample_rate: u32,
    pub encoding: Encoding,
    data: &'a [u8],
}

impl<'a> Wav<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WavError> {
        if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
            return Err(WavError::NotWav);
        }
        let mut rest = &bytes[12..];
        let mut fmt = None;
        while rest.len() >= 8 {
            let id = &rest[..4];
            let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
            let body = rest.get(8..8 + len).ok_or(WavError::NotWav)?;
            match id {
                b"fmt " => {
                    if body.len() < 16 {
                        return Err(WavError::NoFormat);
                    }
                    let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
                    let format = u16_at(0);
                    let channels = u16_at(2);
                    let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                    let bits = u16_at(14);
                    let encoding = match (format, channels, bits) {
                        (1, 1, 16) => Encoding::Pcm16,
                        (7, 1, 8) => Encoding::Mulaw,
                        (6, 1, 8) => Encoding::Alaw,
                        _ => {
                            return Err(WavError::Unsupported {
                                format,
                                channels,
                                bits,
                            });
                        }
                    };
                    fmt = Some((rate, encoding));
                }
                b"data" => {
                    let (sample_rate, encoding) = fmt.ok_or(WavError::NoFormat)?;
                    return Ok(Self {
                        sample_rate,
                        encoding,
                        data: body,
                    });
                }
                _ => {}
            }
            // Chunks are padded to an even length.
            let next = (8 + len + (len & 1)).min(rest.len());
            rest = &rest[next..];
        }
        Err(WavError::NoData)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        match self.encoding {
            Encoding::Pcm16 => self.data.len() / 2,
            Encoding::Mulaw | Encoding::Alaw => self.data.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sample `i` as 16-bit linear PCM; 0 past the end.
    pub fn sample(&self, i: usize) -> i16 {
        match self.encoding {
            Encoding::Pcm16 => match self.data.get(2 * i..2 * i + 2) {
                Some(b) => i16::from_le_bytes([b[0], b[1]]),
                None => 0,
            },
            Encoding::Mulaw => self.data.get(i).map_or(0, |&b| mulaw_to_linear(b)),
            Encoding::Alaw => self.data.get(i).map_or(0, |&b| alaw_to_linear(b)),
        }
    }

    /// Decodes samples `start..start + out.len()` into `out` (zeros past the end).
    pub fn decode_into(&self, start: usize, out: &mut [i16]) {
        for (k, o) in out.iter_mut().enumerate() {
            *o = self.sample(start + k);
        }
    }
}

/// G.711 µ-law to 16-bit linear (ITU-T G.711 §2, the usual bias-33 expansion).
/// A mono 16-bit PCM WAV file of `pcm` at `rate` Hz (what every browser plays).
pub fn pcm16_wav(rate: u32, pcm: &[i16]) -> Vec<u8> {
    let data_len = u32::try_from(pcm.len() * 2).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(44 + pcm.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&data_len.saturating_add(36).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in pcm {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

pub fn mulaw_to_linear(b: u8) -> i16 {
    let b = !b;
    let sign = b & 0x80;
    let exponent = (b >> 4) & 0x07;
    let mantissa = i32::from(b & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if sign != 0 { -magnitude } else { magnitude }) as i16
}

/// G.711 A-law to 16-bit linear.
pub fn alaw_to_linear(b: u8) -> i16 {
    let b = b ^ 0x55;
    let sign = b & 0x80;
    let exponent = (b >> 4) & 0x07;
    let mantissa = i32::from(b & 0x0f);
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    (if sign != 0 { magnitude } else { -magnitude }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(format: u16, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut v = b"RIFF\0\0\0\0WAVE".to_vec();
        v.extend_from_slice(b"LIST\x03\0\0\0abc\0"); // an odd chunk, padded
        v.extend_from_slice(b"fmt \x10\0\0\0");
        v.extend_from_slice(&format.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&8000u32.to_le_bytes());
        v.extend_from_slice(&16000u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&bits.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn a_written_pcm16_file_reads_back() {
        let pcm = [0i16, 1, -1, i16::MAX, i16::MIN, 1234];
        let bytes = pcm16_wav(16_000, &pcm);
        let w = Wav::parse(&bytes).unwrap();
        assert_eq!(
            (w.sample_rate, w.encoding, w.len()),
            (16_000, Encoding::Pcm16, 6)
        );
        let mut back = [0i16; 6];
        w.decode_into(0, &mut back);
        assert_eq!(back, pcm);
    }

    #[test]
    fn reads_pcm16_and_mulaw() {
        let bytes = wav(1, 16, &[0x01, 0x00, 0xff, 0xff]);
        let w = Wav::parse(&bytes).unwrap();
        assert_eq!(
            (w.sample_rate, w.encoding, w.len()),
            (8000, Encoding::Pcm16, 2)
        );
        assert_eq!((w.sample(0), w.sample(1), w.sample(2)), (1, -1, 0));
        let bytes = wav(7, 8, &[0xff, 0x00, 0x80]);
        let w = Wav::parse(&bytes).unwrap();
        assert_eq!((w.sample(0), w.sample(1), w.sample(2)), (0, -32124, 32124));
        assert!(matches!(
            Wav::parse(&wav(3, 32, &[])),
            Err(WavError::Unsupported { format: 3, .. })
        ));
        assert_eq!(Wav::parse(b"RIFF"), Err(WavError::NotWav));
        assert_eq!(Wav::parse(&bytes[..40]), Err(WavError::NotWav));
    }

    #[test]
    fn alaw_extremes() {
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xaa), 32256);
    }
}
