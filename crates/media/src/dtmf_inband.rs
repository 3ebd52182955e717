//! In-band DTMF: a Goertzel detector for trunks that send keys as audio tones.
//!
//! Analysis windows of 160 samples (20 ms at 8 kHz, 50 Hz resolution, enough to separate
//! the 697/770 Hz rows) overlap by half, so a decision is made every 10 ms. A window is a
//! hit for a key when, in the style of ITU-T Q.24 receivers:
//! - both its row and column tone reach `min_level_dbm0`;
//! - the twist is acceptable: the low (row) group may be up to `normal_twist_db` louder
//!   than the high (column) group, the high group up to `reverse_twist_db` louder;
//! - each tone beats the other tones of its group by `relative_peak_db`;
//! - each tone beats its own second harmonic by `harmonic_rejection_db` (speech and
//!   music have harmonics, a DTMF generator does not);
//! - the two tones carry at least `min_tone_energy_fraction` of the window's energy.
//!
//! A key is accepted after enough consecutive hits to prove `min_duration`, and reported
//! (once, with its duration) after `min_pause` of non-hits, so a short drop-out inside
//! one tone does not turn into two presses.

use std::collections::VecDeque;
use std::f32::consts::PI;
use std::time::Duration;

use crate::digit::Digit;

const WINDOW: usize = 160;
const HOP: usize = 80;
const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLUMNS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// Peak amplitude of a 0 dBm0 sine in 16-bit linear PCM (G.711 full scale is +3.17 dBm0).
pub const DBM0_PEAK: f32 = 22_706.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InbandConfig {
    pub sample_rate: u32,
    pub min_level_dbm0: f32,
    pub normal_twist_db: f32,
    pub reverse_twist_db: f32,
    pub relative_peak_db: f32,
    pub harmonic_rejection_db: f32,
    pub min_tone_energy_fraction: f32,
    pub min_duration: Duration,
    pub min_pause: Duration,
}

impl Default for InbandConfig {
    fn default() -> Self {
        InbandConfig {
            sample_rate: 8000,
            min_level_dbm0: -30.0,
            normal_twist_db: 8.0,
            reverse_twist_db: 4.0,
            relative_peak_db: 8.0,
            harmonic_rejection_db: 10.0,
            min_tone_energy_fraction: 0.8,
            min_duration: Duration::from_millis(40),
            min_pause: Duration::from_millis(40),
        }
    }
}

/// A key press heard as tones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToneDigit {
    pub digit: Digit,
    /// From the start of the first to the end of the last window that heard it.
    pub duration: Duration,
    /// Sample index (since the detector was created) where the tone was last heard.
    pub end_sample: u64,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    digit: Digit,
    hits: usize,
    start: u64,
    end: u64,
    misses: usize,
}

#[derive(Debug)]
pub struct InbandDetector {
    config: InbandConfig,
    /// Rows then columns, run as one bank so the eight filters share each sample load.
    tone_coeffs: [f32; 8],
    row_harmonic_coeffs: [f32; 4],
    column_harmonic_coeffs: [f32; 4],
    min_tone_power: f32,
    hits_needed: usize,
    misses_needed: usize,
    pending: Vec<f32>,
    /// Sample index of `pending[0]`.
    position: u64,
    candidate: Option<Run>,
    active: Option<Run>,
    out: VecDeque<ToneDigit>,
}

impl InbandDetector {
    pub fn new(config: InbandConfig) -> Self {
        let rate = config.sample_rate.max(1) as f32;
        let coeff = |f: f32| 2.0 * (2.0 * PI * f / rate).cos();
        let samples = |d: Duration| (d.as_secs_f32() * rate) as usize;
        let amplitude = DBM0_PEAK * db_to_amplitude(config.min_level_dbm0);
        InbandDetector {
            config,
            tone_coeffs: std::array::from_fn(|i| {
                coeff(if i < 4 { ROWS[i] } else { COLUMNS[i - 4] })
            }),
            row_harmonic_coeffs: ROWS.map(|f| coeff(2.0 * f)),
            column_harmonic_coeffs: COLUMNS.map(|f| coeff(2.0 * f)),
            // A sine of amplitude A over N samples has Goertzel power (A N / 2)^2.
            min_tone_power: (amplitude * WINDOW as f32 / 2.0).powi(2),
            // Every alignment of a min_duration tone fully covers this many windows.
            hits_needed: (samples(config.min_duration).saturating_sub(WINDOW) / HOP).max(1),
            misses_needed: (samples(config.min_pause) / HOP).max(1),
            pending: Vec::with_capacity(2 * WINDOW),
            position: 0,
            candidate: None,
            active: None,
            out: VecDeque::new(),
        }
    }

    /// Feeds PCM of any length (normally one 20 ms frame).
    pub fn push_samples(&mut self, pcm: &[i16]) {
        self.pending.extend(pcm.iter().map(|&s| s as f32));
        while self.pending.len() >= WINDOW {
            let hit = self.classify(&self.pending[..WINDOW]);
            let start = self.position;
            self.track(hit, start, start + WINDOW as u64);
            self.pending.drain(..HOP);
            self.position += HOP as u64;
        }
    }

    /// Reports a key still sounding (end of the call or of a collection).
    pub fn finish(&mut self) {
        if let Some(run) = self.active.take() {
            self.report(run);
        }
        self.candidate = None;
    }

    pub fn poll_digit(&mut self) -> Option<ToneDigit> {
        self.out.pop_front()
    }

    fn track(&mut self, hit: Option<Digit>, start: u64, end: u64) {
        if let Some(active) = &mut self.active {
            if hit == Some(active.digit) {
                active.misses = 0;
                active.end = end;
                return;
            }
            active.misses += 1;
            if active.misses >= self.misses_needed {
                let run = *active;
                self.active = None;
                self.report(run);
            }
        }
        self.candidate = match (self.candidate, hit) {
            (Some(mut run), Some(d)) if run.digit == d => {
                run.hits += 1;
                run.end = end;
                Some(run)
            }
            (_, Some(digit)) => Some(Run {
                digit,
                hits: 1,
                start,
                end,
                misses: 0,
            }),
            (_, None) => None,
        };
        if self.active.is_none() {
            if let Some(run) = self.candidate.filter(|r| r.hits >= self.hits_needed) {
                self.active = Some(run);
                self.candidate = None;
            }
        }
    }

    fn report(&mut self, run: Run) {
        let rate = self.config.sample_rate.max(1) as u64;
        self.out.push_back(ToneDigit {
            digit: run.digit,
            duration: Duration::from_micros((run.end - run.start) * 1_000_000 / rate),
            end_sample: run.end,
        });
    }

    fn classify(&self, window: &[f32]) -> Option<Digit> {
        let bank = goertzel_bank(window, &self.tone_coeffs);
        let rows = [bank[0], bank[1], bank[2], bank[3]];
        let columns = [bank[4], bank[5], bank[6], bank[7]];
        let (r, row) = strongest(&rows);
        let (c, column) = strongest(&columns);
        if row < self.min_tone_power || column < self.min_tone_power {
            return None;
        }
        let cfg = &self.config;
        if row > column * db_to_power(cfg.normal_twist_db)
            || column > row * db_to_power(cfg.reverse_twist_db)
        {
            return None;
        }
        let peak = db_to_power(cfg.relative_peak_db);
        let beats_others = |powers: &[f32; 4], best: usize| {
            powers
                .iter()
                .enumerate()
                .all(|(i, &p)| i == best || powers[best] >= p * peak)
        };
        if !beats_others(&rows, r) || !beats_others(&columns, c) {
            return None;
        }
        let harmonic = db_to_power(cfg.harmonic_rejection_db);
        if row < goertzel(window, self.row_harmonic_coeffs[r]) * harmonic
            || column < goertzel(window, self.column_harmonic_coeffs[c]) * harmonic
        {
            return None;
        }
        // Goertzel power P of a tone equals (N/2) times that tone's energy in the window.
        let energy: f32 = window.iter().map(|x| x * x).sum();
        let tone_energy = (row + column) * 2.0 / WINDOW as f32;
        if tone_energy < cfg.min_tone_energy_fraction * energy {
            return None;
        }
        Digit::from_char(KEYS[r][c])
    }
}

/// Several Goertzel filters over one window, stepped together so the compiler can keep
/// them in one vector register.
fn goertzel_bank<const K: usize>(window: &[f32], coeffs: &[f32; K]) -> [f32; K] {
    let mut s1 = [0.0f32; K];
    let mut s2 = [0.0f32; K];
    for &x in window {
        for k in 0..K {
            let s0 = x + coeffs[k] * s1[k] - s2[k];
            s2[k] = s1[k];
            s1[k] = s0;
        }
    }
    std::array::from_fn(|k| s1[k] * s1[k] + s2[k] * s2[k] - coeffs[k] * s1[k] * s2[k])
}

fn goertzel(window: &[f32], coeff: f32) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in window {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

fn strongest(powers: &[f32; 4]) -> (usize, f32) {
    powers.iter().copied().enumerate().fold(
        (0, f32::MIN),
        |best, (i, p)| if p > best.1 { (i, p) } else { best },
    )
}

fn db_to_power(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

fn db_to_amplitude(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711::G711;

    const RATE: f32 = 8000.0;

    /// Deterministic uniform noise in [-1, 1).
    struct Noise(u32);
    impl Noise {
        fn next(&mut self) -> f32 {
            self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (self.0 >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        }
    }

    fn freqs(key: char) -> (f32, f32) {
        for (r, row) in KEYS.iter().enumerate() {
            if let Some(c) = row.iter().position(|&k| k == key) {
                return (ROWS[r], COLUMNS[c]);
            }
        }
        panic!("no key {key}");
    }

    /// Two tones at the given levels (dBm0 each), as f32 to allow adding noise first.
    fn tone(key: char, ms: usize, row_dbm0: f32, col_dbm0: f32) -> Vec<f32> {
        let (fr, fc) = freqs(key);
        let (ar, ac) = (
            DBM0_PEAK * db_to_amplitude(row_dbm0),
            DBM0_PEAK * db_to_amplitude(col_dbm0),
        );
        (0..ms * 8)
            .map(|n| {
                let t = n as f32 / RATE;
                ar * (2.0 * PI * fr * t).sin() + ac * (2.0 * PI * fc * t).sin()
            })
            .collect()
    }

    fn silence(ms: usize) -> Vec<f32> {
        vec![0.0; ms * 8]
    }

    fn to_pcm(signal: &[f32]) -> Vec<i16> {
        signal
            .iter()
            .map(|&x| x.round().clamp(-32768.0, 32767.0) as i16)
            .collect()
    }

    fn add_noise(signal: &mut [f32], snr_db: f32, seed: u32) {
        let power: f32 = signal.iter().map(|x| x * x).sum::<f32>() / signal.len() as f32;
        // Uniform noise on [-a, a) has power a^2 / 3.
        let a = (3.0 * power / db_to_power(snr_db)).sqrt();
        let mut noise = Noise(seed);
        for x in signal {
            *x += a * noise.next();
        }
    }

    fn detect(pcm: &[i16]) -> Vec<ToneDigit> {
        let mut d = InbandDetector::new(InbandConfig::default());
        for frame in pcm.chunks(160) {
            d.push_samples(frame);
        }
        d.finish();
        std::iter::from_fn(|| d.poll_digit()).collect()
    }

    fn keys_of(digits: &[ToneDigit]) -> String {
        digits.iter().map(|d| d.digit.as_char()).collect()
    }

    fn through_ulaw(pcm: &[i16]) -> Vec<i16> {
        let mut codes = Vec::new();
        G711::Ulaw.encode(pcm, &mut codes);
        let mut back = Vec::new();
        G711::Ulaw.decode(&codes, &mut back);
        back
    }

    const ALL: &str = "123A456B789C*0#D";

    fn sequence(keys: &str, on_ms: usize, off_ms: usize, level: f32) -> Vec<f32> {
        let mut s = silence(off_ms);
        for key in keys.chars() {
            s.extend(tone(key, on_ms, level, level));
            s.extend(silence(off_ms));
        }
        s
    }

    #[test]
    fn all_sixteen_keys_are_detected_once_with_duration() {
        let digits = detect(&to_pcm(&sequence(ALL, 100, 60, -10.0)));
        assert_eq!(keys_of(&digits), ALL);
        for d in &digits {
            let ms = d.duration.as_millis();
            assert!((80..=100).contains(&ms), "{} lasted {ms} ms", d.digit);
        }
    }

    #[test]
    fn all_keys_survive_ulaw_at_15_db_snr() {
        for seed in 1..4 {
            let mut signal = sequence(ALL, 70, 50, -20.0);
            add_noise(&mut signal, 15.0, seed);
            let digits = detect(&through_ulaw(&to_pcm(&signal)));
            assert_eq!(keys_of(&digits), ALL, "seed {seed}");
        }
    }

    #[test]
    fn forty_ms_tones_count_and_twenty_ms_tones_do_not_at_any_alignment() {
        for offset in (0..160).step_by(13) {
            let mut s = silence(0);
            s.extend(vec![0.0; offset]);
            s.extend(tone('5', 40, -10.0, -10.0));
            s.extend(silence(60));
            assert_eq!(
                keys_of(&detect(&to_pcm(&s))),
                "5",
                "40 ms at offset {offset}"
            );

            let mut short = vec![0.0; offset];
            short.extend(tone('5', 20, -10.0, -10.0));
            short.extend(silence(60));
            assert_eq!(
                keys_of(&detect(&to_pcm(&short))),
                "",
                "20 ms at offset {offset}"
            );
        }
    }

    #[test]
    fn a_pause_separates_repeated_keys_but_a_drop_out_does_not() {
        let mut s = tone('7', 80, -10.0, -10.0);
        s.extend(silence(40));
        s.extend(tone('7', 80, -10.0, -10.0));
        s.extend(silence(60));
        assert_eq!(keys_of(&detect(&to_pcm(&s))), "77");

        let mut d = tone('7', 80, -10.0, -10.0);
        d.extend(silence(10));
        d.extend(tone('7', 80, -10.0, -10.0));
        d.extend(silence(60));
        let digits = detect(&to_pcm(&d));
        assert_eq!(keys_of(&digits), "7");
        assert!(digits[0].duration >= Duration::from_millis(150));
    }

    #[test]
    fn level_threshold() {
        let quiet = sequence("159", 80, 60, -25.0);
        assert_eq!(keys_of(&detect(&to_pcm(&quiet))), "159");
        let too_quiet = sequence("159", 80, 60, -40.0);
        assert_eq!(keys_of(&detect(&to_pcm(&too_quiet))), "");
    }

    #[test]
    fn twist_limits() {
        let with_twist = |row: f32, col: f32| {
            let mut s = tone('8', 80, row, col);
            s.extend(silence(60));
            keys_of(&detect(&to_pcm(&s)))
        };
        assert_eq!(with_twist(-10.0, -16.0), "8", "6 dB normal twist is fine");
        assert_eq!(
            with_twist(-10.0, -20.0),
            "",
            "10 dB normal twist is too much"
        );
        assert_eq!(with_twist(-13.0, -10.0), "8", "3 dB reverse twist is fine");
        assert_eq!(
            with_twist(-16.0, -10.0),
            "",
            "6 dB reverse twist is too much"
        );
    }

    #[test]
    fn single_tones_and_tones_with_harmonics_are_rejected() {
        let (fr, fc) = freqs('1');
        let a = DBM0_PEAK * db_to_amplitude(-10.0);
        let single: Vec<f32> = (0..800)
            .map(|n| a * (2.0 * PI * fr * n as f32 / RATE).sin())
            .collect();
        assert_eq!(keys_of(&detect(&to_pcm(&single))), "");
        // A key plus second harmonics 8 dB down, as a non-linear source gives: the tones
        // still carry 86 % of the energy, so only the harmonic check rejects it.
        let distorted: Vec<f32> = (0..800)
            .map(|n| {
                let t = n as f32 / RATE;
                a * ((2.0 * PI * fr * t).sin()
                    + (2.0 * PI * fc * t).sin()
                    + 0.4 * (4.0 * PI * fr * t).sin()
                    + 0.4 * (4.0 * PI * fc * t).sin())
            })
            .collect();
        assert_eq!(keys_of(&detect(&to_pcm(&distorted))), "");
    }

    #[test]
    fn white_noise_gives_no_digits() {
        let mut noise = Noise(7);
        let pcm: Vec<f32> = (0..8000 * 10).map(|_| 8000.0 * noise.next()).collect();
        assert_eq!(keys_of(&detect(&to_pcm(&pcm))), "");
    }

    /// Voiced-speech stand-in: a glottal-like harmonic series whose pitch glides, shaped
    /// by two moving formants, in syllables. Many pitch tracks are tried so that some
    /// harmonics pass right over DTMF row and column frequencies.
    fn speech_like(seconds: f32, pitch_lo: f32, pitch_hi: f32, seed: u32) -> Vec<f32> {
        let mut noise = Noise(seed);
        let n = (seconds * RATE) as usize;
        let mut phase = 0.0f32;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let t = i as f32 / RATE;
            let glide = 0.5 + 0.5 * (2.0 * PI * 0.7 * t).sin();
            let f0 = pitch_lo + (pitch_hi - pitch_lo) * glide;
            phase += 2.0 * PI * f0 / RATE;
            let f1 = 500.0 + 300.0 * (2.0 * PI * 1.3 * t).sin();
            let f2 = 1500.0 + 500.0 * (2.0 * PI * 0.9 * t + 1.0).sin();
            let mut x = 0.0;
            let mut k = 1.0;
            while k * f0 < 3600.0 {
                let f = k * f0;
                let formant = 1.0 / (1.0 + ((f - f1) / 150.0).powi(2))
                    + 0.6 / (1.0 + ((f - f2) / 200.0).powi(2));
                x += formant / k.sqrt() * (k * phase).sin();
                k += 1.0;
            }
            let syllable = (2.0 * PI * 3.0 * t).sin().abs();
            out.push(6000.0 * syllable * x + 50.0 * noise.next());
        }
        out
    }

    #[test]
    fn speech_like_signals_give_no_digits() {
        let tracks = [
            (85.0, 160.0),
            (100.0, 240.0),
            (150.0, 300.0),
            (180.0, 380.0),
        ];
        for (i, (lo, hi)) in tracks.into_iter().enumerate() {
            let speech = to_pcm(&speech_like(6.0, lo, hi, i as u32 + 1));
            assert_eq!(keys_of(&detect(&speech)), "", "pitch {lo}-{hi} Hz");
            assert_eq!(
                keys_of(&detect(&through_ulaw(&speech))),
                "",
                "µ-law {lo}-{hi}"
            );
        }
    }

    #[test]
    fn a_key_is_found_inside_speech_like_audio() {
        let mut s = speech_like(1.0, 100.0, 200.0, 9);
        s.extend(tone('#', 100, -10.0, -10.0));
        s.extend(speech_like(1.0, 100.0, 200.0, 10));
        assert_eq!(keys_of(&detect(&through_ulaw(&to_pcm(&s)))), "#");
    }

    #[test]
    fn reports_after_the_pause_not_during_the_tone() {
        let mut d = InbandDetector::new(InbandConfig::default());
        d.push_samples(&to_pcm(&tone('3', 200, -10.0, -10.0)));
        assert_eq!(d.poll_digit(), None, "still sounding");
        d.push_samples(&to_pcm(&silence(60)));
        let digit = d.poll_digit().unwrap();
        assert_eq!(digit.digit.as_char(), '3');
        assert!(digit.end_sample <= 1600 && digit.end_sample >= 1500);
        assert_eq!(d.poll_digit(), None);
    }
}
