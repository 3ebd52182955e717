//! SIP extensions by option tag (RFC 3261 §8.2.2.3, §20.32, §20.37): which
//! we implement, and what a request supports or requires.

use crate::message::Request;

/// Session timers (RFC 4028).
pub(crate) const TIMER: &str = "timer";

/// Reliable provisional responses (RFC 3262).
pub(crate) const RELIABLE_PROVISIONAL: &str = "100rel";

/// The option tags we implement, as our `Supported` header's value.
pub const SUPPORTED: &str = "timer, 100rel";

/// The option tags of every header line named `name` (lower case).
fn option_tags<'a>(req: &'a Request, name: &'a str) -> impl Iterator<Item = &'a str> {
    req.extra
        .iter()
        .filter(move |(n, _)| n == name)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
}

/// Whether the request requires the extension `tag`.
pub(crate) fn requires(req: &Request, tag: &str) -> bool {
    option_tags(req, "require").any(|t| t.eq_ignore_ascii_case(tag))
}

/// Whether the request says it supports (or requires) the extension `tag`.
pub(crate) fn supports(req: &Request, tag: &str) -> bool {
    requires(req, tag) || option_tags(req, "supported").any(|t| t.eq_ignore_ascii_case(tag))
}

/// The option tags a request requires that we do not implement, as the
/// value of an `Unsupported` header; None when there are none.
pub(crate) fn unsupported_required(req: &Request) -> Option<String> {
    let ours = |tag: &str| {
        [TIMER, RELIABLE_PROVISIONAL]
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tag))
    };
    let unsupported: Vec<&str> = option_tags(req, "require")
        .filter(|tag| !ours(tag))
        .collect();
    (!unsupported.is_empty()).then(|| unsupported.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::test_request;

    fn request(headers: &str) -> Request {
        test_request("OPTIONS", headers)
    }

    #[test]
    fn only_what_we_implement_is_taken_of_what_a_request_requires() {
        assert_eq!(unsupported_required(&request("")), None);
        assert_eq!(
            unsupported_required(&request("Require: timer\r\nRequire: 100REL\r\n")),
            None
        );
        assert_eq!(
            unsupported_required(&request(
                "Require: timer, precondition\r\nRequire: sec-agree\r\n"
            )),
            Some("precondition, sec-agree".to_string())
        );
    }

    #[test]
    fn support_is_read_from_every_supported_and_require_line_and_compact_form() {
        let req = request("k: replaces\r\nSupported: norefersub, timer\r\nRequire: 100rel\r\n");
        assert!(supports(&req, TIMER));
        assert!(supports(&req, RELIABLE_PROVISIONAL));
        assert!(requires(&req, RELIABLE_PROVISIONAL));
        assert!(!requires(&req, TIMER));
        assert!(!supports(&request("Supported: replaces\r\n"), TIMER));
    }
}
