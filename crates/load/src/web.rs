//! A browser-like web participant: WebSocket signalling exactly as `docs/signalling.md` says
//! (join, answer every offer), then a str0m `Rtc` (RTP mode) doing ICE/DTLS-SRTP to the
//! bridge's one `--media` UDP port, sending Opus with RFC 6464 levels (and H.264-shaped video)
//! and measuring what it receives.
//!
//! Receiving (`--receivers`):
//! - `full`: every datagram goes through str0m (SRTP authentication and decryption, RTP
//!   parsing, receive statistics, feedback), as a browser's stack does. 200 such subscribers
//!   cost about what the bridge spends forwarding to them.
//! - `sampled` (default): ICE (STUN), DTLS and RTCP always go through str0m, and so does RTP
//!   until str0m has authenticated a packet of its stream from the bridge's address, all video
//!   (str0m NACKs gaps in it), one in `--sample-every` audio packets of each stream and, so
//!   str0m's transport-wide feedback leaves every 50 ms as in full mode, the first RTP after
//!   25 ms without any. The rest is counted from the plaintext RTP header (RFC 3711 leaves it
//!   in the clear): sequence numbers for loss, RTP timestamp and arrival for jitter. Latency
//!   comes from the send stamp in the payload, which only str0m's decryption can read: it is
//!   measured on the sample. The report says what share str0m checked, how many of those it
//!   did not deliver, and the RTCP/s the clients sent the bridge (the same in both modes, or
//!   the cheaper mode would be asking less of the bridge). See [`crate::rtp::Sampler`].
//!
//! The WebSocket is read in its own task: polled from the packet loop, tungstenite zero-fills
//! its 128 KiB read buffer on every poll, which was a third of the tool's CPU.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use str0m::change::SdpOffer;
use str0m::media::{KeyframeRequestKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::chat::{self, Inbox};
use crate::metrics::{Live, PartStats, SpeakerScript, stopped};
use crate::payload::{self, OpusFrames};
use crate::rtp::{self, Sampler, Verdict};

/// Opus and H.264 payload types of the bridge's offer (`crates/webrtc`).
const PT_OPUS: u8 = 111;
const PT_H264: u8 = 102;
/// How long ICE + DTLS may take before the join counts as failed.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);
const AUDIO_TICK: Duration = Duration::from_millis(20);
const VIDEO_FPS: u32 = 30;
/// A keyframe this often (and on every PLI/FIR), as a browser does after loss.
const KEYFRAME_EVERY: u64 = 60;

/// What this participant does.
#[derive(Debug, Clone)]
pub(crate) struct WebPlan {
    pub(crate) name: String,
    pub(crate) room: u64,
    pub(crate) http: SocketAddr,
    /// `Some(i)`: publishes audio as publisher `i` of the speaker script.
    pub(crate) audio_publisher: Option<usize>,
    /// Video bitrate to publish, kbit/s.
    pub(crate) video_kbps: Option<u32>,
    /// How it receives (`--receivers`), and one in how many audio packets of a stream str0m
    /// checks in sampled mode (`--sample-every`).
    pub(crate) receive: ReceiveMode,
    pub(crate) sample_every: u32,
}

pub(crate) struct Shared {
    pub(crate) live: Live,
    pub(crate) speaker: SpeakerScript,
}

/// How a web participant receives (`--receivers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum ReceiveMode {
    /// Every datagram through str0m: SRTP authentication and decryption, RTP parsing, stats,
    /// feedback — what a browser's WebRTC stack does, at about the bridge's own CPU cost.
    Full,
    /// ICE, DTLS, RTCP and a sample of the RTP through str0m; the rest of the RTP (audio of
    /// streams str0m has authenticated, from the bridge's address) counted from its plaintext
    /// header. See [`crate::rtp::Sampler`].
    #[default]
    Sampled,
}

/// Half str0m's transport-wide feedback interval (50 ms): in sampled mode some RTP reaches
/// str0m at least this often, so it sends the bridge as much feedback as in full mode.
const FEEDBACK_GAP_US: u64 = 25_000;

/// `pont-load chat --connect`: the participant hands its chat texts to `inbox` and sends
/// what `out` gives on its signalling.
pub(crate) struct ChatLink {
    pub(crate) inbox: Arc<Inbox>,
    pub(crate) out: Option<mpsc::UnboundedReceiver<String>>,
}

/// Runs one participant until `stop` turns true; returns what it measured.
pub(crate) async fn run(
    plan: WebPlan,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) -> PartStats {
    run_with_chat(plan, shared, stop, None).await
}

/// [`run`], taking part in the chat scenario when `chat` is given.
pub(crate) async fn run_with_chat(
    plan: WebPlan,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    chat: Option<ChatLink>,
) -> PartStats {
    let mut stats = PartStats {
        kind: "web",
        ..Default::default()
    };
    let started = Instant::now();
    let result = tokio::select! {
        r = session(&plan, &shared, &mut stats, started, chat) => r,
        _ = stopped(&mut stop) => Ok(()),
    };
    if let Err(e) = result {
        if stats.join_ms.is_none() {
            Live::add(&shared.live.failed, 1);
        }
        stats.failed = Some(format!("{}: {e:#}", plan.name));
    } else if stats.join_ms.is_none() {
        Live::add(&shared.live.failed, 1);
        stats.failed = Some(format!("{}: not connected when the run ended", plan.name));
    }
    stats
}

struct Sender {
    audio_mid: Option<Mid>,
    video_mid: Option<Mid>,
    audio_seq: u64,
    video_seq: u64,
    frame: u64,
    want_key: bool,
}

/// Aborts the signalling reader when the session ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads the WebSocket in its own task and hands the session each message, parsed. Polling
/// the WebSocket from the packet loop cost more than str0m: tungstenite zero-fills its
/// 128 KiB read buffer on every poll (`FrameCodec::read_in`), i.e. once per received packet.
async fn read_signalling(
    mut ws_rx: futures_util::stream::SplitStream<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    >,
    to_session: mpsc::UnboundedSender<anyhow::Result<Value>>,
    chat: Option<Arc<Inbox>>,
) {
    while let Some(msg) = ws_rx.next().await {
        let parsed = match msg {
            // Chat deliveries are counted here, without parsing the JSON (`crate::chat`).
            Ok(Message::Text(text)) if chat.as_ref().is_some_and(|c| c.take(&text)) => continue,
            Ok(Message::Text(text)) => serde_json::from_str(&text).map_err(anyhow::Error::from),
            Ok(_) => continue,
            Err(e) => Err(anyhow::Error::from(e)),
        };
        let failed = parsed.is_err();
        if to_session.send(parsed).is_err() || failed {
            return;
        }
    }
}

/// One participant's media side: its str0m `Rtc`, socket and what it counts.
struct Peer<'a> {
    plan: &'a WebPlan,
    shared: &'a Shared,
    stats: &'a mut PartStats,
    started: Instant,
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    sender: Sender,
    connected: bool,
    debug: bool,
    /// `Some` in sampled mode.
    sampler: Option<Sampler>,
}

impl Peer<'_> {
    /// Drains str0m until it names its next timeout. `fed_from`: the source of the datagram
    /// just handed to it, if any.
    async fn drain(&mut self, fed_from: Option<SocketAddr>) -> anyhow::Result<Instant> {
        loop {
            match self.rtc.poll_output()? {
                Output::Timeout(t) => {
                    if self.debug && !self.connected {
                        eprintln!(
                            "{}: timeout in {:?} alive {}",
                            self.plan.name,
                            t.saturating_duration_since(Instant::now()),
                            self.rtc.is_alive()
                        );
                    }
                    return Ok(t);
                }
                Output::Transmit(t) => {
                    if self.debug && !self.connected {
                        eprintln!(
                            "{}: send {} bytes to {}",
                            self.plan.name,
                            t.contents.len(),
                            t.destination
                        );
                    }
                    if self.connected && rtp::is_rtcp(&t.contents) {
                        Live::add(&self.shared.live.rtcp_sent, 1);
                    }
                    let _ = self.socket.send_to(&t.contents, t.destination).await;
                }
                Output::Event(e) => self.event(e, fed_from)?,
            }
        }
    }

    fn event(&mut self, e: Event, fed_from: Option<SocketAddr>) -> anyhow::Result<()> {
        if self.debug && !matches!(e, Event::RtpPacket(_)) {
            eprintln!("{}: {e:?}", self.plan.name);
        }
        match e {
            Event::Connected => {
                self.connected = true;
                self.stats.join_ms = Some(self.started.elapsed().as_millis() as u64);
                Live::add(&self.shared.live.joined, 1);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                anyhow::bail!("ICE disconnected");
            }
            Event::RtpPacket(p) => {
                let arrival = payload::now_us();
                let pt = *p.header.payload_type;
                self.stats.srtp_ok += 1;
                if let (Some(s), Some(from)) = (self.sampler.as_mut(), fed_from) {
                    s.verified(from, *p.header.ssrc);
                }
                let stamp = if pt == PT_OPUS {
                    payload::opus_stamp(&p.payload)
                } else {
                    payload::h264_stamp(&p.payload)
                };
                if let Some((sent, _)) = stamp {
                    self.stats.latency_us.record(arrival.saturating_sub(sent));
                }
                self.count(
                    pt,
                    *p.header.ssrc,
                    p.header.sequence_number,
                    p.header.timestamp,
                    arrival,
                );
            }
            Event::KeyframeRequest(r)
                if matches!(r.kind, KeyframeRequestKind::Pli | KeyframeRequestKind::Fir) =>
            {
                self.sender.want_key = true;
            }
            _ => {}
        }
        Ok(())
    }

    /// One received packet, however it was read (str0m's event or the plaintext header).
    fn count(&mut self, pt: u8, ssrc: u32, seq: u16, rtp_ts: u32, arrival_us: u64) {
        self.stats.received += 1;
        Live::add(&self.shared.live.received, 1);
        let clock = if pt == PT_OPUS { 48_000 } else { 90_000 };
        self.stats
            .streams
            .entry(ssrc)
            .or_default()
            .packet(clock, seq, rtp_ts, arrival_us);
    }

    /// One datagram from the socket: counted from its header (sampled mode) or handed to str0m.
    async fn datagram(&mut self, d: &[u8], source: SocketAddr) -> anyhow::Result<()> {
        if self.debug && !self.connected {
            eprintln!("{}: recv {} bytes from {source}", self.plan.name, d.len());
        }
        if self.connected
            && let rtp::Kind::Rtp(h) = rtp::classify(d)
        {
            let now_us = payload::now_us();
            if let Some(s) = self.sampler.as_mut()
                && s.decide(source, &h, now_us) == Verdict::Count
            {
                self.stats.header_counted += 1;
                self.count(h.payload_type, h.ssrc, h.seq, h.timestamp, now_us);
                return Ok(());
            }
            self.stats.srtp_checked += 1;
        }
        if let Ok(recv) = Receive::new(Protocol::Udp, source, self.local, d) {
            self.rtc
                .handle_input(Input::Receive(Instant::now(), recv))?;
            self.drain(Some(source)).await?;
        }
        Ok(())
    }
}

/// Datagrams read per wake-up before str0m's timers and the signalling get a turn.
const RECV_BATCH: usize = 64;

async fn session(
    plan: &WebPlan,
    shared: &Shared,
    stats: &mut PartStats,
    started: Instant,
    chat: Option<ChatLink>,
) -> anyhow::Result<()> {
    let (chat_inbox, mut chat_out) = match chat {
        Some(c) => (Some(c.inbox), c.out),
        None => (None, None),
    };
    let url = format!("ws://{}/api/v1/rooms/{}/ws", plan.http, plan.room);
    // Chat runs read many small messages: a small read buffer (tungstenite zero-fills it on
    // every read, 128 KiB by default).
    let config = chat_inbox.as_ref().map(|_| {
        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
    });
    let connect = tokio_tungstenite::connect_async_with_config(&url, config, false);
    let (ws, _) = tokio::time::timeout(JOIN_TIMEOUT, connect)
        .await
        .map_err(|_| anyhow::anyhow!("WebSocket {url}: no answer"))?
        .map_err(|e| anyhow::anyhow!("WebSocket {url}: {e}"))?;
    let (mut ws_tx, ws_rx) = ws.split();
    ws_tx
        .send(Message::text(
            json!({"v": 1, "type": "join", "name": plan.name}).to_string(),
        ))
        .await?;
    let (sig_tx, mut sig_rx) = mpsc::unbounded_channel();
    let _reader = AbortOnDrop(tokio::spawn(read_signalling(
        ws_rx,
        sig_tx,
        chat_inbox.clone(),
    )));

    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let local = socket.local_addr()?;
    let mut rtc = Rtc::builder().set_rtp_mode(true).build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp")?);

    let mut peer = Peer {
        plan,
        shared,
        stats,
        started,
        rtc,
        socket,
        local,
        sender: Sender {
            audio_mid: None,
            video_mid: None,
            audio_seq: u64::from(rand::random::<u16>()),
            video_seq: u64::from(rand::random::<u16>()),
            frame: 0,
            want_key: true,
        },
        connected: false,
        debug: std::env::var_os("PONT_LOAD_DEBUG").is_some(),
        sampler: match plan.receive {
            ReceiveMode::Full => None,
            ReceiveMode::Sampled => {
                Some(Sampler::new(plan.sample_every, FEEDBACK_GAP_US, &[PT_OPUS]))
            }
        },
    };
    let audio_ts0: u32 = rand::random();
    let video_ts0: u32 = rand::random();
    let mut next_audio = tokio::time::Instant::now();
    let mut next_video = tokio::time::Instant::now();
    let frame_interval = Duration::from_secs(1) / VIDEO_FPS;
    let frame_bytes = plan
        .video_kbps
        .map(|k| (k as usize * 1000 / 8 / VIDEO_FPS as usize).max(200));
    let mut my_id = String::new();
    let mut spurt_counted = None;
    let mut buf = vec![0u8; 2048];
    let deadline = tokio::time::Instant::now() + JOIN_TIMEOUT;
    // One timer, moved when the wake-up time changes (not a new one per datagram).
    let sleep = tokio::time::sleep_until(deadline);
    tokio::pin!(sleep);
    let mut armed = deadline;

    loop {
        let timeout = peer.drain(None).await?;
        if !peer.rtc.is_alive() {
            anyhow::bail!("the WebRTC connection closed");
        }
        if !peer.connected && tokio::time::Instant::now() > deadline {
            anyhow::bail!("ICE/DTLS not up within {JOIN_TIMEOUT:?}");
        }
        // str0m names its next deadline only after a timeout input (a fresh ICE agent says
        // "never"), so time is driven at least every 50 ms, as str0m's own examples do.
        let mut wake = tokio::time::Instant::from_std(timeout)
            .min(tokio::time::Instant::now() + Duration::from_millis(50));
        let sending_audio =
            peer.connected && peer.sender.audio_mid.is_some() && plan.audio_publisher.is_some();
        let sending_video =
            peer.connected && peer.sender.video_mid.is_some() && frame_bytes.is_some();
        if sending_audio {
            wake = wake.min(next_audio);
        }
        if sending_video {
            wake = wake.min(next_video);
        }
        if wake != armed {
            sleep.as_mut().reset(wake);
            armed = wake;
        }

        tokio::select! {
            r = peer.socket.recv_from(&mut buf) => {
                let mut next = Some(r?);
                let mut read = 0;
                while let Some((n, source)) = next {
                    peer.datagram(&buf[..n], source).await?;
                    read += 1;
                    next = if read == RECV_BATCH {
                        None
                    } else {
                        match peer.socket.try_recv_from(&mut buf) {
                            Ok(x) => Some(x),
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
                            Err(e) => return Err(e.into()),
                        }
                    };
                }
            }
            msg = sig_rx.recv() => {
                let Some(v) = msg else { anyhow::bail!("the bridge closed the WebSocket") };
                let v = v?;
                if peer.debug && v["type"] != "offer" { eprintln!("{}: {v}", plan.name); }
                match v["type"].as_str().unwrap_or("") {
                    "joined" => {
                        my_id = v["participant_id"].as_str().unwrap_or("").to_owned();
                        if let Some(c) = &chat_inbox {
                            c.set_joined();
                        }
                        if let Some(i) = plan.audio_publisher {
                            shared.speaker.register(i, &my_id);
                        }
                    }
                    "offer" => {
                        let offer = SdpOffer::from_sdp_string(v["sdp"].as_str().unwrap_or(""))?;
                        let answer = peer.rtc.sdp_api().accept_offer(offer)?;
                        if let Some(m) = v["publish"]["audio"].as_str() {
                            peer.sender.audio_mid = Some(Mid::from(m));
                        }
                        if let Some(m) = v["publish"]["video"].as_str() {
                            peer.sender.video_mid = Some(Mid::from(m));
                        }
                        ws_tx.send(Message::text(json!({"v": 1, "type": "answer", "sdp": answer.to_sdp_string()}).to_string())).await?;
                    }
                    "speaker" => {
                        if let Some(id) = v["participant_id"].as_str()
                            && id != my_id
                            && let Some(ms) = shared.speaker.observed(id, &mut spurt_counted)
                        {
                            peer.stats.speaker_ms.record(ms);
                        }
                    }
                    "error" => {
                        let code = v["code"].as_str().unwrap_or("");
                        if matches!(code, "unknown_room" | "room_full" | "media_unavailable" | "internal" | "connection_lost") {
                            anyhow::bail!("the bridge said {code}: {}", v["message"]);
                        }
                    }
                    _ => {}
                }
            }
            m = chat::next(&mut chat_out) => match m {
                Some(m) => {
                    if let Some(c) = &chat_inbox {
                        c.sending();
                    }
                    ws_tx.send(Message::text(m)).await?;
                }
                None => chat_out = None,
            },
            _ = &mut sleep => {
                let now = Instant::now();
                let tnow = tokio::time::Instant::now();
                let p = &mut peer;
                if sending_audio && tnow >= next_audio {
                    next_audio += AUDIO_TICK;
                    if next_audio < tnow { next_audio = tnow + AUDIO_TICK; }
                    send_audio(&mut p.rtc, &mut p.sender, plan, shared, audio_ts0, now, p.stats);
                }
                if sending_video && tnow >= next_video {
                    next_video += frame_interval;
                    if next_video < tnow { next_video = tnow + frame_interval; }
                    send_video(&mut p.rtc, &mut p.sender, frame_bytes.unwrap_or(0), video_ts0, now, shared, p.stats);
                }
                p.rtc.handle_input(Input::Timeout(now))?;
            }
        }
    }
}

fn send_audio(
    rtc: &mut Rtc,
    s: &mut Sender,
    plan: &WebPlan,
    shared: &Shared,
    ts0: u32,
    now: Instant,
    stats: &mut PartStats,
) {
    let (Some(mid), Some(index)) = (s.audio_mid, plan.audio_publisher) else {
        return;
    };
    let loud = shared.speaker.is_loud(index);
    let frames = OpusFrames::get();
    let n = s.audio_seq as usize % frames.loud.len();
    let frame = if loud {
        &frames.loud[n]
    } else {
        &frames.quiet[n]
    };
    let body = payload::stamped_opus(frame, payload::now_us(), s.audio_seq as u32);
    let ext = ExtensionValues {
        // RFC 6464 -dBov. Quiet is room noise (-70), not digital silence (-127): the bridge's
        // detector ignores 127 for its noise floor, so speech must rise above a real floor.
        audio_level: Some(if loud { -10 } else { -70 }),
        voice_activity: Some(loud),
        ..Default::default()
    };
    let ts = ts0.wrapping_add((s.audio_seq as u32).wrapping_mul(960));
    let mut api = rtc.direct_api();
    let Some(tx) = api.stream_tx_by_mid(mid, None) else {
        return;
    };
    tx.write_rtp(
        RtpWrite::new(PT_OPUS.into(), s.audio_seq.into(), ts, now, body)
            .ext_vals(ext)
            .nackable(false),
    );
    s.audio_seq += 1;
    stats.sent += 1;
    Live::add(&shared.live.sent, 1);
}

fn send_video(
    rtc: &mut Rtc,
    s: &mut Sender,
    frame_bytes: usize,
    ts0: u32,
    now: Instant,
    shared: &Shared,
    stats: &mut PartStats,
) {
    let Some(mid) = s.video_mid else { return };
    let key = s.want_key || s.frame.is_multiple_of(KEYFRAME_EVERY);
    s.want_key = false;
    let packets = payload::h264_frame(frame_bytes, key, payload::now_us(), s.frame as u32);
    let ts = ts0.wrapping_add((s.frame as u32).wrapping_mul(90_000 / VIDEO_FPS));
    s.frame += 1;
    let last = packets.len() - 1;
    let mut api = rtc.direct_api();
    let Some(tx) = api.stream_tx_by_mid(mid, None) else {
        return;
    };
    let n = packets.len() as u64;
    for (i, p) in packets.into_iter().enumerate() {
        tx.write_rtp(
            RtpWrite::new(PT_H264.into(), s.video_seq.into(), ts, now, p)
                .marker(i == last)
                .nackable(true),
        );
        s.video_seq += 1;
    }
    stats.sent += n;
    Live::add(&shared.live.sent, n);
}
