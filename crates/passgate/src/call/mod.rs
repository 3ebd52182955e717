//! One call, from the INVITE to its end: the place to read to follow a call.
//!
//! The call's policy is [`core::CallCore`], a sans-IO state machine: the
//! two-factor flow (`auth::flow::Flow`) decides, the core turns its actions
//! into commands in the right order, and decides how the call ends. This
//! module is its tokio driver: it sets the call up (RTP ports, the media
//! session on a media thread, the answer), wakes on SIP events, media events,
//! the recognizer, work done off the call and the core's timer, reads the
//! clock once per wake-up, and carries out the core's commands through the
//! call's media (`crate::media_engine`), the recognizer, the account store,
//! the SMS gateway, the audit log and SIP. Everything that happens to a call
//! is logged inside its `call` span (with the Call-ID).

pub mod core;
mod decision;
mod heard;
mod outcome;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

use asr::RecognitionEvent;
use auth::flow::{AuditEvent, CallerIdTrust, Event as FlowEvent, Flow, Prompt, PromptId};
use auth::phone::{caller_identity, CallerHeaders, E164};
use media::{SessionEvent, SessionStats};
use sip::{CallHandle, Event as SipEvent, IncomingCall};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::console::live::LiveCall;
use crate::media_engine::{CallMedia, RtcpRoute};
use crate::recognizer_admission::AdmissionTicket;
use crate::rtp_ports::RtpPair;
use crate::services::Services;

pub use self::core::CallOutcome;
use self::core::{
    Background, CallCore, CallSettings, Command, RecognizerCommand, RecognizerInput, SipCommand,
    Tally, Work,
};

/// `admitted`: the call's place in admission by recognizer load, told when
/// the call first listens and given back when it is over.
pub async fn run(
    services: Arc<Services>,
    incoming: IncomingCall,
    events: mpsc::Receiver<SipEvent>,
    admitted: Option<AdmissionTicket>,
) {
    let span = tracing::info_span!("call", call_id = %incoming.call_id);
    services.metrics.call_started();
    let call_id: Arc<str> = Arc::from(incoming.call_id.as_str());
    let live = services.live.open(&call_id, Instant::now());
    // Boxed: a future awaited inside another is stored in it more than
    // once (before and after it is wrapped), and the call's task is spawned
    // and moved whole; boxed, both hold only a pointer to it.
    let (outcome, stats) = Box::pin(drive(services.clone(), incoming, events, &live, admitted))
        .instrument(span.clone())
        .await;
    live.finish(&outcome.label(), Instant::now());
    services.metrics.call_over();
    match stats {
        // Finished once its story is in the audit trail: the audit writer
        // counts and logs it after storing the rows queued before it. The
        // task need not wait for that: under load the store commits in
        // batches of hundreds, and calls waiting only for their rows must not
        // count against `sip.max_calls`, or a busy store turns new calls away.
        Some(stats) => {
            // Every answered call's story ends with a row saying how.
            let outcome = outcome.label();
            services.audit_log.end(&call_id, &outcome).await;
            services
                .audit_log
                .finish(crate::audit_log::Finished {
                    outcome,
                    stats,
                    span,
                })
                .await
        }
        None => services.metrics.call_ended(&outcome.label()),
    }
}

/// Sets the call up, answers it, and runs its core until it ends.
async fn drive(
    services: Arc<Services>,
    incoming: IncomingCall,
    mut sip_events: mpsc::Receiver<SipEvent>,
    live: &LiveCall,
    admitted: Option<AdmissionTicket>,
) -> (CallOutcome, Option<SessionStats>) {
    let call = incoming.call;
    let identity = caller_identity(
        &CallerHeaders {
            p_asserted_identity: incoming.p_asserted_identity.as_deref(),
            remote_party_id: incoming.remote_party_id.as_deref(),
            from: Some(incoming.from_uri.as_str()),
            privacy: incoming.privacy.as_deref(),
        },
        &services.policy.flow.numbering,
    );
    let caller = identity.number;
    let (trust, used_for_lookup) =
        caller_trust(&incoming, caller.is_some(), services.policy.require_verstat);
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
    live.set_caller(caller_shown);
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
    if !services.policy.answer_delay.is_zero() {
        services.sip.ring(call).await;
        let until = tokio::time::Instant::now() + services.policy.answer_delay;
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
    let MediaSetUp {
        media,
        answer_sdp,
        port,
        flow,
    } = match set_up_media(&services, &incoming, &negotiated) {
        Ok(set_up) => set_up,
        Err(code) => {
            services.sip.reject(call, code).await;
            return (CallOutcome::Refused, None);
        }
    };
    match answer_sdp {
        Some(sdp) => services.sip.answer_with_sdp(call, port, sdp).await,
        None => services.sip.answer(call, port).await,
    }
    if incoming.media.is_some() {
        tracing::info!(rtp_port = port, codec = ?negotiated.codec, ptime = negotiated.ptime_ms, webrtc = negotiated.webrtc.is_some(), "answered");
    } else {
        tracing::info!(
            rtp_port = port,
            "answered with our offer (the INVITE had none)"
        );
    }
    let (background, mut results) = mpsc::channel(32);
    let settings = Arc::new(CallSettings {
        max_duration: services.policy.max_duration,
        no_barge_in: services.policy.no_barge_in.clone(),
        transfer: services.policy.transfer.clone(),
        listen: services
            .speech
            .recognizer
            .as_ref()
            .map(|_| services.speech.listen.clone()),
        media: services.media.formats,
    });
    let mut driver = Driver {
        call_id: Arc::from(incoming.call_id.as_str()),
        services,
        call,
        media,
        media_events: Vec::new(),
        listening: None,
        background,
        caller: caller.clone(),
        live,
        admitted,
    };
    let now = Instant::now();
    let mut core = CallCore::new(
        now,
        settings,
        flow,
        caller,
        incoming.verstat.clone(),
        vec![identity_row],
    );
    driver.carry_out(&mut core, now).await;
    driver.live.set_stage(core.stage());
    while core.outcome().is_none() {
        let deadline = core.poll_timeout();
        let woke = tokio::select! {
            ev = sip_events.recv() => Woke::Sip(ev),
            _ = driver.media.events() => Woke::Media,
            asr = next_transcript(&mut driver.listening) => Woke::Recognizer(asr),
            Some(done) = results.recv() => Woke::Background(done),
            _ = sleep_until(deadline) => Woke::Timer,
        };
        let now = Instant::now();
        match woke {
            Woke::Sip(Some(ev)) => core.handle_sip(now, ev),
            Woke::Sip(None) => core.handle_sip_closed(now),
            Woke::Media => {
                let mut events = std::mem::take(&mut driver.media_events);
                driver.media.take_events(&mut events);
                for ev in events.drain(..) {
                    core.handle_media(now, ev);
                }
                driver.media_events = events;
                if driver.media.failed() {
                    core.handle_media_failed(now);
                }
            }
            Woke::Recognizer(ev) => {
                let input = match ev {
                    Some(RecognitionEvent::Final(t)) => {
                        driver.listening = None;
                        RecognizerInput::Event(RecognitionEvent::Final(t))
                    }
                    Some(ev) => RecognizerInput::Event(ev),
                    None => {
                        driver.listening = None;
                        RecognizerInput::Closed
                    }
                };
                core.handle_recognizer(now, input);
            }
            Woke::Background(done) => core.handle_background(now, done),
            Woke::Timer => core.handle_timeout(now),
        }
        driver.carry_out(&mut core, now).await;
        driver.live.set_stage(core.stage());
    }
    let outcome = core.outcome().unwrap_or(CallOutcome::CallerHungUp);
    (outcome, Some(driver.media.stats()))
}

/// What the call's set-up hands its driver.
struct MediaSetUp {
    media: CallMedia,
    answer_sdp: Option<String>,
    port: u16,
    flow: Flow,
}

/// Binds the call's RTP ports, builds its media session and flow, and hands
/// the session to a media thread; on failure, logs why and returns the status
/// to refuse the call with. A plain function, not part of the call's future:
/// the media session (kilobytes of buffers) would otherwise be stored in the
/// future for the call's whole life and copied each time the future moves.
fn set_up_media(
    services: &Services,
    incoming: &IncomingCall,
    negotiated: &sip::Negotiated,
) -> Result<MediaSetUp, u16> {
    // Media in the family of the caller's offer; without one, in the
    // family the INVITE came in on (as our offer's address is).
    let family = incoming
        .media
        .as_ref()
        .map_or(incoming.source.ip(), |m| m.remote_rtp.ip());
    let RtpPair { rtp, rtcp } = services.media.ports.bind(family).map_err(|e| {
        tracing::error!(error = %e, "no RTP port available; refusing the call");
        503u16
    })?;
    let (session, answer_sdp) =
        crate::webrtc_call::media_for(&services.media, negotiated, rtp.local_addr().ok()).map_err(
            |e| {
                tracing::error!(error = %e, "cannot set up media; refusing the call");
                488u16
            },
        )?;
    let flow = Flow::new(services.policy.flow.clone()).map_err(|e| {
        tracing::error!(error = %e, "flow configuration is invalid; refusing the call");
        500u16
    })?;
    let port = rtp.local_addr().map(|a| a.port()).unwrap_or(0);
    let rtcp_route = RtcpRoute::negotiated(negotiated);
    let media = services
        .media
        .engine
        .attach(rtp, rtcp, session, negotiated.remote_rtp, rtcp_route)
        .map_err(|e| {
            tracing::error!(error = %e, "cannot hand the RTP socket to a media thread; refusing the call");
            503u16
        })?;
    Ok(MediaSetUp {
        media,
        answer_sdp,
        port,
        flow,
    })
}

/// What woke the call.
enum Woke {
    Sip(Option<SipEvent>),
    Media,
    Recognizer(Option<RecognitionEvent>),
    Background(Background),
    Timer,
}

/// The call's side of the world: what the core's commands are carried out with.
struct Driver<'a> {
    services: Arc<Services>,
    call: CallHandle,
    media: CallMedia,
    /// The media's events being handled, kept to reuse its allocation.
    media_events: Vec<SessionEvent>,
    /// The recognizer's turn, while one is open.
    listening: Option<asr::Session>,
    background: mpsc::Sender<Background>,
    /// The Call-ID, shared by the call's audit rows.
    call_id: Arc<str>,
    caller: Option<E164>,
    /// Where the console sees the call: the driver publishes what the core reports.
    live: &'a LiveCall,
    admitted: Option<AdmissionTicket>,
}

impl Driver<'_> {
    /// Carries out the core's commands, in order, until it has none. An
    /// answer that is ready at once (a prompt's audio already rendered, a
    /// recognizer turn opened) goes back to the core with the same `now`.
    async fn carry_out(&mut self, core: &mut CallCore, now: Instant) {
        while let Some(command) = core.poll_command() {
            match command {
                Command::Sip(SipCommand::Hangup) => self.services.sip.hangup(self.call).await,
                Command::Sip(SipCommand::Refer(uri)) => {
                    self.services.sip.refer(self.call, uri).await
                }
                Command::Media(change) => self.media.apply(change),
                Command::Render(prompt) => self.render(core, now, prompt),
                Command::Prepare { id, text } => self.prepare(id, text),
                Command::Recognizer(command) => self.recognizer(core, now, command),
                Command::Work(work) => self.spawn(work),
                Command::Audit(event) => {
                    self.services.metrics.audit(&event);
                    self.live.record(&event, now);
                    self.services
                        .audit_log
                        .append(&self.call_id, event, self.caller.as_ref())
                        .await;
                }
                Command::Tally(tally) => self.tally(tally),
            }
        }
    }

    /// A prompt's audio: the beep, one rendered before, or rendered off the
    /// call task so the prompt playing now keeps its pace.
    fn render(&self, core: &mut CallCore, now: Instant, prompt: Prompt) {
        if prompt.id == PromptId::Beep {
            let pcm = Arc::from(crate::tts::beep(crate::services::PROMPT_RATE));
            return core.handle_background(now, Background::Rendered(prompt, Ok(pcm)));
        }
        let name = prompt.id.name();
        if let Some(pcm) = self.services.speech.tts.cached(name, &prompt.text) {
            return core.handle_background(now, Background::Rendered(prompt, Ok(pcm)));
        }
        let (services, tx) = (self.services.clone(), self.background.clone());
        tokio::spawn(async move {
            let pcm = services.speech.tts.render(name, &prompt.text).await;
            let _ = tx.send(Background::Rendered(prompt, pcm)).await;
        });
    }

    /// Renders a prompt the call may play soon, off the call task.
    fn prepare(&self, id: PromptId, text: String) {
        if self.services.speech.tts.cached(id.name(), &text).is_some() {
            return;
        }
        let services = self.services.clone();
        tokio::spawn(async move {
            if let Err(e) = services.speech.tts.render(id.name(), &text).await {
                tracing::warn!(prompt = id.name(), error = %e, "could not render a prompt ahead");
            }
        });
    }

    fn recognizer(&mut self, core: &mut CallCore, now: Instant, command: RecognizerCommand) {
        match command {
            RecognizerCommand::Start(options) => {
                let started = match &self.services.speech.recognizer {
                    Some(recognizer) => recognizer.start(&options).map_err(|e| e.to_string()),
                    None => Err("no speech model loaded".to_string()),
                };
                match started {
                    Ok(session) => {
                        self.listening = Some(session);
                        if let Some(admitted) = &mut self.admitted {
                            admitted.listening();
                        }
                        core.handle_recognizer(now, RecognizerInput::Started);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "recognizer unavailable for this turn");
                        core.handle_recognizer(now, RecognizerInput::Unavailable);
                    }
                }
            }
            RecognizerCommand::Push(pcm) => {
                if let (Some(session), Some(rec)) =
                    (&self.listening, &self.services.speech.recognizer)
                {
                    if rec.push(session, &pcm).is_err() {
                        tracing::warn!("recognizer overloaded; this turn is abandoned");
                    }
                }
            }
            RecognizerCommand::Stop => self.listening = None,
        }
    }

    /// Work off the call task, its result sent back as a flow event.
    fn spawn(&self, work: Work) {
        let (services, tx) = (self.services.clone(), self.background.clone());
        // Boxed for the same reason as the call task (server.rs): a store
        // query's future is large.
        tokio::spawn(Box::pin(async move {
            let event = match work {
                Work::LookupAccount { number, caller } => FlowEvent::AccountLookup(
                    services.accounts.lookup(&number, caller.as_ref()).await,
                ),
                Work::VerifyPassphrase {
                    account,
                    alternatives,
                } => FlowEvent::PassphraseChecked(
                    services
                        .accounts
                        .verify_passphrase(&account, &alternatives)
                        .await,
                ),
                Work::SendCode { to, account, code } => {
                    if services.accounts.send_code(&account, &to, &code).await {
                        FlowEvent::CodeSent
                    } else {
                        FlowEvent::CodeFailed
                    }
                }
            };
            let _ = tx.send(Background::Flow(event)).await;
        }));
    }

    fn tally(&self, tally: Tally) {
        let metrics = &self.services.metrics;
        match tally {
            Tally::Digit(source) => metrics.media_digit(source),
            Tally::DigitByInfo => metrics.digit("sip_info"),
            Tally::Recognition(processing) => metrics.recognition(processing),
            Tally::Decision(latency) => metrics.decision(latency.total, latency.stages()),
            Tally::RecognizerBusy => metrics.recognizer_busy(),
            Tally::Transfer { outcome, completed } => metrics.transfer(outcome, completed),
        }
    }
}

/// Sleeps until the core's deadline, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Waits for the recognizer's next event, or forever when not listening.
async fn next_transcript(listening: &mut Option<asr::Session>) -> Option<RecognitionEvent> {
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
