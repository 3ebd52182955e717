//! Scale-out: calls per second through Kamailio's dispatcher
//! (`tests/kamailio/dispatcher.cfg`, record-routing, OPTIONS probing) to one
//! Passgate node and to two, side by side with the same Kamailio forwarding
//! to SIPp's own UAS, so that the proxy's own cost shows. SIPp callers at
//! rising rates, interleaved over the three at every rate; each call is
//! answered and hung up at once, ACK and BYE routed through the proxy.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::agent::{free_port, workspace, Agent};
use crate::kamailio::Kamailio;
use crate::p1_signalling::passgate_env;
use crate::proc_stats;
use crate::report::{table, Section};
use crate::sipp;

/// One step: SIPp through the proxy to one set of nodes at one rate.
struct Step {
    rate: u32,
    calls: u64,
    stats: sipp::Stats,
    /// CPU per call of the proxy (every Kamailio process), microseconds.
    proxy_us: f64,
    /// CPU per call of the nodes together, microseconds.
    nodes_us: f64,
    /// Share of one core SIPp (the caller) used.
    caller_cores: f64,
}

struct Setup {
    name: &'static str,
    proxy: Kamailio,
    /// Node processes whose CPU is counted.
    pids: Vec<u32>,
    steps: Vec<Step>,
    stopped: bool,
}

impl Setup {
    fn clean_rate(&self) -> u32 {
        self.steps
            .iter()
            .filter(|s| s.stats.clean(s.calls))
            .map(|s| s.rate)
            .max()
            .unwrap_or(0)
    }
}

/// SIPp as a dispatcher's node: `bench/sipp/uas_record_route.xml`.
struct SippUas {
    child: Child,
    addr: SocketAddr,
}

impl SippUas {
    fn start(work: &std::path::Path) -> anyhow::Result<SippUas> {
        let port = free_port();
        let mut child = Command::new("sipp")
            .current_dir(work)
            .arg("-sf")
            .arg(workspace().join("bench/sipp/uas_record_route.xml"))
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-buff_size", sipp::BUFF_SIZE, "-nostdin"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the SIPp UAS")?;
        std::thread::sleep(Duration::from_millis(500));
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("the SIPp UAS exited at once ({status})");
        }
        Ok(SippUas {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }
}

impl Drop for SippUas {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn node(ports: &str) -> anyhow::Result<Agent> {
    let mut env = passgate_env(None);
    env.retain(|(k, _)| *k != "PASSGATE_RTP__PORT_RANGE");
    env.push(("PASSGATE_RTP__PORT_RANGE", ports.to_string()));
    Agent::start(&env)
}

fn run_step(
    setup: &Setup,
    rate: u32,
    seconds: u64,
    work: &std::path::Path,
) -> anyhow::Result<Step> {
    let calls = rate as u64 * seconds;
    let cpu = |s: &Setup| -> Duration {
        s.pids
            .iter()
            .filter_map(|&p| proc_stats::sample(p).ok())
            .map(|s| s.cpu)
            .sum()
    };
    let (proxy_before, nodes_before, at) = (
        proc_stats::group_cpu(setup.proxy.group()),
        cpu(setup),
        Instant::now(),
    );
    let scenario = workspace().join("bench/sipp/routed_call.xml");
    let result = sipp::Uac {
        target: setup.proxy.sip,
        rate,
        calls,
        scenario: Some(scenario.as_path()),
        work_dir: work,
    }
    .run()?;
    let wall = at.elapsed().as_secs_f64().max(1e-3);
    let per_call = |d: Duration| d.as_secs_f64() * 1e6 / calls.max(1) as f64;
    Ok(Step {
        rate,
        calls,
        proxy_us: per_call(proc_stats::group_cpu(setup.proxy.group()).saturating_sub(proxy_before)),
        nodes_us: per_call(cpu(setup).saturating_sub(nodes_before)),
        caller_cores: result.cpu.as_secs_f64() / wall,
        stats: result.stats,
    })
}

pub fn run(opts: &crate::Options) -> anyhow::Result<Section> {
    let (rates, seconds): (&[u32], u64) = if opts.quick {
        (&[100, 200], 2)
    } else {
        (&[250, 500, 1000, 1500, 2000, 3000, 4000], 5)
    };
    let work = tempfile::tempdir()?;
    let uas = SippUas::start(work.path())?;
    let one = node("20000-29999")?;
    let two = [node("30000-39999")?, node("40000-49999")?];
    let mut setups = [
        Setup {
            name: "Kamailio → SIPp UAS",
            proxy: Kamailio::dispatcher(&[uas.addr])?,
            pids: vec![uas.child.id()],
            steps: vec![],
            stopped: false,
        },
        Setup {
            name: "Kamailio → 1 Passgate node",
            proxy: Kamailio::dispatcher(&[one.sip])?,
            pids: vec![one.pid()],
            steps: vec![],
            stopped: false,
        },
        Setup {
            name: "Kamailio → 2 Passgate nodes",
            proxy: Kamailio::dispatcher(&[two[0].sip, two[1].sip])?,
            pids: two.iter().map(Agent::pid).collect(),
            steps: vec![],
            stopped: false,
        },
    ];
    for &rate in rates {
        for setup in setups.iter_mut().filter(|s| !s.stopped) {
            let step = run_step(setup, rate, seconds, work.path())?;
            eprintln!(
                "scale-out {:<28} {rate:>5}/s: {} ok, {} failed, {} retransmissions, proxy {:.0} µs, nodes {:.0} µs CPU per call",
                setup.name,
                step.stats.successful,
                step.stats.failed,
                step.stats.retransmissions,
                step.proxy_us,
                step.nodes_us,
            );
            // Past its first unclean rate a setup is only drowning.
            setup.stopped = !step.stats.clean(step.calls);
            setup.steps.push(step);
            // Transactions of this step time out before the next.
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    Ok(report(&setups, seconds))
}

fn report(setups: &[Setup], seconds: u64) -> Section {
    let clean: Vec<u32> = setups.iter().map(Setup::clean_rate).collect();
    let mut md = String::new();
    md.push_str(&format!(
        "SIPp callers (`bench/sipp/routed_call.xml`: answered, hung up at once, ACK and BYE \
         routed by the 200's Record-Route) at each rate for {seconds} s through Kamailio 5's \
         dispatcher as `tests/kamailio/dispatcher.cfg` configures it (round-robin, OPTIONS \
         probes every second, 4 workers), to SIPp's own UAS (`sipp -sd uas` with the \
         Record-Route echo and the OPTIONS answer a dispatcher's node needs, and answering \
         with the 200 alone as Passgate does: `bench/sipp/uas_record_route.xml`), to one \
         Passgate node and to two, interleaved at every rate. Every process shares the machine. A setup is not offered higher rates \
         after its first unclean step (a failed call or a retransmission). CPU per call is \
         user + system time from /proc: the proxy's (every Kamailio process) and the \
         nodes' together.\n\n"
    ));
    md.push_str(&table(
        &[
            "setup",
            "highest clean rate (calls/s)",
            "÷ Kamailio → SIPp UAS",
            "proxy CPU per call there",
            "nodes' CPU per call there",
        ],
        &setups
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let step = s.steps.iter().find(|st| st.rate == clean[i]);
                vec![
                    s.name.to_string(),
                    clean[i].to_string(),
                    if clean[0] == 0 {
                        "n/a".into()
                    } else {
                        format!("{:.2}×", clean[i] as f64 / clean[0] as f64)
                    },
                    step.map_or("n/a".into(), |s| format!("{:.0} µs", s.proxy_us)),
                    step.map_or("n/a".into(), |s| format!("{:.0} µs", s.nodes_us)),
                ]
            })
            .collect::<Vec<_>>(),
    ));
    md.push_str("\nEvery step:\n\n");
    let rows: Vec<Vec<String>> = setups
        .iter()
        .flat_map(|s| {
            s.steps.iter().map(|st| {
                vec![
                    s.name.to_string(),
                    st.rate.to_string(),
                    format!("{}/{}", st.stats.successful, st.calls),
                    st.stats.failed.to_string(),
                    st.stats.retransmissions.to_string(),
                    if st.stats.clean(st.calls) {
                        "yes"
                    } else {
                        "no"
                    }
                    .to_string(),
                    format!("{:.0}", st.proxy_us),
                    format!("{:.0}", st.nodes_us),
                    format!("{:.0} %", st.caller_cores * 100.0),
                ]
            })
        })
        .collect();
    md.push_str(&table(
        &[
            "setup",
            "offered calls/s",
            "completed",
            "failed",
            "retransmissions",
            "clean",
            "proxy CPU µs per call",
            "nodes' CPU µs per call",
            "SIPp caller CPU",
        ],
        &rows,
    ));
    Section {
        title: "Scale-out: calls per second through Kamailio's dispatcher".into(),
        markdown: md,
        charts: vec![],
    }
}
