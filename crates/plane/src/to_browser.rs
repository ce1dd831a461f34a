//! What the bridge tells a browser over signalling (`docs/signalling.md`): one typed,
//! versioned enum, serialised in one place ([`ToBrowser::to_json`]), like what it receives
//! (`signalling::ClientMsg`).

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
}

impl Participant {
    pub fn new(p: &ParticipantInfo, video_muted: bool) -> Self {
        Self {
            id: p.id.to_string(),
            kind: p.kind.as_str(),
            display_name: p.display_name.clone(),
            muted: p.muted,
            video_muted,
        }
    }
}

/// One m-line of an offer the bridge sends on, and whose media it carries.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OfferStream {
    pub mid: String,
    pub kind: &'static str,
    pub participant_id: String,
}

/// The m-lines the browser sends its microphone and camera on.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Publish {
    pub audio: Option<String>,
    pub video: Option<String>,
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
                })
                .collect(),
            publish: Publish {
                audio: offer.publish_audio_mid.clone(),
                video: offer.publish_video_mid.clone(),
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
            }],
            None,
        );
        assert_eq!(
            parsed(&joined),
            json!({"v": 1, "type": "joined", "participant_id": "p1", "room": 482_913,
                   "participants": [{"id": "p1", "kind": "web", "display_name": "Alice",
                                     "muted": false, "video_muted": true}],
                   "active_speaker": null})
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
