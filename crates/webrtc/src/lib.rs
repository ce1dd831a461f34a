//! pont's WebRTC legs: one [`WebLeg`] per browser, wrapping a `str0m::Rtc` in ICE-lite,
//! DTLS-SRTP and **RTP mode**, so media flows through pont's own media core (active speaker,
//! SSRC/sequence/timestamp rewrite, metrics) instead of str0m's depacketizer.
//!
//! What it must never do: open a socket, read a clock or spawn a task. The server owns the one
//! `--media` UDP socket and routes each datagram to the leg whose [`WebLeg::accepts`] says yes
//! (str0m's `Rtc::accepts`: the nominated remote address, or the STUN ufrag); time is an
//! `Instant` handed in by the caller.
//!
//! The mapping onto [`pont_media::MediaCore`]:
//!
//! - **browser → core**: every RTP packet str0m decrypts (RTX already unwrapped by str0m) is
//!   written back into plain RTP bytes, with the RFC 6464 audio level as a one-byte extension
//!   under [`AUDIO_LEVEL_EXT`], and handed out as [`LegEvent::Rtp`] for
//!   `MediaCore::handle_rtp`. The first packet of a new SSRC is preceded by
//!   [`LegEvent::Publish`] with the track to publish.
//! - **core → browser**: each `Event::StreamAdded` for this participant becomes a `sendonly`
//!   m-line in the next offer ([`WebLeg::add_stream`], [`WebLeg::poll_offer`]); the core's
//!   rewritten packets go out on that m-line's str0m send stream ([`WebLeg::send_rtp`]).
//! - **RTCP is terminated by str0m on each hop.** str0m sends SR/RR, answers the browser's
//!   NACKs from its own RTX cache, NACKs what it misses from the browser, and sends TWCC
//!   feedback so Chrome's congestion control ramps up. Only keyframe requests cross the
//!   boundary: a browser's PLI/FIR on a stream we send becomes [`LegEvent::Rtcp`] (a PLI for
//!   the core's SSRC of that stream), and the core's PLI/FIR to this publisher
//!   ([`WebLeg::send_rtcp`]) becomes `StreamRx::request_keyframe`. The core's own NACKs, SRs
//!   and RRs for a web leg are dropped: str0m already does them, per hop.
//!
//! Signalling is server-offers-only: the bridge always sends the offer and the browser always
//! answers, so there is never glare. The first offer has one `recvonly` audio and one
//! `recvonly` video m-line for what the browser publishes.
#![forbid(unsafe_code)]

pub mod loopback;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use pont_media::rtcp::Rtcp;
use pont_media::rtp::RtpPacket as CoreRtp;
use pont_media::{Codec, MediaKind, OutStream, TrackConfig};
use pont_types::{ParticipantId, Pt, Ssrc};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec as StrCodec;
use str0m::media::{Direction, Frequency, KeyframeRequestKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, SeqNo};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcError};
use tracing::{debug, trace, warn};

/// The RFC 8285 id of the RFC 6464 audio-level extension, both in the SDP str0m offers
/// (str0m's standard extension map puts it at 1) and in the RTP bytes handed to the core.
pub const AUDIO_LEVEL_EXT: u8 = 1;

/// Payload types the bridge offers. They are the ones `ParticipantConfig::web` tells the core,
/// so the core's rewritten packets need no PT mapping. Dynamic PTs as Chrome numbers them.
pub const PT_OPUS: Pt = Pt(111);
pub const PT_H264: Pt = Pt(102);
pub const PT_H264_RTX: Pt = Pt(103);
pub const PT_VP8: Pt = Pt(96);
pub const PT_VP8_RTX: Pt = Pt(97);

/// H.264 constrained baseline, level 3.1: what Chrome encodes with OpenH264 and what every
/// room system decodes (RFC 6184 §8.1 `profile-level-id`).
const H264_PROFILE_LEVEL_ID: u32 = 0x42e01f;

/// Errors of a leg's signalling.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The SDP did not parse.
    #[error("malformed SDP: {0}")]
    BadSdp(String),
    /// The answer has no `a=fingerprint`: DTLS-SRTP (RFC 5763 §5) cannot be authenticated.
    #[error("the SDP has no DTLS fingerprint")]
    NoFingerprint,
    /// No m-line of the answer accepted a codec the bridge offered.
    #[error("the SDP has no usable codec (the bridge offers Opus, H.264 and VP8)")]
    NoUsableCodec,
    /// An answer came while no offer was outstanding.
    #[error("no offer is waiting for an answer")]
    NoPendingOffer,
    /// str0m refused the answer.
    #[error("WebRTC: {0}")]
    Rtc(#[from] RtcError),
}

/// What a browser sees of an m-line the bridge sends it: whose track it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendLine {
    pub mid: String,
    pub kind: MediaKind,
    /// The participant whose track it carries.
    pub publisher: ParticipantId,
    /// It carries the publisher's shared screen (else its camera or microphone).
    pub screen: bool,
}

/// An offer for the browser.
#[derive(Debug, Clone)]
pub struct Offer {
    pub sdp: String,
    /// Every m-line the bridge currently sends on, with its publisher.
    pub lines: Vec<SendLine>,
    /// The m-lines on which the browser should send its microphone and camera.
    pub publish_audio_mid: Option<String>,
    pub publish_video_mid: Option<String>,
    /// The m-line on which the browser sends its shared screen, when it shares.
    pub publish_screen_mid: Option<String>,
}

/// Something the server must act on after driving a leg.
#[derive(Debug)]
#[non_exhaustive]
pub enum LegEvent {
    /// A datagram for the shared UDP socket.
    Transmit {
        source: SocketAddr,
        destination: SocketAddr,
        contents: Vec<u8>,
    },
    /// The browser publishes a new track: `MediaCore::publish` it before the next `Rtp`.
    Publish(TrackConfig),
    /// The browser publishes its shared screen (a video track on the screen m-line).
    PublishScreen(TrackConfig),
    /// Plain RTP from the browser for `MediaCore::handle_rtp`.
    Rtp(Vec<u8>),
    /// RTCP from the browser for `MediaCore::handle_rtcp` (keyframe requests).
    Rtcp(Vec<u8>),
    /// ICE and DTLS are up.
    Connected,
    /// The leg is over (DTLS closed, ICE lost or timed out): remove the participant.
    Closed,
}

#[derive(Debug)]
struct SendSlot {
    core_ssrc: Ssrc,
    kind: MediaKind,
    publisher: ParticipantId,
    screen: bool,
    /// Last extended sequence number written: str0m wants extended numbers.
    last_seq: Option<SeqNo>,
    active: bool,
    /// On a viewer's leg (the peer offered): the payload type its offer gave our codec.
    viewer_pt: Option<u8>,
}

/// What a viewer's offer (WHEP) lets the bridge send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewerTracks {
    /// It takes audio (Opus).
    pub audio: bool,
    /// It takes video (H.264 constrained baseline).
    pub video: bool,
}

/// A stream the core added, waiting for the next offer.
#[derive(Debug, Clone, Copy)]
struct WantAdd {
    stream: OutStream,
    publisher: ParticipantId,
    screen: bool,
}

/// One browser's WebRTC connection.
pub struct WebLeg {
    rtc: Rtc,
    pending: Option<SdpPendingOffer>,
    first_offer_done: bool,
    publish_audio: Option<Mid>,
    publish_video: Option<Mid>,
    publish_screen: Option<Mid>,
    send: BTreeMap<Mid, SendSlot>,
    want_add: Vec<WantAdd>,
    want_remove: Vec<Ssrc>,
    published: Vec<u32>,
    events: VecDeque<LegEvent>,
    next_timeout: Option<Instant>,
    closed: bool,
    connected: bool,
    /// Our ICE username fragment: a browser's STUN requests name it first in USERNAME.
    ufrag: String,
    /// On a publisher's leg (WHIP: the peer offered), its payload types mapped to the
    /// bridge's ([`PT_OPUS`], [`PT_H264`], [`PT_VP8`]), which the core forwards under.
    pt_map: Vec<(u8, Pt)>,
}

impl std::fmt::Debug for WebLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebLeg")
            .field("connected", &self.connected)
            .field("closed", &self.closed)
            .field("send_lines", &self.send.len())
            .finish_non_exhaustive()
    }
}

impl WebLeg {
    /// A leg advertising `candidates` (every address of the media socket, plus the public IP)
    /// as ICE-lite host candidates.
    pub fn new(now: Instant, candidates: &[SocketAddr]) -> Self {
        Self::with_rtc(Self::build_rtc(now, candidates))
    }

    /// A viewer's leg (WHEP, RFC 9725 §4.2's playback sibling): the viewer sends the offer, with
    /// `recvonly` m-lines; the bridge answers `sendonly` on the first audio m-line that takes
    /// Opus and the first video m-line that takes H.264, and sends on them with
    /// [`Self::send_viewer`]. Anything the viewer would send is ignored. Returns the leg, the
    /// answer, and what it takes.
    pub fn from_offer(
        now: Instant,
        candidates: &[SocketAddr],
        offer: &str,
    ) -> Result<(Self, String, ViewerTracks), WebError> {
        check_answer(offer)?;
        let parsed =
            SdpOffer::from_sdp_string(offer).map_err(|e| WebError::BadSdp(e.to_string()))?;
        let mut leg = Self::with_rtc(Self::build_rtc(now, candidates));
        let answer = leg.rtc.sdp_api().accept_offer(parsed)?;
        leg.first_offer_done = true;
        let mut tracks = ViewerTracks {
            audio: false,
            video: false,
        };
        let mids: Vec<Mid> = offer_mids(offer);
        for mid in mids {
            let Some(media) = leg.rtc.media(mid) else {
                continue;
            };
            if !media.direction().is_sending() {
                continue;
            }
            let audio = media.kind().is_audio();
            let kind = if audio {
                MediaKind::Audio
            } else {
                MediaKind::Video
            };
            let taken = if audio { tracks.audio } else { tracks.video };
            if taken {
                continue;
            }
            let remote = media.remote_pts().to_vec();
            let pt = leg
                .rtc
                .codec_config()
                .iter()
                .filter(|p| remote.contains(&p.pt()))
                .find(|p| {
                    let codec = p.spec().codec;
                    if audio {
                        codec == StrCodec::Opus
                    } else {
                        codec == StrCodec::H264
                            && p.spec().format.profile_level_id.is_none_or(|id| {
                                // Constrained baseline (42e0/42c0) at any level: what we encode.
                                id >> 8 == 0x42e0 || id >> 8 == 0x42c0
                            })
                            && p.spec().format.packetization_mode == Some(1)
                    }
                })
                .map(|p| *p.pt());
            let Some(pt) = pt else {
                continue;
            };
            if audio {
                tracks.audio = true;
            } else {
                tracks.video = true;
            }
            leg.send.insert(
                mid,
                SendSlot {
                    core_ssrc: viewer_ssrc(kind),
                    kind,
                    publisher: ParticipantId(0),
                    screen: false,
                    last_seq: None,
                    active: true,
                    viewer_pt: Some(pt),
                },
            );
        }
        if !tracks.audio && !tracks.video {
            return Err(WebError::NoUsableCodec);
        }
        leg.drive();
        Ok((leg, answer.to_sdp_string(), tracks))
    }

    /// A publisher's leg (WHIP, RFC 9725): the client sends the offer with `sendonly` audio
    /// and/or video; the bridge answers `recvonly` and takes what arrives as this participant's
    /// microphone and camera ([`LegEvent::Publish`], then [`LegEvent::Rtp`] under the bridge's
    /// own payload types, whatever numbers the client's offer used). It receives nothing.
    /// Returns the leg and the answer.
    pub fn from_publisher_offer(
        now: Instant,
        candidates: &[SocketAddr],
        offer: &str,
    ) -> Result<(Self, String), WebError> {
        check_answer(offer)?;
        let parsed =
            SdpOffer::from_sdp_string(offer).map_err(|e| WebError::BadSdp(e.to_string()))?;
        let mut leg = Self::with_rtc(Self::build_rtc(now, candidates));
        let answer = leg.rtc.sdp_api().accept_offer(parsed)?;
        leg.first_offer_done = true;
        for mid in offer_mids(offer) {
            let Some(media) = leg.rtc.media(mid) else {
                continue;
            };
            if !media.direction().is_receiving() {
                continue;
            }
            let audio = media.kind().is_audio();
            if audio && leg.publish_audio.is_none() {
                leg.publish_audio = Some(mid);
            } else if !audio && leg.publish_video.is_none() {
                leg.publish_video = Some(mid);
            }
            let remote = media.remote_pts().to_vec();
            for p in leg.rtc.codec_config().iter() {
                if !remote.contains(&p.pt()) {
                    continue;
                }
                let ours = match p.spec().codec {
                    StrCodec::Opus => PT_OPUS,
                    StrCodec::Vp8 => PT_VP8,
                    StrCodec::H264
                        if p.spec().format.packetization_mode == Some(1)
                            && p.spec()
                                .format
                                .profile_level_id
                                .is_none_or(|id| id >> 8 == 0x42e0 || id >> 8 == 0x42c0) =>
                    {
                        PT_H264
                    }
                    _ => continue,
                };
                leg.pt_map.push((*p.pt(), ours));
            }
        }
        if leg.pt_map.is_empty() {
            return Err(WebError::NoUsableCodec);
        }
        leg.drive();
        Ok((leg, answer.to_sdp_string()))
    }

    fn build_rtc(now: Instant, candidates: &[SocketAddr]) -> Rtc {
        let mut config = Rtc::builder()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs();
        let codecs = config.codec_config();
        codecs.add_config(
            str0m::media::Pt::from(PT_OPUS.0),
            None,
            StrCodec::Opus,
            Frequency::FORTY_EIGHT_KHZ,
            Some(2),
            str0m::format::FormatParams {
                min_p_time: Some(10),
                use_inband_fec: Some(true),
                ..Default::default()
            },
        );
        // H.264 first: the browser sends the first codec of the offer it supports.
        codecs.add_h264(
            PT_H264.0.into(),
            Some(PT_H264_RTX.0.into()),
            true,
            H264_PROFILE_LEVEL_ID,
        );
        codecs.add_config(
            PT_VP8.0.into(),
            Some(PT_VP8_RTX.0.into()),
            StrCodec::Vp8,
            Frequency::NINETY_KHZ,
            None,
            Default::default(),
        );
        let mut rtc = config.build(now);
        for &addr in candidates {
            match Candidate::host(addr, "udp") {
                Ok(c) => {
                    rtc.add_local_candidate(c);
                }
                Err(e) => warn!(error = %e, "unusable ICE candidate address"),
            }
        }
        rtc
    }

    fn with_rtc(mut rtc: Rtc) -> Self {
        let ufrag = rtc.direct_api().local_ice_credentials().ufrag;
        Self {
            rtc,
            pending: None,
            first_offer_done: false,
            publish_audio: None,
            publish_video: None,
            publish_screen: None,
            send: BTreeMap::new(),
            want_add: Vec::new(),
            want_remove: Vec::new(),
            published: Vec::new(),
            events: VecDeque::new(),
            next_timeout: None,
            closed: false,
            connected: false,
            ufrag,
            pt_map: Vec::new(),
        }
    }

    /// Our ICE username fragment (what the browser's STUN USERNAME starts with): a shard
    /// routes a STUN request from a new address by it, without asking every leg.
    pub fn ice_ufrag(&self) -> &str {
        &self.ufrag
    }

    // ---- getters ----

    /// Whether this datagram belongs to this leg (`Rtc::accepts`).
    pub fn accepts(
        &self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &[u8],
    ) -> bool {
        if self.closed {
            return false;
        }
        match Receive::new(Protocol::Udp, source, destination, contents) {
            Ok(r) => self.rtc.accepts(&Input::Receive(now, r)),
            Err(_) => false,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// When [`Self::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed { None } else { self.next_timeout }
    }

    /// Whether an offer waits for its answer.
    pub fn offer_outstanding(&self) -> bool {
        self.pending.is_some()
    }

    // ---- network and timer input ----

    /// A datagram the socket received for this leg. Garbage is dropped silently.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &[u8],
    ) {
        let Ok(r) = Receive::new(Protocol::Udp, source, destination, contents) else {
            trace!("unparseable datagram dropped");
            return;
        };
        if let Err(e) = self.rtc.handle_input(Input::Receive(now, r)) {
            // str0m drops bad SRTP/STUN itself; an error here is a broken leg.
            debug!(error = %e, "leg input failed");
            self.close();
        }
        self.drive();
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            debug!(error = %e, "leg timeout failed");
            self.close();
        }
        self.drive();
    }

    // ---- commands ----

    /// The core added a stream for this participant: announce it in the next offer.
    /// The core added a stream for this participant: `publisher`'s track (its shared screen
    /// when `screen`), on a new m-line in the next offer.
    pub fn add_stream(&mut self, stream: OutStream, publisher: ParticipantId, screen: bool) {
        self.want_add.push(WantAdd {
            stream,
            publisher,
            screen,
        });
    }

    /// The core removed a stream: its m-line goes inactive in the next offer.
    pub fn remove_stream(&mut self, ssrc: Ssrc) {
        if let Some(i) = self.want_add.iter().position(|w| w.stream.ssrc == ssrc) {
            self.want_add.remove(i);
            return;
        }
        self.want_remove.push(ssrc);
    }

    /// The next offer, if something changed and no offer is outstanding.
    pub fn poll_offer(&mut self) -> Option<Offer> {
        if self.closed || self.pending.is_some() {
            return None;
        }
        if self.first_offer_done && self.want_add.is_empty() && self.want_remove.is_empty() {
            return None;
        }
        let mut api = self.rtc.sdp_api();
        if !self.first_offer_done {
            self.publish_audio = Some(api.add_media(
                str0m::media::MediaKind::Audio,
                Direction::RecvOnly,
                None,
                None,
                None,
            ));
            self.publish_video = Some(api.add_media(
                str0m::media::MediaKind::Video,
                Direction::RecvOnly,
                None,
                None,
                None,
            ));
            self.publish_screen = Some(api.add_media(
                str0m::media::MediaKind::Video,
                Direction::RecvOnly,
                None,
                None,
                None,
            ));
        }
        for ssrc in self.want_remove.drain(..) {
            if let Some((&mid, slot)) = self
                .send
                .iter_mut()
                .find(|(_, s)| s.active && s.core_ssrc == ssrc)
            {
                slot.active = false;
                api.set_direction(mid, Direction::Inactive);
            }
        }
        for w in self.want_add.drain(..) {
            let kind = match w.stream.kind {
                MediaKind::Audio => str0m::media::MediaKind::Audio,
                MediaKind::Video => str0m::media::MediaKind::Video,
            };
            // One MediaStream per publisher in the browser: msid stream id = participant.
            let mid = api.add_media(
                kind,
                Direction::SendOnly,
                Some(format!("p{}", w.publisher.0)),
                Some(format!("s{}", w.stream.ssrc.0)),
                None,
            );
            self.send.insert(
                mid,
                SendSlot {
                    core_ssrc: w.stream.ssrc,
                    kind: w.stream.kind,
                    publisher: w.publisher,
                    screen: w.screen,
                    last_seq: None,
                    active: true,
                    viewer_pt: None,
                },
            );
        }
        let (offer, pending) = api.apply()?;
        self.first_offer_done = true;
        self.pending = Some(pending);
        Some(Offer {
            sdp: offer.to_sdp_string(),
            lines: self
                .send
                .iter()
                .filter(|(_, s)| s.active)
                .map(|(mid, s)| SendLine {
                    mid: mid.to_string(),
                    kind: s.kind,
                    publisher: s.publisher,
                    screen: s.screen,
                })
                .collect(),
            publish_audio_mid: self.publish_audio.map(|m| m.to_string()),
            publish_video_mid: self.publish_video.map(|m| m.to_string()),
            publish_screen_mid: self.publish_screen.map(|m| m.to_string()),
        })
    }

    /// The browser's answer to the outstanding offer.
    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), WebError> {
        check_answer(sdp)?;
        let answer =
            SdpAnswer::from_sdp_string(sdp).map_err(|e| WebError::BadSdp(e.to_string()))?;
        let pending = self.pending.take().ok_or(WebError::NoPendingOffer)?;
        self.rtc.sdp_api().accept_answer(pending, answer)?;
        self.drive();
        Ok(())
    }

    /// A packet the core wrote for this participant: RTP goes out on its m-line; RTCP
    /// keyframe requests become str0m requests; the rest is str0m's own job (see crate docs).
    pub fn send_core_packet(&mut self, now: Instant, rtcp: bool, packet: &[u8]) {
        if rtcp {
            self.send_rtcp(packet);
        } else {
            self.send_rtp(now, packet);
        }
    }

    /// Forwards one rewritten RTP packet from the core.
    pub fn send_rtp(&mut self, now: Instant, packet: &[u8]) {
        if self.closed || !self.connected {
            return;
        }
        let Ok(p) = CoreRtp::parse(packet) else {
            return;
        };
        let Some((&mid, slot)) = self
            .send
            .iter_mut()
            .find(|(_, s)| s.active && s.core_ssrc == p.ssrc)
        else {
            return;
        };
        let Some(seq) = extend_seq(slot.last_seq, p.seq) else {
            return;
        };
        if slot.last_seq.is_none_or(|l| seq > l) {
            slot.last_seq = Some(seq);
        }
        let mut ext = ExtensionValues::default();
        if let Some((vad, level)) = p.audio_level(AUDIO_LEVEL_EXT) {
            ext.audio_level = Some(-(level.neg_dbov() as i8));
            ext.voice_activity = Some(vad);
        }
        let video = slot.kind == MediaKind::Video;
        let mut api = self.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, None) else {
            return;
        };
        tx.write_rtp(
            RtpWrite::new(p.pt.0.into(), seq, p.timestamp, now, p.payload())
                .marker(p.marker)
                .ext_vals(ext)
                .nackable(video),
        );
        self.drive();
    }

    /// One packet of the room's composed video or mixed audio for a viewer's leg
    /// ([`Self::from_offer`]), on the m-line of that kind, with the payload type the viewer's
    /// offer gave our codec. Dropped until the leg is connected, or when the viewer takes no
    /// media of that kind.
    pub fn send_viewer(&mut self, now: Instant, kind: MediaKind, p: ViewerPacket<'_>) {
        if self.closed || !self.connected {
            return;
        }
        let Some((&mid, slot)) = self
            .send
            .iter_mut()
            .find(|(_, s)| s.active && s.kind == kind && s.viewer_pt.is_some())
        else {
            return;
        };
        let Some(pt) = slot.viewer_pt else {
            return;
        };
        let Some(seq) = extend_seq(slot.last_seq, p.seq) else {
            return;
        };
        if slot.last_seq.is_none_or(|l| seq > l) {
            slot.last_seq = Some(seq);
        }
        let video = kind == MediaKind::Video;
        let mut api = self.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, None) else {
            return;
        };
        tx.write_rtp(
            RtpWrite::new(pt.into(), seq, p.timestamp, now, p.payload)
                .marker(p.marker)
                .nackable(video),
        );
        self.drive();
    }

    /// The core's RTCP for this participant: PLI/FIR become str0m keyframe requests on the
    /// browser's stream; SR/RR/NACK are dropped (str0m reports and NACKs on this hop itself).
    pub fn send_rtcp(&mut self, packet: &[u8]) {
        if self.closed {
            return;
        }
        let mut items = Vec::new();
        // Whatever parsed before an error is still acted on.
        let _ = pont_media::rtcp::parse_compound(packet, &mut items);
        let mut api = self.rtc.direct_api();
        for item in items {
            let (ssrcs, kind) = match item {
                Rtcp::Pli { media, .. } => (vec![media], KeyframeRequestKind::Pli),
                Rtcp::Fir { entries, .. } => (
                    entries.into_iter().map(|(s, _)| s).collect(),
                    KeyframeRequestKind::Fir,
                ),
                _ => continue,
            };
            for ssrc in ssrcs {
                if let Some(rx) = api.stream_rx(&ssrc.0.into()) {
                    rx.request_keyframe(kind);
                }
            }
        }
        self.drive();
    }

    /// Ends the leg (participant left): str0m sends its DTLS close.
    pub fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.rtc.disconnect();
            self.events.push_back(LegEvent::Closed);
        }
    }

    // ---- output ----

    /// The next thing for the server to do, in order.
    pub fn poll_event(&mut self) -> Option<LegEvent> {
        self.events.pop_front()
    }

    /// Drains str0m's outputs into our event queue until it names its next timeout.
    fn drive(&mut self) {
        loop {
            if !self.rtc.is_alive() {
                if !self.closed {
                    self.closed = true;
                    self.events.push_back(LegEvent::Closed);
                }
                self.next_timeout = None;
                return;
            }
            let out = match self.rtc.poll_output() {
                Ok(o) => o,
                Err(e) => {
                    debug!(error = %e, "leg output failed");
                    self.close();
                    return;
                }
            };
            match out {
                Output::Timeout(at) => {
                    self.next_timeout = Some(at);
                    return;
                }
                Output::Transmit(t) => self.events.push_back(LegEvent::Transmit {
                    source: t.source,
                    destination: t.destination,
                    contents: t.contents.to_vec(),
                }),
                Output::Event(e) => self.handle_event(e),
            }
        }
    }

    fn handle_event(&mut self, e: Event) {
        match e {
            Event::Connected => {
                self.connected = true;
                self.events.push_back(LegEvent::Connected);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                debug!("ICE disconnected");
                self.close();
            }
            Event::Closed => self.close(),
            Event::RtpPacket(p) => self.handle_rtp(&p),
            Event::KeyframeRequest(req) => {
                if let Some(slot) = self.send.get(&req.mid) {
                    let mut buf = Vec::new();
                    Rtcp::Pli {
                        sender: Ssrc(0),
                        media: slot.core_ssrc,
                    }
                    .write_to(&mut buf);
                    self.events.push_back(LegEvent::Rtcp(buf));
                }
            }
            _ => {}
        }
    }

    fn handle_rtp(&mut self, p: &RtpPacket) {
        // Padding-only packets are bandwidth probes: nothing to forward.
        if p.payload.is_empty() {
            return;
        }
        let h = &p.header;
        let ssrc: u32 = *h.ssrc;
        let pt = match self
            .pt_map
            .iter()
            .find(|(theirs, _)| *theirs == *h.payload_type)
        {
            Some((_, ours)) => ours.0,
            None if self.pt_map.is_empty() => *h.payload_type,
            // A publisher's codec the bridge did not take (another H.264 profile): dropped.
            None => return,
        };
        if !self.published.contains(&ssrc) {
            let Some(codec) = codec_of(Pt(pt)) else {
                trace!(pt, "RTP with a payload type we did not offer");
                return;
            };
            self.published.push(ssrc);
            let audio = codec.kind() == MediaKind::Audio;
            let track = TrackConfig {
                codec,
                pt: Pt(pt),
                ssrc: Some(Ssrc(ssrc)),
                // str0m unwraps RTX itself; the core sees repaired packets on the main SSRC.
                rtx: None,
                audio_level_ext: audio.then_some(AUDIO_LEVEL_EXT),
            };
            // Which m-line it came on: the screen's, or the camera's and microphone's.
            let mid = self
                .rtc
                .direct_api()
                .stream_rx(&str0m::rtp::Ssrc::from(ssrc))
                .map(|s| s.mid());
            if !audio && mid.is_some() && mid == self.publish_screen {
                self.events.push_back(LegEvent::PublishScreen(track));
            } else {
                self.events.push_back(LegEvent::Publish(track));
            }
        }
        let level = h.ext_vals.audio_level.map(|l| {
            let neg = (-i16::from(l)).clamp(0, 127) as u8;
            let vad = h.ext_vals.voice_activity.unwrap_or(neg < 127);
            (u8::from(vad) << 7) | neg
        });
        let mut buf = Vec::with_capacity(16 + p.payload.len());
        write_rtp(
            &mut buf,
            RtpFields {
                marker: h.marker,
                pt,
                seq: h.sequence_number,
                timestamp: h.timestamp,
                ssrc,
                audio_level: level,
            },
            &p.payload,
        );
        self.events.push_back(LegEvent::Rtp(buf));
    }
}

/// One RTP packet's fields for [`WebLeg::send_viewer`].
#[derive(Debug, Clone, Copy)]
pub struct ViewerPacket<'a> {
    pub seq: u16,
    pub timestamp: u32,
    pub marker: bool,
    pub payload: &'a [u8],
}

/// The stand-in core SSRC of a viewer's send slot: a keyframe request from a viewer names it
/// in the [`LegEvent::Rtcp`] PLI (the server only needs to know a viewer asked).
fn viewer_ssrc(kind: MediaKind) -> Ssrc {
    match kind {
        MediaKind::Audio => Ssrc(1),
        MediaKind::Video => Ssrc(2),
    }
}

/// The `a=mid` values of an SDP, in m-line order.
fn offer_mids(sdp: &str) -> Vec<Mid> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("a=mid:"))
        .map(|m| Mid::from(m.trim()))
        .collect()
}

/// The codec of a payload type the bridge offers.
pub fn codec_of(pt: Pt) -> Option<Codec> {
    match pt {
        PT_OPUS => Some(Codec::Opus),
        PT_H264 => Some(Codec::H264),
        PT_VP8 => Some(Codec::Vp8),
        _ => None,
    }
}

/// Extends a 16-bit sequence number against the last one sent (RFC 3550 §A.1 style): the
/// first stays below 65536, as str0m requires when the receiver was told no ROC. `None` for a
/// late packet from before the first one (nothing to place it at).
fn extend_seq(last: Option<SeqNo>, seq: u16) -> Option<SeqNo> {
    const CYCLE: u64 = 1 << 16;
    let Some(last) = last else {
        return Some(SeqNo::from(u64::from(seq)));
    };
    // Extend one cycle up, so a packet from just before a first number near 0 stays below.
    let ext = pont_types::SeqNo::extend(Some(pont_types::SeqNo(*last + CYCLE)), seq);
    ext.0.checked_sub(CYCLE).map(SeqNo::from)
}

/// Fields of a plain RTP packet rebuilt for the core.
#[derive(Debug, Clone, Copy)]
struct RtpFields {
    marker: bool,
    pt: u8,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
    /// RFC 6464 byte: V flag and -dBov level.
    audio_level: Option<u8>,
}

/// RFC 3550 §5.1 header, then (if any) an RFC 8285 one-byte extension block with the audio
/// level, then the payload.
fn write_rtp(buf: &mut Vec<u8>, f: RtpFields, payload: &[u8]) {
    let x = if f.audio_level.is_some() { 0x10 } else { 0 };
    buf.push(0x80 | x);
    buf.push((u8::from(f.marker) << 7) | (f.pt & 0x7f));
    buf.extend_from_slice(&f.seq.to_be_bytes());
    buf.extend_from_slice(&f.timestamp.to_be_bytes());
    buf.extend_from_slice(&f.ssrc.to_be_bytes());
    if let Some(level) = f.audio_level {
        // 0xBEDE, one 32-bit word: ID | L=0 (one byte), the level, two bytes of padding.
        buf.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01]);
        buf.extend_from_slice(&[AUDIO_LEVEL_EXT << 4, level, 0, 0]);
    }
    buf.extend_from_slice(payload);
}

/// Checks what str0m would accept too loosely: a fingerprint, and a codec we offered on at
/// least one m-line that is not rejected (port 0).
fn check_answer(sdp: &str) -> Result<(), WebError> {
    if !sdp.trim_start().starts_with("v=0") {
        return Err(WebError::BadSdp("not an SDP (no v=0 line)".into()));
    }
    if !sdp
        .lines()
        .any(|l| l.trim_start().starts_with("a=fingerprint:"))
    {
        return Err(WebError::NoFingerprint);
    }
    let mut usable = false;
    let mut in_live_mline = false;
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            in_live_mline = m.split_whitespace().nth(1).is_some_and(|port| port != "0");
        } else if in_live_mline && let Some(rtpmap) = line.strip_prefix("a=rtpmap:") {
            let name = rtpmap
                .split_whitespace()
                .nth(1)
                .and_then(|e| e.split('/').next())
                .unwrap_or("");
            if ["opus", "H264", "VP8"]
                .iter()
                .any(|c| c.eq_ignore_ascii_case(name))
            {
                usable = true;
            }
        }
    }
    if usable {
        Ok(())
    } else {
        Err(WebError::NoUsableCodec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilt_rtp_carries_the_audio_level_for_the_core() {
        let mut buf = Vec::new();
        write_rtp(
            &mut buf,
            RtpFields {
                marker: true,
                pt: 111,
                seq: 65535,
                timestamp: 960,
                ssrc: 0x1234_5678,
                audio_level: Some(0x80 | 6),
            },
            &[1, 2, 3],
        );
        let p = CoreRtp::parse(&buf).expect("valid RTP");
        assert!(p.marker);
        assert_eq!(p.pt, Pt(111));
        assert_eq!(p.seq, 65535);
        assert_eq!(p.timestamp, 960);
        assert_eq!(p.ssrc, Ssrc(0x1234_5678));
        assert_eq!(p.payload(), &[1, 2, 3]);
        let (vad, level) = p.audio_level(AUDIO_LEVEL_EXT).expect("level");
        assert!(vad);
        assert_eq!(level.neg_dbov(), 6);
    }

    #[test]
    fn answers_without_fingerprint_or_codec_are_refused() {
        let no_fp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
        assert!(matches!(check_answer(no_fp), Err(WebError::NoFingerprint)));
        let no_codec = "v=0\r\na=fingerprint:sha-256 AA\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n";
        assert!(matches!(
            check_answer(no_codec),
            Err(WebError::NoUsableCodec)
        ));
        let rejected = "v=0\r\na=fingerprint:sha-256 AA\r\nm=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
        assert!(matches!(
            check_answer(rejected),
            Err(WebError::NoUsableCodec)
        ));
        assert!(matches!(check_answer("hello"), Err(WebError::BadSdp(_))));
    }

    #[test]
    fn sequence_numbers_extend_across_wraparound() {
        let a = extend_seq(None, 65535).expect("first");
        assert_eq!(*a, 65535);
        let b = extend_seq(Some(a), 0).expect("after wrap");
        assert_eq!(*b, 65536);
        let first = extend_seq(None, 2).expect("first");
        assert_eq!(
            extend_seq(Some(first), 65534),
            None,
            "late packet before the first"
        );
        assert_eq!(extend_seq(Some(first), 1).map(|s| *s), Some(1));
    }

    /// A viewer's offer as a browser makes it: `recvonly` audio and video (str0m stands in for
    /// the browser, with Chrome's codecs and other payload type numbers than ours).
    fn viewer_offer(audio: bool, video: bool) -> String {
        peer_offer(Direction::RecvOnly, audio, video)
    }

    /// An offer str0m makes standing in for a browser, with Chrome's codecs under other
    /// payload type numbers than ours (H.264 constrained baseline at 125, High at 108).
    fn peer_offer(direction: Direction, audio: bool, video: bool) -> String {
        let mut config = Rtc::builder().clear_codecs().enable_opus(true, false);
        let codecs = config.codec_config();
        codecs.add_h264(125.into(), Some(107.into()), true, 0x42e01f);
        codecs.add_h264(108.into(), Some(109.into()), true, 0x640c1f);
        let mut rtc = config.build(Instant::now());
        let mut api = rtc.sdp_api();
        let kinds = [
            (audio, str0m::media::MediaKind::Audio),
            (video, str0m::media::MediaKind::Video),
        ];
        for (_, kind) in kinds.into_iter().filter(|(wanted, _)| *wanted) {
            api.add_media(kind, direction, None, None, None);
        }
        let (offer, _pending) = api.apply().expect("an offer");
        offer.to_sdp_string()
    }

    /// 50 packets of `kind` sent to a viewer connected in memory; what it decrypted.
    fn send_to_a_viewer(kind: MediaKind) -> loopback::Received {
        let mut lb = loopback::Loopback::connect(Instant::now()).expect("answered");
        assert!(lb.leg.is_connected(), "ICE and DTLS came up in memory");
        let payload = [0x65_u8; 900];
        for i in 0..50u16 {
            let now = lb.now();
            let (timestamp, payload) = match kind {
                MediaKind::Video => (90 * u32::from(i), &payload[..]),
                MediaKind::Audio => (960 * u32::from(i), &[0xfc, 0xff, 0xfe][..]),
            };
            let packet = ViewerPacket {
                seq: 1000 + i,
                timestamp,
                marker: i % 5 == 4,
                payload,
            };
            lb.leg.send_viewer(now, kind, packet);
            // str0m paces what it sends: the packets leave on its next timeout.
            lb.step();
        }
        lb.received
    }

    #[test]
    fn a_viewer_connects_and_gets_what_is_sent_on_its_own_payload_types() {
        // One kind per viewer: str0m as the receiving peer (standing in for the browser)
        // delivers only one of the two streams when both flow (which one varies from run to
        // run), though the leg sends both; Chromium receives both (tests/tests/live_stream.rs).
        let video = send_to_a_viewer(MediaKind::Video);
        assert_eq!(video.video_packets, 50, "{video:?}");
        assert_eq!(
            video.video_pt,
            Some(125),
            "the viewer's own H.264 PT, not ours (102)"
        );
        assert_eq!(video.bytes, 50 * 900);
        let audio = send_to_a_viewer(MediaKind::Audio);
        assert_eq!(audio.audio_packets, 50, "{audio:?}");
        assert_eq!(audio.audio_pt, Some(111));
    }

    #[test]
    fn a_publishers_offer_is_answered_recvonly_and_its_payload_types_mapped_to_ours() {
        let cand = ["127.0.0.1:10000".parse().expect("addr")];
        let (leg, answer) = WebLeg::from_publisher_offer(
            Instant::now(),
            &cand,
            &peer_offer(Direction::SendOnly, true, true),
        )
        .expect("answered");
        assert!(answer.contains("a=recvonly"), "{answer}");
        assert!(leg.publish_audio.is_some() && leg.publish_video.is_some());
        assert!(leg.pt_map.contains(&(125, PT_H264)), "{:?}", leg.pt_map);
        assert!(leg.pt_map.contains(&(111, PT_OPUS)), "{:?}", leg.pt_map);
        // The High profile is not mapped: its packets are dropped, not forwarded as ours.
        assert!(!leg.pt_map.iter().any(|(theirs, _)| *theirs == 108));
        assert!(leg.send.is_empty(), "a publisher receives nothing");
        assert!(matches!(
            WebLeg::from_publisher_offer(Instant::now(), &cand, "v=0\r\nnonsense"),
            Err(WebError::BadSdp(_) | WebError::NoFingerprint)
        ));
    }

    #[test]
    fn a_viewers_offer_is_answered_sendonly_with_its_own_payload_types() {
        let now = Instant::now();
        let cand = ["127.0.0.1:10000".parse().expect("addr")];
        let (leg, answer, tracks) =
            WebLeg::from_offer(now, &cand, &viewer_offer(true, true)).expect("answered");
        assert_eq!(
            tracks,
            ViewerTracks {
                audio: true,
                video: true
            }
        );
        assert!(answer.contains("a=sendonly"), "{answer}");
        assert!(answer.contains("a=ice-lite"), "{answer}");
        assert!(answer.contains("a=candidate:"), "{answer}");
        let video = leg
            .send
            .values()
            .find(|s| s.kind == MediaKind::Video)
            .expect("a video slot");
        assert_eq!(
            video.viewer_pt,
            Some(125),
            "the offer's constrained baseline PT"
        );
        assert!(!leg.is_connected());

        let (_, _, audio_only) =
            WebLeg::from_offer(now, &cand, &viewer_offer(true, false)).expect("answered");
        assert!(audio_only.audio && !audio_only.video);
    }

    #[test]
    fn viewer_offers_that_cannot_play_are_refused() {
        let now = Instant::now();
        let cand = ["127.0.0.1:10000".parse().expect("addr")];
        assert!(matches!(
            WebLeg::from_offer(now, &cand, "garbage"),
            Err(WebError::BadSdp(_))
        ));
        let no_fp = viewer_offer(true, true)
            .lines()
            .filter(|l| !l.starts_with("a=fingerprint"))
            .collect::<Vec<_>>()
            .join("\r\n");
        assert!(matches!(
            WebLeg::from_offer(now, &cand, &no_fp),
            Err(WebError::NoFingerprint)
        ));
        // Only a high-profile H.264 the composer does not encode: nothing to send.
        let high_only = viewer_offer(false, true)
            .lines()
            .filter(|l| !l.contains(":125") && !l.contains(":107"))
            .collect::<Vec<_>>()
            .join("\r\n")
            .replace(" 125 107", "");
        assert!(
            matches!(
                WebLeg::from_offer(now, &cand, &high_only),
                Err(WebError::NoUsableCodec)
            ),
            "{high_only}"
        );
    }

    #[test]
    fn first_offer_asks_the_browser_to_send_audio_and_video() {
        let now = Instant::now();
        let mut leg = WebLeg::new(now, &["127.0.0.1:10000".parse().expect("addr")]);
        let offer = leg.poll_offer().expect("first offer");
        assert!(offer.sdp.contains("a=ice-lite"));
        assert!(offer.sdp.contains("a=candidate:"));
        assert!(offer.sdp.contains("profile-level-id=42e01f"));
        assert!(
            offer
                .sdp
                .contains("urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
            "{}",
            offer.sdp
        );
        assert!(offer.publish_audio_mid.is_some() && offer.publish_video_mid.is_some());
        assert!(offer.publish_screen_mid.is_some());
        assert_ne!(offer.publish_screen_mid, offer.publish_video_mid);
        assert!(
            leg.poll_offer().is_none(),
            "one offer outstanding at a time"
        );
        assert!(matches!(
            leg.accept_answer("v=0\r\n"),
            Err(WebError::NoFingerprint)
        ));
    }
}

/// The ufrag a STUN request is addressed to: the part of its USERNAME attribute (RFC 8445
/// §7.2.2: `<receiver's ufrag>:<sender's ufrag>`) before the colon. `None` for anything that
/// is not a well-formed STUN message with a USERNAME.
pub fn stun_receiver_ufrag(datagram: &[u8]) -> Option<&str> {
    const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
    const USERNAME: u16 = 0x0006;
    let header = datagram.get(..20)?;
    // The two top bits of a STUN message are 0 (RFC 5389 §6), and the cookie is fixed.
    if header[0] & 0xc0 != 0 || header[4..8] != MAGIC_COOKIE {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let mut attrs = datagram.get(20..20 + len)?;
    while attrs.len() >= 4 {
        let kind = u16::from_be_bytes([attrs[0], attrs[1]]);
        let alen = usize::from(u16::from_be_bytes([attrs[2], attrs[3]]));
        let value = attrs.get(4..4 + alen)?;
        if kind == USERNAME {
            let username = std::str::from_utf8(value).ok()?;
            return username.split(':').next();
        }
        let padded = 4 + alen.div_ceil(4) * 4;
        attrs = attrs.get(padded..)?;
    }
    None
}

#[cfg(test)]
mod stun_tests {
    use super::stun_receiver_ufrag;

    fn stun(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (kind, value) in attrs {
            body.extend_from_slice(&kind.to_be_bytes());
            body.extend_from_slice(&(value.len() as u16).to_be_bytes());
            body.extend_from_slice(value);
            while body.len() % 4 != 0 {
                body.push(0);
            }
        }
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(body.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn the_receivers_ufrag_is_read_after_other_attributes() {
        // PRIORITY (4 bytes) before USERNAME, as Chrome sends them.
        let m = stun(&[(0x0024, &[0, 0, 0, 1]), (0x0006, b"bridgeUf:browserUf")]);
        assert_eq!(stun_receiver_ufrag(&m), Some("bridgeUf"));
        // A value whose length is not a multiple of 4 is padded before the next attribute.
        let m = stun(&[(0x8022, b"odd"), (0x0006, b"abc:de")]);
        assert_eq!(stun_receiver_ufrag(&m), Some("abc"));
    }

    #[test]
    fn anything_else_has_no_ufrag() {
        assert_eq!(stun_receiver_ufrag(b""), None);
        assert_eq!(stun_receiver_ufrag(&[0x80; 40]), None, "RTP (version 2)");
        assert_eq!(stun_receiver_ufrag(&stun(&[(0x0024, &[0, 0, 0, 1])])), None);
        let mut truncated = stun(&[(0x0006, b"abc:de")]);
        truncated.truncate(26);
        assert_eq!(stun_receiver_ufrag(&truncated), None);
        let mut no_cookie = stun(&[(0x0006, b"abc:de")]);
        no_cookie[4] = 0;
        assert_eq!(stun_receiver_ufrag(&no_cookie), None);
        // An attribute claiming more than the message holds.
        let mut lying = stun(&[(0x0006, b"abc:de")]);
        lying[22] = 0x40;
        assert_eq!(stun_receiver_ufrag(&lying), None);
    }
}
