//! `GET /api/v1/openapi.json`: an OpenAPI 3.1 document, valid for an independent validator
//! (Python's `openapi-spec-validator`, from tests/requirements.txt), that lists exactly the
//! API's routes — each documented operation is served (not the router's "no such endpoint"
//! or 405), and the set is the contract's, so a route added without its description fails.
//!
//! The validator part skips (and says so) when the Python package is not installed.

use std::collections::BTreeSet;
use std::process::Command;

use pont_tests::{Server, client};
use serde_json::Value;

/// The API as docs/api.md and DESIGN.md describe it: method and path.
const CONTRACT: &[(&str, &str)] = &[
    ("get", "/api/v1/accounts"),
    ("get", "/api/v1/calendar"),
    ("get", "/api/v1/me"),
    ("post", "/api/v1/meetings"),
    ("post", "/api/v1/meetings/instant"),
    ("get", "/api/v1/meetings"),
    ("get", "/api/v1/meetings/{id}"),
    ("patch", "/api/v1/meetings/{id}"),
    ("delete", "/api/v1/meetings/{id}"),
    ("get", "/api/v1/meetings/{id}/occurrences"),
    ("patch", "/api/v1/meetings/{id}/occurrences/{start}"),
    ("delete", "/api/v1/meetings/{id}/occurrences/{start}"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/public/recordings"),
    ("get", "/api/v1/recordings"),
    ("get", "/api/v1/recordings/{id}"),
    ("patch", "/api/v1/recordings/{id}"),
    ("get", "/api/v1/recordings/{id}/download"),
    ("get", "/api/v1/recordings/{id}/chat"),
    ("get", "/api/v1/rooms/{room}"),
    ("post", "/api/v1/rooms/{room}/lock"),
    ("post", "/api/v1/rooms/{room}/live"),
    ("post", "/api/v1/rooms/{room}/recording"),
    ("post", "/api/v1/rooms/{room}/participants/{id}"),
    ("post", "/api/v1/rooms/{room}/admit_all"),
    ("post", "/api/v1/rooms/{room}/mute_all"),
    ("post", "/api/v1/rooms/{room}/end"),
    ("post", "/api/v1/rooms/{room}/dial"),
    ("get", "/api/v1/rooms/{room}/polls"),
    ("post", "/api/v1/rooms/{room}/polls"),
    ("get", "/api/v1/rooms/{room}/polls/{id}"),
    ("post", "/api/v1/rooms/{room}/polls/{id}/close"),
    ("get", "/api/v1/rooms/{room}/polls.csv"),
    ("get", "/api/v1/rooms/{room}/ws"),
];

#[test]
fn the_openapi_document_describes_exactly_the_served_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let r = pont_tests::get(&server.url("/api/v1/openapi.json"), &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = r.json();
    assert_eq!(doc["openapi"], "3.1.0");

    // The documented operations are the contract's.
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "patch", "put", "delete"].contains(&method.as_str()) {
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let contract: BTreeSet<(String, String)> = CONTRACT
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, contract);

    // Each is served: whatever it answers without a token, it is not the router's fallback.
    for (method, path) in &documented {
        let url = server.url(
            &path
                .replace("{id}", "1")
                .replace("{room}", "123456")
                .replace("{start}", "2026-12-14T09:00:00Z"),
        );
        let agent = client();
        let reply = match method.as_str() {
            "get" => agent.get(&url).call(),
            "post" => agent
                .post(&url)
                .header("content-type", "application/json")
                .send("{}"),
            "patch" => agent
                .patch(&url)
                .header("content-type", "application/json")
                .send("{}"),
            "delete" => agent.delete(&url).call(),
            other => panic!("{other}"),
        };
        let mut reply = reply.unwrap();
        let status = reply.status().as_u16();
        let body = reply.body_mut().read_to_string().unwrap_or_default();
        assert!(
            status != 405 && !body.contains("\"not_found\""),
            "{method} {path}: {status} {body}"
        );
    }
    // And something undocumented is not.
    let undocumented = pont_tests::get(&server.url("/api/v1/undocumented"), &[]);
    assert_eq!(undocumented.status, 404);

    // Types clients are generated from: the meeting's fields, the error shape, both logins.
    let meeting = &doc["components"]["schemas"]["MeetingBody"]["properties"];
    for field in ["room_number", "web_link", "dial_in", "pin", "start"] {
        assert!(
            meeting.get(field).is_some(),
            "MeetingBody.{field}: {meeting}"
        );
    }
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert!(error["properties"]["error"].is_object(), "{error}");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["name"], "pont_session");

    // An independent validator agrees it is OpenAPI 3.1.
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &r.body).unwrap();
    let have = Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        eprintln!(
            "SKIPPED (validator part): python3 -m pip install -r tests/requirements.txt \
             (bash tools/test-deps)"
        );
        return;
    }
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("OK"), "{said}");
}
