//! The command line: configuration errors are clear and name the key.

use std::process::Command;

mod support;

#[test]
fn check_config_names_the_bad_key_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[rtp]\nport_range = \"9-x\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_passgate"))
        .arg("check-config")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rtp.port_range") && stderr.contains("\"x\" is not a port number"),
        "{stderr}"
    );
    assert!(!stderr.contains("backtrace"), "{stderr}");
}

#[test]
fn check_config_accepts_the_shipped_file_with_environment_overrides() {
    let out = Command::new(env!("CARGO_BIN_EXE_passgate"))
        .current_dir(support::workspace())
        .args(["check-config", "--config", "config/passgate.toml"])
        .env("PASSGATE_SIP__MAX_CALLS", "77")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("max_calls = 77"), "{stdout}");
}
