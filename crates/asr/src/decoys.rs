//! Decoys: words recognition listens for besides the vocabulary, so that
//! speech which is not a vocabulary word has somewhere to go. With a closed
//! list of a few words, a near miss ("파란 말") is forced onto the nearest
//! listed word ("하얀 말"); with decoys it comes out as itself, or as some
//! other word, and fails to match.
//!
//! Decoys come from the model's own lexicon ([`Lexicon`]), for whatever
//! words the vocabulary lists: the most common words of the language, and
//! for each vocabulary word the words spelled closest to it (edit distance
//! over Hangul jamo, or over characters in other scripts), which are the
//! ones a near miss is made of.

use crate::lexicon::Lexicon;
use crate::vocabulary::Vocabulary;

/// How many decoys the vocabulary gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecoyConfig {
    /// The most common words of the model's language model.
    pub common_words: usize,
    /// For each vocabulary word, the lexicon words spelled closest to it.
    pub near_words: usize,
}

/// The vocabulary with decoys added after its own words.
pub fn with_decoys(vocabulary: &Vocabulary, lexicon: &Lexicon, config: &DecoyConfig) -> Vocabulary {
    let own = vocabulary.words();
    let usable = |w: &str| {
        !w.is_empty()
            && w.chars().all(char::is_alphabetic)
            // The vocabulary lower-cases its words; one that changes would
            // name a word the model does not have.
            && w.to_lowercase() == w
            && !own.iter().any(|o| o == w)
            && !is_concatenation(w, own)
    };
    let mut decoys: Vec<&str> = lexicon
        .words()
        .iter()
        .map(|w| w.word.as_str())
        .filter(|w| usable(w))
        .take(config.common_words)
        .collect();
    if config.near_words > 0 {
        let candidates: Vec<(&str, Vec<u32>)> = lexicon
            .words()
            .iter()
            .map(|w| w.word.as_str())
            .filter(|w| usable(w))
            .map(|w| (w, units(w)))
            .collect();
        for word in own {
            let target = units(word);
            // Most common first, so ties go to the commoner word.
            let mut near: Vec<(usize, usize)> = candidates
                .iter()
                .enumerate()
                .filter(|(_, (_, u))| u.len().abs_diff(target.len()) <= 2)
                .map(|(i, (_, u))| (edit_distance(&target, u), i))
                .collect();
            near.sort();
            decoys.extend(
                near.iter()
                    .take(config.near_words)
                    .map(|&(_, i)| candidates[i].0),
            );
        }
    }
    Vocabulary::from_words(own.iter().map(String::as_str).chain(decoys))
}

/// Whether `word` is two or more vocabulary words run together: hearing
/// it must not stand for hearing them apart.
fn is_concatenation(word: &str, own: &[String]) -> bool {
    if word.is_empty() {
        return true;
    }
    own.iter().any(|o| {
        word.strip_prefix(o.as_str()).is_some_and(|rest| {
            !rest.is_empty() && (own.iter().any(|p| p == rest) || is_concatenation(rest, own))
        })
    })
}

const HANGUL_FIRST: u32 = 0xAC00;
const HANGUL_COUNT: u32 = 11172;

/// The units spelling is compared in: a Hangul syllable as its initial,
/// vowel and final jamo, any other character as itself.
fn units(word: &str) -> Vec<u32> {
    let mut out = Vec::with_capacity(word.len());
    for c in word.chars() {
        let code = u32::from(c);
        match code.checked_sub(HANGUL_FIRST) {
            Some(s) if s < HANGUL_COUNT => {
                out.push(0x1100 + s / 588);
                out.push(0x1161 + (s % 588) / 28);
                if s % 28 != 0 {
                    out.push(0x11A7 + s % 28);
                }
            }
            _ => out.push(code),
        }
    }
    out
}

fn edit_distance(a: &[u32], b: &[u32]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(x != y);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexicon::LexiconWord;

    fn lexicon(words: &[(&str, f32)]) -> Lexicon {
        Lexicon::from_words(
            words
                .iter()
                .map(|&(word, cost)| LexiconWord {
                    word: word.to_string(),
                    cost,
                })
                .collect(),
        )
    }

    fn distance(a: &str, b: &str) -> usize {
        edit_distance(&units(a), &units(b))
    }

    #[test]
    fn hangul_is_compared_by_jamo() {
        // ㅎ→ㅍ, ㅇ→ㄹ, ㅑ→ㅏ
        assert_eq!(distance("하얀", "파란"), 3);
        assert_eq!(distance("하얀", "하양"), 1);
        // A dropped final consonant, an added syllable.
        assert_eq!(distance("말", "마"), 1);
        assert_eq!(distance("말", "말이"), 2);
        assert_eq!(distance("horse", "house"), 1);
        assert_eq!(distance("", "말"), 3);
    }

    #[test]
    fn common_words_come_first_and_never_repeat_or_hide_the_vocabulary() {
        let vocabulary = Vocabulary::from_words(["하얀", "말"]);
        let lexicon = lexicon(&[
            ("파란", 10.5),
            ("의", 6.0),
            ("말", 8.6),
            ("하얀말", 9.0),
            ("말하얀", 9.1),
            ("[1]", 6.5),
            ("AMERICA", 7.0),
            ("바다", 9.5),
        ]);
        let config = DecoyConfig {
            common_words: 2,
            near_words: 0,
        };
        // "말" is the vocabulary's own; "하얀말" would be heard for the
        // phrase; "[1]" and "AMERICA" are no grammar words.
        assert_eq!(
            with_decoys(&vocabulary, &lexicon, &config).words(),
            ["하얀", "말", "의", "바다"]
        );
        let all = DecoyConfig {
            common_words: 100,
            ..config
        };
        assert_eq!(
            with_decoys(&vocabulary, &lexicon, &all).words(),
            ["하얀", "말", "의", "바다", "파란"]
        );
    }

    #[test]
    fn near_words_are_the_closest_spellings_of_each_vocabulary_word() {
        let vocabulary = Vocabulary::from_words(["하얀", "말"]);
        let lexicon = lexicon(&[
            ("하양", 12.0),
            ("하연", 11.0),
            ("파란", 10.0),
            ("마", 9.0),
            ("물", 13.0),
            ("고양이", 8.0),
        ]);
        let config = DecoyConfig {
            common_words: 0,
            near_words: 2,
        };
        // 하연 and 하양 are one jamo from 하얀, 마 and 물 one from 말 (the
        // commoner first); 파란 and 고양이 are further from both.
        assert_eq!(
            with_decoys(&vocabulary, &lexicon, &config).words(),
            ["하얀", "말", "하연", "하양", "마", "물"]
        );
    }

    #[test]
    fn concatenations_of_vocabulary_words_are_found() {
        let own = ["하얀".to_string(), "말".to_string()];
        assert!(is_concatenation("하얀말", &own));
        assert!(is_concatenation("말하얀말", &own));
        assert!(!is_concatenation("하얀", &own));
        assert!(!is_concatenation("하얀마", &own));
        assert!(!is_concatenation("파란말", &own));
    }
}
