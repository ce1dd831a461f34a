//! Arbitrary bytes into every audio decoder (decode and concealment, with FEC from arbitrary
//! "next" packets), into a jitter buffer as a stream of packets with arbitrary sequence
//! numbers, timestamps and arrival times, and into a small mixer. Nothing may panic, every
//! decoder must fill its frame, and the jitter buffer must stay within its capacity.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pont_audio::{
    AudioCodec, Decoder, InboundPacket, JitterBuffer, JitterConfig, LegConfig, MAX_FRAME_SAMPLES,
    Mixer, MixerConfig,
};
use pont_types::{AudioLevel, ParticipantId, Pt, Timestamp};

const CODECS: [AudioCodec; 4] = [
    AudioCodec::Pcmu,
    AudioCodec::Pcma,
    AudioCodec::G722,
    AudioCodec::Opus,
];

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    // 1. Each decoder on chunks of the input (length from the first byte of each chunk).
    for codec in CODECS {
        let mut dec = Decoder::new(codec).unwrap();
        let mut out = [0i16; MAX_FRAME_SAMPLES];
        let mut rest = data;
        while let Some((&len, tail)) = rest.split_first() {
            let n = (len as usize).min(tail.len());
            let (chunk, tail) = tail.split_at(n);
            if len & 1 == 0 {
                let _ = dec.decode(chunk, &mut out);
            } else {
                dec.conceal(Some(chunk).filter(|c| !c.is_empty()), &mut out);
            }
            rest = tail;
        }
    }

    // 2. A jitter buffer and a mixer fed packets: 9-byte headers (seq, ts, arrival delta,
    // flags) then a payload whose length the flags give.
    let codec = CODECS[(data[0] & 3) as usize];
    let mut jb = JitterBuffer::new(JitterConfig::new(codec.frame_rtp_ticks(), codec.frame_bytes()));
    // 8 kHz mixing keeps each run short; the 48 kHz paths are exercised by the unit tests.
    let config = MixerConfig { mix_rate: Some(8000), ..MixerConfig::default() };
    let mut mixer = Mixer::new(config, Timestamp::ZERO).unwrap();
    let pt = Pt(codec.static_pt().unwrap_or(111));
    mixer.add_leg(ParticipantId(1), LegConfig::sip(codec, pt)).unwrap();
    mixer.add_leg(ParticipantId(2), LegConfig::sip(AudioCodec::Pcmu, Pt(0))).unwrap();
    let mut now = 0u64;
    let mut rest = &data[1..];
    while rest.len() >= 9 {
        let seq = u16::from_be_bytes([rest[0], rest[1]]);
        let ts = u32::from_be_bytes([rest[2], rest[3], rest[4], rest[5]]);
        now += u16::from_be_bytes([rest[6], rest[7]]) as u64 * 2;
        let flags = rest[8];
        let len = ((flags & 0x3F) as usize * 8).min(rest.len() - 9);
        let payload = Bytes::copy_from_slice(&rest[9..9 + len]);
        rest = &rest[9 + len..];
        let t = Timestamp::from_micros(now);
        let level = (flags & 0x40 != 0).then(|| AudioLevel::from_neg_dbov(flags));
        jb.handle_packet(t, seq, ts, payload.clone(), level);
        assert!(jb.buffered() <= 50);
        if flags & 0x80 != 0 {
            let _ = jb.pop(t);
        }
        let pkt_pt = if flags & 0x20 != 0 { Pt(flags & 0x7F) } else { pt };
        mixer.handle_packet(t, ParticipantId(1), InboundPacket { pt: pkt_pt, seq, timestamp: ts, payload, level });
        let before = mixer.ticks();
        mixer.handle_timeout(t);
        // The clock never runs more than the catch-up limit in one call.
        assert!(mixer.ticks() - before <= 6);
        while mixer.poll_output().is_some() {}
        while mixer.poll_event().is_some() {}
    }
});
