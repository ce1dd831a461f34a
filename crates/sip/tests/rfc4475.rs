//! RFC 4475 (SIP torture messages) and RFC 5118 (IPv6 torture messages) against the UAS core.
//!
//! Each message is one UDP datagram from 192.0.2.1:5060 to a fresh endpoint; the outcome must
//! match the expected behaviour in the data set's INDEX.tsv (`expected_behaviour` column),
//! mapped below for an endpoint. Afterwards an OPTIONS must still get 200.
//! The data lives outside the repository, in `../shared/conformance/sip` relative to the
//! workspace root; without it the test says SKIPPED and passes.

use std::net::SocketAddr;
use std::path::PathBuf;

use pont_sip::{EndpointConfig, Event, Framing, Message, SipEndpoint, Transport};
use pont_types::Timestamp;

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// One response with one of these codes.
    Code(&'static [u16]),
    /// Nothing sent, no event.
    Drop,
    /// Processed normally: an INVITE becomes an IncomingCall (after 100 Trying).
    Call,
}

use Expect::{Call, Code, Drop};

/// INDEX.tsv `expected_behaviour`, read as an endpoint (not proxy, not registrar).
const RFC4475: &[(&str, Expect, &str)] = &[
    // wsinv carries a To tag but we have no dialog: RFC 3261 §12.2.2 says 481, and it is
    // parsed normally (never 400).
    (
        "wsinv",
        Code(&[481]),
        "process normally; To-tag of an unknown dialog",
    ),
    ("intmeth", Code(&[501]), "unknown method"),
    ("esc01", Call, "process normally"),
    ("escnull", Code(&[405]), "REGISTER at a non-registrar"),
    ("esc02", Code(&[501]), "RE%47IST%45R is not REGISTER"),
    ("lwsdisp", Code(&[200]), "OPTIONS"),
    ("longreq", Call, "process normally"),
    ("dblreq", Code(&[405]), "the REGISTER only"),
    ("semiuri", Code(&[200]), "OPTIONS"),
    ("transports", Code(&[200]), "OPTIONS"),
    ("mpart01", Code(&[405, 415]), "MESSAGE not supported"),
    ("unreason", Drop, "response without transaction"),
    ("noreason", Drop, "response without transaction"),
    ("badinv01", Code(&[400]), ""),
    ("clerr", Code(&[400]), ""),
    ("ncl", Code(&[400]), ""),
    ("scalar02", Code(&[400]), ""),
    ("scalarlg", Drop, ""),
    ("quotbal", Code(&[400]), ""),
    ("ltgtruri", Code(&[400]), ""),
    ("lwsruri", Code(&[400]), ""),
    ("lwsstart", Code(&[400]), "strict: 400 acceptable"),
    ("trws", Code(&[400]), "strict: 400 acceptable"),
    ("escruri", Code(&[400]), "400 acceptable"),
    ("baddate", Call, "Date is ignored"),
    ("regbadct", Code(&[400]), ""),
    ("badaspec", Code(&[400]), ""),
    ("baddn", Code(&[400]), ""),
    ("badvers", Code(&[505]), ""),
    ("mismatch01", Code(&[400]), ""),
    ("mismatch02", Code(&[501]), ""),
    ("bigcode", Drop, ""),
    ("badbranch", Code(&[200]), "RFC 2543 matching fallback"),
    ("insuf", Code(&[400]), ""),
    ("unkscm", Code(&[416]), ""),
    ("novelsc", Code(&[416]), ""),
    ("unksm2", Code(&[405]), "non-registrar"),
    ("bext01", Code(&[420]), ""),
    ("invut", Code(&[415]), ""),
    ("regaut01", Code(&[405]), "non-registrar"),
    ("multi01", Code(&[400]), ""),
    ("mcl01", Code(&[400]), ""),
    ("bcast", Drop, ""),
    ("zeromf", Code(&[200]), "endpoint processes Max-Forwards 0"),
    ("cparam01", Code(&[405]), "non-registrar"),
    ("cparam02", Code(&[405]), "non-registrar"),
    ("regescrt", Code(&[405]), "non-registrar"),
    ("sdp01", Code(&[406]), ""),
    ("inv2543", Call, "RFC 2543 syntax accepted"),
];

const RFC5118: &[(&str, Expect, &str)] = &[
    ("ipv6-good", Code(&[405]), "REGISTER at a non-registrar"),
    ("ipv6-bad", Code(&[400]), ""),
    ("port-ambiguous", Code(&[405]), "parses"),
    ("port-unambiguous", Code(&[405]), "parses"),
    (
        "via-received-param-with-delim",
        Code(&[481]),
        "BYE for an unknown dialog",
    ),
    ("via-received-param-no-delim", Code(&[200]), "OPTIONS"),
    ("ipv6-in-sdp", Call, "IPv6 SDP"),
    (
        "mult-ip-in-header",
        Code(&[481]),
        "BYE for an unknown dialog",
    ),
    ("mult-ip-in-sdp", Call, "IPv4 + IPv6 SDP"),
    ("ipv4-mapped-ipv6", Call, ""),
    ("ipv6-bug-abnf-3-colons", Code(&[200]), "tolerated"),
    ("ipv6-correct-abnf-2-colons", Code(&[200]), ""),
];

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/sip")
}

fn source() -> SocketAddr {
    "192.0.2.1:5060".parse().unwrap()
}

fn endpoint() -> SipEndpoint {
    SipEndpoint::new(EndpointConfig {
        host: "192.0.2.100".into(),
        ..EndpointConfig::default()
    })
}

/// Names listed in an INDEX.tsv (comment and header lines skipped).
fn index_names(dir: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("name\t") && !l.trim().is_empty())
        .map(|l| l.split('\t').next().unwrap().to_owned())
        .collect()
}

/// Feed `bytes`, return (status codes sent, IncomingCall seen).
fn feed(ep: &mut SipEndpoint, bytes: &[u8]) -> (Vec<u16>, bool) {
    ep.handle_receive(Timestamp::ZERO, Transport::Udp, source(), bytes);
    let mut codes = Vec::new();
    while let Some(t) = ep.poll_transmit() {
        assert_eq!(
            t.destination.ip(),
            source().ip(),
            "responses go to the source"
        );
        let (m, _) =
            Message::parse(&t.payload, Framing::Datagram).expect("we send parseable messages");
        let Message::Response(r) = m else {
            panic!("a request was sent")
        };
        codes.push(r.code);
    }
    let mut call = false;
    while let Some(e) = ep.poll_event() {
        if let Event::IncomingCall(c) = e {
            call = true;
            ep.reject(Timestamp::ZERO, c.call, 404).unwrap();
            while ep.poll_transmit().is_some() {}
        }
    }
    (codes, call)
}

fn check(ep: &mut SipEndpoint, name: &str, bytes: &[u8], expect: Expect) -> Result<(), String> {
    let (codes, call) = feed(ep, bytes);
    let ok = match expect {
        Code(allowed) => !call && codes.len() == 1 && allowed.contains(&codes[0]),
        Drop => !call && codes.is_empty(),
        Call => call && codes == [100],
    };
    if ok {
        println!(
            "ok   {name:32} {codes:?}{}",
            if call { " + IncomingCall" } else { "" }
        );
        Ok(())
    } else {
        Err(format!(
            "{name}: expected {expect:?}, got {codes:?} call={call}"
        ))
    }
}

fn options_still_answered(ep: &mut SipEndpoint) {
    let options = b"OPTIONS sip:100@192.0.2.100 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKafter\r\n\
Max-Forwards: 70\r\nFrom: <sip:probe@192.0.2.1>;tag=p1\r\nTo: <sip:100@192.0.2.100>\r\nCall-ID: after-torture\r\n\
CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(feed(ep, options).0, [200], "OPTIONS after the torture set");
}

/// Recompute Content-Length for the RFC 5118 copies whose value is wrong (see its INDEX.tsv).
fn fix_content_length(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let Some(split) = text.find("\r\n\r\n") else {
        return bytes.to_vec();
    };
    let (head, body) = (&text[..split], &text[split + 4..]);
    let head: Vec<String> = head
        .split("\r\n")
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {}", body.len())
            } else {
                l.to_owned()
            }
        })
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n")).into_bytes()
}

fn run(set: &str, table: &[(&str, Expect, &str)], fix_cl: bool) {
    let dir = data_dir().join(set);
    if !dir.join("INDEX.tsv").exists() {
        println!("SKIPPED: conformance data not found at {}", dir.display());
        return;
    }
    let names = index_names(&dir);
    let mut failures = Vec::new();
    let mut ran = 0;
    // One endpoint for the whole set, so that state left by one message could be seen by the
    // next and by the final OPTIONS.
    let mut ep = endpoint();
    for name in &names {
        if name == "test" {
            // The README: an unreferenced archive member, not part of pass/fail.
            continue;
        }
        let Some((_, expect, _)) = table.iter().find(|(n, _, _)| n == name) else {
            failures.push(format!(
                "{name}: listed in INDEX.tsv but has no expectation here"
            ));
            continue;
        };
        let file = if name == "baddn" {
            dir.join("baddn.crlf-variant.txt")
        } else {
            dir.join(format!("{name}.dat"))
        };
        let mut bytes = std::fs::read(&file).unwrap();
        if fix_cl {
            bytes = fix_content_length(&bytes);
        }
        ran += 1;
        if let Err(e) = check(&mut ep, name, &bytes, *expect) {
            failures.push(e);
        }
    }
    options_still_answered(&mut ep);
    println!("{set}: {ran} messages, {} failed", failures.len());
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(ran, table.len(), "every expectation was exercised");
}

#[test]
fn rfc4475_torture_messages() {
    run("rfc4475", RFC4475, false);
}

#[test]
fn rfc5118_ipv6_torture_messages() {
    run("rfc5118", RFC5118, true);
}

#[test]
fn bad_input_never_panics() {
    let mut ep = endpoint();
    let mut vias = String::from("OPTIONS sip:a@b SIP/2.0\r\n");
    for i in 0..10_000 {
        vias.push_str(&format!(
            "Via: SIP/2.0/UDP h{i}.example.com;branch=z9hG4bK{i}\r\n"
        ));
    }
    vias.push_str(
        "From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: many\r\nCSeq: 1 OPTIONS\r\n\r\n",
    );
    assert_eq!(feed(&mut ep, vias.as_bytes()).0, [200]);
    for junk in [
        &b""[..],
        b"\0\0\0\0",
        b"\r\n\r\n",
        b"INVITE",
        b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP x\r\n\0\0\r\n\r\n",
        b"SIP/2.0 200 OK\r\n\r\n",
    ] {
        let _ = feed(&mut ep, junk);
    }
    options_still_answered(&mut ep);
    assert_eq!(ep.stats().calls, 0);
}
