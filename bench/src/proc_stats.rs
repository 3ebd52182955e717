//! CPU time and resident memory of a process, read from /proc: what the
//! kernel charged it, whatever else the machine is doing.

use std::time::{Duration, Instant};

/// Clock ticks per second for /proc/PID/stat (USER_HZ; 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    /// User + system CPU time consumed so far.
    pub cpu: Duration,
    pub rss_bytes: u64,
}

pub fn sample(pid: u32) -> anyhow::Result<Sample> {
    let at = Instant::now();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; fields after it are fixed.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat; `after` starts at field 3.
    let ticks: u64 = fields
        .get(11)
        .zip(fields.get(12))
        .and_then(|(u, s)| Some(u.parse::<u64>().ok()? + s.parse::<u64>().ok()?))
        .ok_or_else(|| anyhow::anyhow!("no utime/stime in /proc/{pid}/stat"))?;
    Ok(Sample {
        at,
        cpu: Duration::from_secs_f64(ticks as f64 / TICKS_PER_SECOND),
        rss_bytes: rss(pid)?,
    })
}

/// User + system CPU time of every live process in process group `pgid`
/// (a server and the workers it forked).
pub fn group_cpu(pgid: u32) -> Duration {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    let ticks: u64 = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (_, after) = stat.rsplit_once(')')?;
            let fields: Vec<&str> = after.split_whitespace().collect();
            // pgrp is field 5, utime and stime 14 and 15; `after` starts at field 3.
            (fields.get(2)?.parse::<u32>().ok()? == pgid).then_some(())?;
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    Duration::from_secs_f64(ticks as f64 / TICKS_PER_SECOND)
}

pub fn rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{pid}/status"))
}

/// Share of one core used between two samples (1.0 = one core busy).
pub fn cores_used(from: &Sample, to: &Sample) -> f64 {
    let wall = to.at.duration_since(from.at).as_secs_f64();
    if wall <= 0.0 {
        return 0.0;
    }
    to.cpu.saturating_sub(from.cpu).as_secs_f64() / wall
}

/// The whole machine's CPU time so far, from the first line of /proc/stat:
/// what every process used, and what the hypervisor gave to other guests
/// while this one wanted to run (steal).
#[derive(Debug, Clone, Copy)]
pub struct MachineSample {
    pub at: Instant,
    /// user + nice + system + irq + softirq.
    pub busy: Duration,
    pub steal: Duration,
}

pub fn machine() -> anyhow::Result<MachineSample> {
    let at = Instant::now();
    let stat = std::fs::read_to_string("/proc/stat")?;
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .ok_or_else(|| anyhow::anyhow!("no cpu line in /proc/stat"))?
        .split_whitespace()
        .map(|f| f.parse::<u64>())
        .collect::<Result<_, _>>()?;
    // user nice system idle iowait irq softirq steal ...
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    let ticks = |t: u64| Duration::from_secs_f64(t as f64 / TICKS_PER_SECOND);
    Ok(MachineSample {
        at,
        busy: ticks(field(0) + field(1) + field(2) + field(5) + field(6)),
        steal: ticks(field(7)),
    })
}

/// Cores the machine kept busy and cores stolen from it between two samples.
pub fn machine_cores(from: &MachineSample, to: &MachineSample) -> (f64, f64) {
    let wall = to.at.duration_since(from.at).as_secs_f64();
    if wall <= 0.0 {
        return (0.0, 0.0);
    }
    (
        to.busy.saturating_sub(from.busy).as_secs_f64() / wall,
        to.steal.saturating_sub(from.steal).as_secs_f64() / wall,
    )
}

/// Highest RSS seen while `work` runs, sampled every 100 ms.
pub struct PeakRss {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl PeakRss {
    pub fn watch(pid: u32) -> PeakRss {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss(pid).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(100));
            }
            peak.max(rss(pid).unwrap_or(0))
        });
        PeakRss {
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let a = sample(pid).unwrap();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let b = sample(pid).unwrap();
        assert!(b.cpu >= a.cpu);
        assert!(a.rss_bytes > 1024 * 1024, "RSS {}", a.rss_bytes);
        assert!(cores_used(&a, &b) >= 0.0);
    }

    #[test]
    fn reads_the_machine() {
        let a = machine().unwrap();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let b = machine().unwrap();
        assert!(b.busy > a.busy, "{a:?} {b:?}");
        let (busy, steal) = machine_cores(&a, &b);
        assert!(busy > 0.0 && steal >= 0.0, "{busy} {steal}");
    }
}
