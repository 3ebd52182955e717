//! Reliable provisional responses (RFC 3262) for a caller that requires
//! them: our 180 with an RSeq, sent again until the PRACK that names it,
//! the INVITE refused when none comes, and the call going on as usual.

use super::*;

/// An INVITE with these header lines (each ending in CRLF), offered to the
/// application; returns the handle.
fn offered_with(h: &mut Harness, lines: &str) -> CallHandle {
    let msg = invite("z9hG4bK-rp1", "call-1", Some(&sdp("0 101", ""))).replacen(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\n{lines}"),
        1,
    );
    h.feed(&msg);
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 100 Trying"]);
    h.incoming_call()
}

/// A call whose INVITE requires 100rel, rung: the harness, the call and
/// our reliable 180.
fn ringing_reliably() -> (Harness, CallHandle, String) {
    let mut h = Harness::new();
    let call = offered_with(&mut h, "Require: 100rel\r\n");
    h.ep.ring(h.now, call).unwrap();
    let ringing = h.sent_text().pop().unwrap();
    (h, call, ringing)
}

fn prack(cseq: u32, tag: &str, rack: &str) -> String {
    in_dialog(
        "PRACK",
        cseq,
        &format!("z9hG4bK-pr{cseq}"),
        "call-1",
        tag,
        "",
    )
    .replacen(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\nRAck: {rack}\r\n"),
        1,
    )
}

fn ringings(sent: &[String]) -> usize {
    sent.iter()
        .filter(|m| m.starts_with("SIP/2.0 180 "))
        .count()
}

#[test]
fn the_180_is_sent_again_until_its_prack_and_the_call_goes_on() {
    let (mut h, call, ringing) = ringing_reliably();
    assert!(ringing.starts_with("SIP/2.0 180 "), "{ringing}");
    assert_eq!(header(&ringing, "Require"), Some("100rel"));
    let rseq: u32 = header(&ringing, "RSeq").unwrap().parse().unwrap();
    assert!((1..1 << 31).contains(&rseq));
    let tag = to_tag(&ringing);
    // T1, then 2·T1 after it.
    h.advance(Duration::from_millis(1500));
    let again = h.sent_text();
    assert_eq!(ringings(&again), 2, "{again:?}");
    assert_eq!(header(&again[0], "RSeq"), Some(rseq.to_string().as_str()));
    h.feed(&prack(2, &tag, &format!("{rseq} 1 INVITE")));
    let ok = h.sent_text();
    assert_eq!(status_lines(&ok), vec!["SIP/2.0 200 OK"]);
    assert_eq!(header(&ok[0], "CSeq"), Some("2 PRACK"));
    h.advance(Duration::from_secs(10));
    assert_eq!(ringings(&h.sent_text()), 0, "acknowledged: not sent again");
    // Answered, and the ACK (the INVITE's CSeq, not the PRACK's) confirms it.
    h.ep.answer(h.now, call, 40000).unwrap();
    let answer = h.sent_text().pop().unwrap();
    assert!(answer.starts_with("SIP/2.0 200 OK"), "{answer}");
    h.feed(&in_dialog("ACK", 1, "z9hG4bK-ack1", "call-1", &tag, ""));
    assert!(matches!(
        h.events().as_slice(),
        [Event::CallConfirmed { .. }]
    ));
    h.advance(Duration::from_secs(40));
    assert!(h.sent_text().is_empty(), "the 200 was acknowledged");
}

#[test]
fn a_prack_that_names_another_response_is_481_and_the_180_goes_on() {
    let (mut h, _, ringing) = ringing_reliably();
    let (tag, rseq) = (
        to_tag(&ringing),
        header(&ringing, "RSeq").unwrap().to_string(),
    );
    let wrong = rseq.parse::<u32>().unwrap() + 1;
    h.feed(&prack(2, &tag, &format!("{wrong} 1 INVITE")));
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 481 Call/Transaction Does Not Exist"]
    );
    h.advance(Duration::from_millis(500));
    assert_eq!(ringings(&h.sent_text()), 1);
}

#[test]
fn without_a_prack_in_64_t1_the_invite_is_refused() {
    let (mut h, _, _) = ringing_reliably();
    h.advance(Duration::from_millis(31_999));
    let sent = h.sent_text();
    assert_eq!(ringings(&sent), sent.len(), "{sent:?}");
    assert!(h.events().is_empty());
    h.advance(Duration::from_millis(1));
    let sent = h.sent_text();
    assert_eq!(
        status_lines(&sent),
        vec!["SIP/2.0 500 Server Internal Error"]
    );
    assert!(matches!(
        h.events().as_slice(),
        [Event::CallEnded {
            reason: EndReason::Rejected(500),
            ..
        }]
    ));
}

#[test]
fn the_answer_before_the_prack_stops_the_180() {
    let (mut h, call, _) = ringing_reliably();
    h.ep.answer(h.now, call, 40000).unwrap();
    h.sent();
    h.advance(Duration::from_secs(5));
    assert_eq!(ringings(&h.sent_text()), 0);
}

#[test]
fn a_caller_that_only_supports_it_gets_an_ordinary_180() {
    let mut h = Harness::new();
    let call = offered_with(&mut h, "Supported: 100rel\r\n");
    h.ep.ring(h.now, call).unwrap();
    let ringing = h.sent_text().pop().unwrap();
    assert!(ringing.starts_with("SIP/2.0 180 "), "{ringing}");
    assert!(header(&ringing, "RSeq").is_none(), "{ringing}");
    assert!(header(&ringing, "Require").is_none(), "{ringing}");
    h.advance(Duration::from_secs(5));
    assert_eq!(ringings(&h.sent_text()), 0);
}

#[test]
fn a_prack_that_crosses_our_200_or_repeats_is_still_answered_200() {
    let (mut h, call, ringing) = ringing_reliably();
    let (tag, rseq) = (
        to_tag(&ringing),
        header(&ringing, "RSeq").unwrap().to_string(),
    );
    h.ep.answer(h.now, call, 40000).unwrap();
    h.sent();
    for cseq in [2, 3] {
        h.feed(&prack(cseq, &tag, &format!("{rseq} 1 INVITE")));
        assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 200 OK"]);
    }
    h.feed(&in_dialog("ACK", 1, "z9hG4bK-ack1", "call-1", &tag, ""));
    assert!(matches!(
        h.events().as_slice(),
        [Event::CallConfirmed { .. }]
    ));
}

#[test]
fn without_an_offer_in_the_invite_no_reliable_180_is_sent() {
    let mut h = Harness::new();
    let msg = invite("z9hG4bK-rp2", "call-2", None).replacen(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRequire: 100rel\r\n",
        1,
    );
    h.feed(&msg);
    h.sent();
    let call = h.incoming_call();
    h.ep.ring(h.now, call).unwrap();
    assert!(h.sent_text().is_empty(), "our offer would have to be in it");
    h.ep.answer(h.now, call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    assert!(
        ok.starts_with("SIP/2.0 200 OK") && ok.contains("m=audio"),
        "{ok}"
    );
}

#[test]
fn a_bye_in_the_early_dialog_ends_the_invite_with_487() {
    let (mut h, _, ringing) = ringing_reliably();
    let tag = to_tag(&ringing);
    h.feed(&in_dialog("BYE", 2, "z9hG4bK-eb", "call-1", &tag, ""));
    let sent = h.sent_text();
    assert_eq!(
        status_lines(&sent),
        vec!["SIP/2.0 200 OK", "SIP/2.0 487 Request Terminated"]
    );
    assert_eq!(header(&sent[1], "CSeq"), Some("1 INVITE"));
    assert!(matches!(
        h.events().as_slice(),
        [Event::CallEnded {
            reason: EndReason::RemoteBye,
            ..
        }]
    ));
    h.advance(Duration::from_secs(5));
    assert_eq!(ringings(&h.sent_text()), 0, "the 180 stopped with the call");
    assert_eq!(h.ep.active_calls(), 0);
}
