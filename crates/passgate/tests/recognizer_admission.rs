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
use support::{free_port, logged_number, workspace, Agent};

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

/// What admission keeps across restarts, as the node writes it: callers who
/// all listen 8 s after they are let in, and turns costing 400 ms.
fn learnt_file_of_crowding_callers(path: &std::path::Path) {
    let mut delays = vec![0.0; 40];
    delays[16] = 1.0;
    let text = serde_json::json!({
        "version": 2,
        "step_ms": 500,
        "delays": delays,
        "delay_calls": 512.0,
        "listen_share": 1.0,
        "share_calls": 512.0,
        "turn_cost_ms": 400.0,
    });
    std::fs::write(path, text.to_string()).unwrap();
}

/// INVITEs `count` callers one after another; returns the answers. The
/// callers admitted stay in their calls until dropped.
fn burst(agent: &Agent, count: usize) -> (Vec<UdpCaller>, Vec<String>) {
    (0..count)
        .map(|_| {
            UdpCaller::invite(
                agent.sip,
                &offer("127.0.0.1".parse().unwrap(), free_port(), ""),
            )
        })
        .unzip()
}

#[test]
fn a_node_that_learnt_its_callers_listen_together_turns_a_burst_away_by_the_second_their_turns_crowd(
) {
    let dir = tempfile::tempdir().unwrap();
    let learnt = dir.path().join("admission.json");
    learnt_file_of_crowding_callers(&learnt);
    let learnt_env = learnt.to_str().unwrap();
    // Refused at once: a call that rang for admission would be let in a
    // second later, its turn a second later (the next test).
    let env = [
        ("PASSGATE_ASR__WORKERS", "2"),
        ("PASSGATE_ASR__ADMIT_MAX_LOAD", "0.6"),
        ("PASSGATE_ASR__ADMIT_LEARNT_FILE", learnt_env),
        ("PASSGATE_ASR__ADMIT_QUEUE_MS", "0"),
    ];
    // 0.6 of 2 workers over any second is 1.2 s of recognizer time: three
    // turns of 400 ms, and the burst's turns all fall in the same second.
    let resumed = Agent::start(&env);
    let (_callers, answers) = burst(&resumed, 20);
    let admitted = answers
        .iter()
        .filter(|a| a.starts_with("SIP/2.0 200"))
        .count();
    let refused: Vec<&String> = answers
        .iter()
        .filter(|a| a.starts_with("SIP/2.0 503"))
        .collect();
    assert!(
        (2..=4).contains(&admitted) && admitted + refused.len() == 20,
        "{admitted} of 20 admitted: {answers:#?}"
    );
    assert!(
        refused.iter().all(|a| a.contains("Retry-After:")),
        "{refused:#?}"
    );
    assert_eq!(
        resumed.metric("passgate_calls_refused_total{why=\"recognizer_load\"}"),
        refused.len() as f64
    );
    let log = resumed.log_text();
    assert!(
        log.contains("admission resumes from what it learnt before")
            && log.contains("recognizer load predicted"),
        "{log}"
    );
    // A node that has learnt nothing takes the turns to come spread over
    // the window: the same burst is let in whole.
    let fresh_file = dir.path().join("fresh.json");
    let fresh = Agent::start(&[
        ("PASSGATE_ASR__WORKERS", "2"),
        ("PASSGATE_ASR__ADMIT_MAX_LOAD", "0.6"),
        (
            "PASSGATE_ASR__ADMIT_LEARNT_FILE",
            fresh_file.to_str().unwrap(),
        ),
    ]);
    let (_callers, answers) = burst(&fresh, 20);
    let refused = answers
        .iter()
        .filter(|a| !a.starts_with("SIP/2.0 200"))
        .count();
    assert!(
        refused == 0,
        "{refused} of 20 refused by a fresh node (recognizer load {}, lag {}, shed {})\n--- log ---\n{}",
        fresh.metric("passgate_calls_refused_total{why=\"recognizer_load\"}"),
        fresh.metric("passgate_calls_refused_total{why=\"recognizer_lag\"}"),
        fresh.metric("passgate_calls_shed_total"),
        fresh.log_text()
    );
    // And keeps what it learns, within seconds.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !fresh_file.exists() {
        assert!(Instant::now() < deadline, "no {}", fresh_file.display());
        std::thread::sleep(Duration::from_millis(200));
    }
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fresh_file).unwrap()).unwrap();
    assert_eq!(kept["delays"].as_array().map(Vec::len), Some(40), "{kept}");
    // A file that is not admission's is named in the log and the node
    // starts from the priors. (A file of its own: the resumed node, still
    // up, writes its own every 10 s and would mend a broken one.)
    let broken_file = dir.path().join("broken.json");
    std::fs::write(&broken_file, "not json").unwrap();
    let broken = Agent::start(&[
        ("PASSGATE_ASR__WORKERS", "2"),
        ("PASSGATE_ASR__ADMIT_MAX_LOAD", "0.6"),
        (
            "PASSGATE_ASR__ADMIT_LEARNT_FILE",
            broken_file.to_str().unwrap(),
        ),
    ]);
    let (_callers, answers) = burst(&broken, 20);
    assert!(
        answers.iter().all(|a| a.starts_with("SIP/2.0 200")),
        "{answers:#?}\n--- log ---\n{}",
        broken.log_text()
    );
    assert!(
        broken
            .log_text()
            .contains("broken.json is not what admission keeps"),
        "{}",
        broken.log_text()
    );
}

/// INVITEs `count` callers at once, each from its own thread; returns the
/// callers, their final answers and how long each took.
fn simultaneous(target: std::net::SocketAddr, count: usize) -> Vec<Answered> {
    let threads: Vec<_> = (0..count)
        .map(|_| {
            std::thread::spawn(move || {
                let started = Instant::now();
                let (caller, answer) = UdpCaller::invite(
                    target,
                    &offer("127.0.0.1".parse().unwrap(), free_port(), ""),
                );
                (caller, answer, started.elapsed())
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

type Answered = (UdpCaller, String, Duration);

/// How many of `calls` were let in (200), and those refused (503).
fn answered(calls: &[Answered]) -> (usize, Vec<&Answered>) {
    let admitted = calls
        .iter()
        .filter(|(_, a, _)| a.starts_with("SIP/2.0 200"))
        .count();
    let refused = calls
        .iter()
        .filter(|(_, a, _)| a.starts_with("SIP/2.0 503"))
        .collect();
    (admitted, refused)
}

#[test]
fn a_call_the_load_rule_refuses_rings_until_its_turn_falls_in_a_clear_second() {
    // The node has learnt that its callers all listen 8 s after they are
    // let in, at 400 ms a turn: three calls let in within the same half
    // second fill the second their turns fall in.
    let dir = tempfile::tempdir().unwrap();
    let learnt = dir.path().join("admission.json");
    learnt_file_of_crowding_callers(&learnt);
    let learnt_env = learnt.to_str().unwrap();
    let start = |queue_ms: &str| {
        Agent::start(&[
            ("PASSGATE_ASR__WORKERS", "2"),
            ("PASSGATE_ASR__ADMIT_MAX_LOAD", "0.6"),
            ("PASSGATE_ASR__ADMIT_LEARNT_FILE", learnt_env),
            ("PASSGATE_ASR__ADMIT_QUEUE_MS", queue_ms),
        ])
    };
    // Ringing for up to 3 s: six callers at once are all let in, three of
    // them a second later, when their turns fall in the next second.
    let agent = start("3000");
    let calls = simultaneous(agent.sip, 6);
    let answers: Vec<&String> = calls.iter().map(|(_, a, _)| a).collect();
    assert!(
        answers.iter().all(|a| a.starts_with("SIP/2.0 200")),
        "{answers:#?}\n--- log ---\n{}",
        agent.log_text()
    );
    let queued = agent.metric("passgate_calls_queued_total");
    let took: Vec<Duration> = calls.iter().map(|(_, _, t)| *t).collect();
    assert!(
        (2.0..=4.0).contains(&queued),
        "{queued} queued, {took:?}\n{}",
        agent.log_text()
    );
    assert_eq!(
        agent.metric("passgate_calls_queue_ended_total{outcome=\"admitted\"}"),
        queued
    );
    assert_eq!(
        agent.metric("passgate_calls_refused_total{why=\"recognizer_load\"}"),
        0.0
    );
    let mut took: Vec<Duration> = calls.iter().map(|(_, _, t)| *t).collect();
    took.sort();
    assert!(
        took[5] >= Duration::from_millis(400) && took[5] < Duration::from_secs(3),
        "{took:?}"
    );
    drop(calls);
    drop(agent);
    // Ringing for at most 300 ms, less than the wait for the next clear
    // second: the calls beyond three ring, then are refused 503.
    let agent = start("300");
    let calls = simultaneous(agent.sip, 9);
    let (admitted, refused) = answered(&calls);
    assert!(
        (2..=4).contains(&admitted) && admitted + refused.len() == 9,
        "{:#?}",
        calls.iter().map(|(_, a, _)| a).collect::<Vec<_>>()
    );
    for (_, answer, took) in &refused {
        assert!(answer.contains("Retry-After:"), "{answer}");
        assert!(
            *took >= Duration::from_millis(300),
            "refused after {took:?}"
        );
    }
    assert_eq!(
        agent.metric("passgate_calls_queue_ended_total{outcome=\"not_admitted\"}"),
        refused.len() as f64
    );
    assert_eq!(
        agent.metric("passgate_calls_refused_total{why=\"recognizer_load\"}"),
        refused.len() as f64
    );
}

#[test]
fn a_call_ringing_for_admission_is_refused_once_the_node_starts_to_drain() {
    // Three callers fill the second their turns fall in; three more ring,
    // and would be let in about a second later, were the node not
    // stopping.
    let dir = tempfile::tempdir().unwrap();
    let learnt = dir.path().join("admission.json");
    learnt_file_of_crowding_callers(&learnt);
    let agent = Agent::start(&[
        ("PASSGATE_ASR__WORKERS", "2"),
        ("PASSGATE_ASR__ADMIT_MAX_LOAD", "0.6"),
        ("PASSGATE_ASR__ADMIT_LEARNT_FILE", learnt.to_str().unwrap()),
        ("PASSGATE_ASR__ADMIT_QUEUE_MS", "5000"),
    ]);
    let target = agent.sip;
    let callers = std::thread::spawn(move || simultaneous(target, 6));
    std::thread::sleep(Duration::from_millis(250));
    agent.terminate();
    let calls = callers.join().unwrap();
    let (admitted, refused) = answered(&calls);
    let log = agent.log_text();
    assert!(
        (2..=4).contains(&admitted) && admitted + refused.len() == 6,
        "{:#?}\n--- log ---\n{log}",
        calls.iter().map(|(_, a, _)| a).collect::<Vec<_>>()
    );
    for (_, answer, took) in &refused {
        assert!(answer.contains("Retry-After:"), "{answer}");
        // Refused at the first look after the drain began, not when the
        // 5 s of ringing ran out.
        assert!(*took < Duration::from_secs(2), "refused after {took:?}");
    }
    assert!(
        log.contains("new call ringing for admission refused: draining"),
        "{log}"
    );
}

#[test]
fn a_node_measures_what_a_turn_costs_it_as_it_starts_and_admits_by_that_times_the_crowding_factor()
{
    // A node that has learnt nothing takes its callers' turns to come alike
    // over the 20 s window: at 0.1 of 2 workers, 4 s of recognizer time in
    // the window, so 4 s over the floor calls at once.
    let env = |floor_ms: &'static str| {
        [
            ("PASSGATE_ASR__WORKERS", "2"),
            ("PASSGATE_ASR__ADMIT_MAX_LOAD", "0.1"),
            ("PASSGATE_ASR__ADMIT_WINDOW_SECS", "20"),
            ("PASSGATE_ASR__ADMIT_QUEUE_MS", "0"),
            ("PASSGATE_ASR__ADMIT_CROWDING_FACTOR", "6"),
            ("PASSGATE_ASR__ADMIT_MIN_TURN_COST_MS", floor_ms),
        ]
    };
    let measured = Agent::start(&env("0"));
    let log = measured.log_text();
    let turn_ms = logged_number(&log, "recognizer turn cost measured", " turn_ms=")
        .unwrap_or_else(|| panic!("{log}"));
    let floor = measured.metric("passgate_admission_turn_cost_floor_seconds");
    assert!(
        (5.0..2000.0).contains(&turn_ms) && (floor * 1000.0 - 6.0 * turn_ms).abs() < 1.0,
        "turn {turn_ms} ms, floor {floor} s\n{log}"
    );
    let expected = (4.0 / floor).floor() as usize;
    let count = (expected + 8).min(60);
    let (_callers, answers) = burst(&measured, count);
    let admitted = answers
        .iter()
        .filter(|a| a.starts_with("SIP/2.0 200"))
        .count();
    assert!(
        admitted.abs_diff(expected.min(count)) <= 1,
        "{admitted} of {count} let in, {expected} expected at a floor of {floor} s"
    );
    // A floor in the configuration is taken as it is, and nothing is
    // measured: 4 s over 250 ms is 16 calls.
    let fixed = Agent::start(&env("250"));
    assert_eq!(
        fixed.metric("passgate_admission_turn_cost_floor_seconds"),
        0.25
    );
    assert!(!fixed.log_text().contains("recognizer turn cost measured"));
    let (_callers, answers) = burst(&fixed, 24);
    let admitted = answers
        .iter()
        .filter(|a| a.starts_with("SIP/2.0 200"))
        .count();
    assert!((15..=17).contains(&admitted), "{admitted} of 24 let in");
}

#[test]
fn a_recording_in_the_prompts_directory_is_the_phrase_measured_and_a_failed_measure_falls_back() {
    // A turn-cost-phrase.wav in prompts.dir is what the node says to
    // itself: one that is no WAV fails the measure, which the log names,
    // and admission takes a turn to cost the fallback 90 ms.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("turn-cost-phrase.wav"), "not a wav").unwrap();
    let broken = Agent::start(&[
        ("PASSGATE_ASR__ADMIT_MIN_TURN_COST_MS", "0"),
        ("PASSGATE_PROMPTS__DIR", dir.path().to_str().unwrap()),
    ]);
    let log = broken.log_text();
    assert!(
        log.contains("could not measure a passphrase turn")
            && log.contains("turn-cost-phrase.wav")
            && !log.contains("recognizer turn cost measured"),
        "{log}"
    );
    assert_eq!(
        broken.metric("passgate_admission_turn_cost_floor_seconds"),
        0.09
    );
}

/// Two callers reach their passphrase turns together on a node with room
/// for one turn: the one nobody can hear goes on to the SMS code at once,
/// audited `unavailable`, while the other is listened to until its listen
/// timeout (it says nothing) and audited `silence`.
#[test]
fn a_turn_the_recognizer_has_no_room_for_goes_on_to_the_code_at_once() {
    let agent = Agent::start(&[
        ("PASSGATE_ASR__MAX_SESSIONS", "1"),
        ("PASSGATE_ASR__ADMIT_MAX_LOAD", "0"),
        ("PASSGATE_ASR__ADMIT_MAX_LAG_MS", "0"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    // silent_caller.xml calls from +15551234567.
    support::cli::passgate(
        &agent.database,
        &[
            "accounts",
            "add",
            "--id",
            "quiet",
            "--name",
            "Quiet Caller",
            "--phone",
            "+15551234567",
            "--passphrase",
            "하얀 말",
        ],
    );
    let target = agent.sip;
    let callers: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                let mut keys = support::offer_keys("0", "PCMU", "101", "20");
                // Long enough for the silent turn's end: the caller sends
                // no audio, so it is the flow's deadline, 15 s after the beep.
                keys.extend(["-d", "30000"]);
                support::sipp("silent_caller", target, &keys)
            })
        })
        .collect();
    let passphrase = |result: &str| {
        agent.metric(&format!(
            "passgate_factor_results_total{{factor=\"passphrase\",result=\"{result}\"}}"
        ))
    };
    let started = Instant::now();
    let (mut unavailable_at, mut silence_at) = (None, None);
    while started.elapsed() < Duration::from_secs(60)
        && (unavailable_at.is_none() || silence_at.is_none())
    {
        if unavailable_at.is_none() && passphrase("unavailable") >= 1.0 {
            unavailable_at = Some(started.elapsed());
        }
        if silence_at.is_none() && passphrase("silence") >= 1.0 {
            silence_at = Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (Some(unavailable), Some(silence)) = (unavailable_at, silence_at) else {
        panic!(
            "unavailable at {unavailable_at:?}, silence at {silence_at:?}\n{}",
            agent.log_text()
        );
    };
    // The silent caller's turn runs to the flow's deadline; the other
    // caller's turn never started.
    assert!(
        silence >= unavailable + Duration::from_secs(5),
        "unavailable at {unavailable:?}, silence at {silence:?}"
    );
    assert_eq!(passphrase("unavailable"), 1.0);
    assert_eq!(passphrase("silence"), 1.0);
    assert_eq!(agent.metric("passgate_recognizer_busy_total"), 1.0);
    // Both callers were sent their code.
    let deadline = Instant::now() + Duration::from_secs(10);
    while agent.metric("passgate_sms_sent_total") < 2.0 {
        assert!(
            Instant::now() < deadline,
            "codes sent: {}\n{}",
            agent.metric("passgate_sms_sent_total"),
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for caller in callers {
        let _ = caller.join();
    }
}
