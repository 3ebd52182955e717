//! `passgate recognize FILE.wav`: streams a recording through the same path a
//! call's audio takes (20 ms frames at the model's rate into a recognizer
//! session) and prints what was heard. Operators use it to check that a model
//! and a vocabulary hear their customers' passphrases.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use asr::{ListenOptions, Recognizer, RecognizerConfig, SpeechModel, Vocabulary};

/// Frame length a call delivers: 20 ms.
const FRAME_MS: usize = 20;

pub fn run(model: &Path, vocabulary: Option<&PathBuf>, wav: &Path) -> anyhow::Result<()> {
    let loaded = Instant::now();
    let model = SpeechModel::load(model)?;
    let load_time = loaded.elapsed();
    let vocabulary = vocabulary.map(|p| Vocabulary::from_file(p)).transpose()?;
    let file = std::fs::File::open(wav).with_context(|| format!("opening {}", wav.display()))?;
    let rate = model.sample_rate();
    let pcm = media::load_wav(std::io::BufReader::new(file), rate)
        .with_context(|| format!("reading {}", wav.display()))?;
    let recognizer = Recognizer::new(
        model,
        RecognizerConfig {
            workers: 1,
            max_sessions: 1,
            ..Default::default()
        },
    );
    let options = ListenOptions {
        vocabulary: vocabulary.clone(),
        max_alternatives: 5,
        ..Default::default()
    };
    let mut session = recognizer.start(&options)?;
    let started = Instant::now();
    let frame = rate as usize * FRAME_MS / 1000;
    for chunk in pcm.chunks(frame) {
        if recognizer.push(&session, chunk).is_err() {
            break;
        }
    }
    recognizer.finish(&session);
    let transcript = session
        .wait_final()
        .context("the recognizer stopped without a result")?;
    let wall = started.elapsed();
    let audio_secs = pcm.len() as f64 / f64::from(rate);
    println!("file:       {} ({audio_secs:.2} s)", wav.display());
    println!(
        "mode:       {}",
        match &vocabulary {
            Some(v) => format!("vocabulary of {} words", v.words().len()),
            None => "full vocabulary".to_string(),
        }
    );
    println!("end:        {:?}", transcript.reason);
    if transcript.alternatives.is_empty() {
        println!("heard:      (nothing)");
    }
    for (i, alt) in transcript.alternatives.iter().enumerate() {
        println!("{:>2}. {:>7.2}  {}", i + 1, alt.confidence, alt.text);
    }
    println!(
        "time:       model load {:.2} s, recognition {:.3} s ({:.1}x real time)",
        load_time.as_secs_f64(),
        wall.as_secs_f64(),
        audio_secs / wall.as_secs_f64().max(1e-9)
    );
    Ok(())
}
