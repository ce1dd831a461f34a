//! Cookies and request forgery: the session cookie, and the check that a state-changing
//! request made with it comes from our own pages.
//!
//! Two defences, as OWASP's CSRF sheet recommends together: every portal form carries the
//! session's synchronizer token (checked by [`form_token_ok`]), and a request the API accepts
//! by cookie must come from our own origin (`Origin` matching `Host`) or carry the token in
//! `X-CSRF-Token` ([`api_request_ok`]). Bearer-token API calls are not cookie-borne and need
//! neither.

use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, Method};

/// The session cookie: a random secret whose hash names a `sessions` row.
pub const SESSION_COOKIE: &str = "pont_session";

/// The cookie that ties an OpenID Connect callback to the browser that started the login:
/// it holds the `state`, so a callback forged into someone else's browser is refused.
pub const LOGIN_COOKIE: &str = "pont_login";

/// The header a script sends the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of the cookie `name`, if set and not empty.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: `HttpOnly` unless `script` may read it, `SameSite=Lax`, `Secure` when
/// the portal is served over HTTPS; `max_age` 0 deletes it.
pub fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    secure: bool,
    script: bool,
) -> HeaderValue {
    let mut s = format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Lax");
    if !script {
        s.push_str("; HttpOnly");
    }
    if secure {
        s.push_str("; Secure");
    }
    // Our values are tokens, digits and language codes: always a valid header value.
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether a form's `csrf` field is the session's token.
pub fn form_token_ok(sent: Option<&str>, session_csrf: &str) -> bool {
    sent.is_some_and(|t| same_secret(t, session_csrf))
}

/// Whether a request the API authenticated by the session cookie may change state: safe
/// methods always; others when `X-CSRF-Token` is the session's token, or when the browser
/// says it comes from this very origin (`Origin`'s host and port are the `Host` header's).
pub fn api_request_ok(method: &Method, headers: &HeaderMap, session_csrf: &str) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    if let Some(sent) = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        return same_secret(sent, session_csrf);
    }
    same_origin(headers)
}

/// `Origin` names the host the request was sent to (`Host`): a page of ours sent it.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        _ => false,
    }
}

/// A local path to go to after signing in: only `/…` (not `//host`, not `/\host`), else `/`.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 512
                && !p.chars().any(|c| c.is_control()) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cookie_finds_its_value_among_others() {
        let h = headers(&[("cookie", "a=1; pont_session=xyz"), ("cookie", "b=2")]);
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "b").as_deref(), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
        assert_eq!(
            cookie(&headers(&[("cookie", "pont_session=")]), SESSION_COOKIE),
            None
        );
    }

    #[test]
    fn a_cookie_post_needs_our_origin_or_the_token() {
        let csrf = "tok";
        let post = Method::POST;
        assert!(api_request_ok(&Method::GET, &HeaderMap::new(), csrf));
        assert!(!api_request_ok(&post, &HeaderMap::new(), csrf));
        let ours = headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(api_request_ok(&post, &ours, csrf));
        let theirs = headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(!api_request_ok(&post, &theirs, csrf));
        let null = headers(&[("origin", "null"), ("host", "127.0.0.1:8080")]);
        assert!(!api_request_ok(&post, &null, csrf));
        assert!(api_request_ok(
            &post,
            &headers(&[("x-csrf-token", "tok")]),
            csrf
        ));
        // A wrong token is refused even from our origin: it was sent on purpose.
        let wrong = headers(&[
            ("x-csrf-token", "tok2"),
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(!api_request_ok(&post, &wrong, csrf));
    }

    #[test]
    fn next_is_a_local_path_or_home() {
        assert_eq!(local_path(Some("/meetings?x=1")), "/meetings?x=1");
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(Some("/a\nb")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!form_token_ok(None, "abc"));
        assert!(form_token_ok(Some("abc"), "abc"));
    }
}
