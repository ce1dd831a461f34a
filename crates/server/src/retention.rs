//! The retention job: `pont recordings purge` and the server's hourly run. It applies
//! `[recording] retention` as of a given time (the decisions are `pont_meet::retention`'s
//! pure functions): deletion dates filled in, the owner warned by mail before deletion
//! (`warn_days`), then the file and its row deleted.
//!
//! Deleting never leaves a row without its file nor, for good, a file without a row: the row
//! goes first, in the transaction that notes the file in `file_deletions`; the file goes next;
//! a run cut in between finishes the file at the start of the next one.
//!
//! Mails are written to `<data>/outbox/*.eml` (RFC 5322, built with `lettre`): the mail queue
//! of the scheduling work sends that folder when SMTP is configured.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use lettre::message::{Mailbox, Message, header::ContentType};
use pont_meet::retention::{Due, Retention, due};
use pont_meet::{Recording, RecordingStatus, Store};

/// What the job needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) retention: Retention,
    pub(crate) warn_days: Vec<u32>,
    /// `<data>/recordings`.
    pub(crate) recordings: PathBuf,
    /// `<data>/outbox`.
    pub(crate) outbox: PathBuf,
    /// Base of the links in mails.
    pub(crate) public_url: String,
}

/// One line per recording warned or deleted (or that would be, in a dry run).
pub(crate) fn purge(
    store: &mut Store,
    policy: &Policy,
    now: i64,
    dry_run: bool,
) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    if !dry_run {
        for file in store.pending_file_deletions()? {
            remove_file(&policy.recordings, &file)?;
            store.file_deleted(&file)?;
            lines.push(format!(
                "deleted file {file} (left by an interrupted purge)"
            ));
        }
    }
    for rec in store.recordings()? {
        // A recording still being written is left alone, whatever its age.
        if matches!(
            rec.status,
            RecordingStatus::Recording | RecordingStatus::Processing
        ) {
            continue;
        }
        let delete_at = match rec.delete_at {
            Some(at) => Some(at),
            None => {
                let at = policy.retention.delete_at(rec.started_at);
                if at.is_some() && !dry_run {
                    store.set_delete_at(rec.id, at)?;
                }
                at
            }
        };
        let Some(delete_at) = delete_at else {
            continue;
        };
        let sent = store.warnings_sent(rec.id)?;
        let day = pont_meet::rfc3339::format_utc(delete_at)[..10].to_owned();
        match due(delete_at, now, &policy.warn_days, &sent) {
            None => {}
            Some(Due::Warn(days)) => {
                let owner = rec.owner.map(|o| store.account(o)).transpose()?.flatten();
                let to = owner.as_ref().and_then(|a| a.email.clone());
                let verb = if dry_run { "would warn" } else { "warned" };
                let whom = to.clone().unwrap_or_else(|| "no e-mail on record".into());
                if !dry_run {
                    if let Some(to) = &to {
                        write_warning(policy, &rec, to, &day, days, now)?;
                    }
                    store.record_warning(rec.id, days, now)?;
                }
                lines.push(format!(
                    "{verb} recording {} {:?}: deleted on {day} ({days} days), owner {whom}",
                    rec.id.0, rec.title
                ));
            }
            Some(Due::Delete) => {
                if dry_run {
                    lines.push(format!(
                        "would delete recording {} {:?} (due {day})",
                        rec.id.0, rec.title
                    ));
                    continue;
                }
                if let Some(file) = store.forget_recording(rec.id, now)? {
                    remove_file(&policy.recordings, &file)?;
                    store.file_deleted(&file)?;
                }
                lines.push(format!(
                    "deleted recording {} {:?} (due {day})",
                    rec.id.0, rec.title
                ));
            }
        }
    }
    Ok(lines)
}

fn remove_file(root: &Path, file: &str) -> anyhow::Result<()> {
    let Some(key) = pont_record::FileKey::parse(file) else {
        // A name that is not ours names no file of ours: nothing to delete.
        return Ok(());
    };
    // The recording, and the chat saved beside it.
    for key in [key.chat(), key] {
        let path = root.join(key.as_str());
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot delete {}", path.display()));
            }
        }
    }
    Ok(())
}

/// The warning mail, bilingual (the account's language is not known yet), into the outbox.
fn write_warning(
    policy: &Policy,
    rec: &Recording,
    to: &str,
    day: &str,
    days: u32,
    now: i64,
) -> anyhow::Result<()> {
    let host = policy
        .public_url
        .split("://")
        .nth(1)
        .and_then(|h| h.split([':', '/']).next())
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost");
    let from: Mailbox = format!("pont <noreply@{host}>")
        .parse()
        .with_context(|| format!("no sender address for host {host}"))?;
    let Ok(to) = to.parse::<Mailbox>() else {
        tracing::warn!(
            recording = rec.id.0,
            "owner's e-mail is not an address: no warning mail"
        );
        return Ok(());
    };
    // The title is the owner's text: no line breaks reach a header.
    let title: String = rec
        .title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let link = format!("{}/recordings/{}", policy.public_url, rec.id.0);
    let body = format!(
        "Bonjour,\n\nVotre enregistrement « {title} » sera supprimé le {day} (dans {days} jours), \
         selon la durée de conservation de votre établissement. Téléchargez-le avant si vous en \
         avez besoin :\n{link}\n\n---\n\nHello,\n\nYour recording \"{title}\" will be deleted on \
         {day} (in {days} days), under your institution's retention policy. Download it before \
         then if you need it:\n{link}\n"
    );
    let mail = Message::builder()
        .from(from)
        .to(to)
        .subject(format!(
            "Suppression le {day} : « {title} » / Deletion on {day}: \"{title}\""
        ))
        .date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(now.max(0) as u64))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .context("cannot build the warning mail")?;
    std::fs::create_dir_all(&policy.outbox)
        .with_context(|| format!("cannot create {}", policy.outbox.display()))?;
    let name = format!("{now}-recording-{}-{days}d.eml", rec.id.0);
    let tmp = policy.outbox.join(format!(".{name}.tmp"));
    // Written whole, then renamed: a mail sender never sees half a mail.
    std::fs::write(&tmp, mail.formatted())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, policy.outbox.join(&name))
        .with_context(|| format!("cannot write {name} in the outbox"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use pont_meet::{ClosedRecording, NewRecording};
    use pont_types::RoomId;

    use super::*;

    fn setup() -> (tempfile::TempDir, Store, Policy) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("pont.sqlite3")).unwrap();
        let policy = Policy {
            retention: Retention::Days(10),
            warn_days: vec![3],
            recordings: dir.path().join("recordings"),
            outbox: dir.path().join("outbox"),
            public_url: "https://visio.univ-exemple.fr".into(),
        };
        std::fs::create_dir_all(&policy.recordings).unwrap();
        (dir, store, policy)
    }

    fn recorded(
        store: &mut Store,
        policy: &Policy,
        owner: Option<pont_meet::OrganizerId>,
    ) -> Recording {
        let rec = store
            .create_recording(
                NewRecording {
                    room: RoomId(123_456),
                    meeting: None,
                    owner,
                    title: "Cours\r\nBcc: x@evil.example".into(),
                    started_at: 0,
                    continues: None,
                },
                |id| {
                    pont_record::FileKey::for_recording(id.0)
                        .as_str()
                        .to_owned()
                },
            )
            .unwrap();
        std::fs::write(policy.recordings.join(&rec.file), b"mp4").unwrap();
        let closed = ClosedRecording {
            duration_ms: 1000,
            size: 3,
            sha256: "00".repeat(32),
            interrupted: false,
        };
        store.close_recording(rec.id, &closed).unwrap();
        rec
    }

    #[test]
    fn a_purge_cut_short_after_the_row_finishes_the_file_next_time() {
        let (_dir, mut store, policy) = setup();
        let rec = recorded(&mut store, &policy, None);
        let file = policy.recordings.join(&rec.file);
        // A purge that died between the row and the file.
        store.forget_recording(rec.id, 5).unwrap();
        assert!(file.exists());
        let lines = purge(&mut store, &policy, 6, false).unwrap();
        assert!(!file.exists(), "{lines:?}");
        assert!(store.pending_file_deletions().unwrap().is_empty());
        assert!(lines[0].contains("interrupted purge"), "{lines:?}");
    }

    #[test]
    fn warned_once_in_a_mail_without_injected_headers_then_deleted() {
        let (_dir, mut store, policy) = setup();
        let owner = store.create_organizer("Ana", 0).unwrap();
        store.set_email(owner.id, "ana@univ-exemple.fr").unwrap();
        let rec = recorded(&mut store, &policy, Some(owner.id));
        let day = 86_400;
        assert!(
            purge(&mut store, &policy, 6 * day, false)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.recording(rec.id).unwrap().unwrap().delete_at,
            Some(10 * day)
        );
        // A dry run says it, does nothing.
        let dry = purge(&mut store, &policy, 7 * day, true).unwrap();
        assert!(dry[0].starts_with("would warn"), "{dry:?}");
        assert!(!policy.outbox.exists());
        let lines = purge(&mut store, &policy, 7 * day, false).unwrap();
        assert!(lines[0].starts_with("warned"), "{lines:?}");
        let mails: Vec<_> = std::fs::read_dir(&policy.outbox).unwrap().collect();
        assert_eq!(mails.len(), 1);
        let mail = std::fs::read_to_string(mails[0].as_ref().unwrap().path()).unwrap();
        assert!(!mail.lines().any(|l| l.starts_with("Bcc:")), "{mail}");
        assert!(mail.contains("To: ana@univ-exemple.fr"), "{mail}");
        assert!(
            purge(&mut store, &policy, 8 * day, false)
                .unwrap()
                .is_empty()
        );
        let lines = purge(&mut store, &policy, 10 * day, false).unwrap();
        assert!(lines[0].starts_with("deleted recording"), "{lines:?}");
        assert!(store.recording(rec.id).unwrap().is_none());
        assert!(!policy.recordings.join(&rec.file).exists());
    }
}
