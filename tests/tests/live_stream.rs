//! Live streaming (issue 18) on a running `pont`: the organizer starts a room's live stream,
//! viewers play it on `/live/{room}` by WHEP without joining, and what WHEP refuses.
//!
//! The browser test skips (and passes) with a message when chromium or chromedriver is not
//! installed; the WHEP tests need nothing but the bridge.

use pont_tests::peers::KillOnDrop;
use pont_tests::webdriver::{Browser, Driver, PAGE_STATS, browser_available, poll, write_wav};
use pont_tests::ws::WsClient;
use pont_tests::{EVENT_WAIT, Reply, Server, bearer, create_token, get, instant_room, send};
use serde_json::{Value, json};

/// A viewer's recvonly offer as a browser makes it: H.264 constrained baseline video and Opus
/// audio, BUNDLEd, with ICE credentials `ufrag` and a DTLS fingerprint.
fn viewer_offer(ufrag: &str, video: bool) -> String {
    let fingerprint = (0..32)
        .map(|i| format!("{:02X}", i * 7 % 256))
        .collect::<Vec<_>>()
        .join(":");
    let common = |mid: u32| {
        format!(
            "c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:{ufrag}\r\n\
             a=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\n\
             a=fingerprint:sha-256 {fingerprint}\r\na=setup:actpass\r\na=mid:{mid}\r\n\
             a=recvonly\r\na=rtcp-mux\r\n"
        )
    };
    let mut sdp =
        String::from("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
    let video_line = "m=video 9 UDP/TLS/RTP/SAVPF 102\r\n".to_owned()
        + &common(0)
        + "a=rtcp-rsize\r\na=rtpmap:102 H264/90000\r\na=rtcp-fb:102 nack\r\n\
           a=rtcp-fb:102 nack pli\r\n\
           a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n";
    if video {
        sdp += "a=group:BUNDLE 0 1\r\n";
        sdp += &video_line;
        sdp += "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
        sdp += &common(1);
        sdp += "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n";
    } else {
        // Audio in a codec the bridge does not stream (PCMU only), and no video.
        sdp += "a=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n";
        sdp += &common(0);
        sdp += "a=rtpmap:0 PCMU/8000\r\n";
    }
    sdp
}

fn whep_post(server: &Server, room: u64, content_type: &str, body: &str) -> Reply {
    send(
        "POST",
        &server.url(&format!("/whep/{room}")),
        &[("content-type", content_type)],
        body,
    )
}

fn live_api(server: &Server, token: &str, room: u64, action: &str) -> Reply {
    send(
        "POST",
        &server.url(&format!("/api/v1/rooms/{room}/live")),
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer(token)),
        ],
        &json!({ "action": action }).to_string(),
    )
}

fn room_api(server: &Server, token: &str, room: u64) -> Value {
    let r = get(
        &server.url(&format!("/api/v1/rooms/{room}")),
        &[("authorization", &bearer(token))],
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.json()
}

/// One sample of `/metrics` (0 when absent).
fn metric(server: &Server, line_start: &str) -> f64 {
    let text = get(&server.url("/metrics"), &[]).body;
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Someone in the room over signalling, to hear what the room is told (without media, the
/// bridge gives its leg up after 30 s).
fn participant(server: &Server, room: u64) -> WsClient {
    let mut c = WsClient::connect(server.http, &format!("/api/v1/rooms/{room}/ws"));
    c.send_json(&json!({"v": 1, "type": "join", "name": "Ana"}));
    c.recv_type("joined");
    c
}

#[test]
fn whep_refuses_what_it_cannot_play_and_caps_and_reaps_abandoned_sessions() {
    if pont_tests::tool("baresip").is_none() {
        eprintln!(
            "SKIPPED whep_refuses_what_it_cannot_play_and_caps_and_reaps_abandoned_sessions: \
             baresip not installed (bash tools/test-deps)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/pont.toml"),
        "[streaming]\nmax_viewers = 4\n",
    )
    .unwrap();
    let token = create_token(&dir.path().join("data"), "Ana");
    let server = Server::start(dir.path());
    let room = instant_room(&server, &token);

    // Nobody in the room: there is no meeting to stream, and nothing to play.
    let r = live_api(&server, &token, room, "start");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (409, "not_in_room"),
        "{r:?}"
    );
    let r = whep_post(&server, room, "application/sdp", &viewer_offer("a1", true));
    assert_eq!(r.status, 404, "{r:?}");
    assert!(r.body.contains("not streaming live"), "{r:?}");

    // The meeting: a phone caller who stays, and Ana, who hears what the room is told.
    let caller_dir = dir.path().join("caller");
    std::fs::create_dir_all(&caller_dir).unwrap();
    let _caller = KillOnDrop(pont_tests::peers::baresip(
        &caller_dir,
        440.0,
        &format!("sip:{room}@{}", server.sip()),
        180,
    ));
    poll(EVENT_WAIT, || {
        (room_api(&server, &token, room)["participants"][0]["kind"] == "sip").then_some(())
    })
    .expect("the caller is in the room");
    let mut ana = participant(&server, room);
    // In the room but not live yet: still 404.
    let r = whep_post(&server, room, "application/sdp", &viewer_offer("a2", true));
    assert_eq!(r.status, 404, "{r:?}");
    let r = live_api(&server, &token, room, "begin");
    assert_eq!(r.status, 422, "{r:?}");
    let r = live_api(&server, &token, room, "start");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["live"], true);
    assert_eq!(r.json()["url"], format!("/live/{room}"));
    assert_eq!(ana.recv_type("live")["live"], true);
    assert_eq!(room_api(&server, &token, room)["live"], true);

    // What WHEP refuses, with a clear body.
    let r = whep_post(&server, room, "application/json", "{}");
    assert_eq!(r.status, 415, "{r:?}");
    assert!(r.body.contains("application/sdp"), "{r:?}");
    let r = whep_post(&server, room, "application/sdp", "this is not SDP\r\n");
    assert_eq!(r.status, 400, "{r:?}");
    let r = whep_post(&server, room, "application/sdp", &viewer_offer("a3", false));
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body.contains("no usable codec"), "{r:?}");
    let r = whep_post(
        &server,
        99_999_999,
        "application/sdp",
        &viewer_offer("a4", true),
    );
    assert_eq!(r.status, 404, "{r:?}");

    // A good offer: 201, the session's URL, an answer that sends.
    let r = whep_post(&server, room, "application/sdp", &viewer_offer("v1", true));
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/sdp"));
    let session = r.header("location").expect("a Location").to_owned();
    assert!(session.starts_with(&format!("/whep/{room}/")), "{session}");
    assert!(r.body.contains("a=sendonly"), "{}", r.body);
    assert!(
        r.body.contains("H264") && r.body.contains("opus"),
        "{}",
        r.body
    );
    // Everyone in the room sees the viewer counted; the viewer is not a participant.
    assert_eq!(ana.recv_type("live")["viewers"], 1);
    let state = room_api(&server, &token, room);
    assert_eq!(state["viewers"], 1, "{state}");
    assert_eq!(
        state["participants"].as_array().unwrap().len(),
        2,
        "{state}"
    );

    // Trickle ICE: a fragment of the same ICE session is taken; another ufrag is an ICE
    // restart, which is not supported (422); the wrong type is 415; no such session 404.
    let patch = |path: &str, ct: &str, body: &str| {
        send("PATCH", &server.url(path), &[("content-type", ct)], body)
    };
    let frag = "a=ice-ufrag:v1\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n\
                a=candidate:1 1 udp 2122260223 127.0.0.1 61764 typ host\r\n";
    assert_eq!(
        patch(&session, "application/trickle-ice-sdpfrag", frag).status,
        204
    );
    let restart = frag.replace("ice-ufrag:v1", "ice-ufrag:v2");
    let r = patch(&session, "application/trickle-ice-sdpfrag", &restart);
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body.contains("ICE restart"), "{r:?}");
    assert_eq!(patch(&session, "application/sdp", frag).status, 415);
    let unknown = format!("/whep/{room}/{}", "0".repeat(32));
    assert_eq!(
        patch(&unknown, "application/trickle-ice-sdpfrag", frag).status,
        404
    );

    // DELETE ends it, once.
    assert_eq!(pont_tests::delete(&server.url(&session)).status, 200);
    assert_eq!(pont_tests::delete(&server.url(&session)).status, 404);
    assert_eq!(ana.recv_type("live")["viewers"], 0);

    // Sessions opened and abandoned (never connected): beyond max_viewers, 503 with
    // Retry-After, before any leg is made; the ones taken are reaped when their connection
    // does not come up, and new viewers are taken again.
    let mut taken = 0;
    for i in 0..12 {
        let r = whep_post(
            &server,
            room,
            "application/sdp",
            &viewer_offer(&format!("x{i}"), true),
        );
        match r.status {
            201 => taken += 1,
            503 => assert!(r.header("retry-after").is_some(), "{r:?}"),
            other => panic!("unexpected {other}: {r:?}"),
        }
    }
    assert_eq!(taken, 4);
    assert_eq!(
        metric(&server, "pont_whep_sessions_total{result=\"full\"}"),
        8.0
    );
    assert_eq!(metric(&server, "pont_live_viewers"), 4.0);
    poll(EVENT_WAIT, || {
        (metric(&server, "pont_live_viewers") == 0.0).then_some(())
    })
    .expect("the abandoned sessions were reaped");
    assert_eq!(metric(&server, "pont_whep_abandoned_total"), 4.0);
    let r = whep_post(&server, room, "application/sdp", &viewer_offer("y", true));
    assert_eq!(r.status, 201, "{r:?}");

    // The meeting was not disturbed: the caller is still in it.
    let state = room_api(&server, &token, room);
    assert!(
        state["participants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kind"] == "sip"),
        "{state}"
    );

    // Stopping the live stream lets its viewers go; the room says so.
    let r = live_api(&server, &token, room, "stop");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["live"], false);
    let state = room_api(&server, &token, room);
    assert_eq!(
        (state["live"].clone(), state["viewers"].clone()),
        (json!(false), json!(0))
    );
    let r = whep_post(&server, room, "application/sdp", &viewer_offer("z", true));
    assert_eq!(r.status, 404, "{r:?}");
}

/// The viewer page's inbound tracks: (kind, packetsReceived, framesDecoded).
const LIVE_STATS: &str = "const done = arguments[arguments.length - 1];\
     window.pontLive ? window.pontLive.stats().then(done, e => done(String(e))) : done([]);";

fn received(viewer: &Browser, kind: &str) -> (u64, u64) {
    let mut out = (0, 0);
    if let Value::Array(items) = viewer.exec_async(LIVE_STATS) {
        for s in items.iter().filter(|s| s["kind"] == kind) {
            out.0 += s["packetsReceived"].as_u64().unwrap_or(0);
            out.1 += s["framesDecoded"].as_u64().unwrap_or(0);
        }
    }
    out
}

fn save_screenshot(b: &Browser, name: &str) {
    let dir = pont_tests::workspace_root().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), b.screenshot()).unwrap();
}

#[test]
fn viewers_watch_the_live_page_without_joining_the_meeting() {
    let (chromium, driver) = match browser_available() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED viewers_watch_the_live_page_without_joining_the_meeting: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "Ana");
    let server = Server::start(dir.path());
    let room = instant_room(&server, &token);
    let tone = dir.path().join("tone.wav");
    write_wav(&tone, 10, Some((440.0, -6.0)));

    let driver = Driver::start(&chromium, &driver);
    // The organizer, signed in (she moderates), with a fake camera and a tone.
    let ana = driver.browser(
        &dir.path().join("profile-ana"),
        &[format!(
            "--use-file-for-fake-audio-capture={}",
            tone.display()
        )],
    );
    // Signed in by her sign-in link, as `pont token create` prints it.
    ana.navigate(&server.url(&format!("/signin?token={token}")));
    ana.navigate(&server.url(&format!("/r/{room}?name=Ana&autojoin=1")));
    let ana_id = poll(EVENT_WAIT, || {
        ana.pont("participantId").as_str().map(str::to_owned)
    })
    .expect("Ana joined");

    // A viewer opens the live page before the stream starts: it waits, and says so.
    let viewer = driver.browser(&dir.path().join("profile-viewer"), &[]);
    viewer.navigate(&server.url(&format!("/live/{room}")));
    poll(EVENT_WAIT, || {
        viewer
            .exec(
                "return document.getElementById('live-state').textContent",
                json!([]),
            )
            .as_str()
            .filter(|t| t.contains("has not started"))
            .map(str::to_owned)
    })
    .expect("the page says the stream has not started");
    save_screenshot(&viewer, "live-waiting-en.png");

    // Ana starts the live stream from her page; the viewer's page starts playing by itself.
    poll(EVENT_WAIT, || ana.shown("#btn-live").then_some(())).expect("Ana moderates");
    ana.exec("document.getElementById('btn-live').click()", json!([]));
    poll(EVENT_WAIT, || {
        (ana.pont("live")["live"] == true).then_some(())
    })
    .expect("live on Ana's page");
    let (_, frames) = poll(EVENT_WAIT, || {
        let v = received(&viewer, "video");
        (v.1 > 10).then_some(v)
    })
    .unwrap_or_else(|| panic!("the viewer decoded no video: {}", server.stderr()));
    assert!(frames > 10);
    poll(EVENT_WAIT, || {
        (received(&viewer, "audio").0 > 50).then_some(())
    })
    .expect("the viewer received the room's audio");
    poll(EVENT_WAIT, || {
        (viewer.exec("return window.pontLive.state", json!([])) == "playing").then_some(())
    })
    .expect("the viewer's page says it plays");

    // The viewer is counted, not listed: the room has Ana only.
    poll(EVENT_WAIT, || {
        (ana.pont("live")["viewers"] == 1).then_some(())
    })
    .expect("Ana sees one viewer");
    let state = room_api(&server, &token, room);
    assert_eq!(state["viewers"], 1, "{state}");
    let ids: Vec<&str> = state["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, vec![ana_id.as_str()], "{state}");
    assert!(ana.shown("#live"), "the LIVE badge is on Ana's page");
    assert!(ana.shown("#live-link"), "Ana sees the live page's link");
    assert_eq!(
        ana.pont("participants").as_array().map(Vec::len),
        Some(1),
        "the viewer is not in Ana's roster"
    );
    // Ana's own page still receives nothing unexpected and is connected.
    assert_eq!(ana.pont("connectionState"), "connected");
    let _ = ana.exec_async(PAGE_STATS);
    save_screenshot(&viewer, "live-en.png");
    save_screenshot(&ana, "meeting-live-en.png");

    // A second viewer, in French.
    let viewer_fr = driver.browser(&dir.path().join("profile-fr"), &[]);
    viewer_fr.navigate(&server.url(&format!("/lang/fr?next=/live/{room}")));
    poll(EVENT_WAIT, || {
        (received(&viewer_fr, "video").1 > 10).then_some(())
    })
    .expect("the French viewer decodes video");
    poll(EVENT_WAIT, || {
        (ana.pont("live")["viewers"] == 2).then_some(())
    })
    .expect("Ana sees two viewers");
    let badge = viewer_fr.exec(
        "return document.getElementById('live-badge').textContent",
        json!([]),
    );
    assert_eq!(badge, "EN DIRECT");
    save_screenshot(&viewer_fr, "live-fr.png");
    // No script error or refused script (CSP); the 404s of the offers made while the stream
    // was not on are the page asking, as it should.
    let errors: Vec<String> = viewer
        .console_errors()
        .into_iter()
        .filter(|e| !(e.contains("/whep/") && e.contains("404")))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");

    // Ana stops it: both pages say it ended, and nobody watches.
    ana.exec("document.getElementById('btn-live').click()", json!([]));
    for v in [&viewer, &viewer_fr] {
        poll(EVENT_WAIT, || {
            (v.exec("return window.pontLive.state", json!([])) == "waiting").then_some(())
        })
        .expect("the viewer's page stopped playing");
    }
    let text = viewer
        .exec(
            "return document.getElementById('live-state').textContent",
            json!([]),
        )
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(text.contains("has ended"), "{text}");
    poll(EVENT_WAIT, || {
        (room_api(&server, &token, room)["viewers"] == 0).then_some(())
    })
    .expect("no viewers left");
}

/// The WHIP client a broadcast tool would be, as a page script: the fake camera and
/// microphone offered `sendonly` to `/whip/{room}` with the organizer's token.
const WHIP_CLIENT: &str = "const [room, token, done] = arguments;
(async () => {
  const stream = await navigator.mediaDevices.getUserMedia({video: true, audio: true});
  const pc = new RTCPeerConnection();
  for (const t of stream.getTracks()) pc.addTransceiver(t, {direction: 'sendonly'});
  await pc.setLocalDescription(await pc.createOffer());
  const r = await fetch('/whip/' + room + '?name=Studio', {method: 'POST',
    headers: {'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + token},
    body: pc.localDescription.sdp});
  const answer = await r.text();
  if (r.status !== 201) return done({status: r.status, body: answer});
  await pc.setRemoteDescription({type: 'answer', sdp: answer});
  window.whip = pc;
  done({status: 201, location: r.headers.get('Location')});
})().catch(e => done({error: String(e)}));";

#[test]
fn a_whip_client_publishes_into_the_room_and_a_participant_sees_it() {
    let (chromium, driver) = match browser_available() {
        Ok(p) => p,
        Err(why) => {
            eprintln!(
                "SKIPPED a_whip_client_publishes_into_the_room_and_a_participant_sees_it: {why}"
            );
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "Ana");
    let other = create_token(&dir.path().join("data"), "Mallory");
    let server = Server::start(dir.path());
    let room = instant_room(&server, &token);
    let whip = |auth: Option<&str>, body: &str| {
        let mut headers = vec![("content-type", "application/sdp")];
        let bearer_value = auth.map(bearer);
        if let Some(b) = &bearer_value {
            headers.push(("authorization", b.as_str()));
        }
        send(
            "POST",
            &server.url(&format!("/whip/{room}")),
            &headers,
            body,
        )
    };
    // Refused: no token, another organizer's token, garbage, nothing the bridge takes.
    assert_eq!(whip(None, &viewer_offer("w1", true)).status, 401);
    assert_eq!(whip(Some(&other), &viewer_offer("w2", true)).status, 404);
    assert_eq!(whip(Some(&token), "garbage").status, 400);
    let r = whip(Some(&token), &viewer_offer("w3", false));
    assert_eq!(r.status, 422, "{r:?}");
    assert!(
        room_api(&server, &token, room)["participants"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let driver = Driver::start(&chromium, &driver);
    let studio = driver.browser(&dir.path().join("profile-studio"), &[]);
    studio.navigate(&server.url("/healthz"));
    let v = studio.exec_async_with(WHIP_CLIENT, json!([room.to_string(), token]));
    assert_eq!(v["status"], 201, "{v}");
    let location = v["location"].as_str().expect("a Location").to_owned();
    assert!(
        location.starts_with(&format!("/whip/{room}/")),
        "{location}"
    );
    let studio_id = poll(EVENT_WAIT, || {
        room_api(&server, &token, room)["participants"]
            .as_array()?
            .iter()
            .find(|p| p["display_name"] == "Studio")
            .and_then(|p| p["id"].as_str().map(str::to_owned))
    })
    .expect("the WHIP client is a participant");

    // Bob, in the room, decodes the Studio's camera and receives its audio.
    let bob = driver.browser(&dir.path().join("profile-bob"), &[]);
    bob.navigate(&server.url(&format!("/r/{room}?name=Bob&autojoin=1")));
    poll(EVENT_WAIT, || {
        let Value::Array(items) = bob.exec_async(PAGE_STATS) else {
            return None;
        };
        let of = |kind: &str, field: &str| {
            items
                .iter()
                .filter(|s| s["participantId"] == studio_id.as_str() && s["kind"] == kind)
                .map(|s| s[field].as_u64().unwrap_or(0))
                .sum::<u64>()
        };
        (of("video", "framesDecoded") > 10 && of("audio", "packetsReceived") > 50).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "Bob never got the Studio's media: {}",
            bob.exec_async(PAGE_STATS)
        )
    });

    // DELETE with the token ends it: the Studio leaves the room.
    let del = |auth: &str| {
        pont_tests::delete_with(&server.url(&location), &[("authorization", &bearer(auth))])
    };
    assert_eq!(del(&other).status, 404);
    assert_eq!(del(&token).status, 200);
    poll(EVENT_WAIT, || {
        let state = room_api(&server, &token, room);
        (!state["participants"]
            .as_array()?
            .iter()
            .any(|p| p["display_name"] == "Studio"))
        .then_some(())
    })
    .expect("the Studio left");
    assert_eq!(del(&token).status, 404);
}
