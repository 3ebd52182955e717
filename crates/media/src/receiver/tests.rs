use super::*;
use crate::dtmf_rfc4733::TelephoneEvent;
use crate::pacer::{Pacer, PacerConfig, Ptime};
use bytes::Bytes;
use std::f32::consts::PI;

fn peer() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

fn sine(freq: f32, amplitude: f32, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|n| (amplitude * (2.0 * PI * freq * n as f32 / 8000.0).sin()) as i16)
        .collect()
}

/// Packets a peer would send for `pcm`, produced by our own pacer.
fn packets(codec: G711, ptime: Ptime, pcm: Vec<i16>) -> Vec<(Instant, Bytes)> {
    let t0 = Instant::now();
    let mut pacer = Pacer::new(PacerConfig {
        ptime,
        ..PacerConfig::g711(codec, 0xABCD, 100, 0)
    });
    pacer.enqueue(t0, pcm);
    let mut out = Vec::new();
    while let Some(due) = pacer.poll_timeout() {
        pacer.handle_timeout(due);
        while let Some(p) = pacer.poll_packet() {
            out.push((p.due, p.packet.to_bytes().unwrap()));
        }
    }
    out
}

fn events(rx: &mut RtpReceiver) -> Vec<MediaEvent> {
    std::iter::from_fn(|| rx.poll_event()).collect()
}

fn frames(events: &[MediaEvent]) -> Vec<&Vec<i16>> {
    events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Frame(f) => Some(f),
            _ => None,
        })
        .collect()
}

#[test]
fn thirty_ms_alaw_packets_become_20_ms_frames_at_16k() {
    let mut rx = RtpReceiver::new(ReceiverConfig::g711(G711::Alaw, Some(101), 16000)).unwrap();
    rx.set_listening(true);
    for (t, d) in packets(G711::Alaw, Ptime::Ms30, sine(1000.0, 8000.0, 2400)) {
        rx.handle_datagram(t, peer(), &d);
    }
    let ev = events(&mut rx);
    let f = frames(&ev);
    // 2400 samples = 15 frames at 8 kHz; the resampler holds back its delay.
    assert!((13..=15).contains(&f.len()), "{} frames", f.len());
    assert!(f.iter().all(|f| f.len() == 320));
    assert_eq!(rx.remote(), Some(peer()));
    assert_eq!(rx.stats().jitter.lost, 0);
}

#[test]
fn no_frames_unless_listening_but_speech_is_still_noticed() {
    let mut rx = RtpReceiver::new(ReceiverConfig::g711(G711::Ulaw, Some(101), 8000)).unwrap();
    let mut pcm = vec![0; 1600];
    pcm.extend(sine(300.0, 8000.0, 4000));
    for (t, d) in packets(G711::Ulaw, Ptime::Ms20, pcm) {
        rx.handle_datagram(t, peer(), &d);
    }
    let ev = events(&mut rx);
    assert!(frames(&ev).is_empty());
    assert_eq!(ev, vec![MediaEvent::SpeechStarted]);
}

#[test]
fn speech_under_way_when_listening_opens_is_skipped_until_it_ends() {
    let mut rx = RtpReceiver::new(ReceiverConfig::g711(G711::Ulaw, None, 8000)).unwrap();
    // 0.5 s of speech before listening opens, 0.5 s after it, 1 s of
    // quiet, then a second utterance of 0.5 s.
    let mut pcm = sine(300.0, 8000.0, 4000);
    pcm.extend(sine(300.0, 8000.0, 4000));
    pcm.extend(vec![0; 8000]);
    pcm.extend(sine(300.0, 8000.0, 4000));
    let sent = packets(G711::Ulaw, Ptime::Ms20, pcm);
    let (before, after) = sent.split_at(25);
    for (t, d) in before {
        rx.handle_datagram(*t, peer(), d);
    }
    assert_eq!(events(&mut rx), vec![MediaEvent::SpeechStarted]);
    rx.set_listening(true);
    for (t, d) in after {
        rx.handle_datagram(*t, peer(), d);
    }
    rx.handle_timeout(sent[sent.len() - 1].0 + Duration::from_secs(1));
    let ev = events(&mut rx);
    let ended = ev
        .iter()
        .position(|e| *e == MediaEvent::SpeechEnded)
        .expect("the first utterance ends");
    assert!(
        frames(&ev[..ended]).is_empty(),
        "nothing of the utterance under way is heard"
    );
    let heard = frames(&ev[ended..]);
    let loud = heard
        .iter()
        .filter(|f| f.iter().any(|&s| s.unsigned_abs() > 1000))
        .count();
    assert!(
        loud >= 24,
        "the next utterance is heard whole: {loud} loud frames"
    );
}

#[test]
fn listening_opened_in_quiet_hears_from_the_first_frame() {
    let mut rx = RtpReceiver::new(ReceiverConfig::g711(G711::Ulaw, None, 8000)).unwrap();
    let mut pcm = vec![0; 1600];
    pcm.extend(sine(300.0, 8000.0, 4000));
    let sent = packets(G711::Ulaw, Ptime::Ms20, pcm);
    let (before, after) = sent.split_at(10);
    for (t, d) in before {
        rx.handle_datagram(*t, peer(), d);
    }
    rx.set_listening(true);
    for (t, d) in after {
        rx.handle_datagram(*t, peer(), d);
    }
    rx.handle_timeout(sent[sent.len() - 1].0 + Duration::from_secs(1));
    assert_eq!(frames(&events(&mut rx)).len(), 25);
}

#[test]
fn reordered_and_duplicated_packets_give_the_same_frames() {
    let sent = packets(G711::Ulaw, Ptime::Ms20, sine(440.0, 6000.0, 1600));
    let mut straight = RtpReceiver::new(ReceiverConfig::g711(G711::Ulaw, None, 8000)).unwrap();
    straight.set_listening(true);
    for (t, d) in &sent {
        straight.handle_datagram(*t, peer(), d);
    }
    let mut messy = RtpReceiver::new(ReceiverConfig::g711(G711::Ulaw, None, 8000)).unwrap();
    messy.set_listening(true);
    let order = [0usize, 2, 1, 3, 3, 5, 4, 6, 7, 9, 8, 8];
    let t = sent[9].0;
    for &i in &order {
        messy.handle_datagram(t, peer(), &sent[i].1);
    }
    assert_eq!(events(&mut messy), events(&mut straight));
    assert_eq!(messy.stats().jitter.duplicates, 2);
}

#[test]
fn a_lost_packet_is_concealed_so_frames_keep_time() {
    let sent = packets(G711::Ulaw, Ptime::Ms20, sine(440.0, 6000.0, 1600));
    let mut rx = RtpReceiver::new(ReceiverConfig::g711(G711::Ulaw, None, 8000)).unwrap();
    rx.set_listening(true);
    for (i, (t, d)) in sent.iter().enumerate() {
        if i != 4 {
            rx.handle_datagram(*t, peer(), d);
        }
    }
    rx.handle_timeout(sent[9].0 + Duration::from_secs(1));
    let ev = events(&mut rx);
    let f = frames(&ev);
    assert_eq!(f.len(), 10);
    let rms = |x: &[i16]| (x.iter().map(|&s| (s as f32).powi(2)).sum::<f32>() / 160.0).sqrt();
    assert!(
        rms(f[4]) > 0.8 * rms(f[3]),
        "the lost 20 ms are made up, not silence"
    );
    assert_eq!(rx.stats().concealed_samples, 160);
    assert_eq!(rx.stats().jitter.lost, 1);
}

#[test]
fn key_presses_and_unknown_types_in_the_audio_stream_are_not_loss() {
    let mut rx = RtpReceiver::new(ReceiverConfig::g711(G711::Ulaw, Some(101), 8000)).unwrap();
    let t = Instant::now();
    // Every packet of one key press carries the event's start timestamp.
    let packet = |seq: u16, pt: u8, payload: Vec<u8>| {
        RtpPacket {
            payload_type: pt,
            marker: false,
            sequence_number: seq,
            timestamp: if pt == 101 { 800 } else { u32::from(seq) * 160 },
            ssrc: 7,
            payload: Bytes::from(payload),
        }
        .to_bytes()
        .unwrap()
    };
    let key = |end: bool| {
        TelephoneEvent {
            event: 5,
            end,
            volume: 10,
            duration: 800,
        }
        .to_bytes()
        .to_vec()
    };
    let mut seq = 0u16;
    let mut send = |rx: &mut RtpReceiver, pt: u8, payload: Vec<u8>| {
        rx.handle_datagram(t, peer(), &packet(seq, pt, payload));
        seq += 1;
    };
    for _ in 0..5 {
        send(&mut rx, 0, vec![0xFF; 160]);
    }
    for end in [false, false, false, false, true, true, true] {
        send(&mut rx, 101, key(end));
    }
    send(&mut rx, 13, vec![0x40]);
    for _ in 0..5 {
        send(&mut rx, 0, vec![0xFF; 160]);
    }
    rx.handle_timeout(t + Duration::from_secs(1));
    let digits = events(&mut rx)
        .into_iter()
        .filter(|e| matches!(e, MediaEvent::Digit { .. }))
        .count();
    assert_eq!(digits, 1);
    assert_eq!(rx.stats().jitter.lost, 0, "{:?}", rx.stats());
}

/// Audio, a stretch the timestamps jump over, audio again; the stretch's
/// sequence numbers are taken by key-press packets (`lose_keys` false) or
/// missing (`lose_keys` true). Returns the frames and the stats.
fn audio_around_a_key_press(lose_keys: bool) -> (Vec<Vec<i16>>, ReceiverStats) {
    let mut rx = RtpReceiver::new(ReceiverConfig::g711(G711::Ulaw, Some(101), 8000)).unwrap();
    rx.set_listening(true);
    let t = Instant::now();
    let tone = sine(300.0, 8000.0, 160 * 20);
    let audio = |seq: u16, frame: usize| RtpPacket {
        payload_type: 0,
        marker: false,
        sequence_number: seq,
        timestamp: frame as u32 * 160,
        ssrc: 7,
        payload: {
            let mut encoded = Vec::new();
            G711::Ulaw.encode(&tone[frame * 160..(frame + 1) * 160], &mut encoded);
            Bytes::from(encoded)
        },
    };
    let key = |seq: u16, end: bool| RtpPacket {
        payload_type: 101,
        marker: false,
        sequence_number: seq,
        timestamp: 8 * 160,
        ssrc: 7,
        payload: Bytes::copy_from_slice(
            &TelephoneEvent {
                event: 5,
                end,
                volume: 10,
                duration: 640,
            }
            .to_bytes(),
        ),
    };
    // Frames 0-7 as audio; 8-11 carried by four key packets (seq 8-11);
    // audio again from frame 12 (seq 12).
    let mut sent = Vec::new();
    for frame in 0..8 {
        sent.push(audio(frame as u16, frame));
    }
    if !lose_keys {
        for seq in 8..12u16 {
            sent.push(key(seq, seq == 11));
        }
    }
    for frame in 12..20 {
        sent.push(audio(frame as u16, frame));
    }
    for (i, p) in sent.iter().enumerate() {
        let at = t + Duration::from_millis(20 * i as u64);
        rx.handle_datagram(at, peer(), &p.to_bytes().unwrap());
    }
    rx.handle_timeout(t + Duration::from_secs(2));
    let ev = events(&mut rx);
    let f = frames(&ev).into_iter().cloned().collect();
    (f, rx.stats())
}

#[test]
fn a_stretch_sent_as_key_presses_is_silence_and_only_lost_audio_is_concealed() {
    let (sent, stats) = audio_around_a_key_press(false);
    assert_eq!(sent.len(), 20, "the stretch keeps its time");
    assert!(
        sent[8..12].iter().all(|f| f.iter().all(|&s| s == 0)),
        "what the sender did not send as audio is silence"
    );
    assert_eq!((stats.concealed_samples, stats.unsent_samples), (0, 640));
    assert_eq!(stats.jitter.lost, 0);

    let (lost, stats) = audio_around_a_key_press(true);
    assert_eq!(lost.len(), 20);
    let level = |f: &Vec<i16>| f.iter().map(|&s| i64::from(s).abs()).sum::<i64>();
    assert!(
        level(&lost[8]) > level(&sent[7]) / 2,
        "lost audio is made up from what came before"
    );
    assert_eq!((stats.concealed_samples, stats.unsent_samples), (640, 0));
    assert_eq!(stats.jitter.lost, 4);
}

#[test]
fn telephone_events_become_digits_and_unknown_types_are_counted() {
    let mut rx = RtpReceiver::new(ReceiverConfig::g711(G711::Ulaw, Some(96), 8000)).unwrap();
    let t = Instant::now();
    let ev = |seq: u16, pt: u8, end: bool, duration: u16| RtpPacket {
        payload_type: pt,
        marker: false,
        sequence_number: seq,
        timestamp: 4000,
        ssrc: 7,
        payload: Bytes::copy_from_slice(
            &TelephoneEvent {
                event: 11,
                end,
                volume: 10,
                duration,
            }
            .to_bytes(),
        ),
    };
    for p in [
        ev(1, 96, false, 160),
        ev(2, 96, true, 800),
        ev(2, 96, true, 800),
    ] {
        rx.handle_datagram(t, peer(), &p.to_bytes().unwrap());
    }
    rx.handle_datagram(t, peer(), &ev(3, 13, false, 0).to_bytes().unwrap());
    rx.handle_datagram(t, peer(), &[0x80, 0x00]);
    assert_eq!(
        events(&mut rx),
        vec![MediaEvent::Digit {
            digit: Digit::from_char('#').unwrap(),
            source: DigitSource::Rfc4733,
            duration: Duration::from_millis(100),
        }]
    );
    let s = rx.stats();
    assert_eq!(
        (s.datagrams, s.unknown_payload_type, s.malformed),
        (5, 1, 1)
    );
    assert_eq!(s.rfc4733.duplicates, 1);
}

#[test]
fn inband_tones_become_digits_without_telephone_event() {
    let mut rx = RtpReceiver::new(ReceiverConfig::g711(G711::Ulaw, None, 8000)).unwrap();
    let mut pcm = vec![0i16; 800];
    let tone: Vec<i16> = (0..800)
        .map(|n| {
            let t = n as f32 / 8000.0;
            (5000.0 * ((2.0 * PI * 941.0 * t).sin() + (2.0 * PI * 1336.0 * t).sin())) as i16
        })
        .collect();
    pcm.extend(tone);
    pcm.extend(vec![0i16; 800]);
    for (t, d) in packets(G711::Ulaw, Ptime::Ms20, pcm) {
        rx.handle_datagram(t, peer(), &d);
    }
    let digits: Vec<_> = events(&mut rx)
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::Digit { digit, source, .. } => Some((digit.as_char(), source)),
            _ => None,
        })
        .collect();
    assert_eq!(digits, vec![('0', DigitSource::Inband)]);
}

/// In-band key presses of `keys`, `on_ms` of tones at -10 dBm0 each then `off_ms` of
/// silence, after 100 ms of silence.
fn inband_keys(keys: &str, on_ms: usize, off_ms: usize) -> Vec<i16> {
    const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLUMNS: [f32; 3] = [1209.0, 1336.0, 1477.0];
    let pad = ["123", "456", "789", "*0#"];
    let amplitude = crate::dtmf_inband::DBM0_PEAK * 10f32.powf(-10.0 / 20.0);
    let mut pcm = vec![0i16; 800];
    for key in keys.chars() {
        let row = pad.iter().position(|r| r.contains(key)).unwrap();
        let column = pad[row].find(key).unwrap();
        let (fr, fc) = (ROWS[row], COLUMNS[column]);
        pcm.extend((0..on_ms * 8).map(|n| {
            let t = n as f32 / 8000.0;
            (amplitude * ((2.0 * PI * fr * t).sin() + (2.0 * PI * fc * t).sin())) as i16
        }));
        pcm.extend(std::iter::repeat_n(0, off_ms * 8));
    }
    pcm.extend([0; 4000]);
    pcm
}

/// The digits heard from `pcm` sent as 20 ms µ-law packets with each packet lost with
/// probability `loss` (seeded, so the same packets every run).
fn inband_digits_through_loss(pcm: Vec<i16>, loss: f64, seed: u64) -> (String, u64) {
    let sent = packets(G711::Ulaw, Ptime::Ms20, pcm);
    let mut rx = RtpReceiver::new(ReceiverConfig::g711(G711::Ulaw, None, 8000)).unwrap();
    let mut state = seed;
    let mut last = sent[0].0;
    for (t, d) in &sent {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        if ((state >> 11) as f64 / (1u64 << 53) as f64) < loss {
            continue;
        }
        rx.handle_datagram(*t, peer(), d);
        last = *t;
    }
    rx.handle_timeout(last + Duration::from_secs(1));
    (digits(&mut rx), rx.stats().jitter.lost)
}

#[test]
fn inband_keys_are_all_heard_at_ten_percent_random_loss() {
    // Twelve 80 ms presses 80 ms apart, under 20 different loss patterns: 240 presses,
    // about one packet in ten lost (silence in place of the lost audio heard 11 of the
    // 20 sequences whole).
    let keys = "1234567890*#";
    let mut lost = 0;
    for seed in 1..=20 {
        let (heard, seed_lost) = inband_digits_through_loss(inband_keys(keys, 80, 80), 0.10, seed);
        assert_eq!(heard, keys, "loss pattern {seed}");
        lost += seed_lost;
    }
    let packets = 20 * (100 + 12 * 160 + 500) / 20;
    assert!(
        (packets / 12..packets / 8).contains(&lost),
        "{lost} of {packets} lost"
    );
}

#[cfg(feature = "opus")]
#[test]
fn opus_is_decoded_to_frames_and_a_lost_packet_is_concealed() {
    use crate::opus::OpusEncoder;
    let mut enc = OpusEncoder::new(48000).unwrap();
    let pcm: Vec<i16> = (0..48000)
        .map(|n| (6000.0 * (2.0 * PI * 400.0 * n as f32 / 48000.0).sin()) as i16)
        .collect();
    let t = Instant::now();
    let mut rx = RtpReceiver::new(ReceiverConfig::new(
        vec![(111, AudioCodec::Opus), (0, AudioCodec::G711(G711::Ulaw))],
        Some(101),
        16000,
    ))
    .unwrap();
    rx.set_listening(true);
    for (i, frame) in pcm.chunks(960).enumerate() {
        let payload = enc.encode(frame).unwrap();
        if i == 25 {
            continue;
        }
        let p = RtpPacket {
            payload_type: 111,
            marker: i == 0,
            sequence_number: i as u16,
            timestamp: 960 * i as u32,
            ssrc: 5,
            payload: Bytes::from(payload),
        };
        rx.handle_datagram(
            t + Duration::from_millis(20 * i as u64),
            peer(),
            &p.to_bytes().unwrap(),
        );
    }
    rx.handle_timeout(t + Duration::from_secs(5));
    let ev = events(&mut rx);
    let f = frames(&ev);
    assert_eq!(
        f.len(),
        50,
        "one second of 20 ms frames, the lost one included"
    );
    assert!(f.iter().all(|x| x.len() == 320));
    assert_eq!(rx.stats().concealed_samples, 160);
    assert_eq!(rx.stats().decode_errors, 0);
    let concealed = f[25].iter().map(|&s| (s as f32).abs()).sum::<f32>() / 320.0;
    assert!(concealed > 100.0, "loss concealment, not silence");
}

#[cfg(feature = "opus")]
#[test]
fn a_lost_opus_packet_is_restored_from_the_next_packets_fec() {
    use crate::opus::OpusEncoder;
    // A voice-like glide at 48 kHz: pitch and loudness change from frame to frame.
    let pcm: Vec<i16> = (0..48000)
        .map(|n| {
            let t = n as f32 / 48000.0;
            let phase = 2.0 * PI * (200.0 * t - 100.0 / (3.0 * PI) * (3.0 * PI * t).cos());
            let level = 6000.0 * (0.6 + 0.4 * (6.0 * PI * t).sin());
            (level * (phase.sin() + 0.5 * (2.0 * phase).sin())) as i16
        })
        .collect();
    // The frames a receiver hands out, with the packets in `lost` missing.
    let frames_of = |payloads: &[Vec<u8>], lost: &[usize]| -> Vec<i16> {
        let t = Instant::now();
        let mut rx = RtpReceiver::new(ReceiverConfig::new(
            vec![(111, AudioCodec::Opus)],
            None,
            8000,
        ))
        .unwrap();
        rx.set_listening(true);
        for (i, payload) in payloads.iter().enumerate() {
            if lost.contains(&i) {
                continue;
            }
            let p = RtpPacket {
                payload_type: 111,
                marker: i == 0,
                sequence_number: i as u16,
                timestamp: 960 * i as u32,
                ssrc: 5,
                payload: Bytes::from(payload.clone()),
            };
            let at = t + Duration::from_millis(20 * i as u64);
            rx.handle_datagram(at, peer(), &p.to_bytes().unwrap());
        }
        rx.handle_timeout(t + Duration::from_secs(5));
        frames(&events(&mut rx))
            .into_iter()
            .flatten()
            .copied()
            .collect()
    };
    let lost = [10, 20, 30, 40];
    let error_when_lost = |fec: bool| {
        let mut enc = OpusEncoder::new(48000).unwrap();
        if fec {
            enc.add_fec(20);
        }
        let payloads: Vec<Vec<u8>> = pcm.chunks(960).map(|f| enc.encode(f).unwrap()).collect();
        let whole = frames_of(&payloads, &[]);
        let lossy = frames_of(&payloads, &lost);
        assert_eq!(whole.len(), lossy.len());
        lost.iter()
            .flat_map(|&i| i * 160..(i + 1) * 160)
            .map(|n| (whole[n] as f32 - lossy[n] as f32).powi(2))
            .sum::<f32>()
    };
    let (with_fec, without) = (error_when_lost(true), error_when_lost(false));
    assert!(
        with_fec * 4.0 < without,
        "error in the lost frames: {with_fec:.3e} with FEC, {without:.3e} concealed"
    );
}

/// One RFC 4733 key press (start and end) of `event` at `timestamp`.
fn key(event: u8, first_seq: u16, timestamp: u32) -> [Bytes; 2] {
    [(false, 160), (true, 800)].map(|(end, duration)| {
        crate::dtmf_rfc4733::event_datagram(
            96,
            first_seq + end as u16,
            timestamp,
            event,
            end,
            duration,
        )
    })
}

/// Feeds one RFC 4733 key press (`key`'s digit, first sequence number
/// and timestamp) from `from`.
fn press(rx: &mut RtpReceiver, t: Instant, from: SocketAddr, (digit, seq, ts): (u8, u16, u32)) {
    for d in key(digit, seq, ts) {
        rx.handle_datagram(t, from, &d);
    }
}

fn digits(rx: &mut RtpReceiver) -> String {
    events(rx)
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Digit { digit, .. } => Some(digit.as_char()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_strict_source_drops_keys_injected_from_elsewhere_until_told_to_learn_again() {
    let mut rx = RtpReceiver::new(ReceiverConfig::g711(G711::Ulaw, Some(96), 8000)).unwrap();
    let t = Instant::now();
    let attacker: SocketAddr = "203.0.113.66:40000".parse().unwrap();
    press(&mut rx, t, peer(), (1, 1, 1000));
    press(&mut rx, t, attacker, (9, 3, 2000));
    assert_eq!(digits(&mut rx), "1", "the injected 9 is not heard");
    assert_eq!(rx.remote(), Some(peer()), "nor does it move our prompts");
    assert_eq!(rx.stats().foreign_source, 2);
    // A re-INVITE moved the caller's media: the next source is learnt.
    rx.forget_remote();
    let moved: SocketAddr = "198.51.100.9:41000".parse().unwrap();
    press(&mut rx, t, moved, (2, 5, 3000));
    assert_eq!(digits(&mut rx), "2");
    assert_eq!(rx.remote(), Some(moved));
}

#[test]
fn a_source_that_is_not_the_sdp_address_is_not_learnt_even_when_it_comes_first() {
    let mut config = ReceiverConfig::g711(G711::Ulaw, Some(96), 8000);
    config.sdp_source = Some(peer());
    let mut rx = RtpReceiver::new(config).unwrap();
    let t = Instant::now();
    let attacker: SocketAddr = "203.0.113.66:40000".parse().unwrap();
    press(&mut rx, t, attacker, (9, 1, 1000));
    assert_eq!(rx.remote(), None, "our prompts still go to the SDP address");
    press(&mut rx, t, peer(), (1, 3, 2000));
    assert_eq!(digits(&mut rx), "1", "the injected 9 is not heard");
    assert_eq!(rx.remote(), Some(peer()));
    assert_eq!(rx.strict_remote(), Some(peer()));
    assert_eq!(rx.stats().foreign_source, 2);
}

#[test]
fn without_a_strict_source_the_latest_source_is_followed() {
    let mut config = ReceiverConfig::g711(G711::Ulaw, Some(96), 8000);
    config.strict_source = false;
    let mut rx = RtpReceiver::new(config).unwrap();
    let t = Instant::now();
    let other: SocketAddr = "203.0.113.66:40000".parse().unwrap();
    press(&mut rx, t, peer(), (1, 1, 1000));
    press(&mut rx, t, other, (9, 3, 2000));
    assert_eq!(digits(&mut rx), "19");
    assert_eq!(rx.remote(), Some(other));
    assert_eq!(rx.stats().foreign_source, 0);
}

#[test]
fn malformed_datagrams_do_not_move_the_remote_address() {
    let mut rx = RtpReceiver::new(ReceiverConfig::g711(G711::Ulaw, None, 8000)).unwrap();
    let spoofer: SocketAddr = "127.0.0.1:6666".parse().unwrap();
    rx.handle_datagram(Instant::now(), spoofer, b"garbage that is not RTP");
    assert_eq!(rx.remote(), None);
}
