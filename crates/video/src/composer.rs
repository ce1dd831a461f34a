//! The per-room composer: participants' H.264 in, one composed, encoded H.264 stream out.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use openh264::OpenH264API;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Level,
    Profile, RateControlMode, UsageType,
};
use openh264::formats::YUVSource;
use pont_types::{DataRate, ParticipantId, Timestamp};
use tracing::{debug, trace, warn};

use crate::depacketize::{AccessUnit, Depacketizer, DepacketizerOutput};
use crate::frame::{I420Frame, Rect, Yuv};
use crate::h264::annexb_nal_units;
use crate::layout::{Layout, fit, geometry};
use crate::packetize::{DEFAULT_MAX_PAYLOAD, Packetizer, RtpPayload};
use crate::{VideoError, font};

/// Frames kept since a participant's last IDR so a hidden participant can be shown at once
/// (decoded from the IDR up) when the speaker changes, without waiting for a new keyframe.
/// 64 frames is 2–4 s at 15–30 fps; a publisher that sends keyframes only on request
/// (browsers) overflows it and then costs one keyframe request when shown.
const GOP_MAX_FRAMES: usize = 64;
/// Bound on the bytes of that cache per participant.
const GOP_MAX_BYTES: usize = 4 << 20;

/// A participant whose last video packet is older than this is shown as a tile (camera off,
/// video muted, or the stream died) instead of a frozen picture. 2 s is well past any
/// frame interval and keyframe round trip, short enough that a frozen face does not linger.
const VIDEO_TIMEOUT: Duration = Duration::from_secs(2);

/// Letterbox and empty-canvas colour: dark grey, so a bar is visibly not a broken picture.
const BACKGROUND: Yuv = Yuv::new(32, 128, 128);
/// Luma of the name on a tile.
const TEXT_LUMA: u8 = 235;
/// Tile colours for participants without video: muted, distinct, all dark enough for white
/// text (BT.601 of #3b5b92, #2e7d5b, #8a4b2f, #6a3d8f, #37474f, #8c3b5a).
const TILE_COLOURS: [Yuv; 6] = [
    Yuv::new(88, 153, 113),
    Yuv::new(97, 126, 99),
    Yuv::new(87, 109, 160),
    Yuv::new(79, 158, 145),
    Yuv::new(68, 135, 120),
    Yuv::new(80, 130, 164),
];

/// Configuration of one room's composer.
#[derive(Debug, Clone, PartialEq)]
pub struct ComposerConfig {
    /// Canvas width in pixels (rounded down to even, at least 16). Default 1280.
    pub width: u32,
    /// Canvas height in pixels (rounded down to even, at least 16). Default 720.
    pub height: u32,
    /// Composed frames per second. Default 15: room systems and recordings of talking heads
    /// look fine at 15, and it halves the encode cost of 30.
    pub frame_rate: u32,
    /// Encoder target bitrate. Default 1.5 Mbit/s, what room systems commonly negotiate for
    /// 720p (H.323/SIP endpoints offer 1–2 Mbit/s per call for 720p).
    pub bitrate: DataRate,
    /// Thumbnails in the strip at most. Default 4.
    pub max_strip: usize,
    /// Largest RTP payload. Default [`DEFAULT_MAX_PAYLOAD`] (1200).
    pub max_payload: usize,
    /// Minimum time between two forced keyframes of the composed stream, however many viewers
    /// ask. Default 500 ms: a room of ten room systems that all send FIR on join would
    /// otherwise make every frame an IDR.
    pub keyframe_min_interval: Duration,
    /// Minimum time between two keyframe requests to one publisher. Default 500 ms, a few
    /// round trips: a keyframe takes that long to arrive, so asking faster only adds load.
    pub keyframe_request_interval: Duration,
    /// A keyframe at least this often even unasked, for recordings (seeking) and viewers that
    /// lose packets without sending PLI. Default 10 s; `None`: only on request.
    pub periodic_keyframe: Option<Duration>,
    /// What the main window shows. Default [`Layout::Speaker`].
    pub layout: Layout,
    /// Emit every composed picture as [`ComposerOutput::Frame`] (the recorder's raw tap).
    /// Default off.
    pub tap_frames: bool,
    /// Sequence number of the first packet. Default 0; viewers get their own values through
    /// the media core's per-subscriber rewrite.
    pub first_seq: u16,
    /// Added to every RTP timestamp. Default 0.
    pub timestamp_offset: u32,
}

impl Default for ComposerConfig {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            frame_rate: 15,
            bitrate: DataRate::from_kbps(1500),
            max_strip: 4,
            max_payload: DEFAULT_MAX_PAYLOAD,
            keyframe_min_interval: Duration::from_millis(500),
            keyframe_request_interval: Duration::from_millis(500),
            periodic_keyframe: Some(Duration::from_secs(10)),
            layout: Layout::Speaker,
            tap_frames: false,
            first_seq: 0,
            timestamp_offset: 0,
        }
    }
}

/// One H.264 RTP packet from a participant, as the server received it (header parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpIn<'a> {
    pub seq: u16,
    /// RTP timestamp (90 kHz).
    pub timestamp: u32,
    pub marker: bool,
    /// The payload after the RTP header, extensions and padding.
    pub payload: &'a [u8],
}

/// What the composer has for its caller.
#[derive(Debug, Clone)]
pub enum ComposerOutput {
    /// An RTP payload of the composed stream, for every viewer of the room (room systems, the
    /// recorder). One sequence/timestamp space per room; the media core gives each viewer its
    /// own SSRC, sequence and timestamp offsets like any forwarded stream.
    Packet(RtpPayload),
    /// Ask this participant for a keyframe (RTCP PLI/FIR, or SIP INFO `picture_fast_update`
    /// for a room system). Already rate-limited per participant.
    RequestKeyframe(ParticipantId),
    /// The composed picture just encoded (only with [`ComposerConfig::tap_frames`]).
    /// The access unit just encoded, in Annex-B form with the SPS/PPS before every IDR (only
    /// while [`Composer::set_access_unit_tap`] is on): the recorder's input.
    AccessUnit(AccessUnit),
    Frame {
        /// RTP timestamp of the packets encoding it.
        rtp_timestamp: u32,
        frame: Arc<I420Frame>,
    },
}

/// Counters since creation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ComposerStats {
    /// Composed frames encoded.
    pub frames_encoded: u64,
    /// Of which IDR.
    pub keyframes_encoded: u64,
    /// Ticks whose picture was unchanged, so nothing was redrawn (it is still encoded).
    pub compose_skipped: u64,
    /// RTP payloads emitted.
    pub packets_out: u64,
    /// Payload bytes emitted.
    pub bytes_out: u64,
    /// Participant frames decoded.
    pub frames_decoded: u64,
    /// Participant frames the decoder rejected (corrupt H.264).
    pub decode_errors: u64,
    /// Participant frames not decoded because the participant is not shown.
    pub frames_not_shown: u64,
    /// Keyframe requests sent to publishers.
    pub keyframe_requests: u64,
    /// RTP packets for unknown participants.
    pub unknown_participant: u64,
    /// Encoder failures (the tick produced no packet).
    pub encode_errors: u64,
}

struct Participant {
    name: String,
    joined: u64,
    last_spoke: Option<Timestamp>,
    depacketizer: Depacketizer,
    /// Present while the participant is shown.
    decoder: Option<Decoder>,
    /// The decoder has seen an IDR and every frame since.
    synced: bool,
    /// Frames since the last IDR (starting with it), or empty if that run is incomplete.
    gop: Vec<AccessUnit>,
    gop_bytes: usize,
    /// The last good decoded picture, kept for as long as the participant stays.
    frame: Option<I420Frame>,
    /// Bumped on every new picture, for the composer's redraw check.
    generation: u64,
    last_keyframe_request: Option<Timestamp>,
    /// When the last video packet arrived.
    last_packet: Option<Timestamp>,
    shown: bool,
    tile: Yuv,
}

impl Participant {
    /// Sending video now (a packet within [`VIDEO_TIMEOUT`]).
    fn sends_video(&self, now: Timestamp) -> bool {
        self.last_packet
            .is_some_and(|t| now.saturating_since(t) < VIDEO_TIMEOUT)
    }

    /// The picture to draw: the last good one while video flows, else none (the tile).
    fn picture(&self, now: Timestamp) -> Option<&I420Frame> {
        self.frame.as_ref().filter(|_| self.sends_video(now))
    }
}

/// What one slot showed at the last compose, to skip redrawing an unchanged picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SlotKey {
    participant: ParticipantId,
    generation: u64,
    rect: Rect,
}

/// One room's video MCU: decodes the participants the layout shows, composes them onto the
/// canvas and encodes once.
///
/// Families of methods (quinn-proto style):
/// - getters: [`Composer::stats`], [`Composer::main_participant`], [`Composer::strip`],
///   [`Composer::participant_frame`], [`Composer::canvas`];
/// - `handle_*`: [`Composer::handle_rtp`] (a participant's packet),
///   [`Composer::handle_timeout`] (the frame tick: compose, encode, packetize);
/// - commands: [`Composer::add_participant`], [`Composer::remove_participant`],
///   [`Composer::set_speaker`], [`Composer::set_layout`], [`Composer::request_keyframe`];
/// - `poll_*`: after every input or command drain [`Composer::poll_output`] until `None`,
///   then call [`Composer::handle_timeout`] at [`Composer::poll_timeout`].
pub struct Composer {
    config: ComposerConfig,
    participants: BTreeMap<ParticipantId, Participant>,
    next_join: u64,
    speaker: Option<ParticipantId>,
    main: Option<ParticipantId>,
    /// Who should take the main window as soon as a picture of theirs is decoded; until
    /// then the previous main window stays (no tile flash on a speaker switch).
    pending_main: Option<ParticipantId>,
    /// Since when `pending_main` waits; after [`VIDEO_TIMEOUT`] it takes the window anyway.
    pending_since: Option<Timestamp>,
    strip: Vec<ParticipantId>,
    canvas: Arc<I420Frame>,
    drawn: Vec<SlotKey>,
    encoder: Encoder,
    packetizer: Packetizer,
    /// [`Composer::set_access_unit_tap`].
    tap_access_units: bool,
    next_frame: Option<Timestamp>,
    /// The first frame's time: the frame grid's origin.
    grid_origin: Option<Timestamp>,
    keyframe_pending: bool,
    last_keyframe: Option<Timestamp>,
    scratch: Vec<RtpPayload>,
    out: VecDeque<ComposerOutput>,
    stats: ComposerStats,
}

impl std::fmt::Debug for Composer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Composer")
            .field("config", &self.config)
            .field("participants", &self.participants.len())
            .field("main", &self.main)
            .field("strip", &self.strip)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Composer {
    /// A composer with an empty room.
    pub fn new(mut config: ComposerConfig) -> Result<Self, VideoError> {
        // The encoder and I420 want even sizes; openh264 tops out at 3840×2160.
        config.width = (config.width & !1).clamp(16, 3840);
        config.height = (config.height & !1).clamp(16, 2160);
        config.frame_rate = config.frame_rate.clamp(1, 60);
        let intra_period = config.periodic_keyframe.map_or(0, |p| {
            (p.as_millis() as u64 * u64::from(config.frame_rate) / 1000).max(1) as u32
        });
        let bitrate = u32::try_from(config.bitrate.as_bps()).unwrap_or(u32::MAX);
        let enc_config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(bitrate))
            .max_frame_rate(FrameRate::from_hz(config.frame_rate as f32))
            .rate_control_mode(RateControlMode::Bitrate)
            .usage_type(UsageType::CameraVideoRealTime)
            // Constrained baseline, what every room system and browser decodes.
            .profile(Profile::Baseline)
            .level(level_for(config.width, config.height))
            .complexity(Complexity::Low)
            // Rate control needs frame skipping (openh264 cannot hold the bitrate otherwise); a
            // skipped tick just repeats the previous picture at the viewer.
            .skip_frames(true)
            .intra_frame_period(IntraFramePeriod::from_num_frames(intra_period))
            // One thread per room: rooms are the unit of parallelism in the server.
            .num_threads(1);
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), enc_config)?;
        Ok(Self {
            canvas: Arc::new(I420Frame::new(config.width, config.height, BACKGROUND)),
            packetizer: Packetizer::new(config.max_payload, config.first_seq),
            tap_access_units: false,
            config,
            participants: BTreeMap::new(),
            next_join: 0,
            speaker: None,
            main: None,
            pending_main: None,
            pending_since: None,
            strip: Vec::new(),
            drawn: Vec::new(),
            encoder,
            next_frame: None,
            grid_origin: None,
            keyframe_pending: false,
            last_keyframe: None,
            scratch: Vec::new(),
            out: VecDeque::new(),
            stats: ComposerStats::default(),
        })
    }

    // ---- getters ----

    /// The configuration in force (sizes after rounding).
    pub fn config(&self) -> &ComposerConfig {
        &self.config
    }

    pub fn stats(&self) -> ComposerStats {
        self.stats
    }

    /// Who the main window shows.
    pub fn main_participant(&self) -> Option<ParticipantId> {
        self.main
    }

    /// Who the strip shows, left to right.
    pub fn strip(&self) -> &[ParticipantId] {
        &self.strip
    }

    /// A participant's last good decoded picture (only kept while or since it was shown).
    pub fn participant_frame(&self, id: ParticipantId) -> Option<&I420Frame> {
        self.participants.get(&id)?.frame.as_ref()
    }

    /// The last composed picture.
    pub fn canvas(&self) -> &I420Frame {
        &self.canvas
    }

    /// Where the main window and the strip tiles are on the canvas now.
    pub fn slots(&self) -> (Rect, Vec<Rect>) {
        let g = geometry(
            self.config.width,
            self.config.height,
            self.config.max_strip,
            self.strip.len(),
        );
        (g.main, g.strip)
    }

    // ---- commands ----

    /// A participant joins the room (with or without video). Adding an existing id renames it.
    pub fn add_participant(&mut self, now: Timestamp, id: ParticipantId, display_name: &str) {
        if let Some(p) = self.participants.get_mut(&id) {
            p.name = display_name.to_owned();
            self.drawn.clear();
            return;
        }
        let tile = TILE_COLOURS[(id.0 % TILE_COLOURS.len() as u64) as usize];
        self.participants.insert(
            id,
            Participant {
                name: display_name.to_owned(),
                joined: self.next_join,
                last_spoke: None,
                depacketizer: Depacketizer::new(),
                decoder: None,
                synced: false,
                gop: Vec::new(),
                gop_bytes: 0,
                frame: None,
                generation: 0,
                last_keyframe_request: None,
                last_packet: None,
                shown: false,
                tile,
            },
        );
        self.next_join += 1;
        self.relayout(now);
    }

    /// A participant leaves: its slot goes to the next one.
    pub fn remove_participant(&mut self, now: Timestamp, id: ParticipantId) {
        if self.participants.remove(&id).is_some() {
            if self.speaker == Some(id) {
                self.speaker = None;
            }
            self.relayout(now);
        }
    }

    /// The room's active speaker changed (the media core's `Event::SpeakerChanged`). `None`
    /// keeps the previous speaker in the main window. The next composed frame shows the new
    /// speaker if a picture of theirs can be decoded by then (from the frames kept since their
    /// last keyframe, or their last good picture); otherwise a keyframe is requested and the
    /// main window keeps the previous speaker until the new one's first picture is decoded
    /// (or shows the new one's tile if the previous one had no picture either).
    pub fn set_speaker(&mut self, now: Timestamp, speaker: Option<ParticipantId>) {
        let Some(id) = speaker else {
            return;
        };
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        p.last_spoke = Some(now);
        self.speaker = Some(id);
        self.relayout(now);
    }

    /// Changes what the main window shows.
    pub fn set_layout(&mut self, now: Timestamp, layout: Layout) {
        self.config.layout = layout;
        self.relayout(now);
    }

    /// A viewer asked for a keyframe (PLI, FIR, SIP INFO fast-update). The next frame at least
    /// [`ComposerConfig::keyframe_min_interval`] after the previous forced one is an IDR.
    pub fn request_keyframe(&mut self, _now: Timestamp) {
        self.keyframe_pending = true;
    }

    /// Emits every encoded access unit as [`ComposerOutput::AccessUnit`] while on (a recorder
    /// takes the room's picture). Turning it on asks for a keyframe, so the recording can start
    /// with the next frame (past the keyframe rate limit: a recording starts rarely).
    pub fn set_access_unit_tap(&mut self, now: Timestamp, on: bool) {
        if on && !self.tap_access_units {
            self.request_keyframe(now);
            self.last_keyframe = None;
        }
        self.tap_access_units = on;
    }

    // ---- handle ----

    /// A participant's H.264 RTP packet, in arrival order.
    pub fn handle_rtp(
        &mut self,
        now: Timestamp,
        id: ParticipantId,
        packet: RtpIn<'_>,
    ) -> Result<(), VideoError> {
        let Some(p) = self.participants.get_mut(&id) else {
            self.stats.unknown_participant += 1;
            return Err(VideoError::UnknownParticipant(id));
        };
        p.last_packet = Some(now);
        p.depacketizer
            .push(packet.seq, packet.timestamp, packet.marker, packet.payload);
        while let Some(o) = p.depacketizer.poll_output() {
            match o {
                DepacketizerOutput::NeedKeyframe => {
                    request_from(&self.config, &mut self.stats, &mut self.out, now, id, p);
                }
                DepacketizerOutput::Frame(au) => {
                    on_access_unit(&self.config, &mut self.stats, &mut self.out, now, id, p, au);
                }
            }
        }
        if self.pending_main == Some(id) && p.frame.is_some() {
            // The new speaker's first picture: now they take the main window.
            self.relayout(now);
        }
        Ok(())
    }

    /// The frame tick: when [`Composer::poll_timeout`] is due, compose the layout, encode it
    /// and queue its packets. Earlier calls do nothing.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.next_frame.is_some_and(|t| now < t) {
            return;
        }
        // Frames sit on a fixed grid: slot n is the first frame's time plus n frame intervals,
        // and its RTP timestamp is the first one's plus exactly n × 90000 / fps ticks, not the
        // (jittery) time the caller got round to it: players and muxers see a steady frame
        // rate. A caller late by whole frames skips those slots.
        let fps = u64::from(self.config.frame_rate.max(1));
        let origin = *self.grid_origin.get_or_insert(now);
        // Slot n starts at ⌊n × 10⁶ / fps⌋ µs: the last slot started by now.
        let elapsed = u64::try_from(now.saturating_since(origin).as_micros()).unwrap_or(u64::MAX);
        let slot = (elapsed.saturating_add(1).saturating_mul(fps)).div_ceil(1_000_000) - 1;
        self.next_frame = Some(origin + Duration::from_micros((slot + 1) * 1_000_000 / fps));
        // RTP video clock: 90 kHz (RFC 6184 §5.1).
        let origin_rtp = (origin.as_micros().wrapping_mul(9) / 100) as u32;
        let rtp_timestamp = origin_rtp
            .wrapping_add((slot.wrapping_mul(90_000) / fps) as u32)
            .wrapping_add(self.config.timestamp_offset);
        if self.pending_main.is_some() {
            // The wait for the new main window's picture may have run out.
            self.relayout(now);
        }
        self.compose(now);
        self.encode(now, rtp_timestamp);
    }

    /// When to call [`Composer::handle_timeout`] next; [`Timestamp::ZERO`] before the first
    /// frame (that is: now).
    pub fn poll_timeout(&self) -> Timestamp {
        self.next_frame.unwrap_or(Timestamp::ZERO)
    }

    /// The next output.
    pub fn poll_output(&mut self) -> Option<ComposerOutput> {
        self.out.pop_front()
    }

    // ---- internals ----

    /// Recomputes main window and strip; starts decoding who became shown (catching up from
    /// their kept frames), stops decoding who is no longer shown.
    fn relayout(&mut self, now: Timestamp) {
        let present = |id: &Option<ParticipantId>| id.filter(|i| self.participants.contains_key(i));
        let by_join = || {
            let mut ids: Vec<_> = self
                .participants
                .iter()
                .map(|(id, p)| (p.joined, *id))
                .collect();
            ids.sort_unstable();
            ids.into_iter().map(|(_, id)| id)
        };
        let wanted = match self.config.layout {
            Layout::Pinned(pinned) if self.participants.contains_key(&pinned) => Some(pinned),
            _ => present(&self.speaker)
                .or_else(|| present(&self.main))
                .or_else(|| by_join().next()),
        };
        // Keep showing the current main window while the wanted one sends video that cannot
        // be shown yet and the current one has a picture (the media core's main window
        // switches on the keyframe too). A participant without video switches at once: their
        // tile is all there will be.
        let participant = |id: Option<ParticipantId>| id.and_then(|i| self.participants.get(&i));
        let current = present(&self.main);
        let waiting =
            participant(wanted).is_some_and(|p| p.sends_video(now) && p.picture(now).is_none());
        let current_has_picture = participant(current).is_some_and(|p| p.picture(now).is_some());
        if self.pending_main != wanted {
            self.pending_since = None;
        }
        let waited_enough = self
            .pending_since
            .is_some_and(|t| now.saturating_since(t) >= VIDEO_TIMEOUT);
        let main = if wanted != current && waiting && current_has_picture && !waited_enough {
            self.pending_main = wanted;
            self.pending_since.get_or_insert(now);
            current
        } else {
            self.pending_main = None;
            self.pending_since = None;
            wanted
        };
        let mut others: Vec<ParticipantId> = by_join().filter(|id| Some(*id) != main).collect();
        if others.len() > self.config.max_strip {
            // Keep the most recent speakers (then the earliest joiners), shown in join order so
            // tiles do not jump around.
            let mut ranked = others.clone();
            ranked.sort_by_key(|id| {
                let p = &self.participants[id];
                (std::cmp::Reverse(p.last_spoke), p.joined)
            });
            ranked.truncate(self.config.max_strip);
            others.retain(|id| ranked.contains(id));
        }
        if let Layout::Pinned(_) = self.config.layout {
            // The speaker first in the strip while something else is pinned.
            if let Some(pos) = self
                .speaker
                .and_then(|s| others.iter().position(|o| *o == s))
            {
                let s = others.remove(pos);
                others.insert(0, s);
            }
        }
        if main != self.main || others != self.strip {
            debug!(?main, strip = ?others, "video layout changed");
        }
        self.main = main;
        self.strip = others;
        // The pending main participant is decoded too, even if it has no slot yet.
        let shown: Vec<ParticipantId> = self
            .main
            .iter()
            .chain(&self.strip)
            .chain(&self.pending_main)
            .copied()
            .collect();
        for (id, p) in &mut self.participants {
            let now_shown = shown.contains(id);
            if now_shown && !p.shown {
                p.shown = true;
                catch_up(&self.config, &mut self.stats, &mut self.out, now, *id, p);
            } else if !now_shown && p.shown {
                // Stop decoding; the decoder's memory goes too. The last picture stays.
                p.shown = false;
                p.decoder = None;
                p.synced = false;
            }
        }
    }

    fn compose(&mut self, now: Timestamp) {
        let g = geometry(
            self.config.width,
            self.config.height,
            self.config.max_strip,
            self.strip.len(),
        );
        let slots: Vec<(ParticipantId, Rect)> = self
            .main
            .iter()
            .map(|id| (*id, g.main))
            .chain(self.strip.iter().copied().zip(g.strip.iter().copied()))
            .collect();
        let keys: Vec<SlotKey> = slots
            .iter()
            .map(|(id, rect)| SlotKey {
                participant: *id,
                // u64::MAX: the tile.
                generation: self
                    .participants
                    .get(id)
                    .filter(|p| p.picture(now).is_some())
                    .map_or(u64::MAX, |p| p.generation),
                rect: *rect,
            })
            .collect();
        if keys == self.drawn {
            self.stats.compose_skipped += 1;
            return;
        }
        let canvas = Arc::make_mut(&mut self.canvas);
        if keys.len() != self.drawn.len()
            || keys.iter().zip(&self.drawn).any(|(a, b)| a.rect != b.rect)
        {
            let full = Rect::new(0, 0, canvas.width(), canvas.height());
            canvas.fill(full, BACKGROUND);
        }
        for (key, (id, rect)) in keys.iter().zip(&slots) {
            if self.drawn.contains(key) {
                continue;
            }
            let Some(p) = self.participants.get(id) else {
                continue;
            };
            match p.picture(now) {
                Some(frame) => {
                    let inner = fit(frame.width(), frame.height(), *rect);
                    if inner != *rect {
                        canvas.fill(*rect, BACKGROUND);
                    }
                    canvas.draw_scaled(frame, inner);
                }
                None => {
                    // Inset by 2 px so neighbouring tiles stay apart.
                    let inset = Rect::new(
                        rect.x + 2,
                        rect.y + 2,
                        rect.width.saturating_sub(4),
                        rect.height.saturating_sub(4),
                    );
                    canvas.fill(*rect, BACKGROUND);
                    canvas.fill(inset, p.tile);
                    let name = if p.name.trim().is_empty() {
                        id.to_string()
                    } else {
                        p.name.clone()
                    };
                    font::draw_text_centered(canvas, inset, &name, TEXT_LUMA);
                }
            }
        }
        self.drawn = keys;
    }

    fn encode(&mut self, now: Timestamp, rtp_timestamp: u32) {
        if self.keyframe_pending
            && self
                .last_keyframe
                .is_none_or(|t| now.saturating_since(t) >= self.config.keyframe_min_interval)
        {
            self.encoder.force_intra_frame();
            self.keyframe_pending = false;
        }
        let source = CanvasSource(&self.canvas);
        let bitstream = match self.encoder.encode(&source) {
            Ok(b) => b,
            Err(e) => {
                self.stats.encode_errors += 1;
                warn!(error = %e, "composed frame failed to encode");
                return;
            }
        };
        let frame_type = bitstream.frame_type();
        if matches!(frame_type, FrameType::Skip | FrameType::Invalid) {
            trace!(?frame_type, "encoder produced no picture");
            return;
        }
        if frame_type == FrameType::IDR {
            self.stats.keyframes_encoded += 1;
            self.last_keyframe = Some(now);
            self.keyframe_pending = false;
        }
        self.stats.frames_encoded += 1;
        let annexb = bitstream.to_vec();
        self.scratch.clear();
        self.packetizer
            .packetize(rtp_timestamp, annexb_nal_units(&annexb), &mut self.scratch);
        for pkt in self.scratch.drain(..) {
            self.stats.packets_out += 1;
            self.stats.bytes_out += pkt.payload.len() as u64;
            self.out.push_back(ComposerOutput::Packet(pkt));
        }
        if self.tap_access_units {
            self.out.push_back(ComposerOutput::AccessUnit(AccessUnit {
                rtp_timestamp,
                keyframe: frame_type == FrameType::IDR,
                data: annexb,
            }));
        }
        if self.config.tap_frames {
            self.out.push_back(ComposerOutput::Frame {
                rtp_timestamp,
                frame: Arc::clone(&self.canvas),
            });
        }
    }
}

/// Asks a publisher for a keyframe unless we asked less than the configured interval ago.
fn request_from(
    config: &ComposerConfig,
    stats: &mut ComposerStats,
    out: &mut VecDeque<ComposerOutput>,
    now: Timestamp,
    id: ParticipantId,
    p: &mut Participant,
) {
    if p.last_keyframe_request
        .is_some_and(|t| now.saturating_since(t) < config.keyframe_request_interval)
    {
        return;
    }
    p.last_keyframe_request = Some(now);
    stats.keyframe_requests += 1;
    out.push_back(ComposerOutput::RequestKeyframe(id));
}

fn on_access_unit(
    config: &ComposerConfig,
    stats: &mut ComposerStats,
    out: &mut VecDeque<ComposerOutput>,
    now: Timestamp,
    id: ParticipantId,
    p: &mut Participant,
    au: AccessUnit,
) {
    if au.keyframe {
        p.gop.clear();
        p.gop_bytes = 0;
    }
    let keep = au.keyframe || !p.gop.is_empty();
    if !p.shown {
        stats.frames_not_shown += 1;
        if keep {
            push_gop(p, au);
        }
        return;
    }
    if p.synced || au.keyframe {
        decode(config, stats, out, now, id, p, &au.data);
        if keep && p.synced {
            push_gop(p, au);
        }
    } else {
        if keep {
            push_gop(p, au);
        }
        catch_up(config, stats, out, now, id, p);
    }
}

fn push_gop(p: &mut Participant, au: AccessUnit) {
    if p.gop.len() >= GOP_MAX_FRAMES || p.gop_bytes + au.data.len() > GOP_MAX_BYTES {
        // Too long since the keyframe: showing this participant later will need a new one.
        p.gop.clear();
        p.gop_bytes = 0;
        return;
    }
    p.gop_bytes += au.data.len();
    p.gop.push(au);
}

/// A participant just became shown (or lost sync while shown): decode its frames since the
/// last keyframe, or ask for a keyframe if there is no complete run.
fn catch_up(
    config: &ComposerConfig,
    stats: &mut ComposerStats,
    out: &mut VecDeque<ComposerOutput>,
    now: Timestamp,
    id: ParticipantId,
    p: &mut Participant,
) {
    p.synced = false;
    p.decoder = None;
    if p.gop.first().is_some_and(|au| au.keyframe) {
        let gop = std::mem::take(&mut p.gop);
        for au in &gop {
            decode(config, stats, out, now, id, p, &au.data);
            if !p.synced {
                break;
            }
        }
        if p.synced {
            p.gop = gop;
            return;
        }
        p.gop_bytes = 0;
    }
    request_from(config, stats, out, now, id, p);
}

/// Decodes one access unit into the participant's picture. A decoder error keeps the last
/// good picture, forgets the frames since the keyframe and asks for a new keyframe.
fn decode(
    config: &ComposerConfig,
    stats: &mut ComposerStats,
    out: &mut VecDeque<ComposerOutput>,
    now: Timestamp,
    id: ParticipantId,
    p: &mut Participant,
    data: &[u8],
) {
    if p.decoder.is_none() {
        match Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new()) {
            Ok(d) => p.decoder = Some(d),
            Err(e) => {
                warn!(participant = %id, error = %e, "cannot create an H.264 decoder");
                return;
            }
        }
    }
    let Some(decoder) = p.decoder.as_mut() else {
        return;
    };
    match decoder.decode(data) {
        Ok(Some(yuv)) => {
            let (w, h) = yuv.dimensions();
            let (ys, us, _) = yuv.strides();
            p.frame = Some(I420Frame::from_planes(
                (w as u32, h as u32),
                (yuv.y(), yuv.u(), yuv.v()),
                (ys, us),
            ));
            p.generation += 1;
            p.synced = true;
            stats.frames_decoded += 1;
        }
        Ok(None) => {
            // Parameter sets only, or the decoder holds the picture back: still in sync.
            p.synced = true;
        }
        Err(e) => {
            stats.decode_errors += 1;
            debug!(participant = %id, error = %e, "H.264 decode failed; waiting for a keyframe");
            p.synced = false;
            p.decoder = None;
            p.gop.clear();
            p.gop_bytes = 0;
            request_from(config, stats, out, now, id, p);
        }
    }
}

/// The canvas as the encoder's input (tightly packed planes, even size).
struct CanvasSource<'a>(&'a I420Frame);

impl YUVSource for CanvasSource<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width() as usize, self.0.height() as usize)
    }

    fn strides(&self) -> (usize, usize, usize) {
        let cw = self.0.chroma_size().0 as usize;
        (self.0.width() as usize, cw, cw)
    }

    fn y(&self) -> &[u8] {
        self.0.y()
    }

    fn u(&self) -> &[u8] {
        self.0.u()
    }

    fn v(&self) -> &[u8] {
        self.0.v()
    }
}

/// The lowest H.264 level (Table A-1) whose frame size covers the canvas at up to 30 fps.
fn level_for(width: u32, height: u32) -> Level {
    let macroblocks = width.div_ceil(16) * height.div_ceil(16);
    match macroblocks {
        0..=1620 => Level::Level_3_0,    // 720×576
        1621..=3600 => Level::Level_3_1, // 1280×720
        3601..=5120 => Level::Level_3_2,
        5121..=8192 => Level::Level_4_0, // 1920×1080
        _ => Level::Level_5_1,
    }
}
