//! The media core itself: see the crate docs for the call order.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use pont_types::{AudioLevel, ParticipantId, Pt, RoomId, Ssrc, Timestamp};
use tracing::{debug, trace, warn};

use crate::codec::{Codec, MediaKind};
use crate::forward::{OutStreamState, Rewrite};
use crate::nack::{NackGenerator, NackWork, RetransmitCache};
use crate::recv::{LastSr, RecvState, Verdict};
use crate::rtcp::{ReceiverReport, Rtcp, SenderReport};
use crate::rtp::{self, RtpPacket};
use crate::speaker::{SpeakerConfig, SpeakerDetector};

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
    /// Audio of a muted participant, not forwarded (a moderator's mute holds even against a
    /// browser that keeps sending).
    pub dropped_muted: u64,
}

impl CoreStats {
    /// Adds `other`'s counters to these (the plane's cores summed for `/metrics`).
    pub fn absorb(&mut self, other: &Self) {
        self.rtp_in_packets += other.rtp_in_packets;
        self.rtp_in_bytes += other.rtp_in_bytes;
        self.forwarded_packets += other.forwarded_packets;
        self.forwarded_bytes += other.forwarded_bytes;
        self.retransmitted_packets += other.retransmitted_packets;
        self.rtcp_in_packets += other.rtcp_in_packets;
        self.rtcp_out_packets += other.rtcp_out_packets;
        self.keyframe_requests += other.keyframe_requests;
        self.dropped_malformed += other.dropped_malformed;
        self.dropped_unknown_participant += other.dropped_unknown_participant;
        self.dropped_unknown_ssrc += other.dropped_unknown_ssrc;
        self.dropped_out_of_range += other.dropped_out_of_range;
        self.dropped_duplicate += other.dropped_duplicate;
        self.dropped_muted += other.dropped_muted;
    }
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
    /// The NTP time (RFC 3550 §4, 32.32 fixed point) at `Timestamp::ZERO`, so our sender
    /// reports carry wall-clock time without the core reading a clock. The server sets it.
    pub ntp_at_zero: u64,
    /// The first participant id this core allocates and the step between ids: a plane of
    /// `n` cores gives core `k` ids `k + 1`, `k + 1 + n`, … so an id names its core.
    pub participant_ids: (u64, u64),
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            speaker: SpeakerConfig::default(),
            rtcp_interval: Duration::from_secs(1),
            keyframe_min_interval: Duration::from_millis(300),
            nack_cache_packets: 512,
            seed: 0x706f_6e74,
            ntp_at_zero: 0,
            participant_ids: (1, 1),
        }
    }
}

/// A vector with stable indices and reuse of freed slots: streams are looked up per packet per
/// subscriber, so the hot path indexes instead of hashing.
#[derive(Debug)]
struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> Slab<T> {
    fn new() -> Self {
        Self {
            items: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, item: T) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.items[i] = Some(item);
                i
            }
            None => {
                self.items.push(Some(item));
                self.items.len() - 1
            }
        }
    }

    fn remove(&mut self, i: usize) -> Option<T> {
        let item = self.items.get_mut(i)?.take();
        if item.is_some() {
            self.free.push(i);
        }
        item
    }

    fn get(&self, i: usize) -> Option<&T> {
        self.items.get(i)?.as_ref()
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.items.get_mut(i)?.as_mut()
    }
}

/// SplitMix64: a tiny deterministic generator for SSRCs and initial sequence numbers. These
/// need to be unpredictable to a third party only where SRTP does not protect them, which is
/// the leg's business; uniqueness is checked separately.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[derive(Debug)]
struct Room {
    participants: Vec<ParticipantId>,
    speaker: SpeakerDetector,
    active: Option<ParticipantId>,
    /// The speaker before `active`: what the active speaker sees in its own main window.
    previous: Option<ParticipantId>,
    /// Stream keys of every main-window stream in the room.
    main_streams: Vec<usize>,
    /// A track every main window shows, whoever speaks (a shared screen).
    pinned: Option<TrackId>,
}

#[derive(Debug)]
struct Participant {
    info: ParticipantInfo,
    config: ParticipantConfig,
    tracks: Vec<TrackId>,
    /// Stream keys of the streams sent to this participant.
    streams: Vec<usize>,
    /// Our SSRC as the sender of RTCP reports and feedback on this leg.
    rtcp_ssrc: Ssrc,
    next_report: Timestamp,
    /// Round-trip time estimate of the leg, from receiver reports on our sender reports.
    rtt: Duration,
}

#[derive(Debug)]
struct KeyframeRequests {
    wanted: bool,
    last_sent: Option<Timestamp>,
    tries: u32,
    fir_seq: u8,
}

#[derive(Debug)]
struct Track {
    owner: ParticipantId,
    room: RoomId,
    config: TrackConfig,
    ssrc: Option<Ssrc>,
    recv: RecvState,
    cache: Option<RetransmitCache>,
    nack: Option<NackGenerator>,
    keyframe: KeyframeRequests,
    /// SFU stream keys fed by this track.
    subscribers: Vec<usize>,
}

/// What a queued transmit carries.
#[derive(Debug)]
enum Body {
    /// A received packet, rewritten for one subscriber.
    Forward(Bytes, Rewrite),
    /// A cached packet resent as an RFC 4588 retransmission.
    Rtx(Bytes, Rewrite, Ssrc, u16, Pt),
    /// Bytes ready to go (our RTCP).
    Raw(Bytes),
}

#[derive(Debug)]
struct Pending {
    to: ParticipantId,
    kind: PacketKind,
    body: Body,
}

/// Queues one forwarded packet (a shared buffer and this subscriber's rewrite) and counts it.
fn forward(
    stats: &mut CoreStats,
    queue: &mut VecDeque<Pending>,
    to: ParticipantId,
    data: &Bytes,
    rw: Rewrite,
) {
    stats.forwarded_packets += 1;
    stats.forwarded_bytes += data.len() as u64;
    queue.push_back(Pending {
        to,
        kind: PacketKind::Rtp,
        body: Body::Forward(data.clone(), rw),
    });
}

/// The media core.
#[derive(Debug)]
pub struct MediaCore {
    config: CoreConfig,
    rng: SplitMix64,
    next_participant: u64,
    next_track: u64,
    rooms: BTreeMap<RoomId, Room>,
    participants: BTreeMap<ParticipantId, Participant>,
    tracks: BTreeMap<TrackId, Track>,
    streams: Slab<OutStreamState>,
    used_ssrcs: HashSet<u32>,
    stats: CoreStats,
    transmits: VecDeque<Pending>,
    events: VecDeque<Event>,
    rtcp_scratch: Vec<Rtcp>,
    scratch: Vec<u8>,
}

/// Retry a keyframe request that got no keyframe after this many `keyframe_min_interval`s at
/// most (1, 2, 4, 8 × the interval: quick for a lost PLI, gentle for a publisher that ignores us).
const KEYFRAME_BACKOFF_MAX_SHIFT: u32 = 3;
/// Default RTT until a receiver report tells us better (a typical WAN figure).
const DEFAULT_RTT: Duration = Duration::from_millis(100);

impl MediaCore {
    pub fn new(config: CoreConfig) -> Self {
        let first_participant = config.participant_ids.0.max(1);
        Self {
            rng: SplitMix64(config.seed),
            config,
            next_participant: first_participant,
            next_track: 1,
            rooms: BTreeMap::new(),
            participants: BTreeMap::new(),
            tracks: BTreeMap::new(),
            streams: Slab::new(),
            used_ssrcs: HashSet::new(),
            stats: CoreStats::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            rtcp_scratch: Vec::new(),
            scratch: Vec::new(),
        }
    }

    // ---- getters ----

    /// Participants of a room, in join order; `None` for a room with nobody in it.
    pub fn room(&self, room: RoomId) -> Option<Vec<ParticipantInfo>> {
        let r = self.rooms.get(&room)?;
        Some(
            r.participants
                .iter()
                .filter_map(|id| self.participants.get(id))
                .map(|p| p.info.clone())
                .collect(),
        )
    }

    /// How many participants the room has (0 for a room nobody is in); O(1).
    pub fn room_len(&self, room: RoomId) -> usize {
        self.rooms.get(&room).map_or(0, |r| r.participants.len())
    }

    /// One participant, without copying its room.
    pub fn participant(&self, id: ParticipantId) -> Option<&ParticipantInfo> {
        self.participants.get(&id).map(|p| &p.info)
    }

    /// The room's dominant speaker.
    pub fn active_speaker(&self, room: RoomId) -> Option<ParticipantId> {
        self.rooms.get(&room)?.active
    }

    /// Counters since start.
    pub fn stats(&self) -> &CoreStats {
        &self.stats
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub fn participant_count(&self) -> usize {
        self.participants.len()
    }

    /// The streams currently sent to a participant.
    pub fn streams_to(&self, id: ParticipantId) -> Vec<OutStream> {
        self.participants
            .get(&id)
            .map(|p| {
                p.streams
                    .iter()
                    .filter_map(|&k| self.streams.get(k))
                    .map(|s| s.info)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The SSRC the core uses as the sender of RTCP on this participant's leg.
    pub fn rtcp_ssrc(&self, id: ParticipantId) -> Option<Ssrc> {
        self.participants.get(&id).map(|p| p.rtcp_ssrc)
    }

    /// The participant whose track the main window sent to `id` currently shows.
    pub fn main_window_source(&self, id: ParticipantId) -> Option<ParticipantId> {
        let p = self.participants.get(&id)?;
        let track = p
            .streams
            .iter()
            .filter_map(|&k| self.streams.get(k))
            .find(|s| s.info.source == Source::MainWindow)?
            .current_track()?;
        self.tracks.get(&track).map(|t| t.owner)
    }

    // ---- commands ----

    /// Adds a participant to a room (created on first join).
    pub fn add_participant(
        &mut self,
        now: Timestamp,
        room: RoomId,
        config: ParticipantConfig,
    ) -> ParticipantId {
        let id = self.reserve_id();
        self.add_participant_as(now, id, room, config);
        id
    }

    /// A new participant id, not yet in any room: someone in a waiting room keeps the id they
    /// will have once let in ([`MediaCore::add_participant_as`]).
    pub fn reserve_id(&mut self) -> ParticipantId {
        let id = ParticipantId(self.next_participant);
        self.next_participant += self.config.participant_ids.1.max(1);
        id
    }

    /// Adds a participant under an id from [`MediaCore::reserve_id`]. An id already in use is
    /// ignored (logged): ids are never reused.
    pub fn add_participant_as(
        &mut self,
        now: Timestamp,
        id: ParticipantId,
        room: RoomId,
        config: ParticipantConfig,
    ) {
        if self.participants.contains_key(&id) || id.0 >= self.next_participant {
            warn!(participant = %id, "participant id not reserved or already in use");
            return;
        }
        let rtcp_ssrc = self.alloc_ssrc();
        // Spread report timers over the interval so legs do not all report at once.
        let phase = Duration::from_micros(
            self.rng.next() % self.config.rtcp_interval.as_micros().max(1) as u64,
        );
        let subscribe_all = config.subscribe_all;
        let main_window = config.main_window;
        let speaker_config = self.config.speaker.clone();
        let r = self.rooms.entry(room).or_insert_with(|| Room {
            participants: Vec::new(),
            speaker: SpeakerDetector::new(speaker_config),
            active: None,
            previous: None,
            main_streams: Vec::new(),
            pinned: None,
        });
        r.participants.push(id);
        r.speaker.add_participant(now, id);
        debug!(room = %room, participant = %id, kind = config.kind.as_str(), "participant joined");
        self.participants.insert(
            id,
            Participant {
                info: ParticipantInfo {
                    id,
                    room,
                    kind: config.kind,
                    display_name: config.display_name.clone(),
                    muted: false,
                },
                config,
                tracks: Vec::new(),
                streams: Vec::new(),
                rtcp_ssrc,
                next_report: now + phase,
                rtt: DEFAULT_RTT,
            },
        );
        if subscribe_all {
            let existing: Vec<TrackId> = self
                .tracks
                .iter()
                .filter(|(_, t)| t.room == room && t.owner != id)
                .map(|(&tid, _)| tid)
                .collect();
            let mut existing = existing;
            existing.sort();
            for tid in existing {
                self.subscribe_track(id, tid);
            }
        }
        if main_window {
            self.add_main_window(id, room);
            self.update_main_windows(now, room);
        }
    }

    /// Removes a participant: its tracks end and every stream fed by them is removed.
    pub fn remove_participant(&mut self, now: Timestamp, id: ParticipantId) {
        let Some(p) = self.participants.get(&id) else {
            return;
        };
        let room = p.info.room;
        for tid in p.tracks.clone() {
            self.remove_track(tid);
        }
        let Some(p) = self.participants.remove(&id) else {
            return;
        };
        for key in p.streams {
            if let Some(s) = self.streams.remove(key) {
                self.release_stream_ssrcs(&s);
                if let Source::Track(tid) = s.info.source
                    && let Some(t) = self.tracks.get_mut(&tid)
                {
                    t.subscribers.retain(|&k| k != key);
                }
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.main_streams.retain(|&k| k != key);
                }
            }
        }
        self.used_ssrcs.remove(&p.rtcp_ssrc.0);
        self.transmits.retain(|t| t.to != id);
        debug!(room = %room, participant = %id, "participant left");
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        r.participants.retain(|&x| x != id);
        r.speaker.remove_participant(now, id);
        if r.participants.is_empty() {
            self.rooms.remove(&room);
            self.events.push_back(Event::RoomEmpty { room });
            return;
        }
        if r.previous == Some(id) {
            r.previous = None;
        }
        self.check_speaker(room);
        self.update_main_windows(now, room);
    }

    /// Publishes a track.
    pub fn publish(
        &mut self,
        now: Timestamp,
        id: ParticipantId,
        track: TrackConfig,
    ) -> Result<TrackId, MediaError> {
        let p = self
            .participants
            .get(&id)
            .ok_or(MediaError::UnknownParticipant(id))?;
        let room = p.info.room;
        let publisher_nack = p.config.nack;
        for ssrc in [track.ssrc, track.rtx.map(|r| r.0)].into_iter().flatten() {
            let taken = self.tracks.values().any(|t| {
                t.room == room && (t.ssrc == Some(ssrc) || t.config.rtx.map(|r| r.0) == Some(ssrc))
            });
            if taken {
                return Err(MediaError::SsrcInUse(ssrc));
            }
        }
        let tid = TrackId(self.next_track);
        self.next_track += 1;
        let video = track.codec.kind() == MediaKind::Video;
        self.tracks.insert(
            tid,
            Track {
                owner: id,
                room,
                config: track,
                ssrc: track.ssrc,
                recv: RecvState::new(track.codec.clock_rate()),
                cache: video.then(|| RetransmitCache::new(self.config.nack_cache_packets)),
                nack: (video && publisher_nack).then(NackGenerator::new),
                keyframe: KeyframeRequests {
                    wanted: false,
                    last_sent: None,
                    tries: 0,
                    fir_seq: 0,
                },
                subscribers: Vec::new(),
            },
        );
        if let Some(p) = self.participants.get_mut(&id) {
            p.tracks.push(tid);
        }
        debug!(room = %room, participant = %id, track = tid.0, codec = %track.codec, "track published");
        let subscribers: Vec<ParticipantId> = self.rooms[&room]
            .participants
            .iter()
            .copied()
            .filter(|&s| {
                s != id
                    && self
                        .participants
                        .get(&s)
                        .is_some_and(|p| p.config.subscribe_all)
            })
            .collect();
        for s in subscribers {
            self.subscribe_track(s, tid);
        }
        if video {
            self.update_main_windows(now, room);
        }
        Ok(tid)
    }

    /// Ends a track.
    pub fn unpublish(&mut self, now: Timestamp, track: TrackId) -> Result<(), MediaError> {
        let t = self
            .tracks
            .get(&track)
            .ok_or(MediaError::UnknownTrack(track))?;
        let (room, owner) = (t.room, t.owner);
        self.remove_track(track);
        if let Some(p) = self.participants.get_mut(&owner) {
            p.tracks.retain(|&x| x != track);
        }
        self.update_main_windows(now, room);
        Ok(())
    }

    /// Shows `track` in every main window of `room`, whoever speaks (a shared screen), from
    /// its next keyframe (asked for now); `None` goes back to following the speaker. A pinned
    /// track that ends is unpinned.
    pub fn set_main_track(
        &mut self,
        now: Timestamp,
        room: RoomId,
        track: Option<TrackId>,
    ) -> Result<(), MediaError> {
        if let Some(tid) = track {
            let t = self.tracks.get(&tid).ok_or(MediaError::UnknownTrack(tid))?;
            if t.room != room {
                return Err(MediaError::UnknownTrack(tid));
            }
        }
        if let Some(r) = self.rooms.get_mut(&room) {
            r.pinned = track;
        }
        self.update_main_windows(now, room);
        Ok(())
    }

    /// Marks a participant muted or not (shown in the API). A muted participant's audio is not
    /// forwarded and its levels are ignored, so it is not heard and cannot take the floor.
    pub fn set_muted(&mut self, id: ParticipantId, muted: bool) -> Result<(), MediaError> {
        let p = self
            .participants
            .get_mut(&id)
            .ok_or(MediaError::UnknownParticipant(id))?;
        p.info.muted = muted;
        Ok(())
    }

    /// Asks a participant for a keyframe of every video track it publishes (for a consumer
    /// outside the core, such as the video composer), rate-limited like every request.
    pub fn request_keyframe_from(&mut self, now: Timestamp, id: ParticipantId) {
        let video: Vec<TrackId> = self
            .participants
            .get(&id)
            .map(|p| {
                p.tracks
                    .iter()
                    .copied()
                    .filter(|t| {
                        self.tracks
                            .get(t)
                            .is_some_and(|t| t.config.codec.kind() == MediaKind::Video)
                    })
                    .collect()
            })
            .unwrap_or_default();
        for tid in video {
            self.request_keyframe(now, tid);
        }
    }

    // ---- input ----

    /// An RTP packet from a participant's leg (already decrypted).
    pub fn handle_rtp(&mut self, now: Timestamp, from: ParticipantId, packet: &[u8]) {
        self.stats.rtp_in_packets += 1;
        self.stats.rtp_in_bytes += packet.len() as u64;
        let Some(p) = self.participants.get(&from) else {
            self.stats.dropped_unknown_participant += 1;
            return;
        };
        let Ok(pkt) = RtpPacket::parse(packet) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let muted = p.info.muted;
        let room = p.info.room;
        // Which track: by SSRC, by RTX SSRC, or latching on payload type.
        let mut rtx = false;
        let mut found = None;
        for &tid in &p.tracks {
            let Some(t) = self.tracks.get(&tid) else {
                continue;
            };
            if t.ssrc == Some(pkt.ssrc) {
                found = Some(tid);
                break;
            }
            if t.config
                .rtx
                .is_some_and(|(ssrc, pt)| ssrc == pkt.ssrc && pt == pkt.pt)
            {
                found = Some(tid);
                rtx = true;
                break;
            }
        }
        if found.is_none() {
            // SIP endpoints do not announce SSRCs: latch the first one seen with the track's
            // payload type, and follow a change of SSRC as a restart.
            found = p.tracks.iter().copied().find(|tid| {
                self.tracks
                    .get(tid)
                    .is_some_and(|t| t.config.ssrc.is_none() && t.config.pt == pkt.pt)
            });
            if let Some(t) = found.and_then(|tid| self.tracks.get_mut(&tid)) {
                if t.ssrc.is_some() {
                    trace!(participant = %from, "latched SSRC changed: restart");
                    t.recv = RecvState::new(t.config.codec.clock_rate());
                    t.recv.epoch = t.recv.epoch.wrapping_add(1);
                }
                t.ssrc = Some(pkt.ssrc);
            }
        }
        let Some(tid) = found else {
            self.stats.dropped_unknown_ssrc += 1;
            return;
        };
        // An RTX packet is unwrapped into the original it repeats (RFC 4588 §4).
        let (data, pkt) = if rtx {
            let Some((osn, payload)) = rtp::unwrap_rtx(&pkt) else {
                // Padding-only RTX: bandwidth probing, nothing to forward.
                return;
            };
            let t = &self.tracks[&tid];
            let mut buf = Vec::with_capacity(pkt.header_len + payload.len());
            buf.extend_from_slice(&packet[..pkt.header_len]);
            buf[0] &= !0x20; // the padding went with the RTX packet
            buf.extend_from_slice(payload);
            let ssrc = t.ssrc.unwrap_or(pkt.ssrc);
            rtp::rewrite_header(&mut buf, ssrc, osn, pkt.timestamp, t.config.pt);
            let data = Bytes::from(buf);
            (data, None)
        } else {
            (Bytes::copy_from_slice(packet), Some(pkt))
        };
        // Re-parse the unwrapped original (cannot fail: built from a parsed header).
        let Some(pkt) = pkt.or_else(|| RtpPacket::parse(&data).ok()) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        self.forward_packet(now, room, tid, muted, &data, &pkt);
    }

    fn forward_packet(
        &mut self,
        now: Timestamp,
        room: RoomId,
        tid: TrackId,
        muted: bool,
        data: &Bytes,
        pkt: &RtpPacket<'_>,
    ) {
        let Some(t) = self.tracks.get_mut(&tid) else {
            return;
        };
        let prev_max = t.recv.max_seq();
        let prev_epoch = t.recv.epoch;
        let verdict = t.recv.receive(now, pkt.seq, pkt.timestamp);
        let (seq, ts, new) = match verdict {
            Verdict::New { seq, ts, .. } => (seq, ts, true),
            Verdict::Late { seq, ts } => (seq, ts, false),
            Verdict::Duplicate => {
                self.stats.dropped_duplicate += 1;
                return;
            }
            Verdict::OutOfRange => {
                self.stats.dropped_out_of_range += 1;
                return;
            }
        };
        let epoch = t.recv.epoch;
        let codec = t.config.codec;
        let owner = t.owner;
        let payload = pkt.payload();
        let keyframe = codec.kind() == MediaKind::Video && codec.is_keyframe_start(payload);
        if keyframe {
            t.keyframe.wanted = false;
            t.keyframe.tries = 0;
        }
        let mut need_keyframe = false;
        if let Some(nack) = &mut t.nack {
            let prev = if epoch == prev_epoch {
                prev_max.map(|s| s.0)
            } else {
                None
            };
            need_keyframe = nack.on_packet(now, seq.0, prev);
        }
        if let Some(cache) = &mut t.cache {
            cache.insert(seq.0, epoch, data.clone());
        }
        if codec.kind() == MediaKind::Audio
            && !muted
            && let Some(level) = t.config.audio_level_ext.and_then(|id| pkt.audio_level(id))
            && let Some(r) = self.rooms.get_mut(&room)
        {
            r.speaker.handle_level(now, owner, level.1);
        }
        if muted && codec.kind() == MediaKind::Audio {
            // Received and accounted (sequence, cache) so that unmuting resumes cleanly, but
            // nobody hears a muted participant, whatever its client sends.
            self.stats.dropped_muted += 1;
            return;
        }
        // SFU subscribers.
        let payload_len = payload.len();
        for &key in &self.tracks[&tid].subscribers {
            let Some(s) = self.streams.get_mut(key) else {
                continue;
            };
            if let Some(rw) = s.rewrite(now, tid, epoch, seq, ts, payload_len) {
                forward(&mut self.stats, &mut self.transmits, s.to, data, rw);
            }
        }
        // Main windows showing this track, or switching to it at this keyframe.
        if codec.kind() == MediaKind::Video
            && let Some(r) = self.rooms.get(&room)
        {
            for &key in &r.main_streams {
                let Some(s) = self.streams.get_mut(key) else {
                    continue;
                };
                if s.info.codec != codec {
                    continue;
                }
                if s.pending == Some(tid) && keyframe && new {
                    // The new speaker's keyframe is here: switch on it.
                    s.pending = None;
                    s.end_segment();
                    trace!(room = %room, to = %s.to, track = tid.0, "main window switched");
                } else if s.current_track() != Some(tid) {
                    continue;
                }
                if let Some(rw) = s.rewrite(now, tid, epoch, seq, ts, payload_len) {
                    forward(&mut self.stats, &mut self.transmits, s.to, data, rw);
                }
            }
        }
        if need_keyframe {
            self.request_keyframe(now, tid);
        }
    }

    /// A (compound) RTCP packet from a participant's leg.
    pub fn handle_rtcp(&mut self, now: Timestamp, from: ParticipantId, packet: &[u8]) {
        self.stats.rtcp_in_packets += 1;
        if !self.participants.contains_key(&from) {
            self.stats.dropped_unknown_participant += 1;
            return;
        }
        let mut parsed = std::mem::take(&mut self.rtcp_scratch);
        parsed.clear();
        if crate::rtcp::parse_compound(packet, &mut parsed).is_err() {
            // Act on what parsed before the bad part, and count the packet.
            self.stats.dropped_malformed += 1;
        }
        for item in parsed.drain(..) {
            match item {
                Rtcp::SenderReport(sr) => {
                    if let Some(tid) = self.track_by_ssrc(from, sr.ssrc)
                        && let Some(t) = self.tracks.get_mut(&tid)
                    {
                        t.recv.last_sr = Some(LastSr {
                            ntp: sr.ntp,
                            rtp_time: sr.rtp_time,
                            received_at: now,
                        });
                    }
                    self.handle_report_blocks(now, from, &sr.reports);
                }
                Rtcp::ReceiverReport(rr) => self.handle_report_blocks(now, from, &rr.reports),
                Rtcp::Nack { media, lost, .. } => self.handle_nack(now, from, media, &lost),
                Rtcp::Pli { media, .. } => self.handle_keyframe_request(now, from, media),
                Rtcp::Fir { entries, .. } => {
                    for (ssrc, _) in entries {
                        self.handle_keyframe_request(now, from, ssrc);
                    }
                }
                _ => {}
            }
        }
        self.rtcp_scratch = parsed;
    }

    /// An audio level measured on a decoded leg (participants whose packets carry no RFC 6464
    /// extension: SIP and phone callers).
    pub fn handle_audio_level(&mut self, now: Timestamp, from: ParticipantId, level: AudioLevel) {
        let Some(p) = self.participants.get(&from) else {
            return;
        };
        if p.info.muted {
            return;
        }
        if let Some(r) = self.rooms.get_mut(&p.info.room) {
            r.speaker.handle_level(now, from, level);
        }
    }

    /// Timers: RTCP reports, keyframe retries, NACK retries, speaker decisions.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        // Speaker decisions.
        let due: Vec<RoomId> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.speaker.poll_timeout().is_some_and(|t| t <= now))
            .map(|(&id, _)| id)
            .collect();
        for room in due {
            if let Some(r) = self.rooms.get_mut(&room) {
                r.speaker.handle_timeout(now);
            }
            if self.check_speaker(room) {
                self.update_main_windows(now, room);
            }
        }
        // NACKs to publishers and keyframe retries.
        let mut work = NackWork::default();
        let tids: Vec<TrackId> = self.tracks.keys().copied().collect();
        for tid in tids {
            let Some(t) = self.tracks.get_mut(&tid) else {
                continue;
            };
            let owner = t.owner;
            let rtt = self.participants.get(&owner).map_or(DEFAULT_RTT, |p| p.rtt);
            // Ask again after about one RTT, not more often than every 20 ms.
            let retry = (rtt + Duration::from_millis(10)).max(Duration::from_millis(20));
            work.nack.clear();
            work.need_keyframe = false;
            if let Some(nack) = &mut t.nack
                && nack.next_timeout().is_some_and(|at| at <= now)
            {
                nack.poll(now, retry, &mut work);
            }
            if !work.nack.is_empty()
                && let (Some(ssrc), Some(p)) = (t.ssrc, self.participants.get(&owner))
            {
                let msg = Rtcp::Nack {
                    sender: p.rtcp_ssrc,
                    media: ssrc,
                    lost: work.nack.iter().map(|&s| s as u16).collect(),
                };
                let mut buf = Vec::new();
                msg.write_to(&mut buf);
                self.push_rtcp(owner, buf);
            }
            let retry_due = self.keyframe_retry_at(tid).is_some_and(|at| at <= now);
            if work.need_keyframe || retry_due {
                self.request_keyframe(now, tid);
            }
        }
        // Our reports.
        let due: Vec<ParticipantId> = self
            .participants
            .iter()
            .filter(|(_, p)| p.next_report <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            self.send_reports(now, id);
        }
    }

    // ---- output ----

    /// The next packet to send, written into `buf` (cleared first).
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        let p = self.transmits.pop_front()?;
        buf.clear();
        match p.body {
            Body::Forward(data, rw) => {
                buf.extend_from_slice(&data);
                rtp::rewrite_header(buf, rw.ssrc, rw.seq, rw.ts, rw.pt);
            }
            Body::Rtx(data, rw, rtx_ssrc, rtx_seq, rtx_pt) => {
                self.scratch.clear();
                self.scratch.extend_from_slice(&data);
                rtp::rewrite_header(&mut self.scratch, rw.ssrc, rw.seq, rw.ts, rw.pt);
                // Cannot fail: the bytes were parsed when they arrived.
                if let Ok(orig) = RtpPacket::parse(&self.scratch) {
                    rtp::write_rtx(&orig, rtx_ssrc, rtx_seq, rtx_pt, buf);
                }
            }
            Body::Raw(data) => buf.extend_from_slice(&data),
        }
        Some(Transmit {
            to: p.to,
            kind: p.kind,
        })
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Self::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let rooms = self.rooms.values().filter_map(|r| r.speaker.poll_timeout());
        let reports = self.participants.values().map(|p| p.next_report);
        let tracks = self.tracks.iter().filter_map(|(&tid, t)| {
            let nack = t.nack.as_ref().and_then(|n| n.next_timeout());
            match (nack, self.keyframe_retry_at(tid)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        });
        rooms.chain(reports).chain(tracks).min()
    }

    // ---- internals ----

    fn alloc_ssrc(&mut self) -> Ssrc {
        loop {
            let v = self.rng.next() as u32;
            if v != 0 && self.used_ssrcs.insert(v) {
                return Ssrc(v);
            }
        }
    }

    fn release_stream_ssrcs(&mut self, s: &OutStreamState) {
        self.used_ssrcs.remove(&s.info.ssrc.0);
        if let Some((rtx, _)) = s.info.rtx {
            self.used_ssrcs.remove(&rtx.0);
        }
    }

    /// Creates an outbound stream of `codec` to `to`, if it can receive that codec.
    fn add_stream(&mut self, to: ParticipantId, source: Source, codec: Codec) -> Option<usize> {
        let rc = *self
            .participants
            .get(&to)?
            .config
            .receive
            .iter()
            .find(|r| r.codec == codec)?;
        let ssrc = self.alloc_ssrc();
        let rtx = match (codec.kind(), rc.rtx_pt) {
            (MediaKind::Video, Some(pt)) => Some((self.alloc_ssrc(), pt)),
            _ => None,
        };
        // RFC 3550 §5.1: initial sequence number and timestamp are random.
        let r = self.rng.next();
        let info = OutStream {
            source,
            kind: codec.kind(),
            codec,
            ssrc,
            pt: rc.pt,
            rtx,
        };
        let state = OutStreamState::new(to, info, r as u16, (r >> 32) as u32);
        let key = self.streams.insert(state);
        if let Some(p) = self.participants.get_mut(&to) {
            p.streams.push(key);
        }
        self.events
            .push_back(Event::StreamAdded { to, stream: info });
        Some(key)
    }

    fn subscribe_track(&mut self, to: ParticipantId, tid: TrackId) {
        let Some(codec) = self.tracks.get(&tid).map(|t| t.config.codec) else {
            return;
        };
        if let Some(key) = self.add_stream(to, Source::Track(tid), codec)
            && let Some(t) = self.tracks.get_mut(&tid)
        {
            t.subscribers.push(key);
        }
    }

    fn add_main_window(&mut self, to: ParticipantId, room: RoomId) {
        let Some(codec) = self.participants.get(&to).and_then(|p| {
            p.config
                .receive
                .iter()
                .find(|r| r.codec.kind() == MediaKind::Video)
                .map(|r| r.codec)
        }) else {
            return;
        };
        if let Some(key) = self.add_stream(to, Source::MainWindow, codec)
            && let Some(r) = self.rooms.get_mut(&room)
        {
            r.main_streams.push(key);
        }
    }

    /// Drops a track and every SFU stream it fed; main windows showing it lose their source.
    fn remove_track(&mut self, tid: TrackId) {
        let Some(t) = self.tracks.remove(&tid) else {
            return;
        };
        if let Some(r) = self.rooms.get_mut(&t.room)
            && r.pinned == Some(tid)
        {
            r.pinned = None;
        }
        for key in t.subscribers {
            if let Some(s) = self.streams.remove(key) {
                self.release_stream_ssrcs(&s);
                if let Some(p) = self.participants.get_mut(&s.to) {
                    p.streams.retain(|&k| k != key);
                }
                self.events.push_back(Event::StreamRemoved {
                    to: s.to,
                    ssrc: s.info.ssrc,
                });
            }
        }
        if let Some(r) = self.rooms.get(&t.room) {
            for &key in &r.main_streams {
                if let Some(s) = self.streams.get_mut(key) {
                    if s.pending == Some(tid) {
                        s.pending = None;
                    }
                    if s.current_track() == Some(tid) {
                        s.end_segment();
                    }
                }
            }
        }
    }

    /// Syncs `active` with the detector; true when it changed.
    fn check_speaker(&mut self, room: RoomId) -> bool {
        let Some(r) = self.rooms.get_mut(&room) else {
            return false;
        };
        let dominant = r.speaker.dominant().filter(|d| r.participants.contains(d));
        if dominant == r.active {
            return false;
        }
        if r.active.is_some() {
            r.previous = r.active;
        }
        r.active = dominant;
        debug!(room = %room, speaker = ?dominant, "active speaker changed");
        self.events.push_back(Event::SpeakerChanged {
            room,
            speaker: dominant,
        });
        true
    }

    /// Points every main window of the room at the track it should show, asking for a
    /// keyframe where it must switch.
    fn update_main_windows(&mut self, now: Timestamp, room: RoomId) {
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        let mut requests = Vec::new();
        for &key in &r.main_streams {
            let Some(s) = self.streams.get(key) else {
                continue;
            };
            let current_owner = s
                .current_track()
                .and_then(|t| self.tracks.get(&t))
                .map(|t| t.owner);
            // Who to show: the pinned track (a shared screen), else the speaker, else whoever
            // is shown now, else the previous speaker, else the first participant with video.
            // Never the viewer itself.
            let pinned = r.pinned.filter(|tid| {
                self.tracks
                    .get(tid)
                    .is_some_and(|t| t.owner != s.to && t.config.codec == s.info.codec)
            });
            let candidates = [r.active, current_owner, r.previous]
                .into_iter()
                .flatten()
                .chain(r.participants.iter().copied());
            let desired = pinned.or_else(|| {
                candidates.filter(|&c| c != s.to).find_map(|c| {
                    self.participants
                        .get(&c)?
                        .tracks
                        .iter()
                        .copied()
                        .find(|tid| {
                            self.tracks
                                .get(tid)
                                .is_some_and(|t| t.config.codec == s.info.codec)
                        })
                })
            });
            let current = s.current_track();
            let new_pending = match desired {
                Some(d) if Some(d) != current => Some(d),
                _ => None,
            };
            if new_pending != s.pending
                && let Some(d) = new_pending
            {
                requests.push(d);
            }
            if let Some(s) = self.streams.get_mut(key) {
                s.pending = new_pending;
            }
        }
        for tid in requests {
            self.request_keyframe(now, tid);
        }
    }

    fn keyframe_retry_at(&self, tid: TrackId) -> Option<Timestamp> {
        let t = self.tracks.get(&tid)?;
        if !t.keyframe.wanted {
            return None;
        }
        let last = t.keyframe.last_sent?;
        let shift = t
            .keyframe
            .tries
            .saturating_sub(1)
            .min(KEYFRAME_BACKOFF_MAX_SHIFT);
        Some(last + self.config.keyframe_min_interval * (1 << shift))
    }

    /// Asks a publisher for a keyframe (FIR where negotiated, else PLI), at most once per
    /// `keyframe_min_interval`; a request inside the interval is remembered and sent when the
    /// interval is over, unless a keyframe arrives first.
    fn request_keyframe(&mut self, now: Timestamp, tid: TrackId) {
        let min_interval = self.config.keyframe_min_interval;
        let Some(t) = self.tracks.get_mut(&tid) else {
            return;
        };
        t.keyframe.wanted = true;
        if t.keyframe
            .last_sent
            .is_some_and(|last| now.saturating_since(last) < min_interval)
        {
            return;
        }
        let (Some(ssrc), Some(p)) = (t.ssrc, self.participants.get(&t.owner)) else {
            return;
        };
        t.keyframe.last_sent = Some(now);
        t.keyframe.tries += 1;
        let msg = if p.config.fir {
            t.keyframe.fir_seq = t.keyframe.fir_seq.wrapping_add(1);
            Rtcp::Fir {
                sender: p.rtcp_ssrc,
                entries: vec![(ssrc, t.keyframe.fir_seq)],
            }
        } else {
            Rtcp::Pli {
                sender: p.rtcp_ssrc,
                media: ssrc,
            }
        };
        let owner = t.owner;
        let mut buf = Vec::new();
        msg.write_to(&mut buf);
        self.stats.keyframe_requests += 1;
        self.push_rtcp(owner, buf);
    }

    fn push_rtcp(&mut self, to: ParticipantId, buf: Vec<u8>) {
        self.stats.rtcp_out_packets += 1;
        self.transmits.push_back(Pending {
            to,
            kind: PacketKind::Rtcp,
            body: Body::Raw(Bytes::from(buf)),
        });
    }

    fn track_by_ssrc(&self, owner: ParticipantId, ssrc: Ssrc) -> Option<TrackId> {
        self.participants
            .get(&owner)?
            .tracks
            .iter()
            .copied()
            .find(|tid| self.tracks.get(tid).is_some_and(|t| t.ssrc == Some(ssrc)))
    }

    fn stream_by_ssrc(&self, to: ParticipantId, ssrc: Ssrc) -> Option<usize> {
        self.participants
            .get(&to)?
            .streams
            .iter()
            .copied()
            .find(|&k| self.streams.get(k).is_some_and(|s| s.info.ssrc == ssrc))
    }

    /// RTT from report blocks about our streams (RFC 3550 §6.4.1: now - LSR - DLSR).
    fn handle_report_blocks(
        &mut self,
        now: Timestamp,
        from: ParticipantId,
        blocks: &[crate::rtcp::ReportBlock],
    ) {
        for b in blocks {
            let Some(key) = self.stream_by_ssrc(from, b.ssrc) else {
                continue;
            };
            let Some((lsr, sent_at)) = self.streams.get(key).and_then(|s| s.last_sr) else {
                continue;
            };
            if b.last_sr == 0 || b.last_sr != lsr {
                continue;
            }
            let since = now.saturating_since(sent_at);
            let dlsr = Duration::from_micros(b.delay_since_last_sr as u64 * 1_000_000 / 65_536);
            let rtt = since.saturating_sub(dlsr);
            if let Some(p) = self.participants.get_mut(&from) {
                // Smooth like TCP's SRTT (RFC 6298: 1/8 gain).
                p.rtt = (p.rtt * 7 + rtt) / 8;
            }
        }
    }

    /// A subscriber's NACK: answer from the cache where the packet still is. What is not there
    /// was either never received by us (our own NACK generator is already asking the publisher)
    /// or is too old to matter.
    fn handle_nack(&mut self, _now: Timestamp, from: ParticipantId, media: Ssrc, lost: &[u16]) {
        let Some(key) = self.stream_by_ssrc(from, media) else {
            self.stats.dropped_unknown_ssrc += 1;
            return;
        };
        for &out_seq in lost {
            let Some(s) = self.streams.get_mut(key) else {
                return;
            };
            let Some((seg, in_seq)) = s.source_of(out_seq) else {
                continue;
            };
            let Some(t) = self.tracks.get(&seg.track) else {
                continue;
            };
            let Some(data) = t.cache.as_ref().and_then(|c| c.get(in_seq, seg.epoch)) else {
                continue;
            };
            let Ok(orig) = RtpPacket::parse(data) else {
                continue;
            };
            let rw = Rewrite {
                ssrc: s.info.ssrc,
                seq: out_seq,
                ts: (orig.timestamp as u64).wrapping_add(seg.ts_offset) as u32,
                pt: s.info.pt,
            };
            let body = match s.info.rtx {
                Some((rtx_ssrc, rtx_pt)) => {
                    let seq = s.rtx_seq;
                    s.rtx_seq = s.rtx_seq.wrapping_add(1);
                    Body::Rtx(data.clone(), rw, rtx_ssrc, seq, rtx_pt)
                }
                None => Body::Forward(data.clone(), rw),
            };
            self.stats.retransmitted_packets += 1;
            self.transmits.push_back(Pending {
                to: from,
                kind: PacketKind::Rtp,
                body,
            });
        }
    }

    /// A subscriber's PLI/FIR on one of its streams goes to the publisher behind it.
    fn handle_keyframe_request(&mut self, now: Timestamp, from: ParticipantId, media: Ssrc) {
        let Some(key) = self.stream_by_ssrc(from, media) else {
            return;
        };
        let Some(s) = self.streams.get(key) else {
            return;
        };
        let target = match s.info.source {
            Source::Track(tid) => Some(tid),
            Source::MainWindow => s.pending.or(s.current_track()),
        };
        if let Some(tid) = target {
            self.request_keyframe(now, tid);
        }
    }

    /// NTP time (32.32) for a core timestamp.
    fn ntp(&self, now: Timestamp) -> u64 {
        let micros = now.as_micros();
        let secs = micros / 1_000_000;
        let frac = ((micros % 1_000_000) << 32) / 1_000_000;
        self.config.ntp_at_zero.wrapping_add((secs << 32) | frac)
    }

    /// One compound RTCP packet to a participant: an SR per stream we send it, then an RR about
    /// every track it publishes.
    fn send_reports(&mut self, now: Timestamp, id: ParticipantId) {
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        p.next_report = now + self.config.rtcp_interval;
        let rtcp_ssrc = p.rtcp_ssrc;
        let streams = p.streams.clone();
        let tracks = p.tracks.clone();
        let mut buf = Vec::new();
        for key in streams {
            let Some(s) = self.streams.get(key) else {
                continue;
            };
            if !s.has_sent() {
                continue;
            }
            // Carry the publisher's wall-clock/RTP mapping through the rewrite, so receivers
            // keep lip sync; otherwise extrapolate our own.
            let translated = match (s.info.source, s.segment) {
                (Source::Track(tid), Some(seg)) if seg.track == tid => self
                    .tracks
                    .get(&tid)
                    .and_then(|t| t.recv.last_sr)
                    .map(|sr| {
                        let elapsed = now.saturating_since(sr.received_at);
                        let ticks = elapsed.as_micros() * s.clock_rate as u128 / 1_000_000;
                        let rtp = (sr.rtp_time as u64)
                            .wrapping_add(seg.ts_offset)
                            .wrapping_add(ticks as u64) as u32;
                        let ntp = sr.ntp.wrapping_add(
                            (elapsed.as_secs() << 32)
                                | (((elapsed.subsec_nanos() as u64) << 32) / 1_000_000_000),
                        );
                        (ntp, rtp)
                    }),
                _ => None,
            };
            let (ntp, rtp_time) = translated.unwrap_or_else(|| (self.ntp(now), s.rtp_time_at(now)));
            Rtcp::SenderReport(SenderReport {
                ssrc: s.info.ssrc,
                ntp,
                rtp_time,
                packet_count: s.packets_sent as u32,
                octet_count: s.octets_sent as u32,
                reports: Vec::new(),
            })
            .write_to(&mut buf);
            if let Some(s) = self.streams.get_mut(key) {
                s.last_sr = Some((((ntp >> 16) & 0xffff_ffff) as u32, now));
            }
        }
        let mut reports = Vec::new();
        for tid in tracks {
            if let Some(t) = self.tracks.get_mut(&tid)
                && let Some(ssrc) = t.ssrc
            {
                // RFC 3550 §6.4: at most 31 blocks per report.
                if reports.len() < 31 {
                    reports.extend(t.recv.report_block(now, ssrc));
                }
            }
        }
        if !reports.is_empty() || !buf.is_empty() {
            Rtcp::ReceiverReport(ReceiverReport {
                ssrc: rtcp_ssrc,
                reports,
            })
            .write_to(&mut buf);
        }
        if !buf.is_empty() {
            self.push_rtcp(id, buf);
        }
    }
}

#[cfg(test)]
mod id_space_tests {
    use super::*;

    #[test]
    fn a_core_of_a_plane_allocates_ids_in_its_own_residue_class() {
        // Core 1 of 3 (the plane's second shard): 2, 5, 8, …
        let mut core = MediaCore::new(CoreConfig {
            participant_ids: (2, 3),
            ..CoreConfig::default()
        });
        let ids: Vec<u64> = (0..3)
            .map(|_| {
                core.add_participant(Timestamp::ZERO, RoomId(1), ParticipantConfig::web("x"))
                    .0
            })
            .collect();
        assert_eq!(ids, [2, 5, 8]);
        let mut lone = MediaCore::new(CoreConfig::default());
        let id = lone.add_participant(Timestamp::ZERO, RoomId(1), ParticipantConfig::web("y"));
        assert_eq!(id, ParticipantId(1));
    }
}
