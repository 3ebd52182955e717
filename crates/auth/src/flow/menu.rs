//! The authenticated caller's menu: balance by key or by voice, an agent,
//! or goodbye.

use std::time::Instant;

use super::action::{Action, DigitCollection, ListenPurpose, ListenRequest, ListenWords};
use super::audit::{AuditEvent, HangupReason, MenuChoice, MenuInput};
use super::digits::{DigitEntry, DigitStep};
use super::event::{Account, Alternatives};
use super::outcome::{AuthOutcome, Factor, TransferTarget};
use super::prompts::PromptId;
use super::stage::Stage;
use super::state::{Identified, State};
use super::Flow;
use crate::passphrase::NormalisedPhrase;

impl Flow {
    pub(super) fn authenticated(&mut self, now: Instant, caller: Identified, factor: Factor) {
        self.audit(AuditEvent::Authenticated {
            account: caller.account.id.clone(),
            factor,
            identified_by: caller.by,
        });
        let welcome = match factor {
            Factor::Passphrase => PromptId::WelcomeAfterPassphrase,
            Factor::SmsCode => PromptId::WelcomeAfterCode,
        };
        self.play_with(now, welcome, &[("name", &caller.account.name)]);
        self.offer_menu(now, caller.account, factor, 0);
    }

    fn offer_menu(&mut self, now: Instant, account: Account, factor: Factor, invalid: u32) {
        self.play(now, PromptId::Menu);
        let menu = &self.config.menu;
        let spec = DigitCollection {
            max_digits: 1,
            inter_digit_timeout: menu.timeout,
            total_timeout: menu.timeout,
            terminator: None,
            restart: None,
        };
        let words = menu
            .balance_words
            .iter()
            .chain(&menu.agent_words)
            .cloned()
            .collect();
        let listen = ListenRequest {
            vocabulary: ListenWords::Words(words),
            timeout: menu.timeout,
            // The menu's own timer ends the step at `timeout`, keys or words.
            max_duration: menu.timeout,
            purpose: ListenPurpose::Menu,
            expected_words: Some(1),
        };
        self.collect_digits(spec);
        self.emit(Action::Listen(listen));
        self.state = State::Menu {
            account,
            factor,
            entry: DigitEntry::new(spec),
            invalid_choices: invalid,
        };
    }

    pub(super) fn on_menu_digit(&mut self, now: Instant, key: char) {
        let State::Menu { entry, .. } = &mut self.state else {
            return;
        };
        let DigitStep::Complete(keys) = entry.push(now, key) else {
            return;
        };
        let menu = &self.config.menu;
        let choice = match keys.expose().chars().next() {
            Some(key) if key == menu.balance_key => MenuChoice::Balance,
            Some(key) if key == menu.agent_key => MenuChoice::Agent,
            _ => MenuChoice::Invalid,
        };
        self.emit(Action::StopListening);
        self.choose(now, choice, MenuInput::Dtmf);
    }

    pub(super) fn on_menu_heard(&mut self, now: Instant, alternatives: Alternatives) {
        let menu = &self.config.menu;
        let says_any = |words: &[String], text: &str| {
            let heard = NormalisedPhrase::new(text);
            let said = heard.words().any(|w| {
                words
                    .iter()
                    .any(|word| NormalisedPhrase::new(word).as_str() == w)
            });
            said
        };
        // The best alternative that names a choice decides.
        let choice = alternatives.texts().find_map(|text| {
            if says_any(&menu.balance_words, text) {
                Some(MenuChoice::Balance)
            } else if says_any(&menu.agent_words, text) {
                Some(MenuChoice::Agent)
            } else {
                None
            }
        });
        let heard_nothing = alternatives
            .texts()
            .all(|text| NormalisedPhrase::new(text).is_empty());
        match choice {
            Some(choice) => self.choose(now, choice, MenuInput::Speech),
            // Silence ends only this recognition: keys still count until
            // the menu times out.
            None if heard_nothing => {}
            None => self.choose(now, MenuChoice::Invalid, MenuInput::Speech),
        }
    }

    fn choose(&mut self, now: Instant, choice: MenuChoice, input: MenuInput) {
        let Some(State::Menu {
            account,
            factor,
            invalid_choices,
            ..
        }) = self.take_state_if(Stage::Menu)
        else {
            return;
        };
        self.audit(AuditEvent::MenuChoice {
            account: account.id.clone(),
            choice,
            input,
        });
        match choice {
            MenuChoice::Balance => {
                let balance = account.balance.to_string();
                self.play_with(now, PromptId::Balance, &[("balance", &balance)]);
                self.offer_menu(now, account, factor, invalid_choices);
            }
            MenuChoice::Agent => {
                self.play(now, PromptId::TransferringToAgent);
                let outcome = AuthOutcome::Verified {
                    account: account.id,
                    factor,
                };
                self.transfer(now, TransferTarget::Authenticated, outcome);
            }
            MenuChoice::Invalid if invalid_choices < self.config.menu.invalid_limit => {
                self.offer_menu(now, account, factor, invalid_choices + 1);
            }
            MenuChoice::Invalid => self.say_goodbye(now, HangupReason::MenuInvalid),
        }
    }

    pub(super) fn on_menu_timeout(&mut self, now: Instant) {
        let State::Menu { entry, .. } = &mut self.state else {
            return;
        };
        if entry.expire(now).is_none() {
            return;
        }
        self.emit(Action::StopListening);
        self.say_goodbye(now, HangupReason::MenuTimeout);
    }
}
