use std::fmt;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use serde::Deserialize;
use thiserror::Error;

use super::normalise::NormalisedPhrase;

/// What can go wrong with passphrases. No variant carries the phrase.
#[derive(Debug, Error)]
pub enum PassphraseError {
    #[error("the passphrase is empty once punctuation and spacing are removed")]
    Empty,
    #[error("invalid Argon2 cost parameters: {0}")]
    Cost(String),
    #[error("the stored passphrase hash is not an Argon2id PHC string")]
    StoredHash,
    #[error("the stored passphrase word count must be at least 1")]
    WordCount,
    #[error("hashing the passphrase failed: {0}")]
    Hashing(String),
}

/// Argon2id cost. The defaults are OWASP's recommendation (19 MiB, 2 passes,
/// 1 lane); tests use [`HashCost::minimum`] so they run in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        Self {
            memory_kib: Params::DEFAULT_M_COST,
            iterations: Params::DEFAULT_T_COST,
            parallelism: Params::DEFAULT_P_COST,
        }
    }
}

impl HashCost {
    /// The cheapest cost Argon2 accepts. Only for tests: it makes hashes
    /// that are cheap to brute-force.
    pub fn minimum() -> Self {
        Self {
            memory_kib: Params::MIN_M_COST,
            iterations: Params::MIN_T_COST,
            parallelism: Params::MIN_P_COST,
        }
    }
}

/// Hashes passphrases for storage with Argon2id at a configured cost.
pub struct PassphraseHasher {
    argon2: Argon2<'static>,
}

impl PassphraseHasher {
    pub fn new(cost: HashCost) -> Result<Self, PassphraseError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| PassphraseError::Cost(e.to_string()))?;
        Ok(Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        })
    }

    /// Normalises the phrase and hashes it with a fresh random salt. The
    /// word count is kept beside the hash so that matching can look for
    /// the phrase inside longer recognizer output.
    pub fn hash(&self, phrase: &str) -> Result<StoredPassphrase, PassphraseError> {
        let normalised = NormalisedPhrase::new(phrase);
        if normalised.is_empty() {
            return Err(PassphraseError::Empty);
        }
        let hash = self
            .argon2
            .hash_password(normalised.as_str().as_bytes())
            .map_err(|e| PassphraseError::Hashing(e.to_string()))?;
        Ok(StoredPassphrase {
            phc: hash.to_string(),
            word_count: normalised.word_count(),
        })
    }
}

impl fmt::Debug for PassphraseHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassphraseHasher").finish_non_exhaustive()
    }
}

/// An account's passphrase as stored: an Argon2id PHC string (which carries
/// its own salt and cost) and the number of words in the phrase.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredPassphrase {
    phc: String,
    word_count: usize,
}

impl StoredPassphrase {
    /// Rebuilds a stored passphrase read back from the account store.
    pub fn from_parts(phc: String, word_count: usize) -> Result<Self, PassphraseError> {
        let parsed = PasswordHash::new(&phc).map_err(|_| PassphraseError::StoredHash)?;
        if parsed.algorithm.as_str() != argon2::ARGON2ID_IDENT.as_str() {
            return Err(PassphraseError::StoredHash);
        }
        if word_count == 0 {
            return Err(PassphraseError::WordCount);
        }
        Ok(Self { phc, word_count })
    }

    pub fn phc(&self) -> &str {
        &self.phc
    }

    pub fn word_count(&self) -> usize {
        self.word_count
    }

    /// Whether `candidate` is the phrase, by recomputing Argon2id with the
    /// stored salt and cost (a constant-time comparison inside `argon2`).
    pub(super) fn verifies(&self, candidate: &NormalisedPhrase) -> Result<bool, PassphraseError> {
        match Argon2::default().verify_password(candidate.as_str().as_bytes(), self.phc.as_str()) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
            Err(_) => Err(PassphraseError::StoredHash),
        }
    }
}

/// The hash is not the phrase, but it is what an offline guesser needs, so
/// it stays out of logs as well.
impl fmt::Debug for StoredPassphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredPassphrase")
            .field("phc", &"<redacted>")
            .field("word_count", &self.word_count)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> PassphraseHasher {
        PassphraseHasher::new(HashCost::minimum()).unwrap()
    }

    #[test]
    fn hash_is_argon2id_with_the_configured_cost_and_word_count() {
        let stored = hasher().hash("White Horse").unwrap();
        assert!(
            stored.phc().starts_with("$argon2id$v=19$m=8,t=1,p=1$"),
            "{}",
            stored.phc()
        );
        assert_eq!(stored.word_count(), 2);
        assert!(!stored.phc().contains("white"));
    }

    #[test]
    fn same_phrase_gets_a_different_salt_each_time() {
        let a = hasher().hash("white horse").unwrap();
        let b = hasher().hash("white horse").unwrap();
        assert_ne!(a.phc(), b.phc());
    }

    #[test]
    fn verifies_the_normalised_phrase_only() {
        let stored = hasher().hash("하얀 말").unwrap();
        assert!(stored
            .verifies(&NormalisedPhrase::new("하얀  말!"))
            .unwrap());
        assert!(!stored.verifies(&NormalisedPhrase::new("하얀 소")).unwrap());
        assert!(!stored.verifies(&NormalisedPhrase::new("")).unwrap());
    }

    #[test]
    fn empty_phrases_are_refused() {
        for phrase in ["", "   ", "?!", "[unk]"] {
            assert!(
                matches!(hasher().hash(phrase), Err(PassphraseError::Empty)),
                "{phrase:?}"
            );
        }
    }

    #[test]
    fn invalid_cost_is_refused() {
        let cost = HashCost {
            memory_kib: 1,
            ..HashCost::minimum()
        };
        assert!(matches!(
            PassphraseHasher::new(cost),
            Err(PassphraseError::Cost(_))
        ));
    }

    #[test]
    fn stored_form_round_trips_and_rejects_garbage() {
        let stored = hasher().hash("white horse").unwrap();
        let again = StoredPassphrase::from_parts(stored.phc().to_string(), 2).unwrap();
        assert_eq!(again, stored);
        assert!(matches!(
            StoredPassphrase::from_parts("white horse".to_string(), 2),
            Err(PassphraseError::StoredHash)
        ));
        let argon2i = stored.phc().replacen("argon2id", "argon2i", 1);
        assert!(matches!(
            StoredPassphrase::from_parts(argon2i, 2),
            Err(PassphraseError::StoredHash)
        ));
        assert!(matches!(
            StoredPassphrase::from_parts(stored.phc().to_string(), 0),
            Err(PassphraseError::WordCount)
        ));
    }

    #[test]
    fn debug_output_has_no_hash() {
        let stored = hasher().hash("white horse").unwrap();
        let shown = format!("{stored:?}");
        assert!(!shown.contains(stored.phc()), "{shown}");
        assert!(!shown.contains("argon2"), "{shown}");
    }

    #[test]
    fn cost_loads_from_toml_with_defaults() {
        let cost: HashCost = toml::from_str("memory_kib = 65536").unwrap();
        assert_eq!(cost.memory_kib, 65536);
        assert_eq!(cost.iterations, Params::DEFAULT_T_COST);
    }
}
