//! Kamailio as a record-routing proxy in front of an [`Agent`](super::Agent):
//! `tests/kamailio/kamailio.cfg` run in the foreground on a free port, ended
//! when dropped.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, workspace};

pub struct Kamailio {
    child: Option<Child>,
    /// Where callers send their requests.
    pub sip: SocketAddr,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Kamailio {
    /// Starts the proxy, forwarding initial requests to `passgate`; returns
    /// once an OPTIONS sent through it is answered, so the whole path works.
    pub fn start(passgate: SocketAddr) -> Kamailio {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(
            dir,
            "kamailio.cfg",
            &[format!("PASSGATE=\"sip:{passgate}\"")],
        )
    }

    /// The proxy as an SBC that enforces a 90 s session timer (`SBC_TIMER`
    /// in `tests/kamailio/kamailio.cfg`), with more of that file's SBC
    /// defines in `also` (`SBC_HIDES_UPDATE`, `SBC_REFRESH_MIN_SE`).
    pub fn enforcing_a_session_timer(passgate: SocketAddr, also: &[&str]) -> Kamailio {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut defines = vec![
            format!("PASSGATE=\"sip:{passgate}\""),
            "SBC_TIMER".to_string(),
        ];
        defines.extend(also.iter().map(|d| d.to_string()));
        Self::start_in(dir, "kamailio.cfg", &defines)
    }

    /// Kamailio's dispatcher (`tests/kamailio/dispatcher.cfg`) over `nodes`,
    /// probing each with OPTIONS every second; returns once a request sent
    /// through it is answered by one of them.
    pub fn dispatcher(nodes: &[SocketAddr]) -> Kamailio {
        let dir = tempfile::tempdir().expect("tempdir");
        let list = dir.path().join("dispatcher.list");
        let lines: String = nodes.iter().map(|n| format!("1 sip:{n}\n")).collect();
        std::fs::write(&list, lines).expect("dispatcher list");
        Self::start_in(
            dir,
            "dispatcher.cfg",
            &[format!("DSLIST=\"{}\"", list.display())],
        )
    }

    fn start_in(dir: tempfile::TempDir, config: &str, defines: &[String]) -> Kamailio {
        let log = dir.path().join("kamailio.log");
        let sip = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut command = Command::new(binary());
        command
            .arg("-f")
            .arg(workspace().join("tests/kamailio").join(config))
            .args(["-DD", "-E", "-Y"])
            .arg(dir.path())
            .args(["-A", &format!("LISTEN=udp:{sip}")]);
        for define in defines {
            command.args(["-A", define]);
        }
        let child = command
            // Its own process group: whatever it forks goes with it.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("kamailio must be installed (scripts/ensure-deps.sh installs it)");
        let mut proxy = Kamailio {
            child: Some(child),
            sip,
            log,
            _dir: dir,
        };
        if let Err(why) = proxy.wait_ready(Duration::from_secs(20)) {
            let log = proxy.log_text();
            proxy.stop();
            panic!("kamailio did not start: {why}\n--- kamailio log ---\n{log}");
        }
        proxy
    }

    /// The URI of the proxy as its Record-Route names it.
    pub fn uri(&self) -> String {
        format!("sip:{}", self.sip)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        socket
            .set_read_timeout(Some(Duration::from_millis(300)))
            .map_err(|e| e.to_string())?;
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        let deadline = Instant::now() + timeout;
        let mut attempt = 0;
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(format!("exited with {status}"));
            }
            attempt += 1;
            let options = format!(
                "OPTIONS sip:passgate@{sip} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {local};branch=z9hG4bK-ready-{attempt};rport\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:ready@{local}>;tag=ready\r\n\
                 To: <sip:passgate@{sip}>\r\n\
                 Call-ID: kamailio-ready-{attempt}@{local}\r\n\
                 CSeq: 1 OPTIONS\r\n\
                 Content-Length: 0\r\n\r\n",
                sip = self.sip
            );
            let _ = socket.send_to(options.as_bytes(), self.sip);
            let mut buf = [0u8; 4096];
            if let Ok((n, _)) = socket.recv_from(&mut buf) {
                if buf[..n].starts_with(b"SIP/2.0 200") {
                    return Ok(());
                }
            }
        }
        Err("no 200 to OPTIONS through it".into())
    }

    /// SIGTERM, which Kamailio passes to its children; SIGKILL to the whole
    /// process group if it has not gone within five seconds.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status();
        let _ = child.wait();
    }
}

/// Debian installs it in /usr/sbin, which a user's PATH may not have.
fn binary() -> &'static str {
    const SBIN: &str = "/usr/sbin/kamailio";
    if std::path::Path::new(SBIN).exists() {
        SBIN
    } else {
        "kamailio"
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
    }
}
