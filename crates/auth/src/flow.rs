//! The two-factor call flow as a sans-IO state machine.
//!
//! The driver feeds [`Event`]s with the time they happened and executes the
//! [`Action`]s it gets back, in order; it asks [`Flow::poll_timeout`] when
//! to call [`Flow::handle_timeout`]. The flow never reads a clock, so a test
//! can run a whole call, a 60-second code expiry included, in microseconds.
//!
//! ```
//! use std::time::Instant;
//! use auth::flow::{Action, Event, Flow, FlowConfig, LookupResult};
//! use auth::phone::E164;
//!
//! let mut flow = Flow::new(FlowConfig::default())?;
//! let now = Instant::now();
//! let caller = E164::parse("+15557770000")?;
//! let actions = flow.handle_event(now, Event::CallerId(Some(caller)));
//! assert!(actions.iter().any(|a| matches!(a, Action::LookupAccount { .. })));
//!
//! let actions = flow.handle_event(now, Event::AccountLookup(LookupResult::NotFound));
//! assert!(actions.iter().any(|a| matches!(a, Action::CollectDigits(_))));
//! assert!(flow.poll_timeout().is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod action;
mod audit;
mod code_step;
mod config;
mod digits;
mod event;
mod identify;
mod menu;
mod outcome;
mod passphrase_step;
mod prompts;
mod stage;
mod state;
mod transfer;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

pub use action::{
    Action, DigitCollection, ListenPurpose, ListenRequest, ListenWords, LookupPurpose, Prompt,
};
pub use audit::{
    AuditEvent, CallerIdTrust, CodeResult, HangupReason, IdentifiedBy, LookupSummary, MenuChoice,
    MenuInput, OfferAnswer, PassphraseResult, SendResult,
};
pub use config::{
    CodeStepConfig, FlowConfig, FlowConfigError, MenuConfig, NumberEntryConfig, OfferConfig,
    PassphraseStepConfig,
};
pub use event::{Account, AccountId, Alternatives, Balance, Event, LookupResult, PassphraseCheck};
pub use outcome::{AuthOutcome, Factor, TransferTarget};
pub use prompts::{PlaybackId, PromptId, Prompts};
pub use stage::Stage;

use crate::otp::{OsSecretSource, SecretSource};
use state::State;

/// A zero-length timer must not spin: after this many back-to-back
/// expiries in one call the rest wait for the next `handle_timeout`.
const MAX_TIMEOUTS_PER_CALL: usize = 16;

/// One call's flow. Create one per call.
pub struct Flow {
    /// Shared by every call: cloning the prompts and menus per call was a
    /// measurable part of answering one.
    config: Arc<FlowConfig>,
    secrets: Box<dyn SecretSource + Send>,
    state: State,
    next_playback: u32,
    unfinished_prompt: Option<UnfinishedPrompt>,
    /// The terminator a caller may still press after filling an entry.
    trailing_key: Option<digits::TrailingKey>,
    actions: Vec<Action>,
}

/// The last prompt asked for and when to stop waiting for it to finish.
#[derive(Debug, Clone, Copy)]
struct UnfinishedPrompt {
    last: PlaybackId,
    give_up_at: Instant,
}

impl Flow {
    /// A flow whose one-time codes come from the operating system's CSPRNG.
    pub fn new(config: impl Into<Arc<FlowConfig>>) -> Result<Self, FlowConfigError> {
        Self::with_secret_source(config, Box::new(OsSecretSource))
    }

    /// A flow with its own source of code digits and salts (tests use a
    /// seeded or failing one).
    pub fn with_secret_source(
        config: impl Into<Arc<FlowConfig>>,
        secrets: Box<dyn SecretSource + Send>,
    ) -> Result<Self, FlowConfigError> {
        let config = config.into();
        config.validate()?;
        Ok(Self {
            config,
            secrets,
            state: State::AwaitingCallerId,
            next_playback: 0,
            unfinished_prompt: None,
            trailing_key: None,
            actions: Vec::new(),
        })
    }

    pub fn stage(&self) -> Stage {
        self.state.stage()
    }

    /// True once the call is over for the flow: nothing more will come out.
    pub fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    /// When [`Flow::handle_timeout`] next needs calling, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let prompt_guard = self
            .unfinished_prompt
            .filter(|_| self.state.waits_for_input())
            .map(|p| p.give_up_at);
        match (self.state.deadline(), prompt_guard) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        self.fire_due_timers(now);
        self.arm_timers_once_quiet(now);
        std::mem::take(&mut self.actions)
    }

    /// Handles one input. Timers already due at `now` fire first, so an
    /// event that arrives late is judged as the clock says (a code typed
    /// after expiry is expired, whether or not the driver polled).
    pub fn handle_event(&mut self, now: Instant, event: Event) -> Vec<Action> {
        self.fire_due_timers(now);
        match event {
            Event::Hangup => self.on_caller_hangup(),
            Event::PromptFinished(id) => {
                if self.unfinished_prompt.is_some_and(|p| p.last <= id) {
                    self.unfinished_prompt = None;
                }
            }
            Event::CallerId(number) => self.on_caller_id(now, number),
            Event::AccountLookup(result) => self.on_lookup(now, result),
            Event::Digit(key) => self.on_digit(now, key),
            Event::Transcript(alternatives) => self.on_transcript(now, alternatives),
            Event::RecognizerFailed => self.on_recognizer_failed(now),
            Event::PassphraseChecked(check) => self.on_passphrase_checked(now, check),
            Event::CodeSent => self.on_code_sent(now),
            Event::CodeFailed => self.on_code_failed(now),
            Event::TransferFailed => self.on_transfer_failed(now),
        }
        self.arm_timers_once_quiet(now);
        std::mem::take(&mut self.actions)
    }

    fn fire_due_timers(&mut self, now: Instant) {
        for _ in 0..MAX_TIMEOUTS_PER_CALL {
            if self.poll_timeout().is_none_or(|deadline| now < deadline) {
                return;
            }
            if self
                .state
                .deadline()
                .is_some_and(|deadline| now >= deadline)
            {
                self.on_state_timeout(now);
            } else {
                // Only the prompt guard is due: the driver never said the
                // prompt ended, so behave as if it had.
                self.unfinished_prompt = None;
                self.state.arm(now, &self.config);
            }
        }
    }

    fn on_state_timeout(&mut self, now: Instant) {
        match self.state.stage() {
            Stage::CallerLookup | Stage::NumberLookup => self.on_lookup_timeout(now),
            Stage::OfferTypedNumber => self.on_offer_timeout(now),
            Stage::NumberEntry => self.on_number_entry_timeout(now),
            Stage::Passphrase => self.on_listen_timeout(now),
            Stage::PassphraseCheck => self.on_verify_timeout(now),
            Stage::SendingCode => self.on_send_timeout(now),
            Stage::CodeEntry => self.on_code_entry_timeout(now),
            Stage::Menu => self.on_menu_timeout(now),
            Stage::AwaitingCallerId | Stage::Transferring | Stage::Ended => {}
        }
    }

    /// A key belongs to the step collecting keys now, except the terminator
    /// pressed after an entry was already full: that one belongs to the
    /// entry before, so it neither answers nor cuts the prompts of the step
    /// that follows (a number ended with `#` must still hear the passphrase
    /// request).
    fn on_digit(&mut self, now: Instant, key: char) {
        if self.trailing_key.take().is_some_and(|t| t.is(now, key)) {
            return;
        }
        let trailing = self
            .state
            .entry()
            .and_then(|entry| entry.trailing_terminator(now, key));
        if self.state.waits_for_input()
            && self.state.stage() != Stage::Passphrase
            && self.unfinished_prompt.take().is_some()
        {
            // A key cuts the prompt short (barge-in); its timers start now.
            self.emit(Action::StopPrompts);
        }
        match self.state.stage() {
            Stage::OfferTypedNumber => self.on_offer_digit(now, key),
            Stage::NumberEntry => self.on_number_digit(now, key),
            Stage::CodeEntry => self.on_code_digit(now, key),
            Stage::Menu => self.on_menu_digit(now, key),
            _ => {}
        }
        self.trailing_key = trailing;
    }

    fn on_transcript(&mut self, now: Instant, alternatives: Alternatives) {
        match self.state.stage() {
            Stage::Passphrase => self.on_passphrase_heard(now, alternatives),
            Stage::Menu => self.on_menu_heard(now, alternatives),
            _ => {}
        }
    }

    /// Input timers start once no prompt is still playing.
    fn arm_timers_once_quiet(&mut self, now: Instant) {
        if self.unfinished_prompt.is_none() {
            self.state.arm(now, &self.config);
        }
    }

    fn emit(&mut self, action: Action) {
        self.actions.push(action);
    }

    fn audit(&mut self, event: AuditEvent) {
        self.actions.push(Action::Audit(event));
    }

    fn play(&mut self, now: Instant, id: PromptId) {
        self.play_with(now, id, &[]);
    }

    fn play_with(&mut self, now: Instant, id: PromptId, values: &[(&str, &str)]) {
        let text = prompts::render(self.config.prompts.template(id), values);
        let playback = PlaybackId(self.next_playback);
        self.next_playback = self.next_playback.wrapping_add(1);
        self.unfinished_prompt = Some(UnfinishedPrompt {
            last: playback,
            give_up_at: now + self.config.prompt_guard,
        });
        self.emit(Action::Play(Prompt { playback, id, text }));
    }

    /// Asks for `id`'s audio with these words ahead of playing it.
    fn prepare_with(&mut self, id: PromptId, values: &[(&str, &str)]) {
        let text = prompts::render(self.config.prompts.template(id), values);
        self.emit(Action::Prepare { id, text });
    }

    /// A keypad entry is about to be collected under `spec`.
    fn collect_digits(&mut self, spec: DigitCollection) {
        self.emit(Action::CollectDigits(spec));
    }

    /// Takes the state out to move its data into the next one. Every caller
    /// puts a state back.
    fn take_state(&mut self) -> State {
        std::mem::replace(&mut self.state, State::Ended)
    }

    /// Takes the state out only if the flow is at `stage`; an event meant
    /// for another stage (a late answer) leaves it untouched.
    fn take_state_if(&mut self, stage: Stage) -> Option<State> {
        (self.state.stage() == stage).then(|| self.take_state())
    }
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
