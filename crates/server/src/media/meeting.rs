//! The shard's side of what happens in a meeting besides media: the waiting room, moderators'
//! actions, raised hands and the chat. [`pont_plane::meeting::Meeting`] decides; this module
//! does what it decided to the legs (a mixer leg muted, a call hung up after a prompt, a
//! browser's leg made once it is let in) and tells the browsers.

use pont_ivr::{FRAME_SAMPLES, Prompt, PromptPlayer};
use pont_media::ParticipantKind;
use pont_plane::meeting::{Actor, Meeting, Refusal, State};
use pont_plane::to_browser::{self, Removal, ToBrowser, Waiter};
use pont_types::Timestamp;
use pont_types::{ParticipantId, RoomId};
use tokio::sync::oneshot;
use tracing::{debug, info};

use super::ivr_legs::PhoneAudio;
use super::sip_legs::{Attach, LegKey, RTP_INACTIVITY, SipDatagram, audio_codec, spawn_reader};
use super::{SignalTx, Task};
use crate::sip::SipCommand;

/// A moderator's action (`docs/signalling.md`, `POST /api/v1/rooms/{room}/…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Admit(ParticipantId),
    /// Out of the room, or turned away from the waiting room.
    Remove(ParticipantId),
    Mute(ParticipantId),
    /// For a browser, a request (its microphone is its own); a call is unmuted.
    Unmute(ParticipantId),
    MakeModerator(ParticipantId),
    LowerHand(ParticipantId),
    /// Stops someone's screen share.
    StopShare(ParticipantId),
    AdmitAll,
    /// Everyone but the moderators.
    MuteAll,
    /// Everyone out, the waiting room too.
    End,
    /// Locks the room (nobody new gets in, of any kind) or unlocks it.
    Lock(bool),
    /// Only checks that the actor moderates, before something done outside the shard (a
    /// dial-out, placed by the SIP task).
    Authorize,
}

impl Action {
    /// The participant an action is about, if it is about one.
    pub(crate) fn target(self) -> Option<ParticipantId> {
        match self {
            Self::Admit(p)
            | Self::Remove(p)
            | Self::Mute(p)
            | Self::Unmute(p)
            | Self::MakeModerator(p)
            | Self::LowerHand(p)
            | Self::StopShare(p) => Some(p),
            Self::AdmitAll | Self::MuteAll | Self::End | Self::Lock(_) | Self::Authorize => None,
        }
    }

    /// `admit`, `remove`, `mute`, `unmute`, `make_moderator`, `lower_hand` on a participant.
    pub(crate) fn on(name: &str, target: ParticipantId) -> Option<Self> {
        Some(match name {
            "admit" => Self::Admit(target),
            "remove" => Self::Remove(target),
            "mute" => Self::Mute(target),
            "unmute" => Self::Unmute(target),
            "make_moderator" => Self::MakeModerator(target),
            "lower_hand" => Self::LowerHand(target),
            "stop_share" => Self::StopShare(target),
            _ => return None,
        })
    }

    /// `admit_all`, `mute_all`, `end`, `lock`, `unlock`: on the whole room.
    pub(crate) fn on_room(name: &str) -> Option<Self> {
        Some(match name {
            "admit_all" => Self::AdmitAll,
            "mute_all" => Self::MuteAll,
            "end" => Self::End,
            "lock" => Self::Lock(true),
            "unlock" => Self::Lock(false),
            _ => return None,
        })
    }
}

/// A moderator's action and where its outcome goes.
#[derive(Debug)]
pub(crate) struct Moderation {
    pub(crate) room: RoomId,
    pub(crate) actor: Actor,
    pub(crate) action: Action,
    pub(crate) reply: oneshot::Sender<Result<Vec<ParticipantId>, Refusal>>,
}

/// A browser in a waiting room: it has an id and signalling, no media leg yet.
#[derive(Debug)]
pub(crate) struct WaitingWeb {
    room: RoomId,
    name: String,
    signal: SignalTx,
}

/// The composer's source id for a participant's shared screen: a source of its own beside the
/// participant's camera (participant ids never reach this bit).
const SCREEN_SOURCE: u64 = 1 << 62;

pub(super) fn screen_source(id: ParticipantId) -> ParticipantId {
    ParticipantId(id.0 | SCREEN_SOURCE)
}

/// The participant behind a composer source: itself, or the sharer of a screen.
pub(super) fn source_owner(source: ParticipantId) -> ParticipantId {
    ParticipantId(source.0 & !SCREEN_SOURCE)
}

/// Between two waiting-room prompts.
const WAITING_PAUSE: std::time::Duration = std::time::Duration::from_secs(4);

/// A SIP or phone call in a waiting room: answered, hearing the waiting prompt over and over,
/// neither hearing the room nor heard by it. Its leg is attached when a moderator lets it in.
pub(crate) struct WaitingCall {
    attach: Attach,
    phone: PhoneAudio,
    player: PromptPlayer,
    /// Our RTP towards the caller; the room's mix continues the same stream once in.
    seq: u16,
    rtp_ts: u32,
    /// Turned away: the goodbye is playing, then BYE.
    leaving: bool,
    hangup_sent: bool,
    /// Reads the call's audio sockets while it waits (so that a caller behind NAT is learnt
    /// and hears the prompt, and nothing stale piles up for when it is let in). `None` for a
    /// phone caller, whose IVR reader goes on reading. The same for a room system's video.
    reader: Option<tokio::task::JoinHandle<()>>,
    video_reader: Option<tokio::task::JoinHandle<()>>,
}

impl WaitingCall {
    /// Its readers stop (the call is let in, with readers of its own, or is gone).
    fn stop_reading(&self) {
        for r in [&self.reader, &self.video_reader].into_iter().flatten() {
            r.abort();
        }
    }
}

impl std::fmt::Debug for WaitingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitingCall")
            .field("room", &self.attach.room)
            .field("call", &self.attach.call)
            .field("leaving", &self.leaving)
            .finish_non_exhaustive()
    }
}

impl Task {
    /// Whether a call to `room` waits: the room has a waiting room (as the store says, or as
    /// the live meeting says).
    pub(super) fn call_waits(&self, a: &Attach) -> bool {
        a.waiting_room
            || self
                .meetings
                .get(&a.room)
                .is_some_and(|m| m.rules().waiting_room)
    }

    /// A SIP or phone call waits to be let in; its id is the one it will have in the room.
    pub(super) fn park_call(&mut self, ts: Timestamp, a: Attach) -> ParticipantId {
        let id = self.core.reserve_id();
        let codec = audio_codec(a.audio.stream.codec).unwrap_or(pont_audio::AudioCodec::Pcmu);
        let phone = match PhoneAudio::new(codec) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode the waiting prompt: the call goes in");
                return self.attach_sip_as(ts, id, a);
            }
        };
        let room = a.room;
        let meeting = self
            .meetings
            .entry(room)
            .or_insert_with(|| Meeting::new(pont_plane::meeting::Rules { waiting_room: true }));
        meeting.arrive(ts, id, a.kind, &a.display_name, false);
        let mut player = PromptPlayer::new(self.notice_language);
        player.play(ts, Prompt::Waiting);
        info!(participant = %id, %room, kind = a.kind.as_str(), "call waits in the waiting room");
        let (seq, rtp_ts) = (a.initial_seq, a.initial_timestamp);
        let reader = a.ivr.is_none().then(|| {
            spawn_reader(
                a.audio.rtp.clone(),
                a.audio.rtcp.clone(),
                LegKey::Participant(id),
                false,
                self.sip_tx.clone(),
            )
        });
        let video_reader = a.video.as_ref().map(|v| {
            spawn_reader(
                v.rtp.clone(),
                v.rtcp.clone(),
                LegKey::Participant(id),
                true,
                self.sip_tx.clone(),
            )
        });
        self.waiting_calls.insert(
            id,
            WaitingCall {
                attach: a,
                phone,
                player,
                seq,
                rtp_ts,
                leaving: false,
                hangup_sent: false,
                reader,
                video_reader,
            },
        );
        self.tell_waiting_room(room);
        id
    }

    /// A datagram from a waiting call: its source is checked and learnt (a caller behind NAT
    /// then hears the prompt), its content dropped (nobody hears a waiting call).
    pub(super) fn handle_waiting_datagram(
        &mut self,
        ts: Timestamp,
        id: ParticipantId,
        d: &SipDatagram,
    ) {
        let Some(w) = self.waiting_calls.get_mut(&id) else {
            return;
        };
        if d.video {
            // Read so that nothing stale waits for the leg; nobody sees a waiting call.
            return;
        }
        let filter = &mut w.attach.audio.filter;
        let rtcp =
            d.rtcp_port || (w.attach.audio.stream.rtcp_mux && pont_media::rtp::is_rtcp(&d.data));
        if rtcp {
            let _ = filter.accept_rtcp(ts, d.from);
        } else if let Ok(p) = pont_media::rtp::RtpPacket::parse(&d.data) {
            let _ = filter.accept_rtp(ts, d.from, p.seq);
        }
    }

    /// Waiting calls whose caller vanished (no RTP for [`RTP_INACTIVITY`], as for calls in
    /// rooms) are hung up: nobody waits for them in the waiting room.
    pub(super) fn reap_waiting_calls(&mut self, ts: Timestamp) {
        for (id, w) in &mut self.waiting_calls {
            let they_send = matches!(
                w.attach.audio.stream.direction,
                pont_sip::sdp::Direction::SendRecv | pont_sip::sdp::Direction::RecvOnly
            );
            if !they_send {
                w.attach.audio.filter.touch(ts);
                continue;
            }
            if !w.hangup_sent && w.attach.audio.filter.is_inactive(ts, RTP_INACTIVITY) {
                info!(participant = %id, "waiting call sent no RTP for {RTP_INACTIVITY:?}: BYE");
                w.hangup_sent = true;
                let _ = w.attach.hangup.try_send(SipCommand::Hangup(w.attach.call));
            }
        }
    }

    /// Whether calls wait (the IVR's 20 ms grid then runs for them too).
    pub(super) fn has_waiting_calls(&self) -> bool {
        !self.waiting_calls.is_empty()
    }

    /// One 20 ms frame to every waiting call: the prompt, a pause, the prompt again; the
    /// goodbye, then BYE, for one turned away.
    pub(super) fn tick_waiting_calls(&mut self, ts: Timestamp) {
        let lang = self.notice_language;
        let buf = &mut self.buf;
        for w in self.waiting_calls.values_mut() {
            if w.player.is_idle() {
                if w.leaving {
                    if !w.hangup_sent {
                        w.hangup_sent = true;
                        let _ = w.attach.hangup.try_send(SipCommand::Hangup(w.attach.call));
                    }
                    continue;
                }
                w.player = PromptPlayer::new(lang);
                w.player.silence(ts, WAITING_PAUSE);
                w.player.play(ts, Prompt::Waiting);
            }
            let frame = w
                .player
                .poll_frame(ts)
                .copied()
                .unwrap_or([0; FRAME_SAMPLES]);
            let codec =
                audio_codec(w.attach.audio.stream.codec).unwrap_or(pont_audio::AudioCodec::Pcmu);
            let payload = w.phone.encode_8k(&frame);
            buf.clear();
            buf.extend_from_slice(&[0x80, w.attach.audio.stream.pt & 0x7f]);
            buf.extend_from_slice(&w.seq.to_be_bytes());
            buf.extend_from_slice(&w.rtp_ts.to_be_bytes());
            buf.extend_from_slice(&w.attach.mix_ssrc.to_be_bytes());
            buf.extend_from_slice(payload);
            w.seq = w.seq.wrapping_add(1);
            w.rtp_ts = w.rtp_ts.wrapping_add(codec.frame_rtp_ticks());
            let sends = matches!(
                w.attach.audio.stream.direction,
                pont_sip::sdp::Direction::SendRecv | pont_sip::sdp::Direction::SendOnly
            );
            if sends && let Some(to) = w.attach.audio.filter.remote() {
                let _ = w.attach.audio.rtp.try_send_to(buf, to);
            }
        }
    }

    /// A waiting call let in: attached to the room, muted (a phone caller hears that `*6`
    /// unmutes).
    fn admit_waiting_call(&mut self, id: ParticipantId) {
        let Some(w) = self.waiting_calls.remove(&id) else {
            return;
        };
        // The leg's own readers take over.
        w.stop_reading();
        let ts = self.clock.now();
        let mut attach = w.attach;
        attach.initial_seq = w.seq;
        attach.initial_timestamp = w.rtp_ts;
        info!(participant = %id, room = %attach.room, "call let in from the waiting room");
        self.attach_sip_as(ts, id, attach);
        self.force_mute(id, true);
    }

    /// A waiting call turned away (or the meeting ended): the prompt, goodbye, then BYE.
    /// `false` when `id` is not a waiting call.
    fn dismiss_waiting_call(&mut self, id: ParticipantId, prompt: Prompt) -> bool {
        let ts = self.clock.now();
        let Some(w) = self.waiting_calls.get_mut(&id) else {
            return false;
        };
        let room = w.attach.room;
        w.leaving = true;
        w.player = PromptPlayer::new(self.notice_language);
        w.player.play(ts, prompt);
        w.player.play(ts, Prompt::Goodbye);
        self.meeting_left(room, id);
        true
    }

    /// A waiting call ended (BYE either way); `false` when `id` was not waiting.
    pub(super) fn leave_waiting_call(&mut self, id: ParticipantId) -> bool {
        let Some(w) = self.waiting_calls.remove(&id) else {
            return false;
        };
        w.stop_reading();
        self.placement.release(w.attach.room);
        self.meeting_left(w.attach.room, id);
        true
    }

    /// A browser waits to be let in.
    pub(super) fn wait_web(
        &mut self,
        room: RoomId,
        id: ParticipantId,
        name: String,
        signal: SignalTx,
    ) {
        let _ = signal.send(ToBrowser::Waiting {
            participant_id: id.to_string(),
            room: room.0,
        });
        self.waiting_webs
            .insert(id, WaitingWeb { room, name, signal });
        info!(participant = %id, %room, "web participant waits in the waiting room");
        self.tell_waiting_room(room);
    }

    /// A waiting browser went away; `false` when `id` was not waiting.
    pub(super) fn leave_waiting(&mut self, id: ParticipantId) -> bool {
        let Some(w) = self.waiting_webs.remove(&id) else {
            return false;
        };
        self.placement.release(w.room);
        self.meeting_left(w.room, id);
        true
    }

    /// Someone of any kind is in the room (SIP and phone legs, once attached).
    pub(super) fn meeting_entered(
        &mut self,
        room: RoomId,
        id: ParticipantId,
        kind: ParticipantKind,
        name: &str,
    ) {
        let ts = self.clock.now();
        let meeting = self.meetings.entry(room).or_default();
        if meeting.member(id).is_none() {
            meeting.arrive(ts, id, kind, name, false);
            // Attached legs are in: let them in if the rules would have held them.
            let _ = meeting.admit(Actor::Organizer, id);
        }
    }

    /// Someone left the room or its waiting room: out of the meeting, whose state goes with
    /// its last participant.
    pub(super) fn meeting_left(&mut self, room: RoomId, id: ParticipantId) {
        let Some(meeting) = self.meetings.get_mut(&room) else {
            return;
        };
        let Some(member) = meeting.leave(id) else {
            return;
        };
        if meeting.is_empty() {
            self.meetings.remove(&room);
            return;
        }
        if member.hand_raised() {
            let hands = meeting.hands();
            self.broadcast(room, &ToBrowser::hands(&hands));
        }
        if member.state == State::Waiting {
            self.tell_waiting_room(room);
        }
    }

    /// What a browser that just entered is told after `joined`: the chat so far, the raised
    /// hands, and for moderators the waiting room.
    pub(super) fn tell_meeting_state(&self, room: RoomId, id: ParticipantId, signal: &SignalTx) {
        let Some(meeting) = self.meetings.get(&room) else {
            return;
        };
        let messages: Vec<_> = meeting.history().cloned().collect();
        if !messages.is_empty() {
            let _ = signal.send(ToBrowser::ChatHistory { messages });
        }
        let hands = meeting.hands();
        if !hands.is_empty() {
            let _ = signal.send(ToBrowser::hands(&hands));
        }
        if self.placement.is_locked(room) {
            let _ = signal.send(ToBrowser::Locked { locked: true });
        }
        if self.placement.is_live(room) {
            let _ = signal.send(self.live_message(room));
        }
        let moderator = meeting.check_moderator(Actor::Participant(id)).is_ok();
        if moderator {
            let _ = signal.send(self.waiting_room_message(meeting));
        }
        if let Some(last) = meeting.polls.all().last() {
            let _ = signal.send(ToBrowser::Poll { poll: last.clone() });
            if let Ok(results) = meeting.polls.results(last.id)
                && (moderator || results.shared)
            {
                let _ = signal.send(ToBrowser::PollResults { results });
            }
        }
    }

    /// Tells the room's moderators (how a call one of them placed is going, who waits).
    pub(super) fn tell_moderators(&self, room: RoomId, msg: &ToBrowser) {
        let Some(meeting) = self.meetings.get(&room) else {
            return;
        };
        for id in meeting.moderators() {
            if let Some(w) = self.webs.get(&id) {
                let _ = w.signal.send(msg.clone());
            }
        }
    }

    fn waiting_room_message(&self, meeting: &Meeting) -> ToBrowser {
        let waiting = meeting
            .waiting()
            .into_iter()
            .filter_map(|id| {
                meeting.member(id).map(|m| Waiter {
                    id: id.to_string(),
                    kind: m.kind.as_str(),
                    display_name: m.name.clone(),
                })
            })
            .collect();
        ToBrowser::WaitingRoom { waiting }
    }

    /// Tells the room's moderators who waits.
    fn tell_waiting_room(&self, room: RoomId) {
        if let Some(meeting) = self.meetings.get(&room) {
            self.tell_moderators(room, &self.waiting_room_message(meeting));
        }
    }

    /// The API's view of the room: everyone in it, then everyone waiting.
    pub(super) fn roster(&self, room: RoomId) -> Vec<(to_browser::Participant, State)> {
        let mut out: Vec<(to_browser::Participant, State)> = self
            .core
            .room(room)
            .unwrap_or_default()
            .iter()
            .map(|p| (self.view(p), State::In))
            .collect();
        if let Some(meeting) = self.meetings.get(&room) {
            for id in meeting.waiting() {
                if let Some(m) = meeting.member(id) {
                    out.push((
                        to_browser::Participant {
                            id: id.to_string(),
                            kind: m.kind.as_str(),
                            display_name: m.name.clone(),
                            muted: false,
                            video_muted: false,
                            role: m.role.as_str(),
                            hand: false,
                            sharing: false,
                        },
                        State::Waiting,
                    ));
                }
            }
        }
        out
    }

    fn room_of(&self, id: ParticipantId) -> Option<RoomId> {
        self.webs
            .get(&id)
            .map(|w| w.room)
            .or_else(|| self.core.participant(id).map(|p| p.room))
            .or_else(|| self.waiting_webs.get(&id).map(|w| w.room))
    }

    pub(super) fn tell(&self, id: ParticipantId, msg: ToBrowser) {
        if let Some(w) = self.webs.get(&id) {
            let _ = w.signal.send(msg);
        } else if let Some(w) = self.waiting_webs.get(&id) {
            let _ = w.signal.send(msg);
        }
    }

    pub(super) fn chat(&mut self, id: ParticipantId, text: &str) {
        let Some(room) = self.room_of(id) else {
            return;
        };
        let ts = self.clock.now();
        let unix_ms = unix_ms();
        let Some(meeting) = self.meetings.get_mut(&room) else {
            return;
        };
        match meeting.chat(ts, unix_ms, id, text) {
            Ok(line) => {
                debug!(participant = %id, %room, chars = line.text.chars().count(), "chat message");
                self.record_chat(room, &line);
                self.broadcast(room, &ToBrowser::Chat { line });
            }
            Err(e) => self.tell(id, ToBrowser::error(e.code(), e.to_string())),
        }
    }

    pub(super) fn hand(&mut self, id: ParticipantId, raised: bool) {
        let Some(room) = self.room_of(id) else {
            return;
        };
        let Some(meeting) = self.meetings.get_mut(&room) else {
            return;
        };
        match meeting.set_hand(Actor::Participant(id), id, raised) {
            Ok(true) => {
                let hands = meeting.hands();
                self.broadcast(room, &ToBrowser::hands(&hands));
            }
            Ok(false) => {}
            Err(e) => self.tell(id, ToBrowser::error(e.code(), e.to_string())),
        }
    }

    /// A browser starts or stops sharing its screen: one share at a time per room.
    pub(super) fn share(&mut self, id: ParticipantId, on: bool) {
        let Some(room) = self.webs.get(&id).map(|w| w.room) else {
            return;
        };
        let Some(meeting) = self.meetings.get_mut(&room) else {
            return;
        };
        if on {
            match meeting.start_sharing(id) {
                Ok(true) => self.share_started(room, id),
                Ok(false) => {}
                Err(e) => self.tell(id, ToBrowser::error(e.code(), e.to_string())),
            }
        } else if meeting.stop_sharing(Actor::Participant(id), id).is_ok() {
            self.share_ended(room, id);
        }
    }

    /// A share started: everyone is told, the composer shows it in its main window.
    fn share_started(&mut self, room: RoomId, id: ParticipantId) {
        info!(participant = %id, %room, "screen share started");
        self.broadcast(
            room,
            &ToBrowser::Sharing {
                participant_id: id.to_string(),
                sharing: true,
            },
        );
        let name = self
            .core
            .participant(id)
            .map(|p| p.display_name.clone())
            .unwrap_or_default();
        let source = screen_source(id);
        self.compose_join(room, source, &name);
        self.compose_speaker(room, Some(source));
        // A keyframe for the composer and every subscriber of the new screen.
        let now = self.clock.now();
        self.core.request_keyframe_from(now, id);
        self.pin_screen(room, id);
    }

    /// The sharer's screen track in the main window of switched room systems (once the
    /// track is published: its first packets may come after the share started).
    pub(super) fn pin_screen(&mut self, room: RoomId, id: ParticipantId) {
        let sharing = self
            .meetings
            .get(&room)
            .is_some_and(|m| m.sharer() == Some(id));
        let track = self
            .track_owner
            .iter()
            .find(|(t, owner)| **owner == id && self.screen_tracks.contains(t))
            .map(|(t, _)| *t);
        if sharing && let Some(track) = track {
            let now = self.clock.now();
            let _ = self.core.set_main_track(now, room, Some(track));
        }
    }

    /// A share ended (stopped, stopped by a moderator, or its sharer left).
    fn share_ended(&mut self, room: RoomId, id: ParticipantId) {
        info!(participant = %id, %room, "screen share ended");
        self.broadcast(
            room,
            &ToBrowser::Sharing {
                participant_id: id.to_string(),
                sharing: false,
            },
        );
        if let Some(c) = self.composers.get(&room) {
            c.send(super::compose::ToComposer::Leave(screen_source(id)));
        }
        self.compose_speaker(room, self.core.active_speaker(room));
        let now = self.clock.now();
        let _ = self.core.set_main_track(now, room, None);
    }

    /// Ends `id`'s share if it shares (it is leaving).
    pub(super) fn stop_share_of(&mut self, room: RoomId, id: ParticipantId) {
        let sharing = self.meetings.get_mut(&room).is_some_and(|m| {
            m.sharer() == Some(id) && m.stop_sharing(Actor::Organizer, id).is_ok()
        });
        if sharing {
            self.share_ended(room, id);
        }
    }

    /// A moderator's action: checked by the meeting, then done.
    pub(super) fn moderate(
        &mut self,
        room: RoomId,
        actor: Actor,
        action: Action,
    ) -> Result<Vec<ParticipantId>, Refusal> {
        let meeting = self
            .meetings
            .get_mut(&room)
            .ok_or(Refusal::NoSuchParticipant)?;
        info!(%room, ?actor, ?action, "moderator action");
        match action {
            Action::Admit(p) => {
                meeting.admit(actor, p)?;
                self.admitted(room, p);
                self.tell_waiting_room(room);
                Ok(vec![p])
            }
            Action::AdmitAll => {
                let all = meeting.admit_all(actor)?;
                for &p in &all {
                    self.admitted(room, p);
                }
                self.tell_waiting_room(room);
                Ok(all)
            }
            Action::MakeModerator(p) => {
                meeting.make_moderator(actor, p)?;
                self.broadcast(
                    room,
                    &ToBrowser::Role {
                        participant_id: p.to_string(),
                        role: "moderator",
                    },
                );
                // A new moderator sees the waiting room.
                if let Some(w) = self.webs.get(&p)
                    && let Some(m) = self.meetings.get(&room)
                {
                    let _ = w.signal.send(self.waiting_room_message(m));
                }
                Ok(vec![p])
            }
            Action::LowerHand(p) => {
                if meeting.set_hand(actor, p, false)? {
                    let hands = meeting.hands();
                    self.broadcast(room, &ToBrowser::hands(&hands));
                }
                Ok(vec![p])
            }
            Action::StopShare(p) => {
                meeting.stop_sharing(actor, p)?;
                self.tell(p, ToBrowser::ShareStopped);
                self.share_ended(room, p);
                Ok(vec![p])
            }
            Action::Mute(p) => {
                let state = meeting.check_action(actor, p)?.state;
                if state == State::Waiting {
                    return Err(Refusal::StillWaiting);
                }
                self.force_mute(p, true);
                Ok(vec![p])
            }
            Action::Unmute(p) => {
                let state = meeting.check_action(actor, p)?.state;
                if state == State::Waiting {
                    return Err(Refusal::StillWaiting);
                }
                self.force_mute(p, false);
                Ok(vec![p])
            }
            Action::MuteAll => {
                meeting.check_moderator(actor)?;
                let moderators = meeting.moderators();
                let targets: Vec<ParticipantId> = meeting
                    .present()
                    .into_iter()
                    .filter(|p| !moderators.contains(p))
                    .collect();
                for &p in &targets {
                    self.force_mute(p, true);
                }
                Ok(targets)
            }
            Action::Remove(p) => {
                let state = meeting.check_action(actor, p)?.state;
                let reason = match state {
                    State::Waiting => Removal::TurnedAway,
                    State::In => Removal::Removed,
                };
                self.dismiss(p, reason);
                Ok(vec![p])
            }
            Action::Lock(locked) => {
                meeting.check_moderator(actor)?;
                self.placement.set_locked(room, locked);
                self.broadcast(room, &ToBrowser::Locked { locked });
                Ok(Vec::new())
            }
            Action::Authorize => {
                meeting.check_moderator(actor)?;
                Ok(Vec::new())
            }
            Action::End => {
                meeting.check_moderator(actor)?;
                let everyone: Vec<ParticipantId> = meeting
                    .present()
                    .into_iter()
                    .chain(meeting.waiting())
                    .collect();
                for &p in &everyone {
                    self.dismiss(p, Removal::Ended);
                }
                Ok(everyone)
            }
        }
    }

    /// Someone just let in: a browser gets its media leg now; a call waiting is attached.
    fn admitted(&mut self, room: RoomId, id: ParticipantId) {
        if let Some(w) = self.waiting_webs.remove(&id) {
            info!(participant = %id, %room, "let in from the waiting room");
            self.enter_web(w.room, id, w.name, w.signal);
        } else {
            self.admit_waiting_call(id);
        }
    }

    /// A moderator mutes (or unmutes) someone. A browser is asked to turn its microphone off
    /// (and its state is shown at once); a call's voice leaves the mix, and a phone caller
    /// hears why and that `*6` undoes it.
    fn force_mute(&mut self, id: ParticipantId, muted: bool) {
        if let Some(w) = self.webs.get(&id) {
            let (room, video) = (w.room, w.video_muted);
            if muted {
                let _ = self.core.set_muted(id, true);
                self.broadcast(
                    room,
                    &ToBrowser::Muted {
                        participant_id: id.to_string(),
                        audio: true,
                        video,
                        by_moderator: true,
                    },
                );
                if let Some(m) = self.mixers.get_mut(&room) {
                    let _ = m.set_muted(id, true);
                }
            } else {
                let _ = w.signal.send(ToBrowser::UnmuteRequested);
            }
            return;
        }
        let ts = self.clock.now();
        let Some(s) = self.sips.get_mut(&id) else {
            return;
        };
        if s.muted == muted {
            return;
        }
        s.muted = muted;
        let room = s.room;
        if muted && let Some(ivr) = s.ivr.as_mut() {
            ivr.call.announce(ts, Prompt::Muted);
        }
        let _ = self.core.set_muted(id, muted);
        if let Some(m) = self.mixers.get_mut(&room) {
            let _ = m.set_muted(id, muted);
        }
        self.broadcast(
            room,
            &ToBrowser::Muted {
                participant_id: id.to_string(),
                audio: muted,
                video: false,
                by_moderator: true,
            },
        );
    }

    /// Ends someone's participation: a browser is told why and closed; a phone caller hears
    /// why, then BYE; a room system gets BYE.
    fn dismiss(&mut self, id: ParticipantId, reason: Removal) {
        if let Some(w) = self.waiting_webs.get(&id) {
            let _ = w.signal.send(ToBrowser::Removed { reason });
            self.leave_waiting(id);
            return;
        }
        if let Some(w) = self.webs.get(&id) {
            let _ = w.signal.send(ToBrowser::Removed { reason });
            self.remove(id);
            return;
        }
        let prompt = match reason {
            Removal::Ended => Prompt::Ended,
            Removal::Removed | Removal::TurnedAway => Prompt::Removed,
        };
        self.dismiss_call(id, prompt);
    }

    /// A SIP or phone leg asked to go: out of the room at once (nobody hears it any more),
    /// then hung up — after the prompt for a phone caller.
    fn dismiss_call(&mut self, id: ParticipantId, prompt: Prompt) {
        if self.dismiss_waiting_call(id, prompt) {
            return;
        }
        let ts = self.clock.now();
        let Some(s) = self.sips.get_mut(&id) else {
            return;
        };
        let room = s.room;
        let (call, hangup) = (s.call, s.hangup.clone());
        let speaks = match s.ivr.as_mut() {
            Some(ivr) => {
                ivr.call.dismiss(ts, prompt);
                true
            }
            None => false,
        };
        if let Some(m) = self.mixers.get_mut(&room) {
            let _ = m.set_muted(id, true);
        }
        if speaks {
            // Out of the roster now; the leg stays for its prompt, then its IVR asks for BYE.
            let now = self.clock.now();
            self.core.remove_participant(now, id);
            self.compose_leave(room, id);
            self.broadcast(room, &ToBrowser::left(id));
            self.meeting_left(room, id);
            self.dismissing.push(id);
        } else {
            if let Some(s) = self.sips.get_mut(&id) {
                s.hangup_sent = true;
            }
            let _ = hangup.try_send(SipCommand::Hangup(call));
            self.leave_sip(id);
        }
    }
}

/// Now, in Unix milliseconds (the time shown beside a chat message).
fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
