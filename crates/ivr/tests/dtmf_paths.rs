//! DTMF by RFC 4733, SIP INFO and in-band, alone and together: each key press counts once.
mod common;

use std::time::Duration;

use common::{Harness, TE_PT, Via, config, tone};
use pont_ivr::{Digit, DtmfConfig, DtmfReceiver, DtmfSource, TelephoneEvent};
use pont_types::{Pt, RoomId, Timestamp};

fn keys(r: &mut DtmfReceiver) -> String {
    let mut s = String::new();
    while let Some(d) = r.poll_digit() {
        s.push(d.digit.as_char());
    }
    s
}

fn ev(code: u8, end: bool, duration: u16) -> [u8; 4] {
    TelephoneEvent {
        event: code,
        end,
        volume: 10,
        duration,
    }
    .to_bytes()
}

#[test]
fn end_packet_three_times_counts_once() {
    let mut r = DtmfReceiver::new(Timestamp::ZERO, DtmfConfig::default());
    r.set_telephone_event_pt(Some(Pt(101)));
    let t = Timestamp::from_millis(100);
    assert!(r.handle_rtp_event(t, Pt(101), 1000, &ev(7, false, 160)));
    for _ in 0..3 {
        assert!(r.handle_rtp_event(t, Pt(101), 1000, &ev(7, true, 800)));
    }
    assert_eq!(keys(&mut r), "7");
    // Only end packets (start lost): still one.
    for _ in 0..3 {
        r.handle_rtp_event(t, Pt(101), 3000, &ev(7, true, 800));
    }
    assert_eq!(keys(&mut r), "7");
}

#[test]
fn payload_type_change_on_reinvite() {
    let mut r = DtmfReceiver::new(Timestamp::ZERO, DtmfConfig::default());
    r.set_telephone_event_pt(Some(Pt(101)));
    let t = Timestamp::from_millis(100);
    r.handle_rtp_event(t, Pt(101), 1000, &ev(1, true, 800));
    r.set_telephone_event_pt(Some(Pt(96)));
    // The old PT is audio now (or nothing): not consumed.
    assert!(!r.handle_rtp_event(t, Pt(101), 2000, &ev(2, true, 800)));
    // The new PT, even with a timestamp that went backwards (new SSRC).
    assert!(r.handle_rtp_event(t, Pt(96), 10, &ev(3, false, 160)));
    assert!(r.handle_rtp_event(t, Pt(96), 10, &ev(3, true, 800)));
    assert_eq!(keys(&mut r), "13");
    r.set_telephone_event_pt(None);
    assert!(!r.handle_rtp_event(t, Pt(96), 2000, &ev(4, true, 800)));
}

#[test]
fn sip_info_forms() {
    let mut r = DtmfReceiver::new(Timestamp::ZERO, DtmfConfig::default());
    let t = Timestamp::from_millis(100);
    r.handle_sip_info(t, "application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n")
        .unwrap();
    r.handle_sip_info(t + Duration::from_secs(1), "application/dtmf", b"#")
        .unwrap();
    assert!(
        r.handle_sip_info(t, "application/dtmf-relay", b"Signal=Z")
            .is_err()
    );
    assert_eq!(keys(&mut r), "5#");
    assert_eq!(r.stats().malformed, 1);
}

#[test]
fn same_key_by_rfc4733_and_inband_counts_once() {
    let mut h = Harness::new(config());
    h.until_quiet();
    // "1123#": doubled keys must stay doubled, while each arrives twice.
    h.key("1123#", Via::Rfc4733AndInband);
    assert_eq!(h.lookups(), [RoomId(1123)]);
    let s = h.call.dtmf_stats();
    assert_eq!(s.accepted, 5);
    assert_eq!(
        s.duplicates, 5,
        "every in-band copy was recognised as a duplicate"
    );
}

#[test]
fn same_key_by_info_and_rfc4733_counts_once() {
    let mut r = DtmfReceiver::new(Timestamp::ZERO, DtmfConfig::default());
    r.set_telephone_event_pt(Some(TE_PT));
    let mut t = Timestamp::from_millis(100);
    let mut ts = 0;
    for c in "5599".chars() {
        let d = Digit::from_char(c).unwrap();
        r.handle_rtp_event(t, TE_PT, ts, &ev(d.event(), false, 160));
        r.handle_rtp_event(
            t + Duration::from_millis(100),
            TE_PT,
            ts,
            &ev(d.event(), true, 800),
        );
        // The INFO comes 150 ms later, at key release.
        r.handle_sip_info(
            t + Duration::from_millis(150),
            "application/dtmf",
            c.to_string().as_bytes(),
        )
        .unwrap();
        t += Duration::from_millis(200);
        ts += 1600;
    }
    assert_eq!(keys(&mut r), "5599");
    assert_eq!(r.stats().duplicates, 4);
}

#[test]
fn inband_only_trunk_joins() {
    let mut h = Harness::new(config());
    h.until_quiet();
    h.call.set_telephone_event_pt(None);
    h.key("1234#", Via::Inband);
    h.until_quiet();
    assert_eq!(h.joined(), Some(RoomId(1234)));
    let s = h.call.dtmf_stats();
    assert_eq!((s.accepted, s.duplicates), (5, 0));
}

#[test]
fn inband_digits_from_the_receiver_carry_their_source() {
    let mut r = DtmfReceiver::new(Timestamp::ZERO, DtmfConfig::default());
    let pcm = tone(
        Digit::from_char('9').unwrap(),
        Duration::from_millis(80),
        -12.0,
        2.0,
    );
    r.handle_pcm(Timestamp::from_millis(80), &pcm);
    r.handle_pcm(Timestamp::from_millis(100), &[0; 320]);
    let d = r.poll_digit().unwrap();
    assert_eq!((d.digit.as_char(), d.source), ('9', DtmfSource::Inband));
    assert!(r.poll_digit().is_none());
}
