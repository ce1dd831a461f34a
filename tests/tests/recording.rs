//! Recording against the real `pont` binary: two baresip callers send tones into a room, the
//! organizer records through the API with a pause, and the downloaded file is probed by
//! ffprobe (Opus, the right duration, both tones in it) and decoded by ffmpeg without an error;
//! Range downloads return the right bytes; kill -9 while recording leaves a file that the next
//! start lists as `interrupted` and that decodes to the recorded time minus at most 2 s; the
//! duration cap closes a recording and starts the next; browsers are told and the notice is
//! spoken into the mix (consent); a browser and two callers record as composed H.264 + Opus.
//! Skips, saying so, when ffmpeg or baresip is missing.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use pont_tests::peers::goertzel;
use pont_tests::tool;
use pont_tests::webdriver::{Driver, browser_available, poll, write_wav};
use pont_tests::ws::WsClient;
use pont_tests::{ServeOptions, Server, bearer, create_token, get, get_bytes, instant_room, send};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

/// Whether a tool the test needs is absent (it then says so and skips).
fn missing(tools: &[&str]) -> bool {
    let absent: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| tool(t).is_none())
        .collect();
    if !absent.is_empty() {
        eprintln!("SKIPPED: {absent:?} not installed (bash tools/test-deps installs them)");
    }
    !absent.is_empty()
}

/// An organizer's token for the server's data folder under `dir`, and an instant room.
fn open_room<'a>(server: &'a Server, dir: &Path) -> (Api<'a>, u64) {
    let token = create_token(&dir.join("data"), "rec");
    let room = instant_room(server, &token);
    let api = Api {
        server,
        auth: bearer(&token),
    };
    (api, room)
}

struct Api<'a> {
    server: &'a Server,
    auth: String,
}

impl Api<'_> {
    fn record(&self, room: &str, action: &str) -> pont_tests::Reply {
        send(
            "POST",
            &self.server.url(&format!("/api/v1/rooms/{room}/recording")),
            &[
                ("content-type", "application/json"),
                ("authorization", &self.auth),
            ],
            &json!({ "action": action }).to_string(),
        )
    }

    fn get(&self, path: &str) -> pont_tests::Reply {
        get(&self.server.url(path), &[("authorization", &self.auth)])
    }

    fn recording(&self, id: i64) -> Value {
        let r = self.get(&format!("/api/v1/recordings/{id}"));
        assert_eq!(r.status, 200, "{r:?}");
        r.json()
    }

    /// Waits until the recording is closed (pending validation) and returns it.
    fn closed(&self, id: i64) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let rec = self.recording(id);
            if rec["status"] == "pending_validation" {
                return rec;
            }
            assert!(
                Instant::now() < deadline,
                "recording {id} never closed: {rec}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn download(&self, id: i64, range: Option<&str>) -> pont_tests::BytesReply {
        let mut headers = vec![("authorization", self.auth.as_str())];
        if let Some(r) = range {
            headers.push(("range", r));
        }
        get_bytes(
            &self
                .server
                .url(&format!("/api/v1/recordings/{id}/download")),
            &headers,
        )
    }

    fn sip_participants(&self, room: u64) -> usize {
        let r = self.get(&format!("/api/v1/rooms/{room}"));
        assert_eq!(r.status, 200, "{r:?}");
        r.json()["participants"]
            .as_array()
            .map_or(0, |ps| ps.iter().filter(|p| p["kind"] == "sip").count())
    }

    fn wait_for_sip_participants(&self, room: u64, n: usize) {
        let deadline = Instant::now() + WAIT;
        while self.sip_participants(room) != n {
            assert!(
                Instant::now() < deadline,
                "room never had {n} SIP participants; server log:\n{}",
                self.server.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `(codec, duration)` by ffprobe.
fn probe(path: &Path) -> (String, f64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0", "-show_entries"])
        .args(["stream=codec_name:format=duration", "-of", "default=nw=1"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "ffprobe: {out:?}");
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {text}"))
            .to_owned()
    };
    (
        field("codec_name="),
        field("duration=").parse().unwrap_or(0.0),
    )
}

/// ffmpeg's errors (empty when clean) and the decoded samples (8 kHz mono).
fn decode(path: &Path) -> (String, Vec<i16>) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "s16le", "-ac", "1", "-ar", "8000", "-"])
        .output()
        .unwrap();
    let pcm = out
        .stdout
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    (String::from_utf8_lossy(&out.stderr).into_owned(), pcm)
}

/// A headless baresip (see [`pont_tests::peers::baresip`]), killed when dropped.
struct Caller(Child);

impl Drop for Caller {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn baresip(dir: &Path, freq: f64, uri: &str, seconds: u32) -> Caller {
    Caller(pont_tests::peers::baresip(dir, freq, uri, seconds))
}

/// Reads recording notices until one says `state` (the rotation sends "off" then
/// "recording" in between).
fn wait_notice(ws: &mut WsClient, state: &str) {
    for _ in 0..20 {
        if ws.recv_type("recording")["state"] == state {
            return;
        }
    }
    panic!("no recording notice with state {state}");
}

fn sha256_hex(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// `(codec_name, width, height, duration)` of every stream, by ffprobe.
fn probe_streams(path: &Path) -> Vec<(String, u32, u32, f64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args(["stream=codec_name,width,height,duration", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            (
                f[0].to_owned(),
                num(1) as u32,
                num(2) as u32,
                num(f.len() - 1),
            )
        })
        .collect()
}

#[test]
fn a_browser_and_two_sip_callers_are_recorded_as_composed_h264_and_opus() {
    if missing(&["ffprobe", "ffmpeg", "baresip"]) {
        return;
    }
    let (chromium, chromedriver) = match browser_available() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (api, room) = open_room(&server, dir.path());
    let uri = format!("sip:{room}@{}", server.sip());
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let _a = baresip(da.path(), 700.0, &uri, 45);
    let _b = baresip(db.path(), 1300.0, &uri, 45);
    api.wait_for_sip_participants(room, 2);

    let tone = dir.path().join("tone.wav");
    write_wav(&tone, 45, Some((1000.0, -6.0)));
    let driver = Driver::start(&chromium, &chromedriver);
    let browser = driver.browser(
        &dir.path().join("profile"),
        &[format!(
            "--use-file-for-fake-audio-capture={}",
            tone.display()
        )],
    );
    browser.navigate(&server.url(&format!("/r/{room}?name=Camera&autojoin=1")));
    poll(WAIT, || {
        (browser
            .exec("return window.pont.connectionState;", Value::Array(vec![]))
            .as_str()
            == Some("connected"))
        .then_some(())
    })
    .expect("the browser connected");

    let r = api.record(&room.to_string(), "start");
    assert_eq!(r.status, 200, "{r:?}");
    let id = r.json()["id"].as_i64().unwrap();
    let started = Instant::now();
    // Consent in the page: the indicator, and the spoken notice played.
    poll(WAIT, || {
        let page = |js: &str| browser.exec(js, Value::Array(vec![]));
        (page("return window.pont.recording;") == "recording"
            && page("return window.pont.recordingNoticesPlayed;") == 1)
            .then_some(())
    })
    .expect("the page shows and speaks the recording notice");
    // Recorded media accumulates in real time: a bounded wait is the point here.
    std::thread::sleep(Duration::from_secs(10).saturating_sub(started.elapsed()));
    let r = api.record(&room.to_string(), "stop");
    assert_eq!(r.status, 200, "{r:?}");
    let meta = api.closed(id);
    let duration = meta["duration"].as_f64().unwrap();
    assert!((9.0..12.0).contains(&duration), "{meta}");

    let whole = api.download(id, None);
    assert_eq!(whole.status, 200);
    let file = dir.path().join("video.mp4");
    std::fs::write(&file, &whole.body).unwrap();
    let streams = probe_streams(&file);
    let video = streams
        .iter()
        .find(|s| s.0 == "h264")
        .unwrap_or_else(|| panic!("no H.264 stream: {streams:?}\n{}", server.stderr()));
    let audio = streams
        .iter()
        .find(|s| s.0 == "opus")
        .unwrap_or_else(|| panic!("no Opus stream: {streams:?}"));
    assert_eq!((video.1, video.2), (1280, 720), "{streams:?}");
    // The video starts with the composer's first keyframe, a frame or so after the audio.
    assert!(video.3 > duration - 1.0, "{streams:?} vs {duration} s");
    assert!(
        (audio.3 - duration).abs() < 0.2,
        "{streams:?} vs {duration} s"
    );
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&file)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "ffmpeg errors: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The browser's camera is in the picture (Chromium's fake camera is green with no blue;
    // the callers' named tiles all have some), wherever the layout put it.
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-ss",
            &format!("{}", duration - 2.0),
            "-i",
        ])
        .arg(&file)
        .args(["-frames:v", "1", "-vf", "scale=160:90", "-f", "rawvideo"])
        .args(["-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert_eq!(out.stdout.len(), 160 * 90 * 3, "{out:?}");
    let green = out
        .stdout
        .chunks_exact(3)
        .filter(|p| p[1] > 110 && p[0] < 90 && p[2] < 40)
        .count();
    assert!(green > 160 * 90 / 50, "{green} green pixels");
    // The mix holds both callers and the browser.
    let (_, pcm) = decode(&file);
    let mid = &pcm[pcm.len() / 4..pcm.len() * 3 / 4];
    for f in [700.0, 1300.0, 1000.0] {
        let level = goertzel(mid, 8000, f);
        assert!(
            level > 100.0 * goertzel(mid, 8000, 1700.0).max(1.0),
            "{f} Hz at {level:.0}"
        );
    }
}

#[test]
fn two_sip_callers_recorded_with_a_pause_then_downloaded_whole_and_by_range() {
    if missing(&["ffprobe", "ffmpeg", "baresip"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (api, room) = open_room(&server, dir.path());
    let uri = format!("sip:{room}@{}", server.sip());
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let _a = baresip(da.path(), 700.0, &uri, 40);
    let _b = baresip(db.path(), 1300.0, &uri, 40);
    api.wait_for_sip_participants(room, 2);
    let room_s = room.to_string();

    // Bad commands first: unknown room, unknown action, nothing to pause.
    let r = api.record("999999999", "start");
    assert_eq!((r.status, r.error_code().as_str()), (404, "room_not_found"));
    let r = api.record(&room_s, "record");
    assert_eq!((r.status, r.error_code().as_str()), (422, "invalid_action"));
    let r = api.record(&room_s, "pause");
    assert_eq!((r.status, r.error_code().as_str()), (409, "wrong_state"));
    let no_auth = send(
        "POST",
        &server.url(&format!("/api/v1/rooms/{room}/recording")),
        &[("content-type", "application/json")],
        r#"{"action":"start"}"#,
    );
    assert_eq!(no_auth.status, 401);

    let r = api.record(&room_s, "start");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["state"], "recording");
    let id = r.json()["id"].as_i64().expect("recording id");
    let started = Instant::now();
    let r = api.record(&room_s, "start");
    assert_eq!((r.status, r.error_code().as_str()), (409, "wrong_state"));
    let room_json = api.get(&format!("/api/v1/rooms/{room}")).json();
    assert_eq!(
        room_json["recording"],
        json!({"state": "recording", "id": id})
    );

    // Recorded media accumulates in real time: a bounded wait is the point here.
    std::thread::sleep(Duration::from_secs(4));
    let r = api.record(&room_s, "pause");
    assert_eq!(r.json()["state"], "paused", "{r:?}");
    let recorded_before_pause = started.elapsed();
    assert_eq!(api.record(&room_s, "pause").status, 409);
    std::thread::sleep(Duration::from_secs(3));
    let r = api.record(&room_s, "resume");
    assert_eq!(r.json()["state"], "recording", "{r:?}");
    let resumed = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let r = api.record(&room_s, "stop");
    let recorded = recorded_before_pause + resumed.elapsed();
    assert_eq!(r.json(), json!({"state": "off", "id": null}), "{r:?}");
    assert_eq!(api.record(&room_s, "stop").status, 409);

    let rec = api.closed(id);
    assert_eq!(rec["room_number"], room);
    assert_eq!(rec["interrupted"], false);
    assert_eq!(rec["visibility"], "private");
    assert!(
        rec["title"].as_str().unwrap().starts_with("test — "),
        "{rec}"
    );
    let duration = rec["duration"].as_f64().unwrap();
    // The paused 3 s are left out: about 7 s, not 10.
    assert!(
        (duration - recorded.as_secs_f64()).abs() < 1.0,
        "duration {duration} s, recorded {recorded:?}"
    );

    let whole = api.download(id, None);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.headers["content-type"], "video/mp4");
    assert_eq!(whole.headers["accept-ranges"], "bytes");
    assert_eq!(whole.body.len() as u64, rec["size"].as_u64().unwrap());
    let file = dir.path().join("download.mp4");
    std::fs::write(&file, &whole.body).unwrap();
    assert_eq!(sha256_hex(&file), rec["sha256"].as_str().unwrap());

    let (codec, probed) = probe(&file);
    assert_eq!(codec, "opus");
    assert!(
        (probed - duration).abs() < 0.2,
        "ffprobe {probed} s vs {duration} s"
    );
    let (errors, pcm) = decode(&file);
    assert!(errors.is_empty(), "ffmpeg errors: {errors}");
    let decoded = pcm.len() as f64 / 8000.0;
    assert!((decoded - duration).abs() < 0.2, "decoded {decoded} s");
    // The mix holds both callers' tones.
    let mid = &pcm[pcm.len() / 4..pcm.len() * 3 / 4];
    let (t700, t1300, t1000) = (
        goertzel(mid, 8000, 700.0),
        goertzel(mid, 8000, 1300.0),
        goertzel(mid, 8000, 1000.0),
    );
    assert!(
        t700 > 100.0 * t1000.max(1.0) && t1300 > 100.0 * t1000.max(1.0),
        "700 Hz {t700:.0}, 1300 Hz {t1300:.0}, 1000 Hz (absent) {t1000:.0}"
    );

    // Range requests.
    let len = whole.body.len();
    let part = api.download(id, Some("bytes=100-199"));
    assert_eq!(part.status, 206);
    assert_eq!(
        part.headers["content-range"],
        format!("bytes 100-199/{len}")
    );
    assert_eq!(part.body, whole.body[100..200]);
    let tail = api.download(id, Some("bytes=-50"));
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, whole.body[len - 50..]);
    let bad = api.download(id, Some(&format!("bytes={len}-")));
    assert_eq!(bad.status, 416);
    assert_eq!(bad.headers["content-range"], format!("bytes */{len}"));

    // The list, and edits.
    let list = api.get("/api/v1/recordings").json();
    let item = list["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .expect("listed");
    assert_eq!(item["status"], "pending_validation");
    let patched = send(
        "PATCH",
        &server.url(&format!("/api/v1/recordings/{id}")),
        &[
            ("content-type", "application/json"),
            ("authorization", &api.auth),
        ],
        r#"{"title": "Board meeting", "visibility": "organizers"}"#,
    );
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(patched.json()["title"], "Board meeting");
    assert_eq!(patched.json()["visibility"], "organizers");
    // A title is only a title: `../` in it names no file, and the download is the same file.
    let sneaky = send(
        "PATCH",
        &server.url(&format!("/api/v1/recordings/{id}")),
        &[
            ("content-type", "application/json"),
            ("authorization", &api.auth),
        ],
        r#"{"title": "../../../etc/passwd"}"#,
    );
    assert_eq!(sneaky.status, 200, "{sneaky:?}");
    assert_eq!(sneaky.json()["title"], "../../../etc/passwd");
    assert_eq!(api.download(id, None).body, whole.body);
    assert!(!dir.path().join("etc").exists());
    let bad = send(
        "PATCH",
        &server.url(&format!("/api/v1/recordings/{id}")),
        &[
            ("content-type", "application/json"),
            ("authorization", &api.auth),
        ],
        r#"{"visibility": "everyone"}"#,
    );
    assert_eq!(
        (bad.status, bad.error_code().as_str()),
        (422, "invalid_visibility")
    );
    assert_eq!(api.get("/api/v1/recordings/999999").status, 404);
}

#[test]
fn kill_9_while_recording_leaves_an_interrupted_recording_that_decodes() {
    if missing(&["ffprobe", "ffmpeg", "baresip"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (api, room) = open_room(&server, dir.path());
    let caller_dir = tempfile::tempdir().unwrap();
    let caller = baresip(
        caller_dir.path(),
        700.0,
        &format!("sip:{room}@{}", server.sip()),
        40,
    );
    api.wait_for_sip_participants(room, 1);
    let r = api.record(&room.to_string(), "start");
    assert_eq!(r.status, 200, "{r:?}");
    let id = r.json()["id"].as_i64().unwrap();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let recorded = started.elapsed().as_secs_f64();
    let auth = api.auth.clone();
    let exit = server.stop("KILL");
    assert!(!exit.success());
    drop(caller);

    let server = Server::start(dir.path());
    let api = Api {
        server: &server,
        auth,
    };
    let rec = api.recording(id);
    assert_eq!(rec["interrupted"], true, "{rec}");
    assert_eq!(rec["status"], "pending_validation");
    let duration = rec["duration"].as_f64().unwrap();
    assert!(
        duration >= recorded - 2.0 && duration <= recorded + 0.5,
        "recovered {duration} s of {recorded:.1} s"
    );
    let listed = api.get("/api/v1/recordings").json();
    assert_eq!(listed["recordings"][0]["id"], id);
    assert_eq!(listed["recordings"][0]["interrupted"], true);
    // The room is no longer recording after the restart.
    let room_json = api.get(&format!("/api/v1/rooms/{room}")).json();
    assert_eq!(room_json["recording"]["state"], "off");

    let whole = api.download(id, None);
    assert_eq!(whole.status, 200);
    let file = dir.path().join("recovered.mp4");
    std::fs::write(&file, &whole.body).unwrap();
    assert_eq!(sha256_hex(&file), rec["sha256"].as_str().unwrap());
    let (codec, _) = probe(&file);
    assert_eq!(codec, "opus");
    let (errors, pcm) = decode(&file);
    assert!(errors.is_empty(), "ffmpeg errors: {errors}");
    let decoded = pcm.len() as f64 / 8000.0;
    assert!(
        decoded >= recorded - 2.0 && decoded >= 8.0,
        "decodes {decoded} s of {recorded:.1} s"
    );
}

#[test]
fn a_recording_stops_by_itself_once_its_room_stays_empty() {
    if missing(&["ffprobe", "ffmpeg", "baresip"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/pont.toml"),
        "[recording]\nstop_when_empty_secs = 2\n",
    )
    .unwrap();
    let server = Server::start_with(ServeOptions::new(dir.path())).expect("pont serve");
    let (api, room) = open_room(&server, dir.path());
    let caller_dir = tempfile::tempdir().unwrap();
    let mut caller = Caller(pont_tests::peers::baresip(
        caller_dir.path(),
        700.0,
        &format!("sip:{room}@{}", server.sip()),
        6,
    ));
    api.wait_for_sip_participants(room, 1);
    let r = api.record(&room.to_string(), "start");
    assert_eq!(r.status, 200, "{r:?}");
    let id = r.json()["id"].as_i64().unwrap();
    // The caller hangs up after its 6 s; nobody else comes: 2 s later the recording closes,
    // not interrupted, and the room is no longer recording.
    pont_tests::peers::wait_exit(&mut caller.0, "baresip");
    let rec = api.closed(id);
    assert_eq!(rec["interrupted"], false, "{rec}");
    let duration = rec["duration"].as_f64().unwrap();
    assert!((2.0..9.0).contains(&duration), "{rec}");
    let room_json = api.get(&format!("/api/v1/rooms/{room}")).json();
    assert_eq!(room_json["recording"]["state"], "off", "{room_json}");
    assert!(
        server
            .stderr()
            .contains("the recorded room is empty: stopping"),
        "{}",
        server.stderr()
    );
}

#[test]
fn the_cap_closes_a_recording_and_starts_the_next_and_browsers_are_told() {
    if missing(&["ffprobe", "ffmpeg"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/pont.toml"),
        "[recording]\nmax_duration_secs = 3\n",
    )
    .unwrap();
    let server = Server::start_with(ServeOptions::new(dir.path())).expect("pont serve");
    let (api, room) = open_room(&server, dir.path());
    // A browser's signalling channel, no media: the room has no SIP leg, so the mixer exists
    // for the recording alone.
    let mut ws = WsClient::connect(server.http, &format!("/api/v1/rooms/{room}/ws"));
    ws.send_json(&json!({"v": 1, "type": "join", "name": "viewer"}));
    ws.recv_type("joined");

    let r = api.record(&room.to_string(), "start");
    assert_eq!(r.status, 200, "{r:?}");
    let first = r.json()["id"].as_i64().unwrap();
    let notice = ws.recv_type("recording");
    assert_eq!(notice["state"], "recording");

    // At 3 s of media the first recording closes and the next one starts by itself.
    let closed = api.closed(first);
    let d = closed["duration"].as_f64().unwrap();
    assert!((d - 3.0).abs() < 0.1, "capped at {d} s");
    let deadline = Instant::now() + WAIT;
    let second = loop {
        let room_json = api.get(&format!("/api/v1/rooms/{room}")).json();
        if let Some(id) = room_json["recording"]["id"].as_i64()
            && id != first
        {
            assert_eq!(room_json["recording"]["state"], "recording");
            break id;
        }
        assert!(Instant::now() < deadline, "no next recording: {room_json}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let r = api.record(&room.to_string(), "pause");
    assert_eq!(r.json()["id"], second);
    wait_notice(&mut ws, "paused");
    api.record(&room.to_string(), "stop");
    wait_notice(&mut ws, "off");
    let rec = api.closed(second);
    assert_eq!(rec["interrupted"], false);
    // The second is the session's next part: it says so, and the first continues nothing.
    assert_eq!(rec["continues"], first);
    assert_eq!(api.recording(first)["continues"], Value::Null);
    // Recorded sessions shows them as the session's parts 1 and 2.
    let token = api.auth.trim_start_matches("Bearer ").to_owned();
    let r = get(&server.url(&format!("/signin?token={token}")), &[]);
    let cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = get(&server.url("/recordings"), &[("cookie", &cookie)]).body;
    assert!(
        page.contains(">part 1<") && page.contains(">part 2<"),
        "{page}"
    );
    let whole = api.download(first, None);
    let file = dir.path().join("first.mp4");
    std::fs::write(&file, &whole.body).unwrap();
    let (errors, pcm) = decode(&file);
    assert!(errors.is_empty(), "ffmpeg errors: {errors}");
    assert!((pcm.len() as f64 / 8000.0 - 3.0).abs() < 0.1);
    // The room is silent but for the spoken notice ("this meeting is being recorded", 1.7 s):
    // the recording holds it at its start, then silence.
    let rms = |s: &[i16]| {
        (s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
    };
    let (notice, after) = (rms(&pcm[..8000 * 3 / 2]), rms(&pcm[8000 * 2..]));
    assert!(
        notice > 300.0 && after < 30.0,
        "notice RMS {notice:.0}, after it {after:.0}"
    );
}

/// A small tmpfs mounted on a path for the test's life (unmounted when dropped).
struct TmpfsMount(std::path::PathBuf);

impl TmpfsMount {
    /// `None` when this machine does not let the test mount (not root, no tmpfs).
    fn new(path: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| Self(path.to_owned()))
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_stops_the_recording_keeps_it_playable_and_the_call_goes_on() {
    if missing(&["ffprobe", "ffmpeg", "baresip"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The recordings folder on a 32 KiB tmpfs: a few seconds of audio fill it.
    let Some(_mount) = TmpfsMount::new(&dir.path().join("data/recordings"), "32k") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root): no disk-full test");
        return;
    };
    let server = Server::start(dir.path());
    let (api, room) = open_room(&server, dir.path());
    let uri = format!("sip:{room}@{}", server.sip());
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = baresip(da.path(), 700.0, &uri, 16);
    let _b = baresip(db.path(), 1300.0, &uri, 30);
    api.wait_for_sip_participants(room, 2);
    let r = api.record(&room.to_string(), "start");
    assert_eq!(r.status, 200, "{r:?}");
    let id = r.json()["id"].as_i64().unwrap();
    // A browser's signalling channel joins after the start (the room stays audio-only).
    let mut ws = WsClient::connect(server.http, &format!("/api/v1/rooms/{room}/ws"));
    ws.send_json(&json!({"v": 1, "type": "join", "name": "viewer"}));
    ws.recv_type("joined");
    assert_eq!(ws.recv_type("recording")["state"], "recording");

    // The disk fills: the browser is told why the recording stopped.
    let off = ws.recv_type("recording");
    assert_eq!(off["state"], "off", "{off}");
    assert_eq!(off["reason"], "storage_full", "{off}");
    let rec = api.closed(id);
    assert_eq!(rec["interrupted"], true, "{rec}");
    let duration = rec["duration"].as_f64().unwrap();
    assert!(duration >= 1.0, "{rec}");
    let room_json = api.get(&format!("/api/v1/rooms/{room}")).json();
    assert_eq!(room_json["recording"]["state"], "off");

    // What was written decodes, to the listed duration.
    let whole = api.download(id, None);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body.len() as u64, rec["size"].as_u64().unwrap());
    let file = dir.path().join("full.mp4");
    std::fs::write(&file, &whole.body).unwrap();
    let (errors, pcm) = decode(&file);
    assert!(errors.is_empty(), "ffmpeg errors: {errors}");
    let decoded = pcm.len() as f64 / 8000.0;
    assert!(
        (decoded - duration).abs() < 0.1,
        "{decoded} s vs {duration} s"
    );

    // The call was not disturbed: caller A heard B's tone up to its end, after the failure.
    pont_tests::peers::wait_exit(&mut a.0, "baresip");
    let heard = std::fs::read_dir(da.path().join("rec"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded what it heard");
    let (rate, samples) = pont_tests::peers::read_wav(&heard);
    let last = &samples[samples.len() * 3 / 4..];
    let (b_tone, own) = (goertzel(last, rate, 1300.0), goertzel(last, rate, 700.0));
    assert!(
        b_tone > 100.0 * own.max(1.0),
        "after the failure A heard B at {b_tone:.0}, itself at {own:.0}"
    );
    assert_eq!(api.sip_participants(room), 1, "B is still in the room");
}

#[test]
fn a_shared_screen_is_in_the_recording() {
    if missing(&["ffprobe", "ffmpeg"]) {
        return;
    }
    let (chromium, chromedriver) = match browser_available() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (api, room) = open_room(&server, dir.path());
    let driver = Driver::start(&chromium, &chromedriver);
    let browser = driver.browser(&dir.path().join("profile"), &[]);
    browser.navigate(&server.url(&format!("/r/{room}?name=Sharer&autojoin=1")));
    poll(WAIT, || {
        (browser.pont("connectionState") == "connected").then_some(())
    })
    .expect("the browser connected");
    let r = api.record(&room.to_string(), "start");
    assert_eq!(r.status, 200, "{r:?}");
    let id = r.json()["id"].as_i64().unwrap();
    // A solid blue "screen" (a canvas: headless Chromium has no screen to capture).
    browser.exec(
        "const c = document.createElement('canvas'); c.width = 640; c.height = 360;\
         const g = c.getContext('2d');\
         const paint = () => { g.fillStyle = '#0000ff'; g.fillRect(0, 0, 640, 360); };\
         paint(); setInterval(paint, 50);\
         window.pont.shareStream(c.captureStream(15)); return true;",
        Value::Array(vec![]),
    );
    poll(WAIT, || (browser.pont("sharing") == true).then_some(())).expect("the share was accepted");
    let shared_at = Instant::now();
    // Recorded media accumulates in real time: a bounded wait is the point here.
    std::thread::sleep(Duration::from_secs(5).saturating_sub(shared_at.elapsed()));
    let r = api.record(&room.to_string(), "stop");
    assert_eq!(r.status, 200, "{r:?}");
    api.closed(id);
    let whole = api.download(id, None);
    let file = dir.path().join("shared.mp4");
    std::fs::write(&file, &whole.body).unwrap();
    // The main window's centre of the last frames: the blue screen.
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&file)
        .args([
            "-vf",
            "scale=32:18",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let frames: Vec<&[u8]> = out.stdout.chunks_exact(32 * 18 * 3).collect();
    let last = frames.last().expect("decoded frames");
    let i = (6 * 32 + 16) * 3;
    let (r, g, b) = (last[i], last[i + 1], last[i + 2]);
    assert!(
        b > 150 && r < 90 && g < 90,
        "the recording's main window at the end is ({r}, {g}, {b}), not the shared blue ({} frames)",
        frames.len()
    );
}
