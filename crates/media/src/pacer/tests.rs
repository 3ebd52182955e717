use super::*;

fn pacer(ptime: Ptime, between: BetweenPrompts) -> Pacer {
    Pacer::new(PacerConfig {
        ptime,
        between_prompts: between,
        ..PacerConfig::g711(G711::Ulaw, 0x1234, 1000, 50_000)
    })
}

fn prompt(samples: usize) -> Vec<i16> {
    (0..samples).map(|i| ((i % 50) as i16 - 25) * 400).collect()
}

/// Drives the pacer exactly as a driver would: wake at each deadline, collect packets.
fn run(p: &mut Pacer, until: Instant) -> Vec<OutgoingPacket> {
    let mut sent = Vec::new();
    while let Some(due) = p.poll_timeout().filter(|&d| d <= until) {
        p.handle_timeout(due);
        let batch: Vec<_> = std::iter::from_fn(|| p.poll_packet()).collect();
        assert!(
            batch.len() <= 1,
            "burst of {} packets at one instant",
            batch.len()
        );
        sent.extend(batch);
    }
    sent
}

#[test]
fn three_second_prompt_gives_150_packets_paced_every_20_ms() {
    let t0 = Instant::now();
    let mut p = pacer(Ptime::Ms20, BetweenPrompts::Nothing);
    let id = p.enqueue(t0, prompt(24_000));
    let sent = run(&mut p, t0 + Duration::from_secs(10));
    assert_eq!(sent.len(), 150);
    for (k, out) in sent.iter().enumerate() {
        assert_eq!(out.due, t0 + Duration::from_millis(20 * k as u64));
        assert_eq!(out.packet.timestamp, 50_000 + 160 * k as u32);
        assert_eq!(out.packet.sequence_number, 1000 + k as u16);
        assert_eq!(out.packet.marker, k == 0);
        assert_eq!(out.packet.payload.len(), 160);
        assert_eq!(out.prompt, Some(id));
    }
    assert_eq!(p.poll_timeout(), None);
    assert_eq!(p.poll_event(), Some(PacerEvent::Started(id)));
    assert_eq!(p.poll_event(), Some(PacerEvent::Finished(id)));
}

#[cfg(feature = "opus")]
#[test]
fn opus_packets_carry_the_prompt_on_a_48_khz_clock() {
    let t0 = Instant::now();
    let mut p = Pacer::new(PacerConfig::opus(111, 7, 1, 0));
    let tone: Vec<i16> = (0..8000)
        .map(|i| (8000.0 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 8000.0).sin()) as i16)
        .collect();
    p.enqueue(t0, tone);
    let sent = run(&mut p, t0 + Duration::from_secs(2));
    assert_eq!(sent.len(), 50, "one second in 20 ms packets");
    let mut decoder = crate::opus::OpusDecoder::new(8000).unwrap();
    let mut pcm = Vec::new();
    for (k, out) in sent.iter().enumerate() {
        assert_eq!(out.packet.payload_type, 111);
        assert_eq!(
            out.packet.timestamp,
            960 * k as u32,
            "RFC 7587: 48 kHz clock"
        );
        assert!(!out.packet.payload.is_empty() && out.packet.payload.len() < 160);
        decoder.decode(&out.packet.payload, &mut pcm).unwrap();
    }
    assert_eq!(pcm.len(), 8000);
    let rms = (pcm[2000..]
        .iter()
        .map(|&s| f64::from(s).powi(2))
        .sum::<f64>()
        / 6000.0)
        .sqrt();
    assert!(rms > 3000.0, "the tone came through: rms {rms}");
}

#[test]
fn nothing_is_sent_before_it_is_due() {
    let t0 = Instant::now();
    let mut p = pacer(Ptime::Ms20, BetweenPrompts::Nothing);
    p.enqueue(t0, prompt(1600));
    p.handle_timeout(t0);
    assert!(p.poll_packet().is_some());
    p.handle_timeout(t0 + Duration::from_millis(19));
    assert!(p.poll_packet().is_none());
    p.handle_timeout(t0 + Duration::from_millis(20));
    assert!(p.poll_packet().is_some());
}

#[test]
fn ptime_sets_packet_size_and_spacing_and_the_tail_is_padded() {
    for (ptime, spp, ms) in [(Ptime::Ms10, 80, 10), (Ptime::Ms30, 240, 30)] {
        let t0 = Instant::now();
        let mut p = pacer(ptime, BetweenPrompts::Nothing);
        p.enqueue(t0, prompt(1000));
        let sent = run(&mut p, t0 + Duration::from_secs(1));
        assert_eq!(sent.len(), 1000usize.div_ceil(spp));
        assert_eq!(sent[1].due - sent[0].due, Duration::from_millis(ms));
        assert_eq!(
            sent[1].packet.timestamp - sent[0].packet.timestamp,
            spp as u32
        );
        let last = &sent.last().unwrap().packet.payload;
        assert_eq!(last.len(), spp);
        assert_eq!(*last.last().unwrap(), G711::Ulaw.silence());
    }
}

#[test]
fn queued_prompts_continue_the_spurt_and_the_sequence() {
    let t0 = Instant::now();
    let mut p = Pacer::new(PacerConfig::g711(G711::Alaw, 1, 65534, u32::MAX - 100));
    let a = p.enqueue(t0, prompt(320));
    let b = p.enqueue(t0, prompt(480));
    let sent = run(&mut p, t0 + Duration::from_secs(1));
    let seqs: Vec<u16> = sent.iter().map(|o| o.packet.sequence_number).collect();
    assert_eq!(seqs, vec![65534, 65535, 0, 1, 2]);
    let markers: Vec<bool> = sent.iter().map(|o| o.packet.marker).collect();
    assert_eq!(markers, vec![true, false, false, false, false]);
    assert_eq!(sent[2].packet.timestamp, (u32::MAX - 100).wrapping_add(320));
    assert_eq!(sent[2].prompt, Some(b));
    assert_eq!(sent[0].packet.payload_type, 8);
    let events: Vec<_> = std::iter::from_fn(|| p.poll_event()).collect();
    use PacerEvent::*;
    assert_eq!(
        events,
        vec![Started(a), Finished(a), Started(b), Finished(b)]
    );
}

#[test]
fn silence_packets_fill_the_gap_between_prompts() {
    let t0 = Instant::now();
    let mut p = pacer(
        Ptime::Ms20,
        BetweenPrompts::Silence(Duration::from_millis(100)),
    );
    p.enqueue(t0, prompt(320));
    p.enqueue(t0, prompt(320));
    let sent = run(&mut p, t0 + Duration::from_secs(1));
    assert_eq!(sent.len(), 2 + 5 + 2);
    for s in &sent[2..7] {
        assert_eq!(s.prompt, None);
        assert!(s.packet.payload.iter().all(|&b| b == 0xFF));
    }
    assert!(sent[1..].iter().all(|o| !o.packet.marker));
    for (k, s) in sent.iter().enumerate() {
        assert_eq!(s.due, t0 + Duration::from_millis(20 * k as u64));
        assert_eq!(s.packet.timestamp, 50_000 + 160 * k as u32);
    }
}

#[test]
fn a_pause_between_prompts_starts_a_new_spurt_with_timestamps_for_the_gap() {
    let t0 = Instant::now();
    let mut p = pacer(
        Ptime::Ms20,
        BetweenPrompts::Pause(Duration::from_millis(100)),
    );
    p.enqueue(t0, prompt(320));
    p.enqueue(t0, prompt(320));
    let sent = run(&mut p, t0 + Duration::from_secs(1));
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[2].due, t0 + Duration::from_millis(20 + 20 + 100));
    assert!(sent[2].packet.marker);
    assert_eq!(
        sent[2].packet.timestamp,
        sent[1].packet.timestamp + 160 + 800
    );
    assert_eq!(
        sent[2].packet.sequence_number,
        sent[1].packet.sequence_number + 1
    );
}

#[test]
fn stop_takes_effect_for_the_next_packet() {
    let t0 = Instant::now();
    let mut p = pacer(Ptime::Ms20, BetweenPrompts::Nothing);
    let a = p.enqueue(t0, prompt(8000));
    let b = p.enqueue(t0, prompt(8000));
    let sent = run(&mut p, t0 + Duration::from_millis(100));
    assert_eq!(sent.len(), 6);
    p.handle_timeout(t0 + Duration::from_millis(120)); // produced but not yet polled
    p.stop();
    assert_eq!(p.poll_packet(), None);
    assert_eq!(p.poll_timeout(), None);
    assert!(!p.is_playing());
    p.handle_timeout(t0 + Duration::from_secs(5));
    assert_eq!(p.poll_packet(), None);
    let events: Vec<_> = std::iter::from_fn(|| p.poll_event()).collect();
    use PacerEvent::*;
    assert_eq!(events, vec![Started(a), Stopped(a), Stopped(b)]);

    // The next prompt starts a new spurt; the timestamp covers the silence.
    let t1 = t0 + Duration::from_millis(1000);
    p.enqueue(t1, prompt(160));
    let next = run(&mut p, t1 + Duration::from_secs(1));
    assert_eq!(next.len(), 1);
    assert!(next[0].packet.marker);
    assert_eq!(next[0].due, t1);
    // The packet produced for 120 ms was never polled, so its number is reused.
    assert_eq!(next[0].packet.sequence_number, 1006);
    assert_eq!(next[0].packet.timestamp, 50_000 + 8 * 1000);
}

#[test]
fn an_empty_prompt_sends_nothing_but_still_finishes() {
    let t0 = Instant::now();
    let mut p = pacer(Ptime::Ms20, BetweenPrompts::Nothing);
    let empty = p.enqueue(t0, Vec::new());
    let real = p.enqueue(t0, prompt(160));
    let sent = run(&mut p, t0 + Duration::from_secs(1));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].prompt, Some(real));
    assert!(sent[0].packet.marker);
    let events: Vec<_> = std::iter::from_fn(|| p.poll_event()).collect();
    use PacerEvent::*;
    assert_eq!(
        events,
        vec![
            Started(empty),
            Finished(empty),
            Started(real),
            Finished(real)
        ]
    );
}

#[test]
fn a_prompt_queued_right_after_another_ends_is_not_sent_early() {
    let t0 = Instant::now();
    let mut p = pacer(Ptime::Ms20, BetweenPrompts::Nothing);
    p.enqueue(t0, prompt(160));
    let first = run(&mut p, t0 + Duration::from_secs(1));
    assert_eq!(first.len(), 1);
    p.enqueue(t0 + Duration::from_millis(5), prompt(160));
    assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_millis(20)));
}

fn with_idle(idle: IdleFill) -> Pacer {
    Pacer::new(PacerConfig {
        idle,
        ..PacerConfig::g711(G711::Ulaw, 0x1234, 1000, 50_000)
    })
}

#[test]
fn silence_keeps_the_stream_alive_between_prompts_on_one_grid() {
    let t0 = Instant::now();
    let mut p = with_idle(IdleFill::Silence);
    assert_eq!(p.poll_timeout(), None, "nothing before the first prompt");
    p.enqueue(t0, prompt(1600));
    let sent = run(&mut p, t0 + Duration::from_millis(1000));
    assert_eq!(
        sent.len(),
        51,
        "10 prompt packets, then silence every 20 ms"
    );
    assert!(!p.is_playing(), "silence is not a prompt");
    for w in sent.windows(2) {
        assert_eq!(w[1].due - w[0].due, Duration::from_millis(20));
        assert_eq!(w[1].packet.sequence_number, w[0].packet.sequence_number + 1);
        assert_eq!(w[1].packet.timestamp, w[0].packet.timestamp + 160);
        assert!(!w[1].packet.marker, "one unbroken stream");
    }
    assert!(sent[10..].iter().all(|o| o.prompt.is_none()
        && o.packet.payload_type == 0
        && o.packet.payload.iter().all(|&b| b == 0xFF)));
    // The next prompt takes the next slot of the grid.
    let at = t0 + Duration::from_millis(1005);
    p.enqueue(at, prompt(160));
    let next = run(&mut p, t0 + Duration::from_millis(1020));
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].due, t0 + Duration::from_millis(1020));
    assert!(next[0].prompt.is_some());
    assert!(
        next[0].packet.marker,
        "a prompt after silence starts a talk spurt"
    );
    assert_eq!(next[0].packet.timestamp, sent[50].packet.timestamp + 160);
}

#[test]
fn comfort_noise_marks_the_pause_and_repeats_until_the_next_prompt() {
    let t0 = Instant::now();
    let mut p = with_idle(IdleFill::ComfortNoise(13));
    p.enqueue(t0, prompt(160));
    let sent = run(&mut p, t0 + Duration::from_millis(1000));
    let noise: Vec<_> = sent
        .iter()
        .filter(|o| o.packet.payload_type == 13)
        .collect();
    assert_eq!(sent.len(), 1 + noise.len());
    assert_eq!(noise.len(), 5, "at 20, 220, 420, 620 and 820 ms");
    assert_eq!(noise[0].due, t0 + Duration::from_millis(20));
    assert!(noise.iter().all(|o| o.packet.payload.len() == 1));
    assert_eq!(noise[1].packet.timestamp - noise[0].packet.timestamp, 1600);
    p.enqueue(t0 + Duration::from_millis(1000), prompt(160));
    let next = run(&mut p, t0 + Duration::from_millis(1000));
    assert!(
        next[0].packet.marker,
        "a prompt after comfort noise is a new talk spurt"
    );
    assert_eq!(
        next[0].packet.timestamp - noise[4].packet.timestamp,
        180 * 8,
        "the timestamp covers the pause"
    );
}

#[test]
fn a_held_stream_sends_nothing_and_the_prompt_resumes_where_it_stopped() {
    let t0 = Instant::now();
    let mut p = with_idle(IdleFill::Silence);
    let id = p.enqueue(t0, prompt(1600));
    let before = run(&mut p, t0 + Duration::from_millis(90));
    assert_eq!(before.len(), 5);
    p.set_held(t0 + Duration::from_millis(95), true);
    assert_eq!(p.poll_timeout(), None);
    p.handle_timeout(t0 + Duration::from_secs(5));
    assert_eq!(p.poll_packet(), None, "nothing while held");
    assert!(p.is_playing(), "the prompt is paused, not over");
    let resumed_at = t0 + Duration::from_secs(5);
    p.set_held(resumed_at, false);
    let after = run(&mut p, resumed_at + Duration::from_millis(90));
    let prompt_packets = after.iter().filter(|o| o.prompt == Some(id)).count();
    assert_eq!(prompt_packets, 5, "the other half of the prompt");
    assert_eq!(after[0].due, resumed_at);
    assert!(after[0].packet.marker, "a new talk spurt after the hold");
    assert_eq!(
        after[0].packet.sequence_number,
        before[4].packet.sequence_number + 1
    );
    let gap = after[0].packet.timestamp - before[4].packet.timestamp;
    assert!(gap >= 8 * 4900, "timestamp covers the hold: {gap}");
    let events: Vec<_> = std::iter::from_fn(|| p.poll_event()).collect();
    assert_eq!(
        events,
        vec![PacerEvent::Started(id), PacerEvent::Finished(id)]
    );
}

#[test]
fn a_renegotiated_codec_and_ptime_take_over_from_the_next_packet() {
    let t0 = Instant::now();
    let mut p = pacer(Ptime::Ms20, BetweenPrompts::Nothing);
    p.enqueue(t0, prompt(1600));
    let before = run(&mut p, t0 + Duration::from_millis(80));
    assert!(before.iter().all(|o| o.packet.payload_type == 0));
    p.renegotiate(PacerConfig {
        ptime: Ptime::Ms30,
        ..PacerConfig::g711(G711::Alaw, 0x9999, 1, 1)
    });
    let after = run(&mut p, t0 + Duration::from_secs(2));
    assert!(after
        .iter()
        .all(|o| o.packet.payload_type == 8 && o.packet.ssrc == 0x1234));
    assert_eq!(
        after[0].packet.sequence_number,
        before[4].packet.sequence_number + 1
    );
    assert_eq!(after[0].packet.payload.len(), 240, "30 ms of A-law");
    assert_eq!(after[1].due - after[0].due, Duration::from_millis(30));
    let mut expected = Vec::new();
    G711::Alaw.encode(&prompt(1600)[800..1040], &mut expected);
    assert_eq!(
        after[0].packet.payload[..],
        expected[..],
        "the prompt goes on, in A-law"
    );
    // 1600 samples: 800 sent at 20 ms, 800 left in 30 ms packets (the last padded).
    assert_eq!(after.len(), 4);
}
