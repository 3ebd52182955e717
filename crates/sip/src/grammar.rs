//! The parts of RFC 3261's grammar (§25) the user agent reads, by hand.
//!
//! Input is one header value as `message::fields` leaves it: unfolded,
//! trimmed, white space squeezed around separators. Every reader here borrows
//! from it; only what a [`crate::message::Request`] keeps is copied. (rsipstack's generic parser did this with a typed
//! header per line and a nom parse per URI: about 10 µs of a call's INVITE,
//! ACK and BYE each, on the one runtime thread.)

/// A header the user agent reads by name. Compact forms (§7.3.3) are the
/// same header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Name {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    RecordRoute,
    ContentType,
    ContentLength,
    MaxForwards,
    Other,
}

impl Name {
    pub(crate) fn of(name: &str) -> Name {
        const LONG: [(&str, Name); 10] = [
            ("via", Name::Via),
            ("from", Name::From),
            ("to", Name::To),
            ("call-id", Name::CallId),
            ("cseq", Name::CSeq),
            ("contact", Name::Contact),
            ("record-route", Name::RecordRoute),
            ("content-type", Name::ContentType),
            ("content-length", Name::ContentLength),
            ("max-forwards", Name::MaxForwards),
        ];
        if name.len() == 1 {
            return match name.as_bytes()[0].to_ascii_lowercase() {
                b'v' => Name::Via,
                b'f' => Name::From,
                b't' => Name::To,
                b'i' => Name::CallId,
                b'm' => Name::Contact,
                b'c' => Name::ContentType,
                b'l' => Name::ContentLength,
                _ => Name::Other,
            };
        }
        LONG.iter()
            .find(|(long, _)| long.eq_ignore_ascii_case(name))
            .map_or(Name::Other, |&(_, known)| known)
    }
}

/// A header name in lower case, compact forms spelt out, so that
/// `Request::header("event")` finds an `o:` header too.
pub(crate) fn lower_case_name(name: &str) -> String {
    if name.len() == 1 {
        let long = match name.as_bytes()[0].to_ascii_lowercase() {
            b'a' => "accept-contact",
            b'b' => "referred-by",
            b'd' => "request-disposition",
            b'e' => "content-encoding",
            b'j' => "reject-contact",
            b'k' => "supported",
            b'n' => "identity-info",
            b'o' => "event",
            b'r' => "refer-to",
            b's' => "subject",
            b'u' => "allow-events",
            b'x' => "session-expires",
            b'y' => "identity",
            _ => return name.to_ascii_lowercase(),
        };
        return long.to_string();
    }
    name.to_ascii_lowercase()
}

/// `token` of §25.1.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(token_byte)
}

fn token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// One `name: value` line of the header section; None when the line is no
/// header field (no colon, or a name that is not a token).
pub(crate) fn field(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    // HCOLON = *( SP / HTAB ) ":" SWS
    let name = name.trim_end_matches([' ', '\t']);
    is_token(name).then(|| (name, value.trim()))
}

/// A URI's scheme when it is well formed (§25.1 `scheme`).
pub(crate) fn scheme(uri: &str) -> Option<&str> {
    let (scheme, _) = uri.split_once(':')?;
    (scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
    .then_some(scheme)
}

/// A URI: a scheme, a colon and no white space, quote or angle bracket after it.
pub(crate) fn is_uri(s: &str) -> bool {
    let Some(scheme) = scheme(s) else {
        return false;
    };
    let rest = &s[scheme.len() + 1..];
    !rest.is_empty()
        && !rest
            .bytes()
            .any(|b| b.is_ascii_whitespace() || matches!(b, b'"' | b'<' | b'>'))
}

/// From, To, Contact, Refer-To: `[display-name] <URI> *(;param)` or an
/// addr-spec whose parameters belong to the header, not the URI (§20.10).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NameAddr<'a> {
    /// Unquoted, escapes undone.
    pub display: Option<String>,
    pub uri: &'a str,
    /// The header parameters, each starting with `;`.
    pub params: &'a str,
}

pub(crate) fn name_addr(value: &str) -> Option<NameAddr<'_>> {
    let value = value.trim();
    let Some(lt) = outside_quotes(value, b'<') else {
        let (uri, params) = match value.find(';') {
            Some(semi) => value.split_at(semi),
            None => (value, ""),
        };
        return (is_uri(uri) && !uri.contains([',', '?'])).then_some(NameAddr {
            display: None,
            uri,
            params,
        });
    };
    let gt = lt + 1 + value[lt + 1..].find('>')?;
    // RFC 4475 §3.1.2.14: spaces inside the brackets can be ignored.
    let uri = value[lt + 1..gt].trim();
    let params = value[gt + 1..].trim_start();
    if !is_uri(uri) || !(params.is_empty() || params.starts_with(';')) {
        return None;
    }
    let display = display_name(value[..lt].trim())?;
    Some(NameAddr {
        display,
        uri,
        params,
    })
}

/// `display-name = *(token LWS) / quoted-string`, Some(None) when empty.
/// Unquoted text that is no token (`Bell, Alexander`) is taken as if quoted,
/// as RFC 4475 §3.1.2.15 allows: it is only shown, never matched.
fn display_name(text: &str) -> Option<Option<String>> {
    if text.is_empty() {
        return Some(None);
    }
    if let Some(inner) = text.strip_prefix('"') {
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                '"' => return chars.as_str().is_empty().then_some(Some(out)),
                c => out.push(c),
            }
        }
        return None;
    }
    Some(Some(text.to_string()))
}

/// The first position of `byte` outside quoted strings.
fn outside_quotes(value: &str, byte: u8) -> Option<usize> {
    let bytes = value.as_bytes();
    let (mut quoted, mut i) = (false, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b if b == byte && !quoted => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// A parameter of `;name=value;flag` parameters: Some(Some(value)),
/// Some(None) for a flag, None when absent. Names are case-insensitive; a
/// `;` inside a quoted value (`;x="a;tag=b"`) does not start a parameter.
pub(crate) fn param<'a>(params: &'a str, name: &str) -> Option<Option<&'a str>> {
    let mut rest = params;
    loop {
        let end = outside_quotes(rest, b';').unwrap_or(rest.len());
        let p = rest[..end].trim();
        match p.split_once('=') {
            Some((n, v)) if n.trim().eq_ignore_ascii_case(name) => return Some(Some(v.trim())),
            None if !p.is_empty() && p.eq_ignore_ascii_case(name) => return Some(None),
            _ => {}
        }
        rest = rest.get(end + 1..)?;
    }
}

/// One Via value: `SIP/2.0/transport sent-by *(;param)` (§20.42).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Via<'a> {
    /// `host[:port]` as sent.
    pub sent_by: &'a str,
    pub port: Option<u16>,
    pub params: &'a str,
}

pub(crate) fn via(value: &str) -> Option<Via<'_>> {
    let (protocol, rest) = value.trim().split_once(' ')?;
    let mut parts = protocol.split('/');
    if !(parts.next().is_some_and(|p| p.eq_ignore_ascii_case("SIP"))
        && parts.next().is_some_and(is_token)
        && parts.next().is_some_and(is_token)
        && parts.next().is_none())
    {
        return None;
    }
    let (sent_by, params) = match rest.find(';') {
        Some(semi) => rest.split_at(semi),
        None => (rest, ""),
    };
    let sent_by = sent_by.trim();
    let (host_ok, port) = match sent_by.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']')?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':')?),
            };
            (addr.parse::<std::net::Ipv6Addr>().is_ok(), port)
        }
        None => {
            let (host, port) = match sent_by.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (sent_by, None),
            };
            let host_ok = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
            (host_ok, port)
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    host_ok.then_some(Via {
        sent_by,
        port,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_long_names_are_one_header() {
        for (name, is) in [
            ("v", Name::Via),
            ("VIA", Name::Via),
            ("f", Name::From),
            ("Call-ID", Name::CallId),
            ("i", Name::CallId),
            ("cseq", Name::CSeq),
            ("m", Name::Contact),
            ("Record-Route", Name::RecordRoute),
            ("L", Name::ContentLength),
            ("Subject", Name::Other),
            ("o", Name::Other),
        ] {
            assert_eq!(Name::of(name), is, "{name}");
        }
        assert_eq!(lower_case_name("o"), "event");
        assert_eq!(
            lower_case_name("P-Asserted-Identity"),
            "p-asserted-identity"
        );
        assert_eq!(lower_case_name("Q"), "q");
    }

    #[test]
    fn a_field_needs_a_token_name() {
        assert_eq!(field("Call-ID: a@b"), Some(("Call-ID", "a@b")));
        assert_eq!(field("Subject: "), Some(("Subject", "")));
        assert_eq!(field("f \t: x "), Some(("f", "x")));
        assert_eq!(field("Bad Name: x"), None);
        assert_eq!(field("no colon"), None);
        assert_eq!(field(": x"), None);
    }

    #[test]
    fn name_addr_forms() {
        let a = name_addr("\"Nelson, M\\\"\" <sip:+1555@10.0.0.1;user=phone>;tag=abc").unwrap();
        assert_eq!(a.display.as_deref(), Some("Nelson, M\""));
        assert_eq!(a.uri, "sip:+1555@10.0.0.1;user=phone");
        assert_eq!(param(a.params, "tag"), Some(Some("abc")));
        let b = name_addr("sipp <sip:sipp@127.0.0.1:5061>;tag=1").unwrap();
        assert_eq!(b.display.as_deref(), Some("sipp"));
        assert_eq!(b.uri, "sip:sipp@127.0.0.1:5061");
        let c = name_addr("sip:alice@atlanta.example.com;tag=x;user=phone").unwrap();
        assert_eq!(c.display, None);
        assert_eq!(c.uri, "sip:alice@atlanta.example.com");
        assert_eq!(param(c.params, "user"), Some(Some("phone")));
        let d = name_addr("<tel:+15551234567>").unwrap();
        assert_eq!((d.display, d.uri, d.params), (None, "tel:+15551234567", ""));
        assert_eq!(
            name_addr("Müller <sip:m@x>").unwrap().display.as_deref(),
            Some("Müller")
        );
        let lenient = name_addr("Bell, Alexander < sip:a.g.bell@example.com >;tag=43").unwrap();
        assert_eq!(lenient.display.as_deref(), Some("Bell, Alexander"));
        assert_eq!(lenient.uri, "sip:a.g.bell@example.com");
    }

    #[test]
    fn broken_name_addrs_are_refused() {
        for bad in [
            "",
            "<sip:a@b",
            "\"unclosed <sip:a@b>",
            "\"a\" b <sip:a@b>",
            "<sip:a@b> junk",
            "<not a uri>",
            "sip:a@b, sip:c@d",
            "nouri",
        ] {
            assert_eq!(name_addr(bad), None, "{bad}");
        }
    }

    #[test]
    fn params_and_flags() {
        let p = ";branch=z9hG4bK1;rport;received=10.0.0.1";
        assert_eq!(param(p, "BRANCH"), Some(Some("z9hG4bK1")));
        assert_eq!(param(p, "rport"), Some(None));
        assert_eq!(param(p, "maddr"), None);
        assert_eq!(param("", "tag"), None);
        assert_eq!(
            param(";x=\"a;tag=forged\";tag=real", "tag"),
            Some(Some("real")),
            "a quoted ; starts no parameter"
        );
    }

    #[test]
    fn via_sent_by_and_params() {
        let v = via("SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-a;rport").unwrap();
        assert_eq!((v.sent_by, v.port), ("10.0.0.1:5070", Some(5070)));
        assert_eq!(param(v.params, "branch"), Some(Some("z9hG4bK-a")));
        let v6 = via("SIP/2.0/TCP [2001:db8::9:1]:5061;branch=z9hG4bK2").unwrap();
        assert_eq!((v6.sent_by, v6.port), ("[2001:db8::9:1]:5061", Some(5061)));
        let bare = via("SIP/2.0/SCTP host.example").unwrap();
        assert_eq!(
            (bare.sent_by, bare.port, bare.params),
            ("host.example", None, "")
        );
        for bad in [
            "SIP/2.0 10.0.0.1",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP 10.0.0.1:99999",
            "SIP/2.0/UDP [zz]:5060",
            "HTTP/1.1/TCP a",
            "SIP/2.0/UDP a\"b",
        ] {
            assert_eq!(via(bad), None, "{bad}");
        }
    }
}
