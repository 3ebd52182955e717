//! Session timers (RFC 4028) as the user agent server: the interval the
//! caller asks for is agreed with the caller refreshing, a refresh moves the
//! end, and a session nobody refreshed is ended with a BYE.

use super::*;

const TIMER: &str = "Supported: timer\r\nSession-Expires: 90\r\n";

/// `msg` with these header lines (each ending in CRLF) added.
fn with_headers(msg: &str, lines: &str) -> String {
    msg.replacen(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\n{lines}"),
        1,
    )
}

/// A call whose INVITE carried `lines`, answered and acknowledged; returns
/// the handle, our To tag and our 200.
fn timed_call(h: &mut Harness, lines: &str) -> (CallHandle, String, String) {
    let msg = invite("z9hG4bK-st1", "call-1", Some(&sdp("0 101", "")));
    h.feed(&with_headers(&msg, lines));
    let call = h.incoming_call();
    h.sent();
    h.ep.answer(h.now, call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    let tag = to_tag(&ok);
    h.feed(&in_dialog("ACK", 1, "z9hG4bK-ack1", "call-1", &tag, ""));
    assert!(matches!(
        h.events().as_slice(),
        [Event::CallConfirmed { .. }]
    ));
    (call, tag, ok)
}

fn reinvite(cseq: u32, tag: &str, lines: &str) -> String {
    let msg = in_dialog(
        "INVITE",
        cseq,
        &format!("z9hG4bK-re{cseq}"),
        "call-1",
        tag,
        &sdp("0 101", ""),
    );
    with_headers(&msg, lines)
}

fn byes(sent: &[String]) -> Vec<&String> {
    sent.iter().filter(|m| m.starts_with("BYE ")).collect()
}

#[test]
fn the_200_agrees_to_the_callers_interval_with_the_caller_refreshing() {
    let mut h = Harness::new();
    let (_, _, ok) = timed_call(&mut h, "Supported: timer\r\nSession-Expires: 1800\r\n");
    assert_eq!(
        header(&ok, "Session-Expires"),
        Some("1800;refresher=uac"),
        "{ok}"
    );
    assert_eq!(header(&ok, "Require"), Some("timer"), "{ok}");
    assert_eq!(header(&ok, "Supported"), Some("timer, 100rel"), "{ok}");
}

#[test]
fn a_session_not_refreshed_is_ended_with_a_bye_before_its_interval_runs_out() {
    let mut h = Harness::new();
    let (call, _, _) = timed_call(&mut h, TIMER);
    // 90 s less the lesser of 32 s and a third of it: 60 s after the 200.
    h.advance(Duration::from_secs(59));
    assert!(byes(&h.sent_text()).is_empty());
    assert!(h.events().is_empty());
    h.advance(Duration::from_secs(1));
    let sent = h.sent_text();
    let bye = byes(&sent);
    assert_eq!(bye.len(), 1, "{sent:?}");
    assert_eq!(
        header(bye[0], "Reason"),
        Some("SIP;cause=408;text=\"session timer expired\"")
    );
    assert!(matches!(
        h.events().as_slice(),
        [Event::CallEnded { call: c, reason: EndReason::SessionExpired }] if *c == call
    ));
}

#[test]
fn a_refreshing_reinvite_moves_the_end_and_one_without_the_header_stops_the_timer() {
    let mut h = Harness::new();
    let (_, tag, _) = timed_call(&mut h, TIMER);
    h.advance(Duration::from_secs(40));
    h.feed(&reinvite(2, &tag, TIMER));
    let ok = h.sent_text().pop().unwrap();
    assert!(ok.starts_with("SIP/2.0 200 OK"), "{ok}");
    assert_eq!(header(&ok, "Session-Expires"), Some("90;refresher=uac"));
    h.feed(&in_dialog("ACK", 2, "z9hG4bK-ack2", "call-1", &tag, ""));
    // The first interval would have ended at 60 s; the refresh at 40 s
    // moves the end to 100 s.
    h.advance(Duration::from_secs(59));
    assert!(byes(&h.sent_text()).is_empty());
    // Refreshed again without Session-Expires: no timer any more.
    h.feed(&reinvite(3, &tag, "Supported: timer\r\n"));
    let ok = h.sent_text().pop().unwrap();
    assert!(ok.starts_with("SIP/2.0 200 OK"), "{ok}");
    assert!(header(&ok, "Session-Expires").is_none(), "{ok}");
    h.feed(&in_dialog("ACK", 3, "z9hG4bK-ack3", "call-1", &tag, ""));
    h.advance(Duration::from_secs(3600));
    let sent = h.sent_text();
    assert!(byes(&sent).is_empty(), "{sent:?}");
    let events = h.events();
    assert!(
        !events.iter().any(|e| matches!(e, Event::CallEnded { .. })),
        "{events:?}"
    );
}

#[test]
fn an_interval_under_ninety_seconds_is_answered_422_with_min_se_and_no_call() {
    let mut h = Harness::new();
    let msg = invite("z9hG4bK-st2", "short", Some(&sdp("0 101", "")));
    h.feed(&with_headers(
        &msg,
        "Supported: timer\r\nSession-Expires: 60\r\n",
    ));
    let sent = h.sent_text();
    let last = sent.last().unwrap();
    assert!(last.starts_with("SIP/2.0 422 "), "{sent:?}");
    assert_eq!(header(last, "Min-SE"), Some("90"));
    assert!(h.events().is_empty());
    assert_eq!(h.ep.active_calls(), 0);
}

#[test]
fn a_too_short_refresh_is_refused_and_the_running_timer_stays() {
    let mut h = Harness::new();
    let (_, tag, _) = timed_call(&mut h, TIMER);
    h.advance(Duration::from_secs(10));
    h.feed(&reinvite(
        2,
        &tag,
        "Supported: timer\r\nSession-Expires: 30\r\n",
    ));
    let sent = h.sent_text();
    assert!(sent.last().unwrap().starts_with("SIP/2.0 422 "), "{sent:?}");
    h.advance(Duration::from_secs(50));
    assert_eq!(
        byes(&h.sent_text()).len(),
        1,
        "the first interval still ends at 60 s"
    );
}

#[test]
fn a_caller_that_requires_timers_gets_its_call() {
    let mut h = Harness::new();
    let (_, _, ok) = timed_call(&mut h, "Require: timer\r\nSession-Expires: 1800\r\n");
    assert_eq!(header(&ok, "Session-Expires"), Some("1800;refresher=uac"));
}

fn update(cseq: u32, tag: &str, lines: &str, body: &str) -> String {
    let msg = in_dialog(
        "UPDATE",
        cseq,
        &format!("z9hG4bK-up{cseq}"),
        "call-1",
        tag,
        body,
    );
    with_headers(&msg, lines)
}

#[test]
fn an_update_refreshes_the_session_and_one_with_an_offer_is_answered_in_its_200() {
    let mut h = Harness::new();
    let (call, tag, _) = timed_call(&mut h, TIMER);
    h.advance(Duration::from_secs(45));
    h.feed(&update(2, &tag, TIMER, ""));
    let ok = h.sent_text().pop().unwrap();
    assert!(ok.starts_with("SIP/2.0 200 OK"), "{ok}");
    assert_eq!(header(&ok, "CSeq"), Some("2 UPDATE"));
    assert_eq!(header(&ok, "Session-Expires"), Some("90;refresher=uac"));
    assert!(header(&ok, "Contact").is_some(), "{ok}");
    assert!(!ok.contains("m=audio"), "no offer, no answer: {ok}");
    // The end moved from 60 s to 105 s.
    h.advance(Duration::from_secs(59));
    assert!(byes(&h.sent_text()).is_empty());
    // An UPDATE with an offer (PCMA now) is answered in its 200.
    h.feed(&update(3, &tag, TIMER, &sdp("8 101", "")));
    let ok = h.sent_text().pop().unwrap();
    assert!(
        ok.starts_with("SIP/2.0 200 OK") && ok.contains("m=audio 40000 RTP/AVP 8"),
        "{ok}"
    );
    assert!(h.events().iter().any(|e| matches!(
        e,
        Event::MediaUpdated { call: c, media } if *c == call && media.payload_type == 8
    )));
}

#[test]
fn an_update_before_the_answer_is_491() {
    let mut h = Harness::new();
    let msg = invite("z9hG4bK-st4", "call-1", Some(&sdp("0 101", "")));
    h.feed(&with_headers(&msg, TIMER));
    h.sent();
    let call = h.incoming_call();
    // The 180 gives the caller our tag: an early dialog.
    h.ep.ring(h.now, call).unwrap();
    let tag = to_tag(&h.sent_text().pop().unwrap());
    h.feed(&update(2, &tag, TIMER, ""));
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 491 Request Pending"]
    );
}

#[test]
fn a_call_that_is_over_leaves_no_session_deadline_behind() {
    let mut h = Harness::new();
    let (_, tag, _) = timed_call(&mut h, "Supported: timer\r\nSession-Expires: 1800\r\n");
    h.feed(&in_dialog("BYE", 2, "z9hG4bK-bye", "call-1", &tag, ""));
    h.sent();
    h.events();
    h.advance(Duration::from_secs(40));
    assert_eq!(h.ep.poll_timeout(), None, "nothing left to wake for");
}

#[test]
fn a_session_that_ends_before_the_ack_waits_for_it_before_the_bye() {
    let mut h = Harness::new();
    // A slow T1: the 2xx is retransmitted for 64·T1 = 128 s, past the
    // session's 60 s.
    h.ep.config.timers.t1 = Duration::from_secs(2);
    h.ep.config.timers.t2 = Duration::from_secs(8);
    let msg = invite("z9hG4bK-st5", "call-1", Some(&sdp("0 101", "")));
    h.feed(&with_headers(&msg, TIMER));
    let call = h.incoming_call();
    h.sent();
    h.ep.answer(h.now, call, 40000).unwrap();
    let tag = to_tag(&h.sent_text().pop().unwrap());
    h.advance(Duration::from_secs(61));
    assert!(byes(&h.sent_text()).is_empty(), "no BYE before the ACK");
    h.feed(&in_dialog("ACK", 1, "z9hG4bK-ack1", "call-1", &tag, ""));
    h.advance(Duration::from_secs(2));
    assert_eq!(byes(&h.sent_text()).len(), 1);
}

/// An INVITE line saying the caller takes UPDATE.
const ALLOW_UPDATE: &str = "Allow: INVITE, ACK, CANCEL, BYE, UPDATE\r\n";

/// The call was ended by our BYE saying the session timer expired.
fn assert_ended_as_expired(h: &mut Harness, call: CallHandle) {
    let sent = h.sent_text();
    let bye = byes(&sent);
    assert!(!bye.is_empty(), "{sent:?}");
    assert_eq!(
        header(bye[0], "Reason"),
        Some("SIP;cause=408;text=\"session timer expired\"")
    );
    assert!(h.events().iter().any(|e| matches!(
        e,
        Event::CallEnded { call: c, reason: EndReason::SessionExpired } if *c == call
    )));
}

/// Our UPDATEs among what was sent.
fn updates(sent: &[String]) -> Vec<&String> {
    sent.iter().filter(|m| m.starts_with("UPDATE ")).collect()
}

/// Advances `secs`: a second before, no request `method` and no BYE yet;
/// at `secs`, exactly one `method` (our refresh), which is returned.
fn one_refresh_after(h: &mut Harness, secs: u64, method: &str) -> String {
    let ours = |sent: &[String]| -> Vec<String> {
        let start = format!("{method} ");
        sent.iter()
            .filter(|m| m.starts_with(&start))
            .cloned()
            .collect()
    };
    h.advance(Duration::from_secs(secs - 1));
    let sent = h.sent_text();
    assert!(ours(&sent).is_empty() && byes(&sent).is_empty(), "{sent:?}");
    h.advance(Duration::from_secs(1));
    let sent = h.sent_text();
    let refresh = ours(&sent);
    assert_eq!(refresh.len(), 1, "{sent:?}");
    refresh[0].clone()
}

/// The response of the caller to our request `msg` with `code`.
fn answer_to(msg: &str, code: u16, reason: &str) -> String {
    answer_with(msg, code, reason, "", "")
}

/// The response of the caller to our request `msg` with `code`, these
/// header lines (each ending in CRLF) and an SDP body if not empty.
fn answer_with(msg: &str, code: u16, reason: &str, lines: &str, body: &str) -> String {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        out.push_str(&format!("{name}: {}\r\n", header(msg, name).unwrap()));
    }
    out.push_str(lines);
    if !body.is_empty() {
        out.push_str("Content-Type: application/sdp\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out
}

/// The caller's 2xx to our refresh, keeping us as refresher.
const KEEP_US: &str = "Session-Expires: 90;refresher=uac\r\n";

#[test]
fn named_as_refresher_we_refresh_by_update_at_half_the_interval() {
    let mut h = Harness::new();
    let (_, _, ok) = timed_call(
        &mut h,
        &format!("Supported: timer\r\nSession-Expires: 90;refresher=uas\r\n{ALLOW_UPDATE}"),
    );
    assert_eq!(
        header(&ok, "Session-Expires"),
        Some("90;refresher=uas"),
        "{ok}"
    );
    assert!(header(&ok, "Require").is_none(), "{ok}");
    let update = one_refresh_after(&mut h, 45, "UPDATE");
    // In our UPDATE we are its UAC: refresher=uac keeps the role ours.
    assert_eq!(header(&update, "Session-Expires"), Some("90;refresher=uac"));
    assert!(update.contains("Content-Length: 0"), "no body: {update}");
    let reply = answer_with(&update, 200, "OK", KEEP_US, "");
    h.feed(&reply);
    // The next refresh 45 s after that answer, and never a BYE meanwhile.
    one_refresh_after(&mut h, 45, "UPDATE");
}

#[test]
fn an_interval_only_a_proxy_asked_for_is_refreshed_by_us_when_the_caller_takes_update() {
    let mut h = Harness::new();
    let (call, _, ok) = timed_call(&mut h, &format!("Session-Expires: 1800\r\n{ALLOW_UPDATE}"));
    assert_eq!(
        header(&ok, "Session-Expires"),
        Some("1800;refresher=uas"),
        "{ok}"
    );
    h.advance(Duration::from_secs(900));
    let sent = h.sent_text();
    let update = updates(&sent);
    assert_eq!(update.len(), 1, "{sent:?}");
    // Unanswered: the UPDATE's transaction times out (64·T1) and the call
    // ends with a BYE that says why.
    h.advance(Duration::from_secs(33));
    assert_ended_as_expired(&mut h, call);
}

#[test]
fn a_refused_refresh_leaves_the_call_without_a_timer() {
    let mut h = Harness::new();
    let (_, _, _) = timed_call(
        &mut h,
        &format!("Supported: timer\r\nSession-Expires: 90;refresher=uas\r\n{ALLOW_UPDATE}"),
    );
    h.advance(Duration::from_secs(45));
    let sent = h.sent_text();
    let update = updates(&sent);
    h.feed(&answer_to(update[0], 405, "Method Not Allowed"));
    h.advance(Duration::from_secs(600));
    let sent = h.sent_text();
    assert!(
        updates(&sent).is_empty() && byes(&sent).is_empty(),
        "{sent:?}"
    );
}

#[test]
fn a_2xx_to_our_update_without_session_expires_ends_the_timer_and_one_naming_the_caller_hands_it_over(
) {
    let lines = format!("Supported: timer\r\nSession-Expires: 90;refresher=uas\r\n{ALLOW_UPDATE}");
    // No Session-Expires in the 2xx: no expiry any more (RFC 4028 §7.2).
    let mut h = Harness::new();
    timed_call(&mut h, &lines);
    h.advance(Duration::from_secs(45));
    let sent = h.sent_text();
    h.feed(&answer_to(updates(&sent)[0], 200, "OK"));
    h.advance(Duration::from_secs(3600));
    let sent = h.sent_text();
    assert!(
        updates(&sent).is_empty() && byes(&sent).is_empty(),
        "{sent:?}"
    );
    // refresher=uas in the 2xx to our UPDATE names its UAS, the caller: it
    // refreshes from now on, and a session it does not refresh ends.
    let mut h = Harness::new();
    timed_call(&mut h, &lines);
    h.advance(Duration::from_secs(45));
    let sent = h.sent_text();
    let se = "Session-Expires: 90;refresher=uas\r\n";
    h.feed(&answer_with(updates(&sent)[0], 200, "OK", se, ""));
    h.advance(Duration::from_secs(59));
    let sent = h.sent_text();
    assert!(
        updates(&sent).is_empty() && byes(&sent).is_empty(),
        "{sent:?}"
    );
    h.advance(Duration::from_secs(1));
    assert_eq!(byes(&h.sent_text()).len(), 1);
}

/// Our re-INVITEs among what was sent.
fn reinvites(sent: &[String]) -> Vec<&String> {
    sent.iter().filter(|m| m.starts_with("INVITE ")).collect()
}

/// The branch of a message's Via.
fn branch(msg: &str) -> Option<&str> {
    header(msg, "Via")?
        .split("branch=")
        .nth(1)?
        .split(';')
        .next()
}

/// The SDP body of a message.
fn body_of(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn a_caller_without_update_is_refreshed_by_a_reinvite_offering_the_session_as_it_is() {
    let mut h = Harness::new();
    // The caller named us, requiring timers; its Allow lacks UPDATE.
    let (_, tag, ok) = timed_call(
        &mut h,
        "Require: timer\r\nSession-Expires: 90;refresher=uas\r\n",
    );
    assert_eq!(
        header(&ok, "Session-Expires"),
        Some("90;refresher=uas"),
        "{ok}"
    );
    let invite = one_refresh_after(&mut h, 45, "INVITE");
    // In the dialog: the caller's tag, our tag, our next CSeq.
    assert!(
        header(&invite, "To").is_some_and(|t| t.contains("tag=caller-tag")),
        "{invite}"
    );
    assert!(
        header(&invite, "From").is_some_and(|f| f.contains(&format!("tag={tag}"))),
        "{invite}"
    );
    assert_eq!(header(&invite, "CSeq"), Some("1 INVITE"));
    assert_eq!(header(&invite, "Session-Expires"), Some("90;refresher=uac"));
    assert_eq!(header(&invite, "Supported"), Some("timer"));
    assert_eq!(header(&invite, "Content-Type"), Some("application/sdp"));
    // The session as it is: our last SDP, its version unchanged.
    assert_eq!(body_of(&invite), body_of(&ok), "{invite}");
    // The caller answers with the same session: ACKed on a branch of its
    // own, no change to the media.
    let answer = answer_with(&invite, 200, "OK", KEEP_US, &sdp("0 101", ""));
    h.feed(&answer);
    let sent = h.sent_text();
    let acks: Vec<_> = sent.iter().filter(|m| m.starts_with("ACK ")).collect();
    assert_eq!(acks.len(), 1, "{sent:?}");
    assert_eq!(header(acks[0], "CSeq"), Some("1 ACK"));
    assert_ne!(branch(acks[0]), branch(&invite));
    let events = h.events();
    assert!(events.is_empty(), "{events:?}");
    // Its 200 again (our ACK was lost): the same ACK again.
    h.feed(&answer);
    assert_eq!(h.sent_text(), vec![acks[0].clone()]);
    // The next refresh 45 s after the answer; never a BYE.
    let again = one_refresh_after(&mut h, 45, "INVITE");
    assert_eq!(header(&again, "CSeq"), Some("2 INVITE"));
    assert_eq!(body_of(&again), body_of(&ok));
}

#[test]
fn a_caller_without_timers_answering_our_reinvite_without_an_interval_ends_the_timer() {
    let mut h = Harness::new();
    // Only a proxy asked: the caller's 200 to our refresh states no
    // interval, so the session has none from then on (RFC 4028 §7.2).
    let (_, _, ok) = timed_call(&mut h, "Session-Expires: 90\r\n");
    assert_eq!(
        header(&ok, "Session-Expires"),
        Some("90;refresher=uas"),
        "{ok}"
    );
    let invite = one_refresh_after(&mut h, 45, "INVITE");
    h.feed(&answer_with(&invite, 200, "OK", "", &sdp("0 101", "")));
    h.advance(Duration::from_secs(3600));
    let sent = h.sent_text();
    assert!(
        reinvites(&sent).is_empty() && byes(&sent).is_empty(),
        "{sent:?}"
    );
}

#[test]
fn the_ack_of_our_reinvite_goes_to_the_target_its_2xx_names() {
    let mut h = Harness::new();
    timed_call(&mut h, "Session-Expires: 90\r\n");
    let invite = one_refresh_after(&mut h, 45, "INVITE");
    let moved = "Contact: <sip:caller@198.51.100.99:5080>\r\n";
    h.feed(&answer_with(&invite, 200, "OK", moved, &sdp("0 101", "")));
    let sent = h.sent_text();
    let ack = sent.iter().find(|m| m.starts_with("ACK ")).expect("an ACK");
    assert!(
        ack.starts_with("ACK sip:caller@198.51.100.99:5080 SIP/2.0"),
        "{ack}"
    );
}

#[test]
fn a_bye_while_our_reinvite_is_pending_still_gets_its_487_acked_then_the_call_goes() {
    let mut h = Harness::new();
    let (call, tag, _) = timed_call(&mut h, "Session-Expires: 90\r\n");
    let invite = one_refresh_after(&mut h, 45, "INVITE");
    h.feed(&in_dialog("BYE", 2, "z9hG4bK-bye2", "call-1", &tag, ""));
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 200 OK"]);
    assert!(matches!(
        h.events().as_slice(),
        [Event::CallEnded { call: c, reason: EndReason::RemoteBye }] if *c == call
    ));
    // The caller ends our re-INVITE with 487 (RFC 3261 §15.1.2): ACKed in
    // its transaction, and then nothing of the call is left.
    h.feed(&answer_to(&invite, 487, "Request Terminated"));
    let sent = h.sent_text();
    let ack = sent.iter().find(|m| m.starts_with("ACK ")).expect("an ACK");
    assert_eq!(branch(ack), branch(&invite));
    assert!(h.events().is_empty(), "no second end");
    assert_eq!(h.ep.active_calls(), 0);
    h.advance(Duration::from_secs(3600));
    assert!(h.sent_text().is_empty());
    assert_eq!(h.ep.poll_timeout(), None, "nothing left to wake for");
}

#[test]
fn a_refresh_refused_503_is_tried_again_until_the_session_would_end() {
    let mut h = Harness::new();
    let (call, _, _) = timed_call(&mut h, "Session-Expires: 90\r\n");
    h.advance(Duration::from_secs(45));
    let mut tries = 0;
    // Refused each time: 2 s apart, until the session's end at 60 s.
    for _ in 0..20 {
        let sent = h.sent_text();
        let Some(invite) = reinvites(&sent).first().map(|m| m.to_string()) else {
            break;
        };
        tries += 1;
        h.feed(&answer_to(&invite, 503, "Service Unavailable"));
        if !byes(&h.sent_text()).is_empty() {
            break;
        }
        h.advance(Duration::from_secs(2));
    }
    assert!((7..=8).contains(&tries), "{tries} tries");
    assert!(h.events().iter().any(|e| matches!(
        e,
        Event::CallEnded { call: c, reason: EndReason::SessionExpired } if *c == call
    )));
}

#[test]
fn an_answer_to_our_reinvite_that_moves_the_media_updates_the_call() {
    let mut h = Harness::new();
    let (call, _, _) = timed_call(&mut h, "Session-Expires: 90\r\n");
    let invite = one_refresh_after(&mut h, 45, "INVITE");
    let moved = sdp("0 101", "").replace("m=audio 6000", "m=audio 7000");
    h.feed(&answer_with(&invite, 200, "OK", KEEP_US, &moved));
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [Event::MediaUpdated { call: c, media }] if *c == call && media.remote_rtp.port() == 7000),
        "{events:?}"
    );
}

#[test]
fn a_reinvite_of_the_caller_crossing_ours_is_491_and_a_491_to_ours_is_acked_and_tried_again() {
    let mut h = Harness::new();
    let (_, tag, _) = timed_call(&mut h, "Session-Expires: 90\r\n");
    let invite = one_refresh_after(&mut h, 45, "INVITE");
    // The caller's own offer crosses ours (RFC 3261 §14.2).
    h.feed(&reinvite(2, &tag, ""));
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 491 Request Pending"]
    );
    // Ours is refused 491 too: ACKed in its transaction (same branch), and
    // sent again a little later with the next CSeq.
    h.feed(&answer_to(&invite, 491, "Request Pending"));
    let sent = h.sent_text();
    let ack = sent.iter().find(|m| m.starts_with("ACK ")).expect("an ACK");
    assert_eq!(branch(ack), branch(&invite));
    assert_eq!(header(ack, "CSeq"), Some("1 ACK"));
    h.advance(Duration::from_secs(2));
    let sent = h.sent_text();
    let again = reinvites(&sent);
    assert_eq!(again.len(), 1, "{sent:?}");
    assert_eq!(header(again[0], "CSeq"), Some("2 INVITE"));
}

#[test]
fn an_unanswered_reinvite_refresh_ends_the_call_as_expired() {
    let mut h = Harness::new();
    let (call, _, _) = timed_call(&mut h, "Session-Expires: 90\r\n");
    h.advance(Duration::from_secs(45));
    assert_eq!(reinvites(&h.sent_text()).len(), 1);
    // Timer B: 64·T1 later, the BYE that says why.
    h.advance(Duration::from_secs(33));
    assert_ended_as_expired(&mut h, call);
}

#[test]
fn a_delayed_offer_call_is_refreshed_with_the_session_its_ack_settled_one_version_on() {
    let mut h = Harness::new();
    let msg = invite("z9hG4bK-late", "call-1", None);
    h.feed(&with_headers(&msg, "Session-Expires: 90\r\n"));
    let call = h.incoming_call();
    h.sent();
    h.ep.answer(h.now, call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    let tag = to_tag(&ok);
    let version = |m: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix("o="))
            .and_then(|o| o.split(' ').nth(2))
            .map(str::to_string)
    };
    assert_eq!(version(&ok).as_deref(), Some("1"));
    assert!(
        ok.contains("m=audio 40000 RTP/AVP 0 8 111 101"),
        "our offer: {ok}"
    );
    // The caller's answer in the ACK settles on PCMU.
    h.feed(&in_dialog(
        "ACK",
        1,
        "z9hG4bK-lack",
        "call-1",
        &tag,
        &sdp("0 101", ""),
    ));
    h.events();
    let invite = one_refresh_after(&mut h, 45, "INVITE");
    // The session in effect, not our first offer again: one codec, and a
    // new version since it differs from the SDP we last sent.
    assert!(
        invite.contains("m=audio 40000 RTP/AVP 0 101\r\n"),
        "{invite}"
    );
    assert_eq!(version(&invite).as_deref(), Some("2"), "{invite}");
}

#[test]
fn a_422_to_our_update_refresh_is_sent_again_at_once_with_the_interval_it_asks_for() {
    let mut h = Harness::new();
    let (call, _, _) = timed_call(
        &mut h,
        &format!("Supported: timer\r\nSession-Expires: 90;refresher=uas\r\n{ALLOW_UPDATE}"),
    );
    h.advance(Duration::from_secs(45));
    let sent = h.sent_text();
    let first = updates(&sent)[0].clone();
    h.feed(&answer_with(
        &first,
        422,
        "Session Interval Too Small",
        "Min-SE: 600\r\n",
        "",
    ));
    let sent = h.sent_text();
    let again = updates(&sent);
    assert_eq!(again.len(), 1, "sent again at once: {sent:?}");
    assert_eq!(
        header(again[0], "Session-Expires"),
        Some("600;refresher=uac")
    );
    assert_eq!(header(again[0], "Min-SE"), Some("600"));
    assert_ne!(header(again[0], "CSeq"), header(&first, "CSeq"));
    h.feed(&answer_with(
        again[0],
        200,
        "OK",
        "Session-Expires: 600;refresher=uac\r\n",
        "",
    ));
    // The next refresh at half the new interval, and the call goes on.
    let next = one_refresh_after(&mut h, 300, "UPDATE");
    assert_eq!(header(&next, "Min-SE"), Some("600"), "{next}");
    assert!(!h
        .events()
        .iter()
        .any(|e| matches!(e, Event::CallEnded { call: c, .. } if *c == call)));
}

#[test]
fn a_422_to_our_reinvite_refresh_is_acked_and_sent_again_and_one_asking_nothing_longer_ends_the_timer(
) {
    let mut h = Harness::new();
    let (_, _, _) = timed_call(&mut h, "Session-Expires: 90\r\n");
    h.advance(Duration::from_secs(45));
    let sent = h.sent_text();
    let first = reinvites(&sent)[0].clone();
    h.feed(&answer_with(
        &first,
        422,
        "Session Interval Too Small",
        "Min-SE: 120\r\n",
        "",
    ));
    let sent = h.sent_text();
    let ack = sent
        .iter()
        .find(|m| m.starts_with("ACK "))
        .expect("the 422 ACKed");
    assert_eq!(branch(ack), branch(&first));
    let again = reinvites(&sent);
    assert_eq!(again.len(), 1, "{sent:?}");
    assert_eq!(
        header(again[0], "Session-Expires"),
        Some("120;refresher=uac")
    );
    assert_eq!(header(again[0], "Min-SE"), Some("120"));
    // A 422 asking for no longer interval than ours would only be refused
    // again: the session goes on without a timer.
    let again = again[0].clone();
    h.feed(&answer_with(
        &again,
        422,
        "Session Interval Too Small",
        "Min-SE: 90\r\n",
        "",
    ));
    let sent = h.sent_text();
    assert!(reinvites(&sent).is_empty(), "{sent:?}");
    h.advance(Duration::from_secs(600));
    let sent = h.sent_text();
    assert!(
        reinvites(&sent).is_empty() && byes(&sent).is_empty(),
        "{sent:?}"
    );
}
