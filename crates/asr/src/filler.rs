//! The filler decoding: the yardstick a vocabulary's hypotheses are measured
//! against. A session listening for a small vocabulary also decodes the same
//! audio against that vocabulary plus decoys ([`crate::decoys`]); the
//! filler's best hypothesis joins the session's alternatives with its score.
//! Both decodings use a grammar with no word weights, so their scores are
//! the same kind of log-likelihood. When the caller said something else
//! ("하얀 예쁜 말" for "하얀 말"), the filler explains the audio far better
//! than the closed vocabulary's forced "하얀 말", and a rule that counts
//! alternatives only within a margin of the best turns it away. The
//! filler's hypothesis enters at its score less a penalty, as a keyword
//! spotter's garbage model does: the penalty is how much better than the
//! vocabulary the filler must explain the audio before it counts, since it
//! always explains it at least as well (it has the same words and more).

use crate::vocabulary::Vocabulary;

#[derive(Debug, Clone, PartialEq)]
pub struct Filler {
    /// The vocabulary whose sessions get the filler decoding.
    listened: Vocabulary,
    /// What the filler listens for: the same words and the decoys.
    grammar: Vocabulary,
    /// Subtracted from the filler hypothesis' score.
    penalty: f32,
}

impl Filler {
    pub fn new(listened: Vocabulary, grammar: Vocabulary, penalty: f32) -> Filler {
        Filler {
            listened,
            grammar,
            penalty,
        }
    }

    pub fn penalty(&self) -> f32 {
        self.penalty
    }

    /// Whether a session listening for `vocabulary` gets this filler.
    pub fn applies_to(&self, vocabulary: Option<&Vocabulary>) -> bool {
        vocabulary.is_some_and(|v| v.words() == self.listened.words())
    }

    pub fn grammar(&self) -> &Vocabulary {
        &self.grammar
    }
}
