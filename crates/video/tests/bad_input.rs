//! Bad publishers: corrupt H.264, a resolution change mid-stream, missing SPS/PPS, no keyframe
//! ever. The layout keeps running (last good picture or a tile) and nothing panics.

mod common;

use common::*;
use pont_types::{ParticipantId, Timestamp};
use pont_video::h264::{NAL_IDR, NAL_PPS, NAL_SPS, nal_type};
use pont_video::{Composer, ComposerConfig, RtpPayload};

const ALICE: ParticipantId = ParticipantId(1);

fn room() -> (Composer, Viewer) {
    let mut composer = Composer::new(ComposerConfig::default()).unwrap();
    composer.add_participant(ms(0), ALICE, "Alice");
    composer.set_speaker(ms(0), Some(ALICE));
    (composer, Viewer::new())
}

fn tick(composer: &mut Composer, viewer: &mut Viewer, now: Timestamp) -> Drained {
    composer.handle_timeout(now);
    let d = drain(composer);
    viewer.receive(&d.packets);
    d
}

fn send(composer: &mut Composer, now: Timestamp, packets: &[RtpPayload]) -> Drained {
    feed(composer, now, ALICE, packets);
    drain(composer)
}

/// The main window shows the named tile: Alice's tile colour (never the black of a broken
/// picture) with the name in bright pixels.
#[track_caller]
fn assert_tile(composer: &Composer, viewer: &Viewer) {
    let (main, _) = composer.slots();
    let (y, _, _) = viewer.picture().mean(main);
    assert!(
        y > 60.0 && y < 140.0,
        "tile, not black or garbage (mean Y {y:.1})"
    );
    assert!(composer.participant_frame(ALICE).is_none());
}

#[test]
fn corrupt_h264_keeps_the_last_good_picture_and_asks_for_a_keyframe() {
    let (mut composer, mut viewer) = room();
    let mut alice = Publisher::new(1, RED, 320, 240);
    let mut now = ms(0);
    // 10 frames: past the 500 ms keyframe-request rate limit of the request made on joining.
    for i in 0..10 {
        send(&mut composer, now, &alice.frame(i == 0));
        tick(&mut composer, &mut viewer, now);
        now += FRAME;
    }
    let (main, _) = composer.slots();
    assert_colour(viewer.picture(), centre(main), RED, 6.0, "before");

    // An IDR whose slice data is garbage (valid RTP, valid NAL headers).
    alice.colour = BLUE;
    let mut nals = alice.encode_nals(true);
    for n in nals.iter_mut().filter(|n| nal_type(n[0]) == NAL_IDR) {
        for (i, b) in n.iter_mut().enumerate().skip(1) {
            *b = (i as u8).wrapping_mul(37) ^ 0x5a;
        }
    }
    let d = send(&mut composer, now, &alice.packetize(&nals));
    let errors = composer.stats().decode_errors;
    assert!(errors >= 1, "the decoder rejected it");
    assert_eq!(d.keyframe_requests, vec![ALICE]);
    tick(&mut composer, &mut viewer, now);
    assert_colour(
        viewer.picture(),
        centre(main),
        RED,
        6.0,
        "last good picture kept",
    );
    now += FRAME;

    // P frames after the broken IDR are not decoded; then a good IDR brings the picture back.
    send(&mut composer, now, &alice.frame(false));
    assert_eq!(
        composer.stats().decode_errors,
        errors,
        "no decode without a keyframe"
    );
    tick(&mut composer, &mut viewer, now);
    now += FRAME;
    send(&mut composer, now, &alice.frame(true));
    tick(&mut composer, &mut viewer, now);
    assert_colour(
        viewer.picture(),
        centre(main),
        BLUE,
        6.0,
        "recovered on the IDR",
    );
}

#[test]
fn random_payloads_never_panic_and_the_composed_stream_keeps_flowing() {
    let (mut composer, mut viewer) = room();
    let mut alice = Publisher::new(1, GREEN, 320, 240);
    let mut now = ms(0);
    send(&mut composer, now, &alice.frame(true));
    // A cheap deterministic generator (xorshift) for junk packets.
    let mut x: u32 = 0x1234_5678;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let encoded_before = composer.stats().frames_encoded;
    for frame in 0..30u32 {
        for k in 0..5u16 {
            let len = (next() % 1400) as usize;
            let payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = composer.handle_rtp(
                now,
                ALICE,
                pont_video::RtpIn {
                    seq: (frame * 5) as u16 + k + 1,
                    timestamp: 6000 * (frame + 1),
                    marker: k == 4,
                    payload: &payload,
                },
            );
        }
        tick(&mut composer, &mut viewer, now);
        now += FRAME;
    }
    let s = composer.stats();
    assert!(s.frames_encoded - encoded_before >= 25, "{s:?}");
    // Keyframe requests are rate-limited: 2 s of junk, at most one per 500 ms.
    assert!(s.keyframe_requests <= 5, "{s:?}");
    let (main, _) = composer.slots();
    assert_colour(
        viewer.picture(),
        centre(main),
        GREEN,
        8.0,
        "last good picture",
    );
}

#[test]
fn a_resolution_change_mid_stream_is_followed() {
    let (mut composer, mut viewer) = room();
    let mut alice = Publisher::new(1, RED, 320, 240);
    let mut now = ms(0);
    for i in 0..3 {
        send(&mut composer, now, &alice.frame(i == 0));
        tick(&mut composer, &mut viewer, now);
        now += FRAME;
    }
    let f = composer.participant_frame(ALICE).unwrap();
    assert_eq!((f.width(), f.height()), (320, 240));

    alice.set_size(640, 360);
    alice.colour = GREEN;
    for _ in 0..3 {
        let d = send(&mut composer, now, &alice.frame(false));
        assert!(d.keyframe_requests.is_empty(), "{:?}", d.keyframe_requests);
        tick(&mut composer, &mut viewer, now);
        now += FRAME;
    }
    let f = composer.participant_frame(ALICE).unwrap();
    assert_eq!((f.width(), f.height()), (640, 360));
    // 16:9 now: fills the 1280×720 canvas (alone in the room) completely.
    assert_colour(
        viewer.picture(),
        pont_video::Rect::new(16, 16, 1248, 688),
        GREEN,
        6.0,
        "new resolution fills the canvas",
    );
    assert_eq!(composer.stats().decode_errors, 0);
}

#[test]
fn missing_sps_pps_shows_the_tile_until_a_complete_keyframe() {
    let (mut composer, mut viewer) = room();
    let mut alice = Publisher::new(1, BLUE, 320, 240);
    let mut now = ms(0);
    let mut requests = 0;
    for _ in 0..10 {
        // The publisher strips its parameter sets (a broken gateway).
        let nals: Vec<Vec<u8>> = alice
            .encode_nals(true)
            .into_iter()
            .filter(|n| !matches!(nal_type(n[0]), NAL_SPS | NAL_PPS))
            .collect();
        requests += send(&mut composer, now, &alice.packetize(&nals))
            .keyframe_requests
            .len();
        tick(&mut composer, &mut viewer, now);
        now += FRAME;
    }
    assert_tile(&composer, &viewer);
    // 660 ms: asked at 0 and 533 ms, rate-limited to one per 500 ms.
    assert_eq!(requests, 2);

    send(&mut composer, now, &alice.frame(true));
    tick(&mut composer, &mut viewer, now);
    let (main, _) = composer.slots();
    assert_colour(
        viewer.picture(),
        centre(main),
        BLUE,
        6.0,
        "complete keyframe decoded",
    );
}

#[test]
fn a_publisher_that_never_sends_a_keyframe_stays_a_tile_and_is_asked_periodically() {
    let (mut composer, mut viewer) = room();
    let mut alice = Publisher::new(1, RED, 320, 240);
    // Its first frame (the IDR) never reaches us.
    let _lost = alice.frame(true);
    let mut now = ms(0);
    let mut requests = 0;
    for _ in 0..30 {
        requests += send(&mut composer, now, &alice.frame(false))
            .keyframe_requests
            .len();
        tick(&mut composer, &mut viewer, now);
        now += FRAME;
    }
    assert_tile(&composer, &viewer);
    // 2 s: one request per 500 ms at most, and it keeps asking.
    assert!((3..=5).contains(&requests), "{requests} requests");
    assert_eq!(viewer.decoded, 30, "the composed stream never stalls");
}

#[test]
fn packets_for_an_unknown_participant_are_an_error_not_a_panic() {
    let (mut composer, _) = room();
    let r = composer.handle_rtp(
        ms(0),
        ParticipantId(99),
        pont_video::RtpIn {
            seq: 1,
            timestamp: 0,
            marker: true,
            payload: &[0x65, 1, 2],
        },
    );
    assert!(r.is_err());
    assert_eq!(composer.stats().unknown_participant, 1);
}
