//! P4 overload: twice Passgate's clean rate offered for 30 s, with
//! `sip.max_calls_per_second` set to the clean rate. Calls taken must keep
//! being completed at (nearly) the clean rate; the rest must be refused at
//! once with 503 and Retry-After; memory must stay bounded.

use std::time::Duration;

use crate::agent::{workspace, Agent};
use crate::proc_stats::{self, PeakRss};
use crate::report::{table, Section};
use crate::sipp;

pub fn run(opts: &crate::Options, clean_rate: u32) -> anyhow::Result<Section> {
    let seconds: u64 = if opts.quick { 5 } else { 30 };
    let offered = clean_rate * 2;
    let calls = offered as u64 * seconds;
    let work = tempfile::tempdir()?;
    let agent = Agent::start(&crate::p1_signalling::passgate_env(Some(clean_rate)))?;
    let scenario = workspace().join("bench/sipp/call_or_503.xml");
    let rss_idle = proc_stats::rss(agent.pid())?;
    let taken_before = agent.metric("passgate_calls_total").unwrap_or(0.0);
    let refused_before = agent
        .metric("passgate_sip_refused_total{reason=\"overload\"}")
        .unwrap_or(0.0);
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
    let peak_rss = peak.finish();
    // Calls still finishing their audit rows.
    std::thread::sleep(Duration::from_secs(2));
    let taken = agent.metric("passgate_calls_total").unwrap_or(0.0) - taken_before;
    let refused = agent
        .metric("passgate_sip_refused_total{reason=\"overload\"}")
        .unwrap_or(0.0)
        - refused_before;
    let active = agent.metric("passgate_calls_active").unwrap_or(-1.0);
    let wall = result
        .stats
        .elapsed
        .max(Duration::from_secs(seconds))
        .as_secs_f64();
    let goodput = taken / wall;
    let share = goodput / clean_rate as f64;
    let cores = proc_stats::cores_used(&before, &after);
    eprintln!(
        "P4 offered {offered}/s for {seconds} s: {taken:.0} taken ({goodput:.0}/s, {:.1} % of {clean_rate}), {refused:.0} refused, SIPp {} ok {} failed {} retransmissions",
        share * 100.0,
        result.stats.successful,
        result.stats.failed,
        result.stats.retransmissions
    );
    let mib = |b: u64| b as f64 / 1048576.0;
    let rows = vec![
        vec![
            "offered".into(),
            format!("{offered} calls/s for {seconds} s ({calls} calls)"),
        ],
        vec![
            "taken and completed (goodput)".into(),
            format!(
                "{taken:.0} calls, {goodput:.0} calls/s = {:.1} % of the clean rate {clean_rate}/s",
                share * 100.0
            ),
        ],
        vec![
            "refused with 503 + Retry-After".into(),
            format!("{refused:.0}"),
        ],
        vec![
            "SIPp: scenarios ended well / failed / retransmissions".into(),
            format!(
                "{} / {} / {}",
                result.stats.successful, result.stats.failed, result.stats.retransmissions
            ),
        ],
        vec![
            "Passgate CPU".into(),
            format!("{:.0} % of one core", cores * 100.0),
        ],
        vec![
            "Passgate RSS idle → peak".into(),
            format!(
                "{:.0} MiB → {:.0} MiB (+{:.0} MiB)",
                mib(rss_idle),
                mib(peak_rss),
                mib(peak_rss.saturating_sub(rss_idle))
            ),
        ],
        vec!["calls left after the run".into(), format!("{active:.0}")],
    ];
    let goal = share >= 0.95;
    let mut md = format!(
        "SIPp (`bench/sipp/call_or_503.xml`: hang up at once when answered, ACK a 503 and check its Retry-After) \
         offers twice P1's clean rate; Passgate runs with `sip.max_calls_per_second = {clean_rate}`. \
         Goodput counts calls Passgate took (each ran its flow and was completed by the caller's BYE).\n\n"
    );
    md.push_str(&table(&["", "result"], &rows));
    md.push_str(&format!(
        "\nGoal: goodput ≥ 95 % of the clean rate: **{}**. Excess refused with 503 and Retry-After (the scenario fails a 503 without it). \
         Memory bound: RSS is the model (~570 MiB) plus the calls in progress, which `sip.max_calls` caps, plus transactions, \
         which last at most 32 s (Timer H/J); here it peaked {:.0} MiB above idle.\n",
        if goal { "met" } else { "not met" },
        mib(peak_rss.saturating_sub(rss_idle)),
    ));
    Ok(Section {
        title: "P4 overload: twice the clean rate for 30 s".into(),
        markdown: md,
        charts: vec![],
    })
}
