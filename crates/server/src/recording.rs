//! The recording service: start / pause / resume / stop per room, one writer thread per
//! recording (file IO never runs on the media task), the duration cap (close and start the
//! next), and recovery at start-up of recordings a crash left open.
//!
//! State changes are serialized by one control lock; the media task owns the recorder sinks
//! (`media::recording`), this service owns the database rows and the files.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pont_meet::{ClosedRecording, NewRecording, OrganizerId, RecordingId, RecordingStatus, Store};
use pont_record::{FileKey, LocalStorage, RecordingFile, Storage, recover};
use pont_types::RoomId;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::media::{MediaGone, MediaHandle, RecordQuery, RecorderNotice, StopReason, WriterMsg};

/// Folder of the recording files inside `--data`.
pub(crate) const RECORDINGS_DIR: &str = "recordings";
/// How often a writer asks for its file on disk (fsync): often enough that a power cut loses
/// little, rarely enough that many recordings do not queue on the disk. A killed process loses
/// nothing written, synced or not.
const SYNC_EVERY: Duration = Duration::from_secs(5);

/// An organizer's recording command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Start,
    Pause,
    Resume,
    Stop,
}

impl Action {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "start" => Some(Self::Start),
            "pause" => Some(Self::Pause),
            "resume" => Some(Self::Resume),
            "stop" => Some(Self::Stop),
            _ => None,
        }
    }
}

/// A room's recording state, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RoomRecording {
    /// "off", "recording" or "paused".
    pub(crate) state: &'static str,
    pub(crate) id: Option<RecordingId>,
}

/// Why a command was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ControlError {
    /// The command does not apply in the room's current state.
    #[error("{0}")]
    WrongState(String),
    #[error(transparent)]
    Media(#[from] MediaGone),
    #[error("{0}")]
    Internal(String),
}

#[derive(Debug, Clone, Copy)]
struct Active {
    id: RecordingId,
    owner: Option<OrganizerId>,
    paused: bool,
}

/// The recording service; cheap to clone.
#[derive(Clone)]
pub(crate) struct Recordings {
    inner: Arc<Inner>,
}

struct Inner {
    media: MediaHandle,
    storage: Arc<LocalStorage>,
    store: Arc<Mutex<Store>>,
    cap: Duration,
    empty_grace: Option<Duration>,
    /// When a new recording will be deleted (shown from its first second).
    retention: pont_meet::retention::Retention,
    control: tokio::sync::Mutex<()>,
    active: Mutex<HashMap<RoomId, Active>>,
    writers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    notices: mpsc::UnboundedSender<RecorderNotice>,
}

impl std::fmt::Debug for Recordings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recordings")
            .field("cap", &self.inner.cap)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing here is left half-updated by a panic: the data is plain maps and a connection.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Recordings {
    /// Starts the service (and its task that acts on cap notices).
    pub(crate) fn spawn(
        media: MediaHandle,
        storage: LocalStorage,
        store: Store,
        (cap, empty_grace): (Duration, Option<Duration>),
        retention: pont_meet::retention::Retention,
    ) -> Self {
        let (notices, mut rx) = mpsc::unbounded_channel();
        let watch = (media.clone(), notices.clone());
        let service = Self {
            inner: Arc::new(Inner {
                media,
                storage: Arc::new(storage),
                store: Arc::new(Mutex::new(store)),
                cap,
                empty_grace,
                retention,
                control: tokio::sync::Mutex::new(()),
                active: Mutex::new(HashMap::new()),
                writers: Mutex::new(Vec::new()),
                notices,
            }),
        };
        let weak = Arc::downgrade(&service.inner);
        tokio::spawn(async move {
            let (media, notices) = watch;
            if media.record(RecordQuery::Watch(notices)).await.is_err() {
                return;
            }
            while let Some(notice) = rx.recv().await {
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let service = Self { inner };
                match notice {
                    RecorderNotice::CapReached { room, id } => service.rotate(room, id).await,
                    RecorderNotice::RoomOccupied { room } => service.auto_start(room).await,
                    RecorderNotice::RoomEmpty { room, id } => {
                        service.stop_if(room, id, None).await;
                    }
                    RecorderNotice::WriteFailed { room, id, full } => {
                        let reason = if full {
                            StopReason::StorageFull
                        } else {
                            StopReason::StorageError
                        };
                        service.stop_if(room, id, Some(reason)).await;
                    }
                }
            }
        });
        service
    }

    pub(crate) fn storage(&self) -> &dyn Storage {
        &*self.inner.storage
    }

    /// The room's recording state.
    pub(crate) fn state(&self, room: RoomId) -> RoomRecording {
        match lock(&self.inner.active).get(&room) {
            Some(a) => RoomRecording {
                state: if a.paused { "paused" } else { "recording" },
                id: Some(a.id),
            },
            None => RoomRecording {
                state: "off",
                id: None,
            },
        }
    }

    async fn db<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut Store) -> Result<T, pont_meet::MeetError> + Send + 'static,
    ) -> Result<T, ControlError> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || op(&mut lock(&store)))
            .await
            .map_err(|e| ControlError::Internal(format!("store task: {e}")))?
            .map_err(|e| ControlError::Internal(format!("store: {e}")))
    }

    /// Applies an organizer's command to a room.
    pub(crate) async fn control(
        &self,
        room: RoomId,
        action: Action,
        organizer: OrganizerId,
    ) -> Result<RoomRecording, ControlError> {
        let _serialized = self.inner.control.lock().await;
        let current = lock(&self.inner.active).get(&room).copied();
        match (action, current) {
            (Action::Start, None) => self.start(room, Some(organizer)).await?,
            (Action::Pause, Some(a)) if !a.paused => {
                self.inner.media.record(RecordQuery::Pause(room)).await?;
                self.set_paused(room, true);
            }
            (Action::Resume, Some(a)) if a.paused => {
                self.inner.media.record(RecordQuery::Resume(room)).await?;
                self.set_paused(room, false);
            }
            (Action::Stop, Some(_)) => self.stop(room).await?,
            (action, current) => {
                let state = match current {
                    None => "off",
                    Some(a) if a.paused => "paused",
                    Some(_) => "recording",
                };
                return Err(ControlError::WrongState(format!(
                    "cannot {} a recording: the room's recording is {state}",
                    format!("{action:?}").to_lowercase()
                )));
            }
        }
        Ok(self.state(room))
    }

    fn set_paused(&self, room: RoomId, paused: bool) {
        if let Some(a) = lock(&self.inner.active).get_mut(&room) {
            a.paused = paused;
        }
    }

    async fn start(&self, room: RoomId, owner: Option<OrganizerId>) -> Result<(), ControlError> {
        self.start_part(room, owner, None).await
    }

    /// Starts a recording; `continues` is the one the cap just closed (its next part).
    async fn start_part(
        &self,
        room: RoomId,
        owner: Option<OrganizerId>,
        continues: Option<RecordingId>,
    ) -> Result<(), ControlError> {
        let now = crate::http::unix_now();
        let retention = self.inner.retention;
        let record = self
            .db(move |s| {
                let meeting = s.latest_meeting_in_room(room)?;
                let subject = meeting
                    .as_ref()
                    .map_or_else(|| format!("Room {room}"), |m| m.subject.clone());
                s.create_recording(
                    NewRecording {
                        room,
                        meeting: meeting.map(|m| m.id),
                        owner,
                        title: format!("{subject} — {}", utc_date(now)),
                        started_at: now,
                        continues,
                    },
                    |id| FileKey::for_recording(id.0).as_str().to_owned(),
                )
                .and_then(|rec| {
                    s.set_delete_at(rec.id, retention.delete_at(now))?;
                    Ok(rec)
                })
            })
            .await?;
        let id = record.id;
        let key = FileKey::for_recording(id.0);
        let file = RecordingFile::create(self.storage(), &key)
            .map_err(|e| ControlError::Internal(format!("cannot create {}: {e}", key.as_str())))?;
        let (tx, rx) = std_mpsc::channel();
        let writer = Writer {
            id,
            room,
            notices: self.inner.notices.clone(),
            key,
            file: Some(file),
            chat: None,
            storage: self.inner.storage.clone(),
            store: self.inner.store.clone(),
        };
        let handle = std::thread::Builder::new()
            .name(format!("rec-{}", id.0))
            .spawn(move || writer.run(rx))
            .map_err(|e| ControlError::Internal(format!("cannot start a writer: {e}")))?;
        lock(&self.inner.writers).push(handle);
        let (reply, answer) = oneshot::channel();
        self.inner
            .media
            .record(RecordQuery::Start {
                room,
                id: id.0,
                writer: tx,
                cap: self.inner.cap,
                empty_grace: self.inner.empty_grace,
                notices: self.inner.notices.clone(),
                reply,
            })
            .await?;
        // On refusal the writer's channel is gone: it closes the (empty) file as interrupted.
        answer
            .await
            .map_err(|_| MediaGone)?
            .map_err(ControlError::Internal)?;
        lock(&self.inner.active).insert(
            room,
            Active {
                id,
                owner,
                paused: false,
            },
        );
        info!(%room, recording = id.0, "recording started");
        Ok(())
    }

    async fn stop(&self, room: RoomId) -> Result<(), ControlError> {
        self.stop_for(room, None).await
    }

    async fn stop_for(&self, room: RoomId, reason: Option<StopReason>) -> Result<(), ControlError> {
        let Some(active) = lock(&self.inner.active).remove(&room) else {
            return Ok(());
        };
        let id = active.id;
        self.db(move |s| s.set_recording_status(id, RecordingStatus::Processing))
            .await?;
        let (reply, answer) = oneshot::channel();
        self.inner
            .media
            .record(RecordQuery::Stop(room, reason, reply))
            .await?;
        let duration = answer.await.map_err(|_| MediaGone)?;
        info!(%room, recording = id.0, ?duration, "recording stopped");
        Ok(())
    }

    /// The first participant joined: a meeting with the recording option starts recording,
    /// owned by its organizer.
    async fn auto_start(&self, room: RoomId) {
        let _serialized = self.inner.control.lock().await;
        if lock(&self.inner.active).contains_key(&room) {
            return;
        }
        let meeting = match self.db(move |s| s.latest_meeting_in_room(room)).await {
            Ok(Some(m)) if m.recording => m,
            Ok(_) => return,
            Err(e) => {
                warn!(%room, error = %e, "cannot look up the room's meeting");
                return;
            }
        };
        let owner = meeting.recording_owner.unwrap_or(meeting.organizer);
        match self.start(room, Some(owner)).await {
            Ok(()) => info!(%room, meeting = meeting.id.0, "recording started with the meeting"),
            Err(e) => warn!(%room, error = %e, "could not start the meeting's recording"),
        }
    }

    /// Stops recording `id` if it is still the room's (everyone left and stayed away, or the
    /// storage failed).
    async fn stop_if(&self, room: RoomId, id: i64, reason: Option<StopReason>) {
        let _serialized = self.inner.control.lock().await;
        if lock(&self.inner.active)
            .get(&room)
            .is_some_and(|a| a.id.0 == id)
            && let Err(e) = self.stop_for(room, reason).await
        {
            warn!(%room, error = %e, "could not stop the recording");
        }
    }

    /// The cap: close the recording and start the next one for the same owner.
    async fn rotate(&self, room: RoomId, id: i64) {
        let _serialized = self.inner.control.lock().await;
        let Some(active) = lock(&self.inner.active)
            .get(&room)
            .copied()
            .filter(|a| a.id.0 == id)
        else {
            return;
        };
        let result = match self.stop(room).await {
            Ok(()) => self.start_part(room, active.owner, Some(active.id)).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => info!(%room, previous = id, "recording cap: the next recording started"),
            Err(e) => warn!(%room, error = %e, "recording cap: could not start the next recording"),
        }
    }

    /// Shutdown: stops every recording and waits for the files to be closed.
    pub(crate) async fn stop_all(&self) {
        let _serialized = self.inner.control.lock().await;
        let rooms: Vec<RoomId> = lock(&self.inner.active).keys().copied().collect();
        for room in rooms {
            if let Err(e) = self.stop(room).await {
                warn!(%room, error = %e, "could not stop the recording at shutdown");
            }
        }
        let writers = std::mem::take(&mut *lock(&self.inner.writers));
        let _ = tokio::task::spawn_blocking(move || {
            for w in writers {
                let _ = w.join();
            }
        })
        .await;
    }

    /// Runs a store operation for the API (the service's own connection).
    pub(crate) async fn with_store<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut Store) -> Result<T, pont_meet::MeetError> + Send + 'static,
    ) -> Result<T, String> {
        self.db(op).await.map_err(|e| e.to_string())
    }
}

/// One recording's file writer, on its own thread: appends chunks, syncs now and then, and
/// closes the row when the media task says the recording is finished.
struct Writer {
    id: RecordingId,
    room: RoomId,
    /// Where a failed write is reported (the service stops the recording).
    notices: mpsc::UnboundedSender<RecorderNotice>,
    key: FileKey,
    file: Option<RecordingFile>,
    /// The chat beside the recording, created at its first line.
    chat: Option<Box<dyn pont_record::Appender>>,
    storage: Arc<LocalStorage>,
    store: Arc<Mutex<Store>>,
}

impl Writer {
    fn run(mut self, rx: std_mpsc::Receiver<WriterMsg>) {
        let mut last_sync = Instant::now();
        loop {
            match rx.recv() {
                Ok(WriterMsg::Chunk(chunk)) => {
                    let Some(file) = self.file.as_mut() else {
                        continue;
                    };
                    if let Err(e) = file.append(&chunk) {
                        // Disk full or gone: keep what is playable, stop writing, and have the
                        // service stop the recording. The live media is not disturbed; the
                        // file is cut to its last whole fragment and listed `interrupted`.
                        let full = e.kind() == std::io::ErrorKind::StorageFull;
                        warn!(recording = self.id.0, error = %e, full, "recording write failed: the file ends here");
                        self.file = None;
                        let _ = self.notices.send(RecorderNotice::WriteFailed {
                            room: self.room,
                            id: self.id.0,
                            full,
                        });
                    } else if last_sync.elapsed() >= SYNC_EVERY {
                        last_sync = Instant::now();
                        if let Err(e) = file.sync() {
                            warn!(recording = self.id.0, error = %e, "recording sync failed");
                        }
                    }
                }
                Ok(WriterMsg::Chat(line)) => {
                    if self.chat.is_none() {
                        match self.storage.create(&self.key.chat()) {
                            Ok(f) => self.chat = Some(f),
                            Err(e) => {
                                warn!(recording = self.id.0, error = %e, "cannot save the chat")
                            }
                        }
                    }
                    if let Some(f) = self.chat.as_mut()
                        && let Err(e) = f.append(line.as_bytes())
                    {
                        warn!(recording = self.id.0, error = %e, "chat line not saved");
                    }
                }
                Ok(WriterMsg::Finish { duration }) => {
                    self.close(Some(duration));
                    return;
                }
                Err(_) => {
                    // The sink went away without finishing (refused start, media task gone).
                    self.close(None);
                    return;
                }
            }
        }
    }

    fn close(self, duration: Option<Duration>) {
        let closed = match (self.file, duration) {
            (Some(file), Some(duration)) => file.finish().map(|(size, sha256)| ClosedRecording {
                duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
                size,
                sha256,
                interrupted: false,
            }),
            (file, _) => {
                drop(file);
                recovered(&*self.storage, &self.key)
            }
        };
        match closed {
            Ok(closed) => {
                let id = self.id;
                match lock(&self.store).close_recording(id, &closed) {
                    Ok(_) => info!(
                        recording = id.0,
                        size = closed.size,
                        duration_ms = closed.duration_ms,
                        "recording closed"
                    ),
                    Err(e) => {
                        warn!(recording = id.0, error = %e, "cannot record the closed recording")
                    }
                }
            }
            Err(e) => warn!(recording = self.id.0, error = %e, "cannot close the recording file"),
        }
    }
}

/// A file's measures after cutting it to its last complete fragment.
fn recovered(storage: &dyn Storage, key: &FileKey) -> std::io::Result<ClosedRecording> {
    let r = recover(storage, key)?;
    Ok(ClosedRecording {
        duration_ms: (r.scan.duration_secs * 1000.0).round() as u64,
        size: r.size,
        sha256: r.sha256,
        interrupted: true,
    })
}

/// Start-up: every recording a crash left in `recording` or `processing` is cut to its last
/// complete fragment, measured from its fragments, hashed and listed `interrupted`.
pub(crate) fn recover_interrupted(store: &mut Store, data: &Path) -> anyhow::Result<LocalStorage> {
    let storage = LocalStorage::new(data.join(RECORDINGS_DIR))?;
    for rec in store.unfinished_recordings()? {
        let closed = match FileKey::parse(&rec.file) {
            Some(key) => recovered(&storage, &key).unwrap_or_else(|e| {
                warn!(recording = rec.id.0, error = %e, "interrupted recording unreadable");
                ClosedRecording {
                    duration_ms: 0,
                    size: 0,
                    sha256: String::new(),
                    interrupted: true,
                }
            }),
            None => {
                warn!(
                    recording = rec.id.0,
                    "interrupted recording has an invalid file name"
                );
                continue;
            }
        };
        info!(
            recording = rec.id.0,
            duration_ms = closed.duration_ms,
            size = closed.size,
            "interrupted recording recovered"
        );
        store.close_recording(rec.id, &closed)?;
    }
    Ok(storage)
}

/// `YYYY-MM-DD HH:MM UTC` for a Unix time (civil-from-days, Howard Hinnant's algorithm).
pub(crate) fn utc_date(unix: i64) -> String {
    // `2026-11-02T11:02:03Z` → `2026-11-02 11:02 UTC`.
    let iso = pont_meet::rfc3339::format_utc(unix);
    match (iso.get(..10), iso.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => iso,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(utc_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_date(1_793_577_600 + 39_723), "2026-11-02 11:02 UTC");
    }

    #[test]
    fn actions_parse_strictly() {
        assert_eq!(Action::parse("start"), Some(Action::Start));
        assert_eq!(Action::parse("resume"), Some(Action::Resume));
        assert_eq!(Action::parse("Start"), None);
        assert_eq!(Action::parse("record"), None);
    }
}
