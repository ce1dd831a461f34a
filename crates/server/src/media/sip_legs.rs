//! SIP participants in the media task: their RTP sockets, strict source checks, the room's
//! audio mixer (mix-minus to each SIP leg, each SIP leg's voice re-encoded as Opus for the
//! browsers), their video into the SFU and the room's main window back to them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pont_audio::{AudioCodec, InboundPacket, LegConfig, Mixer, MixerConfig};
use pont_media::rtp::{self, RtpPacket};
use pont_media::{
    Codec as MediaCodec, PacketKind, ParticipantConfig, ParticipantKind, ReceiveCodec, TrackConfig,
};
use pont_sip::CallHandle;
use pont_sip::sdp::{Codec as SdpCodec, Direction, NegotiatedStream};
use pont_types::{ParticipantId, Pt, RoomId, Ssrc, Timestamp};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, trace, warn};

use super::Task;
use crate::rtp_leg::SourceFilter;
use crate::sip::SipCommand;

/// A call with no RTP or RTCP for this long is dead: hang up (a held call is exempt).
pub(crate) const RTP_INACTIVITY: Duration = Duration::from_secs(30);
/// How long a new call may take to show which address its media really comes from (NAT).
const SOURCE_LEARNING: Duration = Duration::from_secs(3);
/// How often the inactivity of SIP legs is checked.
const INACTIVITY_CHECK: Duration = Duration::from_secs(1);
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
}

/// Why a SIP join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SipJoinRefused {
    RoomFull,
}

/// SIP requests to the media task.
#[derive(Debug)]
pub(crate) enum SipQuery {
    Join(
        Box<JoinSip>,
        oneshot::Sender<Result<ParticipantId, SipJoinRefused>>,
    ),
    Leave(ParticipantId),
    Update {
        id: ParticipantId,
        audio: Option<NegotiatedStream>,
        video: Option<NegotiatedStream>,
        hold: bool,
    },
    Keyframe(ParticipantId),
}

/// A datagram read from one of a SIP leg's sockets.
#[derive(Debug)]
pub(crate) struct SipDatagram {
    pub(crate) id: ParticipantId,
    pub(crate) video: bool,
    pub(crate) rtcp_port: bool,
    pub(crate) at: Instant,
    pub(crate) from: SocketAddr,
    pub(crate) data: Vec<u8>,
}

/// One stream (audio or video) of a SIP leg.
#[derive(Debug)]
struct LegStream {
    rtp: Arc<UdpSocket>,
    rtcp: Arc<UdpSocket>,
    filter: SourceFilter,
    stream: NegotiatedStream,
    readers: [JoinHandle<()>; 2],
}

impl LegStream {
    fn remote_rtp(&self) -> Option<SocketAddr> {
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

    fn sends(&self) -> bool {
        matches!(
            self.stream.direction,
            Direction::SendRecv | Direction::SendOnly
        )
    }
}

impl Drop for LegStream {
    fn drop(&mut self) {
        for r in &self.readers {
            r.abort();
        }
    }
}

/// A SIP participant.
#[derive(Debug)]
pub(crate) struct SipParticipant {
    room: RoomId,
    call: CallHandle,
    audio: LegStream,
    audio_pt: Pt,
    dtmf_pt: Option<u8>,
    video: Option<LegStream>,
    /// Our SSRC towards the leg (the mix).
    mix_ssrc: u32,
    /// The SSRC, sequence number of the leg's voice as published to browsers (Opus).
    published_ssrc: Ssrc,
    published_seq: u16,
    hold: bool,
    hangup: mpsc::Sender<SipCommand>,
    hangup_sent: bool,
    pub(crate) dropped_foreign: u64,
}

fn audio_codec(c: SdpCodec) -> Option<AudioCodec> {
    Some(match c {
        SdpCodec::Pcmu => AudioCodec::Pcmu,
        SdpCodec::Pcma => AudioCodec::Pcma,
        SdpCodec::G722 => AudioCodec::G722,
        SdpCodec::Opus => AudioCodec::Opus,
        _ => return None,
    })
}

fn remote_of(s: &NegotiatedStream) -> Option<SocketAddr> {
    let ip = s.remote_addr.filter(|ip| !ip.is_unspecified())?;
    (s.remote_port != 0).then(|| SocketAddr::new(ip, s.remote_port))
}

fn spawn_reader(
    socket: Arc<UdpSocket>,
    id: ParticipantId,
    video: bool,
    rtcp_port: bool,
    tx: mpsc::Sender<SipDatagram>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        loop {
            match socket.recv_from(&mut buf).await {
                Ok((n, from)) => {
                    let d = SipDatagram {
                        id,
                        video,
                        rtcp_port,
                        at: Instant::now(),
                        from,
                        data: buf[..n].to_vec(),
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
            SipQuery::Join(join, reply) => {
                let _ = reply.send(self.join_sip(*join));
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
        let present = self.core.room(join.room).map_or(0, |r| r.len());
        if present >= self.max_participants {
            return Err(SipJoinRefused::RoomFull);
        }
        let Some(codec) = audio_codec(join.audio.stream.codec) else {
            return Err(SipJoinRefused::RoomFull);
        };
        let now = Instant::now();
        let ts = self.clock.timestamp(now);
        let video_pt = join.video.as_ref().map(|v| Pt(v.stream.pt));
        let config = ParticipantConfig {
            kind: ParticipantKind::Sip,
            display_name: join.display_name.clone(),
            receive: video_pt
                .map(|pt| ReceiveCodec {
                    codec: MediaCodec::H264,
                    pt,
                    rtx_pt: None,
                })
                .into_iter()
                .collect(),
            subscribe_all: false,
            main_window: video_pt.is_some(),
            fir: false,
            nack: false,
        };
        let id = self.core.add_participant(ts, join.room, config);
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
        let stream = |m: SipMedia, video: bool, tx: &mpsc::Sender<SipDatagram>| {
            let rtp = Arc::new(m.rtp);
            let rtcp = Arc::new(m.rtcp);
            LegStream {
                readers: [
                    spawn_reader(rtp.clone(), id, video, false, tx.clone()),
                    spawn_reader(rtcp.clone(), id, video, true, tx.clone()),
                ],
                filter: SourceFilter::new(ts, remote_of(&m.stream), SOURCE_LEARNING),
                rtp,
                rtcp,
                stream: m.stream,
            }
        };
        let audio_pt = Pt(join.audio.stream.pt);
        let dtmf_pt = join.audio.stream.telephone_event_pt;
        let hold = !matches!(join.audio.stream.direction, Direction::SendRecv);
        let audio = stream(join.audio, false, &self.sip_tx);
        let video = join.video.map(|v| stream(v, true, &self.sip_tx));
        let r = rand::random::<u64>();
        let leg = LegConfig {
            publish_opus: true,
            initial_timestamp: r as u32,
            initial_seq: (r >> 32) as u16,
            ..LegConfig::sip(codec, audio_pt)
        };
        let mixer = self.mixer_for(join.room, ts);
        if let Some(m) = mixer
            && let Err(e) = m.add_leg(id, leg)
        {
            warn!(participant = %id, error = %e, "mixer refused the leg");
        }
        self.sips.insert(
            id,
            SipParticipant {
                room: join.room,
                call: join.call,
                audio,
                audio_pt,
                dtmf_pt,
                video,
                mix_ssrc: (r >> 16) as u32 | 1,
                published_ssrc,
                published_seq: (r >> 48) as u16,
                hold,
                hangup: join.hangup,
                hangup_sent: false,
                dropped_foreign: 0,
            },
        );
        let me = self.participant_json(join.room, id);
        self.broadcast(
            join.room,
            &serde_json::json!({"v": 1, "type": "participant_joined", "participant": me}),
        );
        info!(participant = %id, room = %join.room, codec = ?codec, video = video_pt.is_some(), "SIP participant joined");
        Ok(id)
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
        if !self.has_sip_legs(room) && !self.recorders.contains_key(&room) {
            self.mixers.remove(&room);
        }
    }

    /// Whether any SIP leg is in `room`.
    pub(super) fn has_sip_legs(&self, room: RoomId) -> bool {
        self.sips.values().any(|s| s.room == room)
    }

    fn leave_sip(&mut self, id: ParticipantId) {
        let Some(s) = self.sips.remove(&id) else {
            return;
        };
        let now = self.clock.now();
        self.core.remove_participant(now, id);
        self.track_owner.retain(|_, owner| *owner != id);
        self.mixer_forget(id, s.room);
        info!(participant = %id, room = %s.room, dropped_foreign = s.dropped_foreign, "SIP participant left");
        self.broadcast(
            s.room,
            &serde_json::json!({"v": 1, "type": "participant_left", "participant_id": id.to_string()}),
        );
    }

    fn update_sip(
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
        let ts = self.clock.timestamp(d.at);
        let Some(s) = self.sips.get_mut(&d.id) else {
            return;
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
                self.core.handle_rtcp(ts, d.id, &d.data);
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
            self.core.handle_rtp(ts, d.id, &d.data);
            return;
        }
        if s.dtmf_pt == Some(p.pt.0) {
            // RFC 4733 events: the IVR (issue 6) consumes them.
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
            m.handle_packet(ts, d.id, packet);
        }
    }

    /// The earliest mixer tick or inactivity check.
    pub(super) fn sip_next_timeout(&self) -> Option<Instant> {
        let mixers = self
            .mixers
            .values()
            .map(|m| self.clock.instant(m.poll_timeout()));
        let check = (!self.sips.is_empty()).then(|| self.last_inactivity_check + INACTIVITY_CHECK);
        mixers.chain(check).min()
    }

    pub(super) fn sip_handle_timeout(&mut self, now: Instant) {
        let ts = self.clock.timestamp(now);
        for m in self.mixers.values_mut() {
            if m.poll_timeout() <= ts {
                m.handle_timeout(ts);
            }
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
        }
    }

    /// Moves mixer output to the SIP legs, published voices into the core, levels into the
    /// speaker detector. Returns whether anything moved.
    pub(super) fn pump_mixers(&mut self, ts: Timestamp) -> bool {
        let mut moved = false;
        let rooms: Vec<RoomId> = self.mixers.keys().copied().collect();
        for room in rooms {
            while let Some(m) = self.mixers.get_mut(&room) {
                if let Some(out) = m.poll_output() {
                    moved = true;
                    if let Some(s) = self.sips.get(&out.leg)
                        && !s.hold
                        && s.audio.sends()
                        && let Some(to) = s.audio.remote_rtp()
                    {
                        out.write_rtp(s.mix_ssrc, s.audio_pt, &mut self.buf);
                        let _ = s.audio.rtp.try_send_to(&self.buf, to);
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
        moved
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
