//! Three headless Chromium browsers join one room by link and really call each other through
//! the bridge: each decodes the other two videos and receives their audio; the one fed a loud
//! tone becomes the active speaker (API and every page's main window); garbage datagrams on
//! the media port do not disturb the call; closing a browser removes its participant.
//!
//! Skips (and passes) with a message when chromium or chromedriver is not installed.

use std::collections::BTreeMap;
use std::net::UdpSocket;

use pont_tests::webdriver::{Browser, Driver, PAGE_STATS, browser_available, poll, write_wav};
use pont_tests::{EVENT_WAIT, Server, bearer, create_token, get, instant_room};
use serde_json::Value;

/// Per (remote participant, kind): (packetsReceived, framesDecoded).
type Inbound = BTreeMap<(String, String), (u64, u64)>;

fn inbound(b: &Browser) -> Inbound {
    let mut out = BTreeMap::new();
    if let Value::Array(items) = b.exec_async(PAGE_STATS) {
        for s in items {
            let (Some(pid), Some(kind)) = (s["participantId"].as_str(), s["kind"].as_str()) else {
                continue;
            };
            let v = (
                s["packetsReceived"].as_u64().unwrap_or(0),
                s["framesDecoded"].as_u64().unwrap_or(0),
            );
            let e = out
                .entry((pid.to_owned(), kind.to_owned()))
                .or_insert((0, 0));
            e.0 += v.0;
            e.1 += v.1;
        }
    }
    out
}

fn page(b: &Browser, field: &str) -> Value {
    b.exec(
        &format!("return window.pont ? window.pont.{field} : null;"),
        Value::Array(vec![]),
    )
}

/// Whether `b` has, for each of `others`, video frames decoded and audio packets received
/// beyond `since` (or beyond zero).
fn media_flows(b: &Browser, others: &[String], since: Option<&Inbound>) -> Option<Inbound> {
    let now = inbound(b);
    for o in others {
        let audio = now.get(&(o.clone(), "audio".into()))?;
        let video = now.get(&(o.clone(), "video".into()))?;
        let (a0, v0) = match since {
            Some(s) => (
                s.get(&(o.clone(), "audio".into())).map_or(0, |x| x.0),
                s.get(&(o.clone(), "video".into())).map_or(0, |x| x.1),
            ),
            None => (0, 0),
        };
        if audio.0 <= a0 || video.1 <= v0 {
            return None;
        }
    }
    Some(now)
}

#[test]
fn three_browsers_call_through_the_bridge() {
    let (chromium, driver) = match browser_available() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED three_browsers_call_through_the_bridge: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "alice");
    let server = Server::start(dir.path());
    let room = instant_room(&server, &token);
    let auth = bearer(&token);
    let room_api = || {
        get(
            &server.url(&format!("/api/v1/rooms/{room}")),
            &[("authorization", &auth)],
        )
        .json()
    };

    // 440 Hz bursts at -6 dBFS for the speaker, digital silence for the others (Chromium's fake
    // microphone beeps otherwise).
    let tone = dir.path().join("tone.wav");
    let silence = dir.path().join("silence.wav");
    write_wav(&tone, 10, Some((440.0, -6.0)));
    write_wav(&silence, 10, None);

    let driver = Driver::start(&chromium, &driver);
    let names = ["Alice", "Bruno", "Chloé"];
    let mut browsers: Vec<Browser> = names
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let wav = if i == 0 { &tone } else { &silence };
            driver.browser(
                &dir.path().join(format!("profile-{i}")),
                &[format!(
                    "--use-file-for-fake-audio-capture={}",
                    wav.display()
                )],
            )
        })
        .collect();
    for (b, name) in browsers.iter().zip(names) {
        b.navigate(&server.url(&format!("/r/{room}?name={name}&autojoin=1")));
    }

    // Everyone joined and sees the other two.
    let ids: Vec<String> = browsers
        .iter()
        .map(|b| {
            poll(EVENT_WAIT, || {
                page(b, "participantId").as_str().map(str::to_owned)
            })
            .expect("the page joined")
        })
        .collect();
    let api = poll(EVENT_WAIT, || {
        let v = room_api();
        (v["participants"].as_array().map_or(0, Vec::len) == 3).then_some(v)
    })
    .expect("three participants in the API");
    for p in api["participants"].as_array().unwrap() {
        assert_eq!(p["kind"], "web", "{api}");
        assert!(ids.contains(&p["id"].as_str().unwrap().to_owned()), "{api}");
    }

    // Each browser decodes the other two videos and receives their audio, and keeps doing so.
    let mut first = Vec::new();
    for (i, b) in browsers.iter().enumerate() {
        let others: Vec<String> = ids.iter().filter(|x| **x != ids[i]).cloned().collect();
        let s = poll(EVENT_WAIT, || media_flows(b, &others, None)).unwrap_or_else(|| {
            panic!(
                "{} never received the others: {:?}\n{}",
                names[i],
                inbound(b),
                server.stderr()
            )
        });
        first.push((others, s));
    }
    // Garbage on the media port must not disturb the call.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for junk in [
        &b"\x00\x01\x00\x08garbage!"[..],
        &[0x80; 200],
        &[0x16, 0xfe, 0xfd, 0, 0],
        b"\xff",
    ] {
        udp.send_to(junk, server.media()).unwrap();
    }
    for (i, b) in browsers.iter().enumerate() {
        let (others, s) = &first[i];
        poll(EVENT_WAIT, || media_flows(b, others, Some(s)))
            .unwrap_or_else(|| panic!("{}'s media stopped increasing: {:?}", names[i], inbound(b)));
    }

    for (i, b) in browsers.iter().enumerate() {
        eprintln!("{} hears {}", names[i], b.exec_async(PAGE_STATS));
    }
    // The browser with the tone is the active speaker, in the API and in every main window.
    let alice = ids[0].clone();
    poll(EVENT_WAIT, || {
        (room_api()["active_speaker"] == alice.as_str()).then_some(())
    })
    .unwrap_or_else(|| panic!("active speaker is not Alice: {}", room_api()));
    for (i, b) in browsers.iter().enumerate() {
        poll(EVENT_WAIT, || {
            (page(b, "activeSpeaker") == alice.as_str()
                && page(b, "mainWindowParticipant") == alice.as_str())
            .then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "{}'s main window shows {:?}",
                names[i],
                page(b, "mainWindowParticipant")
            )
        });
    }

    // The meeting page as Bruno sees it: Alice speaking in the main window.
    let png = browsers[1].screenshot();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let out = pont_tests::workspace_root().join("target/meeting-page.png");
    std::fs::write(&out, &png).unwrap();
    if std::env::var_os("PONT_UPDATE_SCREENSHOT").is_some() {
        std::fs::write(
            pont_tests::workspace_root().join("docs/meeting-page.png"),
            &png,
        )
        .unwrap();
    }

    // Closing Chloé's browser removes her.
    let chloe = ids[2].clone();
    browsers[2].quit();
    poll(EVENT_WAIT, || {
        let v = room_api();
        let list = v["participants"].as_array()?;
        (list.len() == 2 && list.iter().all(|p| p["id"] != chloe.as_str())).then_some(())
    })
    .unwrap_or_else(|| panic!("Chloé still listed: {}", room_api()));
    for b in &browsers[..2] {
        poll(EVENT_WAIT, || {
            let ps = page(b, "participants");
            (ps.as_array()?.len() == 2).then_some(())
        })
        .expect("the pages see Chloé leave");
    }
}
