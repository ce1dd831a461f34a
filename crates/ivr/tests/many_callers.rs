//! Twenty callers in the IVR at once, each keying another room by another path: each joins its
//! own room, and one caller's trouble does not touch the others.
mod common;

use common::{App, Harness, Room, Via, config};
use pont_ivr::HangupReason;
use pont_types::{RoomId, Timestamp};

#[test]
fn twenty_callers_enter_different_rooms_at_once() {
    let vias = [Via::Rfc4733, Via::Info, Via::Inband, Via::Rfc4733AndInband];
    let mut callers: Vec<Harness> = (0..20u64)
        .map(|i| {
            let mut app = App::new();
            for r in 0..20u64 {
                app.rooms.insert(
                    RoomId(7000 + r),
                    Room {
                        pin: None,
                        recording: false,
                    },
                );
            }
            Harness::with_app(config(), app, Timestamp::from_millis(1000 + i * 7))
        })
        .collect();
    // Everyone listens to the welcome, interleaved tick by tick.
    for _ in 0..300 {
        for h in &mut callers {
            h.tick();
        }
    }
    // Caller 19 keys garbage until it is thrown out; the others key their room.
    for (i, h) in callers.iter_mut().enumerate() {
        if i == 19 {
            for _ in 0..3 {
                h.key("1#", Via::Rfc4733);
                h.until_quiet();
            }
        } else {
            h.key(&format!("{}#", 7000 + i), vias[i % vias.len()]);
        }
    }
    for _ in 0..250 {
        for h in &mut callers {
            h.tick();
        }
    }
    for (i, h) in callers.iter().enumerate() {
        if i == 19 {
            assert_eq!(h.hangup().map(|h| h.1), Some(HangupReason::WrongRoom));
            assert_eq!(h.joined(), None);
        } else {
            assert_eq!(h.joined(), Some(RoomId(7000 + i as u64)), "caller {i}");
            assert_eq!(h.lookups(), [RoomId(7000 + i as u64)], "caller {i}");
        }
    }
}
