//! Whole calls against the call core on a virtual clock: a scripted caller,
//! a fake media thread that plays prompts for as long as their audio lasts,
//! and a driver that answers the core's commands. No sockets, no sleeping:
//! each call runs in milliseconds. The tests look only at the commands the
//! core gives and how the call ends: `flows.rs` every branch of the seed's
//! flow and a hang-up at each step, `interop.rs` what peers and the machine
//! do to a call (hold, re-INVITE, barge-in, rendering, limits).

mod flows;
mod interop;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth::flow::{
    Account, AccountId, AuditEvent, Balance, Event as FlowEvent, Flow, FlowConfig, LookupResult,
    PromptId,
};
use auth::phone::E164;
use media::{BargeIn, Digit, DigitSource, MediaCommand, MediaEvent, PacerEvent, SessionEvent};
use sip::{CallHandle, EndReason, Event as SipEvent, ReferStatus};

use super::core::*;
use crate::config::TransferConfig;
use crate::media_engine::CallMediaCommand;
use crate::media_formats::MediaFormats;

pub(super) const CALLER: &str = "+15557770000";
pub(super) const ON_FILE: &str = "+15550100001";

fn nelson() -> Account {
    Account {
        id: AccountId("acct-1".to_string()),
        name: "Nelson Medina".to_string(),
        sms_number: E164::parse(ON_FILE).unwrap(),
        balance: Balance { cents: 123_456 },
        passphrase_words: Some(2),
    }
}

fn settings(no_barge_in: &[&str], recognizer: bool) -> CallSettings {
    CallSettings {
        max_duration: Duration::from_secs(600),
        no_barge_in: no_barge_in.iter().map(|s| s.to_string()).collect(),
        transfer: TransferConfig {
            representative: "sip:rep@pbx.example".into(),
            authenticated: "sip:agents@pbx.example".into(),
        },
        listen: recognizer.then(asr::ListenOptions::default),
        media: MediaFormats {
            recognizer_rate: 16000,
            strict_source: true,
            learn_source: media::SourceLearning::SdpAddress,
        },
    }
}

/// An offer as a re-INVITE carries it, negotiated as the endpoint does.
fn offer(payload_type: &str, address: &str, direction: &str) -> sip::Negotiated {
    let text = format!(
        "v=0\r\no=- 1 2 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n\
         m=audio 40000 RTP/AVP {payload_type} 101\r\na=rtpmap:101 telephone-event/8000\r\n\
         a={direction}\r\n"
    );
    let sdp = sip::sdp::parse(&text).unwrap();
    sip::sdp::negotiate(&sdp, &sip::sdp::MediaPolicy::default()).unwrap()
}

/// A prompt the fake media thread is playing or has queued.
struct Clip {
    id: media::ClipId,
    left: Duration,
}

/// The media thread as the core sees it: prompts play for their length, one
/// after another, stand still on hold and stop on `Stop`.
#[derive(Default)]
struct FakeMedia {
    queue: VecDeque<Clip>,
    /// When the prompt at the head of the queue started playing, if it plays.
    since: Option<Instant>,
    held: bool,
    barge_in: Option<BargeIn>,
    events: VecDeque<SessionEvent>,
}

impl FakeMedia {
    fn apply(&mut self, now: Instant, command: MediaCommand) {
        match command {
            MediaCommand::Play { id, pcm } => {
                let left = Duration::from_secs_f64(pcm.len() as f64 / 8000.0);
                self.queue.push_back(Clip { id, left });
            }
            MediaCommand::Stop => {
                self.since = None;
                for clip in self.queue.drain(..) {
                    self.events
                        .push_back(SessionEvent::Prompt(PacerEvent::Stopped(clip.id)));
                }
            }
            MediaCommand::SetBargeIn(mode) => self.barge_in = Some(mode),
            MediaCommand::Hold(held) => {
                if let (true, Some(since), Some(clip)) = (held, self.since, self.queue.front_mut())
                {
                    clip.left = clip.left.saturating_sub(now - since);
                }
                self.since = None;
                self.held = held;
            }
            MediaCommand::Listen(_)
            | MediaCommand::RemoteMoved(_)
            | MediaCommand::Renegotiated(_) => {}
        }
        self.start(now);
    }

    fn start(&mut self, now: Instant) {
        if let (false, None, Some(clip)) = (self.held, self.since, self.queue.front()) {
            self.since = Some(now);
            self.events
                .push_back(SessionEvent::Prompt(PacerEvent::Started(clip.id)));
        }
    }

    fn next_due(&self) -> Option<Instant> {
        Some(self.since? + self.queue.front()?.left)
    }

    fn run_until(&mut self, now: Instant) {
        while let Some(due) = self.next_due().filter(|&d| d <= now) {
            if let Some(clip) = self.queue.pop_front() {
                self.events
                    .push_back(SessionEvent::Prompt(PacerEvent::Finished(clip.id)));
            }
            self.since = None;
            self.start(due);
        }
    }

    fn is_playing(&self) -> bool {
        !self.queue.is_empty()
    }
}

/// One call: the core, the fake world around it, and everything it asked for.
struct Call {
    core: CallCore,
    now: Instant,
    t0: Instant,
    media: FakeMedia,
    /// Render answers at once (the prompt was rendered before); off, the
    /// test answers with `rendered`.
    cached: bool,
    recognizer: bool,
    renders: VecDeque<auth::flow::Prompt>,
    work: VecDeque<Work>,
    sip: Vec<(Duration, SipCommand)>,
    audit: Vec<AuditEvent>,
    /// Prompts sent to the media, in order.
    played: Vec<PromptId>,
    media_log: Vec<CallMediaCommand>,
    listening: bool,
    tallies: Vec<Tally>,
    /// Prompts the core asked to have ready, with their words.
    prepared: Vec<(PromptId, String)>,
}

impl Call {
    fn new(caller: Option<&str>) -> Call {
        Call::with(settings(&[], true), caller)
    }

    fn with(settings: CallSettings, caller: Option<&str>) -> Call {
        let t0 = Instant::now();
        let flow = Flow::new(FlowConfig::default()).unwrap();
        let caller = caller.map(|c| E164::parse(c).unwrap());
        let core = CallCore::new(t0, Arc::new(settings), flow, caller, None, Vec::new());
        let mut call = Call {
            core,
            now: t0,
            t0,
            media: FakeMedia::default(),
            cached: true,
            recognizer: true,
            renders: VecDeque::new(),
            work: VecDeque::new(),
            sip: Vec::new(),
            audit: Vec::new(),
            played: Vec::new(),
            media_log: Vec::new(),
            listening: false,
            tallies: Vec::new(),
            prepared: Vec::new(),
        };
        call.pump();
        call
    }

    /// Carries out the core's commands and hands it the media's events
    /// until both are quiet, as the driver does at one wake-up.
    fn pump(&mut self) {
        loop {
            while let Some(command) = self.core.poll_command() {
                self.carry_out(command);
            }
            match self.media.events.pop_front() {
                Some(ev) => self.core.handle_media(self.now, ev),
                None => break,
            }
        }
    }

    fn carry_out(&mut self, command: Command) {
        let now = self.now;
        match command {
            Command::Sip(c) => self.sip.push((now - self.t0, c)),
            Command::Media(change) => {
                if let CallMediaCommand::Session(c) = change.clone() {
                    if let MediaCommand::Listen(on) = c {
                        self.listening = on;
                    }
                    self.media.apply(now, c);
                }
                self.media_log.push(change);
            }
            Command::Render(prompt) if self.cached => self.render(prompt),
            Command::Render(prompt) => self.renders.push_back(prompt),
            Command::Recognizer(RecognizerCommand::Start(_)) => {
                let input = if self.recognizer {
                    RecognizerInput::Started
                } else {
                    RecognizerInput::Unavailable
                };
                self.core.handle_recognizer(now, input);
            }
            Command::Recognizer(_) => {}
            Command::Work(work) => self.work.push_back(work),
            Command::Audit(row) => self.audit.push(row),
            Command::Tally(t) => self.tallies.push(t),
            Command::Prepare { id, text } => self.prepared.push((id, text)),
        }
    }

    fn render(&mut self, prompt: auth::flow::Prompt) {
        let samples = if prompt.id == PromptId::Beep {
            3200
        } else {
            8000
        };
        self.played.push(prompt.id);
        let pcm: Arc<[i16]> = Arc::from(vec![0i16; samples]);
        self.core
            .handle_background(self.now, Background::Rendered(prompt, Ok(pcm)));
    }

    /// Lets `d` of virtual time pass, firing prompt ends and the core's
    /// timers when they fall due.
    fn wait(&mut self, d: Duration) -> &mut Self {
        let until = self.now + d;
        loop {
            let next = [self.media.next_due(), self.core.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .filter(|&t| t <= until);
            let Some(next) = next else { break };
            self.now = self.now.max(next);
            self.media.run_until(self.now);
            if self.core.poll_timeout().is_some_and(|t| t <= self.now) {
                self.core.handle_timeout(self.now);
            }
            self.pump();
        }
        self.now = until;
        self.pump();
        self
    }

    /// Lets the prompts queued now play to their end.
    fn hear_prompts(&mut self) -> &mut Self {
        while self.media.is_playing() && self.core.outcome().is_none() {
            let due = self.media.next_due().expect("a prompt playing");
            self.wait(due - self.now);
        }
        self
    }

    fn sip_event(&mut self, ev: SipEvent) -> &mut Self {
        self.core.handle_sip(self.now, ev);
        self.pump();
        self
    }

    fn confirm(&mut self) -> &mut Self {
        self.sip_event(SipEvent::CallConfirmed {
            call: CallHandle(1),
        })
    }

    fn refer(&mut self, status: ReferStatus) -> &mut Self {
        self.sip_event(SipEvent::Refer {
            call: CallHandle(1),
            status,
        })
    }

    fn ended(&mut self, reason: EndReason) -> &mut Self {
        self.sip_event(SipEvent::CallEnded {
            call: CallHandle(1),
            reason,
        })
    }

    fn press(&mut self, keys: &str) -> &mut Self {
        for key in keys.chars() {
            let digit = Digit::from_char(key).unwrap();
            self.core.handle_media(
                self.now,
                SessionEvent::Media(MediaEvent::Digit {
                    digit,
                    source: DigitSource::Rfc4733,
                    duration: Duration::from_millis(100),
                }),
            );
            self.pump();
            self.wait(Duration::from_millis(300));
        }
        self
    }

    fn say(&mut self, words: &str) -> &mut Self {
        assert!(self.listening, "the caller speaks while nobody listens");
        let transcript = asr::Transcript {
            alternatives: vec![asr::Alternative {
                text: words.to_string(),
                confidence: 0.9,
                filler: false,
                words: Vec::new(),
            }],
            reason: asr::TurnEnd::EndOfSpeech,
            audio: Duration::from_secs(2),
            recognised: Duration::from_secs(2),
            processing: Duration::from_millis(40),
            nuclei: Vec::new(),
            timing: None,
        };
        self.wait(Duration::from_secs(2));
        // The recognizer's marks: the last voiced audio 300 ms ago, the
        // turn's end 20 ms ago, its result 5 ms ago.
        let ago = |ms: u64| self.now - Duration::from_millis(ms);
        let transcript = asr::Transcript {
            timing: Some(asr::TurnTiming {
                last_speech_pushed: Some(ago(300)),
                ended: ago(20),
                decoded: ago(5),
            }),
            ..transcript
        };
        self.core.handle_recognizer(
            self.now,
            RecognizerInput::Event(asr::RecognitionEvent::Final(transcript)),
        );
        self.pump();
        self
    }

    fn next_work(&mut self) -> Work {
        self.work.pop_front().expect("the core asked for work")
    }

    /// Answers the next piece of work: the lookup, the passphrase check or the SMS.
    fn answer(&mut self, event: FlowEvent) -> &mut Self {
        self.next_work();
        self.core
            .handle_background(self.now, Background::Flow(event));
        self.pump();
        self
    }

    /// A known caller who has heard the passphrase request and the beep.
    fn known_caller_at_the_beep() -> Call {
        let mut call = Call::new(Some(CALLER));
        call.confirm()
            .hear_prompts()
            .answer(FlowEvent::AccountLookup(LookupResult::Found(nelson())))
            .hear_prompts();
        call
    }

    /// Lets time pass until the core sends a REFER (the flow's timers move
    /// a caller who does nothing on to a person).
    fn until_referred(&mut self) -> &mut Self {
        let limit = self.now + Duration::from_secs(300);
        while self.refers().is_empty() {
            assert!(self.now < limit, "no REFER: {:?}", self.played);
            self.wait(Duration::from_millis(100));
        }
        self
    }

    fn refers(&self) -> Vec<&str> {
        self.sip
            .iter()
            .filter_map(|(_, c)| match c {
                SipCommand::Refer(uri) => Some(uri.as_str()),
                _ => None,
            })
            .collect()
    }

    fn hangups(&self) -> usize {
        self.sip
            .iter()
            .filter(|(_, c)| *c == SipCommand::Hangup)
            .count()
    }
}
