//! RFC 6184 packetizer → depacketizer: STAP-A, FU-A, loss, recovery on the next IDR.

mod common;

use common::*;
use pont_video::h264::{FU_A, NAL_IDR, NAL_PPS, NAL_SPS, STAP_A, annexb_nal_units, nal_type};
use pont_video::{AccessUnit, Depacketizer, DepacketizerOutput, Packetizer, RtpPayload};

fn run(d: &mut Depacketizer, packets: &[RtpPayload]) -> Vec<DepacketizerOutput> {
    let mut out = Vec::new();
    for p in packets {
        d.push(p.seq, p.timestamp, p.marker, &p.payload);
        while let Some(o) = d.poll_output() {
            out.push(o);
        }
    }
    out
}

fn frames(outputs: &[DepacketizerOutput]) -> Vec<&AccessUnit> {
    outputs
        .iter()
        .filter_map(|o| match o {
            DepacketizerOutput::Frame(au) => Some(au),
            DepacketizerOutput::NeedKeyframe => None,
        })
        .collect()
}

fn nal(typ: u8, len: usize, fill: u8) -> Vec<u8> {
    let mut v = vec![0x60 | typ];
    v.extend((0..len - 1).map(|i| fill.wrapping_add(i as u8)));
    v
}

#[test]
fn sps_pps_go_in_one_stap_a_and_a_large_idr_in_fu_a() {
    let sps = nal(NAL_SPS, 12, 1);
    let pps = nal(NAL_PPS, 4, 2);
    let idr = nal(NAL_IDR, 5000, 3);
    let mut pk = Packetizer::new(1200, 65534);
    let mut out = Vec::new();
    pk.packetize(90_000, [&sps[..], &pps[..], &idr[..]], &mut out);

    assert_eq!(nal_type(out[0].payload[0]), STAP_A);
    assert_eq!(out[0].payload.len(), 1 + 2 + 12 + 2 + 4);
    let fus = &out[1..];
    assert_eq!(fus.len(), 5000_usize.div_ceil(1198));
    assert!(fus.iter().all(|p| nal_type(p.payload[0]) == FU_A));
    assert!(out.iter().all(|p| p.payload.len() <= 1200));
    assert_eq!(fus[0].payload[1] & 0xc0, 0x80, "S on the first fragment");
    assert_eq!(fus.last().unwrap().payload[1] & 0xc0, 0x40, "E on the last");
    assert!(
        fus[1..fus.len() - 1]
            .iter()
            .all(|p| p.payload[1] & 0xc0 == 0)
    );
    // Marker on the last packet only; sequence numbers continue across the wrap.
    assert_eq!(out.iter().filter(|p| p.marker).count(), 1);
    assert!(out.last().unwrap().marker);
    let seqs: Vec<u16> = out.iter().map(|p| p.seq).collect();
    assert_eq!(&seqs[..3], &[65534, 65535, 0]);
    assert!(out.iter().all(|p| p.timestamp == 90_000));

    let outputs = run(&mut Depacketizer::new(), &out);
    let f = frames(&outputs);
    assert_eq!(f.len(), 1, "{outputs:?}");
    assert!(f[0].keyframe);
    let nals: Vec<&[u8]> = annexb_nal_units(&f[0].data).collect();
    assert_eq!(nals, vec![&sps[..], &pps[..], &idr[..]]);
}

#[test]
fn nal_units_around_the_mtu_are_never_a_single_fragment_fu_a() {
    for len in 1100..=1210 {
        let sps = nal(NAL_SPS, 10, 1);
        let pps = nal(NAL_PPS, 4, 2);
        let idr = nal(NAL_IDR, len, 5);
        let mut out = Vec::new();
        Packetizer::new(1200, 0).packetize(0, [&sps[..], &pps[..], &idr[..]], &mut out);
        assert!(out.iter().all(|p| p.payload.len() <= 1200), "len {len}");
        assert!(
            out.iter()
                .all(|p| nal_type(p.payload[0]) != FU_A || p.payload[1] & 0xc0 != 0xc0),
            "len {len}: an FU-A with S and E"
        );
        let outputs = run(&mut Depacketizer::new(), &out);
        let f = frames(&outputs);
        assert_eq!(f.len(), 1, "len {len}: {outputs:?}");
        let nals: Vec<&[u8]> = annexb_nal_units(&f[0].data).collect();
        assert_eq!(nals, vec![&sps[..], &pps[..], &idr[..]], "len {len}");
    }
}

#[test]
fn real_encoder_frames_round_trip_byte_for_byte() {
    let mut publisher = Publisher::new(7, GREEN, 640, 360);
    let mut d = Depacketizer::new();
    for i in 0..6 {
        let nals = publisher.encode_nals(i == 3);
        let packets = publisher.packetize(&nals);
        let outputs = run(&mut d, &packets);
        let f = frames(&outputs);
        assert_eq!(f.len(), 1);
        let got: Vec<&[u8]> = annexb_nal_units(&f[0].data).collect();
        let want: Vec<&[u8]> = nals.iter().map(Vec::as_slice).collect();
        assert_eq!(got, want, "frame {i}");
        assert_eq!(f[0].keyframe, is_idr(&nals), "frame {i}");
        assert_eq!(f[0].rtp_timestamp, i * 6000);
    }
    assert_eq!(d.stats().frames, 6);
}

#[test]
fn a_lost_fu_a_fragment_drops_the_frame_asks_for_a_keyframe_and_recovers_on_the_next_idr() {
    let sps = nal(NAL_SPS, 12, 1);
    let pps = nal(NAL_PPS, 4, 2);
    let mut pk = Packetizer::new(1200, 100);
    let mut d = Depacketizer::new();
    let frame = |ts: u32, key: bool, pk: &mut Packetizer| {
        let mut out = Vec::new();
        if key {
            let idr = nal(NAL_IDR, 4000, 3);
            pk.packetize(ts, [&sps[..], &pps[..], &idr[..]], &mut out);
        } else {
            let p = nal(1, 3000, ts as u8);
            pk.packetize(ts, [&p[..]], &mut out);
        }
        out
    };
    // IDR then a P frame: both delivered.
    let f0 = frame(0, true, &mut pk);
    assert_eq!(frames(&run(&mut d, &f0)).len(), 1);
    let f1 = frame(3000, false, &mut pk);
    assert_eq!(frames(&run(&mut d, &f1)).len(), 1);

    // Next P frame loses its middle FU-A fragment.
    let mut f2 = frame(6000, false, &mut pk);
    assert_eq!(f2.len(), 3);
    f2.remove(1);
    let out = run(&mut d, &f2);
    assert_eq!(out, vec![DepacketizerOutput::NeedKeyframe]);
    assert!(d.waiting_for_keyframe());

    // Following P frames are complete but undecodable: dropped, keyframe asked again.
    let f3 = frame(9000, false, &mut pk);
    assert_eq!(run(&mut d, &f3), vec![DepacketizerOutput::NeedKeyframe]);

    // The IDR restores the stream.
    let f4 = frame(12000, true, &mut pk);
    let out = run(&mut d, &f4);
    let f = frames(&out);
    assert_eq!(f.len(), 1, "{out:?}");
    assert!(f[0].keyframe);
    assert_eq!(f[0].rtp_timestamp, 12000);
    assert!(!d.waiting_for_keyframe());
    let f5 = frame(15000, false, &mut pk);
    assert_eq!(frames(&run(&mut d, &f5)).len(), 1);
    let s = d.stats();
    assert_eq!(
        (s.frames, s.frames_dropped_broken, s.frames_dropped_waiting),
        (4, 1, 1)
    );
}

#[test]
fn losing_the_first_or_the_last_fragment_is_detected() {
    for drop_at in [0usize, 2] {
        let mut pk = Packetizer::new(1200, 0);
        let mut d = Depacketizer::new();
        let (sps, pps, idr) = (
            nal(NAL_SPS, 10, 1),
            nal(NAL_PPS, 4, 1),
            nal(NAL_IDR, 100, 1),
        );
        let mut out = Vec::new();
        pk.packetize(0, [&sps[..], &pps[..], &idr[..]], &mut out);
        assert_eq!(frames(&run(&mut d, &out)).len(), 1);
        let p = nal(1, 3000, 9);
        let mut out = Vec::new();
        pk.packetize(3000, [&p[..]], &mut out);
        out.remove(drop_at);
        let res = run(&mut d, &out);
        if drop_at == 2 {
            // The marker packet is gone: the loss shows when the next frame starts.
            assert!(res.is_empty());
            let mut next = Vec::new();
            pk.packetize(6000, [&p[..]], &mut next);
            let res = run(&mut d, &next);
            assert!(frames(&res).is_empty(), "{res:?}");
            assert!(res.contains(&DepacketizerOutput::NeedKeyframe));
        } else {
            assert_eq!(res, vec![DepacketizerOutput::NeedKeyframe]);
        }
    }
}

#[test]
fn parameter_sets_sent_apart_from_the_idr_are_prepended_to_it() {
    let (sps, pps, idr) = (nal(NAL_SPS, 10, 1), nal(NAL_PPS, 4, 1), nal(NAL_IDR, 50, 1));
    let mut d = Depacketizer::new();
    // SPS and PPS as single NAL packets with their own timestamp and marker.
    d.push(1, 0, true, &sps);
    d.push(2, 0, true, &pps);
    assert!(
        d.poll_output().is_none(),
        "parameter sets alone are no picture"
    );
    d.push(3, 3000, true, &idr);
    let Some(DepacketizerOutput::Frame(au)) = d.poll_output() else {
        panic!("IDR frame expected");
    };
    assert!(au.keyframe);
    let nals: Vec<&[u8]> = annexb_nal_units(&au.data).collect();
    assert_eq!(nals, vec![&sps[..], &pps[..], &idr[..]]);
}

#[test]
fn an_idr_without_any_sps_pps_is_not_a_keyframe() {
    let idr = nal(NAL_IDR, 50, 1);
    let mut d = Depacketizer::new();
    d.push(1, 0, true, &idr);
    assert_eq!(d.poll_output(), Some(DepacketizerOutput::NeedKeyframe));
    assert!(d.waiting_for_keyframe());
}

#[test]
fn late_and_duplicate_packets_are_ignored() {
    let (sps, pps, idr) = (nal(NAL_SPS, 10, 1), nal(NAL_PPS, 4, 1), nal(NAL_IDR, 50, 1));
    let mut pk = Packetizer::new(1200, 10);
    let mut out = Vec::new();
    pk.packetize(0, [&sps[..], &pps[..], &idr[..]], &mut out);
    let mut d = Depacketizer::new();
    assert_eq!(frames(&run(&mut d, &out)).len(), 1);
    assert!(
        run(&mut d, &out).is_empty(),
        "a duplicate of the frame does nothing"
    );
    assert_eq!(d.stats().packets_late, out.len() as u64);
}

#[test]
fn malformed_payloads_break_the_frame_without_panicking() {
    let (sps, pps) = (nal(NAL_SPS, 10, 1), nal(NAL_PPS, 4, 1));
    let cases: Vec<Vec<u8>> = vec![
        vec![],                    // empty
        vec![0x80 | 5, 1, 2],      // forbidden bit
        vec![STAP_A],              // STAP-A without units
        vec![STAP_A, 0, 9, 0x65],  // STAP-A size past the end
        vec![STAP_A, 0, 0],        // zero-size unit
        vec![FU_A | 0x60],         // FU-A without header
        vec![FU_A, 0xc5, 1],       // S and E together
        vec![FU_A, 0x45, 1],       // end without start
        vec![FU_A, 0x80 | 28, 1],  // FU-A of an FU-A
        vec![25, 1, 2, 3],         // STAP-B: interleaved mode
        vec![29, 1, 2, 3],         // FU-B
        vec![30, 1],               // reserved
        vec![0x41, 7, 0, 0, 1, 9], // a start code inside a NAL unit
        vec![0x41, 7, 0, 0, 0, 9], // 00 00 00 inside a NAL unit
        vec![0x41, 7, 0],          // trailing zero byte
    ];
    for (i, bad) in cases.iter().enumerate() {
        let mut d = Depacketizer::new();
        let mut pk = Packetizer::new(1200, 0);
        let mut ok = Vec::new();
        pk.packetize(0, [&sps[..], &pps[..], &nal(NAL_IDR, 20, 1)[..]], &mut ok);
        assert_eq!(frames(&run(&mut d, &ok)).len(), 1);
        d.push(pk.next_seq(), 3000, true, bad);
        assert_eq!(
            d.poll_output(),
            Some(DepacketizerOutput::NeedKeyframe),
            "case {i}: {bad:?}"
        );
    }
}
