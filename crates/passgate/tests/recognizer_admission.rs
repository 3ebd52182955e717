//! Admission by recognizer load, mounted on the real binary: forty callers
//! speaking at once to one recognizer worker put it behind; while it is,
//! OPTIONS and new INVITEs are answered 503 with Retry-After and the lag is
//! a metric and a log line; once the callers are gone, calls are welcome
//! again.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::cli::{add_nelson, spoken_as};
use support::udp_caller::{offer, options_status, options_status_line, UdpCaller};
use support::{free_port, workspace, Agent};

fn lag_seconds(metrics: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("passgate_recognizer_lag_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_recognizer_falling_behind_turns_new_calls_away_until_it_catches_up() {
    let mut agent = Agent::start(&[
        ("PASSGATE_ASR__WORKERS", "1"),
        ("PASSGATE_ASR__ADMIT_MAX_LAG_MS", "100"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    add_nelson(&agent.database);
    assert_eq!(
        options_status(agent.sip),
        Some(200),
        "ready before the load"
    );
    let dir = tempfile::tempdir().unwrap();
    spoken_as("하얀 말", dir.path(), "passphrase.wav");
    let port = free_port().to_string();
    let media_port = (20000 + free_port() % 10000).to_string();
    let target = agent.sip.to_string();
    let scenario = workspace().join("tests/sipp/seed_verified.xml");
    let work = dir.path().to_path_buf();
    let callers = std::thread::spawn(move || {
        Command::new("sipp")
            .current_dir(&work)
            .arg("-sf")
            .arg(&scenario)
            .args([
                "-m", "40", "-l", "40", "-r", "40", "-nostdin", "-timeout", "90",
            ])
            .args(["-i", "127.0.0.1", "-p", &port, "-mp", &media_port])
            .args(["-s", "passgate", "-trace_err"])
            .arg(&target)
            .output()
            .expect("sipp")
    });
    // The callers speak after the passphrase request; watch for the lag.
    let started = Instant::now();
    let mut refused = None;
    let mut worst_lag: f64 = 0.0;
    while started.elapsed() < Duration::from_secs(60) && refused.is_none() {
        worst_lag = worst_lag.max(lag_seconds(&agent.metrics_text()));
        if let Some(line) = options_status_line(agent.sip) {
            if line.starts_with("SIP/2.0 503") {
                refused = Some(line);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let refused_at = started.elapsed();
    let log = agent.log_text();
    assert!(
        refused.is_some(),
        "OPTIONS never answered 503 (worst lag {worst_lag:.3} s)\n{log}"
    );
    // A new call meanwhile is turned away with Retry-After.
    let (_caller, answer) = UdpCaller::invite(
        agent.sip,
        &offer("127.0.0.1".parse().unwrap(), free_port(), ""),
    );
    let _ = callers.join();
    let log = agent.log_text();
    assert!(
        log.contains("new calls refused") && log.contains("recognizer"),
        "the refusal is logged with its reason:\n{log}"
    );
    assert!(
        answer.starts_with("SIP/2.0 503") && answer.contains("Retry-After:"),
        "a new call while the recognizer lags gets 503 with Retry-After:\n{answer}"
    );
    // The callers are gone: the recognizer catches up and calls are welcome.
    let deadline = Instant::now() + Duration::from_secs(20);
    while options_status(agent.sip) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "still refusing 20 s after the load (refused at {refused_at:?})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(agent.is_running());
}
