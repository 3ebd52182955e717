//! A browser's call on a virtual clock: a full str0m peer (as a browser
//! is: ICE controlling, DTLS) offers audio, [`WebRtcTransport`] answers
//! with ICE-lite, and the two exchange datagrams in memory. The session
//! must hear the browser's audio as frames and the browser must hear the
//! session's prompt, all through DTLS-SRTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use media::{
    MediaEvent, MediaSession, PacerConfig, ReceiverConfig, SessionConfig, SessionEvent, Transmit,
    WebRtcCodec, WebRtcTransport, G711,
};
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, RtcConfig};

fn session_config() -> SessionConfig {
    let mut receiver = ReceiverConfig::g711(G711::Ulaw, None, 16000);
    receiver.sdp_source = None;
    receiver.strict_source = false;
    receiver.learn_source = media::SourceLearning::Any;
    SessionConfig {
        receiver,
        pacer: PacerConfig::g711(G711::Ulaw, 0x5eed, 100, 1000),
        cname: "passgate@test".into(),
        rtcp_interval: Duration::from_secs(5),
        srtp: None,
    }
}

/// A 440 Hz tone at 8 kHz as µ-law, 20 ms.
fn tone_frame(start: usize) -> Vec<u8> {
    (0..160)
        .map(|i| {
            let t = (start + i) as f32 / 8000.0;
            let s = (f32::sin(t * 440.0 * std::f32::consts::TAU) * 8000.0) as i16;
            G711::Ulaw.encode_sample(s)
        })
        .collect()
}

#[test]
fn a_browser_peer_and_the_session_hear_each_other_through_dtls_srtp() {
    let start = Instant::now();
    let browser_addr: SocketAddr = "192.0.2.10:50000".parse().unwrap();
    let our_addr: SocketAddr = "192.0.2.20:40000".parse().unwrap();
    let mut browser = RtcConfig::new()
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        // As Chromium does: Opus first, PCMU among the others.
        .enable_pcmu(true, false)
        .build(start);
    browser.add_local_candidate(Candidate::host(browser_addr, "udp").unwrap());
    let mut change = browser.sdp_api();
    let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = change.apply().unwrap();
    let offer_text = offer.to_sdp_string();
    assert!(offer_text.contains("UDP/TLS/RTP/SAVPF"), "{offer_text}");

    let (transport, answer) =
        WebRtcTransport::accept(start, &offer_text, our_addr, WebRtcCodec::Pcmu, None).unwrap();
    assert!(answer.contains("a=ice-lite"), "{answer}");
    assert!(answer.contains("a=fingerprint:"), "{answer}");
    assert!(
        answer.contains("PCMU/8000") && !answer.contains("opus"),
        "{answer}"
    );
    browser
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();
    let mut session = MediaSession::new(start, session_config())
        .unwrap()
        .with_webrtc(transport);
    session.set_listening(true);

    let mut now = start;
    let mut browser_timeout = start;
    let mut connected_at = None;
    let mut sent_frames = 0usize;
    let mut heard_by_browser = 0usize;
    let mut frames_heard = 0usize;
    let mut prompt_queued = false;
    while now < start + Duration::from_secs(6) {
        // The browser's side: everything it has to say until it wants time.
        if now >= browser_timeout {
            browser.handle_input(Input::Timeout(now)).unwrap();
        }
        loop {
            match browser.poll_output().unwrap() {
                Output::Timeout(t) => {
                    browser_timeout = t;
                    break;
                }
                Output::Transmit(t) => {
                    assert_eq!(t.destination, our_addr);
                    session.handle_rtp(now, browser_addr, &t.contents);
                }
                Output::Event(Event::Connected) => connected_at = connected_at.or(Some(now)),
                Output::Event(Event::MediaData(data)) => {
                    assert_eq!(data.params.spec().codec, Codec::PCMU);
                    heard_by_browser += 1;
                }
                Output::Event(_) => {}
            }
        }
        // Once up, the browser speaks 20 ms at a time and we play a prompt.
        if let Some(at) = connected_at {
            let due = (now - at).as_millis() as usize / 20;
            while sent_frames <= due {
                let writer = browser.writer(mid).unwrap();
                let pt = writer
                    .payload_params()
                    .find(|p| p.spec().codec == Codec::PCMU)
                    .unwrap()
                    .pt();
                let rtp_time = MediaTime::new((sent_frames * 160) as u64, Frequency::EIGHT_KHZ);
                writer
                    .write(pt, now, rtp_time, tone_frame(sent_frames * 160))
                    .unwrap();
                sent_frames += 1;
            }
            if !prompt_queued {
                session.play(now, vec![1000i16; 8000]);
                prompt_queued = true;
            }
        }
        // Our side: its timers, what it sends, what it heard.
        if session.poll_timeout().is_some_and(|t| t <= now) {
            session.handle_timeout(now, SystemTime::now());
        }
        while let Some(t) = session.poll_transmit() {
            let Transmit::To(to, datagram) = t else {
                panic!("a WebRTC session sends only addressed datagrams: {t:?}");
            };
            assert_eq!(to, browser_addr);
            let receive = Receive::new(Protocol::Udp, our_addr, browser_addr, &datagram).unwrap();
            browser.handle_input(Input::Receive(now, receive)).unwrap();
        }
        while let Some(event) = session.poll_event() {
            if let SessionEvent::Media(MediaEvent::Frame(_)) = event {
                frames_heard += 1;
            }
        }
        now += Duration::from_millis(1);
    }
    let connected_at = connected_at.expect("ICE and DTLS never connected");
    assert!(
        connected_at < start + Duration::from_secs(2),
        "{connected_at:?}"
    );
    let stats = session.webrtc_stats().unwrap();
    assert!(stats.connected && stats.rtp_in > 100, "{stats:?}");
    assert!(
        frames_heard > 100,
        "the session heard {frames_heard} frames"
    );
    // The 1 s prompt is 50 packets of 20 ms; nothing plays after it.
    assert!(
        (48..=50).contains(&heard_by_browser),
        "the browser heard {heard_by_browser} packets"
    );
    // A datagram from elsewhere is refused by the transport, not heard.
    session.handle_rtp(
        now,
        "198.51.100.1:9".parse().unwrap(),
        &[0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
    );
    assert_eq!(session.webrtc_stats().unwrap().refused, stats.refused + 1);
}
