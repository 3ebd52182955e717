//! Messages outside any call: OPTIONS, keep-alives, malformed and
//! unsupported requests, and where responses go (RFC 3581, TCP).

use std::time::Duration;

use super::*;

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
    assert_eq!(header(&sent[0], "Supported"), Some("timer, 100rel"));
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
fn over_tcp_responses_use_the_connection_and_are_not_retransmitted() {
    let mut h = Harness::new();
    let conn = TransportKind::Tcp(42);
    h.feed_from(
        conn,
        "198.51.100.20:50123",
        &invite("z9hG4bK-t", "tcp-1", Some(&sdp("0", ""))).replace("UDP", "TCP"),
    );
    let call = h.incoming_call();
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
        "Max-Forwards: 70\r\nRequire: 100rel, precondition\r\n",
    );
    h.feed(&msg);
    let sent = h.sent_text();
    assert_eq!(status_lines(&sent), vec!["SIP/2.0 420 Bad Extension"]);
    assert_eq!(header(&sent[0], "Unsupported"), Some("precondition"));
}

/// The Contact of the 200 to an INVITE that came over TLS from `uri` (the
/// Request-URI) with `contact` as the caller's, and of our BYE after it.
fn contacts_over_tls(uri: &str, contact: &str) -> (String, String) {
    let mut h = Harness::new();
    let conn = TransportKind::Tls(7);
    let msg = invite("z9hG4bK-s", "tls-1", Some(&sdp("0", "")))
        .replace("UDP", "TLS")
        .replacen("sip:passgate@192.0.2.1:5060", uri, 1)
        .replace("<sip:caller@198.51.100.20:5070>", contact);
    h.feed_from(conn, "198.51.100.20:50123", &msg);
    let call = h.incoming_call();
    h.ep.answer(h.now, call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    let tag = to_tag(&ok);
    let ack = in_dialog("ACK", 1, "z9hG4bK-a", "tls-1", &tag, "").replace("UDP", "TLS");
    h.feed_from(conn, "198.51.100.20:50123", &ack);
    h.ep.hangup(h.now, call).unwrap();
    let sent: Vec<Transmit> = std::iter::from_fn(|| h.ep.poll_transmit()).collect();
    assert!(sent.iter().all(|t| t.transport == conn));
    let bye = String::from_utf8(sent[0].payload.clone()).unwrap();
    assert!(bye.starts_with("BYE "), "{bye}");
    assert_eq!(
        header(&bye, "Via").map(|v| v.starts_with("SIP/2.0/TLS 192.0.2.1:5060;")),
        Some(true),
        "{bye}"
    );
    let contact = |m: &str| header(m, "Contact").unwrap().to_string();
    (contact(&ok), contact(&bye))
}

#[test]
fn over_tls_the_contact_is_sips_only_when_the_dialog_asked_for_it() {
    // RFC 3261 §12.1.1: a SIPS Request-URI, or (without Record-Route) a
    // SIPS Contact of the caller's, makes ours SIPS.
    for (uri, contact) in [
        (
            "sips:passgate@192.0.2.1:5061",
            "<sip:caller@198.51.100.20:5070>",
        ),
        (
            "sip:passgate@192.0.2.1:5061",
            "<sips:caller@198.51.100.20:5071>",
        ),
    ] {
        let (ok, bye) = contacts_over_tls(uri, contact);
        assert_eq!(ok, "<sips:passgate@192.0.2.1:5060>", "{uri} {contact}");
        assert_eq!(bye, ok);
    }
    let (ok, bye) = contacts_over_tls(
        "sip:passgate@192.0.2.1:5061;transport=tls",
        "<sip:caller@198.51.100.20:5070;transport=tls>",
    );
    assert_eq!(ok, "<sip:passgate@192.0.2.1:5060;transport=tls>");
    assert_eq!(bye, ok);
}
