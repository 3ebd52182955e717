//! SIPp as a load generator and as a reference UAS, and its statistics file.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Both sides need a large receive buffer at thousands of calls/s, or the
/// kernel drops datagrams before SIPp reads them.
pub const BUFF_SIZE: &str = "4194304";

/// Cumulative counters from the last line of a `-trace_stat` file.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub successful: u64,
    pub failed: u64,
    pub retransmissions: u64,
}

impl Stats {
    pub fn parse(csv: &str) -> anyhow::Result<Stats> {
        let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<&str> = lines
            .next()
            .context("empty SIPp statistics")?
            .split(';')
            .collect();
        let last: Vec<&str> = lines
            .next_back()
            .context("no SIPp statistics rows")?
            .split(';')
            .collect();
        let column: HashMap<&str, &str> =
            header.iter().copied().zip(last.iter().copied()).collect();
        let count = |name: &str| -> anyhow::Result<u64> {
            column
                .get(name)
                .with_context(|| format!("no {name} column"))?
                .trim()
                .parse()
                .with_context(|| format!("{name} is not a number"))
        };
        Ok(Stats {
            successful: count("SuccessfulCall(C)")?,
            failed: count("FailedCall(C)")?,
            retransmissions: count("Retransmissions(C)")?,
        })
    }

    pub fn clean(&self, expected: u64) -> bool {
        self.successful == expected && self.failed == 0 && self.retransmissions == 0
    }
}

/// One SIPp caller run: `calls` calls at `rate` calls/s against `target`.
pub struct Uac<'a> {
    pub target: SocketAddr,
    pub rate: u32,
    pub calls: u64,
    /// A scenario file, or None for SIPp's built-in `uac` (BYE right after the ACK).
    pub scenario: Option<&'a Path>,
    pub work_dir: &'a Path,
}

pub struct UacResult {
    pub stats: Stats,
    /// CPU time SIPp itself used: at thousands of calls a second the caller
    /// needs a good part of a core too.
    pub cpu: Duration,
    /// SIPp was still running at its deadline and was killed; the stats are
    /// its last periodic row.
    pub stopped: bool,
}

/// CPU time of the children this process has waited for.
fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

impl Uac<'_> {
    pub fn run(&self) -> anyhow::Result<UacResult> {
        let tag = format!("uac-{}-{}", self.rate, rand::random::<u32>());
        let stat_file = self.work_dir.join(format!("{tag}.csv"));
        let mut cmd = Command::new("sipp");
        match self.scenario {
            Some(s) => cmd.arg("-sf").arg(s),
            None => cmd.args(["-sn", "uac"]),
        };
        let timeout_secs = self.calls / self.rate.max(1) as u64 + 60;
        let timeout = timeout_secs.to_string();
        let err_file = self.work_dir.join(format!("{tag}.err"));
        cmd.current_dir(self.work_dir)
            .args(["-i", "127.0.0.1", "-p", "0", "-d", "0", "-nostdin"])
            .args(["-r", &self.rate.to_string(), "-m", &self.calls.to_string()])
            .args([
                "-l",
                "100000",
                "-buff_size",
                BUFF_SIZE,
                "-timeout",
                &timeout,
            ])
            .args(["-trace_stat", "-fd", "1"])
            .arg("-stf")
            .arg(&stat_file)
            .arg(self.target.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_file)?);
        let before = children_cpu();
        let mut child = cmd
            .spawn()
            .context("running sipp (apt-get install sip-tester)")?;
        // SIPp's own -timeout does not always end it: after a collapse left
        // thousands of calls waiting, one ran on idle for ten minutes.
        let deadline = Instant::now() + Duration::from_secs(timeout_secs + 30);
        let stopped = loop {
            if child.try_wait()?.is_some() {
                break false;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                eprintln!(
                    "SIPp at {}/s still running after {} s: stopped",
                    self.rate,
                    timeout_secs + 30
                );
                break true;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let cpu = children_cpu().saturating_sub(before);
        let csv = std::fs::read_to_string(&stat_file).with_context(|| {
            format!(
                "SIPp wrote no statistics: {}",
                std::fs::read_to_string(&err_file).unwrap_or_default()
            )
        })?;
        let stats = Stats::parse(&csv)?;
        Ok(UacResult {
            stats,
            cpu,
            stopped,
        })
    }
}

/// SIPp's built-in UAS, the reference peer.
pub struct Uas {
    child: Child,
    pub addr: SocketAddr,
}

impl Uas {
    pub fn start(work_dir: &Path) -> anyhow::Result<Uas> {
        let port = crate::agent::free_port();
        let child = Command::new("sipp")
            .current_dir(work_dir)
            .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-buff_size", BUFF_SIZE, "-nostdin"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting sipp -sn uas")?;
        std::thread::sleep(Duration::from_millis(500));
        let mut uas = Uas {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        if let Ok(Some(status)) = uas.child.try_wait() {
            bail!("sipp -sn uas exited at once ({status})");
        }
        Ok(uas)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Uas {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_last_row_by_column_name() {
        let csv = "StartTime;ElapsedTime(C);SuccessfulCall(C);FailedCall(C);Retransmissions(C);\n\
                   x;00:00:01;9;1;0;\n\
                   y;00:00:02;19;1;3;\n";
        let s = Stats::parse(csv).unwrap();
        assert_eq!((s.successful, s.failed, s.retransmissions), (19, 1, 3));
        assert!(!s.clean(20));
    }

    #[test]
    fn a_missing_column_is_named() {
        let err = Stats::parse("A;B\n1;2\n").unwrap_err();
        assert!(err.to_string().contains("SuccessfulCall(C)"), "{err}");
    }
}
