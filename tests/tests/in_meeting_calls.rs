//! The waiting room and moderators' actions reach SIP callers too, checked on what two real
//! baresip callers hear (Goertzel on each one's tone): a caller in the waiting room hears the
//! waiting prompt and nothing of the room, the room hears nothing of it; let in, it hears the
//! room and is muted until a moderator unmutes it; "mute all" takes its tone out of the mix.
//! Skips (and says so) when baresip is not installed; the README's test command installs it.

use std::time::{Duration, Instant};

use pont_tests::peers::{baresip, goertzel, recorded, wait_exit};
use pont_tests::webdriver::poll;
use pont_tests::ws::WsClient;
use pont_tests::{Server, bearer, create_token, get, send, session_cookie, tool};
use serde_json::Value;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);
/// How long each phase of the call is listened to.
const PHASE: Duration = Duration::from_secs(5);
const ROOM_TONE: f64 = 1300.0;
const CALLER_TONE: f64 = 700.0;

struct Meeting {
    server: Server,
    token: String,
    room: u64,
}

impl Meeting {
    fn participants(&self) -> Vec<Value> {
        let reply = get(
            &self.server.url(&format!("/api/v1/rooms/{}", self.room)),
            &[("authorization", &bearer(&self.token))],
        );
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()["participants"].as_array().unwrap().clone()
    }

    /// The id of the one SIP participant in `state` not in `except`, once there is one.
    fn sip_in_state(&self, state: &str, except: &[String]) -> String {
        poll(WAIT, || {
            self.participants().into_iter().find_map(|p| {
                let id = p["id"].as_str()?.to_owned();
                (p["kind"] == "sip" && p["state"] == state && !except.contains(&id)).then_some(id)
            })
        })
        .unwrap_or_else(|| {
            panic!(
                "no SIP participant {state}: {:?}\n{}",
                self.participants(),
                self.server.stderr()
            )
        })
    }

    fn act(&self, path: &str, body: &str) {
        let reply = send(
            "POST",
            &self
                .server
                .url(&format!("/api/v1/rooms/{}{path}", self.room)),
            &[
                ("content-type", "application/json"),
                ("authorization", &bearer(&self.token)),
            ],
            body,
        );
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
    }

    fn on(&self, id: &str, action: &str) {
        self.act(
            &format!("/participants/{id}"),
            &format!(r#"{{"action": "{action}"}}"#),
        );
    }

    fn muted(&self, id: &str) -> bool {
        self.participants()
            .iter()
            .any(|p| p["id"] == id && p["muted"] == true)
    }
}

/// A bridge in `dir` with a scheduled meeting that has a waiting room.
fn waiting_room_meeting(dir: &std::path::Path) -> Meeting {
    let token = create_token(&dir.join("data"), "Ana");
    let server = Server::start(dir);
    let reply = send(
        "POST",
        &server.url("/api/v1/meetings"),
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer(&token)),
        ],
        r#"{"subject": "Jury", "start": "2026-12-01T09:30:00Z", "waiting_room": true}"#,
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    let room = reply.json()["room_number"].as_u64().unwrap();
    Meeting {
        server,
        token,
        room,
    }
}

/// Energy of `freq` in the recording between `from` and `to` after its start, with half a
/// second trimmed at each end (the instants are the test's, the recording's start the call's).
fn tone_between(rec: &(u32, Vec<i16>), from: Duration, to: Duration, freq: f64) -> f64 {
    let (rate, samples) = rec;
    let at = |d: Duration| ((d.as_secs_f64() * f64::from(*rate)) as usize).min(samples.len());
    let trim = Duration::from_millis(500);
    let (a, b) = (at(from + trim), at(to.saturating_sub(trim)));
    assert!(
        b > a + *rate as usize,
        "the recording is too short ({} samples) for {from:?}..{to:?}",
        samples.len()
    );
    goertzel(&samples[a..b], *rate, freq)
}

fn rms(rec: &(u32, Vec<i16>), from: Duration, to: Duration) -> f64 {
    let (rate, samples) = rec;
    let at = |d: Duration| ((d.as_secs_f64() * f64::from(*rate)) as usize).min(samples.len());
    let s = &samples[at(from)..at(to)];
    (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

#[test]
fn a_sip_caller_waits_hears_the_prompt_then_the_room_and_is_muted_until_unmuted() {
    if tool("baresip").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let m = waiting_room_meeting(dir.path());
    let room = m.room;
    let uri = format!("sip:{room}@{}", m.server.sip());

    // The room: a caller let in and unmuted, sending the room's tone.
    let (db, da) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut b = baresip(db.path(), ROOM_TONE, &uri, 45);
    let b_id = m.sip_in_state("waiting", &[]);
    m.on(&b_id, "admit");
    assert!(m.muted(&b_id), "a caller let in enters muted");
    m.on(&b_id, "unmute");
    assert!(!m.muted(&b_id));

    // The caller under test waits.
    let mut a = baresip(da.path(), CALLER_TONE, &uri, 30);
    let a_start = Instant::now();
    let a_id = m.sip_in_state("waiting", std::slice::from_ref(&b_id));
    let waited_from = a_start.elapsed();
    std::thread::sleep(PHASE);
    let waited_to = a_start.elapsed();

    // Let in: muted, hearing the room.
    m.on(&a_id, "admit");
    let in_from = a_start.elapsed();
    assert!(m.muted(&a_id), "a caller let in enters muted");
    std::thread::sleep(PHASE);
    let in_to = a_start.elapsed();

    // Unmuted: the room hears it.
    m.on(&a_id, "unmute");
    let unmuted_from = a_start.elapsed();
    std::thread::sleep(PHASE);
    let unmuted_to = a_start.elapsed();

    // Mute all: its tone leaves the mix again.
    m.act("/mute_all", "");
    let all_from = a_start.elapsed();
    assert!(m.muted(&a_id) && m.muted(&b_id));
    std::thread::sleep(PHASE);
    let all_to = a_start.elapsed();

    // End the meeting: both calls are hung up by the bridge.
    m.act("/end", "");
    wait_exit(&mut a, "baresip a");
    wait_exit(&mut b, "baresip b");
    assert!(poll(WAIT, || m.participants().is_empty().then_some(())).is_some());

    let rec_a = recorded(da.path());
    let rec_b = recorded(db.path());

    // Waiting: A hears the prompt (speech), and none of the room's tone.
    let a_wait_room = tone_between(&rec_a, waited_from, waited_to, ROOM_TONE);
    let a_in_room = tone_between(&rec_a, in_from, in_to, ROOM_TONE);
    assert!(
        rms(&rec_a, waited_from, waited_to) > 200.0,
        "the waiting caller hears the prompt (RMS {:.0})",
        rms(&rec_a, waited_from, waited_to)
    );
    assert!(
        a_in_room > 1000.0 * a_wait_room.max(1.0),
        "A heard the room's tone while waiting ({a_wait_room:.0}) against {a_in_room:.0} once in"
    );
    // The room hears A only once unmuted, and no more after mute all.
    let b_tone = |from: Duration, to: Duration| {
        // B's recording is longer: its end is A's end plus what B had before. Measured from
        // B's end: both calls end at the same `end`, within the hang-up's few ms.
        let (rate, samples) = &rec_b;
        let total = Duration::from_secs_f64(samples.len() as f64 / f64::from(*rate));
        let a_total = Duration::from_secs_f64(rec_a.1.len() as f64 / f64::from(rec_a.0));
        let shift = total.saturating_sub(a_total);
        tone_between(&rec_b, from + shift, to + shift, CALLER_TONE)
    };
    let b_waiting = b_tone(waited_from, waited_to);
    let b_muted = b_tone(in_from, in_to);
    let b_unmuted = b_tone(unmuted_from, unmuted_to);
    let b_all = b_tone(all_from, all_to);
    eprintln!(
        "A heard the room: waiting {a_wait_room:.0}, in {a_in_room:.0}; the room heard A: \
         waiting {b_waiting:.0}, let in muted {b_muted:.0}, unmuted {b_unmuted:.0}, after \
         mute all {b_all:.0}; A's RMS while waiting {:.0}",
        rms(&rec_a, waited_from, waited_to)
    );
    assert!(
        b_unmuted > 1000.0 * b_waiting.max(1.0),
        "the room heard the waiting caller: {b_waiting:.0} against {b_unmuted:.0} once unmuted"
    );
    assert!(
        b_unmuted > 1000.0 * b_muted.max(1.0),
        "the room heard the caller let in muted: {b_muted:.0} against {b_unmuted:.0}"
    );
    assert!(
        b_unmuted > 1000.0 * b_all.max(1.0),
        "mute all left the caller in the mix: {b_all:.0} against {b_unmuted:.0}"
    );
}

#[test]
fn a_moderator_dials_a_room_system_into_the_room_and_it_is_heard() {
    if tool("baresip").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A phone reached through the trunk: a baresip standing in for the trunk, answering.
    let dt = tempfile::tempdir().unwrap();
    let (mut phone, phone_uri) =
        pont_tests::peers::baresip_answering_as(dt.path(), 500.0, 25, "+33123456789");
    let trunk = phone_uri.trim_start_matches("sip:+33123456789@");
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/pont.toml"),
        format!("[dialout]\ntrunk = \"{trunk}\"\n"),
    )
    .unwrap();
    let token = create_token(&dir.path().join("data"), "Ana");
    let server = Server::start(dir.path());
    let room = pont_tests::instant_room(&server, &token);
    let m = Meeting {
        server,
        token,
        room,
    };
    // In the room: a caller with the room's tone.
    let (dr, dc) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let uri = format!("sip:{room}@{}", m.server.sip());
    let mut inside = baresip(dr.path(), ROOM_TONE, &uri, 25);
    let inside_id = m.sip_in_state("in", &[]);
    // Called out: a baresip that answers.
    let (mut called, called_uri) = pont_tests::peers::baresip_answering(dc.path(), CALLER_TONE, 25);
    let reply = send(
        "POST",
        &m.server.url(&format!("/api/v1/rooms/{room}/dial")),
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer(&m.token)),
        ],
        &format!(r#"{{"uri": "{called_uri}"}}"#),
    );
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.json()["state"], "dialling");
    let called_id = m.sip_in_state("in", std::slice::from_ref(&inside_id));
    // A tel: number goes through the trunk, and the phone is in the room too.
    let reply = send(
        "POST",
        &m.server.url(&format!("/api/v1/rooms/{room}/dial")),
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer(&m.token)),
        ],
        r#"{"uri": "tel:+33 1 23 45 67 89"}"#,
    );
    assert_eq!(reply.status, 202, "{reply:?}");
    let phone_id = m.sip_in_state("in", &[inside_id.clone(), called_id.clone()]);
    let phone_row = m
        .participants()
        .into_iter()
        .find(|p| p["id"] == phone_id.as_str())
        .unwrap();
    assert_eq!(phone_row["display_name"], "+33123456789", "{phone_row}");
    // Listened to for a while, then the meeting ends for all.
    std::thread::sleep(PHASE);
    m.act("/end", "");
    wait_exit(&mut inside, "baresip in the room");
    wait_exit(&mut called, "baresip called");
    wait_exit(&mut phone, "baresip behind the trunk");
    assert_ne!(called_id, inside_id);
    // Each hears the other: the last seconds of each recording.
    let last = |rec: &(u32, Vec<i16>), freq: f64| {
        let (rate, samples) = rec;
        let n = samples.len();
        let from = n.saturating_sub((*rate as usize) * 4);
        goertzel(
            &samples[from..n.saturating_sub(*rate as usize / 2)],
            *rate,
            freq,
        )
    };
    let rec_called = recorded(dc.path());
    let rec_inside = recorded(dr.path());
    let (c_room, c_own) = (last(&rec_called, ROOM_TONE), last(&rec_called, CALLER_TONE));
    let (i_called, i_own) = (last(&rec_inside, CALLER_TONE), last(&rec_inside, ROOM_TONE));
    eprintln!(
        "called heard the room {c_room:.0} (own {c_own:.0}); the room heard it {i_called:.0} (own {i_own:.0})"
    );
    assert!(
        c_room > 1000.0 * c_own.max(1.0),
        "the called party hears the room"
    );
    assert!(
        i_called > 1000.0 * i_own.max(1.0),
        "the room hears the called party"
    );

    // Bad dial-outs: clear 4xx with their codes.
    for (body, status, code) in [
        (r#"{"uri": "http://example.org"}"#, 422, "invalid_uri"),
        (r#"{"uri": "tel:+33 12 ab"}"#, 422, "invalid_uri"),
        (r#"{"number": 1}"#, 422, "invalid_uri"),
    ] {
        let reply = send(
            "POST",
            &m.server.url(&format!("/api/v1/rooms/{room}/dial")),
            &[
                ("content-type", "application/json"),
                ("authorization", &bearer(&m.token)),
            ],
            body,
        );
        assert_eq!(reply.status, status, "{body}: {reply:?}");
        assert_eq!(reply.error_code(), code, "{body}");
    }
}

/// The meeting page's dial-out, over its signalling: only moderators may dial, bad targets
/// get their error codes, and the moderators (only they) see each call go: dialling, ringing,
/// answered (it is then in the room) or failed with the callee's status code.
#[test]
fn a_moderator_dials_from_the_page_and_sees_how_each_call_goes() {
    if tool("baresip").is_none() || tool("sipp").is_none() {
        eprintln!("skipped: baresip or sipp is not installed (bash tools/test-deps installs them)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "Ana");
    let server = Server::start(dir.path());
    let room = pont_tests::instant_room(&server, &token);
    let cookie = session_cookie(&server, &token);
    let path = format!("/api/v1/rooms/{room}/ws");
    let mut ana = WsClient::connect_with(server.http, &path, Some(&cookie));
    ana.send_json(&json!({"v": 1, "type": "join", "name": "Ana"}));
    ana.recv_type("joined");
    let mut bob = WsClient::connect_with(server.http, &path, None);
    bob.send_json(&json!({"v": 1, "type": "join", "name": "Bob"}));
    bob.recv_type("joined");
    let dial = |c: &mut WsClient, uri: &str| {
        c.send_json(&json!({"v": 1, "type": "moderate", "action": "dial", "uri": uri}));
    };
    let error = |c: &mut WsClient| c.recv_type("error")["code"].as_str().unwrap().to_owned();

    // Refused: not a moderator, not a target, a number with no trunk configured.
    dial(&mut bob, "sip:1234@127.0.0.1:5999");
    assert_eq!(error(&mut bob), "not_moderator");
    dial(&mut ana, "http://example.org");
    assert_eq!(error(&mut ana), "invalid_uri");
    dial(&mut ana, "");
    assert_eq!(error(&mut ana), "invalid_uri");
    dial(&mut ana, "tel:+33123456789");
    assert_eq!(error(&mut ana), "no_trunk");

    // A callee that rings and is busy.
    let du = tempfile::tempdir().unwrap();
    let (mut busy, target) = pont_tests::peers::sipp_busy_callee(du.path());
    let states = |c: &mut WsClient, until: &str| {
        let mut seen = Vec::new();
        loop {
            let m = c.recv_type("dialout");
            let state = m["state"].as_str().unwrap().to_owned();
            seen.push((state.clone(), m["code"].as_u64(), m["target"].clone()));
            if state == until || state == "failed" {
                return seen;
            }
        }
    };
    dial(&mut ana, &target);
    let seen = states(&mut ana, "failed");
    assert_eq!(
        seen,
        vec![
            ("dialling".to_owned(), None, json!(target)),
            ("ringing".to_owned(), None, json!(target)),
            ("failed".to_owned(), Some(486), json!(target)),
        ],
        "{}",
        server.stderr()
    );
    wait_exit(&mut busy, "sipp, busy");

    // A room system that answers: it is in the room, and Bob (no moderator) was never told.
    let dc = tempfile::tempdir().unwrap();
    let (mut called, called_uri) = pont_tests::peers::baresip_answering(dc.path(), CALLER_TONE, 25);
    dial(&mut ana, &called_uri);
    let seen = states(&mut ana, "answered");
    assert_eq!(
        seen.first().map(|s| s.0.as_str()),
        Some("dialling"),
        "{seen:?}"
    );
    assert_eq!(
        seen.last().map(|s| s.0.as_str()),
        Some("answered"),
        "{seen:?}"
    );
    let joined = loop {
        let m = bob.recv().expect("bob's signalling");
        assert_ne!(
            m["type"], "dialout",
            "a participant is told of dial-outs: {m}"
        );
        if m["type"] == "participant_joined" && m["participant"]["kind"] == "sip" {
            break m;
        }
    };
    assert_eq!(joined["participant"]["kind"], "sip");
    let reply = send(
        "POST",
        &server.url(&format!("/api/v1/rooms/{room}/end")),
        &[("authorization", &bearer(&token))],
        "",
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    wait_exit(&mut called, "baresip called");
}

/// A room system behind NAT waits: its SDP names one port, its RTP comes from another (as a
/// NAT rewrites it). The waiting prompt goes where its RTP comes from — learnt while it waits,
/// as it would be once in the room. A waiting caller that vanishes is hung up, as one in the
/// room would be.
#[test]
fn a_waiting_call_behind_nat_hears_the_prompt_where_its_rtp_comes_from() {
    use std::net::UdpSocket;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let m = waiting_room_meeting(dir.path());
    let room = m.room;
    let bridge = m.server.sip();
    // The port in the SDP (the room system's private one) and the one its packets come from.
    let sdp_port = UdpSocket::bind("127.0.0.1:0").unwrap();
    let real = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    sip.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let local = sip.local_addr().unwrap();
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        sdp_port.local_addr().unwrap().port()
    );
    let invite = format!(
        "INVITE sip:{room}@{bridge} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-nat-1\r\n\
         From: \"Behind NAT\" <sip:nat@{local}>;tag=nat1\r\nTo: <sip:{room}@{bridge}>\r\n\
         Call-ID: nat-{}@test\r\nCSeq: 1 INVITE\r\nContact: <sip:nat@{local}>\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        local.port(),
        sdp.len()
    );
    let mut buf = vec![0u8; 65_536];
    let deadline = Instant::now() + WAIT;
    let answer = loop {
        assert!(Instant::now() < deadline, "no 200 OK to the INVITE");
        sip.send_to(invite.as_bytes(), bridge).unwrap();
        let Ok(n) = sip.recv(&mut buf) else { continue };
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.starts_with("SIP/2.0 200") {
            break msg;
        }
        assert!(
            !msg.starts_with("SIP/2.0 4") && !msg.starts_with("SIP/2.0 5"),
            "{msg}"
        );
    };
    let header = |name: &str| {
        answer
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .to_owned()
    };
    let to = header("To:");
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let media_port: u16 = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("m=audio port");
    let ack = || {
        format!(
            "ACK sip:{room}@{bridge} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-nat-ack\r\n\
             From: \"Behind NAT\" <sip:nat@{local}>;tag=nat1\r\nTo: {to}\r\nCall-ID: nat-{}@test\r\n\
             CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            local.port()
        )
    };
    sip.send_to(ack().as_bytes(), bridge).unwrap();
    let id = m.sip_in_state("waiting", &[]);

    // Its RTP, from the other port: 20 ms of PCMU silence at a time, as a phone sends.
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (real, stop) = (real.clone(), stop.clone());
        std::thread::spawn(move || {
            let to = std::net::SocketAddr::from(([127, 0, 0, 1], media_port));
            let mut seq: u16 = 1;
            while !stop.load(Ordering::Relaxed) {
                let mut p = vec![0x80, 0];
                p.extend_from_slice(&seq.to_be_bytes());
                p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
                p.extend_from_slice(&0x4e41_5401_u32.to_be_bytes());
                p.extend_from_slice(&[0xff; 160]);
                let _ = real.send_to(&p, to);
                seq = seq.wrapping_add(1);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    // The prompt reaches the port the packets come from.
    real.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let mut got = 0;
    while got < 25 {
        assert!(
            Instant::now() < deadline,
            "the waiting prompt never reached the caller's real address ({got} packets)\n{}",
            m.server.stderr()
        );
        if let Ok(n) = real.recv(&mut buf)
            && n > 12
            && buf[1] & 0x7f == 0
        {
            got += 1;
        }
    }
    // And it is still waiting, heard by nobody.
    assert!(
        m.participants()
            .iter()
            .any(|p| p["id"] == id.as_str() && p["state"] == "waiting")
    );
    // The caller vanishes (no BYE, no more RTP): after 30 s without RTP, as for a call in a
    // room, the bridge hangs up on it and it leaves the waiting room.
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let deadline = Instant::now() + WAIT;
    let bye = loop {
        assert!(
            Instant::now() < deadline,
            "the vanished waiting call was never hung up"
        );
        let Ok(n) = sip.recv(&mut buf) else { continue };
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.starts_with("BYE ") {
            break msg;
        }
    };
    let mut ok = String::from("SIP/2.0 200 OK\r\n");
    for name in ["Via:", "From:", "To:", "Call-ID:", "CSeq:"] {
        let line = bye.lines().find(|l| l.starts_with(name)).unwrap();
        ok.push_str(line);
        ok.push_str("\r\n");
    }
    ok.push_str("Content-Length: 0\r\n\r\n");
    sip.send_to(ok.as_bytes(), bridge).unwrap();
    let gone = poll(WAIT, || {
        (!m.participants().iter().any(|p| p["id"] == id.as_str())).then_some(())
    });
    assert!(gone.is_some(), "the hung-up waiting call is still listed");
}
