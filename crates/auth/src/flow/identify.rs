//! The first factor: who the caller is. Caller ID lookup, else the offer to
//! type the number on file, the typed number and its lookup.

use std::time::Instant;

use super::action::{Action, DigitCollection, LookupPurpose};
use super::audit::{AuditEvent, IdentifiedBy, LookupSummary, OfferAnswer};
use super::digits::{DigitEntry, DigitStep};
use super::event::LookupResult;
use super::outcome::{AuthOutcome, TransferTarget};
use super::prompts::PromptId;
use super::state::{Identified, State};
use super::Flow;
use crate::phone::E164;
use crate::secret::SecretString;

impl Flow {
    pub(super) fn on_caller_id(&mut self, now: Instant, number: Option<E164>) {
        if !matches!(self.state, State::AwaitingCallerId) {
            return;
        }
        self.audit(AuditEvent::CallStarted {
            caller: number.clone(),
        });
        if !self.config.prompts.template(PromptId::Greeting).is_empty() {
            self.play(now, PromptId::Greeting);
        }
        match number {
            Some(number) => {
                self.emit(Action::LookupAccount {
                    number: number.clone(),
                    purpose: LookupPurpose::CallerId,
                });
                self.state = State::CallerLookup {
                    number,
                    deadline: now + self.config.lookup_timeout,
                };
            }
            // A withheld number is treated as one we do not know.
            None => self.offer_typed_number(now),
        }
    }

    pub(super) fn on_lookup(&mut self, now: Instant, result: LookupResult) {
        match self.take_state() {
            State::CallerLookup { number, .. } => {
                self.audit(AuditEvent::CallerLookup {
                    number,
                    result: summarise(&result),
                });
                match result {
                    LookupResult::Found(account) => self.ask_passphrase(
                        now,
                        Identified {
                            account,
                            by: IdentifiedBy::CallerId,
                        },
                    ),
                    LookupResult::NotFound => self.offer_typed_number(now),
                    LookupResult::Locked { .. } => self.lookup_locked(now),
                    LookupResult::Failed => self.lookup_failed(now),
                }
            }
            State::NumberLookup {
                attempt, number, ..
            } => {
                self.audit(AuditEvent::NumberLookup {
                    attempt,
                    number,
                    result: summarise(&result),
                });
                match result {
                    LookupResult::Found(account) => {
                        self.play(now, PromptId::NumberMatched);
                        self.ask_passphrase(
                            now,
                            Identified {
                                account,
                                by: IdentifiedBy::TypedNumber,
                            },
                        );
                    }
                    LookupResult::NotFound => {
                        self.retry_number_entry(now, attempt, PromptId::NumberNotFound)
                    }
                    LookupResult::Locked { .. } => self.lookup_locked(now),
                    LookupResult::Failed => self.lookup_failed(now),
                }
            }
            other => self.state = other,
        }
    }

    pub(super) fn on_lookup_timeout(&mut self, now: Instant) {
        match self.take_state() {
            State::CallerLookup { number, .. } => self.audit(AuditEvent::CallerLookup {
                number,
                result: LookupSummary::TimedOut,
            }),
            State::NumberLookup {
                attempt, number, ..
            } => self.audit(AuditEvent::NumberLookup {
                attempt,
                number,
                result: LookupSummary::TimedOut,
            }),
            other => {
                self.state = other;
                return;
            }
        }
        self.lookup_failed(now);
    }

    fn lookup_locked(&mut self, now: Instant) {
        self.transfer(now, TransferTarget::Representative, AuthOutcome::Locked);
    }

    fn lookup_failed(&mut self, now: Instant) {
        self.transfer(now, TransferTarget::Representative, AuthOutcome::Error);
    }

    /// "If you have an account with us, press 1".
    fn offer_typed_number(&mut self, now: Instant) {
        self.play(now, PromptId::NumberNotRecognized);
        let spec = DigitCollection {
            max_digits: 1,
            inter_digit_timeout: self.config.offer.timeout,
            total_timeout: self.config.offer.timeout,
            terminator: None,
            restart: None,
        };
        self.collect_digits(spec);
        self.state = State::OfferTypedNumber {
            entry: DigitEntry::new(spec),
        };
    }

    pub(super) fn on_offer_digit(&mut self, now: Instant, key: char) {
        let State::OfferTypedNumber { entry } = &mut self.state else {
            return;
        };
        let DigitStep::Complete(keys) = entry.push(now, key) else {
            return;
        };
        let accept_key = self.config.offer.accept_key.to_string();
        if keys.expose() == accept_key {
            self.audit(AuditEvent::TypedNumberOffer {
                answer: OfferAnswer::Accepted,
            });
            self.ask_number(now, 1);
        } else {
            self.audit(AuditEvent::TypedNumberOffer {
                answer: OfferAnswer::Declined,
            });
            self.transfer(now, TransferTarget::Representative, AuthOutcome::NoAccount);
        }
    }

    pub(super) fn on_offer_timeout(&mut self, now: Instant) {
        self.audit(AuditEvent::TypedNumberOffer {
            answer: OfferAnswer::NoAnswer,
        });
        self.transfer(now, TransferTarget::Representative, AuthOutcome::NoAccount);
    }

    fn number_spec(&self) -> DigitCollection {
        let entry = &self.config.number_entry;
        DigitCollection {
            max_digits: self.config.numbering.national_digits,
            inter_digit_timeout: entry.inter_digit_timeout,
            total_timeout: entry.total_timeout,
            terminator: entry.terminator,
            restart: entry.restart,
        }
    }

    fn ask_number(&mut self, now: Instant, attempt: u32) {
        self.play(now, PromptId::EnterNumber);
        let spec = self.number_spec();
        self.collect_digits(spec);
        self.state = State::NumberEntry {
            attempt,
            entry: DigitEntry::new(spec),
        };
    }

    pub(super) fn on_number_digit(&mut self, now: Instant, key: char) {
        let State::NumberEntry { entry, attempt } = &mut self.state else {
            return;
        };
        let attempt = *attempt;
        if let DigitStep::Complete(keys) = entry.push(now, key) {
            self.number_entered(now, attempt, keys);
        }
    }

    pub(super) fn on_number_entry_timeout(&mut self, now: Instant) {
        let State::NumberEntry { entry, attempt } = &mut self.state else {
            return;
        };
        let attempt = *attempt;
        if let Some(keys) = entry.expire(now) {
            self.number_entered(now, attempt, keys);
        }
    }

    fn number_entered(&mut self, now: Instant, attempt: u32, keys: SecretString) {
        let number = self.config.numbering.normalise_typed(keys.expose()).ok();
        self.audit(AuditEvent::NumberEntered {
            attempt,
            number: number.clone(),
        });
        match number {
            Some(number) => {
                self.emit(Action::LookupAccount {
                    number: number.clone(),
                    purpose: LookupPurpose::TypedNumber,
                });
                self.state = State::NumberLookup {
                    attempt,
                    number,
                    deadline: now + self.config.lookup_timeout,
                };
            }
            None => self.retry_number_entry(now, attempt, PromptId::NumberInvalid),
        }
    }

    fn retry_number_entry(&mut self, now: Instant, attempt: u32, why: PromptId) {
        self.play(now, why);
        if attempt < self.config.number_entry.attempts {
            self.ask_number(now, attempt + 1);
        } else {
            self.transfer(now, TransferTarget::Representative, AuthOutcome::NoAccount);
        }
    }
}

fn summarise(result: &LookupResult) -> LookupSummary {
    match result {
        LookupResult::Found(account) => LookupSummary::Found {
            account: account.id.clone(),
        },
        LookupResult::NotFound => LookupSummary::NotFound,
        LookupResult::Locked { account } => LookupSummary::Locked {
            account: account.clone(),
        },
        LookupResult::Failed => LookupSummary::Failed,
    }
}
