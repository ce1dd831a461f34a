//! Video under 5% loss on every link: the bridge NACKs what it did not get from the publisher
//! and answers subscribers' NACKs from its cache, so subscribers end up with (almost) every
//! packet.

mod common;

use std::time::Duration;

use common::*;
use pont_media::MediaKind;
use pont_media::ParticipantConfig;

fn lossy(loss: f64) -> Link {
    Link {
        loss,
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(10),
        duplicate: 0.01,
    }
}

fn run(loss: f64, nacks: bool) -> (u64, u64, u64) {
    let mut sim = Sim::new(20);
    let a = sim.join(ParticipantConfig::web("a"), false, true, Talk::default());
    sim.peers[a].video_fps = 30;
    let b = sim.join(ParticipantConfig::web("b"), false, false, Talk::default());
    let c = sim.join(ParticipantConfig::web("c"), false, false, Talk::default());
    for p in &mut sim.peers {
        p.up = lossy(loss);
        p.down = lossy(loss);
        p.send_nacks = nacks;
    }
    sim.run(Duration::from_secs(20));
    let mut missing = 0;
    let mut total = 0;
    for s in [b, c] {
        let r = sim.peers[s]
            .received_from(a as u32, MediaKind::Video)
            .expect("receives a");
        missing += r.missing();
        total += r.seqs.len() as u64 + r.missing();
        assert_continuous_or_gaps(r);
    }
    (missing, total, sim.core.stats().retransmitted_packets)
}

/// Under loss, what arrived still has a consistent numbering: no sequence number carries two
/// different packets (a retransmission lands exactly where the original would have).
fn assert_continuous_or_gaps(r: &Received) {
    let mut by_seq = std::collections::HashMap::new();
    for &(seq, ts, _, _) in &r.packets {
        let prev = by_seq.insert(seq, ts);
        assert!(
            prev.is_none_or(|p| p == ts),
            "seq {seq} carried two timestamps"
        );
    }
}

#[test]
fn nack_recovery_under_5_percent_loss() {
    let (missing, total, retransmitted) = run(0.05, true);
    // Without recovery about 1 - 0.95² ≈ 10% would be missing.
    assert!(total > 2000, "too few packets: {total}");
    eprintln!("missing {missing} of {total}, {retransmitted} retransmitted");
    assert!(
        retransmitted > 0,
        "the bridge answered no NACK from its cache"
    );
    assert!(
        missing * 1000 <= total,
        "{missing} of {total} packets never recovered"
    );
}

#[test]
fn without_nacks_loss_stays_visible() {
    // The same run with subscribers that do not NACK: gaps remain (loss is never invented
    // away), which also shows the test above measures recovery and not a lossless network.
    let (missing, total, _) = run(0.05, false);
    assert!(missing * 100 >= total * 3, "{missing} of {total}");
}
