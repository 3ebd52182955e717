//! SIPp's built-in UAS as the REFER's target: it answers the INVITE the
//! caller sends after the REFER, traces every message, and waits for its
//! BYE. Killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_media_port, free_port};

pub struct TransferTarget {
    child: Child,
    pub port: u16,
    messages: PathBuf,
    _dir: tempfile::TempDir,
}

impl TransferTarget {
    pub fn start() -> TransferTarget {
        let dir = tempfile::tempdir().expect("tempdir");
        let messages = dir.path().join("messages.log");
        let media_port = free_media_port();
        let port = loop {
            let p = free_port();
            if p.abs_diff(media_port) > 2 {
                break p;
            }
        };
        let child = Command::new("sipp")
            .current_dir(dir.path())
            .args(["-sn", "uas", "-m", "1", "-nostdin", "-timeout", "120"])
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &media_port.to_string(), "-trace_msg"])
            .arg("-message_file")
            .arg(&messages)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp must be installed (scripts/ensure-deps.sh installs it)");
        TransferTarget {
            child,
            port,
            messages,
            _dir: dir,
        }
    }

    /// Its address as a SIP URI with `user`.
    pub fn uri(&self, user: &str) -> String {
        format!("sip:{user}@127.0.0.1:{}", self.port)
    }

    /// SIPp's exit code once it has its one call (None if it never ends
    /// within `timeout`) and every message it traced.
    pub fn finish(&mut self, timeout: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + timeout;
        let code = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status.code();
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let messages = std::fs::read_to_string(&self.messages).unwrap_or_default();
        (code, messages)
    }
}

impl Drop for TransferTarget {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
