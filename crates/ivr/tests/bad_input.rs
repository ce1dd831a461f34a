//! Digit floods, endless keying, invalid events, garbage: bounded, and a clean hang-up.
mod common;

use std::time::Duration;

use common::{Harness, TE_PT, Via, config};
use pont_ivr::{
    Digit, DtmfConfig, DtmfReceiver, DtmfSource, HangupReason, IvrEvent, Phase, TelephoneEvent,
};
use pont_types::{RoomId, Timestamp};

#[test]
fn a_digit_flood_is_rate_limited() {
    let mut r = DtmfReceiver::new(Timestamp::ZERO, DtmfConfig::default());
    let mut t = Timestamp::ZERO;
    // 10 000 distinct INFO digits in one second.
    for i in 0..10_000u32 {
        let d = Digit::from_event((i % 10) as u8).unwrap();
        r.handle_digit(t, d, DtmfSource::SipInfo);
        t += Duration::from_micros(100);
    }
    let mut n = 0;
    while r.poll_digit().is_some() {
        n += 1;
    }
    // The burst (24) plus 10/s for one second.
    assert!((24..=35).contains(&n), "{n} digits let through");
    assert!(r.stats().rate_limited > 9_900);
}

#[test]
fn a_flood_of_rtp_events_does_not_reach_the_flow() {
    let mut h = Harness::new(config());
    h.until_quiet();
    // 1000 distinct '9' events within 400 ms.
    for i in 0..1000u32 {
        let ev = TelephoneEvent {
            event: 9,
            end: true,
            volume: 10,
            duration: 160,
        };
        h.rtp_event(50_000 + i * 200, ev);
        if i % 50 == 0 {
            h.tick();
        }
    }
    // 24 (burst) + 4 (rate) keys pass; every 13th (max 12) ends an entry as wrong: two wrong
    // attempts, no lookup of a giant number.
    assert!(h.lookups().is_empty());
    assert_eq!(h.call.phase(), Phase::EnterRoom);
    assert!(h.call.dtmf_stats().rate_limited > 900);
    assert!(h.call.dtmf_stats().accepted <= 30);
    h.advance(Duration::from_secs(5));
    h.until_quiet();
    h.key("1234#", Via::Rfc4733);
    h.until_quiet();
    assert_eq!(h.joined(), Some(RoomId(1234)), "the call recovers");
}

#[test]
fn endless_keying_hangs_up() {
    let mut h = Harness::new(config());
    let start = h.now;
    // A caller (or a stuck auto-dialler) keying digits forever, never '#'.
    while h.hangup().is_none() && h.now.saturating_since(start) < Duration::from_secs(400) {
        h.key("7", Via::Rfc4733);
    }
    let (at, reason) = h.hangup().expect("hung up");
    assert_eq!(
        reason,
        HangupReason::WrongRoom,
        "each 13th key is a wrong entry"
    );
    assert!(at.saturating_since(start) < Duration::from_secs(30));
    assert!(h.lookups().is_empty());
}

#[test]
fn invalid_event_codes_and_garbage_are_ignored() {
    let mut h = Harness::new(config());
    h.until_quiet();
    for code in 16..=255u8 {
        let ev = TelephoneEvent {
            event: code,
            end: true,
            volume: 0,
            duration: 800,
        };
        h.rtp_event(u32::from(code) * 1000, ev);
    }
    for len in 0..4 {
        assert!(
            h.call
                .handle_rtp_event(h.now, TE_PT, 7, &[1, 2, 3][..len.min(3)])
        );
    }
    let _ = h
        .call
        .handle_sip_info(h.now, "application/dtmf-relay", &[0xff; 5000]);
    let _ = h
        .call
        .handle_sip_info(h.now, "application/dtmf", b"Signal=");
    h.call.handle_pcm(h.now, &[i16::MAX; 1000]);
    h.call.handle_pcm(h.now, &[i16::MIN, i16::MAX].repeat(500));
    h.drain();
    assert_eq!(h.call.dtmf_stats().accepted, 0);
    assert_eq!(
        h.count(|e| !matches!(e, IvrEvent::Play(_))),
        0,
        "no effect on the flow"
    );
}

#[test]
fn keys_after_hangup_do_nothing() {
    let mut h = Harness::new(config());
    for _ in 0..3 {
        h.until_quiet();
        h.key("1#", Via::Info);
    }
    h.until_quiet();
    assert!(h.hangup().is_some());
    let n = h.events.len();
    h.key("1234#", Via::Info);
    h.advance(Duration::from_secs(200));
    assert_eq!(h.events.len(), n);
    assert_eq!(h.call.poll_timeout(), None);
}
