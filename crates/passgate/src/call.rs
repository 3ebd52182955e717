//! One call, from the INVITE to its end: the place to read to follow a call.
//!
//! The two-factor flow (`auth::flow::Flow`) decides; this task carries out its
//! actions through the call's media (`media::MediaSession`, carried by a
//! media thread: `crate::media_engine`),
//! the recognizer, the account store, the SMS gateway and SIP, and feeds what
//! happens back to it as events. Everything that happens to a call is logged
//! inside its `call` span (with the Call-ID).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use asr::{ListenOptions, SessionEvent as AsrEvent};
use auth::flow::{
    Action, Alternatives, AuditEvent, AuthOutcome, CallerIdTrust, Event as FlowEvent, Flow,
    ListenRequest, PlaybackId, Prompt, PromptId, TransferTarget, Vocabulary,
};
use auth::phone::{caller_identity, CallerHeaders, E164};
use media::{BargeIn, MediaEvent, SessionEvent as MediaOut, SessionStats};
use sip::{EndReason, Event as SipEvent, IncomingCall, ReferStatus};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::flow_clock::FlowClock;
use crate::media_engine::{CallMedia, RtcpRoute};
use crate::rtp_ports::RtpPair;
use crate::services::Services;
use crate::transfer::{refer_to, TransferResult};

/// Results of work done off the call task (database, SMS, Argon2).
enum Background {
    Flow(FlowEvent),
    /// A prompt rendered off the call task (first use of its text).
    Rendered(Prompt, anyhow::Result<Arc<[i16]>>),
}

/// How long to wait for the transfer target's final answer in a NOTIFY.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(
    services: Arc<Services>,
    incoming: IncomingCall,
    events: mpsc::Receiver<SipEvent>,
) {
    let span = tracing::info_span!("call", call_id = %incoming.call_id);
    services.metrics.call_started();
    let call_id: Arc<str> = Arc::from(incoming.call_id.as_str());
    let (outcome, stats) = Call::drive(services.clone(), incoming, events)
        .instrument(span.clone())
        .await;
    services.metrics.call_over();
    match stats {
        // Finished once its story is in the audit trail: the audit writer
        // counts and logs it after storing the rows queued before it. The
        // task need not wait for that: under load the store commits in
        // batches of hundreds, and calls waiting for it, counted against
        // `sip.max_calls`, turned thousands of calls a second away (P4 in
        // `bench/`).
        Some(stats) => {
            // Every answered call's story ends with a row saying how.
            services.audit_log.end(&call_id, outcome).await;
            services
                .audit_log
                .finish(crate::audit_log::Finished {
                    outcome,
                    stats,
                    span,
                })
                .await
        }
        None => services.metrics.call_ended(outcome),
    }
}

/// What the call ended as, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Refused,
    Authenticated,
    Transferred(&'static str),
    TransferFailed,
    CallerHungUp,
    AgentHungUp,
    /// The peer answered 481 to a request in the dialog: it was gone.
    DialogGone,
    /// Our 200 was never acknowledged (64·T1): the caller never heard us.
    NoAck,
}

impl CallOutcome {
    /// The outcome's name in metrics and in the call's `call_ended` audit row.
    pub fn label(&self) -> String {
        match self {
            CallOutcome::Refused => "refused".to_string(),
            CallOutcome::Authenticated => "authenticated".to_string(),
            CallOutcome::Transferred(auth) => format!("transferred_{}", auth.replace('-', "_")),
            CallOutcome::TransferFailed => "transfer_failed".to_string(),
            CallOutcome::CallerHungUp => "caller_hung_up".to_string(),
            CallOutcome::AgentHungUp => "agent_hung_up".to_string(),
            CallOutcome::DialogGone => "dialog_gone".to_string(),
            CallOutcome::NoAck => "no_ack".to_string(),
        }
    }
}

struct Call {
    services: Arc<Services>,
    incoming: IncomingCall,
    flow: Flow,
    media: CallMedia,
    /// The media's events being handled, kept to reuse its allocation.
    media_events: Vec<MediaOut>,
    caller: Option<E164>,
    /// Prompts playing, by the media's id, with the flow's id for each.
    playing: HashMap<media::PromptId, (PlaybackId, PromptId)>,
    /// The barge-in the flow wants now; a prompt listed in
    /// `prompts.no_barge_in` turns it off while it plays.
    barge_in: BargeIn,
    protected_playing: bool,
    listening: Option<asr::Session>,
    /// The flow's actions not yet carried out, in order: a prompt being
    /// rendered holds everything after it; listening, transfer and hang-up
    /// also wait for the prompts before them to be heard.
    held: VecDeque<Action>,
    rendering: bool,
    /// The caller's ACK has arrived. Until it does, prompts (and what
    /// follows them) are held: the caller's media path may open only on
    /// our 2xx, a caller that never confirms hears nothing, and on a
    /// saturated machine the ACK and BYE of a short call are read together,
    /// so the call sends no audio at all instead of streaming until its
    /// BYE is reached (which once fed back into a collapse at 5,000 calls/s).
    confirmed: bool,
    transfer: Option<Transfer>,
    background: mpsc::Sender<Background>,
    /// The Call-ID, shared by the call's audit rows.
    call_id: Arc<str>,
    ended: Option<CallOutcome>,
    verified: bool,
    /// Flow events waiting to be handled, in arrival order.
    pending: VecDeque<FlowEvent>,
    /// The flow's time: stands still while the caller holds the call.
    clock: FlowClock,
}

struct Transfer {
    outcome: AuthOutcome,
    deadline: Instant,
}

impl Call {
    async fn drive(
        services: Arc<Services>,
        incoming: IncomingCall,
        mut sip_events: mpsc::Receiver<SipEvent>,
    ) -> (CallOutcome, Option<SessionStats>) {
        let call = incoming.call;
        let identity = caller_identity(
            &CallerHeaders {
                p_asserted_identity: incoming.p_asserted_identity.as_deref(),
                remote_party_id: incoming.remote_party_id.as_deref(),
                from: Some(incoming.from_uri.as_str()),
                privacy: incoming.privacy.as_deref(),
            },
            &services.flow.numbering,
        );
        let caller = identity.number;
        let (trust, used_for_lookup) =
            caller_trust(&incoming, caller.is_some(), services.require_verstat);
        let identity_row = AuditEvent::CallerIdentity {
            number: caller.clone(),
            result: trust,
            verstat: incoming.verstat.clone(),
            used_for_lookup,
        };
        // A caller who asked for privacy is looked up by the number the
        // network asserted, but the number stays out of the log.
        let (from_shown, caller_shown) = match (&caller, identity.private) {
            (_, true) => ("private", "private"),
            (Some(number), false) => (incoming.from_uri.as_str(), number.as_str()),
            (None, false) => (incoming.from_uri.as_str(), "withheld"),
        };
        tracing::info!(
            from = %from_shown,
            caller = caller_shown,
            caller_id = ?trust,
            verstat = incoming.verstat.as_deref().unwrap_or("none"),
            used_for_lookup,
            source = %incoming.source,
            codec = ?incoming.media.as_ref().map(|m| m.codec),
            telephone_event = ?incoming.media.as_ref().and_then(|m| m.telephone_event),
            "incoming call"
        );
        // A number that does not count is not the caller's: it finds no
        // account and no lock-out is charged to it.
        let caller = caller.filter(|_| used_for_lookup);
        // Without an offer in the INVITE we offer in the 200; the media runs
        // on our first choice until the ACK's answer renegotiates it, which
        // comes before the confirmation that lets the first prompt play.
        let Some(negotiated) = incoming
            .media
            .clone()
            .or_else(|| incoming.provisional_media.clone())
        else {
            tracing::error!("INVITE with neither an offer nor ours to make; refusing");
            services.sip.reject(call, 500).await;
            return (CallOutcome::Refused, None);
        };
        if !services.answer_delay.is_zero() {
            services.sip.ring(call).await;
            let until = tokio::time::Instant::now() + services.answer_delay;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    ev = sip_events.recv() => match ev {
                        Some(SipEvent::CallEnded { reason, .. }) => {
                            tracing::info!(?reason, "call ended before it was answered");
                            return (CallOutcome::CallerHungUp, None);
                        }
                        None => return (CallOutcome::CallerHungUp, None),
                        Some(_) => {}
                    },
                }
            }
        }
        // Media in the family of the caller's offer; without one, in the
        // family the INVITE came in on (as our offer's address is).
        let family = incoming
            .media
            .as_ref()
            .map_or(incoming.source.ip(), |m| m.remote_rtp.ip());
        let RtpPair { rtp, rtcp } = match services.ports.bind(family) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "no RTP port available; refusing the call");
                services.sip.reject(call, 503).await;
                return (CallOutcome::Refused, None);
            }
        };
        let media = match services.media_session(&negotiated, rtp.local_addr().ok()) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "cannot set up media; refusing the call");
                services.sip.reject(call, 488).await;
                return (CallOutcome::Refused, None);
            }
        };
        let flow = match Flow::new(services.flow.clone()) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "flow configuration is invalid; refusing the call");
                services.sip.reject(call, 500).await;
                return (CallOutcome::Refused, None);
            }
        };
        let port = rtp.local_addr().map(|a| a.port()).unwrap_or(0);
        let rtcp_route = RtcpRoute::negotiated(&negotiated);
        let media = match services
            .media
            .attach(rtp, rtcp, media, negotiated.remote_rtp, rtcp_route)
        {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "cannot hand the RTP socket to a media thread; refusing the call");
                services.sip.reject(call, 503).await;
                return (CallOutcome::Refused, None);
            }
        };
        services.sip.answer(call, port).await;
        if incoming.media.is_some() {
            tracing::info!(rtp_port = port, codec = ?negotiated.codec, ptime = negotiated.ptime_ms, "answered");
        } else {
            tracing::info!(
                rtp_port = port,
                "answered with our offer (the INVITE had none)"
            );
        }
        let (background, mut results) = mpsc::channel(32);
        let call_id = Arc::from(incoming.call_id.as_str());
        let mut this = Call {
            services,
            incoming,
            flow,
            media,
            media_events: Vec::new(),
            caller: caller.clone(),
            playing: HashMap::new(),
            barge_in: BargeIn::Off,
            protected_playing: false,
            listening: None,
            held: VecDeque::new(),
            rendering: false,
            confirmed: false,
            transfer: None,
            background,
            call_id,
            ended: None,
            verified: false,
            pending: VecDeque::new(),
            clock: FlowClock::default(),
        };
        this.services
            .audit_log
            .append(&this.call_id, identity_row, this.caller.as_ref())
            .await;
        this.pending.push_back(FlowEvent::CallerId(caller));
        this.settle().await;
        let hard_stop = Instant::now() + this.services.max_duration;
        while this.ended.is_none() {
            let deadline = [
                this.flow.poll_timeout().and_then(|d| this.clock.real(d)),
                this.transfer.as_ref().map(|t| t.deadline),
                Some(hard_stop),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(hard_stop);
            tokio::select! {
                ev = sip_events.recv() => match ev {
                    Some(ev) => this.on_sip(ev).await,
                    None => this.ended = Some(CallOutcome::CallerHungUp),
                },
                _ = this.media.events() => {
                    if this.media.failed() && this.ended.is_none() {
                        tracing::error!("the call's media failed (a bug); hanging up");
                        this.services.sip.hangup(this.incoming.call).await;
                        this.ended = Some(CallOutcome::AgentHungUp);
                    }
                }
                asr = next_transcript(&mut this.listening) => this.on_recognizer(asr),
                Some(done) = results.recv() => match done {
                    Background::Flow(ev) => this.pending.push_back(ev),
                    Background::Rendered(prompt, pcm) => {
                        this.rendering = false;
                        this.start_prompt(prompt, pcm);
                    }
                },
                _ = tokio::time::sleep_until(deadline.into()) => this.on_timer(hard_stop).await,
            }
            this.settle().await;
        }
        let outcome = this.ended.unwrap_or(CallOutcome::CallerHungUp);
        let stats = this.media.read(|m| m.session.stats());
        (outcome, Some(stats))
    }

    async fn on_timer(&mut self, hard_stop: Instant) {
        let now = Instant::now();
        let actions = self.flow.handle_timeout(self.clock.now(now));
        self.run_actions(actions).await;
        if self.transfer.as_ref().is_some_and(|t| t.deadline <= now) {
            tracing::warn!("no final NOTIFY for the transfer in time");
            self.transfer_failed().await;
        }
        if now >= hard_stop && self.ended.is_none() {
            tracing::info!(
                limit_secs = self.services.max_duration.as_secs(),
                "maximum call duration reached; hanging up"
            );
            self.services.sip.hangup(self.incoming.call).await;
            self.ended = Some(CallOutcome::AgentHungUp);
        }
    }

    async fn on_sip(&mut self, ev: SipEvent) {
        match ev {
            SipEvent::CallConfirmed { .. } => {
                tracing::debug!("call confirmed (ACK)");
                self.confirmed = true;
            }
            SipEvent::MediaUpdated { media, .. } => self.renegotiated(&media),
            SipEvent::InfoDigit { .. } if self.clock.is_held() => {
                tracing::info!("key press by INFO while the call is held; ignored");
            }
            SipEvent::InfoDigit { digit, .. } => {
                tracing::info!(digit = %digit.digit, source = "sip-info", "digit");
                self.services.metrics.digit("sip_info");
                self.pending.push_back(FlowEvent::Digit(digit.digit));
            }
            SipEvent::Info { content_type, .. } => tracing::debug!(?content_type, "INFO ignored"),
            SipEvent::Refer { status, .. } => self.on_refer(status).await,
            SipEvent::CallEnded { reason, .. } => {
                tracing::info!(?reason, "call ended");
                if matches!(
                    reason,
                    EndReason::RemoteBye | EndReason::Cancelled | EndReason::DialogGone
                ) {
                    self.pending.push_back(FlowEvent::Hangup);
                }
                if reason == EndReason::DialogGone && self.ended.is_none() {
                    // The peer answered 481: nobody is left to hear a
                    // prompt or to take a BYE (RFC 5057). A transfer under
                    // way did not happen.
                    if let Some(t) = self.transfer.take() {
                        self.services.metrics.transfer(t.outcome.label(), false);
                    }
                    self.ended = Some(CallOutcome::DialogGone);
                }
                if self.ended.is_none() {
                    self.ended = Some(if reason == EndReason::AckTimeout {
                        CallOutcome::NoAck
                    } else if self.transfer.is_some() {
                        CallOutcome::Transferred("caller-left")
                    } else {
                        CallOutcome::CallerHungUp
                    });
                }
            }
            SipEvent::IncomingCall(_) => {}
        }
    }

    /// Applies what a re-INVITE (or the answer in the ACK to our offer)
    /// agreed: codec, payload types, ptime and remote address drive the
    /// media from now on, both ways; an offer that stops us sending holds the
    /// call (media and the flow's clock) until one lets us send again.
    fn renegotiated(&mut self, media: &sip::Negotiated) {
        let now = Instant::now();
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
        let config = self.services.session_config(media, None);
        // The session learns the caller's source again when the SDP moved
        // the media (its receiver ranks sources against the new address).
        let applied = self.media.update(|m| {
            m.remote_sdp = media.remote_rtp;
            m.rtcp = RtcpRoute::negotiated(media);
            m.session.set_held(now, held);
            m.session.renegotiate(config)
        });
        if let Err(e) = applied {
            tracing::error!(error = %e, "the renegotiated media could not be set up; keeping the previous formats");
        }
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

    async fn on_refer(&mut self, status: ReferStatus) {
        let Some(transfer) = &self.transfer else {
            return;
        };
        match status {
            ReferStatus::Accepted => tracing::info!("transfer accepted (202)"),
            ReferStatus::Progress(code) => tracing::info!(code, "transfer in progress"),
            ReferStatus::Completed(code) if (200..300).contains(&code) => {
                tracing::info!(code, outcome = %transfer.outcome.label(), "transfer completed; leaving the call");
                self.services
                    .metrics
                    .transfer(transfer.outcome.label(), true);
                let label = transfer.outcome.label();
                self.transfer = None;
                self.services.sip.hangup(self.incoming.call).await;
                self.ended = Some(CallOutcome::Transferred(label));
            }
            ReferStatus::Completed(code) | ReferStatus::Rejected(code) => {
                tracing::warn!(code, "transfer failed");
                self.transfer_failed().await;
            }
        }
    }

    async fn transfer_failed(&mut self) {
        if let Some(t) = self.transfer.take() {
            self.services.metrics.transfer(t.outcome.label(), false);
        }
        self.pending.push_back(FlowEvent::TransferFailed);
    }

    fn on_recognizer(&mut self, event: Option<AsrEvent>) {
        match event {
            Some(AsrEvent::SpeechStarted) => tracing::debug!("speech started"),
            Some(AsrEvent::Partial(_)) => {}
            Some(AsrEvent::Final(t)) => {
                self.listening = None;
                self.media.update(|m| m.session.set_listening(false));
                self.services.metrics.recognition(t.processing);
                // The words may be the passphrase: never logged.
                tracing::info!(alternatives = t.alternatives.len(), reason = ?t.reason, audio_ms = t.audio.as_millis() as u64, "recognized");
                let alternatives = Alternatives::scored(
                    t.alternatives.into_iter().map(|a| (a.text, a.confidence)),
                );
                self.pending.push_back(FlowEvent::Transcript(alternatives));
            }
            None => {
                self.listening = None;
                self.media.update(|m| m.session.set_listening(false));
            }
        }
    }

    /// Handles everything queued until the call is quiet: media output is
    /// sent, media and background events go to the flow, and the flow's
    /// actions are carried out (which may queue more).
    async fn settle(&mut self) {
        loop {
            self.drain_media().await;
            if let Some(ev) = self.pending.pop_front() {
                let actions = self.flow.handle_event(self.clock.now(Instant::now()), ev);
                self.run_actions(actions).await;
                continue;
            }
            if self.release_held().await {
                continue;
            }
            break;
        }
        if self.ended.is_none()
            && self.flow.is_ended()
            && self.transfer.is_none()
            && self.held.is_empty()
            && !self.media.read(|m| m.session.is_playing())
        {
            // The flow is over without a hang-up or transfer of its own (a
            // failed transfer it has already announced): end the call.
            self.services.sip.hangup(self.incoming.call).await;
            self.ended = Some(CallOutcome::TransferFailed);
        }
    }

    /// Queues the media's events for the flow (the media thread has sent
    /// its packets already).
    async fn drain_media(&mut self) {
        let mut events = std::mem::take(&mut self.media_events);
        self.media.take_events(&mut events);
        for ev in events.drain(..) {
            match ev {
                MediaOut::Media(MediaEvent::Digit {
                    digit,
                    source,
                    duration,
                }) => {
                    tracing::info!(digit = %digit.as_char(), ?source, duration_ms = duration.as_millis() as u64, "digit");
                    self.services.metrics.media_digit(source);
                    self.pending.push_back(FlowEvent::Digit(digit.as_char()));
                }
                MediaOut::Media(MediaEvent::Frame(pcm)) => {
                    if let (Some(session), Some(rec)) = (&self.listening, &self.services.recognizer)
                    {
                        if rec.push(session, &pcm).is_err() {
                            tracing::warn!("recognizer overloaded; this turn is abandoned");
                        }
                    }
                }
                MediaOut::Media(MediaEvent::SpeechStarted)
                | MediaOut::Media(MediaEvent::SpeechEnded) => {}
                MediaOut::Prompt(media::PacerEvent::Started(id)) => {
                    self.protected_playing = self.playing.get(&id).is_some_and(|(_, prompt)| {
                        self.services
                            .no_barge_in
                            .contains(&prompt.name().to_string())
                    });
                    self.set_barge_in(self.barge_in);
                }
                MediaOut::Prompt(media::PacerEvent::Finished(id))
                | MediaOut::Prompt(media::PacerEvent::Stopped(id)) => {
                    self.protected_playing = false;
                    self.set_barge_in(self.barge_in);
                    if let Some((playback, _)) = self.playing.remove(&id) {
                        self.pending.push_back(FlowEvent::PromptFinished(playback));
                    }
                }
            }
        }
        self.media_events = events;
    }

    /// Audit rows are written at once, in the flow's order: they record what
    /// happened and must not wait behind a prompt (the caller may hang up first).
    /// Barge-in is at once too: it stops what plays now, before the prompts
    /// that follow it are released.
    async fn run_actions(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                now @ (Action::Audit(_) | Action::StopPrompts) => self.execute(now).await,
                other => self.held.push_back(other),
            }
        }
        self.release_held().await;
    }

    /// Carries out held actions, in order, until one must wait. Returns
    /// whether any ran.
    async fn release_held(&mut self) -> bool {
        let mut ran = false;
        while let Some(next) = self.held.front() {
            let waits_for_playback = matches!(
                next,
                Action::Listen(_) | Action::Transfer { .. } | Action::Hangup
            );
            let unconfirmed_play = !self.confirmed && matches!(next, Action::Play(_));
            if self.rendering
                || unconfirmed_play
                || (waits_for_playback && self.media.read(|m| m.session.is_playing()))
            {
                break;
            }
            if let Some(action) = self.held.pop_front() {
                self.execute(action).await;
                ran = true;
            }
        }
        ran
    }

    async fn execute(&mut self, action: Action) {
        match action {
            Action::Play(prompt) => self.play(prompt),
            // Keys always reach the flow; it says when one barges in.
            Action::CollectDigits(_) => {}
            Action::StopPrompts => {
                if !self.protected_playing {
                    self.media.update(|m| m.session.stop_playback());
                }
            }
            Action::Listen(request) => self.listen(request),
            Action::StopListening => {
                self.listening = None;
                self.media.update(|m| m.session.set_listening(false));
            }
            Action::LookupAccount { number, purpose } => {
                tracing::info!(?purpose, "looking the number up");
                let (services, caller, tx) = (
                    self.services.clone(),
                    self.caller.clone(),
                    self.background.clone(),
                );
                // Boxed for the same reason as the call task (server.rs):
                // a store query's future is large.
                tokio::spawn(Box::pin(async move {
                    let result = services.lookup(&number, caller.as_ref()).await;
                    let _ = tx
                        .send(Background::Flow(FlowEvent::AccountLookup(result)))
                        .await;
                }));
            }
            Action::VerifyPassphrase {
                account,
                alternatives,
            } => {
                let (services, tx) = (self.services.clone(), self.background.clone());
                tokio::spawn(async move {
                    let check = services.verify_passphrase(&account, &alternatives).await;
                    let _ = tx
                        .send(Background::Flow(FlowEvent::PassphraseChecked(check)))
                        .await;
                });
            }
            Action::SendCode { to, account, code } => {
                let (services, tx) = (self.services.clone(), self.background.clone());
                tokio::spawn(async move {
                    let sent = services.send_code(&account, &to, &code).await;
                    let ev = if sent {
                        FlowEvent::CodeSent
                    } else {
                        FlowEvent::CodeFailed
                    };
                    let _ = tx.send(Background::Flow(ev)).await;
                });
            }
            Action::Audit(event) => {
                self.services.metrics.audit(&event);
                if matches!(event, auth::flow::AuditEvent::Authenticated { .. }) {
                    self.verified = true;
                }
                self.services
                    .audit_log
                    .append(&self.call_id, event, self.caller.as_ref())
                    .await;
            }
            Action::Transfer { target, outcome } => self.start_transfer(target, outcome).await,
            Action::Hangup => {
                tracing::info!("the flow hangs up");
                self.services.sip.hangup(self.incoming.call).await;
                self.ended = Some(if self.verified {
                    CallOutcome::Authenticated
                } else {
                    CallOutcome::AgentHungUp
                });
            }
        }
    }

    /// Plays a prompt whose audio is ready, or renders it off the call task
    /// (holding the actions after it) so the prompt playing now keeps its pace.
    fn play(&mut self, prompt: Prompt) {
        if prompt.id == PromptId::Beep {
            return self.start_prompt(
                prompt,
                Ok(Arc::from(crate::tts::beep(crate::services::PROMPT_RATE))),
            );
        }
        let name = prompt.id.name();
        if let Some(pcm) = self.services.tts.cached(name, &prompt.text) {
            return self.start_prompt(prompt, Ok(pcm));
        }
        self.rendering = true;
        let (services, tx) = (self.services.clone(), self.background.clone());
        tokio::spawn(async move {
            let pcm = services.tts.render(name, &prompt.text).await;
            let _ = tx.send(Background::Rendered(prompt, pcm)).await;
        });
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
        self.media.update(|m| m.session.set_barge_in(mode));
    }

    fn start_prompt(&mut self, prompt: Prompt, pcm: anyhow::Result<Arc<[i16]>>) {
        match pcm {
            Ok(pcm) => {
                tracing::debug!(prompt = ?prompt.id, "playing");
                let id = self.media.update(|m| m.session.play(Instant::now(), pcm));
                self.playing.insert(id, (prompt.playback, prompt.id));
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
        let Some(recognizer) = &self.services.recognizer else {
            tracing::warn!("no speech model loaded; the turn hears nothing");
            return;
        };
        let words = match request.vocabulary {
            Vocabulary::Full => None,
            Vocabulary::Words(words) => Some(asr::Vocabulary::from_words(words)),
        };
        tracing::debug!(
            vocabulary = words.as_ref().map_or(0, |w| w.words().len()),
            "listening"
        );
        let mut options = ListenOptions {
            vocabulary: words,
            expected_words: request.expected_words,
            ..self.services.listen.clone()
        };
        // The step's own window: how long the caller has to begin, and
        // the longest turn.
        options.endpointer.no_speech_timeout = request.timeout;
        options.endpointer.max_duration = request.max_duration;
        match recognizer.start(&options) {
            Ok(session) => {
                self.listening = Some(session);
                self.media.update(|m| m.session.set_listening(true));
                self.set_barge_in(BargeIn::Off);
            }
            Err(e) => {
                // Busy pool: the flow's listen timeout moves the caller on to the SMS code.
                tracing::warn!(error = %e, "recognizer unavailable for this turn");
                self.services.metrics.recognizer_busy();
            }
        }
    }

    async fn start_transfer(&mut self, target: TransferTarget, outcome: AuthOutcome) {
        let uri = match target {
            TransferTarget::Representative => &self.services.transfer.representative,
            TransferTarget::Authenticated => &self.services.transfer.authenticated,
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
                verstat: self.incoming.verstat.clone(),
            },
        );
        tracing::info!(?target, outcome = outcome.label(), refer_to = %refer, "transferring (REFER)");
        self.services.sip.refer(self.incoming.call, refer).await;
        self.transfer = Some(Transfer {
            outcome,
            deadline: Instant::now() + TRANSFER_TIMEOUT,
        });
    }
}

/// Waits for the recognizer's next event, or forever when not listening.
async fn next_transcript(listening: &mut Option<asr::Session>) -> Option<AsrEvent> {
    match listening {
        Some(session) => session.next_event().await,
        None => std::future::pending().await,
    }
}

/// How far the caller's number may be believed (RFC 3325 trust domain,
/// STIR/SHAKEN attestation), and whether it is to find the account: a
/// number there is, unless the operator requires attestation and the call
/// has none.
fn caller_trust(
    incoming: &IncomingCall,
    has_number: bool,
    require_verstat: bool,
) -> (CallerIdTrust, bool) {
    let attested = incoming.identity_trusted
        && incoming
            .verstat
            .as_deref()
            .is_some_and(sip::identity::verstat_passed);
    let trust = match (incoming.identity_trusted, attested) {
        (false, _) => CallerIdTrust::Unverified,
        (true, true) => CallerIdTrust::Attested,
        (true, false) => CallerIdTrust::Trusted,
    };
    (trust, has_number && (attested || !require_verstat))
}
