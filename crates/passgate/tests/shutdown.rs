//! SIGTERM: new calls get 503, calls in progress finish, then the process exits 0.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{sipp, Agent};

#[test]
fn sigterm_refuses_new_calls_lets_the_call_in_progress_finish_and_exits_0() {
    let mut agent = Agent::start(&[("PASSGATE_CALL__MAX_DURATION_SECS", "4")]);
    let target = agent.sip;
    let in_progress = std::thread::spawn(move || sipp("agent_hangup", target, &[]));
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-TERM", &agent.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(300));
    let refused = sipp("expect_503", agent.sip, &[]);
    refused.assert_ok("a new call while draining");
    assert!(agent.is_running(), "still serving the call in progress");
    let first = in_progress.join().unwrap();
    first.assert_ok("the call in progress ended normally (BYE from the agent)");
    assert_eq!(
        agent.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        agent.log_text()
    );
    let log = agent.wait_log(&["all calls finished"], Duration::from_secs(5));
    assert!(
        log.contains("refusing new calls") && log.contains("all calls finished"),
        "{log}"
    );
}
