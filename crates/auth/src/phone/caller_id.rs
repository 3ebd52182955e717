use super::e164::E164;
use super::plan::NumberingPlan;

/// The raw values of the SIP headers that can name the caller, as they came
/// in the INVITE (one header's values may be comma-separated).
#[derive(Debug, Clone, Copy, Default)]
pub struct CallerHeaders<'a> {
    pub p_asserted_identity: Option<&'a str>,
    pub remote_party_id: Option<&'a str>,
    pub from: Option<&'a str>,
    pub privacy: Option<&'a str>,
}

/// User parts that carriers put in place of a withheld number.
const WITHHELD_USERS: &[&str] = &[
    "anonymous",
    "restricted",
    "unavailable",
    "unknown",
    "private",
    "withheld",
];

/// Who is calling, as the INVITE's headers tell it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallerIdentity {
    /// The number to look the caller up by; `None` when withheld or absent.
    pub number: Option<E164>,
    /// The caller asked for privacy (`Privacy: id|user|header`, RFC 3323 and
    /// RFC 3325, or Remote-Party-ID `privacy=full|uri`): the number still
    /// identifies the caller for the lookup, but is never written to the log
    /// or spoken.
    pub private: bool,
}

/// The caller's number, in order of trust: P-Asserted-Identity (asserted by
/// the network), else Remote-Party-ID (its `party=calling` entries; older
/// trunks send only this), else From (set by the caller's own device).
/// `None` when the caller's identity is withheld (an anonymous URI) or no
/// header holds a number; the flow treats both as "not recognised".
///
/// A withheld identity in a more trusted header is not overridden by a
/// number in a less trusted one: the caller asked not to be identified.
///
/// A privacy request does not withhold a number that arrives anyway: the
/// network that honours `Privacy: id` removes the asserted identity before it
/// leaves the trust domain (RFC 3325 §7), so one that reaches us was given to
/// us to use, as the ANI of a restricted call is to a bank's IVR. The number
/// is used for the lookup and kept out of logs ([`CallerIdentity::private`]).
pub fn caller_identity(headers: &CallerHeaders<'_>, plan: &NumberingPlan) -> CallerIdentity {
    let mut private = headers.privacy.is_some_and(privacy_withholds_identity);
    let sources = [
        headers.p_asserted_identity,
        headers.remote_party_id,
        headers.from,
    ];
    let mut number = None;
    for value in sources.into_iter().flatten() {
        match identity_in_header(value, plan, &mut private) {
            Identity::Number(found) => {
                number = Some(found);
                break;
            }
            Identity::Withheld => break,
            Identity::NoNumber => {}
        }
    }
    CallerIdentity { number, private }
}

/// The number of [`caller_identity`].
pub fn caller_number(headers: &CallerHeaders<'_>, plan: &NumberingPlan) -> Option<E164> {
    caller_identity(headers, plan).number
}

enum Identity {
    Number(E164),
    Withheld,
    NoNumber,
}

/// RFC 3323/3325 privacy values that hide who is calling.
fn privacy_withholds_identity(privacy: &str) -> bool {
    privacy
        .split([';', ','])
        .map(|token| token.trim().to_ascii_lowercase())
        .any(|token| matches!(token.as_str(), "id" | "user" | "header"))
}

/// The first number among the header's entries; an entry carrying a
/// Remote-Party-ID `privacy=full|uri` sets `private`, and one for the called
/// party (`party=called`) is not the caller.
fn identity_in_header(value: &str, plan: &NumberingPlan, private: &mut bool) -> Identity {
    let mut withheld = false;
    for entry in split_outside_quotes_and_brackets(value, ',') {
        let (uri, params) = split_name_addr(entry);
        if header_param(params, "party").is_some_and(|p| p.eq_ignore_ascii_case("called")) {
            continue;
        }
        match number_in_uri(uri, plan) {
            Identity::Number(number) => {
                if remote_party_privacy_hides_number(params) {
                    *private = true;
                }
                return Identity::Number(number);
            }
            Identity::Withheld => withheld = true,
            Identity::NoNumber => {}
        }
    }
    if withheld {
        Identity::Withheld
    } else {
        Identity::NoNumber
    }
}

/// A header parameter's value (`;name=value`, quotes removed).
fn header_param<'a>(params: &'a str, wanted: &str) -> Option<&'a str> {
    params.split(';').find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case(wanted)
            .then(|| value.trim().trim_matches('"'))
    })
}

/// Remote-Party-ID carries its own privacy parameter (`privacy=full|uri`).
fn remote_party_privacy_hides_number(params: &str) -> bool {
    header_param(params, "privacy")
        .is_some_and(|v| v.eq_ignore_ascii_case("full") || v.eq_ignore_ascii_case("uri"))
}

/// Splits `"Name" <uri>;params` or `uri;params` into the URI and the header
/// parameters after it.
fn split_name_addr(entry: &str) -> (&str, &str) {
    let entry = entry.trim();
    if let Some(open) = position_outside_quotes(entry, '<') {
        let after_open = &entry[open + 1..];
        return match after_open.find('>') {
            Some(close) => (&after_open[..close], &after_open[close + 1..]),
            None => (after_open, ""),
        };
    }
    match entry.find(';') {
        Some(semicolon) => (&entry[..semicolon], &entry[semicolon..]),
        None => (entry, ""),
    }
}

fn number_in_uri(uri: &str, plan: &NumberingPlan) -> Identity {
    let uri = uri.trim();
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Identity::NoNumber;
    };
    let user = match scheme.to_ascii_lowercase().as_str() {
        "tel" => rest.split(';').next().unwrap_or(""),
        "sip" | "sips" => {
            let Some((user_info, host_part)) = rest.split_once('@') else {
                return Identity::NoNumber;
            };
            let host = host_part.split([';', ':', '?']).next().unwrap_or("");
            if host.eq_ignore_ascii_case("anonymous.invalid") {
                return Identity::Withheld;
            }
            let user = user_info.split(':').next().unwrap_or("");
            user.split(';').next().unwrap_or("")
        }
        _ => return Identity::NoNumber,
    };
    let user = percent_decode(user);
    let lowered = user.to_ascii_lowercase();
    if WITHHELD_USERS.contains(&lowered.as_str()) {
        return Identity::Withheld;
    }
    match plan.normalise(&user) {
        Some(number) => Identity::Number(number),
        None => Identity::NoNumber,
    }
}

/// Decodes `%XX` escapes (a `+` is sometimes sent as `%2B`); a malformed
/// escape is kept as written, which then fails number normalisation.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn position_outside_quotes(text: &str, wanted: char) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (index, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            _ if c == wanted && !in_quotes => return Some(index),
            _ => {}
        }
    }
    None
}

fn split_outside_quotes_and_brackets(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut depth = 0u32;
    let mut start = 0;
    for (index, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '<' if !in_quotes => depth += 1,
            '>' if !in_quotes => depth = depth.saturating_sub(1),
            _ if c == separator && !in_quotes && depth == 0 => {
                parts.push(&text[start..index]);
                start = index + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number_from(headers: CallerHeaders<'_>) -> Option<String> {
        caller_number(&headers, &NumberingPlan::default()).map(|n| n.as_str().to_string())
    }

    fn from_only(from: &str) -> Option<String> {
        number_from(CallerHeaders {
            from: Some(from),
            ..Default::default()
        })
    }

    #[test]
    fn reads_the_usual_uri_shapes() {
        let cases = [
            ("<sip:+15551234567@host>", Some("+15551234567")),
            (
                "\"Name\" <sip:5551234567@host;user=phone>",
                Some("+15551234567"),
            ),
            ("tel:+1-555-123-4567", Some("+15551234567")),
            (
                "<tel:+1-555-123-4567;phone-context=example.com>",
                Some("+15551234567"),
            ),
            (
                "sip:15551234567@10.0.0.1:5060;tag=abc",
                Some("+15551234567"),
            ),
            ("<sips:+15551234567@host>;tag=1", Some("+15551234567")),
            ("<sip:%2B15551234567@host>", Some("+15551234567")),
            ("<sip:+15551234567;npdi@host>", Some("+15551234567")),
            (
                "\"Smith, <Jane>\" <sip:5551234567@host>",
                Some("+15551234567"),
            ),
            ("Nelson <SIP:+15551234567@HOST>", Some("+15551234567")),
            ("<sip:alice@example.com>", None),
            ("<sip:1001@pbx>", None),
            ("<sip:host.example.com>", None),
            ("<mailto:a@b>", None),
            ("garbage", None),
        ];
        for (from, expected) in cases {
            assert_eq!(from_only(from).as_deref(), expected, "{from}");
        }
    }

    #[test]
    fn withheld_identities_give_none() {
        let cases = [
            "\"Anonymous\" <sip:anonymous@anonymous.invalid>",
            "<sip:+15551234567@anonymous.invalid>",
            "<sip:anonymous@pbx.example.com>",
            "<sip:Restricted@carrier>",
            "<sip:unavailable@carrier>",
            "<tel:anonymous>",
        ];
        for from in cases {
            assert_eq!(from_only(from), None, "{from}");
        }
    }

    #[test]
    fn trusts_p_asserted_identity_over_remote_party_id_over_from() {
        let all = CallerHeaders {
            p_asserted_identity: Some("<sip:+15550000001@carrier>"),
            remote_party_id: Some("<sip:+15550000002@carrier>;party=calling"),
            from: Some("<sip:+15550000003@carrier>"),
            privacy: None,
        };
        assert_eq!(number_from(all).as_deref(), Some("+15550000001"));
        let no_pai = CallerHeaders {
            p_asserted_identity: None,
            ..all
        };
        assert_eq!(number_from(no_pai).as_deref(), Some("+15550000002"));
        let from_alone = CallerHeaders {
            p_asserted_identity: None,
            remote_party_id: None,
            ..all
        };
        assert_eq!(number_from(from_alone).as_deref(), Some("+15550000003"));
    }

    #[test]
    fn a_header_without_a_number_falls_through_to_the_next() {
        let headers = CallerHeaders {
            p_asserted_identity: Some("<sip:alice@pbx.example.com>"),
            from: Some("<sip:5551234567@pbx>"),
            ..Default::default()
        };
        assert_eq!(number_from(headers).as_deref(), Some("+15551234567"));
    }

    #[test]
    fn multi_valued_p_asserted_identity_uses_the_entry_with_a_number() {
        let headers = CallerHeaders {
            p_asserted_identity: Some("<sip:alice@example.com>, <tel:+15551234567>"),
            ..Default::default()
        };
        assert_eq!(number_from(headers).as_deref(), Some("+15551234567"));
    }

    #[test]
    fn a_withheld_trusted_header_is_not_overridden_by_from() {
        let headers = CallerHeaders {
            p_asserted_identity: Some("<sip:anonymous@anonymous.invalid>"),
            from: Some("<sip:+15551234567@host>"),
            ..Default::default()
        };
        assert_eq!(number_from(headers), None);
    }

    fn identity(headers: CallerHeaders<'_>) -> (Option<String>, bool) {
        let id = caller_identity(&headers, &NumberingPlan::default());
        (id.number.map(|n| n.as_str().to_string()), id.private)
    }

    #[test]
    fn a_privacy_header_keeps_the_asserted_number_for_lookup_and_marks_it_private() {
        for privacy in ["id", "user", "header;id", "ID", "session; id"] {
            let headers = CallerHeaders {
                p_asserted_identity: Some("<sip:+15551234567@carrier>"),
                from: Some("\"Anonymous\" <sip:anonymous@anonymous.invalid>"),
                privacy: Some(privacy),
                ..Default::default()
            };
            assert_eq!(
                identity(headers),
                (Some("+15551234567".into()), true),
                "{privacy}"
            );
        }
        let none = CallerHeaders {
            p_asserted_identity: Some("<sip:+15551234567@carrier>"),
            privacy: Some("none"),
            ..Default::default()
        };
        assert_eq!(identity(none), (Some("+15551234567".into()), false));
    }

    #[test]
    fn remote_party_id_privacy_full_keeps_the_number_and_marks_it_private() {
        let hidden = CallerHeaders {
            remote_party_id: Some(
                "\"Nelson\" <sip:5551234567@gw;user=phone>;party=calling;screen=yes;privacy=full",
            ),
            from: Some("<sip:anonymous@anonymous.invalid>"),
            ..Default::default()
        };
        assert_eq!(identity(hidden), (Some("+15551234567".into()), true));
        let shown = CallerHeaders {
            remote_party_id: Some("<sip:+15551234567@carrier>;party=calling;privacy=off"),
            ..Default::default()
        };
        assert_eq!(identity(shown), (Some("+15551234567".into()), false));
    }

    #[test]
    fn remote_party_id_alone_names_the_caller_over_from() {
        let headers = CallerHeaders {
            remote_party_id: Some(
                "<sip:+15551234567@gw>;party=calling;id-type=subscriber;screen=yes;privacy=off",
            ),
            from: Some("<sip:+15559990000@trunk>"),
            ..Default::default()
        };
        assert_eq!(identity(headers), (Some("+15551234567".into()), false));
    }

    #[test]
    fn a_remote_party_id_for_the_called_party_is_not_the_caller() {
        let headers = CallerHeaders {
            remote_party_id: Some(
                "<sip:+15550009999@pbx>;party=called, <sip:+15551234567@gw>;party=calling",
            ),
            ..Default::default()
        };
        assert_eq!(number_from(headers).as_deref(), Some("+15551234567"));
        let only_called = CallerHeaders {
            remote_party_id: Some("<sip:+15550009999@pbx>;party=called"),
            from: Some("<sip:+15551234567@gw>"),
            ..Default::default()
        };
        assert_eq!(number_from(only_called).as_deref(), Some("+15551234567"));
    }
}
