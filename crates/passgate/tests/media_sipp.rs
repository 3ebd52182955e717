//! The call's media proven against SIPp: each test starts the real
//! `passgate` binary, places one call with a scenario of `tests/sipp/`, and
//! checks what the agent heard (its log) and what it sent (a tshark capture
//! on SIPp's media port).
//!
//! Needs root (SIPp's `play_pcap_audio` and tshark capture on `lo`), `sipp`
//! (sip-tester) and `tshark`: `scripts/ensure-deps.sh` installs them.

mod support;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use media::G711;
use support::{
    free_media_port, offer_keys, sipp, sipp_on_media_port, Agent, Capture, CapturedRtp, SippRun,
};

/// One call at a time: the pacing checks measure time, which other agents
/// starting (each loads the speech model) would disturb.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The SDP answer in the 200 OK to the INVITE.
fn answer_of(run: &SippRun) -> String {
    run.received()
        .into_iter()
        .find(|m| m.contains("SIP/2.0 200 OK") && m.contains("CSeq: 1 INVITE") && m.contains("v=0"))
        .unwrap_or_else(|| panic!("no 200 with SDP to the INVITE:\n{}", run.messages))
        .to_string()
}

/// The RTP port of the answer's `m=audio` line.
fn answer_rtp_port(answer: &str) -> u16 {
    answer
        .lines()
        .find_map(|l| l.trim().strip_prefix("m=audio "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no m=audio port in {answer}"))
}

/// One "digit" line of the agent's log.
#[derive(Debug, PartialEq, Eq)]
struct DigitLine {
    digit: String,
    source: String,
    duration_ms: Option<u64>,
}

/// The digits the agent logged inside the span of call `call_id`, in order.
fn digits_logged(log: &str, call_id: &str) -> Vec<DigitLine> {
    let span = format!("call{{call_id={call_id}}}");
    log.lines()
        .filter(|l| l.contains(&span) && l.contains(": digit digit="))
        .map(|l| {
            let field = |name: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{name}=")))
                    .map(|v| v.trim_matches('"').to_string())
            };
            DigitLine {
                digit: field("digit").unwrap_or_default(),
                source: field("source").unwrap_or_default(),
                duration_ms: field("duration_ms").and_then(|d| d.parse().ok()),
            }
        })
        .collect()
}

/// Index of the first log line of call `call_id` containing `needle`.
fn line_of(log: &str, call_id: &str, needle: &str) -> Option<usize> {
    let span = format!("call{{call_id={call_id}}}");
    log.lines()
        .position(|l| l.contains(&span) && l.contains(needle))
}

/// What a stream of the agent's prompt packets measured.
#[derive(Debug)]
struct Pacing {
    packets: usize,
    seconds: f64,
    pps: f64,
    max_delta_ms: f64,
    /// Packets sent less than a quarter of a ptime after the one before: a
    /// burst, where the clock should have spaced them.
    bunched: usize,
    /// Packets whose payload is not near-silence.
    voiced: usize,
    talk_spurts: usize,
}

/// Checks the agent's RTP stream for the shape every prompt must have (one
/// SSRC and source port, the negotiated payload type and packet size,
/// continuous sequence numbers, timestamps advancing by one packet's samples
/// within a talk spurt, the marker bit on the first packet) and measures its
/// pacing.
fn check_stream(
    packets: &[CapturedRtp],
    from_port: u16,
    payload_type: u8,
    ptime_ms: u32,
) -> Pacing {
    let samples = 8 * ptime_ms;
    assert!(packets.len() > 10, "too few packets: {packets:?}");
    let codec = G711::from_payload_type(payload_type).expect("a G.711 payload type");
    let first = &packets[0];
    assert!(first.marker, "the first packet carries the marker bit");
    for p in packets {
        assert_eq!(p.src_port, from_port, "sent from the answer's RTP port");
        assert_eq!(p.ssrc, first.ssrc, "one SSRC: {p:?}");
        assert_eq!(p.payload_type, payload_type, "{p:?}");
        assert_eq!(
            p.payload.len(),
            samples as usize,
            "{ptime_ms} ms per packet"
        );
    }
    let mut talk_spurts = 1;
    let mut deltas = Vec::new();
    for w in packets.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        assert_eq!(
            b.seq,
            a.seq.wrapping_add(1),
            "sequence numbers are continuous: {a:?} then {b:?}"
        );
        if b.marker {
            // A new talk spurt: the timestamp covers the time without packets.
            talk_spurts += 1;
            assert!(
                b.timestamp.wrapping_sub(a.timestamp) >= samples,
                "{a:?} then {b:?}"
            );
        } else {
            assert_eq!(
                b.timestamp.wrapping_sub(a.timestamp),
                samples,
                "timestamps advance by {samples} within a talk spurt: {a:?} then {b:?}"
            );
        }
        deltas.push((b.time - a.time) * 1000.0);
    }
    let seconds = packets.last().unwrap().time - first.time;
    let max_delta_ms = deltas.iter().cloned().fold(0.0, f64::max);
    let bunched = deltas
        .iter()
        .filter(|&&d| d < ptime_ms as f64 / 4.0)
        .count();
    let voiced = packets
        .iter()
        .filter(|p| {
            p.payload
                .iter()
                .any(|&c| codec.decode_sample(c).unsigned_abs() > 1000)
        })
        .count();
    Pacing {
        packets: packets.len(),
        seconds,
        pps: (packets.len() - 1) as f64 / seconds,
        max_delta_ms,
        bunched,
        voiced,
        talk_spurts,
    }
}

/// Places a call of `media_listen.xml` (the caller stays silent for four
/// seconds) while capturing on SIPp's media port, and checks the agent's
/// prompt stream: ~1000/ptime packets per second, paced by the clock.
fn prompt_is_paced(agent: &Agent, codec_pt: &'static str, codec: &'static str, ptime: u32) {
    let media_port = free_media_port();
    let capture = Capture::start(media_port);
    let ptime_key: &'static str = if ptime == 20 { "20" } else { "30" };
    let run = sipp_on_media_port(
        "media_listen",
        agent.sip,
        media_port,
        &offer_keys(codec_pt, codec, "101", ptime_key),
    );
    let capture = capture.stop();
    run.assert_ok("a caller listening to the prompt");
    let answer = answer_of(&run);
    assert!(
        answer.contains(&format!(" RTP/AVP {codec_pt} 101")),
        "{answer}"
    );
    assert!(answer.contains(&format!("a=ptime:{ptime}")), "{answer}");
    let agent_port = answer_rtp_port(&answer);
    let packets: Vec<CapturedRtp> = capture
        .rtp(media_port)
        .into_iter()
        .filter(|p| p.dst_port == media_port)
        .collect();
    let pt: u8 = codec_pt.parse().unwrap();
    let pacing = check_stream(&packets, agent_port, pt, ptime);
    let streams = capture.rtp_streams(media_port);
    eprintln!("{codec}/{ptime} ms: {pacing:?}\n{streams}");

    let nominal = 1000.0 / ptime as f64;
    // The call lasts four seconds after the ACK, and the greeting and the
    // "press 1" prompt last longer: the agent sends the whole time.
    assert!(
        pacing.seconds > 3.5,
        "the prompt plays until the caller hangs up: {pacing:?}"
    );
    assert!(
        (nominal * 0.9..=nominal * 1.1).contains(&pacing.pps),
        "{nominal:.1} packets per second expected: {pacing:?}"
    );
    assert!(
        pacing.max_delta_ms <= 5.0 * ptime as f64,
        "no gap of more than five packets (a loaded machine wakes late by tens of ms): \
         {pacing:?}\n{streams}"
    );
    assert!(
        pacing.bunched * 20 <= pacing.packets,
        "paced by the clock, not sent in bursts: {pacing:?}\n{streams}"
    );
    assert!(
        pacing.voiced * 2 >= pacing.packets,
        "the packets carry speech, not silence: {pacing:?}"
    );
    assert!(
        streams.contains(if pt == 0 { "g711U" } else { "g711A" }),
        "{streams}"
    );
}

/// Issue 3, "Must show": a call that replays SIPp's `g711a.pcap` (PCMA, 30 ms)
/// then RFC 4733 digits from its `dtmf_2833_*.pcap` files (PT 101, end packet
/// sent three times), and the agent reports each digit once; the 1 answers
/// the "press 1" offer, so the flow moves on to the number entry.
#[test]
fn pcap_audio_then_rfc4733_digits_are_reported_once_each() {
    let _serial = serial();
    let agent = Agent::start(&[]);
    let media_port = free_media_port();
    let capture = Capture::start(media_port);
    let run = sipp_on_media_port("media_pcap_dtmf", agent.sip, media_port, &[]);
    let capture = capture.stop();
    run.assert_ok("g711a.pcap then DTMF pcaps");
    let call_id = run.call_id();
    let log = agent.wait_log(&["digit=9", "call finished"], Duration::from_secs(10));

    // What SIPp sent: the whole of both captures, from its media port.
    let rtp = capture.rtp(media_port);
    let to_agent: Vec<&CapturedRtp> = rtp.iter().filter(|p| p.src_port == media_port).collect();
    let audio = to_agent.iter().filter(|p| p.payload_type == 8).count();
    let events = to_agent.iter().filter(|p| p.payload_type == 101).count();
    assert_eq!((audio, events), (236, 30), "SIPp replayed the pcaps");

    let digits = digits_logged(&log, &call_id);
    let expected: Vec<DigitLine> = ["1", "5", "9"]
        .into_iter()
        .map(|d| DigitLine {
            digit: d.into(),
            source: "Rfc4733".into(),
            // 2240 samples in the pcaps' end packets.
            duration_ms: Some(280),
        })
        .collect();
    assert_eq!(digits, expected, "each digit once, from RTP\n{log}");

    // The flow heard the 1 as the answer to its offer.
    let offer = line_of(&log, &call_id, "playing prompt=NumberNotRecognized");
    let one = line_of(&log, &call_id, "digit digit=1");
    let entry = line_of(&log, &call_id, "playing prompt=EnterNumber");
    assert!(
        offer.is_some() && one.is_some() && offer < one && one < entry,
        "offer, 1, then the number entry prompt:\n{log}"
    );
    assert!(
        !log.contains("transferring (REFER)"),
        "no transfer within the call:\n{log}"
    );
    // Every datagram reached the call: the audio and the DTMF events.
    let finished = log
        .lines()
        .find(|l| l.contains(&call_id) && l.contains("call finished"))
        .unwrap_or_else(|| panic!("no 'call finished':\n{log}"));
    assert!(finished.contains("rtp_in=266 "), "{finished}");

    // Meanwhile the agent spoke, at the offered 30 ms.
    let agent_port = answer_rtp_port(&answer_of(&run));
    let from_agent: Vec<CapturedRtp> = rtp
        .iter()
        .filter(|p| p.dst_port == media_port)
        .cloned()
        .collect();
    let pacing = check_stream(&from_agent, agent_port, 8, 30);
    eprintln!(
        "digits {digits:?}; agent's prompts {pacing:?}\n{}",
        capture.rtp_streams(media_port)
    );
}

/// Issue 3, "Must show": the agent plays a prompt and the caller receives
/// about 50 packets per second of 20 ms µ-law (timestamps +160), and with a
/// 30 ms A-law offer about 33 per second (timestamps +240). The agent has
/// answered a call before, so its prompts are rendered already.
#[test]
fn prompt_is_sent_at_50_packets_per_second_and_33_at_30_ms() {
    let _serial = serial();
    let agent = Agent::start(&[]);
    let warm_up = sipp(
        "basic_call",
        agent.sip,
        &offer_keys("0", "PCMU", "101", "20"),
    );
    warm_up.assert_ok("warm-up call");
    prompt_is_paced(&agent, "0", "PCMU", 20);
    prompt_is_paced(&agent, "8", "PCMA", 30);
}

/// The first call after start-up, while prompts may still be rendering:
/// rendering happens off the call task, so the greeting keeps its 20 ms pace
/// (it once stalled ~200 ms and then burst while the next prompt rendered).
#[test]
fn first_call_prompt_is_paced_while_the_next_prompt_renders() {
    let _serial = serial();
    let agent = Agent::start(&[]);
    prompt_is_paced(&agent, "0", "PCMU", 20);
}

/// Issue 3, DTMF by SIP INFO: `application/dtmf-relay` ("Signal=1") and
/// `application/dtmf` ("7") are reported with source sip-info, and the 1
/// answers the offer.
#[test]
fn sip_info_digits_are_reported() {
    let _serial = serial();
    let agent = Agent::start(&[]);
    let run = sipp("media_info_dtmf", agent.sip, &[]);
    run.assert_ok("DTMF by SIP INFO");
    let call_id = run.call_id();
    let log = agent.wait_log(&["digit=7", "call finished"], Duration::from_secs(10));
    let digits = digits_logged(&log, &call_id);
    let expected: Vec<DigitLine> = ["1", "7"]
        .into_iter()
        .map(|d| DigitLine {
            digit: d.into(),
            source: "sip-info".into(),
            duration_ms: None,
        })
        .collect();
    assert_eq!(digits, expected, "{log}");
    let one = line_of(&log, &call_id, "digit digit=1");
    let entry = line_of(&log, &call_id, "playing prompt=EnterNumber");
    assert!(
        one.is_some() && one < entry,
        "1, then the number entry:\n{log}"
    );
}

/// A key sent by SIP INFO cuts the prompt short, as an RTP key does: the
/// number entry prompt starts (a new talk spurt) at once, not after the rest
/// of the "press 1" prompt: a key sent by SIP INFO interrupts like one in RTP.
#[test]
fn sip_info_digit_barges_in_on_the_prompt() {
    let (_, pacing) = prompt_around_an_info_key(&[]);
    // The call lasts 2.5 s after the ACK, the offer prompt alone about 8 s:
    // a second talk spurt within the call can only be the barge-in.
    assert!(
        pacing.talk_spurts >= 2,
        "the INFO key stopped the offer prompt: {pacing:?}"
    );
}

/// The same call with the offer prompt listed in `prompts.no_barge_in`: the
/// key still reaches the flow, but the prompt plays on as one talk spurt.
#[test]
fn a_prompt_listed_in_no_barge_in_plays_on_through_a_key() {
    let (agent, pacing) = prompt_around_an_info_key(&[(
        "PASSGATE_PROMPTS__NO_BARGE_IN",
        "[\"number_not_recognized\"]",
    )]);
    assert_eq!(
        pacing.talk_spurts, 1,
        "the offer prompt played on: {pacing:?}"
    );
    let log = agent.wait_log(&["source=\"sip-info\""], Duration::from_secs(5));
    assert!(
        log.contains("digit=1 source=\"sip-info\""),
        "the key still counted: {log}"
    );
}

/// `media_info_dtmf.xml` (a key by SIP INFO during the offer prompt) against
/// an agent with `env`; the pacing of what the agent sent meanwhile.
fn prompt_around_an_info_key(env: &[(&str, &str)]) -> (Agent, Pacing) {
    let _serial = serial();
    let agent = Agent::start(env);
    let media_port = free_media_port();
    let capture = Capture::start(media_port);
    let run = sipp_on_media_port("media_info_dtmf", agent.sip, media_port, &[]);
    let capture = capture.stop();
    run.assert_ok("DTMF by SIP INFO");
    let agent_port = answer_rtp_port(&answer_of(&run));
    let from_agent: Vec<CapturedRtp> = capture
        .rtp(media_port)
        .into_iter()
        .filter(|p| p.dst_port == media_port)
        .collect();
    let pacing = check_stream(&from_agent, agent_port, 0, 20);
    (agent, pacing)
}

/// An Opus-only caller: the answer is Opus and the prompt goes out as Opus
/// packets on the 48 kHz RTP clock (RFC 7587) that decode back to speech.
#[test]
fn an_opus_caller_hears_the_prompt_in_opus() {
    let _serial = serial();
    let agent = Agent::start(&[]);
    let media_port = free_media_port();
    let capture = Capture::start(media_port);
    let run = sipp_on_media_port("media_listen_opus", agent.sip, media_port, &[]);
    let capture = capture.stop();
    run.assert_ok("an Opus caller");
    let answer = answer_of(&run);
    assert!(answer.contains(" RTP/AVP 111 101"), "{answer}");
    assert!(answer.contains("a=rtpmap:111 opus/48000/2"), "{answer}");
    assert!(
        answer.contains("a=rtpmap:101 telephone-event/48000"),
        "{answer}"
    );
    let agent_port = answer_rtp_port(&answer);
    let packets: Vec<CapturedRtp> = capture
        .rtp(media_port)
        .into_iter()
        .filter(|p| p.dst_port == media_port && p.src_port == agent_port)
        .collect();
    assert!(
        packets.len() > 150,
        "about 50 packets a second for 4 s: {}",
        packets.len()
    );
    let mut decoder = media::OpusDecoder::new(8000).unwrap();
    let mut pcm = Vec::new();
    for pair in packets.windows(2) {
        assert_eq!(pair[0].payload_type, 111);
        assert_eq!(pair[1].seq, pair[0].seq.wrapping_add(1));
        if !pair[1].marker {
            assert_eq!(
                pair[1].timestamp.wrapping_sub(pair[0].timestamp),
                960,
                "20 ms at 48 kHz"
            );
        }
    }
    for p in &packets {
        decoder.decode(&p.payload, &mut pcm).unwrap();
    }
    let voiced = pcm
        .chunks(160)
        .filter(|f| f.iter().map(|&s| i32::from(s).abs()).max().unwrap_or(0) > 1000)
        .count();
    assert!(
        voiced > packets.len() / 2,
        "decoded speech in {voiced} of {} frames",
        packets.len()
    );
}
