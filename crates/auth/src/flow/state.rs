use std::time::Instant;

use super::audit::IdentifiedBy;
use super::config::FlowConfig;
use super::digits::DigitEntry;
use super::event::{Account, AccountId};
use super::outcome::{AuthOutcome, Factor, TransferTarget};
use super::stage::Stage;
use crate::otp::IssuedCode;
use crate::phone::E164;

/// An account the caller has been matched to, and how.
#[derive(Debug)]
pub(super) struct Identified {
    pub account: Account,
    pub by: IdentifiedBy,
}

/// The flow's state and the data each step needs. Deadlines are absolute
/// instants on the caller-supplied clock.
#[derive(Debug)]
pub(super) enum State {
    AwaitingCallerId,
    CallerLookup {
        number: E164,
        deadline: Instant,
    },
    OfferTypedNumber {
        entry: DigitEntry,
    },
    NumberEntry {
        attempt: u32,
        entry: DigitEntry,
    },
    NumberLookup {
        attempt: u32,
        number: E164,
        deadline: Instant,
    },
    Passphrase {
        caller: Identified,
        /// Set once the prompt has played and the recognizer listens.
        deadline: Option<Instant>,
    },
    PassphraseCheck {
        caller: Identified,
        deadline: Instant,
    },
    SendingCode {
        caller: Identified,
        issued: IssuedCode,
        deadline: Instant,
    },
    CodeEntry {
        caller: Identified,
        issued: IssuedCode,
        entry: DigitEntry,
    },
    Menu {
        account: Account,
        factor: Factor,
        entry: DigitEntry,
        invalid_choices: u32,
    },
    Transferring {
        target: TransferTarget,
        outcome: AuthOutcome,
    },
    Ended,
}

impl State {
    pub(super) fn stage(&self) -> Stage {
        match self {
            State::AwaitingCallerId => Stage::AwaitingCallerId,
            State::CallerLookup { .. } => Stage::CallerLookup,
            State::OfferTypedNumber { .. } => Stage::OfferTypedNumber,
            State::NumberEntry { .. } => Stage::NumberEntry,
            State::NumberLookup { .. } => Stage::NumberLookup,
            State::Passphrase { .. } => Stage::Passphrase,
            State::PassphraseCheck { .. } => Stage::PassphraseCheck,
            State::SendingCode { .. } => Stage::SendingCode,
            State::CodeEntry { .. } => Stage::CodeEntry,
            State::Menu { .. } => Stage::Menu,
            State::Transferring { .. } => Stage::Transferring,
            State::Ended => Stage::Ended,
        }
    }

    pub(super) fn account_id(&self) -> Option<AccountId> {
        match self {
            State::Passphrase { caller, .. }
            | State::PassphraseCheck { caller, .. }
            | State::SendingCode { caller, .. }
            | State::CodeEntry { caller, .. } => Some(caller.account.id.clone()),
            State::Menu { account, .. } => Some(account.id.clone()),
            State::Transferring {
                outcome: AuthOutcome::Verified { account, .. },
                ..
            } => Some(account.clone()),
            _ => None,
        }
    }

    /// States whose timers start only once their prompt has played.
    pub(super) fn waits_for_input(&self) -> bool {
        matches!(
            self,
            State::OfferTypedNumber { .. }
                | State::NumberEntry { .. }
                | State::Passphrase { .. }
                | State::CodeEntry { .. }
                | State::Menu { .. }
        )
    }

    /// The keypad entry this state collects, if any.
    pub(super) fn entry(&self) -> Option<&DigitEntry> {
        match self {
            State::OfferTypedNumber { entry }
            | State::NumberEntry { entry, .. }
            | State::CodeEntry { entry, .. }
            | State::Menu { entry, .. } => Some(entry),
            _ => None,
        }
    }

    /// Whether a recognizer is (or is about to be) listening for this state.
    pub(super) fn is_listening(&self) -> bool {
        matches!(self, State::Passphrase { .. } | State::Menu { .. })
    }

    /// Starts the input timers; a no-op if they already run.
    pub(super) fn arm(&mut self, now: Instant, config: &FlowConfig) {
        match self {
            State::OfferTypedNumber { entry }
            | State::NumberEntry { entry, .. }
            | State::CodeEntry { entry, .. }
            | State::Menu { entry, .. } => entry.arm(now),
            State::Passphrase { deadline, .. } => {
                deadline.get_or_insert(
                    now + config.passphrase.listen_timeout
                        + config.passphrase.max_answer
                        + config.passphrase.listen_grace,
                );
            }
            _ => {}
        }
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        match self {
            State::CallerLookup { deadline, .. }
            | State::NumberLookup { deadline, .. }
            | State::PassphraseCheck { deadline, .. }
            | State::SendingCode { deadline, .. } => Some(*deadline),
            State::Passphrase { deadline, .. } => *deadline,
            State::OfferTypedNumber { entry }
            | State::NumberEntry { entry, .. }
            | State::Menu { entry, .. } => entry.deadline(),
            // The code expires whether or not the caller has started typing.
            State::CodeEntry { issued, entry, .. } => Some(
                entry
                    .deadline()
                    .map_or(issued.expires_at(), |d| d.min(issued.expires_at())),
            ),
            State::AwaitingCallerId | State::Transferring { .. } | State::Ended => None,
        }
    }
}
