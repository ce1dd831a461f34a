//! The meeting page's in-meeting features in headless Chromium, clicked as a person would:
//! the organizer (signed in) lets a guest in from the waiting room, they chat (HTML shown as
//! text), the guest raises a hand that the organizer lowers, the organizer mutes the guest,
//! a latecomer gets the chat so far and is removed; the guest switches his page to French. Screenshots go
//! to `target/screenshots/` (the ones in `docs/` were taken from there).
//!
//! Skips (and passes) with a message when chromium or chromedriver is not installed.

use pont_tests::webdriver::{Browser, Driver, browser_available, poll};
use pont_tests::{EVENT_WAIT, Server, bearer, create_token, send, workspace_root};
use serde_json::{Value, json};

fn text(b: &Browser, selector: &str) -> String {
    b.exec(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
        json!([selector]),
    )
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

/// Clicks the first element matching `selector` (a real click event, as a mouse gives).
fn click(b: &Browser, selector: &str) {
    let clicked = b.exec(
        "const e = document.querySelector(arguments[0]); if (!e) return false; e.click(); return true;",
        json!([selector]),
    );
    assert_eq!(clicked, json!(true), "nothing to click at {selector}");
}

fn wait(b: &Browser, what: &str, script: &str) {
    poll(EVENT_WAIT, || {
        (b.exec(script, json!([])) == json!(true)).then_some(())
    })
    .unwrap_or_else(|| panic!("never: {what}"));
}

#[test]
fn an_organizer_runs_the_meeting_from_the_page() {
    let (chromium, driver) = match browser_available() {
        Ok(paths) => paths,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "Ana");
    let server = Server::start(dir.path());
    let reply = send(
        "POST",
        &server.url("/api/v1/meetings"),
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer(&token)),
        ],
        r#"{"subject": "Thesis defence", "start": "2026-12-01T09:30:00Z", "waiting_room": true}"#,
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    let room = reply.json()["room_number"].as_u64().unwrap();
    let shots = workspace_root().join("target").join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let driver = Driver::start(&chromium, &driver);
    let size = "--window-size=1280,800".to_owned();
    let ana = driver.browser(
        &dir.path().join("ana"),
        &["--lang=en-US".into(), size.clone()],
    );
    let bob = driver.browser(
        &dir.path().join("bob"),
        &["--lang=en-US".into(), size.clone()],
    );

    // Ana signs in, then joins: she moderates.
    ana.navigate(&server.url(&format!("/signin?token={token}")));
    poll(EVENT_WAIT, || {
        (ana.current_url() == server.url("/")).then_some(())
    })
    .expect("signed in");
    ana.navigate(&server.url(&format!("/r/{room}?name=Ana&autojoin=1")));
    poll(EVENT_WAIT, || {
        ana.pont("moderator").as_bool().filter(|m| *m)
    })
    .expect("the organizer moderates");
    assert!(ana.shown("#mod-controls"), "moderators' controls shown");

    // Bob (French browser) waits on the waiting page, in French.
    bob.navigate(&server.url(&format!("/r/{room}?name=Bob&autojoin=1")));
    wait(&bob, "Bob waits", "return window.pont.waiting === true;");
    // He picks French in the page's language menu (kept in the pont_lang cookie).
    bob.exec(
        "const s = document.getElementById('lang'); s.value = 'fr';\
         s.dispatchEvent(new Event('change')); return true;",
        json!([]),
    );
    assert_eq!(bob.cookie("pont_lang").as_deref(), Some("fr"));
    assert!(bob.shown("#waiting"));
    assert!(!bob.shown("#meeting"));
    assert_eq!(text(&bob, "#waiting h2"), "Salle d'attente");
    std::fs::write(shots.join("meeting-waiting-fr.png"), bob.screenshot()).unwrap();

    // Ana sees him waiting and lets him in with a click.
    wait(
        &ana,
        "Bob in Ana's waiting box",
        "return window.pont.waitingRoom.length === 1;",
    );
    assert!(ana.shown("#waitroom"));
    assert!(text(&ana, "#wlist").contains("Bob"));
    std::fs::write(shots.join("meeting-moderator-en.png"), ana.screenshot()).unwrap();
    click(&ana, "#wlist button[data-action=admit]");
    wait(
        &bob,
        "Bob in the meeting",
        "return !window.pont.waiting && window.pont.participants.length === 2;",
    );
    assert!(bob.shown("#meeting") && !bob.shown("#waiting"));
    wait(
        &ana,
        "two in Ana's roster",
        "return document.querySelectorAll('#plist li').length === 2;",
    );
    assert!(!ana.shown("#waitroom"), "nobody waits any more");

    // Chat: Bob types; Ana reads his words as text, never as markup.
    click(&bob, "#tab-chat");
    bob.exec(
        "document.getElementById('chat-input').value = arguments[0];\
         document.getElementById('chat-form').requestSubmit(); return true;",
        json!(["Bonjour <b>à tous</b>"]),
    );
    wait(
        &ana,
        "Bob's message on Ana's page",
        "return window.pont.chat.length === 1;",
    );
    assert_eq!(text(&ana, "#tab-chat .count"), "(1)", "an unread count");
    click(&ana, "#tab-chat");
    assert_eq!(text(&ana, "#chatlog .chat-text"), "Bonjour <b>à tous</b>");
    assert_eq!(
        ana.exec(
            "return document.querySelectorAll('#chatlog b').length;",
            json!([])
        ),
        json!(0),
        "no markup from a message"
    );
    assert_eq!(text(&bob, "#tab-chat span[data-i18n=chat]"), "Discussion");
    std::fs::write(shots.join("meeting-chat-fr.png"), bob.screenshot()).unwrap();
    click(&ana, "#tab-people");

    // Bob picks his camera and microphone in the devices panel: each switch goes out on the
    // same m-line (no new offer), and Ana keeps decoding his picture.
    click(&bob, "#btn-devices");
    wait(
        &bob,
        "devices listed",
        "return document.querySelectorAll('#sel-cam option').length > 0\
         && document.querySelectorAll('#sel-mic option').length > 0;",
    );
    let bob_id = bob.pont("participantId");
    let frames_of_bob = || -> u64 {
        let stats = ana.exec_async(pont_tests::webdriver::PAGE_STATS);
        stats
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|s| s["kind"] == "video" && s["participantId"] == bob_id)
                    .filter_map(|s| s["framesDecoded"].as_u64())
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    };
    let before = poll(EVENT_WAIT, || Some(frames_of_bob()).filter(|f| *f > 0))
        .expect("Ana decodes Bob's camera");
    for sel in ["#sel-cam", "#sel-mic"] {
        bob.exec(
            "const s = document.querySelector(arguments[0]);\
             s.selectedIndex = s.options.length - 1; s.dispatchEvent(new Event('change'));\
             return true;",
            json!([sel]),
        );
    }
    wait(
        &bob,
        "both devices switched",
        "return window.pont.deviceSwitches === 2;",
    );
    poll(EVENT_WAIT, || (frames_of_bob() > before + 30).then_some(()))
        .expect("Bob's picture keeps coming after the switch");
    assert_eq!(bob.pont("connectionState"), json!("connected"));
    std::fs::write(shots.join("meeting-devices-fr.png"), bob.screenshot()).unwrap();
    click(&bob, "#btn-devices");

    // Bob raises his hand; Ana sees it and lowers it from his row.
    click(&bob, "#btn-hand");
    wait(
        &ana,
        "Bob's hand on Ana's roster",
        "return !!document.querySelector('#plist li .tag[data-tag=hand]');",
    );
    assert_eq!(text(&bob, "#btn-hand"), "Baisser la main");
    click(&ana, "#plist li button[data-action=lower_hand]");
    wait(
        &bob,
        "Bob's hand lowered",
        "return window.pont.hands.length === 0;",
    );

    // Ana mutes Bob: his microphone goes off and he is told why.
    assert_eq!(bob.pont("micOn"), json!(true));
    click(&ana, "#plist li button[data-action=mute]");
    wait(
        &bob,
        "Bob muted by the moderator",
        "return window.pont.micOn === false && window.pont.message === 'muted_by_moderator';",
    );
    assert_eq!(
        text(&bob, "#message"),
        "Un modérateur a coupé votre micro. Vous pouvez le réactiver."
    );

    // A latecomer, let in, gets the chat so far; Ana removes her and she stays out.
    let cat = driver.browser(&dir.path().join("cat"), &["--lang=en-US".into(), size]);
    cat.navigate(&server.url(&format!("/r/{room}?name=Cat&autojoin=1")));
    wait(&cat, "Cat waits", "return window.pont.waiting === true;");
    wait(
        &ana,
        "Cat in the waiting box",
        "return window.pont.waitingRoom.length === 1;",
    );
    click(&ana, "#btn-admit-all");
    wait(
        &cat,
        "Cat has the history",
        "return window.pont.chat.length === 1 && window.pont.chat[0].name === 'Bob';",
    );
    let cat_id = cat.pont("participantId");
    wait(
        &ana,
        "Cat on Ana's roster",
        "return document.querySelectorAll('#plist li').length === 3;",
    );
    ana.exec(
        "document.querySelector('#plist li[data-pid=\"' + arguments[0] + '\"] button[data-action=remove]').click(); return true;",
        json!([cat_id]),
    );
    wait(
        &cat,
        "Cat removed",
        "return window.pont.removed === 'removed' && window.pont.message === 'removed';",
    );
    assert!(!cat.shown("#meeting"));
    wait(
        &ana,
        "Cat gone from Ana's roster",
        "return document.querySelectorAll('#plist li').length === 2;",
    );
    // It does not come back by itself: still removed a moment later, nobody joined again.
    assert_eq!(cat.pont("participantId"), Value::Null);
}
