//! What the flow asks the outside world to do. The driver executes actions
//! in order: a `Transfer` or `Hangup` comes after the prompts that announce
//! it, and `CollectDigits`/`Listen` start once the prompts before them
//! have played.

use std::time::Duration;

use serde::Serialize;

use super::audit::AuditEvent;
use super::event::{AccountId, Alternatives};
use super::outcome::{AuthOutcome, TransferTarget};
use super::prompts::{PlaybackId, PromptId};
use crate::otp::OtpCode;
use crate::phone::E164;

/// Outputs of the flow.
#[derive(Debug, Clone)]
pub enum Action {
    Play(Prompt),
    /// A prompt this call may play soon, with these words: have its audio
    /// ready so that it starts at once when it comes (the welcome with the
    /// caller's name, while they speak their passphrase). Nothing waits for
    /// it, and it may never be played.
    Prepare {
        id: PromptId,
        text: String,
    },
    /// The caller pressed a key that answers the step now collecting input
    /// (barge-in): stop the prompts playing and drop those queued, unless
    /// the one playing must be heard to the end. Only the flow knows which
    /// step a key belongs to, so a key that finished the step before (the
    /// `#` after a full-length number) never cuts the next step's prompts.
    /// Carry it out at once, ahead of actions waiting for playback.
    StopPrompts,
    CollectDigits(DigitCollection),
    Listen(ListenRequest),
    /// Drop the current recognition: its answer is no longer wanted.
    StopListening,
    LookupAccount {
        number: E164,
        purpose: LookupPurpose,
    },
    /// Check the alternatives against the account's stored passphrase
    /// (`StoredPassphrase::matches_any` on a blocking thread, or a CRM web
    /// call) and answer with `Event::PassphraseChecked`.
    VerifyPassphrase {
        account: AccountId,
        alternatives: Alternatives,
    },
    /// Send `code` by SMS to `to` and answer with `CodeSent`/`CodeFailed`.
    SendCode {
        to: E164,
        account: AccountId,
        code: OtpCode,
    },
    Transfer {
        target: TransferTarget,
        outcome: AuthOutcome,
    },
    Hangup,
    Audit(AuditEvent),
}

/// A prompt to play: a stable id (for recorded audio) and the text with its
/// parameters filled in (for text-to-speech).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub playback: PlaybackId,
    pub id: PromptId,
    pub text: String,
}

/// How to collect keypad input. The flow runs these timers itself and
/// decides barge-in ([`Action::StopPrompts`]); the driver may use this to
/// enable DTMF detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitCollection {
    pub max_digits: usize,
    /// Allowed gap between keys once the first has been pressed.
    pub inter_digit_timeout: Duration,
    /// Allowed time from the end of the prompt to the end of the entry.
    pub total_timeout: Duration,
    /// Ends the entry early (`#`).
    pub terminator: Option<char>,
    /// Throws away what was entered so far and starts again (`*`).
    pub restart: Option<char>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenRequest {
    pub vocabulary: ListenWords,
    /// How long the caller has to begin speaking: silence until then ends
    /// the turn.
    pub timeout: Duration,
    /// Longest the turn's audio runs, an answer begun late included: the
    /// recognizer gives its final result there whatever it hears.
    pub max_duration: Duration,
    pub purpose: ListenPurpose,
    /// Words the answer has, when known: the turn may end after a short
    /// pause once that many are heard.
    pub expected_words: Option<usize>,
}

/// What the recognizer may hear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenWords {
    /// The model's whole vocabulary.
    Full,
    /// A fixed word list (a Vosk grammar plus `[unk]`). Never built from
    /// one account's passphrase: a one-phrase grammar hears it everywhere.
    Words(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenPurpose {
    Passphrase,
    Menu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupPurpose {
    /// The number the call came from.
    CallerId,
    /// A number the caller typed.
    TypedNumber,
}
