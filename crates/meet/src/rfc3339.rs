//! RFC 3339 timestamps (`2026-12-01T09:30:00Z`, `2026-12-01T10:30:00+01:00`) to and from
//! Unix seconds, without a date crate: the calendar arithmetic is Howard Hinnant's
//! days-from-civil / civil-from-days (proleptic Gregorian, exact for every year here).
//!
//! Only what an API client should send is accepted (RFC 3339 §5.6 `date-time`): a full date,
//! `T`, a full time, optional fractional seconds (dropped: meetings start on whole seconds)
//! and a zone, `Z` or `±hh:mm`. A local time without zone is refused, since it names a
//! different instant in every time zone.

/// Why a string is not an RFC 3339 timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// Not of the shape `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
    #[error("expected YYYY-MM-DDTHH:MM:SS followed by Z or an offset such as +01:00")]
    Syntax,
    /// A date and time without `Z` or an offset.
    #[error("the time zone is missing: end with Z or an offset such as +01:00")]
    MissingZone,
    /// A field is outside its range (month 13, 31 April, 29 February of a common year, hour
    /// 24, offset +24:00, …); the field is named.
    #[error("the {0} is out of range")]
    OutOfRange(&'static str),
}

/// Parses an RFC 3339 `date-time` into seconds since the Unix epoch (UTC).
///
/// A leap second (`:60`, RFC 3339 §5.7) is accepted and lands on the following second, as
/// POSIX time does.
pub fn parse(s: &str) -> Result<i64, TimestampError> {
    let b = s.as_bytes();
    // YYYY-MM-DDTHH:MM:SS is 19 bytes; the zone follows.
    if b.len() < 19 || !s.is_ascii() {
        return Err(TimestampError::Syntax);
    }
    let year = digits(&b[0..4])?;
    expect(b[4], b'-')?;
    let month = digits(&b[5..7])?;
    expect(b[7], b'-')?;
    let day = digits(&b[8..10])?;
    // RFC 3339 §5.6 NOTE: "T" and "Z" may be lower case.
    if !b[10].eq_ignore_ascii_case(&b'T') {
        return Err(TimestampError::Syntax);
    }
    let hour = digits(&b[11..13])?;
    expect(b[13], b':')?;
    let minute = digits(&b[14..16])?;
    expect(b[16], b':')?;
    let second = digits(&b[17..19])?;

    let mut rest = &b[19..];
    if let [b'.', tail @ ..] = rest {
        let frac = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if frac == 0 {
            return Err(TimestampError::Syntax);
        }
        rest = &tail[frac..];
    }
    let offset_secs = match rest {
        [] => return Err(TimestampError::MissingZone),
        [z] if z.eq_ignore_ascii_case(&b'Z') => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 {
                return Err(TimestampError::OutOfRange("offset hour"));
            }
            if minutes > 59 {
                return Err(TimestampError::OutOfRange("offset minute"));
            }
            let secs = hours * 3600 + minutes * 60;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return Err(TimestampError::Syntax),
    };

    if !(1..=12).contains(&month) {
        return Err(TimestampError::OutOfRange("month"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(TimestampError::OutOfRange("day"));
    }
    if hour > 23 {
        return Err(TimestampError::OutOfRange("hour"));
    }
    if minute > 59 {
        return Err(TimestampError::OutOfRange("minute"));
    }
    if second > 60 {
        return Err(TimestampError::OutOfRange("second"));
    }
    let days = days_from_civil(year, month, day);
    // The local time minus its offset is UTC: 10:30+01:00 is 09:30Z.
    Ok(days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs)
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp, `2026-12-01T09:30:00Z`.
pub fn format_utc(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Hinnant, `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    // Years start in March, so the leap day is the last day of the (shifted) year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (Hinnant, `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// ASCII decimal digits to a number; a sign or anything else is a syntax error.
fn digits(b: &[u8]) -> Result<i64, TimestampError> {
    b.iter().try_fold(0, |n, &c| {
        if c.is_ascii_digit() {
            Ok(n * 10 + i64::from(c - b'0'))
        } else {
            Err(TimestampError::Syntax)
        }
    })
}

fn expect(found: u8, wanted: u8) -> Result<(), TimestampError> {
    if found == wanted {
        Ok(())
    } else {
        Err(TimestampError::Syntax)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_timestamps_parse() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse("2026-12-01T09:30:00Z"), Ok(1_796_117_400));
        assert_eq!(parse("2026-12-01t09:30:00z"), Ok(1_796_117_400));
        // Fractions are dropped.
        assert_eq!(parse("2026-12-01T09:30:00.999Z"), Ok(1_796_117_400));
        assert_eq!(parse("1969-12-31T23:59:59Z"), Ok(-1));
        assert_eq!(parse("9999-12-31T23:59:59Z"), Ok(253_402_300_799));
        assert_eq!(parse("0000-01-01T00:00:00Z"), Ok(-62_167_219_200));
    }

    #[test]
    fn offsets_are_subtracted() {
        let utc = parse("2026-12-01T09:30:00Z").unwrap();
        assert_eq!(parse("2026-12-01T10:30:00+01:00"), Ok(utc));
        assert_eq!(parse("2026-12-01T04:00:00-05:30"), Ok(utc));
        assert_eq!(parse("2026-12-01T09:30:00-00:00"), Ok(utc));
        // Across a date line: 23:30-10:00 on the 30th is 09:30Z on the 1st.
        assert_eq!(parse("2026-11-30T23:30:00-10:00"), Ok(utc));
        assert_eq!(parse("2026-12-01T23:29:00+13:59"), Ok(utc));
        assert_eq!(parse("2026-12-01T10:30:00.5+01:00"), Ok(utc));
    }

    #[test]
    fn leap_years_follow_the_gregorian_rules() {
        assert_eq!(parse("2000-02-29T00:00:00Z"), Ok(951_782_400));
        assert!(parse("2028-02-29T12:00:00Z").is_ok());
        assert!(parse("2400-02-29T12:00:00Z").is_ok());
        for common in ["2026-02-29", "1900-02-29", "2100-02-29"] {
            assert_eq!(
                parse(&format!("{common}T00:00:00Z")),
                Err(TimestampError::OutOfRange("day")),
                "{common}"
            );
        }
        // 2028-03-01 follows 2028-02-29 by a day.
        assert_eq!(
            parse("2028-03-01T00:00:00Z").unwrap() - parse("2028-02-29T00:00:00Z").unwrap(),
            86_400
        );
    }

    #[test]
    fn a_leap_second_is_the_next_second() {
        assert_eq!(parse("2016-12-31T23:59:60Z"), parse("2017-01-01T00:00:00Z"));
    }

    #[test]
    fn out_of_range_fields_are_named() {
        let cases = [
            ("2026-13-01T00:00:00Z", "month"),
            ("2026-00-01T00:00:00Z", "month"),
            ("2026-04-31T00:00:00Z", "day"),
            ("2026-01-32T00:00:00Z", "day"),
            ("2026-01-00T00:00:00Z", "day"),
            ("2026-01-01T24:00:00Z", "hour"),
            ("2026-01-01T00:60:00Z", "minute"),
            ("2026-01-01T00:00:61Z", "second"),
            ("2026-01-01T00:00:00+24:00", "offset hour"),
            ("2026-01-01T00:00:00+01:60", "offset minute"),
        ];
        for (s, field) in cases {
            assert_eq!(parse(s), Err(TimestampError::OutOfRange(field)), "{s}");
        }
    }

    #[test]
    fn malformed_strings_are_refused() {
        assert_eq!(
            parse("2026-12-01T09:30:00"),
            Err(TimestampError::MissingZone)
        );
        assert_eq!(
            parse("2026-12-01T09:30:00.25"),
            Err(TimestampError::MissingZone)
        );
        for s in [
            "",
            "tomorrow",
            "2026-12-01",
            "2026-12-01 09:30:00Z",
            "2026-12-01T09:30Z",
            "2026-12-1T09:30:00Z",
            "+2026-12-01T09:30:00Z",
            "2026/12/01T09:30:00Z",
            "2026-12-01T09:30:00.Z",
            "2026-12-01T09:30:00+0100",
            "2026-12-01T09:30:00+01",
            "2026-12-01T09:30:00 Z",
            "2026-12-01T09:30:00Zjunk",
            "2026-12-01T09:30:00UTC",
            "2026-12-01T09:30:00+-1:00",
            "2026-12-01T09:30:00−01:00",
            "２026-12-01T09:30:00Z",
        ] {
            assert_eq!(parse(s), Err(TimestampError::Syntax), "{s:?}");
        }
    }

    #[test]
    fn formatting_is_utc_and_round_trips() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format_utc(1_796_117_400), "2026-12-01T09:30:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        // Every day of four centuries around now: format then parse is the identity.
        for day in -60_000..90_000_i64 {
            let t = day * 86_400 + (day * 7919).rem_euclid(86_400);
            assert_eq!(parse(&format_utc(t)), Ok(t), "{t}");
        }
    }
}
