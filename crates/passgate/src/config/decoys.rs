//! `[asr.decoys]`: the words the passphrase turn listens for besides the
//! vocabulary (`asr::with_decoys`).

use serde::{Deserialize, Serialize};

/// Decoys drawn from the model's lexicon for the passphrase turn, so that
/// speech which is not a vocabulary word has somewhere to go instead of
/// being forced onto the nearest vocabulary word. Both zero (the default):
/// none, because with espeak-ng voices the decoys took the true phrase as
/// well as the near misses (bench/results/accuracy-tuning.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecoysConfig {
    /// The model's most common words.
    pub common_words: usize,
    /// For each vocabulary word, the lexicon words spelled closest to it.
    pub near_words: usize,
}

impl DecoysConfig {
    pub fn decoys(&self) -> asr::DecoyConfig {
        asr::DecoyConfig {
            common_words: self.common_words,
            near_words: self.near_words,
        }
    }

    pub fn enabled(&self) -> bool {
        self.common_words > 0 || self.near_words > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoys_are_off_unless_given_words() {
        assert!(!crate::config::Config::default().asr.decoys.enabled());
        let decoys: DecoysConfig = toml::from_str("near_words = 5\n").unwrap();
        assert!(decoys.enabled());
        assert_eq!(decoys.decoys().near_words, 5);
        assert_eq!(decoys.decoys().common_words, 0);
        assert!(toml::from_str::<DecoysConfig>("near = 5\n").is_err());
    }
}
