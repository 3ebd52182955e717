//! `passgate demo` started as a user starts it, on free ports, in a fresh
//! directory (its data/ is its own) that sees the repository's model,
//! configuration files and web pages.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::{free_port, workspace};

pub struct Demo {
    child: Child,
    pub sip: u16,
    pub http: u16,
    /// Its SIP WebSocket port (`--ws`), where the test phone page calls.
    pub ws: u16,
    pub log: PathBuf,
    /// What it prints on standard output, a line at a time.
    pub lines: mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    /// Starts `passgate demo`; `rust_log` (RUST_LOG) adds log lines the
    /// demo's "info" leaves out, e.g. the prompts played.
    pub fn start(rust_log: Option<&str>) -> Demo {
        let (sip, http, ws) = (free_port(), free_port(), free_port());
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["models", "config", "web"] {
            std::os::unix::fs::symlink(workspace().join(name), dir.path().join(name))
                .expect("symlink");
        }
        let log = dir.path().join("demo.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_passgate"));
        command
            .current_dir(dir.path())
            .args(["demo", "--listen", &format!("127.0.0.1:{sip}")])
            .args(["--http", &format!("127.0.0.1:{http}")])
            .args(["--ws", &format!("127.0.0.1:{ws}")])
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"));
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        let mut child = command.spawn().expect("start passgate demo");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Demo {
            child,
            sip,
            http,
            ws,
            log,
            lines,
            _dir: dir,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Reads its output until it says SIP is listening; the lines before.
    pub fn wait_listening(&self) -> Vec<String> {
        let mut said = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| {
                    panic!("the demo did not start: {said:?}\n{}", self.log_text())
                });
            if line.starts_with("SIP listening on") {
                return said;
            }
            said.push(line);
        }
    }
}
