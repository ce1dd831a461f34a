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
    // 2 -> 3: scheduled meetings' invitees (a JSON array of e-mail addresses) and recurrence.
    // Existing meetings get no invitees and no recurrence.
    "
    ALTER TABLE meetings ADD COLUMN invitees TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE meetings ADD COLUMN recurrence TEXT NOT NULL DEFAULT 'none'
        CHECK (recurrence IN ('none', 'daily', 'weekly', 'monthly'));
    ",
    // 3 -> 4: organizers become accounts (e-mail, the IdP's issuer and subject, a role, when
    // last seen); server-side sign-in sessions; OpenID Connect logins in flight. Existing
    // organizers keep their id and tokens and become `organizer` accounts.
    "
    ALTER TABLE organizers ADD COLUMN email TEXT;
    ALTER TABLE organizers ADD COLUMN oidc_issuer TEXT;
    ALTER TABLE organizers ADD COLUMN oidc_subject TEXT;
    ALTER TABLE organizers ADD COLUMN role TEXT NOT NULL DEFAULT 'organizer'
        CHECK (role IN ('organizer', 'admin'));
    ALTER TABLE organizers ADD COLUMN last_seen_at INTEGER;
    CREATE UNIQUE INDEX organizers_oidc ON organizers(oidc_issuer, oidc_subject)
        WHERE oidc_subject IS NOT NULL;
    CREATE TABLE sessions (
        id            INTEGER PRIMARY KEY,
        sha256        BLOB NOT NULL UNIQUE,
        organizer_id  INTEGER NOT NULL REFERENCES organizers(id) ON DELETE CASCADE,
        csrf          TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        last_seen_at  INTEGER NOT NULL,
        revoked       INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE login_attempts (
        state_sha256   BLOB PRIMARY KEY,
        nonce          TEXT NOT NULL,
        pkce_verifier  TEXT NOT NULL,
        next           TEXT NOT NULL,
        created_at     INTEGER NOT NULL
    );
    ",
    // 4 -> 5: the recording store's workflow. A recording can be validated (with a watch and
    // a download token, both NULL otherwise), has a description, a viewing window (trim, in
    // ms) and a deletion date. SQLite cannot widen a CHECK: the table is rebuilt, rows kept.
    // A meeting names who owns its recordings (NULL: its organizer).
    "
    CREATE TABLE recordings_v5 (
        id              INTEGER PRIMARY KEY,
        room_number     INTEGER NOT NULL,
        meeting_id      INTEGER REFERENCES meetings(id) ON DELETE SET NULL,
        owner_id        INTEGER REFERENCES organizers(id) ON DELETE SET NULL,
        title           TEXT NOT NULL,
        file            TEXT NOT NULL,
        started_at      INTEGER NOT NULL,
        duration_ms     INTEGER NOT NULL DEFAULT 0,
        size            INTEGER NOT NULL DEFAULT 0,
        sha256          TEXT,
        status          TEXT NOT NULL DEFAULT 'recording'
                        CHECK (status IN ('recording', 'processing', 'pending_validation',
                                          'validated')),
        visibility      TEXT NOT NULL DEFAULT 'private'
                        CHECK (visibility IN ('private', 'organizers', 'public')),
        interrupted     INTEGER NOT NULL DEFAULT 0,
        description     TEXT NOT NULL DEFAULT '',
        trim_start_ms   INTEGER,
        trim_end_ms     INTEGER,
        watch_token     TEXT UNIQUE,
        download_token  TEXT UNIQUE,
        delete_at       INTEGER,
        CHECK ((trim_start_ms IS NULL) = (trim_end_ms IS NULL)),
        CHECK ((status = 'validated') = (watch_token IS NOT NULL)),
        CHECK ((watch_token IS NULL) = (download_token IS NULL))
    );
    INSERT INTO recordings_v5 (id, room_number, meeting_id, owner_id, title, file, started_at,
                               duration_ms, size, sha256, status, visibility, interrupted)
        SELECT id, room_number, meeting_id, owner_id, title, file, started_at,
               duration_ms, size, sha256, status, visibility, interrupted
        FROM recordings;
    DROP TABLE recordings;
    ALTER TABLE recordings_v5 RENAME TO recordings;
    CREATE INDEX recordings_status ON recordings(status);
    CREATE INDEX recordings_delete_at ON recordings(delete_at);
    ALTER TABLE meetings ADD COLUMN recording_owner_id INTEGER
        REFERENCES organizers(id) ON DELETE SET NULL;
    ",
    // 5 -> 6: retention, and parts. A recording the duration cap started continues the one it
    // closed (`continues_id`). The deletion warnings sent (one row per recording and lead time),
    // and the files whose row is gone but which are not deleted yet (a purge cut short
    // finishes them next time: no row without its file, no file left without a row).
    "
    CREATE TABLE recording_warnings (
        recording_id  INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
        days          INTEGER NOT NULL,
        sent_at       INTEGER NOT NULL,
        PRIMARY KEY (recording_id, days)
    );
    CREATE TABLE file_deletions (
        file   TEXT PRIMARY KEY,
        since  INTEGER NOT NULL
    );
    ALTER TABLE recordings ADD COLUMN continues_id INTEGER
        REFERENCES recordings(id) ON DELETE SET NULL;
    ",
    // 6 -> 7: scheduling. A meeting's time zone and options, its weekly days and last day,
    // the SEQUENCE of its invitations, a soft delete (the room and recordings stay); the
    // people of each meeting (organizer and invitees, lower-cased) for overlap checks; one
    // row per changed or cancelled occurrence; the durable mail queue; personal feed tokens.
    "
    ALTER TABLE meetings ADD COLUMN timezone TEXT NOT NULL DEFAULT 'Europe/Paris';
    ALTER TABLE meetings ADD COLUMN entity TEXT;
    ALTER TABLE meetings ADD COLUMN waiting_room INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE meetings ADD COLUMN phone_dial_in INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE meetings ADD COLUMN streaming_url TEXT;
    ALTER TABLE meetings ADD COLUMN weekdays TEXT NOT NULL DEFAULT '';
    ALTER TABLE meetings ADD COLUMN until TEXT;
    ALTER TABLE meetings ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE meetings ADD COLUMN deleted_at INTEGER;
    CREATE INDEX meetings_organizer ON meetings(organizer_id, start_at);
    CREATE TABLE meeting_people (
        meeting_id  INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
        email       TEXT NOT NULL,
        PRIMARY KEY (meeting_id, email)
    ) WITHOUT ROWID;
    CREATE INDEX meeting_people_email ON meeting_people(email);
    INSERT OR IGNORE INTO meeting_people (meeting_id, email)
        SELECT meetings.id, lower(json_each.value) FROM meetings, json_each(meetings.invitees);
    CREATE TABLE occurrence_changes (
        meeting_id      INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
        original_start  INTEGER NOT NULL,
        cancelled       INTEGER NOT NULL DEFAULT 0,
        start_at        INTEGER,
        duration_secs   INTEGER,
        PRIMARY KEY (meeting_id, original_start)
    ) WITHOUT ROWID;
    CREATE TABLE mail_queue (
        id               INTEGER PRIMARY KEY,
        recipients       TEXT NOT NULL,
        message          BLOB NOT NULL,
        created_at       INTEGER NOT NULL,
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  INTEGER NOT NULL,
        sent_at          INTEGER,
        last_error       TEXT
    );
    CREATE INDEX mail_queue_due ON mail_queue(next_attempt_at) WHERE sent_at IS NULL;
    ALTER TABLE organizers ADD COLUMN feed_token TEXT;
    ALTER TABLE organizers ADD COLUMN lang TEXT;
    CREATE UNIQUE INDEX organizers_feed_token ON organizers(feed_token);
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

#[cfg(test)]
mod tests {
    use rusqlite::params;

    use super::*;
    use crate::{MeetingId, MeetingKind, Recurrence, Store};

    /// A database as a build of schema version 2 left it: migrated to 2, one organizer, an
    /// instant meeting and a scheduled one.
    fn version_2_database(path: &std::path::Path) {
        let mut conn = Connection::open(path).unwrap();
        for (version, sql) in MIGRATIONS[..2].iter().enumerate() {
            let tx = conn.transaction().unwrap();
            tx.execute_batch(sql).unwrap();
            tx.execute_batch(&format!("PRAGMA user_version = {}", version + 1))
                .unwrap();
            tx.commit().unwrap();
        }
        conn.execute_batch(
            "INSERT INTO organizers (id, name, created_at) VALUES (1, 'Old', 5);
             INSERT INTO rooms (number, category, pin, organizer_id, created_at)
                 VALUES (123456, 'video', NULL, 1, 6), (654321, 'audio', '0042', 1, 7);",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO meetings (id, organizer_id, room_number, kind, subject, start_at,
                                   duration_secs, recording, created_at)
             VALUES (1, 1, 123456, 'instant', 'Then', NULL, NULL, 0, 6),
                    (2, 1, 654321, 'scheduled', 'Later', ?1, 1800, 1, 7)",
            params![1_796_117_400_i64],
        )
        .unwrap();
    }

    #[test]
    fn a_version_2_database_migrates_to_current_keeping_its_meetings_and_organizers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pont.sqlite3");
        version_2_database(&path);

        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), CURRENT);

        let instant = store.meeting(MeetingId(1)).unwrap().unwrap();
        assert_eq!(instant.kind, MeetingKind::Instant);
        assert_eq!(instant.subject, "Then");
        assert_eq!(instant.room.number.0, 123_456);
        assert!(instant.invitees.is_empty());
        assert_eq!(instant.recurrence, Recurrence::None);

        let scheduled = store.meeting(MeetingId(2)).unwrap().unwrap();
        assert_eq!(scheduled.kind, MeetingKind::Scheduled);
        assert_eq!(scheduled.start_at, Some(1_796_117_400));
        assert_eq!(scheduled.duration_secs, Some(1800));
        assert!(scheduled.recording);
        assert_eq!(
            scheduled.room.pin.as_ref().map(|p| p.as_str()),
            Some("0042")
        );
        assert!(scheduled.invitees.is_empty());
        assert_eq!(scheduled.recurrence, Recurrence::None);

        // The organizer is now an account, an organizer that has not signed in yet.
        let old = store.account(crate::OrganizerId(1)).unwrap().unwrap();
        assert_eq!(old.name, "Old");
        assert_eq!(old.role, crate::Role::Organizer);
        assert_eq!(old.email, None);
        assert_eq!(old.last_seen_at, None);

        // Reopening an up-to-date file runs nothing again.
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), CURRENT);
        assert_eq!(store.meeting(MeetingId(2)).unwrap(), Some(scheduled));
    }

    #[test]
    fn the_new_columns_refuse_unknown_recurrences() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pont.sqlite3");
        version_2_database(&path);
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        let err = conn
            .execute("UPDATE meetings SET recurrence = 'yearly' WHERE id = 1", [])
            .unwrap_err();
        assert!(err.to_string().contains("CHECK"), "{err}");
    }
}
