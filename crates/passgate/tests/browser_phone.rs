//! The test phone in a real browser: the real binary with its SIP
//! WebSocket on, Debian's Chromium (headless, driven over the DevTools
//! protocol by playwright-core through `web/tests/phone-driver.mjs`), its
//! fake microphone playing espeak-ng's Korean passphrase, JsSIP over the
//! WebSocket, WebRTC media (ICE-lite, DTLS-SRTP) into the Korean model.
//!
//! Needs `node` with `web/node_modules` (`make deps`), `/usr/bin/chromium`,
//! `espeak-ng`, `sox` and the Korean model.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use support::sms_sink::{first_code, SmsSink};
use support::{workspace, Agent};

/// The page in Chromium, one command a line (see phone-driver.mjs).
struct Phone {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Phone {
    fn open(url: &str, mic: &Path) -> Phone {
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

    fn send(&mut self, command: &str) -> serde_json::Value {
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
fn microphone(text: &str, dir: &Path) -> std::path::PathBuf {
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

fn start_agent(extra: &[(&str, String)]) -> Agent {
    let ws = format!("127.0.0.1:{}", support::free_port());
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
    support::cli::add_nelson(&agent.database);
    agent
}

/// Waits until the log has `needle` `count` times.
fn wait_count(agent: &Agent, needle: &str, count: usize, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let log = agent.log_text();
        if log.matches(needle).count() >= count || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn audit(agent: &Agent) -> String {
    support::cli::passgate(&agent.database, &["audit", "--json"])
}

#[test]
fn the_page_calls_says_the_passphrase_presses_zero_and_is_transferred_verified() {
    verified_call(&[], "codec=Pcmu", "", "source=\"sip-info\"");
}

#[test]
fn the_same_call_in_opus_when_sip_codecs_puts_it_first() {
    verified_call(
        &[("PASSGATE_SIP__CODECS", "[\"opus\", \"pcmu\"]".into())],
        "codec=Opus",
        "",
        "source=\"sip-info\"",
    );
}

#[test]
fn the_same_call_with_the_key_sent_as_rfc_4733_in_the_media() {
    verified_call(&[], "codec=Pcmu", "?dtmf=rfc4733", "source=Rfc4733");
}

fn verified_call(extra: &[(&str, String)], codec: &str, query: &str, key_source: &str) {
    let agent = start_agent(extra);
    let dir = tempfile::tempdir().unwrap();
    let mic = microphone("하얀 말", dir.path());
    let mut phone = Phone::open(&format!("http://{}/phone{query}", agent.http), &mic);
    let connected = phone.send("call");
    assert_eq!(connected["state"], "connected", "{connected}");
    let log = wait_count(&agent, "playing prompt=Menu", 1, Duration::from_secs(60));
    assert!(
        log.contains(&format!("{codec} ptime=20 webrtc=true"))
            && log.contains("playing prompt=Menu"),
        "no {codec} call with a menu after the passphrase:\n{log}"
    );
    assert_eq!(phone.send("press 0")["pressed"], "0");
    let ended = phone.send("wait transferred-ended 30");
    let result = phone.send("result");
    assert_eq!(ended["state"], "transferred-ended", "{result}");
    // The page showed where the REFER would go and what it says.
    assert_eq!(
        result["transfer"]["target"], "sip:agents@127.0.0.1",
        "{result}"
    );
    assert_eq!(
        result["transfer"]["headers"],
        serde_json::json!({"X-Passgate-Auth": "verified", "X-Passgate-Account": "nelson"}),
        "{result}"
    );
    assert!(
        result["demo"]
            .as_str()
            .is_some_and(|d| d.contains("+15550100001")),
        "{result}"
    );
    // Both ways had sound: the prompts reached the page, the microphone Passgate.
    assert!(
        result["line_peak"].as_f64().unwrap_or(0.0) > 0.05,
        "{result}"
    );
    let log = agent.wait_log(&["outcome=transferred_verified"], Duration::from_secs(10));
    assert!(
        log.lines()
            .any(|l| l.contains("digit digit=0") && l.contains(key_source)),
        "no 0 by {key_source}:\n{log}"
    );
    assert!(log.contains("transfer completed"), "{log}");
    assert!(
        log.contains("call finished outcome=transferred_verified"),
        "{log}"
    );
    let trail = audit(&agent);
    for event in [
        "\"passphrase_checked\"",
        "\"authenticated\"",
        "\"menu_choice\"",
        "\"transferred\"",
    ] {
        assert!(trail.contains(event), "{event} missing:\n{trail}");
    }
    assert!(
        !trail.contains("하얀"),
        "the passphrase leaked into the audit"
    );
}

#[test]
fn the_page_takes_the_sms_branch_with_the_code_from_the_sink() {
    let sink = SmsSink::start(support::free_port());
    let agent = start_agent(&sink.env());
    let dir = tempfile::tempdir().unwrap();
    let mic = microphone("검은 소", dir.path());
    let mut phone = Phone::open(&format!("http://{}/phone", agent.http), &mic);
    assert_eq!(phone.send("call")["state"], "connected");
    let deadline = Instant::now() + Duration::from_secs(90);
    let code = loop {
        if let Some(code) = sink
            .messages()
            .first()
            .and_then(|m| first_code(m["body"].as_str().unwrap_or_default()))
        {
            break code;
        }
        assert!(
            Instant::now() < deadline,
            "no SMS code sent:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // Typed once the page has been asked for it.
    let log = wait_count(
        &agent,
        "playing prompt=EnterCode",
        1,
        Duration::from_secs(20),
    );
    assert!(log.contains("playing prompt=EnterCode"), "{log}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(phone.send(&format!("press {code}"))["pressed"], code);
    let log = wait_count(&agent, "playing prompt=Menu", 1, Duration::from_secs(60));
    assert!(log.contains("playing prompt=Menu"), "no menu:\n{log}");
    phone.send("press 0");
    let ended = phone.send("wait transferred-ended 30");
    let result = phone.send("result");
    assert_eq!(ended["state"], "transferred-ended", "{result}");
    assert_eq!(
        result["transfer"]["headers"],
        serde_json::json!({"X-Passgate-Auth": "verified", "X-Passgate-Account": "nelson"}),
        "{result}"
    );
    let trail = audit(&agent);
    assert!(
        trail.contains("\"sms_code\"") && trail.contains("\"transferred\""),
        "{trail}"
    );
}

#[test]
fn the_page_without_its_bundle_says_how_to_build_it() {
    let empty = tempfile::tempdir().unwrap();
    let agent = Agent::start(&[("PASSGATE_HTTP__ASSETS", empty.path().to_str().unwrap())]);
    let mut stream = std::net::TcpStream::connect(agent.http).unwrap();
    write!(
        stream,
        "GET /phone/jssip.min.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains("make deps"), "{response}");
}
