//! The portal's pages and forms. Each page is an askama template under `templates/` (checked
//! at compile time, HTML-escaped by default); every string comes from the catalogues.

use askama::Template;
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Form, OriginalUri, Path, Query, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pont_meet::{
    Account, LoginAttempt, Meeting, MeetingKind, NewMeeting, OidcIdentity, Recurrence, Role,
    Session,
};
use serde::Deserialize;

use crate::auth::{self, LOGIN_COOKIE, SESSION_COOKIE};
use crate::i18n::{LANG_COOKIE, Lang, Tr};
use crate::oidc::SignInError;
use crate::{Portal, unix_now};

/// Longest meeting subject (as the API).
const MAX_SUBJECT_CHARS: usize = 200;

/// Largest form body the portal reads: its forms are a few short fields.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// Meetings shown on the home page.
const NEXT_MEETINGS: usize = 5;

/// The language cookie lives a year.
const LANG_COOKIE_SECS: i64 = 365 * 24 * 3600;

const PORTAL_CSS: &str = include_str!("../assets/portal.css");

/// The portal's routes; the server merges them with the API's.
pub fn router(portal: Portal) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin))
        .route("/lang/{code}", get(set_lang))
        .route("/auth/login", get(auth_login))
        .route("/auth/callback", get(auth_callback))
        .route("/auth/logout", post(auth_logout))
        .route("/meetings", get(meetings_page))
        .route("/meetings/instant", post(instant_meeting))
        .route("/admin/accounts", get(accounts_page))
        .route("/recordings", get(recordings_page))
        .route("/recordings/public", get(public_page))
        .route("/calendar", get(calendar_page))
        .route("/assets/portal.css", get(css))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(portal)
}

// ---- views ----

struct UserView {
    name: String,
    email: String,
    role: Role,
}

/// What the layout needs: the language, who is signed in, the form token, where we are.
struct Layout<'a> {
    t: Tr<'a>,
    user: Option<UserView>,
    csrf: String,
    /// This page's path and query, for the language switch to come back to.
    path: String,
    active: &'static str,
}

impl Layout<'_> {
    fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role == Role::Admin)
    }
}

struct MeetingView {
    subject: String,
    room: String,
    when: String,
    pin: bool,
}

struct AccountView {
    name: String,
    email: String,
    role: &'static str,
    created: String,
    last_seen: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    l: Layout<'a>,
    next: Vec<MeetingView>,
    form_subject: String,
    form_error: Option<String>,
}

#[derive(Template)]
#[template(path = "meetings.html")]
struct MeetingsPage<'a> {
    l: Layout<'a>,
    meetings: Vec<MeetingView>,
    sip_host: String,
    form_subject: String,
    form_error: Option<String>,
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage<'a> {
    l: Layout<'a>,
    oidc: bool,
    next: String,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage<'a> {
    l: Layout<'a>,
    count_text: String,
    accounts: Vec<AccountView>,
}

struct RecordingView {
    id: i64,
    title: String,
    when: String,
    room: String,
    duration: String,
    status: String,
    visibility: String,
    interrupted: bool,
    downloadable: bool,
}

#[derive(Template)]
#[template(path = "recordings.html")]
struct RecordingsPage<'a> {
    l: Layout<'a>,
    recordings: Vec<RecordingView>,
}

#[derive(Template)]
#[template(path = "public.html")]
struct PublicPage<'a> {
    l: Layout<'a>,
}

#[derive(Template)]
#[template(path = "calendar.html")]
struct CalendarPage<'a> {
    l: Layout<'a>,
    days: Vec<(String, Vec<MeetingView>)>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    l: Layout<'a>,
    title: String,
    message: String,
    is_error: bool,
    links: Vec<(String, String)>,
}

fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => {
            let mut r = (status, Html(html)).into_response();
            // Pages show who is signed in: never from a shared cache.
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

fn path_of(uri: &Uri) -> String {
    uri.path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned())
}

fn user_view(account: &Account) -> UserView {
    UserView {
        name: account.name.clone(),
        email: account.email.clone().unwrap_or_default(),
        role: account.role,
    }
}

/// A request's context: language, session and path.
struct Ctx {
    lang: Lang,
    session: Option<Session>,
    path: String,
}

impl Ctx {
    async fn of(portal: &Portal, headers: &HeaderMap, uri: &Uri) -> Self {
        Self {
            lang: Lang::negotiate(headers),
            session: portal.session(headers).await,
            path: path_of(uri),
        }
    }

    fn layout<'a>(&self, portal: &'a Portal, active: &'static str) -> Layout<'a> {
        Layout {
            t: Tr::new(self.lang, portal.catalog()),
            user: self.session.as_ref().map(|s| user_view(&s.account)),
            csrf: self
                .session
                .as_ref()
                .map(|s| s.csrf.clone())
                .unwrap_or_default(),
            path: self.path.clone(),
            active,
        }
    }

    /// A page of one title and message, with links (the first one is the main action).
    fn message(
        &self,
        portal: &Portal,
        status: StatusCode,
        title: &str,
        message: String,
        links: &[(&str, &str)],
    ) -> Response {
        let l = self.layout(portal, "");
        let links = links
            .iter()
            .map(|(href, label)| ((*href).to_owned(), l.t.get(label)))
            .collect();
        let page = MessagePage {
            title: l.t.get(title),
            message,
            is_error: status.is_client_error() || status.is_server_error(),
            links,
            l,
        };
        render(status, &page)
    }

    fn store_failed(&self, portal: &Portal, e: &crate::StoreError) -> Response {
        tracing::error!(error = %e, "store failed");
        let t = Tr::new(self.lang, portal.catalog());
        self.message(
            portal,
            StatusCode::INTERNAL_SERVER_ERROR,
            "error-internal-title",
            t.get("error-internal"),
            &[("/", "back-home")],
        )
    }

    /// To the sign-in page, coming back here afterwards.
    fn sign_in_first(&self) -> Response {
        let next = percent_encode(&self.path);
        Redirect::to(&format!("/signin?next={next}")).into_response()
    }

    fn forbidden(&self, portal: &Portal, message_id: &str) -> Response {
        let t = Tr::new(self.lang, portal.catalog());
        self.message(
            portal,
            StatusCode::FORBIDDEN,
            "error-forbidden-title",
            t.get(message_id),
            &[("/", "back-home")],
        )
    }
}

/// Percent-encodes everything but unreserved characters and `/` (RFC 3986 §2.3).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn when(meeting: &Meeting, t: &Tr<'_>) -> String {
    match (meeting.kind, meeting.start_at) {
        (MeetingKind::Scheduled, Some(start)) => {
            // `YYYY-MM-DD HH:MM UTC`; the organizer's time zone comes with scheduling.
            let iso = pont_meet::rfc3339::format_utc(start);
            let shown = format!("{} {} UTC", &iso[..10], &iso[11..16]);
            match meeting.recurrence {
                Recurrence::None => shown,
                Recurrence::Daily => t.arg("when-daily", "when", &shown),
                Recurrence::Weekly => t.arg("when-weekly", "when", &shown),
                Recurrence::Monthly => t.arg("when-monthly", "when", &shown),
            }
        }
        _ => t.get("when-instant"),
    }
}

fn meeting_view(m: &Meeting, t: &Tr<'_>) -> MeetingView {
    MeetingView {
        subject: m.subject.clone(),
        room: m.room.number.0.to_string(),
        when: when(m, t),
        pin: m.room.pin.is_some(),
    }
}

/// Whether a scheduled meeting is still to come (or recurring).
fn upcoming(m: &Meeting, now: i64) -> bool {
    match (m.kind, m.start_at) {
        (MeetingKind::Scheduled, Some(start)) => {
            m.recurrence != Recurrence::None
                || start + i64::from(m.duration_secs.unwrap_or(0)) >= now
        }
        _ => false,
    }
}

// ---- pages ----

async fn css() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        PORTAL_CSS,
    )
        .into_response()
}

async fn home(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    home_with(&portal, &ctx, String::new(), None, StatusCode::OK).await
}

async fn home_with(
    portal: &Portal,
    ctx: &Ctx,
    form_subject: String,
    form_error: Option<String>,
    status: StatusCode,
) -> Response {
    let next = match &ctx.session {
        Some(s) => {
            let id = s.account.id;
            match portal.store().run(move |st| st.meetings_of(id, 200)).await {
                Ok(list) => list,
                Err(e) => return ctx.store_failed(portal, &e),
            }
        }
        None => Vec::new(),
    };
    let l = ctx.layout(portal, "home");
    let now = unix_now();
    let mut next: Vec<&Meeting> = next.iter().filter(|m| upcoming(m, now)).collect();
    next.sort_by_key(|m| m.start_at);
    let next = next
        .into_iter()
        .take(NEXT_MEETINGS)
        .map(|m| meeting_view(m, &l.t))
        .collect();
    render(
        status,
        &HomePage {
            l,
            next,
            form_subject,
            form_error,
        },
    )
}

#[derive(Debug, Deserialize)]
struct SigninQuery {
    token: Option<String>,
    next: Option<String>,
}

/// `GET /signin`: the sign-in page; `?token=` (the first-start link, `pont token create`)
/// opens a session for the token's organizer.
async fn signin(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    query: Result<Query<SigninQuery>, QueryRejection>,
) -> Response {
    let mut ctx = Ctx::of(&portal, &headers, &uri).await;
    let query = query.map(|Query(q)| q).unwrap_or(SigninQuery {
        token: None,
        next: None,
    });
    let next = auth::local_path(query.next.as_deref());
    let Some(token) = query.token else {
        // Signing in is done by its own page; the switch must not bring back `?token=`.
        ctx.path = "/signin".into();
        let l = ctx.layout(&portal, "signin");
        return render(
            StatusCode::OK,
            &SigninPage {
                l,
                oidc: portal.inner.oidc.is_some(),
                next,
            },
        );
    };
    ctx.path = "/signin".into();
    let t = Tr::new(ctx.lang, portal.catalog());
    // Tokens are `pont_` + hex; anything else is not a token.
    let plausible = !token.is_empty()
        && token.len() <= 100
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let now = unix_now();
    let opened = if plausible {
        portal
            .store()
            .run(move |s| {
                let Some(organizer) = s.authenticate(&token)? else {
                    return Ok(None);
                };
                Ok(Some(s.create_session(organizer.id, now)?))
            })
            .await
    } else {
        Ok(None)
    };
    match opened {
        Ok(Some(secret)) => {
            let mut r = session_response(&portal, secret.expose(), &next);
            // The token was in the URL: keep it out of caches and Referer headers.
            r.headers_mut().insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            r
        }
        Ok(None) => ctx.message(
            &portal,
            StatusCode::UNAUTHORIZED,
            "signin-bad-token-title",
            t.get("signin-bad-token"),
            &[("/signin", "sign-in")],
        ),
        Err(e) => ctx.store_failed(&portal, &e),
    }
}

/// A 303 to `next` that sets the session cookie.
fn session_response(portal: &Portal, secret: &str, next: &str) -> Response {
    let mut r = Redirect::to(next).into_response();
    let max_age = portal.inner.config.sessions.absolute_secs;
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        auth::set_cookie(
            SESSION_COOKIE,
            secret,
            "/",
            max_age,
            portal.secure_cookies(),
            false,
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// `GET /lang/{en|fr}?next=`: remembers the language, back to the page.
async fn set_lang(
    State(portal): State<Portal>,
    Path(code): Path<String>,
    query: Result<Query<NextQuery>, QueryRejection>,
) -> Response {
    let next = auth::local_path(query.as_ref().ok().and_then(|q| q.next.as_deref()));
    let mut r = Redirect::to(&next).into_response();
    if let Some(lang) = Lang::from_code(&code).filter(|_| code.len() <= 5) {
        r.headers_mut().append(
            header::SET_COOKIE,
            auth::set_cookie(
                LANG_COOKIE,
                lang.code(),
                "/",
                LANG_COOKIE_SECS,
                portal.secure_cookies(),
                true,
            ),
        );
    }
    r
}

/// `GET /auth/login?next=`: to the identity provider.
async fn auth_login(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    query: Result<Query<NextQuery>, QueryRejection>,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    let t = Tr::new(ctx.lang, portal.catalog());
    let next = auth::local_path(query.as_ref().ok().and_then(|q| q.next.as_deref()));
    let Some(oidc) = portal.inner.oidc.as_ref() else {
        return ctx.message(
            &portal,
            StatusCode::NOT_FOUND,
            "signin-title",
            t.get("signin-no-sso"),
            &[("/", "back-home")],
        );
    };
    let login = match oidc.login().await {
        Ok(login) => login,
        Err(e) => return sign_in_failed(&portal, &ctx, &e),
    };
    let state = login.state.clone();
    let attempt = LoginAttempt {
        nonce: login.nonce,
        pkce_verifier: login.pkce_verifier,
        next,
    };
    let now = unix_now();
    let saved = portal
        .store()
        .run(move |s| s.save_login_attempt(&state, &attempt, now))
        .await;
    if let Err(e) = saved {
        return ctx.store_failed(&portal, &e);
    }
    let mut r = Redirect::to(&login.url).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        auth::set_cookie(
            LOGIN_COOKIE,
            &login.state,
            "/auth",
            pont_meet::LOGIN_ATTEMPT_SECS,
            portal.secure_cookies(),
            false,
        ),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn sign_in_failed(portal: &Portal, ctx: &Ctx, e: &SignInError) -> Response {
    tracing::warn!(error = %e, "sign-in failed");
    let t = Tr::new(ctx.lang, portal.catalog());
    let (status, message) = match e {
        SignInError::ProviderDown(_) => (StatusCode::SERVICE_UNAVAILABLE, t.get("signin-down")),
        SignInError::BadState => (StatusCode::BAD_REQUEST, t.get("signin-bad-state")),
        SignInError::Refused(_) => (StatusCode::FORBIDDEN, t.get("signin-refused")),
        SignInError::BadToken(_) => (StatusCode::FORBIDDEN, t.get("signin-bad-token-idp")),
        SignInError::DomainNotAllowed => (StatusCode::FORBIDDEN, t.get("signin-domain")),
    };
    let mut r = ctx.message(
        portal,
        status,
        "signin-failed-title",
        message,
        &[("/signin", "signin-again"), ("/", "back-home")],
    );
    // Whatever failed, the login in flight is over.
    r.headers_mut().append(
        header::SET_COOKIE,
        auth::set_cookie(LOGIN_COOKIE, "", "/auth", 0, portal.secure_cookies(), false),
    );
    r
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/callback`: back from the provider.
async fn auth_callback(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Response {
    let mut ctx = Ctx::of(&portal, &headers, &uri).await;
    ctx.path = "/".into();
    let Some(oidc) = portal.inner.oidc.as_ref() else {
        return sign_in_failed(&portal, &ctx, &SignInError::BadState);
    };
    let Ok(Query(query)) = query else {
        return sign_in_failed(&portal, &ctx, &SignInError::BadState);
    };
    // The state must be the one this browser's login cookie holds, and a login we started.
    let state = query.state.unwrap_or_default();
    let bound = auth::cookie(&headers, LOGIN_COOKIE);
    if state.is_empty()
        || state.len() > 200
        || !bound.is_some_and(|b| auth::same_secret(&b, &state))
    {
        return sign_in_failed(&portal, &ctx, &SignInError::BadState);
    }
    let now = unix_now();
    let attempt = match portal
        .store()
        .run(move |s| s.take_login_attempt(&state, now))
        .await
    {
        Ok(Some(a)) => a,
        Ok(None) => return sign_in_failed(&portal, &ctx, &SignInError::BadState),
        Err(e) => return ctx.store_failed(&portal, &e),
    };
    if let Some(error) = query.error {
        return sign_in_failed(&portal, &ctx, &SignInError::Refused(error));
    }
    let Some(code) = query.code.filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return sign_in_failed(&portal, &ctx, &SignInError::Refused("no code".into()));
    };
    let asserted = match oidc
        .finish(&code, &attempt.nonce, &attempt.pkce_verifier)
        .await
    {
        Ok(a) => a,
        Err(e) => return sign_in_failed(&portal, &ctx, &e),
    };
    let config = oidc.config();
    if !config.allows(asserted.email.as_deref()) {
        return sign_in_failed(&portal, &ctx, &SignInError::DomainNotAllowed);
    }
    let admin = config.is_admin(asserted.email.as_deref());
    let identity = OidcIdentity {
        issuer: asserted.issuer,
        subject: asserted.subject,
        name: asserted.name.unwrap_or_default(),
        email: asserted.email,
    };
    let opened = portal
        .store()
        .run(move |s| {
            let account = s.sign_in_oidc(&identity, admin, now)?;
            s.create_session(account.id, now)
        })
        .await;
    match opened {
        Ok(secret) => {
            let mut r = session_response(&portal, secret.expose(), &attempt.next);
            r.headers_mut().append(
                header::SET_COOKIE,
                auth::set_cookie(LOGIN_COOKIE, "", "/auth", 0, portal.secure_cookies(), false),
            );
            r
        }
        Err(e) => ctx.store_failed(&portal, &e),
    }
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /auth/logout`: ends the session (its row is revoked: the cookie opens nothing more).
async fn auth_logout(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    let Some(session) = &ctx.session else {
        return Redirect::to("/").into_response();
    };
    let sent = form.ok().and_then(|Form(f)| f.csrf);
    if !auth::form_token_ok(sent.as_deref(), &session.csrf) {
        return ctx.forbidden(&portal, "error-csrf");
    }
    let Some(secret) = auth::cookie(&headers, SESSION_COOKIE) else {
        return Redirect::to("/").into_response();
    };
    if let Err(e) = portal.store().run(move |s| s.revoke_session(&secret)).await {
        return ctx.store_failed(&portal, &e);
    }
    let mut r = Redirect::to("/").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        auth::set_cookie(SESSION_COOKIE, "", "/", 0, portal.secure_cookies(), false),
    );
    r
}

#[derive(Debug, Deserialize)]
struct InstantForm {
    csrf: Option<String>,
    subject: Option<String>,
    /// Where the form was: `meetings` re-renders the meetings page on an error.
    from: Option<String>,
}

/// `POST /meetings/instant` (the form): creates the meeting and opens its page.
async fn instant_meeting(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    form: Result<Form<InstantForm>, FormRejection>,
) -> Response {
    let mut ctx = Ctx::of(&portal, &headers, &uri).await;
    ctx.path = "/".into();
    let Some(session) = ctx.session.clone() else {
        return ctx.sign_in_first();
    };
    let t = Tr::new(ctx.lang, portal.catalog());
    let form = match form {
        Ok(Form(f)) => f,
        Err(rejection) => {
            tracing::debug!(%rejection, "unreadable form");
            let message = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                t.get("form-too-large")
            } else {
                t.get("form-unreadable")
            };
            return home_with(
                &portal,
                &ctx,
                String::new(),
                Some(message),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    if !auth::form_token_ok(form.csrf.as_deref(), &session.csrf) {
        return ctx.forbidden(&portal, "error-csrf");
    }
    let raw = form.subject.unwrap_or_default();
    let subject = raw.trim();
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        let message = t.count("instant-too-long", "count", MAX_SUBJECT_CHARS as i64);
        let shown: String = raw.chars().take(MAX_SUBJECT_CHARS).collect();
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return if form.from.as_deref() == Some("meetings") {
            ctx.path = "/meetings".into();
            meetings_with(&portal, &ctx, shown, Some(message), status).await
        } else {
            home_with(&portal, &ctx, shown, Some(message), status).await
        };
    }
    let subject = if subject.is_empty() {
        t.arg("instant-default-subject", "name", &session.account.name)
    } else {
        subject.to_owned()
    };
    let organizer = session.account.id;
    let now = unix_now();
    match portal
        .store()
        .run(move |s| s.create_meeting(organizer, NewMeeting::instant(subject), now))
        .await
    {
        Ok(meeting) => {
            tracing::info!(room = %meeting.room.number, meeting = meeting.id.0, "instant meeting created from the portal");
            Redirect::to(&format!("/r/{}", meeting.room.number)).into_response()
        }
        Err(e) => ctx.store_failed(&portal, &e),
    }
}

/// `GET /meetings`: the organizer's meetings.
async fn meetings_page(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    if ctx.session.is_none() {
        return ctx.sign_in_first();
    }
    meetings_with(&portal, &ctx, String::new(), None, StatusCode::OK).await
}

async fn meetings_with(
    portal: &Portal,
    ctx: &Ctx,
    form_subject: String,
    form_error: Option<String>,
    status: StatusCode,
) -> Response {
    let Some(session) = &ctx.session else {
        return ctx.sign_in_first();
    };
    let id = session.account.id;
    let list = match portal.store().run(move |st| st.meetings_of(id, 200)).await {
        Ok(list) => list,
        Err(e) => return ctx.store_failed(portal, &e),
    };
    let l = ctx.layout(portal, "meetings");
    let meetings = list.iter().map(|m| meeting_view(m, &l.t)).collect();
    render(
        status,
        &MeetingsPage {
            l,
            meetings,
            sip_host: portal.inner.config.sip_host.clone(),
            form_subject,
            form_error,
        },
    )
}

/// `GET /admin/accounts`: every account (admins only).
async fn accounts_page(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    let Some(session) = &ctx.session else {
        return ctx.sign_in_first();
    };
    if session.account.role != Role::Admin {
        return ctx.forbidden(&portal, "error-admins-only");
    }
    let accounts = match portal.store().run(|s| s.all_accounts()).await {
        Ok(a) => a,
        Err(e) => return ctx.store_failed(&portal, &e),
    };
    let l = ctx.layout(&portal, "admin");
    let never = l.t.get("never");
    let accounts: Vec<AccountView> = accounts
        .iter()
        .map(|a| AccountView {
            name: a.name.clone(),
            email: a.email.clone().unwrap_or_default(),
            role: a.role.as_str(),
            created: short_time(a.created_at),
            last_seen: a
                .last_seen_at
                .map(short_time)
                .unwrap_or_else(|| never.clone()),
        })
        .collect();
    let count_text = l.t.count("accounts-count", "count", accounts.len() as i64);
    render(
        StatusCode::OK,
        &AccountsPage {
            l,
            count_text,
            accounts,
        },
    )
}

/// `GET /recordings`: the recordings the signed-in organizer owns.
async fn recordings_page(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    let Some(session) = &ctx.session else {
        return ctx.sign_in_first();
    };
    let me = session.account.id;
    let all = match portal.store().run(|s| s.recordings()).await {
        Ok(all) => all,
        Err(e) => return ctx.store_failed(&portal, &e),
    };
    let l = ctx.layout(&portal, "recordings");
    let recordings = all
        .iter()
        .filter(|r| r.owner == Some(me))
        .map(|r| {
            let secs = r.duration_ms / 1000;
            RecordingView {
                id: r.id.0,
                title: r.title.clone(),
                when: short_time(r.started_at),
                room: r.room.0.to_string(),
                duration: format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
                status: l.t.get(&format!("status-{}", r.status.as_str())),
                visibility: l.t.get(&format!("visibility-{}", r.visibility.as_str())),
                interrupted: r.interrupted,
                downloadable: r.status == pont_meet::RecordingStatus::PendingValidation,
            }
        })
        .collect();
    render(StatusCode::OK, &RecordingsPage { l, recordings })
}

/// `GET /recordings/public`: open to everyone. Publication (validation) comes with the
/// recording store's workflow; until then nothing is published, and the page says so.
async fn public_page(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    let l = ctx.layout(&portal, "public");
    render(StatusCode::OK, &PublicPage { l })
}

/// `GET /calendar`: the organizer's scheduled meetings by day (UTC), from today.
async fn calendar_page(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    let Some(session) = &ctx.session else {
        return ctx.sign_in_first();
    };
    let id = session.account.id;
    let list = match portal.store().run(move |st| st.meetings_of(id, 500)).await {
        Ok(list) => list,
        Err(e) => return ctx.store_failed(&portal, &e),
    };
    let l = ctx.layout(&portal, "calendar");
    let now = unix_now();
    let mut planned: Vec<&Meeting> = list.iter().filter(|m| upcoming(m, now)).collect();
    planned.sort_by_key(|m| m.start_at);
    let mut days: Vec<(String, Vec<MeetingView>)> = Vec::new();
    for m in planned {
        let day = pont_meet::rfc3339::format_utc(m.start_at.unwrap_or(now))[..10].to_owned();
        let view = meeting_view(m, &l.t);
        match days.last_mut() {
            Some((d, v)) if *d == day => v.push(view),
            _ => days.push((day, vec![view])),
        }
    }
    render(StatusCode::OK, &CalendarPage { l, days })
}

fn short_time(unix: i64) -> String {
    let iso = pont_meet::rfc3339::format_utc(unix);
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::Catalog;

    /// Every message id a template or this module names, found by their call shapes.
    fn ids_used() -> BTreeSet<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut sources: Vec<String> = std::fs::read_dir(dir.join("templates"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        sources.push(include_str!("pages.rs").to_owned());
        let mut ids = BTreeSet::new();
        for source in &sources {
            for call in [
                "t.get(\"",
                "t.arg(\"",
                "t.count(\"",
                "(\"/\", \"",
                "(\"/signin\", \"",
            ] {
                for (i, _) in source.match_indices(call) {
                    let rest = &source[i + call.len()..];
                    let id: String = rest.chars().take_while(|c| *c != '"').collect();
                    if !id.is_empty() {
                        ids.insert(id);
                    }
                }
            }
        }
        // Message ids passed by name in this module: `"error-…"`, `"signin-…"` arguments.
        let code = include_str!("pages.rs");
        for prefix in ["\"error-", "\"signin-", "\"back-"] {
            for (i, _) in code.match_indices(prefix) {
                let rest = &code[i + 1..];
                let id: String = rest.chars().take_while(|c| *c != '"').collect();
                if id.len() > prefix.len() && id.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                {
                    ids.insert(id);
                }
            }
        }
        ids
    }

    #[test]
    fn every_message_a_page_uses_is_in_both_catalogues() {
        let catalog = Catalog::new();
        let used = ids_used();
        assert!(used.len() > 40, "the scan found too little: {used:?}");
        for lang in Lang::ALL {
            let have: BTreeSet<String> = catalog.ids(lang).into_iter().collect();
            let missing: Vec<_> = used.difference(&have).collect();
            assert!(missing.is_empty(), "{}.ftl lacks {missing:?}", lang.code());
        }
    }

    #[test]
    fn every_recording_status_and_visibility_has_its_words() {
        use pont_meet::{RecordingStatus, Visibility};
        let catalog = Catalog::new();
        for lang in Lang::ALL {
            let ids = catalog.ids(lang);
            let statuses = [
                RecordingStatus::Recording,
                RecordingStatus::Processing,
                RecordingStatus::PendingValidation,
            ];
            for status in statuses {
                let id = format!("status-{}", status.as_str());
                assert!(ids.contains(&id), "{}: {id}", lang.code());
            }
            for v in [
                Visibility::Private,
                Visibility::Organizers,
                Visibility::Public,
            ] {
                let id = format!("visibility-{}", v.as_str());
                assert!(ids.contains(&id), "{}: {id}", lang.code());
            }
        }
    }

    #[test]
    fn templates_hold_no_words_outside_the_catalogues() {
        // Text between tags that is not a template expression is a user-visible string.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let source = std::fs::read_to_string(&path).unwrap();
            let mut text = String::new();
            let mut in_tag = false;
            let mut depth = 0usize;
            let bytes: Vec<char> = source.chars().collect();
            let mut i = 0;
            while i < bytes.len() {
                let c = bytes[i];
                let next = bytes.get(i + 1).copied();
                if (c == '{' && matches!(next, Some('{') | Some('%') | Some('#'))) && !in_tag {
                    depth += 1;
                    i += 2;
                    continue;
                }
                if depth > 0 {
                    if matches!(c, '}' | '%' | '#') && next == Some('}') {
                        depth -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                    continue;
                }
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    _ if !in_tag => text.push(c),
                    _ => {}
                }
                i += 1;
            }
            // What may remain: whitespace, separators, the brand.
            let words: Vec<&str> = text
                .split(|c: char| c.is_whitespace() || "·—|:".contains(c))
                .filter(|w| !w.is_empty() && *w != "pont" && *w != "sip" && *w != "@")
                .collect();
            assert!(words.is_empty(), "{}: {words:?}", path.display());
        }
    }

    #[test]
    fn percent_encoding_keeps_paths_readable_and_queries_safe() {
        assert_eq!(percent_encode("/meetings"), "/meetings");
        assert_eq!(percent_encode("/a?b=c&d"), "/a%3Fb%3Dc%26d");
    }
}
