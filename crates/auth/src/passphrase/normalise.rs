use std::fmt;

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Tokens a Vosk recognizer emits for sounds outside its vocabulary.
const UNKNOWN_WORD_TOKENS: &[&str] = &["[unk]", "<unk>"];

/// A phrase reduced to the form that is hashed and compared: NFKC, lower
/// case, words of letters and digits separated by single spaces, no
/// recognizer unknown-word tokens. Recognizer output and what an operator
/// typed at enrolment both go through this, so "White  Horse!" and
/// "white horse [unk]" are the same phrase.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NormalisedPhrase(String);

impl NormalisedPhrase {
    pub fn new(text: &str) -> Self {
        let words: Vec<String> = heard_words(text).into_iter().flatten().collect();
        Self(words.join(" "))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ').filter(|word| !word.is_empty())
    }

    pub fn word_count(&self) -> usize {
        self.words().count()
    }
}

/// Recognizer output as matching sees it: the words normalised as a phrase
/// is, and each unknown-word token kept in its place as `None`, a word that
/// matches nothing ("하얀 [unk] 말" is not "하얀 말").
pub fn heard_words(text: &str) -> Vec<Option<String>> {
    let mut words: Vec<Option<String>> = Vec::new();
    let folded: String = text.nfkc().collect::<String>().to_lowercase();
    for token in folded.split_whitespace() {
        if UNKNOWN_WORD_TOKENS.contains(&token) {
            words.push(None);
            continue;
        }
        let mut word = String::new();
        for c in token.chars() {
            if c.is_alphanumeric() || is_combining_mark(c) {
                word.push(c);
            } else if is_apostrophe(c) {
                // "don't" must stay one word, as recognizers write it.
            } else if !word.is_empty() {
                // Other punctuation separates words: "white-horse".
                words.push(Some(std::mem::take(&mut word)));
            }
        }
        if !word.is_empty() {
            words.push(Some(word));
        }
    }
    words
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{02BC}')
}

impl fmt::Debug for NormalisedPhrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NormalisedPhrase(<redacted>, {} words)",
            self.word_count()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_spacing_punctuation_and_unknown_tokens() {
        let cases = [
            ("White horse", "white horse"),
            ("  WHITE\t\thorse \n", "white horse"),
            ("white, horse!", "white horse"),
            ("white-horse", "white horse"),
            ("[unk] white [unk] horse [UNK]", "white horse"),
            ("<unk> white horse", "white horse"),
            ("don't panic", "dont panic"),
            ("don\u{2019}t panic", "dont panic"),
            ("route 66", "route 66"),
            ("하얀 말", "하얀 말"),
            ("하얀  말.", "하얀 말"),
            ("[unk] 하얀 말 [unk]", "하얀 말"),
            ("Ｗｈｉｔｅ　Ｈｏｒｓｅ", "white horse"),
            ("ÉCOLE Über", "école über"),
            ("?!", ""),
            ("[unk]", ""),
            ("", ""),
        ];
        for (raw, expected) in cases {
            assert_eq!(NormalisedPhrase::new(raw).as_str(), expected, "{raw:?}");
        }
    }

    #[test]
    fn heard_words_keep_unknown_tokens_in_place() {
        let some = |w: &str| Some(w.to_string());
        assert_eq!(
            heard_words("하얀 [unk] 말!"),
            [some("하얀"), None, some("말")]
        );
        assert_eq!(
            heard_words("<UNK> white-horse"),
            [None, some("white"), some("horse")]
        );
        assert!(heard_words(" ?! ").is_empty());
    }

    #[test]
    fn decomposed_hangul_equals_precomposed() {
        let decomposed: String = "하얀 말".nfd().collect();
        assert_ne!(decomposed, "하얀 말");
        assert_eq!(NormalisedPhrase::new(&decomposed).as_str(), "하얀 말");
    }

    #[test]
    fn combining_marks_stay_inside_their_word() {
        // Devanagari vowel signs are marks, not letters; splitting on them
        // would turn one word into several.
        assert_eq!(NormalisedPhrase::new("नमस्ते दुनिया").word_count(), 2);
    }

    #[test]
    fn counts_words() {
        assert_eq!(NormalisedPhrase::new("하얀 말 아니요").word_count(), 3);
        assert_eq!(NormalisedPhrase::new("").word_count(), 0);
        assert!(NormalisedPhrase::new("[unk]").is_empty());
    }

    #[test]
    fn debug_hides_the_phrase() {
        let shown = format!("{:?}", NormalisedPhrase::new("white horse"));
        assert!(!shown.contains("white"), "{shown}");
        assert!(shown.contains("2 words"), "{shown}");
    }
}
