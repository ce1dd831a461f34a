//! Compound RTCP parse on arbitrary bytes, then every parsed packet written back and re-parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pont_media::rtcp::{Rtcp, parse_compound};

fuzz_target!(|data: &[u8]| {
    let mut parsed = Vec::new();
    // On error the packets before the bad one are kept; they must round-trip too.
    let _ = parse_compound(data, &mut parsed);

    let mut wire = Vec::new();
    for packet in &parsed {
        packet.write_to(&mut wire);
    }
    let mut reparsed = Vec::new();
    if !wire.is_empty() {
        parse_compound(&wire, &mut reparsed).expect("written RTCP parses");
    }

    // `Other` keeps only PT and FMT and writes nothing; everything else comes back, up to
    // the normal forms the writer chooses (NACK order and duplicates, REMB rounding).
    let kept: Vec<&Rtcp> = parsed
        .iter()
        .filter(|p| !matches!(p, Rtcp::Other { .. }))
        .collect();
    assert_eq!(kept.len(), reparsed.len());
    for (before, after) in kept.into_iter().zip(&reparsed) {
        assert_eq!(normal(before), normal(after));
    }

    // Writing again is a fixed point.
    let mut again = Vec::new();
    for packet in &reparsed {
        packet.write_to(&mut again);
    }
    assert_eq!(again, wire);
});

fn normal(p: &Rtcp) -> Rtcp {
    match p {
        Rtcp::Nack {
            sender,
            media,
            lost,
        } => {
            let mut lost = lost.clone();
            lost.sort_unstable();
            lost.dedup();
            Rtcp::Nack {
                sender: *sender,
                media: *media,
                lost,
            }
        }
        Rtcp::Remb {
            sender,
            bitrate,
            ssrcs,
        } => {
            // 18-bit mantissa, rounded down.
            let bps = bitrate.as_bps();
            let exp = (64 - bps.leading_zeros()).saturating_sub(18);
            Rtcp::Remb {
                sender: *sender,
                bitrate: pont_types::DataRate::from_bps((bps >> exp) << exp),
                ssrcs: ssrcs.clone(),
            }
        }
        other => other.clone(),
    }
}
