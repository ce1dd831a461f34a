//! The figures of one run, the summary table and the JSON.

use serde::Serialize;
use serde_json::json;

use crate::bridge::ProcFigures;
use crate::metrics::PartStats;
use crate::stats::{Histogram, Percentiles};
use crate::web::ReceiveMode;

pub(crate) struct Inputs {
    pub(crate) scenario: &'static str,
    pub(crate) target: &'static str,
    pub(crate) participants: usize,
    pub(crate) window_s: f64,
    pub(crate) sent: u64,
    pub(crate) received: u64,
    /// RTCP datagrams the web clients sent in the window.
    pub(crate) rtcp_sent: u64,
    /// How the web clients received (`None`: the baseline's plain UDP clients).
    pub(crate) receive: Option<(ReceiveMode, u32)>,
    pub(crate) parts: Vec<PartStats>,
    pub(crate) process: Option<ProcFigures>,
    pub(crate) tool: Option<ProcFigures>,
    pub(crate) interrupted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) scenario: &'static str,
    /// `pont` or `udp-relay` (the baseline).
    pub(crate) target: &'static str,
    pub(crate) participants: usize,
    pub(crate) joins_ok: u64,
    pub(crate) joins_failed: u64,
    /// The first few failures, said plainly.
    pub(crate) failures: Vec<String>,
    /// Seconds of the measuring window (after the joins).
    pub(crate) window_s: f64,
    /// Packets the tool sent to the target in the window, and per second.
    pub(crate) packets_sent: u64,
    pub(crate) packets_in_per_s: f64,
    /// Packets the tool received from the target in the window, and per second.
    pub(crate) packets_received: u64,
    pub(crate) packets_out_per_s: f64,
    /// RTCP datagrams (receiver reports, transport-wide feedback) per second the web clients
    /// sent the target in the window: the same in both receive modes, or the modes differ in
    /// what they ask of the bridge.
    pub(crate) client_rtcp_per_s: f64,
    /// How the web clients received the RTP and how much of it str0m checked.
    pub(crate) receivers: Option<ReceiveCheck>,
    /// Whole run, all received streams: RFC 3550 expected − received.
    pub(crate) loss: Loss,
    /// RFC 3550 interarrival jitter of the received streams at the end, ms.
    pub(crate) jitter_ms: Jitter,
    /// One-way latency publisher → subscriber from the payload stamp (web → web only), µs.
    pub(crate) latency_us: Option<Percentiles>,
    pub(crate) join_ms: Option<Percentiles>,
    /// A publisher turning loud → a subscriber's `speaker` event naming it, ms.
    pub(crate) speaker_switch_ms: Option<Percentiles>,
    /// The target's CPU (cores) and memory over the window, from /proc.
    pub(crate) process: Option<ProcFigures>,
    /// pont-load's own CPU and memory over the window: it shares the cores with the target.
    pub(crate) tool: Option<ProcFigures>,
    /// Packets out per second per core of the target's own CPU time.
    pub(crate) packets_out_per_core: Option<f64>,
    /// Streams the participants received (one SSRC at one receiver: mediasoup's "consumer",
    /// Jitsi's forwarded stream; one per phone caller: its mix).
    pub(crate) received_streams: usize,
    /// The same per core of the target's CPU.
    pub(crate) streams_per_core: Option<f64>,
    pub(crate) interrupted: bool,
}

/// The web clients' receive path over the whole run (joins included).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct ReceiveCheck {
    /// `full` or `sampled`.
    pub(crate) mode: &'static str,
    /// Sampled: at least one in this many audio packets of a stream went through str0m.
    pub(crate) sample_every: Option<u32>,
    /// RTP datagrams handed to str0m (SRTP authentication and decryption).
    pub(crate) srtp_checked: u64,
    /// Of those, the packets str0m delivered (authenticated, known stream, not a duplicate).
    pub(crate) srtp_delivered: u64,
    /// RTP datagrams counted from their plaintext header only.
    pub(crate) header_counted: u64,
    /// `srtp_checked` / all RTP datagrams received once connected.
    pub(crate) checked_fraction: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Default)]
pub(crate) struct Loss {
    pub(crate) expected: u64,
    pub(crate) lost: u64,
    pub(crate) fraction: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Default)]
pub(crate) struct Jitter {
    pub(crate) streams: usize,
    pub(crate) mean: f64,
    pub(crate) max: f64,
}

pub(crate) fn build(i: Inputs) -> Report {
    let mut latency = Histogram::default();
    let mut join = Histogram::default();
    let mut speaker = Histogram::default();
    let mut loss = Loss::default();
    let mut jitters = Vec::new();
    let mut failures = Vec::new();
    let mut joins_ok = 0;
    let (mut checked, mut delivered, mut header) = (0, 0, 0);
    for p in &i.parts {
        checked += p.srtp_checked;
        delivered += p.srtp_ok;
        header += p.header_counted;
        latency.merge(&p.latency_us);
        speaker.merge(&p.speaker_ms);
        if let Some(j) = p.join_ms {
            join.record(j);
            joins_ok += 1;
        }
        if let Some(f) = &p.failed
            && p.join_ms.is_none()
        {
            failures.push(format!("{} {f}", p.kind));
        }
        for s in p.streams.values() {
            loss.expected += s.loss.expected();
            loss.lost += s.loss.lost();
            jitters.push(s.jitter_ms());
        }
    }
    // Participants whose task never reported count as failed too.
    let joins_failed = (i.participants as u64).saturating_sub(joins_ok);
    loss.fraction = loss.lost as f64 / loss.expected.max(1) as f64;
    let jitter = Jitter {
        streams: jitters.len(),
        // An empty f64 sum is -0.0: start from +0.0 so "no streams" prints as 0.
        mean: jitters.iter().fold(0.0, |a, j| a + j) / jitters.len().max(1) as f64,
        max: jitters.iter().copied().fold(0.0, f64::max),
    };
    let window = i.window_s.max(1e-3);
    let out_per_s = i.received as f64 / window;
    failures.truncate(5);
    let receivers = i.receive.map(|(mode, every)| ReceiveCheck {
        mode: match mode {
            ReceiveMode::Full => "full",
            ReceiveMode::Sampled => "sampled",
        },
        sample_every: (mode == ReceiveMode::Sampled).then_some(every),
        srtp_checked: checked,
        srtp_delivered: delivered,
        header_counted: header,
        checked_fraction: checked as f64 / (checked + header).max(1) as f64,
    });
    Report {
        scenario: i.scenario,
        target: i.target,
        participants: i.participants,
        joins_ok,
        joins_failed,
        failures,
        window_s: i.window_s,
        packets_sent: i.sent,
        packets_in_per_s: i.sent as f64 / window,
        packets_received: i.received,
        packets_out_per_s: out_per_s,
        client_rtcp_per_s: i.rtcp_sent as f64 / window,
        receivers,
        loss,
        jitter_ms: jitter,
        latency_us: latency.summary(),
        join_ms: join.summary(),
        speaker_switch_ms: speaker.summary(),
        packets_out_per_core: i
            .process
            .filter(|p| p.cpu_cores > 0.0)
            .map(|p| out_per_s / p.cpu_cores),
        received_streams: jitters.len(),
        streams_per_core: i
            .process
            .filter(|p| p.cpu_cores > 0.0)
            .map(|p| jitters.len() as f64 / p.cpu_cores),
        process: i.process,
        tool: i.tool,
        interrupted: i.interrupted,
    }
}

/// Target / baseline ratios of the figures that compare.
fn ratios(bridge: &Report, relay: &Report) -> serde_json::Value {
    let r = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    json!({
        "packets_out_per_s": r(Some(bridge.packets_out_per_s), Some(relay.packets_out_per_s)),
        "packets_out_per_core": r(bridge.packets_out_per_core, relay.packets_out_per_core),
        "streams_per_core": r(bridge.streams_per_core, relay.streams_per_core),
        "latency_p50_added_us": bridge.latency_us.zip(relay.latency_us).map(|(a, b)| a.p50 as i64 - b.p50 as i64),
        "latency_p99_added_us": bridge.latency_us.zip(relay.latency_us).map(|(a, b)| a.p99 as i64 - b.p99 as i64),
    })
}

pub(crate) fn json(bridge: Option<&Report>, relay: Option<&Report>) -> String {
    let mut v = match bridge {
        Some(b) => serde_json::to_value(b).unwrap_or_default(),
        None => json!({}),
    };
    if let Some(r) = relay {
        v["baseline"] = serde_json::to_value(r).unwrap_or_default();
        if let Some(b) = bridge {
            v["ratio_to_baseline"] = ratios(b, r);
        }
    }
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

pub(crate) fn table(bridge: Option<&Report>, relay: Option<&Report>) -> String {
    let cols: Vec<&Report> = bridge.into_iter().chain(relay).collect();
    if cols.is_empty() {
        return String::new();
    }
    let pct = |p: &Option<Percentiles>, f: fn(&Percentiles) -> u64, scale: f64, unit: &str| {
        p.as_ref().map_or("-".to_owned(), |p| {
            format!("{:.2} {unit}", f(p) as f64 / scale)
        })
    };
    type Row = (&'static str, Box<dyn Fn(&Report) -> String>);
    let rows: Vec<Row> = vec![
        (
            "participants (ok / failed)",
            Box::new(|r| format!("{} / {}", r.joins_ok, r.joins_failed)),
        ),
        ("window", Box::new(|r| format!("{:.1} s", r.window_s))),
        (
            "packets in /s",
            Box::new(|r| format!("{:.0}", r.packets_in_per_s)),
        ),
        (
            "packets out /s",
            Box::new(|r| format!("{:.0}", r.packets_out_per_s)),
        ),
        (
            "loss",
            Box::new(|r| {
                format!(
                    "{:.3} % ({} of {})",
                    r.loss.fraction * 100.0,
                    r.loss.lost,
                    r.loss.expected
                )
            }),
        ),
        (
            "jitter mean / max",
            Box::new(|r| format!("{:.2} / {:.2} ms", r.jitter_ms.mean, r.jitter_ms.max)),
        ),
        (
            "latency p50",
            Box::new(move |r| pct(&r.latency_us, |p| p.p50, 1000.0, "ms")),
        ),
        (
            "latency p99",
            Box::new(move |r| pct(&r.latency_us, |p| p.p99, 1000.0, "ms")),
        ),
        (
            "join p50 / p99",
            Box::new(move |r| {
                format!(
                    "{} / {}",
                    pct(&r.join_ms, |p| p.p50, 1.0, "ms"),
                    pct(&r.join_ms, |p| p.p99, 1.0, "ms")
                )
            }),
        ),
        (
            "speaker switch p50 / p99",
            Box::new(move |r| {
                format!(
                    "{} / {}",
                    pct(&r.speaker_switch_ms, |p| p.p50, 1.0, "ms"),
                    pct(&r.speaker_switch_ms, |p| p.p99, 1.0, "ms")
                )
            }),
        ),
        (
            "target CPU",
            Box::new(|r| {
                r.process.map_or("-".into(), |p| {
                    format!("{:.1} % of a core", p.cpu_cores * 100.0)
                })
            }),
        ),
        (
            "pont-load's own CPU",
            Box::new(|r| {
                r.tool.map_or("-".into(), |p| {
                    format!("{:.1} % of a core", p.cpu_cores * 100.0)
                })
            }),
        ),
        (
            "target RSS (peak)",
            Box::new(|r| {
                r.process.map_or("-".into(), |p| {
                    format!("{:.1} MiB ({:.1})", p.rss_mib, p.peak_rss_mib)
                })
            }),
        ),
        (
            "packets out /s per core",
            Box::new(|r| {
                r.packets_out_per_core
                    .map_or("-".into(), |v| format!("{v:.0}"))
            }),
        ),
        (
            "clients' RTCP to target /s",
            Box::new(|r| {
                r.receivers
                    .map_or("-".into(), |_| format!("{:.0}", r.client_rtcp_per_s))
            }),
        ),
        (
            "receivers: str0m-checked",
            Box::new(|r| r.receivers.map_or("-".into(), |c| receive_cell(&c))),
        ),
        (
            "received streams (per core)",
            Box::new(|r| {
                let per_core = r.streams_per_core.map_or("-".into(), |v| format!("{v:.0}"));
                format!("{} ({per_core})", r.received_streams)
            }),
        ),
    ];
    let mut out = format!("\n{:<28}", format!("scenario {}", cols[0].scenario));
    for c in &cols {
        out.push_str(&format!(" | {:<30}", c.target));
    }
    out.push('\n');
    out.push_str(&"-".repeat(28 + cols.len() * 33));
    out.push('\n');
    for (name, f) in &rows {
        out.push_str(&format!("{name:<28}"));
        for c in &cols {
            out.push_str(&format!(" | {:<30}", f(c)));
        }
        out.push('\n');
    }
    if let (Some(b), Some(r)) = (bridge, relay) {
        let v = ratios(b, r);
        out.push_str(&format!(
            "ratio pont / relay: packets out {}, per core {}; added latency p50 {} µs, p99 {} µs\n",
            fmt_ratio(&v["packets_out_per_s"]),
            fmt_ratio(&v["packets_out_per_core"]),
            v["latency_p50_added_us"],
            v["latency_p99_added_us"],
        ));
    }
    out
}

/// E.g. `sampled 1/16: 27.3 %, 0 lost` — the share of RTP str0m authenticated, and how many
/// of those it did not deliver (failed SRTP, unknown stream or duplicate).
fn receive_cell(c: &ReceiveCheck) -> String {
    let mode = match c.sample_every {
        Some(n) => format!("{} 1/{n}", c.mode),
        None => c.mode.to_owned(),
    };
    format!(
        "{mode}: {:.1} %, {} lost",
        c.checked_fraction * 100.0,
        c.srtp_checked.saturating_sub(c.srtp_delivered)
    )
}

fn fmt_ratio(v: &serde_json::Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.2}"))
}
