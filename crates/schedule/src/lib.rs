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
    Ambiguous { earlier: Timestamp, later: Timestamp },
}

/// The instant a wall-clock `date time` names in `tz`, refusing a skipped or doubled time
/// (what a form must ask about rather than guess).
pub fn local_instant(date: Date, time: Time, tz: &TimeZone) -> Result<Timestamp, LocalTimeError> {
    let _ = (date, time, tz);
    todo!()
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
        todo!()
    }

    /// Every occurrence the rule gives, in order of original start, exceptions applied
    /// (cancelled ones included and flagged). An occurrence whose wall-clock start falls in
    /// a DST gap starts at the instant after the gap; one in a fold at the earlier instant
    /// (RFC 5545 §3.3.5). Monthly on a day a month lacks (the 31st) skips that month.
    pub fn all(&self) -> Vec<Occurrence> {
        todo!()
    }

    /// The occurrences overlapping `[from, to)` (by their actual, possibly moved, times), in
    /// order of start, cancelled included and flagged.
    pub fn between(&self, from: Timestamp, to: Timestamp) -> Vec<Occurrence> {
        let _ = (from, to);
        todo!()
    }

    /// Whether the rule gives an occurrence originally starting at `at`.
    pub fn has_original_start(&self, at: Timestamp) -> bool {
        let _ = at;
        todo!()
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
    let _ = (candidate, people, busy);
    todo!()
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
    let _ = (invite, series);
    todo!()
}

/// `METHOD:CANCEL` of the whole series (`occurrence` = `None`) or of the one occurrence
/// whose original start is given (`RECURRENCE-ID`), `STATUS:CANCELLED`.
pub fn cancel(invite: &Invite, series: &Series, occurrence: Option<Timestamp>) -> String {
    let _ = (invite, series, occurrence);
    todo!()
}

/// A subscribable feed (`METHOD:PUBLISH`, `X-WR-CALNAME`): every series as in [`request`].
pub fn feed(name: &str, entries: &[(Invite, Series)]) -> String {
    let _ = (name, entries);
    todo!()
}

/// The weeks (Monday first) that show `year-month` in a month view: 4 to 6 rows of 7 days,
/// the first row holding the 1st, the last the month's last day.
pub fn month_grid(year: i16, month: i8) -> Vec<[Date; 7]> {
    let _ = (year, month);
    todo!()
}

/// The Monday-to-Sunday week holding `date`.
pub fn week_of(date: Date) -> [Date; 7] {
    let _ = date;
    todo!()
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
    let _ = intervals;
    todo!()
}
