//! The container checked by the reference tools: ffprobe sees one Opus stream of the right
//! duration, ffmpeg decodes it without a single error, and a file cut in the middle of a
//! fragment (what kill -9 leaves) still decodes up to its last complete fragment, with no error
//! once [`pont_record::recover`] has cut the torn tail. Skips when ffmpeg is not installed.

use std::path::Path;
use std::process::Command;

use pont_record::{FileKey, LocalStorage, Recorder, RecorderConfig, RecordingFile, recover};
use pont_types::Timestamp;

fn ffmpeg_available() -> bool {
    let ok = ["ffmpeg", "ffprobe"].iter().all(|t| {
        Command::new(t)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        eprintln!("SKIPPED: ffmpeg/ffprobe not installed (bash tools/test-deps installs them)");
    }
    ok
}

/// (codec name, duration in seconds) of the first audio stream.
fn probe(path: &Path) -> (String, f64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0", "-show_entries"])
        .args(["stream=codec_name:format=duration", "-of", "default=nw=1"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "ffprobe failed: {text} {out:?}");
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {text}"))
            .to_owned()
    };
    (field("codec_name="), field("duration=").parse().unwrap())
}

/// ffmpeg's error output when decoding the whole file (empty when clean), and the decoded
/// duration in seconds.
fn decode(path: &Path) -> (String, f64) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.stdout.len() as f64 / 2.0 / 48_000.0,
    )
}

fn chunks(seconds: u32, rate: u32) -> Vec<bytes::Bytes> {
    let mut r = Recorder::new(RecorderConfig::default()).unwrap();
    let n = rate as usize / 50;
    for f in 0..seconds as usize * 50 {
        let pcm: Vec<i16> = (0..n)
            .map(|i| {
                let t = (f * n + i) as f64 / f64::from(rate);
                (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
            })
            .collect();
        r.handle_audio(Timestamp::from_millis(20 * f as u64), rate, &pcm);
    }
    r.finish();
    std::iter::from_fn(|| r.poll_output()).collect()
}

#[test]
fn ffprobe_sees_opus_of_the_right_length_and_ffmpeg_decodes_it_cleanly() {
    if !ffmpeg_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.mp4");
    let bytes: Vec<u8> = chunks(6, 8000).concat();
    std::fs::write(&path, &bytes).unwrap();
    let (codec, duration) = probe(&path);
    assert_eq!(codec, "opus");
    assert!((duration - 6.0).abs() < 0.1, "duration {duration}");
    let (errors, decoded) = decode(&path);
    assert!(errors.is_empty(), "ffmpeg errors: {errors}");
    assert!((decoded - 6.0).abs() < 0.1, "decoded {decoded} s");
}

#[test]
fn a_file_cut_mid_fragment_decodes_to_its_last_complete_fragment() {
    if !ffmpeg_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let storage = LocalStorage::new(dir.path()).unwrap();
    let key = FileKey::for_recording(1);
    let chunks = chunks(6, 16_000);
    let mut file = RecordingFile::create(&storage, &key).unwrap();
    // The init segment and four whole fragments, then half of the fifth: the process died.
    for c in &chunks[..5] {
        file.append(c).unwrap();
    }
    file.append(&chunks[5][..chunks[5].len() / 2]).unwrap();
    drop(file);
    let path = pont_record::Storage::local_path(&storage, &key).unwrap();

    // As the crash left it: still readable up to the torn fragment.
    let (codec, _) = probe(&path);
    assert_eq!(codec, "opus");
    let (_, decoded) = decode(&path);
    assert!(decoded >= 3.9, "the cut file decodes only {decoded} s");

    // Recovered: cut clean, decodes without an error, duration from the fragments.
    let rec = recover(&storage, &key).unwrap();
    assert!(rec.truncated);
    assert!((rec.scan.duration_secs - 4.0).abs() < 1e-9);
    let (errors, decoded) = decode(&path);
    assert!(errors.is_empty(), "ffmpeg errors after recovery: {errors}");
    assert!((decoded - 4.0).abs() < 0.1, "decoded {decoded} s");
}
