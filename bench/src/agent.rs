//! Passgate under test: the release binary started with the shipped
//! configuration, loopback ports picked free, its own database and log.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A free port, as the kernel hands them out; good enough for loopback tests.
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(5070)
}

pub struct Agent {
    child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    dir: tempfile::TempDir,
}

impl Agent {
    /// Starts `target/release/passgate run` with the shipped configuration
    /// plus `env` overrides (PASSGATE_SECTION__KEY).
    pub fn start(env: &[(&str, String)]) -> anyhow::Result<Agent> {
        // BENCH_AGENT_BIN: another build of passgate (not PASSGATE_*: those
        // are configuration keys to it); BENCH_AGENT_ROOT: the checkout it
        // was built from, whose configuration it runs with (an earlier
        // build may refuse a later key).
        let root = Agent::root();
        let binary = std::env::var_os("BENCH_AGENT_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/release/passgate"));
        Agent::start_at(&root, &binary, env)
    }

    /// The checkout whose configuration the agent runs with.
    fn root() -> PathBuf {
        std::env::var_os("BENCH_AGENT_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(workspace)
    }

    /// Whether the agent `start` runs knows the configuration key `key`
    /// (its shipped configuration names it).
    pub fn knows(key: &str) -> bool {
        let config = std::fs::read_to_string(Agent::root().join("config/passgate.toml"));
        config.is_ok_and(|text| text.contains(key))
    }

    /// The value of `[section] key = …` the agent `start` runs with: the
    /// environment's override (PASSGATE_SECTION__KEY), else the shipped
    /// configuration's line; `None` when neither sets it.
    pub fn setting(section: &str, key: &str) -> Option<String> {
        let env = format!("PASSGATE_{}__{}", section, key).to_uppercase();
        if let Ok(v) = std::env::var(env) {
            return Some(v);
        }
        let config = std::fs::read_to_string(Agent::root().join("config/passgate.toml")).ok()?;
        let mut in_section = false;
        for line in config.lines().map(str::trim) {
            if line.starts_with('[') {
                in_section = line == format!("[{section}]");
            } else if in_section {
                if let Some((k, v)) = line.split_once('=') {
                    if k.trim() == key {
                        return Some(v.trim().trim_matches('"').to_string());
                    }
                }
            }
        }
        None
    }

    /// Starts `binary` from the checkout `root` it was built from, with that
    /// checkout's configuration: an earlier build may not know later keys.
    pub fn start_at(root: &Path, binary: &Path, env: &[(&str, String)]) -> anyhow::Result<Agent> {
        if !binary.exists() {
            bail!(
                "{} is missing: run `cargo build --release -p passgate`",
                binary.display()
            );
        }
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("passgate.log");
        let database = format!("sqlite://{}", dir.path().join("passgate.db").display());
        let mut cmd = Command::new(binary);
        cmd.current_dir(root)
            .args(["run", "--config", "config/passgate.toml"])
            .env("PASSGATE_SIP__LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("PASSGATE_HTTP__LISTEN", "127.0.0.1:0")
            .env("PASSGATE_DATABASE__URL", &database)
            .env(
                "PASSGATE_DATABASE__AUDIT_SPOOL",
                dir.path().join("audit.spool"),
            )
            .env("PASSGATE_LOG__LEVEL", "warn")
            .env(
                "PASSGATE_PROMPTS__CACHE_DIR",
                root.join("target/prompt-cache"),
            )
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?);
        // What admission learns stays with this agent, unless the caller
        // hands it a file; an earlier build does not know the key.
        let config = std::fs::read_to_string(root.join("config/passgate.toml")).unwrap_or_default();
        if config.contains("admit_learnt_file") {
            cmd.env(
                "PASSGATE_ASR__ADMIT_LEARNT_FILE",
                dir.path().join("admission.json"),
            );
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().context("starting passgate")?;
        let stdout = child.stdout.take().context("passgate stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut http = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("HTTP listening on ") {
                    http = rest.trim().to_string();
                }
                if let Some(rest) = line.strip_prefix("SIP listening on ") {
                    let sip = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send((sip, http.clone()));
                }
            }
        });
        let Ok((sip, http)) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            bail!(
                "passgate did not start:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        // Prompts render in the background at start-up; let that finish so it
        // is not counted against the first rate.
        std::thread::sleep(Duration::from_secs(2));
        Ok(Agent {
            child,
            sip: sip.parse().context("SIP address")?,
            http: http.parse().context("HTTP address")?,
            dir,
        })
    }

    /// The agent's log (its stderr).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("passgate.log")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The value of one Prometheus metric line (`name` plus labels as written).
    pub fn metric(&self, name: &str) -> Option<f64> {
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect_timeout(&self.http, Duration::from_secs(2)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.http
        )
        .ok()?;
        let mut body = String::new();
        stream.read_to_string(&mut body).ok()?;
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
