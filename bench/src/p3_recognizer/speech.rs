//! Test speech as a call delivers it to the recognizer: espeak-ng Korean,
//! through the telephone channel Passgate answers with (G.711 µ-law at
//! 8 kHz), then up to the model's rate by the media crate's per-frame
//! resampler, the same two steps the RTP receive path takes. Using the
//! product's own codec and resampler (rather than sox, as crates/asr's tests
//! do) means the recognizer sees exactly what a PCMU call would give it.

use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use media::{FrameResampler, G711};

/// The frame a call delivers (20 ms RTP packets).
pub const FRAME: Duration = Duration::from_millis(20);
const CODEC_RATE: u32 = 8000;
/// Silence before the speech, as after the beep.
const LEAD: Duration = Duration::from_millis(300);
/// Silence after it; streams keep feeding silence past this (see `paced`),
/// so it only has to cover the batch measurements' end-pointer wait.
const TRAIL: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, Copy)]
pub struct Script {
    pub text: &'static str,
    pub voice: &'static str,
    /// espeak-ng words per minute.
    pub speed: u32,
    /// Whether this is the account's passphrase (the decision should match).
    pub passphrase: bool,
}

pub struct Utterance {
    pub script: Script,
    /// Frames at the model's rate, silence included.
    pub frames: Vec<Vec<i16>>,
    /// Index of the last frame with speech in it.
    pub last_speech: usize,
}

impl Utterance {
    pub fn label(&self) -> String {
        format!(
            "{} ({}, {} wpm)",
            if self.script.passphrase {
                "passphrase"
            } else {
                "other phrase"
            },
            self.script.voice,
            self.script.speed
        )
    }
}

/// How far below the utterance's loudest frame speech may be: espeak-ng
/// ends some words with a breathy decay 30 to 40 dB down, which a listener
/// no longer hears as the word.
pub const SPEECH_RANGE_DB: f32 = 30.0;

/// `floor_dbfs`: frames at or below this level never count as speech.
pub fn synthesize(script: Script, rate: u32, floor_dbfs: f32) -> anyhow::Result<Utterance> {
    let dir = tempfile::tempdir()?;
    let wav = dir.path().join("speech.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", script.voice, "-s", &script.speed.to_string(), "-w"])
        .arg(&wav)
        .arg(script.text)
        .status()
        .context("running espeak-ng (scripts/ensure-deps.sh installs it)")?;
    if !status.success() {
        bail!("espeak-ng -v {} failed: {status}", script.voice);
    }
    let mut reader = hound::WavReader::open(&wav).context("reading espeak-ng's WAV")?;
    let spec = reader.spec();
    if spec.channels != 1 || spec.bits_per_sample != 16 {
        bail!("espeak-ng wrote {spec:?}, expected 16-bit mono");
    }
    let pcm = reader
        .samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .context("decoding espeak-ng's WAV")?;
    let narrow = media::resample_clip(&pcm, spec.sample_rate, CODEC_RATE)?;
    let frames = telephone(&narrow, rate)?;
    let last_speech = last_speech_frame(&frames, speech_threshold(&frames, floor_dbfs))
        .with_context(|| format!("espeak-ng -v {} gave no audible speech", script.voice))?;
    Ok(Utterance {
        script,
        frames,
        last_speech,
    })
}

/// 8 kHz speech, padded with silence, through µ-law and the receive path's
/// 8 kHz → `rate` resampler, cut into 20 ms frames at `rate`.
pub fn telephone(narrow: &[i16], rate: u32) -> anyhow::Result<Vec<Vec<i16>>> {
    let per_frame = samples_in(CODEC_RATE, FRAME);
    let mut padded = vec![0i16; samples_in(CODEC_RATE, LEAD)];
    padded.extend_from_slice(narrow);
    padded.resize(padded.len() + samples_in(CODEC_RATE, TRAIL), 0);
    padded.resize(padded.len().div_ceil(per_frame) * per_frame, 0);
    let mut codes = Vec::with_capacity(padded.len());
    G711::Ulaw.encode(&padded, &mut codes);
    let mut decoded = Vec::with_capacity(codes.len());
    G711::Ulaw.decode(&codes, &mut decoded);
    let mut resampler = FrameResampler::new(CODEC_RATE, rate, FRAME)?;
    let mut frames = Vec::with_capacity(decoded.len() / per_frame);
    for packet in decoded.chunks(per_frame) {
        resampler.push(packet)?;
        while let Some(frame) = resampler.pop_frame() {
            frames.push(frame);
        }
    }
    Ok(frames)
}

pub fn samples_in(rate: u32, d: Duration) -> usize {
    (u128::from(rate) * d.as_micros() / 1_000_000) as usize
}

/// RMS level of a frame in dBFS, as the end-pointer computes it.
pub fn level_dbfs(frame: &[i16]) -> f32 {
    if frame.is_empty() {
        return -180.0;
    }
    let energy = frame.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / frame.len() as f64;
    (20.0 * (energy.sqrt() / 32768.0).max(1e-9).log10()) as f32
}

/// The level a frame must exceed to count as speech in `frames`.
pub fn speech_threshold(frames: &[Vec<i16>], floor_dbfs: f32) -> f32 {
    let peak = frames
        .iter()
        .map(|f| level_dbfs(f))
        .fold(f32::MIN, f32::max);
    floor_dbfs.max(peak - SPEECH_RANGE_DB)
}

pub fn last_speech_frame(frames: &[Vec<i16>], floor_dbfs: f32) -> Option<usize> {
    frames.iter().rposition(|f| level_dbfs(f) > floor_dbfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, ms: u32, amplitude: f32) -> Vec<i16> {
        let n = (rate * ms / 1000) as usize;
        (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                (amplitude * (2.0 * std::f32::consts::PI * 440.0 * t).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn the_telephone_channel_keeps_timing_and_level() {
        // 400 ms of tone: 300 ms silence, the tone, 1500 ms silence, at 16 kHz.
        let frames = telephone(&tone(8000, 400, 8000.0), 16000).unwrap();
        assert!(frames.iter().all(|f| f.len() == 320));
        // The resampler holds a little back (its delay), never more than a frame or two.
        assert!((108..=110).contains(&frames.len()), "{}", frames.len());
        assert!(
            level_dbfs(&frames[2]) < -60.0,
            "leading silence stays silent"
        );
        // -15 dBFS sine (8000/32768 peak, -3 dB for RMS) within a dB after µ-law.
        let level = level_dbfs(&frames[30]);
        assert!((-16.3..=-14.3).contains(&level), "{level}");
        let last = last_speech_frame(&frames, -50.0).unwrap();
        // The tone spans frames 15..35 plus the resampler's delay.
        assert!((34..=37).contains(&last), "{last}");
        assert!(level_dbfs(frames.last().unwrap()) < -60.0);
    }

    #[test]
    fn a_fading_tail_far_below_the_peak_is_not_speech() {
        let mut frames = vec![vec![0i16; 320]; 3];
        frames.push(vec![10000; 320]); // about -10 dBFS
        frames.push(vec![200; 320]); // about -44 dBFS: a breath after the word
        frames.push(vec![0; 320]);
        let threshold = speech_threshold(&frames, -50.0);
        assert!((-41.0..=-39.0).contains(&threshold), "{threshold}");
        assert_eq!(last_speech_frame(&frames, threshold), Some(3));
        // Quiet speech throughout: the absolute floor decides.
        let quiet = vec![vec![150i16; 320]; 4];
        assert_eq!(speech_threshold(&quiet, -50.0), -50.0);
    }

    #[test]
    fn quiet_frames_are_not_speech() {
        let frames = vec![vec![0i16; 320], vec![3; 320], vec![2000; 320], vec![3; 320]];
        assert_eq!(last_speech_frame(&frames, -50.0), Some(2));
        assert_eq!(last_speech_frame(&frames[..2], -50.0), None);
        assert!(level_dbfs(&[]) < -100.0);
    }
}
