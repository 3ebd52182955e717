//! Splitting a TCP byte stream into SIP messages (RFC 3261 §18.3: the
//! Content-Length header frames the body; CRLFs between messages are
//! keep-alives, RFC 5626 §3.5.1).
//!
//! Framing is linear in the bytes received: CR/LF between messages are
//! consumed as they arrive and never stored, and the search for the end of a
//! header resumes where the previous search stopped. The buffer never holds
//! more than one message (at most [`MAX_MESSAGE`]) plus the last read.

use crate::message::find;

/// Larger messages close the connection instead of growing the buffer.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// CR/LF bytes between messages that do not make up a CRLFCRLF ping, beyond
/// which the connection is closed: a peer keeping the connection alive sends
/// pings (and the odd trailing CRLF), not a stream of line ends.
pub const MAX_STRAY_LINE_ENDS: usize = 1024;

const PING: &[u8; 4] = b"\r\n\r\n";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("message larger than {MAX_MESSAGE} bytes")]
    TooLarge,
    #[error("stream message without a valid Content-Length")]
    NoContentLength,
    #[error("more than {MAX_STRAY_LINE_ENDS} line ends between messages that are no keep-alive")]
    LineEndFlood,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Message(Vec<u8>),
    /// One or more double-CRLF pings in a row, answered with one CRLF pong.
    Ping,
}

#[derive(Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out or discarded.
    start: usize,
    /// Bytes of the message being received (from `start`) searched for the
    /// end of its header without finding it.
    scanned: usize,
    /// The length of the message being received, once its header is complete.
    total: Option<usize>,
    /// Bytes of [`PING`] matched by the latest line ends between messages.
    ping_matched: usize,
    ping_seen: bool,
    /// Line ends since the last message or ping that made no ping.
    stray: usize,
    /// Bytes looked at, to prove the work is linear.
    examined: u64,
}

impl StreamFramer {
    pub fn push(&mut self, data: &[u8]) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let data = if self.buf.is_empty() {
            // Between messages: line ends are keep-alives, never stored.
            let skipped = self.skip_line_ends(data);
            &data[skipped..]
        } else {
            data
        };
        self.buf.extend_from_slice(data);
    }

    /// Bytes held for the message being received.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Bytes looked at so far (each once, give or take the 3 bytes a header
    /// search resumes before).
    pub fn examined(&self) -> u64 {
        self.examined
    }

    /// Consumes the CR/LF at the start of `bytes` between messages, noting
    /// pings; returns how many were consumed.
    fn skip_line_ends(&mut self, bytes: &[u8]) -> usize {
        let mut n = 0;
        for &b in bytes {
            if b != b'\r' && b != b'\n' {
                break;
            }
            n += 1;
            self.stray += 1;
            if b == PING[self.ping_matched] {
                self.ping_matched += 1;
            } else {
                self.ping_matched = usize::from(b == b'\r');
            }
            if self.ping_matched == PING.len() {
                self.ping_matched = 0;
                self.ping_seen = true;
                self.stray = 0;
            }
        }
        self.examined += n as u64;
        n
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        if self.total.is_none() && self.scanned == 0 {
            let skipped = {
                let rest = std::mem::take(&mut self.buf);
                let n = self.skip_line_ends(&rest[self.start..]);
                self.buf = rest;
                n
            };
            self.start += skipped;
        }
        if self.stray > MAX_STRAY_LINE_ENDS {
            return Err(FramingError::LineEndFlood);
        }
        if self.ping_seen {
            self.ping_seen = false;
            return Ok(Some(Frame::Ping));
        }
        let pending = &self.buf[self.start..];
        if pending.is_empty() {
            return Ok(None);
        }
        let total = match self.total {
            Some(total) => total,
            None => {
                // Resume 3 bytes back: the CRLFCRLF may straddle two reads.
                let from = self.scanned.saturating_sub(PING.len() - 1);
                let found = find(&pending[from..], PING);
                self.examined += (found.unwrap_or(pending.len() - from)) as u64;
                let Some(at) = found else {
                    self.scanned = pending.len();
                    if pending.len() > MAX_MESSAGE {
                        return Err(FramingError::TooLarge);
                    }
                    return Ok(None);
                };
                let head_end = from + at;
                let body_len =
                    content_length(&pending[..head_end]).ok_or(FramingError::NoContentLength)?;
                // Content-Length is the sender's number, up to usize::MAX:
                // checked, so a huge one is too large, never a wrapped sum.
                let total = (head_end + PING.len())
                    .checked_add(body_len)
                    .filter(|total| *total <= MAX_MESSAGE)
                    .ok_or(FramingError::TooLarge)?;
                self.total = Some(total);
                total
            }
        };
        if pending.len() < total {
            return Ok(None);
        }
        let msg = pending[..total].to_vec();
        self.start += total;
        self.total = None;
        self.scanned = 0;
        self.ping_matched = 0;
        self.stray = 0;
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

    fn drain(f: &mut StreamFramer) -> Result<Vec<Frame>, FramingError> {
        let mut frames = Vec::new();
        while let Some(frame) = f.next_frame()? {
            frames.push(frame);
        }
        Ok(frames)
    }

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
    fn a_message_fed_one_byte_at_a_time_is_framed_once() {
        let mut f = StreamFramer::default();
        let mut frames = Vec::new();
        for b in MSG.iter().chain(MSG) {
            f.push(&[*b]);
            frames.extend(drain(&mut f).unwrap());
        }
        assert_eq!(
            frames,
            vec![Frame::Message(MSG.to_vec()), Frame::Message(MSG.to_vec())]
        );
        // Each byte looked at about once, not once per read.
        assert!(f.examined() <= 4 * 2 * MSG.len() as u64, "{}", f.examined());
    }

    #[test]
    fn keepalive_ping_is_reported() {
        let mut f = StreamFramer::default();
        f.push(b"\r\n\r\n");
        assert_eq!(f.next_frame(), Ok(Some(Frame::Ping)));
        assert_eq!(f.next_frame(), Ok(None));
        // A ping split across reads, then a message.
        f.push(b"\r\n");
        assert_eq!(f.next_frame(), Ok(None));
        f.push(b"\r\n");
        f.push(MSG);
        assert_eq!(f.next_frame(), Ok(Some(Frame::Ping)));
        assert_eq!(f.next_frame(), Ok(Some(Frame::Message(MSG.to_vec()))));
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn pings_for_hours_keep_the_connection() {
        let mut f = StreamFramer::default();
        for _ in 0..10_000 {
            f.push(b"\r\n\r\n");
            assert_eq!(drain(&mut f), Ok(vec![Frame::Ping]));
        }
    }

    #[test]
    fn ten_mib_of_line_feeds_in_small_pieces_stay_unbuffered_and_linear() {
        // Fed without asking for frames: push alone keeps nothing.
        let mut f = StreamFramer::default();
        let piece = [b'\n'; 100];
        let total = 10 * 1024 * 1024;
        for _ in 0..total / piece.len() {
            f.push(&piece);
            assert_eq!(f.buffered(), 0);
        }
        assert!(f.examined() <= total as u64, "{}", f.examined());
        assert_eq!(f.next_frame(), Err(FramingError::LineEndFlood));
    }

    #[test]
    fn a_line_feed_stream_closes_the_connection_soon() {
        let mut f = StreamFramer::default();
        let mut fed = 0;
        let err = loop {
            f.push(b"\n\n\n\n\n\n\n\n");
            fed += 8;
            match f.next_frame() {
                Ok(None) => assert_eq!(f.buffered(), 0),
                other => break other,
            }
            assert!(fed < 10 * 1024 * 1024, "never closed");
        };
        assert_eq!(err, Err(FramingError::LineEndFlood));
        assert!(fed <= MAX_STRAY_LINE_ENDS + 8, "{fed}");
    }

    #[test]
    fn a_header_that_never_ends_is_searched_once_and_refused_at_the_limit() {
        let mut f = StreamFramer::default();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\n");
        let mut result = Ok(None);
        for _ in 0..MAX_MESSAGE {
            f.push(b"X");
            result = f.next_frame();
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(FramingError::TooLarge));
        assert!(f.buffered() <= MAX_MESSAGE + 1);
        // Without resuming, this would be about MAX_MESSAGE² / 2 bytes.
        assert!(f.examined() < 8 * MAX_MESSAGE as u64, "{}", f.examined());
    }

    #[test]
    fn missing_length_and_oversize_are_errors() {
        let mut f = StreamFramer::default();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FramingError::NoContentLength));
        let mut f = StreamFramer::default();
        f.push(&vec![b'a'; MAX_MESSAGE + 1]);
        assert_eq!(f.next_frame(), Err(FramingError::TooLarge));
        // The largest length a usize holds: too large, not an overflow.
        let mut f = StreamFramer::default();
        f.push(format!("OPTIONS sip:a@b SIP/2.0\r\nl: {}\r\n\r\n", usize::MAX).as_bytes());
        assert_eq!(f.next_frame(), Err(FramingError::TooLarge));
    }
}
