//! pont's sans-IO SIP core: message parsing and serialisation, the TCP stream framer, the four
//! RFC 3261 §17 transactions, dialogs for incoming calls (INVITE, ACK, BYE, CANCEL, re-INVITE,
//! OPTIONS, INFO) and for calls we place (INVITE with digest authentication, ACK, CANCEL),
//! session timers (RFC 4028), rport (RFC 3581) and SDP offer/answer (RFC 4566, RFC 3264).
//!
//! What it owns: every SIP protocol rule between bytes in and bytes out. What it must never do:
//! open a socket, resolve a name, read a clock, spawn a task or decide anything about rooms.
//! The server owns the UDP/TCP sockets and hands every datagram (or every message cut by a
//! [`StreamFramer`] from a TCP connection) to [`SipEndpoint`] with the peer's address and
//! transport; time is a [`Timestamp`](pont_types::Timestamp) parameter, so Timer B expiring
//! after 32 s is a microsecond unit test. An incoming INVITE is an [`Event::IncomingCall`]
//! with the Request-URI user (room number, `room*pin`, `dialin`), the caller's display name
//! and the parsed SDP offer; the application answers with SDP or a status code. A call the
//! bridge places is [`SipEndpoint::call`] with an [`OutgoingCall`] (offer from
//! [`sdp::offer`]), then [`Event::Ringing`] and [`Event::Answered`] (read the answer with
//! [`sdp::process_answer`]) or [`Event::CallFailed`].
//!
//! [`SipEndpoint`]'s methods come in four families, as in quinn-proto's `Connection`:
//!
//! - getters (`&self`): [`SipEndpoint::stats`], [`SipEndpoint::has_call`], …;
//! - input: [`SipEndpoint::handle_receive`] (network) and [`SipEndpoint::handle_timeout`];
//! - commands: [`SipEndpoint::call`], [`SipEndpoint::answer`], [`SipEndpoint::reject`],
//!   [`SipEndpoint::hangup`], [`SipEndpoint::reinvite`], [`SipEndpoint::request_keyframe`],
//!   [`SipEndpoint::ping`];
//! - output, polled after every input or command in this order: [`SipEndpoint::poll_transmit`]
//!   until `None` (send each [`Transmit`] on its transport to its destination; over TCP the
//!   destination is the connection's peer), [`SipEndpoint::poll_event`] until `None` (and run
//!   the commands they call for, then poll again), then [`SipEndpoint::poll_timeout`]: call
//!   [`SipEndpoint::handle_timeout`] at that time or at the next input, whichever comes first.
//!
//! Network input never panics: malformed requests are answered (400 with a reason, 505, 501,
//! 416, 420, 415, …) or dropped, per the RFC 4475 verdicts (`tests/rfc4475.rs`).
//!
//! Parsing is our own, not `rsip`: see this crate's README for the evaluation.
#![forbid(unsafe_code)]

mod auth;
mod endpoint;
pub mod framer;
pub mod header;
pub mod message;
pub mod peek;
pub mod sdp;
mod transaction;

pub use endpoint::{
    CallError, CallHandle, EndReason, EndpointConfig, EndpointStats, Event, IncomingCall,
    OutgoingCall, SipEndpoint, Transmit, Transport,
};
pub use framer::{Frame, FramingError, StreamFramer};
pub use message::{Framing, Message, Method, ParseError, Request, Response};
pub use transaction::Timers;
