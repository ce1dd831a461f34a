//! The meeting page's recording controls, in two headless Chromium browsers: the organizer
//! (signed in on the portal) records, pauses, resumes and stops from the page; a participant
//! without an account has no controls and sees the recording state change.
//!
//! Skips (and passes) with a message when chromium or chromedriver is not installed.

use pont_tests::webdriver::{Browser, Driver, browser_available, poll};
use pont_tests::{EVENT_WAIT, Server, bearer, create_token, get, instant_room};
use serde_json::{Value, json};

fn page(b: &Browser, getter: &str) -> Value {
    b.exec(
        &format!("return window.pont ? window.pont.{getter} : null;"),
        json!([]),
    )
}

fn visible(b: &Browser, id: &str) -> bool {
    b.exec(
        &format!(
            "const e = document.getElementById('{id}'); return !!e && e.offsetParent !== null;"
        ),
        json!([]),
    )
    .as_bool()
    .unwrap_or(false)
}

#[test]
fn the_organizer_records_from_the_meeting_page_and_everyone_sees_it() {
    let (chromium, driver) = match browser_available() {
        Ok(paths) => paths,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = create_token(&dir.path().join("data"), "Ana");
    let room = instant_room(&server, &token);
    let driver = Driver::start(&chromium, &driver);
    let ana = driver.browser(&dir.path().join("profile-ana"), &[]);
    let guest = driver.browser(&dir.path().join("profile-guest"), &[]);

    // Ana signs in with her link (a session cookie), then joins; the guest just joins.
    ana.navigate(&server.url(&format!("/signin?token={token}")));
    poll(EVENT_WAIT, || {
        (ana.current_url() == server.url("/")).then_some(())
    })
    .expect("signed in");
    ana.navigate(&server.url(&format!("/r/{room}?name=Ana&autojoin=1")));
    guest.navigate(&server.url(&format!("/r/{room}?name=Guest&autojoin=1")));
    for b in [&ana, &guest] {
        poll(EVENT_WAIT, || {
            page(b, "participantId").as_str().map(str::to_owned)
        })
        .expect("the page joined");
    }
    poll(EVENT_WAIT, || {
        page(&ana, "organizer").as_bool().filter(|o| *o)
    })
    .expect("the organizer's page knows her");
    assert!(visible(&ana, "btn-rec-start"));
    assert!(!visible(&ana, "btn-rec-stop"));
    assert_eq!(page(&guest, "organizer"), json!(false));
    assert!(
        !visible(&guest, "rec-controls"),
        "no controls without an account"
    );

    let room_recording = || {
        let r = get(
            &server.url(&format!("/api/v1/rooms/{room}")),
            &[("authorization", &bearer(&token))],
        );
        r.json()["recording"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let click = |id: &str| {
        ana.exec(
            &format!("document.getElementById('{id}').click();"),
            json!([]),
        );
    };
    for (button, state, shown, hidden) in [
        (
            "btn-rec-start",
            "recording",
            "btn-rec-pause",
            "btn-rec-start",
        ),
        ("btn-rec-pause", "paused", "btn-rec-resume", "btn-rec-pause"),
        (
            "btn-rec-resume",
            "recording",
            "btn-rec-stop",
            "btn-rec-resume",
        ),
        ("btn-rec-stop", "off", "btn-rec-start", "btn-rec-stop"),
    ] {
        click(button);
        poll(EVENT_WAIT, || (room_recording() == state).then_some(()))
            .unwrap_or_else(|| panic!("{button}: the room never went {state}"));
        // Both pages learn it from the bridge; the organizer's buttons follow.
        for b in [&ana, &guest] {
            poll(EVENT_WAIT, || {
                (page(b, "recording") == json!(state)).then_some(())
            })
            .unwrap_or_else(|| panic!("{button}: a page never showed {state}"));
        }
        poll(EVENT_WAIT, || {
            (visible(&ana, shown) && !visible(&ana, hidden)).then_some(())
        })
        .unwrap_or_else(|| panic!("{button}: buttons not updated"));
        assert_eq!(visible(&guest, "rec"), state == "recording", "{state}");
    }
    // The recording exists, owned by Ana.
    let list = get(
        &server.url("/api/v1/recordings"),
        &[("authorization", &bearer(&token))],
    )
    .json();
    assert_eq!(
        list["recordings"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
}
