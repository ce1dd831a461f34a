//! A real OpenID Connect provider for the end-to-end tests: `tests/oidc/provider.mjs`, npm's
//! certified `oidc-provider` run by Node (`bash tools/test-deps` installs its packages).
//!
//! Client `pont` / `pont-secret` (client_secret_basic, code flow, PKCE S256 required, RS256 ID
//! tokens with the scopes' claims). Its development login form takes any login name; `alice`,
//! `bob` and `mallory` are known accounts (see provider.mjs). No consent screen.

use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long the provider may take to print its listening line.
const START_WAIT: Duration = Duration::from_secs(30);

const LISTENING: &str = "oidc-provider listening ";

/// A running `tests/oidc/provider.mjs`; dropping it kills the process.
pub struct OidcProvider {
    child: Child,
    issuer: String,
    log: PathBuf,
}

impl OidcProvider {
    /// Starts tests/oidc/provider.mjs with these redirect URIs for the client `pont`;
    /// Err(reason) when node or tests/oidc/node_modules is missing (the test then prints
    /// "SKIPPED: <reason>"), or when the provider does not start.
    pub fn start(redirect_uris: &[&str]) -> Result<Self, String> {
        Self::start_with(redirect_uris, &[])
    }

    /// [`Self::start`] with more of provider.mjs's arguments, e.g.
    /// `["--post-logout-redirect-uri", uri]` or `["--other-redirect-uri", uri]` (a second
    /// client `other` / `other-secret`).
    pub fn start_with(redirect_uris: &[&str], extra_args: &[&str]) -> Result<Self, String> {
        let dir = crate::workspace_root().join("tests").join("oidc");
        if !dir.join("node_modules").join("oidc-provider").exists() {
            return Err(format!(
                "{} has no oidc-provider: run `npm ci` there (bash tools/test-deps)",
                dir.join("node_modules").display()
            ));
        }
        match Command::new("node")
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            Ok(status) if status.success() => {}
            Ok(status) => return Err(format!("`node --version` failed: {status}")),
            Err(e) => {
                return Err(format!(
                    "node is not installed ({e}): bash tools/test-deps installs it"
                ));
            }
        }

        static STARTED: AtomicU32 = AtomicU32::new(0);
        let log = std::env::temp_dir().join(format!(
            "pont-oidc-provider-{}-{}.log",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let log_file = File::create(&log)
            .map_err(|e| format!("cannot create the log {}: {e}", log.display()))?;

        let mut cmd = Command::new("node");
        cmd.arg("provider.mjs");
        for uri in redirect_uris {
            cmd.args(["--redirect-uri", uri]);
        }
        cmd.args(extra_args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start node provider.mjs: {e}"))?;

        // Reads standard output to its end (the provider prints only its listening line, but
        // a full pipe must never block it).
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });

        let deadline = Instant::now() + START_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(issuer) = line.strip_prefix(LISTENING) {
                        return Ok(Self {
                            child,
                            issuer: issuer.trim().to_owned(),
                            log,
                        });
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = child.wait().ok();
                    return Err(format!(
                        "the OIDC provider exited before listening ({status:?}); its log {}:\n{}",
                        log.display(),
                        std::fs::read_to_string(&log).unwrap_or_default()
                    ));
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "the OIDC provider did not print its listening line within {START_WAIT:?}; \
                         its log {}:\n{}",
                        log.display(),
                        std::fs::read_to_string(&log).unwrap_or_default()
                    ));
                }
            }
        }
    }

    /// The issuer, `http://127.0.0.1:PORT` (its discovery document is at
    /// `/.well-known/openid-configuration`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The provider's standard error: one line per request (method, path, status).
    pub fn log_path(&self) -> &std::path::Path {
        &self.log
    }

    /// Falsifies the next ID tokens of the token endpoint, until changed:
    /// `{"aud": "someone-else"}`, `{"exp": "past"}`, `{"key": "other"}` (signed with a key
    /// that is not published, same kid), or `{}` (no tampering). Panics on failure.
    pub fn tamper(&self, change: serde_json::Value) {
        let url = format!("{}/__test/tamper", self.issuer);
        let mut response = crate::client()
            .post(&url)
            .header("content-type", "application/json")
            .send(change.to_string())
            .unwrap_or_else(|e| {
                panic!(
                    "POST {url} {change} failed: {e} (provider log {})",
                    self.log.display()
                )
            });
        let status = response.status().as_u16();
        if status != 204 {
            let body = response.body_mut().read_to_string().unwrap_or_default();
            panic!(
                "POST {url} {change}: status {status}, {body:?} (provider log {})",
                self.log.display()
            );
        }
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
