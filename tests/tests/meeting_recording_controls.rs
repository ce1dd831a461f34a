//! The meeting page's recording controls, in two headless Chromium browsers: the organizer
//! (signed in on the portal) records, pauses, resumes and stops from the page; a participant
//! without an account has no controls and sees the recording state change.
//!
//! Skips (and passes) with a message when chromium or chromedriver is not installed.

use pont_tests::webdriver::{Driver, browser_available, poll};
use pont_tests::{EVENT_WAIT, Server, bearer, create_token, get, instant_room};
use serde_json::json;

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
            b.pont("participantId").as_str().map(str::to_owned)
        })
        .expect("the page joined");
    }
    poll(EVENT_WAIT, || {
        ana.pont("organizer").as_bool().filter(|o| *o)
    })
    .expect("the organizer's page knows her");
    assert!(ana.shown("#btn-rec-start"));
    assert!(!ana.shown("#btn-rec-stop"));
    assert_eq!(guest.pont("organizer"), json!(false));
    assert!(
        !guest.shown("#rec-controls"),
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
                (b.pont("recording") == json!(state)).then_some(())
            })
            .unwrap_or_else(|| panic!("{button}: a page never showed {state}"));
        }
        poll(EVENT_WAIT, || {
            (ana.shown(&format!("#{shown}")) && !ana.shown(&format!("#{hidden}"))).then_some(())
        })
        .unwrap_or_else(|| panic!("{button}: buttons not updated"));
        assert_eq!(guest.shown("#rec"), state == "recording", "{state}");
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
