//! DTMF in SIP INFO bodies (RFC 6086 INFO without an Info Package, as trunks and Cisco-style
//! endpoints send it): `application/dtmf-relay` (`Signal=5\r\nDuration=160\r\n`) and
//! `application/dtmf` (`5`).

use crate::Digit;

/// Why an INFO body gave no digit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InfoError {
    /// The Content-Type is neither `application/dtmf-relay` nor `application/dtmf`.
    #[error("not a DTMF content type")]
    NotDtmf,
    /// A `dtmf-relay` body without a `Signal=` line.
    #[error("no Signal line")]
    NoSignal,
    /// The signal is not one of `0-9 * # A-D` (or an event code 0–15).
    #[error("invalid DTMF signal")]
    InvalidSignal,
}

/// A key press from a SIP INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoDigit {
    pub digit: Digit,
    /// `Duration=` in milliseconds, when the body had one.
    pub duration_ms: Option<u32>,
}

/// Bodies longer than this are not DTMF; they are not looked at.
const MAX_BODY: usize = 1024;

/// Parses an INFO body by its Content-Type (parameters and case ignored). Never panics.
pub fn parse_info(content_type: &str, body: &[u8]) -> Result<InfoDigit, InfoError> {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/dtmf-relay") {
        parse_dtmf_relay(body)
    } else if mime.eq_ignore_ascii_case("application/dtmf") {
        parse_dtmf(body)
    } else {
        Err(InfoError::NotDtmf)
    }
}

/// `application/dtmf-relay`: `key=value` lines; `Signal` is required, `Duration` optional.
pub fn parse_dtmf_relay(body: &[u8]) -> Result<InfoDigit, InfoError> {
    let body = &body[..body.len().min(MAX_BODY)];
    let text = String::from_utf8_lossy(body);
    let mut signal = None;
    let mut duration_ms = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        if key.eq_ignore_ascii_case("signal") {
            signal = Some(signal_digit(value).ok_or(InfoError::InvalidSignal)?);
        } else if key.eq_ignore_ascii_case("duration") {
            duration_ms = value.parse().ok();
        }
    }
    let digit = signal.ok_or(InfoError::NoSignal)?;
    Ok(InfoDigit { digit, duration_ms })
}

/// `application/dtmf`: the body is the key itself (`5`, `#`); a `Signal=` form is accepted too.
pub fn parse_dtmf(body: &[u8]) -> Result<InfoDigit, InfoError> {
    let body = &body[..body.len().min(MAX_BODY)];
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.contains('=') {
        return parse_dtmf_relay(body);
    }
    let digit = signal_digit(text).ok_or(InfoError::InvalidSignal)?;
    Ok(InfoDigit {
        digit,
        duration_ms: None,
    })
}

/// One key character, or (as some gateways send `*` and `#`) its event code `10`–`15`.
fn signal_digit(value: &str) -> Option<Digit> {
    let mut chars = value.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some(c), None, _) => Digit::from_char(c),
        (Some('1'), Some(c @ '0'..='5'), None) => Digit::from_event(10 + (c as u8 - b'0')),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digit {
        Digit::from_char(c).unwrap()
    }

    #[test]
    fn dtmf_relay_bodies() {
        let got = parse_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n").unwrap();
        assert_eq!(
            got,
            InfoDigit {
                digit: d('5'),
                duration_ms: Some(160)
            }
        );
        // Spaces, case, parameters, no trailing CRLF, LF only.
        let got = parse_info("Application/DTMF-Relay; x=y", b"signal= #\nduration = 250").unwrap();
        assert_eq!(
            got,
            InfoDigit {
                digit: d('#'),
                duration_ms: Some(250)
            }
        );
        let got = parse_info("application/dtmf-relay", b"Signal=*\r\n").unwrap();
        assert_eq!(
            got,
            InfoDigit {
                digit: Digit::STAR,
                duration_ms: None
            }
        );
        // Event-code form of # .
        assert_eq!(
            parse_dtmf_relay(b"Signal=11\r\n").unwrap().digit,
            Digit::POUND
        );
        assert_eq!(
            parse_dtmf_relay(b"Duration=160\r\n"),
            Err(InfoError::NoSignal)
        );
        assert_eq!(
            parse_dtmf_relay(b"Signal=16\r\n"),
            Err(InfoError::InvalidSignal)
        );
        assert_eq!(
            parse_dtmf_relay(b"Signal=x\r\n"),
            Err(InfoError::InvalidSignal)
        );
        assert_eq!(
            parse_dtmf_relay(b"Signal=\r\n"),
            Err(InfoError::InvalidSignal)
        );
        assert_eq!(parse_dtmf_relay(b"\xff\xfe"), Err(InfoError::NoSignal));
    }

    #[test]
    fn dtmf_bodies() {
        assert_eq!(parse_info("application/dtmf", b"5").unwrap().digit, d('5'));
        assert_eq!(
            parse_info("application/dtmf", b" #\r\n").unwrap().digit,
            Digit::POUND
        );
        assert_eq!(
            parse_info("application/dtmf", b"Signal=7").unwrap().digit,
            d('7')
        );
        assert_eq!(
            parse_info("application/dtmf", b"55"),
            Err(InfoError::InvalidSignal)
        );
        assert_eq!(
            parse_info("application/dtmf", b""),
            Err(InfoError::InvalidSignal)
        );
        assert_eq!(parse_info("text/plain", b"5"), Err(InfoError::NotDtmf));
        assert_eq!(
            parse_info("application/dtmf-relayx", b"5"),
            Err(InfoError::NotDtmf)
        );
    }
}
