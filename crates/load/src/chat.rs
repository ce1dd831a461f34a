//! `pont-load chat`: in-meeting chat through the signalling path, end to end. P participants
//! join one room over the signalling WebSocket; K of them send chat messages at R msg/s in
//! total while everyone receives, and the receivers measure the deliveries per second, the
//! fraction of the expected deliveries (each accepted message goes to all P, its sender
//! included) and the delivery latency from the send time carried in the message's text.
//!
//! Each sender sends every K/R seconds, the senders evenly staggered, so the room's messages
//! come at R/s and no sender goes over the bridge's limit (a burst of 5, then 1 msg/s): K ≥ R
//! is required. Messages are sent only inside the measuring window; after it the tool waits
//! (`--drain`) for what is still queued in the bridge before it counts what was lost.
//!
//! Participants are signalling-only by default: they join and never answer the offer, so
//! the bridge gives their WebRTC leg up 30 s after the join (`CONNECT_TIMEOUT` in
//! `crates/server/src/media.rs`) and they leave: joins + window + drain must fit in that
//! (checked before starting). `--connect` brings ICE/DTLS up with str0m as `fanout` does
//! (receive-only, nobody publishes), for longer runs.
//!
//! A message's text is `pl <send µs since the tool's epoch> <sender> <n>` padded to
//! `--text-bytes`; receivers recognise the bridge's chat message by its first bytes
//! (`{"v":1,"type":"chat",`) and read the stamp without parsing the JSON, so 300 receivers cost
//! the tool little next to the bridge. The WebSockets use an 8 KiB read buffer: tungstenite
//! zero-fills its read buffer (128 KiB by default) on every read.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use clap::Args;
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::bridge::{Api, ProcFigures, ProcWatch};
use crate::metrics::{Live, SpeakerScript, stopped};
use crate::payload;
use crate::stats::{Histogram, Percentiles};
use crate::web::{self, Shared, WebPlan};
use crate::{Common, next_report};

/// The bridge gives up a web leg whose ICE/DTLS is not up this long after joining.
const BRIDGE_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// What a bridge's chat message starts with (`ToBrowser::to_json`: `v`, then the tag).
const CHAT_PREFIX: &str = r#"{"v":1,"type":"chat","#;
/// The text of the tool's messages starts with this.
const TEXT_PREFIX: &str = r#""text":"pl "#;

/// `pont-load chat` flags.
#[derive(Debug, Args, Clone)]
pub(crate) struct ChatArgs {
    /// Participants in the room (P): all receive every message.
    #[arg(long, default_value_t = 300)]
    participants: usize,
    /// How many of them send (K, default: all P). Each sends every K/R s, so K ≥ R keeps
    /// every sender under the bridge's 1 msg/s after its burst.
    #[arg(long)]
    senders: Option<usize>,
    /// Chat messages per second in the whole room (R), during the window only.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Length of each message's text in bytes (at least the stamp, ~25 bytes).
    #[arg(long, default_value_t = 60)]
    text_bytes: usize,
    /// Seconds to wait after the window for deliveries still queued in the bridge; what has
    /// not arrived by then counts as lost.
    #[arg(long, default_value_t = 5)]
    drain: u64,
    /// Seconds of the baseline before the window: everyone in, nobody chatting; the bridge's
    /// CPU then is subtracted from the window's for the CPU per delivery.
    #[arg(long, default_value_t = 3)]
    idle: u64,
    /// Bring each participant's ICE/DTLS up with str0m (receive-only) instead of signalling
    /// only, so runs may last longer than the bridge's 30 s connect timeout.
    #[arg(long)]
    connect: bool,
}

/// When messages are sent: the window, in µs since the tool's epoch (`payload::now_us`).
#[derive(Debug, Default)]
struct Window {
    start_us: AtomicU64,
    end_us: AtomicU64,
}

impl Window {
    fn contains(&self, us: u64) -> bool {
        let start = self.start_us.load(Ordering::Relaxed);
        start != 0 && us >= start && us < self.end_us.load(Ordering::Relaxed)
    }
}

/// Counters of the whole run.
#[derive(Debug, Default)]
struct Totals {
    /// Messages written to a WebSocket (in the window).
    sent: AtomicU64,
    /// `chat_rate_limited` errors back.
    refused: AtomicU64,
    /// Deliveries of the window's messages, and of those the ones that arrived in it.
    delivered: AtomicU64,
    delivered_in_window: AtomicU64,
    /// Participants the bridge dropped (`connection_lost`, `removed`, closed socket).
    dropped: AtomicU64,
}

/// One participant's chat side: whether it is in, and what it received.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    joined: AtomicBool,
    latency_us: Mutex<Histogram>,
    totals: Arc<Totals>,
    window: Arc<Window>,
}

impl Inbox {
    /// Takes a signalling text if it is chat business (a delivery or a rate-limit refusal);
    /// `false`: the caller handles it.
    pub(crate) fn take(&self, text: &str) -> bool {
        if let Some(rest) = text.strip_prefix(CHAT_PREFIX) {
            let arrival = payload::now_us();
            if let Some(sent) = stamp(rest)
                && self.window.contains(sent)
            {
                Live::add(&self.totals.delivered, 1);
                if self.window.contains(arrival) {
                    Live::add(&self.totals.delivered_in_window, 1);
                }
                self.latency_us
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .record(arrival.saturating_sub(sent));
            }
            return true;
        }
        if text.contains(r#""code":"chat_rate_limited""#) {
            Live::add(&self.totals.refused, 1);
            return true;
        }
        false
    }

    pub(crate) fn set_joined(&self) {
        self.joined.store(true, Ordering::Relaxed);
    }

    /// A message about to be written to the WebSocket.
    pub(crate) fn sending(&self) {
        Live::add(&self.totals.sent, 1);
    }
}

/// The send stamp of a chat message made by this tool (after `"text":"pl `).
fn stamp(json_rest: &str) -> Option<u64> {
    let at = json_rest.find(TEXT_PREFIX)? + TEXT_PREFIX.len();
    let digits = &json_rest[at..];
    let end = digits.find(|c: char| !c.is_ascii_digit())?;
    digits[..end].parse().ok()
}

/// The text of message `n` of `sender`, sent now.
fn message(sender: usize, n: u64, text_bytes: usize) -> String {
    let mut text = format!("pl {} {sender} {n}", payload::now_us());
    if text.len() < text_bytes {
        text.push(' ');
        while text.len() < text_bytes {
            text.push('x');
        }
    }
    json!({"v": 1, "type": "chat", "text": text}).to_string()
}

/// Sends sender `k`'s messages into its participant's channel, on schedule, in the window.
async fn send_schedule(
    k: usize,
    senders: usize,
    rate: f64,
    text_bytes: usize,
    inbox: Arc<Inbox>,
    mut start: watch::Receiver<Option<(tokio::time::Instant, tokio::time::Instant)>>,
    out: mpsc::UnboundedSender<String>,
) {
    let Some((t0, t1)) = start.wait_for(Option::is_some).await.ok().and_then(|w| *w) else {
        return;
    };
    let every = Duration::from_secs_f64(senders as f64 / rate);
    let mut at = t0 + Duration::from_secs_f64(k as f64 / rate);
    let mut n = 0;
    while at < t1 {
        tokio::time::sleep_until(at).await;
        if inbox.joined.load(Ordering::Relaxed) {
            let m = message(k, n, text_bytes);
            // A wake-up late past the window's end: not part of it.
            if !stamp(&m).is_some_and(|us| inbox.window.contains(us)) {
                return;
            }
            if out.send(m).is_err() {
                return;
            }
            n += 1;
        }
        at += every;
    }
}

/// What one participant brings back.
#[derive(Debug, Default)]
struct PartResult {
    join_ms: Option<u64>,
    failed: Option<String>,
}

/// One signalling-only participant: join, never answer the offer, send what `out` gives,
/// hand every text to the inbox.
async fn signalling_only(
    name: String,
    url: String,
    inbox: Arc<Inbox>,
    shared: Arc<Shared>,
    mut out: Option<mpsc::UnboundedReceiver<String>>,
) -> PartResult {
    let started = Instant::now();
    let mut r = PartResult::default();
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    let ws = match tokio::time::timeout(
        Duration::from_secs(20),
        tokio_tungstenite::connect_async_with_config(&url, Some(config), true),
    )
    .await
    {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => return fail(r, &shared, format!("{name}: WebSocket {url}: {e}")),
        Err(_) => return fail(r, &shared, format!("{name}: WebSocket {url}: no answer")),
    };
    let (mut tx, mut rx) = ws.split();
    let join = json!({"v": 1, "type": "join", "name": name}).to_string();
    if let Err(e) = tx.send(Message::text(join)).await {
        return fail(r, &shared, format!("{name}: send join: {e}"));
    }
    loop {
        tokio::select! {
            msg = rx.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return gone(r, &shared, &inbox, format!("{name}: {e}")),
                    None => return gone(r, &shared, &inbox, format!("{name}: the bridge closed the WebSocket")),
                };
                if inbox.take(&text) {
                    continue;
                }
                let kind = text
                    .find(r#""type":""#)
                    .map(|i| &text[i + 8..])
                    .and_then(|t| t.split('"').next())
                    .unwrap_or("");
                match kind {
                    "joined" if r.join_ms.is_none() => {
                        r.join_ms = Some(started.elapsed().as_millis() as u64);
                        Live::add(&shared.live.joined, 1);
                        inbox.set_joined();
                    }
                    "waiting" => {
                        return fail(r, &shared, format!("{name}: the room has a waiting room; use a room without one"));
                    }
                    "removed" => return gone(r, &shared, &inbox, format!("{name}: removed: {text}")),
                    "error" => {
                        let fatal = ["unknown_room", "room_full", "room_locked", "media_unavailable", "internal", "connection_lost"];
                        if fatal.iter().any(|c| text.contains(&format!(r#""code":"{c}""#))) {
                            return gone(r, &shared, &inbox, format!("{name}: the bridge said {text}"));
                        }
                    }
                    _ => {}
                }
            }
            m = next(&mut out) => match m {
                Some(m) => {
                    inbox.sending();
                    if let Err(e) = tx.send(Message::text(m)).await {
                        return gone(r, &shared, &inbox, format!("{name}: send: {e}"));
                    }
                }
                None => out = None,
            },
        }
    }
}

/// The next message to send, or never when there is none to come.
pub(crate) async fn next(out: &mut Option<mpsc::UnboundedReceiver<String>>) -> Option<String> {
    match out {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn fail(mut r: PartResult, shared: &Shared, why: String) -> PartResult {
    if r.join_ms.is_none() {
        Live::add(&shared.live.failed, 1);
    }
    r.failed = Some(why);
    r
}

/// Ends a participant: before the join it failed; after it the bridge dropped it.
fn gone(r: PartResult, shared: &Shared, inbox: &Inbox, why: String) -> PartResult {
    if r.join_ms.is_some() {
        Live::add(&inbox.totals.dropped, 1);
    }
    fail(r, shared, why)
}

/// The figures of one run.
#[derive(Debug, Clone, Serialize)]
struct ChatReport {
    participants: usize,
    mode: &'static str,
    joined: u64,
    join_failed: u64,
    /// Joined participants the bridge dropped before the end.
    dropped: u64,
    failures: Vec<String>,
    senders: usize,
    rate_target: f64,
    window_s: f64,
    sent: u64,
    refused: u64,
    /// Accepted messages per second in the window.
    sent_per_s: f64,
    /// Accepted messages × participants in the room.
    expected_deliveries: u64,
    delivered: u64,
    delivered_fraction: f64,
    /// Deliveries of the window's messages that arrived in it, per second.
    deliveries_per_s: f64,
    /// Offered: accepted messages/s × participants.
    offered_deliveries_per_s: f64,
    latency_us: Option<Percentiles>,
    join_ms: Option<Percentiles>,
    /// The bridge over the window, and over `--idle` seconds just before it: everyone in,
    /// nobody chatting (the baseline).
    bridge: Option<ProcFigures>,
    bridge_idle: Option<ProcFigures>,
    tool: Option<ProcFigures>,
    /// Bridge CPU per delivery over the window, above the idle baseline, µs.
    bridge_cpu_us_per_delivery: Option<f64>,
    interrupted: bool,
}

/// `pont-load chat`: the whole run.
pub(crate) async fn run(
    args: &ChatArgs,
    c: &Common,
    api: &Api,
    interrupted: &AtomicBool,
) -> anyhow::Result<std::process::ExitCode> {
    let p = args.participants;
    let k = args.senders.unwrap_or(p);
    if p == 0 || k == 0 || k > p {
        bail!("--senders {k} must be between 1 and --participants {p}");
    }
    if args.rate.is_nan() || args.rate <= 0.0 {
        bail!("--rate must be above 0");
    }
    if args.rate > k as f64 {
        bail!(
            "--rate {} msg/s from {k} senders is more than 1 msg/s each: the bridge refuses a \
             sender's messages past its burst of 5 at that pace; raise --senders to at least {}",
            args.rate,
            args.rate.ceil()
        );
    }
    let join_span = p as f64 / c.join_rate.max(0.1);
    let needed = join_span + 2.0 + (args.idle + c.duration + args.drain) as f64;
    if !args.connect && needed >= BRIDGE_CONNECT_TIMEOUT.as_secs_f64() - 1.0 {
        bail!(
            "signalling-only participants are dropped by the bridge {}s after joining (their \
             WebRTC leg never connects); joins ({join_span:.0} s at --join-rate {}) + --idle \
             ({} s) + window ({} s) + --drain ({} s) do not fit: raise --join-rate, shorten \
             --duration, --idle or --drain, or pass --connect",
            BRIDGE_CONNECT_TIMEOUT.as_secs(),
            c.join_rate,
            args.idle,
            c.duration,
            args.drain
        );
    }
    api.check()?;
    let room = match c.room {
        Some(r) => r,
        None => api.create_room("pont-load chat")?,
    };
    let pid = c.pid.or_else(|| crate::bridge::pid_listening_on(api.http));
    let mut proc = match pid {
        Some(p) => Some(ProcWatch::new(p)?),
        None => {
            eprintln!(
                "pont-load: warning: no pid for the bridge (pass --pid): no CPU/memory figures"
            );
            None
        }
    };
    let mode = if args.connect {
        "connected (str0m)"
    } else {
        "signalling only"
    };
    eprintln!(
        "pont-load: chat against pont at http://{} (room {room}, {p} participants {mode}, {k} \
         senders, {} msg/s, {} s)",
        api.http, args.rate, c.duration
    );

    let totals = Arc::new(Totals::default());
    let window = Arc::new(Window::default());
    let shared = Arc::new(Shared {
        live: Live::default(),
        speaker: SpeakerScript::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (start_tx, start_rx) = watch::channel(None);
    let started = Instant::now();
    let mut inboxes = Vec::with_capacity(p);
    let mut handles = Vec::with_capacity(p);
    for i in 0..p {
        let inbox = Arc::new(Inbox {
            totals: Arc::clone(&totals),
            window: Arc::clone(&window),
            ..Inbox::default()
        });
        inboxes.push(Arc::clone(&inbox));
        let out = (i < k).then(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(send_schedule(
                i,
                k,
                args.rate,
                args.text_bytes,
                Arc::clone(&inbox),
                start_rx.clone(),
                tx,
            ));
            rx
        });
        let delay = Duration::from_secs_f64(i as f64 / c.join_rate.max(0.1));
        let name = format!("chat-{i}");
        let shared = Arc::clone(&shared);
        let mut stop = stop_rx.clone();
        let connect = args.connect;
        let plan = WebPlan {
            name: name.clone(),
            room,
            http: api.http,
            audio_publisher: None,
            video_kbps: None,
            receive: c.receivers,
            sample_every: c.sample_every,
        };
        handles.push(tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stopped(&mut stop) => return PartResult::default(),
            }
            if connect {
                let s = web::run_with_chat(
                    plan,
                    Arc::clone(&shared),
                    stop,
                    Some(web::ChatLink {
                        inbox: Arc::clone(&inbox),
                        out,
                    }),
                )
                .await;
                if s.failed.is_some() && s.join_ms.is_some() {
                    Live::add(&inbox.totals.dropped, 1);
                }
                PartResult {
                    join_ms: s.join_ms,
                    failed: s.failed,
                }
            } else {
                let url = format!("ws://{}/api/v1/rooms/{}/ws", plan.http, room);
                tokio::select! {
                    r = signalling_only(name, url, inbox, shared, out) => r,
                    _ = stopped(&mut stop) => PartResult::default(),
                }
            }
        }));
    }

    // Joining, measuring, draining; a progress line a second.
    let live = &shared.live;
    let last_start = Duration::from_secs_f64(join_span);
    let join_deadline = started + last_start + Duration::from_secs(30);
    let mut me = ProcWatch::new(std::process::id()).ok();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut phase = "joining";
    let mut idle_from = Instant::now();
    let mut idle_fig = None;
    let mut t0 = Instant::now();
    let mut t1 = None;
    let mut last = (Instant::now(), 0u64, 0u64);
    let mut bridge_fig = None;
    let mut tool_fig = None;
    let mut quiet_since: Option<Instant> = None;
    while next_report(&mut tick, interrupted).await {
        let now = Instant::now();
        let (sent, delivered) = (Live::get(&totals.sent), Live::get(&totals.delivered));
        let (joined, failed) = (Live::get(&live.joined), Live::get(&live.failed));
        let dt = now.duration_since(last.0).as_secs_f64().max(1e-3);
        let cpu = proc.as_mut().map(|w| {
            let f = w.sample();
            w.mark_if_unmarked();
            f
        });
        let mine = me.as_mut().map(|w| {
            let f = w.sample();
            w.mark_if_unmarked();
            f
        });
        eprintln!(
            "[{:>4.0}s] chat {phase}: joined {joined}/{p} failed {failed} dropped {} | sent {:.0} msg/s refused {} | delivered {:.0} /s{}{}",
            started.elapsed().as_secs_f64(),
            Live::get(&totals.dropped),
            (sent - last.1) as f64 / dt,
            Live::get(&totals.refused),
            (delivered - last.2) as f64 / dt,
            cpu.map(|f| format!(
                " | pont cpu {:.0}% rss {:.1} MiB",
                f.cpu_recent * 100.0,
                f.rss_mib
            ))
            .unwrap_or_default(),
            mine.map(|f| format!(" | tool cpu {:.0}%", f.cpu_recent * 100.0))
                .unwrap_or_default(),
        );
        let delivered_moved = delivered != last.2;
        last = (now, sent, delivered);
        // A phase ends at its deadline, not at the first tick after it.
        let due = |end: Instant| now + Duration::from_millis(1100) >= end;
        let idle_end = idle_from + Duration::from_secs(args.idle);
        match phase {
            "joining" => {
                if joined + failed >= p as u64 || now > join_deadline {
                    if let Some(w) = proc.as_mut() {
                        w.mark();
                    }
                    idle_from = now;
                    phase = "idle";
                }
            }
            "idle" if !due(idle_end) => {}
            "idle" => {
                tokio::time::sleep_until(tokio::time::Instant::from_std(idle_end)).await;
                idle_fig = proc
                    .as_mut()
                    .filter(|_| args.idle > 0)
                    .map(ProcWatch::sample);
                let now = Instant::now();
                // Sending starts now; CPU counts from then.
                t0 = now + Duration::from_millis(50);
                let end = t0 + Duration::from_secs(c.duration);
                let us = |t: Instant| payload::now_us() + t.duration_since(now).as_micros() as u64;
                window.start_us.store(us(t0), Ordering::Relaxed);
                window.end_us.store(us(end), Ordering::Relaxed);
                let _ = start_tx.send(Some((
                    tokio::time::Instant::from_std(t0),
                    tokio::time::Instant::from_std(end),
                )));
                tokio::time::sleep_until(tokio::time::Instant::from_std(t0)).await;
                if let Some(w) = proc.as_mut() {
                    w.mark();
                }
                if let Some(w) = me.as_mut() {
                    w.mark();
                }
                phase = "measuring";
            }
            "measuring" => {
                let end = t0 + Duration::from_secs(c.duration);
                if due(end) {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(end)).await;
                    bridge_fig = proc.as_mut().map(ProcWatch::sample);
                    tool_fig = me.as_mut().map(ProcWatch::sample);
                    t1 = Some(Instant::now());
                    phase = "draining";
                }
            }
            _ => {
                let expected = sent.saturating_sub(Live::get(&totals.refused))
                    * joined.saturating_sub(Live::get(&totals.dropped));
                let all_in = delivered >= expected;
                if delivered_moved {
                    quiet_since = None;
                } else {
                    quiet_since.get_or_insert(now);
                }
                let quiet =
                    quiet_since.is_some_and(|q| now.duration_since(q) >= Duration::from_secs(2));
                let out_of_time =
                    t1.is_some_and(|t| now.duration_since(t) >= Duration::from_secs(args.drain));
                if all_in || quiet || out_of_time {
                    break;
                }
            }
        }
    }

    let window_end = t1.unwrap_or_else(Instant::now);
    let window_s = window_end.duration_since(t0).as_secs_f64().max(1e-3);
    if bridge_fig.is_none() {
        bridge_fig = proc.as_mut().map(ProcWatch::sample);
        tool_fig = me.as_mut().map(ProcWatch::sample);
    }
    let _ = stop_tx.send(true);
    let mut parts = Vec::new();
    for h in handles {
        if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(5), h).await {
            parts.push(r);
        }
    }
    let mut latency = Histogram::default();
    for i in &inboxes {
        latency.merge(&i.latency_us.lock().unwrap_or_else(|e| e.into_inner()));
    }
    let mut join = Histogram::default();
    for ms in parts.iter().filter_map(|r| r.join_ms) {
        join.record(ms);
    }
    let joined = Live::get(&live.joined);
    let dropped = Live::get(&totals.dropped);
    let sent = Live::get(&totals.sent);
    let refused = Live::get(&totals.refused);
    let accepted = sent.saturating_sub(refused);
    let in_room = joined.saturating_sub(dropped);
    let expected = accepted * in_room;
    let delivered = Live::get(&totals.delivered);
    let idle_cores = idle_fig.map_or(0.0, |f| f.cpu_cores);
    let bridge_cpu_us = bridge_fig
        .filter(|_| delivered > 0)
        .map(|f| (f.cpu_cores - idle_cores).max(0.0) * window_s * 1e6 / delivered as f64);
    let report = ChatReport {
        participants: p,
        mode,
        joined,
        join_failed: Live::get(&live.failed).saturating_sub(dropped),
        dropped,
        failures: parts
            .iter()
            .filter_map(|r| r.failed.clone())
            .take(5)
            .collect(),
        senders: k,
        rate_target: args.rate,
        window_s,
        sent,
        refused,
        sent_per_s: accepted as f64 / window_s,
        expected_deliveries: expected,
        delivered,
        delivered_fraction: if expected == 0 {
            0.0
        } else {
            delivered as f64 / expected as f64
        },
        deliveries_per_s: Live::get(&totals.delivered_in_window) as f64 / window_s,
        offered_deliveries_per_s: accepted as f64 * in_room as f64 / window_s,
        latency_us: latency.summary(),
        join_ms: join.summary(),
        bridge: bridge_fig,
        bridge_idle: idle_fig,
        tool: tool_fig,
        bridge_cpu_us_per_delivery: bridge_cpu_us,
        interrupted: interrupted.load(Ordering::SeqCst),
    };
    let text = table(&report);
    if c.json {
        eprint!("{text}");
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{text}");
    }
    if report.interrupted {
        eprintln!("pont-load: interrupted: the figures above are what was measured so far");
        return Ok(std::process::ExitCode::from(130));
    }
    if report.join_failed > 0 || report.dropped > 0 {
        eprintln!(
            "pont-load: {} joins failed, {} dropped; first: {}",
            report.join_failed,
            report.dropped,
            report.failures.first().map_or("?", String::as_str)
        );
        return Ok(std::process::ExitCode::FAILURE);
    }
    if expected == 0 {
        return Err(anyhow!("no message was accepted: nothing measured"));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn table(r: &ChatReport) -> String {
    let ms = |f: fn(&Percentiles) -> u64| {
        r.latency_us.as_ref().map_or("-".to_owned(), |p| {
            format!("{:.1} ms", f(p) as f64 / 1000.0)
        })
    };
    let cpu = |f: &Option<ProcFigures>| {
        f.as_ref()
            .map_or("-".to_owned(), |f| format!("{:.0} %", f.cpu_cores * 100.0))
    };
    let rows = [
        (
            "participants (joined / failed / dropped)",
            format!(
                "{} / {} / {} ({})",
                r.joined, r.join_failed, r.dropped, r.mode
            ),
        ),
        ("window", format!("{:.1} s", r.window_s)),
        (
            "senders, target rate",
            format!("{}, {} msg/s", r.senders, r.rate_target),
        ),
        (
            "messages sent / refused",
            format!(
                "{} / {} ({:.1} accepted/s)",
                r.sent, r.refused, r.sent_per_s
            ),
        ),
        (
            "deliveries expected / received",
            format!(
                "{} / {} ({:.2} %)",
                r.expected_deliveries,
                r.delivered,
                r.delivered_fraction * 100.0
            ),
        ),
        (
            "deliveries/s in the window (offered)",
            format!(
                "{:.0} ({:.0})",
                r.deliveries_per_s, r.offered_deliveries_per_s
            ),
        ),
        ("latency p50", ms(|p| p.p50)),
        ("latency p90", ms(|p| p.p90)),
        ("latency p99", ms(|p| p.p99)),
        ("latency max", ms(|p| p.max)),
        (
            "pont cpu window (idle baseline)",
            format!("{} ({})", cpu(&r.bridge), cpu(&r.bridge_idle)),
        ),
        (
            "pont cpu per delivery above idle",
            r.bridge_cpu_us_per_delivery
                .map_or("-".to_owned(), |u| format!("{u:.1} µs")),
        ),
        ("pont-load cpu (window)", cpu(&r.tool)),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut s = String::new();
    for (k, v) in rows {
        s.push_str(&format!("{k:<width$}  {v}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stamp_is_read_back_from_the_bridges_chat_message() {
        let sent = message(3, 7, 60);
        let v: serde_json::Value = serde_json::from_str(&sent).unwrap();
        let text = v["text"].as_str().unwrap();
        assert_eq!(text.len(), 60);
        // As the bridge sends it (ToBrowser::Chat: v, type, the line's fields).
        let back = json!({"seq": 1, "from": "p4", "name": "chat-3", "text": text, "at": 0});
        let back = format!("{CHAT_PREFIX}{}", &back.to_string()[1..]);
        let rest = back.strip_prefix(CHAT_PREFIX).unwrap();
        let us: u64 = text.split(' ').nth(1).unwrap().parse().unwrap();
        assert_eq!(stamp(rest), Some(us));
        assert_eq!(stamp(r#""text":"hello""#), None);
    }

    #[test]
    fn deliveries_count_only_for_the_windows_messages() {
        let inbox = Inbox::default();
        inbox.window.start_us.store(1, Ordering::Relaxed);
        inbox.window.end_us.store(u64::MAX, Ordering::Relaxed);
        let msg = |us: u64| {
            format!(r#"{CHAT_PREFIX}"seq":1,"from":"p1","name":"a","text":"pl {us} 0 0","at":0}}"#)
        };
        assert!(inbox.take(&msg(5)));
        assert!(inbox.take(&msg(0)), "taken, but sent before the window");
        assert!(inbox.take(r#"{"v":1,"type":"error","code":"chat_rate_limited","message":"x"}"#));
        assert!(!inbox.take(r#"{"v":1,"type":"joined","participant_id":"p1"}"#));
        assert_eq!(Live::get(&inbox.totals.delivered), 1);
        assert_eq!(Live::get(&inbox.totals.refused), 1);
    }
}
