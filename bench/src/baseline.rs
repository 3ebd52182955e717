//! This build against an earlier one, P1's and P2's measures side by side in
//! one run: `make bench-baseline BASELINE=<rev>` builds the earlier revision
//! in its own checkout and passes it here as BENCH_BASELINE_BIN, run from
//! BENCH_BASELINE_ROOT with that checkout's configuration. The two agents
//! take turns at every step, round after round, so a busy moment of the
//! machine lands on both; the report gives each round and the medians.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::agent::{workspace, Agent};
use crate::p1_signalling;
use crate::p2_media;
use crate::report::{table, Section};

/// P1 rates every round offers to both agents: clean on both on a quiet
/// 2-core machine, so CPU per call compares like with like.
const P1_RATES: [u32; 2] = [1000, 2000];
const P1_SECONDS: u64 = 5;
/// P2's load: concurrent media calls, measured against each agent idle.
const P2_CALLS: usize = 250;

struct Contender {
    label: String,
    root: PathBuf,
    binary: PathBuf,
}

/// One measure of both contenders in one round.
#[derive(Default, Clone)]
struct Pair {
    current: Option<f64>,
    baseline: Option<f64>,
}

pub fn run(opts: &crate::Options) -> anyhow::Result<Section> {
    let baseline_bin = std::env::var_os("BENCH_BASELINE_BIN")
        .map(PathBuf::from)
        .context(
        "BENCH_BASELINE_BIN: the earlier build of passgate (make bench-baseline BASELINE=<rev>)",
    )?;
    let baseline_root = std::env::var_os("BENCH_BASELINE_ROOT")
        .map(PathBuf::from)
        .context("BENCH_BASELINE_ROOT: the checkout the earlier build came from")?;
    let label = std::env::var("BENCH_BASELINE_LABEL").unwrap_or_else(|_| "baseline".into());
    let root = workspace();
    let current_bin = std::env::var_os("BENCH_AGENT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/passgate"));
    let contenders = [
        Contender {
            label: "this build".into(),
            root,
            binary: current_bin,
        },
        Contender {
            label: label.clone(),
            root: baseline_root,
            binary: baseline_bin,
        },
    ];
    let rounds = if opts.quick { 1 } else { 3 };
    let p1 = p1_rounds(&contenders, rounds)?;
    let p2 = p2_rounds(&contenders, rounds, opts.quick)?;
    Ok(report(&label, &p1, &p2))
}

/// P1 CPU per call (µs) at each rate, per round; `None` where a step was
/// not clean (its CPU would not compare).
fn p1_rounds(contenders: &[Contender; 2], rounds: usize) -> anyhow::Result<Vec<(u32, Vec<Pair>)>> {
    let work = tempfile::tempdir()?;
    let agents = contenders
        .iter()
        .map(|c| Agent::start_at(&c.root, &c.binary, &p1_signalling::passgate_env(None)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut by_rate: Vec<(u32, Vec<Pair>)> = P1_RATES.iter().map(|&r| (r, Vec::new())).collect();
    for round in 0..rounds {
        for (rate, pairs) in by_rate.iter_mut() {
            let mut pair = Pair::default();
            for (i, agent) in agents.iter().enumerate() {
                let step = p1_signalling::run_step(
                    agent.sip,
                    agent.pid(),
                    *rate,
                    P1_SECONDS,
                    work.path(),
                )?;
                eprintln!(
                    "baseline P1 round {round} {:<12} {rate}/s: clean {}, {:.0} µs per call",
                    contenders[i].label,
                    step.clean(),
                    step.cpu_us_per_call
                );
                let cpu = step.clean().then_some(step.cpu_us_per_call);
                if i == 0 {
                    pair.current = cpu;
                } else {
                    pair.baseline = cpu;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            pairs.push(pair);
        }
    }
    Ok(by_rate)
}

/// P2 CPU per media call (% of one core), per round.
fn p2_rounds(contenders: &[Contender; 2], rounds: usize, quick: bool) -> anyhow::Result<Vec<Pair>> {
    let plan = p2_media::Plan::new(quick)?;
    let calls = if quick { 50 } else { P2_CALLS };
    let (prompt, _) = p2_media::long_prompt(plan.warmup + plan.window + Duration::from_secs(3))?;
    let env = p2_media::overrides(&plan, &prompt);
    let mut pairs = Vec::new();
    for round in 0..rounds {
        let mut pair = Pair::default();
        // One agent at a time: P2's calls fill the machine.
        for (i, c) in contenders.iter().enumerate() {
            let agent = Agent::start_at(&c.root, &c.binary, &env)?;
            p2_media::warm_up(&agent, &plan)?;
            let idle = p2_media::step(&agent, &plan, 0, &format!("b{round}{i}i"))?;
            let busy = p2_media::step(&agent, &plan, calls, &format!("b{round}{i}"))?;
            let per_call = (busy.answered > 0)
                .then(|| (busy.agent_cores - idle.agent_cores) * 100.0 / busy.answered as f64);
            eprintln!(
                "baseline P2 round {round} {:<12} {} of {calls} answered, {:.3} % of a core per call",
                c.label,
                busy.answered,
                per_call.unwrap_or(f64::NAN)
            );
            if i == 0 {
                pair.current = per_call;
            } else {
                pair.baseline = per_call;
            }
        }
        pairs.push(pair);
    }
    Ok(pairs)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn summary(pairs: &[Pair]) -> (Option<f64>, Option<f64>) {
    (
        median(pairs.iter().filter_map(|p| p.current).collect()),
        median(pairs.iter().filter_map(|p| p.baseline).collect()),
    )
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

fn report(label: &str, p1: &[(u32, Vec<Pair>)], p2: &[Pair]) -> Section {
    let mut md = format!(
        "This build and {label}, each started with its own checkout's configuration, take turns \
         at every step, round after round. P1: SIPp's `uac` for {P1_SECONDS} s at each rate, \
         CPU of the agent per call (µs; – where the step was not clean). P2: {P2_CALLS} media \
         calls (G.711 both ways, keys every 2 s), CPU per call as a share of one core above \
         the agent idle. Medians over the rounds.\n\n"
    );
    let mut rows = Vec::new();
    for (rate, pairs) in p1 {
        let (c, b) = summary(pairs);
        rows.push(vec![
            format!("P1 CPU µs per call at {rate}/s"),
            fmt(c, 0),
            fmt(b, 0),
            ratio(c, b),
            pairs
                .iter()
                .map(|p| format!("{} / {}", fmt(p.current, 0), fmt(p.baseline, 0)))
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    let (c, b) = summary(p2);
    rows.push(vec![
        "P2 % of a core per media call".into(),
        fmt(c, 3),
        fmt(b, 3),
        ratio(c, b),
        p2.iter()
            .map(|p| format!("{} / {}", fmt(p.current, 3), fmt(p.baseline, 3)))
            .collect::<Vec<_>>()
            .join(", "),
    ]);
    md.push_str(&table(
        &[
            "measure",
            "this build",
            label,
            "this ÷ earlier",
            "each round (this / earlier)",
        ],
        &rows,
    ));
    Section {
        title: format!("This build against {label}: P1 and P2"),
        markdown: md,
        charts: Vec::new(),
    }
}
