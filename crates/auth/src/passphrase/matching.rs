use serde::Deserialize;

use super::hashing::{PassphraseError, StoredPassphrase};
use super::normalise::NormalisedPhrase;

/// How leniently recognizer output is matched against the stored phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchRule {
    /// How many extra words an alternative may have around the phrase and
    /// still be searched for it. The recognizer adds decoy words at the
    /// edges (design.md); a cap keeps a caller who recites the whole
    /// vocabulary from getting every run of words tried.
    pub max_extra_words: usize,
    /// Argon2 runs per check at most: bounds the CPU one call can spend.
    pub max_candidates: usize,
}

impl Default for MatchRule {
    fn default() -> Self {
        Self {
            max_extra_words: 2,
            max_candidates: 16,
        }
    }
}

impl StoredPassphrase {
    /// Accepts when any recognizer alternative, normalised, is the phrase:
    /// either the whole alternative, or a contiguous run of the phrase's
    /// word count inside it. Each candidate is checked by Argon2
    /// verification; nothing is compared in clear.
    pub fn matches_any<S: AsRef<str>>(
        &self,
        alternatives: impl IntoIterator<Item = S>,
        rule: &MatchRule,
    ) -> Result<bool, PassphraseError> {
        for candidate in candidates(alternatives, self.word_count(), rule) {
            if self.verifies(&candidate)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The distinct phrases worth hashing, best alternative first.
fn candidates<S: AsRef<str>>(
    alternatives: impl IntoIterator<Item = S>,
    word_count: usize,
    rule: &MatchRule,
) -> Vec<NormalisedPhrase> {
    let mut found: Vec<NormalisedPhrase> = Vec::new();
    let add = |phrase: NormalisedPhrase, found: &mut Vec<NormalisedPhrase>| {
        if !phrase.is_empty() && !found.contains(&phrase) && found.len() < rule.max_candidates {
            found.push(phrase);
        }
    };
    for alternative in alternatives {
        let whole = NormalisedPhrase::new(alternative.as_ref());
        let words: Vec<&str> = whole.words().collect();
        let extra = words.len().saturating_sub(word_count);
        if word_count > 0 && extra > 0 && extra <= rule.max_extra_words {
            for run in words.windows(word_count) {
                add(NormalisedPhrase::new(&run.join(" ")), &mut found);
            }
        }
        add(whole, &mut found);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::super::hashing::{HashCost, PassphraseHasher};
    use super::*;

    fn stored(phrase: &str) -> StoredPassphrase {
        PassphraseHasher::new(HashCost::minimum())
            .unwrap()
            .hash(phrase)
            .unwrap()
    }

    #[test]
    fn decisions_over_n_best_alternatives() {
        let rule = MatchRule::default();
        let cases: &[(&[&str], bool)] = &[
            (&["하얀 말"], true),
            (&["[unk] 하얀 말"], true),
            (&["하얀 소", "하얀 말"], true),
            (&["하얀 말 아니요"], true),
            (&["바다 하얀 말"], true),
            (&["바다 하얀 말 아니요"], true),
            (&["하얀 소", "검은 말"], false),
            (&["하얀"], false),
            (&["말 하얀"], false),
            (&["하얀 바다 말"], false),
            (&[""], false),
            (&[], false),
            (&["바다 소 하얀 말 아니요"], false),
        ];
        let stored = stored("하얀 말");
        for (alternatives, expected) in cases {
            assert_eq!(
                stored.matches_any(*alternatives, &rule).unwrap(),
                *expected,
                "{alternatives:?}"
            );
        }
    }

    #[test]
    fn runs_inside_alternatives_can_be_turned_off() {
        let exact_only = MatchRule {
            max_extra_words: 0,
            ..MatchRule::default()
        };
        let stored = stored("white horse");
        assert!(stored.matches_any(["White horse."], &exact_only).unwrap());
        assert!(!stored.matches_any(["white horse no"], &exact_only).unwrap());
        assert!(stored
            .matches_any(["white horse no"], &MatchRule::default())
            .unwrap());
    }

    #[test]
    fn candidates_are_distinct_and_capped() {
        let rule = MatchRule {
            max_extra_words: 2,
            max_candidates: 3,
        };
        let found = candidates(["a b c", "a b", "x y z"], 2, &rule);
        let texts: Vec<&str> = found.iter().map(NormalisedPhrase::as_str).collect();
        assert_eq!(texts, ["a b", "b c", "a b c"]);
    }

    #[test]
    fn a_whole_alternative_shorter_than_the_phrase_is_still_tried() {
        // A hash stored with a wrong word count must still accept the exact
        // phrase rather than lock its owner out.
        let stored =
            StoredPassphrase::from_parts(stored("white horse").phc().to_string(), 3).unwrap();
        assert!(stored
            .matches_any(["white horse"], &MatchRule::default())
            .unwrap());
    }
}
