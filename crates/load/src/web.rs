//! A browser-like web participant: WebSocket signalling exactly as `docs/signalling.md` says
//! (join, answer every offer), then a str0m `Rtc` (RTP mode) doing ICE/DTLS-SRTP to the
//! bridge's one `--media` UDP port, sending Opus with RFC 6464 levels (and H.264-shaped video)
//! and measuring what it receives.

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
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::metrics::{Live, PartStats, SpeakerScript, stopped};
use crate::payload::{self, OpusFrames};

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
}

pub(crate) struct Shared {
    pub(crate) live: Live,
    pub(crate) speaker: SpeakerScript,
}

/// Runs one participant until `stop` turns true; returns what it measured.
pub(crate) async fn run(
    plan: WebPlan,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> PartStats {
    let mut stats = PartStats {
        kind: "web",
        ..Default::default()
    };
    let started = Instant::now();
    let result = tokio::select! {
        r = session(&plan, &shared, &mut stats, started, stop.clone()) => r,
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

async fn session(
    plan: &WebPlan,
    shared: &Shared,
    stats: &mut PartStats,
    started: Instant,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let url = format!("ws://{}/api/v1/rooms/{}/ws", plan.http, plan.room);
    let (ws, _) = tokio::time::timeout(JOIN_TIMEOUT, tokio_tungstenite::connect_async(&url))
        .await
        .map_err(|_| anyhow::anyhow!("WebSocket {url}: no answer"))?
        .map_err(|e| anyhow::anyhow!("WebSocket {url}: {e}"))?;
    let (mut ws_tx, mut ws_rx) = ws.split();
    ws_tx
        .send(Message::text(
            json!({"v": 1, "type": "join", "name": plan.name}).to_string(),
        ))
        .await?;

    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let local = socket.local_addr()?;
    let mut rtc = Rtc::builder().set_rtp_mode(true).build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp")?);

    let mut sender = Sender {
        audio_mid: None,
        video_mid: None,
        audio_seq: u64::from(rand::random::<u16>()),
        video_seq: u64::from(rand::random::<u16>()),
        frame: 0,
        want_key: true,
    };
    let audio_ts0: u32 = rand::random();
    let video_ts0: u32 = rand::random();
    let mut connected = false;
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
    let debug = std::env::var_os("PONT_LOAD_DEBUG").is_some();

    loop {
        // Drain str0m until it names its next timeout.
        let timeout = loop {
            match rtc.poll_output()? {
                Output::Timeout(t) => {
                    if debug && !connected {
                        eprintln!(
                            "{}: timeout in {:?} alive {}",
                            plan.name,
                            t.saturating_duration_since(Instant::now()),
                            rtc.is_alive()
                        );
                    }
                    break t;
                }
                Output::Transmit(t) => {
                    if debug && !connected {
                        eprintln!(
                            "{}: send {} bytes to {}",
                            plan.name,
                            t.contents.len(),
                            t.destination
                        );
                    }
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Output::Event(e) => match e {
                    e if debug && !matches!(e, Event::RtpPacket(_)) && {
                        eprintln!("{}: {e:?}", plan.name);
                        false
                    } => {}
                    Event::Connected => {
                        connected = true;
                        stats.join_ms = Some(started.elapsed().as_millis() as u64);
                        Live::add(&shared.live.joined, 1);
                    }
                    Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                        anyhow::bail!("ICE disconnected");
                    }
                    Event::RtpPacket(p) => {
                        let arrival = payload::now_us();
                        stats.received += 1;
                        Live::add(&shared.live.received, 1);
                        let pt = *p.header.payload_type;
                        let (clock, stamp) = if pt == PT_OPUS {
                            (48_000, payload::opus_stamp(&p.payload))
                        } else {
                            (90_000, payload::h264_stamp(&p.payload))
                        };
                        stats.streams.entry(*p.header.ssrc).or_default().packet(
                            clock,
                            p.header.sequence_number,
                            p.header.timestamp,
                            arrival,
                        );
                        if let Some((sent, _)) = stamp {
                            stats.latency_us.record(arrival.saturating_sub(sent));
                        }
                    }
                    Event::KeyframeRequest(r)
                        if matches!(
                            r.kind,
                            KeyframeRequestKind::Pli | KeyframeRequestKind::Fir
                        ) =>
                    {
                        sender.want_key = true;
                    }
                    _ => {}
                },
            }
        };
        if !rtc.is_alive() {
            anyhow::bail!("the WebRTC connection closed");
        }
        if !connected && tokio::time::Instant::now() > deadline {
            anyhow::bail!("ICE/DTLS not up within {JOIN_TIMEOUT:?}");
        }
        // str0m names its next deadline only after a timeout input (a fresh ICE agent says
        // "never"), so time is driven at least every 50 ms, as str0m's own examples do.
        let mut wake = tokio::time::Instant::from_std(timeout)
            .min(tokio::time::Instant::now() + Duration::from_millis(50));
        let sending_audio =
            connected && sender.audio_mid.is_some() && plan.audio_publisher.is_some();
        let sending_video = connected && sender.video_mid.is_some() && frame_bytes.is_some();
        if sending_audio {
            wake = wake.min(next_audio);
        }
        if sending_video {
            wake = wake.min(next_video);
        }

        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let (n, source) = r?;
                let now = Instant::now();
                if debug && !connected { eprintln!("{}: recv {n} bytes from {source}", plan.name); }
                if let Ok(recv) = Receive::new(Protocol::Udp, source, local, &buf[..n]) {
                    rtc.handle_input(Input::Receive(now, recv))?;
                }
            }
            msg = ws_rx.next() => {
                let Some(msg) = msg else { anyhow::bail!("the bridge closed the WebSocket") };
                let Message::Text(text) = msg? else { continue };
                let v: Value = serde_json::from_str(&text)?;
                if debug && v["type"] != "offer" { eprintln!("{}: {v}", plan.name); }
                match v["type"].as_str().unwrap_or("") {
                    "joined" => {
                        my_id = v["participant_id"].as_str().unwrap_or("").to_owned();
                        if let Some(i) = plan.audio_publisher {
                            shared.speaker.register(i, &my_id);
                        }
                    }
                    "offer" => {
                        let offer = SdpOffer::from_sdp_string(v["sdp"].as_str().unwrap_or(""))?;
                        let answer = rtc.sdp_api().accept_offer(offer)?;
                        if let Some(m) = v["publish"]["audio"].as_str() {
                            sender.audio_mid = Some(Mid::from(m));
                        }
                        if let Some(m) = v["publish"]["video"].as_str() {
                            sender.video_mid = Some(Mid::from(m));
                        }
                        ws_tx.send(Message::text(json!({"v": 1, "type": "answer", "sdp": answer.to_sdp_string()}).to_string())).await?;
                    }
                    "speaker" => {
                        if let Some(id) = v["participant_id"].as_str()
                            && id != my_id
                            && let Some(ms) = shared.speaker.observed(id, &mut spurt_counted)
                        {
                            stats.speaker_ms.record(ms);
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
            _ = tokio::time::sleep_until(wake) => {
                let now = Instant::now();
                let tnow = tokio::time::Instant::now();
                if sending_audio && tnow >= next_audio {
                    next_audio += AUDIO_TICK;
                    if next_audio < tnow { next_audio = tnow + AUDIO_TICK; }
                    send_audio(&mut rtc, &mut sender, plan, shared, audio_ts0, now, stats);
                }
                if sending_video && tnow >= next_video {
                    next_video += frame_interval;
                    if next_video < tnow { next_video = tnow + frame_interval; }
                    send_video(&mut rtc, &mut sender, frame_bytes.unwrap_or(0), video_ts0, now, shared, stats);
                }
                rtc.handle_input(Input::Timeout(now))?;
            }
            _ = stopped(&mut stop) => return Ok(()),
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
