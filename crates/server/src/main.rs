//! The `pont` binary: the only place with sockets, clocks and the async runtime.
//!
//! What it owns: settings (flags, `PONT_*` variables, `config/pont.toml`), logging, the
//! listeners, the media task that drives the sans-IO [`pont_media::MediaCore`], the HTTP API
//! and portal, metrics, and graceful shutdown. The protocol and media logic live in the cores.
#![forbid(unsafe_code)]

mod admission;
mod config;
mod http;
mod live_api;
mod media;
mod meetings_api;
mod metrics;
mod openapi;
mod recording;
mod recordings_api;
mod retention;
mod rooms_api;
mod rtp_leg;
mod security;
mod signalling;
mod sip;
mod tls;
mod web;

use std::io::IsTerminal as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use pont_media::CoreConfig;
use pont_meet::Store;
use tokio::sync::watch;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

use crate::config::{Cli, Command, RecordingsCommand, ServeArgs, Settings, TokenCommand};

/// The SQLite file inside the data folder.
const DB_FILE: &str = "pont.sqlite3";
/// The organizer created on a first start, so the portal works out of the box.
const DEFAULT_ORGANIZER: &str = "default";

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Token(TokenCommand::Create {
            name,
            email,
            common,
        }) => {
            config::data_dir(&common).and_then(|data| token_create(&data, &name, email.as_deref()))
        }
        Command::Recordings(RecordingsCommand::Purge {
            at,
            dry_run,
            common,
        }) => recordings_purge(&common, at.as_deref(), dry_run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pont: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to standard error; `PONT_LOG` (else `RUST_LOG`) filters, `info` by default.
fn init_logging() {
    let filter = std::env::var("PONT_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn open_store(data: &Path) -> anyhow::Result<Store> {
    std::fs::create_dir_all(data)
        .with_context(|| format!("cannot create data folder {}", data.display()))?;
    let path = data.join(DB_FILE);
    Store::open(&path).with_context(|| format!("cannot open database {}", path.display()))
}

/// `pont token create <name>`: the token is the last line printed.
fn token_create(data: &Path, name: &str, email: Option<&str>) -> anyhow::Result<()> {
    let mut store = open_store(data)?;
    let now = http::unix_now();
    if let Some(e) = email
        && (!e.contains('@') || e.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        anyhow::bail!("--email {e:?} is not an e-mail address");
    }
    let organizer = store.create_organizer(name, now)?;
    if let Some(e) = email {
        store.set_email(organizer.id, e)?;
    }
    let token = store.create_token(organizer.id, now)?;
    println!(
        "created organizer {:?} (id {}) in {}; its token, shown only this once:",
        organizer.name,
        organizer.id.0,
        data.display()
    );
    println!("{}", token.expose());
    Ok(())
}

/// `pont recordings purge [--at RFC3339] [--dry-run]`.
fn recordings_purge(
    common: &config::CommonArgs,
    at: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let (data, recording, public_url) = config::purge_settings(common)?;
    let now = match at {
        Some(t) => pont_meet::rfc3339::parse(t)
            .map_err(|e| anyhow::anyhow!("--at {t:?}: not an RFC 3339 time ({e})"))?,
        None => http::unix_now(),
    };
    let mut store = open_store(&data)?;
    let policy = retention_policy(&data, &recording, public_url)?;
    for line in retention::purge(&mut store, &policy, now, dry_run)? {
        println!("{line}");
    }
    Ok(())
}

fn retention_policy(
    data: &Path,
    recording: &config::RecordingConfig,
    public_url: String,
) -> anyhow::Result<retention::Policy> {
    Ok(retention::Policy {
        retention: recording.retention()?,
        warn_days: recording.warn_days.clone(),
        recordings: data.join(recording::RECORDINGS_DIR),
        outbox: data.join("outbox"),
        public_url,
    })
}

/// Runs the retention job now and every hour, on its own connection, off the async threads.
/// `[mail]` as the portal sends with it, checked now so a typo stops the start.
fn mail_settings(
    settings: &Settings,
    public_url: &str,
) -> anyhow::Result<pont_portal::mail::MailSettings> {
    let host = public_url
        .split("://")
        .nth(1)
        .unwrap_or("localhost")
        .split(['/', ':'])
        .next()
        .filter(|h| !h.is_empty() && h.parse::<IpAddr>().is_err())
        .unwrap_or("localhost");
    let mail = pont_portal::mail::MailSettings {
        smtp_url: settings.mail.smtp_url.clone(),
        from: settings
            .mail
            .from
            .clone()
            .unwrap_or_else(|| format!("pont@{host}")),
        outbox: settings.data.join("outbox"),
    };
    pont_portal::mail::check_settings(&mail).map_err(|e| anyhow::anyhow!(e))?;
    match &mail.smtp_url {
        Some(_) => info!(from = %mail.from, "mail through [mail] smtp_url"),
        None => {
            info!(outbox = %mail.outbox.display(), "no [mail] smtp_url: mails are written to the outbox")
        }
    }
    Ok(mail)
}

fn spawn_hourly_purge(data: std::path::PathBuf, policy: retention::Policy) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            let (data, policy) = (data.clone(), policy.clone());
            let run = tokio::task::spawn_blocking(move || {
                let mut store = open_store(&data)?;
                retention::purge(&mut store, &policy, http::unix_now(), false)
            })
            .await;
            match run {
                Ok(Ok(lines)) => lines
                    .iter()
                    .for_each(|l| info!(target: "pont::retention", "{l}")),
                Ok(Err(e)) => {
                    warn!(error = %format!("{e:#}"), "retention job failed; next run in an hour")
                }
                Err(e) => warn!(error = %e, "retention job panicked; next run in an hour"),
            }
        }
    });
}

fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(args)?;
    pont_types::set_reveal_pii(settings.log.reveal_pii);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(settings))
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    if let Some(file) = &settings.config_file {
        info!(file = %file.display(), "config file read");
    }
    // The certificate is checked before anything is bound: an expired one, or a key that is
    // not its key, stops the start with the reason.
    let tls = match &settings.tls {
        Some(files) => {
            let (certs, info) = tls::Certificates::load(files, http::unix_now())?;
            info!(
                cert = %files.cert.display(),
                serial = %info.serial,
                not_after = %pont_meet::rfc3339::format_utc(info.not_after),
                "serving HTTPS"
            );
            Some(certs)
        }
        None => None,
    };
    let mut store = open_store(&settings.data)?;
    let signin_token = if store.organizer_count()? == 0 {
        let now = http::unix_now();
        let organizer = store.create_organizer(DEFAULT_ORGANIZER, now)?;
        // Whoever started the server first is its administrator.
        store.set_role(organizer.id, pont_meet::Role::Admin)?;
        Some(store.create_token(organizer.id, now)?)
    } else {
        None
    };

    let listener = tokio::net::TcpListener::bind(settings.http)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", settings.http))?;
    let http_addr = listener.local_addr()?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let core_config = CoreConfig {
        seed: rand_seed(),
        ..CoreConfig::default()
    };
    let ports =
        media::MediaPorts::bind_shards(settings.media, settings.public_ip, settings.media_threads)?;
    let media_port = ports.first().map_or(0, |p| p.port());
    let media_addr = SocketAddr::new(settings.media.ip(), media_port);
    let shard_ports: Vec<String> = ports.iter().map(|p| p.port().to_string()).collect();
    let (media, media_task) = media::spawn(
        core_config,
        ports,
        media::PlaneOptions {
            max_participants: settings.max_participants,
            compose_room_systems: settings.video.room_systems == config::RoomSystemVideo::Composed,
            notice_language: settings.dialin.language_for(""),
            max_viewers: settings.streaming.max_viewers,
        },
        &settings.data.join(DB_FILE),
        shutdown_rx.clone(),
    )?;
    let security_counters = std::sync::Arc::new(security::SecurityCounters::default());
    let sip_listeners = sip::SipListeners::bind(settings.sip).await?;
    let sip_addr = sip_listeners.local;
    let sip_config = sip::SipConfig {
        host: sip_contact_host(&settings, sip_addr),
        media_ip: sdp_ip(&settings, sip_addr),
        // RTP binds where SIP does: a wildcard SIP bind means RTP on every interface too.
        rtp_bind_ip: sip_addr.ip(),
        rtp_ports: settings.rtp_ports,
        db: settings.data.join(DB_FILE),
        dialin: settings.dialin.clone(),
        dialout: settings.dialout.clone(),
        admission: settings.admission,
        security: settings.security.clone(),
        security_counters: security_counters.clone(),
    };
    let (sip_commands, sip_commands_rx) = tokio::sync::mpsc::channel(64);
    let sip_task = sip::spawn(
        sip_listeners,
        sip_config,
        media.clone(),
        (sip_commands.clone(), sip_commands_rx),
        shutdown_rx,
    )?;

    // Recordings a crash left open are made playable before anything else is served.
    let recording_storage = recording::recover_interrupted(&mut store, &settings.data)?;
    let recordings = recording::Recordings::spawn(
        media.clone(),
        recording_storage,
        open_store(&settings.data)?,
        (
            settings.recording.max_duration(),
            settings.recording.empty_grace(),
        ),
        settings.recording.retention()?,
    );
    let public_url = settings.public_url.clone().unwrap_or_else(|| {
        let scheme = if tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", host_port(http_addr, settings.public_ip))
    });
    let sip_host = sip_host(&settings, sip_addr, &public_url);
    spawn_hourly_purge(
        settings.data.clone(),
        retention_policy(&settings.data, &settings.recording, public_url.clone())?,
    );
    let store = pont_portal::SharedStore::new(store);
    let portal = pont_portal::Portal::new(
        store.clone(),
        pont_portal::PortalConfig {
            public_url: public_url.clone(),
            sip_host: sip_host.clone(),
            oidc: settings.oidc.clone(),
            sessions: pont_portal::DEFAULT_SESSION_LIMITS,
            default_timezone: settings.meetings.timezone.clone(),
            dialin_numbers: settings.dialin.numbers.clone(),
            recordings_dir: Some(settings.data.join(recording::RECORDINGS_DIR)),
            mail: mail_settings(&settings, &public_url)?,
            served_over_tls: tls.is_some(),
        },
    )
    .map_err(|e| anyhow::anyhow!("[oidc]: {e}"))?;
    portal.spawn_mailer();
    if let Some(oidc) = &settings.oidc {
        info!(issuer = %oidc.issuer, "sign-in by OpenID Connect");
    }
    let state = http::AppState::new(http::Inner {
        store,
        portal,
        media,
        public_url: public_url.clone(),
        sip_host,
        dialin: settings.dialin.clone(),
        recordings: recordings.clone(),
        sip: sip_commands,
        http_guard: security::HttpGuard::new(&settings.security, security_counters.clone()),
        security: security_counters,
    });
    let app = http::router(state, tls.is_some());
    let tls_config = match &tls {
        Some(certs) => {
            tls::spawn_reload_on_sighup(std::sync::Arc::clone(certs))
                .context("cannot listen for SIGHUP (certificate reload)")?;
            Some(certs.server_config()?)
        }
        None => None,
    };

    if let Some(token) = signin_token {
        println!(
            "first start: sign in as the {DEFAULT_ORGANIZER} organizer at {public_url}/signin?token={}",
            token.expose()
        );
    }
    // The stable line scripts and tests wait for: `key=address` pairs of every listener.
    let shutdown = shutdown_signal();
    println!(
        "pont listening http={http_addr} media={media_addr} sip={sip_addr} media_ports={}",
        shard_ports.join(",")
    );
    info!(http = %http_addr, media = %media_addr, sip = %sip_addr, data = %settings.data.display(), "pont listening");

    // The peer's address reaches the handlers: `[security]`'s per-client limits.
    let app = app.into_make_service_with_connect_info::<security::PeerAddr>();
    match tls_config {
        Some(config) => {
            let listener = tls::TlsListener::new(listener, config)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
    .context("HTTP server failed")?;

    // Recordings are closed (last fragment written, row completed) while media still runs.
    recordings.stop_all().await;
    let _ = shutdown_tx.send(true);
    if let Err(e) = sip_task.await {
        warn!(error = %e, "SIP task ended abnormally");
    }
    if let Err(e) = media_task.await {
        warn!(error = %e, "media task ended abnormally");
    }
    info!("pont stopped");
    Ok(())
}

/// `host:port` for links to a listener: a wildcard bind is reached through the public IP if
/// one is set, else through loopback.
fn host_port(addr: SocketAddr, public_ip: Option<IpAddr>) -> String {
    let ip = if addr.ip().is_unspecified() {
        public_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    } else {
        addr.ip()
    };
    SocketAddr::new(ip, addr.port()).to_string()
}

/// The host part of `sip:<room>@<host>`: the public IP, else the SIP bind address, else the
/// web host; with `:port` unless it is SIP's default 5060.
fn sip_host(settings: &Settings, bound: SocketAddr, public_url: &str) -> String {
    let host = match settings.public_ip {
        Some(ip) => bracket(ip),
        None if !bound.ip().is_unspecified() => bracket(bound.ip()),
        None => match config::url_host(public_url) {
            Some(h) if h.contains(':') => format!("[{h}]"),
            Some(h) => h.to_owned(),
            None => "127.0.0.1".to_owned(),
        },
    };
    match bound.port() {
        5060 => host,
        port => format!("{host}:{port}"),
    }
}

/// The host of our SIP Contact and Via: the public IP, else the bound address (a wildcard
/// bind: the address peers reach us on is the one in SDP, see [`sdp_ip`]).
fn sip_contact_host(settings: &Settings, bound: SocketAddr) -> String {
    bracket(
        settings
            .public_ip
            .unwrap_or_else(|| sdp_ip(settings, bound)),
    )
}

/// The address in our SDP `c=` lines: the public IP behind 1:1 NAT, else the SIP bind address,
/// else (wildcard) the first non-loopback interface address, else loopback.
fn sdp_ip(settings: &Settings, bound: SocketAddr) -> IpAddr {
    if let Some(ip) = settings.public_ip {
        return ip;
    }
    if !bound.ip().is_unspecified() {
        return bound.ip();
    }
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|addrs| {
            addrs
                .into_iter()
                .map(|i| i.ip())
                .find(|ip| !ip.is_loopback() && ip.is_ipv4() == bound.is_ipv4())
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

fn bracket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// Seeds the core's SSRCs and sequence numbers unpredictably in production.
fn rand_seed() -> u64 {
    rand::random()
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this is called,
/// not when the future is first polled: a signal sent right after the listening line (as
/// scripts and tests do) must shut down cleanly, not kill the process by default action.
fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate())
        .map_err(|e| warn!(error = %e, "cannot listen for SIGTERM"))
        .ok();
    let int = signal(SignalKind::interrupt())
        .map_err(|e| warn!(error = %e, "cannot listen for SIGINT"))
        .ok();
    async move {
        async fn wait(s: Option<tokio::signal::unix::Signal>) {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            () = wait(int) => info!("SIGINT: shutting down"),
            () = wait(term) => info!("SIGTERM: shutting down"),
        }
    }
}
