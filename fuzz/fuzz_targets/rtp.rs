//! RTP header parse, extension lookups, in-place rewrite and RFC 4588 RTX on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pont_media::rtp::{RtpPacket, is_rtcp, rewrite_header, unwrap_rtx, write_rtx};
use pont_types::{Pt, Ssrc};

fuzz_target!(|data: &[u8]| {
    let _ = is_rtcp(data);
    let Ok(packet) = RtpPacket::parse(data) else {
        return;
    };
    assert!(packet.header_len <= data.len());
    let payload = packet.payload();
    for id in 0..=255 {
        if let Some(ext) = packet.extension(id) {
            // An element always lies inside the header.
            let start = ext.as_ptr() as usize - data.as_ptr() as usize;
            assert!(start + ext.len() <= packet.header_len);
        }
        let _ = packet.audio_level(id);
    }

    // Rewrite a copy: the result parses to the new fields with the same payload and marker.
    let mut copy = data.to_vec();
    rewrite_header(&mut copy, Ssrc(0x0102_0304), 0xfffe, 0xdead_beef, Pt(96));
    let rewritten = RtpPacket::parse(&copy).expect("a rewritten packet parses");
    assert_eq!(rewritten.ssrc, Ssrc(0x0102_0304));
    assert_eq!(rewritten.seq, 0xfffe);
    assert_eq!(rewritten.timestamp, 0xdead_beef);
    assert_eq!(rewritten.pt, Pt(96));
    assert_eq!(rewritten.marker, packet.marker);
    assert_eq!(rewritten.payload(), payload);

    // RTX round trip: the OSN and the payload come back, the extensions stay.
    let mut rtx_buf = Vec::new();
    write_rtx(&packet, Ssrc(7), 8, Pt(97), &mut rtx_buf);
    let rtx = RtpPacket::parse(&rtx_buf).expect("an RTX packet parses");
    assert_eq!(unwrap_rtx(&rtx), Some((packet.seq, payload)));
    assert_eq!(rtx.timestamp, packet.timestamp);
    for id in 0..=255 {
        assert_eq!(rtx.extension(id), packet.extension(id));
    }
    let _ = unwrap_rtx(&packet);
});
