//! Refusing new INVITEs under overload without a transaction.
//!
//! Past `max_calls` or a call rate, or while draining, a new INVITE is
//! answered 503 as a stateless UAS answers (RFC 3261 §8.2.7): no 100 Trying,
//! no transaction, the 503 never retransmitted and its ACK dropped unparsed.
//! A caller whose 503 was lost retransmits the INVITE and gets another.
//! Refusing then costs reading the five headers a response echoes and one
//! datagram, not two parses, two
//! responses and 32 s of transaction state, so under a flood the CPU stays
//! with the calls already taken (their ACKs and BYEs).

use crate::message::{echo_headers_of, tag_of, top_via, EchoHeaders, Method};
use crate::transaction::TxKey;

/// Starts the To tag of every stateless 503. Dialog tags are lower-case
/// letters and digits, so an ACK with this tag is one of these and nothing else.
pub(crate) const TAG_PREFIX: &str = "SL-";

pub(crate) struct NewInvite {
    pub echo: EchoHeaders,
    /// The transaction an INVITE retransmission would belong to.
    pub key: TxKey,
}

/// An INVITE outside any dialog, found from its echo headers alone. None when the full
/// parser must look at it: inside a dialog (a To tag), an RFC 2543 Via
/// without a branch, or headers missing.
pub(crate) fn new_invite(data: &[u8]) -> Option<NewInvite> {
    if !data.starts_with(b"INVITE ") {
        return None;
    }
    let echo = echo_headers_of(data).ok()?;
    if tag_of(&echo.to).is_some() {
        return None;
    }
    let via = top_via(echo.vias.first()?).ok()?;
    if !via.branch.starts_with("z9hG4bK") {
        return None;
    }
    let key = TxKey {
        branch: via.branch,
        sent_by: via.sent_by,
        method: Method::Invite,
    };
    Some(NewInvite { echo, key })
}

/// An ACK for a stateless 503: nothing to do with it.
pub(crate) fn acks_a_refusal(data: &[u8]) -> bool {
    if !data.starts_with(b"ACK ") {
        return false;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| {
            let name = name.trim();
            name.eq_ignore_ascii_case("to") || name.eq_ignore_ascii_case("t")
        })
        .and_then(|(_, value)| tag_of(value))
        .is_some_and(|t| t.starts_with(TAG_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:agent@10.0.0.2 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-abc;rport\r\n\
        From: <sip:+15551234567@trunk>;tag=f1\r\n\
        To: <sip:agent@10.0.0.2>\r\n\
        Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn a_new_invite_is_found_with_its_transaction_key() {
        let invite = new_invite(INVITE.as_bytes()).unwrap();
        assert_eq!(invite.key.branch, "z9hG4bK-abc");
        assert_eq!(invite.key.sent_by, "10.0.0.1:5070");
        assert_eq!(invite.echo.call_id, "c1");
    }

    #[test]
    fn in_dialog_old_style_and_broken_invites_go_to_the_full_parser() {
        let reinvite = INVITE.replace(
            "To: <sip:agent@10.0.0.2>",
            "To: <sip:agent@10.0.0.2>;tag=x9",
        );
        assert!(new_invite(reinvite.as_bytes()).is_none());
        let compact = INVITE.replace("To: <sip:agent@10.0.0.2>", "t: <sip:agent@10.0.0.2>;TAG=x9");
        assert!(new_invite(compact.as_bytes()).is_none());
        let rfc2543 = INVITE.replace("branch=z9hG4bK-abc", "branch=1234");
        assert!(new_invite(rfc2543.as_bytes()).is_none());
        let no_call_id = INVITE.replace("Call-ID: c1\r\n", "");
        assert!(new_invite(no_call_id.as_bytes()).is_none());
        assert!(new_invite(INVITE.replacen("INVITE", "OPTIONS", 1).as_bytes()).is_none());
    }

    #[test]
    fn only_an_ack_carrying_a_stateless_tag_is_dropped() {
        let ack = |to: &str| {
            format!(
                "ACK sip:agent@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-abc\r\n\
                 From: <sip:a@b>;tag=f1\r\n{to}\r\nCall-ID: c1\r\nCSeq: 1 ACK\r\n\r\n"
            )
        };
        assert!(acks_a_refusal(
            ack("To: <sip:agent@10.0.0.2>;tag=SL-k3j").as_bytes()
        ));
        assert!(acks_a_refusal(
            ack("t: sip:agent@10.0.0.2;tag=SL-k3j").as_bytes()
        ));
        assert!(!acks_a_refusal(
            ack("To: <sip:agent@10.0.0.2>;tag=k3jd9").as_bytes()
        ));
        assert!(
            !acks_a_refusal(ack("To: <sip:agent@10.0.0.2;tag=SL-x>").as_bytes()),
            "a URI parameter is not the tag"
        );
        assert!(!acks_a_refusal(b"ACK \xff\xfe"));
    }
}
