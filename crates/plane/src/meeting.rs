//! What a room holds besides media: who moderates, who waits to be let in, raised hands in the
//! order they were raised, and the chat kept for latecomers.
//!
//! One [`Meeting`] per live room, owned by the room's shard. It decides and remembers; it sends
//! nothing. The shard asks it ([`Meeting::arrive`], [`Meeting::admit`], [`Meeting::chat`], …),
//! then does what the answer says to the legs (mute a mixer leg, hang up a call, tell the
//! browsers). Every participant kind is the same here: a phone caller waits, raises no hand (it
//! has no page) but can be muted, admitted and removed like a browser.
//!
//! Time comes in as a parameter ([`Timestamp`] for the chat's rate limit, Unix milliseconds for
//! the time shown beside a message), so tests run a meeting in microseconds.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use pont_media::ParticipantKind;
use pont_types::{ParticipantId, Timestamp};
use serde::Serialize;

/// Chat lines kept per room for latecomers; older ones are dropped (a long meeting's chat is
/// still saved whole beside its recording, line by line as it goes).
pub const CHAT_HISTORY: usize = 500;
/// Longest chat message, in characters: a paragraph, not a document.
pub const MAX_CHAT_CHARS: usize = 2000;
/// A participant may send this many messages at once, then one per [`CHAT_REFILL`].
pub const CHAT_BURST: u32 = 5;
/// The chat rate limit's refill: one message per this interval after the burst.
pub const CHAT_REFILL: Duration = Duration::from_secs(1);

/// A participant's part in the meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Moderator,
    Participant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Moderator => "moderator",
            Self::Participant => "participant",
        }
    }
}

/// Whether a participant is in the room or waits in its waiting room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Waiting,
    In,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::In => "in",
        }
    }
}

/// Who asks for a moderator's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The meeting's organizer (or an admin) through the HTTP API: always allowed.
    Organizer,
    /// A participant, from the meeting page: allowed when they moderate.
    Participant(ParticipantId),
}

/// Why an action was refused; each has a code for signalling and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("only a moderator can do that")]
    NotModerator,
    #[error("no such participant in this room")]
    NoSuchParticipant,
    #[error("that participant is not waiting")]
    NotWaiting,
    #[error("that participant is still in the waiting room")]
    StillWaiting,
    #[error("a moderator can lower a hand, not raise one")]
    NotYourHand,
    #[error("you are in the waiting room: wait to be let in")]
    Waiting,
    #[error("someone else is sharing their screen: one share at a time")]
    ShareBusy,
    #[error("that participant is not sharing")]
    NotSharing,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::NotModerator => "not_moderator",
            Self::NoSuchParticipant => "participant_not_found",
            Self::NotWaiting => "not_waiting",
            Self::StillWaiting => "still_waiting",
            Self::NotYourHand => "not_your_hand",
            Self::Waiting => "waiting",
            Self::ShareBusy => "share_busy",
            Self::NotSharing => "not_sharing",
        }
    }
}

/// Why a chat message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChatRefused {
    #[error("the message is empty")]
    Empty,
    #[error("the message is longer than {MAX_CHAT_CHARS} characters")]
    TooLong,
    #[error("too many messages: wait a moment")]
    TooFast,
    #[error("you are not in the room")]
    NotIn,
}

impl ChatRefused {
    pub fn code(self) -> &'static str {
        match self {
            Self::Empty => "chat_empty",
            Self::TooLong => "chat_too_long",
            Self::TooFast => "chat_rate_limited",
            Self::NotIn => "not_in_room",
        }
    }
}

/// One chat message, as everyone sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatLine {
    /// Rising within the room: the order messages were accepted in.
    pub seq: u64,
    /// `p3`.
    pub from: String,
    /// The sender's display name when it was sent.
    pub name: String,
    pub text: String,
    /// When it was accepted, Unix milliseconds.
    pub at: i64,
}

/// A participant as the meeting knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub kind: ParticipantKind,
    pub name: String,
    pub role: Role,
    pub state: State,
    /// When they raised their hand, as an order number (lower: raised earlier).
    hand: Option<u64>,
    pub sharing: bool,
    /// The chat's token bucket: tokens left, and when it was last refilled.
    tokens: u32,
    refilled: Timestamp,
}

impl Member {
    pub fn hand_raised(&self) -> bool {
        self.hand.is_some()
    }
}

/// The outcome of [`Meeting::arrive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Straight in.
    In,
    /// Into the waiting room, until a moderator admits them.
    Waiting,
}

/// How a room runs (from its meeting's options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rules {
    /// Participants who do not moderate wait to be let in.
    pub waiting_room: bool,
}

/// One live room's meeting state.
#[derive(Debug, Clone, Default)]
pub struct Meeting {
    rules: Rules,
    members: BTreeMap<ParticipantId, Member>,
    chat: VecDeque<ChatLine>,
    next_chat: u64,
    next_hand: u64,
    /// The meeting's polls (asked by moderators: check with [`Meeting::check_moderator`]).
    pub polls: crate::poll::Polls,
}

impl Meeting {
    pub fn new(rules: Rules) -> Self {
        Self {
            rules,
            ..Self::default()
        }
    }

    pub fn rules(&self) -> Rules {
        self.rules
    }

    /// The rules can change while the room runs (the organizer edits the meeting): those
    /// already waiting keep waiting until admitted.
    pub fn set_rules(&mut self, rules: Rules) {
        self.rules = rules;
    }

    /// Someone arrives; `moderator` when they are the meeting's organizer signed in.
    pub fn arrive(
        &mut self,
        now: Timestamp,
        id: ParticipantId,
        kind: ParticipantKind,
        name: &str,
        moderator: bool,
    ) -> Arrival {
        let waits = self.rules.waiting_room && !moderator;
        self.members.insert(
            id,
            Member {
                kind,
                name: name.to_owned(),
                role: if moderator {
                    Role::Moderator
                } else {
                    Role::Participant
                },
                state: if waits { State::Waiting } else { State::In },
                hand: None,
                sharing: false,
                tokens: CHAT_BURST,
                refilled: now,
            },
        );
        if waits { Arrival::Waiting } else { Arrival::In }
    }

    /// Someone left (or was turned away); what they were, if they were here.
    pub fn leave(&mut self, id: ParticipantId) -> Option<Member> {
        self.members.remove(&id)
    }

    pub fn member(&self, id: ParticipantId) -> Option<&Member> {
        self.members.get(&id)
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether `id` is in the room (not waiting).
    pub fn is_in(&self, id: ParticipantId) -> bool {
        self.members.get(&id).is_some_and(|m| m.state == State::In)
    }

    /// Everyone waiting, longest waiting first.
    pub fn waiting(&self) -> Vec<ParticipantId> {
        // Ids rise with arrival on a shard, and a room lives on one shard.
        self.members
            .iter()
            .filter(|(_, m)| m.state == State::Waiting)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Everyone in the room (not waiting).
    pub fn present(&self) -> Vec<ParticipantId> {
        self.members
            .iter()
            .filter(|(_, m)| m.state == State::In)
            .map(|(&id, _)| id)
            .collect()
    }

    /// The moderators in the room.
    pub fn moderators(&self) -> Vec<ParticipantId> {
        self.members
            .iter()
            .filter(|(_, m)| m.state == State::In && m.role == Role::Moderator)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Refused unless `actor` moderates this room.
    pub fn check_moderator(&self, actor: Actor) -> Result<(), Refusal> {
        match actor {
            Actor::Organizer => Ok(()),
            Actor::Participant(id) => match self.members.get(&id) {
                Some(m) if m.state == State::In && m.role == Role::Moderator => Ok(()),
                _ => Err(Refusal::NotModerator),
            },
        }
    }

    /// A moderator's action on someone in the room or waiting (remove, mute): allowed, and the
    /// target exists.
    pub fn check_action(&self, actor: Actor, target: ParticipantId) -> Result<&Member, Refusal> {
        self.check_moderator(actor)?;
        self.members.get(&target).ok_or(Refusal::NoSuchParticipant)
    }

    /// Lets a waiting participant in.
    pub fn admit(&mut self, actor: Actor, target: ParticipantId) -> Result<(), Refusal> {
        self.check_moderator(actor)?;
        let m = self
            .members
            .get_mut(&target)
            .ok_or(Refusal::NoSuchParticipant)?;
        if m.state != State::Waiting {
            return Err(Refusal::NotWaiting);
        }
        m.state = State::In;
        Ok(())
    }

    /// Lets everyone waiting in; who they were, longest waiting first.
    pub fn admit_all(&mut self, actor: Actor) -> Result<Vec<ParticipantId>, Refusal> {
        self.check_moderator(actor)?;
        let waiting = self.waiting();
        for id in &waiting {
            if let Some(m) = self.members.get_mut(id) {
                m.state = State::In;
            }
        }
        Ok(waiting)
    }

    /// Makes someone in the room a moderator.
    pub fn make_moderator(&mut self, actor: Actor, target: ParticipantId) -> Result<(), Refusal> {
        self.check_moderator(actor)?;
        let m = self
            .members
            .get_mut(&target)
            .ok_or(Refusal::NoSuchParticipant)?;
        if m.state != State::In {
            return Err(Refusal::StillWaiting);
        }
        m.role = Role::Moderator;
        Ok(())
    }

    /// Raises or lowers a hand: everyone their own, a moderator lowers anyone's. `Ok(true)`
    /// when it changed.
    pub fn set_hand(
        &mut self,
        actor: Actor,
        target: ParticipantId,
        raised: bool,
    ) -> Result<bool, Refusal> {
        let own = actor == Actor::Participant(target);
        if !own {
            self.check_moderator(actor)?;
            if raised {
                return Err(Refusal::NotYourHand);
            }
        }
        let next = self.next_hand;
        let m = self
            .members
            .get_mut(&target)
            .ok_or(Refusal::NoSuchParticipant)?;
        if m.state != State::In {
            return Err(Refusal::Waiting);
        }
        let changed = match (raised, m.hand) {
            (true, None) => {
                m.hand = Some(next);
                self.next_hand += 1;
                true
            }
            (false, Some(_)) => {
                m.hand = None;
                true
            }
            _ => false,
        };
        Ok(changed)
    }

    /// Raised hands, first raised first.
    pub fn hands(&self) -> Vec<ParticipantId> {
        let mut raised: Vec<(u64, ParticipantId)> = self
            .members
            .iter()
            .filter_map(|(&id, m)| m.hand.map(|h| (h, id)))
            .collect();
        raised.sort_unstable();
        raised.into_iter().map(|(_, id)| id).collect()
    }

    /// Who shares their screen, if anyone.
    pub fn sharer(&self) -> Option<ParticipantId> {
        self.members
            .iter()
            .find(|(_, m)| m.sharing)
            .map(|(&id, _)| id)
    }

    /// `id` starts sharing its screen: one share at a time in a room. `Ok(false)` when it was
    /// sharing already.
    pub fn start_sharing(&mut self, id: ParticipantId) -> Result<bool, Refusal> {
        match self.sharer() {
            Some(s) if s == id => return Ok(false),
            Some(_) => return Err(Refusal::ShareBusy),
            None => {}
        }
        let m = self
            .members
            .get_mut(&id)
            .ok_or(Refusal::NoSuchParticipant)?;
        if m.state != State::In {
            return Err(Refusal::Waiting);
        }
        m.sharing = true;
        Ok(true)
    }

    /// `target`'s share stops: by itself, or by a moderator.
    pub fn stop_sharing(&mut self, actor: Actor, target: ParticipantId) -> Result<(), Refusal> {
        if actor != Actor::Participant(target) {
            self.check_moderator(actor)?;
        }
        match self.members.get_mut(&target) {
            Some(m) if m.sharing => {
                m.sharing = false;
                Ok(())
            }
            Some(_) => Err(Refusal::NotSharing),
            None => Err(Refusal::NoSuchParticipant),
        }
    }

    /// A chat message from someone in the room: trimmed, limited in length and rate, kept
    /// for latecomers. The text is kept as typed; pages show it as text, never as HTML.
    pub fn chat(
        &mut self,
        now: Timestamp,
        unix_ms: i64,
        from: ParticipantId,
        text: &str,
    ) -> Result<ChatLine, ChatRefused> {
        let m = self.members.get_mut(&from).ok_or(ChatRefused::NotIn)?;
        if m.state != State::In {
            return Err(ChatRefused::NotIn);
        }
        let text = text.trim();
        if text.is_empty() {
            return Err(ChatRefused::Empty);
        }
        // Counting stops past the limit: a 1 MB message costs no more than a long one.
        if text.chars().nth(MAX_CHAT_CHARS).is_some() {
            return Err(ChatRefused::TooLong);
        }
        let refill = CHAT_REFILL.as_micros().max(1) as u64;
        let elapsed = now.saturating_since(m.refilled).as_micros() as u64;
        let earned = elapsed / refill;
        if earned > 0 {
            m.tokens = (u64::from(m.tokens) + earned).min(u64::from(CHAT_BURST)) as u32;
            m.refilled = Timestamp::from_micros(m.refilled.as_micros() + earned * refill);
        }
        if m.tokens == 0 {
            return Err(ChatRefused::TooFast);
        }
        m.tokens -= 1;
        if m.tokens + 1 == CHAT_BURST {
            // The bucket was full: refilling counts from now, not from the last refill.
            m.refilled = now;
        }
        self.next_chat += 1;
        let line = ChatLine {
            seq: self.next_chat,
            from: from.to_string(),
            name: m.name.clone(),
            text: text.to_owned(),
            at: unix_ms,
        };
        if self.chat.len() == CHAT_HISTORY {
            self.chat.pop_front();
        }
        self.chat.push_back(line.clone());
        Ok(line)
    }

    /// The chat so far (at most [`CHAT_HISTORY`] lines), oldest first.
    pub fn history(&self) -> impl Iterator<Item = &ChatLine> {
        self.chat.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB: ParticipantKind = ParticipantKind::Web;
    const PHONE: ParticipantKind = ParticipantKind::Pstn;

    fn p(n: u64) -> ParticipantId {
        ParticipantId(n)
    }

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn waiting_room() -> Meeting {
        Meeting::new(Rules { waiting_room: true })
    }

    #[test]
    fn without_a_waiting_room_everyone_is_in() {
        let mut m = Meeting::new(Rules::default());
        assert_eq!(m.arrive(t(0), p(1), WEB, "Ann", false), Arrival::In);
        assert_eq!(m.arrive(t(0), p(2), PHONE, "+33 1", false), Arrival::In);
        assert_eq!(m.present(), vec![p(1), p(2)]);
        assert!(m.waiting().is_empty());
    }

    #[test]
    fn participants_of_every_kind_wait_and_moderators_do_not() {
        let mut m = waiting_room();
        assert_eq!(m.arrive(t(0), p(1), WEB, "Org", true), Arrival::In);
        assert_eq!(
            m.arrive(t(0), p(2), PHONE, "+33 1", false),
            Arrival::Waiting
        );
        assert_eq!(
            m.arrive(t(0), p(3), ParticipantKind::Sip, "Room A", false),
            Arrival::Waiting
        );
        assert_eq!(m.waiting(), vec![p(2), p(3)]);
        assert_eq!(m.moderators(), vec![p(1)]);
        assert!(!m.is_in(p(2)));
    }

    #[test]
    fn only_moderators_admit_and_admitting_twice_is_refused() {
        let mut m = waiting_room();
        m.arrive(t(0), p(1), WEB, "Org", true);
        m.arrive(t(0), p(2), WEB, "Bob", false);
        m.arrive(t(0), p(3), WEB, "Cat", false);
        assert_eq!(
            m.admit(Actor::Participant(p(2)), p(3)),
            Err(Refusal::NotModerator)
        );
        assert_eq!(m.admit(Actor::Participant(p(1)), p(2)), Ok(()));
        assert_eq!(
            m.admit(Actor::Participant(p(1)), p(2)),
            Err(Refusal::NotWaiting)
        );
        assert_eq!(
            m.admit(Actor::Organizer, p(9)),
            Err(Refusal::NoSuchParticipant)
        );
        // Someone who left cannot be admitted.
        m.leave(p(3));
        assert_eq!(
            m.admit(Actor::Organizer, p(3)),
            Err(Refusal::NoSuchParticipant)
        );
    }

    #[test]
    fn admit_all_lets_everyone_waiting_in_in_arrival_order() {
        let mut m = waiting_room();
        m.arrive(t(0), p(4), WEB, "A", false);
        m.arrive(t(0), p(7), PHONE, "B", false);
        assert_eq!(m.admit_all(Actor::Organizer), Ok(vec![p(4), p(7)]));
        assert!(m.waiting().is_empty());
        assert_eq!(m.present(), vec![p(4), p(7)]);
        assert_eq!(m.admit_all(Actor::Organizer), Ok(vec![]));
    }

    #[test]
    fn a_waiting_moderator_cannot_moderate() {
        let mut m = waiting_room();
        m.arrive(t(0), p(1), WEB, "Org", true);
        m.arrive(t(0), p(2), WEB, "Bob", false);
        assert_eq!(
            m.make_moderator(Actor::Participant(p(1)), p(2)),
            Err(Refusal::StillWaiting)
        );
        m.admit(Actor::Organizer, p(2)).unwrap();
        m.make_moderator(Actor::Participant(p(1)), p(2)).unwrap();
        assert_eq!(m.moderators(), vec![p(1), p(2)]);
        assert_eq!(m.check_moderator(Actor::Participant(p(2))), Ok(()));
    }

    #[test]
    fn hands_are_listed_in_the_order_raised_and_moderators_lower_them() {
        let mut m = Meeting::new(Rules::default());
        m.arrive(t(0), p(1), WEB, "Org", true);
        m.arrive(t(0), p(2), WEB, "Bob", false);
        m.arrive(t(0), p(3), WEB, "Cat", false);
        assert_eq!(m.set_hand(Actor::Participant(p(3)), p(3), true), Ok(true));
        assert_eq!(m.set_hand(Actor::Participant(p(2)), p(2), true), Ok(true));
        // Raising again changes nothing, nor its place.
        assert_eq!(m.set_hand(Actor::Participant(p(3)), p(3), true), Ok(false));
        assert_eq!(m.hands(), vec![p(3), p(2)]);
        // Nobody raises or lowers another's hand unless moderating, and moderators only lower.
        assert_eq!(
            m.set_hand(Actor::Participant(p(2)), p(3), false),
            Err(Refusal::NotModerator)
        );
        assert_eq!(
            m.set_hand(Actor::Participant(p(1)), p(2), true),
            Err(Refusal::NotYourHand)
        );
        assert_eq!(m.set_hand(Actor::Participant(p(1)), p(3), false), Ok(true));
        assert_eq!(m.hands(), vec![p(2)]);
        // Lowered and raised again: at the end of the queue.
        m.set_hand(Actor::Participant(p(3)), p(3), true).unwrap();
        assert_eq!(m.hands(), vec![p(2), p(3)]);
        m.leave(p(2));
        assert_eq!(m.hands(), vec![p(3)]);
    }

    #[test]
    fn waiting_participants_raise_no_hand_and_send_no_chat() {
        let mut m = waiting_room();
        m.arrive(t(0), p(2), WEB, "Bob", false);
        assert_eq!(
            m.set_hand(Actor::Participant(p(2)), p(2), true),
            Err(Refusal::Waiting)
        );
        assert_eq!(m.chat(t(0), 0, p(2), "hello"), Err(ChatRefused::NotIn));
        assert_eq!(m.chat(t(0), 0, p(9), "hello"), Err(ChatRefused::NotIn));
    }

    #[test]
    fn chat_is_kept_in_order_with_the_senders_name_and_time() {
        let mut m = Meeting::new(Rules::default());
        m.arrive(t(0), p(1), WEB, "Ann <b>", false);
        m.arrive(t(0), p(2), WEB, "Bob", false);
        let a = m
            .chat(t(0), 1_700_000_000_000, p(1), "  <script>x</script>  ")
            .unwrap();
        assert_eq!(a.text, "<script>x</script>");
        assert_eq!(a.name, "Ann <b>");
        assert_eq!(a.from, "p1");
        m.chat(t(10), 1_700_000_000_010, p(2), "hi").unwrap();
        let seqs: Vec<u64> = m.history().map(|l| l.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
        assert_eq!(m.chat(t(20), 0, p(2), "   "), Err(ChatRefused::Empty));
    }

    #[test]
    fn long_messages_are_refused_and_counting_stops_at_the_limit() {
        let mut m = Meeting::new(Rules::default());
        m.arrive(t(0), p(1), WEB, "Ann", false);
        let megabyte = "é".repeat(500_000);
        assert_eq!(m.chat(t(0), 0, p(1), &megabyte), Err(ChatRefused::TooLong));
        let exactly = "a".repeat(MAX_CHAT_CHARS);
        assert!(m.chat(t(0), 0, p(1), &exactly).is_ok());
        assert_eq!(m.history().count(), 1);
    }

    #[test]
    fn a_burst_is_allowed_then_one_message_per_second() {
        let mut m = Meeting::new(Rules::default());
        m.arrive(t(0), p(1), WEB, "Ann", false);
        m.arrive(t(0), p(2), WEB, "Bob", false);
        // 100 messages in the same second: the burst passes, the rest is refused.
        let passed = (0..100)
            .filter(|i| m.chat(t(*i), 0, p(1), "spam").is_ok())
            .count();
        assert_eq!(passed, CHAT_BURST as usize);
        // Another participant is not limited by the first one's flood.
        assert!(m.chat(t(100), 0, p(2), "hello").is_ok());
        // A second later, one more.
        assert!(m.chat(t(1000), 0, p(1), "again").is_ok());
        assert_eq!(m.chat(t(1001), 0, p(1), "more"), Err(ChatRefused::TooFast));
        // After a long pause, the whole burst again, not more.
        let passed = (0..10)
            .filter(|i| m.chat(t(60_000 + i), 0, p(1), "x").is_ok())
            .count();
        assert_eq!(passed, CHAT_BURST as usize);
    }

    #[test]
    fn history_keeps_the_latest_lines_only() {
        let mut m = Meeting::new(Rules::default());
        for i in 0..(CHAT_HISTORY as u64 + 10) {
            let id = p(i + 1);
            m.arrive(t(0), id, WEB, "x", false);
            m.chat(t(0), 0, id, "line").unwrap();
        }
        assert_eq!(m.history().count(), CHAT_HISTORY);
        assert_eq!(m.history().next().map(|l| l.seq), Some(11));
    }

    #[test]
    fn one_share_at_a_time_and_moderators_stop_it() {
        let mut m = Meeting::new(Rules::default());
        m.arrive(t(0), p(1), WEB, "Org", true);
        m.arrive(t(0), p(2), WEB, "Bob", false);
        m.arrive(t(0), p(3), WEB, "Cat", false);
        assert_eq!(m.start_sharing(p(2)), Ok(true));
        assert_eq!(m.start_sharing(p(2)), Ok(false));
        assert_eq!(m.start_sharing(p(3)), Err(Refusal::ShareBusy));
        assert_eq!(m.sharer(), Some(p(2)));
        assert_eq!(
            m.stop_sharing(Actor::Participant(p(3)), p(2)),
            Err(Refusal::NotModerator)
        );
        assert_eq!(m.stop_sharing(Actor::Participant(p(1)), p(2)), Ok(()));
        assert_eq!(m.sharer(), None);
        assert_eq!(
            m.stop_sharing(Actor::Participant(p(2)), p(2)),
            Err(Refusal::NotSharing)
        );
        assert_eq!(m.start_sharing(p(3)), Ok(true));
        // The sharer leaving ends the share.
        m.leave(p(3));
        assert_eq!(m.sharer(), None);
    }

    #[test]
    fn refusals_have_documented_codes() {
        assert_eq!(Refusal::NotModerator.code(), "not_moderator");
        assert_eq!(Refusal::NoSuchParticipant.code(), "participant_not_found");
        assert_eq!(ChatRefused::TooLong.code(), "chat_too_long");
        assert_eq!(ChatRefused::TooFast.code(), "chat_rate_limited");
    }
}
