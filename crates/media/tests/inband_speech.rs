//! The in-band DTMF detector against real synthesised speech (espeak-ng, installed by
//! `scripts/ensure-deps.sh`), sent through 8 kHz µ-law as a trunk would carry it.

use std::f32::consts::PI;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use media::{resample_clip, InbandConfig, InbandDetector, G711};

fn espeak(voice: &str, speed: u32, text: &str) -> Vec<i16> {
    // Tests run in parallel threads of one process: each call needs its own file.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let path: PathBuf = std::env::temp_dir().join(format!(
        "passgate-media-{}-{}.wav",
        std::process::id(),
        CALLS.fetch_add(1, Ordering::Relaxed)
    ));
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", &speed.to_string(), "-w"])
        .arg(&path)
        .arg(text)
        .status()
        .expect("espeak-ng is missing: run scripts/ensure-deps.sh");
    assert!(status.success(), "espeak-ng failed for voice {voice}");
    let mut reader = hound::WavReader::open(&path).unwrap();
    let rate = reader.spec().sample_rate;
    let pcm: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    std::fs::remove_file(&path).ok();
    let pcm8k = resample_clip(&pcm, rate, 8000).unwrap();
    let mut codes = Vec::new();
    G711::Ulaw.encode(&pcm8k, &mut codes);
    let mut line = Vec::new();
    G711::Ulaw.decode(&codes, &mut line);
    line
}

fn detect(pcm: &[i16]) -> String {
    let mut d = InbandDetector::new(InbandConfig::default());
    for frame in pcm.chunks(160) {
        d.push_samples(frame);
    }
    d.finish();
    std::iter::from_fn(|| d.poll_digit())
        .map(|x| x.digit.as_char())
        .collect()
}

fn rms(x: &[i16]) -> f32 {
    (x.iter().map(|&s| (s as f32).powi(2)).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

const SPEECH: [(&str, u32, &str); 6] = [
    (
        "en-us",
        160,
        "Please say your passphrase after the tone, then press the pound key.",
    ),
    (
        "en-us",
        220,
        "One two three four five six seven eight nine zero star pound.",
    ),
    (
        "en-gb",
        130,
        "Your balance is one thousand two hundred and forty seven dollars.",
    ),
    (
        "de",
        170,
        "Bitte geben Sie Ihre zehnstellige Kontonummer ein.",
    ),
    (
        "fr",
        170,
        "Veuillez composer le code que vous avez reçu par message.",
    ),
    ("ko", 150, "하얀 말 바다 하늘 사과 나무"),
];

#[test]
fn synthesised_speech_gives_no_digits() {
    for (voice, speed, text) in SPEECH {
        let speech = espeak(voice, speed, text);
        assert!(
            speech.len() > 8000,
            "{voice}: espeak gave {} samples",
            speech.len()
        );
        assert!(
            rms(&speech) > 500.0,
            "{voice}: speech too quiet to be a test"
        );
        assert_eq!(
            detect(&speech),
            "",
            "false digits in {voice} speech: {text}"
        );
    }
}

#[test]
fn a_key_pressed_while_speech_plays_is_still_found() {
    let mut speech = espeak("en-us", 160, "Please enter the code now.");
    let at = speech.len() / 2;
    let amplitude = 22_706.0 * 10f32.powf(-15.0 / 20.0);
    // Key 9: 852 Hz + 1477 Hz for 120 ms, replacing the speech as a phone's keypad does.
    for n in 0..960 {
        let t = n as f32 / 8000.0;
        let x = amplitude * ((2.0 * PI * 852.0 * t).sin() + (2.0 * PI * 1477.0 * t).sin());
        speech[at + n] = x as i16;
    }
    assert_eq!(detect(&speech), "9");
}
