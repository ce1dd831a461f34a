//! # pont-guard: per-source limits
//!
//! **Owns**: [`Limiter`], a table that counts what each source (a client address, a caller id)
//! does in a fixed window, blocks a source for a while once it goes over the limit, and tells
//! the IO layer whether to serve or drop each request — Kamailio's `pike` in spirit (requests
//! per source per time unit, then ignored while it keeps hammering), also used for strikes
//! (wrong room numbers, failed sign-ins) with a longer window.
//!
//! **Never**: sockets, clocks, threads or allocation per request. Time is a
//! [`Timestamp`] parameter. The table has a fixed capacity chosen at construction: a flood
//! from many (spoofed) sources evicts the least recently seen entries that are not blocked,
//! so memory stays bounded and a source that is blocked stays blocked unless every entry it
//! could live in is blocked too. Keys are placed by a keyed hash (random per process by
//! default), so a remote party cannot aim its spoofed sources at one set.
//!
//! Cost per request: one hash of the key and a look at [`WAYS`] slots (see
//! `benches/benches/guard.rs`).
#![forbid(unsafe_code)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use pont_types::Timestamp;

/// Slots a key may live in (a 4-way set-associative table): enough that a few busy sources
/// sharing a set do not evict each other, few enough that a look-up touches one cache line or
/// two.
pub const WAYS: usize = 4;

/// The limits of one [`Limiter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitConfig {
    /// Length of the counting window. A source's count starts over when its window, opened by
    /// its first request, has passed.
    pub window: Duration,
    /// Requests allowed per window; one more blocks the source. 0 blocks at the first.
    pub limit: u32,
    /// How long a source stays blocked. Requests while blocked are not counted: the block
    /// ends on time, and a source that goes on flooding is blocked again after `limit` more.
    pub block: Duration,
    /// Sources remembered (rounded up to a power of two, at least [`WAYS`]).
    pub capacity: usize,
}

/// What to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it.
    Allow,
    /// Drop it (or answer cheaply): the source is blocked. `newly` is true for the request that
    /// caused the block, so the caller logs once per block, not once per packet.
    Blocked { newly: bool },
}

impl Verdict {
    pub fn is_blocked(self) -> bool {
        matches!(self, Self::Blocked { .. })
    }
}

/// Counters since the limiter was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimiterStats {
    /// Requests judged [`Verdict::Blocked`].
    pub blocked_requests: u64,
    /// Times a source became blocked.
    pub blocks: u64,
    /// Entries replaced to make room for a new source.
    pub evictions: u64,
}

#[derive(Debug, Clone, Copy)]
struct Slot<K> {
    key: K,
    window_start: Timestamp,
    count: u32,
    /// Blocked while `now < blocked_until`.
    blocked_until: Timestamp,
    last_seen: Timestamp,
}

/// Per-source windows and blocks in a fixed-capacity table. Sans-IO: every method takes the
/// time. `K` is the source: an `IpAddr`, a hash of a caller id.
#[derive(Debug)]
pub struct Limiter<K, S = RandomState> {
    config: LimitConfig,
    slots: Box<[Option<Slot<K>>]>,
    /// Number of sets minus one (sets are a power of two).
    set_mask: u64,
    hasher: S,
    used: usize,
    stats: LimiterStats,
}

impl<K: Copy + Eq + Hash> Limiter<K> {
    /// A limiter with a random hash key.
    pub fn new(config: LimitConfig) -> Self {
        Self::with_hasher(config, RandomState::new())
    }
}

impl<K: Copy + Eq + Hash, S: BuildHasher> Limiter<K, S> {
    /// A limiter placing keys with `hasher` (tests pass a fixed one to be deterministic).
    pub fn with_hasher(config: LimitConfig, hasher: S) -> Self {
        let capacity = config.capacity.max(WAYS).next_power_of_two();
        let sets = capacity / WAYS;
        Self {
            config,
            slots: vec![None; capacity].into_boxed_slice(),
            set_mask: sets as u64 - 1,
            hasher,
            used: 0,
            stats: LimiterStats::default(),
        }
    }

    pub fn config(&self) -> &LimitConfig {
        &self.config
    }

    /// Sources in the table now (blocked or not).
    pub fn len(&self) -> usize {
        self.used
    }

    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Slots in the table: the most sources it holds.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn stats(&self) -> LimiterStats {
        self.stats
    }

    fn set(&self, key: &K) -> std::ops::Range<usize> {
        // The set mask is below the slot count, which fits a usize.
        let set = (self.hasher.hash_one(key) & self.set_mask) as usize;
        set * WAYS..set * WAYS + WAYS
    }

    fn find(&self, key: &K) -> Option<usize> {
        self.set(key)
            .find(|&i| self.slots[i].as_ref().is_some_and(|s| s.key == *key))
    }

    /// Whether `key` is blocked now, without counting anything.
    pub fn is_blocked(&self, now: Timestamp, key: &K) -> bool {
        self.find(key)
            .and_then(|i| self.slots[i].as_ref())
            .is_some_and(|s| now < s.blocked_until)
    }

    /// One request from `key`: counted in its window, then judged. The request that goes over
    /// the limit blocks the source (and is itself refused).
    pub fn hit(&mut self, now: Timestamp, key: K) -> Verdict {
        let (window, limit, block) = (self.config.window, self.config.limit, self.config.block);
        let i = self.find_or_insert(now, key);
        // `find_or_insert` returns an occupied slot.
        let Some(s) = self.slots[i].as_mut() else {
            unreachable!("find_or_insert fills the slot it returns")
        };
        s.last_seen = now;
        if now < s.blocked_until {
            self.stats.blocked_requests += 1;
            return Verdict::Blocked { newly: false };
        }
        if now.saturating_since(s.window_start) >= window {
            s.window_start = now;
            s.count = 0;
        }
        s.count = s.count.saturating_add(1);
        if s.count > limit {
            s.blocked_until = now + block;
            s.count = 0;
            s.window_start = now;
            self.stats.blocked_requests += 1;
            self.stats.blocks += 1;
            return Verdict::Blocked { newly: true };
        }
        Verdict::Allow
    }

    /// Blocks `key` at once for the configured time (a scanner's user agent, say).
    pub fn block(&mut self, now: Timestamp, key: K) {
        let block = self.config.block;
        let i = self.find_or_insert(now, key);
        let Some(s) = self.slots[i].as_mut() else {
            unreachable!("find_or_insert fills the slot it returns")
        };
        s.last_seen = now;
        if now >= s.blocked_until {
            self.stats.blocks += 1;
        }
        s.blocked_until = s.blocked_until.max(now + block);
    }

    /// Forgets `key` (a source that proved itself, such as a successful sign-in).
    pub fn forget(&mut self, key: &K) {
        if let Some(i) = self.find(key) {
            self.slots[i] = None;
            self.used -= 1;
        }
    }

    fn find_or_insert(&mut self, now: Timestamp, key: K) -> usize {
        let set = self.set(&key);
        let mut victim = set.start;
        let mut victim_rank = (u8::MAX, Timestamp::MAX);
        for i in set {
            let rank = match &self.slots[i] {
                Some(s) if s.key == key => return i,
                // An empty slot first; then an entry that is neither blocked nor inside its
                // window (it would start over anyway); then the least recently seen of those
                // not blocked; a blocked one last, the one whose block ends first.
                None => (0, Timestamp::ZERO),
                Some(s) if now >= s.blocked_until => {
                    let idle = now.saturating_since(s.window_start) >= self.config.window;
                    (if idle { 1 } else { 2 }, s.last_seen)
                }
                Some(s) => (3, s.blocked_until),
            };
            if rank < victim_rank {
                victim_rank = rank;
                victim = i;
            }
        }
        if self.slots[victim].is_some() {
            self.stats.evictions += 1;
        } else {
            self.used += 1;
        }
        self.slots[victim] = Some(Slot {
            key,
            window_start: now,
            count: 0,
            blocked_until: Timestamp::ZERO,
            last_seen: now,
        });
        victim
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::BuildHasherDefault;
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    type Fixed = BuildHasherDefault<DefaultHasher>;

    fn limiter(limit: u32, capacity: usize) -> Limiter<IpAddr, Fixed> {
        Limiter::with_hasher(
            LimitConfig {
                window: Duration::from_secs(1),
                limit,
                block: Duration::from_secs(60),
                capacity,
            },
            Fixed::default(),
        )
    }

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
    }

    fn ms(n: u64) -> Timestamp {
        Timestamp::from_millis(n)
    }

    #[test]
    fn a_source_under_the_limit_is_always_served() {
        let mut l = limiter(10, 64);
        // 10 per second for a minute, evenly spread.
        for i in 0..600 {
            assert_eq!(l.hit(ms(i * 100), ip(1)), Verdict::Allow, "request {i}");
        }
        assert_eq!(l.stats().blocks, 0);
    }

    #[test]
    fn one_over_the_limit_blocks_for_the_block_time_then_serves_again() {
        let mut l = limiter(3, 64);
        for _ in 0..3 {
            assert_eq!(l.hit(ms(0), ip(1)), Verdict::Allow);
        }
        assert_eq!(l.hit(ms(1), ip(1)), Verdict::Blocked { newly: true });
        assert_eq!(l.hit(ms(2), ip(1)), Verdict::Blocked { newly: false });
        assert!(l.is_blocked(ms(59_000), &ip(1)));
        // Other sources are not affected.
        assert_eq!(l.hit(ms(3), ip(2)), Verdict::Allow);
        assert!(!l.is_blocked(ms(3), &ip(2)));
        // The block ends 60 s after it began, however much was sent meanwhile.
        for t in (10..60_000).step_by(10) {
            assert!(l.hit(ms(t), ip(1)).is_blocked());
        }
        assert_eq!(l.hit(ms(60_001), ip(1)), Verdict::Allow);
        assert_eq!(l.stats().blocks, 1);
    }

    #[test]
    fn the_window_starts_over() {
        let mut l = limiter(2, 64);
        assert_eq!(l.hit(ms(0), ip(1)), Verdict::Allow);
        assert_eq!(l.hit(ms(999), ip(1)), Verdict::Allow);
        // A new window at 1 s: two more.
        assert_eq!(l.hit(ms(1000), ip(1)), Verdict::Allow);
        assert_eq!(l.hit(ms(1500), ip(1)), Verdict::Allow);
        assert!(l.hit(ms(1600), ip(1)).is_blocked());
    }

    #[test]
    fn limit_zero_blocks_at_once_and_block_marks_a_source() {
        let mut l = limiter(0, 64);
        assert_eq!(l.hit(ms(0), ip(1)), Verdict::Blocked { newly: true });
        let mut l = limiter(100, 64);
        l.block(ms(0), ip(7));
        assert!(l.is_blocked(ms(1), &ip(7)));
        assert!(l.hit(ms(2), ip(7)).is_blocked());
        assert!(!l.is_blocked(ms(60_000), &ip(7)));
        l.forget(&ip(7));
        assert!(l.is_empty());
    }

    #[test]
    fn time_going_backwards_does_not_panic_or_unblock() {
        let mut l = limiter(1, 64);
        l.hit(ms(5000), ip(1));
        assert!(l.hit(ms(5000), ip(1)).is_blocked());
        assert!(l.hit(ms(0), ip(1)).is_blocked());
    }

    #[test]
    fn a_spoofed_flood_stays_within_capacity_and_keeps_blocked_sources_blocked() {
        let mut l = limiter(5, 1024);
        // A real flooder gets blocked.
        for _ in 0..6 {
            l.hit(ms(0), ip(0));
        }
        assert!(l.is_blocked(ms(0), &ip(0)));
        // A million spoofed sources, one packet each.
        for n in 1..1_000_000 {
            assert_eq!(l.hit(ms(1 + u64::from(n) / 1000), ip(n)), Verdict::Allow);
        }
        assert!(l.len() <= l.capacity());
        assert_eq!(l.capacity(), 1024);
        assert!(l.stats().evictions > 990_000);
        // Its set had room for the spoofed ones without touching the blocked entry.
        assert!(l.is_blocked(ms(1001), &ip(0)));
    }

    #[test]
    fn a_busy_source_survives_a_spoofed_flood_in_its_set() {
        // Capacity 4: one set, so every spoofed source lands next to the busy one.
        let mut l = limiter(1000, 4);
        l.hit(ms(0), ip(0));
        for n in 1..100 {
            l.hit(ms(n), ip(n as u32));
            // The busy source keeps sending: it is the most recently seen.
            l.hit(ms(n), ip(0));
        }
        assert_eq!(l.len(), 4);
        // Its count went on (2 per ms for 100 ms): it was never evicted and started over.
        let i = l.find(&ip(0)).expect("still in the table");
        assert_eq!(l.slots[i].as_ref().map(|s| s.count), Some(100));
    }

    #[test]
    fn capacity_is_rounded_to_whole_sets() {
        assert_eq!(limiter(1, 0).capacity(), WAYS);
        assert_eq!(limiter(1, 1000).capacity(), 1024);
    }
}
