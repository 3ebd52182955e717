//! Spoofed identities, against the real binary: `P-Asserted-Identity` is
//! believed only from `sip.trusted_identity_sources` (RFC 3325), the
//! trunk's STIR/SHAKEN `verstat` is recorded and handed on with the call,
//! and `auth.require_verstat` makes an unattested caller type its number.

mod support;

use serde_json::Value;
use support::cli::add_nelson;
use support::{sipp_with, Agent, SippOptions, SippRun};

/// Nelson Medina's number on file (tests/support/cli.rs).
const NELSON: &str = "+15550100001";
/// A number with no account.
const STRANGER: &str = "+15559998888";

fn call(agent: &Agent, scenario: &str, from: &str, pai: &str, verstat: &str) -> SippRun {
    let run = sipp_with(
        scenario,
        agent.sip,
        &SippOptions {
            timeout_secs: Some(60),
            extra: &[
                "-key",
                "from_number",
                from,
                "-key",
                "pai_number",
                pai,
                "-key",
                "verstat",
                verstat,
            ],
            ..Default::default()
        },
    );
    run.assert_ok(&format!(
        "{scenario}\n--- passgate log ---\n{}",
        agent.log_text()
    ));
    run
}

fn audit(agent: &Agent) -> Vec<Value> {
    support::cli::passgate(&agent.database, &["audit", "--json"])
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn rows<'a>(audit: &'a [Value], event: &str) -> Vec<&'a Value> {
    audit.iter().filter(|r| r["event"] == event).collect()
}

fn refer_to(run: &SippRun) -> String {
    support::cli::refer_to(run)
}

#[test]
fn a_pai_from_an_untrusted_source_finds_no_account_and_its_verstat_is_ignored() {
    // The default trust domain is empty: nobody's assertions are believed.
    let agent = Agent::start(&[
        ("PASSGATE_FLOW__OFFER__TIMEOUT", "2s"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    add_nelson(&agent.database);
    let run = call(
        &agent,
        "caller_identity",
        STRANGER,
        NELSON,
        "TN-Validation-Passed",
    );
    assert_eq!(
        refer_to(&run),
        "Refer-To: <sip:representative@127.0.0.1?X-Passgate-Auth=no-account>",
        "no verstat is handed on from an untrusted source"
    );
    let audit = audit(&agent);
    let lookups = rows(&audit, "caller_lookup");
    assert_eq!(lookups.len(), 1, "{audit:?}");
    assert_eq!(
        lookups[0]["detail"]["number"], STRANGER,
        "From, not the PAI"
    );
    assert!(
        !audit
            .iter()
            .any(|r| r["call_id"] != "-" && r["account"] == "nelson"),
        "the spoofed PAI reached Nelson's account: {audit:?}"
    );
    let identity = rows(&audit, "caller_identity");
    assert_eq!(identity.len(), 1, "{audit:?}");
    assert_eq!(identity[0]["outcome"], "unverified");
    assert_eq!(identity[0]["detail"]["verstat"], Value::Null);
    assert!(agent
        .log_text()
        .contains("identity headers from a source outside sip.trusted_identity_sources ignored"));
}

#[test]
fn a_pai_from_a_trusted_source_finds_the_account() {
    let agent = Agent::start(&[
        (
            "PASSGATE_SIP__TRUSTED_IDENTITY_SOURCES",
            "[\"127.0.0.0/8\"]",
        ),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    add_nelson(&agent.database);
    call(
        &agent,
        "caller_identity_hangup",
        STRANGER,
        NELSON,
        "TN-Validation-Passed",
    );
    agent.wait_log(&["call finished"], std::time::Duration::from_secs(5));
    let audit = audit(&agent);
    let lookups = rows(&audit, "caller_lookup");
    assert_eq!(lookups.len(), 1, "{audit:?}");
    assert_eq!(lookups[0]["detail"]["number"], NELSON);
    assert_eq!(lookups[0]["account"], "nelson", "{audit:?}");
    let identity = rows(&audit, "caller_identity");
    assert_eq!(identity[0]["outcome"], "attested", "{audit:?}");
    assert_eq!(identity[0]["detail"]["verstat"], "TN-Validation-Passed");
    assert_eq!(identity[0]["detail"]["used_for_lookup"], true);
}

#[test]
fn with_require_verstat_an_unattested_caller_types_the_number_and_the_verstat_travels() {
    let agent = Agent::start(&[
        ("PASSGATE_SIP__TRUSTED_IDENTITY_SOURCES", "[\"127.0.0.1\"]"),
        ("PASSGATE_AUTH__REQUIRE_VERSTAT", "true"),
        ("PASSGATE_FLOW__OFFER__TIMEOUT", "2s"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    add_nelson(&agent.database);
    let run = call(
        &agent,
        "caller_identity",
        NELSON,
        NELSON,
        "TN-Validation-Failed",
    );
    assert_eq!(
        refer_to(&run),
        "Refer-To: <sip:representative@127.0.0.1?X-Passgate-Auth=no-account\
         &X-Passgate-Verstat=TN-Validation-Failed>"
    );
    let audit = audit(&agent);
    assert!(
        rows(&audit, "caller_lookup").is_empty(),
        "the caller-ID match was not tried: {audit:?}"
    );
    assert_eq!(
        rows(&audit, "typed_number_offer").len(),
        1,
        "the caller was asked for the account number: {audit:?}"
    );
    let identity = rows(&audit, "caller_identity");
    assert_eq!(identity[0]["outcome"], "trusted", "{audit:?}");
    assert_eq!(identity[0]["detail"]["verstat"], "TN-Validation-Failed");
    assert_eq!(identity[0]["detail"]["used_for_lookup"], false);
}

#[test]
fn with_require_verstat_an_attested_caller_is_found_by_its_number() {
    let agent = Agent::start(&[
        ("PASSGATE_SIP__TRUSTED_IDENTITY_SOURCES", "[\"127.0.0.1\"]"),
        ("PASSGATE_AUTH__REQUIRE_VERSTAT", "true"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    add_nelson(&agent.database);
    call(
        &agent,
        "caller_identity_hangup",
        NELSON,
        NELSON,
        "TN-Validation-Passed",
    );
    agent.wait_log(&["call finished"], std::time::Duration::from_secs(5));
    let audit = audit(&agent);
    let lookups = rows(&audit, "caller_lookup");
    assert_eq!(lookups.len(), 1, "{audit:?}");
    assert_eq!(lookups[0]["account"], "nelson", "{audit:?}");
}
