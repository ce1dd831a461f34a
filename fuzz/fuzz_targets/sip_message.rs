//! SIP message parsing and the whole UAS core on arbitrary datagrams.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pont_sip::header::{CSeq, NameAddr, Uri, Via};
use pont_sip::{EndpointConfig, Framing, Message, SipEndpoint, Transport};
use pont_types::Timestamp;

fuzz_target!(|data: &[u8]| {
    if let Ok((m, used)) = Message::parse(data, Framing::Datagram) {
        assert!(used <= data.len());
        // What we serialise must parse back to the same message.
        let bytes = m.to_bytes();
        let (again, _) = Message::parse(&bytes, Framing::Datagram).expect("re-parse");
        // Serialisation always writes one Content-Length, from the body.
        let count = |m: &Message| {
            m.headers().0.iter().filter(|h| !h.name.eq_ignore_ascii_case("Content-Length")).count()
        };
        assert_eq!(count(&m), count(&again));
        for h in &m.headers().0 {
            let _ = Via::parse(&h.value);
            let _ = NameAddr::parse(&h.value);
            let _ = CSeq::parse(&h.value);
            let _ = Uri::parse(&h.value);
        }
    }
    // The endpoint must answer or drop, never panic, and leave no call behind.
    let mut ep = SipEndpoint::new(EndpointConfig::default());
    let src = "192.0.2.1:5060".parse().unwrap();
    ep.handle_receive(Timestamp::ZERO, Transport::Udp, src, data);
    while ep.poll_transmit().is_some() {}
    while let Some(e) = ep.poll_event() {
        if let pont_sip::Event::IncomingCall(c) = e {
            ep.reject(Timestamp::ZERO, c.call, 404).unwrap();
        }
    }
    while let Some(t) = ep.poll_timeout() {
        ep.handle_timeout(t);
        while ep.poll_transmit().is_some() {}
    }
    assert_eq!(ep.stats().calls, 0);
});
