//! The meetings API: plan, list, change and cancel meetings and their occurrences, and the
//! calendar range. The rules (calendar checks, overlap warnings, invitation mails) are the
//! portal's `planning` module, shared with the "Plan a meeting" form; this module maps JSON to
//! it and its refusals to 4xx bodies.

// utoipa's `IntoParams` expansion names the query types by a path the lint calls redundant.
#![allow(unused_qualifications)]

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use pont_meet::{Account, Meeting, MeetingId};
use pont_portal::planning::{self, PlanFailure, Slot, Warning};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::http::{ApiError, AppState, Authed, MeetingBody, ScheduledMeetingRequest, unix_now};
use crate::openapi::ErrorBody;

/// The widest range one listing may ask for: a little over a year.
const MAX_RANGE_SECS: i64 = 400 * 86_400;

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WarningBody {
    /// Always `busy`.
    code: &'static str,
    email: String,
    meeting_id: i64,
    subject: String,
    /// RFC 3339 UTC.
    start: String,
    end: String,
}

fn warning_body(w: Warning) -> WarningBody {
    WarningBody {
        code: "busy",
        email: w.email,
        meeting_id: w.meeting_id,
        subject: w.subject,
        start: pont_meet::rfc3339::format_utc(w.start),
        end: pont_meet::rfc3339::format_utc(w.end),
    }
}

/// A meeting and the warnings its plan raised.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PlannedBody {
    #[serde(flatten)]
    meeting: Option<MeetingBody>,
    warnings: Vec<WarningBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SlotBody {
    meeting_id: i64,
    /// RFC 3339 UTC: the start the series gives it (the key of `/occurrences/{start}`).
    original_start: String,
    start: String,
    end: String,
    changed: bool,
    cancelled: bool,
}

fn slot_body(s: &Slot) -> SlotBody {
    SlotBody {
        meeting_id: s.meeting,
        original_start: pont_meet::rfc3339::format_utc(s.original_start),
        start: pont_meet::rfc3339::format_utc(s.start),
        end: pont_meet::rfc3339::format_utc(s.end),
        changed: s.changed,
        cancelled: s.cancelled,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CheckQuery {
    /// `true`: return the warnings, save nothing.
    #[serde(default)]
    check: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RangeQuery {
    /// RFC 3339; default now.
    #[serde(default)]
    from: Option<String>,
    /// RFC 3339; default `from` + 31 days.
    #[serde(default)]
    to: Option<String>,
}

fn plan_error(e: PlanFailure, id: &str) -> ApiError {
    match e {
        PlanFailure::Invalid(e) => ApiError::invalid(e.code, e.message),
        PlanFailure::NotFound => ApiError::meeting_not_found(id),
        PlanFailure::Store(e) => ApiError::internal(e.to_string()),
    }
}

/// The range of a listing: both ends RFC 3339, `to` after `from`, at most ~a year apart.
fn range(q: &RangeQuery, now: i64) -> Result<(i64, i64), ApiError> {
    let parse = |field: &'static str, text: &str| {
        pont_meet::rfc3339::parse(text).map_err(|e| {
            ApiError::invalid("invalid_range", format!("{field} must be RFC 3339: {e}"))
        })
    };
    let from = q
        .from
        .as_deref()
        .map(|t| parse("from", t))
        .transpose()?
        .unwrap_or(now);
    let to =
        q.to.as_deref()
            .map(|t| parse("to", t))
            .transpose()?
            .unwrap_or(from + 31 * 86_400);
    if to <= from {
        return Err(ApiError::invalid("invalid_range", "to must be after from"));
    }
    if to - from > MAX_RANGE_SECS {
        return Err(ApiError::invalid(
            "range_too_long",
            "a range may span at most 400 days",
        ));
    }
    Ok((from, to))
}

async fn account(state: &AppState, who: &pont_meet::Organizer) -> Result<Account, ApiError> {
    let id = who.id;
    state
        .db(move |s| s.account(id))
        .await?
        .ok_or_else(|| ApiError::internal("the signed-in account vanished".into()))
}

fn meeting_key(id: &str) -> Result<MeetingId, ApiError> {
    Some(id)
        .filter(|s| !s.is_empty() && s.len() < 19 && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<i64>().ok())
        .map(MeetingId)
        .ok_or_else(|| ApiError::meeting_not_found(id))
}

async fn own_meeting(
    state: &AppState,
    who: &pont_meet::Organizer,
    id: &str,
) -> Result<Meeting, ApiError> {
    let key = meeting_key(id)?;
    let me = who.id;
    state
        .db(move |s| s.meeting(key))
        .await?
        .filter(|m| m.organizer == me)
        .ok_or_else(|| ApiError::meeting_not_found(id))
}

async fn recording_owner(
    state: &AppState,
    owner: Option<Value>,
) -> Result<Option<pont_meet::OrganizerId>, ApiError> {
    let Some(owner) = owner.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let found = state
        .db(move |s| s.account_by_id_or_email(&owner))
        .await?
        .ok_or_else(|| {
            ApiError::invalid(
                "unknown_account",
                "recording_owner must be the id or the e-mail of an account",
            )
        })?;
    Ok(Some(found.id))
}

/// `POST /api/v1/meetings[?check=true]` → 201 with the meeting and `warnings` (an overlap
/// never refuses); with `check`, 200 with the warnings only.
#[utoipa::path(post, path = "/api/v1/meetings", tag = "meetings", security(("bearer" = []), ("session" = [])),
    params(CheckQuery),
    request_body = ScheduledMeetingRequest,
    responses((status = 201, description = "The meeting, with its room number, web link, dial-in and warnings", body = PlannedBody), (status = 200, description = "check=true: the warnings", body = PlannedBody), (status = 400, description = "The body is not JSON", body = ErrorBody), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 403, description = "A cookie-borne change without Origin or X-CSRF-Token (csrf_failed)", body = ErrorBody), (status = 422, description = "A field with a value the API does not accept", body = ErrorBody)))]
pub(crate) async fn create_meeting(
    State(state): State<AppState>,
    Authed(who): Authed,
    Query(q): Query<CheckQuery>,
    body: Result<Json<ScheduledMeetingRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<PlannedBody>), ApiError> {
    let Json(mut request) = body?;
    let owner = request.recording_owner.take();
    let portal = state.portal().clone();
    let mut new = request.validate(&portal.config().default_timezone)?;
    new.recording_owner = recording_owner(&state, owner).await?;
    let organizer = account(&state, &who).await?;
    let check = q.check.unwrap_or(false);
    let planned = portal
        .plan_meeting(organizer, new, check, unix_now())
        .await
        .map_err(|e| plan_error(e, ""))?;
    let status = if check {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    if let Some(m) = &planned.meeting {
        tracing::info!(room = %m.room.number, meeting = m.id.0, warnings = planned.warnings.len(), "scheduled meeting created");
    }
    Ok((
        status,
        Json(PlannedBody {
            meeting: planned.meeting.map(|m| state.meeting_body(m)),
            warnings: planned.warnings.into_iter().map(warning_body).collect(),
        }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MeetingList {
    meetings: Vec<MeetingBody>,
}

/// `GET /api/v1/meetings?from=&to=` → the caller's meetings with an occurrence in the range
/// (default: the next 31 days), and the instant ones created in it.
#[utoipa::path(get, path = "/api/v1/meetings", tag = "meetings", security(("bearer" = []), ("session" = [])),
    params(RangeQuery),
    responses((status = 200, description = "The meetings", body = MeetingList), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 422, description = "A bad range (invalid_range, range_too_long)", body = ErrorBody)))]
pub(crate) async fn list_meetings(
    State(state): State<AppState>,
    Authed(who): Authed,
    Query(q): Query<RangeQuery>,
) -> Result<Json<MeetingList>, ApiError> {
    let (from, to) = range(&q, unix_now())?;
    let me = who.id;
    let all = state.db(move |s| s.meetings_of(me, 10_000)).await?;
    let meetings = all
        .into_iter()
        .filter(|m| match planning::slots(m, from, to) {
            Ok(slots) if m.start_at.is_some() => !slots.is_empty(),
            _ => m.start_at.is_none() && (from..to).contains(&m.created_at),
        })
        .map(|m| state.meeting_body(m))
        .collect();
    Ok(Json(MeetingList { meetings }))
}

/// `GET /api/v1/meetings/{id}` → the meeting, for the organizer who created it; anyone else
/// gets the same 404 as for a meeting that does not exist.
#[utoipa::path(get, path = "/api/v1/meetings/{id}", tag = "meetings", security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "The meeting's id")),
    responses((status = 200, description = "The meeting", body = MeetingBody), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such meeting of yours (meeting_not_found)", body = ErrorBody)))]
pub(crate) async fn get_meeting(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(id): Path<String>,
) -> Result<Json<MeetingBody>, ApiError> {
    let meeting = own_meeting(&state, &who, &id).await?;
    Ok(Json(state.meeting_body(meeting)))
}

/// The request a stored meeting would have been created with: a PATCH is applied onto it.
fn request_of(m: &Meeting) -> serde_json::Map<String, Value> {
    let mut r = serde_json::Map::new();
    r.insert("subject".into(), m.subject.clone().into());
    if let Some(start) = m.start_at {
        r.insert("start".into(), pont_meet::rfc3339::format_utc(start).into());
    }
    if let Some(d) = m.duration_secs {
        r.insert("duration".into(), (d / 60).into());
    }
    r.insert("category".into(), m.room.category.as_str().into());
    r.insert("recording".into(), m.recording.into());
    if let Some(pin) = &m.room.pin {
        r.insert("pin".into(), pin.as_str().into());
    }
    r.insert("invitees".into(), m.invitees.clone().into());
    let rec = if m.recurrence == pont_meet::Recurrence::None {
        Value::from("none")
    } else {
        serde_json::json!({
            "freq": m.recurrence.as_str(),
            "weekdays": m.plan.weekdays,
            "until": m.plan.until,
        })
    };
    r.insert("recurrence".into(), rec);
    if let Some(o) = m.recording_owner {
        r.insert("recording_owner".into(), o.0.into());
    }
    r.insert("timezone".into(), m.plan.timezone.clone().into());
    if let Some(e) = &m.plan.entity {
        r.insert("entity".into(), e.clone().into());
    }
    r.insert("waiting_room".into(), m.plan.waiting_room.into());
    r.insert("phone_dial_in".into(), m.plan.phone_dial_in.into());
    if let Some(u) = &m.plan.streaming_url {
        r.insert("streaming_url".into(), u.clone().into());
    }
    r
}

/// `PATCH /api/v1/meetings/{id}[?check=true]` with any fields of the creation body → the
/// whole series changed (an update mailed to its invitees), with `warnings`.
#[utoipa::path(patch, path = "/api/v1/meetings/{id}", tag = "meetings", security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "The meeting's id"), CheckQuery),
    request_body = Object,
    responses((status = 200, description = "The meeting as it now is, and warnings", body = PlannedBody), (status = 400, description = "The body is not a JSON object", body = ErrorBody), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such meeting of yours (meeting_not_found)", body = ErrorBody), (status = 422, description = "A field with a value the API does not accept", body = ErrorBody)))]
pub(crate) async fn patch_meeting(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(id): Path<String>,
    Query(q): Query<CheckQuery>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<PlannedBody>, ApiError> {
    let Json(patch) = body?;
    let Value::Object(patch) = patch else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the body must be a JSON object",
        ));
    };
    let meeting = own_meeting(&state, &who, &id).await?;
    if meeting.start_at.is_none() {
        return Err(ApiError::invalid(
            "instant_meeting",
            "an instant meeting has no schedule to change",
        ));
    }
    let mut merged = request_of(&meeting);
    for (k, v) in patch {
        merged.insert(k, v);
    }
    let mut request: ScheduledMeetingRequest = serde_json::from_value(Value::Object(merged))
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                e.to_string(),
            )
        })?;
    let owner = request.recording_owner.take();
    let portal = state.portal().clone();
    let mut new = request.validate(&portal.config().default_timezone)?;
    new.recording_owner = recording_owner(&state, owner).await?;
    let organizer = account(&state, &who).await?;
    let planned = portal
        .change_meeting(
            organizer,
            meeting.id,
            new,
            q.check.unwrap_or(false),
            unix_now(),
        )
        .await
        .map_err(|e| plan_error(e, &id))?;
    Ok(Json(PlannedBody {
        meeting: planned.meeting.map(|m| state.meeting_body(m)),
        warnings: planned.warnings.into_iter().map(warning_body).collect(),
    }))
}

/// `DELETE /api/v1/meetings/{id}` → 204: the series cancelled, a cancellation mailed.
#[utoipa::path(delete, path = "/api/v1/meetings/{id}", tag = "meetings", security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "The meeting's id")),
    responses((status = 204, description = "Cancelled"), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such meeting of yours (meeting_not_found)", body = ErrorBody)))]
pub(crate) async fn delete_meeting(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let key = meeting_key(&id)?;
    let organizer = account(&state, &who).await?;
    state
        .portal()
        .cancel_meeting(organizer, key, unix_now())
        .await
        .map_err(|e| plan_error(e, &id))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OccurrenceList {
    occurrences: Vec<SlotBody>,
}

/// `GET /api/v1/meetings/{id}/occurrences?from=&to=` → its occurrences in the range,
/// cancelled ones flagged.
#[utoipa::path(get, path = "/api/v1/meetings/{id}/occurrences", tag = "meetings", security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "The meeting's id"), RangeQuery),
    responses((status = 200, description = "The occurrences", body = OccurrenceList), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such meeting of yours (meeting_not_found)", body = ErrorBody), (status = 422, description = "A bad range", body = ErrorBody)))]
pub(crate) async fn occurrences(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<OccurrenceList>, ApiError> {
    let meeting = own_meeting(&state, &who, &id).await?;
    let (from, to) = range(&q, meeting.start_at.unwrap_or_else(unix_now))?;
    let slots =
        planning::slots(&meeting, from, to).map_err(|e| ApiError::invalid(e.code, e.message))?;
    Ok(Json(OccurrenceList {
        occurrences: slots.iter().map(slot_body).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OccurrenceRequest {
    /// The new start, RFC 3339.
    #[serde(default)]
    start: Option<String>,
    /// Minutes.
    #[serde(default)]
    duration: Option<u32>,
}

/// `PATCH /api/v1/meetings/{id}/occurrences/{start}` `{"start", "duration"}` → the occurrence
/// moved (an exception of the series; an update mailed).
#[utoipa::path(patch, path = "/api/v1/meetings/{id}/occurrences/{start}", tag = "meetings", security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "The meeting's id"), ("start" = String, Path, description = "The occurrence's original start, RFC 3339 UTC")),
    request_body = OccurrenceRequest,
    responses((status = 200, description = "The meeting as it now is", body = MeetingBody), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such meeting of yours", body = ErrorBody), (status = 422, description = "No occurrence then (occurrence_not_found), a bad start or duration", body = ErrorBody)))]
pub(crate) async fn patch_occurrence(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path((id, start)): Path<(String, String)>,
    body: Result<Json<OccurrenceRequest>, JsonRejection>,
) -> Result<Json<MeetingBody>, ApiError> {
    let Json(request) = body?;
    let meeting = own_meeting(&state, &who, &id).await?;
    let original = occurrence_start(&start)?;
    let new_start = match request.start.as_deref() {
        Some(t) => pont_meet::rfc3339::parse(t).map_err(|e| {
            ApiError::invalid("invalid_start", format!("start must be RFC 3339: {e}"))
        })?,
        None => original,
    };
    if let Some(text) = request.start.as_deref() {
        let tz = planning::zone(&meeting.plan.timezone)
            .map_err(|e| ApiError::invalid(e.code, e.message))?;
        crate::http::check_local_start(text, new_start, &tz)?;
    }
    let minutes = request
        .duration
        .or(meeting.duration_secs.map(|s| s / 60))
        .unwrap_or(60);
    if !(1..=24 * 60).contains(&minutes) {
        return Err(ApiError::invalid(
            "invalid_duration",
            "duration must be 1 to 1440 minutes",
        ));
    }
    let organizer = account(&state, &who).await?;
    let m = state
        .portal()
        .change_occurrence(
            organizer,
            meeting.id,
            original,
            Some((new_start, minutes * 60)),
            unix_now(),
        )
        .await
        .map_err(|e| plan_error(e, &id))?;
    Ok(Json(state.meeting_body(m)))
}

/// `DELETE /api/v1/meetings/{id}/occurrences/{start}` → 204: that occurrence cancelled (a
/// cancellation of it mailed), the series kept.
#[utoipa::path(delete, path = "/api/v1/meetings/{id}/occurrences/{start}", tag = "meetings", security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "The meeting's id"), ("start" = String, Path, description = "The occurrence's original start, RFC 3339 UTC")),
    responses((status = 204, description = "Cancelled"), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 404, description = "No such meeting of yours", body = ErrorBody), (status = 422, description = "No occurrence then (occurrence_not_found)", body = ErrorBody)))]
pub(crate) async fn delete_occurrence(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path((id, start)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let meeting = own_meeting(&state, &who, &id).await?;
    let original = occurrence_start(&start)?;
    let organizer = account(&state, &who).await?;
    state
        .portal()
        .change_occurrence(organizer, meeting.id, original, None, unix_now())
        .await
        .map_err(|e| plan_error(e, &id))?;
    Ok(StatusCode::NO_CONTENT)
}

fn occurrence_start(text: &str) -> Result<i64, ApiError> {
    pont_meet::rfc3339::parse(text).map_err(|e| {
        ApiError::invalid(
            "occurrence_not_found",
            format!("the occurrence is named by its original start, RFC 3339 UTC: {e}"),
        )
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CalendarEntry {
    #[serde(flatten)]
    slot: SlotBody,
    subject: String,
    room_number: u64,
    web_link: String,
    /// Whether the caller organizes it (else: invited).
    organizer: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CalendarBody {
    occurrences: Vec<CalendarEntry>,
}

/// `GET /api/v1/calendar?from=&to=` → the occurrences of the meetings the caller organizes or
/// is invited to, by start.
#[utoipa::path(get, path = "/api/v1/calendar", tag = "meetings", security(("bearer" = []), ("session" = [])),
    params(RangeQuery),
    responses((status = 200, description = "The occurrences in the range", body = CalendarBody), (status = 401, description = "No or a bad token or session", body = ErrorBody), (status = 422, description = "A bad range", body = ErrorBody)))]
pub(crate) async fn calendar(
    State(state): State<AppState>,
    Authed(who): Authed,
    Query(q): Query<RangeQuery>,
) -> Result<Json<CalendarBody>, ApiError> {
    let (from, to) = range(&q, unix_now())?;
    let me = account(&state, &who).await?;
    let public_url = state.public_url().to_owned();
    let entries = state
        .portal()
        .calendar(me.clone(), from, to)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(CalendarBody {
        occurrences: entries
            .into_iter()
            .map(|(m, slot)| CalendarEntry {
                slot: slot_body(&slot),
                subject: m.subject.clone(),
                room_number: m.room.number.0,
                web_link: format!("{public_url}/r/{}", m.room.number),
                organizer: m.organizer == me.id,
            })
            .collect(),
    }))
}
