//! The store: one SQLite connection and the operations on it.

use std::path::Path;

use pont_types::RoomId;
use rand::{Rng, RngCore};
use rusqlite::{Connection, OptionalExtension, params};

use crate::token::{Pin, Token};
use crate::{MeetError, schema};

/// An organizer's id in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrganizerId(pub i64);

/// A meeting's id in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MeetingId(pub i64);

/// Someone who may create meetings and control recordings, through the API with a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organizer {
    pub id: OrganizerId,
    pub name: String,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
}

/// Whether a room carries video or audio only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Category {
    #[default]
    Video,
    Audio,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::Audio => "audio",
        }
    }

    /// The category named by [`Category::as_str`]'s text (`"video"`, `"audio"`), exactly.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "video" => Some(Self::Video),
            "audio" => Some(Self::Audio),
            _ => None,
        }
    }

    fn parse(s: &str) -> Result<Self, MeetError> {
        Self::from_name(s).ok_or(MeetError::Corrupt("room category"))
    }
}

/// How a scheduled meeting repeats. Only stored and reported: the room stays the same for
/// every occurrence, so nothing needs to happen at each one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Recurrence {
    /// Once.
    #[default]
    None,
    Daily,
    Weekly,
    Monthly,
}

impl Recurrence {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }

    /// The recurrence named by [`Recurrence::as_str`]'s text, exactly.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Self::None),
            "daily" => Some(Self::Daily),
            "weekly" => Some(Self::Weekly),
            "monthly" => Some(Self::Monthly),
            _ => None,
        }
    }
}

/// A room: its number is the web link, the SIP user part and the dial-in digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub number: RoomId,
    pub category: Category,
    pub pin: Option<Pin>,
    pub organizer: Option<OrganizerId>,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
}

/// An instant meeting starts now; a scheduled one has a start and a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeetingKind {
    Instant,
    Scheduled,
}

impl MeetingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Instant => "instant",
            Self::Scheduled => "scheduled",
        }
    }

    fn parse(s: &str) -> Result<Self, MeetError> {
        match s {
            "instant" => Ok(Self::Instant),
            "scheduled" => Ok(Self::Scheduled),
            _ => Err(MeetError::Corrupt("meeting kind")),
        }
    }
}

/// What an organizer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMeeting {
    pub kind: MeetingKind,
    pub subject: String,
    pub category: Category,
    pub pin: Option<Pin>,
    /// Seconds since the Unix epoch (scheduled meetings).
    pub start_at: Option<i64>,
    pub duration_secs: Option<u32>,
    /// Start recording when the meeting starts.
    pub recording: bool,
    /// E-mail addresses of the people invited (checked by the caller; stored as given).
    pub invitees: Vec<String>,
    pub recurrence: Recurrence,
    /// Who owns the meeting's recordings; `None`: the organizer.
    pub recording_owner: Option<OrganizerId>,
    pub plan: Plan,
}

/// What a scheduled meeting adds to its room: its time zone and repetition, and the options
/// the in-meeting and streaming work read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// IANA name (`Europe/Paris`): the zone its occurrences repeat in.
    pub timezone: String,
    /// Free text: the department or body the meeting is for.
    pub entity: Option<String>,
    pub waiting_room: bool,
    /// Whether invitations show the phone dial-in (numbers, room number, PIN).
    pub phone_dial_in: bool,
    /// RTMP(S) URL with its stream key: secret, never logged.
    pub streaming_url: Option<String>,
    /// Weekly: the days it meets on (`mon` … `sun`); empty: the start's weekday.
    pub weekdays: Vec<String>,
    /// The last day an occurrence may start on (`YYYY-MM-DD`, in `timezone`).
    pub until: Option<String>,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            timezone: "Europe/Paris".to_owned(),
            entity: None,
            waiting_room: false,
            phone_dial_in: true,
            streaming_url: None,
            weekdays: Vec::new(),
            until: None,
        }
    }
}

/// One occurrence of a series changed or cancelled, keyed by its original start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OccurrenceChange {
    /// Seconds since the Unix epoch: the start the rule gives it.
    pub original_start: i64,
    pub cancelled: bool,
    /// Its new start and duration, if moved.
    pub start_at: Option<i64>,
    pub duration_secs: Option<u32>,
}

impl NewMeeting {
    /// An instant meeting: a video room without PIN, starting now, not recorded.
    pub fn instant(subject: impl Into<String>) -> Self {
        Self {
            kind: MeetingKind::Instant,
            subject: subject.into(),
            category: Category::Video,
            pin: None,
            start_at: None,
            duration_secs: None,
            recording: false,
            invitees: Vec::new(),
            recurrence: Recurrence::None,
            recording_owner: None,
            plan: Plan::default(),
        }
    }
}

/// A meeting and the room it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meeting {
    pub id: MeetingId,
    pub organizer: OrganizerId,
    pub kind: MeetingKind,
    pub subject: String,
    pub room: Room,
    pub start_at: Option<i64>,
    pub duration_secs: Option<u32>,
    pub recording: bool,
    pub invitees: Vec<String>,
    pub recurrence: Recurrence,
    /// Who owns its recordings; `None`: the organizer.
    pub recording_owner: Option<OrganizerId>,
    pub created_at: i64,
    pub plan: Plan,
    /// The invitations' SEQUENCE: raised on every change sent to invitees.
    pub sequence: u32,
    /// Changed or cancelled occurrences, by original start.
    pub changes: Vec<OccurrenceChange>,
}

/// The range room numbers are drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomNumbers {
    pub lo: u64,
    pub hi: u64,
}

impl Default for RoomNumbers {
    /// Six digits: short enough to key on a phone, a million-ish numbers so a guess rarely
    /// lands on a live room (a PIN protects rooms that must not be guessed at all).
    fn default() -> Self {
        Self {
            lo: 100_000,
            hi: 999_999,
        }
    }
}

/// Random draws before falling back to a scan for a free number.
const RANDOM_DRAWS: usize = 32;

/// The meetings store on one SQLite file.
pub struct Store {
    pub(crate) conn: Connection,
    rng: Box<dyn RngCore + Send>,
    numbers: RoomNumbers,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("numbers", &self.numbers)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it; room numbers are
    /// drawn from the OS CSPRNG in the default six-digit range.
    pub fn open(path: &Path) -> Result<Self, MeetError> {
        Self::open_with(path, Box::new(rand::rngs::OsRng), RoomNumbers::default())
    }

    /// [`Store::open`] with a chosen generator and range for room numbers (tests).
    pub fn open_with(
        path: &Path,
        rng: Box<dyn RngCore + Send>,
        numbers: RoomNumbers,
    ) -> Result<Self, MeetError> {
        if numbers.lo == 0 || numbers.lo > numbers.hi || numbers.hi > u64::from(u32::MAX) {
            return Err(MeetError::InvalidRange {
                lo: numbers.lo,
                hi: numbers.hi,
            });
        }
        let mut conn = Connection::open(path)?;
        // WAL: readers do not block the writer; NORMAL sync is durable across a process
        // crash (not an OS crash), enough for meeting metadata.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        schema::migrate(&mut conn)?;
        Ok(Self { conn, rng, numbers })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, MeetError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    // ---- organizers and tokens ----

    pub fn organizer_count(&self) -> Result<u64, MeetError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM organizers", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    pub fn create_organizer(&mut self, name: &str, now_unix: i64) -> Result<Organizer, MeetError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(MeetError::EmptyName);
        }
        self.conn.execute(
            "INSERT INTO organizers (name, created_at) VALUES (?1, ?2)",
            params![name, now_unix],
        )?;
        Ok(Organizer {
            id: OrganizerId(self.conn.last_insert_rowid()),
            name: name.to_owned(),
            created_at: now_unix,
        })
    }

    /// A new token for `organizer`; the secret is returned once and only its hash is stored.
    pub fn create_token(
        &mut self,
        organizer: OrganizerId,
        now_unix: i64,
    ) -> Result<Token, MeetError> {
        let token = Token::generate();
        self.conn.execute(
            "INSERT INTO tokens (organizer_id, sha256, created_at) VALUES (?1, ?2, ?3)",
            params![organizer.0, Token::hash(token.expose()), now_unix],
        )?;
        Ok(token)
    }

    /// The organizer a presented token belongs to, if it is a live token.
    pub fn authenticate(&self, presented: &str) -> Result<Option<Organizer>, MeetError> {
        // Looked up by hash: timing reveals nothing about the secret, only about its hash.
        let hash = Token::hash(presented);
        Ok(self
            .conn
            .query_row(
                "SELECT o.id, o.name, o.created_at FROM tokens t
                 JOIN organizers o ON o.id = t.organizer_id
                 WHERE t.sha256 = ?1 AND t.revoked = 0",
                params![hash],
                |r| {
                    Ok(Organizer {
                        id: OrganizerId(r.get(0)?),
                        name: r.get(1)?,
                        created_at: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// Revokes a token; `false` if it was not a live token.
    pub fn revoke_token(&mut self, presented: &str) -> Result<bool, MeetError> {
        let n = self.conn.execute(
            "UPDATE tokens SET revoked = 1 WHERE sha256 = ?1 AND revoked = 0",
            params![Token::hash(presented)],
        )?;
        Ok(n > 0)
    }

    // ---- rooms ----

    pub fn room(&self, number: RoomId) -> Result<Option<Room>, MeetError> {
        let Ok(key) = i64::try_from(number.0) else {
            return Ok(None);
        };
        // Cached: every SIP INVITE looks its room up (a fresh prepare was ~3 % of a call).
        let row = self
            .conn
            .prepare_cached(
                "SELECT number, category, pin, organizer_id, created_at FROM rooms
                 WHERE number = ?1",
            )?
            .query_row(params![key], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .optional()?;
        row.map(room_from_row).transpose()
    }

    /// Whether a meeting in this room has a waiting room (participants who do not moderate
    /// wait to be let in).
    pub fn waiting_room(&self, number: RoomId) -> Result<bool, MeetError> {
        let Ok(key) = i64::try_from(number.0) else {
            return Ok(false);
        };
        let on: bool = self
            .conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM meetings WHERE room_number = ?1
                 AND waiting_room = 1 AND deleted_at IS NULL)",
            )?
            .query_row(params![key], |r| r.get(0))?;
        Ok(on)
    }

    pub fn room_count(&self) -> Result<u64, MeetError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM rooms", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Deletes a room and its meetings; its number may be drawn again afterwards.
    pub fn delete_room(&mut self, number: RoomId) -> Result<bool, MeetError> {
        let Ok(key) = i64::try_from(number.0) else {
            return Ok(false);
        };
        Ok(self
            .conn
            .execute("DELETE FROM rooms WHERE number = ?1", params![key])?
            > 0)
    }

    // ---- meetings ----

    /// Creates a meeting with a fresh room, in one transaction.
    pub fn create_meeting(
        &mut self,
        organizer: OrganizerId,
        new: NewMeeting,
        now_unix: i64,
    ) -> Result<Meeting, MeetError> {
        let invitees = invitees_to_json(&new.invitees);
        let tx = self.conn.transaction()?;
        let number = free_room_number(&tx, &mut *self.rng, self.numbers)?;
        tx.execute(
            "INSERT INTO rooms (number, category, pin, organizer_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                number as i64,
                new.category.as_str(),
                new.pin.as_ref().map(Pin::as_str),
                organizer.0,
                now_unix
            ],
        )?;
        tx.execute(
            "INSERT INTO meetings (organizer_id, room_number, kind, subject, start_at,
                                   duration_secs, recording, invitees, recurrence, created_at,
                                   recording_owner_id, timezone, entity, waiting_room,
                                   streaming_url, weekdays, until, phone_dial_in)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18)",
            params![
                organizer.0,
                number as i64,
                new.kind.as_str(),
                new.subject,
                new.start_at,
                new.duration_secs,
                new.recording,
                invitees,
                new.recurrence.as_str(),
                now_unix,
                new.recording_owner.map(|o| o.0),
                new.plan.timezone,
                new.plan.entity,
                new.plan.waiting_room,
                new.plan.streaming_url,
                new.plan.weekdays.join(","),
                new.plan.until,
                new.plan.phone_dial_in,
            ],
        )?;
        let id = MeetingId(tx.last_insert_rowid());
        crate::calendar::write_people(&tx, id, &new.invitees)?;
        tx.commit()?;
        Ok(Meeting {
            id,
            organizer,
            kind: new.kind,
            subject: new.subject,
            room: Room {
                number: RoomId(number),
                category: new.category,
                pin: new.pin,
                organizer: Some(organizer),
                created_at: now_unix,
            },
            start_at: new.start_at,
            duration_secs: new.duration_secs,
            recording: new.recording,
            invitees: new.invitees,
            recurrence: new.recurrence,
            recording_owner: new.recording_owner,
            created_at: now_unix,
            plan: new.plan,
            sequence: 0,
            changes: Vec::new(),
        })
    }

    /// The meetings `organizer` created, the newest first, at most `limit`.
    pub fn meetings_of(
        &self,
        organizer: OrganizerId,
        limit: usize,
    ) -> Result<Vec<Meeting>, MeetError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM meetings WHERE organizer_id = ?1 AND deleted_at IS NULL
             ORDER BY created_at DESC, id DESC LIMIT ?2",
        )?;
        let ids = stmt
            .query_map(
                params![organizer.0, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| r.get::<_, i64>(0),
            )?
            .collect::<Result<Vec<i64>, _>>()?;
        let mut meetings = Vec::with_capacity(ids.len());
        for id in ids {
            meetings.extend(self.meeting(MeetingId(id))?);
        }
        Ok(meetings)
    }

    pub fn meeting(&self, id: MeetingId) -> Result<Option<Meeting>, MeetError> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT organizer_id, room_number, kind, subject, start_at, duration_secs,
                        recording, invitees, recurrence, created_at, recording_owner_id,
                        timezone, entity, waiting_room, streaming_url, weekdays, until, sequence,
                        phone_dial_in
                 FROM meetings WHERE id = ?1 AND deleted_at IS NULL",
            )?
            .query_row(params![id.0], |r| {
                Ok(MeetingRow {
                    organizer: r.get(0)?,
                    room: r.get(1)?,
                    kind: r.get(2)?,
                    subject: r.get(3)?,
                    start_at: r.get(4)?,
                    duration_secs: r.get(5)?,
                    recording: r.get(6)?,
                    invitees: r.get(7)?,
                    recurrence: r.get(8)?,
                    created_at: r.get(9)?,
                    recording_owner: r.get(10)?,
                    plan: Plan {
                        timezone: r.get(11)?,
                        entity: r.get(12)?,
                        waiting_room: r.get(13)?,
                        streaming_url: r.get(14)?,
                        weekdays: r
                            .get::<_, String>(15)?
                            .split(',')
                            .filter(|d| !d.is_empty())
                            .map(str::to_owned)
                            .collect(),
                        until: r.get(16)?,
                        phone_dial_in: r.get(18)?,
                    },
                    sequence: r.get(17)?,
                })
            })
            .optional()?;
        let Some(row) = row else {
            return Ok(None);
        };
        let room = u64::try_from(row.room)
            .ok()
            .map(|n| self.room(RoomId(n)))
            .transpose()?
            .flatten()
            .ok_or(MeetError::Corrupt("meeting without room"))?;
        Ok(Some(Meeting {
            id,
            organizer: OrganizerId(row.organizer),
            kind: MeetingKind::parse(&row.kind)?,
            subject: row.subject,
            room,
            start_at: row.start_at,
            duration_secs: row.duration_secs,
            recording: row.recording,
            invitees: invitees_from_json(&row.invitees)?,
            recurrence: Recurrence::from_name(&row.recurrence)
                .ok_or(MeetError::Corrupt("meeting recurrence"))?,
            recording_owner: row.recording_owner.map(OrganizerId),
            created_at: row.created_at,
            plan: row.plan,
            sequence: row.sequence,
            changes: crate::calendar::changes_of(&self.conn, id)?,
        }))
    }
}

/// A `meetings` row as SQLite returns it, before its text columns are parsed.
struct MeetingRow {
    organizer: i64,
    room: i64,
    kind: String,
    subject: String,
    start_at: Option<i64>,
    duration_secs: Option<u32>,
    recording: bool,
    invitees: String,
    recurrence: String,
    created_at: i64,
    recording_owner: Option<i64>,
    plan: Plan,
    sequence: u32,
}

/// Invitees are stored as a JSON array of strings: one column, readable with SQLite's JSON
/// functions, no table to join for a list that is only ever read whole.
fn invitees_to_json(invitees: &[String]) -> String {
    // Serializing a slice of strings cannot fail: no maps with non-string keys, no I/O.
    serde_json::to_string(invitees).expect("a list of strings serializes")
}

fn invitees_from_json(text: &str) -> Result<Vec<String>, MeetError> {
    serde_json::from_str(text).map_err(|_| MeetError::Corrupt("meeting invitees"))
}

fn room_from_row(
    (number, category, pin, organizer, created_at): (i64, String, Option<String>, Option<i64>, i64),
) -> Result<Room, MeetError> {
    Ok(Room {
        number: RoomId(u64::try_from(number).map_err(|_| MeetError::Corrupt("room number"))?),
        category: Category::parse(&category)?,
        pin: pin
            .map(|p| Pin::new(&p))
            .transpose()
            .map_err(|_| MeetError::Corrupt("room pin"))?,
        organizer: organizer.map(OrganizerId),
        created_at,
    })
}

fn room_exists(conn: &Connection, number: u64) -> Result<bool, MeetError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM rooms WHERE number = ?1",
            params![number as i64],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// A number in `range` that no existing room has: random draws first (unpredictable numbers),
/// then, for a nearly full range, a scan from a random point.
fn free_room_number(
    conn: &Connection,
    rng: &mut dyn RngCore,
    range: RoomNumbers,
) -> Result<u64, MeetError> {
    for _ in 0..RANDOM_DRAWS {
        let n = rng.gen_range(range.lo..=range.hi);
        if !room_exists(conn, n)? {
            return Ok(n);
        }
    }
    let size = range.hi - range.lo + 1;
    let start = rng.gen_range(0..size);
    for i in 0..size {
        let n = range.lo + (start + i) % size;
        if !room_exists(conn, n)? {
            return Ok(n);
        }
    }
    Err(MeetError::NoFreeRoomNumber {
        lo: range.lo,
        hi: range.hi,
    })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn open(dir: &tempfile::TempDir) -> Store {
        Store::open(&dir.path().join("pont.sqlite3")).unwrap()
    }

    #[test]
    fn migrates_a_fresh_file_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        assert_eq!(store.schema_version().unwrap(), schema::CURRENT);
        drop(store);
        let store = open(&dir);
        assert_eq!(store.schema_version().unwrap(), schema::CURRENT);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pont.sqlite3");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 999").unwrap();
        drop(conn);
        let err = Store::open(&path).unwrap_err();
        assert!(
            matches!(err, MeetError::SchemaTooNew { found: 999, .. }),
            "{err}"
        );
    }

    #[test]
    fn tokens_authenticate_and_only_their_hash_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        assert_eq!(store.organizer_count().unwrap(), 0);
        let alice = store.create_organizer("Alice", 1_700_000_000).unwrap();
        let token = store.create_token(alice.id, 1_700_000_000).unwrap();
        assert_eq!(store.authenticate(token.expose()).unwrap(), Some(alice));
        assert_eq!(store.authenticate("pont_nope").unwrap(), None);
        assert_eq!(store.organizer_count().unwrap(), 1);

        // The secret appears nowhere in the file.
        drop(store);
        let raw = std::fs::read(dir.path().join("pont.sqlite3")).unwrap();
        let secret = token.expose().as_bytes();
        assert!(!raw.windows(secret.len()).any(|w| w == secret));

        let mut store = open(&dir);
        assert!(store.revoke_token(token.expose()).unwrap());
        assert_eq!(store.authenticate(token.expose()).unwrap(), None);
        assert!(!store.revoke_token(token.expose()).unwrap());
    }

    #[test]
    fn empty_organizer_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        assert!(matches!(
            store.create_organizer("  ", 0),
            Err(MeetError::EmptyName)
        ));
    }

    #[test]
    fn instant_meeting_gets_a_six_digit_room_that_persists() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        let org = store.create_organizer("Bob", 10).unwrap();
        let m = store
            .create_meeting(org.id, NewMeeting::instant("Standup"), 20)
            .unwrap();
        assert!((100_000..=999_999).contains(&m.room.number.0));
        assert_eq!(m.room.pin, None);
        assert_eq!(m.room.category, Category::Video);
        drop(store);

        let store = open(&dir);
        assert_eq!(store.meeting(m.id).unwrap(), Some(m.clone()));
        assert_eq!(store.room(m.room.number).unwrap(), Some(m.room));
        assert_eq!(store.room(RoomId(1)).unwrap(), None);
        assert_eq!(store.room(RoomId(u64::MAX)).unwrap(), None);
    }

    #[test]
    fn scheduled_fields_pin_and_category_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        let org = store.create_organizer("Carol", 10).unwrap();
        let new = NewMeeting {
            kind: MeetingKind::Scheduled,
            subject: "Review".into(),
            category: Category::Audio,
            pin: Some(Pin::new("0042").unwrap()),
            start_at: Some(1_800_000_000),
            duration_secs: Some(3600),
            recording: true,
            invitees: vec!["ada@example.org".into(), "grace@example.com".into()],
            recurrence: Recurrence::Weekly,
            recording_owner: Some(org.id),
            plan: Plan {
                timezone: "America/Montreal".into(),
                entity: Some("DSI".into()),
                waiting_room: true,
                phone_dial_in: false,
                streaming_url: Some("rtmp://live.example/app/key".into()),
                weekdays: vec!["mon".into(), "thu".into()],
                until: Some("2027-01-31".into()),
            },
        };
        let m = store.create_meeting(org.id, new, 20).unwrap();
        let back = store.meeting(m.id).unwrap().unwrap();
        assert_eq!(back, m);
        assert_eq!(back.room.pin.unwrap().as_str(), "0042");
        assert_eq!(back.room.category, Category::Audio);
        assert_eq!(back.start_at, Some(1_800_000_000));
        assert_eq!(back.duration_secs, Some(3600));
        assert!(back.recording);
        assert_eq!(back.invitees, ["ada@example.org", "grace@example.com"]);
        assert_eq!(back.recurrence, Recurrence::Weekly);

        // And across a reopen of the file.
        drop(store);
        let store = open(&dir);
        assert_eq!(store.meeting(m.id).unwrap(), Some(m));
    }

    #[test]
    fn names_parse_exactly() {
        for r in [
            Recurrence::None,
            Recurrence::Daily,
            Recurrence::Weekly,
            Recurrence::Monthly,
        ] {
            assert_eq!(Recurrence::from_name(r.as_str()), Some(r));
        }
        assert_eq!(Recurrence::from_name("Weekly"), None);
        assert_eq!(Recurrence::from_name("yearly"), None);
        assert_eq!(Category::from_name("audio"), Some(Category::Audio));
        assert_eq!(Category::from_name("video"), Some(Category::Video));
        assert_eq!(Category::from_name("hd"), None);
    }

    #[test]
    fn unreadable_invitees_are_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        let org = store.create_organizer("Eve", 1).unwrap();
        let m = store
            .create_meeting(org.id, NewMeeting::instant("x"), 2)
            .unwrap();
        store
            .conn
            .execute("UPDATE meetings SET invitees = 'not json'", [])
            .unwrap();
        assert!(matches!(
            store.meeting(m.id),
            Err(MeetError::Corrupt("meeting invitees"))
        ));
    }

    #[test]
    fn room_numbers_are_unique_until_the_range_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let rng = rand_seeded(7);
        let range = RoomNumbers { lo: 500, hi: 504 };
        let mut store = Store::open_with(&dir.path().join("db"), rng, range).unwrap();
        let org = store.create_organizer("Dan", 0).unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..5 {
            let m = store
                .create_meeting(org.id, NewMeeting::instant("x"), 0)
                .unwrap();
            assert!(seen.insert(m.room.number), "reused {}", m.room.number);
        }
        let err = store
            .create_meeting(org.id, NewMeeting::instant("x"), 0)
            .unwrap_err();
        assert!(matches!(err, MeetError::NoFreeRoomNumber { .. }), "{err}");

        // Once a room is gone its number may be drawn again.
        let freed = *seen.iter().next().unwrap();
        assert!(store.delete_room(freed).unwrap());
        let m = store
            .create_meeting(org.id, NewMeeting::instant("x"), 0)
            .unwrap();
        assert_eq!(m.room.number, freed);
    }

    #[test]
    fn invalid_ranges_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        for (lo, hi) in [(0, 5), (10, 9), (1, u64::MAX)] {
            let err = Store::open_with(&path, rand_seeded(1), RoomNumbers { lo, hi }).unwrap_err();
            assert!(matches!(err, MeetError::InvalidRange { .. }));
        }
    }

    fn rand_seeded(seed: u64) -> Box<dyn RngCore + Send> {
        Box::new(rand::rngs::StdRng::seed_from_u64(seed))
    }
}
