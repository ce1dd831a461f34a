//! pont's audio MCU core: what phone callers and room systems hear, and how they are heard.
//!
//! What this crate owns:
//! - the codecs, behind [`Decoder`] and [`Encoder`]: G.711 µ-law and A-law ([`g711`], our own
//!   tables), G.722 at 64 kbit/s ([`g722`], our own, after ITU-T G.722), Opus (libopus through
//!   the `opus` crate), each with loss concealment;
//! - resampling between 8, 16 and 48 kHz ([`Resampler`]);
//! - a jitter buffer per inbound leg ([`JitterBuffer`]): adaptive, bounded, and re-anchored
//!   after a delay spike instead of drifting;
//! - the RFC 6464 level meter ([`level`]);
//! - the [`Mixer`]: one per room, a 20 ms tick, the loudest few talkers decoded, one shared mix
//!   plus a mix-minus per talker, each distinct mix encoded once per codec and shared, a
//!   limiter, a full-mix tap for the recorder, and "publish as Opus" for legs browsers must hear.
//!
//! What it must never do: own a socket, read a clock, spawn a thread or task, or block. It is
//! sans-IO like the media core: time comes in as a [`Timestamp`] argument (`handle_*`), results
//! go out through `poll_*`. It does not parse or write RTP headers on the way in (the caller
//! hands it sequence number, timestamp and payload) and leaves SSRC and payload type to the
//! caller on the way out (see [`MixedPacket`]).
//!
//! [`Timestamp`]: pont_types::Timestamp
#![forbid(unsafe_code)]

pub mod analysis;
mod codec;
mod framer;
pub mod g711;
pub mod g722;
mod jitter;
pub mod level;
mod mixer;
mod resample;

pub use codec::{AudioCodec, Decoder, Encoder, FRAME_MS, MAX_FRAME_SAMPLES};
pub use framer::{OPUS_FRAME, OpusFramer};
pub use jitter::{JitterBuffer, JitterConfig, JitterStats, Popped};
pub use mixer::{
    Event, InboundPacket, LegConfig, LegStats, MixFrame, MixedPacket, Mixer, MixerConfig,
    PublishedPacket,
};
pub use resample::Resampler;

/// What can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// libopus refused a call (creating a codec, or encoding).
    #[error("opus: {0}")]
    Opus(opus::Error),
    /// A payload could not be decoded; concealment was produced instead.
    #[error("undecodable payload")]
    BadPayload,
    /// The leg is already in the mixer.
    #[error("leg already added")]
    DuplicateLeg,
    /// No such leg in the mixer.
    #[error("unknown leg")]
    UnknownLeg,
    /// A packet time the mixer cannot produce: a multiple of 20 ms up to 120 ms for G.711 and
    /// G.722, exactly 20 ms for Opus.
    #[error("unsupported packet time {0} ms for {1}")]
    UnsupportedPtime(u32, AudioCodec),
    /// A mixing rate other than 8000, 16000 or 48000 Hz.
    #[error("unsupported mixing rate {0} Hz")]
    UnsupportedRate(u32),
}
