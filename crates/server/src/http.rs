//! HTTP: health, metrics, the organizer API under `/api/v1`, sign-in and the minimal portal.
//!
//! Every error is JSON, `{"error": {"code": "...", "message": "..."}}`, with a 4xx/5xx status;
//! `docs/api.md` lists the codes.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, OriginalUri, Path, Query, Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pont_meet::{MeetError, Meeting, NewMeeting, Organizer, Store};
use pont_types::RoomId;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{Instrument as _, debug, error, info_span};

use crate::config::DialinConfig;
use crate::media::{MediaGone, MediaHandle};
use crate::metrics;
use crate::recording::Recordings;
use crate::recordings_api;

/// The cookie `/signin` sets; the API accepts it in place of the bearer header.
pub(crate) const TOKEN_COOKIE: &str = "pont_token";

/// Longest meeting subject accepted.
const MAX_SUBJECT_CHARS: usize = 200;

/// How long `/healthz` waits for the media task before calling it unhealthy.
const HEALTH_WAIT: Duration = Duration::from_secs(2);

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Mutex<Store>,
    media: MediaHandle,
    /// Base of web links, without a trailing slash: `http://127.0.0.1:8080`.
    public_url: String,
    /// Host (and `:port` unless 5060) of SIP URIs: `sip:<room>@<sip_host>`.
    sip_host: String,
    dialin: DialinConfig,
    recordings: Recordings,
}

impl AppState {
    pub(crate) fn new(
        store: Store,
        media: MediaHandle,
        public_url: String,
        sip_host: String,
        dialin: DialinConfig,
        recordings: Recordings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: Mutex::new(store),
                media,
                public_url,
                sip_host,
                dialin,
                recordings,
            }),
        }
    }

    pub(crate) fn recordings(&self) -> &Recordings {
        &self.inner.recordings
    }

    pub(crate) fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    pub(crate) fn media(&self) -> &MediaHandle {
        &self.inner.media
    }

    /// Whether the meet store knows this room number.
    pub(crate) async fn room_exists(&self, room: RoomId) -> Result<bool, ApiError> {
        Ok(self.db(move |s| s.room(room)).await?.is_some())
    }

    /// Runs a store operation off the async threads (SQLite blocks).
    async fn db<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut Store) -> Result<T, MeetError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves the store usable: SQLite's transactions
            // roll back on drop, so there is no half-written state to protect.
            let mut store = state
                .inner
                .store
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            op(&mut store)
        })
        .await
        .map_err(|e| ApiError::internal(format!("store task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("store: {e}")))
    }
}

pub(crate) fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/meetings/instant", post(create_instant_meeting))
        .route("/rooms/{room}", get(get_room))
        .route("/rooms/{room}/ws", get(crate::signalling::ws_handler))
        .route("/rooms/{room}/recording", post(recordings_api::control))
        .route("/rooms/{room}/lock", post(lock_room))
        .route("/recordings", get(recordings_api::list))
        .route(
            "/recordings/{id}",
            get(recordings_api::get_one).patch(recordings_api::patch),
        )
        .route("/recordings/{id}/download", get(recordings_api::download))
        .fallback(not_found);
    Router::new()
        .route("/", get(crate::web::index))
        .route("/join", get(join))
        .route("/r/{room}", get(room_page))
        .route("/assets/{file}", get(crate::web::asset))
        .route("/signin", get(signin))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_handler))
        .nest("/api/v1", api)
        .fallback(not_found)
        .layer(middleware::from_fn(json_method_not_allowed))
        .layer(middleware::from_fn(trace_request))
        .with_state(state)
}

// ---- errors ----

/// An API error: its status and the JSON body `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(crate) fn room_not_found(room: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "room_not_found",
            format!("no room {room}"),
        )
    }

    pub(crate) fn internal(detail: String) -> Self {
        // The detail goes to the log, not to the client.
        error!(%detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl From<MediaGone> for ApiError {
    fn from(e: MediaGone) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "media_unavailable",
            e.to_string(),
        )
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match &rejection {
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            JsonRejection::JsonSyntaxError(_) => "malformed_json",
            JsonRejection::JsonDataError(_) => "invalid_body",
            _ => "bad_request",
        };
        Self::new(rejection.status(), code, rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": { "code": self.code, "message": self.message } }));
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: tell the client which scheme to use.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"pont\""),
            );
        }
        response
    }
}

async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such endpoint: {method} {}", uri.path()),
    )
}

/// axum answers a known path with the wrong method by an empty 405 (with `Allow`); give it the
/// JSON error body too, keeping the headers.
async fn json_method_not_allowed(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let error = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {path}"),
    )
    .into_response();
    let (error_parts, body) = error.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        error_parts.headers[header::CONTENT_TYPE].clone(),
    );
    Response::from_parts(parts, body)
}

/// One span per request; the status is logged when the response is ready.
async fn trace_request(req: Request, next: Next) -> Response {
    // Only the path: a query string may carry a sign-in token.
    let span = info_span!("http", method = %req.method(), path = %req.uri().path());
    async move {
        let response = next.run(req).await;
        debug!(status = response.status().as_u16(), "response");
        response
    }
    .instrument(span)
    .await
}

// ---- authentication ----

/// An organizer authenticated by `Authorization: Bearer <token>` or the sign-in cookie.
pub(crate) struct Authed(pub(crate) Organizer);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?
            .or_else(|| cookie(parts, TOKEN_COOKIE))
            .ok_or_else(|| {
                ApiError::unauthorized("missing token: send Authorization: Bearer <token>")
            })?;
        state
            .db(move |store| store.authenticate(&token))
            .await?
            .map(Self)
            .ok_or_else(|| ApiError::unauthorized("invalid or revoked token"))
    }
}

fn bearer_token(parts: &Parts) -> Result<Option<String>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    match value.split_once(' ') {
        // RFC 7235 §2.1: the scheme is case-insensitive.
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(ApiError::unauthorized(
            "unsupported Authorization header: expected Bearer <token>",
        )),
    }
}

fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

#[derive(Debug, Deserialize)]
struct SigninQuery {
    token: Option<String>,
}

/// `GET /signin?token=...`: checks the token, keeps it in an HttpOnly cookie, goes to `/`.
async fn signin(
    State(state): State<AppState>,
    query: Result<Query<SigninQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let token = query
        .ok()
        .and_then(|Query(q)| q.token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("missing token parameter"))?;
    // Tokens are `pont_` + hex, so they need no cookie quoting; anything else is not a token.
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(ApiError::unauthorized("invalid token"));
    }
    let check = token.clone();
    if state.db(move |s| s.authenticate(&check)).await?.is_none() {
        return Err(ApiError::unauthorized("invalid or revoked token"));
    }
    let cookie = format!(
        "{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        30 * 24 * 3600
    );
    let mut response = Redirect::to("/").into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(e.to_string()))?,
    );
    // The token was in the URL: keep it out of caches and Referer headers.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

// ---- health and metrics ----

/// 200 once every listener is up and the media task answers; 503 otherwise.
async fn healthz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(HEALTH_WAIT, state.inner.media.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok\n").into_response(),
        _ => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unhealthy",
            "the media task is not answering",
        )
        .into_response(),
    }
}

async fn metrics_handler(State(state): State<AppState>) -> Result<Response, ApiError> {
    let snapshot = state.inner.media.stats().await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        metrics::render(&snapshot),
    )
        .into_response())
}

// ---- API ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstantMeetingRequest {
    subject: String,
    /// An optional numeric PIN (1–12 digits) for the room.
    #[serde(default)]
    pin: Option<String>,
}

#[derive(Debug, Serialize)]
struct DialIn {
    sip_uri: String,
    user: String,
    numbers: Vec<String>,
    instructions: String,
}

#[derive(Debug, Serialize)]
struct MeetingBody {
    id: i64,
    subject: String,
    room_number: u64,
    category: &'static str,
    web_link: String,
    pin: Option<String>,
    dial_in: DialIn,
}

impl AppState {
    fn meeting_body(&self, meeting: Meeting) -> MeetingBody {
        let inner = &self.inner;
        let room = meeting.room.number;
        let pin = meeting.room.pin.as_ref().map(|p| p.as_str().to_owned());
        let mut reach = inner.dialin.numbers.clone();
        reach.push(format!("sip:{}@{}", inner.dialin.user, inner.sip_host));
        let mut instructions = format!(
            "Call {}, then enter the room number {room} followed by #",
            reach.join(" or ")
        );
        if pin.is_some() {
            instructions.push_str(", then the PIN followed by #");
        }
        instructions.push_str(&format!(
            ". Room systems call sip:{room}@{} directly.",
            inner.sip_host
        ));
        MeetingBody {
            id: meeting.id.0,
            subject: meeting.subject,
            room_number: room.0,
            category: meeting.room.category.as_str(),
            web_link: format!("{}/r/{room}", inner.public_url),
            pin,
            dial_in: DialIn {
                sip_uri: format!("sip:{room}@{}", inner.sip_host),
                user: inner.dialin.user.clone(),
                numbers: inner.dialin.numbers.clone(),
                instructions,
            },
        }
    }
}

/// `POST /api/v1/meetings/instant` `{"subject": "..."}` → 201 with the meeting.
async fn create_instant_meeting(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    body: Result<Json<InstantMeetingRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<MeetingBody>), ApiError> {
    let Json(request) = body?;
    let subject = request.subject.trim().to_owned();
    if subject.is_empty() || subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_subject",
            format!("subject must be 1 to {MAX_SUBJECT_CHARS} characters"),
        ));
    }
    let pin = match request.pin.as_deref() {
        None => None,
        Some(digits) => Some(pont_meet::Pin::new(digits).map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_pin",
                "pin must be 1 to 12 digits".to_owned(),
            )
        })?),
    };
    let now = unix_now();
    let new = NewMeeting {
        pin,
        ..NewMeeting::instant(subject)
    };
    let meeting = state
        .db(move |s| s.create_meeting(organizer.id, new, now))
        .await?;
    tracing::info!(room = %meeting.room.number, meeting = meeting.id.0, "instant meeting created");
    Ok((StatusCode::CREATED, Json(state.meeting_body(meeting))))
}

/// `GET /api/v1/rooms/{room}` → the room's participants, active speaker and recording state.
async fn get_room(
    State(state): State<AppState>,
    _organizer: Authed,
    Path(room): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let number: RoomId = room.parse().map_err(|_| ApiError::room_not_found(&room))?;
    let stored = state
        .db(move |s| s.room(number))
        .await?
        .ok_or_else(|| ApiError::room_not_found(&room))?;
    let live = state.inner.media.room(number).await?;
    let participants: Vec<Value> = live
        .participants
        .iter()
        .map(|p| {
            json!({
                "id": p.id.to_string(),
                "kind": p.kind.as_str(),
                "display_name": p.display_name,
                "muted": p.muted,
            })
        })
        .collect();
    Ok(Json(json!({
        "room_number": stored.number.0,
        "category": stored.category.as_str(),
        "pin_required": stored.pin.is_some(),
        "participants": participants,
        "active_speaker": live.active_speaker.map(|p| p.to_string()),
        "recording": recordings_api::room_recording_json(&state, number),
        "locked": live.locked,
    })))
}

/// `POST /api/v1/rooms/{room}/lock` `{"locked": true|false}` → 200 `{"room_number", "locked"}`.
/// A locked room lets nobody new in (web 'room_locked', SIP 480, dial-in hung up); those in
/// it stay.
async fn lock_room(
    State(state): State<AppState>,
    _organizer: Authed,
    Path(room): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let number: RoomId = room.parse().map_err(|_| ApiError::room_not_found(&room))?;
    if !state.room_exists(number).await? {
        return Err(ApiError::room_not_found(&room));
    }
    let Json(body) = body?;
    let locked = body.get("locked").and_then(Value::as_bool).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_lock",
            "locked must be true or false",
        )
    })?;
    state.inner.media.lock(number, locked).await?;
    Ok(Json(json!({ "room_number": number.0, "locked": locked })))
}

// ---- the minimal portal ----

#[derive(Debug, Deserialize)]
struct JoinQuery {
    room: Option<String>,
}

/// The join form's target: `/join?room=123456` → `/r/123456`.
async fn join(Query(query): Query<JoinQuery>) -> Response {
    match query
        .room
        .as_deref()
        .map(str::trim)
        .map(str::parse::<RoomId>)
    {
        Some(Ok(room)) => Redirect::to(&format!("/r/{room}")).into_response(),
        _ => Redirect::to("/").into_response(),
    }
}

/// `/r/<room>`: the meeting page; 404 with the same page (showing "unknown room") when the
/// meet store has no such room.
async fn room_page(
    State(state): State<AppState>,
    Path(room): Path<String>,
) -> Result<Response, ApiError> {
    let known = match room.parse::<RoomId>() {
        Ok(number) => state.room_exists(number).await?,
        Err(_) => false,
    };
    let page = crate::web::room_page(&room, known);
    let status = if known {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    Ok((status, page).into_response())
}

/// Seconds since the Unix epoch, for the store's timestamps.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
