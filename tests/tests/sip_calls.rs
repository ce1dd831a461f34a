//! SIP endpoints against the real `pont` binary: sipp and baresip call rooms over UDP and TCP,
//! hear each other through the mix-minus mixer and not themselves, hold and resume with
//! re-INVITE, hang up from either side, and the RFC 4475 torture messages leave the endpoint
//! answering OPTIONS. Skips (and says so) when sipp or baresip is not installed; the README's
//! test command installs them.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use pont_tests::peers::{baresip, goertzel, sipp_logs, wait_exit};
use pont_tests::tool;
use pont_tests::ws::WsClient;
use pont_tests::{ServeOptions, Server, bearer, get, instant_room, send};

const WAIT: Duration = Duration::from_secs(60);

struct Room {
    server: Server,
    token: String,
    room: u64,
    _dir: tempfile::TempDir,
}

fn room() -> Room {
    room_with(&[], "")
}

/// A room on a server started with extra flags and a `config/pont.toml`.
fn room_with(args: &[&str], config: &str) -> Room {
    let dir = tempfile::tempdir().unwrap();
    if !config.is_empty() {
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::write(dir.path().join("config/pont.toml"), config).unwrap();
    }
    let mut options = ServeOptions::new(dir.path());
    options.args.extend(args.iter().map(|a| (*a).to_owned()));
    let server = Server::start_with(options).unwrap_or_else(|e| panic!("pont serve: {e:#?}"));
    let token = pont_tests::create_token(&dir.path().join("data"), "sip-test");
    let room = instant_room(&server, &token);
    Room {
        server,
        token,
        room,
        _dir: dir,
    }
}

impl Room {
    fn state(&self) -> serde_json::Value {
        let auth = bearer(&self.token);
        let reply = get(
            &self.server.url(&format!("/api/v1/rooms/{}", self.room)),
            &[("authorization", &auth)],
        );
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()
    }

    /// `POST /api/v1/rooms/{room}/lock`.
    fn lock(&self, locked: bool) {
        let auth = bearer(&self.token);
        let reply = send(
            "POST",
            &self
                .server
                .url(&format!("/api/v1/rooms/{}/lock", self.room)),
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
            ],
            &format!(r#"{{"locked": {locked}}}"#),
        );
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json()["locked"], locked);
        assert_eq!(self.state()["locked"], locked);
    }

    fn participants(&self) -> Vec<serde_json::Value> {
        let auth = bearer(&self.token);
        let reply = get(
            &self.server.url(&format!("/api/v1/rooms/{}", self.room)),
            &[("authorization", &auth)],
        );
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()["participants"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until the room has `n` SIP participants; a bound against a hung test.
    fn wait_for_sip_participants(&self, n: usize) {
        let deadline = Instant::now() + WAIT;
        loop {
            let sip = self
                .participants()
                .iter()
                .filter(|p| p["kind"] == "sip")
                .count();
            if sip == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "room never had {n} SIP participants (has {sip}); server log:\n{}",
                self.server.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// sipp's own `uac_pcap` scenario, with the path to Debian's pcaps: a G.711 A-law call
/// that plays an 8 s recording and a RFC 2833 digit, then hangs up (BYE from the caller).
fn uac_pcap() -> String {
    let out = Command::new("sipp")
        .arg("-sd")
        .arg("uac_pcap")
        .output()
        .unwrap();
    let mut xml = String::from_utf8_lossy(&out.stdout).into_owned();
    if !xml.contains("<scenario") {
        xml = String::from_utf8_lossy(&out.stderr).into_owned();
    }
    xml.replace("pcap/", "/usr/share/sip-tester/")
}

const INVITE: &str = r#"
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
"#;

const ACK: &str = r#"
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: [cseq] ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"#;

fn scenario(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<!DOCTYPE scenario SYSTEM \"sipp.dtd\">\n<scenario name=\"pont\">\n{body}\n</scenario>\n"
    )
}

fn reinvite(cseq: u32, direction: &str) -> String {
    format!(
        r#"
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 {cseq} IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a={direction}
    ]]>
  </send>
"#
    )
}

fn bye(cseq: u32) -> String {
    format!(
        r#"
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
"#
    )
}

/// One call of scenario `xml` to user `service` (see [`pont_tests::peers::sipp`]).
fn sipp(dir: &Path, sip: SocketAddr, service: &str, xml: &str, extra: &[&str]) -> Child {
    pont_tests::peers::sipp(dir, sip, service, xml, &[&["-m", "1"], extra].concat())
}

#[test]
fn sipp_caller_joins_the_room_and_leaves() {
    if tool("sipp").is_none() {
        return;
    }
    let r = room();
    let dir = tempfile::tempdir().unwrap();
    let mut caller = sipp(
        dir.path(),
        r.server.sip(),
        &r.room.to_string(),
        &uac_pcap(),
        &[],
    );
    r.wait_for_sip_participants(1);
    let p = &r.participants()[0];
    assert_eq!(p["kind"], "sip");
    assert!(p["id"].as_str().unwrap().starts_with('p'));
    let status = wait_exit(&mut caller, "sipp");
    assert!(
        status.success(),
        "sipp failed: {status}\n{}",
        r.server.stderr()
    );
    // The caller's BYE removed it.
    r.wait_for_sip_participants(0);
    // With no browser in the room its voice was mixed but never re-encoded as Opus for
    // browsers: nothing entered the SFU core (tests/tests/browser_hears_phone.rs covers the
    // room with a browser).
    let metrics = get(&r.server.url("/metrics"), &[]).body;
    let received: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("pont_rtp_received_packets_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("metric");
    assert_eq!(received, 0, "{metrics}");
}

#[test]
fn sipp_over_tcp_joins_the_room() {
    if tool("sipp").is_none() {
        return;
    }
    let r = room();
    let dir = tempfile::tempdir().unwrap();
    let mut caller = sipp(
        dir.path(),
        r.server.sip(),
        &r.room.to_string(),
        &uac_pcap(),
        &["-t", "t1"],
    );
    r.wait_for_sip_participants(1);
    let status = wait_exit(&mut caller, "sipp over TCP");
    assert!(
        status.success(),
        "sipp failed: {status}\n{}",
        r.server.stderr()
    );
    r.wait_for_sip_participants(0);
}

#[test]
fn unknown_room_and_wrong_address_are_refused() {
    if tool("sipp").is_none() {
        return;
    }
    let r = room();
    let dir = tempfile::tempdir().unwrap();
    let expect = |code: u16| {
        scenario(&format!(
            r#"{INVITE}
  <recv response="100" optional="true"/>
  <recv response="{code}"/>
{ACK}"#
        ))
    };
    // A number that is no room, and a user part that is no number.
    for (service, code) in [("999999999", 404), ("not-a-room", 404)] {
        let mut c = sipp(dir.path(), r.server.sip(), service, &expect(code), &[]);
        let status = wait_exit(&mut c, "sipp");
        assert!(status.success(), "{service}: expected {code}");
    }
    assert!(r.participants().is_empty());
}

#[test]
fn hold_and_resume_by_reinvite_then_bye() {
    if tool("sipp").is_none() {
        return;
    }
    let r = room();
    let dir = tempfile::tempdir().unwrap();
    // Hold: we offer sendonly, the bridge answers recvonly; resume: sendrecv both ways.
    let xml = scenario(&format!(
        r#"{INVITE}
  <recv response="100" optional="true"/>
  <recv response="200" rtd="true"/>
{ACK}
  <pause milliseconds="500"/>
{hold}
  <recv response="100" optional="true"/>
  <recv response="200">
    <action><ereg regexp="a=recvonly" search_in="body" check_it="true" assign_to="held"/></action>
  </recv>
{ACK}
  <pause milliseconds="500"/>
{resume}
  <recv response="100" optional="true"/>
  <recv response="200">
    <action><ereg regexp="a=sendrecv" search_in="body" check_it="true" assign_to="resumed"/></action>
  </recv>
{ACK}
{bye}
  <Reference variables="held,resumed"/>"#,
        hold = reinvite(2, "sendonly"),
        resume = reinvite(3, "sendrecv"),
        bye = bye(4),
    ));
    let mut c = sipp(dir.path(), r.server.sip(), &r.room.to_string(), &xml, &[]);
    let status = wait_exit(&mut c, "sipp");
    assert!(
        status.success(),
        "hold/resume scenario failed\n{}\n{}",
        sipp_logs(dir.path()),
        r.server.stderr()
    );
    r.wait_for_sip_participants(0);
}

#[test]
fn the_bridge_hangs_up_with_bye_on_sigterm() {
    if tool("sipp").is_none() {
        return;
    }
    let r = room();
    let dir = tempfile::tempdir().unwrap();
    let xml = scenario(&format!(
        r#"{INVITE}
  <recv response="100" optional="true"/>
  <recv response="200"/>
{ACK}
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>"#
    ));
    let mut c = sipp(dir.path(), r.server.sip(), &r.room.to_string(), &xml, &[]);
    r.wait_for_sip_participants(1);
    let Room { server, .. } = r;
    let exit = server.stop("TERM");
    assert!(exit.success(), "pont exit {exit}");
    let status = wait_exit(&mut c, "sipp");
    assert!(status.success(), "sipp did not get a BYE");
}

#[test]
fn two_baresip_callers_hear_each_other_and_not_themselves() {
    if tool("baresip").is_none() {
        return;
    }
    let r = room();
    let uri = format!("sip:{}@{}", r.room, r.server.sip());
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = baresip(da.path(), 700.0, &uri, 8);
    let mut b = baresip(db.path(), 1300.0, &uri, 8);
    r.wait_for_sip_participants(2);
    for (c, what) in [(&mut a, "baresip a"), (&mut b, "baresip b")] {
        wait_exit(c, what);
    }
    r.wait_for_sip_participants(0);
    let heard = |dir: &Path| {
        let (rate, samples) = pont_tests::peers::recorded(dir);
        // The middle of the call, when both were in the room.
        let mid = &samples[samples.len() * 2 / 5..samples.len() * 4 / 5];
        (goertzel(mid, rate, 700.0), goertzel(mid, rate, 1300.0))
    };
    let (a700, a1300) = heard(da.path());
    let (b700, b1300) = heard(db.path());
    // Each hears the other's tone, loud, and its own at most as a trace (mix-minus).
    assert!(
        a1300 > 1000.0 * a700.max(1.0),
        "a heard 700 Hz {a700:.0}, 1300 Hz {a1300:.0}"
    );
    assert!(
        b700 > 1000.0 * b1300.max(1.0),
        "b heard 700 Hz {b700:.0}, 1300 Hz {b1300:.0}"
    );
}

#[test]
fn torture_messages_leave_the_endpoint_answering_options() {
    let conformance = pont_tests::workspace_root().join("../shared/conformance/sip/rfc4475");
    if !conformance.is_dir() {
        eprintln!(
            "SKIPPED: conformance data not found at {}",
            conformance.display()
        );
        return;
    }
    let r = room();
    let sip = r.server.sip();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut sent = 0;
    for entry in std::fs::read_dir(&conformance).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".dat") || name.ends_with(".txt")) || name == "test.dat" {
            continue;
        }
        socket.send_to(&std::fs::read(&path).unwrap(), sip).unwrap();
        sent += 1;
    }
    assert!(sent > 40, "only {sent} torture messages found");
    // Drain whatever was answered, then ask OPTIONS: the endpoint still answers 200.
    let mut buf = [0u8; 65_536];
    while socket.recv_from(&mut buf).is_ok() {}
    let local = socket.local_addr().unwrap();
    let options = format!(
        "OPTIONS sip:{room}@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-options-1\r\n\
         From: <sip:probe@{local}>;tag=1\r\nTo: <sip:{room}@{sip}>\r\nCall-ID: options-after-torture\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        room = r.room
    );
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        socket.send_to(options.as_bytes(), sip).unwrap();
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            if text.contains("options-after-torture") {
                assert!(text.starts_with("SIP/2.0 200"), "{text}");
                break;
            }
        }
        assert!(Instant::now() < deadline, "no answer to OPTIONS");
    }
}

/// A call that expects the final answer `code` to its INVITE (and acknowledges it).
fn refused(code: u16) -> String {
    scenario(&format!(
        r#"{INVITE}
  <recv response="100" optional="true"/>
  <recv response="{code}"/>
{ACK}"#
    ))
}

/// A whole call: INVITE, 200, ACK, BYE, 200.
fn whole_call() -> String {
    scenario(&format!(
        r#"{INVITE}
  <recv response="100" optional="true"/>
  <recv response="200"/>
{ACK}
{bye}"#,
        bye = bye(2)
    ))
}

#[test]
fn locked_room_answers_480_and_a_full_room_486() {
    if tool("sipp").is_none() {
        return;
    }
    let r = room_with(&["--max-participants", "1"], "");
    let dir = tempfile::tempdir().unwrap();
    let call = |xml: &str, what: &str| {
        let mut c = sipp(dir.path(), r.server.sip(), &r.room.to_string(), xml, &[]);
        let status = wait_exit(&mut c, what);
        assert!(
            status.success(),
            "{what}\n{}\n{}",
            sipp_logs(dir.path()),
            r.server.stderr()
        );
    };
    // The lock is the organizer's: a token is needed, and a boolean.
    let url = r.server.url(&format!("/api/v1/rooms/{}/lock", r.room));
    let json = ("content-type", "application/json");
    let anonymous = send("POST", &url, &[json], r#"{"locked": true}"#);
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    let auth = bearer(&r.token);
    let bad = send(
        "POST",
        &url,
        &[json, ("authorization", &auth)],
        r#"{"locked": "yes"}"#,
    );
    assert_eq!(bad.status, 422, "{bad:?}");
    assert_eq!(bad.json()["error"]["code"], "invalid_lock");
    assert_eq!(r.state()["locked"], false);
    // Locked and empty: 480 Temporarily Unavailable; unlocked: in.
    r.lock(true);
    call(&refused(480), "a call to a locked room gets 480");
    assert!(r.participants().is_empty());
    r.lock(false);
    call(&whole_call(), "an unlocked room takes the call");
    // One caller stays (it waits for a BYE that only comes when the test ends): the room
    // is full, the next caller gets 486 Busy Here; locked as well, 480.
    let hold = scenario(&format!(
        r#"{INVITE}
  <recv response="100" optional="true"/>
  <recv response="200"/>
{ACK}
  <recv request="BYE"/>"#
    ));
    let mut holder = sipp(dir.path(), r.server.sip(), &r.room.to_string(), &hold, &[]);
    r.wait_for_sip_participants(1);
    call(&refused(486), "a call to a full room gets 486");
    r.lock(true);
    call(&refused(480), "a call to a full, locked room gets 480");
    // Whoever is in a locked room stays.
    assert_eq!(r.participants().len(), 1);
    // A browser is told why it cannot join.
    let mut ws = WsClient::connect(r.server.http, &format!("/api/v1/rooms/{}/ws", r.room));
    ws.send_json(&serde_json::json!({"v": 1, "type": "join", "name": "late"}));
    assert_eq!(ws.recv_type("error")["code"], "room_locked");
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn an_overloaded_bridge_answers_503_with_retry_after() {
    if tool("sipp").is_none() {
        return;
    }
    // A bound of 0 pending calls: the admission decision refuses every new call, as it does
    // under real overload, with no timing involved.
    let r = room_with(
        &[],
        "[admission]\nmax_pending_calls = 0\nretry_after_secs = 7\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let xml = scenario(&format!(
        r#"{INVITE}
  <recv response="100" optional="true"/>
  <recv response="503">
    <action><ereg regexp="Retry-After: 7" search_in="msg" check_it="true" assign_to="retry"/></action>
  </recv>
{ACK}
  <Reference variables="retry"/>"#
    ));
    let mut c = sipp(dir.path(), r.server.sip(), &r.room.to_string(), &xml, &[]);
    let status = wait_exit(&mut c, "sipp");
    assert!(
        status.success(),
        "expected 503 with Retry-After: 7\n{}\n{}",
        sipp_logs(dir.path()),
        r.server.stderr()
    );
    assert!(r.participants().is_empty());
    let metrics = get(&r.server.url("/metrics"), &[]).body;
    assert!(
        metrics.contains("pont_sip_calls_refused_overload_total{reason=\"pending_calls\"} 1\n"),
        "{metrics}"
    );
}

/// A UDP port pair (RTP even, RTCP the next odd port) for a test's own media.
fn udp_pair() -> (UdpSocket, UdpSocket) {
    loop {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = rtp.local_addr().unwrap().port();
        if !port.is_multiple_of(2) || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) {
            return (rtp, rtcp);
        }
    }
}

/// The RTCP packets (PT, whole packet) of a compound datagram.
fn rtcp_packets(mut data: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        assert_eq!(data[0] >> 6, 2, "RTCP version 2");
        let len = 4 * (usize::from(u16::from_be_bytes([data[2], data[3]])) + 1);
        assert!(len <= data.len(), "RTCP length beyond the datagram");
        out.push((data[1], data[..len].to_vec()));
        data = &data[len..];
    }
    out
}

#[test]
fn the_bridge_sends_rtcp_sender_reports_and_reads_the_callers() {
    if tool("sipp").is_none() {
        return;
    }
    let r = room();
    let dir = tempfile::tempdir().unwrap();
    // sipp does the signalling; the media address in its offer is this test's port pair.
    let (rtp, rtcp) = udp_pair();
    let port = rtp.local_addr().unwrap().port();
    let xml = scenario(&format!(
        r#"
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio {port} RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200"/>
{ACK}
  <recv request="BYE"/>"#
    ));
    let mut caller = sipp(dir.path(), r.server.sip(), &r.room.to_string(), &xml, &[]);
    r.wait_for_sip_participants(1);
    // The mix arrives on the RTP port: its SSRC, and where the bridge's RTCP port is.
    rtp.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 2048];
    let (n, bridge_rtp) = rtp.recv_from(&mut buf).expect("RTP from the bridge");
    assert!(n >= 12 && buf[0] >> 6 == 2, "not RTP");
    let ssrc = u32::from_be_bytes(buf[8..12].try_into().unwrap());
    // RFC 3550 §6.2: a first report within 2.5 s × 1.5 / 1.22; waited for with a guard only.
    rtcp.set_read_timeout(Some(WAIT)).unwrap();
    let (n, bridge_rtcp) = rtcp.recv_from(&mut buf).expect("RTCP from the bridge");
    assert_eq!(bridge_rtcp.port(), bridge_rtp.port() + 1, "RTCP on RTP + 1");
    let packets = rtcp_packets(&buf[..n]);
    let (pt, sr) = &packets[0];
    assert_eq!(*pt, 200, "a sender report first: {packets:?}");
    assert_eq!(u32::from_be_bytes(sr[4..8].try_into().unwrap()), ssrc);
    let packet_count = u32::from_be_bytes(sr[20..24].try_into().unwrap());
    assert!(packet_count > 0, "the SR counts the RTP sent");
    assert!(
        packets.iter().any(|(pt, _)| *pt == 202),
        "SDES CNAME in the compound: {packets:?}"
    );
    // The caller's receiver report on our audio: a quarter lost, jitter 160 (20 ms at 8 kHz).
    let mut rr = vec![0x81, 201, 0, 7];
    rr.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    rr.extend_from_slice(&ssrc.to_be_bytes());
    rr.extend_from_slice(&[64, 0, 0, 12]);
    rr.extend_from_slice(&100u32.to_be_bytes());
    rr.extend_from_slice(&160u32.to_be_bytes());
    rr.extend_from_slice(&[0; 8]);
    rtcp.send_to(&rr, bridge_rtcp).unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let metrics = get(&r.server.url("/metrics"), &[]).body;
        if metrics.contains("pont_sip_remote_fraction_lost_max 0.25\n") {
            assert!(
                metrics.contains("pont_sip_remote_jitter_seconds_max 0.02\n"),
                "{metrics}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the RR never showed:\n{metrics}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = caller.kill();
    let _ = caller.wait();
}
