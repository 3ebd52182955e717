//! What a PBX or trunk does to a call's media after the INVITE, against the
//! real binary: a delayed offer answered in the ACK, a re-INVITE that changes
//! the codec, a hold while Passgate listens, and a long wait for keys. Each
//! test places one call with SIPp and reads Passgate's RTP from a tshark
//! capture of its own port range.
//!
//! Needs root (tshark on `lo`), `sipp`, `tshark`, `espeak-ng` and `sox`:
//! `scripts/ensure-deps.sh` installs them.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use support::cli::spoken_as;
use support::udp_caller::{answer_rtp_port, offer, UdpCaller};
use support::{free_port, Agent, Capture, CapturedRtp, SippOptions, SippRun};

/// One call at a time: the gap checks measure time, which other agents
/// starting (each loads the speech model) would disturb.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// An agent whose RTP ports are a range of our choosing, so a capture can
/// be started on it before the call.
fn agent_on_own_ports(env: &[(&str, &str)]) -> (Agent, Capture) {
    let first = 30000 + (free_port() % 14000) / 2 * 2;
    let range = format!("{first}-{}", first + 40);
    let mut all: Vec<(&str, &str)> = vec![("PASSGATE_RTP__PORT_RANGE", range.as_str())];
    all.extend_from_slice(env);
    let capture = Capture::start_filter(&format!("udp portrange {first}-{}", first + 40));
    (Agent::start(&all), capture)
}

fn sipp_in(dir: &Path, scenario: &str, agent: &Agent, extra: &[&str]) -> SippRun {
    support::sipp_with(
        scenario,
        agent.sip,
        &SippOptions {
            dir: Some(dir),
            timeout_secs: Some(90),
            extra,
            ..Default::default()
        },
    )
}

/// The RTP port of the `m=audio` line in the first 200 carrying SDP.
fn our_rtp_port(run: &SippRun) -> u16 {
    run.received()
        .into_iter()
        .filter(|m| m.contains("SIP/2.0 200") && m.contains("v=0"))
        .find_map(|m| {
            m.lines()
                .find_map(|l| l.trim().strip_prefix("m=audio "))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|p| p.parse().ok())
        })
        .unwrap_or_else(|| panic!("no 200 with SDP:\n{}", run.messages))
}

/// What Passgate sent from its RTP port, in order.
fn sent_by_passgate(capture: Capture, port: u16) -> Vec<CapturedRtp> {
    capture
        .stop()
        .rtp(port)
        .into_iter()
        .filter(|p| p.src_port == port)
        .collect()
}

/// The longest gap between two consecutive packets, in seconds, and where
/// it ends (index of the packet after it).
fn longest_gap(packets: &[CapturedRtp]) -> (f64, usize) {
    packets
        .windows(2)
        .enumerate()
        .map(|(i, w)| (w[1].time - w[0].time, i + 1))
        .fold((0.0, 0), |best, g| if g.0 > best.0 { g } else { best })
}

fn assert_ok(run: &SippRun, agent: &Agent, what: &str) {
    run.assert_ok(&format!(
        "{what}\n--- passgate log ---\n{}",
        agent.log_text()
    ));
}

#[test]
fn a_reinvite_to_pcma_moves_our_rtp_to_pt_8_and_the_passphrase_said_after_it_is_heard() {
    let _one = serial();
    let (agent, capture) = agent_on_own_ports(&[
        ("PASSGATE_FLOW__MENU__TIMEOUT", "30s"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    support::cli::add_nelson(&agent.database);
    let dir = tempfile::tempdir().unwrap();
    spoken_as("하얀 말", dir.path(), "passphrase.wav");
    let alaw = Command::new("sox")
        .arg(dir.path().join("passphrase.wav"))
        .args(["-e", "a-law"])
        .arg(dir.path().join("passphrase_alaw.wav"))
        .status();
    assert!(alaw.expect("sox").success());

    let run = sipp_in(dir.path(), "reinvite_codec_switch", &agent, &[]);
    assert_ok(&run, &agent, "re-INVITE PCMU -> PCMA");
    // The scenario checked the 200 to the re-INVITE (PT 8, telephone-event
    // 120) and that the REFER carries verified: the A-law speech was heard.
    assert!(support::cli::refer_to(&run).contains("X-Passgate-Auth=verified"));

    let port = our_rtp_port(&run);
    let sent = sent_by_passgate(capture, port);
    assert!(sent.len() > 100, "{} packets", sent.len());
    let switch = sent
        .iter()
        .position(|p| p.payload_type == 8)
        .unwrap_or_else(|| panic!("no PT 8 from Passgate: {:?}", &sent[..5]));
    assert!(
        sent[..switch].iter().all(|p| p.payload_type == 0),
        "PCMU before the re-INVITE"
    );
    assert!(
        sent[switch..].iter().all(|p| p.payload_type == 8),
        "only PCMA once the re-INVITE was answered"
    );
    assert!(
        sent.len() - switch > 500,
        "{} packets after the switch",
        sent.len() - switch
    );
    let ssrc = &sent[0].ssrc;
    assert!(
        sent.iter().all(|p| &p.ssrc == ssrc),
        "one stream throughout"
    );
    for w in sent.windows(2) {
        assert_eq!(
            w[1].seq,
            w[0].seq.wrapping_add(1),
            "{:?} then {:?}",
            w[0],
            w[1]
        );
    }
}

#[test]
fn an_invite_without_sdp_gets_our_offer_and_the_media_follows_the_answer_in_the_ack() {
    let _one = serial();
    let (agent, capture) = agent_on_own_ports(&[]);
    let dir = tempfile::tempdir().unwrap();
    let run = sipp_in(dir.path(), "delayed_offer", &agent, &[]);
    assert_ok(&run, &agent, "delayed offer");
    let port = our_rtp_port(&run);
    let sent = sent_by_passgate(capture, port);
    assert!(sent.len() > 50, "{} packets", sent.len());
    assert!(
        sent.iter().all(|p| p.payload_type == 8),
        "the ACK's answer chose PCMA: {:?}",
        sent.iter().map(|p| p.payload_type).collect::<Vec<_>>()
    );
    let log = agent.log_text();
    assert!(log.contains("answered with our offer"), "{log}");
}

#[test]
fn an_ack_without_an_answer_to_our_offer_ends_the_call_with_a_bye_saying_why() {
    let _one = serial();
    let (agent, _capture) = agent_on_own_ports(&[]);
    let dir = tempfile::tempdir().unwrap();
    let run = sipp_in(dir.path(), "delayed_offer_no_answer", &agent, &[]);
    assert_ok(&run, &agent, "delayed offer, no answer");
    let log = agent.wait_log(&["NoAcceptableAnswer"], std::time::Duration::from_secs(10));
    assert!(log.contains("NoAcceptableAnswer"), "{log}");
}

#[test]
fn a_held_call_gets_no_rtp_and_its_listening_waits_out_the_hold() {
    let _one = serial();
    // Listening starts about two seconds after the ACK; the hold starts at
    // five seconds and lasts ten, longer than the 8 s listen timeout.
    let (agent, capture) = agent_on_own_ports(&[
        ("PASSGATE_FLOW__MENU__TIMEOUT", "30s"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
        ("PASSGATE_FLOW__PROMPTS__PASSPHRASE_REQUEST", "Passphrase."),
        ("PASSGATE_FLOW__PASSPHRASE__LISTEN_TIMEOUT", "8s"),
    ]);
    support::cli::add_nelson(&agent.database);
    let dir = tempfile::tempdir().unwrap();
    spoken_as("하얀 말", dir.path(), "passphrase.wav");
    let run = sipp_in(dir.path(), "hold_while_listening", &agent, &[]);
    assert_ok(&run, &agent, "hold while listening");
    assert!(
        support::cli::refer_to(&run).contains("X-Passgate-Auth=verified"),
        "the passphrase said after the hold was heard"
    );
    let log = agent.log_text();
    assert!(log.contains("the caller holds the call"), "{log}");
    assert!(log.contains("the caller resumes the call"), "{log}");

    let port = our_rtp_port(&run);
    let sent = sent_by_passgate(capture, port);
    let (gap, after) = longest_gap(&sent);
    assert!(
        (9.0..11.5).contains(&gap),
        "one silence from Passgate as long as the hold: {gap:.2} s"
    );
    assert!(
        sent[after].marker,
        "the stream resumes with a new talk spurt"
    );
    let others = sent
        .windows(2)
        .filter(|w| w[1].time - w[0].time > 0.25)
        .count();
    assert_eq!(others, 1, "no other pause in Passgate's stream");
}

#[test]
fn rtp_keeps_flowing_while_the_caller_is_silent_for_20_seconds() {
    let _one = serial();
    let (agent, capture) = agent_on_own_ports(&[("PASSGATE_FLOW__OFFER__TIMEOUT", "40s")]);
    let dir = tempfile::tempdir().unwrap();
    let mut keys = support::offer_keys("0", "PCMU", "101", "20");
    keys.extend(["-d", "24000"]);
    let run = sipp_in(dir.path(), "silent_caller", &agent, &keys);
    assert_ok(&run, &agent, "silent caller");
    let port = our_rtp_port(&run);
    let sent = sent_by_passgate(capture, port);
    let span = sent.last().map_or(0.0, |l| l.time) - sent.first().map_or(0.0, |f| f.time);
    assert!(
        span > 22.0,
        "Passgate sent for {span:.1} s of the 24 s call"
    );
    let (gap, _) = longest_gap(&sent);
    assert!(gap < 0.25, "a {gap:.2} s hole in Passgate's stream");
    assert!(
        sent.len() as f64 > span / 0.020 * 0.95,
        "{} packets in {span:.1} s",
        sent.len()
    );
}

/// One RTP packet as a phone sends it: `pt` with `payload`, on SSRC 0x5eed.
fn rtp(pt: u8, seq: u16, timestamp: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&0x5eedu32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

#[test]
fn a_call_with_key_presses_and_no_loss_logs_no_lost_packets() {
    let _one = serial();
    let agent = Agent::start(&[]);
    let media = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sdp = offer(
        "127.0.0.1".parse().unwrap(),
        media.local_addr().unwrap().port(),
        "",
    );
    let (caller, ok) = UdpCaller::invite(agent.sip, &sdp);
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let to = std::net::SocketAddr::new(agent.sip.ip(), answer_rtp_port(&ok));
    // As phones send it: audio, a key press (telephone-event packets taking
    // the next sequence numbers of the same SSRC, the end packet three
    // times), then audio again; nothing lost.
    let silence = [0xFFu8; 160];
    let (mut seq, mut ts) = (0u16, 0u32);
    let start = std::time::Instant::now();
    let pace = |n: u32| {
        let due = start + std::time::Duration::from_millis(20 * u64::from(n));
        std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
    };
    let mut sent = 0u32;
    for _ in 0..50 {
        pace(sent);
        media
            .send_to(&rtp(0, seq, ts, seq == 0, &silence), to)
            .unwrap();
        (seq, ts, sent) = (seq + 1, ts + 160, sent + 1);
    }
    let key_ts = ts;
    for (i, end) in [false, false, false, false, true, true, true]
        .into_iter()
        .enumerate()
    {
        pace(sent);
        let duration = (160 * (i as u16 + 1)).min(800);
        let mut event = vec![5u8, if end { 0x80 | 10 } else { 10 }];
        event.extend_from_slice(&duration.to_be_bytes());
        media
            .send_to(&rtp(101, seq, key_ts, i == 0, &event), to)
            .unwrap();
        (seq, sent) = (seq + 1, sent + 1);
    }
    ts += 7 * 160;
    for _ in 0..50 {
        pace(sent);
        media
            .send_to(&rtp(0, seq, ts, false, &silence), to)
            .unwrap();
        (seq, ts, sent) = (seq + 1, ts + 160, sent + 1);
    }
    // The media thread reads within a few milliseconds; the BYE must not
    // overtake the last packets.
    std::thread::sleep(std::time::Duration::from_millis(300));
    caller.bye();
    let log = agent.wait_log(&["call finished"], std::time::Duration::from_secs(10));
    let finished = log
        .lines()
        .find(|l| l.contains("call finished"))
        .unwrap_or_else(|| panic!("no call finished line:\n{log}"));
    let rtp_in: u32 = finished
        .split_whitespace()
        .find_map(|w| w.strip_prefix("rtp_in="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(rtp_in >= 100, "the caller's packets were read: {finished}");
    assert!(finished.contains(" lost=0"), "{finished}");
    assert!(
        log.contains("digit digit=5"),
        "the key press was heard:\n{log}"
    );
}
