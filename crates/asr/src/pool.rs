//! A fixed set of worker threads recognizing sessions, and the admission
//! limit that keeps their work bounded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::AsrError;
use crate::filler::Filler;
use crate::lag::Lag;
use crate::model::SpeechModel;
use crate::session::{ListenOptions, PoolShare, Session, SessionInner};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecognizerConfig {
    /// Worker threads (default: one per core).
    pub workers: usize,
    /// Sessions recognizing at once; more are refused with [`AsrError::Busy`].
    pub max_sessions: usize,
    /// Audio a session may have waiting before it is abandoned as overloaded.
    pub max_backlog: Duration,
}

impl Default for RecognizerConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        RecognizerConfig {
            workers: cores,
            max_sessions: cores * 8,
            max_backlog: Duration::from_secs(3),
        }
    }
}

/// The shared model plus the worker pool. Cheap to clone.
#[derive(Clone)]
pub struct Recognizer {
    model: SpeechModel,
    config: RecognizerConfig,
    queue: SyncSender<Arc<SessionInner>>,
    active: Arc<AtomicUsize>,
    lag: Arc<Lag>,
    filler: Option<Arc<Filler>>,
}

impl Recognizer {
    pub fn new(model: SpeechModel, config: RecognizerConfig) -> Recognizer {
        // Each session is queued at most once, so this never fills.
        let (tx, rx) = sync_channel::<Arc<SessionInner>>(config.max_sessions.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..config.workers.max(1) {
            let (rx, requeue) = (rx.clone(), tx.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("asr-{n}"))
                .spawn(move || worker(rx, requeue));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a recognizer worker");
            }
        }
        Recognizer {
            model,
            config,
            queue: tx,
            active: Arc::new(AtomicUsize::new(0)),
            lag: Arc::new(Lag::new(Instant::now())),
            filler: None,
        }
    }

    /// Sessions listening for the filler's vocabulary also decode against
    /// the filler ([`Filler`]).
    pub fn with_filler(mut self, filler: Filler) -> Recognizer {
        self.filler = Some(Arc::new(filler));
        self
    }

    pub fn model(&self) -> &SpeechModel {
        &self.model
    }

    /// Sessions currently holding a slot.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// The longest any audio waited for a worker in the last one to two
    /// seconds: near zero while the pool keeps up, growing past capacity.
    pub fn lag(&self) -> Duration {
        self.lag.get(Instant::now())
    }

    /// Opens a session, or refuses at once when every slot is taken.
    pub fn start(&self, options: &ListenOptions) -> Result<Session, AsrError> {
        let taken = self.active.fetch_add(1, Ordering::AcqRel);
        if taken >= self.config.max_sessions {
            self.active.fetch_sub(1, Ordering::AcqRel);
            return Err(AsrError::Busy(self.config.max_sessions));
        }
        let rate = self.model.sample_rate();
        let made = match &options.vocabulary {
            Some(v) => {
                vosk::Recognizer::new_with_grammar(self.model.vosk(), rate as f32, &v.grammar())
            }
            None => vosk::Recognizer::new(self.model.vosk(), rate as f32),
        };
        let Some(mut recognizer) = made else {
            self.active.fetch_sub(1, Ordering::AcqRel);
            return Err(AsrError::RecognizerCreate);
        };
        recognizer.set_max_alternatives(options.max_alternatives.max(1));
        // Each word's timing: the passphrase decision weighs a phrase
        // stretched or broken by a word the decoder left out.
        recognizer.set_words(true);
        let filler = match &self.filler {
            Some(f) if f.applies_to(options.vocabulary.as_ref()) => {
                let made = vosk::Recognizer::new_with_grammar(
                    self.model.vosk(),
                    rate as f32,
                    &f.grammar().grammar(),
                );
                let Some(mut filler) = made else {
                    self.active.fetch_sub(1, Ordering::AcqRel);
                    return Err(AsrError::RecognizerCreate);
                };
                // One alternative: N-best form, whose score is the
                // hypothesis' log-likelihood.
                filler.set_max_alternatives(1);
                filler.set_words(true);
                Some((filler, f.penalty()))
            }
            _ => None,
        };
        let backlog = (self.config.max_backlog.as_millis() as usize) * rate as usize / 1000;
        Ok(Session::new(
            recognizer,
            filler,
            options,
            rate,
            backlog,
            PoolShare {
                active: self.active.clone(),
                lag: self.lag.clone(),
            },
        ))
    }

    /// Feeds one frame (16-bit mono at the model's rate) to a session.
    pub fn push(&self, session: &Session, frame: &[i16]) -> Result<(), AsrError> {
        let result = session.enqueue(frame);
        match result {
            Ok(true) => self.schedule(session),
            Ok(false) => Ok(()),
            // The worker delivers the Overloaded transcript.
            Err(e) => {
                self.schedule_if_idle(session);
                Err(e)
            }
        }
    }

    /// Ends the session now: the final transcript follows.
    pub fn finish(&self, session: &Session) {
        if session.request_finish() {
            let _ = self.schedule(session);
        }
    }

    fn schedule(&self, session: &Session) -> Result<(), AsrError> {
        self.queue
            .try_send(session.inner.clone())
            .map_err(|_| AsrError::Busy(self.config.max_sessions))
    }

    fn schedule_if_idle(&self, session: &Session) {
        if session.request_finish() {
            let _ = self.schedule(session);
        }
    }
}

fn worker(rx: Arc<Mutex<Receiver<Arc<SessionInner>>>>, requeue: SyncSender<Arc<SessionInner>>) {
    loop {
        let next = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(session) = next else { return };
        // More audio arrived while we worked: go to the back of the queue so
        // one talkative call cannot starve the others.
        if session.process() && requeue.try_send(session.clone()).is_err() {
            while session.process() {}
        }
    }
}
