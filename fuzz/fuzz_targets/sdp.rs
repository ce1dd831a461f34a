//! SDP parsing, serialisation round trip and the offer/answer on arbitrary bodies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pont_sip::sdp::{Codec, LocalMedia, Sdp, answer};

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = Sdp::parse(data) else {
        return;
    };
    let _ = offer.is_hold();
    let text = offer.to_string();
    let again = Sdp::parse(text.as_bytes()).expect("our own SDP parses");
    assert_eq!(again.media.len(), offer.media.len());
    let local = LocalMedia {
        address: "192.0.2.10".parse().unwrap(),
        audio_port: 40000,
        video_port: Some(40002),
        codecs: vec![
            Codec::Opus,
            Codec::G722,
            Codec::Pcmu,
            Codec::Pcma,
            Codec::H264 { packetization_mode: 1, max_level_idc: 31 },
        ],
        telephone_event: true,
        session_id: 1,
        session_version: 1,
    };
    if let Ok(a) = answer(&offer, &local) {
        // RFC 3264 §6: one answer stream per offered stream, in order.
        assert_eq!(a.sdp.media.len(), offer.media.len());
        Sdp::parse(a.sdp.to_string().as_bytes()).expect("our answer parses");
    }
});
