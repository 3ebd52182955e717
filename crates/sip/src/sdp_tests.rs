//! Offer and answer cases: what is negotiated, refused, and written back.

use super::*;

fn offer_with(formats: &str, maps: &str) -> SessionDescription {
    parse(&format!(
        "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP {formats}\r\n{maps}"
    ))
    .unwrap()
}

fn local() -> SocketAddr {
    "192.0.2.10:30000".parse().unwrap()
}

#[test]
fn preference_decides_between_offered_codecs() {
    let offer = offer_with("8 0 101", "a=rtpmap:101 telephone-event/8000\r\n");
    let neg = negotiate(&offer, &MediaPolicy::default()).unwrap();
    assert_eq!((neg.codec, neg.payload_type), (Codec::Pcmu, 0));
    let pcma_first = MediaPolicy {
        codecs: vec![Codec::Pcma, Codec::Pcmu],
        ptime_ms: 20,
        srtp: SrtpMode::Off,
    };
    let neg = negotiate(&offer, &pcma_first).unwrap();
    assert_eq!((neg.codec, neg.payload_type), (Codec::Pcma, 8));
    assert_eq!(neg.remote_rtp, "10.0.0.5:4000".parse().unwrap());
}

#[test]
fn telephone_event_keeps_the_offered_payload_type() {
    for pt in [96u8, 101, 120] {
        let offer = offer_with(
            &format!("0 {pt}"),
            &format!("a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-15\r\n"),
        );
        let neg = negotiate(&offer, &MediaPolicy::default()).unwrap();
        assert_eq!(neg.telephone_event, Some(pt));
        let sdp = answer(
            &neg,
            local(),
            SdpOrigin {
                session_id: 1,
                version: 1,
            },
        );
        assert!(
            sdp.contains(&format!("m=audio 30000 RTP/AVP 0 {pt}\r\n")),
            "{sdp}"
        );
        assert!(
            sdp.contains(&format!("a=rtpmap:{pt} telephone-event/8000")),
            "{sdp}"
        );
    }
}

#[test]
fn no_telephone_event_offered_means_none_answered() {
    let neg = negotiate(&offer_with("0", ""), &MediaPolicy::default()).unwrap();
    assert_eq!(neg.telephone_event, None);
    let sdp = answer(
        &neg,
        local(),
        SdpOrigin {
            session_id: 1,
            version: 1,
        },
    );
    assert!(!sdp.contains("telephone-event"));
}

#[test]
fn unsupported_codecs_only_is_488() {
    let offer = offer_with("18 9", "a=rtpmap:18 G729/8000\r\na=rtpmap:9 G722/8000\r\n");
    let err = negotiate(&offer, &MediaPolicy::default()).unwrap_err();
    assert_eq!(err.status(), 488);
    assert!(err.to_string().contains("G729/8000"), "{err}");
}

#[test]
fn opus_is_chosen_by_rtpmap_not_number() {
    let offer = offer_with(
        "111 101",
        "a=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/48000\r\n",
    );
    let neg = negotiate(&offer, &MediaPolicy::default()).unwrap();
    assert_eq!(
        (neg.codec, neg.payload_type, neg.telephone_event),
        (Codec::Opus, 111, Some(101))
    );
    let sdp = answer(
        &neg,
        local(),
        SdpOrigin {
            session_id: 1,
            version: 1,
        },
    );
    assert!(sdp.contains("a=rtpmap:111 opus/48000/2"));
    assert!(sdp.contains("a=rtpmap:101 telephone-event/48000"));
}

#[test]
fn ptime_30_is_honoured_and_odd_values_fall_back() {
    let neg = negotiate(&offer_with("8", "a=ptime:30\r\n"), &MediaPolicy::default()).unwrap();
    assert_eq!(neg.ptime_ms, 30);
    let sdp = answer(
        &neg,
        local(),
        SdpOrigin {
            session_id: 1,
            version: 1,
        },
    );
    assert!(sdp.contains("a=ptime:30"));
    let neg = negotiate(&offer_with("8", "a=ptime:7\r\n"), &MediaPolicy::default()).unwrap();
    assert_eq!(neg.ptime_ms, 20);
}

#[test]
fn hold_directions_are_mirrored() {
    for (offered, answered) in [
        ("a=sendonly\r\n", Direction::RecvOnly),
        ("a=inactive\r\n", Direction::Inactive),
        ("a=recvonly\r\n", Direction::SendOnly),
        ("", Direction::SendRecv),
    ] {
        let neg = negotiate(&offer_with("0", offered), &MediaPolicy::default()).unwrap();
        assert_eq!(neg.direction, answered);
        let sdp = answer(
            &neg,
            local(),
            SdpOrigin {
                session_id: 1,
                version: 2,
            },
        );
        assert!(sdp.contains(&format!("a={}\r\n", answered.attribute())));
    }
    let old_hold = parse("v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n").unwrap();
    let neg = negotiate(&old_hold, &MediaPolicy::default()).unwrap();
    assert_eq!(neg.direction, Direction::RecvOnly);
}

#[test]
fn other_streams_are_refused_with_port_zero() {
    let offer =
        parse("v=0\r\nc=IN IP4 10.0.0.5\r\nm=video 5000 RTP/AVP 96\r\nm=audio 4000 RTP/AVP 0\r\n")
            .unwrap();
    let neg = negotiate(&offer, &MediaPolicy::default()).unwrap();
    let sdp = answer(
        &neg,
        local(),
        SdpOrigin {
            session_id: 9,
            version: 1,
        },
    );
    let m_lines: Vec<&str> = sdp.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(
        m_lines,
        vec!["m=video 0 RTP/AVP 96", "m=audio 30000 RTP/AVP 0"]
    );
    assert!(sdp.contains("o=passgate 9 1 IN IP4 192.0.2.10"));
}

#[test]
fn malformed_sdp_is_a_syntax_error() {
    assert!(matches!(
        parse("v=0\r\nm=audio x RTP/AVP 0\r\n"),
        Err(SdpError::Syntax { .. })
    ));
    assert_eq!(parse("c=IN IP4 1.2.3.4\r\n"), Err(SdpError::NoVersion));
    assert_eq!(
        negotiate(
            &parse("v=0\r\nm=audio 4000 RTP/AVP 0\r\n").unwrap(),
            &MediaPolicy::default()
        ),
        Err(SdpError::NoConnection)
    );
}

#[test]
fn an_ip6_offer_is_parsed_and_answered_in_ip6() {
    let offer = parse(
        "v=0\r\no=- 1 1 IN IP6 2001:db8::5\r\ns=-\r\nc=IN IP6 2001:db8::5\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 0\r\n",
    )
    .unwrap();
    let neg = negotiate(&offer, &MediaPolicy::default()).unwrap();
    assert_eq!(neg.remote_rtp, "[2001:db8::5]:4000".parse().unwrap());
    assert_eq!(neg.remote_rtcp, "[2001:db8::5]:4001".parse().unwrap());
    let sdp = answer(
        &neg,
        "[2001:db8::10]:30000".parse().unwrap(),
        SdpOrigin {
            session_id: 3,
            version: 1,
        },
    );
    assert!(
        sdp.contains("o=passgate 3 1 IN IP6 2001:db8::10\r\n"),
        "{sdp}"
    );
    assert!(sdp.contains("c=IN IP6 2001:db8::10\r\n"), "{sdp}");
    assert!(!sdp.contains("IP4"), "{sdp}");
}

#[test]
fn rtcp_goes_to_rtp_plus_one_unless_a_rtcp_says_otherwise() {
    let neg = negotiate(&offer_with("0", ""), &MediaPolicy::default()).unwrap();
    assert_eq!(neg.remote_rtcp, "10.0.0.5:4001".parse().unwrap());
    assert!(!neg.rtcp_mux);
    let neg = negotiate(&offer_with("0", "a=rtcp:5009\r\n"), &MediaPolicy::default()).unwrap();
    assert_eq!(neg.remote_rtcp, "10.0.0.5:5009".parse().unwrap());
    let neg = negotiate(
        &offer_with("0", "a=rtcp:53020 IN IP4 126.16.64.4\r\n"),
        &MediaPolicy::default(),
    )
    .unwrap();
    assert_eq!(neg.remote_rtcp, "126.16.64.4:53020".parse().unwrap());
    let neg = negotiate(
        &offer_with("0", "a=rtcp:53020 IN IP6 2001:db8::7\r\n"),
        &MediaPolicy::default(),
    )
    .unwrap();
    assert_eq!(neg.remote_rtcp, "[2001:db8::7]:53020".parse().unwrap());
    // Unreadable: RTCP stays on RTP + 1.
    let neg = negotiate(&offer_with("0", "a=rtcp:x\r\n"), &MediaPolicy::default()).unwrap();
    assert_eq!(neg.remote_rtcp, "10.0.0.5:4001".parse().unwrap());
    let sdp = answer(
        &neg,
        local(),
        SdpOrigin {
            session_id: 1,
            version: 1,
        },
    );
    assert!(!sdp.contains("rtcp-mux"), "{sdp}");
}

#[test]
fn rtcp_mux_offered_is_accepted_and_answered() {
    let neg = negotiate(
        &offer_with("0", "a=rtcp:4001\r\na=rtcp-mux\r\n"),
        &MediaPolicy::default(),
    )
    .unwrap();
    assert!(neg.rtcp_mux);
    assert_eq!(neg.remote_rtcp, neg.remote_rtp);
    let sdp = answer(
        &neg,
        local(),
        SdpOrigin {
            session_id: 1,
            version: 1,
        },
    );
    assert!(sdp.contains("a=rtcp-mux\r\n"), "{sdp}");
}

/// What Chromium offers: ICE, DTLS-SRTP, rtcp-mux, c=0.0.0.0.
const CHROME_OFFER: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
a=msid-semantic: WMS\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:abcd\r\n\
a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=sendrecv\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:126 telephone-event/8000\r\n";

#[test]
fn a_webrtc_offer_is_taken_for_the_webrtc_stack_to_answer() {
    let offer = parse(CHROME_OFFER).unwrap();
    let neg = negotiate(&offer, &MediaPolicy::default()).unwrap();
    assert!(neg.is_webrtc_stream());
    assert_eq!((neg.codec, neg.payload_type), (Codec::Pcmu, 0));
    // c=0.0.0.0 is WebRTC's placeholder, not a hold.
    assert_eq!(neg.direction, Direction::SendRecv);
    // RFC 4733 keys at the offer's 8 kHz event type (JsSIP's INFO works too).
    assert_eq!(neg.telephone_event, Some(126));
    assert!(neg.rtcp_mux);
    assert!(neg.srtp.is_none());
    // Even where SRTP by SDES is required: the keys come from DTLS.
    let required = MediaPolicy {
        srtp: SrtpMode::Required,
        ..MediaPolicy::default()
    };
    assert!(negotiate(&offer, &required).unwrap().is_webrtc_stream());
}

#[test]
fn a_savpf_offer_without_a_fingerprint_is_refused() {
    let text = CHROME_OFFER.replace("a=fingerprint:", "a=x-fingerprint:");
    let offer = parse(&text).unwrap();
    assert_eq!(
        negotiate(&offer, &MediaPolicy::default()),
        Err(SdpError::NoAudio)
    );
}
