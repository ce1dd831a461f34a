//! In the meeting, over the real signalling and API of a running `pont`: the waiting room,
//! moderators and their actions, raised hands, the chat — and the bad input of each.

use pont_tests::ws::WsClient;
use pont_tests::{Server, bearer, create_token, get, send, session_cookie};
use serde_json::{Value, json};

/// A scheduled meeting with the waiting room on; its room number.
fn waiting_room_meeting(server: &Server, token: &str) -> u64 {
    let reply = send(
        "POST",
        &server.url("/api/v1/meetings"),
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer(token)),
        ],
        r#"{"subject": "Thesis defence", "start": "2026-12-01T09:30:00Z", "waiting_room": true}"#,
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    reply.json()["room_number"].as_u64().unwrap()
}

fn ws(server: &Server, room: u64, cookie: Option<&str>) -> WsClient {
    WsClient::connect_with(server.http, &format!("/api/v1/rooms/{room}/ws"), cookie)
}

fn join(c: &mut WsClient, name: &str) {
    c.send_json(&json!({"v": 1, "type": "join", "name": name}));
}

/// The next error message, skipping everything else.
fn error_code(c: &mut WsClient) -> String {
    c.recv_type("error")["code"].as_str().unwrap().to_owned()
}

fn api(server: &Server, token: &str, path: &str, body: &str) -> pont_tests::Reply {
    send(
        "POST",
        &server.url(path),
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer(token)),
        ],
        body,
    )
}

fn room_state(server: &Server, token: &str, room: u64) -> Vec<Value> {
    let reply = get(
        &server.url(&format!("/api/v1/rooms/{room}")),
        &[("authorization", &bearer(token))],
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()["participants"].as_array().unwrap().clone()
}

/// A running bridge with an instant room, its organizer Ana (signed in: she moderates) and a
/// guest Bob in it over signalling; Mallory is another organizer. Keep `_dir` bound: it holds
/// the bridge's data folder.
struct AnaAndBob {
    _dir: tempfile::TempDir,
    server: Server,
    token: String,
    other: String,
    room: u64,
    ana: WsClient,
    bob: WsClient,
    bob_id: Value,
}

fn ana_and_bob() -> AnaAndBob {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "Ana");
    let other = create_token(&dir.path().join("data"), "Mallory");
    let server = Server::start(dir.path());
    let room = pont_tests::instant_room(&server, &token);
    let cookie = session_cookie(&server, &token);
    let mut ana = ws(&server, room, Some(&cookie));
    join(&mut ana, "Ana");
    ana.recv_type("joined");
    let mut bob = ws(&server, room, None);
    join(&mut bob, "Bob");
    let bob_id = bob.recv_type("joined")["participant_id"].clone();
    AnaAndBob {
        _dir: dir,
        server,
        token,
        other,
        room,
        ana,
        bob,
        bob_id,
    }
}

#[test]
fn the_waiting_room_holds_guests_until_a_moderator_lets_them_in() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "Ana");
    let other = create_token(&dir.path().join("data"), "Mallory");
    let server = Server::start(dir.path());
    let room = waiting_room_meeting(&server, &token);
    let cookie = session_cookie(&server, &token);

    // The organizer, signed in, goes straight in and moderates.
    let mut ana = ws(&server, room, Some(&cookie));
    join(&mut ana, "Ana");
    let joined = ana.recv_type("joined");
    let ana_id = joined["participant_id"].as_str().unwrap().to_owned();
    assert_eq!(joined["participants"][0]["role"], "moderator", "{joined}");
    assert_eq!(ana.recv_type("waiting_room")["waiting"], json!([]));

    // A guest waits: no offer, no roster, only `waiting`.
    let mut bob = ws(&server, room, None);
    join(&mut bob, "Bob <b>");
    let waiting = bob.recv().unwrap();
    assert_eq!(waiting["type"], "waiting", "{waiting}");
    let bob_id = waiting["participant_id"].as_str().unwrap().to_owned();
    let list = ana.recv_type("waiting_room");
    assert_eq!(
        list["waiting"],
        json!([{"id": bob_id, "kind": "web", "display_name": "Bob <b>"}])
    );
    let people = room_state(&server, &token, room);
    let states: Vec<(&str, &str)> = people
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        vec![(ana_id.as_str(), "in"), (bob_id.as_str(), "waiting")]
    );

    // While waiting he can neither chat, raise a hand, nor let himself in.
    bob.send_json(&json!({"v": 1, "type": "chat", "text": "let me in"}));
    assert_eq!(error_code(&mut bob), "not_in_room");
    bob.send_json(&json!({"v": 1, "type": "hand", "raised": true}));
    assert_eq!(error_code(&mut bob), "waiting");
    bob.send_json(
        &json!({"v": 1, "type": "moderate", "action": "admit", "participant_id": bob_id}),
    );
    assert_eq!(error_code(&mut bob), "not_moderator");

    // The moderator lets him in from the page: he gets `joined` and an offer, as any joiner.
    ana.send_json(
        &json!({"v": 1, "type": "moderate", "action": "admit", "participant_id": bob_id}),
    );
    let joined = bob.recv_type("joined");
    assert_eq!(joined["participant_id"], bob_id.as_str());
    bob.recv_type("offer");
    assert_eq!(
        ana.recv_type("participant_joined")["participant"]["id"],
        bob_id.as_str()
    );
    assert_eq!(ana.recv_type("waiting_room")["waiting"], json!([]));
    // Admitting twice is refused with a reason.
    ana.send_json(
        &json!({"v": 1, "type": "moderate", "action": "admit", "participant_id": bob_id}),
    );
    assert_eq!(error_code(&mut ana), "not_waiting");

    // Turned away through the API: told why, and the socket closes.
    let mut eve = ws(&server, room, None);
    join(&mut eve, "Eve");
    let eve_id = eve.recv_type("waiting")["participant_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = api(
        &server,
        &token,
        &format!("/api/v1/rooms/{room}/participants/{eve_id}"),
        r#"{"action": "remove"}"#,
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        eve.recv_type("removed")["reason"],
        "turned_away",
        "turned away"
    );
    assert!(eve.recv().is_none(), "the socket closes after `removed`");

    // Someone who waited and left cannot be admitted: a 404 with its code, nobody disturbed.
    let mut zoe = ws(&server, room, None);
    join(&mut zoe, "Zoe");
    let zoe_id = zoe.recv_type("waiting")["participant_id"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(zoe);
    let gone = pont_tests::webdriver::poll(std::time::Duration::from_secs(30), || {
        room_state(&server, &token, room)
            .iter()
            .all(|p| p["id"] != zoe_id.as_str())
            .then_some(())
    });
    assert!(gone.is_some(), "the waiting guest who left is not listed");
    let reply = api(
        &server,
        &token,
        &format!("/api/v1/rooms/{room}/participants/{zoe_id}"),
        r#"{"action": "admit"}"#,
    );
    assert_eq!(reply.status, 404, "{reply:?}");
    assert_eq!(reply.error_code(), "participant_not_found");
    // Bad actions and ids get their codes.
    let reply = api(
        &server,
        &token,
        &format!("/api/v1/rooms/{room}/participants/{bob_id}"),
        r#"{"action": "promote"}"#,
    );
    assert_eq!(reply.status, 422, "{reply:?}");
    assert_eq!(reply.error_code(), "invalid_action");
    let reply = api(
        &server,
        &token,
        &format!("/api/v1/rooms/{room}/participants/bob"),
        r#"{"action": "mute"}"#,
    );
    assert_eq!(reply.status, 404, "{reply:?}");

    // Another organizer cannot moderate this room: it is not theirs.
    let reply = api(
        &server,
        &other,
        &format!("/api/v1/rooms/{room}/admit_all"),
        "",
    );
    assert_eq!(reply.status, 404, "{reply:?}");
    assert_eq!(reply.error_code(), "room_not_found");

    // Admit all lets in everyone waiting, longest waiting first.
    let mut w1 = ws(&server, room, None);
    join(&mut w1, "W1");
    let w1_id = w1.recv_type("waiting")["participant_id"].clone();
    let mut w2 = ws(&server, room, None);
    join(&mut w2, "W2");
    let w2_id = w2.recv_type("waiting")["participant_id"].clone();
    let reply = api(
        &server,
        &token,
        &format!("/api/v1/rooms/{room}/admit_all"),
        "",
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["participants"], json!([w1_id, w2_id]));
    w1.recv_type("joined");
    w2.recv_type("joined");
}

#[test]
fn moderators_mute_lower_hands_name_moderators_and_end_the_meeting() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "Ana");
    let server = Server::start(dir.path());
    let room = pont_tests::instant_room(&server, &token);
    let cookie = session_cookie(&server, &token);
    let mut ana = ws(&server, room, Some(&cookie));
    join(&mut ana, "Ana");
    let ana_id = ana.recv_type("joined")["participant_id"].clone();
    let mut bob = ws(&server, room, None);
    join(&mut bob, "Bob");
    let bob_id = bob.recv_type("joined")["participant_id"].clone();
    let mut cat = ws(&server, room, None);
    join(&mut cat, "Cat");
    let cat_id = cat.recv_type("joined")["participant_id"].clone();

    // Hands: in the order raised, for everyone.
    cat.send_json(&json!({"v": 1, "type": "hand", "raised": true}));
    assert_eq!(
        ana.recv_type("hands")["participant_ids"],
        json!([cat_id.clone()])
    );
    bob.send_json(&json!({"v": 1, "type": "hand", "raised": true}));
    assert_eq!(
        cat.recv_type("hands")["participant_ids"],
        json!([cat_id.clone()])
    );
    assert_eq!(
        cat.recv_type("hands")["participant_ids"],
        json!([cat_id.clone(), bob_id.clone()])
    );
    // A participant cannot lower another's hand; a moderator can.
    bob.send_json(
        &json!({"v": 1, "type": "moderate", "action": "lower_hand", "participant_id": cat_id}),
    );
    assert_eq!(error_code(&mut bob), "not_moderator");
    ana.send_json(
        &json!({"v": 1, "type": "moderate", "action": "lower_hand", "participant_id": cat_id}),
    );
    let hands = loop {
        let h = bob.recv_type("hands");
        if h["participant_ids"] == json!([bob_id.clone()]) {
            break h;
        }
    };
    assert_eq!(hands["participant_ids"], json!([bob_id.clone()]));

    // Mute by a moderator: everyone sees it, marked as the moderator's doing.
    ana.send_json(&json!({"v": 1, "type": "moderate", "action": "mute", "participant_id": bob_id}));
    let muted = bob.recv_type("muted");
    assert_eq!(muted["participant_id"], bob_id);
    assert_eq!(muted["audio"], true);
    assert_eq!(muted["by_moderator"], true);
    // Unmuting a browser is only asked of it.
    ana.send_json(
        &json!({"v": 1, "type": "moderate", "action": "unmute", "participant_id": bob_id}),
    );
    bob.recv_type("unmute_requested");

    // Bob, named moderator, may now act; the API shows his role.
    ana.send_json(
        &json!({"v": 1, "type": "moderate", "action": "make_moderator", "participant_id": bob_id}),
    );
    let role = cat.recv_type("role");
    assert_eq!(
        (role["participant_id"].clone(), role["role"].clone()),
        (bob_id.clone(), json!("moderator"))
    );
    let people = room_state(&server, &token, room);
    let bob_row = people.iter().find(|p| p["id"] == bob_id).unwrap();
    assert_eq!(bob_row["role"], "moderator", "{people:?}");
    assert_eq!(bob_row["hand"], true, "{people:?}");

    // Mute all: everyone but the moderators.
    let reply = api(
        &server,
        &token,
        &format!("/api/v1/rooms/{room}/mute_all"),
        "",
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["participants"], json!([cat_id.clone()]));

    // End for all: everyone is told, and the sockets close.
    let reply = api(&server, &token, &format!("/api/v1/rooms/{room}/end"), "");
    assert_eq!(reply.status, 200, "{reply:?}");
    let ended: Vec<Value> = reply.json()["participants"].as_array().unwrap().clone();
    assert_eq!(ended.len(), 3, "{ended:?}");
    assert!(ended.contains(&ana_id));
    for c in [&mut ana, &mut bob, &mut cat] {
        assert_eq!(c.recv_type("removed")["reason"], "ended");
        assert!(c.recv().is_none());
    }
    assert!(room_state(&server, &token, room).is_empty());
}

#[test]
fn moderators_lock_the_room_from_the_page_or_the_api_and_everyone_sees_it() {
    let AnaAndBob {
        _dir,
        server,
        token,
        room,
        mut ana,
        mut bob,
        ..
    } = ana_and_bob();
    let locked = |server: &Server| {
        let reply = get(
            &server.url(&format!("/api/v1/rooms/{room}")),
            &[("authorization", &bearer(&token))],
        );
        reply.json()["locked"].clone()
    };

    // Only a moderator locks.
    bob.send_json(&json!({"v": 1, "type": "moderate", "action": "lock"}));
    assert_eq!(error_code(&mut bob), "not_moderator");
    assert_eq!(locked(&server), false);

    // Locked from the page: everyone in sees it, nobody new gets in, the API says so.
    ana.send_json(&json!({"v": 1, "type": "moderate", "action": "lock"}));
    assert_eq!(bob.recv_type("locked")["locked"], true);
    assert_eq!(ana.recv_type("locked")["locked"], true);
    assert_eq!(locked(&server), true);
    let mut cat = ws(&server, room, None);
    join(&mut cat, "Cat");
    assert_eq!(error_code(&mut cat), "room_locked");

    // Unlocked from the page, locked again through the API: those in the room see both.
    ana.send_json(&json!({"v": 1, "type": "moderate", "action": "unlock"}));
    assert_eq!(bob.recv_type("locked")["locked"], false);
    let reply = api(
        &server,
        &token,
        &format!("/api/v1/rooms/{room}/lock"),
        r#"{"locked": true}"#,
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(bob.recv_type("locked")["locked"], true);
    let reply = api(
        &server,
        &token,
        &format!("/api/v1/rooms/{room}/lock"),
        r#"{"locked": false}"#,
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(bob.recv_type("locked")["locked"], false);
    let mut dan = ws(&server, room, None);
    join(&mut dan, "Dan");
    dan.recv_type("joined");
}

#[test]
fn a_named_moderator_records_from_the_page_for_the_organizer() {
    let AnaAndBob {
        _dir,
        server,
        token,
        room,
        mut ana,
        mut bob,
        bob_id,
        ..
    } = ana_and_bob();
    let record = |c: &mut WsClient, what: &str| {
        c.send_json(&json!({"v": 1, "type": "moderate", "action": format!("record_{what}")}));
    };
    let state = |c: &mut WsClient| c.recv_type("recording")["state"].clone();

    // Not a moderator yet: refused, and nothing is recorded.
    record(&mut bob, "start");
    assert_eq!(error_code(&mut bob), "not_moderator");
    ana.send_json(
        &json!({"v": 1, "type": "moderate", "action": "make_moderator", "participant_id": bob_id}),
    );
    bob.recv_type("role");
    // Named moderator: he records, pauses, resumes, stops; everyone sees each state.
    record(&mut bob, "start");
    assert_eq!(state(&mut ana), "recording");
    assert_eq!(state(&mut bob), "recording");
    record(&mut bob, "start");
    assert_eq!(error_code(&mut bob), "wrong_state");
    record(&mut bob, "pause");
    assert_eq!(state(&mut ana), "paused");
    record(&mut bob, "resume");
    assert_eq!(state(&mut ana), "recording");
    record(&mut bob, "stop");
    assert_eq!(state(&mut ana), "off");
    // An unknown recording command is refused as an unknown action.
    record(&mut bob, "rewind");
    assert_eq!(error_code(&mut bob), "invalid_message");
    // The recording is the organizer's.
    let list = get(
        &server.url("/api/v1/recordings"),
        &[("authorization", &bearer(&token))],
    );
    assert_eq!(list.status, 200, "{list:?}");
    let recordings = list.json();
    let all = recordings
        .as_array()
        .or_else(|| recordings["recordings"].as_array())
        .cloned()
        .unwrap_or_default();
    assert_eq!(all.len(), 1, "{recordings}");
    assert_eq!(all[0]["room_number"], room, "{recordings}");
}

#[test]
fn polls_are_asked_voted_shared_closed_and_exported() {
    let AnaAndBob {
        _dir,
        server,
        token,
        other,
        room,
        mut ana,
        mut bob,
        ..
    } = ana_and_bob();
    let open = |c: &mut WsClient, poll: Value| {
        c.send_json(&json!({"v": 1, "type": "moderate", "action": "poll_open", "poll": poll}));
    };
    let vote = |c: &mut WsClient, id: u64, choices: Value| {
        c.send_json(&json!({"v": 1, "type": "vote", "poll_id": id, "choices": choices}));
    };
    let lunch = json!({"question": "Lunch?", "choices": ["Pizza", "Salad", "Soup"]});

    // Only moderators ask; a bad poll is refused.
    open(&mut bob, lunch.clone());
    assert_eq!(error_code(&mut bob), "not_moderator");
    open(
        &mut ana,
        json!({"question": "Lunch?", "choices": ["Only one"]}),
    );
    assert_eq!(error_code(&mut ana), "poll_bad_choices");
    open(&mut ana, json!({"question": " ", "choices": ["a", "b"]}));
    assert_eq!(error_code(&mut ana), "poll_bad_question");

    open(&mut ana, lunch.clone());
    let poll = bob.recv_type("poll")["poll"].clone();
    assert_eq!(
        (
            poll["question"].clone(),
            poll["choices"].clone(),
            poll["state"].clone()
        ),
        (
            json!("Lunch?"),
            json!(["Pizza", "Salad", "Soup"]),
            json!("open")
        )
    );
    let id = poll["id"].as_u64().unwrap();
    assert_eq!(ana.recv_type("poll_results")["voters"], 0);
    open(&mut ana, lunch.clone());
    assert_eq!(error_code(&mut ana), "poll_already_open");

    // Bob votes, changes his mind; the moderator sees it live, with his name.
    vote(&mut bob, id, json!([1]));
    let r = ana.recv_type("poll_results");
    assert_eq!(r["counts"], json!([0, 1, 0]), "{r}");
    assert_eq!(
        r["ballots"],
        json!([{"name": "Bob", "choices": [1]}]),
        "{r}"
    );
    vote(&mut bob, id, json!([2]));
    assert_eq!(ana.recv_type("poll_results")["counts"], json!([0, 0, 1]));
    // Bad votes: out of range, two in a single-answer poll, none, no such poll.
    for (choices, poll_id, code) in [
        (json!([3]), id, "poll_bad_vote"),
        (json!([0, 1]), id, "poll_bad_vote"),
        (json!([]), id, "poll_bad_vote"),
        (json!([0]), 99, "poll_not_found"),
    ] {
        vote(&mut bob, poll_id, choices);
        assert_eq!(error_code(&mut bob), code);
    }
    bob.send_json(&json!({"v": 1, "type": "vote", "poll_id": id, "choices": [300]}));
    assert_eq!(error_code(&mut bob), "invalid_message");
    // Bob never saw the live results; shared, everyone does.
    ana.send_json(&json!({"v": 1, "type": "moderate", "action": "poll_share", "poll_id": id}));
    let shared = bob.recv_type("poll_results");
    assert_eq!(
        (shared["shared"].clone(), shared["counts"].clone()),
        (json!(true), json!([0, 0, 1]))
    );
    // Closed: no more votes; a latecomer gets the poll and its shared results.
    ana.send_json(&json!({"v": 1, "type": "moderate", "action": "poll_close", "poll_id": id}));
    assert_eq!(bob.recv_type("poll")["poll"]["state"], "closed");
    vote(&mut bob, id, json!([0]));
    assert_eq!(error_code(&mut bob), "poll_closed");
    let mut cat = ws(&server, room, None);
    join(&mut cat, "Cat");
    cat.recv_type("joined");
    assert_eq!(cat.recv_type("poll")["poll"]["id"], id);
    assert_eq!(cat.recv_type("poll_results")["counts"], json!([0, 0, 1]));

    // The API and its CSV export, for the room's organizer only.
    let polls = get(
        &server.url(&format!("/api/v1/rooms/{room}/polls")),
        &[("authorization", &bearer(&token))],
    );
    assert_eq!(polls.status, 200, "{polls:?}");
    assert_eq!(polls.json()["polls"][0]["results"]["voters"], 1);
    let csv = get(
        &server.url(&format!("/api/v1/rooms/{room}/polls.csv")),
        &[("authorization", &bearer(&token))],
    );
    assert_eq!(csv.status, 200, "{csv:?}");
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(
        lines,
        vec![
            "poll,question,kind,choice,votes,voter",
            "1,Lunch?,choice,Pizza,0,",
            "1,Lunch?,choice,Salad,0,",
            "1,Lunch?,choice,Soup,1,",
            "1,Lunch?,ballot,Soup,,Bob",
        ]
    );
    for path in ["polls", "polls.csv", "polls/1"] {
        let r = get(
            &server.url(&format!("/api/v1/rooms/{room}/{path}")),
            &[("authorization", &bearer(&other))],
        );
        assert_eq!(r.status, 404, "{path}: {r:?}");
    }

    // The contract's API: open, read, close.
    let reply = api(
        &server,
        &token,
        &format!("/api/v1/rooms/{room}/polls"),
        r#"{"question": "Coffee?", "choices": ["Yes", "No"], "multiple": false, "anonymous": true}"#,
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    let second = reply.json()["id"].as_u64().unwrap();
    assert_eq!(second, 2);
    assert_eq!(bob.recv_type("poll")["poll"]["question"], "Coffee?");
    vote(&mut bob, second, json!([0]));
    let read = |id: &str| {
        get(
            &server.url(&format!("/api/v1/rooms/{room}/polls/{id}")),
            &[("authorization", &bearer(&token))],
        )
    };
    let p = pont_tests::webdriver::poll(std::time::Duration::from_secs(30), || {
        let r = read("2").json();
        (r["voters"] == 1).then_some(r)
    })
    .expect("Bob's vote in the poll");
    assert_eq!(
        (
            p["question"].clone(),
            p["choices"].clone(),
            p["open"].clone(),
            p["ballots"].clone()
        ),
        (
            json!("Coffee?"),
            json!([{"text": "Yes", "votes": 1}, {"text": "No", "votes": 0}]),
            json!(true),
            json!([])
        ),
        "anonymous: no ballots"
    );
    let reply = api(
        &server,
        &token,
        &format!("/api/v1/rooms/{room}/polls/2/close"),
        "",
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(read("2").json()["open"], false);
    for (body, status, code) in [
        (
            r#"{"question": "Q", "choices": ["1","2","3","4","5","6","7","8","9","10"]}"#,
            422,
            "poll_bad_choices",
        ),
        (
            r#"{"question": "Q", "choices": "yes, no"}"#,
            422,
            "poll_bad_choices",
        ),
        (r#"{"choices": ["a", "b"]}"#, 422, "poll_bad_question"),
    ] {
        let reply = api(
            &server,
            &token,
            &format!("/api/v1/rooms/{room}/polls"),
            body,
        );
        assert_eq!(
            (reply.status, reply.error_code()),
            (status, code.to_owned()),
            "{body}"
        );
    }
    assert_eq!(read("99").status, 404);
    assert_eq!(read("x").error_code(), "poll_not_found");
}

#[test]
fn chat_reaches_everyone_is_kept_for_latecomers_and_refuses_floods() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "Ana");
    let server = Server::start(dir.path());
    let room = pont_tests::instant_room(&server, &token);
    let mut ana = ws(&server, room, None);
    join(&mut ana, "Ana");
    let ana_id = ana.recv_type("joined")["participant_id"].clone();
    let mut bob = ws(&server, room, None);
    join(&mut bob, "Bob");
    bob.recv_type("joined");

    // HTML is text: kept as typed, shown as text by the page.
    let text = "<img src=x onerror=alert(1)> bonjour à tous";
    ana.send_json(&json!({"v": 1, "type": "chat", "text": text}));
    let line = bob.recv_type("chat");
    assert_eq!(line["text"], text);
    assert_eq!(line["name"], "Ana");
    assert_eq!(line["from"], ana_id);
    assert!(line["at"].as_i64().unwrap() > 1_700_000_000_000, "{line}");

    // A 1 MB message: refused, the sender told, nobody else disturbed.
    let big = "x".repeat(1_000_000);
    ana.send_json(&json!({"v": 1, "type": "chat", "text": big}));
    assert_eq!(error_code(&mut ana), "chat_too_long");

    // 100 messages at once: a burst passes, the rest is refused (each refusal told to the
    // sender); Bob can still talk.
    for i in 0..100 {
        ana.send_json(&json!({"v": 1, "type": "chat", "text": format!("flood {i}")}));
    }
    let (mut flood, mut refused) = (0, 0);
    while flood + refused < 100 {
        let m = ana.recv().expect("an answer to each message");
        match m["type"].as_str() {
            Some("chat") => flood += 1,
            Some("error") => {
                assert_eq!(m["code"], "chat_rate_limited", "{m}");
                refused += 1;
            }
            _ => {}
        }
    }
    assert!(
        (1..=5).contains(&flood),
        "{flood} flood messages got through"
    );
    bob.send_json(&json!({"v": 1, "type": "chat", "text": "still here"}));
    let mut seen = 0;
    loop {
        let m = bob.recv_type("chat");
        if m["text"] == "still here" {
            break;
        }
        seen += 1;
    }
    assert_eq!(seen, flood, "Bob saw exactly the messages that passed");

    // A latecomer gets the history, in order, after `joined`.
    let mut cat = ws(&server, room, None);
    join(&mut cat, "Cat");
    cat.recv_type("joined");
    let history = cat.recv_type("chat_history");
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.first(), Some(&text));
    assert_eq!(texts.last(), Some(&"still here"));
    assert_eq!(texts.len(), flood + 2, "{texts:?}");
    // An empty message is refused.
    cat.send_json(&json!({"v": 1, "type": "chat", "text": "   "}));
    assert_eq!(error_code(&mut cat), "chat_empty");
    // A chat before joining is refused.
    let mut early = ws(&server, room, None);
    early.send_json(&json!({"v": 1, "type": "chat", "text": "hi"}));
    assert_eq!(error_code(&mut early), "not_joined");
}

#[test]
fn the_chat_said_while_recording_is_saved_beside_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "Ana");
    let other = create_token(&dir.path().join("data"), "Mallory");
    let server = Server::start(dir.path());
    let room = pont_tests::instant_room(&server, &token);
    let mut ana = ws(&server, room, None);
    join(&mut ana, "Ana");
    ana.recv_type("joined");
    let say = |c: &mut WsClient, text: &str| {
        c.send_json(&json!({"v": 1, "type": "chat", "text": text}));
        // Its own line comes back once the shard has taken it.
        loop {
            let m = c.recv_type("chat");
            if m["text"] == text {
                break;
            }
        }
    };
    let record = |action: &str| {
        let reply = api(
            &server,
            &token,
            &format!("/api/v1/rooms/{room}/recording"),
            &json!({ "action": action }).to_string(),
        );
        assert_eq!(reply.status, 200, "{action}: {reply:?}");
        reply.json()
    };
    let wait_state = |c: &mut WsClient, state: &str| loop {
        if c.recv_type("recording")["state"] == state {
            break;
        }
    };
    say(&mut ana, "before the recording");
    let id = record("start")["id"].as_i64().unwrap();
    wait_state(&mut ana, "recording");
    say(&mut ana, "first line\nsecond line");
    record("pause");
    wait_state(&mut ana, "paused");
    say(&mut ana, "off the record");
    record("resume");
    wait_state(&mut ana, "recording");
    say(&mut ana, "<b>back</b>");
    record("stop");
    wait_state(&mut ana, "off");

    let chat = |t: &str| {
        get(
            &server.url(&format!("/api/v1/recordings/{id}/chat")),
            &[("authorization", &bearer(t))],
        )
    };
    let reply = pont_tests::webdriver::poll(std::time::Duration::from_secs(30), || {
        let r = chat(&token);
        (r.status == 200 && r.body.contains("back")).then_some(r)
    })
    .expect("the chat file beside the recording");
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let lines: Vec<&str> = reply.body.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].ends_with(" Ana: first line / second line"),
        "{lines:?}"
    );
    assert!(lines[1].ends_with(" Ana: <b>back</b>"), "{lines:?}");
    assert!(
        lines[0].starts_with("20") && lines[0].contains('T'),
        "{lines:?}"
    );
    // Not someone else's to read.
    assert_eq!(chat(&other).status, 404);

    // The recording's page offers it to its owner; a recording nobody chatted in does not.
    let cookie = session_cookie(&server, &token);
    let page = |id: i64| {
        get(
            &server.url(&format!("/recordings/{id}")),
            &[("cookie", &cookie)],
        )
    };
    let with_chat = page(id);
    assert_eq!(with_chat.status, 200, "{with_chat:?}");
    assert!(
        with_chat
            .body
            .contains(&format!("href=\"/api/v1/recordings/{id}/chat\" download")),
        "{}",
        with_chat.body
    );
    let silent = record("start")["id"].as_i64().unwrap();
    wait_state(&mut ana, "recording");
    record("stop");
    wait_state(&mut ana, "off");
    let without = pont_tests::webdriver::poll(std::time::Duration::from_secs(30), || {
        let p = page(silent);
        (p.status == 200).then_some(p)
    })
    .expect("the silent recording's page");
    assert!(!without.body.contains("/chat\""), "{}", without.body);
    assert_eq!(chat(&token).status, 200);
}
