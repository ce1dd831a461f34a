//! SIP message parsing and serialisation (RFC 3261 §7, §25).
//!
//! The parser is strict where RFC 4475 says a message must be rejected (start line shape,
//! Content-Length framing) and liberal where it says a message must parse (folding, LWS around
//! the colon, compact names, unknown headers, any UTF-8 in reason phrases and quoted strings).
//! Typed views of individual headers live in [`crate::header`]; they are parsed on demand so
//! an unknown or malformed header the core never reads cannot fail a message.

use std::fmt;

/// A SIP method (RFC 3261 §7.1). Extension methods keep their token as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Info,
    Update,
    Register,
    Prack,
    Subscribe,
    Notify,
    Publish,
    Refer,
    Message,
    /// Any other token.
    Extension(String),
}

impl Method {
    /// Methods are case-sensitive (RFC 3261 §7.1): `invite` is an extension method.
    pub fn from_token(token: &str) -> Self {
        match token {
            "INVITE" => Self::Invite,
            "ACK" => Self::Ack,
            "BYE" => Self::Bye,
            "CANCEL" => Self::Cancel,
            "OPTIONS" => Self::Options,
            "INFO" => Self::Info,
            "UPDATE" => Self::Update,
            "REGISTER" => Self::Register,
            "PRACK" => Self::Prack,
            "SUBSCRIBE" => Self::Subscribe,
            "NOTIFY" => Self::Notify,
            "PUBLISH" => Self::Publish,
            "REFER" => Self::Refer,
            "MESSAGE" => Self::Message,
            other => Self::Extension(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Options => "OPTIONS",
            Self::Info => "INFO",
            Self::Update => "UPDATE",
            Self::Register => "REGISTER",
            Self::Prack => "PRACK",
            Self::Subscribe => "SUBSCRIBE",
            Self::Notify => "NOTIFY",
            Self::Publish => "PUBLISH",
            Self::Refer => "REFER",
            Self::Message => "MESSAGE",
            Self::Extension(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header field: the name in its long form for the compact forms we know (RFC 3261
/// §7.3.3), the value unfolded (RFC 3261 §7.3.1: folding is replaced by one SP) and trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// Header fields in message order. Lookups are by case-insensitive name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every header line called `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every comma-separated value of `name` across all its header lines (RFC 3261 §7.3.1),
    /// splitting outside quoted strings and angle brackets.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name).flat_map(split_commas)
    }

    pub fn count(&self, name: &str) -> usize {
        self.0
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    }

    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push(Header {
            name: name.into(),
            value: value.into(),
        });
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|h| !h.name.eq_ignore_ascii_case(name));
    }

    /// Replace every `name` line by one with `value`, at the position of the first.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .0
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(name))
        {
            Some(i) => {
                self.0[i].value = value;
                let mut seen = 0;
                self.0.retain(|h| {
                    if h.name.eq_ignore_ascii_case(name) {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.push(name, value),
        }
    }
}

/// Split a header value at commas that are outside quoted strings and `<…>`.
pub fn split_commas(value: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut in_quotes, mut in_angle, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '<' if !in_quotes => in_angle = true,
            '>' if !in_quotes => in_angle = false,
            ',' if !in_quotes && !in_angle => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.into_iter()
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The Request-URI as written; parse it with [`crate::header::Uri::parse`].
    pub uri: String,
    /// `SIP/2.0` for every request the core accepts; anything else is answered 505.
    pub version: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub code: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// A parsed SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

/// How the message arrived, which decides what a missing Content-Length means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One UDP datagram: without Content-Length the body runs to the end of the datagram,
    /// and octets after the Content-Length are discarded (RFC 3261 §18.3).
    Datagram,
    /// One message cut from a stream by [`crate::StreamFramer`]: without Content-Length the
    /// body is empty.
    Stream,
}

/// Why bytes are not a SIP message. Every variant of a request is answered 400 with the
/// variant's text as the reason phrase when the headers needed for a response can be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Nothing but whitespace.
    #[error("Empty message")]
    Empty,
    /// No empty line ends the header section.
    #[error("Missing end of headers")]
    NoEndOfHeaders,
    /// Start line not `Method SP Request-URI SP SIP-Version` (RFC 3261 §7.1) or
    /// `SIP-Version SP Status-Code SP Reason-Phrase` (§7.2).
    #[error("Malformed start line")]
    BadStartLine,
    /// Status code not three digits (RFC 3261 §7.2).
    #[error("Malformed status code")]
    BadStatusCode,
    /// A header line without a colon, or a name that is not a token (RFC 3261 §7.3.1).
    #[error("Malformed header line")]
    BadHeaderLine,
    /// Content-Length not a non-negative decimal that fits in 32 bits.
    #[error("Malformed Content-Length")]
    BadContentLength,
    /// More than one Content-Length (RFC 4475 §3.3.9: framing cannot be trusted).
    #[error("Multiple Content-Length values")]
    MultipleContentLength,
    /// Content-Length larger than the bytes received (RFC 4475 §3.1.2.2).
    #[error("Content-Length larger than message")]
    Truncated,
}

const COMPACT: &[(&str, &str)] = &[
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("e", "Content-Encoding"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("f", "From"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("t", "To"),
    ("v", "Via"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("b", "Referred-By"),
    ("u", "Allow-Events"),
    ("x", "Session-Expires"),
    ("a", "Accept-Contact"),
    ("j", "Reject-Contact"),
    ("d", "Request-Disposition"),
    ("y", "Identity"),
    ("n", "Identity-Info"),
];

const CANONICAL: &[&str] = &[
    "Call-ID",
    "Contact",
    "Content-Length",
    "Content-Type",
    "From",
    "To",
    "Via",
    "CSeq",
    "Max-Forwards",
    "Route",
    "Record-Route",
    "Require",
    "Supported",
    "Session-Expires",
    "Min-SE",
];

fn canonical_name(name: &str) -> String {
    if name.len() == 1
        && let Some((_, long)) = COMPACT.iter().find(|(c, _)| c.eq_ignore_ascii_case(name))
    {
        return (*long).to_owned();
    }
    if let Some(c) = CANONICAL.iter().find(|c| c.eq_ignore_ascii_case(name)) {
        return (*c).to_owned();
    }
    name.to_owned()
}

/// `token` characters (RFC 3261 §25.1).
pub fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

/// Find the end of the header section: the offset of the first octet after the empty line.
/// Lines end in CRLF; a bare LF is tolerated.
pub(crate) fn find_head_end(data: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\n' {
            // Line ended at i; is the next line empty?
            if data.get(i + 1) == Some(&b'\n') {
                return Some((i + 1, i + 2));
            }
            if data.get(i + 1) == Some(&b'\r') && data.get(i + 2) == Some(&b'\n') {
                return Some((i + 1, i + 3));
            }
        }
        i += 1;
    }
    None
}

fn skip_leading_crlf(data: &[u8]) -> usize {
    // RFC 3261 §7.5: CRLFs before the start line are ignored.
    data.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(data.len())
}

/// Read the header section (start line + unfolded headers), without judging the start line.
fn split_head(head: &str) -> Result<(&str, Headers), ParseError> {
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = lines.next().ok_or(ParseError::Empty)?;
    let mut headers = Headers::default();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // RFC 3261 §7.3.1: a continuation line, folded into the previous value.
            let last = headers.0.last_mut().ok_or(ParseError::BadHeaderLine)?;
            let cont = line.trim();
            if !cont.is_empty() {
                if !last.value.is_empty() {
                    last.value.push(' ');
                }
                last.value.push_str(cont);
            }
            continue;
        }
        let colon = line.find(':').ok_or(ParseError::BadHeaderLine)?;
        let name = line[..colon].trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(ParseError::BadHeaderLine);
        }
        headers.push(canonical_name(name), line[colon + 1..].trim());
    }
    Ok((start, headers))
}

impl Message {
    /// Parse one message from the start of `data`. Returns the message and how many octets it
    /// took (for a datagram, trailing octets beyond Content-Length are ignored).
    pub fn parse(data: &[u8], framing: Framing) -> Result<(Self, usize), ParseError> {
        let skip = skip_leading_crlf(data);
        let data_from = &data[skip..];
        if data_from.is_empty() {
            return Err(ParseError::Empty);
        }
        let (head_len, body_start) = find_head_end(data_from).ok_or(ParseError::NoEndOfHeaders)?;
        let head = String::from_utf8_lossy(&data_from[..head_len]);
        let (start, headers) = split_head(&head)?;
        let content_length = content_length(&headers)?;
        let rest = &data_from[body_start..];
        let body_len = match (content_length, framing) {
            (Some(n), _) => {
                if n > rest.len() {
                    return Err(ParseError::Truncated);
                }
                n
            }
            (None, Framing::Datagram) => rest.len(),
            (None, Framing::Stream) => 0,
        };
        let body = rest[..body_len].to_vec();
        let consumed = skip + body_start + body_len;
        let message = if let Some(status) = start.strip_prefix("SIP/") {
            // RFC 3261 §7.2: SIP-Version SP Status-Code SP Reason-Phrase
            let mut it = status.splitn(3, ' ');
            let _version = it.next().ok_or(ParseError::BadStartLine)?;
            let code = it.next().ok_or(ParseError::BadStartLine)?;
            let reason = it.next().unwrap_or("");
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::BadStatusCode);
            }
            let code: u16 = code.parse().map_err(|_| ParseError::BadStatusCode)?;
            if !(100..=699).contains(&code) {
                return Err(ParseError::BadStatusCode);
            }
            Self::Response(Response {
                code,
                reason: reason.to_owned(),
                headers,
                body,
            })
        } else {
            let (method, uri, version) = parse_request_line(start)?;
            Self::Request(Request {
                method: Method::from_token(method),
                uri: uri.to_owned(),
                version: version.to_owned(),
                headers,
                body,
            })
        };
        Ok((message, consumed))
    }

    pub fn headers(&self) -> &Headers {
        match self {
            Self::Request(r) => &r.headers,
            Self::Response(r) => &r.headers,
        }
    }

    /// Serialise; Content-Length is always written from the body.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Self::Request(r) => r.write_to(out),
            Self::Response(r) => r.write_to(out),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write_to(&mut out);
        out
    }
}

/// RFC 3261 §7.1: exactly `Method SP Request-URI SP SIP-Version`. Extra or trailing SP is
/// rejected (RFC 4475 §3.1.2.9/§3.1.2.10 allow either; strict is simpler and safe).
fn parse_request_line(line: &str) -> Result<(&str, &str, &str), ParseError> {
    let mut it = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(ParseError::BadStartLine);
    };
    if !is_token(method) || uri.is_empty() || !version.starts_with("SIP/") {
        return Err(ParseError::BadStartLine);
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ParseError::BadStartLine);
    }
    Ok((method, uri, version))
}

fn content_length(headers: &Headers) -> Result<Option<usize>, ParseError> {
    let mut values = headers.get_all("Content-Length");
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ParseError::MultipleContentLength);
    }
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadContentLength);
    }
    let n: u32 = first.parse().map_err(|_| ParseError::BadContentLength)?;
    Ok(Some(n as usize))
}

/// Best-effort read of the headers of bytes that failed [`Message::parse`], to answer a broken
/// request with 400. `None` when the bytes do not even look like a request.
pub fn salvage_request_headers(data: &[u8]) -> Option<(String, Headers)> {
    let data = &data[skip_leading_crlf(data)..];
    let head_len = find_head_end(data).map(|(h, _)| h).unwrap_or(data.len());
    let head = String::from_utf8_lossy(&data[..head_len]);
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = lines.next()?;
    let method = start.split(' ').next()?;
    if start.starts_with("SIP/") || !is_token(method) {
        return None;
    }
    let mut headers = Headers::default();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.0.last_mut() {
                last.value.push(' ');
                last.value.push_str(line.trim());
            }
            continue;
        }
        if let Some(colon) = line.find(':') {
            let name = line[..colon].trim();
            if is_token(name) {
                headers.push(canonical_name(name), line[colon + 1..].trim());
            }
        }
    }
    Some((method.to_owned(), headers))
}

fn write_headers(headers: &Headers, body: &[u8], out: &mut Vec<u8>) {
    for h in &headers.0 {
        if h.name.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
}

impl Request {
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.uri.as_bytes());
        out.extend_from_slice(b" SIP/2.0\r\n");
        write_headers(&self.headers, &self.body, out);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write_to(&mut out);
        out
    }
}

impl Response {
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("SIP/2.0 {} {}\r\n", self.code, self.reason).as_bytes());
        write_headers(&self.headers, &self.body, out);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write_to(&mut out);
        out
    }
}

/// The default reason phrase of a status code (RFC 3261 §21 and extensions).
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        603 => "Decline",
        _ => match code / 100 {
            1 => "Progress",
            2 => "OK",
            3 => "Redirect",
            4 => "Request Failed",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:100@bridge.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
f: <sip:a@example.com>;tag=1\r\n\
t: <sip:100@bridge.example.com>\r\n\
i: abc\r\n\
CSeq: 1\r\n OPTIONS\r\n\
l: 0\r\n\r\n";

    #[test]
    fn compact_names_and_folding() {
        let (m, used) = Message::parse(OPTIONS, Framing::Datagram).unwrap();
        assert_eq!(used, OPTIONS.len());
        let Message::Request(r) = m else { panic!() };
        assert_eq!(r.method, Method::Options);
        assert_eq!(r.headers.get("call-id"), Some("abc"));
        assert_eq!(r.headers.get("CSeq"), Some("1 OPTIONS"));
        assert_eq!(r.headers.get("from"), Some("<sip:a@example.com>;tag=1"));
    }

    #[test]
    fn roundtrip() {
        let (m, _) = Message::parse(OPTIONS, Framing::Datagram).unwrap();
        let bytes = m.to_bytes();
        let (again, _) = Message::parse(&bytes, Framing::Datagram).unwrap();
        assert_eq!(m, again);
    }

    #[test]
    fn content_length_framing() {
        let msg = b"INFO sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabcdef";
        let (m, used) = Message::parse(msg, Framing::Datagram).unwrap();
        let Message::Request(r) = m else { panic!() };
        assert_eq!(r.body, b"abc");
        assert_eq!(used, msg.len() - 3);
        let short = b"INFO sip:a@b SIP/2.0\r\nContent-Length: 30\r\n\r\nabc";
        assert_eq!(
            Message::parse(short, Framing::Datagram),
            Err(ParseError::Truncated)
        );
        let neg = b"INFO sip:a@b SIP/2.0\r\nContent-Length: -3\r\n\r\nabc";
        assert_eq!(
            Message::parse(neg, Framing::Datagram),
            Err(ParseError::BadContentLength)
        );
        let none = b"INFO sip:a@b SIP/2.0\r\n\r\nabc";
        let (Message::Request(r), _) = Message::parse(none, Framing::Datagram).unwrap() else {
            panic!()
        };
        assert_eq!(r.body, b"abc");
        let (Message::Request(r), _) = Message::parse(none, Framing::Stream).unwrap() else {
            panic!()
        };
        assert!(r.body.is_empty());
    }

    #[test]
    fn bad_start_lines() {
        for bad in [
            &b"INVITE  sip:a@b SIP/2.0\r\n\r\n"[..],
            b"INVITE sip:a@b SIP/2.0 \r\n\r\n",
            b"INVITE sip:a@b\r\n\r\n",
            b"SIP/2.0 4294967301 big\r\n\r\n",
            b"SIP/2.0 20 short\r\n\r\n",
        ] {
            assert!(Message::parse(bad, Framing::Datagram).is_err(), "{bad:?}");
        }
        let (Message::Response(r), _) =
            Message::parse(b"SIP/2.0 100 \r\n\r\n", Framing::Datagram).unwrap()
        else {
            panic!()
        };
        assert_eq!((r.code, r.reason.as_str()), (100, ""));
    }

    #[test]
    fn comma_split_respects_quotes() {
        let v: Vec<_> = split_commas(r#""a, b" <sip:x>, <sip:y;p=1,2>, c"#).collect();
        assert_eq!(v, [r#""a, b" <sip:x>"#, "<sip:y;p=1,2>", "c"]);
    }
}
