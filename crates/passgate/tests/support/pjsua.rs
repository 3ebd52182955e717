//! pjsip's pjsua2 as a caller (`tests/pjsua/caller.py`): one run of its
//! steps, the JSON events it printed and pjsip's own log of every message.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{free_port, workspace, Agent};

pub struct PjsuaRun {
    pub code: Option<i32>,
    pub events: Vec<Value>,
    pub stderr: String,
    pub sip_log: String,
}

impl PjsuaRun {
    pub fn of(&self, event: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["event"] == event).collect()
    }

    pub fn story(&self) -> String {
        let events: Vec<String> = self.events.iter().map(Value::to_string).collect();
        format!(
            "caller.py exit {:?}\n{}\n--- stderr (tail) ---\n{}",
            self.code,
            events.join("\n"),
            tail(&self.stderr, 3000)
        )
    }

    /// The events after the step `step` was started.
    pub fn after_step(&self, step: &str) -> &[Value] {
        let at = self
            .events
            .iter()
            .position(|e| e["event"] == "step" && e["step"] == step)
            .unwrap_or_else(|| panic!("no step {step}:\n{}", self.story()));
        &self.events[at..]
    }

    /// The first event `event` of the first call after the step `step`.
    pub fn first_after(&self, step: &str, event: &str) -> &Value {
        self.after_step(step)
            .iter()
            .find(|e| e["event"] == event && e["call"] == "main")
            .unwrap_or_else(|| panic!("no {event} after {step}:\n{}", self.story()))
    }

    pub fn call_id(&self) -> String {
        self.of("call_state")
            .into_iter()
            .find(|e| e["call"] == "main")
            .and_then(|e| e["call_id"].as_str())
            .unwrap_or_else(|| panic!("no call state:\n{}", self.story()))
            .to_string()
    }

    pub fn assert_clean(&self, agent: &Agent) {
        let done = self.of("done");
        assert!(
            self.code == Some(0) && done.len() == 1,
            "caller.py did not finish every step:\n{}\n--- passgate log ---\n{}",
            self.story(),
            tail(&agent.log_text(), 6000)
        );
    }

    /// The messages pjsip sent whose first log line (`TX n bytes
    /// <head>...`) names `head`.
    pub fn sent(&self, head: &str) -> Vec<&str> {
        self.messages("TX ", head)
    }

    /// The messages pjsip received whose first log line (`RX n bytes
    /// <head>...`) names `head`.
    pub fn received(&self, head: &str) -> Vec<&str> {
        self.messages("RX ", head)
    }

    fn messages(&self, direction: &str, head: &str) -> Vec<&str> {
        self.sip_log
            .split("--end msg--")
            .filter(|block| {
                block
                    .lines()
                    .any(|l| l.contains(direction) && l.contains(" bytes ") && l.contains(head))
            })
            .collect()
    }
}

pub fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

pub fn pjsua(target: &str, dir: &Path, options: &[String], steps: &[String]) -> PjsuaRun {
    let log = dir.join("pjsua.log");
    let _ = std::fs::remove_file(&log);
    let port = free_port();
    let output = Command::new("timeout")
        .args(["150", "python3"])
        .arg(workspace().join("tests/pjsua/caller.py"))
        .args(["--target", target])
        .args(["--from", "+15550100001", "--port", &port.to_string()])
        .args(["--codecs", "PCMU,PCMA"])
        .arg("--log")
        .arg(&log)
        .args(options)
        .args(steps)
        .current_dir(dir)
        .output()
        .expect("python3 (scripts/ensure-deps.sh installs pjsua2)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    PjsuaRun {
        code: output.status.code(),
        events: stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        sip_log: std::fs::read_to_string(&log).unwrap_or_default(),
    }
}
