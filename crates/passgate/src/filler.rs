//! The passphrase turn's decoys and filler decoding, built at start-up from
//! the model's lexicon for whatever words `asr.vocabulary` lists, so a
//! passphrase enrolled from those words later is covered without another
//! step.

use std::path::Path;

use anyhow::Context;
use asr::{Filler, Lexicon, Vocabulary};

use crate::config::{DecoysConfig, FillerConfig};

/// The words the passphrase turn listens for: `vocabulary` and, unless
/// `[asr.decoys]` turns them off, decoys from the model's lexicon.
pub fn passphrase_vocabulary(
    model_dir: &Path,
    vocabulary: Vocabulary,
    config: &DecoysConfig,
) -> anyhow::Result<Vocabulary> {
    if !config.enabled() {
        return Ok(vocabulary);
    }
    let lexicon = Lexicon::load(model_dir).context("[asr.decoys] needs the model's lexicon")?;
    let listened = asr::with_decoys(&vocabulary, &lexicon, &config.decoys());
    tracing::info!(
        words = vocabulary.words().len(),
        listened = listened.words().len(),
        "passphrase decoys derived"
    );
    Ok(listened)
}

/// The filler for sessions listening for `vocabulary`, or None when
/// `[asr.filler]` turns it off.
pub fn passphrase_filler(
    model_dir: &Path,
    vocabulary: &Vocabulary,
    config: &FillerConfig,
) -> anyhow::Result<Option<Filler>> {
    if !config.enabled() {
        return Ok(None);
    }
    let lexicon = Lexicon::load(model_dir).context("[asr.filler] needs the model's lexicon")?;
    let grammar = asr::with_decoys(vocabulary, &lexicon, &config.decoys());
    tracing::info!(
        words = vocabulary.words().len(),
        filler = grammar.words().len(),
        "filler vocabulary derived"
    );
    Ok(Some(Filler::new(
        vocabulary.clone(),
        grammar,
        config.penalty,
    )))
}
