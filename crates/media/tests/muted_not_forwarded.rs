//! A muted participant is not heard: its audio is not forwarded to anyone, whatever its
//! client keeps sending (a moderator's mute holds against a browser that ignores it), while
//! its video goes on; unmuted, its audio flows again.

mod common;

use std::time::Duration;

use common::*;
use pont_media::{MediaKind, ParticipantConfig};

fn audio_from(sim: &Sim, to: usize, from: usize) -> usize {
    sim.peers[to]
        .received_from(sim.peers[from].index, MediaKind::Audio)
        .map_or(0, |r| r.packets.len())
}

fn video_from(sim: &Sim, to: usize, from: usize) -> usize {
    sim.peers[to]
        .received_from(sim.peers[from].index, MediaKind::Video)
        .map_or(0, |r| r.packets.len())
}

#[test]
fn a_muted_participant_is_not_forwarded() {
    let mut sim = Sim::new(7);
    let a = sim.join(
        ParticipantConfig::web("a"),
        true,
        true,
        Talk::during(&[(0, 60_000)]),
    );
    let b = sim.join(ParticipantConfig::web("b"), true, false, Talk::default());
    sim.run(Duration::from_secs(2));
    let (audio, video) = (audio_from(&sim, b, a), video_from(&sim, b, a));
    assert!(audio > 50, "b hears a before the mute: {audio} packets");
    assert!(video > 20, "b sees a: {video} packets");

    let a_id = sim.peers[a].id;
    sim.core.set_muted(a_id, true).unwrap();
    sim.run(Duration::from_secs(2));
    assert_eq!(
        audio_from(&sim, b, a),
        audio,
        "a muted keeps sending, and b receives none of it"
    );
    assert!(
        sim.core.stats().dropped_muted > 50,
        "the muted audio is counted: {:?}",
        sim.core.stats()
    );
    assert!(video_from(&sim, b, a) > video + 20, "a's video goes on");

    sim.core.set_muted(a_id, false).unwrap();
    sim.run(Duration::from_secs(2));
    assert!(
        audio_from(&sim, b, a) > audio + 50,
        "unmuted, a is heard again"
    );
}
