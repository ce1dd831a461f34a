//! Callers who key nothing, or stop half-way: re-prompt, then goodbye.
mod common;

use std::time::Duration;

use common::{App, Harness, Via, config};
use pont_ivr::{HangupReason, IvrConfig, Phase, Prompt};
use pont_types::RoomId;

#[test]
fn silence_reprompts_twice_then_hangs_up() {
    let mut h = Harness::new(config());
    let start = h.now;
    h.advance(Duration::from_secs(120));
    let p = h.prompts();
    assert_eq!(
        p,
        [
            Prompt::Welcome,
            Prompt::EnterRoom,
            Prompt::TryAgain,
            Prompt::EnterRoom,
            Prompt::TryAgain,
            Prompt::EnterRoom,
            Prompt::Goodbye
        ]
    );
    let (at, reason) = h.hangup().expect("hung up");
    assert_eq!(reason, HangupReason::NoInput);
    // Three prompt rounds plus three 10 s waits: well under a minute, well over 30 s.
    let took = at.saturating_since(start);
    assert!(
        took > Duration::from_secs(30) && took < Duration::from_secs(60),
        "{took:?}"
    );
    assert_eq!(h.call.phase(), Phase::Ended);
}

#[test]
fn first_reprompt_comes_after_the_first_digit_timeout() {
    let mut h = Harness::new(config());
    h.until_quiet();
    h.advance(Duration::from_millis(9_800));
    assert_eq!(h.prompts().len(), 2, "not yet");
    h.advance(Duration::from_millis(400));
    assert_eq!(h.prompts()[2], Prompt::TryAgain);
}

#[test]
fn inter_digit_timeout_drops_the_partial_entry() {
    let mut h = Harness::new(config());
    h.until_quiet();
    h.key("12", Via::Rfc4733);
    h.advance(Duration::from_millis(4_500));
    assert_eq!(h.prompts().len(), 2, "5 s not passed yet");
    h.advance(Duration::from_millis(700));
    assert_eq!(&h.prompts()[2..], [Prompt::TryAgain, Prompt::EnterRoom]);
    h.until_quiet();
    // The "12" is gone: keying "34#" looks up 34, not 1234.
    h.key("34#", Via::Rfc4733);
    assert_eq!(h.lookups(), [RoomId(34)]);
}

#[test]
fn unanswered_lookup_hangs_up() {
    let mut app = App::new();
    app.answers = false;
    let mut h = Harness::with_app(config(), app, pont_types::Timestamp::ZERO);
    h.until_quiet();
    h.key("1234#", Via::Rfc4733);
    assert_eq!(h.call.phase(), Phase::LookupRoom);
    h.advance(Duration::from_secs(15));
    assert_eq!(h.hangup().map(|h| h.1), Some(HangupReason::AppTimeout));
}

#[test]
fn the_whole_ivr_is_capped() {
    // Endless slow keying: a wrong entry every few seconds never hits a timeout, but
    // max_ivr_time ends it.
    let mut h = Harness::new(IvrConfig {
        max_attempts: u32::MAX,
        max_ivr_time: Duration::from_secs(90),
        ..config()
    });
    let start = h.now;
    while h.hangup().is_none() && h.now.saturating_since(start) < Duration::from_secs(300) {
        h.key("9", Via::Rfc4733);
        h.advance(Duration::from_secs(3));
        h.key("#", Via::Rfc4733);
    }
    let (at, reason) = h.hangup().unwrap();
    assert_eq!(reason, HangupReason::TooLong);
    assert!(at.saturating_since(start) < Duration::from_secs(95));
}
