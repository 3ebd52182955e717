//! P2's part of the report: method, the table, the goals judged, the charts.

use std::fmt::Write as _;

use crate::chart::Chart;
use crate::report::{table, Section};

use super::step::StepResult;

pub const GOAL_CPU_PERCENT_PER_CALL: f64 = 0.05;
pub const GOAL_P99_JITTER_MS: f64 = 2.0;
pub const GOAL_RSS_KIB_PER_CALL: f64 = 200.0;

/// What the method paragraph needs to say about how the run was set up.
pub struct Setup {
    pub warmup_secs: f64,
    pub window_secs: f64,
    pub setup_rate: f64,
    pub key_every_secs: f64,
    pub prompt_secs: Option<f64>,
    pub overrides: Vec<String>,
}

/// Per-call cost against the idle agent, where there are calls.
struct PerCall {
    cpu_percent: Option<f64>,
    rss_kib: Option<f64>,
}

fn per_call(step: &StepResult, base: &StepResult) -> PerCall {
    let n = step.answered as f64;
    if n == 0.0 {
        return PerCall {
            cpu_percent: None,
            rss_kib: None,
        };
    }
    PerCall {
        cpu_percent: Some((step.agent_cores - base.agent_cores) * 100.0 / n),
        rss_kib: Some((step.agent_rss as f64 - base.agent_rss as f64) / 1024.0 / n),
    }
}

fn ms(us: Option<u64>) -> String {
    us.map_or("–".into(), |u| format!("{:.2}", u as f64 / 1000.0))
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**missed**"
    }
}

fn row(step: &StepResult, base: &StepResult) -> Vec<String> {
    let pc = per_call(step, base);
    let r = step.received.as_ref();
    let expected = step.answered as f64 * step.window.as_secs_f64() * 50.0;
    let (received, loss) = match r {
        Some(r) => (
            format!(
                "{} / {:.0} ({} of {} calls streaming)",
                r.received, expected, r.calls_streaming, r.calls
            ),
            opt(
                (r.sequence_span > 0).then(|| {
                    r.sequence_span.saturating_sub(r.received) as f64 * 100.0
                        / r.sequence_span as f64
                }),
                3,
            ),
        ),
        None => ("–".into(), "–".into()),
    };
    let keys = match &step.sent {
        Some(s) => format!("{} / {}", s.digits, step.digits_detected),
        None => "–".into(),
    };
    let mut answered = step.answered.to_string();
    if step.answered > 0 {
        let _ = write!(answered, " in {:.1} s", step.setup.as_secs_f64());
    }
    if !step.setup_failures.is_empty() {
        let _ = write!(answered, " ({} failed)", step.setup_failures.len());
    }
    vec![
        step.calls.to_string(),
        answered,
        format!("{:.1}", step.agent_cores * 100.0),
        opt(pc.cpu_percent, 4),
        format!("{:.1}", step.agent_rss as f64 / 1024.0 / 1024.0),
        opt(pc.rss_kib, 0),
        format!(
            "{} / {} / {}",
            ms(r.and_then(|r| r.jitter.percentile(50.0))),
            ms(r.and_then(|r| r.jitter.percentile(99.0))),
            ms(r.and_then(|r| r.jitter.max()))
        ),
        received,
        loss,
        keys,
        format!("{:.1}", step.generator_cores * 100.0),
        ms(step.sent.as_ref().and_then(|s| s.lateness.percentile(99.0))),
        opt(step.active_after, 0),
    ]
}

pub fn section(setup: &Setup, steps: &[StepResult]) -> Section {
    let mut md = String::new();
    let base = steps.iter().find(|s| s.calls == 0);
    let _ = writeln!(
        md,
        "N concurrent calls, each sending G.711 µ-law at 50 packets/s into Passgate while Passgate plays a prompt back \
         and detects RFC 4733 key presses. The load generator is Rust in `bench/src/p2_media/`: real SIP over UDP \
         (INVITE with a PCMU + telephone-event/8000 offer, ACK, BYE), one UDP socket per call, one thread sending every \
         call's packets on a 20 ms ring, one epoll thread receiving and timestamping Passgate's packets.\n"
    );
    let prompt = setup
        .prompt_secs
        .map_or(String::new(), |s| format!(" ({s:.1} s of speech)"));
    let _ = writeln!(
        md,
        "Each call is an unknown caller number: Passgate looks it up and offers \"press 1\"; the generator presses 1, \
         Passgate plays the number-entry prompt{prompt}, listed in `prompts.no_barge_in` so that keys do not cut it, and \
         the generator keeps typing 2, 3, 4, `*` (one key every {:.0} s; `*` restarts the entry, so it never completes). \
         Calls are set up at {:.0}/s, then {:.0} s of warm-up and a {:.0} s measured window. CPU is the agent's \
         utime + stime from /proc over the window (100 % = one core), RSS its VmRSS at the end of the window; \
         per call = (value at N − value at 0 calls) / N. Jitter is |inter-arrival − 20 ms| of consecutive packets of each \
         call, timed by the kernel as each packet is queued on the generator's socket (SO_TIMESTAMPNS; on loopback that \
         is inside Passgate's send), so it is Passgate's pacing and not the generator's wake-ups; p50 / p99 / max over \
         all calls. Loss is sequence numbers missing inside the window. \"Generator late\" is how late the generator's \
         own packets left after their 20 ms slot: the machine's scheduling delay, which Passgate's timers suffer too. \
         On loopback the kernel delivers a datagram inside the sender's system call, so Passgate's CPU includes \
         delivering its packets into the generator's sockets, and the generator's includes waking Passgate for its \
         packets; the generator drains its sockets every 2 ms rather than being woken per packet.\n",
        setup.key_every_secs, setup.setup_rate, setup.warmup_secs, setup.window_secs
    );
    let _ = writeln!(md, "Overrides: `{}`.\n", setup.overrides.join("`, `"));
    let Some(base) = base else {
        md.push_str("No baseline step (0 calls) ran: nothing to report.\n");
        return Section {
            title: "P2 media: concurrent calls".into(),
            markdown: md,
            charts: Vec::new(),
        };
    };
    let header = [
        "calls",
        "answered",
        "agent CPU %",
        "CPU % per call",
        "agent RSS MiB",
        "RSS KiB per call",
        "jitter p50 / p99 / max ms",
        "packets received / expected",
        "loss %",
        "keys sent / detected",
        "generator CPU %",
        "generator late p99 ms",
        "active after BYE",
    ];
    let rows: Vec<Vec<String>> = steps.iter().map(|s| row(s, base)).collect();
    md.push_str(&table(&header, &rows));
    md.push('\n');
    goals(&mut md, steps, base);
    Section {
        title: "P2 media: concurrent calls".into(),
        markdown: md,
        charts: charts(steps, base),
    }
}

fn goals(md: &mut String, steps: &[StepResult], base: &StepResult) {
    let Some(top) = steps
        .iter()
        .filter(|s| s.answered > 0)
        .max_by_key(|s| s.answered)
    else {
        md.push_str("No step with calls ran.\n");
        return;
    };
    let pc = per_call(top, base);
    let cpu = pc.cpu_percent.unwrap_or(f64::INFINITY);
    let slope = rss_slope_kib(steps);
    let rss = slope.or(pc.rss_kib).unwrap_or(f64::INFINITY);
    let worst_p99 = steps
        .iter()
        .filter_map(|s| s.received.as_ref()?.jitter.percentile(99.0))
        .max()
        .map_or(f64::INFINITY, |us| us as f64 / 1000.0);
    let _ = writeln!(
        md,
        "Goals, judged at {} calls (jitter: the worst step):\n",
        top.answered
    );
    let _ = writeln!(
        md,
        "- CPU ≤ {GOAL_CPU_PERCENT_PER_CALL} % of a core per call: {cpu:.4} % — {}",
        verdict(cpu <= GOAL_CPU_PERCENT_PER_CALL)
    );
    if top.answered > 0 && top.generator_cores > 0.0 {
        let generator = top.generator_cores * 100.0 / top.answered as f64;
        let _ = writeln!(
            md,
            "  - side by side: the load generator, moving the same packets through one socket per call \
             with no codec, jitter buffer or DTMF detection, used {generator:.4} % of a core per call: \
             Passgate ÷ generator = {:.2}×. On loopback each side's CPU includes delivering its \
             datagrams into the other's sockets.",
            cpu / generator
        );
    }
    let _ = writeln!(
        md,
        "- send-interval jitter p99 ≤ {GOAL_P99_JITTER_MS} ms: {worst_p99:.2} ms — {}",
        verdict(worst_p99 <= GOAL_P99_JITTER_MS)
    );
    let how = if slope.is_some() {
        format!(
            "the slope of RSS over the steps with calls (least squares; at {} calls against 0 calls: {})",
            top.answered,
            opt(pc.rss_kib.map(|k| k.round()), 0)
        )
    } else {
        format!("at {} calls against 0 calls", top.answered)
    };
    let _ = writeln!(
        md,
        "- RSS ≤ {GOAL_RSS_KIB_PER_CALL} KiB per call besides the model: {rss:.0} KiB, {how} — {}",
        verdict(rss <= GOAL_RSS_KIB_PER_CALL)
    );
    md.push_str(
        "\n(The slope, because the allocator hands start-up memory back to the system at moments of its own, \
         which moves the total by some 15 MiB: a lot against 100 calls, little against 1,000.)\n",
    );
    let sent: u64 = steps
        .iter()
        .filter_map(|s| s.sent.as_ref())
        .map(|s| s.digits)
        .sum();
    let detected: u64 = steps.iter().map(|s| s.digits_detected).sum();
    let all_down = steps.iter().all(|s| s.active_after == Some(0.0));
    let failures: usize = steps
        .iter()
        .map(|s| s.setup_failures.len() + s.bye_failures)
        .sum();
    let by_agent: usize = steps.iter().map(|s| s.ended_by_agent).sum();
    let _ = writeln!(
        md,
        "\nKeys: {sent} sent, {detected} detected by Passgate (its `passgate_dtmf_digits_total{{source=\"rfc4733\"}}`). \
         After each step's BYEs Passgate's `passgate_calls_active` was {}. SIP failures (set-up or BYE): {failures}; \
         calls Passgate ended itself: {by_agent}.",
        if all_down { "0 every time".to_string() } else { "not 0 (see the last column)".to_string() }
    );
}

/// KiB of RSS per additional call: the least-squares slope over the steps
/// with calls; `None` with fewer than two of them.
fn rss_slope_kib(steps: &[StepResult]) -> Option<f64> {
    let points: Vec<(f64, f64)> = steps
        .iter()
        .filter(|s| s.answered > 0)
        .map(|s| (s.answered as f64, s.agent_rss as f64 / 1024.0))
        .collect();
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    (points.len() >= 2 && sxx > 0.0).then(|| sxy / sxx)
}

fn charts(steps: &[StepResult], base: &StepResult) -> Vec<Chart> {
    let points = |f: &dyn Fn(&StepResult) -> Option<f64>| -> Vec<(f64, f64)> {
        steps
            .iter()
            .filter_map(|s| Some((s.answered as f64, f(s)?)))
            .collect()
    };
    let top = steps.iter().map(|s| s.answered).max().unwrap_or(0) as f64;
    let base_rss_mib = base.agent_rss as f64 / 1024.0 / 1024.0;
    vec![
        Chart {
            title: "P2: CPU vs concurrent calls".into(),
            x_label: "concurrent calls".into(),
            y_label: "% of one core".into(),
            series: vec![
                ("passgate".into(), points(&|s| Some(s.agent_cores * 100.0))),
                (
                    "load generator".into(),
                    points(&|s| Some(s.generator_cores * 100.0)),
                ),
                (
                    "goal: 0.05 % per call".into(),
                    vec![
                        (0.0, base.agent_cores * 100.0),
                        (
                            top,
                            base.agent_cores * 100.0 + top * GOAL_CPU_PERCENT_PER_CALL,
                        ),
                    ],
                ),
            ],
        },
        Chart {
            title: "P2: passgate RSS vs concurrent calls".into(),
            x_label: "concurrent calls".into(),
            y_label: "MiB".into(),
            series: vec![
                (
                    "passgate RSS".into(),
                    points(&|s| Some(s.agent_rss as f64 / 1024.0 / 1024.0)),
                ),
                (
                    "goal: 200 KiB per call".into(),
                    vec![
                        (0.0, base_rss_mib),
                        (top, base_rss_mib + top * GOAL_RSS_KIB_PER_CALL / 1024.0),
                    ],
                ),
            ],
        },
        Chart {
            title: "P2: send-interval jitter".into(),
            x_label: "concurrent calls".into(),
            y_label: "ms".into(),
            series: vec![
                (
                    "p50".into(),
                    points(&|s| {
                        Some(s.received.as_ref()?.jitter.percentile(50.0)? as f64 / 1000.0)
                    }),
                ),
                (
                    "p99".into(),
                    points(&|s| {
                        Some(s.received.as_ref()?.jitter.percentile(99.0)? as f64 / 1000.0)
                    }),
                ),
                (
                    "goal: p99 2 ms".into(),
                    vec![(0.0, GOAL_P99_JITTER_MS), (top, GOAL_P99_JITTER_MS)],
                ),
            ],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2_media::receiver::ReceiveReport;
    use std::time::Duration;

    fn step(calls: usize, cores: f64, rss_mib: u64, jitter_us: u64) -> StepResult {
        let mut received = ReceiveReport {
            received: calls as u64 * 500,
            sequence_span: calls as u64 * 500,
            calls,
            calls_streaming: calls,
            ..ReceiveReport::default()
        };
        received.jitter.record(jitter_us);
        StepResult {
            calls,
            answered: calls,
            agent_cores: cores,
            agent_rss: rss_mib * 1024 * 1024,
            window: Duration::from_secs(10),
            received: (calls > 0).then_some(received),
            active_after: Some(0.0),
            ..StepResult::default()
        }
    }

    #[test]
    fn per_call_costs_are_against_the_baseline_and_judged() {
        let steps = [step(0, 0.01, 100, 0), step(1000, 0.41, 200, 1500)];
        let s = section(
            &Setup {
                warmup_secs: 3.0,
                window_secs: 10.0,
                setup_rate: 200.0,
                key_every_secs: 2.0,
                prompt_secs: Some(18.0),
                overrides: vec!["X=1".into()],
            },
            &steps,
        );
        // (0.41 - 0.01) * 100 / 1000 = 0.04 % per call; 100 MiB / 1000 = 102 KiB.
        assert!(
            s.markdown
                .contains("| 1000 | 1000 in 0.0 s | 41.0 | 0.0400 | 200.0 | 102 |"),
            "{}",
            s.markdown
        );
        assert!(s.markdown.contains("0.0400 % — **met**"));
        assert!(s.markdown.contains("1.50 ms — **met**"));
        assert!(s
            .markdown
            .contains("102 KiB, at 1000 calls against 0 calls — **met**"));
        assert_eq!(s.charts.len(), 3);
        let worse = [step(0, 0.01, 100, 0), step(1000, 1.01, 400, 2500)];
        let s = section(
            &Setup {
                warmup_secs: 3.0,
                window_secs: 10.0,
                setup_rate: 200.0,
                key_every_secs: 2.0,
                prompt_secs: None,
                overrides: Vec::new(),
            },
            &worse,
        );
        assert_eq!(
            s.markdown.matches("**missed**").count(),
            3,
            "{}",
            s.markdown
        );
    }

    #[test]
    fn rss_per_call_is_the_slope_when_several_steps_had_calls() {
        // 40 MiB of start-up memory went back to the system after the baseline.
        let steps = [
            step(0, 0.0, 600, 0),
            step(100, 0.1, 565, 100),
            step(500, 0.3, 585, 100),
            step(1000, 0.5, 610, 100),
        ];
        let slope = rss_slope_kib(&steps).unwrap();
        assert!((slope - 51.2).abs() < 0.5, "{slope}");
        assert_eq!(rss_slope_kib(&steps[..2]), None);
    }
}
