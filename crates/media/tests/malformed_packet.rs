//! Bad input — truncated or garbage RTP/RTCP, unknown SSRCs, absurd sequence jumps,
//! timestamps going backwards — is dropped and counted, never panics, and does not disturb
//! other participants' streams.

mod common;

use std::time::Duration;

use common::*;
use pont_media::MediaKind;
use pont_media::ParticipantConfig;
use pont_types::{ParticipantId, Ssrc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn garbage_is_dropped_and_counted_without_disturbing_others() {
    let mut sim = Sim::new(40);
    let a = sim.join(
        ParticipantConfig::web("a"),
        true,
        true,
        Talk::during(&[(0, 10_000)]),
    );
    let b = sim.join(ParticipantConfig::web("b"), false, false, Talk::default());
    let evil = sim.join(ParticipantConfig::web("evil"), true, false, Talk::default());
    sim.run(Duration::from_secs(2));
    let evil_id = sim.peers[evil].id;
    let now = sim.now;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..5000 {
        let len = rng.gen_range(0..200);
        let mut junk: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        sim.core.handle_rtp(now, evil_id, &junk);
        sim.core.handle_rtcp(now, evil_id, &junk);
        // Valid-looking version bits make the parsers go deeper.
        if let Some(first) = junk.first_mut() {
            *first = 0x80 | (*first & 0x3f);
        }
        sim.core.handle_rtp(now, evil_id, &junk);
        sim.core.handle_rtcp(now, evil_id, &junk);
    }
    // Truncations of a valid packet.
    let valid = rtp_packet(OPUS_PT, 1, 1, Ssrc(0x1), false, Some(30), b"abcd");
    for n in 0..valid.len() {
        sim.core.handle_rtp(now, evil_id, &valid[..n]);
    }
    // Unknown SSRC, and an unknown participant.
    sim.core.handle_rtp(now, evil_id, &valid);
    sim.core.handle_rtp(now, ParticipantId(999), &valid);
    // Someone else's SSRC from the wrong leg is unknown to this leg.
    let stolen = rtp_packet(
        OPUS_PT,
        1,
        1,
        sim.peers[a].audio_ssrc.unwrap(),
        false,
        Some(0),
        b"abcd",
    );
    sim.core.handle_rtp(now, evil_id, &stolen);
    let stats = sim.core.stats().clone();
    assert!(stats.dropped_malformed > 1000, "{stats:?}");
    assert!(stats.dropped_unknown_ssrc >= 2, "{stats:?}");
    assert_eq!(stats.dropped_unknown_participant, 1);

    // Absurd sequence jumps and timestamps going backwards on the evil leg's own track.
    let ssrc = sim.peers[evil].audio_ssrc.unwrap();
    let seq = sim.peers[evil].audio_seq;
    let ts = sim.peers[evil].audio_ts;
    sim.core.handle_rtp(
        now,
        evil_id,
        &rtp_packet(
            OPUS_PT,
            seq.wrapping_add(20_000),
            ts,
            ssrc,
            false,
            None,
            b"x",
        ),
    );
    sim.core.handle_rtp(
        now,
        evil_id,
        &rtp_packet(
            OPUS_PT,
            seq.wrapping_add(5),
            ts.wrapping_sub(1_000_000),
            ssrc,
            false,
            None,
            b"x",
        ),
    );
    assert!(sim.core.stats().dropped_out_of_range >= 2);
    // Drain what the garbage produced (nothing for others) and go on.
    sim.run(Duration::from_secs(3));
    let r = sim.peers[b]
        .received_from(a as u32, MediaKind::Audio)
        .expect("b still receives a");
    assert_continuous(r);
    assert!(r.packets.len() >= 5 * 50 - 1, "b got {}", r.packets.len());
    assert_eq!(sim.core.active_speaker(ROOM), Some(sim.peers[a].id));
}
