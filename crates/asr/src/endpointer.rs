//! End-of-speech detection by frame energy, on audio time (samples), so it is
//! deterministic and independent of how fast the recognizer runs.
//!
//! The noise floor drops at once to quieter frames and creeps up otherwise; a
//! frame is voiced when it stands well above that floor and above an absolute
//! minimum. Speech rises and falls by syllable; noise is steady, so a steady
//! level over a short window snaps the floor up to it. Silence or noise alone
//! therefore ends with [`Decision::NoSpeech`] instead of being handed to the
//! recognizer's language model, which would turn it into words.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndpointerConfig {
    /// Silence after speech that ends the utterance.
    pub end_silence: Duration,
    /// Shorter silence that ends it once the words expected have been heard
    /// (`ListenOptions::expected_words`): a caller who has said the whole
    /// answer should not wait out a pause meant for one still thinking.
    pub end_silence_when_complete: Duration,
    /// Give up when no speech has started by then.
    pub no_speech_timeout: Duration,
    /// Stop listening after this much audio whatever happens.
    pub max_duration: Duration,
    /// Voiced audio needed before we call it speech (clicks are shorter, and
    /// steady noise is recognised as noise within it).
    pub min_speech: Duration,
    /// How far above the noise floor a voiced frame is, in dB.
    pub margin_db: f32,
    /// Frames quieter than this (dBFS) are never voiced.
    pub min_level_dbfs: f32,
}

impl Default for EndpointerConfig {
    fn default() -> Self {
        EndpointerConfig {
            end_silence: Duration::from_millis(700),
            end_silence_when_complete: Duration::from_millis(100),
            no_speech_timeout: Duration::from_secs(5),
            max_duration: Duration::from_secs(10),
            min_speech: Duration::from_millis(200),
            margin_db: 9.0,
            min_level_dbfs: -50.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Listening,
    SpeechStarted,
    EndOfSpeech,
    NoSpeech,
    MaxDuration,
}

/// Frames whose levels are compared to tell steady noise from speech.
const STEADY_WINDOW: usize = 8;
/// Level spread (dB) below which the window is steady.
const STEADY_SPREAD_DB: f32 = 3.0;

pub struct Endpointer {
    config: EndpointerConfig,
    sample_rate: u32,
    samples: u64,
    floor_db: f32,
    recent: std::collections::VecDeque<f32>,
    voiced_run: u64,
    silent_run: u64,
    speech: bool,
    finished: bool,
}

impl Endpointer {
    pub fn new(config: EndpointerConfig, sample_rate: u32) -> Self {
        Endpointer {
            config,
            sample_rate,
            samples: 0,
            floor_db: config.min_level_dbfs,
            recent: std::collections::VecDeque::with_capacity(STEADY_WINDOW),
            voiced_run: 0,
            silent_run: 0,
            speech: false,
            finished: false,
        }
    }

    pub fn speech_detected(&self) -> bool {
        self.speech
    }

    /// Whether speech has been followed by `end_silence_when_complete` of
    /// silence (but not yet the full `end_silence`).
    pub fn paused(&self) -> bool {
        self.speech
            && !self.finished
            && self.silent_run >= self.samples_in(self.config.end_silence_when_complete)
    }

    /// Speech has been heard and the latest frame was silent: a pause, or
    /// the end of the answer.
    pub fn in_silence(&self) -> bool {
        self.speech && !self.finished && self.silent_run > 0
    }

    /// Whether the latest frame was voiced.
    pub fn last_frame_voiced(&self) -> bool {
        self.samples > 0 && self.silent_run == 0
    }

    /// Audio seen so far.
    pub fn elapsed(&self) -> Duration {
        self.duration_of(self.samples)
    }

    /// How long `samples` of this turn's audio last.
    pub fn duration_of(&self, samples: u64) -> Duration {
        Duration::from_micros(samples * 1_000_000 / u64::from(self.sample_rate.max(1)))
    }

    pub fn push(&mut self, frame: &[i16]) -> Decision {
        if self.finished || frame.is_empty() {
            return Decision::Listening;
        }
        let n = frame.len() as u64;
        self.samples += n;
        let level = level_dbfs(frame);
        if self.recent.len() == STEADY_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(level);
        let frame_secs = n as f32 / self.sample_rate as f32;
        let floor = self.floor_db;
        self.floor_db = if level < floor {
            level
        } else {
            floor + (level - floor).min(6.0 * frame_secs)
        };
        if self.recent.len() == STEADY_WINDOW {
            let (lo, hi) = self
                .recent
                .iter()
                .fold((f32::MAX, f32::MIN), |(lo, hi), &l| (lo.min(l), hi.max(l)));
            if hi - lo < STEADY_SPREAD_DB {
                self.floor_db = self.floor_db.max(lo);
            }
        }
        let voiced =
            level > self.floor_db + self.config.margin_db && level > self.config.min_level_dbfs;
        let mut decision = Decision::Listening;
        if voiced {
            self.voiced_run += n;
            self.silent_run = 0;
            if !self.speech && self.voiced_run >= self.samples_in(self.config.min_speech) {
                self.speech = true;
                decision = Decision::SpeechStarted;
            }
        } else {
            self.silent_run += n;
            if !self.speech {
                self.voiced_run = 0;
            }
        }
        if self.speech && self.silent_run >= self.samples_in(self.config.end_silence) {
            decision = Decision::EndOfSpeech;
        } else if !self.speech && self.samples >= self.samples_in(self.config.no_speech_timeout) {
            decision = Decision::NoSpeech;
        } else if self.samples >= self.samples_in(self.config.max_duration) {
            decision = Decision::MaxDuration;
        }
        if matches!(
            decision,
            Decision::EndOfSpeech | Decision::NoSpeech | Decision::MaxDuration
        ) {
            self.finished = true;
        }
        decision
    }

    /// Listens again as if no speech had been heard (the "speech" was
    /// noise), keeping the noise floor and the time already passed, so the
    /// no-speech timeout and the longest turn still count from the start.
    pub fn resume(&mut self) {
        self.speech = false;
        self.finished = false;
        self.voiced_run = 0;
        self.silent_run = 0;
    }

    fn samples_in(&self, d: Duration) -> u64 {
        (d.as_micros() as u64) * u64::from(self.sample_rate) / 1_000_000
    }
}

fn level_dbfs(frame: &[i16]) -> f32 {
    // An exact integer sum, free to vectorise (a float sum is added in order).
    let energy = frame
        .iter()
        .map(|&s| {
            let s = i32::from(s);
            (s * s) as u64
        })
        .sum::<u64>() as f64
        / frame.len() as f64;
    let rms = energy.sqrt() / 32768.0;
    (20.0 * rms.max(1e-9).log10()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 16000;
    const FRAME: usize = 320;

    /// A voice-like signal: a tone whose loudness rises and falls four times
    /// a second, like syllables.
    fn syllables(amplitude: f32, freq: f32, frames: usize, phase0: usize) -> Vec<Vec<i16>> {
        use std::f32::consts::PI;
        (0..frames)
            .map(|f| {
                (0..FRAME)
                    .map(|i| {
                        let t = (phase0 + f * FRAME + i) as f32 / RATE as f32;
                        let envelope = 0.55 + 0.45 * (2.0 * PI * 4.0 * t).sin();
                        (amplitude * envelope * (2.0 * PI * freq * t).sin()) as i16
                    })
                    .collect()
            })
            .collect()
    }

    fn steady_tone(amplitude: f32, frames: usize) -> Vec<Vec<i16>> {
        (0..frames)
            .map(|f| {
                (0..FRAME)
                    .map(|i| {
                        let t = (f * FRAME + i) as f32 / RATE as f32;
                        (amplitude * (2.0 * std::f32::consts::PI * 450.0 * t).sin()) as i16
                    })
                    .collect()
            })
            .collect()
    }

    fn noise(amplitude: i32, frames: usize, seed: &mut u32) -> Vec<Vec<i16>> {
        (0..frames)
            .map(|_| {
                (0..FRAME)
                    .map(|_| {
                        *seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        ((*seed >> 16) as i32 % (2 * amplitude + 1) - amplitude) as i16
                    })
                    .collect()
            })
            .collect()
    }

    fn run(ep: &mut Endpointer, frames: &[Vec<i16>]) -> Vec<Decision> {
        frames
            .iter()
            .map(|f| ep.push(f))
            .filter(|d| *d != Decision::Listening)
            .collect()
    }

    #[test]
    fn speech_then_silence_ends_after_the_configured_silence() {
        let mut ep = Endpointer::new(EndpointerConfig::default(), RATE);
        let mut seed = 1;
        assert!(run(&mut ep, &noise(30, 25, &mut seed)).is_empty());
        assert_eq!(
            run(&mut ep, &syllables(8000.0, 300.0, 40, 0)),
            vec![Decision::SpeechStarted]
        );
        // 700 ms of quiet is 35 frames of 20 ms.
        let quiet = noise(30, 40, &mut seed);
        let decisions: Vec<(usize, Decision)> = quiet
            .iter()
            .enumerate()
            .map(|(i, f)| (i, ep.push(f)))
            .filter(|(_, d)| *d != Decision::Listening)
            .collect();
        assert_eq!(decisions, vec![(34, Decision::EndOfSpeech)]);
    }

    #[test]
    fn resumed_after_a_burst_it_hears_the_answer_and_keeps_the_timeout() {
        let config = EndpointerConfig {
            no_speech_timeout: Duration::from_secs(3),
            ..EndpointerConfig::default()
        };
        let mut ep = Endpointer::new(config, RATE);
        let mut seed = 3;
        // A burst taken for speech, then 700 ms of quiet: the end.
        run(&mut ep, &noise(30, 10, &mut seed));
        assert_eq!(
            run(&mut ep, &syllables(8000.0, 300.0, 15, 0)),
            vec![Decision::SpeechStarted]
        );
        assert_eq!(
            run(&mut ep, &noise(30, 35, &mut seed)),
            vec![Decision::EndOfSpeech]
        );
        assert!(
            run(&mut ep, &noise(30, 5, &mut seed)).is_empty(),
            "finished"
        );
        // Resumed: the answer is heard and ends the turn in its turn.
        ep.resume();
        assert!(!ep.speech_detected());
        assert_eq!(
            run(&mut ep, &syllables(8000.0, 300.0, 20, 0)),
            vec![Decision::SpeechStarted]
        );
        assert_eq!(
            run(&mut ep, &noise(30, 35, &mut seed)),
            vec![Decision::EndOfSpeech]
        );
        // Resumed with nothing more: the no-speech timeout still counts
        // from the start of the turn (3 s is 150 frames; 115 have passed,
        // the 5 pushed while it was finished not counting).
        ep.resume();
        let decisions: Vec<(usize, Decision)> = noise(30, 40, &mut seed)
            .iter()
            .enumerate()
            .map(|(i, f)| (i, ep.push(f)))
            .filter(|(_, d)| *d != Decision::Listening)
            .collect();
        assert_eq!(decisions, vec![(34, Decision::NoSpeech)]);
    }

    #[test]
    fn in_silence_only_between_speech_and_the_end_of_the_turn() {
        let mut ep = Endpointer::new(EndpointerConfig::default(), RATE);
        let mut seed = 5;
        run(&mut ep, &noise(30, 25, &mut seed));
        assert!(!ep.in_silence(), "quiet before any speech is not a pause");
        run(&mut ep, &syllables(8000.0, 300.0, 40, 0));
        assert!(ep.speech_detected() && !ep.in_silence());
        run(&mut ep, &noise(30, 1, &mut seed));
        assert!(ep.in_silence(), "the first quiet frame after speech");
        run(&mut ep, &noise(30, 40, &mut seed));
        assert!(!ep.in_silence(), "the turn has ended");
    }

    #[test]
    fn silence_and_stationary_noise_give_no_speech() {
        for amplitude in [0, 30, 3000] {
            let mut ep = Endpointer::new(EndpointerConfig::default(), RATE);
            let mut seed = 7;
            let decisions = run(&mut ep, &noise(amplitude, 300, &mut seed));
            assert_eq!(
                decisions,
                vec![Decision::NoSpeech],
                "noise amplitude {amplitude}"
            );
            assert!(!ep.speech_detected());
        }
    }

    #[test]
    fn a_steady_hum_from_the_first_frame_is_noise() {
        let mut ep = Endpointer::new(EndpointerConfig::default(), RATE);
        assert_eq!(
            run(&mut ep, &steady_tone(6000.0, 300)),
            vec![Decision::NoSpeech]
        );
    }

    #[test]
    fn a_click_is_not_speech() {
        let mut ep = Endpointer::new(EndpointerConfig::default(), RATE);
        let mut seed = 3;
        run(&mut ep, &noise(30, 10, &mut seed));
        assert!(run(&mut ep, &syllables(8000.0, 300.0, 3, 0)).is_empty());
        assert!(run(&mut ep, &noise(30, 20, &mut seed)).is_empty());
        assert!(!ep.speech_detected());
    }

    #[test]
    fn endless_speech_stops_at_the_maximum() {
        let config = EndpointerConfig {
            max_duration: Duration::from_secs(2),
            ..Default::default()
        };
        let mut ep = Endpointer::new(config, RATE);
        // Speech from the very first frame (a caller barging in) is still speech.
        let decisions = run(&mut ep, &syllables(8000.0, 300.0, 200, 0));
        assert_eq!(
            decisions,
            vec![Decision::SpeechStarted, Decision::MaxDuration]
        );
        assert_eq!(ep.elapsed(), Duration::from_secs(2));
        assert_eq!(
            ep.push(&[1000; FRAME]),
            Decision::Listening,
            "finished stays finished"
        );
    }
}
