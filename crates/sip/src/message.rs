//! Incoming SIP messages, reduced to the fields the user agent acts on.
//!
//! rsipstack parses the message; this module checks what RFC 3261 §8.2 and
//! §18 require of it (mandatory headers, a magic-cookie branch, CSeq method
//! equal to the request method, a body no shorter than Content-Length) and
//! copies out the header values we route and answer by.

use rsipstack::sip::{
    self as rsip,
    prelude::{HeadersExt, ToTypedHeader},
    Header, SipMessage,
};

/// Methods the user agent knows. Anything else is answered 501.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    Invite,
    Ack,
    Cancel,
    Bye,
    Options,
    Info,
    Refer,
    Notify,
    Update,
    Prack,
    Message,
    Register,
    Subscribe,
    Publish,
}

impl Method {
    pub fn from_token(token: &str) -> Option<Method> {
        Some(match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "CANCEL" => Method::Cancel,
            "BYE" => Method::Bye,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "REFER" => Method::Refer,
            "NOTIFY" => Method::Notify,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "MESSAGE" => Method::Message,
            "REGISTER" => Method::Register,
            "SUBSCRIBE" => Method::Subscribe,
            "PUBLISH" => Method::Publish,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Cancel => "CANCEL",
            Method::Bye => "BYE",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Message => "MESSAGE",
            Method::Register => "REGISTER",
            Method::Subscribe => "SUBSCRIBE",
            Method::Publish => "PUBLISH",
        }
    }

    fn from_rsip(m: &rsip::Method) -> Method {
        match m {
            rsip::Method::Ack => Method::Ack,
            rsip::Method::Bye => Method::Bye,
            rsip::Method::Cancel => Method::Cancel,
            rsip::Method::Info => Method::Info,
            rsip::Method::Invite => Method::Invite,
            rsip::Method::Message => Method::Message,
            rsip::Method::Notify => Method::Notify,
            rsip::Method::Options => Method::Options,
            rsip::Method::PRack => Method::Prack,
            rsip::Method::Publish => Method::Publish,
            rsip::Method::Refer => Method::Refer,
            rsip::Method::Register => Method::Register,
            rsip::Method::Subscribe => Method::Subscribe,
            rsip::Method::Update => Method::Update,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The top Via, as needed to match transactions and route responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopVia {
    pub branch: String,
    /// `host[:port]` exactly as sent; part of the transaction key (§17.2.3).
    pub sent_by: String,
    pub sent_by_port: Option<u16>,
    pub rport: bool,
}

/// The header values every response copies, kept as they arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoHeaders {
    /// Every Via value, top first (comma-joined headers already split).
    pub vias: Vec<String>,
    pub from: String,
    pub to: String,
    pub call_id: String,
    pub cseq: String,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub uri: String,
    pub echo: EchoHeaders,
    pub top_via: TopVia,
    pub from_uri: String,
    pub from_display: Option<String>,
    pub from_tag: String,
    pub to_uri: String,
    pub to_tag: Option<String>,
    pub cseq: u32,
    /// An INVITE's Contact URI; None for other methods, whose Contact is
    /// never used.
    pub contact: Option<String>,
    pub record_route: Vec<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// Headers the application reads (identity, events); name lower-cased.
    pub extra: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn call_id(&self) -> &str {
        &self.echo.call_id
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub code: u16,
    pub branch: String,
    pub cseq: u32,
    pub cseq_method: String,
    pub call_id: String,
    pub to_tag: Option<String>,
}

#[derive(Debug)]
pub enum Incoming {
    Request(Box<Request>),
    Response(Response),
}

/// Why a message could not be used. The salvage path decides whether it can
/// still be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("unknown method {0}")]
    UnknownMethod(String),
    #[error("unparseable message: {0}")]
    Parse(String),
    #[error("missing or invalid {0} header")]
    BadHeader(&'static str),
    #[error("Content-Length {declared} is larger than the {available} body bytes received")]
    ShortBody { declared: usize, available: usize },
    #[error("CSeq method {cseq} does not match request method {method}")]
    CseqMismatch { cseq: String, method: String },
    #[error("unsupported SIP version {0}")]
    Version(String),
    #[error("unsupported Request-URI scheme {0}")]
    UnsupportedScheme(String),
}

pub fn parse(data: &[u8]) -> Result<Incoming, MessageError> {
    // rsipstack's parser does not take every form RFC 3261 allows (LWS
    // around `=` and `;`, folded lines: RFC 4475 §3.1.1.1), so it is given
    // the header section in its canonical form.
    parse_as_is(&canonical_head(data))
}

fn parse_as_is(data: &[u8]) -> Result<Incoming, MessageError> {
    check_request_line(data)?;
    let msg = rsip::parser::parse_message(data).map_err(|e| MessageError::Parse(e.to_string()))?;
    let declared = check_content_length(data)?;
    match msg {
        SipMessage::Request(req) => {
            let mut req = request_from(req)?;
            // Octets past Content-Length are not part of the message (§18.3).
            if let Some(len) = declared {
                req.body.truncate(len);
            }
            Ok(Incoming::Request(Box::new(req)))
        }
        SipMessage::Response(resp) => Ok(Incoming::Response(response_from(resp)?)),
    }
}

fn request_line(data: &[u8]) -> Option<&str> {
    let line_end = data.iter().position(|&b| b == b'\r' || b == b'\n')?;
    let line = std::str::from_utf8(&data[..line_end]).ok()?;
    if line.starts_with("SIP/") {
        return None;
    }
    Some(line)
}

/// The Request-Line is `Method SP Request-URI SP SIP-Version` with single
/// spaces and nothing after the version (§25.1; RFC 4475 §3.1.2.9,
/// §3.1.2.10). The method is checked first (an unknown one is answered 501
/// whatever else is wrong, §3.1.2.18), then the version (505) and the
/// Request-URI scheme (416).
fn check_request_line(data: &[u8]) -> Result<(), MessageError> {
    let Some(line) = request_line(data) else {
        return Ok(());
    };
    let parts: Vec<&str> = line.split(' ').collect();
    if let Some(token) = parts.first().filter(|t| !t.is_empty()) {
        if Method::from_token(token).is_none() {
            return Err(MessageError::UnknownMethod(token.to_string()));
        }
    }
    let [_, uri, version] = parts[..] else {
        return Err(MessageError::Parse("malformed Request-Line".into()));
    };
    if version != "SIP/2.0" {
        return Err(if version.starts_with("SIP/") {
            MessageError::Version(version.to_string())
        } else {
            MessageError::Parse("malformed Request-Line".into())
        });
    }
    let scheme = uri.split_once(':').map(|(s, _)| s).unwrap_or("");
    let well_formed = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !well_formed {
        return Err(MessageError::Parse("malformed Request-URI".into()));
    }
    if !["sip", "sips", "tel"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
    {
        return Err(MessageError::UnsupportedScheme(scheme.to_string()));
    }
    Ok(())
}

fn head_end(data: &[u8]) -> usize {
    find(data, b"\r\n\r\n").unwrap_or(data.len())
}

/// The message with its header section rewritten as RFC 3261 §7.3.1 allows:
/// folded lines joined, no white space around the `:` after a header name,
/// and in the headers whose grammar uses them, runs of white space outside
/// quoted strings reduced to one SP and none left around the separators
/// `/ ; = ,` (§25.1 SWS). The start line and the body are kept as they are.
fn canonical_head(data: &[u8]) -> Vec<u8> {
    let end = head_end(data);
    let head = &data[..end];
    let Some(first_end) = find(head, b"\r\n") else {
        return data.to_vec();
    };
    // One output buffer and one for the header being unfolded: this runs on
    // every datagram, and a buffer per line was most of its cost.
    let mut out = Vec::with_capacity(data.len() + 64);
    out.extend_from_slice(&head[..first_end]);
    let mut line: Vec<u8> = Vec::with_capacity(256);
    for part in head[first_end + 2..].split(|&b| b == b'\n') {
        let part = part.strip_suffix(b"\r").unwrap_or(part);
        // Unfold: CRLF followed by SP or HT continues the previous line.
        if matches!(part.first(), Some(b' ' | b'\t')) && !line.is_empty() {
            line.push(b' ');
            line.extend_from_slice(part.trim_ascii_start());
            continue;
        }
        if !line.is_empty() {
            write_canonical_line(&line, &mut out);
        }
        line.clear();
        line.extend_from_slice(part);
        if line.is_empty() {
            out.extend_from_slice(b"\r\n");
        }
    }
    if !line.is_empty() {
        write_canonical_line(&line, &mut out);
    }
    out.extend_from_slice(&data[end..]);
    out
}

/// `name: value` with the name's white space removed and the value's
/// trimmed (squeezed for structured headers).
fn write_canonical_line(line: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"\r\n");
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        out.extend_from_slice(line);
        return;
    };
    let name_start = out.len();
    out.extend(
        line[..colon]
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace()),
    );
    let structured = structured(&out[name_start..]);
    out.extend_from_slice(b": ");
    let value = &line[colon + 1..];
    if structured {
        squeeze_value_into(value, out);
    } else {
        out.extend_from_slice(value.trim_ascii());
    }
}

/// Headers whose values are tokens, URIs and parameters, where white space
/// around separators carries no meaning.
fn structured(name: &[u8]) -> bool {
    const NAMES: [&str; 26] = [
        "via",
        "v",
        "from",
        "f",
        "to",
        "t",
        "contact",
        "m",
        "route",
        "record-route",
        "cseq",
        "call-id",
        "i",
        "content-length",
        "l",
        "content-type",
        "c",
        "max-forwards",
        "require",
        "proxy-require",
        "supported",
        "k",
        "accept",
        "event",
        "o",
        "refer-to",
    ];
    NAMES
        .iter()
        .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
}

/// A header value with white space squeezed outside quoted strings,
/// appended to `out`.
fn squeeze_value_into(value: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let (mut quoted, mut space) = (false, false);
    let mut i = 0;
    let is_sep = |b: u8| matches!(b, b'/' | b';' | b'=' | b',');
    while i < value.len() {
        let b = value[i];
        if quoted {
            out.push(b);
            if b == b'\\' && i + 1 < value.len() {
                out.push(value[i + 1]);
                i += 1;
            } else if b == b'"' {
                quoted = false;
            }
        } else if b == b' ' || b == b'\t' {
            space = true;
        } else {
            if space && out.len() > start && !is_sep(b) && !out.last().is_some_and(|l| is_sep(*l)) {
                out.push(b' ');
            }
            space = false;
            if b == b'"' {
                quoted = true;
            }
            out.push(b);
        }
        i += 1;
    }
}

/// rsipstack silently truncates the body to what arrived; §18.3 says a UDP
/// message whose body is shorter than Content-Length must be rejected. More
/// than one Content-Length leaves the body's end unknown (RFC 4475 §3.3.9).
/// Returns the declared length, if any.
fn check_content_length(data: &[u8]) -> Result<Option<usize>, MessageError> {
    let Some(sep) = find(data, b"\r\n\r\n") else {
        return Ok(None);
    };
    let available = data.len() - sep - 4;
    let mut found = None;
    // Bytes, not a lossy string: this runs on every datagram.
    for line in data[..sep].split(|&b| b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        if found.is_some() {
            return Err(MessageError::BadHeader("Content-Length"));
        }
        let declared: usize = std::str::from_utf8(line[colon + 1..].trim_ascii())
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or(MessageError::BadHeader("Content-Length"))?;
        if declared > available {
            return Err(MessageError::ShortBody {
                declared,
                available,
            });
        }
        found = Some(declared);
    }
    Ok(found)
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

fn echo_headers(headers: &rsip::Headers) -> Result<EchoHeaders, MessageError> {
    let mut vias = Vec::new();
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    let mut max_forwards = 0;
    // These headers take one value; two of them make the message ambiguous
    // (RFC 4475 §3.3.8), and it is answered 400.
    fn once(
        slot: &mut Option<String>,
        value: &str,
        name: &'static str,
    ) -> Result<(), MessageError> {
        if slot.is_some() {
            return Err(MessageError::BadHeader(name));
        }
        *slot = Some(value.trim().to_string());
        Ok(())
    }
    for h in headers.iter() {
        match h {
            Header::Via(v) => vias.extend(split_top_level_commas(v.value())),
            Header::From(v) => once(&mut from, v.value(), "From")?,
            Header::To(v) => once(&mut to, v.value(), "To")?,
            Header::CallId(v) => once(&mut call_id, v.value(), "Call-ID")?,
            Header::CSeq(v) => once(&mut cseq, v.value(), "CSeq")?,
            Header::MaxForwards(_) => max_forwards += 1,
            _ => {}
        }
    }
    if max_forwards > 1 {
        return Err(MessageError::BadHeader("Max-Forwards"));
    }
    if vias.is_empty() || !vias.iter().all(|v| via_well_formed(v)) {
        return Err(MessageError::BadHeader("Via"));
    }
    for (value, name) in [(&from, "From"), (&to, "To")] {
        if value.as_deref().is_some_and(|v| !quotes_balanced(v)) {
            return Err(MessageError::BadHeader(name));
        }
    }
    Ok(EchoHeaders {
        vias,
        from: from.ok_or(MessageError::BadHeader("From"))?,
        to: to.ok_or(MessageError::BadHeader("To"))?,
        call_id: call_id
            .filter(|c| !c.is_empty())
            .ok_or(MessageError::BadHeader("Call-ID"))?,
        cseq: cseq.ok_or(MessageError::BadHeader("CSeq"))?,
    })
}

/// `SIP/2.0/<transport> sent-by` and parameters none of which is empty
/// (RFC 4475 §3.1.2.1: `;;,;,,`).
fn via_well_formed(via: &str) -> bool {
    let mut parts = via.split(';');
    let sent = parts.next().unwrap_or("");
    sent.get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
        && sent.split_whitespace().count() == 2
        && parts.all(|p| !p.trim().is_empty())
}

/// Whether every quoted string in a header value is closed (RFC 4475 §3.1.2.6).
fn quotes_balanced(value: &str) -> bool {
    let mut quoted = false;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                chars.next();
            }
            '"' => quoted = !quoted,
            _ => {}
        }
    }
    !quoted
}

/// Splits a header value on commas that are not inside quotes or angle brackets.
pub fn split_top_level_commas(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, 0u32, 0usize);
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'<' if !quoted => angle += 1,
            b'>' if !quoted => angle = angle.saturating_sub(1),
            b',' if !quoted && angle == 0 => {
                let part = value[start..i].trim();
                if !part.is_empty() {
                    out.push(part.to_string());
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let part = value.get(start..).unwrap_or("").trim();
    if !part.is_empty() {
        out.push(part.to_string());
    }
    out
}

/// The top Via. Its branch is empty when it has none: a request from an
/// RFC 2543 element, which [`request_from`] keys by its other fields.
pub(crate) fn top_via(value: &str) -> Result<TopVia, MessageError> {
    let via = rsip::typed::Via::parse(value).map_err(|_| MessageError::BadHeader("Via"))?;
    let branch = via.branch().map(|b| b.to_string()).unwrap_or_default();
    let hp = &via.uri.host_with_port;
    Ok(TopVia {
        branch,
        sent_by: hp.to_string(),
        sent_by_port: hp.port.as_ref().map(|p| p.value()),
        rport: via.rport().is_some(),
    })
}

fn cseq_parts(value: &str) -> Result<(u32, String), MessageError> {
    let mut it = value.split_whitespace();
    let num = it
        .next()
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or(MessageError::BadHeader("CSeq"))?;
    let method = it.next().ok_or(MessageError::BadHeader("CSeq"))?;
    if it.next().is_some() {
        return Err(MessageError::BadHeader("CSeq"));
    }
    Ok((num, method.to_string()))
}

fn request_from(req: rsip::Request) -> Result<Request, MessageError> {
    let method = Method::from_rsip(&req.method);
    let echo = echo_headers(&req.headers)?;
    let mut top_via = top_via(&echo.vias[0])?;
    let (cseq, cseq_method) = cseq_parts(&echo.cseq)?;
    if cseq_method != method.as_str() && !(method == Method::Ack && cseq_method == "INVITE") {
        return Err(MessageError::CseqMismatch {
            cseq: cseq_method,
            method: method.to_string(),
        });
    }
    let from = req
        .from_header()
        .ok()
        .and_then(|h| h.typed().ok())
        .ok_or(MessageError::BadHeader("From"))?;
    let to = req
        .to_header()
        .ok()
        .and_then(|h| h.typed().ok())
        .ok_or(MessageError::BadHeader("To"))?;
    // RFC 2543 had no From tag (RFC 4475 §3.4.1): the dialog's remote tag
    // is then empty, which is how §12.2.2 matches such a peer.
    let from_tag = from.tag().map(|t| t.to_string()).unwrap_or_default();
    let to_tag = to.tag().map(|t| t.to_string());
    if top_via.branch.is_empty() {
        // No branch: identify the transaction the RFC 2543 way (§17.2.3),
        // by Call-ID, CSeq number and From tag (the sent-by and the method
        // are already part of the key). An INVITE, its CANCEL and the ACK
        // of a non-2xx final response share all three.
        top_via.branch = format!("rfc2543;{};{cseq};{from_tag}", echo.call_id);
    }
    // Only an INVITE's Contact is ever read (a dialog's remote target, or
    // its refresh): parsing it on every ACK and BYE was wasted.
    let contact = if method == Method::Invite {
        req.contact_header()
            .ok()
            .and_then(|c| c.typed().ok())
            .map(|c| c.uri.to_string())
    } else {
        None
    };
    let mut record_route = Vec::new();
    let mut content_type = None;
    let mut extra = Vec::new();
    for h in req.headers.iter() {
        match h {
            Header::RecordRoute(rr) => record_route.extend(split_top_level_commas(rr.value())),
            Header::ContentType(ct) => content_type = Some(ct.value().trim().to_string()),
            Header::PAssertedIdentity(v) => {
                extra.push(("p-asserted-identity".into(), v.value().to_string()))
            }
            Header::Event(v) => extra.push(("event".into(), v.value().to_string())),
            Header::SubscriptionState(v) => {
                extra.push(("subscription-state".into(), v.value().to_string()))
            }
            Header::UserAgent(v) => extra.push(("user-agent".into(), v.value().to_string())),
            Header::Privacy(v) => extra.push(("privacy".into(), v.value().to_string())),
            Header::Require(v) => extra.push(("require".into(), v.value().to_string())),
            Header::Authorization(v) => extra.push(("authorization".into(), v.value().to_string())),
            Header::Accept(v) => extra.push(("accept".into(), v.value().to_string())),
            Header::Other(name, value) => {
                extra.push((name.to_ascii_lowercase(), value.to_string()))
            }
            _ => {}
        }
    }
    Ok(Request {
        method,
        uri: req.uri.to_string(),
        top_via,
        from_uri: from.uri.to_string(),
        from_display: from.display_name.clone(),
        from_tag,
        to_uri: to.uri.to_string(),
        to_tag,
        cseq,
        contact,
        record_route,
        content_type,
        body: req.body,
        extra,
        echo,
    })
}

fn response_from(resp: rsip::Response) -> Result<Response, MessageError> {
    let echo = echo_headers(&resp.headers)?;
    let via = top_via(&echo.vias[0])?;
    if via.branch.is_empty() {
        return Err(MessageError::BadHeader("Via"));
    }
    let (cseq, cseq_method) = cseq_parts(&echo.cseq)?;
    let to_tag = resp
        .to_header()
        .ok()
        .and_then(|h| h.typed().ok())
        .and_then(|t| t.tag().map(|t| t.to_string()));
    Ok(Response {
        code: resp.status_code.code(),
        branch: via.branch,
        cseq,
        cseq_method,
        call_id: echo.call_id,
        to_tag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:passgate@127.0.0.1 SIP/2.0\r\n\
        v: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-a;rport, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-b\r\n\
        f: \"Nelson, M\" <sip:+15551234567@10.0.0.1>;tag=abc\r\n\
        t: <sip:passgate@127.0.0.1>\r\n\
        i: call-1@10.0.0.1\r\n\
        CSeq: 7 INVITE\r\n\
        m: <sip:caller@10.0.0.1:5070>\r\n\
        P-Asserted-Identity: <sip:+15551234567@trunk>\r\n\
        Remote-Party-ID: <sip:+15550000000@trunk>;party=calling\r\n\
        c: application/sdp\r\n\
        l: 4\r\n\r\nv=0\n";

    #[test]
    fn compact_headers_and_comma_joined_vias_are_understood() {
        let Incoming::Request(req) = parse(INVITE.as_bytes()).unwrap() else {
            panic!("expected request")
        };
        assert_eq!(req.method, Method::Invite);
        assert_eq!(req.echo.vias.len(), 2);
        assert_eq!(req.top_via.branch, "z9hG4bK-a");
        assert_eq!(req.top_via.sent_by, "10.0.0.1:5070");
        assert!(req.top_via.rport);
        assert_eq!(req.from_tag, "abc");
        assert_eq!(req.to_tag, None);
        assert_eq!(req.call_id(), "call-1@10.0.0.1");
        assert_eq!(req.cseq, 7);
        assert_eq!(req.contact.as_deref(), Some("sip:caller@10.0.0.1:5070"));
        assert_eq!(req.body, b"v=0\n");
        assert_eq!(
            req.header("P-Asserted-Identity"),
            Some("<sip:+15551234567@trunk>")
        );
        assert!(req
            .header("remote-party-id")
            .unwrap()
            .contains("+15550000000"));
    }

    #[test]
    fn only_an_invites_contact_is_read() {
        let bye = INVITE
            .replacen("INVITE sip:", "BYE sip:", 1)
            .replace("CSeq: 7 INVITE", "CSeq: 8 BYE");
        let Incoming::Request(req) = parse(bye.as_bytes()).unwrap() else {
            panic!("expected request")
        };
        assert_eq!(req.method, Method::Bye);
        assert_eq!(req.contact, None);
        assert_eq!(req.from_tag, "abc", "the rest is read as before");
    }

    #[test]
    fn unknown_method_is_reported_as_such() {
        let msg = INVITE.replacen("INVITE sip", "FOO sip", 1);
        assert_eq!(
            parse(msg.as_bytes()).unwrap_err(),
            MessageError::UnknownMethod("FOO".into())
        );
    }

    #[test]
    fn body_shorter_than_content_length_is_rejected() {
        let msg = INVITE.replace("l: 4", "l: 400");
        assert!(matches!(
            parse(msg.as_bytes()),
            Err(MessageError::ShortBody { declared: 400, .. })
        ));
    }

    #[test]
    fn cseq_method_must_match() {
        let msg = INVITE.replace("CSeq: 7 INVITE", "CSeq: 7 BYE");
        assert!(matches!(
            parse(msg.as_bytes()),
            Err(MessageError::CseqMismatch { .. })
        ));
    }

    #[test]
    fn missing_call_id_is_a_bad_header() {
        let msg = INVITE.replace("i: call-1@10.0.0.1\r\n", "");
        assert_eq!(
            parse(msg.as_bytes()).unwrap_err(),
            MessageError::BadHeader("Call-ID")
        );
    }

    #[test]
    fn a_request_without_branch_is_keyed_the_rfc_2543_way() {
        let msg = INVITE.replace(";branch=z9hG4bK-a", "");
        let Incoming::Request(req) = parse(msg.as_bytes()).unwrap() else {
            panic!("expected request")
        };
        assert_eq!(req.top_via.branch, "rfc2543;call-1@10.0.0.1;7;abc");
        let resp = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1\r\nFrom: <sip:a@b>;tag=1\r\n\
                    To: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 BYE\r\n\r\n";
        assert_eq!(
            parse(resp.as_bytes()).unwrap_err(),
            MessageError::BadHeader("Via")
        );
    }

    #[test]
    fn folded_lines_and_spaces_around_separators_are_canonicalised() {
        let msg = INVITE
            .replace(
                "f: \"Nelson, M\" <sip:+15551234567@10.0.0.1>;tag=abc",
                "f  : \"Nelson,  M\"\r\n  <sip:+15551234567@10.0.0.1> ;\r\n tag = abc",
            )
            .replace("CSeq: 7 INVITE", "CSeq: 7\r\n\tINVITE");
        let Incoming::Request(req) = parse(msg.as_bytes()).unwrap() else {
            panic!("expected request")
        };
        assert_eq!(req.from_tag, "abc");
        assert_eq!(
            req.echo.from,
            "\"Nelson,  M\" <sip:+15551234567@10.0.0.1>;tag=abc"
        );
        assert_eq!(req.echo.cseq, "7 INVITE");
        assert_eq!(req.body, b"v=0\n");
    }

    #[test]
    fn single_value_headers_may_not_repeat() {
        let twice = INVITE.replace(
            "i: call-1@10.0.0.1\r\n",
            "i: call-1@10.0.0.1\r\nCall-ID: other\r\n",
        );
        assert_eq!(
            parse(twice.as_bytes()).unwrap_err(),
            MessageError::BadHeader("Call-ID")
        );
        let lengths = INVITE.replace("l: 4\r\n", "l: 4\r\nContent-Length: 2\r\n");
        assert_eq!(
            parse(lengths.as_bytes()).unwrap_err(),
            MessageError::BadHeader("Content-Length")
        );
    }

    #[test]
    fn octets_past_content_length_are_not_body() {
        let msg = format!("{INVITE}INVITE sip:next SIP/2.0\r\n");
        let Incoming::Request(req) = parse(msg.as_bytes()).unwrap() else {
            panic!("expected request")
        };
        assert_eq!(req.body, b"v=0\n");
    }

    #[test]
    fn request_line_is_checked_before_the_parser() {
        let version = INVITE.replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1);
        assert_eq!(
            parse(version.as_bytes()).unwrap_err(),
            MessageError::Version("SIP/3.0".into())
        );
        let scheme = INVITE.replacen("sip:passgate@127.0.0.1", "mailto:x@y", 1);
        assert_eq!(
            parse(scheme.as_bytes()).unwrap_err(),
            MessageError::UnsupportedScheme("mailto".into())
        );
        for bad in ["INVITE  sip:passgate", "INVITE <sip:passgate"] {
            let msg = INVITE.replacen("INVITE sip:passgate", bad, 1);
            assert!(
                matches!(parse(msg.as_bytes()), Err(MessageError::Parse(_))),
                "{bad}"
            );
        }
        let trailing = INVITE.replacen("SIP/2.0\r\n", "SIP/2.0 \r\n", 1);
        assert!(matches!(
            parse(trailing.as_bytes()),
            Err(MessageError::Parse(_))
        ));
    }

    #[test]
    fn commas_inside_quotes_and_brackets_do_not_split() {
        assert_eq!(
            split_top_level_commas("\"a, b\" <sip:x@y;p=1,2>, <sip:z@w>"),
            vec!["\"a, b\" <sip:x@y;p=1,2>", "<sip:z@w>"]
        );
    }
}
