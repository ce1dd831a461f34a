//! The security headers on every response (a portal page, the meeting page, API answers and
//! errors, assets, health and metrics): `Content-Security-Policy` (no inline script,
//! `frame-ancestors 'none'`), `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
//! `Referrer-Policy`; no HSTS over plain HTTP. No served page carries an inline script.
//! User text (a meeting subject made of markup) is escaped on every page that shows it.
//!
//! In Chromium, under that policy: the portal's pages (the planning form's end time, the
//! calendar's placed entries) and the meeting page work with no CSP violation in the console,
//! and an injected inline script is refused (the policy is really enforced).
//!
//! The Chromium part skips (and says so) when chromium or chromedriver is not installed.

use pont_tests::webdriver::{Browser, Driver, browser_available, poll};
use pont_tests::{EVENT_WAIT, Reply, Server, bearer, create_token, get, instant_room, send};
use serde_json::json;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    style-src-attr 'unsafe-inline'; img-src 'self' data:; media-src 'self' blob:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// A subject that would run script if any page rendered it raw.
const MARKUP: &str = "<img src=x onerror=\"window.__pwned=1\">Plan <b>B</b>";

fn assert_headers(what: &str, r: &Reply) {
    assert_eq!(
        r.header("content-security-policy"),
        Some(CSP),
        "{what}: {r:?}"
    );
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(r.header("referrer-policy"), Some("same-origin"), "{what}");
    assert_eq!(
        r.header("strict-transport-security"),
        None,
        "{what}: no HSTS over plain HTTP"
    );
}

/// Every `<script` tag of an HTML page loads a file.
fn assert_no_inline_script(what: &str, html: &str) {
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..i + html[i..].find('>').unwrap_or(0)];
        assert!(tag.contains(" src="), "{what}: an inline script: {tag}");
    }
    assert!(!html.contains(" onclick="), "{what}: an inline handler");
}

/// A scheduled meeting on 2026-12-15 at 10:00 Paris time with `MARKUP` as its subject.
fn plan_meeting(server: &Server, token: &str) -> i64 {
    let r = send(
        "POST",
        &server.url("/api/v1/meetings"),
        &[
            ("authorization", &bearer(token)),
            ("content-type", "application/json"),
        ],
        &json!({"subject": MARKUP, "start": "2026-12-15T10:00:00+01:00", "duration": 90})
            .to_string(),
    );
    assert_eq!(r.status, 201, "{r:?}");
    r.json()["id"].as_i64().unwrap()
}

fn session_cookie(server: &Server, token: &str) -> String {
    let r = get(&server.url(&format!("/signin?token={token}")), &[]);
    assert_eq!(r.status, 303, "{r:?}");
    r.header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn every_response_carries_the_security_headers_and_pages_escape_user_text() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "alice");
    let server = Server::start(dir.path());
    let room = instant_room(&server, &token);
    let meeting = plan_meeting(&server, &token);
    let auth = bearer(&token);
    let cookie = session_cookie(&server, &token);

    let pages = [
        "/".to_owned(),
        "/signin".to_owned(),
        "/meetings".to_owned(),
        "/meetings/new".to_owned(),
        format!("/meetings/{meeting}"),
        format!("/meetings/{meeting}/edit"),
        "/calendar?view=week&date=2026-12-14".to_owned(),
        "/calendar?view=month&date=2026-12-01".to_owned(),
        "/recordings".to_owned(),
        "/recordings/public".to_owned(),
        format!("/r/{room}"),
        "/r/1".to_owned(),
    ];
    for path in &pages {
        let r = get(&server.url(path), &[("cookie", &cookie)]);
        assert!(r.status == 200 || path == "/r/1", "{path}: {r:?}");
        assert_headers(path, &r);
        assert_no_inline_script(path, &r.body);
        assert!(
            !r.body.contains("<img src=x") && !r.body.contains("<b>B</b>"),
            "{path} renders the subject unescaped"
        );
    }
    // The pages that show the subject show it escaped.
    for path in [
        "/meetings".to_owned(),
        format!("/meetings/{meeting}"),
        "/calendar?view=week&date=2026-12-14".to_owned(),
    ] {
        let r = get(&server.url(&path), &[("cookie", &cookie)]);
        assert!(
            r.body.contains("&lt;img src=x") || r.body.contains("&#60;img src=x"),
            "{path}: the subject is not shown escaped"
        );
    }

    // API answers and errors, assets, health, metrics.
    let api = [
        ("/api/v1/me", Some(auth.as_str()), 200),
        (&*format!("/api/v1/rooms/{room}"), Some(auth.as_str()), 200),
        ("/api/v1/openapi.json", None, 200),
        ("/api/v1/me", None, 401),
        ("/api/v1/no-such-thing", None, 404),
        ("/assets/room.js", None, 200),
        ("/assets/i18n.js", None, 200),
        ("/assets/room.css", None, 200),
        ("/assets/portal.css", None, 200),
        ("/assets/portal.js", None, 200),
        ("/assets/nothing.js", None, 404),
        ("/healthz", None, 200),
        ("/metrics", None, 200),
    ];
    for (path, auth, status) in api {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        let r = get(&server.url(path), &headers);
        assert_eq!(r.status, status, "{path}: {r:?}");
        assert_headers(path, &r);
    }
    // A 405 (the JSON error middleware) and a POST answer have them too.
    let r = send("PUT", &server.url("/api/v1/me"), &[], "");
    assert_eq!(r.status, 405);
    assert_headers("PUT /api/v1/me", &r);
    let r = send(
        "POST",
        &server.url("/api/v1/meetings/instant"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        r#"{"subject": "x"}"#,
    );
    assert_eq!(r.status, 201);
    assert_headers("POST /api/v1/meetings/instant", &r);
}

/// Waits for the page to finish loading, then returns its console errors.
fn loaded(b: &Browser, url: &str) -> Vec<String> {
    b.navigate(url);
    poll(EVENT_WAIT, || {
        (b.exec("return document.readyState;", json!([])) == "complete").then_some(())
    })
    .expect("the page loads");
    b.console_errors()
}

fn csp_violations(errors: &[String]) -> Vec<&String> {
    errors
        .iter()
        .filter(|e| e.contains("Content Security Policy"))
        .collect()
}

#[test]
fn the_pages_work_in_chromium_under_the_policy() {
    let (chromium, driver) = match browser_available() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED the_pages_work_in_chromium_under_the_policy: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "alice");
    let server = Server::start(dir.path());
    let room = instant_room(&server, &token);
    let meeting = plan_meeting(&server, &token);
    let driver = Driver::start(&chromium, &driver);
    let b = driver.browser(&dir.path().join("profile"), &[]);
    loaded(&b, &server.url(&format!("/signin?token={token}")));

    for path in [
        "/".to_owned(),
        "/meetings".to_owned(),
        format!("/meetings/{meeting}"),
        "/calendar?view=month&date=2026-12-01".to_owned(),
        "/recordings".to_owned(),
        "/recordings/public".to_owned(),
    ] {
        let errors = loaded(&b, &server.url(&path));
        assert!(csp_violations(&errors).is_empty(), "{path}: {errors:?}");
        assert_eq!(
            b.exec("return window.__pwned;", json!([])),
            json!(null),
            "{path}"
        );
    }

    // The planning form's script (a file now) shows the end time.
    let errors = loaded(&b, &server.url("/meetings/new"));
    assert!(csp_violations(&errors).is_empty(), "{errors:?}");
    let end = b.exec(
        "const t = document.getElementById('f-time'); t.value = '09:30'; \
         t.dispatchEvent(new Event('input')); return document.getElementById('f-end').value;",
        json!([]),
    );
    let duration = b.exec(
        "return document.getElementById('f-duration').value;",
        json!([]),
    );
    let minutes: u32 = duration.as_str().unwrap_or("60").parse().unwrap_or(60);
    let total = 9 * 60 + 30 + minutes;
    assert_eq!(
        end,
        json!(format!("{:02}:{:02}", total / 60 % 24, total % 60)),
        "the end time is computed by portal.js"
    );

    // The calendar's entries are placed by their style attribute (allowed by style-src-attr).
    let errors = loaded(&b, &server.url("/calendar?view=week&date=2026-12-14"));
    assert!(csp_violations(&errors).is_empty(), "{errors:?}");
    let placed = b.exec(
        "const e = document.querySelector('#cal-week .entry'); \
         return e ? [e.style.top, getComputedStyle(e).position] : null;",
        json!([]),
    );
    assert!(
        placed[0].as_str().is_some_and(|t| t.ends_with('%')) && placed[1] == "absolute",
        "{placed}"
    );

    // The meeting page joins under the policy.
    let errors = loaded(&b, &server.url(&format!("/r/{room}?name=Ada&autojoin=1")));
    assert!(csp_violations(&errors).is_empty(), "{errors:?}");
    poll(EVENT_WAIT, || {
        b.pont("participantId").as_str().map(str::to_owned)
    })
    .expect("the meeting page joined");
    let errors = b.console_errors();
    assert!(csp_violations(&errors).is_empty(), "{errors:?}");

    // And the policy is enforced: an inline script injected into the page does not run, and
    // Chromium says why.
    let ran = b.exec(
        "const s = document.createElement('script'); s.textContent = 'window.__inline = 1;'; \
         document.body.appendChild(s); return window.__inline === 1;",
        json!([]),
    );
    assert_eq!(ran, json!(false), "an inline script ran");
    let refused = poll(EVENT_WAIT, || {
        let errors = b.console_errors();
        (!csp_violations(&errors).is_empty()).then_some(errors)
    });
    assert!(refused.is_some(), "no CSP report in the console");
}
