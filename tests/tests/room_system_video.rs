//! A room system receives the room composed on one picture, the active speaker in the main
//! window: two SIP video participants (solid red and solid blue H.264 made by ffmpeg, with
//! G.711 tones for speech) and a room system (a SIP peer written here that receives video);
//! the H.264 the room system gets decodes with ffmpeg, and its main window turns from red to
//! blue when the speaker changes; a browser's shared screen takes the main window of the room
//! system and of another browser, and gives it back when the share stops. Skips (and says so)
//! without ffmpeg or Chromium.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pont_tests::{Server, bearer, get, instant_room};
use pont_video::h264::{NAL_IDR, NAL_SLICE, annexb_nal_units, nal_type};
use pont_video::{Depacketizer, DepacketizerOutput, Packetizer};

const WAIT: Duration = Duration::from_secs(60);

/// The tests of this file each run encoders, decoders and browsers: on a 2-core machine, run
/// side by side they starve each other's media (a speaker not detected in a minute), so they
/// take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A picture the room system received: the phase (who was speaking) and its Annex-B bytes.
type Picture = (usize, Vec<u8>);

/// A minimal SIP user agent over UDP: INVITE with G.711 + H.264, ACK, BYE.
struct Ua {
    sip: UdpSocket,
    audio: UdpSocket,
    video: UdpSocket,
    server: SocketAddr,
    call_id: String,
    tag: String,
    to_tag: String,
    remote_audio: SocketAddr,
    remote_video: SocketAddr,
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

impl Ua {
    fn call(server: SocketAddr, room: u64, name: &str) -> Self {
        let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
        let audio = UdpSocket::bind("127.0.0.1:0").unwrap();
        let video = UdpSocket::bind("127.0.0.1:0").unwrap();
        sip.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let local = sip.local_addr().unwrap();
        let (ap, vp) = (
            audio.local_addr().unwrap().port(),
            video.local_addr().unwrap().port(),
        );
        let call_id = format!("{name}-{}@test", local.port());
        let tag = format!("t{}", local.port());
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {ap} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
             m=video {vp} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
             a=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r\n"
        );
        let invite = format!(
            "INVITE sip:{room}@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{tag}-1\r\n\
             From: \"{name}\" <sip:{name}@{local}>;tag={tag}\r\nTo: <sip:{room}@{server}>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:{name}@{local}>\r\nMax-Forwards: 70\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        let deadline = Instant::now() + WAIT;
        let mut buf = vec![0u8; 65_536];
        let answer = loop {
            assert!(Instant::now() < deadline, "no 200 OK to the INVITE");
            sip.send_to(invite.as_bytes(), server).unwrap();
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
        let to_tag = header(&answer, "to")
            .and_then(|t| t.split(";tag=").nth(1))
            .expect("To tag")
            .to_owned();
        let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
        let ip = body
            .lines()
            .find_map(|l| l.strip_prefix("c=IN IP4 "))
            .expect("c=")
            .trim()
            .to_owned();
        let port = |kind: &str| -> u16 {
            body.lines()
                .find_map(|l| l.strip_prefix(&format!("m={kind} ")))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|p| p.parse().ok())
                .expect("m= port")
        };
        let remote_audio = format!("{ip}:{}", port("audio")).parse().unwrap();
        let remote_video = format!("{ip}:{}", port("video")).parse().unwrap();
        let ua = Self {
            sip,
            audio,
            video,
            server,
            call_id,
            tag,
            to_tag,
            remote_audio,
            remote_video,
        };
        ua.request("ACK", 1);
        ua
    }

    fn request(&self, method: &str, cseq: u32) {
        let local = self.sip.local_addr().unwrap();
        let msg = format!(
            "{method} sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{tag}-{method}{cseq}\r\n\
             From: <sip:ua@{local}>;tag={tag}\r\nTo: <sip:room@{server}>;tag={to}\r\nCall-ID: {cid}\r\n\
             CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            server = self.server,
            tag = self.tag,
            to = self.to_tag,
            cid = self.call_id
        );
        self.sip.send_to(msg.as_bytes(), self.server).unwrap();
    }
}

fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&ts.to_be_bytes());
    b.extend_from_slice(&ssrc.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

/// G.711 µ-law of one sample (ITU-T G.711).
fn ulaw(sample: i16) -> u8 {
    let sign = if sample < 0 { 0x80 } else { 0 };
    let mut v = (sample as i32).unsigned_abs().min(32_635) + 0x84;
    let mut exp = 7;
    while exp > 0 && v & 0x4000 == 0 {
        v <<= 1;
        exp -= 1;
    }
    let mantissa = ((v >> 10) & 0x0f) as u8;
    !(sign | ((exp as u8) << 4) | mantissa)
}

/// H.264 frames (NAL units each) of a solid colour, constrained baseline, an IDR every second.
fn solid_h264(dir: &std::path::Path, colour: &str) -> Vec<Vec<Vec<u8>>> {
    let file = dir.join(format!("{colour}.h264"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c={colour}:s=320x240:r=15"))
        .args([
            "-t",
            "30",
            "-c:v",
            "libx264",
            "-profile:v",
            "baseline",
            "-pix_fmt",
            "yuv420p",
        ])
        .args([
            "-x264-params",
            "keyint=15:bframes=0:repeat-headers=1",
            "-f",
            "h264",
        ])
        .arg(&file)
        .status()
        .expect("run ffmpeg");
    assert!(status.success());
    let stream = std::fs::read(&file).unwrap();
    let mut frames: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut pending: Vec<Vec<u8>> = Vec::new();
    for nal in annexb_nal_units(&stream) {
        let t = nal_type(nal[0]);
        pending.push(nal.to_vec());
        if t == NAL_SLICE || t == NAL_IDR {
            frames.push(std::mem::take(&mut pending));
        }
    }
    frames
}

/// Sends a participant's media until `stop`: G.711 every 20 ms (a tone while `talking`),
/// and its H.264 at 15 frames/s.
fn publish(
    ua: Arc<Ua>,
    frames: Vec<Vec<Vec<u8>>>,
    me: usize,
    talking: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut packetizer = Packetizer::new(1200, 1000);
        let (mut aseq, mut ats, mut vframe) = (0u16, 0u32, 0usize);
        let mut next_video = start;
        let mut tick = 0u64;
        while !stop.load(Ordering::Relaxed) {
            // Speech-like: 400 ms bursts and 200 ms pauses (a steady tone would be taken for
            // the line's noise floor by the speaker detector, as it should).
            let loud = talking.load(Ordering::Relaxed) == me && (ats / 8) % 600 < 400;
            let payload: Vec<u8> = (0..160)
                .map(|i| {
                    let t = (ats + i) as f64 / 8000.0;
                    // A tone in bursts over a faint background, as a voice over a line: the
                    // speaker detector measures speech against each line's noise floor.
                    let background = 30.0 * (2.0 * std::f64::consts::PI * 97.0 * t).sin();
                    let s = if loud {
                        12_000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()
                    } else {
                        background
                    };
                    ulaw(s as i16)
                })
                .collect();
            let _ = ua.audio.send_to(
                &rtp(0, false, aseq, ats, 0x100 + me as u32, &payload),
                ua.remote_audio,
            );
            aseq = aseq.wrapping_add(1);
            ats = ats.wrapping_add(160);
            if Instant::now() >= next_video {
                let frame = &frames[vframe % frames.len()];
                let ts = (vframe as u32).wrapping_mul(6000);
                let mut out = Vec::new();
                packetizer.packetize(ts, frame.iter().map(Vec::as_slice), &mut out);
                for p in out {
                    let _ = ua.video.send_to(
                        &rtp(
                            96,
                            p.marker,
                            p.seq,
                            p.timestamp,
                            0x200 + me as u32,
                            &p.payload,
                        ),
                        ua.remote_video,
                    );
                }
                vframe += 1;
                next_video += Duration::from_micros(66_667);
            }
            tick += 1;
            // The media clock: packets go out every 20 ms of wall time.
            let due = start + Duration::from_millis(20 * tick);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    });
}

/// What the room system receives: its pictures, each tagged with the phase of the test.
struct RoomSystemView {
    ua: Arc<Ua>,
    depacketizer: Depacketizer,
    units: Vec<Picture>,
    packets: u64,
}

impl RoomSystemView {
    fn new(ua: Arc<Ua>) -> Self {
        ua.video
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Self {
            ua,
            depacketizer: Depacketizer::new(),
            units: Vec::new(),
            packets: 0,
        }
    }

    /// Receives pictures (tagged `phase`) until `done` says so; bounded by [`WAIT`].
    fn receive_until(
        &mut self,
        phase: usize,
        server: &Server,
        mut done: impl FnMut(&[Picture]) -> bool,
    ) {
        let deadline = Instant::now() + WAIT;
        let mut buf = vec![0u8; 2048];
        while !done(&self.units) {
            assert!(
                Instant::now() < deadline,
                "phase {phase}: timed out with {} pictures from {} packets\n{}",
                self.units.len(),
                self.packets,
                server.stderr()
            );
            let Ok(n) = self.ua.video.recv(&mut buf) else {
                continue;
            };
            self.take(phase, &buf[..n]);
        }
    }

    /// Reads what waits in the socket now (pictures sent while the test was busy elsewhere),
    /// as `phase`: the next phase then starts with pictures sent from now on.
    fn drain(&mut self, phase: usize) {
        let mut buf = vec![0u8; 2048];
        self.ua.video.set_nonblocking(true).unwrap();
        while let Ok(n) = self.ua.video.recv(&mut buf) {
            self.take(phase, &buf[..n]);
        }
        self.ua.video.set_nonblocking(false).unwrap();
    }

    fn take(&mut self, phase: usize, p: &[u8]) {
        self.packets += 1;
        if p.len() < 12 || (72..=95).contains(&(p[1] & 0x7f)) {
            return; // RTCP
        }
        let seq = u16::from_be_bytes([p[2], p[3]]);
        let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        self.depacketizer.push(seq, ts, p[1] & 0x80 != 0, &p[12..]);
        while let Some(o) = self.depacketizer.poll_output() {
            if let DepacketizerOutput::Frame(au) = o
                && (!self.units.is_empty() || au.keyframe)
            {
                self.units.push((phase, au.data));
            }
        }
    }

    /// Decodes everything received with ffmpeg (which must report no error) and gives the
    /// colour at the main window's centre for the last picture of each phase.
    fn main_window_colours(&self, dir: &std::path::Path) -> Vec<(u8, u8, u8)> {
        let file = dir.join("composed.h264");
        let stream: Vec<u8> = self
            .units
            .iter()
            .flat_map(|(_, d)| d.iter().copied())
            .collect();
        std::fs::write(&file, &stream).unwrap();
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-f", "h264", "-i"])
            .arg(&file)
            .args([
                "-vf",
                "scale=32:18",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "ffmpeg: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let frames: Vec<&[u8]> = out.stdout.chunks_exact(32 * 18 * 3).collect();
        assert!(
            frames.len() + 2 >= self.units.len(),
            "{} frames from {} pictures",
            frames.len(),
            self.units.len()
        );
        // The main window's centre: 1280x720 → 32x18, main window = top three quarters.
        let centre = |f: &[u8]| {
            let i = (6 * 32 + 16) * 3;
            (f[i], f[i + 1], f[i + 2])
        };
        let phases = self.units.iter().map(|(p, _)| *p).max().unwrap_or(0);
        (0..=phases)
            .map(|phase| {
                let last = self
                    .units
                    .iter()
                    .rposition(|(p, _)| *p == phase)
                    .unwrap_or(0)
                    .min(frames.len() - 1);
                centre(frames[last])
            })
            .collect()
    }
}

fn ffmpeg_available() -> bool {
    let ok = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: ffmpeg is not installed (bash tools/test-deps installs it)");
    }
    ok
}

/// The display name of the room's active speaker.
fn speaker(server: &Server, token: &str, room: u64) -> Option<String> {
    let auth = bearer(token);
    let j = get(
        &server.url(&format!("/api/v1/rooms/{room}")),
        &[("authorization", &auth)],
    )
    .json();
    let id = &j["active_speaker"];
    j["participants"]
        .as_array()?
        .iter()
        .find(|p| &p["id"] == id)?["display_name"]
        .as_str()
        .map(str::to_owned)
}

fn is_red((r, g, b): (u8, u8, u8)) -> bool {
    r > 150 && g < 90 && b < 90
}

#[test]
fn room_system_gets_the_composed_room_and_the_main_window_follows_the_speaker() {
    let _turn = turn();
    if !ffmpeg_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = pont_tests::create_token(&dir.path().join("data"), "video-test");
    let room = instant_room(&server, &token);
    let sip = server.sip();
    let red = solid_h264(dir.path(), "red");
    let blue = solid_h264(dir.path(), "blue");

    let talking = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let a = Arc::new(Ua::call(sip, room, "red"));
    publish(a.clone(), red, 0, talking.clone(), stop.clone());
    let b = Arc::new(Ua::call(sip, room, "blue"));
    publish(b.clone(), blue, 1, talking.clone(), stop.clone());
    // The room system: sends nothing, receives the composed picture.
    let mut view = RoomSystemView::new(Arc::new(Ua::call(sip, room, "roomsystem")));

    // Phase 0 while "red" speaks, 1 while "blue" does.
    let mut spoke = false;
    view.receive_until(0, &server, |u| {
        spoke = spoke || speaker(&server, &token, room).as_deref() == Some("red");
        spoke && u.len() > 45
    });
    talking.store(1, Ordering::Relaxed);
    let mut switched_at = None;
    view.receive_until(1, &server, |u| {
        if switched_at.is_none() && speaker(&server, &token, room).as_deref() == Some("blue") {
            switched_at = Some(u.len());
        }
        // Two seconds of picture after the detector named the new speaker.
        switched_at.is_some_and(|n| u.len() > n + 30)
    });
    stop.store(true, Ordering::Relaxed);
    for ua in [&a, &b, &view.ua] {
        ua.request("BYE", 2);
    }
    let colours = view.main_window_colours(dir.path());
    assert!(
        is_red(colours[0]),
        "red speaking, main window shows {:?}",
        colours[0]
    );
    let (r, g, bl) = colours[1];
    assert!(
        bl > 150 && r < 90 && g < 90,
        "blue speaking, main window shows {:?}",
        (r, g, bl)
    );
}

/// A browser's camera (Chromium's fake device) in the composed picture: when the browser's
/// user speaks, the room system's main window turns from the red SIP camera to it.
#[test]
fn a_browser_takes_the_room_systems_main_window_when_it_speaks() {
    let _turn = turn();
    if !ffmpeg_available() {
        return;
    }
    let (chromium, chromedriver) = match pont_tests::webdriver::browser_available() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = pont_tests::create_token(&dir.path().join("data"), "video-test");
    let room = instant_room(&server, &token);
    let sip = server.sip();
    let red = solid_h264(dir.path(), "red");
    let talking = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let a = Arc::new(Ua::call(sip, room, "red"));
    publish(a.clone(), red, 0, talking.clone(), stop.clone());
    let mut view = RoomSystemView::new(Arc::new(Ua::call(sip, room, "roomsystem")));
    view.receive_until(0, &server, |u| {
        speaker(&server, &token, room).as_deref() == Some("red") && u.len() > 45
    });

    // Red falls silent; the browser speaks (tone bursts from its fake microphone).
    talking.store(usize::MAX, Ordering::Relaxed);
    let tone = dir.path().join("tone.wav");
    pont_tests::webdriver::write_wav(&tone, 30, Some((440.0, -6.0)));
    let driver = pont_tests::webdriver::Driver::start(&chromium, &chromedriver);
    let browser = driver.browser(
        &dir.path().join("profile"),
        &[format!(
            "--use-file-for-fake-audio-capture={}",
            tone.display()
        )],
    );
    browser.navigate(&server.url(&format!("/r/{room}?name=Web&autojoin=1")));
    let mut switched_at = None;
    view.receive_until(1, &server, |u| {
        if switched_at.is_none() && speaker(&server, &token, room).as_deref() == Some("Web") {
            switched_at = Some(u.len());
        }
        // Three seconds of picture after the browser took the floor: its first keyframe has
        // arrived and been decoded by then.
        switched_at.is_some_and(|n| u.len() > n + 45)
    });
    stop.store(true, Ordering::Relaxed);
    for ua in [&a, &view.ua] {
        ua.request("BYE", 2);
    }
    let colours = view.main_window_colours(dir.path());
    assert!(
        is_red(colours[0]),
        "red speaking, main window shows {:?}",
        colours[0]
    );
    assert!(
        !is_red(colours[1]),
        "the browser speaking, main window still red: {:?}",
        colours[1]
    );
}

fn is_blue((r, g, b): (u8, u8, u8)) -> bool {
    b > 150 && r < 90 && g < 90
}

/// Paints a canvas solid blue (Chromium's fake camera is green) and shares it as the page's screen (headless Chromium has no
/// screen for getDisplayMedia to capture; the page's share path from the stream on is the one
/// the Share button takes).
const SHARE_BLUE: &str = "const c = document.createElement('canvas'); c.width = 640; c.height = 360;\
     const g = c.getContext('2d');\
     setInterval(() => { g.fillStyle = '#0000ff'; g.fillRect(0, 0, 640, 360);\
       g.fillStyle = '#0000fe'; g.fillRect(0, 0, 2, 2); }, 50);\
     g.fillStyle = '#0000ff'; g.fillRect(0, 0, 640, 360);\
     window.pont.shareStream(c.captureStream(15)); return true;";

#[test]
fn a_shared_screen_takes_the_main_window_of_browsers_and_room_systems() {
    screen_share_reaches_room_systems(false);
}

/// With `[video] room_systems = "switched"` a room system gets one participant's own stream:
/// the shared screen's while someone shares, whoever speaks.
#[test]
fn a_shared_screen_takes_the_main_window_of_switched_room_systems() {
    screen_share_reaches_room_systems(true);
}

fn screen_share_reaches_room_systems(switched: bool) {
    let _turn = turn();
    if !ffmpeg_available() {
        return;
    }
    let (chromium, chromedriver) = match pont_tests::webdriver::browser_available() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    if switched {
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::write(
            dir.path().join("config/pont.toml"),
            "[video]\nroom_systems = \"switched\"\n",
        )
        .unwrap();
    }
    let server = Server::start(dir.path());
    let token = pont_tests::create_token(&dir.path().join("data"), "share-test");
    let room = instant_room(&server, &token);
    let sip = server.sip();
    // Red keeps speaking: without a share it holds the main window.
    let red = solid_h264(dir.path(), "red");
    let talking = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let a = Arc::new(Ua::call(sip, room, "red"));
    publish(a.clone(), red, 0, talking.clone(), stop.clone());
    let mut view = RoomSystemView::new(Arc::new(Ua::call(sip, room, "roomsystem")));
    view.receive_until(0, &server, |u| {
        speaker(&server, &token, room).as_deref() == Some("red") && u.len() > 45
    });

    let driver = pont_tests::webdriver::Driver::start(&chromium, &chromedriver);
    let sharer = driver.browser(&dir.path().join("sharer"), &[]);
    sharer.navigate(&server.url(&format!("/r/{room}?name=Sharer&autojoin=1")));
    let viewer = driver.browser(&dir.path().join("viewer"), &[]);
    viewer.navigate(&server.url(&format!("/r/{room}?name=Viewer&autojoin=1")));
    for b in [&sharer, &viewer] {
        let up = pont_tests::webdriver::poll(WAIT, || {
            (b.exec("return window.pont.connectionState", serde_json::json!([])) == "connected")
                .then_some(())
        });
        assert!(up.is_some(), "a browser did not connect");
        // Muted (the fake microphone beeps): red stays the speaker throughout.
        b.exec(
            "document.getElementById('btn-mic').click(); return true;",
            serde_json::json!([]),
        );
    }
    // What the room system got while the browsers joined: red, before the share.
    view.drain(0);
    assert_eq!(sharer.exec(SHARE_BLUE, serde_json::json!([])), true);
    let sharer_id = sharer.exec("return window.pont.participantId", serde_json::json!([]));
    // The bridge lets it share: the sharer sees its bar, the viewer the screen in its main
    // window, decoding frames on the screen's m-line.
    let shared = pont_tests::webdriver::poll(WAIT, || {
        (sharer.exec("return window.pont.sharing", serde_json::json!([])) == true).then_some(())
    });
    assert!(shared.is_some(), "the sharer's share was not accepted");
    let seen = pont_tests::webdriver::poll(WAIT, || {
        let source = viewer.exec("return window.pont.mainWindowSource", serde_json::json!([]));
        let stats = viewer.exec_async(pont_tests::webdriver::PAGE_STATS);
        let frames: u64 = stats
            .as_array()?
            .iter()
            .filter(|s| s["kind"] == "video" && s["participantId"] == sharer_id)
            .map(|s| s["framesDecoded"].as_u64().unwrap_or(0))
            .max()?;
        (source == "screen" && frames > 10).then_some(frames)
    });
    assert!(
        seen.is_some(),
        "the viewer's main window does not show the screen"
    );
    assert_eq!(
        viewer.exec("return window.pont.sharer", serde_json::json!([])),
        sharer_id
    );
    // Someone else cannot share at the same time.
    viewer.exec(
        "const c = document.createElement('canvas'); c.getContext('2d').fillRect(0,0,1,1);\
         window.pont.shareStream(c.captureStream(5)); return true;",
        serde_json::json!([]),
    );
    let busy = pont_tests::webdriver::poll(WAIT, || {
        (viewer.exec("return window.pont.message", serde_json::json!([])) == "share_busy")
            .then_some(())
    });
    assert!(busy.is_some(), "a second share was not refused");

    // The room system's composed picture: the screen in the main window though red speaks
    // (what was sent while the share started is read first; the phase's last pictures are
    // fresh).
    view.drain(1);
    let mut shared_at = None;
    view.receive_until(1, &server, |u| {
        let n = *shared_at.get_or_insert(u.len());
        u.len() > n + 60
    });
    // The sharer stops: red is back in the main window.
    sharer.exec(
        "window.pont.stopSharing(); return true;",
        serde_json::json!([]),
    );
    let back = pont_tests::webdriver::poll(WAIT, || {
        (viewer.exec("return window.pont.mainWindowSource", serde_json::json!([])) == "camera")
            .then_some(())
    });
    assert!(
        back.is_some(),
        "the viewer's main window did not go back to a camera"
    );
    view.drain(2);
    let mut stopped_at = None;
    view.receive_until(2, &server, |u| {
        let n = *stopped_at.get_or_insert(u.len());
        u.len() > n + 60
    });
    stop.store(true, Ordering::Relaxed);
    for ua in [&a, &view.ua] {
        ua.request("BYE", 2);
    }
    let colours = view.main_window_colours(dir.path());
    assert!(is_red(colours[0]), "before the share: {:?}", colours[0]);
    assert!(is_blue(colours[1]), "while shared: {:?}", colours[1]);
    assert!(is_red(colours[2]), "after the share: {:?}", colours[2]);
}
