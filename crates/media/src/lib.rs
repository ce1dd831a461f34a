//! pont's media core: rooms, participants, published tracks and subscriptions; RTP forwarding
//! with per-subscriber SSRC/sequence/timestamp rewrite; the speaker-switched *main window*;
//! RTCP termination and feedback mapping; active-speaker detection; and, for plain RTP legs
//! outside the core (SIP callers), [`report::RtcpReporter`]: their SR/RR on RFC 3550 intervals.
//!
//! What it must never do: open a socket, read a clock or spawn a task. It is a sans-IO state
//! machine in the style of str0m's `Rtc` and quinn-proto's `Connection`:
//!
//! - getters (`&self`): [`MediaCore::room`], [`MediaCore::stats`], …;
//! - `handle_*(now, …)`: network input ([`MediaCore::handle_rtp`], [`MediaCore::handle_rtcp`],
//!   [`MediaCore::handle_audio_level`]) and timer input ([`MediaCore::handle_timeout`]);
//! - commands from the application: [`MediaCore::add_participant`], [`MediaCore::publish`], …;
//! - `poll_*`: outputs. After every input or command the caller drains, in this order,
//!   [`MediaCore::poll_transmit`] until `None`, [`MediaCore::poll_event`] until `None`, then
//!   asks [`MediaCore::poll_timeout`] when to call [`MediaCore::handle_timeout`] next.
//!
//! Time is a [`Timestamp`](pont_types::Timestamp) handed in by the caller, so a whole call runs
//! on a simulated clock in tests.
#![forbid(unsafe_code)]

pub mod codec;
mod core;
mod forward;
mod nack;
mod recv;
pub mod report;
pub mod rtcp;
pub mod rtp;
pub mod speaker;

pub use codec::{Codec, MediaKind};
pub use core::{
    CoreConfig, CoreStats, DropReason, Event, MediaCore, MediaError, OutStream, PacketKind,
    ParticipantConfig, ParticipantInfo, ParticipantKind, ReceiveCodec, Source, TrackConfig,
    TrackId, Transmit,
};
