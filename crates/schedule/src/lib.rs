//! Sans-IO calendar logic for scheduled meetings: a series' recurrence expanded to occurrences
//! in its IANA time zone (a weekly 10:00 in Paris stays 10:00 local across DST), exceptions
//! (one occurrence moved or cancelled), overlap warnings between people's meetings, the
//! iCalendar text of invitations and feeds (RFC 5545/5546, RFC 7986 CONFERENCE), and the
//! grids of the calendar's views. No clock, no IO: every instant is a parameter.

use std::collections::BTreeMap;

pub use jiff;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// The most occurrences one series may have (a daily meeting for about 2.7 years).
pub const MAX_OCCURRENCES: usize = 1000;

/// How often a series repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Freq {
    Daily,
    Weekly,
    Monthly,
}

/// A recurrence rule: RFC 5545's `FREQ`, `BYDAY` (weekly) and `UNTIL` (a date, inclusive,
/// in the series' time zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub freq: Freq,
    /// Weekly only: the days it meets on; empty means the weekday of the first start.
    pub weekdays: Vec<Weekday>,
    /// The last day an occurrence may start on, in the series' time zone.
    pub until: Date,
}

/// What became of one occurrence, keyed by its original start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exception {
    Cancelled,
    Moved {
        start: Timestamp,
        duration: SignedDuration,
    },
}

/// A meeting's times: the first start as a wall-clock time in its zone, a duration, an
/// optional rule and the exceptions.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub start: DateTime,
    pub tz: TimeZone,
    pub duration: SignedDuration,
    pub rule: Option<Rule>,
    /// Keyed by the occurrence's original start.
    pub exceptions: BTreeMap<Timestamp, Exception>,
}

/// One occurrence of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    /// The start the rule gives it (its RFC 5545 `RECURRENCE-ID`); the key of exceptions.
    pub original_start: Timestamp,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Moved or otherwise changed by an exception.
    pub changed: bool,
    pub cancelled: bool,
}

/// Why a series cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeriesError {
    /// The rule's last day is before the first start's day.
    UntilBeforeStart,
    /// The rule gives more than [`MAX_OCCURRENCES`] occurrences (the count it would give, or
    /// `MAX_OCCURRENCES + 1` when it stopped counting).
    TooMany(usize),
    /// The duration is zero or negative.
    BadDuration,
}

/// Why a wall-clock time does not name one instant in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalTimeError {
    /// The time is skipped (spring forward); `after` is the instant the clocks jump to.
    Nonexistent { after: Timestamp },
    /// The time happens twice (fall back).
    Ambiguous {
        earlier: Timestamp,
        later: Timestamp,
    },
}

/// The instant a wall-clock `date time` names in `tz`, refusing a skipped or doubled time
/// (what a form must ask about rather than guess).
pub fn local_instant(date: Date, time: Time, tz: &TimeZone) -> Result<Timestamp, LocalTimeError> {
    let amb = tz.to_ambiguous_timestamp(date.to_datetime(time));
    if let Ok(t) = amb.unambiguous() {
        return Ok(t);
    }
    let (earlier, later) = (
        amb.earlier().unwrap_or(Timestamp::UNIX_EPOCH),
        amb.later().unwrap_or(Timestamp::UNIX_EPOCH),
    );
    match amb.offset() {
        jiff::tz::AmbiguousOffset::Gap { .. } => Err(LocalTimeError::Nonexistent { after: later }),
        _ => Err(LocalTimeError::Ambiguous { earlier, later }),
    }
}

/// The instant of a wall-clock start in a series: after the gap, or the earlier of a fold.
fn resolve(tz: &TimeZone, dt: DateTime) -> Timestamp {
    tz.to_ambiguous_timestamp(dt)
        .compatible()
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

impl Series {
    /// A single meeting (no rule, no exceptions).
    pub fn once(start: DateTime, tz: TimeZone, duration: SignedDuration) -> Self {
        Self {
            start,
            tz,
            duration,
            rule: None,
            exceptions: BTreeMap::new(),
        }
    }

    /// Checks the rule can be stored: until not before start, at most [`MAX_OCCURRENCES`],
    /// a positive duration.
    pub fn check(&self) -> Result<(), SeriesError> {
        if self.duration <= SignedDuration::ZERO {
            return Err(SeriesError::BadDuration);
        }
        if let Some(rule) = &self.rule
            && rule.until < self.start.date()
        {
            return Err(SeriesError::UntilBeforeStart);
        }
        let n = self.starts().take(MAX_OCCURRENCES + 1).count();
        if n > MAX_OCCURRENCES {
            return Err(SeriesError::TooMany(n));
        }
        Ok(())
    }

    /// The wall-clock starts the rule gives, in order (at most until the rule's last day).
    fn starts(&self) -> impl Iterator<Item = DateTime> + '_ {
        let time = self.start.time();
        let first = self.start.date();
        let mut day = Some(first);
        let mut month_index: i64 = 0;
        std::iter::from_fn(move || {
            let Some(rule) = &self.rule else {
                let d = day.take()?;
                return Some(d.to_datetime(time));
            };
            loop {
                let d = day?;
                if d > rule.until {
                    day = None;
                    return None;
                }
                match rule.freq {
                    Freq::Daily => {
                        day = d.tomorrow().ok();
                        return Some(d.to_datetime(time));
                    }
                    Freq::Weekly => {
                        day = d.tomorrow().ok();
                        let on = if rule.weekdays.is_empty() {
                            d.weekday() == first.weekday()
                        } else {
                            rule.weekdays.contains(&d.weekday())
                        };
                        if on {
                            return Some(d.to_datetime(time));
                        }
                    }
                    Freq::Monthly => {
                        // A month without the start's day is skipped (RFC 5545); the month
                        // is counted from the first, so a skip never shifts later ones.
                        let month = first
                            .first_of_month()
                            .checked_add(jiff::Span::new().months(month_index))
                            .ok();
                        month_index += 1;
                        let Some(month) = month.filter(|m| *m <= rule.until) else {
                            day = None;
                            return None;
                        };
                        if let Ok(c) = Date::new(month.year(), month.month(), first.day()) {
                            if c > rule.until {
                                day = None;
                                return None;
                            }
                            return Some(c.to_datetime(time));
                        }
                    }
                }
            }
        })
    }

    fn occurrence(&self, local: DateTime) -> Occurrence {
        let original = resolve(&self.tz, local);
        match self.exceptions.get(&original) {
            Some(Exception::Cancelled) => Occurrence {
                original_start: original,
                start: original,
                end: original.checked_add(self.duration).unwrap_or(original),
                changed: false,
                cancelled: true,
            },
            Some(Exception::Moved { start, duration }) => Occurrence {
                original_start: original,
                start: *start,
                end: start.checked_add(*duration).unwrap_or(*start),
                changed: true,
                cancelled: false,
            },
            None => Occurrence {
                original_start: original,
                start: original,
                end: original.checked_add(self.duration).unwrap_or(original),
                changed: false,
                cancelled: false,
            },
        }
    }

    /// Every occurrence the rule gives, in order of original start, exceptions applied
    /// (cancelled ones included and flagged). An occurrence whose wall-clock start falls in
    /// a DST gap starts at the instant after the gap; one in a fold at the earlier instant
    /// (RFC 5545 §3.3.5). Monthly on a day a month lacks (the 31st) skips that month.
    pub fn all(&self) -> Vec<Occurrence> {
        let mut all: Vec<Occurrence> = self
            .starts()
            .take(MAX_OCCURRENCES)
            .map(|dt| self.occurrence(dt))
            .collect();
        all.sort_by_key(|o| (o.start, o.original_start));
        all
    }

    /// The occurrences overlapping `[from, to)` (by their actual, possibly moved, times), in
    /// order of start, cancelled included and flagged.
    pub fn between(&self, from: Timestamp, to: Timestamp) -> Vec<Occurrence> {
        self.all()
            .into_iter()
            .filter(|o| o.start < to && o.end > from)
            .collect()
    }

    /// Whether the rule gives an occurrence originally starting at `at`.
    pub fn has_original_start(&self, at: Timestamp) -> bool {
        self.starts()
            .take(MAX_OCCURRENCES)
            .any(|dt| resolve(&self.tz, dt) == at)
    }
}

/// When a person is taken: one occurrence of one of their meetings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    /// An e-mail address, compared case-insensitively.
    pub person: String,
    pub meeting: i64,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A person of the planned meeting already busy in another one then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// As given in `people`.
    pub person: String,
    pub meeting: i64,
    /// The other meeting's first occurrence that overlaps one of the candidate's.
    pub start: Timestamp,
    pub end: Timestamp,
}

/// The people of a planned meeting (`candidate`'s non-cancelled occurrences) who are busy in
/// another meeting at an overlapping time: one conflict per (person, other meeting), the
/// earliest, in order of start then person. Touching intervals (one ends as the other starts)
/// do not overlap. `busy` need not be sorted.
pub fn conflicts(candidate: &[Occurrence], people: &[String], busy: &[Busy]) -> Vec<Conflict> {
    let mut mine: Vec<(Timestamp, Timestamp)> = candidate
        .iter()
        .filter(|o| !o.cancelled)
        .map(|o| (o.start, o.end))
        .collect();
    mine.sort();
    // The longest candidate bounds how far back an overlapping start can be.
    let longest = mine
        .iter()
        .map(|(s, e)| e.duration_since(*s))
        .max()
        .unwrap_or(SignedDuration::ZERO);
    let mut found: BTreeMap<(String, i64), Conflict> = BTreeMap::new();
    for b in busy {
        let Some(person) = people.iter().find(|p| p.eq_ignore_ascii_case(&b.person)) else {
            continue;
        };
        // Candidates starting before b.end and ending after b.start.
        let lo = b.start.checked_sub(longest).unwrap_or(b.start);
        let i = mine.partition_point(|(s, _)| *s < lo);
        let overlaps = mine[i..]
            .iter()
            .take_while(|(s, _)| *s < b.end)
            .any(|(_, e)| *e > b.start);
        if !overlaps {
            continue;
        }
        let key = (person.clone(), b.meeting);
        let c = Conflict {
            person: person.clone(),
            meeting: b.meeting,
            start: b.start,
            end: b.end,
        };
        match found.get(&key) {
            Some(old) if old.start <= b.start => {}
            _ => {
                found.insert(key, c);
            }
        }
    }
    let mut out: Vec<Conflict> = found.into_values().collect();
    out.sort_by(|a, b| (a.start, &a.person).cmp(&(b.start, &b.person)));
    out
}

/// A person in an invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: Option<String>,
    pub email: String,
}

/// An RFC 7986 `CONFERENCE` line: a way to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conference {
    /// `https://…/r/123456`, `sip:123456@bridge`, `tel:+33…,,123456#`.
    pub uri: String,
    /// `FEATURE` values: `VIDEO`, `AUDIO`, `PHONE`, `MODERATOR`…
    pub features: Vec<&'static str>,
    pub label: Option<String>,
}

/// What every calendar object of one meeting carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Invite {
    /// Stable for the meeting's life (`meeting-42@bridge.example`).
    pub uid: String,
    /// Raised on every change sent to attendees.
    pub sequence: u32,
    pub dtstamp: Timestamp,
    pub summary: String,
    pub description: String,
    /// The join link, also given as `URL` and `LOCATION`.
    pub url: Option<String>,
    pub organizer: Person,
    pub attendees: Vec<Person>,
    pub conferences: Vec<Conference>,
}

/// `METHOD:REQUEST`: the series' master `VEVENT` (`DTSTART;TZID=`, `DTEND`, `RRULE`, `EXDATE`
/// of cancelled occurrences) and one `VEVENT` with `RECURRENCE-ID` per moved occurrence, with
/// the `VTIMEZONE` the events use. CRLF line ends, lines folded at 75 octets, TEXT escaped.
pub fn request(invite: &Invite, series: &Series) -> String {
    let mut out = Lines::default();
    out.open("REQUEST");
    vtimezone(&mut out, series);
    events(&mut out, invite, series, "CONFIRMED");
    out.close()
}

/// iCalendar lines: CRLF ends, folded at 75 octets on character boundaries.
#[derive(Default)]
struct Lines(String);

impl Lines {
    fn line(&mut self, text: &str) {
        let mut width = 0;
        for c in text.chars() {
            let n = c.len_utf8();
            if width + n > 75 {
                self.0.push_str("\r\n ");
                width = 1;
            }
            self.0.push(c);
            width += n;
        }
        self.0.push_str("\r\n");
    }

    fn open(&mut self, method: &str) {
        self.line("BEGIN:VCALENDAR");
        self.line("VERSION:2.0");
        self.line("PRODID:-//pont//pont//EN");
        self.line("CALSCALE:GREGORIAN");
        self.line(&format!("METHOD:{method}"));
    }

    fn close(mut self) -> String {
        self.line("END:VCALENDAR");
        self.0
    }
}

/// TEXT value escaping (RFC 5545 §3.3.11); control characters other than newline dropped.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value: quoted when it holds `:;,`, never a quote or a control character.
fn param(value: &str) -> String {
    let clean: String = value
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .collect();
    if clean.contains([':', ';', ',']) {
        format!("\"{clean}\"")
    } else {
        clean
    }
}

/// A URI or address value: no control characters or spaces.
fn uri(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .collect()
}

fn utc(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

fn zone_name(series: &Series) -> Option<&str> {
    series
        .tz
        .iana_name()
        .filter(|n| *n != "UTC" && *n != "Etc/UTC")
}

/// `DTSTART;TZID=Europe/Paris:20261019T100000`, or UTC for a zone without a name.
fn local(prop: &str, series: &Series, t: Timestamp) -> String {
    match zone_name(series) {
        Some(name) => format!(
            "{prop};TZID={}:{}",
            param(name),
            t.to_zoned_datetime(series.tz.clone())
                .strftime("%Y%m%dT%H%M%S")
        ),
        None => format!("{prop}:{}", utc(t)),
    }
}

fn offset_text(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let a = seconds.unsigned_abs();
    format!("{sign}{:02}{:02}", a / 3600, (a % 3600) / 60)
}

/// The zone's observances from a year before the first occurrence to the last one: one
/// STANDARD or DAYLIGHT per transition, each with its own DTSTART (no RRULE to get wrong).
fn vtimezone(out: &mut Lines, series: &Series) {
    let Some(name) = zone_name(series) else {
        return;
    };
    let all = series.all();
    let (Some(first), Some(last)) = (all.first(), all.last()) else {
        return;
    };
    let from = first
        .start
        .checked_sub(SignedDuration::from_hours(24 * 366))
        .unwrap_or(first.start);
    out.line("BEGIN:VTIMEZONE");
    out.line(&format!("TZID:{}", param(name)));
    let mut before = series.tz.to_offset(from).seconds();
    let mut any = false;
    for t in series.tz.following(from) {
        if t.timestamp() > last.end {
            break;
        }
        let after = t.offset().seconds();
        let kind = if t.dst().is_dst() {
            "DAYLIGHT"
        } else {
            "STANDARD"
        };
        let wall = t
            .timestamp()
            .checked_add(SignedDuration::from_secs(i64::from(before)))
            .unwrap_or(t.timestamp());
        out.line(&format!("BEGIN:{kind}"));
        out.line(&format!("DTSTART:{}", wall.strftime("%Y%m%dT%H%M%S")));
        out.line(&format!("TZOFFSETFROM:{}", offset_text(before)));
        out.line(&format!("TZOFFSETTO:{}", offset_text(after)));
        out.line(&format!("TZNAME:{}", text(t.abbreviation())));
        out.line(&format!("END:{kind}"));
        before = after;
        any = true;
    }
    if !any {
        // A zone without a change in the span: one fixed observance.
        out.line("BEGIN:STANDARD");
        out.line("DTSTART:19700101T000000");
        out.line(&format!("TZOFFSETFROM:{}", offset_text(before)));
        out.line(&format!("TZOFFSETTO:{}", offset_text(before)));
        out.line("END:STANDARD");
    }
    out.line("END:VTIMEZONE");
}

fn common(out: &mut Lines, invite: &Invite, status: &str) {
    out.line(&format!("UID:{}", uri(&invite.uid)));
    out.line(&format!("SEQUENCE:{}", invite.sequence));
    out.line(&format!("DTSTAMP:{}", utc(invite.dtstamp)));
    out.line(&format!("SUMMARY:{}", text(&invite.summary)));
    if !invite.description.is_empty() {
        out.line(&format!("DESCRIPTION:{}", text(&invite.description)));
    }
    if let Some(url) = &invite.url {
        out.line(&format!("URL:{}", uri(url)));
        out.line(&format!("LOCATION:{}", text(url)));
    }
    let org = &invite.organizer;
    match &org.name {
        Some(n) => out.line(&format!(
            "ORGANIZER;CN={}:mailto:{}",
            param(n),
            uri(&org.email)
        )),
        None => out.line(&format!("ORGANIZER:mailto:{}", uri(&org.email))),
    }
    for a in &invite.attendees {
        let cn = a
            .name
            .as_deref()
            .map(|n| format!(";CN={}", param(n)))
            .unwrap_or_default();
        out.line(&format!(
            "ATTENDEE{cn};ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{}",
            uri(&a.email)
        ));
    }
    for c in &invite.conferences {
        let label = c
            .label
            .as_deref()
            .map(|l| format!(";LABEL={}", param(l)))
            .unwrap_or_default();
        let features = if c.features.is_empty() {
            String::new()
        } else {
            format!(";FEATURE={}", c.features.join(","))
        };
        out.line(&format!(
            "CONFERENCE;VALUE=URI{features}{label}:{}",
            uri(&c.uri)
        ));
    }
    out.line(&format!("STATUS:{status}"));
}

fn rrule(series: &Series) -> Option<String> {
    let rule = series.rule.as_ref()?;
    let freq = match rule.freq {
        Freq::Daily => "DAILY",
        Freq::Weekly => "WEEKLY",
        Freq::Monthly => "MONTHLY",
    };
    // UNTIL is UTC when DTSTART has a TZID: the end of the last day in the zone.
    let end_of_day = rule.until.to_datetime(Time::constant(23, 59, 59, 0));
    let until = series
        .tz
        .to_ambiguous_timestamp(end_of_day)
        .compatible()
        .map(utc)
        .unwrap_or_default();
    let mut r = format!("RRULE:FREQ={freq};UNTIL={until}");
    if rule.freq == Freq::Weekly {
        let days: Vec<Weekday> = if rule.weekdays.is_empty() {
            vec![series.start.weekday()]
        } else {
            rule.weekdays.clone()
        };
        let names: Vec<&str> = days
            .iter()
            .map(|d| ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][d.to_monday_zero_offset() as usize])
            .collect();
        r.push_str(&format!(";BYDAY={}", names.join(",")));
    }
    if rule.freq == Freq::Monthly {
        r.push_str(&format!(";BYMONTHDAY={}", series.start.day()));
    }
    Some(r)
}

/// The master VEVENT and one per moved occurrence.
fn events(out: &mut Lines, invite: &Invite, series: &Series, status: &str) {
    let first = resolve(&series.tz, series.start);
    out.line("BEGIN:VEVENT");
    common(out, invite, status);
    out.line(&local("DTSTART", series, first));
    out.line(&local(
        "DTEND",
        series,
        first.checked_add(series.duration).unwrap_or(first),
    ));
    if let Some(r) = rrule(series) {
        out.line(&r);
        for (at, e) in &series.exceptions {
            if *e == Exception::Cancelled {
                out.line(&local("EXDATE", series, *at));
            }
        }
    }
    out.line("END:VEVENT");
    if series.rule.is_none() {
        return;
    }
    for (at, e) in &series.exceptions {
        if let Exception::Moved { start, duration } = e {
            out.line("BEGIN:VEVENT");
            common(out, invite, status);
            out.line(&local("RECURRENCE-ID", series, *at));
            out.line(&local("DTSTART", series, *start));
            out.line(&local(
                "DTEND",
                series,
                start.checked_add(*duration).unwrap_or(*start),
            ));
            out.line("END:VEVENT");
        }
    }
}

/// `METHOD:CANCEL` of the whole series (`occurrence` = `None`) or of the one occurrence
/// whose original start is given (`RECURRENCE-ID`), `STATUS:CANCELLED`.
pub fn cancel(invite: &Invite, series: &Series, occurrence: Option<Timestamp>) -> String {
    let mut out = Lines::default();
    out.open("CANCEL");
    vtimezone(&mut out, series);
    out.line("BEGIN:VEVENT");
    common(&mut out, invite, "CANCELLED");
    match occurrence {
        Some(at) => {
            out.line(&local("RECURRENCE-ID", series, at));
            out.line(&local("DTSTART", series, at));
            out.line(&local(
                "DTEND",
                series,
                at.checked_add(series.duration).unwrap_or(at),
            ));
        }
        None => {
            let first = resolve(&series.tz, series.start);
            out.line(&local("DTSTART", series, first));
            out.line(&local(
                "DTEND",
                series,
                first.checked_add(series.duration).unwrap_or(first),
            ));
            if let Some(r) = rrule(series) {
                out.line(&r);
            }
        }
    }
    out.line("END:VEVENT");
    out.close()
}

/// A subscribable feed (`METHOD:PUBLISH`, `X-WR-CALNAME`): every series as in [`request`].
pub fn feed(name: &str, entries: &[(Invite, Series)]) -> String {
    let mut out = Lines::default();
    out.open("PUBLISH");
    out.line(&format!("X-WR-CALNAME:{}", text(name)));
    let mut zones: Vec<&str> = Vec::new();
    for (_, series) in entries {
        if let Some(z) = zone_name(series)
            && !zones.contains(&z)
        {
            zones.push(z);
            vtimezone(&mut out, series);
        }
    }
    for (invite, series) in entries {
        events(&mut out, invite, series, "CONFIRMED");
    }
    out.close()
}

/// The weeks (Monday first) that show `year-month` in a month view: 4 to 6 rows of 7 days,
/// the first row holding the 1st, the last the month's last day.
pub fn month_grid(year: i16, month: i8) -> Vec<[Date; 7]> {
    let Ok(first) = Date::new(year, month, 1) else {
        return Vec::new();
    };
    let last = first.last_of_month();
    let mut weeks = Vec::new();
    let mut week = week_of(first);
    loop {
        weeks.push(week);
        if week[6] >= last {
            return weeks;
        }
        week = week_of(week[6].tomorrow().unwrap_or(week[6]));
    }
}

/// The Monday-to-Sunday week holding `date`.
pub fn week_of(date: Date) -> [Date; 7] {
    let back = i64::from(date.weekday().to_monday_zero_offset());
    let monday = date
        .checked_sub(jiff::Span::new().days(back))
        .unwrap_or(date);
    let mut days = [monday; 7];
    for (i, d) in days.iter_mut().enumerate() {
        *d = monday
            .checked_add(jiff::Span::new().days(i as i64))
            .unwrap_or(monday);
    }
    days
}

/// Where an entry goes in a day column when entries overlap: side by side, `column` of
/// `columns` in its cluster of mutually overlapping entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub column: usize,
    pub columns: usize,
}

/// Places each interval (in the order given) so overlapping ones sit side by side: greedy
/// first free column by start time, `columns` the width of its overlap cluster.
pub fn lay_out(intervals: &[(Timestamp, Timestamp)]) -> Vec<Placed> {
    let mut order: Vec<usize> = (0..intervals.len()).collect();
    order.sort_by_key(|&i| intervals[i]);
    let mut placed = vec![
        Placed {
            column: 0,
            columns: 1
        };
        intervals.len()
    ];
    let mut cluster: Vec<usize> = Vec::new();
    let mut ends: Vec<Timestamp> = Vec::new();
    let mut cluster_end = Timestamp::MIN;
    let close = |cluster: &mut Vec<usize>, ends: &mut Vec<Timestamp>, placed: &mut Vec<Placed>| {
        for &j in cluster.iter() {
            placed[j].columns = ends.len().max(1);
        }
        cluster.clear();
        ends.clear();
    };
    for i in order {
        let (start, end) = intervals[i];
        if start >= cluster_end {
            close(&mut cluster, &mut ends, &mut placed);
        }
        let column = match ends.iter().position(|e| *e <= start) {
            Some(c) => {
                ends[c] = end;
                c
            }
            None => {
                ends.push(end);
                ends.len() - 1
            }
        };
        placed[i].column = column;
        cluster.push(i);
        cluster_end = cluster_end.max(end);
    }
    close(&mut cluster, &mut ends, &mut placed);
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris").unwrap()
    }

    fn weekly(weekdays: Vec<Weekday>, until: Date) -> Series {
        Series {
            start: jiff::civil::date(2026, 10, 19).at(10, 0, 0, 0),
            tz: paris(),
            duration: SignedDuration::from_mins(60),
            rule: Some(Rule {
                freq: Freq::Weekly,
                weekdays,
                until,
            }),
            exceptions: BTreeMap::new(),
        }
    }

    #[test]
    fn a_weekly_series_keeps_its_local_time_across_the_end_of_summer_time() {
        let s = weekly(
            vec![Weekday::Monday, Weekday::Thursday],
            jiff::civil::date(2026, 11, 2),
        );
        let starts: Vec<String> = s.all().iter().map(|o| o.start.to_string()).collect();
        assert_eq!(
            starts,
            [
                "2026-10-19T08:00:00Z",
                "2026-10-22T08:00:00Z",
                "2026-10-26T09:00:00Z",
                "2026-10-29T09:00:00Z",
                "2026-11-02T09:00:00Z"
            ]
        );
        assert!(s.has_original_start("2026-10-26T09:00:00Z".parse().unwrap()));
        assert!(!s.has_original_start("2026-10-26T08:00:00Z".parse().unwrap()));
    }

    #[test]
    fn exceptions_move_and_cancel_occurrences() {
        let mut s = weekly(vec![], jiff::civil::date(2026, 11, 9));
        let second: Timestamp = "2026-10-26T09:00:00Z".parse().unwrap();
        let third: Timestamp = "2026-11-02T09:00:00Z".parse().unwrap();
        s.exceptions.insert(second, Exception::Cancelled);
        s.exceptions.insert(
            third,
            Exception::Moved {
                start: "2026-11-03T13:00:00Z".parse().unwrap(),
                duration: SignedDuration::from_mins(30),
            },
        );
        let all = s.all();
        assert_eq!(all.len(), 4);
        assert!(all[1].cancelled && !all[1].changed);
        assert!(all[2].changed);
        assert_eq!(all[2].end.to_string(), "2026-11-03T13:30:00Z");
        let window = s.between(
            "2026-11-03T00:00:00Z".parse().unwrap(),
            "2026-11-04T00:00:00Z".parse().unwrap(),
        );
        assert_eq!(window.len(), 1);
        assert_eq!(window[0].original_start, third);
    }

    #[test]
    fn checks_refuse_bad_series() {
        let s = weekly(vec![], jiff::civil::date(2026, 10, 1));
        assert_eq!(s.check(), Err(SeriesError::UntilBeforeStart));
        let mut s = weekly(vec![], jiff::civil::date(2060, 1, 1));
        s.rule.as_mut().unwrap().freq = Freq::Daily;
        assert_eq!(s.check(), Err(SeriesError::TooMany(MAX_OCCURRENCES + 1)));
        let mut s = weekly(vec![], jiff::civil::date(2026, 12, 1));
        s.duration = SignedDuration::ZERO;
        assert_eq!(s.check(), Err(SeriesError::BadDuration));
    }

    #[test]
    fn monthly_on_the_31st_skips_short_months() {
        let mut s = weekly(vec![], jiff::civil::date(2027, 5, 31));
        s.start = jiff::civil::date(2027, 1, 31).at(9, 0, 0, 0);
        s.rule.as_mut().unwrap().freq = Freq::Monthly;
        let days: Vec<String> = s
            .all()
            .iter()
            .map(|o| o.start.to_zoned_datetime(paris()).date().to_string())
            .collect();
        assert_eq!(days, ["2027-01-31", "2027-03-31", "2027-05-31"]);
    }

    #[test]
    fn skipped_and_doubled_local_times_are_refused() {
        let tz = paris();
        let gap = local_instant(
            jiff::civil::date(2027, 3, 28),
            jiff::civil::time(2, 30, 0, 0),
            &tz,
        );
        assert!(
            matches!(gap, Err(LocalTimeError::Nonexistent { .. })),
            "{gap:?}"
        );
        let fold = local_instant(
            jiff::civil::date(2026, 10, 25),
            jiff::civil::time(2, 30, 0, 0),
            &tz,
        );
        assert!(
            matches!(fold, Err(LocalTimeError::Ambiguous { .. })),
            "{fold:?}"
        );
        let ok = local_instant(
            jiff::civil::date(2026, 10, 25),
            jiff::civil::time(10, 0, 0, 0),
            &tz,
        );
        assert_eq!(ok.unwrap().to_string(), "2026-10-25T09:00:00Z");
    }

    #[test]
    fn conflicts_are_one_per_person_and_meeting_and_ignore_touching() {
        let s = weekly(vec![], jiff::civil::date(2026, 11, 9));
        let t = |x: &str| x.parse::<Timestamp>().unwrap();
        let busy = vec![
            Busy {
                person: "ADA@x.org".into(),
                meeting: 7,
                start: t("2026-11-02T09:30:00Z"),
                end: t("2026-11-02T11:00:00Z"),
            },
            Busy {
                person: "ada@x.org".into(),
                meeting: 7,
                start: t("2026-10-26T09:30:00Z"),
                end: t("2026-10-26T11:00:00Z"),
            },
            Busy {
                person: "ada@x.org".into(),
                meeting: 8,
                start: t("2026-10-26T10:00:00Z"),
                end: t("2026-10-26T11:00:00Z"),
            },
            Busy {
                person: "bob@x.org".into(),
                meeting: 9,
                start: t("2026-10-26T09:30:00Z"),
                end: t("2026-10-26T10:00:00Z"),
            },
        ];
        let c = conflicts(&s.all(), &["ada@x.org".to_owned()], &busy);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].meeting, c[0].start), (7, t("2026-10-26T09:30:00Z")));
    }

    fn invite() -> Invite {
        Invite {
            uid: "meeting-1@bridge.example".into(),
            sequence: 2,
            dtstamp: "2026-10-01T12:00:00Z".parse().unwrap(),
            summary: "Conseil, séance; ordre\r\nATTENDEE:mailto:evil@x.org".into(),
            description: "Line one\nLine two".into(),
            url: Some("https://bridge.example/r/123456".into()),
            organizer: Person {
                name: Some("Ada L".into()),
                email: "ada@x.org".into(),
            },
            attendees: vec![Person {
                name: None,
                email: "bob@x.org".into(),
            }],
            conferences: vec![Conference {
                uri: "https://bridge.example/r/123456".into(),
                features: vec!["VIDEO", "AUDIO"],
                label: Some("Join: browser".into()),
            }],
        }
    }

    #[test]
    fn a_request_is_folded_escaped_and_carries_the_series() {
        let mut s = weekly(
            vec![Weekday::Monday, Weekday::Thursday],
            jiff::civil::date(2026, 11, 2),
        );
        s.exceptions.insert(
            "2026-10-22T08:00:00Z".parse().unwrap(),
            Exception::Cancelled,
        );
        let ics = request(&invite(), &s);
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        for line in ics.split("\r\n") {
            assert!(line.len() <= 75, "{line}");
        }
        let unfolded = ics.replace("\r\n ", "");
        let lines: Vec<&str> = unfolded.split("\r\n").collect();
        assert!(lines.contains(&"METHOD:REQUEST"));
        assert!(lines.contains(&"DTSTART;TZID=Europe/Paris:20261019T100000"));
        assert!(lines.contains(&"RRULE:FREQ=WEEKLY;UNTIL=20261102T225959Z;BYDAY=MO,TH"));
        assert!(lines.contains(&"EXDATE;TZID=Europe/Paris:20261022T100000"));
        assert!(lines.contains(&"TZOFFSETFROM:+0200"));
        assert!(lines.contains(&"CONFERENCE;VALUE=URI;FEATURE=VIDEO,AUDIO;LABEL=\"Join: browser\":https://bridge.example/r/123456"));
        // The injection attempt stays inside SUMMARY.
        assert!(!lines.iter().any(|l| l.starts_with("ATTENDEE:mailto:evil")));
        assert!(lines.contains(&"SUMMARY:Conseil\\, séance\\; ordre\\nATTENDEE:mailto:evil@x.org"));
        let c = cancel(&invite(), &s, Some("2026-10-26T09:00:00Z".parse().unwrap()));
        assert!(c.contains("RECURRENCE-ID;TZID=Europe/Paris:20261026T100000"));
        assert!(c.contains("STATUS:CANCELLED"));
    }

    #[test]
    fn grids_start_on_monday() {
        let dec = month_grid(2026, 12);
        assert_eq!(dec.len(), 5);
        assert_eq!(dec[0][0].to_string(), "2026-11-30");
        assert_eq!(dec[4][6].to_string(), "2027-01-03");
        let feb = month_grid(2027, 2);
        assert_eq!(feb[0][0].to_string(), "2027-02-01");
        assert_eq!(feb.len(), 4);
        let t = |x: &str| x.parse::<Timestamp>().unwrap();
        let p = lay_out(&[
            (t("2026-12-01T09:00:00Z"), t("2026-12-01T10:00:00Z")),
            (t("2026-12-01T09:30:00Z"), t("2026-12-01T10:30:00Z")),
            (t("2026-12-01T11:00:00Z"), t("2026-12-01T12:00:00Z")),
        ]);
        assert_eq!(
            p[0],
            Placed {
                column: 0,
                columns: 2
            }
        );
        assert_eq!(
            p[1],
            Placed {
                column: 1,
                columns: 2
            }
        );
        assert_eq!(
            p[2],
            Placed {
                column: 0,
                columns: 1
            }
        );
    }
}
