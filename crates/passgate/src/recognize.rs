//! `passgate recognize FILE.wav`: streams a recording through the same path a
//! call's audio takes (20 ms G.711 µ-law RTP packets through the media
//! receive path, `--loss` of them lost, its frames at the model's rate into a
//! recognizer session listening as the passphrase step does) and prints what was heard,
//! each alternative with its score. With `--passphrase`, also the decision a
//! call would make for an account with that phrase. Operators use it to
//! check that a model, a vocabulary and `[passphrase]` hear their customers'
//! passphrases and turn near misses away.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use asr::{Recognizer, RecognizerConfig, SpeechModel, Vocabulary};
use auth::passphrase::{
    Decision, HashCost, MatchRule, NormalisedPhrase, PassphraseHasher, Verdict, WordSpan,
};

use crate::call_audio::{through_a_call, Loss};
use crate::config::Config;

/// The rate of a G.711 call's audio.
const CALL_RATE: u32 = 8000;

pub struct Request<'a> {
    pub model: &'a Path,
    pub vocabulary: Option<&'a PathBuf>,
    pub config: &'a Config,
    pub passphrase: Option<&'a str>,
    pub input: Input<'a>,
}

/// What to recognize.
pub enum Input<'a> {
    /// One recording, through a call with this loss.
    File { wav: &'a Path, loss: Loss },
    /// Recordings named on standard input, one a line as `LOSS SEED FILE`,
    /// each reported as a single file is and followed by a line `end.`, with
    /// the model loaded once for all of them (benchmarks judge hundreds).
    Batch,
}

/// What stays the same from one recording to the next.
struct Listener {
    recognizer: Recognizer,
    options: asr::ListenOptions,
    vocabulary: Option<Vocabulary>,
    /// The vocabulary and its decoys.
    listened: Option<Vocabulary>,
    filler_words: Option<usize>,
    /// The decoder settings in place of the model's own.
    decoder: asr::DecoderOptions,
    stored: Option<auth::passphrase::StoredPassphrase>,
    load_time: std::time::Duration,
    rate: u32,
}

/// The longest recording judged: the audio a session may have waiting,
/// since a file's frames all arrive at once.
const FILE_BACKLOG: std::time::Duration = std::time::Duration::from_secs(600);

pub fn run(request: &Request<'_>) -> anyhow::Result<()> {
    let listener = Listener::new(request)?;
    match &request.input {
        Input::File { wav, loss } => listener.judge(wav, *loss, &request.config.passphrase),
        Input::Batch => {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                let line = line.context("reading standard input")?;
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                let (wav, loss) = batch_line(line)?;
                listener.judge(&wav, loss, &request.config.passphrase)?;
                println!("end.");
                std::io::stdout()
                    .flush()
                    .context("writing standard output")?;
            }
            Ok(())
        }
    }
}

/// `LOSS SEED FILE`.
fn batch_line(line: &str) -> anyhow::Result<(PathBuf, Loss)> {
    let mut parts = line.splitn(3, ' ');
    let (Some(percent), Some(seed), Some(file)) = (parts.next(), parts.next(), parts.next()) else {
        anyhow::bail!("a batch line is `LOSS SEED FILE`, not {line:?}");
    };
    let percent = crate::loss_percent(percent).map_err(anyhow::Error::msg)?;
    let seed = seed
        .parse()
        .with_context(|| format!("seed {seed:?} in {line:?}"))?;
    Ok((PathBuf::from(file), Loss { percent, seed }))
}

impl Listener {
    fn new(request: &Request<'_>) -> anyhow::Result<Listener> {
        // Hashed first: a phrase that cannot be stored is an error before the
        // model loads.
        let stored = request
            .passphrase
            .map(|phrase| PassphraseHasher::new(HashCost::default())?.hash(phrase))
            .transpose()
            .context("--passphrase")?;
        let loaded = Instant::now();
        let decoder = request.config.asr.decoder();
        let model = SpeechModel::load_with(request.model, &decoder)?;
        let load_time = loaded.elapsed();
        let vocabulary = request
            .vocabulary
            .map(|p| Vocabulary::from_file(p))
            .transpose()?;
        // The passphrase turn listens for the vocabulary and its decoys.
        let listened = vocabulary
            .clone()
            .map(|v| {
                crate::filler::passphrase_vocabulary(request.model, v, &request.config.asr.decoys)
            })
            .transpose()?;
        let rate = model.sample_rate();
        let filler = match &listened {
            Some(v) => {
                crate::filler::passphrase_filler(request.model, v, &request.config.asr.filler)?
            }
            None => None,
        };
        let filler_words = filler.as_ref().map(|f| f.grammar().words().len());
        let recognizer = Recognizer::new(
            model,
            RecognizerConfig {
                workers: 1,
                max_sessions: 1,
                // A file's frames are pushed at once, not as a call's
                // arrive: the whole of it may wait for the worker.
                max_backlog: FILE_BACKLOG,
                ..Default::default()
            },
        );
        let recognizer = match filler {
            Some(filler) => recognizer.with_filler(filler),
            None => recognizer,
        };
        // The passphrase step's turn, with the words expected when the
        // phrase is known.
        let options = asr::ListenOptions {
            recording: true,
            ..crate::turn_cost::passphrase_turn(
                request.config,
                listened.clone(),
                request
                    .passphrase
                    .map(|p| NormalisedPhrase::new(p).word_count()),
            )
        };
        Ok(Listener {
            recognizer,
            options,
            vocabulary,
            listened,
            filler_words,
            decoder,
            stored,
            load_time,
            rate,
        })
    }

    fn judge(&self, wav: &Path, loss: Loss, rule: &MatchRule) -> anyhow::Result<()> {
        let file =
            std::fs::File::open(wav).with_context(|| format!("opening {}", wav.display()))?;
        let pcm = media::load_wav(std::io::BufReader::new(file), CALL_RATE)
            .with_context(|| format!("reading {}", wav.display()))?;
        let heard = through_a_call(&pcm, loss, self.rate)?;
        let recognizer = &self.recognizer;
        let mut session = recognizer.start(&self.options)?;
        let started = Instant::now();
        for frame in &heard.frames {
            if recognizer.push(&session, frame).is_err() {
                break;
            }
        }
        recognizer.finish(&session);
        let transcript = session
            .wait_final()
            .context("the recognizer stopped without a result")?;
        let wall = started.elapsed();
        let audio_secs = pcm.len() as f64 / f64::from(CALL_RATE);
        println!("file:       {} ({audio_secs:.2} s)", wav.display());
        println!(
            "packets:    {} sent, {} lost ({:.1} % asked, seed {})",
            heard.sent, heard.dropped, loss.percent, loss.seed
        );
        println!(
            "mode:       {}",
            match (&self.vocabulary, &self.listened) {
                (Some(v), Some(l)) => {
                    let decoys = l.words().len().saturating_sub(v.words().len());
                    let filler = self
                        .filler_words
                        .map(|n| format!(", filler of {n} words"))
                        .unwrap_or_default();
                    format!(
                        "vocabulary of {} words and {decoys} decoys{filler}",
                        v.words().len()
                    )
                }
                _ => "full vocabulary".to_string(),
            }
        );
        println!(
            "decoder:    lattice beam {}, {} alternatives",
            self.decoder
                .lattice_beam
                .map_or("of the model".to_string(), |b| b.to_string()),
            self.options.max_alternatives
        );
        println!("end:        {:?}", transcript.reason);
        println!(
            "nuclei:     {} at {}",
            transcript.nuclei.len(),
            transcript
                .nuclei
                .iter()
                .map(|t| format!("{t:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        if transcript.alternatives.is_empty() {
            println!("heard:      (nothing)");
        }
        let decision = self
            .stored
            .as_ref()
            .map(|stored| {
                stored.decide_heard(
                    transcript
                        .alternatives
                        .iter()
                        .map(|a| (a.text.as_str(), a.confidence, word_spans(&a.words))),
                    &transcript.nuclei,
                    rule,
                )
            })
            .transpose()?;
        for (i, alt) in transcript.alternatives.iter().enumerate() {
            let verdict = decision
                .as_ref()
                .and_then(|d| d.alternatives.get(i))
                .map(|c| {
                    // Set aside before anything is weighed: how far below
                    // the best it scored, and its cost, mean nothing (the
                    // best is among those weighed, and may be none).
                    if c.verdict == Verdict::Unheard {
                        return format!("   [{}]", verdict_text(c.verdict));
                    }
                    let timing = c
                        .timing
                        .map(|t| {
                            format!(
                                ", run gap {:.2} s, slowest {:.2} s/syllable, stretch {:.2}",
                                t.gap, t.syllable_time, t.stretch
                            )
                        })
                        .unwrap_or_default();
                    let nuclei = c
                        .nuclei
                        .zip(c.timing)
                        .map(|(n, t)| format!(", {n} nuclei for {} syllables", t.syllables))
                        .unwrap_or_default();
                    format!(
                        "   [{:.2} below best, {} extra, cost {:.2}{timing}{nuclei}: {}]",
                        c.below_best,
                        c.extra_words,
                        c.cost,
                        verdict_text(c.verdict)
                    )
                })
                .unwrap_or_default();
            println!(
                "{:>2}. {:>7.2}  {}{verdict}{}",
                i + 1,
                alt.confidence,
                alt.text,
                if alt.filler { "   (filler)" } else { "" }
            );
            if !alt.words.is_empty() {
                println!("    words: {}", word_timings(&alt.words));
            }
        }
        if let Some(decision) = &decision {
            // The flow hears silence when no alternative has a word.
            let heard = transcript
                .alternatives
                .iter()
                .any(|a| !NormalisedPhrase::new(&a.text).is_empty());
            print_decision(heard, decision, rule);
        }
        println!(
            "time:       model load {:.2} s, recognition {:.3} s ({:.1}x real time)",
            self.load_time.as_secs_f64(),
            wall.as_secs_f64(),
            audio_secs / wall.as_secs_f64().max(1e-9)
        );
        Ok(())
    }
}

/// "하얀 0.93-1.41, 말 1.50-1.80": each word with its start and end in
/// seconds.
fn word_timings(words: &[asr::WordTiming]) -> String {
    words
        .iter()
        .map(|w| format!("{} {:.2}-{:.2}", w.word, w.start, w.end))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The spans of an alternative's words, for the decision's timing checks.
pub fn word_spans(words: &[asr::WordTiming]) -> Vec<WordSpan> {
    words
        .iter()
        .map(|w| WordSpan {
            start: w.start,
            end: w.end,
        })
        .collect()
}

fn verdict_text(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Match => "match",
        Verdict::NoMatch => "no match",
        Verdict::NotCounted => "not counted",
        Verdict::NotChecked => "not checked",
        Verdict::WordsInside => {
            "words inside the phrase, above the match or within inside_lead: rejects"
        }
        Verdict::Rival => "a rival within min_lead: rejects",
        Verdict::Stretched => "the phrase's words apart or drawn out: rejects",
        Verdict::Unheard => "more syllables than were heard: set aside",
        Verdict::ExtraSyllables => {
            "more syllables heard within the phrase than its words have: rejects"
        }
    }
}

fn print_decision(heard: bool, decision: &Decision, rule: &MatchRule) {
    if decision.merged {
        println!("merged:     the verdicts above are of the alternatives with repeated words counted once");
    }
    println!(
        "decision:   {} (margin {:.2}, extra word cost {:.2} before the phrase and {:.2} after, at most {} extra words{}{}{}{}{})",
        if !heard {
            "silence (falls back to the code)"
        } else if decision.accepted {
            "accepted"
        } else {
            "rejected (falls back to the code)"
        },
        rule.margin,
        rule.extra_word_cost,
        rule.trailing_word_cost,
        rule.max_extra_words,
        if rule.reject_words_inside {
            ", words inside reject"
        } else {
            ""
        },
        if rule.min_lead > 0.0 {
            format!(", min lead {:.2}", rule.min_lead)
        } else {
            String::new()
        },
        if rule.inside_lead > 0.0 {
            format!(", inside lead {:.2}", rule.inside_lead)
        } else {
            String::new()
        },
        timing_text(rule),
        if rule.merge_repeated_words {
            format!(", repeats within {:.2} s merged", rule.repeat_max_gap)
        } else {
            String::new()
        }
    );
}

/// The timing checks that are on, for the decision line.
fn timing_text(rule: &MatchRule) -> String {
    let mut checks = Vec::new();
    if rule.max_gap > 0.0 {
        checks.push(format!("max gap {:.2} s", rule.max_gap));
    }
    if rule.max_syllable_time > 0.0 {
        checks.push(format!("max {:.2} s per syllable", rule.max_syllable_time));
    }
    if rule.max_stretch > 0.0 {
        checks.push(format!("max stretch {:.2}", rule.max_stretch));
    }
    if rule.count_syllables {
        checks.push(format!(
            "at most {} extra syllables within {:.2} s",
            rule.max_extra_syllables, rule.syllable_slack
        ));
        if rule.set_aside_unheard {
            checks.push(format!(
                "alternatives with more than {} syllables beyond those heard set aside",
                rule.max_unheard_syllables
            ));
            if rule.best_with_word_inside_rejects {
                checks.push("the best set aside with another word inside rejects".to_string());
            }
        }
    }
    checks.iter().map(|c| format!(", {c}")).collect()
}
