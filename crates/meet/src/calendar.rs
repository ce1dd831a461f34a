//! Scheduling in the store: changing and cancelling meetings and their occurrences, who is
//! in which meeting (for overlap warnings and the calendar), the durable mail queue and the
//! personal calendar feeds. The calendar arithmetic itself is `pont-schedule`'s; this module
//! only stores what it is given.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::recordings::{is_link_token, link_token};
use crate::store::{Meeting, MeetingId, NewMeeting, OccurrenceChange, OrganizerId};
use crate::token::Pin;
use crate::{Account, MeetError, Store};

/// A mail waiting in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: i64,
    /// The envelope's recipients.
    pub recipients: Vec<String>,
    /// The whole RFC 5322 message, as it goes on the wire.
    pub message: Vec<u8>,
    pub attempts: u32,
}

pub(crate) fn write_people(
    tx: &Transaction<'_>,
    id: MeetingId,
    invitees: &[String],
) -> Result<(), MeetError> {
    tx.execute(
        "DELETE FROM meeting_people WHERE meeting_id = ?1",
        params![id.0],
    )?;
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO meeting_people (meeting_id, email) VALUES (?1, ?2)",
    )?;
    for email in invitees {
        insert.execute(params![id.0, email.to_lowercase()])?;
    }
    Ok(())
}

pub(crate) fn changes_of(
    conn: &Connection,
    id: MeetingId,
) -> Result<Vec<OccurrenceChange>, MeetError> {
    let mut stmt = conn.prepare_cached(
        "SELECT original_start, cancelled, start_at, duration_secs FROM occurrence_changes
         WHERE meeting_id = ?1 ORDER BY original_start",
    )?;
    let rows = stmt.query_map(params![id.0], |r| {
        Ok(OccurrenceChange {
            original_start: r.get(0)?,
            cancelled: r.get(1)?,
            start_at: r.get(2)?,
            duration_secs: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

impl Store {
    /// Replaces what the organizer may change of a meeting (everything but its room number
    /// and organizer), raises its SEQUENCE, and returns it. `keep_changes`: whether the
    /// occurrences' changes survive (they do not when the times of the series change).
    pub fn update_meeting(
        &mut self,
        id: MeetingId,
        new: NewMeeting,
        keep_changes: bool,
    ) -> Result<Option<Meeting>, MeetError> {
        let tx = self.conn.transaction()?;
        let room: Option<i64> = tx
            .query_row(
                "SELECT room_number FROM meetings WHERE id = ?1 AND deleted_at IS NULL",
                params![id.0],
                |r| r.get(0),
            )
            .optional()?;
        let Some(room) = room else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE rooms SET category = ?2, pin = ?3 WHERE number = ?1",
            params![
                room,
                new.category.as_str(),
                new.pin.as_ref().map(Pin::as_str)
            ],
        )?;
        tx.execute(
            "UPDATE meetings SET subject = ?2, start_at = ?3, duration_secs = ?4,
                 recording = ?5, invitees = ?6, recurrence = ?7, recording_owner_id = ?8,
                 timezone = ?9, entity = ?10, waiting_room = ?11, streaming_url = ?12,
                 weekdays = ?13, until = ?14, phone_dial_in = ?15, sequence = sequence + 1
             WHERE id = ?1",
            params![
                id.0,
                new.subject,
                new.start_at,
                new.duration_secs,
                new.recording,
                serde_json::to_string(&new.invitees).expect("strings serialize"),
                new.recurrence.as_str(),
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
        if !keep_changes {
            tx.execute(
                "DELETE FROM occurrence_changes WHERE meeting_id = ?1",
                params![id.0],
            )?;
        }
        write_people(&tx, id, &new.invitees)?;
        tx.commit()?;
        self.meeting(id)
    }

    /// Cancels a meeting (the whole series): it leaves every list and lookup; its room and
    /// recordings stay. Returns it as it was, or `None` if there was no such meeting.
    pub fn delete_meeting(
        &mut self,
        id: MeetingId,
        now_unix: i64,
    ) -> Result<Option<Meeting>, MeetError> {
        let Some(mut meeting) = self.meeting(id)? else {
            return Ok(None);
        };
        self.conn.execute(
            "UPDATE meetings SET deleted_at = ?2, sequence = sequence + 1 WHERE id = ?1",
            params![id.0, now_unix],
        )?;
        meeting.sequence += 1;
        Ok(Some(meeting))
    }

    /// Records a change (or a cancellation) of one occurrence, raises the meeting's SEQUENCE
    /// and returns the meeting as it now is.
    pub fn change_occurrence(
        &mut self,
        id: MeetingId,
        change: OccurrenceChange,
    ) -> Result<Option<Meeting>, MeetError> {
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE meetings SET sequence = sequence + 1 WHERE id = ?1 AND deleted_at IS NULL",
            params![id.0],
        )?;
        if n == 0 {
            return Ok(None);
        }
        tx.execute(
            "INSERT INTO occurrence_changes (meeting_id, original_start, cancelled, start_at,
                                             duration_secs)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (meeting_id, original_start) DO UPDATE SET
                 cancelled = excluded.cancelled, start_at = excluded.start_at,
                 duration_secs = excluded.duration_secs",
            params![
                id.0,
                change.original_start,
                change.cancelled,
                change.start_at,
                change.duration_secs
            ],
        )?;
        tx.commit()?;
        self.meeting(id)
    }

    /// The scheduled meetings someone is in — as organizer (by account) or as invitee (by
    /// e-mail, any case) — that may have an occurrence ending after `from_unix` (a series
    /// without a last day always may). `exclude`: the meeting being planned.
    pub fn meetings_involving(
        &self,
        organizer: Option<OrganizerId>,
        emails: &[String],
        from_unix: i64,
        exclude: Option<MeetingId>,
    ) -> Result<Vec<Meeting>, MeetError> {
        let lower: Vec<String> = emails.iter().map(|e| e.to_lowercase()).collect();
        let list = serde_json::to_string(&lower).expect("strings serialize");
        let mut stmt = self.conn.prepare_cached(
            "SELECT m.id FROM meetings m
             WHERE m.deleted_at IS NULL AND m.kind = 'scheduled' AND m.id != ?4
               AND (m.recurrence != 'none' OR m.start_at + m.duration_secs > ?3
                    OR EXISTS (SELECT 1 FROM occurrence_changes c WHERE c.meeting_id = m.id))
               AND (m.organizer_id = ?1
                    OR m.organizer_id IN (SELECT o.id FROM organizers o
                                          WHERE lower(o.email) IN (SELECT value FROM json_each(?2)))
                    OR EXISTS (SELECT 1 FROM meeting_people p WHERE p.meeting_id = m.id
                               AND p.email IN (SELECT value FROM json_each(?2))))
             ORDER BY m.id",
        )?;
        let ids = stmt
            .query_map(
                params![
                    organizer.map_or(-1, |o| o.0),
                    list,
                    from_unix,
                    exclude.map_or(-1, |m| m.0)
                ],
                |r| r.get::<_, i64>(0),
            )?
            .collect::<Result<Vec<i64>, _>>()?;
        let mut meetings = Vec::with_capacity(ids.len());
        for id in ids {
            meetings.extend(self.meeting(MeetingId(id))?);
        }
        Ok(meetings)
    }

    /// The meetings an account organizes or is invited to (by its e-mail): the calendar.
    pub fn calendar_meetings(
        &self,
        account: &Account,
        from_unix: i64,
    ) -> Result<Vec<Meeting>, MeetError> {
        let emails: Vec<String> = account.email.iter().cloned().collect();
        self.meetings_involving(Some(account.id), &emails, from_unix, None)
    }

    // ---- the mail queue ----

    /// Queues a mail: durable once this returns; sent by whoever drains the queue.
    pub fn enqueue_mail(
        &mut self,
        recipients: &[String],
        message: &[u8],
        now_unix: i64,
    ) -> Result<i64, MeetError> {
        self.conn.execute(
            "INSERT INTO mail_queue (recipients, message, created_at, next_attempt_at)
             VALUES (?1, ?2, ?3, ?3)",
            params![
                serde_json::to_string(recipients).expect("strings serialize"),
                message,
                now_unix
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Mails due for a (first or next) attempt at `now_unix`, the oldest first.
    pub fn due_mails(&self, now_unix: i64, limit: usize) -> Result<Vec<QueuedMail>, MeetError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, recipients, message, attempts FROM mail_queue
             WHERE sent_at IS NULL AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![now_unix, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, u32>(3)?,
                ))
            },
        )?;
        let mut mails = Vec::new();
        for row in rows {
            let (id, recipients, message, attempts) = row?;
            mails.push(QueuedMail {
                id,
                recipients: serde_json::from_str(&recipients)
                    .map_err(|_| MeetError::Corrupt("mail recipients"))?,
                message,
                attempts,
            });
        }
        Ok(mails)
    }

    /// The earliest next attempt of a mail not sent yet.
    pub fn next_mail_at(&self) -> Result<Option<i64>, MeetError> {
        Ok(self.conn.query_row(
            "SELECT min(next_attempt_at) FROM mail_queue WHERE sent_at IS NULL",
            [],
            |r| r.get(0),
        )?)
    }

    pub fn mail_sent(&mut self, id: i64, now_unix: i64) -> Result<(), MeetError> {
        self.conn.execute(
            "UPDATE mail_queue SET sent_at = ?2, attempts = attempts + 1, last_error = NULL
             WHERE id = ?1",
            params![id, now_unix],
        )?;
        Ok(())
    }

    /// An attempt failed: try again at `retry_at_unix`.
    pub fn mail_failed(
        &mut self,
        id: i64,
        error: &str,
        retry_at_unix: i64,
    ) -> Result<(), MeetError> {
        self.conn.execute(
            "UPDATE mail_queue SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3
             WHERE id = ?1",
            params![id, error, retry_at_unix],
        )?;
        Ok(())
    }

    /// Makes every mail not sent yet due at `now_unix`: what a mailer does when it starts, so
    /// that a mail whose last attempt failed before a restart (the SMTP server was down, the
    /// configuration wrong) is tried again at once rather than after its backoff. Returns how
    /// many mails are waiting.
    pub fn mails_due_now(&mut self, now_unix: i64) -> Result<u64, MeetError> {
        self.conn.execute(
            "UPDATE mail_queue SET next_attempt_at = ?1
             WHERE sent_at IS NULL AND next_attempt_at > ?1",
            params![now_unix],
        )?;
        self.mails_pending()
    }

    /// Mails not sent yet (for `/metrics` and the portal).
    pub fn mails_pending(&self) -> Result<u64, MeetError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM mail_queue WHERE sent_at IS NULL",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// The language the account last used in the portal (`en`, `fr`): its mails' language.
    pub fn account_lang(&self, account: OrganizerId) -> Result<Option<String>, MeetError> {
        Ok(self
            .conn
            .query_row(
                "SELECT lang FROM organizers WHERE id = ?1",
                params![account.0],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    pub fn set_account_lang(&mut self, account: OrganizerId, lang: &str) -> Result<(), MeetError> {
        self.conn.execute(
            "UPDATE organizers SET lang = ?2 WHERE id = ?1 AND lang IS NOT ?2",
            params![account.0, lang],
        )?;
        Ok(())
    }

    // ---- personal calendar feeds ----

    /// The account's feed token, made on first use.
    pub fn feed_token(&mut self, account: OrganizerId) -> Result<String, MeetError> {
        let existing: Option<String> = self.conn.query_row(
            "SELECT feed_token FROM organizers WHERE id = ?1",
            params![account.0],
            |r| r.get(0),
        )?;
        if let Some(t) = existing {
            return Ok(t);
        }
        let token = link_token();
        self.conn.execute(
            "UPDATE organizers SET feed_token = ?2 WHERE id = ?1",
            params![account.0, token],
        )?;
        Ok(token)
    }

    /// The account whose feed `token` is; `None` for anything else.
    pub fn account_by_feed_token(&self, token: &str) -> Result<Option<Account>, MeetError> {
        if !is_link_token(token) {
            return Ok(None);
        }
        let id: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM organizers WHERE feed_token = ?1",
                params![token],
                |r| r.get(0),
            )
            .optional()?;
        match id {
            Some(id) => self.account(OrganizerId(id)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MeetingKind;

    fn scheduled(subject: &str, invitees: &[&str], start: i64) -> NewMeeting {
        NewMeeting {
            kind: MeetingKind::Scheduled,
            start_at: Some(start),
            duration_secs: Some(3600),
            invitees: invitees.iter().map(|s| (*s).to_owned()).collect(),
            ..NewMeeting::instant(subject)
        }
    }

    #[test]
    fn change_cancel_and_find_meetings_by_person() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = Store::open(&dir.path().join("pont.sqlite3")).unwrap();
        let ada = st.create_organizer("Ada", 1).unwrap();
        let bob = st.create_organizer("Bob", 1).unwrap();
        let a = st
            .create_meeting(ada.id, scheduled("A", &["Carol@Example.org"], 10_000), 2)
            .unwrap();
        let b = st
            .create_meeting(bob.id, scheduled("B", &[], 10_000), 2)
            .unwrap();
        // Carol is found whatever the case; Bob's meeting involves neither Carol nor Ada.
        let found = st
            .meetings_involving(None, &["carol@example.ORG".into()], 0, None)
            .unwrap();
        assert_eq!(found.iter().map(|m| m.id).collect::<Vec<_>>(), vec![a.id]);
        let found = st.meetings_involving(Some(bob.id), &[], 0, None).unwrap();
        assert_eq!(found.iter().map(|m| m.id).collect::<Vec<_>>(), vec![b.id]);
        // Past single meetings are not looked at.
        assert!(
            st.meetings_involving(Some(bob.id), &[], 20_000, None)
                .unwrap()
                .is_empty()
        );
        // An update raises SEQUENCE and rewrites the people.
        let changed = st
            .update_meeting(a.id, scheduled("A2", &["dan@example.org"], 10_000), true)
            .unwrap()
            .unwrap();
        assert_eq!((changed.subject.as_str(), changed.sequence), ("A2", 1));
        assert!(
            st.meetings_involving(None, &["carol@example.org".into()], 0, None)
                .unwrap()
                .is_empty()
        );
        // One occurrence moved, then the series cancelled: gone from lookups.
        let moved = OccurrenceChange {
            original_start: 10_000,
            cancelled: false,
            start_at: Some(12_000),
            duration_secs: Some(600),
        };
        let m = st.change_occurrence(a.id, moved).unwrap().unwrap();
        assert_eq!((m.changes.clone(), m.sequence), (vec![moved], 2));
        let gone = st.delete_meeting(a.id, 50).unwrap().unwrap();
        assert_eq!(gone.sequence, 3);
        assert_eq!(st.meeting(a.id).unwrap(), None);
        assert!(st.change_occurrence(a.id, moved).unwrap().is_none());
    }

    #[test]
    fn the_mail_queue_survives_a_reopen_and_retries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pont.sqlite3");
        let mut st = Store::open(&path).unwrap();
        let id = st
            .enqueue_mail(&["a@example.org".into()], b"Subject: x\r\n\r\nhi", 100)
            .unwrap();
        drop(st);
        let mut st = Store::open(&path).unwrap();
        let due = st.due_mails(100, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].recipients, vec!["a@example.org".to_owned()]);
        st.mail_failed(id, "connection refused", 160).unwrap();
        assert!(st.due_mails(159, 10).unwrap().is_empty());
        assert_eq!(st.next_mail_at().unwrap(), Some(160));
        assert_eq!(st.due_mails(160, 10).unwrap()[0].attempts, 1);
        st.mail_sent(id, 161).unwrap();
        assert!(st.due_mails(10_000, 10).unwrap().is_empty());
        assert_eq!(st.mails_pending().unwrap(), 0);
    }

    #[test]
    fn a_restart_makes_failed_mails_due_at_once_and_leaves_sent_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pont.sqlite3");
        let mut st = Store::open(&path).unwrap();
        let failed = st
            .enqueue_mail(&["a@example.org".into()], b"x", 100)
            .unwrap();
        let sent = st
            .enqueue_mail(&["b@example.org".into()], b"y", 100)
            .unwrap();
        st.mail_failed(failed, "connection refused", 100 + 3600)
            .unwrap();
        st.mail_sent(sent, 101).unwrap();
        drop(st);
        let mut st = Store::open(&path).unwrap();
        assert!(st.due_mails(200, 10).unwrap().is_empty());
        assert_eq!(st.mails_due_now(200).unwrap(), 1);
        let due = st.due_mails(200, 10).unwrap();
        assert_eq!(due.iter().map(|m| m.id).collect::<Vec<_>>(), vec![failed]);
        assert_eq!(due[0].attempts, 1, "the attempts (the backoff) are kept");
    }

    #[test]
    fn feed_tokens_are_made_once_and_looked_up_by_shape() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = Store::open(&dir.path().join("pont.sqlite3")).unwrap();
        let ada = st.create_organizer("Ada", 1).unwrap();
        let t = st.feed_token(ada.id).unwrap();
        assert_eq!(st.feed_token(ada.id).unwrap(), t);
        assert_eq!(st.account_by_feed_token(&t).unwrap().unwrap().id, ada.id);
        assert_eq!(st.account_by_feed_token("x' OR 1=1").unwrap(), None);
    }
}
