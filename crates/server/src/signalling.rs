//! Signalling over a WebSocket at `/api/v1/rooms/{room}/ws`: versioned JSON messages
//! (`{"v": 1, "type": ...}`), documented in `docs/signalling.md`.
//!
//! The bridge always offers and the browser always answers, so there is no glare. A bad
//! message (not JSON, another version, an unknown type, a bad SDP) is answered with an
//! `error` message and the connection stays open; only "unknown room", "room full" and "room locked" end it.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use pont_types::{ParticipantId, RoomId};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{Instrument as _, debug, info_span};

use crate::http::AppState;
use crate::media::{Action, JoinRefused, PollCommand};
use pont_plane::meeting::{Actor, Rules};
use pont_plane::to_browser::{ToBrowser, VERSION};

/// Longest display name kept (characters).
const MAX_NAME_CHARS: usize = 64;
/// Longest signalling message accepted: an SDP with a few hundred m-lines fits.
const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Bytes read from the socket at a time (larger messages are assembled from several reads).
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// What a browser may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMsg {
    Join {
        name: String,
    },
    Answer {
        sdp: String,
    },
    Mute {
        audio: bool,
        #[serde(default)]
        video: bool,
    },
    Leave,
    Ping,
    Chat {
        text: String,
    },
    Hand {
        raised: bool,
    },
    /// Starts or stops sharing the screen (on the offer's `publish.screen` m-line).
    Share {
        on: bool,
    },
    /// A vote in a poll: indexes into its choices.
    Vote {
        poll_id: u32,
        choices: Vec<u8>,
    },
    /// A moderator's action: on `participant_id`, or on the whole room.
    Moderate {
        action: String,
        #[serde(default)]
        participant_id: Option<String>,
        /// What `poll_open` asks.
        #[serde(default)]
        poll: Option<PollSpec>,
        /// What `poll_close` and `poll_share` are about.
        #[serde(default)]
        poll_id: Option<u32>,
        /// What `dial` calls: `sip:…` or `tel:…`.
        #[serde(default)]
        uri: Option<String>,
    },
}

const KNOWN_TYPES: [&str; 10] = [
    "join", "answer", "mute", "leave", "ping", "chat", "hand", "moderate", "share", "vote",
];

/// A poll as a moderator asks it.
#[derive(Debug, Deserialize)]
struct PollSpec {
    question: String,
    choices: Vec<String>,
    #[serde(default)]
    multiple: bool,
    #[serde(default)]
    anonymous: bool,
}

fn error(code: &'static str, message: impl Into<String>) -> ToBrowser {
    ToBrowser::error(code, message)
}

/// `GET /api/v1/rooms/{room}/ws`: upgrades to the signalling WebSocket.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/ws", tag = "rooms",
    params(("room" = u64, Path, description = "The room number")),
    responses((status = 101, description = "The signalling WebSocket of docs/signalling.md (no token: participants)")))]
pub(crate) async fn ws_handler(
    State(state): State<AppState>,
    Path(room): Path<String>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // Who is signed in on the portal (if anyone): the meeting's organizer moderates.
    let account = state.portal().session(&headers).await.map(|s| s.account);
    // A small read buffer: tungstenite zero-fills its whole read buffer on each read, and the
    // session reads after every message it sends; at 128 KiB that memset was half the
    // bridge's CPU under chat load (docs/benchmarks.md, "Chat fan-out").
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let span = info_span!("ws", room = %room);
            session(state, room, account, socket).instrument(span)
        })
}

/// Whether the session goes on after a message.
enum Next {
    Continue,
    Close,
}

struct Session {
    state: AppState,
    room: String,
    /// The portal account signed in on this browser, if any.
    account: Option<pont_meet::Account>,
    me: Option<ParticipantId>,
    /// The room's organizer (from the store, at the join): whose a recording started here is.
    organizer: Option<pont_meet::OrganizerId>,
    tx: mpsc::UnboundedSender<ToBrowser>,
}

async fn session(
    state: AppState,
    room: String,
    account: Option<pont_meet::Account>,
    mut socket: WebSocket,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<ToBrowser>();
    let mut s = Session {
        state,
        room,
        account,
        me: None,
        organizer: None,
        tx,
    };
    loop {
        tokio::select! {
            msg = socket.recv() => {
                let next = match msg {
                    Some(Ok(Message::Text(text))) => s.handle_text(text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => {
                        let _ = s.tx.send(error("unsupported", "binary messages are not part of the protocol"));
                        Next::Continue
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => Next::Continue,
                };
                if let Next::Close = next {
                    // Deliver what is queued (the error), then close.
                    while let Ok(v) = rx.try_recv() {
                        let _ = socket.send(Message::Text(v.to_json().into())).await;
                    }
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
            }
            out = rx.recv() => match out {
                Some(v) => {
                    if socket.send(Message::Text(v.to_json().into())).await.is_err() {
                        break;
                    }
                    if let ToBrowser::Removed { .. } = v {
                        // The bridge ended this participation: it has left already.
                        s.me = None;
                        let _ = socket.send(Message::Close(None)).await;
                        break;
                    }
                }
                None => break,
            },
        }
    }
    if let Some(id) = s.me {
        debug!(participant = %id, "signalling closed: leaving");
        s.state.media().leave(id);
    }
}

impl Session {
    async fn handle_text(&mut self, text: &str) -> Next {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let _ = self.tx.send(error("malformed_json", e.to_string()));
                return Next::Continue;
            }
        };
        match value.get("v").and_then(Value::as_u64) {
            Some(VERSION) => {}
            _ => {
                let _ = self.tx.send(error(
                    "unsupported_version",
                    format!("this server speaks \"v\": {VERSION}"),
                ));
                return Next::Continue;
            }
        }
        let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
        if !KNOWN_TYPES.contains(&kind) {
            let _ = self.tx.send(error(
                "unknown_type",
                format!("unknown message type {kind:?}"),
            ));
            return Next::Continue;
        }
        let msg: ClientMsg = match serde_json::from_value(value) {
            Ok(m) => m,
            Err(e) => {
                let _ = self.tx.send(error("invalid_message", e.to_string()));
                return Next::Continue;
            }
        };
        match msg {
            ClientMsg::Ping => {
                let _ = self.tx.send(ToBrowser::Pong);
                Next::Continue
            }
            ClientMsg::Join { name } => self.join(name).await,
            ClientMsg::Answer { sdp } => {
                let Some(id) = self.me else {
                    let _ = self.tx.send(error("not_joined", "join first"));
                    return Next::Continue;
                };
                match self.state.media().answer(id, sdp).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        let _ = self.tx.send(error("bad_sdp", e));
                    }
                    Err(e) => {
                        let _ = self.tx.send(error("media_unavailable", e.to_string()));
                    }
                }
                Next::Continue
            }
            ClientMsg::Mute { audio, video } => {
                match self.me {
                    Some(id) => {
                        let _ = self.state.media().mute(id, audio, video).await;
                    }
                    None => {
                        let _ = self.tx.send(error("not_joined", "join first"));
                    }
                }
                Next::Continue
            }
            ClientMsg::Leave => Next::Close,
            ClientMsg::Chat { text } => {
                if let Some(id) = self.joined() {
                    let _ = self.state.media().chat(id, text).await;
                }
                Next::Continue
            }
            ClientMsg::Hand { raised } => {
                if let Some(id) = self.joined() {
                    let _ = self.state.media().hand(id, raised).await;
                }
                Next::Continue
            }
            ClientMsg::Share { on } => {
                if let Some(id) = self.joined() {
                    let _ = self.state.media().share(id, on).await;
                }
                Next::Continue
            }
            ClientMsg::Vote { poll_id, choices } => {
                self.poll(PollCommand::Vote { poll_id, choices }).await;
                Next::Continue
            }
            ClientMsg::Moderate {
                action,
                participant_id,
                uri,
                poll,
                poll_id,
            } => {
                let poll_command = match (action.as_str(), poll, poll_id) {
                    ("poll_open", Some(p), _) => Some(PollCommand::Open {
                        question: p.question,
                        choices: p.choices,
                        multiple: p.multiple,
                        anonymous: p.anonymous,
                    }),
                    ("poll_close", _, Some(id)) => Some(PollCommand::Close(id)),
                    ("poll_share", _, Some(id)) => Some(PollCommand::Share(id)),
                    _ => None,
                };
                if let Some(command) = poll_command {
                    self.poll(command).await;
                } else if action == "dial" {
                    self.dial(uri.as_deref().unwrap_or_default()).await;
                } else if let Some(on) = match action.as_str() {
                    "live_start" => Some(true),
                    "live_stop" => Some(false),
                    _ => None,
                } {
                    self.live(on).await;
                } else if let Some(what) = action
                    .strip_prefix("record_")
                    .and_then(crate::recording::Action::parse)
                {
                    self.record(what).await;
                } else {
                    self.moderate(&action, participant_id.as_deref()).await;
                }
                Next::Continue
            }
        }
    }

    /// This browser's participant id; `None` (and it is told `not_joined`) before `join`.
    fn joined(&self) -> Option<ParticipantId> {
        if self.me.is_none() {
            let _ = self.tx.send(error("not_joined", "join first"));
        }
        self.me
    }

    async fn moderate(&mut self, action: &str, target: Option<&str>) {
        let (Some(me), Ok(room)) = (self.me, self.room.parse::<RoomId>()) else {
            let _ = self.tx.send(error("not_joined", "join first"));
            return;
        };
        let parsed = match target {
            Some(t) => t
                .strip_prefix('p')
                .and_then(|n| n.parse::<u64>().ok())
                .map(ParticipantId)
                .and_then(|p| Action::on(action, p)),
            None => Action::on_room(action),
        };
        let Some(action) = parsed else {
            let _ = self.tx.send(error(
                "invalid_message",
                format!("unknown action {action:?} (or a missing or bad participant_id)"),
            ));
            return;
        };
        match self
            .state
            .media()
            .moderate(room, Actor::Participant(me), action)
            .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(refusal)) => {
                let _ = self.tx.send(error(refusal.code(), refusal.to_string()));
            }
            Err(e) => {
                let _ = self.tx.send(error("media_unavailable", e.to_string()));
            }
        }
    }

    /// A moderator starts, pauses, resumes or stops the room's recording; everyone gets the
    /// new state as `recording`. The recording is the room's organizer's.
    async fn record(&mut self, action: crate::recording::Action) {
        use crate::recording::ControlError;
        let (Some(me), Ok(room)) = (self.me, self.room.parse::<RoomId>()) else {
            let _ = self.tx.send(error("not_joined", "join first"));
            return;
        };
        if !self.authorize(room, me).await {
            return;
        }
        let Some(owner) = self.organizer.or(self.account.as_ref().map(|a| a.id)) else {
            let _ = self.tx.send(error(
                "no_organizer",
                "this room has no organizer to own a recording",
            ));
            return;
        };
        let done = self.state.recordings().control(room, action, owner).await;
        let refusal = match done {
            Ok(_) => return,
            Err(ControlError::WrongState(m)) => error("wrong_state", m),
            Err(ControlError::Media(e)) => error("media_unavailable", e.to_string()),
            Err(ControlError::Internal(m)) => error("internal", m),
        };
        let _ = self.tx.send(refusal);
    }

    /// A moderator starts or stops the room's live stream (`/live/{room}`); everyone gets the
    /// new state as `live`.
    async fn live(&mut self, on: bool) {
        let (Some(me), Ok(room)) = (self.me, self.room.parse::<RoomId>()) else {
            let _ = self.tx.send(error("not_joined", "join first"));
            return;
        };
        if !self.authorize(room, me).await {
            return;
        }
        if let Err(e) = self.state.media().live(room, on).await {
            let _ = self.tx.send(error("media_unavailable", e.to_string()));
        }
    }

    /// A poll command (a vote, or a moderator's); refusals come back as errors.
    async fn poll(&mut self, command: PollCommand) {
        let (Some(me), Ok(room)) = (self.me, self.room.parse::<RoomId>()) else {
            let _ = self.tx.send(error("not_joined", "join first"));
            return;
        };
        match self
            .state
            .media()
            .poll(room, Actor::Participant(me), command)
            .await
        {
            Ok(Ok(_)) => {}
            Ok(Err((code, message))) => {
                let _ = self.tx.send(error(code, message));
            }
            Err(e) => {
                let _ = self.tx.send(error("media_unavailable", e.to_string()));
            }
        }
    }

    /// Whether `me` moderates `room` (said to the browser when not).
    async fn authorize(&mut self, room: RoomId, me: ParticipantId) -> bool {
        match self
            .state
            .media()
            .moderate(room, Actor::Participant(me), Action::Authorize)
            .await
        {
            Ok(Ok(_)) => true,
            Ok(Err(refusal)) => {
                let _ = self.tx.send(error(refusal.code(), refusal.to_string()));
                false
            }
            Err(e) => {
                let _ = self.tx.send(error("media_unavailable", e.to_string()));
                false
            }
        }
    }

    /// A moderator calls a room system or a phone into the room; how the call goes comes as
    /// `dialout` messages (from the SIP task, through the room's shard).
    async fn dial(&mut self, uri: &str) {
        use crate::sip::SipCommand;
        let (Some(me), Ok(room)) = (self.me, self.room.parse::<RoomId>()) else {
            let _ = self.tx.send(error("not_joined", "join first"));
            return;
        };
        if uri.is_empty() || uri.len() > 256 {
            let _ = self.tx.send(error(
                "invalid_uri",
                "uri must be a sip: URI or a tel: number",
            ));
            return;
        }
        if !self.authorize(room, me).await {
            return;
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let placed = self
            .state
            .sip()
            .send(SipCommand::Dial {
                room,
                uri: uri.to_owned(),
                reply,
            })
            .await;
        let result = match placed {
            Ok(()) => answer.await.ok(),
            Err(_) => None,
        };
        match result {
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                let _ = self.tx.send(error(e.code(), e.to_string()));
            }
            None => {
                let _ = self
                    .tx
                    .send(error("sip_unavailable", "the SIP task is not running"));
            }
        }
    }

    async fn join(&mut self, name: String) -> Next {
        if self.me.is_some() {
            let _ = self.tx.send(error("already_joined", "already in the room"));
            return Next::Continue;
        }
        let name: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
        let name = if name.is_empty() {
            "Guest".to_owned()
        } else {
            name
        };
        let Ok(room) = self.room.parse::<RoomId>() else {
            let _ = self
                .tx
                .send(error("unknown_room", format!("no room {}", self.room)));
            return Next::Close;
        };
        let found = self
            .state
            .db(move |s| Ok((s.room(room)?, s.waiting_room(room)?)))
            .await;
        let (stored, waiting_room) = match found {
            Ok((Some(stored), waiting_room)) => (stored, waiting_room),
            Ok((None, _)) => {
                let _ = self
                    .tx
                    .send(error("unknown_room", format!("no room {room}")));
                return Next::Close;
            }
            Err(_) => {
                let _ = self.tx.send(error("internal", "the meeting store failed"));
                return Next::Close;
            }
        };
        // The room's organizer signed in on the portal moderates (so does an admin).
        let moderator = self
            .account
            .as_ref()
            .is_some_and(|a| a.role == pont_meet::Role::Admin || stored.organizer == Some(a.id));
        let rules = Rules { waiting_room };
        match self
            .state
            .media()
            .join(room, name, self.tx.clone(), moderator, rules)
            .await
        {
            Ok(Ok(joined)) => {
                self.me = Some(joined.id);
                self.organizer = stored.organizer;
                Next::Continue
            }
            Ok(Err(JoinRefused::Locked)) => {
                let _ = self.tx.send(error(
                    "room_locked",
                    "the organizer has locked this room: nobody new can join",
                ));
                Next::Close
            }
            Ok(Err(JoinRefused::RoomFull { max })) => {
                let _ = self.tx.send(error(
                    "room_full",
                    format!("the room is full ({max} participants)"),
                ));
                Next::Close
            }
            Err(e) => {
                let _ = self.tx.send(error("media_unavailable", e.to_string()));
                Next::Close
            }
        }
    }
}
