//! Admission control for new SIP calls: when the bridge is behind, a new INVITE is refused at
//! once with `503 Service Unavailable` and `Retry-After` (RFC 3261 §21.5.4) instead of joining
//! a backlog that makes every call late. Calls in progress are never touched: only new
//! INVITEs are judged.
//!
//! Three signs of overload, each with a bound from `[admission]` in the config:
//! - **pending calls**: INVITEs the SIP task has handed to the media task and that are not in
//!   their room yet (the SIP task never waits for the media task, so this is its backlog);
//! - **media queue**: requests waiting in the media task's command queue (joins, leaves, the
//!   HTTP API, signalling);
//! - **media lag**: how late the media task runs its timers (the mixer's 20 ms tick among
//!   them), smoothed; past a few ticks callers already hear gaps.
//!
//! The decision is a pure function of those numbers ([`AdmissionConfig::admit`]), so it is
//! tested without timing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// `[admission]`: when new SIP calls are refused with 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AdmissionConfig {
    /// Most calls accepted by the SIP task but not yet in their room. 512: at 3,000 calls/s
    /// that is ~170 ms of work queued, inside the 500 ms before a caller's first INVITE
    /// retransmission (RFC 3261 Timer A = T1), and above what a hiccup of a shared machine
    /// queues (256 refused calls in runs that were not overloaded). 0 refuses every new call
    /// (draining a node).
    pub(crate) max_pending_calls: usize,
    /// Most requests waiting in the media task's queue (it holds 4096); beyond it the media
    /// task is not keeping up with joins and leaves. 1024: ~140 ms of joins and leaves at
    /// 3,600 calls/s, the same ~150 ms of backlog the other two bounds allow. 0 refuses every
    /// new call.
    pub(crate) max_media_queue: usize,
    /// Largest smoothed lateness of the media task's timers, in milliseconds. 150 ms: over
    /// seven mixer ticks late for ~200 ms, when callers already hear gaps; one stall of the
    /// machine counts at most half (see [`LoadGauges::observe_media_lag`]).
    pub(crate) max_media_lag_ms: u64,
    /// The `Retry-After` of the 503, in seconds: long enough for a burst to pass.
    pub(crate) retry_after_secs: u64,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            max_pending_calls: 512,
            max_media_queue: 1024,
            max_media_lag_ms: 150,
            retry_after_secs: 5,
        }
    }
}

/// The load when an INVITE arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Load {
    pub(crate) pending_calls: usize,
    pub(crate) media_queue: usize,
    pub(crate) media_lag: Duration,
}

/// Why a new call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overload {
    PendingCalls,
    MediaQueue,
    MediaLag,
}

impl Overload {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::PendingCalls => "pending_calls",
            Self::MediaQueue => "media_queue",
            Self::MediaLag => "media_lag",
        }
    }
}

impl AdmissionConfig {
    /// Whether a new call may start under `load`. A bound is reached at equality: with a
    /// bound of 0 nothing is admitted.
    pub(crate) fn admit(&self, load: Load) -> Result<(), Overload> {
        if load.pending_calls >= self.max_pending_calls {
            return Err(Overload::PendingCalls);
        }
        if load.media_queue >= self.max_media_queue {
            return Err(Overload::MediaQueue);
        }
        if load.media_lag > Duration::from_millis(self.max_media_lag_ms) {
            return Err(Overload::MediaLag);
        }
        Ok(())
    }

    pub(crate) fn retry_after(&self) -> Duration {
        Duration::from_secs(self.retry_after_secs)
    }
}

/// A media lag observed longer ago than this no longer counts. The media task turns at least
/// every 20 ms (mixer tick) while it has calls, so an old observation means it went idle (no
/// timers, nothing to be late for); a media task stuck in one long step shows in the queue
/// bounds instead.
const LAG_STALE: Duration = Duration::from_millis(250);
/// Time constant of the media lag's average: a lag must last about this long to count fully.
const LAG_SMOOTHING: Duration = Duration::from_millis(200);

/// Gauges the media task and the SIP task share (atomics: read by the other task and by
/// `/metrics`, never locked).
#[derive(Debug)]
pub(crate) struct LoadGauges {
    base: Instant,
    /// Smoothed lateness of the media task's timers, microseconds.
    media_lag_us: AtomicU64,
    /// When it was last observed, microseconds since `base`.
    observed_at_us: AtomicU64,
    /// New SIP calls refused with 503, by reason (the order of [`Overload`]).
    refused: [AtomicU64; 3],
}

impl Default for LoadGauges {
    fn default() -> Self {
        Self::new(Instant::now())
    }
}

impl LoadGauges {
    pub(crate) fn new(base: Instant) -> Self {
        Self {
            base,
            media_lag_us: AtomicU64::new(0),
            observed_at_us: AtomicU64::new(0),
            refused: Default::default(),
        }
    }

    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_micros()).unwrap_or(u64::MAX)
    }

    /// One observation at `now` of how late the media task is (zero when its next timer is
    /// ahead): an exponential average in time (constant [`LAG_SMOOTHING`]), each observation
    /// weighted by the time since the previous one. One stall of the machine (another
    /// process, a codec set up) moves it by at most its share of the window, so it does not
    /// refuse calls; a media task that stays behind soon shows its whole lag.
    pub(crate) fn observe_media_lag(&self, now: Instant, late: Duration) {
        let at = self.micros(now);
        let since = at.saturating_sub(self.observed_at_us.load(Ordering::Relaxed));
        let weight = (since as f64 / LAG_SMOOTHING.as_micros() as f64).min(1.0);
        let old = self.media_lag_us.load(Ordering::Relaxed) as f64;
        let sample = late.as_micros() as f64;
        let new = old + (sample - old) * weight;
        // Only this task writes: load-then-store loses nothing.
        self.media_lag_us.store(new as u64, Ordering::Relaxed);
        self.observed_at_us.store(at, Ordering::Relaxed);
    }

    /// The smoothed media lag as of `now`: zero once the last observation is stale.
    pub(crate) fn media_lag(&self, now: Instant) -> Duration {
        let age = self
            .micros(now)
            .saturating_sub(self.observed_at_us.load(Ordering::Relaxed));
        if Duration::from_micros(age) > LAG_STALE {
            return Duration::ZERO;
        }
        Duration::from_micros(self.media_lag_us.load(Ordering::Relaxed))
    }

    pub(crate) fn count_refused(&self, why: Overload) {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Refusals so far, by reason.
    pub(crate) fn refused(&self) -> [(Overload, u64); 3] {
        [
            Overload::PendingCalls,
            Overload::MediaQueue,
            Overload::MediaLag,
        ]
        .map(|o| (o, self.refused[o as usize].load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_admitted_under_every_bound() {
        let c = AdmissionConfig::default();
        assert_eq!(c.admit(Load::default()), Ok(()));
        let busy = Load {
            pending_calls: 511,
            media_queue: 1023,
            media_lag: Duration::from_millis(150),
        };
        assert_eq!(c.admit(busy), Ok(()));
    }

    #[test]
    fn each_bound_refuses_on_its_own() {
        let c = AdmissionConfig::default();
        let pending = Load {
            pending_calls: 512,
            ..Load::default()
        };
        assert_eq!(c.admit(pending), Err(Overload::PendingCalls));
        let queue = Load {
            media_queue: 1024,
            ..Load::default()
        };
        assert_eq!(c.admit(queue), Err(Overload::MediaQueue));
        let lag = Load {
            media_lag: Duration::from_millis(151),
            ..Load::default()
        };
        assert_eq!(c.admit(lag), Err(Overload::MediaLag));
    }

    #[test]
    fn a_zero_bound_drains_the_node() {
        let c = AdmissionConfig {
            max_pending_calls: 0,
            ..AdmissionConfig::default()
        };
        assert_eq!(c.admit(Load::default()), Err(Overload::PendingCalls));
    }

    #[test]
    fn media_lag_is_smoothed_in_time() {
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        let g = LoadGauges::new(t);
        // One stall of 100 ms after 100 ms of quiet counts half: no refusal at 150 ms.
        g.observe_media_lag(ms(100), Duration::from_millis(100));
        assert_eq!(g.media_lag(ms(100)), Duration::from_millis(50));
        // A media task that stays 400 ms behind, observed every 10 ms, soon shows it.
        for i in 1..=100 {
            g.observe_media_lag(ms(100 + 10 * i), Duration::from_millis(400));
        }
        assert!(g.media_lag(ms(1100)) > Duration::from_millis(390));
        // And recovers once it is on time again.
        for i in 1..=100 {
            g.observe_media_lag(ms(1100 + 10 * i), Duration::ZERO);
        }
        assert!(g.media_lag(ms(2100)) < Duration::from_millis(3));
    }

    #[test]
    fn an_idle_media_task_is_not_lagging() {
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        let g = LoadGauges::new(t);
        for i in 1..=100 {
            g.observe_media_lag(ms(10 * i), Duration::from_millis(400));
        }
        assert!(g.media_lag(ms(1250)) > Duration::from_millis(390));
        // Nothing observed since: it went idle (no timers due), so nothing is late.
        assert_eq!(g.media_lag(ms(1251)), Duration::ZERO);
    }

    #[test]
    fn refusals_are_counted_by_reason() {
        let g = LoadGauges::default();
        g.count_refused(Overload::MediaLag);
        g.count_refused(Overload::MediaLag);
        g.count_refused(Overload::PendingCalls);
        assert_eq!(
            g.refused(),
            [
                (Overload::PendingCalls, 1),
                (Overload::MediaQueue, 0),
                (Overload::MediaLag, 2)
            ]
        );
    }
}
