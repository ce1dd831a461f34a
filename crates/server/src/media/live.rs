//! Live streaming of a room to viewers without an account (issue 18): WHEP playback
//! (RFC 9725's sibling for egress) of the room's composed picture and full mix.
//!
//! A viewer is not a participant: the media core never hears of it, the roster does not list
//! it, and nothing it could send reaches the room. Each viewer has its own WebRTC leg (the
//! viewer offers `recvonly`, the bridge answers `sendonly`, [`WebLeg::from_offer`]) on the
//! room's shard, routed like the web legs (by source address, then by ICE ufrag). What it
//! receives is made once per room, whatever the number of viewers: the room's composer (the
//! picture room systems get) and the mixer's full mix (what a recording holds), encoded as 20 ms
//! Opus by a [`LiveAudio`]. Both are started with the first viewer and stopped with the last,
//! so a live stream nobody watches costs nothing.
//!
//! The organizer turns the live stream on and off ([`Placement::set_live`] and
//! [`LiveQuery::Set`]); it also ends when the room empties. Viewers are capped per room
//! (`[streaming] max_viewers`): beyond it a new session is refused (503) before any leg is
//! built.
//!
//! [`Placement::set_live`]: pont_plane::placement::Placement::set_live

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use pont_media::MediaKind;
use pont_plane::leg_timers::LegTimers;
use pont_plane::live::{LiveAudio, LiveStats, ice_ufrag, is_ice_restart};
use pont_plane::to_browser::ToBrowser;
use pont_types::RoomId;
use pont_webrtc::{LegEvent, ViewerPacket, WebError, WebLeg};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::CONNECT_TIMEOUT;

/// The HTTP side's requests about live streams, for the room's shard.
#[derive(Debug)]
pub(crate) enum LiveQuery {
    /// The organizer started or stopped the room's live stream (the placement's flag is set
    /// already): everyone in the room is told; stopping closes every viewer. Answers the number
    /// of viewers.
    Set {
        room: RoomId,
        on: bool,
        reply: oneshot::Sender<usize>,
    },
    /// A viewer's offer (`POST /whep/{room}`).
    Offer {
        room: RoomId,
        sdp: String,
        reply: oneshot::Sender<Result<WhepSession, WhepError>>,
    },
    /// A trickle ICE fragment for a session (`PATCH /whep/{room}/{session}`).
    Trickle {
        room: RoomId,
        session: String,
        fragment: String,
        reply: oneshot::Sender<Result<(), WhepError>>,
    },
    /// The viewer is done (`DELETE /whep/{room}/{session}`): whether the session existed.
    End {
        room: RoomId,
        session: String,
        reply: oneshot::Sender<bool>,
    },
    /// A WHIP client's offer (`POST /whip/{room}`): it publishes into the room as a
    /// participant named `name`. The handle took a hold on the room for it.
    Publish {
        room: RoomId,
        name: String,
        sdp: String,
        reply: oneshot::Sender<Result<WhepSession, WhepError>>,
    },
    /// The WHIP client is done (`DELETE /whip/{room}/{session}`): whether it existed.
    Unpublish {
        room: RoomId,
        session: String,
        reply: oneshot::Sender<bool>,
    },
}

/// A session a viewer's offer opened.
#[derive(Debug, Clone)]
pub(crate) struct WhepSession {
    /// The session's id in its URL: 128 random bits, so nobody guesses another's.
    pub(crate) session: String,
    pub(crate) answer: String,
}

/// Why a WHEP request was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WhepError {
    #[error("this room is not streaming live")]
    NotLive,
    #[error("no such viewing session")]
    NoSession,
    #[error("the live stream already has its {max} viewers")]
    Full { max: usize },
    #[error("{0}")]
    Offer(#[from] WebError),
    #[error("ICE restarts are not supported: start a new session")]
    IceRestart,
    #[error("the organizer has locked this room")]
    Locked,
    #[error("the room is full ({max} participants)")]
    RoomFull { max: usize },
}

/// One viewer's leg.
struct Viewer {
    room: RoomId,
    leg: WebLeg,
    created: Instant,
    session: String,
    /// The viewer's ICE ufrag (from its offer): a PATCH naming another one restarts ICE.
    remote_ufrag: Option<String>,
}

impl Viewer {
    /// When the leg next wants to be polled: its own timer, or giving up on a connection that
    /// did not come up.
    fn deadline(&self) -> Option<Instant> {
        super::leg_deadline(&self.leg, self.created)
    }
}

/// A room that streams to viewers: its audio for them, and who they are (the per-packet
/// fan-out walks this, not every viewer of the shard).
struct RoomLive {
    audio: LiveAudio,
    viewers: Vec<u64>,
}

/// The viewers of one shard's rooms.
#[derive(Default)]
pub(super) struct LivePlane {
    viewers: BTreeMap<u64, Viewer>,
    next_id: u64,
    timers: LegTimers<u64, Instant>,
    /// The viewer that last accepted a datagram from each remote address.
    routes: HashMap<SocketAddr, u64>,
    /// Each viewer's leg by its ICE ufrag.
    ufrags: HashMap<String, u64>,
    /// The rooms that have viewers.
    rooms: HashMap<RoomId, RoomLive>,
    /// `[streaming] max_viewers`: per room.
    pub(super) max_viewers: usize,
    /// WHIP publishers by session: participants of their rooms.
    pub(super) publishers: HashMap<String, pont_types::ParticipantId>,
    stats: LiveStats,
}

impl LivePlane {
    pub(super) fn new(max_viewers: usize) -> Self {
        Self {
            max_viewers,
            ..Self::default()
        }
    }

    /// How many viewers `room` has.
    pub(super) fn viewers(&self, room: RoomId) -> usize {
        self.rooms.get(&room).map_or(0, |r| r.viewers.len())
    }

    fn by_session(&self, room: RoomId, session: &str) -> Option<u64> {
        self.rooms
            .get(&room)?
            .viewers
            .iter()
            .copied()
            .find(|id| self.viewers.get(id).is_some_and(|v| v.session == session))
    }
}

impl super::Task {
    pub(super) fn answer_live(&mut self, query: LiveQuery) {
        match query {
            LiveQuery::Set { room, on, reply } => {
                if !on {
                    self.close_viewers(room);
                }
                info!(%room, on, "live stream changed");
                self.tell_live(room);
                let _ = reply.send(self.live.viewers(room));
            }
            LiveQuery::Offer { room, sdp, reply } => {
                let answered = self.live_offer(room, &sdp);
                let _ = reply.send(answered);
            }
            LiveQuery::Trickle {
                room,
                session,
                fragment,
                reply,
            } => {
                let done = match self.live.by_session(room, &session) {
                    None => Err(WhepError::NoSession),
                    Some(id) => {
                        let theirs = self
                            .live
                            .viewers
                            .get(&id)
                            .and_then(|v| v.remote_ufrag.as_deref());
                        if is_ice_restart(&fragment, theirs) {
                            Err(WhepError::IceRestart)
                        } else {
                            // The bridge is ICE-lite: the viewer's checks tell it the viewer's
                            // addresses, so the candidates themselves are not needed.
                            Ok(())
                        }
                    }
                };
                let _ = reply.send(done);
            }
            LiveQuery::End {
                room,
                session,
                reply,
            } => {
                let found = self.live.by_session(room, &session);
                if let Some(id) = found {
                    self.remove_viewer(id);
                }
                let _ = reply.send(found.is_some());
            }
            LiveQuery::Publish {
                room,
                name,
                sdp,
                reply,
            } => {
                let published = self.publish_whip(room, name, &sdp);
                if published.is_err() {
                    // The hold the handle took for it.
                    self.placement.release(room);
                }
                let _ = reply.send(published);
            }
            LiveQuery::Unpublish {
                room,
                session,
                reply,
            } => {
                let found = self
                    .live
                    .publishers
                    .get(&session)
                    .copied()
                    .filter(|id| self.webs.get(id).is_some_and(|w| w.room == room));
                if let Some(id) = found {
                    self.live.publishers.remove(&session);
                    self.remove(id);
                }
                let _ = reply.send(found.is_some());
            }
        }
    }

    /// A WHIP client publishes into `room`: a participant like a browser, whose leg is made
    /// from its offer, that receives nothing. It does not wait in a waiting room (the
    /// organizer's token let it in) but a locked or full room refuses it.
    fn publish_whip(
        &mut self,
        room: RoomId,
        name: String,
        sdp: &str,
    ) -> Result<WhepSession, WhepError> {
        match self.room_closed(room) {
            Some(super::JoinRefused::Locked) => return Err(WhepError::Locked),
            Some(super::JoinRefused::RoomFull { max }) => return Err(WhepError::RoomFull { max }),
            None => {}
        }
        let now = Instant::now();
        let (leg, answer) =
            WebLeg::from_publisher_offer(now.into_std(), &self.sockets.candidates, sdp)?;
        let id = self.core.reserve_id();
        let ts = self.clock.timestamp(now);
        let meeting = self
            .meetings
            .entry(room)
            .or_insert_with(|| pont_plane::meeting::Meeting::new(Default::default()));
        let _ = meeting.arrive(ts, id, pont_media::ParticipantKind::Web, &name, true);
        // Nobody reads what the room tells it: it has no page.
        let (signal, _) = tokio::sync::mpsc::unbounded_channel();
        self.enter_web_leg(room, id, name, signal, Some(leg));
        let session = format!("{:032x}", rand::random::<u128>());
        self.live.publishers.insert(session.clone(), id);
        info!(%room, participant = %id, "WHIP publisher joined");
        Ok(WhepSession { session, answer })
    }

    /// The live state of `room`, for everyone in it.
    fn tell_live(&self, room: RoomId) {
        self.broadcast(room, &self.live_message(room));
    }

    pub(super) fn live_message(&self, room: RoomId) -> ToBrowser {
        ToBrowser::Live {
            live: self.placement.is_live(room),
            viewers: self.live.viewers(room),
        }
    }

    fn live_offer(&mut self, room: RoomId, sdp: &str) -> Result<WhepSession, WhepError> {
        if !self.placement.is_live(room) || self.core.room_len(room) == 0 {
            self.live.stats.not_live += 1;
            return Err(WhepError::NotLive);
        }
        if self.live.viewers(room) >= self.live.max_viewers {
            self.live.stats.full += 1;
            return Err(WhepError::Full {
                max: self.live.max_viewers,
            });
        }
        let now = Instant::now();
        let (leg, answer, tracks) =
            match WebLeg::from_offer(now.into_std(), &self.sockets.candidates, sdp) {
                Ok(made) => made,
                Err(e) => {
                    self.live.stats.bad_offer += 1;
                    return Err(WhepError::Offer(e));
                }
            };
        if !self.live.rooms.contains_key(&room) && !self.start_room_live(room) {
            self.live.stats.bad_offer += 1;
            return Err(WhepError::NotLive);
        }
        let id = self.live.next_id;
        self.live.next_id += 1;
        let session = format!("{:032x}", rand::random::<u128>());
        self.live.ufrags.insert(leg.ice_ufrag().to_owned(), id);
        if let Some(r) = self.live.rooms.get_mut(&room) {
            r.viewers.push(id);
        }
        self.live.viewers.insert(
            id,
            Viewer {
                room,
                leg,
                created: now,
                session: session.clone(),
                remote_ufrag: ice_ufrag(sdp).map(str::to_owned),
            },
        );
        self.live.timers.mark(id);
        self.live.stats.answered += 1;
        debug!(%room, viewer = id, audio = tracks.audio, video = tracks.video, "viewer joined");
        self.tell_live(room);
        Ok(WhepSession { session, answer })
    }

    /// The room's first viewer: its composer and its mixer's full mix are started for the
    /// viewers. False when the audio encoder cannot be made.
    fn start_room_live(&mut self, room: RoomId) -> bool {
        let audio = match LiveAudio::new(rand::random(), rand::random()) {
            Ok(a) => a,
            Err(e) => {
                warn!(%room, error = %e, "cannot create the live stream's encoder");
                return false;
            }
        };
        self.live.rooms.insert(
            room,
            RoomLive {
                audio,
                viewers: Vec::new(),
            },
        );
        self.ensure_composer(room);
        let now = self.clock.now();
        if let Some(m) = self.mixer_for(room, now) {
            m.set_full_mix_tap(true);
        }
        info!(%room, "live stream has viewers: composing for them");
        true
    }

    /// The room's last viewer left: what was made for the viewers stops, unless something
    /// else needs it.
    fn stop_room_live(&mut self, room: RoomId) {
        if self.live.rooms.remove(&room).is_none() {
            return;
        }
        self.drop_unneeded_composer(room);
        if !self.recorders.contains_key(&room)
            && let Some(m) = self.mixers.get_mut(&room)
        {
            m.set_full_mix_tap(false);
        }
        if !self.mixer_needed(room) {
            self.mixers.remove(&room);
        }
        info!(%room, "live stream has no viewers left");
    }

    /// The rooms that have viewers.
    pub(super) fn live_rooms(&self) -> impl Iterator<Item = RoomId> + '_ {
        self.live.rooms.keys().copied()
    }

    /// Whether the room streams to viewers now (its composer and mix are needed).
    pub(super) fn has_viewers(&self, room: RoomId) -> bool {
        self.live.rooms.contains_key(&room)
    }

    fn remove_viewer(&mut self, id: u64) {
        let Some(mut v) = self.live.viewers.remove(&id) else {
            return;
        };
        self.live.timers.remove(id);
        self.live.routes.retain(|_, leg| *leg != id);
        self.live.ufrags.remove(v.leg.ice_ufrag());
        self.close_leg(&mut v.leg);
        debug!(room = %v.room, viewer = id, "viewer left");
        if let Some(r) = self.live.rooms.get_mut(&v.room) {
            r.viewers.retain(|&other| other != id);
        }
        if self.live.viewers(v.room) == 0 {
            self.stop_room_live(v.room);
        }
        self.tell_live(v.room);
    }

    /// Every viewer of `room` is let go (the live stream stopped, or the room emptied).
    fn close_viewers(&mut self, room: RoomId) {
        let ids = self
            .live
            .rooms
            .get(&room)
            .map(|r| r.viewers.clone())
            .unwrap_or_default();
        for id in ids {
            self.remove_viewer(id);
        }
    }

    /// Nobody is left in the room: its live stream ends with it.
    pub(super) fn live_room_empty(&mut self, room: RoomId) {
        if self.placement.is_live(room) {
            self.placement.set_live(room, false);
            info!(%room, "the room emptied: its live stream ended");
        }
        self.close_viewers(room);
    }

    /// A datagram no participant's leg took: a viewer's, if one accepts it.
    pub(super) fn live_datagram(
        &mut self,
        at: std::time::Instant,
        from: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) -> bool {
        let live = &mut self.live;
        let found = super::route_datagram(&live.routes, &live.ufrags, from, data, |id| {
            live.viewers
                .get_mut(&id)
                .is_some_and(|v| v.leg.accepts(at, from, destination, data))
        });
        let Some((id, cached)) = found else {
            return false;
        };
        if let Some(v) = live.viewers.get_mut(&id) {
            v.leg.handle_receive(at, from, destination, data);
            live.timers.mark(id);
        }
        if !cached {
            super::remember_route(&mut live.routes, from, id);
        }
        true
    }

    /// Moves the viewers' legs' outputs to the socket; returns whether anything moved.
    pub(super) fn pump_viewers(&mut self) -> bool {
        let mut moved = false;
        let mut closed = Vec::new();
        for id in self.live.timers.take_dirty() {
            while let Some((room, ev)) = self
                .live
                .viewers
                .get_mut(&id)
                .and_then(|v| v.leg.poll_event().map(|e| (v.room, e)))
            {
                moved = true;
                match ev {
                    LegEvent::Transmit {
                        source,
                        destination,
                        contents,
                    } => self.send_udp(source, destination, &contents),
                    // A viewer's PLI (the only RTCP its leg reports) or a viewer that just
                    // connected: the composer sends a keyframe, which every viewer gets.
                    LegEvent::Rtcp(_) => self.compose_keyframe(room),
                    LegEvent::Connected => {
                        self.live.stats.connected += 1;
                        debug!(%room, viewer = id, "viewer connected");
                        self.compose_keyframe(room);
                    }
                    LegEvent::Closed => {
                        if self
                            .live
                            .viewers
                            .get(&id)
                            .is_some_and(|v| !v.leg.is_connected())
                        {
                            self.live.stats.abandoned += 1;
                        }
                        closed.push(id);
                    }
                    _ => {}
                }
            }
            if let Some(v) = self.live.viewers.get(&id) {
                let at = v.deadline();
                self.live.timers.set(id, at);
            }
        }
        for id in closed {
            self.remove_viewer(id);
        }
        moved
    }

    pub(super) fn live_next_timeout(&mut self) -> Option<Instant> {
        self.live.timers.earliest()
    }

    pub(super) fn live_handle_timeout(&mut self, now: Instant) {
        for id in self.live.timers.pop_due(now) {
            let Some(v) = self.live.viewers.get_mut(&id) else {
                continue;
            };
            if v.leg.poll_timeout().is_some_and(|t| t <= now.into_std()) {
                v.leg.handle_timeout(now.into_std());
            }
            if !v.leg.is_connected() && now >= v.created + CONNECT_TIMEOUT {
                debug!(viewer = id, "viewer's ICE/DTLS did not come up: giving up");
                v.leg.close();
            }
            self.live.timers.mark(id);
        }
    }

    /// One composed RTP payload to the room's viewers.
    pub(super) fn live_video(&mut self, room: RoomId, p: &pont_video::RtpPayload) {
        if !self.live.rooms.contains_key(&room) {
            return;
        }
        let now = std::time::Instant::now();
        let packet = ViewerPacket {
            seq: p.seq,
            timestamp: p.timestamp,
            marker: p.marker,
            payload: &p.payload,
        };
        let LivePlane {
            rooms,
            viewers,
            timers,
            ..
        } = &mut self.live;
        if let Some(r) = rooms.get(&room) {
            send_to_viewers(viewers, timers, &r.viewers, now, MediaKind::Video, packet);
        }
    }

    /// One frame of the room's full mix, for its viewers: 20 ms Opus packets once enough is
    /// buffered.
    pub(super) fn live_audio(&mut self, room: RoomId, rate: u32, pcm: &[i16]) {
        let now = std::time::Instant::now();
        let LivePlane {
            rooms,
            viewers,
            timers,
            ..
        } = &mut self.live;
        let Some(r) = rooms.get_mut(&room) else {
            return;
        };
        if !r.audio.push(rate, pcm) {
            return;
        }
        while let Some(packet) = r.audio.next_packet() {
            let p = match packet {
                Ok(p) => p,
                Err(e) => {
                    debug!(%room, error = %e, "live audio: 20 ms left out");
                    continue;
                }
            };
            let packet = ViewerPacket {
                seq: p.seq,
                timestamp: p.timestamp,
                marker: false,
                payload: p.payload,
            };
            send_to_viewers(viewers, timers, &r.viewers, now, MediaKind::Audio, packet);
        }
    }

    pub(super) fn live_stats(&self) -> LiveStats {
        LiveStats {
            viewers: self.live.viewers.len(),
            live_rooms: self
                .meetings
                .keys()
                .filter(|&&room| self.placement.is_live(room))
                .count(),
            ..self.live.stats
        }
    }
}

/// One packet to each of a room's viewers (`ids`), whose legs are then polled.
fn send_to_viewers(
    viewers: &mut BTreeMap<u64, Viewer>,
    timers: &mut LegTimers<u64, Instant>,
    ids: &[u64],
    now: std::time::Instant,
    kind: MediaKind,
    packet: ViewerPacket<'_>,
) {
    for &id in ids {
        if let Some(v) = viewers.get_mut(&id) {
            v.leg.send_viewer(now, kind, packet);
            timers.mark(id);
        }
    }
}
