//! The passgate command line, the caller's speech and the REFER, as the
//! call tests use them.

use std::path::Path;
use std::process::Command;

use super::{workspace, SippRun};

/// Runs `passgate ARGS` against the store at `database`; its standard output.
pub fn passgate(database: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_passgate"))
        .current_dir(workspace())
        .args(args)
        .env("PASSGATE_DATABASE__URL", database)
        .output()
        .expect("run passgate");
    assert!(
        out.status.success(),
        "passgate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The demo's account: Nelson Medina, +15550100001, "하얀 말".
pub fn add_nelson(database: &str) {
    passgate(
        database,
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

/// `text` as SIPp's rtp_stream wants it, written to `dir/name`: Korean
/// espeak-ng speech, 8 kHz µ-law, then 2.5 s of silence.
pub fn spoken_as(text: &str, dir: &Path, name: &str) {
    let raw = dir.join("raw.wav");
    let espeak = Command::new("espeak-ng")
        .args(["-v", "ko", "-s", "140", "-w"])
        .arg(&raw)
        .arg(text)
        .status();
    assert!(espeak.expect("espeak-ng").success());
    let sox = Command::new("sox")
        .arg(&raw)
        .args(["-r", "8000", "-c", "1", "-e", "u-law"])
        .arg(dir.join(name))
        .args(["pad", "0", "2.5"])
        .status();
    assert!(sox.expect("sox").success());
}

/// The Refer-To line of the REFER SIPp received.
pub fn refer_to(run: &SippRun) -> String {
    let refer = run
        .received()
        .into_iter()
        .find(|m| m.contains("REFER sip:"))
        .expect("a REFER");
    refer
        .lines()
        .find(|l| l.starts_with("Refer-To:"))
        .expect("Refer-To")
        .trim()
        .to_string()
}
