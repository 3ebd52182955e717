//! Who may call: `sip.allow_from`. And what survives a crash: audit rows
//! already committed are there after SIGKILL (SQLite in WAL mode).

mod support;

use std::process::Command;
use std::time::Duration;

use support::{sipp, Agent};

#[test]
fn a_source_outside_allow_from_gets_403_and_an_allowed_one_is_served() {
    let refusing = Agent::start(&[("PASSGATE_SIP__ALLOW_FROM", "[\"10.0.0.0/8\"]")]);
    sipp("forbidden", refusing.sip, &[]).assert_ok("403 to a stranger");
    let log = refusing.log_text();
    assert!(!log.contains("incoming call"), "{log}");
    let allowing = Agent::start(&[(
        "PASSGATE_SIP__ALLOW_FROM",
        "[\"10.0.0.0/8\", \"127.0.0.0/8\"]",
    )]);
    sipp("options", allowing.sip, &[]).assert_ok("the trunk is allowed");
}

fn audit_rows(database: &str) -> String {
    support::cli::passgate(database, &["audit", "--json"])
}

#[test]
fn sigkill_mid_call_loses_no_committed_audit_row() {
    let mut agent = Agent::start(&[("PASSGATE_CALL__MAX_DURATION_SECS", "20")]);
    let target = agent.sip;
    let caller = std::thread::spawn(move || sipp("agent_hangup", target, &[]));
    // Wait until the call's first rows are committed (read from another process).
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let before = loop {
        let rows = audit_rows(&agent.database);
        if rows.contains("\"caller_lookup\"") || std::time::Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        before.contains("\"call_started\"") && before.contains("\"caller_lookup\""),
        "{before}"
    );
    let killed = Command::new("kill")
        .args(["-KILL", &agent.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Tearing down a process with the model mapped takes a moment on a busy machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while agent.is_running() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!agent.is_running(), "the agent is gone");
    let after = audit_rows(&agent.database);
    for line in before.lines() {
        assert!(
            after.contains(line),
            "row lost in the crash: {line}\n{after}"
        );
    }
    // The caller's side sees the agent vanish; what matters here is the store.
    let _ = caller.join();
}

#[test]
fn with_digest_on_a_trunk_with_the_password_gets_in_and_one_without_is_challenged() {
    let agent = Agent::start(&[
        ("PASSGATE_SIP__DIGEST_REALM", "passgate"),
        ("PASSGATE_SIP__DIGEST_USERS", "{trunk = \"s3cret\"}"),
    ]);
    let run = sipp("auth_call", agent.sip, &["-au", "trunk", "-ap", "s3cret"]);
    run.assert_ok("a call with Digest credentials");
    let challenge = run
        .received()
        .into_iter()
        .find(|m| m.contains("SIP/2.0 401 Unauthorized"))
        .expect("a 401 first");
    assert!(
        challenge.contains("WWW-Authenticate: Digest realm=\"passgate\""),
        "{challenge}"
    );
    let wrong = support::sipp_with(
        "auth_call",
        agent.sip,
        &support::SippOptions {
            timeout_secs: Some(6),
            extra: &["-au", "trunk", "-ap", "guess"],
            ..Default::default()
        },
    );
    assert_ne!(wrong.code, 0, "a wrong password must not get through");
    let log = agent.log_text();
    assert_eq!(
        log.matches("incoming call").count(),
        1,
        "only the right password made a call: {log}"
    );
    assert!(!log.contains("s3cret"), "the password leaked: {log}");
}

/// The message of a `-trace_msg` block: what follows its "message sent
/// (N bytes):" line, with the line ends SIP wants and its Content-Length
/// counted again.
fn traced_message(block: &str) -> String {
    let body = block.split_once("bytes):").map_or("", |(_, m)| m);
    let text = body.trim_start_matches(['\r', '\n']).replace("\r\n", "\n");
    let (head, sdp) = text.split_once("\n\n").unwrap_or((&text, ""));
    let sdp = sdp.trim_end().replace('\n', "\r\n") + "\r\n";
    let head = head
        .trim_end()
        .lines()
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {}", sdp.len())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    format!("{head}\r\n\r\n{sdp}")
}

#[test]
fn a_sniffed_authorization_replayed_from_another_port_is_challenged() {
    let agent = Agent::start(&[
        ("PASSGATE_SIP__DIGEST_REALM", "passgate"),
        ("PASSGATE_SIP__DIGEST_USERS", "{trunk = \"s3cret\"}"),
    ]);
    let run = sipp("auth_call", agent.sip, &["-au", "trunk", "-ap", "s3cret"]);
    run.assert_ok("a call with Digest credentials");
    // What an eavesdropper saw: the INVITE that got in.
    let sniffed = run
        .messages
        .split("-----------------------------------------------")
        .filter(|b| b.contains("message sent") && b.contains("Authorization: Digest"))
        .map(traced_message)
        .find(|m| m.starts_with("INVITE "))
        .expect("SIPp sent an INVITE with credentials");
    // The same request as a new call (new Call-ID and branch), from another port.
    let replay = sniffed
        .split("\r\n")
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("call-id:") {
                "Call-ID: replayed-call".to_string()
            } else if l.starts_with("Via:") {
                l.replace("branch=z9hG4bK", "branch=z9hG4bK-replayed-")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .unwrap();
    socket.send_to(replay.as_bytes(), agent.sip).unwrap();
    let mut buf = [0u8; 65536];
    let answer = loop {
        let (n, _) = socket.recv_from(&mut buf).expect("an answer to the replay");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("SIP/2.0 100") {
            break text;
        }
    };
    assert!(answer.starts_with("SIP/2.0 401"), "{answer}");
    let log = agent.log_text();
    assert_eq!(
        log.matches("incoming call").count(),
        1,
        "the replay made a second call: {log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("security: digest authentication failed")
                && l.contains("reason=replayed")),
        "{log}"
    );
    let metrics = agent.metrics_text();
    assert!(
        metrics.contains("passgate_sip_auth_failures_total{reason=\"replayed\"} 1\n"),
        "{metrics}"
    );
}
