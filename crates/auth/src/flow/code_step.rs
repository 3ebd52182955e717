//! The SMS code: issue it, have it sent to the number on file, check what
//! the caller types.

use std::time::Instant;

use super::action::{Action, DigitCollection};
use super::audit::{AuditEvent, CodeResult, SendResult};
use super::digits::{DigitEntry, DigitStep};
use super::outcome::{AuthOutcome, Factor, TransferTarget};
use super::prompts::PromptId;
use super::stage::Stage;
use super::state::{Identified, State};
use super::Flow;
use crate::otp::{CodeCheck, IssuedCode};
use crate::secret::SecretString;

impl Flow {
    pub(super) fn fall_back_to_code(&mut self, now: Instant, caller: Identified) {
        self.play(now, PromptId::PassphraseFailed);
        self.prepare_with(
            PromptId::WelcomeAfterCode,
            &[("name", &caller.account.name)],
        );
        let to = caller.account.sms_number.clone();
        let account = caller.account.id.clone();
        match IssuedCode::issue(self.secrets.as_mut(), &self.config.code.policy, now) {
            Ok((code, issued)) => {
                self.audit(AuditEvent::CodeSend {
                    account: account.clone(),
                    to: to.clone(),
                    result: SendResult::Requested,
                });
                self.emit(Action::SendCode { to, account, code });
                self.state = State::SendingCode {
                    caller,
                    issued,
                    deadline: now + self.config.code.send_timeout,
                };
            }
            Err(_) => {
                self.audit(AuditEvent::CodeSend {
                    account,
                    to,
                    result: SendResult::NotGenerated,
                });
                self.code_not_sent(now);
            }
        }
    }

    pub(super) fn on_code_sent(&mut self, now: Instant) {
        let Some(State::SendingCode { caller, issued, .. }) =
            self.take_state_if(Stage::SendingCode)
        else {
            return;
        };
        self.audit(AuditEvent::CodeSend {
            account: caller.account.id.clone(),
            to: caller.account.sms_number.clone(),
            result: SendResult::Sent,
        });
        self.ask_code(now, caller, issued, PromptId::EnterCode);
    }

    pub(super) fn on_code_failed(&mut self, now: Instant) {
        self.send_failed(now, SendResult::Failed);
    }

    pub(super) fn on_send_timeout(&mut self, now: Instant) {
        self.send_failed(now, SendResult::TimedOut);
    }

    fn send_failed(&mut self, now: Instant, result: SendResult) {
        let Some(State::SendingCode { caller, .. }) = self.take_state_if(Stage::SendingCode) else {
            return;
        };
        self.audit(AuditEvent::CodeSend {
            account: caller.account.id.clone(),
            to: caller.account.sms_number.clone(),
            result,
        });
        self.code_not_sent(now);
    }

    fn code_not_sent(&mut self, now: Instant) {
        self.play(now, PromptId::CodeSendFailed);
        self.transfer(now, TransferTarget::Representative, AuthOutcome::Error);
    }

    fn ask_code(&mut self, now: Instant, caller: Identified, issued: IssuedCode, prompt: PromptId) {
        self.play(now, prompt);
        let code = &self.config.code;
        let spec = DigitCollection {
            max_digits: code.policy.length,
            inter_digit_timeout: code.inter_digit_timeout,
            total_timeout: code.total_timeout,
            terminator: code.terminator,
            restart: code.restart,
        };
        self.collect_digits(spec);
        self.state = State::CodeEntry {
            caller,
            issued,
            entry: DigitEntry::new(spec),
        };
    }

    pub(super) fn on_code_digit(&mut self, now: Instant, key: char) {
        let State::CodeEntry { entry, .. } = &mut self.state else {
            return;
        };
        if let DigitStep::Complete(keys) = entry.push(now, key) {
            self.check_code(now, keys);
        }
    }

    pub(super) fn on_code_entry_timeout(&mut self, now: Instant) {
        let State::CodeEntry { entry, issued, .. } = &mut self.state else {
            return;
        };
        if issued.is_expired(now) {
            // Whatever is half-typed is checked and found expired.
            let keys = entry.take_keys();
            self.check_code(now, keys);
        } else if let Some(keys) = entry.expire(now) {
            self.check_code(now, keys);
        }
    }

    fn check_code(&mut self, now: Instant, keys: SecretString) {
        let Some(State::CodeEntry {
            caller, mut issued, ..
        }) = self.take_state_if(Stage::CodeEntry)
        else {
            return;
        };
        let check = issued.check(now, keys.expose());
        let account = caller.account.id.clone();
        let audited = |result| AuditEvent::CodeChecked {
            account: account.clone(),
            result,
        };
        match check {
            CodeCheck::Accepted => {
                self.audit(audited(CodeResult::Accepted));
                self.authenticated(now, caller, Factor::SmsCode);
            }
            CodeCheck::Rejected { tries_left } => {
                self.audit(audited(CodeResult::Rejected { tries_left }));
                self.ask_code(now, caller, issued, PromptId::CodeWrong);
            }
            CodeCheck::Exhausted | CodeCheck::Spent => {
                self.audit(audited(CodeResult::Exhausted));
                self.transfer(now, TransferTarget::Representative, AuthOutcome::Failed);
            }
            CodeCheck::Expired => {
                self.audit(audited(CodeResult::Expired));
                self.play(now, PromptId::CodeExpired);
                self.transfer(now, TransferTarget::Representative, AuthOutcome::Failed);
            }
        }
    }
}
