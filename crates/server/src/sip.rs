//! The SIP task: UDP and TCP on `--sip`, the sans-IO [`SipEndpoint`], room lookup, and the RTP
//! port pairs of each call. Media itself is the media task's: a call that is answered becomes a
//! SIP participant there (see `media::sip_legs`).
//!
//! Addressing (DESIGN.md's public contract): `sip:<room>@<host>` joins room `<room>`,
//! `sip:<room>*<pin>@<host>` joins a room that has a PIN. The dial-in users (`[dialin] user`,
//! default `dialin`, and `[dialin] numbers`) reach the IVR.
//!
//! Every datagram and TCP message first passes the per-source limits of `[security]`
//! ([`SipGuard::check`]: floods, scanners, room guessing); what they drop never reaches the
//! endpoint.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use pont_meet::Store;
use pont_sip::sdp::{self, Codec, LocalMedia, NegotiationError};
use pont_sip::{
    CallHandle, EndpointConfig, Event, Frame, IncomingCall, SipEndpoint, StreamFramer, Transport,
};
use pont_types::{ParticipantId, Pii, RoomId};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{Instrument as _, debug, info, info_span, trace, warn};

use crate::admission::{AdmissionConfig, Load};
use crate::config::{DialinConfig, DialoutConfig, PortRange};
use crate::security::{SecurityConfig, SecurityCounters, SipGuard, SipVerdict};
pub(crate) use dialout::DialError;

mod dialout;
use crate::media::{
    Clock, IvrQuery, JoinReply, JoinSip, MediaHandle, SipJoinRefused, SipMedia, StartIvr,
};
use crate::rtp_leg::PortAllocator;

/// Largest SIP message accepted over TCP (RFC 3261 §18.1.1 asks for at least 64 KiB handling
/// of large messages over TCP; anything bigger is an attack or a bug: the connection closes).
const MAX_TCP_MESSAGE: usize = 64 * 1024;
/// Messages from TCP connections waiting for the SIP task.
const TCP_QUEUE: usize = 1024;
/// H.264 level we decode and forward: 3.1 (1280×720 at 30 fps), what room systems send.
const H264_MAX_LEVEL: u8 = 31;

/// What the SIP task needs to know.
#[derive(Debug, Clone)]
pub(crate) struct SipConfig {
    /// Host part of our Contact and Via (`public_ip` or the bind address).
    pub(crate) host: String,
    /// Address put in SDP `c=` lines: where peers send RTP to us.
    pub(crate) media_ip: IpAddr,
    /// Address our RTP sockets bind to (a wildcard behind 1:1 NAT).
    pub(crate) rtp_bind_ip: IpAddr,
    pub(crate) rtp_ports: PortRange,
    pub(crate) db: PathBuf,
    /// The dial-in users and numbers, their languages, the trunks allowed to call them.
    pub(crate) dialin: DialinConfig,
    /// Where `tel:` dial-outs go.
    pub(crate) dialout: DialoutConfig,
    /// When new calls are refused with 503.
    pub(crate) admission: AdmissionConfig,
    /// Per-source limits (floods, scanners, room guessing).
    pub(crate) security: SecurityConfig,
    pub(crate) security_counters: Arc<SecurityCounters>,
}

/// The bound SIP sockets.
#[derive(Debug)]
pub(crate) struct SipListeners {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    pub(crate) local: SocketAddr,
}

impl SipListeners {
    /// Binds UDP and TCP on the same address (and port, when 0 picks one for UDP).
    pub(crate) async fn bind(addr: SocketAddr) -> anyhow::Result<Self> {
        // Port 0: the port the system gives UDP may be taken for TCP by another program; try
        // a few others before giving up (a fixed port is tried once).
        let tries = if addr.port() == 0 { 8 } else { 1 };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let udp = UdpSocket::bind(addr)
                .await
                .with_context(|| format!("cannot bind SIP UDP on {addr}"))?;
            let local = udp.local_addr()?;
            match TcpListener::bind(local).await {
                Ok(tcp) => {
                    return Ok(Self {
                        udp: Arc::new(udp),
                        tcp,
                        local,
                    });
                }
                Err(e) if attempt < tries => {
                    debug!(error = %e, port = local.port(), "SIP TCP port taken: another port");
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot listen for SIP TCP on {local}"));
                }
            }
        }
    }
}

/// Requests from the media task (and the API's dial-out).
#[derive(Debug)]
pub(crate) enum SipCommand {
    /// Hang up with BYE: the call's media died (no RTP for the inactivity timeout), or the
    /// IVR said goodbye.
    Hangup(CallHandle),
    /// A dial-in caller keyed a room number that does not exist: it counts toward its
    /// source's room-guessing limit.
    WrongRoom(CallHandle),
    /// Call `uri` (`sip:` or `tel:`) into `room`.
    Dial {
        room: RoomId,
        uri: String,
        reply: tokio::sync::oneshot::Sender<Result<CallHandle, DialError>>,
    },
}

/// A message from a TCP connection.
enum TcpIn {
    Message(SocketAddr, Vec<u8>),
    Closed(SocketAddr),
}

struct Call {
    participant: Option<ParticipantId>,
    /// Our SDP answer, sent in the 200 once the media task has put the call in its room.
    answer: Option<String>,
    /// The room; `None` for a dial-in call (the IVR picks the room in the media task).
    room: Option<RoomId>,
    ports: Vec<u16>,
    audio_port: u16,
    video_port: Option<u16>,
    session_id: u64,
    session_version: u64,
    /// We placed it (dial-out): answered already when it joins.
    outgoing: bool,
    /// Where its INVITE came from (the room-guessing limit's key).
    source: IpAddr,
}

/// Starts the SIP task. `commands` is the sender the media task uses to ask for hang-ups.
pub(crate) fn spawn(
    listeners: SipListeners,
    config: SipConfig,
    media: MediaHandle,
    commands: (mpsc::Sender<SipCommand>, mpsc::Receiver<SipCommand>),
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let store = Store::open(&config.db)
        .with_context(|| format!("SIP: cannot open database {}", config.db.display()))?;
    let endpoint = SipEndpoint::new(EndpointConfig {
        host: config.host.clone(),
        port: listeners.local.port(),
        seed: rand::random(),
        ..EndpointConfig::default()
    });
    let guard = SipGuard::new(
        &config.security,
        &config.dialin.allowed_sources,
        config.security_counters.clone(),
    );
    let task = SipTask {
        guard,
        endpoint,
        clock: Clock::new(Instant::now()),
        udp: listeners.udp,
        tcp_out: HashMap::new(),
        store,
        media,
        ports: PortAllocator::new(config.rtp_ports),
        config,
        calls: HashMap::new(),
        pending: HashMap::new(),
        joins: mpsc::unbounded_channel(),
        commands_tx: commands.0,
        dialing: HashMap::new(),
    };
    Ok(tokio::spawn(
        task.run(listeners.tcp, commands.1, shutdown)
            .instrument(info_span!("sip")),
    ))
}

struct SipTask {
    /// Per-source limits, judged before the endpoint sees a message.
    guard: SipGuard,
    endpoint: SipEndpoint,
    clock: Clock,
    udp: Arc<UdpSocket>,
    tcp_out: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    store: Store,
    media: MediaHandle,
    ports: PortAllocator,
    config: SipConfig,
    calls: HashMap<CallHandle, Call>,
    /// Calls handed to the media task, not in their room yet (admission control's backlog).
    pending: HashMap<CallHandle, Call>,
    /// The media task's answers to joins.
    joins: (
        mpsc::UnboundedSender<JoinReply>,
        mpsc::UnboundedReceiver<JoinReply>,
    ),
    commands_tx: mpsc::Sender<SipCommand>,
    /// Calls we placed that are not answered yet.
    dialing: HashMap<CallHandle, dialout::Dialing>,
}

impl SipTask {
    async fn run(
        mut self,
        tcp: TcpListener,
        mut commands: mpsc::Receiver<SipCommand>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let (tcp_tx, mut tcp_rx) = mpsc::channel::<TcpIn>(TCP_QUEUE);
        let mut buf = vec![0u8; 65_536];
        info!("SIP endpoint running");
        loop {
            self.pump().await;
            let next = self.endpoint.poll_timeout().map(|t| self.clock.instant(t));
            // Work in progress before new work (overload control): due timers (our
            // retransmissions), the media task's answers and hang-ups come before the next
            // datagram, else a flood of INVITEs starves them and nothing ever completes.
            if next.is_some_and(|at| at <= Instant::now()) {
                self.endpoint.handle_timeout(self.clock.now());
                continue;
            }
            let wake = next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                Some(reply) = self.joins.1.recv() => self.join_done(reply).await,
                Some(cmd) = commands.recv() => match cmd {
                    SipCommand::Hangup(call) => {
                        info!(call = call.0, "the media task asks for BYE");
                        let _ = self.endpoint.hangup(self.clock.now(), call);
                        // The endpoint reports no `CallEnded` for a hang-up we asked for: the
                        // participant and its ports go now.
                        if let Some(d) = self.dialing.remove(&call) {
                            self.release(&d.call);
                        }
                        self.call_gone(call).await;
                    }
                    SipCommand::WrongRoom(call) => self.wrong_room_keyed(call).await,
                    SipCommand::Dial { room, uri, reply } => self.dial(room, uri, reply).await,
                },
                r = self.udp.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        let now = self.clock.now();
                        if self.guard.check(now, from.ip(), &buf[..n]) == SipVerdict::Serve {
                            self.endpoint.handle_receive(now, Transport::Udp, from, &buf[..n]);
                        }
                    }
                    Err(e) => trace!(error = %e, "SIP UDP read error"),
                },
                accepted = tcp.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let (out_tx, out_rx) = mpsc::channel(64);
                        self.tcp_out.insert(peer, out_tx);
                        tokio::spawn(tcp_connection(stream, peer, tcp_tx.clone(), out_rx));
                    }
                    Err(e) => warn!(error = %e, "SIP TCP accept failed"),
                },
                Some(msg) = tcp_rx.recv() => match msg {
                    TcpIn::Message(peer, data) => {
                        let now = self.clock.now();
                        if self.guard.check(now, peer.ip(), &data) == SipVerdict::Serve {
                            self.endpoint.handle_receive(now, Transport::Tcp, peer, &data);
                        }
                    }
                    TcpIn::Closed(peer) => {
                        self.tcp_out.remove(&peer);
                    }
                },
                () = tokio::time::sleep_until(wake), if next.is_some() => {
                    self.endpoint.handle_timeout(self.clock.now());
                }
            }
        }
        // SIGTERM/SIGINT: BYE to every call, sent before we go.
        let now = self.clock.now();
        // Calls still joining are refused (480), answered ones get BYE.
        let calls: Vec<CallHandle> = self
            .calls
            .keys()
            .chain(self.pending.keys())
            .copied()
            .collect();
        for call in calls {
            let _ = self.endpoint.hangup(now, call);
        }
        self.send_transmits().await;
        info!("SIP endpoint stopped");
    }

    async fn send_transmits(&mut self) {
        while let Some(t) = self.endpoint.poll_transmit() {
            match t.transport {
                Transport::Udp => {
                    if let Err(e) = self.udp.send_to(&t.payload, t.destination).await {
                        debug!(error = %e, to = %Pii(t.destination), "SIP UDP send failed");
                    }
                }
                Transport::Tcp => match self.tcp_out.get(&t.destination) {
                    Some(tx) => {
                        if tx.try_send(t.payload).is_err() {
                            debug!(to = %Pii(t.destination), "SIP TCP connection backed up or gone");
                        }
                    }
                    None => debug!(to = %Pii(t.destination), "no TCP connection to send on"),
                },
                // TLS comes with the hardening issue.
                _ => {}
            }
        }
    }

    /// Drains the endpoint: transmits, then events (whose commands produce more), until quiet.
    async fn pump(&mut self) {
        loop {
            self.send_transmits().await;
            let Some(event) = self.endpoint.poll_event() else {
                return;
            };
            self.handle_event(event).await;
        }
    }

    async fn handle_event(&mut self, event: Event) {
        match event {
            Event::IncomingCall(call) => self.incoming(call).await,
            Event::CallEstablished { call } => debug!(call = call.0, "call established"),
            Event::CallEnded { call, reason } => {
                debug!(call = call.0, ?reason, "call ended");
                self.call_gone(call).await;
            }
            Event::Reoffer { call, offer, hold } => self.reoffer(call, offer, hold).await,
            Event::PictureFastUpdate { call } => {
                if let Some(p) = self.calls.get(&call).and_then(|c| c.participant) {
                    let _ = self.media.keyframe_sip(p).await;
                }
            }
            Event::Dtmf {
                call,
                digit,
                duration_ms,
            } => {
                debug!(call = call.0, digit = %Pii(digit), "DTMF by INFO");
                if self.calls.get(&call).is_some_and(|c| c.room.is_none()) {
                    let _ = self
                        .media
                        .ivr(IvrQuery::Digit {
                            call,
                            digit,
                            duration_ms,
                        })
                        .await;
                }
            }
            Event::Ringing { call } => {
                debug!(call = call.0, "dialled call ringing");
                self.dial_status(call, "ringing", None);
            }
            Event::Answered { call, answer } => self.dial_answered(call, &answer),
            Event::CallFailed { call, code } => self.dial_failed(call, code),
            other => debug!(event = ?other, "SIP event"),
        }
    }

    /// A call is over (its BYE, a failure, or our own hang-up): out of the room or the IVR,
    /// its ports back to the pool.
    async fn call_gone(&mut self, call: CallHandle) {
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        if let Some(p) = c.participant {
            let _ = self.media.leave_sip(p).await;
        } else if c.room.is_none() {
            let _ = self.media.ivr(IvrQuery::End(call)).await;
        }
        for port in c.ports {
            self.ports.release(port);
        }
    }

    fn local_media(&self, c: &Call) -> LocalMedia {
        LocalMedia {
            address: self.config.media_ip,
            audio_port: c.audio_port,
            video_port: c.video_port,
            // Wideband first: G.722 and Opus keep room systems' voices clear; G.711 for phones.
            codecs: vec![
                Codec::G722,
                Codec::Opus,
                Codec::Pcmu,
                Codec::Pcma,
                Codec::H264 {
                    packetization_mode: 1,
                    max_level_idc: H264_MAX_LEVEL,
                },
                Codec::H264 {
                    packetization_mode: 0,
                    max_level_idc: H264_MAX_LEVEL,
                },
            ],
            telephone_event: true,
            session_id: c.session_id,
            session_version: c.session_version,
        }
    }

    async fn incoming(&mut self, incoming: IncomingCall) {
        let user = incoming
            .user
            .as_ref()
            .map(|u| u.0.clone())
            .unwrap_or_default();
        let span = info_span!("call", call = incoming.call.0, user = %Pii(&user));
        self.incoming_in_span(incoming, user).instrument(span).await;
    }

    async fn incoming_in_span(&mut self, incoming: IncomingCall, user: String) {
        let now = self.clock.now();
        let call = incoming.call;
        // Before any work for it: an overloaded bridge refuses the call at once.
        let load = Load {
            pending_calls: self.pending.len(),
            media_queue: self.media.queue_depth(),
            media_lag: self.media.media_lag(std::time::Instant::now()),
        };
        if let Err(why) = self.config.admission.admit(load) {
            debug!(reason = why.as_str(), ?load, "overloaded: 503");
            self.media.load().count_refused(why);
            let retry = self.config.admission.retry_after();
            let _ = self.endpoint.reject_overloaded(now, call, retry);
            return;
        }
        let dialin = &self.config.dialin;
        if user == dialin.user || dialin.numbers.contains(&user) {
            self.incoming_dialin(incoming, &user).await;
            return;
        }
        let (digits, pin) = match user.split_once('*') {
            Some((room, pin)) => (room, Some(pin)),
            None => (user.as_str(), None),
        };
        let source = incoming.source.0.ip();
        let Ok(room) = digits.parse::<RoomId>() else {
            info!("not a room number: 404");
            self.guard.wrong_room(now, source);
            let _ = self.endpoint.reject(now, call, 404);
            return;
        };
        let found = match self.store.room(room) {
            Ok(found) => found,
            Err(e) => {
                warn!(error = %e, "room lookup failed: 500");
                let _ = self.endpoint.reject(now, call, 500);
                return;
            }
        };
        let Some(found) = found else {
            info!(%room, "unknown room: 404");
            self.guard.wrong_room(now, source);
            let _ = self.endpoint.reject(now, call, 404);
            return;
        };
        let waiting_room = match self.store.waiting_room(room) {
            Ok(on) => on,
            Err(e) => {
                warn!(error = %e, "waiting-room lookup failed: 500");
                let _ = self.endpoint.reject(now, call, 500);
                return;
            }
        };
        if let Some(expected) = &found.pin
            && pin != Some(expected.as_str())
        {
            info!(%room, "missing or wrong PIN: 403");
            // A wrong PIN in the URI is a guess too (a missing one is a caller who did not
            // know: it does not count).
            if pin.is_some() {
                self.guard.wrong_room(now, source);
            }
            let _ = self.endpoint.reject(now, call, 403);
            return;
        }
        let Some(offer) = incoming.offer.as_ref() else {
            // Offerless INVITEs would need our offer in the 200 and the answer in the ACK.
            info!("INVITE without SDP offer: 488");
            let _ = self.endpoint.reject(now, call, 488);
            return;
        };
        let wants_video = offer
            .media
            .iter()
            .any(|m| m.media == "video" && m.port != 0)
            && found.category == pont_meet::Category::Video;
        let Ok((audio_rtp, audio_rtcp, audio_port)) =
            self.ports.bind_pair(self.config.rtp_bind_ip).await
        else {
            warn!("no free RTP port pair: 503");
            let _ = self.endpoint.reject(now, call, 503);
            return;
        };
        let mut ports = vec![audio_port];
        let mut video_sockets = None;
        if wants_video
            && let Ok((rtp, rtcp, port)) = self.ports.bind_pair(self.config.rtp_bind_ip).await
        {
            ports.push(port);
            video_sockets = Some((rtp, rtcp, port));
        }
        let mut c = Call {
            participant: None,
            answer: None,
            room: Some(room),
            ports,
            audio_port,
            video_port: video_sockets.as_ref().map(|v| v.2),
            session_id: rand::random::<u32>() as u64,
            session_version: 1,
            outgoing: false,
            source,
        };
        let answer = match sdp::answer(offer, &self.local_media(&c)) {
            Ok(a) if a.audio.is_some() => a,
            Ok(_) | Err(NegotiationError::NoCommonCodec) => {
                info!("no common audio codec: 488");
                self.release(&c);
                let _ = self.endpoint.reject(now, call, 488);
                return;
            }
            Err(e) => {
                info!(error = %e, "offer refused: 488");
                self.release(&c);
                let _ = self.endpoint.reject(now, call, 488);
                return;
            }
        };
        // A video stream we allocated but did not agree on: give its ports back.
        if answer.video.is_none()
            && let Some((_, _, port)) = video_sockets.take()
        {
            self.ports.release(port);
            c.ports.retain(|&p| p != port);
            c.video_port = None;
        }
        let name = incoming
            .from_display_name
            .as_ref()
            .map(|n| n.0.clone())
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "SIP".to_owned());
        let join = JoinSip {
            room,
            call,
            display_name: name,
            audio: SipMedia {
                stream: answer
                    .audio
                    .clone()
                    .unwrap_or_else(|| unreachable!("checked above")),
                rtp: audio_rtp,
                rtcp: audio_rtcp,
            },
            video: match (answer.video.clone(), video_sockets) {
                (Some(stream), Some((rtp, rtcp, _))) => Some(SipMedia { stream, rtp, rtcp }),
                _ => None,
            },
            hangup: self.commands_tx.clone(),
            reply: self.joins.0.clone(),
            waiting_room,
        };
        // Not waited for: the answer comes back as a `JoinReply` (see `join_done`), so SIP
        // keeps flowing while the media task works.
        if self.media.try_join_sip(join).is_err() {
            warn!("media task queue full: 503");
            self.release(&c);
            let retry = self.config.admission.retry_after();
            let _ = self.endpoint.reject_overloaded(now, call, retry);
            return;
        }
        c.answer = Some(answer.sdp.to_string());
        self.pending.insert(call, c);
    }

    /// The media task answered a join: 200 with our SDP, or the refusal.
    async fn join_done(&mut self, reply: JoinReply) {
        let now = self.clock.now();
        let JoinReply { call, result } = reply;
        let Some(mut c) = self.pending.remove(&call) else {
            return;
        };
        match result {
            // The caller may have cancelled (or the INVITE timed out) while it was joining.
            Ok(p) if !self.endpoint.has_call(call) => {
                debug!(call = call.0, participant = %p, "the call ended while joining: leaving");
                let _ = self.media.leave_sip(p).await;
                self.release(&c);
            }
            Ok(p) => {
                debug!(call = call.0, participant = %p, "SIP participant joined");
                c.participant = Some(p);
                // A call we placed is answered already.
                if !c.outgoing {
                    let sdp = c.answer.take().unwrap_or_default();
                    if let Err(e) = self.endpoint.answer(now, call, &sdp) {
                        warn!(error = %e, "cannot answer");
                    }
                }
                self.calls.insert(call, c);
            }
            Err(refused) => {
                let code = match refused {
                    SipJoinRefused::RoomFull => 486,
                    // RFC 3261 §21.4.18: the callee is there but not reachable now.
                    SipJoinRefused::Locked => 480,
                    SipJoinRefused::NoCodec => 488,
                    SipJoinRefused::Unavailable => 503,
                };
                info!(call = call.0, room = ?c.room.map(|r| r.0), ?refused, code, "join refused");
                self.release(&c);
                if c.outgoing {
                    let _ = self.endpoint.hangup(now, call);
                } else {
                    let _ = self.endpoint.reject(now, call, code);
                }
            }
        }
    }

    /// A call to the dial-in user or a dial-in number: answered at once, into the IVR.
    async fn incoming_dialin(&mut self, incoming: IncomingCall, user: &str) {
        let now = self.clock.now();
        let call = incoming.call;
        let source = incoming.source.0;
        if !self.config.dialin.source_allowed(source.ip()) {
            info!(from = %Pii(source), "dial-in from a source not in allowed_sources: 403");
            let _ = self.endpoint.reject(now, call, 403);
            return;
        }
        let Some(offer) = incoming.offer.as_ref() else {
            info!("dial-in INVITE without SDP offer: 488");
            let _ = self.endpoint.reject(now, call, 488);
            return;
        };
        let Ok((rtp, rtcp, audio_port)) = self.ports.bind_pair(self.config.rtp_bind_ip).await
        else {
            warn!("no free RTP port pair: 503");
            let _ = self.endpoint.reject(now, call, 503);
            return;
        };
        let c = Call {
            participant: None,
            answer: None,
            room: None,
            ports: vec![audio_port],
            audio_port,
            video_port: None,
            session_id: rand::random::<u32>() as u64,
            session_version: 1,
            outgoing: false,
            source: source.ip(),
        };
        let answer = match sdp::answer(offer, &self.local_media(&c)) {
            Ok(a) if a.audio.is_some() => a,
            Ok(_) | Err(_) => {
                info!("dial-in: no common audio codec: 488");
                self.release(&c);
                let _ = self.endpoint.reject(now, call, 488);
                return;
            }
        };
        // The PIN guard's key: the calling number (From user), else the trunk's address.
        let from = incoming.from_uri.0.as_str();
        let from_user = from
            .split_once(':')
            .map_or(from, |(_, rest)| rest)
            .split(['@', ';'])
            .next()
            .filter(|u| !u.is_empty() && from.contains('@'));
        let caller = from_user.map_or_else(|| source.ip().to_string(), str::to_owned);
        let display_name = incoming
            .from_display_name
            .as_ref()
            .map(|n| n.0.trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "Phone".to_owned());
        let language = self.config.dialin.language_for(user);
        let start = StartIvr {
            call,
            caller: Pii(caller),
            display_name,
            language,
            audio: SipMedia {
                stream: answer
                    .audio
                    .clone()
                    .unwrap_or_else(|| unreachable!("checked above")),
                rtp,
                rtcp,
            },
            hangup: self.commands_tx.clone(),
        };
        if self
            .media
            .ivr(IvrQuery::Start(Box::new(start)))
            .await
            .is_err()
        {
            self.release(&c);
            let _ = self.endpoint.reject(now, call, 503);
            return;
        }
        info!(%language, "dial-in call answered: IVR");
        if let Err(e) = self.endpoint.answer(now, call, &answer.sdp.to_string()) {
            warn!(error = %e, "cannot answer");
        }
        self.calls.insert(call, c);
    }

    /// The IVR says a dial-in caller keyed a room that does not exist. When that blocks the
    /// source, the call ends too: its next tries would be guesses.
    async fn wrong_room_keyed(&mut self, call: CallHandle) {
        let Some(source) = self.calls.get(&call).map(|c| c.source) else {
            return;
        };
        let now = self.clock.now();
        if self.guard.wrong_room(now, source) {
            info!(
                call = call.0,
                "room-number guessing: the dial-in call is hung up"
            );
            let _ = self.endpoint.hangup(now, call);
            self.call_gone(call).await;
        }
    }

    fn release(&mut self, c: &Call) {
        for &port in &c.ports {
            self.ports.release(port);
        }
    }

    async fn reoffer(&mut self, call: CallHandle, offer: Option<sdp::Sdp>, hold: bool) {
        let now = self.clock.now();
        let Some(c) = self.calls.get_mut(&call) else {
            let _ = self.endpoint.reject(now, call, 481);
            return;
        };
        let Some(offer) = offer else {
            let _ = self.endpoint.reject(now, call, 488);
            return;
        };
        c.session_version += 1;
        let participant = c.participant;
        let dialin = c.room.is_none();
        let local = {
            let c = &self.calls[&call];
            self.local_media(c)
        };
        match sdp::answer(&offer, &local) {
            Ok(answer) if answer.audio.is_some() => {
                if let Some(p) = participant {
                    let _ = self
                        .media
                        .update_sip(p, answer.audio.clone(), answer.video.clone(), hold)
                        .await;
                } else if dialin {
                    let q = IvrQuery::Update {
                        call,
                        audio: answer.audio.clone(),
                        hold,
                    };
                    let _ = self.media.ivr(q).await;
                }
                info!(call = call.0, hold, "re-INVITE answered");
                let _ = self.endpoint.answer(now, call, &answer.sdp.to_string());
            }
            _ => {
                let _ = self.endpoint.reject(now, call, 488);
            }
        }
    }
}

/// One TCP connection: frames messages by Content-Length for the SIP task, writes what it is
/// given, and closes on a framing error (RFC 3261 §18.3: the stream cannot be resynchronised).
async fn tcp_connection(
    stream: TcpStream,
    peer: SocketAddr,
    to_sip: mpsc::Sender<TcpIn>,
    mut from_sip: mpsc::Receiver<Vec<u8>>,
) {
    let (mut read, mut write) = stream.into_split();
    let mut framer = StreamFramer::new(MAX_TCP_MESSAGE);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            r = read.read(&mut buf) => {
                let n = match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                framer.push(&buf[..n]);
                loop {
                    match framer.next_frame() {
                        Ok(Some(Frame::Message(m))) => {
                            if to_sip.send(TcpIn::Message(peer, m)).await.is_err() {
                                return;
                            }
                        }
                        // RFC 5626 §3.5.1 keep-alive: a double CRLF is answered with one CRLF.
                        Ok(Some(Frame::Ping)) => {
                            if write.write_all(b"\r\n").await.is_err() {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            debug!(peer = %Pii(peer), error = %e, "SIP TCP framing error: closing");
                            let _ = to_sip.send(TcpIn::Closed(peer)).await;
                            return;
                        }
                    }
                }
            }
            out = from_sip.recv() => match out {
                Some(bytes) => {
                    if write.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
        }
    }
    let _ = to_sip.send(TcpIn::Closed(peer)).await;
}
