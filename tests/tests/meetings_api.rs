//! The organizer API: tokens, instant meetings, rooms, and the JSON error shape.

use pont_tests::{Server, bearer, create_token, delete, get, send};
use serde_json::Value;

const JSON: (&str, &str) = ("content-type", "application/json");

fn instant(server: &Server, token: &str, subject: &str) -> Value {
    let auth = bearer(token);
    let reply = send(
        "POST",
        &server.url("/api/v1/meetings/instant"),
        &[JSON, ("authorization", &auth)],
        &serde_json::json!({ "subject": subject }).to_string(),
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    reply.json()
}

#[test]
fn token_create_prints_a_token_that_creates_an_instant_meeting() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = create_token(&data, "alice");
    assert!(token.starts_with("pont_"), "{token}");
    let server = Server::start(dir.path());

    let meeting = instant(&server, &token, "Weekly sync");
    assert_eq!(meeting["subject"], "Weekly sync");
    assert!(meeting["id"].is_number(), "{meeting}");
    let room = meeting["room_number"]
        .as_u64()
        .expect("numeric room_number");
    assert!((100_000..=999_999).contains(&room), "{room}");
    assert_eq!(
        meeting["web_link"],
        server.url(&format!("/r/{room}")).as_str()
    );
    assert_eq!(meeting["pin"], Value::Null);
    let dial_in = &meeting["dial_in"];
    // The SIP URI names the bound SIP address (with its port, as it is not 5060).
    assert_eq!(
        dial_in["sip_uri"],
        format!("sip:{room}@{}", server.sip()).as_str()
    );
    assert_eq!(dial_in["user"], "dialin");
    assert_eq!(dial_in["numbers"], serde_json::json!([]));
    assert!(
        dial_in["instructions"]
            .as_str()
            .is_some_and(|s| s.contains(&room.to_string())),
        "{dial_in}"
    );

    // Two meetings get two rooms.
    let other = instant(&server, &token, "Another");
    assert_ne!(other["room_number"], meeting["room_number"]);
}

#[test]
fn a_room_persists_across_a_restart_and_shows_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "bob");
    let server = Server::start(dir.path());
    let room = instant(&server, &token, "Persist")["room_number"]
        .as_u64()
        .unwrap();
    assert!(server.stop("TERM").success());

    let server = Server::start(dir.path());
    let auth = bearer(&token);
    let reply = get(
        &server.url(&format!("/api/v1/rooms/{room}")),
        &[("authorization", &auth)],
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.json();
    assert_eq!(body["room_number"], room);
    assert_eq!(body["participants"], serde_json::json!([]));
    assert_eq!(body["active_speaker"], Value::Null);
    assert_eq!(body["recording"]["state"], "off");

    // The room's web link answers too.
    assert_eq!(get(&server.url(&format!("/r/{room}")), &[]).status, 200);
}

#[test]
fn missing_or_bad_tokens_get_401() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let url = server.url("/api/v1/meetings/instant");
    let body = r#"{"subject":"x"}"#;

    let reply = send("POST", &url, &[JSON], body);
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.error_code(), "unauthorized");
    assert!(reply.header("www-authenticate").is_some());

    for header in ["Bearer pont_wrong", "Basic YWxpY2U6c2VjcmV0", "Bearer "] {
        let reply = send("POST", &url, &[JSON, ("authorization", header)], body);
        assert_eq!(reply.status, 401, "{header}: {reply:?}");
        assert_eq!(reply.error_code(), "unauthorized");
    }

    let reply = get(&server.url("/api/v1/rooms/123456"), &[]);
    assert_eq!(reply.status, 401, "{reply:?}");
}

#[test]
fn unknown_rooms_and_paths_get_404_json() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "carol");
    let server = Server::start(dir.path());
    let auth = bearer(&token);
    let headers = [("authorization", auth.as_str())];

    for room in ["100", "999999999", "abc", "18446744073709551616"] {
        let reply = get(&server.url(&format!("/api/v1/rooms/{room}")), &headers);
        assert_eq!(reply.status, 404, "{room}: {reply:?}");
        assert_eq!(reply.error_code(), "room_not_found");
    }
    for path in ["/api/v1/nope", "/api/v2/rooms/1", "/nope"] {
        let reply = get(&server.url(path), &headers);
        assert_eq!(reply.status, 404, "{path}: {reply:?}");
        assert_eq!(reply.error_code(), "not_found");
    }
}

#[test]
fn malformed_bodies_get_4xx_json() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "dan");
    let server = Server::start(dir.path());
    let url = server.url("/api/v1/meetings/instant");
    let auth = bearer(&token);
    let headers = [JSON, ("authorization", auth.as_str())];

    let cases = [
        (r#"{"subject": "#, 400, "malformed_json"),
        ("not json", 400, "malformed_json"),
        (r#"{"subject": 42}"#, 422, "invalid_body"),
        (r#"{}"#, 422, "invalid_body"),
        (r#"{"subject": "x", "extra": 1}"#, 422, "invalid_body"),
        (r#"{"subject": "   "}"#, 422, "invalid_subject"),
    ];
    for (body, status, code) in cases {
        let reply = send("POST", &url, &headers, body);
        assert_eq!(reply.status, status, "{body}: {reply:?}");
        assert_eq!(reply.error_code(), code, "{body}");
    }

    let reply = send(
        "POST",
        &url,
        &[("authorization", auth.as_str())],
        r#"{"subject":"x"}"#,
    );
    assert_eq!(reply.status, 415, "{reply:?}");
    assert_eq!(reply.error_code(), "unsupported_media_type");
}

#[test]
fn wrong_methods_get_405_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let reply = get(&server.url("/api/v1/meetings/instant"), &[]);
    assert_eq!(reply.status, 405, "{reply:?}");
    assert_eq!(reply.error_code(), "method_not_allowed");
    assert!(reply.header("allow").is_some_and(|a| a.contains("POST")));
    let reply = delete(&server.url("/healthz"));
    assert_eq!(reply.status, 405, "{reply:?}");
    assert_eq!(reply.error_code(), "method_not_allowed");
}
