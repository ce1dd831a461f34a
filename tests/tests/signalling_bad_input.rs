//! The signalling WebSocket: bad messages get an `error` and keep the connection; unknown
//! rooms and full rooms are refused; answers without a fingerprint or a usable codec are
//! refused with `bad_sdp`; garbage on the media port is dropped.

use std::net::UdpSocket;

use pont_tests::ws::WsClient;
use pont_tests::{ServeOptions, Server, bearer, create_token, get, instant_room};
use serde_json::json;

fn ws(server: &Server, room: u64) -> WsClient {
    WsClient::connect(server.http, &format!("/api/v1/rooms/{room}/ws"))
}

#[test]
fn malformed_json_and_unknown_types_keep_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "alice");
    let server = Server::start(dir.path());
    let room = instant_room(&server, &token);
    let mut c = ws(&server, room);

    c.send_text("this is not json {");
    assert_eq!(c.recv_type("error")["code"], "malformed_json");
    c.send_json(&json!({"v": 1, "type": "teleport"}));
    assert_eq!(c.recv_type("error")["code"], "unknown_type");
    c.send_json(&json!({"v": 7, "type": "ping"}));
    assert_eq!(c.recv_type("error")["code"], "unsupported_version");
    c.send_json(&json!({"v": 1, "type": "mute", "audio": "loud"}));
    assert_eq!(c.recv_type("error")["code"], "invalid_message");
    c.send_json(&json!({"v": 1, "type": "answer", "sdp": "v=0"}));
    assert_eq!(c.recv_type("error")["code"], "not_joined");
    // Still open and answering.
    c.send_json(&json!({"v": 1, "type": "ping"}));
    c.recv_type("pong");
}

#[test]
fn unknown_room_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut c = ws(&server, 999_999);
    c.send_json(&json!({"v": 1, "type": "join", "name": "Zoé"}));
    let e = c.recv_type("error");
    assert_eq!(e["code"], "unknown_room", "{e}");
    assert!(c.recv().is_none(), "the server closes after unknown_room");
    assert_eq!(get(&server.url("/r/999999"), &[]).status, 404);
}

#[test]
fn a_full_room_refuses_the_next_participant() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "alice");
    let mut options = ServeOptions::new(dir.path());
    options
        .args
        .extend(["--max-participants".into(), "1".into()]);
    let server = Server::start_with(options).expect("start");
    let room = instant_room(&server, &token);

    let mut first = ws(&server, room);
    first.send_json(&json!({"v": 1, "type": "join", "name": "first"}));
    let joined = first.recv_type("joined");
    assert!(joined["participant_id"].is_string(), "{joined}");

    let mut second = ws(&server, room);
    second.send_json(&json!({"v": 1, "type": "join", "name": "second"}));
    assert_eq!(second.recv_type("error")["code"], "room_full");
}

#[test]
fn answers_without_fingerprint_or_usable_codec_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "alice");
    let server = Server::start(dir.path());
    let room = instant_room(&server, &token);
    let mut c = ws(&server, room);
    c.send_json(&json!({"v": 1, "type": "join", "name": "Ana"}));
    let joined = c.recv_type("joined");
    let offer = c.recv_type("offer");
    let sdp = offer["sdp"].as_str().expect("offer sdp");
    assert!(sdp.contains("a=ice-lite"), "{sdp}");
    assert!(sdp.contains(&format!("{}", server.media().port())), "{sdp}");

    // The offer turned into an answer with the fingerprint removed.
    let answer = sdp
        .replace("a=ice-lite\r\n", "")
        .replace("a=setup:passive", "a=setup:active");
    let no_fp: String = answer
        .lines()
        .filter(|l| !l.starts_with("a=fingerprint"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    c.send_json(&json!({"v": 1, "type": "answer", "sdp": no_fp}));
    let e = c.recv_type("error");
    assert_eq!(e["code"], "bad_sdp");
    assert!(
        e["message"].as_str().unwrap().contains("fingerprint"),
        "{e}"
    );

    // Only a codec the bridge does not offer.
    let no_codec: String = answer
        .lines()
        .filter(|l| {
            !l.starts_with("a=rtpmap") && !l.starts_with("a=fmtp") && !l.starts_with("a=rtcp-fb")
        })
        .map(|l| format!("{l}\r\n"))
        .collect::<String>()
        .replace("a=mid:0\r\n", "a=mid:0\r\na=rtpmap:0 PCMU/8000\r\n");
    c.send_json(&json!({"v": 1, "type": "answer", "sdp": no_codec}));
    let e = c.recv_type("error");
    assert_eq!(e["code"], "bad_sdp");
    assert!(e["message"].as_str().unwrap().contains("codec"), "{e}");

    // Garbage on the media port: dropped, counted, the server keeps serving.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for junk in [
        &b""[..],
        b"\x00\x01\x00\x00garbage",
        &[0x80; 40],
        &[0x16; 13],
        b"\xff",
    ] {
        udp.send_to(junk, server.media()).unwrap();
    }
    c.send_json(&json!({"v": 1, "type": "ping"}));
    c.recv_type("pong");
    let metrics = get(&server.url("/metrics"), &[]).body;
    assert!(
        metrics.contains("pont_udp_unrouted_datagrams_total"),
        "{metrics}"
    );

    // The participant shows in the API as a web participant until the socket closes.
    let auth = bearer(&token);
    let api = get(
        &server.url(&format!("/api/v1/rooms/{room}")),
        &[("authorization", &auth)],
    )
    .json();
    assert_eq!(api["participants"][0]["kind"], "web", "{api}");
    assert_eq!(
        api["participants"][0]["id"], joined["participant_id"],
        "{api}"
    );
    drop(c);
    let gone = pont_tests::webdriver::poll(pont_tests::EVENT_WAIT, || {
        let api = get(
            &server.url(&format!("/api/v1/rooms/{room}")),
            &[("authorization", &auth)],
        )
        .json();
        api["participants"]
            .as_array()
            .filter(|p| p.is_empty())
            .map(|_| ())
    });
    assert!(
        gone.is_some(),
        "closing the WebSocket removes the participant"
    );
}
