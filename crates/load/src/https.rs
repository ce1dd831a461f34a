//! `pont-load https`: what TLS costs the bridge's HTTP side. Against a bridge serving HTTPS
//! (`--http`, with `--ca` the root that signed its certificate) and, in the same run, one
//! serving plain HTTP (`--plain`), C concurrent clients each repeat for `--duration` seconds:
//!
//! - `tls-full`: a new TCP connection, a full TLS handshake (no resumption: the server signs),
//!   `GET /healthz`, close;
//! - `tls-resumed`: the same with TLS 1.3 session resumption (what a returning browser does);
//! - `tls-keepalive`: `GET /healthz` again and again on one TLS connection;
//! - `plain-new`: a new TCP connection, `GET /healthz`, close;
//! - `plain-keepalive`: `GET /healthz` on one kept-alive plain connection.
//!
//! Figures: requests (= handshakes for the `-full`/`-resumed` modes) per second, and the
//! bridge's CPU per request when its pid is known. Client and bridge share the machine: on two
//! cores, the client's own verification work (an ECDSA signature check per full handshake)
//! takes CPU from the bridge, so the rates are a floor for the bridge alone.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::Common;
use crate::bridge::{self, ProcWatch};

#[derive(Debug, Args, Clone)]
pub(crate) struct HttpsArgs {
    /// The root certificate (PEM) that signed the HTTPS bridge's certificate.
    #[arg(long)]
    ca: PathBuf,
    /// The server name to check the certificate against.
    #[arg(long, default_value = "127.0.0.1")]
    server_name: String,
    /// A bridge serving plain HTTP, measured in the same run for comparison.
    #[arg(long)]
    plain: Option<String>,
    /// Its pid (default: the process listening on `--plain`).
    #[arg(long)]
    plain_pid: Option<u32>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

const REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: pont\r\n\r\n";
const REQUEST_CLOSE: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: pont\r\nConnection: close\r\n\r\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    TlsFull,
    TlsResumed,
    TlsKeepAlive,
    PlainNew,
    PlainKeepAlive,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::TlsFull => "tls-full",
            Self::TlsResumed => "tls-resumed",
            Self::TlsKeepAlive => "tls-keepalive",
            Self::PlainNew => "plain-new",
            Self::PlainKeepAlive => "plain-keepalive",
        }
    }

    fn tls(self) -> bool {
        matches!(self, Self::TlsFull | Self::TlsResumed | Self::TlsKeepAlive)
    }
}

/// One mode's result.
#[derive(Debug, serde::Serialize)]
struct Figure {
    mode: &'static str,
    requests: u64,
    errors: u64,
    seconds: f64,
    per_second: f64,
    /// The bridge's CPU (cores) while measuring.
    bridge_cpu_cores: Option<f64>,
    /// Bridge CPU per request, microseconds.
    bridge_cpu_us_per_request: Option<f64>,
}

pub(crate) async fn run(
    args: &HttpsArgs,
    common: &Common,
    interrupted: &Arc<AtomicBool>,
) -> anyhow::Result<std::process::ExitCode> {
    let tls_addr = bridge::loopback("http", &common.http)?;
    let plain_addr = args
        .plain
        .as_deref()
        .map(|p| bridge::loopback("plain", p))
        .transpose()?;
    let pem = std::fs::read(&args.ca).with_context(|| format!("--ca {}", args.ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(cert.context("--ca: not a PEM certificate")?)
            .context("--ca")?;
    }
    if roots.is_empty() {
        bail!("--ca {}: no certificate in it", args.ca.display());
    }
    let name = ServerName::try_from(args.server_name.clone()).context("--server-name")?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = |resume: bool| -> anyhow::Result<Arc<rustls::ClientConfig>> {
        let mut c = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        if !resume {
            c.resumption = rustls::client::Resumption::disabled();
        }
        Ok(Arc::new(c))
    };
    let full = TlsConnector::from(config(false)?);
    let resumed = TlsConnector::from(config(true)?);
    let tls_pid = common.pid.or_else(|| bridge::pid_listening_on(tls_addr));
    let plain_pid = plain_addr.and_then(|a| args.plain_pid.or_else(|| bridge::pid_listening_on(a)));

    let mut modes = vec![Mode::TlsFull, Mode::TlsResumed, Mode::TlsKeepAlive];
    if plain_addr.is_some() {
        modes.extend([Mode::PlainNew, Mode::PlainKeepAlive]);
    }
    let mut figures = Vec::new();
    for mode in modes {
        if interrupted.load(Ordering::SeqCst) {
            break;
        }
        let (addr, pid) = if mode.tls() {
            (tls_addr, tls_pid)
        } else {
            (plain_addr.unwrap_or(tls_addr), plain_pid)
        };
        let connector = if mode == Mode::TlsFull {
            full.clone()
        } else {
            resumed.clone()
        };
        eprintln!(
            "pont-load https: {} against {addr}, {} clients, {} s",
            mode.name(),
            args.concurrency,
            common.duration
        );
        let f = measure(
            mode,
            addr,
            &connector,
            &name,
            args.concurrency,
            Duration::from_secs(common.duration),
            pid,
        )
        .await?;
        eprintln!(
            "  {:<16} {:>9.0} req/s  ({} requests, {} errors){}",
            f.mode,
            f.per_second,
            f.requests,
            f.errors,
            match (f.bridge_cpu_cores, f.bridge_cpu_us_per_request) {
                (Some(c), Some(us)) => format!("  bridge {c:.2} cores, {us:.0} µs CPU/request"),
                _ => String::new(),
            }
        );
        figures.push(f);
    }
    if common.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn measure(
    mode: Mode,
    addr: SocketAddr,
    connector: &TlsConnector,
    name: &ServerName<'static>,
    concurrency: usize,
    duration: Duration,
    pid: Option<u32>,
) -> anyhow::Result<Figure> {
    // One request first: a bridge that is not there (or distrusted) is an error, not zeros.
    one_request(mode, addr, connector, name)
        .await
        .with_context(|| format!("{}: first request to {addr}", mode.name()))?;
    let mut watch = pid.map(ProcWatch::new).transpose()?;
    let requests = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    if let Some(w) = watch.as_mut() {
        w.mark();
    }
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (requests, errors) = (Arc::clone(&requests), Arc::clone(&errors));
        let (connector, name) = (connector.clone(), name.clone());
        tasks.push(tokio::spawn(async move {
            client(mode, addr, &connector, &name, deadline, &requests, &errors).await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = watch.as_mut().map(|w| w.sample().cpu_cores);
    let n = requests.load(Ordering::Relaxed);
    Ok(Figure {
        mode: mode.name(),
        requests: n,
        errors: errors.load(Ordering::Relaxed),
        seconds,
        per_second: n as f64 / seconds,
        bridge_cpu_cores: cpu,
        bridge_cpu_us_per_request: cpu.map(|c| c * seconds * 1e6 / (n.max(1) as f64)),
    })
}

async fn one_request(
    mode: Mode,
    addr: SocketAddr,
    connector: &TlsConnector,
    name: &ServerName<'static>,
) -> anyhow::Result<()> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    if mode.tls() {
        let mut tls = connector.connect(name.clone(), tcp).await?;
        exchange(&mut tls, REQUEST_CLOSE).await
    } else {
        let mut tcp = tcp;
        exchange(&mut tcp, REQUEST_CLOSE).await
    }
}

async fn client(
    mode: Mode,
    addr: SocketAddr,
    connector: &TlsConnector,
    name: &ServerName<'static>,
    deadline: Instant,
    requests: &AtomicU64,
    errors: &AtomicU64,
) {
    let count = |r: anyhow::Result<()>| match r {
        Ok(()) => requests.fetch_add(1, Ordering::Relaxed),
        Err(_) => errors.fetch_add(1, Ordering::Relaxed),
    };
    match mode {
        Mode::TlsFull | Mode::TlsResumed | Mode::PlainNew => {
            while Instant::now() < deadline {
                count(one_request(mode, addr, connector, name).await);
            }
        }
        Mode::TlsKeepAlive | Mode::PlainKeepAlive => {
            while Instant::now() < deadline {
                let Ok(tcp) = TcpStream::connect(addr).await else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                if mode == Mode::TlsKeepAlive {
                    let Ok(mut tls) = connector.connect(name.clone(), tcp).await else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    while Instant::now() < deadline {
                        let r = exchange(&mut tls, REQUEST).await;
                        let failed = r.is_err();
                        count(r);
                        if failed {
                            break;
                        }
                    }
                } else {
                    let mut tcp = tcp;
                    while Instant::now() < deadline {
                        let r = exchange(&mut tcp, REQUEST).await;
                        let failed = r.is_err();
                        count(r);
                        if failed {
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// Writes `request`, reads one response (headers, then `Content-Length` bytes of body) and
/// checks it is a 200.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &[u8],
) -> anyhow::Result<()> {
    stream.write_all(request).await?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("closed before the response's headers");
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 16 * 1024 {
            bail!("response headers too long");
        }
    };
    let head = std::str::from_utf8(&buf[..head_end])?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("not a 200: {}", head.lines().next().unwrap_or_default());
    }
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("closed inside the body");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}
