//! The organizer API: tokens, instant and scheduled meetings, rooms, and the JSON error shape.

use std::time::{Duration, Instant};

use pont_tests::ws::WsClient;
use pont_tests::{EVENT_WAIT, Server, bearer, create_token, delete, get, send};
use serde_json::{Value, json};

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

/// `POST /api/v1/meetings` with `body`, as `token`.
fn schedule(server: &Server, token: &str, body: &Value) -> pont_tests::Reply {
    let auth = bearer(token);
    send(
        "POST",
        &server.url("/api/v1/meetings"),
        &[JSON, ("authorization", &auth)],
        &body.to_string(),
    )
}

/// `GET /api/v1/meetings/{id}` as `token` (a JSON number displays as its digits).
fn get_meeting(server: &Server, token: &str, id: impl std::fmt::Display) -> pont_tests::Reply {
    let auth = bearer(token);
    get(
        &server.url(&format!("/api/v1/meetings/{id}")),
        &[("authorization", &auth)],
    )
}

#[test]
fn a_scheduled_meeting_round_trips_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "erin");
    let server = Server::start(dir.path());

    let request = json!({
        "subject": "Quarterly review",
        // 10:30 in Paris in December is 09:30 UTC.
        "start": "2026-12-01T10:30:00+01:00",
        "duration": 90,
        "category": "audio",
        "recording": true,
        "pin": "0042",
        "invitees": ["ada@example.org", "grace@example.com"],
        "recurrence": "monthly",
    });
    let reply = schedule(&server, &token, &request);
    assert_eq!(reply.status, 201, "{reply:?}");
    let meeting = reply.json();
    assert!(meeting["id"].is_number(), "{meeting}");
    assert_eq!(meeting["kind"], "scheduled");
    assert_eq!(meeting["subject"], "Quarterly review");
    assert_eq!(meeting["start"], "2026-12-01T09:30:00Z");
    assert_eq!(meeting["duration"], 90);
    assert_eq!(meeting["category"], "audio");
    assert_eq!(meeting["recording"], true);
    assert_eq!(meeting["pin"], "0042");
    assert_eq!(
        meeting["invitees"],
        json!(["ada@example.org", "grace@example.com"])
    );
    assert_eq!(meeting["recurrence"], "monthly");
    let room = meeting["room_number"]
        .as_u64()
        .expect("numeric room_number");
    assert!((100_000..=999_999).contains(&room), "{room}");
    assert_eq!(
        meeting["web_link"],
        server.url(&format!("/r/{room}")).as_str()
    );
    assert_eq!(
        meeting["dial_in"]["sip_uri"],
        format!("sip:{room}@{}", server.sip()).as_str()
    );
    assert!(
        meeting["dial_in"]["instructions"]
            .as_str()
            .is_some_and(|s| s.contains("PIN")),
        "{meeting}"
    );

    // GET returns the very same meeting (POST adds the plan's warnings: none here).
    assert_eq!(meeting["warnings"], json!([]), "{meeting}");
    let mut planned = meeting.clone();
    planned.as_object_mut().unwrap().remove("warnings");
    let reply = get_meeting(&server, &token, &meeting["id"]);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json(), planned);

    // The room exists, with the meeting's category and PIN.
    let auth = bearer(&token);
    let room_url = server.url(&format!("/api/v1/rooms/{room}"));
    let reply = get(&room_url, &[("authorization", &auth)]);
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.json();
    assert_eq!(body["room_number"], room);
    assert_eq!(body["category"], "audio");
    assert_eq!(body["pin_required"], true);
    assert_eq!(body["participants"], json!([]));

    // Everything is in the SQLite file under the data folder.
    assert!(server.stop("TERM").success());
    let server = Server::start(dir.path());
    let reply = get_meeting(&server, &token, &meeting["id"]);
    assert_eq!(reply.status, 200, "{reply:?}");
    let mut after = reply.json();
    // Only the addresses bound by this run may differ.
    for field in ["web_link", "dial_in"] {
        after[field] = meeting[field].clone();
    }
    assert_eq!(after, planned);
    let reply = get(
        &server.url(&format!("/api/v1/rooms/{room}")),
        &[("authorization", &auth)],
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(get(&server.url(&format!("/r/{room}")), &[]).status, 200);
}

#[test]
fn a_scheduled_meeting_takes_defaults_and_instant_meetings_say_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "frank");
    let server = Server::start(dir.path());

    let reply = schedule(
        &server,
        &token,
        &json!({"subject": "  Standup  ", "start": "2028-02-29T08:00:00.250Z"}),
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    let meeting = reply.json();
    assert_eq!(meeting["subject"], "Standup");
    assert_eq!(meeting["start"], "2028-02-29T08:00:00Z");
    assert_eq!(meeting["duration"], 60);
    assert_eq!(meeting["category"], "video");
    assert_eq!(meeting["recording"], false);
    assert_eq!(meeting["pin"], Value::Null);
    assert_eq!(meeting["invitees"], json!([]));
    assert_eq!(meeting["recurrence"], "none");
    assert_eq!(meeting["kind"], "scheduled");

    // Explicit nulls are the defaults too.
    let reply = schedule(
        &server,
        &token,
        &json!({"subject": "x", "start": "2026-12-01T09:30:00Z", "duration": null,
                "category": null, "recording": null, "pin": null, "invitees": null,
                "recurrence": null}),
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.json()["duration"], 60);

    let instant = instant(&server, &token, "Now");
    assert_eq!(instant["kind"], "instant");
    assert_eq!(instant["start"], Value::Null);
    assert_eq!(instant["duration"], Value::Null);
    assert_eq!(instant["recording"], false);
    assert_eq!(instant["invitees"], json!([]));
    assert_eq!(instant["recurrence"], "none");
    let reply = get_meeting(&server, &token, &instant["id"]);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json(), instant);
}

#[test]
fn each_invalid_field_of_a_scheduled_meeting_has_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "gina");
    let server = Server::start(dir.path());

    let valid = json!({
        "subject": "Plan",
        "start": "2026-12-01T09:30:00Z",
        "duration": 30,
        "category": "video",
        "recording": false,
        "pin": "1234",
        "invitees": ["ada@example.org"],
        "recurrence": "weekly",
    });
    let reply = schedule(&server, &token, &valid);
    assert_eq!(reply.status, 201, "{reply:?}");

    let too_many: Vec<String> = (0..201).map(|i| format!("p{i}@example.org")).collect();
    let too_long = format!("{}@example.org", "a".repeat(250));
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("subject", json!("   "), 422, "invalid_subject"),
        ("subject", json!("x".repeat(201)), 422, "invalid_subject"),
        ("start", Value::Null, 422, "invalid_start"),
        ("start", json!("2026-12-01T09:30:00"), 422, "invalid_start"),
        ("start", json!("2026-02-29T09:30:00Z"), 422, "invalid_start"),
        ("start", json!("2026-13-01T09:30:00Z"), 422, "invalid_start"),
        ("start", json!("next tuesday"), 422, "invalid_start"),
        ("duration", json!(0), 422, "invalid_duration"),
        ("duration", json!(1441), 422, "invalid_duration"),
        ("duration", json!(-30), 422, "invalid_duration"),
        ("duration", json!(2.5), 422, "invalid_duration"),
        ("category", json!("hd"), 422, "invalid_category"),
        ("category", json!("Audio"), 422, "invalid_category"),
        ("pin", json!("12a4"), 422, "invalid_pin"),
        ("pin", json!(""), 422, "invalid_pin"),
        ("invitees", json!(["ada"]), 422, "invalid_invitees"),
        ("invitees", json!(["a@b@c"]), 422, "invalid_invitees"),
        (
            "invitees",
            json!(["ada lovelace@example.org"]),
            422,
            "invalid_invitees",
        ),
        ("invitees", json!([too_long]), 422, "invalid_invitees"),
        ("invitees", json!(too_many), 422, "invalid_invitees"),
        ("recurrence", json!("yearly"), 422, "invalid_recurrence"),
        // Wrong JSON types are reported like the instant endpoint's.
        ("duration", json!("30"), 422, "invalid_body"),
        ("recording", json!("yes"), 422, "invalid_body"),
        ("invitees", json!("ada@example.org"), 422, "invalid_body"),
        ("invitees", json!([1]), 422, "invalid_body"),
        ("subject", json!(42), 422, "invalid_body"),
        ("pin", json!(1234), 422, "invalid_body"),
        ("location", json!("Room 1"), 422, "invalid_body"),
    ];
    for (field, value, status, code) in cases {
        let mut body = valid.clone();
        body[field] = value;
        let reply = schedule(&server, &token, &body);
        assert_eq!(reply.status, status, "{field}: {body}: {reply:?}");
        assert_eq!(reply.error_code(), code, "{field}: {body}");
    }

    // A missing start is its own error; a missing subject is a missing field, as for instant.
    let reply = schedule(&server, &token, &json!({"subject": "x"}));
    assert_eq!(reply.status, 422, "{reply:?}");
    assert_eq!(reply.error_code(), "invalid_start");
    let reply = schedule(&server, &token, &json!({"start": "2026-12-01T09:30:00Z"}));
    assert_eq!(reply.status, 422, "{reply:?}");
    assert_eq!(reply.error_code(), "invalid_body");

    let auth = bearer(&token);
    let url = server.url("/api/v1/meetings");
    let reply = send("POST", &url, &[JSON, ("authorization", &auth)], "{");
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.error_code(), "malformed_json");
    let reply = send(
        "POST",
        &url,
        &[("authorization", &auth)],
        &valid.to_string(),
    );
    assert_eq!(reply.status, 415, "{reply:?}");
    assert_eq!(reply.error_code(), "unsupported_media_type");
}

#[test]
fn scheduled_meetings_need_a_token_and_are_seen_only_by_their_organizer() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let owner = create_token(&data, "hana");
    let other = create_token(&data, "ivan");
    let server = Server::start(dir.path());
    let url = server.url("/api/v1/meetings");
    let body = json!({"subject": "x", "start": "2026-12-01T09:30:00Z"}).to_string();

    let reply = send("POST", &url, &[JSON], &body);
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.error_code(), "unauthorized");
    assert!(reply.header("www-authenticate").is_some());
    let reply = send(
        "POST",
        &url,
        &[JSON, ("authorization", "Bearer pont_wrong")],
        &body,
    );
    assert_eq!(reply.status, 401, "{reply:?}");

    let reply = schedule(&server, &owner, &serde_json::from_str(&body).unwrap());
    assert_eq!(reply.status, 201, "{reply:?}");
    let id = reply.json()["id"].clone();

    let reply = get(&server.url(&format!("/api/v1/meetings/{id}")), &[]);
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.error_code(), "unauthorized");

    // Another organizer cannot tell it from a meeting that does not exist.
    let reply = get_meeting(&server, &other, &id);
    assert_eq!(reply.status, 404, "{reply:?}");
    assert_eq!(reply.error_code(), "meeting_not_found");
    for missing in [
        "999999".to_owned(),
        "abc".to_owned(),
        "-1".to_owned(),
        "99999999999999999999".to_owned(),
        format!("+{id}"),
    ] {
        let reply = get_meeting(&server, &owner, &missing);
        assert_eq!(reply.status, 404, "{missing}: {reply:?}");
        assert_eq!(reply.error_code(), "meeting_not_found", "{missing}");
    }
    assert_eq!(get_meeting(&server, &owner, &id).status, 200);

    // The collection lists the caller's meetings: a token is needed, and PUT is no method of it.
    let reply = get(&url, &[]);
    assert_eq!(reply.status, 401, "{reply:?}");
    let reply = send("PUT", &url, &[JSON], "{}");
    assert_eq!(reply.status, 405, "{reply:?}");
    assert_eq!(reply.error_code(), "method_not_allowed");
}

#[test]
fn a_scheduled_meeting_with_recording_records_once_someone_joins() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "jo");
    let server = Server::start(dir.path());
    let auth = bearer(&token);
    let room_state = |room: u64| {
        let reply = get(
            &server.url(&format!("/api/v1/rooms/{room}")),
            &[("authorization", &auth)],
        );
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()["recording"]["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let scheduled_room = |recording: bool| {
        let reply = schedule(
            &server,
            &token,
            &json!({"subject": "Recorded", "start": "2026-12-01T09:30:00Z",
                    "recording": recording}),
        );
        assert_eq!(reply.status, 201, "{reply:?}");
        reply.json()["room_number"].as_u64().unwrap()
    };
    let join = |room: u64| {
        let mut c = WsClient::connect(server.http, &format!("/api/v1/rooms/{room}/ws"));
        c.send_json(&json!({"v": 1, "type": "join", "name": "First"}));
        c.recv_type("joined");
        c
    };

    let recorded = scheduled_room(true);
    let plain = scheduled_room(false);
    assert_eq!(room_state(recorded), "off");

    // The plain room first: the recording service handles rooms becoming occupied one at a
    // time, in order, so once the recorded room records, the plain room has been decided.
    let _other = join(plain);
    let _first = join(recorded);
    let deadline = Instant::now() + EVENT_WAIT;
    while room_state(recorded) != "recording" {
        assert!(Instant::now() < deadline, "recording never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(room_state(plain), "off");
    let by_organizer = recording_of(&server, &auth, &auth, recorded);
    assert_eq!(by_organizer["owner_id"], me(&server, &auth)["id"]);

    // A recording owner named at planning time owns what the meeting records.
    let mut cmd = pont_tests::pont_command(dir.path());
    cmd.args([
        "token",
        "create",
        "Kim",
        "--email",
        "kim.lee@univ-exemple.fr",
        "--data",
    ])
    .arg(dir.path().join("data"));
    let out = pont_tests::run(cmd);
    assert!(out.status.success(), "{out:?}");
    let kim = bearer(out.stdout.lines().last().unwrap().trim());
    let kim_id = me(&server, &kim)["id"].clone();
    let unknown = schedule(
        &server,
        &token,
        &json!({"subject": "Owned", "start": "2026-12-01T09:30:00Z", "recording": true,
                "recording_owner": "nobody@univ-exemple.fr"}),
    );
    assert_eq!(
        (unknown.status, unknown.error_code().as_str()),
        (422, "unknown_account")
    );
    let owned = schedule(
        &server,
        &token,
        &json!({"subject": "Owned", "start": "2026-12-01T09:30:00Z", "recording": true,
                "recording_owner": "KIM.LEE@univ-exemple.fr"}),
    );
    assert_eq!(owned.status, 201, "{owned:?}");
    assert_eq!(owned.json()["recording_owner"], kim_id);
    let room = owned.json()["room_number"].as_u64().unwrap();
    let _guest = join(room);
    let deadline = Instant::now() + EVENT_WAIT;
    while room_state(room) != "recording" {
        assert!(Instant::now() < deadline, "recording never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The room is the organizer's (only they read its state); the recording is Kim's.
    assert_eq!(recording_of(&server, &auth, &kim, room)["owner_id"], kim_id);
}

fn me(server: &Server, auth: &str) -> Value {
    get(&server.url("/api/v1/me"), &[("authorization", auth)]).json()
}

/// The recording a room is making (the room read by its organizer `room_auth`), as its viewer
/// `auth` sees it.
fn recording_of(server: &Server, room_auth: &str, auth: &str, room: u64) -> Value {
    let state = get(
        &server.url(&format!("/api/v1/rooms/{room}")),
        &[("authorization", room_auth)],
    )
    .json();
    let id = state["recording"]["id"].as_i64().expect("a recording id");
    let r = get(
        &server.url(&format!("/api/v1/recordings/{id}")),
        &[("authorization", auth)],
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.json()
}
