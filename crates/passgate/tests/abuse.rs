//! Lock-outs hold across nodes: two passgate processes share one PostgreSQL
//! (started by the test harness); failures counted by one refuse the caller
//! on the other.

mod support;

#[path = "../../auth/tests/support/postgres.rs"]
mod postgres;

use std::process::Command;
use std::time::Duration;

use support::{sipp, workspace, Agent};

#[test]
fn a_caller_locked_out_on_one_node_is_locked_out_on_the_other() {
    let Some(url) = postgres::fresh_database("passgate_abuse_lockout") else {
        return; // said loudly by the harness: no PostgreSQL binaries here
    };
    let env = [
        ("PASSGATE_DATABASE__URL", url.as_str()),
        ("PASSGATE_LOCKOUT__MAX_FAILURES", "1"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ];
    let node_a = Agent::start(&env);
    let node_b = Agent::start(&env);
    sipp("abuse_unknown_number", node_a.sip, &[]).assert_ok("a guessed number on node A");
    node_a.wait_log(&["call finished"], Duration::from_secs(10));
    let run = sipp("abuse_locked", node_b.sip, &[]);
    run.assert_ok(&format!("the same caller on node B\n{}", node_b.log_text()));
    let refer = run
        .received()
        .into_iter()
        .find(|m| m.contains("REFER sip:"))
        .expect("REFER");
    assert!(
        refer.contains("Refer-To: <sip:representative@127.0.0.1?X-Passgate-Auth=locked>"),
        "{refer}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_passgate"))
        .current_dir(workspace())
        .args(["audit", "--json"])
        .env("PASSGATE_DATABASE__URL", &url)
        .output()
        .unwrap();
    let audit = String::from_utf8_lossy(&out.stdout);
    assert!(
        audit.contains("\"number_lookup\"") && audit.contains("\"locked\""),
        "{audit}"
    );
}
