use std::path::Path;

use crate::error::AsrError;

/// The words recognition is restricted to, plus `[unk]` so that speech
/// outside the list comes out as unknown instead of as the nearest listed word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    words: Vec<String>,
}

impl Vocabulary {
    /// One word (or phrase) per line; blank lines and `#` comments ignored.
    pub fn from_file(path: &Path) -> Result<Vocabulary, AsrError> {
        let text = std::fs::read_to_string(path).map_err(|source| AsrError::VocabularyRead {
            path: path.to_path_buf(),
            source,
        })?;
        let vocabulary = Vocabulary::from_words(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#')),
        );
        if vocabulary.words.is_empty() {
            return Err(AsrError::VocabularyEmpty(path.to_path_buf()));
        }
        Ok(vocabulary)
    }

    pub fn from_words<I, S>(words: I) -> Vocabulary
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list: Vec<String> = Vec::new();
        for w in words {
            // Quotes would break the JSON grammar Vosk is given.
            let w = w.as_ref().trim().replace(['"', '\\'], "").to_lowercase();
            if !w.is_empty() && w != "[unk]" && !list.contains(&w) {
                list.push(w);
            }
        }
        Vocabulary { words: list }
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }

    pub fn contains(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word)
    }

    pub(crate) fn grammar(&self) -> Vec<String> {
        let mut g = self.words.clone();
        g.push("[unk]".into());
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_cleaned_deduplicated_and_unk_added_once() {
        let v = Vocabulary::from_words(["하얀", " 말 ", "하얀", "\"Quote\"", "[unk]", ""]);
        assert_eq!(v.words(), ["하얀", "말", "quote"]);
        assert_eq!(v.grammar().last().map(String::as_str), Some("[unk]"));
        assert_eq!(v.grammar().len(), 4);
    }

    #[test]
    fn file_with_comments_and_an_empty_file() {
        let dir = std::env::temp_dir().join(format!("vocab-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.txt");
        std::fs::write(&good, "# passphrase words\n하얀\n\n말\n").unwrap();
        assert_eq!(
            Vocabulary::from_file(&good).unwrap().words(),
            ["하얀", "말"]
        );
        let empty = dir.join("empty.txt");
        std::fs::write(&empty, "# nothing\n").unwrap();
        assert!(matches!(
            Vocabulary::from_file(&empty),
            Err(AsrError::VocabularyEmpty(_))
        ));
        assert!(matches!(
            Vocabulary::from_file(&dir.join("missing.txt")),
            Err(AsrError::VocabularyRead { .. })
        ));
    }
}
