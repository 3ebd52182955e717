//! The Refer-To URI of a hand-off: the configured target with the result of
//! authentication embedded as URI headers (RFC 3261 §19.1.1), so the INVITE
//! the caller's side sends to the target carries `X-Passgate-Auth` (and
//! `X-Passgate-Account` when verified) and the PBX knows who is calling,
//! and `X-Passgate-Verstat` with the STIR/SHAKEN verification result a
//! trusted trunk gave for the caller's number.

use std::fmt::Write;

/// What a transfer says about the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferResult {
    /// verified | failed | no-account | locked | error
    pub auth: &'static str,
    pub account: Option<String>,
    /// The trunk's `verstat` for the caller's number, when it gave one.
    pub verstat: Option<String>,
}

pub fn refer_to(target: &str, result: &TransferResult) -> String {
    let mut uri = target.trim().to_string();
    let mut sep = if uri.contains('?') { '&' } else { '?' };
    let mut add = |uri: &mut String, name: &str, value: &str| {
        let _ = write!(uri, "{sep}{name}={}", escape(value));
        sep = '&';
    };
    add(&mut uri, "X-Passgate-Auth", result.auth);
    if let Some(account) = &result.account {
        add(&mut uri, "X-Passgate-Account", account);
    }
    if let Some(verstat) = &result.verstat {
        add(&mut uri, "X-Passgate-Verstat", verstat);
    }
    uri
}

/// Percent-encodes all but RFC 3261's unreserved characters.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outcome_travels_as_uri_headers() {
        let verified = TransferResult {
            auth: "verified",
            account: Some("42".into()),
            verstat: None,
        };
        assert_eq!(
            refer_to("sip:agents@pbx.example", &verified),
            "sip:agents@pbx.example?X-Passgate-Auth=verified&X-Passgate-Account=42"
        );
        let attested = TransferResult {
            verstat: Some("TN-Validation-Passed".into()),
            ..verified
        };
        assert_eq!(
            refer_to("sip:agents@pbx.example", &attested),
            "sip:agents@pbx.example?X-Passgate-Auth=verified&X-Passgate-Account=42\
             &X-Passgate-Verstat=TN-Validation-Passed"
        );
        let failed = TransferResult {
            auth: "no-account",
            account: None,
            verstat: None,
        };
        assert_eq!(
            refer_to("sip:rep@pbx.example;transport=tcp", &failed),
            "sip:rep@pbx.example;transport=tcp?X-Passgate-Auth=no-account"
        );
    }

    #[test]
    fn existing_headers_are_kept_and_values_escaped() {
        let odd = TransferResult {
            auth: "verified",
            account: Some("a b&c=d".into()),
            verstat: None,
        };
        assert_eq!(
            refer_to("sip:q@pbx?Priority=urgent", &odd),
            "sip:q@pbx?Priority=urgent&X-Passgate-Auth=verified&X-Passgate-Account=a%20b%26c%3Dd"
        );
    }
}
