//! Our G.722 against ffmpeg's (an independent implementation of the same ITU-T reference):
//! our bitstream decodes in ffmpeg, ffmpeg's bitstream decodes in ours to the same samples,
//! and both encoders produce the same bytes.
//! Skips, saying so, when ffmpeg is not installed.

use std::path::Path;
use std::process::Command;

use pont_audio::analysis::{snr_db, tone};
use pont_audio::g722::{G722Decoder, G722Encoder};

fn ffmpeg() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn to_bytes(pcm: &[i16]) -> Vec<u8> {
    pcm.iter().flat_map(|s| s.to_le_bytes()).collect()
}

fn from_bytes(b: &[u8]) -> Vec<i16> {
    b.chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// Best SNR over small alignments (the two ends' QMFs delay by a few samples).
fn best_snr(reference: &[i16], actual: &[i16]) -> f64 {
    (0..48)
        .map(|d| {
            let n = reference.len().min(actual.len().saturating_sub(d)) - 200;
            snr_db(&reference[100..n], &actual[100 + d..n + d])
        })
        .fold(f64::MIN, f64::max)
}

#[test]
fn g722_interoperates_with_ffmpeg() {
    if !ffmpeg() {
        eprintln!(
            "SKIPPED g722_interoperates_with_ffmpeg: ffmpeg is not installed (apt-get install ffmpeg)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    // Two tones, one per sub-band, for 2 s.
    let lo = tone(16000, 700.0, 6000.0, 32000);
    let hi = tone(16000, 5500.0, 3000.0, 32000);
    let input: Vec<i16> = lo.iter().zip(&hi).map(|(a, b)| a + b).collect();
    std::fs::write(p("in.raw"), to_bytes(&input)).unwrap();

    // Ours → ffmpeg's decoder.
    let mut ours = Vec::new();
    G722Encoder::new().encode(&input, &mut ours);
    std::fs::write(p("ours.g722"), &ours).unwrap();
    run(&[
        "-f",
        "g722",
        "-i",
        &p("ours.g722"),
        "-f",
        "s16le",
        "-ar",
        "16000",
        &p("ours_by_ffmpeg.raw"),
    ]);
    let decoded = from_bytes(&std::fs::read(p("ours_by_ffmpeg.raw")).unwrap());
    let snr = best_snr(&input, &decoded);
    assert!(snr > 20.0, "our bitstream through ffmpeg: SNR {snr:.1} dB");

    // ffmpeg's encoder → our decoder and ffmpeg's decoder: the same samples.
    run(&[
        "-f",
        "s16le",
        "-ar",
        "16000",
        "-ac",
        "1",
        "-i",
        &p("in.raw"),
        "-c:a",
        "g722",
        "-f",
        "g722",
        &p("theirs.g722"),
    ]);
    let theirs = std::fs::read(p("theirs.g722")).unwrap();
    assert!(Path::new(&p("theirs.g722")).exists() && theirs.len() >= 15_000);
    run(&[
        "-f",
        "g722",
        "-i",
        &p("theirs.g722"),
        "-f",
        "s16le",
        "-ar",
        "16000",
        &p("theirs_by_ffmpeg.raw"),
    ]);
    let by_ffmpeg = from_bytes(&std::fs::read(p("theirs_by_ffmpeg.raw")).unwrap());
    let mut by_us = vec![0i16; theirs.len() * 2];
    G722Decoder::new().decode(&theirs, &mut by_us);
    let n = by_us.len().min(by_ffmpeg.len());
    let same = by_us[..n]
        .iter()
        .zip(&by_ffmpeg[..n])
        .filter(|(a, b)| a == b)
        .count();
    eprintln!(
        "decoders agree on {same}/{n} samples; encoders agree on {}/{} bytes",
        ours.iter().zip(&theirs).filter(|(a, b)| a == b).count(),
        ours.len().min(theirs.len())
    );
    // Both follow the ITU-T reference bit for bit (ffmpeg's encoder without trellis search).
    assert_eq!(same, n, "our decoder differs from ffmpeg's");
    assert_eq!(ours, theirs, "our encoder differs from ffmpeg's");
    let snr = best_snr(&input, &by_us);
    assert!(
        snr > 20.0,
        "ffmpeg's bitstream through our decoder: SNR {snr:.1} dB"
    );
}
