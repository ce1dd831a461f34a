//! HTTP: health, metrics, the organizer API under `/api/v1`, sign-in and the minimal portal.
//!
//! Every error is JSON, `{"error": {"code": "...", "message": "..."}}`, with a 4xx/5xx status;
//! `docs/api.md` lists the codes.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, OriginalUri, Path, Query, Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use pont_meet::{
    Account, Category, MeetError, Meeting, MeetingKind, NewMeeting, Organizer, Pin, Recurrence,
    Store,
};
use pont_types::RoomId;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{Instrument as _, debug, error, info_span};
use utoipa::{OpenApi as _, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use pont_portal::{Portal, SharedStore};

use crate::config::DialinConfig;
use crate::media::{MediaGone, MediaHandle};
use crate::metrics;
use crate::openapi::ErrorBody;
use crate::recording::Recordings;
use crate::recordings_api;

/// Longest meeting subject accepted.
const MAX_SUBJECT_CHARS: usize = 200;

/// A scheduled meeting's duration when none is given: the usual calendar hour.
const DEFAULT_DURATION_MINUTES: u32 = 60;

/// Longest scheduled meeting: a day. Longer is almost certainly a unit mistake (seconds for
/// minutes); a room outlives its meeting anyway, so nothing is cut off at the end.
const MAX_DURATION_MINUTES: u32 = 24 * 60;

/// Most invitees on one meeting: a large all-hands, not a mailing list.
const MAX_INVITEES: usize = 200;

/// Longest e-mail address: RFC 5321 §4.5.3.1.3 limits a path to 256 octets, angle brackets
/// included.
use pont_portal::planning::MAX_EMAIL_OCTETS;

/// How long `/healthz` waits for the media task before calling it unhealthy.
const HEALTH_WAIT: Duration = Duration::from_secs(2);

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    inner: Arc<Inner>,
}

/// What the handlers share, as the composition root builds it.
pub(crate) struct Inner {
    pub(crate) store: SharedStore,
    pub(crate) portal: Portal,
    pub(crate) media: MediaHandle,
    /// Base of web links, without a trailing slash: `http://127.0.0.1:8080`.
    pub(crate) public_url: String,
    /// Host (and `:port` unless 5060) of SIP URIs: `sip:<room>@<sip_host>`.
    pub(crate) sip_host: String,
    pub(crate) dialin: DialinConfig,
    pub(crate) recordings: Recordings,
    /// The SIP task's commands (dial-out).
    pub(crate) sip: tokio::sync::mpsc::Sender<crate::sip::SipCommand>,
    /// `[security]`'s counters, for `/metrics`.
    pub(crate) security: Arc<crate::security::SecurityCounters>,
    /// `[security]`'s sign-in and WebSocket-join limits.
    pub(crate) http_guard: crate::security::HttpGuard,
}

impl AppState {
    pub(crate) fn new(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    pub(crate) fn recordings(&self) -> &Recordings {
        &self.inner.recordings
    }

    pub(crate) fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    pub(crate) fn portal(&self) -> &Portal {
        &self.inner.portal
    }

    pub(crate) fn sip(&self) -> &tokio::sync::mpsc::Sender<crate::sip::SipCommand> {
        &self.inner.sip
    }

    pub(crate) fn http_guard(&self) -> &crate::security::HttpGuard {
        &self.inner.http_guard
    }

    pub(crate) fn media(&self) -> &MediaHandle {
        &self.inner.media
    }

    /// Runs a store operation off the async threads (SQLite blocks).
    pub(crate) async fn db<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut Store) -> Result<T, MeetError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.inner
            .store
            .run(op)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))
    }
}

/// The Content-Security-Policy of every response. Scripts and style sheets come only from
/// this origin, as files (no inline `<script>`, no `eval`, no inline `<style>`): an injected
/// tag runs nothing. Style *attributes* stay allowed (`style-src-attr`): the calendar places
/// each entry with one (server-computed numbers, escaped); an attribute cannot run script.
/// `connect-src 'self'` covers the meeting page's `fetch` and its `ws:`/`wss:` signalling
/// (CSP3 §6.7.2.8: `'self'` matches the WebSocket schemes of the page's own host). Media
/// (the watch page's video, the recording notice) is same-origin; the camera and the
/// WebRTC streams are not fetched and need nothing here. No page may be framed
/// (clickjacking), forms post only here, `<base>` and plugins are refused.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; \
    media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// HSTS over TLS: a year, this host only (a LAN name's siblings may not have HTTPS).
/// Browsers ignore it over plain HTTP and on a connection with certificate errors (RFC 6797
/// §8.1), so a self-signed certificate clicked through is never pinned.
pub(crate) const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// The security headers on every response, unless a handler set its own: CSP with
/// `frame-ancestors 'none'` (and `X-Frame-Options: DENY` for browsers before CSP 2), no MIME
/// sniffing, no referrer to other sites (watch and sign-in links carry tokens; same-origin
/// requests keep theirs, and their `Origin`, which the CSRF rule reads), and HSTS over TLS.
fn security_headers(app: Router, tls: bool) -> Router {
    use tower_http::set_header::SetResponseHeaderLayer as Set;
    let app = app
        .layer(Set::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(Set::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(Set::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(Set::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ));
    if tls {
        app.layer(Set::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        ))
    } else {
        app
    }
}

/// The whole HTTP service; `tls`: it is served over HTTPS (HSTS is added).
pub(crate) fn router(state: AppState, tls: bool) -> Router {
    // The API's routes only through `routes!`: each one's path and method come from its
    // `#[utoipa::path]`, so the OpenAPI document lists exactly what is served.
    let (api, doc) = OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(
            crate::meetings_api::create_meeting,
            crate::meetings_api::list_meetings
        ))
        .routes(routes!(create_instant_meeting))
        .routes(routes!(
            crate::meetings_api::get_meeting,
            crate::meetings_api::patch_meeting,
            crate::meetings_api::delete_meeting
        ))
        .routes(routes!(crate::meetings_api::occurrences))
        .routes(routes!(
            crate::meetings_api::patch_occurrence,
            crate::meetings_api::delete_occurrence
        ))
        .routes(routes!(crate::meetings_api::calendar))
        .routes(routes!(get_room))
        .routes(routes!(crate::signalling::ws_handler))
        .routes(routes!(recordings_api::control))
        .routes(routes!(lock_room))
        .routes(routes!(crate::live_api::live))
        .routes(routes!(crate::rooms_api::participant_action))
        .routes(routes!(crate::rooms_api::admit_all))
        .routes(routes!(crate::rooms_api::mute_all))
        .routes(routes!(crate::rooms_api::end))
        .routes(routes!(crate::rooms_api::dial))
        .routes(routes!(
            crate::rooms_api::polls,
            crate::rooms_api::open_poll
        ))
        .routes(routes!(crate::rooms_api::get_poll))
        .routes(routes!(crate::rooms_api::close_poll))
        .routes(routes!(crate::rooms_api::polls_csv))
        .routes(routes!(recordings_api::list))
        .routes(routes!(recordings_api::get_one, recordings_api::patch))
        .routes(routes!(recordings_api::download))
        .routes(routes!(recordings_api::chat))
        .routes(routes!(recordings_api::public_list))
        .routes(routes!(me))
        .routes(routes!(accounts))
        .routes(routes!(crate::openapi::openapi_json))
        .split_for_parts();
    crate::openapi::publish(&doc);
    let portal = pont_portal::router(state.inner.portal.clone());
    let limits = middleware::from_fn_with_state(state.clone(), crate::security::limit_http);
    let app = Router::new()
        .route("/join", get(join))
        .route("/r/{room}", get(room_page))
        .route("/assets/{file}", get(crate::web::asset))
        .route("/w/{token}/media", get(recordings_api::watch_media))
        .route("/d/{token}", get(recordings_api::download_link))
        .route("/whep/{room}", axum::routing::post(crate::live_api::offer))
        .route(
            "/whip/{room}",
            axum::routing::post(crate::live_api::publish),
        )
        .route(
            "/whip/{room}/{session}",
            axum::routing::delete(crate::live_api::unpublish),
        )
        .route(
            "/whep/{room}/{session}",
            axum::routing::patch(crate::live_api::patch).delete(crate::live_api::delete),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_handler))
        .merge(api)
        .fallback(not_found)
        .with_state(state)
        .merge(portal)
        .layer(limits)
        .layer(middleware::from_fn(json_method_not_allowed))
        .layer(middleware::from_fn(trace_request));
    security_headers(app, tls)
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

    /// 422 for a field that has the right JSON type but a value the API does not accept.
    pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub(crate) fn meeting_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "meeting_not_found",
            format!("no meeting {id}"),
        )
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

/// An organizer authenticated by `Authorization: Bearer <token>`, or by the portal's session
/// cookie — then a state-changing request must pass the CSRF check (`pont_portal::auth`).
pub(crate) struct Authed(pub(crate) Organizer);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(token) = bearer_token(parts)? {
            return state
                .db(move |store| store.authenticate(&token))
                .await?
                .map(Self)
                .ok_or_else(|| ApiError::unauthorized("invalid or revoked token"));
        }
        let session = state
            .inner
            .portal
            .session(&parts.headers)
            .await
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "missing token: send Authorization: Bearer <token>, or sign in",
                )
            })?;
        if !pont_portal::auth::api_request_ok(&parts.method, &parts.headers, &session.csrf) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "a request authenticated by the session cookie must come from this site's \
                 pages (Origin) or carry X-CSRF-Token",
            ));
        }
        Ok(Self(session.account.organizer()))
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

// ---- accounts ----

fn account_json(account: &Account) -> Value {
    json!({
        "id": account.id.0,
        "name": account.name,
        "email": account.email,
        "role": account.role.as_str(),
    })
}

/// `GET /api/v1/me`.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The account: {id, name, email, role}", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody)))]
async fn me(State(state): State<AppState>, Authed(who): Authed) -> Result<Json<Value>, ApiError> {
    let account = state
        .db(move |s| s.account(who.id))
        .await?
        .ok_or_else(|| ApiError::unauthorized("this account no longer exists"))?;
    Ok(Json(account_json(&account)))
}

#[derive(Debug, Deserialize)]
struct AccountsQuery {
    #[serde(default)]
    q: String,
}

/// Most accounts one search returns: a picker's list, not an export.
const MAX_ACCOUNTS_LISTED: usize = 50;

/// `GET /api/v1/accounts?q=`: accounts that have signed in, matched on name or e-mail.
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", security(("bearer" = []), ("session" = [])),
    params(("q" = Option<String>, Query, description = "Part of a name or e-mail")),
    responses((status = 200, description = "{\"accounts\": [{id, name, email}]}", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 422, description = "A field with a value the API does not accept", body = ErrorBody)))]
async fn accounts(
    State(state): State<AppState>,
    _who: Authed,
    query: Result<Query<AccountsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    if query.q.chars().count() > 200 {
        return Err(ApiError::invalid(
            "invalid_query",
            "q is at most 200 characters",
        ));
    }
    let found = state
        .db(move |s| s.search_accounts(&query.q, MAX_ACCOUNTS_LISTED))
        .await?;
    let list: Vec<Value> = found
        .iter()
        .map(|a| json!({ "id": a.id.0, "name": a.name, "email": a.email }))
        .collect();
    Ok(Json(json!({ "accounts": list })))
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
        {
            let mut text = metrics::render(&snapshot);
            state.inner.security.render(&mut text);
            text
        },
    )
        .into_response())
}

// ---- API ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct InstantMeetingRequest {
    subject: String,
    /// An optional numeric PIN (1–12 digits) for the room.
    #[serde(default)]
    pin: Option<String>,
}

/// `POST /api/v1/meetings`. Only the types are checked here; [`ScheduledMeetingRequest::validate`]
/// checks the values, so each field gets its own error code.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduledMeetingRequest {
    subject: String,
    /// RFC 3339, with `Z` or an offset; required.
    #[serde(default)]
    start: Option<String>,
    /// Minutes, 1..=[`MAX_DURATION_MINUTES`]; a JSON number so that `1.5` is an
    /// `invalid_duration` rather than a type error.
    #[serde(default)]
    #[schema(value_type = Option<u32>)]
    duration: Option<serde_json::Number>,
    /// `"video"` (default) or `"audio"`.
    #[serde(default)]
    category: Option<String>,
    /// Start recording when the meeting starts.
    #[serde(default)]
    recording: Option<bool>,
    #[serde(default)]
    pin: Option<String>,
    #[serde(default)]
    invitees: Option<Vec<String>>,
    /// `"none"` (default), `"daily"`, `"weekly"` or `"monthly"`, or `{"freq", "weekdays":
    /// ["mon", …], "until": "YYYY-MM-DD"}` (a year when `until` is left out).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    recurrence: Option<Value>,
    /// Who owns the meeting's recordings: an account's id or e-mail; default the organizer.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub(crate) recording_owner: Option<Value>,
    /// IANA time zone its occurrences repeat in; default `[meetings] timezone`.
    #[serde(default)]
    timezone: Option<String>,
    /// Free text: the department or body.
    #[serde(default)]
    entity: Option<String>,
    #[serde(default)]
    waiting_room: Option<bool>,
    /// Whether the invitations show the phone dial-in; default true.
    #[serde(default)]
    phone_dial_in: Option<bool>,
    /// `rtmp://` or `rtmps://` with the stream key.
    #[serde(default)]
    streaming_url: Option<String>,
}

impl ScheduledMeetingRequest {
    /// The meeting to store, or the first refused field, checked in the order `docs/api.md`
    /// lists them.
    pub(crate) fn validate(self, default_timezone: &str) -> Result<NewMeeting, ApiError> {
        let subject = valid_subject(&self.subject)?;
        let start = self
            .start
            .ok_or_else(|| ApiError::invalid("invalid_start", "start is required"))?;
        let start_at = pont_meet::rfc3339::parse(&start).map_err(|e| {
            ApiError::invalid(
                "invalid_start",
                format!(
                    "start must be an RFC 3339 timestamp such as 2026-12-01T09:30:00Z or \
                     2026-12-01T10:30:00+01:00: {e}"
                ),
            )
        })?;
        let duration_minutes = match self.duration {
            None => DEFAULT_DURATION_MINUTES,
            Some(n) => n
                .as_u64()
                .and_then(|m| u32::try_from(m).ok())
                .filter(|m| (1..=MAX_DURATION_MINUTES).contains(m))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "invalid_duration",
                        format!(
                            "duration must be a whole number of minutes from 1 to \
                             {MAX_DURATION_MINUTES}"
                        ),
                    )
                })?,
        };
        let category = match self.category.as_deref() {
            None => Category::Video,
            Some(name) => Category::from_name(name).ok_or_else(|| {
                ApiError::invalid(
                    "invalid_category",
                    "category must be \"video\" or \"audio\"",
                )
            })?,
        };
        let pin = valid_pin(self.pin.as_deref())?;
        let invitees = valid_invitees(self.invitees.unwrap_or_default())?;
        let bad_recurrence = || {
            ApiError::invalid(
                "invalid_recurrence",
                "recurrence must be \"none\", \"daily\", \"weekly\" or \"monthly\", or \
                 {\"freq\": …, \"weekdays\": [\"mon\", …], \"until\": \"YYYY-MM-DD\"}",
            )
        };
        let mut plan = pont_meet::Plan {
            timezone: self.timezone.unwrap_or_else(|| default_timezone.to_owned()),
            entity: self
                .entity
                .map(|e| e.trim().to_owned())
                .filter(|e| !e.is_empty()),
            waiting_room: self.waiting_room.unwrap_or(false),
            phone_dial_in: self.phone_dial_in.unwrap_or(true),
            streaming_url: self.streaming_url.filter(|u| !u.is_empty()),
            weekdays: Vec::new(),
            until: None,
        };
        let recurrence = match self.recurrence {
            None | Some(Value::Null) => Recurrence::None,
            Some(Value::String(name)) => Recurrence::from_name(&name).ok_or_else(bad_recurrence)?,
            Some(Value::Object(rule)) => {
                for key in rule.keys() {
                    if !matches!(key.as_str(), "freq" | "weekdays" | "until") {
                        return Err(bad_recurrence());
                    }
                }
                let freq = rule
                    .get("freq")
                    .and_then(Value::as_str)
                    .and_then(Recurrence::from_name)
                    .filter(|r| *r != Recurrence::None)
                    .ok_or_else(bad_recurrence)?;
                if let Some(days) = rule.get("weekdays") {
                    let days = days.as_array().ok_or_else(bad_recurrence)?;
                    for d in days {
                        let d = d
                            .as_str()
                            .filter(|d| pont_portal::planning::weekday(d).is_some())
                            .ok_or_else(bad_recurrence)?;
                        if !plan.weekdays.iter().any(|w| w == d) {
                            plan.weekdays.push(d.to_owned());
                        }
                    }
                    if freq != Recurrence::Weekly && !plan.weekdays.is_empty() {
                        return Err(bad_recurrence());
                    }
                }
                match rule.get("until") {
                    None | Some(Value::Null) => {}
                    Some(Value::String(d)) if pont_portal::planning::parse_date(d).is_some() => {
                        plan.until = Some(d.clone());
                    }
                    Some(_) => return Err(bad_recurrence()),
                }
                freq
            }
            Some(_) => return Err(bad_recurrence()),
        };
        let tz = pont_portal::planning::zone(&plan.timezone)
            .map_err(|e| ApiError::invalid(e.code, e.message))?;
        check_local_start(&start, start_at, &tz)?;
        if recurrence != Recurrence::None && plan.until.is_none() {
            // Stored explicitly so the calendar, the invitations and the API agree on it.
            let first = pont_schedule::jiff::Timestamp::from_second(start_at)
                .map_err(|_| ApiError::invalid("invalid_start", "start is out of range"))?
                .to_zoned_datetime(tz)
                .date();
            plan.until = Some(pont_portal::planning::default_until(first).to_string());
        }
        Ok(NewMeeting {
            kind: MeetingKind::Scheduled,
            subject,
            category,
            pin,
            start_at: Some(start_at),
            duration_secs: Some(duration_minutes * 60),
            recording: self.recording.unwrap_or(false),
            invitees,
            recurrence,
            recording_owner: None,
            plan,
        })
    }
}

/// Refuses a start whose wall-clock time in the meeting's zone `tz` does not name one instant,
/// as the portal's form does (`nonexistent_time`, `ambiguous_time`):
/// - written in the zone's own offsets but at a time the zone skips
///   (`2027-03-28T02:30:00+01:00` in Europe/Paris, where that night goes from 02:00 to 03:00):
///   it would silently become 03:30;
/// - at a time the zone repeats (02:00–03:00 on 2026-10-25 in Europe/Paris), whatever the
///   offset: a series repeats its wall-clock time, and iCalendar's `DTSTART;TZID=` reads a
///   repeated time as the first of the two (RFC 5545 §3.3.5), so the later one would be an
///   hour off in every calendar and in the series' own occurrences.
///
/// `text` is the RFC 3339 text `start_at` was parsed from.
pub(crate) fn check_local_start(
    text: &str,
    start_at: i64,
    tz: &pont_schedule::jiff::tz::TimeZone,
) -> Result<(), ApiError> {
    use pont_schedule::jiff::Timestamp;
    use pont_schedule::jiff::civil::DateTime;
    use pont_schedule::jiff::tz::{AmbiguousOffset, TimeZone};

    let zone = tz.iana_name().unwrap_or("UTC");
    // `text` is well-formed RFC 3339 here: its first 19 bytes are the written date and time.
    let written = text
        .get(..19)
        .map(str::to_ascii_uppercase)
        .and_then(|t| t.parse::<DateTime>().ok());
    let has_offset = !text.ends_with(['Z', 'z']);
    if let Some(written) = written.filter(|_| has_offset) {
        let offset = written
            .to_zoned_datetime(TimeZone::UTC)
            .map(|z| z.timestamp().as_second() - start_at)
            .ok();
        if let AmbiguousOffset::Gap { before, after } = tz.to_ambiguous_timestamp(written).offset()
            && offset.is_some_and(|o| {
                o == i64::from(before.seconds()) || o == i64::from(after.seconds())
            })
        {
            return Err(ApiError::invalid(
                "nonexistent_time",
                format!("{written} does not exist in {zone}: the clocks skip it"),
            ));
        }
    }
    let local = Timestamp::from_second(start_at)
        .map_err(|_| ApiError::invalid("invalid_start", "start is out of range"))?
        .to_zoned_datetime(tz.clone())
        .datetime();
    if let AmbiguousOffset::Fold { .. } = tz.to_ambiguous_timestamp(local).offset() {
        return Err(ApiError::invalid(
            "ambiguous_time",
            format!("{local} happens twice in {zone} (the clocks go back): choose another time"),
        ));
    }
    Ok(())
}

/// The subject, trimmed, if it is 1 to [`MAX_SUBJECT_CHARS`] characters.
fn valid_subject(raw: &str) -> Result<String, ApiError> {
    let subject = raw.trim();
    if subject.is_empty() || subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err(ApiError::invalid(
            "invalid_subject",
            format!("subject must be 1 to {MAX_SUBJECT_CHARS} characters"),
        ));
    }
    Ok(subject.to_owned())
}

fn valid_pin(digits: Option<&str>) -> Result<Option<Pin>, ApiError> {
    digits
        .map(Pin::new)
        .transpose()
        .map_err(|_| ApiError::invalid("invalid_pin", "pin must be 1 to 12 digits"))
}

/// At most [`MAX_INVITEES`] addresses, each checked lightly: one `@` with something on both
/// sides, no white space or control characters, at most [`MAX_EMAIL_OCTETS`]. Whether an
/// address exists is for the mail server to say; this only catches what cannot be one.
fn valid_invitees(invitees: Vec<String>) -> Result<Vec<String>, ApiError> {
    if invitees.len() > MAX_INVITEES {
        return Err(ApiError::invalid(
            "invalid_invitees",
            format!("at most {MAX_INVITEES} invitees"),
        ));
    }
    // The message names the position, not the address: error bodies end up in logs.
    if let Some(i) = invitees.iter().position(|a| !looks_like_email(a)) {
        return Err(ApiError::invalid(
            "invalid_invitees",
            format!(
                "invitees[{i}] is not an e-mail address (one @, no spaces, at most \
                 {MAX_EMAIL_OCTETS} bytes)"
            ),
        ));
    }
    Ok(invitees)
}

use pont_portal::planning::looks_like_email;

#[derive(Debug, Serialize, ToSchema)]
struct DialIn {
    sip_uri: String,
    user: String,
    numbers: Vec<String>,
    instructions: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MeetingBody {
    id: i64,
    subject: String,
    room_number: u64,
    category: &'static str,
    web_link: String,
    pin: Option<String>,
    dial_in: DialIn,
    /// `instant` or `scheduled`.
    kind: &'static str,
    /// RFC 3339 UTC; null for an instant meeting.
    start: Option<String>,
    /// Minutes; null for an instant meeting.
    duration: Option<u32>,
    /// Start recording when the first participant joins.
    recording: bool,
    invitees: Vec<String>,
    recurrence: &'static str,
    /// The account owning the meeting's recordings (null: the organizer).
    recording_owner: Option<i64>,
    timezone: String,
    /// Weekly: the days it meets on.
    weekdays: Vec<String>,
    /// A series' last day (`YYYY-MM-DD`, in `timezone`).
    until: Option<String>,
    entity: Option<String>,
    waiting_room: bool,
    /// Whether the invitations show the phone dial-in.
    phone_dial_in: bool,
    streaming_url: Option<String>,
    /// The invitations' SEQUENCE.
    sequence: u32,
}

impl AppState {
    pub(crate) fn meeting_body(&self, meeting: Meeting) -> MeetingBody {
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
            kind: meeting.kind.as_str(),
            start: meeting.start_at.map(pont_meet::rfc3339::format_utc),
            duration: meeting.duration_secs.map(|s| s / 60),
            recording: meeting.recording,
            invitees: meeting.invitees,
            recurrence: meeting.recurrence.as_str(),
            recording_owner: meeting.recording_owner.map(|o| o.0),
            timezone: meeting.plan.timezone,
            weekdays: meeting.plan.weekdays,
            until: meeting.plan.until,
            entity: meeting.plan.entity,
            waiting_room: meeting.plan.waiting_room,
            phone_dial_in: meeting.plan.phone_dial_in,
            streaming_url: meeting.plan.streaming_url,
            sequence: meeting.sequence,
        }
    }
}

/// `POST /api/v1/meetings/instant` `{"subject": "..."}` → 201 with the meeting.
#[utoipa::path(post, path = "/api/v1/meetings/instant", tag = "meetings", security(("bearer" = []), ("session" = [])),
    request_body = InstantMeetingRequest,
    responses((status = 201, description = "The meeting, with its room number, web link and dial-in", body = MeetingBody), (status = 400, description = "The body is not JSON", body = ErrorBody), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 403, description = "A cookie-borne change without Origin or X-CSRF-Token (csrf_failed)", body = ErrorBody), (status = 422, description = "A field with a value the API does not accept", body = ErrorBody)))]
async fn create_instant_meeting(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    body: Result<Json<InstantMeetingRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<MeetingBody>), ApiError> {
    let Json(request) = body?;
    let subject = valid_subject(&request.subject)?;
    let pin = valid_pin(request.pin.as_deref())?;
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
#[utoipa::path(get, path = "/api/v1/rooms/{room}", tag = "rooms", security(("bearer" = []), ("session" = [])),
    params(("room" = u64, Path, description = "The room number")),
    responses((status = 200, description = "participants, active_speaker, recording, locked, live, viewers", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such room of yours (room_not_found)", body = ErrorBody)))]
async fn get_room(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path(room): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let number = crate::rooms_api::own_room(&state, &organizer, &room).await?;
    let stored = state
        .db(move |s| s.room(number))
        .await?
        .ok_or_else(|| ApiError::room_not_found(&room))?;
    let live = state.inner.media.room(number).await?;
    let participants: Vec<Value> = live
        .participants
        .iter()
        .map(|(p, state)| {
            json!({
                "id": p.id,
                "kind": p.kind,
                "display_name": p.display_name,
                "muted": p.muted,
                "state": state.as_str(),
                "role": p.role,
                "hand": p.hand,
                "sharing": p.sharing,
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
        "live": live.live,
        "viewers": live.viewers,
    })))
}

/// `POST /api/v1/rooms/{room}/lock` `{"locked": true|false}` → 200 `{"room_number", "locked"}`.
/// A locked room lets nobody new in (web 'room_locked', SIP 480, dial-in hung up); those in
/// it stay.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/lock", tag = "rooms", security(("bearer" = []), ("session" = [])),
    params(("room" = u64, Path, description = "The room number")),
    request_body(content = serde_json::Value, description = "{\"locked\": true|false}"),
    responses((status = 200, description = "{room_number, locked}", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 403, description = "A cookie-borne change without Origin or X-CSRF-Token (csrf_failed)", body = ErrorBody), (status = 404, description = "No such room of yours (room_not_found)", body = ErrorBody), (status = 422, description = "A field with a value the API does not accept", body = ErrorBody)))]
async fn lock_room(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path(room): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let number = crate::rooms_api::own_room(&state, &organizer, &room).await?;
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
    let stored = match room.parse::<RoomId>() {
        Ok(number) => state.db(move |s| s.room(number)).await?,
        Err(_) => None,
    };
    let known = stored.is_some();
    let pin = stored
        .as_ref()
        .and_then(|r| r.pin.as_ref())
        .map(|p| p.as_str().to_owned());
    let page = crate::web::room_page(&room, known, &state.inner.dialin.numbers, pin.as_deref());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_mail_addresses_are_checked_lightly() {
        for ok in [
            "ada@example.org",
            "a.b+tag@sub.example.co.uk",
            "x@y",
            "josé@exemple.fr",
        ] {
            assert!(looks_like_email(ok), "{ok}");
        }
        let long = format!("{}@example.org", "a".repeat(MAX_EMAIL_OCTETS));
        for bad in [
            "",
            "ada",
            "@example.org",
            "ada@",
            "a@b@c",
            "ada lovelace@example.org",
            "ada@example.org ",
            "ada@exa\tmple.org",
            "ada@exa\u{0}mple.org",
            long.as_str(),
        ] {
            assert!(!looks_like_email(bad), "{bad:?}");
        }
    }

    fn request(body: Value) -> Result<NewMeeting, &'static str> {
        serde_json::from_value::<ScheduledMeetingRequest>(body)
            .expect("well-typed body")
            .validate("Europe/Paris")
            .map_err(|e| e.code)
    }

    #[test]
    fn a_start_the_zone_skips_or_repeats_is_refused() {
        let paris = |start: &str| request(json!({"subject": "x", "start": start}));
        let ny = |start: &str| {
            request(json!({"subject": "x", "start": start, "timezone": "America/New_York"}))
        };
        // 2027-03-28 in Paris: 02:00 CET jumps to 03:00 CEST.
        for skipped in ["2027-03-28T02:30:00+01:00", "2027-03-28T02:30:00+02:00"] {
            assert_eq!(paris(skipped).unwrap_err(), "nonexistent_time", "{skipped}");
        }
        // The same instants written otherwise are real times in Paris (03:30 CEST, 01:30 CET).
        assert!(paris("2027-03-28T01:30:00Z").is_ok());
        assert!(paris("2027-03-28T00:30:00Z").is_ok());
        // A New York wall-clock time that is Paris' skipped hour, in New York's offset.
        assert!(paris("2027-03-28T02:30:00-04:00").is_ok());
        // 2026-10-25 in Paris: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
        for repeated in [
            "2026-10-25T02:30:00+02:00",
            "2026-10-25T02:30:00+01:00",
            "2026-10-25T00:30:00Z",
            "2026-10-25T01:30:00Z",
        ] {
            assert_eq!(paris(repeated).unwrap_err(), "ambiguous_time", "{repeated}");
        }
        assert!(paris("2026-10-25T03:30:00+01:00").is_ok());
        assert!(ny("2026-10-25T02:30:00+01:00").is_ok());
        assert_eq!(
            ny("2026-11-01T01:30:00-05:00").unwrap_err(),
            "ambiguous_time"
        );
        assert_eq!(
            request(
                json!({"subject": "x", "start": "2026-12-01T09:30:00Z", "timezone": "Mars/Olympus"})
            )
            .unwrap_err(),
            "invalid_timezone"
        );
    }

    #[test]
    fn defaults_and_limits_of_a_scheduled_meeting() {
        let new =
            request(json!({"subject": " Plan ", "start": "2026-12-01T10:30:00+01:00"})).unwrap();
        assert_eq!(new.subject, "Plan");
        assert_eq!(new.start_at, Some(1_796_117_400));
        assert_eq!(new.duration_secs, Some(3600));
        assert_eq!(new.category, Category::Video);
        assert!(!new.recording && new.pin.is_none() && new.invitees.is_empty());
        assert_eq!(new.recurrence, Recurrence::None);

        let start = "2026-12-01T09:30:00Z";
        for (duration, ok) in [(json!(1), true), (json!(1440), true), (json!(0), false)] {
            let r = request(json!({"subject": "x", "start": start, "duration": duration}));
            assert_eq!(r.is_ok(), ok, "{duration}");
        }
        for duration in [json!(1441), json!(-5), json!(1.5), json!(4_294_967_356_u64)] {
            let r = request(json!({"subject": "x", "start": start, "duration": duration}));
            assert_eq!(r.unwrap_err(), "invalid_duration", "{duration}");
        }
        let many: Vec<String> = (0..=MAX_INVITEES).map(|i| format!("p{i}@x.org")).collect();
        let r = request(json!({"subject": "x", "start": start, "invitees": many[1..]}));
        assert!(r.is_ok());
        let r = request(json!({"subject": "x", "start": start, "invitees": many}));
        assert_eq!(r.unwrap_err(), "invalid_invitees");
    }
}
