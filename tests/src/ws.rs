//! A minimal blocking WebSocket client (RFC 6455) for signalling tests: text frames only.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

pub struct WsClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl WsClient {
    /// Opens `ws://addr/path`.
    pub fn connect(addr: SocketAddr, path: &str) -> Self {
        Self::connect_with(addr, path, None)
    }

    /// Opens `ws://addr/path` with a `Cookie` header (a portal session).
    pub fn connect_with(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Self {
        let cookie = cookie
            .map(|c| format!("Cookie: {c}\r\n"))
            .unwrap_or_default();
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(crate::EVENT_WAIT))
            .expect("timeout");
        let mut writer = stream.try_clone().expect("clone");
        write!(
            writer,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{cookie}\r\n"
        )
        .expect("handshake");
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).expect("status line");
        assert!(status.contains(" 101 "), "no upgrade: {status}");
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("header");
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        Self { reader, writer }
    }

    /// Sends a text frame (masked, as RFC 6455 §5.3 requires of clients).
    pub fn send_text(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mut frame = vec![0x81];
        let mask_bit = 0x80;
        match payload.len() {
            n if n < 126 => frame.push(mask_bit | n as u8),
            n if n < 65536 => {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(mask_bit | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let key = [0x12, 0x34, 0x56, 0x78];
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        self.writer.write_all(&frame).expect("send frame");
    }

    pub fn send_json(&mut self, v: &Value) {
        self.send_text(&v.to_string());
    }

    /// The next text message as JSON; `None` when the server closed.
    pub fn recv(&mut self) -> Option<Value> {
        loop {
            let mut head = [0u8; 2];
            self.reader.read_exact(&mut head).ok()?;
            let op = head[0] & 0x0f;
            let mut len = u64::from(head[1] & 0x7f);
            if len == 126 {
                let mut b = [0u8; 2];
                self.reader.read_exact(&mut b).ok()?;
                len = u64::from(u16::from_be_bytes(b));
            } else if len == 127 {
                let mut b = [0u8; 8];
                self.reader.read_exact(&mut b).ok()?;
                len = u64::from_be_bytes(b);
            }
            let mut payload = vec![0u8; len as usize];
            self.reader.read_exact(&mut payload).ok()?;
            match op {
                0x1 => return serde_json::from_slice(&payload).ok(),
                0x8 => return None,
                _ => {}
            }
        }
    }

    /// The next message of type `kind`, skipping others (offers, events).
    pub fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let v = self
                .recv()
                .unwrap_or_else(|| panic!("closed while waiting for {kind}"));
            if v["type"] == kind {
                return v;
            }
        }
    }

    pub fn set_timeout(&self, d: Duration) {
        let _ = self.writer.set_read_timeout(Some(d));
    }
}
