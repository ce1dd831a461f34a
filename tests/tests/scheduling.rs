//! Scheduling end to end: a series planned, changed and cancelled through the API, the
//! invitations received by a real SMTP server (Python's `aiosmtpd`, `tests/mail/smtp_sink.py`)
//! and read back by independent parsers (`email`, `icalendar`, `recurring-ical-events`, in
//! `tests/mail/read_invites.py`), the mail queue surviving a restart, refusals that store and
//! mail nothing, and the outbox when no SMTP server is configured.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pont_tests::{
    EVENT_WAIT, Reply, ServeOptions, Server, bearer, create_token, get, send, workspace_root,
};
use serde_json::{Value, json};

const JSON: (&str, &str) = ("content-type", "application/json");
/// The range every listing and expansion of these tests looks at: the whole series and more.
const FROM: &str = "2026-10-01T00:00:00Z";
const TO: &str = "2026-12-01T00:00:00Z";

/// Whether `python3` and the checkers' modules are installed; says why the test is skipped
/// otherwise (`bash tools/test-deps` installs them).
fn python_checkers() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd, icalendar, recurring_ical_events"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "SKIPPED: python3 with aiosmtpd, icalendar and recurring-ical-events is not \
             installed (bash tools/test-deps installs them)"
        );
    }
    ok
}

/// `tests/mail/smtp_sink.py` on 127.0.0.1, writing one `.eml` per message into `dir`. Killed
/// on drop.
struct SmtpSink {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl SmtpSink {
    /// On `port` (0: a free one).
    fn start(dir: &Path, port: u16) -> Self {
        let script = workspace_root().join("tests/mail/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tests/mail/smtp_sink.py");
        let stdout = child.stdout.take().expect("piped stdout");
        // The line comes once the socket is listening (or never, if the script fails: then
        // the pipe closes and the read returns).
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let Some(port) = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("smtp_sink.py did not start: {line:?}");
        };
        Self {
            child,
            port,
            dir: dir.to_owned(),
        }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The complete `.eml` files in `dir`, in name order (the sink numbers them as received; the
/// outbox by queue id). Temporary files start with a dot.
fn mails(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "eml")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Polls until `dir` holds at least `n` mails (a guard of [`EVENT_WAIT`] against a hung
/// test); returns them all.
fn wait_for_mails(dir: &Path, n: usize) -> Vec<PathBuf> {
    wait_for(&format!("{n} mails in {}", dir.display()), || {
        let found = mails(dir);
        (found.len() >= n).then_some(found)
    })
}

/// Polls `probe` until it gives something, up to [`EVENT_WAIT`].
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + EVENT_WAIT;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "waited {EVENT_WAIT:?} for {what}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Polls the server's log until `text` appears `n` times.
fn wait_for_log(server: &Server, text: &str, n: usize) {
    wait_for(&format!("{n}× {text:?} in the server's log"), || {
        (server.stderr().matches(text).count() >= n).then_some(())
    });
}

/// `tests/mail/read_invites.py FROM TO files…`: the mails as independent parsers read them.
fn read_invites(files: &[PathBuf]) -> Value {
    let out = Command::new("python3")
        .arg(workspace_root().join("tests/mail/read_invites.py"))
        .args([FROM, TO])
        .args(files)
        .stdin(Stdio::null())
        .output()
        .expect("run tests/mail/read_invites.py");
    assert!(
        out.status.success(),
        "read_invites.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("read_invites.py prints JSON")
}

/// The envelope recipients the sink saw for `eml` (its `.envelope.json` beside it).
fn envelope_to(eml: &Path) -> Vec<String> {
    let meta = eml.with_extension("envelope.json");
    let text = std::fs::read_to_string(&meta).expect("the sink writes the envelope");
    let meta: Value = serde_json::from_str(&text).expect("envelope JSON");
    meta["rcpt_tos"]
        .as_array()
        .expect("rcpt_tos")
        .iter()
        .map(|r| r.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A test folder with `config/pont.toml` holding `toml`, and an organizer token.
fn setup(dir: &Path, toml: &str) -> String {
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(dir.join("config/pont.toml"), toml).unwrap();
    create_token(&dir.join("data"), "orga")
}

fn mail_config(smtp_url: &str) -> String {
    format!(
        "[mail]\nsmtp_url = \"{smtp_url}\"\nfrom = \"Pont <pont@example.org>\"\n\n\
         [meetings]\ntimezone = \"Europe/Paris\"\n"
    )
}

fn start(dir: &Path) -> Server {
    Server::start_with(ServeOptions::new(dir)).unwrap_or_else(|e| panic!("pont serve: {e:#?}"))
}

fn api(server: &Server, token: &str, method: &str, path: &str, body: &Value) -> Reply {
    let auth = bearer(token);
    let url = server.url(path);
    match method {
        "GET" => get(&url, &[("authorization", &auth)]),
        "DELETE" => {
            // `pont_tests::delete` sends no headers: the token goes in a request of our own.
            let agent = pont_tests::client();
            let mut response = agent
                .delete(&url)
                .header("authorization", &auth)
                .call()
                .expect("HTTP request");
            Reply {
                status: response.status().as_u16(),
                headers: Default::default(),
                body: response.body_mut().read_to_string().unwrap_or_default(),
            }
        }
        _ => send(
            method,
            &url,
            &[JSON, ("authorization", &auth)],
            &body.to_string(),
        ),
    }
}

/// `(start, end)` of the occurrences in `list` that are not cancelled.
fn kept(list: &Value, meeting: Option<i64>) -> Vec<(String, String)> {
    list.as_array()
        .expect("a list of occurrences")
        .iter()
        .filter(|o| meeting.is_none_or(|id| o["meeting_id"] == id))
        .filter(|o| o["cancelled"] != true)
        .map(|o| {
            (
                o["start"].as_str().expect("start").to_owned(),
                o["end"].as_str().expect("end").to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &Value) -> Vec<(String, String)> {
    kept(list, None)
}

fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(s, e)| ((*s).to_owned(), (*e).to_owned()))
        .collect()
}

/// Mondays and Thursdays at 10:00 Paris from Thursday 15 October to Monday 16 November 2026:
/// 10:00 is 08:00Z in summer time, 09:00Z once the clocks go back on Sunday 25 October.
const SERIES: [(&str, &str); 10] = [
    ("2026-10-15T08:00:00Z", "2026-10-15T09:00:00Z"),
    ("2026-10-19T08:00:00Z", "2026-10-19T09:00:00Z"),
    ("2026-10-22T08:00:00Z", "2026-10-22T09:00:00Z"),
    ("2026-10-26T09:00:00Z", "2026-10-26T10:00:00Z"),
    ("2026-10-29T09:00:00Z", "2026-10-29T10:00:00Z"),
    ("2026-11-02T09:00:00Z", "2026-11-02T10:00:00Z"),
    ("2026-11-05T09:00:00Z", "2026-11-05T10:00:00Z"),
    ("2026-11-09T09:00:00Z", "2026-11-09T10:00:00Z"),
    ("2026-11-12T09:00:00Z", "2026-11-12T10:00:00Z"),
    ("2026-11-16T09:00:00Z", "2026-11-16T10:00:00Z"),
];

#[test]
fn a_weekly_series_across_the_clock_change_reaches_calendars_as_the_api_shows_it() {
    if !python_checkers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(&dir.path().join("sink"), 0);
    let token = setup(dir.path(), &mail_config(&sink.url()));
    let server = start(dir.path());
    let invitees = ["ada@example.org", "bob@example.org"];

    let created = api(
        &server,
        &token,
        "POST",
        "/api/v1/meetings",
        &json!({
            "subject": "Séminaire d'équipe",
            "start": "2026-10-15T10:00:00+02:00",
            "duration": 60,
            "timezone": "Europe/Paris",
            "invitees": invitees,
            "recurrence": {"freq": "weekly", "weekdays": ["mon", "thu"], "until": "2026-11-16"},
        }),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let meeting = created.json();
    let id = meeting["id"].as_i64().expect("id");
    let room = meeting["room_number"].as_u64().expect("room_number");
    let web_link = meeting["web_link"].as_str().expect("web_link").to_owned();
    let sip_uri = meeting["dial_in"]["sip_uri"]
        .as_str()
        .expect("sip_uri")
        .to_owned();
    let invited = wait_for_mails(&sink.dir, 2);

    // The series' own view, before any change: ten occurrences, 10:00 Paris each.
    let occurrences = format!("/api/v1/meetings/{id}/occurrences?from={FROM}&to={TO}");
    let listed = api(&server, &token, "GET", &occurrences, &Value::Null);
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(pairs(&listed.json()["occurrences"]), owned(&SERIES));

    // Thursday 29 October moves to Friday 30 at 14:00 Paris (13:00Z) for 30 minutes.
    let moved = api(
        &server,
        &token,
        "PATCH",
        &format!("/api/v1/meetings/{id}/occurrences/2026-10-29T09:00:00Z"),
        &json!({"start": "2026-10-30T14:00:00+01:00", "duration": 30}),
    );
    assert_eq!(moved.status, 200, "{moved:?}");
    let updated = wait_for_mails(&sink.dir, 4);
    // Thursday 5 November is cancelled.
    let cancelled = api(
        &server,
        &token,
        "DELETE",
        &format!("/api/v1/meetings/{id}/occurrences/2026-11-05T09:00:00Z"),
        &Value::Null,
    );
    assert_eq!(cancelled.status, 204, "{cancelled:?}");
    let all = wait_for_mails(&sink.dir, 6);
    assert_eq!(&all[..2], &invited[..]);
    assert_eq!(&all[..4], &updated[..]);

    let mut expected = owned(&SERIES);
    expected[4] = (
        "2026-10-30T13:00:00Z".to_owned(),
        "2026-10-30T13:30:00Z".to_owned(),
    );
    expected.remove(6);

    // What the API shows now: the occurrences (the cancelled one flagged) and the calendar.
    let listed = api(&server, &token, "GET", &occurrences, &Value::Null).json();
    assert_eq!(pairs(&listed["occurrences"]), expected);
    let flagged: Vec<&Value> = listed["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["cancelled"] == true)
        .collect();
    assert_eq!(flagged.len(), 1, "{listed}");
    assert_eq!(flagged[0]["original_start"], "2026-11-05T09:00:00Z");
    let calendar = api(
        &server,
        &token,
        "GET",
        &format!("/api/v1/calendar?from={FROM}&to={TO}"),
        &Value::Null,
    );
    assert_eq!(calendar.status, 200, "{calendar:?}");
    assert_eq!(kept(&calendar.json()["occurrences"], Some(id)), expected);

    for invitee in invitees {
        // Each invitee's mails, in the order they were received.
        let theirs: Vec<PathBuf> = all
            .iter()
            .filter(|f| envelope_to(f) == [invitee])
            .cloned()
            .collect();
        assert_eq!(theirs.len(), 3, "{invitee}: {all:?}");
        let read = read_invites(&theirs);
        let mails = read["mails"].as_array().unwrap();
        let methods: Vec<&str> = mails
            .iter()
            .map(|m| m["calendar"]["method"].as_str().unwrap_or("none"))
            .collect();
        assert_eq!(methods, ["REQUEST", "REQUEST", "CANCEL"], "{invitee}");

        let mut uids = Vec::new();
        let mut sequences = Vec::new();
        for mail in mails {
            let cal = &mail["calendar"];
            assert_eq!(mail["to"], invitee, "{mail}");
            assert!(
                mail["subject"]
                    .as_str()
                    .is_some_and(|s| s.contains("Séminaire d'équipe")),
                "{mail}"
            );
            for kind in ["text/plain", "text/html", "text/calendar"] {
                assert!(
                    mail["content_types"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|c| c == kind),
                    "{invitee}: no {kind} part: {mail}"
                );
            }
            assert_eq!(cal["part_method"], cal["method"], "{mail}");
            assert_eq!(cal["crlf"], true, "iCalendar lines end in CRLF: {mail}");
            uids.push(cal["uids"].clone());
            sequences.push(
                cal["sequences"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_i64)
                    .max()
                    .unwrap(),
            );
        }
        // One event, one UID, every revision later than the one before (RFC 5546 §2.1.4).
        assert_eq!(uids[0].as_array().map(Vec::len), Some(1), "{uids:?}");
        assert!(uids.iter().all(|u| *u == uids[0]), "{uids:?}");
        assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");

        // How to join, in the invitation and the update: text, HTML and the calendar.
        for mail in &mails[..2] {
            let text = mail["text"].as_str().unwrap();
            let html = mail["html"].as_str().unwrap();
            for needed in [web_link.as_str(), sip_uri.as_str(), &room.to_string()] {
                assert!(text.contains(needed), "{needed} not in the text: {text}");
            }
            assert!(html.contains(&format!("href=\"{web_link}\"")), "{html}");
            let conference = mail["calendar"]["conference"].as_array().unwrap();
            for uri in [&web_link, &sip_uri] {
                assert!(
                    conference.iter().any(|c| c == uri.as_str()),
                    "{conference:?}"
                );
            }
        }

        // The invitation, as a calendar expands it: the ten 10:00 Paris occurrences.
        let first: Vec<(String, String)> = pairs(&mails[0]["calendar"]["occurrences"]);
        assert_eq!(first, owned(&SERIES), "{invitee}");
        // The update carries the moved occurrence.
        let second = pairs(&mails[1]["calendar"]["occurrences"]);
        assert!(second.contains(&expected[4]), "{second:?}");
        let events = mails[2]["calendar"]["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["recurrence_id"], "2026-11-05T09:00:00Z");
        // All three applied, as a calendar client does: what the API shows.
        assert_eq!(
            pairs(&read["applied"]["occurrences"]),
            expected,
            "{invitee}"
        );
    }
}

#[test]
fn an_invitation_queued_while_the_smtp_server_is_down_is_sent_once_after_a_restart() {
    if !python_checkers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on (yet): bound, read, released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let token = setup(
        dir.path(),
        &mail_config(&format!("smtp://127.0.0.1:{port}")),
    );
    let server = start(dir.path());
    let plan = |subject: &str, invitee: &str| {
        json!({
            "subject": subject,
            "start": "2026-11-20T14:00:00+01:00",
            "invitees": [invitee],
        })
    };
    let created = api(
        &server,
        &token,
        "POST",
        "/api/v1/meetings",
        &plan("Jury", "ada@example.org"),
    );
    assert_eq!(created.status, 201, "{created:?}");
    // The first attempt failed (connection refused): the mail waits in the queue.
    wait_for_log(&server, "mail not sent; will retry", 1);
    assert!(server.stop("TERM").success());

    let sink = SmtpSink::start(&dir.path().join("sink"), port);
    let server = start(dir.path());
    let received = wait_for_mails(&sink.dir, 1);
    // Marked sent only after the sink's 250, which comes after its file is written.
    wait_for_log(&server, "mail sent", 1);
    // Tried at start, not after the backoff of the failed attempt.
    assert!(
        server.stderr().contains("mail queue resumed"),
        "{}",
        server.stderr()
    );
    assert_eq!(mails(&sink.dir), received, "sent exactly once");
    let read = read_invites(&received);
    let mail = &read["mails"][0];
    assert_eq!(mail["to"], "ada@example.org");
    assert_eq!(mail["calendar"]["method"], "REQUEST");
    assert_eq!(
        pairs(&mail["calendar"]["occurrences"]),
        owned(&[("2026-11-20T13:00:00Z", "2026-11-20T14:00:00Z")])
    );
    assert!(server.stop("TERM").success());

    // Once more: the sent mail stays sent. The next mail is the only new one.
    let server = start(dir.path());
    let again = api(
        &server,
        &token,
        "POST",
        "/api/v1/meetings",
        &plan("Jury 2", "bob@example.org"),
    );
    assert_eq!(again.status, 201, "{again:?}");
    let received = wait_for_mails(&sink.dir, 2);
    wait_for_log(&server, "mail sent", 1);
    assert_eq!(mails(&sink.dir), received);
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(envelope_to(&received[1]), ["bob@example.org"]);
}

#[test]
fn refused_plans_store_nothing_and_mail_no_one() {
    if !python_checkers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(&dir.path().join("sink"), 0);
    let token = setup(dir.path(), &mail_config(&sink.url()));
    let server = start(dir.path());
    let valid = json!({
        "subject": "Conseil",
        "start": "2026-10-15T10:00:00+02:00",
        "timezone": "Europe/Paris",
        "invitees": ["ada@example.org"],
    });
    let with = |changes: Value| {
        let mut body = valid.clone();
        for (k, v) in changes.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (
            "until before start",
            with(json!({"recurrence": {"freq": "weekly", "until": "2026-10-01"}})),
            "invalid_range",
        ),
        (
            "unknown time zone",
            with(json!({"timezone": "Europe/Atlantis"})),
            "invalid_timezone",
        ),
        (
            // 2027-03-28 in Paris: 02:00 CET jumps to 03:00 CEST.
            "nonexistent local time",
            with(json!({"start": "2027-03-28T02:30:00+01:00"})),
            "nonexistent_time",
        ),
        (
            // 2026-10-25 in Paris: 03:00 CEST goes back to 02:00 CET.
            "ambiguous local time",
            with(json!({"start": "2026-10-25T02:30:00+02:00"})),
            "ambiguous_time",
        ),
        (
            // 2026-10-15 + 9,999 days: 10,000 daily occurrences.
            "10,000 occurrences",
            with(json!({"recurrence": {"freq": "daily", "until": "2054-03-01"}})),
            "too_many_occurrences",
        ),
        (
            "header injection in the subject",
            with(json!({"subject": "Conseil\r\nBcc: eve@example.org"})),
            "invalid_subject",
        ),
        (
            "header injection in an invitee",
            with(json!({"invitees": ["ada@example.org\r\nBcc: eve@example.org"]})),
            "invalid_invitees",
        ),
    ];
    let mut codes = Vec::new();
    for (what, body, code) in cases {
        let reply = api(&server, &token, "POST", "/api/v1/meetings", &body);
        assert_eq!(reply.status, 422, "{what}: {reply:?}");
        assert_eq!(reply.error_code(), code, "{what}");
        codes.push(code);
    }
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), 7, "each refusal has its own code");

    let range = "/api/v1/meetings?from=2026-09-01T00:00:00Z&to=2027-09-01T00:00:00Z";
    let listed = api(&server, &token, "GET", range, &Value::Null);
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.json()["meetings"], json!([]), "nothing stored");

    // A plan that is accepted, then: its invitation is the one mail the sink ever gets (had
    // a refused plan queued one, it would have gone first).
    let accepted = api(&server, &token, "POST", "/api/v1/meetings", &valid);
    assert_eq!(accepted.status, 201, "{accepted:?}");
    let received = wait_for_mails(&sink.dir, 1);
    wait_for_log(&server, "mail sent", 1);
    assert_eq!(mails(&sink.dir), received);
    let read = read_invites(&received);
    assert_eq!(
        read["mails"][0]["subject"]
            .as_str()
            .map(|s| s.contains("Conseil")),
        Some(true)
    );
    let listed = api(&server, &token, "GET", range, &Value::Null).json();
    assert_eq!(
        listed["meetings"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
}

#[test]
fn without_smtp_the_invitation_is_written_to_the_outbox() {
    if !python_checkers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let token = setup(
        dir.path(),
        "[meetings]\ntimezone = \"Europe/Paris\"\n\n[dialin]\nnumbers = [\"+33123456789\"]\n",
    );
    let server = start(dir.path());
    let created = api(
        &server,
        &token,
        "POST",
        "/api/v1/meetings",
        &json!({
            "subject": "Soutenance",
            "start": "2026-11-02T10:00:00+01:00",
            "invitees": ["ada@example.org"],
        }),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let web_link = created.json()["web_link"].as_str().unwrap().to_owned();
    let outbox = dir.path().join("data/outbox");
    let written = wait_for_mails(&outbox, 1);
    wait_for_log(&server, "mail sent", 1);
    assert_eq!(mails(&outbox), written);
    let read = read_invites(&written);
    let mail = &read["mails"][0];
    assert_eq!(mail["to"], "ada@example.org");
    assert_eq!(mail["calendar"]["method"], "REQUEST");
    assert!(
        mail["text"].as_str().is_some_and(|t| t.contains(&web_link)),
        "{mail}"
    );
    assert_eq!(
        pairs(&mail["calendar"]["occurrences"]),
        owned(&[("2026-11-02T09:00:00Z", "2026-11-02T10:00:00Z")])
    );
    // The phone dial-in is in the invitation by default ...
    assert!(
        mail["text"]
            .as_str()
            .is_some_and(|t| t.contains("+33123456789")),
        "{mail}"
    );
    assert!(
        mail["calendar"]["conference"]
            .to_string()
            .contains("tel:+33123456789"),
        "{mail}"
    );
    // ... and left out when the organizer unticks it.
    let quiet = api(
        &server,
        &token,
        "POST",
        "/api/v1/meetings",
        &json!({
            "subject": "Jury", "start": "2026-11-03T10:00:00+01:00",
            "invitees": ["grace@example.org"], "phone_dial_in": false,
        }),
    );
    assert_eq!(quiet.status, 201, "{quiet:?}");
    assert_eq!(quiet.json()["phone_dial_in"], false);
    let both = wait_for_mails(&outbox, 2);
    let read = read_invites(&both[1..]);
    let mail = &read["mails"][0];
    assert_eq!(mail["to"], "grace@example.org");
    assert!(
        mail["text"]
            .as_str()
            .is_some_and(|t| !t.contains("+33123456789")),
        "{mail}"
    );
    assert!(
        !mail["calendar"]["conference"].to_string().contains("tel:"),
        "{mail}"
    );
}
