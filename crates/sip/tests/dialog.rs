//! Whole calls through the UAS core on a simulated clock: INVITE/ACK/re-INVITE/BYE, CANCEL,
//! 2xx retransmission until ACK, our BYE, INFO events and session timers.

use std::net::SocketAddr;
use std::time::Duration;

use pont_sip::{
    CallHandle, EndReason, EndpointConfig, Event, Framing, Message, Response, SipEndpoint,
    Transport,
};
use pont_types::Timestamp;

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
const HOLD: &str = "v=0\r\no=- 1 2 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\na=sendonly\r\n";
const ANSWER: &str = "v=0\r\no=pont 1 1 IN IP4 192.0.2.100\r\ns=pont\r\nc=IN IP4 192.0.2.100\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

fn peer() -> SocketAddr {
    "198.51.100.7:5062".parse().unwrap()
}

fn ep() -> SipEndpoint {
    SipEndpoint::new(EndpointConfig {
        host: "192.0.2.100".into(),
        ..EndpointConfig::default()
    })
}

fn request(
    method: &str,
    branch: &str,
    cseq: u32,
    to_tag: Option<&str>,
    extra: &str,
    body: &str,
) -> Vec<u8> {
    let to = match to_tag {
        Some(t) => format!("<sip:4711@192.0.2.100>;tag={t}"),
        None => "<sip:4711@192.0.2.100>".into(),
    };
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".into()
    };
    format!(
        "{method} sip:4711*1234@192.0.2.100 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5062;branch={branch};rport\r\n\
Max-Forwards: 70\r\nFrom: \"Room A\" <sip:rooma@198.51.100.7>;tag=abc\r\nTo: {to}\r\nCall-ID: call-1@198.51.100.7\r\n\
CSeq: {cseq} {method}\r\nContact: <sip:rooma@198.51.100.7:5062>\r\n{extra}{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn sent(ep: &mut SipEndpoint) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(t) = ep.poll_transmit() {
        assert_eq!(t.destination, peer(), "rport: back to the source port");
        out.push(Message::parse(&t.payload, Framing::Datagram).unwrap().0);
    }
    out
}

fn codes(msgs: &[Message]) -> Vec<u16> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Response(r) => Some(r.code),
            Message::Request(_) => None,
        })
        .collect()
}

fn events(ep: &mut SipEndpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

fn ms(n: u64) -> Timestamp {
    Timestamp::from_millis(n)
}

/// INVITE in, answered; returns the call and our To tag.
fn answered_call(ep: &mut SipEndpoint, extra: &str) -> (CallHandle, String) {
    ep.handle_receive(
        ms(0),
        Transport::Udp,
        peer(),
        &request("INVITE", "z9hG4bKinv1", 1, None, extra, SDP),
    );
    assert_eq!(codes(&sent(ep)), [100]);
    let ev = events(ep);
    let Some(Event::IncomingCall(inc)) = ev.first() else {
        panic!("{ev:?}")
    };
    assert_eq!(inc.user.as_ref().unwrap().0, "4711*1234");
    assert_eq!(inc.from_display_name.as_ref().unwrap().0, "Room A");
    assert_eq!(inc.offer.as_ref().unwrap().media.len(), 1);
    let call = inc.call;
    ep.answer(ms(10), call, ANSWER).unwrap();
    let out = sent(ep);
    let Message::Response(ok) = &out[0] else {
        panic!()
    };
    assert_eq!(ok.code, 200);
    assert!(ok.headers.get("Via").unwrap().contains("rport=5062"));
    assert!(
        ok.headers
            .get("Via")
            .unwrap()
            .contains("received=198.51.100.7")
    );
    assert_eq!(ok.body, ANSWER.as_bytes());
    let to = ok.headers.get("To").unwrap();
    let tag = to.split("tag=").nth(1).unwrap().to_owned();
    (call, tag)
}

#[test]
fn invite_ack_reinvite_bye() {
    let mut ep = ep();
    let (call, tag) = answered_call(&mut ep, "");
    // A retransmitted INVITE is answered from the transaction.
    ep.handle_receive(
        ms(20),
        Transport::Udp,
        peer(),
        &request("INVITE", "z9hG4bKinv1", 1, None, "", SDP),
    );
    assert_eq!(codes(&sent(&mut ep)), [200]);
    ep.handle_receive(
        ms(30),
        Transport::Udp,
        peer(),
        &request("ACK", "z9hG4bKack1", 1, Some(&tag), "", ""),
    );
    assert!(matches!(
        events(&mut ep)[..],
        [Event::CallEstablished { .. }]
    ));

    // Hold: re-INVITE with sendonly.
    ep.handle_receive(
        ms(1000),
        Transport::Udp,
        peer(),
        &request("INVITE", "z9hG4bKre1", 2, Some(&tag), "", HOLD),
    );
    assert_eq!(codes(&sent(&mut ep)), [100]);
    let ev = events(&mut ep);
    assert!(
        matches!(ev[..], [Event::Reoffer { hold: true, .. }]),
        "{ev:?}"
    );
    ep.answer(ms(1010), call, ANSWER).unwrap();
    assert_eq!(codes(&sent(&mut ep)), [200]);
    ep.handle_receive(
        ms(1020),
        Transport::Udp,
        peer(),
        &request("ACK", "z9hG4bKack2", 2, Some(&tag), "", ""),
    );

    // INFO picture_fast_update and DTMF.
    let mut info = String::from_utf8(request("INFO", "z9hG4bKi1", 3, Some(&tag), "", "")).unwrap();
    info = info.replace("Content-Length: 0\r\n\r\n", "Content-Type: application/media_control+xml\r\nContent-Length: 88\r\n\r\n<media_control><vc_primitive><to_encoder><picture_fast_update/></to_encoder></vc_primitive>");
    let body_len = info.split("\r\n\r\n").nth(1).unwrap().len();
    info = info.replace("Content-Length: 88", &format!("Content-Length: {body_len}"));
    ep.handle_receive(ms(1100), Transport::Udp, peer(), info.as_bytes());
    assert_eq!(codes(&sent(&mut ep)), [200]);
    assert!(matches!(
        events(&mut ep)[..],
        [Event::PictureFastUpdate { .. }]
    ));
    let dtmf = String::from_utf8(request("INFO", "z9hG4bKi2", 4, Some(&tag), "", ""))
        .unwrap()
        .replace("Content-Length: 0\r\n\r\n", "Content-Type: application/dtmf-relay\r\nContent-Length: 26\r\n\r\nSignal=5\r\nDuration=160\r\n\r\n");
    ep.handle_receive(ms(1200), Transport::Udp, peer(), dtmf.as_bytes());
    assert_eq!(codes(&sent(&mut ep)), [200]);
    assert!(matches!(
        events(&mut ep)[..],
        [Event::Dtmf {
            digit: '5',
            duration_ms: Some(160),
            ..
        }]
    ));

    // Our re-INVITE (resume), answered by the peer: we ACK.
    ep.reinvite(ms(2000), call, ANSWER).unwrap();
    let out = sent(&mut ep);
    let Message::Request(reinv) = &out[0] else {
        panic!()
    };
    assert_eq!(
        reinv.uri, "sip:rooma@198.51.100.7:5062",
        "remote target from Contact"
    );
    let resp = respond_to(reinv, 200, SDP);
    ep.handle_receive(ms(2050), Transport::Udp, peer(), &resp);
    let out = sent(&mut ep);
    assert!(matches!(&out[..], [Message::Request(r)] if r.method == pont_sip::Method::Ack));
    assert!(matches!(
        events(&mut ep)[..],
        [Event::ReinviteAnswered {
            answer: Some(_),
            ..
        }]
    ));

    // Out-of-order CSeq is 500; BYE ends the call.
    ep.handle_receive(
        ms(3000),
        Transport::Udp,
        peer(),
        &request("INFO", "z9hG4bKold", 2, Some(&tag), "", ""),
    );
    assert_eq!(codes(&sent(&mut ep)), [500]);
    ep.handle_receive(
        ms(3100),
        Transport::Udp,
        peer(),
        &request("BYE", "z9hG4bKbye", 10, Some(&tag), "", ""),
    );
    assert_eq!(codes(&sent(&mut ep)), [200]);
    assert!(matches!(
        events(&mut ep)[..],
        [Event::CallEnded {
            reason: EndReason::RemoteBye,
            ..
        }]
    ));
    assert!(!ep.has_call(call));
    // Everything is cleaned up once the timers have run.
    ep.handle_timeout(ms(200_000));
    let _ = sent(&mut ep);
    assert_eq!(ep.stats().server_transactions, 0);
    assert_eq!(ep.stats().client_transactions, 0);
    assert_eq!(ep.poll_timeout(), None);
}

/// A response from the peer to a request we sent.
fn respond_to(req: &pont_sip::Request, code: u16, body: &str) -> Vec<u8> {
    let mut headers = pont_sip::message::Headers::default();
    for n in ["Via", "From", "To", "Call-ID", "CSeq"] {
        headers.push(n, req.headers.get(n).unwrap().to_owned());
    }
    if !body.is_empty() {
        headers.push("Content-Type", "application/sdp");
    }
    Response {
        code,
        reason: "OK".into(),
        headers,
        body: body.as_bytes().to_vec(),
    }
    .to_bytes()
}

#[test]
fn ok_is_retransmitted_until_ack() {
    let mut ep = ep();
    let (_call, tag) = answered_call(&mut ep, "");
    let mut times = Vec::new();
    while let Some(t) = ep.poll_timeout() {
        if t > ms(5000) {
            break;
        }
        ep.handle_timeout(t);
        if codes(&sent(&mut ep)) == [200] {
            times.push(t.as_micros() / 1000);
        }
    }
    // T1, doubling: 10 + 500, +1000, +2000.
    assert_eq!(times, [510, 1510, 3510]);
    ep.handle_receive(
        ms(5000),
        Transport::Udp,
        peer(),
        &request("ACK", "z9hG4bKack", 1, Some(&tag), "", ""),
    );
    assert!(matches!(
        events(&mut ep)[..],
        [Event::CallEstablished { .. }]
    ));
    ep.handle_timeout(ms(20_000));
    assert!(sent(&mut ep).is_empty(), "no retransmission after the ACK");
}

#[test]
fn no_ack_ends_the_call_with_bye() {
    let mut ep = ep();
    let (call, _) = answered_call(&mut ep, "");
    ep.handle_timeout(ms(10 + 32_000));
    let out = sent(&mut ep);
    assert!(
        out.iter()
            .any(|m| matches!(m, Message::Request(r) if r.method == pont_sip::Method::Bye))
    );
    assert!(matches!(
        events(&mut ep)[..],
        [Event::CallEnded {
            reason: EndReason::NoAck,
            ..
        }]
    ));
    assert!(!ep.has_call(call));
}

#[test]
fn cancel_before_answer() {
    let mut ep = ep();
    ep.handle_receive(
        ms(0),
        Transport::Udp,
        peer(),
        &request("INVITE", "z9hG4bKinv", 1, None, "", SDP),
    );
    let _ = sent(&mut ep);
    let Some(Event::IncomingCall(inc)) = ep.poll_event() else {
        panic!()
    };
    let cancel = String::from_utf8(request("CANCEL", "z9hG4bKinv", 1, None, "", "")).unwrap();
    ep.handle_receive(ms(100), Transport::Udp, peer(), cancel.as_bytes());
    let mut got = codes(&sent(&mut ep));
    got.sort();
    assert_eq!(got, [200, 487]);
    assert!(matches!(
        events(&mut ep)[..],
        [Event::CallEnded {
            reason: EndReason::Cancelled,
            ..
        }]
    ));
    assert!(ep.answer(ms(200), inc.call, ANSWER).is_err());
    // The 487 is retransmitted (Timer G) until the ACK for it arrives.
    ep.handle_timeout(ms(600));
    assert_eq!(codes(&sent(&mut ep)), [487]);
    ep.handle_receive(
        ms(700),
        Transport::Udp,
        peer(),
        &request("ACK", "z9hG4bKinv", 1, Some("x"), "", ""),
    );
    ep.handle_timeout(ms(2000));
    assert!(sent(&mut ep).is_empty());
    // A CANCEL for nothing is 481.
    ep.handle_receive(
        ms(800),
        Transport::Udp,
        peer(),
        &request("CANCEL", "z9hG4bKnone", 1, None, "", ""),
    );
    assert_eq!(codes(&sent(&mut ep)), [481]);
}

#[test]
fn reject_and_timer_h() {
    let mut ep = ep();
    ep.handle_receive(
        ms(0),
        Transport::Udp,
        peer(),
        &request("INVITE", "z9hG4bKinv", 1, None, "", SDP),
    );
    let _ = sent(&mut ep);
    let Some(Event::IncomingCall(inc)) = ep.poll_event() else {
        panic!()
    };
    ep.reject(ms(0), inc.call, 486).unwrap();
    assert_eq!(codes(&sent(&mut ep)), [486]);
    // No ACK: retransmitted until Timer H (64*T1), then the transaction is gone.
    let mut n = 0;
    while let Some(t) = ep.poll_timeout() {
        ep.handle_timeout(t);
        n += sent(&mut ep).len();
    }
    assert!(n >= 6, "{n} retransmissions");
    assert_eq!(ep.stats().server_transactions, 0);
}

#[test]
fn overloaded_invite_gets_503_with_retry_after() {
    let mut ep = ep();
    ep.handle_receive(
        ms(0),
        Transport::Udp,
        peer(),
        &request("INVITE", "z9hG4bKbusy", 1, None, "", SDP),
    );
    let _ = sent(&mut ep);
    let Some(Event::IncomingCall(inc)) = ep.poll_event() else {
        panic!()
    };
    ep.reject_overloaded(ms(0), inc.call, Duration::from_millis(2500))
        .unwrap();
    let out = sent(&mut ep);
    assert_eq!(codes(&out), [503]);
    let Message::Response(r) = &out[0] else {
        panic!()
    };
    // RFC 3261 §20.33: whole seconds.
    assert_eq!(r.headers.get("Retry-After"), Some("2"));
    assert!(!ep.has_call(inc.call));
}

#[test]
fn session_timer_422_and_expiry() {
    let mut ep = ep();
    ep.handle_receive(
        ms(0),
        Transport::Udp,
        peer(),
        &request(
            "INVITE",
            "z9hG4bKst",
            1,
            None,
            "Session-Expires: 30\r\nSupported: timer\r\n",
            SDP,
        ),
    );
    let out = sent(&mut ep);
    assert_eq!(codes(&out), [100, 422]);
    let Message::Response(r) = &out[1] else {
        panic!()
    };
    assert_eq!(r.headers.get("Min-SE"), Some("90"));
    let _ = events(&mut ep);

    let (call, tag) = answered_call(
        &mut ep,
        "Session-Expires: 120;refresher=uac\r\nSupported: timer\r\n",
    );
    ep.handle_receive(
        ms(50),
        Transport::Udp,
        peer(),
        &request("ACK", "z9hG4bKa", 1, Some(&tag), "", ""),
    );
    let _ = events(&mut ep);
    // The peer never refreshes: BYE at 120 - min(32, 40) = 88 s after the answer.
    ep.handle_timeout(ms(10 + 87_000));
    assert!(ep.has_call(call));
    ep.handle_timeout(ms(10 + 88_000));
    let out = sent(&mut ep);
    assert!(
        out.iter()
            .any(|m| matches!(m, Message::Request(r) if r.method == pont_sip::Method::Bye))
    );
    assert!(matches!(
        events(&mut ep)[..],
        [Event::CallEnded {
            reason: EndReason::SessionExpired,
            ..
        }]
    ));
}

#[test]
fn our_bye_and_timer_f_over_udp() {
    let mut ep = ep();
    let (call, tag) = answered_call(&mut ep, "");
    ep.handle_receive(
        ms(50),
        Transport::Udp,
        peer(),
        &request("ACK", "z9hG4bKa", 1, Some(&tag), "", ""),
    );
    let _ = events(&mut ep);
    ep.hangup(ms(1000), call).unwrap();
    let out = sent(&mut ep);
    assert!(matches!(&out[..], [Message::Request(r)] if r.method == pont_sip::Method::Bye));
    // Nobody answers: Timer E retransmits, Timer F ends the transaction after 64*T1.
    ep.handle_timeout(ms(1000) + Duration::from_secs(31));
    assert!(!sent(&mut ep).is_empty());
    ep.handle_timeout(ms(1000) + Duration::from_secs(32));
    let _ = sent(&mut ep);
    assert_eq!(ep.stats().client_transactions, 0);
    assert!(events(&mut ep).is_empty());
}

#[test]
fn tcp_call_has_no_retransmissions() {
    let mut ep = ep();
    ep.handle_receive(
        ms(0),
        Transport::Tcp,
        peer(),
        &request("INVITE", "z9hG4bKtcp", 1, None, "", SDP),
    );
    let Some(t) = ep.poll_transmit() else {
        panic!()
    };
    assert_eq!((t.transport, t.destination), (Transport::Tcp, peer()));
    let Some(Event::IncomingCall(inc)) = ep.poll_event() else {
        panic!()
    };
    ep.answer(ms(0), inc.call, ANSWER).unwrap();
    let ok = ep.poll_transmit().unwrap();
    assert!(String::from_utf8_lossy(&ok.payload).contains(";transport=tcp>"));
    ep.handle_timeout(ms(10_000));
    assert!(ep.poll_transmit().is_none());
}
