//! The planning pages in Chromium: "Plan a meeting" with an overlap warning for a busy
//! invitee, "Ignore and save", the meeting in the week and month views, one occurrence of a
//! series deleted from the calendar and gone; both languages; the personal iCalendar feed read
//! back by an independent parser.
//! Over HTTP: a refused form comes back with its message and nothing stored.
//!
//! Skips (and passes) with a message when chromium or chromedriver is not installed.

use pont_tests::webdriver::{Browser, Driver, browser_available, poll};
use pont_tests::{EVENT_WAIT, Server, bearer, create_token, get, send, workspace_root};
use serde_json::{Value, json};

const JSON: (&str, &str) = ("content-type", "application/json");

/// The first-start sign-in link the server prints.
fn sign_in_link(server: &Server) -> String {
    server
        .stdout
        .iter()
        .find_map(|l| l.split_whitespace().find(|w| w.contains("/signin?token=")))
        .expect("first-start link")
        .to_owned()
}

fn wait(b: &Browser, what: &str, script: &str) {
    poll(EVENT_WAIT, || {
        b.exec(script, json!([]))
            .as_bool()
            .unwrap_or(false)
            .then_some(())
    })
    .unwrap_or_else(|| panic!("{what}: at {}", b.current_url()));
}

fn text_of(b: &Browser, selector: &str) -> String {
    b.exec(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
        json!([selector]),
    )
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

/// The organizer's meetings from the API, with the browser's session cookie.
fn api_meetings(server: &Server, cookie: &str) -> Vec<Value> {
    let r = get(&server.url("/api/v1/meetings"), &[("cookie", cookie)]);
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["meetings"].as_array().cloned().unwrap_or_default()
}

#[test]
fn an_organizer_plans_in_the_portal_sees_the_calendar_and_deletes_one_occurrence() {
    let (chromium, driver) = match browser_available() {
        Ok(paths) => paths,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let link = sign_in_link(&server);
    // Someone else's meeting that bob is already in: Monday 14 December 2026, 10:00–11:00 Paris.
    let other = create_token(&dir.path().join("data"), "carol");
    let busy = send(
        "POST",
        &server.url("/api/v1/meetings"),
        &[JSON, ("authorization", &bearer(&other))],
        &json!({"subject": "Budget committee", "start": "2026-12-14T10:00:00+01:00",
                "duration": 60, "invitees": ["bob@example.org"]})
        .to_string(),
    );
    assert_eq!(busy.status, 201, "{busy:?}");

    let shots = workspace_root().join("target").join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let driver = Driver::start(&chromium, &driver);
    let profile = tempfile::tempdir().unwrap();
    let b = driver.browser(
        profile.path(),
        &["--lang=en-US".into(), "--window-size=1280,1000".into()],
    );
    b.navigate(&link);
    wait(
        &b,
        "signed in",
        "return !!document.querySelector('form[action=\"/auth/logout\"]');",
    );

    // The form: a meeting with bob at 10:30 the same day.
    b.navigate(&server.url("/meetings/new"));
    wait(
        &b,
        "the form",
        "return !!document.getElementById('f-subject');",
    );
    assert!(text_of(&b, "form.plan").contains("never cut off"));
    b.exec(
        "const set = (id, v) => { const e = document.getElementById(id); e.value = v;
           e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); };
         set('f-subject', 'Thesis review');
         set('f-date', '2026-12-14');
         set('f-time', '10:30');
         set('f-duration', '90');
         set('f-invitees', 'bob@example.org\\ndana@example.org');",
        json!([]),
    );
    // The end time follows the start and the duration.
    assert_eq!(text_of(&b, "#f-end"), "12:00");
    b.exec("document.getElementById('plan-save').click();", json!([]));
    wait(
        &b,
        "the warnings",
        "return !!document.getElementById('plan-warnings');",
    );
    let warning = text_of(&b, "#plan-warnings");
    assert!(
        warning.contains("bob@example.org")
            && warning.contains("Budget committee")
            && warning.contains("carol")
            && warning.contains("10:00")
            && warning.contains("11:00"),
        "{warning}"
    );
    assert!(!warning.contains("dana@example.org"), "{warning}");
    // Nothing is saved until the warning is answered; the values are kept.
    assert_eq!(
        b.exec(
            "return document.getElementById('f-subject').value;",
            json!([])
        ),
        "Thesis review"
    );
    std::fs::write(shots.join("plan-warnings-en.png"), b.screenshot()).unwrap();
    b.exec(
        "document.getElementById('ignore-and-save').click();",
        json!([]),
    );
    wait(
        &b,
        "the meeting's page",
        "return location.pathname.startsWith('/meetings/') && !!document.getElementById('notice');",
    );
    assert!(text_of(&b, "h1").contains("Thesis review"));
    std::fs::write(shots.join("meeting-en.png"), b.screenshot()).unwrap();
    assert!(
        text_of(&b, ".lead").contains("10:30–12:00"),
        "{}",
        text_of(&b, ".lead")
    );

    // The week and month views show it on the 14th.
    b.navigate(&server.url("/calendar?view=week&date=2026-12-16"));
    wait(
        &b,
        "the week",
        "return !!document.getElementById('cal-week');",
    );
    let day = "[data-date=\"2026-12-14\"]";
    assert!(
        text_of(&b, day).contains("Thesis review") && text_of(&b, day).contains("10:30–12:00"),
        "{}",
        text_of(&b, "#cal-week")
    );
    assert_eq!(text_of(&b, "#cal-title"), "14 December – 20 December 2026");
    b.exec("document.getElementById('cal-next').click();", json!([]));
    wait(
        &b,
        "the next week",
        "return location.search.includes('2026-12-21');",
    );
    assert!(!text_of(&b, "#cal-week").contains("Thesis review"));
    b.navigate(&server.url("/calendar?view=month&date=2026-12-01"));
    wait(
        &b,
        "the month",
        "return !!document.getElementById('cal-month');",
    );
    assert!(text_of(&b, day).contains("Thesis review"));
    assert_eq!(text_of(&b, "#cal-title"), "December 2026");

    // A weekly series on Monday and Thursday, from the form; then delete Thursday the 17th.
    b.navigate(&server.url("/meetings/new"));
    wait(
        &b,
        "the form",
        "return !!document.getElementById('f-subject');",
    );
    b.exec(
        "document.getElementById('f-subject').value = 'Lab meeting';
         document.getElementById('f-date').value = '2026-12-07';
         document.getElementById('f-time').value = '14:00';
         document.querySelector('input[name=repeat][value=weekly]').checked = true;
         document.querySelector('input[name=wd_mon]').checked = true;
         document.querySelector('input[name=wd_thu]').checked = true;
         document.getElementById('f-until').value = '2026-12-31';
         document.getElementById('plan-save').click();",
        json!([]),
    );
    wait(
        &b,
        "the series' page",
        "return !!document.getElementById('notice') && document.querySelector('h1').textContent.includes('Lab meeting');",
    );
    let series = b
        .exec("return location.pathname.split('/')[2];", json!([]))
        .as_str()
        .unwrap()
        .to_owned();
    b.navigate(&server.url("/calendar?view=week&date=2026-12-14"));
    wait(
        &b,
        "the week",
        "return !!document.getElementById('cal-week');",
    );
    let thursday = "[data-date=\"2026-12-17\"]";
    assert!(text_of(&b, thursday).contains("Lab meeting"));
    std::fs::write(shots.join("calendar-week-en.png"), b.screenshot()).unwrap();
    b.exec(
        "document.querySelector('[data-date=\"2026-12-17\"] a.entry').click();",
        json!([]),
    );
    wait(
        &b,
        "the occurrence",
        "return !!document.getElementById('occ-delete');",
    );
    std::fs::write(shots.join("occurrence-en.png"), b.screenshot()).unwrap();
    b.exec("document.getElementById('occ-delete').click();", json!([]));
    wait(
        &b,
        "back in the calendar",
        "return location.pathname === '/calendar' && !!document.getElementById('notice');",
    );
    assert!(!text_of(&b, thursday).contains("Lab meeting"));
    assert!(text_of(&b, "[data-date=\"2026-12-14\"]").contains("Lab meeting"));

    // The API agrees: the 17th (13:00Z) is cancelled, the other three stand.
    let occurrences = b.exec_async(&format!(
        "const done = arguments[arguments.length - 1];
         fetch('/api/v1/meetings/{series}/occurrences?from=2026-12-01T00:00:00Z&to=2027-01-01T00:00:00Z')
           .then(r => r.json()).then(done, e => done(String(e)));"
    ));
    let list = occurrences["occurrences"]
        .as_array()
        .expect("occurrences")
        .clone();
    let starts: Vec<(&str, bool)> = list
        .iter()
        .map(|o| {
            (
                o["start"].as_str().unwrap(),
                o["cancelled"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        starts,
        [
            ("2026-12-07T13:00:00Z", false),
            ("2026-12-10T13:00:00Z", false),
            ("2026-12-14T13:00:00Z", false),
            ("2026-12-17T13:00:00Z", true),
            ("2026-12-21T13:00:00Z", false),
            ("2026-12-24T13:00:00Z", false),
            ("2026-12-28T13:00:00Z", false),
            ("2026-12-31T13:00:00Z", false),
        ],
        "{occurrences}"
    );

    // The personal feed: an independent parser (Python's icalendar + recurring-ical-events)
    // expands the same Lab meetings, without the 17th.
    let feed_url = text_of(&b, "#feed-url");
    assert!(
        feed_url.contains("/calendar/feed/") && feed_url.ends_with(".ics"),
        "{feed_url}"
    );
    let feed = get(&feed_url, &[]);
    assert_eq!(feed.status, 200, "{feed:?}");
    assert!(
        feed.header("content-type")
            .is_some_and(|c| c.starts_with("text/calendar")),
        "{feed:?}"
    );
    assert!(feed.body.contains("METHOD:PUBLISH"), "{}", feed.body);
    let expanded = expand_ics(&feed.body, "Lab meeting", "2026-12-01", "2027-01-01");
    assert_eq!(
        expanded,
        [
            "2026-12-07T13:00:00Z",
            "2026-12-10T13:00:00Z",
            "2026-12-14T13:00:00Z",
            "2026-12-21T13:00:00Z",
            "2026-12-24T13:00:00Z",
            "2026-12-28T13:00:00Z",
            "2026-12-31T13:00:00Z",
        ]
    );
    let wrong = get(&feed_url.replace("/feed/", "/feed/x"), &[]);
    assert_eq!(wrong.status, 404);

    // In French: the month, and the form's words.
    b.exec(
        "document.querySelector('a[hreflang=fr]').click();",
        json!([]),
    );
    wait(
        &b,
        "French",
        "return document.documentElement.lang === 'fr';",
    );
    b.navigate(&server.url("/calendar?view=month&date=2026-12-01"));
    wait(
        &b,
        "the month",
        "return !!document.getElementById('cal-month');",
    );
    assert_eq!(text_of(&b, "#cal-title"), "décembre 2026");
    assert!(text_of(&b, "#view-week").contains("Semaine"));
    std::fs::write(shots.join("calendar-month-fr.png"), b.screenshot()).unwrap();
    b.navigate(&server.url("/calendar?view=week&date=2026-12-14"));
    wait(
        &b,
        "the week",
        "return !!document.getElementById('cal-week');",
    );
    assert!(text_of(&b, "#cal-title").contains("décembre"));
    std::fs::write(shots.join("calendar-week-fr.png"), b.screenshot()).unwrap();
    b.exec(
        "[...document.querySelectorAll('[data-date=\"2026-12-14\"] a.entry')]
           .find(a => a.textContent.includes('Lab meeting')).click();",
        json!([]),
    );
    wait(
        &b,
        "the occurrence",
        "return !!document.getElementById('occ-delete-series');",
    );
    assert!(text_of(&b, "#occ-delete-series").contains("Supprimer la série"));
    std::fs::write(shots.join("occurrence-fr.png"), b.screenshot()).unwrap();
    b.navigate(&server.url(&format!("/meetings/{series}")));
    wait(
        &b,
        "the series' page",
        "return document.documentElement.lang === 'fr' && !!document.getElementById('next-h');",
    );
    std::fs::write(shots.join("meeting-fr.png"), b.screenshot()).unwrap();
    b.navigate(&server.url("/meetings/new"));
    wait(
        &b,
        "the form",
        "return !!document.getElementById('f-subject');",
    );
    assert!(text_of(&b, "form.plan").contains("Gamme de répétition"));
    std::fs::write(shots.join("plan-form-fr.png"), b.screenshot()).unwrap();
}

#[test]
fn a_refused_form_comes_back_with_its_message_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let link = sign_in_link(&server);
    let r = get(&link, &[]);
    assert_eq!(r.status, 303, "{r:?}");
    let cookie = r
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_owned();
    let form = get(&server.url("/meetings/new"), &[("cookie", &cookie)]);
    assert_eq!(form.status, 200);
    let csrf = form
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf")
        .to_owned();
    let post = |fields: &str, lang: &str| {
        send(
            "POST",
            &server.url("/meetings/new"),
            &[
                ("cookie", &format!("{cookie}; pont_lang={lang}")),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            &format!("csrf={csrf}&{fields}"),
        )
    };
    let base = "subject=Review&date=2026-12-14&time=10%3A00&duration=60&timezone=Europe%2FParis";
    for (fields, lang, message) in [
        // The spring-forward hour does not exist in Paris.
        (
            "subject=R&date=2027-03-28&time=02%3A30&duration=60&timezone=Europe%2FParis",
            "en",
            "does not exist",
        ),
        // The autumn hour happens twice.
        (
            "subject=R&date=2026-10-25&time=02%3A30&duration=60&timezone=Europe%2FParis",
            "fr",
            "a lieu deux fois",
        ),
        (
            "subject=R&date=2026-12-14&time=10%3A00&duration=60&timezone=Mars%2FOlympus",
            "en",
            "not a time zone",
        ),
        (
            &format!("{base}&repeat=daily&until=2026-12-01"),
            "en",
            "before the first meeting",
        ),
        (
            &format!("{base}&repeat=daily&until=2060-01-01"),
            "en",
            "at most 1000",
        ),
        (
            &format!("{base}&invitees=bob%40example.org%0D%0ABcc%3A+eve%40evil.example"),
            "en",
            "is not an e-mail address",
        ),
        (
            "subject=Hi%0D%0ABcc%3A+eve%40evil.example&date=2026-12-14&time=10%3A00&duration=60&timezone=UTC",
            "en",
            "on one line",
        ),
    ] {
        let r = post(fields, lang);
        assert_eq!(r.status, 422, "{fields}: {}", r.body);
        assert!(r.body.contains(message), "{fields}: {}", r.body);
        assert!(r.body.contains("aria-invalid=\"true\""), "{fields}");
    }
    // Without the form token: refused, nothing stored.
    let r = send(
        "POST",
        &server.url("/meetings/new"),
        &[
            ("cookie", &cookie),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        base,
    );
    assert_eq!(r.status, 403);
    let listed = api_meetings(&server, &cookie);
    assert!(listed.is_empty(), "{listed:?}");
    let outbox = dir.path().join("data").join("outbox");
    assert!(
        std::fs::read_dir(&outbox).map_or(true, |d| d.count() == 0),
        "mail written for a refused form"
    );
    // The one that is right is saved and its page opens.
    let r = post(&format!("{base}&invitees=bob%40example.org"), "en");
    assert_eq!(r.status, 303, "{}", r.body);
    let at = r.header("location").unwrap().to_owned();
    assert!(
        at.starts_with("/meetings/") && at.ends_with("?done=planned"),
        "{at}"
    );
    let page = get(&server.url(&at), &[("cookie", &cookie)]);
    assert!(page.body.contains("Review") && page.body.contains("Europe/Paris"));
    assert!(
        page.body.contains("Mail is not configured"),
        "{}",
        page.body
    );
}

/// The UTC starts of the occurrences of `summary` between two dates, as Python's
/// `icalendar` + `recurring-ical-events` expand `ics` (installed by tools/test-deps).
fn expand_ics(ics: &str, summary: &str, from: &str, to: &str) -> Vec<String> {
    let script = r#"
import sys, datetime, icalendar, recurring_ical_events
cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
a, b = (datetime.date.fromisoformat(d) for d in sys.argv[2:4])
for e in recurring_ical_events.of(cal).between(a, b):
    if str(e.get("SUMMARY")) == sys.argv[1] and str(e.get("STATUS", "")) != "CANCELLED":
        print(e["DTSTART"].dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, summary, from, to])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (tools/test-deps installs icalendar and recurring-ical-events)");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the iCalendar parser refused the feed: {}\n{ics}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut starts: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    starts.sort();
    starts
}
