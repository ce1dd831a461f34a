//! # pont-ivr: the dial-in (IVR) core
//!
//! **Owns**: one phone caller's way into a room — the prompts ("enter the room number followed
//! by the pound key", PIN, wrong entries, joining, recorded, goodbye) in English and French,
//! digit collection with `*` to clear, retries and timeouts, barge-in, and `*6` to toggle mute
//! once in the call; DTMF from all three paths (RFC 4733 telephone-events, SIP INFO, in-band
//! tones through a Goertzel detector), de-duplicated and rate-limited; PIN-guessing protection
//! across calls ([`PinGuard`]).
//!
//! **Never**: sockets, clocks, threads, tokio, files or the database. Time is a
//! [`Timestamp`](pont_types::Timestamp) parameter; the room store and the PIN are the
//! application's (the IVR asks through [`IvrEvent::LookupRoom`] and [`IvrEvent::VerifyPin`]
//! and never sees a PIN it could compare); SIP, RTP and codecs are other crates'. Audio here is
//! 8 kHz mono 16-bit PCM in 20 ms frames; resampling to 16/48 kHz and G.711/Opus coding belong
//! to the audio crate. Keyed digits and PINs are logged only through [`pont_types::Pii`].
//!
//! ## Driving an [`IvrCall`] (the server, per dial-in leg)
//! 1. On answer: [`IvrCall::new`]`(now, IvrConfig { language, .. })` and
//!    [`IvrCall::set_telephone_event_pt`] from the SDP (again after each re-INVITE).
//! 2. Inputs, each with the current time: RTP packets through
//!    [`IvrCall::handle_rtp_event`] (`false` → audio: decode to 8 kHz and
//!    [`IvrCall::handle_pcm`]), SIP INFO through [`IvrCall::handle_sip_info`], timers through
//!    [`IvrCall::handle_timeout`], answers through [`IvrCall::room_info`] and
//!    [`IvrCall::pin_result`] (via [`PinGuard::check`]).
//! 3. After every input, poll in this order: [`IvrCall::poll_event`] until `None` (act on
//!    `LookupRoom`, `VerifyPin`, `Join`, `ToggleMute`, `Hangup`); on each 20 ms packetisation
//!    tick [`IvrCall::poll_frame`] until `None` (before joining send silence when it gives
//!    none; after, mix its frames — the `*6` tone — over the room's mix);
//!    then [`IvrCall::poll_timeout`] for the next [`IvrCall::handle_timeout`].
//! 4. After `Join`, keep the `IvrCall` for the leg's life for `*6`; after `Hangup`, send BYE
//!    and drop it.
//!
//! The parts are public on their own too: [`DtmfReceiver`] (the three paths, de-duplicated),
//! [`InbandDetector`], [`TelephoneEvent`], [`parse_info`], [`PromptPlayer`], [`Prompt`].

#![forbid(unsafe_code)]

mod call;
mod digit;
mod inband;
mod info;
mod pin_guard;
mod player;
mod prompt;
mod receiver;
mod rfc4733;
mod wav;

pub use call::{HangupReason, IvrCall, IvrConfig, IvrEvent, Phase, PinCheck, RoomInfo};
pub use digit::Digit;
pub use inband::{InbandDetector, dtmf_frequencies};
pub use info::{InfoDigit, InfoError, parse_dtmf, parse_dtmf_relay, parse_info};
pub use pin_guard::{PinGuard, PinGuardConfig};
pub use player::{FRAME, GAP, PromptPlayer};
pub use prompt::{Language, Prompt, UnknownLanguage};
pub use receiver::{DtmfConfig, DtmfDigit, DtmfReceiver, DtmfSource, DtmfStats};
pub use rfc4733::TelephoneEvent;
pub use wav::{Encoding, Wav, WavError, alaw_to_linear, mulaw_to_linear, pcm16_wav};

/// The IVR's audio rate: 8 kHz, what G.711 carries and the in-band detector expects.
pub const SAMPLE_RATE: u32 = 8_000;
/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
