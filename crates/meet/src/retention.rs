//! How long recordings are kept, as pure functions of the policy and the time (told, never
//! read): when a recording is deleted, and what a purge at a given instant must do.
//!
//! Universities keep lecture captures for the academic year: by default a recording is
//! deleted after the 31 August that ends the academic year in which it was recorded (a
//! recording of 10 October 2026 goes on 1 September 2027 at 00:00 UTC; one of 31 August 2026,
//! the last day of that year, goes the next day). `days:N` keeps it N days (Zoom's cloud
//! recordings: 60), `never` keeps it.

use crate::rfc3339::{civil_from_days, days_from_civil};

const DAY: i64 = 86_400;

/// `[recording] retention`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Until the end of the academic year, which ends on `(month, day)` (default 31 August).
    AcademicYear {
        end_month: u8,
        end_day: u8,
    },
    Days(u32),
    Never,
}

impl Default for Retention {
    fn default() -> Self {
        Self::AcademicYear {
            end_month: 8,
            end_day: 31,
        }
    }
}

impl Retention {
    /// `academic_year`, `days:N` or `never`; `year_end` is `MM-DD` (`academic_year_end`).
    pub fn parse(policy: &str, year_end: &str) -> Result<Self, String> {
        match policy.trim() {
            "academic_year" => {
                let (m, d) = year_end
                    .split_once('-')
                    .and_then(|(m, d)| Some((m.parse::<u8>().ok()?, d.parse::<u8>().ok()?)))
                    .filter(|&(m, d)| {
                        (1..=12).contains(&m) && d >= 1 && d <= days_in_month(2000, m)
                    })
                    .ok_or_else(|| {
                        format!("academic_year_end {year_end:?}: expected MM-DD, e.g. 08-31")
                    })?;
                Ok(Self::AcademicYear {
                    end_month: m,
                    end_day: d,
                })
            }
            "never" => Ok(Self::Never),
            other => other
                .strip_prefix("days:")
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| *n > 0)
                .map(Self::Days)
                .ok_or_else(|| {
                    format!("retention {other:?}: expected academic_year, days:N (N > 0) or never")
                }),
        }
    }

    /// When a recording started at `started_at` (Unix seconds) is deleted; `None`: never.
    pub fn delete_at(self, started_at: i64) -> Option<i64> {
        match self {
            Self::Never => None,
            Self::Days(n) => Some(started_at + i64::from(n) * DAY),
            Self::AcademicYear { end_month, end_day } => {
                let (y, m, d) = civil_from_days(started_at.div_euclid(DAY));
                let (em, ed) = (i64::from(end_month), i64::from(end_day));
                // The year's end on or after the recording's day.
                let year = if (m, d) <= (em, ed) { y } else { y + 1 };
                // 29 February as an end in a year without it: the 28th.
                let ed = ed.min(i64::from(days_in_month(year, end_month)));
                Some((days_from_civil(year, em, ed) + 1) * DAY)
            }
        }
    }
}

fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// What a purge does to one recording at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Tell the owner it goes in (about) this many days — the largest warning not yet sent.
    Warn(u32),
    /// Delete it now.
    Delete,
}

/// What is due at `now` for a recording deleted at `delete_at`, given the warnings
/// (`warn_days`, e.g. `[30, 7, 1]`) and those already sent. One warning at a time: a purge
/// that runs late sends the nearest one, not all the missed ones.
pub fn due(delete_at: i64, now: i64, warn_days: &[u32], sent: &[u32]) -> Option<Due> {
    if now >= delete_at {
        return Some(Due::Delete);
    }
    let left = delete_at - now;
    warn_days
        .iter()
        .copied()
        .filter(|w| left <= i64::from(*w) * DAY)
        .min()
        .filter(|w| !sent.iter().any(|s| s <= w))
        .map(Due::Warn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc3339::{format_utc, parse};

    fn at(s: &str) -> i64 {
        parse(s).unwrap()
    }

    #[test]
    fn the_academic_year_ends_on_the_31_august_after_the_recording() {
        let r = Retention::default();
        let cases = [
            ("2026-10-10T09:00:00Z", "2027-09-01T00:00:00Z"),
            ("2027-03-01T12:00:00Z", "2027-09-01T00:00:00Z"),
            ("2026-08-31T23:59:59Z", "2026-09-01T00:00:00Z"),
            ("2026-09-01T00:00:00Z", "2027-09-01T00:00:00Z"),
        ];
        for (recorded, deleted) in cases {
            assert_eq!(
                r.delete_at(at(recorded)).map(format_utc).as_deref(),
                Some(deleted)
            );
        }
        let june = Retention::parse("academic_year", "06-30").unwrap();
        assert_eq!(
            june.delete_at(at("2026-07-01T00:00:00Z"))
                .map(format_utc)
                .as_deref(),
            Some("2027-07-01T00:00:00Z")
        );
        let leap = Retention::parse("academic_year", "02-29").unwrap();
        assert_eq!(
            leap.delete_at(at("2026-03-01T00:00:00Z"))
                .map(format_utc)
                .as_deref(),
            Some("2027-03-01T00:00:00Z")
        );
        assert_eq!(
            Retention::parse("days:60", "")
                .unwrap()
                .delete_at(at("2026-01-01T00:00:00Z")),
            Some(at("2026-03-02T00:00:00Z"))
        );
        assert_eq!(Retention::Never.delete_at(0), None);
    }

    #[test]
    fn bad_policies_are_refused_with_the_reason() {
        for (policy, end) in [
            ("days:0", ""),
            ("days:-3", ""),
            ("weeks:2", ""),
            ("academic_year", "13-01"),
            ("academic_year", "02-30"),
            ("academic_year", "0831"),
        ] {
            assert!(Retention::parse(policy, end).is_err(), "{policy} {end}");
        }
    }

    #[test]
    fn warnings_come_one_at_a_time_then_the_deletion() {
        let delete = at("2027-09-01T00:00:00Z");
        let warn = [30, 7, 1];
        let day = |d: i64| delete - d * DAY;
        assert_eq!(due(delete, day(40), &warn, &[]), None);
        assert_eq!(due(delete, day(30), &warn, &[]), Some(Due::Warn(30)));
        assert_eq!(due(delete, day(29), &warn, &[30]), None);
        assert_eq!(due(delete, day(7), &warn, &[30]), Some(Due::Warn(7)));
        // A purge that missed the 30-day warning sends only the 7-day one...
        assert_eq!(due(delete, day(6), &warn, &[]), Some(Due::Warn(7)));
        // ...and does not go back to the 30-day one afterwards.
        assert_eq!(due(delete, day(5), &warn, &[7]), None);
        assert_eq!(due(delete, day(1), &warn, &[30, 7]), Some(Due::Warn(1)));
        assert_eq!(due(delete, delete - 1, &warn, &[30, 7, 1]), None);
        assert_eq!(due(delete, delete, &warn, &[30, 7, 1]), Some(Due::Delete));
        assert_eq!(due(delete, delete + 5 * DAY, &warn, &[]), Some(Due::Delete));
    }
}
