//! P1 signalling: SIPp callers at rising rates, each call answered and then
//! hung up at once (the flow starts, the caller leaves), against Passgate and,
//! interleaved at every rate, against SIPp's own UAS and a bare rsipstack UAS
//! (`bare-uas`). The clean rate of each is the highest with every call
//! completed, none failed and no retransmission.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::agent::Agent;
use crate::chart::Chart;
use crate::proc_stats;
use crate::report::{table, Section};
use crate::sipp;

/// Passgate as measured: the shipped configuration with room for the load.
/// One runtime thread: SIPp takes the other core (see the report's notes).
pub fn passgate_env(max_calls_per_second: Option<u32>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("PASSGATE_SIP__MAX_CALLS", "100000".to_string()),
        ("PASSGATE_RTP__PORT_RANGE", "20000-60000".to_string()),
        ("PASSGATE_RUNTIME__WORKER_THREADS", "1".to_string()),
        // mimalloc's transparent huge pages: each page a call frees and the
        // next one touches was zeroed again, 2 MB at a time.
        ("MIMALLOC_ALLOW_THP", "0".to_string()),
    ];
    if let Some(rate) = max_calls_per_second {
        // Overload: the shipped sip.max_calls bounds the calls (and the
        // memory) a backlog can pile up.
        env.retain(|(k, _)| *k != "PASSGATE_SIP__MAX_CALLS");
        env.push(("PASSGATE_SIP__MAX_CALLS_PER_SECOND", rate.to_string()));
    }
    env
}

/// The bare rsipstack UAS built beside this program.
struct BareUas {
    child: Child,
    addr: SocketAddr,
}

impl BareUas {
    fn start() -> anyhow::Result<BareUas> {
        let exe = std::env::current_exe()?;
        let binary = exe
            .parent()
            .map(|d| d.join("bare-uas"))
            .context("no directory for bare-uas")?;
        let mut child = Command::new(&binary)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("bare-uas stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("SIP listening on ")
            .and_then(|a| a.split_whitespace().next())
            .with_context(|| format!("bare-uas said {line:?}"))?
            .parse()?;
        Ok(BareUas { child, addr })
    }
}

impl Drop for BareUas {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One run of SIPp against one peer at one rate.
#[derive(Debug, Clone)]
pub struct Step {
    pub rate: u32,
    pub calls: u64,
    pub stats: sipp::Stats,
    /// Peer CPU time per call, microseconds.
    pub cpu_us_per_call: f64,
    /// Share of one core the peer used while SIPp ran.
    pub cores: f64,
    /// Share of one core SIPp (the caller) used meanwhile.
    pub caller_cores: f64,
    pub rss_mib: f64,
}

impl Step {
    pub fn clean(&self) -> bool {
        self.stats.clean(self.calls)
    }
}

pub fn run_step(
    target: SocketAddr,
    pid: u32,
    rate: u32,
    seconds: u64,
    work: &std::path::Path,
) -> anyhow::Result<Step> {
    let calls = rate as u64 * seconds;
    let before = proc_stats::sample(pid)?;
    let result = sipp::Uac {
        target,
        rate,
        calls,
        scenario: None,
        work_dir: work,
    }
    .run()?;
    let after = proc_stats::sample(pid)?;
    let cpu = after.cpu.saturating_sub(before.cpu).as_secs_f64();
    let wall = after.at.duration_since(before.at).as_secs_f64().max(1e-3);
    Ok(Step {
        rate,
        calls,
        cpu_us_per_call: cpu * 1e6 / calls.max(1) as f64,
        cores: proc_stats::cores_used(&before, &after),
        caller_cores: result.cpu.as_secs_f64() / wall,
        rss_mib: after.rss_bytes as f64 / 1048576.0,
        stats: result.stats,
    })
}

struct Peer {
    name: &'static str,
    addr: SocketAddr,
    pid: u32,
    steps: Vec<Step>,
    stopped: bool,
}

impl Peer {
    fn clean_rate(&self) -> u32 {
        self.steps
            .iter()
            .filter(|s| s.clean())
            .map(|s| s.rate)
            .max()
            .unwrap_or(0)
    }
}

pub fn run(opts: &crate::Options) -> anyhow::Result<(Section, u32)> {
    let (rates, seconds): (&[u32], u64) = if opts.quick {
        (&[250, 500], 2)
    } else {
        (&[500, 1000, 2000, 3000, 4000, 5000, 6000, 8000], 5)
    };
    let work = tempfile::tempdir()?;
    let agent = Agent::start(&passgate_env(None))?;
    let uas = sipp::Uas::start(work.path())?;
    let bare = BareUas::start()?;
    let mut peers = [
        Peer {
            name: "Passgate",
            addr: agent.sip,
            pid: agent.pid(),
            steps: vec![],
            stopped: false,
        },
        Peer {
            name: "bare rsipstack UAS",
            addr: bare.addr,
            pid: bare.child.id(),
            steps: vec![],
            stopped: false,
        },
        Peer {
            name: "SIPp UAS",
            addr: uas.addr,
            pid: uas.pid(),
            steps: vec![],
            stopped: false,
        },
    ];
    for &rate in rates {
        for peer in peers.iter_mut().filter(|p| !p.stopped) {
            let step = run_step(peer.addr, peer.pid, rate, seconds, work.path())?;
            eprintln!(
                "P1 {:<20} {rate:>6}/s: {} ok, {} failed, {} retransmissions, {:.0} µs CPU per call",
                peer.name,
                step.stats.successful,
                step.stats.failed,
                step.stats.retransmissions,
                step.cpu_us_per_call
            );
            // Past its first unclean rate a peer is only drowning: stop there.
            peer.stopped = !step.clean();
            peer.steps.push(step);
            // Let transactions from this step time out before the next.
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let passgate_rate = peers[0].clean_rate();
    let section = report(&peers, seconds);
    drop(agent);
    Ok((section, passgate_rate))
}

fn report(peers: &[Peer], seconds: u64) -> Section {
    let mut rows = Vec::new();
    for peer in peers {
        for s in &peer.steps {
            rows.push(vec![
                peer.name.to_string(),
                s.rate.to_string(),
                format!("{}/{}", s.stats.successful, s.calls),
                s.stats.failed.to_string(),
                s.stats.retransmissions.to_string(),
                if s.clean() { "yes" } else { "no" }.to_string(),
                format!("{:.0}", s.cpu_us_per_call),
                format!("{:.0} %", s.cores * 100.0),
                format!("{:.0} %", s.caller_cores * 100.0),
                format!("{:.0}", s.rss_mib),
            ]);
        }
    }
    let clean: Vec<u32> = peers.iter().map(Peer::clean_rate).collect();
    let ratio = |a: u32, b: u32| {
        if b == 0 {
            "n/a".to_string()
        } else {
            format!("{:.2}×", a as f64 / b as f64)
        }
    };
    // CPU per call compared at the highest rate every peer carried cleanly.
    let common = clean.iter().copied().min().unwrap_or(0);
    let cpu_at = |p: &Peer| {
        p.steps
            .iter()
            .find(|s| s.rate == common)
            .map(|s| s.cpu_us_per_call)
    };
    let cpu: Vec<Option<f64>> = peers.iter().map(cpu_at).collect();
    let cpu_ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.1}×", a / b),
        _ => "n/a".into(),
    };
    let goal_rate = clean[0] >= 3000;
    let goal_ratio = clean[1] > 0 && clean[0] as f64 >= 0.75 * clean[1] as f64;
    let mut md = String::new();
    md.push_str(&format!(
        "SIPp's built-in `uac` (`-d 0`: BYE right after the ACK) at each rate for {seconds} s, \
         against each peer in turn at that rate before the next rate, so all three see the same \
         machine. Passgate runs its real flow: every call gets an RTP port, media, the flow, the \
         greeting and its audit rows. The bare rsipstack UAS is rsipstack 0.7's own benchmark \
         server (answer with SDP, 200 to BYE) tuned as the issue describes: mimalloc and a 4 MB \
         receive buffer. A peer is not offered higher rates after its first unclean step. \
         CPU is the peer's own (user + system, from /proc) per call.\n\n"
    ));
    md.push_str(&table(
        &[
            "peer",
            "highest clean rate (calls/s)",
            "Passgate ÷ peer",
            "CPU per call at the common clean rate",
            "Passgate CPU ÷ peer",
        ],
        &peers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                vec![
                    p.name.to_string(),
                    clean[i].to_string(),
                    ratio(clean[0], clean[i]),
                    cpu[i].map_or("n/a".into(), |c| format!("{c:.0} µs ({common}/s)")),
                    cpu_ratio(cpu[0], cpu[i]),
                ]
            })
            .collect::<Vec<_>>(),
    ));
    md.push_str(&format!(
        "\nGoals: ≥ 3,000 calls/s clean: **{}** ({} calls/s); ≥ 0.75× the tuned bare rsipstack UAS: **{}** ({}).\n\n",
        if goal_rate { "met" } else { "not met" },
        clean[0],
        if goal_ratio { "met" } else { "not met" },
        ratio(clean[0], clean[1]),
    ));
    md.push_str("Every step:\n\n");
    md.push_str(&table(
        &[
            "peer",
            "offered calls/s",
            "completed",
            "failed",
            "retransmissions",
            "clean",
            "CPU µs per call",
            "CPU of one core",
            "SIPp caller CPU",
            "RSS MiB",
        ],
        &rows,
    ));
    let chart = Chart {
        title: "P1: CPU per call against offered rate".into(),
        x_label: "offered calls/s".into(),
        y_label: "CPU µs per call".into(),
        series: peers
            .iter()
            .map(|p| {
                (
                    p.name.to_string(),
                    p.steps
                        .iter()
                        .filter(|s| s.clean())
                        .map(|s| (s.rate as f64, s.cpu_us_per_call))
                        .collect(),
                )
            })
            .collect(),
    };
    Section {
        title: "P1 signalling: calls per second".into(),
        markdown: md,
        charts: vec![chart],
    }
}
