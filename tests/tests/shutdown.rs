//! SIGTERM and SIGINT stop the bridge cleanly with exit code 0.

use pont_tests::Server;

#[test]
fn sigterm_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    assert_eq!(pont_tests::get(&server.url("/healthz"), &[]).status, 200);
    let status = server.stop("TERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn sigint_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let status = server.stop("INT");
    assert_eq!(status.code(), Some(0), "{status:?}");
}
