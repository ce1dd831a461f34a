//! `/metrics` in the Prometheus text exposition format (version 0.0.4).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::media::{JOIN_BUCKETS, ShardFigures, StatsSnapshot};

/// Renders the media core's counters and the room and participant gauges.
pub(crate) fn render(snapshot: &StatsSnapshot) -> String {
    let s = &snapshot.stats;
    let mut out = String::with_capacity(2048);
    let simple: [(&str, &str, u64); 12] = [
        (
            "pont_rtp_received_packets_total",
            "RTP packets received from participants.",
            s.rtp_in_packets,
        ),
        (
            "pont_rtp_received_bytes_total",
            "RTP bytes received from participants.",
            s.rtp_in_bytes,
        ),
        (
            "pont_forwarded_packets_total",
            "RTP packets forwarded to subscribers.",
            s.forwarded_packets,
        ),
        (
            "pont_forwarded_bytes_total",
            "RTP bytes forwarded to subscribers.",
            s.forwarded_bytes,
        ),
        (
            "pont_retransmitted_packets_total",
            "RTP packets resent in answer to NACKs.",
            s.retransmitted_packets,
        ),
        (
            "pont_rtcp_received_packets_total",
            "RTCP packets received from participants.",
            s.rtcp_in_packets,
        ),
        (
            "pont_rtcp_sent_packets_total",
            "RTCP packets sent to participants.",
            s.rtcp_out_packets,
        ),
        (
            "pont_keyframe_requests_total",
            "Keyframe requests (PLI/FIR) sent to publishers.",
            s.keyframe_requests,
        ),
        (
            "pont_udp_received_datagrams_total",
            "Datagrams received on the WebRTC media port.",
            snapshot.udp_in_datagrams,
        ),
        (
            "pont_udp_unrouted_datagrams_total",
            "Media-port datagrams no WebRTC leg accepted (garbage, stale peers, wrong ufrag).",
            snapshot.udp_unrouted_datagrams,
        ),
        (
            "pont_web_legs",
            "WebRTC legs (browsers) connected or connecting.",
            snapshot.web_legs as u64,
        ),
        (
            "pont_media_core_up",
            "Always 1 while the media core answers (a scrape fails otherwise).",
            1,
        ),
    ];
    for (name, help, value) in simple {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        family(&mut out, name, help, kind);
        let _ = writeln!(out, "{name} {value}");
    }

    family(
        &mut out,
        "pont_dropped_packets_total",
        "Received packets dropped by the media core, by reason.",
        "counter",
    );
    for (reason, value) in [
        ("malformed", s.dropped_malformed),
        ("unknown_participant", s.dropped_unknown_participant),
        ("unknown_ssrc", s.dropped_unknown_ssrc),
        ("out_of_range", s.dropped_out_of_range),
        ("duplicate", s.dropped_duplicate),
        ("muted", s.dropped_muted),
    ] {
        let _ = writeln!(
            out,
            "pont_dropped_packets_total{{reason=\"{reason}\"}} {value}"
        );
    }

    family(
        &mut out,
        "pont_rooms",
        "Rooms with at least one participant.",
        "gauge",
    );
    let _ = writeln!(out, "pont_rooms {}", snapshot.rooms);
    family(
        &mut out,
        "pont_participants",
        "Participants in all rooms.",
        "gauge",
    );
    let _ = writeln!(out, "pont_participants {}", snapshot.participants);

    let live = &snapshot.live;
    for (name, help, kind, value) in [
        (
            "pont_live_rooms",
            "Rooms streaming live to their live page now.",
            "gauge",
            live.live_rooms as u64,
        ),
        (
            "pont_live_viewers",
            "Viewers of live streams (WHEP sessions, connecting or playing).",
            "gauge",
            live.viewers as u64,
        ),
        (
            "pont_whep_connected_total",
            "WHEP sessions whose ICE and DTLS came up.",
            "counter",
            live.connected,
        ),
        (
            "pont_whep_abandoned_total",
            "WHEP sessions that ended before their ICE and DTLS came up (given up after 30 s, or ICE failed).",
            "counter",
            live.abandoned,
        ),
    ] {
        family(&mut out, name, help, kind);
        let _ = writeln!(out, "{name} {value}");
    }
    family(
        &mut out,
        "pont_whep_sessions_total",
        "WHEP offers, by result: answered, not_live (no live stream in the room), full ([streaming] max_viewers), bad_offer (400/422).",
        "counter",
    );
    for (result, value) in [
        ("answered", live.answered),
        ("not_live", live.not_live),
        ("full", live.full),
        ("bad_offer", live.bad_offer),
    ] {
        let _ = writeln!(
            out,
            "pont_whep_sessions_total{{result=\"{result}\"}} {value}"
        );
    }

    family(
        &mut out,
        "pont_sip_calls_refused_overload_total",
        "New SIP calls refused with 503 and Retry-After by admission control, by reason.",
        "counter",
    );
    for (reason, value) in snapshot.sip_refused {
        let _ = writeln!(
            out,
            "pont_sip_calls_refused_overload_total{{reason=\"{}\"}} {value}",
            reason.as_str()
        );
    }
    family(
        &mut out,
        "pont_media_lag_seconds",
        "How late the media task runs its timers, smoothed (admission control refuses new calls beyond [admission] max_media_lag_ms).",
        "gauge",
    );
    let _ = writeln!(
        out,
        "pont_media_lag_seconds {}",
        snapshot.media_lag.as_secs_f64()
    );

    let rtcp = &snapshot.sip_rtcp;
    for (name, help, kind, value) in [
        (
            "pont_sip_rtcp_sent_packets_total",
            "RTCP compound reports (SR or RR, SDES) sent on SIP legs' audio.",
            "counter",
            rtcp.sent as f64,
        ),
        (
            "pont_sip_rtcp_received_packets_total",
            "RTCP packets received from SIP legs' audio.",
            "counter",
            rtcp.received as f64,
        ),
        (
            "pont_sip_remote_fraction_lost_max",
            "Worst share of our audio lost, as the SIP legs in calls now last reported it (0 to 1).",
            "gauge",
            rtcp.worst_fraction_lost,
        ),
        (
            "pont_sip_remote_jitter_seconds_max",
            "Worst interarrival jitter of our audio, as the SIP legs in calls now last reported it.",
            "gauge",
            rtcp.worst_jitter.as_secs_f64(),
        ),
    ] {
        family(&mut out, name, help, kind);
        let _ = writeln!(out, "{name} {value}");
    }

    let ivr = &snapshot.ivr;
    for (name, help, value) in [
        (
            "pont_ivr_calls_total",
            "Dial-in calls answered into the IVR.",
            ivr.calls,
        ),
        (
            "pont_ivr_joined_total",
            "Dial-in callers who reached their room.",
            ivr.joined,
        ),
        (
            "pont_ivr_hangups_total",
            "Dial-in calls the IVR hung up (wrong room or PIN, no input, too long).",
            ivr.hangups,
        ),
        (
            "pont_ivr_callers",
            "Callers in the IVR now (answered, not yet in a room).",
            ivr.in_ivr as u64,
        ),
    ] {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        family(&mut out, name, help, kind);
        let _ = writeln!(out, "{name} {value}");
    }
    family(
        &mut out,
        "pont_ivr_join_seconds",
        "From the caller's last # (room number or PIN) to being in the room, the joining prompt included.",
        "histogram",
    );
    let mut cumulative = 0;
    for (i, bound) in JOIN_BUCKETS.iter().enumerate() {
        cumulative += ivr.join_buckets[i];
        let _ = writeln!(
            out,
            "pont_ivr_join_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    cumulative += ivr.join_buckets[JOIN_BUCKETS.len()];
    let _ = writeln!(
        out,
        "pont_ivr_join_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
    );
    let _ = writeln!(out, "pont_ivr_join_seconds_sum {}", ivr.join_seconds_sum);
    let _ = writeln!(out, "pont_ivr_join_seconds_count {cumulative}");
    render_shards(&mut out, &snapshot.shards);
    render_tls(&mut out);
    out
}

/// TLS handshakes that did not complete, by reason (`error`, `timeout`, `busy`).
static TLS_HANDSHAKE_FAILED: [AtomicU64; 3] =
    [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
const TLS_FAILURE_REASONS: [&str; 3] = ["error", "timeout", "busy"];
/// SIGHUP certificate reloads: done, refused (the previous certificate kept).
static TLS_RELOADS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Counts a TLS handshake on `--http` that failed: `error` (not TLS, or refused), `timeout`,
/// `busy` (too many in progress).
pub(crate) fn tls_handshake_failed(reason: &'static str) {
    if let Some(i) = TLS_FAILURE_REASONS.iter().position(|r| *r == reason) {
        TLS_HANDSHAKE_FAILED[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts a SIGHUP reload of the TLS certificate.
pub(crate) fn tls_reloaded(ok: bool) {
    TLS_RELOADS[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
}

fn render_tls(out: &mut String) {
    family(
        out,
        "pont_tls_handshake_failures_total",
        "TLS handshakes on the HTTPS port that did not complete, by reason (error: not TLS or refused; timeout; busy: too many at once).",
        "counter",
    );
    for (reason, n) in TLS_FAILURE_REASONS.iter().zip(&TLS_HANDSHAKE_FAILED) {
        let _ = writeln!(
            out,
            "pont_tls_handshake_failures_total{{reason=\"{reason}\"}} {}",
            n.load(Ordering::Relaxed)
        );
    }
    family(
        out,
        "pont_tls_reloads_total",
        "SIGHUP reloads of the TLS certificate, by result (refused: the previous one is still served).",
        "counter",
    );
    for (result, n) in ["ok", "refused"].iter().zip(&TLS_RELOADS) {
        let _ = writeln!(
            out,
            "pont_tls_reloads_total{{result=\"{result}\"}} {}",
            n.load(Ordering::Relaxed)
        );
    }
}

/// A per-shard family: name, help, type, and the figure.
type PerShard = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ShardFigures) -> u64,
);

/// The media shards and each one's share (`shard="k"`).
fn render_shards(out: &mut String, shards: &[ShardFigures]) {
    family(
        out,
        "pont_media_shards",
        "Media shards (threads owning whole rooms).",
        "gauge",
    );
    let _ = writeln!(out, "pont_media_shards {}", shards.len());
    let per_shard: [PerShard; 5] = [
        (
            "pont_shard_rooms",
            "Rooms on each media shard.",
            "gauge",
            |f| f.rooms as u64,
        ),
        (
            "pont_shard_udp_received_datagrams_total",
            "Datagrams received on each shard's media port.",
            "counter",
            |f| f.udp_in_datagrams,
        ),
        (
            "pont_shard_participants",
            "Participants (every kind) on each media shard.",
            "gauge",
            |f| f.participants as u64,
        ),
        (
            "pont_shard_forwarded_packets_total",
            "RTP packets forwarded by each media shard.",
            "counter",
            |f| f.forwarded_packets,
        ),
        (
            "pont_shard_udp_unrouted_datagrams_total",
            "Datagrams on each shard's media port that no leg accepted.",
            "counter",
            |f| f.udp_unrouted_datagrams,
        ),
    ];
    for (name, help, kind, value) in per_shard {
        family(out, name, help, kind);
        for (k, f) in shards.iter().enumerate() {
            let _ = writeln!(out, "{name}{{shard=\"{k}\"}} {}", value(f));
        }
    }
}

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use pont_media::CoreStats;

    use super::*;

    #[test]
    fn every_sample_has_help_and_type() {
        let text = render(&StatsSnapshot {
            stats: CoreStats {
                forwarded_packets: 7,
                dropped_duplicate: 2,
                ..CoreStats::default()
            },
            rooms: 1,
            participants: 3,
            web_legs: 3,
            udp_in_datagrams: 10,
            udp_unrouted_datagrams: 1,
            ivr: crate::media::IvrStats::default(),
            sip_refused: crate::admission::LoadGauges::default().refused(),
            media_lag: std::time::Duration::from_millis(3),
            sip_rtcp: crate::media::SipRtcpStats {
                sent: 4,
                ..Default::default()
            },
            shards: vec![
                ShardFigures {
                    forwarded_packets: 5,
                    ..Default::default()
                },
                ShardFigures {
                    forwarded_packets: 2,
                    udp_unrouted_datagrams: 1,
                    ..Default::default()
                },
            ],
            live: crate::media::LiveStats {
                viewers: 2,
                full: 1,
                ..Default::default()
            },
        });
        assert!(text.contains("pont_live_viewers 2\n"));
        assert!(text.contains("pont_whep_sessions_total{result=\"full\"} 1\n"));
        assert!(text.contains("pont_media_shards 2\n"));
        assert!(text.contains("pont_shard_forwarded_packets_total{shard=\"1\"} 2\n"));
        assert!(text.contains("pont_shard_udp_unrouted_datagrams_total{shard=\"1\"} 1\n"));
        assert!(text.contains("pont_sip_rtcp_sent_packets_total 4\n"));
        assert!(text.contains("pont_sip_calls_refused_overload_total{reason=\"media_lag\"} 0\n"));
        assert!(text.contains("pont_media_lag_seconds 0.003\n"));
        assert!(text.contains("pont_forwarded_packets_total 7\n"));
        assert!(text.contains("pont_dropped_packets_total{reason=\"duplicate\"} 2\n"));
        assert!(text.contains("pont_participants 3\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let name = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|base| text.contains(&format!("# TYPE {base} histogram")))
                .unwrap_or(name);
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "no TYPE for {name}"
            );
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "no HELP for {name}"
            );
        }
    }
}
