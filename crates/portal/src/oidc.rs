//! Sign-in by OpenID Connect, with the `openidconnect` crate: discovery, the authorization
//! code flow with PKCE (S256), `state` and `nonce`, and the ID token's checks (signature by a
//! key of the provider's JWKS, issuer, audience, expiry, nonce).
//!
//! Its HTTP goes through [`http_call`], a small adapter to the blocking `ureq` client run off
//! the async threads: it never follows a redirect (the OAuth 2.0 security BCP: a token
//! endpoint that redirects must not send our client secret elsewhere), it has a timeout, and
//! it speaks TLS with rustls on the aws-lc-rs provider the WebRTC stack already builds.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenClaims, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse as _,
};
use serde::Deserialize;

/// `[oidc]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL; discovery reads `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes asked for; `openid` is always sent.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// E-mail domains allowed to sign in; empty: anyone the provider vouches for.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// E-mail addresses of the admins.
    #[serde(default)]
    pub admins: Vec<String>,
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}

impl OidcConfig {
    /// Whether `email` may sign in under `allowed_domains` (its domain, case-insensitive).
    pub fn allows(&self, email: Option<&str>) -> bool {
        if self.allowed_domains.is_empty() {
            return true;
        }
        let Some(domain) = email.and_then(|e| e.rsplit_once('@')).map(|(_, d)| d) else {
            return false;
        };
        self.allowed_domains
            .iter()
            .any(|d| d.trim_start_matches('@').eq_ignore_ascii_case(domain))
    }

    pub fn is_admin(&self, email: Option<&str>) -> bool {
        email.is_some_and(|e| self.admins.iter().any(|a| a.eq_ignore_ascii_case(e)))
    }
}

/// Why a sign-in did not happen; each has its own page.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The provider could not be reached, or answered nonsense, at discovery or token time.
    #[error("identity provider unavailable: {0}")]
    ProviderDown(String),
    /// The callback does not match a login this browser started (wrong or replayed `state`).
    #[error("sign-in state does not match")]
    BadState,
    /// The provider refused the code (replayed, expired) or the user declined.
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    /// The ID token failed a check: signature, issuer, audience, expiry or nonce.
    #[error("the identity token is not valid: {0}")]
    BadToken(String),
    /// The provider vouched for an e-mail outside `allowed_domains`.
    #[error("e-mail domain not allowed")]
    DomainNotAllowed,
}

/// The HTTP client error type openidconnect sees.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// How long a call to the provider may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Discovery is read again after this long, or at once when a sign-in fails on a key.
const METADATA_TTL: Duration = Duration::from_secs(3600);

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What the provider said of the person, once every check passed.
#[derive(Debug, Clone)]
pub struct Asserted {
    pub issuer: String,
    pub subject: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// A login to send the browser to.
#[derive(Debug)]
pub struct Login {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// The relying party: configuration, the redirect URI and the discovered provider metadata.
pub struct Oidc {
    config: OidcConfig,
    redirect: RedirectUrl,
    agent: ureq::Agent,
    metadata: Mutex<Option<(Instant, Arc<CoreProviderMetadata>)>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

impl Oidc {
    /// `public_url` is the portal's base; the callback is `<public_url>/auth/callback`.
    pub fn new(config: OidcConfig, public_url: &str) -> Result<Self, String> {
        IssuerUrl::new(config.issuer.clone()).map_err(|e| format!("[oidc] issuer: {e}"))?;
        let redirect = RedirectUrl::new(format!("{public_url}/auth/callback"))
            .map_err(|e| format!("public URL {public_url}: {e}"))?;
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::WebPki)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .build();
        let agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(HTTP_TIMEOUT))
            .tls_config(tls)
            .build()
            .new_agent();
        Ok(Self {
            config,
            redirect,
            agent,
            metadata: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    async fn metadata(&self, refresh: bool) -> Result<Arc<CoreProviderMetadata>, SignInError> {
        if !refresh {
            let cached = self.metadata.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((at, meta)) = cached.as_ref()
                && at.elapsed() < METADATA_TTL
            {
                return Ok(Arc::clone(meta));
            }
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| SignInError::ProviderDown(e.to_string()))?;
        let client = self.http();
        let meta = CoreProviderMetadata::discover_async(issuer, &client)
            .await
            .map_err(|e| SignInError::ProviderDown(error_chain(&e)))?;
        let meta = Arc::new(meta);
        *self.metadata.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), Arc::clone(&meta)));
        Ok(meta)
    }

    fn client(&self, meta: &CoreProviderMetadata) -> Client {
        CoreClient::from_provider_metadata(
            meta.clone(),
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    fn http(
        &self,
    ) -> impl Fn(
        openidconnect::HttpRequest,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send>,
    > {
        let agent = self.agent.clone();
        move |request| {
            let agent = agent.clone();
            Box::pin(async move {
                tokio::task::spawn_blocking(move || http_call(&agent, request))
                    .await
                    .map_err(|e| HttpError(e.to_string()))?
            })
        }
    }

    /// Where to send the browser: the provider's authorization endpoint with a fresh `state`,
    /// `nonce` and PKCE challenge (which the caller keeps for the callback).
    pub async fn login(&self) -> Result<Login, SignInError> {
        let meta = self.metadata(false).await?;
        let client = self.client(&meta);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in self.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(Login {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// The callback: exchanges `code` (with the PKCE verifier) and checks the ID token.
    pub async fn finish(
        &self,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<Asserted, SignInError> {
        let meta = self.metadata(false).await?;
        let client = self.client(&meta);
        let http = self.http();
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| SignInError::ProviderDown(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => {
                    SignInError::Refused(r.to_string())
                }
                other => SignInError::ProviderDown(error_chain(&other)),
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| SignInError::BadToken("the provider sent no ID token".into()))?;
        let nonce = Nonce::new(nonce.to_owned());
        let claims: CoreIdTokenClaims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            Err(first) => {
                // The provider may have rotated its keys since discovery: read its JWKS
                // again once, then check again; a forged token fails both times.
                let meta = self.metadata(true).await?;
                let client = self.client(&meta);
                id_token
                    .claims(&client.id_token_verifier(), &nonce)
                    .map_err(|_| SignInError::BadToken(first.to_string()))?
                    .clone()
            }
        };
        Ok(asserted(&claims))
    }
}

fn asserted(claims: &CoreIdTokenClaims) -> Asserted {
    // The name in the default language, else given + family names.
    let name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_owned())
        .or_else(|| {
            let given = claims.given_name().and_then(|n| n.get(None));
            let family = claims.family_name().and_then(|n| n.get(None));
            let parts: Vec<&str> = [given.map(|n| n.as_str()), family.map(|n| n.as_str())]
                .into_iter()
                .flatten()
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        });
    // An e-mail the provider says it has not verified is not used to decide anything.
    let email = claims
        .email()
        .filter(|_| claims.email_verified() != Some(false))
        .map(|e| e.as_str().to_owned());
    let _: Option<&CoreGenderClaim> = claims.gender();
    Asserted {
        issuer: claims.issuer().as_str().to_owned(),
        subject: claims.subject().as_str().to_owned(),
        name,
        email,
    }
}

/// One HTTP exchange for openidconnect, on the blocking client; bodies up to 1 MiB.
fn http_call(
    agent: &ureq::Agent,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let response = agent.run(request).map_err(|e| HttpError(e.to_string()))?;
    let (parts, mut body) = response.into_parts();
    let bytes = body
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .map_err(|e| HttpError(e.to_string()))?;
    Ok(http::Response::from_parts(parts, bytes))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(domains: &[&str]) -> OidcConfig {
        OidcConfig {
            issuer: "https://idp.example".into(),
            client_id: "pont".into(),
            client_secret: None,
            scopes: default_scopes(),
            allowed_domains: domains.iter().map(|d| d.to_string()).collect(),
            admins: vec!["Boss@Univ.example".into()],
        }
    }

    #[test]
    fn allowed_domains_match_the_whole_domain_case_insensitively() {
        let c = config(&["univ.example", "@lab.example"]);
        assert!(c.allows(Some("a@UNIV.example")));
        assert!(c.allows(Some("b@lab.example")));
        assert!(!c.allows(Some("c@evil-univ.example")));
        assert!(!c.allows(Some("d@univ.example.evil")));
        assert!(!c.allows(None));
        assert!(config(&[]).allows(None));
        assert!(c.is_admin(Some("boss@univ.example")));
        assert!(!c.is_admin(Some("other@univ.example")));
    }
}
