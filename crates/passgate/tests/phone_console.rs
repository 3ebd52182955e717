//! The test phone and the operator console together, in one real browser:
//! Debian's Chromium (headless, driven over the DevTools protocol by
//! playwright-core through `web/tests/phone-driver.mjs`) calls from the
//! test phone page, its fake microphone speaking espeak-ng's Korean, keys
//! clicked on the page's keypad, while a second page of the same browser,
//! the console, shows the call live and then how it ended. In the SMS
//! branch the one-time code is read off the demo's console page and typed
//! on the phone's keypad.
//!
//! Needs `node` with `web/node_modules` (`make deps`), `/usr/bin/chromium`,
//! `espeak-ng`, `sox` and the Korean model.

mod support;

use std::time::Duration;

use support::demo::Demo;
use support::phone::{microphone, start_agent, wait_count, Phone};

/// The console's report of the finished call, checked as verified by `by`
/// and transferred.
fn assert_verified_and_transferred(shown: &serde_json::Value, by: &str) {
    assert_eq!(shown["verified"], true, "{shown:#}");
    assert_eq!(shown["verifiedBy"], by, "{shown:#}");
    assert_eq!(shown["transferred"], true, "{shown:#}");
    assert_eq!(shown["outcome"], "transferred_verified", "{shown:#}");
    assert_eq!(
        shown["sawLive"], true,
        "the console never showed the call live: {shown:#}"
    );
    assert_eq!(shown["pageErrors"], serde_json::json!([]), "{shown:#}");
}

#[test]
fn the_console_shows_the_phone_pages_call_verified_by_passphrase_and_transferred() {
    let agent = start_agent(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mic = microphone("하얀 말", dir.path());
    let mut phone = Phone::open(&format!("http://{}/phone", agent.http), &mic);
    let console = phone.send(&format!("console http://{}/console/", agent.http));
    assert_eq!(console["console"], "ready", "{console}");

    let connected = phone.send("call");
    assert_eq!(connected["state"], "connected", "{connected}");
    let log = wait_count(
        || agent.log_text(),
        "playing prompt=Menu",
        1,
        Duration::from_secs(60),
    );
    assert!(
        log.contains("playing prompt=Menu"),
        "no menu after the passphrase:\n{log}"
    );
    assert_eq!(phone.send("press 0")["pressed"], "0");
    let ended = phone.send("wait transferred-ended 30");
    assert_eq!(
        ended["state"],
        "transferred-ended",
        "{}",
        phone.send("result")
    );

    let shown = phone.send("console-call 30");
    assert_verified_and_transferred(&shown, "passphrase");
    let stages = shown["liveStages"].to_string();
    assert!(stages.contains("passphrase"), "{shown:#}");
    let steps = shown["steps"].to_string();
    assert!(steps.contains("passphrase checked: match"), "{shown:#}");
    assert!(steps.contains("transferred"), "{shown:#}");
    // The console names the account and where the call went, as verified.
    let text = shown["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("+15550100001") && text.contains("nelson"),
        "{shown:#}"
    );
    assert!(
        shown["transferText"]
            .as_str()
            .is_some_and(|t| t.starts_with("completed") && t.ends_with("as verified")),
        "{shown:#}"
    );
    // And what the console showed is what happened.
    let log = agent.wait_log(
        &["call finished outcome=transferred_verified"],
        Duration::from_secs(10),
    );
    assert!(
        log.contains("call finished outcome=transferred_verified"),
        "{log}"
    );
}

#[test]
fn in_the_demo_the_code_read_off_the_console_and_typed_on_the_phone_verifies_the_call() {
    let demo = Demo::start(Some("info,passgate=debug"));
    demo.wait_listening();
    let dir = tempfile::tempdir().unwrap();
    // Not the demo account's passphrase: the demo texts a code instead.
    let mic = microphone("검은 소", dir.path());
    let mut phone = Phone::open(&format!("http://127.0.0.1:{}/phone", demo.http), &mic);
    let console = phone.send(&format!("console http://127.0.0.1:{}/console/", demo.http));
    assert_eq!(console["console"], "ready", "{console}");
    let connected = phone.send("call");
    assert_eq!(connected["state"], "connected", "{connected}");

    let read = phone.send("console-code 120");
    let code = read["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code on the console: {read}\n{}", demo.log_text()))
        .to_string();
    assert!(
        code.len() >= 4 && code.bytes().all(|b| b.is_ascii_digit()),
        "{read}"
    );
    // Typed once the caller has been asked for it.
    let log = wait_count(
        || demo.log_text(),
        "playing prompt=EnterCode",
        1,
        Duration::from_secs(30),
    );
    assert!(log.contains("playing prompt=EnterCode"), "{log}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(phone.send(&format!("press {code}"))["pressed"], code);
    let log = wait_count(
        || demo.log_text(),
        "playing prompt=Menu",
        1,
        Duration::from_secs(60),
    );
    assert!(
        log.contains("playing prompt=Menu"),
        "the code did not verify:\n{log}"
    );
    assert_eq!(phone.send("press 0")["pressed"], "0");
    let ended = phone.send("wait transferred-ended 30");
    let result = phone.send("result");
    assert_eq!(ended["state"], "transferred-ended", "{result}");
    assert_eq!(
        result["transfer"]["headers"]["X-Passgate-Auth"], "verified",
        "{result}"
    );

    let shown = phone.send("console-call 30");
    assert_verified_and_transferred(&shown, "sms code");
    let steps = shown["steps"].to_string();
    for step in ["passphrase checked", "code send", "code checked: accepted"] {
        assert!(steps.contains(step), "{step} missing: {shown:#}");
    }
    assert!(
        !steps.contains("passphrase checked: match"),
        "the wrong passphrase matched: {shown:#}"
    );
}
