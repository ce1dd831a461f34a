//! `pont-load` against the real `pont` binary: a short `fanout` (web participants over
//! WebSocket + str0m) and a short `sip` run (callers through the dial-in IVR with RFC 4733
//! DTMF) both receive packets with no failed join; a closed port and a non-loopback target are
//! refused with a clear message and a non-zero exit. No timing thresholds: the figures
//! themselves are for `docs/benchmarks.md`, not for CI.

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use pont_tests::{Server, create_token, workspace_root};
use serde_json::Value;

/// The `pont-load` binary, built once per test process (or `PONT_LOAD_BIN`).
fn load_bin() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("PONT_LOAD_BIN") {
            return PathBuf::from(bin);
        }
        let root = workspace_root();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "pont-load", "--bins"])
            .current_dir(root)
            .stdin(Stdio::null())
            .status()
            .expect("run cargo build for pont-load");
        assert!(
            status.success(),
            "cargo build -p pont-load failed: {status}"
        );
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|t| if t.is_relative() { root.join(t) } else { t })
            .unwrap_or_else(|| root.join("target"));
        target.join("debug").join("pont-load")
    })
}

fn pont_load(args: &[&str]) -> Output {
    Command::new(load_bin())
        .args(args)
        .env_remove("PONT_TOKEN")
        .env_remove("PONT_LOAD_HTTP")
        .env_remove("PONT_LOAD_SIP")
        .stdin(Stdio::null())
        .output()
        .expect("run pont-load")
}

fn json_of(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "pont-load printed no JSON ({e}); status {}\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn assert_ran(out: &Output, server: &Server) -> Value {
    let v = json_of(out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pont-load failed: {}\n{stderr}\nserver log:\n{}",
        out.status,
        server.stderr()
    );
    assert_eq!(v["joins_failed"], 0, "{v:#}\n{stderr}");
    assert!(
        v["packets_received"].as_u64().unwrap_or(0) > 0,
        "nothing received: {v:#}\n{stderr}"
    );
    assert!(v["joins_ok"].as_u64().unwrap_or(0) > 0, "{v:#}");
    v
}

#[test]
fn fanout_and_sip_runs_receive_packets_and_every_join_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = create_token(&dir.path().join("data"), "load-test");
    let http = server.http.to_string();
    let sip = server.sip().to_string();
    let pid = server.pid().to_string();

    let fanout = pont_load(&[
        "--http",
        &http,
        "--token",
        &token,
        "--pid",
        &pid,
        "--duration",
        "2",
        "--json",
        "fanout",
        "--publishers",
        "2",
        "--subscribers",
        "2",
    ]);
    let v = assert_ran(&fanout, &server);
    assert_eq!(v["scenario"], "fanout");
    assert_eq!(v["participants"], 4);
    assert!(
        v["latency_us"]["count"].as_u64().unwrap_or(0) > 0,
        "web → web packets carry the send stamp: {v:#}"
    );

    let calls = pont_load(&[
        "--http",
        &http,
        "--sip",
        &sip,
        "--token",
        &token,
        "--duration",
        "2",
        "--json",
        "sip",
        "--callers",
        "2",
        "--rate",
        "4",
    ]);
    let v = assert_ran(&calls, &server);
    assert_eq!(v["scenario"], "sip");
    assert_eq!(v["participants"], 2);
}

#[test]
fn a_closed_port_is_refused_with_a_clear_message() {
    // A port that was free a moment ago: nothing listens on it.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sip = udp.local_addr().unwrap().to_string();
    drop(udp);
    let out = pont_load(&[
        "--http",
        &format!("127.0.0.1:{port}"),
        "--sip",
        &sip,
        "--token",
        "x",
        "--duration",
        "1",
        "fanout",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "exit 0 against a closed port: {stderr}"
    );
    assert!(
        stderr.contains("not reachable") && stderr.contains(&port.to_string()),
        "unclear message: {stderr}"
    );
}

#[test]
fn a_target_off_this_machine_is_refused() {
    let out = pont_load(&["--http", "192.0.2.10:8080", "fanout"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}
