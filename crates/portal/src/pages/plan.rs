//! The planning pages: "Plan a meeting" (also the series' edit form), a meeting's page, an
//! occurrence's page (Save, Save series, Delete, Delete series), the calendar in day, week
//! and month views, and the personal iCalendar feed. They call the same `planning` functions
//! as the API, so the form refuses what the API refuses, with the catalogue's words for it.

use pont_meet::{Category, MeetingId, Pin};
use pont_schedule::Series;
use pont_schedule::jiff::Span;
use pont_schedule::jiff::civil::{Date, Time};
use pont_schedule::jiff::tz::TimeZone;

use super::*;
use crate::planning::{self, PlanError, PlanFailure, Slot, WEEKDAYS, Warning, ts};

/// Longest meeting, in minutes (as the API).
const MAX_DURATION_MINUTES: u32 = 24 * 60;

/// Most invitees of one meeting (as the API).
const MAX_INVITEES: usize = 200;

/// Durations the form offers, in minutes (any other stored value is offered too).
const DURATIONS: [u32; 9] = [15, 30, 45, 60, 90, 120, 180, 240, 480];

/// Zones the form suggests; any IANA name is accepted.
const ZONES: [&str; 12] = [
    "Europe/Paris",
    "Europe/Brussels",
    "Europe/Luxembourg",
    "Europe/Zurich",
    "Europe/London",
    "America/Toronto",
    "America/Guadeloupe",
    "America/Cayenne",
    "Indian/Reunion",
    "Pacific/Noumea",
    "Pacific/Tahiti",
    "UTC",
];

/// The calendar's hours when nothing is earlier or later.
const DAY_FIRST_HOUR: i8 = 8;
const DAY_LAST_HOUR: i8 = 19;

/// Entries a month cell shows before "+ n more".
const MONTH_CELL_ENTRIES: usize = 3;

/// How far "All your meetings" looks ahead.
const LIST_AHEAD_SECS: i64 = 92 * 86_400;

pub(super) fn routes() -> Router<Portal> {
    Router::new()
        .route("/meetings/new", get(new_form).post(new_submit))
        .route("/meetings/{id}", get(meeting_page))
        .route("/meetings/{id}/edit", get(edit_form_page).post(edit_submit))
        .route("/meetings/{id}/delete", post(delete_series))
        .route(
            "/meetings/{id}/occurrences/{start}",
            get(occurrence_page).post(occurrence_submit),
        )
        .route("/calendar", get(calendar_page))
        .route("/calendar/feed/{file}", get(feed))
}

// ---- the form ----

/// The form's fields as sent (check boxes are present only when ticked; weekdays are one box
/// each, as a plain form sends repeated names the decoder would not gather).
#[derive(Debug, Default, Deserialize)]
struct PlanFields {
    csrf: Option<String>,
    subject: Option<String>,
    date: Option<String>,
    time: Option<String>,
    duration: Option<String>,
    timezone: Option<String>,
    entity: Option<String>,
    invitees: Option<String>,
    invite_me: Option<String>,
    category: Option<String>,
    repeat: Option<String>,
    wd_mon: Option<String>,
    wd_tue: Option<String>,
    wd_wed: Option<String>,
    wd_thu: Option<String>,
    wd_fri: Option<String>,
    wd_sat: Option<String>,
    wd_sun: Option<String>,
    until: Option<String>,
    recording: Option<String>,
    recording_owner: Option<String>,
    streaming: Option<String>,
    streaming_url: Option<String>,
    pin: Option<String>,
    waiting_room: Option<String>,
    phone_dial_in: Option<String>,
    /// `1`: the warnings were seen ("Ignore and save").
    confirm: Option<String>,
}

/// What the form shows: the values as typed (a refused form comes back as it was sent).
#[derive(Debug, Clone, Default)]
struct PlanForm {
    subject: String,
    date: String,
    time: String,
    duration: String,
    timezone: String,
    entity: String,
    invitees: String,
    invite_me: bool,
    category: String,
    repeat: String,
    weekdays: [bool; 7],
    until: String,
    recording: bool,
    recording_owner: String,
    streaming: bool,
    streaming_url: String,
    pin: String,
    waiting_room: bool,
    phone_dial_in: bool,
}

fn ticked(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|v| !v.is_empty())
}

fn text(v: Option<String>) -> String {
    v.unwrap_or_default().trim().to_owned()
}

impl PlanForm {
    fn of(f: PlanFields) -> Self {
        Self {
            weekdays: [
                ticked(&f.wd_mon),
                ticked(&f.wd_tue),
                ticked(&f.wd_wed),
                ticked(&f.wd_thu),
                ticked(&f.wd_fri),
                ticked(&f.wd_sat),
                ticked(&f.wd_sun),
            ],
            invite_me: ticked(&f.invite_me),
            recording: ticked(&f.recording),
            streaming: ticked(&f.streaming),
            waiting_room: ticked(&f.waiting_room),
            phone_dial_in: ticked(&f.phone_dial_in),
            subject: text(f.subject),
            date: text(f.date),
            time: text(f.time),
            duration: text(f.duration),
            timezone: text(f.timezone),
            entity: text(f.entity),
            invitees: f.invitees.unwrap_or_default(),
            category: text(f.category),
            repeat: text(f.repeat),
            until: text(f.until),
            recording_owner: text(f.recording_owner),
            streaming_url: text(f.streaming_url),
            pin: text(f.pin),
        }
    }

    /// A new meeting's form: the next full hour today (or tomorrow), an hour, the default zone.
    fn blank(portal: &Portal, now: i64) -> Self {
        let tz = display_zone(portal);
        let next_hour = ts(now - now.rem_euclid(3600) + 3600).to_zoned_datetime(tz);
        Self {
            date: next_hour.date().to_string(),
            time: next_hour.strftime("%H:%M").to_string(),
            duration: "60".into(),
            timezone: portal.config().default_timezone.clone(),
            category: "video".into(),
            repeat: "none".into(),
            invite_me: true,
            phone_dial_in: true,
            ..Self::default()
        }
    }

    /// The form of a stored meeting (the series' edit form).
    fn of_meeting(m: &Meeting, owner_email: Option<String>, me: &Account) -> Self {
        let tz = planning::zone(&m.plan.timezone).unwrap_or(TimeZone::UTC);
        let start = ts(m.start_at.unwrap_or(0)).to_zoned_datetime(tz);
        let mut weekdays = [false; 7];
        for d in &m.plan.weekdays {
            if let Some(i) = WEEKDAYS.iter().position(|w| w == d) {
                weekdays[i] = true;
            }
        }
        let my_email = me.email.as_deref().unwrap_or("");
        let invite_me = m.invitees.iter().any(|e| e.eq_ignore_ascii_case(my_email));
        let invitees: Vec<&str> = m
            .invitees
            .iter()
            .filter(|e| !(invite_me && e.eq_ignore_ascii_case(my_email)))
            .map(String::as_str)
            .collect();
        Self {
            subject: m.subject.clone(),
            date: start.date().to_string(),
            time: start.strftime("%H:%M").to_string(),
            duration: (m.duration_secs.unwrap_or(3600) / 60).to_string(),
            timezone: m.plan.timezone.clone(),
            entity: m.plan.entity.clone().unwrap_or_default(),
            invitees: invitees.join("\n"),
            invite_me,
            category: m.room.category.as_str().to_owned(),
            repeat: m.recurrence.as_str().to_owned(),
            weekdays,
            until: m.plan.until.clone().unwrap_or_default(),
            recording: m.recording,
            recording_owner: owner_email.unwrap_or_default(),
            streaming: m.plan.streaming_url.is_some(),
            streaming_url: m.plan.streaming_url.clone().unwrap_or_default(),
            pin: m
                .room
                .pin
                .as_ref()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            waiting_room: m.plan.waiting_room,
            phone_dial_in: m.plan.phone_dial_in,
        }
    }

    fn end_time(&self) -> String {
        let (Ok(time), Ok(minutes)) = (self.time.parse::<Time>(), self.duration.parse::<i64>())
        else {
            return String::new();
        };
        time.wrapping_add(Span::new().minutes(minutes))
            .strftime("%H:%M")
            .to_string()
    }

    fn durations(&self) -> Vec<(String, String)> {
        let mut list: Vec<u32> = DURATIONS.to_vec();
        if let Ok(m) = self.duration.parse::<u32>()
            && !list.contains(&m)
        {
            list.push(m);
            list.sort_unstable();
        }
        list.into_iter()
            .map(|m| {
                let label = if m % 60 == 0 {
                    format!("{} h", m / 60)
                } else if m > 60 {
                    format!("{} h {:02}", m / 60, m % 60)
                } else {
                    format!("{m} min")
                };
                (m.to_string(), label)
            })
            .collect()
    }
}

/// A refused field: which one (for `aria-invalid`) and the message.
struct FieldError {
    field: &'static str,
    message: String,
}

fn field_error(t: &Tr<'_>, field: &'static str, code: &str) -> FieldError {
    FieldError {
        field,
        message: t.get(&format!("plan-error-{code}")),
    }
}

/// The plan's error in the form's words, on the field it is about.
fn plan_error(t: &Tr<'_>, e: &PlanError) -> FieldError {
    let field = match e.code {
        "invalid_timezone" => "timezone",
        "invalid_range" | "too_many_occurrences" | "invalid_recurrence" => "until",
        "invalid_duration" => "duration",
        "invalid_subject" => "subject",
        "invalid_entity" => "entity",
        "invalid_invitees" => "invitees",
        "invalid_streaming_url" => "streaming_url",
        _ => "date",
    };
    field_error(t, field, e.code)
}

/// The meeting the form asks for (without its recording owner, which needs the store).
fn new_meeting(form: &PlanForm, me: &Account, t: &Tr<'_>) -> Result<NewMeeting, FieldError> {
    if form.subject.is_empty() || form.subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err(field_error(t, "subject", "invalid_subject"));
    }
    let tz = planning::zone(&form.timezone).map_err(|e| plan_error(t, &e))?;
    let date =
        planning::parse_date(&form.date).ok_or_else(|| field_error(t, "date", "invalid_date"))?;
    let time = form
        .time
        .parse::<Time>()
        .map_err(|_| field_error(t, "time", "invalid_time"))?;
    let start = pont_schedule::local_instant(date, time, &tz)
        .map_err(|e| field_error(t, "time", planning::local_time_code(&e)))?;
    let duration = form
        .duration
        .parse::<u32>()
        .ok()
        .filter(|m| (1..=MAX_DURATION_MINUTES).contains(m))
        .ok_or_else(|| field_error(t, "duration", "invalid_duration"))?;
    let category = Category::from_name(&form.category).unwrap_or(Category::Video);
    let pin = if form.pin.is_empty() {
        None
    } else {
        Some(Pin::new(&form.pin).map_err(|_| field_error(t, "pin", "invalid_pin"))?)
    };
    let mut invitees: Vec<String> = Vec::new();
    for address in form
        .invitees
        .split(['\n', ',', ';'])
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        // `Name <address>` as mail programs copy it.
        let address = match (address.rfind('<'), address.ends_with('>')) {
            (Some(i), true) => address[i + 1..address.len() - 1].trim(),
            _ => address,
        };
        if !planning::looks_like_email(address) {
            return Err(FieldError {
                field: "invitees",
                message: t.arg("plan-error-invitee", "address", address),
            });
        }
        if !invitees.iter().any(|e| e.eq_ignore_ascii_case(address)) {
            invitees.push(address.to_owned());
        }
    }
    if form.invite_me
        && let Some(mine) = &me.email
        && !invitees.iter().any(|e| e.eq_ignore_ascii_case(mine))
    {
        invitees.push(mine.clone());
    }
    if invitees.len() > MAX_INVITEES {
        return Err(FieldError {
            field: "invitees",
            message: t.count("plan-error-too-many-invitees", "count", MAX_INVITEES as i64),
        });
    }
    let recurrence = match form.repeat.as_str() {
        "" | "none" => Recurrence::None,
        name => Recurrence::from_name(name)
            .ok_or_else(|| field_error(t, "repeat", "invalid_recurrence"))?,
    };
    let mut weekdays = Vec::new();
    if recurrence == Recurrence::Weekly {
        for (i, on) in form.weekdays.iter().enumerate() {
            if *on {
                weekdays.push(WEEKDAYS[i].to_owned());
            }
        }
    }
    let until = if recurrence == Recurrence::None {
        None
    } else if form.until.is_empty() {
        let first = start.to_zoned_datetime(tz.clone()).date();
        Some(planning::default_until(first).to_string())
    } else {
        planning::parse_date(&form.until).ok_or_else(|| field_error(t, "until", "invalid_date"))?;
        Some(form.until.clone())
    };
    let streaming_url = if form.streaming {
        if form.streaming_url.is_empty() {
            return Err(field_error(t, "streaming_url", "invalid_streaming_url"));
        }
        Some(form.streaming_url.clone())
    } else {
        None
    };
    let new = NewMeeting {
        kind: MeetingKind::Scheduled,
        subject: form.subject.clone(),
        category,
        pin,
        start_at: Some(start.as_second()),
        duration_secs: Some(duration * 60),
        recording: form.recording,
        invitees,
        recurrence,
        recording_owner: None,
        plan: pont_meet::Plan {
            timezone: form.timezone.clone(),
            entity: Some(form.entity.clone()).filter(|e| !e.is_empty()),
            waiting_room: form.waiting_room,
            phone_dial_in: form.phone_dial_in,
            streaming_url,
            weekdays,
            until,
        },
    };
    planning::check(&new).map_err(|e| plan_error(t, &e))?;
    Ok(new)
}

struct WarningView {
    text: String,
}

fn warning_views(t: &Tr<'_>, warnings: &[Warning], tz: &TimeZone) -> Vec<WarningView> {
    warnings
        .iter()
        .map(|w| {
            let s = ts(w.start).to_zoned_datetime(tz.clone());
            let e = ts(w.end).to_zoned_datetime(tz.clone());
            let mut args = fluent_bundle::FluentArgs::new();
            args.set("who", w.email.clone());
            args.set("subject", w.subject.clone());
            args.set("organizer", w.organizer.clone());
            args.set(
                "from",
                format!("{} {}", long_date(t, s.date()), s.strftime("%H:%M")),
            );
            args.set("to", e.strftime("%H:%M").to_string());
            WarningView {
                text: t.args("plan-warning-busy", &args),
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "plan_form.html")]
struct PlanPage<'a> {
    l: Layout<'a>,
    /// `/meetings/new` or `/meetings/{id}/edit`.
    action: String,
    editing: bool,
    form: PlanForm,
    error: Option<FieldError>,
    warnings: Vec<WarningView>,
    organizer: String,
    my_email: String,
    mail_configured: bool,
    zones: &'static [&'static str],
    accounts: Vec<(String, String)>,
    cancel_href: String,
}

impl PlanPage<'_> {
    fn invalid(&self, field: &str) -> bool {
        self.error.as_ref().is_some_and(|e| e.field == field)
    }
    fn day_label(&self, i: &usize) -> String {
        self.l.t.get(&format!("day-{}", WEEKDAYS[*i]))
    }
    fn day_code(&self, i: &usize) -> &'static str {
        WEEKDAYS[*i]
    }
    fn repeats(&self) -> Vec<(&'static str, String, bool)> {
        let current = if self.form.repeat.is_empty() {
            "none"
        } else {
            self.form.repeat.as_str()
        };
        [
            ("none", "repeat-none"),
            ("daily", "repeat-every-day"),
            ("weekly", "repeat-every-week"),
            ("monthly", "repeat-every-month"),
        ]
        .into_iter()
        .map(|(value, id)| (value, self.l.t.get(id), value == current))
        .collect()
    }
}

#[allow(clippy::too_many_arguments)]
async fn plan_page(
    portal: &Portal,
    ctx: &Ctx,
    status: StatusCode,
    action: String,
    editing: bool,
    form: PlanForm,
    error: Option<FieldError>,
    warnings: Vec<WarningView>,
) -> Response {
    let Some(session) = &ctx.session else {
        return ctx.sign_in_first();
    };
    let me = session.account.clone();
    let accounts = givable(portal, me.id).await;
    let l = ctx.layout(portal, "meetings");
    let cancel_href = if editing {
        action.trim_end_matches("/edit").to_owned()
    } else {
        "/calendar".to_owned()
    };
    render(
        status,
        &PlanPage {
            l,
            action,
            editing,
            form,
            error,
            warnings,
            organizer: me.name.clone(),
            my_email: me.email.clone().unwrap_or_default(),
            mail_configured: portal.mail_configured(),
            zones: &ZONES,
            accounts,
            cancel_href,
        },
    )
}

/// `GET /meetings/new`.
async fn new_form(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    if ctx.session.is_none() {
        return ctx.sign_in_first();
    }
    let form = PlanForm::blank(&portal, unix_now());
    plan_page(
        &portal,
        &ctx,
        StatusCode::OK,
        "/meetings/new".into(),
        false,
        form,
        None,
        Vec::new(),
    )
    .await
}

/// Reads the posted form, or the response to send instead (sign-in, bad token, unreadable).
async fn read_form(
    portal: &Portal,
    ctx: &Ctx,
    action: &str,
    editing: bool,
    form: Result<Form<PlanFields>, FormRejection>,
) -> Result<(Account, PlanFields), Response> {
    let Some(session) = ctx.session.clone() else {
        return Err(ctx.sign_in_first());
    };
    let t = Tr::new(ctx.lang, portal.catalog());
    let fields = match form {
        Ok(Form(f)) => f,
        Err(rejection) => {
            let message = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                t.get("form-too-large")
            } else {
                t.get("form-unreadable")
            };
            let form = PlanForm::blank(portal, unix_now());
            let error = Some(FieldError { field: "", message });
            return Err(plan_page(
                portal,
                ctx,
                StatusCode::BAD_REQUEST,
                action.to_owned(),
                editing,
                form,
                error,
                Vec::new(),
            )
            .await);
        }
    };
    if !auth::form_token_ok(fields.csrf.as_deref(), &session.csrf) {
        return Err(ctx.forbidden(portal, "error-csrf"));
    }
    Ok((session.account, fields))
}

/// Checks and saves the form (a new meeting when `id` is `None`); the form again with the
/// message, or with the warnings until they are confirmed.
async fn submit(
    portal: &Portal,
    ctx: &Ctx,
    id: Option<MeetingId>,
    form: Result<Form<PlanFields>, FormRejection>,
) -> Response {
    let action = match id {
        Some(id) => format!("/meetings/{}/edit", id.0),
        None => "/meetings/new".to_owned(),
    };
    let editing = id.is_some();
    let (me, fields) = match read_form(portal, ctx, &action, editing, form).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let t = Tr::new(ctx.lang, portal.catalog());
    let confirmed = fields.confirm.as_deref() == Some("1");
    let form = PlanForm::of(fields);
    let again = |status, form: PlanForm, error, warnings| {
        plan_page(
            portal,
            ctx,
            status,
            action.clone(),
            editing,
            form,
            error,
            warnings,
        )
    };
    let mut new = match new_meeting(&form, &me, &t) {
        Ok(n) => n,
        Err(e) => return again(StatusCode::UNPROCESSABLE_ENTITY, form, Some(e), Vec::new()).await,
    };
    if form.recording && !form.recording_owner.is_empty() {
        let who = serde_json::Value::String(form.recording_owner.clone());
        match portal
            .store()
            .run(move |st| st.account_by_id_or_email(&who))
            .await
        {
            Ok(Some(owner)) => new.recording_owner = Some(owner.id).filter(|o| *o != me.id),
            Ok(None) => {
                let e = field_error(&t, "recording_owner", "unknown_owner");
                return again(StatusCode::UNPROCESSABLE_ENTITY, form, Some(e), Vec::new()).await;
            }
            Err(e) => return ctx.store_failed(portal, &e),
        }
    }
    // The invitations go out in the language the organizer uses the portal in.
    let (account, lang) = (me.id, ctx.lang.code());
    if let Err(e) = portal
        .store()
        .run(move |st| st.set_account_lang(account, lang))
        .await
    {
        return ctx.store_failed(portal, &e);
    }
    let now = unix_now();
    let tz = planning::zone(&new.plan.timezone).unwrap_or(TimeZone::UTC);
    if !confirmed {
        // Checked first: warnings show the form again with "Ignore and save".
        let checked = match id {
            None => {
                portal
                    .plan_meeting(me.clone(), new.clone(), true, now)
                    .await
            }
            Some(id) => {
                portal
                    .change_meeting(me.clone(), id, new.clone(), true, now)
                    .await
            }
        };
        match checked {
            Ok(p) if p.warnings.is_empty() => {}
            Ok(p) => {
                let warnings = warning_views(&t, &p.warnings, &tz);
                return again(StatusCode::OK, form, None, warnings).await;
            }
            Err(e) => return failed(portal, ctx, &t, e, form, again).await,
        }
    }
    let saved = match id {
        None => portal.plan_meeting(me, new, false, now).await,
        Some(id) => portal.change_meeting(me, id, new, false, now).await,
    };
    match saved {
        Ok(planned) => match planned.meeting {
            Some(m) => {
                let done = if editing { "saved" } else { "planned" };
                Redirect::to(&format!("/meetings/{}?done={done}", m.id.0)).into_response()
            }
            None => not_found(portal, ctx),
        },
        Err(e) => failed(portal, ctx, &t, e, form, again).await,
    }
}

/// A refused or failed plan: the form again with the message, or the error page.
async fn failed<F, Fut>(
    portal: &Portal,
    ctx: &Ctx,
    t: &Tr<'_>,
    e: PlanFailure,
    form: PlanForm,
    again: F,
) -> Response
where
    F: FnOnce(StatusCode, PlanForm, Option<FieldError>, Vec<WarningView>) -> Fut,
    Fut: Future<Output = Response>,
{
    match e {
        PlanFailure::Invalid(e) => {
            again(
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                Some(plan_error(t, &e)),
                Vec::new(),
            )
            .await
        }
        PlanFailure::NotFound => not_found(portal, ctx),
        PlanFailure::Store(e) => ctx.store_failed(portal, &e),
    }
}

/// `POST /meetings/new`.
async fn new_submit(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    form: Result<Form<PlanFields>, FormRejection>,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    submit(&portal, &ctx, None, form).await
}

fn meeting_id(text: &str) -> Option<MeetingId> {
    text.parse::<i64>().ok().filter(|n| *n > 0).map(MeetingId)
}

fn not_found(portal: &Portal, ctx: &Ctx) -> Response {
    let t = Tr::new(ctx.lang, portal.catalog());
    ctx.message(
        portal,
        StatusCode::NOT_FOUND,
        "meeting-not-found-title",
        t.get("meeting-not-found"),
        &[("/calendar", "nav-calendar")],
    )
}

/// The meeting `id` if the signed-in person organizes it (`Ok(None)`: not theirs or gone).
async fn own_meeting(portal: &Portal, ctx: &Ctx, id: &str) -> Result<(Account, Meeting), Response> {
    let Some(session) = ctx.session.clone() else {
        return Err(ctx.sign_in_first());
    };
    let Some(id) = meeting_id(id) else {
        return Err(not_found(portal, ctx));
    };
    let me = session.account;
    match portal.store().run(move |st| st.meeting(id)).await {
        Ok(Some(m)) if m.organizer == me.id && m.kind == MeetingKind::Scheduled => Ok((me, m)),
        Ok(_) => Err(not_found(portal, ctx)),
        Err(e) => Err(ctx.store_failed(portal, &e)),
    }
}

/// `GET /meetings/{id}/edit`: the series' form.
async fn edit_form_page(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    let (me, m) = match own_meeting(&portal, &ctx, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let owner = match m.recording_owner {
        Some(o) => match portal.store().run(move |st| st.account(o)).await {
            Ok(a) => a.and_then(|a| a.email),
            Err(e) => return ctx.store_failed(&portal, &e),
        },
        None => None,
    };
    let form = PlanForm::of_meeting(&m, owner, &me);
    let action = format!("/meetings/{}/edit", m.id.0);
    plan_page(
        &portal,
        &ctx,
        StatusCode::OK,
        action,
        true,
        form,
        None,
        Vec::new(),
    )
    .await
}

/// `POST /meetings/{id}/edit`.
async fn edit_submit(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    form: Result<Form<PlanFields>, FormRejection>,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    if let Err(r) = own_meeting(&portal, &ctx, &id).await {
        return r;
    }
    submit(&portal, &ctx, meeting_id(&id), form).await
}

#[derive(Debug, Deserialize)]
struct CsrfOnly {
    csrf: Option<String>,
}

/// `POST /meetings/{id}/delete`: cancels the whole series (its invitees get a cancellation).
async fn delete_series(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    let (me, m) = match own_meeting(&portal, &ctx, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let csrf = form.ok().and_then(|Form(f)| f.csrf);
    let Some(session) = &ctx.session else {
        return ctx.sign_in_first();
    };
    if !auth::form_token_ok(csrf.as_deref(), &session.csrf) {
        return ctx.forbidden(&portal, "error-csrf");
    }
    let day = day_of(&m);
    match portal.cancel_meeting(me, m.id, unix_now()).await {
        Ok(_) => Redirect::to(&format!("/calendar?date={day}&done=deleted-series")).into_response(),
        Err(PlanFailure::Store(e)) => ctx.store_failed(&portal, &e),
        Err(_) => not_found(&portal, &ctx),
    }
}

/// The local date of a meeting's first start, for the calendar to open on.
fn day_of(m: &Meeting) -> String {
    let tz = planning::zone(&m.plan.timezone).unwrap_or(TimeZone::UTC);
    ts(m.start_at.unwrap_or(0))
        .to_zoned_datetime(tz)
        .date()
        .to_string()
}

// ---- a meeting's page ----

struct OccurrenceLink {
    href: String,
    when: String,
    changed: bool,
}

#[derive(Template)]
#[template(path = "meeting.html")]
struct MeetingPage<'a> {
    l: Layout<'a>,
    id: i64,
    subject: String,
    when: String,
    repeat: Option<String>,
    timezone: String,
    entity: Option<String>,
    room: String,
    pin: Option<String>,
    web: String,
    /// The room's live page, for viewers once the meeting is streamed live.
    live: String,
    sip: String,
    numbers: Vec<String>,
    invitees: Vec<String>,
    options: Vec<String>,
    next: Vec<OccurrenceLink>,
    organizer: bool,
    notice: Option<String>,
    mail_configured: bool,
}

#[derive(Debug, Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

fn notice(t: &Tr<'_>, done: Option<&str>) -> Option<String> {
    let id = match done? {
        "planned" => "notice-planned",
        "saved" => "notice-saved",
        "deleted" => "notice-deleted",
        "deleted-series" => "notice-deleted-series",
        _ => return None,
    };
    Some(t.get(id))
}

/// The occurrence page's path: `start` is the original start, RFC 3339 UTC (as in the API).
fn occurrence_href(meeting: i64, original_start: i64) -> String {
    format!(
        "/meetings/{meeting}/occurrences/{}",
        pont_meet::rfc3339::format_utc(original_start)
    )
}

/// `GET /meetings/{id}`: what, when, how to join, the next occurrences. The organizer can
/// change or cancel it; an invitee sees it read-only.
async fn meeting_page(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    let Some(session) = ctx.session.clone() else {
        return ctx.sign_in_first();
    };
    let Some(mid) = meeting_id(&id) else {
        return not_found(&portal, &ctx);
    };
    let me = session.account;
    let m = match portal.store().run(move |st| st.meeting(mid)).await {
        Ok(Some(m)) => m,
        Ok(None) => return not_found(&portal, &ctx),
        Err(e) => return ctx.store_failed(&portal, &e),
    };
    let organizer = m.organizer == me.id;
    let invited = me
        .email
        .as_deref()
        .is_some_and(|e| m.invitees.iter().any(|i| i.eq_ignore_ascii_case(e)));
    if m.kind != MeetingKind::Scheduled || !(organizer || invited) {
        return not_found(&portal, &ctx);
    }
    let series = match planning::series_of(&m) {
        Ok(Some(s)) => s,
        _ => return not_found(&portal, &ctx),
    };
    let l = ctx.layout(&portal, "calendar");
    let now = unix_now();
    let first = series.all().into_iter().find(|o| !o.cancelled);
    let when = first
        .as_ref()
        .map(|o| mail::when_text(&l.t, &series, o.start, o.end))
        .unwrap_or_default();
    let next = series
        .between(ts(now), ts(now + 400 * 86_400))
        .into_iter()
        .filter(|o| !o.cancelled)
        .take(8)
        .map(|o| OccurrenceLink {
            href: occurrence_href(m.id.0, o.original_start.as_second()),
            when: mail::when_text(&l.t, &series, o.start, o.end),
            changed: o.changed,
        })
        .collect();
    let reach = portal.reach(&m);
    let mut options = vec![l.t.get(match m.room.category {
        Category::Audio => "category-audio",
        Category::Video => "category-video",
    })];
    if m.recording {
        options.push(l.t.get("option-recording"));
    }
    if m.plan.phone_dial_in {
        options.push(l.t.get("option-phone-dial-in"));
    }
    if m.plan.waiting_room {
        options.push(l.t.get("option-waiting-room"));
    }
    if m.plan.streaming_url.is_some() {
        options.push(l.t.get("option-streaming"));
    }
    let done = query.ok().and_then(|Query(q)| q.done);
    let page = MeetingPage {
        notice: notice(&l.t, done.as_deref()),
        id: m.id.0,
        subject: m.subject.clone(),
        when,
        repeat: mail::repeat_text(&l.t, &series),
        timezone: m.plan.timezone.clone(),
        entity: m.plan.entity.clone(),
        room: reach.room.to_string(),
        pin: reach.pin.clone().filter(|_| organizer || invited),
        live: format!("{}/live/{}", portal.inner.config.public_url, reach.room),
        web: reach.web,
        sip: reach.sip,
        numbers: reach.numbers,
        invitees: m.invitees.clone(),
        options,
        next,
        organizer,
        mail_configured: portal.mail_configured(),
        l,
    };
    render(StatusCode::OK, &page)
}

// ---- one occurrence ----

#[derive(Template)]
#[template(path = "occurrence.html")]
struct OccurrencePage<'a> {
    l: Layout<'a>,
    id: i64,
    action: String,
    subject: String,
    when: String,
    recurring: bool,
    changed: bool,
    date: String,
    time: String,
    duration: String,
    timezone: String,
    error: Option<String>,
    web: String,
}

#[derive(Debug, Deserialize)]
struct OccurrenceFields {
    csrf: Option<String>,
    date: Option<String>,
    time: Option<String>,
    duration: Option<String>,
    /// `save`, `save_series`, `delete` or `delete_series`.
    action: Option<String>,
}

/// The meeting and its occurrence at `start` (the original start, RFC 3339), the organizer's.
async fn own_occurrence(
    portal: &Portal,
    ctx: &Ctx,
    id: &str,
    start: &str,
) -> Result<(Account, Meeting, Series, pont_schedule::Occurrence), Response> {
    let (me, m) = own_meeting(portal, ctx, id).await?;
    let Ok(original) = pont_meet::rfc3339::parse(start) else {
        return Err(not_found(portal, ctx));
    };
    let Ok(Some(series)) = planning::series_of(&m) else {
        return Err(not_found(portal, ctx));
    };
    let at = ts(original);
    let Some(o) = series
        .all()
        .into_iter()
        .find(|o| o.original_start == at && !o.cancelled)
    else {
        return Err(not_found(portal, ctx));
    };
    Ok((me, m, series, o))
}

fn occurrence_view<'a>(
    portal: &'a Portal,
    ctx: &Ctx,
    m: &Meeting,
    series: &Series,
    o: &pont_schedule::Occurrence,
    error: Option<String>,
    typed: Option<(String, String, String)>,
) -> OccurrencePage<'a> {
    let l = ctx.layout(portal, "calendar");
    let local = o.start.to_zoned_datetime(series.tz.clone());
    let minutes = (o.end.as_second() - o.start.as_second()) / 60;
    let (date, time, duration) = typed.unwrap_or_else(|| {
        (
            local.date().to_string(),
            local.strftime("%H:%M").to_string(),
            minutes.to_string(),
        )
    });
    OccurrencePage {
        id: m.id.0,
        action: occurrence_href(m.id.0, o.original_start.as_second()),
        subject: m.subject.clone(),
        when: mail::when_text(&l.t, series, o.start, o.end),
        recurring: series.rule.is_some(),
        changed: o.changed,
        date,
        time,
        duration,
        timezone: m.plan.timezone.clone(),
        error,
        web: portal.reach(m).web,
        l,
    }
}

/// `GET /meetings/{id}/occurrences/{start}`.
async fn occurrence_page(
    State(portal): State<Portal>,
    Path((id, start)): Path<(String, String)>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    match own_occurrence(&portal, &ctx, &id, &start).await {
        Ok((_, m, series, o)) => render(
            StatusCode::OK,
            &occurrence_view(&portal, &ctx, &m, &series, &o, None, None),
        ),
        Err(r) => r,
    }
}

/// `POST /meetings/{id}/occurrences/{start}`: Save (this one), Save series (its time and
/// duration for every occurrence), Delete (this one), Delete series.
async fn occurrence_submit(
    State(portal): State<Portal>,
    Path((id, start)): Path<(String, String)>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    form: Result<Form<OccurrenceFields>, FormRejection>,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    let (me, m, series, o) = match own_occurrence(&portal, &ctx, &id, &start).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let t = Tr::new(ctx.lang, portal.catalog());
    let Ok(Form(f)) = form else {
        let page = occurrence_view(
            &portal,
            &ctx,
            &m,
            &series,
            &o,
            Some(t.get("form-unreadable")),
            None,
        );
        return render(StatusCode::BAD_REQUEST, &page);
    };
    let Some(session) = &ctx.session else {
        return ctx.sign_in_first();
    };
    if !auth::form_token_ok(f.csrf.as_deref(), &session.csrf) {
        return ctx.forbidden(&portal, "error-csrf");
    }
    let now = unix_now();
    let original = o.original_start.as_second();
    let day = o
        .start
        .to_zoned_datetime(series.tz.clone())
        .date()
        .to_string();
    let back =
        |done: &str| Redirect::to(&format!("/calendar?date={day}&done={done}")).into_response();
    let action = f.action.clone().unwrap_or_default();
    let recurring = series.rule.is_some();
    let result = match action.as_str() {
        "delete" if recurring => portal
            .change_occurrence(me, m.id, original, None, now)
            .await
            .map(|_| "deleted"),
        "delete" | "delete_series" => portal
            .cancel_meeting(me, m.id, now)
            .await
            .map(|_| "deleted-series"),
        "save" | "save_series" => {
            let typed = (text(f.date), text(f.time), text(f.duration));
            let refused = |code: &str| {
                let page = occurrence_view(
                    &portal,
                    &ctx,
                    &m,
                    &series,
                    &o,
                    Some(t.get(&format!("plan-error-{code}"))),
                    Some(typed.clone()),
                );
                render(StatusCode::UNPROCESSABLE_ENTITY, &page)
            };
            let Some(date) = planning::parse_date(&typed.0) else {
                return refused("invalid_date");
            };
            let Ok(time) = typed.1.parse::<Time>() else {
                return refused("invalid_time");
            };
            let Some(minutes) = typed
                .2
                .parse::<u32>()
                .ok()
                .filter(|m| (1..=MAX_DURATION_MINUTES).contains(m))
            else {
                return refused("invalid_duration");
            };
            let start_at = match pont_schedule::local_instant(date, time, &series.tz) {
                Ok(s) => s.as_second(),
                Err(e) => return refused(planning::local_time_code(&e)),
            };
            if action == "save" && recurring {
                portal
                    .change_occurrence(me, m.id, original, Some((start_at, minutes * 60)), now)
                    .await
                    .map(|_| "saved")
            } else {
                // The series (or the single meeting) takes the new time of day and duration;
                // a single meeting also its date.
                let mut new = planning::as_new(&m);
                new.duration_secs = Some(minutes * 60);
                new.start_at = if recurring {
                    let first = ts(m.start_at.unwrap_or(0)).to_zoned_datetime(series.tz.clone());
                    match pont_schedule::local_instant(first.date(), time, &series.tz) {
                        Ok(s) => Some(s.as_second()),
                        Err(e) => return refused(planning::local_time_code(&e)),
                    }
                } else {
                    Some(start_at)
                };
                portal
                    .change_meeting(me, m.id, new, false, now)
                    .await
                    .map(|_| "saved")
            }
        }
        _ => {
            let page = occurrence_view(
                &portal,
                &ctx,
                &m,
                &series,
                &o,
                Some(t.get("form-unreadable")),
                None,
            );
            return render(StatusCode::BAD_REQUEST, &page);
        }
    };
    match result {
        Ok(done) => back(done),
        Err(PlanFailure::Invalid(e)) => {
            let page = occurrence_view(
                &portal,
                &ctx,
                &m,
                &series,
                &o,
                Some(t.get(&format!("plan-error-{}", e.code))),
                None,
            );
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(PlanFailure::NotFound) => not_found(&portal, &ctx),
        Err(PlanFailure::Store(e)) => ctx.store_failed(&portal, &e),
    }
}

// ---- the calendar ----

/// The zone the calendar shows times in: `[meetings] timezone`.
fn display_zone(portal: &Portal) -> TimeZone {
    planning::zone(&portal.config().default_timezone).unwrap_or(TimeZone::UTC)
}

/// `lundi 19 octobre 2026` / `Monday 19 October 2026`.
fn long_date(t: &Tr<'_>, d: Date) -> String {
    let mut args = fluent_bundle::FluentArgs::new();
    args.set(
        "weekday",
        t.get(&format!(
            "day-{}",
            WEEKDAYS[d.weekday().to_monday_zero_offset() as usize]
        )),
    );
    args.set("day", d.day().to_string());
    args.set("month", t.get(&format!("month-{}", d.month())));
    args.set("year", d.year().to_string());
    t.args("date-long", &args)
}

fn short_day(t: &Tr<'_>, d: Date) -> String {
    let mut args = fluent_bundle::FluentArgs::new();
    args.set(
        "weekday",
        t.get(&format!(
            "dayshort-{}",
            WEEKDAYS[d.weekday().to_monday_zero_offset() as usize]
        )),
    );
    args.set("day", d.day().to_string());
    t.args("date-short", &args)
}

fn midnight(d: Date, tz: &TimeZone) -> i64 {
    tz.to_ambiguous_timestamp(d.to_datetime(Time::midnight()))
        .compatible()
        .map(|t| t.as_second())
        .unwrap_or(0)
}

fn add_days(d: Date, n: i64) -> Date {
    d.checked_add(Span::new().days(n)).unwrap_or(d)
}

fn add_months(d: Date, n: i64) -> Date {
    d.checked_add(Span::new().months(n)).unwrap_or(d)
}

struct Entry {
    href: String,
    subject: String,
    time: String,
    /// Position in a day column (`top`, `height`, `left`, `width` in %); empty in a month.
    style: String,
    changed: bool,
    mine: bool,
}

struct DayColumn {
    date: String,
    label: String,
    today: bool,
    entries: Vec<Entry>,
}

struct MonthCell {
    date: String,
    day: String,
    label: String,
    in_month: bool,
    today: bool,
    entries: Vec<Entry>,
    more: Option<String>,
}

struct ListEntry {
    href: String,
    subject: String,
    when: String,
    repeat: Option<String>,
    mine: bool,
}

#[derive(Template)]
#[template(path = "calendar.html")]
struct CalendarPage<'a> {
    l: Layout<'a>,
    view: &'static str,
    title: String,
    date: String,
    prev: String,
    next: String,
    today: String,
    hours: Vec<String>,
    columns: Vec<DayColumn>,
    weeks: Vec<Vec<MonthCell>>,
    weekday_names: Vec<String>,
    today_list: Vec<ListEntry>,
    all_list: Vec<ListEntry>,
    feed_url: String,
    timezone: String,
    notice: Option<String>,
}

impl CalendarPage<'_> {
    fn views(&self) -> Vec<(&'static str, String, bool)> {
        [
            ("day", "calendar-day"),
            ("week", "calendar-week"),
            ("month", "calendar-month"),
        ]
        .into_iter()
        .map(|(v, id)| (v, self.l.t.get(id), v == self.view))
        .collect()
    }
}

#[derive(Debug, Deserialize)]
struct CalendarQuery {
    view: Option<String>,
    date: Option<String>,
    done: Option<String>,
}

fn entry_of(
    t: &Tr<'_>,
    me: &Account,
    m: &Meeting,
    s: &Slot,
    tz: &TimeZone,
    style: String,
) -> Entry {
    let start = ts(s.start).to_zoned_datetime(tz.clone());
    let end = ts(s.end).to_zoned_datetime(tz.clone());
    let _ = t;
    Entry {
        href: occurrence_or_meeting(me, m, s),
        subject: m.subject.clone(),
        time: format!("{}–{}", start.strftime("%H:%M"), end.strftime("%H:%M")),
        style,
        changed: s.changed,
        mine: m.organizer == me.id,
    }
}

/// The organizer opens the occurrence (to change it); an invitee the meeting's page.
fn occurrence_or_meeting(me: &Account, m: &Meeting, s: &Slot) -> String {
    if m.organizer == me.id {
        occurrence_href(m.id.0, s.original_start)
    } else {
        format!("/meetings/{}", m.id.0)
    }
}

fn list_entry(t: &Tr<'_>, me: &Account, m: &Meeting, s: &Slot) -> ListEntry {
    let series = planning::series_of(m).ok().flatten();
    let (when, repeat) = match &series {
        Some(series) => (
            mail::when_text(t, series, ts(s.start), ts(s.end)),
            mail::repeat_text(t, series),
        ),
        None => (String::new(), None),
    };
    ListEntry {
        href: occurrence_or_meeting(me, m, s),
        subject: m.subject.clone(),
        when,
        repeat,
        mine: m.organizer == me.id,
    }
}

/// Minutes since local midnight of `day` (clamped to the day).
fn minutes_in(day_start: i64, at: i64) -> i64 {
    ((at - day_start) / 60).clamp(0, 24 * 60)
}

/// `GET /calendar?view=day|week|month&date=YYYY-MM-DD`: the calendar, with "Today",
/// previous and next; then today's meetings, all the coming ones, and the feed's address.
async fn calendar_page(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    query: Result<Query<CalendarQuery>, QueryRejection>,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    let Some(session) = ctx.session.clone() else {
        return ctx.sign_in_first();
    };
    let me = session.account;
    let q = query.ok().map(|Query(q)| q);
    let tz = display_zone(&portal);
    let now = unix_now();
    let today = ts(now).to_zoned_datetime(tz.clone()).date();
    let date = q
        .as_ref()
        .and_then(|q| q.date.as_deref())
        .and_then(planning::parse_date)
        .unwrap_or(today);
    let view = match q.as_ref().and_then(|q| q.view.as_deref()) {
        Some("day") => "day",
        Some("month") => "month",
        _ => "week",
    };
    let done = q.and_then(|q| q.done);
    let (first, days, prev, next) = match view {
        "day" => (date, 1, add_days(date, -1), add_days(date, 1)),
        "month" => {
            let grid = pont_schedule::month_grid(date.year(), date.month());
            let first = grid.first().map_or(date, |w| w[0]);
            let days = 7 * grid.len() as i64;
            let m1 = date.first_of_month();
            (first, days, add_months(m1, -1), add_months(m1, 1))
        }
        _ => {
            let week = pont_schedule::week_of(date);
            (week[0], 7, add_days(week[0], -7), add_days(week[0], 7))
        }
    };
    let from = midnight(first, &tz);
    let to = midnight(add_days(first, days), &tz);
    let today_from = midnight(today, &tz);
    let today_to = midnight(add_days(today, 1), &tz);
    let (shown, today_slots, coming) = match tokio::try_join!(
        portal.calendar(me.clone(), from, to),
        portal.calendar(me.clone(), today_from, today_to),
        portal.calendar(me.clone(), now, now + LIST_AHEAD_SECS),
    ) {
        Ok(v) => v,
        Err(e) => return ctx.store_failed(&portal, &e),
    };
    let account = me.id;
    let token = match portal.store().run(move |st| st.feed_token(account)).await {
        Ok(t) => t,
        Err(e) => return ctx.store_failed(&portal, &e),
    };
    let l = ctx.layout(&portal, "calendar");
    let t = &l.t;
    let shown: Vec<(Meeting, Slot)> = shown.into_iter().filter(|(_, s)| !s.cancelled).collect();

    let mut hours = Vec::new();
    let mut columns = Vec::new();
    let mut weeks = Vec::new();
    if view == "month" {
        let in_month = date.month();
        for w in 0..(days / 7) {
            let mut row = Vec::new();
            for d in 0..7 {
                let day = add_days(first, w * 7 + d);
                let (a, b) = (midnight(day, &tz), midnight(add_days(day, 1), &tz));
                let mine: Vec<&(Meeting, Slot)> = shown
                    .iter()
                    .filter(|(_, s)| s.start >= a && s.start < b)
                    .collect();
                row.push(MonthCell {
                    date: day.to_string(),
                    day: day.day().to_string(),
                    label: long_date(t, day),
                    in_month: day.month() == in_month,
                    today: day == today,
                    more: Some(mine.len().saturating_sub(MONTH_CELL_ENTRIES))
                        .filter(|n| *n > 0)
                        .map(|n| t.count("calendar-more", "count", n as i64)),
                    entries: mine
                        .iter()
                        .take(MONTH_CELL_ENTRIES)
                        .map(|(m, s)| entry_of(t, &me, m, s, &tz, String::new()))
                        .collect(),
                });
            }
            weeks.push(row);
        }
    } else {
        // Hours down the side: 08:00–19:00, stretched to what the range holds.
        let mut first_hour = DAY_FIRST_HOUR;
        let mut last_hour = DAY_LAST_HOUR;
        for (_, s) in &shown {
            let a = ts(s.start).to_zoned_datetime(tz.clone());
            let b = ts(s.end).to_zoned_datetime(tz.clone());
            first_hour = first_hour.min(a.hour());
            if b.date() == a.date() {
                last_hour = last_hour.max(if b.minute() > 0 {
                    b.hour()
                } else {
                    b.hour() - 1
                });
            } else {
                last_hour = 23;
            }
        }
        hours = (first_hour..=last_hour)
            .map(|h| format!("{h:02}:00"))
            .collect();
        let top = i64::from(first_hour) * 60;
        let span = (i64::from(last_hour) + 1) * 60 - top;
        for d in 0..days {
            let day = add_days(first, d);
            let (a, b) = (midnight(day, &tz), midnight(add_days(day, 1), &tz));
            let mine: Vec<&(Meeting, Slot)> = shown
                .iter()
                .filter(|(_, s)| s.start >= a && s.start < b)
                .collect();
            let intervals: Vec<_> = mine.iter().map(|(_, s)| (ts(s.start), ts(s.end))).collect();
            let placed = pont_schedule::lay_out(&intervals);
            let entries = mine
                .iter()
                .zip(placed)
                .map(|((m, s), p)| {
                    let start = minutes_in(a, s.start);
                    let end = minutes_in(a, s.end).max(start + 15);
                    let style = format!(
                        "top:{:.3}%;height:calc({:.3}% - 2px);left:calc({:.3}% + 2px);width:calc({:.3}% - 4px)",
                        (start - top) as f64 * 100.0 / span as f64,
                        (end - start) as f64 * 100.0 / span as f64,
                        p.column as f64 * 100.0 / p.columns as f64,
                        100.0 / p.columns as f64,
                    );
                    entry_of(t, &me, m, s, &tz, style)
                })
                .collect();
            columns.push(DayColumn {
                date: day.to_string(),
                label: if view == "day" {
                    long_date(t, day)
                } else {
                    short_day(t, day)
                },
                today: day == today,
                entries,
            });
        }
    }
    let title = match view {
        "day" => long_date(t, date),
        "month" => {
            let mut args = fluent_bundle::FluentArgs::new();
            args.set("month", t.get(&format!("month-{}", date.month())));
            args.set("year", date.year().to_string());
            t.args("month-title", &args)
        }
        _ => {
            let last = add_days(first, 6);
            let mut args = fluent_bundle::FluentArgs::new();
            args.set(
                "from",
                format!(
                    "{} {}",
                    first.day(),
                    t.get(&format!("month-{}", first.month()))
                ),
            );
            args.set(
                "to",
                format!(
                    "{} {}",
                    last.day(),
                    t.get(&format!("month-{}", last.month()))
                ),
            );
            args.set("year", last.year().to_string());
            t.args("week-title", &args)
        }
    };
    let today_list = today_slots
        .iter()
        .filter(|(_, s)| !s.cancelled)
        .map(|(m, s)| list_entry(t, &me, m, s))
        .collect();
    // Each meeting once, at its next occurrence.
    let mut seen = std::collections::HashSet::new();
    let all_list = coming
        .iter()
        .filter(|(m, s)| !s.cancelled && s.end > now && seen.insert(m.id.0))
        .map(|(m, s)| list_entry(t, &me, m, s))
        .collect();
    let page = CalendarPage {
        view,
        title,
        date: date.to_string(),
        prev: prev.to_string(),
        next: next.to_string(),
        today: today.to_string(),
        hours,
        columns,
        weeks,
        weekday_names: WEEKDAYS
            .iter()
            .map(|d| t.get(&format!("dayshort-{d}")))
            .collect(),
        today_list,
        all_list,
        feed_url: format!("{}/calendar/feed/{token}.ics", portal.config().public_url),
        timezone: portal.config().default_timezone.clone(),
        notice: notice(t, done.as_deref()),

        l,
    };
    render(StatusCode::OK, &page)
}

// ---- the feed ----

/// `GET /calendar/feed/{token}.ics`: the organizer's meetings (organized or invited to) as an
/// iCalendar feed (METHOD:PUBLISH) a calendar program subscribes to. The token is the only
/// credential: a long random secret, in the address because calendar programs send no cookie.
async fn feed(State(portal): State<Portal>, Path(file): Path<String>) -> Response {
    let missing = || (StatusCode::NOT_FOUND, "no such calendar\n").into_response();
    let Some(token) = file
        .strip_suffix(".ics")
        .filter(|t| !t.is_empty() && t.len() <= 128)
    else {
        return missing();
    };
    let token = token.to_owned();
    let now = unix_now();
    let found = portal
        .store()
        .run(move |st| {
            let Some(account) = st.account_by_feed_token(&token)? else {
                return Ok(None);
            };
            let lang = st.account_lang(account.id)?;
            let meetings = st.calendar_meetings(&account, now - LIST_AHEAD_SECS)?;
            let mut out = Vec::with_capacity(meetings.len());
            for m in meetings {
                if let Some(organizer) = st.account(m.organizer)? {
                    out.push((m, organizer));
                }
            }
            Ok(Some((account, lang, out)))
        })
        .await;
    let (account, lang, meetings) = match found {
        Ok(Some(v)) => v,
        Ok(None) => return missing(),
        Err(e) => {
            tracing::error!(error = %e, "feed: store failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response();
        }
    };
    let lang = lang.and_then(|c| Lang::from_code(&c)).unwrap_or_default();
    let entries: Vec<_> = meetings
        .iter()
        .filter_map(|(m, organizer)| {
            let series = planning::series_of(m).ok().flatten()?;
            let mut invite = portal.invite_of(organizer, m, lang, now);
            invite.description = portal.reach(m).web;
            Some((invite, series))
        })
        .collect();
    let body = pont_schedule::feed(&account.name, &entries);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/calendar; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}
