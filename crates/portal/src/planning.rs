//! Planning meetings: the one place that turns what an organizer asks for (from the API or
//! the portal's form) into a stored meeting — checked against the calendar rules of
//! `pont-schedule`, with the overlap warnings of the people involved, and the invitation,
//! update or cancellation mails queued in the same step. Both the JSON API and the form call
//! these functions, so they refuse the same things with the same codes.

use std::collections::{BTreeMap, HashMap};

use pont_meet::{
    Account, Meeting, MeetingId, MeetingKind, NewMeeting, OccurrenceChange, Recurrence, Store,
};
use pont_schedule::jiff::civil::{Date, Weekday};
use pont_schedule::jiff::tz::TimeZone;
use pont_schedule::jiff::{SignedDuration, Timestamp};
use pont_schedule::{Busy, Exception, Freq, MAX_OCCURRENCES, Rule, Series, SeriesError};

use crate::mail::{self, Change};
use crate::{Portal, StoreError};

/// How far a series without a last day repeats: a year from its first start.
pub const DEFAULT_SERIES_DAYS: i64 = 365;

/// The most occurrences a listing returns at once.
pub const MAX_LISTED: usize = 5000;

/// A refused plan: a stable code (the API's `error`) and an English message. The portal's
/// form shows the catalogue's `plan-error-<code>` instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub code: &'static str,
    pub message: String,
}

impl PlanError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Why a planning call did not complete.
#[derive(Debug, thiserror::Error)]
pub enum PlanFailure {
    #[error("{}", .0.message)]
    Invalid(PlanError),
    /// No such meeting, or not the caller's.
    #[error("no such meeting")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PlanError> for PlanFailure {
    fn from(e: PlanError) -> Self {
        Self::Invalid(e)
    }
}

/// Someone already busy then: the API's `{"code": "busy", …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub email: String,
    pub meeting_id: i64,
    pub subject: String,
    /// Organizer of the other meeting (a name).
    pub organizer: String,
    pub start: i64,
    pub end: i64,
}

/// One occurrence as the API and the calendar show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub meeting: i64,
    pub original_start: i64,
    pub start: i64,
    pub end: i64,
    pub changed: bool,
    pub cancelled: bool,
}

/// A stored (or, with `check`, only checked) plan and its warnings.
#[derive(Debug, Clone)]
pub struct Planned {
    /// `None` when only checked.
    pub meeting: Option<Meeting>,
    pub warnings: Vec<Warning>,
}

/// The zone named `name`, or a 422 `invalid_timezone`.
pub fn zone(name: &str) -> Result<TimeZone, PlanError> {
    if name.is_empty() || name.len() > 64 {
        return Err(bad_zone(name));
    }
    TimeZone::get(name).map_err(|_| bad_zone(name))
}

fn bad_zone(name: &str) -> PlanError {
    let shown: String = name.chars().take(64).collect();
    PlanError::new(
        "invalid_timezone",
        format!("timezone {shown:?} is not an IANA time zone such as Europe/Paris"),
    )
}

pub fn weekday(name: &str) -> Option<Weekday> {
    Some(match name {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A meeting's times as `pont-schedule` reads them. `None` for an instant meeting.
pub fn series_of(m: &Meeting) -> Result<Option<Series>, PlanError> {
    let Some(mut series) = series_of_new(&as_new(m))? else {
        return Ok(None);
    };
    for c in &m.changes {
        let exception = if c.cancelled {
            Exception::Cancelled
        } else {
            Exception::Moved {
                start: ts(c.start_at.unwrap_or(c.original_start)),
                duration: SignedDuration::from_secs(i64::from(
                    c.duration_secs.or(m.duration_secs).unwrap_or(3600),
                )),
            }
        };
        series.exceptions.insert(ts(c.original_start), exception);
    }
    Ok(Some(series))
}

/// What planning `m` again would ask for: the starting point of a change to the series.
pub fn as_new(m: &Meeting) -> NewMeeting {
    NewMeeting {
        kind: m.kind,
        subject: m.subject.clone(),
        category: m.room.category,
        pin: m.room.pin.clone(),
        start_at: m.start_at,
        duration_secs: m.duration_secs,
        recording: m.recording,
        invitees: m.invitees.clone(),
        recurrence: m.recurrence,
        recording_owner: m.recording_owner,
        plan: m.plan.clone(),
    }
}

/// The series a planned meeting would have: every calendar rule checked (zone, last day,
/// number of occurrences, duration).
pub fn series_of_new(new: &NewMeeting) -> Result<Option<Series>, PlanError> {
    if new.kind == MeetingKind::Instant {
        return Ok(None);
    }
    let (Some(start_at), Some(duration)) = (new.start_at, new.duration_secs) else {
        return Ok(None);
    };
    let tz = zone(&new.plan.timezone)?;
    let start = ts(start_at).to_zoned_datetime(tz.clone()).datetime();
    let freq = match new.recurrence {
        Recurrence::None => None,
        Recurrence::Daily => Some(Freq::Daily),
        Recurrence::Weekly => Some(Freq::Weekly),
        Recurrence::Monthly => Some(Freq::Monthly),
    };
    let rule = match freq {
        None => None,
        Some(freq) => {
            let mut weekdays = Vec::new();
            for d in &new.plan.weekdays {
                weekdays.push(weekday(d).ok_or_else(|| {
                    PlanError::new("invalid_recurrence", "weekdays must be mon … sun")
                })?);
            }
            let until = match &new.plan.until {
                Some(text) => parse_date(text).ok_or_else(|| {
                    PlanError::new("invalid_recurrence", "until must be a date: YYYY-MM-DD")
                })?,
                None => default_until(start.date()),
            };
            Some(Rule {
                freq,
                weekdays,
                until,
            })
        }
    };
    let series = Series {
        start,
        tz,
        duration: SignedDuration::from_secs(i64::from(duration)),
        rule,
        exceptions: BTreeMap::new(),
    };
    series.check().map_err(|e| match e {
        SeriesError::UntilBeforeStart => PlanError::new(
            "invalid_range",
            "the last day of the repetition is before the first meeting",
        ),
        SeriesError::TooMany(_) => PlanError::new(
            "too_many_occurrences",
            format!("a series may have at most {MAX_OCCURRENCES} occurrences"),
        ),
        SeriesError::BadDuration => {
            PlanError::new("invalid_duration", "duration must be at least a minute")
        }
    })?;
    Ok(Some(series))
}

/// A series' last day when none is given: a year on.
pub fn default_until(first: Date) -> Date {
    first
        .checked_add(pont_schedule::jiff::Span::new().days(DEFAULT_SERIES_DAYS))
        .unwrap_or(first)
}

pub fn parse_date(text: &str) -> Option<Date> {
    if text.len() != 10 {
        return None;
    }
    text.parse::<Date>().ok()
}

pub(crate) fn ts(unix: i64) -> Timestamp {
    Timestamp::from_second(unix).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The occurrences of `m` overlapping `[from, to)`.
pub fn slots(m: &Meeting, from: i64, to: i64) -> Result<Vec<Slot>, PlanError> {
    let Some(series) = series_of(m)? else {
        return Ok(Vec::new());
    };
    Ok(series
        .between(ts(from), ts(to))
        .into_iter()
        .map(|o| Slot {
            meeting: m.id.0,
            original_start: o.original_start.as_second(),
            start: o.start.as_second(),
            end: o.end.as_second(),
            changed: o.changed,
            cancelled: o.cancelled,
        })
        .collect())
}

/// Who is in a meeting, for overlap checks: its organizer's e-mail (or, without one, a key
/// of the account) and its invitees, lower-cased.
fn people_of(store: &Store, m: &Meeting) -> Vec<String> {
    let mut people: Vec<String> = m.invitees.iter().map(|e| e.to_lowercase()).collect();
    match store.account(m.organizer) {
        Ok(Some(Account {
            email: Some(email), ..
        })) => people.push(email.to_lowercase()),
        _ => people.push(format!("#{}", m.organizer.0)),
    }
    people.sort();
    people.dedup();
    people
}

/// The warnings for `new` (with `series`) planned by `organizer`: who of its people is busy
/// in another meeting at an overlapping time. `exclude`: the meeting being changed.
pub fn warnings(
    store: &Store,
    organizer: &Account,
    new: &NewMeeting,
    series: &Series,
    exclude: Option<MeetingId>,
) -> Result<Vec<Warning>, pont_meet::MeetError> {
    let candidate = series.all();
    let (Some(first), Some(last)) = (
        candidate
            .iter()
            .filter(|o| !o.cancelled)
            .map(|o| o.start)
            .min(),
        candidate
            .iter()
            .filter(|o| !o.cancelled)
            .map(|o| o.end)
            .max(),
    ) else {
        return Ok(Vec::new());
    };
    let mut people: Vec<String> = new.invitees.iter().map(|e| e.to_lowercase()).collect();
    people.push(
        organizer
            .email
            .as_deref()
            .map_or_else(|| format!("#{}", organizer.id.0), str::to_lowercase),
    );
    people.sort();
    people.dedup();
    let emails: Vec<String> = people
        .iter()
        .filter(|p| !p.starts_with('#'))
        .cloned()
        .collect();
    let others =
        store.meetings_involving(Some(organizer.id), &emails, first.as_second(), exclude)?;
    let mut busy = Vec::new();
    let mut by_id: HashMap<i64, &Meeting> = HashMap::new();
    for m in &others {
        let Ok(Some(s)) = series_of(m) else {
            continue;
        };
        let theirs = people_of(store, m);
        for o in s.between(first, last) {
            if o.cancelled {
                continue;
            }
            for p in theirs.iter().filter(|p| people.binary_search(p).is_ok()) {
                busy.push(Busy {
                    person: p.clone(),
                    meeting: m.id.0,
                    start: o.start,
                    end: o.end,
                });
            }
        }
        by_id.insert(m.id.0, m);
    }
    let conflicts = pont_schedule::conflicts(&candidate, &people, &busy);
    let mut out = Vec::with_capacity(conflicts.len());
    for c in conflicts {
        let Some(m) = by_id.get(&c.meeting) else {
            continue;
        };
        let organizer_name = store
            .account(m.organizer)?
            .map(|a| a.name)
            .unwrap_or_default();
        let email = if c.person.starts_with('#') {
            organizer
                .email
                .clone()
                .unwrap_or_else(|| organizer.name.clone())
        } else {
            c.person
        };
        out.push(Warning {
            email,
            meeting_id: m.id.0,
            subject: m.subject.clone(),
            organizer: organizer_name,
            start: c.start.as_second(),
            end: c.end.as_second(),
        });
    }
    Ok(out)
}

/// Longest e-mail address (RFC 5321's path limit).
pub const MAX_EMAIL_OCTETS: usize = 254;

/// Whether `address` can be an e-mail address, checked lightly (the API's and the form's one
/// rule): one `@` with something on both sides, no white space or control characters, at
/// most [`MAX_EMAIL_OCTETS`]. Whether it exists is for the mail server to say.
pub fn looks_like_email(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    address.len() <= MAX_EMAIL_OCTETS
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !address.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The code of a wall-clock time the zone skips or repeats (the API's and the form's).
pub fn local_time_code(e: &pont_schedule::LocalTimeError) -> &'static str {
    match e {
        pont_schedule::LocalTimeError::Nonexistent { .. } => "nonexistent_time",
        pont_schedule::LocalTimeError::Ambiguous { .. } => "ambiguous_time",
    }
}

/// Checks what a subject may not hold: line breaks and control characters (they would end up
/// in mail headers and calendar lines).
pub fn check_text(field: &'static str, code: &'static str, text: &str) -> Result<(), PlanError> {
    if text.chars().any(char::is_control) {
        return Err(PlanError::new(
            code,
            format!("{field} must not contain line breaks or control characters"),
        ));
    }
    Ok(())
}

/// Everything about a plan that needs no store: subject, entity, streaming URL, the series.
pub fn check(new: &NewMeeting) -> Result<Option<Series>, PlanError> {
    check_text("subject", "invalid_subject", &new.subject)?;
    if let Some(entity) = &new.plan.entity {
        check_text("entity", "invalid_entity", entity)?;
        if entity.chars().count() > 200 {
            return Err(PlanError::new(
                "invalid_entity",
                "entity is at most 200 characters",
            ));
        }
    }
    for address in &new.invitees {
        if address
            .chars()
            .any(|c| c.is_control() || c == '<' || c == '>' || c == ',' || c == ';')
        {
            return Err(PlanError::new(
                "invalid_invitees",
                "an invitee's address holds a character no e-mail address has",
            ));
        }
    }
    if let Some(url) = &new.plan.streaming_url {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("rtmp://") || lower.starts_with("rtmps://"))
            || url.len() > 2000
            || url.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(PlanError::new(
                "invalid_streaming_url",
                "streaming_url must be an rtmp:// or rtmps:// URL",
            ));
        }
    }
    series_of_new(new)
}

impl Portal {
    /// Plans a new meeting (or, with `check_only`, returns its warnings without saving).
    pub async fn plan_meeting(
        &self,
        organizer: Account,
        new: NewMeeting,
        check_only: bool,
        now: i64,
    ) -> Result<Planned, PlanFailure> {
        let series = check(&new)?;
        let portal = self.clone();
        let planned = self
            .store()
            .run(move |st| {
                let warnings = match &series {
                    Some(s) => warnings(st, &organizer, &new, s, None)?,
                    None => Vec::new(),
                };
                if check_only {
                    return Ok(Planned {
                        meeting: None,
                        warnings,
                    });
                }
                let meeting = st.create_meeting(organizer.id, new, now)?;
                portal.queue_invitations(st, &organizer, &meeting, Change::Invite, now)?;
                Ok(Planned {
                    meeting: Some(meeting),
                    warnings,
                })
            })
            .await?;
        self.wake_mailer();
        Ok(planned)
    }

    /// Changes a whole meeting (series). The occurrences' own changes are kept when the times
    /// of the series are unchanged, dropped otherwise (their original starts no longer exist).
    pub async fn change_meeting(
        &self,
        organizer: Account,
        id: MeetingId,
        new: NewMeeting,
        check_only: bool,
        now: i64,
    ) -> Result<Planned, PlanFailure> {
        let series = check(&new)?;
        let portal = self.clone();
        let planned = self
            .store()
            .run(move |st| {
                let Some(old) = st.meeting(id)?.filter(|m| m.organizer == organizer.id) else {
                    return Ok(None);
                };
                let warnings = match &series {
                    Some(s) => warnings(st, &organizer, &new, s, Some(id))?,
                    None => Vec::new(),
                };
                if check_only {
                    return Ok(Some(Planned {
                        meeting: None,
                        warnings,
                    }));
                }
                let same_times = old.start_at == new.start_at
                    && old.duration_secs == new.duration_secs
                    && old.recurrence == new.recurrence
                    && old.plan.timezone == new.plan.timezone
                    && old.plan.weekdays == new.plan.weekdays
                    && old.plan.until == new.plan.until;
                let removed: Vec<String> = old
                    .invitees
                    .iter()
                    .filter(|e| !new.invitees.iter().any(|n| n.eq_ignore_ascii_case(e)))
                    .cloned()
                    .collect();
                let Some(meeting) = st.update_meeting(id, new, same_times)? else {
                    return Ok(None);
                };
                portal.queue_invitations(st, &organizer, &meeting, Change::Update, now)?;
                if !removed.is_empty() {
                    let mut gone = meeting.clone();
                    gone.invitees = removed;
                    portal.queue_invitations(st, &organizer, &gone, Change::CancelSeries, now)?;
                }
                Ok(Some(Planned {
                    meeting: Some(meeting),
                    warnings,
                }))
            })
            .await?
            .ok_or(PlanFailure::NotFound)?;
        self.wake_mailer();
        Ok(planned)
    }

    /// Cancels a whole meeting; its invitees get a cancellation.
    pub async fn cancel_meeting(
        &self,
        organizer: Account,
        id: MeetingId,
        now: i64,
    ) -> Result<Meeting, PlanFailure> {
        let portal = self.clone();
        let meeting = self
            .store()
            .run(move |st| {
                if st
                    .meeting(id)?
                    .filter(|m| m.organizer == organizer.id)
                    .is_none()
                {
                    return Ok(None);
                }
                let Some(meeting) = st.delete_meeting(id, now)? else {
                    return Ok(None);
                };
                portal.queue_invitations(st, &organizer, &meeting, Change::CancelSeries, now)?;
                Ok(Some(meeting))
            })
            .await?
            .ok_or(PlanFailure::NotFound)?;
        self.wake_mailer();
        Ok(meeting)
    }

    /// Moves (`Some((start, duration))`) or cancels (`None`) the occurrence originally
    /// starting at `original_start`, with the update or cancellation mailed.
    pub async fn change_occurrence(
        &self,
        organizer: Account,
        id: MeetingId,
        original_start: i64,
        moved: Option<(i64, u32)>,
        now: i64,
    ) -> Result<Meeting, PlanFailure> {
        let portal = self.clone();
        let result = self
            .store()
            .run(move |st| {
                let Some(m) = st.meeting(id)?.filter(|m| m.organizer == organizer.id) else {
                    return Ok(Err(PlanFailure::NotFound));
                };
                let series = match series_of(&m) {
                    Ok(Some(s)) => s,
                    Ok(None) => return Ok(Err(PlanFailure::NotFound)),
                    Err(e) => return Ok(Err(e.into())),
                };
                if !series.has_original_start(ts(original_start)) {
                    return Ok(Err(PlanFailure::Invalid(PlanError::new(
                        "occurrence_not_found",
                        "the meeting has no occurrence starting then (give its original start, \
                         RFC 3339 UTC)",
                    ))));
                }
                let change = OccurrenceChange {
                    original_start,
                    cancelled: moved.is_none(),
                    start_at: moved.map(|(s, _)| s),
                    duration_secs: moved.map(|(_, d)| d),
                };
                let Some(meeting) = st.change_occurrence(id, change)? else {
                    return Ok(Err(PlanFailure::NotFound));
                };
                let what = match moved {
                    Some(_) => Change::Update,
                    None => Change::CancelOccurrence(original_start),
                };
                portal.queue_invitations(st, &organizer, &meeting, what, now)?;
                Ok(Ok(meeting))
            })
            .await?;
        self.wake_mailer();
        result
    }

    /// The occurrences in `[from, to)` of the meetings `account` organizes or is invited to,
    /// by start (cancelled ones included, flagged).
    pub async fn calendar(
        &self,
        account: Account,
        from: i64,
        to: i64,
    ) -> Result<Vec<(Meeting, Slot)>, StoreError> {
        let meetings = self
            .store()
            .run(move |st| st.calendar_meetings(&account, from))
            .await?;
        let mut out = Vec::new();
        for m in meetings {
            let Ok(slots) = slots(&m, from, to) else {
                continue;
            };
            for s in slots {
                out.push((m.clone(), s));
            }
            if out.len() > MAX_LISTED {
                break;
            }
        }
        out.sort_by_key(|(m, s)| (s.start, m.id.0));
        Ok(out)
    }

    /// Queues the mail of `change` to every invitee of `meeting`.
    fn queue_invitations(
        &self,
        st: &mut Store,
        organizer: &Account,
        meeting: &Meeting,
        change: Change,
        now: i64,
    ) -> Result<(), pont_meet::MeetError> {
        if meeting.invitees.is_empty() {
            return Ok(());
        }
        let lang = st
            .account_lang(organizer.id)?
            .and_then(|c| crate::Lang::from_code(&c));
        let lang = lang.unwrap_or_default();
        let Ok(Some(series)) = series_of(meeting) else {
            return Ok(());
        };
        for to in &meeting.invitees {
            match mail::invitation(self, lang, organizer, meeting, &series, change, to, now) {
                Ok(bytes) => {
                    st.enqueue_mail(std::slice::from_ref(to), &bytes, now)?;
                }
                Err(e) => {
                    tracing::error!(meeting = meeting.id.0, error = %e, "invitation not built")
                }
            }
        }
        Ok(())
    }
}
