//! A simple energy voice-activity detector, good enough to notice a caller talking over a
//! prompt (barge-in). It follows the background level, so line noise alone does not
//! trigger it, and asks for a few loud frames in a row, so a click does not either.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadConfig {
    /// Nothing quieter than this (dBFS, per-frame RMS) is speech, however quiet the line.
    pub min_level_dbfs: f32,
    /// Speech must be this much above the tracked background.
    pub margin_db: f32,
    /// Loud audio needed, in a row, before speech is declared.
    pub start_after: Duration,
    /// Quiet audio needed, in a row, before speech is declared over.
    pub end_after: Duration,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            min_level_dbfs: -45.0,
            margin_db: 12.0,
            start_after: Duration::from_millis(60),
            end_after: Duration::from_millis(600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    SpeechStarted,
    SpeechEnded,
}

#[derive(Debug)]
pub struct Vad {
    config: VadConfig,
    sample_rate: u32,
    noise_floor_db: f32,
    loud: Duration,
    quiet: Duration,
    speaking: bool,
}

impl Vad {
    pub fn new(config: VadConfig, sample_rate: u32) -> Self {
        Vad {
            config,
            sample_rate: sample_rate.max(1),
            noise_floor_db: config.min_level_dbfs - config.margin_db,
            loud: Duration::ZERO,
            quiet: Duration::ZERO,
            speaking: false,
        }
    }

    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// Feeds one frame (any length); returns a change of state, if this frame caused one.
    pub fn push_frame(&mut self, pcm: &[i16]) -> Option<VadEvent> {
        if pcm.is_empty() {
            return None;
        }
        let length = Duration::from_secs_f64(pcm.len() as f64 / self.sample_rate as f64);
        let level = level_dbfs(pcm);
        let threshold = self
            .config
            .min_level_dbfs
            .max(self.noise_floor_db + self.config.margin_db);
        let loud = level >= threshold;
        self.track_noise_floor(level, loud);
        if loud {
            self.loud += length;
            self.quiet = Duration::ZERO;
        } else {
            self.quiet += length;
            self.loud = Duration::ZERO;
        }
        if !self.speaking && self.loud >= self.config.start_after {
            self.speaking = true;
            return Some(VadEvent::SpeechStarted);
        }
        if self.speaking && self.quiet >= self.config.end_after {
            self.speaking = false;
            return Some(VadEvent::SpeechEnded);
        }
        None
    }

    /// Falls quickly to quieter frames and rises slowly otherwise, very slowly through loud
    /// ones: speech has pauses that pull the floor back down, steady noise does not, so
    /// the floor follows the line's noise but not the caller's voice.
    fn track_noise_floor(&mut self, level: f32, loud: bool) {
        let rate = if level < self.noise_floor_db {
            0.3
        } else if loud {
            0.005
        } else {
            0.05
        };
        self.noise_floor_db += rate * (level - self.noise_floor_db);
    }
}

/// RMS level relative to a full-scale square wave, floored at -100 dB.
pub fn level_dbfs(pcm: &[i16]) -> f32 {
    // Summed as integers: exact, and free to vectorise, where a sum of
    // floats must be added one after another in order. A float sum would be
    // exact too (every partial sum is an integer below 2^53): either gives
    // the same level to the bit.
    let sum_of_squares: u64 = pcm.iter().map(|&s| square(s)).sum();
    let mean_square = sum_of_squares as f64 / pcm.len().max(1) as f64;
    let rms = mean_square.sqrt() / 32768.0;
    if rms <= 1e-5 {
        -100.0
    } else {
        20.0 * rms.log10() as f32
    }
}

/// A sample's square: at most 2^30, so it fits an `i32` before widening.
#[inline]
fn square(sample: i16) -> u64 {
    let s = i32::from(sample);
    (s * s) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_is_the_float_sums_to_the_bit() {
        let loud: Vec<i16> = (0..960)
            .map(|i| if i % 2 == 0 { i16::MIN } else { i16::MAX })
            .collect();
        let ramp: Vec<i16> = (0..320).map(|i| (i * 97 - 15000) as i16).collect();
        for pcm in [&loud[..], &ramp[..], &[0i16; 160][..], &[1i16, -1, 3][..]] {
            let mean_square =
                pcm.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / pcm.len() as f64;
            let rms = mean_square.sqrt() / 32768.0;
            let float = if rms <= 1e-5 {
                -100.0
            } else {
                20.0 * rms.log10() as f32
            };
            assert_eq!(level_dbfs(pcm).to_bits(), float.to_bits());
        }
    }

    fn tone(amplitude: f32, frames: usize) -> Vec<Vec<i16>> {
        (0..frames)
            .map(|f| {
                (0..160)
                    .map(|n| {
                        let t = (f * 160 + n) as f32 / 8000.0;
                        (amplitude * (2.0 * std::f32::consts::PI * 300.0 * t).sin()) as i16
                    })
                    .collect()
            })
            .collect()
    }

    fn noise(amplitude: f32, frames: usize, seed: u32) -> Vec<Vec<i16>> {
        let mut state = seed;
        (0..frames)
            .map(|_| {
                (0..160)
                    .map(|_| {
                        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (((state >> 16) as f32 / 32768.0 - 1.0) * amplitude) as i16
                    })
                    .collect()
            })
            .collect()
    }

    fn events(vad: &mut Vad, frames: &[Vec<i16>]) -> Vec<(usize, VadEvent)> {
        frames
            .iter()
            .enumerate()
            .filter_map(|(i, f)| vad.push_frame(f).map(|e| (i, e)))
            .collect()
    }

    #[test]
    fn speech_starts_after_three_loud_frames_and_ends_after_the_hangover() {
        let mut vad = Vad::new(VadConfig::default(), 8000);
        let mut frames = noise(30.0, 50, 1);
        frames.extend(tone(5000.0, 50));
        frames.extend(noise(30.0, 50, 2));
        let got = events(&mut vad, &frames);
        assert_eq!(
            got,
            vec![(52, VadEvent::SpeechStarted), (129, VadEvent::SpeechEnded)]
        );
    }

    #[test]
    fn a_click_is_not_speech() {
        let mut vad = Vad::new(VadConfig::default(), 8000);
        let mut frames = noise(30.0, 20, 3);
        frames.extend(tone(8000.0, 2));
        frames.extend(noise(30.0, 20, 4));
        assert!(events(&mut vad, &frames).is_empty());
    }

    #[test]
    fn steady_loud_line_noise_is_learnt_as_background() {
        let mut vad = Vad::new(VadConfig::default(), 8000);
        // -40 dBFS of hiss is above the absolute minimum but is not speech for long.
        let hiss = noise(600.0, 500, 5);
        let got = events(&mut vad, &hiss);
        assert!(got.len() <= 2, "{got:?}");
        assert!(!vad.is_speaking(), "floor must adapt to constant noise");
        let speech = tone(12_000.0, 10);
        assert_eq!(
            events(&mut vad, &speech).first().map(|e| e.1),
            Some(VadEvent::SpeechStarted)
        );
    }

    #[test]
    fn level_of_full_scale_and_silence() {
        assert!((level_dbfs(&[32767, -32767]) - 0.0).abs() < 0.01);
        assert_eq!(level_dbfs(&[0; 160]), -100.0);
    }
}
