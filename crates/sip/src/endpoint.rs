//! The UA core: request validation (RFC 3261 §8.2), transaction matching (§17.2.3),
//! dialogs (§12), INVITE/ACK/BYE/CANCEL/re-INVITE/OPTIONS/INFO, session timers (RFC 4028),
//! response routing with rport (RFC 3261 §18.2.2, RFC 3581), and calls we place (dial-out:
//! RFC 3261 §13.2, §9.1 CANCEL, §22.2 digest authentication).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use pont_types::{Pii, Timestamp};
use tracing::{debug, trace};

use crate::auth;
use crate::header::{
    BRANCH_COOKIE, CSeq, HeaderError, NameAddr, Params, SessionExpires, Uri, Via,
    parse_max_forwards,
};
use crate::message::{
    Framing, Headers, Message, Method, Request, Response, reason_phrase, salvage_request_headers,
};
use crate::sdp::{Sdp, SdpError};
use crate::transaction::{
    ClientResponse, ClientState, ClientTimer, ClientTx, ServerState, ServerTimer, ServerTx, Timers,
};

/// The transport a message came in on or leaves by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    /// Reliable transports skip retransmissions (RFC 3261 §17).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Self::Udp)
    }

    fn via_token(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }
}

/// Bytes to send. Over TCP/TLS, `destination` is the peer address of the connection the
/// request came in on (RFC 3261 §18.2.2: responses go back on the same connection), or for a
/// call we placed its [`OutgoingCall::destination`] (the connection the application opened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub transport: Transport,
    pub destination: SocketAddr,
    pub payload: Vec<u8>,
}

/// Our handle on one call (one INVITE dialog). Not the SIP Call-ID header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(pub u64);

/// An INVITE that created a new call. The application decides: [`SipEndpoint::answer`] with an
/// SDP answer, or [`SipEndpoint::reject`] with 404/486/480/488/….
#[derive(Debug, Clone)]
pub struct IncomingCall {
    pub call: CallHandle,
    /// The Request-URI user, `%HH`-decoded: a room number, `room*pin`, `dialin`, an E.164
    /// number. `None` for a URI without user part.
    pub user: Option<Pii<String>>,
    pub request_uri: Pii<String>,
    pub from_display_name: Option<Pii<String>>,
    pub from_uri: Pii<String>,
    /// The SDP offer; `None` for an offerless INVITE (answer with an offer, the ACK carries
    /// the answer: [`Event::AckSdp`]).
    pub offer: Option<Sdp>,
    pub transport: Transport,
    pub source: Pii<SocketAddr>,
}

/// A call for [`SipEndpoint::call`] to place (dial-out, RFC 3261 §13.2). Build it with
/// [`OutgoingCall::new`] and set the optional fields.
#[derive(Debug, Clone)]
pub struct OutgoingCall {
    /// Request-URI and To URI, e.g. `sip:1234@192.0.2.5:5070`; `sip:` or `sips:`.
    pub target: String,
    /// Where the INVITE and every later request of the call go: the peer or an outbound
    /// proxy (the core resolves no names and ignores the Contact and Record-Route hosts
    /// for where to send). Over TCP/TLS the application opens, or reuses, a connection to it
    /// and hands what comes back on it to [`SipEndpoint::handle_receive`] with this address.
    pub destination: SocketAddr,
    pub transport: Transport,
    /// The user part of our From URI, `sip:<from_user>@<host>` with the configured host.
    pub from_user: String,
    /// The From display name the callee sees.
    pub from_display_name: Option<String>,
    /// Our SDP offer (see [`crate::sdp::offer`]); it must parse.
    pub sdp_offer: String,
    /// Digest username and password: a 401/407 challenge is answered once (RFC 3261 §22.2).
    pub credentials: Option<(String, String)>,
    /// How long the call may ring, from the first provisional response: then we CANCEL it
    /// and report [`Event::CallFailed`] with 408. [`OutgoingCall::DEFAULT_RING_TIMEOUT`] by
    /// default.
    pub ring_timeout: Duration,
}

impl OutgoingCall {
    /// Three minutes, the proxy's Timer C (RFC 3261 §16.6 item 11).
    pub const DEFAULT_RING_TIMEOUT: Duration = Duration::from_secs(180);

    /// A call to `target` via `destination`, from `from_user`, offering `sdp_offer`; no
    /// display name, no credentials, the default ring timeout.
    pub fn new(
        target: impl Into<String>,
        destination: SocketAddr,
        transport: Transport,
        from_user: impl Into<String>,
        sdp_offer: impl Into<String>,
    ) -> Self {
        Self {
            target: target.into(),
            destination,
            transport,
            from_user: from_user.into(),
            from_display_name: None,
            sdp_offer: sdp_offer.into(),
            credentials: None,
            ring_timeout: Self::DEFAULT_RING_TIMEOUT,
        }
    }
}

/// Why a call ended without the application asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// The peer sent BYE.
    RemoteBye,
    /// The peer cancelled the INVITE before we answered (RFC 3261 §9.2).
    Cancelled,
    /// No ACK for our 2xx within 64*T1 (RFC 3261 §13.3.1.4); we sent BYE.
    NoAck,
    /// The session timer ran out without a refresh (RFC 4028 §10); we sent BYE.
    SessionExpired,
    /// An in-dialog request we sent timed out or got 481/408 (RFC 3261 §12.2.1.2).
    DialogLost,
}

/// What the application hears from the endpoint.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    IncomingCall(IncomingCall),
    /// The ACK for our 2xx arrived: media may flow both ways.
    CallEstablished {
        call: CallHandle,
    },
    CallEnded {
        call: CallHandle,
        reason: EndReason,
    },
    /// A re-INVITE (hold, resume, new media). Answer with [`SipEndpoint::answer`] or refuse
    /// with [`SipEndpoint::reject`] (e.g. 488); the call continues either way.
    Reoffer {
        call: CallHandle,
        offer: Option<Sdp>,
        hold: bool,
    },
    /// The SDP in an ACK (answer to the offer we made in a 2xx to an offerless INVITE).
    AckSdp {
        call: CallHandle,
        sdp: Sdp,
    },
    /// 2xx to our re-INVITE, with the peer's answer.
    ReinviteAnswered {
        call: CallHandle,
        answer: Option<Sdp>,
    },
    /// Our re-INVITE was refused (491 glare, 488, …); the call continues with the old session.
    ReinviteFailed {
        call: CallHandle,
        code: u16,
    },
    /// A call we placed rings: the first 180 Ringing or 183 Session Progress (once per call;
    /// early media is not set up).
    Ringing {
        call: CallHandle,
    },
    /// A call we placed was answered with a 2xx carrying the peer's SDP answer (read it with
    /// [`crate::sdp::process_answer`]). The endpoint has sent the ACK; the call is confirmed
    /// like an answered incoming one ([`SipEndpoint::hangup`] sends BYE, the peer's BYE is
    /// [`Event::CallEnded`] with [`EndReason::RemoteBye`]).
    Answered {
        call: CallHandle,
        answer: Sdp,
    },
    /// A call we placed did not come up; it is gone. `code` is the final response (404, 486,
    /// 603, …; 401/407 when the challenge could not be answered), 408 when Timer B fired
    /// without any response or the ring timeout ran out (we CANCEL), or 488 for a 2xx without
    /// a parseable SDP answer (we ACK it and send BYE). Not sent after
    /// [`SipEndpoint::hangup`].
    CallFailed {
        call: CallHandle,
        code: u16,
    },
    /// INFO `application/media_control+xml` with `picture_fast_update`: send a keyframe.
    PictureFastUpdate {
        call: CallHandle,
    },
    /// A DTMF digit from INFO `application/dtmf-relay` or `application/dtmf`.
    Dtmf {
        call: CallHandle,
        digit: char,
        duration_ms: Option<u32>,
    },
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    #[error("no such call")]
    UnknownCall,
    #[error("the call has no INVITE waiting for an answer")]
    NothingToAnswer,
    #[error("status code {0} cannot be used here")]
    BadStatus(u16),
    #[error("the call is not established")]
    NotEstablished,
    #[error("an INVITE transaction is already in progress on this call")]
    InvitePending,
    /// [`SipEndpoint::call`]: the target, or the From URI made of `from_user`, is not a SIP
    /// URI.
    #[error("not a SIP URI: {0}")]
    BadUri(String),
    /// [`SipEndpoint::call`]: the SDP offer does not parse.
    #[error("the SDP offer does not parse: {0}")]
    BadOffer(SdpError),
}

/// Endpoint configuration.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Host (IP literal or name) for our Contact and Via.
    pub host: String,
    /// Our SIP port, used on every transport.
    pub port: u16,
    pub timers: Timers,
    /// Our Min-SE (RFC 4028 §5): 90 s, the RFC's minimum.
    pub min_se: u32,
    /// `Server`/`User-Agent` header value.
    pub user_agent: String,
    /// Seeds tags, branches and our CSeq numbers. Give each process a different seed.
    pub seed: u64,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 5060,
            timers: Timers::default(),
            min_se: 90,
            user_agent: "pont".into(),
            seed: 0x5eed,
        }
    }
}

const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO";
const SUPPORTED: &str = "timer";
/// Methods we recognise but do not implement: 405 (RFC 3261 §8.2.1); anything else is 501.
const KNOWN_UNSUPPORTED: &[Method] = &[
    Method::Register,
    Method::Prack,
    Method::Subscribe,
    Method::Notify,
    Method::Publish,
    Method::Refer,
    Method::Message,
    Method::Update,
];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerTarget {
    Server(String),
    /// A client transaction, by [`client_key`].
    Client(String),
    Call(CallHandle),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// INVITE received, the application has not answered.
    Incoming,
    /// 2xx sent, waiting for the ACK.
    Answered,
    /// We placed the call: INVITE sent, no 2xx yet.
    Outgoing,
    Confirmed,
}

/// Whether a call we place is being cancelled (RFC 3261 §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancel {
    No,
    /// Hung up before any provisional response: CANCEL when one arrives.
    Wanted,
    Sent,
}

/// The UAC side of a call we placed.
#[derive(Debug)]
struct Dialout {
    /// Branch of the INVITE client transaction in progress (a new one after a digest retry).
    branch: String,
    credentials: Option<(String, String)>,
    /// The INVITE was re-sent with credentials (once only).
    auth_tried: bool,
    /// `Authorization`/`Proxy-Authorization` of the INVITE, repeated in the 2xx's ACK
    /// (RFC 3261 §13.2.2.4).
    auth: Option<(&'static str, String)>,
    /// A provisional response arrived to the current INVITE: CANCEL may be sent (§9.1).
    provisional: bool,
    ringing: bool,
    cancel: Cancel,
    ring_timeout: Duration,
    /// Ring timeout (set by the first provisional) or, once CANCEL is sent, the 64*T1 after
    /// which the INVITE is given up (RFC 3261 §9.1).
    deadline: Option<Timestamp>,
    /// ACKs sent to 2xx of other forks (their To tag, the ACK), sent again on their
    /// retransmissions.
    fork_acks: Vec<(String, Vec<u8>)>,
}

#[derive(Debug)]
struct SessionTimer {
    interval: u32,
    we_refresh: bool,
    /// When we refresh (we_refresh) or give up and send BYE (peer refreshes).
    due: Timestamp,
}

#[derive(Debug)]
struct Call {
    state: CallState,
    call_id: String,
    local_tag: String,
    remote_tag: String,
    /// The To value of the INVITE (our URI) and the From value (theirs), tags included.
    local_header: String,
    remote_header: String,
    remote_target: String,
    route_set: Vec<String>,
    local_seq: u32,
    /// The peer's last CSeq; `None` until its first request on a call we placed (§12.1.2).
    remote_seq: Option<u32>,
    transport: Transport,
    /// Where in-dialog requests go: the address the peer's requests come from (symmetric
    /// signalling; the core resolves no names and the peer may be behind NAT).
    peer: SocketAddr,
    /// The server INVITE transaction waiting for the application (initial or re-INVITE).
    pending_invite: Option<String>,
    /// Our re-INVITE in progress (client transaction branch).
    our_invite: Option<String>,
    local_sdp: Option<String>,
    /// 2xx retransmission until ACK (RFC 3261 §13.3.1.4).
    ok_bytes: Option<Vec<u8>>,
    ok_retransmit_at: Option<Timestamp>,
    ok_interval: Duration,
    ok_give_up_at: Option<Timestamp>,
    invite_cseq: u32,
    peer_supports_timer: bool,
    session_timer: Option<SessionTimer>,
    /// Session-Expires requested in the INVITE being answered.
    requested_se: Option<SessionExpires>,
    /// Set on calls we placed (dial-out).
    uac: Option<Dialout>,
}

#[derive(Debug)]
struct ClientEntry {
    tx: ClientTx,
    call: Option<CallHandle>,
    method: Method,
    transport: Transport,
    destination: SocketAddr,
}

#[derive(Debug)]
struct ServerEntry {
    tx: ServerTx,
    transport: Transport,
    destination: SocketAddr,
    request: Request,
    call: Option<CallHandle>,
    /// (From tag, Call-ID, CSeq) for merged-request detection (RFC 3261 §8.2.2.2).
    merge_key: Option<(String, String, String)>,
}

/// Counters for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Calls in progress, both directions, including ones being torn down.
    pub calls: usize,
    /// Of `calls`, those we placed ([`SipEndpoint::call`]).
    pub outgoing_calls: usize,
    pub server_transactions: usize,
    pub client_transactions: usize,
    pub dropped: u64,
    pub rejected_bad_request: u64,
}

/// The sans-IO SIP endpoint: a UAS for incoming calls and a UAC for the calls it places
/// ([`SipEndpoint::call`]), sending in-dialog requests on both.
/// See the crate docs for the poll order.
#[derive(Debug)]
pub struct SipEndpoint {
    config: EndpointConfig,
    rng: u64,
    next_call: u64,
    server: HashMap<String, ServerEntry>,
    merge_index: HashMap<(String, String, String), String>,
    client: HashMap<String, ClientEntry>,
    calls: HashMap<CallHandle, Call>,
    dialogs: HashMap<(String, String, String), CallHandle>,
    timers: BTreeSet<(Timestamp, TimerTarget)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    dropped: u64,
    bad_requests: u64,
}

/// A request that passed RFC 3261 §8.2 validation, with the typed headers the core uses.
struct Checked {
    top_via: Via,
    from: NameAddr,
    to: NameAddr,
    call_id: String,
    cseq: CSeq,
    uri: Uri,
}

/// A stateless answer to a request that fails validation.
struct Refusal {
    code: u16,
    reason: String,
    extra: Vec<(&'static str, String)>,
}

impl Refusal {
    fn new(code: u16) -> Self {
        Self {
            code,
            reason: reason_phrase(code).to_owned(),
            extra: Vec::new(),
        }
    }

    fn bad(reason: impl Into<String>) -> Self {
        Self {
            code: 400,
            reason: reason.into(),
            extra: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }
}

impl From<HeaderError> for Refusal {
    fn from(e: HeaderError) -> Self {
        Self::bad(e.to_string())
    }
}

fn tx_key(via: &Via, method: &Method, req: &Request, cseq: &CSeq, from_tag: &str) -> String {
    // RFC 3261 §17.2.3: branch + sent-by + method (ACK matches its INVITE). A branch without
    // the magic cookie (RFC 2543 peers, RFC 4475 §3.2.1) falls back to Call-ID, CSeq number,
    // From tag and the top Via.
    let method = match method {
        Method::Ack => "INVITE",
        m => m.as_str(),
    };
    match via.branch() {
        Some(b) if b.len() > BRANCH_COOKIE.len() && b.starts_with(BRANCH_COOKIE) => {
            format!("{b}|{}|{method}", via.sent_by().to_ascii_lowercase())
        }
        _ => format!(
            "2543|{}|{}|{from_tag}|{}|{method}|{}",
            req.headers.get("Call-ID").unwrap_or(""),
            cseq.seq,
            via.sent_by().to_ascii_lowercase(),
            via.branch().unwrap_or("")
        ),
    }
}

impl SipEndpoint {
    pub fn new(config: EndpointConfig) -> Self {
        let rng = config.seed ^ 0x9e37_79b9_7f4a_7c15;
        Self {
            config,
            rng,
            next_call: 1,
            server: HashMap::new(),
            merge_index: HashMap::new(),
            client: HashMap::new(),
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            timers: BTreeSet::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            dropped: 0,
            bad_requests: 0,
        }
    }

    // ---- getters -------------------------------------------------------------------------

    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    pub fn stats(&self) -> EndpointStats {
        EndpointStats {
            calls: self.calls.len(),
            outgoing_calls: self.calls.values().filter(|c| c.uac.is_some()).count(),
            server_transactions: self.server.len(),
            client_transactions: self.client.len(),
            dropped: self.dropped,
            rejected_bad_request: self.bad_requests,
        }
    }

    /// True while the call exists (from the INVITE until it ends). False as soon as the
    /// application hangs up a call it placed, even while its CANCEL is under way.
    pub fn has_call(&self, call: CallHandle) -> bool {
        self.calls.get(&call).is_some_and(|c| !c.hung_up())
    }

    // ---- outputs -------------------------------------------------------------------------

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Self::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.timers.first().map(|(t, _)| *t)
    }

    // ---- inputs --------------------------------------------------------------------------

    /// One UDP datagram, or one message cut by [`crate::StreamFramer`] from a TCP/TLS
    /// connection to `source`. Never panics on any input.
    pub fn handle_receive(
        &mut self,
        now: Timestamp,
        transport: Transport,
        source: SocketAddr,
        data: &[u8],
    ) {
        let framing = if transport.is_reliable() {
            Framing::Stream
        } else {
            Framing::Datagram
        };
        match Message::parse(data, framing) {
            Ok((Message::Request(req), _)) => self.handle_request(now, req, transport, source),
            Ok((Message::Response(resp), _)) => self.handle_response(now, resp),
            Err(e) => {
                // RFC 3261 §8.2 / RFC 4475: a broken request gets 400 if we can say where to;
                // a broken response is dropped.
                match salvage_request_headers(data) {
                    Some((_, headers)) if headers.get("Via").is_some() => {
                        debug!(source = %Pii(source), error = %e, "unparseable request: 400");
                        self.bad_requests += 1;
                        self.send_stateless(
                            transport,
                            source,
                            &headers,
                            &Refusal::bad(e.to_string()),
                        );
                    }
                    _ => {
                        trace!(source = %Pii(source), error = %e, "unparseable message dropped");
                        self.dropped += 1;
                    }
                }
            }
        }
    }

    /// Run the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        while let Some((at, _)) = self.timers.first() {
            if *at > now {
                break;
            }
            let Some((_, target)) = self.timers.pop_first() else {
                break;
            };
            match target {
                TimerTarget::Server(key) => self.server_timer(now, key),
                TimerTarget::Client(key) => self.client_timer(now, key),
                TimerTarget::Call(call) => self.call_timer(now, call),
            }
        }
    }

    // ---- commands ------------------------------------------------------------------------

    /// Answer the INVITE (or re-INVITE) waiting on `call` with 200 OK and `sdp` (RFC 3261
    /// §13.3.1.4). For an offerless INVITE `sdp` is our offer.
    pub fn answer(&mut self, now: Timestamp, call: CallHandle, sdp: &str) -> Result<(), CallError> {
        let c = self.calls.get_mut(&call).ok_or(CallError::UnknownCall)?;
        let key = c.pending_invite.take().ok_or(CallError::NothingToAnswer)?;
        c.local_sdp = Some(sdp.to_owned());
        let mut extra: Vec<(&'static str, String)> = vec![
            ("Contact", contact_for(&self.config, c.transport)),
            ("Allow", ALLOW.into()),
            ("Supported", SUPPORTED.into()),
            ("Content-Type", "application/sdp".into()),
        ];
        // RFC 4028 §9: echo the session interval and name the refresher.
        if let Some(se) = c.requested_se.take() {
            let we_refresh = match se.refresher.as_deref() {
                Some("uas") => true,
                Some(_) => false,
                None => !c.peer_supports_timer,
            };
            let refresher = if we_refresh { "uas" } else { "uac" };
            extra.push((
                "Session-Expires",
                format!("{};refresher={refresher}", se.seconds),
            ));
            if c.peer_supports_timer {
                extra.push(("Require", "timer".into()));
            }
            let st = SessionTimer::start(now, se.seconds, we_refresh);
            self.timers.insert((st.due, TimerTarget::Call(call)));
            c.session_timer = Some(st);
        }
        let body = sdp.as_bytes().to_vec();
        let bytes = self.respond_in_tx(now, &key, 200, None, &extra, body);
        let c = self.calls.get_mut(&call).ok_or(CallError::UnknownCall)?;
        if c.state == CallState::Incoming {
            c.state = CallState::Answered;
            let t = self.config.timers;
            c.ok_bytes = bytes;
            c.ok_give_up_at = Some(now + t.t1x64());
            if !c.transport.is_reliable() {
                c.ok_interval = t.t1;
                c.ok_retransmit_at = Some(now + t.t1);
                self.timers.insert((now + t.t1, TimerTarget::Call(call)));
            }
            self.timers
                .insert((now + t.t1x64(), TimerTarget::Call(call)));
        }
        Ok(())
    }

    /// Refuse the INVITE waiting on `call` with a final non-2xx `code` (404 unknown room,
    /// 486 busy, 480 locked, 488 no common codec, …). An initial INVITE ends the call; a
    /// refused re-INVITE leaves it as it was.
    pub fn reject(&mut self, now: Timestamp, call: CallHandle, code: u16) -> Result<(), CallError> {
        self.reject_with(now, call, code, Vec::new())
    }

    /// Refuse the INVITE waiting on `call` with 503 Service Unavailable and a Retry-After of
    /// `retry_after` (RFC 3261 §21.5.4, §20.33): we are overloaded, the caller may try again
    /// then. Whole seconds; anything below one second is sent as 1.
    pub fn reject_overloaded(
        &mut self,
        now: Timestamp,
        call: CallHandle,
        retry_after: Duration,
    ) -> Result<(), CallError> {
        let secs = retry_after.as_secs().max(1);
        self.reject_with(now, call, 503, vec![("Retry-After", secs.to_string())])
    }

    fn reject_with(
        &mut self,
        now: Timestamp,
        call: CallHandle,
        code: u16,
        mut extra: Vec<(&'static str, String)>,
    ) -> Result<(), CallError> {
        if !(300..=699).contains(&code) {
            return Err(CallError::BadStatus(code));
        }
        let c = self.calls.get_mut(&call).ok_or(CallError::UnknownCall)?;
        let key = c.pending_invite.take().ok_or(CallError::NothingToAnswer)?;
        let initial = c.state == CallState::Incoming;
        if code == 488 || code == 606 {
            extra.push((
                "Warning",
                "304 pont \"Media type not available\"".to_owned(),
            ));
        }
        if initial {
            self.remove_call(call);
        }
        self.respond_in_tx(now, &key, code, None, &extra, Vec::new());
        Ok(())
    }

    /// Place a call (RFC 3261 §13.2.1): an INVITE with `out.sdp_offer` to `out.destination`,
    /// with a new Call-ID and From tag, CSeq 1, our Contact, Allow and Supported, through an
    /// INVITE client transaction (RFC 3261 §17.1.1: over UDP Timer A retransmits it from T1,
    /// doubling; Timer B gives up after 64*T1 without any response; nothing is retransmitted
    /// over TCP/TLS). What follows: [`Event::Ringing`], then [`Event::Answered`] or
    /// [`Event::CallFailed`]. [`Self::hangup`] before the answer cancels the call.
    pub fn call(&mut self, now: Timestamp, out: OutgoingCall) -> Result<CallHandle, CallError> {
        let target = match Uri::parse(out.target.trim()) {
            Ok(u @ Uri::Sip(_)) => u,
            _ => return Err(CallError::BadUri(out.target)),
        };
        let from_text = format!("sip:{}@{}", out.from_user, self.config.host);
        let Ok(from_uri @ Uri::Sip(_)) = Uri::parse(&from_text) else {
            return Err(CallError::BadUri(from_text));
        };
        Sdp::parse(out.sdp_offer.as_bytes()).map_err(CallError::BadOffer)?;
        let call = CallHandle(self.next_call);
        self.next_call += 1;
        let local_tag = self.random_token();
        let call_id = format!("{}@{}", self.random_token(), self.config.host);
        let from = NameAddr {
            display_name: out.from_display_name,
            uri: from_uri,
            params: Params(vec![("tag".into(), Some(local_tag.clone()))]),
        };
        let to = NameAddr {
            display_name: None,
            uri: target.clone(),
            params: Params::default(),
        };
        let mut c = Call::uac(
            call_id,
            local_tag,
            from.to_string(),
            to.to_string(),
            target.to_string(),
            out.transport,
            out.destination,
        );
        c.local_sdp = Some(out.sdp_offer.clone());
        c.uac = Some(Dialout {
            branch: String::new(),
            credentials: out.credentials,
            auth_tried: false,
            auth: None,
            provisional: false,
            ringing: false,
            cancel: Cancel::No,
            ring_timeout: out.ring_timeout,
            deadline: None,
            fork_acks: Vec::new(),
        });
        self.calls.insert(call, c);
        let body = ("application/sdp", out.sdp_offer.into_bytes());
        let branch = self.send_request(now, call, Method::Invite, Some(body), &[])?;
        if let Some(d) = self.calls.get_mut(&call).and_then(|c| c.uac.as_mut()) {
            d.branch = branch;
        }
        debug!(call = call.0, uri = %Pii(&target), "outgoing call");
        Ok(call)
    }

    /// Hang up: BYE on an answered call (RFC 3261 §15.1.1), 480 on an incoming one not yet
    /// answered, CANCEL on one we placed that is not answered yet (RFC 3261 §9.1: at once if a
    /// provisional response came, else when one comes; a 2xx that crosses the CANCEL is ACKed
    /// and gets BYE). No event follows: the application asked for it.
    pub fn hangup(&mut self, now: Timestamp, call: CallHandle) -> Result<(), CallError> {
        let c = self.calls.get_mut(&call).ok_or(CallError::UnknownCall)?;
        match c.state {
            CallState::Incoming => return self.reject(now, call, 480),
            CallState::Outgoing => {
                let d = c.uac.as_mut().ok_or(CallError::UnknownCall)?;
                match (d.cancel, d.provisional) {
                    (Cancel::No, true) => self.send_cancel(now, call),
                    (Cancel::No, false) => d.cancel = Cancel::Wanted,
                    _ => return Err(CallError::UnknownCall),
                }
                return Ok(());
            }
            CallState::Answered | CallState::Confirmed => {}
        }
        self.send_in_dialog(now, call, Method::Bye, None)?;
        self.remove_call(call);
        Ok(())
    }

    /// Send a re-INVITE with a new offer (RFC 3261 §14.1). The answer comes as
    /// [`Event::ReinviteAnswered`] or [`Event::ReinviteFailed`].
    pub fn reinvite(
        &mut self,
        now: Timestamp,
        call: CallHandle,
        sdp: &str,
    ) -> Result<(), CallError> {
        let c = self.calls.get_mut(&call).ok_or(CallError::UnknownCall)?;
        if c.state != CallState::Confirmed {
            return Err(CallError::NotEstablished);
        }
        if c.pending_invite.is_some() || c.our_invite.is_some() {
            return Err(CallError::InvitePending);
        }
        c.local_sdp = Some(sdp.to_owned());
        let branch = self.send_in_dialog(
            now,
            call,
            Method::Invite,
            Some(("application/sdp", sdp.as_bytes().to_vec())),
        )?;
        if let Some(c) = self.calls.get_mut(&call) {
            c.our_invite = Some(branch);
        }
        Ok(())
    }

    /// Ask the peer for a keyframe: INFO `application/media_control+xml` (RFC 5168).
    pub fn request_keyframe(&mut self, now: Timestamp, call: CallHandle) -> Result<(), CallError> {
        let body = "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\r\n<media_control><vc_primitive><to_encoder>\
<picture_fast_update/></to_encoder></vc_primitive></media_control>\r\n";
        self.send_in_dialog(
            now,
            call,
            Method::Info,
            Some(("application/media_control+xml", body.as_bytes().to_vec())),
        )
        .map(|_| ())
    }

    /// In-dialog OPTIONS keep-alive; a timeout or 481 ends the call ([`EndReason::DialogLost`]).
    pub fn ping(&mut self, now: Timestamp, call: CallHandle) -> Result<(), CallError> {
        self.send_in_dialog(now, call, Method::Options, None)
            .map(|_| ())
    }

    // ---- internals: requests -------------------------------------------------------------

    fn handle_request(
        &mut self,
        now: Timestamp,
        req: Request,
        transport: Transport,
        source: SocketAddr,
    ) {
        // RFC 3261 §8.2 checks, in its order, each answered statelessly.
        let checked = match self.check_request(&req) {
            Ok(c) => c,
            Err(refusal) => {
                if req.method == Method::Ack {
                    // RFC 3261 §17: never answer an ACK.
                    self.dropped += 1;
                    return;
                }
                debug!(code = refusal.code, reason = %refusal.reason, method = %req.method, "request refused");
                if refusal.code == 400 {
                    self.bad_requests += 1;
                }
                self.send_stateless(transport, source, &req.headers, &refusal);
                return;
            }
        };
        let from_tag = checked.from.tag().unwrap_or("").to_owned();
        let key = tx_key(
            &checked.top_via,
            &req.method,
            &req,
            &checked.cseq,
            &from_tag,
        );

        // RFC 3261 §17.2.3: retransmissions and ACK/CANCEL are matched to their transaction.
        match req.method {
            Method::Ack => {
                if let Some(entry) = self.server.get_mut(&key)
                    && entry.tx.state == ServerState::Completed
                {
                    entry.tx.on_ack(now, &self.config.timers);
                    let d = entry.tx.deadline();
                    if let Some(d) = d {
                        self.timers.insert((d, TimerTarget::Server(key)));
                    }
                    return;
                }
                self.handle_ack(now, &req, &checked, source);
                return;
            }
            Method::Cancel => {
                self.handle_cancel(now, &req, &checked, &from_tag, transport, source);
                return;
            }
            _ => {}
        }
        if let Some(entry) = self.server.get(&key) {
            if let Some(bytes) = entry.tx.on_request_retransmission() {
                self.transmits.push_back(Transmit {
                    transport: entry.transport,
                    destination: entry.destination,
                    payload: bytes.to_vec(),
                });
            }
            return;
        }
        let to_tag = checked.to.tag().map(str::to_owned);
        // RFC 3261 §8.2.2.2: same From tag, Call-ID and CSeq as a live transaction but another
        // branch: a merged request (it forked and came back by two paths).
        let merge_key = to_tag.is_none().then(|| {
            (
                from_tag.clone(),
                checked.call_id.clone(),
                format!("{} {}", checked.cseq.seq, checked.cseq.method),
            )
        });
        if let Some(mk) = &merge_key
            && self.merge_index.contains_key(mk)
        {
            self.send_stateless(transport, source, &req.headers, &Refusal::new(482));
            return;
        }
        // RFC 3261 §8.2.2.3: Require with tags we do not support (ACK and CANCEL excluded).
        let unsupported: Vec<&str> = req
            .headers
            .values("Require")
            .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("timer"))
            .collect();
        if !unsupported.is_empty() {
            let r = Refusal::new(420).with("Unsupported", unsupported.join(", "));
            self.send_stateless(transport, source, &req.headers, &r);
            return;
        }
        // RFC 3261 §8.2.3: a body we cannot handle.
        if let Some(r) = check_body(&req) {
            self.send_stateless(transport, source, &req.headers, &r);
            return;
        }

        let destination = response_destination(&checked.top_via, transport, source);
        let mut tx = ServerTx::new(req.method == Method::Invite, transport.is_reliable());
        let known_dialog = to_tag.as_ref().is_none_or(|tag| {
            self.dialogs
                .contains_key(&(checked.call_id.clone(), tag.clone(), from_tag.clone()))
        });
        if req.method == Method::Invite && known_dialog {
            // RFC 3261 §17.2.1: 100 Trying at once, the TU may take longer than 200 ms.
            let trying = build_response(
                &req,
                100,
                reason_phrase(100),
                None,
                &[],
                Vec::new(),
                source,
                &self.config.user_agent,
            );
            tx.respond(now, 100, trying.clone(), &self.config.timers);
            self.transmits.push_back(Transmit {
                transport,
                destination,
                payload: trying,
            });
        }
        if let Some(mk) = &merge_key {
            self.merge_index.insert(mk.clone(), key.clone());
        }
        self.server.insert(
            key.clone(),
            ServerEntry {
                tx,
                transport,
                destination,
                request: req,
                call: None,
                merge_key,
            },
        );

        match to_tag {
            Some(tag) => {
                self.handle_in_dialog(now, key, &checked, &from_tag, &tag, transport, source)
            }
            None => self.handle_out_of_dialog(now, key, &checked, &from_tag, transport, source),
        }
    }

    /// RFC 3261 §8.2.1–§8.2.2.1 and the parse-level checks; `Err` is the stateless answer.
    fn check_request(&self, req: &Request) -> Result<Checked, Refusal> {
        if req.version != "SIP/2.0" {
            // RFC 3261 §8.2 / RFC 4475 §3.1.2.16.
            return Err(Refusal::new(505));
        }
        let h = &req.headers;
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if h.get(name).is_none() {
                return Err(Refusal::bad(format!("Missing {name}")));
            }
        }
        // RFC 4475 §3.3.8: single-valued headers given twice.
        for name in [
            "From",
            "To",
            "Call-ID",
            "CSeq",
            "Max-Forwards",
            "Content-Type",
        ] {
            if h.count(name) > 1 || h.get(name).is_some_and(has_top_level_comma) {
                return Err(Refusal::bad(format!("Multiple {name} values")));
            }
        }
        let mut vias = h.values("Via");
        let top_via = Via::parse(vias.next().unwrap_or(""))?;
        for v in vias {
            Via::parse(v)?;
        }
        let from = NameAddr::parse(h.get("From").unwrap_or(""))?;
        let to = NameAddr::parse(h.get("To").unwrap_or(""))?;
        for c in h.values("Contact") {
            if c != "*" {
                NameAddr::parse(c)?;
            }
        }
        for name in ["Route", "Record-Route"] {
            for r in h.values(name) {
                NameAddr::parse(r)?;
            }
        }
        let call_id = h.get("Call-ID").unwrap_or("").to_owned();
        if call_id.is_empty() || call_id.contains(char::is_whitespace) {
            return Err(Refusal::bad("Malformed Call-ID"));
        }
        let cseq = CSeq::parse(h.get("CSeq").unwrap_or(""))?;
        if let Some(mf) = h.get("Max-Forwards") {
            // RFC 4475 §3.3.11: an endpoint processes Max-Forwards 0 normally (483 is a
            // proxy's answer, RFC 3261 §16.3), so the value is only checked for syntax.
            parse_max_forwards(mf)?;
        }
        if let Some(se) = h.get("Session-Expires") {
            SessionExpires::parse(se)?;
        }
        let uri = Uri::parse(&req.uri)?;
        if let Uri::Sip(u) = &uri {
            // RFC 3261 §19.1.1: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
            if u.headers.is_some() {
                return Err(Refusal::bad("Headers in Request-URI"));
            }
        }
        // RFC 3261 §8.2.1: method inspection.
        let allow = |r: Refusal| r.with("Allow", ALLOW);
        match &req.method {
            Method::Extension(_) => return Err(allow(Refusal::new(501))),
            m if KNOWN_UNSUPPORTED.contains(m) => return Err(allow(Refusal::new(405))),
            _ => {}
        }
        if cseq.method != req.method.as_str() {
            // RFC 4475 §3.1.2.17.
            return Err(Refusal::bad("CSeq method does not match"));
        }
        // RFC 3261 §8.2.2.1: Request-URI scheme.
        if matches!(uri, Uri::Other { .. }) {
            return Err(Refusal::new(416));
        }
        Ok(Checked {
            top_via,
            from,
            to,
            call_id,
            cseq,
            uri,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_out_of_dialog(
        &mut self,
        now: Timestamp,
        key: String,
        checked: &Checked,
        from_tag: &str,
        transport: Transport,
        source: SocketAddr,
    ) {
        let Some(entry) = self.server.get(&key) else {
            return;
        };
        let req = entry.request.clone();
        match req.method {
            Method::Invite => {}
            Method::Options => {
                self.respond_in_tx(now, &key, 200, None, &options_headers(), Vec::new());
                return;
            }
            _ => {
                // BYE, INFO … outside a dialog (RFC 3261 §12.2.2 / §15.1.2).
                self.respond_in_tx(now, &key, 481, None, &[], Vec::new());
                return;
            }
        }
        let Some((offer, se)) = self.check_invite(now, &key, &req) else {
            return;
        };
        let call = CallHandle(self.next_call);
        self.next_call += 1;
        let local_tag = self.random_token();
        let remote_target =
            contact_uri(&req.headers).unwrap_or_else(|| checked.from.uri.to_string());
        // RFC 3261 §12.1.1: the route set is the Record-Route list, in order.
        let route_set = req
            .headers
            .values("Record-Route")
            .map(str::to_owned)
            .collect();
        let peer_supports_timer = req
            .headers
            .values("Supported")
            .any(|t| t.eq_ignore_ascii_case("timer"));
        let local_seq = (self.next_random() % 10_000) as u32 + 1;
        let c = Call {
            state: CallState::Incoming,
            call_id: checked.call_id.clone(),
            local_tag: local_tag.clone(),
            remote_tag: from_tag.to_owned(),
            local_header: format!("{};tag={local_tag}", req.headers.get("To").unwrap_or("")),
            remote_header: req.headers.get("From").unwrap_or("").to_owned(),
            remote_target,
            route_set,
            local_seq,
            remote_seq: Some(checked.cseq.seq),
            transport,
            peer: source,
            pending_invite: Some(key.clone()),
            our_invite: None,
            local_sdp: None,
            ok_bytes: None,
            ok_retransmit_at: None,
            ok_interval: Duration::ZERO,
            ok_give_up_at: None,
            invite_cseq: checked.cseq.seq,
            peer_supports_timer,
            session_timer: None,
            requested_se: se,
            uac: None,
        };
        self.dialogs.insert(
            (checked.call_id.clone(), local_tag, from_tag.to_owned()),
            call,
        );
        self.calls.insert(call, c);
        if let Some(e) = self.server.get_mut(&key) {
            e.call = Some(call);
        }
        let sip = checked.uri.as_sip();
        debug!(call = call.0, uri = %Pii(&req.uri), "incoming call");
        self.events.push_back(Event::IncomingCall(IncomingCall {
            call,
            user: sip.and_then(|u| u.user_decoded()).map(Pii),
            request_uri: Pii(req.uri.clone()),
            from_display_name: checked.from.display_name.clone().map(Pii),
            from_uri: Pii(checked.from.uri.to_string()),
            offer,
            transport,
            source: Pii(source),
        }));
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_in_dialog(
        &mut self,
        now: Timestamp,
        key: String,
        checked: &Checked,
        from_tag: &str,
        to_tag: &str,
        _transport: Transport,
        source: SocketAddr,
    ) {
        let dkey = (
            checked.call_id.clone(),
            to_tag.to_owned(),
            from_tag.to_owned(),
        );
        let Some(&call) = self.dialogs.get(&dkey) else {
            // RFC 3261 §12.2.2: a request for a dialog we do not have.
            self.respond_in_tx(now, &key, 481, None, &[], Vec::new());
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            self.respond_in_tx(now, &key, 481, None, &[], Vec::new());
            return;
        };
        // RFC 3261 §12.2.2: a CSeq lower than or equal to the last one is out of order.
        if c.remote_seq.is_some_and(|r| checked.cseq.seq <= r) {
            self.respond_in_tx(now, &key, 500, Some("CSeq out of order"), &[], Vec::new());
            return;
        }
        c.remote_seq = Some(checked.cseq.seq);
        c.peer = source;
        let Some(entry) = self.server.get_mut(&key) else {
            return;
        };
        entry.call = Some(call);
        let req = entry.request.clone();
        match req.method {
            Method::Bye => {
                self.respond_in_tx(now, &key, 200, None, &[], Vec::new());
                // RFC 3261 §15.1.2: a pending INVITE is answered 487.
                if let Some(pending) = self
                    .calls
                    .get_mut(&call)
                    .and_then(|c| c.pending_invite.take())
                {
                    self.respond_in_tx(now, &pending, 487, None, &[], Vec::new());
                }
                self.remove_call(call);
                self.events.push_back(Event::CallEnded {
                    call,
                    reason: EndReason::RemoteBye,
                });
            }
            Method::Options => {
                self.respond_in_tx(now, &key, 200, None, &options_headers(), Vec::new());
            }
            Method::Info => {
                self.respond_in_tx(now, &key, 200, None, &[], Vec::new());
                self.info_events(call, &req);
            }
            Method::Invite => {
                // RFC 3261 §14.2: one INVITE at a time in each direction; glare is 491.
                if c.pending_invite.is_some()
                    || c.our_invite.is_some()
                    || c.state != CallState::Confirmed
                {
                    let code = if c.state == CallState::Confirmed {
                        491
                    } else {
                        500
                    };
                    let extra = [("Retry-After", "1".to_owned())];
                    self.respond_in_tx(now, &key, code, None, &extra, Vec::new());
                    return;
                }
                let Some((offer, se)) = self.check_invite(now, &key, &req) else {
                    return;
                };
                let Some(c) = self.calls.get_mut(&call) else {
                    return;
                };
                c.pending_invite = Some(key);
                c.invite_cseq = checked.cseq.seq;
                // RFC 4028 §10: a re-INVITE is a refresh; the answer restarts the timer.
                c.requested_se = se.or_else(|| {
                    c.session_timer.as_ref().map(|st| SessionExpires {
                        seconds: st.interval,
                        refresher: Some(if st.we_refresh { "uas" } else { "uac" }.into()),
                    })
                });
                if let Some(t) = c.remote_target_from(&req) {
                    c.remote_target = t;
                }
                let hold = offer.as_ref().is_some_and(Sdp::is_hold);
                self.events.push_back(Event::Reoffer { call, offer, hold });
            }
            _ => {
                self.respond_in_tx(now, &key, 405, None, &[("Allow", ALLOW.into())], Vec::new());
            }
        }
    }

    fn info_events(&mut self, call: CallHandle, req: &Request) {
        let ct = req
            .headers
            .get("Content-Type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let body = String::from_utf8_lossy(&req.body);
        match ct.as_str() {
            "application/media_control+xml" if body.contains("picture_fast_update") => {
                self.events.push_back(Event::PictureFastUpdate { call });
            }
            "application/dtmf-relay" => {
                let mut digit = None;
                let mut duration_ms = None;
                for line in body.lines() {
                    let Some((k, v)) = line.split_once('=') else {
                        continue;
                    };
                    match k.trim().to_ascii_lowercase().as_str() {
                        "signal" => digit = dtmf_digit(v.trim()),
                        "duration" => duration_ms = v.trim().parse().ok(),
                        _ => {}
                    }
                }
                if let Some(digit) = digit {
                    self.events.push_back(Event::Dtmf {
                        call,
                        digit,
                        duration_ms,
                    });
                }
            }
            "application/dtmf" => {
                if let Some(digit) = dtmf_digit(body.trim()) {
                    self.events.push_back(Event::Dtmf {
                        call,
                        digit,
                        duration_ms: None,
                    });
                }
            }
            _ => {}
        }
    }

    fn handle_ack(&mut self, now: Timestamp, req: &Request, checked: &Checked, source: SocketAddr) {
        // An ACK for a 2xx is its own transaction (RFC 3261 §17.1.1.3), matched to the dialog.
        let Some(to_tag) = checked.to.tag() else {
            self.dropped += 1;
            return;
        };
        let dkey = (
            checked.call_id.clone(),
            to_tag.to_owned(),
            checked.from.tag().unwrap_or("").to_owned(),
        );
        let Some(&call) = self.dialogs.get(&dkey) else {
            self.dropped += 1;
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if checked.cseq.seq != c.invite_cseq {
            self.dropped += 1;
            return;
        }
        c.peer = source;
        c.ok_bytes = None;
        c.ok_retransmit_at = None;
        c.ok_give_up_at = None;
        let first = c.state == CallState::Answered;
        c.state = CallState::Confirmed;
        if first {
            self.events.push_back(Event::CallEstablished { call });
        }
        if !req.body.is_empty()
            && let Ok(sdp) = Sdp::parse(&req.body)
        {
            self.events.push_back(Event::AckSdp { call, sdp });
        }
        let _ = now;
    }

    fn handle_cancel(
        &mut self,
        now: Timestamp,
        req: &Request,
        checked: &Checked,
        from_tag: &str,
        transport: Transport,
        source: SocketAddr,
    ) {
        // RFC 3261 §9.2: CANCEL matches the INVITE server transaction with the same key.
        let invite_key = tx_key(
            &checked.top_via,
            &Method::Invite,
            req,
            &checked.cseq,
            from_tag,
        );
        let pending = self
            .server
            .get(&invite_key)
            .map(|e| (e.tx.is_final(), e.call));
        let dest = response_destination(&checked.top_via, transport, source);
        let Some((is_final, call)) = pending else {
            let bytes = build_response(
                req,
                481,
                reason_phrase(481),
                None,
                &[],
                Vec::new(),
                source,
                &self.config.user_agent,
            );
            self.transmits.push_back(Transmit {
                transport,
                destination: dest,
                payload: bytes,
            });
            return;
        };
        // The CANCEL gets its own non-INVITE transaction for retransmissions.
        let cancel_key = tx_key(
            &checked.top_via,
            &Method::Cancel,
            req,
            &checked.cseq,
            from_tag,
        );
        if let Some(e) = self.server.get(&cancel_key) {
            if let Some(b) = e.tx.on_request_retransmission() {
                self.transmits.push_back(Transmit {
                    transport: e.transport,
                    destination: e.destination,
                    payload: b.to_vec(),
                });
            }
            return;
        }
        self.server.insert(
            cancel_key.clone(),
            ServerEntry {
                tx: ServerTx::new(false, transport.is_reliable()),
                transport,
                destination: dest,
                request: req.clone(),
                call: None,
                merge_key: None,
            },
        );
        self.respond_in_tx(now, &cancel_key, 200, None, &[], Vec::new());
        if is_final {
            return;
        }
        let Some(call) = call else {
            return;
        };
        let initial = self
            .calls
            .get(&call)
            .is_some_and(|c| c.state == CallState::Incoming);
        if let Some(c) = self.calls.get_mut(&call) {
            c.pending_invite = None;
        }
        self.respond_in_tx(now, &invite_key, 487, None, &[], Vec::new());
        if initial {
            self.remove_call(call);
            self.events.push_back(Event::CallEnded {
                call,
                reason: EndReason::Cancelled,
            });
        }
    }

    // ---- internals: responses to our requests ---------------------------------------------

    fn handle_response(&mut self, now: Timestamp, resp: Response) {
        let Some(via) = resp
            .headers
            .values("Via")
            .next()
            .and_then(|v| Via::parse(v).ok())
        else {
            self.dropped += 1;
            return;
        };
        let Some(branch) = via.branch().map(str::to_owned) else {
            self.dropped += 1;
            return;
        };
        let Some(cseq) = resp.headers.get("CSeq").and_then(|c| CSeq::parse(c).ok()) else {
            self.dropped += 1;
            return;
        };
        let key = client_key(&branch, &cseq.method);
        let t = self.config.timers;
        let Some(entry) = self.client.get(&key) else {
            // RFC 3261 §18.1.2: a response matching no transaction is dropped (RFC 4475
            // §3.1.1.12, §3.3.10: never act on its Via).
            self.dropped += 1;
            return;
        };
        let (call, method) = (entry.call, entry.method.clone());
        let (transport, destination) = (entry.transport, entry.destination);
        let accepted = entry.tx.state == ClientState::Accepted;
        // The INVITE of a call we placed (not a later re-INVITE on it).
        let initial = method == Method::Invite
            && call
                .and_then(|c| self.calls.get(&c))
                .and_then(|c| c.uac.as_ref())
                .is_some_and(|d| d.branch == branch);
        if let Some(call) = call
            && initial
            && accepted
            && (200..300).contains(&resp.code)
            && self.is_other_fork(call, &resp)
        {
            self.fork_answered(now, call, &resp, cseq.seq);
            return;
        }
        let Some(entry) = self.client.get_mut(&key) else {
            return;
        };
        match entry.tx.on_response(now, resp.code, &t) {
            ClientResponse::Absorbed(Some(ack)) => {
                self.transmits.push_back(Transmit {
                    transport: entry.transport,
                    destination: entry.destination,
                    payload: ack,
                });
                return;
            }
            ClientResponse::Absorbed(None) => return,
            ClientResponse::Deliver => {}
        }
        if initial && resp.code < 200 {
            entry.tx.stop_timeout();
        }
        if let Some(d) = entry.tx.deadline() {
            self.timers.insert((d, TimerTarget::Client(key.clone())));
        }
        if resp.code < 200 {
            if initial && let Some(call) = call {
                self.dialout_provisional(now, call, resp.code);
            }
            return;
        }
        if method == Method::Invite {
            // ACK: same branch for a non-2xx (RFC 3261 §17.1.1.3), a new one for a 2xx (§13.2.2.4;
            // for a call we placed, built once its dialog exists).
            let ack = if resp.code >= 300 {
                self.build_ack_for_failure(&resp, &key, transport)
            } else if initial {
                None
            } else {
                call.and_then(|c| {
                    self.build_in_dialog(c, Method::Ack, None, Some(cseq.seq), None, &[])
                        .map(|(b, _)| b)
                })
            };
            if let Some(ack) = ack {
                if let Some(e) = self.client.get_mut(&key) {
                    e.tx.ack = Some(ack.clone());
                }
                self.transmits.push_back(Transmit {
                    transport,
                    destination,
                    payload: ack,
                });
            }
        }
        let Some(call) = call else {
            return;
        };
        if initial {
            if resp.code >= 300 {
                self.dialout_failed(now, call, &resp);
            } else {
                self.dialout_answered(now, call, &key, &resp, cseq.seq);
            }
            return;
        }
        if method == Method::Invite {
            if let Some(c) = self.calls.get_mut(&call) {
                c.our_invite = None;
            }
            if resp.code < 300 {
                let answer = Sdp::parse(&resp.body).ok();
                self.events
                    .push_back(Event::ReinviteAnswered { call, answer });
                return;
            }
            self.events.push_back(Event::ReinviteFailed {
                call,
                code: resp.code,
            });
        }
        // RFC 3261 §12.2.1.2: 481 or 408 to an in-dialog request ends the dialog.
        if matches!(resp.code, 408 | 481) && method != Method::Bye {
            self.lose_dialog(now, call);
        }
    }

    // ---- internals: calls we place ---------------------------------------------------------

    /// A provisional response to the INVITE of a call we placed.
    fn dialout_provisional(&mut self, now: Timestamp, call: CallHandle, code: u16) {
        let Some(d) = self.calls.get_mut(&call).and_then(|c| c.uac.as_mut()) else {
            return;
        };
        if !d.provisional {
            d.provisional = true;
            if d.cancel == Cancel::No {
                let at = now + d.ring_timeout;
                d.deadline = Some(at);
                self.timers.insert((at, TimerTarget::Call(call)));
            }
        }
        let ring = matches!(code, 180 | 183) && !d.ringing && d.cancel == Cancel::No;
        d.ringing |= ring;
        if d.cancel == Cancel::Wanted {
            // RFC 3261 §9.1: the hang-up came before any provisional response.
            self.send_cancel(now, call);
        } else if ring {
            self.events.push_back(Event::Ringing { call });
        }
    }

    /// A final non-2xx to the INVITE of a call we placed (already ACKed): one retry with
    /// credentials for a 401/407, else the call is over.
    fn dialout_failed(&mut self, now: Timestamp, call: CallHandle, resp: &Response) {
        if self.retry_with_credentials(now, call, resp) {
            return;
        }
        let report = self.calls.get(&call).is_some_and(|c| !c.hung_up());
        self.remove_call(call);
        debug!(call = call.0, code = resp.code, "outgoing call failed");
        if report {
            self.events.push_back(Event::CallFailed {
                call,
                code: resp.code,
            });
        }
    }

    /// RFC 3261 §22.2: answer a 401 (`WWW-Authenticate`) or 407 (`Proxy-Authenticate`)
    /// challenge once: the INVITE again with `Authorization`/`Proxy-Authorization`, the same
    /// Call-ID and From tag, CSeq + 1 and a new branch. False when that is not possible.
    fn retry_with_credentials(
        &mut self,
        now: Timestamp,
        call: CallHandle,
        resp: &Response,
    ) -> bool {
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        let Some(d) = &c.uac else {
            return false;
        };
        let (challenge, header) = match resp.code {
            401 => ("WWW-Authenticate", "Authorization"),
            407 => ("Proxy-Authenticate", "Proxy-Authorization"),
            _ => return false,
        };
        if d.cancel != Cancel::No || d.auth_tried {
            return false;
        }
        let Some((user, password)) = d.credentials.clone() else {
            return false;
        };
        let Some(ch) = resp
            .headers
            .get_all(challenge)
            .find_map(auth::Challenge::parse)
        else {
            debug!(call = call.0, "no digest challenge we can answer");
            return false;
        };
        let uri = c.remote_target.clone();
        let body = c.local_sdp.clone().unwrap_or_default().into_bytes();
        let cnonce = self.random_token();
        let value = auth::authorization(&ch, &user, &password, "INVITE", &uri, &cnonce);
        let extra = [(header, value)];
        let Ok(branch) = self.send_request(
            now,
            call,
            Method::Invite,
            Some(("application/sdp", body)),
            &extra,
        ) else {
            return false;
        };
        let [auth] = extra;
        if let Some(d) = self.calls.get_mut(&call).and_then(|c| c.uac.as_mut()) {
            d.branch = branch;
            d.auth_tried = true;
            d.auth = Some(auth);
            // The new INVITE starts over: no provisional response to it yet.
            d.provisional = false;
            d.deadline = None;
        }
        debug!(
            call = call.0,
            code = resp.code,
            "INVITE sent again with credentials"
        );
        true
    }

    /// A 2xx to the INVITE of a call we placed: the dialog (RFC 3261 §12.1.2), the ACK
    /// (§13.2.2.4), then [`Event::Answered`], or BYE if the call was cancelled meanwhile or
    /// the 2xx has no SDP answer.
    fn dialout_answered(
        &mut self,
        now: Timestamp,
        call: CallHandle,
        key: &str,
        resp: &Response,
        seq: u32,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(d) = c.uac.as_mut() else {
            return;
        };
        d.deadline = None;
        let cancelled = d.cancel != Cancel::No;
        let auth = d.auth.clone();
        // RFC 3261 §12.1.2: remote tag from To, route set from Record-Route reversed, remote
        // target from Contact.
        let to = resp.headers.get("To").unwrap_or("").to_owned();
        let tag = to_tag(&to);
        c.remote_tag = tag.clone();
        c.remote_header = to;
        c.route_set = record_route_reversed(&resp.headers);
        if let Some(target) = contact_uri(&resp.headers) {
            c.remote_target = target;
        }
        c.invite_cseq = seq;
        c.state = CallState::Confirmed;
        c.peer_supports_timer = resp
            .headers
            .values("Supported")
            .any(|t| t.eq_ignore_ascii_case("timer"));
        // RFC 4028 §7.2: a Session-Expires in the 2xx names the refresher (absent: we refresh,
        // which keeps the call alive either way).
        if !cancelled
            && let Some(se) = resp
                .headers
                .get("Session-Expires")
                .and_then(|s| SessionExpires::parse(s).ok())
        {
            let st = SessionTimer::start(now, se.seconds, se.refresher.as_deref() != Some("uas"));
            self.timers.insert((st.due, TimerTarget::Call(call)));
            c.session_timer = Some(st);
        }
        self.dialogs
            .insert((c.call_id.clone(), c.local_tag.clone(), tag), call);
        // RFC 3261 §13.2.2.4: built like an in-dialog request, with the INVITE's CSeq number
        // and credentials; sent again by the transaction on each retransmitted 2xx.
        if let Some((ack, (transport, destination))) =
            self.build_in_dialog(call, Method::Ack, None, Some(seq), None, auth.as_slice())
        {
            if let Some(e) = self.client.get_mut(key) {
                e.tx.ack = Some(ack.clone());
            }
            self.transmits.push_back(Transmit {
                transport,
                destination,
                payload: ack,
            });
        }
        if cancelled {
            // RFC 3261 §15: a 2xx that crossed our CANCEL: end the session at once.
            debug!(call = call.0, "answered after CANCEL: BYE");
            let _ = self.send_in_dialog(now, call, Method::Bye, None);
            self.remove_call(call);
            return;
        }
        match Sdp::parse(&resp.body) {
            Ok(answer) => {
                debug!(call = call.0, "outgoing call answered");
                self.events.push_back(Event::Answered { call, answer });
            }
            Err(e) => {
                debug!(call = call.0, error = %e, "2xx without an SDP answer: BYE");
                let _ = self.send_in_dialog(now, call, Method::Bye, None);
                self.remove_call(call);
                self.events.push_back(Event::CallFailed { call, code: 488 });
            }
        }
    }

    /// True for a 2xx to our INVITE from another fork than the one the call is confirmed
    /// with (another To tag).
    fn is_other_fork(&self, call: CallHandle, resp: &Response) -> bool {
        self.calls.get(&call).is_some_and(|c| {
            c.state == CallState::Confirmed
                && to_tag(resp.headers.get("To").unwrap_or("")) != c.remote_tag
        })
    }

    /// RFC 3261 §13.2.2.4: a 2xx from another fork after the first: ACK it and end that
    /// dialog with BYE; the call keeps the first. A retransmission of it gets the same ACK.
    fn fork_answered(&mut self, now: Timestamp, call: CallHandle, resp: &Response, seq: u32) {
        let to = resp.headers.get("To").unwrap_or("").to_owned();
        let tag = to_tag(&to);
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let Some(d) = &c.uac else {
            return;
        };
        if let Some((_, ack)) = d.fork_acks.iter().find(|(t, _)| *t == tag) {
            self.transmits.push_back(Transmit {
                transport: c.transport,
                destination: c.peer,
                payload: ack.clone(),
            });
            return;
        }
        let auth = d.auth.clone();
        let target = contact_uri(&resp.headers).unwrap_or_else(|| c.remote_target.clone());
        let mut leg = Call::uac(
            c.call_id.clone(),
            c.local_tag.clone(),
            c.local_header.clone(),
            to,
            target,
            c.transport,
            c.peer,
        );
        leg.state = CallState::Confirmed;
        leg.remote_tag = tag.clone();
        leg.route_set = record_route_reversed(&resp.headers);
        leg.local_seq = c.local_seq;
        // A handle the application never sees, for the two requests only.
        let fork = CallHandle(self.next_call);
        self.next_call += 1;
        self.calls.insert(fork, leg);
        if let Some((ack, (transport, destination))) =
            self.build_in_dialog(fork, Method::Ack, None, Some(seq), None, auth.as_slice())
        {
            self.transmits.push_back(Transmit {
                transport,
                destination,
                payload: ack.clone(),
            });
            if let Some(d) = self.calls.get_mut(&call).and_then(|c| c.uac.as_mut()) {
                d.fork_acks.push((tag, ack));
            }
        }
        debug!(call = call.0, "2xx from another fork: ACK and BYE");
        let _ = self.send_in_dialog(now, fork, Method::Bye, None);
        self.calls.remove(&fork);
    }

    /// RFC 3261 §9.1: CANCEL the INVITE of a call we placed: the INVITE's Request-URI, Via
    /// (so its branch), From, To, Call-ID, Route and CSeq number, in a non-INVITE client
    /// transaction of its own. The INVITE is given up 64*T1 later if no final response came.
    fn send_cancel(&mut self, now: Timestamp, call: CallHandle) {
        let t = self.config.timers;
        let Some(d) = self.calls.get_mut(&call).and_then(|c| c.uac.as_mut()) else {
            return;
        };
        d.cancel = Cancel::Sent;
        let give_up = now + t.t1x64();
        d.deadline = Some(give_up);
        let branch = d.branch.clone();
        self.timers.insert((give_up, TimerTarget::Call(call)));
        let Some(e) = self.client.get(&client_key(&branch, "INVITE")) else {
            return;
        };
        let (transport, destination) = (e.transport, e.destination);
        let Ok((Message::Request(inv), _)) = Message::parse(&e.tx.request, Framing::Stream) else {
            return;
        };
        let Some(seq) = inv.headers.get("CSeq").and_then(|c| CSeq::parse(c).ok()) else {
            return;
        };
        let mut h = Headers::default();
        for name in ["Via", "Max-Forwards", "From", "To", "Call-ID"] {
            if let Some(v) = inv.headers.get(name) {
                h.push(name, v.to_owned());
            }
        }
        h.push("CSeq", format!("{} CANCEL", seq.seq));
        for r in inv.headers.get_all("Route") {
            h.push("Route", r.to_owned());
        }
        h.push("User-Agent", self.config.user_agent.clone());
        let bytes = Request {
            method: Method::Cancel,
            uri: inv.uri,
            version: "SIP/2.0".into(),
            headers: h,
            body: Vec::new(),
        }
        .to_bytes();
        let tx = ClientTx::new(false, transport.is_reliable(), bytes.clone(), now, &t);
        let key = client_key(&branch, "CANCEL");
        if let Some(d) = tx.deadline() {
            self.timers.insert((d, TimerTarget::Client(key.clone())));
        }
        // No call: nothing the CANCEL's response or timeout says changes the call.
        self.client.insert(
            key,
            ClientEntry {
                tx,
                call: None,
                method: Method::Cancel,
                transport,
                destination,
            },
        );
        debug!(call = call.0, "CANCEL");
        self.transmits.push_back(Transmit {
            transport,
            destination,
            payload: bytes,
        });
    }

    fn lose_dialog(&mut self, now: Timestamp, call: CallHandle) {
        if self.calls.contains_key(&call) {
            let _ = self.send_in_dialog(now, call, Method::Bye, None);
            self.remove_call(call);
            self.events.push_back(Event::CallEnded {
                call,
                reason: EndReason::DialogLost,
            });
        }
    }

    // ---- internals: timers ---------------------------------------------------------------

    fn server_timer(&mut self, now: Timestamp, key: String) {
        let t = self.config.timers;
        let Some(entry) = self.server.get_mut(&key) else {
            return;
        };
        match entry.tx.on_timer(now, &t) {
            ServerTimer::Retransmit => {
                if let Some(b) = &entry.tx.last_response {
                    self.transmits.push_back(Transmit {
                        transport: entry.transport,
                        destination: entry.destination,
                        payload: b.clone(),
                    });
                }
            }
            ServerTimer::AckTimeout | ServerTimer::Terminated => {
                self.remove_server(&key);
                return;
            }
            ServerTimer::Nothing => {}
        }
        if let Some(entry) = self.server.get(&key)
            && let Some(d) = entry.tx.deadline()
        {
            self.timers.insert((d, TimerTarget::Server(key)));
        }
    }

    fn client_timer(&mut self, now: Timestamp, key: String) {
        let t = self.config.timers;
        let Some(entry) = self.client.get_mut(&key) else {
            return;
        };
        match entry.tx.on_timer(now, &t) {
            ClientTimer::Retransmit => {
                self.transmits.push_back(Transmit {
                    transport: entry.transport,
                    destination: entry.destination,
                    payload: entry.tx.request.clone(),
                });
            }
            ClientTimer::Timeout => {
                let (call, method) = (entry.call, entry.method.clone());
                self.client.remove(&key);
                debug!(%method, "request timed out (Timer B/F)");
                if let Some(call) = call {
                    if method == Method::Invite
                        && let Some(c) = self.calls.get(&call)
                        && c.state == CallState::Outgoing
                    {
                        // Timer B: no response at all to the INVITE of a call we placed.
                        let report = !c.hung_up();
                        self.remove_call(call);
                        if report {
                            self.events.push_back(Event::CallFailed { call, code: 408 });
                        }
                        return;
                    }
                    if method == Method::Invite {
                        if let Some(c) = self.calls.get_mut(&call) {
                            c.our_invite = None;
                        }
                        self.events
                            .push_back(Event::ReinviteFailed { call, code: 408 });
                    }
                    if method != Method::Bye {
                        self.lose_dialog(now, call);
                    }
                }
                return;
            }
            ClientTimer::Terminated => {
                self.client.remove(&key);
                return;
            }
            ClientTimer::Nothing => {}
        }
        if let Some(d) = self.client.get(&key).and_then(|e| e.tx.deadline()) {
            self.timers.insert((d, TimerTarget::Client(key)));
        }
    }

    fn call_timer(&mut self, now: Timestamp, call: CallHandle) {
        let t = self.config.timers;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.state == CallState::Outgoing
            && let Some(d) = &c.uac
            && d.deadline.is_some_and(|at| at <= now)
        {
            if d.cancel == Cancel::Sent {
                // RFC 3261 §9.1: no final response 64*T1 after the CANCEL: give the INVITE up.
                let key = client_key(&d.branch, "INVITE");
                self.client.remove(&key);
                self.remove_call(call);
            } else {
                debug!(call = call.0, "ring timeout: CANCEL");
                self.send_cancel(now, call);
                self.events.push_back(Event::CallFailed { call, code: 408 });
            }
            return;
        }
        // RFC 3261 §13.3.1.4: 2xx retransmission at T1 doubling to T2, give up at 64*T1.
        if c.ok_give_up_at.is_some_and(|g| g <= now) {
            c.ok_give_up_at = None;
            c.ok_retransmit_at = None;
            c.ok_bytes = None;
            c.state = CallState::Confirmed;
            let _ = self.send_in_dialog(now, call, Method::Bye, None);
            self.remove_call(call);
            self.events.push_back(Event::CallEnded {
                call,
                reason: EndReason::NoAck,
            });
            return;
        }
        if c.ok_retransmit_at.is_some_and(|r| r <= now) {
            c.ok_interval = (c.ok_interval * 2).min(t.t2);
            let next = now + c.ok_interval;
            c.ok_retransmit_at = Some(next);
            if let Some(b) = &c.ok_bytes {
                self.transmits.push_back(Transmit {
                    transport: c.transport,
                    destination: c.peer,
                    payload: b.clone(),
                });
            }
            self.timers.insert((next, TimerTarget::Call(call)));
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(st) = &c.session_timer else {
            return;
        };
        if st.due > now {
            return;
        }
        if st.we_refresh && c.state == CallState::Confirmed {
            // RFC 4028 §7.4/§10: refresh with a re-INVITE carrying the unchanged session.
            let interval = Duration::from_secs(u64::from(st.interval));
            let next = now + interval / 2;
            if let Some(st) = &mut c.session_timer {
                st.due = next;
            }
            self.timers.insert((next, TimerTarget::Call(call)));
            if c.our_invite.is_none() && c.pending_invite.is_none() {
                let sdp = c.local_sdp.clone().unwrap_or_default();
                let body = (!sdp.is_empty()).then(|| ("application/sdp", sdp.into_bytes()));
                if let Ok(branch) = self.send_in_dialog(now, call, Method::Invite, body)
                    && let Some(c) = self.calls.get_mut(&call)
                {
                    c.our_invite = Some(branch);
                }
            }
        } else if !st.we_refresh {
            debug!(call = call.0, "session expired without refresh");
            let _ = self.send_in_dialog(now, call, Method::Bye, None);
            self.remove_call(call);
            self.events.push_back(Event::CallEnded {
                call,
                reason: EndReason::SessionExpired,
            });
        }
    }

    // ---- internals: building and sending -------------------------------------------------

    /// Send a response through server transaction `key`; returns its bytes.
    /// The checks an INVITE and a re-INVITE both pass before anything else: a Session-Expires
    /// below our Min-SE is answered 422 (RFC 4028 §8.1/§9), a body that is not SDP 400. Returns
    /// the offer and the Session-Expires, or `None` when the request was answered.
    fn check_invite(
        &mut self,
        now: Timestamp,
        key: &str,
        req: &Request,
    ) -> Option<(Option<Sdp>, Option<SessionExpires>)> {
        let se = req
            .headers
            .get("Session-Expires")
            .and_then(|s| SessionExpires::parse(s).ok());
        if let Some(se) = &se
            && se.seconds < self.config.min_se
        {
            let extra = [("Min-SE", self.config.min_se.to_string())];
            self.respond_in_tx(now, key, 422, None, &extra, Vec::new());
            return None;
        }
        if req.body.is_empty() {
            return Some((None, se));
        }
        match Sdp::parse(&req.body) {
            Ok(sdp) => Some((Some(sdp), se)),
            Err(e) => {
                let reason = format!("Malformed SDP: {e}");
                self.respond_in_tx(now, key, 400, Some(&reason), &[], Vec::new());
                None
            }
        }
    }

    fn respond_in_tx(
        &mut self,
        now: Timestamp,
        key: &str,
        code: u16,
        reason: Option<&str>,
        extra: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> Option<Vec<u8>> {
        let entry = self.server.get(key)?;
        if entry.tx.is_final() {
            return None;
        }
        let to_tag = entry
            .call
            .and_then(|c| self.calls.get(&c))
            .map(|c| c.local_tag.clone())
            .or_else(|| (code > 100).then(|| self.peek_token()));
        let reason = reason.unwrap_or_else(|| reason_phrase(code));
        let bytes = build_response(
            &entry.request,
            code,
            reason,
            to_tag.as_deref(),
            extra,
            body,
            entry.destination,
            &self.config.user_agent,
        );
        let t = self.config.timers;
        let entry = self.server.get_mut(key)?;
        entry.tx.respond(now, code, bytes.clone(), &t);
        self.transmits.push_back(Transmit {
            transport: entry.transport,
            destination: entry.destination,
            payload: bytes.clone(),
        });
        if let Some(d) = entry.tx.deadline() {
            self.timers.insert((d, TimerTarget::Server(key.to_owned())));
        }
        if code >= 200
            && let Some(mk) = entry.merge_key.take()
        {
            // Keep merged-request detection only while the request is pending.
            self.merge_index.remove(&mk);
        }
        Some(bytes)
    }

    fn send_stateless(
        &mut self,
        transport: Transport,
        source: SocketAddr,
        headers: &Headers,
        r: &Refusal,
    ) {
        let dest = headers
            .values("Via")
            .next()
            .and_then(|v| Via::parse(v).ok())
            .map_or(source, |v| response_destination(&v, transport, source));
        let req = Request {
            method: Method::Options,
            uri: String::new(),
            version: "SIP/2.0".into(),
            headers: headers.clone(),
            body: Vec::new(),
        };
        let tag = self.peek_token();
        let bytes = build_response(
            &req,
            r.code,
            &r.reason,
            Some(&tag),
            &r.extra,
            Vec::new(),
            source,
            &self.config.user_agent,
        );
        self.transmits.push_back(Transmit {
            transport,
            destination: dest,
            payload: bytes,
        });
    }

    /// Build and send an in-dialog request through a new client transaction; returns its branch.
    fn send_in_dialog(
        &mut self,
        now: Timestamp,
        call: CallHandle,
        method: Method,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<String, CallError> {
        let c = self.calls.get(&call).ok_or(CallError::UnknownCall)?;
        if matches!(c.state, CallState::Incoming | CallState::Outgoing) {
            return Err(CallError::NotEstablished);
        }
        self.send_request(now, call, method, body, &[])
    }

    /// Send a request of `call` through a new client transaction: CSeq + 1, a new branch,
    /// `extra` headers (credentials) before the body. Returns its branch.
    fn send_request(
        &mut self,
        now: Timestamp,
        call: CallHandle,
        method: Method,
        body: Option<(&str, Vec<u8>)>,
        extra: &[(&'static str, String)],
    ) -> Result<String, CallError> {
        let c = self.calls.get_mut(&call).ok_or(CallError::UnknownCall)?;
        c.local_seq = c.local_seq.wrapping_add(1);
        let branch = format!("{BRANCH_COOKIE}{}", self.random_token());
        let (bytes, (transport, destination)) = self
            .build_in_dialog(call, method.clone(), Some(&branch), None, body, extra)
            .ok_or(CallError::UnknownCall)?;
        let tx = ClientTx::new(
            method == Method::Invite,
            transport.is_reliable(),
            bytes.clone(),
            now,
            &self.config.timers,
        );
        let key = client_key(&branch, method.as_str());
        if let Some(d) = tx.deadline() {
            self.timers.insert((d, TimerTarget::Client(key.clone())));
        }
        self.client.insert(
            key,
            ClientEntry {
                tx,
                call: Some(call),
                method,
                transport,
                destination,
            },
        );
        self.transmits.push_back(Transmit {
            transport,
            destination,
            payload: bytes,
        });
        Ok(branch)
    }

    /// An in-dialog request (RFC 3261 §12.2.1.1), or the initial INVITE of a call we place
    /// (no remote tag, no route set yet). ACK reuses the INVITE's CSeq number. `extra` goes
    /// after User-Agent.
    fn build_in_dialog(
        &mut self,
        call: CallHandle,
        method: Method,
        branch: Option<&str>,
        seq: Option<u32>,
        body: Option<(&str, Vec<u8>)>,
        extra: &[(&'static str, String)],
    ) -> Option<(Vec<u8>, (Transport, SocketAddr))> {
        let branch = match branch {
            Some(b) => b.to_owned(),
            None => format!("{BRANCH_COOKIE}{}", self.random_token()),
        };
        let contact = contact_for(&self.config, self.calls.get(&call)?.transport);
        let c = self.calls.get(&call)?;
        let seq = seq.unwrap_or(c.local_seq);
        let mut h = Headers::default();
        h.push(
            "Via",
            format!(
                "SIP/2.0/{} {}:{};branch={branch};rport",
                c.transport.via_token(),
                self.config.host,
                self.config.port
            ),
        );
        h.push("Max-Forwards", "70");
        h.push("From", c.local_header.clone());
        h.push("To", c.remote_header.clone());
        h.push("Call-ID", c.call_id.clone());
        h.push("CSeq", format!("{seq} {method}"));
        for r in &c.route_set {
            // RFC 3261 §12.2.1.1: the route set, kept in the order to use (§12.1.1: the UAS
            // takes Record-Route in order; §12.1.2: the UAC reversed).
            h.push("Route", r.clone());
        }
        if method == Method::Invite {
            h.push("Contact", contact);
            h.push("Allow", ALLOW);
            h.push("Supported", SUPPORTED);
            if let Some(st) = &c.session_timer {
                let r = if st.we_refresh { "uac" } else { "uas" };
                h.push("Session-Expires", format!("{};refresher={r}", st.interval));
            }
        }
        h.push("User-Agent", self.config.user_agent.clone());
        for (n, v) in extra {
            h.push(*n, v.clone());
        }
        let body = match body {
            Some((ct, b)) => {
                h.push("Content-Type", ct);
                b
            }
            None => Vec::new(),
        };
        let req = Request {
            method,
            uri: c.remote_target.clone(),
            version: "SIP/2.0".into(),
            headers: h,
            body,
        };
        Some((req.to_bytes(), (c.transport, c.peer)))
    }

    fn build_ack_for_failure(
        &self,
        resp: &Response,
        key: &str,
        transport: Transport,
    ) -> Option<Vec<u8>> {
        // RFC 3261 §17.1.1.3: To from the response, the rest from the INVITE.
        let e = self.client.get(key)?;
        let (Message::Request(inv), _) = Message::parse(&e.tx.request, Framing::Stream).ok()?
        else {
            return None;
        };
        let seq = CSeq::parse(inv.headers.get("CSeq")?).ok()?.seq;
        let mut h = Headers::default();
        h.push("Via", inv.headers.get("Via")?.to_owned());
        h.push("Max-Forwards", "70");
        h.push("From", inv.headers.get("From")?.to_owned());
        h.push("To", resp.headers.get("To")?.to_owned());
        h.push("Call-ID", inv.headers.get("Call-ID")?.to_owned());
        h.push("CSeq", format!("{seq} ACK"));
        for r in inv.headers.get_all("Route") {
            h.push("Route", r.to_owned());
        }
        let _ = transport;
        Some(
            Request {
                method: Method::Ack,
                uri: inv.uri,
                version: "SIP/2.0".into(),
                headers: h,
                body: Vec::new(),
            }
            .to_bytes(),
        )
    }

    fn remove_call(&mut self, call: CallHandle) {
        if let Some(c) = self.calls.remove(&call) {
            self.dialogs.remove(&(c.call_id, c.local_tag, c.remote_tag));
        }
    }

    fn remove_server(&mut self, key: &str) {
        if let Some(e) = self.server.remove(key) {
            if let Some(mk) = e.merge_key {
                self.merge_index.remove(&mk);
            }
            // An INVITE that never got a final answer cannot outlive its transaction.
            if let Some(call) = e.call
                && self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.pending_invite.as_deref() == Some(key))
            {
                self.remove_call(call);
            }
        }
    }

    fn next_random(&mut self) -> u64 {
        // splitmix64: deterministic for a given seed, no clock or OS entropy in the core.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn random_token(&mut self) -> String {
        let mut s = String::with_capacity(16);
        let _ = write!(s, "{:016x}", self.next_random());
        s
    }

    /// A tag for stateless responses (never used for a dialog).
    fn peek_token(&self) -> String {
        format!("{:08x}", (self.rng >> 16) as u32)
    }
}

impl Call {
    /// A dialog we are the UAC of (a call we place, or another fork of one): no remote tag,
    /// route set or session timer yet; CSeq 0, so the INVITE is 1.
    fn uac(
        call_id: String,
        local_tag: String,
        local_header: String,
        remote_header: String,
        remote_target: String,
        transport: Transport,
        peer: SocketAddr,
    ) -> Self {
        Self {
            state: CallState::Outgoing,
            call_id,
            local_tag,
            remote_tag: String::new(),
            local_header,
            remote_header,
            remote_target,
            route_set: Vec::new(),
            local_seq: 0,
            remote_seq: None,
            transport,
            peer,
            pending_invite: None,
            our_invite: None,
            local_sdp: None,
            ok_bytes: None,
            ok_retransmit_at: None,
            ok_interval: Duration::ZERO,
            ok_give_up_at: None,
            invite_cseq: 1,
            peer_supports_timer: false,
            session_timer: None,
            requested_se: None,
            uac: None,
        }
    }

    fn remote_target_from(&self, req: &Request) -> Option<String> {
        // RFC 3261 §12.2.2: a target refresh request updates the remote target.
        contact_uri(&req.headers)
    }

    /// A call we placed that the application hung up (or heard fail) while its INVITE is
    /// still being cancelled: gone for the application.
    fn hung_up(&self) -> bool {
        self.state == CallState::Outgoing
            && self.uac.as_ref().is_some_and(|d| d.cancel != Cancel::No)
    }
}

impl SessionTimer {
    /// RFC 4028 §10: the refresher refreshes at half the interval; the other side sends BYE
    /// at expiry minus min(32 s, interval/3).
    fn start(now: Timestamp, seconds: u32, we_refresh: bool) -> Self {
        let interval = Duration::from_secs(u64::from(seconds));
        let due = if we_refresh {
            now + interval / 2
        } else {
            now + (interval - Duration::from_secs(32).min(interval / 3))
        };
        Self {
            interval: seconds,
            we_refresh,
            due,
        }
    }
}

/// The tag of a To value, empty when there is none.
fn to_tag(to: &str) -> String {
    NameAddr::parse(to)
        .ok()
        .and_then(|n| n.tag().map(str::to_owned))
        .unwrap_or_default()
}

/// RFC 3261 §12.1.2: the UAC's route set is the 2xx's Record-Route list reversed.
fn record_route_reversed(headers: &Headers) -> Vec<String> {
    let mut routes: Vec<String> = headers.values("Record-Route").map(str::to_owned).collect();
    routes.reverse();
    routes
}

/// The URI of the first Contact.
fn contact_uri(headers: &Headers) -> Option<String> {
    headers
        .values("Contact")
        .next()
        .and_then(|c| NameAddr::parse(c).ok())
        .map(|n| n.uri.to_string())
}

/// Client transactions are matched by branch and CSeq method (RFC 3261 §17.1.3): a CANCEL
/// shares its INVITE's branch.
fn client_key(branch: &str, method: &str) -> String {
    format!("{branch} {method}")
}

fn contact_for(config: &EndpointConfig, transport: Transport) -> String {
    match transport {
        Transport::Udp => format!("<sip:{}:{}>", config.host, config.port),
        Transport::Tcp => format!("<sip:{}:{};transport=tcp>", config.host, config.port),
        Transport::Tls => format!("<sips:{}:{}>", config.host, config.port),
    }
}

fn has_top_level_comma(v: &str) -> bool {
    crate::message::split_commas(v).count() > 1
}

fn options_headers() -> Vec<(&'static str, String)> {
    vec![
        ("Allow", ALLOW.into()),
        ("Accept", "application/sdp".into()),
        ("Supported", SUPPORTED.into()),
    ]
}

fn dtmf_digit(s: &str) -> Option<char> {
    match s {
        "10" => Some('*'),
        "11" => Some('#'),
        _ => {
            let mut it = s.chars();
            let c = it.next()?;
            (it.next().is_none() && (c.is_ascii_digit() || "*#ABCDabcd".contains(c)))
                .then(|| c.to_ascii_uppercase())
        }
    }
}

/// RFC 3261 §8.2.3 (415 with Accept) and §8.2.2 / RFC 4475 §3.3.15 (406 when the peer
/// accepts nothing we could answer with).
fn check_body(req: &Request) -> Option<Refusal> {
    let accepted: &[&str] = match req.method {
        Method::Invite | Method::Ack => &["application/sdp"],
        Method::Info => &[
            "application/media_control+xml",
            "application/dtmf-relay",
            "application/dtmf",
        ],
        _ => &[],
    };
    if !req.body.is_empty() && !accepted.is_empty() {
        let ct = req
            .headers
            .get("Content-Type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !accepted.contains(&ct.as_str()) {
            return Some(Refusal::new(415).with("Accept", accepted.join(", ")));
        }
        if let Some(enc) = req.headers.get("Content-Encoding")
            && !enc.eq_ignore_ascii_case("identity")
        {
            return Some(Refusal::new(415).with("Accept-Encoding", "identity"));
        }
    }
    if req.method == Method::Invite && req.headers.count("Accept") > 0 {
        let ok = req.headers.values("Accept").any(|a| {
            let t = a
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            matches!(t.as_str(), "application/sdp" | "application/*" | "*/*")
        });
        if !ok {
            return Some(Refusal::new(406).with(
                "Warning",
                "399 pont \"we answer with application/sdp only\"",
            ));
        }
    }
    None
}

/// RFC 3261 §18.2.2 with RFC 3581: reliable → the connection; UDP → the source address, at
/// the source port when the Via asks for rport, else at the sent-by port (default 5060). The
/// host is always the packet's source, never a Via host or maddr (RFC 4475 §3.3.10).
fn response_destination(via: &Via, transport: Transport, source: SocketAddr) -> SocketAddr {
    if transport.is_reliable() || via.params.has("rport") {
        return source;
    }
    SocketAddr::new(source.ip(), via.port.unwrap_or(5060))
}

/// A response to `req` (RFC 3261 §8.2.6.2): Via (top one with received/rport), From, To (with
/// our tag), Call-ID and CSeq copied.
#[allow(clippy::too_many_arguments)]
fn build_response(
    req: &Request,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    extra: &[(&'static str, String)],
    body: Vec<u8>,
    source: SocketAddr,
    server: &str,
) -> Vec<u8> {
    let mut h = Headers::default();
    let mut first = true;
    for line in req.headers.get_all("Via") {
        for v in crate::message::split_commas(line) {
            if first {
                first = false;
                match Via::parse(v) {
                    Ok(mut via) => {
                        // RFC 3261 §18.2.1 received; RFC 3581 §4 rport.
                        via.params.set("received", Some(source.ip().to_string()));
                        if via.params.has("rport") {
                            via.params.set("rport", Some(source.port().to_string()));
                        }
                        h.push("Via", via.to_string());
                    }
                    Err(_) => h.push("Via", v.to_owned()),
                }
            } else {
                h.push("Via", v.to_owned());
            }
        }
    }
    for name in ["From", "Call-ID", "CSeq"] {
        if let Some(v) = req.headers.get(name) {
            h.push(name, v.to_owned());
        }
    }
    if let Some(to) = req.headers.get("To") {
        let has_tag = NameAddr::parse(to).ok().is_some_and(|n| n.tag().is_some());
        match to_tag {
            Some(tag) if !has_tag && code > 100 => h.push("To", format!("{to};tag={tag}")),
            _ => h.push("To", to.to_owned()),
        }
    }
    h.push("Server", server);
    for (n, v) in extra {
        h.push(*n, v.clone());
    }
    Response {
        code,
        reason: reason.to_owned(),
        headers: h,
        body,
    }
    .to_bytes()
}
