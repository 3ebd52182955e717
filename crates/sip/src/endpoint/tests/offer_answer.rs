//! Offer and answer (RFC 3264): in the INVITE or in our 200 and the ACK,
//! multipart bodies, re-INVITEs (hold, codec change) and address families.

use std::time::Duration;

use super::*;

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
        let call = h.incoming_call();
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

/// The o= version of an SDP in a message.
fn sdp_version(msg: &str) -> Option<&str> {
    msg.lines()
        .find_map(|l| l.strip_prefix("o="))?
        .split(' ')
        .nth(2)
}

#[test]
fn an_unchanged_answer_keeps_its_version_and_a_changed_one_takes_the_next() {
    let mut h = Harness::new();
    let (_, tag) = h.confirmed_call();
    // The same offer again (a refresh): the same answer, the same version
    // (RFC 3264 §8), so that the caller sees no change.
    for cseq in [2, 3] {
        let branch = format!("z9hG4bK-re{cseq}");
        h.feed(&in_dialog(
            "INVITE",
            cseq,
            &branch,
            "call-1",
            &tag,
            &sdp("0 101", ""),
        ));
        let ok = h.sent_text().pop().unwrap();
        assert_eq!(sdp_version(&ok), Some("1"), "{ok}");
        let ack = format!("z9hG4bK-ack{cseq}");
        h.feed(&in_dialog("ACK", cseq, &ack, "call-1", &tag, ""));
    }
    // A new codec: a new version, kept while the session stays so.
    for cseq in [4, 5] {
        let branch = format!("z9hG4bK-re{cseq}");
        h.feed(&in_dialog(
            "INVITE",
            cseq,
            &branch,
            "call-1",
            &tag,
            &sdp("8 101", ""),
        ));
        let ok = h.sent_text().pop().unwrap();
        assert!(ok.contains("RTP/AVP 8 101"), "{ok}");
        assert_eq!(sdp_version(&ok), Some("2"), "{ok}");
        let ack = format!("z9hG4bK-ack{cseq}");
        h.feed(&in_dialog("ACK", cseq, &ack, "call-1", &tag, ""));
    }
}

#[test]
fn an_offerless_reinvite_gets_our_offer_with_its_version_kept_while_it_is_the_same() {
    let mut h = Harness::new();
    let (_, tag) = h.confirmed_call();
    let mut versions = Vec::new();
    for cseq in [2, 3] {
        let branch = format!("z9hG4bK-re{cseq}");
        h.feed(&in_dialog("INVITE", cseq, &branch, "call-1", &tag, ""));
        let ok = h.sent_text().pop().unwrap();
        assert!(ok.contains("m=audio 40000 RTP/AVP 0 8 111 101"), "{ok}");
        versions.push(sdp_version(&ok).map(str::to_string));
        let ack = format!("z9hG4bK-ack{cseq}");
        h.feed(&in_dialog(
            "ACK",
            cseq,
            &ack,
            "call-1",
            &tag,
            &sdp("0 101", ""),
        ));
        h.events();
    }
    // Our first offer differs from the answer we sent before it: the next
    // version. The second is that same offer again: the same version.
    assert_eq!(versions, [Some("2".to_string()), Some("2".to_string())]);
}
