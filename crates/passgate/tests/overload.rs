//! A 30 s flood of INVITEs from one source at several times the configured rate:
//! the excess gets 503 with Retry-After, the process stays up with bounded
//! memory, OPTIONS is answered and a call already in progress completes.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{free_port, sipp, Agent};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_flood_is_shed_with_503_while_calls_in_progress_and_options_go_on() {
    let mut agent = Agent::start(&[
        ("PASSGATE_SIP__CALLS_PER_SECOND_PER_SOURCE", "20"),
        ("PASSGATE_SIP__MAX_CALLS", "40"),
        ("PASSGATE_CALL__MAX_DURATION_SECS", "12"),
    ]);
    // A call in progress from another source (the agent hangs up after 12 s).
    let target = agent.sip;
    let in_progress = std::thread::spawn(move || sipp("agent_hangup", target, &[]));
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kib(agent.pid());

    // 150 INVITEs a second for 30 s from one source, 7.5x the per-source rate.
    let flood_port = free_port().to_string();
    let flood_target = agent.sip.to_string();
    let flood = std::thread::spawn(move || {
        Command::new("sipp")
            .args([
                "-sn", "uac", "-r", "150", "-m", "4500", "-d", "0", "-nostdin", "-timeout", "60",
            ])
            .args([
                "-i",
                "127.0.0.2",
                "-p",
                &flood_port,
                "-trace_stat",
                "-fd",
                "1",
            ])
            .args(["-stf", "/dev/null"])
            .arg(&flood_target)
            .output()
            .expect("sipp")
    });
    std::thread::sleep(Duration::from_secs(4));
    let options = sipp("options", agent.sip, &[]);
    options.assert_ok("OPTIONS during the flood");
    let flood = flood.join().unwrap();
    let flood_out = String::from_utf8_lossy(&flood.stdout);
    assert_eq!(
        flood.status.code(),
        Some(1),
        "some flood calls must fail (503): {flood_out}"
    );
    in_progress
        .join()
        .unwrap()
        .assert_ok("the call in progress");
    assert!(agent.is_running(), "passgate survived the flood");
    let after = rss_kib(agent.pid());
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    let log = agent.wait_log(&["call finished"], Duration::from_secs(5));
    assert!(log.contains("call finished"), "{log}");
    let metrics = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(agent.http).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    let refused: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("passgate_sip_refused_total{reason=\"rate\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    eprintln!("flood: {refused} INVITEs refused for their rate; RSS {before} KiB before, {after} KiB after");
    assert!(
        refused > 3000,
        "most of the 4500 INVITEs were refused for their rate: {refused}\n{metrics}"
    );
    let lines = agent
        .log_text()
        .matches("security: call refused source=127.0.0.2 reason=rate")
        .count() as u64;
    assert_eq!(lines, refused, "one line per INVITE refused for its rate");
}

#[test]
fn options_answers_503_while_no_new_call_can_be_taken() {
    let agent = Agent::start(&[
        ("PASSGATE_SIP__MAX_CALLS", "1"),
        ("PASSGATE_CALL__MAX_DURATION_SECS", "4"),
    ]);
    sipp("options", agent.sip, &[]).assert_ok("OPTIONS with room for calls");
    let target = agent.sip;
    let in_progress = std::thread::spawn(move || sipp("agent_hangup", target, &[]));
    agent.wait_log(&["incoming call"], Duration::from_secs(10));
    sipp("options_503", agent.sip, &[]).assert_ok("OPTIONS at sip.max_calls");
    in_progress
        .join()
        .unwrap()
        .assert_ok("the call in progress");
    agent.wait_log(&["call finished"], Duration::from_secs(10));
    sipp("options", agent.sip, &[]).assert_ok("OPTIONS once the call is over");
}
