//! The main window switches to a new speaker only on that speaker's keyframe, keeps showing
//! the old speaker until then, and stays continuous across the switch.

mod common;

use std::time::Duration;

use common::*;
use pont_media::ParticipantConfig;

#[test]
fn speaker_switch_waits_for_keyframe() {
    let mut sim = Sim::new(3);
    // A talks for the first 5 s, then B from 5 s on.
    let a = sim.join(
        ParticipantConfig::web("a"),
        true,
        true,
        Talk::during(&[(0, 5000)]),
    );
    let b = sim.join(
        ParticipantConfig::web("b"),
        true,
        true,
        Talk::during(&[(5000, 12_000)]),
    );
    let room = sim.join(Sim::room_system(), false, false, Talk::default());
    sim.run(Duration::from_secs(4));
    assert_eq!(sim.core.active_speaker(ROOM), Some(sim.peers[a].id));
    assert_eq!(
        sim.core.main_window_source(sim.peers[room].id),
        Some(sim.peers[a].id)
    );
    let b_requests_before = sim.peers[b].keyframe_requests;
    sim.run(Duration::from_secs(4));
    assert_eq!(sim.core.active_speaker(ROOM), Some(sim.peers[b].id));
    assert!(
        sim.peers[b].keyframe_requests > b_requests_before,
        "B was asked for a keyframe"
    );
    sim.run(Duration::from_secs(1));
    assert_eq!(
        sim.core.main_window_source(sim.peers[room].id),
        Some(sim.peers[b].id)
    );

    let mw = sim.peers[room].main_window().expect("main window stream");
    assert_continuous(mw);
    // The first packet from B on the main window is the start of a keyframe, and A's packets
    // kept flowing until then (no hole between the last A and the first B packet).
    let first_b = mw
        .packets
        .iter()
        .position(|p| p.2 == b as u32)
        .expect("B shown");
    assert!(mw.packets[first_b].3, "switched on a non-keyframe");
    assert_eq!(mw.packets[first_b - 1].2, a as u32);
    assert!(mw.packets[first_b..].iter().all(|p| p.2 == b as u32));
    // The first packet of the stream at all is a keyframe from A.
    assert!(mw.packets[0].3 && mw.packets[0].2 == a as u32);
}

#[test]
fn switch_is_held_until_the_keyframe_arrives() {
    let mut sim = Sim::new(4);
    let a = sim.join(
        ParticipantConfig::web("a"),
        true,
        true,
        Talk::during(&[(0, 4000)]),
    );
    let b = sim.join(
        ParticipantConfig::web("b"),
        true,
        true,
        Talk::during(&[(4000, 20_000)]),
    );
    let room = sim.join(Sim::room_system(), false, false, Talk::default());
    sim.run(Duration::from_secs(3));
    // B's uplink drops everything for a while: its keyframe cannot arrive.
    sim.peers[b].up.loss = 1.0;
    sim.run(Duration::from_secs(4));
    // B is not heard, so A stays the speaker and the main window stays on A.
    assert_eq!(
        sim.core.main_window_source(sim.peers[room].id),
        Some(sim.peers[a].id)
    );
    // Now B gets through: it takes the floor, and the window follows on its keyframe.
    sim.peers[b].up.loss = 0.0;
    sim.run(Duration::from_secs(4));
    assert_eq!(sim.core.active_speaker(ROOM), Some(sim.peers[b].id));
    assert_eq!(
        sim.core.main_window_source(sim.peers[room].id),
        Some(sim.peers[b].id)
    );
    assert_continuous(sim.peers[room].main_window().unwrap());
}

#[test]
fn keyframes_can_be_asked_for_a_consumer_outside_the_core() {
    let mut sim = Sim::new(5);
    let a = sim.join(ParticipantConfig::web("a"), true, true, Talk::default());
    sim.run(Duration::from_secs(1));
    let before = sim.peers[a].keyframe_requests;
    let now = sim.now;
    let id = sim.peers[a].id;
    sim.core.request_keyframe_from(now, id);
    // Asked twice at once: the second falls inside the rate limit.
    sim.core.request_keyframe_from(now, id);
    sim.run(Duration::from_millis(100));
    assert_eq!(sim.peers[a].keyframe_requests, before + 1);
}
