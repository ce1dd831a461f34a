//! Schema migrations, tracked by SQLite's `PRAGMA user_version`.
//!
//! Each entry of [`MIGRATIONS`] moves the schema from version `i` to `i + 1`. Append new
//! entries; never edit one that has shipped.

use rusqlite::Connection;

use crate::MeetError;

const MIGRATIONS: &[&str] = &[
    // 0 -> 1: organizers, tokens, rooms, meetings.
    "
    CREATE TABLE organizers (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL,
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE tokens (
        id            INTEGER PRIMARY KEY,
        organizer_id  INTEGER NOT NULL REFERENCES organizers(id) ON DELETE CASCADE,
        sha256        BLOB NOT NULL UNIQUE,
        created_at    INTEGER NOT NULL,
        revoked       INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE rooms (
        number        INTEGER PRIMARY KEY,
        category      TEXT NOT NULL CHECK (category IN ('video', 'audio')),
        pin           TEXT,
        organizer_id  INTEGER REFERENCES organizers(id) ON DELETE SET NULL,
        created_at    INTEGER NOT NULL
    );
    CREATE TABLE meetings (
        id             INTEGER PRIMARY KEY,
        organizer_id   INTEGER NOT NULL REFERENCES organizers(id) ON DELETE CASCADE,
        room_number    INTEGER NOT NULL REFERENCES rooms(number) ON DELETE CASCADE,
        kind           TEXT NOT NULL CHECK (kind IN ('instant', 'scheduled')),
        subject        TEXT NOT NULL,
        start_at       INTEGER,
        duration_secs  INTEGER,
        recording      INTEGER NOT NULL DEFAULT 0,
        created_at     INTEGER NOT NULL
    );
    CREATE INDEX meetings_room ON meetings(room_number);
    ",
    // 1 -> 2: recordings (the files are under <data>/recordings, named by `file`).
    "
    CREATE TABLE recordings (
        id            INTEGER PRIMARY KEY,
        room_number   INTEGER NOT NULL,
        meeting_id    INTEGER REFERENCES meetings(id) ON DELETE SET NULL,
        owner_id      INTEGER REFERENCES organizers(id) ON DELETE SET NULL,
        title         TEXT NOT NULL,
        file          TEXT NOT NULL,
        started_at    INTEGER NOT NULL,
        duration_ms   INTEGER NOT NULL DEFAULT 0,
        size          INTEGER NOT NULL DEFAULT 0,
        sha256        TEXT,
        status        TEXT NOT NULL DEFAULT 'recording'
                      CHECK (status IN ('recording', 'processing', 'pending_validation')),
        visibility    TEXT NOT NULL DEFAULT 'private'
                      CHECK (visibility IN ('private', 'organizers', 'public')),
        interrupted   INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX recordings_status ON recordings(status);
    ",
];

/// The schema version this build writes.
pub(crate) const CURRENT: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`CURRENT`], one transaction per step, so a crash mid-way leaves
/// the last complete version.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), MeetError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > CURRENT {
        return Err(MeetError::SchemaTooNew {
            found,
            supported: CURRENT,
        });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        // PRAGMA takes no bound parameters; the value is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {}", version + 1))?;
        tx.commit()?;
    }
    Ok(())
}
