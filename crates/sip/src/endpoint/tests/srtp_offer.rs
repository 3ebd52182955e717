//! Our own offer (an INVITE without SDP) when `rtp.srtp` is on: `RTP/SAVP`
//! with our key, and the answer in the ACK checked against it.

use super::*;
use crate::sdes::{parse_crypto, SrtpMode};

const THEIR_KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

fn harness(mode: SrtpMode) -> Harness {
    let mut h = Harness::new();
    h.ep.config.media.srtp = mode;
    h
}

/// A delayed-offer call answered with our offer; the 200's text and our tag.
fn answered(h: &mut Harness) -> (String, String) {
    h.feed(&invite("z9hG4bK-late", "late", None));
    let call = h.incoming_call();
    h.ep.answer(h.now, call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    let tag = to_tag(&ok);
    (ok, tag)
}

fn savp_answer(crypto: &str) -> String {
    sdp("0 101", crypto).replace("RTP/AVP", "RTP/SAVP")
}

#[test]
fn our_offer_carries_a_key_and_the_acks_answer_completes_the_keys() {
    for mode in [SrtpMode::Offer, SrtpMode::Required] {
        let mut h = harness(mode);
        let (ok, tag) = answered(&mut h);
        assert!(
            ok.contains("m=audio 40000 RTP/SAVP 0 8 111 101\r\n"),
            "{ok}"
        );
        let line = ok
            .lines()
            .find_map(|l| l.strip_prefix("a=crypto:"))
            .unwrap_or_else(|| panic!("no a=crypto: {ok}"));
        assert!(
            line.starts_with("1 AES_CM_128_HMAC_SHA1_80 inline:"),
            "{line}"
        );
        let ours = parse_crypto(line).unwrap().key;
        let answer = savp_answer(&format!(
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}\r\n"
        ));
        h.feed(&in_dialog("ACK", 1, "z9hG4bK-lack", "late", &tag, &answer));
        let events = h.events();
        let Some(Event::MediaUpdated { media, .. }) = events.first() else {
            panic!("{mode:?}: {events:?}");
        };
        let srtp = media.srtp.as_ref().expect("SRTP keys");
        assert_eq!(srtp.local, ours, "we encrypt with the key we offered");
        let theirs = parse_crypto(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}"));
        assert_eq!(srtp.remote, theirs.unwrap().key);
        assert!(h.sent_text().is_empty(), "no BYE");
    }
}

#[test]
fn each_offer_draws_a_new_key() {
    let key = |h: &mut Harness| {
        let (ok, _) = answered(h);
        ok.lines()
            .find_map(|l| l.strip_prefix("a=crypto:"))
            .map(str::to_string)
            .unwrap()
    };
    let first = key(&mut harness(SrtpMode::Offer));
    assert_ne!(first, key(&mut harness(SrtpMode::Offer)));
    let (plain, _) = answered(&mut harness(SrtpMode::Off));
    assert!(
        plain.contains("RTP/AVP") && !plain.contains("a=crypto"),
        "{plain}"
    );
}

#[test]
fn a_plain_answer_is_taken_under_offer_and_ends_the_call_under_required() {
    let mut h = harness(SrtpMode::Offer);
    let (_, tag) = answered(&mut h);
    h.feed(&in_dialog(
        "ACK",
        1,
        "z9hG4bK-lack",
        "late",
        &tag,
        &sdp("0 101", ""),
    ));
    assert!(
        matches!(h.events().as_slice(), [Event::MediaUpdated { media, .. }, Event::CallConfirmed { .. }] if media.srtp.is_none())
    );
    assert!(h.sent_text().is_empty());

    let mut h = harness(SrtpMode::Required);
    let (_, tag) = answered(&mut h);
    h.feed(&in_dialog(
        "ACK",
        1,
        "z9hG4bK-lack",
        "late",
        &tag,
        &sdp("0 101", ""),
    ));
    let sent = h.sent_text();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].starts_with("BYE "), "{}", sent[0]);
    assert_eq!(
        header(&sent[0], "Reason"),
        Some("SIP;cause=488;text=\"SRTP is required here and the answer is plain RTP\"")
    );
    assert!(matches!(
        h.events().as_slice(),
        [Event::CallEnded {
            reason: EndReason::NoAcceptableAnswer,
            ..
        }]
    ));
}

#[test]
fn an_answer_whose_crypto_does_not_answer_our_line_ends_the_call() {
    for crypto in [
        format!("a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}\r\n"),
        format!("a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:{THEIR_KEY}\r\n"),
    ] {
        let mut h = harness(SrtpMode::Offer);
        let (_, tag) = answered(&mut h);
        let answer = savp_answer(&crypto);
        h.feed(&in_dialog("ACK", 1, "z9hG4bK-lack", "late", &tag, &answer));
        let sent = h.sent_text();
        assert!(
            sent.len() == 1 && sent[0].starts_with("BYE "),
            "{crypto}: {sent:?}"
        );
    }
}

/// The key of our answer's `a=crypto` line.
fn answer_key(ok: &str) -> String {
    ok.lines()
        .find_map(|l| l.strip_prefix("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"))
        .unwrap_or_else(|| panic!("no a=crypto in {ok}"))
        .to_string()
}

#[test]
fn a_reoffer_of_the_same_key_keeps_ours_and_a_new_key_gets_a_new_one() {
    let mut h = harness(SrtpMode::Offer);
    let crypto = |key: &str| format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}\r\n");
    let offer = |key: &str| savp_answer(&crypto(key));
    h.feed(&invite("z9hG4bK-k1", "keys", Some(&offer(THEIR_KEY))));
    let call = h.incoming_call();
    h.sent();
    h.ep.answer(h.now, call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    let (tag, first) = (to_tag(&ok), answer_key(&ok));
    h.feed(&in_dialog("ACK", 1, "z9hG4bK-ka1", "keys", &tag, ""));
    // A refresh re-offering the same key: our answer keeps ours.
    h.feed(&in_dialog(
        "INVITE",
        2,
        "z9hG4bK-k2",
        "keys",
        &tag,
        &offer(THEIR_KEY),
    ));
    let again = h.sent_text().pop().unwrap();
    assert_eq!(answer_key(&again), first, "{again}");
    h.feed(&in_dialog("ACK", 2, "z9hG4bK-ka2", "keys", &tag, ""));
    // A new key of theirs: a new one of ours.
    let theirs = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNk";
    h.feed(&in_dialog(
        "INVITE",
        3,
        "z9hG4bK-k3",
        "keys",
        &tag,
        &offer(theirs),
    ));
    let rekeyed = h.sent_text().pop().unwrap();
    assert_ne!(answer_key(&rekeyed), first, "{rekeyed}");
}

#[test]
fn our_refreshing_reinvite_re_offers_the_current_keys_and_takes_the_answer_keeping_them() {
    let mut h = harness(SrtpMode::Offer);
    // A tag of the caller's own: our re-offer must answer to it.
    let crypto = format!("a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}\r\n");
    let offer = savp_answer(&crypto);
    let msg = invite("z9hG4bK-sdes", "call-1", Some(&offer)).replacen(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nSession-Expires: 90\r\n",
        1,
    );
    h.feed(&msg);
    let call = h.incoming_call();
    h.ep.answer(h.now, call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    let Some(ours) = ok.lines().find(|l| l.starts_with("a=crypto:")) else {
        panic!("no a=crypto in {ok}");
    };
    let tag = to_tag(&ok);
    h.feed(&in_dialog("ACK", 1, "z9hG4bK-sack", "call-1", &tag, ""));
    h.events();
    h.advance(Duration::from_secs(45));
    let sent = h.sent_text();
    let Some(reinvite) = sent.iter().find(|m| m.starts_with("INVITE ")) else {
        panic!("no refresh: {sent:?}");
    };
    // Our line as it was: the caller's tag and suite, our key.
    assert!(reinvite.contains(&format!("{ours}\r\n")), "{reinvite}");
    // The caller answers with its key as before: nothing changes.
    let mut answer = "SIP/2.0 200 OK\r\n".to_string();
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        answer.push_str(&format!("{name}: {}\r\n", header(reinvite, name).unwrap()));
    }
    answer.push_str("Session-Expires: 90;refresher=uac\r\nContent-Type: application/sdp\r\n");
    answer.push_str(&format!("Content-Length: {}\r\n\r\n{offer}", offer.len()));
    h.feed(&answer);
    let sent = h.sent_text();
    assert!(
        sent.iter().any(|m| m.starts_with("ACK ")) && !sent.iter().any(|m| m.starts_with("BYE ")),
        "{sent:?}"
    );
    let events = h.events();
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn an_offerless_reinvite_gets_our_offer_with_the_key_we_encrypt_with() {
    let mut h = harness(SrtpMode::Offer);
    let offer = |suite: &str| savp_answer(&format!("a=crypto:7 {suite} inline:{THEIR_KEY}\r\n"));
    h.feed(&invite(
        "z9hG4bK-o1",
        "keep",
        Some(&offer("AES_CM_128_HMAC_SHA1_80")),
    ));
    let call = h.incoming_call();
    h.ep.answer(h.now, call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    let (tag, ours) = (to_tag(&ok), answer_key_tagged(&ok, 7));
    h.feed(&in_dialog("ACK", 1, "z9hG4bK-oa1", "keep", &tag, ""));
    h.events();
    let mut texts = Vec::new();
    for cseq in [2, 3] {
        h.feed(&in_dialog(
            "INVITE",
            cseq,
            &format!("z9hG4bK-o{cseq}"),
            "keep",
            &tag,
            "",
        ));
        let reoffer = h.sent_text().pop().unwrap();
        // Our line of our own offer (tag 1), the key the caller reads us by.
        assert_eq!(answer_key(&reoffer), ours, "{reoffer}");
        let body = reoffer
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string();
        texts.push(body);
        let answer = savp_answer(&format!(
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}\r\n"
        ));
        h.feed(&in_dialog(
            "ACK",
            cseq,
            &format!("z9hG4bK-oa{cseq}"),
            "keep",
            &tag,
            &answer,
        ));
        let events = h.events();
        let Some(Event::MediaUpdated { media, .. }) = events.first() else {
            panic!("{events:?}");
        };
        let srtp = media.srtp.as_ref().expect("SRTP keys");
        let key = parse_crypto(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{ours}"));
        assert_eq!(
            srtp.local,
            key.unwrap().key,
            "we go on encrypting with the same key"
        );
    }
    // Nothing changed between the two offers: the same SDP, version and all.
    assert_eq!(texts[0], texts[1]);

    // A call whose suite is not the one we offer: a fresh key of that suite.
    let mut h = harness(SrtpMode::Offer);
    h.feed(&invite(
        "z9hG4bK-p1",
        "other",
        Some(&offer("AES_CM_128_HMAC_SHA1_32")),
    ));
    let call = h.incoming_call();
    h.ep.answer(h.now, call, 40000).unwrap();
    let ok = h.sent_text().pop().unwrap();
    let tag = to_tag(&ok);
    let short = ok
        .lines()
        .find_map(|l| l.strip_prefix("a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:"))
        .unwrap_or_else(|| panic!("{ok}"))
        .to_string();
    h.feed(&in_dialog("ACK", 1, "z9hG4bK-pa1", "other", &tag, ""));
    h.feed(&in_dialog("INVITE", 2, "z9hG4bK-p2", "other", &tag, ""));
    let reoffer = h.sent_text().pop().unwrap();
    assert_ne!(answer_key(&reoffer), short, "{reoffer}");
}

/// The key of our `a=crypto` line answering the caller's line `tag`.
fn answer_key_tagged(ok: &str, tag: u32) -> String {
    let prefix = format!("a=crypto:{tag} AES_CM_128_HMAC_SHA1_80 inline:");
    ok.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no a=crypto:{tag} in {ok}"))
        .to_string()
}
