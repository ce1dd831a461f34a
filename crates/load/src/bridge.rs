//! The bridge under test: its addresses (loopback only), rooms through the HTTP API, and its
//! CPU and memory from `/proc/<pid>`.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde::Serialize;

/// Resolves `addr` and refuses anything that is not loopback: this tool floods its target.
pub(crate) fn loopback(what: &str, addr: &str) -> anyhow::Result<SocketAddr> {
    let resolved: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .with_context(|| format!("--{what} {addr}: not an address"))?
        .collect();
    let Some(first) = resolved.first() else {
        bail!("--{what} {addr}: resolves to no address");
    };
    if let Some(bad) = resolved.iter().find(|a| !a.ip().is_loopback()) {
        bail!(
            "--{what} {addr} ({}) is not a loopback address: pont-load only loads a bridge on \
             this machine (127.0.0.0/8 or ::1)",
            bad.ip()
        );
    }
    Ok(*first)
}

/// The HTTP API of the bridge.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    pub(crate) http: SocketAddr,
    pub(crate) token: Option<String>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

impl Api {
    /// `GET /healthz` must answer 200: a clear error when the bridge is down or refuses.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        TcpStream::connect_timeout(&self.http, Duration::from_secs(3)).map_err(|e| {
            anyhow!(
                "the bridge is not reachable at http://{}: {e} (is `pont serve --http {}` running?)",
                self.http,
                self.http
            )
        })?;
        let mut reply = agent()
            .get(format!("http://{}/healthz", self.http))
            .call()
            .with_context(|| format!("GET http://{}/healthz", self.http))?;
        let status = reply.status().as_u16();
        if status != 200 {
            let body = reply.body_mut().read_to_string().unwrap_or_default();
            bail!(
                "the bridge at http://{} is not ready: /healthz answered {status} {body}",
                self.http
            );
        }
        Ok(())
    }

    /// `POST /api/v1/meetings/instant` → the new room number.
    pub(crate) fn create_room(&self, subject: &str) -> anyhow::Result<u64> {
        let token = self.token.as_deref().ok_or_else(|| {
            anyhow!("creating rooms needs an organizer token: --token (or PONT_TOKEN), from `pont token create <name>`")
        })?;
        let mut reply = agent()
            .post(format!("http://{}/api/v1/meetings/instant", self.http))
            .header("authorization", &format!("Bearer {token}"))
            .header("content-type", "application/json")
            .send(serde_json::json!({ "subject": subject }).to_string())
            .context("POST /api/v1/meetings/instant")?;
        let status = reply.status().as_u16();
        let body = reply.body_mut().read_to_string().unwrap_or_default();
        if status != 201 {
            bail!("the bridge refused to create a room: {status} {body}");
        }
        let v: serde_json::Value = serde_json::from_str(&body).context("meeting JSON")?;
        v["room_number"]
            .as_u64()
            .ok_or_else(|| anyhow!("no room_number in {body}"))
    }

    /// `GET /api/v1/rooms/{room}` → display names of the participants of `kind`.
    pub(crate) fn participants(&self, room: u64, kind: &str) -> anyhow::Result<Vec<String>> {
        let token = self.token.as_deref().unwrap_or_default();
        let mut reply = agent()
            .get(format!("http://{}/api/v1/rooms/{room}", self.http))
            .header("authorization", &format!("Bearer {token}"))
            .call()
            .context("GET /api/v1/rooms")?;
        let body = reply.body_mut().read_to_string().unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&body).context("room JSON")?;
        Ok(v["participants"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["kind"] == kind)
                    .filter_map(|p| p["display_name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// The pid of the process listening on TCP `addr` (`/proc/net/tcp{,6}` inode → `/proc/*/fd`).
pub(crate) fn pid_listening_on(addr: SocketAddr) -> Option<u32> {
    let port = format!("{:04X}", addr.port());
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEXIP:PORT; st 0A is LISTEN.
            if f.len() > 9 && f[3] == "0A" && f[1].ends_with(&format!(":{port}")) {
                inodes.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    let procs = std::fs::read_dir("/proc").ok()?;
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && inodes.iter().any(|i| target.as_os_str() == i.as_str())
            {
                return Some(pid);
            }
        }
    }
    None
}

/// The pid of the process bound to UDP `addr` (for the baseline relay).
pub(crate) fn pid_bound_udp(addr: SocketAddr) -> Option<u32> {
    let port = format!(":{:04X}", addr.port());
    let text = std::fs::read_to_string("/proc/net/udp").ok()?;
    let inode = text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 9 && f[1].ends_with(&port)).then(|| format!("socket:[{}]", f[9]))
    })?;
    for p in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == inode.as_str()) {
                return Some(pid);
            }
        }
    }
    None
}

/// CPU time and resident memory of one process, sampled from `/proc/<pid>`.
#[derive(Debug, Clone)]
pub(crate) struct ProcWatch {
    pub(crate) pid: u32,
    ticks_per_sec: f64,
    start: Option<(Instant, f64)>,
    last: Option<(Instant, f64)>,
    peak_rss_kib: u64,
}

/// What [`ProcWatch`] measured over a window.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub(crate) struct ProcFigures {
    pub(crate) pid: u32,
    /// CPU time / wall time over the window: 1.0 = one core busy.
    pub(crate) cpu_cores: f64,
    /// The same since the previous sample (the progress line).
    #[serde(skip)]
    pub(crate) cpu_recent: f64,
    pub(crate) rss_mib: f64,
    pub(crate) peak_rss_mib: f64,
}

impl ProcWatch {
    pub(crate) fn new(pid: u32) -> anyhow::Result<Self> {
        let path = PathBuf::from(format!("/proc/{pid}/stat"));
        if !path.exists() {
            bail!("no process {pid} (/proc/{pid}/stat missing)");
        }
        Ok(Self {
            pid,
            // USER_HZ is 100 on every Linux ABI we run on (sysconf(_SC_CLK_TCK)).
            ticks_per_sec: 100.0,
            start: None,
            last: None,
            peak_rss_kib: 0,
        })
    }

    /// utime + stime in seconds.
    fn cpu_secs(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        // Fields after the `(comm)`, which may contain spaces: state is field 3.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = f.get(11)?.parse().ok()?;
        let stime: f64 = f.get(12)?.parse().ok()?;
        Some((utime + stime) / self.ticks_per_sec)
    }

    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// Starts (or restarts) the measuring window.
    pub(crate) fn mark(&mut self) {
        self.start = self.cpu_secs().map(|c| (Instant::now(), c));
    }

    /// Starts the window unless one is running.
    pub(crate) fn mark_if_unmarked(&mut self) {
        if self.start.is_none() {
            self.mark();
        }
    }

    /// Figures since [`Self::mark`].
    pub(crate) fn sample(&mut self) -> ProcFigures {
        let rss = self.rss_kib().unwrap_or(0);
        self.peak_rss_kib = self.peak_rss_kib.max(rss);
        let now = self.cpu_secs();
        let rate = |since: Option<(Instant, f64)>| match (since, now) {
            (Some((t0, c0)), Some(c1)) => (c1 - c0) / t0.elapsed().as_secs_f64().max(1e-3),
            _ => 0.0,
        };
        let cpu_cores = rate(self.start);
        let cpu_recent = rate(self.last);
        self.last = now.map(|c| (Instant::now(), c));
        ProcFigures {
            pid: self.pid,
            cpu_cores,
            cpu_recent,
            rss_mib: rss as f64 / 1024.0,
            peak_rss_mib: self.peak_rss_kib as f64 / 1024.0,
        }
    }
}
