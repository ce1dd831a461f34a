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
    Account, LoginAttempt, MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, Meeting, MeetingKind,
    NewMeeting, OidcIdentity, Recording, RecordingChange, RecordingId, RecordingStatus, Recurrence,
    Role, Session, Trim, Visibility,
};
use pont_types::RoomId;
use serde::Deserialize;

use crate::auth::{self, LOGIN_COOKIE, SESSION_COOKIE};
use crate::i18n::{LANG_COOKIE, Lang, Tr};
use crate::oidc::SignInError;
use crate::{Portal, mail, unix_now};

mod plan;

/// Longest meeting subject (as the API).
const MAX_SUBJECT_CHARS: usize = 200;

/// Largest form body the portal reads: its forms are a few short fields.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// Meetings shown on the home page.
const NEXT_MEETINGS: usize = 5;

/// The language cookie lives a year.
const LANG_COOKIE_SECS: i64 = 365 * 24 * 3600;

const PORTAL_CSS: &str = include_str!("../assets/portal.css");
const PORTAL_JS: &str = include_str!("../assets/portal.js");
/// The brand mark (the header's two-colour square) as the pages' icon.
const FAVICON_SVG: &str = include_str!("../assets/favicon.svg");

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
        .route("/recordings/{id}", get(recording_edit).post(recording_save))
        .route("/w/{token}", get(watch_page))
        .route("/recordings/public", get(public_page))
        .route("/live/{room}", get(live_page))
        .route("/assets/portal.css", get(css))
        .route("/assets/portal.js", get(js))
        .route("/assets/favicon.svg", get(favicon))
        .merge(plan::routes())
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
    id: i64,
    scheduled: bool,
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
    validated: bool,
    public: bool,
    delete_at: String,
    /// "part 2", … for the parts of a session the duration cap split; empty otherwise.
    part: String,
}

/// The edit page's recording.
struct EditView {
    id: i64,
    title: String,
    when: String,
    room: String,
    duration: String,
    complete: bool,
    watch_url: Option<String>,
    download_link: Option<String>,
    /// The chat said while it was recorded, when anyone chatted.
    chat_link: Option<String>,
    delete_note: String,
}

/// What the edit form shows (the recording's values, or what was typed when refused).
struct EditForm {
    title: String,
    description: String,
    visibility: String,
    trim_start: String,
    trim_end: String,
    validated: bool,
    owner: String,
}

#[derive(Template)]
#[template(path = "recording_edit.html")]
struct EditPage<'a> {
    l: Layout<'a>,
    r: EditView,
    form: EditForm,
    error: Option<String>,
    /// Who it can be given to: (name, e-mail) of the accounts that have signed in.
    accounts: Vec<(String, String)>,
}

/// The accounts a recording can be given to, for the form's suggestions.
async fn givable(portal: &Portal, me: pont_meet::OrganizerId) -> Vec<(String, String)> {
    portal
        .store()
        .run(|s| s.search_accounts("", 50))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.id != me)
        .map(|a| (a.name.clone(), a.email.clone().unwrap_or(a.name)))
        .collect()
}

struct PublicView {
    title: String,
    when: String,
    duration: String,
    description: String,
    watch: String,
}

#[derive(Template)]
#[template(path = "watch.html")]
struct WatchPage<'a> {
    l: Layout<'a>,
    title: String,
    when: String,
    duration: String,
    description: String,
    media: String,
    download: String,
    download_abs: String,
}

#[derive(Template)]
#[template(path = "live.html")]
struct LivePage<'a> {
    l: Layout<'a>,
    title: String,
    room: String,
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
    recordings: Vec<PublicView>,
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
        id: m.id.0,
        scheduled: m.kind == MeetingKind::Scheduled,
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

async fn js() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        PORTAL_JS,
    )
        .into_response()
}

async fn favicon() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=86400"),
            ),
        ],
        FAVICON_SVG,
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

/// The page for a visitor over a per-address limit of the server (`[security]`): 429, in the
/// visitor's language, with the wait. Cheap on purpose: no session look-up, no store.
pub fn too_many_requests(portal: &Portal, headers: &HeaderMap, retry_after_secs: u64) -> Response {
    let ctx = Ctx {
        lang: Lang::negotiate(headers),
        session: None,
        path: "/".to_owned(),
    };
    let t = Tr::new(ctx.lang, portal.catalog());
    let message = t.count("too-many-requests", "seconds", retry_after_secs as i64);
    ctx.message(
        portal,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-requests-title",
        message,
        &[("/", "back-home")],
    )
}

fn sign_in_failed(portal: &Portal, ctx: &Ctx, e: &SignInError) -> Response {
    // What a stranger can send at will (a forged callback) is not worth a warning line each:
    // the log is not theirs to fill.
    match e {
        SignInError::BadState => tracing::debug!(error = %e, "sign-in refused"),
        SignInError::ProviderDown(_) | SignInError::BadToken(_) => {
            tracing::warn!(error = %e, "sign-in failed")
        }
        SignInError::Refused(_) | SignInError::DomainNotAllowed => {
            tracing::info!(error = %e, "sign-in refused")
        }
    }
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
    let mine: Vec<&Recording> = all.iter().filter(|r| r.owner == Some(me)).collect();
    // A session the cap split is a chain of parts: count back to its first.
    let part_of = |r: &Recording| -> usize {
        let mut n = 1;
        let mut at = r.continues;
        while let Some(prev) = at.and_then(|id| mine.iter().find(|x| x.id == id)) {
            n += 1;
            at = prev.continues;
            if n > mine.len() {
                break;
            }
        }
        n
    };
    let continued = |r: &Recording| mine.iter().any(|x| x.continues == Some(r.id));
    let recordings = mine
        .iter()
        .map(|r| RecordingView {
            part: if r.continues.is_some() || continued(r) {
                l.t.count("recording-part", "count", part_of(r) as i64)
            } else {
                String::new()
            },
            id: r.id.0,
            title: r.title.clone(),
            when: short_time(r.started_at),
            room: r.room.0.to_string(),
            duration: hms(r.duration_ms),
            status: l.t.get(&format!("status-{}", r.status.as_str())),
            visibility: l.t.get(&format!("visibility-{}", r.visibility.as_str())),
            interrupted: r.interrupted,
            validated: r.status == RecordingStatus::Validated,
            public: r.visibility == Visibility::Public,
            delete_at: r.delete_at.map(short_day).unwrap_or_default(),
        })
        .collect();
    render(StatusCode::OK, &RecordingsPage { l, recordings })
}

/// `GET /recordings/public`: the validated public recordings, open to everyone.
async fn public_page(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    let list = match portal.store().run(|s| s.public_recordings()).await {
        Ok(list) => list,
        Err(e) => return ctx.store_failed(&portal, &e),
    };
    let l = ctx.layout(&portal, "public");
    let recordings = list
        .iter()
        .filter_map(|r| {
            Some(PublicView {
                title: r.title.clone(),
                when: short_time(r.started_at),
                duration: hms(window_ms(r)),
                description: r.description.clone(),
                watch: format!("/w/{}", r.watch_token.as_ref()?),
            })
        })
        .collect();
    render(StatusCode::OK, &PublicPage { l, recordings })
}

/// `h:mm:ss`.
fn hms(ms: u64) -> String {
    let secs = ms / 1000;
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `[[h:]m:]s` (whole seconds) in milliseconds; `None` if it is not that.
fn parse_hms(text: &str) -> Option<f64> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut secs = 0u64;
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: u64 = p.parse().ok()?;
        // Minutes and seconds after the first field stay below 60.
        if i > 0 && v >= 60 {
            return None;
        }
        secs = secs * 60 + v;
    }
    Some(secs as f64 * 1000.0)
}

/// What the watch link shows: the window, else all of it.
fn window_ms(r: &Recording) -> u64 {
    r.trim.map_or(r.duration_ms, |t| t.end_ms - t.start_ms)
}

fn short_day(unix: i64) -> String {
    pont_meet::rfc3339::format_utc(unix)[..10].to_owned()
}

/// The organizer's own recording `id`, or the page to show instead.
async fn own_recording(portal: &Portal, ctx: &Ctx, id: &str) -> Result<Recording, Response> {
    let Some(session) = &ctx.session else {
        return Err(ctx.sign_in_first());
    };
    let me = session.account.id;
    let t = Tr::new(ctx.lang, portal.catalog());
    let not_found = || {
        ctx.message(
            portal,
            StatusCode::NOT_FOUND,
            "watch-not-found-title",
            t.get("watch-not-found"),
            &[("/recordings", "nav-recordings")],
        )
    };
    let Ok(num) = id.parse::<i64>() else {
        return Err(not_found());
    };
    match portal
        .store()
        .run(move |s| s.recording(RecordingId(num)))
        .await
    {
        Ok(Some(r)) if r.owner == Some(me) => Ok(r),
        // Another organizer's recording does not exist, as far as this page says.
        Ok(_) => Err(not_found()),
        Err(e) => Err(ctx.store_failed(portal, &e)),
    }
}

fn edit_view(portal: &Portal, r: &Recording, t: &Tr<'_>) -> EditView {
    let base = &portal.inner.config.public_url;
    EditView {
        id: r.id.0,
        title: r.title.clone(),
        when: short_time(r.started_at),
        room: r.room.0.to_string(),
        duration: hms(r.duration_ms),
        complete: matches!(
            r.status,
            RecordingStatus::PendingValidation | RecordingStatus::Validated
        ),
        watch_url: r.watch_token.as_ref().map(|k| format!("{base}/w/{k}")),
        download_link: r.download_token.as_ref().map(|k| format!("{base}/d/{k}")),
        chat_link: portal
            .inner
            .config
            .recordings_dir
            .as_ref()
            .filter(|dir| dir.join(pont_types::chat_file_name(&r.file)).is_file())
            .map(|_| format!("/api/v1/recordings/{}/chat", r.id.0)),
        delete_note: match r.delete_at {
            Some(at) => t.arg("delete-on", "when", &short_day(at)),
            None => t.get("delete-never"),
        },
    }
}

fn edit_form(r: &Recording) -> EditForm {
    EditForm {
        title: r.title.clone(),
        description: r.description.clone(),
        visibility: r.visibility.as_str().to_owned(),
        trim_start: r.trim.map(|w| hms(w.start_ms)).unwrap_or_default(),
        trim_end: r.trim.map(|w| hms(w.end_ms)).unwrap_or_default(),
        validated: r.status == RecordingStatus::Validated,
        owner: String::new(),
    }
}

/// `GET /recordings/{id}`: the owner's form.
async fn recording_edit(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    let r = match own_recording(&portal, &ctx, &id).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let me = r.owner.unwrap_or(pont_meet::OrganizerId(0));
    let accounts = givable(&portal, me).await;
    let l = ctx.layout(&portal, "recordings");
    let saved = uri.query().is_some_and(|q| q.contains("saved=1"));
    let mut page = EditPage {
        r: edit_view(&portal, &r, &l.t),
        form: edit_form(&r),
        error: None,
        accounts,
        l,
    };
    if saved {
        // Shown in the same live region as errors, so a screen reader hears it.
        page.error = Some(page.l.t.get("saved"));
    }
    render(StatusCode::OK, &page)
}

#[derive(Debug, Deserialize)]
struct EditFields {
    csrf: Option<String>,
    title: Option<String>,
    description: Option<String>,
    visibility: Option<String>,
    trim_start: Option<String>,
    trim_end: Option<String>,
    validated: Option<String>,
    owner: Option<String>,
}

/// `POST /recordings/{id}`: saves the form, or shows it again with why not.
async fn recording_save(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    form: Result<Form<EditFields>, FormRejection>,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    let r = match own_recording(&portal, &ctx, &id).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let Some(session) = &ctx.session else {
        return ctx.sign_in_first();
    };
    let t = Tr::new(ctx.lang, portal.catalog());
    let accounts = givable(&portal, session.account.id).await;
    let refuse = |form: EditForm, message: String, status: StatusCode| {
        let l = ctx.layout(&portal, "recordings");
        render(
            status,
            &EditPage {
                r: edit_view(&portal, &r, &l.t),
                form,
                error: Some(message),
                accounts: accounts.clone(),
                l,
            },
        )
    };
    let f = match form {
        Ok(Form(f)) => f,
        Err(rejection) => {
            let message = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                t.get("form-too-large")
            } else {
                t.get("form-unreadable")
            };
            return refuse(edit_form(&r), message, StatusCode::BAD_REQUEST);
        }
    };
    if !auth::form_token_ok(f.csrf.as_deref(), &session.csrf) {
        return ctx.forbidden(&portal, "error-csrf");
    }
    let typed = EditForm {
        title: f.title.clone().unwrap_or_default(),
        description: f.description.clone().unwrap_or_default(),
        visibility: f.visibility.clone().unwrap_or_default(),
        trim_start: f.trim_start.clone().unwrap_or_default(),
        trim_end: f.trim_end.clone().unwrap_or_default(),
        validated: f.validated.is_some(),
        owner: f.owner.clone().unwrap_or_default(),
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let title = typed.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return refuse(typed, t.get("error-title"), unprocessable);
    }
    if typed.description.chars().count() > MAX_DESCRIPTION_CHARS {
        return refuse(typed, t.get("error-description"), unprocessable);
    }
    let Some(visibility) = Visibility::from_api(typed.visibility.trim()) else {
        return refuse(typed, t.get("form-unreadable"), unprocessable);
    };
    let trim = match (typed.trim_start.trim(), typed.trim_end.trim()) {
        ("", "") => None,
        (a, b) => {
            let start = if a.is_empty() {
                Some(0.0)
            } else {
                parse_hms(a)
            };
            let end = if b.is_empty() {
                Some(r.duration_ms as f64)
            } else {
                parse_hms(b)
            };
            match (start, end) {
                (Some(s), Some(e)) => match Trim::within(s, e, r.duration_ms) {
                    Some(w) => Some(w),
                    None => {
                        let m = t.arg("error-trim", "when", &hms(r.duration_ms));
                        return refuse(typed, m, unprocessable);
                    }
                },
                _ => {
                    let m = t.arg("error-trim", "when", &hms(r.duration_ms));
                    return refuse(typed, m, unprocessable);
                }
            }
        }
    };
    let was_validated = r.status == RecordingStatus::Validated;
    let validated = (typed.validated != was_validated).then_some(typed.validated);
    let complete = matches!(
        r.status,
        RecordingStatus::PendingValidation | RecordingStatus::Validated
    );
    if validated.is_some() && !complete {
        return refuse(
            typed,
            t.get("error-validate-incomplete"),
            StatusCode::CONFLICT,
        );
    }
    let owner = match typed.owner.trim() {
        "" => None,
        email => {
            let email = email.to_owned();
            match portal.store().run(move |s| s.find_account(&email)).await {
                Ok(Some(a)) => Some(a.id),
                Ok(None) => return refuse(typed, t.get("error-owner"), unprocessable),
                Err(e) => return ctx.store_failed(&portal, &e),
            }
        }
    };
    let change = RecordingChange {
        title: Some(title),
        description: Some(typed.description.trim().to_owned()),
        visibility: Some(visibility),
        trim: Some(trim),
        owner,
        validated,
    };
    let rid = r.id;
    match portal
        .store()
        .run(move |s| s.update_recording(rid, &change))
        .await
    {
        Ok(Some(updated)) if updated.owner == Some(session.account.id) => {
            Redirect::to(&format!("/recordings/{}?saved=1", rid.0)).into_response()
        }
        // Given away: it is in the new owner's list now, no longer in this one's.
        Ok(_) => Redirect::to("/recordings").into_response(),
        Err(e) => ctx.store_failed(&portal, &e),
    }
}

/// `GET /w/{token}`: the watch page of a validated recording; no account needed.
async fn watch_page(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Path(token): Path<String>,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    let t = Tr::new(ctx.lang, portal.catalog());
    let key = token.clone();
    let found = portal
        .store()
        .run(move |s| s.recording_by_watch_token(&key))
        .await;
    let r = match found {
        Ok(Some(r)) => r,
        Ok(None) => {
            return ctx.message(
                &portal,
                StatusCode::NOT_FOUND,
                "watch-not-found-title",
                t.get("watch-not-found"),
                &[("/recordings/public", "nav-public")],
            );
        }
        Err(e) => return ctx.store_failed(&portal, &e),
    };
    let l = ctx.layout(&portal, "public");
    let download = r
        .download_token
        .as_ref()
        .map(|k| format!("/d/{k}"))
        .unwrap_or_default();
    render(
        StatusCode::OK,
        &WatchPage {
            title: r.title.clone(),
            when: short_time(r.started_at),
            duration: hms(window_ms(&r)),
            description: r.description.clone(),
            media: format!("/w/{token}/media"),
            download_abs: format!("{}{download}", portal.inner.config.public_url),
            download,
            l,
        },
    )
}

/// `GET /live/{room}`: the room's live stream, played by WHEP; no account needed, and the
/// viewer is not in the meeting. The page waits for the stream when it is not on, and plays
/// it as soon as the organizer starts it (its script asks again every few seconds).
async fn live_page(
    State(portal): State<Portal>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Path(room): Path<String>,
) -> Response {
    let ctx = Ctx::of(&portal, &headers, &uri).await;
    let t = Tr::new(ctx.lang, portal.catalog());
    let not_found = || {
        ctx.message(
            &portal,
            StatusCode::NOT_FOUND,
            "live-not-found-title",
            t.get("live-not-found"),
            &[("/recordings/public", "nav-public")],
        )
    };
    let Ok(number) = room.parse::<RoomId>() else {
        return not_found();
    };
    let found = portal
        .store()
        .run(move |s| {
            let Some(room) = s.room(number)? else {
                return Ok(None);
            };
            Ok(Some((room, s.latest_meeting_in_room(number)?)))
        })
        .await;
    let subject = match found {
        Ok(Some((_, meeting))) => meeting.map(|m| m.subject).filter(|s| !s.is_empty()),
        Ok(None) => return not_found(),
        Err(e) => return ctx.store_failed(&portal, &e),
    };
    let title = subject.unwrap_or_else(|| t.arg("live-title", "room", &number.to_string()));
    let l = ctx.layout(&portal, "");
    render(
        StatusCode::OK,
        &LivePage {
            l,
            title,
            room: number.to_string(),
        },
    )
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
        let catalog = Catalog::new();
        for lang in Lang::ALL {
            let ids = catalog.ids(lang);
            let statuses = [
                RecordingStatus::Recording,
                RecordingStatus::Processing,
                RecordingStatus::PendingValidation,
                RecordingStatus::Validated,
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
            let mut source = std::fs::read_to_string(&path).unwrap();
            // Scripts hold code, not text: their strings come from data attributes.
            while let (Some(a), Some(b)) = (source.find("<script>"), source.find("</script>")) {
                source.replace_range(a..b + "</script>".len(), "");
            }
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
                .filter(|w| w.chars().any(char::is_alphanumeric))
                .filter(|w| *w != "pont" && *w != "sip")
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
