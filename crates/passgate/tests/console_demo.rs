//! `passgate demo` and its console: the test phone's and the console's
//! addresses are the first two things printed; in a real browser (Debian's Chromium driven by
//! playwright-core, `web/tests/console-demo.mjs`) the page shows the demo
//! account and its passphrase, and the code the demo's SMS gateway sent,
//! which — read off the page and typed by the caller (SIPp) — verifies the
//! call, which the page then shows verified by the code and transferred.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::cli::spoken_as;
use support::demo::Demo;
use support::http::get;
use support::sms_sink::relay_code;
use support::{free_port, workspace};

#[test]
fn the_demo_console_shows_the_account_and_the_sms_code_that_verifies_the_call() {
    assert!(
        workspace()
            .join("web/node_modules/playwright-core")
            .is_dir(),
        "web/node_modules is missing: make deps runs npm ci in web/"
    );
    let demo = Demo::start(None);
    let (sip, http) = (demo.sip, demo.http);
    let first = demo.lines.recv_timeout(Duration::from_secs(30)).unwrap();
    let second = demo.lines.recv_timeout(Duration::from_secs(30)).unwrap();
    let console = format!("http://127.0.0.1:{http}/console/");
    assert_eq!(
        first,
        format!("Call from a browser: http://127.0.0.1:{http}/phone (the test phone)"),
        "the test phone's address comes first"
    );
    assert_eq!(
        second,
        format!("Console: {console}"),
        "the console's address comes second"
    );
    demo.wait_listening();
    let shown = get(
        format!("127.0.0.1:{http}").parse().unwrap(),
        "/api/console/demo",
        None,
    );
    assert_eq!(shown.status, 200, "{}", shown.body);
    let shown = shown.json();
    assert_eq!(
        (&shown["name"], &shown["number"], &shown["passphrase"]),
        (
            &"Nelson Medina".into(),
            &"+15550100001".into(),
            &"하얀 말".into()
        )
    );

    let mut browser = Command::new("node")
        .current_dir(workspace())
        .arg("web/tests/console-demo.mjs")
        .arg(&console)
        .arg("150")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be installed (make deps installs npm)");
    let stdout = browser.stdout.take().unwrap();
    let (tx, page) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let ready = page.recv_timeout(Duration::from_secs(60));
    assert_eq!(
        ready.as_deref(),
        Ok("ready"),
        "the demo's panel did not show"
    );

    // A wrong passphrase: the demo sends a code, to the page.
    let dir = tempfile::tempdir().unwrap();
    spoken_as("검은 소", dir.path(), "wrong.wav");
    let sipp_port = free_port();
    let caller = std::thread::spawn({
        let dir = dir.path().to_path_buf();
        move || {
            support::sipp_with(
                "seed_sms_code",
                format!("127.0.0.1:{sip}").parse().unwrap(),
                &support::SippOptions {
                    dir: Some(&dir),
                    port: Some(sipp_port),
                    timeout_secs: Some(120),
                    extra: &["-cid_str", "passgate-seed-%u"],
                    ..Default::default()
                },
            )
        }
    });
    let read = page
        .recv_timeout(Duration::from_secs(90))
        .unwrap_or_else(|_| panic!("no code on the page:\n{}", demo.log_text()));
    let read: serde_json::Value = serde_json::from_str(&read).unwrap();
    let code = read["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{read}"))
        .to_string();
    relay_code(sipp_port, &code);
    let run = caller.join().unwrap();
    run.assert_ok(&format!(
        "the SMS-code call\n--- demo log ---\n{}",
        demo.log_text()
    ));
    let report = page
        .recv_timeout(Duration::from_secs(60))
        .expect("the page's report");
    let out = browser.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert!(
        out.status.success(),
        "{report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["demo"]["passphrase"], "“하얀 말”", "{report:#}");
    assert_eq!(report["verified"], true, "{report:#}");
    assert_eq!(report["transferred"], true, "{report:#}");
    assert_eq!(report["outcome"], "transferred_verified", "{report:#}");
}
