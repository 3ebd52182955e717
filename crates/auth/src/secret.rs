//! Text that must never reach a log line, an error message or an audit row.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A string holding a secret (a spoken passphrase, a one-time code, digits a
/// caller typed). `Debug` prints only that something is there; there is no
/// `Display`, so the only way to the text is the explicit [`expose`].
///
/// [`expose`]: SecretString::expose
#[derive(Clone, Default)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn push(&mut self, c: char) {
        self.0.push(c);
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    pub(crate) fn char_count(&self) -> usize {
        self.0.chars().count()
    }
}

impl From<String> for SecretString {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl From<&str> for SecretString {
    fn from(text: &str) -> Self {
        Self(text.to_string())
    }
}

/// Secrets in configuration (gateway tokens, signing keys) load as plain
/// strings and are redacted from then on.
impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_text() {
        let secret = SecretString::new("white horse 6408");
        let shown = format!("{secret:?} {secret:#?}");
        assert!(!shown.contains("white"), "{shown}");
        assert!(!shown.contains("6408"), "{shown}");
        assert_eq!(secret.expose(), "white horse 6408");
    }

    #[test]
    fn editing_keeps_the_text_and_its_length() {
        let mut digits = SecretString::default();
        assert!(digits.is_empty());
        digits.push('6');
        digits.push('4');
        assert_eq!(digits.char_count(), 2);
        assert_eq!(digits.expose(), "64");
        digits.clear();
        assert!(digits.is_empty());
    }
}
