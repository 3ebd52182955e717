//! P5: the seed's flow at scale. N callers at once, each walking a branch
//! of the seed's call as a person would (listening for the prompts and the
//! beep, speaking the passphrase from G.711 audio, typing keys as RFC 4733,
//! reading the SMS code, taking the REFER), against the release binary with
//! its recognizer, store and prompts. Per N: how many decisions were right,
//! how long the passphrase decision took after the end of speech, the
//! agent's send jitter, CPU and memory, and the generator's own CPU.
//!
//! The mix, one in three each: a known number saying the right passphrase;
//! a known number saying a wrong phrase, then typing the SMS code; an
//! unknown number pressing 1 and typing the account's number, then saying
//! the right passphrase. Every branch ends verified and referred.

mod audio;
mod caller;
mod held;
mod sms;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use auth::flow::{AccountId, Balance};
use auth::passphrase::{HashCost, PassphraseHasher};
use auth::phone::E164;
use auth::store::{NewAccount, Store, Timestamp};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::agent::Agent;
use crate::chart::Chart;
use crate::p2_media::sip_text::Message;
use crate::proc_stats;
use crate::report::{table, Section};
use caller::{Act, Line, Plan};

const PASSPHRASE: &str = "하얀 말";
const WRONG_PHRASE: &str = "검은 고양이";
/// Calls of a step start evenly over this long.
const RAMP: Duration = Duration::from_secs(10);
/// The goal: every decision right and this p95 after the end of speech.
const DECISION_P95_GOAL: Duration = Duration::from_millis(500);

struct StepResult {
    n: usize,
    results: Vec<caller::Result>,
    agent_cores: f64,
    agent_cpu_per_call: Duration,
    agent_rss_mib: f64,
    generator_cores: f64,
    /// Cores every other process on the machine kept busy, and cores the
    /// hypervisor gave to other guests, over the step: what the agent and
    /// the generator shared the machine with.
    others_cores: f64,
    steal_cores: f64,
    wall: Duration,
    account: AgentAccount,
}

/// What an INVITE refused by admission fails with.
const REFUSED: &str = "INVITE answered 503";

impl StepResult {
    fn right(&self) -> usize {
        self.results.iter().filter(|r| right(r)).count()
    }

    /// Calls turned away by admission (503).
    fn refused(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.failure.as_deref() == Some(REFUSED))
            .count()
    }

    fn decisions(&self) -> Vec<Duration> {
        let mut d: Vec<Duration> = self.results.iter().filter_map(|r| r.decision).collect();
        d.sort();
        d
    }

    fn jitter_p99_us(&self) -> u32 {
        let mut all: Vec<u32> = self
            .results
            .iter()
            .flat_map(|r| r.jitter_us.iter().copied())
            .collect();
        all.sort_unstable();
        percentile(&all, 0.99).unwrap_or(0)
    }

    fn meets_goal(&self) -> bool {
        self.right() == self.n
            && percentile(&self.decisions(), 0.95).is_some_and(|p| p <= DECISION_P95_GOAL)
    }
}

/// What the branch should end with: verified, and an SMS exactly when the
/// phrase said was not the passphrase.
fn right(r: &caller::Result) -> bool {
    r.failure.is_none()
        && r.auth.as_deref() == Some("verified")
        && r.sms_received == (r.branch == "wrong phrase, SMS code")
}

fn percentile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[i])
}

/// `BENCH_P5_STEPS=3,250,375`: these steps only, and no admission step
/// after them. The steps run on one node restarted between them: each
/// step's agent starts from what admission learnt in the step before
/// (`asr.admit_learnt_file`), as a node restarted in service would; the
/// first starts fresh. `BENCH_P5_HELD=250,375`: the held steps (N lines
/// kept busy, see `held`), run after the others on the same node; by
/// default 250 and 375 (6 with --quick), none when only `BENCH_P5_STEPS`
/// is given. `BENCH_P5_LOG=DIR`: the agent logs each call's decision
/// latency (debug) and its log is kept as DIR/p5-N.log.
pub fn run(opts: &crate::Options) -> anyhow::Result<Section> {
    let chosen: Option<Vec<usize>> = std::env::var("BENCH_P5_STEPS").ok().map(|v| {
        v.split(',')
            .filter_map(|n| n.trim().parse().ok())
            .filter(|&n| n > 0)
            .collect()
    });
    let steps: Vec<usize> = match &chosen {
        Some(steps) => steps.clone(),
        None if opts.quick => vec![3, 12],
        None => vec![3, 30, 60, 120, 180, 250, 320],
    };
    let held_steps: Vec<usize> = match std::env::var("BENCH_P5_HELD") {
        Ok(v) => v
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .filter(|&n| n > 0)
            .collect(),
        Err(_) if chosen.is_some() => Vec::new(),
        Err(_) if opts.quick => vec![6],
        Err(_) => vec![250, 375],
    };
    let right_frames = speech(PASSPHRASE)?;
    let wrong_frames = speech(WRONG_PHRASE)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut done: Vec<StepResult> = Vec::new();
    let node = tempfile::tempdir()?;
    let learnt = Agent::knows("admit_learnt_file").then(|| node.path().join("admission.json"));
    let run = |index: usize, n: usize, done: &mut Vec<StepResult>| -> anyhow::Result<bool> {
        eprintln!("P5: {n} callers at once");
        let step = runtime.block_on(run_step(
            index,
            n,
            &right_frames,
            &wrong_frames,
            learnt.as_deref(),
        ))?;
        eprintln!(
            "P5: {n}: {}/{} right, {} refused, decision p95 {:?}",
            step.right(),
            n,
            step.refused(),
            percentile(&step.decisions(), 0.95)
        );
        // Past collapse a bigger step only takes longer to say the same.
        let collapsed = step.right() < n / 2;
        done.push(step);
        Ok(collapsed)
    };
    for (index, &n) in steps.iter().enumerate() {
        if run(index, n, &mut done)? {
            break;
        }
    }
    let mut held = Vec::new();
    for (k, &n) in held_steps.iter().enumerate() {
        eprintln!("P5: {n} lines held");
        let step = runtime.block_on(held::run_step(
            steps.len() + 1 + k,
            n,
            &right_frames,
            &wrong_frames,
            learnt.as_deref(),
        ))?;
        eprintln!(
            "P5: {n} held: {}/{} right, {} refused, decision p95 {:?}, {:.0} in progress",
            step.right(),
            step.admitted(),
            step.refused(),
            percentile(&step.decisions(), 0.95),
            step.in_progress
        );
        held.push(step);
    }
    // Admission's test: half as many again as the capacity found; those let
    // in should still get their decisions in time.
    if let Some(best) = done.iter().filter(|s| s.meets_goal()).map(|s| s.n).max() {
        let over = best * 3 / 2;
        if !opts.quick && chosen.is_none() && done.iter().all(|s| s.n != over) {
            run(steps.len(), over, &mut done)?;
        }
    }
    Ok(section(&done, &held))
}

/// espeak-ng Korean at 8 kHz as 20 ms µ-law frames, quiet ends trimmed.
fn speech(text: &str) -> anyhow::Result<Arc<[Arc<[u8]>]>> {
    let dir = tempfile::tempdir()?;
    let wav = dir.path().join("speech.wav");
    let status = std::process::Command::new("espeak-ng")
        .args(["-v", "ko", "-s", "150", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .context("running espeak-ng")?;
    if !status.success() {
        bail!("espeak-ng failed: {status}");
    }
    let mut reader = hound::WavReader::open(&wav)?;
    let rate = reader.spec().sample_rate;
    let pcm = reader.samples::<i16>().collect::<Result<Vec<_>, _>>()?;
    let narrow = media::resample_clip(&pcm, rate, 8000)?;
    Ok(audio::ulaw_frames(audio::trim_quiet(&narrow)).into())
}

fn phone(step: usize, i: usize) -> String {
    format!("+1555{step}{i:06}")
}

async fn accounts(path: &std::path::Path, step: usize, n: usize) -> anyhow::Result<()> {
    let store = Store::connect(&format!("sqlite://{}", path.display())).await?;
    store.migrate().await?;
    // One hash at the production cost serves every account: verifying it
    // costs each call the same as its own would.
    let stored = PassphraseHasher::new(HashCost::default())?.hash(PASSPHRASE)?;
    for i in 0..n {
        store
            .add_account(
                NewAccount {
                    id: Some(AccountId(format!("p5-{step}-{i}"))),
                    name: format!("Caller {i}"),
                    phones: vec![E164::parse(&phone(step, i))?],
                    passphrase: stored.clone(),
                    balance: Balance {
                        cents: 100 * i as i64,
                    },
                },
                Timestamp::now(),
            )
            .await?;
    }
    store.close().await;
    Ok(())
}

/// Line `i`'s call walking branch `branch % 3`, for line `i`'s account.
fn plan(
    step: usize,
    i: usize,
    branch: usize,
    right: &Arc<[Arc<[u8]>]>,
    wrong: &Arc<[Arc<[u8]>]>,
) -> Plan {
    let account_phone = phone(step, i);
    let (branch, from_user, acts) = match branch % 3 {
        0 => (
            "known number, passphrase",
            account_phone.clone(),
            vec![
                Act::WaitBeep,
                Act::Speak(right.clone()),
                Act::TimeDecision,
                Act::WaitPromptEnd,
                Act::Press("0".into()),
                Act::TakeTransfer,
            ],
        ),
        1 => (
            "wrong phrase, SMS code",
            account_phone.clone(),
            vec![
                Act::WaitBeep,
                Act::Speak(wrong.clone()),
                Act::TimeDecision,
                Act::WaitPromptEnd,
                Act::PressSmsCode,
                Act::WaitPromptEnd,
                Act::Press("0".into()),
                Act::TakeTransfer,
            ],
        ),
        _ => (
            "unknown number, typed",
            format!("+1555{step}9{i:05}"),
            vec![
                Act::WaitPromptEnd,
                Act::Press("1".into()),
                Act::WaitPromptEnd,
                Act::Press(format!("{}#", &account_phone[2..])),
                Act::WaitBeep,
                Act::Speak(right.clone()),
                Act::TimeDecision,
                Act::WaitPromptEnd,
                Act::Press("0".into()),
                Act::TakeTransfer,
            ],
        ),
    };
    Plan {
        branch,
        from_user,
        account_phone,
        acts,
    }
}

/// A step's agent on its own store and SMS sink, and the callers' lines:
/// one SIP socket shared by all, each answer routed to its line by the
/// Call-ID's part before the '.' (a line's calls are `LINE.0`, `LINE.1`, ...).
struct Setup {
    _dir: tempfile::TempDir,
    agent: Agent,
    lines: Vec<(String, Line)>,
    mux: tokio::task::JoinHandle<()>,
    log_dir: Option<std::path::PathBuf>,
}

impl Setup {
    async fn start(
        index: usize,
        n: usize,
        learnt: Option<&std::path::Path>,
    ) -> anyhow::Result<Setup> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("p5.db");
        accounts(&db, index, n).await?;
        let (sms_url, inbox) = sms::start()?;
        let log_dir = std::env::var_os("BENCH_P5_LOG").map(std::path::PathBuf::from);
        let level = if log_dir.is_some() {
            "warn,passgate::call=debug,passgate::server=debug,passgate::turn_cost=info,auth::store=debug"
        } else {
            "warn"
        };
        let mut env = vec![
            ("PASSGATE_LOG__LEVEL", level.to_string()),
            (
                "PASSGATE_DATABASE__URL",
                format!("sqlite://{}", db.display()),
            ),
            ("PASSGATE_SMS__GATEWAY", "webhook".into()),
            ("PASSGATE_SMS__WEBHOOK__URL", sms_url),
            ("PASSGATE_SMS__WEBHOOK__FROM", "+15550009999".into()),
            ("PASSGATE_SMS__WEBHOOK__SECRET", "p5-sink".into()),
            ("PASSGATE_SIP__MAX_CALLS", (n + 50).to_string()),
        ];
        if let Some(path) = learnt {
            env.push((
                "PASSGATE_ASR__ADMIT_LEARNT_FILE",
                path.display().to_string(),
            ));
        }
        let agent = Agent::start(&env)?;
        let sip = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let local_sip = sip.local_addr()?;
        let mut routes: HashMap<String, mpsc::UnboundedSender<Message>> = HashMap::new();
        let mut lines = Vec::new();
        for i in 0..n {
            let (tx, rx) = mpsc::unbounded_channel();
            let line_id = format!("p5-{index}-{i}-{}", std::process::id());
            routes.insert(line_id.clone(), tx);
            lines.push((
                line_id,
                Line {
                    sip: sip.clone(),
                    local_sip,
                    agent: agent.sip,
                    inbox: rx,
                    sms: inbox.clone(),
                },
            ));
        }
        let mux_socket = sip.clone();
        let mux = tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok((len, _)) = mux_socket.recv_from(&mut buf).await {
                if let Some(m) = Message::parse(&buf[..len]) {
                    let line = m
                        .call_id()
                        .and_then(|id| id.rsplit_once('.'))
                        .map(|(line, _)| line);
                    if let Some(tx) = line.and_then(|line| routes.get(line)) {
                        let _ = tx.send(m);
                    }
                }
            }
        });
        Ok(Setup {
            _dir: dir,
            agent,
            lines,
            mux,
            log_dir,
        })
    }

    /// Keeps the agent's log as DIR/p5-NAME.log when `BENCH_P5_LOG` is set.
    fn keep_log(&self, name: &str) -> anyhow::Result<()> {
        if let Some(dir) = &self.log_dir {
            std::fs::create_dir_all(dir)?;
            std::fs::copy(self.agent.log_path(), dir.join(format!("p5-{name}.log")))?;
        }
        Ok(())
    }
}

async fn run_step(
    index: usize,
    n: usize,
    right: &Arc<[Arc<[u8]>]>,
    wrong: &Arc<[Arc<[u8]>]>,
    learnt: Option<&std::path::Path>,
) -> anyhow::Result<StepResult> {
    let mut setup = Setup::start(index, n, learnt).await?;
    let agent = &setup.agent;
    let agent_before = proc_stats::sample(agent.pid())?;
    let own_before = proc_stats::sample(std::process::id())?;
    let machine_before = proc_stats::machine()?;
    let peak = proc_stats::PeakRss::watch(agent.pid());
    let started = Instant::now();
    let mut calls = Vec::new();
    for (i, (line_id, mut line)) in std::mem::take(&mut setup.lines).into_iter().enumerate() {
        let at = tokio::time::Instant::now() + RAMP.mul_f64(i as f64 / n as f64);
        let plan = plan(index, i, i, right, wrong);
        calls.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            caller::call(format!("{line_id}.0"), plan, &mut line).await
        }));
    }
    let mut results = Vec::new();
    for c in calls {
        results.push(c.await?);
    }
    let wall = started.elapsed();
    let agent = &setup.agent;
    let agent_after = proc_stats::sample(agent.pid())?;
    let account = report_decision_stages(agent, n);
    setup.keep_log(&n.to_string())?;
    let own_after = proc_stats::sample(std::process::id())?;
    let machine_after = proc_stats::machine()?;
    setup.mux.abort();
    let agent_cores = proc_stats::cores_used(&agent_before, &agent_after);
    let generator_cores = proc_stats::cores_used(&own_before, &own_after);
    let (busy_cores, steal_cores) = proc_stats::machine_cores(&machine_before, &machine_after);
    let agent_cpu = agent_after.cpu.saturating_sub(agent_before.cpu);
    Ok(StepResult {
        n,
        agent_cores,
        agent_cpu_per_call: agent_cpu / n.max(1) as u32,
        agent_rss_mib: peak.finish() as f64 / 1024.0 / 1024.0,
        generator_cores,
        others_cores: (busy_cores - agent_cores - generator_cores).max(0.0),
        steal_cores,
        wall,
        results,
        account,
    })
}

/// What the agent's /metrics said of a step: what a recognizer turn cost
/// and why admission turned calls away.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct AgentAccount {
    /// Recognizer time per turn, ms; `None` without a turn.
    pub turn_ms: Option<f64>,
    pub refused_by_load: u64,
    pub refused_by_lag: u64,
    /// What the agent's admission takes a turn to cost at least, ms.
    pub floor_ms: Option<f64>,
}

/// The agent's own account of its decisions (its /metrics): where the time
/// went on average, and how many calls admission turned away (printed), and
/// what the report says of it.
fn report_decision_stages(agent: &Agent, n: usize) -> AgentAccount {
    let refused = |why: &str| {
        agent
            .metric(&format!("passgate_calls_refused_total{{why=\"{why}\"}}"))
            .unwrap_or(0.0)
    };
    let turns = agent
        .metric("passgate_recognizer_seconds_count")
        .unwrap_or(0.0);
    let turn_secs = agent
        .metric("passgate_recognizer_seconds_sum")
        .unwrap_or(0.0);
    let account = AgentAccount {
        turn_ms: (turns >= 1.0).then(|| turn_secs / turns * 1000.0),
        refused_by_load: refused("recognizer_load") as u64,
        refused_by_lag: refused("recognizer_lag") as u64,
        floor_ms: agent
            .metric("passgate_admission_turn_cost_floor_seconds")
            .filter(|s| *s > 0.0)
            .map(|s| s * 1000.0),
    };
    let count = agent
        .metric("passgate_decision_seconds_count")
        .unwrap_or(0.0);
    if count < 1.0 {
        return account;
    }
    let mut parts = Vec::new();
    for stage in [
        "end_pointing",
        "final_decode",
        "delivery",
        "check",
        "render",
        "pacer_start",
    ] {
        let sum = agent
            .metric(&format!(
                "passgate_decision_stage_seconds_total{{stage=\"{stage}\"}}"
            ))
            .unwrap_or(0.0);
        parts.push(format!("{stage} {:.0}", sum / count * 1000.0));
    }
    let total = agent.metric("passgate_decision_seconds_sum").unwrap_or(0.0);
    eprintln!(
        "P5: {n}: agent-side decision mean {:.0} ms over {count} ({} ms); recognizer {:.0} ms a turn over {turns} turns; shed {} (recognizer load {}, lag {})",
        total / count * 1000.0,
        parts.join(", "),
        turn_secs / turns.max(1.0) * 1000.0,
        agent.metric("passgate_calls_shed_total").unwrap_or(0.0),
        account.refused_by_load,
        account.refused_by_lag,
    );
    account
}

/// Why a step at `n` fell short of the goal, in the agent's own terms: the
/// calls admission turned away and why, what a recognizer turn cost against
/// the floor admission predicts with, the wrong decisions and the p95.
pub(super) fn what_bounds(
    n: usize,
    refused: usize,
    wrong: usize,
    p95: Option<Duration>,
    agent_cores: f64,
    account: &AgentAccount,
) -> String {
    let mut why = Vec::new();
    if refused > 0 {
        let floor = account
            .floor_ms
            .map_or("–".to_string(), |f| format!("{f:.0} ms"));
        let set = match Agent::setting("asr", "admit_min_turn_cost_ms") {
            Some(v) if v.parse::<f64>().is_ok_and(|v| v > 0.0) => {
                "`asr.admit_min_turn_cost_ms`".to_string()
            }
            _ => format!(
                "a turn measured at start times `asr.admit_crowding_factor` ({})",
                Agent::setting("asr", "admit_crowding_factor").unwrap_or("its default".into())
            ),
        };
        why.push(format!(
            "admission answered {refused} attempts 503 (over the whole step the agent counted {} \
             refusals by predicted recognizer load and {} by recognizer lag) with the agent at \
             {agent_cores:.2} of the machine's cores and the recognizer at {} a turn; the load \
             prediction takes a turn to cost at least {floor} ({set})",
            account.refused_by_load,
            account.refused_by_lag,
            account
                .turn_ms
                .map_or("–".to_string(), |t| format!("{t:.0} ms")),
        ));
    }
    if wrong > 0 {
        why.push(format!("{wrong} calls let in were decided wrong or failed"));
    }
    if let Some(p) = p95.filter(|p| *p > DECISION_P95_GOAL) {
        why.push(format!(
            "decision p95 {} ms, over {} ms",
            p.as_millis(),
            DECISION_P95_GOAL.as_millis()
        ));
    }
    if why.is_empty() {
        return String::new();
    }
    format!(
        "What held N = {n} back: {}. `bench/p5-perf.sh {n}` profiles the agent at that step.\n",
        why.join("; ")
    )
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("–".into(), |d| format!("{}", d.as_millis()))
}

fn section(steps: &[StepResult], held: &[held::HeldResult]) -> Section {
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            let d = s.decisions();
            vec![
                s.n.to_string(),
                format!(
                    "{}/{} ({:.1} %)",
                    s.right(),
                    s.n,
                    100.0 * s.right() as f64 / s.n as f64
                ),
                s.results
                    .iter()
                    .filter(|r| r.failure.as_deref() == Some(REFUSED))
                    .count()
                    .to_string(),
                ms(percentile(&d, 0.5)),
                ms(percentile(&d, 0.95)),
                format!("{:.1}", s.jitter_p99_us() as f64 / 1000.0),
                format!("{:.2}", s.agent_cores),
                format!("{}", s.agent_cpu_per_call.as_millis()),
                format!("{:.0}", s.agent_rss_mib),
                format!("{:.2}", s.generator_cores),
                format!("{:.2}", s.others_cores),
                format!("{:.2}", s.steal_cores),
                format!("{:.0}", s.wall.as_secs_f64()),
            ]
        })
        .collect();
    let best = steps.iter().filter(|s| s.meets_goal()).map(|s| s.n).max();
    let mut failures: HashMap<String, usize> = HashMap::new();
    let all = steps
        .iter()
        .map(|s| (s.n.to_string(), &s.results))
        .chain(held.iter().map(|s| (format!("{} held", s.n), &s.results)));
    for (step, results) in all {
        for r in results {
            if !right(r) && r.failure.as_deref() != Some(REFUSED) {
                let why = r.failure.clone().unwrap_or_else(|| {
                    format!("{}: ended {:?}, SMS {}", r.branch, r.auth, r.sms_received)
                });
                *failures.entry(format!("N={step}: {why}")).or_default() += 1;
            }
        }
    }
    let mut failure_lines: Vec<String> = failures
        .into_iter()
        .map(|(why, count)| format!("- {count} × {why}"))
        .collect();
    failure_lines.sort();
    let mut markdown = format!(
        "N callers start within {RAMP:?} and are all in their flow together for most of the \
         step; one in three per branch (known number + passphrase; wrong phrase then the SMS \
         code; unknown number typing the account's number + passphrase). A decision is right \
         when the call is referred verified with an SMS exactly on the wrong-phrase branch. \
         Decision = end of the caller's speech → first audio of the agent's next prompt \
         (end-pointing, recognition, the Argon2 check and the next prompt's rendering). \
         Jitter = |inter-arrival − 20 ms| of the agent's packets at the caller. CPU per call = \
         the agent's CPU over the step / N. Other processes' cores = the machine's busy time \
         (/proc/stat) less the agent's and the generator's; stolen cores = the time the \
         hypervisor gave other guests while this machine wanted to run. The steps run on one \
         node restarted between them: each starts from what admission learnt in the step \
         before (`asr.admit_learnt_file`); the first starts fresh.\n\n{}\n",
        table(
            &[
                "N",
                "right decisions",
                "refused (503)",
                "decision p50 ms",
                "decision p95 ms",
                "send jitter p99 ms",
                "agent cores",
                "agent CPU ms/call",
                "agent peak RSS MiB",
                "generator cores",
                "other processes' cores",
                "stolen cores",
                "step s",
            ],
            &rows
        )
    );
    markdown.push_str(&match best {
        Some(n) => format!(
            "\nHighest N with every decision right and decision p95 ≤ {} ms: **{n}**.\n",
            DECISION_P95_GOAL.as_millis()
        ),
        None => format!(
            "\nNo step had every decision right with decision p95 ≤ {} ms.\n",
            DECISION_P95_GOAL.as_millis()
        ),
    });
    let floors: Vec<String> = steps
        .iter()
        .filter_map(|s| s.account.floor_ms)
        .map(|f| format!("{f:.0}"))
        .collect();
    if !floors.is_empty() {
        markdown.push_str(&format!(
            "\nWhat admission took a recognizer turn to cost at least, step by step (ms; a \
             passphrase turn measured as the agent started, times `asr.admit_crowding_factor`, \
             unless `asr.admit_min_turn_cost_ms` fixes it): {}.\n",
            floors.join(", ")
        ));
    }
    let past_best = steps
        .iter()
        .filter(|s| !s.meets_goal() && best.is_none_or(|b| s.n > b))
        .min_by_key(|s| s.n);
    if let Some(s) = past_best {
        let wrong = s.n - s.right() - s.refused();
        markdown.push('\n');
        markdown.push_str(&what_bounds(
            s.n,
            s.refused(),
            wrong,
            percentile(&s.decisions(), 0.95),
            s.agent_cores,
            &s.account,
        ));
    }
    if !held.is_empty() {
        markdown.push('\n');
        markdown.push_str(&held::markdown(held));
    }
    if !failure_lines.is_empty() {
        markdown.push_str("\nWrong or failed calls:\n\n");
        markdown.push_str(&failure_lines.join("\n"));
        markdown.push('\n');
    }
    let point = |f: &dyn Fn(&StepResult) -> Option<f64>| -> Vec<(f64, f64)> {
        steps
            .iter()
            .filter_map(|s| Some((s.n as f64, f(s)?)))
            .collect()
    };
    let ms_of = |q: f64| {
        move |s: &StepResult| percentile(&s.decisions(), q).map(|d| d.as_secs_f64() * 1000.0)
    };
    let goal = steps
        .iter()
        .map(|s| (s.n as f64, DECISION_P95_GOAL.as_secs_f64() * 1000.0))
        .collect();
    Section {
        title: "P5 — the seed's flow at scale: callers authenticated at once".into(),
        markdown,
        charts: vec![Chart {
            title: "P5: passphrase decision after the end of speech".into(),
            x_label: "callers at once (N)".into(),
            y_label: "ms".into(),
            series: vec![
                ("p50".into(), point(&ms_of(0.5))),
                ("p95".into(), point(&ms_of(0.95))),
                ("goal (p95)".into(), goal),
            ],
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_that_met_the_goal_has_nothing_holding_it_back() {
        let account = AgentAccount::default();
        let p95 = Some(Duration::from_millis(320));
        assert_eq!(what_bounds(180, 0, 0, p95, 0.3, &account), "");
    }

    #[test]
    fn a_step_past_the_goal_names_each_reason_with_the_agents_counts() {
        let account = AgentAccount {
            turn_ms: Some(44.0),
            refused_by_load: 25,
            refused_by_lag: 0,
            floor_ms: Some(77.0),
        };
        let text = what_bounds(250, 25, 2, Some(Duration::from_millis(640)), 0.38, &account);
        assert!(text.starts_with("What held N = 250 back: admission answered 25 attempts 503"));
        assert!(text.contains("25 refusals by predicted recognizer load and 0 by recognizer lag"));
        assert!(text.contains("0.38 of the machine's cores"));
        assert!(text.contains("the recognizer at 44 ms a turn"));
        assert!(text.contains("takes a turn to cost at least 77 ms ("));
        assert!(text.contains("; 2 calls let in were decided wrong or failed"));
        assert!(text.contains("; decision p95 640 ms, over 500 ms"));
        assert!(text.contains("`bench/p5-perf.sh 250`"));
    }
}
