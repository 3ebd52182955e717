//! `passgate recognize FILE.wav`: streams a recording through the same path a
//! call's audio takes (20 ms G.711 µ-law RTP packets through the media
//! receive path, `--loss` of them lost, its frames at the model's rate into a
//! recognizer session listening as the passphrase step does) and prints what was heard,
//! each alternative with its score. With `--passphrase`, also the decision a
//! call would make for an account with that phrase. Operators use it to
//! check that a model, a vocabulary and `[passphrase]` hear their customers'
//! passphrases and turn near misses away.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use asr::{Recognizer, RecognizerConfig, SpeechModel, Vocabulary};
use auth::passphrase::{
    Decision, HashCost, MatchRule, NormalisedPhrase, PassphraseHasher, Verdict,
};

use crate::call_audio::{through_a_call, Loss};
use crate::config::Config;

/// The rate of a G.711 call's audio.
const CALL_RATE: u32 = 8000;

pub struct Request<'a> {
    pub model: &'a Path,
    pub vocabulary: Option<&'a PathBuf>,
    pub wav: &'a Path,
    pub config: &'a Config,
    pub passphrase: Option<&'a str>,
    pub loss: Loss,
}

pub fn run(request: &Request<'_>) -> anyhow::Result<()> {
    // Hashed first: a phrase that cannot be stored is an error before the
    // model loads.
    let stored = request
        .passphrase
        .map(|phrase| PassphraseHasher::new(HashCost::default())?.hash(phrase))
        .transpose()
        .context("--passphrase")?;
    let loaded = Instant::now();
    let model = SpeechModel::load(request.model)?;
    let load_time = loaded.elapsed();
    let vocabulary = request
        .vocabulary
        .map(|p| Vocabulary::from_file(p))
        .transpose()?;
    let wav = request.wav;
    let file = std::fs::File::open(wav).with_context(|| format!("opening {}", wav.display()))?;
    let rate = model.sample_rate();
    let pcm = media::load_wav(std::io::BufReader::new(file), CALL_RATE)
        .with_context(|| format!("reading {}", wav.display()))?;
    let heard = through_a_call(&pcm, request.loss, rate)?;
    let filler = match &vocabulary {
        Some(v) => crate::filler::passphrase_filler(request.model, v, &request.config.asr.filler)?,
        None => None,
    };
    let filler_words = filler.as_ref().map(|f| f.grammar().words().len());
    let recognizer = Recognizer::new(
        model,
        RecognizerConfig {
            workers: 1,
            max_sessions: 1,
            ..Default::default()
        },
    );
    let recognizer = match filler {
        Some(filler) => recognizer.with_filler(filler),
        None => recognizer,
    };
    // The passphrase step's turn: [asr.listen], its window, and the words
    // expected when the phrase is known.
    let step = &request.config.flow.passphrase;
    let mut options = request.config.asr.listen.options();
    options.vocabulary = vocabulary.clone();
    options.expected_words = request
        .passphrase
        .map(|p| NormalisedPhrase::new(p).word_count());
    options.endpointer.no_speech_timeout = step.listen_timeout;
    options.endpointer.max_duration = step.listen_timeout + step.max_answer;
    let mut session = recognizer.start(&options)?;
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
        heard.sent, heard.dropped, request.loss.percent, request.loss.seed
    );
    println!(
        "mode:       {}",
        match &vocabulary {
            Some(v) => match filler_words {
                Some(n) => format!(
                    "vocabulary of {} words, filler of {n} words",
                    v.words().len()
                ),
                None => format!("vocabulary of {} words", v.words().len()),
            },
            None => "full vocabulary".to_string(),
        }
    );
    println!("end:        {:?}", transcript.reason);
    if transcript.alternatives.is_empty() {
        println!("heard:      (nothing)");
    }
    let rule = &request.config.passphrase;
    let decision = stored
        .map(|stored| {
            stored.decide(
                transcript
                    .alternatives
                    .iter()
                    .map(|a| (a.text.as_str(), a.confidence)),
                rule,
            )
        })
        .transpose()?;
    for (i, alt) in transcript.alternatives.iter().enumerate() {
        let verdict = decision
            .as_ref()
            .and_then(|d| d.alternatives.get(i))
            .map(|c| {
                let cost = c.below_best + c.extra_words as f32 * rule.extra_word_cost;
                format!(
                    "   [{:.2} below best, {} extra, cost {cost:.2}: {}]",
                    c.below_best,
                    c.extra_words,
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
        load_time.as_secs_f64(),
        wall.as_secs_f64(),
        audio_secs / wall.as_secs_f64().max(1e-9)
    );
    Ok(())
}

fn verdict_text(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Match => "match",
        Verdict::NoMatch => "no match",
        Verdict::NotCounted => "not counted",
        Verdict::NotChecked => "not checked",
        Verdict::WordsInside => "words inside the phrase: rejects",
    }
}

fn print_decision(heard: bool, decision: &Decision, rule: &MatchRule) {
    println!(
        "decision:   {} (margin {:.2}, extra word cost {:.2}, at most {} extra words{})",
        if !heard {
            "silence (falls back to the code)"
        } else if decision.accepted {
            "accepted"
        } else {
            "rejected (falls back to the code)"
        },
        rule.margin,
        rule.extra_word_cost,
        rule.max_extra_words,
        if rule.reject_words_inside {
            ", words inside reject"
        } else {
            ""
        }
    );
}
