//! Calls we place, through the UA core on a simulated clock: INVITE/100/180/200/ACK/BYE over
//! UDP and TCP, Timer A/B, non-2xx ACKs, CANCEL (after a provisional, before one, crossing a
//! 200), 2xx retransmissions, Record-Route, forks, digest authentication and session timers.

use std::net::SocketAddr;
use std::time::Duration;

use md5::{Digest as _, Md5};
use pont_sip::header::{NameAddr, Via};
use pont_sip::message::Headers;
use pont_sip::{
    CallError, CallHandle, EndReason, EndpointConfig, Event, Framing, Message, Method,
    OutgoingCall, Request, Response, SipEndpoint, Transport,
};
use pont_types::Timestamp;

const TARGET: &str = "sip:1234@198.51.100.7:5070";
const OFFER: &str = "v=0\r\no=pont 1 1 IN IP4 192.0.2.100\r\ns=pont\r\nc=IN IP4 192.0.2.100\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
const ANSWER: &str = "v=0\r\no=- 2 2 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
const CONTACT: &str = "<sip:callee@198.51.100.7:5070>";

fn peer() -> SocketAddr {
    "198.51.100.7:5070".parse().unwrap()
}

fn ep() -> SipEndpoint {
    SipEndpoint::new(EndpointConfig {
        host: "192.0.2.100".into(),
        ..EndpointConfig::default()
    })
}

fn ms(n: u64) -> Timestamp {
    Timestamp::from_millis(n)
}

fn outgoing(transport: Transport) -> OutgoingCall {
    let mut out = OutgoingCall::new(TARGET, peer(), transport, "pont", OFFER);
    out.from_display_name = Some("Room \"A\"".into());
    out
}

/// Every request sent since the last call, checking where it goes.
fn sent(ep: &mut SipEndpoint) -> Vec<Request> {
    let mut out = Vec::new();
    while let Some(t) = ep.poll_transmit() {
        assert_eq!(t.destination, peer(), "everything goes to the destination");
        let framing = if t.transport.is_reliable() {
            Framing::Stream
        } else {
            Framing::Datagram
        };
        match Message::parse(&t.payload, framing).unwrap().0 {
            Message::Request(r) => out.push(r),
            Message::Response(r) => panic!("unexpected response {}", r.code),
        }
    }
    out
}

fn methods(reqs: &[Request]) -> Vec<Method> {
    reqs.iter().map(|r| r.method.clone()).collect()
}

fn events(ep: &mut SipEndpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

fn branch(req: &Request) -> String {
    Via::parse(req.headers.get("Via").unwrap())
        .unwrap()
        .branch()
        .unwrap()
        .to_owned()
}

fn tag_of(value: &str) -> Option<String> {
    NameAddr::parse(value).unwrap().tag().map(str::to_owned)
}

/// The peer's response to `req`: Via, From, Call-ID, CSeq copied, To with `to_tag` added.
fn reply(
    req: &Request,
    code: u16,
    to_tag: Option<&str>,
    extra: &[(&str, &str)],
    body: &str,
) -> Vec<u8> {
    let mut headers = Headers::default();
    for n in ["Via", "From", "Call-ID", "CSeq"] {
        headers.push(n, req.headers.get(n).unwrap().to_owned());
    }
    let to = req.headers.get("To").unwrap();
    headers.push(
        "To",
        match to_tag {
            Some(t) if tag_of(to).is_none() => format!("{to};tag={t}"),
            _ => to.to_owned(),
        },
    );
    for (n, v) in extra {
        headers.push(*n, *v);
    }
    if !body.is_empty() {
        headers.push("Content-Type", "application/sdp");
    }
    Response {
        code,
        reason: "Whatever".into(),
        headers,
        body: body.as_bytes().to_vec(),
    }
    .to_bytes()
}

/// A request from the peer in the dialog of `invite` (its To tag `their_tag`).
fn peer_request(invite: &Request, method: &str, cseq: u32, their_tag: &str) -> Vec<u8> {
    let ours = invite.headers.get("From").unwrap();
    format!(
        "{method} sip:pont@192.0.2.100:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bKpeer{cseq};rport\r\n\
Max-Forwards: 70\r\nFrom: <{TARGET}>;tag={their_tag}\r\nTo: {ours}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
Content-Length: 0\r\n\r\n",
        invite.headers.get("Call-ID").unwrap()
    )
    .into_bytes()
}

/// Place a call at 0 ms; returns it and the INVITE.
fn place(ep: &mut SipEndpoint, out: OutgoingCall) -> (CallHandle, Request) {
    let call = ep.call(ms(0), out).unwrap();
    let mut reqs = sent(ep);
    assert_eq!(reqs.len(), 1);
    assert!(events(ep).is_empty());
    (call, reqs.remove(0))
}

fn recv(ep: &mut SipEndpoint, at: u64, transport: Transport, bytes: &[u8]) {
    ep.handle_receive(ms(at), transport, peer(), bytes);
}

/// Place a call over `transport` and answer it (100, 180, 200 with `extra` headers); returns
/// the call, the INVITE and the ACK.
fn answered(
    ep: &mut SipEndpoint,
    transport: Transport,
    extra: &[(&str, &str)],
) -> (CallHandle, Request, Request) {
    let (call, inv) = place(ep, outgoing(transport));
    recv(ep, 10, transport, &reply(&inv, 100, None, &[], ""));
    recv(ep, 20, transport, &reply(&inv, 180, Some("t1"), &[], ""));
    assert!(matches!(events(ep)[..], [Event::Ringing { call: c }] if c == call));
    let mut hdrs = vec![("Contact", CONTACT)];
    hdrs.extend_from_slice(extra);
    recv(
        ep,
        30,
        transport,
        &reply(&inv, 200, Some("t1"), &hdrs, ANSWER),
    );
    let ev = events(ep);
    let [Event::Answered { call: c, answer }] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert_eq!(*c, call);
    assert_eq!(answer.media[0].port, 5004);
    let mut out = sent(ep);
    assert_eq!(methods(&out), [Method::Ack]);
    (call, inv, out.remove(0))
}

/// Run every timer up to `until`; returns what was sent.
fn run_until(ep: &mut SipEndpoint, until: u64) -> Vec<(u64, Request)> {
    let mut out = Vec::new();
    while let Some(t) = ep.poll_timeout() {
        if t > ms(until) {
            break;
        }
        ep.handle_timeout(t);
        for r in sent(ep) {
            out.push((t.as_micros() / 1000, r));
        }
    }
    out
}

#[test]
fn udp_call_invite_ringing_answer_ack_and_our_bye() {
    let mut ep = ep();
    let (call, inv) = place(&mut ep, outgoing(Transport::Udp));
    // RFC 3261 §8.1.1 / §13.2.1: the INVITE.
    assert_eq!(inv.method, Method::Invite);
    assert_eq!(inv.uri, TARGET);
    let h = &inv.headers;
    assert_eq!(h.get("CSeq"), Some("1 INVITE"));
    assert_eq!(h.get("Max-Forwards"), Some("70"));
    assert_eq!(h.get("Content-Type"), Some("application/sdp"));
    assert_eq!(h.get("Contact"), Some("<sip:192.0.2.100:5060>"));
    assert_eq!(
        h.get("Allow"),
        Some("INVITE, ACK, BYE, CANCEL, OPTIONS, INFO")
    );
    assert_eq!(h.get("Supported"), Some("timer"));
    assert!(
        h.get("Via")
            .unwrap()
            .starts_with("SIP/2.0/UDP 192.0.2.100:5060;")
    );
    assert!(branch(&inv).starts_with("z9hG4bK") && branch(&inv).len() > 7);
    let from = NameAddr::parse(h.get("From").unwrap()).unwrap();
    assert_eq!(from.display_name.as_deref(), Some("Room \"A\""));
    assert_eq!(from.uri.to_string(), "sip:pont@192.0.2.100");
    assert!(from.tag().is_some_and(|t| !t.is_empty()));
    assert_eq!(h.get("To"), Some("<sip:1234@198.51.100.7:5070>"));
    assert!(!h.get("Call-ID").unwrap().is_empty());
    assert_eq!(inv.body, OFFER.as_bytes());
    assert!(ep.has_call(call));
    assert_eq!(ep.stats().outgoing_calls, 1);

    // 100: nothing to do; 180: Ringing; 183: no second Ringing.
    recv(
        &mut ep,
        10,
        Transport::Udp,
        &reply(&inv, 100, None, &[], ""),
    );
    assert!(events(&mut ep).is_empty() && sent(&mut ep).is_empty());
    recv(
        &mut ep,
        20,
        Transport::Udp,
        &reply(&inv, 180, Some("t1"), &[], ""),
    );
    assert!(matches!(events(&mut ep)[..], [Event::Ringing { call: c }] if c == call));
    recv(
        &mut ep,
        25,
        Transport::Udp,
        &reply(&inv, 183, Some("t1"), &[], ""),
    );
    assert!(events(&mut ep).is_empty());
    // Ringing for longer than Timer B is fine (Timer B stops at the first provisional).
    assert!(run_until(&mut ep, 40_000).is_empty());
    assert!(events(&mut ep).is_empty() && ep.has_call(call));

    // 200: ACK with the To tag, to the Contact, CSeq 1 ACK, a new branch (§13.2.2.4).
    recv(
        &mut ep,
        41_000,
        Transport::Udp,
        &reply(&inv, 200, Some("t1"), &[("Contact", CONTACT)], ANSWER),
    );
    assert!(matches!(events(&mut ep)[..], [Event::Answered { call: c, .. }] if c == call));
    let out = sent(&mut ep);
    assert_eq!(methods(&out), [Method::Ack]);
    let ack = &out[0];
    assert_eq!(ack.uri, "sip:callee@198.51.100.7:5070", "remote target");
    assert_eq!(
        tag_of(ack.headers.get("To").unwrap()).as_deref(),
        Some("t1")
    );
    assert_eq!(ack.headers.get("CSeq"), Some("1 ACK"));
    assert_eq!(ack.headers.get("Call-ID"), inv.headers.get("Call-ID"));
    assert_eq!(ack.headers.get("From"), inv.headers.get("From"));
    assert_ne!(branch(ack), branch(&inv));

    // Confirmed: keyframe request and ping work; hangup is BYE with CSeq 2, 3, 4.
    ep.request_keyframe(ms(42_000), call).unwrap();
    ep.ping(ms(42_000), call).unwrap();
    ep.hangup(ms(43_000), call).unwrap();
    let out = sent(&mut ep);
    assert_eq!(methods(&out), [Method::Info, Method::Options, Method::Bye]);
    let bye = &out[2];
    assert_eq!(bye.uri, "sip:callee@198.51.100.7:5070");
    assert_eq!(bye.headers.get("CSeq"), Some("4 BYE"));
    assert_eq!(
        tag_of(bye.headers.get("To").unwrap()).as_deref(),
        Some("t1")
    );
    assert_eq!(bye.headers.get("Route"), None, "no Record-Route, no Route");
    assert!(!ep.has_call(call));
    for r in &out {
        recv(
            &mut ep,
            43_100,
            Transport::Udp,
            &reply(r, 200, None, &[], ""),
        );
    }
    assert!(events(&mut ep).is_empty(), "no event after our own hangup");
    run_until(&mut ep, 400_000);
    assert_eq!(ep.stats().calls, 0);
    assert_eq!(ep.stats().client_transactions, 0);
    assert_eq!(ep.poll_timeout(), None);
}

#[test]
fn peer_bye_ends_a_call_we_placed() {
    let mut ep = ep();
    let (call, inv, _) = answered(&mut ep, Transport::Udp, &[]);
    recv(
        &mut ep,
        1000,
        Transport::Udp,
        &peer_request(&inv, "BYE", 7, "t1"),
    );
    let mut codes = Vec::new();
    while let Some(t) = ep.poll_transmit() {
        let Message::Response(r) = Message::parse(&t.payload, Framing::Datagram).unwrap().0 else {
            panic!()
        };
        codes.push(r.code);
    }
    assert_eq!(codes, [200]);
    assert!(matches!(
        events(&mut ep)[..],
        [Event::CallEnded {
            call: c,
            reason: EndReason::RemoteBye,
        }] if c == call
    ));
    assert!(!ep.has_call(call));
    assert_eq!(ep.hangup(ms(1100), call), Err(CallError::UnknownCall));
}

#[test]
fn invite_retransmitted_by_timer_a_then_timer_b_is_408() {
    let mut ep = ep();
    let call = ep.call(ms(0), outgoing(Transport::Udp)).unwrap();
    let first = ep.poll_transmit().unwrap().payload;
    let mut times = Vec::new();
    while let Some(t) = ep.poll_timeout() {
        ep.handle_timeout(t);
        while let Some(tx) = ep.poll_transmit() {
            assert_eq!(tx.payload, first, "the same INVITE again");
            times.push(t.as_micros() / 1000);
        }
        if !events(&mut ep).is_empty() {
            assert_eq!(t, ms(32_000), "Timer B = 64*T1");
            break;
        }
    }
    // RFC 3261 §17.1.1.2: Timer A from T1, doubling.
    assert_eq!(times, [500, 1500, 3500, 7500, 15_500, 31_500]);
    assert!(!ep.has_call(call));
    // The event, checked on a second endpoint (the loop above consumed it).
    let mut ep = self::ep();
    let call = ep.call(ms(0), outgoing(Transport::Udp)).unwrap();
    ep.handle_timeout(ms(31_999));
    assert!(events(&mut ep).is_empty());
    ep.handle_timeout(ms(32_000));
    assert!(matches!(
        events(&mut ep)[..],
        [Event::CallFailed { call: c, code: 408 }] if c == call
    ));
    run_until(&mut ep, 100_000);
    assert_eq!(ep.stats().client_transactions, 0);
    assert_eq!(ep.stats().calls, 0);
}

#[test]
fn busy_is_acked_on_the_invite_branch() {
    let mut ep = ep();
    let (call, inv) = place(&mut ep, outgoing(Transport::Udp));
    recv(
        &mut ep,
        50,
        Transport::Udp,
        &reply(&inv, 486, Some("b1"), &[], ""),
    );
    let out = sent(&mut ep);
    assert_eq!(methods(&out), [Method::Ack]);
    let ack = &out[0];
    // RFC 3261 §17.1.1.3: hop-by-hop, the INVITE's branch and Request-URI, To from the 486.
    assert_eq!(branch(ack), branch(&inv));
    assert_eq!(ack.uri, TARGET);
    assert_eq!(ack.headers.get("CSeq"), Some("1 ACK"));
    assert_eq!(
        tag_of(ack.headers.get("To").unwrap()).as_deref(),
        Some("b1")
    );
    assert!(matches!(
        events(&mut ep)[..],
        [Event::CallFailed { call: c, code: 486 }] if c == call
    ));
    assert!(!ep.has_call(call));
    // A retransmitted 486 gets the ACK again, and no second event.
    recv(
        &mut ep,
        600,
        Transport::Udp,
        &reply(&inv, 486, Some("b1"), &[], ""),
    );
    let again = sent(&mut ep);
    assert_eq!(methods(&again), [Method::Ack]);
    assert_eq!(branch(&again[0]), branch(&inv));
    assert!(events(&mut ep).is_empty());
}

#[test]
fn cancel_after_ringing_then_487_is_acked() {
    let mut ep = ep();
    let (call, inv) = place(&mut ep, outgoing(Transport::Udp));
    recv(
        &mut ep,
        20,
        Transport::Udp,
        &reply(&inv, 180, Some("t1"), &[], ""),
    );
    assert_eq!(events(&mut ep).len(), 1);
    ep.hangup(ms(1000), call).unwrap();
    let out = sent(&mut ep);
    assert_eq!(methods(&out), [Method::Cancel]);
    let cancel = &out[0];
    // RFC 3261 §9.1: same Request-URI, branch, Call-ID, From, To and CSeq number.
    assert_eq!(cancel.uri, inv.uri);
    assert_eq!(branch(cancel), branch(&inv));
    for h in ["Call-ID", "From", "To"] {
        assert_eq!(cancel.headers.get(h), inv.headers.get(h), "{h}");
    }
    assert_eq!(cancel.headers.get("CSeq"), Some("1 CANCEL"));
    assert!(!ep.has_call(call), "gone for the application at once");
    assert_eq!(ep.hangup(ms(1000), call), Err(CallError::UnknownCall));
    assert!(events(&mut ep).is_empty());

    recv(
        &mut ep,
        1050,
        Transport::Udp,
        &reply(cancel, 200, None, &[], ""),
    );
    assert!(sent(&mut ep).is_empty(), "200 to CANCEL: nothing to send");
    recv(
        &mut ep,
        1060,
        Transport::Udp,
        &reply(&inv, 487, Some("t1"), &[], ""),
    );
    let out = sent(&mut ep);
    assert_eq!(methods(&out), [Method::Ack]);
    assert_eq!(branch(&out[0]), branch(&inv));
    assert_eq!(out[0].headers.get("CSeq"), Some("1 ACK"));
    assert!(events(&mut ep).is_empty(), "no event after hangup");
    assert_eq!(ep.stats().calls, 0);
    run_until(&mut ep, 100_000);
    assert_eq!(ep.stats().client_transactions, 0);
}

#[test]
fn hangup_before_any_provisional_cancels_when_one_arrives() {
    let mut ep = ep();
    let (call, inv) = place(&mut ep, outgoing(Transport::Udp));
    ep.hangup(ms(100), call).unwrap();
    assert!(
        sent(&mut ep).is_empty(),
        "RFC 3261 §9.1: no CANCEL before a provisional"
    );
    assert!(!ep.has_call(call));
    // The INVITE is still retransmitted meanwhile (its transaction goes on).
    assert_eq!(
        methods(
            &run_until(&mut ep, 500)
                .into_iter()
                .map(|(_, r)| r)
                .collect::<Vec<_>>()
        ),
        [Method::Invite]
    );
    recv(
        &mut ep,
        700,
        Transport::Udp,
        &reply(&inv, 180, Some("t1"), &[], ""),
    );
    let out = sent(&mut ep);
    assert_eq!(methods(&out), [Method::Cancel]);
    assert_eq!(branch(&out[0]), branch(&inv));
    assert!(events(&mut ep).is_empty(), "no Ringing for a call hung up");
    // No 487 ever: the INVITE is given up 64*T1 after the CANCEL.
    run_until(&mut ep, 700 + 31_000);
    assert_eq!(ep.stats().calls, 1);
    run_until(&mut ep, 700 + 32_000);
    assert_eq!(ep.stats().calls, 0);
    run_until(&mut ep, 200_000);
    assert_eq!(ep.stats().client_transactions, 0);
    assert!(events(&mut ep).is_empty());
}

#[test]
fn hangup_before_any_response_gives_up_at_timer_b() {
    let mut ep = ep();
    let (call, _) = place(&mut ep, outgoing(Transport::Udp));
    ep.hangup(ms(100), call).unwrap();
    let out = run_until(&mut ep, 40_000);
    assert!(
        out.iter().all(|(_, r)| r.method == Method::Invite),
        "never a CANCEL"
    );
    assert_eq!(ep.stats().calls, 0);
    assert!(events(&mut ep).is_empty(), "no 408 after our own hangup");
}

#[test]
fn ok_crossing_our_cancel_is_acked_then_byed() {
    let mut ep = ep();
    let (call, inv) = place(&mut ep, outgoing(Transport::Udp));
    recv(
        &mut ep,
        20,
        Transport::Udp,
        &reply(&inv, 180, Some("t1"), &[], ""),
    );
    let _ = events(&mut ep);
    ep.hangup(ms(1000), call).unwrap();
    assert_eq!(methods(&sent(&mut ep)), [Method::Cancel]);
    recv(
        &mut ep,
        1010,
        Transport::Udp,
        &reply(&inv, 200, Some("t1"), &[("Contact", CONTACT)], ANSWER),
    );
    let out = sent(&mut ep);
    assert_eq!(methods(&out), [Method::Ack, Method::Bye]);
    assert_eq!(out[0].headers.get("CSeq"), Some("1 ACK"));
    assert_eq!(out[1].headers.get("CSeq"), Some("2 BYE"));
    for r in &out {
        assert_eq!(tag_of(r.headers.get("To").unwrap()).as_deref(), Some("t1"));
        assert_eq!(r.uri, "sip:callee@198.51.100.7:5070");
    }
    assert!(events(&mut ep).is_empty());
    assert!(!ep.has_call(call));
    assert_eq!(ep.stats().calls, 0);
}

#[test]
fn retransmitted_ok_gets_the_ack_again() {
    let mut ep = ep();
    let (_call, inv, ack) = answered(&mut ep, Transport::Udp, &[]);
    for at in [530, 1530] {
        recv(
            &mut ep,
            at,
            Transport::Udp,
            &reply(&inv, 200, Some("t1"), &[("Contact", CONTACT)], ANSWER),
        );
        assert_eq!(
            sent(&mut ep),
            std::slice::from_ref(&ack),
            "the same ACK, at {at} ms"
        );
        assert!(events(&mut ep).is_empty(), "no second Answered");
    }
}

#[test]
fn record_route_is_the_reversed_route_set() {
    let mut ep = ep();
    // As the UAS copied it: the proxy nearest to it first.
    let (call, _, ack) = answered(
        &mut ep,
        Transport::Udp,
        &[
            (
                "Record-Route",
                "<sip:p3.example.net;lr>, <sip:p2.example.net;lr>",
            ),
            ("Record-Route", "<sip:p1.example.net;lr>"),
        ],
    );
    let want = [
        "<sip:p1.example.net;lr>",
        "<sip:p2.example.net;lr>",
        "<sip:p3.example.net;lr>",
    ];
    assert_eq!(ack.headers.get_all("Route").collect::<Vec<_>>(), want);
    ep.hangup(ms(2000), call).unwrap();
    let bye = sent(&mut ep).remove(0);
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(bye.headers.get_all("Route").collect::<Vec<_>>(), want);
    assert_eq!(
        bye.uri, "sip:callee@198.51.100.7:5070",
        "loose routing: the target"
    );
}

#[test]
fn tcp_call_without_retransmissions() {
    let mut ep = ep();
    let (call, inv) = place(&mut ep, outgoing(Transport::Tcp));
    assert!(inv.headers.get("Via").unwrap().starts_with("SIP/2.0/TCP "));
    assert_eq!(
        inv.headers.get("Contact"),
        Some("<sip:192.0.2.100:5060;transport=tcp>")
    );
    // RFC 3261 §17.1.1.2: no Timer A over a reliable transport.
    assert!(run_until(&mut ep, 31_000).is_empty());
    recv(
        &mut ep,
        31_000,
        Transport::Tcp,
        &reply(&inv, 180, Some("t1"), &[], ""),
    );
    assert!(matches!(events(&mut ep)[..], [Event::Ringing { .. }]));
    recv(
        &mut ep,
        40_000,
        Transport::Tcp,
        &reply(&inv, 200, Some("t1"), &[("Contact", CONTACT)], ANSWER),
    );
    assert!(matches!(events(&mut ep)[..], [Event::Answered { .. }]));
    let t = ep.poll_transmit().unwrap();
    assert_eq!((t.transport, t.destination), (Transport::Tcp, peer()));
    let Message::Request(ack) = Message::parse(&t.payload, Framing::Stream).unwrap().0 else {
        panic!()
    };
    assert_eq!(ack.method, Method::Ack);
    assert!(ack.headers.get("Via").unwrap().starts_with("SIP/2.0/TCP "));
    // The peer's BYE on the connection ends it.
    let bye = String::from_utf8(peer_request(&inv, "BYE", 3, "t1"))
        .unwrap()
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    recv(&mut ep, 50_000, Transport::Tcp, bye.as_bytes());
    let t = ep.poll_transmit().unwrap();
    assert_eq!(t.transport, Transport::Tcp);
    assert!(t.payload.starts_with(b"SIP/2.0 200"));
    assert!(matches!(
        events(&mut ep)[..],
        [Event::CallEnded {
            reason: EndReason::RemoteBye,
            ..
        }]
    ));
    assert!(!ep.has_call(call));

    // Over TCP Timer B still gives up on a silent peer.
    let (call, _) = place(&mut ep, outgoing(Transport::Tcp));
    ep.handle_timeout(ms(32_000));
    assert!(ep.poll_transmit().is_none());
    assert!(matches!(
        events(&mut ep)[..],
        [Event::CallFailed { call: c, code: 408 }] if c == call
    ));
}

#[test]
fn ok_without_sdp_is_acked_byed_and_fails_with_488() {
    let mut ep = ep();
    let (call, inv) = place(&mut ep, outgoing(Transport::Udp));
    recv(
        &mut ep,
        30,
        Transport::Udp,
        &reply(&inv, 200, Some("t1"), &[("Contact", CONTACT)], ""),
    );
    assert_eq!(methods(&sent(&mut ep)), [Method::Ack, Method::Bye]);
    assert!(matches!(
        events(&mut ep)[..],
        [Event::CallFailed { call: c, code: 488 }] if c == call
    ));
    assert!(!ep.has_call(call));
}

#[test]
fn ring_timeout_cancels_and_reports_408() {
    let mut ep = ep();
    let mut out = outgoing(Transport::Udp);
    out.ring_timeout = Duration::from_secs(10);
    let (call, inv) = place(&mut ep, out);
    recv(
        &mut ep,
        100,
        Transport::Udp,
        &reply(&inv, 180, Some("t1"), &[], ""),
    );
    let _ = events(&mut ep);
    assert!(run_until(&mut ep, 10_099).is_empty());
    let out = run_until(&mut ep, 10_100);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].0, out[0].1.method.clone()),
        (10_100, Method::Cancel)
    );
    assert!(matches!(
        events(&mut ep)[..],
        [Event::CallFailed { call: c, code: 408 }] if c == call
    ));
    assert!(!ep.has_call(call));
    recv(
        &mut ep,
        10_200,
        Transport::Udp,
        &reply(&inv, 487, Some("t1"), &[], ""),
    );
    assert_eq!(methods(&sent(&mut ep)), [Method::Ack]);
    assert!(events(&mut ep).is_empty());
    assert_eq!(ep.stats().calls, 0);
}

#[test]
fn second_fork_answering_is_acked_and_byed() {
    let mut ep = ep();
    let (call, inv, _) = answered(&mut ep, Transport::Udp, &[]);
    let fork = reply(
        &inv,
        200,
        Some("t2"),
        &[("Contact", "<sip:other@198.51.100.7:5070>")],
        ANSWER,
    );
    recv(&mut ep, 100, Transport::Udp, &fork);
    let out = sent(&mut ep);
    assert_eq!(methods(&out), [Method::Ack, Method::Bye]);
    for r in &out {
        assert_eq!(tag_of(r.headers.get("To").unwrap()).as_deref(), Some("t2"));
        assert_eq!(r.uri, "sip:other@198.51.100.7:5070");
    }
    assert_eq!(out[0].headers.get("CSeq"), Some("1 ACK"));
    assert!(events(&mut ep).is_empty());
    assert!(ep.has_call(call), "the first answer keeps the call");
    // Its retransmission gets the same ACK only.
    recv(&mut ep, 600, Transport::Udp, &fork);
    assert_eq!(sent(&mut ep), [out[0].clone()]);
    // The call still hangs up on the first fork.
    ep.hangup(ms(1000), call).unwrap();
    let bye = sent(&mut ep).remove(0);
    assert_eq!(
        tag_of(bye.headers.get("To").unwrap()).as_deref(),
        Some("t1")
    );
    assert_eq!(ep.stats().calls, 0);
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The quoted or bare value of `name` in a Digest credentials header.
fn param(v: &str, name: &str) -> String {
    let start = v.find(&format!("{name}=")).unwrap() + name.len() + 1;
    let rest = &v[start..];
    match rest.strip_prefix('"') {
        Some(q) => q[..q.find('"').unwrap()].to_owned(),
        None => rest.split(',').next().unwrap().trim().to_owned(),
    }
}

#[test]
fn digest_challenge_is_answered_once_with_qop_auth() {
    let mut ep = ep();
    let mut out = outgoing(Transport::Udp);
    out.credentials = Some(("alice".into(), "secret".into()));
    let (call, inv) = place(&mut ep, out);
    recv(
        &mut ep,
        10,
        Transport::Udp,
        &reply(&inv, 100, None, &[], ""),
    );
    recv(
        &mut ep,
        20,
        Transport::Udp,
        &reply(
            &inv,
            407,
            Some("px"),
            &[(
                "Proxy-Authenticate",
                "Digest realm=\"pbx\", nonce=\"n0nce\", opaque=\"op\", qop=\"auth,auth-int\", algorithm=MD5",
            )],
            "",
        ),
    );
    let out = sent(&mut ep);
    assert_eq!(methods(&out), [Method::Ack, Method::Invite]);
    assert_eq!(branch(&out[0]), branch(&inv), "the 407 is ACKed hop by hop");
    let inv2 = &out[1];
    assert_ne!(branch(inv2), branch(&inv));
    assert_eq!(inv2.headers.get("CSeq"), Some("2 INVITE"));
    for h in ["Call-ID", "From", "To"] {
        assert_eq!(inv2.headers.get(h), inv.headers.get(h), "{h}");
    }
    assert_eq!(inv2.body, OFFER.as_bytes());
    let creds = inv2.headers.get("Proxy-Authorization").unwrap().to_owned();
    assert!(creds.starts_with("Digest "), "{creds}");
    assert_eq!(param(&creds, "username"), "alice");
    assert_eq!(param(&creds, "realm"), "pbx");
    assert_eq!(param(&creds, "nonce"), "n0nce");
    assert_eq!(param(&creds, "uri"), TARGET);
    assert_eq!(param(&creds, "opaque"), "op");
    assert_eq!(param(&creds, "qop"), "auth");
    assert_eq!(param(&creds, "nc"), "00000001");
    let cnonce = param(&creds, "cnonce");
    let ha1 = md5_hex("alice:pbx:secret");
    let ha2 = md5_hex(&format!("INVITE:{TARGET}"));
    let want = md5_hex(&format!("{ha1}:n0nce:00000001:{cnonce}:auth:{ha2}"));
    assert_eq!(param(&creds, "response"), want);
    assert!(events(&mut ep).is_empty(), "no event for the challenge");
    assert!(ep.has_call(call));

    // A CANCEL now waits for a provisional to the new INVITE; answered instead: the ACK
    // carries CSeq 2 and the same credentials (RFC 3261 §13.2.2.4).
    recv(
        &mut ep,
        40,
        Transport::Udp,
        &reply(inv2, 200, Some("t1"), &[("Contact", CONTACT)], ANSWER),
    );
    assert!(matches!(events(&mut ep)[..], [Event::Answered { .. }]));
    let ack = sent(&mut ep).remove(0);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.headers.get("CSeq"), Some("2 ACK"));
    assert_eq!(ack.headers.get("Proxy-Authorization"), Some(creds.as_str()));
    ep.hangup(ms(1000), call).unwrap();
    assert_eq!(sent(&mut ep)[0].headers.get("CSeq"), Some("3 BYE"));
}

#[test]
fn digest_challenge_twice_or_without_credentials_fails() {
    let challenge = [(
        "WWW-Authenticate",
        "Digest realm=\"asterisk\", nonce=\"abc\"",
    )];
    let mut ep = ep();
    let mut out = outgoing(Transport::Udp);
    out.credentials = Some(("1000".into(), "pw".into()));
    let (call, inv) = place(&mut ep, out);
    recv(
        &mut ep,
        10,
        Transport::Udp,
        &reply(&inv, 401, Some("a"), &challenge, ""),
    );
    let out = sent(&mut ep);
    assert_eq!(methods(&out), [Method::Ack, Method::Invite]);
    let creds = out[1].headers.get("Authorization").unwrap();
    // No qop: RFC 2069 form, MD5(HA1:nonce:HA2).
    let want = md5_hex(&format!(
        "{}:abc:{}",
        md5_hex("1000:asterisk:pw"),
        md5_hex(&format!("INVITE:{TARGET}"))
    ));
    assert_eq!(param(creds, "response"), want);
    assert!(!creds.contains("qop"), "{creds}");
    recv(
        &mut ep,
        20,
        Transport::Udp,
        &reply(&out[1], 401, Some("b"), &challenge, ""),
    );
    assert_eq!(methods(&sent(&mut ep)), [Method::Ack], "no second retry");
    assert!(matches!(
        events(&mut ep)[..],
        [Event::CallFailed { call: c, code: 401 }] if c == call
    ));

    let (call, inv) = place(&mut ep, outgoing(Transport::Udp));
    recv(
        &mut ep,
        30,
        Transport::Udp,
        &reply(&inv, 401, Some("a"), &challenge, ""),
    );
    assert_eq!(methods(&sent(&mut ep)), [Method::Ack]);
    assert!(matches!(
        events(&mut ep)[..],
        [Event::CallFailed { call: c, code: 401 }] if c == call
    ));
}

#[test]
fn session_expires_in_the_ok_is_honoured() {
    let mut ep = ep();
    let (call, _, _) = answered(
        &mut ep,
        Transport::Udp,
        &[
            ("Session-Expires", "120;refresher=uac"),
            ("Require", "timer"),
        ],
    );
    // RFC 4028 §7.2/§10: we are the refresher: re-INVITE at half the interval.
    assert!(run_until(&mut ep, 30 + 59_999).is_empty());
    let out = run_until(&mut ep, 30 + 60_000);
    assert_eq!(out.len(), 1);
    let reinv = &out[0].1;
    assert_eq!(reinv.method, Method::Invite);
    assert_eq!(
        reinv.headers.get("Session-Expires"),
        Some("120;refresher=uac")
    );
    assert_eq!(reinv.headers.get("CSeq"), Some("2 INVITE"));
    assert_eq!(reinv.body, OFFER.as_bytes());
    assert!(ep.has_call(call));
}

#[test]
fn bad_targets_and_offers_are_refused() {
    let mut ep = ep();
    let mut out = outgoing(Transport::Udp);
    out.target = "tel:+15551234".into();
    assert!(matches!(ep.call(ms(0), out), Err(CallError::BadUri(_))));
    let mut out = outgoing(Transport::Udp);
    out.from_user = "a b".into();
    assert!(matches!(ep.call(ms(0), out), Err(CallError::BadUri(_))));
    let mut out = outgoing(Transport::Udp);
    out.sdp_offer = "not sdp".into();
    assert!(matches!(ep.call(ms(0), out), Err(CallError::BadOffer(_))));
    assert!(ep.poll_transmit().is_none());
    assert_eq!(ep.stats().calls, 0);
}
