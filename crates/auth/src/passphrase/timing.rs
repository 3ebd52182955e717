//! When the words of the run that matched were heard: what the timing
//! checks of [`MatchRule`](super::MatchRule) weigh.

use super::normalise::heard_words;

/// When one heard word began and ended, in seconds from the start of the
/// turn. Holds no word.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WordSpan {
    pub start: f32,
    pub end: f32,
}

/// How the words of the run that matched were spread in time: what the
/// timing checks of [`MatchRule`] weigh. Holds no words.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunTiming {
    /// Longest silence between two of its words, in seconds (0 for one word).
    pub gap: f32,
    /// The slowest word's time per syllable, in seconds.
    pub syllable_time: f32,
    /// The slowest word's time per syllable over the fastest's.
    pub stretch: f32,
    /// When the run's first word began and its last ended, in seconds
    /// from the start of the turn.
    pub start: f32,
    pub end: f32,
    /// Syllables its words have as written ([`syllables`]).
    pub syllables: usize,
}

impl RunTiming {
    /// The timing of `words` (the run, in order) heard at `spans`; `None`
    /// without a span for every word.
    pub fn of(words: &[String], spans: &[WordSpan]) -> Option<RunTiming> {
        if words.is_empty() || words.len() != spans.len() {
            return None;
        }
        let gap = spans
            .windows(2)
            .map(|pair| pair[1].start - pair[0].end)
            .fold(0.0, f32::max);
        let per_syllable: Vec<f32> = words
            .iter()
            .zip(spans)
            .map(|(word, span)| (span.end - span.start).max(0.0) / syllables(word) as f32)
            .collect();
        let slowest = per_syllable.iter().copied().fold(0.0, f32::max);
        let fastest = per_syllable.iter().copied().fold(f32::INFINITY, f32::min);
        let stretch = if fastest > 0.0 {
            slowest / fastest
        } else {
            1.0
        };
        Some(RunTiming {
            gap,
            syllable_time: slowest,
            stretch,
            start: spans[0].start,
            end: spans[spans.len() - 1].end,
            syllables: words.iter().map(|w| syllables(w)).sum(),
        })
    }
}

impl RunTiming {
    /// How many of `nuclei` (syllable nuclei heard in the turn, in seconds
    /// from its start) fall within the run's span widened by `slack`
    /// seconds either side: Vosk aligns words in 30 ms steps, and a
    /// vowel's peak of loudness may sit at a word's very edge.
    pub fn nuclei_within(&self, nuclei: &[f32], slack: f32) -> usize {
        nuclei_between(self.start, self.end, nuclei, slack)
    }
}

/// How many of `nuclei` fall from `start` to `end` (seconds), widened by
/// `slack` either side.
pub(super) fn nuclei_between(start: f32, end: f32, nuclei: &[f32], slack: f32) -> usize {
    nuclei
        .iter()
        .filter(|&&t| t >= start - slack && t <= end + slack)
        .count()
}

/// Syllables in a word: one per Hangul syllable block, otherwise one per
/// group of vowels, at least one.
pub(super) fn syllables(word: &str) -> usize {
    let hangul = word
        .chars()
        .filter(|c| ('\u{AC00}'..='\u{D7A3}').contains(c))
        .count();
    if hangul > 0 {
        return hangul;
    }
    let mut groups = 0;
    let mut in_vowel = false;
    for c in word.chars() {
        let vowel = "aeiouyàáâäèéêëìíîïòóôöùúûü".contains(c);
        if vowel && !in_vowel {
            groups += 1;
        }
        in_vowel = vowel;
    }
    groups.max(1)
}

/// The timing of the run of `length` words at `at` in `text`, from `spans`
/// (one per whitespace-separated token); `None` when the spans do not line
/// up with the words (punctuation split a token) or are missing.
pub(super) fn run_timing(
    text: &str,
    spans: &[WordSpan],
    at: usize,
    length: usize,
) -> Option<RunTiming> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    if spans.is_empty() || tokens.len() != spans.len() {
        return None;
    }
    let words = heard_words(text);
    if words.len() != tokens.len() {
        return None;
    }
    let run = words.get(at..at + length)?;
    let run: Vec<String> = run.iter().cloned().collect::<Option<Vec<String>>>()?;
    RunTiming::of(&run, spans.get(at..at + length)?)
}

#[cfg(test)]
mod tests {
    use super::super::hashing::{HashCost, PassphraseHasher, StoredPassphrase};
    use super::super::matching::{MatchRule, Verdict};
    use super::*;

    fn stored(phrase: &str) -> StoredPassphrase {
        PassphraseHasher::new(HashCost::minimum())
            .unwrap()
            .hash(phrase)
            .unwrap()
    }

    fn spans(times: &[(f32, f32)]) -> Vec<WordSpan> {
        times
            .iter()
            .map(|&(start, end)| WordSpan { start, end })
            .collect()
    }

    #[test]
    fn a_phrase_heard_apart_or_drawn_out_rejects() {
        let stored = stored("하얀 말");
        let rule = MatchRule {
            max_gap: 0.2,
            max_stretch: 2.0,
            ..MatchRule::default()
        };
        let decide = |alternatives: Vec<(&str, f32, Vec<WordSpan>)>| {
            stored.decide_timed(alternatives, &rule).unwrap()
        };
        // Said at an even pace: accepted, and the timing is reported.
        let even = decide(vec![("하얀 말", 60.0, spans(&[(1.0, 1.4), (1.45, 1.7)]))]);
        assert!(even.accepted);
        assert!(even.alternatives[0].timing.is_some());
        // A gap inside the phrase where "늙은" was left out.
        let apart = decide(vec![("하얀 말", 60.0, spans(&[(1.0, 1.4), (1.8, 2.05)]))]);
        assert!(!apart.accepted);
        assert_eq!(apart.alternatives[0].verdict, Verdict::Stretched);
        // 말 drawn over the left-out word: 0.6 s against 하얀's 0.2 a
        // syllable. A weaker alternative with the phrase must not pass
        // instead.
        let drawn = decide(vec![
            ("하얀 말", 60.0, spans(&[(1.0, 1.4), (1.4, 2.0)])),
            (
                "하얀 말 네",
                59.9,
                spans(&[(1.0, 1.4), (1.4, 1.7), (1.7, 2.0)]),
            ),
        ]);
        assert!(!drawn.accepted);
        assert_eq!(
            drawn
                .alternatives
                .iter()
                .map(|c| c.verdict)
                .collect::<Vec<_>>(),
            [Verdict::Stretched, Verdict::NotChecked]
        );
        // Only the run is weighed: words around it may be far away.
        let edge = MatchRule {
            extra_word_cost: 0.0,
            ..rule
        };
        assert!(
            stored
                .decide_timed(
                    [(
                        "네 하얀 말",
                        60.0,
                        spans(&[(0.2, 0.5), (1.0, 1.4), (1.45, 1.7)])
                    )],
                    &edge
                )
                .unwrap()
                .accepted
        );
        // Without timings, or with spans that do not line up with the
        // words, the checks do not apply.
        assert!(decide(vec![("하얀 말", 60.0, Vec::new())]).accepted);
        assert!(decide(vec![("하얀 말", 60.0, spans(&[(1.0, 1.4)]))]).accepted);
        // Off (all 0): the same gap passes.
        assert!(
            stored
                .decide_timed(
                    [("하얀 말", 60.0, spans(&[(1.0, 1.4), (1.8, 2.05)]))],
                    &MatchRule {
                        max_gap: 0.0,
                        max_stretch: 0.0,
                        ..rule
                    }
                )
                .unwrap()
                .accepted
        );
    }

    #[test]
    fn the_slowest_syllable_limit_rejects_a_long_word() {
        let stored = stored("하얀 말");
        let rule = MatchRule {
            max_syllable_time: 0.4,
            ..MatchRule::default()
        };
        let decide = |times: &[(f32, f32)]| {
            stored
                .decide_timed([("하얀 말", 60.0, spans(times))], &rule)
                .unwrap()
                .accepted
        };
        assert!(decide(&[(1.0, 1.6), (1.6, 1.95)]));
        assert!(!decide(&[(1.0, 1.6), (1.6, 2.1)]), "말 over 0.5 s");
        assert!(
            !decide(&[(1.0, 1.9), (1.9, 2.1)]),
            "하얀 over 0.45 s a syllable"
        );
    }

    #[test]
    fn run_timing_measures_gaps_and_stretch() {
        let words = ["하얀".to_string(), "말".to_string()];
        // 하얀 over 0.40 s (0.20 s a syllable), then 0.30 s of silence, then
        // 말 over 0.50 s.
        let timing = RunTiming::of(&words, &spans(&[(1.0, 1.4), (1.7, 2.2)])).unwrap();
        assert!((timing.gap - 0.3).abs() < 1e-4, "{timing:?}");
        assert!((timing.syllable_time - 0.5).abs() < 1e-4, "{timing:?}");
        assert!((timing.stretch - 2.5).abs() < 1e-4, "{timing:?}");
        // Touching words have no gap; a span per word is needed.
        let close = RunTiming::of(&words, &spans(&[(1.0, 1.4), (1.4, 1.6)])).unwrap();
        assert_eq!(close.gap, 0.0);
        assert!(RunTiming::of(&words, &spans(&[(1.0, 1.4)])).is_none());
        assert_eq!(syllables("하얀"), 2);
        assert_eq!(syllables("horse"), 2);
        assert_eq!(syllables("x"), 1);
    }

    #[test]
    fn run_timing_needs_spans_that_line_up_with_the_words() {
        let both = spans(&[(1.0, 1.4), (1.4, 1.6)]);
        assert!(run_timing("하얀 말", &both, 0, 2).is_some());
        // The run at 1 of "네 하얀 말" is timed by its own spans.
        let three = spans(&[(0.1, 0.3), (1.0, 1.4), (1.9, 2.1)]);
        let timing = run_timing("네 하얀 말", &three, 1, 2).unwrap();
        assert!((timing.gap - 0.5).abs() < 1e-4, "{timing:?}");
        assert!(run_timing("하얀 말", &[], 0, 2).is_none());
        assert!(run_timing("하얀 말", &both[..1], 0, 2).is_none());
        // Punctuation splitting a token, or an unknown word in the run.
        assert!(run_timing("하얀-말 소", &both, 0, 2).is_none());
        assert!(run_timing("하얀 [unk]", &both, 0, 2).is_none());
    }
}
