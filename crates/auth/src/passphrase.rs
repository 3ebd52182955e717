//! The spoken passphrase factor: how a phrase is normalised, hashed for
//! storage, and matched against what the recognizer heard.

mod hashing;
mod matching;
mod normalise;
mod timing;

pub use hashing::{HashCost, PassphraseError, PassphraseHasher, StoredPassphrase};
pub use matching::{Considered, Decision, MatchRule, Verdict};
pub use normalise::NormalisedPhrase;
pub use timing::{RunTiming, WordSpan};
