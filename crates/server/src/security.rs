//! `[security]`: per-source limits at the edges, before any work is done for a request.
//!
//! - **SIP floods** (Kamailio's `pike` in spirit): requests outside a dialog (new INVITEs,
//!   OPTIONS, REGISTERs — what creates transactions) are counted per source address in a
//!   one-second window; a source over `sip_requests_per_sec` is ignored for `sip_block_secs`:
//!   every datagram and TCP message from it is dropped before the endpoint parses it.
//! - **Scanners**: an out-of-dialog request whose User-Agent contains one of
//!   `scanner_user_agents` gets nothing, and its source is blocked as a flooder.
//! - **Room-number guessing**: INVITEs to a room that does not exist (or with a wrong PIN in
//!   the URI), and wrong room numbers keyed in the dial-in IVR, count per source address; the
//!   `room_guesses`-th in `room_guess_window_secs` blocks the source's INVITEs for
//!   `room_guess_block_secs`.
//! - **HTTP sign-in** (`/signin?token=`, `/auth/login`, `/auth/callback`, API requests refused
//!   with 401) and **WebSocket joins** (`/api/v1/rooms/{room}/ws`) per client address per
//!   minute; over the limit: 429 with `Retry-After`, JSON for the API, a page for the portal.
//!
//! Sources in `trusted_sources` (and the dial-in trunks of `[dialin] allowed_sources`) are
//! never limited: a trunk or a session border controller carries many callers from one
//! address. The tables are [`pont_guard::Limiter`]s of `max_sources` entries each: bounded
//! memory whatever a spoofed flood sends.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pont_guard::{LimitConfig, Limiter, Verdict};
use pont_types::{Pii, Timestamp};
use serde::Deserialize;
use tracing::info;

use crate::config::Cidr;

/// `[security]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SecurityConfig {
    /// SIP requests outside a dialog per source address per second before it is blocked.
    /// 100: a room system makes a call every few seconds and an OPTIONS ping every 30 s; a
    /// PBX that is not a listed trunk can still place ~30 calls/s with their retransmissions
    /// and CANCELs; a flood (sipp sends thousands per second) trips it in its first 30 ms.
    pub(crate) sip_requests_per_sec: u32,
    /// How long a flooding source (or a scanner) is ignored. 60 s: a flood tool retries far
    /// sooner, and a misconfigured client is back within a minute once fixed.
    pub(crate) sip_block_secs: u64,
    /// Substrings (ASCII case-insensitive) of the User-Agent of known SIP scanners.
    pub(crate) scanner_user_agents: Vec<String>,
    /// Wrong room numbers per source (INVITE to a room that does not exist, wrong PIN in the
    /// URI, wrong room keyed in the IVR) that block its INVITEs. 10: three mistyped dial-ins
    /// of three tries each still get through; a 6-digit room number space takes years.
    pub(crate) room_guesses: u32,
    /// The window they are counted in: 10 minutes, as the PIN guard's.
    pub(crate) room_guess_window_secs: u64,
    /// How long a guessing source's INVITEs are dropped: 10 minutes.
    pub(crate) room_guess_block_secs: u64,
    /// Address blocks never limited (trunks, SBCs, monitoring); `[dialin] allowed_sources`
    /// are added to them.
    pub(crate) trusted_sources: Vec<Cidr>,
    /// Sources each table remembers. 65,536 entries of 48 bytes: 3 MiB per table at most.
    pub(crate) max_sources: usize,
    /// Sign-in requests per client address per minute before 429. 30: a person signs in a
    /// few times a day; a campus NAT's morning rush is a few per minute.
    pub(crate) http_signins_per_min: u32,
    /// WebSocket joins per client address per minute before 429. 600: a lecture hall behind
    /// one NAT joining at once, reconnects included; a flood is thousands per second.
    pub(crate) ws_joins_per_min: u32,
    /// How long an HTTP client over a limit gets 429 (its `Retry-After`): 60 s.
    pub(crate) http_block_secs: u64,
}

/// What `friendly-scanner` and its kin send (the SIPVicious suite, sipcli, VaxSIPUserAgent,
/// sip-scan, iWar, sundayddr, SIVuS, smap, pplsip, sipsak's scanning forks), the list the
/// usual Kamailio and Asterisk hardening guides drop.
const SCANNERS: [&str; 10] = [
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "vaxsipuseragent",
    "sip-scan",
    "iwar",
    "sundayddr",
    "sivus",
    "smap",
    "pplsip",
];

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            sip_requests_per_sec: 100,
            sip_block_secs: 60,
            scanner_user_agents: SCANNERS.iter().map(|s| (*s).to_owned()).collect(),
            room_guesses: 10,
            room_guess_window_secs: 600,
            room_guess_block_secs: 600,
            trusted_sources: Vec::new(),
            max_sources: 65_536,
            http_signins_per_min: 30,
            ws_joins_per_min: 600,
            http_block_secs: 60,
        }
    }
}

impl SecurityConfig {
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if self.max_sources == 0 || self.max_sources > 1 << 24 {
            anyhow::bail!("[security] max_sources must be 1 to 16777216");
        }
        if self.room_guesses == 0 {
            anyhow::bail!("[security] room_guesses must be at least 1");
        }
        if self.scanner_user_agents.iter().any(|s| s.trim().is_empty()) {
            anyhow::bail!("[security] scanner_user_agents: an empty string would match everyone");
        }
        Ok(())
    }

    fn limit(&self, window: u64, limit: u32, block: u64) -> LimitConfig {
        LimitConfig {
            window: Duration::from_secs(window),
            limit,
            block: Duration::from_secs(block),
            capacity: self.max_sources,
        }
    }
}

/// Why a request was dropped or refused, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Flood,
    Scanner,
    RoomGuessing,
    Signin,
    WsJoin,
}

const REASONS: [Reason; 5] = [
    Reason::Flood,
    Reason::Scanner,
    Reason::RoomGuessing,
    Reason::Signin,
    Reason::WsJoin,
];

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Flood => "flood",
            Self::Scanner => "scanner",
            Self::RoomGuessing => "room_guessing",
            Self::Signin => "signin",
            Self::WsJoin => "ws_join",
        }
    }
}

/// Counters shared by the SIP task, the HTTP handlers and `/metrics` (atomics, never locked).
#[derive(Debug, Default)]
pub(crate) struct SecurityCounters {
    /// Requests dropped (SIP) or refused with 429 (HTTP), by [`Reason`].
    refused: [AtomicU64; 5],
    /// Sources blocked, by [`Reason`].
    blocks: [AtomicU64; 5],
    /// Wrong room numbers counted (SIP URI and IVR).
    room_guesses: AtomicU64,
    /// Sources in the SIP flood table.
    sip_sources: AtomicU64,
}

impl SecurityCounters {
    fn refused(&self, r: Reason) {
        self.refused[r as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn blocked(&self, r: Reason) {
        self.blocks[r as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Appends the families to a `/metrics` page.
    pub(crate) fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let families = [
            (
                "pont_security_refused_requests_total",
                "Requests dropped (SIP) or answered 429 (HTTP) by the per-source limits of [security], by reason.",
                &self.refused,
            ),
            (
                "pont_security_blocked_sources_total",
                "Times a source was blocked by the per-source limits of [security], by reason.",
                &self.blocks,
            ),
        ];
        for (name, help, values) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for r in REASONS {
                let v = values[r as usize].load(Ordering::Relaxed);
                let _ = writeln!(out, "{name}{{reason=\"{}\"}} {v}", r.as_str());
            }
        }
        let _ = writeln!(
            out,
            "# HELP pont_security_room_guesses_total Wrong room numbers counted per source (SIP URI and dial-in).\n# TYPE pont_security_room_guesses_total counter\npont_security_room_guesses_total {}",
            self.room_guesses.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP pont_security_sip_sources SIP source addresses in the flood table (bounded by [security] max_sources).\n# TYPE pont_security_sip_sources gauge\npont_security_sip_sources {}",
            self.sip_sources.load(Ordering::Relaxed)
        );
    }
}

fn trusted(list: &[Cidr], ip: IpAddr) -> bool {
    list.iter().any(|c| c.contains(ip))
}

/// The SIP task's limits (owned by the SIP task: no lock).
#[derive(Debug)]
pub(crate) struct SipGuard {
    flood: Limiter<IpAddr>,
    guesses: Limiter<IpAddr>,
    scanners: Vec<String>,
    trusted: Vec<Cidr>,
    counters: std::sync::Arc<SecurityCounters>,
}

/// What the SIP task does with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SipVerdict {
    Serve,
    Drop,
}

impl SipGuard {
    pub(crate) fn new(
        config: &SecurityConfig,
        dialin_trunks: &[Cidr],
        counters: std::sync::Arc<SecurityCounters>,
    ) -> Self {
        let mut trusted = config.trusted_sources.clone();
        trusted.extend_from_slice(dialin_trunks);
        Self {
            flood: Limiter::new(config.limit(
                1,
                config.sip_requests_per_sec,
                config.sip_block_secs,
            )),
            guesses: Limiter::new(config.limit(
                config.room_guess_window_secs,
                // The limiter blocks at one over its limit: the N-th guess blocks.
                config.room_guesses - 1,
                config.room_guess_block_secs,
            )),
            scanners: config
                .scanner_user_agents
                .iter()
                .map(|s| s.trim().to_owned())
                .collect(),
            trusted,
            counters,
        }
    }

    /// Judges one datagram or TCP message from `source` before the endpoint sees it.
    pub(crate) fn check(&mut self, now: Timestamp, source: IpAddr, data: &[u8]) -> SipVerdict {
        // A flooder's packets cost one hash each, nothing more.
        if self.flood.is_blocked(now, &source) {
            self.counters.refused(Reason::Flood);
            return SipVerdict::Drop;
        }
        if !self.trusted.is_empty() && trusted(&self.trusted, source) {
            return SipVerdict::Serve;
        }
        let Some(peek) = pont_sip::peek::peek(data) else {
            return SipVerdict::Serve;
        };
        if !peek.out_of_dialog {
            return SipVerdict::Serve;
        }
        if let Some(ua) = peek.user_agent
            && pont_sip::peek::user_agent_matches(ua, &self.scanners)
        {
            if !self.flood.is_blocked(now, &source) {
                info!(source = %Pii(source), user_agent = %String::from_utf8_lossy(ua), "SIP scanner: ignored");
                self.counters.blocked(Reason::Scanner);
            }
            self.flood.block(now, source);
            self.counters.refused(Reason::Scanner);
            return SipVerdict::Drop;
        }
        let verdict = self.flood.hit(now, source);
        self.counters
            .sip_sources
            .store(self.flood.len() as u64, Ordering::Relaxed);
        match verdict {
            Verdict::Allow => {}
            Verdict::Blocked { newly } => {
                if newly {
                    info!(source = %Pii(source), "SIP flood: source blocked");
                    self.counters.blocked(Reason::Flood);
                }
                self.counters.refused(Reason::Flood);
                return SipVerdict::Drop;
            }
        }
        if peek.method == b"INVITE" && self.guesses.is_blocked(now, &source) {
            self.counters.refused(Reason::RoomGuessing);
            return SipVerdict::Drop;
        }
        SipVerdict::Serve
    }

    /// A wrong room number (or URI PIN) from `source`. Returns whether it blocked the source
    /// just now (the caller may then end the call that guessed).
    pub(crate) fn wrong_room(&mut self, now: Timestamp, source: IpAddr) -> bool {
        if trusted(&self.trusted, source) {
            return false;
        }
        self.counters.room_guesses.fetch_add(1, Ordering::Relaxed);
        match self.guesses.hit(now, source) {
            Verdict::Blocked { newly: true } => {
                info!(source = %Pii(source), "room-number guessing: source's INVITEs dropped");
                self.counters.blocked(Reason::RoomGuessing);
                true
            }
            _ => false,
        }
    }
}

/// The HTTP limits, shared by the handlers (a mutex held for one table look-up).
#[derive(Debug)]
pub(crate) struct HttpGuard {
    signins: Mutex<Limiter<IpAddr>>,
    ws_joins: Mutex<Limiter<IpAddr>>,
    retry_after: u64,
    trusted: Vec<Cidr>,
    clock: crate::media::Clock,
    counters: std::sync::Arc<SecurityCounters>,
}

/// What a request is, for the HTTP limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HttpKind {
    Signin,
    WsJoin,
    Api,
    Other,
}

fn kind_of(req: &Request) -> HttpKind {
    let path = req.uri().path();
    if path == "/auth/login"
        || path == "/auth/callback"
        || (path == "/signin" && req.uri().query().is_some_and(|q| q.contains("token=")))
    {
        HttpKind::Signin
    } else if path.starts_with("/api/v1/rooms/") && path.ends_with("/ws") {
        HttpKind::WsJoin
    } else if path.starts_with("/api/") {
        HttpKind::Api
    } else {
        HttpKind::Other
    }
}

impl HttpGuard {
    pub(crate) fn new(config: &SecurityConfig, counters: std::sync::Arc<SecurityCounters>) -> Self {
        Self {
            signins: Mutex::new(Limiter::new(config.limit(
                60,
                config.http_signins_per_min,
                config.http_block_secs,
            ))),
            ws_joins: Mutex::new(Limiter::new(config.limit(
                60,
                config.ws_joins_per_min,
                config.http_block_secs,
            ))),
            retry_after: config.http_block_secs.max(1),
            trusted: config.trusted_sources.clone(),
            clock: crate::media::Clock::new(tokio::time::Instant::now()),
            counters,
        }
    }

    fn table(&self, kind: HttpKind) -> &Mutex<Limiter<IpAddr>> {
        if kind == HttpKind::WsJoin {
            &self.ws_joins
        } else {
            &self.signins
        }
    }

    fn hit(&self, kind: HttpKind, ip: IpAddr) -> bool {
        let now = self.clock.now();
        // A poisoned lock only means another request panicked mid-look-up: the table is
        // still a valid table.
        let mut t = self.table(kind).lock().unwrap_or_else(|e| e.into_inner());
        match t.hit(now, ip) {
            Verdict::Allow => true,
            Verdict::Blocked { newly } => {
                if newly {
                    let what = if kind == HttpKind::WsJoin {
                        "WebSocket joins"
                    } else {
                        "sign-ins"
                    };
                    info!(client = %Pii(ip), "too many {what}: 429");
                    self.counters.blocked(Self::reason(kind));
                }
                false
            }
        }
    }

    fn is_blocked(&self, ip: IpAddr) -> bool {
        let now = self.clock.now();
        let t = self.signins.lock().unwrap_or_else(|e| e.into_inner());
        t.is_blocked(now, &ip)
    }

    fn reason(kind: HttpKind) -> Reason {
        if kind == HttpKind::WsJoin {
            Reason::WsJoin
        } else {
            Reason::Signin
        }
    }

    fn too_many(&self, kind: HttpKind, req: &Request, portal: &pont_portal::Portal) -> Response {
        self.counters.refused(Self::reason(kind));
        let retry = HeaderValue::from(self.retry_after);
        let mut r = if matches!(kind, HttpKind::Api | HttpKind::WsJoin) {
            crate::http::ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!(
                    "too many requests from your address; try again in {} s",
                    self.retry_after
                ),
            )
            .into_response()
        } else {
            pont_portal::too_many_requests(portal, req.headers(), self.retry_after)
        };
        r.headers_mut().insert(header::RETRY_AFTER, retry);
        r
    }
}

/// A client's address, as the HTTP listener (plain TCP or TLS) saw it: the per-client limits
/// key. A type of ours so that both listeners can hand it to axum's `ConnectInfo` (axum only
/// knows `SocketAddr` for its own `TcpListener`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// The middleware: sign-in and WebSocket-join limits per client address. Requests without a
/// peer address (tests driving the router directly) are not limited.
pub(crate) async fn limit_http(
    axum::extract::State(state): axum::extract::State<crate::http::AppState>,
    req: Request,
    next: Next,
) -> Response {
    let guard = state.http_guard();
    let kind = kind_of(&req);
    let ip = req
        .extensions()
        .get::<ConnectInfo<PeerAddr>>()
        .map(|c| c.0.0.ip());
    let Some(ip) = ip.filter(|ip| kind != HttpKind::Other && !trusted(&guard.trusted, *ip)) else {
        return next.run(req).await;
    };
    match kind {
        HttpKind::Signin | HttpKind::WsJoin => {
            if !guard.hit(kind, ip) {
                return guard.too_many(kind, &req, state.portal());
            }
            next.run(req).await
        }
        HttpKind::Api => {
            // Guessing bearer tokens: a refused token counts as a sign-in.
            let has_credentials = req.headers().contains_key(header::AUTHORIZATION);
            if has_credentials && guard.is_blocked(ip) {
                return guard.too_many(kind, &req, state.portal());
            }
            let r = next.run(req).await;
            if r.status() == StatusCode::UNAUTHORIZED && has_credentials {
                guard.hit(HttpKind::Signin, ip);
            }
            r
        }
        HttpKind::Other => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const INVITE: &str = "INVITE sip:999@b SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nTo: <sip:999@b>\r\nFrom: <sip:a@a>;tag=1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n{UA}Content-Length: 0\r\n\r\n";

    fn invite(ua: &str) -> Vec<u8> {
        INVITE.replace("{UA}", ua).into_bytes()
    }

    fn guard(config: &SecurityConfig, trunks: &[Cidr]) -> SipGuard {
        SipGuard::new(config, trunks, Default::default())
    }

    #[test]
    fn the_defaults_validate() {
        SecurityConfig::default().validate().unwrap();
        let bad = SecurityConfig {
            scanner_user_agents: vec![" ".into()],
            ..SecurityConfig::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn a_flooding_source_is_dropped_and_another_is_served() {
        let config = SecurityConfig {
            sip_requests_per_sec: 5,
            ..SecurityConfig::default()
        };
        let mut g = guard(&config, &[]);
        let t = Timestamp::from_millis(10);
        let msg = invite("");
        for _ in 0..5 {
            assert_eq!(g.check(t, ip("10.0.0.2"), &msg), SipVerdict::Serve);
        }
        assert_eq!(g.check(t, ip("10.0.0.2"), &msg), SipVerdict::Drop);
        // Even its responses and in-dialog requests are dropped while blocked.
        assert_eq!(
            g.check(t, ip("10.0.0.2"), b"SIP/2.0 200 OK\r\n\r\n"),
            SipVerdict::Drop
        );
        assert_eq!(g.check(t, ip("10.0.0.3"), &msg), SipVerdict::Serve);
        // In-dialog requests and responses do not count toward the limit.
        for _ in 0..100 {
            let bye = b"BYE sip:a SIP/2.0\r\nTo: <sip:b>;tag=9\r\n\r\n";
            assert_eq!(g.check(t, ip("10.0.0.4"), bye), SipVerdict::Serve);
        }
        let c = &g.counters;
        assert_eq!(c.blocks[Reason::Flood as usize].load(Ordering::Relaxed), 1);
        assert_eq!(c.refused[Reason::Flood as usize].load(Ordering::Relaxed), 2);
    }

    #[test]
    fn scanners_get_nothing_and_stay_blocked() {
        let mut g = guard(&SecurityConfig::default(), &[]);
        let t = Timestamp::from_millis(10);
        let scan = invite("User-Agent: friendly-scanner\r\n");
        assert_eq!(g.check(t, ip("10.0.0.2"), &scan), SipVerdict::Drop);
        assert_eq!(g.check(t, ip("10.0.0.2"), &invite("")), SipVerdict::Drop);
        let normal = invite("User-Agent: Polycom RealPresence\r\n");
        assert_eq!(g.check(t, ip("10.0.0.3"), &normal), SipVerdict::Serve);
        let later = t + Duration::from_secs(61);
        assert_eq!(
            g.check(later, ip("10.0.0.2"), &invite("")),
            SipVerdict::Serve
        );
    }

    #[test]
    fn room_guessing_blocks_invites_at_the_nth_wrong_room() {
        let config = SecurityConfig {
            room_guesses: 3,
            ..SecurityConfig::default()
        };
        let trunk = Cidr::try_from("192.0.2.0/24".to_owned()).unwrap();
        let mut g = guard(&config, &[trunk]);
        let t = Timestamp::from_millis(10);
        assert!(!g.wrong_room(t, ip("10.0.0.2")));
        assert!(!g.wrong_room(t, ip("10.0.0.2")));
        assert_eq!(g.check(t, ip("10.0.0.2"), &invite("")), SipVerdict::Serve);
        assert!(g.wrong_room(t, ip("10.0.0.2")));
        assert_eq!(g.check(t, ip("10.0.0.2"), &invite("")), SipVerdict::Drop);
        // Its OPTIONS still get answers; another source's INVITEs too.
        let options = b"OPTIONS sip:b SIP/2.0\r\nTo: <sip:b>\r\n\r\n";
        assert_eq!(g.check(t, ip("10.0.0.2"), options), SipVerdict::Serve);
        assert_eq!(g.check(t, ip("10.0.0.3"), &invite("")), SipVerdict::Serve);
        // A trunk is never blocked for its callers' mistakes.
        for _ in 0..10 {
            assert!(!g.wrong_room(t, ip("192.0.2.7")));
        }
        assert_eq!(g.check(t, ip("192.0.2.7"), &invite("")), SipVerdict::Serve);
        let later = t + Duration::from_secs(601);
        assert_eq!(
            g.check(later, ip("10.0.0.2"), &invite("")),
            SipVerdict::Serve
        );
    }
}
