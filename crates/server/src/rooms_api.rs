//! Moderating a live room through the API (`docs/api.md`, "In the meeting"): admit, remove,
//! mute, unmute, make a moderator, lower a hand; admit everyone, mute everyone, end the
//! meeting. Only the room's organizer (or an admin) may.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pont_meet::{Organizer, Role};
use pont_plane::meeting::{Actor, Refusal};
use pont_types::{ParticipantId, RoomId};
use serde_json::{Value, json};

use crate::http::{ApiError, AppState, Authed};
use crate::media::Action;
use crate::openapi::ErrorBody;

/// The room, checked to exist and to be `organizer`'s (or `organizer` an admin). Every route
/// under `/api/v1/rooms/{room}` that an organizer calls goes through this.
pub(crate) async fn own_room(
    state: &AppState,
    organizer: &Organizer,
    room: &str,
) -> Result<RoomId, ApiError> {
    let number: RoomId = room.parse().map_err(|_| ApiError::room_not_found(room))?;
    let id = organizer.id;
    let (stored, account) = state
        .db(move |s| Ok((s.room(number)?, s.account(id)?)))
        .await?;
    let stored = stored.ok_or_else(|| ApiError::room_not_found(room))?;
    let admin = account.is_some_and(|a| a.role == Role::Admin);
    if !admin && stored.organizer != Some(id) {
        // Not told apart from a room that does not exist: room numbers are not for probing.
        return Err(ApiError::room_not_found(room));
    }
    Ok(number)
}

fn refusal(r: Refusal) -> ApiError {
    let status = match r {
        Refusal::NoSuchParticipant => StatusCode::NOT_FOUND,
        Refusal::NotModerator => StatusCode::FORBIDDEN,
        _ => StatusCode::CONFLICT,
    };
    ApiError::new(status, r.code(), r.to_string())
}

async fn run(state: &AppState, room: RoomId, action: Action) -> Result<Json<Value>, ApiError> {
    let done = state
        .media()
        .moderate(room, Actor::Organizer, action)
        .await?
        .map_err(refusal)?;
    let ids: Vec<String> = done.iter().map(ToString::to_string).collect();
    Ok(Json(json!({ "room_number": room.0, "participants": ids })))
}

/// `POST /api/v1/rooms/{room}/participants/{id}` `{"action": …}`.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/participants/{id}", tag = "rooms", security(("bearer" = []), ("session" = [])),
    params(("room" = u64, Path, description = "The room number"), ("id" = String, Path, description = "The participant id (p3)")),
    request_body(content = serde_json::Value, description = "{\"action\": \"admit\"|\"remove\"|\"mute\"|\"unmute\"|\"make_moderator\"|\"lower_hand\"}"),
    responses((status = 200, description = "{room_number, participants: [ids acted on]}", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 403, description = "A cookie-borne change without Origin or X-CSRF-Token (csrf_failed)", body = ErrorBody), (status = 404, description = "No such room of yours (room_not_found) or participant (participant_not_found)", body = ErrorBody), (status = 409, description = "Not possible in the participant's state (not_waiting, still_waiting)", body = ErrorBody), (status = 422, description = "An unknown action (invalid_action)", body = ErrorBody)))]
pub(crate) async fn participant_action(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path((room, id)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let number = own_room(&state, &organizer, &room).await?;
    let Json(body) = body?;
    let target = id
        .strip_prefix('p')
        .and_then(|n| n.parse::<u64>().ok())
        .map(ParticipantId)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "participant_not_found",
                format!("no participant {id:?} (ids look like p3)"),
            )
        })?;
    let name = body.get("action").and_then(Value::as_str).unwrap_or("");
    let action = Action::on(name, target).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_action",
            "action must be admit, remove, mute, unmute, make_moderator or lower_hand",
        )
    })?;
    run(&state, number, action).await
}

/// `POST /api/v1/rooms/{room}/admit_all`.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/admit_all", tag = "rooms", security(("bearer" = []), ("session" = [])),
    params(("room" = u64, Path, description = "The room number")),
    responses((status = 200, description = "{room_number, participants: [ids let in]}", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such room of yours (room_not_found)", body = ErrorBody)))]
pub(crate) async fn admit_all(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path(room): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let number = own_room(&state, &organizer, &room).await?;
    run(&state, number, Action::AdmitAll).await
}

/// `POST /api/v1/rooms/{room}/mute_all`: everyone but the moderators.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/mute_all", tag = "rooms", security(("bearer" = []), ("session" = [])),
    params(("room" = u64, Path, description = "The room number")),
    responses((status = 200, description = "{room_number, participants: [ids muted]}", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such room of yours (room_not_found)", body = ErrorBody)))]
pub(crate) async fn mute_all(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path(room): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let number = own_room(&state, &organizer, &room).await?;
    run(&state, number, Action::MuteAll).await
}

/// `POST /api/v1/rooms/{room}/end`: everyone out (browsers told, calls hung up).
#[utoipa::path(post, path = "/api/v1/rooms/{room}/end", tag = "rooms", security(("bearer" = []), ("session" = [])),
    params(("room" = u64, Path, description = "The room number")),
    responses((status = 200, description = "{room_number, participants: [ids ended]}", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such room of yours (room_not_found)", body = ErrorBody)))]
pub(crate) async fn end(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path(room): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let number = own_room(&state, &organizer, &room).await?;
    run(&state, number, Action::End).await
}

/// `POST /api/v1/rooms/{room}/dial` `{"uri": "sip:…" | "tel:…"}` → 202: the call is placed;
/// once answered it is in the room like any SIP participant (never in the waiting room).
#[utoipa::path(post, path = "/api/v1/rooms/{room}/dial", tag = "rooms", security(("bearer" = []), ("session" = [])),
    params(("room" = u64, Path, description = "The room number")),
    request_body(content = serde_json::Value, description = "{\"uri\": \"sip:room@host:port\" | \"tel:+33123456789\"}"),
    responses((status = 202, description = "{room_number, uri, state: \"dialling\"}", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such room of yours (room_not_found)", body = ErrorBody), (status = 422, description = "Not a sip: URI or tel: number (invalid_uri), or tel: without a [dialout] trunk (no_trunk)", body = ErrorBody), (status = 502, description = "The target cannot be reached or the call not placed (dial_failed)", body = ErrorBody), (status = 503, description = "No RTP ports, or the SIP task is not running", body = ErrorBody)))]
pub(crate) async fn dial(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path(room): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    use crate::sip::{DialError, SipCommand};
    let number = own_room(&state, &organizer, &room).await?;
    let Json(body) = body?;
    let uri = body
        .get("uri")
        .and_then(Value::as_str)
        .filter(|u| u.len() <= 256)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_uri",
                "uri must be a sip: URI or a tel: number",
            )
        })?
        .to_owned();
    let (reply, answer) = tokio::sync::oneshot::channel();
    let unavailable = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "sip_unavailable",
            "the SIP task is not running",
        )
    };
    state
        .sip()
        .send(SipCommand::Dial {
            room: number,
            uri: uri.clone(),
            reply,
        })
        .await
        .map_err(|_| unavailable())?;
    match answer.await.map_err(|_| unavailable())? {
        Ok(_) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "room_number": number.0, "uri": uri, "state": "dialling" })),
        )),
        Err(e) => {
            let status = match e {
                DialError::BadUri(_) | DialError::NoTrunk => StatusCode::UNPROCESSABLE_ENTITY,
                DialError::NoPorts => StatusCode::SERVICE_UNAVAILABLE,
                DialError::Unreachable(_) | DialError::Refused(_) => StatusCode::BAD_GATEWAY,
            };
            Err(ApiError::new(status, e.code(), e.to_string()))
        }
    }
}

/// `GET /api/v1/rooms/{room}/polls`: the polls of the meeting running in the room, each with
/// its results (the ballots too unless anonymous).
#[utoipa::path(get, path = "/api/v1/rooms/{room}/polls", tag = "rooms", security(("bearer" = []), ("session" = [])),
    params(("room" = u64, Path, description = "The room number")),
    responses((status = 200, description = "{room_number, polls: [{id, question, choices, multiple, anonymous, state, results: {counts, voters, ballots, shared}}]}", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such room of yours (room_not_found)", body = ErrorBody)))]
pub(crate) async fn polls(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path(room): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let number = own_room(&state, &organizer, &room).await?;
    let (polls, _) = state.media().polls(number).await?;
    let polls: Vec<Value> = polls
        .into_iter()
        .map(|(view, results)| {
            let mut v = serde_json::to_value(&view).unwrap_or_default();
            v["results"] = serde_json::to_value(&results).unwrap_or_default();
            v
        })
        .collect();
    Ok(Json(json!({ "room_number": number.0, "polls": polls })))
}

/// `GET /api/v1/rooms/{room}/polls.csv`: the same as CSV (RFC 4180), a line per choice with
/// its votes, then a line per ballot of polls that are not anonymous.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/polls.csv", tag = "rooms", security(("bearer" = []), ("session" = [])),
    params(("room" = u64, Path, description = "The room number")),
    responses((status = 200, description = "text/csv: poll,question,kind,choice,votes,voter", body = String), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such room of yours (room_not_found)", body = ErrorBody)))]
pub(crate) async fn polls_csv(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path(room): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    let number = own_room(&state, &organizer, &room).await?;
    let (_, csv) = state.media().polls(number).await?;
    let disposition = format!("attachment; filename=\"polls-{}.csv\"", number.0);
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_owned(),
            ),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        csv,
    )
        .into_response())
}

/// A refused poll command as an API error: 404 for a poll that is not there (or a room nobody
/// is in), 409 for one that does not apply now, 422 for a bad poll.
fn poll_error((code, message): crate::media::PollError) -> ApiError {
    let status = match code {
        "poll_not_found" | "not_in_room" => StatusCode::NOT_FOUND,
        "poll_already_open" | "poll_closed" | "poll_too_many" => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, code, message)
}

/// `POST /api/v1/rooms/{room}/polls` `{"question", "choices", "multiple", "anonymous"}` →
/// 201 `{"id"}`: the poll opens in the running meeting (phone callers hear it announced).
#[utoipa::path(post, path = "/api/v1/rooms/{room}/polls", tag = "rooms", security(("bearer" = []), ("session" = [])),
    params(("room" = u64, Path, description = "The room number")),
    request_body(content = serde_json::Value, description = "{\"question\": string, \"choices\": [2 to 9 strings], \"multiple\": bool, \"anonymous\": bool}"),
    responses((status = 201, description = "{id}", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such room of yours, or nobody in it (room_not_found, not_in_room)", body = ErrorBody), (status = 409, description = "A poll is already open (poll_already_open), or 100 were asked (poll_too_many)", body = ErrorBody), (status = 422, description = "A bad question or choices (poll_bad_question, poll_bad_choices)", body = ErrorBody)))]
pub(crate) async fn open_poll(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path(room): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let number = own_room(&state, &organizer, &room).await?;
    let Json(body) = body?;
    let bad_choices = || {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "poll_bad_choices",
            "choices must be a list of 2 to 9 strings",
        )
    };
    let choices = body
        .get("choices")
        .and_then(Value::as_array)
        .ok_or_else(bad_choices)?
        .iter()
        .map(|c| c.as_str().map(str::to_owned))
        .collect::<Option<Vec<String>>>()
        .ok_or_else(bad_choices)?;
    let command = crate::media::PollCommand::Open {
        question: body
            .get("question")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        choices,
        multiple: body
            .get("multiple")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        anonymous: body
            .get("anonymous")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    let id = state
        .media()
        .poll(number, Actor::Organizer, command)
        .await?
        .map_err(poll_error)?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// The poll `id` of the meeting in `room`, with its results.
async fn find_poll(
    state: &AppState,
    room: RoomId,
    id: &str,
) -> Result<(pont_plane::poll::PollView, pont_plane::poll::PollResults), ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "poll_not_found", "no such poll");
    let id: u32 = id.parse().map_err(|_| not_found())?;
    let (polls, _) = state.media().polls(room).await?;
    polls
        .into_iter()
        .find(|(v, _)| v.id == id)
        .ok_or_else(not_found)
}

/// `GET /api/v1/rooms/{room}/polls/{id}` → `{"question", "choices": [{"text", "votes"}],
/// "open"}` (and the poll's other fields: `id`, `multiple`, `anonymous`, `voters`, `shared`,
/// `ballots` unless anonymous).
#[utoipa::path(get, path = "/api/v1/rooms/{room}/polls/{id}", tag = "rooms", security(("bearer" = []), ("session" = [])),
    params(("room" = u64, Path, description = "The room number"), ("id" = u32, Path, description = "The poll's id")),
    responses((status = 200, description = "{question, choices: [{text, votes}], open, …}", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such room of yours, or no such poll (room_not_found, poll_not_found)", body = ErrorBody)))]
pub(crate) async fn get_poll(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path((room, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let number = own_room(&state, &organizer, &room).await?;
    let (view, results) = find_poll(&state, number, &id).await?;
    let choices: Vec<Value> = view
        .choices
        .iter()
        .zip(&results.counts)
        .map(|(text, votes)| json!({ "text": text, "votes": votes }))
        .collect();
    Ok(Json(json!({
        "id": view.id,
        "question": view.question,
        "choices": choices,
        "open": view.state == "open",
        "multiple": view.multiple,
        "anonymous": view.anonymous,
        "voters": results.voters,
        "shared": results.shared,
        "ballots": results.ballots,
    })))
}

/// `POST /api/v1/rooms/{room}/polls/{id}/close` → 200 `{"id", "open": false}`.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/polls/{id}/close", tag = "rooms", security(("bearer" = []), ("session" = [])),
    params(("room" = u64, Path, description = "The room number"), ("id" = u32, Path, description = "The poll's id")),
    responses((status = 200, description = "{id, open: false}", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such room of yours, or no such poll (room_not_found, poll_not_found)", body = ErrorBody)))]
pub(crate) async fn close_poll(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path((room, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let number = own_room(&state, &organizer, &room).await?;
    let id: u32 = id
        .parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "poll_not_found", "no such poll"))?;
    let id = state
        .media()
        .poll(
            number,
            Actor::Organizer,
            crate::media::PollCommand::Close(id),
        )
        .await?
        .map_err(poll_error)?;
    Ok(Json(json!({ "id": id, "open": false })))
}
