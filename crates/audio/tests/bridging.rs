//! Both worlds: a phone leg published to browsers as 48 kHz Opus, and a browser's Opus mixed for
//! the phones only while it is among the loudest.

mod common;

use bytes::Bytes;
use common::{Sim, Source, powers};
use pont_audio::analysis::{goertzel_power, tone_from};
use pont_audio::{AudioCodec, Decoder, Encoder, Event, InboundPacket, LegConfig, MixerConfig};
use pont_types::{ParticipantId, Pt, Timestamp};

#[test]
fn a_phone_leg_is_published_as_opus() {
    let mut sim = Sim::new(MixerConfig::default(), 41);
    let phone = sim.add_with(
        AudioCodec::Pcmu,
        Source::Tone {
            freq: 700.0,
            amplitude: 6000.0,
        },
        |c| LegConfig {
            publish_opus: true,
            ..c
        },
    );
    sim.add(AudioCodec::Pcmu, Source::Silence);
    let id = sim.legs[phone].id;
    let mut dec = Decoder::new(AudioCodec::Opus).unwrap();
    let mut pcm = Vec::new();
    let mut last_ts = None;
    let mut levels = Vec::new();
    for _ in 0..100 {
        sim.run_ms(20);
        while let Some(p) = sim.mixer.poll_published() {
            assert_eq!(p.leg, id);
            if let Some(t) = last_ts {
                assert_eq!(p.timestamp, u32::wrapping_add(t, 960));
            }
            last_ts = Some(p.timestamp);
            levels.push(p.level);
            let mut out = vec![0; 960];
            dec.decode(&p.payload, &mut out).unwrap();
            pcm.extend_from_slice(&out);
        }
    }
    assert!(pcm.len() >= 95 * 960);
    let tail = &pcm[pcm.len() / 2..];
    let p700 = goertzel_power(tail, 48000, 700.0);
    let p400 = goertzel_power(tail, 48000, 400.0);
    assert!(p700 > 1e6 && p700 > 1000.0 * p400, "{p700} {p400}");
    // The published level is the tone's (a 6000-amplitude sine is about −18 dBov).
    let l = levels.last().unwrap().neg_dbov();
    assert!((16..=20).contains(&l), "level {l}");
}

#[test]
fn publishing_turns_on_and_off_and_its_clock_keeps_running() {
    let mut sim = Sim::new(MixerConfig::default(), 43);
    let phone = sim.add(
        AudioCodec::Pcmu,
        Source::Tone {
            freq: 700.0,
            amplitude: 6000.0,
        },
    );
    let id = sim.legs[phone].id;
    let drain = |sim: &mut Sim| {
        let mut ts = Vec::new();
        while let Some(p) = sim.mixer.poll_published() {
            ts.push(p.timestamp);
        }
        ts
    };
    // A room with no browser: nothing is encoded for them.
    sim.run_ms(400);
    assert!(drain(&mut sim).is_empty());
    // A browser joins: published from the next tick on.
    sim.mixer.set_publish_opus(id, true).unwrap();
    sim.run_ms(400);
    let first = drain(&mut sim);
    assert!(first.len() >= 18, "{}", first.len());
    // It leaves, and one comes back 1 s later: the timestamps moved on by that second.
    sim.mixer.set_publish_opus(id, false).unwrap();
    sim.run_ms(1000);
    assert!(drain(&mut sim).is_empty());
    sim.mixer.set_publish_opus(id, true).unwrap();
    sim.run_ms(200);
    let again = drain(&mut sim);
    let gap = again[0].wrapping_sub(*first.last().unwrap());
    assert!((48_000..=50_000).contains(&gap), "gap {gap}");
    assert!(
        sim.mixer
            .set_publish_opus(ParticipantId(999), true)
            .is_err()
    );
}

#[test]
fn browser_opus_is_mixed_for_phones_only_while_loud() {
    let mut sim = Sim::new(MixerConfig::default(), 42);
    // Three loud phone talkers and a browser that is quiet, then loud.
    for f in [400.0, 700.0, 1100.0] {
        sim.add(
            AudioCodec::Pcmu,
            Source::Tone {
                freq: f,
                amplitude: 6000.0,
            },
        );
    }
    let listener = sim.add(AudioCodec::Pcmu, Source::Silence);
    let browser = ParticipantId(100);
    sim.mixer
        .add_leg(browser, LegConfig::browser(Pt(111)))
        .unwrap();
    let mut enc = Encoder::new(AudioCodec::Opus).unwrap();
    let mut send = |sim: &mut Sim, n: u32, loud: bool| {
        // Loud enough to beat a talker by more than the 6 dB hysteresis.
        let amp = if loud { 20000.0 } else { 100.0 };
        let pcm = tone_from(48000, 1500.0, amp, n as usize * 960, 960);
        let mut payload = Vec::new();
        enc.encode(&pcm, &mut payload).unwrap();
        let level = pont_audio::level::measure(&pcm);
        sim.mixer.handle_packet(
            Timestamp::from_micros(sim.now),
            browser,
            InboundPacket {
                pt: Pt(111),
                seq: n as u16,
                timestamp: n * 960,
                payload: Bytes::from(payload),
                level: Some(level),
            },
        );
    };
    let mut n = 0;
    let mut decoded_at_start = 0;
    for k in 0..50 {
        send(&mut sim, n, false);
        n += 1;
        sim.run_ms(20);
        if k == 10 {
            decoded_at_start = sim.mixer.leg_stats(browser).unwrap().decoded;
        }
    }
    // Quiet browser among three loud phones: carried levels say so, it is not decoded.
    assert!(!sim.mixer.talkers().contains(&browser));
    assert_eq!(
        sim.mixer.leg_stats(browser).unwrap().decoded,
        decoded_at_start
    );
    sim.clear_heard();
    let mut changed = false;
    for _ in 0..100 {
        send(&mut sim, n, true);
        n += 1;
        sim.run_ms(20);
        while let Some(e) = sim.mixer.poll_event() {
            if let Event::TalkersChanged { talkers } = e {
                changed |= talkers.contains(&browser);
            }
        }
    }
    assert!(changed || sim.mixer.talkers().contains(&browser));
    assert!(sim.mixer.leg_stats(browser).unwrap().decoded > 50);
    let p = powers(&sim.legs[listener], &[1500.0, 1100.0]);
    assert!(p[0] > 1e6, "the phone hears the browser: {p:?}");
    // The browser got no mix.
    assert!(sim.mixer.poll_output().is_none());
}
