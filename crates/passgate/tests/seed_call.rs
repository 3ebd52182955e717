//! The call in ../shared/seed, end to end: the real binary, the real Korean
//! model, a SQLite account store, and SIPp as the caller (speech by
//! rtp_stream, keys by SIP INFO, the transfer target's NOTIFYs).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{workspace, Agent};

fn passgate(agent: &Agent, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_passgate"))
        .current_dir(workspace())
        .args(args)
        .env("PASSGATE_DATABASE__URL", &agent.database)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "passgate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn add_nelson(agent: &Agent) {
    passgate(
        agent,
        &[
            "accounts",
            "add",
            "--id",
            "nelson",
            "--name",
            "Nelson Medina",
            "--phone",
            "+15550100001",
            "--passphrase",
            "하얀 말",
            "--balance",
            "1234.56",
        ],
    );
}

/// The phrase as SIPp's rtp_stream wants it: 8 kHz µ-law, then 2.5 s of silence.
fn spoken(text: &str, dir: &Path) {
    let raw = dir.join("raw.wav");
    assert!(Command::new("espeak-ng")
        .args(["-v", "ko", "-s", "140", "-w"])
        .arg(&raw)
        .arg(text)
        .status()
        .unwrap()
        .success());
    let out = dir.join("passphrase.wav");
    let ok = Command::new("sox")
        .arg(&raw)
        .args(["-r", "8000", "-c", "1", "-e", "u-law"])
        .arg(&out)
        .args(["pad", "0", "2.5"])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Runs a scenario from a working directory holding the caller's audio.
fn sipp_in(dir: &Path, scenario: &str, target: std::net::SocketAddr) -> support::SippRun {
    let messages = dir.join("messages.log");
    let errors = dir.join("errors.log");
    let output = Command::new("sipp")
        .current_dir(dir)
        .arg("-sf")
        .arg(
            workspace()
                .join("tests/sipp")
                .join(format!("{scenario}.xml")),
        )
        .args(["-m", "1", "-nostdin", "-timeout", "90", "-timeout_error"])
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &support::free_port().to_string(),
            "-mp",
            &support::free_port().to_string(),
        ])
        .args(["-trace_msg", "-trace_err"])
        .arg("-message_file")
        .arg(&messages)
        .arg("-error_file")
        .arg(&errors)
        .arg(target.to_string())
        .output()
        .expect("sipp");
    support::SippRun {
        code: output.status.code().unwrap_or(-1),
        messages: std::fs::read_to_string(&messages).unwrap_or_default(),
        errors: std::fs::read_to_string(&errors).unwrap_or_default(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    }
}

#[test]
fn a_known_caller_says_the_passphrase_presses_zero_and_is_referred_as_verified() {
    let agent = Agent::start(&[
        ("PASSGATE_FLOW__MENU__TIMEOUT", "30s"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    add_nelson(&agent);
    let dir = tempfile::tempdir().unwrap();
    spoken("하얀 말", dir.path());
    let run = sipp_in(dir.path(), "seed_verified", agent.sip);
    run.assert_ok(&format!(
        "the verified call\n--- passgate log ---\n{}",
        agent.log_text()
    ));
    let refer = run
        .received()
        .into_iter()
        .find(|m| m.contains("REFER sip:"))
        .expect("REFER");
    assert!(
        refer.contains(
            "Refer-To: <sip:agents@127.0.0.1?X-Passgate-Auth=verified&X-Passgate-Account=nelson>"
        ),
        "{refer}"
    );
    let log = agent.wait_log(&["transfer completed"], Duration::from_secs(5));
    assert!(log.contains("transfer completed"), "{log}");
    // The audit trail tells the story, without the passphrase.
    let audit = passgate(&agent, &["audit", "--json"]);
    for event in [
        "\"call_started\"",
        "\"caller_lookup\"",
        "\"passphrase_checked\"",
        "\"authenticated\"",
        "\"menu_choice\"",
        "\"transferred\"",
    ] {
        assert!(
            audit.contains(event),
            "{event} missing from the audit trail:\n{audit}"
        );
    }
    assert!(
        !audit.contains("하얀") && !log.contains("하얀 말"),
        "the passphrase leaked"
    );
}

#[test]
fn an_unknown_caller_who_presses_nothing_is_referred_to_a_representative_as_no_account() {
    let agent = Agent::start(&[
        ("PASSGATE_FLOW__OFFER__TIMEOUT", "2s"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let run = sipp_in(dir.path(), "seed_no_account", agent.sip);
    run.assert_ok(&format!(
        "the unknown caller\n--- passgate log ---\n{}",
        agent.log_text()
    ));
    let refer = run
        .received()
        .into_iter()
        .find(|m| m.contains("REFER sip:"))
        .expect("REFER");
    assert!(
        refer.contains("Refer-To: <sip:representative@127.0.0.1?X-Passgate-Auth=no-account>"),
        "{refer}"
    );
    let audit = passgate(&agent, &["audit", "--json"]);
    assert!(
        audit.contains("\"typed_number_offer\"") && audit.contains("\"transferred\""),
        "{audit}"
    );
}
