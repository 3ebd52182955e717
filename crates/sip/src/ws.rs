//! SIP over WebSocket (RFC 7118): who may open a connection and which frames
//! are SIP. No I/O here; `ws_driver.rs` carries the connections.
//!
//! A connection must ask for the `sip` subprotocol (§4). From a source off
//! loopback it must also carry the admin token, as the `token` query
//! parameter of the request URI or as a subprotocol `passgate-token.<token>`
//! (a browser's WebSocket can carry no Authorization header); with
//! no token configured, only loopback may connect. Each text or binary frame
//! carries exactly one SIP message (§5.1): a frame over the size limit, or
//! one that does not start like a SIP request or response, closes the
//! connection.

use std::net::IpAddr;

/// The largest message a frame may carry: the TCP framer's limit.
pub const MAX_MESSAGE: usize = crate::framing::MAX_MESSAGE;

/// The subprotocol every SIP WebSocket client asks for (RFC 7118 §4).
pub const SUBPROTOCOL: &str = "sip";

/// The subprotocol prefix that carries the token.
pub const TOKEN_SUBPROTOCOL: &str = "passgate-token.";

/// Why a WebSocket handshake or frame was refused, as log lines and
/// metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsRefusal {
    /// The client did not ask for the `sip` subprotocol.
    NoSipSubprotocol,
    /// Off loopback without the right token (or with none configured).
    Unauthenticated,
    /// A frame larger than [`MAX_MESSAGE`].
    Oversized,
    /// A frame that is not a SIP message.
    NotSip,
}

impl WsRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            WsRefusal::NoSipSubprotocol => "no_sip_subprotocol",
            WsRefusal::Unauthenticated => "unauthenticated",
            WsRefusal::Oversized => "oversized",
            WsRefusal::NotSip => "not_sip",
        }
    }
}

/// Whether a handshake may go on: `query` is the request URI's query (if
/// any), `subprotocols` the values of Sec-WebSocket-Protocol headers.
pub fn admit_handshake(
    peer: IpAddr,
    query: Option<&str>,
    subprotocols: &[&str],
    token: Option<&str>,
) -> Result<(), WsRefusal> {
    let offered = || {
        subprotocols
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
    };
    if !offered().any(|p| p.eq_ignore_ascii_case(SUBPROTOCOL)) {
        return Err(WsRefusal::NoSipSubprotocol);
    }
    if peer.to_canonical().is_loopback() {
        return Ok(());
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(WsRefusal::Unauthenticated);
    };
    let in_query = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|pair| pair.strip_prefix("token="))
        .any(|given| same(given, token));
    let in_protocol = offered()
        .filter_map(|p| p.strip_prefix(TOKEN_SUBPROTOCOL))
        .any(|given| same(given, token));
    if in_query || in_protocol {
        Ok(())
    } else {
        Err(WsRefusal::Unauthenticated)
    }
}

/// Compares in time independent of where the first difference is.
fn same(given: &str, token: &str) -> bool {
    let (a, b) = (given.as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a text or binary frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsFrame {
    /// A SIP message, for the endpoint.
    Message,
    /// Only line ends and blanks: a keep-alive, ignored.
    KeepAlive,
}

/// Judges one frame's payload: a SIP message, a keep-alive, or a refusal.
/// The endpoint parses the message itself (and answers a malformed one
/// 400); this only keeps what is plainly not SIP away from it.
pub fn classify_frame(data: &[u8]) -> Result<WsFrame, WsRefusal> {
    if data.len() > MAX_MESSAGE {
        return Err(WsRefusal::Oversized);
    }
    if crate::transport::is_keepalive(data) {
        return Ok(WsFrame::KeepAlive);
    }
    let line_end = memchr::memchr(b'\n', data).ok_or(WsRefusal::NotSip)?;
    let line = std::str::from_utf8(&data[..line_end])
        .map_err(|_| WsRefusal::NotSip)?
        .trim_end_matches('\r');
    if is_status_line(line) || is_request_line(line) {
        Ok(WsFrame::Message)
    } else {
        Err(WsRefusal::NotSip)
    }
}

fn is_status_line(line: &str) -> bool {
    let mut parts = line.splitn(3, ' ');
    parts.next() == Some("SIP/2.0")
        && parts
            .next()
            .is_some_and(|code| code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()))
}

fn is_request_line(line: &str) -> bool {
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !method.is_empty()
        && method.bytes().all(|b| b.is_ascii_alphabetic())
        && uri.contains(':')
        && version == "SIP/2.0"
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const OFF: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 9));

    #[test]
    fn the_sip_subprotocol_is_required_everywhere() {
        assert_eq!(
            admit_handshake(LOOPBACK, None, &[], None),
            Err(WsRefusal::NoSipSubprotocol)
        );
        assert_eq!(
            admit_handshake(LOOPBACK, None, &["chat, superchat"], None),
            Err(WsRefusal::NoSipSubprotocol)
        );
        assert_eq!(admit_handshake(LOOPBACK, None, &["sip"], None), Ok(()));
    }

    #[test]
    fn off_loopback_needs_the_token_in_the_query_or_a_subprotocol() {
        let token = Some("s3cret");
        assert_eq!(
            admit_handshake(OFF, None, &["sip"], token),
            Err(WsRefusal::Unauthenticated)
        );
        assert_eq!(
            admit_handshake(OFF, Some("token=wrong"), &["sip"], token),
            Err(WsRefusal::Unauthenticated)
        );
        assert_eq!(
            admit_handshake(OFF, Some("a=1&token=s3cret"), &["sip"], token),
            Ok(())
        );
        assert_eq!(
            admit_handshake(OFF, None, &["sip, passgate-token.s3cret"], token),
            Ok(())
        );
        // With no token configured, nobody off loopback gets in.
        assert_eq!(
            admit_handshake(OFF, Some("token="), &["sip"], None),
            Err(WsRefusal::Unauthenticated)
        );
        assert_eq!(
            admit_handshake(OFF, Some("token="), &["sip"], Some("")),
            Err(WsRefusal::Unauthenticated)
        );
    }

    #[test]
    fn frames_must_be_one_sip_message_within_the_limit() {
        let invite = b"INVITE sip:passgate@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS x.invalid\r\n\r\n";
        assert_eq!(classify_frame(invite), Ok(WsFrame::Message));
        assert_eq!(
            classify_frame(b"SIP/2.0 200 OK\r\n\r\n"),
            Ok(WsFrame::Message)
        );
        assert_eq!(classify_frame(b"\r\n\r\n"), Ok(WsFrame::KeepAlive));
        assert_eq!(
            classify_frame(b"{\"hello\":\"json\"}\n"),
            Err(WsRefusal::NotSip)
        );
        assert_eq!(
            classify_frame(b"GET / HTTP/1.1\r\n\r\n"),
            Err(WsRefusal::NotSip)
        );
        assert_eq!(classify_frame(b"no line end"), Err(WsRefusal::NotSip));
        assert_eq!(classify_frame(&[0xff, 0xfe, b'\n']), Err(WsRefusal::NotSip));
        let mut big = invite.to_vec();
        big.resize(MAX_MESSAGE + 1, b'a');
        assert_eq!(classify_frame(&big), Err(WsRefusal::Oversized));
    }
}
