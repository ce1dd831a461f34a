//! A first look at a SIP message before it is parsed: is it a request, does it start a
//! transaction outside any dialog (no To tag), and what User-Agent does it carry. The server's
//! per-source limits run on this, before the endpoint parses anything or creates a
//! transaction, so a flood costs a scan of a few header names per datagram.
//!
//! It reads the start line and header names only, never allocates, and never fails: what it
//! cannot make sense of is reported as not a request (the endpoint then drops or answers it as
//! before).

/// What [`peek`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peek<'a> {
    /// The request's method as sent (`INVITE`, `OPTIONS`, …).
    pub method: &'a [u8],
    /// A request outside any dialog: its To header has no `tag` parameter (RFC 3261 §8.1.1.2:
    /// the UAC leaves it out of a request that starts a dialog or stands alone). `true` when
    /// there is no To header at all.
    pub out_of_dialog: bool,
    /// The User-Agent header's value, trimmed.
    pub user_agent: Option<&'a [u8]>,
}

/// Looks at the start line and headers of a request; `None` for a response or something that
/// does not look like SIP.
pub fn peek(data: &[u8]) -> Option<Peek<'_>> {
    let mut lines = data.split(|&b| b == b'\n');
    let start = trim(lines.next()?);
    if start.starts_with(b"SIP/") {
        return None;
    }
    let method = start.split(|&b| b == b' ').next()?;
    if method.is_empty() || !method.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    let mut out_of_dialog = true;
    let mut user_agent = None;
    for line in lines {
        let line = trim(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = trim(&line[..colon]);
        let value = trim(&line[colon + 1..]);
        if name.eq_ignore_ascii_case(b"to") || name.eq_ignore_ascii_case(b"t") {
            out_of_dialog = !has_tag(value);
        } else if name.eq_ignore_ascii_case(b"user-agent") {
            user_agent = Some(value);
        }
    }
    Some(Peek {
        method,
        out_of_dialog,
        user_agent,
    })
}

/// Whether a header value has a `;tag=` parameter (outside a quoted display name or `<uri>`).
fn has_tag(value: &[u8]) -> bool {
    // The parameters come after the `>` of a name-addr, or after the URI of an addr-spec
    // (whose own `;` parameters cannot be `tag`, RFC 3261 §20.10 asks for `<>` then).
    let params = match value.iter().rposition(|&b| b == b'>') {
        Some(i) => &value[i + 1..],
        None => value,
    };
    params.split(|&b| b == b';').skip(1).any(|p| {
        let p = trim(p);
        p.len() > 3 && p[..3].eq_ignore_ascii_case(b"tag") && trim(&p[3..]).first() == Some(&b'=')
    })
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s
        && first.is_ascii_whitespace()
    {
        s = rest;
    }
    while let [rest @ .., last] = s
        && last.is_ascii_whitespace()
    {
        s = rest;
    }
    s
}

/// Whether `user_agent` contains one of `needles` (ASCII case-insensitive): the known SIP
/// scanners' user agents (`friendly-scanner`, `sipvicious`, …).
pub fn user_agent_matches(user_agent: &[u8], needles: &[String]) -> bool {
    needles.iter().any(|n| {
        let n = n.as_bytes();
        !n.is_empty()
            && user_agent
                .windows(n.len())
                .any(|w| w.eq_ignore_ascii_case(n))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:1234@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n\
        From: \"A;tag=x\" <sip:a@example.com>;tag=abc\r\n\
        To: <sip:1234@example.com>\r\n\
        Call-ID: 1\r\nCSeq: 1 INVITE\r\n\
        User-Agent:  friendly-scanner \r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn an_initial_invite_with_its_user_agent() {
        let p = peek(INVITE).unwrap();
        assert_eq!(p.method, b"INVITE");
        assert!(p.out_of_dialog);
        assert_eq!(p.user_agent, Some(&b"friendly-scanner"[..]));
        let needles = vec!["sipvicious".to_owned(), "Friendly-Scanner".to_owned()];
        assert!(user_agent_matches(p.user_agent.unwrap(), &needles));
        assert!(!user_agent_matches(b"Polycom/5.9", &needles));
    }

    #[test]
    fn in_dialog_requests_have_a_to_tag() {
        let bye = b"BYE sip:x@y SIP/2.0\nt: \"B\" <sip:b@y>;Tag = 77\nf: <sip:a@y>;tag=1\n\n";
        let p = peek(bye).unwrap();
        assert!(!p.out_of_dialog);
        assert_eq!(p.user_agent, None);
        // A `tag` inside the URI's angle brackets is not the header's.
        let odd = b"OPTIONS sip:x@y SIP/2.0\r\nTo: <sip:b@y;tag=1>\r\n\r\n";
        assert!(peek(odd).unwrap().out_of_dialog);
        // Headers of the body are not read.
        let body = b"OPTIONS sip:x@y SIP/2.0\r\nTo: <sip:b@y>\r\n\r\nTo: <sip:c@y>;tag=2\r\n";
        assert!(peek(body).unwrap().out_of_dialog);
    }

    #[test]
    fn responses_and_garbage_are_not_requests() {
        assert_eq!(peek(b"SIP/2.0 200 OK\r\n\r\n"), None);
        assert_eq!(peek(b""), None);
        assert_eq!(peek(b"\x16\x03\x01\x02\x00"), None);
        assert_eq!(peek(b"\r\n\r\n"), None);
    }
}
