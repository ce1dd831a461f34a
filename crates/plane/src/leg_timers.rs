//! Which web legs a shard polls: those handed something since they were last polled (dirty),
//! and those whose own timer is due — never every leg. Sans-IO: time is a type parameter, so
//! the shard passes `Instant`s and the tests plain numbers.
//!
//! A leg's deadline is what its last poll said (`WebLeg::poll_timeout`, or the connect
//! timeout); the heap keeps every deadline ever set and skips those since replaced, so setting
//! one is O(log n) and finding the due ones costs only them.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

/// Dirty legs and the legs' deadlines.
#[derive(Debug)]
pub struct LegTimers<K, T> {
    dirty: BTreeSet<K>,
    deadline: HashMap<K, T>,
    heap: BinaryHeap<Reverse<(T, K)>>,
}

impl<K, T> Default for LegTimers<K, T> {
    fn default() -> Self {
        Self {
            dirty: BTreeSet::new(),
            deadline: HashMap::new(),
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Copy + std::hash::Hash, T: Ord + Copy> LegTimers<K, T> {
    /// `leg` was handed input: poll it in the next pump.
    pub fn mark(&mut self, leg: K) {
        self.dirty.insert(leg);
    }

    /// The legs to poll now (they are clean afterwards, until marked again).
    pub fn take_dirty(&mut self) -> BTreeSet<K> {
        std::mem::take(&mut self.dirty)
    }

    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// After polling `leg`: when it next wants to be woken (`None`: only by input).
    pub fn set(&mut self, leg: K, at: Option<T>) {
        match at {
            Some(at) => {
                if self.deadline.insert(leg, at) != Some(at) {
                    self.heap.push(Reverse((at, leg)));
                }
            }
            None => {
                self.deadline.remove(&leg);
            }
        }
        self.compact();
    }

    /// `leg` is gone.
    pub fn remove(&mut self, leg: K) {
        self.dirty.remove(&leg);
        self.deadline.remove(&leg);
        self.compact();
    }

    /// The earliest deadline of any leg.
    pub fn earliest(&mut self) -> Option<T> {
        self.drop_stale();
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// The legs whose deadline is at or before `now`, earliest first; their deadlines are
    /// cleared (polling them sets the next one) and they are marked dirty.
    pub fn pop_due(&mut self, now: T) -> Vec<K> {
        let mut due = Vec::new();
        loop {
            self.drop_stale();
            match self.heap.peek() {
                Some(Reverse((at, leg))) if *at <= now => {
                    let leg = *leg;
                    self.heap.pop();
                    self.deadline.remove(&leg);
                    self.dirty.insert(leg);
                    due.push(leg);
                }
                _ => return due,
            }
        }
    }

    /// Pops heap entries whose deadline was replaced or removed since they were pushed.
    fn drop_stale(&mut self) {
        while let Some(Reverse((at, leg))) = self.heap.peek() {
            if self.deadline.get(leg) == Some(at) {
                return;
            }
            self.heap.pop();
        }
    }

    /// Rebuilds the heap when stale entries outnumber live ones (a leg re-armed on every poll
    /// leaves one behind each time).
    fn compact(&mut self) {
        if self.heap.len() > 64 && self.heap.len() > 4 * self.deadline.len() {
            self.heap = self
                .deadline
                .iter()
                .map(|(leg, at)| Reverse((*at, *leg)))
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A simulated shard: legs with deadlines in milliseconds; records which legs it polls.
    struct Sim {
        timers: LegTimers<u32, u64>,
        /// Each leg's own next timeout (what `poll_timeout` would say), by leg.
        wants: HashMap<u32, Option<u64>>,
        polled: Vec<u32>,
    }

    impl Sim {
        fn new(legs: &[(u32, Option<u64>)]) -> Self {
            let mut sim = Self {
                timers: LegTimers::default(),
                wants: legs.iter().copied().collect(),
                polled: Vec::new(),
            };
            for (leg, _) in legs {
                sim.timers.mark(*leg);
            }
            sim.pump();
            sim.polled.clear();
            sim
        }

        /// What the shard's pump does: poll each dirty leg, then re-arm its deadline.
        fn pump(&mut self) {
            for leg in self.timers.take_dirty() {
                self.polled.push(leg);
                self.timers.set(leg, self.wants[&leg]);
            }
        }

        fn timeout(&mut self, now: u64) {
            self.timers.pop_due(now);
            self.pump();
        }
    }

    #[test]
    fn a_leg_with_no_input_and_no_due_timer_is_not_polled() {
        // Leg 1 wants a wake-up at 50 ms, leg 2 at 500 ms, leg 3 never (only on input).
        let mut sim = Sim::new(&[(1, Some(50)), (2, Some(500)), (3, None)]);
        assert_eq!(sim.timers.earliest(), Some(50));
        // Once polled at 50, leg 1 will want 100.
        sim.wants.insert(1, Some(100));
        sim.timeout(50);
        assert_eq!(sim.polled, [1], "only the due leg");
        assert_eq!(sim.timers.earliest(), Some(100));
        // A datagram for leg 3 arrives.
        sim.polled.clear();
        sim.timers.mark(3);
        sim.pump();
        assert_eq!(sim.polled, [3], "only the leg that had input");
        sim.polled.clear();
        sim.timeout(60);
        assert!(sim.polled.is_empty(), "nothing is due at 60 ms");
    }

    #[test]
    fn a_replaced_deadline_does_not_fire() {
        let mut t: LegTimers<u32, u64> = LegTimers::default();
        t.set(7, Some(10));
        // Polled again before 10: it now wants 30.
        t.set(7, Some(30));
        assert_eq!(t.earliest(), Some(30));
        assert!(t.pop_due(20).is_empty());
        assert_eq!(t.pop_due(30), [7]);
        assert_eq!(t.earliest(), None);
        assert!(t.has_dirty(), "a due leg is polled next");
    }

    #[test]
    fn due_legs_come_earliest_first_and_removed_legs_never() {
        let mut t: LegTimers<u32, u64> = LegTimers::default();
        t.set(1, Some(30));
        t.set(2, Some(10));
        t.set(3, Some(20));
        t.remove(3);
        assert_eq!(t.pop_due(100), [2, 1]);
        t.set(4, Some(5));
        t.set(4, None);
        assert_eq!(t.earliest(), None);
    }

    #[test]
    fn rearming_on_every_poll_keeps_the_heap_small() {
        let mut t: LegTimers<u32, u64> = LegTimers::default();
        for leg in 0..10 {
            for at in 0..1000 {
                t.set(leg, Some(at));
            }
        }
        assert!(t.heap.len() <= 65, "heap of {}", t.heap.len());
        assert_eq!(t.earliest(), Some(999));
    }
}
