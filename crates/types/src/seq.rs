//! Wraparound of RTP's 16-bit sequence numbers and 32-bit timestamps, in one place.

use std::fmt;

/// An extended (64-bit, never wrapping) RTP sequence number. The low 16 bits are what goes on
/// the wire; the high bits count wraparounds (RFC 3550 §A.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SeqNo(pub u64);

impl SeqNo {
    /// The sequence number as sent on the wire.
    pub const fn as_u16(self) -> u16 {
        self.0 as u16
    }

    /// Extends a wire sequence number to the one nearest `last` (the highest extended number
    /// seen so far), so a packet just before a wrap stays before it and one just after goes
    /// after it. The first packet of a stream (`last = None`) starts one cycle up so that a
    /// reordered packet from before it cannot go below zero.
    pub fn extend(last: Option<Self>, seq: u16) -> Self {
        match last {
            None => Self((1 << 16) | seq as u64),
            Some(last) => Self(extend_bits(last.0, seq as u64, 16)),
        }
    }

    /// Signed distance `self - other`.
    pub fn diff(self, other: Self) -> i64 {
        self.0.wrapping_sub(other.0) as i64
    }

    pub fn next(self) -> Self {
        Self(self.0.wrapping_add(1))
    }
}

impl fmt::Display for SeqNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Extends a 32-bit RTP timestamp to the 64-bit value nearest `last`; the first timestamp of a
/// stream (`last = None`) starts one cycle up, for the same reason as [`SeqNo::extend`].
pub fn extend_u32(last: Option<u64>, value: u32) -> u64 {
    match last {
        None => (1 << 32) | value as u64,
        Some(last) => extend_bits(last, value as u64, 32),
    }
}

/// The value whose low `bits` bits are `wire` and which is nearest `last`.
fn extend_bits(last: u64, wire: u64, bits: u32) -> u64 {
    let cycle = 1u64 << bits;
    let half = cycle / 2;
    let base = last & !(cycle - 1);
    let candidate = base | wire;
    let last_low = last & (cycle - 1);
    if wire > last_low && wire - last_low > half {
        // Far above `last` in this cycle: it is really from the previous cycle (reordered
        // across a wrap), unless there is no previous cycle.
        candidate.checked_sub(cycle).unwrap_or(candidate)
    } else if wire < last_low && last_low - wire > half {
        // Far below: the counter wrapped.
        candidate.saturating_add(cycle)
    } else {
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extends_across_wraparound() {
        let a = SeqNo::extend(None, 65534);
        let b = SeqNo::extend(Some(a), 65535);
        let c = SeqNo::extend(Some(b), 0);
        let d = SeqNo::extend(Some(c), 1);
        assert_eq!(b.diff(a), 1);
        assert_eq!(c.diff(b), 1);
        assert_eq!(d.diff(c), 1);
        assert_eq!(d.as_u16(), 1);
    }

    #[test]
    fn late_packet_from_before_wrap_stays_before() {
        let a = SeqNo::extend(None, 65535);
        let b = SeqNo::extend(Some(a), 2);
        let late = SeqNo::extend(Some(b), 65534);
        assert!(late < a);
        assert_eq!(b.diff(late), 4);
    }

    #[test]
    fn first_packet_leaves_room_below() {
        let a = SeqNo::extend(None, 3);
        let late = SeqNo::extend(Some(a), 65530);
        assert!(late < a);
    }

    #[test]
    fn timestamps_wrap_too() {
        let a = extend_u32(None, u32::MAX - 10);
        let b = extend_u32(Some(a), 100);
        assert_eq!(b - a, 111);
        let late = extend_u32(Some(b), u32::MAX - 20);
        assert_eq!(a - late, 10);
    }
}
