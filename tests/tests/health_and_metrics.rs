//! `/healthz`, `/metrics`, the first-start sign-in link and the sign-in cookie.

use std::collections::HashSet;

use pont_tests::{Server, get};

#[test]
fn healthz_answers_200_once_listening() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let reply = get(&server.url("/healthz"), &[]);
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[test]
fn metrics_are_prometheus_text_with_the_documented_names() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let reply = get(&server.url("/metrics"), &[]);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{reply:?}"
    );

    // A small parser for the text exposition format: every sample is `name{labels} value`,
    // and its family has # HELP and # TYPE lines before it.
    let mut typed = HashSet::new();
    let mut histograms = HashSet::new();
    let mut helped = HashSet::new();
    let mut samples = Vec::new();
    for line in reply.body.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap().to_owned();
            let kind = parts.next().expect("TYPE has a kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad TYPE line {line:?}"
            );
            if kind == "histogram" {
                histograms.insert(name.clone());
            }
            typed.insert(name);
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().unwrap().to_owned());
        } else if line.starts_with('#') {
            // A comment.
        } else {
            let (series, value) = line.rsplit_once(' ').expect("sample has a value");
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("bad value in {line:?}"));
            let name = match series.split_once('{') {
                Some((name, labels)) => {
                    assert!(labels.ends_with('}'), "bad labels in {line:?}");
                    for pair in labels.trim_end_matches('}').split(',') {
                        let (k, v) = pair.split_once('=').expect("label is k=v");
                        assert!(!k.is_empty() && v.starts_with('"') && v.ends_with('"'));
                    }
                    name
                }
                None => series,
            };
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
                "bad metric name in {line:?}"
            );
            // A histogram's samples are its family name plus _bucket, _sum or _count.
            let name = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|base| histograms.contains(*base))
                .unwrap_or(name);
            assert!(typed.contains(name), "sample before its TYPE: {line:?}");
            assert!(helped.contains(name), "sample before its HELP: {line:?}");
            samples.push(series.to_owned());
        }
    }
    for name in [
        "pont_forwarded_packets_total",
        "pont_forwarded_bytes_total",
        "pont_rtp_received_packets_total",
        "pont_rooms",
        "pont_participants",
    ] {
        assert!(samples.iter().any(|s| s == name), "no sample {name}");
    }
    assert!(
        samples
            .iter()
            .any(|s| s.starts_with("pont_dropped_packets_total{reason=\"")),
        "no pont_dropped_packets_total{{reason=...}}"
    );
}

#[test]
fn first_start_prints_a_signin_link_whose_cookie_opens_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let link = server
        .stdout
        .iter()
        .find_map(|l| l.split_whitespace().find(|w| w.contains("/signin?token=")))
        .unwrap_or_else(|| panic!("no sign-in link in {:?}", server.stdout))
        .to_owned();
    assert!(link.starts_with(&server.url("/signin?token=")), "{link}");
    let reply = get(&link, &[]);
    assert_eq!(reply.status, 303, "{reply:?}");
    assert_eq!(reply.header("location"), Some("/"));
    let cookie = reply.header("set-cookie").expect("a cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    // A session of its own, not the token: signing out later does not revoke the token.
    let pair = cookie.split(';').next().unwrap();
    assert!(pair.starts_with("pont_session=pont_"), "{pair}");
    assert!(!link.contains(pair.split_once('=').unwrap().1));

    // The cookie authenticates like the bearer header, from the site's own pages.
    let origin = server.url("");
    let reply = pont_tests::send(
        "POST",
        &server.url("/api/v1/meetings/instant"),
        &[
            ("content-type", "application/json"),
            ("cookie", pair),
            ("origin", &origin),
        ],
        r#"{"subject":"by cookie"}"#,
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    // Without Origin or X-CSRF-Token it could be another site's form: refused.
    let reply = pont_tests::send(
        "POST",
        &server.url("/api/v1/meetings/instant"),
        &[("content-type", "application/json"), ("cookie", pair)],
        r#"{"subject":"by cookie"}"#,
    );
    assert_eq!(reply.status, 403, "{reply:?}");

    // A wrong token is refused and sets nothing.
    let reply = get(&server.url("/signin?token=pont_0000"), &[]);
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.header("set-cookie"), None);

    // The sign-in link is printed only on the first start.
    drop(server);
    let again = Server::start(dir.path());
    assert!(
        !again.stdout.iter().any(|l| l.contains("/signin?token=")),
        "{:?}",
        again.stdout
    );
}

#[test]
fn portal_join_form_goes_to_the_room_link() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let page = get(&server.url("/"), &[]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("action=\"/join\""), "{}", page.body);
    let reply = get(&server.url("/join?room=123456"), &[]);
    assert_eq!(reply.status, 303);
    assert_eq!(reply.header("location"), Some("/r/123456"));
}
