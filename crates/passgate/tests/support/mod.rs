//! Test support: start the real `passgate` binary on free ports and drive it
//! with SIPp scenarios from `tests/sipp/`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A port free for both UDP and TCP on loopback right now.
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        let port = udp.local_addr().expect("local addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub struct Agent {
    child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    pub database: String,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    /// Starts `passgate run` with the shipped config, SIP on a free port and
    /// the given `PASSGATE_…` overrides.
    pub fn start(env: &[(&str, &str)]) -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("passgate.log");
        let rtp_first = 20000 + (free_port() % 20000) / 2 * 2;
        let database = format!("sqlite://{}", dir.path().join("passgate.db").display());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_passgate"));
        cmd.current_dir(workspace())
            .args(["run", "--config", "config/passgate.toml"])
            .env("PASSGATE_SIP__LISTEN", "127.0.0.1:0")
            .env(
                "PASSGATE_RTP__PORT_RANGE",
                format!("{}-{}", rtp_first, rtp_first + 200),
            )
            .env("PASSGATE_LOG__LEVEL", "info,passgate=debug,sip=debug")
            .env("PASSGATE_HTTP__LISTEN", "127.0.0.1:0")
            .env("PASSGATE_DATABASE__URL", &database)
            // Synthesised prompts are shared by every test run.
            .env(
                "PASSGATE_PROMPTS__CACHE_DIR",
                workspace().join("target/prompt-cache"),
            )
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start passgate");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut http = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("HTTP listening on ") {
                    http = rest.trim().to_string();
                }
                if let Some(rest) = line.strip_prefix("SIP listening on ") {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send((addr, http.clone()));
                }
            }
        });
        let (addr, http) = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "passgate did not start: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Agent {
            child,
            sip: addr.parse().expect("listen address"),
            http: http.parse().expect("HTTP address"),
            database,
            log,
            _dir: dir,
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains every one of `needles` (the call task
    /// may log a moment after SIPp has seen the last message).
    pub fn wait_log(&self, needles: &[&str], timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let log = self.log_text();
            if needles.iter().all(|n| log.contains(n)) || std::time::Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct SippRun {
    pub code: i32,
    /// SIPp's -trace_msg log: every message sent and received.
    pub messages: String,
    pub errors: String,
    pub stdout: String,
}

impl SippRun {
    /// The messages SIPp received, each as text.
    pub fn received(&self) -> Vec<&str> {
        self.messages
            .split("-----------------------------------------------")
            .filter(|block| block.contains("message received"))
            .collect()
    }

    pub fn assert_ok(&self, what: &str) {
        assert_eq!(
            self.code, 0,
            "{what}: SIPp exit code {}\n--- errors ---\n{}\n--- messages ---\n{}",
            self.code, self.errors, self.messages
        );
    }
}

/// Runs one call of `tests/sipp/<scenario>.xml` against `target`.
pub fn sipp(scenario: &str, target: SocketAddr, extra: &[&str]) -> SippRun {
    let dir = tempfile::tempdir().expect("tempdir");
    let messages = dir.path().join("messages.log");
    let errors = dir.path().join("errors.log");
    let scenario_path = workspace()
        .join("tests/sipp")
        .join(format!("{scenario}.xml"));
    let port = free_port().to_string();
    let media_port = free_port().to_string();
    let output = Command::new("sipp")
        .current_dir(dir.path())
        .arg("-sf")
        .arg(&scenario_path)
        .args(["-m", "1", "-nostdin", "-timeout", "30", "-timeout_error"])
        .args(["-i", "127.0.0.1", "-p", &port, "-mp", &media_port])
        .args(["-trace_msg", "-trace_err"])
        .arg("-message_file")
        .arg(&messages)
        .arg("-error_file")
        .arg(&errors)
        .args(extra)
        .arg(target.to_string())
        .output()
        .expect("sipp must be installed (make test installs the sip-tester package)");
    SippRun {
        code: output.status.code().unwrap_or(-1),
        messages: std::fs::read_to_string(&messages).unwrap_or_default(),
        errors: std::fs::read_to_string(&errors).unwrap_or_default(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    }
}

/// The offer keys of `basic_call.xml`.
pub fn offer_keys(
    codec_pt: &'static str,
    codec: &'static str,
    te_pt: &'static str,
    ptime: &'static str,
) -> Vec<&'static str> {
    vec![
        "-key",
        "codec_pt",
        codec_pt,
        "-key",
        "codec_name",
        codec,
        "-key",
        "te_pt",
        te_pt,
        "-key",
        "ptime",
        ptime,
    ]
}

impl Agent {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit; its exit code, or None on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}
