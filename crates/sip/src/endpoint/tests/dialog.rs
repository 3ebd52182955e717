//! Inside a dialog (RFC 3261 §12, RFC 3515): BYE both ways, target refresh,
//! REFER and NOTIFY, INFO, CSeq order, and the route set of our requests.

use std::time::Duration;

use super::*;

#[test]
fn bye_from_the_caller_is_answered_and_ends_the_call() {
    let mut h = Harness::new();
    let (call, tag) = h.confirmed_call();
    h.feed(&in_dialog("BYE", 2, "z9hG4bK-bye", "call-1", &tag, ""));
    let sent = h.sent_text();
    assert_eq!(status_lines(&sent), vec!["SIP/2.0 200 OK"]);
    assert_eq!(header(&sent[0], "CSeq"), Some("2 BYE"));
    assert!(matches!(
        h.events().as_slice(),
        [Event::CallEnded { reason: EndReason::RemoteBye, call: c }] if *c == call
    ));
    assert_eq!(h.ep.active_calls(), 0);
    // A retransmitted BYE gets the same 200 from the transaction, not a 481.
    h.feed(&in_dialog("BYE", 2, "z9hG4bK-bye", "call-1", &tag, ""));
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 200 OK"]);
}

#[test]
fn hangup_sends_bye_in_the_dialog_and_retransmits_it_until_answered() {
    let mut h = Harness::new();
    let (call, tag) = h.confirmed_call();
    h.ep.hangup(h.now, call).unwrap();
    assert!(matches!(
        h.events().as_slice(),
        [Event::CallEnded {
            reason: EndReason::LocalBye,
            ..
        }]
    ));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let (dest, bye) = &sent[0];
    assert_eq!(dest.to_string(), CALLER);
    assert!(bye.starts_with("BYE sip:caller@198.51.100.20:5070 SIP/2.0\r\n"));
    assert_eq!(
        header(bye, "From"),
        Some(format!("<sip:passgate@192.0.2.1>;tag={tag}").as_str())
    );
    assert!(header(bye, "To").unwrap().ends_with(";tag=caller-tag"));
    assert_eq!(header(bye, "Call-ID"), Some("call-1"));
    assert_eq!(header(bye, "CSeq"), Some("1 BYE"));
    h.advance(Duration::from_millis(500));
    assert_eq!(h.sent().len(), 1, "Timer E retransmission");
    let branch = header(bye, "Via")
        .unwrap()
        .split("branch=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
         From: <sip:passgate@192.0.2.1>;tag={tag}\r\nTo: <sip:x@y>;tag=caller-tag\r\n\
         Call-ID: call-1\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    h.feed(&ok);
    assert_eq!(h.ep.active_calls(), 0);
    assert_eq!(
        h.ep.transactions(),
        1,
        "only the INVITE's accepted transaction is left"
    );
}

#[test]
fn hangup_before_the_ack_waits_for_it_then_sends_bye() {
    let mut h = Harness::new();
    let call = h.offered_call();
    h.ep.answer(h.now, call, 40000).unwrap();
    let tag = to_tag(&h.sent_text().pop().unwrap());
    h.ep.hangup(h.now, call).unwrap();
    assert!(h.sent().is_empty(), "no BYE before the ACK (§15)");
    h.feed(&in_dialog("ACK", 1, "z9hG4bK-ack", "call-1", &tag, ""));
    let sent = h.sent_text();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].starts_with("BYE "));
}

#[test]
fn an_accepted_reinvite_moves_the_remote_target_and_a_refused_one_does_not() {
    let mut h = Harness::new();
    let (call, tag) = h.confirmed_call();
    let moved = |msg: String, contact: &str| {
        msg.replace(
            "Contact: <sip:caller@198.51.100.20:5070>",
            &format!("Contact: <{contact}>"),
        )
    };
    // Accepted: the caller's new Contact is where our requests go.
    h.feed(&moved(
        in_dialog(
            "INVITE",
            2,
            "z9hG4bK-re1",
            "call-1",
            &tag,
            &sdp("0 101", ""),
        ),
        "sip:caller@198.51.100.77:5080",
    ));
    let ok = h.sent_text().pop().unwrap();
    assert!(ok.starts_with("SIP/2.0 200 OK"), "{ok}");
    h.feed(&in_dialog("ACK", 2, "z9hG4bK-re1ack", "call-1", &tag, ""));
    // Refused (no common codec): its Contact is not taken.
    h.feed(&moved(
        in_dialog("INVITE", 3, "z9hG4bK-re2", "call-1", &tag, &sdp("18", "")),
        "sip:elsewhere@203.0.113.50:5099",
    ));
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 488 Not Acceptable Here"]
    );
    h.events();
    h.ep.hangup(h.now, call).unwrap();
    let bye = h.sent_text().pop().unwrap();
    assert!(
        bye.starts_with("BYE sip:caller@198.51.100.77:5080 SIP/2.0\r\n"),
        "{bye}"
    );
}

#[test]
fn requests_for_an_unknown_dialog_get_481() {
    let mut h = Harness::new();
    for method in ["BYE", "INFO", "INVITE", "NOTIFY"] {
        h.feed(&in_dialog(
            method,
            2,
            &format!("z9hG4bK-{method}"),
            "no-such-call",
            "xyz",
            "",
        ));
        let sent = h.sent_text();
        assert_eq!(
            status_lines(&sent),
            vec!["SIP/2.0 481 Call/Transaction Does Not Exist"],
            "{method}"
        );
    }
    h.feed(&request(
        "BYE",
        2,
        "z9hG4bK-notag",
        "no-such-call",
        None,
        "",
        None,
    ));
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 481 Call/Transaction Does Not Exist"]
    );
    // ACK has no response, ever.
    h.feed(&in_dialog(
        "ACK",
        2,
        "z9hG4bK-ack",
        "no-such-call",
        "xyz",
        "",
    ));
    assert!(h.sent().is_empty());
}

#[test]
fn refer_reports_acceptance_and_the_notify_progress() {
    let mut h = Harness::new();
    let (call, tag) = h.confirmed_call();
    h.ep.refer(
        h.now,
        call,
        "sip:agents@pbx.example?X-Passgate-Auth=verified",
    )
    .unwrap();
    let refer = h.sent_text().pop().unwrap();
    assert!(refer.starts_with("REFER sip:caller@198.51.100.20:5070 SIP/2.0"));
    assert_eq!(
        header(&refer, "Refer-To"),
        Some("<sip:agents@pbx.example?X-Passgate-Auth=verified>")
    );
    assert_eq!(
        header(&refer, "Referred-By"),
        Some("<sip:passgate@192.0.2.1:5060>")
    );
    let branch = header(&refer, "Via")
        .unwrap()
        .split("branch=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    h.feed(&format!(
        "SIP/2.0 202 Accepted\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
         From: <sip:passgate@192.0.2.1>;tag={tag}\r\nTo: <sip:x@y>;tag=caller-tag\r\n\
         Call-ID: call-1\r\nCSeq: 1 REFER\r\nContent-Length: 0\r\n\r\n"
    ));
    assert!(matches!(
        h.events().as_slice(),
        [Event::Refer {
            status: ReferStatus::Accepted,
            ..
        }]
    ));
    for (cseq, frag, state, expected) in [
        (
            2,
            "SIP/2.0 100 Trying",
            "active;expires=60",
            ReferStatus::Progress(100),
        ),
        (
            3,
            "SIP/2.0 200 OK",
            "terminated;reason=noresource",
            ReferStatus::Completed(200),
        ),
    ] {
        let notify = in_dialog("NOTIFY", cseq, &format!("z9hG4bK-n{cseq}"), "call-1", &tag, "")
            .replace("Content-Length: 0\r\n", &format!(
                "Event: refer;id=1\r\nSubscription-State: {state}\r\nContent-Type: message/sipfrag\r\nContent-Length: {}\r\n",
                frag.len()
            ))
            + frag;
        h.feed(&notify);
        assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 200 OK"]);
        let events = h.events();
        assert!(
            matches!(events.as_slice(), [Event::Refer { status, .. }] if *status == expected),
            "{events:?}"
        );
    }
}

#[test]
fn a_481_to_our_refer_ends_the_call_without_a_bye() {
    let mut h = Harness::new();
    let (call, tag) = h.confirmed_call();
    h.ep.refer(h.now, call, "sip:agents@pbx.example").unwrap();
    let refer = h.sent_text().pop().unwrap();
    let branch = header(&refer, "Via")
        .unwrap()
        .split("branch=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    h.feed(&format!(
        "SIP/2.0 481 Call/Transaction Does Not Exist\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
         From: <sip:passgate@192.0.2.1>;tag={tag}\r\nTo: <sip:x@y>;tag=caller-tag\r\n\
         Call-ID: call-1\r\nCSeq: 1 REFER\r\nContent-Length: 0\r\n\r\n"
    ));
    let events = h.events();
    assert!(
        matches!(
            events.as_slice(),
            [Event::CallEnded {
                reason: EndReason::DialogGone,
                ..
            }]
        ),
        "{events:?}"
    );
    assert_eq!(h.ep.active_calls(), 0, "the call is forgotten");
    // The application's hang-up that may follow sends nothing either.
    let _ = h.ep.hangup(h.now, call);
    h.advance(Duration::from_secs(40));
    assert!(h.sent_text().is_empty(), "no BYE into the dead dialog");
    // A request in the old dialog is now unknown.
    h.feed(&in_dialog("BYE", 5, "z9hG4bK-late", "call-1", &tag, ""));
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 481 Call/Transaction Does Not Exist"]
    );
}

#[test]
fn refer_without_an_answer_times_out_as_408() {
    let mut h = Harness::new();
    let (call, _) = h.confirmed_call();
    h.ep.refer(h.now, call, "sip:agents@pbx.example").unwrap();
    h.advance(Duration::from_secs(33));
    let events = h.events();
    assert!(
        matches!(
            events.as_slice(),
            [Event::Refer {
                status: ReferStatus::Rejected(408),
                ..
            }]
        ),
        "{events:?}"
    );
}

#[test]
fn cseq_going_backwards_in_a_dialog_is_500() {
    let mut h = Harness::new();
    let (_, tag) = h.confirmed_call();
    h.feed(&in_dialog("INFO", 5, "z9hG4bK-i5", "call-1", &tag, ""));
    h.feed(&in_dialog("INFO", 4, "z9hG4bK-i4", "call-1", &tag, ""));
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 200 OK", "SIP/2.0 500 Server Internal Error"]
    );
}

#[test]
fn info_with_dtmf_relay_is_reported_as_a_digit() {
    let mut h = Harness::new();
    let (call, tag) = h.confirmed_call();
    let body = "Signal=5\r\nDuration=160\r\n";
    let info = in_dialog("INFO", 2, "z9hG4bK-info", "call-1", &tag, body)
        .replace("application/sdp", "application/dtmf-relay");
    h.feed(&info);
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 200 OK"]);
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [Event::InfoDigit { call: c, digit }] if *c == call && digit.digit == '5'),
        "{events:?}"
    );
}

#[test]
fn info_from_outside_the_dialogs_peer_is_refused_and_changes_nothing() {
    let mut h = Harness::new();
    let (call, tag) = h.confirmed_call();
    let body = "Signal=5\r\nDuration=160\r\n";
    let info = |cseq, branch: &str| {
        in_dialog("INFO", cseq, branch, "call-1", &tag, body)
            .replace("application/sdp", "application/dtmf-relay")
    };
    // Right dialog ids, a high CSeq, from an address that is not the caller's.
    h.feed_from(
        TransportKind::Udp,
        "203.0.113.9:5060",
        &info(90, "z9hG4bK-x"),
    );
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 403 Forbidden"]);
    assert!(h.events().is_empty(), "no digit from a stranger");
    assert_eq!(h.ep.stats().requests_forbidden, 1);
    // The caller's own next INFO (lower CSeq) is in order: the forged one
    // moved nothing. From another port of the caller's address it counts too.
    h.feed_from(
        TransportKind::Udp,
        "198.51.100.20:5080",
        &info(2, "z9hG4bK-ok"),
    );
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 200 OK"]);
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [Event::InfoDigit { call: c, digit }] if *c == call && digit.digit == '5'),
        "{events:?}"
    );
}

/// Record-Route as two proxies write it: one header with two values, then one
/// with a header parameter after the URI.
const RECORD_ROUTE: &str = "Record-Route: <sip:p2.example.com;lr;ftag=caller-tag>, \
     <sip:198.51.100.9:5060;lr=on>\r\nRecord-Route: <sip:p1.example.com;lr>;x=1\r\n";

const RECORD_ROUTE_VALUES: [&str; 3] = [
    "<sip:p2.example.com;lr;ftag=caller-tag>",
    "<sip:198.51.100.9:5060;lr=on>",
    "<sip:p1.example.com;lr>;x=1",
];

fn with_record_route(msg: &str, record_route: &str) -> String {
    msg.replacen(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\n{record_route}"),
        1,
    )
}

/// A call whose INVITE carried `record_route`, answered and acknowledged.
fn routed_call(h: &mut Harness, record_route: &str) -> (CallHandle, String) {
    let inv = invite("z9hG4bK-inv1", "call-1", Some(&sdp("0 101", "")));
    h.feed(&with_record_route(&inv, record_route));
    h.sent();
    let call = h.incoming_call();
    h.ep.answer(h.now, call, 40000).unwrap();
    let tag = to_tag(&h.sent_text().pop().unwrap());
    h.feed(&in_dialog("ACK", 1, "z9hG4bK-ack1", "call-1", &tag, ""));
    h.events();
    (call, tag)
}

#[test]
fn the_180_and_every_200_to_the_invite_carry_its_record_route_in_order() {
    let mut h = Harness::new();
    let inv = with_record_route(
        &invite("z9hG4bK-inv1", "call-1", Some(&sdp("0 101", ""))),
        RECORD_ROUTE,
    );
    h.feed(&inv);
    h.sent();
    let call = h.incoming_call();
    h.ep.ring(h.now, call).unwrap();
    let ringing = h.sent_text().pop().unwrap();
    assert!(ringing.starts_with("SIP/2.0 180 Ringing"));
    assert_eq!(header_values(&ringing, "Record-Route"), RECORD_ROUTE_VALUES);
    h.ep.answer(h.now, call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    assert!(ok.starts_with("SIP/2.0 200 OK"));
    assert_eq!(header_values(&ok, "Record-Route"), RECORD_ROUTE_VALUES);
    // The 2xx retransmitted by the dialog and the one a retransmitted INVITE
    // gets are the same message.
    h.advance(Duration::from_millis(500));
    let again = h.sent_text();
    assert_eq!(status_lines(&again), vec!["SIP/2.0 200 OK"]);
    assert_eq!(
        header_values(&again[0], "Record-Route"),
        RECORD_ROUTE_VALUES
    );
    h.feed(&inv);
    let again = h.sent_text();
    assert_eq!(status_lines(&again), vec!["SIP/2.0 200 OK"]);
    assert_eq!(
        header_values(&again[0], "Record-Route"),
        RECORD_ROUTE_VALUES
    );
}

#[test]
fn a_reinvite_200_carries_its_own_record_route_and_other_responses_none() {
    let mut h = Harness::new();
    let (_, tag) = routed_call(&mut h, RECORD_ROUTE);
    let reinvite = in_dialog(
        "INVITE",
        2,
        "z9hG4bK-re2",
        "call-1",
        &tag,
        &sdp("0 101", "a=sendonly\r\n"),
    );
    h.feed(&with_record_route(
        &reinvite,
        "Record-Route: <sip:p1.example.com;lr>\r\n",
    ));
    let ok = h.sent_text().pop().unwrap();
    assert!(ok.starts_with("SIP/2.0 200 OK"));
    assert_eq!(
        header_values(&ok, "Record-Route"),
        vec!["<sip:p1.example.com;lr>"]
    );
    h.feed(&in_dialog("ACK", 2, "z9hG4bK-ack2", "call-1", &tag, ""));
    // A proxy may record-route any request; only INVITE responses echo it.
    let bye = in_dialog("BYE", 3, "z9hG4bK-bye", "call-1", &tag, "");
    h.feed(&with_record_route(&bye, RECORD_ROUTE));
    let ok = h.sent_text().pop().unwrap();
    assert!(ok.starts_with("SIP/2.0 200 OK"));
    assert!(header_values(&ok, "Record-Route").is_empty(), "{ok}");
}

#[test]
fn our_refer_and_bye_follow_a_loose_route_set_in_order() {
    let mut h = Harness::new();
    let (call, _) = routed_call(&mut h, RECORD_ROUTE);
    h.ep.refer(h.now, call, "sip:agents@pbx.example").unwrap();
    h.ep.hangup(h.now, call).unwrap();
    let sent = h.sent();
    assert_eq!(sent.len(), 2);
    for ((dest, req), method) in sent.iter().zip(["REFER", "BYE"]) {
        assert_eq!(
            dest.to_string(),
            CALLER,
            "to the proxy that sent the INVITE"
        );
        assert!(
            req.starts_with(&format!(
                "{method} sip:caller@198.51.100.20:5070 SIP/2.0\r\n"
            )),
            "{req}"
        );
        assert_eq!(header_values(req, "Route"), RECORD_ROUTE_VALUES);
    }
}

#[test]
fn a_strict_router_first_gets_its_uri_as_request_uri_and_the_target_goes_last() {
    let mut h = Harness::new();
    let (call, _) = routed_call(
        &mut h,
        "Record-Route: <sip:strict.example.com;transport=udp>\r\n\
         Record-Route: <sip:p1.example.com;lr>\r\n",
    );
    h.ep.hangup(h.now, call).unwrap();
    let bye = h.sent_text().pop().unwrap();
    assert!(
        bye.starts_with("BYE sip:strict.example.com;transport=udp SIP/2.0\r\n"),
        "{bye}"
    );
    assert_eq!(
        header_values(&bye, "Route"),
        vec!["<sip:p1.example.com;lr>", "<sip:caller@198.51.100.20:5070>"]
    );
}

#[test]
fn a_stalled_call_is_ended_with_a_bye_that_says_why_or_500_before_the_answer() {
    let mut h = Harness::new();
    let (call, _) = h.confirmed_call();
    h.ep.end_stalled(h.now, call).unwrap();
    let sent = h.sent_text();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].starts_with("BYE "), "{}", sent[0]);
    assert_eq!(
        header(&sent[0], "Reason"),
        Some("SIP;cause=500;text=\"call not responding\"")
    );
    assert!(matches!(
        h.events().as_slice(),
        [Event::CallEnded {
            reason: EndReason::LocalBye,
            ..
        }]
    ));
    h.ep.end_stalled(h.now, call).unwrap();
    assert!(h.sent().is_empty(), "a call already ending is left alone");

    let mut h = Harness::new();
    let offered = h.offered_call();
    h.ep.end_stalled(h.now, offered).unwrap();
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 500 Server Internal Error"]
    );
    assert_eq!(h.ep.active_calls(), 0);
}
