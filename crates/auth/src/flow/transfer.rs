//! How a call leaves the flow: transferred, hung up by us, or by the caller.

use std::time::Instant;

use super::action::Action;
use super::audit::{AuditEvent, HangupReason};
use super::outcome::{AuthOutcome, TransferTarget};
use super::prompts::PromptId;
use super::stage::Stage;
use super::state::State;
use super::Flow;

impl Flow {
    /// Announces and requests the transfer. The representative prompt is
    /// played here; callers play any more specific prompt first.
    pub(super) fn transfer(&mut self, now: Instant, target: TransferTarget, outcome: AuthOutcome) {
        if target == TransferTarget::Representative {
            self.play(now, PromptId::TransferringToRepresentative);
        }
        self.audit(AuditEvent::Transferred {
            target,
            outcome: outcome.clone(),
        });
        self.emit(Action::Transfer {
            target,
            outcome: outcome.clone(),
        });
        self.state = State::Transferring { target, outcome };
    }

    pub(super) fn on_transfer_failed(&mut self, now: Instant) {
        let Some(State::Transferring { target, outcome }) = self.take_state_if(Stage::Transferring)
        else {
            return;
        };
        self.audit(AuditEvent::TransferFailed { target, outcome });
        self.play(now, PromptId::TransferFailed);
        self.hang_up(HangupReason::TransferFailed);
    }

    pub(super) fn say_goodbye(&mut self, now: Instant, reason: HangupReason) {
        self.play(now, PromptId::Goodbye);
        self.hang_up(reason);
    }

    fn hang_up(&mut self, reason: HangupReason) {
        self.audit(AuditEvent::FlowHungUp { reason });
        self.emit(Action::Hangup);
        self.state = State::Ended;
        self.unfinished_prompt = None;
    }

    pub(super) fn on_caller_hangup(&mut self) {
        if matches!(self.state, State::Ended) {
            return;
        }
        if self.state.is_listening() {
            self.emit(Action::StopListening);
        }
        let stage = self.state.stage();
        let account = self.state.account_id();
        self.audit(AuditEvent::CallerHungUp { stage, account });
        self.state = State::Ended;
        self.unfinished_prompt = None;
    }
}
