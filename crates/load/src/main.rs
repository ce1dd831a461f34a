//! `pont-load`: load scenarios against a running pont bridge on this machine — web
//! participants that join exactly as a browser does (WebSocket signalling, then str0m doing
//! ICE/DTLS-SRTP to the one `--media` port) and phone callers through the dial-in IVR (SIP,
//! G.711, RFC 4733 DTMF) — with packets/s, loss, jitter, one-way latency, join time,
//! speaker-switch latency and the bridge's CPU and memory, and a baseline: the same packet
//! pattern through `udp-relay`, a plain recvmmsg/sendmmsg forwarder.
//!
//! Web subscribers receive through str0m only in part by default (`--receivers sampled`: ICE,
//! DTLS, RTCP and a sample of the RTP, the rest counted from the plaintext RTP header; see
//! `web.rs`), so the tool costs a fraction of the bridge's CPU and a 2-core machine can find
//! the bridge's knee; `--receivers full` puts every datagram through str0m.
//!
//! It owns sockets, clocks and a tokio runtime (DESIGN: only `server` and `load` do); it never
//! targets anything but loopback.
#![forbid(unsafe_code)]

mod bridge;
mod chat;
mod https;
mod metrics;
mod payload;
mod relay;
mod report;
mod rtp;
mod sip;
mod stats;
mod web;

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use tokio::sync::watch;

use crate::bridge::{Api, ProcWatch};
use crate::metrics::{Live, PartStats, SpeakerScript};
use crate::report::Report;
use crate::sip::{Roster, SipPlan};
use crate::web::{ReceiveMode, Shared, WebPlan};

/// Load scenarios against a pont bridge on this machine (loopback only).
#[derive(Debug, Parser)]
#[command(name = "pont-load", version)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Args, Clone)]
struct Common {
    /// The bridge's HTTP address (`pont serve --http`): API and WebSocket signalling.
    #[arg(
        long,
        global = true,
        default_value = "127.0.0.1:8080",
        env = "PONT_LOAD_HTTP"
    )]
    http: String,
    /// The bridge's SIP address (`pont serve --sip`), for `sip` and `mixed`.
    #[arg(
        long,
        global = true,
        default_value = "127.0.0.1:5060",
        env = "PONT_LOAD_SIP"
    )]
    sip: String,
    /// An organizer token (`pont token create <name>`) to create rooms and read them.
    #[arg(long, global = true, env = "PONT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Use this existing room instead of creating one (single-room scenarios).
    #[arg(long, global = true)]
    room: Option<u64>,
    /// The bridge's pid for CPU and memory; default: the process listening on `--http`.
    #[arg(long, global = true)]
    pid: Option<u32>,
    /// Seconds of measurement once everyone has joined.
    #[arg(long, global = true, default_value_t = 10)]
    duration: u64,
    /// Web participants started per second.
    #[arg(long, global = true, default_value_t = 20.0)]
    join_rate: f64,
    /// Seconds per talk spurt: one publisher at a time is loud, in turn.
    #[arg(long, global = true, default_value_t = 3)]
    spurt: u64,
    /// Print the figures as JSON on standard output (the table goes to standard error).
    #[arg(long, global = true)]
    json: bool,
    /// How web participants receive: `sampled` (ICE, DTLS, RTCP and a sample of the RTP
    /// through str0m, the rest of the audio counted from its plaintext RTP header: a fraction
    /// of full's CPU) or `full` (every datagram through str0m, as a browser's stack does).
    #[arg(long, global = true, value_enum, default_value_t = ReceiveMode::Sampled)]
    receivers: ReceiveMode,
    /// Sampled mode: str0m authenticates, decrypts and times at least one in this many audio
    /// packets of each stream (and some RTP every 25 ms, so its feedback keeps its cadence).
    #[arg(long, global = true, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    sample_every: u32,
}

#[derive(Debug, Subcommand, Clone)]
enum Scenario {
    /// P audio publishers → S subscribers in one room (LiveKit's "large audio room").
    Fanout {
        #[arg(long, default_value_t = 2)]
        publishers: usize,
        #[arg(long, default_value_t = 50)]
        subscribers: usize,
        #[command(flatten)]
        baseline: Baseline,
    },
    /// R rooms of K participants, each publishing audio (and video) to all others
    /// (mediasoup's consumers per core).
    Rooms {
        #[arg(long, default_value_t = 4)]
        rooms: usize,
        #[arg(long, default_value_t = 4)]
        size: usize,
        /// Also publish video at this bitrate (kbit/s).
        #[arg(long)]
        video_kbps: Option<u32>,
        #[command(flatten)]
        baseline: Baseline,
    },
    /// K participants in one room, each sending ~500 kbit/s video + audio (Jitsi's test).
    Video {
        #[arg(long, default_value_t = 4)]
        participants: usize,
        #[arg(long, default_value_t = 500)]
        kbps: u32,
        #[command(flatten)]
        baseline: Baseline,
    },
    /// SIP callers at a rate, G.711 + RFC 4733 DTMF through the dial-in IVR into one room.
    Sip {
        #[arg(long, default_value_t = 10)]
        callers: usize,
        /// New calls per second.
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
        /// The dial-in user: INVITE `sip:<user>@<bridge>`.
        #[arg(long, default_value = "dialin")]
        user: String,
    },
    /// Web participants (audio publishers) and SIP callers in one room.
    Mixed {
        #[arg(long, default_value_t = 4)]
        web: usize,
        #[arg(long, default_value_t = 4)]
        callers: usize,
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
        #[arg(long, default_value = "dialin")]
        user: String,
    },
    /// In-meeting chat through the signalling path: deliveries/s, delivered share, latency.
    ///
    /// P participants join one room over the WebSocket (signalling only, or `--connect`); K of
    /// them send R chat messages/s in total (each every K/R s, so K ≥ R keeps them under the
    /// bridge's 1 msg/s after a burst of 5); every receiver measures deliveries/s, the fraction
    /// of expected deliveries (each message to all P) and the delivery latency from the send
    /// time carried in the text. The bridge's CPU over `--idle` seconds just before (everyone
    /// in, nobody chatting) is the baseline. Signalling-only participants are dropped by the
    /// bridge 30 s after joining (their WebRTC leg never connects): joins + --idle +
    /// --duration + --drain must fit (checked). Uses --room (or creates one with --token),
    /// --duration, --join-rate, --pid, --json.
    Chat(chat::ChatArgs),
    /// TLS on the HTTP side: full and resumed handshakes/s and kept-alive requests/s against a
    /// bridge serving HTTPS (`--http`, `--ca` its certificate's root), and new-connection and
    /// kept-alive requests/s against one serving plain HTTP (`--plain`) in the same run, with
    /// each bridge's CPU per request. Uses --http, --pid, --duration, --json.
    Https(https::HttpsArgs),
}

#[derive(Debug, Args, Clone, Default)]
struct Baseline {
    /// Also run the same packet pattern through `udp-relay` first, and report ratios.
    #[arg(long)]
    baseline: bool,
    /// A running `udp-relay` to use for the baseline (else one is started next to this binary).
    #[arg(long)]
    relay: Option<String>,
    /// Run only the baseline (the relay's own limit), not the bridge.
    #[arg(long)]
    baseline_only: bool,
}

/// Who takes part in one run.
#[derive(Debug, Clone, Default)]
struct Plan {
    web: Vec<WebPlan>,
    sip: Vec<SipPlan>,
    publishers: usize,
    sip_rate: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pont-load: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pont-load: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let c = &cli.common;
    let http = bridge::loopback("http", &c.http)?;
    let sip_addr = bridge::loopback("sip", &c.sip)?;
    let api = Api {
        http,
        token: c.token.clone(),
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&interrupted);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, Ordering::SeqCst);
            }
        });
    }

    if let Scenario::Chat(args) = &cli.scenario {
        if api.token.is_none() && c.room.is_none() {
            bail!(
                "creating a room needs an organizer token: --token (or PONT_TOKEN), from \
                 `pont token create <name> --data <the bridge's data dir>`; or --room <existing room>"
            );
        }
        return chat::run(args, c, &api, &interrupted).await;
    }
    if let Scenario::Https(args) = &cli.scenario {
        return https::run(args, c, &interrupted).await;
    }

    // The baseline first: it needs no bridge.
    let (name, baseline) = match &cli.scenario {
        Scenario::Fanout { baseline, .. } => ("fanout", baseline.clone()),
        Scenario::Rooms { baseline, .. } => ("rooms", baseline.clone()),
        Scenario::Video { baseline, .. } => ("video", baseline.clone()),
        Scenario::Sip { .. } => ("sip", Baseline::default()),
        Scenario::Mixed { .. } => ("mixed", Baseline::default()),
        Scenario::Chat(_) => ("chat", Baseline::default()),
        Scenario::Https(_) => ("https", Baseline::default()),
    };
    // The baseline alone needs no bridge.
    if !baseline.baseline_only {
        api.check()?;
        if api.token.is_none() && (c.room.is_none() || room_count(&cli.scenario) > 1) {
            bail!(
                "creating rooms needs an organizer token: --token (or PONT_TOKEN), from \
                 `pont token create <name> --data <the bridge's data dir>`; or --room <existing room>"
            );
        }
    }
    let mut relay_report = None;
    if baseline.baseline || baseline.baseline_only {
        let (relay_addr, child) = match &baseline.relay {
            Some(a) => (bridge::loopback("relay", a)?, None),
            None => {
                let (a, ch) = start_relay()?;
                (a, Some(ch))
            }
        };
        let rooms: Vec<u64> = (1..=room_count(&cli.scenario) as u64).collect();
        let plan = plan_for(&cli.scenario, c, http, sip_addr, &rooms);
        let proc = bridge::pid_bound_udp(relay_addr).and_then(|p| ProcWatch::new(p).ok());
        eprintln!("pont-load: baseline: {name} through udp-relay at {relay_addr}");
        let r = execute(
            name,
            "udp-relay",
            plan,
            c,
            Some(relay_addr),
            None,
            proc,
            &interrupted,
        )
        .await;
        if let Some(mut ch) = child {
            let _ = ch.kill();
            let _ = ch.wait();
        }
        relay_report = Some(r);
        if interrupted.load(Ordering::SeqCst) || baseline.baseline_only {
            return finish(c, None, relay_report);
        }
    }

    let rooms: Vec<u64> = match c.room {
        Some(r) if room_count(&cli.scenario) == 1 => vec![r],
        _ => (0..room_count(&cli.scenario))
            .map(|i| api.create_room(&format!("pont-load {name} {i}")))
            .collect::<anyhow::Result<_>>()?,
    };
    if matches!(cli.scenario, Scenario::Sip { .. } | Scenario::Mixed { .. }) {
        sip::check(sip_addr).await?;
    }
    let plan = plan_for(&cli.scenario, c, http, sip_addr, &rooms);
    let pid = c.pid.or_else(|| bridge::pid_listening_on(http));
    let proc = match pid {
        Some(p) => Some(ProcWatch::new(p)?),
        None => {
            eprintln!(
                "pont-load: warning: no pid for the bridge (pass --pid): no CPU/memory figures"
            );
            None
        }
    };
    let roster = (!plan.sip.is_empty() && api.token.is_some()).then(|| {
        let roster: Roster = Arc::default();
        roster
    });
    eprintln!(
        "pont-load: {name} against pont at http://{http} (rooms {rooms:?}, {} web, {} SIP)",
        plan.web.len(),
        plan.sip.len()
    );
    let r = execute(
        name,
        "pont",
        plan,
        c,
        None,
        roster.map(|r| (r, api.clone(), rooms.clone())),
        proc,
        &interrupted,
    )
    .await;
    finish(c, Some(r), relay_report)
}

/// Prints the table (and JSON); the exit code says whether everyone joined.
fn finish(c: &Common, bridge: Option<Report>, relay: Option<Report>) -> anyhow::Result<ExitCode> {
    let table = report::table(bridge.as_ref(), relay.as_ref());
    if c.json {
        eprint!("{table}");
        println!("{}", report::json(bridge.as_ref(), relay.as_ref()));
    } else {
        print!("{table}");
    }
    let all: Vec<&Report> = bridge.iter().chain(relay.iter()).collect();
    if all.iter().any(|r| r.interrupted) {
        eprintln!("pont-load: interrupted: the figures above are what was measured so far");
        return Ok(ExitCode::from(130));
    }
    for r in all {
        if r.joins_failed > 0 {
            eprintln!(
                "pont-load: {} of {} joins failed against {}; first: {}",
                r.joins_failed,
                r.participants,
                r.target,
                r.failures.first().map_or("?", String::as_str)
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn room_count(s: &Scenario) -> usize {
    match s {
        Scenario::Rooms { rooms, .. } => *rooms,
        _ => 1,
    }
}

fn plan_for(s: &Scenario, c: &Common, http: SocketAddr, sip: SocketAddr, rooms: &[u64]) -> Plan {
    let web = |name: String, room: u64, publisher: Option<usize>, video: Option<u32>| WebPlan {
        name,
        room,
        http,
        audio_publisher: publisher,
        video_kbps: video,
        receive: c.receivers,
        sample_every: c.sample_every,
    };
    let caller = |i: usize, room: u64, user: &str| SipPlan {
        name: format!("sip-{i}"),
        sip,
        user: user.to_owned(),
        room,
        amplitude: 0.01,
    };
    let room = rooms.first().copied().unwrap_or(1);
    let mut p = Plan::default();
    match s {
        Scenario::Fanout {
            publishers,
            subscribers,
            ..
        } => {
            p.publishers = *publishers;
            p.web
                .extend((0..*publishers).map(|i| web(format!("pub-{i}"), room, Some(i), None)));
            p.web
                .extend((0..*subscribers).map(|i| web(format!("sub-{i}"), room, None, None)));
        }
        Scenario::Rooms {
            size, video_kbps, ..
        } => {
            for (r, &room) in rooms.iter().enumerate() {
                // Indexes past the script: these publishers stay quiet (no spurts across rooms).
                p.web.extend((0..*size).map(|i| {
                    web(
                        format!("r{r}-{i}"),
                        room,
                        Some(usize::MAX / 2 + r * size + i),
                        *video_kbps,
                    )
                }));
            }
        }
        Scenario::Video {
            participants, kbps, ..
        } => {
            p.publishers = *participants;
            p.web.extend(
                (0..*participants).map(|i| web(format!("vid-{i}"), room, Some(i), Some(*kbps))),
            );
        }
        Scenario::Sip {
            callers,
            rate,
            user,
        } => {
            p.sip_rate = *rate;
            p.sip.extend((0..*callers).map(|i| caller(i, room, user)));
        }
        Scenario::Mixed {
            web: n,
            callers,
            rate,
            user,
        } => {
            p.publishers = *n;
            p.sip_rate = *rate;
            p.web
                .extend((0..*n).map(|i| web(format!("web-{i}"), room, Some(i), None)));
            p.sip.extend((0..*callers).map(|i| caller(i, room, user)));
        }
        // Run by `chat::run`, not from a plan.
        Scenario::Chat(_) | Scenario::Https(_) => {}
    }
    p
}

/// Starts `udp-relay` (next to this binary) on a free loopback port.
fn start_relay() -> anyhow::Result<(SocketAddr, Child)> {
    let exe = std::env::current_exe()?.with_file_name("udp-relay");
    let mut child = Command::new(&exe)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "start {} (build it: cargo build -p pont-load)",
                exe.display()
            )
        })?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("relay stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("udp-relay listening ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| anyhow!("udp-relay said {line:?}"))?;
    Ok((addr, child))
}

/// Starts everyone, waits for the joins, measures `duration` seconds, stops everyone.
#[allow(clippy::too_many_arguments)]
async fn execute(
    scenario: &'static str,
    target: &'static str,
    plan: Plan,
    c: &Common,
    relay: Option<SocketAddr>,
    roster: Option<(Roster, Api, Vec<u64>)>,
    mut proc: Option<ProcWatch>,
    interrupted: &AtomicBool,
) -> Report {
    let shared = Arc::new(Shared {
        live: Live::default(),
        speaker: SpeakerScript::new(plan.publishers),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let total = plan.web.len() + plan.sip.len();
    let started = Instant::now();
    let mut handles = Vec::with_capacity(total);
    let mut last_start = Duration::ZERO;

    // Who is in the room, by display name, for SIP join times.
    let watcher_stop = Arc::new(AtomicBool::new(false));
    let roster_map = roster.as_ref().map(|(r, _, _)| Arc::clone(r));
    if let Some((map, api, rooms)) = roster {
        let stop = Arc::clone(&watcher_stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for &room in &rooms {
                    if let Ok(names) = api.participants(room, "pstn") {
                        let now = Instant::now();
                        let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
                        for n in names {
                            m.entry(n).or_insert(now);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    }

    for (i, w) in plan.web.into_iter().enumerate() {
        let delay = Duration::from_secs_f64(i as f64 / c.join_rate.max(0.1));
        last_start = last_start.max(delay);
        let shared = Arc::clone(&shared);
        let stop = stop_rx.clone();
        handles.push(tokio::spawn(async move {
            let mut s = stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = metrics::stopped(&mut s) => return PartStats { kind: "web", ..Default::default() },
            }
            match relay {
                Some(r) => relay::run(w, r, shared, stop).await,
                None => web::run(w, shared, stop).await,
            }
        }));
    }
    for (i, p) in plan.sip.into_iter().enumerate() {
        let delay = Duration::from_secs_f64(i as f64 / plan.sip_rate.max(0.01));
        last_start = last_start.max(delay);
        let shared = Arc::clone(&shared);
        let stop = stop_rx.clone();
        let roster = roster_map.clone();
        handles.push(tokio::spawn(async move {
            let mut s = stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = metrics::stopped(&mut s) => return PartStats { kind: "sip", ..Default::default() },
            }
            sip::run(p, shared, roster, stop).await
        }));
    }

    // Joining: until everyone is in or failed (or 30 s past the last start).
    let live = &shared.live;
    let join_deadline = started + last_start + Duration::from_secs(30);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut window: Option<(Instant, u64, u64, u64)> = None;
    let mut spurt = 0u64;
    let mut me = ProcWatch::new(std::process::id()).ok();
    let mut next_spurt = Instant::now();
    let mut last = (Instant::now(), 0u64, 0u64);
    while next_report(&mut tick, interrupted).await {
        let now = Instant::now();
        let (sent, recv) = (Live::get(&live.sent), Live::get(&live.received));
        let joined = Live::get(&live.joined);
        let failed = Live::get(&live.failed);
        let dt = now.duration_since(last.0).as_secs_f64().max(1e-3);
        let cpu = proc.as_mut().map(|p| {
            let f = p.sample();
            p.mark_if_unmarked();
            f
        });
        let phase = if window.is_some() {
            "measuring"
        } else {
            "joining"
        };
        eprintln!(
            "[{:>4.0}s] {target} {phase}: joined {joined}/{total} failed {failed} | in {:.0} pkt/s out {:.0} pkt/s{}",
            started.elapsed().as_secs_f64(),
            (sent - last.1) as f64 / dt,
            (recv - last.2) as f64 / dt,
            cpu.map(|f| format!(
                " | {target} cpu {:.0}% rss {:.1} MiB",
                f.cpu_recent * 100.0,
                f.rss_mib
            ))
            .unwrap_or_default()
        );
        last = (now, sent, recv);
        match window {
            None => {
                if joined + failed >= total as u64 || now > join_deadline {
                    window = Some((now, sent, recv, Live::get(&live.rtcp_sent)));
                    if let Some(p) = proc.as_mut() {
                        p.mark();
                    }
                    if let Some(p) = me.as_mut() {
                        p.mark();
                    }
                    next_spurt = now;
                }
            }
            Some((t0, _, _, _)) => {
                // Ticks come every second; a few ms of scheduling must not cost a whole extra tick.
                if now.duration_since(t0) + Duration::from_millis(100)
                    >= Duration::from_secs(c.duration)
                {
                    break;
                }
            }
        }
        if window.is_some() && plan.publishers > 1 && now >= next_spurt {
            if shared.speaker.next_spurt(spurt) {
                spurt += 1;
            }
            next_spurt = now + Duration::from_secs(c.spurt.max(1));
        }
    }

    // The window's figures before anyone leaves (leaving costs the bridge CPU too).
    let end = Instant::now();
    let (sent1, recv1) = (Live::get(&live.sent), Live::get(&live.received));
    let rtcp1 = Live::get(&live.rtcp_sent);
    let proc_figures = proc.as_mut().map(|p| p.sample());
    let tool_figures = me.as_mut().map(|p| p.sample());
    let _ = stop_tx.send(true);
    watcher_stop.store(true, Ordering::Relaxed);
    let mut parts = Vec::new();
    for h in handles {
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(5), h).await {
            parts.push(s);
        }
    }
    let (t0, sent0, recv0, rtcp0) = window.unwrap_or((started, 0, 0, 0));
    report::build(report::Inputs {
        scenario,
        target,
        participants: total,
        window_s: end.duration_since(t0).as_secs_f64(),
        sent: sent1 - sent0,
        received: recv1 - recv0,
        rtcp_sent: rtcp1 - rtcp0,
        receive: (target == "pont").then_some((c.receivers, c.sample_every)),
        parts,
        process: proc_figures,
        tool: tool_figures,
        interrupted: interrupted.load(Ordering::SeqCst),
    })
}

/// Waits for the next report tick (looking at Ctrl-C every 50 ms); `false` once the run is
/// interrupted.
pub(crate) async fn next_report(
    tick: &mut tokio::time::Interval,
    interrupted: &AtomicBool,
) -> bool {
    loop {
        tokio::select! {
            _ = tick.tick() => return !interrupted.load(Ordering::SeqCst),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                if interrupted.load(Ordering::SeqCst) {
                    return false;
                }
            }
        }
    }
}
