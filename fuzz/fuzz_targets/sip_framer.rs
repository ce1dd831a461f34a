//! The TCP stream framer on arbitrary bytes in arbitrary chunks: every frame it returns is a
//! whole message that the parser reads without a Content-Length error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pont_sip::{Frame, Framing, Message, ParseError, StreamFramer};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut f = StreamFramer::new(4096);
    for piece in data.chunks(chunk) {
        f.push(piece);
        loop {
            match f.next_frame() {
                Ok(Some(Frame::Message(m))) => {
                    assert!(m.len() <= 4096);
                    if let Err(e) = Message::parse(&m, Framing::Stream) {
                        assert_ne!(e, ParseError::Truncated);
                    }
                }
                Ok(Some(Frame::Ping)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(f.buffered() <= 4096 + chunk);
    }
    let _ = f.finish();
});
