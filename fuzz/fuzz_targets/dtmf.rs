//! DTMF parsers and the IVR on arbitrary bytes: RFC 4733 payloads, SIP INFO bodies, the bytes
//! as PCM through the Goertzel detector, and the bytes as a sequence of operations on an
//! `IvrCall` (inputs, answers, time jumps), which must never panic and must stay bounded.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pont_ivr::{
    Digit, InbandDetector, IvrCall, IvrConfig, IvrEvent, PinCheck, RoomInfo, TelephoneEvent,
    parse_dtmf, parse_dtmf_relay, parse_info,
};
use pont_types::{Pt, Timestamp};

fuzz_target!(|data: &[u8]| {
    // RFC 4733: what parses writes back to the same event (the R bit is not kept).
    if let Some(ev) = TelephoneEvent::parse(data) {
        assert_eq!(TelephoneEvent::parse(&ev.to_bytes()), Some(ev));
        assert!(ev.volume <= 63);
    }
    // SIP INFO, both content types: a parsed digit is a real key.
    for r in [
        parse_info("application/dtmf-relay", data),
        parse_info("application/dtmf", data),
        parse_dtmf_relay(data),
        parse_dtmf(data),
    ] {
        if let Ok(d) = r {
            assert_eq!(Digit::from_char(d.digit.as_char()), Some(d.digit));
        }
    }
    // PCM: little-endian 16-bit samples, in uneven frames.
    let pcm: Vec<i16> = data
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let mut det = InbandDetector::new();
    let mut n = 0;
    for frame in pcm.chunks(97) {
        det.process(frame, |d| {
            assert!(d.event() <= 15);
            n += 1;
        });
    }
    // At most one digit per two 102-sample blocks.
    assert!(n <= pcm.len() / 204 + 1);

    // The whole call, driven by the bytes.
    let mut now = Timestamp::from_millis(1);
    let mut call = IvrCall::new(now, IvrConfig::default());
    call.set_telephone_event_pt(Some(Pt(101)));
    let mut events = 0usize;
    let mut ops = data.chunks(6);
    while let Some(op) = ops.next() {
        let arg = op.get(1..).unwrap_or(&[]);
        now += Duration::from_millis(u64::from(op[0] & 0x0f) * 37);
        match op[0] >> 4 {
            0..=3 => {
                let ts = u32::from(op.get(1).copied().unwrap_or(0)) * 400;
                let _ = call.handle_rtp_event(now, Pt(101), ts, op.get(2..).unwrap_or(&[]));
            }
            4 => {
                let _ = call.handle_sip_info(now, "application/dtmf-relay", arg);
            }
            5 => {
                let _ = call.handle_sip_info(now, "application/dtmf", arg);
            }
            6 => {
                let samples: Vec<i16> = arg.iter().map(|&b| i16::from(b as i8) * 200).collect();
                call.handle_pcm(now, &samples);
            }
            7 => call.room_info(
                now,
                (arg.first().copied().unwrap_or(0) & 1 == 1).then_some(RoomInfo {
                    has_pin: arg.get(1).copied().unwrap_or(0) & 1 == 1,
                    recording: arg.get(2).copied().unwrap_or(0) & 1 == 1,
                }),
            ),
            8 => call.pin_result(
                now,
                match arg.first().copied().unwrap_or(0) % 3 {
                    0 => PinCheck::Correct,
                    1 => PinCheck::Wrong,
                    _ => PinCheck::Blocked,
                },
            ),
            9 => call.set_telephone_event_pt(arg.first().map(|&b| Pt(b & 0x7f))),
            10 => {
                if let Some(t) = call.poll_timeout() {
                    now = now.max(t);
                }
                call.handle_timeout(now);
            }
            _ => {
                while call.poll_frame(now).is_some() {}
            }
        }
        while let Some(ev) = call.poll_event() {
            events += 1;
            if let IvrEvent::VerifyPin { pin, .. } = &ev {
                assert!(pin.0.len() <= 12 && pin.0.bytes().all(|b| b.is_ascii_digit()));
            }
        }
        if let Some(t) = call.poll_timeout() {
            // Never a timer further out than the IVR's own cap.
            assert!(t <= now + Duration::from_secs(181));
        }
    }
    assert!(events <= data.len() * 4 + 4);
});
