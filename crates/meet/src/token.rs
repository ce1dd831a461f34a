//! Organizer tokens and room PINs.

use std::fmt;

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::MeetError;

/// The prefix of every token, so one found in a log or a paste is recognisable (and greppable
/// by secret scanners).
const PREFIX: &str = "pont_";

/// An organizer's bearer token: `pont_` and 64 hex digits (256 random bits from the OS CSPRNG).
/// Only its SHA-256 is stored; `Debug` does not print the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A fresh token from the operating system's CSPRNG.
    pub(crate) fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let mut s = String::with_capacity(PREFIX.len() + 64);
        s.push_str(PREFIX);
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        Self(s)
    }

    /// The secret, to show to the organizer once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 of a presented token string, as stored.
    pub(crate) fn hash(presented: &str) -> [u8; 32] {
        Sha256::digest(presented.as_bytes()).into()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// A room PIN: 1 to 12 decimal digits, kept as text because leading zeros count.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pin(String);

impl Pin {
    pub fn new(digits: &str) -> Result<Self, MeetError> {
        if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MeetError::InvalidPin);
        }
        Ok(Self(digits.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = Token::generate();
        let b = Token::generate();
        assert_ne!(a, b);
        assert!(a.expose().starts_with("pont_"));
        assert_eq!(a.expose().len(), 5 + 64);
        assert_eq!(format!("{a:?}"), "Token([redacted])");
    }

    #[test]
    fn pins_are_digits() {
        assert_eq!(Pin::new("0042").unwrap().as_str(), "0042");
        assert!(Pin::new("").is_err());
        assert!(Pin::new("12a").is_err());
        assert!(Pin::new("1234567890123").is_err());
    }
}
