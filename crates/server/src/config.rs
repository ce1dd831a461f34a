//! Settings: command-line flags, `PONT_*` environment variables, the config file, defaults.
//!
//! Precedence, highest first: flag, environment variable (both handled by clap), config file,
//! built-in default. Every key of the config file is documented in `config/pont.toml`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

pub(crate) use crate::admission::AdmissionConfig;
pub(crate) use crate::security::SecurityConfig;

/// The config file read when `--config` is not given, if it exists.
pub(crate) const DEFAULT_CONFIG: &str = "config/pont.toml";

/// pont — a multipoint conferencing bridge for browsers, SIP room systems and phone callers.
#[derive(Debug, Parser)]
#[command(name = "pont", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the bridge: HTTP API and portal, SIP, WebRTC media. Prints
    /// `pont listening http=ADDR` on standard output once it accepts requests.
    Serve(Box<ServeArgs>),
    /// Manage organizer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage recordings.
    #[command(subcommand)]
    Recordings(RecordingsCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum RecordingsCommand {
    /// Apply `[recording] retention` as of a time: fill in deletion dates, warn owners by mail
    /// (into <data>/outbox), delete what is due. One line per recording warned or deleted.
    /// The server runs the same job every hour.
    Purge {
        /// The time to apply the policy as of (RFC 3339); default: now.
        #[arg(long)]
        at: Option<String>,
        /// Say what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create an organizer and a bearer token for it; the token is the last line printed
    /// (it is shown only once: only its SHA-256 is stored).
    Create {
        /// The organizer's name.
        name: String,
        /// The organizer's e-mail (mails about their recordings go there).
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// Flags shared by every subcommand.
#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    /// Config file (TOML; every key is documented in config/pont.toml)
    /// [default: config/pont.toml if it exists]
    #[arg(long, env = "PONT_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Data folder: the SQLite database (pont.sqlite3) and recordings [default: ./data]
    #[arg(long, env = "PONT_DATA", value_name = "DIR")]
    pub(crate) data: Option<PathBuf>,
}

/// Flags of `pont serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// HTTP API, portal and metrics listen address; port 0 picks a free port
    /// [default: 127.0.0.1:8080]
    #[arg(long, env = "PONT_HTTP", value_name = "ADDR")]
    pub(crate) http: Option<SocketAddr>,
    /// SIP listen address, UDP and TCP [default: 0.0.0.0:5060]
    #[arg(long, env = "PONT_SIP", value_name = "ADDR")]
    pub(crate) sip: Option<SocketAddr>,
    /// The one UDP address for all WebRTC media (ICE-lite host candidate)
    /// [default: 0.0.0.0:10000]
    #[arg(long, env = "PONT_MEDIA", value_name = "ADDR")]
    pub(crate) media: Option<SocketAddr>,
    /// Media shards, each a thread owning whole rooms; shard k listens on the media port + k
    /// (open UDP ports PORT to PORT+N-1) [default: one per core]
    #[arg(long, env = "PONT_MEDIA_THREADS", value_name = "N")]
    pub(crate) media_threads: Option<usize>,
    /// UDP port range for the RTP of SIP legs, LO-HI, LO even [default: 16384-32767]
    #[arg(long, env = "PONT_RTP_PORTS", value_name = "LO-HI")]
    pub(crate) rtp_ports: Option<PortRange>,
    /// Address announced as an extra ICE candidate and SIP contact host, for a server
    /// behind 1:1 NAT [default: none]
    #[arg(long, env = "PONT_PUBLIC_IP", value_name = "ADDR")]
    pub(crate) public_ip: Option<IpAddr>,
    /// Base URL of web links in meetings, e.g. https://meet.example.org
    /// [default: http://<HTTP address>]
    #[arg(long, env = "PONT_PUBLIC_URL", value_name = "URL")]
    pub(crate) public_url: Option<String>,
    /// TLS certificate chain (PEM, the server's certificate first): serve HTTPS on --http.
    /// Read again on SIGHUP [default: none, plain HTTP]
    #[arg(long, env = "PONT_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// TLS private key (PEM: PKCS#8, RSA or EC) of --tls-cert; read again on SIGHUP
    #[arg(long, env = "PONT_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Most participants in one room; a join beyond it is refused as "room full"
    /// [default: 300]
    #[arg(long, env = "PONT_MAX_PARTICIPANTS", value_name = "N")]
    pub(crate) max_participants: Option<usize>,
}

/// An inclusive UDP port range, `LO-HI`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PortRange {
    pub(crate) lo: u16,
    pub(crate) hi: u16,
}

impl PortRange {
    /// 16384-32767: FreeSWITCH's default RTP range, 8192 even/odd pairs for RTP and RTCP,
    /// clear of the media port 10000 and of the common ephemeral range (32768+).
    pub(crate) const DEFAULT: Self = Self {
        lo: 16384,
        hi: 32767,
    };

    pub(crate) fn contains(self, port: u16) -> bool {
        (self.lo..=self.hi).contains(&port)
    }
}

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (lo, hi) = s
            .split_once('-')
            .ok_or_else(|| format!("expected LO-HI, e.g. 16384-32767, got {s:?}"))?;
        let lo: u16 = lo
            .trim()
            .parse()
            .map_err(|e| format!("bad low port {lo:?}: {e}"))?;
        let hi: u16 = hi
            .trim()
            .parse()
            .map_err(|e| format!("bad high port {hi:?}: {e}"))?;
        if lo == 0 || lo >= hi {
            return Err(format!("need 0 < LO < HI, got {lo}-{hi}"));
        }
        // RFC 3550 §11: RTP on an even port, its RTCP on the next odd one.
        if !lo.is_multiple_of(2) {
            return Err(format!("LO must be even (RTP on even ports), got {lo}"));
        }
        Ok(Self { lo, hi })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.lo, self.hi)
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The config file. Unknown keys are an error, so a typo does not silently fall back to a
/// default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    http: Option<SocketAddr>,
    sip: Option<SocketAddr>,
    media: Option<SocketAddr>,
    media_threads: Option<usize>,
    rtp_ports: Option<PortRange>,
    data: Option<PathBuf>,
    public_ip: Option<IpAddr>,
    public_url: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_participants: Option<usize>,
    #[serde(default)]
    dialin: DialinConfig,
    #[serde(default)]
    dialout: DialoutConfig,
    #[serde(default)]
    video: VideoConfig,
    #[serde(default)]
    log: LogConfig,
    #[serde(default)]
    recording: RecordingConfig,
    #[serde(default)]
    admission: AdmissionConfig,
    #[serde(default)]
    security: SecurityConfig,
    /// Sign-in by OpenID Connect; absent: token sign-in only.
    #[serde(default)]
    oidc: Option<pont_portal::OidcConfig>,
    #[serde(default)]
    meetings: MeetingsConfig,
    #[serde(default)]
    mail: MailConfig,
    #[serde(default)]
    streaming: StreamingConfig,
}

/// `[streaming]`: live streams of rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StreamingConfig {
    /// Viewers of one room's live page (WHEP sessions); beyond, a new viewer gets 503. 500: a
    /// lecture hall's overflow, about 1.5 Mbit/s each, within one media core's fan-out
    /// (`docs/benchmarks.md`).
    pub(crate) max_viewers: usize,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        Self { max_viewers: 500 }
    }
}

/// `[meetings]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MeetingsConfig {
    /// The IANA zone a meeting is planned in unless it names one.
    pub(crate) timezone: String,
}

impl Default for MeetingsConfig {
    fn default() -> Self {
        Self {
            timezone: "Europe/Paris".into(),
        }
    }
}

/// `[mail]`: invitations and recording notices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MailConfig {
    /// `smtp://host:port` (STARTTLS when offered), `smtps://host:port`, with an optional
    /// `user:password@`; unset: mails are written to `<data>/outbox/`.
    pub(crate) smtp_url: Option<String>,
    /// The sender; default `pont@<the public URL's host>`.
    pub(crate) from: Option<String>,
}

/// `[recording]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RecordingConfig {
    /// Longest recording, in seconds of recorded media: at the cap the recording is closed and
    /// the next one starts. 8 hours: a working day in one file, about 120 MB of audio.
    pub(crate) max_duration_secs: u64,
    /// A recording stops once its room has been empty this many seconds (the meeting is over;
    /// a participant who reconnects within it does not split the recording). 0: never.
    pub(crate) stop_when_empty_secs: u64,
    /// `academic_year`, `days:N` or `never` (see `pont_meet::retention`).
    pub(crate) retention: String,
    /// `MM-DD`: the last day of the academic year.
    pub(crate) academic_year_end: String,
    /// Days before deletion the owner is warned.
    pub(crate) warn_days: Vec<u32>,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            max_duration_secs: 8 * 3600,
            stop_when_empty_secs: 60,
            retention: "academic_year".into(),
            academic_year_end: "08-31".into(),
            warn_days: vec![30, 7, 1],
        }
    }
}

impl RecordingConfig {
    /// The retention policy, or why the configuration does not name one.
    pub(crate) fn retention(&self) -> anyhow::Result<pont_meet::retention::Retention> {
        pont_meet::retention::Retention::parse(&self.retention, &self.academic_year_end)
            .map_err(|e| anyhow::anyhow!("[recording] {e}"))
    }

    pub(crate) fn max_duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.max_duration_secs)
    }

    pub(crate) fn empty_grace(&self) -> Option<std::time::Duration> {
        (self.stop_when_empty_secs > 0)
            .then(|| std::time::Duration::from_secs(self.stop_when_empty_secs))
    }
}

/// `[video]`: what room systems are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct VideoConfig {
    pub(crate) room_systems: RoomSystemVideo,
}

/// The video a SIP room system receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RoomSystemVideo {
    /// The room composed on one picture, the active speaker in the main window (one encode
    /// per room, shared by every room system of the room).
    #[default]
    Composed,
    /// The active speaker's own stream, switched on keyframes (no transcoding at all).
    Switched,
}

/// `[dialout]`: how moderators call phones into a room (`tel:` numbers go through a trunk;
/// `sip:` URIs are called directly).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DialoutConfig {
    /// The SIP trunk for `tel:` numbers, `host:port` (an IP address): the INVITE goes there
    /// with `sip:<number>@<host>`. Unset: only `sip:` URIs can be dialled.
    pub(crate) trunk: Option<String>,
    /// Digest credentials the trunk asks for (401/407).
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    /// The From user the called party sees (a caller id the trunk accepts).
    pub(crate) from_user: Option<String>,
}

/// `[dialin]`: how phone callers and SIP users reach the IVR.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DialinConfig {
    /// The SIP user part that reaches the IVR (`sip:dialin@host`).
    pub(crate) user: String,
    /// E.164 numbers of the trunk that also reach the IVR, e.g. "+33123456789".
    pub(crate) numbers: Vec<String>,
    /// Language of the prompts ("en" or "fr"), unless `languages` names the dialled number.
    pub(crate) language: String,
    /// Per dial-in user or number: its prompts' language, e.g. `{ "+33123456789" = "fr" }`.
    pub(crate) languages: BTreeMap<String, String>,
    /// Where dial-in INVITEs may come from (the trunk's addresses, CIDR); empty: anywhere.
    /// Others get 403.
    pub(crate) allowed_sources: Vec<Cidr>,
}

impl Default for DialinConfig {
    fn default() -> Self {
        Self {
            user: "dialin".to_owned(),
            numbers: Vec::new(),
            language: "en".to_owned(),
            languages: BTreeMap::new(),
            allowed_sources: Vec::new(),
        }
    }
}

impl DialinConfig {
    /// The prompts' language for a call to `user` (validated at start, so never an error).
    pub(crate) fn language_for(&self, user: &str) -> pont_ivr::Language {
        self.languages
            .get(user)
            .unwrap_or(&self.language)
            .parse()
            .unwrap_or_default()
    }

    /// Whether a dial-in INVITE from `ip` is accepted.
    pub(crate) fn source_allowed(&self, ip: IpAddr) -> bool {
        self.allowed_sources.is_empty() || self.allowed_sources.iter().any(|c| c.contains(ip))
    }
}

/// An address block, `192.0.2.0/24` or `2001:db8::/32` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer on a dual-stack socket shows up as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (a, b, bits) = match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (
                u128::from(u32::from(n)) << 96,
                u128::from(u32::from(i)) << 96,
                32,
            ),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        let prefix = u32::from(self.prefix.min(bits));
        let mask = if prefix == 0 {
            0
        } else {
            u128::MAX << (128 - prefix)
        };
        a & mask == b & mask
    }
}

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let (addr, prefix) = s.split_once('/').unwrap_or((s.as_str(), ""));
        let net: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an address block like 192.0.2.0/24"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            max
        } else {
            prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?
        };
        Ok(Self { net, prefix })
    }
}

/// `[log]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LogConfig {
    /// Show addresses, phone numbers and SIP URIs in logs (debugging only).
    pub(crate) reveal_pii: bool,
}

/// TLS files that were checked to exist and look like PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

/// Everything `pont serve` runs with, resolved and validated.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) config_file: Option<PathBuf>,
    pub(crate) http: SocketAddr,
    pub(crate) sip: SocketAddr,
    pub(crate) media: SocketAddr,
    /// Media shards (`--media-threads`), shard k on the media port + k.
    pub(crate) media_threads: usize,
    pub(crate) rtp_ports: PortRange,
    pub(crate) data: PathBuf,
    pub(crate) public_ip: Option<IpAddr>,
    pub(crate) public_url: Option<String>,
    pub(crate) tls: Option<TlsFiles>,
    pub(crate) max_participants: usize,
    pub(crate) dialin: DialinConfig,
    pub(crate) dialout: DialoutConfig,
    pub(crate) video: VideoConfig,
    pub(crate) log: LogConfig,
    pub(crate) recording: RecordingConfig,
    pub(crate) admission: AdmissionConfig,
    pub(crate) security: SecurityConfig,
    pub(crate) oidc: Option<pont_portal::OidcConfig>,
    pub(crate) meetings: MeetingsConfig,
    pub(crate) mail: MailConfig,
    pub(crate) streaming: StreamingConfig,
}

pub(crate) const DEFAULT_HTTP: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 8080);
pub(crate) const DEFAULT_SIP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 5060);
/// UDP 10000: the single media port Jitsi Videobridge uses too, so firewall recipes carry over.
pub(crate) const DEFAULT_MEDIA: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 10000);
pub(crate) const DEFAULT_DATA: &str = "./data";
/// More media shards than this is a configuration mistake (a port and a thread each).
const MAX_MEDIA_THREADS: usize = 64;
/// 300 per room: one SFU node forwards every track to every browser, so a room's cost grows
/// with the square of its size; beyond a few hundred, a webinar shape (few publishers) is
/// needed anyway.
pub(crate) const DEFAULT_MAX_PARTICIPANTS: usize = 300;

/// Reads the config file named by `--config`/`PONT_CONFIG`, or the default one if it exists.
pub(crate) fn load_file(common: &CommonArgs) -> anyhow::Result<(Option<PathBuf>, FileConfig)> {
    let path = match &common.config {
        Some(path) => path.clone(),
        None => {
            let default = PathBuf::from(DEFAULT_CONFIG);
            if !default.exists() {
                return Ok((None, FileConfig::default()));
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let file: FileConfig =
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))?;
    Ok((Some(path), file))
}

/// What `pont recordings purge` needs: the data folder, `[recording]` (checked) and the
/// public URL (links in mails; `http://` + the HTTP address when unset).
pub(crate) fn purge_settings(
    common: &CommonArgs,
) -> anyhow::Result<(PathBuf, RecordingConfig, String)> {
    let (_, file) = load_file(common)?;
    let data = data_dir(common)?;
    file.recording.retention()?;
    let public = file
        .public_url
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("http://{}", file.http.unwrap_or(DEFAULT_HTTP)));
    Ok((data, file.recording, public))
}

/// The data folder for commands that need nothing else.
pub(crate) fn data_dir(common: &CommonArgs) -> anyhow::Result<PathBuf> {
    let (_, file) = load_file(common)?;
    Ok(common
        .data
        .clone()
        .or(file.data)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA)))
}

impl Settings {
    pub(crate) fn resolve(args: &ServeArgs) -> anyhow::Result<Self> {
        let (config_file, file) = load_file(&args.common)?;
        let tls = match (
            args.tls_cert.clone().or(file.tls_cert),
            args.tls_key.clone().or(file.tls_key),
        ) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            _ => bail!("tls_cert and tls_key must be given together"),
        };
        let settings = Self {
            config_file,
            http: args.http.or(file.http).unwrap_or(DEFAULT_HTTP),
            sip: args.sip.or(file.sip).unwrap_or(DEFAULT_SIP),
            media: args.media.or(file.media).unwrap_or(DEFAULT_MEDIA),
            media_threads: args
                .media_threads
                .or(file.media_threads)
                .unwrap_or_else(|| {
                    std::thread::available_parallelism()
                        .map_or(1, |n| n.get().min(MAX_MEDIA_THREADS))
                }),
            rtp_ports: args
                .rtp_ports
                .or(file.rtp_ports)
                .unwrap_or(PortRange::DEFAULT),
            data: args
                .common
                .data
                .clone()
                .or(file.data)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA)),
            public_ip: args.public_ip.or(file.public_ip),
            public_url: args
                .public_url
                .clone()
                .or(file.public_url)
                .map(|u| u.trim_end_matches('/').to_owned()),
            tls,
            max_participants: args
                .max_participants
                .or(file.max_participants)
                .unwrap_or(DEFAULT_MAX_PARTICIPANTS),
            dialin: file.dialin,
            dialout: file.dialout,
            video: file.video,
            log: file.log,
            recording: file.recording,
            admission: file.admission,
            security: file.security,
            oidc: file.oidc,
            meetings: file.meetings,
            mail: file.mail,
            streaming: file.streaming,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// The UDP ports of the media shards (empty for an ephemeral `--media` port).
    fn media_ports(&self) -> std::ops::Range<u16> {
        match self.media.port() {
            0 => 0..0,
            p => p..p.saturating_add(self.media_threads as u16),
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.security.validate()?;
        if self.recording.max_duration_secs == 0 {
            bail!("recording.max_duration_secs must be at least 1");
        }
        self.recording.retention()?;
        if self
            .recording
            .warn_days
            .iter()
            .any(|d| *d == 0 || *d > 3650)
        {
            bail!("[recording] warn_days must be days from 1 to 3650");
        }
        if self.max_participants == 0 {
            bail!("max_participants must be at least 1");
        }
        if self.streaming.max_viewers == 0 {
            bail!("[streaming] max_viewers must be at least 1");
        }
        if !(1..=MAX_MEDIA_THREADS).contains(&self.media_threads) {
            bail!("media_threads must be from 1 to {MAX_MEDIA_THREADS}");
        }
        // Shard k listens on the media port + k (each on its own ephemeral port for port 0).
        let media_ports = self.media_ports();
        if u32::from(self.media.port()) + self.media_threads as u32 - 1 > u32::from(u16::MAX) {
            bail!(
                "the media ports {}-{} go beyond 65535",
                self.media.port(),
                u32::from(self.media.port()) + self.media_threads as u32 - 1
            );
        }
        if let Some(p) = media_ports.clone().find(|p| self.rtp_ports.contains(*p)) {
            bail!(
                "the media port {p} lies inside rtp_ports {} (media shards use {}-{})",
                self.rtp_ports,
                self.media.port(),
                media_ports.end - 1
            );
        }
        if self.sip.port() != 0 && media_ports.clone().any(|p| p == self.sip.port()) {
            bail!("sip and media cannot share UDP port {}", self.sip.port());
        }
        if self.rtp_ports.contains(self.sip.port()) {
            bail!(
                "the SIP port {} lies inside rtp_ports {}",
                self.sip.port(),
                self.rtp_ports
            );
        }
        if let Some(ip) = self.public_ip
            && (ip.is_unspecified() || ip.is_multicast())
        {
            bail!("public_ip must be a unicast address, got {ip}");
        }
        if let Some(url) = &self.public_url
            && (!(url.starts_with("http://") || url.starts_with("https://"))
                || url_host(url).is_none_or(str::is_empty))
        {
            bail!("public_url must be an http:// or https:// URL with a host, got {url:?}");
        }
        if let Err(e) = pont_portal::planning::zone(&self.meetings.timezone) {
            bail!("meetings.timezone: {}", e.message);
        }
        if self.dialin.user.is_empty()
            || !self
                .dialin
                .user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b))
        {
            bail!(
                "dialin.user must be a non-empty SIP user part, got {:?}",
                self.dialin.user
            );
        }
        for number in &self.dialin.numbers {
            if !is_e164(number) {
                bail!("dialin.numbers: {number:?} is not an E.164 number like +33123456789");
            }
        }
        if let Err(e) = self.dialin.language.parse::<pont_ivr::Language>() {
            bail!("dialin.language: {e}");
        }
        for (user, language) in &self.dialin.languages {
            if *user != self.dialin.user && !self.dialin.numbers.contains(user) {
                bail!(
                    "dialin.languages: {user:?} is neither dialin.user nor one of dialin.numbers"
                );
            }
            if let Err(e) = language.parse::<pont_ivr::Language>() {
                bail!("dialin.languages.{user:?}: {e}");
            }
        }
        if let Some(tls) = &self.tls {
            check_pem(&tls.cert, "CERTIFICATE-----", "tls_cert")?;
            check_pem(&tls.key, "PRIVATE KEY-----", "tls_key")?;
        }
        Ok(())
    }
}

/// `+` and 2 to 15 digits (ITU-T E.164 allows at most 15).
fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

fn check_pem(path: &Path, marker: &str, what: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{what}: cannot read {}", path.display()))?;
    if !text.contains("-----BEGIN ") || !text.contains(marker) {
        bail!(
            "{what}: {} is not a PEM file with a {marker:?} block",
            path.display()
        );
    }
    Ok(())
}

/// The host of an `http(s)://host[:port]/...` URL, without brackets for IPv6.
pub(crate) fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h);
    }
    Some(authority.split(':').next().unwrap_or(authority))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(
            "16384-32767".parse::<PortRange>().unwrap(),
            PortRange::DEFAULT
        );
        assert!("16385-32767".parse::<PortRange>().is_err());
        assert!("2000-1000".parse::<PortRange>().is_err());
        assert!("0-10".parse::<PortRange>().is_err());
        assert!("abc".parse::<PortRange>().is_err());
        assert!("10-70000".parse::<PortRange>().is_err());
    }

    #[test]
    fn address_blocks() {
        let c = |s: &str| Cidr::try_from(s.to_owned());
        let lan = c("192.168.1.0/24").unwrap();
        assert!(lan.contains("192.168.1.77".parse().unwrap()));
        assert!(!lan.contains("192.168.2.1".parse().unwrap()));
        assert!(lan.contains("::ffff:192.168.1.5".parse().unwrap()));
        assert!(!lan.contains("2001:db8::1".parse().unwrap()));
        assert!(
            c("127.0.0.1")
                .unwrap()
                .contains("127.0.0.1".parse().unwrap())
        );
        assert!(c("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(
            c("2001:db8::/32")
                .unwrap()
                .contains("2001:db8:1::9".parse().unwrap())
        );
        assert!(c("10.0.0.0/33").is_err());
        assert!(c("nope/8").is_err());
    }

    #[test]
    fn dialin_languages_and_sources() {
        let d: DialinConfig = toml::from_str(
            "numbers = [\"+33123456789\"]\nlanguage = \"en\"\n\
             languages = { \"+33123456789\" = \"fr\" }\nallowed_sources = [\"10.0.0.0/8\"]",
        )
        .unwrap();
        assert_eq!(d.language_for("+33123456789"), pont_ivr::Language::Fr);
        assert_eq!(d.language_for("dialin"), pont_ivr::Language::En);
        assert!(d.source_allowed("10.1.2.3".parse().unwrap()));
        assert!(!d.source_allowed("192.0.2.1".parse().unwrap()));
        assert!(DialinConfig::default().source_allowed("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn e164() {
        assert!(is_e164("+33123456789"));
        assert!(!is_e164("33123456789"));
        assert!(!is_e164("+1"));
        assert!(!is_e164("+1234567890123456"));
        assert!(!is_e164("+33 1"));
    }

    #[test]
    fn hosts_of_urls() {
        assert_eq!(
            url_host("https://meet.example.org/x"),
            Some("meet.example.org")
        );
        assert_eq!(url_host("http://127.0.0.1:8080"), Some("127.0.0.1"));
        assert_eq!(url_host("http://[::1]:8080/"), Some("::1"));
        assert_eq!(url_host("nope"), None);
    }

    #[test]
    fn the_example_config_file_parses_and_matches_the_defaults() {
        let text = include_str!("../../../config/pont.toml");
        let file: FileConfig = toml::from_str(text).unwrap();
        // Every key in the shipped file is commented out: it documents the defaults.
        assert_eq!(file.http, None);
        assert_eq!(file.dialin, DialinConfig::default());
        assert_eq!(file.admission, AdmissionConfig::default());
        assert_eq!(file.security, SecurityConfig::default());
    }

    #[test]
    fn the_security_section_parses() {
        let file: FileConfig = toml::from_str(
            "[security]\nsip_requests_per_sec = 5000\ntrusted_sources = [\"192.0.2.0/24\"]\nscanner_user_agents = []",
        )
        .unwrap();
        assert_eq!(file.security.sip_requests_per_sec, 5000);
        assert!(file.security.trusted_sources[0].contains("192.0.2.9".parse().unwrap()));
        assert!(file.security.scanner_user_agents.is_empty());
        assert_eq!(
            file.security.room_guesses,
            SecurityConfig::default().room_guesses
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = toml::from_str::<FileConfig>("htpp = \"127.0.0.1:1\"").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = toml::from_str::<FileConfig>("[dialin]\nnumber = []").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
