//! One call's policy as a sans-IO state machine: what the flow's actions
//! mean for SIP, the media, the recognizer and the work done off the call,
//! in which order, and how the call ends.
//!
//! The driver (`super`, a tokio task) feeds it what happened, each with the
//! time it was seen: [`CallCore::handle_sip`], [`CallCore::handle_media`],
//! [`CallCore::handle_recognizer`], [`CallCore::handle_background`] and
//! [`CallCore::handle_timeout`]. It then takes [`Command`]s from
//! [`CallCore::poll_command`] until there are none, carries each out, and
//! sleeps until [`CallCore::poll_timeout`] or the next input. The core never
//! reads a clock, opens a socket or spawns a task, so a test runs a whole
//! call on a virtual clock in microseconds.
//!
//! Time only moves forward: each `now` passed in must be no earlier than the
//! one before it (a monotonic clock read once per wake-up gives that). An
//! earlier one is taken as the latest seen, so a deadline never comes due
//! twice and the flow's clock never runs back.
//!
//! Rules it keeps:
//! - Prompts are held until the caller's ACK (`CallConfirmed`): the caller's
//!   media path may open only on our 2xx, a caller that never confirms hears
//!   nothing, and on a saturated machine the ACK and BYE of a short call are
//!   read together, so the call sends no audio at all instead of streaming
//!   until its BYE is reached.
//! - A prompt being rendered holds every action after it; listening,
//!   transfer and hang-up also wait for the prompts before them to be heard
//!   (a prompt plays from its `Play` command until the media reports it
//!   finished or stopped).
//! - Audit rows and barge-in are carried out at once: a row records what
//!   happened and must not wait behind a prompt (the caller may hang up
//!   first), and barge-in stops what plays now, before the prompts after it.
//! - A prompt named in `prompts.no_barge_in` is heard to the end: while it
//!   plays, barge-in is off and the flow's `StopPrompts` stops nothing.
//! - While the caller holds the call, the flow's clock stands still and keys
//!   sent by INFO are not input (the media drops in-band ones itself).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use asr::{ListenOptions, RecognitionEvent};
use auth::flow::{
    AccountId, Action, Alternatives, AuditEvent, AuthOutcome, Event as FlowEvent, Flow,
    ListenRequest, ListenWords, PlaybackId, Prompt, PromptId, TransferTarget,
};
use auth::otp::OtpCode;
use auth::phone::E164;
use media::{BargeIn, DigitSource, MediaCommand, MediaEvent, PacerEvent, SessionEvent};
use sip::{EndReason, Event as SipEvent, ReferStatus};

pub use super::decision::DecisionLatency;
use super::decision::DecisionMarks;
pub use super::outcome::CallOutcome;
use crate::config::TransferConfig;
use crate::flow_clock::FlowClock;
use crate::media_engine::{CallMediaCommand, RtcpRoute};
use crate::media_formats::MediaFormats;
use crate::transfer::{refer_to, TransferResult};

/// How long to wait for the transfer target's final answer in a NOTIFY.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30);

/// What every call is set up with.
#[derive(Debug, Clone)]
pub struct CallSettings {
    /// `call.max_duration_secs`: the call is hung up then, whatever it does.
    pub max_duration: Duration,
    /// Prompts (by name) that play to the end whatever the caller does.
    pub no_barge_in: Vec<String>,
    pub transfer: TransferConfig,
    /// `[asr.listen]`; `None` when no speech model is loaded.
    pub listen: Option<ListenOptions>,
    pub media: MediaFormats,
}

/// Something for the driver to do, in the order given.
#[derive(Debug)]
pub enum Command {
    Sip(SipCommand),
    /// A change to the call's media, for its media thread.
    Media(CallMediaCommand),
    /// Find the prompt's audio and answer with [`Background::Rendered`];
    /// everything after it waits for that answer.
    Render(Prompt),
    /// Render this prompt's audio if it is not ready; nothing waits for it.
    Prepare {
        id: PromptId,
        text: String,
    },
    Recognizer(RecognizerCommand),
    /// Work off the call; its result comes back as [`Background::Flow`].
    Work(Work),
    /// Store a row of the call's story now.
    Audit(AuditEvent),
    Tally(Tally),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipCommand {
    Hangup,
    /// Transfer: REFER with this Refer-To URI.
    Refer(String),
}

#[derive(Debug)]
pub enum RecognizerCommand {
    /// Open a turn; answer with [`RecognizerInput::Started`] or
    /// [`RecognizerInput::Unavailable`].
    Start(Box<ListenOptions>),
    /// Audio of the turn, at the recognizer's rate.
    Push(Vec<i16>),
    /// Drop the turn: its answer is no longer wanted.
    Stop,
}

#[derive(Debug)]
pub enum Work {
    /// Answer with `Event::AccountLookup`.
    LookupAccount {
        number: E164,
        /// The calling number, whose lock-out applies too.
        caller: Option<E164>,
    },
    /// Answer with `Event::PassphraseChecked`.
    VerifyPassphrase {
        account: AccountId,
        alternatives: Alternatives,
    },
    /// Answer with `Event::CodeSent` or `Event::CodeFailed`.
    SendCode {
        to: E164,
        account: AccountId,
        code: OtpCode,
    },
}

/// Counts for metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum Tally {
    Digit(DigitSource),
    DigitByInfo,
    /// A turn recognized, with the recognizer's processing time.
    Recognition(Duration),
    /// A spoken answer's reply began playing this long after its end.
    Decision(DecisionLatency),
    RecognizerBusy,
    Transfer {
        outcome: &'static str,
        completed: bool,
    },
}

/// What the recognizer did.
#[derive(Debug)]
pub enum RecognizerInput {
    Started,
    /// No turn could be opened (the worker pool is busy).
    Unavailable,
    Event(RecognitionEvent),
    /// The turn's session ended without a result (its recognition
    /// panicked).
    Closed,
}

/// Results of work done off the call (database, SMS, Argon2, rendering).
#[derive(Debug)]
pub enum Background {
    Flow(FlowEvent),
    Rendered(Prompt, anyhow::Result<Arc<[i16]>>),
}

struct Transfer {
    outcome: AuthOutcome,
    deadline: Instant,
}

pub struct CallCore {
    settings: Arc<CallSettings>,
    flow: Flow,
    /// The calling number, when it may find the account.
    caller: Option<E164>,
    /// The trunk's STIR/SHAKEN result, passed on in a transfer.
    verstat: Option<String>,
    /// Prompts sent to the media and not yet reported finished or stopped,
    /// by the id the media knows them by.
    playing: HashMap<media::ClipId, (PlaybackId, PromptId)>,
    next_clip: u64,
    /// The barge-in the flow wants now; a protected prompt turns it off
    /// while it plays.
    barge_in: BargeIn,
    protected_playing: bool,
    /// The barge-in last sent to the media (a new session has it off).
    media_barge_in: BargeIn,
    listening: bool,
    held: VecDeque<Action>,
    rendering: bool,
    confirmed: bool,
    transfer: Option<Transfer>,
    hard_stop: Instant,
    outcome: Option<CallOutcome>,
    verified: bool,
    pending: VecDeque<FlowEvent>,
    commands: VecDeque<Command>,
    clock: FlowClock,
    last_now: Instant,
    /// The spoken answer being decided, until its reply plays.
    decision: Option<DecisionMarks>,
}

impl CallCore {
    /// A call just answered at `now`: the first rows of its story
    /// (`first_rows`, who called) are stored and the flow starts with the
    /// caller's number.
    pub fn new(
        now: Instant,
        settings: Arc<CallSettings>,
        flow: Flow,
        caller: Option<E164>,
        verstat: Option<String>,
        first_rows: Vec<AuditEvent>,
    ) -> CallCore {
        let hard_stop = now + settings.max_duration;
        let mut core = CallCore {
            settings,
            flow,
            caller: caller.clone(),
            verstat,
            playing: HashMap::new(),
            next_clip: 0,
            barge_in: BargeIn::Off,
            protected_playing: false,
            media_barge_in: BargeIn::Off,
            listening: false,
            held: VecDeque::new(),
            rendering: false,
            confirmed: false,
            transfer: None,
            hard_stop,
            outcome: None,
            verified: false,
            pending: VecDeque::new(),
            commands: VecDeque::new(),
            clock: FlowClock::default(),
            last_now: now,
            decision: None,
        };
        core.commands
            .extend(first_rows.into_iter().map(Command::Audit));
        core.pending.push_back(FlowEvent::CallerId(caller));
        core.run_until_quiet(now);
        core
    }

    /// Where the flow is, for the console's view of the call.
    pub fn stage(&self) -> auth::flow::Stage {
        self.flow.stage()
    }

    /// How the call ended, once it has.
    pub fn outcome(&self) -> Option<CallOutcome> {
        self.outcome
    }

    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// When [`CallCore::handle_timeout`] is next due; `None` once ended.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.outcome.is_some() {
            return None;
        }
        [
            self.flow.poll_timeout().and_then(|d| self.clock.real(d)),
            self.transfer.as_ref().map(|t| t.deadline),
            Some(self.hard_stop),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        if self.outcome.is_some() {
            return;
        }
        let actions = self.flow.handle_timeout(self.clock.now(now));
        self.run_actions(actions);
        if self.transfer.as_ref().is_some_and(|t| t.deadline <= now) {
            tracing::warn!("no final NOTIFY for the transfer in time");
            self.transfer_failed();
        }
        if now >= self.hard_stop && self.outcome.is_none() {
            tracing::info!(
                limit_secs = self.settings.max_duration.as_secs(),
                "maximum call duration reached; hanging up"
            );
            self.end(CallOutcome::AgentHungUp, true);
        }
        self.run_until_quiet(now);
    }

    pub fn handle_sip(&mut self, now: Instant, event: SipEvent) {
        let now = self.advance(now);
        match event {
            SipEvent::CallConfirmed { .. } => {
                tracing::debug!("call confirmed (ACK)");
                self.confirmed = true;
            }
            SipEvent::MediaUpdated { media, .. } => self.renegotiated(now, &media),
            SipEvent::InfoDigit { .. } if self.clock.is_held() => {
                tracing::info!("key press by INFO while the call is held; ignored");
            }
            SipEvent::InfoDigit { digit, .. } => {
                tracing::info!(digit = %digit.digit, source = "sip-info", "digit");
                self.commands.push_back(Command::Tally(Tally::DigitByInfo));
                self.pending.push_back(FlowEvent::Digit(digit.digit));
            }
            SipEvent::Info { content_type, .. } => tracing::debug!(?content_type, "INFO ignored"),
            SipEvent::Refer { status, .. } => self.on_refer(status),
            SipEvent::CallEnded { reason, .. } => self.call_ended(reason),
            SipEvent::IncomingCall(_) => {}
        }
        self.run_until_quiet(now);
    }

    /// SIP let the call go without saying how (it is shutting down).
    pub fn handle_sip_closed(&mut self, now: Instant) {
        self.advance(now);
        if self.outcome.is_none() {
            self.outcome = Some(CallOutcome::CallerHungUp);
        }
    }

    pub fn handle_media(&mut self, now: Instant, event: SessionEvent) {
        let now = self.advance(now);
        match event {
            SessionEvent::Media(MediaEvent::Digit {
                digit,
                source,
                duration,
            }) => {
                tracing::info!(digit = %digit.as_char(), ?source, duration_ms = duration.as_millis() as u64, "digit");
                self.commands
                    .push_back(Command::Tally(Tally::Digit(source)));
                self.pending.push_back(FlowEvent::Digit(digit.as_char()));
            }
            SessionEvent::Media(MediaEvent::Frame(pcm)) => {
                if self.listening {
                    self.commands
                        .push_back(Command::Recognizer(RecognizerCommand::Push(pcm)));
                }
            }
            SessionEvent::Media(MediaEvent::SpeechStarted | MediaEvent::SpeechEnded) => {}
            SessionEvent::Prompt(PacerEvent::Started(id)) => {
                self.decided(now);
                self.protected_playing = self.playing.get(&id).is_some_and(|(_, prompt)| {
                    self.settings
                        .no_barge_in
                        .iter()
                        .any(|name| name == prompt.name())
                });
                self.set_barge_in(self.barge_in);
            }
            SessionEvent::Prompt(PacerEvent::Finished(id) | PacerEvent::Stopped(id)) => {
                self.protected_playing = false;
                self.set_barge_in(self.barge_in);
                if let Some((playback, _)) = self.playing.remove(&id) {
                    self.pending.push_back(FlowEvent::PromptFinished(playback));
                }
            }
        }
        self.run_until_quiet(now);
    }

    /// The media thread let the call's media go after a bug in it.
    pub fn handle_media_failed(&mut self, now: Instant) {
        self.advance(now);
        if self.outcome.is_none() {
            tracing::error!("the call's media failed (a bug); hanging up");
            self.end(CallOutcome::AgentHungUp, true);
        }
    }

    pub fn handle_recognizer(&mut self, now: Instant, input: RecognizerInput) {
        let now = self.advance(now);
        match input {
            RecognizerInput::Started => {
                self.listening = true;
                self.media(MediaCommand::Listen(true));
                self.set_barge_in(BargeIn::Off);
            }
            RecognizerInput::Unavailable => {
                self.commands
                    .push_back(Command::Tally(Tally::RecognizerBusy));
                self.pending.push_back(FlowEvent::RecognizerFailed);
            }
            RecognizerInput::Event(RecognitionEvent::SpeechStarted) => {
                tracing::debug!("speech started")
            }
            RecognizerInput::Event(RecognitionEvent::Partial(_)) => {}
            RecognizerInput::Event(RecognitionEvent::Final(t)) => {
                self.stop_listening(false);
                self.decision = t.timing.map(|timing| DecisionMarks::heard(timing, now));
                self.commands
                    .push_back(Command::Tally(Tally::Recognition(t.processing)));
                // The words may be the passphrase: never logged.
                tracing::info!(alternatives = t.alternatives.len(), reason = ?t.reason, audio_ms = t.audio.as_millis() as u64, "recognized");
                let alternatives = super::heard::alternatives(t);
                self.pending.push_back(FlowEvent::Transcript(alternatives));
            }
            RecognizerInput::Closed => {
                tracing::warn!("the recognizer ended the turn without a result");
                self.stop_listening(false);
                self.pending.push_back(FlowEvent::RecognizerFailed);
            }
        }
        self.run_until_quiet(now);
    }

    pub fn handle_background(&mut self, now: Instant, done: Background) {
        let now = self.advance(now);
        match done {
            Background::Flow(event) => {
                if let (FlowEvent::PassphraseChecked(_), Some(d)) = (&event, &mut self.decision) {
                    d.checked(now);
                }
                self.pending.push_back(event)
            }
            Background::Rendered(prompt, pcm) => {
                self.rendering = false;
                if let Some(d) = self.decision.as_mut() {
                    d.played(now);
                }
                self.start_prompt(prompt, pcm);
            }
        }
        self.run_until_quiet(now);
    }

    /// The first prompt after a spoken answer has started: how long the
    /// caller waited for it, told to metrics and the log.
    fn decided(&mut self, now: Instant) {
        if let Some(latency) = self.decision.take().and_then(|d| d.latency(now)) {
            latency.log();
            self.commands
                .push_back(Command::Tally(Tally::Decision(latency)));
        }
    }

    /// Time only moves forward (module docs).
    fn advance(&mut self, now: Instant) -> Instant {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    fn end(&mut self, outcome: CallOutcome, hang_up: bool) {
        if hang_up {
            self.commands.push_back(Command::Sip(SipCommand::Hangup));
        }
        self.outcome = Some(outcome);
    }

    fn media(&mut self, command: MediaCommand) {
        self.commands
            .push_back(Command::Media(CallMediaCommand::Session(command)));
    }

    fn is_playing(&self) -> bool {
        !self.playing.is_empty()
    }

    fn call_ended(&mut self, reason: EndReason) {
        tracing::info!(?reason, "call ended");
        if matches!(
            reason,
            EndReason::RemoteBye
                | EndReason::Cancelled
                | EndReason::DialogGone
                | EndReason::SessionExpired
        ) {
            self.pending.push_back(FlowEvent::Hangup);
        }
        if reason == EndReason::DialogGone && self.outcome.is_none() {
            // The peer answered 481: nobody is left to hear a prompt or to
            // take a BYE (RFC 5057). A transfer under way did not happen.
            if let Some(t) = self.transfer.take() {
                self.commands.push_back(Command::Tally(Tally::Transfer {
                    outcome: t.outcome.label(),
                    completed: false,
                }));
            }
            self.outcome = Some(CallOutcome::DialogGone);
        }
        if self.outcome.is_none() {
            self.outcome = Some(if reason == EndReason::AckTimeout {
                CallOutcome::NoAck
            } else if reason == EndReason::SessionExpired {
                CallOutcome::SessionExpired
            } else if self.transfer.is_some() {
                CallOutcome::Transferred("caller-left")
            } else {
                CallOutcome::CallerHungUp
            });
        }
    }

    /// Applies what a re-INVITE (or the answer in the ACK to our offer)
    /// agreed: codec, payload types, ptime and remote address drive the
    /// media from now on, both ways; an offer that stops us sending holds the
    /// call (media and the flow's clock) until one lets us send again.
    fn renegotiated(&mut self, now: Instant, media: &sip::Negotiated) {
        let held = !media.direction.we_send();
        tracing::info!(
            codec = ?media.codec,
            payload_type = media.payload_type,
            telephone_event = ?media.telephone_event,
            ptime = media.ptime_ms,
            direction = ?media.direction,
            remote = %media.remote_rtp,
            "media renegotiated"
        );
        let config = self.settings.media.session_config(media, None);
        self.commands
            .push_back(Command::Media(CallMediaCommand::RemoteMoved {
                rtp: media.remote_rtp,
                rtcp: RtcpRoute::negotiated(media),
            }));
        self.media(MediaCommand::Hold(held));
        self.media(MediaCommand::Renegotiated(Box::new(config)));
        match (held, self.clock.is_held()) {
            (true, false) => {
                tracing::info!("the caller holds the call");
                self.clock.hold(now);
            }
            (false, true) => {
                tracing::info!("the caller resumes the call");
                self.clock.resume(now);
            }
            _ => {}
        }
    }

    fn on_refer(&mut self, status: ReferStatus) {
        let Some(transfer) = &self.transfer else {
            return;
        };
        match status {
            ReferStatus::Accepted => tracing::info!("transfer accepted (202)"),
            ReferStatus::Progress(code) => tracing::info!(code, "transfer in progress"),
            ReferStatus::Completed(code) if (200..300).contains(&code) => {
                let label = transfer.outcome.label();
                tracing::info!(code, outcome = %label, "transfer completed; leaving the call");
                self.commands.push_back(Command::Tally(Tally::Transfer {
                    outcome: label,
                    completed: true,
                }));
                self.transfer = None;
                self.end(CallOutcome::Transferred(label), true);
            }
            ReferStatus::Completed(code) | ReferStatus::Rejected(code) => {
                tracing::warn!(code, "transfer failed");
                self.transfer_failed();
            }
        }
    }

    fn transfer_failed(&mut self) {
        if let Some(t) = self.transfer.take() {
            self.commands.push_back(Command::Tally(Tally::Transfer {
                outcome: t.outcome.label(),
                completed: false,
            }));
        }
        self.pending.push_back(FlowEvent::TransferFailed);
    }

    /// Hands the flow what is waiting and carries out its actions until the
    /// call is quiet.
    ///
    /// Once the call has ended the flow still hears what happened (a
    /// hang-up), so its last rows are stored, but nothing held is released.
    fn run_until_quiet(&mut self, now: Instant) {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                let actions = self.flow.handle_event(self.clock.now(now), ev);
                self.run_actions(actions);
                continue;
            }
            if self.release_held() {
                continue;
            }
            break;
        }
        if self.outcome.is_none()
            && self.flow.is_ended()
            && self.transfer.is_none()
            && self.held.is_empty()
            && !self.is_playing()
        {
            // The flow is over without a hang-up or transfer of its own (a
            // failed transfer it has already announced): end the call.
            self.end(CallOutcome::TransferFailed, true);
        }
    }

    fn run_actions(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                now @ (Action::Audit(_) | Action::StopPrompts | Action::Prepare { .. }) => {
                    self.execute(now)
                }
                other => self.held.push_back(other),
            }
        }
        self.release_held();
    }

    /// Carries out held actions, in order, until one must wait. Returns
    /// whether any ran.
    fn release_held(&mut self) -> bool {
        let mut ran = false;
        while let Some(next) = self.held.front() {
            let waits_for_playback = matches!(
                next,
                Action::Listen(_) | Action::Transfer { .. } | Action::Hangup
            );
            let unconfirmed_play = !self.confirmed && matches!(next, Action::Play(_));
            if self.outcome.is_some()
                || self.rendering
                || unconfirmed_play
                || (waits_for_playback && self.is_playing())
            {
                break;
            }
            if let Some(action) = self.held.pop_front() {
                self.execute(action);
                ran = true;
            }
        }
        ran
    }

    fn execute(&mut self, action: Action) {
        match action {
            Action::Play(prompt) => {
                self.rendering = true;
                self.commands.push_back(Command::Render(prompt));
            }
            Action::Prepare { id, text } => self.commands.push_back(Command::Prepare { id, text }),
            // Keys always reach the flow; it says when one barges in.
            Action::CollectDigits(_) => {}
            Action::StopPrompts => {
                if !self.protected_playing {
                    self.media(MediaCommand::Stop);
                }
            }
            Action::Listen(request) => self.listen(request),
            Action::StopListening => self.stop_listening(true),
            Action::LookupAccount { number, purpose } => {
                tracing::info!(?purpose, "looking the number up");
                let caller = self.caller.clone();
                self.work(Work::LookupAccount { number, caller });
            }
            Action::VerifyPassphrase {
                account,
                alternatives,
            } => self.work(Work::VerifyPassphrase {
                account,
                alternatives,
            }),
            Action::SendCode { to, account, code } => {
                self.work(Work::SendCode { to, account, code })
            }
            Action::Audit(event) => {
                if matches!(event, AuditEvent::Authenticated { .. }) {
                    self.verified = true;
                }
                self.commands.push_back(Command::Audit(event));
            }
            Action::Transfer { target, outcome } => self.start_transfer(target, outcome),
            Action::Hangup => {
                tracing::info!("the flow hangs up");
                let outcome = if self.verified {
                    CallOutcome::Authenticated
                } else {
                    CallOutcome::AgentHungUp
                };
                self.end(outcome, true);
            }
        }
    }

    fn work(&mut self, work: Work) {
        self.commands.push_back(Command::Work(work));
    }

    /// Barge-in as the flow's step wants it, unless the prompt playing now
    /// must be heard to the end.
    fn set_barge_in(&mut self, mode: BargeIn) {
        self.barge_in = mode;
        let mode = if self.protected_playing {
            BargeIn::Off
        } else {
            mode
        };
        if mode != self.media_barge_in {
            self.media_barge_in = mode;
            self.media(MediaCommand::SetBargeIn(mode));
        }
    }

    fn start_prompt(&mut self, prompt: Prompt, pcm: anyhow::Result<Arc<[i16]>>) {
        match pcm {
            Ok(pcm) => {
                tracing::debug!(prompt = ?prompt.id, "playing");
                let id = media::ClipId(self.next_clip);
                self.next_clip += 1;
                self.playing.insert(id, (prompt.playback, prompt.id));
                self.media(MediaCommand::Play { id, pcm });
            }
            Err(e) => {
                // Silence is better than a dead call: tell the flow it finished.
                tracing::error!(prompt = ?prompt.id, error = %e, "prompt could not be rendered");
                self.pending
                    .push_back(FlowEvent::PromptFinished(prompt.playback));
            }
        }
    }

    fn listen(&mut self, request: ListenRequest) {
        let Some(listen) = &self.settings.listen else {
            tracing::warn!("no speech model loaded; the turn hears nothing");
            return;
        };
        let words = match request.vocabulary {
            ListenWords::Full => None,
            ListenWords::Words(words) => Some(asr::Vocabulary::from_words(words)),
        };
        tracing::debug!(
            vocabulary = words.as_ref().map_or(0, |w| w.words().len()),
            "listening"
        );
        let mut options = ListenOptions {
            vocabulary: words,
            expected_words: request.expected_words,
            ..listen.clone()
        };
        // The step's own window: how long the caller has to begin, and
        // the longest turn.
        options.endpointer.no_speech_timeout = request.timeout;
        options.endpointer.max_duration = request.max_duration;
        self.commands
            .push_back(Command::Recognizer(RecognizerCommand::Start(Box::new(
                options,
            ))));
    }

    /// Ends the turn: the media stops producing frames and, when the flow
    /// dropped the turn (`tell_recognizer`), the recognizer lets it go.
    fn stop_listening(&mut self, tell_recognizer: bool) {
        if tell_recognizer {
            self.commands
                .push_back(Command::Recognizer(RecognizerCommand::Stop));
        }
        self.listening = false;
        self.media(MediaCommand::Listen(false));
    }

    fn start_transfer(&mut self, target: TransferTarget, outcome: AuthOutcome) {
        let uri = match target {
            TransferTarget::Representative => &self.settings.transfer.representative,
            TransferTarget::Authenticated => &self.settings.transfer.authenticated,
        };
        let account = match &outcome {
            AuthOutcome::Verified { account, .. } => Some(account.0.clone()),
            _ => None,
        };
        let refer = refer_to(
            uri,
            &TransferResult {
                auth: outcome.label(),
                account,
                verstat: self.verstat.clone(),
            },
        );
        tracing::info!(?target, outcome = outcome.label(), refer_to = %refer, "transferring (REFER)");
        self.commands
            .push_back(Command::Sip(SipCommand::Refer(refer)));
        self.transfer = Some(Transfer {
            outcome,
            deadline: self.last_now + TRANSFER_TIMEOUT,
        });
    }
}
