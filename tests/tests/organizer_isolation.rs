//! An organizer can never read or change another organizer's meeting, room or recording by
//! id. For every route of the OpenAPI document that takes a meeting id, a room number or a
//! recording id, organizer B's token is used on organizer A's object with a body that would
//! change it: the answer is 404 (or 403) with the JSON error body, and afterwards A's meeting,
//! occurrences, room and recording are as they were. The same requests with A's token
//! succeed, so the 404s are not objects that do not exist.
//!
//! A new route with an id in its path fails this test until it is listed here. The portal's
//! pages of the same meeting and recording refuse B's session too.

use pont_tests::{Reply, Server, bearer, create_token, delete_with, get, instant_room, send};
use serde_json::{Value, json};

/// The one route with a room number that organizers do not use: the participants' signalling
/// WebSocket, which by design needs no account (anyone with the link joins the room).
const NOT_AN_ORGANIZER_ROUTE: &str = "/api/v1/rooms/{room}/ws";

/// The error codes of "not yours" (the 404s do not tell it apart from "does not exist").
const OWNERSHIP_REFUSALS: &[&str] = &[
    "meeting_not_found",
    "room_not_found",
    "recording_not_found",
    "forbidden",
];

fn call(server: &Server, token: &str, method: &str, path: &str, body: &Value) -> Reply {
    let auth = bearer(token);
    let url = server.url(path);
    match method {
        "get" => get(&url, &[("authorization", &auth)]),
        "delete" => delete_with(&url, &[("authorization", &auth)]),
        m => send(
            &m.to_ascii_uppercase(),
            &url,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            &body.to_string(),
        ),
    }
}

#[test]
fn organizer_b_cannot_read_or_change_organizer_a_s_objects_on_any_route() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let a = create_token(&data, "Ana");
    let b = create_token(&data, "Bruno");
    let server = Server::start(dir.path());

    // A's objects: a weekly meeting (with occurrences), an instant room, a recording that is
    // running in it (private, A's).
    let planned = send(
        "POST",
        &server.url("/api/v1/meetings"),
        &[
            ("authorization", &bearer(&a)),
            ("content-type", "application/json"),
        ],
        &json!({"subject": "Ana's weekly", "start": "2026-12-14T10:00:00+01:00",
                "duration": 60, "recurrence": "weekly"})
        .to_string(),
    );
    assert_eq!(planned.status, 201, "{planned:?}");
    let meeting = planned.json()["id"].as_i64().unwrap();
    let room = instant_room(&server, &a);
    let started = call(
        &server,
        &a,
        "post",
        &format!("/api/v1/rooms/{room}/recording"),
        &json!({"action": "start"}),
    );
    assert_eq!(started.status, 200, "{started:?}");
    let recording = started.json()["id"].as_i64().expect("a recording id");
    let occurrence = "2026-12-21T09:00:00Z";

    let snapshot = |who: &str| -> Value {
        let get_json = |path: String| {
            let r = call(&server, who, "get", &path, &Value::Null);
            assert_eq!(r.status, 200, "{path}: {r:?}");
            r.json()
        };
        let mut room_state = get_json(format!("/api/v1/rooms/{room}"));
        // What the media plane measures on its own is not A's data changing.
        room_state.as_object_mut().unwrap().remove("active_speaker");
        json!({
            "meeting": get_json(format!("/api/v1/meetings/{meeting}")),
            "occurrences": get_json(format!(
                "/api/v1/meetings/{meeting}/occurrences?from=2026-12-01T00:00:00Z&to=2027-01-31T00:00:00Z"
            )),
            "room": room_state,
            "recording": get_json(format!("/api/v1/recordings/{recording}")),
        })
    };
    let before = snapshot(&a);

    // What each route is sent: a change that would show if it were applied.
    let attempt = |method: &str, path: &str| -> Option<(String, Value)> {
        let concrete = path
            .replace("{id}", &meeting.to_string())
            .replace("{room}", &room.to_string())
            .replace("{start}", occurrence);
        let (concrete, body) = match (method, path) {
            ("get", "/api/v1/meetings/{id}") => (concrete, Value::Null),
            ("patch", "/api/v1/meetings/{id}") => (concrete, json!({"subject": "Bruno's now"})),
            ("delete", "/api/v1/meetings/{id}") => (concrete, Value::Null),
            ("get", "/api/v1/meetings/{id}/occurrences") => (concrete, Value::Null),
            ("patch", "/api/v1/meetings/{id}/occurrences/{start}") => {
                (concrete, json!({"duration": 15}))
            }
            ("delete", "/api/v1/meetings/{id}/occurrences/{start}") => (concrete, Value::Null),
            ("get", "/api/v1/rooms/{room}") => (concrete, Value::Null),
            ("post", "/api/v1/rooms/{room}/lock") => (concrete, json!({"locked": true})),
            ("post", "/api/v1/rooms/{room}/live") => (concrete, json!({"action": "start"})),
            ("post", "/api/v1/rooms/{room}/recording") => (concrete, json!({"action": "stop"})),
            ("post", "/api/v1/rooms/{room}/participants/{id}") => (
                path.replace("{room}", &room.to_string())
                    .replace("{id}", "p1"),
                json!({"action": "remove"}),
            ),
            ("post", "/api/v1/rooms/{room}/admit_all") => (concrete, json!({})),
            ("post", "/api/v1/rooms/{room}/mute_all") => (concrete, json!({})),
            ("post", "/api/v1/rooms/{room}/end") => (concrete, json!({})),
            ("post", "/api/v1/rooms/{room}/dial") => {
                (concrete, json!({"uri": "sip:999@127.0.0.1:9"}))
            }
            ("get", "/api/v1/rooms/{room}/polls" | "/api/v1/rooms/{room}/polls.csv") => {
                (concrete, Value::Null)
            }
            ("post", "/api/v1/rooms/{room}/polls") => (
                concrete,
                json!({"question": "Bruno's?", "choices": ["yes", "no"]}),
            ),
            ("get", "/api/v1/rooms/{room}/polls/{id}") => (
                path.replace("{room}", &room.to_string())
                    .replace("{id}", "1"),
                Value::Null,
            ),
            ("post", "/api/v1/rooms/{room}/polls/{id}/close") => (
                path.replace("{room}", &room.to_string())
                    .replace("{id}", "1"),
                json!({}),
            ),
            (_, p) if p.starts_with("/api/v1/recordings/{id}") => {
                let concrete = p.replace("{id}", &recording.to_string());
                let body = if method == "patch" {
                    json!({"title": "Bruno's now", "visibility": "public"})
                } else {
                    Value::Null
                };
                (concrete, body)
            }
            _ => return None,
        };
        Some((concrete, body))
    };

    let doc = get(&server.url("/api/v1/openapi.json"), &[]).json();
    let mut tried = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains('{') || path == NOT_AN_ORGANIZER_ROUTE {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            if !["get", "post", "patch", "put", "delete"].contains(&method.as_str()) {
                continue;
            }
            let (concrete, body) = attempt(method, path).unwrap_or_else(|| {
                panic!("{method} {path} takes an id: list what to send it in this test")
            });
            let r = call(&server, &b, method, &concrete, &body);
            assert!(
                r.status == 404 || r.status == 403,
                "B on A's object: {method} {concrete} answered {} {}",
                r.status,
                r.body
            );
            // Refused for being A's, not for something else (an empty room has no p1 either).
            let code = r.error_code();
            assert!(
                OWNERSHIP_REFUSALS.contains(&code.as_str()),
                "B on A's object: {method} {concrete} refused with {code}, not as another's"
            );
            tried.push((method.clone(), concrete, body));
        }
    }
    assert!(tried.len() >= 18, "{tried:?}");

    // Nothing of A's changed.
    assert_eq!(snapshot(&a), before);
    assert_eq!(before["room"]["locked"], false);
    assert_eq!(before["recording"]["status"], "recording");

    // The portal's pages of the same objects, with B's session: none shows them.
    let signin = get(&server.url(&format!("/signin?token={b}")), &[]);
    let cookie = signin
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("B's session")
        .to_owned();
    let own = get(&server.url("/meetings"), &[("cookie", &cookie)]);
    assert_eq!(own.status, 200, "B's session works: {own:?}");
    for page in [
        format!("/meetings/{meeting}"),
        format!("/meetings/{meeting}/edit"),
        format!("/meetings/{meeting}/occurrences/{occurrence}"),
        format!("/recordings/{recording}"),
    ] {
        let r = get(&server.url(&page), &[("cookie", &cookie)]);
        eprintln!("B's session on {page}: {}", r.status);
        assert!(
            r.status >= 300
                && !r.body.contains("Ana&#39;s weekly")
                && !r.body.contains("Ana's weekly"),
            "B's session on A's page {page}: {} {}",
            r.status,
            r.body
        );
    }

    // And A itself gets past that check on every one of them (the refusals above were not
    // missing objects): deletions last, and no real dial-out (it would wait for a SIP answer).
    tried.sort_by_key(|(method, path, _)| (method == "delete", std::cmp::Reverse(path.len())));
    for (method, path, body) in &tried {
        if path.ends_with("/dial") {
            continue;
        }
        if path.ends_with("/download") {
            // The file itself (binary): only its status.
            let auth = bearer(&a);
            let r = pont_tests::get_bytes(&server.url(path), &[("authorization", &auth)]);
            assert!(r.status < 300, "A downloads its recording: {}", r.status);
            continue;
        }
        let r = call(&server, &a, method, path, body);
        if r.status >= 400 {
            let code = r.error_code();
            assert!(
                !OWNERSHIP_REFUSALS.contains(&code.as_str()),
                "A on its own object: {method} {path}: {r:?}"
            );
        }
    }
}
