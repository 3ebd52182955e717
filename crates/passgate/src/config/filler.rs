//! `[asr.filler]`: how many decoys the passphrase turn's filler decoding
//! gets (`asr::Filler`).

use serde::{Deserialize, Serialize};

/// The filler decoding the passphrase turn is measured against
/// (`asr::Filler`): the vocabulary plus decoys drawn from the model's
/// lexicon. Both zero: no filler.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FillerConfig {
    /// The model's most common words.
    pub common_words: usize,
    /// For each vocabulary word, the lexicon words spelled closest to it.
    pub near_words: usize,
    /// Taken off the filler hypothesis' score before it joins the
    /// alternatives (log-likelihood).
    pub penalty: f32,
}

impl Default for FillerConfig {
    fn default() -> Self {
        // Off: measured on the tuning voices it separated no impostor the
        // closed vocabulary let through (bench/results/filler-tuning.md).
        FillerConfig {
            common_words: 0,
            near_words: 0,
            penalty: 0.0,
        }
    }
}

impl FillerConfig {
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
    fn the_filler_is_off_unless_it_is_given_words() {
        assert!(!crate::config::Config::default().asr.filler.enabled());
        let filler: FillerConfig = toml::from_str("common_words = 200\npenalty = 1.5\n").unwrap();
        assert!(filler.enabled());
        assert_eq!(filler.decoys().common_words, 200);
        assert_eq!(filler.decoys().near_words, 0);
        assert_eq!(filler.penalty, 1.5);
        assert!(toml::from_str::<FillerConfig>("words = 1\n").is_err());
    }
}
