//! Writing responses. Responses echo the request's Via, From, To, Call-ID and
//! CSeq exactly as received (§8.2.6.2), so they are built as text from those
//! values; the same code answers parsed and salvaged requests.

use std::fmt::Write;
use std::net::SocketAddr;

use crate::message::EchoHeaders;

pub(crate) struct ResponseSpec<'a> {
    pub code: u16,
    pub echo: &'a EchoHeaders,
    /// Added to To when the request's To has no tag (every response but 100).
    pub to_tag: Option<&'a str>,
    /// Where the request came from: recorded in the top Via (§18.2.1, RFC 3581).
    pub source: SocketAddr,
    /// Further header lines, each without its CRLF.
    pub headers: &'a [String],
    pub body: Option<(&'a str, &'a [u8])>,
    /// The Server header's value; None leaves the header out.
    pub server: Option<&'a str>,
}

/// A response the endpoint sends on a transaction: its code and what it
/// carries beyond the headers it echoes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reply<'a> {
    pub code: u16,
    /// Our To tag; None draws a fresh one (every response but 100 has one).
    pub to_tag: Option<&'a str>,
    /// Further header lines, each without its CRLF.
    pub headers: Vec<String>,
    /// An SDP body.
    pub body: Option<&'a [u8]>,
}

impl<'a> Reply<'a> {
    pub fn new(code: u16) -> Self {
        Reply {
            code,
            ..Reply::default()
        }
    }

    /// With the dialog's tag, when there is one.
    pub fn tag(mut self, to_tag: Option<&'a str>) -> Self {
        self.to_tag = to_tag;
        self
    }

    pub fn header(mut self, line: impl Into<String>) -> Self {
        self.headers.push(line.into());
        self
    }

    pub fn headers(mut self, lines: Vec<String>) -> Self {
        self.headers.extend(lines);
        self
    }

    pub fn sdp(mut self, body: &'a [u8]) -> Self {
        self.body = Some(body);
        self
    }
}

pub(crate) fn build(spec: &ResponseSpec<'_>) -> Vec<u8> {
    let mut out = String::with_capacity(512);
    let _ = write!(
        out,
        "SIP/2.0 {} {}\r\n",
        spec.code,
        reason_phrase(spec.code)
    );
    for (i, via) in spec.echo.vias.iter().enumerate() {
        if i == 0 {
            let _ = write!(out, "Via: {}\r\n", stamp_via(via, spec.source));
        } else {
            let _ = write!(out, "Via: {via}\r\n");
        }
    }
    let _ = write!(out, "From: {}\r\n", spec.echo.from);
    match spec.to_tag {
        Some(tag) if spec.code > 100 && !has_tag(&spec.echo.to) => {
            let _ = write!(out, "To: {};tag={}\r\n", spec.echo.to, tag);
        }
        _ => {
            let _ = write!(out, "To: {}\r\n", spec.echo.to);
        }
    }
    let _ = write!(out, "Call-ID: {}\r\n", spec.echo.call_id);
    let _ = write!(out, "CSeq: {}\r\n", spec.echo.cseq);
    for h in spec.headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    if let Some(server) = spec.server {
        let _ = write!(out, "Server: {server}\r\n");
    }
    let mut bytes = match spec.body {
        Some((content_type, body)) => {
            let _ = write!(
                out,
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let mut b = out.into_bytes();
            b.extend_from_slice(body);
            b
        }
        None => {
            out.push_str("Content-Length: 0\r\n\r\n");
            out.into_bytes()
        }
    };
    bytes.shrink_to_fit();
    bytes
}

/// Whether a From/To value carries a tag parameter (outside its URI).
pub(crate) fn has_tag(value: &str) -> bool {
    let params = match value.rfind('>') {
        Some(end) => &value[end..],
        None => value,
    };
    params
        .split(';')
        .skip(1)
        .any(|p| p.trim().to_ascii_lowercase().starts_with("tag="))
}

/// Adds `received` and fills in `rport` on the top Via, so the response can be
/// routed back through a NAT the way the request came.
pub(crate) fn stamp_via(via: &str, source: SocketAddr) -> String {
    let mut parts = via.split(';');
    let mut out = parts.next().unwrap_or("").trim_end().to_string();
    let mut has_received = false;
    for p in parts {
        let name = p
            .split('=')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "rport" => {
                let _ = write!(out, ";rport={}", source.port());
            }
            "received" => {
                has_received = true;
                let _ = write!(out, ";received={}", source.ip());
            }
            _ => {
                out.push(';');
                out.push_str(p.trim());
            }
        }
    }
    if !has_received {
        let _ = write!(out, ";received={}", source.ip());
    }
    out
}

pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        407 => "Proxy Authentication Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
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
        504 => "Server Time-out",
        505 => "Version Not Supported",
        603 => "Decline",
        _ => match code / 100 {
            1 => "Progress",
            2 => "OK",
            3 => "Redirect",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rport_is_filled_and_received_added() {
        let src: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        assert_eq!(
            stamp_via("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport", src),
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport=40000;received=203.0.113.7"
        );
        assert_eq!(
            stamp_via("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1", src),
            "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;received=203.0.113.7"
        );
    }

    #[test]
    fn tags_are_found_outside_the_uri_only() {
        assert!(has_tag("<sip:a@b>;tag=1"));
        assert!(!has_tag("<sip:a@b;tag=1>"));
        assert!(has_tag("sip:a@b;tag=1"));
        assert!(!has_tag("<sip:a@b>"));
    }
}
