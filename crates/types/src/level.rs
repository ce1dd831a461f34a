use std::fmt;

/// An audio level in -dBov as RFC 6464 carries it: 0 is the loudest a digital signal can be,
/// 127 is silence (anything at or below -127 dBov).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AudioLevel(u8);

impl AudioLevel {
    pub const SILENCE: Self = Self(127);
    pub const LOUDEST: Self = Self(0);

    /// Clamps to the 0..=127 range of RFC 6464.
    pub const fn from_neg_dbov(v: u8) -> Self {
        Self(if v > 127 { 127 } else { v })
    }

    /// The level as -dBov (0 loudest, 127 silence).
    pub const fn neg_dbov(self) -> u8 {
        self.0
    }

    /// Loudness above silence, 0 (silence) ..= 127 (full scale): bigger is louder.
    pub const fn loudness(self) -> u8 {
        127 - self.0
    }
}

impl Default for AudioLevel {
    fn default() -> Self {
        Self::SILENCE
    }
}

impl fmt::Display for AudioLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-{} dBov", self.0)
    }
}
