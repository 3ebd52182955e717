//! Who may call and how often: allow_from, call rates, max_calls,
//! draining and readiness, stateless 503s, Digest and its lockouts.

use std::time::Duration;

use super::*;

#[test]
fn options_answer_503_while_not_ready_or_draining_and_200_again_when_ready() {
    let mut h = Harness::new();
    let ping = |h: &mut Harness, branch: &str| {
        h.feed(&request("OPTIONS", 1, branch, "probe", None, "", None));
        let sent = h.sent_text();
        status_lines(&sent)
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(ping(&mut h, "z9hG4bK-p1"), vec!["SIP/2.0 200 OK"]);
    h.ep.set_ready(false);
    assert_eq!(
        ping(&mut h, "z9hG4bK-p2"),
        vec!["SIP/2.0 503 Service Unavailable"],
        "a node that cannot take calls must say so to a dispatcher's probe"
    );
    h.ep.set_ready(true);
    assert_eq!(ping(&mut h, "z9hG4bK-p3"), vec!["SIP/2.0 200 OK"]);
    h.ep.set_draining(true);
    assert_eq!(
        ping(&mut h, "z9hG4bK-p4"),
        vec!["SIP/2.0 503 Service Unavailable"],
        "a draining node must not be re-activated by its probe"
    );
    // In-dialog OPTIONS (a keep-alive of a call in progress) is not a probe.
    h.ep.set_draining(false);
    h.ep.set_ready(false);
    let (_, tag) = h.confirmed_call();
    h.feed(&in_dialog("OPTIONS", 2, "z9hG4bK-p5", "call-1", &tag, ""));
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 200 OK"]);
}

#[test]
fn beyond_max_calls_invites_get_503_with_retry_after() {
    let mut h = Harness::new();
    h.ep.config.max_calls = 1;
    h.offered_call();
    h.feed(&invite("z9hG4bK-2", "call-2", Some(&sdp("0", ""))));
    let sent = h.sent_text();
    assert_eq!(status_lines(&sent), vec!["SIP/2.0 503 Service Unavailable"]);
    assert_eq!(header(&sent[0], "Retry-After"), Some("5"));
    // A load balancer's OPTIONS hears that no call can be taken here now.
    h.feed(&request("OPTIONS", 1, "z9hG4bK-o", "o", None, "", None));
    let sent = h.sent_text();
    assert_eq!(status_lines(&sent), vec!["SIP/2.0 503 Service Unavailable"]);
    assert_eq!(header(&sent[0], "Retry-After"), Some("5"));
}

#[test]
fn options_gets_503_while_draining_and_200_again_once_calls_can_be_taken() {
    let mut h = Harness::new();
    h.ep.set_draining(true);
    h.feed(&request("OPTIONS", 1, "z9hG4bK-o1", "o1", None, "", None));
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 503 Service Unavailable"]
    );
    h.ep.set_draining(false);
    h.feed(&request("OPTIONS", 2, "z9hG4bK-o2", "o2", None, "", None));
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 200 OK"]);
}

#[test]
fn sources_outside_allow_from_get_403_and_start_nothing() {
    let mut h = Harness::new();
    h.ep.config.allow_from = vec!["198.51.100.0/24".parse().unwrap()];
    h.feed_from(
        TransportKind::Udp,
        "203.0.113.5:5060",
        &invite("z9hG4bK-x", "intruder", Some(&sdp("0", ""))),
    );
    let sent = h.sent_text();
    assert_eq!(status_lines(&sent), vec!["SIP/2.0 403 Forbidden"]);
    assert!(h.events().is_empty());
    h.feed_from(
        TransportKind::Udp,
        "203.0.113.5:5060",
        &request("OPTIONS", 1, "z9hG4bK-o", "o", None, "", None),
    );
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 403 Forbidden"]);
    // The allowed trunk gets through.
    h.offered_call();
    assert_eq!(h.ep.stats().requests_forbidden, 2);
}

#[test]
fn the_server_header_is_left_out_unless_configured_and_never_sent_to_a_refused_source() {
    let mut h = Harness::new();
    h.feed(&request("OPTIONS", 1, "z9hG4bK-o1", "o1", None, "", None));
    let sent = h.sent_text();
    assert_eq!(header(&sent[0], "Server"), None, "{}", sent[0]);
    h.ep.config.server_header = Some("ExampleSBC".into());
    h.ep.config.allow_from = vec!["198.51.100.0/24".parse().unwrap()];
    h.feed(&request("OPTIONS", 2, "z9hG4bK-o2", "o2", None, "", None));
    let sent = h.sent_text();
    assert_eq!(header(&sent[0], "Server"), Some("ExampleSBC"));
    h.feed_from(
        TransportKind::Udp,
        "203.0.113.5:5060",
        &request("OPTIONS", 3, "z9hG4bK-o3", "o3", None, "", None),
    );
    let sent = h.sent_text();
    assert_eq!(status_lines(&sent), vec!["SIP/2.0 403 Forbidden"]);
    assert_eq!(header(&sent[0], "Server"), None, "{}", sent[0]);
    // Our own requests carry it as User-Agent.
    let (call, _) = h.confirmed_call();
    h.ep.hangup(h.now, call).unwrap();
    let bye = h.sent_text().pop().unwrap();
    assert!(bye.starts_with("BYE "), "{bye}");
    assert_eq!(header(&bye, "User-Agent"), Some("ExampleSBC"));
}

#[test]
fn new_calls_beyond_the_per_source_rate_get_503_and_calls_in_progress_go_on() {
    let mut h = Harness::new();
    h.ep.rate = crate::admission::CallRateLimiter::new(per_second(1.0, 1.0));
    let (call, tag) = h.confirmed_call();
    h.feed(&invite("z9hG4bK-2", "call-2", Some(&sdp("0", ""))));
    let sent = h.sent_text();
    assert_eq!(status_lines(&sent), vec!["SIP/2.0 503 Service Unavailable"]);
    assert_eq!(header(&sent[0], "Retry-After"), Some("5"));
    h.feed(&in_dialog("BYE", 2, "z9hG4bK-bye", "call-1", &tag, ""));
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 200 OK"],
        "the call in progress still ends normally"
    );
    assert!(matches!(h.events().as_slice(), [Event::CallEnded { call: c, .. }] if *c == call));
    h.advance(Duration::from_secs(1));
    h.feed(&invite("z9hG4bK-3", "call-3", Some(&sdp("0", ""))));
    assert!(
        matches!(h.events().as_slice(), [Event::IncomingCall(_)]),
        "a token came back after a second"
    );
    assert_eq!(h.ep.stats().calls_refused_rate, 1);
}

#[test]
fn a_call_the_application_refuses_with_503_is_told_when_to_come_back() {
    let mut h = Harness::new();
    let call = h.offered_call();
    h.ep.reject(h.now, call, 503).unwrap();
    let sent = h.sent_text();
    assert_eq!(status_lines(&sent), vec!["SIP/2.0 503 Service Unavailable"]);
    assert_eq!(header(&sent[0], "Retry-After"), Some("5"));
    assert!(matches!(h.events().as_slice(), [Event::CallEnded { .. }]));
    let call = {
        h.feed(&invite("z9hG4bK-inv2", "call-2", Some(&sdp("0", ""))));
        let _ = h.sent_text();
        h.incoming_call()
    };
    h.ep.reject(h.now, call, 486).unwrap();
    let sent = h.sent_text();
    assert_eq!(header(&sent[0], "Retry-After"), None, "only a 503 has one");
}

#[test]
fn new_calls_beyond_the_total_rate_get_503_whatever_their_source() {
    let mut h = Harness::new();
    h.ep.total_rate = crate::admission::TotalRateLimiter::new(per_second(2.0, 2.0));
    h.feed(&invite("z9hG4bK-1", "call-1", Some(&sdp("0", ""))));
    h.feed(&invite("z9hG4bK-2", "call-2", Some(&sdp("0", ""))));
    assert_eq!(h.events().len(), 2, "two calls within the burst");
    let _ = h.sent_text();
    h.feed(&invite("z9hG4bK-3", "call-3", Some(&sdp("0", ""))));
    let sent = h.sent_text();
    assert_eq!(status_lines(&sent), vec!["SIP/2.0 503 Service Unavailable"]);
    assert_eq!(header(&sent[0], "Retry-After"), Some("5"));
    assert!(h.events().is_empty());
    assert_eq!(h.ep.stats().calls_refused_overload, 1);
    h.advance(Duration::from_millis(500));
    h.feed(&invite("z9hG4bK-4", "call-4", Some(&sdp("0", ""))));
    assert!(
        matches!(h.events().as_slice(), [Event::IncomingCall(_)]),
        "half a second at 2/s brings a token back"
    );
}

#[test]
fn an_overloaded_invite_gets_a_stateless_503_and_its_ack_is_dropped() {
    let mut h = Harness::new();
    h.ep.total_rate = crate::admission::TotalRateLimiter::new(per_second(1.0, 1.0));
    let first = invite("z9hG4bK-1", "call-1", Some(&sdp("0", "")));
    h.feed(&first);
    assert_eq!(h.events().len(), 1);
    let _ = h.sent_text();
    let second = invite("z9hG4bK-2", "call-2", Some(&sdp("0", "")));
    h.feed(&second);
    let sent = h.sent_text();
    assert_eq!(
        status_lines(&sent),
        vec!["SIP/2.0 503 Service Unavailable"],
        "no 100 Trying"
    );
    let tag = to_tag(&sent[0]);
    assert!(tag.starts_with("SL-"), "{tag}");
    assert_eq!(h.ep.server_txs.len(), 1, "no transaction for the refusal");
    h.advance(Duration::from_millis(600));
    assert!(
        h.sent_text().is_empty(),
        "a stateless 503 is not retransmitted"
    );
    // The caller retransmits: the same answer, with the same tag.
    h.feed(&second);
    let again = h.sent_text();
    assert_eq!(
        status_lines(&again),
        vec!["SIP/2.0 503 Service Unavailable"]
    );
    assert_eq!(to_tag(&again[0]), tag);
    // Its ACK is dropped unparsed: nothing sent, no event.
    let ack = request("ACK", 1, "z9hG4bK-2", "call-2", Some(&tag), "", None);
    h.feed(&ack);
    assert!(h.sent_text().is_empty());
    assert!(h.events().is_empty());
    // Still over the rate, the taken call's INVITE retransmission gets its own
    // transaction's answer, not a 503.
    h.feed(&first);
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 100 Trying"]);
    assert_eq!(h.ep.stats().calls_refused_overload, 2);
}

#[test]
fn draining_refuses_new_calls_with_503_but_keeps_answering_the_rest() {
    let mut h = Harness::new();
    let (_, tag) = h.confirmed_call();
    h.ep.set_draining(true);
    h.feed(&invite("z9hG4bK-2", "call-2", Some(&sdp("0", ""))));
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 503 Service Unavailable"]
    );
    // Out of dialog, OPTIONS says no call can be taken here.
    h.feed(&request("OPTIONS", 1, "z9hG4bK-o", "o", None, "", None));
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 503 Service Unavailable"]
    );
    h.feed(&in_dialog("INFO", 2, "z9hG4bK-i", "call-1", &tag, ""));
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 200 OK"]);
    assert_eq!(h.ep.stats().calls_refused_draining, 1);
}

#[test]
fn with_digest_configured_an_invite_is_challenged_then_let_in_with_credentials() {
    let mut h = Harness::new();
    h.ep.config.digest = Some(crate::digest::DigestAuth::new(
        "passgate",
        std::collections::HashMap::from([("trunk".to_string(), "s3cret".to_string())]),
        "node-secret",
    ));
    h.feed(&invite("z9hG4bK-a1", "auth-1", Some(&sdp("0", ""))));
    let sent = h.sent_text();
    assert_eq!(
        status_lines(&sent),
        vec!["SIP/2.0 100 Trying", "SIP/2.0 401 Unauthorized"]
    );
    let challenge = header(&sent[1], "WWW-Authenticate").unwrap().to_string();
    assert!(
        challenge.starts_with("Digest realm=\"passgate\"") && challenge.contains("qop=\"auth\""),
        "{challenge}"
    );
    assert!(h.events().is_empty());
    assert_eq!(h.ep.stats().invites_challenged, 1);

    let uri = "sip:passgate@192.0.2.1:5060";
    let answer = crate::digest::client_answer(&challenge, "trunk", "s3cret", uri);
    let authorization = format!("Authorization: {answer}\r\n");
    let retry = invite("z9hG4bK-a2", "auth-1", Some(&sdp("0", "")))
        .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE")
        .replace(
            "Max-Forwards: 70\r\n",
            &format!("Max-Forwards: 70\r\n{authorization}"),
        );
    h.feed(&retry);
    assert!(matches!(h.events().as_slice(), [Event::IncomingCall(_)]));
    // The same header sniffed and replayed in a new call: its count is used.
    let replay = retry
        .replace("z9hG4bK-a2", "z9hG4bK-a4")
        .replace("auth-1", "auth-2");
    h.feed(&replay);
    assert!(
        h.events().is_empty(),
        "a replayed Authorization started a call"
    );
    assert!(status_lines(&h.sent_text()).contains(&"SIP/2.0 401 Unauthorized"));
    let wrong_answer = crate::digest::client_answer(&challenge, "trunk", "guessed", uri);
    let wrong = retry
        .replace("z9hG4bK-a2", "z9hG4bK-a3")
        .replace(&answer, &wrong_answer);
    h.feed(&wrong);
    assert!(status_lines(&h.sent_text()).contains(&"SIP/2.0 401 Unauthorized"));
}

#[test]
fn wrong_digest_answers_past_the_per_source_limit_get_403_even_with_the_right_password() {
    let mut h = Harness::new();
    h.ep.config.digest = Some(crate::digest::DigestAuth::new(
        "passgate",
        std::collections::HashMap::from([("trunk".to_string(), "s3cret".to_string())]),
        "node-secret",
    ));
    h.ep.auth_throttle = crate::auth_throttle::AuthThrottle::new(crate::AuthLimits {
        per_source: 3,
        ..crate::AuthLimits::default()
    });
    let uri = "sip:passgate@192.0.2.1:5060";
    let guess = |h: &mut Harness, n: u32, password: &str| {
        h.feed(&invite(
            &format!("z9hG4bK-c{n}"),
            &format!("guess-{n}"),
            Some(&sdp("0", "")),
        ));
        let sent = h.sent_text();
        let Some(challenge) = sent
            .iter()
            .find_map(|m| header(m, "WWW-Authenticate"))
            .map(str::to_string)
        else {
            return status_lines(&sent).last().map(|s| s.to_string());
        };
        let answer = crate::digest::client_answer(&challenge, "trunk", password, uri);
        h.feed(
            &invite(
                &format!("z9hG4bK-d{n}"),
                &format!("guess-{n}"),
                Some(&sdp("0", "")),
            )
            .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE")
            .replace(
                "Max-Forwards: 70\r\n",
                &format!("Max-Forwards: 70\r\nAuthorization: {answer}\r\n"),
            ),
        );
        status_lines(&h.sent_text()).last().map(|s| s.to_string())
    };
    for n in 1..=3 {
        assert_eq!(
            guess(&mut h, n, "guess").as_deref(),
            Some("SIP/2.0 401 Unauthorized")
        );
    }
    assert_eq!(h.ep.stats().auth_wrong_password, 3);
    // Locked: no challenge at all, and the right password changes nothing.
    assert_eq!(
        guess(&mut h, 4, "s3cret").as_deref(),
        Some("SIP/2.0 403 Forbidden")
    );
    assert!(h.events().is_empty());
    assert_eq!(h.ep.stats().auth_locked, 1);
    // After the cool-down the trunk gets in.
    h.advance(Duration::from_secs(301));
    h.sent_text(); // the unacknowledged 401s' retransmissions
    let last = guess(&mut h, 5, "s3cret");
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [Event::IncomingCall(_)]),
        "{last:?} {events:?}"
    );
}

/// A harness allowing one new call a second per source and for the node.
fn one_call_a_second() -> Harness {
    let mut h = Harness::new();
    h.ep.rate = crate::admission::CallRateLimiter::new(per_second(1.0, 1.0));
    h.ep.total_rate = crate::admission::TotalRateLimiter::new(per_second(1.0, 1.0));
    h
}

/// Another new call in the same second gets 503: the token was spent.
fn assert_token_spent(h: &mut Harness) {
    h.feed(&invite("z9hG4bK-next", "next", Some(&sdp("0", ""))));
    assert!(status_lines(&h.sent_text()).contains(&"SIP/2.0 503 Service Unavailable"));
    assert_eq!(h.ep.stats().calls_refused_rate, 1);
}

#[test]
fn a_challenged_invite_gives_its_rate_token_back_for_the_answered_retry() {
    let mut h = one_call_a_second();
    h.ep.config.digest = Some(crate::digest::DigestAuth::new(
        "passgate",
        std::collections::HashMap::from([("trunk".to_string(), "s3cret".to_string())]),
        "node-secret",
    ));
    h.feed(&invite("z9hG4bK-r1", "rate-1", Some(&sdp("0", ""))));
    let sent = h.sent_text();
    let challenge = header(&sent[1], "WWW-Authenticate").unwrap().to_string();
    let uri = "sip:passgate@192.0.2.1:5060";
    let answer = crate::digest::client_answer(&challenge, "trunk", "s3cret", uri);
    // The same instant: the answered challenge is let in, not 503.
    let retry = invite("z9hG4bK-r2", "rate-1", Some(&sdp("0", "")))
        .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE")
        .replace(
            "Max-Forwards: 70\r\n",
            &format!("Max-Forwards: 70\r\nAuthorization: {answer}\r\n"),
        );
    h.feed(&retry);
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [Event::IncomingCall(_)]),
        "{events:?}"
    );
    assert_token_spent(&mut h);
}

#[test]
fn an_invite_answered_422_gives_its_rate_token_back_for_the_corrected_retry() {
    let mut h = one_call_a_second();
    let asking = |branch: &str, cseq: u32, secs: u32| {
        invite(branch, "rate-1", Some(&sdp("0", "")))
            .replace("CSeq: 1 INVITE", &format!("CSeq: {cseq} INVITE"))
            .replace(
                "Max-Forwards: 70\r\n",
                &format!("Max-Forwards: 70\r\nSupported: timer\r\nSession-Expires: {secs}\r\n"),
            )
    };
    h.feed(&asking("z9hG4bK-r1", 1, 30));
    assert_eq!(
        status_lines(&h.sent_text()).last().copied(),
        Some("SIP/2.0 422 Session Interval Too Small")
    );
    h.feed(&asking("z9hG4bK-r2", 2, 90));
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [Event::IncomingCall(_)]),
        "{events:?}"
    );
    assert_token_spent(&mut h);
}
