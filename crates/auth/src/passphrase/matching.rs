use serde::{Deserialize, Serialize};

use super::hashing::{PassphraseError, StoredPassphrase};
use super::normalise::{heard_words, NormalisedPhrase};
use super::timing::{nuclei_between, run_timing, syllables, RunTiming, WordSpan};
use runs::{mark_best_with_word_inside, split_runs};

mod runs;

/// The passphrase decision over the recognizer's scored N-best list.
///
/// Each alternative has a score (Vosk's N-best `confidence`: the total
/// log-likelihood of that hypothesis, higher is better). An alternative
/// counts at a cost: how far it scores below the best one, plus
/// `extra_word_cost` for each word before the phrase and
/// `trailing_word_cost` for each word after it. It is searched for the
/// phrase only while that cost is within `margin`, so a near miss recognised
/// correctly ("하얀 예쁜 말") does not pass on a much weaker alternative that
/// dropped the middle word. The phrase must be a contiguous run of words: a
/// word inside it, and an unknown-word token anywhere in the run, is a
/// mismatch. With `reject_words_inside`, an alternative that has the
/// phrase's words with other words inside them ends the decision as a
/// rejection, whatever its cost: the recognizer heard something between
/// the words at least as well as any weaker alternative that leaves it out.
/// Only the runs are compared, each by Argon2 verification.
///
/// With `min_lead`, the match must also be clear: every alternative
/// without the phrase must score at least that far below the one that
/// matched, or the recognizer could not tell the phrase from something else.
/// With `inside_lead`, so must every alternative with the phrase's words and
/// other words inside them, though it hold the phrase too ("하얀 말 말"): the
/// recognizer heard a word inside the phrase almost as well as the phrase.
///
/// With `merge_repeated_words`, a call the alternatives as heard do not
/// pass is decided once more on the same alternatives with each word heard
/// twice in a row, the second beginning within `repeat_max_gap` seconds of
/// the first's end, counted once ("하얀 하얀 말" is "하얀 말"): the decoder
/// splits a slow caller's drawn-out word in two pieces that touch, while a
/// different word heard as a repeat ("하얀 작은 말" as "하얀 하얀 말") was
/// heard apart. Words without timings are never merged. The alternatives as
/// heard go first, so a phrase that repeats a word itself ("말 말") still
/// matches.
///
/// With `count_syllables`, the run that matched must not span more
/// syllable nuclei (voiced peaks of loudness the recognizer counted in the
/// caller's audio, [`StoredPassphrase::decide_heard`]) than its words have
/// syllables plus `max_extra_syllables`: the decoder, listening for a
/// closed list of words, leaves a word outside it out ("하얀 (멋진) 말"
/// heard as "하얀 말"), but the word's vowels are still in the audio. The
/// span is the run's first word's start to its last word's end, widened by
/// `syllable_slack` seconds either side.
///
/// With `set_aside_unheard` as well, an alternative whose words have more
/// syllables than nuclei were heard within its span, beyond
/// `max_unheard_syllables`, is not what was said and is set aside before
/// anything is decided: it is not the best, nor a match, nor a rival. The
/// decoder pads a slow caller's words with words it knows ("하얀 말" heard
/// as "하얀 하나", "하얀 둘 말"), whose syllables the audio does not have.
///
/// The defaults come from the accuracy benchmark's TUNING set (espeak-ng
/// Korean voices `ko`, `ko+f2`, `ko+m3` at 110, 130, 175 and 210 words a
/// minute, through a call's G.711 receive path with loss, in the shipped
/// vocabulary mode; `bench/passphrase_tuning.py`): the true phrase's
/// matching alternative scored up to 0.29 below the best. A word before
/// the phrase costing less than the margin let near misses through ("파란
/// 말" heard as "말 하얀 말", "말 하얀" swapped), so one such word alone
/// costs more than the margin; a word after it did not, and slow speech
/// came out with one ("하얀 말 하나" at the top): any `trailing_word_cost`
/// from 0 to 0.45 took 3 more of 396 true phrases and no near miss more of
/// 1116; 0.45, the largest of them, lets the fewest edge words pass. A near
/// miss heard as the phrase ("파란 말") had its own words 0.57-0.58 behind,
/// the true phrase's nearest rival was 0.71 or more behind at 0 % loss:
/// `min_lead` 0.6. A near miss with a word inserted and heard as the
/// phrase often had the inserted word in a lower alternative ("하얀 말
/// 104.21 | 하얀 둘 말 103.03"); of 346 true phrases accepted, 3 had one, at
/// most 0.88 behind, of 22 near misses 9, up to 1.46 behind: `inside_lead`
/// 1.5 turned those 9 away and the 3. Slow speech came out with a word
/// split in two touching pieces ("하얀 하얀 말", "하얀 말 말"), but so did
/// a one-syllable word inserted ("하얀 새 말" as "하얀 말 말", 말 0.15 s then 0.24 s): merging
/// touching repeats took 4 more of 36 slow true phrases and let 9 more of
/// 72 inserted-word near misses through. Every inserted-word near miss the
/// rest of the rule let through (16) spanned one or two syllable nuclei
/// beyond the run's syllables, and none of 75 true phrases that matched
/// did: `max_extra_syllables` 0, at the narrowest `syllable_slack` (0.1 s)
/// that caught all 16. Every true phrase the rule then rejected was slow
/// speech padded by the decoder: each reading above the phrase had more
/// syllables than the three nuclei heard. Setting those aside
/// (`max_unheard_syllables` 0; 1 set aside none of them) and merging
/// touching repeats accepts 30, 28, 27 of 30 true phrases at 0, 5, 10 %
/// loss (25, 23, 25 without) and 0, 1, 1 of 150 near misses (0, 1, 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchRule {
    /// Largest cost (score below the best alternative plus edge words) at
    /// which an alternative still counts.
    pub margin: f32,
    /// What each extra word before the phrase adds to the cost.
    pub extra_word_cost: f32,
    /// What each extra word after the phrase adds to the cost.
    pub trailing_word_cost: f32,
    /// Extra words an alternative may have around the phrase at most.
    pub max_extra_words: usize,
    /// Argon2 runs per check at most: bounds the CPU one call can spend.
    pub max_candidates: usize,
    /// An alternative that has the phrase's words with other words inside
    /// ("하얀 네 말") rejects the call: no alternative below it counts.
    pub reject_words_inside: bool,
    /// How far the alternative that matched must score above every
    /// alternative without the phrase (a rival): a rival closer than this
    /// means the recognizer could not tell the phrase from something else,
    /// and the call is rejected. 0 turns the check off.
    pub min_lead: f32,
    /// How far below the alternative that matched every alternative with
    /// the phrase's words and other words inside them ("하얀 네 말") must
    /// score: a closer one means the recognizer heard a word inside the
    /// phrase almost as well as the phrase, and the call is rejected.
    /// 0 turns the check off.
    pub inside_lead: f32,
    /// Longest silence, in seconds, between two words of the run that
    /// matched: a longer one is taken for a word the decoder left out
    /// ("하얀 (늙은) 말") and rejects the call. 0 turns the check off, as
    /// does an alternative without word timings.
    pub max_gap: f32,
    /// Longest time, in seconds per syllable, one word of the run that
    /// matched may last: a longer word is taken for one that swallowed a
    /// neighbour and rejects the call. 0 turns the check off.
    pub max_syllable_time: f32,
    /// How many times longer per syllable the slowest word of the run may
    /// last than its fastest: a word stretched over a left-out neighbour
    /// stands out from the caller's own pace. 0 turns the check off.
    pub max_stretch: f32,
    /// When the alternatives as heard do not pass, decide again with each
    /// word heard twice in a row within `repeat_max_gap` counted once
    /// ("하얀 하얀 말").
    pub merge_repeated_words: bool,
    /// Longest silence, in seconds, between a word and its repeat for the
    /// two to be merged (0: the pieces touch, as Vosk aligns words in
    /// 30 ms steps).
    pub repeat_max_gap: f32,
    /// Compare the syllable nuclei heard within the run that matched with
    /// its words' syllables; off, or without nuclei, nothing is compared.
    pub count_syllables: bool,
    /// Nuclei the run may span beyond its words' syllables: more is taken
    /// for a word the decoder left out, and rejects the call.
    pub max_extra_syllables: usize,
    /// Seconds either side of the run's words within which a nucleus
    /// still counts as the run's.
    pub syllable_slack: f32,
    /// With `count_syllables`, set aside every alternative whose words
    /// have more syllables than nuclei were heard within its span (widened
    /// by `syllable_slack`), beyond `max_unheard_syllables`.
    pub set_aside_unheard: bool,
    /// Syllables an alternative may have beyond the nuclei heard within
    /// its span and still be weighed.
    pub max_unheard_syllables: usize,
    /// The best alternative, though set aside, rejects the call when it
    /// has the phrase's words with other words inside them, none of them
    /// the phrase's own ("하얀 푸른 말"; a repeat, "하얀 하얀 말", is a
    /// slow word split in two). The recognizer's best reading is then an
    /// inserted word, and the syllable count that set it aside may have
    /// missed that word's vowels: an impostor passing costs more than a
    /// caller sent to the SMS code.
    pub best_with_word_inside_rejects: bool,
}

impl Default for MatchRule {
    fn default() -> Self {
        Self {
            margin: 0.5,
            extra_word_cost: 0.6,
            trailing_word_cost: 0.45,
            max_extra_words: 2,
            max_candidates: 16,
            reject_words_inside: true,
            min_lead: 0.6,
            inside_lead: 1.5,
            max_gap: 0.0,
            max_syllable_time: 0.0,
            max_stretch: 0.0,
            merge_repeated_words: true,
            repeat_max_gap: 0.0,
            count_syllables: true,
            max_extra_syllables: 0,
            syllable_slack: 0.1,
            set_aside_unheard: true,
            max_unheard_syllables: 0,
            best_with_word_inside_rejects: true,
        }
    }
}

impl MatchRule {
    /// Whether a run with this timing is too far apart or stretched.
    fn too_loose(&self, timing: &RunTiming) -> bool {
        (self.max_gap > 0.0 && timing.gap > self.max_gap)
            || (self.max_syllable_time > 0.0 && timing.syllable_time > self.max_syllable_time)
            || (self.max_stretch > 0.0 && timing.stretch > self.max_stretch)
    }

    /// The nuclei heard within a run with this timing, when they are
    /// compared (`count_syllables` and nuclei measured).
    fn nuclei_within(&self, timing: &RunTiming, nuclei: &[f32]) -> Option<usize> {
        (self.count_syllables && !nuclei.is_empty())
            .then(|| timing.nuclei_within(nuclei, self.syllable_slack))
    }

    /// Whether an alternative (`text`, heard at `spans`) has more
    /// syllables than `nuclei` were heard within its span, beyond
    /// `max_unheard_syllables`: not what was said. Never without nuclei or
    /// without a span for every word.
    fn unheard(&self, text: &str, spans: &[WordSpan], nuclei: &[f32]) -> bool {
        if !(self.count_syllables && self.set_aside_unheard) || nuclei.is_empty() {
            return false;
        }
        let words = heard_words(text);
        let (Some(first), Some(last)) = (spans.first(), spans.last()) else {
            return false;
        };
        if words.len() != spans.len() {
            return false;
        }
        // An unknown word's syllables are not known: none are counted.
        let written: usize = words.iter().flatten().map(|w| syllables(w)).sum();
        let heard = nuclei_between(first.start, last.end, nuclei, self.syllable_slack);
        written > heard + self.max_unheard_syllables
    }

    /// Whether `heard` nuclei are more than a run of `syllables` allows.
    fn too_many_nuclei(&self, heard: usize, syllables: usize) -> bool {
        heard > syllables + self.max_extra_syllables
    }
}

/// What the rule made of one alternative. Holds no words, so it may be
/// printed and logged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Considered {
    /// How far below the best alternative it scored.
    pub below_best: f32,
    /// Words (unknown ones included) beyond the phrase's.
    pub extra_words: usize,
    /// `below_best` plus what its extra words cost: where the phrase's run
    /// is, for an alternative that has it; otherwise every extra word at
    /// the cheaper of `extra_word_cost` and `trailing_word_cost`.
    pub cost: f32,
    pub verdict: Verdict,
    /// For the alternative that matched, with word timings: how its run's
    /// words were spread in time.
    pub timing: Option<RunTiming>,
    /// For the alternative that matched, when syllables are counted: the
    /// syllable nuclei heard within its run's span.
    pub nuclei: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// One of its runs is the phrase.
    Match,
    /// Searched; no run is the phrase.
    NoMatch,
    /// Its cost is beyond the margin, or it has too many extra words.
    NotCounted,
    /// Not looked at: an earlier alternative matched or had the phrase
    /// with words inside, one without the phrase scores too close above it
    /// for it to lead (`min_lead`), or the Argon2 budget (`max_candidates`)
    /// was spent.
    NotChecked,
    /// It has the phrase's words with other words inside them, and scores
    /// above the alternative that matched (`reject_words_inside`: nothing
    /// below it counts) or within `inside_lead` below it: rejects.
    WordsInside,
    /// It has no run that is the phrase and scores within `min_lead` of the
    /// alternative that matched, so the match is rejected.
    Rival,
    /// One of its runs is the phrase, but its words are too far apart or
    /// stretched (`max_gap`, `max_syllable_time`, `max_stretch`): a word
    /// was probably left out, and the call is rejected.
    Stretched,
    /// One of its runs is the phrase, but more syllable nuclei were heard
    /// within it than its words have (`max_extra_syllables`): a word was
    /// left out, and the call is rejected.
    ExtraSyllables,
    /// Its words have more syllables than nuclei were heard within its
    /// span (`set_aside_unheard`): not what was said, set aside.
    Unheard,
}

/// The decision over all alternatives, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub accepted: bool,
    /// Argon2 verifications the decision took.
    pub verifications: usize,
    /// The verdicts are those of the alternatives with repeated words
    /// merged (`merge_repeated_words`), not as heard.
    pub merged: bool,
    pub alternatives: Vec<Considered>,
}

impl StoredPassphrase {
    /// Decides over scored alternatives, best first, as described on
    /// [`MatchRule`]. Nothing is compared in clear.
    pub fn decide<S: AsRef<str>>(
        &self,
        alternatives: impl IntoIterator<Item = (S, f32)>,
        rule: &MatchRule,
    ) -> Result<Decision, PassphraseError> {
        self.decide_timed(
            alternatives
                .into_iter()
                .map(|(text, score)| (text, score, Vec::new())),
            rule,
        )
    }

    /// [`StoredPassphrase::decide`] with each alternative's word timings
    /// (one span per whitespace-separated token of its text, `[unk]`
    /// included; empty when unknown), which the timing checks of
    /// [`MatchRule`] weigh.
    pub fn decide_timed<S: AsRef<str>>(
        &self,
        alternatives: impl IntoIterator<Item = (S, f32, Vec<WordSpan>)>,
        rule: &MatchRule,
    ) -> Result<Decision, PassphraseError> {
        self.decide_heard(alternatives, &[], rule)
    }

    /// [`StoredPassphrase::decide_timed`] with the syllable nuclei heard
    /// in the turn (in seconds from its start, the clock of the word
    /// timings; empty when not measured), which `count_syllables` weighs.
    pub fn decide_heard<S: AsRef<str>>(
        &self,
        alternatives: impl IntoIterator<Item = (S, f32, Vec<WordSpan>)>,
        nuclei: &[f32],
        rule: &MatchRule,
    ) -> Result<Decision, PassphraseError> {
        let (alternatives, spans): (Vec<(S, f32)>, Vec<Vec<WordSpan>>) = alternatives
            .into_iter()
            .map(|(text, score, spans)| ((text, score), spans))
            .unzip();
        // One Argon2 budget for both readings.
        let mut tried = Tried::new();
        let heard = self.decide_reading(&alternatives, &spans, nuclei, rule, &mut tried)?;
        if heard.accepted || !rule.merge_repeated_words {
            return Ok(heard);
        }
        let merged: Vec<((String, f32), Vec<WordSpan>)> = alternatives
            .iter()
            .zip(&spans)
            .map(|((text, score), spans)| {
                let (text, spans) = merge_repeats(text.as_ref(), spans, rule.repeat_max_gap);
                ((text, *score), spans)
            })
            .collect();
        if merged
            .iter()
            .zip(&alternatives)
            .all(|(((merged, _), _), (text, _))| merged.as_str() == text.as_ref())
        {
            return Ok(heard);
        }
        let (merged, merged_spans): (Vec<(String, f32)>, Vec<Vec<WordSpan>>) =
            merged.into_iter().unzip();
        let decision = self.decide_reading(&merged, &merged_spans, nuclei, rule, &mut tried)?;
        if decision.accepted {
            Ok(Decision {
                merged: true,
                ..decision
            })
        } else {
            Ok(Decision {
                verifications: tried.len(),
                ..heard
            })
        }
    }

    /// The decision over one reading of the alternatives.
    fn decide_reading<S: AsRef<str>>(
        &self,
        alternatives: &[(S, f32)],
        spans: &[Vec<WordSpan>],
        nuclei: &[f32],
        rule: &MatchRule,
        tried: &mut Tried,
    ) -> Result<Decision, PassphraseError> {
        let unheard: Vec<bool> = alternatives
            .iter()
            .zip(spans)
            .map(|((text, _), spans)| rule.unheard(text.as_ref(), spans, nuclei))
            .collect();
        // The best of what may have been said.
        let best = alternatives
            .iter()
            .zip(&unheard)
            .filter(|(_, unheard)| !**unheard)
            .map(|((_, score), _)| *score)
            .fold(f32::NEG_INFINITY, f32::max);
        let word_count = self.word_count();
        let mut accepted = false;
        let mut split = false;
        let mut matched_run: Option<NormalisedPhrase> = None;
        let mut considered = Vec::with_capacity(alternatives.len());
        // The best score of an alternative searched and found without the
        // phrase: with `min_lead`, no alternative scoring less than
        // `min_lead` above it can be accepted (it would be that one's
        // rival), so it is not searched (no Argon2 spent on it).
        let mut best_without: Option<f32> = None;
        for (((text, score), spans), unheard) in alternatives.iter().zip(spans).zip(&unheard) {
            let words = heard_words(text.as_ref());
            let mut timing = None;
            let mut heard_nuclei = None;
            let below_best = if score.is_finite() {
                best - score
            } else {
                f32::INFINITY
            };
            let extra_words = words.len().saturating_sub(word_count);
            // Where the phrase's run is, if anywhere, is not known yet: the
            // cheaper kind of extra word bounds the cost from below.
            let cheapest = rule.extra_word_cost.min(rule.trailing_word_cost);
            let mut cost = below_best + extra_words as f32 * cheapest;
            // A NaN cost is not within the margin.
            let counts = extra_words <= rule.max_extra_words && cost <= rule.margin;
            let outled = rule.min_lead > 0.0
                // (A NaN score is accepted by nothing either.)
                && best_without
                    .is_some_and(|without| score.is_nan() || *score < without + rule.min_lead);
            let verdict = if *unheard {
                Verdict::Unheard
            } else if accepted || split {
                Verdict::NotChecked
            } else if outled {
                if counts {
                    Verdict::NotChecked
                } else {
                    Verdict::NotCounted
                }
            } else if rule.reject_words_inside
                && self.search_split(&words, rule, tried)? == Some(true)
            {
                // Heard with a word inside it, at least as well as anything
                // below: a weaker alternative without that word must not pass.
                split = true;
                Verdict::WordsInside
            } else if !counts {
                Verdict::NotCounted
            } else {
                match self.search(&words, rule, tried)? {
                    Some(Some((at, run))) => {
                        let after = words.len().saturating_sub(at + word_count);
                        cost = below_best
                            + at as f32 * rule.extra_word_cost
                            + after as f32 * rule.trailing_word_cost;
                        timing = run_timing(text.as_ref(), spans, at, word_count);
                        heard_nuclei = timing.and_then(|t| rule.nuclei_within(&t, nuclei));
                        if cost > rule.margin || cost.is_nan() {
                            // The phrase, but with words before it that
                            // cost more than the margin.
                            timing = None;
                            heard_nuclei = None;
                            Verdict::NotCounted
                        } else if timing.is_some_and(|t| rule.too_loose(&t)) {
                            matched_run = Some(run);
                            // Its words heard apart or drawn out: a word
                            // was probably left out, and nothing weaker
                            // may pass instead.
                            split = true;
                            Verdict::Stretched
                        } else if heard_nuclei
                            .zip(timing)
                            .is_some_and(|(heard, t)| rule.too_many_nuclei(heard, t.syllables))
                        {
                            matched_run = Some(run);
                            // Syllables heard that its words do not have:
                            // a word left out, and nothing weaker may pass
                            // instead.
                            split = true;
                            Verdict::ExtraSyllables
                        } else {
                            matched_run = Some(run);
                            accepted = true;
                            Verdict::Match
                        }
                    }
                    Some(None) => {
                        if score.is_finite() {
                            best_without = Some(best_without.map_or(*score, |b| b.max(*score)));
                        }
                        Verdict::NoMatch
                    }
                    None => Verdict::NotChecked,
                }
            };
            considered.push(Considered {
                below_best,
                extra_words,
                cost,
                verdict,
                timing,
                nuclei: heard_nuclei,
            });
        }
        let leads = rule.min_lead > 0.0 || rule.inside_lead > 0.0;
        if let (true, true, Some(run)) = (accepted, leads, &matched_run) {
            accepted = !self.mark_rivals(alternatives, &mut considered, run, rule, tried)?;
        }
        if let (true, true, Some(run)) =
            (accepted, rule.best_with_word_inside_rejects, &matched_run)
        {
            accepted = !mark_best_with_word_inside(alternatives, &mut considered, run, rule);
        }
        Ok(Decision {
            accepted,
            verifications: tried.len(),
            merged: false,
            alternatives: considered,
        })
    }

    /// Marks the alternatives without the phrase that score within
    /// `min_lead` of the one that matched, and those below it within
    /// `inside_lead` that have the phrase's words with others inside them;
    /// true when there is one. An alternative the Argon2 budget leaves
    /// unsearched counts as a rival, so a match is accepted only when it is
    /// known to be clear of rivals; one whose split runs the budget leaves
    /// unsearched does not count as words inside (`min_lead` already
    /// guards the nearest).
    fn mark_rivals<S: AsRef<str>>(
        &self,
        alternatives: &[(S, f32)],
        considered: &mut [Considered],
        phrase: &NormalisedPhrase,
        rule: &MatchRule,
        tried: &mut Tried,
    ) -> Result<bool, PassphraseError> {
        let Some(matched) = considered
            .iter()
            .position(|c| c.verdict == Verdict::Match)
            .map(|i| alternatives[i].1)
        else {
            return Ok(false);
        };
        let mut rival = false;
        for ((text, score), considered) in alternatives.iter().zip(considered.iter_mut()) {
            // A NaN score is no rival; a NaN match is accepted by nothing.
            if matches!(considered.verdict, Verdict::Match | Verdict::Unheard) || score.is_nan() {
                continue;
            }
            let behind = matched - score;
            let words = heard_words(text.as_ref());
            if rule.min_lead > 0.0
                && behind < rule.min_lead
                && self.holds(&words, phrase, rule, tried)? != Some(true)
            {
                considered.verdict = Verdict::Rival;
                rival = true;
            } else if rule.inside_lead > 0.0
                && behind < rule.inside_lead
                && self.search_split(&words, rule, tried)? == Some(true)
            {
                // Also within `min_lead`: holding the phrase does not make
                // the word inside it go away.
                considered.verdict = Verdict::WordsInside;
                rival = true;
            }
        }
        Ok(rival)
    }

    /// Whether a run of `words` is `phrase`, the run already verified;
    /// `None` when the Argon2 budget ran out first.
    fn holds(
        &self,
        words: &[Option<String>],
        phrase: &NormalisedPhrase,
        rule: &MatchRule,
        tried: &mut Tried,
    ) -> Result<Option<bool>, PassphraseError> {
        let length = self.word_count().min(words.len()).max(1);
        for run in words.windows(length) {
            let Some(run) = run.iter().cloned().collect::<Option<Vec<String>>>() else {
                continue;
            };
            let candidate = NormalisedPhrase::new(&run.join(" "));
            if candidate == *phrase {
                return Ok(Some(true));
            }
            match self.check(&candidate, rule, tried)? {
                None => return Ok(None),
                Some(true) => return Ok(Some(true)),
                Some(false) => {}
            }
        }
        Ok(Some(false))
    }

    /// Whether `candidate` is the phrase, each distinct candidate verified
    /// once per decision; `None` when the Argon2 budget is spent. An empty
    /// candidate is never the phrase.
    fn check(
        &self,
        candidate: &NormalisedPhrase,
        rule: &MatchRule,
        tried: &mut Tried,
    ) -> Result<Option<bool>, PassphraseError> {
        if candidate.is_empty() {
            return Ok(Some(false));
        }
        if let Some((_, verified)) = tried.iter().find(|(seen, _)| seen == candidate) {
            return Ok(Some(*verified));
        }
        // Once a candidate has verified, the phrase is known for the rest of
        // the decision: another candidate is it exactly when it is the same
        // text (both are normalised), and Argon2 would only say so slowly.
        if let Some((phrase, _)) = tried.iter().find(|(_, verified)| *verified) {
            return Ok(Some(candidate == phrase));
        }
        if tried.len() >= rule.max_candidates {
            return Ok(None);
        }
        let verified = self.verifies(candidate)?;
        tried.push((candidate.clone(), verified));
        Ok(Some(verified))
    }

    /// [`StoredPassphrase::decide`] for alternatives without scores (all
    /// equal): every one counts, at the cost of its extra words, and no lead
    /// over rivals can be measured, so `min_lead` is not applied.
    pub fn matches_any<S: AsRef<str>>(
        &self,
        alternatives: impl IntoIterator<Item = S>,
        rule: &MatchRule,
    ) -> Result<bool, PassphraseError> {
        let scored = alternatives.into_iter().map(|text| (text, 0.0));
        let rule = MatchRule {
            min_lead: 0.0,
            ..*rule
        };
        Ok(self.decide(scored, &rule)?.accepted)
    }

    /// Whether the phrase's words are in `words` in order with other words
    /// (at most `max_extra_words`, unknown ones too) between them: "하얀 네
    /// 말" for "하얀 말". `None` when the Argon2 budget ran out first.
    fn search_split(
        &self,
        words: &[Option<String>],
        rule: &MatchRule,
        tried: &mut Tried,
    ) -> Result<Option<bool>, PassphraseError> {
        let length = self.word_count();
        if length < 2 || words.len() <= length {
            return Ok(Some(false));
        }
        let mut runs: Vec<Vec<usize>> = Vec::new();
        split_runs(
            words.len(),
            length,
            length + rule.max_extra_words,
            &mut Vec::with_capacity(length),
            &mut |indices| runs.push(indices.to_vec()),
        );
        for indices in runs {
            // The phrase's own words must be known; what is inside may not.
            let Some(run) = indices
                .iter()
                .map(|&i| words[i].clone())
                .collect::<Option<Vec<String>>>()
            else {
                continue;
            };
            let candidate = NormalisedPhrase::new(&run.join(" "));
            match self.check(&candidate, rule, tried)? {
                None => return Ok(None),
                Some(true) => return Ok(Some(true)),
                Some(false) => {}
            }
        }
        Ok(Some(false))
    }

    /// Where a run of the phrase's length inside `words` is the phrase
    /// (the index of its first word, and the run); `Some(None)` when none is, `None`
    /// when the Argon2 budget ran out first. A shorter alternative is tried
    /// whole: a hash stored with a wrong word count must still accept the
    /// exact phrase rather than lock its owner out.
    fn search(
        &self,
        words: &[Option<String>],
        rule: &MatchRule,
        tried: &mut Tried,
    ) -> Result<Option<Option<(usize, NormalisedPhrase)>>, PassphraseError> {
        let length = self.word_count().min(words.len()).max(1);
        for (at, run) in words.windows(length).enumerate() {
            // An unknown word in the run matches nothing.
            let Some(run) = run.iter().cloned().collect::<Option<Vec<String>>>() else {
                continue;
            };
            let candidate = NormalisedPhrase::new(&run.join(" "));
            match self.check(&candidate, rule, tried)? {
                None => return Ok(None),
                Some(true) => return Ok(Some(Some((at, candidate)))),
                Some(false) => {}
            }
        }
        Ok(Some(None))
    }
}

/// Vosk's word times are multiples of 30 ms printed as floats: what a gap
/// may exceed `repeat_max_gap` by and still count as within it.
const GAP_ROUNDING: f32 = 0.005;

/// The runs verified in one decision and whether each was the phrase: a
/// run is hashed once however often it is heard, and their number is what
/// `max_candidates` bounds.
type Tried = Vec<(NormalisedPhrase, bool)>;

/// `text` with each word that follows the same word within `max_gap`
/// seconds dropped ("하얀 하얀 말" is "하얀 말"), the merged word's span
/// running from the first's start to the last's end. Words are compared as
/// matching sees them; unknown words are never merged (two unknown words
/// need not be the same one), nor is anything without a span for every
/// token (the gap is unknown).
fn merge_repeats(text: &str, spans: &[WordSpan], max_gap: f32) -> (String, Vec<WordSpan>) {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    if spans.len() != tokens.len() {
        return (text.to_string(), spans.to_vec());
    }
    let mut kept: Vec<(&str, Option<Vec<Option<String>>>)> = Vec::new();
    let mut kept_spans: Vec<WordSpan> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let words = heard_words(token);
        let known = !words.is_empty() && words.iter().all(Option::is_some);
        let same = known
            && kept
                .last()
                .is_some_and(|(_, last)| last.as_ref() == Some(&words));
        let touching = kept_spans
            .last()
            .is_some_and(|last| spans[i].start - last.end <= max_gap + GAP_ROUNDING);
        if let (true, true, Some(last)) = (same, touching, kept_spans.last_mut()) {
            last.end = spans[i].end;
            continue;
        }
        kept.push((token, known.then_some(words)));
        kept_spans.push(spans[i]);
    }
    let text = kept
        .iter()
        .map(|(token, _)| *token)
        .collect::<Vec<_>>()
        .join(" ");
    (text, kept_spans)
}

#[cfg(test)]
mod set_aside_tests;
/// Calls `visit` with every increasing choice of `length` indices below
/// `count` that has a gap somewhere and spans at most `widest` words.
#[cfg(test)]
mod tests;
