//! Runs of the phrase's words with other words inside them.

use super::{Considered, MatchRule, Verdict};
use crate::passphrase::normalise::{heard_words, NormalisedPhrase};

/// With the phrase known (`phrase`, the run that matched): marks the best
/// alternative when it was set aside and has the phrase's words with other
/// words inside them, none unknown and none a word of the phrase; true
/// when it does (see `MatchRule::best_with_word_inside_rejects`).
pub(super) fn mark_best_with_word_inside<S: AsRef<str>>(
    alternatives: &[(S, f32)],
    considered: &mut [Considered],
    phrase: &NormalisedPhrase,
    rule: &MatchRule,
) -> bool {
    // The first of the highest scores; a NaN score is never the best.
    let best = alternatives
        .iter()
        .enumerate()
        .filter(|(_, (_, score))| !score.is_nan())
        .fold(None::<(usize, f32)>, |best, (i, (_, score))| match best {
            Some((_, b)) if b >= *score => best,
            _ => Some((i, *score)),
        });
    let Some((best, _)) = best else { return false };
    if considered[best].verdict != Verdict::Unheard {
        return false;
    }
    let own: Vec<&str> = phrase.words().collect();
    if own.len() < 2 {
        return false;
    }
    let words = heard_words(alternatives[best].0.as_ref());
    let mut inside = false;
    split_runs(
        words.len(),
        own.len(),
        own.len() + rule.max_extra_words,
        &mut Vec::with_capacity(own.len()),
        &mut |indices| {
            let picked: Option<Vec<String>> = indices.iter().map(|&i| words[i].clone()).collect();
            let is_phrase =
                picked.is_some_and(|run| NormalisedPhrase::new(&run.join(" ")) == *phrase);
            let others_only = (indices[0]..=indices[indices.len() - 1])
                .filter(|i| !indices.contains(i))
                .all(|i| {
                    words[i].as_deref().is_some_and(|w| {
                        let w = NormalisedPhrase::new(w);
                        !own.contains(&w.as_str())
                    })
                });
            inside |= is_phrase && others_only;
        },
    );
    if inside {
        considered[best].verdict = Verdict::WordsInside;
    }
    inside
}

pub(super) fn split_runs(
    count: usize,
    length: usize,
    widest: usize,
    picked: &mut Vec<usize>,
    visit: &mut dyn FnMut(&[usize]),
) {
    if picked.len() == length {
        let span = picked[length - 1] - picked[0] + 1;
        if span > length && span <= widest {
            visit(picked);
        }
        return;
    }
    let from = picked.last().map_or(0, |&last| last + 1);
    for i in from..count {
        if picked.first().is_some_and(|&first| i + 1 - first > widest) {
            break;
        }
        picked.push(i);
        split_runs(count, length, widest, picked, visit);
        picked.pop();
    }
}
