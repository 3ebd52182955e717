//! P4 overload: twice the admitted rate offered for 30 s, with
//! `sip.max_calls_per_second` set to that rate and the shipped
//! `sip.max_calls`. Calls taken must keep being completed at (nearly) the
//! admitted rate; the rest must be refused at once with 503 and
//! Retry-After; memory must stay bounded.
//!
//! Run at P1's clean rate (the test) and at half of it: on two
//! cores SIPp cannot offer twice the clean rate with this scenario and leave
//! Passgate its core, so the second run shows the mechanism where the load
//! generator keeps up.

use std::time::Duration;

use crate::agent::{workspace, Agent};
use crate::proc_stats::{self, PeakRss};
use crate::report::{table, Section};
use crate::sipp;

struct Run {
    admitted: u32,
    offered: u32,
    seconds: u64,
    taken: f64,
    refused: f64,
    goodput: f64,
    stats: sipp::Stats,
    agent_cores: f64,
    caller_cores: f64,
    /// SIPp had to be killed at its deadline.
    caller_stopped: bool,
    rss_idle: u64,
    rss_peak: u64,
    left: f64,
}

impl Run {
    fn share(&self) -> f64 {
        self.goodput / self.admitted.max(1) as f64
    }
}

fn overload(admitted: u32, seconds: u64) -> anyhow::Result<Run> {
    let offered = admitted * 2;
    let calls = offered as u64 * seconds;
    let work = tempfile::tempdir()?;
    let agent = Agent::start(&crate::p1_signalling::passgate_env(Some(admitted)))?;
    let scenario = workspace().join("bench/sipp/call_or_503.xml");
    let rss_idle = proc_stats::rss(agent.pid())?;
    let taken_before = agent.metric("passgate_calls_total").unwrap_or(0.0);
    // Refused by the rate (SIP) or because too many call tasks are alive.
    let refused_now = |agent: &Agent| {
        agent
            .metric("passgate_sip_refused_total{reason=\"overload\"}")
            .unwrap_or(0.0)
            + agent.metric("passgate_calls_shed_total").unwrap_or(0.0)
    };
    let refused_before = refused_now(&agent);
    let before = proc_stats::sample(agent.pid())?;
    let peak = PeakRss::watch(agent.pid());
    let result = sipp::Uac {
        target: agent.sip,
        rate: offered,
        calls,
        scenario: Some(&scenario),
        work_dir: work.path(),
    }
    .run()?;
    let after = proc_stats::sample(agent.pid())?;
    let rss_peak = peak.finish();
    // Calls still writing their audit rows.
    std::thread::sleep(Duration::from_secs(2));
    let taken = agent.metric("passgate_calls_total").unwrap_or(0.0) - taken_before;
    let refused = refused_now(&agent) - refused_before;
    let wall = after.at.duration_since(before.at).as_secs_f64().max(1e-3);
    let run = Run {
        admitted,
        offered,
        seconds,
        taken,
        refused,
        goodput: taken / wall.max(seconds as f64),
        agent_cores: proc_stats::cores_used(&before, &after),
        caller_cores: result.cpu.as_secs_f64() / wall,
        caller_stopped: result.stopped,
        stats: result.stats,
        rss_idle,
        rss_peak,
        left: agent.metric("passgate_calls_active").unwrap_or(-1.0),
    };
    eprintln!(
        "P4 admitted {admitted}/s, offered {offered}/s for {seconds} s: {taken:.0} taken ({:.0}/s, {:.1} %), {refused:.0} refused, SIPp {} ok {} failed {} retransmissions, {:.0} s wall",
        run.goodput,
        run.share() * 100.0,
        run.stats.successful,
        run.stats.failed,
        run.stats.retransmissions,
        wall
    );
    Ok(run)
}

pub fn run(opts: &crate::Options, clean_rate: u32) -> anyhow::Result<Section> {
    let seconds: u64 = if opts.quick { 5 } else { 30 };
    let runs = [
        overload(clean_rate, seconds)?,
        overload((clean_rate / 2).max(1), seconds)?,
    ];
    let mib = |b: u64| b as f64 / 1048576.0;
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                format!("{}/s", r.admitted),
                format!("{}/s for {} s", r.offered, r.seconds),
                format!(
                    "{:.0} calls, {:.0}/s = **{:.1} %**",
                    r.taken,
                    r.goodput,
                    r.share() * 100.0
                ),
                format!("{:.0}", r.refused),
                format!(
                    "{} / {} / {}{}",
                    r.stats.successful,
                    r.stats.failed,
                    r.stats.retransmissions,
                    if r.caller_stopped {
                        " (SIPp stopped at its deadline with calls unfinished)"
                    } else {
                        ""
                    }
                ),
                format!(
                    "{:.0} % / {:.0} %",
                    r.agent_cores * 100.0,
                    r.caller_cores * 100.0
                ),
                format!(
                    "{:.0} → {:.0} (+{:.0})",
                    mib(r.rss_idle),
                    mib(r.rss_peak),
                    mib(r.rss_peak.saturating_sub(r.rss_idle))
                ),
                format!("{:.0}", r.left),
            ]
        })
        .collect();
    let verdict = |r: &Run| if r.share() >= 0.95 { "met" } else { "not met" };
    let mut md = String::from(
        "SIPp (`bench/sipp/call_or_503.xml`: hang up at once when answered; ACK a 503 and \
         check its Retry-After, a 503 without one fails the call) offers twice the admitted \
         rate; Passgate runs with `sip.max_calls_per_second` = the admitted rate and the \
         shipped `sip.max_calls` (1,000). Goodput counts the calls Passgate took, each of which \
         ran its flow and was ended by the caller's BYE, per second of the run.\n\n",
    );
    md.push_str(&table(
        &[
            "admitted (sip.max_calls_per_second)",
            "offered",
            "taken and completed (goodput, % of admitted)",
            "refused 503",
            "SIPp ok / failed / retransmissions",
            "CPU: Passgate / SIPp",
            "RSS MiB idle → peak",
            "calls left after",
        ],
        &rows,
    ));
    md.push_str(&format!(
        "\nGoal, goodput ≥ 95 % with twice the rate offered: at P1's clean rate ({}/s): **{}**; \
         at half of it ({}/s): **{}**. Memory is bounded: RSS is the model (~570 MiB), the calls in \
         progress (at most `sip.max_calls`; calls past it get 503 too), the calls over whose audit \
         rows are not stored yet (at most the audit queue's 16,384) and the transactions of \
         the calls taken in the last 32 s (an INVITE and a BYE each, kept for Timers I and J), \
         so at most about `sip.max_calls_per_second` × 32 × 2 transactions. Refusals keep no \
         state: the 503 is stateless.\n",
        runs[0].admitted,
        verdict(&runs[0]),
        runs[1].admitted,
        verdict(&runs[1]),
    ));
    if runs[0].share() < 0.95 {
        md.push_str(&format!(
            "\nWhat bounds it at {}/s: Passgate runs here as in P1, with \
             `runtime.worker_threads = 1` so that SIPp has the other core, and that one thread \
             carries SIP and every call task. Each call taken and each INVITE refused costs it \
             CPU, and at the clean rate the calls taken alone keep it nearly busy: the refusals \
             are what tips it over (Passgate {:.0} % and SIPp {:.0} % of a core here). With the \
             load generator on another machine, give Passgate every core.\n",
            runs[0].admitted,
            runs[0].agent_cores * 100.0,
            runs[0].caller_cores * 100.0,
        ));
    }
    Ok(Section {
        title: "P4 overload: twice the admitted rate for 30 s".into(),
        markdown: md,
        charts: vec![],
    })
}
