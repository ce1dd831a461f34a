//! The two worlds in one room: a browser (headless Chromium, a 1 kHz tone as its microphone)
//! and a SIP caller (baresip, a 700 Hz tone). The caller's voice reaches the browser as an
//! ordinary Opus track (decoded, levelled, re-encoded by the mixer), and the browser's voice
//! reaches the caller in the mix. Skips (and says so) without chromium, chromedriver or baresip.

use pont_tests::peers::{baresip, goertzel, read_wav};
use pont_tests::webdriver::{Driver, PAGE_STATS, browser_available, poll, write_wav};
use pont_tests::{EVENT_WAIT, Server, bearer, create_token, get, instant_room};
use serde_json::Value;

/// The caller's call: long enough for Chromium to start and join on a busy machine.
const CALL_SECONDS: u32 = 30;

#[test]
fn a_browser_and_a_phone_caller_hear_each_other() {
    let (chromium, chromedriver) = match browser_available() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    // `tool` says why it skips.
    if pont_tests::tool("baresip").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "mixed");
    let server = Server::start(dir.path());
    let room = instant_room(&server, &token);
    let auth = bearer(&token);
    let participants = || {
        get(
            &server.url(&format!("/api/v1/rooms/{room}")),
            &[("authorization", &auth)],
        )
        .json()["participants"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };

    // The caller is there first: the bridge starts re-encoding its voice for browsers only
    // when the browser arrives.
    let phone_dir = tempfile::tempdir().unwrap();
    let uri = format!("sip:{room}@{}", server.sip());
    let call_started = std::time::Instant::now();
    let mut phone = baresip(phone_dir.path(), 700.0, &uri, CALL_SECONDS);
    let phone_id = poll(EVENT_WAIT, || {
        participants()
            .iter()
            .find(|p| p["kind"] == "sip")
            .and_then(|p| p["id"].as_str().map(str::to_owned))
    })
    .expect("the phone caller joined");

    let tone = dir.path().join("tone.wav");
    write_wav(&tone, 30, Some((1000.0, -6.0)));
    let driver = Driver::start(&chromium, &chromedriver);
    let browser = driver.browser(
        &dir.path().join("profile"),
        &[format!(
            "--use-file-for-fake-audio-capture={}",
            tone.display()
        )],
    );
    browser.navigate(&server.url(&format!("/r/{room}?name=Web&autojoin=1")));
    poll(EVENT_WAIT, || {
        browser
            .exec(
                "return window.pont ? window.pont.participantId : null;",
                Value::Array(vec![]),
            )
            .as_str()
            .map(str::to_owned)
    })
    .expect("the page joined");

    // The browser receives the caller's track, and it is not silent.
    let heard = poll(EVENT_WAIT, || {
        let Value::Array(stats) = browser.exec_async(PAGE_STATS) else {
            return None;
        };
        stats
            .iter()
            .find(|s| s["participantId"] == phone_id.as_str() && s["kind"] == "audio")
            .filter(|s| s["packetsReceived"].as_u64().unwrap_or(0) > 100)
            .and_then(|s| s["audioLevel"].as_f64())
            .filter(|&level| level > 0.01)
    });
    // From here on the browser is in the room (its microphone reaches the mix).
    let browser_in = call_started.elapsed();
    assert!(
        heard.is_some(),
        "the browser never heard the phone caller\n{}",
        server.stderr()
    );

    // The caller heard the browser's 1 kHz, not its own 700 Hz.
    let deadline = std::time::Instant::now() + EVENT_WAIT;
    while phone.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "baresip did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let rec = std::fs::read_dir(phone_dir.path().join("rec"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded what it heard");
    let (rate, samples) = read_wav(&rec);
    // The part of the call after the browser was heard (a second's margin each side; the
    // recording starts after the spawn, so this skips at least that much), however long a
    // busy machine took to start Chromium.
    let from = (browser_in.as_secs_f64() + 1.0) * f64::from(rate);
    let to = samples.len().saturating_sub(rate as usize);
    let from = (from as usize).min(to);
    assert!(
        to - from >= rate as usize,
        "less than a second of the call is left after the browser joined ({browser_in:?} of \
         {CALL_SECONDS} s): the machine is too slow for this test's call length"
    );
    let mid = &samples[from..to];
    let (own, browser_tone) = (goertzel(mid, rate, 700.0), goertzel(mid, rate, 1000.0));
    assert!(
        browser_tone > 100.0 * own.max(1.0),
        "the caller heard 1 kHz at {browser_tone:.0} and itself (700 Hz) at {own:.0}"
    );
}
