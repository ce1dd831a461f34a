//! Active speaker detection fed by RFC 6464 levels in RTP packets and by levels handed in for
//! decoded legs.

mod common;

use std::time::Duration;

use common::*;
use pont_media::{ParticipantConfig, ParticipantKind};
use pont_types::{AudioLevel, Timestamp};

#[test]
fn lone_speaker_is_detected() {
    let mut sim = Sim::new(10);
    let a = sim.join(
        ParticipantConfig::web("a"),
        true,
        false,
        Talk::during(&[(1000, 10_000)]),
    );
    // The others send no audio at all.
    sim.join(ParticipantConfig::web("b"), false, false, Talk::default());
    sim.join(ParticipantConfig::web("c"), false, false, Talk::default());
    sim.run(Duration::from_millis(900));
    assert_eq!(sim.core.active_speaker(ROOM), None, "nobody spoke yet");
    sim.run(Duration::from_secs(2));
    assert_eq!(sim.core.active_speaker(ROOM), Some(sim.peers[a].id));
    let changes = sim.speaker_changes();
    assert_eq!(changes.len(), 1);
    assert!(
        changes[0].0 <= Timestamp::from_millis(2500),
        "detected at {:?}",
        changes[0].0
    );
}

#[test]
fn silence_changes_nothing() {
    let mut sim = Sim::new(11);
    let a = sim.join(
        ParticipantConfig::web("a"),
        true,
        false,
        Talk::during(&[(0, 3000)]),
    );
    sim.join(ParticipantConfig::web("b"), true, false, Talk::default());
    sim.join(ParticipantConfig::web("c"), true, false, Talk::default());
    sim.run(Duration::from_secs(3));
    assert_eq!(sim.core.active_speaker(ROOM), Some(sim.peers[a].id));
    let before = sim.speaker_changes().len();
    // Everyone silent for 20 s: the floor stays with the last speaker.
    sim.run(Duration::from_secs(20));
    assert_eq!(sim.speaker_changes().len(), before);
    assert_eq!(sim.core.active_speaker(ROOM), Some(sim.peers[a].id));
}

#[test]
fn silent_room_elects_nobody() {
    let mut sim = Sim::new(12);
    sim.join(ParticipantConfig::web("a"), true, false, Talk::default());
    sim.join(ParticipantConfig::web("b"), true, false, Talk::default());
    sim.run(Duration::from_secs(10));
    assert!(sim.speaker_changes().is_empty());
}

#[test]
fn a_cough_does_not_steal_the_floor() {
    let mut sim = Sim::new(13);
    let a = sim.join(
        ParticipantConfig::web("a"),
        true,
        false,
        Talk::during(&[(0, 20_000)]),
    );
    let b = sim.join(
        ParticipantConfig::web("b"),
        true,
        false,
        Talk {
            // A loud 200 ms cough.
            spurts: vec![(8000, 8200, 110)],
            noise: 5,
        },
    );
    sim.run(Duration::from_secs(15));
    assert_eq!(sim.core.active_speaker(ROOM), Some(sim.peers[a].id));
    assert!(
        sim.speaker_changes()
            .iter()
            .all(|c| c.1 != Some(sim.peers[b].id)),
        "the cough took the floor"
    );
}

#[test]
fn a_real_turn_takes_the_floor() {
    let mut sim = Sim::new(14);
    let a = sim.join(
        ParticipantConfig::web("a"),
        true,
        false,
        Talk::during(&[(0, 5000)]),
    );
    let b = sim.join(
        ParticipantConfig::web("b"),
        true,
        false,
        Talk::during(&[(5000, 12_000)]),
    );
    sim.run(Duration::from_secs(5));
    assert_eq!(sim.core.active_speaker(ROOM), Some(sim.peers[a].id));
    sim.run(Duration::from_secs(3));
    assert_eq!(sim.core.active_speaker(ROOM), Some(sim.peers[b].id));
}

#[test]
fn decoded_legs_take_the_floor_with_handed_in_levels() {
    let mut sim = Sim::new(15);
    sim.join(ParticipantConfig::web("a"), true, false, Talk::default());
    let phone = sim.core.add_participant(
        sim.now,
        ROOM,
        ParticipantConfig {
            kind: ParticipantKind::Pstn,
            subscribe_all: false,
            ..ParticipantConfig::web("+33 1 23 45 67 89")
        },
    );
    // A phone caller's leg is decoded by the audio mixer, which hands levels in every 20 ms.
    for i in 0..150u64 {
        let t = Timestamp::from_millis(i * 20);
        sim.run(t.saturating_since(sim.now));
        let loud = if i % 10 < 8 { 80 } else { 20 };
        sim.core
            .handle_audio_level(sim.now, phone, AudioLevel::from_neg_dbov(127 - loud));
    }
    sim.run(Duration::from_millis(400));
    assert_eq!(sim.core.active_speaker(ROOM), Some(phone));
}

#[test]
fn muted_participant_cannot_take_the_floor() {
    let mut sim = Sim::new(16);
    let a = sim.join(
        ParticipantConfig::web("a"),
        true,
        false,
        Talk::during(&[(0, 10_000)]),
    );
    sim.core.set_muted(sim.peers[a].id, true).unwrap();
    sim.run(Duration::from_secs(5));
    assert_eq!(sim.core.active_speaker(ROOM), None);
    let info = sim.core.room(ROOM).unwrap();
    assert!(info[0].muted);
}
