//! pont's video MCU core: the room's composed picture for room systems and recordings.
//!
//! What it owns:
//! - H.264 over RTP (RFC 6184): a [`Depacketizer`] (single NAL unit, STAP-A, FU-A; frames by
//!   timestamp and marker; on loss the frame is dropped, a keyframe requested and everything
//!   up to the next IDR skipped) and a [`Packetizer`] (packetization-mode 1: STAP-A for small
//!   NAL units such as SPS+PPS, FU-A at a safe MTU, marker on a frame's last packet);
//! - the per-room [`Composer`]: it decodes (openh264) only the participants the [`Layout`]
//!   shows, draws the active speaker in the main window and up to N others in a strip on a
//!   fixed canvas (participants without video as a tile with their name), and encodes the
//!   canvas once per room (openh264, constrained baseline) for every viewer;
//! - owned I420 pictures ([`I420Frame`]) with a fast bilinear scaler.
//!
//! What it must never do: open a socket, read a clock, spawn a thread or task, or know about
//! SIP or WebRTC. It is a sans-IO state machine: time is a [`Timestamp`](pont_types::Timestamp)
//! parameter, packets come in as parsed RTP fields and go out as payloads the media core
//! forwards (with its per-viewer SSRC/sequence/timestamp rewrite), keyframe requests go out as
//! outputs the server maps to PLI/FIR or SIP INFO.
//!
//! Driving a [`Composer`]:
//! 1. commands as they happen: [`Composer::add_participant`] / [`Composer::remove_participant`],
//!    [`Composer::set_speaker`] on the media core's `Event::SpeakerChanged`,
//!    [`Composer::request_keyframe`] on a viewer's PLI/FIR/fast-update;
//! 2. [`Composer::handle_rtp`] for every H.264 packet a participant sends;
//! 3. [`Composer::handle_timeout`] at [`Composer::poll_timeout`] (the frame interval): compose,
//!    encode, packetize;
//! 4. after every one of these, drain [`Composer::poll_output`] until `None`: packets for the
//!    viewers ([`ComposerOutput::Packet`]), keyframe requests to publishers
//!    ([`ComposerOutput::RequestKeyframe`]) and, if configured, the composed picture for the
//!    recorder ([`ComposerOutput::Frame`]). Then wait for the next input or the timeout.
//!
//! The encoder is openh264 through its Rust bindings; this crate itself has no `unsafe`.
#![forbid(unsafe_code)]

mod composer;
mod depacketize;
mod font;
mod frame;
pub mod h264;
mod layout;
mod packetize;

pub use composer::{Composer, ComposerConfig, ComposerOutput, ComposerStats, RtpIn};
pub use depacketize::{AccessUnit, Depacketizer, DepacketizerOutput, DepacketizerStats};
pub use frame::{I420Frame, Rect, Yuv};
pub use layout::Layout;
pub use packetize::{DEFAULT_MAX_PAYLOAD, Packetizer, RtpPayload};

use pont_types::ParticipantId;

/// What can go wrong in the video core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VideoError {
    /// The H.264 codec library refused to start (encoder or decoder initialisation).
    #[error("openh264: {0}")]
    Codec(#[from] openh264::Error),
    /// A packet for a participant the composer does not know.
    #[error("unknown participant {0}")]
    UnknownParticipant(ParticipantId),
}

#[cfg(test)]
mod tests {
    /// The server keeps a room's composer inside a task on a multi-threaded runtime.
    #[test]
    fn composer_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<crate::Composer>();
    }
}
