use std::fmt;
use std::ops::{Add, AddAssign};
use std::time::Duration;

/// A point in time, in microseconds since an epoch chosen by whoever drives the core: the
/// server maps its monotonic clock onto it; a test starts at [`Timestamp::ZERO`] and jumps.
///
/// Cores are *told* the time and never ask for it. Subtraction saturates, so a caller that
/// hands in an earlier time than before cannot make a core panic (time going backwards is
/// treated as no time passing).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    pub const ZERO: Self = Self(0);
    pub const MAX: Self = Self(u64::MAX);

    pub const fn from_micros(micros: u64) -> Self {
        Self(micros)
    }

    pub const fn from_millis(millis: u64) -> Self {
        Self(millis * 1000)
    }

    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// `self - earlier`, or zero if `earlier` is in fact later.
    pub fn saturating_since(self, earlier: Self) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    pub fn checked_sub(self, d: Duration) -> Option<Self> {
        let micros = u64::try_from(d.as_micros()).ok()?;
        self.0.checked_sub(micros).map(Self)
    }
}

impl Add<Duration> for Timestamp {
    type Output = Self;
    fn add(self, d: Duration) -> Self {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(micros))
    }
}

impl AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t+{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// A duration or instant in a media clock (an RTP clock rate such as 48 kHz or 90 kHz).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MediaTime {
    ticks: i64,
    rate: u32,
}

impl MediaTime {
    pub const fn new(ticks: i64, rate: u32) -> Self {
        Self { ticks, rate }
    }

    pub const fn ticks(self) -> i64 {
        self.ticks
    }

    pub const fn rate(self) -> u32 {
        self.rate
    }

    /// A wall-clock duration expressed in `rate` ticks per second (rounded down).
    pub fn from_duration(d: Duration, rate: u32) -> Self {
        let ticks = d.as_micros().saturating_mul(rate as u128) / 1_000_000;
        Self {
            ticks: ticks.min(i64::MAX as u128) as i64,
            rate,
        }
    }

    /// The wall-clock length of a non-negative media time; zero for a negative one or a zero rate.
    pub fn as_duration(self) -> Duration {
        if self.rate == 0 || self.ticks <= 0 {
            return Duration::ZERO;
        }
        Duration::from_micros((self.ticks as u128 * 1_000_000 / self.rate as u128) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_never_goes_backwards() {
        let a = Timestamp::from_millis(10);
        let b = Timestamp::from_millis(5);
        assert_eq!(b.saturating_since(a), Duration::ZERO);
        assert_eq!(a.saturating_since(b), Duration::from_millis(5));
        assert_eq!(Timestamp::MAX + Duration::from_secs(1), Timestamp::MAX);
    }

    #[test]
    fn media_time_roundtrip() {
        let m = MediaTime::from_duration(Duration::from_millis(20), 48_000);
        assert_eq!(m.ticks(), 960);
        assert_eq!(m.as_duration(), Duration::from_millis(20));
        assert_eq!(MediaTime::new(-5, 90_000).as_duration(), Duration::ZERO);
    }
}
