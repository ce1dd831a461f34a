//! The SIP UAS core alone, no network: one call per iteration, INVITE → 100 Trying → 200 OK →
//! ACK → BYE → 200 OK, on a simulated clock, with every transaction and dialog created and
//! torn down (timers run to completion every 256 calls, so state does not pile up). The
//! baseline parses the same five messages, the least any SIP stack must do per call.
//!
//! Run: `cargo bench -p pont-benches --bench sip_uas`

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pont_sip::{EndpointConfig, Event, Framing, Message, SipEndpoint, Transport};
use pont_types::Timestamp;

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n";
const ANSWER: &str = "v=0\r\no=pont 1 1 IN IP4 192.0.2.100\r\ns=pont\r\nc=IN IP4 192.0.2.100\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

fn request(method: &str, n: u64, cseq: u32, to_tag: Option<&str>, body: &str) -> Vec<u8> {
    let to = match to_tag {
        Some(t) => format!("<sip:4711@192.0.2.100>;tag={t}"),
        None => "<sip:4711@192.0.2.100>".into(),
    };
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:4711@192.0.2.100 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK{method}{n};rport\r\n\
Max-Forwards: 70\r\nFrom: \"Caller\" <sip:caller@198.51.100.7>;tag=from{n}\r\nTo: {to}\r\nCall-ID: call{n}@198.51.100.7\r\n\
CSeq: {cseq} {method}\r\nContact: <sip:caller@198.51.100.7:5062>\r\nUser-Agent: bench\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

struct Uas {
    ep: SipEndpoint,
    now: Timestamp,
    n: u64,
    peer: SocketAddr,
}

impl Uas {
    fn call(&mut self) -> usize {
        let n = self.n;
        self.n += 1;
        let mut sent = 0;
        self.ep.handle_receive(
            self.now,
            Transport::Udp,
            self.peer,
            &request("INVITE", n, 1, None, SDP),
        );
        while self.ep.poll_transmit().is_some() {
            sent += 1;
        }
        let Some(Event::IncomingCall(inc)) = self.ep.poll_event() else {
            panic!("no incoming call")
        };
        self.ep.answer(self.now, inc.call, ANSWER).unwrap();
        let ok = self.ep.poll_transmit().unwrap();
        sent += 1;
        // Our To tag, as the peer would read it from the 200.
        let text = String::from_utf8_lossy(&ok.payload);
        let to_line = &text[text.find("\r\nTo:").unwrap() + 2..];
        let to_line = &to_line[..to_line.find("\r\n").unwrap()];
        let tag = to_line
            .split("tag=")
            .nth(1)
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        self.ep.handle_receive(
            self.now,
            Transport::Udp,
            self.peer,
            &request("ACK", n, 1, Some(&tag), ""),
        );
        while self.ep.poll_event().is_some() {}
        self.ep.handle_receive(
            self.now,
            Transport::Udp,
            self.peer,
            &request("BYE", n, 2, Some(&tag), ""),
        );
        while self.ep.poll_transmit().is_some() {
            sent += 1;
        }
        while self.ep.poll_event().is_some() {}
        self.now += Duration::from_millis(1);
        if n % 256 == 255 {
            // Let Timers J and L expire so that finished transactions are dropped.
            self.now += Duration::from_secs(40);
            self.ep.handle_timeout(self.now);
            while self.ep.poll_transmit().is_some() {}
        }
        sent
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sip_uas");
    g.throughput(Throughput::Elements(1));
    let peer: SocketAddr = "198.51.100.7:5062".parse().unwrap();

    let msgs = [
        request("INVITE", 1, 1, None, SDP),
        request("ACK", 1, 1, Some("t"), ""),
        request("BYE", 1, 2, Some("t"), ""),
    ];
    let mut uas = Uas {
        ep: SipEndpoint::new(EndpointConfig::default()),
        now: Timestamp::ZERO,
        n: 0,
        peer,
    };
    // The responses the core sends, captured once, for the baseline.
    uas.ep
        .handle_receive(uas.now, Transport::Udp, peer, &msgs[0]);
    let trying = uas.ep.poll_transmit().unwrap().payload;
    let Some(Event::IncomingCall(inc)) = uas.ep.poll_event() else {
        panic!()
    };
    uas.ep.answer(uas.now, inc.call, ANSWER).unwrap();
    let ok = uas.ep.poll_transmit().unwrap().payload;
    let five = [
        msgs[0].clone(),
        trying,
        ok,
        msgs[1].clone(),
        msgs[2].clone(),
    ];

    g.bench_function("baseline: parse the 5 messages of a call", |b| {
        b.iter(|| {
            for m in &five {
                black_box(Message::parse(black_box(m), Framing::Datagram).unwrap());
            }
        })
    });
    let mut uas = Uas {
        ep: SipEndpoint::new(EndpointConfig::default()),
        now: Timestamp::ZERO,
        n: 0,
        peer,
    };
    g.bench_function("UAS call: INVITE, 100, 200, ACK, BYE, 200", |b| {
        b.iter(|| black_box(uas.call()))
    });
    g.finish();
    assert!(uas.ep.stats().calls == 0, "every call ended");
}

criterion_group!(benches, bench);
criterion_main!(benches);
