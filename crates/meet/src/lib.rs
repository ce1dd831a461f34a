//! Meetings, room numbers, organizers and their bearer tokens, persisted in one SQLite file.
//!
//! What this crate owns: the schema (migrated by `PRAGMA user_version`), the rules for room
//! numbers (random, unique, never reused while the room exists), PINs and categories, and the
//! organizer tokens (only their SHA-256 is stored; the secret is shown once, when created),
//! and recording metadata (the files themselves are `pont-record`'s).
//!
//! What it must never do: open a socket, spawn a task or read a clock. The caller tells the
//! time (`now_unix`, seconds since the Unix epoch); randomness comes from the operating
//! system's CSPRNG unless a test hands in its own generator.
#![forbid(unsafe_code)]

mod accounts;
mod calendar;
mod recordings;
pub mod retention;
pub mod rfc3339;
mod schema;
mod store;
mod token;

pub use accounts::{
    Account, LOGIN_ATTEMPT_SECS, LoginAttempt, OidcIdentity, Role, Session, SessionLimits,
};
pub use calendar::QueuedMail;
pub use recordings::{
    ClosedRecording, MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, NewRecording, Recording,
    RecordingChange, RecordingId, RecordingStatus, Trim, Visibility,
};
pub use store::{
    Category, Meeting, MeetingId, MeetingKind, NewMeeting, OccurrenceChange, Organizer,
    OrganizerId, Plan, Recurrence, Room, RoomNumbers, Store,
};
pub use token::{Pin, Token};

/// What can go wrong in the meetings store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeetError {
    /// The SQLite file could not be opened, read or written.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// The database was written by a newer pont whose schema this build does not know.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    /// Every room number in the configured range is taken (or random draws kept colliding).
    #[error("no free room number in {lo}..={hi}")]
    NoFreeRoomNumber { lo: u64, hi: u64 },
    /// A PIN must be 1 to 12 decimal digits.
    #[error("a PIN must be 1 to 12 digits")]
    InvalidPin,
    /// An organizer name must not be empty.
    #[error("an organizer name must not be empty")]
    EmptyName,
    /// The room number range is empty or outside 1..=u32::MAX.
    #[error("invalid room number range {lo}..={hi}")]
    InvalidRange { lo: u64, hi: u64 },
    /// A recording still being written cannot be validated.
    #[error("the recording is not complete yet")]
    NotComplete,
    /// A stored value is not one this build understands.
    #[error("corrupt row: {0}")]
    Corrupt(&'static str),
}
