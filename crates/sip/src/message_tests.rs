//! The parser's cases: the forms RFC 3261 allows, and what it refuses.

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
        .replace("CSeq: 7 INVITE", "CSeq: 7\r\n\tINVITE")
        .replace("c: application/sdp", "c: application/sdp;\tcharset=x");
    let Incoming::Request(req) = parse(msg.as_bytes()).unwrap() else {
        panic!("expected request")
    };
    assert_eq!(req.from_tag, "abc");
    assert_eq!(
        req.echo.from,
        "\"Nelson,  M\" <sip:+15551234567@10.0.0.1>;tag=abc"
    );
    assert_eq!(req.echo.cseq, "7 INVITE");
    assert_eq!(
        req.content_type.as_deref(),
        Some("application/sdp;charset=x")
    );
    assert_eq!(req.body, b"v=0\n");
}

#[test]
fn a_tab_between_tokens_is_one_space() {
    let msg = INVITE.replace("CSeq: 7 INVITE", "CSeq: 7\tINVITE");
    let Incoming::Request(req) = parse(msg.as_bytes()).unwrap() else {
        panic!("expected request")
    };
    assert_eq!(req.echo.cseq, "7 INVITE", "echoed as the RFC writes it");
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

/// Mangled copies of good messages, cut where the grammar turns:
/// whatever comes back, the parser returns and what it accepts holds.
#[test]
fn mangled_messages_never_panic_and_what_passes_is_whole() {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    const TURNS: &[u8] = b" \t\r\n:;<>\"\\=,[]@/\x00\xff\xc3";
    let response = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-r\r\n\
                    From: <sip:a@b>;tag=1\r\nTo: \"B\" <sip:c@d>;tag=2\r\n\
                    Call-ID: x\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
    let mut rng = StdRng::seed_from_u64(4475);
    let (mut requests, mut responses) = (0, 0);
    for round in 0..20_000 {
        let base = if round % 2 == 0 { INVITE } else { response };
        let mut data = base.as_bytes().to_vec();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..data.len());
            match rng.random_range(0..4) {
                0 => data[at] = TURNS[rng.random_range(0..TURNS.len())],
                1 => data.insert(at, TURNS[rng.random_range(0..TURNS.len())]),
                2 => {
                    data.remove(at);
                }
                _ => data.truncate(at.max(1)),
            }
        }
        match parse(&data) {
            Ok(Incoming::Request(req)) => {
                requests += 1;
                assert!(!req.top_via.branch.is_empty());
                assert!(!req.call_id().is_empty());
                assert!(req.body.len() < data.len());
                assert!(req.uri.contains(':'));
            }
            Ok(Incoming::Response(resp)) => {
                responses += 1;
                assert!((100..=699).contains(&resp.code));
                assert!(!resp.branch.is_empty());
            }
            Err(_) => {}
        }
    }
    // Most single cuts leave a message that still parses.
    assert!(
        requests > 1_000 && responses > 1_000,
        "{requests} / {responses}"
    );
}

#[test]
fn commas_inside_quotes_and_brackets_do_not_split() {
    assert_eq!(
        split_top_level_commas("\"a, b\" <sip:x@y;p=1,2>, <sip:z@w>"),
        vec!["\"a, b\" <sip:x@y;p=1,2>", "<sip:z@w>"]
    );
}
