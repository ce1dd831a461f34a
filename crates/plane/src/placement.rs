//! Which shard hosts which room, which dial-in call, and which rooms are locked or live.
//!
//! A room lives on one shard for as long as anything holds it there: each participant of any
//! kind, each join on its way, a recorder. The handle takes a hold before it sends a join (or
//! a recording start) to the room's shard, so a room cannot be released and placed again
//! elsewhere while a join is in flight; the shard gives the hold back when the participant
//! leaves, the join is refused or the recorder ends. A room with no hold is forgotten, and
//! placed again on the least loaded shard when someone next joins it.
//!
//! This is the plane's one shared structure: it sits on the signalling path (joins, leaves,
//! dial-in calls), never on the packet path, behind one mutex.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use pont_sip::CallHandle;
use pont_types::{ParticipantId, RoomId};

/// A shard's index.
pub type Shard = usize;

#[derive(Debug, Default)]
struct Inner {
    /// Room → (its shard, holds on it).
    rooms: HashMap<RoomId, (Shard, usize)>,
    /// Holds per shard (a measure of load: participants, joins in flight, recorders).
    load: Vec<usize>,
    /// Dial-in calls → the shard that has them (in the IVR, or joined to a room there).
    calls: HashMap<CallHandle, Shard>,
    /// Callers in the IVR per shard (they cost a shard before they are in any room).
    ivr_load: Vec<usize>,
    /// Rooms their organizer locked: kept until unlocked, across placements.
    locked: HashSet<RoomId>,
    /// Rooms whose live page is open (viewers may watch by WHEP): kept until closed, across
    /// placements, like a lock.
    live: HashSet<RoomId>,
}

/// The directory of rooms and calls to shards.
#[derive(Debug)]
pub struct Placement {
    shards: usize,
    inner: Mutex<Inner>,
}

impl Placement {
    pub fn new(shards: usize) -> Self {
        let shards = shards.max(1);
        Self {
            shards,
            inner: Mutex::new(Inner {
                load: vec![0; shards],
                ivr_load: vec![0; shards],
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A shard that panicked while holding the lock left the maps consistent (every
        // operation below is a few inserts): go on with them.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a hold on `room`, placing it on the least loaded shard if it has no place yet;
    /// returns its shard.
    pub fn enter(&self, room: RoomId) -> Shard {
        let mut inner = self.lock();
        let least = least_loaded(&inner.load, &inner.ivr_load);
        let (shard, holds) = *inner.rooms.entry(room).or_insert((least, 0));
        inner.rooms.insert(room, (shard, holds + 1));
        inner.load[shard] += 1;
        shard
    }

    /// Gives back a hold taken by [`enter`](Self::enter); the last one forgets the room.
    pub fn release(&self, room: RoomId) {
        let mut inner = self.lock();
        let Some(&(shard, holds)) = inner.rooms.get(&room) else {
            return;
        };
        inner.load[shard] = inner.load[shard].saturating_sub(1);
        if holds <= 1 {
            inner.rooms.remove(&room);
        } else {
            inner.rooms.insert(room, (shard, holds - 1));
        }
    }

    /// Where `room` lives now, if anything holds it.
    pub fn shard_of_room(&self, room: RoomId) -> Option<Shard> {
        self.lock().rooms.get(&room).map(|&(s, _)| s)
    }

    /// The shard that allocated `id` (shard `k` of `n` allocates ids `k + 1`, `k + 1 + n`, …).
    pub fn shard_of_participant(&self, id: ParticipantId) -> Shard {
        (id.0.saturating_sub(1) % self.shards as u64) as Shard
    }

    /// A new dial-in call: put on the least loaded shard.
    pub fn place_call(&self, call: CallHandle) -> Shard {
        let mut inner = self.lock();
        let shard = least_loaded(&inner.load, &inner.ivr_load);
        inner.calls.insert(call, shard);
        inner.ivr_load[shard] += 1;
        shard
    }

    /// The caller left the IVR for a room on `to` (their hold on the room is taken apart).
    pub fn move_call(&self, call: CallHandle, to: Shard) {
        let mut inner = self.lock();
        if let Some(from) = inner.calls.insert(call, to) {
            inner.ivr_load[from] = inner.ivr_load[from].saturating_sub(1);
        }
    }

    pub fn shard_of_call(&self, call: CallHandle) -> Option<Shard> {
        self.lock().calls.get(&call).copied()
    }

    /// The call ended. `in_ivr`: it never left the IVR.
    pub fn end_call(&self, call: CallHandle, in_ivr: bool) {
        let mut inner = self.lock();
        if let Some(shard) = inner.calls.remove(&call)
            && in_ivr
        {
            inner.ivr_load[shard] = inner.ivr_load[shard].saturating_sub(1);
        }
    }

    pub fn set_locked(&self, room: RoomId, locked: bool) {
        let mut inner = self.lock();
        if locked {
            inner.locked.insert(room);
        } else {
            inner.locked.remove(&room);
        }
    }

    pub fn is_locked(&self, room: RoomId) -> bool {
        self.lock().locked.contains(&room)
    }

    /// Opens or closes the room's live page.
    pub fn set_live(&self, room: RoomId, live: bool) {
        let mut inner = self.lock();
        if live {
            inner.live.insert(room);
        } else {
            inner.live.remove(&room);
        }
    }

    pub fn is_live(&self, room: RoomId) -> bool {
        self.lock().live.contains(&room)
    }
}

/// The shard with the fewest holds and IVR callers (the lowest index among equals).
fn least_loaded(load: &[usize], ivr: &[usize]) -> Shard {
    (0..load.len())
        .min_by_key(|&s| (load[s] + ivr[s], s))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_go_to_the_least_loaded_shard_and_stay_while_held() {
        let p = Placement::new(2);
        assert_eq!(p.enter(RoomId(1)), 0);
        assert_eq!(p.enter(RoomId(2)), 1, "shard 0 has one participant");
        // A second participant of room 1 joins it where it is, whatever the load.
        assert_eq!(p.enter(RoomId(1)), 0);
        assert_eq!(p.enter(RoomId(3)), 1);
        assert_eq!(p.shard_of_room(RoomId(1)), Some(0));
        p.release(RoomId(1));
        assert_eq!(p.shard_of_room(RoomId(1)), Some(0), "one hold left");
        p.release(RoomId(1));
        assert_eq!(
            p.shard_of_room(RoomId(1)),
            None,
            "the last hold forgets the room"
        );
        // Shard 0 is now empty: the next new room goes there.
        assert_eq!(p.enter(RoomId(4)), 0);
    }

    #[test]
    fn a_release_without_a_hold_changes_nothing() {
        let p = Placement::new(2);
        p.release(RoomId(9));
        assert_eq!(p.enter(RoomId(9)), 0);
        assert_eq!(p.shard_of_room(RoomId(9)), Some(0));
    }

    #[test]
    fn participant_ids_name_their_shard() {
        let p = Placement::new(3);
        // Shard k allocates k+1, k+1+3, ...
        assert_eq!(p.shard_of_participant(ParticipantId(1)), 0);
        assert_eq!(p.shard_of_participant(ParticipantId(2)), 1);
        assert_eq!(p.shard_of_participant(ParticipantId(3)), 2);
        assert_eq!(p.shard_of_participant(ParticipantId(4)), 0);
        assert_eq!(Placement::new(1).shard_of_participant(ParticipantId(77)), 0);
    }

    #[test]
    fn ivr_callers_count_as_load_until_they_join() {
        let p = Placement::new(2);
        assert_eq!(p.place_call(CallHandle(1)), 0);
        assert_eq!(p.place_call(CallHandle(2)), 1);
        assert_eq!(p.enter(RoomId(5)), 0);
        // The caller on shard 1 joins room 5 on shard 0.
        p.move_call(CallHandle(2), 0);
        assert_eq!(p.shard_of_call(CallHandle(2)), Some(0));
        assert_eq!(p.enter(RoomId(6)), 1, "shard 1 has nobody left");
        p.end_call(CallHandle(1), true);
        assert_eq!(p.shard_of_call(CallHandle(1)), None);
    }

    #[test]
    fn locks_outlive_the_room() {
        let p = Placement::new(2);
        p.set_locked(RoomId(1), true);
        assert!(p.is_locked(RoomId(1)));
        assert_eq!(p.shard_of_room(RoomId(1)), None);
        p.set_locked(RoomId(1), false);
        assert!(!p.is_locked(RoomId(1)));
        p.set_live(RoomId(1), true);
        assert!(p.is_live(RoomId(1)) && !p.is_live(RoomId(2)));
        p.set_live(RoomId(1), false);
        assert!(!p.is_live(RoomId(1)));
    }
}
