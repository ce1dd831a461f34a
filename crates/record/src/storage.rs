//! Where recording files live: a [`Storage`] backend (the local filesystem now; an
//! S3-compatible one later implements the same trait), the [`RecordingFile`] that appends
//! fragments while hashing them, and [`recover`] for files a crash left behind.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::mp4::{self, Scan};

/// A file's name in the store, made from the recording's id only: room numbers and titles
/// never reach a path, so nothing an organizer types can escape the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey(String);

impl FileKey {
    /// `rec-<id>.mp4`.
    pub fn for_recording(id: i64) -> Self {
        Self(format!("rec-{id:08}.mp4"))
    }

    /// A key read back from the database: only `[a-z0-9._-]`, no leading dot, at most 64.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The meeting's chat saved beside a recording: `rec-<id>.chat.txt` for `rec-<id>.mp4`.
    pub fn chat(&self) -> Self {
        Self(pont_types::chat_file_name(&self.0))
    }
}

/// Appends to one file; each call's bytes reach the operating system before it returns, so a
/// killed process leaves them in the file.
pub trait Appender: Send {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Asks for the data on disk (power loss; a killed process does not need it).
    fn sync(&mut self) -> io::Result<()>;
}

/// A place for recording files.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// A new, empty file (an existing one is truncated).
    fn create(&self, key: &FileKey) -> io::Result<Box<dyn Appender>>;
    fn len(&self, key: &FileKey) -> io::Result<u64>;
    /// Up to `len` bytes at `offset` (fewer at the end of the file).
    fn read_at(&self, key: &FileKey, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    /// Cuts the file to `len` bytes.
    fn truncate(&self, key: &FileKey, len: u64) -> io::Result<()>;
    /// A local path to serve the file from, if the backend has one.
    fn local_path(&self, key: &FileKey) -> Option<PathBuf>;
}

/// Files in one folder (`<data>/recordings`).
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    /// Uses (and creates) `root`.
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &FileKey) -> PathBuf {
        self.root.join(&key.0)
    }
}

struct LocalAppender(File);

impl Appender for LocalAppender {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        // Unbuffered: one write per fragment, in the page cache when this returns.
        self.0.write_all(bytes)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl Storage for LocalStorage {
    fn create(&self, key: &FileKey) -> io::Result<Box<dyn Appender>> {
        let f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(self.path(key))?;
        Ok(Box::new(LocalAppender(f)))
    }

    fn len(&self, key: &FileKey) -> io::Result<u64> {
        Ok(std::fs::metadata(self.path(key))?.len())
    }

    fn read_at(&self, key: &FileKey, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut f = File::open(self.path(key))?;
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::with_capacity(len.min(1 << 24));
        f.take(len as u64).read_to_end(&mut buf)?;
        Ok(buf)
    }

    fn truncate(&self, key: &FileKey, len: u64) -> io::Result<()> {
        let f = OpenOptions::new().write(true).open(self.path(key))?;
        f.set_len(len)?;
        f.sync_all()
    }

    fn local_path(&self, key: &FileKey) -> Option<PathBuf> {
        Some(self.path(key))
    }
}

/// A recording's file being written: every chunk appended whole, counted and hashed.
pub struct RecordingFile {
    out: Box<dyn Appender>,
    hasher: Sha256,
    size: u64,
}

impl std::fmt::Debug for RecordingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingFile")
            .field("size", &self.size)
            .finish()
    }
}

impl RecordingFile {
    pub fn create(storage: &dyn Storage, key: &FileKey) -> io::Result<Self> {
        Ok(Self {
            out: storage.create(key)?,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Appends a chunk from [`crate::Recorder::poll_output`]. On error the chunk may be partly
    /// written: the file stays playable up to the previous chunk ([`recover`] cuts the rest).
    pub fn append(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.out.append(chunk)?;
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        Ok(())
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.out.sync()
    }

    /// Bytes appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Syncs and returns the size and the SHA-256 (hex) of everything appended.
    pub fn finish(mut self) -> io::Result<(u64, String)> {
        self.out.sync()?;
        Ok((self.size, hex(&self.hasher.finalize())))
    }
}

/// What [`recover`] made of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovered {
    pub scan: Scan,
    /// The file's size after recovery.
    pub size: u64,
    /// SHA-256 of the recovered file, hex.
    pub sha256: String,
    /// Whether bytes after the last complete fragment were cut off.
    pub truncated: bool,
}

/// Makes a file left by a crash playable: cut after its last complete fragment, then measure
/// and hash what remains.
pub fn recover(storage: &dyn Storage, key: &FileKey) -> io::Result<Recovered> {
    let len = storage.len(key)?;
    let scan = mp4::scan(len, |offset, n| storage.read_at(key, offset, n))?;
    let truncated = scan.valid_len < len;
    if truncated {
        storage.truncate(key, scan.valid_len)?;
    }
    let sha256 = hash(storage, key, scan.valid_len)?;
    Ok(Recovered {
        size: scan.valid_len,
        scan,
        sha256,
        truncated,
    })
}

/// SHA-256 (hex) of the first `len` bytes of a stored file.
pub fn hash(storage: &dyn Storage, key: &FileKey, len: u64) -> io::Result<String> {
    const CHUNK: usize = 1 << 20;
    let mut hasher = Sha256::new();
    let mut at = 0u64;
    while at < len {
        let want = usize::try_from(len - at).unwrap_or(CHUNK).min(CHUNK);
        let buf = storage.read_at(key, at, want)?;
        if buf.is_empty() {
            break;
        }
        hasher.update(&buf);
        at += buf.len() as u64;
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Recorder, RecorderConfig};
    use pont_types::Timestamp;

    #[test]
    fn keys_never_leave_the_folder() {
        assert_eq!(FileKey::for_recording(12).as_str(), "rec-00000012.mp4");
        for bad in [
            "../x.mp4",
            "a/b",
            "",
            ".hidden",
            "A.mp4",
            "x\0y",
            &"a".repeat(65),
        ] {
            assert_eq!(FileKey::parse(bad), None, "{bad:?}");
        }
        assert!(FileKey::parse("rec-00000012.mp4").is_some());
    }

    fn recorded(seconds: usize) -> Vec<bytes::Bytes> {
        let mut r = Recorder::new(RecorderConfig::default()).unwrap();
        let frame = vec![1000i16; 960];
        for _ in 0..seconds * 50 {
            r.handle_audio(Timestamp::ZERO, 48_000, &frame);
        }
        r.finish();
        std::iter::from_fn(|| r.poll_output()).collect()
    }

    #[test]
    fn a_written_file_hashes_the_same_when_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalStorage::new(dir.path().join("recordings")).unwrap();
        let key = FileKey::for_recording(1);
        let mut file = RecordingFile::create(&storage, &key).unwrap();
        for chunk in recorded(2) {
            file.append(&chunk).unwrap();
        }
        let (size, sha) = file.finish().unwrap();
        assert_eq!(storage.len(&key).unwrap(), size);
        assert_eq!(hash(&storage, &key, size).unwrap(), sha);
        assert_eq!(sha.len(), 64);
        let rec = recover(&storage, &key).unwrap();
        assert!(!rec.truncated);
        assert_eq!((rec.size, rec.sha256), (size, sha));
        assert!((rec.scan.duration_secs - 2.0).abs() < 1e-9);
    }

    #[test]
    fn recovery_cuts_a_torn_fragment() {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalStorage::new(dir.path()).unwrap();
        let key = FileKey::for_recording(2);
        let chunks = recorded(3);
        let whole: usize = chunks.iter().take(3).map(|c| c.len()).sum();
        let mut file = RecordingFile::create(&storage, &key).unwrap();
        for c in &chunks[..3] {
            file.append(c).unwrap();
        }
        // A crash in the middle of the third fragment's write.
        file.append(&chunks[3][..chunks[3].len() / 2]).unwrap();
        drop(file);
        let rec = recover(&storage, &key).unwrap();
        assert!(rec.truncated);
        assert_eq!(rec.size, whole as u64);
        assert_eq!(storage.len(&key).unwrap(), whole as u64);
        assert_eq!(rec.scan.fragments, 2);
        assert!((rec.scan.duration_secs - 2.0).abs() < 1e-9);
        // A second pass finds nothing more to cut.
        assert!(!recover(&storage, &key).unwrap().truncated);
    }
}
