//! Recorder sinks in the media task: one [`Recorder`] per recorded room, fed every mixer tick
//! with the room's full mix (the mixer's tap), its file bytes handed to the recording's writer
//! thread (`crate::recording`), and the consent notice to the room's browsers.
//!
//! While a room records, its mixer exists even with no SIP leg: browsers' Opus is mixed too.
//! A room with video (a browser, or a SIP endpoint sending video) is recorded with its composed
//! picture: the room's composer runs while it records and hands every encoded access unit
//! back; the recorder's init segment waits for the first keyframe's SPS/PPS. Audio rooms
//! (phone callers and audio-only SIP) record audio only.

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use bytes::Bytes;
use pont_plane::to_browser::ToBrowser;
use pont_record::{Recorder, RecorderConfig, RecorderState, VideoConfig};
use pont_types::{RoomId, Timestamp};
use pont_video::AccessUnit;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::{SignalTx, Task};

/// What the media task sends a recording's writer.
#[derive(Debug)]
pub(crate) enum WriterMsg {
    /// Bytes to append, whole and in order.
    Chunk(Bytes),
    /// A chat line said while recording, for the text file beside the recording.
    Chat(String),
    /// The last chunk was sent; `duration` of media was recorded.
    Finish { duration: Duration },
}

/// Something the recording service must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecorderNotice {
    /// The recording reached its duration cap: close it and start the next.
    CapReached { room: RoomId, id: i64 },
    /// The first participant joined an empty room: a meeting with the recording option starts
    /// recording now.
    RoomOccupied { room: RoomId },
    /// The recorded room has been empty for the grace time: the meeting is over.
    RoomEmpty { room: RoomId, id: i64 },
    /// Writing the file failed (`full`: no space left): the recording stops where the file
    /// ends.
    WriteFailed { room: RoomId, id: i64, full: bool },
}

/// Why a recording stopped, when it was not an organizer's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// The storage is full.
    StorageFull,
    /// The storage failed otherwise.
    StorageError,
}

impl StopReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::StorageFull => "storage_full",
            Self::StorageError => "storage_error",
        }
    }
}

/// Recording commands to the media task.
#[derive(Debug)]
pub(crate) enum RecordQuery {
    Start {
        room: RoomId,
        id: i64,
        writer: std_mpsc::Sender<WriterMsg>,
        cap: Duration,
        /// Stop after the room has been empty this long (`None`: never).
        empty_grace: Option<Duration>,
        notices: mpsc::UnboundedSender<RecorderNotice>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Where to send [`RecorderNotice::RoomOccupied`].
    Watch(mpsc::UnboundedSender<RecorderNotice>),
    Pause(RoomId),
    Resume(RoomId),
    /// Finishes the room's recorder; answers with the recorded media time. Browsers are told
    /// the reason when there is one.
    Stop(
        RoomId,
        Option<StopReason>,
        oneshot::Sender<Option<Duration>>,
    ),
}

/// A room's recorder sink.
pub(super) struct RoomRecorder {
    id: i64,
    /// Recorded with the composed video.
    video: bool,
    recorder: Recorder,
    writer: std_mpsc::Sender<WriterMsg>,
    cap: Duration,
    cap_notified: bool,
    empty_grace: Option<Duration>,
    /// Since when the room has had nobody in it, and whether the service was told.
    empty_since: Option<Timestamp>,
    empty_notified: bool,
    notices: mpsc::UnboundedSender<RecorderNotice>,
}

impl std::fmt::Debug for RoomRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomRecorder")
            .field("id", &self.id)
            .finish()
    }
}

impl RoomRecorder {
    /// Tells the service once the room has been empty for the grace time.
    fn check_empty(&mut self, room: RoomId, empty: bool, now: Timestamp) {
        if !empty {
            self.empty_since = None;
            return;
        }
        let since = *self.empty_since.get_or_insert(now);
        if let Some(grace) = self.empty_grace
            && !self.empty_notified
            && now.saturating_since(since) >= grace
        {
            self.empty_notified = true;
            info!(%room, recording = self.id, ?grace, "the recorded room is empty: stopping");
            let _ = self
                .notices
                .send(RecorderNotice::RoomEmpty { room, id: self.id });
        }
    }
}

fn state_str(state: Option<RecorderState>) -> &'static str {
    match state {
        Some(RecorderState::Recording) => "recording",
        Some(RecorderState::Paused) => "paused",
        _ => "off",
    }
}

impl Task {
    pub(super) fn answer_record(&mut self, query: RecordQuery) {
        match query {
            RecordQuery::Start {
                room,
                id,
                writer,
                cap,
                empty_grace,
                notices,
                reply,
            } => {
                let limits = (cap, empty_grace);
                let started = self.start_recorder(room, id, writer, limits, notices);
                if started.is_err() {
                    // The hold the handle took for the recorder.
                    self.placement.release(room);
                }
                let _ = reply.send(started);
            }
            RecordQuery::Watch(events) => self.room_events = Some(events),
            RecordQuery::Pause(room) => {
                if let Some(r) = self.recorders.get_mut(&room) {
                    r.recorder.pause();
                }
                self.drain_recorder(room);
                self.announce_recording(room);
            }
            RecordQuery::Resume(room) => {
                if let Some(r) = self.recorders.get_mut(&room) {
                    r.recorder.resume();
                    self.speak_recording_notice(room);
                }
                self.announce_recording(room);
            }
            RecordQuery::Stop(room, reason, reply) => {
                if let Some(r) = self.recorders.get_mut(&room) {
                    r.recorder.finish();
                }
                self.drain_recorder(room);
                let removed = self.recorders.remove(&room);
                if removed.is_some() {
                    self.placement.release(room);
                }
                if removed.as_ref().is_some_and(|r| r.video) {
                    self.compose_record(room, false);
                    self.drop_unneeded_composer(room);
                }
                let duration = removed.map(|r| {
                    let duration = r.recorder.media_duration();
                    let _ = r.writer.send(WriterMsg::Finish { duration });
                    info!(%room, recording = r.id, ?duration, "recorder finished");
                    duration
                });
                // The live stream's viewers may still hear the full mix.
                if !self.has_viewers(room)
                    && let Some(m) = self.mixers.get_mut(&room)
                {
                    m.set_full_mix_tap(false);
                }
                // The mixer was kept for the recording only: it goes when nothing else needs it.
                if !self.mixer_needed(room) {
                    self.mixers.remove(&room);
                }
                match reason {
                    None => self.announce_recording(room),
                    Some(reason) => self.broadcast(
                        room,
                        &ToBrowser::Recording {
                            state: "off",
                            reason: Some(reason.as_str()),
                        },
                    ),
                }
                let _ = reply.send(duration);
            }
        }
    }

    fn start_recorder(
        &mut self,
        room: RoomId,
        id: i64,
        writer: std_mpsc::Sender<WriterMsg>,
        (cap, empty_grace): (Duration, Option<Duration>),
        notices: mpsc::UnboundedSender<RecorderNotice>,
    ) -> Result<(), String> {
        if self.recorders.contains_key(&room) {
            return Err("the room is already recording".to_owned());
        }
        let video = self.room_has_video(room);
        let config = RecorderConfig {
            video: video.then(|| {
                let composed = pont_video::ComposerConfig::default();
                VideoConfig {
                    width: u16::try_from(composed.width).unwrap_or(u16::MAX),
                    height: u16::try_from(composed.height).unwrap_or(u16::MAX),
                    // From the composer's first keyframe.
                    sps: Vec::new(),
                    pps: Vec::new(),
                }
            }),
            ..RecorderConfig::default()
        };
        let recorder = Recorder::new(config).map_err(|e| e.to_string())?;
        let now = self.clock.now();
        let mixer = self
            .mixer_for(room, now)
            .ok_or_else(|| "cannot create the room's mixer".to_owned())?;
        mixer.set_full_mix_tap(true);
        self.recorders.insert(
            room,
            RoomRecorder {
                id,
                video,
                recorder,
                writer,
                cap,
                cap_notified: false,
                empty_grace,
                empty_since: None,
                empty_notified: false,
                notices,
            },
        );
        if video {
            self.ensure_composer(room);
            self.compose_record(room, true);
        }
        self.speak_recording_notice(room);
        info!(%room, recording = id, video, "recorder started");
        self.drain_recorder(room);
        self.announce_recording(room);
        Ok(())
    }

    /// Moves the full mix of every recorded or live-streamed room into its recorder and to
    /// its viewers, and the recorder's bytes to its writer. Returns whether anything moved.
    pub(super) fn pump_full_mix(&mut self, now: Timestamp) -> bool {
        let mut moved = false;
        let mut rooms: Vec<RoomId> = self.recorders.keys().copied().collect();
        rooms.extend(
            self.live_rooms()
                .filter(|r| !self.recorders.contains_key(r)),
        );
        for room in rooms {
            while let Some(frame) = self.mixers.get_mut(&room).and_then(|m| m.poll_full_mix()) {
                moved = true;
                if let Some(r) = self.recorders.get_mut(&room) {
                    r.recorder.handle_audio(now, frame.rate, &frame.pcm);
                }
                self.live_audio(room, frame.rate, &frame.pcm);
            }
            let Some(r) = self.recorders.get_mut(&room) else {
                continue;
            };
            if !r.cap_notified && r.recorder.media_duration() >= r.cap {
                r.cap_notified = true;
                info!(%room, recording = r.id, cap = ?r.cap, "recording reached its cap");
                let _ = r
                    .notices
                    .send(RecorderNotice::CapReached { room, id: r.id });
            }
            let empty = self.core.room_len(room) == 0;
            if let Some(r) = self.recorders.get_mut(&room) {
                r.check_empty(room, empty, now);
            }
            moved |= self.drain_recorder(room);
        }
        moved
    }

    /// A participant joined `room`: if it was empty, the recording service hears of it (a
    /// meeting with the recording option starts recording).
    pub(super) fn room_joined(&self, room: RoomId) {
        if self.core.room_len(room) == 1
            && let Some(events) = &self.room_events
        {
            let _ = events.send(RecorderNotice::RoomOccupied { room });
        }
    }

    /// "This meeting is being recorded", spoken into the room's mix: phone callers and room
    /// systems hear it, and the recording holds it (browsers also show the indicator).
    fn speak_recording_notice(&mut self, room: RoomId) {
        let Some(wav) = pont_ivr::Prompt::Recorded.audio(self.notice_language) else {
            return;
        };
        let mut pcm = vec![0; wav.len()];
        wav.decode_into(0, &mut pcm);
        if let Some(m) = self.mixers.get_mut(&room)
            && let Err(e) = m.announce(pont_ivr::SAMPLE_RATE, pcm)
        {
            warn!(%room, error = %e, "cannot speak the recording notice");
        }
    }

    /// Whether the room has video to record: a browser (a camera, or its named tile) or a SIP
    /// endpoint that negotiated video.
    fn room_has_video(&self, room: RoomId) -> bool {
        self.webs.values().any(|w| w.room == room) || self.has_sip_video(room)
    }

    /// Whether the room is being recorded now (not paused): the IVR says so before joining.
    pub(super) fn is_recording(&self, room: RoomId) -> bool {
        self.recorders
            .get(&room)
            .is_some_and(|r| r.recorder.state() == RecorderState::Recording)
    }

    /// Whether the room's recorder takes the composed video.
    pub(super) fn records_video(&self, room: RoomId) -> bool {
        self.recorders.get(&room).is_some_and(|r| r.video)
    }

    /// An encoded picture of the room's composer: to its recorder, as AVCC with the parameter
    /// sets taken out (they go in the file's `avcC`).
    pub(super) fn record_video(&mut self, room: RoomId, au: &AccessUnit) {
        let Some(r) = self.recorders.get_mut(&room) else {
            return;
        };
        let avcc = pont_video::h264::annexb_to_avcc(&au.data);
        if au.keyframe
            && let (Some(sps), Some(pps)) = (avcc.sps, avcc.pps)
        {
            r.recorder.handle_video_parameter_sets(sps, pps);
        }
        if !avcc.sample.is_empty() {
            let now = self.clock.now();
            r.recorder
                .handle_video(now, au.rtp_timestamp, Bytes::from(avcc.sample), au.keyframe);
        }
        self.drain_recorder(room);
    }

    fn drain_recorder(&mut self, room: RoomId) -> bool {
        let Some(r) = self.recorders.get_mut(&room) else {
            return false;
        };
        let mut moved = false;
        while let Some(chunk) = r.recorder.poll_output() {
            moved = true;
            if r.writer.send(WriterMsg::Chunk(chunk)).is_err() {
                // The writer stopped (a write failed): the service stops the recording.
                debug!(%room, "recording writer gone: chunk dropped");
            }
        }
        moved
    }

    /// The room's recording state for its browsers (`recording` message).
    fn announce_recording(&self, room: RoomId) {
        let state = state_str(self.recorders.get(&room).map(|r| r.recorder.state()));
        self.broadcast(
            room,
            &ToBrowser::Recording {
                state,
                reason: None,
            },
        );
    }

    /// A browser just joined: tell it if the room is being recorded.
    /// A chat line said while the room is recorded (not paused): into the text file beside
    /// the recording, `2026-12-03T15:20:01Z Ana: hello`.
    pub(super) fn record_chat(&self, room: RoomId, line: &pont_plane::meeting::ChatLine) {
        let Some(r) = self.recorders.get(&room) else {
            return;
        };
        if r.recorder.state() != RecorderState::Recording {
            return;
        }
        let at = pont_meet::rfc3339::format_utc(line.at.div_euclid(1000));
        // One line per message: its own line breaks are kept visible, not as new lines.
        let text = line.text.replace('\r', "").replace('\n', " / ");
        let name = line.name.replace(['\r', '\n'], " ");
        let _ = r
            .writer
            .send(WriterMsg::Chat(format!("{at} {name}: {text}\n")));
    }

    pub(super) fn tell_recording_state(&self, room: RoomId, signal: &SignalTx) {
        if let Some(r) = self.recorders.get(&room) {
            let state = state_str(Some(r.recorder.state()));
            if signal
                .send(ToBrowser::Recording {
                    state,
                    reason: None,
                })
                .is_err()
            {
                warn!(%room, "could not tell a joining browser about the recording");
            }
        }
    }
}
