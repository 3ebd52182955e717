//! Caller ID through the real binary: the number a trunk sends in
//! Remote-Party-ID finds the account, and a caller who asked for privacy is
//! still found but never named in the log.

mod support;

use std::time::Duration;

use support::{sipp, Agent};

/// Nelson Medina (+15550100001) on file; a call whose only identity for him is
/// Remote-Party-ID, with the privacy keys given; the log and the audit trail.
fn rpid_call(rpid_privacy: &str, privacy: &str) -> (String, String) {
    // Remote-Party-ID is believed only from the trust domain: SIPp is the trunk.
    let agent = Agent::start(&[
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
        ("PASSGATE_SIP__TRUSTED_IDENTITY_SOURCES", "[\"127.0.0.1\"]"),
    ]);
    support::cli::add_nelson(&agent.database);
    let run = sipp(
        "caller_id_rpid",
        agent.sip,
        &[
            "-key",
            "rpid_privacy",
            rpid_privacy,
            "-key",
            "privacy",
            privacy,
        ],
    );
    run.assert_ok(&format!(
        "caller ID from Remote-Party-ID\n--- passgate log ---\n{}",
        agent.log_text()
    ));
    let log = agent.wait_log(&["call ended"], Duration::from_secs(5));
    let audit = support::cli::passgate(&agent.database, &["audit", "--json"]);
    (log, audit)
}

fn caller_lookup_row(audit: &str) -> &str {
    audit
        .lines()
        .find(|row| row.contains("\"caller_lookup\""))
        .unwrap_or_else(|| panic!("no caller_lookup row:\n{audit}"))
}

#[test]
fn a_call_with_only_remote_party_id_is_looked_up_by_its_number() {
    let (log, audit) = rpid_call("off", "none");
    let lookup = caller_lookup_row(&audit);
    assert!(
        lookup.contains("+15550100001") && lookup.contains("nelson") && lookup.contains("found"),
        "{lookup}"
    );
    for other in ["+15559990000", "+15550009999"] {
        assert!(
            !audit.contains(other),
            "neither From nor the called party is the caller: {audit}"
        );
    }
    assert!(log.contains("caller=\"+15550100001\""), "{log}");
}

#[test]
fn a_private_caller_is_looked_up_by_the_asserted_number_and_kept_out_of_the_log() {
    let (log, audit) = rpid_call("full", "id");
    let lookup = caller_lookup_row(&audit);
    assert!(
        lookup.contains("nelson") && lookup.contains("found"),
        "the account is found: {lookup}"
    );
    assert!(log.contains("caller=\"private\""), "{log}");
    assert!(
        !log.contains("5550100001"),
        "the private number is in the log:\n{log}"
    );
}
