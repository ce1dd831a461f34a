//! `*6` in the call toggles mute, with a confirmation tone; 1–9 alone are keys (a poll's
//! votes).
mod common;

use std::time::Duration;

use common::{Harness, Via, config};
use pont_ivr::{IvrEvent, Phase};

fn in_call() -> Harness {
    let mut h = Harness::new(config());
    h.until_quiet();
    h.key("1234#", Via::Rfc4733);
    h.until_quiet();
    assert_eq!(h.call.phase(), Phase::InCall);
    h
}

fn toggles(h: &Harness) -> usize {
    h.count(|e| *e == IvrEvent::ToggleMute)
}

#[test]
fn star_six_toggles_mute_with_a_tone() {
    let mut h = in_call();
    let frames = h.frames_out.len();
    h.key("*6", Via::Rfc4733);
    assert_eq!(toggles(&h), 1);
    h.until_quiet();
    let tone: Vec<_> = h.frames_out[frames..].to_vec();
    // Two 80 ms beeps and a 60 ms gap: 11 frames, loud ones among them.
    assert!(
        (10..=12).contains(&tone.len()),
        "{} tone frames",
        tone.len()
    );
    assert!(tone.iter().filter(|(_, peak)| *peak > 4000).count() >= 6);
    // Switching paths within the 500 ms de-duplication window would look like a repeat;
    // a phone keeps to its paths, a person takes longer than that.
    h.advance(Duration::from_millis(500));
    h.key("*6", Via::Inband);
    assert_eq!(toggles(&h), 2, "and back");
    assert_eq!(h.call.phase(), Phase::InCall);
}

#[test]
fn other_keys_do_not_toggle() {
    let mut h = in_call();
    h.key("6", Via::Rfc4733);
    h.key("*5", Via::Rfc4733);
    h.key("#6", Via::Rfc4733);
    h.key("*", Via::Rfc4733);
    h.advance(Duration::from_secs(3));
    h.key("6", Via::Rfc4733);
    assert_eq!(toggles(&h), 0);
    h.key("**6", Via::Info);
    assert_eq!(toggles(&h), 1);
}

#[test]
fn star_six_before_joining_is_just_keys() {
    let mut h = Harness::new(config());
    h.until_quiet();
    h.key("*6", Via::Rfc4733);
    assert_eq!(toggles(&h), 0);
}

#[test]
fn digits_alone_in_the_call_are_keys() {
    let mut h = in_call();
    h.key("2", Via::Rfc4733);
    h.key("0", Via::Rfc4733);
    h.key("#", Via::Rfc4733);
    h.key("*5", Via::Rfc4733);
    h.advance(Duration::from_secs(3));
    h.key("9", Via::Inband);
    let keys: Vec<u8> = h
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            IvrEvent::Key(k) => Some(*k),
            _ => None,
        })
        .collect();
    assert_eq!(
        keys,
        vec![2, 9],
        "0, # and a digit right after * are not keys"
    );
    assert_eq!(toggles(&h), 0);
}
