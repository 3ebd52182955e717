//! P5 held: N callers kept in their flow at once, each calling again as
//! soon as its call ends, the way a trunk's busy hour keeps N lines busy.
//! The burst steps ask what happens when N callers arrive within seconds
//! (after an outage); these ask how many callers one box authenticates at
//! once in service, and how many an hour. Concurrent capacity is counted
//! so in telephony (Erlangs) and in the recognizer vendors' sizing (a
//! short utterance every 15-20 s per port).
//!
//! Lines start evenly over one call's length, so calls start at a steady
//! rate; only the calls begun in the measured window that follows count,
//! and the agent's CPU is taken over that window.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{caller, percentile, plan, right, Setup, DECISION_P95_GOAL, REFUSED};
use crate::proc_stats;
use crate::report::table;

/// Lines start evenly over this long: about one call's length.
const HELD_RAMP: Duration = Duration::from_secs(36);
/// The measured window after the ramp.
const HELD_WINDOW: Duration = Duration::from_secs(72);
/// A line refused (503) calls again after this long, as a trunk honouring
/// a short Retry-After would.
const RETRY_AFTER: Duration = Duration::from_secs(1);

pub(super) struct HeldResult {
    pub n: usize,
    /// The calls begun in the window, refused attempts included.
    pub results: Vec<caller::Result>,
    /// Calls in progress, the mean of once a second over the window.
    pub in_progress: f64,
    pub window: Duration,
    pub agent_cores: f64,
    pub agent_rss_mib: f64,
    pub generator_cores: f64,
    pub others_cores: f64,
    pub account: super::AgentAccount,
}

impl HeldResult {
    pub fn right(&self) -> usize {
        self.results.iter().filter(|r| right(r)).count()
    }

    /// Calls let in: begun in the window and not refused.
    pub fn admitted(&self) -> usize {
        self.results.len() - self.refused()
    }

    pub fn refused(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.failure.as_deref() == Some(REFUSED))
            .count()
    }

    pub fn decisions(&self) -> Vec<Duration> {
        let mut d: Vec<Duration> = self.results.iter().filter_map(|r| r.decision).collect();
        d.sort();
        d
    }

    /// Every line let in every time, every decision right and in time.
    pub fn meets_goal(&self) -> bool {
        self.admitted() > 0
            && self.refused() == 0
            && self.right() == self.admitted()
            && percentile(&self.decisions(), 0.95).is_some_and(|p| p <= DECISION_P95_GOAL)
    }

    /// Calls let in an hour at this rate.
    fn per_hour(&self) -> f64 {
        self.admitted() as f64 * 3600.0 / self.window.as_secs_f64()
    }
}

pub(super) async fn run_step(
    index: usize,
    n: usize,
    right_frames: &Arc<[Arc<[u8]>]>,
    wrong_frames: &Arc<[Arc<[u8]>]>,
    learnt: Option<&std::path::Path>,
) -> anyhow::Result<HeldResult> {
    let mut setup = Setup::start(index, n, learnt).await?;
    let pid = setup.agent.pid();
    let peak = proc_stats::PeakRss::watch(pid);
    let t0 = tokio::time::Instant::now();
    let ramp_end = t0 + HELD_RAMP;
    let window_end = ramp_end + HELD_WINDOW;
    let active = Arc::new(AtomicUsize::new(0));
    let mut lines = Vec::new();
    for (i, (line_id, mut line)) in std::mem::take(&mut setup.lines).into_iter().enumerate() {
        let start = t0 + HELD_RAMP.mul_f64(i as f64 / n as f64);
        let (right_frames, wrong_frames) = (right_frames.clone(), wrong_frames.clone());
        let active = active.clone();
        lines.push(tokio::spawn(async move {
            tokio::time::sleep_until(start).await;
            let mut calls = Vec::new();
            let (mut attempt, mut walked) = (0, 0);
            while tokio::time::Instant::now() < window_end {
                let begun = tokio::time::Instant::now();
                // Each line walks the three branches in turn, from its own;
                // a caller refused calls again to do the same thing, so a
                // refusal does not move the line on (skipping ahead would
                // bunch one account's wrong phrases into its lock-out).
                let plan = plan(index, i, i + walked, &right_frames, &wrong_frames);
                active.fetch_add(1, Ordering::Relaxed);
                let result = caller::call(format!("{line_id}.{attempt}"), plan, &mut line).await;
                active.fetch_sub(1, Ordering::Relaxed);
                let refused = result.failure.as_deref() == Some(REFUSED);
                calls.push((begun, result));
                attempt += 1;
                if refused {
                    tokio::time::sleep(RETRY_AFTER).await;
                } else {
                    walked += 1;
                }
            }
            calls
        }));
    }
    tokio::time::sleep_until(ramp_end).await;
    let agent_before = proc_stats::sample(pid)?;
    let own_before = proc_stats::sample(std::process::id())?;
    let machine_before = proc_stats::machine()?;
    let mut in_progress = Vec::new();
    let mut tick = ramp_end;
    while tick + Duration::from_secs(1) <= window_end {
        tick += Duration::from_secs(1);
        tokio::time::sleep_until(tick).await;
        in_progress.push(active.load(Ordering::Relaxed));
    }
    let agent_after = proc_stats::sample(pid)?;
    let own_after = proc_stats::sample(std::process::id())?;
    let machine_after = proc_stats::machine()?;
    let mut results = Vec::new();
    for line in lines {
        for (begun, result) in line.await? {
            if begun >= ramp_end && begun < window_end {
                results.push(result);
            }
        }
    }
    let account = super::report_decision_stages(&setup.agent, n);
    setup.keep_log(&format!("held-{n}"))?;
    setup.mux.abort();
    let agent_cores = proc_stats::cores_used(&agent_before, &agent_after);
    let generator_cores = proc_stats::cores_used(&own_before, &own_after);
    let (busy_cores, _) = proc_stats::machine_cores(&machine_before, &machine_after);
    Ok(HeldResult {
        n,
        results,
        in_progress: in_progress.iter().sum::<usize>() as f64 / in_progress.len().max(1) as f64,
        window: HELD_WINDOW,
        agent_cores,
        agent_rss_mib: peak.finish() as f64 / 1024.0 / 1024.0,
        generator_cores,
        others_cores: (busy_cores - agent_cores - generator_cores).max(0.0),
        account,
    })
}

/// The held steps' table and what it shows, as markdown.
pub(super) fn markdown(steps: &[HeldResult]) -> String {
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            let d = s.decisions();
            let calls = s.admitted();
            let cpu_ms_per_call =
                s.agent_cores * s.window.as_secs_f64() * 1000.0 / calls.max(1) as f64;
            vec![
                s.n.to_string(),
                format!("{:.0}", s.in_progress),
                calls.to_string(),
                format!("{:.0}", s.per_hour()),
                format!(
                    "{}/{} ({:.1} %)",
                    s.right(),
                    calls,
                    100.0 * s.right() as f64 / calls.max(1) as f64
                ),
                format!("{} attempts", s.refused()),
                super::ms(percentile(&d, 0.5)),
                super::ms(percentile(&d, 0.95)),
                format!("{:.2}", s.agent_cores),
                format!("{cpu_ms_per_call:.0}"),
                format!("{:.0}", s.agent_rss_mib),
                format!("{:.2}", s.generator_cores),
                format!("{:.2}", s.others_cores),
            ]
        })
        .collect();
    let mut text = format!(
        "**Held load.** N lines kept busy: each caller calls again as soon as its call \
         ends (the branches in turn), the lines starting evenly over {HELD_RAMP:?}; counted \
         are the calls begun and let in during the {HELD_WINDOW:?} after that, and the \
         agent's CPU over those {HELD_WINDOW:?} (CPU per call = the window's CPU / those \
         calls). A refused line calls again after {RETRY_AFTER:?}; its refused attempts are \
         counted apart. Calls in progress include attempts being refused.\n\n{}\n",
        table(
            &[
                "N lines",
                "calls in progress (mean)",
                "calls let in during the window",
                "calls per hour",
                "right decisions (of those let in)",
                "refused (503)",
                "decision p50 ms",
                "decision p95 ms",
                "agent cores",
                "agent CPU ms/call",
                "agent peak RSS MiB",
                "generator cores",
                "other processes' cores",
            ],
            &rows
        )
    );
    let best = steps.iter().filter(|s| s.meets_goal()).max_by_key(|s| s.n);
    let past_best = steps
        .iter()
        .filter(|s| !s.meets_goal() && best.is_none_or(|b| s.n > b.n))
        .min_by_key(|s| s.n);
    let bound = past_best.map(|s| {
        super::what_bounds(
            s.n,
            s.refused(),
            s.admitted() - s.right(),
            percentile(&s.decisions(), 0.95),
            s.agent_cores,
            &s.account,
        )
    });
    match best {
        Some(s) => text.push_str(&format!(
            "\nHighest held N with every decision right and decision p95 ≤ {} ms: **{}** \
             ({:.0} calls in progress on average, {:.0} calls an hour).\n",
            DECISION_P95_GOAL.as_millis(),
            s.n,
            s.in_progress,
            s.per_hour()
        )),
        None => text.push_str(&format!(
            "\nNo held step had every decision right with decision p95 ≤ {} ms.\n",
            DECISION_P95_GOAL.as_millis()
        )),
    }
    if let Some(bound) = bound.filter(|b| !b.is_empty()) {
        text.push('\n');
        text.push_str(&bound);
    }
    text
}
