//! `[security]` against real peers: a sipp INVITE flood from one loopback address leaves a
//! second sipp, calling from another address, its service; a scanner's OPTIONS gets nothing
//! while a normal OPTIONS is answered; a source guessing room numbers (by SIP URI or in the
//! dial-in IVR) has its next INVITE to a real room dropped while another source's is answered;
//! a sign-in flood and a WebSocket-join flood get 429. Skips (and says so) when sipp is not
//! installed; `tools/test-deps` installs it.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use pont_tests::peers::{sipp_from, sipp_logs, wait_exit};
use pont_tests::{EVENT_WAIT, ServeOptions, Server, bearer, get, instant_room, tool};

struct Bridge {
    server: Server,
    token: String,
    room: u64,
    _dir: tempfile::TempDir,
}

/// A bridge with a `config/pont.toml` (empty: every default) and one room.
fn bridge(config: &str) -> Bridge {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/pont.toml"), config).unwrap();
    let server = Server::start_with(ServeOptions::new(dir.path()))
        .unwrap_or_else(|e| panic!("pont serve: {e:#?}"));
    let token = pont_tests::create_token(&dir.path().join("data"), "flood-test");
    let room = instant_room(&server, &token);
    Bridge {
        server,
        token,
        room,
        _dir: dir,
    }
}

impl Bridge {
    /// A sample of `/metrics` (`name` with its labels, as printed).
    fn metric(&self, name: &str) -> f64 {
        let text = get(&self.server.url("/metrics"), &[]).body;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    }

    /// Waits until a metric reaches `at_least` (the event the test waits for).
    fn wait_metric(&self, name: &str, at_least: f64, context: &dyn Fn() -> String) {
        let deadline = Instant::now() + EVENT_WAIT;
        while self.metric(name) < at_least {
            assert!(
                Instant::now() < deadline,
                "{name} stayed below {at_least}\n{}\n{}",
                context(),
                self.server.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn healthy(&self) -> bool {
        get(&self.server.url("/healthz"), &[]).status == 200
    }
}

fn scenario(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<!DOCTYPE scenario SYSTEM \"sipp.dtd\">\n<scenario name=\"pont\">\n{body}\n</scenario>\n"
    )
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
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
"#;

/// A whole call: INVITE, 200, ACK, a second in the room, BYE, 200.
fn call_scenario() -> String {
    let body = format!(
        r#"{INVITE}
  <recv response="100" optional="true"/>
  <recv response="200" rrs="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <pause milliseconds="1000"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
"#
    );
    scenario(&body)
}

/// The flood: one INVITE per "call", nothing awaited.
fn flood_scenario() -> String {
    scenario(&INVITE.replace("<send retrans=\"500\">", "<send>"))
}

/// Successful and failed calls from sipp's `-trace_stat` file (its last line).
fn sipp_counts(stat_file: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(stat_file)
        .unwrap_or_else(|e| panic!("no sipp stat file {}: {e}", stat_file.display()));
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().expect("stat header").split(';').collect();
    let last: Vec<&str> = lines.next_back().expect("stat line").split(';').collect();
    let column = |name: &str| -> u64 {
        let i = header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no {name} in {header:?}"));
        last[i].trim().parse().unwrap_or(0)
    };
    (column("SuccessfulCall(C)"), column("FailedCall(C)"))
}

/// CPU time (user + system) of a process so far, from `/proc/<pid>/stat`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Clock ticks are 100 per second on Linux (USER_HZ).
    (ticks(11) + ticks(12)) / 100.0
}

#[test]
fn a_flood_from_one_address_leaves_other_callers_their_service() {
    if tool("sipp").is_none() {
        eprintln!("skipped: sipp is not installed (bash tools/test-deps)");
        return;
    }
    // Every `[security]` default.
    let b = bridge("");
    let room = b.room.to_string();
    let flood_dir = tempfile::tempdir().unwrap();
    let mut flood = sipp_from(
        flood_dir.path(),
        b.server.sip(),
        "127.0.0.2",
        &room,
        &flood_scenario(),
        &[
            "-r", "6000", "-rp", "1000", "-m", "1000000", "-l", "1000000",
        ],
    );
    // The flood is under way and its source blocked.
    b.wait_metric(
        "pont_security_blocked_sources_total{reason=\"flood\"}",
        1.0,
        &|| sipp_logs(flood_dir.path()),
    );
    let dropped_before = b.metric("pont_security_refused_requests_total{reason=\"flood\"}");
    let cpu_before = cpu_seconds(b.server.pid());
    let started = Instant::now();

    let calls_dir = tempfile::tempdir().unwrap();
    let stat = calls_dir.path().join("calls.csv");
    let mut caller = sipp_from(
        calls_dir.path(),
        b.server.sip(),
        "127.0.0.3",
        &room,
        &call_scenario(),
        &[
            "-r",
            "10",
            "-m",
            "100",
            "-l",
            "100",
            "-recv_timeout",
            "20000",
            "-trace_stat",
            "-stf",
            stat.to_str().unwrap(),
        ],
    );
    wait_exit(&mut caller, "the second sipp");
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(b.server.pid()) - cpu_before;
    let dropped =
        b.metric("pont_security_refused_requests_total{reason=\"flood\"}") - dropped_before;
    let flood_alive = flood.try_wait().unwrap().is_none();
    let _ = flood.kill();
    let _ = flood.wait();

    let (ok, failed) = sipp_counts(&stat);
    let ratio = ok as f64 / (ok + failed).max(1) as f64;
    eprintln!(
        "flood test: {ok} of {} calls from 127.0.0.3 succeeded ({:.1} %); {dropped} flood \
         requests dropped in {elapsed:.1} s ({:.0}/s); bridge CPU {cpu:.2} s ({:.0} % of a core)",
        ok + failed,
        ratio * 100.0,
        dropped / elapsed,
        cpu / elapsed * 100.0,
    );
    assert!(flood_alive, "the flood ran for the whole test");
    assert!(dropped > 0.0, "flood requests were dropped");
    assert_eq!(ok + failed, 100, "{}", sipp_logs(calls_dir.path()));
    assert!(
        ratio >= 0.95,
        "only {ok} of 100 calls succeeded under the flood\n{}",
        sipp_logs(calls_dir.path())
    );
    assert!(b.healthy(), "the bridge answers /healthz after the flood");
    // The flood's source was blocked once, the callers' never.
    assert_eq!(
        b.metric("pont_security_blocked_sources_total{reason=\"flood\"}"),
        1.0
    );
}

// ---- raw SIP over UDP, for exact control of the source and what comes back ----

struct Peer {
    socket: UdpSocket,
    bridge: SocketAddr,
    n: u32,
}

impl Peer {
    fn new(ip: &str, bridge: SocketAddr) -> Self {
        let socket = UdpSocket::bind((ip, 0)).expect("bind a loopback address");
        socket.set_read_timeout(Some(EVENT_WAIT)).unwrap();
        Self {
            socket,
            bridge,
            n: 0,
        }
    }

    fn local(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// Sends a request outside any dialog; returns its Call-ID and branch.
    fn request(&mut self, method: &str, user: &str, user_agent: &str) -> (String, String) {
        self.n += 1;
        let local = self.local();
        let call_id = format!("{}-{}@{}", method, self.n, local.ip());
        let branch = format!("z9hG4bK-{}-{}", local.port(), self.n);
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
            ip = local.ip(),
            port = 40_000 + self.n * 2,
        );
        let (content_type, body) = if method == "INVITE" {
            ("Content-Type: application/sdp\r\n", sdp.as_str())
        } else {
            ("", "")
        };
        let ua = if user_agent.is_empty() {
            String::new()
        } else {
            format!("User-Agent: {user_agent}\r\n")
        };
        let msg = format!(
            "{method} sip:{user}@{bridge} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             From: <sip:peer@{local}>;tag=t{n}\r\nTo: <sip:{user}@{bridge}>\r\nCall-ID: {call_id}\r\n\
             CSeq: 1 {method}\r\nContact: <sip:peer@{local}>\r\nMax-Forwards: 70\r\n{ua}{content_type}\
             Content-Length: {len}\r\n\r\n{body}",
            bridge = self.bridge,
            n = self.n,
            len = body.len(),
        );
        self.socket.send_to(msg.as_bytes(), self.bridge).unwrap();
        (call_id, branch)
    }

    /// The next final response (1xx skipped).
    fn final_response(&self) -> String {
        let mut buf = [0u8; 65_536];
        loop {
            let (n, _) = self.socket.recv_from(&mut buf).expect("a SIP response");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with("SIP/2.0 1") {
                continue;
            }
            return text;
        }
    }

    /// ACK for a non-2xx final response (RFC 3261 §17.1.1.3), so it is not retransmitted.
    fn ack(&self, user: &str, call_id: &str, branch: &str, response: &str) {
        let to = response
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("to:"))
            .expect("To in the response")
            .trim_end();
        let local = self.local();
        let msg = format!(
            "ACK sip:{user}@{bridge} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             From: <sip:peer@{local}>;tag=t{n}\r\n{to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            bridge = self.bridge,
            n = self.n,
        );
        self.socket.send_to(msg.as_bytes(), self.bridge).unwrap();
    }

    /// Nothing has arrived (checked once the bridge has visibly handled what was sent).
    fn nothing_received(&self) -> Option<String> {
        self.socket.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 65_536];
        let got = self
            .socket
            .recv_from(&mut buf)
            .ok()
            .map(|(n, _)| String::from_utf8_lossy(&buf[..n]).into_owned());
        self.socket.set_nonblocking(false).unwrap();
        got
    }
}

fn status_of(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_scanner_gets_no_answer_while_a_normal_options_does() {
    let b = bridge("");
    let sip = b.server.sip();
    let mut scanner = Peer::new("127.0.0.4", sip);
    let mut normal = Peer::new("127.0.0.5", sip);
    scanner.request("OPTIONS", "100", "friendly-scanner");
    // The bridge has handled it (and dropped it) before the normal OPTIONS is sent; the SIP
    // task answers in order, so any answer to the scanner would come before the normal one's.
    b.wait_metric(
        "pont_security_refused_requests_total{reason=\"scanner\"}",
        1.0,
        &String::new,
    );
    normal.request("OPTIONS", "100", "Polycom-RealPresence/6.2");
    let answer = normal.final_response();
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert_eq!(
        scanner.nothing_received(),
        None,
        "the scanner got an answer"
    );
    // Its next request, whatever its user agent, is ignored too.
    scanner.request("OPTIONS", "100", "");
    b.wait_metric(
        "pont_security_refused_requests_total{reason=\"flood\"}",
        1.0,
        &String::new,
    );
    normal.request("OPTIONS", "100", "");
    assert_eq!(status_of(&normal.final_response()), 200);
    assert_eq!(scanner.nothing_received(), None);
    assert_eq!(
        b.metric("pont_security_blocked_sources_total{reason=\"scanner\"}"),
        1.0
    );
}

#[test]
fn a_source_guessing_room_numbers_is_refused_and_another_is_not() {
    let b = bridge("[security]\nroom_guesses = 3\n");
    let sip = b.server.sip();
    let room = b.room.to_string();
    let mut guesser = Peer::new("127.0.0.6", sip);
    let mut other = Peer::new("127.0.0.7", sip);
    // Three wrong room numbers (missing rooms, not a number) are each answered: the third
    // blocks the source.
    for user in ["99999999", "letmein", "88888888"] {
        let (call_id, branch) = guesser.request("INVITE", user, "");
        let r = guesser.final_response();
        assert!(matches!(status_of(&r), 403 | 404), "{user}: {r}");
        guesser.ack(user, &call_id, &branch, &r);
    }
    assert_eq!(b.metric("pont_security_room_guesses_total"), 3.0);
    assert_eq!(
        b.metric("pont_security_blocked_sources_total{reason=\"room_guessing\"}"),
        1.0
    );
    // Its INVITE to the real room is dropped ...
    guesser.request("INVITE", &room, "");
    b.wait_metric(
        "pont_security_refused_requests_total{reason=\"room_guessing\"}",
        1.0,
        &String::new,
    );
    // ... while another source's is answered.
    other.request("INVITE", &room, "");
    let r = other.final_response();
    assert_eq!(status_of(&r), 200, "{r}");
    assert_eq!(guesser.nothing_received(), None);
    // The guesser's OPTIONS are still answered: only its INVITEs are refused.
    guesser.request("OPTIONS", &room, "");
    assert_eq!(status_of(&guesser.final_response()), 200);
}

#[test]
fn a_sign_in_flood_and_a_websocket_join_flood_get_429() {
    let b = bridge("[security]\nhttp_signins_per_min = 5\nws_joins_per_min = 3\n");
    // Bearer-token guessing on the API: 401s, then 429 with the JSON error.
    let bad = bearer("not-a-token");
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(get(&b.server.url("/api/v1/me"), &[("authorization", &bad)]));
    }
    assert!(
        statuses[..6].iter().all(|r| r.status == 401),
        "{statuses:?}"
    );
    let refused = &statuses[6];
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.error_code(), "too_many_requests");
    assert_eq!(refused.header("retry-after"), Some("60"));
    // The sign-in page of the same address: a page saying so, in the visitor's language.
    let page = get(
        &b.server.url("/signin?token=guess"),
        &[("accept-language", "fr")],
    );
    assert_eq!(page.status, 429, "{page:?}");
    assert!(
        page.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    );
    assert!(page.body.contains("Trop de tentatives"), "{}", page.body);
    // A real token from the same address is refused too while blocked: the limit is per
    // address, before any token is checked.
    let good = bearer(&b.token);
    assert_eq!(
        get(&b.server.url("/api/v1/me"), &[("authorization", &good)]).status,
        429
    );
    // Requests without credentials are not limited.
    assert_eq!(get(&b.server.url("/healthz"), &[]).status, 200);

    // WebSocket joins: three, then 429 (plain GETs: the limit counts before the upgrade).
    let ws = format!("/api/v1/rooms/{}/ws", b.room);
    for _ in 0..3 {
        assert_ne!(get(&b.server.url(&ws), &[]).status, 429);
    }
    let refused = get(&b.server.url(&ws), &[]);
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.error_code(), "too_many_requests");
    assert_eq!(
        b.metric("pont_security_blocked_sources_total{reason=\"ws_join\"}"),
        1.0
    );
    assert!(b.metric("pont_security_refused_requests_total{reason=\"signin\"}") >= 3.0);
}

/// One key by SIP INFO (`application/dtmf-relay`) in the dial-in call.
fn info_key(cseq: u32, key: char) -> String {
    format!(
        r#"
  <send retrans="500">
    <![CDATA[
      INFO sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} INFO
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={key}
      Duration=160
    ]]>
  </send>
  <recv response="200"/>
"#
    )
}

#[test]
fn wrong_rooms_keyed_in_the_ivr_block_the_source() {
    if tool("sipp").is_none() {
        eprintln!("skipped: sipp is not installed (bash tools/test-deps)");
        return;
    }
    // Two wrong rooms block: the IVR's own three tries per call are not reached. After the
    // first `#` the caller listens to "this room number does not exist" before keying again,
    // as a person does (the IVR takes no keys while it looks the room up).
    let b = bridge("[security]\nroom_guesses = 2\n");
    let sip = b.server.sip();
    let room = b.room.to_string();
    let call = call_scenario();
    // The call's INVITE and ACK, then keys, then the bridge's BYE.
    let (head, _) = call.split_once("<pause").expect("the call scenario pauses");
    let mut body = head
        .split_once("<scenario name=\"pont\">")
        .expect("scenario header")
        .1
        .to_owned();
    for (i, key) in "9#8#".chars().enumerate() {
        body.push_str(&info_key(2 + i as u32, key));
        if i == 1 {
            body.push_str("  <pause milliseconds=\"500\"/>\n");
        }
    }
    body.push_str(
        r#"
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
  </send>
"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let mut caller = sipp_from(
        dir.path(),
        sip,
        "127.0.0.8",
        "dialin",
        &scenario(&body),
        &["-m", "1"],
    );
    let status = wait_exit(&mut caller, "the dial-in sipp");
    assert!(
        status.success(),
        "no BYE after two wrong rooms: {status}\n{}\n{}",
        sipp_logs(dir.path()),
        b.server.stderr()
    );
    assert_eq!(b.metric("pont_security_room_guesses_total"), 2.0);
    assert_eq!(b.metric("pont_ivr_joined_total"), 0.0);
    // The same address's INVITE to a real room is dropped; another address's is answered.
    let mut guesser = Peer::new("127.0.0.8", sip);
    let mut other = Peer::new("127.0.0.9", sip);
    guesser.request("INVITE", &room, "");
    b.wait_metric(
        "pont_security_refused_requests_total{reason=\"room_guessing\"}",
        1.0,
        &String::new,
    );
    other.request("INVITE", &room, "");
    let r = other.final_response();
    assert_eq!(status_of(&r), 200, "{r}");
    assert_eq!(guesser.nothing_received(), None);
}
