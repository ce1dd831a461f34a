use std::fmt;

use serde::{Deserialize, Serialize};

/// A room's number. The same digits are the web link (`/r/<room>`), the SIP user part
/// (`sip:<room>@<host>`) and what a phone caller keys, so the room number *is* the room's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomId(pub u64);

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for RoomId {
    type Err = std::num::ParseIntError;
    /// Only plain decimal digits: `+12`, ` 12` or `0x12` are not room numbers.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            // Produce the standard error for a non-numeric string.
            return "x".parse::<u64>().map(Self);
        }
        s.parse().map(Self)
    }
}

/// A participant of a room, unique for the life of the process that assigned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParticipantId(pub u64);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// RTP synchronization source (RFC 3550 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ssrc(pub u32);

impl fmt::Display for Ssrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

impl From<u32> for Ssrc {
    fn from(v: u32) -> Self {
        Self(v)
    }
}

/// RTP payload type, 7 bits (RFC 3550 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pt(pub u8);

impl fmt::Display for Pt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_numbers_are_plain_digits() {
        assert_eq!("1234".parse::<RoomId>().unwrap(), RoomId(1234));
        assert!("".parse::<RoomId>().is_err());
        assert!("+12".parse::<RoomId>().is_err());
        assert!("12a".parse::<RoomId>().is_err());
        assert!("99999999999999999999999".parse::<RoomId>().is_err());
    }
}
