//! A tiny W3C WebDriver client for driving headless Chromium through `chromedriver`, over the
//! harness's blocking HTTP client: new session, navigate, execute (sync and async), screenshot.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::EVENT_WAIT;

/// Where Debian puts them (`tools/test-deps` installs `chromium` and `chromium-driver`).
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The flags every test browser runs with (DESIGN.md): headless, fake camera and microphone
/// that need no permission prompt, loopback ICE candidates allowed, nothing phoning home.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
    "--window-size=1280,800",
];

/// The paths of chromium and chromedriver, or why the browser tests must skip.
pub fn browser_available() -> Result<(PathBuf, PathBuf), String> {
    let find = |env: &str, default: &str| {
        std::env::var_os(env)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default))
    };
    let chromium = find("PONT_CHROMIUM", CHROMIUM);
    let driver = find("PONT_CHROMEDRIVER", CHROMEDRIVER);
    for p in [&chromium, &driver] {
        if !p.exists() {
            return Err(format!(
                "{} not found: install chromium and chromium-driver (bash tools/test-deps)",
                p.display()
            ));
        }
    }
    Ok((chromium, driver))
}

/// A running chromedriver; dropping it kills the process.
/// An async WebDriver script returning the meeting page's `window.pont.stats()` (one entry per
/// received track: participant, kind, packets, frames, level), or `[]` before the page is up.
pub const PAGE_STATS: &str = "const done = arguments[arguments.length - 1];\
     window.pont ? window.pont.stats().then(done, e => done(String(e))) : done([]);";

pub struct Driver {
    child: Child,
    base: String,
    chromium: PathBuf,
}

impl Driver {
    pub fn start(chromium: &Path, driver: &Path) -> Self {
        // Ask the OS for a free port, then hand it to chromedriver.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a: SocketAddr| a.port())
            .expect("free port");
        // Its own process group, which the browsers it starts join: dropping the driver ends
        // them all, even those a failed test did not quit (a leaked Chromium keeps a core
        // busy for the rest of the run).
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let d = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            chromium: chromium.to_owned(),
        };
        let ok = poll(EVENT_WAIT, || {
            let r = crate::client()
                .get(&format!("{}/status", d.base))
                .call()
                .ok()?;
            let mut r = r;
            let v: Value = serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
            v["value"]["ready"].as_bool().filter(|&b| b)
        });
        assert!(ok.is_some(), "chromedriver did not become ready");
        d
    }

    /// A new browser with its own profile folder and extra flags.
    pub fn browser(&self, profile: &Path, extra: &[String]) -> Browser {
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| (*s).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend(extra.iter().cloned());
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": self.chromium.display().to_string(), "args": args},
            // The console, for `Browser::console_errors` (CSP violations are reported there).
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let v = post(&format!("{}/session", self.base), &caps);
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        Browser {
            base: format!("{}/session/{id}", self.base),
            open: true,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and every Chromium process it started.
        if let Ok(pgid) = i32::try_from(self.child.id())
            && pgid > 1
        {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session; dropping it closes the browser.
pub struct Browser {
    base: String,
    open: bool,
}

impl Browser {
    pub fn navigate(&self, url: &str) {
        post(&format!("{}/url", self.base), &json!({ "url": url }));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn exec(&self, script: &str, args: Value) -> Value {
        let v = post(
            &format!("{}/execute/sync", self.base),
            &json!({"script": script, "args": args}),
        );
        v["value"].clone()
    }

    /// Runs `script`, which must call `arguments[arguments.length - 1](result)`.
    pub fn exec_async(&self, script: &str) -> Value {
        self.exec_async_with(script, json!([]))
    }

    /// [`Self::exec_async`] with `args` (a JSON array) before the callback in `arguments`.
    pub fn exec_async_with(&self, script: &str, args: Value) -> Value {
        let v = post(
            &format!("{}/execute/async", self.base),
            &json!({"script": script, "args": args}),
        );
        v["value"].clone()
    }

    /// The value of the cookie `name` of the current page's site, `HttpOnly` ones included
    /// (WebDriver sees what scripts cannot).
    pub fn cookie(&self, name: &str) -> Option<String> {
        let r = crate::get(&format!("{}/cookie/{name}", self.base), &[]);
        (r.status == 200)
            .then(|| r.json()["value"]["value"].as_str().map(str::to_owned))
            .flatten()
    }

    /// `window.pont.<getter>` of the meeting page (null before its script runs).
    pub fn pont(&self, getter: &str) -> Value {
        self.exec(
            &format!("return window.pont ? window.pont.{getter} : null;"),
            json!([]),
        )
    }

    /// Whether the first element matching `selector` is shown (exists and is laid out).
    pub fn shown(&self, selector: &str) -> bool {
        self.exec(
            "const e = document.querySelector(arguments[0]); return !!e && e.offsetParent !== null;",
            json!([selector]),
        )
        .as_bool()
        .unwrap_or(false)
    }

    /// The console's errors (level SEVERE) since the last call: script errors, failed loads,
    /// Content-Security-Policy violations ("Refused to execute inline script because it
    /// violates the following Content Security Policy directive…").
    pub fn console_errors(&self) -> Vec<String> {
        let v = post(
            &format!("{}/se/log", self.base),
            &json!({"type": "browser"}),
        );
        v["value"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .filter_map(|e| e["message"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The current page's URL.
    pub fn current_url(&self) -> String {
        let v = crate::get(&format!("{}/url", self.base), &[]).json();
        v["value"].as_str().unwrap_or_default().to_owned()
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        let v = crate::get(&format!("{}/screenshot", self.base), &[]).json();
        base64_decode(v["value"].as_str().expect("screenshot data"))
    }

    /// Closes the browser (as a user closing the window).
    pub fn quit(&mut self) {
        if self.open {
            self.open = false;
            let _ = crate::client().delete(&self.base).call();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.quit();
    }
}

fn post(url: &str, body: &Value) -> Value {
    let r = crate::send(
        "POST",
        url,
        &[("content-type", "application/json")],
        &body.to_string(),
    );
    let v = r.json();
    assert!(r.status < 400, "WebDriver {url}: {} {v}", r.status);
    v
}

/// Calls `f` until it returns `Some`, up to `limit`; a bound against a hung test, not a
/// timing expectation.
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// RFC 4648 base64 (standard alphabet, padding ignored).
pub fn base64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// A mono 16-bit PCM WAV at 48 kHz: digital silence for `None`, else a sine of `freq` Hz in
/// syllable-like bursts: 400 ms at `dbfs`, 200 ms at -60 dBFS. A constant tone would become
/// the speaker detector's noise floor (the quietest level it hears) and never count as
/// speech; the quiet gaps keep the floor low, as the pauses of real speech do.
pub fn write_wav(path: &Path, seconds: u32, tone: Option<(f64, f64)>) {
    let rate = 48_000u32;
    let n = rate * seconds;
    let pcm: Vec<i16> = (0..n)
        .map(|i| match tone {
            Some((freq, dbfs)) => {
                let in_burst = (i % (rate * 6 / 10)) < rate * 4 / 10;
                let level = if in_burst { dbfs } else { -60.0 };
                let amp = 10f64.powf(level / 20.0) * f64::from(i16::MAX);
                (amp * (2.0 * std::f64::consts::PI * freq * f64::from(i) / f64::from(rate)).sin())
                    as i16
            }
            None => 0,
        })
        .collect();
    std::fs::write(path, pont_ivr::pcm16_wav(rate, &pcm)).expect("write WAV");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_padding_and_all_symbols() {
        assert_eq!(base64_decode("aGVsbG8="), b"hello");
        assert_eq!(base64_decode("+/8="), vec![0xfb, 0xff]);
    }
}
