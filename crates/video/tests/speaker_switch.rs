//! Three participants with solid-colour cameras: the composed stream shows the speaker in the
//! main window and the others in the strip, and follows a speaker switch within one frame.

mod common;

use common::*;
use pont_types::{ParticipantId, Timestamp};
use pont_video::{Composer, ComposerConfig, Layout, Yuv};

/// Runs one frame interval: every publisher sends a frame, the composer ticks, the viewer
/// decodes what it sent.
fn step(
    composer: &mut Composer,
    publishers: &mut [Publisher],
    viewer: &mut Viewer,
    now: Timestamp,
) -> Drained {
    for p in publishers.iter_mut() {
        let first = p.next_timestamp() == 0;
        let pkts = p.frame(first);
        feed(composer, now, p.id, &pkts);
    }
    composer.handle_timeout(now);
    let d = drain(composer);
    viewer.receive(&d.packets);
    d
}

#[test]
fn main_window_follows_the_speaker_and_the_strip_shows_the_others() {
    let mut composer = Composer::new(ComposerConfig::default()).unwrap();
    let mut publishers = vec![
        Publisher::new(1, RED, 320, 240),
        Publisher::new(2, GREEN, 320, 240),
        Publisher::new(3, BLUE, 320, 240),
    ];
    for p in &publishers {
        composer.add_participant(ms(0), p.id, &format!("P{}", p.id.0));
    }
    composer.set_speaker(ms(0), Some(ParticipantId(1)));
    let mut viewer = Viewer::new();
    let mut now = ms(0);
    for _ in 0..5 {
        step(&mut composer, &mut publishers, &mut viewer, now);
        now += FRAME;
    }
    assert_eq!(composer.main_participant(), Some(ParticipantId(1)));
    assert_eq!(composer.strip(), &[ParticipantId(2), ParticipantId(3)]);
    let (main, strip) = composer.slots();
    let pic = viewer.picture();
    assert_eq!((pic.width(), pic.height()), (1280, 720));
    assert_colour(pic, centre(main), RED, 6.0, "main window before the switch");
    assert_colour(pic, centre(strip[0]), GREEN, 8.0, "strip tile 1");
    assert_colour(pic, centre(strip[1]), BLUE, 8.0, "strip tile 2");

    // Switch to BLUE: the very next composed frame has it in the main window.
    composer.set_speaker(now, Some(ParticipantId(3)));
    let d = step(&mut composer, &mut publishers, &mut viewer, now);
    assert!(!d.packets.is_empty());
    assert!(
        d.keyframe_requests.is_empty(),
        "every shown participant was decodable: {:?}",
        d.keyframe_requests
    );
    let (main, strip) = composer.slots();
    assert_eq!(composer.strip(), &[ParticipantId(1), ParticipantId(2)]);
    let pic = viewer.picture();
    assert_colour(pic, centre(main), BLUE, 6.0, "main window after the switch");
    assert_colour(
        pic,
        centre(strip[0]),
        RED,
        8.0,
        "strip tile 1 after the switch",
    );
    assert_colour(
        pic,
        centre(strip[1]),
        GREEN,
        8.0,
        "strip tile 2 after the switch",
    );
    assert_eq!(composer.stats().decode_errors, 0);
}

#[test]
fn a_hidden_participant_is_shown_at_once_from_the_frames_kept_since_its_keyframe() {
    // One strip tile: with three participants one of them is not shown and not decoded.
    let config = ComposerConfig {
        max_strip: 1,
        ..ComposerConfig::default()
    };
    let mut composer = Composer::new(config).unwrap();
    let mut publishers = vec![
        Publisher::new(1, RED, 320, 240),
        Publisher::new(2, GREEN, 320, 240),
        Publisher::new(3, BLUE, 320, 240),
    ];
    for p in &publishers {
        composer.add_participant(ms(0), p.id, "x");
    }
    composer.set_speaker(ms(0), Some(ParticipantId(1)));
    let mut viewer = Viewer::new();
    let mut now = ms(0);
    for _ in 0..10 {
        step(&mut composer, &mut publishers, &mut viewer, now);
        now += FRAME;
    }
    assert_eq!(composer.strip(), &[ParticipantId(2)]);
    assert!(composer.stats().frames_not_shown >= 10, "3 is not decoded");
    assert!(composer.participant_frame(ParticipantId(3)).is_none());

    composer.set_speaker(now, Some(ParticipantId(3)));
    let d = step(&mut composer, &mut publishers, &mut viewer, now);
    assert!(d.keyframe_requests.is_empty(), "{:?}", d.keyframe_requests);
    let (main, strip) = composer.slots();
    let pic = viewer.picture();
    assert_colour(
        pic,
        centre(main),
        BLUE,
        6.0,
        "hidden participant now in the main window",
    );
    // The previous speaker stays in the strip: it spoke most recently.
    assert_eq!(composer.strip(), &[ParticipantId(1)]);
    assert_colour(
        pic,
        centre(strip[0]),
        RED,
        8.0,
        "previous speaker in the strip",
    );
}

#[test]
fn a_participant_without_video_is_a_named_tile() {
    let mut composer = Composer::new(ComposerConfig::default()).unwrap();
    let mut publishers = vec![Publisher::new(1, RED, 320, 240)];
    composer.add_participant(ms(0), ParticipantId(1), "Alice");
    composer.add_participant(ms(0), ParticipantId(9), "Phone Bob");
    composer.set_speaker(ms(0), Some(ParticipantId(1)));
    let mut viewer = Viewer::new();
    let mut now = ms(0);
    for _ in 0..4 {
        step(&mut composer, &mut publishers, &mut viewer, now);
        now += FRAME;
    }
    let (main, strip) = composer.slots();
    assert_eq!(strip.len(), 1);
    let pic = viewer.picture();
    assert_colour(pic, centre(main), RED, 6.0, "speaker");
    let tile = strip[0];
    let (y, _, _) = pic.mean(tile);
    assert!(y > 50.0, "tile is not black (mean Y {y:.1})");
    // The name: bright text pixels on the dark tile.
    let bright = rows(pic, tile).filter(|&v| v > 200).count();
    let dark = rows(pic, tile).filter(|&v| v < 120).count();
    assert!(bright > 200, "name drawn ({bright} bright pixels)");
    assert!(dark > bright, "on a tile background ({dark} dark pixels)");

    // The phone caller speaks: the tile moves into the main window, Alice into the strip.
    composer.set_speaker(now, Some(ParticipantId(9)));
    step(&mut composer, &mut publishers, &mut viewer, now);
    let (main, strip) = composer.slots();
    let pic = viewer.picture();
    let bright = rows(pic, main).filter(|&v| v > 200).count();
    assert!(
        bright > 1000,
        "name drawn large in the main window ({bright})"
    );
    assert_colour(
        pic,
        centre(strip[0]),
        RED,
        8.0,
        "video participant in the strip",
    );
}

#[test]
fn a_pinned_participant_keeps_the_main_window_while_others_speak() {
    let mut composer = Composer::new(ComposerConfig::default()).unwrap();
    let mut publishers = vec![
        Publisher::new(1, RED, 320, 240),
        Publisher::new(2, GREEN, 320, 240),
        Publisher::new(3, BLUE, 320, 240),
    ];
    for p in &publishers {
        composer.add_participant(ms(0), p.id, "x");
    }
    composer.set_layout(ms(0), Layout::Pinned(ParticipantId(2)));
    composer.set_speaker(ms(0), Some(ParticipantId(3)));
    let mut viewer = Viewer::new();
    let mut now = ms(0);
    for _ in 0..4 {
        step(&mut composer, &mut publishers, &mut viewer, now);
        now += FRAME;
    }
    assert_eq!(composer.main_participant(), Some(ParticipantId(2)));
    assert_eq!(composer.strip(), &[ParticipantId(3), ParticipantId(1)]);
    let (main, strip) = composer.slots();
    assert_colour(viewer.picture(), centre(main), GREEN, 6.0, "pinned");
    assert_colour(
        viewer.picture(),
        centre(strip[0]),
        BLUE,
        8.0,
        "speaker first in strip",
    );
}

#[test]
fn leaving_participants_free_their_slot() {
    let mut composer = Composer::new(ComposerConfig::default()).unwrap();
    let mut publishers = vec![
        Publisher::new(1, RED, 320, 240),
        Publisher::new(2, GREEN, 320, 240),
    ];
    for p in &publishers {
        composer.add_participant(ms(0), p.id, "x");
    }
    composer.set_speaker(ms(0), Some(ParticipantId(2)));
    let mut viewer = Viewer::new();
    let mut now = ms(0);
    for _ in 0..3 {
        step(&mut composer, &mut publishers, &mut viewer, now);
        now += FRAME;
    }
    composer.remove_participant(now, ParticipantId(2));
    publishers.pop();
    step(&mut composer, &mut publishers, &mut viewer, now);
    assert_eq!(composer.main_participant(), Some(ParticipantId(1)));
    assert!(composer.strip().is_empty());
    let (main, _) = composer.slots();
    assert_eq!(
        (main.width, main.height),
        (1280, 720),
        "alone: the whole canvas"
    );
    assert_colour(viewer.picture(), centre(main), RED, 6.0, "the one left");
    let _ = Yuv::new(0, 0, 0);
}

fn rows(pic: &pont_video::I420Frame, r: pont_video::Rect) -> impl Iterator<Item = u8> + '_ {
    (r.y..r.y + r.height).flat_map(move |y| {
        let start = (y * pic.width() + r.x) as usize;
        pic.y()[start..start + r.width as usize].iter().copied()
    })
}

#[test]
fn switching_to_a_hidden_participant_past_the_kept_frames_asks_for_a_keyframe() {
    let config = ComposerConfig {
        max_strip: 1,
        ..ComposerConfig::default()
    };
    let mut composer = Composer::new(config).unwrap();
    let mut publishers = vec![
        Publisher::new(1, RED, 320, 240),
        Publisher::new(2, GREEN, 320, 240),
        Publisher::new(3, BLUE, 320, 240),
    ];
    for p in &publishers {
        composer.add_participant(ms(0), p.id, "x");
    }
    composer.set_speaker(ms(0), Some(ParticipantId(1)));
    let mut viewer = Viewer::new();
    let mut now = ms(0);
    // 70 frames (> the 64 kept) since participant 3's only keyframe.
    for _ in 0..70 {
        step(&mut composer, &mut publishers, &mut viewer, now);
        now += FRAME;
    }
    composer.set_speaker(now, Some(ParticipantId(3)));
    let d = drain(&mut composer);
    assert_eq!(d.keyframe_requests, vec![ParticipantId(3)]);
    step(&mut composer, &mut publishers, &mut viewer, now);
    now += FRAME;
    let (main, _) = composer.slots();
    // No picture of 3 yet: the previous speaker keeps the main window (no tile flash).
    assert_eq!(composer.main_participant(), Some(ParticipantId(1)));
    assert_colour(
        viewer.picture(),
        centre(main),
        RED,
        6.0,
        "previous speaker while waiting",
    );
    // The keyframe arrives: the next frame shows the new speaker.
    let pkts = publishers[2].frame(true);
    feed(&mut composer, now, ParticipantId(3), &pkts);
    composer.handle_timeout(now);
    viewer.receive(&drain(&mut composer).packets);
    assert_eq!(composer.main_participant(), Some(ParticipantId(3)));
    let (main, strip) = composer.slots();
    assert_colour(
        viewer.picture(),
        centre(main),
        BLUE,
        6.0,
        "after the keyframe",
    );
    assert_colour(
        viewer.picture(),
        centre(strip[0]),
        RED,
        8.0,
        "previous speaker to the strip",
    );
}

#[test]
fn a_lost_packet_from_a_shown_participant_keeps_its_last_picture_until_the_next_idr() {
    let mut composer = Composer::new(ComposerConfig::default()).unwrap();
    let mut alice = Publisher::new(1, RED, 320, 240);
    composer.add_participant(ms(0), alice.id, "Alice");
    let mut viewer = Viewer::new();
    let mut now = ms(0);
    for i in 0..10 {
        let pkts = alice.frame(i == 0);
        feed(&mut composer, now, alice.id, &pkts);
        composer.handle_timeout(now);
        viewer.receive(&drain(&mut composer).packets);
        now += FRAME;
    }
    // The camera turns blue, in a frame whose packet is lost.
    alice.colour = BLUE;
    let lost = alice.frame(false);
    assert_eq!(lost.len(), 1);
    let next = alice.frame(false);
    feed(&mut composer, now, alice.id, &next);
    let d = drain(&mut composer);
    assert_eq!(d.keyframe_requests, vec![alice.id]);
    composer.handle_timeout(now);
    viewer.receive(&drain(&mut composer).packets);
    let (main, _) = composer.slots();
    assert_colour(
        viewer.picture(),
        centre(main),
        RED,
        6.0,
        "last good picture",
    );
    now += FRAME;
    let idr = alice.frame(true);
    feed(&mut composer, now, alice.id, &idr);
    composer.handle_timeout(now);
    viewer.receive(&drain(&mut composer).packets);
    assert_colour(viewer.picture(), centre(main), BLUE, 6.0, "recovered");
}

#[test]
fn a_speaker_whose_video_never_decodes_takes_the_main_window_after_two_seconds() {
    let mut composer = Composer::new(ComposerConfig::default()).unwrap();
    let mut alice = Publisher::new(1, RED, 320, 240);
    let mut bob = Publisher::new(2, GREEN, 320, 240);
    composer.add_participant(ms(0), alice.id, "Alice");
    composer.add_participant(ms(0), bob.id, "Bob");
    composer.set_speaker(ms(0), Some(alice.id));
    let _bobs_lost_keyframe = bob.frame(true);
    let mut viewer = Viewer::new();
    let mut now = ms(0);
    let mut switched_at = None;
    for i in 0..60 {
        if i == 10 {
            composer.set_speaker(now, Some(bob.id));
        }
        let a = alice.frame(i == 0);
        feed(&mut composer, now, alice.id, &a);
        let b = bob.frame(false); // never a keyframe
        feed(&mut composer, now, bob.id, &b);
        composer.handle_timeout(now);
        viewer.receive(&drain(&mut composer).packets);
        if switched_at.is_none() && composer.main_participant() == Some(bob.id) {
            switched_at = Some(i);
        }
        now += FRAME;
    }
    // Held on Alice for 2 s after the switch at frame 10, then Bob's tile: frame 40 is the
    // first tick ≥ 2 s later (30 frames of 66.667 ms).
    assert_eq!(switched_at, Some(40));
    let (main, strip) = composer.slots();
    let (y, _, _) = viewer.picture().mean(centre(main));
    assert!((60.0..140.0).contains(&y), "Bob's tile (Y {y:.1})");
    assert_colour(
        viewer.picture(),
        centre(strip[0]),
        RED,
        8.0,
        "Alice in the strip",
    );
}

#[test]
fn a_camera_that_stops_becomes_a_tile_after_two_seconds() {
    let mut composer = Composer::new(ComposerConfig::default()).unwrap();
    let mut alice = Publisher::new(1, RED, 320, 240);
    composer.add_participant(ms(0), alice.id, "Alice");
    let mut viewer = Viewer::new();
    let mut now = ms(0);
    for i in 0..5 {
        let a = alice.frame(i == 0);
        feed(&mut composer, now, alice.id, &a);
        composer.handle_timeout(now);
        viewer.receive(&drain(&mut composer).packets);
        now += FRAME;
    }
    let (main, _) = composer.slots();
    let mut frozen_until = None;
    for i in 0..40 {
        composer.handle_timeout(now);
        viewer.receive(&drain(&mut composer).packets);
        let (y, _, _) = viewer.picture().mean(centre(main));
        if frozen_until.is_none() && (y - f64::from(RED.y)).abs() > 6.0 {
            frozen_until = Some(i);
        }
        now += FRAME;
    }
    // Last packet at frame 4; the first tick ≥ 2 s later is frame 34 (i = 29): the tile
    // replaces the frozen picture there.
    assert_eq!(frozen_until, Some(29));
    let (y, _, _) = viewer.picture().mean(centre(main));
    assert!((60.0..140.0).contains(&y), "tile (Y {y:.1})");
}
