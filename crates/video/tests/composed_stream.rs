//! The composed stream itself: timing, keyframes on request (rate-limited), constrained
//! baseline at 720p, the recorder tap, and (with ffmpeg installed) what ffprobe sees.

mod common;

use std::time::Duration;

use common::*;
use pont_types::{ParticipantId, Timestamp};
use pont_video::h264::{NAL_IDR, NAL_SPS, annexb_nal_units, nal_type};
use pont_video::{Composer, ComposerConfig, Depacketizer, DepacketizerOutput, RtpPayload};

fn keyframes(packets: &[RtpPayload]) -> usize {
    let mut d = Depacketizer::new();
    let mut n = 0;
    for p in packets {
        d.push(p.seq, p.timestamp, p.marker, &p.payload);
        while let Some(o) = d.poll_output() {
            if let DepacketizerOutput::Frame(au) = o {
                n += usize::from(au.keyframe);
            }
        }
    }
    n
}

fn one_frame(composer: &mut Composer, now: Timestamp) -> Vec<RtpPayload> {
    composer.handle_timeout(now);
    drain(composer).packets
}

#[test]
fn ticks_follow_the_frame_rate_and_packets_are_continuous() {
    let mut composer = Composer::new(ComposerConfig::default()).unwrap();
    assert_eq!(composer.poll_timeout(), Timestamp::ZERO);
    let mut all = Vec::new();
    let mut now = ms(1000);
    for _ in 0..15 {
        assert!(composer.poll_timeout() <= now);
        all.extend(one_frame(&mut composer, now));
        // A second call in the same interval does nothing.
        assert!(one_frame(&mut composer, now + Duration::from_millis(10)).is_empty());
        now = composer.poll_timeout();
    }
    // 15 frames at 15 fps: exactly one second, on the grid.
    assert_eq!(now, ms(2000));
    let frames: Vec<&RtpPayload> = all.iter().filter(|p| p.marker).collect();
    assert_eq!(frames.len(), 15);
    // 90 kHz timestamps, exactly 6000 apart at 15 fps.
    for w in frames.windows(2) {
        assert_eq!(w[1].timestamp.wrapping_sub(w[0].timestamp), 6000);
    }
    for w in all.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1));
    }
    assert!(all.iter().all(|p| p.payload.len() <= 1200));
}

#[test]
fn keyframe_requests_are_rate_limited_to_one_per_500_ms() {
    let config = ComposerConfig {
        periodic_keyframe: None,
        ..ComposerConfig::default()
    };
    let mut composer = Composer::new(config).unwrap();
    composer.add_participant(ms(0), ParticipantId(1), "Alice");
    let mut now = ms(0);
    assert_eq!(
        keyframes(&one_frame(&mut composer, now)),
        1,
        "the first frame is an IDR"
    );
    now += FRAME;
    assert_eq!(keyframes(&one_frame(&mut composer, now)), 0);
    now += FRAME;
    // A viewer asks at 133 ms: too soon after the first IDR at 0.
    composer.request_keyframe(now);
    let mut got = Vec::new();
    while got.is_empty() && now < ms(2000) {
        composer.request_keyframe(now); // every viewer keeps asking until it gets one
        if keyframes(&one_frame(&mut composer, now)) > 0 {
            got.push(now);
        }
        now += FRAME;
    }
    // One IDR, at the first tick at least 500 ms after the previous one (533 ms).
    assert_eq!(got, vec![ms(0) + FRAME * 8], "{got:?}");
    // Without further requests no more IDRs.
    for _ in 0..10 {
        assert_eq!(keyframes(&one_frame(&mut composer, now)), 0);
        now += FRAME;
    }
    assert_eq!(composer.stats().keyframes_encoded, 2);
}

#[test]
fn the_stream_is_constrained_baseline_720p_with_sps_pps_in_a_stap_a() {
    let mut composer = Composer::new(ComposerConfig::default()).unwrap();
    let packets = one_frame(&mut composer, ms(0));
    // The first packet aggregates SPS and PPS (RFC 6184 §5.7.1).
    assert_eq!(nal_type(packets[0].payload[0]), 24);
    let mut d = Depacketizer::new();
    for p in &packets {
        d.push(p.seq, p.timestamp, p.marker, &p.payload);
    }
    let Some(DepacketizerOutput::Frame(au)) = d.poll_output() else {
        panic!("one frame");
    };
    let sps = annexb_nal_units(&au.data)
        .find(|n| nal_type(n[0]) == NAL_SPS)
        .unwrap();
    assert_eq!(sps[1], 66, "profile_idc baseline");
    assert!(
        sps[2] & 0x40 != 0,
        "constraint_set1: constrained baseline ({:#x})",
        sps[2]
    );
    assert_eq!(sps[3], 31, "level 3.1 for 720p");
    assert!(annexb_nal_units(&au.data).any(|n| nal_type(n[0]) == NAL_IDR));
}

#[test]
fn the_recorder_tap_gets_each_composed_picture() {
    let config = ComposerConfig {
        tap_frames: true,
        width: 640,
        height: 360,
        ..ComposerConfig::default()
    };
    let mut composer = Composer::new(config).unwrap();
    composer.add_participant(ms(0), ParticipantId(1), "Alice");
    let mut now = ms(0);
    let mut tapped = Vec::new();
    for _ in 0..3 {
        composer.handle_timeout(now);
        while let Some(o) = composer.poll_output() {
            if let pont_video::ComposerOutput::Frame {
                frame,
                rtp_timestamp,
            } = o
            {
                tapped.push((rtp_timestamp, frame));
            }
        }
        now += FRAME;
    }
    assert_eq!(tapped.len(), 3);
    assert_eq!((tapped[0].1.width(), tapped[0].1.height()), (640, 360));
    // Alice has no video: her tile fills the canvas, not black.
    let (y, _, _) = tapped[2].1.mean(pont_video::Rect::new(0, 0, 640, 360));
    assert!(y > 60.0, "{y}");
}

#[test]
fn the_access_unit_tap_starts_on_a_keyframe_and_matches_the_packets() {
    let config = ComposerConfig {
        width: 320,
        height: 240,
        ..ComposerConfig::default()
    };
    let mut composer = Composer::new(config).unwrap();
    let mut now = ms(0);
    // Two frames before the tap: the encoder's first IDR has gone by.
    for _ in 0..2 {
        one_frame(&mut composer, now);
        now += FRAME;
    }
    composer.set_access_unit_tap(now, true);
    let mut units = Vec::new();
    let mut packets = Vec::new();
    for _ in 0..12 {
        composer.handle_timeout(now);
        while let Some(o) = composer.poll_output() {
            match o {
                pont_video::ComposerOutput::AccessUnit(au) => units.push(au),
                pont_video::ComposerOutput::Packet(p) => packets.push(p),
                _ => {}
            }
        }
        now += FRAME;
    }
    assert_eq!(units.len(), 12);
    // The tap asked for a keyframe: the first unit is an IDR with its SPS.
    assert!(units[0].keyframe);
    let types: Vec<u8> = annexb_nal_units(&units[0].data)
        .map(|n| nal_type(n[0]))
        .collect();
    assert!(
        types.contains(&NAL_SPS) && types.contains(&NAL_IDR),
        "{types:?}"
    );
    assert!(units[1..].iter().all(|u| !u.keyframe));
    // The same pictures as the RTP stream: depacketized, the packets give the same units.
    let mut d = Depacketizer::new();
    let mut from_rtp = Vec::new();
    for p in &packets {
        d.push(p.seq, p.timestamp, p.marker, &p.payload);
        while let Some(o) = d.poll_output() {
            if let DepacketizerOutput::Frame(au) = o {
                from_rtp.push(au);
            }
        }
    }
    assert_eq!(from_rtp.len(), 12);
    for (a, b) in units.iter().zip(&from_rtp) {
        assert_eq!((a.rtp_timestamp, a.keyframe), (b.rtp_timestamp, b.keyframe));
    }
    composer.set_access_unit_tap(now, false);
    composer.handle_timeout(now);
    assert!(
        std::iter::from_fn(|| composer.poll_output())
            .all(|o| !matches!(o, pont_video::ComposerOutput::AccessUnit(_)))
    );
}

#[test]
fn ffprobe_sees_h264_at_1280x720() {
    let has = |tool: &str| {
        std::process::Command::new(tool)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has("ffprobe") || !has("ffmpeg") {
        eprintln!(
            "SKIPPED ffprobe_sees_h264_at_1280x720: ffprobe/ffmpeg not installed (apt-get install ffmpeg)"
        );
        return;
    }
    let mut composer = Composer::new(ComposerConfig::default()).unwrap();
    let mut publishers = [
        Publisher::new(1, RED, 320, 240),
        Publisher::new(2, GREEN, 640, 360),
    ];
    for p in &publishers {
        composer.add_participant(ms(0), p.id, &format!("Cam {}", p.id.0));
    }
    composer.add_participant(ms(0), ParticipantId(3), "Phone Bob");
    composer.set_speaker(ms(0), Some(ParticipantId(1)));
    let mut viewer = Viewer::new();
    let mut now = ms(0);
    for i in 0..30 {
        if i == 15 {
            composer.set_speaker(now, Some(ParticipantId(2)));
        }
        for p in &mut publishers {
            let first = p.next_timestamp() == 0;
            let pkts = p.frame(first);
            feed(&mut composer, now, p.id, &pkts);
        }
        composer.handle_timeout(now);
        viewer.receive(&drain(&mut composer).packets);
        now += FRAME;
    }
    let dir = std::env::temp_dir().join(format!("pont-video-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("composed.h264");
    std::fs::write(&file, &viewer.annexb).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,profile,nb_read_frames",
        ])
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("codec_name=h264"), "{text}");
    assert!(text.contains("width=1280"), "{text}");
    assert!(text.contains("height=720"), "{text}");
    assert!(text.contains("nb_read_frames=30"), "{text}");
    assert!(text.contains("Baseline"), "{text}");
    // A still of the last frame, for a person to look at (kept in the temp folder).
    let png = dir.join("composed.png");
    let _ = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&file)
        .args(["-update", "1"])
        .arg(&png)
        .status();
    eprintln!(
        "composed stream: {} ({} bytes), still: {}",
        file.display(),
        viewer.annexb.len(),
        png.display()
    );
}

#[test]
fn frames_are_stamped_on_the_frame_grid_however_late_the_caller() {
    let mut composer = Composer::new(ComposerConfig {
        width: 160,
        height: 96,
        ..ComposerConfig::default()
    })
    .unwrap();
    let start = ms(1000);
    let mut now = start;
    let mut stamps = Vec::new();
    // Late by 0–30 ms each time, and once by two and a half frames.
    for (i, late) in [0u64, 7, 30, 2, 170, 11, 0, 25].into_iter().enumerate() {
        now = composer.poll_timeout().max(now) + Duration::from_millis(late);
        if i == 0 {
            now = start;
        }
        for p in one_frame(&mut composer, now) {
            if p.marker {
                stamps.push(p.timestamp);
            }
        }
    }
    let first = stamps[0];
    for t in &stamps {
        // 15 fps at 90 kHz: a whole number of 6000-tick frames (±1 for the µs rounding).
        let d = t.wrapping_sub(first);
        let frames = (d + 3000) / 6000;
        assert!(
            d.abs_diff(frames * 6000) <= frames.div_ceil(10) + 1,
            "{stamps:?}"
        );
    }
    for w in stamps.windows(2) {
        assert!(w[1].wrapping_sub(w[0]) >= 5999, "{stamps:?}");
    }
}
