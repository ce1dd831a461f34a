//! RFC 6184 depacketizer on arbitrary packet sequences, and the packetizer round trip.
//!
//! Input: records of `[seq step][timestamp step][flags][len]` + `len` payload bytes. Each
//! complete access unit must be well-formed Annex-B (NAL units of types 1–23, forbidden bit
//! clear; a keyframe holds an IDR, an SPS and a PPS), and a keyframe must survive
//! packetize → depacketize unchanged at a small MTU (so FU-A and STAP-A are both exercised).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pont_video::h264::{NAL_IDR, NAL_PPS, NAL_SPS, annexb_nal_units, nal_type};
use pont_video::{Depacketizer, DepacketizerOutput, Packetizer};

fuzz_target!(|data: &[u8]| {
    let mut d = Depacketizer::new();
    let (mut seq, mut ts) = (0xfff0u16, 0xffff_ff00u32);
    let mut rest = data;
    while let [seq_step, ts_step, flags, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        // Mostly in order, sometimes a gap or a step back.
        seq = seq.wrapping_add(u16::from(*seq_step % 4)).wrapping_sub(u16::from(*seq_step >> 7));
        ts = ts.wrapping_add(u32::from(*ts_step % 3) * 3000);
        d.push(seq, ts, flags & 1 != 0, payload);
        while let Some(o) = d.poll_output() {
            if let DepacketizerOutput::Frame(au) = o {
                check(&au);
            }
        }
    }
});

fn check(au: &pont_video::AccessUnit) {
    assert!(au.data.starts_with(&[0, 0, 0, 1]));
    let nals: Vec<&[u8]> = annexb_nal_units(&au.data).collect();
    assert!(!nals.is_empty());
    for n in &nals {
        assert_eq!(n[0] & 0x80, 0, "forbidden bit");
        assert!((1..=23).contains(&nal_type(n[0])));
    }
    if au.keyframe {
        for t in [NAL_IDR, NAL_SPS, NAL_PPS] {
            assert!(nals.iter().any(|n| nal_type(n[0]) == t), "keyframe lacks type {t}");
        }
    }
    // The depacketizer lets only well-formed NAL units through (no start-code emulation, no
    // trailing zero), so Annex-B splitting is unambiguous and a keyframe round-trips.
    if !au.keyframe {
        return;
    }
    let mut packets = Vec::new();
    Packetizer::new(64, 7).packetize(au.rtp_timestamp, nals.iter().copied(), &mut packets);
    assert!(packets.iter().all(|p| p.payload.len() <= 64));
    assert_eq!(packets.iter().filter(|p| p.marker).count(), 1);
    let mut again = Depacketizer::new();
    for p in &packets {
        again.push(p.seq, p.timestamp, p.marker, &p.payload);
    }
    let Some(DepacketizerOutput::Frame(back)) = again.poll_output() else {
        panic!("a packetized keyframe comes back as a frame");
    };
    let back_nals: Vec<&[u8]> = annexb_nal_units(&back.data).collect();
    assert_eq!(back_nals, nals);
    assert!(back.keyframe);
}
