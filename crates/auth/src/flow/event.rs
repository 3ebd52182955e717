//! What the outside world tells the flow.

use std::fmt;

use serde::Serialize;

use super::prompts::PlaybackId;
use crate::passphrase::WordSpan;
use crate::phone::E164;
use crate::secret::SecretString;

/// Inputs to [`Flow::handle_event`](super::Flow::handle_event).
#[derive(Debug, Clone)]
pub enum Event {
    /// The caller's number from the INVITE, or `None` when withheld or
    /// absent. Starts the flow.
    CallerId(Option<E164>),
    /// The answer to the last [`Action::LookupAccount`](super::Action::LookupAccount).
    AccountLookup(LookupResult),
    /// One keypad key (RFC 4733, SIP INFO or in-band): `0-9 * # A-D`.
    Digit(char),
    /// The recognizer's final N-best result for the current `Listen`, best
    /// first. No alternatives (or only empty ones) means silence.
    Transcript(Alternatives),
    /// The recognizer could not take the current `Listen` (no room), or
    /// ended it without a result (it failed on the turn): nobody hears the
    /// caller, which is not the caller's silence.
    RecognizerFailed,
    /// The answer to [`Action::VerifyPassphrase`](super::Action::VerifyPassphrase).
    PassphraseChecked(PassphraseCheck),
    /// The SMS gateway accepted the code.
    CodeSent,
    /// The SMS gateway refused or failed.
    CodeFailed,
    /// Every prompt up to and including this one has finished playing (or
    /// was cut off by barge-in). Input timers start from here.
    PromptFinished(PlaybackId),
    /// The REFER was refused or the transfer target did not answer.
    TransferFailed,
    /// The caller hung up.
    Hangup,
}

/// An account's identifier in the store (or a CRM).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AccountId(pub String);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An amount in hundredths of the currency unit, spoken as `1234.56`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    pub cents: i64,
}

impl fmt::Display for Balance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.cents < 0 { "-" } else { "" };
        let magnitude = self.cents.unsigned_abs();
        write!(f, "{sign}{}.{:02}", magnitude / 100, magnitude % 100)
    }
}

/// What the flow needs to know about an account. The passphrase hash is not
/// here: checking it is an action (Argon2 is too slow for the event loop,
/// and a CRM may do it instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    /// The number on file that one-time codes are sent to, which is not
    /// necessarily the number calling.
    pub sms_number: E164,
    pub balance: Balance,
    /// Words in the account's passphrase, when the store knows it: the
    /// recognizer may end the caller's turn after a short pause once it has
    /// heard that many. Not secret enough to matter, and never logged.
    pub passphrase_words: Option<usize>,
}

/// The result of looking a number up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupResult {
    Found(Account),
    NotFound,
    /// Too many failed factors recently, for the account or for the calling
    /// number; the store decides, the flow only sends the caller on.
    Locked {
        account: Option<AccountId>,
    },
    /// The store or CRM could not answer.
    Failed,
}

/// The result of checking spoken alternatives against an account's phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassphraseCheck {
    Match,
    NoMatch,
    /// Verification could not be done (store down, CRM timeout).
    Error,
}

/// Recognizer alternatives, best first, each with the recognizer's score
/// (higher is better) and, when the recognizer gave them, its words'
/// timings; and the syllable nuclei heard in the turn (seconds from its
/// start, the words' clock; empty when not measured). They may be the
/// passphrase, so `Debug` shows only how many there are.
#[derive(Clone, Default)]
pub struct Alternatives {
    heard: Vec<(SecretString, f32, Vec<WordSpan>)>,
    nuclei: Vec<f32>,
}

impl Alternatives {
    /// Alternatives without scores: all score the same.
    pub fn new<S: Into<String>>(texts: impl IntoIterator<Item = S>) -> Self {
        Self::scored(texts.into_iter().map(|t| (t, 0.0)))
    }

    pub fn scored<S: Into<String>>(alternatives: impl IntoIterator<Item = (S, f32)>) -> Self {
        Self::timed(
            alternatives
                .into_iter()
                .map(|(t, score)| (t, score, Vec::new())),
        )
    }

    /// Alternatives with scores and one span per whitespace-separated word.
    pub fn timed<S: Into<String>>(
        alternatives: impl IntoIterator<Item = (S, f32, Vec<WordSpan>)>,
    ) -> Self {
        Self {
            heard: alternatives
                .into_iter()
                .map(|(t, score, spans)| (SecretString::new(t.into()), score, spans))
                .collect(),
            nuclei: Vec::new(),
        }
    }

    /// The same alternatives with the turn's syllable nuclei.
    pub fn with_nuclei(self, nuclei: Vec<f32>) -> Self {
        Self { nuclei, ..self }
    }

    /// The syllable nuclei heard in the turn, in seconds.
    pub fn nuclei(&self) -> &[f32] {
        &self.nuclei
    }

    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.heard.iter().map(|(t, _, _)| t.expose())
    }

    /// Each text with its score.
    pub fn scored_texts(&self) -> impl Iterator<Item = (&str, f32)> {
        self.heard.iter().map(|(t, score, _)| (t.expose(), *score))
    }

    /// Each text with its score and its words' timings.
    pub fn timed_texts(&self) -> impl Iterator<Item = (&str, f32, Vec<WordSpan>)> {
        self.heard
            .iter()
            .map(|(t, score, spans)| (t.expose(), *score, spans.clone()))
    }

    pub fn len(&self) -> usize {
        self.heard.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heard.is_empty()
    }
}

impl fmt::Debug for Alternatives {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Alternatives(<{} redacted>)", self.heard.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balance_is_spoken_with_two_decimals() {
        let cases = [
            (123_456, "1234.56"),
            (5, "0.05"),
            (-250, "-2.50"),
            (0, "0.00"),
        ];
        for (cents, spoken) in cases {
            assert_eq!(Balance { cents }.to_string(), spoken);
        }
        assert_eq!(
            Balance { cents: i64::MIN }.to_string(),
            "-92233720368547758.08"
        );
    }

    #[test]
    fn alternatives_hide_their_text() {
        let alternatives = Alternatives::new(["white horse", "white house"]);
        assert_eq!(format!("{alternatives:?}"), "Alternatives(<2 redacted>)");
        assert_eq!(
            alternatives.texts().collect::<Vec<_>>(),
            ["white horse", "white house"]
        );
        assert_eq!(alternatives.len(), 2);
    }
}
