//! Splitting a TCP byte stream into SIP messages (RFC 3261 §18.3: the
//! Content-Length header frames the body; CRLFs between messages are
//! keep-alives, RFC 5626 §3.5.1).

use crate::message::find;

/// Larger messages close the connection instead of growing the buffer.
pub const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("message larger than {MAX_MESSAGE} bytes")]
    TooLarge,
    #[error("stream message without a valid Content-Length")]
    NoContentLength,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Message(Vec<u8>),
    /// A double-CRLF ping, answered with a single CRLF pong.
    Ping,
}

#[derive(Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
}

impl StreamFramer {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        if self.buf.starts_with(b"\r\n\r\n") {
            self.buf.drain(..4);
            return Ok(Some(Frame::Ping));
        }
        let leading = self
            .buf
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        if leading > 0 && leading < self.buf.len() {
            self.buf.drain(..leading);
        } else if leading == self.buf.len() {
            return Ok(None);
        }
        let Some(head_end) = find(&self.buf, b"\r\n\r\n") else {
            if self.buf.len() > MAX_MESSAGE {
                return Err(FramingError::TooLarge);
            }
            return Ok(None);
        };
        let body_len =
            content_length(&self.buf[..head_end]).ok_or(FramingError::NoContentLength)?;
        let total = head_end + 4 + body_len;
        if total > MAX_MESSAGE {
            return Err(FramingError::TooLarge);
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let rest = self.buf.split_off(total);
        let msg = std::mem::replace(&mut self.buf, rest);
        Ok(Some(Frame::Message(msg)))
    }
}

fn content_length(head: &[u8]) -> Option<usize> {
    let head = std::str::from_utf8(head).ok()?;
    head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l"))
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabc";

    #[test]
    fn messages_split_across_and_within_reads() {
        let mut f = StreamFramer::default();
        f.push(&MSG[..10]);
        assert_eq!(f.next_frame(), Ok(None));
        f.push(&MSG[10..]);
        f.push(b"\r\n");
        f.push(MSG);
        assert_eq!(f.next_frame(), Ok(Some(Frame::Message(MSG.to_vec()))));
        assert_eq!(f.next_frame(), Ok(Some(Frame::Message(MSG.to_vec()))));
        assert_eq!(f.next_frame(), Ok(None));
    }

    #[test]
    fn keepalive_ping_is_reported() {
        let mut f = StreamFramer::default();
        f.push(b"\r\n\r\n");
        assert_eq!(f.next_frame(), Ok(Some(Frame::Ping)));
    }

    #[test]
    fn missing_length_and_oversize_are_errors() {
        let mut f = StreamFramer::default();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FramingError::NoContentLength));
        let mut f = StreamFramer::default();
        f.push(&vec![b'a'; MAX_MESSAGE + 1]);
        assert_eq!(f.next_frame(), Err(FramingError::TooLarge));
    }
}
