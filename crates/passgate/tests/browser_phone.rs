//! The test phone in a real browser: the real binary with its SIP
//! WebSocket on, Debian's Chromium (headless, driven over the DevTools
//! protocol by playwright-core through `web/tests/phone-driver.mjs`), its
//! fake microphone playing espeak-ng's Korean passphrase, JsSIP over the
//! WebSocket, WebRTC media (ICE-lite, DTLS-SRTP) into the Korean model.
//!
//! Needs `node` with `web/node_modules` (`make deps`), `/usr/bin/chromium`,
//! `espeak-ng`, `sox` and the Korean model.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use support::phone::{microphone, start_agent, Phone};
use support::sms_sink::{first_code, SmsSink};
use support::Agent;

/// Waits until the log has `needle` `count` times.
fn wait_count(agent: &Agent, needle: &str, count: usize, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let log = agent.log_text();
        if log.matches(needle).count() >= count || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn audit(agent: &Agent) -> String {
    support::cli::passgate(&agent.database, &["audit", "--json"])
}

#[test]
fn the_page_calls_says_the_passphrase_presses_zero_and_is_transferred_verified() {
    verified_call(&[], "codec=Pcmu", "", "source=\"sip-info\"");
}

#[test]
fn the_same_call_in_opus_when_sip_codecs_puts_it_first() {
    verified_call(
        &[("PASSGATE_SIP__CODECS", "[\"opus\", \"pcmu\"]".into())],
        "codec=Opus",
        "",
        "source=\"sip-info\"",
    );
}

#[test]
fn the_same_call_with_the_key_sent_as_rfc_4733_in_the_media() {
    verified_call(&[], "codec=Pcmu", "?dtmf=rfc4733", "source=Rfc4733");
}

fn verified_call(extra: &[(&str, String)], codec: &str, query: &str, key_source: &str) {
    let agent = start_agent(extra);
    let dir = tempfile::tempdir().unwrap();
    let mic = microphone("하얀 말", dir.path());
    let mut phone = Phone::open(&format!("http://{}/phone{query}", agent.http), &mic);
    let connected = phone.send("call");
    assert_eq!(connected["state"], "connected", "{connected}");
    let log = wait_count(&agent, "playing prompt=Menu", 1, Duration::from_secs(60));
    assert!(
        log.contains(&format!("{codec} ptime=20 webrtc=true"))
            && log.contains("playing prompt=Menu"),
        "no {codec} call with a menu after the passphrase:\n{log}"
    );
    assert_eq!(phone.send("press 0")["pressed"], "0");
    let ended = phone.send("wait transferred-ended 30");
    let result = phone.send("result");
    assert_eq!(ended["state"], "transferred-ended", "{result}");
    // The page showed where the REFER would go and what it says.
    assert_eq!(
        result["transfer"]["target"], "sip:agents@127.0.0.1",
        "{result}"
    );
    assert_eq!(
        result["transfer"]["headers"],
        serde_json::json!({"X-Passgate-Auth": "verified", "X-Passgate-Account": "nelson"}),
        "{result}"
    );
    assert!(
        result["demo"]
            .as_str()
            .is_some_and(|d| d.contains("+15550100001")),
        "{result}"
    );
    // Both ways had sound: the prompts reached the page, the microphone Passgate.
    assert!(
        result["line_peak"].as_f64().unwrap_or(0.0) > 0.05,
        "{result}"
    );
    let log = agent.wait_log(&["outcome=transferred_verified"], Duration::from_secs(10));
    assert!(
        log.lines()
            .any(|l| l.contains("digit digit=0") && l.contains(key_source)),
        "no 0 by {key_source}:\n{log}"
    );
    assert!(log.contains("transfer completed"), "{log}");
    assert!(
        log.contains("call finished outcome=transferred_verified"),
        "{log}"
    );
    let trail = audit(&agent);
    for event in [
        "\"passphrase_checked\"",
        "\"authenticated\"",
        "\"menu_choice\"",
        "\"transferred\"",
    ] {
        assert!(trail.contains(event), "{event} missing:\n{trail}");
    }
    assert!(
        !trail.contains("하얀"),
        "the passphrase leaked into the audit"
    );
}

#[test]
fn the_page_takes_the_sms_branch_with_the_code_from_the_sink() {
    let sink = SmsSink::start(support::free_port());
    let agent = start_agent(&sink.env());
    let dir = tempfile::tempdir().unwrap();
    let mic = microphone("검은 소", dir.path());
    let mut phone = Phone::open(&format!("http://{}/phone", agent.http), &mic);
    assert_eq!(phone.send("call")["state"], "connected");
    let deadline = Instant::now() + Duration::from_secs(90);
    let code = loop {
        if let Some(code) = sink
            .messages()
            .first()
            .and_then(|m| first_code(m["body"].as_str().unwrap_or_default()))
        {
            break code;
        }
        assert!(
            Instant::now() < deadline,
            "no SMS code sent:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // Typed once the page has been asked for it.
    let log = wait_count(
        &agent,
        "playing prompt=EnterCode",
        1,
        Duration::from_secs(20),
    );
    assert!(log.contains("playing prompt=EnterCode"), "{log}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(phone.send(&format!("press {code}"))["pressed"], code);
    let log = wait_count(&agent, "playing prompt=Menu", 1, Duration::from_secs(60));
    assert!(log.contains("playing prompt=Menu"), "no menu:\n{log}");
    phone.send("press 0");
    let ended = phone.send("wait transferred-ended 30");
    let result = phone.send("result");
    assert_eq!(ended["state"], "transferred-ended", "{result}");
    assert_eq!(
        result["transfer"]["headers"],
        serde_json::json!({"X-Passgate-Auth": "verified", "X-Passgate-Account": "nelson"}),
        "{result}"
    );
    let trail = audit(&agent);
    assert!(
        trail.contains("\"sms_code\"") && trail.contains("\"transferred\""),
        "{trail}"
    );
}

#[test]
fn the_page_without_its_bundle_says_how_to_build_it() {
    let empty = tempfile::tempdir().unwrap();
    let agent = Agent::start(&[("PASSGATE_HTTP__ASSETS", empty.path().to_str().unwrap())]);
    let mut stream = std::net::TcpStream::connect(agent.http).unwrap();
    write!(
        stream,
        "GET /phone/jssip.min.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains("make deps"), "{response}");
}
