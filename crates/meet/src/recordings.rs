//! Recording metadata: who recorded which room when, how long, how big, its checksum, and
//! where it is in its life (recording → processing → pending validation). The files themselves
//! belong to `pont-record`'s storage; here is only their name.

use pont_types::RoomId;
use rusqlite::{OptionalExtension, Row, params};

use crate::store::{MeetingId, OrganizerId, Store};
use crate::{MeetError, Meeting};

/// A recording's id in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordingId(pub i64);

/// Where a recording is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordingStatus {
    /// Media is being written.
    Recording,
    /// Stopped; the file is being closed, measured and hashed.
    Processing,
    /// Complete, waiting for the organizer to validate it for publication.
    PendingValidation,
    /// Validated by its owner: it has a watch link and a download link.
    Validated,
}

impl RecordingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recording => "recording",
            Self::Processing => "processing",
            Self::PendingValidation => "pending_validation",
            Self::Validated => "validated",
        }
    }

    fn parse(s: &str) -> Result<Self, MeetError> {
        match s {
            "recording" => Ok(Self::Recording),
            "processing" => Ok(Self::Processing),
            "pending_validation" => Ok(Self::PendingValidation),
            "validated" => Ok(Self::Validated),
            _ => Err(MeetError::Corrupt("recording status")),
        }
    }
}

/// Who may watch a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Visibility {
    /// Its owner only (the default).
    #[default]
    Private,
    /// Every organizer.
    Organizers,
    /// Anyone with the link.
    Public,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Organizers => "organizers",
            Self::Public => "public",
        }
    }

    /// Parses what the API accepts; `None` for anything else.
    pub fn from_api(s: &str) -> Option<Self> {
        match s {
            "private" => Some(Self::Private),
            "organizers" => Some(Self::Organizers),
            "public" => Some(Self::Public),
            _ => None,
        }
    }
}

/// A recording's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub id: RecordingId,
    pub room: RoomId,
    pub meeting: Option<MeetingId>,
    /// The organizer who started it.
    pub owner: Option<OrganizerId>,
    pub title: String,
    /// The file's name in the recording storage.
    pub file: String,
    /// Seconds since the Unix epoch.
    pub started_at: i64,
    /// Media duration (paused time excluded).
    pub duration_ms: u64,
    pub size: u64,
    /// SHA-256 of the file, hex, once it is closed.
    pub sha256: Option<String>,
    pub status: RecordingStatus,
    pub visibility: Visibility,
    /// The server died while recording; the file was recovered up to its last fragment.
    pub interrupted: bool,
    /// Free text for viewers.
    pub description: String,
    /// The viewing window, in milliseconds from the start; `None`: all of it.
    pub trim: Option<Trim>,
    /// Only while validated: the secrets of `/w/{token}` and `/d/{token}`.
    pub watch_token: Option<String>,
    pub download_token: Option<String>,
    /// When the retention policy deletes it (seconds since the epoch); `None`: never.
    pub delete_at: Option<i64>,
    /// The recording this one continues (the duration cap closed it and started this one).
    pub continues: Option<RecordingId>,
}

/// A recording's viewing window: what its watch link shows, in milliseconds from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Trim {
    pub start_ms: u64,
    pub end_ms: u64,
}

/// Longest recording title.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest recording description.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;

impl Trim {
    /// A window of a recording `duration_ms` long: `0 <= start < end`, ending at most half a
    /// second past the measured duration (a person reads durations off a player, rounded);
    /// the end is then clamped to the duration. `None` if the window does not fit.
    pub fn within(start_ms: f64, end_ms: f64, duration_ms: u64) -> Option<Self> {
        let (start, end) = (start_ms.round(), end_ms.round());
        if !(start >= 0.0 && start < end && end <= duration_ms as f64 + 500.0) {
            return None;
        }
        let end = (end as u64).min(duration_ms);
        let start = start as u64;
        (start < end).then_some(Self {
            start_ms: start,
            end_ms: end,
        })
    }
}

/// What an owner changes in a recording; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingChange {
    pub title: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    /// `Some(None)` removes the window.
    pub trim: Option<Option<Trim>>,
    pub owner: Option<OrganizerId>,
    /// `Some(true)` validates (new links), `Some(false)` takes the validation back (links die).
    pub validated: Option<bool>,
}

/// Random bits in a watch or download token: 192, shown as 48 hex digits.
const LINK_TOKEN_BYTES: usize = 24;

/// Whether `t` has the shape of a watch or download token (48 lowercase hex digits): anything
/// else is not looked up.
pub(crate) fn is_link_token(t: &str) -> bool {
    t.len() == 2 * LINK_TOKEN_BYTES && t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn link_token() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; LINK_TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What is known when a recording starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecording {
    pub room: RoomId,
    pub meeting: Option<MeetingId>,
    pub owner: Option<OrganizerId>,
    pub title: String,
    pub started_at: i64,
    /// The recording this one continues (the cap's next part).
    pub continues: Option<RecordingId>,
}

/// What is known when a recording's file is closed (or recovered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedRecording {
    pub duration_ms: u64,
    pub size: u64,
    pub sha256: String,
    pub interrupted: bool,
}

const COLUMNS: &str = "id, room_number, meeting_id, owner_id, title, file, started_at, \
                       duration_ms, size, sha256, status, visibility, interrupted, \
                       description, trim_start_ms, trim_end_ms, watch_token, download_token, \
                       delete_at, continues_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Result<Recording, MeetError>> {
    let status: String = r.get(10)?;
    let visibility: String = r.get(11)?;
    let room: i64 = r.get(1)?;
    let duration: i64 = r.get(7)?;
    let size: i64 = r.get(8)?;
    let built = (|| {
        Ok(Recording {
            id: RecordingId(r.get(0)?),
            room: RoomId(u64::try_from(room).map_err(|_| MeetError::Corrupt("room number"))?),
            meeting: r.get::<_, Option<i64>>(2)?.map(MeetingId),
            owner: r.get::<_, Option<i64>>(3)?.map(OrganizerId),
            title: r.get(4)?,
            file: r.get(5)?,
            started_at: r.get(6)?,
            duration_ms: u64::try_from(duration).unwrap_or(0),
            size: u64::try_from(size).unwrap_or(0),
            sha256: r.get(9)?,
            status: RecordingStatus::parse(&status)?,
            visibility: Visibility::from_api(&visibility)
                .ok_or(MeetError::Corrupt("recording visibility"))?,
            interrupted: r.get(12)?,
            description: r.get(13)?,
            trim: match (r.get::<_, Option<i64>>(14)?, r.get::<_, Option<i64>>(15)?) {
                (Some(a), Some(b)) => Some(Trim {
                    start_ms: u64::try_from(a).unwrap_or(0),
                    end_ms: u64::try_from(b).unwrap_or(0),
                }),
                _ => None,
            },
            watch_token: r.get(16)?,
            download_token: r.get(17)?,
            delete_at: r.get(18)?,
            continues: r.get::<_, Option<i64>>(19)?.map(RecordingId),
        })
    })();
    Ok(built)
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Registers a recording that starts now; `file_for(id)` names its file.
    pub fn create_recording(
        &mut self,
        new: NewRecording,
        file_for: impl FnOnce(RecordingId) -> String,
    ) -> Result<Recording, MeetError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO recordings (room_number, meeting_id, owner_id, title, file, started_at,
                                     continues_id)
             VALUES (?1, ?2, ?3, ?4, '', ?5, ?6)",
            params![
                clamp_i64(new.room.0),
                new.meeting.map(|m| m.0),
                new.owner.map(|o| o.0),
                new.title,
                new.started_at,
                new.continues.map(|c| c.0)
            ],
        )?;
        let id = RecordingId(tx.last_insert_rowid());
        let file = file_for(id);
        tx.execute(
            "UPDATE recordings SET file = ?1 WHERE id = ?2",
            params![file, id.0],
        )?;
        tx.commit()?;
        Ok(Recording {
            id,
            room: new.room,
            meeting: new.meeting,
            owner: new.owner,
            title: new.title,
            file,
            started_at: new.started_at,
            duration_ms: 0,
            size: 0,
            sha256: None,
            status: RecordingStatus::Recording,
            visibility: Visibility::Private,
            interrupted: false,
            description: String::new(),
            trim: None,
            watch_token: None,
            download_token: None,
            delete_at: None,
            continues: new.continues,
        })
    }

    pub fn recording(&self, id: RecordingId) -> Result<Option<Recording>, MeetError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM recordings WHERE id = ?1"),
                params![id.0],
                from_row,
            )
            .optional()?
            .transpose()
    }

    /// Every recording, newest first.
    pub fn recordings(&self) -> Result<Vec<Recording>, MeetError> {
        self.query_recordings(&format!(
            "SELECT {COLUMNS} FROM recordings ORDER BY id DESC"
        ))
    }

    /// Recordings whose file was never closed: still `recording` or `processing` (after a
    /// crash, these are the ones to recover).
    pub fn unfinished_recordings(&self) -> Result<Vec<Recording>, MeetError> {
        self.query_recordings(&format!(
            "SELECT {COLUMNS} FROM recordings WHERE status IN ('recording', 'processing')
             ORDER BY id"
        ))
    }

    fn query_recordings(&self, sql: &str) -> Result<Vec<Recording>, MeetError> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map([], from_row)?;
        rows.map(|r| r?).collect()
    }

    pub fn set_recording_status(
        &mut self,
        id: RecordingId,
        status: RecordingStatus,
    ) -> Result<bool, MeetError> {
        Ok(self.conn.execute(
            "UPDATE recordings SET status = ?1 WHERE id = ?2",
            params![status.as_str(), id.0],
        )? == 1)
    }

    /// The file is closed: its measures, and the status moves on to pending validation.
    pub fn close_recording(
        &mut self,
        id: RecordingId,
        closed: &ClosedRecording,
    ) -> Result<bool, MeetError> {
        Ok(self.conn.execute(
            "UPDATE recordings SET duration_ms = ?1, size = ?2, sha256 = ?3, interrupted = ?4,
                    status = 'pending_validation'
             WHERE id = ?5",
            params![
                clamp_i64(closed.duration_ms),
                clamp_i64(closed.size),
                closed.sha256,
                closed.interrupted,
                id.0
            ],
        )? == 1)
    }

    /// Applies an owner's change in one transaction. Returns the recording as it now is, or
    /// `None` if there is no such recording. Validating a recording that is not complete yet
    /// (still recording or processing) changes nothing and is [`MeetError::NotComplete`].
    pub fn update_recording(
        &mut self,
        id: RecordingId,
        change: &RecordingChange,
    ) -> Result<Option<Recording>, MeetError> {
        let Some(current) = self.recording(id)? else {
            return Ok(None);
        };
        let tx = self.conn.transaction()?;
        if let Some(t) = &change.title {
            tx.execute(
                "UPDATE recordings SET title = ?1 WHERE id = ?2",
                params![t, id.0],
            )?;
        }
        if let Some(d) = &change.description {
            tx.execute(
                "UPDATE recordings SET description = ?1 WHERE id = ?2",
                params![d, id.0],
            )?;
        }
        if let Some(v) = change.visibility {
            tx.execute(
                "UPDATE recordings SET visibility = ?1 WHERE id = ?2",
                params![v.as_str(), id.0],
            )?;
        }
        if let Some(trim) = change.trim {
            tx.execute(
                "UPDATE recordings SET trim_start_ms = ?1, trim_end_ms = ?2 WHERE id = ?3",
                params![
                    trim.map(|t| clamp_i64(t.start_ms)),
                    trim.map(|t| clamp_i64(t.end_ms)),
                    id.0
                ],
            )?;
        }
        if let Some(owner) = change.owner {
            tx.execute(
                "UPDATE recordings SET owner_id = ?1 WHERE id = ?2",
                params![owner.0, id.0],
            )?;
        }
        match change.validated {
            Some(_)
                if !matches!(
                    current.status,
                    RecordingStatus::PendingValidation | RecordingStatus::Validated
                ) =>
            {
                return Err(MeetError::NotComplete);
            }
            // Every validation issues new links: a link shared before is not revived.
            Some(true) => {
                tx.execute(
                    "UPDATE recordings SET status = 'validated', watch_token = ?1,
                            download_token = ?2
                     WHERE id = ?3",
                    params![link_token(), link_token(), id.0],
                )?;
            }
            Some(false) => {
                tx.execute(
                    "UPDATE recordings SET status = 'pending_validation', watch_token = NULL,
                            download_token = NULL
                     WHERE id = ?1",
                    params![id.0],
                )?;
            }
            None => {}
        }
        tx.commit()?;
        self.recording(id)
    }

    /// The validated recording a watch token opens.
    pub fn recording_by_watch_token(&self, token: &str) -> Result<Option<Recording>, MeetError> {
        if !is_link_token(token) {
            return Ok(None);
        }
        self.conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM recordings
                     WHERE watch_token = ?1 AND status = 'validated'"
                ),
                params![token],
                from_row,
            )
            .optional()?
            .transpose()
    }

    /// The validated recording a download token opens.
    pub fn recording_by_download_token(&self, token: &str) -> Result<Option<Recording>, MeetError> {
        if !is_link_token(token) {
            return Ok(None);
        }
        self.conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM recordings
                     WHERE download_token = ?1 AND status = 'validated'"
                ),
                params![token],
                from_row,
            )
            .optional()?
            .transpose()
    }

    /// Validated public recordings, newest first: the public catalogue.
    pub fn public_recordings(&self) -> Result<Vec<Recording>, MeetError> {
        self.query_recordings(&format!(
            "SELECT {COLUMNS} FROM recordings
             WHERE status = 'validated' AND visibility = 'public' ORDER BY started_at DESC, id DESC"
        ))
    }

    /// Sets when the retention policy deletes a recording.
    pub fn set_delete_at(&mut self, id: RecordingId, at: Option<i64>) -> Result<(), MeetError> {
        self.conn.execute(
            "UPDATE recordings SET delete_at = ?1 WHERE id = ?2",
            params![at, id.0],
        )?;
        Ok(())
    }

    /// The deletion warnings already sent for a recording (their lead times, in days).
    pub fn warnings_sent(&self, id: RecordingId) -> Result<Vec<u32>, MeetError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT days FROM recording_warnings WHERE recording_id = ?1")?;
        let rows = stmt.query_map(params![id.0], |r| r.get::<_, u32>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn record_warning(
        &mut self,
        id: RecordingId,
        days: u32,
        now: i64,
    ) -> Result<(), MeetError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO recording_warnings (recording_id, days, sent_at)
             VALUES (?1, ?2, ?3)",
            params![id.0, days, now],
        )?;
        Ok(())
    }

    /// Removes a recording's row and, in the same transaction, notes its file as to be
    /// deleted; the caller deletes the file, then [`Store::file_deleted`].
    pub fn forget_recording(
        &mut self,
        id: RecordingId,
        now: i64,
    ) -> Result<Option<String>, MeetError> {
        let tx = self.conn.transaction()?;
        let file: Option<String> = tx
            .query_row(
                "DELETE FROM recordings WHERE id = ?1 RETURNING file",
                params![id.0],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(f) = &file {
            tx.execute(
                "INSERT OR IGNORE INTO file_deletions (file, since) VALUES (?1, ?2)",
                params![f, now],
            )?;
        }
        tx.commit()?;
        Ok(file)
    }

    /// Files noted for deletion and not yet confirmed deleted.
    pub fn pending_file_deletions(&self) -> Result<Vec<String>, MeetError> {
        let mut stmt = self
            .conn
            .prepare("SELECT file FROM file_deletions ORDER BY since")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn file_deleted(&mut self, file: &str) -> Result<(), MeetError> {
        self.conn
            .execute("DELETE FROM file_deletions WHERE file = ?1", params![file])?;
        Ok(())
    }

    /// Forgets a recording's row (its file is the caller's to delete first).
    pub fn delete_recording(&mut self, id: RecordingId) -> Result<bool, MeetError> {
        Ok(self
            .conn
            .execute("DELETE FROM recordings WHERE id = ?1", params![id.0])?
            == 1)
    }

    /// The most recent meeting held in a room (its subject titles the room's recordings).
    pub fn latest_meeting_in_room(&self, room: RoomId) -> Result<Option<Meeting>, MeetError> {
        let Ok(key) = i64::try_from(room.0) else {
            return Ok(None);
        };
        let id: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM meetings WHERE room_number = ?1 ORDER BY id DESC LIMIT 1",
                params![key],
                |r| r.get(0),
            )
            .optional()?;
        match id {
            Some(id) => self.meeting(MeetingId(id)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewMeeting;

    fn open(dir: &tempfile::TempDir) -> Store {
        Store::open(&dir.path().join("pont.sqlite3")).unwrap()
    }

    #[test]
    fn a_recording_goes_from_recording_to_pending_validation() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        let alice = store.create_organizer("Alice", 1).unwrap();
        let meeting = store
            .create_meeting(alice.id, NewMeeting::instant("Weekly"), 2)
            .unwrap();
        let room = meeting.room.number;
        assert_eq!(
            store.latest_meeting_in_room(room).unwrap().map(|m| m.id),
            Some(meeting.id)
        );
        let rec = store
            .create_recording(
                NewRecording {
                    room,
                    meeting: Some(meeting.id),
                    owner: Some(alice.id),
                    title: "Weekly 2026-11-02".into(),
                    started_at: 100,
                    continues: None,
                },
                |id| format!("rec-{}.mp4", id.0),
            )
            .unwrap();
        assert_eq!(rec.file, format!("rec-{}.mp4", rec.id.0));
        assert_eq!(store.recording(rec.id).unwrap().as_ref(), Some(&rec));
        assert_eq!(rec.visibility, Visibility::Private);
        assert_eq!(store.unfinished_recordings().unwrap(), vec![rec.clone()]);

        assert!(
            store
                .set_recording_status(rec.id, RecordingStatus::Processing)
                .unwrap()
        );
        let closed = ClosedRecording {
            duration_ms: 9_980,
            size: 41_000,
            sha256: "ab".repeat(32),
            interrupted: false,
        };
        assert!(store.close_recording(rec.id, &closed).unwrap());
        let got = store.recording(rec.id).unwrap().unwrap();
        assert_eq!(got.status, RecordingStatus::PendingValidation);
        assert_eq!((got.duration_ms, got.size), (9_980, 41_000));
        assert_eq!(got.sha256.as_deref(), Some(&*"ab".repeat(32)));
        assert!(store.unfinished_recordings().unwrap().is_empty());

        let rename = RecordingChange {
            title: Some("Renamed".into()),
            visibility: Some(Visibility::Public),
            ..RecordingChange::default()
        };
        let patched = store.update_recording(rec.id, &rename).unwrap().unwrap();
        assert_eq!(patched.title, "Renamed");
        assert_eq!(patched.visibility, Visibility::Public);
        assert_eq!(store.recordings().unwrap(), vec![patched]);
        assert_eq!(
            store.update_recording(RecordingId(999), &rename).unwrap(),
            None
        );
    }

    #[test]
    fn validation_issues_new_links_and_taking_it_back_kills_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        let rec = store
            .create_recording(
                NewRecording {
                    room: RoomId(123_456),
                    meeting: None,
                    owner: None,
                    title: "Lecture".into(),
                    started_at: 10,
                    continues: None,
                },
                |id| format!("{}.mp4", id.0),
            )
            .unwrap();
        let validate = RecordingChange {
            validated: Some(true),
            ..RecordingChange::default()
        };
        // Still recording: no links, nothing changed.
        assert!(matches!(
            store.update_recording(rec.id, &validate),
            Err(MeetError::NotComplete)
        ));
        let closed = ClosedRecording {
            duration_ms: 12_000,
            size: 1,
            sha256: "00".repeat(32),
            interrupted: false,
        };
        store.close_recording(rec.id, &closed).unwrap();

        let first = store.update_recording(rec.id, &validate).unwrap().unwrap();
        assert_eq!(first.status, RecordingStatus::Validated);
        let (watch, download) = (
            first.watch_token.clone().unwrap(),
            first.download_token.clone().unwrap(),
        );
        assert_eq!(watch.len(), 48);
        assert_ne!(watch, download);
        assert_eq!(
            store.recording_by_watch_token(&watch).unwrap().unwrap().id,
            rec.id
        );
        assert_eq!(
            store
                .recording_by_download_token(&download)
                .unwrap()
                .unwrap()
                .id,
            rec.id
        );
        assert!(store.recording_by_watch_token(&download).unwrap().is_none());
        // Private: not in the public catalogue; public: in it.
        assert!(store.public_recordings().unwrap().is_empty());
        let public = RecordingChange {
            visibility: Some(Visibility::Public),
            ..RecordingChange::default()
        };
        store.update_recording(rec.id, &public).unwrap();
        assert_eq!(store.public_recordings().unwrap().len(), 1);

        let unvalidate = RecordingChange {
            validated: Some(false),
            ..RecordingChange::default()
        };
        let back = store
            .update_recording(rec.id, &unvalidate)
            .unwrap()
            .unwrap();
        assert_eq!(back.status, RecordingStatus::PendingValidation);
        assert_eq!((back.watch_token, back.download_token), (None, None));
        assert!(store.recording_by_watch_token(&watch).unwrap().is_none());
        assert!(store.public_recordings().unwrap().is_empty());

        // Validated again: new links; the old ones stay dead.
        let again = store.update_recording(rec.id, &validate).unwrap().unwrap();
        assert_ne!(again.watch_token.as_deref(), Some(&*watch));
        assert!(store.recording_by_watch_token(&watch).unwrap().is_none());
        assert!(
            store
                .recording_by_download_token(&download)
                .unwrap()
                .is_none()
        );

        // A window and a description are kept; removing the window works.
        let trim = RecordingChange {
            trim: Some(Some(Trim {
                start_ms: 2_000,
                end_ms: 8_000,
            })),
            description: Some("Week 3".into()),
            ..RecordingChange::default()
        };
        let t = store.update_recording(rec.id, &trim).unwrap().unwrap();
        assert_eq!(
            t.trim,
            Some(Trim {
                start_ms: 2_000,
                end_ms: 8_000
            })
        );
        assert_eq!(t.description, "Week 3");
        let untrim = RecordingChange {
            trim: Some(None),
            ..RecordingChange::default()
        };
        assert_eq!(
            store
                .update_recording(rec.id, &untrim)
                .unwrap()
                .unwrap()
                .trim,
            None
        );
        assert!(store.delete_recording(rec.id).unwrap());
        assert!(store.recording(rec.id).unwrap().is_none());
    }

    #[test]
    fn recordings_survive_a_reopen_and_list_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        for i in 0..3 {
            store
                .create_recording(
                    NewRecording {
                        room: RoomId(123_456),
                        meeting: None,
                        owner: None,
                        title: format!("t{i}"),
                        started_at: i,
                        continues: None,
                    },
                    |id| format!("rec-{}.mp4", id.0),
                )
                .unwrap();
        }
        drop(store);
        let store = open(&dir);
        let titles: Vec<String> = store
            .recordings()
            .unwrap()
            .into_iter()
            .map(|r| r.title)
            .collect();
        assert_eq!(titles, ["t2", "t1", "t0"]);
    }
}
