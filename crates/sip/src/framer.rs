//! Cutting SIP messages out of a TCP byte stream (RFC 3261 §18.3: Content-Length frames
//! every message on a stream transport) with RFC 5626 §3.5.1 CRLF keep-alives.
//!
//! On any error the server closes the connection: once framing is lost it cannot be found
//! again (RFC 4475 §3.1.2.2, §3.3.9).

use crate::message::find_head_end;

/// Why a stream can no longer be framed. The server closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The header section or the whole message is larger than the configured maximum.
    #[error("message larger than {max} octets")]
    TooLarge { max: usize },
    /// Content-Length missing its digits, negative, too large, or given twice.
    #[error("invalid Content-Length")]
    BadContentLength,
    /// The stream ended inside a message.
    #[error("stream ended inside a message")]
    Truncated,
}

/// What [`StreamFramer::next_frame`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One whole SIP message, ready for [`crate::SipEndpoint::handle_receive`].
    Message(Vec<u8>),
    /// A CRLFCRLF keep-alive ping: answer with one CRLF (RFC 5626 §3.5.1).
    Ping,
}

/// A per-connection framer. Push bytes as they arrive, then call [`Self::next_frame`]
/// until it returns `Ok(None)`.
#[derive(Debug)]
pub struct StreamFramer {
    buf: Vec<u8>,
    max_message_size: usize,
}

impl StreamFramer {
    /// `max_message_size` bounds header section plus body; 64 KiB is plenty for SIP with SDP
    /// (a typical INVITE is under 2 KiB) and bounds the memory of a hostile connection.
    pub fn new(max_message_size: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_message_size,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Octets waiting for the rest of a message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        // Keep-alives and stray CRLFs between messages (RFC 3261 §7.5 allows the latter).
        if self.buf.starts_with(b"\r\n\r\n") {
            self.buf.drain(..4);
            return Ok(Some(Frame::Ping));
        }
        let skip = self
            .buf
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(self.buf.len());
        if skip == self.buf.len() {
            // Only CRLFs so far: wait, it may become a ping. More than a ping is noise.
            if self.buf.len() > 4 {
                self.buf.clear();
            }
            return Ok(None);
        }
        if skip > 0 {
            self.buf.drain(..skip);
        }
        let Some((head_len, body_start)) = find_head_end(&self.buf) else {
            if self.buf.len() > self.max_message_size {
                return Err(FramingError::TooLarge {
                    max: self.max_message_size,
                });
            }
            return Ok(None);
        };
        let content_length = stream_content_length(&self.buf[..head_len])?;
        let total = body_start
            .checked_add(content_length)
            .ok_or(FramingError::BadContentLength)?;
        if total > self.max_message_size {
            return Err(FramingError::TooLarge {
                max: self.max_message_size,
            });
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let rest = self.buf.split_off(total);
        let message = std::mem::replace(&mut self.buf, rest);
        Ok(Some(Frame::Message(message)))
    }

    /// The connection closed: an unfinished message is an error.
    pub fn finish(&mut self) -> Result<(), FramingError> {
        let only_crlf = self.buf.iter().all(|&b| b == b'\r' || b == b'\n');
        self.buf.clear();
        if only_crlf {
            Ok(())
        } else {
            Err(FramingError::Truncated)
        }
    }
}

/// Content-Length from a header section; missing means 0 (RFC 3261 §18.3 requires it on
/// streams, a message without it has no body we could frame).
fn stream_content_length(head: &[u8]) -> Result<usize, FramingError> {
    let mut found = None;
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let value = line[colon + 1..].trim_ascii();
            if found.is_some()
                || value.is_empty()
                || value.len() > 9
                || !value.iter().all(u8::is_ascii_digit)
            {
                return Err(FramingError::BadContentLength);
            }
            let n = value
                .iter()
                .fold(0usize, |acc, &d| acc * 10 + usize::from(d - b'0'));
            found = Some(n);
        }
    }
    Ok(found.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nl: 4\r\n\r\nbody";

    #[test]
    fn frames_split_and_joined() {
        let mut f = StreamFramer::new(65536);
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(MSG);
        stream.extend_from_slice(MSG);
        // Deliver one byte at a time.
        let mut out = Vec::new();
        for b in &stream {
            f.push(std::slice::from_ref(b));
            while let Some(frame) = f.next_frame().unwrap() {
                out.push(frame);
            }
        }
        assert_eq!(
            out,
            [
                Frame::Ping,
                Frame::Message(MSG.to_vec()),
                Frame::Message(MSG.to_vec())
            ]
        );
        assert_eq!(f.finish(), Ok(()));
    }

    #[test]
    fn errors_close_the_connection() {
        let mut f = StreamFramer::new(100);
        f.push(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 5000\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FramingError::TooLarge { max: 100 }));

        let mut f = StreamFramer::new(100);
        f.push(&[b'A'; 200]);
        assert_eq!(f.next_frame(), Err(FramingError::TooLarge { max: 100 }));

        let mut f = StreamFramer::new(1000);
        f.push(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FramingError::BadContentLength));

        let mut f = StreamFramer::new(1000);
        f.push(b"INVITE sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nab");
        assert_eq!(f.next_frame(), Err(FramingError::BadContentLength));

        let mut f = StreamFramer::new(1000);
        f.push(b"INVITE sip:a@b SIP/2.0\r\nl: 10\r\n\r\nab");
        assert_eq!(f.next_frame(), Ok(None));
        assert_eq!(f.finish(), Err(FramingError::Truncated));
    }
}
