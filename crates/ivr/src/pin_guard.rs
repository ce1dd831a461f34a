//! PIN-guessing protection across calls: a caller who hangs up after three wrong PINs and
//! redials must not get three more tries every time.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::time::Duration;

use pont_types::{RoomId, Timestamp};

use crate::call::PinCheck;

/// Limits of a [`PinGuard`]; `Default` explains each number.
#[derive(Debug, Clone)]
pub struct PinGuardConfig {
    /// Failures counted over this sliding window: 10 minutes.
    pub window: Duration,
    /// Failures per (caller, room) in the window before refusing: 5 — two full calls' worth
    /// (3 + 2) for someone who mistyped, then nothing. A 4-digit PIN then takes ~1000 hours of
    /// redialling from one number.
    pub per_caller: usize,
    /// Failures per room, all callers together, before refusing: 20. This bounds a guess
    /// spread over many (spoofed) caller ids, at the price that under such an attack the room's
    /// PIN dial-in is refused to everyone for up to one window; its web link still works.
    pub per_room: usize,
    /// (caller, room) pairs remembered: 10 000 (~1 MB). When full, expired entries are dropped,
    /// then the least recently failed.
    pub max_callers: usize,
    /// Rooms remembered, same policy.
    pub max_rooms: usize,
}

impl Default for PinGuardConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(600),
            per_caller: 5,
            per_room: 20,
            max_callers: 10_000,
            max_rooms: 10_000,
        }
    }
}

/// Recent failure times of one key, at most `limit` of them (older ones cannot matter).
#[derive(Debug, Default)]
struct Failures(VecDeque<Timestamp>);

impl Failures {
    fn prune(&mut self, now: Timestamp, window: Duration) {
        while self
            .0
            .front()
            .is_some_and(|t| now.saturating_since(*t) >= window)
        {
            self.0.pop_front();
        }
    }

    fn record(&mut self, now: Timestamp, limit: usize) {
        if self.0.len() >= limit.max(1) {
            self.0.pop_front();
        }
        self.0.push_back(now);
    }

    fn last(&self) -> Timestamp {
        self.0.back().copied().unwrap_or(Timestamp::ZERO)
    }
}

/// Counts wrong PINs per (caller id, room) and per room over a sliding window, shared by every
/// call of the process (the server keeps one, next to the room directory). Sans-IO: time is a
/// parameter. Caller ids are kept only as keyed hashes, never as text.
#[derive(Debug)]
pub struct PinGuard {
    config: PinGuardConfig,
    hasher: RandomState,
    callers: HashMap<(u64, RoomId), Failures>,
    rooms: HashMap<RoomId, Failures>,
}

impl PinGuard {
    pub fn new(config: PinGuardConfig) -> Self {
        Self {
            config,
            hasher: RandomState::new(),
            callers: HashMap::new(),
            rooms: HashMap::new(),
        }
    }

    fn key(&self, caller: &str, room: RoomId) -> (u64, RoomId) {
        (self.hasher.hash_one(caller), room)
    }

    /// Whether PIN attempts from `caller` (the From user or the trunk's caller id; an empty
    /// string for anonymous callers, who then share one budget) to `room` are refused now.
    pub fn is_blocked(&self, now: Timestamp, caller: &str, room: RoomId) -> bool {
        let w = self.config.window;
        let recent = |f: &Failures| f.0.iter().filter(|t| now.saturating_since(**t) < w).count();
        self.callers
            .get(&self.key(caller, room))
            .is_some_and(|f| recent(f) >= self.config.per_caller)
            || self
                .rooms
                .get(&room)
                .is_some_and(|f| recent(f) >= self.config.per_room)
    }

    /// Records a wrong PIN.
    pub fn record_failure(&mut self, now: Timestamp, caller: &str, room: RoomId) {
        let key = self.key(caller, room);
        let (w, per_caller, per_room) = (
            self.config.window,
            self.config.per_caller,
            self.config.per_room,
        );
        make_room(&mut self.callers, &key, self.config.max_callers, now, w);
        let f = self.callers.entry(key).or_default();
        f.prune(now, w);
        f.record(now, per_caller);
        make_room(&mut self.rooms, &room, self.config.max_rooms, now, w);
        let f = self.rooms.entry(room).or_default();
        f.prune(now, w);
        f.record(now, per_room);
    }

    /// The whole check for an [`crate::IvrEvent::VerifyPin`]: refused while blocked (without
    /// even comparing), else `is_correct()` decides and a failure is recorded.
    pub fn check(
        &mut self,
        now: Timestamp,
        caller: &str,
        room: RoomId,
        is_correct: impl FnOnce() -> bool,
    ) -> PinCheck {
        if self.is_blocked(now, caller, room) {
            tracing::info!(%room, "PIN attempts refused: too many failures");
            return PinCheck::Blocked;
        }
        if is_correct() {
            PinCheck::Correct
        } else {
            self.record_failure(now, caller, room);
            PinCheck::Wrong
        }
    }

    /// Entries held (for metrics and the memory-bound test).
    pub fn len(&self) -> (usize, usize) {
        (self.callers.len(), self.rooms.len())
    }

    pub fn is_empty(&self) -> bool {
        self.callers.is_empty() && self.rooms.is_empty()
    }
}

/// Keeps `map` under `max` entries before inserting `key`: drop expired entries, and if that
/// is not enough, the one whose last failure is oldest. O(n), only when full.
fn make_room<K: std::hash::Hash + Eq + Clone>(
    map: &mut HashMap<K, Failures>,
    key: &K,
    max: usize,
    now: Timestamp,
    window: Duration,
) {
    if map.len() < max.max(1) || map.contains_key(key) {
        return;
    }
    map.retain(|_, f| now.saturating_since(f.last()) < window);
    if map.len() >= max.max(1)
        && let Some(oldest) = map
            .iter()
            .min_by_key(|(_, f)| f.last())
            .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slides() {
        let mut g = PinGuard::new(PinGuardConfig::default());
        let room = RoomId(1234);
        let t0 = Timestamp::ZERO;
        for i in 0..5 {
            assert!(!g.is_blocked(t0, "+331", room), "after {i}");
            g.record_failure(t0 + Duration::from_secs(i), "+331", room);
        }
        assert!(g.is_blocked(t0 + Duration::from_secs(10), "+331", room));
        // Another caller, another room: not blocked.
        assert!(!g.is_blocked(t0 + Duration::from_secs(10), "+332", room));
        assert!(!g.is_blocked(t0 + Duration::from_secs(10), "+331", RoomId(1)));
        // Ten minutes after the first failure, one has aged out.
        assert!(!g.is_blocked(t0 + Duration::from_secs(600), "+331", room));
    }

    #[test]
    fn memory_is_bounded() {
        let cfg = PinGuardConfig {
            max_callers: 100,
            max_rooms: 10,
            ..PinGuardConfig::default()
        };
        let mut g = PinGuard::new(cfg);
        for i in 0..10_000u64 {
            g.record_failure(Timestamp::from_millis(i), &format!("c{i}"), RoomId(i % 50));
        }
        let (callers, rooms) = g.len();
        assert!(callers <= 100 && rooms <= 10, "{callers} {rooms}");
    }
}
