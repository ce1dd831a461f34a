use std::fmt;
use std::time::Duration;

/// A bit rate in bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DataRate(u64);

impl DataRate {
    pub const ZERO: Self = Self(0);

    pub const fn from_bps(bps: u64) -> Self {
        Self(bps)
    }

    pub const fn from_kbps(kbps: u64) -> Self {
        Self(kbps * 1000)
    }

    pub const fn as_bps(self) -> u64 {
        self.0
    }

    /// The rate at which `bytes` were carried over `over`; zero for an empty interval.
    pub fn from_bytes_over(bytes: u64, over: Duration) -> Self {
        let micros = over.as_micros();
        if micros == 0 {
            return Self::ZERO;
        }
        Self((bytes as u128 * 8 * 1_000_000 / micros).min(u64::MAX as u128) as u64)
    }
}

impl fmt::Display for DataRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 1_000_000 {
            write!(f, "{:.2} Mbit/s", self.0 as f64 / 1e6)
        } else {
            write!(f, "{:.1} kbit/s", self.0 as f64 / 1e3)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_from_bytes() {
        assert_eq!(
            DataRate::from_bytes_over(1000, Duration::from_secs(1)),
            DataRate::from_bps(8000)
        );
        assert_eq!(DataRate::from_bytes_over(1, Duration::ZERO), DataRate::ZERO);
    }
}
