//! A pinned track (a shared screen) takes every main window whoever speaks, on its keyframe
//! and continuously; unpinned, or gone, the main window follows the speaker again.

mod common;

use std::time::Duration;

use common::*;
use pont_media::ParticipantConfig;

#[test]
fn a_pinned_track_holds_the_main_window_until_unpinned_or_gone() {
    let mut sim = Sim::new(11);
    let a = sim.join(
        ParticipantConfig::web("a"),
        true,
        true,
        Talk::during(&[(0, 60_000)]),
    );
    let b = sim.join(ParticipantConfig::web("b"), true, true, Talk::default());
    let room = sim.join(Sim::room_system(), false, false, Talk::default());
    sim.run(Duration::from_secs(3));
    let shown = |sim: &Sim| sim.core.main_window_source(sim.peers[room].id);
    assert_eq!(shown(&sim), Some(sim.peers[a].id), "the speaker");

    // B's track pinned: shown though A still speaks, from B's keyframe on.
    let b_track = sim.peers[b].video_track.unwrap();
    sim.core
        .set_main_track(sim.now, ROOM, Some(b_track))
        .unwrap();
    sim.run(Duration::from_secs(2));
    assert_eq!(sim.core.active_speaker(ROOM), Some(sim.peers[a].id));
    assert_eq!(shown(&sim), Some(sim.peers[b].id), "the pinned track");
    let mw = sim.peers[room].main_window().unwrap();
    assert_continuous(mw);
    let first_b = mw.packets.iter().position(|p| p.2 == b as u32).unwrap();
    assert!(mw.packets[first_b].3, "switched on a keyframe");

    // Unpinned: back to the speaker.
    sim.core.set_main_track(sim.now, ROOM, None).unwrap();
    sim.run(Duration::from_secs(2));
    assert_eq!(shown(&sim), Some(sim.peers[a].id), "the speaker again");

    // Pinned again, then its owner leaves: the pin goes with the track.
    sim.core
        .set_main_track(sim.now, ROOM, Some(b_track))
        .unwrap();
    sim.run(Duration::from_secs(2));
    assert_eq!(shown(&sim), Some(sim.peers[b].id));
    sim.leave(b);
    sim.run(Duration::from_secs(2));
    assert_eq!(
        shown(&sim),
        Some(sim.peers[a].id),
        "the speaker once B left"
    );
    assert_continuous(sim.peers[room].main_window().unwrap());
    // A track that is not there is refused.
    assert!(
        sim.core
            .set_main_track(sim.now, ROOM, Some(b_track))
            .is_err()
    );
}
