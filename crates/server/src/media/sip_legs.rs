//! SIP participants in the media task: their RTP sockets, strict source checks, the room's
//! audio mixer (mix-minus to each SIP leg, each SIP leg's voice re-encoded as Opus for the
//! browsers), their video into the SFU and the room's main window back to them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pont_audio::{AudioCodec, InboundPacket, LegConfig, Mixer, MixerConfig};
use pont_media::report::RtcpReporter;
use pont_media::rtp::{self, RtpPacket};
use pont_media::{
    Codec as MediaCodec, PacketKind, ParticipantConfig, ParticipantKind, ReceiveCodec, TrackConfig,
};
use pont_sip::CallHandle;
use pont_sip::sdp::{Codec as SdpCodec, Direction, NegotiatedStream};
use pont_types::{ParticipantId, Pt, RoomId, Ssrc, Timestamp};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, trace, warn};

use super::Task;
use super::ivr_legs::InCallIvr;
use crate::rtp_leg::SourceFilter;
use crate::sip::SipCommand;
use pont_plane::to_browser::ToBrowser;

/// A call with no RTP or RTCP for this long is dead: hang up (a held call is exempt).
pub(crate) const RTP_INACTIVITY: Duration = Duration::from_secs(30);
/// How long a new call may take to show which address its media really comes from (NAT).
const SOURCE_LEARNING: Duration = Duration::from_secs(3);
/// How often the inactivity of SIP legs is checked.
const INACTIVITY_CHECK: Duration = Duration::from_secs(1);
/// How often the legs' RTCP timers are looked at: each leg draws its own RFC 3550 interval
/// (seconds); checking all legs every 100 ms costs one pass, not one wake-up per leg.
const RTCP_CHECK: Duration = Duration::from_millis(100);
/// Our RTCP CNAME on SIP legs (RFC 3550 §6.5.1: one per endpoint, we are one).
const RTCP_CNAME: &str = "pont";
/// Payload type and RFC 8285 extension id of a SIP leg's voice as browsers receive it.
const PUBLISHED_OPUS_PT: Pt = Pt(111);
const PUBLISHED_LEVEL_EXT: u8 = 1;

/// One negotiated stream of a call and its port pair.
#[derive(Debug)]
pub(crate) struct SipMedia {
    pub(crate) stream: NegotiatedStream,
    pub(crate) rtp: UdpSocket,
    pub(crate) rtcp: UdpSocket,
}

/// A SIP call to put into a room.
#[derive(Debug)]
pub(crate) struct JoinSip {
    pub(crate) room: RoomId,
    pub(crate) call: CallHandle,
    pub(crate) display_name: String,
    pub(crate) audio: SipMedia,
    pub(crate) video: Option<SipMedia>,
    /// Where to ask the SIP task to hang up a dead call.
    pub(crate) hangup: mpsc::Sender<SipCommand>,
    /// Where the outcome of the join goes (the SIP task does not wait for it).
    pub(crate) reply: mpsc::UnboundedSender<JoinReply>,
    /// The room has a waiting room (the store's word): the call waits to be let in.
    pub(crate) waiting_room: bool,
}

impl SipMedia {
    /// The stream's sockets registered with the current runtime (the shard's), instead of the
    /// SIP task's that bound them: each datagram then wakes the shard's own thread only, not
    /// the SIP runtime's I/O driver first.
    pub(super) fn rehome(self) -> std::io::Result<Self> {
        Ok(Self {
            stream: self.stream,
            rtp: UdpSocket::from_std(self.rtp.into_std()?)?,
            rtcp: UdpSocket::from_std(self.rtcp.into_std()?)?,
        })
    }
}

/// The outcome of a [`JoinSip`].
#[derive(Debug)]
pub(crate) struct JoinReply {
    pub(crate) call: CallHandle,
    pub(crate) result: Result<ParticipantId, SipJoinRefused>,
}

/// The audio stream of a leg being attached to a room.
#[derive(Debug)]
pub(super) struct AttachAudio {
    pub(super) rtp: Arc<UdpSocket>,
    pub(super) rtcp: Arc<UdpSocket>,
    pub(super) filter: SourceFilter,
    pub(super) stream: NegotiatedStream,
}

/// The video stream of a room system being attached to a room (its sockets shared: a waiting
/// call's reader reads them too until it is let in).
#[derive(Debug)]
pub(super) struct AttachVideo {
    pub(super) rtp: Arc<UdpSocket>,
    pub(super) rtcp: Arc<UdpSocket>,
    pub(super) stream: NegotiatedStream,
}

/// A SIP or phone leg to attach to a room (see [`Task::attach_sip`]).
#[derive(Debug)]
pub(super) struct Attach {
    pub(super) room: RoomId,
    pub(super) call: CallHandle,
    pub(super) kind: ParticipantKind,
    pub(super) display_name: String,
    pub(super) audio: AttachAudio,
    pub(super) video: Option<AttachVideo>,
    pub(super) hangup: mpsc::Sender<SipCommand>,
    /// Our SSRC, first RTP timestamp and sequence number towards the leg: a phone caller
    /// coming from the IVR keeps the stream the prompts were sent on.
    pub(super) mix_ssrc: u32,
    pub(super) initial_timestamp: u32,
    pub(super) initial_seq: u16,
    pub(super) ivr: Option<Box<InCallIvr>>,
    /// The store says the room has a waiting room: the call waits to be let in.
    pub(super) waiting_room: bool,
}

/// Why a SIP join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SipJoinRefused {
    RoomFull,
    /// The organizer locked the room.
    Locked,
    /// No audio codec the mixer can use.
    NoCodec,
    /// The call's sockets could not be handed to the room's shard.
    Unavailable,
}

/// SIP requests to the media task.
#[derive(Debug)]
pub(crate) enum SipQuery {
    Join(Box<JoinSip>),
    Leave(ParticipantId),
    Update {
        id: ParticipantId,
        audio: Option<NegotiatedStream>,
        video: Option<NegotiatedStream>,
        hold: bool,
    },
    Keyframe(ParticipantId),
}

/// Whose socket a datagram was read on: a participant's, or a phone caller's still in the IVR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LegKey {
    Participant(ParticipantId),
    Ivr(CallHandle),
}

/// A datagram read from one of a SIP leg's sockets.
#[derive(Debug)]
pub(crate) struct SipDatagram {
    pub(crate) key: LegKey,
    pub(crate) video: bool,
    pub(crate) rtcp_port: bool,
    pub(crate) at: Instant,
    pub(crate) from: SocketAddr,
    pub(crate) data: Vec<u8>,
}

/// One stream (audio or video) of a SIP leg.
#[derive(Debug)]
pub(super) struct LegStream {
    pub(super) rtp: Arc<UdpSocket>,
    pub(super) rtcp: Arc<UdpSocket>,
    pub(super) filter: SourceFilter,
    pub(super) stream: NegotiatedStream,
    /// Reads both sockets of the pair (one task: half the spawns and aborts per call).
    reader: JoinHandle<()>,
}

impl LegStream {
    /// A stream whose sockets are read into `tx`, keyed by `key`.
    pub(super) fn start(
        rtp: Arc<UdpSocket>,
        rtcp: Arc<UdpSocket>,
        filter: SourceFilter,
        stream: NegotiatedStream,
        key: LegKey,
        video: bool,
        tx: &mpsc::Sender<SipDatagram>,
    ) -> Self {
        Self {
            reader: spawn_reader(rtp.clone(), rtcp.clone(), key, video, tx.clone()),
            rtp,
            rtcp,
            filter,
            stream,
        }
    }

    pub(super) fn remote_rtp(&self) -> Option<SocketAddr> {
        self.filter.remote()
    }

    fn remote_rtcp(&self) -> Option<SocketAddr> {
        let rtp = self.remote_rtp()?;
        if self.stream.rtcp_mux {
            return Some(rtp);
        }
        Some(SocketAddr::new(
            rtp.ip(),
            self.stream
                .remote_rtcp_port
                .unwrap_or(rtp.port().wrapping_add(1)),
        ))
    }

    pub(super) fn sends(&self) -> bool {
        matches!(
            self.stream.direction,
            Direction::SendRecv | Direction::SendOnly
        )
    }
}

impl Drop for LegStream {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A SIP participant (a room system, a SIP user, or a phone caller who came through the IVR).
#[derive(Debug)]
pub(crate) struct SipParticipant {
    pub(super) room: RoomId,
    pub(super) call: CallHandle,
    audio: LegStream,
    audio_pt: Pt,
    dtmf_pt: Option<u8>,
    /// A phone caller's IVR, kept for `*6` (and its confirmation tone).
    pub(super) ivr: Option<Box<InCallIvr>>,
    pub(super) muted: bool,
    pub(super) video: Option<LegStream>,
    /// Our SSRC towards the leg (the mix).
    mix_ssrc: u32,
    /// The SSRC, sequence number of the leg's voice as published to browsers (Opus).
    published_ssrc: Ssrc,
    published_seq: u16,
    hold: bool,
    pub(super) hangup: mpsc::Sender<SipCommand>,
    pub(super) hangup_sent: bool,
    pub(crate) dropped_foreign: u64,
    /// It receives the room's composed picture (else the switched main window).
    composed: bool,
    /// Our SSRC for the composed video we send it.
    composed_ssrc: u32,
    /// RTCP of the audio: our SR/RR on RFC 3550 intervals, the caller's reports.
    rtcp: RtcpReporter,
}

impl Drop for SipParticipant {
    /// A shard that panics drops its legs while unwinding: each call is hung up (BYE), the
    /// other shards go on.
    fn drop(&mut self) {
        if std::thread::panicking() && !self.hangup_sent {
            let _ = self.hangup.try_send(SipCommand::Hangup(self.call));
        }
    }
}

/// RTCP of SIP legs' audio, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SipRtcpStats {
    pub(crate) sent: u64,
    pub(crate) received: u64,
    /// Over the legs in calls now: the worst loss and jitter each last reported.
    pub(crate) worst_fraction_lost: f64,
    pub(crate) worst_jitter: Duration,
}

impl SipRtcpStats {
    /// Adds another shard's figures to these (the worst of the worst figures).
    pub(crate) fn absorb(&mut self, other: &Self) {
        self.sent += other.sent;
        self.received += other.received;
        self.worst_fraction_lost = self.worst_fraction_lost.max(other.worst_fraction_lost);
        self.worst_jitter = self.worst_jitter.max(other.worst_jitter);
    }
}

pub(super) fn audio_codec(c: SdpCodec) -> Option<AudioCodec> {
    Some(match c {
        SdpCodec::Pcmu => AudioCodec::Pcmu,
        SdpCodec::Pcma => AudioCodec::Pcma,
        SdpCodec::G722 => AudioCodec::G722,
        SdpCodec::Opus => AudioCodec::Opus,
        _ => return None,
    })
}

pub(super) fn remote_of(s: &NegotiatedStream) -> Option<SocketAddr> {
    let ip = s.remote_addr.filter(|ip| !ip.is_unspecified())?;
    (s.remote_port != 0).then(|| SocketAddr::new(ip, s.remote_port))
}

pub(super) fn spawn_reader(
    rtp: Arc<UdpSocket>,
    rtcp: Arc<UdpSocket>,
    key: LegKey,
    video: bool,
    tx: mpsc::Sender<SipDatagram>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut rtp_buf = vec![0u8; 2048];
        let mut rtcp_buf = vec![0u8; 1500];
        loop {
            let (read, rtcp_port) = tokio::select! {
                r = rtp.recv_from(&mut rtp_buf) => (r.map(|(n, from)| (rtp_buf[..n].to_vec(), from)), false),
                r = rtcp.recv_from(&mut rtcp_buf) => (r.map(|(n, from)| (rtcp_buf[..n].to_vec(), from)), true),
            };
            match read {
                Ok((data, from)) => {
                    let d = SipDatagram {
                        key,
                        video,
                        rtcp_port,
                        at: Instant::now(),
                        from,
                        data,
                    };
                    if tx.send(d).await.is_err() {
                        return;
                    }
                }
                Err(e) => trace!(error = %e, "RTP socket read error"),
            }
        }
    })
}

impl Task {
    pub(super) fn answer_sip(&mut self, query: SipQuery) {
        match query {
            SipQuery::Join(join) => {
                let (call, room, reply) = (join.call, join.room, join.reply.clone());
                let result = self.join_sip(*join);
                if result.is_err() {
                    // The hold the handle took for this join.
                    self.placement.release(room);
                }
                // A dropped receiver: the SIP task is gone, and the call with it.
                let _ = reply.send(JoinReply { call, result });
            }
            SipQuery::Leave(id) => self.leave_sip(id),
            SipQuery::Update {
                id,
                audio,
                video,
                hold,
            } => self.update_sip(id, audio, video, hold),
            SipQuery::Keyframe(id) => self.keyframe_sip(id),
        }
    }

    fn join_sip(&mut self, join: JoinSip) -> Result<ParticipantId, SipJoinRefused> {
        match self.room_closed(join.room) {
            Some(super::JoinRefused::Locked) => return Err(SipJoinRefused::Locked),
            Some(super::JoinRefused::RoomFull { .. }) => return Err(SipJoinRefused::RoomFull),
            None => {}
        }
        if audio_codec(join.audio.stream.codec).is_none() {
            return Err(SipJoinRefused::NoCodec);
        }
        let mut join = join;
        let rehomed = join.audio.rehome().and_then(|audio| {
            let video = join.video.take().map(SipMedia::rehome).transpose()?;
            Ok((audio, video))
        });
        let (audio, video) = match rehomed {
            Ok(media) => media,
            Err(e) => {
                warn!(error = %e, "cannot register the call's sockets with its shard");
                return Err(SipJoinRefused::Unavailable);
            }
        };
        join.video = video;
        let ts = self.clock.now();
        let r = rand::random::<u64>();
        let SipMedia { stream, rtp, rtcp } = audio;
        let audio = AttachAudio {
            rtp: Arc::new(rtp),
            rtcp: Arc::new(rtcp),
            filter: SourceFilter::new(ts, remote_of(&stream), SOURCE_LEARNING),
            stream,
        };
        Ok(self.attach_sip(
            ts,
            Attach {
                room: join.room,
                call: join.call,
                kind: ParticipantKind::Sip,
                display_name: join.display_name,
                audio,
                video: join.video.map(|m| AttachVideo {
                    rtp: Arc::new(m.rtp),
                    rtcp: Arc::new(m.rtcp),
                    stream: m.stream,
                }),
                hangup: join.hangup,
                mix_ssrc: (r >> 16) as u32 | 1,
                initial_timestamp: r as u32,
                initial_seq: (r >> 32) as u16,
                ivr: None,
                waiting_room: join.waiting_room,
            },
        ))
    }

    /// Puts a SIP or phone leg into its room: a participant of the core, its voice published
    /// as Opus for browsers, a leg of the room's mixer, its video (if any) into the SFU.
    pub(super) fn attach_sip(&mut self, ts: Timestamp, a: Attach) -> ParticipantId {
        if self.call_waits(&a) {
            return self.park_call(ts, a);
        }
        let id = self.core.reserve_id();
        self.attach_sip_as(ts, id, a)
    }

    /// [`Task::attach_sip`] under an id already reserved (a call let in from the waiting
    /// room keeps its id).
    pub(super) fn attach_sip_as(
        &mut self,
        ts: Timestamp,
        id: ParticipantId,
        a: Attach,
    ) -> ParticipantId {
        let codec = audio_codec(a.audio.stream.codec).unwrap_or(AudioCodec::Pcmu);
        let video_pt = a.video.as_ref().map(|v| Pt(v.stream.pt));
        let composed = video_pt.is_some() && self.compose_room_systems;
        let config = ParticipantConfig {
            kind: a.kind,
            display_name: a.display_name.clone(),
            receive: video_pt
                .map(|pt| ReceiveCodec {
                    codec: MediaCodec::H264,
                    pt,
                    rtx_pt: None,
                })
                .into_iter()
                .collect(),
            subscribe_all: false,
            main_window: video_pt.is_some() && !composed,
            fir: false,
            nack: false,
        };
        self.core.add_participant_as(ts, id, a.room, config);
        self.room_joined(a.room);
        // Its voice, re-encoded as Opus by the mixer, is a track like any browser's.
        let published_ssrc = Ssrc(rand::random::<u32>() | 1);
        if let Ok(tid) = self.core.publish(
            ts,
            id,
            TrackConfig {
                codec: MediaCodec::Opus,
                pt: PUBLISHED_OPUS_PT,
                ssrc: Some(published_ssrc),
                rtx: None,
                audio_level_ext: Some(PUBLISHED_LEVEL_EXT),
            },
        ) {
            self.track_owner.insert(tid, id);
        }
        if let Some(pt) = video_pt {
            // Room systems do not announce SSRCs: latch on the first packet.
            if let Ok(tid) = self.core.publish(
                ts,
                id,
                TrackConfig {
                    codec: MediaCodec::H264,
                    pt,
                    ssrc: None,
                    rtx: None,
                    audio_level_ext: None,
                },
            ) {
                self.track_owner.insert(tid, id);
            }
        }
        let key = LegKey::Participant(id);
        let audio_pt = Pt(a.audio.stream.pt);
        let dtmf_pt = a.audio.stream.telephone_event_pt;
        let hold = !matches!(a.audio.stream.direction, Direction::SendRecv);
        let audio = LegStream::start(
            a.audio.rtp,
            a.audio.rtcp,
            a.audio.filter,
            a.audio.stream,
            key,
            false,
            &self.sip_tx,
        );
        let video = a.video.map(|m| {
            LegStream::start(
                m.rtp,
                m.rtcp,
                SourceFilter::new(ts, remote_of(&m.stream), SOURCE_LEARNING),
                m.stream,
                key,
                true,
                &self.sip_tx,
            )
        });
        // Browsers hear a SIP leg as an Opus track: worth an encode per tick only when the room
        // has a browser (kept up to date by `refresh_publishing`).
        let browsers = self.webs.values().any(|w| w.room == a.room);
        let leg = LegConfig {
            publish_opus: browsers,
            initial_timestamp: a.initial_timestamp,
            initial_seq: a.initial_seq,
            ..LegConfig::sip(codec, audio_pt)
        };
        let mixer = self.mixer_for(a.room, ts);
        if let Some(m) = mixer
            && let Err(e) = m.add_leg(id, leg)
        {
            warn!(participant = %id, error = %e, "mixer refused the leg");
        }
        if self.sips.is_empty() {
            // The periodic checks slept while there was no leg: they start from now, not
            // overdue since the last call (which admission control would take for lag).
            let now = Instant::now();
            self.last_inactivity_check = now;
            self.rtcp_next_check = now + RTCP_CHECK;
        }
        self.sips.insert(
            id,
            SipParticipant {
                room: a.room,
                call: a.call,
                audio,
                audio_pt,
                dtmf_pt,
                ivr: a.ivr,
                muted: false,
                video,
                mix_ssrc: a.mix_ssrc,
                published_ssrc,
                published_seq: rand::random(),
                hold,
                hangup: a.hangup,
                hangup_sent: false,
                dropped_foreign: 0,
                composed,
                composed_ssrc: a.mix_ssrc.rotate_left(16) | 2,
                rtcp: RtcpReporter::new(
                    ts,
                    Ssrc(a.mix_ssrc),
                    RTCP_CNAME,
                    codec.rtp_clock_rate(),
                    self.ntp_at_zero,
                    rand::random(),
                ),
            },
        );
        if composed {
            self.ensure_composer(a.room);
        }
        self.compose_join(a.room, id, &a.display_name);
        self.meeting_entered(a.room, id, a.kind, &a.display_name);
        let participant = self.participant_view(a.room, id);
        self.broadcast(a.room, &ToBrowser::ParticipantJoined { participant });
        // Per call, so at debug: at thousands of calls a second, info lines cost more than the
        // join (docs/benchmarks.md).
        debug!(participant = %id, room = %a.room, kind = a.kind.as_str(), codec = ?codec, video = video_pt.is_some(), "SIP participant joined");
        id
    }

    /// The room's mixer, created when its first SIP leg arrives, with every browser already
    /// there added as a (decoded only when loud) leg.
    pub(super) fn mixer_for(&mut self, room: RoomId, now: Timestamp) -> Option<&mut Mixer> {
        if !self.mixers.contains_key(&room) {
            let mut mixer = match Mixer::new(MixerConfig::default(), now) {
                Ok(m) => m,
                Err(e) => {
                    warn!(%room, error = %e, "cannot create the room's mixer");
                    return None;
                }
            };
            for (&id, pt) in &self.browser_audio {
                if self.webs.get(&id).is_some_and(|w| w.room == room) {
                    let _ = mixer.add_leg(id, LegConfig::browser(pt.0));
                }
            }
            self.mixers.insert(room, mixer);
        }
        self.mixers.get_mut(&room)
    }

    /// A browser published its microphone: the room's mixer (if any) hears it too.
    pub(super) fn browser_audio_published(
        &mut self,
        id: ParticipantId,
        pt: Pt,
        level_ext: Option<u8>,
    ) {
        self.browser_audio.insert(id, (pt, level_ext));
        let Some(room) = self.webs.get(&id).map(|w| w.room) else {
            return;
        };
        if let Some(m) = self.mixers.get_mut(&room) {
            let _ = m.add_leg(id, LegConfig::browser(pt));
        }
    }

    /// A browser's RTP: its audio goes to the room's mixer, if the room has one.
    pub(super) fn browser_rtp(&mut self, ts: Timestamp, id: ParticipantId, packet: &[u8]) {
        let Some(&(pt, level_ext)) = self.browser_audio.get(&id) else {
            return;
        };
        let Some(room) = self.webs.get(&id).map(|w| w.room) else {
            return;
        };
        let Some(m) = self.mixers.get_mut(&room) else {
            return;
        };
        let Ok(p) = RtpPacket::parse(packet) else {
            return;
        };
        if p.pt != pt {
            return;
        }
        m.handle_packet(
            ts,
            id,
            InboundPacket {
                pt,
                seq: p.seq,
                timestamp: p.timestamp,
                payload: Bytes::copy_from_slice(p.payload()),
                level: level_ext.and_then(|e| p.audio_level(e)).map(|(_, l)| l),
            },
        );
    }

    /// A participant left (any kind): out of the mixer; the mixer goes with the last SIP leg
    /// unless the room is being recorded.
    pub(super) fn mixer_forget(&mut self, id: ParticipantId, room: RoomId) {
        self.browser_audio.remove(&id);
        if let Some(m) = self.mixers.get_mut(&room) {
            let _ = m.remove_leg(id);
        }
        if !self.mixer_needed(room) {
            self.mixers.remove(&room);
        }
    }

    /// Whether the room's mixer has work: SIP or phone legs hear it, a recorder or a live
    /// stream's viewers take its full mix.
    pub(super) fn mixer_needed(&self, room: RoomId) -> bool {
        self.has_sip_legs(room) || self.recorders.contains_key(&room) || self.has_viewers(room)
    }

    /// Turns the Opus re-encoding of the room's SIP and phone legs on when a browser is in the
    /// room, off when none is (called when a browser joins or leaves).
    pub(super) fn refresh_publishing(&mut self, room: RoomId) {
        let browsers = self.webs.values().any(|w| w.room == room);
        let legs: Vec<ParticipantId> = self
            .sips
            .iter()
            .filter(|(_, s)| s.room == room)
            .map(|(&id, _)| id)
            .collect();
        if let Some(m) = self.mixers.get_mut(&room) {
            for id in legs {
                let _ = m.set_publish_opus(id, browsers);
            }
        }
    }

    /// Whether any SIP leg is in `room`.
    pub(super) fn has_sip_legs(&self, room: RoomId) -> bool {
        self.sips.values().any(|s| s.room == room)
    }

    /// Whether a SIP endpoint of the room negotiated video.
    pub(super) fn has_sip_video(&self, room: RoomId) -> bool {
        self.sips
            .values()
            .any(|s| s.room == room && s.video.is_some())
    }

    pub(super) fn leave_sip(&mut self, id: ParticipantId) {
        if self.leave_waiting_call(id) {
            return;
        }
        self.dismissing.retain(|d| *d != id);
        let Some(s) = self.sips.remove(&id) else {
            return;
        };
        let now = self.clock.now();
        // Out of the roster already when a moderator removed a phone caller (its goodbye
        // played first).
        let listed = self.core.participant(id).is_some();
        self.core.remove_participant(now, id);
        self.placement.release(s.room);
        self.track_owner.retain(|_, owner| *owner != id);
        self.mixer_forget(id, s.room);
        self.compose_leave(s.room, id);
        if s.dropped_foreign > 0 {
            info!(participant = %id, room = %s.room, dropped_foreign = s.dropped_foreign, "SIP participant left; packets from other sources were dropped");
        } else {
            debug!(participant = %id, room = %s.room, "SIP participant left");
        }
        if listed {
            self.broadcast(s.room, &ToBrowser::left(id));
            self.meeting_left(s.room, id);
        }
    }

    pub(super) fn update_sip(
        &mut self,
        id: ParticipantId,
        audio: Option<NegotiatedStream>,
        video: Option<NegotiatedStream>,
        hold: bool,
    ) {
        let now = self.clock.now();
        let Some(s) = self.sips.get_mut(&id) else {
            return;
        };
        s.hold = hold;
        if let Some(a) = audio {
            if remote_of(&a) != s.audio.filter.remote() && remote_of(&a).is_some() {
                s.audio.filter.relearn(now, remote_of(&a));
            }
            s.audio.stream = a;
        }
        if let (Some(v), Some(leg)) = (video, s.video.as_mut()) {
            if remote_of(&v) != leg.filter.remote() && remote_of(&v).is_some() {
                leg.filter.relearn(now, remote_of(&v));
            }
            leg.stream = v;
        }
        debug!(participant = %id, hold, "SIP media updated");
    }

    /// SIP INFO picture_fast_update: the leg wants a keyframe of what it is sent (its main
    /// window): as an RTCP PLI on that stream, so the core asks the right publisher.
    fn keyframe_sip(&mut self, id: ParticipantId) {
        if let Some(s) = self.sips.get(&id)
            && s.composed
        {
            self.compose_keyframe(s.room);
            return;
        }
        let Some(ssrc) = self
            .core
            .streams_to(id)
            .iter()
            .find(|s| s.kind == pont_media::MediaKind::Video)
            .map(|s| s.ssrc)
        else {
            return;
        };
        let mut pli = Vec::new();
        pont_media::rtcp::Rtcp::Pli {
            sender: Ssrc(0),
            media: ssrc,
        }
        .write_to(&mut pli);
        let now = self.clock.now();
        self.core.handle_rtcp(now, id, &pli);
    }

    /// A datagram on one of a SIP leg's sockets: checked against the leg's source, then to the
    /// mixer (audio) or the core (video, RTCP of video).
    pub(super) fn handle_sip_datagram(&mut self, d: SipDatagram) {
        let id = match d.key {
            LegKey::Participant(id) => id,
            LegKey::Ivr(call) => match self.ivr_joined.get(&call) {
                // Read just before the caller joined: it belongs to the participant now.
                Some(&id) => id,
                None => return self.handle_ivr_datagram(call, d),
            },
        };
        let ts = self.clock.timestamp(d.at);
        let Some(s) = self.sips.get_mut(&id) else {
            return self.handle_waiting_datagram(ts, id, &d);
        };
        let room = s.room;
        let leg = if d.video {
            match s.video.as_mut() {
                Some(v) => v,
                None => return,
            }
        } else {
            &mut s.audio
        };
        let is_rtcp = d.rtcp_port || (leg.stream.rtcp_mux && rtp::is_rtcp(&d.data));
        if is_rtcp {
            if !leg.filter.accept_rtcp(ts, d.from) {
                s.dropped_foreign += 1;
                return;
            }
            if d.video {
                let composed = s.composed;
                self.core.handle_rtcp(ts, id, &d.data);
                if composed && asks_keyframe(&d.data) {
                    self.compose_keyframe(room);
                }
            } else {
                self.sip_rtcp.received += 1;
                let mut packets = Vec::new();
                // A bad packet after good ones: the good ones still count.
                let _ = pont_media::rtcp::parse_compound(&d.data, &mut packets);
                if let Some(r) = s.rtcp.handle_rtcp(ts, &packets) {
                    debug!(participant = %id, loss = r.fraction_lost, lost = r.cumulative_lost,
                        jitter_ms = r.jitter.as_secs_f64() * 1e3,
                        rtt_ms = r.rtt.map(|d| d.as_secs_f64() * 1e3), "SIP leg's report on our audio");
                }
            }
            return;
        }
        let Ok(p) = RtpPacket::parse(&d.data) else {
            return;
        };
        if !leg.filter.accept_rtp(ts, d.from, p.seq) {
            // RTP bleed: a stray or injected stream from another address never reaches a room.
            s.dropped_foreign += 1;
            return;
        }
        if d.video {
            self.core.handle_rtp(ts, id, &d.data);
            self.compose_rtp(ts, room, id, &p);
            return;
        }
        s.rtcp.handle_received(ts, p.ssrc, p.seq, p.timestamp);
        if let Some(ivr) = s.ivr.as_mut() {
            // A phone caller: RFC 4733 events (and, from trunks that send none, in-band
            // tones) still reach its IVR for `*6`.
            if ivr
                .call
                .handle_rtp_event(ts, p.pt, p.timestamp, p.payload())
            {
                self.in_call_ivr_events(id);
                return;
            }
            if s.dtmf_pt.is_none()
                && p.pt == s.audio_pt
                && let Some(pcm) = ivr.phone.decode_g711(p.payload())
            {
                ivr.call.handle_pcm(ts, pcm);
                self.in_call_ivr_events(id);
            }
        } else if s.dtmf_pt == Some(p.pt.0) {
            // RFC 4733 events from a SIP endpoint that did not come through the IVR: ignored.
            return;
        }
        let Some(s) = self.sips.get(&id) else {
            return;
        };
        if s.dtmf_pt == Some(p.pt.0) {
            return;
        }
        let packet = InboundPacket {
            pt: p.pt,
            seq: p.seq,
            timestamp: p.timestamp,
            payload: Bytes::copy_from_slice(p.payload()),
            level: None,
        };
        if let Some(m) = self.mixers.get_mut(&room) {
            m.handle_packet(ts, id, packet);
        }
    }

    /// The earliest mixer tick or inactivity check.
    pub(super) fn sip_next_timeout(&self) -> Option<Instant> {
        let mixers = self
            .mixers
            .values()
            .map(|m| self.clock.instant(m.poll_timeout()));
        let check = (!self.sips.is_empty()).then(|| self.last_inactivity_check + INACTIVITY_CHECK);
        let rtcp = (!self.sips.is_empty()).then_some(self.rtcp_next_check);
        mixers.chain(check).chain(rtcp).min()
    }

    pub(super) fn sip_handle_timeout(&mut self, now: Instant) {
        let ts = self.clock.timestamp(now);
        for m in self.mixers.values_mut() {
            if m.poll_timeout() <= ts {
                m.handle_timeout(ts);
            }
        }
        if now >= self.rtcp_next_check {
            self.rtcp_next_check = now + RTCP_CHECK;
            self.send_sip_reports(ts);
        }
        if now >= self.last_inactivity_check + INACTIVITY_CHECK {
            self.last_inactivity_check = now;
            for (id, s) in &mut self.sips {
                if s.hold {
                    // A held call sends nothing, by design.
                    s.audio.filter.touch(ts);
                    continue;
                }
                if !s.hangup_sent && s.audio.filter.is_inactive(ts, RTP_INACTIVITY) {
                    info!(participant = %id, "no RTP for {:?}: asking for BYE", RTP_INACTIVITY);
                    s.hangup_sent = true;
                    let _ = s.hangup.try_send(SipCommand::Hangup(s.call));
                }
            }
            self.reap_waiting_calls(ts);
        }
    }

    /// Sends the RTCP reports that are due on SIP legs' audio (RFC 3550 §6.2 intervals per
    /// leg), on the RTCP port (or the RTP port with rtcp-mux).
    fn send_sip_reports(&mut self, ts: Timestamp) {
        for s in self.sips.values_mut() {
            if s.rtcp.poll_timeout() > ts {
                continue;
            }
            if !s.rtcp.poll_report(ts, &mut self.buf) {
                continue;
            }
            let Some(to) = s.audio.remote_rtcp() else {
                continue;
            };
            let socket = if s.audio.stream.rtcp_mux {
                &s.audio.rtp
            } else {
                &s.audio.rtcp
            };
            if socket.try_send_to(&self.buf, to).is_ok() {
                self.sip_rtcp.sent += 1;
            }
        }
    }

    /// RTCP counters, and the worst loss and jitter the legs in calls now last reported.
    pub(super) fn sip_rtcp_stats(&self) -> SipRtcpStats {
        let mut stats = self.sip_rtcp;
        for r in self.sips.values().filter_map(|s| s.rtcp.remote_report()) {
            stats.worst_fraction_lost = stats.worst_fraction_lost.max(r.fraction_lost);
            stats.worst_jitter = stats.worst_jitter.max(r.jitter);
        }
        stats
    }

    /// Moves mixer output to the SIP legs, published voices into the core, levels into the
    /// speaker detector. Returns whether anything moved.
    pub(super) fn pump_mixers(&mut self, ts: Timestamp) -> bool {
        let mut moved = false;
        let rooms: Vec<RoomId> = self.mixers.keys().copied().collect();
        for room in rooms {
            while let Some(m) = self.mixers.get_mut(&room) {
                if let Some(mut out) = m.poll_output() {
                    moved = true;
                    if let Some(s) = self.sips.get_mut(&out.leg)
                        && !s.hold
                        && s.audio.sends()
                        && let Some(to) = s.audio.remote_rtp()
                    {
                        if let Some(ivr) = s.ivr.as_mut() {
                            // The `*6` confirmation tone, over the room's mix.
                            ivr.call.handle_timeout(ts);
                            if let Some(frame) = ivr.call.poll_frame(ts) {
                                out.payload = ivr.phone.mix_over(&out.payload, frame);
                            }
                        }
                        out.write_rtp(s.mix_ssrc, s.audio_pt, &mut self.buf);
                        if s.audio.rtp.try_send_to(&self.buf, to).is_ok()
                            && let Ok(p) = RtpPacket::parse(&self.buf)
                        {
                            s.rtcp.handle_sent(ts, p.timestamp, p.payload().len());
                        }
                    }
                    continue;
                }
                if let Some(p) = m.poll_published() {
                    moved = true;
                    if let Some(s) = self.sips.get_mut(&p.leg) {
                        let seq = s.published_seq;
                        s.published_seq = seq.wrapping_add(1);
                        write_published(
                            &mut self.buf,
                            s.published_ssrc,
                            seq,
                            p.timestamp,
                            p.level.neg_dbov(),
                            &p.payload,
                        );
                        self.core.handle_rtp(ts, p.leg, &self.buf);
                    }
                    continue;
                }
                if let Some(e) = m.poll_event() {
                    moved = true;
                    if let pont_audio::Event::Level { at, leg, level } = e {
                        self.core.handle_audio_level(at, leg, level);
                    }
                    continue;
                }
                break;
            }
        }
        for id in self.dismissing.clone() {
            self.in_call_ivr_events(id);
        }
        moved
    }

    /// Acts on what a joined phone caller's IVR asks: `*6` flips their mute.
    pub(super) fn in_call_ivr_events(&mut self, id: ParticipantId) {
        loop {
            let Some(s) = self.sips.get_mut(&id) else {
                return;
            };
            let Some(event) = s.ivr.as_mut().and_then(|i| i.call.poll_event()) else {
                return;
            };
            match event {
                pont_ivr::IvrEvent::ToggleMute => {
                    s.muted = !s.muted;
                    let (room, muted) = (s.room, s.muted);
                    let _ = self.core.set_muted(id, muted);
                    if let Some(m) = self.mixers.get_mut(&room) {
                        let _ = m.set_muted(id, muted);
                    }
                    info!(participant = %id, muted, "phone caller toggled mute (*6)");
                    self.broadcast(room, &ToBrowser::muted(id, muted, false));
                }
                pont_ivr::IvrEvent::Hangup(reason) => {
                    // A moderator removed the caller (or ended the meeting): its goodbye played.
                    debug!(participant = %id, ?reason, "in-call IVR hangs up");
                    if !s.hangup_sent {
                        s.hangup_sent = true;
                        let _ = s.hangup.try_send(SipCommand::Hangup(s.call));
                    }
                }
                pont_ivr::IvrEvent::Key(key) => self.phone_key(id, key),
                other => trace!(participant = %id, event = ?other, "IVR event in the call"),
            }
        }
    }

    /// A core transmit addressed to a SIP participant: its main window (RTP) or our RTCP about
    /// its video, on the video port pair.
    pub(super) fn send_to_sip(&self, to: ParticipantId, kind: PacketKind, packet: &[u8]) -> bool {
        let Some(s) = self.sips.get(&to) else {
            return false;
        };
        let Some(v) = &s.video else {
            return true;
        };
        let (socket, dest) = match kind {
            PacketKind::Rtp if v.sends() && !s.hold => (&v.rtp, v.remote_rtp()),
            PacketKind::Rtcp if v.stream.rtcp_mux => (&v.rtp, v.remote_rtcp()),
            PacketKind::Rtcp => (&v.rtcp, v.remote_rtcp()),
            _ => return true,
        };
        if let Some(dest) = dest {
            let _ = socket.try_send_to(packet, dest);
        }
        true
    }
}

impl Task {
    /// Whether any room system of `room` receives the composed picture.
    pub(super) fn has_composed_viewers(&self, room: RoomId) -> bool {
        self.sips.values().any(|s| s.room == room && s.composed)
    }

    /// One composed RTP payload to every room system of the room that takes it.
    pub(super) fn send_composed(&mut self, room: RoomId, p: &pont_video::RtpPayload) {
        for s in self
            .sips
            .values()
            .filter(|s| s.room == room && s.composed && !s.hold)
        {
            let Some(v) = &s.video else {
                continue;
            };
            let Some(to) = v.remote_rtp().filter(|_| v.sends()) else {
                continue;
            };
            self.buf.clear();
            self.buf.push(0x80);
            self.buf
                .push((v.stream.pt & 0x7f) | if p.marker { 0x80 } else { 0 });
            self.buf.extend_from_slice(&p.seq.to_be_bytes());
            self.buf.extend_from_slice(&p.timestamp.to_be_bytes());
            self.buf.extend_from_slice(&s.composed_ssrc.to_be_bytes());
            self.buf.extend_from_slice(&p.payload);
            let _ = v.rtp.try_send_to(&self.buf, to);
        }
    }
}

/// Whether an RTCP compound packet carries a PLI or FIR.
fn asks_keyframe(packet: &[u8]) -> bool {
    let mut out = Vec::new();
    let _ = pont_media::rtcp::parse_compound(packet, &mut out);
    out.iter().any(|r| {
        matches!(
            r,
            pont_media::rtcp::Rtcp::Pli { .. } | pont_media::rtcp::Rtcp::Fir { .. }
        )
    })
}

/// An RTP packet carrying a SIP leg's voice as Opus, with its RFC 6464 level (one-byte header
/// extension, RFC 8285) so the speaker detector and browsers see how loud it is.
fn write_published(buf: &mut Vec<u8>, ssrc: Ssrc, seq: u16, ts: u32, level: u8, payload: &[u8]) {
    buf.clear();
    buf.extend_from_slice(&[0x90, PUBLISHED_OPUS_PT.0]);
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(&ts.to_be_bytes());
    buf.extend_from_slice(&ssrc.0.to_be_bytes());
    buf.extend_from_slice(&[
        0xbe,
        0xde,
        0x00,
        0x01,
        PUBLISHED_LEVEL_EXT << 4,
        level & 0x7f,
        0,
        0,
    ]);
    buf.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_packets_parse_with_their_level() {
        let mut buf = Vec::new();
        write_published(&mut buf, Ssrc(7), 9, 960, 33, b"opus");
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.ssrc, Ssrc(7));
        assert_eq!(p.seq, 9);
        assert_eq!(p.payload(), b"opus");
        assert_eq!(p.audio_level(PUBLISHED_LEVEL_EXT).unwrap().1.neg_dbov(), 33);
    }
}
