//! Who the caller says it is, as far as the source of the INVITE may be
//! believed. `P-Asserted-Identity` and `Remote-Party-ID` are an assertion
//! by the network, meaningful only from inside its trust domain (RFC 3325
//! §2.3): from anyone else they are as good as anything the caller typed, so
//! they are dropped and only From is left. The STIR/SHAKEN verification
//! result a terminating carrier adds (`verstat`, ATIS-1000074) is an
//! assertion of the same kind and is read from trusted sources only.

use std::net::IpAddr;

use crate::admission::Cidr;
use crate::message::Request;

/// The longest `verstat` value kept; the standard ones are about 20 characters.
const MAX_VERSTAT: usize = 40;

/// The identity headers of an INVITE, as far as its source is trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssertedIdentity {
    /// Whether the source is in `trusted` (its assertions are kept).
    pub trusted: bool,
    pub p_asserted_identity: Option<String>,
    pub remote_party_id: Option<String>,
    /// The verification result, e.g. `TN-Validation-Passed`.
    pub verstat: Option<String>,
    /// Identity headers that came from an untrusted source and were dropped.
    pub dropped: bool,
}

impl AssertedIdentity {
    /// What of `req`'s identity headers `source` may assert, given the
    /// trust domain `trusted` (empty: nobody).
    pub fn of(req: &Request, source: IpAddr, trusted: &[Cidr]) -> Self {
        let source = source.to_canonical();
        // Every header of each name, as one comma-joined value.
        let pai = all_values(req, "p-asserted-identity");
        let rpid = all_values(req, "remote-party-id");
        if !trusted.iter().any(|c| c.contains(source)) {
            return AssertedIdentity {
                dropped: pai.is_some() || rpid.is_some(),
                ..Default::default()
            };
        }
        let verstat = pai
            .as_deref()
            .and_then(verstat_param)
            .or_else(|| verstat_param(&req.echo.from))
            .or_else(|| req.header("x-twilio-verstat").and_then(verstat_value));
        AssertedIdentity {
            trusted: true,
            p_asserted_identity: pai,
            remote_party_id: rpid,
            verstat,
            dropped: false,
        }
    }
}

/// Whether a verification result says the number was validated (full,
/// partial or gateway attestation alike: `TN-Validation-Passed`, and
/// Twilio's `TN-Validation-Passed-A`, `-B`, `-C`).
pub fn verstat_passed(verstat: &str) -> bool {
    verstat
        .get(..20)
        .is_some_and(|p| p.eq_ignore_ascii_case("TN-Validation-Passed"))
}

/// The `verstat` parameter of a name-addr: in the user part of its URI
/// (`<sip:+15550100001;verstat=TN-Validation-Passed@host>`) or among the
/// header's parameters.
fn verstat_param(header: &str) -> Option<String> {
    let lower = header.to_ascii_lowercase();
    let at = lower.find(";verstat=")? + ";verstat=".len();
    verstat_value(&header[at..])
}

/// A verification result as a token: letters, digits and dashes, bounded,
/// so it can go into a log line or a URI header unescaped and unsplit.
fn verstat_value(value: &str) -> Option<String> {
    let token: String = value
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(MAX_VERSTAT)
        .collect();
    (!token.is_empty()).then_some(token)
}

/// Every occurrence of a header, comma-joined (RFC 3261 §7.3.1): identity
/// headers come one per entry (a sip: and a tel: P-Asserted-Identity, a
/// Remote-Party-ID per party).
pub(crate) fn all_values(req: &Request, name: &str) -> Option<String> {
    let values: Vec<&str> = req
        .extra
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(headers: &str) -> Request {
        let raw = format!(
            "INVITE sip:passgate@192.0.2.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1\r\n\
             {headers}\
             To: <sip:passgate@192.0.2.1>\r\n\
             Call-ID: identity-1\r\n\
             CSeq: 1 INVITE\r\n\
             Content-Length: 0\r\n\r\n"
        );
        match crate::message::parse(raw.as_bytes()).unwrap() {
            crate::message::Incoming::Request(r) => *r,
            other => panic!("{other:?}"),
        }
    }

    fn trunk() -> Vec<Cidr> {
        vec!["198.51.100.0/24".parse().unwrap()]
    }

    #[test]
    fn assertions_from_outside_the_trust_domain_are_dropped() {
        let req = invite(
            "From: <sip:+15550100002@198.51.100.7>;tag=a\r\n\
             P-Asserted-Identity: <sip:+15550100001;verstat=TN-Validation-Passed@203.0.113.9>\r\n\
             Remote-Party-ID: <sip:+15550100001@203.0.113.9>;party=calling\r\n",
        );
        let spoofed = AssertedIdentity::of(&req, "203.0.113.9".parse().unwrap(), &trunk());
        assert_eq!(
            spoofed,
            AssertedIdentity {
                dropped: true,
                ..Default::default()
            }
        );
        let nobody = AssertedIdentity::of(&req, "198.51.100.7".parse().unwrap(), &[]);
        assert!(!nobody.trusted && nobody.p_asserted_identity.is_none());
        let trusted = AssertedIdentity::of(&req, "::ffff:198.51.100.7".parse().unwrap(), &trunk());
        assert!(trusted.trusted);
        assert!(trusted
            .p_asserted_identity
            .unwrap()
            .contains("+15550100001"));
        assert!(trusted.remote_party_id.is_some());
        assert_eq!(trusted.verstat.as_deref(), Some("TN-Validation-Passed"));
    }

    #[test]
    fn verstat_is_read_from_from_or_twilio_and_kept_a_token() {
        let from = invite(
            "From: <sip:+15550100001;verstat=No-TN-Validation@198.51.100.7;user=phone>;tag=a\r\n",
        );
        let id = AssertedIdentity::of(&from, "198.51.100.7".parse().unwrap(), &trunk());
        assert_eq!(id.verstat.as_deref(), Some("No-TN-Validation"));
        let twilio = invite(
            "From: <sip:+15550100001@198.51.100.7>;tag=a\r\n\
             X-Twilio-VerStat: TN-Validation-Passed-A\r\n",
        );
        let id = AssertedIdentity::of(&twilio, "198.51.100.7".parse().unwrap(), &trunk());
        assert_eq!(id.verstat.as_deref(), Some("TN-Validation-Passed-A"));
        assert_eq!(
            verstat_value("TN-Validation-Passed\r\nX-Evil: 1").as_deref(),
            Some("TN-Validation-Passed")
        );
        assert_eq!(verstat_value(";x"), None);
    }

    #[test]
    fn only_passed_validation_counts() {
        assert!(verstat_passed("TN-Validation-Passed"));
        assert!(verstat_passed("tn-validation-passed-B"));
        assert!(!verstat_passed("TN-Validation-Failed"));
        assert!(!verstat_passed("No-TN-Validation"));
        assert!(!verstat_passed("TN-Valid"));
    }
}
