//! The recording API: `POST /rooms/{room}/recording` (start, pause, resume, stop) and
//! `/recordings` (list, one, edit, download with HTTP Range). `docs/api.md` documents it.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use pont_meet::{
    MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, Organizer, Recording, RecordingChange, RecordingId,
    RecordingStatus, Trim, Visibility,
};
use pont_record::FileKey;
use pont_record::mp4::Piece;
use pont_types::RoomId;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::http::{ApiError, AppState, Authed};
use crate::openapi::ErrorBody;
use crate::recording::{Action, ControlError};

/// Bytes per read when streaming a download.
const DOWNLOAD_CHUNK: usize = 64 * 1024;

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::WrongState(m) => Self::new(StatusCode::CONFLICT, "wrong_state", m),
            ControlError::Media(g) => g.into(),
            ControlError::Internal(m) => Self::internal(m),
        }
    }
}

/// `POST /api/v1/rooms/{room}/recording` `{"action": "start"|"pause"|"resume"|"stop"}` →
/// 200 with the room's recording state.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/recording", tag = "rooms", security(("bearer" = []), ("session" = [])),
    params(("room" = u64, Path, description = "The room number")),
    request_body(content = serde_json::Value, description = "{\"action\": \"start\"|\"pause\"|\"resume\"|\"stop\"}"),
    responses((status = 200, description = "The room's recording state", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 403, description = "A cookie-borne change without Origin or X-CSRF-Token (csrf_failed)", body = ErrorBody), (status = 404, description = "No such room of yours (room_not_found)", body = ErrorBody),
        (status = 409, description = "The command does not apply now (wrong_state)", body = ErrorBody), (status = 422, description = "A field with a value the API does not accept", body = ErrorBody)))]
pub(crate) async fn control(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path(room): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let number = crate::rooms_api::own_room(&state, &organizer, &room).await?;
    let Json(body) = body?;
    let action = body
        .get("action")
        .and_then(Value::as_str)
        .and_then(Action::parse)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_action",
                "action must be one of start, pause, resume, stop",
            )
        })?;
    let now = state
        .recordings()
        .control(number, action, organizer.id)
        .await?;
    Ok(Json(json!({
        "state": now.state,
        "id": now.id.map(|i| i.0),
    })))
}

/// The room's recording as `GET /rooms/{room}` shows it.
pub(crate) fn room_recording_json(state: &AppState, room: RoomId) -> Value {
    let r = state.recordings().state(room);
    json!({ "state": r.state, "id": r.id.map(|i| i.0) })
}

fn visible_to(rec: &Recording, who: &Organizer) -> bool {
    rec.owner == Some(who.id) || rec.visibility != Visibility::Private
}

fn recording_json(state: &AppState, r: &Recording) -> Value {
    let download = format!("/api/v1/recordings/{}/download", r.id.0);
    let base = state.public_url();
    // The links exist only while validated (the store keeps no token otherwise).
    let watch = r.watch_token.as_ref().map(|t| format!("{base}/w/{t}"));
    let link = r.download_token.as_ref().map(|t| format!("{base}/d/{t}"));
    json!({
        "id": r.id.0,
        "room_number": r.room.0,
        "meeting_id": r.meeting.map(|m| m.0),
        "owner_id": r.owner.map(|o| o.0),
        "title": r.title,
        "status": r.status.as_str(),
        "visibility": r.visibility.as_str(),
        "started_at": r.started_at,
        "duration": r.duration_ms as f64 / 1000.0,
        "size": r.size,
        "sha256": r.sha256,
        "interrupted": r.interrupted,
        "description": r.description,
        "trim": r.trim.map(|t| json!({
            "start": t.start_ms as f64 / 1000.0,
            "end": t.end_ms as f64 / 1000.0,
        })),
        "delete_at": r.delete_at.map(pont_meet::rfc3339::format_utc),
        "continues": r.continues.map(|c| c.0),
        "download_url": download,
        "watch_url": watch,
        "download_link": link,
    })
}

fn recording_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "recording_not_found",
        format!("no recording {id}"),
    )
}

async fn load(state: &AppState, id: &str, who: &Organizer) -> Result<Recording, ApiError> {
    let num: i64 = id.parse().map_err(|_| recording_not_found(id))?;
    let rec = state
        .recordings()
        .with_store(move |s| s.recording(RecordingId(num)))
        .await
        .map_err(ApiError::internal)?;
    rec.filter(|r| visible_to(r, who))
        .ok_or_else(|| recording_not_found(id))
}

/// `GET /api/v1/recordings`: the recordings this organizer may see, newest first.
#[utoipa::path(get, path = "/api/v1/recordings", tag = "recordings", security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "{\"recordings\": [...]}, newest first", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Authed(organizer): Authed,
) -> Result<Json<Value>, ApiError> {
    let all = state
        .recordings()
        .with_store(|s| s.recordings())
        .await
        .map_err(ApiError::internal)?;
    let items: Vec<Value> = all
        .iter()
        .filter(|r| visible_to(r, &organizer))
        .map(|r| recording_json(&state, r))
        .collect();
    Ok(Json(json!({ "recordings": items })))
}

/// `GET /api/v1/recordings/{id}`.
#[utoipa::path(get, path = "/api/v1/recordings/{id}", tag = "recordings", security(("bearer" = []), ("session" = [])), params(("id" = i64, Path, description = "The recording's id")),
    responses((status = 200, description = "The recording", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such recording, or not visible to you (recording_not_found)", body = ErrorBody)))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rec = load(&state, &id, &organizer).await?;
    Ok(Json(recording_json(&state, &rec)))
}

/// `PATCH /api/v1/recordings/{id}` `{"title"?: "...", "visibility"?: "private"|"organizers"|"public"}`
/// (owner only).
#[utoipa::path(patch, path = "/api/v1/recordings/{id}", tag = "recordings", security(("bearer" = []), ("session" = [])), params(("id" = i64, Path, description = "The recording's id")),
    request_body(content = serde_json::Value, description = "{\"title\"?, \"visibility\"?: \"private\"|\"organizers\"|\"public\"}"),
    responses((status = 200, description = "The recording, changed", body = serde_json::Value), (status = 401, description = "No or a bad token or session", body = ErrorBody),
        (status = 403, description = "Not the owner (forbidden), or csrf_failed", body = ErrorBody), (status = 404, description = "No such recording, or not visible to you (recording_not_found)", body = ErrorBody), (status = 422, description = "A field with a value the API does not accept", body = ErrorBody)))]
pub(crate) async fn patch(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let rec = load(&state, &id, &organizer).await?;
    if rec.owner != Some(organizer.id) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the recording's owner may change it",
        ));
    }
    let Json(body) = body?;
    let change = recording_change(&state, &rec, &body).await?;
    let rid = rec.id;
    let updated = state
        .recordings()
        .with_store(move |s| s.update_recording(rid, &change))
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| recording_not_found(&id))?;
    Ok(Json(recording_json(&state, &updated)))
}

/// The fields of a `PATCH`, each checked with its own error code.
async fn recording_change(
    state: &AppState,
    rec: &Recording,
    body: &Value,
) -> Result<RecordingChange, ApiError> {
    let invalid = |code: &'static str, m: &str| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, m.to_owned())
    };
    let Some(fields) = body.as_object() else {
        return Err(invalid("invalid_body", "expected a JSON object"));
    };
    const KNOWN: [&str; 6] = [
        "title",
        "visibility",
        "description",
        "status",
        "owner",
        "trim",
    ];
    if let Some(k) = fields.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(invalid("invalid_body", &format!("unknown field {k:?}")));
    }
    let mut change = RecordingChange::default();
    match fields.get("title") {
        None => {}
        Some(Value::String(t))
            if !t.trim().is_empty() && t.trim().chars().count() <= MAX_TITLE_CHARS =>
        {
            change.title = Some(t.trim().to_owned());
        }
        Some(_) => {
            return Err(invalid(
                "invalid_title",
                &format!("title must be 1 to {MAX_TITLE_CHARS} characters"),
            ));
        }
    }
    match fields.get("description") {
        None => {}
        Some(Value::String(d)) if d.chars().count() <= MAX_DESCRIPTION_CHARS => {
            change.description = Some(d.trim().to_owned());
        }
        Some(_) => {
            return Err(invalid(
                "invalid_description",
                &format!("description must be text of at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
    }
    if let Some(v) = fields.get("visibility") {
        change.visibility = Some(v.as_str().and_then(Visibility::from_api).ok_or_else(|| {
            invalid(
                "invalid_visibility",
                "visibility must be private, organizers or public",
            )
        })?);
    }
    let complete = matches!(
        rec.status,
        RecordingStatus::PendingValidation | RecordingStatus::Validated
    );
    match fields.get("status").map(|v| v.as_str()) {
        None => {}
        Some(_) if !complete => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "wrong_state",
                "a recording still being written cannot be validated",
            ));
        }
        Some(Some("validated")) => change.validated = Some(true),
        Some(Some("pending_validation")) => change.validated = Some(false),
        Some(_) => {
            return Err(invalid(
                "invalid_status",
                "status must be \"validated\" or \"pending_validation\"",
            ));
        }
    }
    if let Some(trim) = fields.get("trim") {
        change.trim = Some(valid_trim(trim, rec.duration_ms)?);
    }
    if let Some(owner) = fields.get("owner") {
        let owner = owner.clone();
        let found = state
            .recordings()
            .with_store(move |s| s.account_by_id_or_email(&owner))
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| {
                invalid(
                    "unknown_account",
                    "owner must be the id or the e-mail of an account (GET /api/v1/accounts)",
                )
            })?;
        change.owner = Some(found.id);
    }
    Ok(change)
}

/// `{"start": seconds, "end": seconds}` inside the recording, start before end; or null.
fn valid_trim(v: &Value, duration_ms: u64) -> Result<Option<Trim>, ApiError> {
    if v.is_null() {
        return Ok(None);
    }
    let secs = |k: &str| v.get(k).and_then(Value::as_f64);
    let bad = || {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_trim",
            format!(
                "trim must be {{\"start\": seconds, \"end\": seconds}} with 0 <= start < end <= \
                 {:.3} (the recording's duration), or null",
                duration_ms as f64 / 1000.0
            ),
        )
    };
    let (Some(start), Some(end)) = (secs("start"), secs("end")) else {
        return Err(bad());
    };
    if v.as_object().is_some_and(|o| o.len() != 2) {
        return Err(bad());
    }
    Trim::within(start * 1000.0, end * 1000.0, duration_ms)
        .map(Some)
        .ok_or_else(bad)
}

/// A byte range asked for by `Range`, inclusive, or why it cannot be served.
#[derive(Debug, PartialEq, Eq)]
enum RangeAsk {
    /// No `Range` (or one we may ignore: another unit, several ranges): the whole file.
    Whole,
    Part(u64, u64),
    Unsatisfiable,
}

/// RFC 9110 §14.1.2: `bytes=first-last`, `bytes=first-`, `bytes=-suffix`. One range only;
/// several are answered with the whole file, as §14.2 allows.
fn parse_range(header: Option<&str>, len: u64) -> RangeAsk {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Unsatisfiable;
    };
    let (a, b) = (a.trim(), b.trim());
    let parse = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.is_empty(), parse(a), parse(b)) {
        // Suffix: the last n bytes.
        (true, _, Some(n)) if n > 0 && len > 0 => RangeAsk::Part(len - n.min(len), len - 1),
        (false, Some(first), None) if b.is_empty() && first < len => RangeAsk::Part(first, len - 1),
        (false, Some(first), Some(last)) if first <= last && first < len => {
            RangeAsk::Part(first, last.min(len - 1))
        }
        _ => RangeAsk::Unsatisfiable,
    }
}

/// `GET /api/v1/recordings/{id}/download`: the file, `Range` answered with 206 (or 416).
#[utoipa::path(get, path = "/api/v1/recordings/{id}/download", tag = "recordings", security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "The recording's id"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. bytes=0-1023")),
    responses((status = 200, description = "The whole file (video/mp4)", content_type = "video/mp4"),
        (status = 206, description = "The asked range", content_type = "video/mp4"), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such recording, or not visible to you (recording_not_found)", body = ErrorBody),
        (status = 416, description = "A range outside the file (range_not_satisfiable)", body = ErrorBody)))]
pub(crate) async fn download(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rec = load(&state, &id, &organizer).await?;
    serve_file(&state, &rec, &headers, Disposition::Inline).await
}

/// `GET /api/v1/recordings/{id}/chat`: the meeting's chat said while it was recorded, as a
/// text file beside the recording (one line per message: time, name, text).
#[utoipa::path(get, path = "/api/v1/recordings/{id}/chat", tag = "recordings", security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "The recording's id")),
    responses((status = 200, description = "The chat (text/plain; charset=utf-8)", content_type = "text/plain"),
        (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such recording, or not visible to you (recording_not_found); nobody chatted while it recorded (chat_not_found)", body = ErrorBody)))]
pub(crate) async fn chat(
    State(state): State<AppState>,
    Authed(organizer): Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let rec = load(&state, &id, &organizer).await?;
    let key = FileKey::parse(&rec.file)
        .ok_or_else(|| ApiError::internal(format!("recording {}: bad file name", rec.id.0)))?
        .chat();
    let path = state
        .recordings()
        .storage()
        .local_path(&key)
        .ok_or_else(|| ApiError::internal("storage has no local path".to_owned()))?;
    let text = match tokio::fs::read(&path).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "chat_not_found",
                "nobody chatted while this recording was made",
            ));
        }
        Err(e) => return Err(ApiError::internal(format!("{}: {e}", path.display()))),
    };
    let name = format!("attachment; filename=\"recording-{}-chat.txt\"", rec.id.0);
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        text,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&name) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// How a served file is offered to the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    /// Played in place.
    Inline,
    /// Saved, named after the recording's title.
    Attachment,
}

/// The whole original file of `rec`, with HTTP Range.
async fn serve_file(
    state: &AppState,
    rec: &Recording,
    headers: &HeaderMap,
    disposition: Disposition,
) -> Result<Response, ApiError> {
    let path = local_file(state, rec)?;
    let len = tokio::fs::metadata(&path)
        .await
        .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?
        .len();
    let mut response = serve_pieces(&path, vec![Piece::File { offset: 0, len }], headers).await?;
    let h = response.headers_mut();
    let value = match disposition {
        Disposition::Inline => format!("inline; filename=\"recording-{}.mp4\"", rec.id.0),
        Disposition::Attachment => format!("attachment; filename=\"{}\"", attachment_name(rec)),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// A download's file name: the title's letters, digits and dashes, and `.mp4`.
fn attachment_name(rec: &Recording) -> String {
    let mut name: String = rec
        .title
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = name.trim_matches('-');
    let name = if name.is_empty() { "recording" } else { name };
    format!("{}-{}.mp4", &name[..name.len().min(80)], rec.id.0)
}

fn link_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such link: it was never valid, or the recording is no longer validated",
    )
}

/// The validated recording of a watch (`watch = true`) or download token.
pub(crate) async fn by_link(
    state: &AppState,
    token: &str,
    watch: bool,
) -> Result<Recording, ApiError> {
    let token = token.to_owned();
    state
        .recordings()
        .with_store(move |s| {
            if watch {
                s.recording_by_watch_token(&token)
            } else {
                s.recording_by_download_token(&token)
            }
        })
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(link_not_found)
}

/// `GET /d/{token}`: the whole original file, as an attachment; no account needed.
pub(crate) async fn download_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rec = by_link(&state, &token, false).await?;
    serve_file(&state, &rec, &headers, Disposition::Attachment).await
}

/// `GET /w/{token}/media`: what the watch page plays; no account needed.
pub(crate) async fn watch_media(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rec = by_link(&state, &token, true).await?;
    let Some(trim) = rec.trim else {
        return serve_file(&state, &rec, &headers, Disposition::Inline).await;
    };
    // The window only: its fragments, re-timed to start at 0; nothing outside is served.
    let path = local_file(&state, &rec)?;
    let (start, end) = (trim.start_ms as f64 / 1000.0, trim.end_ms as f64 / 1000.0);
    let file = path.clone();
    let window = tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::FileExt as _;
        let f = std::fs::File::open(&file)?;
        let len = f.metadata()?.len();
        pont_record::mp4::window(
            len,
            |offset, want| {
                let mut buf = vec![0u8; want];
                let mut got = 0;
                while got < want {
                    match f.read_at(&mut buf[got..], offset + got as u64)? {
                        0 => break,
                        n => got += n,
                    }
                }
                buf.truncate(got);
                Ok::<_, std::io::Error>(buf)
            },
            start,
            end,
        )
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(format!("read {}: {e}", path.display())))?
    .ok_or_else(|| ApiError::internal(format!("recording {}: no media in its window", rec.id.0)))?;
    serve_pieces(&path, window.pieces, &headers).await
}

fn local_file(state: &AppState, rec: &Recording) -> Result<std::path::PathBuf, ApiError> {
    let key = FileKey::parse(&rec.file)
        .ok_or_else(|| ApiError::internal(format!("recording {}: bad file name", rec.id.0)))?;
    state
        .recordings()
        .storage()
        .local_path(&key)
        .ok_or_else(|| ApiError::internal("storage has no local path".to_owned()))
}

/// Serves a view made of pieces (bytes, and ranges of the file at `path`) as one `video/mp4`,
/// with HTTP Range over the view.
async fn serve_pieces(
    path: &std::path::Path,
    pieces: Vec<Piece>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let len: u64 = pieces.iter().map(Piece::len).sum();
    let range = parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        len,
    );
    let (status, start, count) = match range {
        RangeAsk::Whole => (StatusCode::OK, 0, len),
        RangeAsk::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        RangeAsk::Unsatisfiable => return Ok(unsatisfiable(len)),
    };
    // The pieces of [start, start + count), cut to it.
    let mut span = Vec::new();
    let (mut at, stop) = (0u64, start + count);
    for piece in pieces {
        let (a, b) = (at, at + piece.len());
        at = b;
        if b <= start || a >= stop {
            continue;
        }
        let (from, to) = (start.max(a) - a, stop.min(b) - a);
        span.push(match piece {
            Piece::Bytes(bytes) => Piece::Bytes(bytes[from as usize..to as usize].to_vec()),
            Piece::File { offset, .. } => Piece::File {
                offset: offset + from,
                len: to - from,
            },
        });
    }
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ApiError::internal(format!("open {}: {e}", path.display())))?;
    span.reverse();
    let stream = futures_util::stream::unfold((file, span), |(mut file, mut span)| async move {
        let piece = span.pop()?;
        match piece {
            Piece::Bytes(bytes) => Some((Ok::<_, std::io::Error>(bytes), (file, span))),
            Piece::File { offset, len } => {
                let want = usize::try_from(len)
                    .unwrap_or(DOWNLOAD_CHUNK)
                    .min(DOWNLOAD_CHUNK);
                let mut buf = vec![0u8; want];
                let read = async {
                    file.seek(std::io::SeekFrom::Start(offset)).await?;
                    file.read_exact(&mut buf).await
                };
                match read.await {
                    Ok(_) => {
                        if (want as u64) < len {
                            span.push(Piece::File {
                                offset: offset + want as u64,
                                len: len - want as u64,
                            });
                        }
                        Some((Ok(buf), (file, span)))
                    }
                    Err(e) => Some((Err(e), (file, Vec::new()))),
                }
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", start + count - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(response)
}

fn unsatisfiable(len: u64) -> Response {
    let mut r = ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "range_not_satisfiable",
        format!("the file has {len} bytes"),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
        r.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    r
}

/// `GET /api/v1/public/recordings`: the public catalogue, no token.
#[utoipa::path(get, path = "/api/v1/public/recordings", tag = "recordings",
    responses((status = 200, description = "{\"recordings\": [...]}: validated public recordings, newest first", body = serde_json::Value)))]
pub(crate) async fn public_list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let list = state
        .recordings()
        .with_store(|s| s.public_recordings())
        .await
        .map_err(ApiError::internal)?;
    let items: Vec<Value> = list
        .iter()
        .map(|r| {
            let mut v = recording_json(&state, r);
            // What an anonymous viewer may know: not who owns it, nor the organizers' API.
            if let Some(o) = v.as_object_mut() {
                for k in [
                    "owner_id",
                    "meeting_id",
                    "download_url",
                    "sha256",
                    "delete_at",
                ] {
                    o.remove(k);
                }
            }
            v
        })
        .collect();
    Ok(Json(json!({ "recordings": items })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        use RangeAsk::*;
        let r = |h: &str| parse_range(Some(h), 1000);
        assert_eq!(parse_range(None, 1000), Whole);
        assert_eq!(r("bytes=0-99"), Part(0, 99));
        assert_eq!(r("bytes=900-"), Part(900, 999));
        assert_eq!(r("bytes=-100"), Part(900, 999));
        assert_eq!(r("bytes=-5000"), Part(0, 999));
        assert_eq!(r("bytes=990-5000"), Part(990, 999));
        assert_eq!(r("bytes=1000-"), Unsatisfiable);
        assert_eq!(r("bytes=5-2"), Unsatisfiable);
        assert_eq!(r("bytes=abc"), Unsatisfiable);
        assert_eq!(r("bytes=-0"), Unsatisfiable);
        assert_eq!(r("bytes=+1-2"), Unsatisfiable);
        assert_eq!(r("bytes=0-1,5-6"), Whole);
        assert_eq!(r("items=0-1"), Whole);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
    }
}
