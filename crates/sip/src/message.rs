//! Incoming SIP messages, reduced to the fields the user agent acts on.
//!
//! The message is read by hand (see `grammar`); this module checks what
//! RFC 3261 §8.2 and §18 require of it (mandatory headers, a magic-cookie branch, CSeq method
//! equal to the request method, a body no shorter than Content-Length) and
//! copies out the header values we route and answer by.

use std::borrow::Cow;

use crate::grammar::{self, Name};

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
    /// Our tag, in a response to our request in a dialog.
    pub from_tag: Option<String>,
    pub to_tag: Option<String>,
    /// The first Contact URI of a response to an INVITE or UPDATE (a
    /// target refresh, RFC 3261 §12.2.1.2); None for other methods.
    pub contact: Option<String>,
    pub content_type: Option<String>,
    /// The body of a response to an INVITE or UPDATE (an SDP answer);
    /// empty for other methods.
    pub body: Vec<u8>,
    /// Session-Expires of a response to an INVITE or UPDATE (RFC 4028
    /// §7.2), as written.
    pub session_expires: Option<String>,
    /// Min-SE of a response to an INVITE or UPDATE: in a 422, the shortest
    /// interval the refusing side takes (RFC 4028 §7.3), as written.
    pub min_se: Option<String>,
}

#[derive(Debug)]
pub enum Incoming {
    Request(Box<Request>),
    Response(Box<Response>),
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
    // Judged before the headers: see check_request_line.
    let request = request_line(data).map(check_request_line).transpose()?;
    let end = head_end(data);
    let (start, fields) = head(&data[..end])?;
    let body = data.get(end + 4..).unwrap_or_default();
    let body = match content_length(&fields, end < data.len(), body.len())? {
        // Octets past Content-Length are not part of the message (§18.3).
        Some(len) => &body[..len],
        None => body,
    };
    if let Some(status) = start.strip_prefix("SIP/") {
        return Ok(Incoming::Response(Box::new(response_from(
            status, &fields, body,
        )?)));
    }
    let Some((method, uri)) = request else {
        return Err(MessageError::Parse("malformed Request-Line".into()));
    };
    Ok(Incoming::Request(Box::new(request_from(
        method, uri, &fields, body,
    )?)))
}

/// The start line and the header fields of a header section.
fn head(head: &[u8]) -> Result<(&str, Vec<Field<'_>>), MessageError> {
    let head = std::str::from_utf8(head)
        .map_err(|_| MessageError::Parse("header section is not UTF-8".into()))?;
    let (start, rest) = head.split_once('\n').unwrap_or((head, ""));
    Ok((start.strip_suffix('\r').unwrap_or(start), fields(rest)?))
}

/// Only the headers every response echoes, read as [`parse`] reads them:
/// what a stateless refusal needs, at a fraction of the whole parse.
pub(crate) fn echo_headers_of(data: &[u8]) -> Result<EchoHeaders, MessageError> {
    echo_headers(&head(&data[..head_end(data)])?.1)
}

/// The dialog tag of a From or To value.
pub(crate) fn tag_of(value: &str) -> Option<&str> {
    grammar::name_addr(value).and_then(|a| tag(a.params))
}

/// One header field: what it is, its name as sent, and its value in the form
/// RFC 3261 §7.3.1 allows (see [`fields`]), borrowed from the datagram
/// unless that form differs from what was sent.
type Field<'a> = (Name, &'a str, Cow<'a, str>);

/// The header section's fields, read as §7.3.1 allows: folded lines joined,
/// white space around the `:` after a name dropped and, in the headers whose
/// grammar uses them, runs of white space outside quoted strings reduced to
/// one SP and none left around the separators `/ ; = ,` (§25.1 SWS;
/// RFC 4475 §3.1.1.1). Most lines need none of it and are not copied.
fn fields(head: &str) -> Result<Vec<Field<'_>>, MessageError> {
    let mut out: Vec<Field<'_>> = Vec::with_capacity(16);
    if head.is_empty() {
        return Ok(out);
    }
    for line in head.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            // A continuation: CRLF followed by white space is one SP.
            let Some((_, _, value)) = out.last_mut() else {
                return Err(MessageError::Parse(
                    "a header section that starts folded".into(),
                ));
            };
            let mut joined = std::mem::take(value).into_owned();
            joined.push(' ');
            joined.push_str(line.trim());
            *value = Cow::Owned(joined);
            continue;
        }
        let (name, value) = grammar::field(line)
            .ok_or_else(|| MessageError::Parse("a header line that is no header field".into()))?;
        out.push((Name::of(name), name, Cow::Borrowed(value)));
    }
    for (known, name, value) in &mut out {
        let tidy = if *known != Name::Other || structured(name) {
            squeeze(value.trim())
        } else {
            Cow::Borrowed(value.trim())
        };
        // A tab made a space keeps the length: a copy is what says it changed.
        if matches!(tidy, Cow::Owned(_)) || tidy.len() != value.len() {
            *value = Cow::Owned(tidy.into_owned());
        }
    }
    Ok(out)
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
fn check_request_line(line: &str) -> Result<(Method, &str), MessageError> {
    let mut parts = line.split(' ');
    let token = parts.next().unwrap_or_default();
    let method = Method::from_token(token);
    if method.is_none() && !token.is_empty() {
        return Err(MessageError::UnknownMethod(token.to_string()));
    }
    let (Some(method), Some(uri), Some(version), None) =
        (method, parts.next(), parts.next(), parts.next())
    else {
        return Err(MessageError::Parse("malformed Request-Line".into()));
    };
    if version != "SIP/2.0" {
        return Err(if version.starts_with("SIP/") {
            MessageError::Version(version.to_string())
        } else {
            MessageError::Parse("malformed Request-Line".into())
        });
    }
    let scheme = grammar::scheme(uri).ok_or_else(malformed_uri)?;
    if !["sip", "sips", "tel"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
    {
        return Err(MessageError::UnsupportedScheme(scheme.to_string()));
    }
    if !grammar::is_uri(uri) {
        return Err(malformed_uri());
    }
    Ok((method, uri))
}

fn malformed_uri() -> MessageError {
    MessageError::Parse("malformed Request-URI".into())
}

fn head_end(data: &[u8]) -> usize {
    find(data, b"\r\n\r\n").unwrap_or(data.len())
}

/// Headers whose values are tokens, URIs and parameters, where white space
/// around separators carries no meaning: every [`Name`] but `Other`, and these.
fn structured(name: &str) -> bool {
    const MORE: [&str; 10] = [
        "route",
        "require",
        "proxy-require",
        "supported",
        "k",
        "accept",
        "event",
        "o",
        "refer-to",
        "r",
    ];
    MORE.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// A trimmed header value with white space squeezed outside quoted strings:
/// borrowed when it already is.
fn squeeze(value: &str) -> Cow<'_, str> {
    let is_sep = |b: u8| matches!(b, b'/' | b';' | b'=' | b',');
    let bytes = value.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    let tidy = loop {
        let Some(&b) = bytes.get(i) else { break true };
        match b {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'\t' if !quoted => break false,
            // Trimmed, so a space is never first or last.
            b' ' if !quoted => {
                let (before, after) = (bytes[i - 1], bytes[i + 1]);
                if is_sep(before) || is_sep(after) || after == b' ' || after == b'\t' {
                    break false;
                }
            }
            _ => {}
        }
        i += 1;
    };
    if tidy {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let (mut quoted, mut space) = (false, false);
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if quoted {
            out.push(c);
            if c == '\\' {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            } else if c == '"' {
                quoted = false;
            }
        } else if c == ' ' || c == '\t' {
            space = true;
        } else {
            let sep = matches!(c, '/' | ';' | '=' | ',');
            if space && !out.is_empty() && !sep && !out.ends_with(['/', ';', '=', ',']) {
                out.push(' ');
            }
            space = false;
            if c == '"' {
                quoted = true;
            }
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The declared body length. §18.3: a UDP message whose body is shorter
/// than Content-Length must be rejected. More than one Content-Length leaves
/// the body's end unknown (RFC 4475 §3.3.9).
fn content_length(
    fields: &[Field<'_>],
    has_body_separator: bool,
    available: usize,
) -> Result<Option<usize>, MessageError> {
    if !has_body_separator {
        return Ok(None);
    }
    let mut found = None;
    for (known, _, value) in fields {
        if *known != Name::ContentLength {
            continue;
        }
        if found.is_some() {
            return Err(MessageError::BadHeader("Content-Length"));
        }
        let declared: usize = value
            .parse()
            .map_err(|_| MessageError::BadHeader("Content-Length"))?;
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

fn echo_headers(fields: &[Field<'_>]) -> Result<EchoHeaders, MessageError> {
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
        *slot = Some(value.to_string());
        Ok(())
    }
    for (known, _, value) in fields {
        let value = value.as_ref();
        match known {
            Name::Via => vias.extend(split_top_level_commas(value)),
            Name::From => once(&mut from, value, "From")?,
            Name::To => once(&mut to, value, "To")?,
            Name::CallId => once(&mut call_id, value, "Call-ID")?,
            Name::CSeq => once(&mut cseq, value, "CSeq")?,
            Name::MaxForwards => max_forwards += 1,
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
    let via = grammar::via(value).ok_or(MessageError::BadHeader("Via"))?;
    Ok(TopVia {
        branch: grammar::param(via.params, "branch")
            .flatten()
            .unwrap_or_default()
            .to_string(),
        sent_by: via.sent_by.to_string(),
        sent_by_port: via.port,
        rport: grammar::param(via.params, "rport").is_some(),
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

fn request_from(
    method: Method,
    uri: &str,
    fields: &[Field<'_>],
    body: &[u8],
) -> Result<Request, MessageError> {
    let echo = echo_headers(fields)?;
    let mut top_via = top_via(&echo.vias[0])?;
    let (cseq, cseq_method) = cseq_parts(&echo.cseq)?;
    if cseq_method != method.as_str() && !(method == Method::Ack && cseq_method == "INVITE") {
        return Err(MessageError::CseqMismatch {
            cseq: cseq_method,
            method: method.to_string(),
        });
    }
    let from = grammar::name_addr(&echo.from).ok_or(MessageError::BadHeader("From"))?;
    let to = grammar::name_addr(&echo.to).ok_or(MessageError::BadHeader("To"))?;
    // RFC 2543 had no From tag (RFC 4475 §3.4.1): the dialog's remote tag
    // is then empty, which is how §12.2.2 matches such a peer.
    let from_tag = tag(from.params).unwrap_or_default().to_string();
    let to_tag = tag(to.params).map(str::to_string);
    if top_via.branch.is_empty() {
        // No branch: identify the transaction the RFC 2543 way (§17.2.3),
        // by Call-ID, CSeq number and From tag (the sent-by and the method
        // are already part of the key). An INVITE, its CANCEL and the ACK
        // of a non-2xx final response share all three.
        top_via.branch = format!("rfc2543;{};{cseq};{from_tag}", echo.call_id);
    }
    let mut contact = None;
    let mut record_route = Vec::new();
    let mut content_type = None;
    let mut extra = Vec::new();
    for (known, name, value) in fields {
        let value = value.as_ref();
        match known {
            // Only an INVITE's or UPDATE's Contact is ever read (a
            // dialog's remote target, or its refresh); the first one counts.
            Name::Contact
                if matches!(method, Method::Invite | Method::Update) && contact.is_none() =>
            {
                contact = split_top_level_commas(value)
                    .first()
                    .and_then(|c| grammar::name_addr(c).map(|a| a.uri.to_string()));
            }
            Name::RecordRoute => record_route.extend(split_top_level_commas(value)),
            Name::ContentType => content_type = Some(value.to_string()),
            Name::Other => extra.push((grammar::lower_case_name(name), value.to_string())),
            _ => {}
        }
    }
    Ok(Request {
        method,
        uri: uri.to_string(),
        top_via,
        from_uri: from.uri.to_string(),
        from_display: from.display,
        from_tag,
        to_uri: to.uri.to_string(),
        to_tag,
        cseq,
        contact,
        record_route,
        content_type,
        body: body.to_vec(),
        extra,
        echo,
    })
}

/// A dialog tag (`;tag=`); an empty one is none.
fn tag(params: &str) -> Option<&str> {
    grammar::param(params, "tag")
        .flatten()
        .filter(|t| !t.is_empty())
}

/// `SIP/2.0 Status-Code Reason-Phrase`, the `SIP/` already taken off.
fn response_from(
    status: &str,
    fields: &[Field<'_>],
    body: &[u8],
) -> Result<Response, MessageError> {
    let malformed = || MessageError::Parse("malformed Status-Line".into());
    let rest = status.strip_prefix("2.0 ").ok_or_else(malformed)?;
    let code = rest.get(..3).ok_or_else(malformed)?;
    if !(rest.len() == 3 || rest.as_bytes()[3] == b' ') || !code.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(malformed());
    }
    let code: u16 = code.parse().map_err(|_| malformed())?;
    if !(100..=699).contains(&code) {
        return Err(malformed());
    }
    let echo = echo_headers(fields)?;
    let via = top_via(&echo.vias[0])?;
    if via.branch.is_empty() {
        return Err(MessageError::BadHeader("Via"));
    }
    let (cseq, cseq_method) = cseq_parts(&echo.cseq)?;
    let to_tag = grammar::name_addr(&echo.to)
        .and_then(|to| tag(to.params))
        .map(str::to_string);
    let from_tag = tag_of(&echo.from).map(str::to_string);
    // Only the answers to our session refreshes are read further: an
    // INVITE's or UPDATE's (its SDP answer, a target refresh, the session
    // interval agreed).
    let (mut contact, mut content_type) = (None, None);
    let (mut session_expires, mut min_se) = (None, None);
    let refresh = cseq_method == "INVITE" || cseq_method == "UPDATE";
    if refresh {
        for (known, name, value) in fields {
            match known {
                Name::Contact if contact.is_none() => {
                    contact = split_top_level_commas(value)
                        .first()
                        .and_then(|c| grammar::name_addr(c).map(|a| a.uri.to_string()));
                }
                Name::ContentType => content_type = Some(value.to_string()),
                Name::Other
                    if name.eq_ignore_ascii_case("session-expires")
                        || name.eq_ignore_ascii_case("x") =>
                {
                    session_expires = Some(value.to_string())
                }
                Name::Other if name.eq_ignore_ascii_case("min-se") => {
                    min_se = Some(value.to_string())
                }
                _ => {}
            }
        }
    }
    Ok(Response {
        code,
        branch: via.branch,
        cseq,
        cseq_method,
        call_id: echo.call_id,
        from_tag,
        to_tag,
        contact,
        content_type,
        body: if refresh { body.to_vec() } else { Vec::new() },
        session_expires,
        min_se,
    })
}

/// A request of `method` from 127.0.0.1 with these further header lines
/// (each ending in CRLF) and no body: what unit tests of header rules read.
#[cfg(test)]
pub(crate) fn test_request(method: &str, headers: &str) -> Request {
    let text = format!(
        "{method} sip:passgate@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-test\r\n\
         From: <sip:+15551234567@127.0.0.1>;tag=a\r\n\
         To: <sip:passgate@127.0.0.1>\r\n\
         Call-ID: test@127.0.0.1\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:caller@127.0.0.1:5070>\r\n\
         Max-Forwards: 70\r\n\
         {headers}\
         Content-Length: 0\r\n\r\n"
    );
    match parse(text.as_bytes()) {
        Ok(Incoming::Request(req)) => *req,
        other => panic!("not a request: {other:?}"),
    }
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
