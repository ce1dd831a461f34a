//! The dial-in IVR against the real `pont` binary: phone callers (sipp for signalling; sipp's
//! shipped RFC 2833 pcaps, SIP INFO, or in-band G.711 tones from a small RTP sender here) key
//! a room number and `#` (and a PIN) and join the room as `pstn` participants; wrong rooms are
//! refused, three of them end with a BYE from the bridge; twenty callers enter twenty rooms at
//! once; a joined caller hears the room and the room hears them. Skips (and says so) when sipp
//! or baresip is not installed; `tools/test-deps` installs them.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use pont_tests::peers::goertzel;
use pont_tests::peers::{baresip, sipp_logs, wait_exit};
use pont_tests::tool;
use pont_tests::{Server, bearer, get, send};

const WAIT: Duration = Duration::from_secs(60);

struct Bridge {
    server: Server,
    token: String,
    _dir: tempfile::TempDir,
}

fn bridge() -> Bridge {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = pont_tests::create_token(&dir.path().join("data"), "dialin-test");
    Bridge {
        server,
        token,
        _dir: dir,
    }
}

impl Bridge {
    fn room(&self, pin: Option<&str>) -> u64 {
        let body = match pin {
            Some(p) => format!(r#"{{"subject": "dial-in", "pin": "{p}"}}"#),
            None => r#"{"subject": "dial-in"}"#.to_owned(),
        };
        let reply = send(
            "POST",
            &self.server.url("/api/v1/meetings/instant"),
            &[
                ("content-type", "application/json"),
                ("authorization", &bearer(&self.token)),
            ],
            &body,
        );
        assert_eq!(reply.status, 201, "{reply:?}");
        reply.json()["room_number"].as_u64().unwrap()
    }

    fn participants(&self, room: u64) -> Vec<serde_json::Value> {
        let reply = get(
            &self.server.url(&format!("/api/v1/rooms/{room}")),
            &[("authorization", &bearer(&self.token))],
        );
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()["participants"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn pstn(&self, room: u64) -> usize {
        self.participants(room)
            .iter()
            .filter(|p| p["kind"] == "pstn")
            .count()
    }

    /// Waits (bounded) until `room` has `n` phone participants.
    fn wait_for_pstn(&self, room: u64, n: usize, logs: &dyn Fn() -> String) {
        let deadline = Instant::now() + WAIT;
        loop {
            let have = self.pstn(room);
            if have == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "room {room} never had {n} pstn participants (has {have})\n{}\nserver log:\n{}",
                logs(),
                self.server.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn metric(&self, name: &str) -> f64 {
        let text = get(&self.server.url("/metrics"), &[]).body;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    }
}

/// Runs sipp with scenario `xml` against the bridge's dial-in user.
fn sipp(dir: &Path, sip: SocketAddr, xml: &str, extra: &[&str]) -> Child {
    pont_tests::peers::sipp(dir, sip, "dialin", xml, extra)
}

fn scenario(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<!DOCTYPE scenario SYSTEM \"sipp.dtd\">\n<scenario name=\"dialin\">\n{body}\n</scenario>\n"
    )
}

/// INVITE to the dial-in user offering `m_line` (after `m=audio <port> RTP/AVP`) with
/// `attrs`, then the 200 and the ACK. `media` is the port in the SDP (sipp's own with
/// `[media_port]`).
fn invite(media: &str, formats: &str, attrs: &str) -> String {
    format!(
        r#"
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Phone [call_number]" <sip:+3361234[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
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
      m=audio {media} RTP/AVP {formats}
{attrs}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Phone [call_number]" <sip:+3361234[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"#
    )
}

const PCMU_2833: (&str, &str) = (
    "0 101",
    "      a=rtpmap:0 PCMU/8000\n      a=rtpmap:101 telephone-event/8000\n      a=fmtp:101 0-16",
);
const PCMU_ONLY: (&str, &str) = ("0", "      a=rtpmap:0 PCMU/8000");

/// One key by SIP INFO (`application/dtmf-relay`), then a short gap.
fn info(cseq: u32, key: &str) -> String {
    format!(
        r#"
  <send retrans="500">
    <![CDATA[
      INFO sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Phone [call_number]" <sip:+3361234[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
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
  <pause milliseconds="250"/>
"#
    )
}

/// Keys by SIP INFO, CSeq from 2.
fn info_keys(keys: &[String]) -> String {
    keys.iter()
        .enumerate()
        .map(|(i, k)| info(2 + i as u32, k))
        .collect()
}

/// One key as sipp's shipped RFC 2833 pcap, 400 ms apart as a load tester keys them. Each
/// pcap carries its capture's RTP timestamps and sequence numbers, which do not follow the
/// order of the keys (and are the same for the same key twice): the bridge must count every
/// key anyway.
fn pcap_key(key: char) -> String {
    let name = match key {
        '#' => "pound".to_owned(),
        '*' => "star".to_owned(),
        d => d.to_string(),
    };
    format!(
        r#"
  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_{name}.pcap"/></action></nop>
  <pause milliseconds="400"/>
"#
    )
}

/// Stays in the call while the test looks at the room, then hangs up.
fn stay_then_bye(stay_ms: u32, cseq: u32) -> String {
    format!(
        r#"
  <pause milliseconds="{stay_ms}"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Phone [call_number]" <sip:+3361234[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
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

const EXPECT_BYE: &str = r#"
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
"#;

fn keys(s: &str) -> Vec<String> {
    s.chars().map(|c| c.to_string()).collect()
}

#[test]
fn rfc2833_digits_wrong_room_then_the_right_one_join_as_pstn() {
    if tool("sipp").is_none() {
        return;
    }
    let b = bridge();
    let room = b.room(None);
    let mut body = invite("[media_port]", PCMU_2833.0, PCMU_2833.1);
    // A wrong room first ("9#"), then the right one.
    for key in format!("9#{room}#").chars() {
        body.push_str(&pcap_key(key));
    }
    body.push_str(&stay_then_bye(6000, 2));
    let dir = tempfile::tempdir().unwrap();
    let mut caller = sipp(dir.path(), b.server.sip(), &scenario(&body), &["-m", "1"]);
    b.wait_for_pstn(room, 1, &|| sipp_logs(dir.path()));
    let p = &b.participants(room)[0];
    assert_eq!(p["kind"], "pstn");
    assert_eq!(p["muted"], false);
    let status = wait_exit(&mut caller, "sipp");
    assert!(
        status.success(),
        "sipp: {status}\n{}\n{}",
        sipp_logs(dir.path()),
        b.server.stderr()
    );
    b.wait_for_pstn(room, 0, &|| sipp_logs(dir.path()));
    assert_eq!(b.metric("pont_ivr_joined_total"), 1.0);
}

#[test]
fn sip_info_digits_into_a_pin_room_after_a_wrong_pin() {
    if tool("sipp").is_none() {
        return;
    }
    let b = bridge();
    let room = b.room(Some("4321"));
    let mut body = invite("[media_port]", PCMU_ONLY.0, PCMU_ONLY.1);
    let entered = format!("{room}#1111#4321#");
    body.push_str(&info_keys(&keys(&entered)));
    body.push_str(&stay_then_bye(5000, 100));
    let dir = tempfile::tempdir().unwrap();
    let mut caller = sipp(dir.path(), b.server.sip(), &scenario(&body), &["-m", "1"]);
    b.wait_for_pstn(room, 1, &|| sipp_logs(dir.path()));
    let status = wait_exit(&mut caller, "sipp");
    assert!(
        status.success(),
        "sipp: {status}\n{}\n{}",
        sipp_logs(dir.path()),
        b.server.stderr()
    );
    let log = b.server.stderr();
    assert!(!log.contains("4321"), "the PIN reached the log:\n{log}");
}

#[test]
fn three_wrong_rooms_get_a_bye_from_the_bridge() {
    if tool("sipp").is_none() {
        return;
    }
    let b = bridge();
    let _room = b.room(None);
    let mut body = invite("[media_port]", PCMU_ONLY.0, PCMU_ONLY.1);
    body.push_str(&info_keys(&keys("9#8#7#")));
    body.push_str(EXPECT_BYE);
    let dir = tempfile::tempdir().unwrap();
    let mut caller = sipp(dir.path(), b.server.sip(), &scenario(&body), &["-m", "1"]);
    let status = wait_exit(&mut caller, "sipp");
    assert!(
        status.success(),
        "no BYE after three wrong rooms: {status}\n{}\n{}",
        sipp_logs(dir.path()),
        b.server.stderr()
    );
    assert_eq!(b.metric("pont_ivr_hangups_total"), 1.0);
    assert_eq!(b.metric("pont_ivr_joined_total"), 0.0);
}

#[test]
fn a_locked_room_is_said_to_be_unavailable_then_bye() {
    if tool("sipp").is_none() {
        return;
    }
    let b = bridge();
    let room = b.room(None);
    let locked = send(
        "POST",
        &b.server.url(&format!("/api/v1/rooms/{room}/lock")),
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer(&b.token)),
        ],
        r#"{"locked": true}"#,
    );
    assert_eq!(locked.status, 200, "{locked:?}");
    let mut body = invite("[media_port]", PCMU_ONLY.0, PCMU_ONLY.1);
    body.push_str(&info_keys(&keys(&format!("{room}#"))));
    body.push_str(EXPECT_BYE);
    let dir = tempfile::tempdir().unwrap();
    let mut caller = sipp(dir.path(), b.server.sip(), &scenario(&body), &["-m", "1"]);
    let status = wait_exit(&mut caller, "sipp");
    assert!(
        status.success(),
        "no BYE for a locked room: {status}\n{}\n{}",
        sipp_logs(dir.path()),
        b.server.stderr()
    );
    // Told why (the "unavailable" prompt), not "wrong room", and never joined.
    assert!(
        b.server
            .stderr()
            .contains("room locked or full: the dial-in caller is told"),
        "{}",
        b.server.stderr()
    );
    assert_eq!(b.metric("pont_ivr_hangups_total"), 1.0);
    assert_eq!(b.metric("pont_ivr_joined_total"), 0.0);
}

#[test]
fn a_source_outside_allowed_sources_gets_403() {
    if tool("sipp").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/pont.toml"),
        "[dialin]\nallowed_sources = [\"192.0.2.0/24\"]\n",
    )
    .unwrap();
    let server = Server::start(dir.path());
    let body = r#"
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+33611111111@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
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
  <recv response="100" optional="true"/>
  <recv response="403"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+33611111111@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"#;
    let sdir = tempfile::tempdir().unwrap();
    let mut c = sipp(sdir.path(), server.sip(), &scenario(body), &["-m", "1"]);
    let status = wait_exit(&mut c, "sipp");
    assert!(
        status.success(),
        "expected 403\n{}\n{}",
        sipp_logs(sdir.path()),
        server.stderr()
    );
}

#[test]
fn twenty_callers_enter_twenty_rooms_at_once() {
    if tool("sipp").is_none() {
        return;
    }
    let b = bridge();
    let rooms: Vec<u64> = (0..20).map(|_| b.room(None)).collect();
    // One CSV line per call, one field per digit (room numbers have six digits).
    let mut csv = String::from("SEQUENTIAL\n");
    for r in &rooms {
        let digits = r.to_string();
        assert_eq!(digits.len(), 6);
        for d in digits.chars() {
            csv.push(d);
            csv.push(';');
        }
        csv.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("rooms.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let mut keys: Vec<String> = (0..6).map(|i| format!("[field{i}]")).collect();
    keys.push("#".to_owned());
    let mut body = invite("[media_port]", PCMU_ONLY.0, PCMU_ONLY.1);
    body.push_str(&info_keys(&keys));
    body.push_str(&stay_then_bye(8000, 100));
    let mut callers = sipp(
        dir.path(),
        b.server.sip(),
        &scenario(&body),
        &[
            "-m",
            "20",
            "-r",
            "20",
            "-l",
            "20",
            "-inf",
            csv_path.to_str().unwrap(),
        ],
    );
    for &room in &rooms {
        b.wait_for_pstn(room, 1, &|| sipp_logs(dir.path()));
    }
    let status = wait_exit(&mut callers, "sipp x20");
    assert!(
        status.success(),
        "sipp: {status}\n{}\n{}",
        sipp_logs(dir.path()),
        b.server.stderr()
    );
    assert_eq!(b.metric("pont_ivr_joined_total"), 20.0);
    let count = b.metric("pont_ivr_join_seconds_count");
    let sum = b.metric("pont_ivr_join_seconds_sum");
    eprintln!(
        "20 callers: mean # to joined {:.3} s (joining prompt included)",
        sum / count
    );
}

// ---- in-band DTMF and two-way audio, with an RTP sender here ----

fn ulaw(sample: i16) -> u8 {
    // G.711 µ-law (ITU-T G.711 table, the usual bias-and-segment form).
    const BIAS: i32 = 0x84;
    let s = sample as i32;
    let sign = if s < 0 { 0x80 } else { 0 };
    let mag = (s.abs().min(32_635) + BIAS) as u32;
    let exp = (31 - mag.leading_zeros()).saturating_sub(7).min(7);
    let mant = (mag >> (exp + 3)) & 0x0f;
    !(sign | (exp << 4) as i32 | mant as i32) as u8
}

fn ulaw_decode(code: u8) -> i16 {
    let c = !code;
    let sign = c & 0x80;
    let exp = (c >> 4) & 0x07;
    let mant = c & 0x0f;
    let mag = ((((mant as i32) << 3) + 0x84) << exp) - 0x84;
    (if sign != 0 { -mag } else { mag }) as i16
}

fn dtmf_pair(key: char) -> (f64, f64) {
    let keys = ["123A", "456B", "789C", "*0#D"];
    let rows = [697.0, 770.0, 852.0, 941.0];
    let cols = [1209.0, 1336.0, 1477.0, 1633.0];
    for (r, line) in keys.iter().enumerate() {
        if let Some(c) = line.find(key) {
            return (rows[r], cols[c]);
        }
    }
    panic!("no DTMF key {key}");
}

/// A phone's RTP side: PCMU at a 20 ms pace from `socket` to the bridge; what the bridge
/// sends is decoded and kept.
struct Phone {
    socket: UdpSocket,
    to: Option<SocketAddr>,
    seq: u16,
    ts: u32,
    phase: f64,
    heard: Vec<i16>,
    next: Instant,
}

impl Phone {
    fn new() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        Self {
            socket,
            to: None,
            seq: 1,
            ts: 0,
            phase: 0.0,
            heard: Vec::new(),
            next: Instant::now(),
        }
    }

    fn port(&self) -> u16 {
        self.socket.local_addr().unwrap().port()
    }

    /// Reads what arrived; the first packet tells where the bridge sends from.
    fn receive(&mut self) {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = self.socket.recv_from(&mut buf) {
            if n > 12 && buf[1] & 0x7f == 0 {
                self.to.get_or_insert(from);
                self.heard
                    .extend(buf[12..n].iter().map(|&b| ulaw_decode(b)));
            }
        }
    }

    /// Sends `ms` of the sum of `freqs` (each at `amp`) in 20 ms packets, paced in real time.
    fn send(&mut self, freqs: &[f64], amp: f64, ms: u32) {
        for _ in 0..ms / 20 {
            let now = Instant::now();
            if self.next > now {
                std::thread::sleep(self.next - now);
            }
            self.next = self.next.max(now) + Duration::from_millis(20);
            self.receive();
            let mut pkt = vec![0x80, 0];
            pkt.extend_from_slice(&self.seq.to_be_bytes());
            pkt.extend_from_slice(&self.ts.to_be_bytes());
            pkt.extend_from_slice(&0x1234_5678u32.to_be_bytes());
            for i in 0..160 {
                let t = (self.phase + i as f64) / 8000.0;
                let v: f64 = freqs
                    .iter()
                    .map(|f| amp * (2.0 * std::f64::consts::PI * f * t).sin())
                    .sum();
                pkt.push(ulaw(v as i16));
            }
            self.phase += 160.0;
            self.seq = self.seq.wrapping_add(1);
            self.ts = self.ts.wrapping_add(160);
            if let Some(to) = self.to {
                let _ = self.socket.send_to(&pkt, to);
            }
        }
    }
}

fn read_wav(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap();
    bytes[44.min(bytes.len())..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

#[test]
fn inband_tones_join_and_the_caller_and_the_room_hear_each_other() {
    if tool("sipp").is_none() || tool("baresip").is_none() {
        return;
    }
    let b = bridge();
    let room = b.room(None);
    // Someone in the room: baresip, sending 1300 Hz and recording what it hears.
    let bdir = tempfile::tempdir().unwrap();
    let uri = format!("sip:{room}@{}", b.server.sip());
    let mut member = baresip(bdir.path(), 1300.0, &uri, 40);
    let deadline = Instant::now() + WAIT;
    while b.participants(room).iter().all(|p| p["kind"] != "sip") {
        assert!(
            Instant::now() < deadline,
            "baresip never joined\n{}",
            b.server.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The phone: sipp signals (PCMU, no telephone-event), RTP is ours.
    let mut phone = Phone::new();
    let mut body = invite(&phone.port().to_string(), PCMU_ONLY.0, PCMU_ONLY.1);
    body.push_str(&stay_then_bye(60_000, 2));
    let dir = tempfile::tempdir().unwrap();
    let mut caller = sipp(dir.path(), b.server.sip(), &scenario(&body), &["-m", "1"]);
    // The first prompt packet tells where to send.
    let deadline = Instant::now() + WAIT;
    while phone.to.is_none() {
        assert!(
            Instant::now() < deadline,
            "no RTP from the bridge\n{}\n{}",
            sipp_logs(dir.path()),
            b.server.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
        phone.receive();
    }
    phone.send(&[], 0.0, 1000);
    let prompt = phone.heard.clone();
    assert!(
        goertzel(&prompt, 8000, 440.0) + prompt.iter().map(|&s| (s as f64).abs()).sum::<f64>()
            > 0.0,
        "the welcome prompt is silent"
    );
    // Keys as tones: 100 ms on, 100 ms off (ITU-T Q.24 asks for at least 40 ms each).
    for key in format!("{room}#").chars() {
        let (lo, hi) = dtmf_pair(key);
        phone.send(&[lo, hi], 6000.0, 100);
        phone.send(&[], 0.0, 100);
    }
    // In the room: the caller sends 700 Hz (bounded wait, keeping the stream going).
    let deadline = Instant::now() + WAIT;
    while b.pstn(room) == 0 {
        assert!(
            Instant::now() < deadline,
            "the in-band caller never joined\n{}\n{}",
            sipp_logs(dir.path()),
            b.server.stderr()
        );
        phone.send(&[], 0.0, 200);
    }
    phone.heard.clear();
    phone.send(&[700.0], 8000.0, 4000);
    let heard = phone.heard.clone();
    // The caller hears the room (baresip's 1300 Hz), not themselves (mix-minus).
    let (h1300, h700) = (
        goertzel(&heard, 8000, 1300.0),
        goertzel(&heard, 8000, 700.0),
    );
    assert!(
        h1300 > 100.0 * h700.max(1.0),
        "the caller heard 1300 Hz {h1300:.0}, 700 Hz {h700:.0}"
    );
    // baresip closes its recording on SIGTERM.
    let _ = Command::new("kill")
        .args(["-TERM", &member.id().to_string()])
        .status();
    wait_exit(&mut member, "baresip");
    let _ = caller.kill();
    let _ = caller.wait();
    // The room hears the caller: baresip's recording holds 700 Hz.
    let rec = std::fs::read_dir(bdir.path().join("rec"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded what it heard");
    let samples = read_wav(&rec);
    let tail = &samples[samples.len().saturating_sub(8000 * 3)..];
    let (r700, r1300) = (goertzel(tail, 8000, 700.0), goertzel(tail, 8000, 1300.0));
    assert!(
        r700 > 100.0 * r1300.max(1.0),
        "the room heard 700 Hz {r700:.0}, 1300 Hz {r1300:.0}"
    );
}

/// `utime + stime` of a process, in clock ticks (100 per second here).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Load figure for docs/benchmarks.md: `IVR_CALLERS` (default 100) callers sit in the IVR,
/// each sending G.711 A-law (sipp's `g711a.pcap`, so the in-band detector runs on every
/// packet) and receiving prompts; the server's CPU is read from /proc over 10 s. Manual:
/// `PONT_BIN=$PWD/target/release/pont cargo test -p pont-tests --test dialin -- --ignored --nocapture`
#[test]
#[ignore = "load measurement; run by hand"]
fn ivr_load_callers_per_core() {
    if tool("sipp").is_none() {
        return;
    }
    let n: u32 = std::env::var("IVR_CALLERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let b = bridge();
    let mut body = invite(
        "[media_port]",
        "8 101",
        "      a=rtpmap:8 PCMA/8000\n      a=rtpmap:101 telephone-event/8000",
    );
    // 3 × 8 s of audio, then BYE.
    for _ in 0..3 {
        body.push_str(
            r#"  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/></action></nop>
  <pause milliseconds="8000"/>
"#,
        );
    }
    body.push_str(&stay_then_bye(0, 2));
    let dir = tempfile::tempdir().unwrap();
    let (m, r) = (n.to_string(), 50.to_string());
    let mut callers = sipp(
        dir.path(),
        b.server.sip(),
        &scenario(&body),
        &["-m", &m, "-r", &r, "-l", &m],
    );
    let deadline = Instant::now() + WAIT;
    while b.metric("pont_ivr_callers") < f64::from(n) {
        assert!(
            Instant::now() < deadline,
            "only {} callers in the IVR\n{}",
            b.metric("pont_ivr_callers"),
            sipp_logs(dir.path())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = b.server.pid();
    let (t0, c0) = (Instant::now(), cpu_ticks(pid));
    std::thread::sleep(Duration::from_secs(10));
    let (t1, c1) = (Instant::now(), cpu_ticks(pid));
    let in_ivr = b.metric("pont_ivr_callers");
    let cpu = (c1 - c0) as f64 / 100.0 / (t1 - t0).as_secs_f64();
    eprintln!(
        "{n} callers ({in_ivr} still in the IVR at the end of the window): server CPU {:.1} % of a core, {:.0} callers per core",
        cpu * 100.0,
        f64::from(n) / cpu
    );
    let status = wait_exit(&mut callers, "sipp load");
    assert!(
        status.success(),
        "sipp: {status}\n{}",
        sipp_logs(dir.path())
    );
}

/// A poll answered by a phone caller's key (RFC 4733, sipp's pcap) and by a participant on
/// the page's signalling: both votes counted, once each, however often the caller presses.
/// Keys pressed before the poll opened are not votes.
#[test]
fn a_phone_caller_votes_in_a_poll_with_a_key() {
    if tool("sipp").is_none() {
        return;
    }
    use pont_tests::ws::WsClient;
    use serde_json::json;
    let b = bridge();
    let room = b.room(None);
    let cookie = pont_tests::session_cookie(&b.server, &b.token);
    let path = format!("/api/v1/rooms/{room}/ws");
    let mut ana = WsClient::connect_with(b.server.http, &path, Some(&cookie));
    ana.send_json(&json!({"v": 1, "type": "join", "name": "Ana"}));
    ana.recv_type("joined");
    let mut bob = WsClient::connect_with(b.server.http, &path, None);
    bob.send_json(&json!({"v": 1, "type": "join", "name": "Bob"}));
    bob.recv_type("joined");

    // The caller keys the room, then presses 2 over and over (it cannot know when the poll
    // opens, as a person would not).
    let mut body = invite("[media_port]", PCMU_2833.0, PCMU_2833.1);
    for key in format!("{room}#").chars() {
        body.push_str(&pcap_key(key));
    }
    for _ in 0..30 {
        body.push_str(&pcap_key('2'));
        body.push_str("  <pause milliseconds=\"300\"/>\n");
    }
    body.push_str(&stay_then_bye(1000, 2));
    let dir = tempfile::tempdir().unwrap();
    let mut caller = sipp(dir.path(), b.server.sip(), &scenario(&body), &["-m", "1"]);
    b.wait_for_pstn(room, 1, &|| sipp_logs(dir.path()));

    ana.send_json(&json!({"v": 1, "type": "moderate", "action": "poll_open",
        "poll": {"question": "Which day?", "choices": ["Monday", "Tuesday", "Wednesday"]}}));
    let poll = bob.recv_type("poll")["poll"].clone();
    assert_eq!(poll["state"], "open");
    let id = poll["id"].as_u64().unwrap();
    bob.send_json(&json!({"v": 1, "type": "vote", "poll_id": id, "choices": [0]}));
    let results = loop {
        let r = ana.recv_type("poll_results");
        if r["voters"] == 2 {
            break r;
        }
    };
    assert_eq!(results["counts"], json!([1, 1, 0]), "{results}");
    let status = wait_exit(&mut caller, "sipp");
    assert!(
        status.success(),
        "sipp: {status}\n{}",
        sipp_logs(dir.path())
    );
    // Every press after the first was the same vote: still one each.
    let polls = get(
        &b.server.url(&format!("/api/v1/rooms/{room}/polls")),
        &[("authorization", &bearer(&b.token))],
    );
    assert_eq!(polls.status, 200, "{polls:?}");
    let r = &polls.json()["polls"][0]["results"];
    assert_eq!(r["counts"], json!([1, 1, 0]), "{r}");
    assert_eq!(r["voters"], 2, "{r}");
}
