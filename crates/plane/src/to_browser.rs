//! What the bridge tells a browser over signalling (`docs/signalling.md`): one typed,
//! versioned enum, serialised in one place ([`ToBrowser::to_json`]), like what it receives
//! (`signalling::ClientMsg`).

use crate::meeting::{ChatLine, Member, Role};
use pont_media::{MediaKind, ParticipantInfo};
use pont_types::{ParticipantId, RoomId};
use serde::Serialize;

/// The protocol version of every message.
pub const VERSION: u64 = 1;

/// A participant as browsers see it (the roster).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Participant {
    pub id: String,
    /// `web`, `sip` or `pstn`.
    pub kind: &'static str,
    pub display_name: String,
    pub muted: bool,
    pub video_muted: bool,
    /// `moderator` or `participant`.
    pub role: &'static str,
    /// The hand is raised (the order is in [`ToBrowser::Hands`]).
    pub hand: bool,
    /// Sharing their screen.
    pub sharing: bool,
}

impl Participant {
    pub fn new(p: &ParticipantInfo, video_muted: bool, member: Option<&Member>) -> Self {
        Self {
            id: p.id.to_string(),
            kind: p.kind.as_str(),
            display_name: p.display_name.clone(),
            muted: p.muted,
            video_muted,
            role: member.map_or(Role::Participant, |m| m.role).as_str(),
            hand: member.is_some_and(Member::hand_raised),
            sharing: member.is_some_and(|m| m.sharing),
        }
    }
}

/// Someone in the waiting room, as moderators see them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Waiter {
    pub id: String,
    pub kind: &'static str,
    /// A browser's name, a room system's display name or a caller's number.
    pub display_name: String,
}

/// Why the bridge ended someone's participation.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    /// A moderator removed them from the room.
    Removed,
    /// A moderator turned them away from the waiting room.
    TurnedAway,
    /// A moderator ended the meeting for everyone.
    Ended,
}

/// One m-line of an offer the bridge sends on, and whose media it carries.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OfferStream {
    pub mid: String,
    pub kind: &'static str,
    pub participant_id: String,
    /// `microphone`, `camera` or `screen` (the publisher's shared screen).
    pub source: &'static str,
}

/// The m-lines the browser sends its microphone and camera on.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Publish {
    pub audio: Option<String>,
    pub video: Option<String>,
    /// The m-line for a shared screen: the browser sends on it only while it shares.
    pub screen: Option<String>,
}

/// A message to a browser.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToBrowser {
    /// The join went through: who is there and who speaks.
    Joined {
        participant_id: String,
        room: u64,
        participants: Vec<Participant>,
        active_speaker: Option<String>,
    },
    /// A new SDP offer; the browser answers it.
    Offer {
        sdp: String,
        streams: Vec<OfferStream>,
        publish: Publish,
    },
    /// `null` when the participant left again before the message was made.
    ParticipantJoined {
        participant: Option<Participant>,
    },
    ParticipantLeft {
        participant_id: String,
    },
    Muted {
        participant_id: String,
        audio: bool,
        video: bool,
        /// A moderator did it (the muted browser turns its microphone off and says so).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        by_moderator: bool,
    },
    /// A moderator asks this browser to turn its microphone back on (it is never done for
    /// them).
    UnmuteRequested,
    /// This browser waits in the room's waiting room until a moderator lets it in; `joined`
    /// follows then.
    Waiting {
        participant_id: String,
        room: u64,
    },
    /// The waiting room changed (moderators only): everyone in it, longest waiting first.
    WaitingRoom {
        waiting: Vec<Waiter>,
    },
    /// A chat message (also each line of `chat_history`).
    Chat {
        #[serde(flatten)]
        line: ChatLine,
    },
    /// The chat so far, sent after `joined`.
    ChatHistory {
        messages: Vec<ChatLine>,
    },
    /// Raised hands changed: the participants with a raised hand, first raised first.
    Hands {
        participant_ids: Vec<String>,
    },
    /// Someone's role changed (`moderator`).
    Role {
        participant_id: String,
        role: &'static str,
    },
    /// Someone started or stopped sharing their screen.
    Sharing {
        participant_id: String,
        sharing: bool,
    },
    /// A moderator stopped this browser's screen share: it stops sending it.
    ShareStopped,
    /// The bridge ended this browser's participation; the socket closes after this.
    Removed {
        reason: Removal,
    },
    /// A poll was opened or closed (to everyone), and after `joined` the room's last poll.
    Poll {
        poll: crate::poll::PollView,
    },
    /// A poll's results: live to the moderators, to everyone once a moderator shares them.
    PollResults {
        #[serde(flatten)]
        results: crate::poll::PollResults,
    },
    /// The room was locked (nobody new gets in) or unlocked; also sent after `joined` to a
    /// browser let into a locked room.
    Locked {
        locked: bool,
    },
    /// The room's live page was opened or closed, or its count of viewers changed; also sent
    /// after `joined` while it is open. Everyone is told: the meeting is broadcast.
    Live {
        live: bool,
        viewers: usize,
    },
    /// A call a moderator placed (moderators only): `dialling`, `ringing`, `answered` (it is
    /// in the room now), or `failed` with the SIP status code when there is one.
    Dialout {
        call: String,
        target: String,
        state: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<u16>,
    },
    /// The active speaker changed (`null`: nobody).
    Speaker {
        participant_id: Option<String>,
    },
    /// The room's recording state (`recording`, `paused`, `off`), and why it went off if it
    /// did (`storage_full`, `storage_error`).
    Recording {
        state: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'static str>,
    },
    Error {
        code: &'static str,
        message: String,
    },
    Pong,
}

impl ToBrowser {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
        }
    }

    /// The media connection of a browser ended (ICE/DTLS closed, or its shard stopped).
    pub fn connection_lost() -> Self {
        Self::error("connection_lost", "the media connection ended")
    }

    pub fn joined(
        id: ParticipantId,
        room: RoomId,
        participants: Vec<Participant>,
        speaker: Option<ParticipantId>,
    ) -> Self {
        Self::Joined {
            participant_id: id.to_string(),
            room: room.0,
            participants,
            active_speaker: speaker.map(|p| p.to_string()),
        }
    }

    pub fn offer(offer: &pont_webrtc::Offer) -> Self {
        Self::Offer {
            sdp: offer.sdp.clone(),
            streams: offer
                .lines
                .iter()
                .map(|l| OfferStream {
                    mid: l.mid.clone(),
                    kind: match l.kind {
                        MediaKind::Audio => "audio",
                        MediaKind::Video => "video",
                    },
                    participant_id: l.publisher.to_string(),
                    source: match (l.kind, l.screen) {
                        (MediaKind::Audio, _) => "microphone",
                        (MediaKind::Video, false) => "camera",
                        (MediaKind::Video, true) => "screen",
                    },
                })
                .collect(),
            publish: Publish {
                audio: offer.publish_audio_mid.clone(),
                video: offer.publish_video_mid.clone(),
                screen: offer.publish_screen_mid.clone(),
            },
        }
    }

    pub fn left(id: ParticipantId) -> Self {
        Self::ParticipantLeft {
            participant_id: id.to_string(),
        }
    }

    pub fn muted(id: ParticipantId, audio: bool, video: bool) -> Self {
        Self::Muted {
            participant_id: id.to_string(),
            audio,
            video,
            by_moderator: false,
        }
    }

    pub fn hands(ids: &[ParticipantId]) -> Self {
        Self::Hands {
            participant_ids: ids.iter().map(ToString::to_string).collect(),
        }
    }

    pub fn speaker(speaker: Option<ParticipantId>) -> Self {
        Self::Speaker {
            participant_id: speaker.map(|p| p.to_string()),
        }
    }

    /// The one serialisation: the message's fields, its `type`, and `"v": 1`.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Versioned<'a> {
            v: u64,
            #[serde(flatten)]
            msg: &'a ToBrowser,
        }
        serde_json::to_string(&Versioned {
            v: VERSION,
            msg: self,
        })
        // Serialising these plain structs cannot fail; say so rather than send nothing.
        .unwrap_or_else(|e| {
            format!(r#"{{"v":{VERSION},"type":"error","code":"internal","message":"{e}"}}"#)
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn parsed(m: &ToBrowser) -> Value {
        serde_json::from_str(&m.to_json()).unwrap()
    }

    #[test]
    fn every_message_carries_its_version_and_type_as_documented() {
        assert_eq!(
            parsed(&ToBrowser::speaker(Some(ParticipantId(2)))),
            json!({"v": 1, "type": "speaker", "participant_id": "p2"})
        );
        assert_eq!(
            parsed(&ToBrowser::speaker(None)),
            json!({"v": 1, "type": "speaker", "participant_id": null})
        );
        assert_eq!(
            parsed(&ToBrowser::muted(ParticipantId(3), true, false)),
            json!({"v": 1, "type": "muted", "participant_id": "p3", "audio": true, "video": false})
        );
        assert_eq!(
            parsed(&ToBrowser::Recording {
                state: "off",
                reason: Some("storage_full")
            }),
            json!({"v": 1, "type": "recording", "state": "off", "reason": "storage_full"})
        );
        assert_eq!(
            parsed(&ToBrowser::Recording {
                state: "recording",
                reason: None
            }),
            json!({"v": 1, "type": "recording", "state": "recording"})
        );
        assert_eq!(
            parsed(&ToBrowser::connection_lost()),
            json!({"v": 1, "type": "error", "code": "connection_lost",
                   "message": "the media connection ended"})
        );
        assert_eq!(parsed(&ToBrowser::Pong), json!({"v": 1, "type": "pong"}));
        assert_eq!(
            parsed(&ToBrowser::Locked { locked: true }),
            json!({"v": 1, "type": "locked", "locked": true})
        );
        assert_eq!(
            parsed(&ToBrowser::Live {
                live: true,
                viewers: 3
            }),
            json!({"v": 1, "type": "live", "live": true, "viewers": 3})
        );
        assert_eq!(
            parsed(&ToBrowser::Dialout {
                call: "c4".into(),
                target: "sip:room@192.0.2.1".into(),
                state: "failed",
                code: Some(486),
            }),
            json!({"v": 1, "type": "dialout", "call": "c4", "target": "sip:room@192.0.2.1",
                   "state": "failed", "code": 486})
        );
        assert_eq!(
            parsed(&ToBrowser::ParticipantJoined { participant: None }),
            json!({"v": 1, "type": "participant_joined", "participant": null})
        );
        let joined = ToBrowser::joined(
            ParticipantId(1),
            RoomId(482_913),
            vec![Participant {
                id: "p1".into(),
                kind: "web",
                display_name: "Alice".into(),
                muted: false,
                video_muted: true,
                role: "moderator",
                hand: false,
                sharing: false,
            }],
            None,
        );
        assert_eq!(
            parsed(&joined),
            json!({"v": 1, "type": "joined", "participant_id": "p1", "room": 482_913,
                   "participants": [{"id": "p1", "kind": "web", "display_name": "Alice",
                                     "muted": false, "video_muted": true,
                                     "role": "moderator", "hand": false, "sharing": false}],
                   "active_speaker": null})
        );
    }

    #[test]
    fn in_meeting_messages_are_as_documented() {
        let line = ChatLine {
            seq: 3,
            from: "p2".into(),
            name: "Bob".into(),
            text: "<b>hi</b>".into(),
            at: 1_700_000_000_000,
        };
        assert_eq!(
            parsed(&ToBrowser::Chat { line: line.clone() }),
            json!({"v": 1, "type": "chat", "seq": 3, "from": "p2", "name": "Bob",
                   "text": "<b>hi</b>", "at": 1_700_000_000_000_i64})
        );
        assert_eq!(
            parsed(&ToBrowser::ChatHistory {
                messages: vec![line]
            })["messages"][0]["seq"],
            json!(3)
        );
        assert_eq!(
            parsed(&ToBrowser::hands(&[ParticipantId(4), ParticipantId(2)])),
            json!({"v": 1, "type": "hands", "participant_ids": ["p4", "p2"]})
        );
        assert_eq!(
            parsed(&ToBrowser::Removed {
                reason: Removal::TurnedAway
            }),
            json!({"v": 1, "type": "removed", "reason": "turned_away"})
        );
        assert_eq!(
            parsed(&ToBrowser::Muted {
                participant_id: "p2".into(),
                audio: true,
                video: false,
                by_moderator: true
            }),
            json!({"v": 1, "type": "muted", "participant_id": "p2", "audio": true,
                   "video": false, "by_moderator": true})
        );
        assert_eq!(
            parsed(&ToBrowser::WaitingRoom {
                waiting: vec![Waiter {
                    id: "p5".into(),
                    kind: "pstn",
                    display_name: "+33 1 23".into()
                }]
            }),
            json!({"v": 1, "type": "waiting_room",
                   "waiting": [{"id": "p5", "kind": "pstn", "display_name": "+33 1 23"}]})
        );
    }

    #[test]
    fn names_are_escaped_by_the_serialiser() {
        let m = ToBrowser::error("invalid_message", "a \"quoted\" </script> name\n");
        assert_eq!(
            parsed(&m)["message"],
            json!("a \"quoted\" </script> name\n")
        );
    }
}
