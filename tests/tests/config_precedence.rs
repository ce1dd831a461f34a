//! Settings: flag > PONT_* environment variable > config file > default; bad config fails.

use std::path::Path;

use pont_tests::{ServeOptions, Server, bearer, create_token, pont_command, run, send};

/// Writes `config/pont.toml` in `dir` (the file `pont serve` reads by default).
fn write_config(dir: &Path, text: &str) {
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(dir.join("config/pont.toml"), text).unwrap();
}

/// The web link of a new meeting shows which `public_url` won.
fn web_link(server: &Server, token: &str) -> String {
    let auth = bearer(token);
    let reply = send(
        "POST",
        &server.url("/api/v1/meetings/instant"),
        &[
            ("content-type", "application/json"),
            ("authorization", &auth),
        ],
        r#"{"subject":"which url"}"#,
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    let link = reply.json()["web_link"].as_str().unwrap().to_owned();
    link.rsplit_once("/r/").unwrap().0.to_owned()
}

#[test]
fn flag_beats_env_beats_config_file_beats_default() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "erin");

    // Default: the bound HTTP address.
    let server = Server::start(dir.path());
    assert_eq!(web_link(&server, &token), server.url(""));
    drop(server);

    // The config file, read from config/pont.toml by default; it also sets the HTTP
    // address and the data folder here, since no flag does.
    write_config(
        dir.path(),
        r#"
http = "127.0.0.1:0"
sip = "127.0.0.1:0"
data = "data"
public_url = "https://file.example"
[dialin]
numbers = ["+33123456789"]
"#,
    );
    let mut options = ServeOptions::new(dir.path());
    options.args.clear();
    let server = Server::start_with(options.clone()).unwrap();
    assert_eq!(web_link(&server, &token), "https://file.example");
    drop(server);

    // The environment beats the file.
    options
        .env
        .insert("PONT_PUBLIC_URL".into(), "https://env.example/".into());
    let server = Server::start_with(options.clone()).unwrap();
    assert_eq!(web_link(&server, &token), "https://env.example");
    drop(server);

    // The flag beats the environment.
    options
        .args
        .extend(["--public-url".into(), "https://flag.example".into()]);
    let server = Server::start_with(options).unwrap();
    assert_eq!(web_link(&server, &token), "https://flag.example");

    // Keys without a flag come from the file.
    let auth = bearer(&token);
    let reply = send(
        "POST",
        &server.url("/api/v1/meetings/instant"),
        &[
            ("content-type", "application/json"),
            ("authorization", &auth),
        ],
        r#"{"subject":"numbers"}"#,
    );
    assert_eq!(
        reply.json()["dial_in"]["numbers"],
        serde_json::json!(["+33123456789"])
    );
}

#[test]
fn env_sets_the_http_address_and_the_flag_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = ServeOptions::new(dir.path());
    // The flag (127.0.0.1:0) beats a port the environment names that is surely unusable.
    options.env.insert("PONT_HTTP".into(), "192.0.2.1:1".into());
    let server = Server::start_with(options.clone()).unwrap();
    assert!(server.http.ip().is_loopback());
    drop(server);

    // Without the flag, the environment's address is used: binding it fails.
    options.args.drain(0..2);
    let err = Server::start_with(options).err().expect("bind must fail");
    assert!(!err.status.expect("exited").success());
    assert!(err.stderr.contains("192.0.2.1:1"), "{}", err.stderr);
}

#[test]
fn a_malformed_config_file_is_a_clear_error() {
    let cases = [
        ("htpp = \"127.0.0.1:0\"\n", "unknown field"),
        ("http = \"not an address\"\n", "invalid"),
        ("http = [\n", "invalid"),
        ("rtp_ports = \"16385-20000\"\n", "even"),
        ("[dialin]\nnumbers = [\"0123\"]\n", "E.164"),
    ];
    for (text, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path(), text);
        let err = Server::start_with(ServeOptions::new(dir.path()))
            .err()
            .unwrap_or_else(|| panic!("started with {text:?}"));
        assert!(!err.status.expect("exited").success(), "{text:?}");
        assert!(
            err.stderr.contains("pont: error"),
            "{text:?}: {}",
            err.stderr
        );
        assert!(err.stderr.contains(expected), "{text:?}: {}", err.stderr);
    }
}

#[test]
fn a_missing_explicit_config_file_or_bad_flag_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = ServeOptions::new(dir.path());
    options
        .args
        .extend(["--config".into(), "nowhere.toml".into()]);
    let err = Server::start_with(options).err().expect("must fail");
    assert!(!err.status.unwrap().success());
    assert!(err.stderr.contains("nowhere.toml"), "{}", err.stderr);

    let mut cmd = pont_command(dir.path());
    cmd.args(["serve", "--rtp-ports", "9-8"]);
    let out = run(cmd);
    assert!(!out.status.success());
    assert!(out.stderr.contains("--rtp-ports"), "{}", out.stderr);

    let mut cmd = pont_command(dir.path());
    cmd.args(["serve", "--tls-cert", "cert.pem"]);
    let out = run(cmd);
    assert!(!out.status.success(), "--tls-cert without --tls-key");
}

#[test]
fn tls_files_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), "not pem").unwrap();
    std::fs::write(
        dir.path().join("key.pem"),
        "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let mut options = ServeOptions::new(dir.path());
    options.args.extend([
        "--tls-cert".into(),
        "cert.pem".into(),
        "--tls-key".into(),
        "key.pem".into(),
    ]);
    let err = Server::start_with(options).err().expect("must fail");
    assert!(err.stderr.contains("tls_cert"), "{}", err.stderr);
}
