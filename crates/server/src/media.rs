//! The media plane: `--media-threads` shards, each an OS thread that owns whole rooms.
//!
//! A shard (one [`Task`] on its own single-threaded runtime) owns a [`MediaCore`], the web legs
//! (str0m), SIP and phone legs, mixers, composers and recorders of the rooms placed on it, and
//! its own media UDP socket(s): shard `k` listens on the `--media` port + `k`, and its web legs
//! advertise that port as their ICE candidate, so a datagram reaches the shard that owns its
//! leg without any hand-off and nothing on the packet path is shared. It maps tokio's monotonic
//! clock onto the core's [`Timestamp`], drains its socket(s) until they would block, routes
//! each datagram to the leg that [`WebLeg::accepts`] it (the last leg of that source first),
//! then pumps outputs between the legs that had input, the core and the sockets until nothing
//! moves, and sleeps until the earliest timeout of the core and the legs.
//!
//! Rooms are placed on the least loaded shard when someone first joins them and stay there
//! while anything holds them ([`pont_plane::placement`]). Signalling (the WebSocket handlers), the SIP task
//! and the HTTP API talk to the shards through [`MediaHandle`], which routes each request by
//! room, participant id (an id names its shard) or dial-in call. The sans-IO parts (placement,
//! which legs to poll, what browsers are told) are in `crates/plane`.

mod compose;
mod ivr_legs;
mod live;
mod meeting;
mod polls;
mod recording;
mod sip_legs;

use ivr_legs::{DirectoryAnswer, DirectoryQuery, IvrLeg};
pub(crate) use ivr_legs::{IvrQuery, IvrStats, JOIN_BUCKETS, StartIvr};
pub(crate) use live::{LiveQuery, WhepError};
pub(crate) use meeting::{Action, Moderation};
pub(crate) use polls::{PollCommand, PollError, PollQuery, PollsSnapshot};
use pont_plane::leg_timers::LegTimers;
pub(crate) use pont_plane::live::LiveStats;
use pont_plane::meeting::{Actor, Meeting, Rules};
use pont_plane::placement::{Placement, Shard};
pub(crate) use recording::{RecordQuery, RecorderNotice, StopReason, WriterMsg};
use sip_legs::{Attach, SipDatagram, SipParticipant, SipQuery};
pub(crate) use sip_legs::{JoinReply, JoinSip, SipJoinRefused, SipMedia, SipRtcpStats};

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use pont_media::{
    CoreConfig, CoreStats, Event, MediaCore, PacketKind, ParticipantConfig, ParticipantInfo,
    Source, TrackId,
};
use pont_types::{ParticipantId, RoomId, Timestamp};

use crate::admission::LoadGauges;
use pont_plane::to_browser::{self, ToBrowser};
use pont_webrtc::{LegEvent, WebLeg};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, debug_span, info, trace, warn};

/// Maps tokio instants onto core timestamps: microseconds since the task started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: Instant,
}

/// How far ahead a timestamp the clock cannot represent is scheduled (it means "never").
const FAR_FUTURE: Duration = Duration::from_secs(24 * 3600);
/// Remembered remote addresses (a few per web leg); beyond this the cache starts over, so a
/// flood of spoofed sources cannot grow it.
const MAX_ROUTES: usize = 8192;

impl Clock {
    pub(crate) fn new(base: Instant) -> Self {
        Self { base }
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.timestamp(Instant::now())
    }

    /// An instant before the base maps to zero: time never goes backwards for the core.
    pub(crate) fn timestamp(&self, at: Instant) -> Timestamp {
        let micros = at.saturating_duration_since(self.base).as_micros();
        Timestamp::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    pub(crate) fn instant(&self, at: Timestamp) -> Instant {
        self.base
            .checked_add(Duration::from_micros(at.as_micros()))
            .unwrap_or_else(|| Instant::now() + FAR_FUTURE)
    }
}

/// A room as the media core sees it right now.
#[derive(Debug, Clone)]
pub(crate) struct RoomSnapshot {
    /// Everyone in the room, then everyone in its waiting room (`state`).
    pub(crate) participants: Vec<(to_browser::Participant, pont_plane::meeting::State)>,
    pub(crate) active_speaker: Option<ParticipantId>,
    /// The organizer locked the room: nobody new gets in.
    pub(crate) locked: bool,
    /// The room streams live to viewers (`/live/{room}`), and how many watch.
    pub(crate) live: bool,
    pub(crate) viewers: usize,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone)]
pub(crate) struct StatsSnapshot {
    pub(crate) stats: CoreStats,
    pub(crate) rooms: usize,
    pub(crate) participants: usize,
    pub(crate) web_legs: usize,
    pub(crate) udp_in_datagrams: u64,
    pub(crate) udp_unrouted_datagrams: u64,
    pub(crate) ivr: IvrStats,
    /// New SIP calls refused with 503, by reason.
    pub(crate) sip_refused: [(crate::admission::Overload, u64); 3],
    /// The smoothed lateness of this task (admission control's media lag).
    pub(crate) media_lag: Duration,
    /// RTCP of SIP legs' audio.
    pub(crate) sip_rtcp: SipRtcpStats,
    /// Each shard's own figures, by shard index.
    pub(crate) shards: Vec<ShardFigures>,
    /// Live streams' viewers and WHEP sessions.
    pub(crate) live: LiveStats,
}

/// One shard's share of the plane's work, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShardFigures {
    pub(crate) rooms: usize,
    pub(crate) participants: usize,
    pub(crate) forwarded_packets: u64,
    pub(crate) udp_in_datagrams: u64,
    pub(crate) udp_unrouted_datagrams: u64,
}

impl StatsSnapshot {
    /// Adds another shard's figures to these.
    fn absorb(&mut self, other: &Self) {
        self.stats.absorb(&other.stats);
        self.rooms += other.rooms;
        self.participants += other.participants;
        self.web_legs += other.web_legs;
        self.udp_in_datagrams += other.udp_in_datagrams;
        self.udp_unrouted_datagrams += other.udp_unrouted_datagrams;
        self.ivr.absorb(&other.ivr);
        self.media_lag = self.media_lag.max(other.media_lag);
        self.sip_rtcp.absorb(&other.sip_rtcp);
        self.shards.extend(other.shards.iter().cloned());
        self.live.absorb(&other.live);
    }
}

/// Signalling messages for one browser (`docs/signalling.md`).
pub(crate) type SignalTx = mpsc::UnboundedSender<ToBrowser>;

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinRefused {
    RoomFull {
        max: usize,
    },
    /// The organizer locked the room.
    Locked,
}

/// A join that went through.
#[derive(Debug, Clone)]
pub(crate) struct Joined {
    pub(crate) id: ParticipantId,
}

enum Query {
    Room(RoomId, oneshot::Sender<RoomSnapshot>),
    Stats(oneshot::Sender<StatsSnapshot>),
    Ping(oneshot::Sender<()>),
    Join {
        room: RoomId,
        name: String,
        signal: SignalTx,
        /// The meeting's organizer (or an admin), signed in: moderates, never waits.
        moderator: bool,
        rules: Rules,
        reply: oneshot::Sender<Result<Joined, JoinRefused>>,
    },
    /// A chat message from a browser.
    Chat {
        id: ParticipantId,
        text: String,
    },
    /// A browser raises or lowers its hand.
    Hand {
        id: ParticipantId,
        raised: bool,
    },
    /// A browser starts or stops sharing its screen.
    Share {
        id: ParticipantId,
        on: bool,
    },
    /// A moderator's action, from a page or the API.
    Moderate(Moderation),
    /// How a dial-out into the room is going (from the SIP task), for its moderators.
    Dialout(RoomId, ToBrowser),
    /// A poll command from a page.
    Poll(PollQuery),
    /// The room's polls and their CSV export.
    Polls(RoomId, oneshot::Sender<(PollsSnapshot, String)>),
    Answer {
        id: ParticipantId,
        sdp: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Mute {
        id: ParticipantId,
        audio: bool,
        video: bool,
    },
    Leave(ParticipantId),
    Sip(SipQuery),
    /// A dial-in caller through the IVR on another shard, joining a room on this one (and how
    /// long it waited from `#` on).
    AttachIvr(Box<Attach>, Option<Duration>),
    Ivr(IvrQuery),
    Record(RecordQuery),
    Live(LiveQuery),
}

/// The media task stopped (it panicked or shut down).
#[derive(Debug, thiserror::Error)]
#[error("the media task is not running")]
pub(crate) struct MediaGone;

/// The HTTP and SIP side's handle on the media plane: routes each request to its shard.
#[derive(Debug, Clone)]
pub(crate) struct MediaHandle {
    shards: Arc<[mpsc::Sender<Query>]>,
    placement: Arc<Placement>,
    /// Refusals (shared); each shard's lateness is in `lags`.
    load: Arc<LoadGauges>,
    lags: Arc<[Arc<LoadGauges>]>,
}

impl MediaHandle {
    async fn ask<T>(
        &self,
        shard: Shard,
        make: impl FnOnce(oneshot::Sender<T>) -> Query,
    ) -> Result<T, MediaGone> {
        let (reply, answer) = oneshot::channel();
        self.send(shard, make(reply)).await?;
        answer.await.map_err(|_| MediaGone)
    }

    async fn send(&self, shard: Shard, query: Query) -> Result<(), MediaGone> {
        let tx = self.shards.get(shard).ok_or(MediaGone)?;
        tx.send(query).await.map_err(|_| MediaGone)
    }

    /// The shard of a participant (every kind: web, SIP, phone).
    fn of(&self, id: ParticipantId) -> Shard {
        self.placement.shard_of_participant(id)
    }

    pub(crate) async fn room(&self, room: RoomId) -> Result<RoomSnapshot, MediaGone> {
        match self.placement.shard_of_room(room) {
            Some(shard) => self.ask(shard, |r| Query::Room(room, r)).await,
            None => Ok(RoomSnapshot {
                participants: Vec::new(),
                active_speaker: None,
                locked: self.placement.is_locked(room),
                live: false,
                viewers: 0,
            }),
        }
    }

    /// Every shard's counters, summed (worst of the lateness and RTCP figures).
    pub(crate) async fn stats(&self) -> Result<StatsSnapshot, MediaGone> {
        let mut total: Option<StatsSnapshot> = None;
        for shard in 0..self.shards.len() {
            let s = self.ask(shard, Query::Stats).await?;
            match &mut total {
                None => total = Some(s),
                Some(t) => t.absorb(&s),
            }
        }
        let mut total = total.ok_or(MediaGone)?;
        total.sip_refused = self.load.refused();
        total.media_lag = self.media_lag(std::time::Instant::now());
        Ok(total)
    }

    /// Asks for a SIP call to be put into its room, without waiting: the answer comes on
    /// the join's `reply` channel. An error when the queue is full (the caller is overloaded
    /// and says 503) or the task is gone.
    pub(crate) fn try_join_sip(&self, join: JoinSip) -> Result<(), MediaGone> {
        let room = join.room;
        let shard = self.placement.enter(room);
        let sent = self.shards.get(shard).ok_or(MediaGone).and_then(|tx| {
            tx.try_send(Query::Sip(SipQuery::Join(Box::new(join))))
                .map_err(|_| MediaGone)
        });
        if sent.is_err() {
            self.placement.release(room);
        }
        sent
    }

    /// Requests waiting in the busiest shard's queue.
    pub(crate) fn queue_depth(&self) -> usize {
        self.shards
            .iter()
            .map(|tx| tx.max_capacity() - tx.capacity())
            .max()
            .unwrap_or(0)
    }

    /// The refusal counters admission control keeps.
    pub(crate) fn load(&self) -> &LoadGauges {
        &self.load
    }

    /// The smoothed lateness of the most behind shard (admission control's media lag).
    pub(crate) fn media_lag(&self, now: std::time::Instant) -> Duration {
        self.lags
            .iter()
            .map(|g| g.media_lag(now))
            .max()
            .unwrap_or_default()
    }

    /// A SIP call ended.
    pub(crate) async fn leave_sip(&self, id: ParticipantId) -> Result<(), MediaGone> {
        self.send(self.of(id), Query::Sip(SipQuery::Leave(id)))
            .await
    }

    /// A re-INVITE changed a SIP call's media (hold, resume, new address).
    pub(crate) async fn update_sip(
        &self,
        id: ParticipantId,
        audio: Option<pont_sip::sdp::NegotiatedStream>,
        video: Option<pont_sip::sdp::NegotiatedStream>,
        hold: bool,
    ) -> Result<(), MediaGone> {
        let update = SipQuery::Update {
            id,
            audio,
            video,
            hold,
        };
        self.send(self.of(id), Query::Sip(update)).await
    }

    /// A SIP INFO picture_fast_update from a room system.
    pub(crate) async fn keyframe_sip(&self, id: ParticipantId) -> Result<(), MediaGone> {
        self.send(self.of(id), Query::Sip(SipQuery::Keyframe(id)))
            .await
    }

    /// A dial-in call: its start, SIP INFO digits, re-INVITEs, its end.
    /// A new call goes to the least loaded shard; the rest follow the call (which moves to its
    /// room's shard when it joins).
    pub(crate) async fn ivr(&self, q: IvrQuery) -> Result<(), MediaGone> {
        let shard = match &q {
            IvrQuery::Start(start) => self.placement.place_call(start.call),
            IvrQuery::Digit { call, .. } | IvrQuery::Update { call, .. } | IvrQuery::End(call) => {
                // A call the plane does not know (it ended) goes anywhere: it is ignored there.
                self.placement.shard_of_call(*call).unwrap_or(0)
            }
        };
        self.send(shard, Query::Ivr(q)).await
    }

    /// A recording command for a room's recorder sink.
    pub(crate) async fn record(&self, query: RecordQuery) -> Result<(), MediaGone> {
        let shard = match &query {
            // The recorder holds its room on its shard until it stops.
            RecordQuery::Start { room, .. } => {
                let room = *room;
                let shard = self.placement.enter(room);
                let sent = self.send(shard, Query::Record(query)).await;
                if sent.is_err() {
                    self.placement.release(room);
                }
                return sent;
            }
            RecordQuery::Watch(events) => {
                for shard in 0..self.shards.len() {
                    let watch = RecordQuery::Watch(events.clone());
                    self.send(shard, Query::Record(watch)).await?;
                }
                return Ok(());
            }
            // A room on no shard has no recorder: any shard says so.
            RecordQuery::Pause(room) | RecordQuery::Resume(room) | RecordQuery::Stop(room, ..) => {
                self.placement.shard_of_room(*room).unwrap_or(0)
            }
        };
        self.send(shard, Query::Record(query)).await
    }

    /// Locks a room (no new participant of any kind gets in; those in it stay) or unlocks it.
    pub(crate) async fn lock(&self, room: RoomId, locked: bool) -> Result<(), MediaGone> {
        self.placement.set_locked(room, locked);
        info!(%room, locked, "room lock changed");
        // Those in the room see it (a room nobody is in has no meeting to tell).
        let _ = self
            .moderate(room, Actor::Organizer, Action::Lock(locked))
            .await?;
        Ok(())
    }

    /// Starts or stops the room's live stream (`/live/{room}`): the number of viewers, or
    /// `None` when nobody is in the room (a live stream shows a meeting that is on).
    pub(crate) async fn live(&self, room: RoomId, on: bool) -> Result<Option<usize>, MediaGone> {
        let Some(shard) = self.placement.shard_of_room(room) else {
            self.placement.set_live(room, false);
            return Ok(None);
        };
        self.placement.set_live(room, on);
        self.ask(shard, |reply| {
            Query::Live(LiveQuery::Set { room, on, reply })
        })
        .await
        .map(Some)
    }

    /// A WHEP request about `room`'s live stream. A room nobody is in is not live.
    pub(crate) async fn whep(&self, query: LiveQuery) -> Result<(), MediaGone> {
        let room = match &query {
            LiveQuery::Set { room, .. }
            | LiveQuery::Offer { room, .. }
            | LiveQuery::Trickle { room, .. }
            | LiveQuery::End { room, .. }
            | LiveQuery::Unpublish { room, .. } => *room,
            // A publisher holds its room on its shard while it is in.
            LiveQuery::Publish { room, .. } => {
                let room = *room;
                let shard = self.placement.enter(room);
                let sent = self.send(shard, Query::Live(query)).await;
                if sent.is_err() {
                    self.placement.release(room);
                }
                return sent;
            }
        };
        match self.placement.shard_of_room(room) {
            Some(shard) => self.send(shard, Query::Live(query)).await,
            None => {
                match query {
                    LiveQuery::Set { reply, .. } => {
                        let _ = reply.send(0);
                    }
                    LiveQuery::Offer { reply, .. } => {
                        let _ = reply.send(Err(WhepError::NotLive));
                    }
                    LiveQuery::Trickle { reply, .. } => {
                        let _ = reply.send(Err(WhepError::NoSession));
                    }
                    LiveQuery::End { reply, .. } | LiveQuery::Unpublish { reply, .. } => {
                        let _ = reply.send(false);
                    }
                    LiveQuery::Publish { .. } => {}
                }
                Ok(())
            }
        }
    }

    /// How a dial-out is going: told to the room's moderators; dropped when the shard's queue
    /// is full (a status line, not a command).
    pub(crate) fn dialout_status(&self, room: RoomId, status: ToBrowser) {
        if let Some(tx) = self
            .placement
            .shard_of_room(room)
            .and_then(|s| self.shards.get(s))
        {
            let _ = tx.try_send(Query::Dialout(room, status));
        }
    }

    /// Answers once every shard is running its loop.
    pub(crate) async fn ping(&self) -> Result<(), MediaGone> {
        for shard in 0..self.shards.len() {
            self.ask(shard, Query::Ping).await?;
        }
        Ok(())
    }

    /// A browser joins `room` (or its waiting room); its offers and events arrive on
    /// `signal`.
    pub(crate) async fn join(
        &self,
        room: RoomId,
        name: String,
        signal: SignalTx,
        moderator: bool,
        rules: Rules,
    ) -> Result<Result<Joined, JoinRefused>, MediaGone> {
        // The hold the participant keeps on the room; its shard gives it back (on a refusal
        // too).
        let shard = self.placement.enter(room);
        let joined = self
            .ask(shard, |reply| Query::Join {
                room,
                name,
                signal,
                moderator,
                rules,
                reply,
            })
            .await;
        if joined.is_err() {
            self.placement.release(room);
        }
        joined
    }

    pub(crate) async fn answer(
        &self,
        id: ParticipantId,
        sdp: String,
    ) -> Result<Result<(), String>, MediaGone> {
        self.ask(self.of(id), |reply| Query::Answer { id, sdp, reply })
            .await
    }

    pub(crate) async fn mute(
        &self,
        id: ParticipantId,
        audio: bool,
        video: bool,
    ) -> Result<(), MediaGone> {
        self.send(self.of(id), Query::Mute { id, audio, video })
            .await
    }

    /// A chat message; refusals go back on the browser's signalling.
    pub(crate) async fn chat(&self, id: ParticipantId, text: String) -> Result<(), MediaGone> {
        self.send(self.of(id), Query::Chat { id, text }).await
    }

    pub(crate) async fn hand(&self, id: ParticipantId, raised: bool) -> Result<(), MediaGone> {
        self.send(self.of(id), Query::Hand { id, raised }).await
    }

    pub(crate) async fn share(&self, id: ParticipantId, on: bool) -> Result<(), MediaGone> {
        self.send(self.of(id), Query::Share { id, on }).await
    }

    /// A moderator's action on `room`: the participants it touched, or why it was refused. A
    /// room nobody is in has nobody to act on.
    pub(crate) async fn moderate(
        &self,
        room: RoomId,
        actor: Actor,
        action: Action,
    ) -> Result<Result<Vec<ParticipantId>, pont_plane::meeting::Refusal>, MediaGone> {
        let Some(shard) = self.placement.shard_of_room(room) else {
            return Ok(match action.target() {
                Some(_) => Err(pont_plane::meeting::Refusal::NoSuchParticipant),
                None => Ok(Vec::new()),
            });
        };
        self.ask(shard, |reply| {
            Query::Moderate(Moderation {
                room,
                actor,
                action,
                reply,
            })
        })
        .await
    }

    /// A poll command on `room`, or why it was refused.
    pub(crate) async fn poll(
        &self,
        room: RoomId,
        actor: Actor,
        command: PollCommand,
    ) -> Result<Result<u32, PollError>, MediaGone> {
        let Some(shard) = self.placement.shard_of_room(room) else {
            return Ok(Err(("not_in_room", "nobody is in this room".to_owned())));
        };
        self.ask(shard, |reply| {
            Query::Poll(PollQuery {
                room,
                actor,
                command,
                reply,
            })
        })
        .await
    }

    /// The polls of the meeting running in `room` (none when nobody is in it), and their CSV.
    pub(crate) async fn polls(&self, room: RoomId) -> Result<(PollsSnapshot, String), MediaGone> {
        let Some(shard) = self.placement.shard_of_room(room) else {
            return Ok((Vec::new(), pont_plane::poll::Polls::default().to_csv()));
        };
        self.ask(shard, |reply| Query::Polls(room, reply)).await
    }

    /// Fire and forget: the WebSocket went away.
    pub(crate) fn leave(&self, id: ParticipantId) {
        // A full queue or a stopped task: the participant is gone either way.
        if let Some(tx) = self.shards.get(self.of(id)) {
            let _ = tx.try_send(Query::Leave(id));
        }
    }
}

/// Queries waiting for a shard; HTTP handlers wait (back-pressure) beyond this, new SIP calls
/// are refused (503). 4096: half a second of SIP joins and leaves at 4,000 calls/s, so a stall
/// of the machine fills it no faster than admission control's bounds act.
const QUERY_QUEUE: usize = 4096;
/// Datagrams of SIP legs and composer output not yet handled; readers wait beyond this (the
/// kernel buffer then absorbs bursts, and drops beyond it, as UDP does).
const DATAGRAM_QUEUE: usize = 4096;
/// Datagrams read from one media socket before the legs they went to are pumped: enough to
/// amortise the pump, few enough that a flood on one socket cannot hold back timers.
const READ_BATCH: usize = 64;
/// A leg whose ICE and DTLS are not up this long after joining is given up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// One shard's media socket(s), bound but not yet registered with its runtime: one per bound
/// address, all on the same port.
#[derive(Debug)]
pub(crate) struct MediaPorts {
    sockets: Vec<std::net::UdpSocket>,
    /// ICE-lite host candidates: every bound address, plus the public IP.
    pub(crate) candidates: Vec<SocketAddr>,
    public_ip: Option<IpAddr>,
}

/// A shard's media sockets, registered with the shard's runtime.
#[derive(Debug)]
struct MediaSockets {
    sockets: Vec<Arc<UdpSocket>>,
    /// Each socket's bound address (asked once: `local_addr` is a syscall).
    locals: Vec<SocketAddr>,
    candidates: Vec<SocketAddr>,
    public_ip: Option<IpAddr>,
}

impl MediaPorts {
    /// Binds the media ports of `shards` shards: shard `k` on `addr`'s port + `k` (each on an
    /// ephemeral port when `addr`'s is 0). A wildcard address binds the same port on every
    /// local interface address (loopback included): str0m matches a STUN request's
    /// destination against its host candidates, so each datagram must arrive on a socket
    /// whose address is known.
    pub(crate) fn bind_shards(
        addr: SocketAddr,
        public_ip: Option<IpAddr>,
        shards: usize,
    ) -> anyhow::Result<Vec<Self>> {
        (0..shards.max(1))
            .map(|k| {
                let port = match addr.port() {
                    0 => 0,
                    p => u16::try_from(usize::from(p) + k).map_err(|_| {
                        anyhow::anyhow!("media port {p} + {k} shards is beyond 65535")
                    })?,
                };
                Self::bind(SocketAddr::new(addr.ip(), port), public_ip)
            })
            .collect()
    }

    fn bind(addr: SocketAddr, public_ip: Option<IpAddr>) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let ips: Vec<IpAddr> = if addr.ip().is_unspecified() {
            let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
                .context("cannot list the local interface addresses")?
                .into_iter()
                .map(|i| i.ip())
                .filter(|ip| ip.is_ipv4() == addr.is_ipv4())
                .filter(|ip| match ip {
                    // Link-local v6 needs a scope id in every address: leave it out.
                    IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
                    IpAddr::V4(v4) => !v4.is_link_local(),
                })
                .collect();
            ips.sort();
            ips.dedup();
            ips
        } else {
            vec![addr.ip()]
        };
        let mut sockets = Vec::new();
        let mut port = addr.port();
        for ip in ips {
            let want = SocketAddr::new(ip, port);
            let socket = std::net::UdpSocket::bind(want)
                .with_context(|| format!("cannot bind the media port on {want}"))?;
            socket.set_nonblocking(true)?;
            enlarge_buffers(&socket, want);
            port = socket.local_addr()?.port();
            sockets.push(socket);
        }
        anyhow::ensure!(
            !sockets.is_empty(),
            "no local address to bind the media port on"
        );
        let mut candidates: Vec<SocketAddr> =
            sockets.iter().filter_map(|s| s.local_addr().ok()).collect();
        if let Some(ip) = public_ip {
            let public = SocketAddr::new(ip, port);
            if !candidates.contains(&public) {
                candidates.push(public);
            }
        }
        Ok(Self {
            sockets,
            candidates,
            public_ip,
        })
    }

    /// The port every socket of this shard is bound to.
    pub(crate) fn port(&self) -> u16 {
        self.candidates.first().map_or(0, |a| a.port())
    }

    /// Registers the sockets with the current (the shard's) runtime.
    fn register(self) -> anyhow::Result<MediaSockets> {
        let mut sockets = Vec::new();
        let mut locals = Vec::new();
        for s in self.sockets {
            locals.push(s.local_addr()?);
            sockets.push(Arc::new(UdpSocket::from_std(s)?));
        }
        Ok(MediaSockets {
            sockets,
            locals,
            candidates: self.candidates,
            public_ip: self.public_ip,
        })
    }
}

/// Where one shard's thread starts from.
struct ShardStart {
    shard: Shard,
    config: CoreConfig,
    ports: MediaPorts,
    rx: mpsc::Receiver<Query>,
    answers_rx: mpsc::Receiver<DirectoryAnswer>,
    load: Arc<LoadGauges>,
}

/// What every shard shares (read-only, or behind the placement's own lock).
#[derive(Clone)]
struct ShardCommon {
    placement: Arc<Placement>,
    peers: Arc<[mpsc::Sender<Query>]>,
    directory: mpsc::Sender<DirectoryQuery>,
    options: PlaneOptions,
}

/// What the configuration says about the media plane's rooms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlaneOptions {
    pub(crate) max_participants: usize,
    /// `[video] room_systems = "composed"` (else switched forwarding).
    pub(crate) compose_room_systems: bool,
    /// The language of notices spoken into rooms (the recording notice): `[dialin] language`.
    pub(crate) notice_language: pont_ivr::Language,
    /// `[streaming] max_viewers`: viewers of one room's live stream.
    pub(crate) max_viewers: usize,
}

/// Starts one shard per `ports` entry, each on its own thread; they end when `shutdown` turns
/// true or every handle is dropped. The returned task ends when every shard has.
pub(crate) fn spawn(
    config: CoreConfig,
    ports: Vec<MediaPorts>,
    options: PlaneOptions,
    db: &std::path::Path,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(MediaHandle, JoinHandle<()>)> {
    use anyhow::Context as _;
    let n = ports.len().max(1);
    let placement = Arc::new(Placement::new(n));
    let (mut txs, mut rxs, mut answer_txs, mut answer_rxs) = (vec![], vec![], vec![], vec![]);
    for _ in 0..n {
        let (tx, rx) = mpsc::channel(QUERY_QUEUE);
        txs.push(tx);
        rxs.push(rx);
        let (tx, rx) = mpsc::channel(QUERY_QUEUE);
        answer_txs.push(tx);
        answer_rxs.push(rx);
    }
    let peers: Arc<[mpsc::Sender<Query>]> = txs.into();
    let now = std::time::Instant::now();
    let load = Arc::new(LoadGauges::new(now));
    let lags: Arc<[Arc<LoadGauges>]> = (0..n).map(|_| Arc::new(LoadGauges::new(now))).collect();
    let directory = ivr_legs::spawn_directory(
        db,
        Clock::new(Instant::now()),
        answer_txs,
        placement.clone(),
    )?;
    let common = ShardCommon {
        placement: placement.clone(),
        peers: peers.clone(),
        directory,
        options,
    };
    let mut threads = Vec::new();
    for (k, ((ports, rx), answers_rx)) in ports.into_iter().zip(rxs).zip(answer_rxs).enumerate() {
        let start = ShardStart {
            shard: k,
            config: CoreConfig {
                participant_ids: (k as u64 + 1, n as u64),
                seed: config.seed.wrapping_add(k as u64),
                ..config.clone()
            },
            ports,
            rx,
            answers_rx,
            load: lags[k].clone(),
        };
        let (common, shutdown) = (common.clone(), shutdown.clone());
        let thread = std::thread::Builder::new()
            .name(format!("pont-media-{k}"))
            .spawn(move || run_shard(start, common, shutdown))
            .context("cannot start a media shard's thread")?;
        threads.push(thread);
    }
    let all = tokio::task::spawn_blocking(move || {
        for (k, t) in threads.into_iter().enumerate() {
            if t.join().is_err() {
                tracing::error!(shard = k, "media shard panicked");
            }
        }
    });
    let handle = MediaHandle {
        shards: peers,
        placement,
        load,
        lags,
    };
    Ok((handle, all))
}

/// One shard's thread: a single-threaded runtime running its [`Task`]. A panic ends this shard
/// only (its participants' signalling channels close, so browsers are told); the others go on.
fn run_shard(start: ShardStart, common: ShardCommon, shutdown: watch::Receiver<bool>) {
    let span = tracing::info_span!("media", shard = start.shard);
    let _entered = span.enter();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start a media shard's runtime");
            return;
        }
    };
    runtime.block_on(async move {
        let sockets = match start.ports.register() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot register the media sockets");
                return;
            }
        };
        let (sip_tx, sip_rx) = mpsc::channel(DATAGRAM_QUEUE);
        let (compose_tx, compose_rx) = mpsc::channel(DATAGRAM_QUEUE);
        let clock = Clock::new(Instant::now());
        let task = Task {
            shard: start.shard,
            placement: common.placement,
            peers: common.peers,
            core: MediaCore::new(start.config),
            clock,
            sockets,
            max_participants: common.options.max_participants,
            webs: BTreeMap::new(),
            track_owner: HashMap::new(),
            buf: Vec::with_capacity(1500),
            read_buf: vec![0; 2048],
            udp_in: 0,
            udp_unrouted: 0,
            sips: BTreeMap::new(),
            mixers: BTreeMap::new(),
            browser_audio: HashMap::new(),
            recorders: BTreeMap::new(),
            sip_tx,
            last_inactivity_check: Instant::now(),
            rtcp_next_check: Instant::now(),
            ntp_at_zero: ntp_now(),
            sip_rtcp: SipRtcpStats::default(),
            composers: BTreeMap::new(),
            browser_video: HashMap::new(),
            compose_tx,
            compose_room_systems: common.options.compose_room_systems,
            notice_language: common.options.notice_language,
            live: live::LivePlane::new(common.options.max_viewers),
            room_events: None,
            legs: LegTimers::default(),
            routes: HashMap::new(),
            ufrags: HashMap::new(),
            ivrs: BTreeMap::new(),
            ivr_joined: HashMap::new(),
            ivr_next_tick: Instant::now(),
            directory: common.directory,
            ivr_stats: IvrStats::default(),
            load: start.load,
            meetings: HashMap::new(),
            waiting_webs: BTreeMap::new(),
            waiting_calls: BTreeMap::new(),
            screen_tracks: std::collections::HashSet::new(),
            browser_screen: HashMap::new(),
            dismissing: Vec::new(),
        };
        task.run(start.rx, sip_rx, compose_rx, start.answers_rx, shutdown)
            .await;
    });
}

/// Socket buffers for the media port every web participant of a shard shares: the default
/// (~208 KiB) overflows in a burst of a few hundred subscribers' packets. The kernel caps the
/// request at `net.core.rmem_max` / `wmem_max`; whatever it grants is logged.
const MEDIA_SOCKET_BUFFER: usize = 4 << 20;

fn enlarge_buffers(socket: &std::net::UdpSocket, addr: SocketAddr) {
    let s = socket2::SockRef::from(socket);
    let _ = s.set_recv_buffer_size(MEDIA_SOCKET_BUFFER);
    let _ = s.set_send_buffer_size(MEDIA_SOCKET_BUFFER);
    debug!(
        addr = %pont_types::Pii(addr),
        recv = s.recv_buffer_size().unwrap_or(0),
        send = s.send_buffer_size().unwrap_or(0),
        "media socket buffers"
    );
}

/// Resolves to the index of a socket that has datagrams to read.
fn readable(sockets: &[Arc<UdpSocket>]) -> impl Future<Output = usize> + '_ {
    std::future::poll_fn(move |cx| {
        for (i, s) in sockets.iter().enumerate() {
            if s.poll_recv_ready(cx).is_ready() {
                return std::task::Poll::Ready(i);
            }
        }
        std::task::Poll::Pending
    })
}

/// A browser in a room.
struct WebParticipant {
    room: RoomId,
    leg: WebLeg,
    signal: SignalTx,
    joined_at: Instant,
    video_muted: bool,
}

impl WebParticipant {
    /// When the leg next wants to be polled without input: its own timer, or giving up on a
    /// connection that did not come up.
    fn deadline(&self) -> Option<Instant> {
        leg_deadline(&self.leg, self.joined_at)
    }
}

/// When a leg made at `since` next wants to be polled without input: its own timer, or giving
/// up on a connection that did not come up within [`CONNECT_TIMEOUT`].
fn leg_deadline(leg: &WebLeg, since: Instant) -> Option<Instant> {
    let own = leg.poll_timeout().map(Instant::from_std);
    let connect = (!leg.is_connected()).then_some(since + CONNECT_TIMEOUT);
    match (own, connect) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Drop for WebParticipant {
    /// A shard that panics drops its legs while unwinding: each browser is told its media
    /// connection ended (the other shards go on).
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.signal.send(ToBrowser::connection_lost());
        }
    }
}

struct Task {
    shard: Shard,
    placement: Arc<Placement>,
    /// Every shard's queue (this one's too), for a caller moving to its room's shard.
    peers: Arc<[mpsc::Sender<Query>]>,
    core: MediaCore,
    clock: Clock,
    sockets: MediaSockets,
    max_participants: usize,
    webs: BTreeMap<ParticipantId, WebParticipant>,
    /// Who publishes each track: a `StreamAdded` names the track, the browser wants the
    /// participant (SIP legs will register their tracks here too).
    track_owner: HashMap<TrackId, ParticipantId>,
    buf: Vec<u8>,
    /// Where a datagram from the media socket is read to.
    read_buf: Vec<u8>,
    udp_in: u64,
    udp_unrouted: u64,
    sips: BTreeMap<ParticipantId, SipParticipant>,
    /// One audio mixer per room that has SIP legs.
    mixers: BTreeMap<RoomId, pont_audio::Mixer>,
    /// Browsers' microphone tracks: payload type and audio-level extension id.
    browser_audio: HashMap<ParticipantId, (pont_types::Pt, Option<u8>)>,
    /// The recorder sink of each room being recorded (its mixer lives as long).
    recorders: BTreeMap<RoomId, recording::RoomRecorder>,
    sip_tx: mpsc::Sender<SipDatagram>,
    last_inactivity_check: Instant,
    /// When SIP legs' RTCP reports are next looked at (each leg has its own RFC 3550 timer).
    rtcp_next_check: Instant,
    /// NTP time (32.32) at the clock's zero, for our RTCP sender reports.
    ntp_at_zero: u64,
    sip_rtcp: SipRtcpStats,
    /// One composer thread per room whose room systems receive the composed picture.
    composers: BTreeMap<RoomId, compose::ComposerHandle>,
    /// Browsers' H.264 camera tracks: payload type (what the composer can decode).
    browser_video: HashMap<ParticipantId, pont_types::Pt>,
    compose_tx: mpsc::Sender<compose::FromComposer>,
    /// `[video] room_systems = "composed"` (else switched forwarding).
    compose_room_systems: bool,
    /// The language of notices spoken into rooms (the recording notice): `[dialin] language`.
    notice_language: pont_ivr::Language,
    /// The recording service's notices of rooms becoming occupied.
    room_events: Option<mpsc::UnboundedSender<RecorderNotice>>,
    /// Web legs to poll: those handed something since they were last polled, and those whose
    /// own timer is due — never every leg.
    legs: LegTimers<ParticipantId, Instant>,
    /// The leg that last accepted a datagram from each remote address: tried first.
    routes: HashMap<SocketAddr, ParticipantId>,
    /// Each web leg by its ICE ufrag, for the first STUN request from a new address.
    ufrags: HashMap<String, ParticipantId>,
    /// Phone callers in the IVR, by call; once joined they are in `sips`, found through
    /// `ivr_joined`.
    ivrs: BTreeMap<pont_sip::CallHandle, IvrLeg>,
    ivr_joined: HashMap<pont_sip::CallHandle, ParticipantId>,
    /// The IVR's 20 ms grid (one wake-up for every caller in it).
    ivr_next_tick: Instant,
    directory: mpsc::Sender<DirectoryQuery>,
    ivr_stats: IvrStats,
    /// How late this shard runs, for admission control.
    load: Arc<LoadGauges>,
    /// Each live room's moderators, waiting room, hands and chat.
    meetings: HashMap<RoomId, Meeting>,
    /// Browsers in a waiting room: no media leg until a moderator lets them in.
    waiting_webs: BTreeMap<ParticipantId, meeting::WaitingWeb>,
    /// Browsers' shared-screen tracks (forwarded as `screen` m-lines, composed in the main
    /// window while shared).
    screen_tracks: std::collections::HashSet<TrackId>,
    /// Each sharing-capable browser's screen: payload type and SSRC (its camera has another).
    browser_screen: HashMap<ParticipantId, (pont_types::Pt, pont_types::Ssrc)>,
    /// SIP and phone calls in a waiting room.
    waiting_calls: BTreeMap<ParticipantId, meeting::WaitingCall>,
    /// Phone callers removed by a moderator, hearing why before BYE.
    dismissing: Vec<ParticipantId>,
    /// Viewers of the rooms' live streams.
    live: live::LivePlane,
}

impl Task {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Query>,
        mut sip_dgrams: mpsc::Receiver<SipDatagram>,
        mut composed: mpsc::Receiver<compose::FromComposer>,
        mut directory: mpsc::Receiver<DirectoryAnswer>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        info!(candidates = ?self.sockets.candidates.iter().map(|a| pont_types::Pii(*a)).collect::<Vec<_>>(), "media shard running");
        let sockets = self.sockets.sockets.clone();
        loop {
            self.pump(Instant::now());
            let next = self.next_timeout();
            // A timer already due is lateness: the task is behind (admission control).
            if let Some(at) = next {
                let now = Instant::now();
                self.load
                    .observe_media_lag(now.into_std(), now.saturating_duration_since(at));
                // Due timers (the mixer's 20 ms tick among them) go before the next query or
                // datagram: under a steady stream of joins and leaves the biased select below
                // would otherwise starve them, and callers would hear the gaps.
                if at <= now {
                    self.handle_timeout(now);
                    continue;
                }
            }
            // `sleep_until` is built even when the branch is disabled, so give it a real instant.
            let wake = next.unwrap_or_else(|| Instant::now() + FAR_FUTURE);
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                query = rx.recv() => match query {
                    Some(query) => self.answer(query),
                    None => break,
                },
                i = readable(&sockets) => self.drain_socket(i),
                Some(d) = sip_dgrams.recv() => self.handle_sip_datagram(d),
                Some(c) = composed.recv() => self.handle_composer_output(c),
                Some(a) = directory.recv() => self.handle_directory_answer(a),
                () = tokio::time::sleep_until(wake), if next.is_some() => {
                    self.handle_timeout(Instant::now());
                }
            }
        }
        for (_, mut w) in std::mem::take(&mut self.webs) {
            w.leg.close();
        }
        info!("media shard stopped");
    }

    fn next_timeout(&mut self) -> Option<Instant> {
        let core = self.core.poll_timeout().map(|t| self.clock.instant(t));
        core.into_iter()
            .chain(self.legs.earliest())
            .chain(self.sip_next_timeout())
            .chain(self.ivr_next_timeout())
            .chain(self.live_next_timeout())
            .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        let ts = self.clock.timestamp(now);
        if self.core.poll_timeout().is_some_and(|t| t <= ts) {
            self.core.handle_timeout(ts);
        }
        self.sip_handle_timeout(now);
        self.ivr_handle_timeout(now);
        self.live_handle_timeout(now);
        // Only the legs whose own timer is due (they are polled in the next pump).
        for id in self.legs.pop_due(now) {
            let Some(w) = self.webs.get_mut(&id) else {
                continue;
            };
            if w.leg.poll_timeout().is_some_and(|t| t <= now.into_std()) {
                w.leg.handle_timeout(now.into_std());
            }
            if !w.leg.is_connected() && now >= w.joined_at + CONNECT_TIMEOUT {
                debug!(participant = %id, "ICE/DTLS did not come up: giving up");
                w.leg.close();
            }
        }
    }

    /// Reads socket `i` until it would block (at most [`READ_BATCH`] datagrams), handing each
    /// datagram to its leg; the legs are pumped once after the batch.
    fn drain_socket(&mut self, i: usize) {
        let (Some(socket), Some(&local)) =
            (self.sockets.sockets.get(i), self.sockets.locals.get(i))
        else {
            return;
        };
        let socket = socket.clone();
        let mut buf = std::mem::take(&mut self.read_buf);
        let at = std::time::Instant::now();
        for _ in 0..READ_BATCH {
            match socket.try_recv_from(&mut buf) {
                Ok((n, from)) => self.handle_datagram(at, local, from, &buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // ICMP port unreachable and the like surface as errors on some systems: go on.
                Err(e) => trace!(error = %e, "media socket read error"),
            }
        }
        self.read_buf = buf;
    }

    fn handle_datagram(
        &mut self,
        at: std::time::Instant,
        local: SocketAddr,
        from: SocketAddr,
        data: &[u8],
    ) {
        self.udp_in += 1;
        // Behind 1:1 NAT the browser targets the public address, which str0m knows as a
        // candidate; the packet arrives on the private one. A datagram from a public source
        // is taken as sent to the public address.
        let destination = match self.sockets.public_ip {
            Some(ip) if is_public(from.ip()) && !is_public(local.ip()) => {
                SocketAddr::new(ip, local.port())
            }
            _ => local,
        };
        let webs = &mut self.webs;
        let leg = route_datagram(&self.routes, &self.ufrags, from, data, |id| {
            webs.get_mut(&id)
                .is_some_and(|w| w.leg.accepts(at, from, destination, data))
        });
        match leg {
            Some((id, cached)) => {
                if let Some(w) = self.webs.get_mut(&id) {
                    w.leg.handle_receive(at, from, destination, data);
                }
                self.legs.mark(id);
                if !cached {
                    remember_route(&mut self.routes, from, id);
                }
            }
            None if self.live_datagram(at, from, destination, data) => {}
            None => {
                // Garbage, a stale peer, or a STUN request with an unknown ufrag: dropped.
                self.udp_unrouted += 1;
                trace!(from = %pont_types::Pii(from), len = data.len(), "datagram for no leg");
            }
        }
    }

    fn answer(&mut self, query: Query) {
        // A dropped receiver means the requester went away; nothing to do.
        match query {
            Query::Room(room, reply) => {
                let _span = debug_span!("room", %room).entered();
                let snapshot = RoomSnapshot {
                    participants: self.roster(room),
                    active_speaker: self.core.active_speaker(room),
                    locked: self.placement.is_locked(room),
                    live: self.placement.is_live(room),
                    viewers: self.live.viewers(room),
                };
                let _ = reply.send(snapshot);
            }
            Query::Stats(reply) => {
                let _ = reply.send(StatsSnapshot {
                    stats: self.core.stats().clone(),
                    rooms: self.core.room_count(),
                    participants: self.core.participant_count(),
                    web_legs: self.webs.len(),
                    udp_in_datagrams: self.udp_in,
                    udp_unrouted_datagrams: self.udp_unrouted,
                    ivr: self.ivr_stats(),
                    sip_refused: self.load.refused(),
                    media_lag: self.load.media_lag(std::time::Instant::now()),
                    sip_rtcp: self.sip_rtcp_stats(),
                    shards: vec![ShardFigures {
                        rooms: self.core.room_count(),
                        participants: self.core.participant_count(),
                        forwarded_packets: self.core.stats().forwarded_packets,
                        udp_in_datagrams: self.udp_in,
                        udp_unrouted_datagrams: self.udp_unrouted,
                    }],
                    live: self.live_stats(),
                });
            }
            Query::Ping(reply) => {
                let _ = reply.send(());
            }
            Query::Join {
                room,
                name,
                signal,
                moderator,
                rules,
                reply,
            } => {
                let _ = reply.send(self.join(room, name, signal, moderator, rules));
            }
            Query::Chat { id, text } => self.chat(id, &text),
            Query::Hand { id, raised } => self.hand(id, raised),
            Query::Share { id, on } => self.share(id, on),
            Query::Moderate(m) => {
                let done = self.moderate(m.room, m.actor, m.action);
                let _ = m.reply.send(done);
            }
            Query::Dialout(room, status) => self.tell_moderators(room, &status),
            Query::Poll(q) => {
                let done = self.poll_command(q.room, q.actor, q.command);
                let _ = q.reply.send(done);
            }
            Query::Polls(room, reply) => {
                let _ = reply.send(self.polls_snapshot(room));
            }
            Query::Answer { id, sdp, reply } => {
                let result = match self.webs.get_mut(&id) {
                    Some(w) => w.leg.accept_answer(&sdp).map_err(|e| e.to_string()),
                    None => Err("not in a room".to_owned()),
                };
                self.legs.mark(id);
                let _ = reply.send(result);
            }
            Query::Mute { id, audio, video } => {
                let Some(w) = self.webs.get_mut(&id) else {
                    return;
                };
                w.video_muted = video;
                let room = w.room;
                // A muted microphone is neither forwarded nor mixed and cannot take the floor;
                // unmuting itself (after a moderator's mute too) puts it back in both.
                let _ = self.core.set_muted(id, audio);
                if let Some(m) = self.mixers.get_mut(&room) {
                    let _ = m.set_muted(id, audio);
                }
                self.broadcast(room, &ToBrowser::muted(id, audio, video));
            }
            Query::Leave(id) => {
                if !self.leave_waiting(id) {
                    self.remove(id);
                }
            }
            Query::AttachIvr(attach, waited) => self.attach_ivr(*attach, waited),
            Query::Sip(q) => self.answer_sip(q),
            Query::Ivr(q) => self.answer_ivr(q),
            Query::Record(q) => self.answer_record(q),
            Query::Live(q) => self.answer_live(q),
        }
    }

    /// Why nobody more may join `room` now (locked by its organizer, or full): the one check
    /// behind web, SIP and dial-in joins.
    fn room_closed(&self, room: RoomId) -> Option<JoinRefused> {
        if self.placement.is_locked(room) {
            Some(JoinRefused::Locked)
        } else if self.core.room_len(room) >= self.max_participants {
            Some(JoinRefused::RoomFull {
                max: self.max_participants,
            })
        } else {
            None
        }
    }

    fn join(
        &mut self,
        room: RoomId,
        name: String,
        signal: SignalTx,
        moderator: bool,
        rules: Rules,
    ) -> Result<Joined, JoinRefused> {
        if let Some(refused) = self.room_closed(room) {
            // The hold the handle took for this join.
            self.placement.release(room);
            return Err(refused);
        }
        let id = self.core.reserve_id();
        let ts = self.clock.now();
        let meeting = self
            .meetings
            .entry(room)
            .or_insert_with(|| Meeting::new(rules));
        // The latest word on the meeting's options (the organizer may have changed them).
        meeting.set_rules(rules);
        match meeting.arrive(ts, id, pont_media::ParticipantKind::Web, &name, moderator) {
            pont_plane::meeting::Arrival::In => self.enter_web(room, id, name, signal),
            pont_plane::meeting::Arrival::Waiting => self.wait_web(room, id, name, signal),
        }
        Ok(Joined { id })
    }

    /// A browser enters the room (straight away, or let in from the waiting room).
    fn enter_web(&mut self, room: RoomId, id: ParticipantId, name: String, signal: SignalTx) {
        self.enter_web_leg(room, id, name, signal, None);
    }

    /// A web participant enters the room: a browser (its leg made here; the bridge offers), or
    /// a WHIP publisher whose leg was made from its offer (it publishes and receives nothing).
    fn enter_web_leg(
        &mut self,
        room: RoomId,
        id: ParticipantId,
        name: String,
        signal: SignalTx,
        publisher: Option<WebLeg>,
    ) {
        let name_for_composer = name.clone();
        let now = Instant::now();
        let ts = self.clock.timestamp(now);
        let receives = publisher.is_none();
        let config = ParticipantConfig {
            // str0m NACKs and answers NACKs on each hop itself (see pont-webrtc).
            nack: false,
            subscribe_all: receives,
            ..ParticipantConfig::web(name)
        };
        self.core.add_participant_as(ts, id, room, config);
        self.room_joined(room);
        self.compose_join(room, id, &name_for_composer);
        let _span = debug_span!("participant", %id, %room).entered();
        let leg =
            publisher.unwrap_or_else(|| WebLeg::new(now.into_std(), &self.sockets.candidates));
        let participant = self.participant_view(room, id);
        self.broadcast(room, &ToBrowser::ParticipantJoined { participant });
        let participants = self
            .core
            .room(room)
            .unwrap_or_default()
            .iter()
            .map(|p| self.view(p))
            .collect();
        let speaker = self.core.active_speaker(room);
        let _ = signal.send(ToBrowser::joined(id, room, participants, speaker));
        self.tell_recording_state(room, &signal);
        self.tell_meeting_state(room, id, &signal);
        self.webs.insert(
            id,
            WebParticipant {
                room,
                leg,
                signal,
                joined_at: now,
                video_muted: false,
            },
        );
        self.legs.mark(id);
        if let Some(w) = self.webs.get(&id) {
            self.ufrags.insert(w.leg.ice_ufrag().to_owned(), id);
        }
        self.refresh_publishing(room);
        info!("web participant joined");
    }

    fn view(&self, p: &ParticipantInfo) -> to_browser::Participant {
        let video_muted = self.webs.get(&p.id).is_some_and(|w| w.video_muted);
        let member = self.meetings.get(&p.room).and_then(|m| m.member(p.id));
        to_browser::Participant::new(p, video_muted, member)
    }

    fn participant_view(&self, room: RoomId, id: ParticipantId) -> Option<to_browser::Participant> {
        self.core
            .participant(id)
            .filter(|p| p.room == room)
            .map(|p| self.view(p))
    }

    fn broadcast(&self, room: RoomId, msg: &ToBrowser) {
        for w in self.webs.values().filter(|w| w.room == room) {
            let _ = w.signal.send(msg.clone());
        }
    }

    fn remove(&mut self, id: ParticipantId) {
        let Some(mut w) = self.webs.remove(&id) else {
            return;
        };
        self.stop_share_of(w.room, id);
        self.legs.remove(id);
        self.routes.retain(|_, leg| *leg != id);
        self.ufrags.remove(w.leg.ice_ufrag());
        self.live.publishers.retain(|_, p| *p != id);
        self.close_leg(&mut w.leg);
        let now = self.clock.now();
        self.core.remove_participant(now, id);
        self.placement.release(w.room);
        self.track_owner.retain(|tid, owner| {
            let keep = *owner != id;
            if !keep {
                self.screen_tracks.remove(tid);
            }
            keep
        });
        self.browser_screen.remove(&id);
        self.mixer_forget(id, w.room);
        self.compose_leave(w.room, id);
        self.refresh_publishing(w.room);
        info!(participant = %id, room = %w.room, "web participant left");
        self.broadcast(w.room, &ToBrowser::left(id));
        self.meeting_left(w.room, id);
    }

    /// Closes a leg and sends its last datagrams (DTLS close_notify).
    fn close_leg(&self, leg: &mut WebLeg) {
        leg.close();
        while let Some(ev) = leg.poll_event() {
            if let LegEvent::Transmit {
                source,
                destination,
                contents,
            } = ev
            {
                self.send_udp(source, destination, &contents);
            }
        }
    }

    fn send_udp(&self, source: SocketAddr, destination: SocketAddr, contents: &[u8]) {
        let at = self
            .sockets
            .locals
            .iter()
            .position(|a| *a == source)
            .unwrap_or(0);
        if let Some(s) = self.sockets.sockets.get(at)
            && let Err(e) = s.try_send_to(contents, destination)
        {
            // A full send buffer drops the datagram, as the network would.
            trace!(error = %e, "media send failed");
        }
    }

    /// Moves outputs between legs, core, sockets and signalling until nothing moves: after
    /// every input, as the sans-IO contract asks.
    fn pump(&mut self, now: Instant) {
        let ts = self.clock.timestamp(now);
        loop {
            let mut moved = false;
            let mut closed = Vec::new();
            for id in self.legs.take_dirty() {
                while let Some(ev) = self.webs.get_mut(&id).and_then(|w| w.leg.poll_event()) {
                    moved = true;
                    match ev {
                        LegEvent::Transmit {
                            source,
                            destination,
                            contents,
                        } => self.send_udp(source, destination, &contents),
                        LegEvent::Publish(track) => match self.core.publish(ts, id, track) {
                            Ok(tid) => {
                                debug!(participant = %id, codec = %track.codec, "browser publishes");
                                self.track_owner.insert(tid, id);
                                if track.codec == pont_media::Codec::Opus {
                                    self.browser_audio_published(
                                        id,
                                        track.pt,
                                        track.audio_level_ext,
                                    );
                                }
                                if track.codec == pont_media::Codec::H264 {
                                    self.browser_video.insert(id, track.pt);
                                }
                            }
                            Err(e) => warn!(participant = %id, error = %e, "publish refused"),
                        },
                        LegEvent::PublishScreen(track) => match self.core.publish(ts, id, track) {
                            Ok(tid) => {
                                debug!(participant = %id, "browser publishes its screen");
                                self.track_owner.insert(tid, id);
                                self.screen_tracks.insert(tid);
                                if let Some(ssrc) = track.ssrc {
                                    self.browser_screen.insert(id, (track.pt, ssrc));
                                }
                                if let Some(room) = self.webs.get(&id).map(|w| w.room) {
                                    self.pin_screen(room, id);
                                }
                            }
                            Err(e) => warn!(participant = %id, error = %e, "screen refused"),
                        },
                        LegEvent::Rtp(p) => {
                            self.core.handle_rtp(ts, id, &p);
                            self.browser_rtp(ts, id, &p);
                            self.compose_browser_rtp(ts, id, &p);
                        }
                        LegEvent::Rtcp(p) => self.core.handle_rtcp(ts, id, &p),
                        LegEvent::Connected => info!(participant = %id, "ICE and DTLS up"),
                        LegEvent::Closed => closed.push(id),
                        _ => {}
                    }
                }
                if let Some(w) = self.webs.get_mut(&id)
                    && let Some(offer) = w.leg.poll_offer()
                {
                    moved = true;
                    let _ = w.signal.send(ToBrowser::offer(&offer));
                }
                // Polled: when it next wants to be woken.
                if let Some(w) = self.webs.get(&id) {
                    self.legs.set(id, w.deadline());
                }
            }
            while let Some(t) = self.core.poll_transmit(&mut self.buf) {
                moved = true;
                if let Some(w) = self.webs.get_mut(&t.to) {
                    w.leg
                        .send_core_packet(now.into_std(), t.kind == PacketKind::Rtcp, &self.buf);
                    self.legs.mark(t.to);
                } else {
                    self.send_to_sip(t.to, t.kind, &self.buf);
                }
            }
            while let Some(event) = self.core.poll_event() {
                moved = true;
                self.handle_core_event(event);
            }
            moved |= self.pump_mixers(ts);
            moved |= self.pump_full_mix(ts);
            moved |= self.pump_viewers();
            for id in closed {
                if let Some(w) = self.webs.get(&id) {
                    let _ = w.signal.send(ToBrowser::connection_lost());
                }
                self.remove(id);
            }
            if !moved && !self.legs.has_dirty() {
                break;
            }
        }
    }

    fn handle_core_event(&mut self, event: Event) {
        match event {
            Event::StreamAdded { to, stream } => {
                let publisher = match stream.source {
                    Source::Track(tid) => self.track_owner.get(&tid).copied(),
                    _ => None,
                };
                let screen = matches!(stream.source, Source::Track(tid) if self.screen_tracks.contains(&tid));
                if let (Some(w), Some(publisher)) = (self.webs.get_mut(&to), publisher) {
                    debug!(participant = %to, %publisher, ssrc = %stream.ssrc, kind = ?stream.kind, screen, "stream added");
                    w.leg.add_stream(stream, publisher, screen);
                    self.legs.mark(to);
                }
            }
            Event::StreamRemoved { to, ssrc } => {
                if let Some(w) = self.webs.get_mut(&to) {
                    w.leg.remove_stream(ssrc);
                    self.legs.mark(to);
                }
            }
            Event::SpeakerChanged { room, speaker } => {
                // A shared screen keeps the composed main window while it lasts.
                if self.meetings.get(&room).and_then(Meeting::sharer).is_none() {
                    self.compose_speaker(room, speaker);
                }
                let _span = debug_span!("room", %room).entered();
                debug!(speaker = ?speaker.map(|p| p.to_string()), "active speaker changed");
                self.broadcast(room, &ToBrowser::speaker(speaker));
            }
            Event::RoomEmpty { room } => {
                let _span = debug_span!("room", %room).entered();
                debug!("room empty");
                self.live_room_empty(room);
            }
            other => debug!(event = ?other, "media event"),
        }
    }
}

/// The leg a datagram is for, and whether its source was known: the leg that last took a
/// datagram from that source, if it `accepts` this one; else, from a source not seen yet,
/// the leg a STUN request names by our ufrag in its USERNAME. Anything else from a new source
/// is garbage or a stale peer, dropped without asking every leg (a flood of garbage costs a
/// map lookup per datagram).
fn route_datagram<K: Copy + Eq + std::hash::Hash>(
    routes: &HashMap<SocketAddr, K>,
    ufrags: &HashMap<String, K>,
    from: SocketAddr,
    data: &[u8],
    mut accepts: impl FnMut(K) -> bool,
) -> Option<(K, bool)> {
    if let Some(&id) = routes.get(&from)
        && accepts(id)
    {
        return Some((id, true));
    }
    let ufrag = pont_webrtc::stun_receiver_ufrag(data)?;
    let id = *ufrags.get(ufrag)?;
    accepts(id).then_some((id, false))
}

/// Remembers which leg took a source's datagrams; a full cache starts over, so a flood of
/// spoofed sources cannot grow it.
fn remember_route<K>(routes: &mut HashMap<SocketAddr, K>, from: SocketAddr, id: K) {
    if routes.len() >= MAX_ROUTES {
        routes.clear();
    }
    routes.insert(from, id);
}

/// The NTP time now (RFC 3550 §4: seconds since 1900 in 32.32 fixed point).
fn ntp_now() -> u64 {
    /// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (Unix).
    const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since_unix.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// A globally routable address (not private, loopback, link-local or CGNAT).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                // RFC 6598 shared address space (carrier-grade NAT).
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_unspecified()
                // fc00::/7 unique local, fe80::/10 link-local.
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_maps_instants_both_ways() {
        let base = Instant::now();
        let clock = Clock::new(base);
        let later = base + Duration::from_millis(1500);
        let ts = clock.timestamp(later);
        assert_eq!(ts, Timestamp::from_millis(1500));
        assert_eq!(clock.instant(ts), later);
    }

    #[test]
    fn clock_never_goes_backwards_or_overflows() {
        let base = Instant::now() + Duration::from_secs(10);
        let clock = Clock::new(base);
        assert_eq!(clock.timestamp(Instant::now()), Timestamp::ZERO);
        // Timestamp::MAX cannot be an Instant: it becomes "far in the future".
        assert!(clock.instant(Timestamp::MAX) > Instant::now() + Duration::from_secs(3600));
    }
}
