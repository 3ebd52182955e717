//! The Makefile runs the binaries where cargo put them: `CARGO_TARGET_DIR`
//! (or `build.target-dir`) moves them away from `./target`.

mod support;

use std::process::Command;

/// `make -n TARGETS` from the workspace root, with `CARGO_TARGET_DIR` set or
/// removed: the commands make would run.
fn dry_run(targets: &[&str], target_dir: Option<&str>) -> String {
    let mut make = Command::new("make");
    make.current_dir(support::workspace())
        .arg("-n")
        .args(targets)
        .env_remove("CARGO_TARGET_DIR");
    if let Some(dir) = target_dir {
        make.env("CARGO_TARGET_DIR", dir);
    }
    let out = make.output().expect("make must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn make_demo_soak_and_bench_run_the_binaries_from_cargos_target_dir() {
    let elsewhere = tempfile::tempdir().unwrap();
    let dir = elsewhere.path().to_str().unwrap();
    let commands = dry_run(
        &["demo", "soak", "bench", "bench-accuracy", "bench-scale-out"],
        Some(dir),
    );
    for expected in [
        format!("{dir}/release/passgate demo --listen"),
        format!("SOAK_BIN={dir}/release/passgate scripts/soak.sh"),
        format!("BENCH_AGENT_BIN={dir}/release/passgate {dir}/release/passgate-bench"),
        format!("{dir}/release/passgate-bench --out bench/results accuracy"),
        format!("{dir}/release/passgate-bench --out bench/results scaleout"),
    ] {
        assert!(
            commands.contains(&expected),
            "{expected} not in:\n{commands}"
        );
    }
    assert!(!commands.contains("./target/"), "{commands}");
}

#[test]
fn make_demo_without_cargo_target_dir_runs_the_workspace_build() {
    let commands = dry_run(&["demo"], None);
    let workspace = support::workspace().canonicalize().unwrap();
    let expected = format!("{}/target/release/passgate demo", workspace.display());
    assert!(
        commands.contains(&expected),
        "{expected} not in:\n{commands}"
    );
}
