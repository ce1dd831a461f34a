//! Simulated calls: a virtual clock that jumps to the next thing that happens, simulated
//! participants that publish audio (with RFC 6464 levels) and H.264-shaped video, answer
//! keyframe requests and NACKs, and a seeded network emulator with loss, delay, jitter
//! (hence reordering) and duplication between each participant and the bridge.
#![allow(dead_code, unreachable_pub)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::time::Duration;

use pont_media::rtcp::{self, Rtcp};
use pont_media::rtp::{self, RtpPacket};
use pont_media::{
    Codec, CoreConfig, Event, MediaCore, MediaKind, PacketKind, ParticipantConfig, Source,
    TrackConfig,
};
use pont_types::{ParticipantId, Pt, RoomId, Ssrc, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const ROOM: RoomId = RoomId(4242);
pub const AUDIO_LEVEL_EXT: u8 = 1;
pub const OPUS_PT: Pt = Pt(111);
pub const H264_PT: Pt = Pt(102);
pub const RTX_PT: Pt = Pt(103);

/// Impairments of one direction of one link.
#[derive(Debug, Clone, Copy, Default)]
pub struct Link {
    pub loss: f64,
    pub delay: Duration,
    /// Extra delay, uniform in 0..jitter: packets overtake each other.
    pub jitter: Duration,
    pub duplicate: f64,
}

#[derive(Debug, Clone)]
enum Hop {
    /// Participant index → bridge.
    Up(usize),
    /// Bridge → participant index.
    Down(usize),
}

#[derive(Debug)]
struct InFlight {
    hop: Hop,
    kind: PacketKind,
    data: Vec<u8>,
}

/// Seeded network emulator.
pub struct Net {
    rng: ChaCha8Rng,
    order: u64,
    queue: BinaryHeap<Reverse<(Timestamp, u64)>>,
    packets: HashMap<u64, InFlight>,
    pub sent: u64,
    pub lost: u64,
}

impl Net {
    fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            order: 0,
            queue: BinaryHeap::new(),
            packets: HashMap::new(),
            sent: 0,
            lost: 0,
        }
    }

    fn send(&mut self, now: Timestamp, link: Link, hop: Hop, kind: PacketKind, data: Vec<u8>) {
        self.sent += 1;
        if self.rng.gen_bool(link.loss.clamp(0.0, 1.0)) {
            self.lost += 1;
            return;
        }
        let copies = if self.rng.gen_bool(link.duplicate.clamp(0.0, 1.0)) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = if link.jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_micros(self.rng.gen_range(0..link.jitter.as_micros() as u64))
            };
            let at = now + link.delay + jitter;
            self.order += 1;
            self.queue.push(Reverse((at, self.order)));
            self.packets.insert(
                self.order,
                InFlight {
                    hop: hop.clone(),
                    kind,
                    data: data.clone(),
                },
            );
        }
    }

    fn next_at(&self) -> Option<Timestamp> {
        self.queue.peek().map(|Reverse((t, _))| *t)
    }

    fn pop_due(&mut self, now: Timestamp) -> Option<InFlight> {
        let Reverse((t, order)) = *self.queue.peek()?;
        if t > now {
            return None;
        }
        self.queue.pop();
        self.packets.remove(&order)
    }
}

/// When and how loud a participant talks.
#[derive(Debug, Clone, Default)]
pub struct Talk {
    /// (from, to, loudness 0..=127 above silence) in ms of simulated time.
    pub spurts: Vec<(u64, u64, u8)>,
    /// Loudness outside spurts (background noise).
    pub noise: u8,
}

impl Talk {
    pub fn during(spurts: &[(u64, u64)]) -> Self {
        Self {
            spurts: spurts.iter().map(|&(a, b)| (a, b, 90)).collect(),
            noise: 5,
        }
    }

    /// Loudness at `t`, with a syllable rhythm inside spurts (speech is not a constant tone).
    fn loudness(&self, t: Timestamp) -> u8 {
        let ms = t.as_micros() / 1000;
        for &(a, b, l) in &self.spurts {
            if ms >= a && ms < b {
                // 200 ms syllables with a 40 ms dip.
                return if (ms - a) % 200 < 160 { l } else { l / 3 };
            }
        }
        self.noise
    }
}

/// What a subscriber saw of one stream.
#[derive(Debug, Default, Clone)]
pub struct Received {
    /// Every packet in arrival order: (seq, ts, tag of the publisher index, keyframe start).
    pub packets: Vec<(u16, u32, u32, bool)>,
    /// Distinct sequence numbers received (after RTX unwrap), extended by arrival.
    pub seqs: BTreeMap<u64, u32>,
    pub rtx: u64,
    highest: Option<u64>,
    nacked: BTreeMap<u64, (Timestamp, u8)>,
}

impl Received {
    fn record(&mut self, now: Timestamp, seq: u16, ts: u32, tag: u32, key: bool, nacks: bool) {
        let ext = pont_types::SeqNo::extend(self.highest.map(pont_types::SeqNo), seq).0;
        self.packets.push((seq, ts, tag, key));
        self.seqs.insert(ext, tag);
        self.nacked.remove(&ext);
        if let Some(h) = self.highest
            && nacks
            && ext > h + 1
            && ext - h < 200
        {
            for s in h + 1..ext {
                if !self.seqs.contains_key(&s) {
                    self.nacked.insert(s, (now, 0));
                }
            }
        }
        if self.highest.is_none_or(|h| ext > h) {
            self.highest = Some(ext);
        }
    }

    /// Sequence numbers between the first and last received that never arrived.
    pub fn missing(&self) -> u64 {
        match (self.seqs.keys().next(), self.seqs.keys().last()) {
            (Some(a), Some(b)) => b - a + 1 - self.seqs.len() as u64,
            _ => 0,
        }
    }
}

/// A simulated participant.
pub struct Peer {
    pub id: ParticipantId,
    pub up: Link,
    pub down: Link,
    pub talk: Talk,
    pub audio_ssrc: Option<Ssrc>,
    pub video_ssrc: Option<Ssrc>,
    pub video_rtx: Option<Ssrc>,
    /// Send RFC 6464 levels with the audio.
    pub levels: bool,
    /// Stop sending audio packets in silence (Opus DTX).
    pub dtx: bool,
    /// Publisher's first sequence numbers (to test wraparound).
    pub audio_seq: u16,
    pub audio_ts: u32,
    pub video_seq: u16,
    pub video_ts: u32,
    rtx_seq: u16,
    pub next_audio: Option<Timestamp>,
    pub next_video: Option<Timestamp>,
    next_nack: Timestamp,
    force_keyframe: bool,
    /// Send a keyframe every this many frames anyway (0: only on request or the first frame).
    pub gop: u32,
    frame: u32,
    history: BTreeMap<u16, Vec<u8>>,
    /// Streams the bridge announced to us: SSRC → (stream, is RTX).
    pub streams: BTreeMap<Ssrc, pont_media::OutStream>,
    pub received: BTreeMap<Ssrc, Received>,
    pub keyframe_requests: u32,
    pub nacks_received: u32,
    pub send_nacks: bool,
    /// Index of this peer in the simulation (carried in payloads as the "tag").
    pub index: u32,
    pub video_fps: u32,
    /// Rtcp packets received from the bridge, all kinds.
    pub rtcp: Vec<Rtcp>,
    /// The core's id of the video track this peer publishes.
    pub video_track: Option<pont_media::TrackId>,
}

impl Peer {
    fn next_action(&self) -> Option<Timestamp> {
        [self.next_audio, self.next_video, Some(self.next_nack)]
            .into_iter()
            .flatten()
            .min()
    }

    /// The SFU stream of `kind` received from the peer at `index`.
    pub fn received_from(&self, index: u32, kind: MediaKind) -> Option<&Received> {
        self.received.iter().find_map(|(ssrc, r)| {
            let s = self.streams.get(ssrc)?;
            (r.packets.first().map(|p| p.2) == Some(index)
                && matches!(s.source, Source::Track(_))
                && s.kind == kind)
                .then_some(r)
        })
    }

    pub fn main_window(&self) -> Option<&Received> {
        self.streams
            .values()
            .find(|s| s.source == Source::MainWindow)
            .and_then(|s| self.received.get(&s.ssrc))
    }
}

/// Builds an RTP packet.
pub fn rtp_packet(
    pt: Pt,
    seq: u16,
    ts: u32,
    ssrc: Ssrc,
    marker: bool,
    level: Option<u8>,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(12 + 8 + payload.len());
    b.push(if level.is_some() { 0x90 } else { 0x80 });
    b.push(if marker { 0x80 } else { 0 } | pt.0);
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&ts.to_be_bytes());
    b.extend_from_slice(&ssrc.0.to_be_bytes());
    if let Some(l) = level {
        // RFC 8285 one-byte header: 0xBEDE, length 1 word; id=1 len=0 (1 byte): V + level.
        b.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01, AUDIO_LEVEL_EXT << 4, 0x80 | l, 0, 0]);
    }
    b.extend_from_slice(payload);
    b
}

/// The simulation.
pub struct Sim {
    pub now: Timestamp,
    pub core: MediaCore,
    pub net: Net,
    pub peers: Vec<Peer>,
    pub events: Vec<(Timestamp, Event)>,
    buf: Vec<u8>,
}

impl Sim {
    pub fn new(seed: u64) -> Self {
        Self::with_config(
            seed,
            CoreConfig {
                seed,
                ..CoreConfig::default()
            },
        )
    }

    pub fn with_config(seed: u64, config: CoreConfig) -> Self {
        Self {
            now: Timestamp::ZERO,
            core: MediaCore::new(config),
            net: Net::new(seed),
            peers: Vec::new(),
            events: Vec::new(),
            buf: Vec::new(),
        }
    }

    /// Adds a participant that publishes audio (and video if `video`) into the room.
    pub fn join(
        &mut self,
        config: ParticipantConfig,
        audio: bool,
        video: bool,
        talk: Talk,
    ) -> usize {
        let index = self.peers.len() as u32;
        let id = self.core.add_participant(self.now, ROOM, config);
        let base = 0x1000 * (index + 1);
        let mut peer = Peer {
            id,
            up: Link::default(),
            down: Link::default(),
            talk,
            audio_ssrc: audio.then_some(Ssrc(base + 1)),
            video_ssrc: video.then_some(Ssrc(base + 2)),
            video_rtx: video.then_some(Ssrc(base + 3)),
            levels: true,
            dtx: false,
            audio_seq: (index as u16).wrapping_mul(7919),
            audio_ts: index.wrapping_mul(104_729),
            video_seq: (index as u16).wrapping_mul(4099),
            video_ts: index.wrapping_mul(7_777_777),
            rtx_seq: 0,
            next_audio: audio.then_some(self.now),
            next_video: video.then_some(self.now),
            next_nack: self.now,
            force_keyframe: true,
            gop: 0,
            frame: 0,
            history: BTreeMap::new(),
            streams: BTreeMap::new(),
            received: BTreeMap::new(),
            keyframe_requests: 0,
            nacks_received: 0,
            send_nacks: true,
            index,
            video_fps: 15,
            rtcp: Vec::new(),
            video_track: None,
        };
        if audio {
            self.core
                .publish(
                    self.now,
                    id,
                    TrackConfig {
                        codec: Codec::Opus,
                        pt: OPUS_PT,
                        ssrc: peer.audio_ssrc,
                        rtx: None,
                        audio_level_ext: Some(AUDIO_LEVEL_EXT),
                    },
                )
                .expect("publish audio");
        }
        if video {
            peer.video_track = self
                .core
                .publish(
                    self.now,
                    id,
                    TrackConfig {
                        codec: Codec::H264,
                        pt: H264_PT,
                        ssrc: peer.video_ssrc,
                        rtx: Some((peer.video_rtx.unwrap_or_default(), RTX_PT)),
                        audio_level_ext: None,
                    },
                )
                .ok();
            assert!(peer.video_track.is_some(), "publish video");
        }
        peer.next_nack = self.now;
        self.peers.push(peer);
        self.flush();
        index as usize
    }

    pub fn leave(&mut self, peer: usize) {
        let id = self.peers[peer].id;
        self.core.remove_participant(self.now, id);
        self.peers[peer].next_audio = None;
        self.peers[peer].next_video = None;
        self.flush();
    }

    pub fn peer_by_id(&self, id: ParticipantId) -> Option<usize> {
        self.peers.iter().position(|p| p.id == id)
    }

    /// Drains the core's outputs into the network and the event log.
    fn flush(&mut self) {
        while let Some(t) = self.core.poll_transmit(&mut self.buf) {
            let Some(i) = self.peer_by_id(t.to) else {
                panic!("transmit to unknown participant {}", t.to);
            };
            let link = self.peers[i].down;
            self.net
                .send(self.now, link, Hop::Down(i), t.kind, self.buf.clone());
        }
        while let Some(e) = self.core.poll_event() {
            if let Event::StreamAdded { to, stream } = &e
                && let Some(i) = self.peer_by_id(*to)
            {
                self.peers[i].streams.insert(stream.ssrc, *stream);
                if let Some((rtx, _)) = stream.rtx {
                    self.peers[i].streams.insert(rtx, *stream);
                }
            }
            self.events.push((self.now, e));
        }
    }

    /// Runs the simulation for `d` of simulated time.
    pub fn run(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.flush();
            let next = [
                self.core.poll_timeout(),
                self.net.next_at(),
                self.peers.iter().filter_map(Peer::next_action).min(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next.filter(|&n| n <= end) else {
                self.now = end;
                return;
            };
            self.now = self.now.max(next);
            let now = self.now;
            while let Some(p) = self.net.pop_due(now) {
                match p.hop {
                    Hop::Up(i) => {
                        let id = self.peers[i].id;
                        match p.kind {
                            PacketKind::Rtp => self.core.handle_rtp(now, id, &p.data),
                            PacketKind::Rtcp => self.core.handle_rtcp(now, id, &p.data),
                        }
                    }
                    Hop::Down(i) => self.peer_receive(i, p.kind, &p.data),
                }
                self.flush();
            }
            if self.core.poll_timeout().is_some_and(|t| t <= now) {
                self.core.handle_timeout(now);
                self.flush();
            }
            for i in 0..self.peers.len() {
                self.peer_tick(i);
            }
        }
    }

    fn peer_receive(&mut self, i: usize, kind: PacketKind, data: &[u8]) {
        let now = self.now;
        let peer = &mut self.peers[i];
        match kind {
            PacketKind::Rtcp => {
                let mut out = Vec::new();
                rtcp::parse_compound(data, &mut out).expect("bridge sends valid RTCP");
                for r in out {
                    match &r {
                        Rtcp::Pli { .. } | Rtcp::Fir { .. } => {
                            peer.keyframe_requests += 1;
                            peer.force_keyframe = true;
                        }
                        Rtcp::Nack { lost, .. } => {
                            peer.nacks_received += 1;
                            let mut resend = Vec::new();
                            for seq in lost {
                                if let Some(p) = peer.history.get(seq) {
                                    resend.push(p.clone());
                                }
                            }
                            for orig in resend {
                                let pkt = RtpPacket::parse(&orig).expect("own packet");
                                let mut out = Vec::new();
                                rtp::write_rtx(
                                    &pkt,
                                    peer.video_rtx.unwrap_or_default(),
                                    peer.rtx_seq,
                                    RTX_PT,
                                    &mut out,
                                );
                                peer.rtx_seq = peer.rtx_seq.wrapping_add(1);
                                let link = peer.up;
                                self.net.send(now, link, Hop::Up(i), PacketKind::Rtp, out);
                            }
                        }
                        _ => {}
                    }
                    peer.rtcp.push(r);
                }
            }
            PacketKind::Rtp => {
                let pkt = RtpPacket::parse(data).expect("bridge sends valid RTP");
                let Some(stream) = peer.streams.get(&pkt.ssrc).copied() else {
                    panic!("packet on unannounced SSRC {}", pkt.ssrc);
                };
                let is_rtx = stream.ssrc != pkt.ssrc;
                let (seq, payload) = if is_rtx {
                    rtp::unwrap_rtx(&pkt).expect("RTX payload")
                } else {
                    (pkt.seq, pkt.payload())
                };
                let tag = payload
                    .len()
                    .checked_sub(4)
                    .map(|n| u32::from_be_bytes(payload[n..].try_into().unwrap()))
                    .unwrap_or(u32::MAX);
                let key = stream.codec.is_keyframe_start(payload);
                let nacks = peer.send_nacks && stream.kind == MediaKind::Video;
                let r = peer.received.entry(stream.ssrc).or_default();
                if is_rtx {
                    r.rtx += 1;
                }
                r.record(now, seq, pkt.timestamp, tag, key, nacks);
            }
        }
    }

    fn peer_tick(&mut self, i: usize) {
        let now = self.now;
        let peer = &mut self.peers[i];
        let link = peer.up;
        let mut out: Vec<(PacketKind, Vec<u8>)> = Vec::new();
        if let (Some(at), Some(ssrc)) = (peer.next_audio, peer.audio_ssrc)
            && at <= now
        {
            let loud = peer.talk.loudness(now);
            if !(peer.dtx && loud <= peer.talk.noise) {
                let level = peer.levels.then_some(127 - loud.min(127));
                let payload = [0xfc, 0, 0, 0, 0, 0, 0, peer.index as u8];
                let mut p = payload.to_vec();
                p.truncate(4);
                p.extend_from_slice(&peer.index.to_be_bytes());
                out.push((
                    PacketKind::Rtp,
                    rtp_packet(
                        OPUS_PT,
                        peer.audio_seq,
                        peer.audio_ts,
                        ssrc,
                        false,
                        level,
                        &p,
                    ),
                ));
                peer.audio_seq = peer.audio_seq.wrapping_add(1);
            }
            // The media clock runs in silence too.
            peer.audio_ts = peer.audio_ts.wrapping_add(960);
            peer.next_audio = Some(at + Duration::from_millis(20));
        }
        if let (Some(at), Some(ssrc)) = (peer.next_video, peer.video_ssrc)
            && at <= now
        {
            let tag = peer.index.to_be_bytes();
            let key = peer.force_keyframe || (peer.gop > 0 && peer.frame.is_multiple_of(peer.gop));
            peer.force_keyframe = false;
            let payloads: Vec<Vec<u8>> = if key {
                vec![
                    [
                        &[0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce][..],
                        &tag,
                    ]
                    .concat(),
                    [&[0x7c, 0x85, 0xaa][..], &tag].concat(),
                    [&[0x7c, 0x45, 0xbb][..], &tag].concat(),
                ]
            } else {
                vec![
                    [&[0x41, 0x9a, 0x01][..], &tag].concat(),
                    [&[0x41, 0x9a, 0x02][..], &tag].concat(),
                ]
            };
            let n = payloads.len();
            for (k, p) in payloads.into_iter().enumerate() {
                let pkt = rtp_packet(
                    H264_PT,
                    peer.video_seq,
                    peer.video_ts,
                    ssrc,
                    k + 1 == n,
                    None,
                    &p,
                );
                peer.history.insert(peer.video_seq, pkt.clone());
                if peer.history.len() > 1000 {
                    peer.history.pop_first();
                }
                out.push((PacketKind::Rtp, pkt));
                peer.video_seq = peer.video_seq.wrapping_add(1);
            }
            peer.frame += 1;
            let frame = Duration::from_micros(1_000_000 / peer.video_fps as u64);
            peer.video_ts = peer.video_ts.wrapping_add(90_000 / peer.video_fps);
            peer.next_video = Some(at + frame);
        }
        if peer.next_nack <= now {
            // A receiver's NACKs: every 20 ms, each missing packet at most 10 times, 100 ms apart.
            peer.next_nack = now + Duration::from_millis(20);
            let rtcp_sender = Ssrc(0xdead_0000 + peer.index);
            for (ssrc, r) in peer.received.iter_mut() {
                let mut lost = Vec::new();
                r.nacked.retain(|&seq, (at, tries)| {
                    if *tries >= 10 {
                        return false;
                    }
                    if *at <= now {
                        *tries += 1;
                        *at = now + Duration::from_millis(100);
                        lost.push(seq as u16);
                    }
                    true
                });
                if !lost.is_empty() {
                    let mut b = Vec::new();
                    Rtcp::Nack {
                        sender: rtcp_sender,
                        media: *ssrc,
                        lost,
                    }
                    .write_to(&mut b);
                    out.push((PacketKind::Rtcp, b));
                }
            }
        }
        for (kind, data) in out {
            self.net.send(now, link, Hop::Up(i), kind, data);
        }
    }

    /// Speaker changes seen so far, in order.
    pub fn speaker_changes(&self) -> Vec<(Timestamp, Option<ParticipantId>)> {
        self.events
            .iter()
            .filter_map(|(t, e)| match e {
                Event::SpeakerChanged { speaker, .. } => Some((*t, *speaker)),
                _ => None,
            })
            .collect()
    }

    /// A participant config for a room system: main window only.
    pub fn room_system() -> ParticipantConfig {
        ParticipantConfig {
            subscribe_all: false,
            main_window: true,
            ..ParticipantConfig::web("room system")
        }
    }
}

/// Checks a received stream is continuous: each packet in sequence order follows the previous
/// one by exactly one, and timestamps never go backwards.
pub fn assert_continuous(r: &Received) {
    let mut prev: Option<(u64, u32)> = None;
    let mut sorted: Vec<(u64, u32)> = Vec::new();
    let mut highest = None;
    for &(seq, ts, _, _) in &r.packets {
        let ext = pont_types::SeqNo::extend(highest.map(pont_types::SeqNo), seq).0;
        if highest.is_none_or(|h| ext > h) {
            highest = Some(ext);
        }
        sorted.push((ext, ts));
    }
    sorted.sort();
    sorted.dedup();
    for (seq, ts) in sorted {
        if let Some((ps, pts)) = prev {
            assert_eq!(seq, ps + 1, "sequence gap after {ps}");
            let d = ts.wrapping_sub(pts);
            assert!(
                d < u32::MAX / 2,
                "timestamp went backwards at seq {seq}: {pts} -> {ts}"
            );
        }
        prev = Some((seq, ts));
    }
}
