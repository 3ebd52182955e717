//! Kamailio's dispatcher (`tests/kamailio/dispatcher.cfg`, the recipe the
//! README's "Scaling out" gives) in front of a set of nodes, run in the
//! foreground in its own process group and stopped when dropped.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::agent::{free_port, workspace};

pub struct Kamailio {
    child: Child,
    /// Where callers send their requests.
    pub sip: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Kamailio {
    /// The dispatcher over `nodes`, probing each with OPTIONS every second;
    /// returns once an OPTIONS sent through it is answered 200 by a node.
    pub fn dispatcher(nodes: &[SocketAddr]) -> anyhow::Result<Kamailio> {
        let dir = tempfile::tempdir()?;
        let list = dir.path().join("dispatcher.list");
        let lines: String = nodes.iter().map(|n| format!("1 sip:{n}\n")).collect();
        std::fs::write(&list, lines)?;
        let sip = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = std::fs::File::create(dir.path().join("kamailio.log"))?;
        let child = Command::new(binary())
            .arg("-f")
            .arg(workspace().join("tests/kamailio/dispatcher.cfg"))
            // Shared memory for the transactions of thousands of calls a
            // second (each kept for tm's wait timer); the stock 64 MB runs out.
            .args(["-m", "1024", "-M", "16", "-DD", "-E", "-Y"])
            .arg(dir.path())
            .args(["-A", &format!("LISTEN=udp:{sip}")])
            .args(["-A", &format!("DSLIST=\"{}\"", list.display())])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting kamailio (apt-get install kamailio)")?;
        let mut proxy = Kamailio {
            child,
            sip,
            _dir: dir,
        };
        proxy.wait_ready(Duration::from_secs(20))?;
        Ok(proxy)
    }

    /// Kamailio's process group: the main process and its workers.
    pub fn group(&self) -> u32 {
        self.child.id()
    }

    fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(300)))?;
        let local = socket.local_addr()?;
        let deadline = Instant::now() + timeout;
        let mut attempt = 0;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("kamailio exited with {status}");
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
        bail!("no 200 to an OPTIONS through kamailio within {timeout:?}")
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
    /// SIGTERM (Kamailio passes it to its workers), then SIGKILL to the
    /// whole group if it has not gone within five seconds.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status();
        let _ = self.child.wait();
    }
}
