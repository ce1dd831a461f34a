//! Typed views of the headers the core reads: URIs (RFC 3261 §19.1), name-addr (§20.10, §25.1),
//! Via (§20.42, RFC 3581 rport, RFC 5118 IPv6 `received`), CSeq (§20.16), plus the
//! parameter lists they share.

use std::fmt;
use std::net::IpAddr;

use crate::message::{is_token, is_token_char};

/// Why a header value does not parse. The core answers such a request 400 with the variant's
/// text as the reason phrase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    #[error("Malformed URI")]
    BadUri,
    #[error("Malformed name-addr")]
    BadNameAddr,
    #[error("Unterminated quoted string")]
    UnterminatedQuote,
    #[error("Malformed parameter")]
    BadParam,
    #[error("Malformed Via")]
    BadVia,
    #[error("Malformed CSeq")]
    BadCSeq,
    #[error("Malformed Max-Forwards")]
    BadMaxForwards,
    #[error("Malformed Session-Expires")]
    BadSessionExpires,
}

/// `;name[=value]` parameters in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, Option<String>)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// The value of `name`, `None` if absent or valueless.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).flatten()
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn set(&mut self, name: &str, value: Option<String>) {
        match self
            .0
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }

    /// Parse `;a=b ; c ;d = "e"` (LWS around `;` and `=` allowed, RFC 3261 §25.1 SEMI/EQUAL).
    /// An empty parameter (`;;`) is an error (RFC 4475 §3.1.2.1).
    fn parse(mut s: &str) -> Result<Self, HeaderError> {
        let mut params = Vec::new();
        loop {
            s = s.trim_start();
            if s.is_empty() {
                return Ok(Self(params));
            }
            s = s
                .strip_prefix(';')
                .ok_or(HeaderError::BadParam)?
                .trim_start();
            let name_len = s.find(|c: char| !is_token_char(c)).unwrap_or(s.len());
            let name = &s[..name_len];
            if name.is_empty() {
                return Err(HeaderError::BadParam);
            }
            s = s[name_len..].trim_start();
            let value = if let Some(rest) = s.strip_prefix('=') {
                let rest = rest.trim_start();
                let (value, after) = if rest.starts_with('"') {
                    let end = quoted_end(rest)?;
                    (&rest[..end], &rest[end..])
                } else if rest.starts_with('[') {
                    let end = rest.find(']').ok_or(HeaderError::BadParam)? + 1;
                    (&rest[..end], &rest[end..])
                } else {
                    let end = rest
                        .find(|c: char| !(is_token_char(c) || c == ':' || c == '[' || c == ']'))
                        .unwrap_or(rest.len());
                    (&rest[..end], &rest[end..])
                };
                if value.is_empty() {
                    return Err(HeaderError::BadParam);
                }
                s = after;
                Some(value.to_owned())
            } else {
                None
            };
            params.push((name.to_owned(), value));
        }
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, v) in &self.0 {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}

/// Offset just past the closing quote of a quoted string starting at `s[0] == '"'`.
fn quoted_end(s: &str) -> Result<usize, HeaderError> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Ok(i + 1);
        }
    }
    Err(HeaderError::UnterminatedQuote)
}

/// The text of a quoted string (`s` starts and ends with `"`), its `\` escapes undone.
pub(crate) fn unquote(s: &str) -> String {
    let inner = &s[1..s.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if escaped || c != '\\' {
            out.push(c);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    out
}

/// A `sip:`/`sips:` URI (RFC 3261 §19.1.1). The user part keeps its escapes; use
/// [`SipUri::user_decoded`] for the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    pub secure: bool,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Host as written; an IPv6 reference keeps its brackets.
    pub host: String,
    pub port: Option<u16>,
    pub params: Params,
    /// `?h=v&…` as written, without the `?`.
    pub headers: Option<String>,
}

/// Any URI: SIP/SIPS parsed, other schemes kept opaque (RFC 3261 §19.1: absoluteURI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    Sip(SipUri),
    Other { scheme: String, opaque: String },
}

/// `%HH` decoding (RFC 3261 §19.1.2); an invalid escape is kept as written.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[') {
        // RFC 5118 §4.10 asks to tolerate both the 2- and 3-colon forms, so only the
        // alphabet is checked here, not the exact IPv6 grammar.
        let Some(inner) = inner.strip_suffix(']') else {
            return false;
        };
        return !inner.is_empty()
            && inner
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
    }
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// Split `host[:port]` with IPv6 references in brackets.
fn parse_hostport(s: &str) -> Result<(String, Option<u16>), HeaderError> {
    let (host, port) = if s.starts_with('[') {
        let end = s.find(']').ok_or(HeaderError::BadUri)? + 1;
        let rest = &s[end..];
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p),
            None if rest.is_empty() => None,
            None => return Err(HeaderError::BadUri),
        };
        (&s[..end], port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if !valid_host(host) {
        return Err(HeaderError::BadUri);
    }
    let port = match port {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().map_err(|_| HeaderError::BadUri)?)
        }
        Some(_) => return Err(HeaderError::BadUri),
        None => None,
    };
    Ok((host.to_owned(), port))
}

fn valid_scheme(s: &str) -> bool {
    // RFC 3261 §25.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

impl Uri {
    pub fn parse(s: &str) -> Result<Self, HeaderError> {
        let (scheme, rest) = s.split_once(':').ok_or(HeaderError::BadUri)?;
        if !valid_scheme(scheme) {
            return Err(HeaderError::BadUri);
        }
        if rest.is_empty()
            || rest
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>\"".contains(c))
        {
            return Err(HeaderError::BadUri);
        }
        let secure = if scheme.eq_ignore_ascii_case("sip") {
            false
        } else if scheme.eq_ignore_ascii_case("sips") {
            true
        } else {
            return Ok(Self::Other {
                scheme: scheme.to_ascii_lowercase(),
                opaque: rest.to_owned(),
            });
        };
        // No unescaped '@' may appear in params or headers (RFC 3261 §25.1 paramchar,
        // hvalue), so an '@' separates userinfo from hostport.
        let (userinfo, rest) = match rest.split_once('@') {
            Some((u, r)) => (Some(u), r),
            None => (None, rest),
        };
        if rest.contains('@') {
            return Err(HeaderError::BadUri);
        }
        let (user, password) = match userinfo {
            Some("") => return Err(HeaderError::BadUri),
            Some(u) => match u.split_once(':') {
                Some((u, p)) => (Some(u.to_owned()), Some(p.to_owned())),
                None => (Some(u.to_owned()), None),
            },
            None => (None, None),
        };
        let (rest, headers) = match rest.split_once('?') {
            Some((r, h)) => (r, Some(h.to_owned())),
            None => (rest, None),
        };
        let hp_end = rest.find(';').unwrap_or(rest.len());
        let (host, port) = parse_hostport(&rest[..hp_end])?;
        let params = Params::parse(&rest[hp_end..]).map_err(|_| HeaderError::BadUri)?;
        Ok(Self::Sip(SipUri {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        }))
    }

    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Self::Sip(u) => Some(u),
            Self::Other { .. } => None,
        }
    }
}

impl SipUri {
    /// The user part with `%HH` escapes decoded (RFC 3261 §19.1.2).
    pub fn user_decoded(&self) -> Option<String> {
        self.user.as_deref().map(percent_decode)
    }

    /// `host` without IPv6 brackets, parsed when it is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sip(u) => u.fmt(f),
            Self::Other { scheme, opaque } => write!(f, "{scheme}:{opaque}"),
        }
    }
}

/// `[display-name] <URI> *(;param)` or `addr-spec *(;param)` (RFC 3261 §20.10): From, To,
/// Contact, Route, Record-Route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    pub display_name: Option<String>,
    pub uri: Uri,
    pub params: Params,
}

impl NameAddr {
    pub fn parse(s: &str) -> Result<Self, HeaderError> {
        let s = s.trim();
        let (display_name, rest) = if s.starts_with('"') {
            let end = quoted_end(s)?;
            let rest = s[end..].trim_start();
            if !rest.starts_with('<') {
                return Err(HeaderError::BadNameAddr);
            }
            (Some(unquote(&s[..end])), rest)
        } else if let Some(lt) = s.find('<') {
            // display-name = *(token LWS): every word must be a token (RFC 4475 §3.1.2.15).
            let words = s[..lt].trim();
            if !words.split_whitespace().all(is_token) {
                return Err(HeaderError::BadNameAddr);
            }
            let name = (!words.is_empty()).then(|| words.to_owned());
            (name, &s[lt..])
        } else {
            // addr-spec: the URI ends at the first ';' or whitespace, and may not hold
            // ',', '?' or ';' of its own (RFC 3261 §20.10, RFC 4475 §3.1.2.13).
            let end = s.find([';', ' ', '\t']).unwrap_or(s.len());
            let uri_text = &s[..end];
            if uri_text.contains([',', '?']) {
                return Err(HeaderError::BadNameAddr);
            }
            let uri = Uri::parse(uri_text)?;
            let params = Params::parse(&s[end..])?;
            return Ok(Self {
                display_name: None,
                uri,
                params,
            });
        };
        // LAQUOT addr-spec RAQUOT: no whitespace inside the brackets (RFC 4475 §3.1.2.14).
        let inner_start = 1;
        let gt = rest.find('>').ok_or(HeaderError::BadNameAddr)?;
        let uri = Uri::parse(&rest[inner_start..gt])?;
        let params = Params::parse(&rest[gt + 1..])?;
        Ok(Self {
            display_name,
            uri,
            params,
        })
    }

    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display_name {
            write!(f, "\"{}\" ", d.replace('\\', "\\\\").replace('"', "\\\""))?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// The RFC 3261 §8.1.1.7 magic cookie: a branch starting with it is unique per transaction.
pub const BRANCH_COOKIE: &str = "z9hG4bK";

/// One Via value (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `SIP/2.0` normally; kept so that a 505 can still be answered.
    pub protocol: String,
    /// `UDP`, `TCP`, `TLS`, … (any token, RFC 4475 §3.1.1.10).
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub params: Params,
}

impl Via {
    /// Parse one Via value; LWS around `/` is allowed (RFC 4475 §3.1.1.1).
    pub fn parse(s: &str) -> Result<Self, HeaderError> {
        let mut parts = s.splitn(3, '/');
        let name = parts.next().ok_or(HeaderError::BadVia)?.trim();
        let version = parts.next().ok_or(HeaderError::BadVia)?.trim();
        let rest = parts.next().ok_or(HeaderError::BadVia)?.trim_start();
        if !is_token(name) || !is_token(version) {
            return Err(HeaderError::BadVia);
        }
        let t_end = rest
            .find(|c: char| !is_token_char(c))
            .ok_or(HeaderError::BadVia)?;
        let transport = &rest[..t_end];
        let rest = rest[t_end..].trim_start();
        let hp_end = rest
            .find(|c: char| c == ';' || c.is_whitespace())
            .unwrap_or(rest.len());
        let (host, port) = parse_hostport(&rest[..hp_end]).map_err(|_| HeaderError::BadVia)?;
        let params = Params::parse(&rest[hp_end..]).map_err(|_| HeaderError::BadVia)?;
        if transport.is_empty() {
            return Err(HeaderError::BadVia);
        }
        Ok(Self {
            protocol: format!("{name}/{version}"),
            transport: transport.to_owned(),
            host,
            port,
            params,
        })
    }

    pub fn branch(&self) -> Option<&str> {
        self.params.value("branch")
    }

    /// `sent-by` as written, for transaction matching (RFC 3261 §17.2.3).
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} {}", self.protocol, self.transport, self.sent_by())?;
        write!(f, "{}", self.params)
    }
}

/// CSeq (RFC 3261 §20.16): a 32-bit sequence number and the method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: String,
}

impl CSeq {
    pub fn parse(s: &str) -> Result<Self, HeaderError> {
        let mut it = s.split_whitespace();
        let (Some(num), Some(method), None) = (it.next(), it.next(), it.next()) else {
            return Err(HeaderError::BadCSeq);
        };
        if !num.bytes().all(|b| b.is_ascii_digit()) || !is_token(method) {
            return Err(HeaderError::BadCSeq);
        }
        // RFC 3261 §8.1.1.5: the number MUST be expressible as a 32-bit unsigned integer.
        let seq = num.parse().map_err(|_| HeaderError::BadCSeq)?;
        Ok(Self {
            seq,
            method: method.to_owned(),
        })
    }
}

/// Max-Forwards (RFC 3261 §20.22): digits; leading zeros allowed (RFC 4475 §3.1.1.1).
pub fn parse_max_forwards(s: &str) -> Result<u32, HeaderError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeaderError::BadMaxForwards);
    }
    s.parse().map_err(|_| HeaderError::BadMaxForwards)
}

/// Session-Expires (RFC 4028 §4): delta-seconds and an optional refresher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionExpires {
    pub seconds: u32,
    pub refresher: Option<String>,
}

impl SessionExpires {
    pub fn parse(s: &str) -> Result<Self, HeaderError> {
        let end = s.find(';').unwrap_or(s.len());
        let num = s[..end].trim();
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HeaderError::BadSessionExpires);
        }
        let seconds = num.parse().map_err(|_| HeaderError::BadSessionExpires)?;
        let params = Params::parse(&s[end..]).map_err(|_| HeaderError::BadSessionExpires)?;
        Ok(Self {
            seconds,
            refresher: params.value("refresher").map(str::to_ascii_lowercase),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_forms() {
        let Uri::Sip(u) = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap() else {
            panic!()
        };
        assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
        assert_eq!(u.host, "example.com");
        let Uri::Sip(u) = Uri::parse("sip:[2001:db8::10]:5070;lr").unwrap() else {
            panic!()
        };
        assert_eq!((u.host.as_str(), u.port), ("[2001:db8::10]", Some(5070)));
        assert!(u.params.has("lr"));
        assert!(Uri::parse("sip:2001:db8::10").is_err());
        assert!(Uri::parse("<sip:a@b>").is_err());
        assert!(matches!(
            Uri::parse("soap.beep://192.0.2.103:3002").unwrap(),
            Uri::Other { .. }
        ));
        let Uri::Sip(u) = Uri::parse("sip:100*1234@bridge").unwrap() else {
            panic!()
        };
        assert_eq!(u.user_decoded().as_deref(), Some("100*1234"));
        assert_eq!(
            percent_decode("sips%3Auser%40example.com"),
            "sips:user@example.com"
        );
        assert_eq!(percent_decode("a%4"), "a%4");
    }

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com> ; tag = 98asjd8"#,
        )
        .unwrap();
        assert_eq!(n.display_name.as_deref(), Some(r#"J Rosenberg \""#));
        assert_eq!(n.tag(), Some("98asjd8"));
        let n =
            NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(n.tag(), Some("1918181833n"));
        let n = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(n.display_name.as_deref(), Some("caller"));
        for bad in [
            r#""Mr. J. User <sip:j.user@example.com>"#,
            r#""Watson, Thomas" < sip:t.watson@example.org >"#,
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            r#""Joe" <sip:joe@example.org>;;;;"#,
        ] {
            assert!(NameAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn via_forms() {
        let v = Via::parse("SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.branch(), Some("390skdjuw"));
        let v =
            Via::parse("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3")
                .unwrap();
        assert_eq!(v.params.value("received"), Some("2001:db8::9:255"));
        let v = Via::parse("SIP/2.0/UDP 10.0.0.1:5062;rport;branch=z9hG4bKx").unwrap();
        assert_eq!(v.params.get("rport"), Some(None));
        assert_eq!(v.port, Some(5062));
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
    }

    #[test]
    fn scalars() {
        assert_eq!(CSeq::parse("0009 INVITE").unwrap().seq, 9);
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert_eq!(parse_max_forwards("0068"), Ok(68));
        let se = SessionExpires::parse("1800;refresher=uac").unwrap();
        assert_eq!((se.seconds, se.refresher.as_deref()), (1800, Some("uac")));
    }
}
