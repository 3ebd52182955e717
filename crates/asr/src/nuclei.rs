//! Syllable nuclei counted from the caller's loudness, after de Jong &
//! Wempe (2009, "Praat script to detect syllable nuclei and measure speech
//! rate automatically"): every syllable has a vowel at its core, and a
//! vowel is a voiced peak of loudness. Counting them tells how many
//! syllables were spoken, whatever words the decoder made of them; a word
//! outside the vocabulary that the decoder left out ("하얀 (멋진) 말")
//! still left its syllables in the audio.
//!
//! Sans-IO, on audio time: [`NucleusTrack`] takes the turn's frames as the
//! end-pointer does and keeps two numbers per 10 ms hop (its level and how
//! voiced it is); [`NucleusTrack::nuclei`] picks the peaks once the turn is
//! over, since the threshold is relative to the turn's own speech level.

use std::collections::VecDeque;

/// How peaks of loudness are picked as syllable nuclei.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NucleiConfig {
    /// A nucleus is at most this far (dB) below the turn's loud level (the
    /// 99th percentile of its smoothed levels): quieter peaks are noise or
    /// breath.
    pub below_loud_db: f32,
    /// Two peaks are two syllables only when the level between them dips
    /// at least this far (dB) below the lower of them; otherwise they are
    /// one syllable's ripple and count once.
    pub min_dip_db: f32,
    /// Lowest voicing (normalised autocorrelation at a pitch period, from
    /// 0 to 1) around a peak for it to be a vowel: a fricative or a burst of
    /// noise is loud but has no pitch.
    pub min_voicing: f32,
}

/// Chosen on the accuracy benchmark's TUNING set (bench/results/
/// accuracy-tuning.md): 25 dB below the loud level counted breath and
/// noise within true phrases (7 of 75 matched with a nucleus too many),
/// 15 and 20 dB did not; a 2 dB dip split a vowel where a lost packet's
/// concealment faded it (one true phrase at 10 % loss), 3 dB did not and
/// still parted every syllable of the near misses; voicing 0.4 to 0.6
/// counted alike.
impl Default for NucleiConfig {
    fn default() -> Self {
        NucleiConfig {
            below_loud_db: 20.0,
            min_dip_db: 3.0,
            min_voicing: 0.5,
        }
    }
}

/// Length of one hop of the level track.
const HOP_SECS: f32 = 0.010;
/// Hops either side averaged (in power) into one smoothed level: 50 ms in
/// all, about a short syllable's vowel, so a vowel's pitch ripple is not
/// two peaks.
const SMOOTH_HOPS: usize = 2;
/// Hops either side of a peak searched for voicing: a vowel's peak of
/// loudness need not fall on its most periodic hop.
const VOICING_HOPS: usize = 2;
/// The voicing measure runs on the signal decimated to this rate: pitch
/// lies far below it, and it keeps the cost a few thousand products a hop.
const VOICING_RATE: u32 = 4000;
/// Window of the voicing measure: two periods of a 70 Hz voice.
const VOICING_WINDOW_SECS: f32 = 0.032;
/// Pitch periods searched: voices from 70 to 400 Hz.
const PITCH_MIN_HZ: f32 = 70.0;
const PITCH_MAX_HZ: f32 = 400.0;

/// The level and voicing of a turn's audio, 10 ms at a time.
#[derive(Debug, Clone)]
pub struct NucleusTrack {
    rate: u32,
    hop: usize,
    /// Sum of squares and samples in the hop being filled.
    energy: f64,
    filled: usize,
    /// Decimation for the voicing measure: samples averaged per output.
    factor: usize,
    decimated_sum: f32,
    decimated_count: usize,
    /// The latest decimated samples, a voicing window's worth.
    recent: VecDeque<f32>,
    window: usize,
    /// Per hop: mean power (linear) and voicing.
    powers: Vec<f32>,
    voicing: Vec<f32>,
}

impl NucleusTrack {
    /// A track for audio at `sample_rate` (8 or 16 kHz; any rate works).
    pub fn new(sample_rate: u32) -> Self {
        let rate = sample_rate.max(1);
        let factor = (rate / VOICING_RATE).max(1) as usize;
        let window = ((rate as usize / factor) as f32 * VOICING_WINDOW_SECS) as usize;
        NucleusTrack {
            rate,
            hop: ((rate as f32 * HOP_SECS) as usize).max(1),
            energy: 0.0,
            filled: 0,
            factor,
            decimated_sum: 0.0,
            decimated_count: 0,
            recent: VecDeque::with_capacity(window + 1),
            window,
            powers: Vec::new(),
            voicing: Vec::new(),
        }
    }

    /// Takes the next samples of the turn.
    pub fn push(&mut self, samples: &[i16]) {
        for &s in samples {
            let x = f32::from(s) / 32768.0;
            self.energy += f64::from(x) * f64::from(x);
            self.filled += 1;
            self.decimated_sum += x;
            self.decimated_count += 1;
            if self.decimated_count == self.factor {
                if self.recent.len() == self.window {
                    self.recent.pop_front();
                }
                self.recent
                    .push_back(self.decimated_sum / self.factor as f32);
                self.decimated_sum = 0.0;
                self.decimated_count = 0;
            }
            if self.filled == self.hop {
                self.powers.push((self.energy / self.hop as f64) as f32);
                self.voicing.push(self.voicing_now());
                self.energy = 0.0;
                self.filled = 0;
            }
        }
    }

    /// The syllable nuclei heard so far: each peak's time in seconds from
    /// the turn's start (the centre of its hop), in order.
    pub fn nuclei(&self, config: &NucleiConfig) -> Vec<f32> {
        let levels = smoothed_db(&self.powers);
        let Some(loud) = quantile(&levels, 0.99) else {
            return Vec::new();
        };
        let threshold = loud - config.below_loud_db;
        let voiced_near = |i: usize| {
            let from = i.saturating_sub(VOICING_HOPS);
            let to = (i + VOICING_HOPS + 1).min(self.voicing.len());
            self.voicing[from..to]
                .iter()
                .any(|&v| v >= config.min_voicing)
        };
        // Local maxima (the first hop of a plateau) above the threshold.
        let candidates = (0..levels.len()).filter(|&i| {
            let before = i == 0 || levels[i - 1] < levels[i];
            let after = i + 1 == levels.len() || levels[i + 1] <= levels[i];
            before && after && levels[i] > threshold && voiced_near(i)
        });
        let mut kept: Vec<usize> = Vec::new();
        for peak in candidates {
            let Some(&last) = kept.last() else {
                kept.push(peak);
                continue;
            };
            let dip = levels[last..=peak]
                .iter()
                .copied()
                .fold(f32::INFINITY, f32::min);
            if levels[last].min(levels[peak]) - dip >= config.min_dip_db {
                kept.push(peak);
            } else if levels[peak] > levels[last] {
                // One syllable: its louder peak stands for it.
                if let Some(top) = kept.last_mut() {
                    *top = peak;
                }
            }
        }
        let hop_secs = self.hop as f32 / self.rate as f32;
        kept.into_iter()
            .map(|i| (i as f32 + 0.5) * hop_secs)
            .collect()
    }

    /// Normalised autocorrelation of the latest window at the best pitch
    /// period: near 1 for a vowel, low for noise and fricatives.
    fn voicing_now(&self) -> f32 {
        if self.recent.len() < self.window {
            return 0.0;
        }
        let rate = self.rate as f32 / self.factor as f32;
        let shortest = ((rate / PITCH_MAX_HZ) as usize).max(1);
        let longest = ((rate / PITCH_MIN_HZ) as usize).min(self.window / 2);
        let mean = self.recent.iter().sum::<f32>() / self.recent.len() as f32;
        let x: Vec<f32> = self.recent.iter().map(|v| v - mean).collect();
        let mut best = 0.0f32;
        for lag in shortest..=longest {
            let (mut xy, mut xx, mut yy) = (0.0f32, 0.0f32, 0.0f32);
            for n in 0..x.len() - lag {
                xy += x[n] * x[n + lag];
                xx += x[n] * x[n];
                yy += x[n + lag] * x[n + lag];
            }
            if xx > 0.0 && yy > 0.0 {
                best = best.max(xy / (xx * yy).sqrt());
            }
        }
        best
    }
}

/// The syllable nuclei of a whole recording at `sample_rate`: what
/// [`NucleusTrack`] finds when given all of it.
pub fn syllable_nuclei(samples: &[i16], sample_rate: u32, config: &NucleiConfig) -> Vec<f32> {
    let mut track = NucleusTrack::new(sample_rate);
    track.push(samples);
    track.nuclei(config)
}

/// Each hop's level in dB, averaged in power over `SMOOTH_HOPS` either
/// side, with clicks taken out first ([`without_clicks`]).
fn smoothed_db(powers: &[f32]) -> Vec<f32> {
    let steady = without_clicks(powers);
    (0..steady.len())
        .map(|i| {
            let from = i.saturating_sub(SMOOTH_HOPS);
            let to = (i + SMOOTH_HOPS + 1).min(steady.len());
            let mean = steady[from..to].iter().sum::<f32>() / (to - from) as f32;
            10.0 * mean.max(1e-12).log10()
        })
        .collect()
}

/// Longest run of hops taken for a click.
const CLICK_HOPS: usize = 2;
/// How far (as a power ratio: 20 dB) a click stands above the hops either
/// side of it.
const CLICK_RISE: f32 = 100.0;

/// The hop powers with every click lowered to the louder of the hops
/// around it. A click (a line transient, a sender's glitch, a key's knock)
/// is at most `CLICK_HOPS` hops far louder than the hops before and after
/// it; averaged in, it would make a peak louder than the speech itself. A
/// vowel stays loud for longer, and a syllable's onset stays loud after
/// its rise.
fn without_clicks(powers: &[f32]) -> Vec<f32> {
    let mut steady = powers.to_vec();
    for length in 1..=CLICK_HOPS {
        for start in 0..steady.len().saturating_sub(length - 1) {
            let end = start + length;
            let before = start.checked_sub(1).map(|i| steady[i]);
            let after = steady.get(end).copied();
            let around = match (before, after) {
                (Some(b), Some(a)) => b.max(a),
                (Some(one), None) | (None, Some(one)) => one,
                (None, None) => continue,
            };
            let floor = around.max(1e-12);
            if steady[start..end].iter().all(|&p| p > floor * CLICK_RISE) {
                steady[start..end].fill(around);
            }
        }
    }
    steady
}

fn quantile(values: &[f32], q: f32) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    let at = ((sorted.len() - 1) as f32 * q).round() as usize;
    sorted.get(at).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    /// A voiced sound: a 140 Hz buzz with its first harmonics, like a
    /// vowel.
    fn buzz(t: f32) -> f32 {
        (1..=5)
            .map(|k| (2.0 * PI * 140.0 * k as f32 * t).sin() / k as f32)
            .sum::<f32>()
            / 2.3
    }

    /// `bursts` syllables of `on` seconds each `every` seconds apart after
    /// `lead` seconds, each a smooth rise and fall of `sound`, over a floor
    /// `floor_db` below them; the times of the bursts' middles.
    fn syllables(
        rate: u32,
        bursts: usize,
        lead: f32,
        on: f32,
        every: f32,
        floor_db: f32,
        sound: impl Fn(f32, usize) -> f32,
    ) -> (Vec<i16>, Vec<f32>) {
        let length = lead + every * bursts as f32 + 0.5;
        let floor = 10f32.powf(-floor_db / 20.0);
        let samples = (0..(length * rate as f32) as usize)
            .map(|n| {
                let t = n as f32 / rate as f32;
                let since = t - lead;
                let k = (since / every).floor();
                let within = since - k * every;
                let envelope = if since >= 0.0 && (k as usize) < bursts && within < on {
                    (PI * within / on).sin().powi(2)
                } else {
                    0.0
                };
                (12000.0 * (envelope + floor) * sound(t, n)) as i16
            })
            .collect();
        let middles = (0..bursts)
            .map(|k| lead + k as f32 * every + on / 2.0)
            .collect();
        (samples, middles)
    }

    fn assert_near(found: &[f32], expected: &[f32], within: f32) {
        assert_eq!(
            found.len(),
            expected.len(),
            "{found:?} against {expected:?}"
        );
        for (f, e) in found.iter().zip(expected) {
            assert!((f - e).abs() <= within, "{found:?} against {expected:?}");
        }
    }

    #[test]
    fn voiced_bursts_are_counted_one_nucleus_each_at_their_peak() {
        for rate in [8000, 16000] {
            for bursts in [1, 3, 5] {
                let (samples, middles) =
                    syllables(rate, bursts, 0.4, 0.16, 0.22, 30.0, |t, _| buzz(t));
                let found = syllable_nuclei(&samples, rate, &NucleiConfig::default());
                assert_near(&found, &middles, 0.02);
            }
        }
    }

    #[test]
    fn frames_of_any_size_give_what_the_whole_recording_gives() {
        let (samples, _) = syllables(16000, 4, 0.3, 0.15, 0.2, 30.0, |t, _| buzz(t));
        let whole = syllable_nuclei(&samples, 16000, &NucleiConfig::default());
        let mut track = NucleusTrack::new(16000);
        for frame in samples.chunks(320) {
            track.push(frame);
        }
        assert_eq!(track.nuclei(&NucleiConfig::default()), whole);
        assert_eq!(whole.len(), 4);
    }

    #[test]
    fn loud_noise_without_pitch_is_no_nucleus() {
        // The same bursts of white noise: as loud, but no vowel.
        let mut seed = 1u32;
        let white = std::cell::RefCell::new(move || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            ((seed >> 16) as f32 / 32768.0) - 1.0
        });
        let (samples, _) = syllables(16000, 4, 0.3, 0.15, 0.25, 30.0, |_, _| {
            (white.borrow_mut())()
        });
        assert!(syllable_nuclei(&samples, 16000, &NucleiConfig::default()).is_empty());
        // Off, the voicing check lets the noise bursts count.
        let deaf = NucleiConfig {
            min_voicing: 0.0,
            ..NucleiConfig::default()
        };
        assert_eq!(syllable_nuclei(&samples, 16000, &deaf).len(), 4);
    }

    #[test]
    fn a_click_before_or_inside_the_speech_is_no_nucleus() {
        // A few milliseconds at full scale, as a sender's glitch or the
        // header of a sound file played as audio makes, 20 ms before the
        // first syllable and between the second and the third.
        for rate in [8000, 16000] {
            let (mut samples, middles) = syllables(rate, 3, 0.4, 0.16, 0.26, 30.0, |t, _| buzz(t));
            for at in [0.38, 0.4 + 0.26 + 0.2] {
                let from = (at * rate as f32) as usize;
                let click = (0.004 * rate as f32) as usize;
                for (k, s) in samples[from..from + click].iter_mut().enumerate() {
                    *s = if k % 2 == 0 { i16::MIN } else { 8000 };
                }
            }
            let found = syllable_nuclei(&samples, rate, &NucleiConfig::default());
            assert_near(&found, &middles, 0.02);
        }
    }

    #[test]
    fn a_shallow_dip_is_one_syllable_and_a_deep_one_two() {
        // 0.5 s of vowel whose loudness sags once in its middle to `sag`
        // of its height: two peaks of loudness either side.
        let vowel = |sag: f32| -> Vec<i16> {
            let rate = 16000.0;
            (0..(1.2 * rate) as usize)
                .map(|n| {
                    let t = n as f32 / rate;
                    let within = t - 0.3;
                    let envelope = if (0.0..0.5).contains(&within) {
                        let hump = (PI * within / 0.5).sin().sqrt();
                        let notch = (-((within - 0.25) / 0.04).powi(2)).exp();
                        hump * (1.0 - (1.0 - sag) * notch)
                    } else {
                        0.0
                    };
                    (12000.0 * envelope * buzz(t)) as i16
                })
                .collect()
        };
        let count = |sag: f32| syllable_nuclei(&vowel(sag), 16000, &NucleiConfig::default()).len();
        // -1 dB is a vowel's ripple; -12 dB parts two syllables.
        assert_eq!(count(0.9), 1);
        assert_eq!(count(0.25), 2);
    }

    #[test]
    fn peaks_far_below_the_turns_speech_are_not_counted() {
        // Three loud syllables, then two 30 dB quieter (breath, a
        // neighbour's voice).
        let (loud, _) = syllables(16000, 3, 0.3, 0.15, 0.22, 40.0, |t, _| buzz(t));
        let (quiet, _) = syllables(16000, 2, 0.0, 0.15, 0.22, 40.0, |t, _| buzz(t) * 0.03);
        let samples: Vec<i16> = loud.iter().chain(&quiet).copied().collect();
        assert_eq!(
            syllable_nuclei(&samples, 16000, &NucleiConfig::default()).len(),
            3
        );
        let deep = NucleiConfig {
            below_loud_db: 40.0,
            ..NucleiConfig::default()
        };
        assert_eq!(syllable_nuclei(&samples, 16000, &deep).len(), 5);
        assert!(syllable_nuclei(&[], 16000, &deep).is_empty());
    }

    /// espeak-ng's Korean voice saying `text` at `speed` words a minute,
    /// at 16 kHz.
    fn espeak(text: &str, voice: &str, speed: u32) -> Vec<i16> {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw.wav");
        let out = dir.path().join("out.wav");
        let spoke = std::process::Command::new("espeak-ng")
            .args(["-v", voice, "-s", &speed.to_string(), "-w"])
            .arg(&raw)
            .arg(text)
            .status()
            .expect("espeak-ng must be installed (make test installs it)");
        assert!(spoke.success());
        let converted = std::process::Command::new("sox")
            .arg("-D")
            .arg(&raw)
            .args(["-r", "16000", "-c", "1", "-b", "16"])
            .arg(&out)
            .status()
            .expect("sox must be installed");
        assert!(converted.success());
        hound::WavReader::open(&out)
            .unwrap()
            .samples::<i16>()
            .map(|s| s.unwrap())
            .collect()
    }

    #[test]
    fn espeak_ngs_korean_has_a_nucleus_per_syllable() {
        for (voice, speed) in [("ko", 175), ("ko+m3", 130)] {
            let count = |text| {
                syllable_nuclei(&espeak(text, voice, speed), 16000, &NucleiConfig::default()).len()
            };
            assert_eq!(count("하얀 말"), 3, "{voice} at {speed}");
            assert_eq!(count("하얀 멋진 말"), 5, "{voice} at {speed}");
            assert_eq!(count("하얀 새 말"), 4, "{voice} at {speed}");
        }
    }

    #[test]
    fn espeak_ngs_phrase_after_a_click_keeps_its_count() {
        // What a call heard from SIPp looping a µ-law WAV file: the file's
        // 58-byte header played as audio, 7 ms of clipped swings just
        // before the words.
        let mut samples = vec![0i16; 16000 / 2];
        samples.extend((0..112).map(|k| if k % 12 < 8 { i16::MIN } else { 1500 }));
        samples.extend(espeak("하얀 말", "ko", 140));
        assert_eq!(
            syllable_nuclei(&samples, 16000, &NucleiConfig::default()).len(),
            3
        );
    }
}
