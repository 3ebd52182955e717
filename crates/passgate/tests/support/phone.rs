//! The test phone page in Debian's Chromium, driven by
//! `web/tests/phone-driver.mjs` (playwright-core over the DevTools protocol),
//! its fake microphone playing a WAV; and a node set up for it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use super::{workspace, Agent};

/// The page in Chromium, one command a line (see phone-driver.mjs).
pub struct Phone {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Phone {
    pub fn open(url: &str, mic: &Path) -> Phone {
        let web = workspace().join("web");
        assert!(
            web.join("node_modules/playwright-core").is_dir(),
            "web/node_modules is missing: run `make deps` (cd web && npm ci && npm run build)"
        );
        let mut child = Command::new("node")
            .current_dir(&web)
            .arg("tests/phone-driver.mjs")
            .arg(url)
            .arg(mic)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node (make deps installs it)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut phone = Phone {
            child,
            stdin,
            stdout,
        };
        let ready = phone.answer();
        assert_eq!(ready["state"], "ready", "the page: {ready}");
        phone
    }

    fn answer(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("the driver answers");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line:?}"))
    }

    pub fn send(&mut self, command: &str) -> serde_json::Value {
        writeln!(self.stdin, "{command}").expect("the driver takes commands");
        self.answer()
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` as Chromium's fake microphone plays it (over and over): Korean
/// espeak-ng speech, 48 kHz 16-bit mono, 1 s of silence before and 2.5 s
/// after.
pub fn microphone(text: &str, dir: &Path) -> std::path::PathBuf {
    let raw = dir.join("raw.wav");
    let espeak = Command::new("espeak-ng")
        .args(["-v", "ko", "-s", "140", "-w"])
        .arg(&raw)
        .arg(text)
        .status();
    assert!(espeak.expect("espeak-ng").success());
    let mic = dir.join("mic.wav");
    let sox = Command::new("sox")
        .arg(&raw)
        .args(["-r", "48000", "-c", "1", "-b", "16"])
        .arg(&mic)
        .args(["pad", "1", "2.5"])
        .status();
    assert!(sox.expect("sox").success());
    mic
}

pub fn start_agent(extra: &[(&str, String)]) -> Agent {
    let ws = format!("127.0.0.1:{}", super::free_port());
    let assets = workspace().join("web").display().to_string();
    let mut env: Vec<(&str, String)> = vec![
        ("PASSGATE_SIP__WS__LISTEN", ws),
        ("PASSGATE_HTTP__ASSETS", assets),
        ("PASSGATE_PHONE__SHOW_DEMO_ACCOUNT", "true".into()),
        ("PASSGATE_FLOW__MENU__TIMEOUT", "30s".into()),
        ("PASSGATE_FLOW__PROMPTS__GREETING", String::new()),
    ];
    env.extend(extra.iter().cloned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let agent = Agent::start(&env);
    super::cli::add_nelson(&agent.database);
    agent
}

/// Waits until `log()` has `needle` `count` times; the last text read.
pub fn wait_count(
    log: impl Fn() -> String,
    needle: &str,
    count: usize,
    timeout: Duration,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = log();
        if text.matches(needle).count() >= count || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
