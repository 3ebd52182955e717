//! Test support: start the real `passgate` binary on free ports and drive it
//! with SIPp scenarios from `tests/sipp/`.

#![allow(dead_code)]

pub mod cli;
pub mod demo;
pub mod http;
pub mod kamailio;
pub mod phone;
pub mod pjsua;
pub mod pki;
#[allow(unused_imports)] // only the tests that need PostgreSQL use it
pub use test_postgres as postgres;
pub mod sms_sink;
pub mod transfer_target;
pub mod udp_caller;

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

/// One sample in a `/metrics` text: `name` with its labels as written; 0
/// when absent.
pub fn metric_in(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
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
            .env(
                "PASSGATE_LOG__LEVEL",
                "info,passgate=debug,sip=debug,auth=debug",
            )
            .env("PASSGATE_HTTP__LISTEN", "127.0.0.1:0")
            .env("PASSGATE_DATABASE__URL", &database)
            .env(
                "PASSGATE_DATABASE__AUDIT_SPOOL",
                dir.path().join("audit.spool"),
            )
            .env(
                "PASSGATE_ASR__ADMIT_LEARNT_FILE",
                dir.path().join("admission.json"),
            )
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

    /// SIGKILL: the process ends at once, with no drain.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: a graceful drain.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The admin listener's `/metrics` text; empty when it does not answer
    /// (the agent may be stopping or killed).
    pub fn metrics_text(&self) -> String {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(self.http) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text
    }

    /// One sample of `/metrics`: `name` with its labels as written; 0 when
    /// the sample is absent (a counter not yet incremented).
    pub fn metric(&self, name: &str) -> f64 {
        metric_in(&self.metrics_text(), name)
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

/// How to run SIPp beyond the scenario and target.
#[derive(Default)]
pub struct SippOptions<'a> {
    /// Working directory (files the scenario plays); a fresh one when None.
    pub dir: Option<&'a Path>,
    /// SIP port (`-p`); free when None.
    pub port: Option<u16>,
    /// Media port (`-mp`, `[media_port]`, the source of pcap playback); free when None.
    pub media_port: Option<u16>,
    /// Seconds before SIPp gives up on the call.
    pub timeout_secs: Option<u32>,
    pub extra: &'a [&'a str],
}

/// Runs one call of `tests/sipp/<scenario>.xml` against `target`.
pub fn sipp(scenario: &str, target: SocketAddr, extra: &[&str]) -> SippRun {
    sipp_with(
        scenario,
        target,
        &SippOptions {
            extra,
            ..Default::default()
        },
    )
}

pub fn sipp_with(scenario: &str, target: SocketAddr, options: &SippOptions<'_>) -> SippRun {
    let fresh = tempfile::tempdir().expect("tempdir");
    let dir = options.dir.unwrap_or(fresh.path());
    let messages = dir.join("messages.log");
    let errors = dir.join("errors.log");
    let media_port = options.media_port.unwrap_or_else(free_media_port);
    // SIPp also binds media_port + 2: keep the SIP port clear of both.
    let port = options.port.unwrap_or_else(|| loop {
        let p = free_port();
        if p.abs_diff(media_port) > 2 {
            break p;
        }
    });
    let timeout = options.timeout_secs.unwrap_or(30).to_string();
    let output = Command::new("sipp")
        .current_dir(dir)
        .arg("-sf")
        .arg(
            workspace()
                .join("tests/sipp")
                .join(format!("{scenario}.xml")),
        )
        .args([
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            &timeout,
            "-timeout_error",
        ])
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-mp",
            &media_port.to_string(),
        ])
        .args(["-trace_msg", "-trace_err"])
        .arg("-message_file")
        .arg(&messages)
        .arg("-error_file")
        .arg(&errors)
        .args(options.extra)
        .arg(target.to_string())
        .output()
        .expect("sipp must be installed (make test installs the sip-tester package)");
    SippRun {
        code: output.status.code().unwrap_or(-1),
        // Lossy: a scenario may send binary bodies (an ISUP part).
        messages: String::from_utf8_lossy(&std::fs::read(&messages).unwrap_or_default())
            .into_owned(),
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

/// The resident memory of process `pid` in KiB (0 once it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
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

/// A port free on loopback whose port + 2 is free too: SIPp binds its video
/// echo socket on `-mp` + 2 and gives up when that port is taken.
pub fn free_media_port() -> u16 {
    loop {
        let port = free_port();
        if port < 65000 && UdpSocket::bind(("127.0.0.1", port + 2)).is_ok() {
            return port;
        }
    }
}

/// Like [`sipp`], with SIPp's media port (`-mp`, `[media_port]` in the SDP,
/// the source of `play_pcap_audio`) chosen by the caller, e.g. to capture on it.
pub fn sipp_on_media_port(
    scenario: &str,
    target: SocketAddr,
    media_port: u16,
    extra: &[&str],
) -> SippRun {
    sipp_with(
        scenario,
        target,
        &SippOptions {
            media_port: Some(media_port),
            extra,
            ..Default::default()
        },
    )
}

impl SippRun {
    /// The Call-ID of the call SIPp placed (from the first message it sent).
    pub fn call_id(&self) -> String {
        self.messages
            .lines()
            .find_map(|l| l.trim().strip_prefix("Call-ID:"))
            .map(|id| id.trim().to_string())
            .unwrap_or_else(|| panic!("no Call-ID in SIPp's messages:\n{}", self.messages))
    }
}

/// A packet capture on loopback with `tshark` (run as root, like
/// `play_pcap_audio`), limited to one UDP port.
pub struct Capture {
    child: Option<Child>,
    pub file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Capture {
    /// Starts capturing UDP to and from `port`; returns once tshark says the
    /// capture has started.
    pub fn start(port: u16) -> Capture {
        Self::start_filter(&format!("udp port {port}"))
    }

    /// Starts capturing what the capture filter `filter` selects on loopback.
    pub fn start_filter(filter: &str) -> Capture {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("capture.pcapng");
        let mut child = Command::new("tshark")
            .args(["-i", "lo", "-f", filter, "-q", "-w"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tshark must be installed (scripts/ensure-deps.sh installs it)");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut said = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Capturing on") {
                    let _ = tx.send(Ok(()));
                }
                said.push_str(&line);
                said.push('\n');
            }
            let _ = tx.send(Err(said));
        });
        let mut capture = Capture {
            child: Some(child),
            file,
            _dir: dir,
        };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(())) => capture,
            Ok(Err(said)) => panic!("tshark did not start capturing:\n{said}"),
            Err(_) => {
                capture.finish();
                panic!("tshark did not start capturing within 20 s");
            }
        }
    }

    /// Stops the capture (SIGINT, so that tshark writes out what it has) and
    /// returns the capture file.
    pub fn stop(mut self) -> CaptureFile {
        self.finish();
        CaptureFile {
            file: self.file.clone(),
            _capture: self,
        }
    }

    fn finish(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A finished capture.
pub struct CaptureFile {
    pub file: PathBuf,
    _capture: Capture,
}

/// One RTP packet of a capture, as tshark decodes it.
#[derive(Debug, Clone)]
pub struct CapturedRtp {
    /// Seconds since the epoch.
    pub time: f64,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub marker: bool,
    pub ssrc: String,
    /// The RTP payload (after the 12-byte header).
    pub payload: Vec<u8>,
}

impl CaptureFile {
    /// Every packet to or from `port`, decoded as RTP, in capture order.
    pub fn rtp(&self, port: u16) -> Vec<CapturedRtp> {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&self.file)
            .args(["-d", &format!("udp.port=={port},rtp"), "-Y", "rtp"])
            .args(["-T", "fields", "-E", "separator=;"])
            .args([
                "-e",
                "frame.time_epoch",
                "-e",
                "udp.srcport",
                "-e",
                "udp.dstport",
            ])
            .args(["-e", "rtp.p_type", "-e", "rtp.seq", "-e", "rtp.timestamp"])
            .args(["-e", "rtp.marker", "-e", "rtp.ssrc", "-e", "udp.payload"])
            .output()
            .expect("tshark");
        assert!(
            out.status.success(),
            "tshark -r: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let f: Vec<&str> = line.split(';').collect();
                assert_eq!(f.len(), 9, "unexpected tshark line: {line}");
                let udp = hex_bytes(f[8]);
                CapturedRtp {
                    time: f[0].parse().expect("time"),
                    src_port: f[1].parse().expect("src port"),
                    dst_port: f[2].parse().expect("dst port"),
                    payload_type: f[3].parse().expect("payload type"),
                    seq: f[4].parse().expect("seq"),
                    timestamp: f[5].parse().expect("timestamp"),
                    marker: matches!(f[6], "1" | "True" | "true"),
                    ssrc: f[7].to_string(),
                    payload: udp.get(12..).unwrap_or_default().to_vec(),
                }
            })
            .collect()
    }

    /// tshark's `rtp,streams` table for the streams to or from `port`.
    pub fn rtp_streams(&self, port: u16) -> String {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&self.file)
            .args([
                "-d",
                &format!("udp.port=={port},rtp"),
                "-q",
                "-z",
                "rtp,streams",
            ])
            .output()
            .expect("tshark");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn hex_bytes(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap_or("00"), 16).unwrap_or(0))
        .collect()
}

/// The number after `key` in the first log line saying `what`.
pub fn logged_number(log: &str, what: &str, key: &str) -> Option<f64> {
    let line = log.lines().find(|l| l.contains(what))?;
    let at = line.find(key)? + key.len();
    let digits: String = line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits.parse().ok()
}

/// The number after `key` in every log line saying `what`, in order.
pub fn logged_numbers(log: &str, what: &str, key: &str) -> Vec<f64> {
    log.lines()
        .filter(|l| l.contains(what))
        .filter_map(|line| logged_number(line, what, key))
        .collect()
}
