//! Harness for the end-to-end tests in `tests/tests/`: they start the real `pont` binary.
//!
//! The binary is built once per test process with `cargo build -p pont-server --bin pont`
//! (cargo's own lock makes concurrent test binaries wait for one build), unless `PONT_BIN`
//! names a binary to test instead. Each server runs on `--http 127.0.0.1:0` with its own data
//! folder and working directory; the harness waits for its `pont listening http=ADDR` line,
//! never for a fixed time.
#![forbid(unsafe_code)]

pub mod oidc;
pub mod peers;
pub mod tls;
pub mod webdriver;
pub mod ws;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Upper bound on waiting for an event from the server (its listening line, its exit). It is
/// a guard against a hung test, not a timing expectation: events normally take milliseconds.
pub const EVENT_WAIT: Duration = Duration::from_secs(60);

/// Every environment variable the binary reads; cleared so the caller's shell cannot leak in.
const PONT_VARS: &[&str] = &[
    "PONT_CONFIG",
    "PONT_DATA",
    "PONT_HTTP",
    "PONT_SIP",
    "PONT_MEDIA",
    "PONT_RTP_PORTS",
    "PONT_PUBLIC_IP",
    "PONT_PUBLIC_URL",
    "PONT_TLS_CERT",
    "PONT_TLS_KEY",
    "PONT_LOG",
    "RUST_LOG",
];

/// The workspace root (this package lives in `<root>/tests`).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent: the workspace root")
}

/// The `pont` binary, built on first use.
pub fn pont_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("PONT_BIN") {
            return PathBuf::from(bin);
        }
        let root = workspace_root();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "pont-server", "--bin", "pont"])
            .current_dir(root)
            .stdin(Stdio::null())
            .status()
            .expect("run cargo build for the pont binary");
        assert!(
            status.success(),
            "cargo build -p pont-server failed: {status}"
        );
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|t| if t.is_relative() { root.join(t) } else { t })
            .unwrap_or_else(|| root.join("target"));
        let bin = target.join("debug").join("pont");
        assert!(bin.exists(), "built pont is not at {}", bin.display());
        bin
    })
}

/// A `pont` command with a clean environment and `cwd` as its working directory.
pub fn pont_command(cwd: &Path) -> Command {
    let mut cmd = Command::new(pont_bin());
    cmd.current_dir(cwd).stdin(Stdio::null());
    for var in PONT_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// Output of a finished `pont` command.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a `pont` command to completion.
pub fn run(mut cmd: Command) -> Finished {
    let out = cmd.output().expect("run pont");
    Finished {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `pont token create <name> --data <data>`: returns the token (the last line printed).
pub fn create_token(data: &Path, name: &str) -> String {
    let mut cmd = pont_command(data.parent().unwrap_or(data));
    cmd.args(["token", "create", name, "--data"]).arg(data);
    let out = run(cmd);
    assert!(out.status.success(), "token create failed: {out:?}");
    let token = out
        .stdout
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert!(!token.is_empty(), "no token printed: {out:?}");
    token
}

/// A running `pont serve`. Dropping it kills the process.
pub struct Server {
    child: Option<Child>,
    /// The bound HTTP address from the listening line.
    pub http: SocketAddr,
    /// Standard output lines up to and including the listening line.
    pub stdout: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

/// How to start a server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Working directory (a `config/pont.toml` in it is read by default).
    pub cwd: PathBuf,
    pub args: Vec<String>,
    pub env: HashMap<String, String>,
}

impl ServeOptions {
    /// `pont serve --http 127.0.0.1:0 --media 127.0.0.1:0 --sip 127.0.0.1:0 --data <dir>/data`,
    /// run in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            cwd: dir.to_owned(),
            args: vec![
                "--http".into(),
                "127.0.0.1:0".into(),
                "--media".into(),
                "127.0.0.1:0".into(),
                "--sip".into(),
                "127.0.0.1:0".into(),
                "--data".into(),
                dir.join("data").display().to_string(),
            ],
            env: HashMap::new(),
        }
    }
}

/// Why a server did not come up.
#[derive(Debug)]
pub struct StartError {
    pub status: Option<ExitStatus>,
    pub stdout: Vec<String>,
    pub stderr: String,
}

impl Server {
    /// Starts a server and waits for its listening line.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(ServeOptions::new(dir)).unwrap_or_else(|e| panic!("pont serve: {e:#?}"))
    }

    /// Starts a server; an error if it exits (or says nothing) before listening.
    pub fn start_with(options: ServeOptions) -> Result<Self, StartError> {
        let mut cmd = pont_command(&options.cwd);
        cmd.arg("serve")
            .args(&options.args)
            .envs(&options.env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn pont serve");

        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&stderr);
        let err_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err_pipe.read(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&text);
            }
        });
        let lines = spawn_line_reader(child.stdout.take().expect("piped stdout"));

        let mut stdout = Vec::new();
        let deadline = Instant::now() + EVENT_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    let http = parse_listening(&line);
                    stdout.push(line);
                    if let Some(http) = http {
                        return Ok(Self {
                            child: Some(child),
                            http,
                            stdout,
                            stderr,
                        });
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // Standard output closed: the process is exiting.
                    let status = child.wait().ok();
                    // The stderr reader ends at the pipe's end, which the exit brought.
                    let _ = err_reader.join();
                    let stderr = stderr.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    return Err(StartError {
                        status,
                        stdout,
                        stderr,
                    });
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    return Err(StartError {
                        status,
                        stdout,
                        stderr: stderr.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                    });
                }
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// The same over HTTPS (a server started with `--tls-cert`/`--tls-key`).
    pub fn https_url(&self, path: &str) -> String {
        format!("https://{}{path}", self.http)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// What the server wrote to standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends `signal` (e.g. "TERM") and waits for the exit.
    pub fn stop(mut self, signal: &str) -> ExitStatus {
        let mut child = self.child.take().expect("server still running");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
        wait_bounded(&mut child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for a child's exit, polling `try_wait` up to [`EVENT_WAIT`].
fn wait_bounded(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + EVENT_WAIT;
    loop {
        if let Some(status) = child.try_wait().expect("wait for pont") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("pont did not exit within {EVENT_WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn spawn_line_reader(pipe: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `pont listening http=127.0.0.1:41234 [other=...]` → the HTTP address.
pub fn parse_listening(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("pont listening ")?
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("http="))?
        .parse()
        .ok()
}

/// A blocking HTTP client that returns 4xx/5xx as responses and does not follow redirects.
pub fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(EVENT_WAIT))
        .build()
        .into()
}

/// A response reduced to what tests look at.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Asserts the documented error shape and returns its code.
    pub fn error_code(&self) -> String {
        let json = self.json();
        let code = json["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error.code in {json}"));
        assert!(
            json["error"]["message"].is_string(),
            "no error.message in {json}"
        );
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "error is not application/json: {self:?}"
        );
        code.to_owned()
    }
}

pub(crate) fn reply(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = result.expect("HTTP request");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let body = response
        .body_mut()
        .read_to_string()
        .expect("read response body");
    Reply {
        status,
        headers,
        body,
    }
}

/// `GET url` with optional extra headers.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = client().get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    reply(request.call())
}

/// `method url` with a body and optional extra headers.
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let agent = client();
    let mut request = match method {
        "POST" => agent.post(url),
        "PUT" => agent.put(url),
        "PATCH" => agent.patch(url),
        other => panic!("send: unsupported method {other}"),
    };
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    reply(request.send(body))
}

/// `DELETE url`.
pub fn delete(url: &str) -> Reply {
    delete_with(url, &[])
}

/// `DELETE url` with extra headers.
pub fn delete_with(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = client().delete(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    reply(request.call())
}

/// The media address from the listening line (`media=ADDR`).
pub fn parse_media(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("pont listening ")?
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("media="))?
        .parse()
        .ok()
}

/// The SIP address from the listening line (`sip=ADDR`).
pub fn parse_sip(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("pont listening ")?
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("sip="))?
        .parse()
        .ok()
}

impl Server {
    /// The bound SIP address (UDP and TCP).
    pub fn sip(&self) -> SocketAddr {
        self.stdout
            .iter()
            .find_map(|l| parse_sip(l))
            .expect("sip= in the listening line")
    }

    /// The bound WebRTC media address.
    pub fn media(&self) -> SocketAddr {
        self.stdout
            .iter()
            .find_map(|l| parse_media(l))
            .expect("media= in the listening line")
    }
}

/// Creates an instant meeting with `token` and returns its room number.
pub fn instant_room(server: &Server, token: &str) -> u64 {
    let auth = bearer(token);
    let reply = send(
        "POST",
        &server.url("/api/v1/meetings/instant"),
        &[
            ("content-type", "application/json"),
            ("authorization", &auth),
        ],
        r#"{"subject": "test"}"#,
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    reply.json()["room_number"].as_u64().expect("room_number")
}

/// A portal session for `token`'s organizer, signed in by its sign-in link: the
/// `pont_session=…` pair for a `cookie` header.
pub fn session_cookie(server: &Server, token: &str) -> String {
    let reply = get(&server.url(&format!("/signin?token={token}")), &[]);
    assert_eq!(reply.status, 303, "{reply:?}");
    let cookie = reply.header("set-cookie").expect("a session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

/// `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A binary response (downloads).
#[derive(Debug)]
pub struct BytesReply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// `GET url` with extra headers, the body kept as bytes.
pub fn get_bytes(url: &str, headers: &[(&str, &str)]) -> BytesReply {
    let mut request = client().get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut response = request.call().expect("HTTP request");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .expect("read response body");
    BytesReply {
        status,
        headers,
        body,
    }
}

/// The path of a program on `PATH`; `None` (after saying the test is skipped, and why) when it
/// is not installed.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!("SKIPPED: `{name}` is not installed (bash tools/test-deps installs it)");
    }
    found
}
