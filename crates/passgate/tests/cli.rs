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

/// What a shell or `docker run -e` gives is text: string keys take
/// numeric-looking values as they are (phone numbers, tokens, leading zeros)
/// and numeric keys parse theirs.
#[test]
fn environment_values_fill_string_keys_verbatim_and_numeric_keys_by_type() {
    let out = Command::new(env!("CARGO_BIN_EXE_passgate"))
        .current_dir(support::workspace())
        .args(["check-config", "--config", "config/passgate.toml"])
        .env("PASSGATE_SMS__GATEWAY", "webhook")
        .env("PASSGATE_SMS__WEBHOOK__URL", "https://sms.example/send")
        .env("PASSGATE_SMS__WEBHOOK__FROM", "+15550009999")
        .env("PASSGATE_SMS__WEBHOOK__SECRET", "123456")
        .env("PASSGATE_SIP__USER", "0012")
        .env("PASSGATE_SIP__DIGEST_REALM", "5060")
        .env("PASSGATE_SIP__DIGEST_USERS__ALICE", "000123")
        .env("PASSGATE_PROMPTS__VOICE", "1.50")
        .env("PASSGATE_SIP__MAX_CALLS", "0077")
        .env("PASSGATE_SIP__MAX_CALLS_PER_SECOND", "12.5")
        .env("PASSGATE_SIP__CODECS", "[pcma, pcmu]")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for setting in [
        "user = \"0012\"",
        "digest_realm = \"5060\"",
        "voice = \"1.50\"",
        "max_calls = 77",
        "max_calls_per_second = 12.5",
        "codecs = [\"pcma\", \"pcmu\"]",
    ] {
        assert!(stdout.contains(setting), "{setting} not in\n{stdout}");
    }
}

#[test]
fn check_config_prints_no_secret() {
    let token = "admin-token-5f1c9a";
    let nonce_secret = "nonce-secret-0123456789abcdef0123456789";
    let out = Command::new(env!("CARGO_BIN_EXE_passgate"))
        .current_dir(support::workspace())
        .args(["check-config", "--config", "config/passgate.toml"])
        .env("PASSGATE_HTTP__TOKEN", token)
        .env("PASSGATE_SIP__DIGEST_NONCE_SECRET", nonce_secret)
        .env("PASSGATE_SIP__DIGEST_REALM", "passgate")
        .env("PASSGATE_SIP__DIGEST_USERS__TRUNK", "trunk-password-77")
        .env(
            "PASSGATE_DATABASE__URL",
            "postgres://passgate:db-password-42@db.example/passgate",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in [token, nonce_secret, "trunk-password-77", "db-password-42"] {
        assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
    }
    for setting in [
        "token = \"<redacted>\"",
        "digest_nonce_secret = \"<redacted>\"",
        "url = \"postgres://passgate:<redacted>@db.example/passgate\"",
        "digest_realm = \"passgate\"",
    ] {
        assert!(printed.contains(setting), "{setting} not in\n{printed}");
    }
}

#[test]
fn a_short_nonce_secret_names_the_key_and_not_the_value() {
    let out = Command::new(env!("CARGO_BIN_EXE_passgate"))
        .current_dir(support::workspace())
        .args(["check-config", "--config", "config/passgate.toml"])
        .env("PASSGATE_SIP__DIGEST_NONCE_SECRET", "short-secret-xyz")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sip.digest_nonce_secret") && stderr.contains("at least 32"),
        "{stderr}"
    );
    assert!(!stderr.contains("short-secret-xyz"), "{stderr}");
}

#[test]
fn a_bad_numeric_value_from_the_environment_names_the_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_passgate"))
        .current_dir(support::workspace())
        .args(["check-config", "--config", "config/passgate.toml"])
        .env("PASSGATE_RTP__MEDIA_THREADS", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PASSGATE_RTP__MEDIA_THREADS") && stderr.contains("\"lots\""),
        "{stderr}"
    );
}

fn accounts(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_passgate"))
        .current_dir(support::workspace())
        .arg("accounts")
        .args(args)
        .env("PASSGATE_DATABASE__URL", db)
        .output()
        .unwrap()
}

#[test]
fn accounts_are_added_listed_and_bad_input_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("p.db").display());
    let add = |phone: &str, passphrase: &str| {
        accounts(
            &db,
            &[
                "add",
                "--name",
                "Nelson Medina",
                "--phone",
                phone,
                "--passphrase",
                passphrase,
                "--balance",
                "1234.56",
            ],
        )
    };
    let ok = add("+15550100001", "white horse");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    for (phone, passphrase, problem) in [
        ("not-a-number", "white horse", "is not a phone number"),
        (
            "+15550100001",
            "white horse",
            "already belongs to an account",
        ),
        ("+15550100002", "   ", "passphrase"),
    ] {
        let out = add(phone, passphrase);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{phone:?}/{passphrase:?}: {stderr}"
        );
        assert!(stderr.contains(problem), "{problem:?} not in: {stderr}");
        assert!(
            !stderr.contains("white horse"),
            "the passphrase leaked: {stderr}"
        );
    }
    let list = accounts(&db, &["list", "--json"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("\"Nelson Medina\"")
            && text.contains("+15550100001")
            && text.contains("1234.56"),
        "{text}"
    );
    assert!(
        !text.contains("argon2") && !text.contains("white"),
        "no passphrase material in the listing: {text}"
    );
}
