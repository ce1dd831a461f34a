//! Real SIP peers for end-to-end tests: a headless baresip that sends a tone and records what
//! it hears, and the signal helpers to check the recording.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// What a [`baresip`] in `dir` heard: the samples of its recording (`rec/*-dec.wav`).
pub fn recorded(dir: &Path) -> (u32, Vec<i16>) {
    let rec = std::fs::read_dir(dir.join("rec"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded what it heard");
    read_wav(&rec)
}

/// A WAV file's samples (mono; 16-bit PCM, µ-law or A-law), by `pont_ivr::Wav`.
pub fn read_wav(path: &Path) -> (u32, Vec<i16>) {
    let bytes = std::fs::read(path).unwrap();
    let wav = pont_ivr::Wav::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    let mut samples = vec![0; wav.len()];
    wav.decode_into(0, &mut samples);
    (wav.sample_rate, samples)
}

pub fn write_tone_wav(path: &Path, freq: f64, seconds: u32) {
    let rate = 8000u32;
    let pcm: Vec<i16> = (0..rate * seconds)
        .map(|i| {
            (8000.0 * (2.0 * std::f64::consts::PI * freq * f64::from(i) / f64::from(rate)).sin())
                as i16
        })
        .collect();
    std::fs::write(path, pont_ivr::pcm16_wav(rate, &pcm)).unwrap();
}

/// Energy of `freq` in `samples` (Goertzel), per sample.
pub fn goertzel(samples: &[i16], rate: u32, freq: f64) -> f64 {
    let k = 2.0 * (2.0 * std::f64::consts::PI * freq / rate as f64).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s0 = x as f64 + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - k * s1 * s2) / samples.len().max(1) as f64
}

/// A headless baresip that calls `uri` for `seconds`, sending a tone of `freq` Hz and
/// recording what it hears (the `sndfile` module) into `dir/rec`; its output goes to
/// `dir/baresip.log`.
///
/// baresip binds its SIP port itself, so another process can take the port between
/// [`free_udp_port`] and baresip's start: it then exits at once ("Address already in use") and
/// is started again on another port. Returns once baresip says it is ready (and so has dialled).
/// A peer's process, killed (and reaped) when dropped, so a failing test leaves none behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn baresip(dir: &Path, freq: f64, uri: &str, seconds: u32) -> Child {
    start_baresip(dir, freq, Some(uri), seconds, "ua").0
}

/// A headless baresip that answers the first call it gets (and stays `seconds`), sending a
/// tone of `freq` Hz and recording what it hears, like [`baresip`]; and its SIP URI.
pub fn baresip_answering(dir: &Path, freq: f64, seconds: u32) -> (Child, String) {
    baresip_answering_as(dir, freq, seconds, "ua")
}

/// [`baresip_answering`] with `user` as its SIP user (it refuses calls to other users with
/// 404, as a trunk refuses unknown numbers).
pub fn baresip_answering_as(dir: &Path, freq: f64, seconds: u32, user: &str) -> (Child, String) {
    let (child, port) = start_baresip(dir, freq, None, seconds, user);
    (child, format!("sip:{user}@127.0.0.1:{port}"))
}

fn start_baresip(
    dir: &Path,
    freq: f64,
    dial: Option<&str>,
    seconds: u32,
    user: &str,
) -> (Child, u16) {
    std::fs::create_dir_all(dir.join("rec")).unwrap();
    let tone = dir.join("tone.wav");
    write_tone_wav(&tone, freq, seconds + 5);
    let log_path = dir.join("baresip.log");
    let mut log = String::new();
    for _ in 0..5 {
        let port = free_udp_port();
        let config = format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{port}\nmodule_path /usr/lib/baresip/modules\n\
             module menu.so\nmodule g711.so\nmodule aufile.so\nmodule sndfile.so\n\
             module_app account.so\nmodule_app contact.so\nmodule_app menu.so\n\
             audio_player aufile,{play}\naudio_source aufile,{tone}\naudio_alert aufile,/dev/null\n\
             snd_path {rec}\naudio_srate 8000\naudio_channels 1\n",
            play = dir.join("play.wav").display(),
            tone = tone.display(),
            rec = dir.join("rec").display(),
        );
        std::fs::write(dir.join("config"), config).unwrap();
        std::fs::write(
            dir.join("accounts"),
            format!(
                "<sip:{user}@127.0.0.1:{port}>;regint=0;audio_codecs=PCMU{}\n",
                if dial.is_none() {
                    ";answermode=auto"
                } else {
                    ""
                }
            ),
        )
        .unwrap();
        std::fs::write(dir.join("contacts"), "").unwrap();
        let out = std::fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new("baresip");
        cmd.arg("-f").arg(dir).args(["-t", &seconds.to_string()]);
        if let Some(uri) = dial {
            cmd.args(["-e", &format!("/dial {uri}")]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start baresip");
        // Ready or gone: baresip prints "baresip is ready." once its transports are bound.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if log.contains("baresip is ready.") {
                return (child, port);
            }
            if child.try_wait().unwrap().is_some() {
                log = std::fs::read_to_string(&log_path).unwrap_or_default();
                break;
            }
            assert!(Instant::now() < deadline, "baresip never got ready:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            log.contains("Address already in use"),
            "baresip exited at start:\n{log}"
        );
    }
    panic!("baresip found no free SIP port:\n{log}");
}

/// A UDP port that is free now, with its TCP neighbour free too (baresip also opens TCP on
/// the port and TLS on port + 1). Ports handed out once are not handed out again by this
/// process, so parallel tests do not pick the same one.
pub fn free_udp_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        let mut given = GIVEN.lock().unwrap();
        if port < 65_000
            && !given.contains(&port)
            && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok()
        {
            given.push(port);
            return port;
        }
    }
}

/// Waits for a child process to end, up to a minute (a bound against a hung test).
pub fn wait_exit(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs sipp with scenario `xml` (written to `dir` under a fresh name) against the bridge's
/// SIP address, calling user `service`; its error and message logs go to `dir`.
pub fn sipp(dir: &Path, sip: SocketAddr, service: &str, xml: &str, extra: &[&str]) -> Child {
    sipp_from(dir, sip, "127.0.0.1", service, xml, extra)
}

/// [`sipp`] with its SIP and media sockets bound to `local_ip` (another loopback address, so
/// the bridge sees another source).
pub fn sipp_from(
    dir: &Path,
    sip: SocketAddr,
    local_ip: &str,
    service: &str,
    xml: &str,
    extra: &[&str],
) -> Child {
    static N: AtomicU32 = AtomicU32::new(0);
    let file = dir.join(format!(
        "scenario-{}.xml",
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&file, xml).unwrap();
    Command::new("sipp")
        .arg("-sf")
        .arg(&file)
        .args(["-s", service])
        .arg(sip.to_string())
        .args(["-i", local_ip, "-mi", local_ip, "-nostdin"])
        .args([
            "-timeout",
            "90s",
            "-timeout_error",
            "-trace_err",
            "-trace_msg",
        ])
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp")
}

/// sipp's error and message logs in `dir`, for a failure message.
pub fn sipp_logs(dir: &Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "log") {
            out.push_str(&format!("--- {}\n", p.display()));
            out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
        }
    }
    out
}

/// A callee that rings, then is busy: sipp as a UAS answering 180 then 486.
const BUSY_CALLEE: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="ringing then busy">
  <recv request="INVITE" />
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]busy[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <send><![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=[pid]busy[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <recv request="ACK" />
</scenario>
"#;

/// A SIP callee (sipp) in `dir` that rings, then answers 486 Busy Here to one call; its
/// `sip:busy@127.0.0.1:<port>` URI, returned once sipp holds its port.
pub fn sipp_busy_callee(dir: &Path) -> (Child, String) {
    let port = free_udp_port();
    std::fs::write(dir.join("busy.xml"), BUSY_CALLEE).unwrap();
    let child = Command::new("sipp")
        .args([
            "-sf",
            "busy.xml",
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .args(["-m", "1", "-nostdin", "-timeout", "60s", "-trace_err"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp");
    crate::webdriver::poll(Duration::from_secs(30), || {
        UdpSocket::bind(("127.0.0.1", port)).is_err().then_some(())
    })
    .expect("sipp listening");
    (child, format!("sip:busy@127.0.0.1:{port}"))
}
