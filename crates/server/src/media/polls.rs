//! The shard's side of polls: [`pont_plane::poll::Polls`] (in the room's `Meeting`) decides;
//! this module tells the browsers, announces a poll to phone callers (who vote with the keys
//! 1–9 through their in-call IVR) and gives the API its view.

use pont_ivr::Prompt;
use pont_plane::meeting::Actor;
use pont_plane::poll::{PollRefused, PollResults, PollView};
use pont_plane::to_browser::ToBrowser;
use pont_types::{ParticipantId, RoomId};
use tokio::sync::oneshot;
use tracing::{debug, info};

use super::Task;

/// A poll command, from a page's signalling.
#[derive(Debug, Clone)]
pub(crate) enum PollCommand {
    Open {
        question: String,
        choices: Vec<String>,
        multiple: bool,
        anonymous: bool,
    },
    Close(u32),
    /// Shares the results with everyone.
    Share(u32),
    Vote {
        poll_id: u32,
        choices: Vec<u8>,
    },
}

/// Why a poll command was refused: an error code and its message.
pub(crate) type PollError = (&'static str, String);

/// A poll command and where its outcome goes.
#[derive(Debug)]
pub(crate) struct PollQuery {
    pub(crate) room: RoomId,
    pub(crate) actor: Actor,
    pub(crate) command: PollCommand,
    /// The poll the command was about (a new one's id for `Open`).
    pub(crate) reply: oneshot::Sender<Result<u32, PollError>>,
}

/// A room's polls as the API shows them: each poll with its results.
pub(crate) type PollsSnapshot = Vec<(PollView, PollResults)>;

fn refused(e: PollRefused) -> PollError {
    (e.code(), e.to_string())
}

impl Task {
    pub(super) fn poll_command(
        &mut self,
        room: RoomId,
        actor: Actor,
        command: PollCommand,
    ) -> Result<u32, PollError> {
        let meeting = self
            .meetings
            .get_mut(&room)
            .ok_or(("not_in_room", "nobody is in this room".to_owned()))?;
        let is_moderator = meeting.check_moderator(actor);
        let moderator =
            |r: Result<(), pont_plane::meeting::Refusal>| r.map_err(|e| (e.code(), e.to_string()));
        match command {
            PollCommand::Open {
                question,
                choices,
                multiple,
                anonymous,
            } => {
                moderator(is_moderator)?;
                let view = meeting
                    .polls
                    .open(&question, &choices, multiple, anonymous)
                    .map_err(refused)?
                    .clone();
                info!(%room, poll = view.id, choices = view.choices.len(), "poll opened");
                self.broadcast(room, &ToBrowser::Poll { poll: view.clone() });
                self.tell_poll_results(room, view.id);
                if let Some(prompt) = Prompt::poll(view.choices.len()) {
                    self.announce_to_phones(room, prompt);
                }
                Ok(view.id)
            }
            PollCommand::Close(id) => {
                moderator(is_moderator)?;
                let view = meeting.polls.close(id).map_err(refused)?.clone();
                info!(%room, poll = id, "poll closed");
                self.broadcast(room, &ToBrowser::Poll { poll: view });
                self.tell_poll_results(room, id);
                self.announce_to_phones(room, Prompt::PollClosed);
                Ok(id)
            }
            PollCommand::Share(id) => {
                moderator(is_moderator)?;
                meeting.polls.share(id, true).map_err(refused)?;
                self.tell_poll_results(room, id);
                Ok(id)
            }
            PollCommand::Vote { poll_id, choices } => {
                let Actor::Participant(voter) = actor else {
                    return Err(refused(PollRefused::BadVote));
                };
                let name = meeting
                    .member(voter)
                    .filter(|_| meeting.is_in(voter))
                    .map(|m| m.name.clone())
                    .ok_or(("not_in_room", "vote from the room".to_owned()))?;
                if meeting
                    .polls
                    .vote(poll_id, voter, &name, &choices)
                    .map_err(refused)?
                {
                    debug!(%room, poll = poll_id, participant = %voter, "vote");
                    self.tell_poll_results(room, poll_id);
                }
                Ok(poll_id)
            }
        }
    }

    /// A phone caller's key in the call: its vote in the room's open poll, if there is one
    /// (a key with no poll open, or outside its choices, is ignored, and counted in the log).
    pub(super) fn phone_key(&mut self, id: ParticipantId, key: u8) {
        let Some(room) = self.sips.get(&id).map(|s| s.room) else {
            return;
        };
        let Some(meeting) = self.meetings.get_mut(&room) else {
            return;
        };
        let Some(name) = meeting.member(id).map(|m| m.name.clone()) else {
            return;
        };
        match meeting.polls.key(id, &name, key) {
            Ok((poll, changed)) => {
                debug!(%room, poll, participant = %id, key, "vote by phone");
                let ts = self.clock.now();
                if let Some(ivr) = self.sips.get_mut(&id).and_then(|s| s.ivr.as_mut()) {
                    ivr.call.announce(ts, Prompt::Voted);
                }
                if changed {
                    self.tell_poll_results(room, poll);
                }
            }
            Err(e) => debug!(%room, participant = %id, key, reason = e.code(), "key ignored"),
        }
    }

    /// A poll's results: to the moderators, or to everyone once shared.
    fn tell_poll_results(&self, room: RoomId, id: u32) {
        let Some(results) = self
            .meetings
            .get(&room)
            .and_then(|m| m.polls.results(id).ok())
        else {
            return;
        };
        let shared = results.shared;
        let msg = ToBrowser::PollResults { results };
        if shared {
            self.broadcast(room, &msg);
        } else {
            self.tell_moderators(room, &msg);
        }
    }

    /// Says `prompt` to every phone caller in the room (those with an in-call IVR), over the
    /// mix.
    fn announce_to_phones(&mut self, room: RoomId, prompt: Prompt) {
        let ts = self.clock.now();
        for s in self.sips.values_mut() {
            if s.room == room
                && let Some(ivr) = s.ivr.as_mut()
            {
                ivr.call.announce(ts, prompt);
            }
        }
    }

    /// The room's polls with their results (for the API and its CSV export).
    pub(super) fn polls_snapshot(&self, room: RoomId) -> (PollsSnapshot, String) {
        let Some(meeting) = self.meetings.get(&room) else {
            return (Vec::new(), pont_plane::poll::Polls::default().to_csv());
        };
        let polls = meeting
            .polls
            .all()
            .filter_map(|v| Some((v.clone(), meeting.polls.results(v.id).ok()?)))
            .collect();
        (polls, meeting.polls.to_csv())
    }
}
