use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

static REVEAL: AtomicBool = AtomicBool::new(false);

/// Show personal data in logs (addresses, phone numbers, SIP URIs, keyed digits).
/// Off by default; an operator turns it on for debugging with the `log.reveal_pii` setting.
pub fn set_reveal_pii(reveal: bool) {
    REVEAL.store(reveal, Ordering::Relaxed);
}

/// Personal data that logs must not show by default: `Display` and `Debug` print
/// `[redacted]` unless [`set_reveal_pii`] was called with `true`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pii<T>(pub T);

impl<T: fmt::Display> fmt::Display for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if REVEAL.load(Ordering::Relaxed) {
            self.0.fmt(f)
        } else {
            f.write_str("[redacted]")
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if REVEAL.load(Ordering::Relaxed) {
            self.0.fmt(f)
        } else {
            f.write_str("[redacted]")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_by_default() {
        let p = Pii("+33123456789");
        assert_eq!(format!("{p}"), "[redacted]");
        assert_eq!(format!("{p:?}"), "[redacted]");
    }
}
