//! pont's recorder: the sink that turns a room's mixed audio (and, next, its composed video)
//! into a crash-safe, browser-playable file, and the storage those files live in.
//!
//! What this crate owns:
//! - the container: fragmented MP4 ([`mp4`]) — an init segment (`ftyp` + `moov` with
//!   `mvex`), then self-contained `moof` + `mdat` fragments of at most one second; Opus in an
//!   `Opus`/`dOps` sample entry, H.264 in `avc1`/`avcC` (ready for the composed video);
//! - the [`Recorder`]: full-mix PCM at the mixer's rate in (resampled to 48 kHz, encoded as
//!   20 ms mono Opus), pause/resume with the paused time left out, file bytes out in order;
//! - the [`Storage`] backend trait (local filesystem now, [`LocalStorage`]; S3-compatible
//!   later), the [`RecordingFile`] that appends and hashes (SHA-256), and [`recover`], which cuts
//!   a file left by a crash after its last complete fragment and measures what remains.
//!
//! What it must never do: open a socket, read a clock, spawn a thread or task, or know about
//! SQL, HTTP or rooms. The [`Recorder`] is sans-IO (media and time in through `handle_*`, bytes
//! out through `poll_output`); file IO goes only through a [`Storage`] the caller hands in.
//! Metadata (titles, owners, statuses) lives in `pont-meet`'s database, not here.
#![forbid(unsafe_code)]

pub mod mp4;
mod recorder;
mod storage;

pub use recorder::{Recorder, RecorderConfig, RecorderState, RecorderStats, VideoConfig};
pub use storage::{
    Appender, FileKey, LocalStorage, RecordingFile, Recovered, Storage, hash, recover,
};

/// What can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The audio encoder could not be created.
    #[error("audio: {0}")]
    Audio(#[from] pont_audio::AudioError),
    /// Reading or writing a recording file failed.
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
}
