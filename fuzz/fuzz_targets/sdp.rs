//! SDP offer/answer: parse an offer, negotiate it under the default and a
//! narrow policy, and write the answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip::sdp::{self, MediaPolicy, SdpOrigin};
use sip::Codec;

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
    };
    for policy in [MediaPolicy::default(), narrow] {
        if let Ok(neg) = sdp::negotiate(&offer, &policy) {
            let answer = sdp::answer(&neg, local, origin);
            // Our own answer must parse back.
            sdp::parse(&answer).expect("our answer parses");
        }
        let _ = sdp::offer(&policy, local, origin);
    }
});
