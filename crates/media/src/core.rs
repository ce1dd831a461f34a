//! The media core itself: see the crate docs for the call order.

use std::time::Duration;

use pont_types::{AudioLevel, ParticipantId, Pt, RoomId, Ssrc, Timestamp};

use crate::codec::{Codec, MediaKind};
use crate::speaker::SpeakerConfig;

/// A published track, unique in the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrackId(pub u64);

/// How a participant reaches the bridge; shown in the API as `web`, `sip` or `pstn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParticipantKind {
    Web,
    Sip,
    Pstn,
}

impl ParticipantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Sip => "sip",
            Self::Pstn => "pstn",
        }
    }
}

/// A codec a participant can receive, with the payload type it negotiated for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveCodec {
    pub codec: Codec,
    pub pt: Pt,
    /// RFC 4588 retransmission payload type, when negotiated.
    pub rtx_pt: Option<Pt>,
}

/// What a participant is and what it can receive.
#[derive(Debug, Clone)]
pub struct ParticipantConfig {
    pub kind: ParticipantKind,
    pub display_name: String,
    /// Codecs it can receive; streams of other codecs are not sent to it.
    pub receive: Vec<ReceiveCodec>,
    /// SFU mode: subscribe to every track other participants publish (browsers).
    pub subscribe_all: bool,
    /// Receive the room's speaker-switched video (room systems).
    pub main_window: bool,
    /// It understands RTCP FIR (`ccm fir`); otherwise keyframes are asked with PLI.
    pub fir: bool,
    /// It sends NACKs we should answer and accepts NACKs from us (`nack`).
    pub nack: bool,
}

impl ParticipantConfig {
    /// A browser-like participant: SFU subscriptions, NACK and FIR, Opus/H.264/VP8.
    pub fn web(display_name: impl Into<String>) -> Self {
        Self {
            kind: ParticipantKind::Web,
            display_name: display_name.into(),
            receive: vec![
                ReceiveCodec {
                    codec: Codec::Opus,
                    pt: Pt(111),
                    rtx_pt: None,
                },
                ReceiveCodec {
                    codec: Codec::H264,
                    pt: Pt(102),
                    rtx_pt: Some(Pt(103)),
                },
                ReceiveCodec {
                    codec: Codec::Vp8,
                    pt: Pt(96),
                    rtx_pt: Some(Pt(97)),
                },
            ],
            subscribe_all: true,
            main_window: false,
            fir: true,
            nack: true,
        }
    }
}

/// A track a participant publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackConfig {
    pub codec: Codec,
    pub pt: Pt,
    /// The publisher's SSRC; `None` latches onto the first packet with `pt` (SIP endpoints
    /// do not announce their SSRC).
    pub ssrc: Option<Ssrc>,
    /// RFC 4588 retransmissions: (RTX SSRC, RTX payload type).
    pub rtx: Option<(Ssrc, Pt)>,
    /// The RFC 8285 extension id of the RFC 6464 audio level, if negotiated.
    pub audio_level_ext: Option<u8>,
}

/// What an outbound stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// One published track, forwarded as is (SFU).
    Track(TrackId),
    /// The room's speaker-switched video.
    MainWindow,
}

/// A stream the core sends to a subscriber under its own SSRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutStream {
    pub source: Source,
    pub kind: MediaKind,
    pub codec: Codec,
    pub ssrc: Ssrc,
    pub pt: Pt,
    pub rtx: Option<(Ssrc, Pt)>,
}

/// A participant as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantInfo {
    pub id: ParticipantId,
    pub room: RoomId,
    pub kind: ParticipantKind,
    pub display_name: String,
    pub muted: bool,
}

/// Something the application should know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A new stream for `to`; signalling announces it (SDP, events) before packets flow.
    StreamAdded {
        to: ParticipantId,
        stream: OutStream,
    },
    /// A stream to `to` ended (its source unpublished or left).
    StreamRemoved { to: ParticipantId, ssrc: Ssrc },
    /// The room's dominant speaker changed.
    SpeakerChanged {
        room: RoomId,
        speaker: Option<ParticipantId>,
    },
    /// The room has no participant left and was dropped.
    RoomEmpty { room: RoomId },
}

/// Whether a transmit is RTP or RTCP (legs that multiplex, RFC 5761, send both on one port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    Rtp,
    Rtcp,
}

/// A packet to send: its bytes were written into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub to: ParticipantId,
    pub kind: PacketKind,
}

/// Why an input packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Not parseable RTP/RTCP.
    Malformed,
    /// From a participant the core does not know.
    UnknownParticipant,
    /// An SSRC or payload type the participant did not publish.
    UnknownSsrc,
    /// Too far outside the expected sequence or timestamp (and not confirmed as a restart).
    OutOfRange,
    /// Already received.
    Duplicate,
}

/// Counters for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreStats {
    pub rtp_in_packets: u64,
    pub rtp_in_bytes: u64,
    pub forwarded_packets: u64,
    pub forwarded_bytes: u64,
    pub retransmitted_packets: u64,
    pub rtcp_in_packets: u64,
    pub rtcp_out_packets: u64,
    pub keyframe_requests: u64,
    pub dropped_malformed: u64,
    pub dropped_unknown_participant: u64,
    pub dropped_unknown_ssrc: u64,
    pub dropped_out_of_range: u64,
    pub dropped_duplicate: u64,
}

/// Errors of the application-facing commands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// No such participant.
    #[error("unknown participant {0}")]
    UnknownParticipant(ParticipantId),
    /// No such track.
    #[error("unknown track {0:?}")]
    UnknownTrack(TrackId),
    /// The SSRC is already published in this room.
    #[error("SSRC {0} already in use")]
    SsrcInUse(Ssrc),
}

/// Tuning of the core. Defaults explain their numbers.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub speaker: SpeakerConfig,
    /// Our RTCP reports per leg. RFC 3550 §6.2 suggests 5 s minimum for large sessions; WebRTC
    /// stacks send about every second for a leg this size, which keeps RTT and loss fresh.
    pub rtcp_interval: Duration,
    /// At most one keyframe request per publisher track per this interval: a PLI storm from
    /// many subscribers must not make the publisher send back-to-back keyframes (libwebrtc
    /// and mediasoup use a few hundred ms).
    pub keyframe_min_interval: Duration,
    /// Packets per outbound video stream kept for answering NACKs: ~1 s of 2 Mbit/s video.
    pub nack_cache_packets: usize,
    /// Seed for our SSRCs and initial sequence numbers (random in production, fixed in tests).
    pub seed: u64,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            speaker: SpeakerConfig::default(),
            rtcp_interval: Duration::from_secs(1),
            keyframe_min_interval: Duration::from_millis(300),
            nack_cache_packets: 512,
            seed: 0x706f_6e74,
        }
    }
}

/// The media core.
#[derive(Debug)]
pub struct MediaCore {
    config: CoreConfig,
}

impl MediaCore {
    pub fn new(config: CoreConfig) -> Self {
        Self { config }
    }

    // ---- getters ----

    /// Participants of a room, in join order; `None` for a room with nobody in it.
    pub fn room(&self, room: RoomId) -> Option<Vec<ParticipantInfo>> {
        let _ = (room, &self.config);
        todo!()
    }

    /// The room's dominant speaker.
    pub fn active_speaker(&self, room: RoomId) -> Option<ParticipantId> {
        let _ = room;
        todo!()
    }

    /// Counters since start.
    pub fn stats(&self) -> &CoreStats {
        todo!()
    }

    pub fn room_count(&self) -> usize {
        todo!()
    }

    pub fn participant_count(&self) -> usize {
        todo!()
    }

    // ---- commands ----

    /// Adds a participant to a room (created on first join).
    pub fn add_participant(
        &mut self,
        now: Timestamp,
        room: RoomId,
        config: ParticipantConfig,
    ) -> ParticipantId {
        let _ = (now, room, config);
        todo!()
    }

    /// Removes a participant: its tracks end and every stream fed by them is removed.
    pub fn remove_participant(&mut self, now: Timestamp, id: ParticipantId) {
        let _ = (now, id);
        todo!()
    }

    /// Publishes a track.
    pub fn publish(
        &mut self,
        now: Timestamp,
        id: ParticipantId,
        track: TrackConfig,
    ) -> Result<TrackId, MediaError> {
        let _ = (now, id, track);
        todo!()
    }

    /// Ends a track.
    pub fn unpublish(&mut self, now: Timestamp, track: TrackId) -> Result<(), MediaError> {
        let _ = (now, track);
        todo!()
    }

    /// Marks a participant muted or not (shown in the API; a muted participant cannot take the
    /// floor).
    pub fn set_muted(&mut self, id: ParticipantId, muted: bool) -> Result<(), MediaError> {
        let _ = (id, muted);
        todo!()
    }

    // ---- input ----

    /// An RTP packet from a participant's leg (already decrypted).
    pub fn handle_rtp(&mut self, now: Timestamp, from: ParticipantId, packet: &[u8]) {
        let _ = (now, from, packet);
        todo!()
    }

    /// A (compound) RTCP packet from a participant's leg.
    pub fn handle_rtcp(&mut self, now: Timestamp, from: ParticipantId, packet: &[u8]) {
        let _ = (now, from, packet);
        todo!()
    }

    /// An audio level measured on a decoded leg (participants whose packets carry no RFC 6464
    /// extension: SIP and phone callers).
    pub fn handle_audio_level(&mut self, now: Timestamp, from: ParticipantId, level: AudioLevel) {
        let _ = (now, from, level);
        todo!()
    }

    /// Timers: RTCP reports, keyframe retries, NACK retries, speaker decisions.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let _ = now;
        todo!()
    }

    // ---- output ----

    /// The next packet to send, written into `buf` (cleared first).
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        let _ = buf;
        todo!()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        todo!()
    }

    /// When to call [`Self::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        todo!()
    }
}
