//! The admin HTTP: /healthz and /metrics, behind a bearer token when one is set.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::{offer_keys, sipp, Agent};

fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

#[test]
fn metrics_count_calls_and_require_the_token() {
    let agent = Agent::start(&[("PASSGATE_HTTP__TOKEN", "s3cret")]);
    assert_eq!(get(agent.http, "/metrics", None).0, 401);
    assert_eq!(get(agent.http, "/metrics", Some("wrong")).0, 401);
    let (code, body) = get(agent.http, "/healthz", Some("s3cret"));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("ok calls=0"), "{body}");
    sipp(
        "basic_call",
        agent.sip,
        &offer_keys("0", "PCMU", "101", "20"),
    )
    .assert_ok("a call to count");
    agent.wait_log(&["call finished"], Duration::from_secs(5));
    let (code, body) = get(agent.http, "/metrics", Some("s3cret"));
    assert_eq!(code, 200);
    for line in [
        "passgate_calls_active 0",
        "passgate_calls_total 1",
        "passgate_call_outcomes_total{outcome=\"caller_hung_up\"} 1",
        "# TYPE passgate_recognizer_seconds histogram",
        "passgate_sip_messages_total",
    ] {
        assert!(body.contains(line), "{line} missing:\n{body}");
    }
}

#[test]
fn a_public_admin_listener_without_a_token_is_refused_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_passgate"))
        .current_dir(support::workspace())
        .args(["check-config"])
        .env("PASSGATE_HTTP__LISTEN", "0.0.0.0:8080")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("http.token"));
}
