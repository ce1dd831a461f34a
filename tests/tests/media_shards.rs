//! Two rooms on two media shards (`--media-threads 2`): each room has a browser (headless
//! Chromium, a tone as its microphone) and a phone caller (baresip, another tone). The rooms
//! land on different shards (`/metrics` says so), each browser connects to its own shard's
//! media port and hears its own room's caller, and each caller hears its own room's browser and
//! nothing of the other room. Skips (and says so) without chromium, chromedriver or baresip.

use std::path::Path;
use std::process::Child;

use pont_tests::peers::{baresip, goertzel, read_wav, wait_exit};
use pont_tests::webdriver::{Browser, Driver, PAGE_STATS, browser_available, poll, write_wav};
use pont_tests::{EVENT_WAIT, ServeOptions, Server, create_token, get, instant_room};
use serde_json::Value;

/// One room of the test: its number, its browser's and its caller's tones.
struct Room {
    number: u64,
    browser_hz: f64,
    phone_hz: f64,
    phone: Child,
    phone_dir: tempfile::TempDir,
    browser: Option<Browser>,
}

fn metric(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn two_rooms_on_two_shards_each_get_only_their_own_media() {
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
    let token = create_token(&dir.path().join("data"), "shards");
    let mut options = ServeOptions::new(dir.path());
    options.args.extend(["--media-threads".into(), "2".into()]);
    let server = Server::start_with(options).expect("pont serve");
    let metrics = || get(&server.url("/metrics"), &[]).body;

    // Each room's browser first: room A is placed on shard 0, room B (shard 0 being busier)
    // on shard 1.
    let driver = Driver::start(&chromium, &chromedriver);
    let mut rooms = Vec::new();
    for (i, (browser_hz, phone_hz)) in [(1000.0, 700.0), (1500.0, 500.0)].into_iter().enumerate() {
        let number = instant_room(&server, &token);
        let tone = dir.path().join(format!("tone-{i}.wav"));
        write_wav(&tone, 60, Some((browser_hz, -6.0)));
        let browser = driver.browser(
            &dir.path().join(format!("profile-{i}")),
            &[format!(
                "--use-file-for-fake-audio-capture={}",
                tone.display()
            )],
        );
        browser.navigate(&server.url(&format!("/r/{number}?name=Web{i}&autojoin=1")));
        let joined = poll(EVENT_WAIT, || {
            browser
                .exec(
                    "return window.pont ? window.pont.participantId : null;",
                    Value::Array(vec![]),
                )
                .as_str()
                .map(str::to_owned)
        });
        assert!(joined.is_some(), "the browser of room {number} joined");
        rooms.push((number, browser_hz, phone_hz, browser));
    }
    let text = metrics();
    assert_eq!(metric(&text, "pont_media_shards"), Some(2.0), "{text}");
    for shard in ["0", "1"] {
        assert_eq!(
            metric(&text, &format!("pont_shard_rooms{{shard=\"{shard}\"}}")),
            Some(1.0),
            "one room on shard {shard}:\n{text}"
        );
    }

    // Then each room's caller.
    let mut rooms: Vec<Room> = rooms
        .into_iter()
        .map(|(number, browser_hz, phone_hz, browser)| {
            let phone_dir = tempfile::tempdir().unwrap();
            let uri = format!("sip:{number}@{}", server.sip());
            let phone = baresip(phone_dir.path(), phone_hz, &uri, 30);
            Room {
                number,
                browser_hz,
                phone_hz,
                phone,
                phone_dir,
                browser: Some(browser),
            }
        })
        .collect();

    // Each browser hears its own room's caller (over its own shard's media port).
    for room in &rooms {
        let browser = room.browser.as_ref().unwrap();
        let heard = poll(EVENT_WAIT, || {
            let Value::Array(stats) = browser.exec_async(PAGE_STATS) else {
                return None;
            };
            let audio: Vec<&Value> = stats.iter().filter(|s| s["kind"] == "audio").collect();
            // One remote audio track: the room's caller, not the other room's.
            (audio.len() == 1)
                .then(|| audio[0])
                .filter(|s| s["packetsReceived"].as_u64().unwrap_or(0) > 100)
                .and_then(|s| s["audioLevel"].as_f64())
                .filter(|&level| level > 0.01)
        });
        assert!(
            heard.is_some(),
            "the browser of room {} never heard its caller\n{}",
            room.number,
            server.stderr()
        );
    }
    let text = metrics();
    for shard in ["0", "1"] {
        assert_eq!(
            metric(
                &text,
                &format!("pont_shard_participants{{shard=\"{shard}\"}}")
            ),
            Some(2.0),
            "a browser and a caller on shard {shard}:\n{text}"
        );
        let forwarded = metric(
            &text,
            &format!("pont_shard_forwarded_packets_total{{shard=\"{shard}\"}}"),
        );
        assert!(
            forwarded.is_some_and(|f| f > 0.0),
            "shard {shard} forwards:\n{text}"
        );
    }

    // Each caller heard its own room's browser, not the other room's, nor itself.
    let tones: Vec<f64> = rooms.iter().map(|r| r.browser_hz).collect();
    for room in &mut rooms {
        wait_exit(&mut room.phone, "baresip");
        let (rate, samples) = read_wav(&recorded(room.phone_dir.path()));
        let mid = &samples[samples.len() * 3 / 5..samples.len() * 9 / 10];
        let own_room = goertzel(mid, rate, room.browser_hz);
        let other_hz = tones
            .iter()
            .copied()
            .find(|&t| t != room.browser_hz)
            .unwrap();
        let other_room = goertzel(mid, rate, other_hz);
        let itself = goertzel(mid, rate, room.phone_hz);
        assert!(
            own_room > 100.0 * other_room.max(1.0) && own_room > 100.0 * itself.max(1.0),
            "the caller of room {} heard its browser ({} Hz) at {own_room:.0}, the other \
             room's ({other_hz} Hz) at {other_room:.0} and itself at {itself:.0}",
            room.number,
            room.browser_hz
        );
    }
}

/// What baresip recorded of the call.
fn recorded(dir: &Path) -> std::path::PathBuf {
    std::fs::read_dir(dir.join("rec"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded what it heard")
}
