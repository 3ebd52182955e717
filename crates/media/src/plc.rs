//! Packet loss concealment for 8 kHz PCM: the pitch-waveform replication of
//! ITU-T G.711 Appendix I.
//!
//! Silence in place of a lost packet cuts a tone or a vowel in two; the recogniser hears a
//! click and a gap, the tone detector a key released and pressed again. Voiced speech and
//! tones are nearly periodic over tens of milliseconds, so the lost audio is made up by
//! repeating the last period heard:
//!
//! - The last 48.75 ms of audio are kept. When a loss begins, the pitch period (5 to 15 ms,
//!   40 to 120 samples) is the lag whose earlier 20 ms best match the last 20 ms by
//!   normalised cross-correlation.
//! - The last period is replayed in a loop; a quarter period of overlap-add where the loop
//!   closes keeps the replica free of clicks.
//! - After 10 ms of loss the loop grows to two periods, after 20 ms to three (one period
//!   repeated too long buzzes), each change blended in over a quarter period. A period
//!   much weaker than the last one is not added: it comes from before an onset.
//! - From 10 ms on the replica fades by 20 % per 10 ms, so it is silent at 60 ms: past
//!   that, repeating is more wrong than silence.
//! - The first audio after a loss is overlap-added with the replica's continuation, over a
//!   quarter period plus 4 ms for each 10 ms lost beyond the first (at most 10 ms).
//!
//! One departure from the reference: it delays all audio by 3.75 ms so that the first
//! overlap-add can rewrite the last good samples. Here audio leaves undelayed (one frame
//! out per packet in), so the step from the last good sample into the replica is
//! smoothed on the concealed side instead: the difference between the last good sample
//! and the sample the replica follows decays to nothing over the first quarter period.
//!
//! Sans-IO and allocation-free after construction: the receiver hands in decoded audio
//! and asks for made-up samples.

/// Shortest and longest pitch period searched, in samples (200 Hz down to 66.7 Hz).
const PITCH_MIN: usize = 40;
const PITCH_MAX: usize = 120;
/// Length of the stretch whose match decides the pitch (20 ms).
const CORRELATION_LEN: usize = 160;
/// The longest overlap-add: a quarter of the longest period.
const MAX_OVERLAP: usize = PITCH_MAX / 4;
/// Three of the longest periods plus the overlap before them (48.75 ms).
pub const HISTORY_LEN: usize = 3 * PITCH_MAX + MAX_OVERLAP;
/// The algorithm's step (10 ms): the loop grows, and the fade starts, on these boundaries.
const STEP: usize = 80;
/// Fade per step after the first, as a fraction of full level.
const FADE_PER_STEP: f32 = 0.2;
/// Periods replayed at most.
const MAX_PERIODS: usize = 3;
/// Extra overlap into the first good audio per step lost beyond the first (4 ms).
const END_OVERLAP_PER_STEP: usize = 32;
/// An earlier period joins the loop only with at least this fraction of the last
/// period's energy: just after an onset the earlier periods are still silence or a
/// consonant, and replaying them would cut the sound the loss interrupted.
const ONSET_ENERGY_RATIO: f32 = 0.5;
/// Correlation energy floor, so near-silent stretches do not win the pitch search.
const MIN_POWER: f32 = 250.0;

/// Conceals losses in one stream of 8 kHz PCM.
#[derive(Debug, Clone)]
pub struct LossConcealer {
    /// The last `HISTORY_LEN` samples played out, good or made up, as a
    /// ring: `history_end` is where the next one goes, so the oldest is
    /// there and the newest just before it. Kept as played (`i16`) and in a
    /// ring because every packet adds to it and only a loss reads it.
    history: [i16; HISTORY_LEN],
    history_end: usize,
    /// Snapshot of `history` at the start of a loss, reworked into the replayed loop.
    pitch_buf: [f32; HISTORY_LEN],
    /// The real last quarter period before the loss, blended in where the loop closes.
    last_quarter: [f32; MAX_OVERLAP],
    /// Samples made up in the current loss; 0 while audio arrives.
    concealed: usize,
    pitch: usize,
    overlap: usize,
    periods: usize,
    /// Position inside the loop (`periods * pitch` samples long).
    offset: usize,
    /// What the loop would have played before it grew, faded out over `overlap` samples.
    blend: [f32; MAX_OVERLAP],
    blend_left: usize,
    /// Jump from the last good sample into the replica, decaying over `overlap` samples.
    step_jump: f32,
}

impl Default for LossConcealer {
    fn default() -> Self {
        Self::new()
    }
}

impl LossConcealer {
    pub fn new() -> Self {
        LossConcealer {
            history: [0; HISTORY_LEN],
            history_end: 0,
            pitch_buf: [0.0; HISTORY_LEN],
            last_quarter: [0.0; MAX_OVERLAP],
            concealed: 0,
            pitch: PITCH_MAX,
            overlap: MAX_OVERLAP,
            periods: 1,
            offset: 0,
            blend: [0.0; MAX_OVERLAP],
            blend_left: 0,
            step_jump: 0.0,
        }
    }

    /// The pitch period (samples) of the current or last loss.
    pub fn pitch(&self) -> usize {
        self.pitch
    }

    /// Audio that arrived. After a loss its start is overlap-added with the replica's
    /// continuation (in place), so the return of real audio does not click.
    pub fn good_audio(&mut self, pcm: &mut [i16]) {
        if self.concealed > 0 {
            let steps = self.concealed.div_ceil(STEP);
            let len = (self.overlap + (steps - 1) * END_OVERLAP_PER_STEP)
                .min(STEP)
                .min(pcm.len());
            let step = 1.0 / (len + 1) as f32;
            for (i, sample) in pcm[..len].iter_mut().enumerate() {
                let made_up = self.next_replica_sample();
                let weight = (i + 1) as f32 * step;
                *sample = to_i16((1.0 - weight) * made_up + weight * *sample as f32);
            }
            self.concealed = 0;
            self.blend_left = 0;
        }
        self.remember(pcm);
    }

    /// Appends `samples` made-up samples standing for lost audio.
    pub fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        out.reserve(samples);
        let mut left = samples;
        while left > 0 {
            if self.concealed == 0 {
                self.start_loss();
            } else if self.concealed.is_multiple_of(STEP) && self.periods < MAX_PERIODS {
                self.add_period();
            }
            let chunk = left.min(STEP - self.concealed % STEP);
            let start = out.len();
            if fade(self.concealed) == 0.0 {
                // Faded out, and the fade only falls: the rest of the loss is
                // silence, whatever the loop's state, and the state is set
                // afresh when the next loss starts.
                out.resize(start + chunk, 0);
                self.concealed += chunk;
            } else {
                for _ in 0..chunk {
                    let sample = self.next_replica_sample();
                    out.push(to_i16(sample));
                }
            }
            self.remember(&out[start..]);
            left -= chunk;
        }
    }

    /// The next sample of the replica at the current fade, advancing the loss.
    fn next_replica_sample(&mut self) -> f32 {
        let index = self.concealed;
        let gain = fade(index);
        self.concealed += 1;
        if gain == 0.0 {
            return 0.0;
        }
        let looped = self.periods * self.pitch;
        let start = HISTORY_LEN - looped;
        let mut sample = self.pitch_buf[start + self.offset];
        self.offset += 1;
        if self.offset == looped {
            self.offset = 0;
        }
        if self.blend_left > 0 {
            let done = self.overlap - self.blend_left;
            let weight = (done + 1) as f32 / (self.overlap + 1) as f32;
            sample = (1.0 - weight) * self.blend[done] + weight * sample;
            self.blend_left -= 1;
        }
        if index < self.overlap {
            let left = 1.0 - (index + 1) as f32 / (self.overlap + 1) as f32;
            sample += self.step_jump * left;
        }
        sample * gain
    }

    fn start_loss(&mut self) {
        // Oldest first: from the ring's end to its top, then from its bottom.
        let (newer, older) = self.history.split_at(self.history_end);
        for (slot, &s) in self.pitch_buf.iter_mut().zip(older.iter().chain(newer)) {
            *slot = f32::from(s);
        }
        self.pitch = find_pitch(&self.pitch_buf);
        self.overlap = (self.pitch / 4).max(1);
        self.last_quarter[..self.overlap]
            .copy_from_slice(&self.pitch_buf[HISTORY_LEN - self.overlap..]);
        self.periods = 1;
        self.offset = 0;
        self.blend_left = 0;
        self.close_loop();
        // The replica resumes after the sample one period back; the audio played ended on
        // the real last sample.
        let start = HISTORY_LEN - self.pitch;
        self.step_jump = self.history_at(HISTORY_LEN - 1) - self.history_at(start - 1);
    }

    /// Makes the loop's end flow into its start: the real last quarter period fades into
    /// the quarter period that precedes the loop's first sample.
    fn close_loop(&mut self) {
        let start = HISTORY_LEN - self.periods * self.pitch;
        let n = self.overlap;
        for i in 0..n {
            let weight = (i + 1) as f32 / (n + 1) as f32;
            self.pitch_buf[HISTORY_LEN - n + i] =
                (1.0 - weight) * self.last_quarter[i] + weight * self.pitch_buf[start - n + i];
        }
    }

    /// Grows the loop by one earlier period; what the old loop would have played next is
    /// faded into the new one over a quarter period.
    fn add_period(&mut self) {
        let looped = self.periods * self.pitch;
        let start = HISTORY_LEN - looped;
        let energy = |from: usize| -> f32 {
            self.pitch_buf[from..from + self.pitch]
                .iter()
                .map(|x| x * x)
                .sum()
        };
        if energy(start - self.pitch) < ONSET_ENERGY_RATIO * energy(HISTORY_LEN - self.pitch) {
            return;
        }
        let saved_offset = self.offset;
        let mut offset = self.offset;
        for i in 0..self.overlap {
            self.blend[i] = self.pitch_buf[start + offset];
            offset += 1;
            if offset == looped {
                offset = 0;
            }
        }
        self.offset = saved_offset % self.pitch;
        self.periods += 1;
        self.close_loop();
        self.blend_left = self.overlap;
    }

    /// Adds samples played out to the history, oldest first.
    fn remember(&mut self, samples: &[i16]) {
        let samples = &samples[samples.len().saturating_sub(HISTORY_LEN)..];
        let first = samples.len().min(HISTORY_LEN - self.history_end);
        let (to_end, wrapped) = samples.split_at(first);
        self.history[self.history_end..self.history_end + first].copy_from_slice(to_end);
        self.history[..wrapped.len()].copy_from_slice(wrapped);
        self.history_end = (self.history_end + samples.len()) % HISTORY_LEN;
    }

    /// The i-th oldest sample of the history.
    fn history_at(&self, i: usize) -> f32 {
        f32::from(self.history[(self.history_end + i) % HISTORY_LEN])
    }
}

/// Level of the replica `concealed` samples into a loss: full for 10 ms, then down by 20 %
/// per 10 ms, reaching silence at 60 ms.
fn fade(concealed: usize) -> f32 {
    if concealed < STEP {
        return 1.0;
    }
    (1.0 - (concealed - STEP) as f32 * FADE_PER_STEP / STEP as f32).max(0.0)
}

/// The lag (40 to 120 samples) whose preceding 20 ms best match the last 20 ms, by
/// normalised cross-correlation; the longest among equals.
fn find_pitch(buf: &[f32; HISTORY_LEN]) -> usize {
    let target = &buf[HISTORY_LEN - CORRELATION_LEN..];
    let mut best = (PITCH_MAX, f32::MIN);
    for lag in (PITCH_MIN..=PITCH_MAX).rev() {
        let earlier = &buf[HISTORY_LEN - CORRELATION_LEN - lag..HISTORY_LEN - lag];
        let (corr, energy) = earlier
            .iter()
            .zip(target)
            .fold((0.0f32, 0.0f32), |(c, e), (&a, &b)| (c + a * b, e + a * a));
        let score = corr / energy.max(MIN_POWER).sqrt();
        if score > best.1 {
            best = (lag, score);
        }
    }
    best.0
}

fn to_i16(x: f32) -> i16 {
    x.round().clamp(i16::MIN as f32, i16::MAX as f32) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf_inband::{InbandConfig, InbandDetector, ToneDigit, DBM0_PEAK};
    use std::f32::consts::PI;

    fn sine(freq: f32, amplitude: f32, samples: usize) -> Vec<i16> {
        (0..samples)
            .map(|n| (amplitude * (2.0 * PI * freq * n as f32 / 8000.0).sin()).round() as i16)
            .collect()
    }

    /// The key `0` (941 + 1336 Hz) at -10 dBm0 per tone.
    fn key_zero(samples: usize) -> Vec<i16> {
        let a = DBM0_PEAK * 10f32.powf(-10.0 / 20.0);
        (0..samples)
            .map(|n| {
                let t = n as f32 / 8000.0;
                (a * ((2.0 * PI * 941.0 * t).sin() + (2.0 * PI * 1336.0 * t).sin())).round() as i16
            })
            .collect()
    }

    /// `signal` as a receiver would play it with the samples in `lost` missing: made up by
    /// the concealer, or zeros.
    fn through_loss(signal: &[i16], lost: std::ops::Range<usize>, conceal: bool) -> Vec<i16> {
        let mut plc = LossConcealer::new();
        let mut out = Vec::new();
        for (start, packet) in signal.chunks(160).enumerate().map(|(i, p)| (i * 160, p)) {
            if lost.contains(&start) {
                if conceal {
                    plc.conceal(packet.len(), &mut out);
                } else {
                    out.resize(out.len() + packet.len(), 0);
                }
            } else {
                let mut good = packet.to_vec();
                plc.good_audio(&mut good);
                out.extend(good);
            }
        }
        out
    }

    fn correlation(a: &[i16], b: &[i16]) -> f32 {
        let dot: f32 = a.iter().zip(b).map(|(&x, &y)| x as f32 * y as f32).sum();
        let ea: f32 = a.iter().map(|&x| (x as f32).powi(2)).sum();
        let eb: f32 = b.iter().map(|&x| (x as f32).powi(2)).sum();
        dot / (ea * eb).sqrt().max(1.0)
    }

    fn rms(x: &[i16]) -> f32 {
        (x.iter().map(|&s| (s as f32).powi(2)).sum::<f32>() / x.len().max(1) as f32).sqrt()
    }

    fn largest_step(x: &[i16]) -> i32 {
        x.windows(2)
            .map(|w| (w[1] as i32 - w[0] as i32).abs())
            .max()
            .unwrap_or(0)
    }

    fn detect(pcm: &[i16]) -> Vec<ToneDigit> {
        let mut detector = InbandDetector::new(InbandConfig::default());
        detector.push_samples(pcm);
        detector.push_samples(&[0; 800]);
        detector.finish();
        std::iter::from_fn(|| detector.poll_digit()).collect()
    }

    fn durations(digits: &[ToneDigit]) -> Vec<(char, u128)> {
        digits
            .iter()
            .map(|d| (d.digit.as_char(), d.duration.as_millis()))
            .collect()
    }

    #[test]
    fn the_history_ring_holds_the_last_samples_played_oldest_first() {
        let mut plc = LossConcealer::new();
        let mut played: Vec<i16> = vec![0; HISTORY_LEN];
        let mut next = 1i16;
        // Lengths that wrap the ring, fill it exactly, and overflow it.
        for len in [160, 7, 390, 80, 1, 391, 1000, 159, 160, 0, 233] {
            let samples: Vec<i16> = (0..len)
                .map(|_| {
                    next = next.wrapping_mul(31).wrapping_add(7);
                    next
                })
                .collect();
            plc.remember(&samples);
            played.extend(&samples);
            let expected = &played[played.len() - HISTORY_LEN..];
            let ring: Vec<f32> = (0..HISTORY_LEN).map(|i| plc.history_at(i)).collect();
            let expected: Vec<f32> = expected.iter().map(|&s| f32::from(s)).collect();
            assert_eq!(ring, expected, "after {len} samples");
        }
    }

    #[test]
    fn a_lost_stretch_of_a_sine_is_replayed_in_phase_then_fades() {
        let original = sine(440.0, 8000.0, 8000);
        for gap in [160, 480] {
            let played = through_loss(&original, 4160..4160 + gap, true);
            assert_eq!(played.len(), original.len());
            let lost = |from_ms: usize, to_ms: usize| 4160 + from_ms * 8..4160 + to_ms * 8;
            let first_10 = correlation(&played[lost(0, 10)], &original[lost(0, 10)]);
            let first_20 = correlation(&played[lost(0, 20)], &original[lost(0, 20)]);
            assert!(first_10 > 0.99, "{gap}: first 10 ms correlate {first_10}");
            assert!(first_20 > 0.98, "{gap}: first 20 ms correlate {first_20}");
            let level = rms(&original[lost(0, 10)]);
            assert!((rms(&played[lost(0, 10)]) / level - 1.0).abs() < 0.05);
            // Full level for 10 ms, then 20 % less per 10 ms.
            let faded = rms(&played[lost(10, 20)]) / level;
            assert!((0.85..0.95).contains(&faded), "{gap}: 10-20 ms at {faded}");
            if gap == 480 {
                let last = rms(&played[lost(50, 60)]) / level;
                assert!(last < 0.15, "50-60 ms at {last}");
            }
            // No click at either end: no step larger than the sine's own steepest one.
            let steepest = largest_step(&original);
            let edges = 4160 - 80..4160 + gap + 160;
            assert!(
                largest_step(&played[edges.clone()]) <= steepest + steepest / 10,
                "{gap}: step {} against the sine's {steepest}",
                largest_step(&played[edges])
            );
            let zeros = through_loss(&original, 4160..4160 + gap, false);
            assert!(largest_step(&zeros) > steepest * 2, "silence would click");
        }
    }

    #[test]
    fn a_loss_made_up_in_pieces_is_the_loss_made_up_at_once() {
        let mut plc = LossConcealer::new();
        let mut voiced = sine(180.0, 8000.0, 800);
        plc.good_audio(&mut voiced);
        let mut pieces = plc.clone();
        let mut at_once = Vec::new();
        plc.conceal(1000, &mut at_once);
        let mut in_pieces = Vec::new();
        for n in [1, 79, 80, 160, 7, 233, 400, 20, 20] {
            pieces.conceal(n, &mut in_pieces);
        }
        assert_eq!(in_pieces, at_once);
        assert!(
            at_once[..480].iter().any(|&s| s != 0),
            "the replica plays first"
        );
        assert!(
            at_once[480..].iter().all(|&s| s == 0),
            "then silence from 60 ms"
        );
        // What follows the loss fades in the same way from either.
        let mut after = sine(180.0, 8000.0, 160);
        let mut after_pieces = after.clone();
        plc.good_audio(&mut after);
        pieces.good_audio(&mut after_pieces);
        assert_eq!(after, after_pieces);
    }

    #[test]
    fn beyond_60_ms_the_loss_is_silent_and_audio_fades_back_in() {
        let original = sine(440.0, 8000.0, 8000);
        let played = through_loss(&original, 4000..4800, true);
        assert!(played[4480..4800].iter().all(|&s| s == 0));
        let steepest = largest_step(&original);
        assert!(largest_step(&played[4800..4960]) <= steepest);
        assert_eq!(&played[4960..], &original[4960..], "then audio as sent");
    }

    #[test]
    fn the_pitch_is_the_period_of_a_voiced_sound() {
        // A 100 Hz "voice": its fundamental and two harmonics, period 80 samples.
        let voiced: Vec<i16> = (0..1600)
            .map(|n| {
                let t = 2.0 * PI * 100.0 * n as f32 / 8000.0;
                (4000.0 * t.sin() + 2500.0 * (2.0 * t).sin() + 1200.0 * (3.0 * t).sin()) as i16
            })
            .collect();
        let mut plc = LossConcealer::new();
        let mut good = voiced.clone();
        plc.good_audio(&mut good);
        let mut out = Vec::new();
        plc.conceal(160, &mut out);
        assert_eq!(plc.pitch(), 80);
        assert!(correlation(&out, &voiced[..160]) > 0.99);
    }

    #[test]
    fn silence_before_a_loss_stays_silence() {
        let mut plc = LossConcealer::new();
        plc.good_audio(&mut [0; 400]);
        let mut out = Vec::new();
        plc.conceal(320, &mut out);
        assert_eq!(out, vec![0; 320]);
    }

    #[test]
    fn odd_sized_losses_and_packets_keep_the_sample_count() {
        let original = sine(300.0, 6000.0, 4000);
        let mut plc = LossConcealer::new();
        let mut out = Vec::new();
        let mut at = 0;
        for (len, lost) in [
            (240, false),
            (37, true),
            (100, false),
            (250, true),
            (500, false),
        ] {
            if lost {
                plc.conceal(len, &mut out);
            } else {
                let mut good = original[at..at + len].to_vec();
                plc.good_audio(&mut good);
                out.extend(good);
            }
            at += len;
        }
        assert_eq!(out.len(), at);
        assert!(correlation(&out[240..277], &original[240..277]) > 0.99);
    }

    #[test]
    fn a_key_press_missing_one_packet_keeps_its_full_duration() {
        // 100 ms of the key 0 in five 20 ms packets, one of the middle three lost.
        let mut pcm = vec![0; 800];
        pcm.extend(key_zero(800));
        pcm.extend(vec![0; 800]);
        let mut zero_filled = Vec::new();
        for packet in 6..=8 {
            let lost = packet * 160..packet * 160 + 1;
            let concealed = detect(&through_loss(&pcm, lost.clone(), true));
            assert_eq!(durations(&concealed), vec![('0', 100)], "packet {packet}");
            zero_filled.push(durations(&detect(&through_loss(&pcm, lost, false))));
        }
        // Silence in its place cuts the press to 60 ms when the second packet is lost.
        assert_eq!(
            zero_filled,
            vec![vec![('0', 60)], vec![('0', 100)], vec![('0', 100)]]
        );
    }

    #[test]
    fn short_key_presses_survive_a_lost_packet_that_silence_would_drop() {
        // 60 ms presses (Q.24 receivers must take 40 ms), each alignment to the packets,
        // every packet after the first lost in turn.
        let (mut heard, mut heard_zero_filled, mut cases) = (0, 0, 0);
        for align in (0..160).step_by(20) {
            let mut pcm = vec![0; 800 + align];
            pcm.extend(key_zero(480));
            pcm.extend(vec![0; 800]);
            let first = (800 + align) / 160;
            let last = (800 + align + 479) / 160;
            for packet in first + 1..=last {
                let lost = packet * 160..packet * 160 + 1;
                // At least 10 ms of the tone before the loss to repeat.
                if packet * 160 - (800 + align) < 80 {
                    continue;
                }
                cases += 1;
                let concealed = detect(&through_loss(&pcm, lost.clone(), true));
                heard += (concealed.len() == 1) as u32;
                let zeros = detect(&through_loss(&pcm, lost, false));
                heard_zero_filled += (zeros.len() == 1) as u32;
            }
        }
        assert_eq!(heard, cases, "concealed");
        // Silence in place of the packet loses 5 of these 20 presses.
        assert!(
            heard_zero_filled * 4 <= cases * 3,
            "zero-filled: {heard_zero_filled} of {cases}"
        );
    }
}
