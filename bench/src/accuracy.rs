//! Accuracy: does the passphrase decision accept the account holder and turn
//! impostors away, in a call with lost packets? Every clip is spoken by an
//! espeak-ng Korean voice, preceded by 0.5-2 s of silence and mixed with
//! background noise, and judged by `passgate recognize --passphrase --loss
//! --seed`: 8 kHz G.711 µ-law RTP packets of 20 ms through the media crate's
//! receive path (jitter buffer, decode, concealment, resampling) into the
//! recognizer and the decision under the shipped `[passphrase]` rule of
//! config/passgate.toml, so what this measures is what a call decides.
//!
//! Two disjoint sets of voices: TUNING (the voices the operating point was
//! chosen on, bench/passphrase_tuning.py) and REPORTING (never used to
//! choose anything). Both are reported; the goals are judged on REPORTING.
//!
//! Writes bench/results/accuracy.md on its own, so it can run alone:
//! `passgate-bench accuracy`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context};

use crate::report::Section;

/// The demo account's passphrase (config/vocabulary-ko.txt's first two words).
const PASSPHRASE: &str = "하얀 말";

/// Near misses: what an impostor who half-knows the phrase, or a caller
/// who misspeaks, says.
const IMPOSTORS: &[(&str, &str)] = &[
    ("파란 말", "one word changed"),
    ("하얀 소", "one word changed"),
    ("하얀 예쁜 말", "a word inserted"),
    ("하얀 작은 말", "a word inserted"),
    ("말 하얀", "words swapped"),
    ("하얀 고양이 검은 말", "the words inside a longer phrase"),
];
/// Takes of the true phrase per voice and speed, each with its own silence,
/// noise and lost packets.
const TRUE_TAKES: usize = 2;

/// The voices bench/passphrase_tuning.py chose `[passphrase]` on.
const TUNING_VOICES: &[&str] = &["ko", "ko+f2", "ko+m3"];
/// Never used to choose: the rates the goals are judged on.
const REPORTING_VOICES: &[&str] = &["ko+f1", "ko+f4", "ko+m1", "ko+m5", "ko+m7"];
/// Words a minute: slow, espeak-ng's default, brisk.
const SPEEDS: &[u32] = &[130, 175, 210];
const LOSSES: &[f64] = &[0.0, 5.0, 10.0];
/// Clips judged at once: the recognizer is single-threaded per process.
const WORKERS: usize = 2;

const GOAL_TA_CLEAN: f64 = 98.0;
const GOAL_FA_CLEAN: f64 = 1.0;
const GOAL_TA_LOSSY: f64 = 95.0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Set {
    Tuning,
    Reporting,
}

impl Set {
    fn name(self) -> &'static str {
        match self {
            Set::Tuning => "TUNING",
            Set::Reporting => "REPORTING",
        }
    }
}

struct Clip {
    set: Set,
    voice: &'static str,
    speed: u32,
    text: &'static str,
    /// `None` for the true passphrase; the kind of near miss otherwise.
    impostor: Option<&'static str>,
    wav: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Rejected,
    Silence,
}

struct Judged {
    clip: usize,
    loss: f64,
    outcome: Outcome,
    top: String,
}

pub fn run(opts: &crate::Options) -> anyhow::Result<Section> {
    let began = Instant::now();
    let root = crate::agent::workspace();
    let binary = std::env::var_os("BENCH_AGENT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/passgate"));
    if !binary.exists() {
        bail!(
            "{} is missing: run `cargo build --release -p passgate`",
            binary.display()
        );
    }
    let dir = tempfile::tempdir()?;
    let clips = synthesise(dir.path(), opts.quick)?;
    eprintln!(
        "accuracy: {} clips synthesised, {} judgements to make",
        clips.len(),
        clips.len() * LOSSES.len()
    );
    let jobs: Vec<(usize, f64)> = LOSSES
        .iter()
        .flat_map(|&loss| (0..clips.len()).map(move |c| (c, loss)))
        .collect();
    let next = AtomicUsize::new(0);
    let judged = Mutex::new(Vec::new());
    let rule = Mutex::new(None);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(c, loss)) = jobs.get(i) else {
                            return Ok(());
                        };
                        let clip = &clips[c];
                        let seed = (i as u64) * 7919 + 17;
                        let (outcome, top, used) = judge(&binary, &root, &clip.wav, loss, seed)?;
                        let wrong = (outcome == Outcome::Accepted) == clip.impostor.is_some();
                        eprintln!(
                            "accuracy: {}/{} {} {}/{} loss {loss}% {} -> {}{}",
                            i + 1,
                            jobs.len(),
                            clip.set.name(),
                            clip.voice,
                            clip.speed,
                            if clip.impostor.is_some() {
                                "impostor"
                            } else {
                                "true"
                            },
                            outcome_name(outcome),
                            if wrong { " (WRONG)" } else { "" }
                        );
                        if let Ok(mut r) = rule.lock() {
                            r.get_or_insert(used);
                        }
                        if let Ok(mut j) = judged.lock() {
                            j.push(Judged {
                                clip: c,
                                loss,
                                outcome,
                                top,
                            });
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            match w.join() {
                Ok(result) => result?,
                Err(_) => bail!("an accuracy worker panicked"),
            }
        }
        Ok(())
    })?;
    let judged = judged.into_inner().unwrap_or_default();
    let rule = rule.into_inner().ok().flatten().unwrap_or_default();
    let md = report(&clips, &judged, &rule, began.elapsed().as_secs_f64());
    let started = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let file = opts.out.join("accuracy.md");
    std::fs::write(
        &file,
        format!(
            "# Passphrase accuracy\n\nRun {started} on {}.\n\n{md}",
            crate::report::machine()
        ),
    )
    .with_context(|| format!("writing {}", file.display()))?;
    eprintln!("accuracy: {}", file.display());
    Ok(Section {
        title: "Accuracy: passphrase decisions in lossy calls".into(),
        markdown: md,
        charts: Vec::new(),
    })
}

/// Every clip once, as 16-bit 8 kHz WAV: speech after leading silence, with
/// pink or brown noise about 25 dB below it throughout.
fn synthesise(dir: &Path, quick: bool) -> anyhow::Result<Vec<Clip>> {
    let mut said: Vec<(&'static str, Option<&'static str>)> = vec![(PASSPHRASE, None); TRUE_TAKES];
    said.extend(IMPOSTORS.iter().map(|&(t, k)| (t, Some(k))));
    let sets = [
        (Set::Tuning, TUNING_VOICES),
        (Set::Reporting, REPORTING_VOICES),
    ];
    let mut clips = Vec::new();
    for (set, voices) in sets {
        let voices = if quick { &voices[..1] } else { voices };
        for &voice in voices {
            for &speed in SPEEDS {
                for &(text, impostor) in &said {
                    let n = clips.len();
                    let wav = dir.join(format!("clip{n}.wav"));
                    // Spread over 0.5-2 s and the two noises by clip number.
                    let lead = 0.5 + (n * 37 % 16) as f64 * 0.1;
                    let noise = if n % 2 == 0 {
                        ("pinknoise", 0.03)
                    } else {
                        ("brownnoise", 0.01)
                    };
                    speak(dir, text, voice, speed, lead, noise, &wav)?;
                    clips.push(Clip {
                        set,
                        voice,
                        speed,
                        text,
                        impostor,
                        wav,
                    });
                }
            }
        }
        eprintln!("accuracy: {} voices synthesised", set.name());
    }
    Ok(clips)
}

fn speak(
    dir: &Path,
    text: &str,
    voice: &str,
    speed: u32,
    lead: f64,
    (noise, volume): (&str, f64),
    wav: &Path,
) -> anyhow::Result<()> {
    let raw = dir.join("raw.wav");
    let padded = dir.join("padded.wav");
    let hiss = dir.join("noise.wav");
    run_tool(
        Command::new("espeak-ng")
            .args(["-v", voice, "-s", &speed.to_string(), "-w"])
            .arg(&raw)
            .arg(text),
    )?;
    run_tool(
        Command::new("sox")
            .arg(&raw)
            .args(["-r", "8000", "-c", "1", "-b", "16"])
            .arg(&padded)
            .args(["pad", &format!("{lead:.1}"), "1"]),
    )?;
    let seconds = hound::WavReader::open(&padded)?.duration() as f64 / 8000.0;
    run_tool(
        Command::new("sox")
            .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
            .arg(&hiss)
            .args(["synth", &format!("{seconds:.3}"), noise])
            .args(["vol", &volume.to_string()]),
    )?;
    run_tool(
        Command::new("sox")
            .args(["-m", "-v", "1"])
            .arg(&padded)
            .args(["-v", "1"])
            .arg(&hiss)
            .arg(wav),
    )
}

fn run_tool(command: &mut Command) -> anyhow::Result<()> {
    let out = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !out.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The call's decision for one clip at one loss rate, the top alternative,
/// and the rule it was made under.
fn judge(
    binary: &Path,
    root: &Path,
    wav: &Path,
    loss: f64,
    seed: u64,
) -> anyhow::Result<(Outcome, String, String)> {
    let out = Command::new(binary)
        .current_dir(root)
        .args(["recognize", "--passphrase", PASSPHRASE])
        .args(["--loss", &loss.to_string(), "--seed", &seed.to_string()])
        .arg(wav)
        .output()
        .context("running passgate recognize")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "passgate recognize failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let decision = stdout
        .lines()
        .find_map(|l| l.strip_prefix("decision:"))
        .map(str::trim)
        .with_context(|| format!("no decision in {stdout}"))?;
    let outcome = if decision.starts_with("accepted") {
        Outcome::Accepted
    } else if decision.starts_with("silence") {
        Outcome::Silence
    } else {
        Outcome::Rejected
    };
    let rule = decision
        .split_once('(')
        .and_then(|(_, r)| r.rsplit_once(')'))
        .map(|(r, _)| r.to_string())
        .unwrap_or_default();
    let top = stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("1."))
        .map(|l| {
            let l = l.trim();
            // "score  words   [verdict]": the words only.
            let words = l.split_once(char::is_whitespace).map_or("", |(_, w)| w);
            words.split("   [").next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_default();
    Ok((outcome, top, rule))
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Accepted => "accepted",
        Outcome::Rejected => "rejected",
        Outcome::Silence => "silence",
    }
}

fn rate(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

fn report(clips: &[Clip], judged: &[Judged], rule: &str, secs: f64) -> String {
    let mut md = String::new();
    md.push_str(&format!(
        "True passphrase \"{PASSPHRASE}\" ({TRUE_TAKES} takes per voice and speed) and \
         {} near-miss impostors, spoken by espeak-ng at {:?} words/min, 0.5-2 s of \
         leading silence, pink or brown noise about 25 dB below the speech; \
         judged by `passgate recognize --passphrase --loss L --seed S`: 20 ms \
         G.711 µ-law packets, each lost with probability L, through the media \
         receive path (jitter buffer, decode, concealment, resampling) into the \
         recognizer (vocabulary mode, config/vocabulary-ko.txt) and the \
         `[passphrase]` decision of config/passgate.toml.\n\n\
         - TUNING voices (the operating point was chosen on these, \
         bench/passphrase_tuning.py): {}\n\
         - REPORTING voices (never used to choose): {}\n\
         - Operating point in use: {rule}\n\n",
        IMPOSTORS.len(),
        SPEEDS,
        TUNING_VOICES.join(", "),
        REPORTING_VOICES.join(", "),
    ));
    md.push_str(
        "| set | loss | true accept | false accept | true heard as silence | goal |\n\
         |---|---|---|---|---|---|\n",
    );
    for set in [Set::Reporting, Set::Tuning] {
        for &loss in LOSSES {
            let of = |want_true: bool| -> Vec<&Judged> {
                judged
                    .iter()
                    .filter(|j| {
                        let c = &clips[j.clip];
                        j.loss == loss && c.set == set && c.impostor.is_none() == want_true
                    })
                    .collect()
            };
            let trues = of(true);
            let imps = of(false);
            let ta = trues
                .iter()
                .filter(|j| j.outcome == Outcome::Accepted)
                .count();
            let silent = trues
                .iter()
                .filter(|j| j.outcome == Outcome::Silence)
                .count();
            let fa = imps
                .iter()
                .filter(|j| j.outcome == Outcome::Accepted)
                .count();
            let (ta_rate, fa_rate) = (rate(ta, trues.len()), rate(fa, imps.len()));
            let goal = match loss {
                0.0 => format!(
                    "TA ≥ {GOAL_TA_CLEAN} %, FA ≤ {GOAL_FA_CLEAN} %: {}",
                    pass(ta_rate >= GOAL_TA_CLEAN && fa_rate <= GOAL_FA_CLEAN)
                ),
                10.0 => {
                    format!("TA ≥ {GOAL_TA_LOSSY} %: {}", pass(ta_rate >= GOAL_TA_LOSSY))
                }
                _ => String::new(),
            };
            md.push_str(&format!(
                "| {} | {loss} % | {ta}/{} ({ta_rate:.1} %) | {fa}/{} ({fa_rate:.1} %) | {silent} | {goal} |\n",
                set.name(),
                trues.len(),
                imps.len(),
            ));
        }
    }
    md.push_str("\nFalse accepts by kind of near miss (both sets, all loss levels):\n\n");
    md.push_str("| impostor | kind | false accepts |\n|---|---|---|\n");
    for &(text, kind) in IMPOSTORS {
        let all: Vec<_> = judged
            .iter()
            .filter(|j| clips[j.clip].text == text && clips[j.clip].impostor.is_some())
            .collect();
        let fa = all
            .iter()
            .filter(|j| j.outcome == Outcome::Accepted)
            .count();
        md.push_str(&format!("| {text} | {kind} | {fa}/{} |\n", all.len()));
    }
    let mut wrong: Vec<&Judged> = judged
        .iter()
        .filter(|j| (j.outcome == Outcome::Accepted) == clips[j.clip].impostor.is_some())
        .collect();
    wrong.sort_by_key(|j| (j.clip, j.loss as u32));
    md.push_str("\nWrong decisions (what was said, what the top alternative heard):\n\n");
    if wrong.is_empty() {
        md.push_str("none\n");
    } else {
        md.push_str("| set | voice | speed | loss | said | decision | top alternative |\n");
        md.push_str("|---|---|---|---|---|---|---|\n");
        for j in wrong {
            let c = &clips[j.clip];
            md.push_str(&format!(
                "| {} | {} | {} | {} % | {} | {} | {} |\n",
                c.set.name(),
                c.voice,
                c.speed,
                j.loss,
                c.text,
                outcome_name(j.outcome),
                if j.top.is_empty() {
                    "(nothing)"
                } else {
                    &j.top
                }
            ));
        }
    }
    md.push_str(&format!(
        "\n{} judgements with {WORKERS} at a time took {secs:.0} s.\n",
        judged.len()
    ));
    md
}

fn pass(ok: bool) -> &'static str {
    if ok {
        "pass"
    } else {
        "**FAIL**"
    }
}
