//! Polls in a meeting (sans-IO): a moderator asks a question with 2 to 9 choices, one or
//! several answers, anonymous or not; everyone in the room votes once (a new vote replaces
//! the voter's last one), browsers from the page and phone callers with the keys 1–9; the
//! moderators see the results live and share them with everyone when they choose.
//!
//! One poll is open at a time per room (the phone keys go to it); closed polls stay with the
//! meeting, in order, for the results and their export.

use std::collections::BTreeMap;

use pont_types::ParticipantId;
use serde::Serialize;

/// Longest question, in characters.
pub const MAX_QUESTION_CHARS: usize = 300;
/// Longest choice, in characters.
pub const MAX_CHOICE_CHARS: usize = 100;
/// Most choices: the keys 1 to 9 of a phone.
pub const MAX_CHOICES: usize = 9;
/// Most polls a meeting keeps.
pub const MAX_POLLS: usize = 100;

/// Why a poll command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PollRefused {
    #[error("the question must be 1 to {MAX_QUESTION_CHARS} characters")]
    BadQuestion,
    #[error("a poll has 2 to {MAX_CHOICES} choices of 1 to {MAX_CHOICE_CHARS} characters each")]
    BadChoices,
    #[error("a poll is already open: close it first")]
    AlreadyOpen,
    #[error("this meeting has had {MAX_POLLS} polls")]
    TooMany,
    #[error("no such poll")]
    NoSuchPoll,
    #[error("the poll is closed")]
    Closed,
    #[error("that is not one of the poll's choices")]
    BadVote,
}

impl PollRefused {
    pub fn code(self) -> &'static str {
        match self {
            Self::BadQuestion => "poll_bad_question",
            Self::BadChoices => "poll_bad_choices",
            Self::AlreadyOpen => "poll_already_open",
            Self::TooMany => "poll_too_many",
            Self::NoSuchPoll => "poll_not_found",
            Self::Closed => "poll_closed",
            Self::BadVote => "poll_bad_vote",
        }
    }
}

/// A poll as it is asked (the same for everyone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PollView {
    pub id: u32,
    pub question: String,
    pub choices: Vec<String>,
    pub multiple: bool,
    pub anonymous: bool,
    /// `open` or `closed`.
    pub state: &'static str,
}

/// One voter's answer, in results that are not anonymous.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ballot {
    pub name: String,
    /// Indexes into the poll's choices, rising.
    pub choices: Vec<u8>,
}

/// How a poll stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PollResults {
    pub poll_id: u32,
    /// Votes per choice, in the choices' order.
    pub counts: Vec<u32>,
    /// How many voted.
    pub voters: u32,
    /// Who voted what; empty for an anonymous poll.
    pub ballots: Vec<Ballot>,
    /// The moderators shared the results with everyone.
    pub shared: bool,
}

#[derive(Debug, Clone)]
struct Poll {
    view: PollView,
    /// Voter → (name when voting, choices).
    votes: BTreeMap<ParticipantId, (String, Vec<u8>)>,
    shared: bool,
}

/// A meeting's polls.
#[derive(Debug, Clone, Default)]
pub struct Polls {
    polls: Vec<Poll>,
}

impl Polls {
    /// Opens a poll; its id. Text is trimmed; empty choices are dropped.
    pub fn open(
        &mut self,
        question: &str,
        choices: &[String],
        multiple: bool,
        anonymous: bool,
    ) -> Result<&PollView, PollRefused> {
        let question = question.trim();
        if question.is_empty() || question.chars().count() > MAX_QUESTION_CHARS {
            return Err(PollRefused::BadQuestion);
        }
        let choices: Vec<String> = choices
            .iter()
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        if !(2..=MAX_CHOICES).contains(&choices.len())
            || choices.iter().any(|c| c.chars().count() > MAX_CHOICE_CHARS)
        {
            return Err(PollRefused::BadChoices);
        }
        if self.current().is_some() {
            return Err(PollRefused::AlreadyOpen);
        }
        if self.polls.len() >= MAX_POLLS {
            return Err(PollRefused::TooMany);
        }
        let id = self.polls.len() as u32 + 1;
        self.polls.push(Poll {
            view: PollView {
                id,
                question: question.to_owned(),
                choices,
                multiple,
                anonymous,
                state: "open",
            },
            votes: BTreeMap::new(),
            shared: false,
        });
        Ok(&self.polls[self.polls.len() - 1].view)
    }

    /// The open poll, if any.
    pub fn current(&self) -> Option<&PollView> {
        self.polls
            .last()
            .map(|p| &p.view)
            .filter(|v| v.state == "open")
    }

    pub fn get(&self, id: u32) -> Option<&PollView> {
        self.poll(id).ok().map(|p| &p.view)
    }

    /// Every poll of the meeting, first asked first.
    pub fn all(&self) -> impl Iterator<Item = &PollView> {
        self.polls.iter().map(|p| &p.view)
    }

    fn poll(&self, id: u32) -> Result<&Poll, PollRefused> {
        let i = (id as usize)
            .checked_sub(1)
            .ok_or(PollRefused::NoSuchPoll)?;
        self.polls.get(i).ok_or(PollRefused::NoSuchPoll)
    }

    fn poll_mut(&mut self, id: u32) -> Result<&mut Poll, PollRefused> {
        let i = (id as usize)
            .checked_sub(1)
            .ok_or(PollRefused::NoSuchPoll)?;
        self.polls.get_mut(i).ok_or(PollRefused::NoSuchPoll)
    }

    /// `voter`'s answer: it replaces the voter's last one. `choices` are indexes into the
    /// poll's choices; one exactly unless the poll takes several. `false` when it changed
    /// nothing (the same answer again).
    pub fn vote(
        &mut self,
        id: u32,
        voter: ParticipantId,
        name: &str,
        choices: &[u8],
    ) -> Result<bool, PollRefused> {
        let poll = self.poll_mut(id)?;
        if poll.view.state != "open" {
            return Err(PollRefused::Closed);
        }
        let mut picked: Vec<u8> = choices.to_vec();
        picked.sort_unstable();
        picked.dedup();
        let n = poll.view.choices.len();
        let count_ok = if poll.view.multiple {
            !picked.is_empty()
        } else {
            picked.len() == 1
        };
        if !count_ok || picked.iter().any(|&c| usize::from(c) >= n) {
            return Err(PollRefused::BadVote);
        }
        let ballot = (name.to_owned(), picked);
        if poll.votes.get(&voter) == Some(&ballot) {
            return Ok(false);
        }
        poll.votes.insert(voter, ballot);
        Ok(true)
    }

    /// A phone caller's key (1–9) on the open poll: that choice alone, or for a poll that
    /// takes several, that choice added to (or, pressed again, taken from) its answer. The
    /// poll's id and whether it changed anything.
    pub fn key(
        &mut self,
        voter: ParticipantId,
        name: &str,
        key: u8,
    ) -> Result<(u32, bool), PollRefused> {
        let view = self.current().ok_or(PollRefused::Closed)?;
        let id = view.id;
        let choice = key.checked_sub(1).ok_or(PollRefused::BadVote)?;
        let choices = if view.multiple {
            let mut now = self
                .poll(id)?
                .votes
                .get(&voter)
                .map(|(_, c)| c.clone())
                .unwrap_or_default();
            match now.iter().position(|&c| c == choice) {
                Some(i) if now.len() > 1 => {
                    now.remove(i);
                }
                Some(_) => {}
                None => now.push(choice),
            }
            now
        } else {
            vec![choice]
        };
        let changed = self.vote(id, voter, name, &choices)?;
        Ok((id, changed))
    }

    /// Closes a poll (no more votes).
    pub fn close(&mut self, id: u32) -> Result<&PollView, PollRefused> {
        let poll = self.poll_mut(id)?;
        poll.view.state = "closed";
        Ok(&poll.view)
    }

    /// Shares (or stops sharing) a poll's results with everyone.
    pub fn share(&mut self, id: u32, shared: bool) -> Result<(), PollRefused> {
        self.poll_mut(id)?.shared = shared;
        Ok(())
    }

    pub fn results(&self, id: u32) -> Result<PollResults, PollRefused> {
        let poll = self.poll(id)?;
        let mut counts = vec![0u32; poll.view.choices.len()];
        for (_, choices) in poll.votes.values() {
            for &c in choices {
                counts[usize::from(c)] += 1;
            }
        }
        let ballots = if poll.view.anonymous {
            Vec::new()
        } else {
            poll.votes
                .values()
                .map(|(name, choices)| Ballot {
                    name: name.clone(),
                    choices: choices.clone(),
                })
                .collect()
        };
        Ok(PollResults {
            poll_id: id,
            counts,
            voters: poll.votes.len() as u32,
            ballots,
            shared: poll.shared,
        })
    }

    /// No poll was asked in this meeting.
    pub fn is_empty(&self) -> bool {
        self.polls.is_empty()
    }

    /// The meeting's polls as CSV (RFC 4180): one line per choice of each poll with its
    /// count, then, for polls that are not anonymous, one line per voter.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("poll,question,kind,choice,votes,voter\r\n");
        for p in &self.polls {
            let Ok(r) = self.results(p.view.id) else {
                continue;
            };
            let q = csv_field(&p.view.question);
            for (i, choice) in p.view.choices.iter().enumerate() {
                out.push_str(&format!(
                    "{},{q},choice,{},{},\r\n",
                    p.view.id,
                    csv_field(choice),
                    r.counts[i]
                ));
            }
            for b in &r.ballots {
                for &c in &b.choices {
                    out.push_str(&format!(
                        "{},{q},ballot,{},,{}\r\n",
                        p.view.id,
                        csv_field(&p.view.choices[usize::from(c)]),
                        csv_field(&b.name)
                    ));
                }
            }
        }
        out
    }
}

/// A CSV field: quoted when it holds a comma, a quote or a line break; a leading `=`, `+`,
/// `-` or `@` is prefixed with `'` so that a spreadsheet does not run it as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_poll_is_asked_voted_once_each_and_closed() {
        let mut polls = Polls::default();
        let id = polls
            .open(" Lunch? ", &strings(&["Yes", " No ", ""]), false, false)
            .unwrap()
            .id;
        assert_eq!(polls.current().unwrap().choices, strings(&["Yes", "No"]));
        let (a, b) = (ParticipantId(1), ParticipantId(2));
        assert_eq!(polls.vote(id, a, "Ana", &[0]), Ok(true));
        assert_eq!(
            polls.vote(id, a, "Ana", &[0]),
            Ok(false),
            "the same vote again"
        );
        assert_eq!(polls.vote(id, a, "Ana", &[1]), Ok(true), "a change of mind");
        assert_eq!(polls.key(b, "+33 1", 1), Ok((id, true)));
        assert_eq!(polls.key(b, "+33 1", 1), Ok((id, false)));
        let r = polls.results(id).unwrap();
        assert_eq!((r.counts, r.voters), (vec![1, 1], 2));
        assert_eq!(r.ballots.len(), 2);
        // Bad votes: none, two in a single-answer poll, out of range, key 0 or 3.
        assert_eq!(polls.vote(id, a, "Ana", &[]), Err(PollRefused::BadVote));
        assert_eq!(polls.vote(id, a, "Ana", &[0, 1]), Err(PollRefused::BadVote));
        assert_eq!(polls.vote(id, a, "Ana", &[2]), Err(PollRefused::BadVote));
        assert_eq!(polls.key(a, "Ana", 0), Err(PollRefused::BadVote));
        assert_eq!(polls.key(a, "Ana", 3), Err(PollRefused::BadVote));
        // One open at a time; closed, no more votes.
        assert_eq!(
            polls
                .open("Again?", &strings(&["a", "b"]), false, false)
                .err(),
            Some(PollRefused::AlreadyOpen)
        );
        polls.close(id).unwrap();
        assert_eq!(polls.vote(id, a, "Ana", &[0]), Err(PollRefused::Closed));
        assert_eq!(polls.key(a, "Ana", 1), Err(PollRefused::Closed));
        assert_eq!(polls.results(id).unwrap().counts, vec![1, 1]);
        assert_eq!(polls.vote(9, a, "Ana", &[0]), Err(PollRefused::NoSuchPoll));
        assert_eq!(polls.vote(0, a, "Ana", &[0]), Err(PollRefused::NoSuchPoll));
    }

    #[test]
    fn several_answers_anonymity_and_bad_polls() {
        let mut polls = Polls::default();
        let id = polls
            .open("Days?", &strings(&["Mon", "Tue", "Wed"]), true, true)
            .unwrap()
            .id;
        let a = ParticipantId(1);
        assert_eq!(polls.vote(id, a, "Ana", &[2, 0, 2]), Ok(true));
        // A phone caller's keys add and take choices; its last choice stays.
        let p = ParticipantId(2);
        polls.key(p, "phone", 1).unwrap();
        polls.key(p, "phone", 2).unwrap();
        polls.key(p, "phone", 1).unwrap();
        polls.key(p, "phone", 2).unwrap();
        let r = polls.results(id).unwrap();
        assert_eq!(r.counts, vec![1, 1, 1]);
        assert!(r.ballots.is_empty(), "anonymous");
        polls.close(id).unwrap();
        for (q, c) in [
            ("", strings(&["a", "b"])),
            (&"q".repeat(MAX_QUESTION_CHARS + 1), strings(&["a", "b"])),
        ] {
            assert_eq!(
                polls.open(q, &c, false, false).err(),
                Some(PollRefused::BadQuestion)
            );
        }
        for c in [
            strings(&["only one"]),
            strings(&["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]),
            vec!["a".into(), "x".repeat(MAX_CHOICE_CHARS + 1)],
        ] {
            assert_eq!(
                polls.open("q", &c, false, false).err(),
                Some(PollRefused::BadChoices)
            );
        }
    }

    #[test]
    fn the_export_is_csv_a_spreadsheet_reads_safely() {
        let mut polls = Polls::default();
        let id = polls
            .open(
                "Dinner, \"where\"?",
                &strings(&["=HYPERLINK(x)", "Chez Léa"]),
                false,
                false,
            )
            .unwrap()
            .id;
        polls.vote(id, ParticipantId(1), "Ana", &[1]).unwrap();
        let csv = polls.to_csv();
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], "poll,question,kind,choice,votes,voter");
        assert_eq!(
            lines[1],
            "1,\"Dinner, \"\"where\"\"?\",choice,'=HYPERLINK(x),0,"
        );
        assert_eq!(lines[2], "1,\"Dinner, \"\"where\"\"?\",choice,Chez Léa,1,");
        assert_eq!(
            lines[3],
            "1,\"Dinner, \"\"where\"\"?\",ballot,Chez Léa,,Ana"
        );
    }
}
