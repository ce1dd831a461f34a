//! The organizer portal: server-rendered pages in French and English, accounts, server-side
//! sessions and sign-in by OpenID Connect, mounted by the `pont` binary as an axum router.
//!
//! - [`i18n`]: one Fluent catalogue per language; the visitor's language.
//! - [`auth`]: cookies and the CSRF rules every cookie-borne state change follows.
//! - [`oidc`]: the relying party (discovery, code flow with PKCE, ID-token checks).
//! - `pages`: the pages and forms (askama templates, checked at compile time).
//!
//! What it must not do: hold a user-visible string outside `i18n/*.ftl`, render anything from
//! the identity provider or a visitor unescaped, change state on a cookie without the CSRF
//! check, or answer a 500 for a bad or expired session (that is the sign-in page).
#![forbid(unsafe_code)]

pub mod auth;
pub mod i18n;
pub mod mail;
pub mod oidc;
mod pages;
pub mod planning;

use std::sync::{Arc, Mutex, PoisonError};

use axum::http::HeaderMap;
use pont_meet::{MeetError, Session, SessionLimits, Store};

pub use i18n::{Catalog, Lang, Tr};
pub use oidc::{Oidc, OidcConfig};
pub use pages::{router, too_many_requests};

/// The meet store, shared by the portal and the API, used off the async threads.
#[derive(Clone)]
pub struct SharedStore(Arc<Mutex<Store>>);

/// A store operation that did not complete.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Meet(#[from] MeetError),
    #[error("store task failed: {0}")]
    Task(String),
}

impl SharedStore {
    pub fn new(store: Store) -> Self {
        Self(Arc::new(Mutex::new(store)))
    }

    /// Runs `op` on a blocking thread (SQLite blocks).
    pub async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut Store) -> Result<T, MeetError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves the store usable: SQLite's transactions
            // roll back on drop, so there is no half-written state to protect.
            let mut store = store.lock().unwrap_or_else(PoisonError::into_inner);
            op(&mut store)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
        .map_err(StoreError::from)
    }
}

/// Session lifetimes: a working day idle, a week at most.
pub const DEFAULT_SESSION_LIMITS: SessionLimits = SessionLimits {
    idle_secs: 12 * 3600,
    absolute_secs: 7 * 24 * 3600,
};

/// What the portal is told at start.
#[derive(Debug, Clone)]
pub struct PortalConfig {
    /// Base of links, without a trailing slash: `http://127.0.0.1:8080`.
    pub public_url: String,
    /// Host (and port) of SIP URIs shown to organizers.
    pub sip_host: String,
    pub oidc: Option<OidcConfig>,
    pub sessions: SessionLimits,
    /// `[meetings] timezone`: the zone a new meeting is planned in unless it says otherwise.
    pub default_timezone: String,
    /// `[dialin] numbers`: the phone numbers shown in invitations.
    pub dialin_numbers: Vec<String>,
    /// The folder of the recording files, where a recording's chat is saved beside it (the
    /// recording's page offers it when there is one).
    pub recordings_dir: Option<std::path::PathBuf>,
    pub mail: mail::MailSettings,
    /// The server itself serves HTTPS (`--tls-cert`): cookies are `Secure` even if
    /// `public_url` says `http://`.
    pub served_over_tls: bool,
}

/// The portal's shared state.
#[derive(Clone)]
pub struct Portal {
    inner: Arc<Inner>,
}

struct Inner {
    store: SharedStore,
    catalog: Catalog,
    oidc: Option<Oidc>,
    config: PortalConfig,
    /// Tells the mail task the queue has something new.
    mail_wake: Arc<tokio::sync::Notify>,
}

impl Portal {
    pub fn new(store: SharedStore, config: PortalConfig) -> Result<Self, String> {
        let oidc = config
            .oidc
            .clone()
            .map(|c| Oidc::new(c, &config.public_url))
            .transpose()?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                catalog: Catalog::new(),
                oidc,
                config,
                mail_wake: Arc::new(tokio::sync::Notify::new()),
            }),
        })
    }

    pub fn store(&self) -> &SharedStore {
        &self.inner.store
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    pub fn config(&self) -> &PortalConfig {
        &self.inner.config
    }

    /// Starts the task that sends the mail queue (on the current runtime).
    pub fn spawn_mailer(&self) {
        tokio::spawn(mail::run_mailer(
            self.inner.store.clone(),
            self.inner.config.mail.clone(),
            Arc::clone(&self.inner.mail_wake),
        ));
    }

    pub(crate) fn wake_mailer(&self) {
        self.inner.mail_wake.notify_one();
    }

    /// Whether mails leave the machine (`[mail] smtp_url` is set) or stay in the outbox.
    pub fn mail_configured(&self) -> bool {
        self.inner.config.mail.smtp_url.is_some()
    }

    /// Cookies get `Secure` when the portal is reached over HTTPS: served with TLS here, or
    /// behind a TLS proxy (an `https://` public URL).
    pub fn secure_cookies(&self) -> bool {
        self.inner.config.served_over_tls || self.inner.config.public_url.starts_with("https://")
    }

    /// The live session of the request's cookie, if any. A store failure counts as no
    /// session (logged): the visitor sees the sign-in page, not a 500.
    pub async fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let secret = auth::cookie(headers, auth::SESSION_COOKIE)?;
        // Secrets are `pont_` and hex: anything else is not worth a database lookup.
        if secret.len() > 100
            || !secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return None;
        }
        let limits = self.inner.config.sessions;
        let now = unix_now();
        match self
            .inner
            .store
            .run(move |s| s.session(&secret, limits, now))
            .await
        {
            Ok(session) => session,
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                None
            }
        }
    }
}

/// Seconds since the Unix epoch, from the system clock (the store is told the time).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
