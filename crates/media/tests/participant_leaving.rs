//! A participant leaving mid-stream: its streams end for everyone, nobody gets packets for or
//! from it afterwards, main windows move on, and the room goes on.

mod common;

use std::time::Duration;

use common::*;
use pont_media::{Event, ParticipantConfig, Source};

#[test]
fn participant_leaving_mid_stream() {
    let mut sim = Sim::new(30);
    let a = sim.join(
        ParticipantConfig::web("a"),
        true,
        true,
        Talk::during(&[(0, 30_000)]),
    );
    let b = sim.join(
        ParticipantConfig::web("b"),
        true,
        true,
        Talk::during(&[(0, 30_000)]),
    );
    let c = sim.join(ParticipantConfig::web("c"), true, false, Talk::default());
    let room = sim.join(Sim::room_system(), false, false, Talk::default());
    sim.run(Duration::from_secs(3));
    let shown = sim
        .core
        .main_window_source(sim.peers[room].id)
        .expect("main window");
    let (gone, stays) = if shown == sim.peers[a].id {
        (a, b)
    } else {
        (b, a)
    };
    let gone_id = sim.peers[gone].id;
    assert_eq!(sim.core.room(ROOM).unwrap().len(), 4);

    sim.leave(gone);
    // Its two tracks ended for each of the two other web participants.
    let removed: Vec<_> = sim
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::StreamRemoved { .. }))
        .collect();
    assert_eq!(removed.len(), 4, "{removed:?}");
    assert!(sim.core.room(ROOM).unwrap().iter().all(|p| p.id != gone_id));
    let c_before = sim.peers[c]
        .received
        .values()
        .map(|r| r.packets.len())
        .sum::<usize>();
    sim.run(Duration::from_secs(3));
    // The main window moved to the participant who stays, on a keyframe, continuously.
    assert_eq!(
        sim.core.main_window_source(sim.peers[room].id),
        Some(sim.peers[stays].id)
    );
    let mw = sim.peers[room].main_window().unwrap();
    assert_continuous(mw);
    // C keeps receiving the one who stays.
    let c_after = sim.peers[c]
        .received
        .values()
        .map(|r| r.packets.len())
        .sum::<usize>();
    assert!(c_after > c_before + 100);
    // The one who left is still sending (it does not know yet): dropped as unknown.
    assert!(sim.core.streams_to(gone_id).is_empty());
    assert!(
        sim.core
            .streams_to(sim.peers[c].id)
            .iter()
            .all(|s| s.source != Source::MainWindow)
    );
    // Everyone leaves: the room is gone.
    for p in [stays, c, room] {
        sim.leave(p);
    }
    assert_eq!(sim.core.room_count(), 0);
    assert!(
        sim.events
            .iter()
            .any(|(_, e)| matches!(e, Event::RoomEmpty { .. }))
    );
    assert!(sim.core.room(ROOM).is_none());
}
