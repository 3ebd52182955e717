//! Lock-outs hold across nodes: two passgate processes share one PostgreSQL
//! (started by the test harness); failures counted by one refuse the caller
//! on the other.

mod support;

use std::time::Duration;

use support::{postgres, sipp, Agent};

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
    assert_eq!(
        support::cli::refer_to(&run),
        "Refer-To: <sip:representative@127.0.0.1?X-Passgate-Auth=locked>"
    );
    let audit = support::cli::passgate(&url, &["audit", "--json"]);
    assert!(
        audit.contains("\"number_lookup\"") && audit.contains("\"locked\""),
        "{audit}"
    );
}

#[test]
fn the_hourly_sms_cap_holds_across_nodes() {
    use support::sms_sink::SmsSink;
    let Some(url) = postgres::fresh_database("passgate_abuse_sms_cap") else {
        return; // said loudly by the harness: no PostgreSQL binaries here
    };
    let dir = tempfile::tempdir().unwrap();
    support::cli::spoken_as("검은 소", dir.path(), "wrong.wav");
    let sipp_port = support::free_port();
    let sink = SmsSink::start(sipp_port);
    let sink_env = sink.env();
    let mut env: Vec<(&str, &str)> = sink_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend([
        ("PASSGATE_DATABASE__URL", url.as_str()),
        ("PASSGATE_SMS_CAP__PER_ACCOUNT_PER_HOUR", "1"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
        ("PASSGATE_FLOW__MENU__TIMEOUT", "30s"),
    ]);
    let node_a = Agent::start(&env);
    let node_b = Agent::start(&env);
    support::cli::add_nelson(&url);
    let options = |port| support::SippOptions {
        dir: Some(dir.path()),
        port: Some(port),
        timeout_secs: Some(90),
        extra: &["-cid_str", "passgate-seed-%u"],
        ..Default::default()
    };
    // Node A: a wrong passphrase, the code by SMS (the one allowed this hour), typed.
    support::sipp_with("seed_sms_code", node_a.sip, &options(sipp_port))
        .assert_ok("the first call, on node A");
    assert_eq!(sink.messages().len(), 1);
    // Node B: a wrong passphrase again; the cap refuses a second SMS.
    let run = support::sipp_with(
        "abuse_sms_capped",
        node_b.sip,
        &options(support::free_port()),
    );
    run.assert_ok(&format!(
        "the second call, on node B\n{}",
        node_b.log_text()
    ));
    assert_eq!(sink.messages().len(), 1, "no second SMS within the hour");
    let log = node_b.wait_log(&["hourly SMS cap reached"], Duration::from_secs(5));
    assert!(log.contains("hourly SMS cap reached"), "{log}");
}
