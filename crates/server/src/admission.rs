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
    /// Most calls accepted by the SIP task but not yet in their room. 256: at 3,000 calls/s
    /// that is ~85 ms of work queued, well inside the 500 ms before a caller's first INVITE
    /// retransmission (RFC 3261 Timer A = T1). 0 refuses every new call (draining a node).
    pub(crate) max_pending_calls: usize,
    /// Most requests waiting in the media task's queue (it holds 256); beyond it the media
    /// task is not keeping up with joins and leaves. 0 refuses every new call.
    pub(crate) max_media_queue: usize,
    /// Largest smoothed lateness of the media task's timers, in milliseconds. 100 ms: five
    /// mixer ticks late, when callers already hear gaps.
    pub(crate) max_media_lag_ms: u64,
    /// The `Retry-After` of the 503, in seconds: long enough for a burst to pass.
    pub(crate) retry_after_secs: u64,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            max_pending_calls: 256,
            max_media_queue: 192,
            max_media_lag_ms: 100,
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
    /// ahead): an exponential average over the last ~8 observations, so one slow step (a
    /// codec set up) does not refuse calls but a media task that stays behind does.
    pub(crate) fn observe_media_lag(&self, now: Instant, late: Duration) {
        let sample = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        let old = self.media_lag_us.load(Ordering::Relaxed);
        let new = old - old / 8 + sample / 8;
        self.media_lag_us.store(new, Ordering::Relaxed);
        self.observed_at_us
            .store(self.micros(now), Ordering::Relaxed);
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
            pending_calls: 255,
            media_queue: 191,
            media_lag: Duration::from_millis(100),
        };
        assert_eq!(c.admit(busy), Ok(()));
    }

    #[test]
    fn each_bound_refuses_on_its_own() {
        let c = AdmissionConfig::default();
        let pending = Load {
            pending_calls: 256,
            ..Load::default()
        };
        assert_eq!(c.admit(pending), Err(Overload::PendingCalls));
        let queue = Load {
            media_queue: 192,
            ..Load::default()
        };
        assert_eq!(c.admit(queue), Err(Overload::MediaQueue));
        let lag = Load {
            media_lag: Duration::from_millis(101),
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
    fn media_lag_is_smoothed() {
        let t = Instant::now();
        let g = LoadGauges::new(t);
        // One slow step moves the average by an eighth only.
        g.observe_media_lag(t, Duration::from_millis(400));
        assert_eq!(g.media_lag(t), Duration::from_millis(50));
        // A media task that stays behind soon shows it.
        for _ in 0..30 {
            g.observe_media_lag(t, Duration::from_millis(400));
        }
        assert!(g.media_lag(t) > Duration::from_millis(390));
        // And recovers once it is on time again.
        for _ in 0..60 {
            g.observe_media_lag(t, Duration::ZERO);
        }
        assert!(g.media_lag(t) < Duration::from_millis(2));
    }

    #[test]
    fn an_idle_media_task_is_not_lagging() {
        let t = Instant::now();
        let g = LoadGauges::new(t);
        for _ in 0..30 {
            g.observe_media_lag(t, Duration::from_millis(400));
        }
        assert!(g.media_lag(t + Duration::from_millis(250)) > Duration::from_millis(390));
        // Nothing observed since: it went idle (no timers due), so nothing is late.
        assert_eq!(g.media_lag(t + Duration::from_millis(251)), Duration::ZERO);
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
