//! The UAC side of HTTP Digest authentication in SIP (RFC 3261 §22.2, §22.4; RFC 2617 §3.2;
//! RFC 8760 §2): read a `WWW-Authenticate`/`Proxy-Authenticate` challenge and compute the
//! `Authorization`/`Proxy-Authorization` value. `MD5` and `MD5-sess` only; `qop=auth` or no qop
//! (RFC 2069 compatibility). `auth-int` and SHA-256 (RFC 8760) challenges are not usable.

use std::fmt::Write as _;

use md5::{Digest as _, Md5};

use crate::message::split_commas;

/// One `Digest` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// `MD5` or `MD5-sess` as written (absent means MD5, RFC 2617 §3.2.1).
    pub algorithm: Option<String>,
    /// True when the challenge offers `qop=auth`.
    pub qop_auth: bool,
}

impl Challenge {
    /// A `Digest` challenge we can answer; `None` for another scheme, a missing nonce, an
    /// algorithm other than MD5/MD5-sess, or a qop list without `auth`.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let (scheme, rest) = value.split_once(|c: char| c.is_ascii_whitespace())?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let (mut realm, mut nonce, mut opaque, mut algorithm, mut qop) =
            (None, None, None, None, None);
        for param in split_commas(rest) {
            let Some((k, v)) = param.split_once('=') else {
                continue;
            };
            let v = unquote(v.trim());
            match k.trim().to_ascii_lowercase().as_str() {
                "realm" => realm = Some(v),
                "nonce" => nonce = Some(v),
                "opaque" => opaque = Some(v),
                "algorithm" => algorithm = Some(v),
                "qop" => qop = Some(v),
                _ => {}
            }
        }
        if let Some(a) = &algorithm
            && !a.eq_ignore_ascii_case("MD5")
            && !a.eq_ignore_ascii_case("MD5-sess")
        {
            return None;
        }
        let qop_auth = match &qop {
            None => false,
            Some(q) => {
                if !q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")) {
                    return None;
                }
                true
            }
        };
        Some(Self {
            realm: realm.unwrap_or_default(),
            nonce: nonce?,
            opaque,
            algorithm,
            qop_auth,
        })
    }

    fn is_sess(&self) -> bool {
        self.algorithm
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case("MD5-sess"))
    }
}

/// Lower-case hex MD5 of `s`.
fn md5_hex(s: &str) -> String {
    let mut out = String::with_capacity(32);
    for b in Md5::digest(s.as_bytes()) {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The `response` value (RFC 2617 §3.2.2.1). `nc` and `cnonce` are used with qop=auth and
/// MD5-sess only.
pub(crate) fn response(
    ch: &Challenge,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: &str,
) -> String {
    let mut ha1 = md5_hex(&format!("{user}:{}:{password}", ch.realm));
    if ch.is_sess() {
        ha1 = md5_hex(&format!("{ha1}:{}:{cnonce}", ch.nonce));
    }
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    if ch.qop_auth {
        md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", ch.nonce))
    } else {
        md5_hex(&format!("{ha1}:{}:{ha2}", ch.nonce))
    }
}

/// The `Authorization`/`Proxy-Authorization` value answering `ch` for a request `method` to
/// `uri` (RFC 3261 §22.4: the digest-uri is the Request-URI), first use of the nonce.
pub(crate) fn authorization(
    ch: &Challenge,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
) -> String {
    const NC: &str = "00000001";
    let resp = response(ch, user, password, method, uri, cnonce, NC);
    let mut v = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{resp}\", algorithm={}",
        quote(user),
        quote(&ch.realm),
        quote(&ch.nonce),
        quote(uri),
        ch.algorithm.as_deref().unwrap_or("MD5"),
    );
    if ch.qop_auth || ch.is_sess() {
        let _ = write!(v, ", cnonce=\"{}\"", quote(cnonce));
    }
    if ch.qop_auth {
        let _ = write!(v, ", qop=auth, nc={NC}");
    }
    if let Some(o) = &ch.opaque {
        let _ = write!(v, ", opaque=\"{}\"", quote(o));
    }
    v
}

fn unquote(s: &str) -> String {
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        crate::header::unquote(s)
    } else {
        s.to_owned()
    }
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_with_qop_auth() {
        // RFC 2617 §3.5 (its `opaque` and `qop="auth,auth-int"` included).
        let ch = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert!(ch.qop_auth);
        assert_eq!(ch.realm, "testrealm@host.com");
        let r = response(
            &ch,
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
            "00000001",
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
        let v = authorization(
            &ch,
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
        );
        assert!(
            v.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{v}"
        );
        assert!(v.contains(", qop=auth, nc=00000001"), "{v}");
        assert!(
            v.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
            "{v}"
        );
    }

    #[test]
    fn without_qop_and_refusals() {
        let ch = Challenge::parse("digest realm=\"asterisk\",nonce=\"abc\"").unwrap();
        assert!(!ch.qop_auth);
        // RFC 2069: MD5(HA1:nonce:HA2), no cnonce or nc.
        let ha1 = md5_hex("1000:asterisk:secret");
        let ha2 = md5_hex("INVITE:sip:1234@192.0.2.5");
        let want = md5_hex(&format!("{ha1}:abc:{ha2}"));
        let v = authorization(&ch, "1000", "secret", "INVITE", "sip:1234@192.0.2.5", "c");
        assert!(v.contains(&format!("response=\"{want}\"")), "{v}");
        assert!(!v.contains("cnonce") && !v.contains("qop"), "{v}");
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert!(Challenge::parse("Basic realm=\"x\"").is_none());
        assert!(Challenge::parse("Digest realm=\"x\", nonce=\"n\", algorithm=SHA-256").is_none());
        assert!(Challenge::parse("Digest realm=\"x\", nonce=\"n\", qop=\"auth-int\"").is_none());
        assert!(Challenge::parse("Digest realm=\"x\"").is_none(), "no nonce");
    }
}
