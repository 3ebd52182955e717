//! SDP offer/answer: parse an offer, negotiate it under the default policy,
//! a narrow one that requires SRTP, and one that offers it, and write the answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip::sdp::{self, MediaPolicy, SdpOrigin};
use sip::{Codec, SrtpMode};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(offer) = sdp::parse(text) else {
        return;
    };
    let local = "192.0.2.1:40000".parse().unwrap();
    let origin = SdpOrigin {
        session_id: 1,
        version: 2,
    };
    let narrow = MediaPolicy {
        codecs: vec![Codec::Pcma],
        ptime_ms: 30,
        srtp: SrtpMode::Required,
    };
    let offering = MediaPolicy {
        srtp: SrtpMode::Offer,
        ..MediaPolicy::default()
    };
    for policy in [MediaPolicy::default(), narrow, offering] {
        if let Ok(neg) = sdp::negotiate(&offer, &policy) {
            let answer = sdp::answer(&neg, local, origin);
            // Our own answer must parse back.
            let parsed = sdp::parse(&answer).expect("our answer parses");
            // Our SDES key must read back as one usable crypto line.
            if neg.srtp.is_some() {
                assert!(parsed.media.iter().any(|m| m.crypto.len() == 1));
            }
        }
        // Our own offer, plain and with a key, must parse back too.
        let key = sip::SrtpKey::generate(sip::SrtpSuite::AesCm128HmacSha1_80);
        for srtp in [None, Some(&key)] {
            let ours = sdp::offer(&policy, local, origin, srtp);
            sdp::parse(&ours).expect("our offer parses");
        }
    }
});
