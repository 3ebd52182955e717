//! P2 media: N concurrent calls streaming G.711 into Passgate at 50
//! packets/s while it plays a prompt back and detects their keys, each load
//! once with plain RTP and once with SRTP. SIPp cannot generate that much
//! RTP, so the load generator is here (see the submodules).

#[cfg(test)]
mod e2e_tests;
mod kernel_time;
mod limits;
mod receiver;
mod rtp_out;
mod sender;
pub(crate) mod sip_text;
mod srtp_keys;
mod srtp_summary;
mod stats;
mod step;
mod summary;
mod uac;

use std::time::Duration;

use anyhow::Context;

use crate::agent::Agent;
use crate::report::Section;

/// The number-entry prompt for this benchmark: long enough to play through
/// the warm-up and the window of the largest step.
const LONG_PROMPT: &str = "Please enter the 10-digit phone number associated with the account, starting with the area code. \
     Type it slowly on your keypad, one digit at a time, and press the star key at any moment to start again from the beginning. \
     When you have entered every digit, press the pound key. If you do not know the number, stay on the line.";

const WARM_UP_CALLS: usize = 20;

pub(crate) struct Plan {
    steps: Vec<usize>,
    pub(crate) warmup: Duration,
    pub(crate) window: Duration,
    setup_rate: f64,
    key_every: Duration,
}

impl Plan {
    /// BENCH_P2_STEPS ("0,300,2000") and BENCH_P2_WINDOW_SECS change the
    /// steps and the window, for looking closer at one load (with perf).
    pub(crate) fn new(quick: bool) -> anyhow::Result<Plan> {
        let mut plan = if quick {
            Plan {
                steps: vec![0, 50, 100],
                warmup: Duration::from_secs(2),
                window: Duration::from_secs(3),
                setup_rate: 200.0,
                key_every: Duration::from_secs(1),
            }
        } else {
            Plan {
                steps: vec![0, 100, 250, 500, 1000],
                warmup: Duration::from_secs(3),
                window: Duration::from_secs(10),
                setup_rate: 200.0,
                key_every: Duration::from_secs(2),
            }
        };
        if let Ok(steps) = std::env::var("BENCH_P2_STEPS") {
            plan.steps = steps
                .split(',')
                .map(|n| n.trim().parse())
                .collect::<Result<_, _>>()
                .context("BENCH_P2_STEPS: calls per step, comma-separated")?;
        }
        if let Ok(secs) = std::env::var("BENCH_P2_WINDOW_SECS") {
            plan.window = Duration::from_secs(secs.trim().parse().context("BENCH_P2_WINDOW_SECS")?);
        }
        Ok(plan)
    }

    fn most(&self) -> usize {
        self.steps.iter().copied().max().unwrap_or(0)
    }
}

pub(crate) fn overrides(plan: &Plan, prompt: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PASSGATE_SIP__MAX_CALLS", (plan.most() + 100).to_string()),
        // The callers stay in number entry and never reach the recognizer;
        // admission by its predicted load would count each as a passphrase
        // turn to come and refuse most of a step whose calls all arrive
        // within seconds.
        ("PASSGATE_ASR__ADMIT_MAX_LOAD", "0".to_string()),
        // An RTP + RTCP pair per call.
        ("PASSGATE_RTP__PORT_RANGE", "20000-29999".to_string()),
        ("PASSGATE_CALL__MAX_DURATION_SECS", "3600".into()),
        ("PASSGATE_FLOW__OFFER__TIMEOUT", "30s".to_string()),
        (
            "PASSGATE_FLOW__NUMBER_ENTRY__INTER_DIGIT_TIMEOUT",
            "1h".to_string(),
        ),
        (
            "PASSGATE_FLOW__NUMBER_ENTRY__TOTAL_TIMEOUT",
            "1h".to_string(),
        ),
        ("PASSGATE_FLOW__PROMPTS__ENTER_NUMBER", prompt.to_string()),
        ("PASSGATE_PROMPTS__NO_BARGE_IN", "[\"enter_number\"]".into()),
    ]
}

/// How long a text lasts as espeak-ng speaks it (as the agent will).
fn spoken_seconds(text: &str) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let wav = dir.path().join("prompt.wav");
    let status = std::process::Command::new("espeak-ng")
        .args(["-v", "en-us", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .context("running espeak-ng")?;
    anyhow::ensure!(status.success(), "espeak-ng failed: {status}");
    let reader = hound::WavReader::open(&wav)?;
    Ok(reader.duration() as f64 / f64::from(reader.spec().sample_rate))
}

/// The number-entry prompt, said as many times as it takes to outlast
/// `needed`, and how long it is.
pub(crate) fn long_prompt(needed: Duration) -> anyhow::Result<(String, f64)> {
    let once = spoken_seconds(LONG_PROMPT)?;
    let times = (needed.as_secs_f64() / once).ceil().max(1.0) as usize;
    Ok((vec![LONG_PROMPT; times].join(" "), once * times as f64))
}

fn step_config(plan: &Plan, calls: usize, srtp: bool) -> step::StepConfig {
    step::StepConfig {
        calls,
        srtp,
        warmup: plan.warmup,
        window: plan.window,
        setup_rate: plan.setup_rate,
        teardown_rate: 1000.0,
        key_every: plan.key_every,
    }
}

/// A few calls first, not reported, so the baseline is the agent as calls
/// leave it (prompts rendered, the store opened) rather than as it starts.
pub(crate) fn warm_up(agent: &Agent, plan: &Plan) -> anyhow::Result<()> {
    let warm_up = step::StepConfig {
        warmup: Duration::from_secs(1),
        window: Duration::from_secs(1),
        ..step_config(plan, WARM_UP_CALLS, false)
    };
    step::run(agent, &warm_up, "warm").context("P2 warm-up calls")?;
    if plan.window > Duration::from_secs(5) {
        // Tokio's blocking threads (the store's) retire 10 s after their
        // last job, taking their memory with them; so do they by the end of
        // every step's window.
        std::thread::sleep(Duration::from_secs(11));
    }
    Ok(())
}

/// One measured step of `calls` media calls.
pub(crate) fn step(
    agent: &Agent,
    plan: &Plan,
    calls: usize,
    run_id: &str,
) -> anyhow::Result<step::StepResult> {
    step::run(agent, &step_config(plan, calls, false), run_id)
        .with_context(|| format!("P2 step with {calls} calls"))
}

/// One measured step of `calls` calls, with SRTP or plain RTP.
fn measure(
    agent: &Agent,
    plan: &Plan,
    calls: usize,
    srtp: bool,
    run_id: &str,
) -> anyhow::Result<step::StepResult> {
    let what = if srtp { "SRTP" } else { "plain RTP" };
    eprintln!("p2: {calls} calls, {what}");
    let result = step::run(agent, &step_config(plan, calls, srtp), run_id)
        .with_context(|| format!("P2 step with {calls} calls, {what}"))?;
    eprintln!(
        "p2: {calls} calls, {what}: agent {:.1} % CPU, {:.1} MiB",
        result.agent_cores * 100.0,
        result.agent_rss as f64 / 1048576.0
    );
    Ok(result)
}

pub fn run(opts: &crate::Options) -> anyhow::Result<Section> {
    let plan = Plan::new(opts.quick)?;
    let files = limits::raise_open_files().context("raising the open-file limit")?;
    anyhow::ensure!(
        files as usize > plan.most() + 256,
        "{} calls need more than the {files} open files allowed (ulimit -n)",
        plan.most()
    );
    // The first key goes up to 1.2 s after media starts; the prompt must
    // then play through the warm-up and the window, with a margin.
    let (prompt, prompt_secs) = long_prompt(plan.warmup + plan.window + Duration::from_secs(3))
        .context("timing the prompt (espeak-ng speaks Passgate's prompts)")?;
    eprintln!("p2: the number-entry prompt lasts {prompt_secs:.1} s");
    let mut env = overrides(&plan, &prompt);
    // SRTP when offered: the plain calls offer RTP/AVP and get it.
    env.push(("PASSGATE_RTP__SRTP", "offer".into()));
    let agent = Agent::start(&env)?;
    warm_up(&agent, &plan)?;
    let mut results = Vec::new();
    let mut pairs = Vec::new();
    for (i, &calls) in plan.steps.iter().enumerate() {
        if calls == 0 {
            results.push(measure(&agent, &plan, 0, false, &i.to_string())?);
            continue;
        }
        // Plain first at one load, SRTP first at the next, so neither
        // always meets the agent as the other left it.
        let order = if i % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        let (mut plain, mut srtp) = (None, None);
        for with_srtp in order {
            let run_id = format!("{i}{}", if with_srtp { "s" } else { "p" });
            let result = measure(&agent, &plan, calls, with_srtp, &run_id)?;
            if with_srtp {
                srtp = Some(result);
            } else {
                plain = Some(result);
            }
        }
        if let (Some(plain), Some(srtp)) = (plain, srtp) {
            results.push(plain.clone());
            pairs.push((plain, srtp));
        }
    }
    let setup = summary::Setup {
        warmup_secs: plan.warmup.as_secs_f64(),
        window_secs: plan.window.as_secs_f64(),
        setup_rate: plan.setup_rate,
        key_every_secs: plan.key_every.as_secs_f64(),
        prompt_secs: Some(prompt_secs),
        overrides: env
            .iter()
            .filter(|(k, _)| *k != "PASSGATE_FLOW__PROMPTS__ENTER_NUMBER")
            .map(|(k, v)| format!("{k}={v}"))
            .chain(std::iter::once(
                "PASSGATE_FLOW__PROMPTS__ENTER_NUMBER=<the long prompt>".to_string(),
            ))
            .collect(),
    };
    let mut section = summary::section(&setup, &results);
    if let Some(base) = results.iter().find(|s| s.calls == 0) {
        section.markdown.push_str("\n### SRTP beside plain RTP\n\n");
        section
            .markdown
            .push_str(&srtp_summary::markdown(&pairs, base));
    }
    Ok(section)
}
