//! The recording store's workflow with real parts: a baresip caller is recorded for a few
//! seconds; its owner, signed in on the portal, titles, describes, windows, validates and
//! publishes it; signed out, it is in the public catalogue, its watch page plays what
//! `/w/{token}/media` serves (ffmpeg decodes it) and `/d/{token}` gives the whole original file
//! (same SHA-256); taking the validation back kills both links, validating again makes new
//! ones; the owner gives it to another account; another organizer can neither see nor change
//! it; bad windows, owners and states get their own 422/409.
//!
//! In Chromium, the watch page's `<video>` plays the window (its duration is the window's).
//!
//! Skips, saying so, when ffmpeg or baresip (or, for its browser part, chromium) is missing.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pont_tests::webdriver::{Driver, browser_available, poll};
use pont_tests::{
    Reply, Server, bearer, create_token, get, get_bytes, instant_room, pont_command, run, send,
    tool, workspace_root,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

fn session_of(server: &Server, token: &str) -> String {
    let r = get(&server.url(&format!("/signin?token={token}")), &[]);
    assert_eq!(r.status, 303, "{r:?}");
    r.header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

fn api(server: &Server, token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    let auth = bearer(token);
    match body {
        None => get(&server.url(path), &[("authorization", &auth)]),
        Some(b) => send(
            method,
            &server.url(path),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            &b.to_string(),
        ),
    }
}

fn form(server: &Server, cookie: &str, path: &str, body: &str) -> Reply {
    send(
        "POST",
        &server.url(path),
        &[
            ("cookie", cookie),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        body,
    )
}

fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form with a csrf field")
        .to_owned()
}

fn sha256_hex(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("sha256sum").arg(&path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// The codec names of a file's streams, by ffprobe.
fn streams(bytes: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.mp4");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .collect()
}

/// Seconds ffprobe reads in a file, and whether ffmpeg decodes it without a word.
fn probe(bytes: &[u8]) -> (f64, bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.mp4");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let secs: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0.0);
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    (secs, decode.status.success() && decode.stderr.is_empty())
}

fn token_of(url: &Value, prefix: &str) -> String {
    let url = url.as_str().unwrap_or_else(|| panic!("no link: {url}"));
    let token = url.rsplit_once(prefix).unwrap().1.to_owned();
    assert_eq!(token.len(), 48, "{url}");
    token
}

/// A baresip process, hung up (killed) when dropped.
struct Caller(std::process::Child);

impl Drop for Caller {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Records a baresip caller in a new room of `token`'s organizer; returns the closed recording.
fn record_a_call(server: &Server, dir: &Path, token: &str, driver: Option<&Driver>) -> Value {
    let room = instant_room(server, token);
    let uri = format!("sip:{room}@{}", server.sip());
    let _caller = Caller(pont_tests::peers::baresip(dir, 880.0, &uri, 40));
    // A browser with the fake camera: the recording then holds the composed picture too.
    let _browser = driver.map(|d| {
        let b = d.browser(&dir.join("profile-participant"), &[]);
        b.navigate(&server.url(&format!("/r/{room}?name=Lea&autojoin=1")));
        b
    });
    let expected = 1 + usize::from(driver.is_some());
    let deadline = Instant::now() + WAIT;
    loop {
        let r = api(server, token, "GET", &format!("/api/v1/rooms/{room}"), None);
        if r.json()["participants"]
            .as_array()
            .is_some_and(|p| p.len() >= expected)
        {
            break;
        }
        assert!(Instant::now() < deadline, "the caller never joined");
        std::thread::sleep(Duration::from_millis(100));
    }
    let path = format!("/api/v1/rooms/{room}/recording");
    let r = api(
        server,
        token,
        "POST",
        &path,
        Some(json!({"action": "start"})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let id = r.json()["id"].as_i64().unwrap();
    // While it records it cannot be validated.
    let early = api(
        server,
        token,
        "PATCH",
        &format!("/api/v1/recordings/{id}"),
        Some(json!({"status": "validated"})),
    );
    assert_eq!(
        (early.status, early.error_code().as_str()),
        (409, "wrong_state")
    );
    // Recorded media accumulates in real time: a bounded wait is the point here.
    std::thread::sleep(Duration::from_secs(12));
    let r = api(
        server,
        token,
        "POST",
        &path,
        Some(json!({"action": "stop"})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let deadline = Instant::now() + WAIT;
    loop {
        let rec = api(
            server,
            token,
            "GET",
            &format!("/api/v1/recordings/{id}"),
            None,
        )
        .json();
        if rec["status"] == "pending_validation" {
            return rec;
        }
        assert!(Instant::now() < deadline, "never closed: {rec}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_owner_titles_windows_validates_publishes_and_gives_away_a_recording() {
    let absent: Vec<&str> = ["ffprobe", "ffmpeg", "baresip"]
        .into_iter()
        .filter(|t| tool(t).is_none())
        .collect();
    if !absent.is_empty() {
        eprintln!("SKIPPED: {absent:?} not installed (bash tools/test-deps installs them)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let data = dir.path().join("data");
    let ana = create_token(&data, "Ana");
    let ana_cookie = session_of(&server, &ana);
    let caller = tempfile::tempdir().unwrap();
    let browsers = match browser_available() {
        Ok((chromium, driver)) => Some(Driver::start(&chromium, &driver)),
        Err(why) => {
            eprintln!("SKIPPED (browser parts): {why}");
            None
        }
    };
    let rec = record_a_call(&server, caller.path(), &ana, browsers.as_ref());
    let id = rec["id"].as_i64().unwrap();
    let path = format!("/api/v1/recordings/{id}");
    let duration = rec["duration"].as_f64().unwrap();
    assert!(duration > 10.0, "{rec}");
    let with_video = browsers.is_some();
    if with_video {
        let file = get_bytes(
            &server.url(&format!("{path}/download")),
            &[("authorization", &bearer(&ana))],
        );
        assert!(
            streams(&file.body).contains(&"h264".to_owned()),
            "composed video recorded"
        );
    }
    assert_eq!(
        rec["watch_url"],
        Value::Null,
        "no link before validation: {rec}"
    );
    assert_eq!(rec["download_link"], Value::Null);

    // The API refuses bad changes, each with its code, and changes nothing.
    for (body, code) in [
        (json!({"trim": {"start": 5, "end": 2}}), "invalid_trim"),
        (
            json!({"trim": {"start": 1, "end": duration + 30.0}}),
            "invalid_trim",
        ),
        (json!({"trim": {"start": -1, "end": 2}}), "invalid_trim"),
        (json!({"trim": "1-2"}), "invalid_trim"),
        (
            json!({"owner": "nobody@nowhere.example"}),
            "unknown_account",
        ),
        (json!({"owner": 999_999}), "unknown_account"),
        (json!({"status": "published"}), "invalid_status"),
        (
            json!({"description": "x".repeat(4001)}),
            "invalid_description",
        ),
    ] {
        let r = api(&server, &ana, "PATCH", &path, Some(body.clone()));
        assert_eq!((r.status, r.error_code()), (422, code.to_owned()), "{body}");
    }
    assert_eq!(api(&server, &ana, "GET", &path, None).json(), rec);

    // Ana's Recorded sessions list it; its form saves a title, a window, validation and
    // publication in one go.
    let list = get(&server.url("/recordings"), &[("cookie", &ana_cookie)]);
    assert!(
        list.body.contains(&format!("href=\"/recordings/{id}\"")),
        "{}",
        list.body
    );
    let page = get(
        &server.url(&format!("/recordings/{id}")),
        &[("cookie", &ana_cookie)],
    );
    assert_eq!(page.status, 200);
    let csrf = csrf_of(&page.body);
    // A window ending before it starts: the form again, with what was typed and why.
    let r = form(
        &server,
        &ana_cookie,
        &format!("/recordings/{id}"),
        &format!(
            "csrf={csrf}&title=Lecture+3&description=&visibility=public&trim_start=00%3A00%3A04\
             &trim_end=00%3A00%3A02"
        ),
    );
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body.contains("must start before it ends"), "{}", r.body);
    assert!(r.body.contains("value=\"Lecture 3\""), "{}", r.body);
    let r = form(
        &server,
        &ana_cookie,
        &format!("/recordings/{id}"),
        &format!("csrf={csrf}&title=Lecture+3&visibility=private&owner=nobody"),
    );
    assert_eq!(r.status, 422, "{r:?}");
    assert!(
        r.body.contains("No account has this e-mail or name"),
        "{}",
        r.body
    );
    // Without the form's token: refused.
    let r = form(
        &server,
        &ana_cookie,
        &format!("/recordings/{id}"),
        "title=Forged&visibility=public&validated=1",
    );
    assert_eq!(r.status, 403);
    let r = form(
        &server,
        &ana_cookie,
        &format!("/recordings/{id}"),
        &format!(
            "csrf={csrf}&title=Lecture+3&description=Week+3%3A+bridges&visibility=public\
             &trim_start=00%3A00%3A02&trim_end=00%3A00%3A08&validated=1"
        ),
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some(&*format!("/recordings/{id}?saved=1"))
    );
    let rec = api(&server, &ana, "GET", &path, None).json();
    assert_eq!(rec["title"], "Lecture 3");
    assert_eq!(rec["description"], "Week 3: bridges");
    assert_eq!(rec["trim"], json!({"start": 2.0, "end": 8.0}));
    assert_eq!(rec["status"], "validated");
    assert_eq!(rec["visibility"], "public");
    let watch = token_of(&rec["watch_url"], "/w/");
    let download = token_of(&rec["download_link"], "/d/");

    // Signed out: in the public catalogue, page and API.
    let public = get(&server.url("/api/v1/public/recordings"), &[]).json();
    let listed = &public["recordings"][0];
    assert_eq!(listed["title"], "Lecture 3");
    assert!(listed.get("owner_id").is_none(), "{listed}");
    let page = get(
        &server.url("/recordings/public"),
        &[("accept-language", "fr")],
    );
    assert!(page.body.contains(&format!("/w/{watch}")), "{}", page.body);
    // The watch page, in both languages, plays the window's media.
    let page = get(
        &server.url(&format!("/w/{watch}")),
        &[("accept-language", "fr")],
    );
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&format!("src=\"/w/{watch}/media\"")),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Télécharger le fichier original"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("0:00:06"),
        "the window's duration: {}",
        page.body
    );
    // The watch media is exactly the window, 2–8 s, from 0; the picture decodes from its
    // first frame (its lead-in from the keyframe before is decoded, never shown).
    let media = get_bytes(&server.url(&format!("/w/{watch}/media")), &[]);
    assert_eq!(media.status, 200);
    let (secs, clean) = probe(&media.body);
    assert!(clean, "the watch media decodes");
    assert!(
        (secs - 6.0).abs() <= 0.1,
        "window 2–8 s, the media lasts {secs} s"
    );
    if with_video {
        assert!(
            streams(&media.body).contains(&"h264".to_owned()),
            "the window has the picture"
        );
    }
    let whole = rec["size"].as_u64().unwrap();
    assert!(
        (media.body.len() as u64) < whole * 9 / 10,
        "{} of {whole} bytes",
        media.body.len()
    );
    // Range over the view, and outside it.
    let len = media.body.len();
    let part = get_bytes(
        &server.url(&format!("/w/{watch}/media")),
        &[("range", &format!("bytes=10-{}", len - 1))],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, media.body[10..]);
    let outside = get(
        &server.url(&format!("/w/{watch}/media")),
        &[("range", &format!("bytes={len}-"))],
    );
    assert_eq!(outside.status, 416);
    // The download link: the whole original file, as recorded.
    let file = get_bytes(&server.url(&format!("/d/{download}")), &[]);
    assert_eq!(file.status, 200);
    assert!(
        file.headers
            .get("content-disposition")
            .is_some_and(|d| d.starts_with("attachment")),
        "{:?}",
        file.headers
    );
    assert_eq!(
        Some(sha256_hex(&file.body)),
        rec["sha256"].as_str().map(str::to_owned)
    );
    let (secs, clean) = probe(&file.body);
    assert!(
        // `duration` is the sound's; the picture may run up to about a second past it (the
        // composer's last frames), so the file can read a little longer.
        clean && secs > duration - 0.5 && secs < duration + 1.5,
        "{secs} s vs {duration} s"
    );
    let part = get_bytes(
        &server.url(&format!("/d/{download}")),
        &[("range", "bytes=0-99")],
    );
    assert_eq!((part.status, part.body.len()), (206, 100));
    // The watch token does not download, nor the download token watch.
    assert_eq!(get(&server.url(&format!("/d/{watch}")), &[]).status, 404);
    assert_eq!(
        get(&server.url(&format!("/w/{download}/media")), &[]).status,
        404
    );

    // Taking the validation back kills both links at once.
    let r = api(
        &server,
        &ana,
        "PATCH",
        &path,
        Some(json!({"status": "pending_validation"})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    for url in [
        format!("/w/{watch}"),
        format!("/w/{watch}/media"),
        format!("/d/{download}"),
    ] {
        assert_eq!(get(&server.url(&url), &[]).status, 404, "{url}");
    }
    assert_eq!(
        get(&server.url("/api/v1/public/recordings"), &[]).json()["recordings"],
        json!([])
    );
    // Validated again: new links, the old ones stay dead.
    let again = api(
        &server,
        &ana,
        "PATCH",
        &path,
        Some(json!({"status": "validated"})),
    )
    .json();
    let watch2 = token_of(&again["watch_url"], "/w/");
    assert_ne!(watch2, watch);
    assert_eq!(get(&server.url(&format!("/w/{watch}")), &[]).status, 404);
    assert_eq!(get(&server.url(&format!("/w/{watch2}")), &[]).status, 200);

    // In Chromium, signed out: the watch page's player plays the window.
    match &browsers {
        None => eprintln!("SKIPPED (browser part): no chromium"),
        Some(driver) => {
            let profile = tempfile::tempdir().unwrap();
            let b = driver.browser(profile.path(), &["--lang=fr-FR".into()]);
            // Through the language switch, as a French viewer would.
            b.navigate(&server.url(&format!("/lang/fr?next=/w/{watch2}")));
            let duration = poll(WAIT, || {
                let d = b.exec(
                    "const v = document.getElementById('player');
                     return v && v.readyState >= 1 && isFinite(v.duration) ? v.duration : null;",
                    json!([]),
                );
                d.as_f64()
            })
            .expect("the player reads the media's duration");
            assert!(
                (duration - 6.0).abs() <= 0.1,
                "the player says {duration} s"
            );
            let played = b.exec_async(
                "const done = arguments[arguments.length - 1];
                 const v = document.getElementById('player');
                 v.muted = true;
                 v.addEventListener('timeupdate', () => { if (v.currentTime > 0.5) done(v.currentTime); });
                 v.play().catch(e => done(String(e)));",
            );
            assert!(played.as_f64().is_some_and(|t| t > 0.5), "{played}");
            let text = b.exec("return document.body.innerText;", json!([]));
            assert!(
                text.as_str()
                    .unwrap()
                    .contains("Télécharger le fichier original"),
                "{text}"
            );
            let shots = workspace_root().join("target").join("screenshots");
            std::fs::create_dir_all(&shots).unwrap();
            std::fs::write(shots.join("watch-page-fr.png"), b.screenshot()).unwrap();
        }
    }

    // Another organizer: cannot see, change or download Ana's private recording by id.
    let r = api(
        &server,
        &ana,
        "PATCH",
        &path,
        Some(json!({"visibility": "private"})),
    );
    assert_eq!(r.status, 200);
    let eve = create_token(&data, "Eve");
    for (method, p, body) in [
        ("GET", path.clone(), None),
        ("PATCH", path.clone(), Some(json!({"title": "mine"}))),
        ("GET", format!("{path}/download"), None),
    ] {
        let r = api(&server, &eve, method, &p, body);
        assert_eq!(r.status, 404, "{method} {p}: {r:?}");
    }
    let eve_cookie = session_of(&server, &eve);
    let r = get(
        &server.url(&format!("/recordings/{id}")),
        &[("cookie", &eve_cookie)],
    );
    assert_eq!(r.status, 404);

    // Ana gives it to Bruno (who has signed in once): it leaves her list for his.
    let bruno = token_with_email(&data, "Bruno", "bruno.roux@univ-exemple.fr");
    let bruno_cookie = session_of(&server, &bruno);
    let page = get(
        &server.url(&format!("/recordings/{id}")),
        &[("cookie", &ana_cookie)],
    );
    assert!(
        page.body
            .contains("<option value=\"bruno.roux@univ-exemple.fr\">Bruno</option>"),
        "{}",
        page.body
    );
    let csrf = csrf_of(&page.body);
    let r = form(
        &server,
        &ana_cookie,
        &format!("/recordings/{id}"),
        &format!("csrf={csrf}&title=Lecture+3&visibility=private&validated=1&owner=bruno"),
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/recordings"));
    let mine = get(&server.url("/recordings"), &[("cookie", &ana_cookie)]);
    assert!(
        !mine.body.contains(&format!("/recordings/{id}\"")),
        "{}",
        mine.body
    );
    let his = get(&server.url("/recordings"), &[("cookie", &bruno_cookie)]);
    assert!(
        his.body.contains(&format!("/recordings/{id}\"")),
        "{}",
        his.body
    );
    assert_eq!(api(&server, &ana, "GET", &path, None).status, 404);
    let rec = api(&server, &bruno, "GET", &path, None).json();
    assert_eq!(rec["title"], "Lecture 3");

    // Retention (the academic year by default): deleted after the 31 August that ends the
    // year it was recorded in; the owner is warned 30, 7 and 1 days before, in the outbox.
    let delete_at = rec["delete_at"].as_str().unwrap().to_owned();
    assert!(delete_at.ends_with("-09-01T00:00:00Z"), "{delete_at}");
    let year: i32 = delete_at[..4].parse().unwrap();
    let outbox = data.join("outbox");
    let purge = |at: &str, dry: bool| -> Vec<String> {
        let mut cmd = pont_command(dir.path());
        cmd.args(["recordings", "purge", "--at", at, "--data"])
            .arg(&data);
        if dry {
            cmd.arg("--dry-run");
        }
        let out = run(cmd);
        assert!(out.status.success(), "{out:?}");
        out.stdout.lines().map(str::to_owned).collect()
    };
    let month_before = format!("{year}-08-02T08:00:00Z");
    let lines = purge(&month_before, true);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("would warn recording {id} ")),
        "{lines:?}"
    );
    assert!(!outbox.exists() || std::fs::read_dir(&outbox).unwrap().next().is_none());
    let lines = purge(&month_before, false);
    assert!(
        lines[0].starts_with(&format!("warned recording {id} ")),
        "{lines:?}"
    );
    assert!(
        lines[0].contains("(30 days)") && lines[0].contains("bruno.roux@"),
        "{lines:?}"
    );
    assert!(purge(&month_before, false).is_empty(), "warned once");
    let mails: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(mails.len(), 1, "{mails:?}");
    // Read back by a real MIME parser (Python's email package).
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import sys, email, email.policy\n\
             m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)\n\
             print(m['To']); print(m['Subject']); print(m.get_content())",
        ])
        .arg(&mails[0])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&parsed.stdout);
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    assert!(text.starts_with("bruno.roux@univ-exemple.fr\n"), "{text}");
    assert!(
        text.contains("Lecture 3") && text.contains(&format!("{year}-09-01")),
        "{text}"
    );
    assert!(
        text.contains("sera supprimé le") && text.contains("will be deleted on"),
        "{text}"
    );
    // Due: a dry run deletes nothing; the real one deletes the row and the file.
    let after = format!("{year}-09-01T00:00:01Z");
    let lines = purge(&after, true);
    assert!(
        lines[0].starts_with(&format!("would delete recording {id} ")),
        "{lines:?}"
    );
    assert_eq!(api(&server, &bruno, "GET", &path, None).status, 200);
    let files = || std::fs::read_dir(data.join("recordings")).unwrap().count();
    let before = files();
    let lines = purge(&after, false);
    assert!(
        lines[0].starts_with(&format!("deleted recording {id} ")),
        "{lines:?}"
    );
    assert_eq!(api(&server, &bruno, "GET", &path, None).status, 404);
    assert_eq!(files(), before - 1);
    assert!(server.stderr().lines().all(|l| !l.contains("panicked")));
}

/// `pont token create <name> --email <email>`: the token.
fn token_with_email(data: &Path, name: &str, email: &str) -> String {
    let mut cmd = pont_command(data.parent().unwrap());
    cmd.args(["token", "create", name, "--email", email, "--data"])
        .arg(data);
    let out = run(cmd);
    assert!(out.status.success(), "{out:?}");
    out.stdout.lines().last().unwrap().trim().to_owned()
}
