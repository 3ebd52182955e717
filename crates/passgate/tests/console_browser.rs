//! The console in a real browser: Debian's Chromium, headless, driven over
//! the DevTools protocol by playwright-core (`web/tests/console-call.mjs`),
//! watches a real call (SIPp, the passphrase spoken, 0 pressed) go live,
//! then end verified and transferred, and takes a screenshot of the page.
//! `CONSOLE_SCREENSHOT=docs/console.png` keeps it for the README.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::cli::{add_nelson, spoken_as};
use support::{workspace, Agent};

#[test]
fn the_console_page_shows_a_call_live_then_verified_and_transferred() {
    let node_modules = workspace().join("web/node_modules/playwright-core");
    assert!(
        node_modules.is_dir(),
        "web/node_modules is missing: make deps runs npm ci in web/"
    );
    // With a token, as a node off loopback has: the page takes it from the
    // address's fragment (never sent to the server) and sends it itself.
    let agent = Agent::start(&[
        ("PASSGATE_FLOW__MENU__TIMEOUT", "30s"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
        ("PASSGATE_HTTP__TOKEN", "browser-t0ken"),
    ]);
    add_nelson(&agent.database);
    let dir = tempfile::tempdir().unwrap();
    spoken_as("하얀 말", dir.path(), "passphrase.wav");
    let screenshot = match std::env::var("CONSOLE_SCREENSHOT") {
        Ok(path) => workspace().join(path),
        Err(_) => dir.path().join("console.png"),
    };
    let mut browser = Command::new("node")
        .current_dir(workspace())
        .arg("web/tests/console-call.mjs")
        .arg(format!(
            "http://{}/console/#token=browser-t0ken",
            agent.http
        ))
        .arg(&screenshot)
        .arg("120")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be installed (make deps installs npm)");
    let stdout = browser.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(60));
    if first.as_deref() != Ok("ready") {
        let _ = browser.kill();
        let out = browser.wait_with_output().unwrap();
        panic!(
            "the page did not load: {first:?}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let run = support::sipp_with(
        "seed_verified",
        agent.sip,
        &support::SippOptions {
            dir: Some(dir.path()),
            timeout_secs: Some(90),
            ..Default::default()
        },
    );
    run.assert_ok(&format!(
        "the verified call\n--- log ---\n{}",
        agent.log_text()
    ));
    let seen = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the browser's report");
    let out = browser.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_str(&seen)
        .unwrap_or_else(|e| panic!("{e}: {seen}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        out.status.success(),
        "the page did not show the call as it went: {report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["sawLive"], true, "{report:#}");
    assert_eq!(report["verified"], true, "{report:#}");
    assert_eq!(report["transferred"], true, "{report:#}");
    assert_eq!(report["outcome"], "transferred_verified", "{report:#}");
    assert!(
        report["liveStages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "passphrase"),
        "{report:#}"
    );
    assert_eq!(report["auditShowsCall"], true, "{report:#}");
    let steps = report["steps"].to_string();
    assert!(steps.contains("passphrase checked: match"), "{steps}");
    let png = std::fs::read(&screenshot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}
