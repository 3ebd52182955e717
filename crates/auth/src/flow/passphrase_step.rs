//! The spoken passphrase: ask, listen, have the alternatives verified.

use std::time::Instant;

use super::action::{Action, ListenPurpose, ListenRequest, ListenWords};
use super::audit::{AuditEvent, PassphraseResult};
use super::event::{Alternatives, PassphraseCheck};
use super::prompts::PromptId;
use super::stage::Stage;
use super::state::{Identified, State};
use super::Flow;
use crate::passphrase::NormalisedPhrase;

impl Flow {
    pub(super) fn ask_passphrase(&mut self, now: Instant, caller: Identified) {
        self.play(now, PromptId::PassphraseRequest);
        if self.config.passphrase.beep {
            self.play(now, PromptId::Beep);
        }
        let vocabulary = match &self.config.passphrase.vocabulary {
            Some(words) => ListenWords::Words(words.clone()),
            None => ListenWords::Full,
        };
        self.emit(Action::Listen(ListenRequest {
            vocabulary,
            timeout: self.config.passphrase.listen_timeout,
            max_duration: self.config.passphrase.listen_timeout + self.config.passphrase.max_answer,
            purpose: ListenPurpose::Passphrase,
            expected_words: caller.account.passphrase_words,
        }));
        // Right after the answer comes the welcome with the caller's name:
        // rendered now, it does not stand between the decision and the caller.
        self.prepare_with(
            PromptId::WelcomeAfterPassphrase,
            &[("name", &caller.account.name)],
        );
        self.state = State::Passphrase {
            caller,
            deadline: None,
        };
    }

    pub(super) fn on_passphrase_heard(&mut self, now: Instant, alternatives: Alternatives) {
        let Some(State::Passphrase { caller, .. }) = self.take_state_if(Stage::Passphrase) else {
            return;
        };
        let heard_words = alternatives
            .texts()
            .any(|text| !NormalisedPhrase::new(text).is_empty());
        if !heard_words {
            self.audit(AuditEvent::PassphraseChecked {
                account: caller.account.id.clone(),
                result: PassphraseResult::Silence,
            });
            self.fall_back_to_code(now, caller);
            return;
        }
        self.emit(Action::VerifyPassphrase {
            account: caller.account.id.clone(),
            alternatives,
        });
        self.state = State::PassphraseCheck {
            caller,
            deadline: now + self.config.passphrase.verify_timeout,
        };
    }

    /// Nobody can hear this turn: the caller goes on to the code at once
    /// instead of speaking into the listen timeout. A spoken menu choice
    /// needs nothing: its keys still work and its timeout runs.
    pub(super) fn on_recognizer_failed(&mut self, now: Instant) {
        self.stop_listening_for_code(now, PassphraseResult::Unavailable);
    }

    /// The recognizer never answered: same as silence, and stop it.
    pub(super) fn on_listen_timeout(&mut self, now: Instant) {
        self.stop_listening_for_code(now, PassphraseResult::Silence);
    }

    /// Ends the passphrase turn unheard, audited as `result`, and falls
    /// back to the code.
    fn stop_listening_for_code(&mut self, now: Instant, result: PassphraseResult) {
        let Some(State::Passphrase { caller, .. }) = self.take_state_if(Stage::Passphrase) else {
            return;
        };
        self.emit(Action::StopListening);
        self.audit(AuditEvent::PassphraseChecked {
            account: caller.account.id.clone(),
            result,
        });
        self.fall_back_to_code(now, caller);
    }

    pub(super) fn on_passphrase_checked(&mut self, now: Instant, check: PassphraseCheck) {
        let Some(State::PassphraseCheck { caller, .. }) =
            self.take_state_if(Stage::PassphraseCheck)
        else {
            return;
        };
        let result = match check {
            PassphraseCheck::Match => PassphraseResult::Match,
            PassphraseCheck::NoMatch => PassphraseResult::NoMatch,
            PassphraseCheck::Error => PassphraseResult::Error,
        };
        self.audit(AuditEvent::PassphraseChecked {
            account: caller.account.id.clone(),
            result,
        });
        match check {
            PassphraseCheck::Match => {
                self.authenticated(now, caller, super::outcome::Factor::Passphrase)
            }
            // A failed check is not a pass; the code still lets the caller in.
            PassphraseCheck::NoMatch | PassphraseCheck::Error => {
                self.fall_back_to_code(now, caller)
            }
        }
    }

    pub(super) fn on_verify_timeout(&mut self, now: Instant) {
        let Some(State::PassphraseCheck { caller, .. }) =
            self.take_state_if(Stage::PassphraseCheck)
        else {
            return;
        };
        self.audit(AuditEvent::PassphraseChecked {
            account: caller.account.id.clone(),
            result: PassphraseResult::TimedOut,
        });
        self.fall_back_to_code(now, caller);
    }
}
