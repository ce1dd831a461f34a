//! Mail: invitations, updates and cancellations built here (text, HTML and an iCalendar part,
//! in the organizer's language), queued durably in the store in the same transaction as the
//! change they announce, and sent by one background task — through `[mail] smtp_url` with
//! `lettre`, or, when no SMTP server is configured, written to `<data>/outbox/*.eml`.
//!
//! The queue is the store's `mail_queue` table: a mail is sent at least once and marked sent
//! right after the server accepted it; a failed attempt is retried with a doubling delay (30 s
//! up to an hour), and a restart resumes the queue at once: every mail not sent yet is tried
//! when the mailer starts.

use std::path::PathBuf;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use pont_meet::{Account, Meeting};
use pont_schedule::jiff::Timestamp;
use pont_schedule::{Conference, Invite, Person, Series};

use crate::i18n::{Lang, Tr};
use crate::planning::ts;
use crate::{Portal, SharedStore};

/// What a mail announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Invite,
    Update,
    CancelSeries,
    /// One occurrence, by its original start.
    CancelOccurrence(i64),
}

/// Where mails go.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `smtp://host:port` (STARTTLS when offered), `smtps://…`, with `user:password@`; `None`:
    /// the outbox folder.
    pub smtp_url: Option<String>,
    /// The sender address.
    pub from: String,
    /// `<data>/outbox`.
    pub outbox: PathBuf,
}

/// The `Message-ID`/UID domain and sender.
fn from_mailbox(portal: &Portal) -> Result<Mailbox, String> {
    portal
        .inner
        .config
        .mail
        .from
        .parse::<Mailbox>()
        .map_err(|e| format!("[mail] from: {e}"))
}

/// The weekday's name and the date, `HH:MM`–`HH:MM` and the zone: the meeting's times as its
/// invitees read them.
pub fn when_text(t: &Tr<'_>, series: &Series, start: Timestamp, end: Timestamp) -> String {
    let s = start.to_zoned_datetime(series.tz.clone());
    let e = end.to_zoned_datetime(series.tz.clone());
    let day = t.get(&format!(
        "day-{}",
        crate::planning::WEEKDAYS[s.weekday().to_monday_zero_offset() as usize]
    ));
    format!(
        "{day} {}, {}–{} ({})",
        s.strftime("%Y-%m-%d"),
        s.strftime("%H:%M"),
        e.strftime("%H:%M"),
        series.tz.iana_name().unwrap_or("UTC")
    )
}

/// How the series repeats, in words.
pub fn repeat_text(t: &Tr<'_>, series: &Series) -> Option<String> {
    let rule = series.rule.as_ref()?;
    let until = rule.until.to_string();
    Some(match rule.freq {
        pont_schedule::Freq::Daily => t.arg("repeat-daily", "until", &until),
        pont_schedule::Freq::Monthly => t.arg("repeat-monthly", "until", &until),
        pont_schedule::Freq::Weekly => {
            let days: Vec<String> = if rule.weekdays.is_empty() {
                vec![series.start.weekday()]
            } else {
                rule.weekdays.clone()
            }
            .iter()
            .map(|d| {
                t.get(&format!(
                    "day-{}",
                    crate::planning::WEEKDAYS[d.to_monday_zero_offset() as usize]
                ))
            })
            .collect();
            let mut args = fluent_bundle::FluentArgs::new();
            args.set("days", days.join(", "));
            args.set("until", until);
            t.args("repeat-weekly", &args)
        }
    })
}

/// The ways to join, as the mail and the calendar show them.
pub struct Reach {
    pub web: String,
    pub sip: String,
    pub numbers: Vec<String>,
    pub room: u64,
    pub pin: Option<String>,
}

impl Portal {
    pub fn reach(&self, meeting: &Meeting) -> Reach {
        let c = &self.inner.config;
        let room = meeting.room.number.0;
        Reach {
            web: format!("{}/r/{room}", c.public_url),
            sip: format!("sip:{room}@{}", c.sip_host),
            // "Phone dial-in shown in the invitation" off: the mail, the calendar part and the
            // meeting's page leave the numbers out.
            numbers: if meeting.plan.phone_dial_in {
                c.dialin_numbers.clone()
            } else {
                Vec::new()
            },
            room,
            pin: meeting.room.pin.as_ref().map(|p| p.as_str().to_owned()),
        }
    }

    /// The calendar object of `meeting` without its method: what invitations and feeds share.
    pub fn invite_of(
        &self,
        organizer: &Account,
        meeting: &Meeting,
        lang: Lang,
        now: i64,
    ) -> Invite {
        let t = Tr::new(lang, self.catalog());
        let reach = self.reach(meeting);
        let host = self
            .inner
            .config
            .mail
            .from
            .rsplit('@')
            .next()
            .unwrap_or("pont")
            .trim_end_matches('>')
            .to_owned();
        let mut conferences = vec![Conference {
            uri: reach.web.clone(),
            features: vec!["VIDEO", "AUDIO"],
            label: Some(t.get("mail-join")),
        }];
        for n in &reach.numbers {
            let digits: String = n
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '+')
                .collect();
            let mut uri = format!("tel:{digits},,{}#", reach.room);
            if let Some(pin) = &reach.pin {
                uri.push_str(&format!(",,{pin}#"));
            }
            conferences.push(Conference {
                uri,
                features: vec!["PHONE"],
                label: Some(t.get("mail-phone")),
            });
        }
        conferences.push(Conference {
            uri: reach.sip.clone(),
            features: vec!["VIDEO", "AUDIO"],
            label: Some(t.get("mail-sip")),
        });
        Invite {
            uid: format!("meeting-{}@{host}", meeting.id.0),
            sequence: meeting.sequence,
            dtstamp: ts(now),
            summary: meeting.subject.clone(),
            // The mail's text, filled in by whoever knows the change ([`invitation`]).
            description: String::new(),
            url: Some(reach.web),
            organizer: Person {
                name: Some(organizer.name.clone()),
                email: organizer
                    .email
                    .clone()
                    .unwrap_or_else(|| self.inner.config.mail.from.clone()),
            },
            attendees: meeting
                .invitees
                .iter()
                .map(|e| Person {
                    name: None,
                    email: e.clone(),
                })
                .collect(),
            conferences,
        }
    }

    /// The plain-text body: who, what, when, how to join.
    fn body_text(
        &self,
        t: &Tr<'_>,
        organizer: &Account,
        meeting: &Meeting,
        series: Option<&Series>,
        change: Change,
    ) -> String {
        let reach = self.reach(meeting);
        let mut out = String::new();
        let intro = match change {
            Change::Invite => "mail-invite-intro",
            Change::Update => "mail-update-intro",
            Change::CancelSeries | Change::CancelOccurrence(_) => "mail-cancel-intro",
        };
        out.push_str(&t.arg(intro, "organizer", &organizer.name));
        out.push_str("\n\n");
        out.push_str(&meeting.subject);
        out.push('\n');
        if let Some(series) = series {
            let (start, end) = match change {
                Change::CancelOccurrence(at) => (
                    ts(at),
                    ts(at + i64::from(meeting.duration_secs.unwrap_or(0))),
                ),
                _ => {
                    let first = series.all().into_iter().find(|o| !o.cancelled);
                    first.map_or((ts(0), ts(0)), |o| (o.start, o.end))
                }
            };
            out.push_str(&format!(
                "{}: {}\n",
                t.get("mail-when"),
                when_text(t, series, start, end)
            ));
            if !matches!(change, Change::CancelOccurrence(_))
                && let Some(r) = repeat_text(t, series)
            {
                out.push_str(&format!("{}: {r}\n", t.get("mail-repeats")));
            }
        }
        if matches!(change, Change::CancelSeries | Change::CancelOccurrence(_)) {
            return out;
        }
        out.push_str(&format!("\n{}: {}\n", t.get("mail-join"), reach.web));
        for n in &reach.numbers {
            let mut args = fluent_bundle::FluentArgs::new();
            args.set("number", n.as_str());
            args.set("room", reach.room.to_string());
            let line = t.args("mail-phone-steps", &args);
            out.push_str(&format!("{}: {line}", t.get("mail-phone")));
            if let Some(pin) = &reach.pin {
                out.push_str(&format!(", {}", t.arg("mail-phone-pin", "pin", pin)));
            }
            out.push('\n');
        }
        out.push_str(&format!("{}: {}\n", t.get("mail-sip"), reach.sip));
        out.push_str(&format!("\n{}\n", t.get("mail-not-cut")));
        out
    }
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole RFC 5322 message of `change` for `to`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn invitation(
    portal: &Portal,
    lang: Lang,
    organizer: &Account,
    meeting: &Meeting,
    series: &Series,
    change: Change,
    to: &str,
    now: i64,
) -> Result<Vec<u8>, String> {
    let t = Tr::new(lang, portal.catalog());
    let mut invite = portal.invite_of(organizer, meeting, lang, now);
    let text = portal.body_text(&t, organizer, meeting, Some(series), change);
    invite.description = text.clone();
    let (subject_id, method, ics) = match change {
        Change::Invite => (
            "mail-invite-subject",
            "REQUEST",
            pont_schedule::request(&invite, series),
        ),
        Change::Update => (
            "mail-update-subject",
            "REQUEST",
            pont_schedule::request(&invite, series),
        ),
        Change::CancelSeries => (
            "mail-cancel-subject",
            "CANCEL",
            pont_schedule::cancel(&invite, series, None),
        ),
        Change::CancelOccurrence(at) => (
            "mail-cancel-subject",
            "CANCEL",
            pont_schedule::cancel(&invite, series, Some(ts(at))),
        ),
    };
    let subject = t.arg(subject_id, "subject", &meeting.subject);
    let reach = portal.reach(meeting);
    let mut html = String::from("<!doctype html><html><body style=\"font-family:sans-serif\">");
    for (i, para) in text.split("\n\n").enumerate() {
        html.push_str("<p>");
        let lines: Vec<String> = para.lines().map(escape_html).collect();
        html.push_str(&lines.join("<br>"));
        html.push_str("</p>");
        if i == 1 && !matches!(change, Change::CancelSeries | Change::CancelOccurrence(_)) {
            html.push_str(&format!(
                "<p><a href=\"{}\" style=\"display:inline-block;padding:.6em 1.2em;background:#1d4ed8;color:#fff;border-radius:6px;text-decoration:none\">{}</a></p>",
                escape_html(&reach.web),
                escape_html(&t.get("mail-join"))
            ));
        }
    }
    html.push_str("</body></html>");
    let to_box: Mailbox = to
        .parse::<Address>()
        .map(|a| Mailbox::new(None, a))
        .map_err(|e| format!("invitee address: {e}"))?;
    let calendar = SinglePart::builder()
        .header(
            ContentType::parse(&format!("text/calendar; charset=utf-8; method={method}"))
                .map_err(|e| e.to_string())?,
        )
        .header(ContentTransferEncoding::Base64)
        .body(ics.clone().into_bytes());
    let attachment = SinglePart::builder()
        .header(
            ContentType::parse("application/ics; name=\"invite.ics\"")
                .map_err(|e| e.to_string())?,
        )
        .header(lettre::message::header::ContentDisposition::attachment(
            "invite.ics",
        ))
        .header(ContentTransferEncoding::Base64)
        .body(ics.into_bytes());
    let message = Message::builder()
        .from(from_mailbox(portal)?)
        .to(to_box)
        .subject(subject)
        .multipart(
            MultiPart::mixed()
                .multipart(
                    MultiPart::alternative()
                        .singlepart(SinglePart::plain(text))
                        .singlepart(SinglePart::html(html))
                        .singlepart(calendar),
                )
                .singlepart(attachment),
        )
        .map_err(|e| e.to_string())?;
    Ok(message.formatted())
}

/// A mail not sent yet waits this long after its `n`-th failed attempt.
pub fn retry_delay(attempts: u32) -> Duration {
    Duration::from_secs(30u64.saturating_mul(1 << attempts.min(7)).min(3600))
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
}

fn transport(settings: &MailSettings) -> Result<Transport, String> {
    let Some(url) = &settings.smtp_url else {
        return Ok(Transport::Outbox(settings.outbox.clone()));
    };
    // The contract: plain `smtp://` upgrades with STARTTLS when the server offers it.
    let url = if url.starts_with("smtp://") && !url.contains("tls=") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}tls=opportunistic")
    } else {
        url.clone()
    };
    let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
        .map_err(|e| format!("[mail] smtp_url: {e}"))?;
    Ok(Transport::Smtp(
        builder.timeout(Some(Duration::from_secs(20))).build(),
    ))
}

/// Checks `[mail]` at start: a bad URL or sender stops the server with a clear message.
pub fn check_settings(settings: &MailSettings) -> Result<(), String> {
    settings
        .from
        .parse::<Mailbox>()
        .map_err(|e| format!("[mail] from {:?}: {e}", settings.from))?;
    transport(settings).map(|_| ())
}

/// Sends the queue forever: due mails, then a sleep until the next one is due or `wake`.
pub async fn run_mailer(
    store: SharedStore,
    settings: MailSettings,
    wake: std::sync::Arc<tokio::sync::Notify>,
) {
    let transport = match transport(&settings) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "mail is not sent");
            return;
        }
    };
    let sender = settings.from.parse::<Mailbox>().ok().map(|m| m.email);
    // What waited for a retry when the server stopped is tried now: a restart is usually the
    // fix (the SMTP server is back, the configuration corrected), not a reason to wait out
    // the backoff. A mail that fails again resumes its doubling delay from its attempts.
    let now = crate::unix_now();
    match store.run(move |st| st.mails_due_now(now)).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(pending = n, "mail queue resumed"),
        Err(e) => tracing::error!(error = %e, "mail queue unreadable"),
    }
    loop {
        let now = crate::unix_now();
        let due = store
            .run(move |st| st.due_mails(now, 20))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "mail queue unreadable");
                Vec::new()
            });
        for mail in due {
            let result = send(&transport, sender.as_ref(), &mail).await;
            let id = mail.id;
            let attempts = mail.attempts;
            let now = crate::unix_now();
            let done = match result {
                Ok(()) => {
                    tracing::info!(mail = id, "mail sent");
                    store.run(move |st| st.mail_sent(id, now)).await
                }
                Err(e) => {
                    let retry = now + retry_delay(attempts).as_secs() as i64;
                    tracing::warn!(mail = id, attempts = attempts + 1, error = %e, "mail not sent; will retry");
                    store.run(move |st| st.mail_failed(id, &e, retry)).await
                }
            };
            if let Err(e) = done {
                tracing::error!(mail = id, error = %e, "mail queue not updated");
            }
        }
        let next = store.run(|st| st.next_mail_at()).await.ok().flatten();
        let wait = match next {
            Some(at) => {
                Duration::from_secs(u64::try_from(at - crate::unix_now()).unwrap_or(0).max(1))
            }
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn send(
    transport: &Transport,
    sender: Option<&Address>,
    mail: &pont_meet::QueuedMail,
) -> Result<(), String> {
    match transport {
        Transport::Outbox(dir) => {
            let dir = dir.clone();
            let name = format!("mail-{:06}.eml", mail.id);
            let bytes = mail.message.clone();
            tokio::task::spawn_blocking(move || {
                std::fs::create_dir_all(&dir)?;
                let tmp = dir.join(format!(".{name}.tmp"));
                std::fs::write(&tmp, &bytes)?;
                std::fs::rename(&tmp, dir.join(&name))
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("outbox: {e}"))
        }
        Transport::Smtp(smtp) => {
            let to: Vec<Address> = mail
                .recipients
                .iter()
                .filter_map(|r| r.parse::<Address>().ok())
                .collect();
            let envelope = Envelope::new(sender.cloned(), to).map_err(|e| e.to_string())?;
            smtp.send_raw(&envelope, &mail.message)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }
}
