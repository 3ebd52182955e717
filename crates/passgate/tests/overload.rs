//! A 30 s flood of INVITEs from one source at several times the configured rate:
//! the excess gets 503 with Retry-After, the process stays up with bounded
//! memory, OPTIONS is answered and a call already in progress completes.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{free_port, sipp, Agent};

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
    let before = support::rss_kib(agent.pid());

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
    let after = support::rss_kib(agent.pid());
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    let log = agent.wait_log(&["call finished"], Duration::from_secs(5));
    assert!(log.contains("call finished"), "{log}");
    let metrics = agent.metrics_text();
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

/// Two consecutive UDP ports on loopback (an RTP/RTCP pair, the first even), held until dropped.
fn hold_rtp_pair() -> (u16, Vec<std::net::UdpSocket>) {
    loop {
        let first = 30_000 + (free_port() % 10_000) / 2 * 2;
        let held: Result<Vec<_>, _> = (first..first + 2)
            .map(|p| std::net::UdpSocket::bind(("127.0.0.1", p)))
            .collect();
        if let Ok(held) = held {
            return (first, held);
        }
    }
}

fn readyz(agent: &Agent) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(agent.http).unwrap();
    write!(
        s,
        "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text)
}

fn wait_options(agent: &Agent, status: u16, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while support::udp_caller::options_status(agent.sip) != Some(status) {
        assert!(
            std::time::Instant::now() < deadline,
            "no OPTIONS {status} {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn options_and_invites_answer_503_while_no_rtp_port_can_be_bound() {
    // A range of one RTP/RTCP pair, taken by someone else before the node starts.
    let (first, held) = hold_rtp_pair();
    let range = format!("{first}-{}", first + 1);
    let agent = Agent::start(&[
        ("PASSGATE_RTP__PORT_RANGE", range.as_str()),
        ("PASSGATE_CALL__MAX_DURATION_SECS", "4"),
    ]);
    wait_options(&agent, 503, "while the range is taken");
    sipp("options_503", agent.sip, &[]).assert_ok("OPTIONS without an RTP port");
    sipp("expect_503", agent.sip, &[]).assert_ok("INVITE without an RTP port");
    let (code, body) = readyz(&agent);
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("rtp ports: no pair can be bound"), "{body}");
    assert!(
        agent
            .log_text()
            .contains("no RTP port pair for a new call; not ready"),
        "{}",
        agent.log_text()
    );

    // The ports are let go: ready again, and a call gets the pair.
    drop(held);
    wait_options(&agent, 200, "once the ports are free");
    assert_eq!(readyz(&agent).0, 200);
    let target = agent.sip;
    let call = std::thread::spawn(move || sipp("agent_hangup", target, &[]));
    agent.wait_log(&["answered"], Duration::from_secs(10));
    // That call holds the only pair: no room for another.
    wait_options(&agent, 503, "while a call holds the only pair");
    call.join().unwrap().assert_ok("the call on the only pair");
    wait_options(&agent, 200, "once the call is over");
}
