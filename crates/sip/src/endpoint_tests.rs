//! The UAS behaviours of RFC 3261/3264/3581/3515, driven by a test clock.

use super::*;

const CALLER: &str = "198.51.100.20:5070";

struct Harness {
    ep: Endpoint,
    now: Instant,
}

impl Harness {
    fn new() -> Self {
        let mut config = EndpointConfig::new("192.0.2.1:5060".parse().unwrap());
        // Most tests read the 100 Trying as the first thing sent; the
        // deferred 100 (the default) has tests of its own.
        config.trying_after = Duration::ZERO;
        Harness {
            ep: Endpoint::new(config, 7),
            now: Instant::now(),
        }
    }

    fn feed(&mut self, msg: &str) {
        self.feed_from(TransportKind::Udp, CALLER, msg);
    }

    fn feed_from(&mut self, transport: TransportKind, source: &str, msg: &str) {
        self.ep
            .handle_input(self.now, transport, source.parse().unwrap(), msg.as_bytes());
    }

    fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        while let Some(t) = self.ep.poll_timeout().filter(|t| *t <= target) {
            self.now = t.max(self.now);
            self.ep.handle_timeout(self.now);
        }
        self.now = target;
    }

    fn sent(&mut self) -> Vec<(SocketAddr, String)> {
        std::iter::from_fn(|| self.ep.poll_transmit())
            .map(|t| (t.destination, String::from_utf8(t.payload).unwrap()))
            .collect()
    }

    fn sent_text(&mut self) -> Vec<String> {
        self.sent().into_iter().map(|(_, s)| s).collect()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.ep.poll_event()).collect()
    }

    /// INVITE → 100 → IncomingCall; returns the handle.
    fn offered_call(&mut self) -> CallHandle {
        self.feed(&invite("z9hG4bK-inv1", "call-1", Some(&sdp("0 101", ""))));
        let sent = self.sent_text();
        assert_eq!(status_lines(&sent), vec!["SIP/2.0 100 Trying"]);
        match self.events().as_slice() {
            [Event::IncomingCall(c)] => c.call,
            other => panic!("expected one IncomingCall, got {other:?}"),
        }
    }

    /// Offered, answered and acknowledged; returns the handle and our To tag.
    fn confirmed_call(&mut self) -> (CallHandle, String) {
        let call = self.offered_call();
        self.ep.answer(self.now, call, 40000).unwrap();
        let ok = self.sent_text().pop().unwrap();
        let tag = to_tag(&ok);
        self.feed(&in_dialog("ACK", 1, "z9hG4bK-ack1", "call-1", &tag, ""));
        assert!(matches!(
            self.events().as_slice(),
            [Event::CallConfirmed { .. }]
        ));
        (call, tag)
    }
}

fn sdp(formats: &str, extra: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n\
         m=audio 6000 RTP/AVP {formats}\r\na=rtpmap:101 telephone-event/8000\r\n{extra}"
    )
}

fn invite(branch: &str, call_id: &str, body: Option<&str>) -> String {
    request(
        "INVITE",
        1,
        branch,
        call_id,
        None,
        body.unwrap_or(""),
        body.map(|_| "application/sdp"),
    )
}

fn in_dialog(
    method: &str,
    cseq: u32,
    branch: &str,
    call_id: &str,
    to_tag: &str,
    body: &str,
) -> String {
    let ct = (!body.is_empty()).then_some("application/sdp");
    request(method, cseq, branch, call_id, Some(to_tag), body, ct)
}

fn request(
    method: &str,
    cseq: u32,
    branch: &str,
    call_id: &str,
    to_tag: Option<&str>,
    body: &str,
    content_type: Option<&str>,
) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let ct = content_type
        .map(|c| format!("Content-Type: {c}\r\n"))
        .unwrap_or_default();
    let cseq_method = if method == "ACK" { "ACK" } else { method };
    format!(
        "{method} sip:passgate@192.0.2.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 198.51.100.20:5070;branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Nelson\" <sip:+15551234567@198.51.100.20>;tag=caller-tag\r\n\
         To: <sip:passgate@192.0.2.1>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {cseq_method}\r\n\
         Contact: <sip:caller@198.51.100.20:5070>\r\n\
         {ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// An admission limit of `rate` new calls per second with a burst of `burst`.
fn per_second(rate: f64, burst: f64) -> Option<crate::admission::RateLimit> {
    Some(crate::admission::RateLimit {
        per_second: rate,
        burst,
    })
}

fn status_lines(msgs: &[String]) -> Vec<&str> {
    msgs.iter().map(|m| m.lines().next().unwrap()).collect()
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

fn to_tag(msg: &str) -> String {
    header(msg, "To")
        .unwrap()
        .split(";tag=")
        .nth(1)
        .unwrap()
        .to_string()
}

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
fn options_is_answered_with_our_capabilities() {
    let mut h = Harness::new();
    h.feed(&request(
        "OPTIONS",
        5,
        "z9hG4bK-opt",
        "ping-1",
        None,
        "",
        None,
    ));
    let sent = h.sent_text();
    assert_eq!(status_lines(&sent), vec!["SIP/2.0 200 OK"]);
    let allow = header(&sent[0], "Allow").unwrap();
    for m in [
        "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "REFER", "NOTIFY",
    ] {
        assert!(allow.contains(m), "{allow}");
    }
    assert!(header(&sent[0], "Accept")
        .unwrap()
        .contains("application/sdp"));
    assert!(
        header(&sent[0], "Supported").is_none(),
        "we support no option tags: no Supported header, not an empty one"
    );
    assert!(h.events().is_empty());
    assert_eq!(h.ep.active_calls(), 0);
}

#[test]
fn a_200_to_invite_carries_no_empty_supported_header() {
    let mut h = Harness::new();
    let call = h.offered_call();
    h.ep.answer(h.now, call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    assert!(ok.starts_with("SIP/2.0 200 OK"), "{ok}");
    assert!(header(&ok, "Supported").is_none(), "{ok}");
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
fn a_udp_crlf_keepalive_is_ignored_silently() {
    let mut h = Harness::new();
    for ping in ["\r\n\r\n", "\r\n", "\n"] {
        h.feed(ping);
    }
    assert!(h.sent_text().is_empty(), "no answer to a keep-alive");
    assert!(h.events().is_empty());
    let stats = h.ep.stats();
    assert_eq!(stats.malformed_dropped, 0);
    assert_eq!(stats.malformed_answered, 0);
    assert_eq!(stats.messages_in, 0, "a keep-alive is not a message");
    // The next real request is handled as usual.
    h.feed(&request("OPTIONS", 1, "z9hG4bK-o", "o-1", None, "", None));
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 200 OK"]);
}

/// An INVITE from a SIP-I gateway: SDP and a binary ISUP part.
fn sip_i_invite(call_id: &str, content_type: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (part_type, content) in parts {
        body.extend_from_slice(
            format!("--sep\r\nContent-Type: {part_type}\r\nContent-Disposition: signal;handling=optional\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--sep--\r\n");
    let head = request(
        "INVITE",
        1,
        "z9hG4bK-mp",
        call_id,
        None,
        "",
        Some(content_type),
    )
    .replace(
        "Content-Length: 0",
        &format!("Content-Length: {}", body.len()),
    );
    let mut msg = head.into_bytes();
    msg.extend_from_slice(&body);
    msg
}

const ISUP_IAM: &[u8] = &[
    0x01, 0x00, 0x49, 0x00, 0x00, 0x03, 0x02, 0x00, 0x07, 0x04, 0x10, 0x00, 0x0d, 0x0a, 0xff,
];

#[test]
fn an_invite_with_multipart_sdp_and_isup_is_offered_with_the_sdp_part() {
    let mut h = Harness::new();
    let offer = sdp("8 101", "");
    let msg = sip_i_invite(
        "sip-i-1",
        "multipart/mixed;boundary=sep",
        &[
            ("application/sdp", offer.as_bytes()),
            ("application/ISUP;version=itu-t92+", ISUP_IAM),
        ],
    );
    h.ep.handle_input(h.now, TransportKind::Udp, CALLER.parse().unwrap(), &msg);
    assert_eq!(status_lines(&h.sent_text()), vec!["SIP/2.0 100 Trying"]);
    let events = h.events();
    let [Event::IncomingCall(call)] = events.as_slice() else {
        panic!("{events:?}")
    };
    let media = call.media.as_ref().expect("the SDP part was negotiated");
    assert_eq!(media.codec, crate::sdp::Codec::Pcma);
    h.ep.answer(h.now, call.call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    assert!(ok.starts_with("SIP/2.0 200 OK"), "{ok}");
    assert_eq!(header(&ok, "Content-Type"), Some("application/sdp"));
    assert!(ok.contains("m=audio 40000 RTP/AVP 8"), "{ok}");
}

#[test]
fn a_multipart_invite_without_sdp_gets_415_listing_what_we_accept() {
    let mut h = Harness::new();
    let msg = sip_i_invite(
        "sip-i-2",
        "multipart/mixed; boundary=\"sep\"",
        &[("application/ISUP;version=itu-t92+", ISUP_IAM)],
    );
    h.ep.handle_input(h.now, TransportKind::Udp, CALLER.parse().unwrap(), &msg);
    let sent = h.sent_text();
    assert_eq!(
        status_lines(&sent),
        vec!["SIP/2.0 100 Trying", "SIP/2.0 415 Unsupported Media Type"]
    );
    let accept = header(&sent[1], "Accept").unwrap();
    assert!(accept.contains("application/sdp"), "{accept}");
    assert!(h.events().is_empty());
}

#[test]
fn reinvite_hold_and_resume_get_matching_answers() {
    let mut h = Harness::new();
    let (call, tag) = h.confirmed_call();
    for (cseq, dir, answered) in [
        (2, "a=sendonly\r\n", "a=recvonly"),
        (3, "a=inactive\r\n", "a=inactive"),
        (4, "", "a=sendrecv"),
    ] {
        let branch = format!("z9hG4bK-re{cseq}");
        h.feed(&in_dialog(
            "INVITE",
            cseq,
            &branch,
            "call-1",
            &tag,
            &sdp("0 101", dir),
        ));
        let sent = h.sent_text();
        assert_eq!(status_lines(&sent), vec!["SIP/2.0 200 OK"]);
        assert!(
            sent[0].contains(answered),
            "{dir} answered with {}",
            sent[0]
        );
        assert!(sent[0].contains("m=audio 40000 RTP/AVP 0 101"));
        assert!(
            sent[0].contains(&format!(" {} IN IP4", cseq)),
            "o= version moves on: {}",
            sent[0]
        );
        let events = h.events();
        assert!(
            matches!(events.as_slice(), [Event::MediaUpdated { call: c, .. }] if *c == call),
            "{events:?}"
        );
        h.feed(&in_dialog(
            "ACK",
            cseq,
            &format!("z9hG4bK-ack{cseq}"),
            "call-1",
            &tag,
            "",
        ));
        h.advance(Duration::from_secs(1));
        assert!(
            h.sent().is_empty(),
            "the ACK stopped the 2xx retransmission"
        );
    }
}

#[test]
fn reinvite_with_no_common_codec_is_488_and_the_call_goes_on() {
    let mut h = Harness::new();
    let (call, tag) = h.confirmed_call();
    h.feed(&in_dialog(
        "INVITE",
        2,
        "z9hG4bK-re",
        "call-1",
        &tag,
        &sdp("18", ""),
    ));
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 488 Not Acceptable Here"]
    );
    assert!(h.ep.call_id(call).is_some());
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
fn unknown_method_gets_501_with_allow() {
    let mut h = Harness::new();
    let msg = request("OPTIONS", 1, "z9hG4bK-x", "m1", None, "", None)
        .replace("OPTIONS sip", "FROBNICATE sip")
        .replace("1 OPTIONS", "1 FROBNICATE");
    h.feed(&msg);
    let sent = h.sent_text();
    assert_eq!(status_lines(&sent), vec!["SIP/2.0 501 Not Implemented"]);
    assert_eq!(header(&sent[0], "CSeq"), Some("1 FROBNICATE"));
    assert!(header(&sent[0], "Allow").is_some());
    let known_not_allowed = request("SUBSCRIBE", 1, "z9hG4bK-s", "m2", None, "", None);
    h.feed(&known_not_allowed);
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 405 Method Not Allowed"]
    );
}

#[test]
fn malformed_messages_get_400_when_answerable_and_are_dropped_otherwise() {
    let mut h = Harness::new();
    let bad_cseq = invite("z9hG4bK-b", "bad-1", None).replace("CSeq: 1 INVITE", "CSeq: one INVITE");
    h.feed(&bad_cseq);
    let sent = h.sent_text();
    assert_eq!(status_lines(&sent), vec!["SIP/2.0 400 Bad Request"]);
    assert_eq!(header(&sent[0], "Call-ID"), Some("bad-1"));
    let short_body = invite("z9hG4bK-c", "bad-2", Some("v=0\r\n"))
        .replace("Content-Length: 5", "Content-Length: 500");
    h.feed(&short_body);
    assert_eq!(
        status_lines(&h.sent_text()),
        vec!["SIP/2.0 400 Bad Request"]
    );
    for garbage in [
        "",
        "\0\0\0",
        "INVITE",
        "SIP/2.0 200 OK\r\n\r\n",
        "INVITE sip:x SIP/2.0\r\nVia: nope\r\n\r\n",
    ] {
        h.feed(garbage);
        assert!(h.sent().is_empty(), "{garbage:?} should be dropped");
    }
    assert!(h.events().is_empty());
    let stats = h.ep.stats();
    assert_eq!((stats.malformed_answered, stats.malformed_dropped), (2, 5));
}

#[test]
fn responses_go_to_the_observed_source_with_rport() {
    let mut h = Harness::new();
    let natted = "203.0.113.9:40123";
    h.feed_from(
        TransportKind::Udp,
        natted,
        &request("OPTIONS", 1, "z9hG4bK-n", "nat", None, "", None),
    );
    let sent = h.sent();
    assert_eq!(sent[0].0.to_string(), natted);
    assert_eq!(
        header(&sent[0].1, "Via"),
        Some("SIP/2.0/UDP 198.51.100.20:5070;branch=z9hG4bK-n;rport=40123;received=203.0.113.9")
    );
    // Without rport the response goes to the source address and the Via port.
    let no_rport = request("OPTIONS", 1, "z9hG4bK-m", "nat2", None, "", None).replace(";rport", "");
    h.feed_from(TransportKind::Udp, natted, &no_rport);
    assert_eq!(h.sent()[0].0.to_string(), "203.0.113.9:5070");
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

#[test]
fn offer_with_only_unsupported_codecs_is_488() {
    let mut h = Harness::new();
    h.feed(&invite(
        "z9hG4bK-g",
        "g729",
        Some(&sdp("18", "a=rtpmap:18 G729/8000\r\n")),
    ));
    let sent = h.sent_text();
    assert_eq!(
        status_lines(&sent),
        vec!["SIP/2.0 100 Trying", "SIP/2.0 488 Not Acceptable Here"]
    );
    assert!(header(&sent[1], "Warning").unwrap().contains("G729"));
    assert!(h.events().is_empty());
    assert_eq!(h.ep.active_calls(), 0);
}

#[test]
fn invite_without_sdp_gets_our_offer_and_the_ack_answer_sets_the_media() {
    let mut h = Harness::new();
    h.feed(&invite("z9hG4bK-late", "late", None));
    let call = match h.events().as_slice() {
        [Event::IncomingCall(c)] => {
            assert!(c.media.is_none());
            c.call
        }
        other => panic!("{other:?}"),
    };
    h.ep.answer(h.now, call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    assert!(ok.contains("m=audio 40000 RTP/AVP 0 8 111 101"), "{ok}");
    let tag = to_tag(&ok);
    h.feed(&in_dialog(
        "ACK",
        1,
        "z9hG4bK-lack",
        "late",
        &tag,
        &sdp("8 101", ""),
    ));
    let events = h.events();
    // The media comes first: what the call does on confirmation (its first
    // prompt) must already use the answer's codec.
    assert!(
        matches!(events.as_slice(), [Event::MediaUpdated { media, .. }, Event::CallConfirmed { .. }] if media.payload_type == 8),
        "{events:?}"
    );
}

#[test]
fn an_ack_without_an_acceptable_answer_to_our_offer_ends_the_call_with_bye() {
    for (case, body) in [("no body", String::new()), ("G.729 only", sdp("18", ""))] {
        let mut h = Harness::new();
        h.feed(&invite("z9hG4bK-late", "late", None));
        let call = match h.events().as_slice() {
            [Event::IncomingCall(c)] => c.call,
            other => panic!("{other:?}"),
        };
        h.ep.answer(h.now, call, 40000).unwrap();
        let tag = to_tag(&h.sent_text().pop().unwrap());
        h.feed(&in_dialog("ACK", 1, "z9hG4bK-lack", "late", &tag, &body));
        let sent = h.sent_text();
        assert_eq!(sent.len(), 1, "{case}: {sent:?}");
        assert!(
            sent[0].starts_with("BYE sip:caller@"),
            "{case}: {}",
            sent[0]
        );
        assert!(
            header(&sent[0], "Reason").is_some_and(|r| r.contains("cause=488")),
            "{case}: {}",
            sent[0]
        );
        let events = h.events();
        assert!(
            matches!(
                events.as_slice(),
                [Event::CallEnded {
                    reason: EndReason::NoAcceptableAnswer,
                    ..
                }]
            ),
            "{case}: {events:?}"
        );
    }
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
fn over_tcp_responses_use_the_connection_and_are_not_retransmitted() {
    let mut h = Harness::new();
    let conn = TransportKind::Tcp(42);
    h.feed_from(
        conn,
        "198.51.100.20:50123",
        &invite("z9hG4bK-t", "tcp-1", Some(&sdp("0", ""))).replace("UDP", "TCP"),
    );
    let call = match h.events().as_slice() {
        [Event::IncomingCall(c)] => c.call,
        other => panic!("{other:?}"),
    };
    h.ep.answer(h.now, call, 40000).unwrap();
    let sent: Vec<Transmit> = std::iter::from_fn(|| h.ep.poll_transmit()).collect();
    assert!(sent
        .iter()
        .all(|t| t.transport == conn && t.destination.port() == 50123));
    let ok = String::from_utf8(sent[1].payload.clone()).unwrap();
    assert_eq!(
        header(&ok, "Contact"),
        Some("<sip:passgate@192.0.2.1:5060;transport=tcp>")
    );
    h.advance(Duration::from_secs(5));
    assert!(h.sent().is_empty());
}

#[test]
fn require_of_an_unknown_extension_is_420() {
    let mut h = Harness::new();
    let msg = invite("z9hG4bK-r", "req", Some(&sdp("0", ""))).replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRequire: 100rel\r\n",
    );
    h.feed(&msg);
    let sent = h.sent_text();
    assert_eq!(status_lines(&sent), vec!["SIP/2.0 420 Bad Extension"]);
    assert_eq!(header(&sent[0], "Unsupported"), Some("100rel"));
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

#[test]
fn the_host_of_a_route_or_target_uri_is_read_when_it_is_an_ip() {
    let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
    assert_eq!(uri_host_ip("<sip:203.0.113.7:5060;lr>"), ip("203.0.113.7"));
    assert_eq!(
        uri_host_ip("sip:sipp@127.0.0.1:5061;transport=udp"),
        ip("127.0.0.1")
    );
    assert_eq!(
        uri_host_ip("<sips:a@[2001:db8::1]:5061>"),
        ip("2001:db8::1")
    );
    assert_eq!(uri_host_ip("<sip:proxy.example;lr>"), None);
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
        match h.events().as_slice() {
            [Event::IncomingCall(c)] => c.call,
            other => panic!("{other:?}"),
        }
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

/// Every value of the named header, in order, comma-joined lines split.
fn header_values<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.split("\r\n\r\n")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then_some(v)
        })
        .flat_map(|v| v.split(", "))
        .map(str::trim)
        .collect()
}

/// A call whose INVITE carried `record_route`, answered and acknowledged.
fn routed_call(h: &mut Harness, record_route: &str) -> (CallHandle, String) {
    let inv = invite("z9hG4bK-inv1", "call-1", Some(&sdp("0 101", "")));
    h.feed(&with_record_route(&inv, record_route));
    h.sent();
    let call = match h.events().as_slice() {
        [Event::IncomingCall(c)] => c.call,
        other => panic!("expected one IncomingCall, got {other:?}"),
    };
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
    let call = match h.events().as_slice() {
        [Event::IncomingCall(c)] => c.call,
        other => panic!("expected one IncomingCall, got {other:?}"),
    };
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

fn ip6_offer() -> String {
    "v=0\r\no=- 1 1 IN IP6 2001:db8::20\r\ns=-\r\nc=IN IP6 2001:db8::20\r\nt=0 0\r\n\
     m=audio 6000 RTP/AVP 0\r\n"
        .to_string()
}

#[test]
fn an_ip6_offer_is_answered_with_our_ipv6_address() {
    let mut h = Harness::new();
    h.ep.config.public_ipv6 = Some("2001:db8::1".parse().unwrap());
    h.feed_from(
        TransportKind::Udp,
        "[2001:db8::20]:5070",
        &invite("z9hG4bK-6", "c6", Some(&ip6_offer())),
    );
    let events = h.events();
    let [Event::IncomingCall(call)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(
        call.media.as_ref().unwrap().remote_rtp,
        "[2001:db8::20]:6000".parse().unwrap()
    );
    h.ep.answer(h.now, call.call, 40000).unwrap();
    let (to, ok) = h.sent().pop().unwrap();
    assert_eq!(to, "[2001:db8::20]:5070".parse().unwrap());
    assert!(ok.starts_with("SIP/2.0 200 OK"), "{ok}");
    assert!(ok.contains("c=IN IP6 2001:db8::1\r\n"), "{ok}");
    assert!(ok.contains("o=passgate "), "{ok}");
    assert!(!ok.contains("IP4"), "{ok}");
    assert_eq!(
        header(&ok, "Contact"),
        Some("<sip:passgate@[2001:db8::1]:5060>")
    );
}

#[test]
fn an_ip4_caller_of_a_dual_stack_agent_still_gets_ipv4() {
    let mut h = Harness::new();
    h.ep.config.public_ipv6 = Some("2001:db8::1".parse().unwrap());
    let call = h.offered_call();
    h.ep.answer(h.now, call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    assert!(ok.contains("c=IN IP4 192.0.2.1\r\n"), "{ok}");
    assert_eq!(
        header(&ok, "Contact"),
        Some("<sip:passgate@192.0.2.1:5060>")
    );
}

#[test]
fn an_ip6_offer_without_an_ipv6_address_here_is_refused_with_488_and_a_warning() {
    let mut h = Harness::new();
    h.feed(&invite("z9hG4bK-6", "c6", Some(&ip6_offer())));
    let sent = h.sent_text();
    let refusal = sent.last().unwrap();
    assert!(refusal.starts_with("SIP/2.0 488 "), "{refusal}");
    let warning = header(refusal, "Warning").unwrap();
    assert!(warning.starts_with("301 passgate "), "{warning}");
    assert!(warning.contains("IPv6"), "{warning}");
    assert!(h.events().is_empty(), "no call for the application");
}

#[test]
fn a_reinvite_moving_the_media_to_the_other_family_is_488_and_the_call_goes_on() {
    let mut h = Harness::new();
    h.ep.config.public_ipv6 = Some("2001:db8::1".parse().unwrap());
    let (call, tag) = h.confirmed_call();
    h.feed(&in_dialog(
        "INVITE",
        2,
        "z9hG4bK-re6",
        "call-1",
        &tag,
        &ip6_offer(),
    ));
    let sent = h.sent_text();
    assert_eq!(status_lines(&sent), vec!["SIP/2.0 488 Not Acceptable Here"]);
    assert!(header(&sent[0], "Warning")
        .unwrap()
        .starts_with("301 passgate "));
    assert!(h.events().is_empty(), "the media is not updated");
    assert!(h.ep.call_id(call).is_some());
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
