//! `passgate recognize`: a WAV file of any rate through the call's recognition
//! path, with the real Korean model.

mod support;

use std::process::Command;

fn espeak(text: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let wav = dir.join("said.wav");
    // espeak-ng writes 22.05 kHz: the command must resample it itself.
    let ok = Command::new("espeak-ng")
        .args(["-v", "ko", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .unwrap();
    assert!(ok.success());
    wav
}

fn recognize(args: &[&str], wav: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_passgate"))
        .current_dir(support::workspace())
        .arg("recognize")
        .args(args)
        .arg(wav)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn recognize_prints_the_passphrase_with_confidences_in_vocabulary_mode() {
    let dir = tempfile::tempdir().unwrap();
    let wav = espeak("하얀 말", dir.path());
    let out = recognize(&["--vocabulary", "config/vocabulary-ko.txt"], &wav);
    assert!(out.contains("vocabulary of 20 words"), "{out}");
    let first = out
        .lines()
        .find(|l| l.trim_start().starts_with("1."))
        .expect("an alternative");
    assert!(first.ends_with("하얀 말"), "{out}");
    assert!(out.contains("x real time"), "{out}");
}

#[test]
fn recognize_in_full_vocabulary_mode_and_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let wav = espeak("하얀 말", dir.path());
    let out = recognize(&["--full"], &wav);
    assert!(
        out.contains("full vocabulary") && out.contains(" 1. "),
        "{out}"
    );
    let missing = Command::new(env!("CARGO_BIN_EXE_passgate"))
        .current_dir(support::workspace())
        .args(["recognize", "--model", "/nonexistent/model"])
        .arg(&wav)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/model"));
}
