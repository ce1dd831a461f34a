//! Fragmented MP4 (ISO/IEC 14496-12, "ISO BMFF") writing and crash recovery scanning.
//!
//! The file is an initialization segment (`ftyp` + `moov` with `mvex`/`trex`, no samples)
//! followed by `moof` + `mdat` fragments. Each fragment is complete on its own, so a file cut
//! anywhere decodes up to its last complete fragment ([`scan`] finds where that is).
//!
//! Opus follows "Encapsulation of Opus in ISO Base Media File Format" (v0.8.1): an `Opus`
//! sample entry carrying a `dOps` box, big-endian, timescale 48 000. H.264 follows
//! ISO/IEC 14496-15: an `avc1` sample entry with an `avcC` box, 4-byte NAL lengths.

use bytes::Bytes;

/// The timescale of Opus tracks: the spec fixes it at 48 kHz whatever the input rate.
pub const OPUS_TIMESCALE: u32 = 48_000;
/// The timescale of H.264 tracks: the RTP clock, so RTP timestamps map one to one.
pub const VIDEO_TIMESCALE: u32 = 90_000;

/// What a track carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrackKind {
    /// Opus; mono or stereo, channel mapping family 0.
    Opus {
        channels: u8,
        /// Samples (at 48 kHz) the decoder drops at the start: the encoder's lookahead.
        pre_skip: u16,
        /// The rate of the audio before encoding, informational.
        input_rate: u32,
    },
    /// H.264 with its parameter sets (without start codes or length prefixes).
    H264 {
        width: u16,
        height: u16,
        sps: Vec<u8>,
        pps: Vec<u8>,
    },
}

/// One track of the file; ids start at 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub id: u32,
    pub kind: TrackKind,
}

impl Track {
    /// Ticks per second of this track's sample times.
    pub fn timescale(&self) -> u32 {
        match self.kind {
            TrackKind::Opus { .. } => OPUS_TIMESCALE,
            TrackKind::H264 { .. } => VIDEO_TIMESCALE,
        }
    }
}

/// One sample (an Opus packet, or an access unit of H.264 NAL units with 4-byte lengths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// In the track's timescale.
    pub duration: u32,
    pub data: Bytes,
    /// A sync sample (every Opus packet; an IDR access unit for H.264).
    pub sync: bool,
}

/// The samples of one track inside a fragment, starting at `base_time` (track timescale).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRun {
    pub track_id: u32,
    pub base_time: u64,
    pub samples: Vec<Sample>,
}

// ---- box writing ----

/// Appends a box: its 32-bit size, its type, then what `body` writes.
fn write_box(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(kind);
    body(out);
    let size = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// A "full box": a box whose body starts with a version byte and 24 bits of flags.
fn write_full_box(
    out: &mut Vec<u8>,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    write_box(out, kind, |out| {
        out.push(version);
        out.extend_from_slice(&flags.to_be_bytes()[1..]);
        body(out);
    });
}

fn u16be(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn u32be(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn u64be(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// The unity transformation matrix of `mvhd` and `tkhd` (ISO 14496-12 §8.2.2).
fn matrix(out: &mut Vec<u8>) {
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        u32be(out, v);
    }
}

/// The initialization segment: `ftyp` and a `moov` that announces `tracks` and says their
/// samples come in fragments (`mvex`).
pub fn init_segment(tracks: &[Track]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    write_box(&mut out, b"ftyp", |o| {
        // iso6: fragments with tfdt; iso2/isom as ffmpeg writes; mp41 for the old players.
        o.extend_from_slice(b"iso6");
        u32be(o, 0);
        for brand in [b"iso6", b"iso2", b"isom", b"mp41"] {
            o.extend_from_slice(brand);
        }
        if tracks
            .iter()
            .any(|t| matches!(t.kind, TrackKind::H264 { .. }))
        {
            o.extend_from_slice(b"avc1");
        }
        if tracks
            .iter()
            .any(|t| matches!(t.kind, TrackKind::Opus { .. }))
        {
            o.extend_from_slice(b"Opus");
        }
    });
    write_box(&mut out, b"moov", |o| {
        write_full_box(o, b"mvhd", 0, 0, |o| {
            u32be(o, 0); // creation time
            u32be(o, 0); // modification time
            u32be(o, 1000); // movie timescale (ms)
            u32be(o, 0); // duration: unknown, the fragments tell
            u32be(o, 0x0001_0000); // rate 1.0
            u16be(o, 0x0100); // volume 1.0
            o.extend_from_slice(&[0; 10]);
            matrix(o);
            o.extend_from_slice(&[0; 24]); // pre_defined
            let next = tracks.iter().map(|t| t.id).max().unwrap_or(0) + 1;
            u32be(o, next);
        });
        for t in tracks {
            write_trak(o, t);
        }
        write_box(o, b"mvex", |o| {
            for t in tracks {
                write_full_box(o, b"trex", 0, 0, |o| {
                    u32be(o, t.id);
                    u32be(o, 1); // sample description index
                    u32be(o, 0); // default duration, size, flags: every trun says them
                    u32be(o, 0);
                    u32be(o, 0);
                });
            }
        });
    });
    out
}

fn write_trak(o: &mut Vec<u8>, t: &Track) {
    let audio = matches!(t.kind, TrackKind::Opus { .. });
    write_box(o, b"trak", |o| {
        // Flags 3: track enabled and in the movie.
        write_full_box(o, b"tkhd", 0, 3, |o| {
            u32be(o, 0);
            u32be(o, 0);
            u32be(o, t.id);
            u32be(o, 0); // reserved
            u32be(o, 0); // duration
            o.extend_from_slice(&[0; 8]);
            u16be(o, 0); // layer
            u16be(o, u16::from(audio)); // alternate group
            u16be(o, if audio { 0x0100 } else { 0 }); // volume
            u16be(o, 0);
            matrix(o);
            let (w, h) = match t.kind {
                TrackKind::H264 { width, height, .. } => (width, height),
                TrackKind::Opus { .. } => (0, 0),
            };
            u32be(o, u32::from(w) << 16);
            u32be(o, u32::from(h) << 16);
        });
        write_box(o, b"mdia", |o| {
            write_full_box(o, b"mdhd", 0, 0, |o| {
                u32be(o, 0);
                u32be(o, 0);
                u32be(o, t.timescale());
                u32be(o, 0);
                // ISO 639-2/T "und", 5 bits per letter offset by 0x60.
                u16be(o, 0x55c4);
                u16be(o, 0);
            });
            write_full_box(o, b"hdlr", 0, 0, |o| {
                u32be(o, 0);
                o.extend_from_slice(if audio { b"soun" } else { b"vide" });
                o.extend_from_slice(&[0; 12]);
                o.extend_from_slice(if audio {
                    b"SoundHandler\0"
                } else {
                    b"VideoHandler\0"
                });
            });
            write_box(o, b"minf", |o| {
                if audio {
                    write_full_box(o, b"smhd", 0, 0, |o| u32be(o, 0));
                } else {
                    write_full_box(o, b"vmhd", 0, 1, |o| o.extend_from_slice(&[0; 8]));
                }
                write_box(o, b"dinf", |o| {
                    write_full_box(o, b"dref", 0, 0, |o| {
                        u32be(o, 1);
                        // Flag 1: the media is in this file.
                        write_full_box(o, b"url ", 0, 1, |_| {});
                    });
                });
                write_box(o, b"stbl", |o| {
                    write_full_box(o, b"stsd", 0, 0, |o| {
                        u32be(o, 1);
                        write_sample_entry(o, &t.kind);
                    });
                    // No samples in moov: they are all in fragments.
                    write_full_box(o, b"stts", 0, 0, |o| u32be(o, 0));
                    write_full_box(o, b"stsc", 0, 0, |o| u32be(o, 0));
                    write_full_box(o, b"stsz", 0, 0, |o| {
                        u32be(o, 0);
                        u32be(o, 0);
                    });
                    write_full_box(o, b"stco", 0, 0, |o| u32be(o, 0));
                });
            });
        });
    });
}

fn write_sample_entry(o: &mut Vec<u8>, kind: &TrackKind) {
    match kind {
        TrackKind::Opus {
            channels,
            pre_skip,
            input_rate,
        } => write_box(o, b"Opus", |o| {
            o.extend_from_slice(&[0; 6]); // SampleEntry reserved
            u16be(o, 1); // data reference index
            o.extend_from_slice(&[0; 8]); // AudioSampleEntry reserved
            u16be(o, u16::from(*channels));
            u16be(o, 16); // sample size
            u16be(o, 0); // pre_defined
            u16be(o, 0);
            u32be(o, OPUS_TIMESCALE << 16);
            // Opus in ISOBMFF §4.3.2: OpusSpecificBox, big-endian unlike the Ogg OpusHead.
            write_box(o, b"dOps", |o| {
                o.push(0); // version
                o.push(*channels);
                u16be(o, *pre_skip);
                u32be(o, *input_rate);
                u16be(o, 0); // output gain
                o.push(0); // channel mapping family 0: mono or stereo
            });
        }),
        TrackKind::H264 {
            width,
            height,
            sps,
            pps,
        } => write_box(o, b"avc1", |o| {
            o.extend_from_slice(&[0; 6]);
            u16be(o, 1);
            o.extend_from_slice(&[0; 16]); // pre_defined, reserved, pre_defined[3]
            u16be(o, *width);
            u16be(o, *height);
            u32be(o, 0x0048_0000); // 72 dpi
            u32be(o, 0x0048_0000);
            u32be(o, 0);
            u16be(o, 1); // frame count
            o.extend_from_slice(&[0; 32]); // compressor name
            u16be(o, 0x0018); // depth
            u16be(o, 0xffff); // pre_defined = -1
            // ISO 14496-15 §5.3.3.1: AVCDecoderConfigurationRecord.
            write_box(o, b"avcC", |o| {
                o.push(1);
                o.push(sps.get(1).copied().unwrap_or(0x42)); // profile
                o.push(sps.get(2).copied().unwrap_or(0)); // compatibility
                o.push(sps.get(3).copied().unwrap_or(0x1f)); // level
                o.push(0xfc | 3); // 4-byte NAL lengths
                o.push(0xe0 | 1);
                u16be(o, u16::try_from(sps.len()).unwrap_or(0));
                o.extend_from_slice(sps);
                o.push(1);
                u16be(o, u16::try_from(pps.len()).unwrap_or(0));
                o.extend_from_slice(pps);
            });
        }),
    }
}

/// `trun` flags: data offset, then per sample its duration, size and flags.
const TRUN_DATA_OFFSET: u32 = 0x000001;
const TRUN_DURATION: u32 = 0x000100;
const TRUN_SIZE: u32 = 0x000200;
const TRUN_FLAGS: u32 = 0x000400;
/// `tfhd` flag: offsets are relative to the start of the `moof` (needed by MSE in browsers).
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x020000;
/// Sample flags (ISO 14496-12 §8.8.3.1): depends on no other sample / is a non-sync sample.
const SAMPLE_SYNC: u32 = 0x0200_0000;
const SAMPLE_NON_SYNC: u32 = 0x0101_0000;

fn write_moof(out: &mut Vec<u8>, sequence: u32, runs: &[TrackRun], data_offsets: &[i32]) {
    write_box(out, b"moof", |o| {
        write_full_box(o, b"mfhd", 0, 0, |o| u32be(o, sequence));
        for (run, &offset) in runs.iter().zip(data_offsets) {
            write_box(o, b"traf", |o| {
                write_full_box(o, b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, |o| {
                    u32be(o, run.track_id);
                });
                write_full_box(o, b"tfdt", 1, 0, |o| u64be(o, run.base_time));
                let flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS;
                write_full_box(o, b"trun", 0, flags, |o| {
                    u32be(o, u32::try_from(run.samples.len()).unwrap_or(u32::MAX));
                    o.extend_from_slice(&offset.to_be_bytes());
                    for s in &run.samples {
                        u32be(o, s.duration);
                        u32be(o, u32::try_from(s.data.len()).unwrap_or(u32::MAX));
                        u32be(o, if s.sync { SAMPLE_SYNC } else { SAMPLE_NON_SYNC });
                    }
                });
            });
        }
    });
}

/// One fragment: a `moof` describing `runs` and the `mdat` holding their samples, track after
/// track. Empty runs are left out; `None` if nothing is left.
pub fn fragment(sequence: u32, runs: &[TrackRun]) -> Option<Vec<u8>> {
    let runs: Vec<TrackRun> = runs
        .iter()
        .filter(|r| !r.samples.is_empty())
        .cloned()
        .collect();
    if runs.is_empty() {
        return None;
    }
    // The moof's size does not depend on the offsets' values: measure it with zeros.
    let mut probe = Vec::new();
    write_moof(&mut probe, sequence, &runs, &vec![0; runs.len()]);
    let moof_len = probe.len();
    let mut offsets = Vec::with_capacity(runs.len());
    let mut at = moof_len + 8; // the mdat header
    for run in &runs {
        offsets.push(i32::try_from(at).unwrap_or(i32::MAX));
        at += run.samples.iter().map(|s| s.data.len()).sum::<usize>();
    }
    let mut out = Vec::with_capacity(at);
    write_moof(&mut out, sequence, &runs, &offsets);
    write_box(&mut out, b"mdat", |o| {
        for s in runs.iter().flat_map(|r| &r.samples) {
            o.extend_from_slice(&s.data);
        }
    });
    Some(out)
}

// ---- reading back: what a crashed file still holds ----

/// What [`scan`] found in a (possibly cut) fragmented MP4 file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scan {
    /// Bytes up to the end of the last complete fragment (or of the `moov` if none):
    /// truncating the file here leaves a file every decoder reads to its end.
    pub valid_len: u64,
    /// Complete `moof` + `mdat` pairs.
    pub fragments: u32,
    /// The largest end time (first sample time + durations) over every track, in seconds.
    pub duration_secs: f64,
    /// Whether `ftyp` and `moov` are complete; without them nothing is playable.
    pub has_init: bool,
}

/// A box header read from the file.
#[derive(Debug, Clone, Copy)]
struct BoxHeader {
    kind: [u8; 4],
    header_len: u64,
    total_len: u64,
}

fn parse_header(b: &[u8], remaining: u64) -> Option<BoxHeader> {
    let size = u64::from(u32::from_be_bytes(b.get(..4)?.try_into().ok()?));
    let kind: [u8; 4] = b.get(4..8)?.try_into().ok()?;
    let (header_len, total_len) = match size {
        // A box "to the end of the file": we never write one, so it is not trusted.
        0 => return None,
        1 => (16, u64::from_be_bytes(b.get(8..16)?.try_into().ok()?)),
        n => (8, n),
    };
    (total_len >= header_len && total_len <= remaining).then_some(BoxHeader {
        kind,
        header_len,
        total_len,
    })
}

/// Walks the child boxes of `body`, calling `f(kind, child body)` for each complete one.
fn children<'a>(body: &'a [u8], mut f: impl FnMut([u8; 4], &'a [u8])) {
    let mut at = 0usize;
    while at < body.len() {
        let rest = &body[at..];
        let Some(h) = parse_header(rest, rest.len() as u64) else {
            return;
        };
        let (Ok(hl), Ok(tl)) = (usize::try_from(h.header_len), usize::try_from(h.total_len)) else {
            return;
        };
        f(h.kind, &rest[hl..tl]);
        at += tl;
    }
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Track id → timescale, from `moov/trak/{tkhd, mdia/mdhd}`.
fn timescales(moov: &[u8]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    children(moov, |kind, trak| {
        if &kind != b"trak" {
            return;
        }
        let (mut id, mut scale) = (None, None);
        children(trak, |kind, b| match &kind {
            // Version 0: flags(4) creation(4) modification(4) track_ID.
            b"tkhd" => id = be_u32(b, if b.first() == Some(&1) { 20 } else { 12 }),
            b"mdia" => children(b, |kind, b| {
                if &kind == b"mdhd" {
                    scale = be_u32(b, if b.first() == Some(&1) { 20 } else { 12 });
                }
            }),
            _ => {}
        });
        if let (Some(id), Some(scale)) = (id, scale)
            && scale > 0
        {
            out.push((id, scale));
        }
    });
    out
}

/// End time in ticks of each `traf` of a `moof`: (track id, tfdt + sum of trun durations).
fn fragment_ends(moof: &[u8]) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    children(moof, |kind, traf| {
        if &kind != b"traf" {
            return;
        }
        let (mut id, mut base, mut total) = (None, 0u64, 0u64);
        children(traf, |kind, b| match &kind {
            b"tfhd" => id = be_u32(b, 4),
            b"tfdt" => {
                base = if b.first() == Some(&1) {
                    be_u64(b, 4).unwrap_or(0)
                } else {
                    be_u32(b, 4).map_or(0, u64::from)
                }
            }
            b"trun" => total += trun_duration(b),
            _ => {}
        });
        if let Some(id) = id {
            out.push((id, base.saturating_add(total)));
        }
    });
    out
}

/// The summed sample durations of a `trun` (0 if it carries none: no default is tracked).
fn trun_duration(b: &[u8]) -> u64 {
    let Some(flags) = be_u32(b, 0).map(|v| v & 0x00ff_ffff) else {
        return 0;
    };
    let Some(count) = be_u32(b, 4) else {
        return 0;
    };
    if flags & TRUN_DURATION == 0 {
        return 0;
    }
    let mut at = 8;
    if flags & TRUN_DATA_OFFSET != 0 {
        at += 4;
    }
    if flags & 0x000004 != 0 {
        at += 4; // first sample flags
    }
    let per_sample = 4 * [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, 0x000800]
        .iter()
        .filter(|&&f| flags & f != 0)
        .count();
    let mut total = 0u64;
    for _ in 0..count {
        let Some(d) = be_u32(b, at) else {
            break;
        };
        total += u64::from(d);
        at += per_sample;
    }
    total
}

/// Finds the playable part of a fragmented MP4 file of `file_len` bytes, reading it through
/// `read_at(offset, len)` (which may return fewer bytes at the end of the file). Only box
/// headers, `moov` and `moof` are read; `mdat` payloads are skipped.
pub fn scan<E>(
    file_len: u64,
    mut read_at: impl FnMut(u64, usize) -> Result<Vec<u8>, E>,
) -> Result<Scan, E> {
    let mut result = Scan::default();
    let mut at = 0u64;
    let mut scales: Vec<(u32, u32)> = Vec::new();
    let (mut seen_ftyp, mut pending_moof) = (false, None::<Vec<(u32, u64)>>);
    let mut ends: Vec<(u32, u64)> = Vec::new();
    while at < file_len {
        let head = read_at(at, 16)?;
        let Some(h) = parse_header(&head, file_len - at) else {
            break;
        };
        match &h.kind {
            b"ftyp" => seen_ftyp = true,
            b"moov" if seen_ftyp => {
                let Ok(len) = usize::try_from(h.total_len) else {
                    break;
                };
                let body = read_at(at, len)?;
                if body.len() < len {
                    break;
                }
                scales = timescales(&body[h.header_len as usize..]);
                result.has_init = true;
                result.valid_len = at + h.total_len;
            }
            b"moof" if result.has_init => {
                let Ok(len) = usize::try_from(h.total_len) else {
                    break;
                };
                let body = read_at(at, len)?;
                if body.len() < len {
                    break;
                }
                pending_moof = Some(fragment_ends(&body[h.header_len as usize..]));
            }
            b"mdat" if result.has_init => {
                if let Some(frag) = pending_moof.take() {
                    result.fragments += 1;
                    result.valid_len = at + h.total_len;
                    for (id, end) in frag {
                        match ends.iter_mut().find(|(i, _)| *i == id) {
                            Some((_, e)) => *e = (*e).max(end),
                            None => ends.push((id, end)),
                        }
                    }
                }
            }
            _ => {}
        }
        at += h.total_len;
    }
    result.duration_secs = ends
        .iter()
        .filter_map(|(id, end)| {
            let scale = scales.iter().find(|(i, _)| i == id)?.1;
            Some(*end as f64 / f64::from(scale))
        })
        .fold(0.0, f64::max);
    Ok(result)
}

/// [`scan`] over bytes in memory.
pub fn scan_bytes(file: &[u8]) -> Scan {
    let read = |offset: u64, len: usize| -> Result<Vec<u8>, std::convert::Infallible> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(file.len());
        let end = start.saturating_add(len).min(file.len());
        Ok(file[start..end].to_vec())
    };
    match scan(file.len() as u64, read) {
        Ok(s) => s,
        Err(never) => match never {},
    }
}

// ---- a viewing window: the fragments of a time span, re-timed to start at 0 ----

/// One piece of a windowed view of a file: bytes made here (the init segment, re-timed
/// `moof`s), or a range of the file as it is (the `mdat`s, never copied into memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Bytes(Vec<u8>),
    File { offset: u64, len: u64 },
}

impl Piece {
    pub fn len(&self) -> u64 {
        match self {
            Self::Bytes(b) => b.len() as u64,
            Self::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A windowed view: its pieces and where its media starts and ends in the original, in seconds
/// (the window widened to whole fragments, starting at a fragment every track of which opens
/// on a sync sample, so that the first picture decodes).
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub pieces: Vec<Piece>,
    pub from_secs: f64,
    pub to_secs: f64,
}

/// A `moof` read from the file, with what the window needs to know of it.
struct Frag {
    moof: Vec<u8>,
    header_len: usize,
    start: f64,
    end: f64,
    /// Every track of it opens on a sync sample: a decoder may start here.
    sync_start: bool,
}

/// A view of a fragmented MP4 file that plays exactly `[start_secs, end_secs)` from 0, with
/// nothing re-encoded: after its `ftyp` and `moov`, the fragments that overlap the window,
/// the first and last rebuilt sample by sample and the others re-timed. A decoder must start
/// on a sync sample, so the view begins at the last fragment before the window where every
/// track opens on one (with our recorder's video, a keyframe at most 10 s before): tracks of
/// sync samples only (audio) drop what comes before the window; the others keep those frames
/// as a lead-in of one tick each (decoded, never seen; the frame on screen at the window's
/// start shows until the next). Samples from the window's end on are dropped and the last one
/// kept is shortened to end on it. The `mdat`s between are ranges of the original.
///
/// `None` if the file has no complete init segment or no fragment in the window, or if a
/// fragment the view must rebuild is not laid out as our recorder writes them.
pub fn window<E>(
    file_len: u64,
    mut read_at: impl FnMut(u64, usize) -> Result<Vec<u8>, E>,
    start_secs: f64,
    end_secs: f64,
) -> Result<Option<Window>, E> {
    let mut at = 0u64;
    let mut scales: Vec<(u32, u32)> = Vec::new();
    let mut ftyp: Option<(u64, u64)> = None;
    let mut moov: Option<(u64, u64)> = None;
    // Fragments since the last sync start before the window, then those kept: (moof, its
    // mdat's range).
    let mut lead: Vec<(Frag, u64, u64)> = Vec::new();
    let mut kept: Vec<(Frag, u64, u64)> = Vec::new();
    let mut pending: Option<Frag> = None;
    while at < file_len {
        let head = read_at(at, 16)?;
        let Some(h) = parse_header(&head, file_len - at) else {
            break;
        };
        let Ok(len) = usize::try_from(h.total_len) else {
            break;
        };
        let hl = h.header_len as usize;
        match &h.kind {
            b"ftyp" if ftyp.is_none() => ftyp = Some((at, h.total_len)),
            b"moov" if ftyp.is_some() && moov.is_none() => {
                let body = read_at(at, len)?;
                if body.len() < len {
                    break;
                }
                scales = timescales(&body[hl..]);
                moov = Some((at, h.total_len));
            }
            b"moof" if moov.is_some() => {
                let moof = read_at(at, len)?;
                if moof.len() < len {
                    break;
                }
                let secs = |id: u32, ticks: u64| {
                    scales
                        .iter()
                        .find(|(i, _)| *i == id)
                        .map(|(_, s)| ticks as f64 / f64::from(*s))
                };
                let start = fragment_starts(&moof[hl..])
                    .iter()
                    .filter_map(|(id, t)| secs(*id, *t))
                    .fold(f64::MAX, f64::min);
                let end = fragment_ends(&moof[hl..])
                    .iter()
                    .filter_map(|(id, t)| secs(*id, *t))
                    .fold(0.0, f64::max);
                let sync_start = opens_on_sync(&moof[hl..]);
                pending = Some(Frag {
                    moof,
                    header_len: hl,
                    start,
                    end,
                    sync_start,
                });
            }
            b"mdat" => {
                if let Some(frag) = pending.take() {
                    let overlaps = frag.start < end_secs && frag.end > start_secs;
                    if overlaps {
                        if kept.is_empty() && !frag.sync_start {
                            kept.append(&mut lead);
                        }
                        kept.push((frag, at, h.total_len));
                    } else if kept.is_empty() {
                        if frag.sync_start {
                            lead.clear();
                        }
                        if frag.sync_start || !lead.is_empty() {
                            lead.push((frag, at, h.total_len));
                        }
                    }
                }
            }
            _ => {}
        }
        at += h.total_len;
    }
    let (Some((ftyp_at, ftyp_len)), Some((moov_at, moov_len))) = (ftyp, moov) else {
        return Ok(None);
    };
    if kept.is_empty() {
        return Ok(None);
    }
    let from = kept[0].0.start;
    let to = kept.iter().map(|(f, _, _)| f.end).fold(0.0, f64::max);
    let scale_of = |id: u32| scales.iter().find(|(i, _)| *i == id).map_or(1, |(_, s)| *s);
    let ticks = |secs: f64, id: u32| (secs.max(0.0) * f64::from(scale_of(id))).round() as u64;
    // The head: every fragment that starts before the window; the tail: the last one, when it
    // runs past the window's end. Both are rebuilt from their samples.
    let head_count = kept
        .iter()
        .take_while(|(f, _, _)| f.start < start_secs)
        .count()
        .max(1);
    let tail = kept.len() > head_count && kept.last().is_some_and(|(f, _, _)| f.end > end_secs);
    let mut cut = Cut::default();
    let mut pieces = vec![
        Piece::File {
            offset: ftyp_at,
            len: ftyp_len,
        },
        Piece::File {
            offset: moov_at,
            len: moov_len,
        },
    ];
    let mut sequence = 1u32;
    let mut head_runs: Vec<(u32, Vec<(u64, Sample)>)> = Vec::new();
    for (frag, mdat_at, mdat_len) in &kept[..head_count] {
        let Some(runs) = read_runs(frag, *mdat_at, *mdat_len, &mut read_at)? else {
            return Ok(None);
        };
        for (id, samples) in runs {
            match head_runs.iter_mut().find(|(i, _)| *i == id) {
                Some((_, all)) => all.extend(samples),
                None => head_runs.push((id, samples)),
            }
        }
    }
    let runs = cut.rebuild(&head_runs, |id| {
        (ticks(start_secs, id), ticks(end_secs, id))
    });
    if let Some(bytes) = fragment(sequence, &runs) {
        pieces.push(Piece::Bytes(bytes));
        sequence += 1;
    }
    // A window that starts on a fragment boundary has no sample of the window in the head:
    // its tracks' clocks are fixed here, so the fragments after start right after the lead-in.
    for (id, _) in &scales {
        cut.settle(*id, ticks(start_secs, *id));
    }
    let middle_end = if tail { kept.len() - 1 } else { kept.len() };
    for (frag, mdat_at, mdat_len) in kept.iter().take(middle_end).skip(head_count) {
        let mut moof = frag.moof.clone();
        let hl = frag.header_len;
        retime(&mut moof[hl..], |id, t| {
            let offset = cut
                .offsets
                .iter()
                .find(|(i, _)| *i == id)
                .map_or(0, |(_, o)| *o);
            (i128::from(t) - i128::from(offset)).max(0) as u64
        });
        pieces.push(Piece::Bytes(moof));
        pieces.push(Piece::File {
            offset: *mdat_at,
            len: *mdat_len,
        });
        sequence += 1;
    }
    if tail && let Some((frag, mdat_at, mdat_len)) = kept.last() {
        let Some(runs) = read_runs(frag, *mdat_at, *mdat_len, &mut read_at)? else {
            return Ok(None);
        };
        let runs = cut.rebuild(&runs, |id| (ticks(start_secs, id), ticks(end_secs, id)));
        if let Some(bytes) = fragment(sequence, &runs) {
            pieces.push(Piece::Bytes(bytes));
        }
    }
    Ok(Some(Window {
        pieces,
        from_secs: from,
        to_secs: to,
    }))
}

/// The samples of a fragment with their original start times: (track id, [(time, sample)]).
type Runs = Vec<(u32, Vec<(u64, Sample)>)>;

/// Reads a fragment's `mdat` and splits it into its tracks' samples; `None` if its `trun`s
/// are not what our recorder writes (data offsets from the `moof`, sizes and durations).
fn read_runs<E>(
    frag: &Frag,
    mdat_at: u64,
    mdat_len: u64,
    read_at: &mut impl FnMut(u64, usize) -> Result<Vec<u8>, E>,
) -> Result<Option<Runs>, E> {
    let Ok(len) = usize::try_from(mdat_len) else {
        return Ok(None);
    };
    let mdat = read_at(mdat_at, len)?;
    if mdat.len() < len {
        return Ok(None);
    }
    // Data offsets count from the moof's first byte, and the mdat follows the moof.
    let mut all = frag.moof.clone();
    all.extend_from_slice(&mdat);
    let mut out: Runs = Vec::new();
    let mut ok = true;
    children(&frag.moof[frag.header_len..], |kind, traf| {
        if &kind != b"traf" || !ok {
            return;
        }
        let (mut id, mut base) = (None, None);
        let mut samples = Vec::new();
        children(traf, |kind, b| match &kind {
            b"tfhd" => {
                id = be_u32(b, 4);
                // Only default-base-is-moof with no explicit base offset is ours.
                if be_u32(b, 0).is_none_or(|f| f & 0x1 != 0) {
                    ok = false;
                }
            }
            b"tfdt" => base = tfdt_value(b),
            b"trun" => {
                let Some(flags) = be_u32(b, 0).map(|v| v & 0x00ff_ffff) else {
                    ok = false;
                    return;
                };
                let need = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE;
                if flags & need != need {
                    ok = false;
                    return;
                }
                let count = be_u32(b, 4).unwrap_or(0);
                let mut p = 8;
                let Some(offset) = be_u32(b, p).map(|v| v as i32) else {
                    ok = false;
                    return;
                };
                p += 4;
                let first_flags = if flags & 0x000004 != 0 {
                    let f = be_u32(b, p);
                    p += 4;
                    f
                } else {
                    None
                };
                let mut data_at = usize::try_from(offset).unwrap_or(usize::MAX);
                for n in 0..count {
                    let duration = be_u32(b, p);
                    let size = be_u32(b, p + 4);
                    p += 8;
                    let mut sample_flags = None;
                    if flags & TRUN_FLAGS != 0 {
                        sample_flags = be_u32(b, p);
                        p += 4;
                    }
                    if flags & 0x000800 != 0 {
                        p += 4;
                    }
                    let (Some(duration), Some(size)) = (duration, size) else {
                        ok = false;
                        return;
                    };
                    let end = data_at.saturating_add(size as usize);
                    let Some(data) = all.get(data_at..end) else {
                        ok = false;
                        return;
                    };
                    let f = if n == 0 {
                        first_flags.or(sample_flags)
                    } else {
                        sample_flags
                    };
                    samples.push(Sample {
                        duration,
                        data: Bytes::copy_from_slice(data),
                        sync: f.is_none_or(|f| f & 0x0001_0000 == 0),
                    });
                    data_at = end;
                }
            }
            _ => {}
        });
        let (Some(id), Some(base)) = (id, base) else {
            ok = false;
            return;
        };
        let mut t = base;
        let timed: Vec<(u64, Sample)> = samples
            .into_iter()
            .map(|s| {
                let at = t;
                t += u64::from(s.duration);
                (at, s)
            })
            .collect();
        out.push((id, timed));
    });
    Ok(ok.then_some(out))
}

/// The view's time line, per track: what was decided at its start applies to its end.
#[derive(Debug, Default)]
struct Cut {
    /// (track id, original time − view time) of the samples inside the window.
    offsets: Vec<(u32, i64)>,
    /// (track id, the view's next time).
    next: Vec<(u32, u64)>,
}

impl Cut {
    /// Fixes track `id`'s clock if no sample of the window has yet: the window's start
    /// (`start`, in its ticks) lands where the view has got to.
    fn settle(&mut self, id: u32, start: u64) {
        if self.offsets.iter().any(|(i, _)| *i == id) {
            return;
        }
        let next = self
            .next
            .iter()
            .find(|(i, _)| *i == id)
            .map_or(0, |(_, n)| *n);
        self.offsets.push((id, start as i64 - next as i64));
    }

    /// The samples of `runs` that the view shows, re-timed; `window(id)` is the window in the
    /// track's ticks.
    fn rebuild(&mut self, runs: &Runs, window: impl Fn(u32) -> (u64, u64)) -> Vec<TrackRun> {
        let mut out = Vec::new();
        for (id, samples) in runs {
            let (start, end) = window(*id);
            // A track whose every sample is a sync sample (audio) needs no lead-in.
            let droppable = samples.iter().all(|(_, s)| s.sync);
            let mut next = self.next.iter().find(|(i, _)| i == id).map(|(_, n)| *n);
            let mut offset = self.offsets.iter().find(|(i, _)| i == id).map(|(_, o)| *o);
            let mut kept: Vec<Sample> = Vec::new();
            let mut base = None;
            for (t, s) in samples {
                let (t, d, mut s) = (*t, u64::from(s.duration), s.clone());
                if t >= end {
                    break;
                }
                let before = t + d <= start;
                if before && droppable {
                    continue;
                }
                let out_t = if before {
                    // A lead-in frame, decoded but not seen: one tick.
                    let at = next.unwrap_or(0);
                    s.duration = 1;
                    next = Some(at + 1);
                    at
                } else {
                    // The window's first sample lands right after the lead-in; every one
                    // after keeps its place on the original clock, cut to the window.
                    let o = *offset.get_or_insert(start as i64 - next.unwrap_or(0) as i64);
                    let (from, to) = (t.max(start), (t + d).min(end));
                    s.duration = u32::try_from(to - from).unwrap_or(u32::MAX).max(1);
                    let at = (from as i64 - o).max(0) as u64;
                    next = Some(at + u64::from(s.duration));
                    at
                };
                base.get_or_insert(out_t);
                kept.push(s);
            }
            if let Some(n) = next {
                match self.next.iter_mut().find(|(i, _)| i == id) {
                    Some((_, v)) => *v = n,
                    None => self.next.push((*id, n)),
                }
            }
            if let Some(o) = offset
                && !self.offsets.iter().any(|(i, _)| i == id)
            {
                self.offsets.push((*id, o));
            }
            if let Some(base_time) = base {
                out.push(TrackRun {
                    track_id: *id,
                    base_time,
                    samples: kept,
                });
            }
        }
        out
    }
}

/// Whether every `traf` of a `moof` body opens on a sync sample (a `trun` without sample
/// flags follows the track's defaults, which for our files are sync: Opus).
fn opens_on_sync(moof: &[u8]) -> bool {
    let mut all = true;
    children(moof, |kind, traf| {
        if &kind != b"traf" {
            return;
        }
        let mut first_trun = true;
        children(traf, |kind, b| {
            if &kind != b"trun" || !first_trun {
                return;
            }
            first_trun = false;
            let Some(flags) = be_u32(b, 0).map(|v| v & 0x00ff_ffff) else {
                return;
            };
            let mut p = 8;
            if flags & TRUN_DATA_OFFSET != 0 {
                p += 4;
            }
            let first = if flags & 0x000004 != 0 {
                be_u32(b, p)
            } else if flags & TRUN_FLAGS != 0 {
                // Sample 0's fields: duration, size, then flags.
                let before = [TRUN_DURATION, TRUN_SIZE]
                    .iter()
                    .filter(|&&f| flags & f != 0)
                    .count();
                be_u32(b, p + 4 * before)
            } else {
                None
            };
            // ISO 14496-12 §8.8.3.1: bit 16 of the sample flags is sample_is_non_sync_sample.
            if first.is_some_and(|f| f & 0x0001_0000 != 0) {
                all = false;
            }
        });
    });
    all
}

/// Start time in ticks of each `traf` of a `moof`: (track id, tfdt).
fn fragment_starts(moof: &[u8]) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    children(moof, |kind, traf| {
        if &kind != b"traf" {
            return;
        }
        let (mut id, mut base) = (None, None);
        children(traf, |kind, b| match &kind {
            b"tfhd" => id = be_u32(b, 4),
            b"tfdt" => base = tfdt_value(b),
            _ => {}
        });
        if let (Some(id), Some(base)) = (id, base) {
            out.push((id, base));
        }
    });
    out
}

fn tfdt_value(b: &[u8]) -> Option<u64> {
    if b.first() == Some(&1) {
        be_u64(b, 4)
    } else {
        be_u32(b, 4).map(u64::from)
    }
}

/// Rewrites, in place, the `tfdt` of every `traf` of a `moof` body with `f(track id, tfdt)`.
fn retime(moof: &mut [u8], f: impl Fn(u32, u64) -> u64) {
    // Offsets of (traf body start, traf body end) first, then patch: `children` lends slices.
    let mut trafs = Vec::new();
    let mut at = 0usize;
    while at < moof.len() {
        let Some(h) = parse_header(&moof[at..], (moof.len() - at) as u64) else {
            return;
        };
        let (hl, tl) = (h.header_len as usize, h.total_len as usize);
        if &h.kind == b"traf" {
            trafs.push((at + hl, at + tl));
        }
        at += tl;
    }
    for (start, end) in trafs {
        let traf = &moof[start..end];
        let (mut id, mut tfdt_at) = (None, None);
        let mut p = 0usize;
        while p < traf.len() {
            let Some(h) = parse_header(&traf[p..], (traf.len() - p) as u64) else {
                break;
            };
            let (hl, tl) = (h.header_len as usize, h.total_len as usize);
            match &h.kind {
                b"tfhd" => id = be_u32(&traf[p + hl..p + tl], 4),
                b"tfdt" => tfdt_at = Some((start + p + hl, tl - hl)),
                _ => {}
            }
            p += tl;
        }
        let (Some(id), Some((body, body_len))) = (id, tfdt_at) else {
            continue;
        };
        let Some(old) = tfdt_value(&moof[body..body + body_len]) else {
            continue;
        };
        let new = f(id, old);
        if moof[body] == 1 {
            moof[body + 4..body + 12].copy_from_slice(&new.to_be_bytes());
        } else {
            let v = u32::try_from(new).unwrap_or(u32::MAX);
            moof[body + 4..body + 8].copy_from_slice(&v.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opus_track() -> Track {
        Track {
            id: 1,
            kind: TrackKind::Opus {
                channels: 1,
                pre_skip: 312,
                input_rate: 48_000,
            },
        }
    }

    /// Finds the first box of `kind` anywhere under `b` (depth first), for assertions.
    fn find<'a>(b: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
        let (first, rest) = path.split_first()?;
        let mut found = None;
        children(b, |kind, body| {
            if found.is_none() && &kind == *first {
                found = Some(body);
            }
        });
        let body = found?;
        if rest.is_empty() {
            Some(body)
        } else {
            // Sample entries have fixed fields before their child boxes.
            let skip = match *first {
                b"stsd" => 8,
                b"Opus" => 28,
                b"avc1" => 78,
                b"dref" => 8,
                _ => 0,
            };
            find(body.get(skip..)?, rest)
        }
    }

    #[test]
    fn init_segment_has_ftyp_moov_mvex_and_a_dops_box() {
        let init = init_segment(&[opus_track()]);
        assert_eq!(&init[4..8], b"ftyp");
        let ftyp_len = u32::from_be_bytes(init[..4].try_into().unwrap()) as usize;
        assert_eq!(&init[ftyp_len + 4..ftyp_len + 8], b"moov");
        assert_eq!(
            ftyp_len + be_u32(&init, ftyp_len).unwrap() as usize,
            init.len()
        );
        let moov = &init[ftyp_len + 8..];
        let trex = find(moov, &[b"mvex", b"trex"]).expect("trex");
        assert_eq!(be_u32(trex, 4), Some(1), "trex names track 1");
        let dops = find(
            moov,
            &[
                b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"Opus", b"dOps",
            ],
        )
        .expect("dOps");
        // version 0, 1 channel, pre-skip 312 big-endian, 48000 Hz, gain 0, family 0.
        assert_eq!(dops, &[0, 1, 0x01, 0x38, 0, 0, 0xbb, 0x80, 0, 0, 0]);
        let mdhd = find(moov, &[b"trak", b"mdia", b"mdhd"]).unwrap();
        assert_eq!(be_u32(mdhd, 12), Some(48_000));
        assert_eq!(timescales(moov), vec![(1, 48_000)]);
    }

    #[test]
    fn avc1_sample_entry_carries_the_parameter_sets() {
        let sps = vec![0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01];
        let pps = vec![0x68, 0xce, 0x3c, 0x80];
        let init = init_segment(&[Track {
            id: 2,
            kind: TrackKind::H264 {
                width: 1280,
                height: 720,
                sps: sps.clone(),
                pps: pps.clone(),
            },
        }]);
        let moov = find(&init, &[b"moov"]).unwrap();
        let avcc = find(
            moov,
            &[
                b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"avc1", b"avcC",
            ],
        )
        .expect("avcC");
        assert_eq!(&avcc[..6], &[1, 0x42, 0xc0, 0x1f, 0xff, 0xe1]);
        assert_eq!(&avcc[6..8], &(sps.len() as u16).to_be_bytes());
        assert_eq!(&avcc[8..8 + sps.len()], &sps[..]);
        assert_eq!(avcc[8 + sps.len()], 1);
        assert_eq!(&avcc[11 + sps.len()..], &pps[..]);
        let tkhd = find(moov, &[b"trak", b"tkhd"]).unwrap();
        assert_eq!(be_u32(tkhd, 76), Some(1280 << 16));
        assert_eq!(timescales(moov), vec![(2, 90_000)]);
    }

    fn samples(n: usize, len: usize) -> Vec<Sample> {
        (0..n)
            .map(|i| Sample {
                duration: 960,
                data: Bytes::from(vec![i as u8; len]),
                sync: true,
            })
            .collect()
    }

    #[test]
    fn fragment_data_offset_points_at_the_first_sample_in_mdat() {
        let frag = fragment(
            7,
            &[TrackRun {
                track_id: 1,
                base_time: 48_000,
                samples: samples(3, 5),
            }],
        )
        .unwrap();
        let moof_len = be_u32(&frag, 0).unwrap() as usize;
        assert_eq!(&frag[moof_len + 4..moof_len + 8], b"mdat");
        let moof = &frag[8..moof_len];
        assert_eq!(find(moof, &[b"mfhd"]).map(|b| be_u32(b, 4)), Some(Some(7)));
        let tfdt = find(moof, &[b"traf", b"tfdt"]).unwrap();
        assert_eq!(tfdt[0], 1, "64-bit tfdt");
        assert_eq!(be_u64(tfdt, 4), Some(48_000));
        let trun = find(moof, &[b"traf", b"trun"]).unwrap();
        assert_eq!(be_u32(trun, 4), Some(3));
        let offset = be_u32(trun, 8).unwrap() as usize;
        assert_eq!(offset, moof_len + 8);
        assert_eq!(&frag[offset..offset + 5], &[0; 5]);
        assert_eq!(&frag[offset + 5..offset + 10], &[1; 5]);
        assert_eq!(frag.len(), moof_len + 8 + 15);
        assert_eq!(trun_duration(trun), 3 * 960);
        assert_eq!(fragment_ends(moof), vec![(1, 48_000 + 3 * 960)]);
    }

    #[test]
    fn two_tracks_share_one_mdat_track_after_track() {
        let video = TrackRun {
            track_id: 2,
            base_time: 0,
            samples: vec![Sample {
                duration: 3000,
                data: Bytes::from_static(b"VIDEO"),
                sync: true,
            }],
        };
        let audio = TrackRun {
            track_id: 1,
            base_time: 0,
            samples: samples(2, 3),
        };
        let frag = fragment(1, &[audio, video]).unwrap();
        let moof_len = be_u32(&frag, 0).unwrap() as usize;
        let mut offsets = Vec::new();
        children(&frag[8..moof_len], |kind, traf| {
            if &kind == b"traf" {
                children(traf, |kind, b| {
                    if &kind == b"trun" {
                        offsets.push(be_u32(b, 8).unwrap() as usize);
                    }
                });
            }
        });
        assert_eq!(offsets, vec![moof_len + 8, moof_len + 8 + 6]);
        assert_eq!(&frag[offsets[1]..offsets[1] + 5], b"VIDEO");
    }

    #[test]
    fn empty_runs_make_no_fragment() {
        let empty = TrackRun {
            track_id: 1,
            base_time: 0,
            samples: Vec::new(),
        };
        assert_eq!(fragment(1, &[empty]), None);
    }

    fn file(fragments: u32) -> Vec<u8> {
        let mut f = init_segment(&[opus_track()]);
        for i in 0..fragments {
            f.extend(
                fragment(
                    i + 1,
                    &[TrackRun {
                        track_id: 1,
                        base_time: u64::from(i) * 48_000,
                        samples: samples(50, 40),
                    }],
                )
                .unwrap(),
            );
        }
        f
    }

    #[test]
    fn scan_finds_every_fragment_and_the_duration() {
        let f = file(3);
        let s = scan_bytes(&f);
        assert!(s.has_init);
        assert_eq!(s.fragments, 3);
        assert_eq!(s.valid_len, f.len() as u64);
        assert!((s.duration_secs - 3.0).abs() < 1e-9, "{}", s.duration_secs);
    }

    #[test]
    fn scan_of_a_cut_file_stops_at_the_last_complete_fragment() {
        let two = file(2).len();
        let f = file(3);
        for cut in [two + 1, two + 20, f.len() - 1] {
            let s = scan_bytes(&f[..cut]);
            assert_eq!(s.fragments, 2, "cut at {cut}");
            assert_eq!(s.valid_len, two as u64);
            assert!((s.duration_secs - 2.0).abs() < 1e-9);
        }
        let init = init_segment(&[opus_track()]);
        let s = scan_bytes(&f[..init.len() + 3]);
        assert_eq!((s.fragments, s.valid_len), (0, init.len() as u64));
        let s = scan_bytes(&f[..init.len() - 1]);
        assert!(!s.has_init);
        assert_eq!(s.valid_len, 0);
    }

    #[test]
    fn scan_never_panics_on_garbage() {
        let f = file(2);
        let mut rng = 0x1234_5678u32;
        for _ in 0..2000 {
            let mut g = f.clone();
            for _ in 0..4 {
                rng = rng.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let i = (rng as usize) % g.len();
                g[i] = (rng >> 24) as u8;
            }
            let s = scan_bytes(&g);
            assert!(s.valid_len <= g.len() as u64);
        }
        assert_eq!(scan_bytes(&[]), Scan::default());
        assert_eq!(scan_bytes(&[0, 0, 0, 1, b'f']), Scan::default());
    }

    /// The bytes of a windowed view of `file`.
    fn assemble(w: &Window, file: &[u8]) -> Vec<u8> {
        let mut view = Vec::new();
        for p in &w.pieces {
            match p {
                Piece::Bytes(b) => view.extend_from_slice(b),
                Piece::File { offset, len } => {
                    view.extend_from_slice(&file[*offset as usize..(*offset + *len) as usize])
                }
            }
        }
        view
    }

    #[test]
    fn a_window_keeps_the_fragments_it_overlaps_and_starts_them_at_zero() {
        // Ten one-second fragments of Opus (48 kHz: 50 samples of 960 ticks each).
        let track = opus_track();
        let mut file = init_segment(std::slice::from_ref(&track));
        for n in 0..10u32 {
            let samples = (0..50)
                .map(|i| Sample {
                    duration: 960,
                    data: Bytes::from(vec![n as u8, i as u8 + 100]),
                    sync: true,
                })
                .collect();
            let run = TrackRun {
                track_id: 1,
                base_time: u64::from(n) * 48_000,
                samples,
            };
            file.extend(fragment(n + 1, &[run]).unwrap());
        }
        let read = |offset: u64, len: usize| -> Result<Vec<u8>, std::convert::Infallible> {
            let a = (offset as usize).min(file.len());
            Ok(file[a..(a + len).min(file.len())].to_vec())
        };
        let w = window(file.len() as u64, read, 2.5, 5.2).unwrap().unwrap();
        // Fragments 2, 3, 4 and 5 (seconds 2–6) overlap 2.5–5.2 (audio: all sync).
        assert_eq!((w.from_secs, w.to_secs), (2.0, 6.0));
        let view = assemble(&w, &file);
        let scan = scan_bytes(&view);
        assert!(scan.has_init);
        assert_eq!(scan.valid_len, view.len() as u64);
        // Exactly the window, from 0: 2.7 s.
        assert!(
            (scan.duration_secs - 2.7).abs() < 1e-9,
            "{}",
            scan.duration_secs
        );
        // From fragment 2's 25th packet (2.50 s) to fragment 5's 9th (5.18–5.20 s).
        let has = |n: u8, i: u8| view.windows(2).any(|w| w == [n, 100 + i]);
        assert!(has(2, 25) && !has(2, 24), "starts at 2.5 s");
        assert!(has(3, 0) && has(4, 49), "the middle, whole");
        assert!(has(5, 9) && !has(5, 10), "ends at 5.2 s");
        // Nothing in the window: no view; a window covering all of it: every fragment.
        assert_eq!(window(file.len() as u64, read, 20.0, 30.0).unwrap(), None);
        let all = window(file.len() as u64, read, 0.0, 10.0).unwrap().unwrap();
        assert!((scan_bytes(&assemble(&all, &file)).duration_secs - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_window_with_video_starts_on_the_last_keyframe_before_it() {
        let audio = opus_track();
        let video = Track {
            id: 2,
            kind: TrackKind::H264 {
                width: 320,
                height: 240,
                sps: vec![0x67, 0x42, 0xe0, 0x1f],
                pps: vec![0x68, 0xce, 0x3c, 0x80],
            },
        };
        let mut file = init_segment(&[audio, video]);
        // Ten one-second fragments; the video opens on a keyframe in fragments 0, 4 and 8.
        for n in 0..10u32 {
            let audio = TrackRun {
                track_id: 1,
                base_time: u64::from(n) * 48_000,
                samples: (0..50)
                    .map(|_| Sample {
                        duration: 960,
                        data: Bytes::from_static(&[1]),
                        sync: true,
                    })
                    .collect(),
            };
            let video = TrackRun {
                track_id: 2,
                base_time: u64::from(n) * 90_000,
                samples: (0..15)
                    .map(|i| Sample {
                        duration: 6000,
                        data: Bytes::from(vec![n as u8, 200]),
                        sync: i == 0 && n % 4 == 0,
                    })
                    .collect(),
            };
            file.extend(fragment(n + 1, &[audio, video]).unwrap());
        }
        let read = |offset: u64, len: usize| -> Result<Vec<u8>, std::convert::Infallible> {
            let a = (offset as usize).min(file.len());
            Ok(file[a..(a + len).min(file.len())].to_vec())
        };
        // 6.5–7.5 s: the last keyframe before is at 4 s: fragments 4–7 are served.
        let w = window(file.len() as u64, read, 6.5, 7.5).unwrap().unwrap();
        assert_eq!((w.from_secs, w.to_secs), (4.0, 8.0));
        let view = assemble(&w, &file);
        let scan = scan_bytes(&view);
        // Audio: exactly 1 s; video: the 37 frames of 4.0–6.47 s as one tick each, then 1 s.
        assert!(
            (scan.duration_secs - (1.0 + 37.0 / 90_000.0)).abs() < 1e-9,
            "{}",
            scan.duration_secs
        );
        assert!(
            view.windows(2).any(|w| w == [4, 200]),
            "the keyframe's fragment leads in"
        );
        assert!(!view.windows(2).any(|w| w == [3, 200]), "nothing before it");
        assert!(
            !view.windows(2).any(|w| w == [8, 200]),
            "nothing after the window"
        );
        // A window starting on a keyframe fragment needs no lead-in.
        let w = window(file.len() as u64, read, 8.2, 9.0).unwrap().unwrap();
        assert_eq!(w.from_secs, 8.0);
    }

    #[test]
    fn a_window_starting_on_a_fragment_boundary_starts_at_zero_too() {
        let video = Track {
            id: 2,
            kind: TrackKind::H264 {
                width: 320,
                height: 240,
                sps: vec![0x67, 0x42, 0xe0, 0x1f],
                pps: vec![0x68, 0xce, 0x3c, 0x80],
            },
        };
        let mut file = init_segment(&[opus_track(), video]);
        // The only keyframe is at 0: a window from 2.0 s leads in with fragments 0 and 1,
        // none of whose samples is in the window.
        for n in 0..6u32 {
            let audio = TrackRun {
                track_id: 1,
                base_time: u64::from(n) * 48_000,
                samples: (0..50)
                    .map(|_| Sample {
                        duration: 960,
                        data: Bytes::from_static(&[1]),
                        sync: true,
                    })
                    .collect(),
            };
            let video = TrackRun {
                track_id: 2,
                base_time: u64::from(n) * 90_000,
                samples: (0..15)
                    .map(|i| Sample {
                        duration: 6000,
                        data: Bytes::from_static(&[2]),
                        sync: n == 0 && i == 0,
                    })
                    .collect(),
            };
            file.extend(fragment(n + 1, &[audio, video]).unwrap());
        }
        let read = |offset: u64, len: usize| -> Result<Vec<u8>, std::convert::Infallible> {
            let a = (offset as usize).min(file.len());
            Ok(file[a..(a + len).min(file.len())].to_vec())
        };
        let w = window(file.len() as u64, read, 2.0, 4.0).unwrap().unwrap();
        assert_eq!(w.from_secs, 0.0);
        let scan = scan_bytes(&assemble(&w, &file));
        // 2 s, and the 30 lead-in frames' 30 ticks.
        let want = 2.0 + 30.0 / 90_000.0;
        assert!(
            (scan.duration_secs - want).abs() < 1e-9,
            "{}",
            scan.duration_secs
        );
    }
}
