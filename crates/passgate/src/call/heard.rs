//! What the recognizer heard in a turn, as the flow's alternatives: each
//! with its score and its words' spans, and the turn's syllable nuclei.

use asr::Transcript;
use auth::flow::Alternatives;

/// The flow's alternatives from a final transcript. The words may be the
/// passphrase and are never logged; their times and the nuclei are, at
/// debug, to compare the two.
pub(super) fn alternatives(t: Transcript) -> Alternatives {
    // Built only when the line is written.
    if tracing::enabled!(tracing::Level::DEBUG) {
        let word_times: Vec<Vec<(f32, f32)>> = t
            .alternatives
            .iter()
            .map(|a| a.words.iter().map(|w| (w.start, w.end)).collect())
            .collect();
        tracing::debug!(nuclei_at = ?t.nuclei, ?word_times, "heard in time");
    }
    Alternatives::timed(t.alternatives.into_iter().map(|a| {
        let spans = crate::recognize::word_spans(&a.words);
        (a.text, a.confidence, spans)
    }))
    .with_nuclei(t.nuclei)
}
