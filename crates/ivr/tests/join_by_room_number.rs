//! Room number then `#` joins; wrong rooms; three wrong rooms hang up; `*` clears.
mod common;

use std::time::Duration;

use common::{Harness, Via, config};
use pont_ivr::{HangupReason, IvrConfig, IvrEvent, Language, Phase, Prompt};
use pont_types::RoomId;

#[test]
fn known_room_joins_after_the_joining_prompt() {
    let mut h = Harness::new(config());
    h.until_quiet();
    assert_eq!(h.prompts(), [Prompt::Welcome, Prompt::EnterRoom]);
    assert!(!h.frames_out.is_empty(), "the welcome prompt was heard");
    h.key("1234#", Via::Rfc4733);
    assert_eq!(h.lookups(), [RoomId(1234)]);
    assert_eq!(h.call.phase(), Phase::Joining);
    assert_eq!(h.joined(), None, "not before the prompt is over");
    h.until_quiet();
    assert_eq!(h.joined(), Some(RoomId(1234)));
    assert_eq!(h.call.phase(), Phase::InCall);
    assert_eq!(h.prompts().last(), Some(&Prompt::Joining));
    assert!(!h.prompts().contains(&Prompt::Recorded));
    assert_eq!(h.hangup(), None);
    // Nothing more to do: no timers once in the call.
    assert_eq!(h.call.poll_timeout(), None);
}

#[test]
fn recorded_room_says_so_before_joining() {
    let mut h = Harness::new(IvrConfig {
        language: Language::Fr,
        ..config()
    });
    h.until_quiet();
    h.key("42#", Via::Info);
    h.until_quiet();
    let p = h.prompts();
    assert_eq!(&p[p.len() - 2..], [Prompt::Joining, Prompt::Recorded]);
    let join_at = h
        .events
        .iter()
        .find(|(_, e)| matches!(e, IvrEvent::Join { .. }))
        .unwrap()
        .0;
    let recorded_at = h
        .events
        .iter()
        .find(|(_, e)| *e == IvrEvent::Play(Prompt::Recorded))
        .unwrap()
        .0;
    let fr_len = Prompt::Joining.audio(Language::Fr).unwrap().len()
        + Prompt::Recorded.audio(Language::Fr).unwrap().len();
    assert!(
        join_at.saturating_since(recorded_at) >= Duration::from_micros(fr_len as u64 * 125),
        "joined only after both prompts played"
    );
    assert_eq!(h.joined(), Some(RoomId(42)));
}

#[test]
fn wrong_room_then_right_room_joins() {
    let mut h = Harness::new(config());
    h.until_quiet();
    h.key("999#", Via::Rfc4733);
    assert_eq!(h.call.phase(), Phase::EnterRoom);
    assert_eq!(&h.prompts()[2..], [Prompt::WrongRoom, Prompt::EnterRoom]);
    h.until_quiet();
    h.key("1234#", Via::Rfc4733);
    h.until_quiet();
    assert_eq!(h.lookups(), [RoomId(999), RoomId(1234)]);
    assert_eq!(h.joined(), Some(RoomId(1234)));
}

#[test]
fn three_wrong_rooms_say_goodbye_then_hang_up() {
    let mut h = Harness::new(config());
    for _ in 0..3 {
        h.until_quiet();
        h.key("999#", Via::Rfc4733);
    }
    assert_eq!(h.call.phase(), Phase::Leaving);
    assert_eq!(h.hangup(), None, "goodbye plays first");
    let bye_queued = h.now;
    h.until_quiet();
    let (at, reason) = h.hangup().expect("hung up");
    assert_eq!(reason, HangupReason::WrongRoom);
    assert_eq!(
        &h.prompts()[h.prompts().len() - 2..],
        [Prompt::WrongRoom, Prompt::Goodbye]
    );
    let len = Prompt::WrongRoom.audio(Language::En).unwrap().len()
        + Prompt::Goodbye.audio(Language::En).unwrap().len();
    assert!(at.saturating_since(bye_queued) >= Duration::from_micros(len as u64 * 125));
    assert_eq!(h.call.phase(), Phase::Ended);
    assert_eq!(h.call.poll_timeout(), None);
    assert_eq!(h.joined(), None);
}

#[test]
fn empty_entry_counts_as_wrong() {
    let mut h = Harness::new(config());
    h.until_quiet();
    h.key("#", Via::Rfc4733);
    assert!(h.lookups().is_empty(), "nothing to look up");
    assert_eq!(&h.prompts()[2..], [Prompt::WrongRoom, Prompt::EnterRoom]);
}

#[test]
fn star_clears_what_was_keyed() {
    let mut h = Harness::new(config());
    h.until_quiet();
    h.key("99*1234#", Via::Rfc4733);
    h.until_quiet();
    assert_eq!(h.lookups(), [RoomId(1234)]);
    assert_eq!(h.joined(), Some(RoomId(1234)));
}

#[test]
fn keys_during_a_prompt_interrupt_it_and_count() {
    let mut h = Harness::new(config());
    h.advance(Duration::from_millis(300));
    assert!(h.call.is_playing(h.now), "still welcoming");
    h.key("1", Via::Rfc4733);
    assert!(!h.call.is_playing(h.now), "barge-in stopped the prompt");
    let frames_after = h.frames_out.len();
    h.advance(Duration::from_secs(1));
    assert_eq!(h.frames_out.len(), frames_after, "no more prompt audio");
    h.key("234#", Via::Rfc4733);
    h.until_quiet();
    assert_eq!(h.lookups(), [RoomId(1234)], "the barging key counted");
    assert_eq!(h.joined(), Some(RoomId(1234)));
}

#[test]
fn joining_prompt_is_not_interrupted() {
    let mut h = Harness::new(config());
    h.until_quiet();
    h.key("1234#", Via::Rfc4733);
    assert!(h.call.is_playing(h.now));
    h.key("5", Via::Rfc4733);
    assert!(
        h.call.is_playing(h.now),
        "keys do not cut the joining prompt"
    );
    h.until_quiet();
    assert_eq!(h.joined(), Some(RoomId(1234)));
}

#[test]
fn a_room_that_cannot_be_joined_now_is_said_then_goodbye() {
    let mut h = Harness::new(config());
    h.app.unavailable.push(RoomId(1234));
    h.until_quiet();
    h.key("1234#", Via::Rfc4733);
    h.until_quiet();
    assert_eq!(
        &h.prompts()[2..],
        [Prompt::Unavailable, Prompt::Goodbye],
        "told why, not 'wrong room'"
    );
    assert_eq!(h.joined(), None);
    assert_eq!(h.hangup().map(|h| h.1), Some(HangupReason::RoomUnavailable));
    assert_eq!(h.call.phase(), Phase::Ended);
}
