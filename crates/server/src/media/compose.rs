//! The composed video of a room (issue 7): room systems receive the room laid out with the
//! active speaker in the main window, encoded once per room by a [`Composer`].
//!
//! Decoding up to five pictures and encoding 720p takes milliseconds per frame, so each room's
//! composer runs on its own thread: the media task (which forwards every packet of every room)
//! must never wait for it. The media task sends it inputs over a channel and receives the
//! composed RTP payloads and keyframe requests back over another (and, while the room is
//! recorded with video, the encoded pictures for the recorder).

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use pont_types::{ParticipantId, RoomId, Timestamp};
use pont_video::{AccessUnit, Composer, ComposerConfig, ComposerOutput, RtpIn, RtpPayload};
use tokio::sync::mpsc;
use tracing::{debug, info_span, warn};

use super::Clock;

/// Inputs of one room's composer thread.
#[derive(Debug)]
pub(crate) enum ToComposer {
    Participant {
        id: ParticipantId,
        name: String,
    },
    Leave(ParticipantId),
    Speaker(Option<ParticipantId>),
    Rtp {
        id: ParticipantId,
        at: Timestamp,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: Vec<u8>,
    },
    /// A viewer lost the picture (PLI/FIR, SIP INFO picture_fast_update).
    Keyframe,
    /// The room is recorded with video (or no longer): send the encoded access units back.
    Record(bool),
}

/// What a composer thread gives back to the media task.
#[derive(Debug)]
pub(crate) enum FromComposer {
    Packet {
        room: RoomId,
        payload: RtpPayload,
    },
    RequestKeyframe {
        id: ParticipantId,
    },
    /// An encoded picture for the room's recorder.
    AccessUnit {
        room: RoomId,
        au: AccessUnit,
    },
}

/// Inputs waiting for a composer; beyond this, video packets are dropped (the composer asks
/// for a keyframe and recovers) rather than let a slow composer hold memory.
const INPUT_QUEUE: usize = 2048;

/// A room's composer thread. Dropping the handle stops the thread.
#[derive(Debug)]
pub(crate) struct ComposerHandle {
    tx: std_mpsc::SyncSender<ToComposer>,
}

impl ComposerHandle {
    pub(crate) fn spawn(
        room: RoomId,
        clock: Clock,
        out: mpsc::Sender<FromComposer>,
    ) -> Option<Self> {
        let (tx, rx) = std_mpsc::sync_channel(INPUT_QUEUE);
        let spawned = std::thread::Builder::new()
            .name(format!("compose-{room}"))
            .spawn(move || run(room, clock, rx, out));
        match spawned {
            Ok(_) => Some(Self { tx }),
            Err(e) => {
                warn!(%room, error = %e, "cannot start the room's composer thread");
                None
            }
        }
    }

    /// Queues an input; a full queue drops it (video recovers with a keyframe).
    pub(crate) fn send(&self, msg: ToComposer) {
        let _ = self.tx.try_send(msg);
    }
}

fn run(
    room: RoomId,
    clock: Clock,
    rx: std_mpsc::Receiver<ToComposer>,
    out: mpsc::Sender<FromComposer>,
) {
    let _span = info_span!("compose", %room).entered();
    let mut composer = match Composer::new(ComposerConfig::default()) {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "cannot create the composer");
            return;
        }
    };
    debug!("composer running");
    let mut recording_broken = false;
    loop {
        let now = clock.now();
        let wait = composer
            .poll_timeout()
            .saturating_since(now)
            .min(Duration::from_millis(100));
        match rx.recv_timeout(wait) {
            Ok(msg) => {
                let now = clock.now();
                match msg {
                    ToComposer::Participant { id, name } => {
                        composer.add_participant(now, id, &name)
                    }
                    ToComposer::Leave(id) => composer.remove_participant(now, id),
                    ToComposer::Speaker(s) => composer.set_speaker(now, s),
                    ToComposer::Rtp {
                        id,
                        at,
                        seq,
                        timestamp,
                        marker,
                        payload,
                    } => {
                        // A packet of someone not (yet) in the layout is counted and dropped.
                        let _ = composer.handle_rtp(
                            at,
                            id,
                            RtpIn {
                                seq,
                                timestamp,
                                marker,
                                payload: &payload,
                            },
                        );
                    }
                    ToComposer::Keyframe => composer.request_keyframe(now),
                    ToComposer::Record(on) => composer.set_access_unit_tap(now, on),
                }
            }
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let now = clock.now();
        if composer.poll_timeout() <= now {
            composer.handle_timeout(now);
        }
        while let Some(o) = composer.poll_output() {
            let msg = match o {
                ComposerOutput::Packet(payload) => FromComposer::Packet { room, payload },
                ComposerOutput::RequestKeyframe(id) => FromComposer::RequestKeyframe { id },
                ComposerOutput::AccessUnit(au) => {
                    // A recording must not get a picture whose reference it lacks: after a
                    // lost one, nothing until the next keyframe (asked for at once).
                    if recording_broken && !au.keyframe {
                        continue;
                    }
                    recording_broken = false;
                    FromComposer::AccessUnit { room, au }
                }
                _ => continue,
            };
            let recorded = matches!(msg, FromComposer::AccessUnit { .. });
            // The media task is gone or far behind: drop (a viewer recovers on a keyframe).
            if out.try_send(msg).is_err() && recorded {
                recording_broken = true;
                composer.request_keyframe(clock.now());
            }
        }
    }
    debug!("composer stopped");
}

impl super::Task {
    /// The room's composer, started (with everyone already in the room) if it has none.
    pub(super) fn ensure_composer(&mut self, room: RoomId) {
        if self.composers.contains_key(&room) {
            return;
        }
        let Some(handle) = ComposerHandle::spawn(room, self.clock, self.compose_tx.clone()) else {
            return;
        };
        for p in self.core.room(room).unwrap_or_default() {
            handle.send(ToComposer::Participant {
                id: p.id,
                name: p.display_name,
            });
        }
        let sharer = self
            .meetings
            .get(&room)
            .and_then(pont_plane::meeting::Meeting::sharer);
        match sharer {
            // A screen shared before the composer started takes its main window.
            Some(id) => {
                let source = super::meeting::screen_source(id);
                let name = self
                    .core
                    .participant(id)
                    .map(|p| p.display_name.clone())
                    .unwrap_or_default();
                handle.send(ToComposer::Participant { id: source, name });
                handle.send(ToComposer::Speaker(Some(source)));
            }
            None => handle.send(ToComposer::Speaker(self.core.active_speaker(room))),
        }
        self.composers.insert(room, handle);
    }

    pub(super) fn compose_join(&self, room: RoomId, id: ParticipantId, name: &str) {
        if let Some(c) = self.composers.get(&room) {
            c.send(ToComposer::Participant {
                id,
                name: name.to_owned(),
            });
        }
    }

    /// A participant left; the composer goes with the room's last room system (unless the
    /// room is recorded with video).
    pub(super) fn compose_leave(&mut self, room: RoomId, id: ParticipantId) {
        self.browser_video.remove(&id);
        if let Some(c) = self.composers.get(&room) {
            c.send(ToComposer::Leave(id));
        }
        self.drop_unneeded_composer(room);
    }

    /// Stops the room's composer when no room system views it, no recorder takes it and no
    /// live stream's viewer watches it.
    pub(super) fn drop_unneeded_composer(&mut self, room: RoomId) {
        if !self.has_composed_viewers(room) && !self.records_video(room) && !self.has_viewers(room)
        {
            self.composers.remove(&room);
        }
    }

    /// Turns the composer's access-unit tap on or off for the room's recorder.
    pub(super) fn compose_record(&self, room: RoomId, on: bool) {
        if let Some(c) = self.composers.get(&room) {
            c.send(ToComposer::Record(on));
        }
    }

    pub(super) fn compose_speaker(&self, room: RoomId, speaker: Option<ParticipantId>) {
        if let Some(c) = self.composers.get(&room) {
            c.send(ToComposer::Speaker(speaker));
        }
    }

    pub(super) fn compose_keyframe(&self, room: RoomId) {
        if let Some(c) = self.composers.get(&room) {
            c.send(ToComposer::Keyframe);
        }
    }

    /// An H.264 packet of a participant of `room`, for the composer if the room has one.
    pub(super) fn compose_rtp(
        &self,
        at: Timestamp,
        room: RoomId,
        id: ParticipantId,
        packet: &pont_media::rtp::RtpPacket<'_>,
    ) {
        if let Some(c) = self.composers.get(&room) {
            c.send(ToComposer::Rtp {
                id,
                at,
                seq: packet.seq,
                timestamp: packet.timestamp,
                marker: packet.marker,
                payload: packet.payload().to_vec(),
            });
        }
    }

    /// A browser's packet: its H.264 camera, and its screen while it shares, go to the
    /// room's composer (each a source of its own).
    pub(super) fn compose_browser_rtp(&self, at: Timestamp, id: ParticipantId, packet: &[u8]) {
        let Some(room) = self.webs.get(&id).map(|w| w.room) else {
            return;
        };
        if !self.composers.contains_key(&room) {
            return;
        }
        let Ok(p) = pont_media::rtp::RtpPacket::parse(packet) else {
            return;
        };
        if let Some(&(pt, ssrc)) = self.browser_screen.get(&id)
            && p.ssrc == ssrc
        {
            let shared = self
                .meetings
                .get(&room)
                .is_some_and(|m| m.sharer() == Some(id));
            if shared && p.pt == pt {
                self.compose_rtp(at, room, super::meeting::screen_source(id), &p);
            }
            return;
        }
        if self.browser_video.get(&id) == Some(&p.pt) {
            self.compose_rtp(at, room, id, &p);
        }
    }

    /// Output of a composer thread: packets to the room's room systems, keyframe requests to
    /// the publishers it shows.
    pub(super) fn handle_composer_output(&mut self, msg: FromComposer) {
        match msg {
            FromComposer::Packet { room, payload } => {
                self.send_composed(room, &payload);
                self.live_video(room, &payload);
            }
            FromComposer::RequestKeyframe { id } => {
                let now = self.clock.now();
                self.core
                    .request_keyframe_from(now, super::meeting::source_owner(id));
            }
            FromComposer::AccessUnit { room, au } => self.record_video(room, &au),
        }
    }
}
