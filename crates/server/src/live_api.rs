//! Live streams over HTTP (`docs/api.md`, "Live streaming"): the organizer starts and stops a
//! room's live stream (`POST /api/v1/rooms/{room}/live`), and viewers play it by WHEP
//! (`POST /whep/{room}` with an SDP offer; `PATCH` for trickle ICE and `DELETE` to end, on
//! the session URL the `Location` header gives), as the live page `/live/{room}` does.
//!
//! The WHEP resource follows RFC 9725 (WHIP) §4 mirrored for playback, as the WHEP draft
//! (draft-ietf-wish-whep) specifies: `application/sdp` in and out, `201 Created` with
//! `Location`, `application/trickle-ice-sdpfrag` patches (`204`; an ICE restart is `422`, not
//! supported), `DELETE` → `200`. No account is needed: a live stream is meant for people
//! outside the meeting, and only exists while its organizer keeps it on.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use pont_types::RoomId;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::http::{ApiError, AppState, Authed};
use crate::media::{LiveQuery, MediaGone, WhepError};
use crate::openapi::ErrorBody;

/// The biggest offer or fragment taken: a browser's offer is 3–6 kB.
const MAX_SDP_BYTES: usize = 64 * 1024;

/// `POST /api/v1/rooms/{room}/live` `{"action": "start"|"stop"}`.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/live", tag = "rooms", security(("bearer" = []), ("session" = [])),
    params(("room" = u64, Path, description = "The room number")),
    request_body(content = serde_json::Value, description = "{\"action\": \"start\"|\"stop\"}"),
    responses((status = 200, description = "{room_number, live, viewers, url}: url is the live page, /live/{room}", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 403, description = "A cookie-borne change without Origin or X-CSRF-Token (csrf_failed)", body = ErrorBody), (status = 404, description = "No such room of yours (room_not_found)", body = ErrorBody), (status = 409, description = "Nobody is in the room: there is no meeting to stream (not_in_room)", body = ErrorBody), (status = 422, description = "action is not start or stop (invalid_action)", body = ErrorBody)))]
pub(crate) async fn live(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path(room): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let number = crate::rooms_api::own_room(&state, &organizer, &room).await?;
    let Json(body) = body?;
    let on = match body.get("action").and_then(Value::as_str) {
        Some("start") => true,
        Some("stop") => false,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_action",
                "action must be start or stop",
            ));
        }
    };
    let viewers = state.media().live(number, on).await?;
    let Some(viewers) = viewers else {
        if !on {
            // Stopping a live stream of an empty room: it is stopped.
            return Ok(Json(live_body(number, false, 0)));
        }
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_in_room",
            "nobody is in this room: a live stream shows a meeting that is on",
        ));
    };
    Ok(Json(live_body(number, on, viewers)))
}

fn live_body(room: RoomId, live: bool, viewers: usize) -> Value {
    json!({
        "room_number": room.0,
        "live": live,
        "viewers": viewers,
        "url": format!("/live/{room}"),
    })
}

/// A WHEP refusal: a status and a plain-text body saying why (the RFC's clients show it).
#[derive(Debug)]
pub(crate) struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            self.message + "\n",
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // A full live stream, or a bridge not running: worth another try soon.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        }
        response
    }
}

impl From<WhepError> for Refusal {
    fn from(e: WhepError) -> Self {
        let status = match &e {
            WhepError::NotLive | WhepError::NoSession => StatusCode::NOT_FOUND,
            WhepError::Full { .. } | WhepError::RoomFull { .. } => StatusCode::SERVICE_UNAVAILABLE,
            WhepError::Locked => StatusCode::FORBIDDEN,
            WhepError::Offer(pont_webrtc::WebError::NoUsableCodec) | WhepError::IceRestart => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            WhepError::Offer(_) => StatusCode::BAD_REQUEST,
        };
        Self::new(status, e.to_string())
    }
}

impl From<MediaGone> for Refusal {
    fn from(e: MediaGone) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

/// The room of a WHEP URL; a number that is no room is simply not live.
fn room_of(room: &str) -> Result<RoomId, Refusal> {
    room.parse::<RoomId>()
        .map_err(|_| WhepError::NotLive.into())
}

/// Refuses a body that is not `want` (parameters such as `charset` allowed).
fn expect_type(headers: &HeaderMap, want: &str) -> Result<(), Refusal> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    match given {
        Some(t) if t.eq_ignore_ascii_case(want) => Ok(()),
        _ => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("this request is sent as Content-Type: {want}"),
        )),
    }
}

/// The body as text: UTF-8, at most [`MAX_SDP_BYTES`].
fn sdp_text(body: &Bytes) -> Result<String, Refusal> {
    if body.len() > MAX_SDP_BYTES {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("an SDP body is at most {MAX_SDP_BYTES} bytes"),
        ));
    }
    std::str::from_utf8(body)
        .map(str::to_owned)
        .map_err(|_| Refusal::new(StatusCode::BAD_REQUEST, "the SDP is not UTF-8"))
}

async fn ask<T>(
    state: &AppState,
    make: impl FnOnce(oneshot::Sender<T>) -> LiveQuery,
) -> Result<T, Refusal> {
    let (reply, answer) = oneshot::channel();
    state.media().whep(make(reply)).await?;
    answer.await.map_err(|_| MediaGone.into())
}

/// `POST /whep/{room}`: a viewer's SDP offer → `201` with the answer and the session's URL.
pub(crate) async fn offer(
    State(state): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let room = room_of(&room)?;
    expect_type(&headers, "application/sdp")?;
    let sdp = sdp_text(&body)?;
    let session = ask(&state, |reply| LiveQuery::Offer { room, sdp, reply }).await??;
    Ok(created(
        format!("/whep/{room}/{}", session.session),
        session.answer,
    ))
}

/// `PATCH /whep/{room}/{session}`: a trickle ICE fragment (RFC 8840) → `204`.
pub(crate) async fn patch(
    State(state): State<AppState>,
    Path((room, session)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, Refusal> {
    let room = room_of(&room)?;
    expect_type(&headers, "application/trickle-ice-sdpfrag")?;
    let fragment = sdp_text(&body)?;
    ask(&state, |reply| LiveQuery::Trickle {
        room,
        session,
        fragment,
        reply,
    })
    .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /whep/{room}/{session}`: the viewer is done → `200`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path((room, session)): Path<(String, String)>,
) -> Result<StatusCode, Refusal> {
    let room = room_of(&room)?;
    let found = ask(&state, |reply| LiveQuery::End {
        room,
        session,
        reply,
    })
    .await?;
    if found {
        Ok(StatusCode::OK)
    } else {
        Err(WhepError::NoSession.into())
    }
}

/// `POST /whip/{room}[?name=]`: a WHIP client's SDP offer (RFC 9725), with the room's
/// organizer's token as `Authorization: Bearer`: it publishes into the room as a participant
/// (`name`, default "WHIP") → `201` with the answer and the session's URL.
pub(crate) async fn publish(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path(room): Path<String>,
    Query(query): Query<WhipQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let room = crate::rooms_api::own_room(&state, &organizer, &room)
        .await
        .map_err(IntoResponse::into_response)?;
    let publish = async {
        expect_type(&headers, "application/sdp")?;
        let sdp = sdp_text(&body)?;
        let name = query
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map_or_else(|| "WHIP".to_owned(), |n| n.chars().take(64).collect());
        let session = ask(&state, |reply| LiveQuery::Publish {
            room,
            name,
            sdp,
            reply,
        })
        .await??;
        Ok::<_, Refusal>(created(
            format!("/whip/{room}/{}", session.session),
            session.answer,
        ))
    };
    publish.await.map_err(IntoResponse::into_response)
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct WhipQuery {
    name: Option<String>,
}

/// `DELETE /whip/{room}/{session}` with the organizer's token: the publisher leaves → `200`.
pub(crate) async fn unpublish(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path((room, session)): Path<(String, String)>,
) -> Result<StatusCode, Response> {
    let room = crate::rooms_api::own_room(&state, &organizer, &room)
        .await
        .map_err(IntoResponse::into_response)?;
    let found = ask(&state, |reply| LiveQuery::Unpublish {
        room,
        session,
        reply,
    })
    .await
    .map_err(IntoResponse::into_response)?;
    if found {
        Ok(StatusCode::OK)
    } else {
        Err(Refusal::new(StatusCode::NOT_FOUND, "no such publishing session").into_response())
    }
}

/// `201 Created` with an SDP answer and the session's URL.
fn created(location: String, answer: String) -> Response {
    (
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/sdp".to_owned()),
            (header::LOCATION, location),
        ],
        answer,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_matched_without_their_parameters() {
        let mut h = HeaderMap::new();
        assert!(expect_type(&h, "application/sdp").is_err());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/SDP; charset=utf-8"),
        );
        assert!(expect_type(&h, "application/sdp").is_ok());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let refused = expect_type(&h, "application/sdp").unwrap_err();
        assert_eq!(refused.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn refusals_have_the_statuses_the_rfc_asks_for() {
        let status = |e: WhepError| Refusal::from(e).into_response().status();
        assert_eq!(status(WhepError::NotLive), StatusCode::NOT_FOUND);
        assert_eq!(status(WhepError::NoSession), StatusCode::NOT_FOUND);
        let full = Refusal::from(WhepError::Full { max: 3 }).into_response();
        assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(full.headers().contains_key(header::RETRY_AFTER));
        assert_eq!(
            status(WhepError::IceRestart),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(WhepError::Offer(pont_webrtc::WebError::NoUsableCodec)),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(WhepError::Offer(pont_webrtc::WebError::BadSdp("x".into()))),
            StatusCode::BAD_REQUEST
        );
    }
}
