//! A new INVITE: 100 Trying, the answer and its retransmission until the
//! ACK, CANCEL, and INVITEs refused before a call exists (RFC 3261 §13, §17.2.1).

use std::time::Duration;

use super::*;

fn deferred_trying() -> Harness {
    let mut h = Harness::new();
    h.ep.config.trying_after = Duration::from_millis(100);
    h
}

#[test]
fn an_invite_answered_in_time_gets_no_100_trying() {
    let mut h = deferred_trying();
    h.feed(&invite("z9hG4bK-1", "c1", Some(&sdp("0 101", ""))));
    assert!(h.sent_text().is_empty(), "nothing before the answer");
    let events = h.events();
    let [Event::IncomingCall(call)] = events.as_slice() else {
        panic!("{events:?}")
    };
    h.advance(Duration::from_millis(20));
    h.ep.answer(h.now, call.call, 40000).unwrap();
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 200 OK"]);
    h.advance(Duration::from_millis(200));
    assert!(
        status_lines(&h.sent_text())
            .iter()
            .all(|l| !l.contains("100")),
        "no 100 Trying after the answer"
    );
}

#[test]
fn an_invite_not_answered_in_time_gets_100_trying_once() {
    let mut h = deferred_trying();
    h.feed(&invite("z9hG4bK-1", "c1", Some(&sdp("0 101", ""))));
    h.advance(Duration::from_millis(99));
    assert!(h.sent_text().is_empty());
    h.advance(Duration::from_millis(1));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, CALLER.parse().unwrap());
    assert!(
        sent[0].1.starts_with("SIP/2.0 100 Trying\r\n"),
        "{}",
        sent[0].1
    );
    h.advance(Duration::from_millis(300));
    assert!(h.sent_text().is_empty(), "one 100 only");
    // A retransmission of the INVITE now gets the 100 again, as before.
    h.feed(&invite("z9hG4bK-1", "c1", Some(&sdp("0 101", ""))));
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 100 Trying"]);
}

#[test]
fn a_retransmitted_invite_gets_100_trying_at_once() {
    let mut h = deferred_trying();
    h.feed(&invite("z9hG4bK-1", "c1", Some(&sdp("0 101", ""))));
    assert!(h.sent_text().is_empty());
    h.advance(Duration::from_millis(50));
    h.feed(&invite("z9hG4bK-1", "c1", Some(&sdp("0 101", ""))));
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 100 Trying"]);
    assert_eq!(h.events().len(), 1, "still one call offered");
    h.advance(Duration::from_millis(200));
    assert!(h.sent_text().is_empty(), "the timer sends no second 100");
}

#[test]
fn invite_is_answered_100_trying_at_once_and_offered_to_the_application() {
    let mut h = Harness::new();
    h.feed(&invite("z9hG4bK-1", "c1", Some(&sdp("8 0 101", ""))));
    let sent = h.sent_text();
    assert_eq!(status_lines(&sent), vec!["SIP/2.0 100 Trying"]);
    assert!(
        header(&sent[0], "To")
            .unwrap()
            .ends_with("<sip:passgate@192.0.2.1>"),
        "100 carries no tag"
    );
    let events = h.events();
    let [Event::IncomingCall(call)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(call.call_id, "c1");
    assert_eq!(call.from_uri, "sip:+15551234567@198.51.100.20");
    let media = call.media.as_ref().unwrap();
    assert_eq!((media.payload_type, media.telephone_event), (0, Some(101)));
}

#[test]
fn ringing_carries_the_dialog_tag_that_the_200_keeps() {
    let mut h = Harness::new();
    let call = h.offered_call();
    h.ep.ring(h.now, call).unwrap();
    let ringing = h.sent_text().pop().unwrap();
    assert!(ringing.starts_with("SIP/2.0 180 Ringing"));
    h.ep.answer(h.now, call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    assert_eq!(to_tag(&ringing), to_tag(&ok));
    assert_eq!(
        h.ep.ring(h.now, call),
        Err(CommandError::WrongState("ring"))
    );
}

#[test]
fn the_200_carries_an_sdp_answer_and_is_retransmitted_until_the_ack() {
    let mut h = Harness::new();
    let call = h.offered_call();
    h.ep.answer(h.now, call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    assert!(ok.starts_with("SIP/2.0 200 OK"));
    assert_eq!(header(&ok, "Content-Type"), Some("application/sdp"));
    assert!(ok.contains("m=audio 40000 RTP/AVP 0 101\r\n"), "{ok}");
    assert!(ok.contains("c=IN IP4 192.0.2.1"));
    assert_eq!(
        header(&ok, "Contact"),
        Some("<sip:passgate@192.0.2.1:5060>")
    );
    // T1, then 2·T1, 4·T1 …
    h.advance(Duration::from_millis(500));
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 200 OK"]);
    h.advance(Duration::from_millis(999));
    assert!(h.sent().is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 200 OK"]);
    let tag = to_tag(&ok);
    h.feed(&in_dialog("ACK", 1, "z9hG4bK-ack", "call-1", &tag, ""));
    assert!(matches!(h.events().as_slice(), [Event::CallConfirmed { call: c }] if *c == call));
    h.advance(Duration::from_secs(40));
    assert!(h.sent().is_empty(), "no retransmission after the ACK");
    assert_eq!(h.ep.active_calls(), 1);
}

#[test]
fn no_ack_within_32_seconds_ends_the_call_with_bye() {
    let mut h = Harness::new();
    let call = h.offered_call();
    h.ep.answer(h.now, call, 40000).unwrap();
    h.sent();
    h.advance(Duration::from_millis(31_900));
    let retransmits = h.sent_text();
    assert!(retransmits.iter().all(|m| m.starts_with("SIP/2.0 200 OK")));
    // 0.5+1+2+4+4+4+4+4+4+4 = 31.5 s: ten retransmissions capped at T2.
    assert_eq!(retransmits.len(), 10);
    assert!(h.events().is_empty());
    h.advance(Duration::from_millis(100));
    let sent = h.sent_text();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].starts_with("BYE sip:caller@198.51.100.20:5070 SIP/2.0"),
        "{}",
        sent[0]
    );
    assert!(matches!(
        h.events().as_slice(),
        [Event::CallEnded {
            reason: EndReason::AckTimeout,
            ..
        }]
    ));
}

#[test]
fn cancel_before_answer_gives_200_to_cancel_and_487_to_invite() {
    let mut h = Harness::new();
    let call = h.offered_call();
    h.feed(&request(
        "CANCEL",
        1,
        "z9hG4bK-inv1",
        "call-1",
        None,
        "",
        None,
    ));
    let sent = h.sent_text();
    assert_eq!(
        status_lines(&sent),
        vec!["SIP/2.0 200 OK", "SIP/2.0 487 Request Terminated"]
    );
    assert_eq!(header(&sent[0], "CSeq"), Some("1 CANCEL"));
    assert_eq!(header(&sent[1], "CSeq"), Some("1 INVITE"));
    assert!(matches!(
        h.events().as_slice(),
        [Event::CallEnded { reason: EndReason::Cancelled, call: c }] if *c == call
    ));
    assert_eq!(h.ep.answer(h.now, call, 1), Err(CommandError::NoSuchCall));
    // The 487 is retransmitted (Timer G) until its ACK, which uses the INVITE's branch.
    h.advance(Duration::from_millis(500));
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 487 Request Terminated"]
    );
    let tag = to_tag(&sent[1]);
    h.feed(&in_dialog("ACK", 1, "z9hG4bK-inv1", "call-1", &tag, ""));
    h.advance(Duration::from_secs(10));
    assert!(h.sent().is_empty());
    assert_eq!(
        h.ep.transactions(),
        1,
        "only the CANCEL transaction lingers (Timer J)"
    );
    h.advance(Duration::from_secs(30));
    assert_eq!(h.ep.transactions(), 0);
}

#[test]
fn cancel_for_an_unknown_transaction_is_481_and_after_answer_changes_nothing() {
    let mut h = Harness::new();
    h.feed(&request(
        "CANCEL",
        1,
        "z9hG4bK-none",
        "nope",
        None,
        "",
        None,
    ));
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 481 Call/Transaction Does Not Exist"]
    );
    let (call, _) = h.confirmed_call();
    h.feed(&request(
        "CANCEL",
        1,
        "z9hG4bK-inv1",
        "call-1",
        None,
        "",
        None,
    ));
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 200 OK"]);
    assert!(h.events().is_empty());
    assert!(h.ep.call_id(call).is_some());
}

#[test]
fn a_200_to_invite_says_we_support_session_timers_and_requires_nothing_unasked() {
    let mut h = Harness::new();
    let call = h.offered_call();
    h.ep.answer(h.now, call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    assert!(ok.starts_with("SIP/2.0 200 OK"), "{ok}");
    assert_eq!(header(&ok, "Supported"), Some("timer, 100rel"), "{ok}");
    assert!(header(&ok, "Require").is_none(), "{ok}");
    assert!(header(&ok, "Session-Expires").is_none(), "{ok}");
}

#[test]
fn an_invite_without_contact_gets_400_with_a_warning_and_no_call() {
    let mut h = Harness::new();
    let msg = invite("z9hG4bK-nc", "no-contact", Some(&sdp("0 101", "")))
        .replace("Contact: <sip:caller@198.51.100.20:5070>\r\n", "");
    assert!(!msg.contains("Contact"));
    h.feed(&msg);
    let sent = h.sent_text();
    assert_eq!(
        status_lines(&sent),
        vec!["SIP/2.0 100 Trying", "SIP/2.0 400 Bad Request"]
    );
    let warning = header(&sent[1], "Warning").unwrap();
    assert!(warning.contains("Contact"), "{warning}");
    assert!(h.events().is_empty());
    assert_eq!(h.ep.active_calls(), 0);
}

#[test]
fn retransmitted_invite_is_absorbed_by_its_transaction() {
    let mut h = Harness::new();
    let call = h.offered_call();
    h.feed(&invite("z9hG4bK-inv1", "call-1", Some(&sdp("0 101", ""))));
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 100 Trying"]);
    assert!(h.events().is_empty(), "no second call");
    h.ep.answer(h.now, call, 40000).unwrap();
    h.sent();
    h.feed(&invite("z9hG4bK-inv1", "call-1", Some(&sdp("0 101", ""))));
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 200 OK"]);
    assert_eq!(h.ep.stats().retransmissions_absorbed, 2);
}
