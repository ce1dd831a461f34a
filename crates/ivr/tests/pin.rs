//! Rooms with a PIN; guessing protection across calls.
mod common;

use common::{App, Harness, Via, config};
use pont_ivr::{HangupReason, IvrEvent, Phase, Prompt};
use pont_types::{RoomId, Timestamp};

#[test]
fn right_pin_joins() {
    let mut h = Harness::new(config());
    h.until_quiet();
    h.key("5678#", Via::Rfc4733);
    assert_eq!(h.call.phase(), Phase::EnterPin);
    assert_eq!(h.prompts().last(), Some(&Prompt::EnterPin));
    h.until_quiet();
    h.key("2468#", Via::Inband);
    h.until_quiet();
    assert_eq!(h.joined(), Some(RoomId(5678)));
    // Room 5678 records.
    assert!(h.prompts().ends_with(&[Prompt::Joining, Prompt::Recorded]));
}

#[test]
fn pin_is_redacted_in_the_event_debug_output() {
    let mut h = Harness::new(config());
    h.until_quiet();
    h.key("5678#", Via::Rfc4733);
    h.until_quiet();
    h.key("2468#", Via::Rfc4733);
    let verify = h
        .events
        .iter()
        .find(|(_, e)| matches!(e, IvrEvent::VerifyPin { .. }))
        .unwrap();
    let shown = format!("{:?}", verify.1);
    assert!(!shown.contains("2468"), "{shown}");
    assert!(shown.contains("redacted"));
}

#[test]
fn three_wrong_pins_hang_up() {
    let mut h = Harness::new(config());
    h.until_quiet();
    h.key("5678#", Via::Rfc4733);
    for i in 0..3 {
        h.until_quiet();
        assert_eq!(h.call.phase(), Phase::EnterPin, "attempt {i}");
        h.key("1111#", Via::Rfc4733);
    }
    h.until_quiet();
    assert_eq!(h.hangup().map(|h| h.1), Some(HangupReason::WrongPin));
    assert!(h.prompts().ends_with(&[Prompt::WrongPin, Prompt::Goodbye]));
    assert_eq!(h.joined(), None);
}

#[test]
fn fast_redialling_is_blocked_across_calls() {
    let mut app = App::new();
    let mut now = Timestamp::from_millis(1_000);
    // Two calls of three wrong PINs each: the fifth failure blocks this caller and room.
    let mut outcomes = Vec::new();
    for _call in 0..3 {
        let mut h = Harness::with_app(config(), app, now);
        h.until_quiet();
        h.key("5678#", Via::Rfc4733);
        for _ in 0..3 {
            h.until_quiet();
            if h.call.phase() != Phase::EnterPin {
                break;
            }
            h.key("1357#", Via::Rfc4733);
        }
        h.until_quiet();
        outcomes.push(h.hangup().map(|h| h.1));
        now = h.now + std::time::Duration::from_secs(5);
        app = h.app;
    }
    assert_eq!(
        outcomes,
        [
            Some(HangupReason::WrongPin),
            Some(HangupReason::PinBlocked),
            Some(HangupReason::PinBlocked)
        ]
    );
    // Even the right PIN is refused now, for this caller...
    let mut h = Harness::with_app(config(), app, now);
    h.until_quiet();
    h.key("5678#", Via::Rfc4733);
    h.until_quiet();
    h.key("2468#", Via::Rfc4733);
    h.until_quiet();
    assert_eq!(h.hangup().map(|h| h.1), Some(HangupReason::PinBlocked));
    // ...but not for another caller.
    let mut app = h.app;
    app.caller = "+4420000000".into();
    let mut h = Harness::with_app(config(), app, h.now);
    h.until_quiet();
    h.key("5678#", Via::Rfc4733);
    h.until_quiet();
    h.key("2468#", Via::Rfc4733);
    h.until_quiet();
    assert_eq!(h.joined(), Some(RoomId(5678)));
}
