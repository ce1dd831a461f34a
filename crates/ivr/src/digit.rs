use std::fmt;

/// One DTMF key: `0`–`9`, `*`, `#` and the rarely seen `A`–`D` (the fourth column of the keypad).
///
/// The numbering is RFC 4733 §3.2's event codes 0–15, which is also the order of the ASCII
/// characters SIP INFO bodies carry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digit(u8);

impl Digit {
    pub const STAR: Self = Self(10);
    pub const POUND: Self = Self(11);

    /// From an RFC 4733 event code; `None` above 15 (those are not DTMF: fax tones, line events).
    pub const fn from_event(code: u8) -> Option<Self> {
        if code <= 15 { Some(Self(code)) } else { None }
    }

    /// The RFC 4733 event code, 0–15.
    pub const fn event(self) -> u8 {
        self.0
    }

    /// From the character a keypad shows (`0-9 * # A-D`, lower case accepted).
    pub const fn from_char(c: char) -> Option<Self> {
        match c {
            '0'..='9' => Some(Self(c as u8 - b'0')),
            '*' => Some(Self::STAR),
            '#' => Some(Self::POUND),
            'A'..='D' => Some(Self(c as u8 - b'A' + 12)),
            'a'..='d' => Some(Self(c as u8 - b'a' + 12)),
            _ => None,
        }
    }

    pub const fn as_char(self) -> char {
        match self.0 {
            0..=9 => (b'0' + self.0) as char,
            10 => '*',
            11 => '#',
            _ => (b'A' + self.0 - 12) as char,
        }
    }

    /// `Some(0..=9)` for a decimal digit.
    pub const fn decimal(self) -> Option<u8> {
        if self.0 <= 9 { Some(self.0) } else { None }
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

impl fmt::Debug for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digit({})", self.as_char())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_and_chars_agree() {
        for code in 0..=15u8 {
            let d = Digit::from_event(code).unwrap();
            assert_eq!(Digit::from_char(d.as_char()), Some(d));
            assert_eq!(d.event(), code);
        }
        assert_eq!(Digit::from_event(16), None);
        assert_eq!(Digit::from_char('*'), Some(Digit::STAR));
        assert_eq!(Digit::from_char('#').unwrap().event(), 11);
        assert_eq!(Digit::from_char('d').unwrap().event(), 15);
        assert_eq!(Digit::from_char('x'), None);
    }
}
