//! Answering messages the parser refused.
//!
//! A request that cannot be parsed can still be answered (400; 501 for an
//! unknown method, 505 for another SIP version, 416 for a Request-URI scheme
//! other than sip, sips or tel) if the headers a response must echo can be
//! found by a plain line scan. Anything less is dropped: with no Via there is
//! nowhere to send a response, and with no From, To, Call-ID or CSeq the
//! sender cannot match it.

use crate::message::{split_top_level_commas, EchoHeaders};

/// What a line scan found in a message the parser refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salvaged {
    pub is_request: bool,
    pub method: Option<String>,
    pub echo: Option<EchoHeaders>,
}

pub fn salvage(data: &[u8]) -> Salvaged {
    let text = String::from_utf8_lossy(data);
    let head = match text.find("\r\n\r\n") {
        Some(end) => &text[..end],
        None => &text[..],
    };
    let mut lines = head.split("\r\n").flat_map(|l| l.split('\n'));
    let start = lines.next().unwrap_or("").trim();
    // Any SIP version: one we do not speak is answered 505 (RFC 4475 §3.1.2.16).
    let is_request = !start.is_empty()
        && !start.starts_with("SIP/")
        && start
            .rsplit(' ')
            .next()
            .is_some_and(|v| v.starts_with("SIP/"));
    let method = if is_request {
        start.split(' ').next().map(str::to_string)
    } else {
        None
    };
    let mut vias = Vec::new();
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        // Names compared in place, not lower-cased copies: the stateless
        // 503 of an overload scans every refused INVITE.
        let name = name.trim();
        let is = |long: &str, short: &str| {
            name.eq_ignore_ascii_case(long)
                || (!short.is_empty() && name.eq_ignore_ascii_case(short))
        };
        if is("via", "v") {
            vias.extend(split_top_level_commas(value));
        } else if is("from", "f") {
            from = from.or_else(|| Some(value.to_string()));
        } else if is("to", "t") {
            to = to.or_else(|| Some(value.to_string()));
        } else if is("call-id", "i") {
            call_id = call_id.or_else(|| Some(value.to_string()));
        } else if is("cseq", "") {
            cseq = cseq.or_else(|| Some(value.to_string()));
        }
    }
    // A top Via without a branch is still answerable: an RFC 2543 element
    // matches the response by Call-ID, CSeq and tags (RFC 4475 §3.1.2.7).
    let echo = match (vias.is_empty(), from, to, call_id, cseq) {
        (false, Some(from), Some(to), Some(call_id), Some(cseq)) => Some(EchoHeaders {
            vias,
            from,
            to,
            call_id,
            cseq,
        }),
        _ => None,
    };
    Salvaged {
        is_request,
        method,
        echo,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_with_a_broken_uri_keeps_its_echo_headers() {
        let s = salvage(
            b"INVITE sip:@@bad SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bK1\r\n\
              From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",
        );
        assert!(s.is_request);
        assert_eq!(s.method.as_deref(), Some("INVITE"));
        let echo = s.echo.unwrap();
        assert_eq!(echo.call_id, "x");
        assert_eq!(echo.vias, vec!["SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bK1"]);
    }

    #[test]
    fn garbage_salvages_nothing() {
        let s = salvage(b"\x00\xff\xfe garbage");
        assert!(!s.is_request);
        assert!(s.echo.is_none());
        let s = salvage(b"INVITE sip:a@b SIP/2.0\r\nTo: <sip:c@d>\r\n\r\n");
        assert!(s.echo.is_none());
    }
}
