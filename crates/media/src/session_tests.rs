use super::*;
use crate::g711::G711;
use crate::rtcp::parse_compound;
use std::time::Duration;

fn config() -> SessionConfig {
    SessionConfig {
        receiver: ReceiverConfig::g711(G711::Ulaw, Some(101), 16000),
        pacer: PacerConfig::g711(G711::Ulaw, 0xBEEF, 1, 0),
        cname: "passgate@test".into(),
        rtcp_interval: Duration::from_secs(5),
        srtp: None,
    }
}

fn peer() -> SocketAddr {
    "127.0.0.1:41000".parse().unwrap()
}

fn event_packet(seq: u16, end: bool, duration: u16) -> Vec<u8> {
    crate::dtmf_rfc4733::event_datagram(101, seq, 8000, 1, end, duration).to_vec()
}

/// Runs the session like its driver would, returning what it transmitted.
fn run(s: &mut MediaSession, until: Instant) -> Vec<Transmit> {
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut sent: Vec<Transmit> = std::iter::from_fn(|| s.poll_transmit()).collect();
    while let Some(due) = s.poll_timeout().filter(|&d| d <= until) {
        s.handle_timeout(due, wall);
        sent.extend(std::iter::from_fn(|| s.poll_transmit()));
    }
    sent
}

#[test]
fn a_key_press_barges_in_on_the_prompt() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(t0, config()).unwrap();
    s.set_barge_in(BargeIn::Digits);
    let prompt = s.play(t0, vec![1000; 8000]);
    let before = run(&mut s, t0 + Duration::from_millis(200));
    assert_eq!(before.len(), 11, "packets at 0, 20, ... 200 ms");
    let t1 = t0 + Duration::from_millis(210);
    s.handle_rtp(t1, peer(), &event_packet(1, true, 800));
    assert!(!s.is_playing());
    let after = run(&mut s, t0 + Duration::from_millis(1000));
    assert!(
        after.iter().all(|t| matches!(t, Transmit::Rtcp(_))),
        "no RTP after barge-in"
    );
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(events.contains(&SessionEvent::Prompt(PacerEvent::Stopped(prompt))));
    assert!(events
        .iter()
        .any(|e| matches!(e, SessionEvent::Media(MediaEvent::Digit { .. }))));
    assert_eq!(s.remote(), Some(peer()));
}

/// Loud µ-law audio: a 400 Hz tone, packet `seq` of a 20 ms stream.
fn loud_audio(seq: u16) -> Vec<u8> {
    let pcm: Vec<i16> = (0..160)
        .map(|i| {
            let t = (u32::from(seq) * 160 + i) as f32 / 8000.0;
            (12000.0 * (2.0 * std::f32::consts::PI * 400.0 * t).sin()) as i16
        })
        .collect();
    let mut payload = Vec::new();
    G711::Ulaw.encode(&pcm, &mut payload);
    RtpPacket {
        payload_type: 0,
        marker: seq == 0,
        sequence_number: seq,
        timestamp: u32::from(seq) * 160,
        ssrc: 9,
        payload: Bytes::from(payload),
    }
    .to_bytes()
    .unwrap()
    .to_vec()
}

#[test]
fn speech_interrupts_only_where_speech_is_an_answer() {
    for (mode, stopped) in [(BargeIn::Digits, false), (BargeIn::DigitsAndSpeech, true)] {
        let t0 = Instant::now();
        let mut s = MediaSession::new(t0, config()).unwrap();
        s.set_barge_in(mode);
        s.play(t0, vec![1000; 16000]);
        for seq in 0..40u16 {
            let at = t0 + Duration::from_millis(20 * u64::from(seq));
            run(&mut s, at);
            s.handle_rtp(at, peer(), &loud_audio(seq));
        }
        assert_eq!(!s.is_playing(), stopped, "{mode:?}");
    }
}

fn keys(local: u8, remote: u8) -> crate::srtp::SrtpConfig {
    let master = |b: u8| crate::srtp::SrtpMaster {
        key: vec![b; 16],
        salt: [b; 14],
    };
    crate::srtp::SrtpConfig {
        profile: crate::srtp::SrtpProfile::Aes128CmSha1_80,
        local: master(local),
        remote: master(remote),
    }
}

#[test]
fn with_srtp_only_authentic_packets_are_heard_and_every_packet_sent_is_protected() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(
        t0,
        SessionConfig {
            srtp: Some(keys(1, 2)),
            ..config()
        },
    )
    .unwrap();
    assert!(s.is_secure());
    let mut caller = Srtp::new(keys(2, 1)).unwrap();
    s.set_barge_in(BargeIn::Digits);
    s.play(t0, vec![1000; 8000]);
    let sent = run(&mut s, t0 + Duration::from_millis(100));
    for t in &sent {
        let Transmit::Rtp(b) = t else { continue };
        assert_eq!(b.len(), 12 + 160 + 10);
        assert!(caller.unprotect_rtp(b).is_some(), "opens with our key");
    }
    // A key press in plain RTP, then one with a flipped bit: neither is heard.
    let t1 = t0 + Duration::from_millis(110);
    s.handle_rtp(t1, peer(), &event_packet(1, true, 800));
    let mut tampered = caller
        .protect_rtp(&event_packet(2, true, 800))
        .unwrap()
        .to_vec();
    tampered[14] ^= 0x80;
    s.handle_rtp(t1, peer(), &tampered);
    assert!(s.is_playing(), "no barge-in from an unauthentic key");
    assert_eq!(s.remote(), None, "nothing unauthentic latches the source");
    let good = caller.protect_rtp(&event_packet(3, true, 800)).unwrap();
    s.handle_rtp(t1, peer(), &good);
    s.handle_rtp(t1, peer(), &good);
    assert!(!s.is_playing(), "the authentic key barges in");
    let stats = s.stats().srtp;
    // The plain packet is too short to carry a tag: malformed.
    assert_eq!(
        (
            stats.unprotected,
            stats.auth_failures,
            stats.replayed,
            stats.malformed
        ),
        (1, 1, 1, 1)
    );
    // A re-INVITE rekeys our side: the old key no longer opens what we send.
    s.renegotiate(SessionConfig {
        srtp: Some(keys(5, 2)),
        ..config()
    })
    .unwrap();
    s.play(t1, vec![1000; 800]);
    let after = run(&mut s, t1 + Duration::from_millis(60));
    let rtp: Vec<_> = after
        .iter()
        .filter_map(|t| match t {
            Transmit::Rtp(b) => Some(b),
            _ => None,
        })
        .collect();
    assert!(!rtp.is_empty());
    assert!(rtp.iter().all(|b| caller.unprotect_rtp(b).is_none()));
    assert_eq!(s.stats().srtp.auth_failures, 1, "counts survive a rekey");
}

#[test]
fn a_key_from_sip_info_barges_in_like_one_in_rtp() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(t0, config()).unwrap();
    s.play(t0, vec![1000; 8000]);
    s.external_digit();
    assert!(s.is_playing(), "barge-in is off");
    s.set_barge_in(BargeIn::Digits);
    s.external_digit();
    assert!(!s.is_playing());
}

#[test]
fn without_barge_in_the_prompt_plays_to_the_end() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(t0, config()).unwrap();
    let prompt = s.play(t0, vec![1000; 1600]);
    s.handle_rtp(
        t0 + Duration::from_millis(50),
        peer(),
        &event_packet(1, true, 800),
    );
    let sent = run(&mut s, t0 + Duration::from_secs(1));
    let rtp = sent
        .iter()
        .filter(|t| matches!(t, Transmit::Rtp(_)))
        .count();
    assert_eq!(rtp, 10, "1600 samples are ten packets, none cut short");
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(events.contains(&SessionEvent::Prompt(PacerEvent::Finished(prompt))));
}

#[test]
fn rtcp_reports_go_out_every_interval_and_count_what_was_sent() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(t0, config()).unwrap();
    s.play(t0, vec![0; 8000]);
    for i in 0..100u16 {
        let audio = RtpPacket {
            payload_type: 0,
            marker: false,
            sequence_number: i,
            timestamp: 160 * i as u32,
            ssrc: 3,
            payload: Bytes::from(vec![0xFF; 160]),
        };
        s.handle_rtp(
            t0 + Duration::from_millis(20 * i as u64),
            peer(),
            &audio.to_bytes().unwrap(),
        );
    }
    let sent = run(&mut s, t0 + Duration::from_secs(11));
    let reports: Vec<_> = sent
        .iter()
        .filter_map(|t| match t {
            Transmit::Rtcp(r) => Some(parse_compound(r).unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(reports.len(), 2, "at 5 s and 10 s");
    let stats = s.stats();
    assert_eq!(stats.rtcp.sent_packets, 50);
    assert_eq!(stats.rtcp.received_packets, 100);
    assert_eq!(stats.receiver.datagrams, 100);
    // RTCP multiplexed on the RTP port reaches the RTCP session, not the audio path.
    s.handle_rtp(
        t0 + Duration::from_secs(11),
        peer(),
        &[0x80, 201, 0, 1, 0, 0, 0, 3],
    );
    assert_eq!(s.stats().receiver.malformed, 0);
}

fn rtp_of(sent: &[Transmit]) -> Vec<RtpPacket> {
    sent.iter()
        .filter_map(|t| match t {
            Transmit::Rtp(b) => Some(RtpPacket::parse(b).unwrap()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_renegotiated_codec_is_sent_and_read_from_then_on() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(t0, config()).unwrap();
    s.play(t0, vec![1000; 8000]);
    let before = rtp_of(&run(&mut s, t0 + Duration::from_millis(100)));
    assert!(before.iter().all(|p| p.payload_type == 0));
    s.renegotiate(SessionConfig {
        receiver: ReceiverConfig::g711(G711::Alaw, Some(120), 16000),
        pacer: PacerConfig::g711(G711::Alaw, 1, 1, 1),
        cname: "ignored".into(),
        rtcp_interval: Duration::from_secs(5),
        srtp: None,
    })
    .unwrap();
    let after = rtp_of(&run(&mut s, t0 + Duration::from_millis(300)));
    assert!(
        !after.is_empty()
            && after
                .iter()
                .all(|p| p.payload_type == 8 && p.ssrc == 0xBEEF)
    );
    // The caller's A-law is audio now, its PCMU a stray payload type, and
    // its key presses come as PT 120.
    s.set_listening(true);
    let mut alaw = loud_audio(0);
    alaw[1] = 8;
    s.handle_rtp(t0 + Duration::from_millis(300), peer(), &alaw);
    s.handle_rtp(t0 + Duration::from_millis(300), peer(), &loud_audio(1));
    let mut key = crate::dtmf_rfc4733::event_datagram(120, 2, 8000, 1, true, 800).to_vec();
    key[8..12].copy_from_slice(&9u32.to_be_bytes());
    s.handle_rtp(t0 + Duration::from_millis(320), peer(), &key);
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(events
        .iter()
        .any(|e| matches!(e, SessionEvent::Media(MediaEvent::Frame(_)))));
    assert!(events
        .iter()
        .any(|e| matches!(e, SessionEvent::Media(MediaEvent::Digit { .. }))));
    assert_eq!(s.stats().receiver.unknown_payload_type, 1);
}

#[test]
fn commands_name_the_prompt_and_a_move_relearns_the_source_but_a_hold_does_not() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.receiver.strict_source = true;
    cfg.receiver.sdp_source = Some(peer());
    let mut s = MediaSession::new(t0, cfg).unwrap();
    let clip = ClipId(7);
    s.apply(
        t0,
        Command::Play {
            id: clip,
            pcm: vec![1000; 800].into(),
        },
    )
    .unwrap();
    s.handle_rtp(t0, peer(), &loud_audio(0));
    assert_eq!(s.remote(), Some(peer()));
    // A hold's unspecified address moves nothing.
    s.apply(t0, Command::RemoteMoved("0.0.0.0:41000".parse().unwrap()))
        .unwrap();
    assert_eq!(s.remote(), Some(peer()));
    // A new address: the old source is foreign now, the new one is learnt.
    let moved: SocketAddr = "127.0.0.2:42000".parse().unwrap();
    s.apply(t0, Command::RemoteMoved(moved)).unwrap();
    assert_eq!(s.remote(), None);
    s.handle_rtp(t0 + Duration::from_millis(20), peer(), &loud_audio(1));
    assert_eq!(s.remote(), None, "the old address is not heard");
    s.handle_rtp(t0 + Duration::from_millis(40), moved, &loud_audio(2));
    assert_eq!(s.remote(), Some(moved));
    run(&mut s, t0 + Duration::from_secs(1));
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(events.contains(&SessionEvent::Prompt(PacerEvent::Started(clip))));
    assert!(events.contains(&SessionEvent::Prompt(PacerEvent::Finished(clip))));
}

#[test]
fn a_held_call_sends_no_rtp_and_takes_no_keys_until_resumed() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(t0, config()).unwrap();
    s.set_barge_in(BargeIn::Digits);
    let prompt = s.play(t0, vec![1000; 8000]);
    run(&mut s, t0 + Duration::from_millis(100));
    s.set_held(t0 + Duration::from_millis(110), true);
    s.handle_rtp(
        t0 + Duration::from_millis(200),
        peer(),
        &event_packet(1, true, 800),
    );
    let held = run(&mut s, t0 + Duration::from_secs(6));
    assert!(rtp_of(&held).is_empty(), "no RTP while held");
    assert!(
        held.iter().any(|t| matches!(t, Transmit::Rtcp(_))),
        "RTCP goes on"
    );
    assert!(s.is_playing(), "the key did not cut the prompt");
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(
        !events.iter().any(|e| matches!(e, SessionEvent::Media(_))),
        "{events:?}"
    );
    let resumed = t0 + Duration::from_secs(6);
    s.set_held(resumed, false);
    let after = rtp_of(&run(&mut s, resumed + Duration::from_secs(1)));
    assert_eq!(
        after.len(),
        50 - 6,
        "the rest of the prompt: {}",
        after.len()
    );
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(events.contains(&SessionEvent::Prompt(PacerEvent::Finished(prompt))));
}
