//! HTTPS on `--http` with `--tls-cert`/`--tls-key`: certificates made at test time by a test
//! CA (rcgen), clients that trust only that CA.
//!
//! - The API, the portal's sign-in and language cookies (`Secure`), HSTS, over real TLS.
//! - Plain HTTP and TLS garbage on the HTTPS port: refused, counted, nothing else disturbed.
//! - An expired certificate, a key that is not the certificate's, a PEM block that is not a
//!   certificate: the start fails with the reason and exit code 1, no panic.
//! - SIGHUP: a new connection gets the new certificate; a bad new pair is refused, logged, and
//!   the previous certificate stays.
//! - Chromium joins a room over HTTPS (trusting the test certificate by its key's hash) and its
//!   WebRTC call with a second browser carries audio and video both ways.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;

use pont_tests::tls::{ServerCert, TestCa, https_get, https_send, presented_certificate};
use pont_tests::webdriver::{Browser, Driver, PAGE_STATS, browser_available, poll};
use pont_tests::{EVENT_WAIT, ServeOptions, Server, bearer, create_token};
use serde_json::Value;

/// `pont serve` on the test defaults plus the certificate files.
fn tls_options(dir: &Path, cert: &ServerCert) -> ServeOptions {
    let (crt, key) = cert.write(dir, "server");
    let mut options = ServeOptions::new(dir);
    options.args.extend([
        "--tls-cert".into(),
        crt.display().to_string(),
        "--tls-key".into(),
        key.display().to_string(),
    ]);
    options
}

fn start_tls(dir: &Path, cert: &ServerCert) -> Server {
    Server::start_with(tls_options(dir, cert)).unwrap_or_else(|e| panic!("pont serve: {e:#?}"))
}

/// The metric line `name` (with labels) from `/metrics` over HTTPS.
fn metric(server: &Server, root: &[u8], name: &str) -> Option<f64> {
    let m = https_get(root, &server.https_url("/metrics"), &[]);
    m.body
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
}

#[test]
fn the_api_and_the_portal_are_served_over_https_with_hsts_and_secure_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let cert = ca.server_cert("pont test server", 1, None);
    let token = create_token(&dir.path().join("data"), "alice");
    let server = start_tls(dir.path(), &cert);
    let root = &ca.der;

    let health = https_get(root, &server.https_url("/healthz"), &[]);
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(
        health.header("strict-transport-security"),
        Some("max-age=31536000")
    );

    // The API: a meeting whose links are https (the default public URL follows the listener).
    let auth = bearer(&token);
    let created = https_send(
        root,
        "POST",
        &server.https_url("/api/v1/meetings/instant"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        r#"{"subject": "Over TLS"}"#,
    );
    assert_eq!(created.status, 201, "{created:?}");
    assert!(created.header("strict-transport-security").is_some());
    let meeting = created.json();
    let room = meeting["room_number"].as_u64().unwrap();
    assert_eq!(
        meeting["web_link"],
        server.https_url(&format!("/r/{room}")).as_str()
    );
    let got = https_get(
        root,
        &server.https_url(&format!("/api/v1/rooms/{room}")),
        &[("authorization", &auth)],
    );
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.json()["room_number"], room);
    // Errors keep their JSON shape over TLS.
    let missing = https_get(
        root,
        &server.https_url("/api/v1/rooms/1"),
        &[("authorization", &auth)],
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), "room_not_found");

    // The portal's session cookie (sign-in link) and language cookie are Secure.
    let signin = https_get(
        root,
        &server.https_url(&format!("/signin?token={token}")),
        &[],
    );
    assert_eq!(signin.status, 303, "{signin:?}");
    let session = signin.header("set-cookie").expect("a session cookie");
    assert!(session.starts_with("pont_session="), "{session}");
    for attribute in ["; Secure", "; HttpOnly", "; SameSite=Lax"] {
        assert!(
            session.contains(attribute),
            "{attribute} missing: {session}"
        );
    }
    let lang = https_get(root, &server.https_url("/lang/fr?next=/"), &[]);
    let lang_cookie = lang.header("set-cookie").expect("a language cookie");
    assert!(
        lang_cookie.starts_with("pont_lang=fr") && lang_cookie.contains("; Secure"),
        "{lang_cookie}"
    );
    // The meeting page and its script come over TLS too.
    let page = https_get(root, &server.https_url(&format!("/r/{room}")), &[]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("/assets/room.js"));

    // Plain HTTP on the HTTPS port: no answer but a closed connection, counted.
    let mut plain = TcpStream::connect(server.http).unwrap();
    plain.set_read_timeout(Some(EVENT_WAIT)).unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "plain HTTP was served: {answer:?}"
    );
    // TLS garbage: a handshake record with nonsense inside, then random bytes.
    for junk in [
        &b"\x16\x03\x01\x00\x10garbage-garbage!"[..],
        &[0x16, 0x03, 0x03, 0xff, 0xff, 0x01],
        &[0xff; 300],
    ] {
        let mut s = TcpStream::connect(server.http).unwrap();
        s.set_read_timeout(Some(EVENT_WAIT)).unwrap();
        let _ = s.write_all(junk);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
    let failures = poll(EVENT_WAIT, || {
        metric(
            &server,
            root,
            "pont_tls_handshake_failures_total{reason=\"error\"}",
        )
        .filter(|n| *n >= 4.0)
    });
    assert!(
        failures.is_some(),
        "failed handshakes not counted: {:?}",
        https_get(root, &server.https_url("/metrics"), &[]).body
    );
    // And the server goes on serving.
    let again = https_get(root, &server.https_url("/healthz"), &[]);
    assert_eq!(again.status, 200);
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}

#[test]
fn bad_certificates_stop_the_start_with_a_reason() {
    let ca = TestCa::new();
    let good = ca.server_cert("good", 2, None);
    let expired = ca.server_cert("expired", 3, Some(((2000, 1, 1), (2001, 1, 1))));
    let future = ca.server_cert("future", 4, Some(((2090, 1, 1), (2091, 1, 1))));
    let other = ca.server_cert("other", 5, None);
    let mismatched = ServerCert {
        key_pem: other.key_pem.clone(),
        ..good.clone()
    };
    let not_a_certificate = ServerCert {
        chain_pem:
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
                .into(),
        ..good.clone()
    };
    for (cert, says) in [
        (&expired, "the certificate expired on 2001-01-01"),
        (&future, "is not valid before 2090-01-01"),
        (&mismatched, "is not the key of the certificate"),
        (&not_a_certificate, "not an X.509 certificate"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let failed = Server::start_with(tls_options(dir.path(), cert))
            .err()
            .unwrap_or_else(|| panic!("started with a bad certificate ({says})"));
        assert_eq!(
            failed.status.and_then(|s| s.code()),
            Some(1),
            "{says}: {failed:?}"
        );
        assert!(failed.stderr.contains("pont: error: "), "{failed:?}");
        assert!(failed.stderr.contains(says), "{says}: {}", failed.stderr);
        assert!(!failed.stderr.contains("panicked"), "{}", failed.stderr);
    }
}

/// Waits until the server's log has said `line` `n` times.
fn await_log(server: &Server, line: &str, n: usize) {
    poll(EVENT_WAIT, || {
        (server.stderr().matches(line).count() >= n).then_some(())
    })
    .unwrap_or_else(|| panic!("no {n}× {line:?} in the log:\n{}", server.stderr()));
}

#[test]
fn sighup_reloads_the_certificate_for_new_connections_and_keeps_it_on_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let first = ca.server_cert("pont first", 10, None);
    let second = ca.server_cert("pont second", 11, None);
    let server = start_tls(dir.path(), &first);
    let hup = || {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &server.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };

    let (seen, status) = presented_certificate(server.http, &ca.der).unwrap();
    assert_eq!(seen, first.der, "the first certificate is served");
    assert!(status.contains("200"), "{status}");

    // New files in place, SIGHUP: the next connection gets the new certificate.
    second.write(dir.path(), "server");
    hup();
    await_log(&server, "TLS certificate reloaded", 1);
    let (seen, status) = presented_certificate(server.http, &ca.der).unwrap();
    assert_eq!(seen, second.der, "the reloaded certificate is served");
    assert!(status.contains("200"), "{status}");

    // A key that is not the certificate's, then an expired certificate: refused, logged, and
    // the second certificate is still what new connections get.
    let third = ca.server_cert("pont third", 12, None);
    let (_, key) = second.write(dir.path(), "server");
    std::fs::write(&key, &third.key_pem).unwrap();
    hup();
    await_log(&server, "TLS certificate NOT reloaded", 1);
    assert!(
        server
            .stderr()
            .contains("is not the key of the certificate"),
        "{}",
        server.stderr()
    );
    let expired = ca.server_cert("pont expired", 13, Some(((2000, 1, 1), (2001, 1, 1))));
    expired.write(dir.path(), "server");
    hup();
    await_log(&server, "TLS certificate NOT reloaded", 2);
    assert!(server.stderr().contains("expired"), "{}", server.stderr());
    let (seen, _) = presented_certificate(server.http, &ca.der).unwrap();
    assert_eq!(seen, second.der, "the previous certificate is kept");
    let reloads = metric(
        &server,
        &ca.der,
        "pont_tls_reloads_total{result=\"refused\"}",
    );
    assert_eq!(reloads, Some(2.0));
    assert!(!server.stderr().contains("panicked"));
}

/// Per remote participant and kind: (packets received, frames decoded).
fn inbound(b: &Browser) -> Vec<(String, String, u64, u64)> {
    let mut out = Vec::new();
    if let Value::Array(items) = b.exec_async(PAGE_STATS) {
        for s in items {
            if let (Some(p), Some(k)) = (s["participantId"].as_str(), s["kind"].as_str()) {
                out.push((
                    p.to_owned(),
                    k.to_owned(),
                    s["packetsReceived"].as_u64().unwrap_or(0),
                    s["framesDecoded"].as_u64().unwrap_or(0),
                ));
            }
        }
    }
    out
}

/// Whether `b` receives audio packets and decodes video frames from `other`.
fn receives_from(b: &Browser, other: &str) -> bool {
    let got = inbound(b);
    let audio = got
        .iter()
        .any(|(p, k, packets, _)| p == other && k == "audio" && *packets > 0);
    let video = got
        .iter()
        .any(|(p, k, _, frames)| p == other && k == "video" && *frames > 0);
    audio && video
}

#[test]
fn chromium_joins_a_room_over_https_and_the_call_works() {
    let (chromium, driver) = match browser_available() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED chromium_joins_a_room_over_https_and_the_call_works: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let cert = ca.server_cert("pont https call", 20, None);
    let token = create_token(&dir.path().join("data"), "alice");
    let server = start_tls(dir.path(), &cert);
    let auth = bearer(&token);
    let created = https_send(
        &ca.der,
        "POST",
        &server.https_url("/api/v1/meetings/instant"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        r#"{"subject": "HTTPS call"}"#,
    );
    let room = created.json()["room_number"].as_u64().expect("a room");

    // The browsers trust exactly this certificate's key (not every certificate error).
    let trust = format!("--ignore-certificate-errors-spki-list={}", cert.spki_sha256);
    let driver = Driver::start(&chromium, &driver);
    let names = ["Ada", "Bo"];
    let browsers: Vec<Browser> = names
        .iter()
        .map(|n| {
            driver.browser(
                &dir.path().join(format!("profile-{n}")),
                std::slice::from_ref(&trust),
            )
        })
        .collect();
    for (b, name) in browsers.iter().zip(names) {
        b.navigate(&server.https_url(&format!("/r/{room}?name={name}&autojoin=1")));
    }
    let ids: Vec<String> = browsers
        .iter()
        .map(|b| {
            poll(EVENT_WAIT, || {
                b.pont("participantId").as_str().map(str::to_owned)
            })
            .unwrap_or_else(|| panic!("the page did not join over HTTPS\n{}", server.stderr()))
        })
        .collect();
    for b in &browsers {
        let page = b.exec(
            "return [location.protocol, window.isSecureContext];",
            Value::Array(vec![]),
        );
        assert_eq!(page, serde_json::json!(["https:", true]));
    }
    // Each decodes the other's video and receives its audio: signalling over wss:, media
    // over the usual DTLS-SRTP.
    for (i, b) in browsers.iter().enumerate() {
        let other = &ids[1 - i];
        poll(EVENT_WAIT, || receives_from(b, other).then_some(())).unwrap_or_else(|| {
            panic!(
                "{} never received {other}: {:?}\n{}",
                names[i],
                inbound(b),
                server.stderr()
            )
        });
    }
    let api = https_get(
        &ca.der,
        &server.https_url(&format!("/api/v1/rooms/{room}")),
        &[("authorization", &auth)],
    )
    .json();
    assert_eq!(
        api["participants"].as_array().map(Vec::len),
        Some(2),
        "{api}"
    );
    for b in &browsers {
        let errors = b.console_errors();
        assert!(
            errors
                .iter()
                .all(|e| !e.contains("Content Security Policy")),
            "CSP violations: {errors:?}"
        );
    }
}
