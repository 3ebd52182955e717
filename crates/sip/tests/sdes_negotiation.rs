//! SDP offer/answer with SDES keys: which stream and crypto line an offer
//! gets in each `rtp.srtp` mode, the answer's own key, and what is refused.

use sip::sdes::{parse_crypto, SrtpMode, SrtpSuite};
use sip::sdp::{self, MediaPolicy, SdpError, SdpOrigin};

const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

fn offer(protocol: &str, crypto: &str) -> sdp::SessionDescription {
    sdp::parse(&format!(
        "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
         m=audio 4000 {protocol} 0 101\r\na=rtpmap:101 telephone-event/8000\r\n{crypto}"
    ))
    .unwrap()
}

fn policy(srtp: SrtpMode) -> MediaPolicy {
    MediaPolicy {
        srtp,
        ..MediaPolicy::default()
    }
}

fn answer_text(neg: &sdp::Negotiated) -> String {
    let origin = SdpOrigin {
        session_id: 1,
        version: 1,
    };
    sdp::answer(neg, "192.0.2.10:30000".parse().unwrap(), origin)
}

#[test]
fn a_savp_offer_is_answered_with_its_suite_tag_and_our_own_key() {
    let crypto = format!(
        "a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:{KEY}|1:4\r\n\
         a=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:{KEY}\r\n\
         a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:{KEY}\r\n"
    );
    let neg = sdp::negotiate(&offer("RTP/SAVP", &crypto), &policy(SrtpMode::Offer)).unwrap();
    let srtp = neg.srtp.clone().unwrap();
    assert_eq!(
        (srtp.tag, srtp.suite),
        (4, SrtpSuite::AesCm128HmacSha1_32),
        "the first usable line (the one with an MKI is not)"
    );
    let text = answer_text(&neg);
    assert!(text.contains("m=audio 30000 RTP/SAVP 0 101\r\n"), "{text}");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("a=crypto:"))
        .unwrap();
    let ours = parse_crypto(line).unwrap();
    assert_eq!(ours.tag, 4);
    assert_eq!(ours.key, srtp.local);
    assert_ne!(ours.key, srtp.remote);
    // A re-INVITE with the same offer gets a new key of ours.
    let again = sdp::negotiate(&offer("RTP/SAVP", &crypto), &policy(SrtpMode::Offer)).unwrap();
    assert_ne!(again.srtp.unwrap().local, srtp.local);
}

#[test]
fn avp_with_crypto_gets_srtp_unless_srtp_is_off() {
    let crypto = format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}\r\n");
    let o = offer("RTP/AVP", &crypto);
    let neg = sdp::negotiate(&o, &policy(SrtpMode::Required)).unwrap();
    assert!(neg.srtp.is_some());
    assert!(answer_text(&neg).contains("m=audio 30000 RTP/AVP 0 101\r\n"));
    let plain = sdp::negotiate(&o, &policy(SrtpMode::Off)).unwrap();
    assert_eq!(plain.srtp, None);
    assert!(!answer_text(&plain).contains("a=crypto"));
}

#[test]
fn what_each_mode_refuses() {
    let plain = offer("RTP/AVP", "");
    assert_eq!(
        sdp::negotiate(&plain, &policy(SrtpMode::Required)),
        Err(SdpError::SrtpRequired)
    );
    assert_eq!(SdpError::SrtpRequired.status(), 488);
    assert_eq!(
        sdp::negotiate(&plain, &policy(SrtpMode::Offer))
            .unwrap()
            .srtp,
        None
    );
    let savp = offer(
        "RTP/SAVP",
        &format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}\r\n"),
    );
    assert_eq!(
        sdp::negotiate(&savp, &policy(SrtpMode::Off)),
        Err(SdpError::SrtpOff)
    );
    let unusable = offer(
        "RTP/SAVP",
        &format!("a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:{KEY}\r\n"),
    );
    assert_eq!(
        sdp::negotiate(&unusable, &policy(SrtpMode::Required)),
        Err(SdpError::NoUsableCrypto)
    );
}
